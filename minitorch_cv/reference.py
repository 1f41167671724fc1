"""Textbook versions of the convolution-network ops: plain NumPy, explicit loops, no speed tricks.

Read these first: each one is the definition, written as directly as the formula. The fast
versions in `minitorch_cv.functional` (im2col + GEMM, strided views) must agree with them, and the
tests check that they do. Arguments and results follow PyTorch (NCHW, same names and defaults);
the inputs are NumPy arrays, the outputs new NumPy arrays of the input's dtype.
"""

from __future__ import annotations

import math

import numpy as np

from .kernels.shapes import conv_out, conv_transpose_out, pair, pool_out, resolve_padding


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, one output value at a time.

    Args:
        x: (N, C, H, W). weight: (F, C/groups, KH, KW). bias: (F,) or None.
        stride, dilation: int or (h, w). padding: int, (h, w), ((top, bottom), (left, right)),
            'same' or 'valid'. groups: input and output channels split into independent groups.

    Shape:
        (N, F, OH, OW), OH = floor((H + top + bottom - dil*(KH-1) - 1) / stride) + 1.
    """
    n_, c_, h_, w_ = x.shape
    f_, cg, kh, kw = weight.shape
    (sh, sw), (dh, dw) = pair(stride, "stride"), pair(dilation, "dilation")
    (pt, pb), (pl, pr) = resolve_padding(padding, (kh, kw), (sh, sw), (dh, dw))
    oh, ow = conv_out(h_, kh, sh, (pt, pb), dh), conv_out(w_, kw, sw, (pl, pr), dw)
    fg = f_ // groups
    y = np.zeros((n_, f_, oh, ow), dtype=x.dtype)
    for n in range(n_):
        for f in range(f_):
            g = f // fg  # the group of output channel f sees input channels g*cg .. g*cg + cg - 1
            for i in range(oh):
                for j in range(ow):
                    total = 0.0 if bias is None else bias[f]
                    for c in range(cg):
                        for a in range(kh):
                            for b in range(kw):
                                h = i * sh - pt + a * dh  # input row under kernel tap (a, b)
                                w = j * sw - pl + b * dw
                                if 0 <= h < h_ and 0 <= w < w_:  # outside: a padded zero
                                    total += x[n, g * cg + c, h, w] * weight[f, c, a, b]
                    y[n, f, i, j] = total
    return y


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):  # fmt: skip
    """2-D transposed convolution: every input pixel adds a weighted copy of the kernel to the
    output (the exact adjoint of conv2d with the same stride, padding and dilation).

    Args:
        x: (N, C_in, H, W). weight: (C_in, C_out/groups, KH, KW). bias: (C_out,) or None.
        stride, padding, output_padding, dilation: int or (h, w).

    Shape:
        (N, C_out, OH, OW), OH = (H-1)*stride - 2*padding + dil*(KH-1) + output_padding + 1.
    """
    n_, cin, h_, w_ = x.shape
    _, cog, kh, kw = weight.shape
    (sh, sw), (ph, pw) = pair(stride, "stride"), pair(padding, "padding")
    (oph, opw), (dh, dw) = pair(output_padding, "output_padding"), pair(dilation, "dilation")
    oh = conv_transpose_out(h_, kh, sh, ph, oph, dh)
    ow = conv_transpose_out(w_, kw, sw, pw, opw, dw)
    cig = cin // groups
    y = np.zeros((n_, groups * cog, oh, ow), dtype=x.dtype)
    for n in range(n_):
        for c in range(cin):
            g = c // cig
            for i in range(h_):
                for j in range(w_):
                    for o in range(cog):
                        for a in range(kh):
                            for b in range(kw):
                                h = i * sh - ph + a * dh  # the output pixel this tap reaches
                                w = j * sw - pw + b * dw
                                if 0 <= h < oh and 0 <= w < ow:
                                    y[n, g * cog + o, h, w] += x[n, c, i, j] * weight[c, o, a, b]
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def _pool_args(kernel_size, stride, padding, dilation):
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else pair(stride, "stride")
    return k, s, pair(padding, "padding"), pair(dilation, "dilation")


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over each window, and where it was.

    The window is scanned row by row; a value replaces the running max only if it is strictly
    larger (so ties go to the first) or NaN (NaN propagates), as PyTorch does. Padding counts as
    -inf: it is never picked.

    Returns:
        (y, indices): y (N, C, OH, OW); indices (int64, same shape) is h*W + w of the max within
        its (H, W) plane. OH from kernels.shapes.pool_out.
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = _pool_args(kernel_size, stride, padding, dilation)
    n_, c_, h_, w_ = x.shape
    oh, ow = pool_out(h_, kh, sh, ph, dh, ceil_mode), pool_out(w_, kw, sw, pw, dw, ceil_mode)
    y = np.empty((n_, c_, oh, ow), dtype=x.dtype)
    idx = np.empty((n_, c_, oh, ow), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for i in range(oh):
                for j in range(ow):
                    best, where = -math.inf, -1
                    for a in range(kh):
                        for b in range(kw):
                            h, w = i * sh - ph + a * dh, j * sw - pw + b * dw
                            if 0 <= h < h_ and 0 <= w < w_:
                                v = x[n, c, h, w]
                                if v > best or math.isnan(v) or where < 0:
                                    best, where = v, h * w_ + w
                    y[n, c, i, j], idx[n, c, i, j] = best, where
    return y, idx


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):  # fmt: skip
    """Mean over each window, with PyTorch's divisor.

    The divisor is `divisor_override` if given; else the window's size clipped to the padded
    input (count_include_pad=True: padded zeros count, but not the part of a ceil_mode window
    hanging beyond the padding); else the number of real input pixels in the window.
    """
    (kh, kw), (sh, sw), (ph, pw), _ = _pool_args(kernel_size, stride, padding, 1)
    n_, c_, h_, w_ = x.shape
    oh, ow = pool_out(h_, kh, sh, ph, 1, ceil_mode), pool_out(w_, kw, sw, pw, 1, ceil_mode)
    y = np.empty((n_, c_, oh, ow), dtype=x.dtype)
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * sh - ph, j * sw - pw
            h1, w1 = min(h0 + kh, h_ + ph), min(w0 + kw, w_ + pw)  # clipped to the padded input
            padded_size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, h_), min(w1, w_)  # real pixels only
            if divisor_override:
                divisor = divisor_override
            elif count_include_pad:
                divisor = padded_size
            else:
                divisor = (h1 - h0) * (w1 - w0)
            for n in range(n_):
                for c in range(c_):
                    y[n, c, i, j] = x[n, c, h0:h1, w0:w1].sum() / divisor
    return y


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D cross-correlation, one output value at a time: x (N, C, L), weight (F, C/groups, K),
    padding an int, 'same' or 'valid'. L_out = floor((L + 2*padding - dil*(K-1) - 1) / stride) + 1.
    """
    n_, _, l_ = x.shape
    f_, cg, k = weight.shape
    if padding == "same":
        lo, hi = (dilation * (k - 1)) // 2, dilation * (k - 1) - (dilation * (k - 1)) // 2
    else:
        lo = hi = 0 if padding == "valid" else padding
    out = conv_out(l_, k, stride, (lo, hi), dilation)
    fg = f_ // groups
    y = np.zeros((n_, f_, out), dtype=x.dtype)
    for n in range(n_):
        for f in range(f_):
            g = f // fg
            for i in range(out):
                total = 0.0 if bias is None else bias[f]
                for c in range(cg):
                    for a in range(k):
                        pos = i * stride - lo + a * dilation  # input position under tap a
                        if 0 <= pos < l_:
                            total += x[n, g * cg + c, pos] * weight[f, c, a]
                y[n, f, i] = total
    return y


def conv_transpose1d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):  # fmt: skip
    """1-D transposed convolution: every input value adds a weighted copy of the kernel to the
    output. x (N, C_in, L), weight (C_in, C_out/groups, K)."""
    n_, cin, l_ = x.shape
    _, cog, k = weight.shape
    out = conv_transpose_out(l_, k, stride, padding, output_padding, dilation)
    cig = cin // groups
    y = np.zeros((n_, groups * cog, out), dtype=x.dtype)
    for n in range(n_):
        for c in range(cin):
            g = c // cig
            for i in range(l_):
                for o in range(cog):
                    for a in range(k):
                        pos = i * stride - padding + a * dilation  # the output this tap reaches
                        if 0 <= pos < out:
                            y[n, g * cog + o, pos] += x[n, c, i] * weight[c, o, a]
    if bias is not None:
        y += bias[None, :, None]
    return y


def max_pool1d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over each window along L (ties to the first, NaN propagates, padding never picked);
    returns (y, indices), indices the positions along L."""
    y, idx = max_pool2d(x[:, :, None, :], (1, kernel_size), (1, stride or kernel_size),
                        (0, padding), (1, dilation), ceil_mode)  # fmt: skip
    return y[:, :, 0], idx[:, :, 0]


def avg_pool1d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over each window along L, with avg_pool2d's divisor rule."""
    y = avg_pool2d(x[:, :, None, :], (1, kernel_size), (1, stride or kernel_size), (0, padding),
                   ceil_mode, count_include_pad)  # fmt: skip
    return y[:, :, 0]


def _adaptive_bins(size: int, out: int):
    """PyTorch's adaptive bins: [floor(i*size/out), ceil((i+1)*size/out)) for i < out."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_avg_pool2d(x, output_size):
    """Mean over PyTorch's adaptive bins, giving exactly `output_size` (int or (OH, OW))."""
    oh, ow = pair(output_size, "output_size")
    n_, c_, h_, w_ = x.shape
    y = np.empty((n_, c_, oh, ow), dtype=x.dtype)
    for i, (h0, h1) in enumerate(_adaptive_bins(h_, oh)):
        for j, (w0, w1) in enumerate(_adaptive_bins(w_, ow)):
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / ((h1 - h0) * (w1 - w0))
    return y


def adaptive_max_pool2d(x, output_size):
    """Max over PyTorch's adaptive bins; returns (y, indices) with indices h*W + w."""
    oh, ow = pair(output_size, "output_size")
    n_, c_, h_, w_ = x.shape
    y = np.empty((n_, c_, oh, ow), dtype=x.dtype)
    idx = np.empty((n_, c_, oh, ow), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            for i, (h0, h1) in enumerate(_adaptive_bins(h_, oh)):
                for j, (w0, w1) in enumerate(_adaptive_bins(w_, ow)):
                    best, where = -math.inf, -1
                    for h in range(h0, h1):
                        for w in range(w0, w1):
                            v = x[n, c, h, w]
                            if v > best or math.isnan(v) or where < 0:
                                best, where = v, h * w_ + w
                    y[n, c, i, j], idx[n, c, i, j] = best, where
    return y, idx


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize (N, C, H, W) by nearest neighbour, bilinear or bicubic interpolation, PyTorch's
    coordinates.

    Output size: `size`, or floor(H * scale_factor). Source coordinate of output pixel i:
      nearest:  floor(i * scale), scale = 1/scale_factor if given else H/OH, clipped to H-1;
      nearest-exact: floor((i + 0.5) * scale), clipped;  area: adaptive_avg_pool2d;
      bilinear: align_corners=True:  i * (H-1)/(OH-1);
                align_corners=False: (i + 0.5) * scale - 0.5, clipped below at 0;
      then the two neighbours floor(src) and floor(src)+1 (clipped), weighted by distance.
    Coordinates are computed in the input's precision, as PyTorch does; nearest rounds the
    product to float32 before the floor. On outputs with OH + OW <= 128 (PyTorch's separate
    kernel for small outputs) it works wholly in float32, and 'nearest' copies an axis that keeps
    its size and halves the index on one that doubles; on larger outputs nearest-exact computes
    floor(max((i + 0.5) * scale - 0.5, 0) + 0.5), the first part rounded once.
    """
    n_, c_, h_, w_ = x.shape
    if size is not None:
        oh, ow = pair(size, "size")
        scales = (None, None)
    else:
        sf = scale_factor if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * 2
        oh, ow = math.floor(h_ * sf[0]), math.floor(w_ * sf[1])
        scales = tuple(float(s) for s in sf)
    t = np.float32 if x.dtype == np.float32 else np.float64

    def scale_of(inp, out, s):
        if mode in ("bilinear", "bicubic") and align_corners:
            return t(inp - 1) / t(out - 1) if out > 1 else t(0)
        return t(1.0 / s) if s is not None and s > 0 else t(t(inp) / t(out))

    if mode == "area":  # average over PyTorch's adaptive bins
        return adaptive_avg_pool2d(x, (oh, ow))
    small = oh + ow <= 128
    if mode not in ("bilinear", "bicubic") and small:
        t = np.float32
    sh, sw = scale_of(h_, oh, scales[0]), scale_of(w_, ow, scales[1])

    def nearest(i, out, inp, sc):
        if mode == "nearest-exact" and small:  # the source pixel whose centre is nearest
            real = (t(i) + t(0.5)) * sc
        elif mode == "nearest-exact":  # the same, as PyTorch's kernel for larger outputs has it
            real = max(t(float(sc) * (i + 0.5) - 0.5), t(0)) + t(0.5)
        elif small and out == inp:
            return i
        elif small and out == 2 * inp:
            return i >> 1
        else:
            real = t(i) * sc
        return min(int(math.floor(np.float32(real))), inp - 1)

    y = np.empty((n_, c_, oh, ow), dtype=x.dtype)
    if mode == "bicubic":
        return _bicubic(x, oh, ow, sh, sw, align_corners, t)
    for i in range(oh):
        for j in range(ow):
            if mode != "bilinear":  # nearest and nearest-exact: one source pixel
                h, w = nearest(i, oh, h_, sh), nearest(j, ow, w_, sw)
                y[:, :, i, j] = x[:, :, h, w]
                continue
            if align_corners:
                fh, fw = sh * t(i), sw * t(j)
            else:
                fh, fw = (
                    max(sh * (t(i) + t(0.5)) - t(0.5), t(0)),
                    max(sw * (t(j) + t(0.5)) - t(0.5), t(0)),
                )
            h0, w0 = min(int(math.floor(fh)), h_ - 1), min(int(math.floor(fw)), w_ - 1)
            h1, w1 = min(h0 + 1, h_ - 1), min(w0 + 1, w_ - 1)
            lh, lw = min(max(t(fh - h0), t(0)), t(1)), min(max(t(fw - w0), t(0)), t(1))
            top = (1 - lw) * x[:, :, h0, w0] + lw * x[:, :, h0, w1]
            bottom = (1 - lw) * x[:, :, h1, w0] + lw * x[:, :, h1, w1]
            y[:, :, i, j] = (1 - lh) * top + lh * bottom
    return y


def _cubic_weight(d, a=-0.75):
    """Keys' cubic convolution kernel at distance d (PyTorch's A = -0.75)."""
    d = abs(d)
    if d <= 1:
        return ((a + 2) * d - (a + 3)) * d * d + 1
    if d < 2:
        return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return 0.0


def _bicubic(x, oh, ow, sh, sw, align_corners, t):
    """Bicubic: the 4 x 4 source pixels around each output pixel's source position, weighted by
    the cubic kernel of their distance along each axis; positions off the image read the edge
    pixel. Source position: i * scale (align_corners) or (i + 0.5) * scale - 0.5, not clipped."""
    n_, c_, h_, w_ = x.shape
    y = np.zeros((n_, c_, oh, ow), dtype=np.float64)
    for i in range(oh):
        fh = float(sh * t(i) if align_corners else sh * (t(i) + t(0.5)) - t(0.5))
        for j in range(ow):
            fw = float(sw * t(j) if align_corners else sw * (t(j) + t(0.5)) - t(0.5))
            h0, w0 = math.floor(fh), math.floor(fw)
            for a in range(h0 - 1, h0 + 3):
                for b in range(w0 - 1, w0 + 3):
                    weight = _cubic_weight(fh - a) * _cubic_weight(fw - b)
                    ha, wb = min(max(a, 0), h_ - 1), min(max(b, 0), w_ - 1)
                    y[:, :, i, j] += weight * x[:, :, ha, wb]
    return y.astype(x.dtype)


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5):  # fmt: skip
    """Batch normalisation over (N,) or (N, H, W), one channel at a time.

    training=True: normalise with the batch mean and the biased batch variance, and update the
    running statistics in place (if given): running = (1 - momentum)*running + momentum*batch,
    using the *unbiased* variance (divided by count - 1), as PyTorch. training=False: normalise
    with the running statistics. Then y = y * weight + bias (per channel).

    Shape: x (N, C) or (N, C, H, W) -> same shape.
    """
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]  # (N,) or (N, H, W): everything that shares channel c
        if training:
            count = values.size
            mean = values.sum() / count
            var = ((values - mean) ** 2).sum() / count
            if running_mean is not None:
                running_mean[c] = (1 - momentum) * running_mean[c] + momentum * mean
            if running_var is not None:
                unbiased = var * count / (count - 1) if count > 1 else math.inf
                running_var[c] = (1 - momentum) * running_var[c] + momentum * unbiased
        else:
            mean, var = running_mean[c], running_var[c]
        out = (values - mean) / math.sqrt(var + eps)
        if weight is not None:
            out = out * weight[c]
        if bias is not None:
            out = out + bias[c]
        y[:, c] = out
    return y
