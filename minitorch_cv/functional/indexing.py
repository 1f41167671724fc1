"""Selecting, scattering, reordering and scanning along a dim: gather, scatter, scatter_add,
index_select, index_add, masked_fill, flip, roll, narrow, unbind, topk, sort, argsort, cumsum,
tril, triu, diag, rot90, select, take, take_along_dim, masked_select, index_copy, index_fill,
masked_scatter, diagonal, diag_embed, diagflat, block_diag, cartesian_prod, combinations; and
the non-differentiable nonzero, argwhere, unique, bincount (PyTorch's names and argument
orders).

Most are built on `index` (a[key] with its scatter-add gradient) or `where`, so their gradients
are those ops' own; scatter, index_add, cumsum, masked_scatter, diagonal / diag_embed (each
the other's adjoint) and block_diag have their own Functions (the adjoint of a scatter is a
gather, of a running sum a running sum from the other end).
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, get_default_dtype
from .elementwise import broadcast_shapes, clone, where
from .precision import half_as_float32
from .shape import _dim, cat, expand, index, stack, transpose

_index = index  # (ops below take an argument named `index`, as torch's)


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
    # the value takes input's dtype, as PyTorch (a 0-d float tensor into an int64 input is
    # truncated, not a promotion of the result to float)
    if isinstance(value, Tensor):
        value = value if value.dtype == input.dtype else value.to(input.dtype)
    elif input.dtype.kind != "f":
        value = Tensor(xp_of(m).asarray(value).astype(input.dtype))
    return where(m, value, input)


class Flip(Function):
    """x reversed along `axes`, as a copy (torch.flip copies: a reversed NumPy view would let an
    in-place change of the result, `x.flip(-1).sub_(mean)`, write into x); the gradient is g
    reversed back."""

    @staticmethod
    def forward(ctx, x, *, axes):
        ctx.axes = axes
        return xp_of(x).flip(x, axes).copy()

    @staticmethod
    def backward(ctx, g):
        return xp_of(g).flip(g, ctx.axes)


def flip(input, dims):
    """Reverse the order of the entries along each of `dims` (an int or a tuple); a copy, as
    torch.flip (and so fliplr, flipud, rot90)."""
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if input.ndim == 0:
        for d in dims:
            _check_scalar_dim(d, "flip")
        return flip(input.reshape(1), dims).reshape(())
    axes = {_dim(d, input.ndim, "flip") for d in dims}
    if len(axes) != len(dims):
        raise ValueError(f"flip: dims {dims} name a dim twice")
    return Flip.apply(input, axes=tuple(sorted(axes)))


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


def cumsum(input, dim, *, dtype=None):
    """Running sum along `dim` (integers and bools in int64; float16 summed in float32 and
    rounded back, as PyTorch: in float16 a long running sum stops growing); `dtype` casts the
    input first."""
    if dtype is not None:
        input = input.to(dtype)
    if input.ndim == 0:
        return cumsum(_scalar_as_1d(input, dim, "cumsum"), 0).reshape(())
    axis = _dim(dim, input.ndim, "cumsum")
    return half_as_float32(lambda x: CumSum.apply(x, dim=axis), input)


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


# --------------------------------------------------------------------------- more of torch's
# selection ops: rot90, fliplr, flipud, select, take, take_along_dim, masked_select, argwhere,
# index_copy, index_fill, masked_scatter (and the in-place forms the Tensor methods use),
# diagonal, diag_embed, diagflat, block_diag, cartesian_prod, combinations.


def rot90(input, k=1, dims=(0, 1)):
    """Rotate by 90 degrees k times in the plane of `dims`, from the first towards the second
    (torch.rot90): a flip and a transpose."""
    dims = tuple(dims)
    if len(dims) != 2:
        raise ValueError(f"rot90: expected 2 rotation dims, got dims={dims}")
    if input.ndim < 2:
        raise ValueError(f"rot90: expected a tensor with at least 2 dims, got {input.shape}")
    d0, d1 = _dim(dims[0], input.ndim, "rot90"), _dim(dims[1], input.ndim, "rot90")
    if d0 == d1:
        raise ValueError(f"rot90: rotation dims must differ, got dims={dims} for {input.shape}")
    k %= 4
    if k == 0:
        return clone(input)
    if k == 2:
        return flip(input, (d0, d1))
    return transpose(flip(input, d1 if k == 1 else d0), d0, d1)


def fliplr(input):
    """Reverse dim 1 (left/right) of a tensor with at least 2 dims."""
    if input.ndim < 2:
        raise ValueError(f"fliplr: expected a tensor with at least 2 dims, got {input.shape}")
    return flip(input, 1)


def flipud(input):
    """Reverse dim 0 (up/down) of a tensor with at least 1 dim."""
    if input.ndim < 1:
        raise ValueError("flipud: expected a tensor with at least 1 dim, got a 0-d tensor")
    return flip(input, 0)


def select(input, dim, index):
    """The slice at `index` (negative counts from the end) along `dim`, without that dim:
    input[:, index] for dim=1 (torch.select)."""
    if input.ndim == 0:
        raise IndexError("select: cannot be applied to a 0-d tensor")
    d = _dim(dim, input.ndim, "select")
    n, i = input.shape[d], int(index)
    if not -n <= i < n:
        raise IndexError(f"select: index {i} out of range for dim {d} of {input.shape}")
    return _index(input, (slice(None),) * d + (i % n,))


def _int_array(x, like, op, what="index"):
    a = x._data if isinstance(x, Tensor) else xp_of(like._data).asarray(x)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {what} must be an integer tensor, got {a.dtype}")
    return a


def take(input, index):
    """input.flatten()[index], of index's shape; negative indices count from the end
    (torch.take). The gradient adds back into each picked entry (repeats accumulate)."""
    idx = _int_array(index, input, "take")
    n = input.numel()
    if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
        raise IndexError(f"take: index out of range for a tensor of {n} entries {input.shape}")
    flat_idx = idx.reshape(-1) % max(n, 1)  # (a new array: the backward reads it)
    return _index(input.reshape(-1), flat_idx).reshape(idx.shape)


def take_along_dim(input, indices, dim=None):
    """Entries picked along `dim` by `indices` (torch.take_along_dim, NumPy's
    take_along_axis): gather after broadcasting input and indices off `dim`; dim=None picks from
    the flattened input (a 1-D result). Indices must lie in [0, size)."""
    idx = _int_array(indices, input, "take_along_dim", "indices")
    if dim is None:
        return _take_checked(input.reshape(-1), idx.reshape(-1), 0)
    d = _dim(dim, input.ndim, "take_along_dim")
    if idx.ndim != input.ndim:
        raise ValueError(
            f"take_along_dim: input {input.shape} and indices {tuple(idx.shape)} must have the "
            "same number of dims"
        )
    off = [broadcast_shapes("take_along_dim", (a,), (b,))[0] if i != d else 0
           for i, (a, b) in enumerate(zip(input.shape, idx.shape))]  # fmt: skip
    x_shape = tuple(input.shape[d] if i == d else n for i, n in enumerate(off))
    i_shape = tuple(idx.shape[d] if i == d else n for i, n in enumerate(off))
    x = input if input.shape == x_shape else expand(input, x_shape)
    return _take_checked(x, xp_of(idx).broadcast_to(idx, i_shape), d)


def _take_checked(x, idx, d):
    n = x.shape[d]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n):
        raise IndexError(f"take_along_dim: indices out of range [0, {n}) for dim {d} of {x.shape}")
    return gather(x, d, idx)


def masked_select(input, mask):
    """The entries where `mask` (bool, broadcast with input) is True, as a 1-D tensor in
    row-major order (torch.masked_select)."""
    m = mask._data if isinstance(mask, Tensor) else xp_of(input._data).asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_select: mask must be a bool tensor, got {m.dtype}")
    shape = broadcast_shapes("masked_select", input.shape, tuple(m.shape))
    x = input if input.shape == shape else expand(input, shape)
    if not shape:  # 0-d: one entry, picked or not
        x, m, shape = x.reshape(1), m.reshape(1), (1,)
    # the True positions as integer arrays (row-major, as the mask reads): the scatter-add of
    # Index's backward takes those on NumPy and CuPy alike
    return _index(x, xp_of(m).nonzero(xp_of(m).broadcast_to(m, shape)))


def argwhere(input):
    """Indices of the non-zero entries as an (n, ndim) int64 tensor (torch.argwhere, the same
    as nonzero). Not differentiable."""
    return nonzero(input)


def _index_vector(input, d, index, op, negative):
    """A 0-d or 1-d integer index along dim d as a 1-D array (a copy, for the backward);
    negative entries count from the end where torch allows them (`negative`)."""
    idx = _int_array(index, input, op)
    if idx.ndim > 1:
        raise ValueError(f"{op}: index must be 0-d or 1-d, got shape {tuple(idx.shape)}")
    n = input.shape[d] if input.ndim else 1
    lo = -n if negative else 0
    if idx.size and (int(idx.min()) < lo or int(idx.max()) >= n):
        raise IndexError(
            f"{op}: index {idx.tolist()} out of range [{lo}, {n}) for dim {d} of {input.shape}"
        )
    return idx.reshape(-1) % max(n, 1)


def _copy_args(input, dim, index, source, op):
    """index_copy's key into input and source in the shape it writes (checked)."""
    if not isinstance(source, Tensor):
        raise TypeError(f"{op}: source must be a Tensor, got {type(source).__name__}")
    if source.dtype != input.dtype:
        raise TypeError(f"{op}: source has dtype {source.dtype}, the input {input.dtype}")
    if input.ndim == 0:
        _check_scalar_dim(dim, op)
        idx = _index_vector(input, 0, index, op, negative=False)
        if idx.shape != (1,) or source.numel() != 1:
            raise ValueError(
                f"{op}: a 0-d input takes one index and one source entry, got index "
                f"{idx.tolist()} and source {source.shape}"
            )
        return (), source.reshape(())
    d = _dim(dim, input.ndim, op)
    idx = _index_vector(input, d, index, op, negative=False)
    if source.ndim == 0 and input.ndim == 1:
        source = source.reshape(1)
    want = input.shape[:d] + (len(idx),) + input.shape[d + 1 :]
    if source.shape != want:
        raise ValueError(
            f"{op}: source of shape {source.shape} does not fit {len(idx)} indices along dim "
            f"{d} of {input.shape} (expected {want})"
        )
    return (slice(None),) * d + (idx,), source


def index_copy(input, dim, index, source):
    """A copy of input with its slices index[k] along dim replaced by source's slices k
    (torch.index_copy; a repeated index keeps one of its writes). No gradient reaches input
    where it was overwritten; source gets the gradient at the positions it was copied to."""
    key, source = _copy_args(input, dim, index, source, "index_copy")
    if input.ndim == 0:  # one entry: as a 1-D tensor of one (the backward writes into g)
        x1, s1 = input.reshape(1), source.reshape(1)
        return _Scatter.apply(x1, s1, key=(slice(None),), block=(), accumulate=False).reshape(())
    return _Scatter.apply(input, source, key=key, block=(), accumulate=False)


def _fill_mask(input, dim, index, op):
    """A bool mask, broadcastable to input, that is True on the slices `index` along dim."""
    if input.ndim == 0:
        _check_scalar_dim(dim, op)
        idx = _index_vector(input, 0, index, op, negative=True)
        return xp_of(input._data).asarray(bool(idx.size))
    d = _dim(dim, input.ndim, op)
    idx = _index_vector(input, d, index, op, negative=True)
    mask = xp_of(idx).zeros(input.shape[d], dtype=bool)
    mask[idx] = True
    return mask.reshape((-1,) + (1,) * (input.ndim - d - 1))


def _fill_value(value, input, op):
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"{op}: value must be a number or a 0-d tensor, got {value.shape}")
        if value.dtype != input.dtype:
            value = value.to(input.dtype)
    return value


def index_fill(input, dim, index, value):
    """A copy of input with the slices index (negative counts from the end) along dim set to
    `value`, a number or a 0-d tensor (torch.index_fill). A 0-d tensor value gets the gradient
    summed over the filled entries."""
    mask = _fill_mask(input, dim, index, "index_fill")
    return masked_fill(input, mask, _fill_value(value, input, "index_fill"))


class MaskedScatter(Function):
    """out = x (broadcast to the mask's shape) with the first k = mask.sum() entries of the
    flattened source written, in order, where mask is True: d x = g where mask is False,
    d source = g[mask] in its first k entries, zero after."""

    @staticmethod
    def forward(ctx, x, src, *, mask, k):
        ctx.mask, ctx.k, ctx.src_shape = mask, k, src.shape
        out = xp_of(x).broadcast_to(x, mask.shape).copy()
        out[mask] = src.reshape(-1)[:k]
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        gx = xp.where(ctx.mask, xp.zeros((), dtype=g.dtype), g)
        gs = xp.zeros(int(np.prod(ctx.src_shape, dtype=np.int64)), dtype=g.dtype)
        gs[: ctx.k] = g[ctx.mask]
        return gx, gs.reshape(ctx.src_shape)


def _scatter_mask(input, mask, source, op, shape=None):
    m = mask._data if isinstance(mask, Tensor) else xp_of(input._data).asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask must be a bool tensor, got {m.dtype}")
    if not isinstance(source, Tensor) or source.dtype != input.dtype:
        raise TypeError(
            f"{op}: source must be a tensor of the input's dtype {input.dtype}, got "
            f"{getattr(source, 'dtype', type(source).__name__)}"
        )
    full = broadcast_shapes(op, input.shape, tuple(m.shape))
    if shape is not None and full != shape:
        raise ValueError(
            f"{op}: mask of shape {tuple(m.shape)} does not broadcast to the tensor's {shape}"
        )
    m = xp_of(m).broadcast_to(m, full).copy()
    k = int(m.sum())
    if source.numel() < k:
        raise ValueError(
            f"{op}: source has {source.numel()} entries {source.shape}, fewer than the {k} "
            "True entries of the mask"
        )
    return m, k


def masked_scatter(input, mask, source):
    """A copy of input (broadcast with mask) with source's entries, in row-major order, written
    where mask is True (torch.masked_scatter; source needs at least mask.sum() entries)."""
    m, k = _scatter_mask(input, mask, source, "masked_scatter")
    return MaskedScatter.apply(input, source, mask=m, k=k)


# the in-place forms behind Tensor.index_fill_, index_copy_ and masked_scatter_: checked as the
# out-of-place ops, written through Tensor._inplace (no graph, the version counter bumped)


def index_fill_(input, dim, index, value):
    mask = _fill_mask(input, dim, index, "index_fill_")
    value = _fill_value(value, input, "index_fill_")
    return input._inplace(
        "index_fill_",
        lambda a, v: xp_of(a).copyto(a, v, where=mask, casting="unsafe"),
        value,
    )


def index_copy_(input, dim, index, source):
    key, source = _copy_args(input, dim, index, source, "index_copy_")
    return input._inplace("index_copy_", lambda a, s: a.__setitem__(key, s), source)


def masked_scatter_(input, mask, source):
    m, k = _scatter_mask(input, mask, source, "masked_scatter_", shape=input.shape)
    return input._inplace(
        "masked_scatter_", lambda a, s: a.__setitem__(m, s.reshape(-1)[:k]), source
    )


def _diag_write(values, shape, offset, dim1, dim2):
    """Zeros of `shape` with `values` (..., L) on the offset-diagonal of dims (dim1, dim2), the
    other dims in order: the adjoint of xp.diagonal."""
    xp = xp_of(values)
    out = xp.zeros(shape, dtype=values.dtype)
    plane = xp.moveaxis(out, (dim1, dim2), (-2, -1))  # a view: writes land in out
    i = xp.arange(values.shape[-1])
    plane[..., i + max(-offset, 0), i + max(offset, 0)] = values
    return out


class Diagonal(Function):
    """y[..., i] = x[..., i, ..., i + offset, ...] over dims (dim1, dim2), the diagonal as the
    last dim (torch.diagonal); the gradient puts g back on that diagonal, zeros elsewhere.

    A view, as torch's: `x.diagonal().add_(eps)` (under no_grad) writes into x, and it shares
    x's version counter (apply sees the view's base)."""

    @staticmethod
    def forward(ctx, x, *, offset, dim1, dim2):
        ctx.shape, ctx.offset, ctx.dim1, ctx.dim2 = x.shape, offset, dim1, dim2
        y = xp_of(x).diagonal(x, offset, dim1, dim2)
        if isinstance(y, np.ndarray) and x.flags.writeable:
            y.flags.writeable = True  # NumPy hands out a read-only view; the entries are distinct
        return y

    @staticmethod
    def backward(ctx, g):
        return _diag_write(g, ctx.shape, ctx.offset, ctx.dim1, ctx.dim2)


class DiagEmbed(Function):
    """The adjoint of Diagonal: x (..., n) on the offset-diagonal of two new dims of size
    n + |offset|; the gradient reads that diagonal back."""

    @staticmethod
    def forward(ctx, x, *, offset, dim1, dim2):
        ctx.offset, ctx.dim1, ctx.dim2 = offset, dim1, dim2
        m = x.shape[-1] + abs(offset)
        rest = iter(x.shape[:-1])
        shape = tuple(m if i in (dim1, dim2) else next(rest) for i in range(x.ndim + 1))
        return _diag_write(x, shape, offset, dim1, dim2)

    @staticmethod
    def backward(ctx, g):
        return xp_of(g).diagonal(g, ctx.offset, ctx.dim1, ctx.dim2).copy()  # (writable)


def _diag_dims(ndim, dim1, dim2, op, shape):
    d1, d2 = _dim(dim1, ndim, op), _dim(dim2, ndim, op)
    if d1 == d2:
        raise ValueError(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2} for {shape}")
    return d1, d2


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The offset-diagonal of the dims (dim1, dim2) (above the main one for offset > 0), moved
    to the last dim: (2, 3, 4) with dims (0, 2) -> (3, 2) (torch.diagonal)."""
    if input.ndim < 2:
        raise ValueError(f"diagonal: expected a tensor with at least 2 dims, got {input.shape}")
    d1, d2 = _diag_dims(input.ndim, dim1, dim2, "diagonal", input.shape)
    return Diagonal.apply(input, offset=int(offset), dim1=d1, dim2=d2)


def diag_embed(input, offset=0, dim1=-2, dim2=-1):
    """Each last-dim vector of input on the offset-diagonal of a new (n + |offset|)-square
    plane over the output dims (dim1, dim2), zeros elsewhere (torch.diag_embed)."""
    if input.ndim == 0:
        raise ValueError("diag_embed: expected a tensor with at least 1 dim, got a 0-d tensor")
    d1, d2 = _diag_dims(input.ndim + 1, dim1, dim2, "diag_embed", input.shape)
    return DiagEmbed.apply(input, offset=int(offset), dim1=d1, dim2=d2)


def diagflat(input, offset=0):
    """The flattened input on the offset-diagonal of a square matrix (torch.diagflat)."""
    return DiagEmbed.apply(input.reshape(-1), offset=int(offset), dim1=0, dim2=1)


class BlockDiag(Function):
    """The 2-D blocks placed corner to corner down the diagonal of a zero matrix; each block's
    gradient is its own rectangle of g."""

    @staticmethod
    def forward(ctx, *blocks):
        xp = xp_of(*blocks)
        floats = [b.dtype for b in blocks if b.dtype.kind == "f"]
        dtype = np.result_type(*(floats or [b.dtype for b in blocks]))  # float keeps its width
        rows = np.cumsum([0] + [b.shape[0] for b in blocks]).tolist()
        cols = np.cumsum([0] + [b.shape[1] for b in blocks]).tolist()
        ctx.spans = [(slice(r0, r1), slice(c0, c1))
                     for r0, r1, c0, c1 in zip(rows, rows[1:], cols, cols[1:])]  # fmt: skip
        out = xp.zeros((rows[-1], cols[-1]), dtype=dtype)
        for b, span in zip(blocks, ctx.spans):
            out[span] = b
        return out

    @staticmethod
    def backward(ctx, g):
        return tuple(g[span] for span in ctx.spans)


def block_diag(*tensors):
    """A block-diagonal matrix of the tensors (0-d -> 1 x 1, 1-d (n,) -> 1 x n) (torch.block_diag;
    none gives a 1 x 0 matrix, as torch)."""
    if not tensors:
        return Tensor(np.zeros((1, 0), dtype=get_default_dtype()))
    for i, t in enumerate(tensors):
        if t.ndim > 2:
            raise ValueError(
                f"block_diag: input tensors must have at most 2 dims, input {i} has shape {t.shape}"
            )
    blocks = [t.reshape((1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t for t in tensors]
    return BlockDiag.apply(*blocks)


def cartesian_prod(*tensors):
    """Every combination of one entry from each 1-D tensor, as rows of an (n1 * n2 * ..., k)
    tensor in row-major order (torch.cartesian_prod; one tensor comes back as it is)."""
    if not tensors:
        raise ValueError("cartesian_prod: expected at least one tensor")
    if any(t.ndim != 1 for t in tensors):
        raise ValueError(
            f"cartesian_prod: expected 1-D tensors, got shapes {[t.shape for t in tensors]}"
        )
    if len({t.dtype for t in tensors}) > 1:
        raise TypeError(
            f"cartesian_prod: expected one dtype, got {[str(t.dtype) for t in tensors]}"
        )
    if len(tensors) == 1:
        return tensors[0]
    return stack([g.reshape(-1) for g in meshgrid(*tensors, indexing="ij")], dim=1)


def _combination_rows(n, r, with_replacement):
    """The index rows of combinations(range(n), r) in lexicographic order, one column per step:
    each row grows by every value after (or from) its last one, all rows at once."""
    rows = np.arange(n)[:, None]
    for _ in range(r - 1):
        start = rows[:, -1] + (0 if with_replacement else 1)
        counts = n - start
        ends = np.cumsum(counts)
        step = np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - counts, counts)
        last = np.repeat(start, counts) + step
        rows = np.concatenate([np.repeat(rows, counts, 0), last[:, None]], 1)
    return rows


def combinations(input, r=2, with_replacement=False):
    """The length-r combinations of a 1-D tensor's entries, as rows of a (C, r) tensor in
    lexicographic order (itertools.combinations, or combinations_with_replacement); r = 0 gives
    an empty 1-D tensor (torch.combinations). The gradient adds back into each entry."""
    if input.ndim != 1:
        raise ValueError(f"combinations: expected a 1-D tensor, got shape {input.shape}")
    if r < 0:
        raise ValueError(f"combinations: r must be >= 0, got {r}")
    if r == 0:
        return _index(input, slice(0, 0))
    rows = _combination_rows(input.shape[0], int(r), with_replacement)
    return _index(input, xp_of(input._data).asarray(rows))
