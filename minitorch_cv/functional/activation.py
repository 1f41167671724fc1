"""Activations and the (log-)softmax, each with its closed-form derivative."""

from __future__ import annotations

import math

from .. import kernels
from ..backend import xp_of
from ..tensor import Function, Tensor
from .precision import half_as_float32, int_as_float, require_floating


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
    """The ELU family, PyTorch's kernel: y = scale x where x > 0, else
    alpha scale (exp(input_scale x) - 1). ELU: scale = input_scale = 1; SELU: alpha, scale the
    self-normalising constants; CELU: input_scale = 1 / alpha.
    Derivative scale where x > 0, else input_scale (y + alpha scale)."""

    @staticmethod
    def forward(ctx, x, *, alpha, scale=1.0, input_scale=1.0):
        xp = xp_of(x)
        mask = x > 0
        neg = (alpha * scale) * xp.expm1(input_scale * xp.minimum(x, 0))
        y = xp.where(mask, x * scale if scale != 1 else x, neg).astype(x.dtype, copy=False)
        ctx.save_for_backward(mask, y)
        ctx.alpha, ctx.scale, ctx.input_scale = alpha, scale, input_scale
        return y

    @staticmethod
    def backward(ctx, g):
        mask, y = ctx.saved_tensors
        a, s, i = ctx.alpha, ctx.scale, ctx.input_scale
        pos = g * s if s != 1 else g
        return xp_of(g).where(mask, pos, g * (i * (y + a * s))).astype(g.dtype, copy=False)


class Hardtanh(Function):
    """x clipped to [lo, hi]; derivative 1 strictly inside, 0 outside and at the ends (PyTorch)."""

    @staticmethod
    def forward(ctx, x, *, lo, hi):
        ctx.save_for_backward((x > lo) & (x < hi))
        # an integer x keeps its dtype (the clipped value truncated, as PyTorch: hardtanh of int
        # 2 with max_val 1.5 is 1), where NumPy's clip would widen it to float64
        return xp_of(x).clip(x, lo, hi).astype(x.dtype, copy=False)

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


class LogSigmoid(Function):
    """log sigmoid(x) = min(x, 0) - log(1 + exp(-|x|)), never overflowing;
    derivative 1 - sigmoid(x) = sigmoid(-x)."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return (xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return (g * _sigmoid(-x)).astype(g.dtype, copy=False)


class Softsign(Function):
    """softsign(x) = x / (1 + |x|);  derivative 1 / (1 + |x|)^2."""

    @staticmethod
    def forward(ctx, x):
        d = 1 + xp_of(x).abs(x)
        ctx.save_for_backward(d)
        return (x / d).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        return (g / (d * d)).astype(g.dtype, copy=False)


class Tanhshrink(Function):
    """tanhshrink(x) = x - tanh(x);  derivative tanh(x)^2."""

    @staticmethod
    def forward(ctx, x):
        t = xp_of(x).tanh(x)
        ctx.save_for_backward(t)
        return x - t

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        return g * (t * t)


class Shrink(Function):
    """Hard and soft shrinkage: 0 on [-lambd, lambd]; outside, x itself (hard) or x moved
    lambd towards 0 (soft). Derivative 1 where |x| > lambd, else 0 (for both)."""

    @staticmethod
    def forward(ctx, x, *, lambd, soft):
        xp = xp_of(x)
        outside = (x > lambd) | (x < -lambd)
        ctx.save_for_backward(outside)
        kept = x - xp.sign(x) * lambd if soft else x
        return xp.where(outside, kept, 0).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (outside,) = ctx.saved_tensors
        return g * outside


class Threshold(Function):
    """x where x > threshold, else value;  derivative 1 where x > threshold, else 0."""

    @staticmethod
    def forward(ctx, x, *, threshold, value):
        above = x > threshold
        ctx.save_for_backward(above)
        return xp_of(x).where(above, x, value).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (above,) = ctx.saved_tensors
        return g * above


class RReLU(Function):
    """Randomized leaky ReLU (Xu et al., 2015): x where x > 0, else a x, with a drawn from
    U(lower, upper) per element in training and a = (lower + upper) / 2 in evaluation;
    derivative 1 where x > 0, else a (the same draw)."""

    @staticmethod
    def forward(ctx, x, slopes):
        xp = xp_of(x)
        a = xp.where(x > 0, 1, slopes).astype(x.dtype, copy=False)
        ctx.save_for_backward(a)
        return x * a

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * a, None


# The error function for float64 arrays (GELU's, and erf / erfc / erfinv in functional.elementwise),
# to ~2 ulps of math.erf, in ~20 array passes. Split at |x| = 0.75:
#   |x| < 0.75:  erf(x) = x p(x^2), p the Taylor series 2/sqrt(pi) sum_n (-1)^n x^2n / (n! (2n+1))
#                to n = 15 (the next term is below 3e-18 there);
#   |x| >= 0.75: erfc(x) = e^(-x^2) erfcx(x), erfcx(x) = t q(u) with t = 4 / (4 + x) and
#                u = (t - mid) / half mapping x in [0.7, 27.5] onto [-1, 1]; q is the degree-18
#                Chebyshev interpolant of erfcx(x) / t, computed with mpmath at 50 digits and
#                written as a power series in u (relative error < 5e-16; beyond 27.5 erfc is 0).
_ERF_TAYLOR = tuple(  # highest power first, for _horner
    2 / math.sqrt(math.pi) * (-1) ** n / (math.factorial(n) * (2 * n + 1))
    for n in range(15, -1, -1)
)
_ERFCX_T = (4 / (4 + 27.5), 4 / (4 + 0.7))  # the range of t
_ERFCX = (6.635931440868017e-11, 4.0274937025300274e-11, -1.1853312129440261e-9,
          -2.2378288422195497e-9, 1.3868980828166157e-8, 6.5261813367458945e-8,
          -4.5687164026636888e-8, -1.2561528985466224e-6, -4.0856340035123446e-6,
          5.1453002771980762e-6, 1.142273398370541e-4, 6.6008740046204448e-4,
          2.6089530216808503e-3, 8.1711189258973596e-3, 2.1460998430749636e-2,
          4.8651795679563314e-2, 9.6801054836486269e-2, 1.7076873239831495e-1,
          2.6873134471212214e-1)  # fmt: skip
_ERF_BLOCK = 1 << 15  # elements per block: the temporaries of a block stay in the CPU's cache


def _horner(coefs, u):
    """sum_k coefs[k] u^(n-k) (highest power first), in place on one new array."""
    p = u * coefs[0]
    p += coefs[1]
    for c in coefs[2:]:
        p *= u
        p += c
    return p


def _erf_small(z):
    """erf(z) for float64 |z| < 0.82 (the Taylor series above)."""
    p = _horner(_ERF_TAYLOR, z * z)
    p *= z
    return p


def _erfc_large(z, relative):
    """erfc(z) for float64 z >= 0.7 (a new array). relative=True keeps its relative accuracy
    where it is tiny: e^(-z^2) as e^(32 - s^2) e^(-(z - s)(z + s)) e^-32, s = z rounded to 1/4096
    (so s^2 is exact, and only the last product can fall below float64's normal range)."""
    xp = xp_of(z)
    z = xp.minimum(z, 27.5)
    t = z + 4
    xp.divide(4, t, out=t)
    lo, hi = _ERFCX_T
    u = t - (hi + lo) / 2
    u *= 2 / (hi - lo)
    p = _horner(_ERFCX, u)
    p *= t
    if relative:
        s = xp.multiply(z, 4096, out=t)
        xp.floor(s, out=s)
        s *= 1 / 4096
        xp.multiply(s, s, out=u)
        xp.subtract(32, u, out=u)
        p *= xp.exp(u, out=u)
        xp.subtract(s, z, out=u)
        u *= xp.add(s, z, out=s)
    else:
        xp.multiply(z, z, out=u)
        xp.negative(u, out=u)
    p *= xp.exp(u, out=u)
    if relative:
        p *= math.exp(-32)
    return p


def _blockwise(fn, x):
    """fn (float64 1-d array -> array of its size) applied to x, the result in x's dtype and shape.
    On NumPy in blocks of _ERF_BLOCK elements: the ~20 passes then run in cache and reuse their
    temporaries, 2-3x faster than whole-array passes at a million elements."""
    xp = xp_of(x)
    flat = x.ravel()
    if flat.size <= _ERF_BLOCK or xp.__name__ != "numpy":  # CuPy: one pass of kernels
        return fn(flat.astype(xp.float64, copy=False)).astype(x.dtype, copy=False).reshape(x.shape)
    out = xp.empty(flat.shape, dtype=x.dtype)
    for k in range(0, flat.size, _ERF_BLOCK):
        out[k : k + _ERF_BLOCK] = fn(flat[k : k + _ERF_BLOCK].astype(xp.float64, copy=False))
    return out.reshape(x.shape)


def _erf_float64(x):
    """erf of a float64 1-d array (erf(-0.0) = -0.0, erf(+-inf) = +-1, nan stays nan)."""
    xp = xp_of(x)
    a = xp.abs(x)
    i, j = xp.flatnonzero(a < 0.75), xp.flatnonzero(a >= 0.75)  # nan in neither: it stays
    out = a.copy()
    out[i] = _erf_small(xp.take(a, i))
    c = _erfc_large(xp.take(a, j), relative=False)
    out[j] = xp.subtract(1, c, out=c)
    return xp.copysign(out, x, out=out)


def _erf(x):
    """The error function, elementwise, on NumPy or CuPy (NumPy has none, and SciPy is not a
    dependency). float64: _erf_float64, within 3e-16 of the true value; float32 (and float16),
    for GELU: Abramowitz & Stegun 7.1.26, |error| < 6e-7 with float32 rounding, a few ulps of
    the results it feeds (F.erf itself computes every dtype through float64)."""
    xp = xp_of(x)
    if x.dtype != xp.float64:
        a = xp.abs(x)
        t = 1 / (1 + 0.3275911 * a)
        poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                    + t * 1.061405429))))  # fmt: skip
        return (xp.sign(x) * (1 - poly * xp.exp(-a * a))).astype(x.dtype, copy=False)
    return _blockwise(_erf_float64, x)


_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


class GELU(Function):
    """gelu(x) = x Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2; derivative
    Phi(x) + x phi(x). approximate='tanh': x (1 + tanh(u)) / 2 with
    u = sqrt(2/pi) (x + 0.044715 x^3), derivative (1 + t) / 2 + x (1 - t^2) u'(x) / 2."""

    @staticmethod
    def forward(ctx, x, *, approximate):
        xp = xp_of(x)
        ctx.approximate = approximate
        if approximate == "tanh":
            t = xp.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
            ctx.save_for_backward(x, t)
            return (0.5 * x * (1 + t)).astype(x.dtype, copy=False)
        cdf = 0.5 * (1 + _erf(x * (1 / math.sqrt(2))))
        ctx.save_for_backward(x, cdf)
        return (x * cdf).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, saved = ctx.saved_tensors
        xp = xp_of(x)
        if ctx.approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            d = 0.5 * (1 + saved) + 0.5 * x * (1 - saved * saved) * du
        else:
            d = saved + x * xp.exp(-0.5 * x * x) * (1 / math.sqrt(2 * math.pi))
        return (g * d).astype(g.dtype, copy=False)


class Mish(Function):
    """mish(x) = x tanh(softplus(x)); derivative t + x sigmoid(x) (1 - t^2) with
    t = tanh(softplus(x))."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        t = xp.tanh(xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x))))
        ctx.save_for_backward(x, t)
        return (x * t).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        return (g * (t + x * _sigmoid(x) * (1 - t * t))).astype(g.dtype, copy=False)


class Hardswish(Function):
    """hardswish(x) = x relu6(x + 3) / 6: 0 below -3, x above 3; derivative x / 3 + 1/2 on
    the open interval (-3, 3), 0 from -3 down, 1 from 3 up (as PyTorch)."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return (x * xp.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        xp = xp_of(x)
        d = xp.where(x <= -3, 0, xp.where(x < 3, x / 3 + 0.5, 1))
        return (g * d).astype(g.dtype, copy=False)


class Hardsigmoid(Function):
    """hardsigmoid(x) = relu6(x + 3) / 6; derivative 1/6 on the open interval (-3, 3), else 0."""

    @staticmethod
    def forward(ctx, x):
        xp = xp_of(x)
        ctx.save_for_backward(x)
        return (xp.clip(x + 3, 0, 6) / 6).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        inside = (x > -3) & (x < 3)
        return (g * inside * (1 / 6)).astype(g.dtype, copy=False)


class PReLU(Function):
    """prelu(x, w) = x where x > 0, else w x, with one learned slope per channel (dim 1) or one
    for all. Gradients: dx = g where x > 0 else w g; dw = sum of g x over x <= 0 and every dim
    but the channel's."""

    @staticmethod
    def forward(ctx, x, w):
        xp = xp_of(x)
        wb = _channel_view(w, x.ndim)
        ctx.save_for_backward(x, wb)
        ctx.w_shape = w.shape
        return xp.where(x > 0, x, wb * x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        x, wb = ctx.saved_tensors
        xp = xp_of(x)
        pos = x > 0
        gx = (
            xp.where(pos, g, wb * g).astype(g.dtype, copy=False)
            if ctx.needs_input_grad[0]
            else None
        )
        gw = None
        if ctx.needs_input_grad[1]:
            gxw = xp.where(pos, 0, g * x)
            if ctx.w_shape[0] == 1:
                gw = gxw.sum().reshape(ctx.w_shape)
            else:
                axes = tuple(i for i in range(x.ndim) if i != 1)
                gw = gxw.sum(axis=axes)
            gw = gw.astype(g.dtype, copy=False)
        return gx, gw


def _channel_view(w, ndim):
    """PReLU's weight shaped to broadcast over dim 1 (the channels) of an ndim input."""
    if w.shape[0] == 1 or ndim < 2:
        return w.reshape(())
    return w.reshape((1, w.shape[0]) + (1,) * (ndim - 2))


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
    if isinstance(input, Tensor) and input.dtype.kind == "b":
        raise TypeError("relu: bool tensors are not supported, got dtype bool")
    return ReLU.apply(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(require_floating("leaky_relu", input), slope=negative_slope)


def elu(input, alpha=1.0, inplace=False):
    return ELU.apply(require_floating("elu", input), alpha=alpha)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the constants of self-normalising networks (Klambauer et al.,
    2017) that keep zero mean and unit variance through the layers: alpha = 1.6733,
    scale = 1.0507."""
    return ELU.apply(require_floating("selu", input), alpha=_SELU_ALPHA, scale=_SELU_SCALE)


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha (exp(x / alpha) - 1)): an ELU whose derivative is continuous at
    0 for every alpha."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    return ELU.apply(require_floating("celu", input), alpha=alpha, input_scale=1.0 / alpha)


def logsigmoid(input):
    return LogSigmoid.apply(require_floating("logsigmoid", input))


def softsign(input):
    return Softsign.apply(int_as_float(input))


def tanhshrink(input):
    return Tanhshrink.apply(int_as_float(input))


def softshrink(input, lambd=0.5):
    """x - lambd where x > lambd, x + lambd where x < -lambd, else 0 (lambd >= 0, as PyTorch
    requires)."""
    if lambd < 0:
        raise ValueError(f"softshrink: lambd must be >= 0, got {lambd}")
    return Shrink.apply(require_floating("softshrink", input), lambd=float(lambd), soft=True)


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, else 0 (a negative lambd keeps everything, as in PyTorch)."""
    return Shrink.apply(require_floating("hardshrink", input), lambd=float(lambd), soft=False)


def threshold(input, threshold, value, inplace=False):  # noqa: A002  (PyTorch's argument name)
    """x where x > threshold, else value."""
    return Threshold.apply(input, threshold=float(threshold), value=float(value))


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False):
    """Randomized leaky ReLU: negative inputs scaled by a slope drawn from U(lower, upper) per
    element when `training`, by (lower + upper) / 2 otherwise. The slopes come from the package
    generator (`minitorch_cv.manual_seed`), drawn on the CPU: the same on every device."""
    if not lower <= upper:
        raise ValueError(f"rrelu: expected lower <= upper, got lower={lower}, upper={upper}")
    require_floating("rrelu", input)
    if not training:
        return LeakyReLU.apply(input, slope=(lower + upper) / 2)
    from ..backend import to_device
    from ..tensor import default_rng

    draw = default_rng().uniform(lower, upper, tuple(input.shape))
    return RReLU.apply(input, to_device(draw.astype(input.dtype), input.device))


def glu(input, dim=-1):
    """The gated linear unit: a * sigmoid(b), with a and b the two halves of `input` along dim
    (the gate b decides how much of a passes)."""
    if input.ndim == 0:
        raise ValueError("glu: needs a dim of even size to halve, got a 0-d input")
    d = _dim(input, dim, "glu")
    if input.shape[d] % 2:
        raise ValueError(
            f"glu: the gated dim must have an even size, got size {input.shape[d]} in dim {dim} "
            f"of shape {tuple(input.shape)}"
        )
    a, b = input.chunk(2, dim=d)
    return a * sigmoid(b)


def softmin(input, dim=None):
    """softmax(-x) along dim: the smallest values get the most mass."""
    return softmax(-require_floating("softmin", input), dim=dim)


def _hardtanh(op, input, min_val, max_val):
    """Integer tensors keep their dtype; bool ones, and unsigned ones with a negative limit, are
    refused, as PyTorch does."""
    if isinstance(input, Tensor) and input.dtype.kind == "b":
        raise TypeError(f"{op}: bool tensors are not supported, got dtype bool")
    if isinstance(input, Tensor) and input.dtype.kind == "u" and min(min_val, max_val) < 0:
        raise TypeError(
            f"{op}: limits ({min_val}, {max_val}) must not be negative for dtype {input.dtype}"
        )
    return Hardtanh.apply(input, lo=min_val, hi=max_val)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} must not exceed max_val {max_val}")
    return _hardtanh("hardtanh", input, min_val, max_val)


def relu6(input, inplace=False):
    return _hardtanh("relu6", input, 0.0, 6.0)


def silu(input, inplace=False):
    return SiLU.apply(require_floating("silu", input))


def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(require_floating("softplus", input), beta=beta, threshold=threshold)


def gelu(input, approximate="none"):
    """x Phi(x); float16 is computed in float32 and rounded back, as PyTorch (in float16,
    1 + erf(x / sqrt 2) cancels to 0 below x = -4: gelu(-3) was 8% off)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    x = require_floating("gelu", input)
    return half_as_float32(lambda t: GELU.apply(t, approximate=approximate), x)


def mish(input, inplace=False):
    return Mish.apply(require_floating("mish", input))


def hardswish(input, inplace=False):
    return Hardswish.apply(require_floating("hardswish", input))


def hardsigmoid(input, inplace=False):
    return Hardsigmoid.apply(require_floating("hardsigmoid", input))


def prelu(input, weight):
    """PReLU with `weight` of shape (1,) (one slope) or (C,) (one per channel of dim 1), of
    input's floating dtype (PyTorch does not promote here either)."""
    require_floating("prelu", input)
    if weight.dtype != input.dtype:
        raise TypeError(
            f"prelu: weight of dtype {weight.dtype} does not match the input's {input.dtype}"
        )
    if weight.ndim != 1:
        raise ValueError(f"prelu: weight must be 1-D, got shape {tuple(weight.shape)}")
    n = weight.shape[0]
    if n != 1 and (input.ndim < 2 or input.shape[1] != n):
        raise ValueError(
            f"prelu: {n} slopes need input with {n} channels in dim 1, got shape "
            f"{tuple(input.shape)}"
        )
    return PReLU.apply(input, weight)


def sigmoid(input):
    return Sigmoid.apply(int_as_float(input))


def tanh(input):
    return Tanh.apply(int_as_float(input))


def softmax(input, dim=None):
    return Softmax.apply(require_floating("softmax", input), dim=_dim(input, dim, "softmax"))


def log_softmax(input, dim=None):
    x = require_floating("log_softmax", input)
    return LogSoftmax.apply(x, dim=_dim(x, dim, "log_softmax"))


# --------------------------------------------------------------------------- in-place aliases
# PyTorch's relu_, elu_, ...: the result is written into the input, which is returned, when no
# graph needs the input's old values: a tensor that needs no gradient (its version bumped, so a
# backward that saved it fails loudly), or anything under no_grad. A leaf that requires grad is
# refused, as PyTorch does, and so is a tensor inside a graph, as `add_` and the other in-place
# methods refuse it (autograd here never rewrites a node's history): returning a new tensor
# instead would leave a bare `F.relu_(h)` silently without effect.


_threshold = threshold  # (threshold_'s argument of that name hides the function)


def _in_place(name, input, op, *args, floating=True):
    """op(input, *args, inplace=True), written into `input` where that is safe (see above).
    elu_ and the other curved ones take floating point input only, as PyTorch (an int tensor
    would silently truncate -0.86 to 0); relu_, hardtanh_ and threshold_ also take ints, their
    result cast to the input's dtype as PyTorch casts the bounds. No op takes bool."""
    kind = input.dtype.kind
    if kind == "b" or (floating and kind != "f"):
        what = "floating point" if floating else "numeric"
        raise TypeError(f"{name}: expected a {what} input, got dtype {input.dtype}")
    if not input._mutable(name, None):  # (raises itself for a leaf that requires grad)
        raise RuntimeError(
            f"{name} on a tensor that is part of a graph is not supported; write "
            f"x = F.{name[:-1]}(x) (or work under no_grad())"
        )
    result = op(input, *args, inplace=True)
    input._data[...] = result._data
    input._version += 1
    return input


def relu_(input):
    """relu with inplace=True."""
    return _in_place("relu_", input, relu, floating=False)


def leaky_relu_(input, negative_slope=0.01):
    """leaky_relu with inplace=True."""
    return _in_place("leaky_relu_", input, leaky_relu, negative_slope)


def elu_(input, alpha=1.0):
    """elu with inplace=True."""
    return _in_place("elu_", input, elu, alpha)


def celu_(input, alpha=1.0):
    """celu with inplace=True."""
    return _in_place("celu_", input, celu, alpha)


def selu_(input):
    """selu with inplace=True."""
    return _in_place("selu_", input, selu)


def hardtanh_(input, min_val=-1.0, max_val=1.0):
    """hardtanh with inplace=True."""
    return _in_place("hardtanh_", input, hardtanh, min_val, max_val, floating=False)


def threshold_(input, threshold, value):  # noqa: A002  (PyTorch's argument name)
    """threshold with inplace=True."""
    return _in_place("threshold_", input, _threshold, threshold, value, floating=False)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False):
    """rrelu with inplace=True."""
    return _in_place("rrelu_", input, rrelu, lower, upper, training)
