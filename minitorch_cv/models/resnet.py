"""ResNet-18, the torchvision architecture with torchvision's state_dict names, and the
transfer-learning helpers: replace the head, freeze / unfreeze by module name.

    conv1 7x7 s2 p3 (3 -> 64, no bias) + bn1 + relu + maxpool 3x3 s2 p1        224 -> 56
    layer1 2 x BasicBlock(64)   layer2 2 x BasicBlock(128, first stride 2)    56 -> 28
    layer3 2 x BasicBlock(256, first stride 2)  layer4 2 x BasicBlock(512, ...)  -> 14 -> 7
    avgpool (adaptive, 1x1), flatten, fc Linear(512, num_classes)

Keys match torchvision's `resnet18().state_dict()` ('conv1.weight', 'layer1.0.bn1.running_mean',
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


def conv3x3(cin: int, cout: int, stride: int = 1) -> Conv2d:
    """3x3 conv, padding 1, no bias (a BatchNorm follows)."""
    return Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> Conv2d:
    """1x1 conv, no bias: the projection shortcut."""
    return Conv2d(cin, cout, 1, stride=stride, bias=False)


class BasicBlock(Module):
    """torchvision's BasicBlock: conv3x3 + bn + relu, conv3x3 + bn, add the shortcut, relu.

    Args:
        inplanes (int), planes (int): input and output channels.
        stride (int): of the first conv (and of `downsample`). Default: 1.
        downsample (Module or None): shortcut when the shape changes (conv1x1 + BN). Default: None.

    Shape: (N, inplanes, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride)).
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
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


class ResNet(Module):
    """torchvision's ResNet built from BasicBlocks.

    Args:
        layers (tuple): blocks per stage. Default: (2, 2, 2, 2) (ResNet-18).
        num_classes (int): outputs of `fc`. Default: 1000.
        in_channels (int): Default: 3.
        include_top (bool): with avgpool and fc (False: the encoder alone, whose forward
            returns the layer4 map (N, 512, H/32, W/32)). Default: True.
        zero_init_residual (bool): zero every block's bn2 weight, as torchvision's option.

    Init as torchvision: convs kaiming_normal_(mode='fan_out', nonlinearity='relu'),
    BN weight 1 and bias 0, fc PyTorch's Linear default.

    Shape: (N, 3, H, W) -> (N, num_classes); H, W >= 32 to keep layer4 non-empty.
    """

    def __init__(self, layers=(2, 2, 2, 2), num_classes: int = 1000, in_channels: int = 3,
                 include_top: bool = True, zero_init_residual: bool = False):  # fmt: skip
        super().__init__()
        self.inplanes = 64
        self.conv1 = Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = BatchNorm2d(64)
        self.relu = ReLU()
        self.maxpool = MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=2)
        self.include_top = include_top
        if include_top:
            self.avgpool = AdaptiveAvgPool2d((1, 1))
            self.fc = Linear(512 * BasicBlock.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, BatchNorm2d):
                init.ones_(m.weight)
                init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    init.zeros_(m.bn2.weight)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = Sequential(
                conv1x1(self.inplanes, planes * BasicBlock.expansion, stride),
                BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return Sequential(*layers)

    def forward_features(self, x):
        """The layer4 map (N, 512, H/32, W/32), before pooling."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x):
        x = self.forward_features(x)
        if not self.include_top:
            return x
        return self.fc(flatten(self.avgpool(x), 1))


@register(
    "resnet18",
    "ResNet-18 (torchvision architecture and state_dict keys), ImageNet head by default",
    input_size=(3, 224, 224),
    num_classes=1000,
)
def resnet18(num_classes: int = 1000, in_channels: int = 3, include_top: bool = True,
             zero_init_residual: bool = False, weights=None) -> ResNet:  # fmt: skip
    """torchvision's resnet18.

    Args:
        num_classes (int): Default: 1000.
        in_channels (int): Default: 3.
        include_top (bool): keep avgpool + fc. Default: True.
        zero_init_residual (bool): Default: False.
        weights (str or Path, optional): a torchvision `.pth` or a `.npz` state dict to load
            (with num_classes != 1000 or include_top=False the file's fc is skipped and
            the new head keeps its fresh init).
    """
    model = ResNet((2, 2, 2, 2), num_classes, in_channels, include_top, zero_init_residual)
    if weights is not None:
        from .weights import load_weights

        keep_fc = include_top and num_classes == 1000
        load_weights(model, weights, skip=() if keep_fc else ("fc.",))
    return model


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
