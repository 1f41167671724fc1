"""Small general-purpose networks: the quick defaults of `minitorch-cv train`.

small-cnn  3 x [conv3 p1 + BN + ReLU + pool2] (w, 2w, 4w channels), conv3 p1 + BN + ReLU,
           global max pool, Linear to the classes. Trains on the synthetic `shapes` set in
           seconds: the global max pool makes the answer independent of where a feature (a
           shape's corner, say) sits in the image.
mlp        Flatten, Linear + ReLU (hidden), Linear + ReLU (hidden // 2), Linear.
small-fcn  a small U-Net-like segmenter: 3 x [conv3 + BN + ReLU, pool2] down to 1/8 size, a
           conv3 there, then 3 x [ConvTranspose2d(k2, s2) + BN + ReLU, add the encoder map of
           that size, conv3 + BN + ReLU] back up, and a 1x1 conv to the classes.

`small_cnn` and `mlp` return a plain Sequential, so their parameters are named '0.weight', ...
"""

from __future__ import annotations

import math

from ..layers import (
    AdaptiveMaxPool2d,
    BatchNorm2d,
    Flatten,
    Linear,
    Module,
    ModuleList,
    ReLU,
    Sequential,
)
from ..layers.conv import Conv2d, ConvTranspose2d
from ..layers.pool import MaxPool2d
from ._registry import register


def _conv_bn_relu(cin: int, cout: int) -> Sequential:
    """conv3 p1 (no bias: the BatchNorm after it has one) + BatchNorm2d + ReLU."""
    return Sequential(Conv2d(cin, cout, 3, padding=1, bias=False), BatchNorm2d(cout), ReLU())


@register(
    "small-cnn",
    "3 x [conv3 + BN + ReLU + pool2] 16-32-64, conv3, global max pool, Linear "
    "(the `minitorch-cv train` default)",
    input_size=(3, 32, 32),
    num_classes=10,
)
def small_cnn(in_channels: int = 3, num_classes: int = 10, width: int = 16,
              image_size: int = 32) -> Sequential:  # fmt: skip
    """A small CNN for any input of 8x8 or more.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 10.
        width (int): channels of the first conv; then 2 * width and 4 * width. Default: 16.
        image_size (int): input height = width, checked to survive 3 pools. Default: 32.

    Shape: (N, C, H, W) -> (N, num_classes) for any H, W >= 8 (global max pool at the end).
    """
    if image_size < 8:
        raise ValueError(f"small-cnn: image_size {image_size} is too small (needs 8 or more)")
    layers, c = [], in_channels
    for out in (width, 2 * width, 4 * width):
        layers += [Conv2d(c, out, 3, padding=1, bias=False), BatchNorm2d(out), ReLU(),
                   MaxPool2d(2)]  # fmt: skip
        c = out
    layers += [Conv2d(c, c, 3, padding=1, bias=False), BatchNorm2d(c), ReLU()]
    return Sequential(*layers, AdaptiveMaxPool2d(1), Flatten(), Linear(c, num_classes))


@register(
    "mlp",
    "Flatten, Linear 256 + ReLU, Linear 128 + ReLU, Linear",
    input_size=(3, 32, 32),
    num_classes=10,
)
def mlp(in_channels: int = 3, num_classes: int = 10, hidden: int = 256,
        image_size: int = 32) -> Sequential:  # fmt: skip
    """A two-hidden-layer perceptron on the flattened image.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 10.
        hidden (int): width of the first hidden layer; the second has hidden // 2. Default: 256.
        image_size (int): input height = width. Default: 32.

    Shape: (N, C, S, S) -> (N, num_classes); the first Linear takes C * S * S features.
    """
    n = math.prod((in_channels, image_size, image_size))
    return Sequential(Flatten(), Linear(n, hidden), ReLU(),
                      Linear(hidden, hidden // 2), ReLU(),
                      Linear(hidden // 2, num_classes))  # fmt: skip


@register(
    "small-fcn",
    "U-Net-like 16-32-64, 3 pools, ConvTranspose + additive skips, 1x1 conv",
    input_size=(3, 32, 32),
    num_classes=10,
    task="segmentation",
)
class SmallFCN(Module):
    """A small encoder-decoder with additive skips (no channel concat needed).

    Args:
        in_channels (int): Default: 3.
        num_classes (int): classes per pixel. Default: 10.
        width (int): channels at full size; 2 * width at 1/2, 4 * width at 1/4 and 1/8.
            Default: 16.
        image_size (int): input height = width, checked to be a multiple of 8. Default: 32.

    Shape: (N, C, H, W) -> (N, num_classes, H, W), H and W multiples of 8.
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 image_size: int = 32):  # fmt: skip
        super().__init__()
        if image_size < 8 or image_size % 8:
            raise ValueError(f"small-fcn: image_size {image_size} must be a multiple of 8")
        w1, w2, w3 = width, 2 * width, 4 * width

        def up(cin, cout):
            return Sequential(
                ConvTranspose2d(cin, cout, 2, stride=2, bias=False), BatchNorm2d(cout), ReLU()
            )

        self.down = ModuleList(
            [_conv_bn_relu(in_channels, w1), _conv_bn_relu(w1, w2), _conv_bn_relu(w2, w3)]
        )
        self.pool = MaxPool2d(2)
        self.middle = _conv_bn_relu(w3, w3)
        self.up = ModuleList([up(w3, w3), up(w2, w2), up(w1, w1)])
        self.mix = ModuleList([_conv_bn_relu(w3, w2), _conv_bn_relu(w2, w1), _conv_bn_relu(w1, w1)])
        self.head = Conv2d(w1, num_classes, 1)

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)  # full, 1/2 and 1/4 size
            x = self.pool(x)
        x = self.middle(x)
        for upsample, mix, skip in zip(self.up, self.mix, reversed(skips)):
            x = mix(upsample(x) + skip)  # additive skip: the channels already match
        return self.head(x)
