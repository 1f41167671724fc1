"""Element-wise ops: gradients vs central differences over broadcasting shape pairs, parity with
torch, PyTorch's dtype promotion, and errors that name the op and the shapes."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from tests.strategies_core import (
    SETTINGS,
    arrays,
    broadcastable_pairs,
    check_grad,
    check_parity,
    nonzero_arrays,
    positive_arrays,
    shapes,
)

# name -> (fn(lib, a, b), strategy of a given its shape, strategy of b given its shape)
BINARY = {
    "add": (lambda L, a, b: a + b, arrays, arrays),
    "sub": (lambda L, a, b: a - b, arrays, arrays),
    "mul": (lambda L, a, b: a * b, arrays, arrays),
    "div": (lambda L, a, b: a / b, arrays, nonzero_arrays),
    "pow": (lambda L, a, b: a**b, positive_arrays, arrays),
    "add_alpha": (lambda L, a, b: a.add(b, alpha=-2.0), arrays, arrays),
    "maximum": (lambda L, a, b: L.mt.maximum(a, b), arrays, arrays),
    "minimum": (lambda L, a, b: L.mt.minimum(a, b), arrays, arrays),
    "where": (lambda L, a, b: L.mt.where(a > 0, a, b), arrays, arrays),
}

# name -> (fn(lib, a), strategy of a given its shape)
UNARY = {
    "neg": (lambda L, a: -a, arrays),
    "add_scalar": (lambda L, a: a + 2.5, arrays),
    "rsub_scalar": (lambda L, a: 2.5 - a, arrays),
    "mul_scalar": (lambda L, a: -1.5 * a, arrays),
    "rdiv_scalar": (lambda L, a: 3.0 / a, nonzero_arrays),
    "square_pow": (lambda L, a: a**2, arrays),
    "cube_pow": (lambda L, a: a**3, arrays),
    "sqrt_pow": (lambda L, a: a**0.5, positive_arrays),
    "zero_pow": (lambda L, a: a**0, arrays),
    "rpow": (lambda L, a: 2.0**a, arrays),
    "exp": (lambda L, a: a.exp(), arrays),
    "log": (lambda L, a: a.log(), positive_arrays),
    "sqrt": (lambda L, a: a.sqrt(), positive_arrays),
    "rsqrt": (lambda L, a: a.rsqrt(), positive_arrays),
    "abs": (lambda L, a: a.abs(), arrays),
    "clamp": (lambda L, a: a.clamp(-0.5, 0.7), arrays),
    "clamp_min": (lambda L, a: a.clamp(min=0.3), arrays),
    "clamp_max": (lambda L, a: a.clamp(max=-0.2), arrays),
    "sin": (lambda L, a: a.sin(), arrays),
    "cos": (lambda L, a: a.cos(), arrays),
    "atan": (lambda L, a: a.atan(), arrays),
    "square": (lambda L, a: a.square(), arrays),
}


@st.composite
def binary_inputs(draw, name):
    _, sa, sb = BINARY[name]
    shape_a, shape_b = draw(broadcastable_pairs())
    return draw(sa(shape_a)), draw(sb(shape_b))


@st.composite
def unary_inputs(draw, name):
    return (draw(UNARY[name][1](draw(shapes()))),)


@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(data=st.data())
def test_binary_op_gradcheck_with_broadcasting(name, data):
    check_grad(BINARY[name][0], data.draw(binary_inputs(name)))


@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(data=st.data())
def test_unary_op_gradcheck(name, data):
    check_grad(UNARY[name][0], data.draw(unary_inputs(name)))


@pytest.mark.parity
@pytest.mark.parametrize("name", BINARY)
@SETTINGS
@given(data=st.data())
def test_binary_op_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    check_parity(torch, BINARY[name][0], data.draw(binary_inputs(name)))


@pytest.mark.parity
@pytest.mark.parametrize("name", UNARY)
@SETTINGS
@given(data=st.data())
def test_unary_op_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    check_parity(torch, UNARY[name][0], data.draw(unary_inputs(name)))


@pytest.mark.parity
def test_kinks_match_torch():
    """At the kinks PyTorch picks a subgradient: clamp passes it at both bounds, abs gives 0 at 0,
    maximum/minimum split ties in half, x**0 has slope 0 even at 0."""
    torch = pytest.importorskip("torch")
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    for fn in [
        lambda L, a: a.clamp(-0.5, 0.5),
        lambda L, a: a.abs(),
        lambda L, a: L.mt.maximum(a, a * 0 + 0.5),
        lambda L, a: L.mt.minimum(a, a * 0 + 0.5),
        lambda L, a: a**0,
        lambda L, a: a**2,
    ]:
        check_parity(torch, fn, [x])


def test_maximum_splits_ties_evenly():
    a, b = mt.tensor([1.0, 2.0], requires_grad=True), mt.tensor([1.0, 3.0], requires_grad=True)
    mt.maximum(a, b).sum().backward()
    assert a.grad.tolist() == [0.5, 0.0] and b.grad.tolist() == [0.5, 1.0]


@pytest.mark.parametrize(
    "make, dtype",
    [
        (lambda x: x + 1.5, mt.float32),
        (lambda x: x * np.float64(2.0), mt.float32),  # a NumPy scalar counts as a Python scalar
        (lambda x: x / 3, mt.float32),
        (lambda x: x + mt.tensor([1, 2]), mt.float32),  # float tensor meets int tensor
        (lambda x: x + mt.zeros(2, dtype=mt.float64), mt.float64),
        (lambda x: mt.tensor([1, 2]) + 1.5, mt.float32),
        (lambda x: mt.tensor([1, 2]) / mt.tensor([2, 2]), mt.float32),  # true division
        (lambda x: 3 / mt.tensor([1, 2]), mt.float32),
        (lambda x: mt.tensor([1, 2]) * 3, mt.int64),
        (lambda x: mt.tensor([1, 2]) ** 2, mt.int64),
    ],
)
def test_dtype_promotion_follows_pytorch(make, dtype):
    assert make(mt.ones(2)).dtype == dtype


def test_gradient_keeps_the_input_dtype():
    x = mt.ones(3, requires_grad=True)
    y = mt.ones(3, dtype=mt.float64, requires_grad=True)
    (x * y * 2.0).sum().backward()
    assert x.grad.dtype == mt.float32 and y.grad.dtype == mt.float64


@pytest.mark.parametrize(
    "op",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a**b,
        lambda a, b: mt.maximum(a, b),
        lambda a, b: mt.minimum(a, b),
    ],
)
def test_mismatched_shapes_name_the_op_and_shapes(op):
    a, b = mt.ones(2, 3, requires_grad=True), mt.ones(4, requires_grad=True)
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\) do not broadcast") as err:
        op(a, b)
    assert err.value.args[0].split(":")[0] in {
        "add",
        "sub",
        "mul",
        "div",
        "pow",
        "maximum",
        "minimum",
    }
    assert a.grad is None and b.grad is None


def test_where_checks_condition_and_shapes():
    x = mt.ones(2, 3)
    with pytest.raises(TypeError, match="where: condition must be a boolean"):
        mt.where(x, x, x)
    with pytest.raises(ValueError, match=r"where.*\(2, 3\).*\(4,\)"):
        mt.where(x > 0, x, mt.ones(4))
    with pytest.raises(ValueError, match=r"where \(condition, input, other\).*\(4,\)"):
        mt.where(mt.ones(4) > 0, x, x)


def test_clamp_needs_a_bound():
    with pytest.raises(ValueError, match="clamp"):
        mt.ones(2).clamp()
