"""Loss modules: each equals its functional form with the same arguments, takes PyTorch's
constructor arguments (including the deprecated size_average / reduce), keeps a class weight
as a buffer with PyTorch's state_dict key, and equals torch's module on the same inputs."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.functional import loss as L
from minitorch_cv.layers.loss import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
)


def _inputs(name, rng, dtype=np.float64, ignore_index=-100):
    """(input, target) arrays suited to the loss `name`."""
    if name in ("CrossEntropyLoss", "NLLLoss"):
        x = rng.standard_normal((4, 3, 2, 2))
        if name == "NLLLoss":
            x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
        t = rng.integers(0, 3, (4, 2, 2))
        t[0, 0, 0] = ignore_index
        return x.astype(dtype), t
    x = rng.standard_normal((5, 3))
    if name == "BCELoss":
        x = 1 / (1 + np.exp(-x))
    return x.astype(dtype), rng.random((5, 3)).astype(dtype)


def _kwargs(kwargs, make, dtype):
    """Constructor / functional kwargs with list values turned into tensors by `make`."""
    return {k: make(np.asarray(v, dtype)) if isinstance(v, list) else v for k, v in kwargs.items()}


CASES = [
    (CrossEntropyLoss, dict(weight=[1.0, 2.0, 0.5], label_smoothing=0.1), L.cross_entropy),
    (CrossEntropyLoss, dict(reduction="none", ignore_index=1), L.cross_entropy),
    (NLLLoss, dict(weight=[1.0, 2.0, 0.5], reduction="sum"), L.nll_loss),
    (MSELoss, dict(), L.mse_loss),
    (L1Loss, dict(reduction="sum"), L.l1_loss),
    (SmoothL1Loss, dict(beta=0.3), L.smooth_l1_loss),
    (BCEWithLogitsLoss, dict(pos_weight=[1.0, 2.0, 3.0]), L.binary_cross_entropy_with_logits),
    (BCELoss, dict(weight=[[1.0, 2.0, 3.0]]), L.binary_cross_entropy),
]


@pytest.mark.parametrize("cls,kwargs,fn", CASES)
def test_module_equals_functional(cls, kwargs, fn):
    rng = np.random.default_rng(0)
    x, t = _inputs(cls.__name__, rng, ignore_index=kwargs.get("ignore_index", -100))
    module = cls(**_kwargs(kwargs, mt.tensor, np.float64))
    fkw = _kwargs(kwargs, mt.tensor, np.float64)
    xs = mt.tensor(x, requires_grad=True)
    y = module(xs, mt.tensor(t))
    want = fn(mt.tensor(x), mt.tensor(t), **fkw)
    np.testing.assert_array_equal(y.numpy(), want.numpy())


def test_weight_is_a_buffer_with_torch_key():
    m = CrossEntropyLoss(weight=mt.tensor([1.0, 2.0]))
    assert list(m.state_dict()) == ["weight"]
    assert list(CrossEntropyLoss().state_dict()) == []
    assert list(BCEWithLogitsLoss(pos_weight=mt.ones(3)).state_dict()) == ["pos_weight"]
    m64 = NLLLoss(weight=mt.tensor([1.0, 2.0])).to(mt.float64)
    assert m64.weight.dtype == np.float64  # moved/cast with the module, like any buffer


@pytest.mark.parity
def test_state_dict_keys_equal_torch():
    torch = pytest.importorskip("torch")
    w = [1.0, 2.0, 3.0]
    pairs = [
        (CrossEntropyLoss(weight=mt.tensor(w)), torch.nn.CrossEntropyLoss(weight=torch.tensor(w))),
        (NLLLoss(), torch.nn.NLLLoss()),
        (BCEWithLogitsLoss(weight=mt.tensor(w), pos_weight=mt.tensor(w)),
         torch.nn.BCEWithLogitsLoss(weight=torch.tensor(w), pos_weight=torch.tensor(w))),
        (BCELoss(weight=mt.tensor(w)), torch.nn.BCELoss(weight=torch.tensor(w))),
    ]  # fmt: skip
    for ours, theirs in pairs:
        assert list(ours.state_dict()) == list(theirs.state_dict())


def test_legacy_size_average_and_reduce_flags():
    assert MSELoss(size_average=False).reduction == "sum"
    assert MSELoss(reduce=False).reduction == "none"
    assert MSELoss(size_average=True, reduce=True).reduction == "mean"
    assert CrossEntropyLoss(None, False).reduction == "sum"


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"MSELoss: reduction must be .*'avg'"):
        MSELoss(reduction="avg")
    with pytest.raises(ValueError, match="CrossEntropyLoss: label_smoothing"):
        CrossEntropyLoss(label_smoothing=-0.1)
    with pytest.raises(TypeError, match="NLLLoss: weight must be a floating point"):
        NLLLoss(weight=mt.tensor([1, 2]))


def test_repr_shows_non_default_reduction():
    assert repr(MSELoss()) == "MSELoss()"
    assert repr(L1Loss(reduction="sum")) == "L1Loss(reduction='sum')"


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls,kwargs,fn", CASES)
def test_module_matches_torch_module(dtype, cls, kwargs, fn):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, t = _inputs(cls.__name__, rng, dtype, kwargs.get("ignore_index", -100))
    ours = cls(**_kwargs(kwargs, mt.tensor, dtype))
    theirs = getattr(torch.nn, cls.__name__)(**_kwargs(kwargs, torch.tensor, dtype))
    xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs, mt.tensor(t)), theirs(xt, torch.tensor(t))
    g = rng.standard_normal(tuple(yt.shape)).astype(dtype)
    y.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), **tol)
