"""The classic ImageNet CNNs as torchvision builds them, with torchvision's state_dict names:
AlexNet (Krizhevsky et al., 2012, torchvision's one-GPU variant) and VGG-11/13/16/19 with and
without batch norm (Simonyan & Zisserman, 2014).

    AlexNet  features: conv 11x11 s4 (64) -> pool -> conv 5x5 (192) -> pool -> conv 3x3 (384)
             -> conv 3x3 (256) -> conv 3x3 (256) -> pool;  avgpool to 6x6;
             classifier: dropout, 9216 -> 4096, relu, dropout, 4096 -> 4096, relu, -> classes
    VGG      features: 3x3 convs (padding 1) in 5 stages, each closed by a 2x2 max pool;
             avgpool to 7x7; classifier: 25088 -> 4096, relu, dropout, 4096 -> 4096, relu,
             dropout, -> classes

A torchvision checkpoint loads with `load_weights` (no torch needed), e.g.
`vgg16(weights="vgg16-397923af.pth")`.
"""

from __future__ import annotations

from .. import init
from ..functional import flatten
from ..layers import BatchNorm2d, Dropout, Linear, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d, MaxPool2d
from ._registry import register
from .weights import with_weights


class AlexNet(Module):
    """torchvision's AlexNet.

    Args:
        num_classes (int): Default: 1000.
        dropout (float): of the two dropouts in the classifier. Default: 0.5.
        in_channels (int): Default: 3.

    Shape: (N, 3, H, W) -> (N, num_classes), H, W >= 63 (224 in the paper's setting).
    Init: PyTorch's layer defaults (as torchvision).
    """

    HEAD = "classifier.6."

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3):
        super().__init__()
        self.features = Sequential(
            Conv2d(in_channels, 64, 11, stride=4, padding=2), ReLU(), MaxPool2d(3, 2),
            Conv2d(64, 192, 5, padding=2), ReLU(), MaxPool2d(3, 2),
            Conv2d(192, 384, 3, padding=1), ReLU(),
            Conv2d(384, 256, 3, padding=1), ReLU(),
            Conv2d(256, 256, 3, padding=1), ReLU(), MaxPool2d(3, 2),
        )  # fmt: skip
        self.avgpool = AdaptiveAvgPool2d((6, 6))
        self.classifier = Sequential(
            Dropout(dropout), Linear(256 * 6 * 6, 4096), ReLU(),
            Dropout(dropout), Linear(4096, 4096), ReLU(),
            Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


@register(
    "alexnet",
    "AlexNet (torchvision architecture and state_dict keys), ImageNet head by default",
    input_size=(3, 224, 224),
    num_classes=1000,
)
def alexnet(num_classes: int = 1000, dropout: float = 0.5, in_channels: int = 3,
            weights=None) -> AlexNet:  # fmt: skip
    """torchvision's alexnet; `weights`: a torchvision `.pth` or `.npz` state dict."""
    model = AlexNet(num_classes, dropout, in_channels)
    return with_weights(model, weights, None if num_classes == 1000 else model.HEAD)


# torchvision's configurations: channels of each 3x3 conv, "M" a 2x2 max pool
VGG_CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}  # fmt: skip


def vgg_features(config, batch_norm: bool = False, in_channels: int = 3) -> Sequential:
    """torchvision's `make_layers`: conv3x3 (+ BN) + ReLU per number, MaxPool2d(2, 2) per "M"."""
    layers, c = [], in_channels
    for v in config:
        if v == "M":
            layers.append(MaxPool2d(2, 2))
            continue
        layers.append(Conv2d(c, v, 3, padding=1))
        if batch_norm:
            layers.append(BatchNorm2d(v))
        layers.append(ReLU())
        c = v
    return Sequential(*layers)


class VGG(Module):
    """torchvision's VGG.

    Args:
        features (Sequential): the conv stages (see `vgg_features`).
        num_classes (int): Default: 1000.
        init_weights (bool): torchvision's init: convs kaiming_normal_(fan_out, relu) with zero
            bias, BN weight 1 and bias 0, Linear N(0, 0.01) with zero bias. Default: True.
        dropout (float): of the classifier's two dropouts. Default: 0.5.

    Shape: (N, 3, H, W) -> (N, num_classes), H, W >= 32.
    """

    HEAD = "classifier.6."

    def __init__(self, features: Sequential, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5):  # fmt: skip
        super().__init__()
        self.features = features
        self.avgpool = AdaptiveAvgPool2d((7, 7))
        self.classifier = Sequential(
            Linear(512 * 7 * 7, 4096), ReLU(), Dropout(dropout),
            Linear(4096, 4096), ReLU(), Dropout(dropout),
            Linear(4096, num_classes),
        )  # fmt: skip
        if init_weights:
            for m in self.modules():
                if isinstance(m, Conv2d):
                    init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    init.zeros_(m.bias)
                elif isinstance(m, BatchNorm2d):
                    init.ones_(m.weight)
                    init.zeros_(m.bias)
                elif isinstance(m, Linear):
                    init.normal_(m.weight, 0, 0.01)
                    init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(flatten(self.avgpool(self.features(x)), 1))


def _vgg_variant(depth: int, batch_norm: bool):
    name = f"vgg{depth}" + ("_bn" if batch_norm else "")

    def build(num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
              init_weights: bool = True, weights=None) -> VGG:  # fmt: skip
        features = vgg_features(VGG_CONFIGS[depth], batch_norm, in_channels)
        model = VGG(features, num_classes, init_weights, dropout)
        return with_weights(model, weights, None if num_classes == 1000 else model.HEAD)

    kind = f"VGG-{depth}" + (" with batch norm" if batch_norm else "")
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: {kind}. `weights`: a torchvision `.pth` or `.npz` state dict "
        "(with num_classes != 1000 the file's last Linear is skipped)."
    )
    register(
        name.replace("_", "-"),
        f"{kind} (torchvision architecture and state_dict keys), ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


vgg11 = _vgg_variant(11, False)
vgg11_bn = _vgg_variant(11, True)
vgg13 = _vgg_variant(13, False)
vgg13_bn = _vgg_variant(13, True)
vgg16 = _vgg_variant(16, False)
vgg16_bn = _vgg_variant(16, True)
vgg19 = _vgg_variant(19, False)
vgg19_bn = _vgg_variant(19, True)
