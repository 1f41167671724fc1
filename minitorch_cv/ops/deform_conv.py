"""Deformable convolution, torchvision.ops' deform_conv2d and DeformConv2d: each kernel tap reads
the input at its regular position plus a learned (dy, dx) offset, bilinearly, optionally scaled by
a learned mask (DCNv1, Dai et al. 2017, without a mask; DCNv2, Zhu et al. 2018, with one).

A "deformable im2col" then one GEMM per weight group, as torchvision's CPU kernel, rule for rule:

    y[n, f] = b[f] + W[f] . cols[n],   cols[n, (c, i, j), (oh, ow)] = m * bilinear(x[n, c], py, px)
    py = oh * stride - pad + i * dil + dy[n, g, (i, j), oh, ow]   (px likewise; g: c's offset group)

bilinear() is torchvision's bilinear_interpolate: the four neighbours floor(p) and floor(p) + 1
weighted (1 - frac, frac) along each axis, a neighbour outside the image reading 0 (here: the
image gets a zero border), so that a sample with py <= -1, py >= H, px <= -1 or px >= W is 0 and
one partly outside keeps its neighbours inside. All sampling positions of a chunk of images are
computed at once, as (n, offset_groups, KH*KW, OH*OW) arrays; each of the four neighbours is one
gather (and, in the backward, one bincount scatter) over every channel, tap and output pixel.

Gradients, from the recomputed neighbours (R = a neighbour's values times the columns' gradient,
summed over the offset group's channels):
    input   the columns' gradient (W^T . gy) times m and each neighbour's weight, added at it
    offset  m * the bilinear weights' derivatives (+-1 times the other axis' weight) times R,
            torchvision's get_coordinate_weight: one-sided (floor-based) at integer positions,
            and at py == -1 exactly (a sample of 0) it sees row 0
    mask    the sampled values times the columns' gradient, summed over the group's channels
    weight  gy . cols^T summed over the batch;  bias  gy summed
"""

from __future__ import annotations

import math

from .. import init, kernels
from ..backend import xp_of
from ..init import _calculate_fan_in_and_fan_out
from ..kernels.shapes import conv_out, pair
from ..layers.module import Module, Parameter
from ..tensor import Function, Tensor, empty

# Images per chunk: as many as keep the columns (N, C*KH*KW, OH*OW) of a chunk within about this
# many elements (at least one image). The backward holds a few arrays of that size at once.
_CHUNK_ELEMENTS = 1 << 20


def _batch_chunks(n, per_image):
    step = max(1, _CHUNK_ELEMENTS // max(per_image, 1))
    for i in range(0, n, step):
        yield slice(i, min(n, i + step))


def _rows(a, s):
    """Rows s of an optional array."""
    return None if a is None else a[s]


# The sampled image gets this zero border: every neighbour of a (clamped) sample point lies on it.
_BORDER = 2


def _axis(t, size):
    """The bilinear taps along one axis at coordinates t: the lower neighbour floor(t) and the
    weights (1 - frac, frac) of it and of the next one (their derivatives in t are -1 and 1).
    Coordinates are first clamped to [-2, size], beyond which both neighbours are outside the
    image, so every neighbour lies within the zero border; NaN stays NaN in the weights."""
    xp = xp_of(t)
    tc = xp.clip(t, -_BORDER, size)
    f = xp.floor(tc)
    frac = tc - f
    lo = xp.nan_to_num(f, nan=-_BORDER).astype(xp.int64)
    return lo, (1 - frac, frac)


def _taps(x, offset, mask, kernel, stride, padding, dilation):
    """The sampling of a chunk of images: x (n, C, H, W), offset (n, 2*G*K, OH, OW), mask
    (n, G*K, OH, OW) or None, K = KH*KW, L = OH*OW.

    Returns (xb, plane, taps, m): xb, x with a zero border of _BORDER pixels (a neighbour
    outside the image reads 0 there, as in torchvision's kernel); plane (n, G, C/G, 1, 1), the
    int64 start of each channel's plane in xb (flat); for each of the four neighbours (dy, dx)
    in {0, 1}^2 a tuple (at, wy, wx, sy, sx) with at (n, G, 1, K, L) its int64 flat index within
    a plane (plane + at indexes xb: built per neighbour when used, since that full-size index
    is the largest temporary), the axis weights (n, G, 1, K, L) and the signs of their
    derivatives in py and px (-1 for the lower neighbour, whose weight is 1 - frac, +1 for the
    upper); m, the mask as (n, G, 1, K, L) (1 without one)."""
    xp = xp_of(x)
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = offset.shape[2:]
    dt = x.dtype
    xb = kernels.pad(x, ((_BORDER, _BORDER), (_BORDER, _BORDER)))
    hb, wb = h + 2 * _BORDER, w + 2 * _BORDER
    off = offset.reshape(n, -1, kh * kw, 2, oh * ow)
    g = off.shape[1]
    rows = xp.arange(kh)[:, None] * dilation[0] + (xp.arange(oh) * stride[0] - padding[0])
    cols = xp.arange(kw)[:, None] * dilation[1] + (xp.arange(ow) * stride[1] - padding[1])
    base_y = xp.broadcast_to(rows[:, None, :, None], (kh, kw, oh, ow)).reshape(kh * kw, -1)
    base_x = xp.broadcast_to(cols[None, :, None, :], (kh, kw, oh, ow)).reshape(kh * kw, -1)
    y0, wys = _axis((base_y.astype(dt) + off[:, :, :, 0])[:, :, None], h)  # (n, G, 1, K, L)
    x0, wxs = _axis((base_x.astype(dt) + off[:, :, :, 1])[:, :, None], w)
    plane = (xp.arange(n * c) * (hb * wb)).reshape(n, g, c // g, 1, 1)
    taps = []
    for a in (0, 1):
        row = (y0 + (_BORDER + a)) * wb
        for b in (0, 1):
            taps.append((row + (x0 + (_BORDER + b)), wys[a], wxs[b], 2 * a - 1, 2 * b - 1))
    m = 1 if mask is None else mask.reshape(n, g, 1, kh * kw, oh * ow)
    return xb, plane, taps, m


class DeformConv2dFunction(Function):
    """y[n, f, oh, ow] = b[f] + sum over c (of f's weight group), i, j of
    w[f, c, i, j] * m[n, g, i, j, oh, ow] * bilinear(x[n, c], py, px), g = c's offset group,
    (py, px) the tap's regular position plus offset[n, g, (i, j), (dy, dx), oh, ow].

    Shapes: x (N, C, H, W), offset (N, 2*G*KH*KW, OH, OW), w (F, C/groups, KH, KW), b (F,),
            mask (N, G*KH*KW, OH, OW) -> y (N, F, OH, OW)
    """

    @staticmethod
    def forward(ctx, x, offset, weight, bias, mask, *, stride, padding, dilation):
        xp = xp_of(x)
        ctx.save_for_backward(x, offset, weight, mask)
        ctx.has_bias = bias is not None
        ctx.conf = stride, padding, dilation
        n, c = x.shape[:2]
        f, cw, kh, kw = weight.shape
        groups = c // cw
        oh, ow = offset.shape[2:]
        wmat = weight.reshape(groups, f // groups, -1)  # (groups, F/groups, C/groups * K)
        y = xp.empty((n, groups, f // groups, oh * ow), dtype=x.dtype)
        for s in _batch_chunks(n, c * kh * kw * oh * ow):
            xb, plane, taps, m = _taps(x[s], offset[s], _rows(mask, s), (kh, kw), *ctx.conf)
            cols = xp.zeros((len(xb), *plane.shape[1:3], kh * kw, oh * ow), dtype=x.dtype)
            for at, wy, wx, _, _ in taps:  # in place: a chunk's temporaries stay at a few columns
                v = xp.take(xb, plane + at)
                v *= m * wy * wx
                cols += v
            y[s] = xp.matmul(wmat, cols.reshape(len(cols), groups, -1, oh * ow))
        y = y.reshape(n, f, oh, ow)
        return y + bias.reshape(-1, 1, 1) if bias is not None else y

    @staticmethod
    def backward(ctx, gy):
        xp = xp_of(gy)
        x, offset, weight, mask = ctx.saved_tensors
        n, c, h, w = x.shape
        f, cw, kh, kw = weight.shape
        groups, og = c // cw, offset.shape[1] // (2 * kh * kw)
        oh, ow = offset.shape[2:]
        need_x, need_off, need_w, need_b, need_m = ctx.needs_input_grad
        need_m = need_m and mask is not None
        gx = xp.zeros_like(x) if need_x else None
        g_off = xp.zeros_like(offset) if need_off else None
        gw = xp.zeros((groups, f // groups, cw * kh * kw), dtype=x.dtype) if need_w else None
        g_mask = xp.zeros_like(mask) if need_m else None
        wmat_t = weight.reshape(groups, f // groups, -1).transpose(0, 2, 1)
        gyr = gy.reshape(n, groups, f // groups, oh * ow)
        inner = (slice(None), slice(None), slice(_BORDER, _BORDER + h), slice(_BORDER, _BORDER + w))
        chunks = _batch_chunks(n, c * kh * kw * oh * ow)
        for s in chunks if (need_x or need_off or need_w or need_m) else ():
            xb, plane, taps, m = _taps(x[s], offset[s], _rows(mask, s), (kh, kw), *ctx.conf)
            nb = len(xb)
            # the columns' gradient, (n, G, C/G, K, L)
            gcols = xp.matmul(wmat_t, gyr[s]).reshape(nb, og, -1, kh * kw, oh * ow)
            gxb = gpy = gpx = gm = 0
            cols = xp.zeros_like(gcols) if need_w else None
            for at, wy, wx, sy, sx in taps:
                pos = plane + at
                wm = m * wy * wx  # this neighbour's weight in the columns, (n, G, 1, K, L)
                if need_x:
                    wgt = (gcols * wm).reshape(-1)
                    gxb = gxb + xp.bincount(pos.reshape(-1), weights=wgt, minlength=xb.size)
                    del wgt
                if need_w or need_off or need_m:
                    v = xp.take(xb, pos)  # this neighbour's values (0 off the image)
                del pos
                if need_w:
                    cols += v * wm
                if need_off or need_m:
                    v *= gcols
                    r = v.sum(axis=2, keepdims=True)  # (n, G, 1, K, L)
                    gpy, gpx = gpy + sy * wx * r, gpx + sx * wy * r
                    gm = gm + wy * wx * r
            if need_x:
                gx[s] = gxb.reshape(xb.shape)[inner]
            if need_w:
                cols = cols.reshape(nb, groups, -1, oh * ow)
                gw += xp.matmul(gyr[s], cols.transpose(0, 1, 3, 2)).sum(axis=0)
            if need_off:
                pair_grad = xp.stack([gpy * m, gpx * m], axis=4)  # (n, G, 1, K, 2, L)
                g_off[s] = pair_grad.reshape(offset[s].shape)
            if need_m:
                g_mask[s] = gm.reshape(mask[s].shape)
        gb = gy.sum(axis=(0, 2, 3)) if ctx.has_bias and need_b else None
        if need_w:
            gw = gw.reshape(weight.shape)
        return gx, g_off, gw, gb, g_mask


def _conf(op, name, v, least):
    try:
        p = pair(v, name)
    except TypeError as e:
        raise TypeError(f"{op}: {e}") from None
    if min(p) < least:
        raise ValueError(f"{op}: {name} must be >= {least}, got {p}")
    return p


def deform_conv2d(input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0),
                  dilation=(1, 1), mask=None):  # fmt: skip
    """Deformable convolution (torchvision.ops.deform_conv2d): DCNv1 without `mask`, DCNv2 with
    one. Each tap (i, j) of output pixel (oh, ow) reads its input channels bilinearly at
    (oh * stride - padding + i * dilation + dy, ow * stride - padding + j * dilation + dx),
    zero outside the image, times the mask value.

    Args:
        input: (N, C, H, W).
        offset: (N, 2 * offset_groups * KH * KW, OH, OW), per offset group and tap a (dy, dx)
            pair; offset_groups = offset.shape[1] // (2 * KH * KW) must divide C (consecutive
            channel blocks share a group's offsets).
        weight: (F, C / groups, KH, KW); groups = C // weight.shape[1].
        bias: (F,) or None (default).
        stride, padding, dilation (int or (h, w)): as in conv2d. Defaults (1, 1), (0, 0), (1, 1).
        mask: (N, offset_groups * KH * KW, OH, OW) or None (default: no modulation).

    Shape: -> (N, F, OH, OW), OH = (H + 2 * padding - dilation * (KH - 1) - 1) // stride + 1.
    Gradients: to input, offset, weight, bias and mask.
    """
    op = "deform_conv2d"
    for name, t in (("input", input), ("offset", offset), ("weight", weight),
                    ("bias", bias), ("mask", mask)):  # fmt: skip
        if t is None and name in ("bias", "mask"):
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: expected {name} to be a Tensor, got {type(t).__name__}")
        if name != "bias" and t.ndim != 4:
            raise ValueError(f"{op}: expected a 4-D {name}, got shape {tuple(t.shape)}")
    given = [t for t in (input, offset, weight, bias, mask) if t is not None]
    if len({t.dtype for t in given}) > 1 or input.dtype.kind != "f":
        raise TypeError(
            f"{op}: input, offset, weight, bias and mask must share one floating dtype, got "
            + ", ".join(str(t.dtype) for t in given)
        )
    stride = _conf(op, "stride", stride, 1)
    padding = _conf(op, "padding", padding, 0)
    dilation = _conf(op, "dilation", dilation, 1)
    n, c, h, w = input.shape
    f, cw, kh, kw = weight.shape
    if min(f, cw, kh, kw) < 1 or c % cw or f % (c // cw):
        raise ValueError(
            f"{op}: weight {tuple(weight.shape)} does not fit input {tuple(input.shape)}: "
            f"weight.shape[1] = C / groups must divide the {c} input channels and the groups "
            f"must divide the {f} output channels"
        )
    if bias is not None and tuple(bias.shape) != (f,):
        raise ValueError(f"{op}: expected bias of shape ({f},), got {tuple(bias.shape)}")
    oh, ow = (conv_out(*a) for a in zip((h, w), (kh, kw), stride, padding, dilation))
    if oh < 1 or ow < 1:
        raise ValueError(
            f"{op}: kernel ({kh}, {kw}) (dilation {dilation}) is larger than the padded input: "
            f"input {tuple(input.shape)}, padding {padding}"
        )
    taps = kh * kw
    og = offset.shape[1] // (2 * taps)
    if og == 0 or offset.shape[1] != 2 * taps * og or c % og:
        raise ValueError(
            f"{op}: offset must have 2 * offset_groups * KH * KW channels, offset_groups "
            f"dividing the {c} input channels (a multiple of 2 * {kh} * {kw} = {2 * taps}); got "
            f"offset shape {tuple(offset.shape)} for input {tuple(input.shape)}, weight "
            f"{tuple(weight.shape)}"
        )
    if tuple(offset.shape) != (n, 2 * taps * og, oh, ow):
        raise ValueError(
            f"{op}: expected offset of shape {(n, 2 * taps * og, oh, ow)} (the output's batch "
            f"and size), got {tuple(offset.shape)}"
        )
    if mask is not None and tuple(mask.shape) != (n, taps * og, oh, ow):
        raise ValueError(
            f"{op}: expected mask of shape {(n, taps * og, oh, ow)} (offset_groups * KH * KW "
            f"= {og} * {kh} * {kw} channels), got {tuple(mask.shape)}"
        )
    return DeformConv2dFunction.apply(
        input, offset, weight, bias, mask, stride=stride, padding=padding, dilation=dilation
    )


class DeformConv2d(Module):
    """`deform_conv2d` as a layer (torchvision.ops.DeformConv2d): forward(input, offset,
    mask=None), the offsets (and mask) usually from a plain Conv2d on the same input; an input
    without in_channels channels is an error (torchvision would re-read it as other groups).

    Args:
        in_channels, out_channels (int); kernel_size, stride (default 1), padding (default 0),
        dilation (default 1): int or (h, w); groups (int, default 1): weight groups, dividing
        both channel counts; bias (bool, default True).

    Attributes: weight (out_channels, in_channels / groups, KH, KW) and bias (out_channels,),
    initialised as torchvision's: kaiming_uniform_(a=sqrt(5)), i.e. U(+-1/sqrt(fan_in)), for both.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True):  # fmt: skip
        super().__init__()
        name = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels),
                       ("groups", groups)):  # fmt: skip
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name}: {arg} must be a positive int, got {v!r}")
        if in_channels % groups:
            raise ValueError(
                f"{name}: in_channels must be divisible by groups, got in_channels="
                f"{in_channels}, groups={groups}"
            )
        if out_channels % groups:
            raise ValueError(
                f"{name}: out_channels must be divisible by groups, got out_channels="
                f"{out_channels}, groups={groups}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _conf(name, "kernel_size", kernel_size, 1)
        self.stride = _conf(name, "stride", stride, 1)
        self.padding = _conf(name, "padding", padding, 0)
        self.dilation = _conf(name, "dilation", dilation, 1)
        self.groups = groups
        self.weight = Parameter(empty(out_channels, in_channels // groups, *self.kernel_size))
        if bias:
            self.bias = Parameter(empty(out_channels))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = _calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in)
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input, offset, mask=None):
        # deform_conv2d infers the weight groups from the channels: check them against the layer
        if isinstance(input, Tensor) and input.ndim == 4 and input.shape[1] != self.in_channels:
            kh, kw = self.kernel_size
            raise ValueError(
                f"{type(self).__name__}({self.in_channels}->{self.out_channels}, "
                f"k={kh if kh == kw else self.kernel_size}): expected input with "
                f"{self.in_channels} channels, got shape {tuple(input.shape)}"
            )
        return deform_conv2d(input, offset, self.weight, self.bias, stride=self.stride,
                             padding=self.padding, dilation=self.dilation, mask=mask)  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        s += f", padding={self.padding}" if self.padding != (0, 0) else ""
        s += f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        s += f", groups={self.groups}" if self.groups != 1 else ""
        s += ", bias=False" if self.bias is None else ""
        return s


__all__ = ["DeformConv2d", "deform_conv2d"]
