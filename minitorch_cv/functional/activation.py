"""Activations and the (log-)softmax, each with its closed-form derivative."""

from __future__ import annotations

from .. import kernels
from ..backend import xp_of
from ..tensor import Function


def _sigmoid(x):
    """1 / (1 + e^-x) without overflow: e^-|x| is in (0, 1]. Shared by sigmoid, silu, softplus."""
    xp = xp_of(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


class ReLU(Function):
    """relu(x) = max(x, 0);  derivative 1 where x > 0, else 0 (0 at x = 0, as PyTorch).
    Both passes run over batch slices on the worker threads (kernels.for_slices)."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        y = xp.empty_like(x)
        kernels.for_slices(x, lambda s: xp.maximum(x[s], 0, out=y[s]))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        xp = xp_of(g)
        gx = xp.empty(g.shape, dtype=g.dtype)
        kernels.for_slices(g, lambda s: xp.multiply(g[s], y[s] > 0, out=gx[s]))
        return gx


class LeakyReLU(Function):
    """x where x > 0, else slope * x."""

    @staticmethod
    def forward(ctx, x, *, slope):
        mask = x > 0
        ctx.save_for_backward(mask)
        ctx.slope = slope
        return xp_of(x).where(mask, x, x * slope)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return xp_of(g).where(mask, g, g * ctx.slope)


class ELU(Function):
    @staticmethod
    def forward(ctx, x, *, alpha):
        xp = xp_of(x)
        mask = x > 0
        y = xp.where(mask, x, alpha * xp.expm1(xp.minimum(x, 0)))
        ctx.save_for_backward(mask, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, g):
        mask, y = ctx.saved_tensors
        return xp_of(g).where(mask, g, g * (y + ctx.alpha))


class Hardtanh(Function):
    """x clipped to [lo, hi]; derivative 1 strictly inside, 0 outside and at the ends (PyTorch)."""

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.save_for_backward((x > lo) & (x < hi))
        return xp_of(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (inside,) = ctx.saved_tensors
        return g * inside


class SiLU(Function):
    """silu(x) = x sigmoid(x);  derivative s (1 + x (1 - s)) with s = sigmoid(x)."""

    @staticmethod
    def forward(ctx, x):
        s = _sigmoid(x)
        ctx.save_for_backward(x, s)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        return g * (s * (1 + x * (1 - s)))


class Softplus(Function):
    """softplus(x) = log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (as
    PyTorch); derivative sigmoid(beta x), 1 above the threshold."""

    @staticmethod
    def forward(ctx, x, *, beta, threshold):
        xp = xp_of(x)
        z = beta * x
        linear = z > threshold
        # log1p(exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow for large z
        y = xp.where(linear, x, (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / beta)
        ctx.save_for_backward(z, linear)
        return y.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        z, linear = ctx.saved_tensors
        s = _sigmoid(z)
        return g * xp_of(z).where(linear, 1, s).astype(g.dtype, copy=False)


class Sigmoid(Function):
    """s = 1 / (1 + e^-x), computed without overflow;  ds/dx = s (1 - s)."""

    @staticmethod
    def forward(ctx, x):
        y = _sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = xp_of(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class Softmax(Function):
    """s = exp(x - max) / sum(exp(x - max));  dx = s * (g - sum(g * s))."""

    @staticmethod
    def forward(ctx, x, *, dim):
        xp = xp_of(x)
        e = xp.exp(x - x.max(axis=dim, keepdims=True))
        s = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(s)
        ctx.dim = dim
        return s

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        return s * (g - (g * s).sum(axis=ctx.dim, keepdims=True))


class LogSoftmax(Function):
    """l = x - max - log(sum(exp(x - max)));  dx = g - softmax(x) * sum(g)."""

    @staticmethod
    def forward(ctx, x, *, dim):
        xp = xp_of(x)
        shifted = x - x.max(axis=dim, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g - xp_of(g).exp(out) * g.sum(axis=ctx.dim, keepdims=True)


def _dim(x, dim, op):
    if dim is None:
        raise ValueError(f"{op}: pass dim= explicitly (PyTorch deprecated the implicit choice)")
    if not -x.ndim <= dim < max(x.ndim, 1):
        raise IndexError(f"{op}: dim {dim} out of range for input of shape {x.shape}")
    return dim % max(x.ndim, 1)


def relu(input, inplace=False):
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(input, slope=negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return ELU.apply(input, alpha=alpha)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return Hardtanh.apply(input, lo=min_val, hi=max_val)


def relu6(input, inplace=False):
    return Hardtanh.apply(input, lo=0.0, hi=6.0)


def silu(input, inplace=False):
    return SiLU.apply(input)


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(input, beta=beta, threshold=threshold)


def sigmoid(input):
    return Sigmoid.apply(input)


def tanh(input):
    return Tanh.apply(input)


def softmax(input, dim=None):
    return Softmax.apply(input, dim=_dim(input, dim, "softmax"))


def log_softmax(input, dim=None):
    return LogSoftmax.apply(input, dim=_dim(input, dim, "log_softmax"))
