"""Small building blocks shared by the model files, and the size arithmetic they need."""

from __future__ import annotations

from ..kernels.shapes import conv_out
from ..layers import BatchNorm2d, LeakyReLU, ReLU, Sequential
from ..layers.conv import Conv2d


def conv_bn_relu(cin: int, cout: int, kernel_size: int = 3, padding: int = 1) -> Sequential:
    """conv(k, p, s=1) (cin -> cout) + BatchNorm2d + ReLU: the unit most of these nets repeat."""
    return Sequential(Conv2d(cin, cout, kernel_size, padding=padding), BatchNorm2d(cout), ReLU())


def activation(name: str):
    """A fresh activation layer by name: 'relu' or 'leaky_relu' (slope 0.01, PyTorch's default)."""
    key = str(name).lower().replace("-", "_")
    if key == "relu":
        return ReLU()
    if key in ("leaky_relu", "leakyrelu"):
        return LeakyReLU()
    raise ValueError(f"activation must be 'relu' or 'leaky_relu', got {name!r}")


def pooled_size(size: int, kernel_size: int, padding: int, pool: bool = True, who: str = "") -> int:
    """Spatial size after a stride-1 conv (and a 2x2 pool when `pool`), checked to stay >= 1."""
    out = conv_out(size, kernel_size, 1, padding)
    if pool:
        out //= 2
    if out < 1:
        raise ValueError(f"{who}: input size {size} is too small for a k={kernel_size} conv + pool")
    return out
