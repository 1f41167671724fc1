"""Dtype helpers: integer input of the floating-point ops, and float16 computed in float32, as
PyTorch's CPU kernels do for reductions and normalisations.

NumPy computes float16 in float16: a sum of squares overflows past 65504 (var, std and norm of
values around 300 are inf), a running sum stops growing once its ulp passes the addends (cumsum
of 8192 values in [0, 1) is half what it should be), and 1 + erf(x) cancels to nothing in gelu's
left tail. The ops that suffer route their float16 input through float32 here and round the
result back once (the casts are differentiable, so gradients come back in float16 too).
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor, get_default_dtype


def int_as_float(x):
    """An integer or bool tensor as the default float dtype, as PyTorch's floating-point unary
    ops (exp, log, sin, sigmoid, tanh, ...) promote it; anything else unchanged (NumPy would
    compute them in float64, or in integers and truncate: sigmoid of an int tensor gave 0)."""
    return x.to(get_default_dtype()) if isinstance(x, Tensor) and x.dtype.kind in "biu" else x


# The integer dtypes PyTorch's CPU max pooling and convolutions take (not bool, not uint16 ..
# uint64, which torch stores but has no such kernels for).
INT_KERNEL_DTYPES = ("int8", "int16", "int32", "int64", "uint8")


def require_floating(op: str, x, name: str = "input", ints=()):
    """`x` itself when it is a floating-point Tensor or array, or an integer one whose dtype is
    named in `ints` (anything without a dtype passes through); else a TypeError naming `op`.
    Without `ints`, for the ops PyTorch has no integer kernel for (softmax, gelu, mean, var,
    batch_norm, the losses, ...): NumPy would compute them in integers and truncate, or in
    float64. With them, for those it also computes on integers: max pooling
    (ints=INT_KERNEL_DTYPES), the pooling averages (ints=("int64",))."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return x
    dtype = np.dtype(dtype)
    if dtype.kind == "f" or (dtype.kind in "iu" and dtype.name in ints):
        return x
    if not ints:
        raise TypeError(f"{op}: expected a floating point {name}, got dtype {dtype}")
    what = "integer" if tuple(ints) == INT_KERNEL_DTYPES else " or ".join(ints)
    extra = " (int8 .. int64, uint8)" if what == "integer" else ""
    raise TypeError(f"{op}: expected a floating point or {what} {name}{extra}, got dtype {dtype}")


def _cast_floats(out, dtype):
    """The floating tensors in `out` (a Tensor, or a tuple / namedtuple of them) cast to dtype;
    integer outputs (indices) unchanged."""
    if isinstance(out, Tensor):
        return out.to(dtype) if out.dtype.kind == "f" and out.dtype != dtype else out
    if isinstance(out, tuple):
        items = [_cast_floats(o, dtype) for o in out]
        return type(out)(*items) if hasattr(out, "_fields") else tuple(items)
    return out


def half_as_float32(fn, input, *args):
    """fn(input, *args) for a float16 input: every float16 tensor among them cast to float32
    first, the floating results cast back to float16 (the input's dtype decides, as for a
    layer_norm of float16 input with float32 weights; promote operands to one dtype before);
    for any other input, fn(input, *args) itself."""
    if not (isinstance(input, Tensor) and input.dtype == np.float16):
        return fn(input, *args)
    args = (input, *args)
    up = (a.to(np.float32) if isinstance(a, Tensor) and a.dtype == np.float16 else a for a in args)
    return _cast_floats(fn(*up), np.float16)
