"""Normalisation layers as fused ops: batch_norm, layer_norm, group_norm.

Each is one Function whose backward is the closed form of the normalisation's Jacobian, so the
backward pass never walks a chain of mean / sub / var / sqrt / div nodes. With x̂ = (x - μ) / σ
over M values and y = w x̂ + b:

    dx = (w / σ) * (g - mean(g) - x̂ * mean(g x̂))      (statistics of the batch: training)
    dx = (w / σ) * g                                   (fixed statistics: eval mode)
    dw = sum(g x̂)        db = sum(g)

Statistics are computed in two passes (mean, then the mean of squared deviations) so float32
input with a large mean does not lose its variance to cancellation; per-channel sums are
accumulated in float64 (they are only C numbers).
"""

from __future__ import annotations

import math

import numpy as np

from .. import kernels
from ..backend import xp_of
from ..tensor import Function, Tensor
from .precision import half_as_float32, require_floating

# --------------------------------------------------------------------------- reduction helpers


def _row_sums(a):
    """sum(a, axis=-1) as a matrix-vector product: one BLAS pass, no pairwise-sum overhead."""
    xp = xp_of(a)
    return a @ xp.ones(a.shape[-1], dtype=a.dtype)


def _row_dots(a, b):
    """sum(a * b, axis=-1) without materialising the product a * b."""
    xp = xp_of(a, b)
    if hasattr(xp, "vecdot"):
        return xp.vecdot(a, b)
    return xp.einsum("...l,...l->...", a, b)


def _channel_total(a3, rows_of):
    """Per-channel float64 total (C,) of rows_of(s) (the (n, C) row results of images s), filled
    over batch slices on the worker threads; per (image, channel) rows, so the split cannot
    change them."""
    rows = xp_of(a3).empty(a3.shape[:2], dtype=a3.dtype)

    def fill(s):
        rows[s] = rows_of(s)

    kernels.for_slices(a3, fill)
    return rows.sum(axis=0, dtype=np.float64)


def _channel_sum(a3):
    """(N, C, L) -> per-channel sum (C,): rows of L in the input dtype, then N in float64."""
    if a3.shape[2] == 1:
        return a3[:, :, 0].sum(axis=0, dtype=np.float64)
    return _channel_total(a3, lambda s: _row_sums(a3[s]))


def _channel_dot(a3, b3):
    """(N, C, L), (N, C, L) -> per-channel sum of a * b, (C,) in float64."""
    if a3.shape[2] == 1:
        return (a3[:, :, 0] * b3[:, :, 0]).sum(axis=0, dtype=np.float64)
    return _channel_total(a3, lambda s: _row_dots(a3[s], b3[s]))


def _col(v, dtype):
    """A per-channel vector (C,) as a (1, C, 1) array that broadcasts over (N, C, L)."""
    return v.astype(dtype, copy=False).reshape(1, -1, 1)


def _affine(xhat, w, b):
    """y = x̂ w + b for broadcastable w, b (either may be None); x̂ itself when both are None."""
    if w is None:
        return xhat if b is None else xhat + b
    y = xhat * w
    if b is not None:
        y += b
    return y


def _shape_of(a):
    return tuple(a.shape) if a is not None else None


def _raw(a):
    return a._data if isinstance(a, Tensor) else a


def _check_dtypes(op, x, **params):
    """A floating input, and parameters / statistics of its dtype (or float32 with a float16
    input, PyTorch's CPU mixed mode): PyTorch refuses the rest, and computing them would
    silently give float64 activations (a float64 batch through float32 weights) or truncated
    integers."""
    require_floating(op, x)
    for name, v in params.items():
        d = None if v is None else _raw(v).dtype
        if d is not None and d != x.dtype and not (x.dtype == np.float16 and d == np.float32):
            raise TypeError(
                f"{op}: {name} has dtype {d} but the input {tuple(x.shape)} has dtype {x.dtype}; "
                f"convert the input (x.to({d})) or the parameters (.to({x.dtype}))"
            )


# --------------------------------------------------------------------------- batch norm


class BatchNorm(Function):
    """Batch normalisation over every axis but the channel axis 1.

    Shapes:  x (N, C, *) ; running_mean, running_var, weight, bias (C,) or None -> y like x.
             Statistics run over M = N * prod(*) values per channel.

    training=True: normalise with the batch's biased variance, and (when running stats are given)
    update them in place: r_mean <- (1 - m) r_mean + m mean,
    r_var <- (1 - m) r_var + m var * M / (M - 1)  (the unbiased batch variance).
    training=False: normalise with the running statistics (an affine map per channel).
    """

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, *, training, momentum, eps):
        xp = xp_of(x)
        n, c = x.shape[:2]
        x3 = x.reshape(n, c, -1)
        m = x3.shape[0] * x3.shape[2]
        if training:
            mean = _channel_sum(x3) / m
            xc = xp.empty_like(x3)  # centred: the variance and the backward need it
            kernels.for_slices(x3, lambda s: xp.subtract(x3[s], _col(mean, x.dtype), out=xc[s]))
            var = _channel_dot(xc, xc) / m  # biased: the normalisation PyTorch uses
            if running_mean is not None:
                # in place: the caller's buffers are these very arrays
                running_mean *= 1 - momentum
                running_mean += (momentum * mean).astype(running_mean.dtype)
                running_var *= 1 - momentum
                running_var += (momentum * var * (m / (m - 1))).astype(running_var.dtype)
        else:
            mean = running_mean.astype(np.float64)
            var = running_var.astype(np.float64)
            xc = None  # x - mean is only needed for dw: the backward makes it then
        inv_std = 1.0 / xp.sqrt(var + eps)
        # y = x̂ w + b as one scale and one shift per channel: two passes over the data
        scale = inv_std if weight is None else weight * inv_std
        if training:
            y = xp.empty_like(xc)

            def affine(s):
                xp.multiply(xc[s], _col(scale, x.dtype), out=y[s])
                if bias is not None:
                    y[s] += _col(bias, x.dtype)

            kernels.for_slices(xc, affine)
        else:
            shift = -mean * scale if bias is None else bias - mean * scale
            y = x3 * _col(scale, x.dtype)
            y += _col(shift, x.dtype)
        ctx.save_for_backward(x3 if xc is None else xc, inv_std, weight)
        ctx.mean, ctx.training, ctx.m, ctx.x_shape = mean, training, m, x.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        saved, inv_std, weight = ctx.saved_tensors
        dtype = saved.dtype
        g3 = g.reshape(saved.shape)
        need_x, _, _, need_w, need_b = ctx.needs_input_grad
        train_x = need_x and ctx.training
        xc = saved if ctx.training else None
        if xc is None and need_w:  # eval mode saved x itself
            xc = saved - _col(ctx.mean, dtype)
        sum_g = _channel_sum(g3) if (need_b or train_x) else None
        # sum(g x̂) = sum(g (x - μ)) / σ: the centred data keep this free of cancellation
        sum_gxhat = _channel_dot(g3, xc) * inv_std if (need_w or train_x) else None
        dx = None
        if need_x:
            k = inv_std if weight is None else weight * inv_std  # w / σ per channel
            if ctx.training:
                # dx = (w/σ) (g - mean(g) - x̂ mean(g x̂)) with x̂ = (x - μ) / σ, in one buffer
                a = _col(-(sum_gxhat / ctx.m) * inv_std, dtype)
                b, kc = _col(sum_g / ctx.m, dtype), _col(k, dtype)
                dx = xp_of(g3).empty(g3.shape, dtype=dtype)

                def grad(s):
                    d = dx[s]
                    xp_of(d).multiply(xc[s], a, out=d)
                    d += g3[s]
                    d -= b
                    d *= kc

                kernels.for_slices(g3, grad)
            else:
                dx = g3 * _col(k, dtype)
            dx = dx.reshape(ctx.x_shape)
        dw = sum_gxhat.astype(dtype) if need_w else None
        db = sum_g.astype(dtype) if need_b else None
        return dx, None, None, dw, db


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training=False,
    momentum=0.1,
    eps=1e-5,
    num_batches_tracked=None,
):
    """Batch normalisation, one fused op (PyTorch's `F.batch_norm`).

    Args:
        input: (N, C), (N, C, L) or (N, C, H, W) (any (N, C, *)).
        running_mean, running_var: (C,) buffers or None. Updated in place when training.
        weight, bias: (C,) affine parameters or None (None = 1 and 0).
        training (bool): use batch statistics (and update the running ones). Default False.
        momentum (float or None): running-stats update factor, default 0.1. None = cumulative
            moving average, which needs `num_batches_tracked`.
        eps (float): added to the variance, default 1e-5.
        num_batches_tracked: optional int64 0-d buffer; incremented in place when training with
            running stats (what `BatchNorm2d` passes).

    Shape:
        y has the input's shape; y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias per channel.
    """
    x = _raw(input)
    if x.ndim < 2:
        raise ValueError(
            f"batch_norm: expected input of shape (N, C, *), got shape {tuple(x.shape)}"
        )
    _check_dtypes("batch_norm", x, running_mean=running_mean, running_var=running_var,
                  weight=weight, bias=bias)  # fmt: skip
    c = x.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    for name, v in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if v is not None and tuple(_raw(v).shape) != (c,):
            raise ValueError(
                f"batch_norm: {name} has shape {_shape_of(_raw(v))} but the input has {c} channels "
                f"(input shape {tuple(x.shape)}); expected {name} of shape ({c},)"
            )
    if not training and running_mean is None:
        raise ValueError(
            "batch_norm: running_mean and running_var are needed when training=False "
            "(there are no batch statistics to fall back on in eval mode)"
        )
    if x.size == 0 and x.shape[0] == 0:  # an empty batch: nothing to normalise (PyTorch too)
        return input * 1
    if training and x.size <= c:  # at most one value per channel
        raise ValueError(
            "batch_norm: Expected more than 1 value per channel when training, "
            f"got input size {tuple(x.shape)}"
        )
    factor = momentum
    if training and running_mean is not None:
        if num_batches_tracked is not None:
            nbt = _raw(num_batches_tracked)
            nbt += 1  # in place, like PyTorch's num_batches_tracked.add_(1)
            if momentum is None:
                factor = 1.0 / nbt  # a 0-d array: float() would read it back from the GPU
        elif momentum is None:
            raise ValueError(
                "batch_norm: momentum=None (cumulative moving average) needs num_batches_tracked"
            )
    if factor is None:
        factor = 0.0
    return BatchNorm.apply(
        input,
        running_mean,
        running_var,
        weight,
        bias,
        training=bool(training),
        momentum=factor if hasattr(factor, "dtype") else float(factor),
        eps=float(eps),
    )


# --------------------------------------------------------------------------- layer / group norm


def _normalize_rows(x2, eps):
    """x2 (R, D) -> x̂ (R, D) with zero mean and unit (biased) variance per row, and 1/σ (R, 1)."""
    d = x2.shape[1]
    xhat = x2 - (_row_sums(x2) / d)[:, None]
    var = _row_dots(xhat, xhat) / d
    inv_std = 1.0 / xp_of(x2).sqrt(var + eps)
    xhat *= inv_std[:, None]
    return xhat, inv_std[:, None]


def _normalize_rows_backward(gxhat, xhat, inv_std):
    """Gradient through x̂ = (x - mean) / σ per row: (1/σ) (gx̂ - mean(gx̂) - x̂ mean(gx̂ x̂))."""
    d = xhat.shape[1]
    dx = xhat * (-_row_dots(gxhat, xhat) / d)[:, None]
    dx += gxhat
    dx -= (_row_sums(gxhat) / d)[:, None]
    dx *= inv_std
    return dx


class LayerNorm(Function):
    """Normalise over the last D = prod(normalized_shape) values of each sample.

    Shapes:  x (*, *normalized_shape) ; weight, bias normalized_shape or None -> y like x.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, shape, eps):
        d = math.prod(shape)
        xhat, inv_std = _normalize_rows(x.reshape(-1, d), eps)
        w = None if weight is None else weight.astype(x.dtype, copy=False).reshape(1, d)
        b = None if bias is None else bias.astype(x.dtype, copy=False).reshape(1, d)
        y = _affine(xhat, w, b)
        ctx.save_for_backward(xhat, inv_std, weight)
        ctx.x_shape, ctx.shape = x.shape, shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xhat, inv_std, weight = ctx.saved_tensors
        d = xhat.shape[1]
        g2 = g.reshape(-1, d)
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = dw = db = None
        if need_x:
            gxhat = g2 if weight is None else g2 * weight.astype(g.dtype, copy=False).reshape(1, d)
            dx = _normalize_rows_backward(gxhat, xhat, inv_std).reshape(ctx.x_shape)
        if need_w:
            dw = xp_of(g).einsum("rd,rd->d", g2, xhat).reshape(ctx.shape)
        if need_b:
            db = g2.sum(axis=0).reshape(ctx.shape)
        return dx, dw, db


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation (PyTorch's `F.layer_norm`), one fused op.

    Args:
        input: (*, *normalized_shape).
        normalized_shape (int or tuple): the trailing shape to normalise over.
        weight, bias: tensors of shape normalized_shape, or None. eps (float): default 1e-5.

    Shape:
        y like input; y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias, statistics over the
        trailing normalized_shape dims of each sample (biased variance). float16 input is
        computed in float32 and rounded back (PyTorch's opmath).
    """
    x = _raw(input)
    _check_dtypes("layer_norm", x, weight=weight, bias=bias)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the trailing dims of the input "
            f"shape {tuple(x.shape)}"
        )
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(_raw(v).shape) != shape:
            raise ValueError(
                f"layer_norm: {name} has shape {_shape_of(_raw(v))}, "
                f"expected normalized_shape {shape}"
            )
    return half_as_float32(
        lambda *t: LayerNorm.apply(*t, shape=shape, eps=float(eps)), input, weight, bias
    )


class GroupNorm(Function):
    """Normalise each sample's channels in G groups of C/G channels; affine per channel.

    Shapes:  x (N, C, *) ; weight, bias (C,) or None -> y like x. Statistics over (C/G) * prod(*)
             values per (sample, group).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, *, groups, eps):
        n, c = x.shape[:2]
        xhat, inv_std = _normalize_rows(x.reshape(n * groups, -1), eps)
        xhat = xhat.reshape(n, c, -1)
        w = None if weight is None else _col(weight, x.dtype)
        y = _affine(xhat, w, None if bias is None else _col(bias, x.dtype))
        ctx.save_for_backward(xhat, inv_std, weight)
        ctx.x_shape, ctx.groups = x.shape, groups
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        xhat, inv_std, weight = ctx.saved_tensors
        n, c, _ = xhat.shape
        g3 = g.reshape(xhat.shape)
        need_x, need_w, need_b = ctx.needs_input_grad
        dx = dw = db = None
        if need_x:
            gxhat = g3 if weight is None else g3 * _col(weight, g.dtype)
            rows = (n * ctx.groups, -1)
            dx = _normalize_rows_backward(gxhat.reshape(rows), xhat.reshape(rows), inv_std)
            dx = dx.reshape(ctx.x_shape)
        if need_w:
            dw = _channel_dot(g3, xhat).astype(g.dtype)
        if need_b:
            db = _channel_sum(g3).astype(g.dtype)
        return dx, dw, db


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation (PyTorch's `F.group_norm`), one fused op.

    Args:
        input: (N, C, *). num_groups (int): G, must divide C.
        weight, bias: (C,) or None. eps (float): default 1e-5.

    Shape:
        y like input; each sample's C/G channels of a group share one mean and (biased) variance.
        float16 input is computed in float32 and rounded back (PyTorch's opmath).
    """
    x = _raw(input)
    _check_dtypes("group_norm", x, weight=weight, bias=bias)
    if x.ndim < 2:
        raise ValueError(
            f"group_norm: expected input of shape (N, C, *), got shape {tuple(x.shape)}"
        )
    c = x.shape[1]
    if num_groups < 1 or c % num_groups:
        raise ValueError(
            f"group_norm: Expected number of channels in input to be divisible by num_groups, "
            f"but got input of shape {tuple(x.shape)} and num_groups={num_groups}"
        )
    for name, v in (("weight", weight), ("bias", bias)):
        if v is not None and tuple(_raw(v).shape) != (c,):
            raise ValueError(
                f"group_norm: {name} has shape {_shape_of(_raw(v))} but the input has {c} channels "
                f"(input shape {tuple(x.shape)})"
            )
    return half_as_float32(
        lambda *t: GroupNorm.apply(*t, groups=int(num_groups), eps=float(eps)),
        input, weight, bias,
    )  # fmt: skip


# --------------------------------------------------------------------------- instance norm


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats=True,
    momentum=0.1,
    eps=1e-5,
):
    """Instance normalisation (PyTorch's `F.instance_norm`): each sample's each channel is
    normalised over its own spatial values (style transfer, GANs, small-batch segmentation).

    It is batch_norm seen from the right angle: (N, C, *) reshaped to (1, N*C, *) makes every
    (sample, channel) plane a channel of its own; the affine weight and running statistics are
    repeated N times, and the running statistics averaged back over the samples afterwards.

    Args:
        input: (N, C, *). running_mean, running_var: (C,) buffers or None (updated in place
            when use_input_stats). weight, bias: (C,) or None.
        use_input_stats (bool): normalise with each instance's statistics (default); False uses
            the running ones (a layer with track_running_stats in eval mode).
        momentum (float): running-stats update factor. eps (float): added to the variance.
    """
    from .shape import repeat, reshape

    x = _raw(input)
    if x.ndim < 2:
        raise ValueError(
            f"instance_norm: expected input of shape (N, C, *), got shape {tuple(x.shape)}"
        )
    if not use_input_stats:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if x.size == 0 and x.shape[0] == 0:  # an empty batch passes through, as in batch_norm
        return input * 1
    n, c = x.shape[:2]
    for name, v in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):  # fmt: skip
        if v is not None and tuple(_raw(v).shape) != (c,):
            raise ValueError(
                f"instance_norm: {name} has shape {_shape_of(_raw(v))} but the input has {c} "
                f"channels (input shape {tuple(x.shape)}); expected {name} of shape ({c},)"
            )
    xp = xp_of(x)
    stats = [None if v is None else xp.tile(_raw(v), n) for v in (running_mean, running_var)]
    affine = [None if v is None else repeat(v, n) for v in (weight, bias)]
    y = batch_norm(reshape(input, (1, n * c) + x.shape[2:]), *stats, *affine,
                   training=True, momentum=momentum, eps=eps)  # fmt: skip
    for buffer, tiled in zip((running_mean, running_var), stats):
        if buffer is not None:
            _raw(buffer)[...] = tiled.reshape(n, c).mean(axis=0)
    return reshape(y, x.shape)


# --------------------------------------------------------------------------- local response norm


def _channel_window_sum(a, before, after):
    """out[:, c] = sum of a[:, c - before .. c + after] (zero outside): one shifted add per
    window offset, vectorised over everything else (no cumulative sums to cancel)."""
    xp = xp_of(a)
    c = a.shape[1]
    out = xp.zeros_like(a)
    for off in range(-before, after + 1):
        lo, hi = max(0, -off), min(c, c - off)
        if lo < hi:
            out[:, lo:hi] += a[:, lo + off : hi + off]
    return out


class LocalResponseNorm(Function):
    """AlexNet's local response normalisation across channels, PyTorch's window (size // 2
    channels before, (size - 1) // 2 after, zero beyond the edges):

        s_c = k + (alpha / size) sum_{c' in window(c)} x_c'^2,      y_c = x_c s_c^-beta
        dx_j = g_j s_j^-beta - (2 alpha beta / size) x_j sum_{c : j in window(c)} g_c y_c / s_c

    The second sum runs over the reversed window, the adjoint of the first."""

    @staticmethod
    def forward(ctx, x, *, size, alpha, beta, k):
        before, after = size // 2, (size - 1) // 2
        s = _channel_window_sum(x * x, before, after)
        s *= alpha / size
        s += k
        y = x * s**-beta
        ctx.save_for_backward(x, s, y)
        ctx.params = size, alpha, beta, before, after
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, s, y = ctx.saved_tensors
        size, alpha, beta, before, after = ctx.params
        back = _channel_window_sum(g * y / s, after, before)  # the reversed window
        dx = g * s**-beta - (2 * alpha * beta / size) * x * back
        return dx.astype(g.dtype, copy=False)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation over channels (PyTorch's `F.local_response_norm`, AlexNet's
    LRN): each value divided by (k + alpha / size * sum of squares of `size` neighbouring
    channels)^beta.

    Shape: (N, C, *) with at least 3 dims -> same.
    """
    if input.ndim < 3:
        raise ValueError(
            f"local_response_norm: expected input (N, C, *) with 3 or more dims, got shape "
            f"{tuple(input.shape)}"
        )
    if int(size) < 1:
        raise ValueError(f"local_response_norm: size must be >= 1, got {size}")
    _check_dtypes("local_response_norm", input)
    return LocalResponseNorm.apply(
        input, size=int(size), alpha=float(alpha), beta=float(beta), k=float(k)
    )


# --------------------------------------------------------------------------- RMS norm


class RMSNorm(Function):
    """Root-mean-square normalisation over the last D = prod(normalized_shape) values of each
    sample (Zhang & Sennrich 2019): no mean is subtracted and there is no bias.

        r = 1 / sqrt(mean(x^2) + eps),   x̂ = x r,   y = x̂ w
        dx = r (gx̂ - x̂ mean(gx̂ x̂)),   gx̂ = g w,   dw = sum over samples of g x̂

    Shapes:  x (*, *normalized_shape) ; weight normalized_shape or None -> y like x.
    float16 input is computed in float32 (PyTorch's opmath type) and rounded back once.
    """

    @staticmethod
    def forward(ctx, x, weight, *, shape, eps):
        rows, d = math.prod(x.shape[: x.ndim - len(shape)]), math.prod(shape)
        xc = x.astype(np.float32) if x.dtype == np.float16 else x  # the compute dtype
        x2 = xc.reshape(rows, d)
        inv_rms = (1.0 / xp_of(x).sqrt(_row_dots(x2, x2) / d + eps))[:, None]
        xhat = x2 * inv_rms
        w = None if weight is None else weight.astype(xc.dtype, copy=False).reshape(1, d)
        y = xhat if w is None else xhat * w
        ctx.save_for_backward(xhat, inv_rms, w)
        ctx.x_shape, ctx.shape = x.shape, shape
        ctx.dtypes = x.dtype, None if weight is None else weight.dtype
        return y.reshape(x.shape).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xhat, inv_rms, w = ctx.saved_tensors
        d = xhat.shape[1]
        g2 = g.reshape(xhat.shape).astype(xhat.dtype, copy=False)
        need_x, need_w = ctx.needs_input_grad
        dx = dw = None
        if need_x:
            gxhat = g2 if w is None else g2 * w
            dx = xhat * (-_row_dots(gxhat, xhat) / d)[:, None]
            dx += gxhat
            dx *= inv_rms
            dx = dx.reshape(ctx.x_shape).astype(ctx.dtypes[0], copy=False)
        if need_w:
            dw = xp_of(g).einsum("rd,rd->d", g2, xhat)
            dw = dw.reshape(ctx.shape).astype(ctx.dtypes[1], copy=False)
        return dx, dw


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """Root-mean-square normalisation (PyTorch's `F.rms_norm`), one fused op.

    Args:
        input: (*, *normalized_shape), floating point.
        normalized_shape (int or tuple): the trailing shape to normalise over.
        weight: tensor of shape normalized_shape, or None (no scale).
        eps (float or None): added to the mean square. Default None: the machine epsilon of the
            compute dtype, finfo(float64).eps for float64 input and finfo(float32).eps for
            float32 and float16 input (as PyTorch).

    Shape:
        y like input (and of the input's dtype); y = x / sqrt(mean(x^2) + eps) * weight, the
        mean over the trailing normalized_shape dims of each sample.
    """
    x = _raw(input)
    if isinstance(normalized_shape, (int, np.integer)):
        normalized_shape = (normalized_shape,)
    shape = tuple(int(s) for s in normalized_shape)
    k = len(shape)
    if k == 0:
        raise ValueError("rms_norm: normalized_shape must have at least one dim, got ()")
    if x.ndim < k or tuple(x.shape[x.ndim - k :]) != shape:
        raise ValueError(
            f"rms_norm: normalized_shape {shape} does not match the trailing dims of the input "
            f"shape {tuple(x.shape)}"
        )
    require_floating("rms_norm", x)
    if weight is not None and tuple(_raw(weight).shape) != shape:
        raise ValueError(
            f"rms_norm: weight has shape {_shape_of(_raw(weight))}, expected normalized_shape "
            f"{shape}"
        )
    if eps is None:
        eps = np.finfo(np.float64 if x.dtype == np.float64 else np.float32).eps
    return RMSNorm.apply(input, weight, shape=shape, eps=float(eps))
