"""Padding layers (PyTorch's ZeroPad2d ... CircularPad2d): F.pad with a fixed width and mode.

`padding` is an int (all four sides) or (left, right, top, bottom), as in PyTorch; negative
widths crop (see F.pad). Shape: (N, C, H, W) or (C, H, W) -> (..., H + top + bottom,
W + left + right); the constant pads take any input with at least two dims.
"""

from __future__ import annotations

import operator

from ..functional.shape import pad
from .module import Module


class _Pad2d(Module):
    mode, value = "constant", None  # value: ConstantPad2d's fill (None: zeros)

    def __init__(self, padding) -> None:
        super().__init__()
        try:  # ints only, as PyTorch: 1.7 is an error, not a width of 1
            padding = (operator.index(padding),) * 4
        except TypeError:
            try:
                padding = tuple(operator.index(p) for p in padding)
            except TypeError:
                raise TypeError(
                    f"{type(self).__name__}: padding must be an int or ints, got {padding!r}"
                ) from None
        if len(padding) != 4:
            raise ValueError(
                f"{type(self).__name__}: padding must be an int or (left, right, top, bottom), "
                f"got {padding!r}"
            )
        self.padding = padding

    def forward(self, input):
        if self.mode != "constant" and input.ndim not in (3, 4):  # as PyTorch
            raise ValueError(f"expected 3-D or 4-D input, got shape {tuple(input.shape)}")
        return pad(input, self.padding, self.mode, self.value)

    def extra_repr(self) -> str:
        return str(self.padding)


class ConstantPad2d(_Pad2d):
    """Pad with a constant `value`."""

    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(_Pad2d):
    """Pad with zeros (what Conv2d's padding does inside the convolution)."""


class ReflectionPad2d(_Pad2d):
    """Mirror the input at its border without repeating the edge: [a b c] -> b [a b c] b.
    Each width must be smaller than the padded dimension."""

    mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Repeat the edge pixel: [a b c] -> a [a b c] c."""

    mode = "replicate"


class CircularPad2d(_Pad2d):
    """Wrap around, as on a torus: [a b c] -> c [a b c] a. Each width at most the dimension."""

    mode = "circular"
