"""Checks of exercise 2: the size formulas against the shapes F.conv2d really returns."""

from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task


def _engine_width(size, kernel, stride=1, padding=0, dilation=1):
    """Width of F.conv2d's output for a (1, 1, size, 1) input and a (1, 1, kernel, 1) kernel."""
    x = mt.zeros(1, 1, size, 1)
    w = mt.zeros(1, 1, kernel, 1)
    y = F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1))
    return y.shape[2]


def engine_conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    return _engine_width(size, kernel, stride, padding, dilation)


def engine_same_padding(kernel, dilation=1):
    size = 2 * dilation * kernel + 3  # any width where every candidate padding is valid
    for p in range(dilation * kernel + 1):
        if _engine_width(size, kernel, 1, p, dilation) == size:
            return p
    return None


def engine_kernel_for(size_in, size_out, padding=0):
    for k in range(1, size_in + 2 * padding + 1):
        if _engine_width(size_in, k, 1, padding) == size_out:
            return k
    return None


def engine_stride_fits(size, kernel, stride, padding=0):
    # Convolve an explicitly padded input and backpropagate: an input row that no window reads
    # gets zero gradient. The stride fits when even the last padded row is read.
    x = mt.ones(1, 1, size + 2 * padding, 1, requires_grad=True)
    F.conv2d(x, mt.ones(1, 1, kernel, 1), stride=(stride, 1)).sum().backward()
    return bool(x.grad.numpy()[0, 0, -1, 0] != 0)


@st.composite
def _size_args(draw):
    k = draw(st.integers(1, 7))
    d = draw(st.integers(1, 3))
    p = draw(st.integers(0, 3))
    s = draw(st.integers(1, 4))
    size = draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), 64))
    return {"size": size, "kernel": k, "stride": s, "padding": p, "dilation": d}


@st.composite
def _kernel_for_args(draw):
    size_in = draw(st.integers(1, 40))
    p = draw(st.integers(0, 3))
    size_out = draw(st.integers(1, size_in + 2 * p + 3))  # a few impossible ones too
    return {"size_in": size_in, "size_out": size_out, "padding": p}


@st.composite
def _fits_args(draw):
    k = draw(st.integers(1, 11))
    p = draw(st.integers(0, 3))
    s = draw(st.integers(1, 5))
    size = draw(st.integers(max(1, k - 2 * p), 64))
    return {"size": size, "kernel": k, "stride": s, "padding": p}


TASKS = [
    Task(
        "conv_output_size",
        engine_conv_output_size,
        _size_args(),
        claim="equals the width of F.conv2d's output",
        hint="O = floor((W - D*(F-1) - 1 + 2P) / S) + 1: floor division, then + 1",
    ),
    Task(
        "same_padding",
        engine_same_padding,
        st.fixed_dictionaries({"kernel": st.integers(1, 9), "dilation": st.integers(1, 4)}),
        claim="F.conv2d with this padding keeps the size; None when no padding does",
        hint="stride 1 keeps the size when 2P = D*(F-1); None when that is odd",
    ),
    Task(
        "kernel_for",
        engine_kernel_for,
        _kernel_for_args(),
        claim="F.conv2d with this kernel maps size_in to size_out; None when no kernel does",
        hint="F = W + 2P - O + 1, and a kernel size is at least 1",
    ),
    Task(
        "stride_fits",
        engine_stride_fits,
        _fits_args(),
        claim="True exactly when the conv's gradient reaches the last padded row",
        hint="it fits when (W - F + 2P) is a multiple of S",
    ),
]


def generate(rng):
    qs = []
    for _ in range(2):
        k = int(rng.choice([1, 3, 5, 7]))
        s, p, d = int(rng.integers(1, 4)), int(rng.integers(0, k // 2 + 1)), int(rng.integers(1, 3))
        w = int(rng.integers(d * (k - 1) + 1, 65))
        qs.append(
            Question(
                f"Output width of a conv with W = {w}, F = {k}, P = {p}, S = {s}, D = {d}?",
                "conv_output_size",
                {"size": w, "kernel": k, "stride": s, "padding": p, "dilation": d},
            )
        )
    k, d = int(rng.integers(1, 8)), int(rng.integers(1, 4))
    qs.append(
        Question(
            f"Which padding keeps the size for F = {k}, D = {d}, S = 1 (None if none)?",
            "same_padding",
            {"kernel": k, "dilation": d},
        )
    )
    w, p = int(rng.integers(5, 40)), int(rng.integers(0, 3))
    o = int(rng.integers(max(1, w - 6), w + 2 * p + 1))
    qs.append(
        Question(
            f"Which kernel size maps W = {w} to {o} with P = {p}, S = 1 (None if none)?",
            "kernel_for",
            {"size_in": w, "size_out": o, "padding": p},
        )
    )
    k, s = int(rng.choice([3, 5, 7, 11])), int(rng.integers(2, 5))
    w, p = int(rng.integers(k, 230)), int(rng.integers(0, 3))
    qs.append(
        Question(
            f"Does stride S = {s} fit for W = {w}, F = {k}, P = {p}?",
            "stride_fits",
            {"size": w, "kernel": k, "stride": s, "padding": p},
        )
    )
    return qs
