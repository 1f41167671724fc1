"""Selecting, scattering, reordering and scanning along a dim: gather, scatter, scatter_add,
index_select, index_add, masked_fill, flip, roll, narrow, unbind, topk, sort, argsort, cumsum,
tril, triu, diag; and the non-differentiable nonzero, unique, bincount (PyTorch's names and
argument orders).

Most are built on `index` (a[key] with its scatter-add gradient) or `where`, so their gradients
are those ops' own; scatter, index_add and cumsum have their own Functions (the adjoint of a
scatter is a gather, of a running sum a running sum from the other end).
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
    _check_index(input, d, idx, "gather")
    return index(input, _mesh(idx.shape, d, idx.copy()))  # (a copy: the backward reads it)


def _check_index(input, d, idx, op, src=None):
    """gather / scatter's rules: an integer index with input's number of dims, no larger than
    input off `d` (nor than src anywhere), its values in [0, input.shape[d])."""
    if idx.ndim != input.ndim or idx.dtype.kind not in "iu":
        raise ValueError(
            f"{op}: index must be an integer tensor with {input.ndim} dims like the input "
            f"{tuple(input.shape)}, got {idx.dtype} of shape {tuple(idx.shape)}"
        )
    if any(a > b for i, (a, b) in enumerate(zip(idx.shape, input.shape)) if i != d):
        raise ValueError(
            f"{op}: index of shape {tuple(idx.shape)} is larger than the input "
            f"{tuple(input.shape)} off dim {d}"
        )
    if src is not None and (
        src.ndim != idx.ndim or any(a > b for a, b in zip(idx.shape, src.shape))
    ):
        raise ValueError(
            f"{op}: index of shape {tuple(idx.shape)} is larger than src {tuple(src.shape)}"
        )
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= input.shape[d]):
        raise IndexError(f"{op}: index out of range for dim {d} of size {input.shape[d]}")


class _Scatter(Function):
    """out = input with src's leading index.shape block written (or, accumulate=True, added) at
    out[_mesh(index)]: d input = g (zero where overwritten), d src = g read back at the same
    positions (zero outside the block)."""

    @staticmethod
    def forward(ctx, x, src, *, key, block, accumulate):
        xp = xp_of(x)
        ctx.key, ctx.block, ctx.accumulate, ctx.src_shape = key, block, accumulate, src.shape
        part = src[block]
        out = x.copy()
        if accumulate:
            xp.add.at(out, key, part)  # repeated indices add up
        else:
            out[key] = part
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        gx = g
        if not ctx.accumulate:
            gx = g.copy()
            gx[ctx.key] = 0  # overwritten entries do not reach the output
        gs = xp.zeros(ctx.src_shape, dtype=g.dtype)
        gs[ctx.block] = g[ctx.key]
        return gx, gs


def _scatter(input, dim, index_, src, op, accumulate):
    # a copy: the backward reads the index, and the caller's may change in place before it runs
    idx = (
        index_._data if isinstance(index_, Tensor) else xp_of(input._data).asarray(index_)
    ).copy()
    d = _dim(dim, input.ndim, op)
    if not isinstance(src, Tensor):  # a number (torch's `value`): a constant block
        src = Tensor(xp_of(input._data).full(idx.shape, src, dtype=input.dtype))
    if src.dtype != input.dtype:
        raise TypeError(f"{op}: src has dtype {src.dtype}, the input {input.dtype}")
    _check_index(input, d, idx, op, src)
    block = tuple(slice(0, n) for n in idx.shape)  # the part of src that is written
    return _Scatter.apply(
        input, src, key=_mesh(idx.shape, d, idx), block=block, accumulate=accumulate
    )


def scatter(input, dim, index, src=None, *, value=None):
    """A copy of input with out[i][index[i][j]] = src[i][j] for dim=1 (PyTorch's `scatter`; src a
    tensor, or a number as `value`). Where index repeats a position, one of the writes wins."""
    if (src is None) == (value is None):
        raise TypeError("scatter: give exactly one of src (a tensor) and value (a number)")
    return _scatter(input, dim, index, value if src is None else src, "scatter", False)


def scatter_add(input, dim, index, src):
    """A copy of input with src[i][j] added at out[i][index[i][j]] for dim=1 (repeats add up)."""
    return _scatter(input, dim, index, src, "scatter_add", True)


class IndexAdd(Function):
    """out = input; out[..., index[k], ...] += alpha * source[..., k, ...] along dim (repeats add
    up); d input = g, d source = alpha * g at the indexed slices."""

    @staticmethod
    def forward(ctx, x, source, *, key, alpha):
        ctx.key, ctx.alpha = key, alpha
        out = x.copy()
        xp_of(x).add.at(out, key, source if alpha == 1 else alpha * source)
        return out

    @staticmethod
    def backward(ctx, g):
        gs = g[ctx.key]
        return g, gs if ctx.alpha == 1 else ctx.alpha * gs


def index_add(input, dim, index_, source, *, alpha=1):
    """A copy of input with alpha * source's slices added at the `index` (1-D) positions along
    dim (PyTorch's `index_add`)."""
    idx = index_._data if isinstance(index_, Tensor) else xp_of(input._data).asarray(index_)
    idx = idx.reshape(1) if idx.ndim == 0 else idx.copy()  # (kept for the backward)
    d = _dim(dim, input.ndim, "index_add")
    want = input.shape[:d] + (len(idx),) + input.shape[d + 1 :] if idx.ndim == 1 else None
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or tuple(source.shape) != want:
        raise ValueError(
            f"index_add: needs a 1-D integer index and a source of shape {want} "
            f"for input {tuple(input.shape)}, got index {idx.dtype} {tuple(idx.shape)} and "
            f"source {tuple(source.shape)}"
        )
    if source.dtype != input.dtype:
        raise TypeError(f"index_add: source has dtype {source.dtype}, the input {input.dtype}")
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= input.shape[d]):
        raise IndexError(f"index_add: index out of range for dim {d} of size {input.shape[d]}")
    return IndexAdd.apply(input, source, key=(slice(None),) * d + (idx,), alpha=alpha)


def index_select(input, dim, index_):
    """The entries of `index` (1-D integers, or one as a 0-d tensor) along `dim`, in that order
    (repeats allowed)."""
    idx = index_._data if isinstance(index_, Tensor) else xp_of(input._data).asarray(index_)
    idx = idx.reshape(1) if idx.ndim == 0 else idx  # as PyTorch: the dim stays, of size 1
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


def diag(input, diagonal=0):
    """1-D input: a square matrix with it on the `diagonal`-th diagonal (above the main one for
    > 0); 2-D input: that diagonal as a 1-D tensor. Differentiable both ways (through `index`)."""
    xp = xp_of(input._data)
    if input.ndim == 1:
        m = input.shape[0]
        n = m + abs(diagonal)
        rows = xp.arange(m) + max(-diagonal, 0)
        zeros = Tensor(xp.zeros(n * n, dtype=input.dtype))
        return scatter(zeros, 0, rows * n + rows + diagonal, input).reshape(n, n)
    if input.ndim == 2:
        r, c = input.shape
        start_r, start_c = max(-diagonal, 0), max(diagonal, 0)
        i = xp.arange(max(min(r - start_r, c - start_c), 0))
        return index(input, (i + start_r, i + start_c))
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")


def nonzero(input, *, as_tuple=False):
    """Indices of the non-zero entries, row-major: an (n, ndim) int64 tensor, or with as_tuple
    one 1-D tensor per dim (what `x[...]` takes). Not differentiable."""
    x = input._data if isinstance(input, Tensor) else input
    xp = xp_of(x)
    idx = xp.nonzero(xp.atleast_1d(x))
    if as_tuple:
        return tuple(Tensor(i.astype(xp.int64)) for i in idx)
    if x.ndim == 0:
        return Tensor(xp.zeros((int(bool(x)), 0), dtype=xp.int64))
    return Tensor(xp.stack(idx, axis=1).astype(xp.int64))


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """The distinct values (ascending), of the flattened tensor or, with `dim`, the distinct
    slices along it; optionally the inverse (where each input entry went) and the counts, as
    PyTorch. Not differentiable."""
    x = input._data if isinstance(input, Tensor) else input
    xp = xp_of(x)
    if dim is not None:
        dim = _dim(dim, x.ndim, "unique")
    values, inverse, counts = xp.unique(x, return_inverse=True, return_counts=True, axis=dim)
    out = [Tensor(values)]
    if return_inverse:
        out.append(Tensor(inverse.reshape(x.shape if dim is None else -1).astype(xp.int64)))
    if return_counts:
        out.append(Tensor(counts.astype(xp.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in a 1-D tensor of non-negative integers (at least
    `minlength` bins); with `weights`, their sums per value instead. Not differentiable."""
    x = input._data if isinstance(input, Tensor) else input
    xp = xp_of(x)
    if x.ndim != 1 or x.dtype.kind not in "iu" or (x.size and int(x.min()) < 0):
        raise ValueError(
            f"bincount: expected a 1-D tensor of non-negative integers, got {x.dtype} of shape "
            f"{tuple(x.shape)}"
        )
    w = weights._data if isinstance(weights, Tensor) else weights
    if w is not None and tuple(w.shape) != tuple(x.shape):
        raise ValueError(
            f"bincount: weights of shape {tuple(w.shape)} do not match the input {tuple(x.shape)}"
        )
    counts = xp.bincount(x, weights=w, minlength=minlength)  # (NumPy sums weights in float64)
    dtype = xp.int64 if w is None else (w.dtype if w.dtype.kind == "f" else xp.float64)
    return Tensor(counts.astype(dtype, copy=False))


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors: output k varies along axis k ('ij') or, for 'xy', the
    first two swapped (x along columns). Each is an expanded view, so gradients sum back."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if any(t.ndim != 1 for t in tensors):
        raise ValueError(
            f"meshgrid: expected 1-D tensors, got shapes {[tuple(t.shape) for t in tensors]}"
        )
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(tensors)
    for t, ax in zip(tensors, axes):
        shape[ax] = t.shape[0]
    out = []
    for t, ax in zip(tensors, axes):
        view = [1] * len(tensors)
        view[ax] = t.shape[0]
        out.append(t.reshape(*view).expand(*shape))
    return tuple(out)
