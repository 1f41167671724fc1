"""Checks of exercise 5: parameter counts against the parameters the engine's modules have."""

from hypothesis import strategies as st

from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, build_network, network_instances


def _count(module):
    return sum(p.numel() for p in module.parameters())


def engine_conv_params(in_channels, out_channels, kernel, bias=True, groups=1):
    return _count(nn.Conv2d(in_channels, out_channels, kernel, bias=bias, groups=groups))


def engine_linear_params(in_features, out_features, bias=True):
    return _count(nn.Linear(in_features, out_features, bias=bias))


def engine_batchnorm_params(num_features):
    bn = nn.BatchNorm2d(num_features)
    trainable = sum(p.numel() for p in bn.parameters() if p.requires_grad)
    return trainable, bn.running_mean.numel() + bn.running_var.numel()


def engine_network_params(input_shape, layers):
    modules, _ = build_network(input_shape, layers)
    return [_count(m) for m in modules]


def engine_flattened_size(input_shape, layers):
    _, shapes = build_network(input_shape, layers)
    kinds = [layer[0] for layer in layers]
    return shapes[kinds.index("flatten")][0]


@st.composite
def _conv_args(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    cin = groups * draw(st.integers(1, 8))
    cout = groups * draw(st.integers(1, 8))
    return {
        "in_channels": cin,
        "out_channels": cout,
        "kernel": draw(st.integers(1, 7)),
        "bias": draw(st.booleans()),
        "groups": groups,
    }


TASKS = [
    Task(
        "conv_params",
        engine_conv_params,
        _conv_args(),
        claim="equals sum(p.numel() for p in nn.Conv2d(...).parameters())",
        hint="out_channels * (in_channels / groups) * K * K weights, plus out_channels biases",
    ),
    Task(
        "linear_params",
        engine_linear_params,
        st.fixed_dictionaries(
            {
                "in_features": st.integers(1, 4096),
                "out_features": st.integers(1, 64),
                "bias": st.booleans(),
            }
        ),
        claim="equals sum(p.numel() for p in nn.Linear(...).parameters())",
        hint="in * out weights, plus out biases",
    ),
    Task(
        "batchnorm_params",
        engine_batchnorm_params,
        st.fixed_dictionaries({"num_features": st.integers(1, 512)}),
        claim="equals BatchNorm2d's trainable parameters and running_mean + running_var",
        hint="gamma and beta are trained; running mean and variance are buffers",
        show=lambda v: f"trainable {v[0]}, running {v[1]}",
    ),
    Task(
        "network_params",
        engine_network_params,
        network_instances(),
        claim="equals each engine layer's sum(p.numel())",
        hint="follow the shape: in-channels of a conv and in-features of a linear come from the "
        "layer before; batch norm has 2 per channel; ReLU, pooling and flatten have none",
    ),
    Task(
        "flattened_size",
        engine_flattened_size,
        network_instances(),
        claim="equals the number of features the engine's Flatten outputs",
        hint="channels x height x width of the map entering flatten",
    ),
]


def generate(rng):
    cin, cout, k = (
        int(rng.integers(1, 65)),
        int(rng.integers(1, 129)),
        int(rng.choice([1, 3, 5, 7])),
    )
    g = int(rng.choice([2, 4]))
    fin, fout = int(rng.integers(16, 4097)), int(rng.integers(2, 257))
    c = int(rng.choice([16, 32, 64, 128, 256]))
    size = int(rng.choice([28, 32, 64]))
    f1, f2 = int(rng.choice([8, 16, 32])), int(rng.choice([32, 64]))
    k1, k2 = int(rng.choice([3, 5])), int(rng.choice([3, 5]))
    layers = [
        ("conv", f1, k1, k1 // 2),
        ("relu",),
        ("pool", 2),
        ("conv", f2, k2, 0),
        ("relu",),
        ("pool", 2),
        ("flatten",),
        ("linear", int(rng.choice([64, 100, 128]))),
        ("relu",),
        ("linear", 10),
    ]
    shape = (int(rng.choice([1, 3])), size, size)
    net = f"input {shape}, layers {layers}"
    return [
        Question(
            f"Parameters of Conv2d({cin}, {cout}, {k})?",
            "conv_params",
            {"in_channels": cin, "out_channels": cout, "kernel": k},
        ),
        Question(
            f"Parameters of Conv2d({g * 8}, {g * 16}, 3, groups={g}, bias=False)?",
            "conv_params",
            {"in_channels": g * 8, "out_channels": g * 16, "kernel": 3, "bias": False, "groups": g},
        ),
        Question(
            f"Parameters of Linear({fin}, {fout})?",
            "linear_params",
            {"in_features": fin, "out_features": fout},
        ),
        Question(
            f"BatchNorm2d({c}): trainable parameters and running statistics?",
            "batchnorm_params",
            {"num_features": c},
        ),
        Question(
            f"For the network {net}: the flattened size?",
            "flattened_size",
            {"input_shape": shape, "layers": layers},
        ),
        Question(
            "Its parameters, layer by layer?",
            "network_params",
            {"input_shape": shape, "layers": layers},
        ),
    ]
