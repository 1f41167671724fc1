"""The CUDA backend of `kernels`: im2col, col2im, pooling, as CUDA C kernels run through CuPy.

Every kernel below is plain CUDA C kept as a module constant, compiled on first use by CuPy's
`RawModule` (one module per dtype: `typedef float T;` or `typedef double T;` in front of the
same text) and launched with one thread per *output* element:

    im2col       thread (n, c, oh, ow): copies the KH*KW taps of its window into the columns
    col2im       thread (n, c, h, w):   sums every column entry that came from pixel (h, w)
    max_pool2d   thread (n, c, oh, ow): scans its window for the max and its tap index
    ..._backward thread (n, c, h, w):   sums the gradient of every window that chose it

So the adjoints (col2im, the pooling gradients) are *gathers*: each thread owns the one value it
writes and reads the windows that contain its pixel, instead of scattering into shared pixels
with atomics. Overlapping windows (stride < kernel) need no special case. Which window reads
padded position q with tap i? The one at o = (q - i*D) / S, when that divides exactly and
0 <= o < O (`window_of` below); every integer division is done on non-negative values, so C's
truncation and Python's floor agree (tests/test_cuda_kernel_logic.py emulates each kernel's
per-thread code in Python against the NumPy path).

The convolution drivers (`conv2d`, `conv2d_weight`, `conv_transpose2d`, called by
kernels/__init__.py for CuPy arrays) unfold a chunk of whole images into one matrix of
(C*KH*KW, images*OH*OW) columns and make one cuBLAS GEMM per group (`cupy.matmul`):

    conv2d            Y  (F, m*P)        = W (F, C*KK)      @ cols (C*KK, m*P)   -> y (m, F, OH, OW)
    conv2d_weight     gW (F, C*KK)      += gY (F, m*P)      @ cols^T
    conv_transpose2d  cols (C_out*KK, m*P) = W^T (C_out*KK, C_in) @ X (C_in, m*P) -> col2im -> y

The CPU path's channels-last rows, row bands and worker threads fit CPU caches and BLAS
threads; on the GPU one big GEMM per chunk is what keeps cuBLAS busy, so none of that is here.
`WORKSPACE_BYTES` bounds the unfolded matrix of a chunk (the CuPy memory pool reuses it).

float32 and float64 run natively; float16 goes through the float32 kernels (cast in and out).
CuPy is imported only when a kernel is first compiled, through backend.cupy_module(), so this
module (and its CUDA sources) can be read and tested on a machine without a GPU.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from ..backend import _is_cupy_array, cupy_module, xp_of
from . import im2col_numpy
from .shapes import conv_out, conv_transpose_out

# Bytes of unfolded matrix per chunk of images: big enough that each GEMM fills the GPU (a few
# images of a 224x224 layer), small enough to stay a fraction of the memory of a training step.
WORKSPACE_BYTES = 256 << 20

# --------------------------------------------------------------------------- CUDA sources

# Shared by all kernels. `T` (the element type) is typedef'd in front of this per dtype.
COMMON_SRC = r"""
// The window that reads padded position q with tap i (windows start every S, taps every D), or
// -1 when no window does: q = o*S + i*D  =>  o = (q - i*D) / S, exact and in [0, O).
// d >= 0 is checked before dividing, so / and % never see a negative number.
__device__ __forceinline__ int window_of(int q, int i, int S, int D, int O) {
    int d = q - i * D;
    if (d < 0 || d % S != 0) return -1;
    int o = d / S;
    return o < O ? o : -1;
}

// Grid-stride loop: any number of work items with a bounded grid.
#define FOR_EACH(idx, total) \
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < (total); \
         idx += (long long)blockDim.x * gridDim.x)
"""

# cols[n*sn + c*sc + t*st + (oh*OW + ow)*sp] = xpad[n, c, oh*SH + i*DH, ow*SW + j*DW], t = i*KW + j.
# The four strides describe every column layout: (N, C*KK, P) torch's unfold, (N*P, KK*C) the
# channels-last rows, and (C*KK, N*P) the GEMM layout of the drivers. Padding is never stored:
# taps outside the input write 0.
IM2COL_SRC = r"""
extern "C" __global__ void im2col(
    const T* __restrict__ x, T* __restrict__ cols, long long total,
    int C, int H, int W, int KH, int KW, int OH, int OW,
    int SH, int SW, int PH, int PW, int DH, int DW,
    long long sn, long long sc, long long st, long long sp)
{
    FOR_EACH(idx, total) {  // idx = ((n*C + c)*OH + oh)*OW + ow
        int ow = (int)(idx % OW);
        long long r = idx / OW;
        int oh = (int)(r % OH);
        r /= OH;
        int c = (int)(r % C);
        long long n = r / C;
        const T* plane = x + (n * C + c) * H * W;
        T* out = cols + n * sn + c * sc + ((long long)oh * OW + ow) * sp;
        int h0 = oh * SH - PH, w0 = ow * SW - PW;
        for (int i = 0; i < KH; ++i) {
            int h = h0 + i * DH;
            for (int j = 0; j < KW; ++j) {
                int w = w0 + j * DW;
                bool inside = h >= 0 && h < H && w >= 0 && w < W;
                out[(i * KW + j) * st] = inside ? plane[h * W + w] : (T)0;
            }
        }
    }
}
"""

# The adjoint of im2col as a gather: pixel (n, c, h, w) sums the column entries of every (window,
# tap) that read it, in tap order, then adds bias[c] when has_bias (the transposed conv's bias).
COL2IM_SRC = r"""
extern "C" __global__ void col2im(
    const T* __restrict__ cols, const T* __restrict__ bias, T* __restrict__ x, long long total,
    int C, int H, int W, int KH, int KW, int OH, int OW,
    int SH, int SW, int PH, int PW, int DH, int DW,
    long long sn, long long sc, long long st, long long sp, int has_bias)
{
    FOR_EACH(idx, total) {  // idx = ((n*C + c)*H + h)*W + w
        int w = (int)(idx % W);
        long long r = idx / W;
        int h = (int)(r % H);
        r /= H;
        int c = (int)(r % C);
        long long n = r / C;
        const T* col = cols + n * sn + c * sc;
        T sum = (T)0;
        for (int i = 0; i < KH; ++i) {
            int oh = window_of(h + PH, i, SH, DH, OH);
            if (oh < 0) continue;
            for (int j = 0; j < KW; ++j) {
                int ow = window_of(w + PW, j, SW, DW, OW);
                if (ow < 0) continue;
                sum += col[(i * KW + j) * st + ((long long)oh * OW + ow) * sp];
            }
        }
        x[idx] = has_bias ? sum + bias[c] : sum;
    }
}
"""

# Max over each window and the tap t = i*KW + j that holds it, scanning in row-major order as
# PyTorch does: a strictly greater value takes over (ties keep the first), and so does a NaN
# (v != v), so a NaN anywhere makes the max NaN. Taps outside the input are the -inf padding and
# are never chosen. arg is what the backward pass needs (and return_indices turns into h*W + w).
MAX_POOL_SRC = r"""
extern "C" __global__ void max_pool2d(
    const T* __restrict__ x, T* __restrict__ y, int* __restrict__ arg, long long total,
    int H, int W, int KH, int KW, int OH, int OW,
    int SH, int SW, int PH, int PW, int DH, int DW)
{
    FOR_EACH(idx, total) {  // idx = (nc*OH + oh)*OW + ow
        int ow = (int)(idx % OW);
        long long r = idx / OW;
        int oh = (int)(r % OH);
        long long nc = r / OH;
        const T* plane = x + nc * H * W;
        T best = NEG_INF;
        int best_t = -1;
        for (int i = 0; i < KH; ++i) {
            int h = oh * SH - PH + i * DH;
            if (h < 0 || h >= H) continue;
            for (int j = 0; j < KW; ++j) {
                int w = ow * SW - PW + j * DW;
                if (w < 0 || w >= W) continue;
                T v = plane[h * W + w];
                if (best_t < 0 || v > best || v != v) {
                    best = v;
                    best_t = i * KW + j;
                }
            }
        }
        y[idx] = best;
        arg[idx] = best_t;
    }
}

// Gather form of the gradient: pixel (h, w) adds gy of each window that contains it *and* chose
// it (arg equals the tap through which that window sees this pixel). Works for overlapping
// windows without atomics: the thread owns gx[idx].
extern "C" __global__ void max_pool2d_backward(
    const T* __restrict__ gy, const int* __restrict__ arg, T* __restrict__ gx, long long total,
    int H, int W, int KH, int KW, int OH, int OW,
    int SH, int SW, int PH, int PW, int DH, int DW)
{
    FOR_EACH(idx, total) {  // idx = (nc*H + h)*W + w
        int w = (int)(idx % W);
        long long r = idx / W;
        int h = (int)(r % H);
        long long nc = r / H;
        const T* g = gy + nc * OH * OW;
        const int* a = arg + nc * OH * OW;
        T sum = (T)0;
        for (int i = 0; i < KH; ++i) {
            int oh = window_of(h + PH, i, SH, DH, OH);
            if (oh < 0) continue;
            for (int j = 0; j < KW; ++j) {
                int ow = window_of(w + PW, j, SW, DW, OW);
                if (ow < 0) continue;
                long long o = (long long)oh * OW + ow;
                if (a[o] == i * KW + j) sum += g[o];
            }
        }
        gx[idx] = sum;
    }
}
"""

# Average pooling with PyTorch's divisor: divisor_override when non-zero; else the window clipped
# to the padded input (count_include_pad) or to the input itself. Padding is zeros, so the sum
# runs over the taps inside the input only.
AVG_POOL_SRC = r"""
__device__ __forceinline__ int avg_divisor(
    int oh, int ow, int H, int W, int KH, int KW, int SH, int SW, int PH, int PW,
    int count_include_pad, int divisor_override)
{
    if (divisor_override != 0) return divisor_override;
    int hs = oh * SH - PH, ws = ow * SW - PW;
    int he = min(hs + KH, H + PH), we = min(ws + KW, W + PW);
    if (count_include_pad) return (he - hs) * (we - ws);
    return (min(he, H) - max(hs, 0)) * (min(we, W) - max(ws, 0));
}

extern "C" __global__ void avg_pool2d(
    const T* __restrict__ x, T* __restrict__ y, long long total,
    int H, int W, int KH, int KW, int OH, int OW, int SH, int SW, int PH, int PW,
    int count_include_pad, int divisor_override)
{
    FOR_EACH(idx, total) {  // idx = (nc*OH + oh)*OW + ow
        int ow = (int)(idx % OW);
        long long r = idx / OW;
        int oh = (int)(r % OH);
        long long nc = r / OH;
        const T* plane = x + nc * H * W;
        int hs = oh * SH - PH, ws = ow * SW - PW;
        T sum = (T)0;
        for (int h = max(hs, 0); h < min(hs + KH, H); ++h)
            for (int w = max(ws, 0); w < min(ws + KW, W); ++w)
                sum += plane[h * W + w];
        y[idx] = sum / (T)avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
                                      count_include_pad, divisor_override);
    }
}

// Gather form of the gradient: pixel (h, w) adds gy / divisor of every window that contains it.
extern "C" __global__ void avg_pool2d_backward(
    const T* __restrict__ gy, T* __restrict__ gx, long long total,
    int H, int W, int KH, int KW, int OH, int OW, int SH, int SW, int PH, int PW,
    int count_include_pad, int divisor_override)
{
    FOR_EACH(idx, total) {  // idx = (nc*H + h)*W + w
        int w = (int)(idx % W);
        long long r = idx / W;
        int h = (int)(r % H);
        long long nc = r / H;
        const T* g = gy + nc * OH * OW;
        T sum = (T)0;
        for (int i = 0; i < KH; ++i) {
            int oh = window_of(h + PH, i, SH, 1, OH);
            if (oh < 0) continue;
            for (int j = 0; j < KW; ++j) {
                int ow = window_of(w + PW, j, SW, 1, OW);
                if (ow < 0) continue;
                sum += g[oh * OW + ow] / (T)avg_divisor(oh, ow, H, W, KH, KW, SH, SW, PH, PW,
                                                        count_include_pad, divisor_override);
            }
        }
        gx[idx] = sum;
    }
}
"""

# Adaptive max pooling's gradient as a gather. Bin i covers [floor(i*H/OH), ceil((i+1)*H/OH)), so
# the bins that contain row h are i in [floor(h*OH/H), ceil((h+1)*OH/H)); idx holds each bin's
# argmax as h*W + w.
ADAPTIVE_MAX_POOL_SRC = r"""
extern "C" __global__ void adaptive_max_pool2d_backward(
    const T* __restrict__ gy, const long long* __restrict__ argmax, T* __restrict__ gx,
    long long total, int H, int W, int OH, int OW)
{
    FOR_EACH(idx, total) {  // idx = (nc*H + h)*W + w
        int w = (int)(idx % W);
        long long r = idx / W;
        int h = (int)(r % H);
        long long nc = r / H;
        const T* g = gy + nc * OH * OW;
        const long long* a = argmax + nc * OH * OW;
        long long me = (long long)h * W + w;
        int i0 = (int)(((long long)h * OH) / H), i1 = (int)(((long long)(h + 1) * OH + H - 1) / H);
        int j0 = (int)(((long long)w * OW) / W), j1 = (int)(((long long)(w + 1) * OW + W - 1) / W);
        T sum = (T)0;
        for (int i = i0; i < i1; ++i)
            for (int j = j0; j < j1; ++j)
                if (a[i * OW + j] == me) sum += g[i * OW + j];
        gx[idx] = sum;
    }
}
"""

# Counting for metrics (confusion matrices) on the device: counts[v] += 1 for v in [0, length),
# anything else lands in counts[length], so a range check can wait until the counts are read.
# Counting is the one place that uses atomics: many items share a bin, and the count is exact.
BINCOUNT_SRC = r"""
extern "C" __global__ void bincount(
    const long long* __restrict__ values, long long* __restrict__ counts, long long total,
    long long length)
{
    FOR_EACH(idx, total) {
        long long v = values[idx];
        long long bin = (v >= 0 && v < length) ? v : length;
        atomicAdd((unsigned long long*)(counts + bin), 1ULL);
    }
}
"""

KERNEL_SOURCES = (
    COMMON_SRC,
    IM2COL_SRC,
    COL2IM_SRC,
    MAX_POOL_SRC,
    AVG_POOL_SRC,
    ADAPTIVE_MAX_POOL_SRC,
    BINCOUNT_SRC,
)

# The C element type and -infinity of each supported dtype (NVRTC needs no header for these).
_CTYPES = {
    "float32": ("float", "__int_as_float(0xff800000)"),
    "float64": ("double", "__longlong_as_double(0xfff0000000000000LL)"),
}


def cuda_source(dtype) -> str:
    """The full CUDA C source compiled for `dtype` (float32 or float64)."""
    name = np.dtype(dtype).name
    if name not in _CTYPES:
        raise TypeError(f"im2col_cupy: CUDA kernels exist for float32 and float64, not {name}")
    ctype, neg_inf = _CTYPES[name]
    head = f"typedef {ctype} T;\n#define NEG_INF ({neg_inf})\n"
    return head + "".join(KERNEL_SOURCES)


@functools.cache
def _module(dtype_name: str):
    # RawModule compiles lazily (per device, cached on disk by CuPy) on the first get_function.
    return cupy_module().RawModule(code=cuda_source(dtype_name))


_BLOCK = 256
_MAX_BLOCKS = 1 << 16  # the grid-stride loops cover any larger total


def _launch(name: str, dtype, total: int, *args) -> None:
    """Run kernel `name` compiled for `dtype` over `total` work items.

    Array arguments must be C-contiguous (the kernels index raw pointers); integers are passed as
    np.int32 / np.int64 to match the C signatures exactly.
    """
    if total <= 0:
        return
    kernel = _module(np.dtype(dtype).name).get_function(name)
    blocks = min((total + _BLOCK - 1) // _BLOCK, _MAX_BLOCKS)
    kernel((blocks,), (_BLOCK,), args)


def _i32(*values):
    return tuple(np.int32(v) for v in values)


def _i64(*values):
    return tuple(np.int64(v) for v in values)


def _entry(fn):
    """A public entry point: it runs on the device of its first array, and float16 arrays go
    through the float32 kernels (floating results are cast back to float16)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        first = args[0]
        where = first.device if _is_cupy_array(first) else contextlib.nullcontext()
        half = any(getattr(a, "dtype", None) == np.float16 for a in args)
        if half:
            args = tuple(
                a.astype(np.float32) if getattr(a, "dtype", None) == np.float16 else a for a in args
            )
        with where:
            out = fn(*args, **kwargs)
        if not half:
            return out
        down = lambda o: o.astype(np.float16) if o.dtype == np.float32 else o
        return tuple(down(o) for o in out) if isinstance(out, tuple) else down(out)

    return wrapper


# --------------------------------------------------------------------------- launchers


def _im2col_into(x, cols, kernel_size, stride, pad_tl, dilation, out_hw, col_strides):
    """Run `im2col` from contiguous x (N, C, H, W) into `cols`, laid out by col_strides
    (sn, sc, st, sp) in elements; pad_tl = (top, left)."""
    n, c, h, w = x.shape
    total = n * c * out_hw[0] * out_hw[1]
    geometry = _i32(c, h, w, *kernel_size, *out_hw, *stride, *pad_tl, *dilation)
    _launch("im2col", x.dtype, total, x, cols, np.int64(total), *geometry, *_i64(*col_strides))


def _col2im_into(cols, bias, x, kernel_size, stride, pad_tl, dilation, out_hw, col_strides):
    """Run `col2im`: contiguous x (N, C, H, W) = gather of `cols` (+ bias[c] when given);
    out_hw is the grid of windows (OH, OW) the columns came from."""
    n, c, h, w = x.shape
    total = n * c * h * w
    geometry = _i32(c, h, w, *kernel_size, *out_hw, *stride, *pad_tl, *dilation)
    has_bias = bias is not None
    _launch(
        "col2im",
        x.dtype,
        total,
        cols,
        bias if has_bias else cols,  # any valid pointer when unused
        x,
        np.int64(total),
        *geometry,
        *_i64(*col_strides),
        np.int32(has_bias),
    )


def _layout_strides(c, taps, p, channels_last):
    """(sn, sc, st, sp) of the public layouts: (N, C*KK, P), or rows (N*P, KK*C)."""
    if channels_last:
        return p * taps * c, 1, c, taps * c
    return c * taps * p, taps * p, p, 1


def _gemm_strides(m, taps, p):
    """(sn, sc, st, sp) of the drivers' GEMM layout (C*KK, m*P): row c*KK + t, column n*P + p."""
    return p, taps * m * p, m * p, 1


def _image_chunks(n: int, bytes_per_image: int):
    """[i0, i1) ranges of whole images whose unfolded matrix fits WORKSPACE_BYTES (>= 1 image)."""
    step = max(1, WORKSPACE_BYTES // max(bytes_per_image, 1))
    return [(i, min(i + step, n)) for i in range(0, n, step)]


def _unfold(x, kernel_size, stride, padding, dilation, out_hw):
    """Contiguous x (m, C, H, W) -> columns (C*KH*KW, m*OH*OW) for one GEMM over the chunk."""
    xp = xp_of(x)
    m, c = x.shape[:2]
    taps, p = kernel_size[0] * kernel_size[1], out_hw[0] * out_hw[1]
    cols = xp.empty((c * taps, m * p), dtype=x.dtype)
    pad_tl = (padding[0][0], padding[1][0])
    _im2col_into(x, cols, kernel_size, stride, pad_tl, dilation, out_hw, _gemm_strides(m, taps, p))
    return cols


# --------------------------------------------------------------------------- the primitives


def pad(x, padding, channels_last: bool = False, value=0.0, out=None):
    """A padded copy of an NCHW CuPy array; see im2col_numpy.pad (same slicing code)."""
    (t, b), (l, r) = padding
    n, c, h, w = x.shape
    if out is None:
        shape = (n, h + t + b, w + l + r, c) if channels_last else (n, c, h + t + b, w + l + r)
        out = xp_of(x).empty(shape, dtype=x.dtype)
    return im2col_numpy.pad(x, padding, channels_last, value, out)


def windows(xp_, kernel_size, stride=(1, 1), dilation=(1, 1), channels_last: bool = False):
    """Every window of a padded CuPy input as a strided view; see im2col_numpy.windows."""
    (kh, kw), (sh, sw), (dh, dw) = kernel_size, stride, dilation
    if channels_last:
        n, hp, wp, c = xp_.shape
        s_n, s_h, s_w, s_c = xp_.strides
    else:
        n, c, hp, wp = xp_.shape
        s_n, s_c, s_h, s_w = xp_.strides
    oh, ow = conv_out(hp, kh, sh, 0, dh), conv_out(wp, kw, sw, 0, dw)
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
    return xp_of(xp_).lib.stride_tricks.as_strided(xp_, shape, strides)


# KH*KW strided adds, the same slicing on CuPy arrays (the drivers here use the col2im gather).
col2im_add = im2col_numpy.col2im_add


def run_tasks(tasks, work, init):
    """work(state, task) for each task in order, one state: GPU kernels queue on one stream, so
    Python threads would add nothing."""
    state = init()
    for task in tasks:
        work(state, task)
    return [state]


def _check_fits(op, hw, kernel_size, stride, padding, dilation):
    oh = conv_out(hw[0], kernel_size[0], stride[0], padding[0], dilation[0])
    ow = conv_out(hw[1], kernel_size[1], stride[1], padding[1], dilation[1])
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{op}: kernel {tuple(kernel_size)} with dilation {tuple(dilation)} does not fit the "
            f"input of size {tuple(hw)} padded by {tuple(padding)}"
        )
    return oh, ow


@_entry
def im2col(x, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last: bool = False):  # fmt: skip
    """x (N, C, H, W) -> (N, C*KH*KW, OH*OW), or rows (N*OH*OW, KH*KW*C) when channels_last;
    the layouts of im2col_numpy.im2col, made by the `im2col` kernel."""
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = _check_fits("im2col", (h, w), kernel_size, stride, padding, dilation)
    taps, p = kernel_size[0] * kernel_size[1], oh * ow
    shape = (n * p, taps * c) if channels_last else (n, c * taps, p)
    cols = xp.empty(shape, dtype=x.dtype)
    strides = _layout_strides(c, taps, p, channels_last)
    _im2col_into(x, cols, kernel_size, stride, (padding[0][0], padding[1][0]), dilation,
                 (oh, ow), strides)  # fmt: skip
    return cols


@_entry
def col2im(cols, x_shape, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
           channels_last: bool = False):  # fmt: skip
    """The adjoint of `im2col` -> (N, C, H, W), by the `col2im` gather (no atomics)."""
    xp = xp_of(cols)
    cols = xp.ascontiguousarray(cols)
    n, c, h, w = x_shape
    oh, ow = _check_fits("col2im", (h, w), kernel_size, stride, padding, dilation)
    taps, p = kernel_size[0] * kernel_size[1], oh * ow
    if cols.size != n * c * taps * p:
        raise ValueError(
            f"col2im: columns of shape {tuple(cols.shape)} do not match an input {tuple(x_shape)} "
            f"with kernel {tuple(kernel_size)}: expected {n * c * taps * p} entries"
        )
    x = xp.empty(tuple(x_shape), dtype=cols.dtype)
    strides = _layout_strides(c, taps, p, channels_last)
    _col2im_into(cols, None, x, kernel_size, stride, (padding[0][0], padding[1][0]), dilation,
                 (oh, ow), strides)  # fmt: skip
    return x


# --------------------------------------------------------------------------- convolution drivers


@_entry
def conv2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """kernels.conv2d on the GPU: y (N, F, OH, OW) = w . im2col(x) (+ bias), per chunk of images."""
    xp = xp_of(x, w)
    x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
    n, c, h, wd = x.shape
    f, cg, kh, kw = w.shape
    fg, kk = f // groups, cg * kh * kw
    oh = conv_out(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_out(wd, kw, stride[1], padding[1], dilation[1])
    y = xp.empty((n, f, oh, ow), dtype=x.dtype)
    wm = w.reshape(groups, fg, kk)
    for i0, i1 in _image_chunks(n, c * kh * kw * oh * ow * x.dtype.itemsize):
        m = i1 - i0
        cols = _unfold(x[i0:i1], (kh, kw), stride, padding, dilation, (oh, ow))  # (C*KK, m*P)
        ym = xp.empty((f, m * oh * ow), dtype=x.dtype)
        for g in range(groups):  # group g: rows g*KK.. of the columns, rows g*F/groups.. of Y
            xp.matmul(wm[g], cols[g * kk : (g + 1) * kk], out=ym[g * fg : (g + 1) * fg])
        ym = ym.reshape(f, m, oh, ow).transpose(1, 0, 2, 3)  # (F, m*P) -> (m, F, OH, OW)
        if bias is None:
            y[i0:i1] = ym
        else:
            xp.add(ym, bias.reshape(f, 1, 1), out=y[i0:i1])
    return y


@_entry
def conv2d_weight(x, gy, kernel_size, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                  groups=1):  # fmt: skip
    """kernels.conv2d_weight on the GPU: gw (F, C/groups, KH, KW) = sum over chunks of
    gy (F, m*P) . im2col(x)^T, using only the first OH x OW windows (gy's size)."""
    xp = xp_of(x, gy)
    x, gy = xp.ascontiguousarray(x), xp.ascontiguousarray(gy)
    n, c = x.shape[:2]
    _, f, oh, ow = gy.shape
    kh, kw = kernel_size
    cg, fg = c // groups, f // groups
    kk, p = cg * kh * kw, oh * ow
    gw = xp.zeros((groups, fg, kk), dtype=x.dtype)
    for i0, i1 in _image_chunks(n, c * kh * kw * p * x.dtype.itemsize):
        m = i1 - i0
        cols = _unfold(x[i0:i1], (kh, kw), stride, padding, dilation, (oh, ow))  # (C*KK, m*P)
        gt = xp.ascontiguousarray(gy[i0:i1].reshape(m, f, p).transpose(1, 0, 2)).reshape(f, m * p)
        for g in range(groups):
            gw[g] += xp.matmul(gt[g * fg : (g + 1) * fg], cols[g * kk : (g + 1) * kk].T)
    return gw.reshape(f, cg, kh, kw)


@_entry
def conv_transpose2d(x, w, bias=None, stride=(1, 1), padding=((0, 0), (0, 0)),
                     output_padding=(0, 0), dilation=(1, 1), groups=1):  # fmt: skip
    """kernels.conv_transpose2d on the GPU: y = col2im(w^T . x) (+ bias), the col2im a gather
    that crops the padding and adds the bias as it writes each output pixel once."""
    xp = xp_of(x, w)
    x, w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    cig = cin // groups
    (t, b), (l, r) = padding
    oh = conv_transpose_out(h, kh, stride[0], 0, output_padding[0], dilation[0]) - t - b
    ow = conv_transpose_out(wd, kw, stride[1], 0, output_padding[1], dilation[1]) - l - r
    kk, p = cog * kh * kw, h * wd
    bias = None if bias is None else xp.ascontiguousarray(bias)
    y = xp.empty((n, groups * cog, oh, ow), dtype=x.dtype)
    wm = w.reshape(groups, cig, kk)
    for i0, i1 in _image_chunks(n, groups * kk * p * x.dtype.itemsize):
        m = i1 - i0
        xt = xp.ascontiguousarray(x[i0:i1].reshape(m, cin, p).transpose(1, 0, 2)).reshape(
            cin, m * p
        )
        cols = xp.empty((groups * kk, m * p), dtype=x.dtype)
        for g in range(groups):  # (C_out/groups*KK, C_in/groups) @ (C_in/groups, m*P)
            xp.matmul(wm[g].T, xt[g * cig : (g + 1) * cig], out=cols[g * kk : (g + 1) * kk])
        _col2im_into(cols, bias, y[i0:i1], (kh, kw), stride, (t, l), dilation, (h, wd),
                     _gemm_strides(m, kh * kw, p))  # fmt: skip
    return y


# --------------------------------------------------------------------------- pooling


@_entry
def max_pool2d(x, kernel_size, stride, padding, dilation, out_hw):
    """Max pooling: (y, arg), both (N, C, OH, OW); arg (int32) is the tap i*KW + j of each window
    that holds its max, as functional/pool.py's NumPy path stores it.

    Args:
        kernel_size, stride, padding (symmetric, -inf), dilation: (h, w) pairs; out_hw: (OH, OW)
        from kernels.shapes.pool_out (ceil_mode windows are clipped to the input).
    """
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = out_hw
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    arg = xp.empty((n, c, oh, ow), dtype=xp.int32)
    total = n * c * oh * ow
    geometry = _i32(h, w, *kernel_size, oh, ow, *stride, *padding, *dilation)
    _launch("max_pool2d", x.dtype, total, x, y, arg, np.int64(total), *geometry)
    return y, arg


@_entry
def max_pool2d_backward(gy, arg, x_shape, kernel_size, stride, padding, dilation):
    """gx (N, C, H, W): each pixel gathers gy of the windows whose `arg` chose it."""
    xp = xp_of(gy)
    gy, arg = xp.ascontiguousarray(gy), xp.ascontiguousarray(arg, dtype=xp.int32)
    n, c, h, w = x_shape
    oh, ow = gy.shape[2:]
    gx = xp.empty((n, c, h, w), dtype=gy.dtype)
    total = n * c * h * w
    geometry = _i32(h, w, *kernel_size, oh, ow, *stride, *padding, *dilation)
    _launch("max_pool2d_backward", gy.dtype, total, gy, arg, gx, np.int64(total), *geometry)
    return gx


@_entry
def avg_pool2d(x, kernel_size, stride, padding, out_hw, count_include_pad=True,
               divisor_override=None):  # fmt: skip
    """Average pooling (N, C, OH, OW) with PyTorch's divisor rules (see AVG_POOL_SRC)."""
    xp = xp_of(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh, ow = out_hw
    y = xp.empty((n, c, oh, ow), dtype=x.dtype)
    total = n * c * oh * ow
    geometry = _i32(h, w, *kernel_size, oh, ow, *stride, *padding)
    rules = _i32(bool(count_include_pad), divisor_override or 0)
    _launch("avg_pool2d", x.dtype, total, x, y, np.int64(total), *geometry, *rules)
    return y


@_entry
def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding, count_include_pad=True,
                        divisor_override=None):  # fmt: skip
    """gx (N, C, H, W): each pixel gathers gy / divisor of the windows that contain it."""
    xp = xp_of(gy)
    gy = xp.ascontiguousarray(gy)
    n, c, h, w = x_shape
    oh, ow = gy.shape[2:]
    gx = xp.empty((n, c, h, w), dtype=gy.dtype)
    total = n * c * h * w
    geometry = _i32(h, w, *kernel_size, oh, ow, *stride, *padding)
    rules = _i32(bool(count_include_pad), divisor_override or 0)
    _launch("avg_pool2d_backward", gy.dtype, total, gy, gx, np.int64(total), *geometry, *rules)
    return gx


@_entry
def adaptive_max_pool2d_backward(gy, argmax, x_shape):
    """gx (N, C, H, W) of adaptive max pooling: each pixel gathers gy of the bins whose argmax
    (h*W + w, int64, (N, C, OH, OW)) is that pixel."""
    xp = xp_of(gy)
    gy, argmax = xp.ascontiguousarray(gy), xp.ascontiguousarray(argmax, dtype=xp.int64)
    n, c, h, w = x_shape
    oh, ow = gy.shape[2:]
    gx = xp.empty((n, c, h, w), dtype=gy.dtype)
    total = n * c * h * w
    _launch(
        "adaptive_max_pool2d_backward",
        gy.dtype,
        total,
        gy,
        argmax,
        gx,
        np.int64(total),
        *_i32(h, w, oh, ow),
    )
    return gx


def bincount(values, length: int):
    """Counts (length + 1,) int64 of integer `values` on the GPU, without reading anything back:
    counts[v] for v in [0, length) and, last, how many values fell outside that range."""
    xp = xp_of(values)
    values = xp.ascontiguousarray(values.reshape(-1), dtype=xp.int64)
    counts = xp.zeros(length + 1, dtype=xp.int64)
    where = values.device if _is_cupy_array(values) else contextlib.nullcontext()
    with where:
        _launch("bincount", np.float32, values.size, values, counts, *_i64(values.size, length))
    return counts
