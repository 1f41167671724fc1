"""Pooling, unpooling and resampling: max/avg pooling (fixed and adaptive), max_unpool2d and
interpolate, with PyTorch's arguments, output sizes and index conventions.

Sliding-window pooling reads the windows as a strided view (kernels.windows, no copy) and loops
over the KH*KW kernel offsets, never over pixels: offset (i, j) of every window at once is one
strided slice. The backward pass adds the gradient back through the same slices. On the GPU
(CuPy arrays) max, average and adaptive-max pooling take CUDA kernels from kernels/im2col_cupy.py
instead: one thread per output, and gradients gathered per input pixel. The loop versions in
minitorch_cv/reference.py are the definitions these are tested against.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import kernels
from ..backend import xp_of
from ..kernels.shapes import pair, pool_out
from ..tensor import Function, Tensor, is_grad_enabled
from .elementwise import _trunc_divide
from .precision import INT_KERNEL_DTYPES, require_floating

# --------------------------------------------------------------------------- geometry


class _Geometry:
    """Sizes of a sliding-window pooling, checked once (messages name the op and the shapes)."""

    def __init__(self, op, shape, kernel_size, stride, padding, dilation, ceil_mode):
        self.k = pair(kernel_size, "kernel_size")
        self.s = (
            self.k
            if stride is None or (isinstance(stride, (tuple, list)) and not stride)
            else pair(stride, "stride")
        )
        self.p, self.d = pair(padding, "padding"), pair(dilation, "dilation")
        for name, v in (("kernel_size", self.k), ("stride", self.s), ("dilation", self.d)):
            if min(v) < 1:
                raise ValueError(f"{op}: {name} must be >= 1, got {v}")
        if min(self.p) < 0 or any(p > k // 2 for p, k in zip(self.p, self.k)):
            raise ValueError(
                f"{op}: padding {self.p} must be >= 0 and at most half the kernel size {self.k}"
            )
        self.h, self.w = shape[2:]
        self.out = tuple(
            pool_out(n, k, s, p, d, ceil_mode)
            for n, k, s, p, d in zip((self.h, self.w), self.k, self.s, self.p, self.d)
        )
        if min(self.out) < 1:
            raise ValueError(
                f"{op}: kernel {self.k} (stride {self.s}, padding {self.p}, dilation {self.d}) "
                f"gives output "
                f"size {self.out} for input of shape {tuple(shape)}: too small"
            )
        # right/bottom padding so that the last (ceil_mode) window fits in the padded buffer
        self.pads = tuple(
            (p, max(0, (o - 1) * s + d * (k - 1) + 1 - n - p))
            for n, o, k, s, p, d in zip((self.h, self.w), self.out, self.k, self.s, self.p, self.d)
        )
        self.padded = any(lo or hi for lo, hi in self.pads)
        # windows overlap, so one input pixel can get gradient from several of them
        self.overlap = any(s < d * (k - 1) + 1 for s, k, d in zip(self.s, self.k, self.d))
        # windows tile the input exactly: every pixel is in exactly one window
        self.tiles = (
            not self.padded
            and self.k == self.s
            and self.d == (1, 1)
            and (self.h, self.w) == (self.out[0] * self.k[0], self.out[1] * self.k[1])
        )

    def windows(self, x, value):
        """(N, C, KH, KW, OH, OW) view of the windows over x padded with `value`."""
        src = kernels.pad(x, self.pads, value=value) if self.padded else x
        oh, ow = self.out
        return kernels.windows(src, self.k, self.s, self.d)[..., :oh, :ow]

    def taps(self):
        """(t, i, j) for every kernel offset, t = i*KW + j, in PyTorch's scan order."""
        kh, kw = self.k
        return [(i * kw + j, i, j) for i in range(kh) for j in range(kw)]

    def tap_slice(self, i, j):
        """The (rows, cols) slices of the padded input that offset (i, j) of every window reads."""
        (oh, ow), (sh, sw), (dh, dw) = self.out, self.s, self.d
        return (
            slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
            slice(j * dw, j * dw + sw * (ow - 1) + 1, sw),
        )

    def grad_buffer(self, xp, n, c, dtype, covered=False):
        """Zeroed input-gradient buffer (padded); uninitialised when `covered`, i.e. the caller
        writes every pixel of it."""
        (t, b), (l, r) = self.pads
        return (xp.empty if covered else xp.zeros)((n, c, self.h + t + b, self.w + l + r), dtype)

    def crop(self, buf):
        (t, _), (l, _) = self.pads
        return buf[:, :, t : t + self.h, l : l + self.w] if self.padded else buf


def _batched(op, input):
    """(4-D input, whether it was unbatched (C, H, W) and the result must drop the batch dim)."""
    if input.ndim == 4:
        return input, False
    if input.ndim == 3:
        return input.reshape(1, *input.shape), True
    raise ValueError(
        f"{op}: expected 3-D or 4-D input (N, C, H, W), got shape {tuple(input.shape)}"
    )


def _unbatch(out, unbatched):
    if not unbatched:
        return out
    if isinstance(out, tuple):
        return tuple(o.reshape(*o.shape[1:]) for o in out)
    return out.reshape(*out.shape[1:])


# --------------------------------------------------------------------------- max pooling


def _lowest(dtype):
    """The padding of a max pooling: -inf, or an integer dtype's minimum (PyTorch's `lowest`;
    a window whose values all equal it keeps its first real element, as one of -inf's would)."""
    return -math.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _first_real_tap(xp, pos, dil):
    """`pos`, max pooling's winning input positions along one axis, as PyTorch reports them: a
    window with nothing above -inf (or an integer dtype's minimum) keeps its first tap, which
    may be padding (pos < 0); PyTorch reports the first tap at or after 0 instead (a dilated
    window can hold only padding; its index then lies outside the window, as PyTorch's does).
    Shared by max_pool2d and max_pool3d."""
    return pos + dil * xp.maximum(0, (dil - 1 - pos) // dil)


class MaxPool2d(Function):
    """y = max over each window; the gradient goes to the one input that was the max (the first
    one in row-major window order on ties; padding is -inf, or an integer dtype's minimum, and
    never chosen). Integer input (no gradient) takes the NumPy-style scan on the GPU too.

    Shapes: x (N, C, H, W) -> y, indices (N, C, OH, OW), OH = kernels.shapes.pool_out(...);
            indices are flat h*W + w positions within each (H, W) plane, as PyTorch.
    """

    @staticmethod
    def forward(ctx, x, *, geo, return_indices):
        xp = xp_of(x)
        n, c = x.shape[:2]
        (oh, ow), (kh, kw) = geo.out, geo.k
        need_arg = return_indices or (is_grad_enabled() and any(ctx.needs_input_grad))
        floating = x.dtype.kind == "f"
        gpu = kernels.cuda_kernels(x) if floating else None
        if gpu is not None:  # CUDA: one thread per output scans its window (same tie/NaN rules)
            y, arg = gpu.max_pool2d(x, geo.k, geo.s, geo.p, geo.d, geo.out)
            if not need_arg:
                return y
        else:
            fast = not geo.padded and geo.k == geo.s and geo.d == (1, 1)
            if fast:  # non-overlapping windows tiling the input: a reshape, no strided view
                x6 = x[:, :, : oh * kh, : ow * kw].reshape(n, c, oh, kh, ow, kw)
                tap = lambda i, j: x6[:, :, :, i, :, j]
            else:
                v = geo.windows(x, _lowest(x.dtype))
                tap = lambda i, j: v[:, :, i, j]
            taps = geo.taps()
            y = xp.empty((n, c, oh, ow), dtype=x.dtype)
            if need_arg:
                arg = xp.empty(y.shape, dtype=xp.uint8 if kh * kw <= 256 else xp.int32)

            def scan(s):  # images s, every window at once, one kernel offset at a time
                ys = y[s]
                ys[...] = tap(0, 0)[s]
                if need_arg:
                    args = arg[s]
                    args[...] = 0
                    better, step = xp.empty(ys.shape, dtype=bool), xp.empty_like(args)
                for t, i, j in taps[1:]:
                    v_t = tap(i, j)[s]
                    if need_arg:  # strictly greater: on ties the first tap in row-major order stays
                        xp.greater(v_t, ys, out=better)
                    xp.maximum(ys, v_t, out=ys)  # maximum propagates NaN, as PyTorch's max does
                    if need_arg:  # args = t where better, as arithmetic: masked writes are slower
                        xp.subtract(t, args, out=step)  # (uint8 wraps around and back: exact)
                        step *= better
                        args += step

            kernels.for_slices(x, scan)
            if not need_arg:
                return y
            nan = xp.isnan(y) if floating else None  # (integers hold no NaN)
            if floating and nan.any():  # NaN equals nothing; PyTorch keeps the window's last NaN
                for t, i, j in taps:
                    xp.copyto(arg, t, where=nan & xp.isnan(tap(i, j)))
        ctx.arg, ctx.geo, ctx.shape = arg, geo, x.shape
        if not return_indices:
            return y
        (sh, sw), (ph, pw), (dh, dw) = geo.s, geo.p, geo.d
        arg64 = arg.astype(xp.int64)
        rows = xp.arange(oh).reshape(oh, 1) * sh - ph + (arg64 // kw) * dh
        cols = xp.arange(ow) * sw - pw + (arg64 % kw) * dw
        rows, cols = _first_real_tap(xp, rows, dh), _first_real_tap(xp, cols, dw)
        return y, rows * geo.w + cols

    @staticmethod
    def backward(ctx, gy):
        xp = xp_of(gy)
        geo, arg = ctx.geo, ctx.arg
        gpu = kernels.cuda_kernels(gy)
        if gpu is not None:  # CUDA: each input pixel gathers from the windows that chose it
            return (gpu.max_pool2d_backward(gy, arg, ctx.shape, geo.k, geo.s, geo.p, geo.d),)
        n, c = ctx.shape[:2]
        gx = geo.grad_buffer(xp, n, c, gy.dtype, covered=True)

        def scatter(s):  # images s
            if not geo.tiles:  # some pixels are in no window (or padding): they stay zero
                gx[s] = 0
            for t, i, j in geo.taps():
                dst = gx[(s, slice(None)) + geo.tap_slice(i, j)]
                hit = arg[s] == t
                if geo.overlap:  # a pixel can be the max of several windows: add
                    dst += gy[s] * hit
                else:  # each pixel is in at most one window: write (NaN fills its window)
                    xp.multiply(gy[s], hit, out=dst)

        kernels.for_slices(gy, scatter, size=gx.size)
        return (geo.crop(gx),)


def max_pool2d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """2-D max pooling, as torch.nn.functional.max_pool2d.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W); floating point, or integer (int8 .. int64,
            uint8: as PyTorch, the result in that dtype; integers carry no gradient).
        kernel_size (int or tuple): window size.
        stride (int or tuple): window step. Default: kernel_size.
        padding (int or tuple): implicit -inf (an integer dtype's minimum) on both sides, at most
            kernel_size // 2. Default: 0.
        dilation (int or tuple): spacing between window taps. Default: 1.
        ceil_mode (bool): round the output size up (keeping a last partial window that starts
            inside the input or left padding). Default: False.
        return_indices (bool): also return the argmax positions (int64, h*W + w within each
            plane), the input of max_unpool2d. Default: False.

    Shape:
        (N, C, OH, OW), OH = floor_or_ceil((H + 2*padding - dilation*(KH-1) - 1) / stride) + 1
        (kernels.shapes.pool_out).
    """
    op = "max_pool2d"
    x, unbatched = _batched(op, input)
    require_floating(op, x, ints=INT_KERNEL_DTYPES)
    geo = _Geometry(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    return _unbatch(MaxPool2d.apply(x, geo=geo, return_indices=return_indices), unbatched)


class MaxUnpool(Function):
    """Put each value back at the flat position its index names (zeros elsewhere); the gradient
    reads those positions back out.

    Shapes: x, indices (N, C, *S) -> y (N, C, *out_size), 2-D or 3-D."""

    @staticmethod
    def forward(ctx, x, indices, *, out_size):
        xp = xp_of(x)
        n, c = x.shape[:2]
        rows = xp.arange(n * c).reshape(-1, 1)
        idx = indices.reshape(n * c, int(np.prod(x.shape[2:])))  # (sizes spelled out: n may be 0)
        y = xp.zeros((n * c, int(np.prod(out_size))), dtype=x.dtype)
        y[rows, idx] = x.reshape(idx.shape)
        ctx.rows, ctx.idx, ctx.shape = rows, idx, x.shape
        return y.reshape(n, c, *out_size)

    @staticmethod
    def backward(ctx, gy):
        n, c = ctx.shape[:2]
        return gy.reshape(n * c, int(np.prod(gy.shape[2:])))[ctx.rows, ctx.idx].reshape(
            ctx.shape
        ), None


def max_unpool_nd(op, input, indices, kernel_size, stride, padding, output_size, nd):
    """max_unpool2d / max_unpool3d over `nd` spatial dims: the checks, then MaxUnpool."""
    if input.ndim not in (nd + 1, nd + 2):
        raise ValueError(
            f"{op}: expected {nd + 1}-D or {nd + 2}-D input (N, C, {'D, ' * (nd == 3)}H, W), "
            f"got shape {tuple(input.shape)}"
        )
    require_floating(op, input)  # PyTorch has no integer kernel (max pooling has one)
    unbatched = input.ndim == nd + 1
    x = input.reshape(1, *input.shape) if unbatched else input
    idx_t = indices.reshape(1, *indices.shape) if unbatched and indices.ndim == nd + 1 else indices
    if tuple(idx_t.shape) != tuple(x.shape):
        raise ValueError(
            f"{op}: indices shape {tuple(indices.shape)} must equal input shape "
            f"{tuple(input.shape)}"
        )
    if idx_t.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be integers, got dtype {idx_t.dtype}")
    k = pair(kernel_size, "kernel_size", nd)
    s = k if stride is None else pair(stride, "stride", nd)
    p = pair(padding, "padding", nd)
    default = tuple((n - 1) * si - 2 * pi + ki for n, si, pi, ki in zip(x.shape[2:], s, p, k))
    if output_size is None:
        out = default
    else:
        out = tuple(int(v) for v in output_size)
        if len(out) not in (nd, nd + 2):  # the spatial size, or a full size whose last nd count
            raise ValueError(
                f"{op}: output_size should have {nd} or {nd + 2} elements, got "
                f"{tuple(output_size)!r}"
            )
        out = out[-nd:]
        for d, (o, df, si) in enumerate(zip(out, default, s)):
            if not df - si < o < df + si:  # torch's rule: within a stride of the default
                raise ValueError(
                    f"{op}: invalid output_size {out} for input of shape "
                    f"{tuple(input.shape)} (dim {d} must be between {df - si + 1} and "
                    f"{df + si - 1})"
                )
    if min(out) < 1:
        raise ValueError(
            f"{op}: output size {out} for input of shape {tuple(input.shape)} is not positive"
        )
    raw = idx_t._data if isinstance(idx_t, Tensor) else idx_t
    volume = int(np.prod(out))
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) >= volume):
        raise ValueError(
            f"{op}: indices must lie in [0, {volume}) for output size {out}, "
            f"got range [{int(raw.min())}, {int(raw.max())}]"
        )
    return _unbatch(MaxUnpool.apply(x, idx_t, out_size=out), unbatched)


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool2d, as torch.nn.functional.max_unpool2d.

    Args:
        input: pooled values (N, C, H, W) or (C, H, W).
        indices: from max_pool2d(..., return_indices=True).
        kernel_size, stride (default kernel_size), padding: those of the max_pool2d.
        output_size: (OH, OW) (or with leading dims) to pick among the sizes that pool to H, W.

    Shape:
        (N, C, OH, OW), default OH = (H - 1)*stride - 2*padding + KH.
    """
    return max_unpool_nd(
        "max_unpool2d", input, indices, kernel_size, stride, padding, output_size, 2
    )


# --------------------------------------------------------------------------- average pooling


def _avg_divisor(xp, geo, count_include_pad, divisor_override, dtype):
    """(OH, OW) divisors with PyTorch's rules; separable, so one row and one column factor."""
    if divisor_override:
        return divisor_override
    factors = []
    for n, o, k, s, p in zip((geo.h, geo.w), geo.out, geo.k, geo.s, geo.p):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)  # a ceil_mode window is clipped to the padded input
        if count_include_pad:
            factors.append(end - start)
        else:
            factors.append(np.minimum(end, n) - np.maximum(start, 0))
    return xp.asarray(np.outer(*factors), dtype=dtype)


class AvgPool2d(Function):
    """y = sum over each window / divisor; each input gets gy / divisor from every window it is in.
    int64 input (no gradient): the int64 sum (wrapping around) divided rounding toward zero, as
    PyTorch's CPU kernel, on the GPU too.

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW), OH = kernels.shapes.pool_out(...)."""

    @staticmethod
    def forward(ctx, x, *, geo, count_include_pad, divisor_override):
        xp = xp_of(x)
        if x.dtype.kind != "f":
            div = _avg_divisor(xp, geo, count_include_pad, divisor_override, x.dtype)
            v = geo.windows(x, 0)
            total = v[:, :, 0, 0].copy()
            for _, i, j in geo.taps()[1:]:
                total += v[:, :, i, j]
            return _trunc_divide(xp, total, div)  # PyTorch's int64 pooling: toward zero
        gpu = kernels.cuda_kernels(x)
        if gpu is not None:  # CUDA: one thread per output, the divisor computed in the kernel
            ctx.geo, ctx.shape, ctx.rules = geo, x.shape, (count_include_pad, divisor_override)
            return gpu.avg_pool2d(x, geo.k, geo.s, geo.p, geo.out, *ctx.rules)
        div = _avg_divisor(xp, geo, count_include_pad, divisor_override, x.dtype)
        v = geo.windows(x, 0.0)
        y = v[:, :, 0, 0].copy()
        for _, i, j in geo.taps()[1:]:
            y += v[:, :, i, j]
        y /= div
        ctx.geo, ctx.div, ctx.shape = geo, div, x.shape
        return y

    @staticmethod
    def backward(ctx, gy):
        xp = xp_of(gy)
        geo = ctx.geo
        gpu = kernels.cuda_kernels(gy)
        if gpu is not None:  # CUDA: each input pixel gathers gy / divisor of its windows
            return (gpu.avg_pool2d_backward(gy, ctx.shape, geo.k, geo.s, geo.p, *ctx.rules),)
        g = gy / ctx.div
        gx = geo.grad_buffer(xp, *ctx.shape[:2], gy.dtype)
        for _, i, j in geo.taps():
            gx[(slice(None), slice(None)) + geo.tap_slice(i, j)] += g
        return (geo.crop(gx),)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):  # fmt: skip
    """2-D average pooling, as torch.nn.functional.avg_pool2d.

    Args:
        input: (N, C, H, W) or unbatched (C, H, W); floating point, or int64 (as PyTorch: the
            sum divided rounding toward zero, an int64 result; other integers are refused).
        kernel_size (int or tuple): window size. stride: window step. Default: kernel_size.
        padding (int or tuple): implicit zeros on both sides, at most kernel_size // 2. Default: 0.
        ceil_mode (bool): round the output size up. Default: False.
        count_include_pad (bool): padded zeros count in the divisor. Default: True.
        divisor_override (int or None): divide every window sum by this instead. Default: None.

    Shape:
        (N, C, OH, OW), OH = floor_or_ceil((H + 2*padding - KH) / stride) + 1.
    """
    op = "avg_pool2d"
    x, unbatched = _batched(op, input)
    require_floating(op, x, ints=("int64",))
    if divisor_override is not None and (
        not isinstance(divisor_override, int) or divisor_override == 0
    ):
        raise ValueError(f"{op}: divisor_override must be a non-zero int, got {divisor_override!r}")
    geo = _Geometry(op, x.shape, kernel_size, stride, padding, 1, ceil_mode)
    y = AvgPool2d.apply(
        x, geo=geo, count_include_pad=count_include_pad, divisor_override=divisor_override
    )
    return _unbatch(y, unbatched)


# --------------------------------------------------------------------------- adaptive pooling


def _adaptive_bins(size, out):
    """PyTorch's bins: start = floor(i*size/out), end = ceil((i+1)*size/out), as numpy arrays."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_size(op, x, output_size, nd=2):
    """The output size: an int, or `nd` values whose None entries keep the input's size."""
    sizes = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    if len(sizes) != nd:
        raise ValueError(f"{op}: output_size must be an int or {nd} values, got {output_size!r}")
    out = tuple(n if o is None else int(o) for o, n in zip(sizes, x.shape[2:]))
    if min(out) < 1:
        raise ValueError(f"{op}: output_size must be positive, got {output_size!r}")
    if min(x.shape[2:]) < 1:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} has an empty spatial dim")
    return out


def _mean_matrix(size, out, dtype):
    """(out, size) matrix averaging over each adaptive bin: y = A @ x along one axis."""
    start, end = _adaptive_bins(size, out)
    cols = np.arange(size)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """Averaging over bins is linear and separable: y = A_h @ x @ A_w^T, with A_h (OH, H) holding
    1/len(bin) inside each bin. Its gradient is the transpose: gx = A_h^T @ gy @ A_w."""

    @staticmethod
    def forward(ctx, x, *, out_hw):
        xp = xp_of(x)
        ah = xp.asarray(_mean_matrix(x.shape[2], out_hw[0], x.dtype))
        aw = xp.asarray(_mean_matrix(x.shape[3], out_hw[1], x.dtype))
        ctx.ah, ctx.aw = ah, aw
        return xp.matmul(xp.matmul(ah, x), aw.T)

    @staticmethod
    def backward(ctx, gy):
        xp = xp_of(gy)
        return (xp.matmul(xp.matmul(ctx.ah.T, gy), ctx.aw),)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size, as torch.nn.functional.adaptive_avg_pool2d.

    Args:
        input: (N, C, H, W) or (C, H, W). output_size: int or (OH, OW); None keeps that size.

    Shape:
        (N, C, OH, OW); bin i covers [floor(i*H/OH), ceil((i+1)*H/OH)).
    """
    op = "adaptive_avg_pool2d"
    x, unbatched = _batched(op, input)
    require_floating(op, x)
    return _unbatch(
        AdaptiveAvgPool2d.apply(x, out_hw=_adaptive_size(op, x, output_size)), unbatched
    )


def _adaptive_taps(size, out):
    """(out, k) input positions of each adaptive bin along one axis; bins differ in size by at
    most one, so the narrower ones repeat their last position up to the widest bin's k."""
    start, end = _adaptive_bins(size, out)
    k = int((end - start).max())
    return np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)


class AdaptiveMaxPool(Function):
    """Max over each adaptive bin of (N, C, *spatial), 2-D or 3-D. Each axis's bins are gathered
    as fixed blocks (`_adaptive_taps`), giving (N, C, O_1, K_1, .., O_nd, K_nd); the K axes are
    then reduced from the last, one tap at a time (a loop over the few taps of one axis, not over
    pixels). A tap replaces the best so far when it is greater, so the first maximum in scan order
    wins and a repeated tap never beats its original, as in PyTorch; a NaN always replaces it,
    so the last NaN wins (PyTorch's `val > max || isnan(val)`). The gradient goes to the argmax;
    bins may overlap by one pixel, so it is scatter-added (bincount).

    Shapes: x (N, C, *S) -> y, indices (N, C, *O); indices flat positions within each plane or
    volume (h*W + w, or d*H*W + h*W + w)."""

    @staticmethod
    def forward(ctx, x, *, out_size, return_indices):
        xp = xp_of(x)
        size, nd = x.shape[2:], len(out_size)
        taps = [xp.asarray(_adaptive_taps(n, o)) for n, o in zip(size, out_size)]
        g = x
        for axis, (t, n, o) in enumerate(zip(taps, size, out_size)):
            a = 2 + 2 * axis
            if n % o:  # bins of unequal size, or overlapping: gather them
                g = xp.take(g, t.ravel(), axis=a)
            g = g.reshape(*g.shape[:a], *t.shape, *g.shape[a + 1 :])  # equal bins tile: a view
        winners = []  # the winning tap of each axis reduced so far, shaped as what is left
        for axis in reversed(range(nd)):
            k_axis = 3 + 2 * axis
            tap = [slice(None)] * g.ndim
            tap[k_axis] = 0
            best = g[tuple(tap)].copy()
            arg = xp.zeros(best.shape, dtype=xp.int64)
            for i in range(1, g.shape[k_axis]):
                tap[k_axis] = i
                cand = g[tuple(tap)]
                better = (cand > best) | xp.isnan(cand)
                xp.copyto(best, cand, where=better)
                xp.copyto(arg, i, where=better)
            # the later axes' winners, read at this axis's winning tap
            pick = xp.expand_dims(arg, k_axis)
            winners = [xp.take_along_axis(w, pick, axis=k_axis)[tuple(tap[:k_axis]) + (0,)]
                       for w in winners] + [arg]  # fmt: skip
            g = best
        idx = xp.zeros(g.shape, dtype=xp.int64)
        for axis, (t, win) in enumerate(zip(taps, reversed(winners))):
            bins = xp.arange(out_size[axis]).reshape([-1 if a == axis else 1 for a in range(nd)])
            idx = idx * size[axis] + t[bins, win]  # the winner's position along this axis
        ctx.idx, ctx.shape = idx, x.shape
        return (g, idx) if return_indices else g

    @staticmethod
    def backward(ctx, gy):
        xp = xp_of(gy)
        gpu = kernels.cuda_kernels(gy)
        if gpu is not None and gy.ndim == 4:  # CUDA: a gather per input pixel, no read-back
            return (gpu.adaptive_max_pool2d_backward(gy, ctx.idx, ctx.shape),)
        # (3-D on CUDA: CuPy's bincount, which reads its maximum back once)
        n, c, *size = ctx.shape
        volume = int(np.prod(size))
        base = xp.arange(n * c).reshape(n, c, *[1] * len(size)) * volume
        gx = xp.bincount((ctx.idx + base).ravel(), weights=gy.ravel(), minlength=n * c * volume)
        return (gx.astype(gy.dtype).reshape(ctx.shape),)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size, as torch.nn.functional.adaptive_max_pool2d.

    Args:
        input: (N, C, H, W) or (C, H, W). output_size: int or (OH, OW); None keeps that size.
        return_indices (bool): also return the argmax positions (h*W + w). Default: False.

    Shape:
        (N, C, OH, OW); bin i covers [floor(i*H/OH), ceil((i+1)*H/OH)).
    """
    op = "adaptive_max_pool2d"
    x, unbatched = _batched(op, input)
    require_floating(op, x)
    out_hw = _adaptive_size(op, x, output_size)
    return _unbatch(
        AdaptiveMaxPool.apply(x, out_size=out_hw, return_indices=return_indices), unbatched
    )


# --------------------------------------------------------------------------- interpolate


def _source_index(mode, size, out, scale, align_corners, dtype, small=False):
    """Per output index along one axis: (i0, i1, weight of i1), PyTorch's coordinate rules,
    computed in the input's precision as PyTorch does; any mode but the nearest ones takes the
    linear rule. `small`: PyTorch's kernel for 2-D nearest outputs with OH + OW <= 128, which
    copies an axis that keeps its size, halves the index on one that doubles, and computes the
    others in float32 whatever the dtype; its general kernel (larger 2-D outputs, and every 1-D
    and 3-D one) computes every index in the input's precision, rounded to float32 before the
    floor."""
    t = np.float32 if dtype == np.float32 else np.float64
    f32 = np.float32
    dst = np.arange(out)
    if mode in ("nearest", "nearest-exact"):
        # nearest: floor(i * s); nearest-exact: the pixel whose centre is nearest, s = 1/scale
        exact = mode == "nearest-exact"
        if small and not exact and out in (size, 2 * size):
            src = dst if out == size else dst >> 1
        else:
            t = f32 if small else t
            sc = t(1.0 / scale) if scale else t(size) / t(out)
            if small:  # floor(i * s) or floor((i + 0.5) * s): one float32 product
                real = (dst + (0.5 if exact else 0.0)).astype(f32) * sc
            elif exact:  # floor(max(s * (i + 0.5) - 0.5, 0) + 0.5), the first part rounded once
                # (a fused multiply-add; a float32 s times i + 0.5 is exact in float64)
                real = np.maximum((np.float64(sc) * (dst + 0.5) - 0.5).astype(t), t(0)) + t(0.5)
            else:
                real = dst.astype(t) * sc
            src = np.minimum(np.floor(real.astype(f32)).astype(np.int64), size - 1)
        return src, src, None
    if out == size:  # PyTorch's linear kernels copy an axis that keeps its size, whatever the
        return dst, dst, np.zeros(out, dtype=t)  # scale_factor given (1.05 on 10 pixels)
    if align_corners:
        sc = t(size - 1) / t(out - 1) if out > 1 else t(0)
        real = sc * dst.astype(t)
    else:
        sc = t(1.0 / scale) if scale else t(size) / t(out)
        # sc * (i + 0.5) - 0.5 rounded once, as PyTorch's fused multiply-add (the product of
        # two float32 values is exact in float64)
        real = np.maximum(np.float64(sc) * (dst + 0.5) - 0.5, 0.0).astype(t)
    i0 = np.minimum(np.floor(real).astype(np.int64), size - 1)
    lam = np.clip(real - i0.astype(t), t(0), t(1))
    i1 = np.minimum(i0 + 1, size - 1)
    return i0, i1, lam


def _bands(i0, i1, lam, size, dtype, budget=1 << 12):
    """The (out, size) matrix A of one axis's resampling (rows: one 1, or 1 - l and l) in
    blocks of consecutive rows, each with only the source columns it reads (a contiguous range:
    the indices never decrease): yields (a, b, lo, A[a:b, lo:lo + span]). About
    sqrt(budget * out / size) rows a block, so a block holds about `budget` entries (the span
    is about rows * size / out) whatever the sizes."""
    out = len(i0)
    rows = max(1, math.isqrt(budget * out // size))
    for a in range(0, out, rows):
        b = min(a + rows, out)
        lo = int(i0[a:b].min())
        m = np.zeros((b - a, int(i1[a:b].max()) + 1 - lo))
        r = np.arange(b - a)
        if lam is None:
            m[r, i0[a:b] - lo] = 1.0
        else:  # one entry per row in each statement; at the border i0 == i1 and the two add up
            m[r, i0[a:b] - lo] += 1.0 - lam[a:b]
            m[r, i1[a:b] - lo] += lam[a:b]
        yield a, b, lo, m.astype(dtype)


_CUBIC_A = -0.75  # Keys' cubic convolution, as PyTorch's (and OpenCV's) bicubic


def _cubic_near(x, a=_CUBIC_A):
    """Keys' cubic kernel at distance |x| <= 1."""
    return ((a + 2) * x - (a + 3)) * x * x + 1


def _cubic_far(x, a=_CUBIC_A):
    """Keys' cubic kernel at distance 1 < |x| < 2."""
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a


def _bicubic_matrix(size, out, scale, align_corners, dtype):
    """The (out, size) matrix of PyTorch's bicubic resampling along one axis: Keys' cubic
    convolution with A = -0.75 over the 4 nearest source pixels, indices clamped to the edge
    (a clamped tap adds its weight to the edge pixel). Source coordinates as bilinear's, but
    not clamped at 0 (PyTorch's cubic rule)."""
    t = np.float32 if dtype == np.float32 else np.float64
    dst = np.arange(out).astype(t)
    if align_corners:
        real = (t(size - 1) / t(out - 1) if out > 1 else t(0)) * dst
    else:
        sc = t(1.0 / scale) if scale else t(size) / t(out)
        real = sc * (dst + t(0.5)) - t(0.5)
    i0 = np.floor(real)
    f = (real - i0).astype(np.float64)
    weights = [_cubic_far(f + 1), _cubic_near(f), _cubic_near(1 - f), _cubic_far(2 - f)]
    m = np.zeros((out, size), dtype=np.float64)
    rows = np.arange(out)
    for k, wk in enumerate(weights):
        np.add.at(m, (rows, np.clip(i0.astype(np.int64) - 1 + k, 0, size - 1)), wk)
    return m.astype(dtype)


class InterpolateBicubic(Function):
    """Bicubic resize: y = A_h @ x @ A_w^T, each row of A_h, A_w holding four cubic-convolution
    weights (_bicubic_matrix); the gradient applies the transposes: gx = A_h^T @ gy @ A_w.

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW)."""

    @staticmethod
    def forward(ctx, x, *, out_hw, scales, align_corners):
        xp = xp_of(x)
        ah, aw = (
            xp.asarray(_bicubic_matrix(n, o, s, align_corners, x.dtype))
            for n, o, s in zip(x.shape[2:], out_hw, scales)
        )
        ctx.matrices = ah, aw
        return xp.matmul(xp.matmul(ah, x), aw.T)

    @staticmethod
    def backward(ctx, gy):
        xp, (ah, aw) = xp_of(gy), ctx.matrices
        return (xp.matmul(xp.matmul(ah.T, gy), aw),)


class InterpolateNd(Function):
    """Nearest and (bi/tri)linear resize of (N, C, *spatial), separable: along each spatial axis
    in turn, per output index a gather of one source index (nearest) or the weighted sum
    (1 - l) x[i0] + l x[i1] of two (linear). Along an axis that is y = A x, A (out, in) holding
    one or two entries a row; the gradient applies A^T axis by axis in reverse, as GEMMs over
    blocks of outputs with only the source columns each block reads (_bands), never the whole
    dense A.

    Shapes: x (N, C, *in) -> y (N, C, *out); taps: per axis (i0, i1, l or None, in)."""

    @staticmethod
    def forward(ctx, x, *, taps):
        xp = xp_of(x)
        for axis, (i0, i1, lam, _) in enumerate(taps, start=2):
            a0 = xp.take(x, xp.asarray(i0), axis=axis)
            if lam is None:
                x = a0
                continue
            shape = [1] * x.ndim
            shape[axis] = -1
            w = xp.asarray(lam.astype(x.dtype)).reshape(shape)
            a1 = xp.take(x, xp.asarray(i1), axis=axis)
            a0 *= 1 - w  # in place: (1 - l) x[i0] + l x[i1] with no temporaries but the gathers
            a1 *= w
            a0 += a1
            x = a0
        ctx.taps = taps
        return x

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        for axis, (i0, i1, lam, size) in reversed(list(enumerate(ctx.taps, start=2))):
            moved = xp.moveaxis(g, axis, -1)
            gx = xp.zeros(moved.shape[:-1] + (size,), dtype=g.dtype)
            for a, b, lo, m in _bands(i0, i1, lam, size, g.dtype):
                gx[..., lo : lo + m.shape[1]] += xp.matmul(moved[..., a:b], xp.asarray(m))
            g = xp.moveaxis(gx, -1, axis)
        return g


def _uint8_taps(size, out, scale, align_corners, cubic):
    """One axis of PyTorch's uint8 bilinear / bicubic resize (Pillow's fixed point): per output
    index the first source index `start` (out,), the K = 2 or 4 weights as integers `wq`
    (out, K), and their precision p (wq ~ weight * 2**p). The weights are those of the float
    modes (in float64: the linear rule clamped at 0, the cubic one, _cubic_near / _cubic_far,
    not), the taps past an edge folded onto the edge pixel; p is the largest (up to 22) that keeps
    the largest weight below 2**15, and each is rounded half away from zero."""
    k = 4 if cubic else 2
    if align_corners:
        sc = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        sc = 1.0 / scale if scale else size / out
    dst = np.arange(out, dtype=np.float64)
    real = sc * dst if align_corners else sc * (dst + 0.5) - 0.5
    if not (cubic or align_corners):
        real = np.maximum(real, 0.0)
    i0 = np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), size - 1)  # floorf
    lam = np.clip(real - i0, 0.0, 1.0)
    lo = i0 - k // 2 + 1  # the first tap, maybe before the edge
    start = np.maximum(lo, 0)
    count = np.clip(np.minimum(lo + k, size) - start, 0, k)

    def weight(t):  # the filter at distance t
        t = np.abs(t)
        if not cubic:
            return np.maximum(1.0 - t, 0.0)
        return np.where(t < 1, _cubic_near(t), np.where(t < 2, _cubic_far(t), 0.0))

    w, rows, slot, top = np.zeros((out, k)), np.arange(out), np.zeros(out, np.int64), 0.0
    for j in range(k):  # tap j adds to its slot (an edge tap to the edge's); PyTorch's running max
        slot = np.where(lo + j <= 0, 0, np.where(lo + j >= size - 1, count - 1, slot))
        w[rows, slot] += weight(j + 1 - k // 2 - lam)
        top = max(top, float(w[rows, slot].max()))
        slot = slot + 1
    return (start, *_fixed_point(w, top))


def _fixed_point(w, top):
    """Pillow's integer weights: (round(w * 2**p) half away from zero as int32, p), p the largest
    (up to 22) that keeps the largest weight `top` below 2**15 (PyTorch's precision search)."""
    p = 0
    while p < 22 and int(0.5 + top * (1 << (p + 1))) < 1 << 15:
        p += 1
    v = w * (1 << p)
    return np.trunc(v + np.where(v < 0, -0.5, 0.5)).astype(np.int32), p


class InterpolateUint8(Function):
    """Bilinear / bicubic resize of uint8 (N, C, H, W) images as PyTorch's CPU kernel: separable,
    the width first, then the height (an axis that keeps its size is skipped), each pass in
    integers: y = clamp((2**(p-1) + sum_k wq_k x[start + k]) >> p, 0, 255) (_uint8_taps), so the
    result is rounded to uint8 after each pass. (PyTorch's generic kernel, which it takes for
    more than 4 channels, gives wrong rows for an output one pixel wide; its AVX2 kernel, up to
    4 channels, and this one, do not.) antialias=True takes the filter's taps (_aa_taps), in
    the same fixed point; past 8 taps a pass (shrinking by more than 2 bicubic, 4 bilinear)
    its integer sums are float64 GEMMs over blocks (_tap_blocks), exact, not a gather a tap.
    No backward: uint8 carries no gradient."""

    @staticmethod
    def forward(ctx, x, *, out_hw, scales, align_corners, cubic, antialias=False):
        xp, y = xp_of(x), x
        for axis in (3, 2):
            size, out = y.shape[axis], out_hw[axis - 2]
            if size == out:
                continue
            if antialias:  # the same fixed point, over the filter's taps (_aa_taps)
                start, w = _aa_taps(size, out, scales[axis - 2], align_corners, cubic)
                wq, p = _fixed_point(w, float(w.max()))
            else:
                start, wq, p = _uint8_taps(size, out, scales[axis - 2], align_corners, cubic)
            if wq.shape[1] > 8:  # many taps (antialiased shrinking): GEMMs in float64, exact
                # on these integers (|sum| < 2**31 << 2**53), not one gather a tap
                blocks = _tap_blocks(start, wq, size, np.float64)
                acc = _apply_blocks(y, axis, out, blocks, np.float64).astype(xp.int64)
            else:
                shape = [1] * 4
                shape[axis] = out
                acc = None
                for j in range(wq.shape[1]):  # K gathers of uint8 over every image at once
                    src = xp.asarray(np.minimum(start + j, size - 1))  # (weights past count: 0)
                    term = xp.take(y, src, axis=axis) * xp.asarray(wq[:, j]).reshape(shape)
                    if acc is None:
                        acc = term  # int32: |sum| < 255 * 1.1 * 2**p <= 2**30 (p <= 22)
                    else:
                        acc += term
            acc += 1 << (p - 1)
            acc >>= p
            y = xp.clip(acc, 0, 255, out=acc).astype(xp.uint8)
        return y.copy() if y is x else xp.ascontiguousarray(y)


def _aa_filter(t, cubic):
    """The anti-aliasing filter at distances t: the triangle max(1 - |t|, 0) (bilinear), or
    Keys' cubic with a = -0.5 on |t| < 2 (bicubic: Pillow's, not the -0.75 of plain bicubic)."""
    t = np.abs(t)
    if not cubic:
        return np.maximum(1.0 - t, 0.0)
    return np.where(t < 1, _cubic_near(t, -0.5), np.where(t < 2, _cubic_far(t, -0.5), 0.0))


def _aa_taps(size, out, scale, align_corners, cubic, dtype=np.float64):
    """One axis of PyTorch's antialiased resize (_upsample_bilinear2d_aa, _upsample_bicubic2d_aa;
    Pillow's filters): scale s = size/out (1/scale_factor if given; (size-1)/(out-1) with
    align_corners), output i centred at c = s (i + 0.5) in input coordinates (with align_corners
    too). Downsampling (s >= 1) stretches the filter by s: support r = s K/2 (K = 2 bilinear,
    4 bicubic) and input j weighs f((j + 0.5 - c) / s); upsampling keeps r = K/2 and
    f(j + 0.5 - c). The taps are the inputs with int(c - r + 0.5) <= j < int(c + r + 0.5) inside
    the image, their weights divided by their sum (a sum of 0 left as is).

    Returns start (out,) and weights (out, T) float64, T = 2 ceil(r) + 1, zero past a row's
    taps. In float64 (PyTorch's uint8 and float64 kernels); for float32 input the scale, support
    and centres are rounded to float32 first, as PyTorch's float32 kernel holds them."""
    f32 = dtype == np.float32
    rnd = (lambda v: np.asarray(v, np.float32).astype(np.float64)) if f32 else np.float64
    if align_corners:
        s = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else size / out
    s = float(rnd(s))
    down = s >= 1.0
    half = 2.0 if cubic else 1.0
    support = float(rnd(half * s)) if down else half
    inv = float(rnd(1.0 / s)) if down else 1.0
    taps = 2 * math.ceil(support) + 1
    center = rnd(s * (np.arange(out) + 0.5))
    start = np.maximum((center - support + 0.5).astype(np.int64), 0)
    count = np.clip(np.minimum((center + support + 0.5).astype(np.int64), size) - start, 0, taps)
    j = np.arange(taps)
    w = _aa_filter((start[:, None] + j - center[:, None] + 0.5) * inv, cubic)
    w = np.where(j < count[:, None], w, 0.0)
    total = w.sum(axis=1, keepdims=True)
    return start, np.divide(w, total, out=w, where=total != 0)


def _tap_blocks(start, w, size, dtype, budget=1 << 12):
    """The (out, size) matrix with w[i, k] at (i, start[i] + k), in blocks of consecutive rows,
    each with only the columns it reads (the starts never decrease): yields
    (a, b, lo, A[a:b, lo:lo + span]), about `budget` entries a block (as _bands)."""
    out, taps = w.shape
    rows = max(1, math.isqrt(budget * out // size))
    for a in range(0, out, rows):
        b = min(a + rows, out)
        lo, hi = int(start[a:b].min()), min(size, int(start[a:b].max()) + taps)
        cols = start[a:b, None] + np.arange(taps)
        inside = cols < hi  # (a tap past the edge has weight 0)
        m = np.zeros((b - a, hi - lo))
        m[np.nonzero(inside)[0], cols[inside] - lo] = w[a:b][inside]
        yield a, b, lo, m.astype(dtype)


def _apply_blocks(x, axis, out, blocks, dtype):
    """y = A x along `axis` (out entries), A given as _tap_blocks' row blocks: one GEMM a block
    over the inputs it reads, in `dtype` (x's slices cast to it)."""
    xp = xp_of(x)
    moved = xp.moveaxis(x, axis, -1)
    y = xp.empty(moved.shape[:-1] + (out,), dtype=dtype)
    for a, b, lo, m in blocks:
        cols = moved[..., lo : lo + m.shape[1]].astype(dtype, copy=False)
        y[..., a:b] = xp.matmul(cols, xp.asarray(m).T)
    return xp.moveaxis(y, -1, axis)


class InterpolateAntialias(Function):
    """Antialiased bilinear / bicubic resize of (N, C, H, W), PyTorch's (Pillow's filters),
    separable: the width, then the height (an axis that keeps its size is skipped), each
    y = A x along the axis, A (out, in) holding per row the normalised filter taps (_aa_taps).
    Applied as GEMMs over blocks of outputs with only the inputs each block reads
    (_tap_blocks); the gradient applies A^T axis by axis in reverse through the same blocks.

    Shapes: x (N, C, H, W) -> y (N, C, OH, OW)."""

    @staticmethod
    def forward(ctx, x, *, out_hw, scales, align_corners, cubic):
        xp, passes = xp_of(x), []
        for axis in (3, 2):
            size, out = x.shape[axis], out_hw[axis - 2]
            if size == out:
                continue
            start, w = _aa_taps(size, out, scales[axis - 2], align_corners, cubic, x.dtype)
            blocks = [
                (a, b, lo, xp.asarray(m)) for a, b, lo, m in _tap_blocks(start, w, size, x.dtype)
            ]
            x = _apply_blocks(x, axis, out, blocks, x.dtype)
            passes.append((axis, size, blocks))
        ctx.passes = passes
        return xp.ascontiguousarray(x) if passes else x.copy()

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        for axis, size, blocks in reversed(ctx.passes):
            moved = xp.moveaxis(g, axis, -1)
            gx = xp.zeros(moved.shape[:-1] + (size,), dtype=g.dtype)
            for a, b, lo, m in blocks:
                gx[..., lo : lo + m.shape[1]] += xp.matmul(moved[..., a:b], m)
            g = xp.moveaxis(gx, -1, axis)
        return (g,)


_INTERPOLATE_MODES = {
    3: ("nearest", "nearest-exact", "linear", "area"),
    4: ("nearest", "nearest-exact", "bilinear", "bicubic", "area"),
    5: ("nearest", "nearest-exact", "trilinear", "area"),
}


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):  # fmt: skip
    """Resize, as torch.nn.functional.interpolate: (N, C, L) input with 'nearest',
    'nearest-exact', 'linear' or 'area'; (N, C, H, W) with 'nearest', 'nearest-exact',
    'bilinear', 'bicubic' or 'area'; (N, C, D, H, W) with 'nearest', 'nearest-exact',
    'trilinear' or 'area'. Every mode applies the same 1-D rule along each spatial axis.

    Args:
        input: (N, C, L), (N, C, H, W) or (N, C, D, H, W); floating point, or uint8 images with
            the nearest modes, 'bilinear' and 'bicubic' (as PyTorch: a uint8 result, bilinear
            and bicubic in Pillow's fixed point, rounded after each axis; InterpolateUint8).
        size (int or tuple): output size, one value per spatial dim (an int for all); give this
            or scale_factor.
        scale_factor (float or tuple): output size floor(H * scale_factor); the coordinates then
            use 1/scale_factor, unless recompute_scale_factor=True (then H/OH, as with size).
        mode: 'nearest' (PyTorch's default, source floor(i * scale): shifted towards the top
            left), 'nearest-exact' (floor((i + 0.5) * scale): pixel centres, as PIL and
            OpenCV), 'linear' / 'bilinear' / 'trilinear', 'bicubic' (Keys' cubic with
            A = -0.75, as PyTorch: it can overshoot the input's range), or 'area' (adaptive
            average pooling to the output size).
        align_corners (bool): the linear modes and bicubic: map corner pixel centres onto each
            other (scale (H-1)/(OH-1)) instead of half-pixel centres. Default: False.
        antialias (bool): 'bilinear' and 'bicubic' on 4-D input only (as PyTorch): a low-pass
            filter when downsampling, as Pillow's resize: the triangle (bilinear) or Keys' cubic
            with A = -0.5 (bicubic) stretched by the scale s = H/OH, so each output averages
            about 2s (4s) inputs, the weights divided by their sum (_aa_taps); uint8 in the
            same fixed point. Upsampling keeps the filter's width; bilinear with
            align_corners=False then gives the plain bilinear result, bicubic does not (A = -0.5,
            no edge clamping). Default: False.

    Shape:
        (N, C, *out). The linear modes weight the two nearest source pixels along each axis
        (see minitorch_cv/reference.py).
    """
    op = "interpolate"
    if input.ndim not in _INTERPOLATE_MODES:
        raise ValueError(
            f"{op}: expected 3-D (N, C, L), 4-D (N, C, H, W) or 5-D (N, C, D, H, W) input, got "
            f"shape {tuple(input.shape)}"
        )
    nd, modes = input.ndim - 2, _INTERPOLATE_MODES[input.ndim]
    if mode not in modes:
        raise ValueError(
            f"{op}: for {input.ndim}-D input the mode must be one of {', '.join(modes)}, got "
            f"{mode!r}"
        )
    uint8_modes = ("nearest", "nearest-exact", "bilinear", "bicubic")
    if input.dtype.kind != "f" and (input.dtype != np.uint8 or mode not in uint8_modes):
        raise TypeError(
            f"{op}: expected a floating point input, or uint8 with mode 'nearest', "
            f"'nearest-exact', 'bilinear' or 'bicubic' (as PyTorch), got dtype {input.dtype} "
            f"with mode {mode!r}"
        )
    smooth = [m for m in modes if m not in ("nearest", "nearest-exact", "area")]
    if mode not in smooth and align_corners is not None:
        raise ValueError(
            f"{op}: align_corners only applies to mode={' or '.join(map(repr, smooth))}"
        )
    if antialias and not (mode in ("bilinear", "bicubic") and input.ndim == 4):
        raise ValueError(
            f"{op}: the anti-alias option is restricted to bilinear and bicubic modes and "
            f"requires a 4-D tensor as input, got mode {mode!r} with {input.ndim}-D input"
        )
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    if size is not None and recompute_scale_factor:
        raise ValueError(f"{op}: recompute_scale_factor is not meaningful with an explicit size")
    sizes = tuple(input.shape[2:])
    if size is not None:
        out, scales = pair(size, f"{op}: size", nd), (None,) * nd
    else:
        sf = (
            tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * nd
        )
        if len(sf) != nd or not all(isinstance(v, numbers.Real) and 0 < v < math.inf for v in sf):
            raise ValueError(
                f"{op}: scale_factor must be finite and positive (one value or {nd}), got "
                f"{scale_factor!r}"
            )
        out = tuple(math.floor(n * float(f)) for n, f in zip(sizes, sf))
        scales = (None,) * nd if recompute_scale_factor else tuple(float(v) for v in sf)
    if min(out) < 1 or min(sizes) < 1:
        raise ValueError(
            f"{op}: output size {out} for input of shape {tuple(input.shape)} is not positive"
        )
    if mode == "area":
        from .conv3d import adaptive_avg_pool3d
        from .conv_pool_1d import adaptive_avg_pool1d

        return (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[nd - 1](input, out)
    if input.dtype == np.uint8 and mode in ("bilinear", "bicubic"):
        cubic = mode == "bicubic"
        return InterpolateUint8.apply(
            input, out_hw=out, scales=scales, align_corners=bool(align_corners), cubic=cubic,
            antialias=bool(antialias),
        )  # fmt: skip
    if antialias:
        return InterpolateAntialias.apply(
            input, out_hw=out, scales=scales, align_corners=bool(align_corners),
            cubic=mode == "bicubic",
        )  # fmt: skip
    if mode == "bicubic":
        return InterpolateBicubic.apply(
            input, out_hw=out, scales=scales, align_corners=bool(align_corners)
        )
    small = nd == 2 and sum(out) <= 128  # PyTorch's 2-D nearest kernel for small outputs
    dtype = input.dtype if input.dtype.kind == "f" else np.float32  # (uint8: float32 indices)
    taps = tuple(
        (*_source_index(mode, n, o, s, bool(align_corners), dtype, small), n)
        for n, o, s in zip(sizes, out, scales)
    )
    return InterpolateNd.apply(input, taps=taps)
