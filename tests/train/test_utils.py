"""Gradient clipping against its formula and against torch.nn.utils; class weights by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minitorch_cv.data import ArrayDataset, DataLoader
from minitorch_cv.tensor import Tensor
from minitorch_cv.train.utils import (
    class_counts,
    class_weights,
    clip_grad_norm_,
    clip_grad_value_,
)


def _params_with_grads(grads):
    params = []
    for g in grads:
        p = Tensor(np.zeros_like(g), requires_grad=True)
        p.grad = Tensor(g.copy())
        params.append(p)
    return params


def _random_grads(rng, scale=1.0):
    shapes = [(3, 4), (5,), (2, 2, 3)]
    return [rng.normal(0, scale, s) for s in shapes]


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.1, 1e3])
def test_clip_grad_norm_follows_formula(norm_type, max_norm):
    grads = _random_grads(np.random.default_rng(0))
    flat = np.concatenate([g.ravel() for g in grads])
    total = np.abs(flat).max() if math.isinf(norm_type) else np.linalg.norm(flat, norm_type)
    params = _params_with_grads(grads)
    returned = clip_grad_norm_(params, max_norm, norm_type)
    assert float(returned.item()) == pytest.approx(total, rel=1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-12)
    clipped = np.concatenate([p.grad.numpy().ravel() for p in params])
    new = np.abs(clipped).max() if math.isinf(norm_type) else np.linalg.norm(clipped, norm_type)
    assert new <= max_norm + 1e-9 or max_norm > total


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    max_norm=st.floats(0.01, 10.0),
    norm_type=st.sampled_from([1.0, 2.0, 2.5, math.inf]),
)
def test_clip_grad_norm_matches_torch(seed, max_norm, norm_type):
    torch = pytest.importorskip("torch")
    grads = [g.astype(np.float32) for g in _random_grads(np.random.default_rng(seed), 2.0)]
    params = _params_with_grads(grads)
    tparams = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.tensor(g)
    ours = clip_grad_norm_(params, max_norm, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type)
    assert float(ours.item()) == pytest.approx(float(theirs), rel=1e-5)
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_matches_torch_and_clip():
    grads = [g.astype(np.float32) for g in _random_grads(np.random.default_rng(1), 2.0)]
    params = _params_with_grads(grads)
    clip_grad_value_(params, 0.5)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(g, -0.5, 0.5))
    torch = pytest.importorskip("torch")
    tparams = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for tp, g in zip(tparams, grads):
        tp.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(tparams, 0.5)
    for p, tp in zip(params, tparams):
        np.testing.assert_array_equal(p.grad.numpy(), tp.grad.numpy())


def test_clipping_skips_parameters_without_grad_and_accepts_one_tensor():
    p = Tensor(np.zeros(3), requires_grad=True)
    q = Tensor(np.zeros(2), requires_grad=True)
    q.grad = Tensor(np.array([3.0, 4.0]))
    total = clip_grad_norm_([p, q], 1.0)
    assert float(total.item()) == pytest.approx(5.0)
    assert p.grad is None
    np.testing.assert_allclose(q.grad.numpy(), [0.6, 0.8], rtol=1e-6)
    assert float(clip_grad_norm_(p, 1.0).item()) == 0.0  # no gradient at all: norm 0
    clip_grad_value_(q, 0.7)
    np.testing.assert_allclose(q.grad.numpy(), [0.6, 0.7], rtol=1e-6)


def test_clip_grad_norm_bad_input():
    q = Tensor(np.zeros(2), requires_grad=True)
    q.grad = Tensor(np.array([np.nan, 1.0]))
    with pytest.raises(RuntimeError, match="total norm .* is nan"):
        clip_grad_norm_([q], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be >= 0"):
        clip_grad_norm_([q], -1.0)
    with pytest.raises(ValueError, match="norm_type must be > 0"):
        clip_grad_norm_([q], 1.0, norm_type=0)
    with pytest.raises(ValueError, match="clip_value must be >= 0"):
        clip_grad_value_([q], -0.1)


# --------------------------------------------------------------------------- class weights


def test_class_weights_by_hand():
    # 6 pixels of class 0, 3 of class 1, 1 of class 2, 2 void pixels (255) left out
    mask = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 1, 2, 255, 255]])
    np.testing.assert_array_equal(class_counts(mask, 3), [6, 3, 1])
    w = class_weights(mask, 3).numpy()
    # freq 0.6 / 0.3 / 0.1 -> 1/freq scaled so that sum(freq * w) = 1: 1/1.8, 1/0.9, 1/0.3
    np.testing.assert_allclose(w, [1 / 1.8, 1 / 0.9, 1 / 0.3], rtol=1e-6)
    assert w.dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(
    counts=st.lists(st.integers(0, 50), min_size=2, max_size=6), power=st.sampled_from([1.0, 0.5])
)
def test_class_weights_balance_the_classes(counts, power):
    labels = np.repeat(np.arange(len(counts)), counts)
    if labels.size == 0:
        with pytest.raises(ValueError, match="no labels to count"):
            class_weights(labels, len(counts))
        return
    w = class_weights(labels, len(counts), power=power).numpy().astype(np.float64)
    c = np.asarray(counts, dtype=np.float64)
    present = c > 0
    # frequency-weighted mean weight is 1
    assert (c[present] / c.sum() * w[present]).sum() == pytest.approx(1.0, rel=1e-5)
    if power == 1.0:
        # every present class carries the same total weight count * w (inverse frequency)
        totals = c[present] * w[present]
        np.testing.assert_allclose(totals, totals[0], rtol=1e-5)
    # absent classes weigh as much as the rarest present one
    if (~present).any():
        np.testing.assert_allclose(w[~present], w[present].max(), rtol=1e-6)


def test_class_weights_from_dataset_and_loader_agree():
    rng = np.random.default_rng(0)
    masks = rng.integers(0, 4, (10, 6, 6))
    masks[:, 0, 0] = 255
    ds = ArrayDataset(np.zeros((10, 3, 6, 6), np.float32), masks, ["a", "b", "c", "d"])
    loader = DataLoader(ds, batch_size=3, shuffle=True, seed=0)
    a = class_weights(ds, 4).numpy()
    b = class_weights(loader, 4).numpy()
    assert loader.epoch == 0  # given the loader, its dataset is counted: no epoch consumed
    c = class_weights(iter(loader), 4).numpy()  # an iterator of (x, y) batches: one epoch
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, c, rtol=1e-6)


def test_class_weights_bad_input():
    with pytest.raises(ValueError, match=r"labels must be in 0..2 or 255, found 0..5"):
        class_weights(np.array([0, 1, 5]), 3)
    with pytest.raises(TypeError, match="integer labels"):
        class_weights(np.array([0.5, 1.0]), 3)
    with pytest.raises(ValueError, match="power must be >= 0"):
        class_weights(np.array([0, 1]), 2, power=-1)
