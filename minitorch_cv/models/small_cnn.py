"""E. Small CIFAR-10 CNNs with a worked parameter count (SEED_MODELS.md section E).

E1  conv5 p2 32 + ReLU + pool2, conv5 p2 64 + ReLU + pool2, conv5 p2 128 + ReLU + pool2,
    Linear(4*4*128, 64) + ReLU, Linear(64, 10)
    trainable parameters: (3*25+1)*32 + (32*25+1)*64 + (64*25+1)*128 + (2048+1)*64 + (64+1)*10
                        = 2,432 + 51,264 + 204,928 + 131,136 + 650 = 390,410
E2  conv5 p2 32 + ReLU, conv5 p2 64 + ReLU, pool2, BN, conv5 p2 64 + ReLU, pool2, BN,
    flatten, Linear(64*8*8, 128) + ReLU, Linear(128, 10)
E2 + extra conv: one more conv5 p2 (64 -> 64) + ReLU right after the third conv (before the
    second pool), SEED_MODELS.md's "one more conv layer"; the head is unchanged.
"""

from __future__ import annotations

from ..layers import BatchNorm2d, Flatten, Linear, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import MaxPool2d
from ._registry import register


@register(
    "e1",
    "E1: 3 x [conv5 + ReLU + pool2] 32-64-128, FC 2048-64-10, CIFAR-10 (reported 72.0 %)",
    input_size=(3, 32, 32),
    num_classes=10,
)
class SmallCNN(Module):
    """E1: three conv5 p2 + ReLU + pool2 stages, Linear + ReLU, Linear.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 10.
        channels (tuple): filters of the three convs. Default: (32, 64, 128).
        hidden (int): width of the hidden Linear. Default: 64.
        image_size (int): input height = width. Default: 32.

    Shape: (N, 3, S, S) -> (N, num_classes); the first Linear takes channels[-1] * (S // 8)**2.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, channels=(32, 64, 128),
                 hidden: int = 64, image_size: int = 32):  # fmt: skip
        super().__init__()
        layers, cin, side = [], in_channels, image_size
        for c in channels:
            layers += [Conv2d(cin, c, 5, padding=2), ReLU(), MaxPool2d(2)]
            cin, side = c, side // 2
        if side < 1:
            raise ValueError(f"SmallCNN: image_size {image_size} is too small for 3 pools")
        self.features = Sequential(*layers)
        self.classifier = Sequential(
            Flatten(), Linear(cin * side * side, hidden), ReLU(), Linear(hidden, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))


@register(
    "e2-extra-conv",
    "E2 with one more conv5 (64 -> 64) + ReLU, CIFAR-10 (reported 81.65 %)",
    input_size=(3, 32, 32),
    num_classes=10,
    extra_conv=True,
)
@register(
    "e2",
    "E2: conv5 32, conv5 64, pool, BN, conv5 64, pool, BN, FC 4096-128-10 (reported 80.1 %)",
    input_size=(3, 32, 32),
    num_classes=10,
)
class ImprovedCNN(Module):
    """E2: two convs, pool, BN, a conv (two with `extra_conv`), pool, BN, Linear + ReLU, Linear.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 10.
        extra_conv (bool): a fourth conv5 p2 (64 -> 64) + ReLU after the third. Default: False.
        image_size (int): input height = width. Default: 32.

    Shape: (N, 3, S, S) -> (N, num_classes); the first Linear takes 64 * (S // 4)**2 features.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, extra_conv: bool = False,
                 image_size: int = 32):  # fmt: skip
        super().__init__()
        layers = [
            Conv2d(in_channels, 32, 5, padding=2), ReLU(),
            Conv2d(32, 64, 5, padding=2), ReLU(),
            MaxPool2d(2), BatchNorm2d(64),
            Conv2d(64, 64, 5, padding=2), ReLU(),
        ]  # fmt: skip
        if extra_conv:
            layers += [Conv2d(64, 64, 5, padding=2), ReLU()]
        layers += [MaxPool2d(2), BatchNorm2d(64)]
        side = image_size // 4
        if side < 1:
            raise ValueError(f"ImprovedCNN: image_size {image_size} is too small for 2 pools")
        self.features = Sequential(*layers)
        self.classifier = Sequential(
            Flatten(), Linear(64 * side * side, 128), ReLU(), Linear(128, num_classes)
        )

    def forward(self, x):
        return self.classifier(self.features(x))
