"""Checks of exercise 14: hand fans, gains and init scales against the engine's `nn.init` and
the default initialisation of its layers."""

import math
from contextlib import contextmanager

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import init
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, close, exact, format_number


class _Probe:
    """A generator that records the distribution it is asked for and returns zeros: what the
    engine's init functions compute, read without sampling."""

    def __init__(self):
        self.calls = []

    def uniform(self, low, high, size):
        self.calls.append(("uniform", low, high))
        return np.zeros(size)

    def normal(self, loc, scale, size):
        self.calls.append(("normal", loc, scale))
        return np.zeros(size)


@contextmanager
def _probing_default_generator():
    """The layers draw their default weights from the package generator: stand a probe in."""
    probe, saved = _Probe(), init.default_rng
    init.default_rng = lambda: probe
    try:
        yield probe
    finally:
        init.default_rng = saved


def _layer(kind, in_channels, out_channels, kernel=1, groups=1):
    if kind == "linear":
        return nn.Linear(in_channels, out_channels, dtype=mt.float64)
    cls = nn.Conv2d if kind == "conv" else nn.ConvTranspose2d
    return cls(in_channels, out_channels, kernel, groups=groups, dtype=mt.float64)


def engine_fans(kind, in_channels, out_channels, kernel=1, groups=1):
    weight = _layer(kind, in_channels, out_channels, kernel, groups).weight
    return init._calculate_fan_in_and_fan_out(weight)


def engine_nonlinearity_gain(nonlinearity, a=None):
    return init.calculate_gain(nonlinearity, a)


def engine_init_scale(method, shape, gain=1.0, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    probe = _Probe()
    w = mt.zeros(*shape, dtype=mt.float64)
    if method.startswith("xavier"):
        getattr(init, method + "_")(w, gain=gain, generator=probe)
    else:
        getattr(init, method + "_")(w, a=a, mode=mode, nonlinearity=nonlinearity, generator=probe)
    ((_, _, scale),) = probe.calls  # the bound b of U(-b, b), or the std of N(0, std^2)
    return scale


def engine_default_bounds(kind, in_channels, out_channels, kernel=1, groups=1):
    with _probing_default_generator() as probe:
        _layer(kind, in_channels, out_channels, kernel, groups)
    (_, _, weight_bound), (_, _, bias_bound) = probe.calls
    return weight_bound, bias_bound


@st.composite
def _layers(draw):
    kind = draw(st.sampled_from(["conv", "conv_transpose", "linear"]))
    if kind == "linear":
        return {"kind": kind, "in_channels": draw(st.integers(1, 600)),
                "out_channels": draw(st.integers(1, 100))}  # fmt: skip
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    return {
        "kind": kind,
        "in_channels": groups * draw(st.integers(1, 8)),
        "out_channels": groups * draw(st.integers(1, 8)),
        "kernel": draw(st.sampled_from([1, 2, 3, 5])),
        **({"groups": groups} if groups > 1 else {}),
    }


_SLOPES = [0.0, 0.01, 0.2, math.sqrt(5)]


@st.composite
def _gains(draw):
    nonlinearity = draw(st.sampled_from(["relu", "leaky_relu", "tanh", "linear", "sigmoid"]))
    a = draw(st.sampled_from([None, *_SLOPES]))
    return {"nonlinearity": nonlinearity} | ({} if a is None else {"a": a})


@st.composite
def _scales(draw):
    method = draw(st.sampled_from(["xavier_uniform", "xavier_normal", "kaiming_uniform",
                                   "kaiming_normal"]))  # fmt: skip
    out, cin = draw(st.integers(1, 64)), draw(st.integers(1, 64))
    shape = draw(
        st.sampled_from([(out, cin), (out, cin, 3, 3), (out, cin, 1, 1), (out, cin, 5, 5)])
    )
    if method.startswith("xavier"):
        return {"method": method, "shape": shape,
                "gain": draw(st.sampled_from([1.0, math.sqrt(2), 5 / 3]))}  # fmt: skip
    return {
        "method": method,
        "shape": shape,
        "a": draw(st.sampled_from(_SLOPES)),
        "mode": draw(st.sampled_from(["fan_in", "fan_out"])),
        "nonlinearity": draw(st.sampled_from(["leaky_relu", "relu", "tanh", "linear"])),
    }


def _show_fans(v):
    return f"fan_in = {format_number(v[0])}, fan_out = {format_number(v[1])}"


def _show_bounds(v):
    return f"weight bound {format_number(v[0])}, bias bound {format_number(v[1])}"


TASKS = [
    Task(
        "fans",
        engine_fans,
        _layers(),
        exact,
        claim="equals the fans the engine's nn.init computes from the layer's weight",
        hint="a conv weight is (out, in / groups, k, k) and a transposed conv weight (in, "
        "out / groups, k, k); fan_in = dim 1 * k * k, fan_out = dim 0 * k * k",
        show=_show_fans,
    ),
    Task(
        "nonlinearity_gain",
        engine_nonlinearity_gain,
        _gains(),
        close(1e-12, 1e-12),
        claim="equals nn.init.calculate_gain",
        hint="relu sqrt(2); leaky_relu sqrt(2 / (1 + a^2)) with a = 0.01 when not given; tanh "
        "5/3; linear and sigmoid 1",
    ),
    Task(
        "init_scale",
        engine_init_scale,
        _scales(),
        close(1e-12, 1e-12),
        claim="equals the bound (uniform) or std (normal) that the engine's nn.init draws from",
        hint="xavier: std = gain * sqrt(2 / (fan_in + fan_out)); kaiming: std = "
        "gain(nonlinearity, a) / sqrt(fan of the mode); a uniform bound is sqrt(3) * std",
    ),
    Task(
        "default_bounds",
        engine_default_bounds,
        _layers(),
        close(1e-12, 1e-12),
        claim="equals the bounds the engine's layers draw their default weights and biases from",
        hint="kaiming_uniform_ with a = sqrt(5) works out to 1 / sqrt(fan_in); the bias uses "
        "1 / sqrt(fan_in) too",
        show=_show_bounds,
    ),
]


def generate(rng):
    cin, cout = int(rng.choice([16, 32, 64, 128])), int(rng.choice([32, 64, 256]))
    k, g = int(rng.choice([3, 5])), int(rng.choice([2, 4]))
    fin, fout = int(rng.choice([256, 512, 1024])), int(rng.choice([10, 100]))
    return [
        Question(f"fan_in and fan_out of Conv2d({cin}, {cout}, {k})?", "fans",
                 {"kind": "conv", "in_channels": cin, "out_channels": cout, "kernel": k}),
        Question(f"fan_in and fan_out of Conv2d({cin}, {cout}, {k}, groups={g})?", "fans",
                 {"kind": "conv", "in_channels": cin, "out_channels": cout, "kernel": k,
                  "groups": g}),
        Question(f"fan_in and fan_out of ConvTranspose2d({cin}, {cout}, {k})?", "fans",
                 {"kind": "conv_transpose", "in_channels": cin, "out_channels": cout,
                  "kernel": k}),
        Question("The gain of leaky_relu with slope 0.2?", "nonlinearity_gain",
                 {"nonlinearity": "leaky_relu", "a": 0.2}),
        Question(f"The std of kaiming_normal_ (relu, fan_in) on a Conv2d({cin}, {cout}, {k}) "
                 "weight?", "init_scale",
                 {"method": "kaiming_normal", "shape": (cout, cin, k, k), "a": 0.0,
                  "mode": "fan_in", "nonlinearity": "relu"}),
        Question(f"The bound of xavier_uniform_ on a Linear({fin}, {fout}) weight?", "init_scale",
                 {"method": "xavier_uniform", "shape": (fout, fin), "gain": 1.0}),
        Question(f"The bounds of the default init of Conv2d({cin}, {cout}, {k})?",
                 "default_bounds",
                 {"kind": "conv", "in_channels": cin, "out_channels": cout, "kernel": k}),
    ]  # fmt: skip
