"""Region-of-interest pooling, torchvision.ops' roi_align and roi_pool: each box of a batch of
feature maps becomes a fixed (PH, PW) grid of features, the heads of Fast / Mask R-CNN.

Both follow torchvision's CPU kernels rule for rule (sampling positions, rounding, clamping,
ties) and have a hand-written backward: the gradient goes to the input only (as torchvision,
none to the boxes), scattered back with one bincount per chunk of ROIs. Everything is
vectorised over ROIs, channels, bins and sampling points; the only Python loop is over chunks of
ROIs, which bounds the memory of the gathered samples.

Boxes are a (K, 5) tensor of rows (batch_index, x1, y1, x2, y2) or a list of (Ki, 4) tensors,
one per image, in input-image coordinates; `spatial_scale` maps them onto the feature map.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..layers.module import Module
from ..tensor import Function, Tensor

# At most this many gathered samples (ROIs x channels x bins x samples per bin) at a time.
_CHUNK_ELEMENTS = 1 << 22


def _pair(op, v):
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in pair):
        raise ValueError(f"{op}: output_size must be a positive int or (height, width), got {v!r}")
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


def _chunks(k, per_roi):
    """Slices of ROIs holding at most _CHUNK_ELEMENTS gathered elements each (at least one)."""
    step = max(1, _CHUNK_ELEMENTS // max(1, per_roi))
    return [slice(i, min(k, i + step)) for i in range(0, k, step)]


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


def _axis_taps(start, bin_size, grid, bins, g_max, size):
    """The bilinear taps of every sample point along one axis, for k ROIs: sample i of bin p at
    t = start + p * bin + (i + 0.5) * bin / grid; a sample outside [-1, size] (or i >= grid)
    has zero weight; t is clamped at 0 and at size - 1 as in torchvision's
    bilinear_interpolate. Returns (low, high) int64 and (w_low, w_high), each (k, bins, g_max).
    """
    xp = xp_of(start)
    dt = start.dtype.type
    p = xp.arange(bins).astype(start.dtype)[None, :, None]
    i = (xp.arange(g_max) + 0.5).astype(start.dtype)[None, None, :]
    s, b, g = start[:, None, None], bin_size[:, None, None], grid[:, None, None]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        t = (s + p * b) + (i * b) / g.astype(start.dtype)
        live = (xp.arange(g_max)[None, None, :] < g) & (t >= -1.0) & (t <= size)
    t = xp.maximum(xp.where(live, t, dt(0)), dt(0))
    low = t.astype(xp.int64)
    edge = low >= size - 1
    low = xp.where(edge, size - 1, low)
    high = xp.where(edge, size - 1, low + 1)
    t = xp.where(edge, low.astype(start.dtype), t)
    frac = t - low.astype(start.dtype)
    return (low, high), ((1 - frac) * live, frac * live)


def _align_taps(rois, sl, geometry, output_size, grid_max, hw):
    """The four bilinear corners of ROIs `sl`: [(rows, cols, weights)], broadcasting to
    (k, 1, PH, GH, PW, GW), and the batch index (k, 1, 1, 1, 1, 1)."""
    (sy, sx), (bh, bw), (gh, gw), _ = geometry
    (ys, wys) = _axis_taps(sy[sl], bh[sl], gh[sl], output_size[0], grid_max[0], hw[0])
    (xs, wxs) = _axis_taps(sx[sl], bw[sl], gw[sl], output_size[1], grid_max[1], hw[1])
    corners = []
    for y, wy in zip(ys, wys):  # (y_low, x_low), (y_low, x_high), (y_high, x_low), ...
        for x, wx in zip(xs, wxs):
            wgt = wy[:, None, :, :, None, None] * wx[:, None, None, None, :, :]
            corners.append((y[:, None, :, :, None, None], x[:, None, None, None, :, :], wgt))
    bi = rois[sl, 0].astype(np.int64).reshape(-1, 1, 1, 1, 1, 1)
    return bi, corners


def _grid_max(grid, sl):
    return max(1, int(grid[sl].max())) if grid[sl].size else 1


def _align_chunks(rois, shape, output_size, spatial_scale, sampling_ratio, aligned):
    """Per chunk of ROIs: (slice, batch index, the four bilinear corners, divisor count), each
    chunk gathering at most about _CHUNK_ELEMENTS samples with its own largest grid."""
    _, c, h, w = shape
    geometry = _align_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned)
    (gh, gw), count = geometry[2], geometry[3]
    per_roi = c * output_size[0] * output_size[1] * _grid_max(gh, slice(None))
    for sl in _chunks(rois.shape[0], per_roi * _grid_max(gw, slice(None))):
        g_max = (_grid_max(gh, sl), _grid_max(gw, sl))
        bi, corners = _align_taps(rois, sl, geometry, output_size, g_max, (h, w))
        yield sl, bi, corners, count[sl, None, None, None]


class RoIAlignFunction(Function):
    """out[k, c, i, j] = mean over the grid_h x grid_w sample points of bin (i, j) of ROI k of
    input[b_k, c] read bilinearly there (torchvision's roi_align; an empty grid gives 0).

    Gradient: each sample's weights times g / count, scattered to its four source pixels (one
    bincount per chunk of ROIs).

    Shapes: input (N, C, H, W), rois (K, 5) -> (K, C, PH, PW).
    """

    @staticmethod
    def forward(ctx, x, rois, *, output_size, spatial_scale, sampling_ratio, aligned):
        xp = xp_of(x)
        _, c, h, w = x.shape
        out = xp.zeros((rois.shape[0], c) + output_size, dtype=x.dtype)
        ctx.shape, ctx.rois = x.shape, rois
        ctx.params = (output_size, spatial_scale, sampling_ratio, aligned)
        if out.size == 0 or h == 0 or w == 0:
            return out
        ch = xp.arange(c).reshape(1, c, 1, 1, 1, 1)
        for sl, bi, corners, count in _align_chunks(rois, x.shape, *ctx.params):
            acc = 0
            for y, x_, wgt in corners:
                acc = acc + wgt * x[bi, ch, y, x_]  # (k, C, PH, GH, PW, GW)
            out[sl] = acc.sum(axis=(3, 5)) / count
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        _, c, h, w = ctx.shape
        total = xp.zeros(int(np.prod(ctx.shape)), dtype=xp.float64)
        if g.size == 0 or h == 0 or w == 0:
            return total.reshape(ctx.shape).astype(g.dtype), None
        ch = xp.arange(c).reshape(1, c, 1, 1, 1, 1)
        for sl, bi, corners, count in _align_chunks(ctx.rois, ctx.shape, *ctx.params):
            gs = (g[sl] / count)[:, :, :, None, :, None]
            plane = (bi * c + ch) * h
            pos = [((plane + y) * w + x_).reshape(-1) for y, x_, _ in corners]
            val = [(gs * wgt).reshape(-1) for _, _, wgt in corners]  # (k, C, PH, GH, PW, GW)
            total += xp.bincount(xp.concatenate(pos), weights=xp.concatenate(val),
                                 minlength=total.size)  # fmt: skip
        return total.reshape(ctx.shape).astype(g.dtype), None


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

    Shapes: -> (K, C, PH, PW). Gradient: to input only.
    """
    _check_input("roi_align", input)
    output_size = _pair("roi_align", output_size)
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
        lh, lw = max(1, int((he - hs).max())), max(1, int((we - ws).max()))
        floor = x.dtype.type(-np.finfo(np.float32).max)  # the kernel's start: -FLT_MAX
        rows = hs[:, :, None] + xp.arange(lh)  # (K, PH, LH)
        cols = ws[:, :, None] + xp.arange(lw)  # (K, PW, LW)
        row_ok, col_ok = rows < he[:, :, None], cols < we[:, :, None]
        rows, cols = xp.minimum(rows, h - 1), xp.minimum(cols, w - 1)
        ch = xp.arange(c).reshape(1, c, 1, 1, 1, 1)
        for sl in _chunks(k, c * ph * pw * lh * lw):
            r = rows[sl][:, None, :, None, :, None]  # (k, 1, PH, 1, LH, 1)
            q = cols[sl][:, None, None, :, None, :]  # (k, 1, 1, PW, 1, LW)
            v = x[ctx.bi[sl].reshape(-1, 1, 1, 1, 1, 1), ch, r, q]  # (k, C, PH, PW, LH, LW)
            ok = row_ok[sl][:, None, :, None, :, None] & col_ok[sl][:, None, None, :, None, :]
            ok = ok & (v > floor)  # what can beat the kernel's start (never NaN)
            flat = xp.where(ok, v, -xp.inf).reshape(v.shape[:4] + (lh * lw,))
            j = flat.argmax(axis=-1)  # the first maximum in row-major order
            best = xp.take_along_axis(flat, j[..., None], axis=-1)[..., 0]
            found = ok.reshape(flat.shape).any(axis=-1)
            start = xp.where(empty[sl], x.dtype.type(0), floor)[:, None]
            out[sl] = xp.where(found, best, start)
            kk = xp.arange(j.shape[0]).reshape(-1, 1, 1, 1)
            pi = xp.arange(ph).reshape(1, 1, ph, 1)
            qi = xp.arange(pw).reshape(1, 1, 1, pw)
            pos = rows[sl][kk, pi, j // lw] * w + cols[sl][kk, qi, j % lw]
            arg[sl] = xp.where(found, pos, -1)
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
