"""torchvision's Lite R-ASPP (Howard et al., 2019, "Searching for MobileNetV3", section 6.4) on a
MobileNetV3-Large, with torchvision's module names, so its state_dict keys ('backbone.16.0.weight',
'classifier.cbr.1.running_var', 'classifier.high_classifier.bias', ...) and parameter count
(3,221,538).

    backbone     IntermediateLayerGetter over mobilenet_v3_large(dilated=True).features (the last
                 stage dilated instead of strided): 'low' = features.4, the strided block
                 that opens the stride-8 stage (N, 40, H/8, W/8; blocks 5 and 6 are not
                 used); 'high' = features.16, the last conv (N, 960, H/16, W/16)
    classifier   LRASPPHead on both:
                   cbr    conv1x1 960 -> 128 (no bias) + BN + ReLU
                   scale  global average pool, conv1x1 960 -> 128 (no bias), Sigmoid: one gate
                          per channel and image
                   cbr(high) * scale(high), bilinearly upsampled to the low features' size,
                   high_classifier (conv1x1 128 -> classes) of that plus low_classifier
                   (conv1x1 40 -> classes) of the low features
    forward      OrderedDict(out=...), upsampled bilinearly (align_corners=False) to the input's
                 H x W: (N, classes, H, W). No auxiliary head.

    model = lraspp_mobilenet_v3_large(weights="lraspp_mobilenet_v3_large-d234d4ea.pth")
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .. import functional as F
from ..layers import BatchNorm2d, Module, ReLU, Sequential, Sigmoid
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d
from ._registry import register
from .segmentation import (
    _MOBILENET_BACKBONE_LATER,
    IntermediateLayerGetter,
    _check_builder_args,
    _image_size,
    _mobilenet_v3_backbone,
    _positive_int,
    _refuse_kwargs,
)
from .weights import load_weights


class LRASPPHead(Module):
    """torchvision's LRASPPHead: the Lite R-ASPP segmentation head (see the module docstring).

    Args:
        low_channels (int): channels of the low-level (stride 8) features.
        high_channels (int): channels of the high-level (stride 16) features.
        num_classes (int): output channels.
        inter_channels (int): channels of the gated high-level branch.

    Shape: forward({'low': (N, low_channels, Hl, Wl), 'high': (N, high_channels, Hh, Wh)})
    -> (N, num_classes, Hl, Wl).
    """

    def __init__(self, low_channels: int, high_channels: int, num_classes: int,
                 inter_channels: int):  # fmt: skip
        super().__init__()
        low, high, classes, inter = (
            _positive_int("LRASPPHead", name, value)
            for name, value in (("low_channels", low_channels), ("high_channels", high_channels),
                                ("num_classes", num_classes), ("inter_channels", inter_channels))
        )  # fmt: skip
        self.cbr = Sequential(
            Conv2d(high, inter, 1, bias=False), BatchNorm2d(inter), ReLU(inplace=True)
        )
        self.scale = Sequential(AdaptiveAvgPool2d(1), Conv2d(high, inter, 1, bias=False), Sigmoid())
        self.low_classifier = Conv2d(low, classes, 1)
        self.high_classifier = Conv2d(inter, classes, 1)

    def forward(self, input):
        if not isinstance(input, Mapping) or not {"low", "high"} <= set(input):
            got = list(input) if isinstance(input, Mapping) else type(input).__name__
            raise ValueError(
                f"LRASPPHead: expected a dict with 'low' and 'high' feature maps, got {got}"
            )
        low, high = input["low"], input["high"]
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=tuple(low.shape[-2:]), mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(Module):
    """torchvision's LRASPP: a backbone returning 'low' and 'high' feature maps, an LRASPPHead
    on them, the result upsampled bilinearly (align_corners=False) to the input's size.

    Args:
        backbone (Module): returns a dict with 'low' and 'high' (an IntermediateLayerGetter).
        low_channels (int), high_channels (int): their channels.
        num_classes (int): classes, the background included.
        inter_channels (int): channels of the head's gated branch. Default: 128.

    Shape: (N, C, H, W) -> OrderedDict(out=(N, num_classes, H, W)).
    """

    def __init__(self, backbone: Module, low_channels: int, high_channels: int, num_classes: int,
                 inter_channels: int = 128):  # fmt: skip
        super().__init__()
        self.backbone = backbone
        self.classifier = LRASPPHead(low_channels, high_channels, num_classes, inter_channels)

    def forward(self, input):
        size = _image_size("LRASPP", input)
        out = self.classifier(self.backbone(input))
        result = OrderedDict()
        result["out"] = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        return result


def lraspp_mobilenet_v3_large(
    *, weights=None, progress: bool = True, num_classes: int | None = None, weights_backbone=None,
    **kwargs,
) -> LRASPP:  # fmt: skip
    """torchvision's lraspp_mobilenet_v3_large: Lite R-ASPP, MobileNetV3-Large backbone (its last
    stage dilated), output stride 16; 3,221,538 parameters.

    Args:
        weights (str or Path or dict, optional): a local torchvision checkpoint (`.pth`, or
            `.npz`) or a state dict, loaded by key (`load_weights`); torchvision's named
            weights are downloads (ValueError). Default: None.
        progress (bool): unused (nothing is downloaded). Default: True.
        num_classes (int, optional): classes, the background included. Default: None (21, VOC's).
        weights_backbone (str or Path or dict, optional): a local torchvision mobilenet_v3_large
            checkpoint, loaded into the network whose features become the backbone, its
            classifier skipped (any head); not loaded when `weights` is given. Default: None
            (torchvision's is its ImageNet download).
        **kwargs: aux_loss=True is a NotImplementedError, as in torchvision ("This model does
            not use auxiliary loss"); aux_loss False / None is accepted; any other keyword is a
            TypeError (torchvision ignores it).

    Shape: (N, 3, H, W) -> OrderedDict(out=(N, num_classes, H, W)); any H, W >= 1.
    """
    who = "lraspp_mobilenet_v3_large"
    if kwargs.pop("aux_loss", False):
        raise NotImplementedError(f"{who}: This model does not use auxiliary loss")
    _refuse_kwargs(who, kwargs, "weights, progress, num_classes, weights_backbone")
    n, _ = _check_builder_args(
        who, weights, weights_backbone, num_classes, None, _MOBILENET_BACKBONE_LATER
    )
    features, low_pos, high_pos = _mobilenet_v3_backbone(
        weights_backbone if weights is None else None
    )
    low_channels = features[low_pos].out_channels
    high_channels = features[high_pos].out_channels
    backbone = IntermediateLayerGetter(features, {str(low_pos): "low", str(high_pos): "high"})
    model = LRASPP(backbone, low_channels, high_channels, n)
    if weights is not None:
        load_weights(model, weights)
    return model


register(
    "lraspp-mobilenet-v3-large",
    "Lite R-ASPP, MobileNetV3-Large backbone (torchvision architecture and state_dict keys), "
    "output stride 16",
    input_size=(3, 520, 520),
    num_classes=21,
    task="segmentation",
)(lraspp_mobilenet_v3_large)
