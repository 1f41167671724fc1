"""Convolution kernels: arrays and ints in, arrays out (no Tensor, no autograd).

The three products every conv layer needs, each a chunked "unfold, then one GEMM":

    conv2d(x, w)              y  = w . im2col(x)                         forward of Conv2d
    conv2d_weight(x, gy)      gw = gy . im2col(x)^T                      weight grad of both convs
    conv_transpose2d(x, w)    y  = col2im(w^T . x)                       forward of ConvTranspose2d
                                                                         and input grad of Conv2d
and Conv2d's input gradient is conv_transpose2d, ConvTranspose2d's is conv2d.

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

import numpy as np

from ..backend import xp_of
from . import im2col_numpy
from .shapes import conv_out, conv_transpose_out

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


def conv2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """Cross-correlation: y[n, f] = sum_c,i,j w[f, c, i, j] * xpad[n, c, oh*s + i*d, ow*s + j*d].

    Args:
        x: (N, C, H, W); w: (F, C/groups, KH, KW); bias: (F,) or None.

    Shape:
        y (N, F, OH, OW), OH = conv_out(H, KH, stride, (top, bottom), dil) (kernels.shapes).
    """
    xp = xp_of(x, w)
    impl = backend(x, w)
    if impl is not im2col_numpy:  # GPU: CUDA im2col + one cuBLAS GEMM per chunk of images
        return impl.conv2d(x, w, bias, stride, padding, dilation, groups)
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
    nb, rb = _max_chunk(n, oh, row_bytes, impl.WORKSPACE_BYTES)

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

        _run(impl, list(_chunks(n, oh, row_bytes, impl.WORKSPACE_BYTES)), work, buffers)
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
    cl = cg >= CHANNELS_LAST_MIN
    kk = cg * kh * kw
    row_bytes = ow * kk * x.dtype.itemsize
    nb, rb = _max_chunk(n, oh, row_bytes, impl.WORKSPACE_BYTES)

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
    chunks = list(_chunks(n, oh, row_bytes, impl.WORKSPACE_BYTES))
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
    xp = xp_of(x, w)
    impl = backend(x, w)
    if impl is not im2col_numpy:  # GPU: one cuBLAS GEMM per chunk, then the CUDA col2im gather
        return impl.conv_transpose2d(x, w, bias, stride, padding, output_padding, dilation, groups)
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
    nb, rb = _max_chunk(n, h, row_bytes, impl.WORKSPACE_BYTES)
    # Bands of rows of one image scatter onto overlapping output rows: one task per image range,
    # so no two workers ever add into the same pixels.
    tasks = {}
    for chunk in _chunks(n, h, row_bytes, impl.WORKSPACE_BYTES):
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
