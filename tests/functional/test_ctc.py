"""F.ctc_loss and nn.CTCLoss (functional/ctc.py, layers/loss.py).

The loss equals a brute-force sum over every alignment path (tiny T and C) for any lengths,
blank, repeated labels, empty targets and impossible alignments; its gradient passes gradcheck in
float64 through log_softmax, and on raw log_probs it is PyTorch's convention (the exact gradient
plus exp(log_probs) on each sequence's frames); loss and gradient equal torch's in float32 and
float64 (padded and concatenated targets, unbatched input, every reduction, zero_infinity); bad
input fails naming the op and the shapes; and a tiny CRNN (Conv2d + LSTM + Linear + CTCLoss)
learns to read a synthetic strip of symbols in a few hundred steps.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv import optim
from minitorch_cv.backend import gpu_available
from tests.strategies_core import SETTINGS, arrays

REDUCTIONS = ["none", "mean", "sum"]


# --------------------------------------------------------------------------- references


def brute_force_nll(lp, target, blank):
    """-log sum over every path pi in C^T that collapses to `target` (merge repeats, then drop
    blanks) of prod_t exp(lp[t, pi_t]); inf when no path does. lp: (T, C) float64."""
    total = 0.0
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        if [k for k, _ in itertools.groupby(path) if k != blank] == list(target):
            total += math.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -math.log(total) if total > 0 else math.inf


def min_frames(target):
    """The fewest frames that can emit `target`: one per label, plus a blank between repeats."""
    return len(target) + sum(a == b for a, b in zip(target, target[1:]))


def concatenated(targets, tl):
    return np.concatenate([targets[i, :n] for i, n in enumerate(tl)]).astype(np.int64)


@st.composite
def ctc_cases(draw, max_t=5, max_n=3, max_c=4, max_s=3, feasible=False):
    """log_probs / logits x (T, N, C) on the test grid, padded int targets (N, S) that avoid the
    blank (repeats likely: few classes), lengths per sample; `feasible`: every sample has an
    alignment (a finite loss)."""
    t, n, c = draw(st.integers(1, max_t)), draw(st.integers(1, max_n)), draw(st.integers(2, max_c))
    blank = draw(st.integers(0, c - 1))
    s = draw(st.integers(0, max_s))
    labels = [k for k in range(c) if k != blank]
    targets = np.array(
        draw(
            st.lists(
                st.lists(st.sampled_from(labels), min_size=s, max_size=s), min_size=n, max_size=n
            )
        ),  # fmt: skip
        dtype=np.int64,
    ).reshape(n, s)
    tl = np.array(draw(st.lists(st.integers(0, s), min_size=n, max_size=n)), dtype=np.int64)
    il = np.array(draw(st.lists(st.integers(0, t), min_size=n, max_size=n)), dtype=np.int64)
    if feasible:
        assume(all(il[i] >= min_frames(targets[i, : tl[i]].tolist()) for i in range(n)))
    x = draw(arrays((t, n, c), -2.0, 2.0))
    return dict(x=x, targets=targets, il=il, tl=tl, blank=blank)


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


# --------------------------------------------------------------------------- forward


@SETTINGS
@given(case=ctc_cases())
def test_ctc_loss_equals_brute_force_sum_over_alignments(case):
    x, targets, il, tl, blank = (case[k] for k in ("x", "targets", "il", "tl", "blank"))
    ours = F.ctc_loss(mt.tensor(x), mt.tensor(targets), mt.tensor(il), mt.tensor(tl), blank=blank,
                      reduction="none").numpy()  # fmt: skip
    want = [brute_force_nll(x[: il[i], i], targets[i, : tl[i]], blank) for i in range(len(il))]
    np.testing.assert_allclose(ours, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "target, frames, feasible",
    [([1, 1], 2, False), ([1, 1], 3, True), ([1, 2], 2, True), ([2, 2, 2], 4, False),
     ([2, 2, 2], 5, True), ([], 1, True), ([1], 0, False), ([], 0, True)],
)  # fmt: skip
def test_repeated_labels_need_a_blank_between_them(target, frames, feasible):
    x = np.random.default_rng(0).standard_normal((max(frames, 1), 1, 3))
    loss = F.ctc_loss(mt.tensor(x), mt.tensor([target + [1] * (3 - len(target))]), (frames,),
                      (len(target),), reduction="sum").item()  # fmt: skip
    assert np.isfinite(loss) == feasible
    assert math.isclose(loss, brute_force_nll(x[:frames, 0], target, 0), rel_tol=1e-12)


@SETTINGS
@given(case=ctc_cases(), reduction=st.sampled_from(REDUCTIONS), zero_infinity=st.booleans())
def test_reductions_and_zero_infinity(case, reduction, zero_infinity):
    """'mean' is the batch mean of loss / max(target_length, 1); 'sum' the sum; zero_infinity
    turns infinite losses into 0; padded and concatenated targets give the same losses."""
    x, targets, il, tl, blank = (case[k] for k in ("x", "targets", "il", "tl", "blank"))
    per = np.array([brute_force_nll(x[: il[i], i], targets[i, : tl[i]], blank)
                    for i in range(len(il))])  # fmt: skip
    if zero_infinity:
        per[np.isinf(per)] = 0.0
    want = {"none": per, "sum": per.sum(), "mean": (per / np.maximum(tl, 1)).mean()}[reduction]
    for tg in (targets, concatenated(targets, tl)):
        out = F.ctc_loss(mt.tensor(x), mt.tensor(tg), tuple(il), list(tl), blank, reduction,
                         zero_infinity)  # fmt: skip
        assert out.shape == np.shape(want)
        np.testing.assert_allclose(out.numpy(), want, rtol=1e-10, atol=1e-12)


def test_labels_past_the_target_length_are_ignored_and_unbatched_is_batch_of_one():
    rng = np.random.default_rng(1)
    lp = log_softmax(rng.standard_normal((6, 1, 4)))
    a = F.ctc_loss(mt.tensor(lp), mt.tensor([[1, 2, 0, 0]]), [6], [2], reduction="none")
    b = F.ctc_loss(mt.tensor(lp), mt.tensor([[1, 2, 3, 3]]), [6], [2], reduction="none")
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    for tg, lengths in (([1, 2], (mt.tensor(6), mt.tensor(2))), ([[1, 2, 3]], ([6], [2]))):
        c = F.ctc_loss(mt.tensor(lp[:, 0]), mt.tensor(tg), *lengths, reduction="none")
        assert c.shape == ()
        np.testing.assert_array_equal(c.numpy(), a.numpy()[0])


# --------------------------------------------------------------------------- gradient


@SETTINGS
@given(case=ctc_cases(feasible=True), reduction=st.sampled_from(REDUCTIONS),
       concat=st.booleans())  # fmt: skip
def test_ctc_loss_gradcheck_float64_through_log_softmax(case, reduction, concat):
    """PyTorch's gradient is exact for log_probs = log_softmax(logits), as its own OpInfo checks
    it: gradcheck through log_softmax."""
    targets, il, tl, blank = (case[k] for k in ("targets", "il", "tl", "blank"))
    tg = mt.tensor(concatenated(targets, tl) if concat else targets)
    x = mt.tensor(case["x"], requires_grad=True)

    def fn(v):
        return F.ctc_loss(F.log_softmax(v, 2), tg, mt.tensor(il), mt.tensor(tl), blank, reduction)

    assert mt.gradcheck(fn, [x])


@SETTINGS
@given(case=ctc_cases(feasible=False))
def test_zero_infinity_gradcheck_float64(case):
    """Infeasible samples: loss 0 and no gradient; the others as before."""
    targets, il, tl, blank = (case[k] for k in ("targets", "il", "tl", "blank"))
    x = mt.tensor(case["x"], requires_grad=True)

    def fn(v):
        return F.ctc_loss(F.log_softmax(v, 2), mt.tensor(targets), mt.tensor(il), mt.tensor(tl),
                          blank, "none", zero_infinity=True)  # fmt: skip

    assert mt.gradcheck(fn, [x])


@SETTINGS
@given(case=ctc_cases(max_t=4, max_n=2, max_c=3, max_s=2, feasible=True),
       reduction=st.sampled_from(REDUCTIONS))  # fmt: skip
def test_gradient_on_raw_log_probs_is_exact_plus_exp_log_probs(case, reduction):
    """PyTorch's convention, kept: d/d log_probs[t, n, k] = exact + exp(log_probs[t, n, k]) times
    the upstream gradient of sample n, on its frames t < input_lengths[n]; 0 on later frames."""
    x, targets, il, tl, blank = (case[k] for k in ("x", "targets", "il", "tl", "blank"))
    n = x.shape[1]
    w = np.linspace(0.5, 1.5, n)

    def scalar(v):
        out = F.ctc_loss(v, mt.tensor(targets), mt.tensor(il), mt.tensor(tl), blank, reduction)
        return (out * mt.tensor(w)).sum() if reduction == "none" else out

    lp = mt.tensor(x, requires_grad=True)
    scalar(lp).backward()
    eps, exact = 1e-6, np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[idx] = eps
        exact[idx] = (scalar(mt.tensor(x + d)).item() - scalar(mt.tensor(x - d)).item()) / (2 * eps)
    coef = {"none": w, "sum": np.ones(n), "mean": 1 / (n * np.maximum(tl, 1))}[reduction]
    frames = np.arange(x.shape[0])[:, None] < il[None, :]
    want = exact + np.exp(x) * (coef * frames)[:, :, None]
    np.testing.assert_allclose(lp.grad.numpy(), want, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- PyTorch parity

TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def _both(torch, lp, targets, il, tl, upstream, as_tensors=True, **kw):
    """(loss, grad) from minitorch_cv and from torch on the same log_probs."""
    ours = mt.tensor(lp, requires_grad=True)
    theirs = torch.tensor(lp, requires_grad=True)
    lengths = None if as_tensors else (tuple(il.tolist()), tuple(tl.tolist()))
    y = F.ctc_loss(ours, mt.tensor(targets), *(lengths or (mt.tensor(il), mt.tensor(tl))), **kw)
    yt = torch.nn.functional.ctc_loss(
        theirs, torch.tensor(targets), *(lengths or (torch.tensor(il), torch.tensor(tl))), **kw
    )
    (y * mt.tensor(upstream.astype(lp.dtype))).sum().backward()
    (yt * torch.tensor(upstream.astype(lp.dtype))).sum().backward()
    return (y.numpy(), ours.grad.numpy()), (yt.detach().numpy(), theirs.grad.numpy())


def _assert_same(ours, theirs, dtype):
    assert ours[0].shape == theirs[0].shape and ours[0].dtype == theirs[0].dtype == dtype
    np.testing.assert_allclose(ours[0], theirs[0], **TOL[dtype])
    assert ours[1].dtype == dtype
    np.testing.assert_allclose(ours[1], theirs[1], **TOL[dtype])  # nan where torch has nan


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@SETTINGS
@given(
    case=ctc_cases(max_t=8, max_c=6, max_s=4),
    reduction=st.sampled_from(REDUCTIONS),
    zero_infinity=st.booleans(),
    concat=st.booleans(),
    scale=st.sampled_from([1.0, 6.0]),
)
def test_ctc_loss_matches_torch(dtype, case, reduction, zero_infinity, concat, scale):
    """Loss and gradient equal torch's on log_softmax outputs (scale 6: peaked, as after
    training), infeasible samples (inf loss, nan gradient) and empty targets included."""
    torch = pytest.importorskip("torch")
    targets, il, tl, blank = (case[k] for k in ("targets", "il", "tl", "blank"))
    lp = log_softmax(case["x"] * scale).astype(dtype)
    tg = concatenated(targets, tl) if concat else targets
    upstream = np.linspace(0.5, 1.5, len(il)) if reduction == "none" else np.array(1.0)
    ours, theirs = _both(torch, lp, tg, il, tl, upstream, as_tensors=concat, blank=blank,
                         reduction=reduction, zero_infinity=zero_infinity)  # fmt: skip
    _assert_same(ours, theirs, dtype)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_matches_torch_on_named_cases(dtype, zero_infinity):
    """Repeated labels, an empty target, a target one frame too long (inf / nan gradient, or
    0 with zero_infinity), no frames at all, a padded batch of long sequences, unbatched input."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    lp = log_softmax(rng.standard_normal((7, 5, 5)) * 3).astype(dtype)
    targets = np.array([[1, 1, 2], [3, 3, 3], [2, 4, 4], [1, 2, 3], [4, 4, 1]])
    il, tl = np.array([7, 5, 7, 0, 3]), np.array([2, 3, 0, 0, 3])  # sample 1 needs 5: ok
    for reduction in REDUCTIONS:
        up = np.linspace(0.5, 1.5, 5) if reduction == "none" else np.array(1.0)
        for tg in (targets, concatenated(targets, tl)):
            got = _both(torch, lp, tg, il, tl, up, reduction=reduction,
                        zero_infinity=zero_infinity)  # fmt: skip
            _assert_same(*got, dtype)
    bad_il = np.array([7, 4, 7, 0, 3])  # sample 1 one frame short, sample 4 infeasible
    got = _both(torch, lp, targets, bad_il, tl, np.ones(5), reduction="none",
                zero_infinity=zero_infinity)  # fmt: skip
    _assert_same(*got, dtype)
    assert np.isinf(got[0][0][[1, 4]]).all() != zero_infinity
    assert np.isnan(got[0][1][:4, 1]).all() != zero_infinity
    long_lp = log_softmax(rng.standard_normal((60, 4, 12)) * 4).astype(dtype)
    long_tg = rng.integers(1, 12, (4, 20))
    got = _both(torch, long_lp, long_tg, np.array([60, 55, 41, 60]), np.array([20, 17, 20, 1]),
                np.array(1.0), zero_infinity=zero_infinity)  # fmt: skip
    _assert_same(*got, dtype)
    for reduction in REDUCTIONS:
        got = _both(torch, lp[:, 0], targets[0, :2], np.array(6), np.array(2),
                    np.array(1.0), reduction=reduction)  # fmt: skip
        _assert_same(*got, dtype)


@pytest.mark.parity
def test_ctc_module_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    lp = log_softmax(rng.standard_normal((6, 3, 4)))
    tg, il, tl = rng.integers(1, 3, (3, 2)), [6, 5, 6], [2, 1, 2]
    for kw in ({}, dict(blank=3, reduction="sum", zero_infinity=True), dict(reduction="none")):
        ours = nn.CTCLoss(**kw)(mt.tensor(lp), mt.tensor(tg), il, tl)
        theirs = torch.nn.CTCLoss(**kw)(torch.tensor(lp), torch.tensor(tg), il, tl)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)


def test_ctc_module_attributes():
    m = nn.CTCLoss()
    assert (m.blank, m.reduction, m.zero_infinity) == (0, "mean", False)
    assert m.state_dict() == {} and list(m.parameters()) == []
    assert repr(m) == "CTCLoss()"
    m = nn.CTCLoss(blank=2, reduction="sum", zero_infinity=True)
    assert (m.blank, m.reduction, m.zero_infinity) == (2, "sum", True)
    with pytest.raises(ValueError, match="CTCLoss"):
        nn.CTCLoss(reduction="avg")


# --------------------------------------------------------------------------- bad input

LP = np.zeros((5, 2, 4))
GOOD = dict(log_probs=LP, targets=np.array([[1, 2, 3], [3, 1, 0]]), input_lengths=(5, 4),
            target_lengths=(3, 2))  # fmt: skip


@pytest.mark.parametrize(
    "change, error, match",
    [
        (
            dict(input_lengths=(6, 4)),
            ValueError,
            r"input_lengths must lie in \[0, T = 5\].*\(5, 2, 4\)",
        ),
        (dict(input_lengths=(-1, 4)), ValueError, r"input_lengths must lie"),
        (
            dict(input_lengths=(5,)),
            ValueError,
            r"input_lengths must hold one length.*\(2,\).*\(1,\)",
        ),
        (dict(input_lengths=np.array([5.0, 4.0])), TypeError, r"input_lengths must be integers"),
        (dict(target_lengths=(4, 2)), ValueError, r"S >= max\(target_lengths\) = 4.*\(2, 3\)"),
        (dict(target_lengths=(3, -1)), ValueError, r"target_lengths must be >= 0"),
        (
            dict(target_lengths=np.array([[3, 2]])),
            ValueError,
            r"target_lengths must hold.*\(1, 2\)",
        ),
        (dict(log_probs=LP[:, 0, 0]), ValueError, r"\(T, N, C\) or \(T, C\), got shape \(5,\)"),
        (dict(log_probs=LP[None]), ValueError, r"got shape \(1, 5, 2, 4\)"),
        (dict(log_probs=LP.astype(np.int64)), ValueError, r"float log_probs.*int64"),
        (dict(log_probs=np.zeros((0, 2, 4))), ValueError, r"must not be empty.*\(0, 2, 4\)"),
        (
            dict(targets=np.zeros((1, 2, 3), dtype=np.int64)),
            ValueError,
            r"padded \(N, S\).*\(1, 2, 3\)",
        ),
        (dict(targets=np.array([[1, 2, 3]])), ValueError, r"N = 2.*\(1, 3\)"),
        (dict(targets=np.array([1, 2, 3, 3])), ValueError, r"sum\(target_lengths\) = 5.*\(4,\)"),
        (
            dict(targets=np.array([[1, 0, 3], [3, 1, 0]])),
            ValueError,
            r"label 0 \(batch item 0, position 1\).*blank = 0.*\(5, 2, 4\)",
        ),
        (dict(targets=np.array([[1, 2, 3], [3, 4, 0]])), ValueError, r"label 4.*\[0, 3\]"),
        (dict(targets=np.array([[1, 2, -1], [3, 1, 0]])), ValueError, r"label -1"),
        (dict(blank=4), ValueError, r"blank = 4 must lie in \[0, 3\].*\(5, 2, 4\)"),
        (dict(blank=-1), ValueError, r"blank = -1"),
        (dict(reduction="avg"), ValueError, r"reduction must be"),
    ],
)
def test_bad_input_names_the_op_and_the_shapes(change, error, match):
    args = {**GOOD, **change}
    args = {k: mt.tensor(v) if isinstance(v, np.ndarray) else v for k, v in args.items()}
    with pytest.raises(error, match=match) as info:
        F.ctc_loss(**args)
    assert str(info.value).startswith("ctc_loss")


# --------------------------------------------------------------------------- training


def symbol_strips(rng, n, max_len=4):
    """(N, 1, 3, 3 * max_len) images: label k in {1, 2, 3} is a 2-pixel bar on row k - 1,
    one bar every 3 columns (a gap between repeats), plus noise; targets padded (N, max_len)."""
    tl = rng.integers(1, max_len + 1, n)
    tg = rng.integers(1, 4, (n, max_len))
    lit = np.arange(max_len)[None, :] < tl[:, None]  # (N, L): bars present
    rows = np.arange(3)[None, :, None] == (tg - 1)[:, None, :]  # (N, 3, L)
    cols = np.repeat((rows & lit[:, None, :]), 3, axis=2)  # (N, 3, 3 L)
    cols[:, :, 2::3] = False
    x = cols[:, None].astype(np.float32) + rng.normal(0, 0.1, (n, 1, 3, 3 * max_len))
    return x.astype(np.float32), tg, tl


class TinyCRNN(nn.Module):
    """Conv2d features, one column per frame, a bidirectional LSTM, per-frame class scores."""

    def __init__(self, classes=4):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.rnn = nn.LSTM(8 * 3, 16, bidirectional=True)
        self.fc = nn.Linear(32, classes)

    def forward(self, x):
        f = F.relu(self.conv(x))  # (N, 8, 3, W)
        n, c, h, w = f.shape
        y, _ = self.rnn(f.reshape(n, c * h, w).permute(2, 0, 1))  # (W, N, 2 * 16)
        return F.log_softmax(self.fc(y), 2)  # (T = W, N, classes)


def greedy_decode(lp):
    """Best path: argmax per frame, merge repeats, drop blanks. lp (T, N, C) -> N lists."""
    best = lp.argmax(2).T
    return [[k for k, _ in itertools.groupby(row) if k != 0] for row in best.tolist()]


def test_tiny_crnn_learns_to_read_symbol_strips():
    mt.manual_seed(0)
    rng = np.random.default_rng(0)
    model, criterion = TinyCRNN(), nn.CTCLoss()
    opt = optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(300):
        x, tg, tl = symbol_strips(rng, 16)
        lp = model(mt.tensor(x))
        loss = criterion(lp, mt.tensor(tg), mt.full((16,), lp.shape[0], dtype=mt.int64),
                         mt.tensor(tl))  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert first > 1.0 and loss.item() < 0.05, (first, loss.item())
    x, tg, tl = symbol_strips(rng, 64)
    with mt.no_grad():
        decoded = greedy_decode(model(mt.tensor(x)).numpy())
    read = np.mean([d == tg[i, : tl[i]].tolist() for i, d in enumerate(decoded)])
    assert read >= 0.95, read


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_cupy_matches_numpy(zero_infinity):
    rng = np.random.default_rng(5)
    lp = log_softmax(rng.standard_normal((9, 4, 6)))
    tg, il, tl = rng.integers(1, 6, (4, 4)), [9, 8, 2, 9], [4, 2, 3, 0]
    results = []
    for dev in ("cpu", "cuda"):
        x = mt.tensor(lp, requires_grad=True, device=dev)
        y = F.ctc_loss(x, mt.tensor(tg, device=dev), mt.tensor(il, device=dev), tl,
                       reduction="sum", zero_infinity=zero_infinity)  # fmt: skip
        y.backward()
        results.append((np.asarray(y), np.asarray(x.grad)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-10)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-10, atol=1e-14)
