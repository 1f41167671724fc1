"""The torchvision GoogLeNet (Inception v1, Szegedy et al., 2014) with torchvision's module
names and state_dict keys, auxiliary classifiers included.

    conv1 7x7 s2 p3 (64), maxpool1 3 s2, conv2 1x1 (64), conv3 3x3 p1 (192), maxpool2 3 s2
    inception3a, 3b, maxpool3 3 s2, inception4a .. 4e, maxpool4 2 s2, inception5a, 5b
    avgpool (global), dropout 0.2, fc Linear(1024, num_classes)        (every max pool ceil_mode)
    aux1 on inception4a's output, aux2 on inception4d's (training only): adaptive average pool
    to 4x4, conv 1x1 (128), fc1 Linear(2048, 1024) + ReLU, dropout 0.7, fc2 Linear(1024, classes)

Every conv is a BasicConv2d: conv (no bias) + BatchNorm2d(eps=0.001) + ReLU. An Inception block
concatenates four branches: 1x1; 1x1 then 3x3; 1x1 then 3x3 (torchvision's known deviation from
the paper's 5x5, kept so that its weights load); 3x3 max pool (stride 1) then 1x1.

In training mode with aux_logits the forward returns GoogLeNetOutputs(logits, aux_logits2,
aux_logits1) as torchvision's does, whose second field holds aux1's output (the head on
inception4a) and the third aux2's; otherwise the logits alone. 6,624,904 parameters without the
auxiliary heads (torchvision's model card), 13,004,888 with them.
"""

from __future__ import annotations

from collections import namedtuple

from .. import init
from ..functional import adaptive_avg_pool2d, cat, flatten, relu, unsqueeze
from ..layers import BatchNorm2d, Dropout, Linear, Module, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import AdaptiveAvgPool2d, MaxPool2d
from ._input_size import check_input
from ._registry import register
from .weights import load_weights

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])
GoogLeNetOutputs.__doc__ = (
    "GoogLeNet's training-mode output (torchvision's field names): logits, then the outputs of "
    "aux1 and aux2 in that order."
)
_GoogLeNetOutputs = GoogLeNetOutputs  # torchvision's older name


class BasicConv2d(Module):
    """conv (no bias; kwargs as Conv2d's) + BatchNorm2d(eps=0.001) + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs):
        super().__init__()
        self.conv = Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x):
        return relu(self.bn(self.conv(x)))


class Inception(Module):
    """torchvision's Inception block: four branches concatenated along the channels.

    Args:
        in_channels (int): input channels.
        ch1x1 (int): branch1, a 1x1 conv.
        ch3x3red (int), ch3x3 (int): branch2, 1x1 (-> ch3x3red) then 3x3 (-> ch3x3).
        ch5x5red (int), ch5x5 (int): branch3, 1x1 then 3x3 (torchvision's; the paper has 5x5).
        pool_proj (int): branch4, 3x3 max pool (stride 1, padding 1) then 1x1.
        conv_block: the conv unit. Default: BasicConv2d.

    Shape: (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W).
    """

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int,
                 ch5x5: int, pool_proj: int, conv_block=None):  # fmt: skip
        super().__init__()
        conv_block = BasicConv2d if conv_block is None else conv_block
        self.branch1 = conv_block(in_channels, ch1x1, kernel_size=1)
        self.branch2 = Sequential(
            conv_block(in_channels, ch3x3red, kernel_size=1),
            conv_block(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = Sequential(
            conv_block(in_channels, ch5x5red, kernel_size=1),
            conv_block(ch5x5red, ch5x5, kernel_size=3, padding=1),
        )
        self.branch4 = Sequential(
            MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_block(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x):
        return cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class InceptionAux(Module):
    """torchvision's auxiliary classifier: adaptive average pool to 4x4, conv 1x1 (-> 128),
    flatten, fc1 (2048 -> 1024) + ReLU, dropout, fc2 (-> num_classes).

    Args:
        in_channels (int), num_classes (int).
        conv_block: the conv unit. Default: BasicConv2d.
        dropout (float): before fc2. Default: 0.7.

    Shape: (N, in_channels, H, W) -> (N, num_classes), any H, W.
    """

    def __init__(self, in_channels: int, num_classes: int, conv_block=None,
                 dropout: float = 0.7):  # fmt: skip
        super().__init__()
        conv_block = BasicConv2d if conv_block is None else conv_block
        self.conv = conv_block(in_channels, 128, kernel_size=1)
        self.fc1 = Linear(2048, 1024)
        self.fc2 = Linear(1024, num_classes)
        self.dropout = Dropout(p=dropout)

    def forward(self, x):
        x = flatten(self.conv(adaptive_avg_pool2d(x, (4, 4))), 1)
        return self.fc2(self.dropout(relu(self.fc1(x))))


# torchvision's `transform_input`: inputs normalised with mean 0.5, std 0.5 (the ported
# weights') re-expressed from ImageNet normalisation, channel by channel: x * scale + shift
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class GoogLeNet(Module):
    """torchvision's GoogLeNet.

    Args:
        num_classes (int): Default: 1000.
        aux_logits (bool): build aux1 and aux2 and, in training mode, return
            GoogLeNetOutputs. Default: True.
        transform_input (bool): map an ImageNet-normalised input to the (x - 0.5) / 0.5
            normalisation the ported weights expect. Default: False.
        init_weights (bool or None): torchvision's init: conv and Linear weights
            trunc_normal_(std 0.01, within [-2, 2]), BN weight 1 and bias 0; False keeps
            PyTorch's layer defaults. None means True (torchvision also warns that its default
            may change; no warning here). Default: None.
        blocks (list of 3, optional): [conv_block, inception_block, inception_aux_block].
            Default: [BasicConv2d, Inception, InceptionAux].
        dropout (float): before fc. Default: 0.2.
        dropout_aux (float): in the auxiliary heads. Default: 0.7.
        in_channels (int): channels of the input image (not in torchvision; 3 with
            transform_input). Default: 3.

    Shape: (N, 3, H, W) -> (N, num_classes) (or GoogLeNetOutputs of three of them); H, W >= 15,
    smaller inputs fail with a ValueError naming the max pool that would be empty.
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True,
                 transform_input: bool = False, init_weights: bool | None = None, blocks=None,
                 dropout: float = 0.2, dropout_aux: float = 0.7, in_channels: int = 3):  # fmt: skip
        super().__init__()
        if blocks is None:
            blocks = [BasicConv2d, Inception, InceptionAux]
        if len(blocks) != 3:
            raise ValueError(f"GoogLeNet: blocks length should be 3 instead of {len(blocks)}")
        if transform_input and in_channels != 3:
            raise ValueError(
                f"GoogLeNet: transform_input needs 3 input channels, got in_channels={in_channels}"
            )
        conv_block, inception_block, inception_aux_block = blocks
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.in_channels = in_channels
        self.conv1 = conv_block(in_channels, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = conv_block(64, 64, kernel_size=1)
        self.conv3 = conv_block(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception3a = inception_block(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = inception_block(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = inception_block(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = inception_block(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = inception_block(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = inception_block(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = inception_block(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = MaxPool2d(2, stride=2, ceil_mode=True)
        self.inception5a = inception_block(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = inception_block(832, 384, 192, 384, 48, 128, 128)
        if aux_logits:
            self.aux1 = inception_aux_block(512, num_classes, dropout=dropout_aux)
            self.aux2 = inception_aux_block(528, num_classes, dropout=dropout_aux)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.dropout = Dropout(p=dropout)
        self.fc = Linear(1024, num_classes)
        stem = ["conv1.conv"] if isinstance(getattr(self.conv1, "conv", None), Conv2d) else []
        self._shrinking_layers = [*stem, "maxpool1", "maxpool2", "maxpool3", "maxpool4"]
        if init_weights is None or init_weights:
            for m in self.modules():
                if isinstance(m, (Conv2d, Linear)):
                    init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, BatchNorm2d):
                    init.ones_(m.weight)
                    init.zeros_(m.bias)

    def _transform_input(self, x):
        if not self.transform_input:
            return x
        return cat([unsqueeze(x[:, c], 1) * (s / 0.5) + (m - 0.5) / 0.5
                    for c, (m, s) in enumerate(zip(_IMAGENET_MEAN, _IMAGENET_STD))], 1)  # fmt: skip

    def _forward(self, x):
        """(logits, aux1's output, aux2's output); the aux outputs are None unless training
        with the heads."""
        x = self.maxpool1(self.conv1(x))
        x = self.maxpool2(self.conv3(self.conv2(x)))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(flatten(self.avgpool(x), 1)))
        return x, aux1, aux2

    def forward(self, x):
        check_input(self, x, self.in_channels)
        x, aux1, aux2 = self._forward(self._transform_input(x))
        if self.training and self.aux_logits:
            # torchvision's order: the field named aux_logits2 holds aux1's output
            return GoogLeNetOutputs(x, aux1, aux2)
        return x


@register(
    "googlenet",
    "GoogLeNet / Inception v1 (torchvision architecture and state_dict keys), ImageNet head by "
    "default; counted with its two training-only auxiliary heads (6,624,904 without)",
    input_size=(3, 224, 224),
    num_classes=1000,
)
def googlenet(num_classes: int = 1000, aux_logits: bool | None = None,
              transform_input: bool | None = None, init_weights: bool | None = None,
              dropout: float = 0.2, dropout_aux: float = 0.7, in_channels: int = 3,
              weights=None) -> GoogLeNet:  # fmt: skip
    """torchvision's googlenet.

    Without `weights`: GoogLeNet with aux_logits True and transform_input False unless given.

    With `weights` (a torchvision `.pth`, e.g. googlenet-1378be20.pth, or an `.npz`): as
    torchvision, transform_input defaults to True, the model is built with the auxiliary heads
    to load the whole file, and the heads are then removed (aux1 = aux2 = None,
    aux_logits = False) unless aux_logits=True was asked for (they are not trained in
    torchvision's file). With num_classes != 1000 the file's fc, aux1.fc2 and aux2.fc2 are
    skipped and keep their fresh init.
    """
    if weights is None:
        return GoogLeNet(num_classes, True if aux_logits is None else aux_logits,
                         bool(transform_input), init_weights, None, dropout, dropout_aux,
                         in_channels)  # fmt: skip
    model = GoogLeNet(num_classes, True, True if transform_input is None else transform_input,
                      False, None, dropout, dropout_aux, in_channels)  # fmt: skip
    heads = () if num_classes == 1000 else ("fc.", "aux1.fc2.", "aux2.fc2.")
    load_weights(model, weights, skip=heads)
    if not aux_logits:
        model.aux_logits = False
        model.aux1 = None
        model.aux2 = None
    return model
