"""The six benchmark networks written out by hand in PyTorch, as the test oracle of the benchmark.

Each class mirrors its minitorch_cv twin in `minitorch_cv/models/` attribute for attribute
(`features.0`, `encoder.2.1.0`, `type_decoder.blocks.3.1.0`, ...), so that

    ours = minitorch_cv.models.get("e2")
    theirs = torch_models.build("e2")
    copy_weights(ours, theirs)            # load_state_dict(strict=True) after np -> torch

gives two networks that compute the same function. Nothing here imports minitorch_cv except
`copy_weights`, which only reads `state_dict()` arrays.

    name               SEED_MODELS.md   input        classes
    three-layer        F default        3 x 32 x 32  10
    e2                 E2               3 x 32 x 32  10
    e1                 E1               3 x 32 x 32  10
    unit-block-mnist   A (MNIST)        1 x 28 x 28  10
    two-decoder        B                3 x 32 x 32  20 per pixel
    fcn-baseline       D baseline       3 x 224 x 224 21 per pixel
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def conv_bn_relu(cin: int, cout: int, kernel_size: int = 3, padding: int = 1) -> nn.Sequential:
    """conv(k, p) + BatchNorm2d + ReLU (minitorch_cv.models._blocks.conv_bn_relu)."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel_size, padding=padding), nn.BatchNorm2d(cout), nn.ReLU()
    )


# --------------------------------------------------------------------------- F, E1, E2


def mlp_head(features: int, hidden: int, num_classes: int) -> nn.Sequential:
    """Flatten, Linear + ReLU, Linear: the classifier of F, E1 and E2."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
    )


class ThreeLayerCNN(nn.Module):
    """F: conv5 24 + ReLU + pool, conv3 48 + ReLU + pool, conv3 96 + pool, 384-512-10, with
    every ablation of the report as the same options as ours (filters, kernel_sizes, extra_fc,
    activation, dropout, batch_norm), laid out module for module as ours."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, filters=(24, 48, 96),
                 kernel_sizes=(5, 3, 3), hidden: int = 512, extra_fc: int | None = None,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 image_size: int = 32):  # fmt: skip
        super().__init__()

        def act():
            return nn.LeakyReLU(0.01) if activation == "leaky_relu" else nn.ReLU()

        layers, cin, side = [], in_channels, image_size
        for i, (c, k) in enumerate(zip(filters, kernel_sizes)):
            layers.append(nn.Conv2d(cin, c, k))
            if i < 2:
                layers.append(act())
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c))
            layers.append(nn.MaxPool2d(2))
            cin, side = c, (side - k + 1) // 2
        self.features = nn.Sequential(*layers)
        widths = [cin * side * side, hidden] + ([extra_fc] if extra_fc else [])
        head = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            head += [nn.Linear(a, b), act()]
            if batch_norm:
                head.append(nn.BatchNorm1d(b))
            if dropout > 0:
                head.append(nn.Dropout(dropout))
        head.append(nn.Linear(widths[-1], num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))


class SmallCNN(nn.Module):
    """E1: 3 x [conv5 p2 + ReLU + pool2] 32-64-128, Linear(2048, 64) + ReLU, Linear(64, 10)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, channels=(32, 64, 128),
                 hidden: int = 64, image_size: int = 32):  # fmt: skip
        super().__init__()
        layers, cin, side = [], in_channels, image_size
        for c in channels:
            layers += [nn.Conv2d(cin, c, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2)]
            cin, side = c, side // 2
        self.features = nn.Sequential(*layers)
        self.classifier = mlp_head(cin * side * side, hidden, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class ImprovedCNN(nn.Module):
    """E2: conv5 32, conv5 64, pool, BN, conv5 64, pool, BN, Linear(4096, 128) + ReLU, Linear."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, image_size: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(2), nn.BatchNorm2d(64),
            nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(),
            nn.MaxPool2d(2), nn.BatchNorm2d(64),
        )  # fmt: skip
        side = image_size // 4
        self.classifier = mlp_head(64 * side * side, 128, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


# --------------------------------------------------------------------------- A


class UnitBlock(nn.Module):
    """conv (c -> 3c) + BN + ReLU, [conv + BN + ReLU] x 2 added to its input, conv, pool2."""

    def __init__(self, in_channels: int):
        super().__init__()
        c3 = 3 * in_channels
        self.expand = conv_bn_relu(in_channels, c3)
        self.residual = nn.Sequential(conv_bn_relu(c3, c3), conv_bn_relu(c3, c3))
        self.merge = conv_bn_relu(c3, c3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        x = self.expand(x)
        x = x + self.residual(x)
        return self.pool(self.merge(x))


class UnitBlockNet(nn.Module):
    """A: unit blocks, then Linear + BN1d + ReLU layers halving the width, then Linear."""

    def __init__(self, blocks: int = 1, in_channels: int = 1, num_classes: int = 10,
                 image_size: int = 28):  # fmt: skip
        super().__init__()
        side = image_size // 2**blocks
        self.features = nn.Sequential(*[UnitBlock(in_channels * 3**i) for i in range(blocks)])
        widths = [in_channels * 3**blocks * side * side]
        while widths[-1] // 2 > num_classes:
            widths.append(widths[-1] // 2)
        layers = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        layers.append(nn.Linear(widths[-1], num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x):
        return self.classifier(self.features(x))


# --------------------------------------------------------------------------- B


class EncoderBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(conv_bn_relu(cin, cout), conv_bn_relu(cout, cout), nn.MaxPool2d(2))


class DecoderBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            conv_bn_relu(cin, cout),
            nn.Sequential(nn.ConvTranspose2d(cout, cout, 2, stride=2), nn.BatchNorm2d(cout),
                          nn.ReLU()),
            conv_bn_relu(cout, cout),
        )  # fmt: skip


class Decoder(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.blocks = nn.ModuleList(DecoderBlock(a, b) for a, b in zip(channels[:-1], channels[1:]))

    def forward(self, deepest, skips):
        x = self.blocks[0](deepest)
        for block, skip in zip(list(self.blocks)[1:], skips):
            x = block(x + skip)
        return x


class TwoDecoderSegNet(nn.Module):
    """B: encoder 3-32-64-128-256, 'type' (2) and 'class' (10) decoders, 20 output maps."""

    def __init__(self, in_channels: int = 3, num_digit_classes: int = 10, num_types: int = 2,
                 widths=(32, 64, 128, 256)):  # fmt: skip
        super().__init__()
        widths = tuple(widths)
        self.encoder = nn.ModuleList(
            EncoderBlock(a, b) for a, b in zip((in_channels, *widths), widths)
        )
        up = widths[::-1]
        self.type_decoder = Decoder((*up, num_types))
        self.class_decoder = Decoder((*up, num_digit_classes))

    def forward(self, x):
        feats = []
        for block in self.encoder:
            x = block(x)
            feats.append(x)
        skips = feats[-2::-1]
        kind = self.type_decoder(feats[-1], skips)
        cls = self.class_decoder(feats[-1], skips)
        return torch.cat([kind[:, t : t + 1] * cls for t in range(kind.shape[1])], dim=1)


# --------------------------------------------------------------------------- D


class FCNBaseline(nn.Module):
    """D: 5 x [conv k3 s2 p1, ReLU, BN] down, 5 x [convT k3 s2 p1 op1, ReLU, BN] up, conv1x1."""

    def __init__(self, in_channels: int = 3, num_classes: int = 21,
                 channels=(32, 64, 128, 256, 512)):  # fmt: skip
        super().__init__()
        channels = tuple(channels)
        down = []
        for a, b in zip((in_channels, *channels), channels):
            down += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.ReLU(), nn.BatchNorm2d(b)]
        self.encoder = nn.Sequential(*down)
        ups = (channels[-1], *channels[::-1])
        up = []
        for a, b in zip(ups[:-1], ups[1:]):
            up += [nn.ConvTranspose2d(a, b, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                   nn.BatchNorm2d(b)]  # fmt: skip
        self.decoder = nn.Sequential(*up)
        self.classifier = nn.Conv2d(channels[0], num_classes, 1)
        # The weights come from minitorch_cv (copy_weights), so no Xavier init is needed here.

    def forward(self, x):
        return self.classifier(self.decoder(self.encoder(x)))


BUILDERS = {
    "three-layer": ThreeLayerCNN,
    "e2": ImprovedCNN,
    "e1": SmallCNN,
    "unit-block-mnist": lambda: UnitBlockNet(blocks=1, in_channels=1, image_size=28),
    "unit-block-cifar10": lambda: UnitBlockNet(blocks=4, in_channels=3, image_size=32),
    "two-decoder": TwoDecoderSegNet,
    "fcn-baseline": FCNBaseline,
}


def build(name: str, **options) -> nn.Module:
    """The PyTorch twin of `minitorch_cv.models.get(name, **options)` (options: those its
    class takes; F's twin takes all of F's ablations)."""
    if name not in BUILDERS:
        raise ValueError(f"torch_models: no PyTorch twin for {name!r}; known: {sorted(BUILDERS)}")
    return BUILDERS[name](**options)


def state_dict_as_torch(model) -> dict:
    """A minitorch_cv model's state_dict as CPU torch tensors (copies, so later steps of either
    network do not leak into the other)."""
    out = {}
    for key, value in model.state_dict().items():
        arr = np.array(value)  # a host copy (Tensor.__array__ brings CuPy arrays over)
        out[key] = torch.from_numpy(arr)
    return out


def copy_weights(ours, theirs: nn.Module) -> nn.Module:
    """Load `ours`'s parameters and buffers into the torch twin with strict=True (every key must
    match in name and shape). Returns `theirs`."""
    theirs.load_state_dict(state_dict_as_torch(ours), strict=True)
    return theirs
