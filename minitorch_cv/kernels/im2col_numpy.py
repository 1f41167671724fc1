"""im2col / col2im for NumPy, built from strided views: the unfolding behind every conv layer.

A convolution is a matrix product once every input window is laid out as one row (or column) of
a matrix; `windows` gives all of them as a zero-copy strided *view* of the padded input, copying
the view is the "im2col", and its adjoint "col2im" adds each window back where it came from: one
strided add per kernel offset (KH*KW adds in all, never one per pixel, never np.add.at).

Two layouts of the unfolded matrix, both for NCHW tensors (the public layout never changes):

    channels_last=False  windows (N, C, KH, KW, OH, OW)  ->  columns (N, C*KH*KW, OH*OW)
                         GEMM: y[n] (F, OH*OW) = w (F, C*KH*KW) @ cols[n]   (torch's unfold layout)
    channels_last=True   windows (N, OH, OW, KH, KW, C)  ->  rows (N*OH*OW, KH*KW*C), unfolded
                         from an NHWC padded copy of x;
                         GEMM: y (N*OH*OW, F) = rows @ w' (KH*KW*C, F)

Which layout, measured (forward + weight grad + input grad of one layer, float32, OpenBLAS and
torch on 1 thread, min of >= 3 interleaved runs on this 2-core Xeon, in ms):

    layer: N, C->F, HxW, k       A: saved cols   B: chunked     C: chunked       torch 2.13
                                 (N,CKK,P)       channel-major  channels-last    (oneDNN)
    F1   64, 3->24,  32x32, k5      19.3           18.9           42.7             20.2
    A    128, 3->9,  28x28, k3      10.6           10.0           20.5             10.0
    A2   128, 9->9,  28x28, k3      33.4           18.2           30.6             18.0
    F2   64, 24->48, 14x14, k3      16.9           15.8           14.0              9.1
    E2a  64, 32->64, 32x32, k5     455.9          449.8          325.0            230.1
    E2b  64, 64->64, 16x16, k5     267.4          238.1          160.8            102.8
    B1   64, 32->32, 32x32, k3     127.3           83.3           75.2             40.9
    B4   64, 128->256, 8x8, k3     116.4          106.0           83.8             56.9
    B5   64, 256->256, 4x4, k3     109.9           92.9           47.8             31.0
    (A: the whole unfolded matrix saved for backward, one batched GEMM; (C*KH*KW, N*OH*OW) with
    one big GEMM plus output transposes measured within 10 % of A; "KH*KW shifted GEMMs
    accumulated", no unfolded matrix but GEMMs of inner size C, measured 601 ms on E2a and 2-3x
    slower than A on the 3-channel layers.)

So channels-last rows (C) win from 16 channels on: the copies move contiguous runs of KW*C
floats, and OpenBLAS runs the tall (pixels x K) @ (K x F) product ~30 % faster than
(F x K) @ (K x pixels) for the small F of these nets. Channel-major columns (B) win for the 1- to
9-channel first layers, where C would copy runs of only KW*C floats. Both are chunked: a few
images, or a band of output rows, `WORKSPACE_BYTES` of columns at a time (1-2 MB measured best,
4 and 8 MB slower), so each piece is GEMM'd while still in cache and the unfolded matrix is
never alive whole (210 MB for E2a, which saving it for backward would keep per layer). Backward
recomputes the pieces instead. Spreading the chunks over 2 threads (`run_tasks` below) then took
E2b 183 -> 94 ms, B4 91 -> 62, U (4, 64->64, 112x112, k3) 177 -> 116 (torch on 2 threads: 49, 37,
78), and holds up on a loaded machine where OpenBLAS's own 2-thread GEMMs collapse (E2b with
serial chunks and 2 BLAS threads: 1528 ms).
"""

from __future__ import annotations

import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
from numpy.lib.stride_tricks import as_strided

# Bytes of unfolded matrix processed at once by the chunked GEMM drivers in kernels/__init__.py:
# small enough to stay in the L2/L3 cache between the copy that makes it and the GEMM that reads it.
WORKSPACE_BYTES = 2 << 20


def _out_size(padded: int, k: int, stride: int, dil: int) -> int:
    return (padded - dil * (k - 1) - 1) // stride + 1


def pad(x, padding, channels_last: bool = False, value=0.0, out=None):
    """A padded copy of an NCHW array.

    Args:
        x: (N, C, H, W) array (any strides).
        padding: ((top, bottom), (left, right)), each >= 0.
        channels_last: return (N, Hp, Wp, C) instead of (N, C, Hp, Wp) (default False).
        value: the fill value of the border (default 0; max pooling pads with -inf).
        out: optional preallocated result.

    Shape:
        Hp = top + H + bottom, Wp = left + W + right.
    """
    (t, b), (l, r) = padding
    n, c, h, w = x.shape
    if channels_last:
        shape, inner = (n, h + t + b, w + l + r, c), (slice(None), slice(t, t + h), slice(l, l + w))
        src = x.transpose(0, 2, 3, 1)
    else:
        shape = (n, c, h + t + b, w + l + r)
        inner = (slice(None), slice(None), slice(t, t + h), slice(l, l + w))
        src = x
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    if t or b or l or r:
        # fill only the border: the interior is overwritten next
        if channels_last:
            out[:, :t], out[:, t + h :], out[:, :, :l], out[:, :, l + w :] = (
                value,
                value,
                value,
                value,
            )
        else:
            out[:, :, :t], out[:, :, t + h :] = value, value
            out[:, :, :, :l], out[:, :, :, l + w :] = value, value
    out[inner] = src
    return out


def windows(xp, kernel_size, stride=(1, 1), dilation=(1, 1), channels_last: bool = False):
    """Every window of a padded input as a strided view (no copy).

    Args:
        xp: padded input, (N, C, Hp, Wp), or (N, Hp, Wp, C) when channels_last.
        kernel_size, stride, dilation: (h, w) pairs.

    Shape:
        (N, C, KH, KW, OH, OW), or (N, OH, OW, KH, KW, C) when channels_last, with
        OH = (Hp - dil*(KH-1) - 1) // stride + 1 (kernels.shapes.conv_out with no padding).
        Element [n, c, i, j, oh, ow] is xp[n, c, oh*stride + i*dil, ow*stride + j*dil].
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    if channels_last:
        n, hp, wp, c = xp.shape
        s_n, s_h, s_w, s_c = xp.strides
    else:
        n, c, hp, wp = xp.shape
        s_n, s_c, s_h, s_w = xp.strides
    oh, ow = _out_size(hp, kh, sh, dh), _out_size(wp, kw, sw, dw)
    if oh < 1 or ow < 1:
        raise ValueError(
            f"im2col: kernel {kernel_size} with dilation {dilation} does not fit the padded "
            f"input of size {(hp, wp)}"
        )
    if channels_last:
        shape = (n, oh, ow, kh, kw, c)
        strides = (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    else:
        shape = (n, c, kh, kw, oh, ow)
        strides = (s_n, s_c, s_h * dh, s_w * dw, s_h * sh, s_w * sw)
    return as_strided(xp, shape, strides, writeable=False)


def col2im_add(cols, out, stride=(1, 1), dilation=(1, 1), channels_last: bool = False):
    """Add every window of `cols` into the padded buffer `out`, in place: the adjoint of `windows`.

    Args:
        cols: (N, C, KH, KW, OH, OW), or (N, OH, OW, KH, KW, C) when channels_last.
        out: padded buffer (N, C, Hp, Wp) or (N, Hp, Wp, C), accumulated into.
        stride, dilation: (h, w) pairs.

    One strided add per kernel offset (i, j): the windows of one offset never overlap each other,
    so each add is a plain vectorised `+=`; only different offsets land on the same pixel.
    """
    (sh, sw), (dh, dw) = stride, dilation
    if channels_last:
        _, oh, ow, kh, kw, _ = cols.shape
    else:
        _, _, kh, kw, oh, ow = cols.shape
    for i in range(kh):
        rows = slice(i * dh, i * dh + sh * (oh - 1) + 1, sh)
        for j in range(kw):
            cs = slice(j * dw, j * dw + sw * (ow - 1) + 1, sw)
            if channels_last:
                out[:, rows, cs, :] += cols[:, :, :, i, j, :]
            else:
                out[:, :, rows, cs] += cols[:, :, i, j]
    return out


def im2col(x, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last: bool = False):  # fmt: skip
    """Unfold every window of an NCHW input into a matrix.

    Args:
        x: (N, C, H, W).
        kernel_size, stride, dilation: (h, w) pairs.
        padding: ((top, bottom), (left, right)) zeros.
        channels_last: the row layout below instead of torch's unfold layout (default False).

    Shape:
        (N, C*KH*KW, OH*OW), column index c*KH*KW + i*KW + j (torch.nn.functional.unfold), or
        (N*OH*OW, KH*KW*C) with column index (i*KW + j)*C + c when channels_last.
    """
    v = windows(pad(x, padding, channels_last), kernel_size, stride, dilation, channels_last)
    if channels_last:
        n, oh, ow, kh, kw, c = v.shape
        return np.ascontiguousarray(v).reshape(n * oh * ow, kh * kw * c)
    n, c, kh, kw, oh, ow = v.shape
    return np.ascontiguousarray(v).reshape(n, c * kh * kw, oh * ow)


def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last: bool = False):  # fmt: skip
    """The adjoint of `im2col`: add each column back onto its window, summing overlaps.

    Args:
        cols: as returned by `im2col` for an input of shape `x_shape`.
        x_shape: (N, C, H, W) of the result.
        kernel_size, stride, padding, dilation, channels_last: as for `im2col`.

    Shape:
        (N, C, H, W). <im2col(x), g> == <x, col2im(g)> for every x and g (tested).
    """
    n, c, h, w = x_shape
    (t, b), (l, r) = padding
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    hp, wp = h + t + b, w + l + r
    oh, ow = _out_size(hp, kh, sh, dh), _out_size(wp, kw, sw, dw)
    if channels_last:
        buf = np.zeros((n, hp, wp, c), dtype=cols.dtype)
        col2im_add(cols.reshape(n, oh, ow, kh, kw, c), buf, stride, dilation, True)
        return np.ascontiguousarray(buf[:, t : t + h, l : l + w].transpose(0, 3, 1, 2))
    buf = np.zeros((n, c, hp, wp), dtype=cols.dtype)
    col2im_add(cols.reshape(n, c, kh, kw, oh, ow), buf, stride, dilation, False)
    return np.ascontiguousarray(buf[:, :, t : t + h, l : l + w])


# --------------------------------------------------------------------------- parallel chunks
#
# OpenBLAS splits each GEMM over its threads and joins them at the end of every call. Chunked
# convolutions make hundreds of small GEMMs per step, and on a busy machine each join waits for
# a descheduled thread: measured 6.5x slower than one thread (E2 layer, 2 cores, load 4). So the
# chunks themselves are spread over worker threads (NumPy's copies, adds and GEMMs release the
# GIL), each calling a single-threaded OpenBLAS; the unfolding copies and col2im adds then run in
# parallel too. OpenBLAS stays single-threaded from the first parallel section on: its idle
# threads spin for a while after every multi-threaded call, and a spinning thread took the second
# core from our workers (training step, 2 threads: F 56 -> 49 ms, E1 200 -> 168 ms without the
# spinning). Without a way to set OpenBLAS's thread count (another BLAS, not Linux) the chunks run
# in order and BLAS threads as it likes.


def _openblas_threads_api():
    """(set_num_threads, get_num_threads) of the OpenBLAS loaded by NumPy, or None."""
    try:
        with open("/proc/self/maps") as f:
            paths = {
                line.split()[-1] for line in f if "openblas" in line.rsplit("/", 1)[-1].lower()
            }
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)  # already loaded by NumPy: this only looks it up
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                try:
                    set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}")
                    get_ = getattr(lib, f"{prefix}_get_num_threads{suffix}")
                except AttributeError:
                    continue
                set_.argtypes, set_.restype, get_.restype = [ctypes.c_int], None, ctypes.c_int
                return set_, get_
    return None


_blas_api = _openblas_threads_api()
_section = threading.Lock()  # one parallel section at a time
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_threads: int | None = None  # worker threads; None until the first parallel section


def get_num_threads() -> int:
    """Worker threads for chunked work. Unless set_num_threads chose it, OpenBLAS's own thread
    count at the first call (so OPENBLAS_NUM_THREADS / OMP_NUM_THREADS apply), which then pins
    OpenBLAS to one thread for the rest of the process (see above); 1, leaving BLAS alone, when
    OpenBLAS cannot be controlled or MINITORCH_CV_SERIAL_CHUNKS is set."""
    global _threads
    if _blas_api is None or os.environ.get("MINITORCH_CV_SERIAL_CHUNKS"):
        return 1
    if _threads is None:
        _threads = max(1, int(_blas_api[1]()))
        _blas_api[0](1)
    return _threads


def set_num_threads(n: int) -> None:
    """Use `n` worker threads for chunked work from now on (as torch.set_num_threads)."""
    global _threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    get_num_threads()  # pins OpenBLAS to one thread if not done yet
    _threads = n


def run_tasks(tasks, work, init):
    """Call work(state, task) for every task, spread over worker threads that each start from
    state = init(); tasks are handed out one at a time, so a slow thread does fewer. Returns the
    workers' states (one per thread that ran)."""
    global _pool, _pool_size
    n = min(get_num_threads(), len(tasks))
    if n <= 1 or not _section.acquire(blocking=False):  # nested or concurrent call: in order
        state = init()
        for task in tasks:
            work(state, task)
        return [state]
    try:
        if _pool is None or _pool_size < n - 1:
            _pool = ThreadPoolExecutor(max_workers=n - 1, thread_name_prefix="minitorch_cv-chunks")
            _pool_size = n - 1
        queue, take = iter(tasks), threading.Lock()

        def worker():
            state = init()
            while True:
                with take:
                    task = next(queue, None)
                if task is None:
                    return state
                work(state, task)

        futures = [_pool.submit(worker) for _ in range(n - 1)]
        try:
            mine = worker()  # the calling thread works too
        finally:
            wait(futures)
        return [mine] + [fut.result() for fut in futures]
    finally:
        _section.release()
