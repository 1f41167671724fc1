"""Activation layers: values vs the textbook formula, gradients, repr, parity with torch.nn."""

import math

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.layers.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    RReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


CASES = [
    (ReLU(), lambda x: np.maximum(x, 0)),
    (LeakyReLU(), lambda x: np.where(x > 0, x, 0.01 * x)),
    (LeakyReLU(0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (ELU(), lambda x: np.where(x > 0, x, np.expm1(x))),
    (ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    (Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (Tanh(), np.tanh),
    (Hardtanh(), lambda x: np.clip(x, -1, 1)),
    (Hardtanh(-2.5, 0.5), lambda x: np.clip(x, -2.5, 0.5)),
    (ReLU6(), lambda x: np.clip(x, 0, 6)),
    (SiLU(), lambda x: x / (1 + np.exp(-x))),
    (Softplus(), lambda x: np.log1p(np.exp(x))),
    (Softplus(beta=2, threshold=3), lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2)),
    (GELU(), lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    (
        GELU("tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    (Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    (Hardsigmoid(), lambda x: np.clip(x + 3, 0, 6) / 6),
    (Softmax(dim=1), lambda x: _softmax(x, 1)),
    (Softmax(dim=-1), lambda x: _softmax(x, -1)),
    (LogSoftmax(dim=1), lambda x: np.log(_softmax(x, 1))),
    (Softmin(dim=1), lambda x: _softmax(-x, 1)),
    (SELU(), lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    (CELU(0.5), lambda x: np.maximum(x, 0) + np.minimum(0, 0.5 * np.expm1(x / 0.5))),
    (LogSigmoid(), lambda x: -np.log1p(np.exp(-x))),
    (Softsign(), lambda x: x / (1 + np.abs(x))),
    (Tanhshrink(), lambda x: x - np.tanh(x)),
    (Softshrink(0.3), lambda x: np.where(np.abs(x) > 0.3, x - np.sign(x) * 0.3, 0)),
    (Hardshrink(0.3), lambda x: np.where(np.abs(x) > 0.3, x, 0)),
    (Threshold(0.2, -1.0), lambda x: np.where(x > 0.2, x, -1.0)),
    (RReLU().eval(), lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2)),
]


@pytest.mark.parametrize("layer,ref", CASES, ids=[repr(c[0]) for c in CASES])
def test_activation_layer_matches_formula(layer, ref):
    x = np.random.default_rng(0).standard_normal((4, 5, 3)) * 3
    np.testing.assert_allclose(layer(mt.tensor(x)).numpy(), ref(x), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer", [c[0] for c in CASES], ids=repr)
def test_activation_layer_gradcheck_float64(layer):
    x = mt.tensor(np.random.default_rng(1).standard_normal((3, 4)) + 0.05, requires_grad=True)
    assert mt.gradcheck(lambda x: layer(x), [x])


def test_layers_have_no_parameters_and_keep_shape():
    for layer, _ in CASES:
        assert list(layer.parameters()) == [] and layer.state_dict() == {}
        assert layer(mt.randn(2, 3)).shape == (2, 3)


def test_softmax_without_dim_uses_pytorch_legacy_rule_with_a_warning():
    x = mt.randn(2, 3)
    with pytest.warns(UserWarning, match="dim="):
        y = Softmax()(x)
    np.testing.assert_allclose(y.numpy().sum(1), 1, rtol=1e-6)


def test_activation_layers_match_torch_values_and_repr():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    pairs = [
        (ReLU(), nn.ReLU()), (ReLU(inplace=True), nn.ReLU(inplace=True)),
        (LeakyReLU(), nn.LeakyReLU()), (LeakyReLU(0.1), nn.LeakyReLU(0.1)),
        (ELU(), nn.ELU()), (ELU(alpha=0.3), nn.ELU(alpha=0.3)),
        (Sigmoid(), nn.Sigmoid()), (Tanh(), nn.Tanh()),
        (Hardtanh(), nn.Hardtanh()), (Hardtanh(-2, 3), nn.Hardtanh(-2, 3)), (ReLU6(), nn.ReLU6()),
        (SiLU(), nn.SiLU()), (Softplus(), nn.Softplus()), (Softplus(2, 3), nn.Softplus(2, 3)),
        (GELU(), nn.GELU()), (GELU("tanh"), nn.GELU("tanh")), (Mish(), nn.Mish()),
        (Hardswish(), nn.Hardswish()), (Hardsigmoid(), nn.Hardsigmoid()),
        (Softmax(dim=1), nn.Softmax(dim=1)), (LogSoftmax(dim=0), nn.LogSoftmax(dim=0)),
        (Softmin(dim=1), nn.Softmin(dim=1)), (SELU(), nn.SELU()), (CELU(), nn.CELU()),
        (CELU(0.4), nn.CELU(0.4)), (LogSigmoid(), nn.LogSigmoid()), (Softsign(), nn.Softsign()),
        (Tanhshrink(), nn.Tanhshrink()), (Softshrink(), nn.Softshrink()),
        (Hardshrink(1.5), nn.Hardshrink(1.5)), (Threshold(0.1, 20.0), nn.Threshold(0.1, 20.0)),
        (RReLU().eval(), nn.RReLU().eval()), (RReLU(0.2, 0.4).eval(), nn.RReLU(0.2, 0.4).eval()),
        (GLU(), nn.GLU()), (GLU(1), nn.GLU(1)),
    ]  # fmt: skip
    x = np.random.default_rng(2).standard_normal((3, 4)).astype(np.float32) * 4
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        expected = theirs(torch.from_numpy(x.copy())).numpy()
        np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_prelu_layer_learns_its_slopes_like_torch():
    torch = pytest.importorskip("torch")
    from minitorch_cv.layers import PReLU

    x = np.random.default_rng(3).standard_normal((2, 3, 4, 4)).astype(np.float32)
    for ours, theirs in ((PReLU(), torch.nn.PReLU()), (PReLU(3, 0.1), torch.nn.PReLU(3, 0.1))):
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
        np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
        y, yt = ours(mt.tensor(x)), theirs(torch.from_numpy(x))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6)
        (y * y).sum().backward()
        (yt * yt).sum().backward()
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-4)


def test_prelu_layer_errors():
    from minitorch_cv.layers import PReLU

    with pytest.raises(ValueError, match=r"PReLU\(num_parameters=3\): expected input with 3 "
                                         r"channels in dim 1, got shape \(2, 5\)"):  # fmt: skip
        PReLU(3)(mt.zeros(2, 5))
    with pytest.raises(ValueError, match="num_parameters must be an int >= 1"):
        PReLU(0)
