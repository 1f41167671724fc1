"""D. Segmentation nets for PASCAL VOC 2007 (21 classes), SEED_MODELS.md section D.

    FCNBaseline  5 x conv k3 s2 p1 (3 -> 32 -> 64 -> 128 -> 256 -> 512), each ReLU then BN;
                 5 x ConvTranspose2d k3 s2 p1 op1 (512 -> 512 -> 256 -> 128 -> 64 -> 32),
                 each ReLU then BN; conv1x1 32 -> 21.  Xavier init.     224 -> 7 -> 224
    UNet         4 down blocks 64-128-256-512 (two conv3 p1 + BN + ReLU, then pool2),
                 bottleneck 1024 (two conv3 p1 + BN + ReLU), 4 up blocks
                 (ConvTranspose2d k2 s2 halving the channels, concat with the encoder map,
                 two conv3 p1 + BN + ReLU), conv1x1 64 -> 21.
    ResNetFCN    torchvision ResNet-18 without avgpool / fc (frozen), then the baseline's
                 5 transposed convs (512 -> 512 -> 256 -> 128 -> 64 -> 32) and conv1x1 -> 21.

The report's "+cosine", "+augmentation" and "+weighted loss" rows train FCNBaseline with other
recipes (minitorch_cv.recipes), not another network.
"""

from __future__ import annotations

from .. import functional as F
from .. import init
from ..layers import BatchNorm2d, Module, ModuleList, ReLU, Sequential
from ..layers.conv import Conv2d, ConvTranspose2d
from ..layers.pool import MaxPool2d
from ._blocks import conv_bn_relu
from ._registry import register
from .resnet import ResNet, freeze


def _check_divisible(who: str, x, factor: int) -> None:
    if x.ndim != 4 or x.shape[2] % factor or x.shape[3] % factor:
        raise ValueError(
            f"{who}: expected (N, C, H, W) with H and W divisible by {factor}, "
            f"got shape {tuple(x.shape)}"
        )


def up_path(channels) -> Sequential:
    """ConvTranspose2d(k3, s2, p1, output_padding 1) + ReLU + BN per consecutive channel pair:
    each doubles the size exactly (H -> 2H)."""
    layers = []
    for a, b in zip(channels[:-1], channels[1:]):
        layers += [ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), ReLU(),
                   BatchNorm2d(b)]  # fmt: skip
    return Sequential(*layers)


@register(
    "fcn-baseline",
    "D: 5 strided convs + 5 transposed convs FCN, VOC 2007 (reported 72.08 % px, mIoU 0.059)",
    input_size=(3, 224, 224),
    num_classes=21,
    task="segmentation",
)
class FCNBaseline(Module):
    """Five stride-2 convs down, five stride-2 transposed convs up, a 1x1 classifier.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 21.
        channels (tuple): encoder widths; the decoder runs them back
            (widths[-1], widths[-1], widths[-2], ..., widths[0]). Default: (32, 64, 128, 256, 512).
        xavier_init (bool): xavier_uniform_ conv weights and zero biases. Default: True.

    Shape: (N, C, H, W) -> (N, num_classes, H, W), H and W divisible by 2**len(channels) (32).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 21,
                 channels=(32, 64, 128, 256, 512), xavier_init: bool = True):  # fmt: skip
        super().__init__()
        channels = tuple(channels)
        down = []
        for a, b in zip((in_channels, *channels), channels):
            down += [Conv2d(a, b, 3, stride=2, padding=1), ReLU(), BatchNorm2d(b)]
        self.encoder = Sequential(*down)
        self.decoder = up_path((channels[-1], *channels[::-1]))
        self.classifier = Conv2d(channels[0], num_classes, 1)
        self._factor = 2 ** len(channels)
        if xavier_init:
            for m in self.modules():
                if isinstance(m, (Conv2d, ConvTranspose2d)):
                    init.xavier_uniform_(m.weight)
                    init.zeros_(m.bias)

    def forward(self, x):
        _check_divisible("FCNBaseline", x, self._factor)
        return self.classifier(self.decoder(self.encoder(x)))


class DoubleConv(Sequential):
    """Two conv3 p1 + BN + ReLU: (N, cin, H, W) -> (N, cout, H, W)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(conv_bn_relu(cin, cout), conv_bn_relu(cout, cout))


class UpBlock(Module):
    """ConvTranspose2d(k2, s2) (cin -> cin / 2), concat with the encoder map, DoubleConv -> cout.

    Shape: x (N, cin, H, W), skip (N, cin / 2, 2H, 2W) -> (N, cout, 2H, 2W).
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin // 2 + cout, cout)

    def forward(self, x, skip):
        return self.conv(F.cat([skip, self.up(x)], dim=1))


@register(
    "unet",
    "D: U-Net 64-128-256-512, bottleneck 1024, VOC 2007 (reported 72.33 % px, mIoU 0.083)",
    input_size=(3, 224, 224),
    num_classes=21,
    task="segmentation",
)
class UNet(Module):
    """U-Net: DoubleConv + pool2 down, a DoubleConv bottleneck, transposed conv + concat up.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 21.
        widths (tuple): down-block widths; the bottleneck has twice the last. Default:
            (64, 128, 256, 512).

    Shape: (N, C, H, W) -> (N, num_classes, H, W), H and W divisible by 2**len(widths) (16).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 21, widths=(64, 128, 256, 512)):
        super().__init__()
        widths = tuple(widths)
        self.down = ModuleList(DoubleConv(a, b) for a, b in zip((in_channels, *widths), widths))
        self.pool = MaxPool2d(2)
        self.bottleneck = DoubleConv(widths[-1], 2 * widths[-1])
        ups = (2 * widths[-1], *widths[::-1])  # 1024, 512, 256, 128, 64
        self.up = ModuleList(UpBlock(a, b) for a, b in zip(ups[:-1], ups[1:]))
        self.classifier = Conv2d(widths[0], num_classes, 1)
        self._factor = 2 ** len(widths)

    def forward(self, x):
        _check_divisible("UNet", x, self._factor)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = block(x, skip)
        return self.classifier(x)


@register(
    "resnet18-fcn",
    "D: frozen ResNet-18 encoder + 5 transposed convs, VOC 2007 (reported 74.45 % px, 0.150)",
    input_size=(3, 224, 224),
    num_classes=21,
    task="segmentation",
)
class ResNetFCN(Module):
    """A ResNet-18 encoder (no avgpool / fc) and the baseline's transposed-conv decoder.

    Args:
        num_classes (int): Default: 21.
        weights (str or Path, optional): torchvision resnet18 `.pth` (or `.npz`) for the encoder;
            its fc entries are skipped. Default: None (random init, as torchvision's).
        freeze_encoder (bool): requires_grad=False on the encoder. Default: True.

    Encoder keys are torchvision's under 'encoder.' ('encoder.layer1.0.conv1.weight', ...).

    Shape: (N, 3, H, W) -> (N, num_classes, H, W), H and W divisible by 32.
    """

    def __init__(self, num_classes: int = 21, weights=None, freeze_encoder: bool = True):
        super().__init__()
        self.encoder = ResNet((2, 2, 2, 2), include_top=False)
        self.decoder = up_path((512, 512, 256, 128, 64, 32))
        self.classifier = Conv2d(32, num_classes, 1)
        if weights is not None:
            self.load_encoder_weights(weights)
        if freeze_encoder:
            freeze(self, "encoder")

    def load_encoder_weights(self, source) -> None:
        """Load a torchvision resnet18 state dict (file path or mapping) into the encoder."""
        from .weights import load_weights

        load_weights(self.encoder, source, skip=("fc.",))

    def forward(self, x):
        _check_divisible("ResNetFCN", x, 32)
        return self.classifier(self.decoder(self.encoder(x)))
