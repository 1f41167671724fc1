"""MobileNetV3 (Howard et al., 2019, "Searching for MobileNetV3") as torchvision builds it, with
torchvision's module names and state_dict keys (torchvision's `torchvision.models.mobilenetv3`).

    features.0        3x3 conv s2 + BN + Hardswish (16 channels)
    features.1 .. n   InvertedResidual blocks, one per InvertedResidualConfig:
                      block.0  1x1 expand + BN + act          (only when expanded != input)
                      block.*  kxk depthwise (stride, or dilation) + BN + act
                      block.*  SqueezeExcitation, hard-sigmoid gate, squeeze width
                               make_divisible(expanded / 4)   (only when use_se)
                      block.-1 1x1 project + BN (linear bottleneck)
                      + the input when stride 1 and input == out channels
    features.n+1      1x1 conv to 6 x the last block's width + BN + Hardswish
    avgpool, flatten, classifier: Linear(6 c, last_channel), Hardswish, Dropout, Linear

    act is ReLU ("RE") or Hardswish ("HS") per block; every BatchNorm has eps 0.001 and
    momentum 0.01 (torchvision's default norm_layer).

    mobilenet_v3_large: 15 blocks, last_channel 1280      5,483,032 parameters
    mobilenet_v3_small: 11 blocks, last_channel 1024      2,542,856 parameters

Its block is called InvertedResidual in torchvision, as MobileNetV2's is: this one is
`minitorch_cv.models.mobilenetv3.InvertedResidual` (`models.InvertedResidual` is MobileNetV2's).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from .. import init
from ..functional import flatten
from ..layers import (
    BatchNorm2d,
    Dropout,
    GroupNorm,
    Hardsigmoid,
    Hardswish,
    Linear,
    Module,
    ReLU,
    Sequential,
)
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d
from ..ops.misc import Conv2dNormActivation, SqueezeExcitation
from ._input_size import check_input
from ._registry import register
from .mobilenet import make_divisible
from .weights import with_weights


class InvertedResidualConfig:
    """One row of the MobileNetV3 paper's Tables 1 and 2 (torchvision's InvertedResidualConfig).

    Args:
        input_channels (int), kernel (int), expanded_channels (int), out_channels (int): the
            widths (scaled by width_mult and rounded to multiples of 8) and the depthwise kernel.
        use_se (bool): with a squeeze-and-excitation layer.
        activation (str): 'HS' (Hardswish) or 'RE' (ReLU).
        stride (int), dilation (int): of the depthwise conv (a dilation > 1 replaces the
            stride).
        width_mult (float): channel multiplier.
    """

    def __init__(
        self,
        input_channels: int,
        kernel: int,
        expanded_channels: int,
        out_channels: int,
        use_se: bool,
        activation: str,
        stride: int,
        dilation: int,
        width_mult: float,
    ):
        self.input_channels = self.adjust_channels(input_channels, width_mult)
        self.kernel = kernel
        self.expanded_channels = self.adjust_channels(expanded_channels, width_mult)
        self.out_channels = self.adjust_channels(out_channels, width_mult)
        self.use_se = use_se
        self.use_hs = activation == "HS"
        self.stride = stride
        self.dilation = dilation

    @staticmethod
    def adjust_channels(channels: int, width_mult: float) -> int:
        return make_divisible(channels * width_mult, 8)


_SE_LAYER = partial(SqueezeExcitation, scale_activation=Hardsigmoid)  # hard-sigmoid gate


class InvertedResidual(Module):
    """torchvision's MobileNetV3 block (section 5 of the paper); see the module docstring.

    Args:
        cnf (InvertedResidualConfig): the block's widths, kernel, activation, stride, dilation.
        norm_layer (callable): built with a channel count.
        se_layer (callable): built as se_layer(expanded, squeeze). Default: SqueezeExcitation
            with a Hardsigmoid gate.

    Shape: (N, input_channels, H, W) -> (N, out_channels, ceil(H / s), ceil(W / s)), s the
    stride (1 when dilated).
    """

    def __init__(self, cnf: InvertedResidualConfig, norm_layer, se_layer=_SE_LAYER):
        super().__init__()
        if not 1 <= cnf.stride <= 2:
            raise ValueError(f"InvertedResidual: illegal stride value {cnf.stride} (1 or 2)")
        self.use_res_connect = cnf.stride == 1 and cnf.input_channels == cnf.out_channels
        act = Hardswish if cnf.use_hs else ReLU
        cna = partial(Conv2dNormActivation, norm_layer=norm_layer, activation_layer=act)
        exp = cnf.expanded_channels
        layers = [cna(cnf.input_channels, exp, kernel_size=1)] if exp != cnf.input_channels else []
        stride = 1 if cnf.dilation > 1 else cnf.stride
        layers.append(cna(exp, exp, cnf.kernel, stride, dilation=cnf.dilation, groups=exp))
        if cnf.use_se:
            layers.append(se_layer(exp, make_divisible(exp // 4, 8)))
        layers.append(cna(exp, cnf.out_channels, kernel_size=1, activation_layer=None))
        self.block = Sequential(*layers)
        self.out_channels = cnf.out_channels
        self._is_cn = cnf.stride > 1  # torchvision's flag for detection backbones

    def forward(self, input):
        result = self.block(input)
        return result + input if self.use_res_connect else result


class MobileNetV3(Module):
    """torchvision's MobileNetV3.

    Args:
        inverted_residual_setting (list of InvertedResidualConfig): the blocks.
        last_channel (int): width of the classifier's hidden Linear.
        num_classes (int): Default: 1000.
        block (callable or None): builds a block from (cnf, norm_layer). Default:
            InvertedResidual.
        norm_layer (callable or None): Default: BatchNorm2d with eps=0.001, momentum=0.01.
        dropout (float): in the classifier. Default: 0.2.
        in_channels (int): channels of the input image (not in torchvision). Default: 3.

    Init as torchvision: convs kaiming_normal_(fan_out) with zero bias, BN 1 / 0, Linear
    N(0, 0.01^2) with zero bias.

    Shape: (N, in_channels, H, W) -> (N, num_classes), any H, W >= 1 (every conv pads).
    """

    # the stem conv, listed so that a replaced one (a 1-channel conv for grey images) sets the
    # channels expected; it and every later conv pad, so no input is too small
    _shrinking_layers = ("features.0.0",)

    def __init__(
        self,
        inverted_residual_setting,
        last_channel: int,
        num_classes: int = 1000,
        block=None,
        norm_layer=None,
        dropout: float = 0.2,
        *,
        in_channels: int = 3,
    ):
        super().__init__()
        setting = inverted_residual_setting
        if not setting:
            raise ValueError("MobileNetV3: the inverted_residual_setting should not be empty")
        if not isinstance(setting, Sequence) or not all(
            isinstance(s, InvertedResidualConfig) for s in setting
        ):
            raise TypeError(
                "MobileNetV3: the inverted_residual_setting should be List[InvertedResidualConfig]"
            )
        block = InvertedResidual if block is None else block
        if norm_layer is None:
            norm_layer = partial(BatchNorm2d, eps=0.001, momentum=0.01)
        self.in_channels = in_channels
        layers = [
            Conv2dNormActivation(
                in_channels,
                setting[0].input_channels,
                kernel_size=3,
                stride=2,
                norm_layer=norm_layer,
                activation_layer=Hardswish,
            )
        ]
        layers += [block(cnf, norm_layer) for cnf in setting]
        last_in = setting[-1].out_channels
        last_out = 6 * last_in
        layers.append(
            Conv2dNormActivation(
                last_in, last_out, kernel_size=1, norm_layer=norm_layer, activation_layer=Hardswish
            )
        )
        self.features = Sequential(*layers)
        self.avgpool = AdaptiveAvgPool2d(1)
        self.classifier = Sequential(
            Linear(last_out, last_channel),
            Hardswish(inplace=True),
            Dropout(p=dropout, inplace=True),
            Linear(last_channel, num_classes),
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
                init.normal_(m.weight, 0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x):
        check_input(self, x, self.in_channels)
        x = self.avgpool(self.features(x))
        return self.classifier(flatten(x, 1))


def _mobilenet_v3_conf(
    arch: str, width_mult: float = 1.0, reduced_tail: bool = False, dilated: bool = False
):
    """(inverted_residual_setting, last_channel) of torchvision's two architectures.

    reduced_tail halves the channels of the last stage (C4) and last_channel; dilated turns the
    last stage's stride into dilation 2 (both for segmentation backbones)."""
    r = 2 if reduced_tail else 1
    d = 2 if dilated else 1
    bneck = partial(InvertedResidualConfig, width_mult=width_mult)
    # input, kernel, expanded, out, use_se, activation, stride, dilation
    if arch == "mobilenet_v3_large":
        setting = [
            bneck(16, 3, 16, 16, False, "RE", 1, 1),
            bneck(16, 3, 64, 24, False, "RE", 2, 1),  # C1
            bneck(24, 3, 72, 24, False, "RE", 1, 1),
            bneck(24, 5, 72, 40, True, "RE", 2, 1),  # C2
            bneck(40, 5, 120, 40, True, "RE", 1, 1),
            bneck(40, 5, 120, 40, True, "RE", 1, 1),
            bneck(40, 3, 240, 80, False, "HS", 2, 1),  # C3
            bneck(80, 3, 200, 80, False, "HS", 1, 1),
            bneck(80, 3, 184, 80, False, "HS", 1, 1),
            bneck(80, 3, 184, 80, False, "HS", 1, 1),
            bneck(80, 3, 480, 112, True, "HS", 1, 1),
            bneck(112, 3, 672, 112, True, "HS", 1, 1),
            bneck(112, 5, 672, 160 // r, True, "HS", 2, d),  # C4
            bneck(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
            bneck(160 // r, 5, 960 // r, 160 // r, True, "HS", 1, d),
        ]
        last = 1280 // r  # C5
    elif arch == "mobilenet_v3_small":
        setting = [
            bneck(16, 3, 16, 16, True, "RE", 2, 1),  # C1
            bneck(16, 3, 72, 24, False, "RE", 2, 1),  # C2
            bneck(24, 3, 88, 24, False, "RE", 1, 1),
            bneck(24, 5, 96, 40, True, "HS", 2, 1),  # C3
            bneck(40, 5, 240, 40, True, "HS", 1, 1),
            bneck(40, 5, 240, 40, True, "HS", 1, 1),
            bneck(40, 5, 120, 48, True, "HS", 1, 1),
            bneck(48, 5, 144, 48, True, "HS", 1, 1),
            bneck(48, 5, 288, 96 // r, True, "HS", 2, d),  # C4
            bneck(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
            bneck(96 // r, 5, 576 // r, 96 // r, True, "HS", 1, d),
        ]
        last = 1024 // r  # C5
    else:
        raise ValueError(f"_mobilenet_v3_conf: unsupported model type {arch!r}")
    return setting, InvertedResidualConfig.adjust_channels(last, width_mult)


def _variant(arch: str, size: str, count: int):
    def build(
        num_classes: int = 1000,
        width_mult: float = 1.0,
        reduced_tail: bool = False,
        dilated: bool = False,
        dropout: float = 0.2,
        in_channels: int = 3,
        weights=None,
    ) -> MobileNetV3:
        setting, last_channel = _mobilenet_v3_conf(arch, width_mult, reduced_tail, dilated)
        model = MobileNetV3(
            setting, last_channel, num_classes, dropout=dropout, in_channels=in_channels
        )
        return with_weights(model, weights, None if num_classes == 1000 else "classifier.3.")

    build.__name__ = build.__qualname__ = arch
    build.__doc__ = (
        f"torchvision's {arch}: MobileNetV3-{size.capitalize()} ({count:,} parameters).\n\n"
        "    Args: num_classes, width_mult, reduced_tail, dilated (see _mobilenet_v3_conf),\n"
        "    dropout, in_channels as MobileNetV3; weights: a torchvision `.pth` or an `.npz`\n"
        "    state dict (with num_classes != 1000 the file's last Linear is skipped).\n"
    )
    register(
        arch.replace("_", "-"),
        f"MobileNetV3-{size.capitalize()} (torchvision architecture and state_dict keys), "
        "ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


mobilenet_v3_large = _variant("mobilenet_v3_large", "large", 5_483_032)
mobilenet_v3_small = _variant("mobilenet_v3_small", "small", 2_542_856)
