"""EfficientNet B0-B7 (Tan & Le, 2019) and EfficientNetV2 S/M/L (Tan & Le, 2021) as torchvision
builds them, with torchvision's module names and state_dict keys
(torchvision's `torchvision.models.efficientnet`).

    features.0        3x3 conv s2 + BN + SiLU
    features.1 .. k   one Sequential per stage config, its blocks numbered from 0; the first
                      block of a stage has the stride and the stage's input width
    features.k+1      1x1 conv + BN + SiLU to last_channel (4 x the last width for B0-B7, 1280
                      for V2)
    avgpool, flatten, classifier: Dropout, Linear

    MBConv:       block.0 1x1 expand + BN + SiLU (when the expanded width differs),
                  block.* kxk depthwise (stride) + BN + SiLU,
                  block.* SqueezeExcitation (SiLU, sigmoid gate; squeeze = max(1, input / 4)),
                  block.-1 1x1 project + BN
    FusedMBConv:  block.0 kxk conv (stride) + BN + SiLU to the expanded width,
                  block.1 1x1 project + BN; or, with expand ratio 1, one kxk conv + BN + SiLU
    Both add the input, through StochasticDepth(p, 'row'), when stride 1 and in == out. Block i
    of n (counted over the whole network from 0) drops with p = stochastic_depth_prob * i / n.

    B0-B7 scale Table 1's widths by width_mult (rounded to multiples of 8) and its depths by
    depth_mult (rounded up); B5-B7 use BatchNorm eps 0.001 / momentum 0.01, V2 eps 0.001:

          width  depth  dropout  size  parameters         width  depth  dropout  size  parameters
    b0    1.0    1.0    0.2      224    5,288,548    b4    1.4    1.8    0.4      380   19,341,616
    b1    1.0    1.1    0.2      240    7,794,184    b5    1.6    2.2    0.4      456   30,389,784
    b2    1.1    1.2    0.3      288    9,109,994    b6    1.8    2.6    0.5      528   43,040,704
    b3    1.2    1.4    0.3      300   12,233,232    b7    2.0    3.1    0.5      600   66,347,960
    v2_s  dropout 0.2, size 384, 21,458,488    v2_m  0.3, 480, 54,139,356
    v2_l  dropout 0.4, size 480, 118,515,272   (size: torchvision's evaluation crop)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from .. import init
from ..functional import flatten
from ..layers import BatchNorm2d, Dropout, GroupNorm, Linear, Module, Sequential, SiLU
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d
from ..ops.misc import Conv2dNormActivation, SqueezeExcitation
from ..ops.stochastic_depth import StochasticDepth
from ._input_size import check_input
from ._registry import register
from .mobilenet import make_divisible
from .weights import with_weights


@dataclass
class _MBConvConfig:
    """A stage: its blocks' expand ratio, kernel, first stride, widths, count and block class."""

    expand_ratio: float
    kernel: int
    stride: int
    input_channels: int
    out_channels: int
    num_layers: int
    block: Callable

    @staticmethod
    def adjust_channels(channels: int, width_mult: float, min_value: int | None = None) -> int:
        return make_divisible(channels * width_mult, 8, min_value)


class MBConvConfig(_MBConvConfig):
    """A stage of MBConv blocks (Table 1 of EfficientNet, Table 4 of EfficientNetV2), its widths
    scaled by width_mult and its depth by depth_mult (rounded up). block: Default: MBConv."""

    def __init__(
        self,
        expand_ratio: float,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        num_layers: int,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        block: Callable | None = None,
    ):
        input_channels = self.adjust_channels(input_channels, width_mult)
        out_channels = self.adjust_channels(out_channels, width_mult)
        num_layers = self.adjust_depth(num_layers, depth_mult)
        super().__init__(
            expand_ratio,
            kernel,
            stride,
            input_channels,
            out_channels,
            num_layers,
            MBConv if block is None else block,
        )

    @staticmethod
    def adjust_depth(num_layers: int, depth_mult: float) -> int:
        return int(math.ceil(num_layers * depth_mult))


class FusedMBConvConfig(_MBConvConfig):
    """A stage of FusedMBConv blocks (Table 4 of EfficientNetV2). block: Default: FusedMBConv."""

    def __init__(
        self,
        expand_ratio: float,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        num_layers: int,
        block: Callable | None = None,
    ):
        super().__init__(
            expand_ratio,
            kernel,
            stride,
            input_channels,
            out_channels,
            num_layers,
            FusedMBConv if block is None else block,
        )


def _use_res_connect(who: str, cnf: _MBConvConfig) -> bool:
    """Check the stride; True when the block keeps the shape (stride 1 and in == out)."""
    if not 1 <= cnf.stride <= 2:
        raise ValueError(f"{who}: illegal stride value {cnf.stride} (1 or 2)")
    return cnf.stride == 1 and cnf.input_channels == cnf.out_channels


class _Residual(Module):
    """The shared forward of MBConv and FusedMBConv: the block, plus the input through
    stochastic depth when the shapes agree."""

    def forward(self, input):
        result = self.block(input)
        if self.use_res_connect:
            result = self.stochastic_depth(result) + input
        return result


class MBConv(_Residual):
    """torchvision's MBConv (mobile inverted bottleneck with squeeze-and-excitation); see the
    module docstring.

    Args:
        cnf (MBConvConfig): the block's expand ratio, kernel, stride and widths.
        stochastic_depth_prob (float): drop probability of the residual branch.
        norm_layer (callable): built with a channel count.
        se_layer (callable): Default: SqueezeExcitation.

    Shape: (N, input_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, cnf: _MBConvConfig, stochastic_depth_prob: float, norm_layer,
                 se_layer=SqueezeExcitation):  # fmt: skip
        super().__init__()
        self.use_res_connect = _use_res_connect("MBConv", cnf)
        cna = partial(Conv2dNormActivation, norm_layer=norm_layer, activation_layer=SiLU)
        exp = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        layers = [cna(cnf.input_channels, exp, kernel_size=1)] if exp != cnf.input_channels else []
        layers += [
            cna(exp, exp, cnf.kernel, cnf.stride, groups=exp),  # depthwise
            se_layer(exp, max(1, cnf.input_channels // 4), activation=partial(SiLU, inplace=True)),
            cna(exp, cnf.out_channels, kernel_size=1, activation_layer=None),  # project
        ]
        self.block = Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels


class FusedMBConv(_Residual):
    """torchvision's FusedMBConv (EfficientNetV2's early stages: the expansion and the
    depthwise conv fused into one full kxk conv); see the module docstring.

    Args:
        cnf (FusedMBConvConfig), stochastic_depth_prob (float), norm_layer (callable): as MBConv.

    Shape: (N, input_channels, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)).
    """

    def __init__(self, cnf: _MBConvConfig, stochastic_depth_prob: float, norm_layer):
        super().__init__()
        self.use_res_connect = _use_res_connect("FusedMBConv", cnf)
        cna = partial(Conv2dNormActivation, norm_layer=norm_layer, activation_layer=SiLU)
        exp = cnf.adjust_channels(cnf.input_channels, cnf.expand_ratio)
        if exp != cnf.input_channels:  # fused expansion (kxk, stride), then a 1x1 projection
            layers = [cna(cnf.input_channels, exp, cnf.kernel, cnf.stride),
                      cna(exp, cnf.out_channels, kernel_size=1, activation_layer=None)]  # fmt: skip
        else:
            layers = [cna(cnf.input_channels, cnf.out_channels, cnf.kernel, cnf.stride)]
        self.block = Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob, "row")
        self.out_channels = cnf.out_channels


class EfficientNet(Module):
    """torchvision's EfficientNet (V1 and V2).

    Args:
        inverted_residual_setting (list of MBConvConfig / FusedMBConvConfig): the stages.
        dropout (float): before the classifier's Linear.
        stochastic_depth_prob (float): the largest drop probability (the last block's is
            stochastic_depth_prob * (n - 1) / n). Default: 0.2.
        num_classes (int): Default: 1000.
        norm_layer (callable or None): Default: BatchNorm2d.
        last_channel (int or None): width of the last 1x1 conv; None gives 4 x the last
            stage's width. Default: None.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init as torchvision: convs kaiming_normal_(fan_out) with zero bias, BN 1 / 0, Linear
    U(-1/sqrt(out_features), 1/sqrt(out_features)) with zero bias.

    Shape: (N, in_channels, H, W) -> (N, num_classes), any H, W >= 1 (every conv pads).
    """

    # the stem conv, listed so that a replaced one (a 1-channel conv for grey images) sets the
    # channels expected; it and every later conv pad, so no input is too small
    _shrinking_layers = ("features.0.0",)

    def __init__(
        self,
        inverted_residual_setting,
        dropout: float,
        stochastic_depth_prob: float = 0.2,
        num_classes: int = 1000,
        norm_layer=None,
        last_channel: int | None = None,
        *,
        in_channels: int = 3,
    ):
        super().__init__()
        setting = inverted_residual_setting
        if not setting:
            raise ValueError("EfficientNet: the inverted_residual_setting should not be empty")
        if not isinstance(setting, Sequence) or not all(
            isinstance(s, _MBConvConfig) for s in setting
        ):
            raise TypeError(
                "EfficientNet: the inverted_residual_setting should be List[MBConvConfig]"
            )
        norm_layer = BatchNorm2d if norm_layer is None else norm_layer
        self.in_channels = in_channels
        layers = [
            Conv2dNormActivation(
                in_channels,
                setting[0].input_channels,
                kernel_size=3,
                stride=2,
                norm_layer=norm_layer,
                activation_layer=SiLU,
            )
        ]
        total, block_id = sum(cnf.num_layers for cnf in setting), 0
        for cnf in setting:
            stage = []
            for i in range(cnf.num_layers):
                block_cnf = copy.copy(cnf)
                if i > 0:  # later blocks of a stage: the stage's width in, stride 1
                    block_cnf.input_channels, block_cnf.stride = cnf.out_channels, 1
                sd_prob = stochastic_depth_prob * float(block_id) / total
                stage.append(block_cnf.block(block_cnf, sd_prob, norm_layer))
                block_id += 1
            layers.append(Sequential(*stage))
        last_in = setting[-1].out_channels
        last_out = 4 * last_in if last_channel is None else last_channel
        layers.append(
            Conv2dNormActivation(
                last_in, last_out, kernel_size=1, norm_layer=norm_layer, activation_layer=SiLU
            )
        )
        self.features = Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.classifier = Sequential(
            Dropout(p=dropout, inplace=True), Linear(last_out, num_classes)
        )
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    init.zeros_(m.bias)
            elif isinstance(m, (BatchNorm2d, GroupNorm)):
                init.ones_(m.weight)
                init.zeros_(m.bias)
            elif isinstance(m, Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                init.uniform_(m.weight, -bound, bound)
                init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        x = self.avgpool(self.features(x))
        return self.classifier(flatten(x, 1))


def _efficientnet_conf(arch: str, width_mult: float = 1.0, depth_mult: float = 1.0):
    """(inverted_residual_setting, last_channel) of torchvision's architectures: 'efficientnet_b*'
    scales Table 1 of the EfficientNet paper by width_mult and depth_mult; 'efficientnet_v2_s',
    '_m', '_l' are Table 4 of EfficientNetV2 (and torchvision's M and L)."""
    if arch.startswith("efficientnet_b"):
        mb = partial(MBConvConfig, width_mult=width_mult, depth_mult=depth_mult)
        # expand ratio, kernel, stride, input, out, layers
        setting = [
            mb(1, 3, 1, 32, 16, 1),
            mb(6, 3, 2, 16, 24, 2),
            mb(6, 5, 2, 24, 40, 2),
            mb(6, 3, 2, 40, 80, 3),
            mb(6, 5, 1, 80, 112, 3),
            mb(6, 5, 2, 112, 192, 4),
            mb(6, 3, 1, 192, 320, 1),
        ]
        return setting, None
    fused, mb = FusedMBConvConfig, MBConvConfig
    if arch == "efficientnet_v2_s":
        setting = [
            fused(1, 3, 1, 24, 24, 2),
            fused(4, 3, 2, 24, 48, 4),
            fused(4, 3, 2, 48, 64, 4),
            mb(4, 3, 2, 64, 128, 6),
            mb(6, 3, 1, 128, 160, 9),
            mb(6, 3, 2, 160, 256, 15),
        ]
    elif arch == "efficientnet_v2_m":
        setting = [
            fused(1, 3, 1, 24, 24, 3),
            fused(4, 3, 2, 24, 48, 5),
            fused(4, 3, 2, 48, 80, 5),
            mb(4, 3, 2, 80, 160, 7),
            mb(6, 3, 1, 160, 176, 14),
            mb(6, 3, 2, 176, 304, 18),
            mb(6, 3, 1, 304, 512, 5),
        ]
    elif arch == "efficientnet_v2_l":
        setting = [
            fused(1, 3, 1, 32, 32, 4),
            fused(4, 3, 2, 32, 64, 7),
            fused(4, 3, 2, 64, 96, 7),
            mb(4, 3, 2, 96, 192, 10),
            mb(6, 3, 1, 192, 224, 19),
            mb(6, 3, 2, 224, 384, 25),
            mb(6, 3, 1, 384, 640, 7),
        ]
    else:
        raise ValueError(f"_efficientnet_conf: unsupported model type {arch!r}")
    return setting, 1280


_BN_B5 = partial(BatchNorm2d, eps=0.001, momentum=0.01)  # B5-B7 (ported from TF)
_BN_V2 = partial(BatchNorm2d, eps=1e-3)

# name: (width_mult, depth_mult, dropout, norm_layer, evaluation crop, torchvision's num_params)
_VARIANTS = {
    "efficientnet_b0": (1.0, 1.0, 0.2, None, 224, 5_288_548),
    "efficientnet_b1": (1.0, 1.1, 0.2, None, 240, 7_794_184),
    "efficientnet_b2": (1.1, 1.2, 0.3, None, 288, 9_109_994),
    "efficientnet_b3": (1.2, 1.4, 0.3, None, 300, 12_233_232),
    "efficientnet_b4": (1.4, 1.8, 0.4, None, 380, 19_341_616),
    "efficientnet_b5": (1.6, 2.2, 0.4, _BN_B5, 456, 30_389_784),
    "efficientnet_b6": (1.8, 2.6, 0.5, _BN_B5, 528, 43_040_704),
    "efficientnet_b7": (2.0, 3.1, 0.5, _BN_B5, 600, 66_347_960),
    "efficientnet_v2_s": (1.0, 1.0, 0.2, _BN_V2, 384, 21_458_488),
    "efficientnet_v2_m": (1.0, 1.0, 0.3, _BN_V2, 480, 54_139_356),
    "efficientnet_v2_l": (1.0, 1.0, 0.4, _BN_V2, 480, 118_515_272),
}


def _variant(arch: str):
    width, depth, default_dropout, norm_layer, crop, count = _VARIANTS[arch]

    def build(
        num_classes: int = 1000,
        dropout: float = default_dropout,
        stochastic_depth_prob: float = 0.2,
        in_channels: int = 3,
        weights=None,
    ) -> EfficientNet:
        setting, last_channel = _efficientnet_conf(arch, width, depth)
        model = EfficientNet(
            setting,
            dropout,
            stochastic_depth_prob,
            num_classes,
            norm_layer,
            last_channel,
            in_channels=in_channels,
        )
        return with_weights(model, weights, None if num_classes == 1000 else "classifier.1.")

    name = "EfficientNet-" + arch.removeprefix("efficientnet_").replace("_", "-").upper()
    build.__name__ = build.__qualname__ = arch
    build.__doc__ = (
        f"torchvision's {arch}: {name} ({count:,} parameters; evaluated at {crop}x{crop}).\n\n"
        f"    Args: num_classes; dropout (Default: {default_dropout}); stochastic_depth_prob;\n"
        "    in_channels as EfficientNet; weights: a torchvision `.pth` or an `.npz` state dict\n"
        "    (with num_classes != 1000 the file's classifier is skipped).\n"
    )
    register(
        arch.replace("_", "-"),
        f"{name} (torchvision architecture and state_dict keys), ImageNet head by default",
        input_size=(3, crop, crop),
        num_classes=1000,
    )(build)
    return build


efficientnet_b0 = _variant("efficientnet_b0")
efficientnet_b1 = _variant("efficientnet_b1")
efficientnet_b2 = _variant("efficientnet_b2")
efficientnet_b3 = _variant("efficientnet_b3")
efficientnet_b4 = _variant("efficientnet_b4")
efficientnet_b5 = _variant("efficientnet_b5")
efficientnet_b6 = _variant("efficientnet_b6")
efficientnet_b7 = _variant("efficientnet_b7")
efficientnet_v2_s = _variant("efficientnet_v2_s")
efficientnet_v2_m = _variant("efficientnet_v2_m")
efficientnet_v2_l = _variant("efficientnet_v2_l")
