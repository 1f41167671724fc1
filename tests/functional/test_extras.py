"""instance_norm, pixel_shuffle / pixel_unshuffle, one_hot, normalize, cosine_similarity,
pairwise_distance, huber_loss, kl_div: each against a loop written from its textbook formula,
gradcheck in float64 over hypothesis-drawn shapes, and PyTorch's forward and backward when torch
is there."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies_core import (
    SETTINGS,
    arrays,
    check_grad,
    check_parity,
    nonzero_arrays,
    positive_arrays,
)

# --------------------------------------------------------------------------- instance norm


def loop_instance_norm(x, weight, bias, eps):
    """Every (sample, channel) plane normalised by its own mean and biased variance."""
    y = np.empty_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            plane = x[n, c]
            mean = sum(plane.reshape(-1)) / plane.size
            var = sum((v - mean) ** 2 for v in plane.reshape(-1)) / plane.size
            w = 1.0 if weight is None else weight[c]
            b = 0.0 if bias is None else bias[c]
            y[n, c] = (plane - mean) / np.sqrt(var + eps) * w + b
    return y


@st.composite
def instance_case(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    if np.prod(spatial) < 2:
        spatial = [2, *spatial[1:]]
    x = draw(arrays((n, c, *spatial), -2.0, 2.0, unique=True))
    affine = draw(st.booleans())
    w = draw(arrays((c,), 0.5, 2.0)) if affine else None
    b = draw(arrays((c,), -1.0, 1.0)) if affine else None
    return x, w, b


@SETTINGS
@given(case=instance_case())
def test_instance_norm_matches_loop_and_gradcheck(case):
    x, w, b = case
    got = F.instance_norm(mt.tensor(x), weight=None if w is None else mt.tensor(w),
                          bias=None if b is None else mt.tensor(b)).numpy()  # fmt: skip
    np.testing.assert_allclose(got, loop_instance_norm(x, w, b, 1e-5), rtol=1e-10, atol=1e-10)
    arrays_ = [a for a in (x, w, b) if a is not None]
    if w is None:
        check_grad(lambda L, x: L.F.instance_norm(x), arrays_)
    else:
        check_grad(lambda L, x, w, b: L.F.instance_norm(x, weight=w, bias=b), arrays_)


@pytest.mark.parity
@SETTINGS
@given(case=instance_case(), momentum=st.sampled_from([0.1, 0.5]))
def test_instance_norm_matches_torch_with_running_stats(case, momentum):
    torch = pytest.importorskip("torch")
    x, w, b = case
    c = x.shape[1]
    if w is not None:
        check_parity(torch, lambda L, x, w, b: L.F.instance_norm(x, weight=w, bias=b), [x, w, b])
    rm, rv = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)
    ours_m, ours_v = mt.tensor(rm.copy()), mt.tensor(rv.copy())
    theirs_m, theirs_v = torch.tensor(rm.copy()), torch.tensor(rv.copy())
    F.instance_norm(mt.tensor(x), ours_m, ours_v, momentum=momentum)
    torch.nn.functional.instance_norm(torch.tensor(x), theirs_m, theirs_v, momentum=momentum)
    np.testing.assert_allclose(ours_m.numpy(), theirs_m.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours_v.numpy(), theirs_v.numpy(), rtol=1e-12, atol=1e-14)
    # with use_input_stats=False the running statistics normalise, as in batch_norm's eval mode
    y = F.instance_norm(mt.tensor(x), ours_m, ours_v, use_input_stats=False).numpy()
    yt = torch.nn.functional.instance_norm(torch.tensor(x), theirs_m, theirs_v,
                                           use_input_stats=False).numpy()  # fmt: skip
    np.testing.assert_allclose(y, yt, rtol=1e-12, atol=1e-12)


def test_instance_norm_errors():
    with pytest.raises(ValueError, match=r"instance_norm: expected input of shape \(N, C, \*\)"):
        F.instance_norm(mt.zeros(4))
    with pytest.raises(ValueError, match=r"weight has shape \(2,\) but the input has 3 channels"):
        F.instance_norm(mt.randn(2, 3, 4), weight=mt.ones(2))


# --------------------------------------------------------------------------- pixel shuffle


def loop_pixel_shuffle(x, r):
    n, c, h, w = x.shape
    out = np.empty((n, c // (r * r), h * r, w * r), x.dtype)
    for i in np.ndindex(out.shape):
        b, ch, y, xx = i
        out[i] = x[b, ch * r * r + (y % r) * r + xx % r, y // r, xx // r]
    return out


@SETTINGS
@given(r=st.integers(1, 3), c=st.integers(1, 2), h=st.integers(1, 3), w=st.integers(1, 3),
       lead=st.sampled_from([(), (2,), (1, 2)]), data=st.data())  # fmt: skip
def test_pixel_shuffle_matches_loop_inverts_and_gradchecks(r, c, h, w, lead, data):
    x = data.draw(arrays((*lead, c * r * r, h, w)))
    y = F.pixel_shuffle(mt.tensor(x), r)
    flat = x.reshape((-1, c * r * r, h, w))
    expected = loop_pixel_shuffle(flat, r).reshape((*lead, c, h * r, w * r))
    np.testing.assert_array_equal(y.numpy(), expected)
    np.testing.assert_array_equal(F.pixel_unshuffle(y, r).numpy(), x)
    check_grad(lambda L, a: L.F.pixel_shuffle(a, r), [x])
    check_grad(lambda L, a: L.F.pixel_unshuffle(a, r), [expected])


@pytest.mark.parity
def test_pixel_shuffle_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 18, 3, 4))
    check_parity(torch, lambda L, a: L.F.pixel_shuffle(a, 3), [x])
    check_parity(torch, lambda L, a: L.F.pixel_unshuffle(a, 2), [x[:, :, :2, :]])


def test_pixel_shuffle_errors():
    with pytest.raises(ValueError, match=r"channels divisible by 4, got shape \(1, 3, 2, 2\)"):
        F.pixel_shuffle(mt.zeros(1, 3, 2, 2), 2)
    with pytest.raises(ValueError, match=r"H and W divisible by 2, got shape \(1, 3, 3, 2\)"):
        F.pixel_unshuffle(mt.zeros(1, 3, 3, 2), 2)


# --------------------------------------------------------------------------- one_hot


def test_one_hot_by_hand_and_errors():
    got = F.one_hot(mt.tensor(np.array([[0, 2], [1, 0]])), 3)
    assert got.dtype == np.int64 and got.shape == (2, 2, 3)
    np.testing.assert_array_equal(got.numpy(), [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [1, 0, 0]]])
    assert F.one_hot(mt.tensor(np.array([3, 1]))).shape == (2, 4)  # inferred: max + 1
    with pytest.raises(ValueError, match="class index 3 is out of range for 3 classes"):
        F.one_hot(mt.tensor(np.array([3])), 3)
    with pytest.raises(ValueError, match="must be >= 0"):
        F.one_hot(mt.tensor(np.array([-1])), 3)
    with pytest.raises(TypeError, match="expected integer class indices"):
        F.one_hot(mt.tensor(np.array([1.0])), 3)


# --------------------------------------------------------------------------- distances


@st.composite
def pair_case(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    # no zero vector (normalize and cosine_similarity clamp there) and b - a away from 0
    # (pairwise_distance has a kink where b == a); the 1.37 keeps b off the grid's zeros
    a = draw(nonzero_arrays(shape))
    b = a + 1.37 * draw(nonzero_arrays(shape))
    return a, b, draw(st.integers(-len(shape), len(shape) - 1))


@SETTINGS
@given(case=pair_case(), p=st.sampled_from([1.0, 2.0, 3.0]))
def test_normalize_cosine_pairwise_match_formulas_and_gradcheck(case, p):
    a, b, dim = case
    norm = np.sum(np.abs(a) ** p, axis=dim, keepdims=True) ** (1 / p)
    np.testing.assert_allclose(F.normalize(mt.tensor(a), p, dim).numpy(),
                               a / np.maximum(norm, 1e-12), rtol=1e-12)  # fmt: skip
    cos = np.sum(a * b, axis=dim) / np.sqrt(
        np.maximum(np.sum(a * a, axis=dim) * np.sum(b * b, axis=dim), 1e-16)
    )
    np.testing.assert_allclose(F.cosine_similarity(mt.tensor(a), mt.tensor(b), dim).numpy(), cos,
                               rtol=1e-12, atol=1e-15)  # fmt: skip
    dist = np.sum(np.abs(a - b + 1e-6) ** p, axis=-1) ** (1 / p)
    np.testing.assert_allclose(F.pairwise_distance(mt.tensor(a), mt.tensor(b), p).numpy(), dist,
                               rtol=1e-12)  # fmt: skip
    check_grad(lambda L, x: L.F.normalize(x, p, dim), [a])
    check_grad(lambda L, x, y: L.F.cosine_similarity(x, y, dim), [a, b])
    check_grad(lambda L, x, y: L.F.pairwise_distance(x, y, p), [a, b])


@pytest.mark.parity
@SETTINGS
@given(case=pair_case())
def test_distances_match_torch(case):
    torch = pytest.importorskip("torch")
    a, b, dim = case
    check_parity(torch, lambda L, x: L.F.normalize(x, 2.0, dim), [a])
    check_parity(torch, lambda L, x, y: L.F.cosine_similarity(x, y, dim), [a, b])
    check_parity(torch, lambda L, x, y: L.F.pairwise_distance(x, y), [a, b])


def test_normalize_keeps_a_zero_vector_at_zero():
    x = mt.tensor(np.zeros((2, 3)), requires_grad=True)
    y = F.normalize(x, dim=1)
    y.sum().backward()
    assert np.all(y.numpy() == 0) and np.all(np.isfinite(x.grad.numpy()))


# --------------------------------------------------------------------------- losses


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       delta=st.sampled_from([0.5, 1.0, 2.5]),
       reduction=st.sampled_from(["mean", "sum", "none"]), data=st.data())  # fmt: skip
def test_huber_loss_formula_gradcheck(shape, delta, reduction, data):
    x, y = data.draw(arrays(shape, -3.0, 3.0)), data.draw(arrays(shape, -3.0, 3.0))
    d = np.abs(x - y)
    pointwise = np.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta))
    expected = {"mean": pointwise.mean(), "sum": pointwise.sum(), "none": pointwise}[reduction]
    got = F.huber_loss(mt.tensor(x), mt.tensor(y), reduction, delta).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    check_grad(lambda L, a, b: L.F.huber_loss(a, b, reduction=reduction, delta=delta), [x, y])


@pytest.mark.filterwarnings("ignore:kl_div")
@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), log_target=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none", "batchmean"]), data=st.data())  # fmt: skip
def test_kl_div_formula_gradcheck(n, c, log_target, reduction, data):
    x = data.draw(arrays((n, c), -3.0, 0.0))  # log-probabilities (not normalised: any values)
    t = data.draw(positive_arrays((n, c), 1.0))
    if not log_target:
        t[0, 0] = 0.0  # a zero target contributes 0, and no nan
    target = np.log(t + 0.1) if log_target else t
    if log_target:
        pointwise = np.exp(target) * (target - x)
    else:
        pointwise = np.where(t > 0, t * np.log(np.where(t > 0, t, 1)), 0) - t * x
    expected = {"mean": pointwise.mean(), "sum": pointwise.sum(), "none": pointwise,
                "batchmean": pointwise.sum() / n}[reduction]  # fmt: skip
    got = F.kl_div(mt.tensor(x), mt.tensor(target), reduction, log_target).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    kw = dict(reduction=reduction, log_target=log_target)
    fixed = mt.tensor(target)  # t log t has no derivative at t = 0: the input's gradient only
    assert mt.gradcheck(lambda a: F.kl_div(a, fixed, **kw), mt.tensor(x, requires_grad=True))
    if log_target:
        check_grad(lambda L, a, b: L.F.kl_div(a, b, **kw), [x, target])


@pytest.mark.parity
@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
def test_kl_div_and_huber_match_torch(reduction, log_target):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = np.log(rng.dirichlet(np.ones(5), size=4))
    t = rng.dirichlet(np.ones(5), size=4)
    t[1, 2] = 0.0
    target = np.log(t + 1e-3) if log_target else t
    kw = dict(reduction=reduction, log_target=log_target)
    ours_x, ours_t = mt.tensor(x, requires_grad=True), mt.tensor(target, requires_grad=True)
    their_x = torch.tensor(x, requires_grad=True)
    their_t = torch.tensor(target, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that 'mean' is not the KL divergence
        y, yt = F.kl_div(ours_x, ours_t, **kw), torch.nn.functional.kl_div(their_x, their_t, **kw)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    w = rng.standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.numpy(), their_x.grad.numpy(), rtol=1e-12, atol=1e-15)
    # torch's target gradient is nan at a zero target (log 0); ours is the -input term's there
    gt, gtt = ours_t.grad.numpy(), their_t.grad.numpy()
    seen = ~np.isnan(gtt)
    assert log_target or not seen[1, 2]
    np.testing.assert_allclose(gt[seen], gtt[seen], rtol=1e-10, atol=1e-15)
    assert np.isfinite(gt).all()
    if reduction != "batchmean":
        check_parity(torch, lambda L, a, b: L.F.huber_loss(a, b, reduction=reduction, delta=0.3),
                     [x, t])  # fmt: skip


def test_loss_option_errors():
    with pytest.raises(ValueError, match="delta must be > 0"):
        F.huber_loss(mt.zeros(2), mt.zeros(2), delta=0)
    with pytest.raises(ValueError, match="reduction must be 'none', 'mean', 'sum' or 'batchmean'"):
        F.kl_div(mt.zeros(2), mt.zeros(2), reduction="avg")
    with pytest.warns(UserWarning, match="'batchmean' gives the KL divergence"):
        F.kl_div(mt.zeros(2), mt.zeros(2))


def test_cosine_similarity_of_tiny_vectors_keeps_their_angle():
    tiny = mt.tensor([[1e-5, 0.0, 0.0]])
    assert F.cosine_similarity(tiny, tiny).item() == pytest.approx(1.0)
    assert F.cosine_similarity(tiny, mt.zeros(1, 3)).item() == 0.0
