"""torchvision's semantic segmentation models: FCN and DeepLabV3 on a dilated ResNet-50 / 101,
with torchvision's module names, so its state_dict keys ('backbone.layer4.2.conv3.weight',
'classifier.0.convs.0.0.weight', 'aux_classifier.4.bias', ...) and parameter counts.

    backbone     ResNet without avgpool / fc, layer3 and layer4 dilated instead of strided
                 (replace_stride_with_dilation=(False, True, True)): output stride 8, so a
                 (N, 3, H, W) image gives layer3 (N, 1024, H/8, W/8), layer4 (N, 2048, H/8, W/8),
                 returned as OrderedDict(out=layer4[, aux=layer3]) by IntermediateLayerGetter
    classifier   FCNHead(2048, classes): conv3x3 2048 -> 512 + BN + ReLU + Dropout(0.1),
                 conv1x1 512 -> classes
                 or DeepLabHead(2048, classes): ASPP (a 1x1 branch, three 3x3 branches dilated
                 12, 24, 36, and an image-pooling branch, each 256 channels with BN + ReLU,
                 concatenated and projected 1280 -> 256 with Dropout(0.5)), conv3x3 + BN + ReLU,
                 conv1x1 256 -> classes
    aux_classifier   FCNHead(1024, classes) on layer3, with aux_loss=True (torchvision's
                 pretrained checkpoints hold it)
    forward      OrderedDict(out=..., [aux=...]), each bilinearly upsampled (align_corners=False)
                 to the input's H x W: (N, classes, H, W)

deeplabv3_mobilenet_v3_large takes torchvision's MobileNetV3-Large (`mobilenet_v3_large(dilated=
True)`: its last stage dilated instead of strided, output stride 16) without avgpool and
classifier: the getter runs its `features` and returns features.16 (N, 960, H/16, W/16) as
'out' for DeepLabHead(960, classes) and, with aux_loss, features.4 (the strided block that
opens the stride-8 stage, "C2" in torchvision's comment; blocks 5 and 6 after it, at the same
stride, are not used: (N, 40, H/8, W/8)) as 'aux' for FCNHead(40, classes): torchvision's
_deeplabv3_mobilenetv3. The LR-ASPP model on the same backbone is in lraspp.py.

torchvision downloads its pretrained weights; here a local torchvision file loads by key, as
with the package's other builders (read by load_pth, no torch needed):

    model = fcn_resnet50(weights="fcn_resnet50_coco-1167a1af.pth")   # aux_loss=True by default,
                                                                      # the checkpoints hold it
"""

from __future__ import annotations

import numbers
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

from .. import functional as F
from ..layers import BatchNorm2d, Dropout, Module, ModuleDict, ModuleList, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d
from ..tensor import Tensor
from ._registry import register
from .mobilenetv3 import mobilenet_v3_large
from .resnet import resnet50, resnet101
from .weights import load_weights


def _positive_int(who: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)


class IntermediateLayerGetter(ModuleDict):
    """torchvision's IntermediateLayerGetter: the children of `model` up to the last one named in
    `return_layers`, run in order; forward returns the named ones' outputs.

    Args:
        model (Module): its direct children are taken in registration order (for a ResNet:
            conv1, bn1, relu, maxpool, layer1 .. layer4; avgpool and fc are dropped).
        return_layers (dict): child name -> output key, e.g. {'layer4': 'out', 'layer3': 'aux'}.

    Its state_dict keys are the model's own for the children kept ('conv1.weight',
    'layer1.0.bn1.running_mean', ...).

    Shape: forward(x) -> OrderedDict(output key -> that child's output), in the children's order.
    """

    def __init__(self, model: Module, return_layers: dict):
        if not isinstance(return_layers, Mapping):
            raise TypeError(
                "IntermediateLayerGetter: return_layers must be a dict child name -> output key, "
                f"e.g. {{'layer4': 'out'}}, got {type(return_layers).__name__}"
            )
        children = OrderedDict(model.named_children())
        missing = [n for n in return_layers if n not in children]
        if missing or not return_layers:
            raise ValueError(
                f"IntermediateLayerGetter: return_layers {list(return_layers)} are not all "
                f"children of {type(model).__name__}; its children are: {', '.join(children)}"
            )
        wanted, layers = set(return_layers), OrderedDict()
        for name, module in children.items():
            layers[name] = module
            wanted.discard(name)
            if not wanted:
                break
        super().__init__(layers)
        self.return_layers = {str(k): str(v) for k, v in return_layers.items()}

    def forward(self, x):
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class FCNHead(Sequential):
    """torchvision's FCNHead: conv3x3 (in_channels -> in_channels // 4, no bias) + BN + ReLU +
    Dropout(0.1), conv1x1 (-> channels, with bias). Keys '0.weight', '1.running_mean', '4.bias'.

    Args:
        in_channels (int): channels of the feature map (4 or more).
        channels (int): output channels (the classes).

    Shape: (N, in_channels, H, W) -> (N, channels, H, W).
    """

    def __init__(self, in_channels: int, channels: int):
        in_channels = _positive_int("FCNHead", "in_channels", in_channels)
        channels = _positive_int("FCNHead", "channels", channels)
        if in_channels < 4:
            raise ValueError(
                f"FCNHead: in_channels must be at least 4 (the hidden conv has in_channels // 4 "
                f"channels), got {in_channels}"
            )
        inter_channels = in_channels // 4
        super().__init__(
            Conv2d(in_channels, inter_channels, 3, padding=1, bias=False),
            BatchNorm2d(inter_channels),
            ReLU(),
            Dropout(0.1),
            Conv2d(inter_channels, channels, 1),
        )


class ASPPConv(Sequential):
    """One dilated branch of ASPP: conv3x3 (padding = dilation = the rate, no bias) + BN + ReLU.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int):
        dilation = _positive_int("ASPPConv", "dilation", dilation)
        super().__init__(
            Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False),
            BatchNorm2d(out_channels),
            ReLU(),
        )


class ASPPPooling(Sequential):
    """The image-pooling branch of ASPP: global average pool, conv1x1 (no bias) + BN + ReLU, then
    bilinear upsampling (align_corners=False) back to the input's H x W (every pixel gets the
    image's vector).

    In training mode its BatchNorm sees one value per channel and sample, so a batch of 1
    fails (as in torch); in eval mode BN uses the running statistics and any batch works.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            AdaptiveAvgPool2d(1),
            Conv2d(in_channels, out_channels, 1, bias=False),
            BatchNorm2d(out_channels),
            ReLU(),
        )

    def forward(self, x):
        if self[2].training and x.shape[0] == 1:
            raise ValueError(
                f"ASPPPooling: a batch of 1 in training mode (input shape {tuple(x.shape)}): "
                "the BatchNorm2d after the global average pool would see 1 value per channel "
                "(torch: 'Expected more than 1 value per channel when training'); train with "
                "batches of 2 or more, or call .eval() for inference"
            )
        size = tuple(x.shape[-2:])
        for module in self:
            x = module(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(Module):
    """torchvision's Atrous Spatial Pyramid Pooling (DeepLabV3): parallel branches on the same map,
    concatenated along channels, then projected.

        convs.0        conv1x1 + BN + ReLU
        convs.1 .. k   ASPPConv, one per atrous rate
        convs.k+1      ASPPPooling
        project        conv1x1 ((k + 2) * out_channels -> out_channels, no bias) + BN + ReLU +
                       Dropout(0.5)

    Args:
        in_channels (int): channels of the feature map.
        atrous_rates (sequence of int): the dilations of the 3x3 branches (DeepLabV3: 12, 24, 36
            at output stride 8).
        out_channels (int): channels of every branch and of the output. Default: 256.

    Shape: (N, in_channels, H, W) -> (N, out_channels, H, W).
    """

    def __init__(self, in_channels: int, atrous_rates, out_channels: int = 256):
        super().__init__()
        rates = tuple(atrous_rates)
        for rate in rates:
            _positive_int("ASPP", "every atrous rate", rate)
        modules = [
            Sequential(
                Conv2d(in_channels, out_channels, 1, bias=False), BatchNorm2d(out_channels), ReLU()
            )
        ]
        modules += [ASPPConv(in_channels, out_channels, rate) for rate in rates]
        modules.append(ASPPPooling(in_channels, out_channels))
        self.convs = ModuleList(modules)
        self.project = Sequential(
            Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            BatchNorm2d(out_channels),
            ReLU(),
            Dropout(0.5),
        )

    def forward(self, x):
        return self.project(F.cat([conv(x) for conv in self.convs], dim=1))


class DeepLabHead(Sequential):
    """torchvision's DeepLabHead: ASPP(in_channels, atrous_rates) (256 channels), conv3x3
    256 -> 256 (no bias) + BN + ReLU, conv1x1 256 -> num_classes. Keys '0.convs.0.0.weight',
    '0.project.1.running_var', '4.weight', ...

    Args:
        in_channels (int): channels of the feature map.
        num_classes (int): output channels.
        atrous_rates (sequence of int): Default: (12, 24, 36).

    Shape: (N, in_channels, H, W) -> (N, num_classes, H, W).
    """

    def __init__(self, in_channels: int, num_classes: int, atrous_rates=(12, 24, 36)):
        super().__init__(
            ASPP(in_channels, atrous_rates),
            Conv2d(256, 256, 3, padding=1, bias=False),
            BatchNorm2d(256),
            ReLU(),
            Conv2d(256, num_classes, 1),
        )


def _image_size(who: str, x) -> tuple:
    """(H, W) of a (N, C, H, W) Tensor; TypeError / ValueError naming `who` otherwise."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{who}: expected a Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{who}: expected input of shape (N, C, H, W), got {tuple(x.shape)}")
    return tuple(x.shape[-2:])


class _SimpleSegmentationModel(Module):
    """backbone -> OrderedDict(out=..., [aux=...]); classifier on 'out' (and aux_classifier on
    'aux'), each upsampled bilinearly (align_corners=False) to the input's size."""

    def __init__(self, backbone: Module, classifier: Module, aux_classifier: Module | None = None):
        super().__init__()
        self.backbone = backbone
        self.classifier = classifier
        self.aux_classifier = aux_classifier

    def forward(self, x):
        who = type(self).__name__
        size = _image_size(who, x)
        features = self.backbone(x)
        heads = [("out", self.classifier)]
        if self.aux_classifier is not None:
            heads.append(("aux", self.aux_classifier))
        result = OrderedDict()
        for key, head in heads:
            if not isinstance(features, Mapping) or key not in features:
                got = list(features) if isinstance(features, Mapping) else type(features).__name__
                raise ValueError(
                    f"{who}: the backbone returned {got}; the "
                    f"{'classifier' if key == 'out' else 'aux_classifier'} reads its {key!r} "
                    "entry (IntermediateLayerGetter(model, {'layer4': 'out', 'layer3': 'aux'}))"
                )
            y = head(features[key])
            result[key] = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return result


class FCN(_SimpleSegmentationModel):
    """torchvision's FCN (Long et al., "Fully Convolutional Networks for Semantic Segmentation").

    Args:
        backbone (Module): returns an OrderedDict with 'out' (and 'aux' when aux_classifier is
            given), e.g. an IntermediateLayerGetter.
        classifier (Module): dense prediction from 'out' (FCNHead).
        aux_classifier (Module, optional): dense prediction from 'aux', for an auxiliary loss.

    Shape: (N, C, H, W) -> OrderedDict(out=(N, classes, H, W)[, aux=(N, classes, H, W)]).
    """


class DeepLabV3(_SimpleSegmentationModel):
    """torchvision's DeepLabV3 (Chen et al., "Rethinking Atrous Convolution for Semantic Image
    Segmentation"); the arguments and shapes of FCN, with a DeepLabHead as classifier."""


def _check_source(who: str, name: str, value, later: str | None = None) -> None:
    """`weights` / `weights_backbone`: None, a local file or a state dict (as the package's other
    builders take); torchvision's named weights are downloads, refused with how to load them
    (`later`: how to load one into a built model; default: load_weights into the model, or
    into model.backbone with its fc skipped)."""
    if (
        value is None
        or isinstance(value, Mapping)
        or (isinstance(value, (str, Path)) and Path(value).is_file())
    ):
        return
    if later is None:
        where = "model" if name == "weights" else "model.backbone"
        later = f"minitorch_cv.models.load_weights({where}, path" + (
            ", skip=('fc.',))" if name == "weights_backbone" else ")"
        )
    raise ValueError(
        f"{who}: {name}={value!r} is not a local file: torchvision's named weights are "
        f"downloads, and this package does not download. Pass the path of a local torchvision "
        f"checkpoint (or a state dict) as {name}=, or load one later with {later}"
    )


# loading a torchvision mobilenet_v3_large checkpoint into a built model's backbone (the
# getter's keys are those of the network's `features`, without the 'features.' prefix)
_MOBILENET_BACKBONE_LATER = (
    "model.backbone.load_state_dict(minitorch_cv.models.mobilenet_v3_large(dilated=True, "
    "weights=path).features.state_dict())"
)


def _check_builder_args(
    who: str, weights, weights_backbone, num_classes, aux_loss, backbone_later=None
):
    _check_source(who, "weights", weights)
    _check_source(who, "weights_backbone", weights_backbone, backbone_later)
    num_classes = 21 if num_classes is None else _positive_int(who, "num_classes", num_classes)
    if aux_loss is not None and not isinstance(aux_loss, bool):
        raise TypeError(f"{who}: aux_loss must be a bool or None, got {aux_loss!r}")
    if aux_loss is None:  # torchvision: with weights, aux_loss defaults to True
        aux_loss = weights is not None
    return num_classes, aux_loss


def _segmentation_resnet(model_cls, resnet, head, num_classes, aux):
    """torchvision's _fcn_resnet / _deeplabv3_resnet: the dilated ResNet's layer4 (and layer3)
    taken by an IntermediateLayerGetter, the head on 2048 channels, FCNHead(1024) for aux."""
    backbone = resnet(include_top=False, replace_stride_with_dilation=(False, True, True))
    return_layers = {"layer4": "out"}
    if aux:
        return_layers["layer3"] = "aux"
    backbone = IntermediateLayerGetter(backbone, return_layers)
    aux_classifier = FCNHead(1024, num_classes) if aux else None
    return model_cls(backbone, head(2048, num_classes), aux_classifier)


_BUILDER_DOC = """
    Args:
        weights (str or Path or dict, optional): a local torchvision checkpoint (`.pth`, or
            `.npz`) or a state dict, loaded by key (`load_weights`); torchvision's named
            weights are downloads (ValueError). Default: None.
        progress (bool): unused (nothing is downloaded). Default: True.
        num_classes (int, optional): classes, the background included. Default: None (21, VOC's).
        aux_loss (bool, optional): add aux_classifier, FCNHead(1024, num_classes) on layer3, and
            return 'aux' too. Default: None (no; yes with `weights`, whose torchvision files
            hold aux_classifier).
        weights_backbone (str or Path or dict, optional): a local torchvision resnet checkpoint
            loaded into `model.backbone`, its fc skipped; not loaded when `weights` is given
            (which holds the backbone too). Default: None (torchvision's is its ImageNet
            download).

    Shape: (N, 3, H, W) -> OrderedDict(out=(N, num_classes, H, W)[, aux=...]); any H, W >= 1.
"""


def _builder(name: str, model_cls, resnet, head, title: str):
    def build(*, weights=None, progress: bool = True, num_classes: int | None = None,
              aux_loss: bool | None = None, weights_backbone=None):  # fmt: skip
        n, aux = _check_builder_args(name, weights, weights_backbone, num_classes, aux_loss)
        model = _segmentation_resnet(model_cls, resnet, head, n, aux)
        if weights is not None:
            load_weights(model, weights)
        elif weights_backbone is not None:
            load_weights(model.backbone, weights_backbone, skip=("fc.",))
        return model

    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision's {name}: {title}, output stride 8.\n{_BUILDER_DOC}"
    register(
        name.replace("_", "-"),
        f"{title} (torchvision architecture and state_dict keys), output stride 8",
        input_size=(3, 520, 520),
        num_classes=21,
        task="segmentation",
    )(build)
    return build


fcn_resnet50 = _builder("fcn_resnet50", FCN, resnet50, FCNHead, "FCN, ResNet-50 backbone")
fcn_resnet101 = _builder("fcn_resnet101", FCN, resnet101, FCNHead, "FCN, ResNet-101 backbone")
deeplabv3_resnet50 = _builder(
    "deeplabv3_resnet50", DeepLabV3, resnet50, DeepLabHead, "DeepLabV3, ResNet-50 backbone"
)
deeplabv3_resnet101 = _builder(
    "deeplabv3_resnet101", DeepLabV3, resnet101, DeepLabHead, "DeepLabV3, ResNet-101 backbone"
)


# --------------------------------------------------------------------------- MobileNetV3-Large


def _refuse_kwargs(who: str, kwargs: dict, valid: str) -> None:
    """torchvision's builders take **kwargs and ignore what they do not use; here an unknown
    keyword is a TypeError (a misspelt option would otherwise change nothing, silently)."""
    if kwargs:
        raise TypeError(
            f"{who}: unknown option(s) {', '.join(map(repr, kwargs))}; valid options: {valid}"
        )


def _mobilenet_v3_backbone(weights_backbone):
    """torchvision's backbone for its MobileNetV3 segmentation models: the `features` of
    mobilenet_v3_large(dilated=True) (`weights_backbone`, a torchvision mobilenet_v3_large
    checkpoint, loaded first; its classifier is skipped, so a checkpoint with another head, or
    with `features.*` keys only, loads too, as the ResNet builders skip 'fc.'), and the
    positions of its stride-8 and last stage. As torchvision: the stages are the stem, every
    block with a stride of 2 in its config (C1 .. C4; C4 is dilated instead) and the last conv;
    C2 is stages[-4] (features.4, 40 channels, stride 8) and C5 stages[-1] (features.16, 960
    channels, stride 16).

    Returns: (features, stride-8 position, last position)."""
    net = mobilenet_v3_large(dilated=True)
    if weights_backbone is not None:
        load_weights(net, weights_backbone, skip=("classifier.",))
    features = net.features
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    stages.append(len(features) - 1)
    return features, stages[-4], stages[-1]


def deeplabv3_mobilenet_v3_large(
    *,
    weights=None,
    progress: bool = True,
    num_classes: int | None = None,
    aux_loss: bool | None = None,
    weights_backbone=None,
    **kwargs,
) -> DeepLabV3:
    """torchvision's deeplabv3_mobilenet_v3_large: DeepLabV3, MobileNetV3-Large backbone (its
    last stage dilated), output stride 16; 11,029,328 parameters with aux_loss.

        backbone         IntermediateLayerGetter over mobilenet_v3_large(dilated=True).features:
                         'out' = features.16 (N, 960, H/16, W/16), 'aux' = features.4
                         (N, 40, H/8, W/8)
        classifier       DeepLabHead(960, num_classes) (ASPP rates 12, 24, 36)
        aux_classifier   FCNHead(40, num_classes), with aux_loss

    Args:
        weights (str or Path or dict, optional): a local torchvision checkpoint (`.pth`, or
            `.npz`) or a state dict, loaded by key (`load_weights`); torchvision's named
            weights are downloads (ValueError). Default: None.
        progress (bool): unused (nothing is downloaded). Default: True.
        num_classes (int, optional): classes, the background included. Default: None (21, VOC's).
        aux_loss (bool, optional): add aux_classifier, FCNHead(40, num_classes) on features.4,
            and return 'aux' too. Default: None (no; yes with `weights`, whose torchvision
            files hold aux_classifier).
        weights_backbone (str or Path or dict, optional): a local torchvision mobilenet_v3_large
            checkpoint, loaded into the network whose features become the backbone, its
            classifier skipped (any head); not loaded when `weights` is given (which holds the
            backbone too). Default: None (torchvision's is its ImageNet download).
        **kwargs: torchvision ignores them; here any is a TypeError.

    Shape: (N, 3, H, W) -> OrderedDict(out=(N, num_classes, H, W)[, aux=...]); any H, W >= 1.
    In training mode the ASPP's image-pooling BatchNorm needs a batch of 2 or more.
    """
    who = "deeplabv3_mobilenet_v3_large"
    _refuse_kwargs(who, kwargs, "weights, progress, num_classes, aux_loss, weights_backbone")
    n, aux = _check_builder_args(
        who, weights, weights_backbone, num_classes, aux_loss, _MOBILENET_BACKBONE_LATER
    )
    features, aux_pos, out_pos = _mobilenet_v3_backbone(
        weights_backbone if weights is None else None
    )
    return_layers = {str(out_pos): "out"}
    if aux:
        return_layers[str(aux_pos)] = "aux"
    backbone = IntermediateLayerGetter(features, return_layers)
    aux_classifier = FCNHead(features[aux_pos].out_channels, n) if aux else None
    model = DeepLabV3(backbone, DeepLabHead(features[out_pos].out_channels, n), aux_classifier)
    if weights is not None:
        load_weights(model, weights)
    return model


register(
    "deeplabv3-mobilenet-v3-large",
    "DeepLabV3, MobileNetV3-Large backbone (torchvision architecture and state_dict keys), "
    "output stride 16",
    input_size=(3, 520, 520),
    num_classes=21,
    task="segmentation",
)(deeplabv3_mobilenet_v3_large)
