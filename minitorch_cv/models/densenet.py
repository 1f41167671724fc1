"""The torchvision DenseNets (Huang et al., 2017; the "BC" variant: bottleneck layers and
halving transitions) with torchvision's module names and state_dict keys.

    features.conv0 7x7 s2 p3 (3 -> 2k or 96, no bias), norm0, relu0, pool0 3x3 s2 p1     224 -> 56
    features.denseblock1 .. denseblock4: layers that each see the concatenation of every
        earlier output of their block and add k (the growth rate) channels:
        norm1, relu1, conv1 1x1 (-> bn_size * k), norm2, relu2, conv2 3x3 (-> k)
    features.transition1 .. transition3: norm, relu, conv 1x1 (halves the channels),
        pool 2x2 s2                                                   56 -> 28 -> 14 -> 7
    features.norm5, then relu, global average pool, classifier Linear(C, num_classes)

    densenet121: k 32, (6, 12, 24, 16) layers, 64 first features       7,978,856 parameters
    densenet161: k 48, (6, 12, 36, 24) layers, 96 first features      28,681,000
    densenet169: k 32, (6, 12, 32, 32) layers, 64 first features      14,149,480
    densenet201: k 32, (6, 12, 48, 32) layers, 64 first features      20,013,928

Keys: 'features.conv0.weight', 'features.denseblock1.denselayer1.norm1.weight',
'features.transition1.conv.weight', 'features.norm5.running_var', 'classifier.bias', ...
torchvision's own .pth files still use the pre-0.3 names ('denselayer1.norm.1.weight'); the
builders' `weights=` renames them as torchvision's loader does, so
`densenet121(weights="densenet121-a639ec97.pth")` loads the published checkpoint.

`memory_efficient=True` recomputes each layer's concatenation + norm1 + relu1 + conv1 in the
backward pass (minitorch_cv.utils.checkpoint) instead of keeping it: the bottleneck input of
a dense layer grows with its depth, so that is where a DenseNet's activation memory goes.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from pathlib import Path

from .. import init
from ..functional import adaptive_avg_pool2d, cat, dropout, flatten, relu
from ..layers import BatchNorm2d, Linear, Module, ModuleDict, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AvgPool2d, MaxPool2d
from ..tensor import Tensor, is_grad_enabled
from ..utils.checkpoint import checkpoint
from ._input_size import check_input
from ._registry import register
from .weights import load_state_dict_file, load_weights


class _DenseLayer(Module):
    """torchvision's _DenseLayer: BN-ReLU-conv1x1 (to bn_size * growth_rate) on the
    concatenation of its inputs, then BN-ReLU-conv3x3 (to growth_rate), then dropout.

    Args:
        num_input_features (int): channels of the concatenated inputs.
        growth_rate (int): channels it adds (k).
        bn_size (int): the bottleneck is bn_size * k wide.
        drop_rate (float): dropout on the new features (training only).
        memory_efficient (bool): recompute the bottleneck in the backward pass. Default: False.

    Its forward takes one Tensor or the list of the block's earlier outputs and returns only
    the k new channels; the block concatenates.
    """

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int,
                 drop_rate: float, memory_efficient: bool = False):  # fmt: skip
        super().__init__()
        self.norm1 = BatchNorm2d(num_input_features)
        self.relu1 = ReLU(inplace=True)
        self.conv1 = Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, stride=1,
                            bias=False)  # fmt: skip
        self.norm2 = BatchNorm2d(bn_size * growth_rate)
        self.relu2 = ReLU(inplace=True)
        self.conv2 = Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, stride=1,
                            padding=1, bias=False)  # fmt: skip
        self.drop_rate = float(drop_rate)
        self.memory_efficient = memory_efficient

    def bn_function(self, inputs) -> Tensor:
        """conv1(relu1(norm1(cat(inputs)))): the bottleneck output."""
        return self.conv1(self.relu1(self.norm1(cat(list(inputs), 1))))

    @staticmethod
    def any_requires_grad(inputs) -> bool:
        return any(t.requires_grad for t in inputs)

    def call_checkpoint_bottleneck(self, inputs) -> Tensor:
        """bn_function without keeping its activations (recomputed in the backward pass)."""

        def bottleneck(*tensors):
            return self.bn_function(tensors)

        return checkpoint(bottleneck, *inputs)

    def forward(self, input):
        prev_features = [input] if isinstance(input, Tensor) else list(input)
        if self.memory_efficient and is_grad_enabled() and self.any_requires_grad(prev_features):
            bottleneck_output = self.call_checkpoint_bottleneck(prev_features)
        else:
            bottleneck_output = self.bn_function(prev_features)
        new_features = self.conv2(self.relu2(self.norm2(bottleneck_output)))
        if self.drop_rate > 0:
            new_features = dropout(new_features, p=self.drop_rate, training=self.training)
        return new_features


class _DenseBlock(ModuleDict):
    """torchvision's _DenseBlock: denselayer1 .. denselayerN, layer i seeing the block input
    and the outputs of layers 1 .. i-1. Shape: (N, C, H, W) -> (N, C + N_layers * k, H, W)."""

    def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int,
                 drop_rate: float, memory_efficient: bool = False):  # fmt: skip
        super().__init__()
        for i in range(num_layers):
            layer = _DenseLayer(num_input_features + i * growth_rate, growth_rate=growth_rate,
                                bn_size=bn_size, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)  # fmt: skip
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return cat(features, 1)


class _Transition(Sequential):
    """torchvision's _Transition: norm, relu, conv 1x1 (num_input -> num_output features, no
    bias), pool (AvgPool2d 2x2, stride 2). Shape: (N, C, H, W) -> (N, C', H // 2, W // 2)."""

    def __init__(self, num_input_features: int, num_output_features: int):
        super().__init__()
        self.norm = BatchNorm2d(num_input_features)
        self.relu = ReLU(inplace=True)
        self.conv = Conv2d(num_input_features, num_output_features, kernel_size=1, stride=1,
                           bias=False)  # fmt: skip
        self.pool = AvgPool2d(kernel_size=2, stride=2)


class DenseNet(Module):
    """torchvision's DenseNet (DenseNet-BC).

    Args:
        growth_rate (int): channels each dense layer adds (k). Default: 32.
        block_config (tuple of ints): dense layers per block. Default: (6, 12, 24, 16).
        num_init_features (int): channels of the first conv. Default: 64.
        bn_size (int): bottleneck width as a multiple of k. Default: 4.
        drop_rate (float): dropout after each dense layer. Default: 0.
        num_classes (int): Default: 1000.
        memory_efficient (bool): checkpoint each layer's bottleneck (recomputed in the
            backward pass: less memory, one more forward of those parts). Default: False.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init as torchvision: convs kaiming_normal_ (fan_in, gain sqrt(2)), BN weight 1 and bias 0,
    classifier bias 0 (its weight keeps PyTorch's Linear default).

    Shape: (N, 3, H, W) -> (N, num_classes); with four blocks H, W >= 29 (smaller inputs fail
    with a ValueError naming the transition pool that would be empty).
    """

    def __init__(self, growth_rate: int = 32, block_config=(6, 12, 24, 16),
                 num_init_features: int = 64, bn_size: int = 4, drop_rate: float = 0,
                 num_classes: int = 1000, memory_efficient: bool = False,
                 in_channels: int = 3):  # fmt: skip
        super().__init__()
        self.in_channels = in_channels
        self.features = Sequential(OrderedDict([
            ("conv0", Conv2d(in_channels, num_init_features, kernel_size=7, stride=2, padding=3,
                             bias=False)),
            ("norm0", BatchNorm2d(num_init_features)),
            ("relu0", ReLU(inplace=True)),
            ("pool0", MaxPool2d(kernel_size=3, stride=2, padding=1)),
        ]))  # fmt: skip
        self._shrinking_layers = ["features.conv0", "features.pool0"]
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            block = _DenseBlock(num_layers=num_layers, num_input_features=num_features,
                                bn_size=bn_size, growth_rate=growth_rate, drop_rate=drop_rate,
                                memory_efficient=memory_efficient)  # fmt: skip
            self.features.add_module(f"denseblock{i + 1}", block)
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                trans = _Transition(num_features, num_features // 2)
                self.features.add_module(f"transition{i + 1}", trans)
                self._shrinking_layers.append(f"features.transition{i + 1}.pool")
                num_features //= 2
        self.features.add_module("norm5", BatchNorm2d(num_features))
        self.classifier = Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight)
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, Linear):
                init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        out = relu(self.features(x))
        out = flatten(adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# torchvision's checkpoints name a dense layer's modules 'norm.1', 'conv.2', ... (the names of
# its first release): 'denselayer1.norm.1.weight' is today's 'denselayer1.norm1.weight'
_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _renamed_legacy_keys(state) -> OrderedDict:
    """The state dict with torchvision's legacy dense-layer names joined ('norm.1' -> 'norm1');
    other keys unchanged, order kept."""
    out = OrderedDict()
    for key, value in state.items():
        match = _LEGACY_KEY.match(key)
        out[match.group(1) + match.group(2) if match else key] = value
    return out


def _densenet(growth_rate: int, block_config, num_init_features: int, weights,
              **kwargs) -> DenseNet:  # fmt: skip
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    if weights is None:
        return model
    state = load_state_dict_file(weights) if isinstance(weights, (str, Path)) else weights
    skip = () if model.classifier.out_features == 1000 else ("classifier.",)
    return load_weights(model, _renamed_legacy_keys(state), skip=skip)


# name: (growth_rate, block_config, num_init_features); the parameter counts (torchvision's
# model cards) are checked in tests/models/test_more_models.py
_VARIANTS = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}


def _variant(name: str):
    growth_rate, block_config, num_init_features = _VARIANTS[name]

    def build(num_classes: int = 1000, drop_rate: float = 0, bn_size: int = 4,
              memory_efficient: bool = False, in_channels: int = 3,
              weights=None) -> DenseNet:  # fmt: skip
        return _densenet(growth_rate, block_config, num_init_features, weights,
                         bn_size=bn_size, drop_rate=drop_rate, num_classes=num_classes,
                         memory_efficient=memory_efficient, in_channels=in_channels)  # fmt: skip

    kind = f"DenseNet-{name[8:]}"
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: {kind}, growth rate {growth_rate}, {block_config} dense "
        f"layers, {num_init_features} first features. Options as DenseNet; `weights`: a "
        "torchvision `.pth` (legacy 'norm.1' names renamed) or an `.npz` state dict (with "
        "num_classes != 1000 the file's classifier is skipped)."
    )
    register(
        name,
        f"{kind} (torchvision architecture and state_dict keys), ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


densenet121 = _variant("densenet121")
densenet161 = _variant("densenet161")
densenet169 = _variant("densenet169")
densenet201 = _variant("densenet201")
