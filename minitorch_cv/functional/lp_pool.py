"""Power-average pooling, PyTorch's `lp_pool1d`, `lp_pool2d`, `lp_pool3d`:

    y = (sum over the window of x^p)^(1/p)

computed as PyTorch does, from the average pooling of x^p times the window size (so a ceil_mode
window cut by the border is averaged over its real elements, then scaled by the full size, as
PyTorch). p = inf is the max of |x|, p = -inf its min. No padding argument, as PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..kernels.shapes import pair
from ..tensor import Function
from .conv3d import avg_pool3d, max_pool3d
from .conv_pool_1d import avg_pool1d, max_pool1d
from .pool import avg_pool2d, max_pool2d
from .precision import require_floating


class PowRoot(Function):
    """y = s^(1/p) of the window sums s; dy/ds = y / (p s), and 0 where s = 0, as PyTorch (its
    `sign(s) * relu(|s|)` before the root stops the infinite slope there)."""

    @staticmethod
    def forward(ctx, s, *, p):
        with np.errstate(invalid="ignore"):  # a negative sum of odd powers: NaN, as PyTorch
            y = s ** (1.0 / p)
        ctx.save_for_backward(s, y)
        ctx.p = p
        return y.astype(s.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        s, y = ctx.saved_tensors
        xp = xp_of(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            slope = xp.where(s == 0, 0, y / (ctx.p * xp.where(s == 0, 1, s)))
        return (g * slope).astype(g.dtype, copy=False)


def _lp_pool(op, input, norm_type, kernel_size, stride, ceil_mode, nd, avg, max_):
    if input.ndim not in (nd + 1, nd + 2):
        layout = ("L", "H, W", "D, H, W")[nd - 1]
        raise ValueError(
            f"{op}: expected {nd + 1}-D (C, {layout}) or {nd + 2}-D (N, C, {layout}) input, got "
            f"shape {tuple(input.shape)}"
        )
    require_floating(op, input)
    p = float(norm_type)
    if p == 0 or math.isnan(p):
        raise ValueError(f"{op}: norm_type must be non-zero, got {norm_type!r}")
    for name, v in (("kernel_size", kernel_size), ("stride", stride)):
        if v is not None and min(pair(v, name, nd)) < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {v!r}")
    if math.isinf(p):  # the p-norm's limits: max |x|, or min |x|
        if p > 0:
            return max_(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
        return -max_(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    window = math.prod(pair(kernel_size, "kernel_size", nd))
    with np.errstate(invalid="ignore"):  # a negative x to a fractional p: NaN, as PyTorch
        powered = input**p
    return PowRoot.apply(avg(powered, kernel_size, stride, 0, ceil_mode) * window, p=p)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window along L)^(1/p) of (N, C, L) or (C, L), as `F.lp_pool1d`.
    stride defaults to kernel_size."""
    return _lp_pool("lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode, 1,
                    avg_pool1d, max_pool1d)  # fmt: skip


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each window)^(1/p) of (N, C, H, W) or (C, H, W), as `F.lp_pool2d`
    (p = 1: sum pooling; p = 2: the windows' Euclidean norms). stride defaults to kernel_size."""
    return _lp_pool("lp_pool2d", input, norm_type, kernel_size, stride, ceil_mode, 2,
                    avg_pool2d, max_pool2d)  # fmt: skip


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """(sum of x^p over each 3-D window)^(1/p) of (N, C, D, H, W) or (C, D, H, W), as
    `F.lp_pool3d`. stride defaults to kernel_size."""
    return _lp_pool("lp_pool3d", input, norm_type, kernel_size, stride, ceil_mode, 3,
                    avg_pool3d, max_pool3d)  # fmt: skip
