"""The torchvision ShuffleNet V2s (Ma et al., 2018) with torchvision's module names and
state_dict keys (torchvision's `torchvision.models.shufflenetv2`).

Each unit splits or copies its input into two branches, concatenates their outputs and
shuffles the channels so that the next unit's split mixes both halves:

    stride 1: x1, x2 = split(x);  cat[x1, branch2(x2)]                then channel_shuffle(., 2)
    stride 2: cat[branch1(x), branch2(x)]                              (halves H and W)
    branch1: depthwise 3x3 (stride) + BN, 1x1 + BN + ReLU
    branch2: 1x1 + BN + ReLU, depthwise 3x3 (stride) + BN, 1x1 + BN + ReLU

    conv1 3x3 s2 + BN + ReLU, maxpool 3x3 s2 p1, stage2 / stage3 / stage4 (4, 8, 4 units, the
    first of each stride 2), conv5 1x1 + BN + ReLU, global mean, fc

    x0_5: channels (24, 48, 96, 192, 1024)      1,366,792 parameters
    x1_0: channels (24, 116, 232, 464, 1024)    2,278,604
    x1_5: channels (24, 176, 352, 704, 1024)    3,503,624
    x2_0: channels (24, 244, 488, 976, 2048)    7,393,996

Its unit is called InvertedResidual in torchvision, as MobileNetV2's is: this one is
`minitorch_cv.models.shufflenet.InvertedResidual` (`models.InvertedResidual` is MobileNetV2's).
"""

from __future__ import annotations

from ..functional import cat, channel_shuffle
from ..layers import BatchNorm2d, Linear, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import MaxPool2d
from ._input_size import check_input
from ._registry import register
from .weights import with_weights


class InvertedResidual(Module):
    """torchvision's ShuffleNet V2 unit.

    Args:
        inp (int), oup (int): input and output channels (oup even; each branch gives oup / 2).
        stride (int): 1 (split, keep the size; needs inp == oup), 2 or 3 (both branches
            see the whole input and stride).

    Shape: (N, inp, H, W) -> (N, oup, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, inp: int, oup: int, stride: int):
        super().__init__()
        if not 1 <= stride <= 3:
            raise ValueError(f"InvertedResidual: illegal stride value {stride} (1, 2 or 3)")
        self.stride = stride
        branch_features = oup // 2
        if stride == 1 and inp != branch_features << 1:
            raise ValueError(
                f"InvertedResidual: invalid combination of stride {stride}, inp {inp} and oup "
                f"{oup} values; with stride 1, inp must equal oup // 2 << 1"
            )
        if stride > 1:
            self.branch1 = Sequential(
                self.depthwise_conv(inp, inp, kernel_size=3, stride=stride, padding=1),
                BatchNorm2d(inp),
                Conv2d(inp, branch_features, kernel_size=1, stride=1, padding=0, bias=False),
                BatchNorm2d(branch_features),
                ReLU(inplace=True),
            )
        else:
            self.branch1 = Sequential()
        self.branch2 = Sequential(
            Conv2d(inp if stride > 1 else branch_features, branch_features, kernel_size=1,
                   stride=1, padding=0, bias=False),
            BatchNorm2d(branch_features),
            ReLU(inplace=True),
            self.depthwise_conv(branch_features, branch_features, kernel_size=3, stride=stride,
                                padding=1),
            BatchNorm2d(branch_features),
            Conv2d(branch_features, branch_features, kernel_size=1, stride=1, padding=0,
                   bias=False),
            BatchNorm2d(branch_features),
            ReLU(inplace=True),
        )  # fmt: skip

    @staticmethod
    def depthwise_conv(i: int, o: int, kernel_size: int, stride: int = 1, padding: int = 0,
                       bias: bool = False) -> Conv2d:  # fmt: skip
        """A conv with one group per input channel."""
        return Conv2d(i, o, kernel_size, stride, padding, bias=bias, groups=i)

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = cat((x1, self.branch2(x2)), 1)
        else:
            out = cat((self.branch1(x), self.branch2(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(Module):
    """torchvision's ShuffleNetV2.

    Args:
        stages_repeats (3 ints): units in stage2, stage3, stage4.
        stages_out_channels (5 ints): channels of conv1, the three stages and conv5.
        num_classes (int): Default: 1000.
        inverted_residual: the unit's class. Default: InvertedResidual.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init: PyTorch's layer defaults (as torchvision).

    Shape: (N, 3, H, W) -> (N, num_classes), any H, W >= 1 (every stride pads).
    """

    def __init__(self, stages_repeats, stages_out_channels, num_classes: int = 1000,
                 inverted_residual=InvertedResidual, in_channels: int = 3):  # fmt: skip
        super().__init__()
        if len(stages_repeats) != 3:
            raise ValueError(
                f"ShuffleNetV2: expected stages_repeats as list of 3 positive ints, got "
                f"{stages_repeats!r}"
            )
        if len(stages_out_channels) != 5:
            raise ValueError(
                f"ShuffleNetV2: expected stages_out_channels as list of 5 positive ints, got "
                f"{stages_out_channels!r}"
            )
        self._stage_out_channels = list(stages_out_channels)
        self.in_channels = in_channels
        output_channels = self._stage_out_channels[0]
        self.conv1 = Sequential(
            Conv2d(in_channels, output_channels, 3, 2, 1, bias=False),
            BatchNorm2d(output_channels),
            ReLU(inplace=True),
        )
        input_channels = output_channels
        self.maxpool = MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._shrinking_layers = ["conv1.0", "maxpool"]
        stages = zip((2, 3, 4), stages_repeats, self._stage_out_channels[1:])
        for i, repeats, output_channels in stages:
            seq = [inverted_residual(input_channels, output_channels, 2)]
            seq += [inverted_residual(output_channels, output_channels, 1)
                    for _ in range(repeats - 1)]  # fmt: skip
            setattr(self, f"stage{i}", Sequential(*seq))
            if isinstance(seq[0], InvertedResidual):  # its strided depthwise conv
                self._shrinking_layers.append(f"stage{i}.0.branch2.3")
            input_channels = output_channels
        output_channels = self._stage_out_channels[-1]
        self.conv5 = Sequential(
            Conv2d(input_channels, output_channels, 1, 1, 0, bias=False),
            BatchNorm2d(output_channels),
            ReLU(inplace=True),
        )
        self.fc = Linear(output_channels, num_classes)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean([2, 3]))  # global average pool


def _variant(width: str, stages_out_channels, count: int):
    name = f"shufflenet_v2_{width}"

    def build(num_classes: int = 1000, in_channels: int = 3, weights=None) -> ShuffleNetV2:
        model = ShuffleNetV2((4, 8, 4), stages_out_channels, num_classes,
                             in_channels=in_channels)  # fmt: skip
        return with_weights(model, weights, None if num_classes == 1000 else "fc.")

    multiplier = width[1:].replace("_", ".")
    build.__name__ = build.__qualname__ = name
    build.__doc__ = (
        f"torchvision's {name}: ShuffleNet V2 with {multiplier}x output channels "
        f"{tuple(stages_out_channels)} ({count:,} parameters). `weights`: a torchvision `.pth` "
        "or an `.npz` state dict (with num_classes != 1000 the file's fc is skipped)."
    )
    register(
        name.replace("_", "-"),
        f"ShuffleNet V2 {multiplier}x (torchvision architecture and state_dict keys), "
        "ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


shufflenet_v2_x0_5 = _variant("x0_5", (24, 48, 96, 192, 1024), 1_366_792)
shufflenet_v2_x1_0 = _variant("x1_0", (24, 116, 232, 464, 1024), 2_278_604)
shufflenet_v2_x1_5 = _variant("x1_5", (24, 176, 352, 704, 1024), 3_503_624)
shufflenet_v2_x2_0 = _variant("x2_0", (24, 244, 488, 976, 2048), 7_393_996)
