"""gradcheck itself: it passes right gradients, and catches a planted wrong backward, naming the
input, the index and both values."""

import numpy as np
import pytest
from hypothesis import given

import minitorch_cv as mt
from minitorch_cv import Function
from tests.strategies_core import SETTINGS, arrays, leaf, shapes


class SquareTimesOther(Function):
    """y = a^2 * b with a planted bug in b's gradient: only at flat index `bad` of b."""

    @staticmethod
    def forward(ctx, a, b, *, bad):
        ctx.save_for_backward(a, b)
        ctx.bad = bad
        return a * a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        gb = np.broadcast_to(g * a * a, b.shape).copy()
        if ctx.bad is not None:
            gb.reshape(-1)[ctx.bad] += 0.5
        return 2 * a * b * g, gb


@SETTINGS
@given(x=arrays(shapes(min_dims=1)), y=arrays(shapes(min_dims=1)))
def test_gradcheck_passes_a_right_backward(x, y):
    assert mt.gradcheck(lambda a, b: SquareTimesOther.apply(a, b, bad=None), [leaf(x), leaf(x)])
    assert mt.gradcheck(lambda a: (a * a).sum(), [leaf(y)])


def test_gradcheck_names_input_and_index_of_a_wrong_gradient():
    a = leaf(np.arange(1.0, 7.0).reshape(2, 3))
    b = leaf(np.arange(2.0, 8.0).reshape(2, 3))
    with pytest.raises(AssertionError) as err:
        mt.gradcheck(lambda a, b: SquareTimesOther.apply(a, b, bad=4), [a, b])
    msg = str(err.value)
    assert "input 1" in msg and "(1, 1)" in msg and "analytic" in msg and "numeric" in msg
    assert "1 of 6 elements differ" in msg


def test_gradcheck_catches_a_missing_factor():
    class HalfSquare(Function):  # backward forgets the factor 2 of d(a^2)/da
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a

    with pytest.raises(AssertionError, match=r"input 0 \(shape \(3,\)\) differs at index \(0,\)"):
        mt.gradcheck(HalfSquare.apply, [leaf([1.0, 2.0, 3.0])])


def test_gradcheck_handles_non_contiguous_inputs_and_tuple_outputs():
    x = mt.Tensor(np.arange(12.0).reshape(3, 4).T, requires_grad=True)  # a transposed view
    assert not x.numpy().flags.c_contiguous
    assert mt.gradcheck(lambda t: (t * t, t.sum(0)), [x])


def test_gradcheck_leaves_inputs_unchanged():
    x = leaf([[0.5, -1.5], [2.0, 3.0]])
    before = x.numpy().copy()
    mt.gradcheck(lambda t: t.exp(), [x])
    np.testing.assert_array_equal(x.numpy(), before)


def test_gradcheck_refuses_float32():
    with pytest.raises(TypeError, match="gradcheck: input 0 has dtype float32; use float64"):
        mt.gradcheck(lambda t: t * 2, [mt.ones(2, requires_grad=True)])


def test_gradcheck_takes_a_single_tensor_and_keeps_the_callers_grads():
    x = mt.tensor(np.arange(6.0).reshape(3, 2), dtype=mt.float64, requires_grad=True)
    y = mt.tensor([1.0, 2.0], dtype=mt.float64, requires_grad=True)
    x.grad = mt.full((3, 2), 7.0, dtype=mt.float64)
    assert mt.gradcheck(lambda a: (a * a).sum(), x)
    assert mt.gradcheck(lambda a, b: a * b, (x, y))
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 2), 7.0))
    assert y.grad is None
