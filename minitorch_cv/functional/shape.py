"""Ops that move elements without changing them: reshape, permute, indexing, cat, pad, ..."""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, _raw_key


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


def cat(tensors, dim=0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
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
