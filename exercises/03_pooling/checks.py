"""Checks of exercise 3: pooling sizes, values and winners against F.max_pool2d."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task, close, format_grid


def _t(a):
    return mt.tensor(np.asarray(a, dtype=np.float64)[None, None])


def engine_pool_output_size(size, kernel, stride=None, padding=0):
    return F.max_pool2d(mt.zeros(1, 1, size, size), kernel, stride, padding).shape[-1]


def engine_max_pool(image, kernel, stride=None):
    return F.max_pool2d(_t(image), kernel, stride).numpy()[0, 0]


def engine_max_pool_winners(image, kernel, stride=None):
    # return_indices gives each winner's flat index r * W + c in its (H, W) plane
    _, idx = F.max_pool2d(_t(image), kernel, stride, return_indices=True)
    rows, cols = np.divmod(idx.numpy()[0, 0].astype(np.int64), np.shape(image)[1])
    return np.stack([rows, cols], axis=-1)


def engine_unchanged_by_shift(size, position, shift, kernel):
    before = np.zeros((size, size))
    after = np.zeros((size, size))
    before[position[0], position[1]] = 1
    after[position[0] + shift[0], position[1] + shift[1]] = 1
    return bool(np.array_equal(engine_max_pool(before, kernel), engine_max_pool(after, kernel)))


def show_pairs(winners):
    """Winners as a grid of (row, col) pairs."""
    a = np.asarray(winners)
    return "\n".join("  ".join(f"({r}, {c})" for r, c in row) for row in a.tolist())


@st.composite
def _size_args(draw):
    k = draw(st.integers(1, 5))
    stride = draw(st.one_of(st.none(), st.integers(1, 4)))
    p = draw(st.integers(0, k // 2))  # pooling pads at most half a window (as PyTorch)
    size = draw(st.integers(max(1, k - 2 * p), 64))
    return {"size": size, "kernel": k, "stride": stride, "padding": p}


@st.composite
def _image_args(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    k = draw(st.integers(1, min(h, w, 4)))
    stride = draw(st.one_of(st.none(), st.integers(1, 4)))
    values = draw(st.permutations(range(h * w)))  # distinct values: every window has one winner
    return {"image": np.array(values).reshape(h, w), "kernel": k, "stride": stride}


@st.composite
def _shift_args(draw):
    k = draw(st.integers(2, 4))
    size = k * draw(st.integers(1, 4))
    r, c = draw(st.integers(0, size - 1)), draw(st.integers(0, size - 1))
    dr = draw(st.integers(max(-2, -r), min(2, size - 1 - r)))
    dc = draw(st.integers(max(-2, -c), min(2, size - 1 - c)))
    return {"size": size, "position": (r, c), "shift": (dr, dc), "kernel": k}


TASKS = [
    Task(
        "pool_output_size",
        engine_pool_output_size,
        _size_args(),
        claim="equals the width of F.max_pool2d's output",
        hint="O = floor((W - K + 2P) / S) + 1, and the stride defaults to the kernel size",
    ),
    Task(
        "max_pool",
        engine_max_pool,
        _image_args(),
        close(),
        claim="the grid equals F.max_pool2d's output",
        hint="window (i, j) covers rows i*S .. i*S+K-1 and columns j*S .. j*S+K-1",
    ),
    Task(
        "max_pool_winners",
        engine_max_pool_winners,
        _image_args(),
        claim="the winners are F.max_pool2d's return_indices",
        hint="give positions in the whole image: the window's corner (i*S, j*S) plus the offset",
        show=show_pairs,
    ),
    Task(
        "unchanged_by_shift",
        engine_unchanged_by_shift,
        _shift_args(),
        claim="True exactly when F.max_pool2d gives the same output after the shift",
        hint="the output only changes when the pixel moves into another window (r // K, c // K)",
    ),
]


def generate(rng):
    h = int(rng.integers(4, 7))
    image = rng.permutation(h * h).reshape(h, h)
    k, s = int(rng.integers(2, 4)), int(rng.integers(1, 3))
    size, kp = int(rng.integers(5, 65)), int(rng.integers(2, 4))
    kk = int(rng.integers(2, 4))
    n = kk * int(rng.integers(2, 4))
    pos = (int(rng.integers(0, n)), int(rng.integers(0, n - 1)))
    return [
        Question(
            f"Output width of {kp} x {kp} max pooling (stride {kp}) over W = {size}?",
            "pool_output_size",
            {"size": size, "kernel": kp},
        ),
        Question(
            f"Max-pool with a {k} x {k} window, stride {s}:\n{format_grid(image)}",
            "max_pool",
            {"image": image, "kernel": k, "stride": s},
        ),
        Question(
            "For the same pooling, give the (row, col) of each window's winner.",
            "max_pool_winners",
            {"image": image, "kernel": k, "stride": s},
        ),
        Question(
            f"A {n} x {n} image is zero but for a bright pixel at {pos}. With {kk} x {kk} "
            f"max pooling (stride {kk}), is the output unchanged when it moves one column "
            "to the right?",
            "unchanged_by_shift",
            {"size": n, "position": pos, "shift": (0, 1), "kernel": kk},
        ),
    ]
