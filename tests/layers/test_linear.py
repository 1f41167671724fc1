"""Linear, Identity, Flatten, Unflatten: forward vs formula, default init, gradients, errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv.layers.linear import Flatten, Identity, Linear, Unflatten


@settings(max_examples=20, deadline=None)
@given(
    lead=st.lists(st.integers(1, 4), min_size=0, max_size=2),
    n_in=st.integers(1, 6),
    n_out=st.integers(1, 6),
    bias=st.booleans(),
)
def test_linear_matches_formula_for_any_leading_dims(lead, n_in, n_out, bias):
    m = Linear(n_in, n_out, bias=bias)
    x = np.random.default_rng(0).standard_normal((*lead, n_in)).astype(np.float32)
    y = m(mt.tensor(x))
    ref = x @ m.weight.numpy().T + (m.bias.numpy() if bias else 0)
    assert y.shape == (*lead, n_out)
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_linear_gradcheck_float64():
    m = Linear(4, 3, dtype=mt.float64)
    x = mt.randn(2, 5, 4, dtype=mt.float64, requires_grad=True)
    assert mt.gradcheck(lambda x, w, b: mt.functional.linear(x, w, b), [x, m.weight, m.bias])
    assert mt.gradcheck(lambda x: m(x), [x])


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    m = Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = m.weight.numpy(), m.bias.numpy()
    assert w.dtype == np.float32 and w.shape == (300, 400) and b.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.02)  # std of U(-b, b)
    assert abs(w.mean()) < 0.01 * bound  # about 6 standard errors


def test_linear_init_is_reproducible_from_the_seed():
    mt.manual_seed(123)
    a = Linear(5, 4)
    mt.manual_seed(123)
    b = Linear(5, 4)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    np.testing.assert_array_equal(a.bias.numpy(), b.bias.numpy())


def test_linear_dtype_bias_false_and_repr():
    m = Linear(3, 2, bias=False, dtype=mt.float64)
    assert m.weight.dtype == np.float64 and m.bias is None
    assert list(m.state_dict()) == ["weight"]
    assert repr(m) == "Linear(in_features=3, out_features=2, bias=False)"


def test_linear_bad_input_message():
    m = Linear(784, 10)
    with pytest.raises(ValueError) as e:
        m(mt.zeros(8, 100))
    assert str(e.value) == "Linear(784->10): expected input with last dim 784, got shape (8, 100)"
    with pytest.raises(ValueError, match="in_features must be a non-negative int"):
        Linear(-1, 3)


def test_linear_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    m = Linear(6, 4, dtype=mt.float64)
    t = torch.nn.Linear(6, 4, dtype=torch.float64)
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(m.weight.numpy()))
        t.bias.copy_(torch.from_numpy(m.bias.numpy()))
    x = np.random.default_rng(1).standard_normal((3, 6))
    xt = torch.tensor(x, requires_grad=True)
    xo = mt.tensor(x, requires_grad=True)
    (t(xt) ** 2).sum().backward()
    (m(xo) ** 2).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.bias.grad.numpy(), t.bias.grad.numpy(), rtol=1e-12)


def test_identity_returns_input():
    x = mt.randn(2, 3)
    assert Identity(54, unused="x")(x) is x
    assert repr(Identity()) == "Identity()"


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), data=st.data())
def test_flatten_shape_formula_and_unflatten_inverts_it(shape, data):
    n = len(shape)
    s = data.draw(st.integers(0, n - 1))
    e = data.draw(st.integers(s, n - 1))
    x = mt.randn(*shape)
    y = Flatten(s, e)(x)
    assert y.shape == tuple(shape[:s]) + (int(np.prod(shape[s : e + 1])),) + tuple(shape[e + 1 :])
    back = Unflatten(s, shape[s : e + 1])(y)
    np.testing.assert_array_equal(back.numpy(), x.numpy())


def test_flatten_default_keeps_batch_and_gradient_flows_back():
    x = mt.randn(2, 3, 4, 5, dtype=mt.float64, requires_grad=True)
    assert Flatten()(x).shape == (2, 60)
    assert mt.gradcheck(lambda x: Flatten()(x) * 2, [x])
    assert repr(Flatten()) == "Flatten(start_dim=1, end_dim=-1)"


def test_flatten_and_unflatten_errors():
    with pytest.raises(
        ValueError,
        match=r"Flatten\(start_dim=1, end_dim=-1\): cannot flatten input of shape \(5,\)",
    ):
        Flatten()(mt.zeros(5))
    with pytest.raises(
        ValueError,
        match=r"dim of size 12 in input of shape \(2, 12\) cannot be split into \(5, -1\)",
    ):
        Unflatten(1, (5, -1))(mt.zeros(2, 12))
    assert Unflatten(1, (3, -1))(mt.zeros(2, 12)).shape == (2, 3, 4)
    assert repr(Unflatten(1, (2, 2))) == "Unflatten(dim=1, unflattened_size=(2, 2))"


def test_linear_refuses_a_dtype_other_than_its_weights():
    layer = Linear(3, 4)
    for bad in (np.int64, np.float64):
        with pytest.raises(TypeError, match=rf"linear: input, weight and bias must share one "
                                            rf"floating dtype, got {np.dtype(bad)}, float32, "
                                            r"float32 \(cast the input"):  # fmt: skip
            layer(mt.tensor(np.ones((2, 3), bad)))
    assert layer.double()(mt.tensor(np.ones((2, 3)))).dtype == mt.float64
