"""Convolution kernels: arrays and ints in, arrays out (no Tensor, no autograd).

The three products every conv layer needs, each a chunked "unfold, then one GEMM":

    conv2d(x, w)              y  = w . im2col(x)                         forward of Conv2d
    conv2d_weight(x, gy)      gw = gy . im2col(x)^T                      weight grad of both convs
    conv_transpose2d(x, w)    y  = col2im(w^T . x)                       forward of ConvTranspose2d
                                                                         and input grad of Conv2d
and Conv2d's input gradient is conv_transpose2d, ConvTranspose2d's is conv2d. Depthwise convs
(groups with one input or one output channel each, and at most 3 on the other side) skip the
GEMM: on NumPy they run as KH*KW broadcast multiply-adds over shifted views (see "depthwise
convolutions" below). Kernel taps that read only padding for every output (a large dilation on
a small map: DeepLabV3's ASPP) are cropped off each problem first (see "dead kernel taps").

The backend (numpy: im2col_numpy.py, cupy: im2col_cupy.py, imported only when a CuPy array comes
in) supplies the primitives `pad`, `windows`, `col2im_add`, `im2col`, `col2im` (same signatures
as in im2col_numpy.py) and the constant `WORKSPACE_BYTES` (bytes of unfolded matrix per chunk);
optionally `run_tasks` to spread chunks over threads. The GEMM drivers below are tuned for CPU
caches and BLAS threads; for CuPy arrays each hands over, in one line, to the GPU driver of the
same name in im2col_cupy.py (CUDA im2col, one cuBLAS GEMM per chunk of whole images, col2im as a
gather), which computes the same thing.

Arguments are normalised pairs: kernel_size, stride, dilation (h, w); padding
((top, bottom), (left, right)); shapes follow kernels.shapes.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..backend import xp_of
from . import im2col_numpy
from .shapes import conv_out, conv_transpose_out, live_taps

# Unfold NHWC-ordered rows (channels_last) for arrays with at least this many channels, NCHW
# columns below it; the measurements behind the choice are in im2col_numpy.py's docstring.
CHANNELS_LAST_MIN = 16

# Weight gradients add up per-chunk products in this many fixed runs (see conv2d_weight).
SUM_RUNS = 8

# A stride-1 transposed conv runs as a conv with the flipped kernel when its output has more than
# this many pixels per plane; on smaller planes the conv's (K-1)-wide padding costs more than the
# col2im adds (input grads, 2 threads, ms flip/col2im: 6x6 planes 4.4/1.9, 4x4 14.9/11.1; 8x8
# 17.1/17.8 and 22.0/20.3; 16x16 24.3/29.6 and 30.3/51.6; 112x112 34.9/65.2).
FLIP_MIN_PIXELS = 64

# A transposed conv through col2im scatters channels-last only onto output planes up to this
# many pixels: on larger ones the NHWC -> NCHW transpose of the output costs more than the
# channel-major strided adds (k3 s2, 1 thread, ms cl/cm: 7x7 -> 14x14 21.9/26.9, 14 -> 28
# 31.4/35.2; 28 -> 56 39.8/30.2, 56 -> 112 64.8/38.4, 112 -> 224 99.4/59.8).
TRANSPOSE_CL_MAX_PIXELS = 1024


def backend(*arrays):
    """The kernel module for these arrays: im2col_numpy, or im2col_cupy for CuPy arrays."""
    if xp_of(*arrays) is np:
        return im2col_numpy
    from . import im2col_cupy  # lazy: importing the package never imports CuPy

    return im2col_cupy


def cuda_kernels(*arrays):
    """im2col_cupy (the CUDA kernels) for CuPy arrays, None for NumPy ones: what an op asks
    before taking its GPU path, `if (gpu := kernels.cuda_kernels(x)) is not None: ...`."""
    impl = backend(*arrays)
    return None if impl is im2col_numpy else impl


def pad(x, padding, channels_last=False, value=0.0, out=None):
    """Padded copy of NCHW `x`; see im2col_numpy.pad."""
    return backend(x).pad(x, padding, channels_last, value, out)


def windows(xp_, kernel_size, stride=(1, 1), dilation=(1, 1), channels_last=False):
    """Strided view of every window of a padded input; see im2col_numpy.windows."""
    return backend(xp_).windows(xp_, kernel_size, stride, dilation, channels_last)


def col2im_add(cols, out, stride=(1, 1), dilation=(1, 1), channels_last=False):
    """Accumulate windows back into a padded buffer; see im2col_numpy.col2im_add."""
    return backend(cols).col2im_add(cols, out, stride, dilation, channels_last)


def im2col(x, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last=False):  # fmt: skip
    """x (N, C, H, W) -> (N, C*KH*KW, OH*OW) (or channels-last rows); see im2col_numpy.im2col."""
    return backend(x).im2col(x, kernel_size, stride, padding, dilation, channels_last)


def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last=False):  # fmt: skip
    """Adjoint of im2col -> (N, C, H, W); see im2col_numpy.col2im."""
    return backend(cols).col2im(
        cols, x_shape, kernel_size, stride, padding, dilation, channels_last
    )


# --------------------------------------------------------------------------- chunked GEMM drivers


# A GEMM chunk holds at least this many pixels (rows of the unfolded matrix; whole output rows
# of them), past WORKSPACE_BYTES where a pixel's row of K = C*KH*KW values is long: each chunk's
# GEMM reads (or, for the weight gradient, writes) the whole (K, F) weight, 18 MB for DeepLabV3's
# 2048 -> 256 3x3 convs (K = 18432), which 2 MB chunks (one 16-pixel row of a 16x16 map) did 16
# times per image. No layer of the benchmark networks has K above 4608 (float32: a 2 MB chunk
# holds 64 pixels up to K = 8192). 1 thread, (2, 2048, 16, 16) -> 256, forward + backward 0.359
# -> 0.244 s (torch 0.078; weight gradient 187 -> 126 ms, 89 at 128 pixels, 68 at 256);
# deeplabv3_resnet50 forward + backward at 2x3x128x128 2.37 -> 1.89 s.
MIN_CHUNK_PIXELS = 64


def _chunks(n, rows, bytes_per_row, budget):
    """Split work over n images of `rows` output rows each into pieces of about `budget` bytes of
    unfolded matrix: several whole images at a time, or bands of rows of one image.
    Yields (i0, i1, r0, r1)."""
    per_image = rows * bytes_per_row
    if per_image <= budget:
        step = max(1, budget // max(per_image, 1))
        for i in range(0, n, step):
            yield i, min(i + step, n), 0, rows
    else:
        band = max(1, budget // max(bytes_per_row, 1))
        for i in range(n):
            for r in range(0, rows, band):
                yield i, i + 1, r, min(r + band, rows)


def _gemm_budget(impl, row_pixels, row_bytes):
    """The chunk budget of a GEMM driver whose unfolded rows hold row_pixels pixels in row_bytes
    bytes: WORKSPACE_BYTES, raised to the whole rows of MIN_CHUNK_PIXELS pixels where fewer
    would fit (see MIN_CHUNK_PIXELS)."""
    return max(impl.WORKSPACE_BYTES, -(-MIN_CHUNK_PIXELS // max(row_pixels, 1)) * row_bytes)


def _max_chunk(n, rows, bytes_per_row, budget):
    """(images, rows) of the largest chunk `_chunks` yields."""
    if rows * bytes_per_row <= budget:
        return min(n, max(1, budget // max(rows * bytes_per_row, 1))), rows
    return 1, min(rows, max(1, budget // max(bytes_per_row, 1)))


def _run(impl, tasks, work, init):
    """work(state, task) for every task, state = init() once per worker; returns the states.
    The backend may spread the tasks over threads (im2col_numpy.run_tasks); else in order."""
    runner = getattr(impl, "run_tasks", None)
    if runner is not None:
        return runner(tasks, work, init)
    state = init()
    for task in tasks:
        work(state, task)
    return [state]


# Elementwise work below this many elements (2 MB of float32, about one core's L2) runs in one
# call: waking a worker costs more than it saves. 1 << 17 -> 1 << 19 took A-MNIST's step (four
# batch norms on 301k elements) 30.8 -> 24.3 ms and B's 440 -> 404 ms; E2, E1, F, D unchanged.
PARALLEL_MIN_ELEMENTS = 1 << 19


def _even_bounds(n: int, parts: int) -> list[int]:
    """0 = b[0] <= ... <= b[parts] = n splitting range(n) into `parts` near-equal runs.

    Integer arithmetic: np.linspace costs ~20 us a call, a visible share of a small net's step."""
    if parts == 0:  # nothing to split (an empty batch): no runs
        return [0]
    return [i * n // parts for i in range(parts + 1)]


def for_slices(a, fn, size=None):
    """fn(s) for consecutive slices s of `a`'s first (batch) axis that together cover it, spread
    over the worker threads: elementwise passes (pooling, batch norm, activations) split by
    images. One call fn(slice(None)) (fn(...) for a 0-d `a`) for CuPy arrays, or for a pass
    touching fewer than PARALLEL_MIN_ELEMENTS elements (`size`, default a.size)."""
    impl = backend(a)
    threads = impl.get_num_threads() if impl is im2col_numpy else 1
    n = len(a) if a.ndim else 0
    if threads < 2 or n < 2 or (a.size if size is None else size) < PARALLEL_MIN_ELEMENTS:
        fn(slice(None) if a.ndim else Ellipsis)  # (a 0-d array takes no slice)
        return
    bounds = _even_bounds(n, min(n, 2 * threads))
    tasks = [slice(i0, i1) for i0, i1 in zip(bounds[:-1], bounds[1:])]
    impl.run_tasks(tasks, lambda _, s: fn(s), lambda: None)


# --------------------------------------------------------------------------- dead kernel taps
#
# A tap of a dilated kernel can read nothing but padding for every output pixel. DeepLabV3's ASPP
# runs 3x3 convs with dilation = padding 12, 24, 36 on the backbone's 28x28 (ResNet-50) or 14x14
# (MobileNetV3) maps at 224x224 input: at 36 on 28x28, and at 24 and 36 on 14x14, every
# off-centre tap lands in the padding, so the conv is a 1x1 conv with the centre tap, and
# unfolding and multiplying all 9 taps does 9x the work. The three drivers below therefore first
# crop their problem to the live taps (shapes.live_taps): the kernel to the live range, the
# input to the elements those taps read, the padding to what they still need, so that the
# cropped conv has the same output size. A dead tap only ever multiplies zeros: the output and
# the input gradient are the full conv's up to the order of the float additions, and the weight
# gradient is exactly 0 on the dead taps, as PyTorch's. One difference: PyTorch's full product
# multiplies an inf or nan weight on a dead tap by the padding's zeros (nan outputs), and an inf
# or nan in the output gradient too (nan weight gradient on the dead taps); here neither is ever
# read (docs/BENCHMARKS.md, "Dead kernel taps"). When no tap is live along some axis the output
# is the bias alone.
#
# It lives here rather than in functional/conv.py (a slice of the weight and of the input on the
# tape) so that every caller gains without extra autograd nodes or copies: Conv2d's forward and
# both of its gradients (the input gradient is conv_transpose2d, whose adjoint taps are the same
# dead ones), ConvTranspose2d, conv1d (a conv2d of height 1), the integer convs on NumPy and, as
# the crop comes before the hand-over, the GPU drivers. (conv3d has its own unfolding in
# functional/conv3d.py and does not crop; live_crop takes any number of axes.)

# Crop convolutions to their live taps; False runs every tap (the tests compare the two).
SKIP_DEAD_TAPS = True


def live_crop(in_size, kernel_size, stride, padding, dilation, out_size):
    """The conv (in_size -> out_size, any number of spatial axes) cropped to its live taps: None
    when every tap is live (or SKIP_DEAD_TAPS is False), else (taps, region, padding): per axis,
    the slice of kernel taps to keep, the slice of input elements those taps read, and the
    (lo, hi) padding of the cropped conv, which maps the region to out_size; taps and region are
    None when no tap is live along some axis (the output is then the bias alone)."""
    if not SKIP_DEAD_TAPS:
        return None
    axes = list(zip(in_size, kernel_size, stride, padding, dilation, out_size))
    live = [live_taps(size, k, s, lo, d, o) for size, k, s, (lo, _), d, o in axes]
    if all(k0 == 0 and k1 == k for (k0, k1), k in zip(live, kernel_size)):
        return None  # the common case, first: this check runs before every conv kernel
    if any(k0 == k1 for k0, k1 in live):
        return None, None, None
    taps, region, pads = [], [], []
    for (k0, k1), (size, _, s, (lo, _), d, o) in zip(live, axes):
        first, last = k0 * d - lo, (o - 1) * s - lo + (k1 - 1) * d  # input positions they span
        a, b = max(0, first), min(size, last + 1)
        taps.append(slice(k0, k1))
        region.append(slice(a, b))
        pads.append((a - first, last + 1 - b))
    return tuple(taps), tuple(region), tuple(pads)


def _on_device(a):
    """The device context of a CuPy array `a`, a no-op for NumPy: the crop allocates outputs
    before the GPU drivers' own entry (im2col_cupy._entry) would select a's device."""
    return contextlib.nullcontext() if backend(a) is im2col_numpy else a.device


def _bias_only(xp, shape, bias, dtype):
    """An output of `shape` (N, F, ...) holding the bias (or zeros)."""
    y = xp.zeros(shape, dtype)
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * (len(shape) - 2))
    return y


def _conv2d_live(x, w, bias, stride, padding, dilation, groups):
    """conv2d cropped to its live taps (see live_crop), or None when every tap is live."""
    out = tuple(conv_out(*a) for a in zip(x.shape[2:], w.shape[2:], stride, padding, dilation))
    crop = live_crop(x.shape[2:], w.shape[2:], stride, padding, dilation, out)
    if crop is None:
        return None
    taps, region, pads = crop
    if taps is None:
        with _on_device(x):
            return _bias_only(xp_of(x, w), (len(x), len(w)) + out, bias, x.dtype)
    return conv2d(x[(..., *region)], w[(..., *taps)], bias, stride, pads, dilation, groups)


def _conv2d_weight_live(x, gy, kernel_size, stride, padding, dilation, groups):
    """conv2d_weight cropped to the live taps, zero on the dead ones; None when all are live."""
    crop = live_crop(x.shape[2:], kernel_size, stride, padding, dilation, gy.shape[2:])
    if crop is None:
        return None
    taps, region, pads = crop
    with _on_device(x):
        gw = xp_of(x, gy).zeros((gy.shape[1], x.shape[1] // groups, *kernel_size), x.dtype)
        if taps is not None:
            kept = tuple(t.stop - t.start for t in taps)
            gw[(..., *taps)] = conv2d_weight(
                x[(..., *region)], gy, kept, stride, pads, dilation, groups
            )
    return gw


def _conv_transpose2d_live(x, w, bias, stride, padding, output_padding, dilation, groups):
    """conv_transpose2d cropped to its live taps, or None when every tap is live. Its taps are
    those of the conv it transposes (output -> x), whose dead taps would write only into the
    padding that the crop of the output removes; the output elements outside the region that
    the live taps reach get the bias alone."""
    out = tuple(
        conv_transpose_out(size, k, s, 0, op, d) - lo - hi
        for size, k, s, op, d, (lo, hi) in zip(
            x.shape[2:], w.shape[2:], stride, output_padding, dilation, padding
        )
    )
    crop = live_crop(out, w.shape[2:], stride, padding, dilation, x.shape[2:])
    if crop is None:
        return None
    taps, region, pads = crop
    shape = (len(x), w.shape[1] * groups) + out
    part = None
    if taps is not None:
        zero = (0,) * len(out)
        part = conv_transpose2d(x, w[(..., *taps)], bias, stride, pads, zero, dilation, groups)
        if part.shape == shape:  # the live taps reach every output element
            return part
    with _on_device(x):
        y = _bias_only(xp_of(x, w), shape, bias, x.dtype)
        if part is not None:
            y[(..., *region)] = part
    return y


def conv2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Cross-correlation: y[n, f] = sum_c,i,j w[f, c, i, j] * xpad[n, c, oh*s + i*d, ow*s + j*d].

    Args:
        x: (N, C, H, W); w: (F, C/groups, KH, KW); bias: (F,) or None.

    Shape:
        y (N, F, OH, OW), OH = conv_out(H, KH, stride, (top, bottom), dil) (kernels.shapes).
    """
    if (y := _conv2d_live(x, w, bias, stride, padding, dilation, groups)) is not None:
        return y
    xp = xp_of(x, w)
    impl = backend(x, w)
    if impl is not im2col_numpy:  # GPU: CUDA im2col + one cuBLAS GEMM per chunk of images
        return impl.conv2d(x, w, bias, stride, padding, dilation, groups)
    if _depthwise(groups, w.shape[1], w.shape[0] // groups):
        return _conv2d_depthwise(x, w, bias, stride, padding, dilation, groups)
    w = xp.ascontiguousarray(w)
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    oh = conv_out(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_out(wd, kw, stride[1], padding[1], dilation[1])
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)
    cl = cg >= CHANNELS_LAST_MIN
    kk = cg * kh * kw
    row_bytes = ow * kk * x.dtype.itemsize
    budget = _gemm_budget(impl, ow, row_bytes)
    nb, rb = _max_chunk(n, oh, row_bytes, budget)

    def buffers():  # per worker: one chunk of columns (and of channels-last output)
        return xp.empty(nb * rb * ow * kk, x.dtype), xp.empty(nb * rb * ow * fg, x.dtype)

    for g in range(groups):
        fs = slice(g * fg, (g + 1) * fg)
        bg = None if bias is None else bias[fs]
        v = impl.windows(
            impl.pad(x[:, g * cg : (g + 1) * cg], padding, cl), (kh, kw), stride, dilation, cl
        )
        if cl:
            v = v[:, :oh, :ow]
            # (K, F) as the transpose of a (F, K) copy: BLAS reads it transposed for free, and
            # the copy moves runs of C floats (a direct (K, F) copy took 11 ms for 512x512x3x3)
            wm = xp.ascontiguousarray(w[fs].transpose(0, 2, 3, 1)).reshape(fg, kk).T
        else:
            v = v[..., :oh, :ow]
            wm = w[fs].reshape(fg, kk)

        def work(bufs, chunk, v=v, wm=wm, fs=fs, bg=bg):
            (i0, i1, r0, r1), (buf, ybuf) = chunk, bufs
            m, rows = i1 - i0, r1 - r0
            if cl:
                cols = buf[: m * rows * ow * kk].reshape(m, rows, ow, kh, kw, cg)
                xp.copyto(cols, v[i0:i1, r0:r1])
                yb = ybuf[: m * rows * ow * fg].reshape(m * rows * ow, fg)
                xp.matmul(cols.reshape(-1, kk), wm, out=yb)  # (pixels, K) @ (K, F)
                if bg is not None:
                    yb += bg
                y[i0:i1, fs, r0:r1] = yb.reshape(m, rows, ow, fg).transpose(0, 3, 1, 2)
            else:
                cols = buf[: m * rows * ow * kk].reshape(m, cg, kh, kw, rows, ow)
                xp.copyto(cols, v[i0:i1, ..., r0:r1, :])
                out = y[i0:i1, fs, r0:r1].reshape(m, fg, rows * ow)  # a view: rows, ow merge
                xp.matmul(wm, cols.reshape(m, kk, rows * ow), out=out)  # (F, K) @ (K, pixels)
                if bg is not None:
                    out += bg[:, None]

        _run(impl, list(_chunks(n, oh, row_bytes, budget)), work, buffers)
    return y


def conv2d_weight(x, gy, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                  groups=1):  # fmt: skip
    """Gradient of conv2d's weight: gw[f, c, i, j] = sum_n,oh,ow gy[n, f, oh, ow] * window value.

    Args:
        x: the conv input (N, C, H, W); gy: the output gradient (N, F, OH, OW).

    Shape:
        gw (F, C/groups, KH, KW). Only the first OH x OW windows are used, so this is also the
        weight gradient of a transposed conv (x and gy swap roles) whose output_padding left
        rows that no window reaches.
    """
    live = _conv2d_weight_live(x, gy, kernel_size, stride, padding, dilation, groups)
    if live is not None:
        return live
    xp = xp_of(x, gy)
    impl = backend(x, gy)
    if impl is not im2col_numpy:  # GPU: CUDA im2col + one cuBLAS GEMM per chunk of images
        return impl.conv2d_weight(x, gy, kernel_size, stride, padding, dilation, groups)
    gy = xp.ascontiguousarray(gy)
    n, c, _, _ = x.shape
    _, f, oh, ow = gy.shape
    kh, kw = kernel_size
    cg, fg = c // groups, f // groups
    gw = xp.empty((f, cg, kh, kw), dtype=x.dtype)
    if n == 0 or oh * ow == 0:  # an empty batch: nothing to sum (and no chunk to sum it in)
        gw[...] = 0
        return gw
    if _depthwise(groups, cg, fg):
        return _conv2d_weight_depthwise(x, gy, kernel_size, stride, padding, dilation, groups)
    cl = cg >= CHANNELS_LAST_MIN
    kk = cg * kh * kw
    row_bytes = ow * kk * x.dtype.itemsize
    budget = _gemm_budget(impl, ow, row_bytes)
    nb, rb = _max_chunk(n, oh, row_bytes, budget)

    # Channels-last products are (K, F) (the faster GEMM orientation here), summed into rows
    # padded by 16 floats: the final (K, F) -> (F, C, KH, KW) relayout reads columns, and a
    # power-of-two row stride made every read of it collide in the cache (512x512x3x3: 24 ->
    # 7 ms). (The GEMM itself writes a contiguous buffer: NumPy leaves BLAS for a strided out.)
    acc_shape, ld = ((kk, fg), fg + 16) if cl else ((fg, kk), kk)

    def matrix():  # a zeroed acc_shape matrix with row stride ld
        return xp.zeros((acc_shape[0], ld), x.dtype)[:, : acc_shape[1]]

    def state():  # per worker: column and gradient chunks, and a product buffer
        bufs = xp.empty(nb * rb * ow * kk, x.dtype), xp.empty(nb * rb * ow * fg, x.dtype)
        return bufs, xp.empty(acc_shape if cl else (nb, fg, kk), x.dtype)

    # The sum over chunks is split into a fixed number of contiguous runs, each added up in order
    # and then added together in order: the rounding, and so the result, is the same whatever the
    # number of threads or their timing (a resumed run must reproduce an uninterrupted one).
    chunks = list(_chunks(n, oh, row_bytes, budget))
    bounds = _even_bounds(len(chunks), min(SUM_RUNS, len(chunks)))
    runs = [chunks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    for g in range(groups):
        gyg = gy[:, g * fg : (g + 1) * fg]
        v = impl.windows(
            impl.pad(x[:, g * cg : (g + 1) * cg], padding, cl), (kh, kw), stride, dilation, cl
        )
        v = v[:, :oh, :ow] if cl else v[..., :oh, :ow]
        partial = [None] * len(runs)

        def work(st, k, v=v, gyg=gyg, partial=partial):
            (buf, gbuf), tmp = st
            acc = matrix()
            for i0, i1, r0, r1 in runs[k]:
                m, rows = i1 - i0, r1 - r0
                if cl:
                    cols = buf[: m * rows * ow * kk].reshape(m, rows, ow, kh, kw, cg)
                    xp.copyto(cols, v[i0:i1, r0:r1])
                    gt = gbuf[: m * rows * ow * fg].reshape(m, rows, ow, fg)
                    gt[...] = gyg[i0:i1, :, r0:r1].transpose(0, 2, 3, 1)
                    # (K, px) @ (px, F)
                    xp.matmul(cols.reshape(-1, kk).T, gt.reshape(-1, fg), out=tmp)
                    acc += tmp
                else:
                    cols = buf[: m * rows * ow * kk].reshape(m, kk, rows * ow)
                    xp.copyto(cols.reshape(m, cg, kh, kw, rows, ow), v[i0:i1, ..., r0:r1, :])
                    gj = gyg[i0:i1, :, r0:r1].reshape(m, fg, rows * ow)
                    prod = tmp[:m]
                    xp.matmul(gj, cols.transpose(0, 2, 1), out=prod)  # m x (F, px) @ (px, K)
                    acc += prod.sum(axis=0)
            partial[k] = acc

        _run(impl, list(range(len(runs))), work, state)
        acc = partial[0]
        for other in partial[1:]:
            acc += other
        if cl:
            gw[g * fg : (g + 1) * fg] = acc.reshape(kh, kw, cg, fg).transpose(3, 2, 0, 1)
        else:
            gw[g * fg : (g + 1) * fg] = acc.reshape(fg, cg, kh, kw)
    return gw


def conv_transpose2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                     output_padding=(0, 0), dilation=(1, 1), groups=1):  # fmt: skip
    """Transposed convolution, the adjoint of conv2d: every input pixel scatters w-weighted copies
    of itself onto a window of the output, y = col2im(w^T . x).

    Args:
        x: (N, C_in, H, W); w: (C_in, C_out/groups, KH, KW); bias: (C_out,) or None.
        stride, padding, dilation: those of the convolution this one transposes.
        output_padding: rows/columns added at the bottom/right of the output.

    Shape:
        y (N, C_out, OH, OW), OH = (H-1)*stride - top - bottom + dil*(KH-1) + output_padding + 1
        (kernels.shapes.conv_transpose_out for symmetric padding).

    With stride 1 it *is* a convolution, with the kernel flipped and in/out channels swapped, and
    padding dil*(K-1) - pad: that path (no col2im at all) is the faster one on the CPU except on
    small planes (FLIP_MIN_PIXELS).
    """
    live = _conv_transpose2d_live(x, w, bias, stride, padding, output_padding, dilation, groups)
    if live is not None:
        return live
    xp = xp_of(x, w)
    impl = backend(x, w)
    if impl is not im2col_numpy:  # GPU: one cuBLAS GEMM per chunk, then the CUDA col2im gather
        return impl.conv_transpose2d(x, w, bias, stride, padding, output_padding, dilation, groups)
    if _depthwise(groups, w.shape[1], x.shape[1] // groups):
        return _conv_transpose2d_depthwise(
            x, w, bias, stride, padding, output_padding, dilation, groups
        )
    x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    cig = cin // groups
    (t, b), (l, r) = padding
    ext_h, ext_w = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    oh = conv_transpose_out(h, kh, stride[0], 0, output_padding[0], dilation[0]) - t - b
    ow = conv_transpose_out(wd, kw, stride[1], 0, output_padding[1], dilation[1]) - l - r
    flip = tuple(stride) == (1, 1) and min(ext_h - t, ext_h - b, ext_w - l, ext_w - r) >= 0
    if flip and oh * ow > FLIP_MIN_PIXELS:
        wf = w.reshape(groups, cig, cog, kh, kw).transpose(0, 2, 1, 3, 4)[..., ::-1, ::-1]
        wf = xp.ascontiguousarray(wf).reshape(groups * cog, cig, kh, kw)
        pads = (
            (ext_h - t, ext_h - b + output_padding[0]),
            (ext_w - l, ext_w - r + output_padding[1]),
        )
        return conv2d(x, wf, bias, (1, 1), pads, dilation, groups)

    hp, wp = oh + t + b, ow + l + r
    y = xp.empty((n, groups * cog, oh, ow), dtype=x.dtype)
    cl = cog >= CHANNELS_LAST_MIN and oh * ow <= TRANSPOSE_CL_MAX_PIXELS
    kk = cog * kh * kw
    row_bytes = wd * kk * x.dtype.itemsize
    budget = _gemm_budget(impl, wd, row_bytes)
    nb, rb = _max_chunk(n, h, row_bytes, budget)
    # Bands of rows of one image scatter onto overlapping output rows: one task per image range,
    # so no two workers ever add into the same pixels.
    tasks = {}
    for chunk in _chunks(n, h, row_bytes, budget):
        tasks.setdefault(chunk[:2], []).append(chunk)

    opad_shape = (nb, hp, wp, cog) if cl else (nb, cog, hp, wp)

    def buffers():  # per worker: columns, input rows, and the padded output of its images
        return (
            xp.empty(nb * rb * wd * kk, x.dtype),
            xp.empty(nb * rb * wd * cig, x.dtype),
            xp.empty(opad_shape, x.dtype),
        )

    for g in range(groups):
        xg, wg = x[:, g * cig : (g + 1) * cig], w[g * cig : (g + 1) * cig]
        if cl:
            wm = xp.ascontiguousarray(wg.transpose(0, 2, 3, 1)).reshape(cig, kk)
        else:
            wm = wg.reshape(cig, kk).T  # (K, C_in)
        bg = None if bias is None else bias[g * cog : (g + 1) * cog, None, None]

        def work(bufs, task, xg=xg, wm=wm, bg=bg, g=g):
            # Each task owns whole images: scatter them into this worker's padded buffer while
            # it is in cache, then crop (and for channels-last, transpose) into y right away.
            buf, xbuf, opad = bufs
            i0, i1 = task[0][:2]
            opad = opad[: i1 - i0]
            opad[...] = 0
            for _, _, r0, r1 in task:
                m, rows = i1 - i0, r1 - r0
                if cl:
                    xt = xbuf[: m * rows * wd * cig].reshape(m, rows, wd, cig)
                    xt[...] = xg[i0:i1, :, r0:r1].transpose(0, 2, 3, 1)
                    cols = buf[: m * rows * wd * kk].reshape(m * rows * wd, kk)
                    xp.matmul(xt.reshape(-1, cig), wm, out=cols)  # (px, C_in) @ (C_in, K)
                    cols = cols.reshape(m, rows, wd, kh, kw, cog)
                    impl.col2im_add(cols, opad[:, r0 * stride[0] :], stride, dilation, True)
                else:
                    cols = buf[: m * rows * wd * kk].reshape(m, kk, rows * wd)
                    xp.matmul(wm, xg[i0:i1, :, r0:r1].reshape(m, cig, rows * wd), out=cols)
                    cols = cols.reshape(m, cog, kh, kw, rows, wd)
                    impl.col2im_add(cols, opad[:, :, r0 * stride[0] :], stride, dilation, False)
            crop = (
                opad[:, t : t + oh, l : l + ow].transpose(0, 3, 1, 2)
                if cl
                else opad[:, :, t : t + oh, l : l + ow]
            )
            yg = y[i0:i1, g * cog : (g + 1) * cog]
            if bg is None:
                yg[...] = crop
            else:
                xp.add(crop, bg, out=yg)

        _run(impl, list(tasks.values()), work, buffers)
    return y


# --------------------------------------------------------------------------- depthwise convolutions
#
# A depthwise convolution (groups == channels: MobileNet, ShuffleNet, EfficientNet) has one input
# channel per group, where the GEMM drivers above would loop over hundreds of groups in Python,
# each with a product of inner size KH*KW. Here the whole layer is KH*KW broadcast multiply-adds,
# one per kernel tap, each over a strided view of a padded copy of a chunk of images (no unfolded
# matrix, no loop over channels or images):
#
#     forward        y[n, f]                += w[f, tap] * xpad[n, c(f), tap's window]
#     weight grad    gw[f, tap]              = sum over n and pixels of gy[n, f] * (the same view)
#     input grad     gxpad[n, c, tap's window] += sum over f of c: w[f, tap] * gy[n, f]   (adjoint)
#
# with c(f) = f // m for a channel multiplier m = F / C (or, for the transposed conv's backward,
# m input channels summed into each output channel). Two layouts of the padded copy keep NumPy's
# inner loops long:
#
#   planes (channel-major): each stride phase of the padded input (rows a, a + s, a + 2s, ...)
#     is a plane of its own, HQ x WQ, so that a tap reads one contiguous run of every plane from
#     a fixed offset on, and makes an HQ x WQ output plane of which the top left OH x OW is kept
#     (a gradient coming in is zero outside it; so with an inf or nan in the input, 0 * inf there
#     can make more entries of the weight gradient nan than the exact sum would).
#   channels-last (small planes: 7x7 and 14x14 with hundreds of channels): (N, H, W, C) copies,
#     every tap a strided view whose inner loop runs over the channels (or at column stride 1
#     over whole rows of OW*C values, against weights repeated along the row).
#
# Measured (1 thread, ms forward / weight grad / input grad, float32, 3x3, batch 32; grouped GEMM
# path -> this one): 32x960x7x7 23.7 / 24.4 / 57.5 -> 4.8 / 4.9 / 5.3; 32x384x14x14 14.6 / 15.6
# / 14.3 -> 7.6 / 4.3 / 8.6; 32x144x56x56 stride 2 18.9 / 19.4 / 68.2 -> 16.3 / 11.3 / 19.9;
# 32x144x56x56 35.8 / 32.9 / 35.2 -> 31.9 / 19.0 / 33.8. More in docs/BENCHMARKS.md
# (benchmarks/bench_depthwise.py).

# Depthwise convolutions take the tap loops below; False sends them to the grouped GEMM drivers
# (the tests compare the two).
DEPTHWISE = True

# ... when the other side of a group has at most this many channels (a channel multiplier m,
# or m inputs summed into each output). Every tap is cg elementwise passes over fg outputs,
# where a GEMM reuses each value m times. Forward + weight grad + input grad, 1 thread, new /
# old over 3x3 layers from 32 x 256 groups x 7x7 to 4 x 16 x 112x112, strides 1 and 2, either
# side: m = 2 0.20-1.11, m = 3 0.23-1.18, m = 4 0.26-1.37, m = 8 0.29-1.93; 2 groups, m = 64:
# 4x as long (32x2x28x28 -> 128: 8.8 -> 34.9 ms).
DEPTHWISE_MAX_MULTIPLIER = 3

# The layout of each pass: channels-last for output planes of up to this many pixels, phase
# planes above. Forward and input gradient at column stride 1, at larger column strides (where
# a channels-last tap reads single pixels, not rows), weight gradient (whose planes layout is
# one BLAS dot product per plane, short only on the smallest planes). Measured on MobileNetV2's
# and ShuffleNetV2's layers (benchmarks/bench_depthwise.py).
DEPTHWISE_CL_MAX_PIXELS = 256
DEPTHWISE_STRIDED_CL_MAX_PIXELS = 0
DEPTHWISE_WGRAD_CL_MAX_PIXELS = 64

# NumPy (2.4) runs an elementwise op over rows that do not merge into one contiguous block
# through its buffers when a row has at most this many values, else straight over each row: a
# broadcast multiply or an add 4 against 12 values/ns. Rows that merge run unbuffered too
# (multiply 6, add 14), the choice for shorter rows.
NUMPY_BUFFERED_ROWS = 2048


def _depthwise(groups, per_group_in, per_group_out):
    """Whether a grouped conv takes the depthwise path: one input or one output channel a group,
    and at most DEPTHWISE_MAX_MULTIPLIER on the other side."""
    low, high = sorted((per_group_in, per_group_out))
    return DEPTHWISE and groups > 1 and low == 1 and high <= DEPTHWISE_MAX_MULTIPLIER


def _channels_last(out_hw, stride, weight_grad=False):
    """Whether a depthwise pass with output planes out_hw runs channels-last."""
    if weight_grad:
        limit = DEPTHWISE_WGRAD_CL_MAX_PIXELS
    else:
        limit = DEPTHWISE_CL_MAX_PIXELS if stride[1] == 1 else DEPTHWISE_STRIDED_CL_MAX_PIXELS
    return out_hw[0] * out_hw[1] <= limit


def _span(size, lo, step, phase, length):
    """(p0, p1, r0): positions p0 <= p < p1 of a plane of `length` whose padded coordinate
    p*step + phase falls on the input (size rows after `lo` padding rows) hold input rows r0,
    r0 + step, ...; the other positions are padding."""
    p0 = max(0, -((phase - lo) // step))  # ceil((lo - phase) / step)
    p1 = min(length, -((phase - lo - size) // step))  # ceil((lo + size - phase) / step)
    return p0, max(p0, p1), p0 * step + phase - lo


class _Taps:
    """Where every kernel tap of a depthwise conv reads in the padded copy of a chunk of input.

    The conv maps planes in_hw -> out_hw. Buffers (one per worker, for the largest chunk of nb
    images and gb groups; `input_chunk` and `output_chunk` cut out a smaller one):
        input side   (nb, HQ, WQ, cg, gb) channels-last, (nb, cg, planes, gb + 1, HQ, WQ) planes
        output side  (nb, fg, OH, OW, gb) channels-last, (nb, fg, gb, HQ, WQ) planes
    cg and fg: input and output channels per group (one of them 1). Planes layout: tap (i, j)
    reads `cols` values of every group's phase plane from offset oi*WQ + oj on (the last group's
    run ends in the spare plane) and makes the first `cols` values of each HQ x WQ output plane,
    whose top left OH x OW is kept.
    """

    def __init__(self, in_hw, out_hw, kernel_size, stride, padding, dilation, cl):
        self.cl, self.out_hw, self.stride = cl, out_hw, stride
        dims = []
        for size, o, k, s, (lo, _), d in zip(in_hw, out_hw, kernel_size, stride, padding, dilation):
            if cl:  # the padded input itself: tap i reads rows i*d, i*d + s, ...
                phases, length, step = [0], (o - 1) * s + (k - 1) * d + 1, 1
                taps = [(0, i * d) for i in range(k)]
            else:  # tap i reads rows (i*d) // s, + 1, ... of phase (i*d) % s
                phases, step = sorted({i * d % s for i in range(k)}), s
                length = o + (k - 1) * d // s
                taps = [(phases.index(i * d % s), i * d // s) for i in range(k)]
            spans = [_span(size, lo, step, a, length) for a in phases]
            covered = sum(p1 - p0 for p0, p1, _ in spans) == size  # every input row is read
            dims.append((len(phases), length, step, taps, spans, covered))
        (self.ph, self.hq, *_), (self.pw, self.wq, *_) = self.dims = dims
        # planes: `cols` covers the OH x OW kept, or the whole plane, so that the rows of planes
        # form one contiguous block that NumPy runs unbuffered (see NUMPY_BUFFERED_ROWS)
        self.cols = (out_hw[0] - 1) * self.wq + out_hw[1]
        if self.cols <= NUMPY_BUFFERED_ROWS:
            self.cols = self.hq * self.wq

    def sizes(self):
        """(input-side, output-side) values per channel of one image: for the chunk budget."""
        oh, ow = self.out_hw
        if self.cl:
            return self.hq * self.wq, oh * ow
        return self.ph * self.pw * self.hq * self.wq, self.hq * self.wq

    def input_shape(self, nb, cg, gb):
        if self.cl:
            return (nb, self.hq, self.wq, cg, gb)
        return (nb, cg, self.ph * self.pw, gb + 1, self.hq, self.wq)

    def output_shape(self, nb, fg, gb):
        if self.cl:
            return (nb, fg) + self.out_hw + (gb,)
        return (nb, fg, gb, self.hq, self.wq)

    def input_chunk(self, buf, k, gb):
        """The part of a worker's input-side buffer for a chunk of k images and gb groups."""
        return buf[:k, ..., :gb] if self.cl else buf[:k, :, :, : gb + 1]

    def output_chunk(self, buf, k, gb):
        """The part of a worker's output-side buffer for a chunk of k images and gb groups."""
        return buf[:k, ..., :gb] if self.cl else buf[:k, :, :gb]

    def _regions(self):
        """(plane, rows and columns of the plane, rows and columns of the input) for every
        part of the input buffer that holds input pixels."""
        (_, _, sh, _, spans_h, _), (_, _, sw, _, spans_w, _) = self.dims
        for a, (p0, p1, r0) in enumerate(spans_h):
            for b, (q0, q1, c0) in enumerate(spans_w):
                if p1 > p0 and q1 > q0:
                    rows = slice(r0, r0 + (p1 - p0 - 1) * sh + 1, sh)
                    cols = slice(c0, c0 + (q1 - q0 - 1) * sw + 1, sw)
                    yield a * self.pw + b, (slice(p0, p1), slice(q0, q1)), (rows, cols)

    def load(self, buf, x5):
        """Copy the input x5 (k, cg, gb, H, W) into buf, whose padding is zero already."""
        for plane, (ps, qs), (rows, cols) in self._regions():
            src = x5[..., rows, cols]
            if self.cl:
                buf[:, ps, qs] = src.transpose(0, 3, 4, 1, 2)
            else:
                buf[:, :, plane, : x5.shape[2], ps, qs] = src

    def store(self, x5, buf):
        """The adjoint of load: x5 (k, cg, gb, H, W) = buf's values at the input pixels (and 0 at
        pixels that no tap reads)."""
        if not (self.dims[0][5] and self.dims[1][5]):
            x5[...] = 0
        for plane, (ps, qs), (rows, cols) in self._regions():
            if self.cl:
                x5[..., rows, cols] = buf[:, ps, qs].transpose(0, 3, 4, 1, 2)
            else:
                x5[..., rows, cols] = buf[:, :, plane, : x5.shape[2], ps, qs]

    def taps(self):
        """(i, j, where) for every kernel tap (i, j): `window(buf, where)` is what it reads."""
        (*_, taps_h, _, _), (*_, taps_w, _, _) = self.dims
        for i, (a, oi) in enumerate(taps_h):
            for j, (b, oj) in enumerate(taps_w):
                yield i, j, (a * self.pw + b, oi, oj)

    def window(self, buf, where):
        """The (k, cg, *tail) view of an input-side chunk that a tap reads for the output-side
        values (k, fg, *tail) (see `values`); writable."""
        plane, oi, oj = where
        if self.cl:
            (oh, ow), (sh, sw) = self.out_hw, self.stride
            rows = slice(oi, oi + sh * (oh - 1) + 1, sh)
            cols = slice(oj, oj + sw * (ow - 1) + 1, sw)
            return buf[:, rows, cols].transpose(0, 3, 1, 2, 4)
        k, cg, _, groups, hq, wq = buf.shape  # groups: gb and a spare one
        flat = buf[:, :, plane].reshape(k, cg, -1)  # the group's phase planes, one after another
        start, size = oi * wq + oj, (groups - 1) * hq * wq
        return flat[..., start : start + size].reshape(k, cg, groups - 1, -1)[..., : self.cols]

    def values(self, ys):
        """The (k, fg, *tail) view of an output-side chunk that the taps make or read."""
        return ys if self.cl else ys.reshape(ys.shape[:3] + (-1,))[..., : self.cols]

    def weight_table(self, wt, budget):
        """The weights wt (KH, KW, c, a, groups) in the shape that `weights` cuts from:
        (KH, KW, c, a, groups, 1) planes; channels-last (KH, KW, c, a, 1, OW, groups) when
        the tap views' columns are contiguous (stride 1) and the table fits `budget` bytes,
        else (..., 1, 1, groups). Repeated along the output columns, a tap's weights line up
        with its view over whole rows of OW*groups values, which NumPy then runs as one loop
        instead of one per pixel (32x384x14x14 forward 9.8 -> 7.6 ms)."""
        xp = xp_of(wt)
        if not self.cl:
            return wt[..., None]
        ow = self.out_hw[1]
        if self.stride[1] > 1 or wt.size * ow * wt.itemsize > budget:
            ow = 1
        shape = wt.shape[:4] + (1, ow, wt.shape[4])
        return xp.ascontiguousarray(xp.broadcast_to(wt[:, :, :, :, None, None], shape))

    def weights(self, table, i, j, c, g0, g1):
        """Tap (i, j)'s weights (a, ...) for input c (or output c of the adjoint) of groups
        g0..g1, broadcastable against (k, a, *tail)."""
        return table[i, j, c, ..., g0:g1] if self.cl else table[i, j, c, :, g0:g1]

    def nchw(self, ys):
        """The (k, gb, fg, OH, OW) view of an output-side chunk, to read or to write."""
        if self.cl:
            return ys.transpose(0, 4, 1, 2, 3)
        oh, ow = self.out_hw
        return ys[..., :oh, :ow].transpose(0, 2, 1, 3, 4)


def _depthwise_chunks(n, groups, per_group, cl, budget):
    """Chunks (i0, i1, g0, g1) of about `budget` bytes, and the largest one's (images, groups).
    Channels-last chunks keep every group: the inner loops run over them."""
    if cl:
        nb = max(1, min(n, budget // max(per_group * groups, 1)))
        return [(i, min(i + nb, n), 0, groups) for i in range(0, n, nb)], (nb, groups)
    return list(_chunks(n, groups, per_group, budget)), _max_chunk(n, groups, per_group, budget)


def _conv2d_depthwise(x, w, bias, stride, padding, dilation, groups):
    """conv2d for groups with one input or one output channel each, as KH*KW multiply-adds."""
    xp, impl = xp_of(x, w), backend(x, w)
    n, _, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg = f // groups
    oh = conv_out(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_out(wd, kw, stride[1], padding[1], dilation[1])
    cl = _channels_last((oh, ow), stride)
    taps = _Taps((h, wd), (oh, ow), (kh, kw), stride, padding, dilation, cl)
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)
    # tap (i, j) of input channel c: the weights (fg, groups) of the group's output channels
    wt = xp.ascontiguousarray(w.reshape(groups, fg, cg, kh, kw).transpose(3, 4, 2, 1, 0))
    wt = taps.weight_table(wt, impl.WORKSPACE_BYTES)
    x5 = x.reshape(n, groups, cg, h, wd).transpose(0, 2, 1, 3, 4)
    y5 = y.reshape(n, groups, fg, oh, ow)
    b5 = None if bias is None else bias.reshape(groups, fg, 1, 1)
    size_in, size_out = taps.sizes()
    per_group = x.dtype.itemsize * (cg * size_in + 2 * fg * size_out)
    chunks, (nb, gb) = _depthwise_chunks(n, groups, per_group, taps.cl, impl.WORKSPACE_BYTES)

    def buffers():  # per worker: the padded input (its padding zeroed once), a sum, a product
        return (
            xp.zeros(taps.input_shape(nb, cg, gb), x.dtype),
            xp.empty(taps.output_shape(nb, fg, gb), x.dtype),
            xp.empty(taps.output_shape(nb, fg, gb), x.dtype),
        )

    def work(bufs, chunk):
        i0, i1, g0, g1 = chunk
        k, ng = i1 - i0, g1 - g0
        xb = taps.input_chunk(bufs[0], k, ng)
        acc, prod = (taps.output_chunk(b, k, ng) for b in bufs[1:])
        taps.load(xb, x5[i0:i1, :, g0:g1])
        total, term = taps.values(acc), taps.values(prod)
        first = True
        for i, j, where in taps.taps():
            v = taps.window(xb, where)
            for c in range(cg):
                wc = taps.weights(wt, i, j, c, g0, g1)
                if first:  # the first product is the sum so far: no zero fill
                    xp.multiply(v[:, c : c + 1], wc, out=total)
                    first = False
                else:
                    xp.multiply(v[:, c : c + 1], wc, out=term)
                    total += term
        dst = y5[i0:i1, g0:g1]
        if b5 is None:
            dst[...] = taps.nchw(acc)
        else:
            xp.add(taps.nchw(acc), b5[g0:g1], out=dst)

    _run(impl, chunks, work, buffers)
    return y


def _conv2d_weight_depthwise(x, gy, kernel_size, stride, padding, dilation, groups):
    """conv2d_weight for groups with one input or one output channel each: per tap, the dot
    products of the tap's views with the output gradient."""
    xp, impl = xp_of(x, gy), backend(x, gy)
    n, c, h, wd = x.shape
    _, f, oh, ow = gy.shape
    kh, kw = kernel_size
    cg, fg = c // groups, f // groups
    cl = _channels_last((oh, ow), stride, weight_grad=True)
    taps = _Taps((h, wd), (oh, ow), (kh, kw), stride, padding, dilation, cl)
    x5 = x.reshape(n, groups, cg, h, wd).transpose(0, 2, 1, 3, 4)
    gy5 = gy.reshape(n, groups, fg, oh, ow)
    size_in, size_out = taps.sizes()
    per_group = x.dtype.itemsize * (cg * size_in + fg * size_out)
    chunks, (nb, gb) = _depthwise_chunks(n, groups, per_group, taps.cl, impl.WORKSPACE_BYTES)
    # A fixed split into runs summed in order, as in conv2d_weight: the same bits on any threads.
    bounds = _even_bounds(len(chunks), min(SUM_RUNS, len(chunks)))
    runs = [chunks[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    partial = [None] * len(runs)
    dots = getattr(xp, "vecdot", None) or (lambda a, b: xp.einsum("...l,...l->...", a, b))

    def state():  # per worker: the padded input and the gradient (padding and extra columns 0)
        return (
            xp.zeros(taps.input_shape(nb, cg, gb), x.dtype),
            xp.zeros(taps.output_shape(nb, fg, gb), x.dtype),
        )

    def work(bufs, r):
        acc = xp.zeros((kh, kw, cg, fg, groups), x.dtype)
        for i0, i1, g0, g1 in runs[r]:
            xb = taps.input_chunk(bufs[0], i1 - i0, g1 - g0)
            gyb = taps.output_chunk(bufs[1], i1 - i0, g1 - g0)
            taps.load(xb, x5[i0:i1, :, g0:g1])
            taps.nchw(gyb)[...] = gy5[i0:i1, g0:g1]
            g = taps.values(gyb)
            for i, j, where in taps.taps():
                v = taps.window(xb, where)
                if taps.cl:  # products summed into (cg, fg, gb) as they are made (no buffer)
                    acc[i, j, :, :, g0:g1] += xp.einsum("kcpqg,kfpqg->cfg", v, g)
                else:  # one dot product per image and channel (BLAS)
                    acc[i, j, :, :, g0:g1] += dots(v[:, :, None], g[:, None]).sum(axis=0)
        partial[r] = acc

    _run(impl, list(range(len(runs))), work, state)
    acc = partial[0]
    for other in partial[1:]:
        acc += other
    return xp.ascontiguousarray(acc.transpose(4, 3, 2, 0, 1)).reshape(f, cg, kh, kw)


def _conv_transpose2d_depthwise(x, w, bias, stride, padding, output_padding, dilation, groups):
    """conv_transpose2d for groups with one input or one output channel each: the adjoint of the
    depthwise conv2d, each tap's weighted input added into the strided positions of a padded
    buffer, which is then cropped."""
    xp, impl = xp_of(x, w), backend(x, w)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    (t, b), (l, r) = padding
    oh = conv_transpose_out(h, kh, stride[0], 0, output_padding[0], dilation[0]) - t - b
    ow = conv_transpose_out(wd, kw, stride[1], 0, output_padding[1], dilation[1]) - l - r
    # As the conv it transposes: input (oh, ow) with cg = C_out/groups channels a group, output
    # (h, wd) with fg = C_in/groups; w (C_in, C_out/groups) is that conv's (F, C/groups) weight.
    cg, fg = cog, cin // groups
    cl = _channels_last((h, wd), stride)
    taps = _Taps((oh, ow), (h, wd), (kh, kw), stride, padding, dilation, cl)
    y = xp.empty((n, groups * cg, oh, ow), dtype=x.dtype)
    # tap (i, j) of output-side channel f: the weights (cg, groups) of the group's input channels
    wt = xp.ascontiguousarray(w.reshape(groups, fg, cg, kh, kw).transpose(3, 4, 1, 2, 0))
    wt = taps.weight_table(wt, impl.WORKSPACE_BYTES)
    x5 = x.reshape(n, groups, fg, h, wd)
    y5 = y.reshape(n, groups, cg, oh, ow).transpose(0, 2, 1, 3, 4)
    b5 = None if bias is None else bias.reshape(groups, cg).T[:, :, None, None]
    size_in, size_out = taps.sizes()
    per_group = x.dtype.itemsize * (cg * size_in + (fg + cg) * size_out)
    chunks, (nb, gb) = _depthwise_chunks(n, groups, per_group, taps.cl, impl.WORKSPACE_BYTES)

    def buffers():  # per worker: the padded result, the input (extra columns 0), a product
        return (
            xp.empty(taps.input_shape(nb, cg, gb), x.dtype),
            xp.zeros(taps.output_shape(nb, fg, gb), x.dtype),
            xp.empty(taps.output_shape(nb, cg, gb), x.dtype),
        )

    def work(bufs, chunk):
        i0, i1, g0, g1 = chunk
        k, ng = i1 - i0, g1 - g0
        out = taps.input_chunk(bufs[0], k, ng)
        xb, prod = (taps.output_chunk(b, k, ng) for b in bufs[1:])
        out[...] = 0
        taps.nchw(xb)[...] = x5[i0:i1, g0:g1]
        values, term = taps.values(xb), taps.values(prod)
        for i, j, where in taps.taps():
            v = taps.window(out, where)
            for o in range(fg):
                xp.multiply(values[:, o : o + 1], taps.weights(wt, i, j, o, g0, g1), out=term)
                v += term
        dst = y5[i0:i1, :, g0:g1]
        taps.store(dst, out)
        if b5 is not None:
            dst += b5[:, g0:g1]

    _run(impl, chunks, work, buffers)
    return y
