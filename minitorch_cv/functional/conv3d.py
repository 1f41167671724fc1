"""3-D convolution and pooling over (N, C, D, H, W) input: volumes (CT, MRI) and video clips,
PyTorch's `conv3d`, `conv_transpose3d`, `max_pool3d`, `avg_pool3d`, `adaptive_avg_pool3d`,
`adaptive_max_pool3d`, `max_unpool3d`.

The convolution unfolds every window (`kernels.volume.windows3d`, a strided view, copied once
into a (C*KD*KH*KW, N*OD*OH*OW) matrix) and multiplies the weight by it: one GEMM per group.
Its input gradient adds the windows' gradients back, one strided add per kernel offset.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..kernels.shapes import conv_out, pair, pool_out
from ..kernels.volume import pad3d, windows3d, windows_add
from ..tensor import Function
from .conv import _check_weight, _groups, _positive, int_conv
from .elementwise import _trunc_divide
from .pool import (
    AdaptiveMaxPool,
    _adaptive_size,
    _first_real_tap,
    _lowest,
    _mean_matrix,
    max_unpool_nd,
)
from .precision import INT_KERNEL_DTYPES, require_floating


def _triple(v, name):
    return pair(v, name, 3)


# Everything runs channel-major: an (N, C, *S) array as a (C, N*S) matrix, the unfolded input
# as (C*K, N*O) with one row per channel and kernel tap. Unfolded this way, each copied run is a
# row of output voxels (unfolding voxel-major, one row of C*K per voxel, copies runs of KW taps:
# 20 ms against 5.5 for a (2, 16, 16, 32, 32) input, k3, 1 thread), and the col2im of the
# transposed conv adds contiguous runs too.


def _channel_major(a):
    """(N, C, *S) -> (C, N*prod(S)), contiguous."""
    return a.swapaxes(0, 1).reshape(a.shape[1], -1)


def _from_channel_major(m, n, size):
    """(C, N*prod(size)) -> (N, C, *size), contiguous."""
    return xp_of(m).ascontiguousarray(m.reshape(m.shape[0], n, *size).swapaxes(0, 1))


def _cols(xpad, kernel, stride, dilation, out_size=None):
    """The unfolded padded input, (C*KD*KH*KW, N*OD*OH*OW), and the output size."""
    win = windows3d(xpad, kernel, stride, dilation, out_size)  # (N, C, OD, OH, OW, KD, KH, KW)
    n, c = win.shape[:2]
    out = win.shape[2:5]
    cols = win.transpose(1, 5, 6, 7, 0, 2, 3, 4)
    return cols.reshape(c * int(np.prod(kernel)), n * int(np.prod(out))), out


def _gemm_groups(a, b, groups, trans_a=False, trans_b=False):
    """Per group g: op(a_g) @ op(b_g), stacked by rows, where a_g and b_g are the g-th of
    `groups` equal blocks of rows of a and b and op transposes where asked. One GEMM per
    group (groups, not voxels)."""
    xp = xp_of(a)
    ra, rb = a.shape[0] // groups, b.shape[0] // groups
    rows = a.shape[1] if trans_a else ra
    out = xp.empty((rows * groups, rb if trans_b else b.shape[1]), dtype=a.dtype)
    for g in range(groups):
        ag, bg = a[g * ra : (g + 1) * ra], b[g * rb : (g + 1) * rb]
        out[g * rows : (g + 1) * rows] = (ag.T if trans_a else ag) @ (bg.T if trans_b else bg)
    return out


def _scatter(x, w, stride, dilation, groups, buf_size):
    """ConvTranspose3d's product, uncropped: every voxel of x (N, C, I...) adds its kernel copy
    weighted by w (C, F/G, K...) into a zero (N, F, *buf_size) buffer, which is returned. Also
    Conv3d's input gradient."""
    xp = xp_of(x)
    n, kernel = x.shape[0], w.shape[2:]
    f = w.shape[1] * groups
    # (F*K, N*I): each input voxel's weighted kernel copies
    cols = _gemm_groups(w.reshape(w.shape[0], -1), _channel_major(x), groups, trans_a=True)
    cols = cols.reshape(f, *kernel, n, *x.shape[2:]).transpose(4, 0, 5, 6, 7, 1, 2, 3)
    return windows_add(cols, xp.zeros((n, f, *buf_size), dtype=x.dtype), stride, dilation)


def _crop(buf, start, size):
    return buf[(slice(None), slice(None), *(slice(p, p + o) for p, o in zip(start, size)))]


def _conv3d(x, w, b, stride, padding, dilation, groups):
    """Conv3d's product on arrays: Y_g = W_g U_g per group, U the unfolded padded input."""
    cols, out = _cols(pad3d(x, padding), w.shape[2:], stride, dilation)
    y = _from_channel_major(_gemm_groups(w.reshape(w.shape[0], -1), cols, groups),
                            x.shape[0], out)  # fmt: skip
    if b is not None:
        y += b.reshape(1, -1, 1, 1, 1)
    return y


class Conv3d(Function):
    """y[n, f, od, oh, ow] = b[f] + sum over c, a, i, j of w[f, c, a, i, j] * xpad[n, c, ...] at
    od*stride + a*dil, oh*stride + i*dil, ow*stride + j*dil (c within f's group).

    Per group g, with U the unfolded input (C*K, N*O): Y_g = W_g U_g; dW_g = dY_g U_g^T (U
    unfolded again from the saved input: the layer keeps x, not the 27x larger U); dX = the
    windows of W^T dY added back into the padded input (a transposed conv) and cropped;
    db = the sum of dY."""

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        if x.dtype.kind != "f":  # integers (no gradient): exact, wrapping around as PyTorch's
            return int_conv(_conv3d, x, w, b, stride, padding, dilation, groups)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, w)
        ctx.conf = stride, padding, dilation, groups, x.shape
        ctx.has_bias = b is not None
        return _conv3d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups, shape = ctx.conf
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            padded = tuple(n + lo + hi for n, (lo, hi) in zip(shape[2:], padding))
            gpad = _scatter(gy, w, stride, dilation, groups, padded)
            gx = _crop(gpad, [lo for lo, _ in padding], shape[2:])
        if ctx.needs_input_grad[1]:
            cols, _ = _cols(pad3d(x, padding), w.shape[2:], stride, dilation, gy.shape[2:])
            gw = _gemm_groups(_channel_major(gy), cols, groups, trans_b=True).reshape(w.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3, 4))
        return gx, gw, gb


def _batched3d(op, input):
    if input.ndim == 5:
        return input, False
    if input.ndim == 4:
        return input.unsqueeze(0), True
    raise ValueError(
        f"{op}: expected 4-D (C, D, H, W) or 5-D (N, C, D, H, W) input, got shape "
        f"{tuple(input.shape)}"
    )


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D convolution (cross-correlation) over (N, C_in, D, H, W), as torch's `F.conv3d`; also
    integer input, weight and bias of one dtype (exact, wrapping around, as PyTorch's CPU;
    dilated: int64 alone).

    Args:
        weight: (C_out, C_in/groups, KD, KH, KW). bias: (C_out,) or None.
        stride, dilation (int or triple): Default 1. groups (int): Default 1.
        padding (int, triple, 'valid' or 'same'): zeros on both sides of each spatial dim;
            'same' keeps the size (stride 1; an odd total puts the extra zero at the end).

    Shape: (N, C_out, OD, OH, OW), OD = floor((D + 2*padding - dilation*(KD-1) - 1) / stride) + 1.
    """
    op = "conv3d"
    x, unbatched = _batched3d(op, input)
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    _positive(op, stride=stride, dilation=dilation)
    groups = _groups(op, groups)
    _check_weight(op, x, weight, bias, groups, transposed=False, dilation=dilation)
    kernel = tuple(weight.shape[2:])
    if padding == "valid":
        pads = ((0, 0),) * 3
    elif padding == "same":
        if stride != (1, 1, 1):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        pads = tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                     for k, d in zip(kernel, dilation))  # fmt: skip
    elif isinstance(padding, str):
        raise ValueError(
            f"{op}: padding must be an int, a triple, 'same' or 'valid', got {padding!r}"
        )
    else:
        p = _triple(padding, "padding")
        if min(p) < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {p}")
        pads = tuple((v, v) for v in p)
    out = [conv_out(sz, k, s, pd, d)
           for sz, k, s, pd, d in zip(x.shape[2:], kernel, stride, pads, dilation)]  # fmt: skip
    if min(out) < 1:
        raise ValueError(
            f"{op}: kernel {kernel} (dilation {dilation}) is larger than the padded input: input "
            f"{tuple(input.shape)}, padding {pads}"
        )
    y = Conv3d.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation,
                     groups=groups)  # fmt: skip
    return y.squeeze(0) if unbatched else y


class ConvTranspose3d(Function):
    """The adjoint of Conv3d: every input voxel adds its weighted kernel copy to the output,
    y = crop(scatter(x, W)) + b. Gradients, from U the unfolded (uncropped) dY: dX_g = W_g U_g
    (a Conv3d of dY), dW_g = X_g U_g^T, db = the sum of dY."""

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, output_padding, dilation, groups):
        dims = zip(x.shape[2:], stride, dilation, w.shape[2:], output_padding)
        full = tuple((i - 1) * st + d * (k - 1) + 1 + op for i, st, d, k, op in dims)
        y = _crop(_scatter(x, w, stride, dilation, groups, full), padding,
                  [fl - 2 * p for fl, p in zip(full, padding)])  # fmt: skip
        if b is not None:
            y = y + b.reshape(1, -1, 1, 1, 1)
        ctx.save_for_backward(x, w)
        ctx.conf = stride, padding, dilation, groups, full
        ctx.has_bias = b is not None
        return xp_of(x).ascontiguousarray(y)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups, full = ctx.conf
        xp = xp_of(gy)
        gbuf = xp.zeros((*gy.shape[:2], *full), dtype=gy.dtype)  # dY, and 0 where y was cropped
        _crop(gbuf, padding, gy.shape[2:])[...] = gy
        cols, _ = _cols(gbuf, w.shape[2:], stride, dilation, x.shape[2:])  # one unfold for both
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _gemm_groups(w.reshape(w.shape[0], -1), cols, groups)
            gx = _from_channel_major(gx, x.shape[0], x.shape[2:])
        if ctx.needs_input_grad[1]:
            gw = _gemm_groups(_channel_major(x), cols, groups, trans_b=True).reshape(w.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3, 4))
        return gx, gw, gb


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):  # fmt: skip
    """3-D transposed convolution, as torch's `F.conv_transpose3d` (the gradient of conv3d with
    respect to its input; upsamples by `stride`).

    Args:
        weight: (C_in, C_out/groups, KD, KH, KW). bias: (C_out,) or None.
        stride, padding, dilation (int or triple): those of the conv3d being transposed.
        output_padding (int or triple): extra voxels at the far end, smaller than stride or
            dilation.

    Shape: (N, C_out, OD, OH, OW), OD = (D-1)*stride - 2*padding + dilation*(KD-1) +
    output_padding + 1.
    """
    op = "conv_transpose3d"
    x, unbatched = _batched3d(op, input)
    stride, dilation = _triple(stride, "stride"), _triple(dilation, "dilation")
    padding, output_padding = _triple(padding, "padding"), _triple(output_padding, "output_padding")
    _positive(op, stride=stride, dilation=dilation)
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    groups = _groups(op, groups)
    _check_weight(op, x, weight, bias, groups, transposed=True)
    for o, s, d in zip(output_padding, stride, dilation):
        if not 0 <= o < max(s, d):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be smaller than stride {stride} or "
                f"dilation {dilation}"
            )
    kernel = tuple(weight.shape[2:])
    out = [(i - 1) * s - 2 * p + d * (k - 1) + o + 1
           for i, s, p, d, k, o in zip(x.shape[2:], stride, padding, dilation, kernel,
                                       output_padding)]  # fmt: skip
    if min(out) < 1:
        raise ValueError(
            f"{op}: output size {tuple(out)} is not positive: input {tuple(input.shape)}, kernel "
            f"{kernel}, stride {stride}, padding {padding}"
        )
    conf = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation)
    y = ConvTranspose3d.apply(x, weight, bias, groups=groups, **conf)
    return y.squeeze(0) if unbatched else y


# --------------------------------------------------------------------------- pooling


class _Geometry3d:
    """Sizes of a 3-D pooling, checked once (messages in the op's terms)."""

    def __init__(self, op, shape, kernel_size, stride, padding, dilation, ceil_mode,
                 kernel_fits=False):  # fmt: skip
        self.k = _triple(kernel_size, "kernel_size")
        empty = stride is None or (isinstance(stride, (tuple, list)) and not stride)
        self.s = self.k if empty else _triple(stride, "stride")
        self.p, self.d = _triple(padding, "padding"), _triple(dilation, "dilation")
        for name, v in (("kernel_size", self.k), ("stride", self.s), ("dilation", self.d)):
            if min(v) < 1:
                raise ValueError(f"{op}: {name} must be >= 1, got {v}")
        if min(self.p) < 0 or any(p > k // 2 for p, k in zip(self.p, self.k)):
            raise ValueError(
                f"{op}: padding {self.p} must be >= 0 and at most half the kernel size {self.k}"
            )
        self.size = tuple(shape[2:])
        if kernel_fits and any(n < k for n, k in zip(self.size, self.k)):  # avg_pool3d's check
            raise ValueError(
                f"{op}: input of shape {tuple(shape)} is smaller than the kernel {self.k}"
            )
        dims = zip(self.size, self.k, self.s, self.p, self.d)
        self.out = tuple(pool_out(n, k, s, p, d, ceil_mode) for n, k, s, p, d in dims)
        if min(self.out) < 1:
            raise ValueError(
                f"{op}: kernel {self.k} (stride {self.s}, padding {self.p}) gives output size "
                f"{self.out} for input of shape {tuple(shape)}: too small"
            )
        # the far side padded so that a ceil_mode window fits in the buffer
        self.pads = tuple(
            (p, max(0, (o - 1) * s + d * (k - 1) + 1 - n - p))
            for n, o, k, s, p, d in zip(self.size, self.out, self.k, self.s, self.p, self.d)
        )

    def crop(self, buf):
        (d0, _), (h0, _), (w0, _) = self.pads
        d, h, w = self.size
        return buf[:, :, d0 : d0 + d, h0 : h0 + h, w0 : w0 + w]


class MaxPool3d(Function):
    """y = the max over each window (padding, -inf or an integer dtype's minimum, never wins);
    the gradient goes to the window's first maximal element (in scan order, as PyTorch).
    Indices, with return_indices, are flat positions d*H*W + h*W + w within each (D, H, W)
    volume."""

    @staticmethod
    def forward(ctx, x, *, geo, return_indices):
        xp = xp_of(x)
        low = _lowest(x.dtype)
        xpad = pad3d(x, geo.pads, value=low)
        win = windows3d(xpad, geo.k, geo.s, geo.d, geo.out)
        flat = win.reshape(*win.shape[:5], -1)
        arg = flat.argmax(axis=-1)  # the first maximum, as torch (NaN wins, as argmax picks it)
        y = xp.take_along_axis(flat, arg[..., None], axis=-1)[..., 0]
        if any(lo or hi for lo, hi in geo.pads):
            # a window of -inf values (or of the integer minimum) would pick a padding cell: torch
            # keeps its first real element (decided on the device, no read-back)
            real = pad3d(xp.ones((1, 1, *geo.size), dtype=np.int8), geo.pads, value=0)
            first = windows3d(real, geo.k, geo.s, geo.d, geo.out)
            first = first.reshape(*first.shape[:5], -1).argmax(axis=-1)  # (1, 1, O...)
            arg = xp.where(y == low, first, arg)
        ctx.save_for_backward(arg)
        ctx.geo, ctx.padded_shape = geo, xpad.shape
        if not return_indices:
            return y
        # the flat input position of each winner
        kd, kh, kw = geo.k
        a, rest = xp.divmod(arg, kh * kw)
        i, j = xp.divmod(rest, kw)
        pos = []
        for axis, tap in enumerate((a, i, j)):
            grid = xp.arange(geo.out[axis]).reshape([-1 if t == axis else 1 for t in range(3)])
            at = grid * geo.s[axis] + tap * geo.d[axis] - geo.pads[axis][0]
            pos.append(_first_real_tap(xp, at, geo.d[axis]))  # (a window of padding alone)
        d, h, w = geo.size
        return y, (pos[0] * h + pos[1]) * w + pos[2]

    @staticmethod
    def backward(ctx, gy, *_):
        (arg,) = ctx.saved_tensors
        geo = ctx.geo
        xp = xp_of(gy)
        taps = xp.arange(int(np.prod(geo.k))).reshape(*(1,) * 5, -1)
        cols = ((arg[..., None] == taps) * gy[..., None]).reshape(*gy.shape, *geo.k)
        gpad = windows_add(cols, xp.zeros(ctx.padded_shape, dtype=gy.dtype), geo.s, geo.d)
        return geo.crop(gpad)


class AvgPool3d(Function):
    """y = the sum over each window / divisor (PyTorch's: the window clipped to the padded input
    with count_include_pad, else its real voxels; or divisor_override); dX adds dY / divisor
    to every voxel of each window. int64 input (no gradient): the int64 sum divided rounding
    toward zero, as PyTorch."""

    @staticmethod
    def forward(ctx, x, *, geo, divisor):
        xpad = pad3d(x, geo.pads)
        win = windows3d(xpad, geo.k, geo.s, geo.d, geo.out)
        if x.dtype.kind != "f":
            return _trunc_divide(xp_of(x), win.sum(axis=(5, 6, 7)), divisor)
        ctx.geo, ctx.padded_shape, ctx.divisor = geo, xpad.shape, divisor
        return (win.sum(axis=(5, 6, 7)) / divisor).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, gy):
        geo = ctx.geo
        xp = xp_of(gy)
        g = (gy / ctx.divisor).astype(gy.dtype, copy=False)
        cols = xp.broadcast_to(g[..., None, None, None], (*g.shape, *geo.k))
        gpad = windows_add(cols, xp.zeros(ctx.padded_shape, dtype=gy.dtype), geo.s, geo.d)
        return geo.crop(gpad)


def _avg_divisor(xp, geo, count_include_pad, divisor_override, dtype):
    """(OD, OH, OW) divisors, as the product of each axis's window lengths."""
    if divisor_override:
        return xp.asarray(divisor_override if dtype.kind == "i" else float(divisor_override),
                          dtype=dtype)  # fmt: skip
    div = 1.0
    for axis, (n, o, k, s, p) in enumerate(zip(geo.size, geo.out, geo.k, geo.s, geo.p)):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)  # clipped to the padded input
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        shape = [1, 1, 1]
        shape[axis] = o
        div = div * (end - start).reshape(shape)
    return xp.asarray(div, dtype=dtype)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):  # fmt: skip
    """3-D max pooling over (N, C, D, H, W), as torch's `F.max_pool3d`; floating point input, or
    integer (int8 .. int64, uint8: padded with the dtype's minimum, the result in that dtype)."""
    op = "max_pool3d"
    x, unbatched = _batched3d(op, input)
    require_floating(op, x, ints=INT_KERNEL_DTYPES)
    geo = _Geometry3d(op, x.shape, kernel_size, stride, padding, dilation, ceil_mode)
    out = MaxPool3d.apply(x, geo=geo, return_indices=return_indices)
    if return_indices:
        y, idx = out
        return (y.squeeze(0), idx.squeeze(0)) if unbatched else (y, idx)
    return out.squeeze(0) if unbatched else out


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):  # fmt: skip
    """3-D average pooling over (N, C, D, H, W), as torch's `F.avg_pool3d`; floating point input,
    or int64 (the sum divided rounding toward zero, as PyTorch; other integers refused)."""
    op = "avg_pool3d"
    x, unbatched = _batched3d(op, input)
    require_floating(op, x, ints=("int64",))
    geo = _Geometry3d(op, x.shape, kernel_size, stride, padding, 1, ceil_mode, kernel_fits=True)
    div = _avg_divisor(xp_of(x._data), geo, count_include_pad, divisor_override, x.dtype)
    y = AvgPool3d.apply(x, geo=geo, divisor=div)
    return y.squeeze(0) if unbatched else y


def adaptive_avg_pool3d(input, output_size):
    """Average pooling of (N, C, D, H, W) to `output_size` (int, triple, None keeps a dim), as
    torch's `F.adaptive_avg_pool3d`. A box's mean is the product of each axis's bin mean, so it
    is three small matrix products (an einsum, whose gradient is einsum's own)."""
    from ..backend import to_device
    from ..tensor import Tensor
    from .matmul import einsum

    op = "adaptive_avg_pool3d"
    x, unbatched = _batched3d(op, input)
    require_floating(op, x)
    out = _adaptive_size(op, x, output_size, 3)
    mats = [Tensor(to_device(_mean_matrix(n, o, x.dtype), x.device))
            for n, o in zip(x.shape[2:], out)]  # fmt: skip
    y = einsum("ncdhw,Dd,Hh,Ww->ncDHW", x, *mats)
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Max pooling of (N, C, D, H, W) to `output_size` (int, triple, None keeps a dim), as
    torch's `F.adaptive_max_pool3d`; with return_indices also the flat d*H*W + h*W + w argmax
    of each bin (for max_unpool3d)."""
    op = "adaptive_max_pool3d"
    x, unbatched = _batched3d(op, input)
    require_floating(op, x)
    out = AdaptiveMaxPool.apply(
        x, out_size=_adaptive_size(op, x, output_size, 3), return_indices=return_indices
    )
    if return_indices:
        return (out[0].squeeze(0), out[1].squeeze(0)) if unbatched else out
    return out.squeeze(0) if unbatched else out


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool3d, as torch's `F.max_unpool3d`: each value back at its flat
    d*H*W + h*W + w index, zeros elsewhere. Default output size per axis
    (I - 1)*stride - 2*padding + kernel; output_size (3 or 5 values) picks another within a
    stride of it."""
    return max_unpool_nd(
        "max_unpool3d", input, indices, kernel_size, stride, padding, output_size, 3
    )
