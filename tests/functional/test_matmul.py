"""matmul (1-D, 2-D, batched with broadcast batch dims) and linear: gradients vs central
differences, parity with torch, and shape errors."""

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
)


@st.composite
def matmul_operands(draw):
    """Shapes a (..., m, k) and b (..., k, n) with broadcastable batch dims, or 1-D a or b."""
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_pairs(max_dims=2))
    a_shape = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_a, m, k)
    b_shape = (k,) if draw(st.integers(0, 4)) == 0 else (*batch_b, k, n)
    return draw(arrays(a_shape)), draw(arrays(b_shape))


@st.composite
def linear_operands(draw):
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    fan_in, fan_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    xs = [draw(arrays((*lead, fan_in))), draw(arrays((fan_out, fan_in)))]
    return xs + ([draw(arrays((fan_out,)))] if draw(st.booleans()) else [])


def _matmul(L, a, b):
    return a @ b


def _linear(L, x, w, b=None):
    return L.F.linear(x, w, b)


@SETTINGS
@given(ab=matmul_operands())
def test_matmul_gradcheck(ab):
    check_grad(_matmul, ab)


@SETTINGS
@given(xs=linear_operands())
def test_linear_gradcheck(xs):
    check_grad(_linear, xs)


@pytest.mark.parity
@SETTINGS
@given(ab=matmul_operands())
def test_matmul_matches_torch(ab):
    torch = pytest.importorskip("torch")
    check_parity(torch, _matmul, ab)


@pytest.mark.parity
@SETTINGS
@given(xs=linear_operands())
def test_linear_matches_torch(xs):
    torch = pytest.importorskip("torch")
    check_parity(torch, _linear, xs)


@SETTINGS
@given(ab=matmul_operands())
def test_matmul_forward_matches_numpy(ab):
    a, b = ab
    np.testing.assert_allclose((mt.tensor(a) @ mt.tensor(b)).numpy(), a @ b)


def test_shared_weight_gradient_is_one_gemm_over_the_batch():
    """A 3-D input against a 2-D weight: the weight's gradient sums over every batch row."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3, 4)), rng.standard_normal((4, 2))
    ta, tb = mt.tensor(a, requires_grad=True), mt.tensor(b, requires_grad=True)
    (ta @ tb).sum().backward()
    np.testing.assert_allclose(tb.grad.numpy(), a.reshape(-1, 4).T @ np.ones((15, 2)))
    assert tb.grad.shape == (4, 2)


@pytest.mark.parametrize(
    "a, b, message",
    [
        ((2, 3), (4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) cannot be multiplied \(3 != 4\)"),
        ((3,), (2,), r"matmul: shapes \(3,\) and \(2,\) cannot be multiplied"),
        ((), (2,), r"matmul: both operands need at least 1 dim"),
        ((2, 2, 3), (3, 3, 4), r"matmul: batch dims of shapes \(2, 2, 3\) and \(3, 3, 4\)"),
    ],
)
def test_matmul_shape_errors(a, b, message):
    x, y = mt.ones(*a, requires_grad=True), mt.ones(*b, requires_grad=True)
    with pytest.raises(ValueError, match=message):
        x @ y


def test_linear_shape_errors():
    x, w = mt.ones(2, 3), mt.ones(4, 3)
    with pytest.raises(ValueError, match=r"linear: input of shape \(2, 5\) does not fit weight"):
        mt.functional.linear(mt.ones(2, 5), w)
    with pytest.raises(ValueError, match=r"linear: bias of shape \(3,\) does not fit weight"):
        mt.functional.linear(x, w, mt.ones(3))
