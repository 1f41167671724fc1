"""Losses: cross_entropy equals a plain loop over samples (and pixels) for every option (weight,
ignore_index, label_smoothing, reductions, probability targets), its fused backward passes
gradcheck in float64, an all-ignored batch behaves as in PyTorch, bad targets fail with the
offending value and the shapes, and every loss equals PyTorch's forward and backward."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available
from minitorch_cv.functional.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from tests.strategies_core import SETTINGS

# --------------------------------------------------------------------------- loop references


def _positions(shape):
    """Every (n, d1, d2, ...) index of an (N, C, d1, ...) input, classes left out."""
    return list(np.ndindex(shape[0], *shape[2:]))


def _log_softmax(logits):
    m = max(logits)
    lse = m + math.log(sum(math.exp(v - m) for v in logits))
    return [v - lse for v in logits]


def loop_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", eps=0.0):
    """PyTorch's documented formula, one sample (or pixel) at a time."""
    c = x.shape[1]
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    losses = np.zeros((x.shape[0], *x.shape[2:]))
    total_weight = 0.0
    for pos in _positions(x.shape):
        target = int(t[pos])
        if target == ignore_index:
            continue
        logits = [float(x[(pos[0], k, *pos[1:])]) for k in range(c)]
        logp = _log_softmax(logits)
        q = [(1 - eps) * (k == target) + eps / c for k in range(c)]
        losses[pos] = -sum(w[k] * q[k] * logp[k] for k in range(c))
        total_weight += w[target]
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / total_weight if total_weight else float("nan")


def loop_soft_cross_entropy(x, y, weight=None, reduction="mean", eps=0.0):
    c = x.shape[1]
    w = [1.0] * c if weight is None else [float(v) for v in weight]
    losses = np.zeros((x.shape[0], *x.shape[2:]))
    for pos in _positions(x.shape):
        at = lambda a, k: float(a[(pos[0], k, *pos[1:])])  # noqa: B023
        logp = _log_softmax([at(x, k) for k in range(c)])
        losses[pos] = -sum(w[k] * ((1 - eps) * at(y, k) + eps / c) * logp[k] for k in range(c))
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / losses.size


def loop_nll(x, t, weight=None, ignore_index=-100, reduction="mean"):
    c = x.shape[1]
    w = [1.0] * c if weight is None else list(weight)
    losses = np.zeros((x.shape[0], *x.shape[2:]))
    total = 0.0
    for pos in _positions(x.shape):
        k = int(t[pos])
        if k != ignore_index:
            losses[pos] = -w[k] * float(x[(pos[0], k, *pos[1:])])
            total += w[k]
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / total


# --------------------------------------------------------------------------- strategies


@st.composite
def ce_case(draw):
    """Logits (N, C) or (N, C, H, W), class targets with some ignored, options of cross_entropy."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(ndim - 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    x = rng.standard_normal((n, c, *spatial)) * 2
    ignore_index = draw(st.sampled_from([-100, 1, 255]))
    t = rng.integers(0, c, (n, *spatial))
    if draw(st.booleans()):
        t[rng.random(t.shape) < 0.3] = ignore_index
    opts = dict(
        weight=rng.uniform(0.2, 2.0, c) if draw(st.booleans()) else None,
        ignore_index=ignore_index,
        reduction=draw(st.sampled_from(["mean", "sum", "none"])),
        label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.5])),
    )
    return x, t, opts


def _t(a, grad=False):
    if a is None:
        return None
    a = np.asarray(a)
    return mt.tensor(a.astype(np.float64) if a.dtype.kind == "f" else a, requires_grad=grad)


# --------------------------------------------------------------------------- cross_entropy


@SETTINGS
@given(case=ce_case())
def test_cross_entropy_matches_loop_over_samples(case):
    x, t, opts = case
    valid = t != opts["ignore_index"]
    assert np.all((t[valid] >= 0) & (t[valid] < x.shape[1]))
    y = cross_entropy(_t(x), _t(t), **dict(opts, weight=_t(opts["weight"])))
    want = loop_cross_entropy(
        x, t, opts["weight"], opts["ignore_index"], opts["reduction"], opts["label_smoothing"]
    )
    assert y.shape == np.shape(want)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(case=ce_case())
def test_cross_entropy_gradcheck_float64(case):
    x, t, opts = case
    if opts["reduction"] == "mean" and not np.any(t != opts["ignore_index"]):
        t.reshape(-1)[0] = 0  # mean over nothing is nan: no gradient to check
    kw = dict(opts, weight=_t(opts["weight"]))
    assert mt.gradcheck(
        lambda x: cross_entropy(x, _t(t), **kw), [_t(x, True)], atol=1e-7, rtol=1e-5
    )


@SETTINGS
@given(case=ce_case(), with_weight=st.booleans())
def test_cross_entropy_probability_targets_match_loop_and_gradcheck(case, with_weight):
    x, _, opts = case
    rng = np.random.default_rng(0)
    y = rng.random(x.shape)
    y /= y.sum(axis=1, keepdims=True)
    w = rng.uniform(0.5, 1.5, x.shape[1]) if with_weight else None
    red, eps = opts["reduction"], opts["label_smoothing"]
    out = cross_entropy(_t(x), _t(y), weight=_t(w), reduction=red, label_smoothing=eps)
    np.testing.assert_allclose(out.numpy(), loop_soft_cross_entropy(x, y, w, red, eps), rtol=1e-10)
    fn = lambda x, y: cross_entropy(x, y, weight=_t(w), reduction=red, label_smoothing=eps)
    assert mt.gradcheck(fn, [_t(x, True), _t(y, True)], atol=1e-7, rtol=1e-5)


def test_cross_entropy_gradient_is_softmax_minus_onehot():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    xt = _t(x, True)
    cross_entropy(xt, _t(t), reduction="sum").backward()
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(xt.grad.numpy(), p - np.eye(4)[t], rtol=1e-12, atol=1e-15)


def test_cross_entropy_weighted_mean_divides_by_the_target_weights():
    x = np.zeros((3, 2))  # every -log p = log 2
    t = np.array([0, 1, 1])
    w = np.array([1.0, 3.0])
    y = cross_entropy(_t(x), _t(t), weight=_t(w))
    # (1 + 3 + 3) log 2 / (1 + 3 + 3), not / 3
    assert y.item() == pytest.approx(math.log(2))
    y_sum = cross_entropy(_t(x), _t(t), weight=_t(w), reduction="sum")
    assert y_sum.item() == pytest.approx(7 * math.log(2))


def test_cross_entropy_ignored_targets_count_nowhere():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2, 2))
    t = rng.integers(0, 3, (4, 2, 2))
    t[0] = -100
    t[2, 1] = -100
    keep = t != -100
    xt = _t(x, True)
    y = cross_entropy(xt, _t(t))
    per = cross_entropy(_t(x), _t(t), reduction="none").numpy()
    assert y.item() == pytest.approx(per[keep].mean())
    assert np.all(per[~keep] == 0)
    y.backward()
    assert np.all(np.moveaxis(xt.grad.numpy(), 1, -1)[~keep] == 0)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_cross_entropy_all_ignored_batch(eps):
    """Mean over no targets is nan (as PyTorch), sum is 0, 'none' is all zeros; gradients are 0."""
    x = _t(np.random.default_rng(3).standard_normal((3, 4, 2)), True)
    t = _t(np.full((3, 2), -100))
    assert math.isnan(cross_entropy(x, t, label_smoothing=eps).item())
    y = cross_entropy(x, t, reduction="sum", label_smoothing=eps)
    assert y.item() == 0.0
    y.backward()
    assert np.all(x.grad.numpy() == 0)
    assert np.all(cross_entropy(x, t, reduction="none", label_smoothing=eps).numpy() == 0)


def test_cross_entropy_unbatched_input():
    x = np.array([0.5, -1.0, 2.0])
    y = cross_entropy(_t(x), _t(np.array(2)), reduction="none")
    assert y.shape == ()
    assert y.item() == pytest.approx(-_log_softmax(list(x))[2])
    soft = cross_entropy(_t(x), _t(np.array([0.2, 0.3, 0.5])))
    assert soft.item() == pytest.approx(
        -sum(q * lp for q, lp in zip([0.2, 0.3, 0.5], _log_softmax(list(x))))
    )


def test_cross_entropy_float32_large_logits_do_not_overflow():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((8, 5, 3, 3)) * 1e4).astype(np.float32)
    t = rng.integers(0, 5, (8, 3, 3))
    xt = mt.tensor(x, requires_grad=True)
    y = cross_entropy(xt, _t(t))
    y.backward()
    assert y.dtype == np.float32 and xt.grad.dtype == np.float32
    want = loop_cross_entropy(x.astype(np.float64), t)
    assert y.item() == pytest.approx(want, rel=1e-5)
    assert np.all(np.isfinite(xt.grad.numpy()))


def test_cross_entropy_errors_name_value_and_shapes():
    x = mt.randn(4, 3, 5, 5)
    t = mt.tensor(np.zeros((4, 5, 5), dtype=np.int64))
    bad = np.zeros((4, 5, 5), dtype=np.int64)
    bad[1, 2, 3] = 7
    with pytest.raises(
        ValueError, match=r"target value 7 .*3 classes.*\(4, 3, 5, 5\).*\(4, 5, 5\)"
    ):
        cross_entropy(x, mt.tensor(bad))
    bad[1, 2, 3] = -1
    with pytest.raises(ValueError, match=r"target value -1 "):
        cross_entropy(x, mt.tensor(bad))
    bad[1, 2, 3] = 255  # fine when it is the ignore_index
    assert np.isfinite(cross_entropy(x, mt.tensor(bad), ignore_index=255).item())
    with pytest.raises(
        ValueError, match=r"target shape \(4, 5\) does not match input shape \(4, 3, 5, 5\)"
    ):
        cross_entropy(x, mt.tensor(np.zeros((4, 5), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"float target .*\(4, 3, 5, 5\).*\(4, 5, 5\)"):
        cross_entropy(x, mt.zeros(4, 5, 5))
    with pytest.raises(ValueError, match=r"weight has shape \(4,\)"):
        cross_entropy(x, t, weight=mt.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        cross_entropy(x, t, label_smoothing=1.5)


# --------------------------------------------------------------------------- nll_loss


@SETTINGS
@given(case=ce_case())
def test_nll_loss_matches_loop_and_gradcheck(case):
    x, t, opts = case
    if opts["reduction"] == "mean" and not np.any(t != opts["ignore_index"]):
        t.reshape(-1)[0] = 0
    kw = dict(
        weight=_t(opts["weight"]), ignore_index=opts["ignore_index"], reduction=opts["reduction"]
    )
    y = nll_loss(_t(x), _t(t), **kw)
    want = loop_nll(x, t, opts["weight"], opts["ignore_index"], opts["reduction"])
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-14)
    assert mt.gradcheck(lambda x: nll_loss(x, _t(t), **kw), [_t(x, True)])


def test_nll_loss_errors():
    with pytest.raises(ValueError, match=r"nll_loss: target value 3 .*3 classes"):
        nll_loss(mt.randn(2, 3), mt.tensor([0, 3]))
    with pytest.raises(ValueError, match=r"nll_loss: expected integer class targets"):
        nll_loss(mt.randn(2, 3), mt.tensor([0.0, 1.0]))


# --------------------------------------------------------------------------- element-wise losses

ELEMENTWISE = {
    "mse": (lambda x, y, **k: mse_loss(x, y, **k), lambda x, y: (x - y) ** 2),
    "l1": (lambda x, y, **k: l1_loss(x, y, **k), lambda x, y: np.abs(x - y)),
    "smooth_l1": (
        lambda x, y, **k: smooth_l1_loss(x, y, beta=0.7, **k),
        lambda x, y: np.where(np.abs(x - y) < 0.7, 0.5 * (x - y) ** 2 / 0.7, np.abs(x - y) - 0.35),
    ),
    "bce_logits": (
        lambda x, y, **k: binary_cross_entropy_with_logits(x, y, **k),
        lambda x, y: (
            -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))
        ),
    ),
    "bce": (
        lambda x, y, **k: binary_cross_entropy(1 / (1 + (-x).exp()), y, **k),
        lambda x, y: (
            -(y * np.log(1 / (1 + np.exp(-x))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-x))))
        ),
    ),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(ELEMENTWISE)),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_elementwise_losses_match_formula_and_gradcheck(name, shape, reduction, seed):
    ours, formula = ELEMENTWISE[name]
    rng = np.random.default_rng(seed)
    # inputs on a grid away from the kinks of l1 / smooth_l1 (d = 0 and |d| = beta)
    x = rng.integers(-20, 20, shape) / 10 + 0.033
    y = rng.random(shape) if name.startswith("bce") else rng.integers(-20, 20, shape) / 10
    out = ours(_t(x), _t(y), reduction=reduction)
    per = formula(x, y)
    want = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)
    fn = lambda x, y: ours(x, y, reduction=reduction)
    assert mt.gradcheck(fn, [_t(x, True), _t(y, True)], atol=1e-7, rtol=1e-5)


def test_bce_with_logits_weights_and_pos_weight_gradcheck():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, 3)) * 3, rng.random((4, 3))
    w, pw = rng.uniform(0.5, 2, (4, 3)), rng.uniform(0.5, 3, 3)
    out = binary_cross_entropy_with_logits(_t(x), _t(y), _t(w), pos_weight=_t(pw), reduction="none")
    s = 1 / (1 + np.exp(-x))
    want = -w * (pw * y * np.log(s) + (1 - y) * np.log(1 - s))
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-10)
    fn = lambda *a: binary_cross_entropy_with_logits(a[0], a[1], a[2], pos_weight=a[3])
    assert mt.gradcheck(fn, [_t(a, True) for a in (x, y, w, pw)])


def test_bce_with_logits_is_stable_for_huge_logits():
    x = mt.tensor(np.array([-200.0, -50.0, 50.0, 200.0], dtype=np.float32), requires_grad=True)
    y = mt.tensor(np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32))
    out = binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(out.numpy(), [200.0, 0.0, 0.0, 200.0], atol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 0.0, 0.0, 1.0], atol=1e-6)


def test_binary_losses_errors():
    with pytest.raises(
        ValueError, match=r"Target size \(\(4,\)\) must be the same as input size \(\(4, 1\)\)"
    ):
        binary_cross_entropy_with_logits(mt.randn(4, 1), mt.rand(4))
    with pytest.raises(ValueError, match=r"between 0 and 1"):
        binary_cross_entropy(mt.tensor([0.5, 1.5]), mt.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(5,\) does not broadcast"):
        binary_cross_entropy_with_logits(mt.randn(4, 3), mt.rand(4, 3), pos_weight=mt.ones(5))


def test_mse_warns_when_shapes_broadcast_and_fails_when_they_do_not():
    with pytest.warns(UserWarning, match=r"target size \(4,\).*input size \(4, 1\)"):
        assert mse_loss(mt.randn(4, 1), mt.randn(4), reduction="none").shape == (4, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mse_loss(mt.randn(4), mt.randn(4))
    with pytest.raises(ValueError, match=r"l1_loss: input shape \(4, 2\) and target shape \(3,\)"):
        l1_loss(mt.randn(4, 2), mt.randn(3))


# --------------------------------------------------------------------------- parity with torch

TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _ce_configs():
    rng = np.random.default_rng(6)
    w = rng.uniform(0.3, 2, 5)
    for shape in [(7, 5), (3, 5, 4, 6)]:
        for red in ["mean", "sum", "none"]:
            for eps in [0.0, 0.15]:
                for weight in [None, w]:
                    yield shape, dict(weight=weight, reduction=red, label_smoothing=eps)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,opts", list(_ce_configs()))
def test_cross_entropy_matches_torch(dtype, shape, opts):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    t.reshape(-1)[::4] = 255
    probs = rng.random(shape).astype(dtype)
    probs /= probs.sum(axis=1, keepdims=True)
    w = opts["weight"]
    for target, ignore in ((t, 255), (probs, -100)):
        xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        kw = dict(
            reduction=opts["reduction"],
            label_smoothing=opts["label_smoothing"],
            ignore_index=ignore,
        )
        y = cross_entropy(
            xs, mt.tensor(target), weight=None if w is None else mt.tensor(w.astype(dtype)), **kw
        )
        yt = torch.nn.functional.cross_entropy(
            xt,
            torch.tensor(target),
            weight=None if w is None else torch.tensor(w.astype(dtype)),
            **kw,
        )
        g = rng.standard_normal(yt.shape).astype(dtype)
        y.backward(mt.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **TOL[dtype])
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), **TOL[dtype])


@pytest.mark.parity
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_all_ignored_matches_torch(eps):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((3, 4))
    t = np.full(3, -100)
    for red in ["mean", "sum", "none"]:
        ours = cross_entropy(_t(x), _t(t), reduction=red, label_smoothing=eps).numpy()
        theirs = torch.nn.functional.cross_entropy(
            torch.tensor(x), torch.tensor(t), reduction=red, label_smoothing=eps
        ).numpy()
        np.testing.assert_array_equal(ours, theirs)


def _pair_losses(torch):
    F = torch.nn.functional
    rng = np.random.default_rng(9)
    w, pw = rng.uniform(0.5, 2, (6, 3)), rng.uniform(0.5, 3, 3)
    return {
        "mse_loss": (mse_loss, F.mse_loss, {}),
        "l1_loss": (l1_loss, F.l1_loss, {}),
        "smooth_l1_loss": (smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.5}),
        "bce_logits": (binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits, {}),
        "bce_logits_w": (
            binary_cross_entropy_with_logits, F.binary_cross_entropy_with_logits,
            {"weight": w, "pos_weight": pw},
        ),
        "bce": (binary_cross_entropy, F.binary_cross_entropy, {"weight": w}),
    }  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "name", ["mse_loss", "l1_loss", "smooth_l1_loss", "bce_logits", "bce_logits_w", "bce", "nll"]
)
def test_losses_match_torch(dtype, reduction, name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    if name == "nll":
        x = np.log(rng.dirichlet(np.ones(4), size=(5, 3)).transpose(0, 2, 1)).astype(dtype)
        y = rng.integers(0, 4, (5, 3))
        y[0, 0] = -100
        ours_fn, torch_fn = nll_loss, torch.nn.functional.nll_loss
        kw = {"weight": rng.uniform(0.5, 2, 4)}
        target_grad = False
    else:
        ours_fn, torch_fn, kw = _pair_losses(torch)[name]
        x = rng.standard_normal((6, 3)) * 2
        x = (1 / (1 + np.exp(-x)) if name == "bce" else x).astype(dtype)
        y = rng.random((6, 3)).astype(dtype)
        target_grad = True
    xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = mt.tensor(y, requires_grad=target_grad), torch.tensor(y, requires_grad=target_grad)
    ko = {k: mt.tensor(np.asarray(v, dtype)) for k, v in kw.items()}
    kt = {k: torch.tensor(np.asarray(v, dtype)) for k, v in kw.items()}
    out, out_t = (
        ours_fn(xs, ys, reduction=reduction, **ko),
        torch_fn(xt, yt, reduction=reduction, **kt),
    )
    g = rng.standard_normal(out_t.shape).astype(dtype)
    out.backward(mt.tensor(g))
    out_t.backward(torch.tensor(g))
    tol = TOL[dtype]
    np.testing.assert_allclose(out.numpy(), out_t.detach().numpy(), **tol)
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), **tol)
    if target_grad:
        np.testing.assert_allclose(ys.grad.numpy(), yt.grad.numpy(), **tol)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_cupy_matches_numpy(eps):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 5, 3, 3))
    t = rng.integers(0, 5, (4, 3, 3))
    t[0, 0, 0] = -100
    w = rng.uniform(0.5, 2, 5)
    results = []
    for dev in ("cpu", "cuda"):
        xt = mt.tensor(x, requires_grad=True, device=dev)
        y = cross_entropy(
            xt, mt.tensor(t, device=dev), weight=mt.tensor(w, device=dev), label_smoothing=eps
        )
        y.backward()
        results.append((np.asarray(y), np.asarray(xt.grad)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_losses_on_an_empty_batch_follow_pytorch(smoothing):
    """mean over nothing is nan, sum is 0, 'none' is empty; no NumPy reshape error."""
    F = mt.functional
    for red, check in (
        ("mean", np.isnan),
        ("sum", lambda v: v == 0),
        ("none", lambda v: v.size == 0),
    ):
        cases = [((0, 5), (0,)), ((0, 5, 3, 3), (0, 3, 3))]
        for x, t in (
            (mt.zeros(*a, requires_grad=True), mt.zeros(*b, dtype=mt.int64)) for a, b in cases
        ):
            y = F.cross_entropy(x, t, reduction=red, label_smoothing=smoothing)
            assert check(y.numpy()), (red, x.shape)
            y.sum().backward()
            assert x.grad.shape == x.shape
            assert check(F.nll_loss(x, t, reduction=red).numpy())
        assert check(F.cross_entropy(mt.zeros(0, 5), mt.zeros(0, 5), reduction=red).numpy())
