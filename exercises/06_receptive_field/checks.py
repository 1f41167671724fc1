"""Checks of exercise 6: receptive field and output stride measured by the engine's autograd."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task


def _stack(x, layers):
    """Run one-channel all-ones convolutions and average pooling along the height of x."""
    for layer in layers:
        kind, k, *rest = layer
        if kind == "conv":
            s, d = (list(rest) + [1, 1][len(rest) :])[:2]
            x = F.conv2d(x, mt.ones(1, 1, k, 1, dtype=mt.float64), stride=(s, 1), dilation=(d, 1))
        else:
            s = rest[0] if rest else k
            x = F.avg_pool2d(x, (k, 1), (s, 1))
    return x


def _touched(layers, unit):
    """Input rows that receive gradient from output row `unit` (as a first, last pair)."""
    # A generous input length: every layer's window fits and there are >= 2 output units (the
    # receptive field is at most the sum of the dilated kernels times the product of strides).
    span, jump = 1, 1
    for kind, k, *rest in layers:
        span += k * (rest[1] if kind == "conv" and len(rest) > 1 else 1)
        jump *= rest[0] if rest else (1 if kind == "conv" else k)
    x = mt.ones(1, 1, 2 * span * jump, 1, dtype=mt.float64, requires_grad=True)
    y = _stack(x, layers)
    pick = np.zeros(y.shape)
    pick[0, 0, unit, 0] = 1.0
    (y * mt.tensor(pick)).sum().backward()
    rows = np.nonzero(x.grad.numpy()[0, 0, :, 0])[0]
    return int(rows[0]), int(rows[-1])


def engine_receptive_field(layers):
    first, last = _touched(layers, 0)
    return last - first + 1


def engine_output_stride(layers):
    return _touched(layers, 1)[0] - _touched(layers, 0)[0]


_layer = st.one_of(
    st.tuples(st.just("conv"), st.integers(1, 5), st.integers(1, 2), st.integers(1, 2)),
    st.tuples(st.just("conv"), st.integers(1, 5)),
    st.tuples(st.just("pool"), st.integers(2, 3)),
    st.tuples(st.just("pool"), st.integers(2, 3), st.integers(1, 3)),
)
_args = st.fixed_dictionaries({"layers": st.lists(_layer, min_size=1, max_size=5)})

TASKS = [
    Task(
        "receptive_field",
        engine_receptive_field,
        _args,
        claim="equals the span of input pixels that get gradient from one output unit",
        hint="r grows by D*(K-1) times the current jump j, and j is multiplied by each stride",
    ),
    Task(
        "output_stride",
        engine_output_stride,
        _args,
        claim="equals the shift between the input regions of two neighbouring output units",
        hint="the product of all strides (pooling strides default to the kernel size)",
    ),
]


def generate(rng):
    layers = []
    for _ in range(int(rng.integers(2, 4))):
        layers.append(("conv", int(rng.choice([3, 5, 7]))))
        if rng.random() < 0.5:
            layers.append(("conv", 3))
        layers.append(("pool", 2))
    dil = [("conv", 3, 1, int(d)) for d in 2 ** np.arange(int(rng.integers(2, 5)))]
    return [
        Question(f"Receptive field of {layers}?", "receptive_field", {"layers": layers}),
        Question("And its output stride?", "output_stride", {"layers": layers}),
        Question(
            f"Receptive field of the dilated stack {dil}?", "receptive_field", {"layers": dil}
        ),
    ]
