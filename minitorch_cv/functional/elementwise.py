"""Element-wise ops. Each backward returns gradients of the broadcast shape; the tape sums them
back to each input's shape."""

from __future__ import annotations

import itertools

import numpy as np

from ..backend import to_device as _array_to_device
from ..backend import xp_of
from ..tensor import Function, Tensor, get_default_dtype


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


def _promote(a, b, op="op"):
    """Check that the shapes broadcast (naming the op), and apply PyTorch's promotion for a float
    tensor meeting an integer one or a Python float: float wins and keeps its width, where NumPy
    would widen to float64. NumPy scalars count as Python scalars (they do in PyTorch)."""
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    sa, sb = _shape(a), _shape(b)
    if sa != sb and sa and sb:
        broadcast_shapes(op, sa, sb)
    fa = isinstance(a, Tensor) and a.dtype.kind == "f"
    fb = isinstance(b, Tensor) and b.dtype.kind == "f"
    if isinstance(a, Tensor) and not fa and (fb or isinstance(b, float)):
        a = a.to(b.dtype if fb else get_default_dtype())
    if isinstance(b, Tensor) and not fb and (fa or isinstance(a, float)):
        b = b.to(a.dtype if fa else get_default_dtype())
    return a, b


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


class Pow(Function):
    """y = a ** b;  dy/da = b a^(b-1) (0 where b = 0),  dy/db = y log(a) (0 where a <= 0)."""

    @staticmethod
    def forward(ctx, a, b):
        y = a**b
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
        if a.dtype.kind in "iub" and fn != "sign":  # integers are already whole: keep dtype
            return a.copy()
        return getattr(xp_of(a), fn)(a)

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
        from ..backend import device_of

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


def add(input, other, *, alpha=1):
    input, other = _promote(input, other, "add")
    return Add.apply(input, other if alpha == 1 else mul(other, alpha))


def sub(input, other, *, alpha=1):
    input, other = _promote(input, other, "sub")
    return Sub.apply(input, other if alpha == 1 else mul(other, alpha))


def mul(input, other):
    return Mul.apply(*_promote(input, other, "mul"))


def div(input, other):
    a, b = _promote(input, other, "div")
    # true division of integers gives the default float, as in PyTorch
    a, b = (
        t.to(get_default_dtype()) if isinstance(t, Tensor) and t.dtype.kind != "f" else t
        for t in (a, b)
    )
    return Div.apply(a, b)


def pow(input, exponent):  # noqa: A001
    return Pow.apply(*_promote(input, exponent, "pow"))


def neg(input):
    return Neg.apply(input)


def exp(input):
    return Exp.apply(input)


def log(input):
    return Log.apply(input)


def log1p(input):
    return Log1p.apply(input)


def expm1(input):
    return Expm1.apply(input)


def floor(input):
    return Step.apply(input, fn="floor")


def ceil(input):
    return Step.apply(input, fn="ceil")


def round(input):  # noqa: A001  (torch.round: halves to even, as NumPy's rint)
    return Step.apply(input, fn="rint")


def trunc(input):
    return Step.apply(input, fn="trunc")


def sign(input):
    return Step.apply(input, fn="sign")


def isnan(input):
    return Tensor(xp_of(input._data).isnan(input._data))


def isfinite(input):
    return Tensor(xp_of(input._data).isfinite(input._data))


def sqrt(input):
    return Sqrt.apply(input)


def rsqrt(input):
    return div(1.0, sqrt(input))


def square(input):
    return mul(input, input)


def abs(input):  # noqa: A001
    return Abs.apply(input)


def sin(input):
    return Sin.apply(input)


def cos(input):
    return Cos.apply(input)


def atan(input):
    return Atan.apply(input)


def clamp(input, min=None, max=None):  # noqa: A002
    """Limit values to [min, max]; either bound may be None."""
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    min, max = (b._data if isinstance(b, Tensor) else b for b in (min, max))
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
