"""Vector normalisation, similarity and distances.

`normalize`, `cosine_similarity` and `pairwise_distance` are compositions of differentiable ops
(norm, clamp, div), so their gradients are those ops' own. `cdist` (every row of x1 against
every row of x2) is one Function with torch's closed-form gradient for each p; `pdist` is its
upper triangle, computed alone; `triplet_margin_with_distance_loss` takes any distance function.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..tensor import Function, promote_types, result_type
from .elementwise import broadcast_shapes, clamp, minimum
from .loss import _check_reduction, _reduce_tensor
from .precision import half_as_float32, require_floating
from .reduce import norm, sum

# float16 goes through float32 (`half_as_float32`), as PyTorch: its squared norms overflow past
# 256 and its normalised vectors came out inf or nan


def _one_dtype(op, x1, x2):
    """x1 and x2 in their promoted dtype (an integer tensor with a float one: that float), which
    must be floating, as in PyTorch."""
    dtype = promote_types(x1.dtype, x2.dtype)
    if dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point x1 or x2, got {x1.dtype} and {x2.dtype}")
    return tuple(x if x.dtype == dtype else x.to(dtype) for x in (x1, x2))


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p over dim, eps) (PyTorch's `F.normalize`): unit vectors along dim;
    eps keeps a zero vector at zero instead of dividing by 0."""
    return half_as_float32(lambda x: x / clamp(norm(x, p, dim, keepdim=True), min=eps), input)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along dim, after broadcasting x1 and x2
    (PyTorch 2's formula: each norm bounded by eps, so tiny vectors keep their angle). The two
    are promoted to one dtype (an integer tensor with a float one: that float), which must be
    floating, as in PyTorch."""
    x1, x2 = _one_dtype("cosine_similarity", x1, x2)
    shape = broadcast_shapes("cosine_similarity", x1.shape, x2.shape)
    x1, x2 = (x if x.shape == shape else x.broadcast_to(shape) for x in (x1, x2))

    def cosine(a, b):
        dot = sum(a * b, dim)
        return dot / (clamp(norm(a, 2, dim), min=eps) * clamp(norm(b, 2, dim), min=eps))

    return half_as_float32(cosine, x1, x2)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (PyTorch's `F.pairwise_distance`; the eps keeps the
    gradient finite where x1 == x2)."""
    dtype = result_type(x1, x2)  # (integers: x1 - x2 + eps is then the default float)
    if dtype.kind == "f":
        x1, x2 = (x if x.dtype == dtype else x.to(dtype) for x in (x1, x2))
    return half_as_float32(lambda a, b: norm(a - b + eps, p, -1, keepdim=keepdim), x1, x2)


# --------------------------------------------------------------------------- cdist / pdist
#
# The direct form works on differences x1_i - x2_j, a (rows, R, M) block at a time: never the
# whole (.., P, R, M) array (8.6 GB in float32 for (4, 2048, 128) against itself), and each
# block small enough to stay in cache between the passes over it.

# elements of one difference block: 2 MiB of float32 on the CPU (in cache between passes), 64 MiB
# on the GPU (fewer kernel launches)
_BLOCK, _BLOCK_GPU = 1 << 19, 1 << 24


def _budget(xp):
    return _BLOCK if xp is np else _BLOCK_GPU


def _block_norm(diff, p):
    """||diff||_p over the last axis for p in [0, inf] (p = 0 counts the nonzero entries);
    overwrites diff, a temporary."""
    xp = xp_of(diff)
    if p == 0:
        return (diff != 0).sum(-1).astype(diff.dtype)
    if p == 2:
        return xp.sqrt(xp.multiply(diff, diff, out=diff).sum(-1))
    a = xp.abs(diff, out=diff)
    if p == 1:
        return a.sum(-1)
    if p == math.inf:
        return a.max(-1) if a.shape[-1] else a.sum(-1)  # the max of no entries: 0
    return (a**p).sum(-1) ** (1 / p)


def _block_grad(diff, dist, g, p):
    """g * d||diff||_p / d diff, torch's cdist backward for each p > 0 (p = 0: all zero):

        p = 1: sign(diff)        p = 2: diff / dist
        p = inf: sign(diff) where |diff| attains the max (every tied entry gets all of it)
        else: sign(diff) |diff|^(p-1) / dist^(p-1)

    A zero distance gets the zero subgradient (finite, as in torch), and so does a zero entry
    of diff when p < 1, where |diff|^(p-1) would be infinite. Overwrites diff, a temporary."""
    xp = xp_of(diff)
    g, dist = g[..., None], dist[..., None]
    if p == 2:
        zero = dist == 0
        diff *= xp.where(zero, 0, g / xp.where(zero, 1, dist)).astype(diff.dtype, copy=False)
        return diff
    sign = xp.sign(diff)  # into a new array: NumPy's in-place sign is ~10x slower
    if p == 1:
        sign *= g
        return sign
    a = xp.abs(diff, out=diff)
    if p == math.inf:
        sign *= a == dist
        sign *= g
        return sign
    zero = dist == 0
    sign *= xp.where(zero, 0, g / xp.where(zero, 1, dist) ** (p - 1)).astype(diff.dtype)
    sign *= xp.where(a == 0, 0, xp.where(a == 0, 1, a) ** (p - 1)).astype(diff.dtype)
    return sign


def _as_batches(x, batch):
    """x (.., n, M) broadcast to batch + (n, M), then as (B, n, M)."""
    xp = xp_of(x)
    return xp.broadcast_to(x, batch + x.shape[-2:]).reshape((math.prod(batch),) + x.shape[-2:])


def _blocks(xp, n_batch, rows, cols, m):
    """(batch slice, row slice) pairs covering (B, P) whose (.., R, M) difference blocks hold
    about _budget(xp) elements: whole batch entries at a time when one fits, else rows of one."""
    budget, per_row = _budget(xp), max(1, cols * m)
    if per_row * rows <= budget:
        step = max(1, budget // max(1, per_row * rows))
        return [(slice(b, b + step), slice(None)) for b in range(0, n_batch, step)]
    step = max(1, budget // per_row)
    return [(slice(b, b + 1), slice(i, i + step))
            for b in range(n_batch) for i in range(0, rows, step)]  # fmt: skip


_MM_FLOOR = 1e-30  # torch clamps the squared distance here before the sqrt


class CDist(Function):
    """dist[..., i, j] = ||x1[..., i, :] - x2[..., j, :]||_p for x1 (.., P, M), x2 (.., R, M).

    Direct: the differences, a block of rows at a time, normed over M; backward recomputes each
    block and d x1 = sum_j G_ij,  d x2 = -sum_i G_ij  with G = g * d||diff||_p / d diff
    (_block_grad).

    With `use_mm` (p = 2 only), torch's GEMM form that never holds (P, R, M):
    dist^2 = |x1_i|^2 + |x2_j|^2 - 2 x1_i . x2_j, floored at 1e-30; with r = g / dist,
    d x1 = x1 * sum_j r_ij - r @ x2,  d x2 = x2 * sum_i r_ij - r^T @ x1, and r = 0 where the
    floor was hit (coincident points: the zero subgradient, as the direct form gives; torch's
    own mm backward divides by sqrt(1e-30) there)."""

    @staticmethod
    def forward(ctx, x1, x2, *, p, use_mm):
        xp = xp_of(x1, x2)
        ctx.p, ctx.use_mm = p, use_mm
        if use_mm:
            sq = (x1 * x1).sum(-1)[..., :, None] + (x2 * x2).sum(-1)[..., None, :]
            sq -= 2 * (x1 @ x2.swapaxes(-1, -2))
            floored = sq <= _MM_FLOOR
            dist = xp.sqrt(xp.maximum(sq, _MM_FLOOR))
            ctx.save_for_backward(x1, x2, dist, floored)
            return dist
        batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
        a, b = _as_batches(x1, batch), _as_batches(x2, batch)
        dist = xp.empty((len(a), a.shape[1], b.shape[1]), dtype=x1.dtype)
        for bs, rs in _blocks(xp, len(a), a.shape[1], b.shape[1], a.shape[2]):
            dist[bs, rs] = _block_norm(a[bs, rs, None, :] - b[bs, None, :, :], p)
        dist = dist.reshape(batch + dist.shape[1:])
        ctx.save_for_backward(x1, x2, dist)
        return dist

    @staticmethod
    def backward(ctx, g):
        x1, x2, dist, *floored = ctx.saved_tensors
        xp = xp_of(g)
        need1, need2 = ctx.needs_input_grad
        if ctx.use_mm:
            r = xp.where(floored[0], 0, g / dist).astype(dist.dtype, copy=False)
            g1 = x1 * r.sum(-1)[..., None] - r @ x2 if need1 else None
            g2 = x2 * r.sum(-2)[..., None] - r.swapaxes(-1, -2) @ x1 if need2 else None
            return g1, g2
        batch = dist.shape[:-2]
        a, b = _as_batches(x1, batch), _as_batches(x2, batch)
        # batch-broadcast gradients: the tape sums them back to x1's and x2's shapes
        g1 = xp.zeros_like(a) if need1 else None
        g2 = xp.zeros_like(b) if need2 else None
        if ctx.p != 0:  # p = 0: a count, whose gradient is 0
            g, dist = g.reshape((len(a),) + g.shape[-2:]), dist.reshape((len(a),) + g.shape[-2:])
            for bs, rs in _blocks(xp, len(a), a.shape[1], b.shape[1], a.shape[2]):
                diff = a[bs, rs, None, :] - b[bs, None, :, :]
                gd = _block_grad(diff, dist[bs, rs], g[bs, rs], ctx.p)
                if need1:
                    g1[bs, rs] = gd.sum(-2)
                if need2:
                    g2[bs] -= gd.sum(-3)
        g1 = None if g1 is None else g1.reshape(batch + x1.shape[-2:])
        g2 = None if g2 is None else g2.reshape(batch + x2.shape[-2:])
        return g1, g2


def _pair_blocks(xp, n, m):
    """Row ranges [i0, i1) of pdist's (N, M) input whose differences against rows i0+1.. hold
    about _budget(xp) elements, with the mask that keeps a block's pairs i < j: entry (k, l) of a
    block is the pair (i0 + k, i0 + 1 + l), kept where l >= k. Row i's pairs start at
    i N - i (i + 1) / 2 in the output."""
    step = max(1, _budget(xp) // max(1, n * m))
    for i0 in range(0, n - 1, step):
        i1 = min(i0 + step, n - 1)
        yield i0, i1, i0 * n - i0 * (i0 + 1) // 2, i1 * n - i1 * (i1 + 1) // 2


class PDist(Function):
    """dist[k] = ||x_i - x_j||_p for the pairs i < j of rows of x (N, M), in row-major order.

    Each block of rows is compared with the rows after its first one only (about half of
    cdist(x, x)'s work), through cdist's block norm; backward scatters g into each block and
    adds G's row sums to x_i and subtracts its column sums from x_j (_block_grad)."""

    @staticmethod
    def forward(ctx, x, *, p):
        xp = xp_of(x)
        n, m = x.shape
        ctx.p = p
        out = xp.empty(n * (n - 1) // 2, dtype=x.dtype)
        for i0, i1, o0, o1 in _pair_blocks(xp, n, m):
            d = _block_norm(x[i0:i1, None, :] - x[None, i0 + 1 :, :], p)
            out[o0:o1] = d[_upper(xp, d.shape)]
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        xp = xp_of(g)
        n, m = x.shape
        gx = xp.zeros_like(x)
        if ctx.p == 0:
            return gx
        for i0, i1, o0, o1 in _pair_blocks(xp, n, m):
            keep = _upper(xp, (i1 - i0, n - i0 - 1))
            gb, db = xp.zeros(keep.shape, dtype=g.dtype), xp.zeros(keep.shape, dtype=out.dtype)
            gb[keep], db[keep] = g[o0:o1], out[o0:o1]
            gd = _block_grad(x[i0:i1, None, :] - x[None, i0 + 1 :, :], db, gb, ctx.p)
            gx[i0:i1] += gd.sum(1)
            gx[i0 + 1 :] -= gd.sum(0)
        return gx


def _upper(xp, shape):
    """mask[k, l] = l >= k: the pairs i < j of a pdist block."""
    return xp.arange(shape[1])[None, :] >= xp.arange(shape[0])[:, None]


_COMPUTE_MODES = {  # use the GEMM form for p = 2: always, never, or when P or R exceeds 25
    "use_mm_for_euclid_dist_if_necessary": None,
    "use_mm_for_euclid_dist": True,
    "donot_use_mm_for_euclid_dist": False,
}


def _check_p(op, p):
    p = float(p)
    if not p >= 0:  # also refuses nan
        raise ValueError(f"{op}: p must be non-negative, got p={p}")
    return p


def cdist(x1, x2, p=2.0, compute_mode="use_mm_for_euclid_dist_if_necessary"):
    """The p-norm distance between each row of x1 and each row of x2 (torch.cdist), p in
    [0, inf]: p = 0 counts differing coordinates, p = inf takes the largest difference.

    Args:
        p (float): the norm's degree, >= 0. Default 2.0.
        compute_mode (str): for p = 2, 'use_mm_for_euclid_dist_if_necessary' (default: the GEMM
            form when P > 25 or R > 25), 'use_mm_for_euclid_dist' (always) or
            'donot_use_mm_for_euclid_dist' (never). The GEMM form is fastest but loses
            precision for near points (as torch's); the direct form, used for every other p,
            takes the (P, R, M) differences a block of rows at a time, never all at once.

    Shape: x1 (*, P, M), x2 (*, R, M), batch dims broadcast -> (*, P, R).
    """
    op = "cdist"
    if compute_mode not in _COMPUTE_MODES:
        raise ValueError(
            f"{op}: {compute_mode!r} is not a valid compute_mode; expected one of "
            f"{', '.join(map(repr, _COMPUTE_MODES))}"
        )
    s1, s2 = tuple(x1.shape), tuple(x2.shape)
    if len(s1) < 2 or len(s2) < 2:
        raise ValueError(f"{op}: expected x1 (*, P, M) and x2 (*, R, M), got x1 {s1} and x2 {s2}")
    if s1[-1] != s2[-1]:
        raise ValueError(
            f"{op}: x1 {s1} and x2 {s2} must have the same number of columns ({s1[-1]} != {s2[-1]})"
        )
    try:
        np.broadcast_shapes(s1[:-2], s2[:-2])
    except ValueError:
        raise ValueError(f"{op}: batch dims of x1 {s1} and x2 {s2} do not broadcast") from None
    require_floating(op, x1, "x1")
    require_floating(op, x2, "x2")
    if x1.dtype != x2.dtype:
        raise TypeError(f"{op}: expected x1 and x2 of one dtype, got {x1.dtype} and {x2.dtype}")
    p = _check_p(op, p)
    mode = _COMPUTE_MODES[compute_mode]
    use_mm = p == 2 and (mode or (mode is None and (s1[-2] > 25 or s2[-2] > 25)))
    return CDist.apply(x1, x2, p=p, use_mm=bool(use_mm))


def pdist(input, p=2):
    """The p-norm distance between every pair of rows i < j of input (torch.pdist), in the
    order (0, 1), (0, 2), .., (0, N-1), (1, 2), ..: the upper triangle of cdist(input, input)
    read row by row, computed without the lower one (direct form, for every p as torch's).

    Shape: input (N, M) -> (N (N - 1) / 2,)."""
    op = "pdist"
    shape = tuple(input.shape)
    if len(shape) != 2:
        raise ValueError(f"{op}: expected a 2-D input (N, M), got {shape}")
    require_floating(op, input)
    p = _check_p(op, p)
    return PDist.apply(input, p=p)


# --------------------------------------------------------------------------- triplet loss


def triplet_margin_with_distance_loss(anchor, positive, negative, *, distance_function=None,
                                      margin=1.0, swap=False, reduction="mean"):  # fmt: skip
    """max(0, margin + d(anchor, positive) - d(anchor, negative)) for any distance function d
    (PyTorch's `F.triplet_margin_with_distance_loss`; default `pairwise_distance`). With `swap`,
    d(anchor, negative) becomes min(d(anchor, negative), d(positive, negative)).

    Shape: anchor, positive, negative with one number of dims, any shapes `distance_function`
    takes; output what d gives (reduction 'none') or ()."""
    op = "triplet_margin_with_distance_loss"
    _check_reduction(op, reduction)
    if not margin > 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    shapes = [tuple(t.shape) for t in (anchor, positive, negative)]
    if len({len(s) for s in shapes}) > 1:
        raise ValueError(
            f"{op}: anchor, positive and negative must have the same number of dims, got "
            f"anchor {shapes[0]}, positive {shapes[1]} and negative {shapes[2]}"
        )
    d = pairwise_distance if distance_function is None else distance_function
    d_pos, d_neg = d(anchor, positive), d(anchor, negative)
    if swap:
        d_neg = minimum(d_neg, d(positive, negative))
    return _reduce_tensor(clamp(margin + d_pos - d_neg, min=0), reduction)
