"""Padding layers (PyTorch's ZeroPad1d ... CircularPad3d): F.pad with a fixed width and mode.

`padding` is an int (every side) or one (before, after) pair per padded dim, last dim first, as
in PyTorch: (left, right) for 1-D, (left, right, top, bottom) for 2-D and (left, right, top,
bottom, front, back) for 3-D. Negative widths crop (see F.pad).

Shape: a k-D layer pads the last k dims. Reflection, replication and circular padding take a
batched (N, C, *k dims) or unbatched (C, *k dims) input, as PyTorch; the constant pads take any
input with at least k dims. E.g. ReflectionPad3d: (N, C, D, H, W) -> (N, C, D + front + back,
H + top + bottom, W + left + right).
"""

from __future__ import annotations

import operator

from ..functional.shape import pad
from .module import Module

_SIDES = {
    1: "(left, right)",
    2: "(left, right, top, bottom)",
    3: "(left, right, top, bottom, front, back)",
}


class _PadNd(Module):
    """Shared body: checks and stores `padding` (2k ints), pads the last k dims in `mode`."""

    _k = 2  # padded dims
    mode, value = "constant", None  # value: the constant pads' fill

    def __init__(self, padding) -> None:
        super().__init__()
        n = 2 * self._k
        given = padding
        try:  # ints only, as PyTorch: 1.7 (or True) is an error, not a width of 1
            padding = (operator.index(padding),) * n
        except TypeError:
            try:
                padding = tuple(operator.index(p) for p in padding)
            except TypeError:
                padding = None
        flat = given if isinstance(given, (tuple, list)) else (given,)
        if padding is None or any(isinstance(p, bool) for p in flat):
            raise TypeError(f"{type(self).__name__}: padding must be an int or ints, got {given!r}")
        if len(padding) != n:
            raise ValueError(
                f"{type(self).__name__}: padding must be an int or {_SIDES[self._k]}, "
                f"got {padding!r}"
            )
        self.padding = padding

    def forward(self, input):
        k = self._k
        if self.mode != "constant" and input.ndim not in (k + 1, k + 2):  # as PyTorch
            raise ValueError(
                f"expected {k + 1}-D or {k + 2}-D input, got shape {tuple(input.shape)}"
            )
        return pad(input, self.padding, self.mode, self.value)

    def extra_repr(self) -> str:
        return str(self.padding)


# --------------------------------------------------------------------------- constant


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float) -> None:
        super().__init__(padding)
        self.value = value

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant `value`: (*, W) -> (*, W + left + right)."""

    _k = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant `value`."""

    _k = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant `value`."""

    _k = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros (a ConstantPad1d with value 0.0, as in PyTorch)."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return str(self.padding)


class ZeroPad2d(ConstantPad2d):
    """Pad with zeros (what Conv2d's padding does inside the convolution)."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return str(self.padding)


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dims with zeros."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return str(self.padding)


# --------------------------------------------------------------------------- reflection


class ReflectionPad1d(_PadNd):
    """Mirror the input at its border without repeating the edge: [a b c] -> b [a b c] b.
    Each width must be smaller than the padded dimension. Input (N, C, W) or (C, W)."""

    _k, mode = 1, "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror the input at its border without repeating the edge: [a b c] -> b [a b c] b.
    Each width must be smaller than the padded dimension."""

    _k, mode = 2, "reflect"


class ReflectionPad3d(_PadNd):
    """Mirror a volume at its six faces. Input (N, C, D, H, W) or (C, D, H, W)."""

    _k, mode = 3, "reflect"


# --------------------------------------------------------------------------- replication


class ReplicationPad1d(_PadNd):
    """Repeat the edge value: [a b c] -> a [a b c] c. Input (N, C, W) or (C, W)."""

    _k, mode = 1, "replicate"


class ReplicationPad2d(_PadNd):
    """Repeat the edge pixel: [a b c] -> a [a b c] c."""

    _k, mode = 2, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeat the edge voxel. Input (N, C, D, H, W) or (C, D, H, W)."""

    _k, mode = 3, "replicate"


# --------------------------------------------------------------------------- circular


class CircularPad1d(_PadNd):
    """Wrap around, as on a ring: [a b c] -> c [a b c] a. Each width at most the dimension.
    Input (N, C, W) or (C, W)."""

    _k, mode = 1, "circular"


class CircularPad2d(_PadNd):
    """Wrap around, as on a torus: [a b c] -> c [a b c] a. Each width at most the dimension."""

    _k, mode = 2, "circular"


class CircularPad3d(_PadNd):
    """Wrap around in all three dims. Input (N, C, D, H, W) or (C, D, H, W)."""

    _k, mode = 3, "circular"
