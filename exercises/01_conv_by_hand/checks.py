"""Checks of exercise 1: the hand convolution against F.conv2d and F.conv_transpose2d."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task, close, format_grid


def _t(a):
    """A (1, 1, H, W) float64 engine tensor of a 2-D grid."""
    return mt.tensor(np.asarray(a, dtype=np.float64)[None, None])


def engine_cross_correlate(image, kernel, padding=0):
    return F.conv2d(_t(image), _t(kernel), padding=padding).numpy()[0, 0]


def engine_convolve(image, kernel, padding=0):
    # With stride 1, conv_transpose2d scatters a copy of the (unflipped) kernel at every input
    # pixel: the "full" true convolution, of size H + KH - 1. Cropping KH-1-P rows (KW-1-P
    # columns) from each side leaves the true convolution with zero padding P.
    kh, kw = np.shape(kernel)
    return F.conv_transpose2d(
        _t(image), _t(kernel), padding=(kh - 1 - padding, kw - 1 - padding)
    ).numpy()[0, 0]


def engine_coincide(kernel):
    # The two operations agree on every image iff they agree on a generic (random) one.
    k = np.asarray(kernel, dtype=np.float64)
    image = np.random.default_rng(0).standard_normal((k.shape[0] + 3, k.shape[1] + 3))
    return bool(np.allclose(engine_cross_correlate(image, k), engine_convolve(image, k)))


_ints = st.integers(-3, 3)


@st.composite
def _conv_instance(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # padding <= kernel - 1: a wider ring would only add rows of zeros around the answer
    p = draw(st.integers(0, min(kh, kw) - 1))
    h = draw(st.integers(max(1, kh - 2 * p), 6))
    w = draw(st.integers(max(1, kw - 2 * p), 6))
    image = draw(st.lists(st.lists(_ints, min_size=w, max_size=w), min_size=h, max_size=h))
    kernel = draw(st.lists(st.lists(_ints, min_size=kw, max_size=kw), min_size=kh, max_size=kh))
    return {"image": np.array(image), "kernel": np.array(kernel), "padding": p}


@st.composite
def _kernels(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    k = np.array(
        draw(st.lists(st.lists(_ints, min_size=kw, max_size=kw), min_size=kh, max_size=kh))
    )
    kind = draw(st.sampled_from(["any", "symmetric", "antisymmetric"]))
    if kind == "symmetric":
        k = k + k[::-1, ::-1]
    elif kind == "antisymmetric":
        k = k - k[::-1, ::-1]
    return {"kernel": k}


TASKS = [
    Task(
        "cross_correlate",
        engine_cross_correlate,
        _conv_instance(),
        close(),
        claim="the grid equals F.conv2d's output",
        hint="slide K itself (no flip) over the zero-padded image; output size H + 2P - KH + 1",
    ),
    Task(
        "convolve",
        engine_convolve,
        _conv_instance(),
        close(),
        claim="the grid equals the true convolution (F.conv_transpose2d, stride 1)",
        hint="rotate the kernel by 180 degrees (flip rows AND columns) before sliding it",
    ),
    Task(
        "coincide",
        engine_coincide,
        _kernels(),
        claim="True exactly when F.conv2d with K and with K rotated by 180 degrees agree",
        hint="compare K with K rotated by 180 degrees, not with its transpose",
    ),
]


def generate(rng):
    h, w = rng.integers(3, 6, size=2)
    k = rng.integers(2, 4)
    image = rng.integers(-1, 4, size=(h, w))
    kernel = rng.integers(-2, 3, size=(k, k))
    p = int(rng.integers(0, 2))
    sym = rng.integers(-2, 3, size=(k, k))
    sym = sym + sym[::-1, ::-1]
    grids = f"x =\n{format_grid(image)}\n\nK =\n{format_grid(kernel)}"
    return [
        Question(
            f"With padding P = {p} and stride 1, compute the cross-correlation of\n{grids}",
            "cross_correlate",
            {"image": image, "kernel": kernel, "padding": p},
        ),
        Question(
            f"Compute the true convolution (kernel flipped) of the same x and K, P = {p}.",
            "convolve",
            {"image": image, "kernel": kernel, "padding": p},
        ),
        Question(
            "Do convolution and cross-correlation coincide for K?", "coincide", {"kernel": kernel}
        ),
        Question(f"Do they coincide for\n{format_grid(sym)}", "coincide", {"kernel": sym}),
    ]
