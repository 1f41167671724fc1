"""Reductions: sum, mean, max/min, var/std, prod, logsumexp, norm."""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor

values_indices = namedtuple("values_indices", ["values", "indices"])


def _axes(dim, ndim, op):
    """Normalise `dim` (None, int or tuple; None and () mean all, as in PyTorch) to a sorted tuple
    of non-negative axes."""
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim or ())
    if not dims:
        return tuple(range(ndim))
    n = builtins.max(ndim, 1)  # a 0-d tensor accepts dim 0 and -1, as in PyTorch
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"{op}: dim {d} out of range for a tensor with {ndim} dimensions")
    return tuple(sorted({d % n for d in dims})) if ndim else ()


def _dropped(shape, axes):
    """`shape` without the reduced `axes` (the keepdim=False output shape)."""
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def _expand_back(g, in_shape, axes, keepdim):
    """Broadcast a reduced gradient back over the reduced axes."""
    xp = xp_of(g)
    if not keepdim and axes:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(in_shape)])
    return xp.broadcast_to(g, in_shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        ctx.in_shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g, ctx.in_shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        ctx.in_shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        return a.mean(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        return _expand_back(g / ctx.count, ctx.in_shape, ctx.axes, ctx.keepdim)


class Prod(Function):
    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        ctx.save_for_backward(a, None)
        ctx.axes, ctx.keepdim = axes, keepdim
        return a.prod(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        a, _ = ctx.saved_tensors
        xp = xp_of(a)
        k = len(ctx.axes)
        g = _expand_back(g, a.shape, ctx.axes, ctx.keepdim)
        # d(prod)/da_i = product of all the other factors = (prefix product) * (suffix product);
        # exact even when some factor is zero, unlike prod / a_i.
        moved = xp.moveaxis(a, ctx.axes, tuple(range(k)))
        flat = moved.reshape(-1, int(np.prod(moved.shape[k:], dtype=np.int64)))
        one = xp.ones((1, flat.shape[1]), dtype=a.dtype)
        prefix = xp.concatenate([one, xp.cumprod(flat, axis=0)[:-1]])
        suffix = xp.concatenate([xp.cumprod(flat[::-1], axis=0)[::-1][1:], one])
        others = xp.moveaxis((prefix * suffix).reshape(moved.shape), tuple(range(k)), ctx.axes)
        return g * others


class AMaxMin(Function):
    """Largest/smallest value over `axes` (amax, amin, and max/min without dim): elements that tie
    for it share the gradient evenly (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim, is_max):
        y = (a.max if is_max else a.min)(axis=axes, keepdims=True)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(a == y)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(_dropped(a.shape, axes))

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        share = mask / mask.sum(axis=ctx.axes, keepdims=True, dtype=g.dtype)
        return _expand_back(g, mask.shape, ctx.axes, ctx.keepdim) * share


class MaxMinDim(Function):
    """max/min along a dim, returning (values, indices); the gradient goes to the index taken."""

    @staticmethod
    def forward(ctx, a, *, dim, keepdim, is_max):
        xp = xp_of(a)
        idx = (a.argmax if is_max else a.argmin)(axis=dim)
        idx_k = xp.expand_dims(idx, dim)
        values = xp.take_along_axis(a, idx_k, axis=dim)
        ctx.in_shape, ctx.dim, ctx.keepdim, ctx.idx_k = a.shape, dim, keepdim, idx_k
        if not keepdim:
            values = values.squeeze(dim)
        return values, (idx_k if keepdim else idx).astype(np.int64)

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        if not ctx.keepdim:
            g = xp.expand_dims(g, ctx.dim)
        out = xp.zeros(ctx.in_shape, dtype=g.dtype)
        xp.put_along_axis(out, ctx.idx_k, g, axis=ctx.dim)
        return out


class LogSumExp(Function):
    """y = m + log(sum(e)) with e = exp(x - m), m the max (so exp never overflows);
    dy/dx = e / sum(e), the softmax, kept from the forward pass (exact even in float32)."""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        xp = xp_of(a)
        m = a.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf: log(0) = -inf rather than nan
        e = xp.exp(a - m)
        s = e.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = xp.log(s) + m
            ctx.save_for_backward(e / s)  # nan for a row of -inf, as in PyTorch
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(_dropped(a.shape, axes))

    @staticmethod
    def backward(ctx, g):
        (p,) = ctx.saved_tensors
        return _expand_back(g, p.shape, ctx.axes, ctx.keepdim) * p


class Var(Function):
    """var = sum((a - mean)^2) / (n - correction);  dvar/da = 2 (a - mean) / (n - correction)."""

    @staticmethod
    def forward(ctx, a, *, axes, correction, keepdim):
        mean = a.mean(axis=axes, keepdims=True)
        d = a - mean
        n = int(np.prod([a.shape[i] for i in axes])) if axes else 1
        denom = builtins.max(n - correction, 0)  # 0 gives inf or nan, as in PyTorch
        with np.errstate(divide="ignore", invalid="ignore"):
            y = (d * d).sum(axis=axes, keepdims=keepdim) / denom
        ctx.save_for_backward(d)
        ctx.axes, ctx.keepdim, ctx.denom = axes, keepdim, denom
        return y.astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        scale = 2.0 / ctx.denom if ctx.denom else math.nan
        return _expand_back(g, d.shape, ctx.axes, ctx.keepdim) * (scale * d)


# --------------------------------------------------------------------------- public API


def sum(input, dim=None, keepdim=False):  # noqa: A001
    return Sum.apply(input, axes=_axes(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False):
    if input.dtype.kind != "f":
        raise TypeError(f"mean: input dtype should be floating point, got {input.dtype}")
    return Mean.apply(input, axes=_axes(dim, input.ndim, "mean"), keepdim=keepdim)


def prod(input, dim=None, keepdim=False):
    return Prod.apply(input, axes=_axes(dim, input.ndim, "prod"), keepdim=keepdim)


def _max_min(input, dim, keepdim, is_max):
    name = "max" if is_max else "min"
    if isinstance(dim, Tensor):  # torch.max(a, b) is the element-wise maximum
        from .elementwise import maximum, minimum

        return (maximum if is_max else minimum)(input, dim)
    if input.numel() == 0:
        raise ValueError(f"{name}: cannot reduce an empty tensor of shape {input.shape}")
    if dim is None:
        return AMaxMin.apply(
            input, axes=_axes(None, input.ndim, name), keepdim=False, is_max=is_max
        )
    if input.ndim == 0:
        zero = xp_of(input._data).zeros((), np.int64)  # on the input's device
        return values_indices(input, Tensor(zero))  # torch.max(scalar, 0)
    (axis,) = _axes(dim, input.ndim, name)
    values, indices = MaxMinDim.apply(input, dim=axis, keepdim=keepdim, is_max=is_max)
    return values_indices(values, indices)


def max(input, dim=None, keepdim=False):  # noqa: A001
    """The largest element, or `(values, indices)` along `dim` (as `torch.max`)."""
    return _max_min(input, dim, keepdim, True)


def min(input, dim=None, keepdim=False):  # noqa: A001
    """The smallest element, or `(values, indices)` along `dim` (as `torch.min`)."""
    return _max_min(input, dim, keepdim, False)


def amax(input, dim=None, keepdim=False):
    """The largest value over `dim` (an int, a tuple, or None for all); ties share the gradient."""
    if input.numel() == 0:
        raise ValueError(f"amax: cannot reduce an empty tensor of shape {input.shape}")
    return AMaxMin.apply(input, axes=_axes(dim, input.ndim, "amax"), keepdim=keepdim, is_max=True)


def amin(input, dim=None, keepdim=False):
    """The smallest value over `dim` (an int, a tuple, or None for all); ties share the gradient."""
    if input.numel() == 0:
        raise ValueError(f"amin: cannot reduce an empty tensor of shape {input.shape}")
    return AMaxMin.apply(input, axes=_axes(dim, input.ndim, "amin"), keepdim=keepdim, is_max=False)


def var(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """Variance; `correction` (default 1, or 0 when unbiased=False) is subtracted from n."""
    if correction is None:
        correction = 1 if unbiased else 0
    return Var.apply(
        input, axes=_axes(dim, input.ndim, "var"), correction=correction, keepdim=keepdim
    )


def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    from .elementwise import sqrt

    return sqrt(var(input, dim, unbiased, keepdim, correction=correction))


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over `dim` (int or tuple), computed stably."""
    return LogSumExp.apply(input, axes=_axes(dim, input.ndim, "logsumexp"), keepdim=keepdim)


class Norm(Function):
    """p-norm (sum |x|^p)^(1/p) over `axes`, p finite and > 0. Its gradient
    sign(x) |x|^(p-1) / norm^(p-1) is 0/0 at a zero norm (a zero-initialised bias): there it
    is 0, the subgradient PyTorch uses, and so is every entry where x = 0."""

    @staticmethod
    def forward(ctx, a, *, p, axes, keepdim):
        xp = xp_of(a)
        power = a * a if p == 2 else xp.abs(a) ** p
        n = power.sum(axis=axes, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(a, n)
        ctx.p = p
        return n if keepdim else n.reshape(_dropped(a.shape, axes))

    @staticmethod
    def backward(ctx, g):
        a, n = ctx.saved_tensors
        xp, p = xp_of(a), ctx.p
        zero = n == 0
        n = xp.where(zero, 1, n)
        with np.errstate(divide="ignore", invalid="ignore"):  # |0|^(p-1) for p < 1
            d = a / n if p == 2 else xp.sign(a) * xp.abs(a) ** (p - 1) / n ** (p - 1)
        d = xp.where(zero | (a == 0), 0, d)
        return (g.reshape(n.shape) * d).astype(a.dtype, copy=False)


def norm(input, p=2, dim=None, keepdim=False):
    """The p-norm over `dim` (int, tuple, or None for all); p a positive number or inf
    (the largest |x|). The gradient at a zero norm is 0, as in PyTorch."""
    if p in (math.inf, "inf"):
        from .elementwise import abs

        return amax(abs(input), dim, keepdim)
    if isinstance(p, str) or not p > 0:
        raise ValueError(f"norm: p must be a positive number or inf, got {p!r}")
    return Norm.apply(input, p=float(p), axes=_axes(dim, input.ndim, "norm"), keepdim=keepdim)
