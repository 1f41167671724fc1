"""Activations and (log-)softmax: gradients vs central differences, parity with torch, and
numerical stability on huge logits (no nan, no inf) in float32 and float64."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from tests.strategies_core import OURS, SETTINGS, arrays, check_grad, check_parity, shapes

ACTIVATIONS = {
    "relu": lambda L, a, d: L.F.relu(a),
    "leaky_relu": lambda L, a, d: L.F.leaky_relu(a),
    "leaky_relu_0.2": lambda L, a, d: L.F.leaky_relu(a, 0.2),
    "elu": lambda L, a, d: L.F.elu(a, alpha=1.5),
    "hardtanh": lambda L, a, d: L.F.hardtanh(a, -2.0, 1.5),
    "relu6": lambda L, a, d: L.F.relu6(a * 3),
    "silu": lambda L, a, d: L.F.silu(a),
    "softplus": lambda L, a, d: L.F.softplus(a),
    "softplus_beta": lambda L, a, d: L.F.softplus(a, beta=2.0, threshold=3.0),
    "gelu": lambda L, a, d: L.F.gelu(a * 2),
    "gelu_tanh": lambda L, a, d: L.F.gelu(a * 2, approximate="tanh"),
    "mish": lambda L, a, d: L.F.mish(a * 2),
    "hardswish": lambda L, a, d: L.F.hardswish(a * 3),
    "hardsigmoid": lambda L, a, d: L.F.hardsigmoid(a * 3),
    "sigmoid": lambda L, a, d: a.sigmoid(),
    "tanh": lambda L, a, d: a.tanh(),
    "softmax": lambda L, a, d: L.F.softmax(a, dim=d),
    "log_softmax": lambda L, a, d: L.F.log_softmax(a, dim=d),
    "softmax_method": lambda L, a, d: a.softmax(d),
    "softmin": lambda L, a, d: L.F.softmin(a, dim=d),
    "selu": lambda L, a, d: L.F.selu(a),
    "celu": lambda L, a, d: L.F.celu(a, alpha=0.7),
    "logsigmoid": lambda L, a, d: L.F.logsigmoid(a * 3),
    "softsign": lambda L, a, d: L.F.softsign(a),
    "tanhshrink": lambda L, a, d: L.F.tanhshrink(a),
    # grid values k/10 + 0.05 stay 0.05 away from the kinks at +-0.5 and 0.3
    "softshrink": lambda L, a, d: L.F.softshrink(a),
    "hardshrink": lambda L, a, d: L.F.hardshrink(a),
    "threshold": lambda L, a, d: L.F.threshold(a, 0.3, -1.5),
    "rrelu_eval": lambda L, a, d: L.F.rrelu(a, 0.1, 0.3),
    "glu": lambda L, a, d: L.F.glu(L.mt.cat([a, a * 0.5 - 1], d), d),
}

_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)

# The textbook formula of each newer activation, one number at a time (math, not NumPy).
SCALAR_FORMULAS = {
    "selu": (lambda L, a: L.F.selu(a),
             lambda v: _SELU[1] * (v if v > 0 else _SELU[0] * (math.exp(v) - 1))),
    "celu": (lambda L, a: L.F.celu(a, 0.7),
             lambda v: max(0.0, v) + min(0.0, 0.7 * (math.exp(v / 0.7) - 1))),
    "logsigmoid": (lambda L, a: L.F.logsigmoid(a), lambda v: math.log(1 / (1 + math.exp(-v)))),
    "softsign": (lambda L, a: L.F.softsign(a), lambda v: v / (1 + abs(v))),
    "tanhshrink": (lambda L, a: L.F.tanhshrink(a), lambda v: v - math.tanh(v)),
    "softshrink": (lambda L, a: L.F.softshrink(a, 0.5),
                   lambda v: v - 0.5 if v > 0.5 else (v + 0.5 if v < -0.5 else 0.0)),
    "hardshrink": (lambda L, a: L.F.hardshrink(a, 0.5), lambda v: v if abs(v) > 0.5 else 0.0),
    "threshold": (lambda L, a: L.F.threshold(a, 0.3, -1.5), lambda v: v if v > 0.3 else -1.5),
    "rrelu_eval": (lambda L, a: L.F.rrelu(a, 0.1, 0.3), lambda v: v if v > 0 else 0.2 * v),
}  # fmt: skip


@pytest.mark.parametrize("name", SCALAR_FORMULAS)
@SETTINGS
@given(x=arrays((7,), -4.0, 4.0))
def test_activation_equals_its_formula_element_by_element(name, x):
    ours, formula = SCALAR_FORMULAS[name]
    got = ours(OURS, mt.tensor(x)).numpy()
    np.testing.assert_allclose(got, [formula(v) for v in x], rtol=1e-12, atol=1e-15)


def test_glu_and_softmin_by_hand():
    x = mt.tensor([[1.0, 2.0, 0.0, 3.0]])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    np.testing.assert_allclose(mt.functional.glu(x).numpy(), [[1.0 * sig(0.0), 2.0 * sig(3.0)]])
    e = np.exp(-np.array([1.0, 2.0, 0.0, 3.0]))
    np.testing.assert_allclose(mt.functional.softmin(x, dim=1).numpy(), [e / e.sum()])
    with pytest.raises(ValueError, match=r"glu: the gated dim must have an even size, got size "
                                         r"3 in dim 1 of shape \(2, 3\)"):  # fmt: skip
        mt.functional.glu(mt.randn(2, 3), dim=1)
    with pytest.raises(ValueError, match="lambd must be >= 0"):
        mt.functional.softshrink(x, -0.1)
    with pytest.raises(ValueError, match="alpha must not be 0"):
        mt.functional.celu(x, 0.0)
    with pytest.raises(ValueError, match="lower <= upper"):
        mt.functional.rrelu(x, 0.5, 0.1)
    # as PyTorch: a negative hardshrink threshold keeps everything
    np.testing.assert_array_equal(mt.functional.hardshrink(x, -1.0).numpy(), x.numpy())


def test_rrelu_training_draws_one_slope_per_negative_element_and_backprops_it():
    x = mt.tensor(np.linspace(-3, 3, 400).reshape(20, 20), requires_grad=True)
    mt.manual_seed(0)
    y = mt.functional.rrelu(x, 0.1, 0.3, training=True)
    y.sum().backward()
    xs, ys, gs = x.detach().numpy(), y.detach().numpy(), x.grad.numpy()
    neg = xs < 0
    slopes = ys[neg] / xs[neg]
    assert np.all((slopes >= 0.1) & (slopes <= 0.3)) and slopes.std() > 0.03  # drawn, not fixed
    np.testing.assert_allclose(gs[neg], slopes)  # the gradient is the slope that was used
    np.testing.assert_array_equal(ys[~neg], xs[~neg])
    np.testing.assert_array_equal(gs[~neg], 1.0)
    mt.manual_seed(0)
    again = mt.functional.rrelu(x.detach(), 0.1, 0.3, training=True).numpy()
    np.testing.assert_array_equal(again, ys)  # the package seed fixes the draw

    # gradcheck with the draw held fixed: the same seed before every evaluation
    def fixed(a):
        mt.manual_seed(1)
        return mt.functional.rrelu(a, 0.1, 0.3, training=True)

    assert mt.gradcheck(fixed, [mt.tensor(np.linspace(-2, 2, 9) + 0.01, requires_grad=True)])


@st.composite
def activation_case(draw, name):
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    fn = ACTIVATIONS[name]
    return (lambda L, a: fn(L, a, dim)), [draw(arrays(shape, -4.0, 4.0))]


@pytest.mark.parametrize("name", ACTIVATIONS)
@SETTINGS
@given(data=st.data())
def test_activation_gradcheck(name, data):
    fn, xs = data.draw(activation_case(name))
    check_grad(fn, xs)


@pytest.mark.parity
@pytest.mark.parametrize("name", ACTIVATIONS)
@SETTINGS
@given(data=st.data())
def test_activation_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    fn, xs = data.draw(activation_case(name))
    check_parity(torch, fn, xs)


@pytest.mark.parity
def test_kinks_at_zero_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-2.0, -1.0, 0.0, 1.0, 1.5, 2.0])
    for name in ("relu", "leaky_relu", "elu", "hardtanh", "relu6", "softplus_beta"):
        check_parity(torch, lambda L, a, fn=ACTIVATIONS[name]: fn(L, a, 0), [x])
    # hardswish / hardsigmoid bend at -3 and 3 (one closed end each, as torch)
    for name in ("hardswish", "hardsigmoid", "prelu"):
        fn = {"hardswish": lambda L, a: L.F.hardswish(a * 1.5),
              "hardsigmoid": lambda L, a: L.F.hardsigmoid(a * 1.5),
              "prelu": lambda L, a: L.F.prelu(a, a[:1] * 0 + 0.25)}[name]  # fmt: skip
        check_parity(torch, fn, [x])


def _erf_ref(x):
    return np.vectorize(math.erf)(x)


@pytest.mark.parametrize("dtype,atol", [(np.float64, 4e-15), (np.float32, 6e-7)])
def test_erf_matches_math_erf(dtype, atol):
    from minitorch_cv.functional.activation import _erf

    x = np.concatenate([np.linspace(-7, 7, 20001), [0.0, 2.5, -2.5, 6.0, -6.0, 1e-300, -1e-8]])
    got = _erf(x.astype(dtype))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, _erf_ref(x.astype(dtype).astype(np.float64)), rtol=0, atol=atol)


def test_gelu_matches_the_normal_cdf_formula():
    x = np.linspace(-8, 8, 1601)
    exact = x * 0.5 * (1 + _erf_ref(x / math.sqrt(2)))
    # 1 + erf(z) cancels where erf is near -1: relative error 1e-12 there, as in any erf-based gelu
    np.testing.assert_allclose(mt.functional.gelu(mt.tensor(x)).numpy(), exact, rtol=1e-11,
                               atol=1e-15)  # fmt: skip
    y32 = mt.functional.gelu(mt.tensor(x.astype(np.float32))).numpy()
    np.testing.assert_allclose(y32, exact, rtol=2e-6, atol=1e-6)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    np.testing.assert_allclose(
        mt.functional.gelu(mt.tensor(x), approximate="tanh").numpy(), 0.5 * x * (1 + np.tanh(u))
    )
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        mt.functional.gelu(mt.tensor(x), approximate="erf")


@st.composite
def prelu_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=4))
    per_channel = len(shape) >= 2 and draw(st.booleans())
    n = shape[1] if per_channel else 1
    return [draw(arrays(shape, -2.0, 2.0)), draw(arrays((n,), -1.0, 1.0))]


def _prelu_loop(x, w):
    """The textbook PReLU: every element by itself, its channel's slope when negative."""
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        a = w[idx[1]] if len(w) > 1 else w[0]
        out[idx] = x[idx] if x[idx] > 0 else a * x[idx]
    return out


@SETTINGS
@given(xs=prelu_case())
def test_prelu_gradcheck_and_loop_reference(xs):
    check_grad(lambda L, x, w: L.F.prelu(x, w), xs)
    got = mt.functional.prelu(mt.tensor(xs[0]), mt.tensor(xs[1])).numpy()
    np.testing.assert_allclose(got, _prelu_loop(*xs))


@pytest.mark.parity
@SETTINGS
@given(xs=prelu_case())
def test_prelu_matches_torch(xs):
    torch = pytest.importorskip("torch")
    check_parity(torch, lambda L, x, w: L.F.prelu(x, w), xs)


def test_prelu_needs_one_slope_per_channel():
    with pytest.raises(ValueError, match=r"prelu: 3 slopes need input with 3 channels in dim 1, "
                                         r"got shape \(2, 4, 5\)"):  # fmt: skip
        mt.functional.prelu(mt.zeros(2, 4, 5), mt.zeros(3))
    with pytest.raises(ValueError, match=r"prelu: weight must be 1-D, got shape \(1, 1\)"):
        mt.functional.prelu(mt.zeros(2, 4, 5), mt.zeros(1, 1))


HUGE = st.sampled_from([1e4, 1e30])


@pytest.mark.parametrize("dtype", [mt.float32, mt.float64])
@SETTINGS
@given(scale=HUGE, shape=shapes(min_dims=1, max_dims=2, max_side=5), data=st.data())
def test_softmax_is_stable_on_huge_logits(dtype, scale, shape, data):
    unit = data.draw(arrays(shape, -1.0, 1.0))
    x = mt.tensor((unit * scale).astype(dtype), requires_grad=True)
    s = mt.functional.softmax(x, dim=-1)
    ls = mt.functional.log_softmax(x, dim=-1)
    assert s.dtype == dtype and ls.dtype == dtype
    assert np.isfinite(s.numpy()).all() and not np.isnan(ls.numpy()).any()
    np.testing.assert_allclose(s.numpy().sum(-1), 1.0, rtol=1e-5)
    # the largest logit of each row has log-probability in [-log(n), 0]
    assert (ls.numpy().max(-1) >= -np.log(shape[-1]) - 1e-5).all()
    s.backward(mt.ones_like(s))
    ls.backward(mt.ones_like(ls))
    assert np.isfinite(x.grad.numpy()).all()


def test_log_softmax_matches_the_exact_formula_where_naive_overflows():
    x = np.array([[1000.0, 0.0, -1000.0], [1e4, 1e4, 1e4]])
    expected = (
        x
        - x.max(-1, keepdims=True)
        - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
    )
    got = mt.functional.log_softmax(mt.tensor(x), dim=1).numpy()
    np.testing.assert_allclose(got, expected)
    np.testing.assert_allclose(got[1], np.log([1 / 3] * 3))


@pytest.mark.parametrize("dtype", [mt.float32, mt.float64])
def test_sigmoid_is_stable_on_huge_inputs(dtype):
    x = mt.tensor(np.array([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype), requires_grad=True)
    y = x.sigmoid()
    assert y.dtype == dtype and np.isfinite(y.numpy()).all()
    assert y.numpy()[0] == 0.0 and y.numpy()[2] == 0.5 and y.numpy()[-1] == 1.0
    y.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_activations_keep_float32():
    x = mt.randn(4, 5, requires_grad=True)
    for name, fn in ACTIVATIONS.items():
        y = fn(OURS, x, 1)
        y.sum().backward()
        assert y.dtype == mt.float32 and x.grad.dtype == mt.float32, name


def test_softmax_needs_a_valid_dim():
    x = mt.ones(2, 3)
    with pytest.raises(ValueError, match="softmax: pass dim="):
        mt.functional.softmax(x)
    with pytest.raises(
        IndexError, match=r"log_softmax: dim 2 out of range for input of shape \(2, 3\)"
    ):
        mt.functional.log_softmax(x, dim=2)


def test_gelu_takes_a_0d_float64_tensor():
    x = mt.tensor(-3.0, dtype=mt.float64, requires_grad=True)
    y = mt.functional.gelu(x)
    y.backward()
    assert y.shape == () and y.item() == pytest.approx(-3 * 0.5 * (1 + math.erf(-3 / math.sqrt(2))))


# --------------------------------------------------------------------------- integer input
# PyTorch has no integer kernel for these: NumPy would compute them and truncate the result
# to the integer dtype (sigmoid of an int tensor gave zeros), so they refuse by name
FLOAT_ONLY = {
    "elu": lambda F, x: F.elu(x), "selu": lambda F, x: F.selu(x),
    "celu": lambda F, x: F.celu(x), "leaky_relu": lambda F, x: F.leaky_relu(x),
    "gelu": lambda F, x: F.gelu(x), "silu": lambda F, x: F.silu(x),
    "softplus": lambda F, x: F.softplus(x), "mish": lambda F, x: F.mish(x),
    "hardswish": lambda F, x: F.hardswish(x), "hardsigmoid": lambda F, x: F.hardsigmoid(x),
    "logsigmoid": lambda F, x: F.logsigmoid(x), "softshrink": lambda F, x: F.softshrink(x),
    "hardshrink": lambda F, x: F.hardshrink(x), "rrelu": lambda F, x: F.rrelu(x),
    "softmax": lambda F, x: F.softmax(x, 0), "log_softmax": lambda F, x: F.log_softmax(x, 0),
    "softmin": lambda F, x: F.softmin(x, 0),
}  # fmt: skip
# ... and these compute in the default float dtype, as PyTorch's floating-point unary ops
PROMOTED = {
    "sigmoid": lambda F, x: F.sigmoid(x), "tanh": lambda F, x: F.tanh(x),
    "softsign": lambda F, x: F.softsign(x), "tanhshrink": lambda F, x: F.tanhshrink(x),
    "exp": lambda F, x: x.exp(), "log": lambda F, x: (x * x + 1).log(),
    "log1p": lambda F, x: (x * x).log1p(), "expm1": lambda F, x: x.expm1(),
    "sqrt": lambda F, x: (x * x).sqrt(), "rsqrt": lambda F, x: (x * x + 1).rsqrt(),
    "sin": lambda F, x: x.sin(), "cos": lambda F, x: x.cos(), "atan": lambda F, x: x.atan(),
}  # fmt: skip


@pytest.mark.parametrize("name", FLOAT_ONLY)
@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_float_only_activations_refuse_integer_input_by_name(name, dtype):
    x = mt.tensor(np.array([-2, 0, 3]).astype(dtype))
    with pytest.raises(TypeError, match=rf"^{name}: expected a floating point input, got dtype"):
        FLOAT_ONLY[name](mt.F, x)


@pytest.mark.parametrize("name", PROMOTED)
def test_floating_unary_ops_promote_integer_input_to_the_default_float(name):
    x = np.array([-2, 0, 3, 7])
    got = PROMOTED[name](mt.F, mt.tensor(x))
    assert got.dtype == mt.float32
    want = PROMOTED[name](mt.F, mt.tensor(x.astype(np.float32)))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parity
def test_integer_input_as_torch():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    x = np.array([-2, 0, 3, 7])
    for fn in FLOAT_ONLY.values():
        with pytest.raises(RuntimeError):
            fn(TF, torch.tensor(x))
    for name, fn in PROMOTED.items():
        want = fn(TF, torch.tensor(x))
        assert want.dtype == torch.float32, name
        np.testing.assert_allclose(fn(mt.F, mt.tensor(x)).numpy(), want.numpy(), rtol=1e-6,
                                   err_msg=name)  # fmt: skip
