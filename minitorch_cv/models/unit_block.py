"""A. The residual "unit block" classifier (SEED_MODELS.md section A).

    UnitBlock(c -> 3c):  expand   conv3 p1 (c -> 3c) + BN + ReLU
                         residual [conv3 p1 (3c -> 3c) + BN + ReLU] x 2, added to its own input
                         merge    conv3 p1 (3c -> 3c) + BN + ReLU
                         pool     max pool 2x2
    channels triple and the size halves: (N, c, H, W) -> (N, 3c, H // 2, W // 2).

The head halves the width (integer halving) with Linear + BatchNorm1d + ReLU layers while the
next width stays greater than the number of classes, then a plain Linear to the classes:
MNIST (1 block, 1x28x28): 588-294-147-73-36-18-10; CIFAR-10 (4 blocks, 3x32x32):
972-486-243-121-60-30-15-10.
"""

from __future__ import annotations

from ..layers import BatchNorm1d, Flatten, Linear, Module, ReLU, Sequential
from ..layers.pool import MaxPool2d
from ._blocks import conv_bn_relu
from ._registry import register


class UnitBlock(Module):
    """conv (c -> 3c), a two-conv residual branch with an identity skip, a conv, a 2x2 max pool.

    Args:
        in_channels (int): c; the block outputs 3c channels.

    Shape: (N, c, H, W) -> (N, 3c, H // 2, W // 2).
    """

    def __init__(self, in_channels: int):
        super().__init__()
        c3 = 3 * in_channels
        self.expand = conv_bn_relu(in_channels, c3)
        self.residual = Sequential(conv_bn_relu(c3, c3), conv_bn_relu(c3, c3))
        self.merge = conv_bn_relu(c3, c3)
        self.pool = MaxPool2d(2)

    def forward(self, x):
        x = self.expand(x)
        x = x + self.residual(x)  # the residual branch is added to its own input
        return self.pool(self.merge(x))


def head_widths(in_features: int, num_classes: int) -> list[int]:
    """Widths of the halving head: [in, in // 2, ...] while the next stays > num_classes.

    >>> head_widths(588, 10)
    [588, 294, 147, 73, 36, 18]
    """
    widths = [in_features]
    while widths[-1] // 2 > num_classes:
        widths.append(widths[-1] // 2)
    return widths


@register(
    "unit-block-cifar10",
    "A: 4 residual unit blocks + halving head, CIFAR-10 (reported 79.82 %)",
    input_size=(3, 32, 32),
    num_classes=10,
    blocks=4,
    in_channels=3,
    image_size=32,
)
@register(
    "unit-block-mnist",
    "A: 1 residual unit block + halving head, MNIST (reported 98.80 %)",
    input_size=(1, 28, 28),
    num_classes=10,
    blocks=1,
    in_channels=1,
    image_size=28,
)
class UnitBlockNet(Module):
    """Unit blocks (channels x3, size /2 each) then the halving Linear+BN1d+ReLU head.

    Args:
        blocks (int): number of unit blocks. Default: 1 (MNIST); 4 for CIFAR-10.
        in_channels (int): image channels. Default: 1.
        num_classes (int): Default: 10.
        image_size (int): height = width of the input, to size the head. Default: 28.

    Shape: (N, in_channels, S, S) -> (N, num_classes), with the flattened width
        in_channels * 3**blocks * (S // 2**blocks)**2.
    """

    def __init__(self, blocks: int = 1, in_channels: int = 1, num_classes: int = 10,
                 image_size: int = 28):  # fmt: skip
        super().__init__()
        if blocks < 1:
            raise ValueError(f"UnitBlockNet: blocks must be >= 1, got {blocks}")
        side = image_size
        for _ in range(blocks):
            side //= 2
        if side < 1:
            raise ValueError(
                f"UnitBlockNet: image_size {image_size} is too small for {blocks} blocks "
                f"(each halves the size)"
            )
        self.features = Sequential(*[UnitBlock(in_channels * 3**i) for i in range(blocks)])
        widths = head_widths(in_channels * 3**blocks * side * side, num_classes)
        layers = [Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [Linear(a, b), BatchNorm1d(b), ReLU()]
        layers.append(Linear(widths[-1], num_classes))
        self.classifier = Sequential(*layers)

    def forward(self, x):
        return self.classifier(self.features(x))
