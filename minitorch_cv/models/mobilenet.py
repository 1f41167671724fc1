"""MobileNetV2 (Sandler et al., 2018) as torchvision builds it, with torchvision's state_dict
names: a stack of inverted residual blocks, each a 1x1 expansion, a 3x3 depthwise conv (one
filter per channel: groups = channels) and a linear 1x1 projection, ReLU6 in between.

A depthwise-separable pair costs C*9 + C*C' weights where a full 3x3 conv costs C*C'*9: that is
where the network's 3.5M parameters (against ResNet-50's 25.6M) come from.
"""

from __future__ import annotations

from .. import init
from ..functional import adaptive_avg_pool2d, flatten
from ..layers import BatchNorm2d, Dropout, Linear, Module, ReLU6, Sequential
from ..layers.conv import Conv2d
from ._registry import register
from .weights import with_weights


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's channel rounding: the nearest multiple of `divisor` (at least `min_value`),
    one step up if rounding lost more than 10 %."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(cin: int, cout: int, kernel_size: int = 3, stride: int = 1,
                  groups: int = 1) -> Sequential:  # fmt: skip
    """torchvision's Conv2dNormActivation with ReLU6: conv (no bias, 'same'-style padding),
    BatchNorm, ReLU6 (keys .0, .1)."""
    return Sequential(
        Conv2d(cin, cout, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False),
        BatchNorm2d(cout),
        ReLU6(),
    )


class InvertedResidual(Module):
    """torchvision's InvertedResidual: [1x1 expand to t * inp + BN + ReLU6] (if t != 1),
    3x3 depthwise (stride) + BN + ReLU6, 1x1 project to oup + BN (no activation: a linear
    bottleneck), plus the input when stride is 1 and inp == oup.

    Shape: (N, inp, H, W) -> (N, oup, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: float):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual: stride should be 1 or 2, got {stride}")
        hidden = int(round(inp * expand_ratio))
        self.stride = stride
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_relu6(inp, hidden, 1)] if expand_ratio != 1 else []
        layers += [
            conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden),
            Conv2d(hidden, oup, 1, bias=False),
            BatchNorm2d(oup),
        ]
        self.conv = Sequential(*layers)
        self.out_channels = oup

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


# (expansion t, output channels c, repeats n, first stride s), the paper's Table 2
MOBILENET_V2_SETTING = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
    (6, 320, 1, 1),
)  # fmt: skip


class MobileNetV2(Module):
    """torchvision's MobileNetV2.

    Args:
        num_classes (int): Default: 1000.
        width_mult (float): scales every layer's channels (rounded by make_divisible).
            Default: 1.0.
        round_nearest (int): channel multiple. Default: 8.
        dropout (float): before the classifier. Default: 0.2.
        in_channels (int): Default: 3.

    Init as torchvision: convs kaiming_normal_(fan_out) with zero bias, BN 1 / 0,
    Linear N(0, 0.01) with zero bias.

    Shape: (N, 3, H, W) -> (N, num_classes); output stride 32.
    """

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, round_nearest: int = 8,
                 dropout: float = 0.2, in_channels: int = 3):  # fmt: skip
        super().__init__()
        channels = make_divisible(32 * width_mult, round_nearest)
        self.last_channel = make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [conv_bn_relu6(in_channels, channels, 3, 2)]
        for t, c, n, s in MOBILENET_V2_SETTING:
            out = make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
        features.append(conv_bn_relu6(channels, self.last_channel, 1))
        self.features = Sequential(*features)
        self.classifier = Sequential(Dropout(dropout), Linear(self.last_channel, num_classes))
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, Linear):
                init.normal_(m.weight, 0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        x = adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(flatten(x, 1))


@register(
    "mobilenet-v2",
    "MobileNetV2 (torchvision architecture and state_dict keys), ImageNet head by default",
    input_size=(3, 224, 224),
    num_classes=1000,
)
def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, dropout: float = 0.2,
                 in_channels: int = 3, weights=None) -> MobileNetV2:  # fmt: skip
    """torchvision's mobilenet_v2; `weights`: a torchvision `.pth` or `.npz` state dict (with
    num_classes != 1000 the file's classifier is skipped)."""
    model = MobileNetV2(num_classes, width_mult, dropout=dropout, in_channels=in_channels)
    return with_weights(model, weights, None if num_classes == 1000 else "classifier.1.")
