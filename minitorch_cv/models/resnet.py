"""The torchvision ResNets (18, 34, 50, 101, 152, ResNeXt, Wide ResNet) with torchvision's
state_dict names, and the transfer-learning helpers: replace the head, freeze / unfreeze by name.

    conv1 7x7 s2 p3 (3 -> 64, no bias) + bn1 + relu + maxpool 3x3 s2 p1        224 -> 56
    layer1 .. layer4: blocks of 64, 128, 256, 512 planes (the first of layers 2-4 stride 2)
                                                                              56 -> 28 -> 14 -> 7
    avgpool (adaptive, 1x1), flatten, fc Linear(512 * expansion, num_classes)

    resnet18 / 34: BasicBlock (two 3x3 convs), (2, 2, 2, 2) / (3, 4, 6, 3) blocks
    resnet50 / 101 / 152: Bottleneck (1x1 -> 3x3 -> 1x1, 4x wider out), (3, 4, 6, 3) /
        (3, 4, 23, 3) / (3, 8, 36, 3); the stride sits on the 3x3 conv (torchvision's "V1.5")
    resnext50_32x4d / resnext101_32x8d: Bottleneck with a grouped 3x3 (32 groups of 4 / 8)
    wide_resnet50_2 / wide_resnet101_2: Bottleneck with a 3x3 twice as wide

Keys match torchvision's `resnetNN().state_dict()` ('conv1.weight', 'layer1.0.bn1.running_mean',
'layer2.0.downsample.0.weight', 'fc.bias', ...), so a torchvision checkpoint loads directly:

    model = resnet18()
    load_weights(model, "resnet18-f37072fd.pth")     # minitorch_cv.models.weights, no torch needed
    replace_head(model, 10)
    freeze(model)                  # everything ...
    unfreeze(model, "layer4", "fc")  # ... but the last stage and the new head
"""

from __future__ import annotations

from .. import init
from ..functional import flatten
from ..layers import BatchNorm2d, Linear, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d, MaxPool2d
from ._registry import register
from .weights import with_weights


def conv3x3(cin: int, cout: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> Conv2d:
    """3x3 conv, padding = dilation (the size is kept at stride 1), no bias (a BatchNorm
    follows)."""
    return Conv2d(cin, cout, 3, stride=stride, padding=dilation, groups=groups, bias=False,
                  dilation=dilation)  # fmt: skip


def conv1x1(cin: int, cout: int, stride: int = 1) -> Conv2d:
    """1x1 conv, no bias: the projection shortcut."""
    return Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(Module):
    """torchvision's BasicBlock: conv3x3 + bn + relu, conv3x3 + bn, add the shortcut, relu.

    Args:
        inplanes (int), planes (int): input and output channels.
        stride (int): of the first conv (and of `downsample`). Default: 1.
        downsample (Module or None): shortcut when the shape changes (conv1x1 + BN). Default: None.
        groups, base_width, dilation: only 1, 64 and 1 (as torchvision; they are Bottleneck's).

    Shape: (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1):  # fmt: skip
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock: only groups=1 and base_width=64 (use Bottleneck)")
        if dilation > 1:
            raise ValueError("BasicBlock: dilation > 1 is not supported (use Bottleneck)")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = BatchNorm2d(planes)
        self.relu = ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        # after the main branch, as torchvision: the order of summary rows follows it
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(Module):
    """torchvision's Bottleneck: conv1x1 (reduce) + bn + relu, conv3x3 (stride, groups,
    dilation) + bn + relu, conv1x1 (expand 4x) + bn, add the shortcut, relu.

    Args:
        inplanes (int), planes (int): input channels; output channels / 4.
        stride (int): of the 3x3 conv (torchvision's ResNet V1.5). Default: 1.
        downsample (Module or None): the projection shortcut. Default: None.
        groups (int): groups of the 3x3 conv (ResNeXt's cardinality). Default: 1.
        base_width (int): channels per group of the 3x3 conv at planes = 64, so
            width = planes * base_width / 64 * groups (Wide ResNet: 128). Default: 64.
        dilation (int): of the 3x3 conv. Default: 1.

    Shape: (N, inplanes, H, W) -> (N, 4 * planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1):  # fmt: skip
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.bn2 = BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = BatchNorm2d(planes * self.expansion)
        self.relu = ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet(Module):
    """torchvision's ResNet.

    Args:
        layers (tuple): blocks per stage. Default: (2, 2, 2, 2) (ResNet-18).
        num_classes (int): outputs of `fc`. Default: 1000.
        in_channels (int): Default: 3.
        include_top (bool): with avgpool and fc (False: the encoder alone, whose forward
            returns the layer4 map (N, 512 * expansion, H/32, W/32), or H/16 and H/8 with
            layers dilated instead of strided). Default: True.
        zero_init_residual (bool): zero the last BN weight of every block (bn2 of a
            BasicBlock, bn3 of a Bottleneck), as torchvision's option: each block starts as
            the identity.
        block: BasicBlock (default) or Bottleneck.
        groups (int), width_per_group (int): Bottleneck's groups and base_width. Defaults 1, 64.
        replace_stride_with_dilation (3 bools): for layer2..layer4, dilate instead of striding
            (output stride 16 or 8, as DeepLab's encoders). Default: (False, False, False).

    Init as torchvision: convs kaiming_normal_(mode='fan_out', nonlinearity='relu'),
    BN weight 1 and bias 0, fc PyTorch's Linear default.

    Shape: (N, 3, H, W) -> (N, num_classes); H, W >= 32 to keep layer4 non-empty.
    """

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 1000, in_channels: int = 3,
                 include_top: bool = True, zero_init_residual: bool = False, block=BasicBlock,
                 groups: int = 1, width_per_group: int = 64,
                 replace_stride_with_dilation=(False, False, False)):  # fmt: skip
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet: layers must give 4 stage lengths, got {layers!r}")
        if len(replace_stride_with_dilation) != 3:
            raise ValueError(
                "ResNet: replace_stride_with_dilation must be 3 bools (layer2..layer4), got "
                f"{replace_stride_with_dilation!r}"
            )
        self.inplanes, self.dilation = 64, 1
        self.groups, self.base_width = groups, width_per_group
        self.conv1 = Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(64)
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        dilate = replace_stride_with_dilation
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, dilate=dilate[2])
        self.include_top = include_top
        if include_top:
            self.avgpool = AdaptiveAvgPool2d((1, 1))
            self.fc = Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1,
                    dilate: bool = False) -> Sequential:  # fmt: skip
        previous_dilation = self.dilation
        if dilate:  # keep the resolution: the stride becomes dilation of the later 3x3s
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width,
                        previous_dilation)]  # fmt: skip
        self.inplanes = planes * block.expansion
        layers += [
            block(
                self.inplanes,
                planes,
                groups=self.groups,
                base_width=self.base_width,
                dilation=self.dilation,
            )  # fmt: skip
            for _ in range(1, blocks)
        ]
        return Sequential(*layers)

    def forward_features(self, x):
        """The layer4 map before pooling: (N, 512 * expansion, H/32, W/32), or H/16 or H/8 when
        replace_stride_with_dilation turned the last strides into dilation."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        x = self.forward_features(x)
        if not self.include_top:
            return x
        return self.fc(flatten(self.avgpool(x), 1))


def _resnet(block, layers, num_classes, in_channels, include_top, zero_init_residual, weights,
            **options) -> ResNet:  # fmt: skip
    model = ResNet(layers, num_classes, in_channels, include_top, zero_init_residual, block,
                   **options)  # fmt: skip
    keep_fc = include_top and num_classes == 1000
    return with_weights(model, weights, None if keep_fc else "fc.")


_WEIGHTS_DOC = """
    Args:
        num_classes (int): Default: 1000.
        in_channels (int): Default: 3.
        include_top (bool): keep avgpool + fc. Default: True.
        zero_init_residual (bool): Default: False.
        weights (str or Path, optional): a torchvision `.pth` or a `.npz` state dict to load
            (with num_classes != 1000 or include_top=False the file's fc is skipped and
            the new head keeps its fresh init).
        replace_stride_with_dilation (3 bools): Bottleneck ResNets only; see ResNet.
"""

# name: (block, blocks per stage, groups, width_per_group); the parameter counts, equal to
# torchvision's model cards, are checked in tests/models/test_model_params.py
_VARIANTS = {
    "resnet18": (BasicBlock, (2, 2, 2, 2), 1, 64),
    "resnet34": (BasicBlock, (3, 4, 6, 3), 1, 64),
    "resnet50": (Bottleneck, (3, 4, 6, 3), 1, 64),
    "resnet101": (Bottleneck, (3, 4, 23, 3), 1, 64),
    "resnet152": (Bottleneck, (3, 8, 36, 3), 1, 64),
    "resnext50_32x4d": (Bottleneck, (3, 4, 6, 3), 32, 4),
    "resnext101_32x8d": (Bottleneck, (3, 4, 23, 3), 32, 8),
    "wide_resnet50_2": (Bottleneck, (3, 4, 6, 3), 1, 128),
    "wide_resnet101_2": (Bottleneck, (3, 4, 23, 3), 1, 128),
}


def _variant(name: str):
    block, layers, groups, width = _VARIANTS[name]

    def build(num_classes: int = 1000, in_channels: int = 3, include_top: bool = True,
              zero_init_residual: bool = False, weights=None,
              replace_stride_with_dilation=(False, False, False)) -> ResNet:  # fmt: skip
        return _resnet(block, layers, num_classes, in_channels, include_top, zero_init_residual,
                       weights, groups=groups, width_per_group=width,
                       replace_stride_with_dilation=replace_stride_with_dilation)  # fmt: skip

    depth = 2 * sum(layers) + 2 if block is BasicBlock else 3 * sum(layers) + 2
    kind = (f"ResNeXt-{depth} {groups}x{width}d" if groups > 1
            else f"Wide ResNet-{depth}-2" if width == 128 else f"ResNet-{depth}")  # fmt: skip
    build.__name__ = build.__qualname__ = name
    build.__doc__ = f"torchvision's {name}: {kind}, {block.__name__}s {layers}.\n{_WEIGHTS_DOC}"
    register(
        name.replace("_", "-"),
        f"{kind} (torchvision architecture and state_dict keys), ImageNet head by default",
        input_size=(3, 224, 224),
        num_classes=1000,
    )(build)
    return build


resnet18 = _variant("resnet18")
resnet34 = _variant("resnet34")
resnet50 = _variant("resnet50")
resnet101 = _variant("resnet101")
resnet152 = _variant("resnet152")
resnext50_32x4d = _variant("resnext50_32x4d")
resnext101_32x8d = _variant("resnext101_32x8d")
wide_resnet50_2 = _variant("wide_resnet50_2")
wide_resnet101_2 = _variant("wide_resnet101_2")


# ---------------------------------------------------------------------- transfer-learning helpers


def replace_head(model: Module, num_classes: int, attr: str = "fc") -> Module:
    """Swap the final Linear `model.<attr>` for a fresh Linear(in_features, num_classes).

    Returns the model (changed in place). The new layer is trainable even if the model is frozen.
    """
    old = getattr(model, attr, None)
    if not isinstance(old, Linear):
        raise ValueError(
            f"replace_head: {type(model).__name__}.{attr} is {type(old).__name__}, not a Linear"
        )
    setattr(model, attr, Linear(old.in_features, num_classes))
    return model


def _targets(model: Module, names, who: str) -> list[Module]:
    if not names:
        return [model]
    found = []
    for name in names:
        try:
            found.append(model.get_submodule(name))
        except AttributeError:
            children = ", ".join(n for n, _ in model.named_children())
            raise ValueError(
                f"{who}: {type(model).__name__} has no submodule {name!r}; "
                f"its children are: {children}"
            ) from None
    return found


def freeze(model: Module, *names: str) -> Module:
    """Stop the gradients of the named submodules' parameters (all of them when no names).

    Args:
        names: dotted module names, e.g. 'conv1', 'layer1', 'layer4.1.bn2', 'encoder'.

    Frozen parameters get requires_grad=False: backward leaves them alone and optimizers skip
    them. BatchNorm running statistics still update in train mode (as in PyTorch);
    call `.eval()` on a frozen part to keep its statistics fixed as well.
    """
    for m in _targets(model, names, "freeze"):
        m.requires_grad_(False)
    return model


def unfreeze(model: Module, *names: str) -> Module:
    """Make the named submodules' parameters trainable again (all of them when no names)."""
    for m in _targets(model, names, "unfreeze"):
        m.requires_grad_(True)
    return model


def trainable_parameters(model: Module) -> list:
    """The parameters with requires_grad=True: what to give the optimizer after freezing."""
    return [p for p in model.parameters() if p.requires_grad]
