"""Margin, ranking, embedding and likelihood losses: multi_margin_loss (the linear SVM's hinge),
multilabel_soft_margin_loss, soft_margin_loss, margin_ranking_loss, hinge_embedding_loss,
cosine_embedding_loss, triplet_margin_loss, gaussian_nll_loss, poisson_nll_loss. Each equals a
plain loop written from its textbook formula for every option and reduction, passes gradcheck in
float64 over hypothesis-drawn shapes (inputs kept off the hinges' kinks), rejects bad input with a
message naming the op and the shapes, and equals PyTorch's forward and backward when torch is
there."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity, positive_arrays

REDUCTIONS = st.sampled_from(["mean", "sum", "none"])


def _reduce(per, reduction):
    per = np.asarray(per, dtype=np.float64)
    return {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]


# --------------------------------------------------------------------------- loop references


def loop_multi_margin(x, t, p, margin, weight):
    """Per sample: (1/C) sum over the classes i != y of w[y] max(0, margin - x[y] + x[i])^p."""
    n, c = x.shape
    out = []
    for s in range(n):
        y = t[s]
        total = 0.0
        for i in range(c):
            if i != y:
                total += (1.0 if weight is None else weight[y]) * max(
                    0.0, margin - x[s, y] + x[s, i]
                ) ** p
        out.append(total / c)
    return out


def loop_multilabel_soft_margin(x, y, weight):
    def log_sigmoid(v):
        return -math.log1p(math.exp(-v)) if v > 0 else v - math.log1p(math.exp(v))

    out = []
    for s in range(x.shape[0]):
        c = x.shape[1]
        total = 0.0
        for i in range(c):
            w = 1.0 if weight is None else weight[i]
            total -= w * (y[s, i] * log_sigmoid(x[s, i]) + (1 - y[s, i]) * log_sigmoid(-x[s, i]))
        out.append(total / c)
    return out


def loop_cosine(a, b):
    dot = sum(u * v for u, v in zip(a, b))
    return dot / math.sqrt((sum(u * u for u in a) + 1e-12) * (sum(v * v for v in b) + 1e-12))


def loop_distance(a, b, p, eps):
    return sum(abs(u - v + eps) ** p for u, v in zip(a, b)) ** (1 / p)


# --------------------------------------------------------------------------- multi-class hinge


@st.composite
def margin_case(draw):
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    x = draw(arrays((n, c), -2.0, 2.0))
    t = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    p = draw(st.sampled_from([1, 2]))
    # grid values are k/10 + 0.05, so margin - x_y + x_i stays >= 0.05 away from the kink at 0
    margin = draw(st.sampled_from([0.25, 0.55, 1.05]))
    weight = draw(st.none() | arrays((c,), 0.2, 2.0))
    return x, t, p, margin, weight


@SETTINGS
@given(case=margin_case(), reduction=REDUCTIONS)
def test_multi_margin_loss_matches_loop_and_gradcheck(case, reduction):
    x, t, p, margin, weight = case
    w = None if weight is None else mt.tensor(weight)
    got = F.multi_margin_loss(mt.tensor(x), mt.tensor(t), p, margin, w, reduction)
    want = _reduce(loop_multi_margin(x, t, p, margin, weight), reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a: L.F.multi_margin_loss(a, mt.tensor(t), p, margin, w, reduction), [x])


def test_multi_margin_loss_gradient_by_hand():
    # target 0, margin 1. Scores (3, 1, 2): rival margins h = 1 - 3 + (1, 2) = (-1, 0): none
    # violated (class 2 sits exactly on its margin), so no loss and no gradient
    x = mt.tensor([[3.0, 1.0, 2.0]], requires_grad=True)
    loss = F.multi_margin_loss(x, mt.tensor([0]))
    assert loss.item() == 0.0
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0, 0.0]])
    # scores (3, 2.5, 2.5): h = (0.5, 0.5), both violated: each rival's score gets + 1/C, the
    # target's - 2/C
    x = mt.tensor([[3.0, 2.5, 2.5]], requires_grad=True)
    loss = F.multi_margin_loss(x, mt.tensor([0]))
    assert loss.item() == pytest.approx((0.5 + 0.5) / 3)
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [[-2 / 3, 1 / 3, 1 / 3]])


def test_multi_margin_loss_unbatched_and_default_margin():
    x, t = np.array([0.3, 1.2, -0.4]), 1
    got = F.multi_margin_loss(mt.tensor(x), mt.tensor(t), reduction="none")
    assert got.shape == ()
    assert got.item() == pytest.approx(loop_multi_margin(x[None], [t], 1, 1.0, None)[0])


def test_multi_margin_loss_errors_name_the_op_and_shapes():
    x = mt.randn(4, 3)
    with pytest.raises(ValueError, match=r"multi_margin_loss: target value 3 is out of range"):
        F.multi_margin_loss(x, mt.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"integer class targets of shape \(4,\).*\(4, 3\)"):
        F.multi_margin_loss(x, mt.tensor([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match=r"integer class targets of shape \(4,\)"):
        F.multi_margin_loss(x, mt.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"only p = 1 and p = 2"):
        F.multi_margin_loss(x, mt.tensor([0, 1, 2, 1]), p=3)
    with pytest.raises(ValueError, match=r"weight has shape \(2,\), expected \(3,\)"):
        F.multi_margin_loss(x, mt.tensor([0, 1, 2, 1]), weight=mt.ones(2))
    with pytest.raises(ValueError, match=r"reduction must be"):
        F.multi_margin_loss(x, mt.tensor([0, 1, 2, 1]), reduction="avg")


# --------------------------------------------------------------------------- two-class margins


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 4), weighted=st.booleans(), reduction=REDUCTIONS,
       data=st.data())  # fmt: skip
def test_multilabel_soft_margin_loss_matches_loop_and_gradcheck(n, c, weighted, reduction, data):
    x = data.draw(arrays((n, c), -3.0, 3.0))
    y = data.draw(arrays((n, c), 0.0, 1.0))
    weight = data.draw(arrays((c,), 0.2, 2.0)) if weighted else None
    w = None if weight is None else mt.tensor(weight)
    got = F.multilabel_soft_margin_loss(mt.tensor(x), mt.tensor(y), w, reduction)
    want = _reduce(loop_multilabel_soft_margin(x, y, weight), reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a, b: L.F.multilabel_soft_margin_loss(a, b, w, reduction), [x, y])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple), reduction=REDUCTIONS,
       data=st.data())  # fmt: skip
def test_soft_margin_loss_matches_formula_and_gradcheck(shape, reduction, data):
    x = data.draw(arrays(shape, -3.0, 3.0))
    size = int(np.prod(shape))
    y = np.reshape(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=size,
                                      max_size=size)), shape)  # fmt: skip
    got = F.soft_margin_loss(mt.tensor(x), mt.tensor(y), reduction)
    per = [math.log1p(math.exp(-a * b)) for a, b in zip(x.ravel(), y.ravel())]
    want = _reduce(np.reshape(per, shape), reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a: L.F.soft_margin_loss(a, mt.tensor(y), reduction), [x])


def test_soft_margin_loss_does_not_overflow():
    x = mt.tensor(np.array([-500.0, 500.0], dtype=np.float32), requires_grad=True)
    loss = F.soft_margin_loss(x, mt.tensor(np.array([1.0, 1.0], dtype=np.float32)), "none")
    np.testing.assert_allclose(loss.numpy(), [500.0, 0.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1.0, 0.0])


@SETTINGS
@given(n=st.integers(1, 5), margin=st.sampled_from([0.25, -0.15, 1.05]), reduction=REDUCTIONS,
       data=st.data())  # fmt: skip
def test_margin_ranking_loss_matches_formula_and_gradcheck(n, margin, reduction, data):
    x1, x2 = data.draw(arrays((n,))), data.draw(arrays((n,)))
    y = np.array(data.draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n)))
    got = F.margin_ranking_loss(mt.tensor(x1), mt.tensor(x2), mt.tensor(y), margin, reduction)
    per = [max(0.0, -b * (a1 - a2) + margin) for a1, a2, b in zip(x1, x2, y)]
    np.testing.assert_allclose(got.numpy(), _reduce(per, reduction), rtol=1e-12, atol=1e-14)
    fn = lambda L, a, b, c: L.F.margin_ranking_loss(a, b, c, margin=margin, reduction=reduction)  # noqa: E731
    check_grad(fn, [x1, x2, y])


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple),
       margin=st.sampled_from([1.0, 0.5, 2.0]), reduction=REDUCTIONS, data=st.data())  # fmt: skip
def test_hinge_embedding_loss_matches_formula_and_gradcheck(shape, margin, reduction, data):
    x = data.draw(arrays(shape, -1.0, 3.0))
    y = data.draw(st.lists(st.sampled_from([-1.0, 1.0, 0.0]), min_size=x.size, max_size=x.size))
    y = np.reshape(y, shape)
    got = F.hinge_embedding_loss(mt.tensor(x), mt.tensor(y), margin, reduction)
    # PyTorch's rule, which gives a label other than +-1 both terms
    per = [(max(0.0, margin - a) if b != 1 else 0.0) + (a if b != -1 else 0.0)
           for a, b in zip(x.ravel(), y.ravel())]  # fmt: skip
    want = _reduce(np.reshape(per, shape), reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a: L.F.hinge_embedding_loss(a, mt.tensor(y), margin, reduction), [x])


def test_two_class_losses_reject_mismatched_shapes():
    with pytest.raises(ValueError, match=r"soft_margin_loss: expected inputs of one shape, got "
                                         r"input \(3,\), target \(3, 1\)"):  # fmt: skip
        F.soft_margin_loss(mt.randn(3), mt.ones(3, 1))
    with pytest.raises(ValueError, match=r"margin_ranking_loss: .*input2 \(4,\)"):
        F.margin_ranking_loss(mt.randn(3), mt.randn(4), mt.ones(3))
    with pytest.raises(ValueError, match=r"hinge_embedding_loss: .*target \(2,\)"):
        F.hinge_embedding_loss(mt.randn(3), mt.ones(2))


# --------------------------------------------------------------------------- embeddings


@SETTINGS
@given(n=st.integers(1, 4), d=st.integers(1, 4), margin=st.sampled_from([0.0, 0.3, -0.2]),
       reduction=REDUCTIONS, data=st.data())  # fmt: skip
def test_cosine_embedding_loss_matches_loop_and_gradcheck(n, d, margin, reduction, data):
    x1, x2 = data.draw(arrays((n, d))), data.draw(arrays((n, d)))
    y = np.array(data.draw(st.lists(st.sampled_from([-1, 1]), min_size=n, max_size=n)))
    cos = [loop_cosine(a, b) for a, b in zip(x1, x2)]
    assume(all(abs(c - margin) > 1e-4 for c, b in zip(cos, y) if b == -1))  # off the hinge
    got = F.cosine_embedding_loss(mt.tensor(x1), mt.tensor(x2), mt.tensor(y), margin, reduction)
    per = [1 - c if b == 1 else max(0.0, c - margin) for c, b in zip(cos, y)]
    np.testing.assert_allclose(got.numpy(), _reduce(per, reduction), rtol=1e-12, atol=1e-14)
    fn = lambda L, a, b: L.F.cosine_embedding_loss(
        a, b, L.mt.tensor(y), margin, reduction=reduction
    )  # noqa: E731, E501
    check_grad(fn, [x1, x2])


def test_cosine_embedding_loss_unbatched_and_errors():
    a, b = np.array([1.0, 2.0, 2.0]), np.array([2.0, 1.0, 2.0])
    got = F.cosine_embedding_loss(mt.tensor(a), mt.tensor(b), mt.tensor(1), reduction="none")
    assert got.shape == () and got.item() == pytest.approx(1 - 8 / 9)
    with pytest.raises(ValueError, match=r"cosine_embedding_loss: .*inputs \(2, 3\) and target "
                                         r"\(3,\)"):  # fmt: skip
        F.cosine_embedding_loss(mt.randn(2, 3), mt.randn(2, 3), mt.ones(3))


@SETTINGS
@given(n=st.integers(1, 3), d=st.integers(1, 4), p=st.sampled_from([1.0, 2.0, 3.0]),
       margin=st.sampled_from([1.0, 0.3]), swap=st.booleans(), reduction=REDUCTIONS,
       data=st.data())  # fmt: skip
def test_triplet_margin_loss_matches_loop_and_gradcheck(n, d, p, margin, swap, reduction, data):
    # the anchor is shifted off the grid so that no difference a - x + eps reaches 0 (|.| kink)
    a = data.draw(arrays((n, d))) + 0.025
    pos, neg = data.draw(arrays((n, d))), data.draw(arrays((n, d)))
    eps = 1e-6
    per = []
    for s in range(n):
        dp, dn = loop_distance(a[s], pos[s], p, eps), loop_distance(a[s], neg[s], p, eps)
        if swap:
            dpn = loop_distance(pos[s], neg[s], p, eps)
            assume(abs(dn - dpn) > 1e-4 and np.all(np.abs(pos[s] - neg[s] + eps) > 1e-4))
            dn = min(dn, dpn)
        assume(abs(dp - dn + margin) > 1e-4)
        per.append(max(0.0, dp - dn + margin))
    got = F.triplet_margin_loss(mt.tensor(a), mt.tensor(pos), mt.tensor(neg), margin, p, eps,
                                swap, reduction)  # fmt: skip
    np.testing.assert_allclose(got.numpy(), _reduce(per, reduction), rtol=1e-12, atol=1e-14)
    fn = lambda L, x, y, z: L.F.triplet_margin_loss(x, y, z, margin=margin, p=p, swap=swap,  # noqa: E731
                                                    reduction=reduction)  # fmt: skip
    check_grad(fn, [a, pos, neg])


def test_triplet_margin_loss_errors():
    with pytest.raises(ValueError, match=r"triplet_margin_loss: .*negative \(2, 4\)"):
        F.triplet_margin_loss(mt.randn(2, 3), mt.randn(2, 3), mt.randn(2, 4))
    with pytest.raises(ValueError, match=r"margin must be greater than 0"):
        F.triplet_margin_loss(mt.randn(2, 3), mt.randn(2, 3), mt.randn(2, 3), margin=0.0)
    with pytest.raises(ValueError, match=r"margin must be greater than 0"):
        nn.TripletMarginLoss(margin=-1.0)


# --------------------------------------------------------------------------- likelihoods


@SETTINGS
@given(n=st.integers(1, 3), d=st.integers(1, 3), var_form=st.sampled_from(["full", "row", "one"]),
       full=st.booleans(), reduction=REDUCTIONS, data=st.data())  # fmt: skip
def test_gaussian_nll_loss_matches_formula_and_gradcheck(n, d, var_form, full, reduction, data):
    x, y = data.draw(arrays((n, d))), data.draw(arrays((n, d)))
    var_shape = {"full": (n, d), "row": (n,), "one": (n, 1)}[var_form]
    var = data.draw(positive_arrays(var_shape))
    v = var.reshape(n, -1)  # (n, d) or (n, 1): broadcasts along the row
    per = 0.5 * (np.log(v) + (x - y) ** 2 / v) + (0.5 * math.log(2 * math.pi) if full else 0.0)
    got = F.gaussian_nll_loss(mt.tensor(x), mt.tensor(y), mt.tensor(var), full, 1e-6, reduction)
    np.testing.assert_allclose(got.numpy(), _reduce(per, reduction), rtol=1e-12, atol=1e-14)
    fn = lambda L, a, b, c: L.F.gaussian_nll_loss(a, b, c, full=full, reduction=reduction)  # noqa: E731
    check_grad(fn, [x, y, var])


def test_gaussian_nll_loss_clamps_the_variance_but_passes_its_gradient():
    var = mt.tensor([0.0, 2.0], requires_grad=True)
    loss = F.gaussian_nll_loss(mt.tensor([1.0, 1.0]), mt.tensor([0.0, 0.0]), var, eps=0.5,
                               reduction="sum")  # fmt: skip
    assert loss.item() == pytest.approx(0.5 * (math.log(0.5) + 2) + 0.5 * (math.log(2) + 0.5))
    loss.backward()
    # d/dv 0.5 (log v + d^2 / v) = 0.5 (1/v - d^2/v^2), taken at the clamped v = 0.5
    np.testing.assert_allclose(var.grad.numpy(), [0.5 * (2 - 4), 0.5 * (0.5 - 0.25)])
    scalar = F.gaussian_nll_loss(mt.tensor([1.0, 3.0]), mt.tensor([0.0, 0.0]), 2.0)
    assert scalar.item() == pytest.approx(
        (0.5 * (math.log(2) + 0.5) + 0.5 * (math.log(2) + 4.5)) / 2
    )


def test_gaussian_nll_loss_errors():
    x = mt.randn(4, 3)
    with pytest.raises(ValueError, match=r"var of shape \(4, 2\) does not fit input of shape "
                                         r"\(4, 3\)"):  # fmt: skip
        F.gaussian_nll_loss(x, x, mt.ones(4, 2))
    with pytest.raises(ValueError, match=r"var has negative entries"):
        F.gaussian_nll_loss(x, x, -mt.ones(4, 3))
    with pytest.raises(ValueError, match=r"var has a negative entry"):
        F.gaussian_nll_loss(x, x, -1.0)


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple),
       log_input=st.booleans(), full=st.booleans(), reduction=REDUCTIONS,
       data=st.data())  # fmt: skip
def test_poisson_nll_loss_matches_formula_and_gradcheck(shape, log_input, full, reduction, data):
    x = data.draw(arrays(shape, -2.0, 2.0) if log_input else positive_arrays(shape))
    t = data.draw(positive_arrays(shape, 4.0))
    eps = 1e-8
    per = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
    if full:
        per = per + np.where(t > 1, t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t), 0.0)
    got = F.poisson_nll_loss(mt.tensor(x), mt.tensor(t), log_input, full, eps, reduction)
    np.testing.assert_allclose(got.numpy(), _reduce(per, reduction), rtol=1e-12, atol=1e-14)
    fn = lambda L, a, b: L.F.poisson_nll_loss(a, b, log_input, full, reduction=reduction)  # noqa: E731
    check_grad(fn, [x, t])


def test_poisson_nll_loss_full_with_zero_counts_is_finite():
    x = mt.tensor([0.5, -1.0, 2.0], requires_grad=True)
    t = mt.tensor([0.0, 1.0, 3.0], requires_grad=True)
    loss = F.poisson_nll_loss(x, t, full=True, reduction="sum")
    loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(x.grad.numpy())) and np.all(np.isfinite(t.grad.numpy()))


# --------------------------------------------------------------------------- modules


def test_loss_modules_call_their_functions():
    rng = np.random.default_rng(3)
    x, t = mt.tensor(rng.standard_normal((4, 3))), mt.tensor([0, 2, 1, 2])
    weight = mt.tensor([1.0, 2.0, 0.5], dtype=mt.float64)
    loss = nn.MultiMarginLoss(p=2, margin=0.5, weight=weight, reduction="sum")
    assert loss(x, t).item() == pytest.approx(
        F.multi_margin_loss(x, t, 2, 0.5, weight, "sum").item()
    )
    assert "weight" in loss.state_dict()
    y = mt.tensor(rng.random((4, 3)))
    assert nn.MultiLabelSoftMarginLoss()(x, y).item() == pytest.approx(
        F.multilabel_soft_margin_loss(x, y).item())  # fmt: skip
    signs = mt.tensor(np.sign(rng.standard_normal((4, 3))))
    assert nn.SoftMarginLoss(reduction="sum")(x, signs).item() == pytest.approx(
        F.soft_margin_loss(x, signs, "sum").item())  # fmt: skip
    a, b, s = x[:, 0], x[:, 1], signs[:, 0]
    assert nn.MarginRankingLoss(0.2)(a, b, s).item() == pytest.approx(
        F.margin_ranking_loss(a, b, s, 0.2).item())  # fmt: skip
    assert nn.HingeEmbeddingLoss(2.0)(x, signs).item() == pytest.approx(
        F.hinge_embedding_loss(x, signs, 2.0).item())  # fmt: skip
    assert nn.CosineEmbeddingLoss(0.1)(x, y, s).item() == pytest.approx(
        F.cosine_embedding_loss(x, y, s, 0.1).item())  # fmt: skip
    assert nn.TripletMarginLoss(swap=True, p=1)(x, y, -x).item() == pytest.approx(
        F.triplet_margin_loss(x, y, -x, p=1, swap=True).item())  # fmt: skip
    var = mt.tensor(rng.random((4, 3)) + 0.1)
    assert nn.GaussianNLLLoss(full=True)(x, y, var).item() == pytest.approx(
        F.gaussian_nll_loss(x, y, var, full=True).item())  # fmt: skip
    assert nn.PoissonNLLLoss(log_input=False)(y, x.abs()).item() == pytest.approx(
        F.poisson_nll_loss(y, x.abs(), log_input=False).item())  # fmt: skip
    assert nn.SoftMarginLoss(size_average=False).reduction == "sum"


# --------------------------------------------------------------------------- PyTorch


def _torch_cases(rng):
    """name -> (fn(lib, *float leaves), float arrays): each loss on one set of inputs."""
    x = rng.standard_normal((5, 4))
    t = rng.integers(0, 4, 5)
    y01 = rng.random((5, 4))
    signs = np.where(rng.random((5, 4)) < 0.5, -1.0, 1.0)
    var = rng.random((5, 4)) + 0.1
    w = rng.uniform(0.5, 2, 4)
    cases = {}
    for p in (1, 2):
        cases[f"multi_margin_p{p}"] = (
            lambda L, a, p=p: L.F.multi_margin_loss(
                a, L.mt.tensor(t), p=p, margin=0.8, weight=L.mt.tensor(w)
            ),  # fmt: skip
            [x],
        )
    cases["multilabel_soft_margin"] = (
        lambda L, a, b: L.F.multilabel_soft_margin_loss(a, b, weight=L.mt.tensor(w)),
        [x, y01],
    )
    # (PyTorch's soft_margin_loss has no gradient for the target; ours does)
    cases["soft_margin"] = (lambda L, a: L.F.soft_margin_loss(a, L.mt.tensor(signs)), [x])
    cases["margin_ranking"] = (
        lambda L, a, b, c: L.F.margin_ranking_loss(a, b, c, margin=0.3),
        [x[:, 0], x[:, 1], signs[:, 0]],
    )
    cases["hinge_embedding"] = (
        lambda L, a: L.F.hinge_embedding_loss(a, L.mt.tensor(signs), margin=0.7),
        [x],
    )
    cases["cosine_embedding"] = (
        lambda L, a, b: L.F.cosine_embedding_loss(a, b, L.mt.tensor(signs[:, 0]), margin=0.1),
        [x, y01],
    )
    for swap in (False, True):
        cases[f"triplet_swap{swap}"] = (
            lambda L, a, b, c, s=swap: L.F.triplet_margin_loss(
                a, b, c, margin=0.5, p=1.5, swap=s
            ),  # fmt: skip
            [x, y01, x[::-1].copy()],
        )
    for full in (False, True):
        cases[f"gaussian_full{full}"] = (
            lambda L, a, b, c, f=full: L.F.gaussian_nll_loss(a, b, c, full=f),
            [x, y01, var],
        )
        cases[f"gaussian_row_full{full}"] = (
            lambda L, a, b, c, f=full: L.F.gaussian_nll_loss(a, b, c, full=f),
            [x, y01, var[:, 0]],
        )
        cases[f"poisson_full{full}"] = (
            lambda L, a, b, f=full: L.F.poisson_nll_loss(a, b, full=f),
            [x, 3 * y01],
        )
        cases[f"poisson_rate_full{full}"] = (
            lambda L, a, b, f=full: L.F.poisson_nll_loss(a, b, log_input=False, full=f),
            [var, 3 * y01],
        )
    return cases


CASES = sorted(_torch_cases(np.random.default_rng(0)))


@pytest.mark.parity
@pytest.mark.parametrize("name", CASES)
def test_losses_match_torch(name):
    torch = pytest.importorskip("torch")
    fn, inputs = _torch_cases(np.random.default_rng(0))[name]
    check_parity(torch, fn, inputs, rtol=1e-10, atol=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_loss_modules_match_torch(reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, t = rng.standard_normal((6, 5)).astype(np.float32), rng.integers(0, 5, 6)
    ours = nn.MultiMarginLoss(margin=0.5, reduction=reduction)(mt.tensor(x), mt.tensor(t))
    theirs = torch.nn.MultiMarginLoss(margin=0.5, reduction=reduction)(
        torch.tensor(x), torch.tensor(t)
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)
    var = np.zeros((6, 5), dtype=np.float32)  # every variance under eps: the clamp decides
    ours = nn.GaussianNLLLoss(reduction=reduction)(mt.tensor(x), mt.tensor(x + 1), mt.tensor(var))
    theirs = torch.nn.GaussianNLLLoss(reduction=reduction)(
        torch.tensor(x), torch.tensor(x + 1), torch.tensor(var)
    )
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


# --------------------------------------------------------------------------- focal loss


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=2).map(tuple),
       alpha=st.sampled_from([0.25, 0.5, -1.0]), gamma=st.sampled_from([0.0, 2.0, 1.5]),
       reduction=REDUCTIONS, data=st.data())  # fmt: skip
def test_sigmoid_focal_loss_matches_retinanets_formula_and_gradcheck(shape, alpha, gamma,
                                                                     reduction, data):  # fmt: skip
    x = data.draw(arrays(shape, -3.0, 3.0))
    t = data.draw(arrays(shape, 0.0, 1.0)).round()  # 0/1 labels
    per = []
    for a, b in zip(x.ravel(), t.ravel()):
        p = 1 / (1 + math.exp(-a))
        ce = -(b * math.log(p) + (1 - b) * math.log(1 - p))
        p_t = p * b + (1 - p) * (1 - b)
        w = (alpha * b + (1 - alpha) * (1 - b)) if alpha >= 0 else 1.0
        per.append(w * ce * (1 - p_t) ** gamma)
    got = F.sigmoid_focal_loss(mt.tensor(x), mt.tensor(t), alpha, gamma, reduction)
    want = _reduce(np.reshape(per, shape), reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-14)
    check_grad(lambda L, a: L.F.sigmoid_focal_loss(a, mt.tensor(t), alpha, gamma, reduction),
               [x])  # fmt: skip


def test_sigmoid_focal_loss_with_gamma_zero_is_weighted_bce():
    x, t = mt.randn(5, 3, dtype=mt.float64), mt.tensor(np.eye(3)[[0, 1, 2, 0, 1]])
    plain = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(F.sigmoid_focal_loss(x, t, alpha=-1, gamma=0).numpy(),
                               plain.numpy())  # fmt: skip
