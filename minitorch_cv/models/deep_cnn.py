"""C. The plain deep CNN (MNIST) and its ResBlock variant (CIFAR-10), SEED_MODELS.md section C.

    plain    4 x [conv3 p1 + ReLU + pool2] with 64, 128, 256, 512 filters,
             then Linear(512, 256) + ReLU, Linear(256, 10)                  (MNIST, 28 -> 1)
    residual 4 x [conv3 p1 + ReLU, ResBlock(c -> c), pool2], same filters,
             then Linear(2048, 512) + ReLU, Linear(512, 128) + ReLU, Linear(128, 10)
                                                                            (CIFAR-10, 32 -> 2)

SEED_MODELS.md leaves two things open; the choices built here:
- "a ResBlock after each conv": conv3 + ReLU, then the ResBlock, then the pool.
- "Three FC layers 2048->512->128->10 style": exactly Linear(2048, 512) + ReLU,
  Linear(512, 128) + ReLU, Linear(128, 10) (2048 = 512 channels x 2 x 2).
Convolutions keep PyTorch's default bias=True, as the report's nn.Conv2d calls would.
"""

from __future__ import annotations

from ..layers import BatchNorm2d, Flatten, Identity, Linear, Module, ReLU, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import MaxPool2d
from ._registry import register


class ResBlock(Module):
    """conv3 (stride s) + BN + ReLU, conv3 + BN; shortcut identity or conv1x1 + BN; add, ReLU.

    Args:
        in_channels (int), out_channels (int).
        stride (int): stride of the first conv and of the shortcut. Default: 1.

    The shortcut is a conv1x1 + BN exactly when the shape changes (stride != 1 or
    in_channels != out_channels), the identity otherwise.

    Shape: (N, cin, H, W) -> (N, cout, floor((H - 1) / s) + 1, floor((W - 1) / s) + 1).
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.bn1 = BatchNorm2d(out_channels)
        self.relu = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = Sequential(
                Conv2d(in_channels, out_channels, 1, stride=stride), BatchNorm2d(out_channels)
            )
        else:
            self.shortcut = Identity()

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@register(
    "deep-cnn-res-cifar10",
    "C: 4 conv + ResBlock stages 64-512, FC 2048-512-128-10, CIFAR-10 (reported 76.83 %)",
    input_size=(3, 32, 32),
    num_classes=10,
    in_channels=3,
    image_size=32,
    residual=True,
    hidden=(512, 128),
)
@register(
    "deep-cnn-mnist",
    "C: 4 x [conv3 + ReLU + pool2] 64-512, FC 512-256-10, MNIST (reported 93.76 %)",
    input_size=(1, 28, 28),
    num_classes=10,
)
class DeepCNN(Module):
    """Stages of conv3 p1 + ReLU (+ ResBlock) + pool2, then Linear + ReLU layers.

    Args:
        in_channels (int): Default: 1.
        num_classes (int): Default: 10.
        channels (tuple): filters per stage. Default: (64, 128, 256, 512).
        residual (bool): a ResBlock(c -> c) after each stage's conv. Default: False.
        hidden (tuple): widths of the hidden Linear + ReLU layers. Default: (256,).
        image_size (int): input height = width, to size the first Linear. Default: 28.

    Shape: (N, in_channels, S, S) -> (N, num_classes); the first Linear takes
        channels[-1] * (S // 2**len(channels))**2 features.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, channels=(64, 128, 256, 512),
                 residual: bool = False, hidden=(256,), image_size: int = 28):  # fmt: skip
        super().__init__()
        stages, cin, side = [], in_channels, image_size
        for c in channels:
            layers = [Conv2d(cin, c, 3, padding=1), ReLU()]
            if residual:
                layers.append(ResBlock(c, c))
            layers.append(MaxPool2d(2))
            stages.append(Sequential(*layers))
            cin, side = c, side // 2
        if side < 1:
            raise ValueError(
                f"DeepCNN: image_size {image_size} is too small for {len(channels)} 2x2 pools"
            )
        self.features = Sequential(*stages)
        widths = [cin * side * side, *hidden]
        head = [Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            head += [Linear(a, b), ReLU()]
        head.append(Linear(widths[-1], num_classes))
        self.classifier = Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))
