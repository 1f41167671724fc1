"""Checks of exercise 8: im2col against the engine's kernels.im2col, conv against F.conv2d."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import kernels
from minitorch_cv.exercises import Question, Task, close, format_grid


def engine_im2col(image, kernel, stride=1, padding=0):
    x = np.asarray(image, dtype=np.float64)[None]
    p = ((padding, padding), (padding, padding))
    return kernels.im2col(x, (kernel, kernel), (stride, stride), p)[0]


def engine_conv_as_matmul(image, weight, stride=1, padding=0):
    x = mt.tensor(np.asarray(image, dtype=np.float64)[None])
    w = mt.tensor(np.asarray(weight, dtype=np.float64))
    return F.conv2d(x, w, stride=stride, padding=padding).numpy()[0]


def show_channels(y):
    """A (F, OH, OW) output as one labelled grid per filter."""
    return "\n".join(f"filter {f}:\n{format_grid(g)}" for f, g in enumerate(np.asarray(y)))


_ints = st.integers(-3, 3)


def _grid(draw, *shape):
    return np.array(
        draw(st.lists(_ints, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    ).reshape(shape)


@st.composite
def _im2col_args(draw):
    c, k = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    p, s = draw(st.integers(0, 1)), draw(st.integers(1, 2))
    h = draw(st.integers(max(1, k - 2 * p), 5))
    w = draw(st.integers(max(1, k - 2 * p), 5))
    return {"image": _grid(draw, c, h, w), "kernel": k, "stride": s, "padding": p}


@st.composite
def _conv_args(draw):
    a = draw(_im2col_args())
    f = draw(st.integers(1, 3))
    k = a.pop("kernel")
    a["weight"] = _grid(draw, f, a["image"].shape[0], k, k)
    return a


TASKS = [
    Task(
        "im2col",
        engine_im2col,
        _im2col_args(),
        close(),
        claim="equals the engine's kernels.im2col (PyTorch's unfold layout)",
        hint="rows in (channel, kernel row, kernel column) order; columns are windows in reading "
        "order; pad with zeros first",
    ),
    Task(
        "conv_as_matmul",
        engine_conv_as_matmul,
        _conv_args(),
        close(),
        claim="equals F.conv2d's output",
        hint="weight.reshape(F, C*K*K) @ im2col(image), then reshape to (F, OH, OW)",
        show=show_channels,
    ),
]


def generate(rng):
    c, k = int(rng.integers(1, 3)), int(rng.integers(2, 4))
    h = int(rng.integers(k, k + 2))
    image = rng.integers(-1, 4, size=(c, h, h))
    weight = rng.integers(-1, 2, size=(2, c, k, k))
    p = int(rng.integers(0, 2))
    img = "\n".join(f"channel {i}:\n{format_grid(g)}" for i, g in enumerate(image))
    wt = "\n".join(
        f"filter {f}, channel {i}:\n{format_grid(weight[f, i])}" for f in range(2) for i in range(c)
    )
    return [
        Question(
            f"im2col of the image below for a {k} x {k} window, stride 1, padding {p}:\n{img}",
            "im2col",
            {"image": image, "kernel": k, "padding": p},
        ),
        Question(
            f"The convolution of the same image (padding {p}) with these filters, as one "
            f"matrix product:\n{wt}",
            "conv_as_matmul",
            {"image": image, "weight": weight, "padding": p},
        ),
    ]
