"""F. The three-layer CIFAR-10 CNN and every ablation of its report (SEED_MODELS.md section F).

Default (inputs scaled to [-0.5, 0.5]):
    conv5 valid 24 + ReLU + pool2     3x32x32 -> 24x28x28 -> 24x14x14
    conv3 valid 48 + ReLU + pool2              -> 48x12x12 -> 48x6x6
    conv3 valid 96 + pool2 (no ReLU)           -> 96x4x4   -> 96x2x2
    flatten 384, Linear(384, 512) + ReLU, Linear(512, 10)

The ablations are constructor options, so each row of the report is one `get('three-layer', ...)`:
    filters=(64, 128, 256)    kernel_sizes=(7, 5, 3)    extra_fc=128 (a Linear(512, 128) + act)
    activation='leaky_relu'   dropout=0.3 (after each hidden Linear's activation)
    batch_norm=True (BatchNorm2d / BatchNorm1d right after each activation, before pooling)
The flattened width follows from the options: filters[2] * side**2 after the three pools.
"""

from __future__ import annotations

from ..layers import BatchNorm1d, BatchNorm2d, Dropout, Flatten, Linear, Module, Sequential
from ..layers.conv import Conv2d
from ..layers.pool import MaxPool2d
from ._blocks import activation as make_activation
from ._blocks import pooled_size
from ._registry import register


@register(
    "three-layer",
    "F: conv5-conv3-conv3 (24-48-96) + FC 384-512-10, CIFAR-10; ablations as options "
    "(reported recall 0.6932)",
    input_size=(3, 32, 32),
    num_classes=10,
)
class ThreeLayerCNN(Module):
    """Three valid convs with 2x2 pools (no activation after the third) and an MLP head.

    Args:
        in_channels (int): Default: 3.
        num_classes (int): Default: 10.
        filters (tuple of 3 ints): conv widths. Default: (24, 48, 96).
        kernel_sizes (tuple of 3 ints): conv kernels, no padding. Default: (5, 3, 3).
        hidden (int): width of the first Linear. Default: 512.
        extra_fc (int or None): width of an extra Linear + activation after it. Default: None.
        activation (str): 'relu' or 'leaky_relu' (slope 0.01). Default: 'relu'.
        dropout (float): Dropout p after each hidden Linear's activation (0: none). Default: 0.
        batch_norm (bool): BatchNorm after each activation. Default: False.
        image_size (int): input height = width. Default: 32.

    Shape: (N, 3, S, S) -> (N, num_classes).
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, filters=(24, 48, 96),
                 kernel_sizes=(5, 3, 3), hidden: int = 512, extra_fc: int | None = None,
                 activation: str = "relu", dropout: float = 0.0, batch_norm: bool = False,
                 image_size: int = 32):  # fmt: skip
        super().__init__()
        filters, kernel_sizes = tuple(filters), tuple(kernel_sizes)
        if len(filters) != 3 or len(kernel_sizes) != 3:
            raise ValueError(
                f"ThreeLayerCNN: filters and kernel_sizes need 3 entries, got {filters} and "
                f"{kernel_sizes}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"ThreeLayerCNN: dropout must be in [0, 1), got {dropout}")
        self.config = dict(filters=filters, kernel_sizes=kernel_sizes, hidden=hidden,
                           extra_fc=extra_fc, activation=activation, dropout=dropout,
                           batch_norm=batch_norm)  # fmt: skip
        layers, cin, side = [], in_channels, image_size
        for i, (c, k) in enumerate(zip(filters, kernel_sizes)):
            layers.append(Conv2d(cin, c, k))
            if i < 2:  # the third conv has no activation
                layers.append(make_activation(activation))
                if batch_norm:
                    layers.append(BatchNorm2d(c))
            layers.append(MaxPool2d(2))
            cin, side = c, pooled_size(side, k, 0, who="ThreeLayerCNN")
        self.features = Sequential(*layers)

        widths = [cin * side * side, hidden] + ([extra_fc] if extra_fc else [])
        head = [Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            head += [Linear(a, b), make_activation(activation)]
            if batch_norm:
                head.append(BatchNorm1d(b))
            if dropout > 0:
                head.append(Dropout(dropout))
        head.append(Linear(widths[-1], num_classes))
        self.classifier = Sequential(*head)

    def forward(self, x):
        return self.classifier(self.features(x))
