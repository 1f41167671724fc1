"""Selecting, reordering and scanning along a dim: gather, index_select, masked_fill, flip, roll,
narrow, unbind, topk, sort, argsort, cumsum, tril, triu (PyTorch's names and argument orders).

Most are built on `index` (a[key] with its scatter-add gradient) or `where`, so their gradients
are those ops' own; cumsum has its own Function (the adjoint of a running sum is a running sum
from the other end).
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor
from .elementwise import where
from .shape import _dim, cat, index


def _mesh(shape, dim, idx):
    """The advanced-index key that reads `idx` along `dim` and every other axis in order."""
    xp = xp_of(idx)
    key = []
    for i, n in enumerate(shape):
        if i == dim:
            key.append(idx)
        else:
            key.append(xp.arange(n).reshape((-1,) + (1,) * (len(shape) - 1 - i)))
    return tuple(key)


def _scalar_as_1d(input, dim, op):
    """A 0-d tensor takes dim 0 / -1 as a one-entry 1-D tensor, as in PyTorch: that tensor."""
    _check_scalar_dim(dim, op)
    return input.reshape(1)


def _check_scalar_dim(dim, op):
    if dim not in (0, -1):
        raise IndexError(f"{op}: dim {dim} out of range for a 0-d tensor (it takes 0 or -1)")


def gather(input, dim, index_):
    """out[i][j][k] = input[i][index[i][j][k]][k] for dim=1 (PyTorch's `gather`): `index`
    has input's number of dims and at most its sizes off `dim`; the gradient adds back into
    the gathered positions (repeats accumulate)."""
    idx = index_._data if isinstance(index_, Tensor) else index_
    if min(input.ndim, idx.ndim) == 0 and max(input.ndim, idx.ndim) <= 1:
        _check_scalar_dim(dim, "gather")
        out = gather(input.reshape(-1), 0, idx.reshape(-1))
        return out.reshape(idx.shape)  # 0-d read as one entry, the shape the index's (PyTorch)
    d = _dim(dim, input.ndim, "gather")
    if idx.ndim != input.ndim or idx.dtype.kind not in "iu":
        raise ValueError(
            f"gather: index must be an integer tensor with {input.ndim} dims like the input "
            f"{tuple(input.shape)}, got {idx.dtype} of shape {tuple(idx.shape)}"
        )
    if any(a > b for i, (a, b) in enumerate(zip(idx.shape, input.shape)) if i != d):
        raise ValueError(
            f"gather: index of shape {tuple(idx.shape)} is larger than the input "
            f"{tuple(input.shape)} off dim {d}"
        )
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= input.shape[d]):
        raise IndexError(f"gather: index out of range for dim {d} of size {input.shape[d]}")
    return index(input, _mesh(idx.shape, d, idx))


def index_select(input, dim, index_):
    """The entries of `index` (1-D integers) along `dim`, in that order (repeats allowed)."""
    idx = index_._data if isinstance(index_, Tensor) else np.asarray(index_)
    if idx.ndim != 1:
        raise ValueError(f"index_select: index must be 1-D, got shape {tuple(idx.shape)}")
    if input.ndim == 0:
        if idx.shape != (1,):
            raise IndexError(f"index_select: a 0-d input takes one index, got {idx.shape[0]}")
        return index_select(_scalar_as_1d(input, dim, "index_select"), 0, idx).reshape(())
    d = _dim(dim, input.ndim, "index_select")
    return index(input, (slice(None),) * d + (idx,))


def masked_fill(input, mask, value):
    """`value` where mask (broadcast to input) is True, else input; no gradient reaches input
    where it was filled."""
    m = mask._data if isinstance(mask, Tensor) else mask
    if input.dtype.kind != "f" and not isinstance(value, Tensor):  # the value takes input's
        value = Tensor(xp_of(m).asarray(value).astype(input.dtype))  # dtype, as PyTorch
    return where(m, value, input)


def flip(input, dims):
    """Reverse the order of the entries along each of `dims` (an int or a tuple)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if input.ndim == 0:
        for d in dims:
            _check_scalar_dim(d, "flip")
        return flip(input.reshape(1), dims).reshape(())
    axes = {_dim(d, input.ndim, "flip") for d in dims}
    if len(axes) != len(dims):
        raise ValueError(f"flip: dims {dims} name a dim twice")
    return index(input, tuple(slice(None, None, -1) if i in axes else slice(None)
                              for i in range(input.ndim)))  # fmt: skip


def roll(input, shifts, dims=None):
    """Shift entries along dims, wrapping around (dims=None: the flattened tensor)."""
    if dims is None:
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims")
    out = input
    for s, d in zip(shifts, dims):
        d = _dim(d, input.ndim, "roll")
        n = input.shape[d]
        s = s % n if n else 0
        if s:
            head = (slice(None),) * d
            out = cat(
                [index(out, head + (slice(n - s, None),)), index(out, head + (slice(0, n - s),))], d
            )
    return out


def narrow(input, dim, start, length):
    """input[..., start:start + length, ...] along dim (a view's worth of values)."""
    d = _dim(dim, input.ndim, "narrow")
    n = input.shape[d]
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise IndexError(f"narrow: [{start}, {start + length}) is outside dim {d} of size {n}")
    return index(input, (slice(None),) * d + (slice(start, start + length),))


def unbind(input, dim=0):
    """The slices along dim, each without that dim, as a tuple."""
    d = _dim(dim, input.ndim, "unbind")
    return tuple(index(input, (slice(None),) * d + (i,)) for i in range(input.shape[d]))


def argsort(input, dim=-1, descending=False, stable=False):
    """Indices that sort `input` along dim (int64). Always stable (ties keep their index
    order, so `stable` is accepted and needs nothing); NaN counts as the largest value, as in
    PyTorch. Not differentiable."""
    x = input._data if isinstance(input, Tensor) else input
    xp = xp_of(x)
    d = _dim(dim, x.ndim, "argsort") if x.ndim else 0
    if x.ndim == 0:
        return Tensor(xp.zeros((), dtype=xp.int64))
    if descending:
        # the stable ascending order of the reversed tensor, reversed back: the largest first,
        # ties in index order, NaN first (as PyTorch), no negation (which overflows integers)
        n = x.shape[d]
        order = n - 1 - xp.argsort(xp.flip(x, d), axis=d, kind="stable")
        return Tensor(xp.flip(order, d).astype(xp.int64))
    return Tensor(xp.argsort(x, axis=d, kind="stable").astype(xp.int64))


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) sorted along dim; the values carry the gradient (to where each came
    from)."""
    idx = argsort(input, dim, descending)
    if input.ndim == 0:
        return _ValuesIndices(input, idx)
    return _ValuesIndices(gather(input, dim, idx), idx)


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002  (torch's name)
    """(values, indices) of the k largest (or smallest) entries along dim, in order."""
    if input.ndim == 0:
        # as PyTorch: the value itself and index 0, for k 0 or 1
        values, idx = topk(_scalar_as_1d(input, dim, "topk"), max(k, 1), 0, largest, sorted)
        return _ValuesIndices(values.reshape(()), idx.reshape(()))
    d = _dim(dim, input.ndim, "topk")
    n = input.shape[d]
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for dim {d} of size {n}")
    idx = argsort(input, d, descending=largest)._data
    idx = idx[(slice(None),) * d + (slice(0, k),)]
    return _ValuesIndices(gather(input, d, idx), Tensor(idx))


class _ValuesIndices(tuple):
    """(values, indices) that also reads as `.values` / `.indices`, as PyTorch's."""

    def __new__(cls, values, indices):
        return super().__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


class CumSum(Function):
    """y_i = sum_{j <= i} x_j along dim;  dx_j = sum_{i >= j} g_i (a running sum from the end)."""

    @staticmethod
    def forward(ctx, x, *, dim):
        ctx.dim = dim
        # integers and bools add up in int64, as PyTorch (a bool cumsum counts)
        dtype = x.dtype if x.dtype.kind == "f" else np.int64
        return xp_of(x).cumsum(x, axis=dim, dtype=dtype)

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        return xp.flip(xp.cumsum(xp.flip(g, ctx.dim), axis=ctx.dim), ctx.dim)


def cumsum(input, dim):
    if input.ndim == 0:
        return cumsum(_scalar_as_1d(input, dim, "cumsum"), 0).reshape(())
    return CumSum.apply(input, dim=_dim(dim, input.ndim, "cumsum"))


def tril(input, diagonal=0):
    """The lower triangle of the last two dims (zeros above `diagonal`)."""
    return _triangle(input, diagonal, "tril")


def triu(input, diagonal=0):
    """The upper triangle of the last two dims (zeros below `diagonal`)."""
    return _triangle(input, diagonal, "triu")


def _triangle(input, diagonal, op):
    if input.ndim < 2:
        raise ValueError(f"{op}: expected at least 2 dims, got shape {tuple(input.shape)}")
    xp = xp_of(input._data)
    r, c = input.shape[-2:]
    keep = (xp.arange(c)[None, :] - xp.arange(r)[:, None]) <= diagonal
    if op == "triu":
        keep = (xp.arange(c)[None, :] - xp.arange(r)[:, None]) >= diagonal
    return where(keep, input, Tensor(xp.zeros((), dtype=input.dtype)))  # keeps int / bool
