"""Reductions: sum, mean, max/min, var/std, prod, logsumexp, norm; the order statistics median,
kthvalue, mode, quantile; the NaN-aware nansum, nanmean, nanmedian, nanquantile; count_nonzero,
aminmax, var_mean, std_mean, trace; the scans cumprod, cummax, cummin, logcumsumexp, diff; and the
non-differentiable searchsorted, bucketize, histc."""

from __future__ import annotations

import builtins
import math
from collections import namedtuple

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, get_default_dtype
from .elementwise import cast, sub
from .precision import half_as_float32, require_floating
from .shape import _dim, cat, index

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


def _int64_sum(a):
    """Integers and bools sum and multiply in int64, as PyTorch (NumPy: uint8 in uint64)."""
    return np.int64 if a.dtype.kind in "biu" else None


class Sum(Function):
    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        ctx.in_shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return a.sum(axis=axes, keepdims=keepdim, dtype=_int64_sum(a))

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
        return a.prod(axis=axes, keepdims=keepdim, dtype=_int64_sum(a))

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


def sum(input, dim=None, keepdim=False, *, dtype=None):  # noqa: A001
    """The sum over `dim` (an int, a tuple, or None for all); integers and bools sum in int64,
    `dtype` casts the input first (as torch.sum)."""
    if dtype is not None:
        input = cast(input, dtype)
    return Sum.apply(input, axes=_axes(dim, input.ndim, "sum"), keepdim=keepdim)


def mean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean over `dim`; floating point only (`dtype=` casts an integer tensor first)."""
    if dtype is not None:
        input = cast(input, dtype)
    require_floating("mean", input)
    return Mean.apply(input, axes=_axes(dim, input.ndim, "mean"), keepdim=keepdim)


def prod(input, dim=None, keepdim=False, *, dtype=None):
    """The product over `dim`; integers and bools multiply in int64, `dtype` casts first."""
    if dtype is not None:
        input = cast(input, dtype)
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
    """Variance; `correction` (default 1, or 0 when unbiased=False) is subtracted from n.
    float16 is computed in float32 (its squares overflow past 256), as PyTorch."""
    require_floating("var", input)
    if correction is None:
        correction = 1 if unbiased else 0
    axes = _axes(dim, input.ndim, "var")
    return half_as_float32(
        lambda x: Var.apply(x, axes=axes, correction=correction, keepdim=keepdim), input
    )


def std(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """sqrt(var); float16 in float32 throughout (a std of 300 has a variance float16 cannot
    hold)."""
    from .elementwise import sqrt

    require_floating("std", input)
    return half_as_float32(
        lambda x: sqrt(var(x, dim, unbiased, keepdim, correction=correction)), input
    )


def logsumexp(input, dim, keepdim=False):
    """log(sum(exp(x))) over `dim` (int or tuple), computed stably; an integer tensor in the
    default float dtype, as PyTorch."""
    if input.dtype.kind != "f":
        input = input.to(get_default_dtype())
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
    (the largest |x|). The gradient at a zero norm is 0, as in PyTorch. float16 is summed in
    float32 (|x|^p overflows float16 long before the norm does)."""
    require_floating("norm", input)
    if p in (math.inf, "inf"):
        from .elementwise import abs

        return amax(abs(input), dim, keepdim)
    if isinstance(p, str) or not p > 0:
        raise ValueError(f"norm: p must be a positive number or inf, got {p!r}")
    axes = _axes(dim, input.ndim, "norm")
    return half_as_float32(lambda x: Norm.apply(x, p=float(p), axes=axes, keepdim=keepdim), input)


# --------------------------------------------------------------------------- order statistics,
# NaN-aware reductions, scans and searches (torch.median ... torch.histc)
#
# The (values, indices) ops find their indices on the raw array (a sort, or a scan), then read the
# values through `TakeAlongDim`, whose backward adds the gradient back at those indices: the
# gradient goes to the selected element, as in PyTorch.


def _values_indices(values, indices):
    # imported here: indexing.py may one day import this module (a cycle at import time)
    from .indexing import _ValuesIndices

    return _ValuesIndices(values, indices)


_MinMax = namedtuple("aminmax", ["min", "max"])


def _scan(op, a, axis=-1):
    """Inclusive scan of the associative ufunc `op` (maximum, logaddexp, ...) along `axis`:
    out[i] = op(a[0], ..., a[i]). NumPy: the ufunc's own `accumulate` (one pass); CuPy, whose ufuncs
    have no `accumulate` for most ops: `_doubling_scan`."""
    return op.accumulate(a, axis=axis) if xp_of(a) is np else _doubling_scan(op, a, axis)


def _doubling_scan(op, a, axis):
    """`_scan` by Hillis-Steele doubling: ceil(log2 n) whole-array steps, on either backend."""
    xp = xp_of(a)
    out = xp.moveaxis(a, axis, -1).copy()
    n, d = out.shape[-1], 1
    while d < n:  # (the right side is built before it is stored)
        out[..., d:] = op(out[..., d:], out[..., :-d])
        d *= 2
    return xp.moveaxis(out, -1, axis)


def _scatter_add_along(g, idx, dim, shape):
    """Zeros of `shape` with g[i] added at idx[i] along `dim` (repeated indices add up): the
    adjoint of take_along_axis. One bincount over flat positions, on either backend."""
    xp = xp_of(g)
    gm, im = xp.moveaxis(g, dim, -1), xp.moveaxis(idx, dim, -1)
    n = shape[dim]
    rows = int(np.prod(im.shape[:-1], dtype=np.int64))
    flat = (xp.arange(rows).reshape(im.shape[:-1] + (1,)) * n + im).reshape(-1)
    out = xp.bincount(flat, weights=gm.reshape(-1), minlength=rows * n)
    out = out.astype(g.dtype, copy=False).reshape(im.shape[:-1] + (n,))
    return xp.moveaxis(out, -1, dim)


class TakeAlongDim(Function):
    """values = a read at `idx` along `dim` (idx: a's shape, any length along dim; with
    squeeze, length 1 and the dim dropped from the result). The gradient is added back at idx."""

    @staticmethod
    def forward(ctx, a, *, idx, dim, squeeze):
        ctx.idx, ctx.dim, ctx.squeeze, ctx.in_shape = idx, dim, squeeze, a.shape
        y = xp_of(a).take_along_axis(a, idx, axis=dim)
        return y.squeeze(dim) if squeeze else y

    @staticmethod
    def backward(ctx, g):
        if ctx.squeeze:
            g = xp_of(g).expand_dims(g, ctx.dim)
        return _scatter_add_along(g, ctx.idx, ctx.dim, ctx.in_shape)


def _select(input, idx, dim, keepdim):
    """(values, indices) from one index per slice along `dim` (idx keeps that dim, length 1)."""
    values = TakeAlongDim.apply(input, idx=idx, dim=dim, squeeze=not keepdim)
    return _values_indices(values, Tensor(idx if keepdim else idx.squeeze(dim)))


class EvenSelect(Function):
    """One value picked out of the whole tensor (median without dim): its gradient is shared
    evenly by every element equal to it (every NaN when it is NaN), PyTorch's rule for ties."""

    @staticmethod
    def forward(ctx, a, *, value):
        xp = xp_of(a)
        mask = xp.isnan(a) if value != value else a == value  # (NaN != NaN)
        ctx.save_for_backward(mask)
        return xp.asarray(value, dtype=a.dtype)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return mask * (g / mask.sum(dtype=g.dtype))


def _reduce_dim(input, dim, op):
    """The one dim of a (values, indices) reduction, as a non-negative axis; its slices must not
    be empty (a reduction over nothing has no value to pick)."""
    if isinstance(dim, (tuple, list)) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    (axis,) = _axes(dim, input.ndim, op) or (0,)
    if input.ndim and input.shape[axis] == 0:
        raise ValueError(
            f"{op}: cannot reduce dim {dim} of size 0 (input of shape {tuple(input.shape)})"
        )
    return axis


def _scalar_pick(input):
    """torch's answer for a 0-d input with dim 0 or -1: a copy of the value and index 0."""
    return _values_indices(input.clone(), Tensor(xp_of(input._data).zeros((), np.int64)))


def _rank_index(x, k, axis):
    """Index (kept dim, length 1) of the element at rank k (from 0) along `axis` in ascending order,
    NaN last: a selection (argpartition, O(n) a slice), not a sort."""
    order = xp_of(x).argpartition(x, k, axis=axis)
    return order[(slice(None),) * axis + (slice(k, k + 1),)]


def _median_index(x, axis, ignore_nan):
    """Index (kept dim, length 1) of the lower median along `axis`: the element at rank
    (n - 1) // 2 in ascending order. median: a slice holding NaN picks its first NaN; nanmedian
    ranks only the non-NaN values (index 0 when all are NaN), with a sort when NaNs make that rank
    differ from slice to slice."""
    xp = xp_of(x)
    n = x.shape[axis]
    if x.dtype.kind != "f":
        return _rank_index(x, (n - 1) // 2, axis)
    nan = xp.isnan(x)
    if not ignore_nan:
        first_nan = xp.expand_dims(nan.argmax(axis=axis), axis)
        mid = _rank_index(x, (n - 1) // 2, axis)
        return xp.where(nan.any(axis=axis, keepdims=True), first_nan, mid)
    count = n - nan.sum(axis=axis, keepdims=True)
    if bool((count == n).all()):  # no NaN: every slice takes the same rank
        return _rank_index(x, (n - 1) // 2, axis)
    order = xp.argsort(x, axis=axis, kind="stable")  # (stable: an all-NaN slice gives index 0)
    return xp.take_along_axis(order, xp.maximum((count - 1) // 2, 0), axis=axis)


def _median(input, dim, keepdim, ignore_nan, op):
    x = input._data
    xp = xp_of(x)
    if dim is None:
        if x.size == 0:  # torch gives nan here rather than an error
            if x.dtype.kind != "f":
                raise ValueError(f"{op}: cannot take the median of an empty {x.dtype} tensor")
            return Tensor(xp.full((), np.nan, dtype=x.dtype))
        flat = x.reshape(-1)
        if x.dtype.kind == "f" and bool(xp.isnan(flat).any()):
            flat = flat[~xp.isnan(flat)] if ignore_nan else flat[:0]  # median: NaN
        k = (flat.size - 1) // 2
        value = xp.partition(flat, k)[k].item() if flat.size else math.nan
        return EvenSelect.apply(input, value=value)
    axis = _reduce_dim(input, dim, op)
    if input.ndim == 0:
        return _scalar_pick(input)
    return _select(input, _median_index(x, axis, ignore_nan), axis, keepdim)


def median(input, dim=None, keepdim=False):
    """Without dim: the lower median of all elements (the smaller of the two middle ones for an
    even count; NaN if any element is NaN), its gradient shared by the elements equal to it.
    With dim: `(values, indices)` along it, the gradient to the index. Which of several tied
    elements the index names is left open, as in torch (a slice with NaN gives its first NaN, as
    torch). Found by selection (argpartition), not a full sort."""
    return _median(input, dim, keepdim, False, "median")


def nanmedian(input, dim=None, keepdim=False):
    """`median` of the non-NaN values (NaN only where every value is NaN)."""
    return _median(input, dim, keepdim, True, "nanmedian")


def kthvalue(input, k, dim=-1, keepdim=False):
    """`(values, indices)` of the k-th smallest element (k from 1) along `dim`; NaN counts as
    the largest value. Which of several tied elements the index names is left open, as in torch.
    Found by selection (argpartition), not a full sort."""
    axis = _reduce_dim(input, dim, "kthvalue")
    n = input.shape[axis] if input.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"kthvalue: k must be an int, got {k!r}")
    if not 1 <= k <= n:
        raise ValueError(
            f"kthvalue: k={k!r} is out of range for dim {dim} of size {n} (k counts from 1)"
        )
    if input.ndim == 0:
        return _scalar_pick(input)
    return _select(input, _rank_index(input._data, k - 1, axis), axis, keepdim)


def mode(input, dim=-1, keepdim=False):
    """`(values, indices)` of the most frequent value along `dim`, the smallest such value when
    several are equally frequent, and the index of its last occurrence (torch's CPU answer). NaNs
    never equal each other here, so each counts once (torch's answer with NaNs depends on how its
    sort happens to place them)."""
    axis = _reduce_dim(input, dim, "mode")
    if input.ndim == 0:
        return _scalar_pick(input)
    x = input._data
    xp = xp_of(x)
    xm = xp.moveaxis(x, axis, -1)
    n = xm.shape[-1]
    order = xp.argsort(xm, axis=-1, kind="stable")  # equal values: index order, so a run ends
    s = xp.take_along_axis(xm, order, axis=-1)  # at the last occurrence
    pos = xp.arange(n)
    starts = xp.ones(s.shape, dtype=bool)
    starts[..., 1:] = s[..., 1:] != s[..., :-1]
    ends = xp.ones(s.shape, dtype=bool)
    ends[..., :-1] = starts[..., 1:]
    run_start = _scan(xp.maximum, xp.where(starts, pos, 0))
    length = xp.where(ends, pos - run_start + 1, 0)  # a run's length, at its last element
    best = length.argmax(axis=-1)[..., None]  # the first longest run: the smallest value
    idx = xp.moveaxis(xp.take_along_axis(order, best, axis=-1), -1, axis)
    return _select(input, idx, axis, keepdim)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


class Quantile(Function):
    """The q-quantiles of `a` over `dim` (None: all elements). On the sorted values s (NaN last)
    rank r = q (n - 1); the result is s[floor r] + w (s[ceil r] - s[floor r]) with w = r - floor r
    ('linear'), 0.5 ('midpoint'), or one element at floor / ceil / round-half-even of r ('lower',
    'higher', 'nearest'). The gradient is (1 - w) g and w g at the two elements read.
    quantile: a slice with NaN gives NaN; nanquantile: n counts the non-NaN values only."""

    @staticmethod
    def forward(ctx, a, *, q, dim, keepdim, interpolation, ignore_nan):
        xp = xp_of(a)
        x = a.reshape(-1) if dim is None else xp.moveaxis(a, dim, -1)  # (..., n)
        n = x.shape[-1]
        order = xp.argsort(x, axis=-1, kind="stable")
        s = xp.take_along_axis(x, order, axis=-1)
        nan = xp.isnan(s)
        q = q.reshape(-1)
        if ignore_nan:
            count = (n - nan.sum(axis=-1, keepdims=True)).astype(a.dtype)
            ranks = xp.maximum(q * (count - 1), 0)  # all NaN: rank 0, a NaN
        else:
            ranks = xp.broadcast_to(q * (n - 1), x.shape[:-1] + q.shape)
            ranks = xp.where(nan.any(axis=-1, keepdims=True), n - 1, ranks).astype(a.dtype)
        rounding = {"lower": xp.floor, "higher": xp.ceil, "nearest": xp.round}
        if interpolation in rounding:
            ranks = rounding[interpolation](ranks)
        below = ranks.astype(np.int64)
        above, w = below, xp.zeros_like(ranks)
        if interpolation in ("linear", "midpoint"):
            above = xp.ceil(ranks).astype(np.int64)
            # ranks - floor(ranks), not ranks - below: float32 minus int64 would give float64
            w = xp.full_like(ranks, 0.5) if interpolation == "midpoint" else ranks - xp.floor(ranks)
        lo, hi = xp.take_along_axis(s, below, axis=-1), xp.take_along_axis(s, above, axis=-1)
        with np.errstate(invalid="ignore"):  # inf - inf in the branch not taken
            y = xp.where(w < 0.5, lo + w * (hi - lo), hi - (hi - lo) * (1 - w))  # torch.lerp
        ctx.at = (xp.take_along_axis(order, below, -1), xp.take_along_axis(order, above, -1))
        ctx.w, ctx.x_shape, ctx.a_shape, ctx.dim = w, x.shape, a.shape, dim
        y = xp.moveaxis(y, -1, 0)  # (Q, ...): q's dim first, as torch
        if keepdim:
            rest = (1,) * a.ndim if dim is None else y.shape[1:]
            if dim is not None:
                rest = rest[:dim] + (1,) + rest[dim:]
            y = y.reshape(y.shape[:1] + rest)
        ctx.y_shape = y.shape
        return y

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        g = xp.moveaxis(g.reshape(ctx.y_shape[:1] + ctx.x_shape[:-1]), 0, -1)  # (..., Q)
        below, above = ctx.at
        both = xp.concatenate([below, above], axis=-1)
        parts = xp.concatenate([g * (1 - ctx.w), g * ctx.w], axis=-1)
        gx = _scatter_add_along(parts, both, -1, ctx.x_shape)
        return gx.reshape(ctx.a_shape) if ctx.dim is None else xp.moveaxis(gx, -1, ctx.dim)


def _quantile(input, q, dim, keepdim, interpolation, ignore_nan, op):
    require_floating(op, input)
    if input.numel() == 0:
        raise ValueError(f"{op}: input tensor must be non-empty, got shape {tuple(input.shape)}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(
            f"{op}: interpolation must be one of {', '.join(_INTERPOLATIONS)}, "
            f"got {interpolation!r}"
        )
    xp = xp_of(input._data)
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ValueError(f"{op}: q must be a scalar or 1-D tensor, got shape {tuple(q.shape)}")
        if q.dtype != input.dtype:
            raise TypeError(
                f"{op}: q has dtype {q.dtype}, the input {input.dtype}; they must match"
            )
        qa, scalar = q._data, q.ndim == 0
    elif isinstance(q, (int, float, np.integer, np.floating)) and not isinstance(q, bool):
        qa, scalar = xp.asarray(q, dtype=input.dtype), True
    else:
        raise TypeError(f"{op}: q must be a float or a tensor, got {type(q).__name__}")
    if qa.size and not bool(((qa >= 0) & (qa <= 1)).all()):
        raise ValueError(f"{op}: q values must be in the range [0, 1], got {qa.tolist()}")
    if dim is not None:
        if isinstance(dim, (tuple, list)) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"{op}: dim must be an int or None, got {dim!r}")
        axes = _axes(dim, input.ndim, op)
        dim = axes[0] if axes else None  # a 0-d input: dim 0 / -1 is all of it
    y = Quantile.apply(
        input, q=qa, dim=dim, keepdim=keepdim, interpolation=interpolation, ignore_nan=ignore_nan
    )
    return y.reshape(y.shape[1:]) if scalar else y


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """The q-th quantiles over `dim` (None: of all elements), q a float or a 1-D tensor of the
    input's dtype with values in [0, 1] (a 1-D q's dim comes first in the result, as torch).
    `interpolation` between the two nearest sorted elements: 'linear' (default), 'lower',
    'higher', 'midpoint' or 'nearest'. A slice holding NaN gives NaN."""
    return _quantile(input, q, dim, keepdim, interpolation, False, "quantile")


def nanquantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """`quantile` of the non-NaN values (NaN only where every value is NaN)."""
    return _quantile(input, q, dim, keepdim, interpolation, True, "nanquantile")


class NanSum(Function):
    """Sum with NaN counted as 0; the gradient is 0 at the NaNs."""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        keep = ~xp_of(a).isnan(a)
        ctx.save_for_backward(keep)
        ctx.axes, ctx.keepdim = axes, keepdim
        return xp_of(a).where(keep, a, 0).sum(axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (keep,) = ctx.saved_tensors
        return _expand_back(g, keep.shape, ctx.axes, ctx.keepdim) * keep


class NanMean(Function):
    """Mean of the non-NaN values: nansum / count. The gradient is keep / count: 0 at the NaNs,
    and NaN (0 / 0) for a slice of NaNs only, as in torch."""

    @staticmethod
    def forward(ctx, a, *, axes, keepdim):
        xp = xp_of(a)
        keep = ~xp.isnan(a)
        count = keep.sum(axis=axes, keepdims=True).astype(a.dtype)
        with np.errstate(divide="ignore", invalid="ignore"):
            y = xp.where(keep, a, 0).sum(axis=axes, keepdims=True) / count
            ctx.save_for_backward(keep / count)
        ctx.axes, ctx.keepdim = axes, keepdim
        return y if keepdim else y.reshape(_dropped(a.shape, axes))

    @staticmethod
    def backward(ctx, g):
        (share,) = ctx.saved_tensors
        return _expand_back(g, share.shape, ctx.axes, ctx.keepdim) * share


def nansum(input, dim=None, keepdim=False, *, dtype=None):
    """`sum` treating NaN as zero (the gradient there is 0); integers sum as `sum` does."""
    if dtype is not None:
        input = cast(input, dtype)
    axes = _axes(dim, input.ndim, "nansum")
    if input.dtype.kind != "f":
        return sum(input, dim, keepdim)
    return NanSum.apply(input, axes=axes, keepdim=keepdim)


def nanmean(input, dim=None, keepdim=False, *, dtype=None):
    """The mean of the non-NaN values over `dim` (NaN where all are NaN)."""
    if dtype is not None:
        input = cast(input, dtype)
    require_floating("nanmean", input)
    return NanMean.apply(input, axes=_axes(dim, input.ndim, "nanmean"), keepdim=keepdim)


def count_nonzero(input, dim=None):
    """How many elements are not zero over `dim` (an int, a tuple, or None for all), int64.
    NaN counts as non-zero. Not differentiable."""
    axes = _axes(dim, input.ndim, "count_nonzero")  # (checks the range)
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim or ())
    if len({d % builtins.max(input.ndim, 1) for d in dims}) != len(dims):
        raise ValueError(f"count_nonzero: dim {dim} names a dim more than once")
    return Tensor((input._data != 0).sum(axis=axes).astype(np.int64))


def aminmax(input, *, dim=None, keepdim=False):
    """`(min, max)` (also `.min`, `.max`) over `dim` (an int, or None for all elements); tied
    elements share each gradient evenly, as `amin` / `amax`."""
    if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))):
        raise TypeError(f"aminmax: dim must be an int or None, got {dim!r}")
    axes = _axes(dim, input.ndim, "aminmax")
    if input.numel() == 0 and (dim is None or input.shape[axes[0]] == 0):
        raise ValueError(
            f"aminmax: cannot reduce an empty dimension (input of shape {tuple(input.shape)})"
        )
    if input.numel() == 0:  # e.g. (0, 3) over dim 1: an empty result
        xp = xp_of(input._data)
        shape = input.shape[: axes[0]] + ((1,) if keepdim else ()) + input.shape[axes[0] + 1 :]
        empty = xp.empty(shape, dtype=input.dtype)
        return _MinMax(Tensor(empty), Tensor(empty.copy()))
    lo = AMaxMin.apply(input, axes=axes, keepdim=keepdim, is_max=False)
    hi = AMaxMin.apply(input, axes=axes, keepdim=keepdim, is_max=True)
    return _MinMax(lo, hi)


def _var_args(dim, unbiased):
    """torch's var_mean(input, unbiased) form: a bool in dim's place is `unbiased`."""
    return (None, dim) if isinstance(dim, bool) else (dim, unbiased)


def var_mean(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """`(var, mean)` over `dim`, both differentiable (`correction` as in `var`)."""
    require_floating("var_mean", input)
    dim, unbiased = _var_args(dim, unbiased)
    return var(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


def std_mean(input, dim=None, unbiased=True, keepdim=False, *, correction=None):
    """`(std, mean)` over `dim`, both differentiable (`correction` as in `std`)."""
    require_floating("std_mean", input)
    dim, unbiased = _var_args(dim, unbiased)
    return std(input, dim, unbiased, keepdim, correction=correction), mean(input, dim, keepdim)


# --------------------------------------------------------------------------- scans


def _scan_dim(input, dim, op):
    """The axis a scan runs along (a 0-d input takes 0 or -1 and is treated as length 1)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    if input.ndim == 0:
        if dim not in (0, -1):
            raise IndexError(f"{op}: dim {dim} out of range for a 0-d tensor (it takes 0 or -1)")
        return 0
    return _dim(dim, input.ndim, op)


class CumProd(Function):
    """y_i = prod_{k<=i} x_k along dim. Its gradient
        dx_j = sum_{i>=j} g_i prod_{k<=i, k!=j} x_k = P_{j-1} S_j,
    P_{j-1} = x_0 ... x_{j-1} (the product before j) and S_j = g_j + x_{j+1} S_{j+1} (a linear
    recurrence from the end, solved by log-step doubling): no division by x, so exact with zeros."""

    @staticmethod
    def forward(ctx, x, *, dim):
        ctx.save_for_backward(x)
        ctx.dim = dim
        dtype = x.dtype if x.dtype.kind == "f" else np.int64  # integers and bools: int64, as torch
        return xp_of(x).cumprod(x, axis=dim, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = xp_of(g)
        xm, b = xp.moveaxis(x, ctx.dim, -1), xp.moveaxis(g, ctx.dim, -1).copy()
        n = xm.shape[-1]
        one = xp.ones(xm.shape[:-1] + (1,), dtype=x.dtype)
        before = xp.concatenate([one, xp.cumprod(xm[..., :-1], axis=-1)], axis=-1)  # P_{j-1}
        a = xp.concatenate([xm[..., 1:], 0 * one], axis=-1)  # S_j = b_j + a_j S_{j+1}
        d = 1
        while d < n:  # now S_j = b_j + a_j S_{j+d}; substitute S_{j+d} to double d
            b[..., : n - d] = b[..., : n - d] + a[..., : n - d] * b[..., d:]
            a[..., : n - d] = a[..., : n - d] * a[..., d:]
            a[..., n - d :] = 0
            d *= 2
        return xp.moveaxis(before * b, -1, ctx.dim)


def cumprod(input, dim, *, dtype=None):
    """Running product along `dim` (integers and bools give int64); the gradient is exact where
    the input holds zeros."""
    if dtype is not None:
        input = cast(input, dtype)
    if input.ndim == 0:
        return cumprod(input.reshape(1), _scan_dim(input, dim, "cumprod")).reshape(())
    return CumProd.apply(input, dim=_scan_dim(input, dim, "cumprod"))


def _cum_extreme(input, dim, is_max, op):
    axis = _scan_dim(input, dim, op)
    if input.ndim == 0:
        return _scalar_pick(input)
    x = input._data
    xp = xp_of(x)
    xm = xp.moveaxis(x, axis, -1)
    best = _scan(xp.maximum if is_max else xp.minimum, xm)  # NaN, once met, stays (as torch)
    hit = xm == best
    if x.dtype.kind == "f":
        hit |= xp.isnan(xm)
    # torch's rule: a later element equal to the running extreme takes over (x >= best), and
    # so does every later NaN; the index is the last such position so far
    idx = _scan(xp.maximum, xp.where(hit, xp.arange(xm.shape[-1]), 0))
    idx = xp.moveaxis(idx, -1, axis).astype(np.int64)
    return _values_indices(TakeAlongDim.apply(input, idx=idx, dim=axis, squeeze=False), Tensor(idx))


def cummax(input, dim):
    """`(values, indices)`: the running maximum along `dim` and where it was found (the latest
    of tied elements; a NaN, once met, stays). The gradient goes to that index."""
    return _cum_extreme(input, dim, True, "cummax")


def cummin(input, dim):
    """`(values, indices)`: the running minimum along `dim`, as `cummax`."""
    return _cum_extreme(input, dim, False, "cummin")


class LogCumSumExp(Function):
    """y_i = log sum_{k<=i} exp(x_k), a scan of logaddexp (stable for any magnitudes).
    dx_j = sum_{i>=j} g_i exp(x_j - y_i): summed in the log domain from the end, the positive
    and the negative parts of g apart, so no exp overflows (torch's formula)."""

    @staticmethod
    def forward(ctx, x, *, dim):
        y = _scan(xp_of(x).logaddexp, x, dim)
        ctx.save_for_backward(x, y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        xp, dim = xp_of(g), ctx.dim
        lowest = np.finfo(g.dtype).min  # log(0) stand-in, finite so lowest - y is never nan

        def from_end(v):
            return xp.flip(_scan(xp.logaddexp, xp.flip(v, dim), dim), dim)

        log_g = xp.log(xp.where(g != 0, xp.abs(g), 1))
        parts = []
        for sign in (g > 0, g < 0):
            with np.errstate(over="ignore", invalid="ignore"):
                parts.append(xp.exp(from_end(xp.where(sign, log_g, lowest) - y) + x))
        return parts[0] - parts[1]


def logcumsumexp(input, dim):
    """log(cumsum(exp(input))) along `dim`, computed without overflow."""
    require_floating("logcumsumexp", input)
    if input.ndim == 0:
        return logcumsumexp(input.reshape(1), _scan_dim(input, dim, "logcumsumexp")).reshape(())
    axis = _scan_dim(input, dim, "logcumsumexp")
    return half_as_float32(lambda x: LogCumSumExp.apply(x, dim=axis), input)  # (as cumsum)


def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The n-th forward difference out[i] = x[i + 1] - x[i] along `dim`, applied n times, after
    `prepend` / `append` (tensors with input's dims and, off `dim`, its sizes) are joined on
    (n = 0: a copy of the input alone). Bools differ by xor, as torch."""
    if input.ndim == 0:
        raise ValueError("diff: expects input to be at least one-dimensional, got a 0-d tensor")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: order n must be a non-negative int, got {n!r}")
    d = _scan_dim(input, dim, "diff")
    if n == 0:  # torch: a copy of the input, prepend and append unused
        return input.clone()
    parts = [t for t in (prepend, input, append) if t is not None]
    for t in parts:
        if not isinstance(t, Tensor):
            raise TypeError(f"diff: prepend and append must be tensors, got {type(t).__name__}")
        if t.ndim != input.ndim or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, input.shape)) if i != d
        ):
            raise ValueError(
                f"diff: prepend/append of shape {tuple(t.shape)} must match the input "
                f"{tuple(input.shape)} except along dim {d}"
            )
    # torch's promotion: a float operand wins with its own width (NumPy would widen int + float32
    # to float64); otherwise NumPy's rule (bool < ints) agrees with torch's
    floats = [t.dtype for t in parts if t.dtype.kind == "f"]
    common = np.result_type(*(floats or [t.dtype for t in parts]))
    parts = [t if t.dtype == common else cast(t, common) for t in parts]
    x = cat(parts, d) if len(parts) > 1 else input
    head = (slice(None),) * d
    for _ in range(n):
        if x.shape[d] == 0:
            break
        hi, lo = head + (slice(1, None),), head + (slice(None, -1),)
        if x.dtype == np.bool_:
            x = Tensor(x._data[hi] != x._data[lo])
        else:
            x = sub(index(x, hi), index(x, lo))
    return x


def trace(input):
    """The sum of the main diagonal of a 2-D tensor (integers sum in int64, as torch)."""
    if input.ndim != 2:
        raise ValueError(f"trace: expected a 2-D tensor, got shape {tuple(input.shape)}")
    if input.dtype == np.bool_:
        raise TypeError("trace: not defined for bool tensors")
    i = xp_of(input._data).arange(builtins.min(input.shape))
    diagonal = index(input, (i, i))
    if input.dtype.kind in "iu":  # NumPy sums uint8 to uint64 and int32 to int64: torch, int64
        diagonal = cast(diagonal, np.int64)
    return sum(diagonal)


# --------------------------------------------------------------------------- searches, histograms
# (not differentiable: integer or count outputs)


def _raw(t):
    return t._data if isinstance(t, Tensor) else t


def searchsorted(sorted_sequence, values, *, out_int32=False, right=False, side=None, sorter=None):
    """For each value, the index where it would be inserted into `sorted_sequence` to keep it
    sorted: the first position whose element is >= the value (right=True or side='right': >).
    An N-D sorted_sequence is searched along its last dim, row by row with `values` of the same
    leading dims. `sorter` holds the int64 indices that sort an unsorted sequence. The binary
    search runs on all values at once, with torch's comparisons (NaN values go to the end)."""
    for name, t in (("sorted_sequence", sorted_sequence), ("sorter", sorter)):
        if t is not None and not isinstance(t, Tensor):
            raise TypeError(f"searchsorted: {name} must be a tensor, got {type(t).__name__}")
    seq = _raw(sorted_sequence)
    xp = xp_of(seq)
    if side is not None:
        if side not in ("left", "right"):
            raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
        if side == "left" and right:
            raise ValueError("searchsorted: side='left' and right=True contradict each other")
        right = side == "right"
    if seq.ndim == 0:
        raise ValueError("searchsorted: sorted_sequence must have at least one dim, got a 0-d")
    v = _raw(values) if isinstance(values, Tensor) else xp.asarray(values)
    if not isinstance(values, Tensor) and seq.ndim != 1:
        raise ValueError(
            f"searchsorted: a scalar value needs a 1-D sorted_sequence, got shape {seq.shape}"
        )
    if seq.ndim > 1 and (v.ndim != seq.ndim or v.shape[:-1] != seq.shape[:-1]):
        raise ValueError(
            f"searchsorted: sorted_sequence {tuple(seq.shape)} must be 1-D or share all but its "
            f"last dim with values {tuple(v.shape)}"
        )
    if sorter is not None:
        order = _raw(sorter)
        if order.dtype != np.int64:
            raise TypeError(f"searchsorted: sorter must be an int64 tensor, got {order.dtype}")
        if order.shape != seq.shape:
            raise ValueError(
                f"searchsorted: sorter of shape {tuple(order.shape)} must match sorted_sequence "
                f"{tuple(seq.shape)}"
            )
        if order.size and (int(order.min()) < 0 or int(order.max()) >= seq.shape[-1]):
            raise IndexError(f"searchsorted: sorter index out of range [0, {seq.shape[-1]})")
        seq = xp.take_along_axis(seq, order, axis=-1)
    n = seq.shape[-1]
    lead = int(np.prod(seq.shape[:-1], dtype=np.int64))
    rows = seq.reshape(lead, n)
    vals = v.reshape(1, v.size) if seq.ndim == 1 else v.reshape(lead, v.shape[-1])
    lo = xp.zeros(vals.shape, dtype=np.int64)
    hi = xp.full(vals.shape, n, dtype=np.int64)
    for _ in range(n.bit_length()):  # each step halves every [lo, hi): log2(n) + 1 steps
        mid = lo + (hi - lo) // 2
        m = xp.take_along_axis(rows, xp.minimum(mid, n - 1), axis=-1)
        go_right = ~(m > vals) if right else ~(m >= vals)  # torch's test (NaN compares false)
        active = lo < hi
        lo = xp.where(active & go_right, mid + 1, lo)
        hi = xp.where(active & ~go_right, mid, hi)
    return Tensor(lo.reshape(v.shape).astype(np.int32 if out_int32 else np.int64))


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """The bucket of each input value between the 1-D `boundaries`: the index i with
    boundaries[i-1] < x <= boundaries[i] (right=True: boundaries[i-1] <= x < boundaries[i])."""
    if not isinstance(boundaries, Tensor):
        raise TypeError(f"bucketize: boundaries must be a tensor, got {type(boundaries).__name__}")
    if boundaries.ndim != 1:
        raise ValueError(f"bucketize: boundaries must be 1-D, got shape {tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def histc(input, bins=100, min=0, max=0):  # noqa: A002  (torch's names)
    """Counts of the elements in `bins` equal-width bins over [min, max] (min = max: the data's
    range; a single value v: [v - 1, v + 1]), as a tensor of input's float dtype. Elements outside
    the range and NaNs are ignored; the last bin includes max. Not differentiable."""
    x = input._data
    xp = xp_of(x)
    require_floating("histc", x)
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins <= 0:
        raise ValueError(f"histc: bins must be a positive int, got {bins!r}")
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"histc: range of [{lo}, {hi}] is not finite")
    if not lo < hi:
        raise ValueError(f"histc: max must be larger than min, got min={lo}, max={hi}")
    left, right = x.dtype.type(lo), x.dtype.type(hi)  # the edges in the input's dtype, as torch
    inside = x[(x >= left) & (x <= right)]
    pos = ((inside - left) * bins / (right - left)).astype(np.int64)  # torch's arithmetic order
    pos = xp.minimum(pos, bins - 1)  # the last bin holds max itself
    return Tensor(xp.bincount(pos, minlength=bins).astype(x.dtype))
