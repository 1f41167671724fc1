"""Checks of exercise 12: the four normalisations against the engine's functional ops and layers."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, close, format_grid

KINDS = ("batch", "layer", "instance", "group")


def engine_normalise(x, kind, groups=1, eps=1e-5):
    t = mt.tensor(np.asarray(x, dtype=np.float64))
    n, c, length = t.shape
    if kind == "batch":
        y, axes, shape = F.batch_norm(t, None, None, training=True, eps=eps), (0, 2), (c,)
    elif kind == "layer":
        y, axes, shape = F.layer_norm(t, (c, length), eps=eps), (1, 2), (n,)
    elif kind == "instance":
        y, axes, shape = F.instance_norm(t, eps=eps), (2,), (n, c)
    else:
        y = F.group_norm(t, groups, eps=eps)
        t = t.reshape(n, groups, (c // groups) * length)
        axes, shape = (2,), (n, groups)
    return {
        "mean": F.mean(t, axes).numpy().reshape(shape),
        "var": F.var(t, axes, unbiased=False).numpy().reshape(shape),
        "y": y.numpy(),
    }


def engine_norm_parameters(kind, channels, length, groups=1):
    layer = {
        "batch": lambda: nn.BatchNorm1d(channels),
        "layer": lambda: nn.LayerNorm((channels, length)),
        "instance": lambda: nn.InstanceNorm1d(channels, affine=True),
        "group": lambda: nn.GroupNorm(groups, channels),
    }[kind]()
    running = [b for name, b in layer.named_buffers() if name.startswith("running_")]
    return (sum(p.numel() for p in layer.parameters()), sum(b.numel() for b in running))


_halves = st.integers(-6, 6).map(lambda v: v / 2)


@st.composite
def _instances(draw):
    kind = draw(st.sampled_from(KINDS))
    groups = draw(st.sampled_from([1, 2])) if kind == "group" else 1
    n, c, length = (
        draw(st.integers(2, 3)),
        groups * draw(st.integers(1, 2)),
        draw(st.integers(2, 3)),
    )
    values = draw(st.lists(_halves, min_size=n * c * length, max_size=n * c * length))
    return {
        "x": np.array(values).reshape(n, c, length),
        "kind": kind,
        "groups": groups,
        "eps": draw(st.sampled_from([1e-5, 1e-3])),
    }


@st.composite
def _layers(draw):
    kind = draw(st.sampled_from(KINDS))
    groups = draw(st.sampled_from([1, 2, 4])) if kind == "group" else 1
    return {
        "kind": kind,
        "channels": groups * draw(st.integers(1, 16)),
        "length": draw(st.integers(1, 9)),
        "groups": groups,
    }


TASKS = [
    Task(
        "normalise",
        engine_normalise,
        _instances(),
        close(1e-6, 1e-6),
        claim="equals the engine's batch_norm / layer_norm / instance_norm / group_norm",
        hint="batch: per channel over (N, L); layer: per sample over (C, L); instance: per "
        "sample and channel over L; group: per sample over each group's channels and L; "
        "always the biased variance",
    ),
    Task(
        "norm_parameters",
        engine_norm_parameters,
        _layers(),
        claim="equals the engine layer's parameter count and running-buffer size",
        hint="LayerNorm learns one gamma and beta per normalised value; only BatchNorm keeps "
        "running statistics by default",
        show=lambda v: f"trainable {v[0]}, running {v[1]}",
    ),
]


def generate(rng):
    x = rng.integers(0, 8, size=(2, 2, 2))
    kind = str(rng.choice(KINDS))
    groups = 2 if kind == "group" else 1
    text = (
        f"The batch x of shape (N, C, L) = (2, 2, 2), sample by sample:\n{format_grid(x)}\n"
        f"Normalise it with {kind} norm"
        + (f" ({groups} groups)" if kind == "group" else "")
        + " (eps 1e-5, no scale or shift): give the means, variances and y."
    )
    c = int(rng.integers(1, 5)) * 2
    return [
        Question(text, "normalise", {"x": x, "kind": kind, "groups": groups, "eps": 1e-5}),
        Question(
            f"How many trainable parameters and running-statistics values has the {kind} norm "
            f"layer for inputs (N, {c}, 7)" + (" in 2 groups?" if kind == "group" else "?"),
            "norm_parameters",
            {"kind": kind, "channels": c, "length": 7, "groups": groups},
        ),
    ]
