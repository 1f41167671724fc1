"""ConvNeXt (Liu et al., 2022, "A ConvNet for the 2020s") as torchvision builds it, with
torchvision's module names and state_dict keys (torchvision's `torchvision.models.convnext`).

    features.0         stem: 4x4 conv s4 (with bias) + LayerNorm2d           (H/4)
    features.1, 3, 5, 7  stages of CNBlocks at widths C1..C4
    features.2, 4, 6   downsampling: LayerNorm2d + 2x2 conv s2 (with bias)   (H/8, H/16, H/32)
    avgpool, classifier: LayerNorm2d, Flatten, Linear

    CNBlock(dim):  block.0 7x7 depthwise conv (bias), block.1 Permute NCHW -> NHWC,
                   block.2 LayerNorm(dim, eps 1e-6), block.3 Linear(dim, 4 dim), block.4 GELU,
                   block.5 Linear(4 dim, dim), block.6 Permute back;
                   y = x + stochastic_depth(layer_scale * block(x)), layer_scale (dim, 1, 1)
                   starts at 1e-6. Block i of n (from 0) drops with p = prob * i / (n - 1).

    LayerNorm2d normalises each pixel's C channels (LayerNorm over dim 1 of NCHW), eps 1e-6.

             widths                  blocks        stochastic_depth_prob   parameters
    tiny     96, 192, 384, 768       3, 3, 9, 3    0.1                     28,589,128
    small    96, 192, 384, 768       3, 3, 27, 3   0.4                     50,223,688
    base     128, 256, 512, 1024     3, 3, 27, 3   0.5                     88,591,464
    large    192, 384, 768, 1536     3, 3, 27, 3   0.5                    197,767,336

The stem and the three downsamplings shrink the input 32 times without padding: the smallest
input is 32x32 (torchvision's min_size); a smaller one fails naming the layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from .. import init
from ..functional import layer_norm
from ..layers import GELU, Flatten, LayerNorm, Linear, Module, Parameter, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d
from ..ops.misc import Conv2dNormActivation, Permute
from ..ops.stochastic_depth import StochasticDepth
from ..tensor import ones
from ._input_size import check_input
from ._registry import register
from .weights import with_weights


class LayerNorm2d(LayerNorm):
    """LayerNorm over the channels of an NCHW map: each pixel's C values normalised, then
    scaled by weight (C,) and shifted by bias (C,) (torchvision's LayerNorm2d).

    Args: as LayerNorm, with normalized_shape = C.

    Shape: (N, C, H, W) -> same.
    """

    def forward(self, x):
        c = self.normalized_shape
        if x.ndim != 4 or (x.shape[1],) != c:
            raise ValueError(
                f"LayerNorm2d({c[0]}): expected (N, {c[0]}, H, W) input, got shape {tuple(x.shape)}"
            )
        x = layer_norm(x.permute(0, 2, 3, 1), c, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(Module):
    """torchvision's ConvNeXt block; see the module docstring.

    Args:
        dim (int): channels.
        layer_scale (float): initial value of the per-channel output scale.
        stochastic_depth_prob (float): drop probability of the residual branch.
        norm_layer (callable or None): Default: LayerNorm with eps=1e-6.

    Parameter: layer_scale (dim, 1, 1). Shape: (N, dim, H, W) -> same.
    """

    def __init__(self, dim: int, layer_scale: float, stochastic_depth_prob: float, norm_layer=None):
        super().__init__()
        norm_layer = partial(LayerNorm, eps=1e-6) if norm_layer is None else norm_layer
        self.block = Sequential(
            Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            norm_layer(dim),
            Linear(in_features=dim, out_features=4 * dim, bias=True),
            GELU(),
            Linear(in_features=4 * dim, out_features=dim, bias=True),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = Parameter(ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")

    def forward(self, input):
        result = self.stochastic_depth(self.layer_scale * self.block(input))
        return result + input


class CNBlockConfig:
    """A ConvNeXt stage (section 3 of the paper): num_layers CNBlocks of input_channels, then
    a downsampling to out_channels (None: the last stage, no downsampling)."""

    def __init__(self, input_channels: int, out_channels: int | None, num_layers: int):
        self.input_channels = input_channels
        self.out_channels = out_channels
        self.num_layers = num_layers

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_channels={self.input_channels}, "
            f"out_channels={self.out_channels}, num_layers={self.num_layers})"
        )


class ConvNeXt(Module):
    """torchvision's ConvNeXt.

    Args:
        block_setting (list of CNBlockConfig): the stages.
        stochastic_depth_prob (float): the last block's drop probability. Default: 0.0.
        layer_scale (float): initial layer_scale of every block. Default: 1e-6.
        num_classes (int): Default: 1000.
        block (callable or None): builds a block from (dim, layer_scale, prob). Default: CNBlock.
        norm_layer (callable or None): the stem's, the downsamplings' and the classifier's norm.
            Default: LayerNorm2d with eps=1e-6.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init as torchvision: every Conv2d and Linear weight trunc_normal_(std=0.02) with zero bias;
    norms 1 / 0.

    Shape: (N, in_channels, H, W) -> (N, num_classes), H, W >= 32.
    """

    def __init__(
        self,
        block_setting,
        stochastic_depth_prob: float = 0.0,
        layer_scale: float = 1e-6,
        num_classes: int = 1000,
        block=None,
        norm_layer=None,
        *,
        in_channels: int = 3,
    ):
        super().__init__()
        if not block_setting:
            raise ValueError("ConvNeXt: the block_setting should not be empty")
        if not isinstance(block_setting, Sequence) or not all(
            isinstance(s, CNBlockConfig) for s in block_setting
        ):
            raise TypeError("ConvNeXt: the block_setting should be List[CNBlockConfig]")
        block = CNBlock if block is None else block
        norm_layer = partial(LayerNorm2d, eps=1e-6) if norm_layer is None else norm_layer
        self.in_channels = in_channels
        layers = [
            Conv2dNormActivation(
                in_channels,
                block_setting[0].input_channels,
                kernel_size=4,
                stride=4,
                padding=0,
                norm_layer=norm_layer,
                activation_layer=None,
                bias=True,
            )
        ]
        self._shrinking_layers = ["features.0.0"]
        total, block_id = sum(cnf.num_layers for cnf in block_setting), 0
        last_id = max(total - 1.0, 1.0)  # a lone block gets p = 0 (torchvision divides by 0)
        for cnf in block_setting:
            stage = []
            for _ in range(cnf.num_layers):
                sd_prob = stochastic_depth_prob * block_id / last_id
                stage.append(block(cnf.input_channels, layer_scale, sd_prob))
                block_id += 1
            layers.append(Sequential(*stage))
            if cnf.out_channels is not None:
                layers.append(
                    Sequential(
                        norm_layer(cnf.input_channels),
                        Conv2d(cnf.input_channels, cnf.out_channels, kernel_size=2, stride=2),
                    )
                )
                self._shrinking_layers.append(f"features.{len(layers) - 1}.1")
        self.features = Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d(1)
        last = block_setting[-1]
        last_out = last.input_channels if last.out_channels is None else last.out_channels
        self.classifier = Sequential(
            norm_layer(last_out), Flatten(1), Linear(last_out, num_classes)
        )
        for m in self.modules():
            if isinstance(m, (Conv2d, Linear)):
                init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        return self.classifier(self.avgpool(self.features(x)))


# name: (stages as (input, out, blocks), stochastic_depth_prob, torchvision's num_params)
_VARIANTS = {
    "tiny": (((96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)), 0.1, 28_589_128),
    "small": (((96, 192, 3), (192, 384, 3), (384, 768, 27), (768, None, 3)), 0.4, 50_223_688),
    "base": (((128, 256, 3), (256, 512, 3), (512, 1024, 27), (1024, None, 3)), 0.5, 88_591_464),
    "large": (((192, 384, 3), (384, 768, 3), (768, 1536, 27), (1536, None, 3)), 0.5,
              197_767_336),
}  # fmt: skip


def _variant(size: str):
    stages, default_prob, count = _VARIANTS[size]
    name = f"convnext_{size}"

    def build(
        num_classes: int = 1000,
        stochastic_depth_prob: float = default_prob,
        layer_scale: float = 1e-6,
        in_channels: int = 3,
        weights=None,
    ) -> ConvNeXt:
        setting = [CNBlockConfig(*s) for s in stages]
        model = ConvNeXt(
            setting, stochastic_depth_prob, layer_scale, num_classes, in_channels=in_channels
        )
        return with_weights(model, weights, None if num_classes == 1000 else "classifier.2.")

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: ConvNeXt-{size.capitalize()} ({count:,} parameters).\n\n"
        f"    Args: num_classes; stochastic_depth_prob (Default: {default_prob}); layer_scale;\n"
        "    in_channels as ConvNeXt; weights: a torchvision `.pth` or an `.npz` state dict\n"
        "    (with num_classes != 1000 the file's last Linear is skipped).\n"
    )
    register(
        name.replace("_", "-"),
        f"ConvNeXt-{size.capitalize()} (torchvision architecture and state_dict keys), "
        "ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


convnext_tiny = _variant("tiny")
convnext_small = _variant("small")
convnext_base = _variant("base")
convnext_large = _variant("large")
