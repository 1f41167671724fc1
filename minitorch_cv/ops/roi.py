"""Region-of-interest pooling, torchvision.ops' roi_align and roi_pool: each box of a batch of
feature maps becomes a fixed (PH, PW) grid of features, the heads of Fast / Mask R-CNN.

Both follow torchvision's CPU kernels rule for rule (sampling positions, rounding, clamping,
ties) and have a hand-written backward: the gradient goes to the input only (as torchvision,
none to the boxes).

roi_align is separable: the bilinear weight of a sample is a row weight times a column weight
(and a sample is out of range when its row or its column is), so each ROI's output is
Ay @ X @ Ax^T with Ay (PH, H) and Ax (PW, W) summing the weights over the sample points (built
vectorised over ROIs, from only the samples that can land on the map). The products run per
ROI, two GEMMs over all channels on the window of rows and columns its samples touch: memory
and time independent of the sampling grid. roi_pool gathers each bin's pixels, padded to the
largest bin of a chunk of ROIs of similar bin size, and takes the maximum.

Boxes are a (K, 5) tensor of rows (batch_index, x1, y1, x2, y2) or a list of (Ki, 4) tensors,
one per image, in input-image coordinates; `spatial_scale` maps them onto the feature map.
"""

from __future__ import annotations

import numpy as np

from ..backend import to_device, xp_of
from ..layers.module import Module
from ..tensor import Function, Tensor

# At most about this many elements in the arrays gathered for a chunk of ROIs (windows, bins,
# sample taps).
_CHUNK_ELEMENTS = 1 << 22

_INTS = (int, np.integer)


def _pair(op, v):
    pair = (v, v) if isinstance(v, _INTS) else tuple(v) if isinstance(v, (tuple, list)) else ()
    message = f"{op}: output_size must be a positive int or (height, width), got {v!r}"
    if len(pair) != 2 or not all(isinstance(s, _INTS) for s in pair):
        raise TypeError(message)
    if not all(s > 0 for s in pair):
        raise ValueError(message)
    return int(pair[0]), int(pair[1])


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _rois(op, boxes, x):
    """Boxes as a (K, 5) array of x's dtype: (batch_index, x1, y1, x2, y2) rows."""
    xp = xp_of(x)
    if isinstance(boxes, (list, tuple)):
        rows = []
        for i, b in enumerate(boxes):
            b = xp.asarray(_raw(b))
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(
                    f"{op}: expected boxes as a list of (Ki, 4) tensors, got item {i} of shape "
                    f"{tuple(b.shape)}"
                )
            ids = xp.full((b.shape[0], 1), i, dtype=x.dtype)
            rows.append(xp.concatenate([ids, b.astype(x.dtype)], axis=1))
        rois = xp.concatenate(rows) if rows else xp.zeros((0, 5), dtype=x.dtype)
    elif isinstance(boxes, Tensor) or hasattr(boxes, "shape"):
        rois = xp.asarray(_raw(boxes)).astype(x.dtype)  # a copy: the backward reads it
        if rois.ndim != 2 or rois.shape[1] != 5:
            raise ValueError(
                f"{op}: expected boxes as a (K, 5) tensor of (batch_index, x1, y1, x2, y2) rows, "
                f"got shape {tuple(rois.shape)}"
            )
    else:
        raise TypeError(
            f"{op}: boxes must be a (K, 5) tensor or a list of (Ki, 4) tensors, got "
            f"{type(boxes).__name__}"
        )
    if rois.shape[0]:
        if not bool(xp.isfinite(rois[:, 0]).all()):
            bad = rois[:, 0][~xp.isfinite(rois[:, 0])]
            raise ValueError(f"{op}: box batch indices must be finite, got {float(bad[0])}")
        bi = rois[:, 0].astype(xp.int64)  # the kernels truncate to int
        lo, hi = int(bi.min()), int(bi.max())
        if lo < 0 or hi >= x.shape[0]:
            raise ValueError(
                f"{op}: box batch indices must lie in [0, {x.shape[0] - 1}] for input "
                f"{tuple(x.shape)}, got indices from {lo} to {hi}"
            )
    return rois


def _check_input(op, input):
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: expected input to be a Tensor, got {type(input).__name__}")
    if input.ndim != 4 or input.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected a floating point input of shape (N, C, H, W), got {input.dtype} "
            f"of shape {tuple(input.shape)}"
        )


def _size_chunks(sizes, per_cell):
    """Chunks of ROIs, each ROI needing a (height, width) block of cells of `per_cell` elements:
    the ROIs sorted by height, then width, and cut into runs whose blocks, padded to the run's
    largest height and width, hold at most _CHUNK_ELEMENTS elements (at least one ROI a run),
    so that a large ROI pads only its own run. `sizes`: (K, 2) ints on the host.
    Returns [(roi ids (host int64), height, width)]."""
    order = np.lexsort((sizes[:, 1], sizes[:, 0]))  # by height, then width
    hs, ws = sizes[order, 0].tolist(), sizes[order, 1].tolist()
    chunks, i = [], 0
    while i < len(order):  # over ROIs, on the host: a few integer operations each
        j, h, w = i + 1, hs[i], ws[i]
        while j < len(order):
            nh, nw = max(h, hs[j]), max(w, ws[j])
            if (j + 1 - i) * nh * nw * per_cell > _CHUNK_ELEMENTS:
                break
            j, h, w = j + 1, nh, nw
        chunks.append((order[i:j], h, w))
        i = j
    return chunks


# --------------------------------------------------------------------------- roi_align


def _align_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned):
    """Per ROI, as torchvision's kernel: start (y, x), bin size (h, w), samples per bin
    (grid_h, grid_w; ceil(roi size / output size) when sampling_ratio <= 0) and the divisor
    count = max(grid_h * grid_w, 1). All in the input's dtype, grids int64."""
    xp = xp_of(rois)
    dt = rois.dtype.type
    offset = dt(0.5 if aligned else 0.0)
    scale = dt(spatial_scale)
    start_w, start_h = rois[:, 1] * scale - offset, rois[:, 2] * scale - offset
    roi_w = (rois[:, 3] * scale - offset) - start_w
    roi_h = (rois[:, 4] * scale - offset) - start_h
    if not aligned:  # legacy: malformed ROIs forced to 1 x 1
        roi_w, roi_h = xp.maximum(roi_w, dt(1)), xp.maximum(roi_h, dt(1))
    ph, pw = output_size
    bin_h, bin_w = roi_h / dt(ph), roi_w / dt(pw)
    if sampling_ratio > 0:
        grid_h = xp.full(rois.shape[0], sampling_ratio, dtype=xp.int64)
        grid_w = grid_h
    else:
        grid_h = xp.ceil(roi_h / dt(ph)).astype(xp.int64)
        grid_w = xp.ceil(roi_w / dt(pw)).astype(xp.int64)
    count = xp.maximum(grid_h * grid_w, 1).astype(rois.dtype)
    return (start_h, start_w), (bin_h, bin_w), (grid_h, grid_w), count


def _axis_taps(start, bin_size, grid, i, size):
    """The bilinear taps along one axis of sample points `i` (k, bins, n) of each bin, for k
    ROIs: sample i of bin p at t = start + p * bin + (i + 0.5) * bin / grid; a sample outside
    [-1, size] (or i >= grid) has zero weight; t is clamped at 0 and at size - 1 as in
    torchvision's bilinear_interpolate. Returns (low, high) int64 and (w_low, w_high), each
    (k, bins, n).
    """
    xp = xp_of(start)
    dt = start.dtype.type
    p = xp.arange(i.shape[1]).astype(start.dtype)[None, :, None]
    s, b, g = start[:, None, None], bin_size[:, None, None], grid[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = (s + p * b) + ((i + 0.5).astype(start.dtype) * b) / g.astype(start.dtype)
        live = (i < g) & (t >= -1.0) & (t <= size)
    t = xp.maximum(xp.where(live, t, dt(0)), dt(0))
    low = t.astype(xp.int64)
    edge = low >= size - 1
    low = xp.where(edge, size - 1, low)
    high = xp.where(edge, size - 1, low + 1)
    t = xp.where(edge, low.astype(start.dtype), t)
    frac = t - low.astype(start.dtype)
    return (low, high), ((1 - frac) * live, frac * live)


def _live_samples(start, bin_size, grid, bins, size):
    """Per ROI and bin (k, bins), the first sample index i that can fall in [-1, size] and how
    many can: t_i = t_0 + i * d (d = bin / grid) solved for i in float64, widened by a margin
    for the rounding of t in the input's dtype, so that it holds every live sample (_axis_taps
    decides which are). A huge box thus costs the samples near the map, not its whole grid."""
    xp = xp_of(start)
    s, b = start.astype(xp.float64)[:, None], bin_size.astype(xp.float64)[:, None]
    g = xp.maximum(grid, 1).astype(xp.float64)[:, None]  # grid < 1: no live sample anyway
    p = xp.arange(bins).astype(xp.float64)[None, :]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        d = b / g
        t0 = (s + p * b) + 0.5 * d
        lo, hi = (-1.0 - t0) / d, (size - t0) / d  # swapped when d < 0
        eps = float(np.finfo(start.dtype).eps)
        margin = 2 + 4 * eps * (xp.abs(s) + bins * xp.abs(b) + size + 1) / xp.abs(d)
        first = xp.floor(xp.minimum(lo, hi) - margin)
        last = xp.ceil(xp.maximum(lo, hi) + margin)
    exact = xp.isfinite(first) & xp.isfinite(last) & (d != 0)  # else: every sample
    first = xp.where(exact, xp.minimum(xp.maximum(first, 0), g), 0)
    last = xp.where(exact, xp.minimum(xp.maximum(last, -1), g - 1), g - 1)
    return first.astype(xp.int64), xp.maximum(last - first + 1, 0).astype(xp.int64)


def _axis_weights(start, bin_size, grid, bins, size):
    """(k, bins, size) float64: entry [r, p, y] is the bilinear weight of pixel y summed over
    the sample points of bin p of ROI r along one axis. Accumulated by bincount over chunks of
    ROIs and blocks of their (possibly live) sample points: memory and time do not grow with
    the sampling grid beyond the samples on the map."""
    xp = xp_of(start)
    out = xp.zeros((start.shape[0], bins, size), dtype=xp.float64)
    first, count = _live_samples(start, bin_size, grid, bins, size)
    n = np.maximum(to_device(count.max(axis=1), "cpu"), 1)
    for ids, n_max, _ in _size_chunks(np.stack([n, np.ones_like(n)], axis=1), bins):
        ids, k = xp.asarray(ids), len(ids)
        s, b, g, i0 = start[ids], bin_size[ids], grid[ids], first[ids][:, :, None]
        total = xp.zeros(k * bins * size, dtype=xp.float64)
        row = ((xp.arange(k)[:, None] * bins + xp.arange(bins)[None, :]) * size)[:, :, None]
        step = max(1, _CHUNK_ELEMENTS // (k * bins))
        for j in range(0, n_max, step):
            (lo, hi), (w_lo, w_hi) = _axis_taps(s, b, g, i0 + xp.arange(j, min(n_max, j + step)),
                                                size)  # fmt: skip
            pos = xp.concatenate([(row + lo).reshape(-1), (row + hi).reshape(-1)])
            wgt = xp.concatenate([w_lo.reshape(-1), w_hi.reshape(-1)])
            total += xp.bincount(pos, weights=wgt, minlength=total.size)
        out[ids] = total.reshape(k, bins, size)
    return out


def _span(m):
    """Per ROI of m (k, P, size): the first and one past the last index with a non-zero weight
    (host int64), and whether there is one."""
    nz = (m != 0).any(axis=1)  # (k, size)
    first = nz.argmax(axis=1)
    stop = m.shape[2] - nz[:, ::-1].argmax(axis=1)
    return tuple(to_device(a, "cpu") for a in (first, stop, nz.any(axis=1)))


def _align_plan(rois, shape, output_size, spatial_scale, sampling_ratio, aligned):
    """roi_align in separable form: ay (K, PH, H) with the 1 / count divisor folded in and
    ax (K, PW, W), in the input's dtype, and per ROI with a sample on the map its window:
    (roi, batch index, first row, stop row, first col, stop col) on the host, the rows and
    columns holding every pixel its samples touch (a ROI without one has output 0)."""
    (sy, sx), (bh, bw), (gh, gw), count = _align_geometry(
        rois, output_size, spatial_scale, sampling_ratio, aligned
    )
    _, _, h, w = shape
    ay = (_axis_weights(sy, bh, gh, output_size[0], h) / count[:, None, None]).astype(rois.dtype)
    ax = _axis_weights(sx, bw, gw, output_size[1], w).astype(rois.dtype)
    (y0, y1, live_y), (x0, x1, live_x) = _span(ay), _span(ax)
    batch = to_device(rois[:, 0], "cpu").astype(np.int64)
    live = np.flatnonzero(live_y & live_x)
    windows = np.stack([live, batch[live], y0[live], y1[live], x0[live], x1[live]], axis=1)
    return ay, ax, windows.tolist()


class RoIAlignFunction(Function):
    """out[k, c, i, j] = mean over the grid_h x grid_w sample points of bin (i, j) of ROI k of
    input[b_k, c] read bilinearly there (torchvision's roi_align; an empty grid gives 0).

    Computed as out[k, c] = Ay[k] @ input[b_k, c] @ Ax[k]^T on the ROI's window (the rows and
    columns its samples touch): two GEMMs per ROI, every channel at once. A NaN or inf input
    value anywhere in a ROI's window (not only at the pixels a bin reads, as in torchvision)
    makes that ROI's outputs of that channel NaN or inf.

    Gradient: the transposed products, Ay[k]^T @ g[k, c] @ Ax[k], added into each ROI's window.

    Shapes: input (N, C, H, W), rois (K, 5) -> (K, C, PH, PW).
    """

    @staticmethod
    def forward(ctx, x, rois, *, output_size, spatial_scale, sampling_ratio, aligned):
        xp = xp_of(x)
        _, c, h, w = x.shape
        ph, pw = output_size
        out = xp.zeros((rois.shape[0], c, ph, pw), dtype=x.dtype)
        ctx.shape, ctx.plan = x.shape, None
        if out.size == 0 or h == 0 or w == 0:
            return out
        ctx.plan = _align_plan(rois, x.shape, output_size, spatial_scale, sampling_ratio, aligned)
        ay, ax, windows = ctx.plan
        xt = xp.ascontiguousarray(x.transpose(0, 2, 1, 3))  # (N, H, C, W)
        for k, b, y0, y1, x0, x1 in windows:
            win = xt[b, y0:y1, :, x0:x1].reshape(y1 - y0, -1)  # (wh, C * ww)
            t = (ay[k, :, y0:y1] @ win).reshape(ph * c, x1 - x0)  # rows contracted
            out[k] = (t @ ax[k, :, x0:x1].T).reshape(ph, c, pw).transpose(1, 0, 2)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        n, c, h, w = ctx.shape
        gt = xp.zeros((n, h, c, w), dtype=g.dtype)
        if ctx.plan is not None:
            ay, ax, windows = ctx.plan
            ph = ay.shape[1]
            for k, b, y0, y1, x0, x1 in windows:
                u = g[k].reshape(c * ph, -1) @ ax[k, :, x0:x1]  # (C * PH, ww): columns
                u = u.reshape(c, ph, -1).transpose(1, 0, 2).reshape(ph, -1)  # (PH, C * ww)
                gt[b, y0:y1, :, x0:x1] += (ay[k, :, y0:y1].T @ u).reshape(y1 - y0, c, -1)
        return xp.ascontiguousarray(gt.transpose(0, 2, 1, 3)), None


def roi_align(input, boxes, output_size, spatial_scale=1.0, sampling_ratio=-1, aligned=False):
    """RoI Align (He et al., 2017; torchvision.ops.roi_align): each box cut into PH x PW bins,
    each bin the mean of input read bilinearly at grid_h x grid_w evenly spaced points.

    Args:
        input: (N, C, H, W) feature maps.
        boxes: (K, 5) tensor of (batch_index, x1, y1, x2, y2) rows, or a list of N (Ki, 4)
            tensors of (x1, y1, x2, y2) boxes, one per image.
        output_size (int or (PH, PW)): the bins per box.
        spatial_scale (float): box coordinates times this are feature-map coordinates (e.g.
            1/16 for a stride-16 map). Default 1.0.
        sampling_ratio (int): sample points per bin along each axis; <= 0 (default -1): adaptive,
            ceil(roi height / PH) by ceil(roi width / PW).
        aligned (bool): shift the box by -0.5 pixel so that pixel centres sit at integer + 0.5
            (Detectron2's fix); False (default) keeps the legacy behaviour, where a box shorter
            than one pixel is stretched to one pixel.

    Shapes: -> (K, C, PH, PW). Gradient: to input only. A NaN or inf in the input makes NaN or
    inf every bin of a ROI whose window (the rows and columns its samples touch) holds it, not
    only the bins that read it as in torchvision.
    """
    _check_input("roi_align", input)
    output_size = _pair("roi_align", output_size)
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, _INTS):
        raise TypeError(f"roi_align: sampling_ratio must be an int, got {sampling_ratio!r}")
    rois = _rois("roi_align", boxes, input._data)
    return RoIAlignFunction.apply(
        input, rois, output_size=output_size, spatial_scale=float(spatial_scale),
        sampling_ratio=int(sampling_ratio), aligned=bool(aligned),
    )  # fmt: skip


# --------------------------------------------------------------------------- roi_pool


def _round_half_away(v):
    """C's round(): halves away from zero (NumPy's round goes to even)."""
    xp = xp_of(v)
    t = xp.trunc(v)
    return xp.where(xp.abs(v - t) >= 0.5, t + xp.sign(v), t)


def _pool_windows(rois, output_size, spatial_scale, hw):
    """Per ROI and bin, the clipped window [start, end) along each axis, as torchvision's
    roi_pool kernel: box corners rounded (half away from zero) after scaling, the ROI at least
    1 x 1 pixel, bin p spanning floor(p * size / P) to ceil((p + 1) * size / P)."""
    xp = xp_of(rois)
    dt = rois.dtype.type
    corners = _round_half_away(rois[:, 1:] * dt(spatial_scale)).astype(xp.int64)
    windows = []
    for axis, (p_count, size) in enumerate(zip(output_size, hw)):
        start, end = corners[:, 1 - axis], corners[:, 3 - axis]  # y first, then x
        length = xp.maximum(end - start + 1, 1).astype(rois.dtype)
        bin_size = (length / dt(p_count))[:, None]
        p = xp.arange(p_count).astype(rois.dtype)[None, :]
        lo = xp.floor(p * bin_size).astype(xp.int64) + start[:, None]
        hi = xp.ceil((p + 1) * bin_size).astype(xp.int64) + start[:, None]
        windows.append((xp.clip(lo, 0, size), xp.clip(hi, 0, size)))  # (K, P) each
    return windows


class RoIPoolFunction(Function):
    """out[k, c, i, j] = max of input[b_k, c] over bin (i, j) of ROI k (torchvision's roi_pool):
    the first maximum in row-major order wins, NaN never does; an empty bin gives 0 and a bin
    with nothing above -FLT_MAX gives -FLT_MAX, both with no argmax (no gradient).

    Gradient: g added at each bin's argmax pixel (bins may overlap: scatter-add).

    Shapes: input (N, C, H, W), rois (K, 5) -> (K, C, PH, PW).
    """

    @staticmethod
    def forward(ctx, x, rois, *, output_size, spatial_scale):
        xp = xp_of(x)
        k, (_, c, h, w) = rois.shape[0], x.shape
        ph, pw = output_size
        out = xp.zeros((k, c, ph, pw), dtype=x.dtype)
        arg = xp.full((k, c, ph, pw), -1, dtype=xp.int64)
        ctx.shape, ctx.bi, ctx.arg = x.shape, rois[:, 0].astype(xp.int64), arg
        if out.size == 0:
            return out
        (hs, he), (ws, we) = _pool_windows(rois, output_size, spatial_scale, (h, w))
        empty = (he <= hs)[:, :, None] | (we <= ws)[:, None, :]  # (K, PH, PW)
        floor = x.dtype.type(-np.finfo(np.float32).max)  # the kernel's start: -FLT_MAX
        # (N, H + 1, W + 1, C), pixels as rows of channels; what cannot beat the kernel's start
        # (NaN, <= -FLT_MAX) and the extra row and column (where padding of a bin points) -inf
        xn = xp.full((x.shape[0], h + 1, w + 1, c), -xp.inf, dtype=x.dtype)
        xt = x.transpose(0, 2, 3, 1)
        xn[:, :h, :w] = xp.where(xt > floor, xt, x.dtype.type(-xp.inf))
        # each ROI's largest bin (at least 1 x 1), to pad the bins of its chunk to
        bins = xp.stack([(he - hs).max(axis=1), (we - ws).max(axis=1)], axis=1)
        for ids, lh, lw in _size_chunks(np.maximum(to_device(bins, "cpu"), 1), c * ph * pw):
            ids = xp.asarray(ids)
            rows = hs[ids][:, :, None] + xp.arange(lh)  # (k, PH, LH)
            cols = ws[ids][:, :, None] + xp.arange(lw)  # (k, PW, LW)
            rows = xp.where(rows < he[ids][:, :, None], rows, h)  # past the bin: the -inf row
            cols = xp.where(cols < we[ids][:, :, None], cols, w)
            r, q = rows[:, :, None, :, None], cols[:, None, :, None, :]
            v = xn[ctx.bi[ids].reshape(-1, 1, 1, 1, 1), r, q]  # (k, PH, PW, LH, LW, C)
            flat = v.reshape(v.shape[:3] + (lh * lw, c))
            j = flat.argmax(axis=3)  # (k, PH, PW, C): the first maximum in row-major order
            best = xp.take_along_axis(flat, j[:, :, :, None], axis=3)[:, :, :, 0]
            found = best > -xp.inf
            start = xp.where(empty[ids], x.dtype.type(0), floor)[..., None]
            out[ids] = xp.where(found, best, start).transpose(0, 3, 1, 2)
            kk = xp.arange(len(ids)).reshape(-1, 1, 1, 1)
            pi = xp.arange(ph).reshape(1, ph, 1, 1)
            qi = xp.arange(pw).reshape(1, 1, pw, 1)
            pos = rows[kk, pi, j // lw] * w + cols[kk, qi, j % lw]
            arg[ids] = xp.where(found, pos, -1).transpose(0, 3, 1, 2)
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        n, c, h, w = ctx.shape
        found = ctx.arg >= 0
        plane = (ctx.bi.reshape(-1, 1, 1, 1) * c + xp.arange(c).reshape(1, c, 1, 1)) * (h * w)
        pos = xp.where(found, plane + ctx.arg, 0).reshape(-1)
        size = n * c * h * w
        gx = xp.bincount(pos, weights=(g * found).reshape(-1), minlength=size)
        return gx.reshape(ctx.shape).astype(g.dtype), None


def roi_pool(input, boxes, output_size, spatial_scale=1.0):
    """RoI max pooling (Girshick, 2015; torchvision.ops.roi_pool): each box, its corners
    rounded to whole feature-map pixels, cut into PH x PW bins, each bin's maximum.

    Args:
        input: (N, C, H, W). boxes: (K, 5) tensor of (batch_index, x1, y1, x2, y2) rows or a
            list of (Ki, 4) tensors. output_size (int or (PH, PW)). spatial_scale (float):
            Default 1.0.

    Shapes: -> (K, C, PH, PW). Gradient: to input only, at each bin's argmax.
    """
    _check_input("roi_pool", input)
    output_size = _pair("roi_pool", output_size)
    rois = _rois("roi_pool", boxes, input._data)
    return RoIPoolFunction.apply(
        input, rois, output_size=output_size, spatial_scale=float(spatial_scale)
    )


# --------------------------------------------------------------------------- modules


class RoIAlign(Module):
    """`roi_align` as a module (torchvision.ops.RoIAlign); forward(input, rois)."""

    def __init__(self, output_size, spatial_scale, sampling_ratio, aligned=False):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input, rois):
        return roi_align(input, rois, self.output_size, self.spatial_scale,
                         self.sampling_ratio, self.aligned)  # fmt: skip

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
            f"aligned={self.aligned})"
        )


class RoIPool(Module):
    """`roi_pool` as a module (torchvision.ops.RoIPool); forward(input, rois)."""

    def __init__(self, output_size, spatial_scale):
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input, rois):
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(output_size={self.output_size}, "
            f"spatial_scale={self.spatial_scale})"
        )
