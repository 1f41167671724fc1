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


EINSUMS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("nchw,nc->nhw", [(2, 3, 4, 5), (2, 3)]),  # a per-channel weighting, as in attention maps
    ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (4,)]),
    ("ijk->kji", [(2, 3, 4)]),
    ("ij,ij->i", [(3, 4), (3, 4)]),
    ("ij,k->i", [(3, 4), (5,)]),  # k only in one operand: summed away, gradient broadcast
    ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
]


@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_matches_numpy_and_gradchecks(eq, shapes):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(mt.einsum(eq, *[mt.tensor(x) for x in xs]).numpy(),
                               np.einsum(eq, *xs), rtol=1e-12, atol=1e-12)  # fmt: skip
    assert mt.gradcheck(
        lambda *t: mt.einsum(eq, *t), [mt.tensor(x, requires_grad=True) for x in xs]
    )


@pytest.mark.parity
@pytest.mark.parametrize("eq,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_matches_torch(eq, shapes):
    torch = pytest.importorskip("torch")
    xs = [np.random.default_rng(1).standard_normal(s) for s in shapes]
    check_parity(torch, lambda L, *t: L.mt.einsum(eq, *t), xs)


def test_einsum_errors_are_plain():
    a = mt.zeros(2, 3)
    with pytest.raises(ValueError, match="give the output subscripts explicitly"):
        mt.einsum("ij,jk", a, a)
    with pytest.raises(ValueError, match="names 2 operands, got 1"):
        mt.einsum("ij,jk->ik", a)
    with pytest.raises(
        ValueError, match=r"subscripts 'ijk' name 3 dims, the operand has shape \(2, 3\)"
    ):
        mt.einsum("ijk->i", a)
    with pytest.raises(ValueError, match="index 'j' is 3 in one operand and 2 in another"):
        mt.einsum("ij,jk->ik", a, a)
    with pytest.raises(ValueError, match="must be distinct letters"):
        mt.einsum("ii->i", mt.zeros(2, 2))
