"""Element-wise ops. Each backward returns gradients of the broadcast shape; the tape sums them
back to each input's shape."""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np

from ..backend import device_of, xp_of
from ..backend import to_device as _array_to_device
from ..tensor import Function, Tensor, _wrapped_int, get_default_dtype, result_type

# (activation imports nothing from here)
from .activation import (
    _ERF_BLOCK,
    _blockwise,
    _erf_float64,
    _erf_small,
    _erfc_large,
    _horner,
)
from .precision import half_as_float32, int_as_float, require_floating


def _shape(a):
    return tuple(a.shape) if hasattr(a, "shape") else ()


def broadcast_shapes(op, *shapes):
    """NumPy's broadcast result shape, or a ValueError naming the op and the shapes."""
    out = []
    for dims in itertools.zip_longest(*(reversed(s) for s in shapes), fillvalue=1):
        sizes = set(dims) - {1}
        if len(sizes) > 1:
            shown = " and ".join(str(tuple(s)) for s in shapes)
            raise ValueError(f"{op}: shapes {shown} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(reversed(out))


def _as_dtype(x, dtype):
    """A tensor (differentiably) or array in `dtype`; a Python number stays one (NumPy computes
    it in the other operand's dtype), but an int that dtype cannot hold wraps around as PyTorch's
    does (uint8 tensor + 300 adds 44; NumPy would raise)."""
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else x.to(dtype)
    if hasattr(x, "dtype"):
        return x if x.dtype == dtype else x.astype(dtype)
    return _wrapped_int(x, dtype)


# exact types: np.float64 subclasses float, and NumPy would widen float32 by it
_PY_NUMBERS = (int, float, bool)


def _promote(a, b, op="op", floating=False):
    """Check that the shapes broadcast (naming the op), and bring both operands to PyTorch's
    result dtype (`result_type`): a float tensor meeting an integer one keeps its width, a 0-d
    tensor or a Python number changes a tensor's dtype only when of a higher category, where
    NumPy would widen (float32 with int64 or a float64 0-d tensor: float64 in NumPy). NumPy
    scalars count as Python numbers (they do in PyTorch). `floating`: an integer result dtype
    becomes the default float (true division: uint8 tensor / 300 divides by 300, not by the
    44 that 300 wraps to in uint8)."""
    # fast paths of the common cases (this runs on every binary op of a training step): two
    # tensors of one dtype, a float tensor with a Python number; result_type agrees on both
    if isinstance(a, Tensor):
        da = a._data.dtype
        if isinstance(b, Tensor):
            if b._data.dtype == da and (da.kind == "f" or not floating):
                sa, sb = a._data.shape, b._data.shape
                if sa != sb and sa and sb:
                    broadcast_shapes(op, sa, sb)
                return a, b
        elif da.kind == "f" and type(b) in _PY_NUMBERS:
            return a, b
    elif isinstance(b, Tensor) and b._data.dtype.kind == "f" and type(a) in _PY_NUMBERS:
        return a, b
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    sa, sb = _shape(a), _shape(b)
    if sa != sb and sa and sb:
        broadcast_shapes(op, sa, sb)
    dtype = result_type(a, b)
    if floating and dtype.kind != "f":
        dtype = get_default_dtype()
    return _as_dtype(a, dtype), _as_dtype(b, dtype)


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    """y = a * b;  da = g * b,  db = g * a (each factor is kept only if the other needs it)."""

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return (g * b if ctx.needs_input_grad[0] else None), (
            g * a if ctx.needs_input_grad[1] else None
        )


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g / b if ctx.needs_input_grad[0] else None
        gb = -g * a / (b * b) if ctx.needs_input_grad[1] else None
        return ga, gb


def _int_pow(a, b):
    """a ** b of integers, a negative exponent as PyTorch takes it (NumPy refuses it): 1 for a
    base of 1, +-1 for -1 by the exponent's parity, else 0."""
    xp = xp_of(a, b)
    neg = b < 0
    if not xp.any(neg):
        return a**b
    y = a ** xp.where(neg, 0, b)
    at_neg = xp.where(a == 1, 1, xp.where(a == -1, 1 - 2 * (b & 1), 0))
    return xp.where(neg, at_neg, y).astype(y.dtype, copy=False)


class Pow(Function):
    """y = a ** b;  dy/da = b a^(b-1) (0 where b = 0),  dy/db = y log(a) (0 where a <= 0)."""

    @staticmethod
    def forward(ctx, a, b):
        # an integer exponent array may hold negatives (a negative Python int was refused)
        y = _int_pow(a, b) if getattr(b, "dtype", np.dtype(float)).kind in "iu" else a**b
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        ga = gb = None
        xp = xp_of(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            if ctx.needs_input_grad[0]:
                ga = g * xp.where(b == 0, 0, b * a ** (b - 1))  # a^0 = 1 has slope 0, even at a = 0
            if ctx.needs_input_grad[1]:
                gb = g * xp.where(a > 0, y * xp.log(xp.where(a > 0, a, 1)), 0)
        return ga, gb


def _trunc_divide(xp, a, b):
    """Integer a / b rounded toward zero, as C's `/` (-5 / 2 is -2, where // gives -3): the
    floor is one below it where the quotient is negative and inexact. Arrays in, an array out
    (RoundedDiv's 'trunc', the integer average poolings)."""
    q = xp.floor_divide(a, b)
    return q + ((q < 0) & (q * b != a)).astype(q.dtype)


class RoundedDiv(Function):
    """a / b rounded toward zero (mode 'trunc') or down ('floor', Python's // for floats and
    integers alike), in the operands' dtype; piecewise constant, so the gradient is 0 (PyTorch's
    choice)."""

    @staticmethod
    def forward(ctx, a, b, *, mode):
        _check_int_divisor("div", a, b)
        xp = xp_of(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):
            if mode == "floor":
                return xp.floor_divide(a, b)
            if a.dtype.kind == "f":
                return xp.trunc(a / b)
            return _trunc_divide(xp, a, b)

    @staticmethod
    def backward(ctx, g):
        z = xp_of(g).zeros_like(g)
        return z, z


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        y = xp_of(a).exp(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Log1p(Function):
    """log(1 + x), accurate for small x;  d/dx = 1 / (1 + x)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).log1p(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (1 + a)


class Expm1(Function):
    """exp(x) - 1, accurate for small x;  d/dx = exp(x) = y + 1."""

    @staticmethod
    def forward(ctx, a):
        y = xp_of(a).expm1(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y + 1)


class Step(Function):
    """floor, ceil, round, trunc, sign: piecewise constant, so the gradient is 0 (PyTorch's
    choice too, rather than no gradient at all)."""

    @staticmethod
    def forward(ctx, a, *, fn):
        if a.dtype.kind == "b" or (a.dtype.kind in "iu" and fn != "sign"):
            return a.copy()  # integers are already whole, and bools their own sign: keep dtype
        xp = xp_of(a)
        y = getattr(xp, fn)(a)
        if fn == "sign" and a.dtype.kind == "f" and y.ndim:
            y[xp.isnan(y)] = 0  # PyTorch: sign(nan) = 0 (a masked write: where() is 3x slower)
        elif fn == "sign" and a.dtype.kind == "f":
            y = xp.where(xp.isnan(y), 0, y).astype(a.dtype)  # (0-d: NumPy's sign gives a scalar)
        return y

    @staticmethod
    def backward(ctx, g):
        return xp_of(g).zeros_like(g)


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        y = xp_of(a).sqrt(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2 * y)


class Abs(Function):
    """d|a|/da = sign(a), and 0 at 0 (PyTorch's choice)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp_of(a).sign(a)


class Sin(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).sin(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp_of(a).cos(a)


class Cos(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).cos(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g * xp_of(a).sin(a)


class Atan(Function):
    """d atan(a)/da = 1 / (1 + a^2)."""

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arctan(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (1 + a * a)


class Clamp(Function):
    """Gradient passes where min <= a <= max (both ends included, as PyTorch); bounds are
    numbers or arrays broadcasting against `a` (no gradient flows to them)."""

    @staticmethod
    def forward(ctx, a, *, min=None, max=None):  # noqa: A002
        xp = xp_of(a)
        y = xp.clip(a, min, max)
        if y.dtype != a.dtype:
            y = y.astype(a.dtype)
        mask = True
        if min is not None:
            mask = mask & (a >= min)
        if max is not None:
            mask = mask & (a <= max)
        ctx.save_for_backward(mask)
        return y

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


class Maximum(Function):
    """Ties split the gradient in half between the two inputs (PyTorch's rule)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a, b).maximum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        share = xp_of(g).where(a == b, g.dtype.type(0.5), a > b).astype(g.dtype, copy=False)
        return g * share, g * (1 - share)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a, b).minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        share = xp_of(g).where(a == b, g.dtype.type(0.5), a < b).astype(g.dtype, copy=False)
        return g * share, g * (1 - share)


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return xp_of(cond, a, b).where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        return None, g * cond, g * ~cond


class Cast(Function):
    @staticmethod
    def forward(ctx, a, *, dtype):
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.in_dtype) if ctx.in_dtype.kind == "f" else None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, *, device):
        ctx.src = device_of(a)
        return _array_to_device(a, device)

    @staticmethod
    def backward(ctx, g):
        return _array_to_device(g, ctx.src)


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# --------------------------------------------------------------------------- public API


def _scaled(op, input, other, alpha):
    """add's and sub's operands in their result dtype, other times alpha in it too, as PyTorch
    (alpha does not promote: bool + 2 * bool stays bool, and an integer result refuses a float
    alpha rather than truncate it)."""
    input, other = _promote(input, other, op)
    if alpha is not True and alpha == 1:
        return input, other
    dtype = (input if isinstance(input, Tensor) else other).dtype
    if dtype.kind != "f" and isinstance(alpha, float):
        raise TypeError(f"{op}: alpha must be an integer for {dtype} tensors, got {alpha}")
    if isinstance(alpha, bool) and dtype.kind != "b":
        raise TypeError(f"{op}: a bool alpha needs bool tensors, got {dtype}")
    scaled = mul(other, alpha) if isinstance(other, Tensor) else other * alpha
    return input, _as_dtype(scaled, dtype)


def add(input, other, *, alpha=1):
    return Add.apply(*_scaled("add", input, other, alpha))


def sub(input, other, *, alpha=1):
    return Sub.apply(*_scaled("sub", input, other, alpha))


def mul(input, other):
    return Mul.apply(*_promote(input, other, "mul"))


def div(input, other, *, rounding_mode=None):
    """input / other. rounding_mode None: true division (integers give the default float);
    'trunc' rounds toward zero and 'floor' down (Python's //), in the operands' promoted dtype,
    so integers stay integers (a zero integer divisor is then an error), as torch.div."""
    if rounding_mode is None:  # true division of integers gives the default float, as in PyTorch
        return Div.apply(*_promote(input, other, "div", floating=True))
    if rounding_mode not in ("trunc", "floor"):
        raise ValueError(
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    a, b = _operands("div", input, other, floating=False)
    if a.dtype.kind == "b":
        raise TypeError(f"div: rounding_mode={rounding_mode!r} is not defined for bool tensors")
    return RoundedDiv.apply(a, b, mode=rounding_mode)


def pow(input, exponent):  # noqa: A001
    """input ** exponent in the promoted dtype; for integers a negative exponent tensor gives
    PyTorch's answer (1 ** -n = 1, (-1) ** -n = +-1, else 0), a negative number is refused."""
    a, b = _promote(input, exponent, "pow")
    dtype = (a if isinstance(a, Tensor) else b).dtype
    if dtype.kind == "b":
        raise TypeError("pow: not defined for two bool operands")
    if dtype.kind in "iu" and not isinstance(b, Tensor) and b < 0:
        raise ValueError(
            f"pow: integers to negative integer powers are not allowed (exponent {b}); use a "
            "floating point tensor"
        )
    return Pow.apply(a, b)


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(int_as_float(input))


def log(input):
    return Log.apply(int_as_float(input))


def log1p(input):
    return Log1p.apply(int_as_float(input))


def expm1(input):
    return Expm1.apply(int_as_float(input))


def floor(input):
    return Step.apply(input, fn="floor")


def ceil(input):
    return Step.apply(input, fn="ceil")


def round(input, *, decimals=0):  # noqa: A001  (torch.round: halves to even, as NumPy's rint)
    """The nearest integer (halves to even), or the nearest multiple of 10**-decimals, computed
    as PyTorch does: rint(x * 10**d) / 10**d, or rint(x / 10**-d) * 10**-d for d < 0."""
    if decimals == 0:
        return Step.apply(input, fn="rint")
    _float_only("round", _check_tensor("round", input))  # (torch: no integer decimals either)
    ten = 10.0 ** abs(decimals)  # float16 in float32, as torch (25 * 1000 is not a float16)
    if decimals > 0:
        return half_as_float32(lambda x: Step.apply(x * ten, fn="rint") / ten, input)
    return half_as_float32(lambda x: Step.apply(x / ten, fn="rint") * ten, input)


def trunc(input):
    return Step.apply(input, fn="trunc")


def sign(input):
    return Step.apply(input, fn="sign")


def isnan(input):
    return Tensor(xp_of(input._data).isnan(input._data))


def isfinite(input):
    return Tensor(xp_of(input._data).isfinite(input._data))


def sqrt(input):
    return Sqrt.apply(int_as_float(input))


def rsqrt(input):
    return div(1.0, sqrt(input))


def square(input):
    if isinstance(input, Tensor) and input.dtype.kind == "b":
        input = input.to(np.int64)  # torch.square is pow(x, 2): a bool squares to int64
    return mul(input, input)


def abs(input):  # noqa: A001
    return Abs.apply(input)


def sin(input):
    return Sin.apply(int_as_float(input))


def cos(input):
    return Cos.apply(int_as_float(input))


def atan(input):
    return Atan.apply(int_as_float(input))


def clamp(input, min=None, max=None):  # noqa: A002
    """Limit values to [min, max]; either bound may be None, a number or a tensor (broadcast).
    The result has PyTorch's promoted dtype: an integer tensor clamped to 0.5 is a float tensor
    (the bound is not truncated), clamped to a float64 tensor a float64 one. A number outside an
    integer dtype's range is taken as it is (PyTorch wraps -1 to 255 for uint8)."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    _check_tensor("clamp", input)
    dtype = result_type(input, *(b for b in (min, max) if b is not None))
    input = _as_dtype(input, dtype)
    min, max = (
        b._data.astype(dtype, copy=False) if isinstance(b, Tensor) else b for b in (min, max)
    )
    return Clamp.apply(input, min=min, max=max)


clip = clamp


def maximum(input, other):
    return Maximum.apply(*_promote(input, other, "maximum"))


def minimum(input, other):
    return Minimum.apply(*_promote(input, other, "minimum"))


def where(condition, input, other):
    """Pick `input` where `condition` is true, else `other` (all three broadcast together)."""
    cond = condition._data if isinstance(condition, Tensor) else condition
    if getattr(cond, "dtype", None) is None or cond.dtype != np.bool_:
        raise TypeError(
            f"where: condition must be a boolean tensor, got {getattr(cond, 'dtype', type(cond))}"
        )
    input, other = _promote(input, other, "where")
    broadcast_shapes(
        "where (condition, input, other)", tuple(cond.shape), _shape(input), _shape(other)
    )
    return Where.apply(cond, input, other)


def cast(input, dtype):
    return Cast.apply(input, dtype=np.dtype(dtype))


def to_device(input, device):
    return ToDevice.apply(input, device=device)


def clone(input):
    return Clone.apply(input)


# --------------------------------------------------------------------------- more of torch's math
#
# The error function and its inverse, trigonometric and hyperbolic functions, logs and powers in
# base 2 and 10, remainders, NaN-ignoring max/min, lerp / addcmul / addcdiv, and the boolean and
# bitwise ops. Functions of one float give the default float dtype for integer and bool tensors
# (torch.tan(int_tensor) is float32); inf and nan at the edge of a domain are the answer
# (log2(0) = -inf, asin(2) = nan), computed without NumPy's warnings, as in PyTorch.

_TWO_OVER_SQRT_PI = 2 / math.sqrt(math.pi)
_LN2, _LN10 = math.log(2), math.log(10)


def _quiet(fn):
    """Run `fn` with NumPy's floating-point warnings off (CuPy has none)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return wrapper


def _erfc_float64(x):
    """erfc of a float64 1-d array, to ~1e-15 relative (its tail included: erfc(26) is
    5.7e-296): 1 - erf(x) below |x| = 0.75, activation's _erfc_large above, and
    erfc(x) = 2 - erfc(-x) for x <= -0.75."""
    xp = xp_of(x)
    a = xp.abs(x)
    i, j = xp.flatnonzero(a < 0.75), xp.flatnonzero(a >= 0.75)  # nan in neither: it stays
    out = a.copy()
    e = _erf_small(xp.take(x, i))
    out[i] = xp.subtract(1, e, out=e)
    out[j] = _erfc_large(xp.take(a, j), relative=True)
    neg = xp.flatnonzero(x <= -0.75)
    out[neg] = 2 - xp.take(out, neg)
    return out


# erfinv: a first guess from a polynomial (relative error < 3e-7), then one Halley step on
# f(x) = erf(x) - |y| (f'' = -2x f', so the step is f / (f' + x f); cubic: ~1e-19 after it).
# |y| <= 0.75: x = |y| p(u), u = |y|^2 / 0.28125 - 1 in [-1, 1];
# |y| > 0.75:  x = s p(u), s = sqrt(-log(1 - |y|)), u = (1/s - mid) / half mapping s in
#              [sqrt(log 4), 6.1] onto [-1, 1] (1 - |y| >= 2^-53 there).
# Both p are Chebyshev interpolants computed with mpmath (of erfinv(y)/y in y^2, of erfinv(y)/s
# in 1/s), written as power series. f is erf(x) - |y| from the Taylor series near 0 and
# (1 - |y|) - erfc(x) in the tail, both exact to a few ulps: no cancellation near |y| = 1.
_ERFINV_CENTRE = (6.4480763672762856e-5, 1.9222516841178949e-4, 4.5921523868902927e-4,
                  1.482825547622264e-3, 5.1749202730609236e-3, 1.9696648692295804e-2,
                  9.3467751006271042e-2, 9.6402146532781394e-1)  # fmt: skip
_ERFINV_TAIL_R = (1 / 6.1, 1 / math.sqrt(math.log(4)))  # the range of 1/s
_ERFINV_TAIL = (3.0251139479182428e-5, -6.0034592218676357e-5, 4.4008414621700106e-5,
                -1.2996931855797053e-4, 7.1334057546312649e-4, -3.0843747699351642e-3,
                8.3983455733793434e-3, 1.335992489878963e-3, -1.4763066360605641e-1,
                8.31238333154864e-1)  # fmt: skip


def _halley_erf(x, f):
    """One Halley step for erf(x) = c given f = erf(x) - c, in place on x."""
    xp = xp_of(x)
    d = x * x
    xp.negative(d, out=d)
    xp.exp(d, out=d)
    d *= _TWO_OVER_SQRT_PI
    d += x * f
    x -= xp.divide(f, d, out=d)
    return x


def _erfinv_float64(y):
    """erfinv of a float64 1-d array: +-inf at +-1, nan outside [-1, 1], the sign of -0.0 kept."""
    xp = xp_of(y)
    a = xp.abs(y)
    out = xp.where(a == 1, math.inf, math.nan)
    i, j = xp.flatnonzero(a <= 0.75), xp.flatnonzero((a > 0.75) & (a < 1))
    z = xp.take(a, i)
    u = z * z
    u *= 1 / 0.28125
    u -= 1
    x = _horner(_ERFINV_CENTRE, u)
    x *= z
    f = _erf_small(x)
    out[i] = _halley_erf(x, xp.subtract(f, z, out=f))
    q = 1 - xp.take(a, j)  # exact
    s = xp.log(q)
    xp.negative(s, out=s)
    xp.sqrt(s, out=s)
    lo, hi = _ERFINV_TAIL_R
    u = 1 / s
    u -= (hi + lo) / 2
    u *= 2 / (hi - lo)
    x = _horner(_ERFINV_TAIL, u)
    x *= s
    f = _erfc_large(x, relative=True)
    out[j] = _halley_erf(x, xp.subtract(q, f, out=f))
    return xp.copysign(out, y, out=out)


class Erf(Function):
    """erf(x) = 2/sqrt(pi) int_0^x e^(-t^2) dt;  derivative 2/sqrt(pi) e^(-x^2). Every float
    dtype is computed in float64 (so float32 results are correctly rounded, or within an ulp)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _blockwise(_erf_float64, a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * (_TWO_OVER_SQRT_PI * xp_of(a).exp(-a * a))


class Erfc(Function):
    """erfc(x) = 1 - erf(x), accurate where it is tiny;  derivative -2/sqrt(pi) e^(-x^2)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return _blockwise(_erfc_float64, a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * (-_TWO_OVER_SQRT_PI * xp_of(a).exp(-a * a))


class Erfinv(Function):
    """y = erfinv(x), erf(y) = x;  dy/dx = 1 / erf'(y) = sqrt(pi)/2 e^(y^2) (inf at x = +-1)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        y = _blockwise(_erfinv_float64, a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (math.sqrt(math.pi) / 2 * xp_of(y).exp(y * y))


class Reciprocal(Function):
    """y = 1 / x;  dy/dx = -y^2."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        y = 1 / a
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return -g * (y * y)


class Tan(Function):
    """y = tan(x);  dy/dx = 1 + y^2."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        y = xp_of(a).tan(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 + y * y)


class Sinh(Function):
    """d sinh(x)/dx = cosh(x)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).sinh(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp_of(a).cosh(a)


class Cosh(Function):
    """d cosh(x)/dx = sinh(x)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).cosh(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * xp_of(a).sinh(a)


class Asin(Function):
    """d asin(x)/dx = 1 / sqrt(1 - x^2) (nan outside [-1, 1], as asin itself)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arcsin(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / xp_of(a).sqrt(1 - a * a)


class Acos(Function):
    """d acos(x)/dx = -1 / sqrt(1 - x^2)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arccos(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return -g / xp_of(a).sqrt(1 - a * a)


class Asinh(Function):
    """d asinh(x)/dx = 1 / sqrt(x^2 + 1)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arcsinh(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / xp_of(a).sqrt(a * a + 1)


class Acosh(Function):
    """d acosh(x)/dx = 1 / sqrt(x^2 - 1) (x >= 1)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arccosh(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / xp_of(a).sqrt(a * a - 1)


class Atanh(Function):
    """d atanh(x)/dx = 1 / (1 - x^2) (|x| < 1)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).arctanh(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (1 - a * a)


class Log2(Function):
    """d log2(x)/dx = 1 / (x ln 2)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).log2(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (a * _LN2)


class Log10(Function):
    """d log10(x)/dx = 1 / (x ln 10)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return xp_of(a).log10(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / (a * _LN10)


class Exp2(Function):
    """y = 2^x;  dy/dx = y ln 2."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        y = xp_of(a).exp2(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * _LN2


class Frac(Function):
    """frac(x) = x - trunc(x) (the sign of x; frac(-0.0) = 0.0, frac(inf) = nan);  slope 1."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        return a - xp_of(a).trunc(a)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        return g


class Logit(Function):
    """logit(x) = log(z / (1 - z)), z = x clamped to [eps, 1 - eps] when eps is given;
    derivative 1 / (x (1 - x)), 0 outside [eps, 1 - eps] (nan outside [0, 1] without eps), and
    +-inf by the sign of the incoming gradient at 0 and 1 (PyTorch's g * inf)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, *, eps):
        xp = xp_of(a)
        z = a
        if eps is not None:
            z = xp.where(a < eps, eps, xp.where(a > 1 - eps, 1 - eps, a)).astype(a.dtype)
        ctx.save_for_backward(a)
        ctx.eps = eps
        return xp.log(z / (1 - z))

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp, eps = xp_of(a), ctx.eps
        d = xp.where((a == 0) | (a == 1), g * math.inf, g / (a * (1 - a)))  # as PyTorch at 0, 1
        if eps is None:
            return xp.where((a < 0) | (a > 1), math.nan, d)
        return xp.where((a < eps) | (a > 1 - eps), 0, d)


class Sinc(Function):
    """sinc(x) = sin(pi x) / (pi x), 1 at 0;  derivative (pi x cos(pi x) - sin(pi x)) / (pi x^2),
    0 where pi x^2 is 0 (underflow included, as PyTorch)."""

    @staticmethod
    @_quiet
    def forward(ctx, a):
        xp = xp_of(a)
        p = math.pi * a
        ctx.save_for_backward(a)
        return xp.where(a == 0, 1, xp.sin(p) / p)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        xp = xp_of(a)
        p, sq = math.pi * a, a * a * math.pi
        return xp.where(sq == 0, 0, g * (p * xp.cos(p) - xp.sin(p)) / sq)  # 0 where pi x^2


class Xlogy(Function):
    """xlogy(x, y) = x log(y), 0 where x = 0 (whatever y but nan), nan where y is nan;
    d/dx = log(y), taken as 0 where x = 0 and y <= 0 (log(y) is -inf or nan there), as PyTorch;
    d/dy = x / y."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        xp = xp_of(a, b)
        ctx.save_for_backward(a, b)
        y = xp.where(a == 0, 0, a * xp.log(b))
        return xp.where(xp.isnan(b), math.nan, y)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = xp_of(a, b)
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = xp.where(xp.isnan(b), math.nan, xp.where(g == 0, 0, g * xp.log(b)))
            ga = xp.where((a == 0) & (b <= 0), 0, ga)
        if ctx.needs_input_grad[1]:
            gb = g * a / b
        return ga, gb


class Atan2(Function):
    """y = atan2(a, b), the angle of the point (b, a);  da = b / (a^2 + b^2),
    db = -a / (a^2 + b^2), both 0 at the origin (PyTorch's choice)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return xp_of(a, b).arctan2(a, b)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = xp_of(a, b)
        recip = 1 / (a * a + b * b)
        recip = xp.where(xp.isinf(recip), 0, recip)
        return g * b * recip, g * -a * recip


class Hypot(Function):
    """y = sqrt(a^2 + b^2) without overflow;  da = a / y, db = b / y."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        y = xp_of(a, b).hypot(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        return g * a / y, g * b / y


class LogAddExp(Function):
    """y = log(e^a + e^b) without overflow;  da = 1 / (1 + e^(b - a)), db = 1 / (1 + e^(a - b))
    (softmax weights of the two); base 2 with exp2 for logaddexp2."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b, *, base2):
        xp = xp_of(a, b)
        ctx.save_for_backward(a, b)
        ctx.base2 = base2
        # max(a, b) + log(1 + e^-|a - b|): NumPy's own logaddexp is a scalar loop, ~12x slower.
        # a - b is nan for equal infinities: fmin makes that 0, then -inf + log 2 = -inf and
        # inf + log 2 = inf, as they should be (nan inputs stay nan through the max)
        d = xp.asarray(a - b)  # (an array even for 0-d input: the steps below write into it)
        xp.abs(d, out=d)
        xp.negative(d, out=d)
        xp.fmin(d, 0, out=d)
        if base2:
            y = xp.log1p(xp.exp2(d, out=d), out=d)
            y *= 1 / _LN2
        else:
            y = xp.log1p(xp.exp(d, out=d), out=d)
        y += xp.maximum(a, b)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        xp = xp_of(a, b)
        exp = xp.exp2 if ctx.base2 else xp.exp
        return g / (1 + exp(b - a)), g / (1 + exp(a - b))


def _int_kind(v) -> bool:
    return v.dtype.kind in "iub" if hasattr(v, "dtype") else not isinstance(v, float)


def _check_int_divisor(op, a, b):
    """An integer remainder by zero is an error in PyTorch (NumPy would give 0 and a warning)."""
    if _int_kind(a) and _int_kind(b) and bool(xp_of(a, b).any(b == 0)):
        raise RuntimeError(f"{op}: ZeroDivisionError (an integer tensor divided by zero)")


def _remainder(a, b):
    """Python's a % b as PyTorch computes it: fmod(a, b), plus b where that is nonzero and its
    sign differs from b's (a zero keeps a's sign)."""
    m = xp_of(a, b).fmod(a, b)
    return xp_of(a, b).where((m != 0) & ((b < 0) != (m < 0)), m + b, m)


def _mod_float(a, b, floor):
    """fmod(a, b) (floor=False) or _remainder(a, b) (floor=True) of large float NumPy arrays,
    exact, or None where xp's own is used (CuPy, integers, small arrays): NumPy's fmod is a
    scalar loop (~15 ms a million). fmod = a - q b, q the quotient truncated, while |q| < 2^25:
    float32 / float16 in float64, where q b fits in 52 bits and a - q b is exact; float64 as
    (a - q b_hi) - q b_lo, b split into two halves of 26 bits (Veltkamp), so both products are
    exact. A quotient rounded up across an integer leaves fmod with the wrong sign: one b is
    added back. remainder then adds b where fmod's sign is not b's (as PyTorch). Elements
    beyond that (huge quotients, b = 0, infinities, nan) take NumPy's fmod. In blocks of
    _ERF_BLOCK elements, whose temporaries stay in cache."""
    if not (xp_of(a, b) is np and a.dtype.kind == "f"):
        return None
    shape = np.broadcast_shapes(a.shape, b.shape)
    if math.prod(shape) < 4096:
        return None
    af, bf = (np.broadcast_to(v, shape).reshape(-1) for v in (a, b))
    out = np.empty(af.shape, a.dtype)
    for k in range(0, out.size, _ERF_BLOCK):
        a64, b64 = (v[k : k + _ERF_BLOCK].astype(np.float64) for v in (af, bf))
        q = np.divide(a64, b64)
        np.trunc(q, out=q)
        if a.dtype.itemsize < 8:
            r = np.multiply(q, b64)
            np.subtract(a64, r, out=r)
        else:
            hi = b64 * 134217729.0  # 2^27 + 1
            hi -= np.subtract(hi, b64)
            r = np.multiply(q, hi)
            np.subtract(a64, r, out=r)
            r -= q * np.subtract(b64, hi, out=hi)
            wrong = np.flatnonzero((r != 0) & ((r < 0) != (a64 < 0)))
            r[wrong] += np.copysign(b64[wrong], a64[wrong])
        np.copysign(r, a64, out=r)  # fmod has a's sign, zeros included (fmod(-4, 2) = -0.0)
        done = np.abs(q, out=q) < 2.0**25
        done &= r == r  # (not nan: b = 0 or an infinity)
        if floor:
            back = np.flatnonzero((r != 0) & ((b64 < 0) != (r < 0)) & done)
            r[back] += b64[back]
        rest = np.flatnonzero(~done)
        r[rest] = (_remainder if floor else np.fmod)(a64[rest], b64[rest])
        out[k : k + _ERF_BLOCK] = r
    return out.reshape(shape)


class Remainder(Function):
    """a - floor(a / b) b, the sign of the divisor (Python's %), as PyTorch computes it
    (_remainder; large arrays by _mod_float, the same values); da = 1, db = -floor(a / b)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        _check_int_divisor("remainder", a, b)
        ctx.save_for_backward(a, b)
        r = _mod_float(a, b, floor=True)
        return _remainder(a, b) if r is None else r

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g, (-g * xp_of(a, b).floor_divide(a, b) if ctx.needs_input_grad[1] else None)


class Fmod(Function):
    """a - trunc(a / b) b, the sign of the dividend (C's fmod; large arrays by _mod_float);
    da = 1, db = -trunc(a / b)."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        _check_int_divisor("fmod", a, b)
        ctx.save_for_backward(a, b)
        r = _mod_float(a, b, floor=False)
        return xp_of(a, b).fmod(a, b) if r is None else r

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g, (-g * xp_of(a, b).trunc(a / b) if ctx.needs_input_grad[1] else None)


class FMaxMin(Function):
    """fmax / fmin: the larger / smaller value, a number winning over NaN (NaN only when both
    are). `a` is taken where a >= b (a <= b for fmin), ties included, or b is NaN; else b. The
    gradient goes to the one taken (PyTorch's rule: ties are not split, unlike maximum), and
    on a tie of 0.0 and -0.0 the value is a's, as PyTorch's."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b, *, fn):
        xp = xp_of(a, b)
        take_a = ((a >= b) if fn == "fmax" else (a <= b)) | xp.isnan(b)
        ctx.save_for_backward(take_a)
        return xp.where(take_a, a, b)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (take_a,) = ctx.saved_tensors
        return g * take_a, g * ~take_a


class Copysign(Function):
    """|a| with the sign of b (-0.0 counts as negative);  da = y / a (+-1), 0 where a = 0;
    db = 0."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b):
        y = xp_of(a, b).copysign(a, b)
        ctx.save_for_backward(a, y)
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        a, y = ctx.saved_tensors
        xp = xp_of(a, y)
        ga = g * xp.where(a == 0, 0, y / a) if ctx.needs_input_grad[0] else None
        gb = xp.zeros_like(g) if ctx.needs_input_grad[1] else None
        return ga, gb


class Lerp(Function):
    """y = a + w (b - a), written as b - (b - a)(1 - w) where |w| >= 1/2 (PyTorch's form: exact
    at w = 1); w a number or an array. da = 1 - w, db = w, dw = b - a."""

    @staticmethod
    @_quiet
    def forward(ctx, a, b, w):
        xp = xp_of(a, b, w)
        d = b - a
        if isinstance(w, (int, float)):
            y = a + w * d if abs(w) < 0.5 else b - d * (1 - w)
        else:
            y = xp.where(xp.abs(w) < 0.5, a + w * d, b - d * (1 - w))
        ctx.save_for_backward(w if any(ctx.needs_input_grad[:2]) else None)
        ctx.diff = d if ctx.needs_input_grad[2] else None
        return y

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (w,) = ctx.saved_tensors
        need_a, need_b, need_w = ctx.needs_input_grad
        return (
            g * (1 - w) if need_a else None,
            g * w if need_b else None,
            g * ctx.diff if need_w else None,
        )


class Addcmul(Function):
    """y = a + value t1 t2;  da = 1, dt1 = value t2, dt2 = value t1."""

    @staticmethod
    @_quiet
    def forward(ctx, a, t1, t2, *, value):
        _, need_1, need_2 = ctx.needs_input_grad
        ctx.save_for_backward(t1 if need_2 else None, t2 if need_1 else None)
        ctx.value = value
        return a + value * t1 * t2

    @staticmethod
    @_quiet
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        need_a, need_1, need_2 = ctx.needs_input_grad
        return (
            g if need_a else None,
            g * t2 * ctx.value if need_1 else None,
            g * t1 * ctx.value if need_2 else None,
        )


class Addcdiv(Function):
    """y = a + value t1 / t2;  da = 1, dt1 = value / t2, dt2 = -value t1 / t2^2."""

    @staticmethod
    @_quiet
    def forward(ctx, a, t1, t2, *, value):
        ctx.save_for_backward(t1 if ctx.needs_input_grad[2] else None, t2)
        ctx.value = value
        return a + value * t1 / t2

    @staticmethod
    @_quiet
    def backward(ctx, g):
        t1, t2 = ctx.saved_tensors
        need_a, need_1, need_2 = ctx.needs_input_grad
        v = ctx.value
        return (
            g if need_a else None,
            g * (v / t2) if need_1 else None,
            -g * v * t1 / (t2 * t2) if need_2 else None,
        )


class NanToNum(Function):
    """NaN, +inf and -inf replaced by numbers (+-inf by the dtype's extremes unless given); the
    gradient passes where the input was finite, 0 elsewhere."""

    @staticmethod
    @_quiet
    def forward(ctx, a, *, nan, posinf, neginf):
        xp = xp_of(a)
        if a.dtype.kind != "f":
            return a.copy()
        ctx.save_for_backward(xp.isfinite(a))
        return xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    @staticmethod
    @_quiet
    def backward(ctx, g):
        (finite,) = ctx.saved_tensors
        return g * finite


# --------------------------------------------------------------------------- their public API


def _check_tensor(op, x, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor as {what}, got {type(x).__name__}")
    return x


def _floating(op, x):
    """A tensor as floating point: integer and bool tensors become the default float dtype."""
    _check_tensor(op, x)
    return x if x.dtype.kind == "f" else x.to(get_default_dtype())


def _operands(op, a, b, floating=True):
    """Two operands, at least one a Tensor, promoted as PyTorch does (`_promote`); with
    `floating`, integer and bool tensors then become the default float (atan2 of two int tensors
    is float32)."""
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(
            f"{op}: expected at least one Tensor, got {type(a).__name__} and {type(b).__name__}"
        )
    a, b = _promote(a, b, op, floating)
    # both tensors now share one dtype (NumPy would take xlogy's log(b) of a float32 b in float32
    # before widening to a float64 a); a number becomes a 0-d array of the tensor's dtype, on its
    # device, as PyTorch wraps it: xp.log(2.5) would be a float64 scalar and widen float32
    t = a if isinstance(a, Tensor) else b
    x = b if t is a else a
    if isinstance(x, Tensor):
        return a, b
    x = _array_to_device(np.asarray(x, dtype=t.dtype), device_of(t._data))
    return (a, x) if t is a else (x, b)


def _float_only(op, *tensors):
    """hypot, logaddexp, lerp, frac, ...: PyTorch has no integer version of these."""
    for t in tensors:
        if isinstance(t, Tensor):
            require_floating(op, t)


def erf(input):
    """The error function, 2/sqrt(pi) int_0^x e^(-t^2) dt."""
    return Erf.apply(_floating("erf", input))


def erfc(input):
    """1 - erf(input), accurate where it is tiny (erfc(10) = 2.1e-45)."""
    return Erfc.apply(_floating("erfc", input))


def erfinv(input):
    """The inverse of erf on [-1, 1]: +-inf at +-1, nan outside."""
    return Erfinv.apply(_floating("erfinv", input))


def reciprocal(input):
    """1 / input (integer tensors give the default float)."""
    return Reciprocal.apply(_floating("reciprocal", input))


def tan(input):
    return Tan.apply(_floating("tan", input))


def sinh(input):
    return Sinh.apply(_floating("sinh", input))


def cosh(input):
    return Cosh.apply(_floating("cosh", input))


def asin(input):
    return Asin.apply(_floating("asin", input))


def acos(input):
    return Acos.apply(_floating("acos", input))


def asinh(input):
    return Asinh.apply(_floating("asinh", input))


def acosh(input):
    return Acosh.apply(_floating("acosh", input))


def atanh(input):
    return Atanh.apply(_floating("atanh", input))


def log2(input):
    return Log2.apply(_floating("log2", input))


def log10(input):
    return Log10.apply(_floating("log10", input))


def exp2(input):
    """2 ** input."""
    return Exp2.apply(_floating("exp2", input))


def frac(input):
    """The fractional part, input - trunc(input), with input's sign (floating point only)."""
    _float_only("frac", _check_tensor("frac", input))
    return Frac.apply(input)


def sgn(input):
    """sign(input) for real tensors (torch.sgn: z / |z| for complex ones, which this has not)."""
    return Step.apply(_check_tensor("sgn", input), fn="sign")


def logit(input, eps=None):
    """log(p / (1 - p)); with eps, p is first clamped to [eps, 1 - eps] (and the gradient is 0
    outside). eps=None (or negative) clamps nothing: logit(0) = -inf, logit(2) = nan."""
    if eps is not None and eps < 0:
        eps = None
    return Logit.apply(_floating("logit", input), eps=None if eps is None else float(eps))


def sinc(input):
    """The normalized sinc, sin(pi x) / (pi x), 1 at 0."""
    return Sinc.apply(_floating("sinc", input))


def xlogy(input, other):
    """input * log(other), 0 where input == 0 (so 0 * log(0) = 0), nan where other is nan."""
    return Xlogy.apply(*_operands("xlogy", input, other))


def atan2(input, other):
    """The angle of the point (other, input), in (-pi, pi] (torch.atan2(y, x))."""
    return Atan2.apply(*_operands("atan2", input, other))


arctan2 = atan2


def hypot(input, other):
    """sqrt(input^2 + other^2), without overflow (floating point only)."""
    a, b = _operands("hypot", input, other, floating=False)
    _float_only("hypot", a, b)
    return Hypot.apply(a, b)


def logaddexp(input, other):
    """log(exp(input) + exp(other)), without overflow (floating point only)."""
    a, b = _operands("logaddexp", input, other, floating=False)
    _float_only("logaddexp", a, b)
    return LogAddExp.apply(a, b, base2=False)


def logaddexp2(input, other):
    """log2(2**input + 2**other), without overflow (floating point only)."""
    a, b = _operands("logaddexp2", input, other, floating=False)
    _float_only("logaddexp2", a, b)
    return LogAddExp.apply(a, b, base2=True)


def _no_bool(op, a, b):
    """remainder and fmod of two bools (a bool result) are undefined in PyTorch. (`a`, `b` from
    _operands: a Python bool is by then a 0-d bool array.)"""
    if all(getattr(t, "dtype", None) is not None and t.dtype.kind == "b" for t in (a, b)):
        raise TypeError(f"{op}: not defined for bool tensors")


def remainder(input, other):
    """Python's %: input - floor(input / other) * other, the sign of `other`; integer tensors
    stay integer (a zero divisor is then an error)."""
    a, b = _operands("remainder", input, other, floating=False)
    _no_bool("remainder", a, b)
    return Remainder.apply(a, b)


def fmod(input, other):
    """C's fmod: input - trunc(input / other) * other, the sign of `input`; integer tensors stay
    integer (a zero divisor is then an error)."""
    a, b = _operands("fmod", input, other, floating=False)
    _no_bool("fmod", a, b)
    return Fmod.apply(a, b)


def fmax(input, other):
    """The larger of the two, ignoring NaN (NaN only where both are); ints and bools too."""
    return FMaxMin.apply(*_operands("fmax", input, other, floating=False), fn="fmax")


def fmin(input, other):
    """The smaller of the two, ignoring NaN (NaN only where both are); ints and bools too."""
    return FMaxMin.apply(*_operands("fmin", input, other, floating=False), fn="fmin")


def copysign(input, other):
    """|input| with the sign (bit) of other: copysign(1, -0.0) = -1."""
    return Copysign.apply(*_operands("copysign", input, other))


def _number(op, value, what):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{op}: {what} must be a number, got {type(value).__name__}")
    return value


def lerp(input, end, weight):
    """input + weight * (end - input), weight a number or a tensor (the three broadcast);
    gradients to input, end and a tensor weight. Floating point only; end, and a weight tensor
    with dimensions, must have input's dtype (a 0-d weight is converted), as in PyTorch."""
    _check_tensor("lerp", input)
    _check_tensor("lerp", end, "end")
    _float_only("lerp", input)
    if end.dtype != input.dtype:
        raise TypeError(f"lerp: expected end of dtype {input.dtype}, got {end.dtype}")
    if isinstance(weight, Tensor):
        if weight.dtype != input.dtype:
            if weight.ndim or weight.dtype.kind != "f":
                raise TypeError(f"lerp: expected weight of dtype {input.dtype}, got {weight.dtype}")
            weight = weight.to(input.dtype)
        broadcast_shapes("lerp", input.shape, end.shape, weight.shape)
    else:
        weight = _number("lerp", weight, "weight (if not a tensor)")
        broadcast_shapes("lerp", input.shape, end.shape)
    return Lerp.apply(input, end, weight)


def _promote_three(op, input, tensor1, tensor2):
    """PyTorch's promotion of three tensors (`result_type`); the shapes must broadcast."""
    ts = (input, tensor1, tensor2)
    for t, what in zip(ts, ("input", "tensor1", "tensor2")):
        _check_tensor(op, t, what)
    broadcast_shapes(op, *(t.shape for t in ts))
    # torch's result_type: int32 stays int32 with a bool (NumPy's `value * bool_tensor` would give
    # int64), a 0-d tensor only counts with a higher category
    target = result_type(*ts)
    # every tensor in that dtype, as PyTorch computes: NumPy would form a float32 t1 * t2 before
    # adding it to a float64 input (and overflow a float16 product that float32 holds)
    return tuple(t if t.dtype == target else t.to(target) for t in ts)


def addcmul(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 * tensor2 (the three broadcast); integer tensors stay integer
    (value then truncated to an int, as PyTorch does)."""
    value = _number("addcmul", value, "value")
    a, t1, t2 = _promote_three("addcmul", input, tensor1, tensor2)
    if all(t.dtype.kind == "b" for t in (a, t1, t2)):
        raise TypeError("addcmul: not defined for bool tensors")
    if all(t.dtype.kind != "f" for t in (a, t1, t2)):
        value = int(value)
    return Addcmul.apply(a, t1, t2, value=value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """input + value * tensor1 / tensor2 (the three broadcast); true division, so tensor1 and
    tensor2 may not both be integer (PyTorch refuses that too)."""
    value = _number("addcdiv", value, "value")
    for t, what in ((tensor1, "tensor1"), (tensor2, "tensor2")):
        _check_tensor("addcdiv", t, what)
    if tensor1.dtype.kind != "f" and tensor2.dtype.kind != "f":
        raise TypeError(
            f"addcdiv: integer division of tensor1 ({tensor1.dtype}) by tensor2 "
            f"({tensor2.dtype}) is not supported; convert one of them to a float dtype"
        )
    return Addcdiv.apply(*_promote_three("addcdiv", input, tensor1, tensor2), value=value)


def nan_to_num(input, nan=0.0, posinf=None, neginf=None):
    """NaN -> nan, +inf -> posinf, -inf -> neginf (default: the dtype's largest and smallest
    finite values); integer tensors come back unchanged. The gradient passes where the input
    was finite."""
    _check_tensor("nan_to_num", input)
    return NanToNum.apply(input, nan=nan, posinf=posinf, neginf=neginf)


# --------------------------------------------------------------------------- no gradient: bools,
# bits and signs. Each returns a new tensor outside the graph, as comparisons do.


def _raw(x):
    return x._data if isinstance(x, Tensor) else x


def _binary_raw(op, input, other):
    """The raw operands of a non-differentiable binary op, after checking that `input` is a
    Tensor and the shapes broadcast (naming the op)."""
    _check_tensor(op, input)
    if isinstance(other, np.generic):
        other = other.item()
    if _shape(other):
        broadcast_shapes(op, input.shape, _shape(other))
    return input._data, _raw(other)


def signbit(input):
    """True where the sign bit is set: negative numbers, -0.0 and -nan."""
    a = _check_tensor("signbit", input)._data
    return Tensor(xp_of(a).signbit(a) if a.dtype.kind == "f" else a < 0)


def heaviside(input, values):
    """0 where input < 0, `values` where input == 0, 1 where input > 0 (NaN counts as < 0, as
    in PyTorch); input and values must share a dtype."""
    _check_tensor("heaviside", input)
    _check_tensor("heaviside", values, "values")
    if values.dtype != input.dtype:
        raise TypeError(
            f"heaviside: input ({input.dtype}) and values ({values.dtype}) must have the same dtype"
        )
    a, v = _binary_raw("heaviside", input, values)
    return Tensor(xp_of(a, v).where(a == 0, v, a > 0).astype(a.dtype, copy=False))


def isinf(input):
    a = _check_tensor("isinf", input)._data
    xp = xp_of(a)
    return Tensor(xp.isinf(a) if a.dtype.kind == "f" else xp.zeros(a.shape, dtype=bool))


def isposinf(input):
    a = _check_tensor("isposinf", input)._data
    return Tensor(isinf(input)._data & (a > 0))


def isneginf(input):
    a = _check_tensor("isneginf", input)._data
    return Tensor(isinf(input)._data & (a < 0))


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other| elementwise (asymmetric, as torch.isclose);
    equal infinities are close, NaN only to NaN with equal_nan. Same dtypes required."""
    _check_tensor("isclose", input)
    _check_tensor("isclose", other, "other")
    if input.dtype != other.dtype:
        raise TypeError(
            f"isclose: input ({input.dtype}) and other ({other.dtype}) must have the same dtype"
        )
    if rtol < 0 or atol < 0:
        raise ValueError(f"isclose: rtol and atol must be non-negative, got {rtol} and {atol}")
    a, b = _binary_raw("isclose", input, other)
    xp = xp_of(a, b)
    close = a == b
    if a.dtype.kind != "f":  # integers and bools: compare their values as float64
        a, b = a.astype(np.float64), b.astype(np.float64)
    elif equal_nan:
        close = close | (xp.isnan(a) & xp.isnan(b))
    with np.errstate(invalid="ignore"):  # inf - inf
        diff = xp.abs(a - b)
        return Tensor(close | (xp.isfinite(diff) & (diff <= atol + rtol * xp.abs(b))))


def logical_and(input, other):
    """Elementwise `and` of the values' truth (nonzero is True), any dtypes; bool result."""
    a, b = _binary_raw("logical_and", input, other)
    return Tensor(xp_of(a, b).logical_and(a, b))


def logical_or(input, other):
    a, b = _binary_raw("logical_or", input, other)
    return Tensor(xp_of(a, b).logical_or(a, b))


def logical_xor(input, other):
    a, b = _binary_raw("logical_xor", input, other)
    return Tensor(xp_of(a, b).logical_xor(a, b))


def logical_not(input):
    a = _check_tensor("logical_not", input)._data
    return Tensor(xp_of(a).logical_not(a))


def _bitwise_raw(op, input, other=None):
    """Raw operands of a bitwise op: integer or bool tensors, arrays (`mask & array`, as the
    Tensor operators take) and Python ints, else TypeError."""
    for x in (input,) if other is None else (input, other):
        kind = x.dtype.kind if hasattr(x, "dtype") else None
        if kind is None and isinstance(x, int):
            continue
        if kind not in ("b", "i", "u"):
            got = x.dtype if kind else type(x).__name__
            raise TypeError(f"{op}: only integer and bool tensors are supported, got {got}")
    if other is None:
        return _check_tensor(op, input)._data
    if not isinstance(input, Tensor) and isinstance(other, Tensor):
        input, other = other, input  # bitwise_and(6, t), as torch allows: and, or, xor commute
    a, b = _binary_raw(op, input, other)
    dtype = result_type(a, b)  # int32 & 0-d int64 stays int32, as in torch
    return _as_dtype(a, dtype), _as_dtype(b, dtype)


def bitwise_and(input, other):
    a, b = _bitwise_raw("bitwise_and", input, other)
    return Tensor(xp_of(a, b).bitwise_and(a, b))


def bitwise_or(input, other):
    a, b = _bitwise_raw("bitwise_or", input, other)
    return Tensor(xp_of(a, b).bitwise_or(a, b))


def bitwise_xor(input, other):
    a, b = _bitwise_raw("bitwise_xor", input, other)
    return Tensor(xp_of(a, b).bitwise_xor(a, b))


def bitwise_not(input):
    a = _bitwise_raw("bitwise_not", input)
    return Tensor(xp_of(a).invert(a))
