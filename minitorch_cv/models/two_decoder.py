"""B. The two-decoder segmentation net for MNIST-on-CIFAR (SEED_MODELS.md section B).

Every pixel gets one of 20 labels: the digit class 0-9 where the digit is, 10 + the CIFAR class
elsewhere. The net factors that into a 2-way "type" map (digit / background image) and a 10-way
"class" map and multiplies them:

    encoder  4 x [conv3 p1 + BN + ReLU, conv3 p1 + BN + ReLU, pool2]   3 -> 32 -> 64 -> 128 -> 256
             keeping each block's output e1 (32, H/2), e2 (64, H/4), e3 (128, H/8), e4 (256, H/16)
    decoders "type"  256 -> 128 -> 64 -> 32 -> 2     "class"  256 -> 128 -> 64 -> 32 -> 10
             block(cin -> cout): conv3 p1 + BN + ReLU, ConvTranspose2d(k2, s2) + BN + ReLU,
                                 conv3 p1 + BN + ReLU                      (size doubles)
             block 1 takes e4; block k > 1 takes the previous output + e_(5-k) (additive skip)
    output   cat(type[:, 0:1] * class, type[:, 1:2] * class)  -> 20 channels (N, 20, H, W)

As SEED_MODELS.md writes it, every decoder block ends with BN + ReLU, the last ones included,
so the 20 output scores are products of non-negative maps.
"""

from __future__ import annotations

from .. import functional as F
from ..layers import BatchNorm2d, Module, ModuleList, ReLU, Sequential
from ..layers.conv import ConvTranspose2d
from ..layers.pool import MaxPool2d
from ._blocks import conv_bn_relu
from ._registry import register


class EncoderBlock(Sequential):
    """conv3 p1 (cin -> cout) + BN + ReLU, conv3 p1 (cout -> cout) + BN + ReLU, 2x2 max pool.

    Shape: (N, cin, H, W) -> (N, cout, H // 2, W // 2).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__(conv_bn_relu(cin, cout), conv_bn_relu(cout, cout), MaxPool2d(2))


class DecoderBlock(Sequential):
    """conv3 p1 (cin -> cout) + BN + ReLU, ConvTranspose2d(k2, s2) + BN + ReLU, conv3 + BN + ReLU.

    Shape: (N, cin, H, W) -> (N, cout, 2H, 2W).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__(
            conv_bn_relu(cin, cout),
            Sequential(ConvTranspose2d(cout, cout, 2, stride=2), BatchNorm2d(cout), ReLU()),
            conv_bn_relu(cout, cout),
        )


class Decoder(Module):
    """Decoder blocks with additive skips from the encoder maps of the same size.

    Args:
        channels (sequence): widths, e.g. (256, 128, 64, 32, 2): one block per consecutive pair.
    """

    def __init__(self, channels):
        super().__init__()
        self.blocks = ModuleList(DecoderBlock(a, b) for a, b in zip(channels[:-1], channels[1:]))

    def forward(self, deepest, skips):
        """deepest: e4; skips: the shallower encoder maps, deepest first (e3, e2, e1)."""
        x = self.blocks[0](deepest)
        for block, skip in zip(list(self.blocks)[1:], skips):
            x = block(x + skip)
        return x


@register(
    "two-decoder",
    "B: encoder + 'type' and 'class' decoders, MNIST-on-CIFAR, 20 classes (reported 74.24 % px)",
    input_size=(3, 32, 32),
    num_classes=20,
    task="segmentation",
)
class TwoDecoderSegNet(Module):
    """Encoder 3-32-64-128-256 and two decoders whose outputs multiply into 2 x num_digit maps.

    Args:
        in_channels (int): Default: 3.
        num_digit_classes (int): width of the 'class' decoder. Default: 10.
        num_types (int): width of the 'type' decoder (digit / background). Default: 2.
        widths (tuple): encoder widths. Default: (32, 64, 128, 256).

    Shape: (N, in_channels, H, W) -> (N, num_types * num_digit_classes, H, W), H and W
        divisible by 16.
    """

    def __init__(self, in_channels: int = 3, num_digit_classes: int = 10, num_types: int = 2,
                 widths=(32, 64, 128, 256)):  # fmt: skip
        super().__init__()
        widths = tuple(widths)
        self.encoder = ModuleList(
            EncoderBlock(a, b) for a, b in zip((in_channels, *widths), widths)
        )
        up = widths[::-1]  # (256, 128, 64, 32)
        self.type_decoder = Decoder((*up, num_types))
        self.class_decoder = Decoder((*up, num_digit_classes))
        self._factor = 2 ** len(widths)

    def forward(self, x):
        if x.ndim != 4 or x.shape[2] % self._factor or x.shape[3] % self._factor:
            raise ValueError(
                f"TwoDecoderSegNet: expected (N, C, H, W) with H, W divisible by {self._factor}, "
                f"got shape {tuple(x.shape)}"
            )
        feats = []
        for block in self.encoder:
            x = block(x)
            feats.append(x)
        skips = feats[-2::-1]  # e3, e2, e1
        kind = self.type_decoder(feats[-1], skips)
        cls = self.class_decoder(feats[-1], skips)
        # one block of num_digit_classes scores per type: type t's share of every class
        return F.cat([kind[:, t : t + 1] * cls for t in range(kind.shape[1])], dim=1)
