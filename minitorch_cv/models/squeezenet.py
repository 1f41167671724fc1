"""The torchvision SqueezeNets (Iandola et al., 2016), AlexNet-level accuracy from 1.2M
parameters, with torchvision's module names and state_dict keys.

A Fire module squeezes the channels with a 1x1 conv, then expands them again with a 1x1 and a
3x3 conv side by side, whose outputs are concatenated (1x1 first):

    Fire(inplanes, s, e1, e3):  squeeze 1x1 (-> s) + ReLU,
                                cat[expand1x1 (s -> e1) + ReLU, expand3x3 (s -> e3, p1) + ReLU]

    1_0: conv 7x7 s2 (96), ReLU, maxpool 3 s2 (ceil), Fire x3, maxpool, Fire x4, maxpool, Fire
    1_1: conv 3x3 s2 (64), ReLU, maxpool 3 s2 (ceil), Fire x2, maxpool, Fire x2, maxpool, Fire x4
    classifier: Dropout, final conv 1x1 (512 -> num_classes), ReLU, global average pool

Keys: 'features.0.weight', 'features.3.squeeze.weight', 'features.3.expand3x3.bias',
'classifier.1.weight', ...: a torchvision checkpoint loads with `squeezenet1_1(weights=path)`.
"""

from __future__ import annotations

from .. import init
from ..functional import cat, flatten
from ..layers import Dropout, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d, MaxPool2d
from ._input_size import check_input
from ._registry import register
from .weights import with_weights


class Fire(Module):
    """torchvision's Fire module.

    Args:
        inplanes (int): input channels.
        squeeze_planes (int): channels after the 1x1 squeeze.
        expand1x1_planes (int), expand3x3_planes (int): channels of the two expand convs.

    Shape: (N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W).
    """

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int,
                 expand3x3_planes: int):  # fmt: skip
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = ReLU(inplace=True)
        self.expand1x1 = Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = ReLU(inplace=True)
        self.expand3x3 = Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return cat([self.expand1x1_activation(self.expand1x1(x)),
                    self.expand3x3_activation(self.expand3x3(x))], 1)  # fmt: skip


def _pool() -> MaxPool2d:
    return MaxPool2d(kernel_size=3, stride=2, ceil_mode=True)


class SqueezeNet(Module):
    """torchvision's SqueezeNet.

    Args:
        version (str): '1_0' (the paper's) or '1_1' (2.4x less computation, from the authors'
            repository). Default: '1_0'.
        num_classes (int): Default: 1000.
        dropout (float): before the final conv. Default: 0.5.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init as torchvision: convs kaiming_uniform_ (fan_in, gain sqrt(2)), the final conv
    N(0, 0.01); all biases 0.

    Shape: (N, 3, H, W) -> (N, num_classes); H, W >= 21 (1_0) or 17 (1_1), smaller inputs fail
    with a ValueError naming the max pool that would be empty.
    """

    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5,
                 in_channels: int = 3):  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        self.in_channels = in_channels
        if version == "1_0":
            self.features = Sequential(
                Conv2d(in_channels, 96, kernel_size=7, stride=2), ReLU(inplace=True), _pool(),
                Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), _pool(),
                Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                Fire(384, 64, 256, 256), _pool(),
                Fire(512, 64, 256, 256),
            )  # fmt: skip
            pools = (2, 6, 11)
        elif version == "1_1":
            self.features = Sequential(
                Conv2d(in_channels, 64, kernel_size=3, stride=2), ReLU(inplace=True), _pool(),
                Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), _pool(),
                Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), _pool(),
                Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                Fire(512, 64, 256, 256),
            )  # fmt: skip
            pools = (2, 5, 8)
        else:
            raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")
        self._shrinking_layers = ["features.0", *(f"features.{i}" for i in pools)]
        final_conv = Conv2d(512, num_classes, kernel_size=1)
        self.classifier = Sequential(
            Dropout(p=dropout), final_conv, ReLU(inplace=True), AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, Conv2d):
                if m is final_conv:
                    init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        return flatten(self.classifier(self.features(x)), 1)


def _variant(version: str, count: int, description: str):
    name = f"squeezenet{version}"

    def build(num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3,
              weights=None) -> SqueezeNet:  # fmt: skip
        model = SqueezeNet(version, num_classes, dropout, in_channels)
        return with_weights(model, weights, None if num_classes == 1000 else "classifier.1.")

    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: {description} ({count:,} parameters). `weights`: a "
        "torchvision `.pth` or an `.npz` state dict (with num_classes != 1000 the file's final "
        "conv is skipped)."
    )
    register(
        name.replace("_", "-"),
        f"SqueezeNet {version.replace('_', '.')} (torchvision architecture and state_dict "
        "keys), ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


squeezenet1_0 = _variant("1_0", 1_248_424, "the paper's SqueezeNet")
squeezenet1_1 = _variant("1_1", 1_235_496, "2.4x less computation than 1_0, same accuracy")
