"""Checks of exercise 7: MAC counts measured with the engine's own gradients."""

from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, build_network, network_instances


def _counted_conv(in_shape, out_channels, kernel, stride, padding):
    """Products performed by F.conv2d: with all-ones input (the padding written out as ones) and
    an all-ones output gradient, dL/dw[f, c, u, v] is the number of times w[f, c, u, v] was used."""
    c, h, w = in_shape
    x = mt.ones(1, c, h + 2 * padding, w + 2 * padding, dtype=mt.float64)
    weight = mt.ones(out_channels, c, kernel, kernel, dtype=mt.float64, requires_grad=True)
    F.conv2d(x, weight, stride=stride).sum().backward()
    return int(round(float(weight.grad.sum().item())))


def _counted_linear(in_features, out_features):
    x = mt.ones(1, in_features, dtype=mt.float64)
    weight = mt.ones(out_features, in_features, dtype=mt.float64, requires_grad=True)
    F.linear(x, weight).sum().backward()
    return int(round(float(weight.grad.sum().item())))


def engine_conv_macs(in_shape, out_channels, kernel, stride=1, padding=0):
    return _counted_conv(tuple(in_shape), out_channels, kernel, stride, padding)


def engine_linear_macs(in_features, out_features):
    return _counted_linear(in_features, out_features)


def engine_network_macs(input_shape, layers):
    modules, shapes = build_network(input_shape, layers)
    ins = [tuple(input_shape)] + shapes[:-1]
    counts = []
    for m, shape in zip(modules, ins):
        if isinstance(m, nn.Conv2d):
            counts.append(
                _counted_conv(shape, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
            )
        elif isinstance(m, nn.Linear):
            counts.append(_counted_linear(m.in_features, m.out_features))
        else:
            counts.append(0)
    return counts


@st.composite
def _conv_args(draw):
    k = draw(st.integers(1, 7))
    p, s = draw(st.integers(0, k // 2)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, k - 2 * p), 20))
    w = draw(st.integers(max(1, k - 2 * p), 20))
    return {
        "in_shape": (draw(st.integers(1, 4)), h, w),
        "out_channels": draw(st.integers(1, 8)),
        "kernel": k,
        "stride": s,
        "padding": p,
    }


TASKS = [
    Task(
        "conv_macs",
        engine_conv_macs,
        _conv_args(),
        claim="equals the products F.conv2d performs (summed weight gradient of an all-ones pass)",
        hint="out_channels * OH * OW * C * K * K, with OH and OW from the output-size formula",
    ),
    Task(
        "linear_macs",
        engine_linear_macs,
        st.fixed_dictionaries(
            {"in_features": st.integers(1, 4096), "out_features": st.integers(1, 256)}
        ),
        claim="equals the products F.linear performs",
        hint="one product per weight",
    ),
    Task(
        "network_macs",
        engine_network_macs,
        network_instances(),
        claim="equals the products each engine layer performs",
        hint="track the shape; each conv uses its own input's size",
    ),
]


def generate(rng):
    c, size = int(rng.choice([1, 3])), int(rng.choice([28, 32, 64, 96]))
    f, k = int(rng.choice([16, 32, 64])), int(rng.choice([3, 5, 7]))
    s = int(rng.integers(1, 3))
    fin, fout = int(rng.integers(64, 4097)), int(rng.integers(2, 513))
    layers = [
        ("conv", 16, 3, 1),
        ("relu",),
        ("pool", 2),
        ("conv", 32, 3, 1),
        ("relu",),
        ("pool", 2),
        ("flatten",),
        ("linear", int(rng.choice([64, 128]))),
        ("relu",),
        ("linear", 10),
    ]
    return [
        Question(
            f"MACs of a {k}x{k} conv, stride {s}, padding {k // 2}, {c} -> {f} channels, "
            f"on a {c} x {size} x {size} input?",
            "conv_macs",
            {
                "in_shape": (c, size, size),
                "out_channels": f,
                "kernel": k,
                "stride": s,
                "padding": k // 2,
            },
        ),
        Question(
            f"MACs of Linear({fin}, {fout})?",
            "linear_macs",
            {"in_features": fin, "out_features": fout},
        ),
        Question(
            f"MACs per layer of input {(c, size, size)}, layers {layers}?",
            "network_macs",
            {"input_shape": (c, size, size), "layers": layers},
        ),
    ]
