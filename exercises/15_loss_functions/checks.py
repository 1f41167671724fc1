"""Checks of exercise 15: hand losses against the engine's cross_entropy (label smoothing,
probability targets) and sigmoid_focal_loss."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task, close, format_grid


def engine_smoothed_cross_entropy(logits, target, eps=0.0):
    x = mt.tensor(np.asarray(logits, dtype=np.float64))
    return F.cross_entropy(x, mt.tensor(np.asarray(target)), label_smoothing=eps).item()


def engine_soft_cross_entropy(logits, probs):
    x = mt.tensor(np.asarray(logits, dtype=np.float64))
    return F.cross_entropy(x, mt.tensor(np.asarray(probs, dtype=np.float64))).item()


def engine_focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    x = mt.tensor(np.asarray(logits, dtype=np.float64))
    t = mt.tensor(np.asarray(targets, dtype=np.float64))
    return F.sigmoid_focal_loss(x, t, alpha, gamma).numpy()


_halves = st.integers(-8, 8).map(lambda v: v / 2)


@st.composite
def _logits(draw):
    n, c = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    rows = [draw(st.lists(_halves, min_size=c, max_size=c)) for _ in range(n)]
    return np.array(rows), n, c


@st.composite
def _smoothed(draw):
    x, n, c = draw(_logits())
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n)))
    return {"logits": x, "target": target, "eps": draw(st.sampled_from([0.0, 0.1, 0.25, 0.5]))}


@st.composite
def _soft(draw):
    x, n, c = draw(_logits())
    weights = np.array(
        [draw(st.lists(st.integers(0, 4), min_size=c, max_size=c)) for _ in range(n)]
    )
    weights[:, 0] += 1  # no all-zero row
    return {"logits": x, "probs": weights / weights.sum(axis=1, keepdims=True)}


@st.composite
def _focal(draw):
    n = draw(st.integers(1, 5))
    x = np.array(draw(st.lists(_halves, min_size=n, max_size=n)))
    t = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=n, max_size=n)))
    return {"logits": x, "targets": t, "alpha": draw(st.sampled_from([0.25, 0.5, -1.0])),
            "gamma": draw(st.sampled_from([0.0, 1.0, 2.0]))}  # fmt: skip


TASKS = [
    Task(
        "smoothed_cross_entropy",
        engine_smoothed_cross_entropy,
        _smoothed(),
        close(1e-9, 1e-9),
        claim="equals the engine's cross_entropy(..., label_smoothing=eps)",
        hint="the target is (1 - eps) one-hot + eps / C on every class, the true class "
        "included (not eps / (C - 1) on the others); then the mean over the batch",
    ),
    Task(
        "soft_cross_entropy",
        engine_soft_cross_entropy,
        _soft(),
        close(1e-9, 1e-9),
        claim="equals the engine's cross_entropy with probability targets",
        hint="-sum_c q_c log softmax(x)_c for each item, then the mean over the batch",
    ),
    Task(
        "focal_loss",
        engine_focal_loss,
        _focal(),
        close(1e-9, 1e-9),
        claim="equals the engine's sigmoid_focal_loss (torchvision.ops' rule)",
        hint="BCE times (1 - p_t)^gamma with p_t the probability of the TRUE label; alpha for "
        "positives, 1 - alpha for negatives; alpha < 0 means no weighting",
    ),
]


def generate(rng):
    c = 3
    logits = rng.integers(-2, 4, size=(2, c))
    target = rng.integers(0, c, size=2)
    eps = float(rng.choice([0.1, 0.2]))
    probs = np.array([[0.5, 0.5, 0.0], [0.2, 0.0, 0.8]])
    x = rng.integers(-3, 4, size=3).astype(float)
    t = rng.integers(0, 2, size=3).astype(float)
    return [
        Question(f"logits\n{format_grid(logits)}\ntargets {target.tolist()}, label smoothing "
                 f"{eps}: the mean cross-entropy?", "smoothed_cross_entropy",
                 {"logits": logits, "target": target, "eps": eps}),
        Question(f"logits\n{format_grid(logits)}\ntarget probabilities\n{format_grid(probs)}\n"
                 "the mean cross-entropy?", "soft_cross_entropy",
                 {"logits": logits, "probs": probs}),
        Question(f"logits {x.tolist()}, targets {t.tolist()}: the focal loss of each "
                 "(alpha 0.25, gamma 2)?", "focal_loss",
                 {"logits": x, "targets": t, "alpha": 0.25, "gamma": 2.0}),
    ]  # fmt: skip
