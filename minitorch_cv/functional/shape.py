"""Ops that move elements without changing them: reshape, permute, indexing, cat, pad, ..."""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, _raw_key, promote_types


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(int(s) for s in shape)


def _dim(d, ndim, op):
    if not -ndim <= d < ndim:
        raise IndexError(f"{op}: dim {d} out of range for a tensor with {ndim} dimensions")
    return d % ndim


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, *, shape):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, *, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse)


class Expand(Function):
    """Broadcast to a larger shape; the tape's un-broadcasting is exactly its backward."""

    @staticmethod
    def forward(ctx, a, *, shape):
        return xp_of(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, g):
        return g


class Repeat(Function):
    @staticmethod
    def forward(ctx, a, *, reps):
        extra = len(reps) - a.ndim
        ctx.shape = (1,) * extra + a.shape
        ctx.reps = reps
        return xp_of(a).tile(a.reshape(ctx.shape), reps)

    @staticmethod
    def backward(ctx, g):
        # split every axis into (repeat, size) and sum the repeats
        split = []
        for r, n in zip(ctx.reps, ctx.shape):
            split += [r, n]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g


class Index(Function):
    """a[key] for basic (slices, ints, None, ...) and integer-array / boolean keys."""

    @staticmethod
    def forward(ctx, a, *, key):
        ctx.in_shape, ctx.dtype, ctx.key = a.shape, a.dtype, key
        return a[key]

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        out = xp.zeros(ctx.in_shape, dtype=g.dtype)
        if _is_basic(ctx.key):
            out[ctx.key] = g  # basic keys never repeat an element
        else:
            xp.add.at(out, ctx.key, g)  # integer arrays may repeat an index: accumulate
        return out


def _is_basic(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer)) for k in keys)


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        ctx.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return xp_of(*arrays).concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return tuple(xp_of(g).split(g, ctx.bounds, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim):
        ctx.dim = dim
        return xp_of(*arrays).stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        return tuple(
            xp.squeeze(p, axis=ctx.dim) for p in xp.split(g, g.shape[ctx.dim], axis=ctx.dim)
        )


class PadConstant(Function):
    @staticmethod
    def forward(ctx, a, *, widths, value):
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return xp_of(a).pad(a, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.crop]


# --------------------------------------------------------------------------- public API


def reshape(input, *shape):
    shape = _shape_args(shape)
    known = int(np.prod([n for n in shape if n != -1], dtype=np.int64))
    fits = known == input.numel() if -1 not in shape else known > 0 and input.numel() % known == 0
    if shape.count(-1) > 1 or any(n < -1 for n in shape) or not fits:
        raise ValueError(
            f"reshape: shape {input.shape} ({input.numel()} elements) cannot become {shape}"
        )
    return Reshape.apply(input, shape=shape)


view = reshape


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = _dim(start_dim, input.ndim, "flatten"), _dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(
            f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for {input.shape}"
        )
    shape = (
        input.shape[:s]
        + (int(np.prod(input.shape[s : e + 1], dtype=np.int64)),)
        + input.shape[e + 1 :]
    )
    return Reshape.apply(input, shape=shape)


def permute(input, *dims):
    dims = _shape_args(dims)
    if sorted(d % max(input.ndim, 1) for d in dims) != list(range(input.ndim)):
        raise ValueError(
            f"permute: dims {dims} are not a permutation of the {input.ndim} dims of {input.shape}"
        )
    return Permute.apply(input, dims=tuple(d % input.ndim for d in dims))


def transpose(input, dim0, dim1):
    dims = list(range(input.ndim))
    d0, d1 = _dim(dim0, input.ndim, "transpose"), _dim(dim1, input.ndim, "transpose")
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, dims=tuple(dims))


def squeeze(input, dim=None):
    if dim is None:
        shape = tuple(n for n in input.shape if n != 1)
    else:
        dims = {_dim(d, input.ndim, "squeeze") for d in ((dim,) if isinstance(dim, int) else dim)}
        shape = tuple(n for i, n in enumerate(input.shape) if not (i in dims and n == 1))
    return Reshape.apply(input, shape=shape)


def unsqueeze(input, dim):
    d = _dim(dim, input.ndim + 1, "unsqueeze")
    return Reshape.apply(input, shape=input.shape[:d] + (1,) + input.shape[d:])


def expand(input, *sizes):
    sizes = _shape_args(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"expand: cannot expand shape {input.shape} to {sizes} (fewer dims)")
    lead = len(sizes) - input.ndim
    if any(s < 0 for s in sizes[:lead]):
        raise ValueError(f"expand: -1 is not allowed for the new leading dims of {sizes}")
    shape = tuple(
        input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes)
    )
    for i, n in enumerate(input.shape):
        if n != 1 and n != shape[i + lead]:
            raise ValueError(
                f"expand: cannot expand shape {input.shape} to {sizes} (dim {i} has size {n})"
            )
    return Expand.apply(input, shape=shape)


def expand_as(input, other):
    return expand(input, other.shape)


def repeat(input, *reps):
    reps = _shape_args(reps)
    if len(reps) < input.ndim:
        raise ValueError(
            f"repeat: need at least {input.ndim} repeat counts for shape {input.shape}, got {reps}"
        )
    return Repeat.apply(input, reps=reps)


def index(input, key):
    """`input[key]` with gradient; integer-array keys may repeat indices (their gradients add)."""
    try:
        return Index.apply(input, key=_raw_key(key))
    except IndexError as e:
        raise IndexError(f"index: {e} (tensor of shape {input.shape})") from None


def _common_dtype(tensors):
    """The tensors in one dtype, promoted as torch.cat does (int64 with float32 is float32, where
    NumPy's concatenate would give float64)."""
    dtype = tensors[0].dtype
    for t in tensors[1:]:
        dtype = promote_types(dtype, t.dtype)
    return [
        t if t.dtype == dtype else t.to(dtype) if isinstance(t, Tensor) else t.astype(dtype)
        for t in tensors
    ]


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    tensors = _common_dtype(tensors)
    nd = tensors[0].ndim
    d = _dim(dim, nd, "cat")
    for t in tensors:
        if t.ndim != nd or any(
            a != b for i, (a, b) in enumerate(zip(t.shape, tensors[0].shape)) if i != d
        ):
            raise ValueError(f"cat: shapes {[x.shape for x in tensors]} differ outside dim {d}")
    return Cat.apply(*tensors, dim=d)


concatenate = cat


def stack(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    if any(t.shape != tensors[0].shape for t in tensors):
        raise ValueError(
            f"stack: all tensors must have the same shape, got {[t.shape for t in tensors]}"
        )
    tensors = _common_dtype(tensors)
    return Stack.apply(*tensors, dim=_dim(dim, tensors[0].ndim + 1, "stack"))


def split(input, split_size_or_sections, dim=0):
    """Pieces of `input` along `dim`: equal pieces of a given size, or the sizes listed."""
    d = _dim(dim, input.ndim, "split")
    n = input.shape[d]
    if isinstance(split_size_or_sections, int):
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections:
            sizes.append(n % split_size_or_sections)
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(
                f"split: sizes {sizes} do not add up to {n} (dim {d} of {input.shape})"
            )
    out, start = [], 0
    for s in sizes:
        key = (slice(None),) * d + (slice(start, start + s),)
        out.append(index(input, key))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    n = input.shape[_dim(dim, input.ndim, "chunk")]
    return split(input, -(-n // chunks), dim)


def pad(input, pad, mode="constant", value=None):
    """Pad the last len(pad)//2 dims; `pad` lists (left, right) for the last dim first, as PyTorch.

    Modes: 'constant' (with `value`, default 0), 'reflect', 'replicate', 'circular'. A negative
    width crops, as in PyTorch: constant and circular crop first and pad the rest; reflect and
    replicate read every output position off the uncropped input, so (-1, 3) on [a b c d] gives
    [b c d c b a]. Reflect widths must be smaller than the dim, circular ones at most the dim.
    """
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(
            f"pad: padding {pad} must be pairs for at most {input.ndim} dims of {input.shape}"
        )
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ValueError(
            f"pad: unknown mode {mode!r}; expected constant, reflect, replicate or circular"
        )
    widths = [(0, 0)] * input.ndim
    for i in range(len(pad) // 2):
        widths[input.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    for d, ((lo, hi), n) in enumerate(zip(widths, input.shape)):
        kept = n - max(-lo, 0) - max(-hi, 0)  # what the cropping leaves
        if (kept if mode in ("constant", "circular") else n + lo + hi) < 0:
            raise ValueError(f"pad: padding {(lo, hi)} crops more than dim {d} of {input.shape}")
        if mode == "circular" and kept == 0 and max(lo, hi) > 0:
            raise ValueError(
                f"pad: circular padding {(lo, hi)} crops dim {d} of {input.shape} to nothing "
                "to wrap"
            )
        if mode == "reflect" and max(lo, hi) >= n and (lo, hi) != (0, 0):  # (an empty batch)
            raise ValueError(
                f"pad: reflect padding {(lo, hi)} must be smaller than dim {d} of {input.shape}"
            )
        if mode == "circular" and max(lo, hi) > n:  # PyTorch will not wrap around twice
            raise ValueError(
                f"pad: circular padding {(lo, hi)} wraps around dim {d} of {input.shape} more "
                f"than once (at most {n} per side)"
            )
    if mode in ("constant", "circular") and any(min(w) < 0 for w in widths):
        key = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, input.shape))
        input = index(input, key)
        widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if mode == "constant":
        return PadConstant.apply(input, widths=tuple(widths), value=0 if value is None else value)
    # the other modes are a gather along each padded dim: the gradient is Index's scatter-add
    out = input
    for d, (lo, hi) in enumerate(widths):
        if lo == hi == 0:
            continue
        n = out.shape[d]
        pos = np.arange(-lo, n + hi)  # output positions in input coordinates
        if mode == "reflect":
            pos = np.abs(pos)
            pos = np.where(pos > n - 1, 2 * (n - 1) - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            pos = pos % n
        out = index(out, (slice(None),) * d + (xp_of(out._data).asarray(pos),))
    return out


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): each group of r^2 channels becomes an r x r block of
    pixels (sub-pixel convolution upsampling, ESPCN). A reshape and a permute, so its gradient is
    the inverse rearrangement."""
    r = int(upscale_factor)
    if r < 1:
        raise ValueError(f"pixel_shuffle: upscale_factor must be >= 1, got {upscale_factor}")
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ValueError(
            f"pixel_shuffle: expected input (*, C*{r}^2, H, W) with channels divisible by "
            f"{r * r}, got shape {tuple(input.shape)}"
        )
    *lead, c, h, w = input.shape
    k = len(lead)
    x = reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = permute(x, *range(k), k, k + 3, k + 1, k + 4, k + 2)  # (*, C, H, r, W, r)
    return reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
    r = int(downscale_factor)
    if r < 1:
        raise ValueError(f"pixel_unshuffle: downscale_factor must be >= 1, got {downscale_factor}")
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ValueError(
            f"pixel_unshuffle: expected input (*, C, H, W) with H and W divisible by {r}, got "
            f"shape {tuple(input.shape)}"
        )
    *lead, c, h, w = input.shape
    k = len(lead)
    x = reshape(input, (*lead, c, h // r, r, w // r, r))
    x = permute(x, *range(k), k, k + 2, k + 4, k + 1, k + 3)  # (*, C, r, r, H, W)
    return reshape(x, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input, groups):
    """(N, C, *) -> the same shape with the channels interleaved across `groups`: channel
    k * (C / groups) + i (channel i of group k) moves to i * groups + k (ShuffleNet), so the next
    grouped conv sees every group.
    A reshape, a transpose and a reshape, so its gradient is the inverse permutation."""
    g = int(groups)
    if input.ndim < 3 or g < 1 or input.shape[1] % g:
        raise ValueError(
            f"channel_shuffle: expected input (N, C, *) with C divisible by groups={groups}, got "
            f"shape {tuple(input.shape)}"
        )
    n, c, *rest = input.shape
    x = reshape(input, (n, g, c // g, *rest))
    return reshape(transpose(x, 1, 2), (n, c, *rest))


def one_hot(tensor, num_classes=-1):
    """Integer class indices (*) -> (*, num_classes) int64 with a 1 at each index (PyTorch's
    `F.one_hot`); num_classes=-1 takes max(index) + 1. Not differentiable (integer output)."""
    t = tensor._data if isinstance(tensor, Tensor) else tensor
    xp = xp_of(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected integer class indices, got dtype {t.dtype}")
    if t.size and int(t.min()) < 0:
        raise ValueError(f"one_hot: class indices must be >= 0, got {int(t.min())}")
    top = int(t.max()) + 1 if t.size else 0
    if num_classes == -1:
        if not t.size:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor")
        num_classes = top
    elif top > num_classes:
        raise ValueError(
            f"one_hot: class index {top - 1} is out of range for {num_classes} classes"
        )
    out = (t[..., None] == xp.arange(num_classes)).astype(xp.int64)
    return Tensor(out)


# --------------------------------------------------------------------------- more of torch's
# shape ops: each a rearrangement built on the Functions above (permute, reshape, expand, repeat,
# index, cat), so its gradient is theirs, except the sliding windows of Tensor.unfold.


def _dims_arg(dims, op):
    """An int or a sequence of ints as a tuple (torch takes both for a dims argument)."""
    if isinstance(dims, (int, np.integer)):
        return (int(dims),)
    if isinstance(dims, (tuple, list)) and all(isinstance(d, (int, np.integer)) for d in dims):
        return tuple(int(d) for d in dims)
    raise TypeError(f"{op}: expected an int or a sequence of ints, got {dims!r}")


def movedim(input, source, destination):
    """Move the dims `source` (an int or a sequence) to the positions `destination`; the other
    dims keep their order (torch.movedim, alias moveaxis). A permute."""
    src, dst = _dims_arg(source, "movedim"), _dims_arg(destination, "movedim")
    if len(src) != len(dst):
        raise ValueError(
            f"movedim: source {src} and destination {dst} must name as many dims as each other"
        )
    nd = max(input.ndim, 1)  # a 0-d tensor takes dim 0 / -1, as in torch
    src = tuple(_dim(d, nd, "movedim") for d in src)
    dst = tuple(_dim(d, nd, "movedim") for d in dst)
    for name, ds in (("source", src), ("destination", dst)):
        if len(set(ds)) != len(ds):
            raise ValueError(f"movedim: repeated dim in {name} {ds}")
    if input.ndim == 0:
        return Permute.apply(input, dims=())
    order = [d for d in range(input.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(input, dims=tuple(order))


moveaxis = movedim


def swapaxes(input, axis0, axis1):
    """`input` with dims axis0 and axis1 exchanged (torch.swapaxes; transpose by another name).
    A 0-d tensor takes dims 0 / -1 and comes back as it is, as in torch."""
    dims = list(range(input.ndim))
    nd = max(input.ndim, 1)
    d0, d1 = _dim(axis0, nd, "swapaxes"), _dim(axis1, nd, "swapaxes")
    if input.ndim == 0:
        return Permute.apply(input, dims=())
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(input, dims=tuple(dims))


def swapdims(input, dim0, dim1):
    """torch.swapdims: the same as swapaxes (and transpose)."""
    return swapaxes(input, dim0, dim1)


def tile(input, dims, *more):
    """`input` repeated dims[i] times along each dim (torch.tile): `dims` shorter than the tensor's
    dims is padded with leading ones, longer adds leading dims (then it is `repeat`). The gradient
    sums the copies. `t.tile(2, 1)` and `tile(t, (2, 1))` both work."""
    reps = _dims_arg((dims, *more) if more else dims, "tile")
    if any(r < 0 for r in reps):
        raise ValueError(f"tile: repeat counts must be >= 0, got {reps} for shape {input.shape}")
    reps = (1,) * (input.ndim - len(reps)) + reps
    return Repeat.apply(input, reps=reps)


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None):
    """Each entry (slice along `dim`) repeated `repeats` times in place, [a, b] -> [a, a, b, b]
    (torch.repeat_interleave). `repeats` is an int, or an integer tensor with one count per entry
    (or a single count); dim=None works on the flattened tensor. `output_size`, if given, must be
    the total. With only an integer tensor r (no repeats): arange(len(r)) repeated r times.

    An int count is an expand of a new axis and a reshape (the gradient sums the copies); a tensor
    of counts is `RepeatInterleave` (the gradient sums each run of copies into its source)."""
    if repeats is None:  # torch.repeat_interleave(repeats): the indices, each its count times
        r = input._data if isinstance(input, Tensor) else input
        xp = xp_of(r)
        if r.ndim != 1 or r.dtype.kind not in "iu" or (r.size and int(r.min()) < 0):
            raise ValueError(
                f"repeat_interleave: expected a 1-D tensor of non-negative integer counts, got "
                f"{r.dtype} of shape {tuple(r.shape)}"
            )
        out = _run_sources(r)
        _check_output_size(len(out), output_size)
        return Tensor(out.astype(xp.int64, copy=False))
    if dim is None:
        input, d = Reshape.apply(input, shape=(-1,)), 0
    else:
        d = _dim(dim, input.ndim, "repeat_interleave")
    n = input.shape[d]
    if isinstance(repeats, (int, np.integer)):
        r = int(repeats)
    else:
        r = repeats._data if isinstance(repeats, Tensor) else xp_of(input._data).asarray(repeats)
        if r.dtype.kind not in "iu":
            raise TypeError(f"repeat_interleave: repeats must be integers, got {r.dtype}")
        if r.ndim > 1:
            raise ValueError(
                f"repeat_interleave: repeats must be an int or a 0-d / 1-d tensor, got shape "
                f"{tuple(r.shape)}"
            )
        if r.size == 1:
            r = int(r.reshape(()))  # one count for every entry, as a 0-d tensor or [k]
        elif r.shape != (n,):
            raise ValueError(
                f"repeat_interleave: repeats has {r.shape[0] if r.ndim else 0} counts, but dim "
                f"{d} of {input.shape} has size {n}"
            )
    if isinstance(r, int):
        if r < 0:
            raise ValueError(f"repeat_interleave: repeats must be >= 0, got {r}")
        _check_output_size(n * r, output_size)
        s = input.shape
        x = Reshape.apply(input, shape=s[: d + 1] + (1,) + s[d + 1 :])
        x = Expand.apply(x, shape=s[: d + 1] + (r,) + s[d + 1 :])
        return Reshape.apply(x, shape=s[:d] + (n * r,) + s[d + 1 :])
    if r.size and int(r.min()) < 0:
        raise ValueError(f"repeat_interleave: repeats must be >= 0, got {r.tolist()}")
    _check_output_size(int(r.sum()), output_size)
    return RepeatInterleave.apply(input, counts=r, dim=d)


def _check_output_size(total, output_size):
    if output_size is not None and int(output_size) != total:
        raise ValueError(
            f"repeat_interleave: output_size={output_size}, but the repeats add up to {total}"
        )


def _run_sources(counts):
    """The entry each output position of a repeat by `counts` copies: arange(len(counts)) with
    entry j repeated counts[j] times, computed where counts live (CuPy's repeat takes counts
    only as a host list: a search of the run ends there)."""
    xp = xp_of(counts)
    if xp is np:
        return np.repeat(np.arange(len(counts)), counts)
    ends = xp.cumsum(counts)
    total = int(ends[-1]) if len(ends) else 0
    return xp.searchsorted(ends, xp.arange(total), side="right")


class RepeatInterleave(Function):
    """Slice j of x along `dim` repeated counts[j] times, in order (a tensor of counts).

    Shapes:  x (..., n, ...), counts (n,) -> y (..., counts.sum(), ...)
    The backward sums each run of copies into its source slice: an add.at of g at the sources,
    or on NumPy, for short runs (counts <= 16) of slices of 16 or more entries (a middle dim of
    an image batch), one take-and-add per position in a run (4-7x faster there).
    """

    @staticmethod
    def forward(ctx, x, *, counts, dim):
        src = _run_sources(counts)
        ctx.in_shape, ctx.counts, ctx.src, ctx.dim = x.shape, counts.copy(), src, dim
        return xp_of(x).take(x, src, axis=dim)

    @staticmethod
    def backward(ctx, g):
        xp, counts, d = xp_of(g), ctx.counts, ctx.dim
        gx, head = xp.zeros(ctx.in_shape, dtype=g.dtype), (slice(None),) * d
        longest = int(counts.max(initial=0)) if xp is np else None
        if longest is not None and longest <= 16 and np.prod(ctx.in_shape[d + 1 :]) >= 16:
            starts = np.cumsum(counts) - counts
            for c in range(longest):  # the c-th copy of every run at least c + 1 long
                k = np.flatnonzero(counts > c)
                gx[head + (k,)] += np.take(g, starts[k] + c, axis=d)
        else:
            xp.add.at(gx, head + (ctx.src,), g)
        return gx


def unflatten(input, dim, sizes):
    """Dim `dim` split into `sizes` (their product its size; one -1 is inferred), the inverse of
    flatten (torch.unflatten). A reshape."""
    d = _dim(dim, input.ndim, "unflatten")
    sizes = _dims_arg(sizes, "unflatten")
    n = input.shape[d]
    known = int(np.prod([s for s in sizes if s != -1], dtype=np.int64))
    bad = (
        not sizes
        or sizes.count(-1) > 1
        or any(s < -1 for s in sizes)
        or (known != n if -1 not in sizes else known == 0 or n % known)
    )
    if bad:
        raise ValueError(
            f"unflatten: sizes {sizes} do not split dim {d} of size {n} of {input.shape} (they "
            "must be non-empty and multiply to the size, with at most one -1 to infer)"
        )
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    return Reshape.apply(input, shape=input.shape[:d] + sizes + input.shape[d + 1 :])


def broadcast_to(input, size):
    """`input` broadcast to `size` (torch.broadcast_to: expand, -1 keeping a dim's size)."""
    try:
        return expand(input, tuple(size))
    except ValueError as e:
        raise ValueError(f"broadcast_to: {str(e).removeprefix('expand: ')}") from None


def _tensor_list(tensors):
    """`f(a, b)` and `f([a, b])` both as a list of tensors (torch's *tensors / sequence forms)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return list(tensors[0]), True
    return list(tensors), len(tensors) != 1


def _atleast(tensors, n):
    ts, many = _tensor_list(tensors)
    out = []
    for t in ts:
        s = t.shape
        if len(s) < n:
            # () -> ones; (N,) -> (1, N) or (1, N, 1); (M, N) -> (M, N, 1), as torch and NumPy
            s = (1,) * n if not s else (1, *s, 1)[:n] if len(s) == 1 else (*s, 1)
            t = Reshape.apply(t, shape=s)
        out.append(t)
    return tuple(out) if many else out[0]


def atleast_1d(*tensors):
    """Each tensor with at least 1 dim (a 0-d one becomes (1,)); one tensor in, one out, else a
    tuple (torch.atleast_1d)."""
    return _atleast(tensors, 1)


def atleast_2d(*tensors):
    """Each tensor with at least 2 dims: () -> (1, 1), (N,) -> (1, N)."""
    return _atleast(tensors, 2)


def atleast_3d(*tensors):
    """Each tensor with at least 3 dims: () -> (1, 1, 1), (N,) -> (1, N, 1), (M, N) ->
    (M, N, 1), as torch (and NumPy)."""
    return _atleast(tensors, 3)


def _cat_as(op, tensors, dim):
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    try:
        return cat(tensors, dim)
    except (ValueError, IndexError) as e:
        raise type(e)(f"{op}: {e}") from None


def hstack(tensors):
    """Concatenate column-wise: along dim 0 for 1-D tensors, dim 1 otherwise (0-d ones are 1-D)."""
    ts = list(atleast_1d(list(tensors))) if tensors else []
    return _cat_as("hstack", ts, 0 if ts and ts[0].ndim == 1 else 1)


def vstack(tensors):
    """Concatenate row-wise (along dim 0) after atleast_2d: 1-D tensors become rows."""
    return _cat_as("vstack", list(atleast_2d(list(tensors))) if tensors else [], 0)


row_stack = vstack


def dstack(tensors):
    """Concatenate depth-wise (along dim 2) after atleast_3d."""
    return _cat_as("dstack", list(atleast_3d(list(tensors))) if tensors else [], 2)


def column_stack(tensors):
    """0-d and 1-d tensors become (numel, 1) columns, then all are concatenated along dim 1."""
    ts = [Reshape.apply(t, shape=(t.numel(), 1)) if t.ndim <= 1 else t for t in tensors]
    return _cat_as("column_stack", ts, 1)


def tensor_split(input, indices_or_sections, dim=0):
    """Views of `input` along `dim`: an int s gives s pieces as equal as can be (the first
    n % s one longer), a list (or 1-D integer tensor) of indices splits before each, as Python
    slices (so out-of-range indices give empty pieces) (torch.tensor_split)."""
    if input.ndim == 0:
        raise ValueError("tensor_split: expected a tensor with at least 1 dim, got a 0-d tensor")
    d = _dim(dim, input.ndim, "tensor_split")
    n = input.shape[d]
    ios = indices_or_sections
    if isinstance(ios, Tensor) or hasattr(ios, "dtype"):
        raw = ios._data if isinstance(ios, Tensor) else ios
        if raw.dtype.kind not in "iu" or raw.ndim > 1:
            raise TypeError(
                f"tensor_split: a tensor indices_or_sections must be a 0-d or 1-d integer "
                f"tensor, got {raw.dtype} of shape {tuple(raw.shape)}"
            )
        ios = int(raw) if raw.ndim == 0 else [int(i) for i in raw.tolist()]
    head = (slice(None),) * d
    if isinstance(ios, (int, np.integer)):
        if ios <= 0:
            raise ValueError(f"tensor_split: number of sections must be > 0, got {ios}")
        q, r = divmod(n, int(ios))
        bounds = np.cumsum([0] + [q + 1] * r + [q] * (int(ios) - r)).tolist()
        return tuple(index(input, head + (slice(a, b),)) for a, b in zip(bounds, bounds[1:]))
    idx = [int(i) for i in ios]
    starts, ends = [None, *idx], [*idx, None]
    return tuple(index(input, head + (slice(a, b),)) for a, b in zip(starts, ends))


def _split_dim(op, input, indices_or_sections, min_ndim, dim):
    if input.ndim < min_ndim:
        raise ValueError(
            f"{op}: needs a tensor with at least {min_ndim} dims, got shape {input.shape}"
        )
    s = indices_or_sections
    if isinstance(s, (int, np.integer)) and (s <= 0 or input.shape[dim] % s):
        raise ValueError(
            f"{op}: cannot split dim {dim} of size {input.shape[dim]} of {input.shape} into {s} "
            "equal pieces"
        )
    return tensor_split(input, s, dim)


def hsplit(input, indices_or_sections):
    """Split column-wise: along dim 1, or dim 0 for a 1-D tensor; an int must divide the size."""
    return _split_dim("hsplit", input, indices_or_sections, 1, 1 if input.ndim > 1 else 0)


def vsplit(input, indices_or_sections):
    """Split row-wise (along dim 0) a tensor of at least 2 dims; an int must divide the size."""
    return _split_dim("vsplit", input, indices_or_sections, 2, 0)


def dsplit(input, indices_or_sections):
    """Split depth-wise (along dim 2) a tensor of at least 3 dims; an int must divide the size."""
    return _split_dim("dsplit", input, indices_or_sections, 3, 2)


class UnfoldWindows(Function):
    """Windows of `size` every `step` along dim d, as a new last dim (torch.Tensor.unfold).

    Shapes:  x (..., n, ...) -> y (..., W, ..., size),  W = (n - size) // step + 1
             y[..., w, ..., k] = x[..., w * step + k, ...]
    The forward is a strided view (no copy), read-only on NumPy where windows overlap (step <
    size: an in-place write would land several times); the backward adds g[..., k] into the W
    positions k, k + step, ... for each of the `size` offsets k (overlapping windows accumulate).
    """

    @staticmethod
    def forward(ctx, x, *, dim, size, step):
        n = x.shape[dim]
        w = (n - size) // step + 1
        ctx.in_shape, ctx.dim, ctx.size, ctx.step, ctx.w = x.shape, dim, size, step, w
        shape = x.shape[:dim] + (w,) + x.shape[dim + 1 :] + (size,)
        st = x.strides
        strides = st[:dim] + (st[dim] * step,) + st[dim + 1 :] + (st[dim],)
        if isinstance(x, np.ndarray):  # (CuPy's as_strided has no writeable flag)
            writeable = x.flags.writeable and step >= size
            return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=writeable)
        return xp_of(x).lib.stride_tricks.as_strided(x, shape=shape, strides=strides)

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        gx = xp.zeros(ctx.in_shape, dtype=g.dtype)
        head, span = (slice(None),) * ctx.dim, ctx.step * (ctx.w - 1) + 1
        for k in range(ctx.size):  # one strided add per offset in the window, over all windows
            gx[head + (slice(k, k + span, ctx.step),)] += g[..., k]
        return gx


def unfold_windows(input, dimension, size, step):
    """torch.Tensor.unfold(dimension, size, step): every window of `size` entries along
    `dimension`, `step` apart, as a new last dim (the `dimension` dim becomes the window count).
    Not `F.unfold`, which is im2col over (N, C, H, W)."""
    if input.ndim == 0:  # as torch: a 0-d tensor is one entry along dim 0 (or -1)
        if dimension not in (0, -1):
            raise IndexError(f"unfold: dim {dimension} out of range for a 0-d tensor")
        windows = unfold_windows(Reshape.apply(input, shape=(1,)), 0, size, step)
        return Reshape.apply(windows, shape=(size,))
    d = _dim(dimension, input.ndim, "unfold")
    n = input.shape[d]
    if not 0 <= size <= n or step <= 0:
        raise ValueError(
            f"unfold: size {size} must be in [0, {n}] (dim {d} of {input.shape}) and step "
            f"{step} > 0"
        )
    out = UnfoldWindows.apply(input, dim=d, size=int(size), step=int(step))
    # a view of input: it shares input's version counter, as apply gives other views (NumPy's
    # as_strided hides the base behind a wrapper), so an in-place change of input after this
    # fails the backward of an op that saved the windows instead of corrupting it
    out._vc = input._vc
    return out
