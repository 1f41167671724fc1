"""Convolutions: conv2d and conv_transpose2d, each the other's gradient; unfold and fold.

The arithmetic is in `kernels` (im2col + one GEMM per chunk, written once for NumPy and CuPy):

    Conv2d           forward  y  = kernels.conv2d(x, w)            (im2col, GEMM)
                     backward gx = kernels.conv_transpose2d(gy, w)  (GEMM, col2im)
                              gw = kernels.conv2d_weight(x, gy)     (im2col, GEMM)
    ConvTranspose2d  forward  y  = kernels.conv_transpose2d(x, w)
                     backward gx = kernels.conv2d(gy, w)
                              gw = kernels.conv2d_weight(gy, x)     (input and output swap roles)

A transposed convolution is exactly the backward pass of a convolution, which is why the two
share every piece. See minitorch_cv/reference.py for the same ops written as plain loops.
"""

from __future__ import annotations

import numpy as np

from .. import kernels
from ..backend import xp_of
from ..kernels.shapes import conv_out, conv_transpose_out, pair, resolve_padding
from ..tensor import Function
from .precision import INT_KERNEL_DTYPES

# An integer convolution runs over slices of the batch of at most this many bytes of 8-byte
# output or unfolded input (the larger), whatever the conv unfolds at once: the casts to and from
# the working dtype, and conv3d's whole-slice unfolding, then hold one slice, not the batch.
INT_SLICE_BYTES = 64 << 20


def _float64_is_exact(x, w, b):
    """Whether float64 holds every partial sum of conv(x, w, b) exactly: K * max|x| * max|w|
    + max|b| below 2**53, K = C/groups * kernel taps (one output's terms). Every product and
    partial sum is then an integer float64 represents, whatever the order of the additions.
    8- and 16-bit dtypes are bounded by the dtype (always, below 2**23 terms); wider ones by
    their values (one max and one min each)."""
    k = int(np.prod(w.shape[1:]))

    def top(a):  # the largest magnitude `a` may hold, as a Python int
        info = np.iinfo(a.dtype)
        if a.dtype.itemsize <= 2 or a.size == 0:
            return max(-int(info.min), int(info.max))
        return max(int(a.max()), -int(a.min()))

    return k * top(x) * top(w) + (0 if b is None else top(b)) < 2**53


def _conv2d_windows(x, w, b, stride, padding, dilation, groups):
    """kernels.conv2d as one batched matmul over the strided windows of the whole input, for
    any dtype: CuPy's int64 (its CUDA im2col is floating point only; on NumPy the chunked
    kernels.conv2d is several times faster). Unfolds (N, groups, C/groups*KH*KW, OH*OW) at once:
    int_conv hands it slices of the batch."""
    xp = xp_of(x, w)
    n, f, (cg, kh, kw) = len(x), len(w), w.shape[1:]
    v = kernels.windows(kernels.pad(x, padding, value=0), (kh, kw), stride, dilation)
    oh, ow = v.shape[-2:]  # v: (N, C, KH, KW, OH, OW), a view
    cols = v.reshape(n, groups, cg * kh * kw, oh * ow)
    y = xp.matmul(w.reshape(groups, f // groups, cg * kh * kw), cols)
    if b is not None:
        y += b.reshape(groups, f // groups, 1)
    return y.reshape(n, f, oh, ow)


def _conv2d_exact(x, w, b, stride, padding, dilation, groups):
    """int_conv's 2-D product: kernels.conv2d, but _conv2d_windows for int64 CuPy arrays."""
    if x.dtype.kind == "f" or xp_of(x, w) is np:
        return kernels.conv2d(x, w, b, stride, padding, dilation, groups)
    return _conv2d_windows(x, w, b, stride, padding, dilation, groups)


def int_conv(conv, x, w, b, stride, padding, dilation, groups):
    """conv(x, w, b, stride, padding, dilation, groups), a convolution of float64 or int64
    arrays (_conv2d_exact, conv3d's), applied to integer x, w, b of one dtype: exact, in x's
    dtype, wrapping around on overflow as PyTorch's integer kernels. It runs in float64 (BLAS) where
    that is exact (_float64_is_exact: 8- and 16-bit inputs, and wider ones of small values),
    else in int64 (NumPy's / CuPy's integer matmul, wrapping mod 2**64: the arithmetic is
    modular, so neither the order of the additions nor the accumulator's width changes the
    result mod 2**8 .. 2**64), over slices of the batch of INT_SLICE_BYTES."""
    xp = xp_of(x, w)
    work = np.float64 if _float64_is_exact(x, w, b) else np.int64
    kernel = w.shape[2:]
    out = [conv_out(*a) for a in zip(x.shape[2:], kernel, stride, padding, dilation)]
    y = xp.empty((len(x), len(w), *out), dtype=x.dtype)
    per_image = 8 * int(np.prod(out)) * max(len(w), x.shape[1] * int(np.prod(kernel)))
    step = max(1, INT_SLICE_BYTES // max(per_image, 1))
    wq, bq = w.astype(work, copy=False), None if b is None else b.astype(work, copy=False)
    for i in range(0, len(x), step):
        part = conv(
            x[i : i + step].astype(work, copy=False), wq, bq, stride, padding, dilation, groups
        )
        # float64 holds exact integers here; int64 -> a narrower dtype wraps around
        y[i : i + step] = part.astype(np.int64, copy=False)
    return y


class Conv2d(Function):
    """2-D cross-correlation: y[n, f, oh, ow] = b[f] + sum_c,i,j w[f, c, i, j] * xpad[n, c, ...]
    at rows oh*stride + i*dil and columns ow*stride + j*dil of the padded input. Integer input
    and weight (as PyTorch's CPU conv2d, on the GPU too; no gradient): int_conv.

    Shapes: x (N, C, H, W), w (F, C/groups, KH, KW), b (F,) -> y (N, F, OH, OW)
            OH = (H + top + bottom - dil*(KH-1) - 1) // stride + 1       (kernels.shapes.conv_out)
    """

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, dilation, groups):
        if x.dtype.kind != "f":
            return int_conv(_conv2d_exact, x, w, b, stride, padding, dilation, groups)
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        ctx.conf = stride, padding, dilation, groups
        return kernels.conv2d(x, w, b, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        kh, kw = w.shape[2:]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # Input rows that no window reaches (when stride does not divide the span) get zero
            # gradient: output_padding extends the transposed conv's output over them.
            extra = tuple(
                (size + sum(p) - d * (k - 1) - 1) % s
                for size, p, d, k, s in zip(x.shape[2:], padding, dilation, (kh, kw), stride)
            )
            gx = kernels.conv_transpose2d(gy, w, None, stride, padding, extra, dilation, groups)
        if ctx.needs_input_grad[1]:
            gw = kernels.conv2d_weight(x, gy, (kh, kw), stride, padding, dilation, groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


class ConvTranspose2d(Function):
    """2-D transposed convolution (the adjoint of Conv2d with the same stride/padding/dilation):
    each input pixel adds w[c]-weighted copies of itself onto an output window.

    Shapes: x (N, C_in, H, W), w (C_in, C_out/groups, KH, KW), b (C_out,) -> y (N, C_out, OH, OW)
            OH = (H-1)*stride - 2*padding + dil*(KH-1) + output_padding + 1
                                                            (kernels.shapes.conv_transpose_out)
    """

    @staticmethod
    def forward(ctx, x, w, b, *, stride, padding, output_padding, dilation, groups):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        ctx.conf = stride, padding, dilation, groups
        return kernels.conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        h, wd = x.shape[2:]
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = kernels.conv2d(gy, w, None, stride, padding, dilation, groups)
            if gx.shape[2:] != (h, wd):  # output_padding >= stride (possible when dil > stride)
                gx = gx[:, :, :h, :wd].copy()
        if ctx.needs_input_grad[1]:
            gw = kernels.conv2d_weight(gy, x, w.shape[2:], stride, padding, dilation, groups)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gy.sum(axis=(0, 2, 3))
        return gx, gw, gb


class Unfold(Function):
    """Every sliding window as a column: (N, C, H, W) -> (N, C*KH*KW, L), L = OH*OW.
    The gradient adds each column back onto its window (fold)."""

    @staticmethod
    def forward(ctx, x, *, kernel_size, stride, padding, dilation):
        ctx.conf = x.shape, kernel_size, stride, padding, dilation
        return kernels.im2col(x, kernel_size, stride, padding, dilation)

    @staticmethod
    def backward(ctx, g):
        return (kernels.col2im(g, *ctx.conf),)


class Fold(Function):
    """Sum columns back into an image: (N, C*KH*KW, L) -> (N, C, H, W), the adjoint of Unfold.
    The gradient cuts the windows out again (unfold)."""

    @staticmethod
    def forward(ctx, cols, *, x_shape, kernel_size, stride, padding, dilation):
        ctx.conf = kernel_size, stride, padding, dilation
        return kernels.col2im(cols, x_shape, kernel_size, stride, padding, dilation)

    @staticmethod
    def backward(ctx, g):
        return (kernels.im2col(g, *ctx.conf),)


# --------------------------------------------------------------------------- argument checks


def _positive(op, **pairs):
    for name, v in pairs.items():
        if min(v) < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {v}")


def _batched(op, input, what):
    """(input as 4-D, whether to drop the batch dim again); PyTorch also takes unbatched 3-D."""
    if input.ndim == 4:
        return input, False
    if input.ndim == 3:
        return input.reshape(1, *input.shape), True
    raise ValueError(f"{op}: expected 3-D or 4-D input {what}, got shape {tuple(input.shape)}")


def _groups(op, groups):
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    return groups


def _check_weight(op, input, weight, bias, groups, transposed, dilation=(1,)):
    if weight.ndim != input.ndim:  # (C, C', *kernel) against a batched (N, C, *spatial) input
        raise ValueError(f"{op}: expected a {input.ndim}-D weight, got shape {tuple(weight.shape)}")
    if transposed:  # (C_in, C_out/groups, KH, KW)
        in_channels, out_channels = weight.shape[0], weight.shape[1] * groups
    else:  # (C_out, C_in/groups, KH, KW)
        in_channels, out_channels = weight.shape[1] * groups, weight.shape[0]
    if weight.shape[0] % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide weight.shape[0], got weight shape "
            f"{tuple(weight.shape)}"
        )
    if input.shape[1] != in_channels:
        raise ValueError(
            f"{op}: expected input with {in_channels} channels (weight {tuple(weight.shape)}, "
            f"groups={groups}), got shape {tuple(input.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"{op}: expected bias of shape ({out_channels},), got {tuple(bias.shape)}")
    dtypes = {t.dtype for t in (input, weight, bias) if t is not None}
    # PyTorch's CPU convolutions also take integers (int8 .. int64, uint8), the transposed ones
    # int64 alone: those stay refused here
    dtype = next(iter(dtypes))
    if len(dtypes) > 1 or not (
        dtype.kind == "f" or (not transposed and dtype.name in INT_KERNEL_DTYPES)
    ):
        raise TypeError(
            f"{op}: input, weight and bias must share one floating dtype"
            + ("" if transposed else " (or one of int8 .. int64, uint8)")
            + ", got "
            + ", ".join(str(t.dtype) for t in (input, weight, bias) if t is not None)
        )
    if input.dtype.kind in "iu" and input.dtype.name != "int64" and max(dilation) > 1:
        raise TypeError(  # PyTorch's dilated kernel (slow_conv_dilated) has no other integers
            f"{op}: a dilated convolution of integers needs int64, as PyTorch's, got dtype "
            f"{input.dtype} with dilation {tuple(dilation)}"
        )


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) over NCHW input, as torch.nn.functional.conv2d.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W); floating point, or integer (int8 ..
            int64, uint8, as PyTorch's CPU conv2d: exact, wrapping around on overflow) with
            weight and bias of the same dtype (dilated: int64 alone, as PyTorch).
        weight: (C_out, C_in/groups, KH, KW). bias: (C_out,) or None (default).
        stride (int or tuple): window step. Default: 1.
        padding (int, tuple, 'valid' or 'same'): zeros on both sides; 'same' keeps H and W
            (stride 1 only; an odd total puts the extra row/column at the bottom/right); also
            ((top, bottom), (left, right)) for asymmetric padding. Default: 0.
        dilation (int or tuple): spacing between kernel taps. Default: 1.
        groups (int): split channels into independent groups. Default: 1.

    Shape:
        (N, C_out, OH, OW), OH = floor((H + 2*padding - dilation*(KH-1) - 1) / stride) + 1.

    Kernel taps that read only padding for every output (a large dilation on a small map, as
    in DeepLab's ASPP) are skipped (`kernels.SKIP_DEAD_TAPS`): the same result, except that a
    nan or inf weight on such a tap is never read, where PyTorch's output turns nan.
    """
    op = "conv2d"
    x, unbatched = _batched(op, input, "(N, C, H, W)")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    _positive(op, stride=stride, dilation=dilation)
    _check_weight(op, x, weight, bias, _groups(op, groups), transposed=False, dilation=dilation)
    kernel = tuple(weight.shape[2:])
    pads = resolve_padding(padding, kernel, stride, dilation, op)
    out = [
        conv_out(size, k, s, p, d)
        for size, k, s, p, d in zip(x.shape[2:], kernel, stride, pads, dilation)
    ]
    if min(out) < 1:
        raise ValueError(
            f"{op}: kernel {kernel} (dilation {dilation}) is larger than the padded input: input "
            f"{tuple(input.shape)}, padding {pads}"
        )
    y = Conv2d.apply(x, weight, bias, stride=stride, padding=pads, dilation=dilation, groups=groups)
    return y.reshape(*y.shape[1:]) if unbatched else y


def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """2-D transposed convolution over NCHW input, as torch.nn.functional.conv_transpose2d.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out/groups, KH, KW). bias: (C_out,) or None (default).
        stride, padding, dilation (int or tuple): those of the convolution being transposed.
            Defaults: 1, 0, 1.
        output_padding (int or tuple): extra rows/columns at the bottom/right, smaller than
            stride or dilation. Default: 0.
        groups (int): split channels into independent groups. Default: 1.

    Shape:
        (N, C_out, OH, OW), OH = (H-1)*stride - 2*padding + dilation*(KH-1) + output_padding + 1.
    """
    op = "conv_transpose2d"
    x, unbatched = _batched(op, input, "(N, C, H, W)")
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    padding, output_padding = pair(padding, "padding"), pair(output_padding, "output_padding")
    _positive(op, stride=stride, dilation=dilation)
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding}")
    _check_weight(op, x, weight, bias, _groups(op, groups), transposed=True)
    for o, s, d in zip(output_padding, stride, dilation):
        if not 0 <= o < max(s, d):
            raise ValueError(
                f"{op}: output_padding {output_padding} must be smaller than stride {stride} "
                f"or dilation {dilation}"
            )
    kernel = tuple(weight.shape[2:])
    out = [
        conv_transpose_out(size, k, s, p, o, d)
        for size, k, s, p, o, d in zip(
            x.shape[2:], kernel, stride, padding, output_padding, dilation
        )
    ]
    if min(out) < 1:
        raise ValueError(
            f"{op}: output size {tuple(out)} is not positive: input {tuple(input.shape)}, kernel "
            f"{kernel}, stride {stride}, padding {padding}"
        )
    pads = tuple((p, p) for p in padding)
    y = ConvTranspose2d.apply(
        x,
        weight,
        bias,
        stride=stride,
        padding=pads,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
    )
    return y.reshape(*y.shape[1:]) if unbatched else y


def _window_args(op, kernel_size, dilation, padding, stride):
    k, d = pair(kernel_size, "kernel_size"), pair(dilation, "dilation")
    p, s = pair(padding, "padding"), pair(stride, "stride")
    _positive(op, kernel_size=k, dilation=d, stride=s)
    if min(p) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {p}")
    return k, d, tuple((q, q) for q in p), s


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extract sliding windows as columns, as torch.nn.functional.unfold.

    Shape:
        (N, C, H, W) -> (N, C*KH*KW, L), L = OH*OW with OH from kernels.shapes.conv_out; column
        row index c*KH*KW + i*KW + j. Unbatched (C, H, W) -> (C*KH*KW, L).
    """
    op = "unfold"
    x, unbatched = _batched(op, input, "(N, C, H, W)")
    k, d, pads, s = _window_args(op, kernel_size, dilation, padding, stride)
    out = [conv_out(size, *a) for size, *a in zip(x.shape[2:], k, s, pads, d)]
    if min(out) < 1:
        raise ValueError(
            f"{op}: kernel {k} (dilation {d}) is larger than the padded input {tuple(input.shape)}"
        )
    cols = Unfold.apply(x, kernel_size=k, stride=s, padding=pads, dilation=d)
    return cols.reshape(*cols.shape[1:]) if unbatched else cols


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sum columns back into an image, as torch.nn.functional.fold (overlaps add up).

    Shape:
        (N, C*KH*KW, L) -> (N, C, H, W) with (H, W) = output_size and L = OH*OW as for unfold.
        Unbatched (C*KH*KW, L) -> (C, H, W).
    """
    op = "fold"
    if input.ndim not in (2, 3):
        raise ValueError(
            f"{op}: expected 3-D input (N, C*KH*KW, L) or unbatched 2-D (C*KH*KW, L), "
            f"got shape {tuple(input.shape)}"
        )
    unbatched = input.ndim == 2
    x = input.reshape(1, *input.shape) if unbatched else input
    k, d, pads, s = _window_args(op, kernel_size, dilation, padding, stride)
    h, w = pair(output_size, "output_size")
    n, ckk, length = x.shape
    out = [conv_out(size, *a) for size, *a in zip((h, w), k, s, pads, d)]
    if ckk % (k[0] * k[1]) or min(out) < 1 or out[0] * out[1] != length:
        raise ValueError(
            f"{op}: input {tuple(input.shape)} does not match output_size {(h, w)} with "
            f"kernel {k}: "
            f"expected (N, C*{k[0] * k[1]}, {max(out[0], 0) * max(out[1], 0)})"
        )
    shape = (n, ckk // (k[0] * k[1]), h, w)
    y = Fold.apply(x, x_shape=shape, kernel_size=k, stride=s, padding=pads, dilation=d)
    return y.reshape(*y.shape[1:]) if unbatched else y
