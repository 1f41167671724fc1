"""Checks of exercise 4: transposed-convolution sizes and values against F.conv_transpose2d."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task, close, format_grid


def _t(a):
    return mt.tensor(np.asarray(a, dtype=np.float64)[None, None])


def _transpose_width(size, kernel, stride, padding, output_padding):
    x, w = mt.zeros(1, 1, size, 1), mt.zeros(1, 1, kernel, 1)
    y = F.conv_transpose2d(
        x, w, stride=(stride, 1), padding=(padding, 0), output_padding=(output_padding, 0)
    )
    return y.shape[2]


def _conv_width(size, kernel, stride, padding):
    x, w = mt.zeros(1, 1, size, 1), mt.zeros(1, 1, kernel, 1)
    return F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0)).shape[2]


def engine_conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0):
    return _transpose_width(size, kernel, stride, padding, output_padding)


def engine_scatter_transpose(image, kernel, stride=1, padding=0):
    return F.conv_transpose2d(_t(image), _t(kernel), stride=stride, padding=padding).numpy()[0, 0]


def engine_input_sizes(output_size, kernel, stride, padding=0):
    # every width a conv accepts (at least one window) up to well past the largest candidate
    first = max(1, kernel - 2 * padding)
    last = (output_size + 1) * stride + kernel
    return [
        w for w in range(first, last + 1) if _conv_width(w, kernel, stride, padding) == output_size
    ]


def engine_output_padding_for(size, kernel, stride, padding=0):
    out = _conv_width(size, kernel, stride, padding)
    for a in range(stride):  # output_padding must be smaller than the stride
        if _transpose_width(out, kernel, stride, padding, a) == size:
            return a
    return None


@st.composite
def _size_args(draw):
    k, s = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    p = draw(st.integers(0, k - 1))
    a = draw(st.integers(0, s - 1))
    size = draw(st.integers(1, 30).filter(lambda n: (n - 1) * s - 2 * p + k + a >= 1))
    return {"size": size, "kernel": k, "stride": s, "padding": p, "output_padding": a}


@st.composite
def _scatter_args(draw):
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, min(kh, kw) - 1))
    if (h - 1) * s + kh - 2 * p < 1 or (w - 1) * s + kw - 2 * p < 1:
        p = 0
    ints = st.integers(-3, 3)
    image = draw(st.lists(st.lists(ints, min_size=w, max_size=w), min_size=h, max_size=h))
    kernel = draw(st.lists(st.lists(ints, min_size=kw, max_size=kw), min_size=kh, max_size=kh))
    return {"image": np.array(image), "kernel": np.array(kernel), "stride": s, "padding": p}


@st.composite
def _inverse_args(draw):
    k, s = draw(st.integers(1, 7)), draw(st.integers(1, 4))
    p = draw(st.integers(0, 3))
    return {"output_size": draw(st.integers(1, 20)), "kernel": k, "stride": s, "padding": p}


@st.composite
def _output_padding_args(draw):
    k, s = draw(st.integers(1, 7)), draw(st.integers(1, 4))
    p = draw(st.integers(0, (k - 1) // 2))
    size = draw(st.integers(max(1, k - 2 * p), 60))
    return {"size": size, "kernel": k, "stride": s, "padding": p}


TASKS = [
    Task(
        "conv_transpose_output_size",
        engine_conv_transpose_output_size,
        _size_args(),
        claim="equals the width of F.conv_transpose2d's output",
        hint="O = (W - 1)*S - 2P + K + A",
    ),
    Task(
        "scatter_transpose",
        engine_scatter_transpose,
        _scatter_args(),
        close(),
        claim="the grid equals F.conv_transpose2d's output",
        hint="corners at (i*S, j*S), overlapping copies add, then crop P from every side",
    ),
    Task(
        "input_sizes",
        engine_input_sizes,
        _inverse_args(),
        claim="exactly the widths whose F.conv2d output has this size",
        hint="W = (O-1)*S + K - 2P + r for r = 0 .. S-1, keeping widths that hold one window",
    ),
    Task(
        "output_padding_for",
        engine_output_padding_for,
        _output_padding_args(),
        claim="F.conv_transpose2d with this output_padding gives back the conv's input width",
        hint="A = (W + 2P - K) mod S: the rows the convolution's floor division dropped",
    ),
]


def generate(rng):
    k, s = int(rng.choice([2, 3, 4, 5])), int(rng.integers(1, 4))
    p = int(rng.integers(0, k // 2 + 1))
    a = int(rng.integers(0, s))
    w = int(rng.integers(3, 33))
    image = rng.integers(-2, 4, size=(2, int(rng.integers(2, 4))))
    kernel = rng.integers(-2, 3, size=(2, 2))
    ks, ss = int(rng.choice([3, 5])), int(rng.integers(2, 4))
    pp = ks // 2
    o = int(rng.integers(4, 30))
    big = int(rng.integers(20, 100))
    return [
        Question(
            f"Output width of ConvTranspose2d with W = {w}, K = {k}, S = {s}, P = {p}, "
            f"output_padding = {a}?",
            "conv_transpose_output_size",
            {"size": w, "kernel": k, "stride": s, "padding": p, "output_padding": a},
        ),
        Question(
            f"Scatter kernel copies, stride {s}:\nx =\n{format_grid(image)}\n\n"
            f"K =\n{format_grid(kernel)}",
            "scatter_transpose",
            {"image": image, "kernel": kernel, "stride": s},
        ),
        Question(
            f"Which input widths does a conv with K = {ks}, S = {ss}, P = {pp} map to {o}?",
            "input_sizes",
            {"output_size": o, "kernel": ks, "stride": ss, "padding": pp},
        ),
        Question(
            f"A conv with K = {ks}, S = {ss}, P = {pp} maps W = {big} to a smaller map. Which "
            "output_padding makes the matching ConvTranspose2d give back W?",
            "output_padding_for",
            {"size": big, "kernel": ks, "stride": ss, "padding": pp},
        ),
    ]
