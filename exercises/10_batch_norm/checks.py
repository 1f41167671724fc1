"""Checks of exercise 10: a hand batch-norm step against the engine's BatchNorm layers."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Question, Task, close, format_grid


def engine_batch_norm_step(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    x = mt.tensor(np.asarray(x, dtype=np.float64))
    c = x.shape[1]
    layer = (nn.BatchNorm1d if x.ndim == 2 else nn.BatchNorm2d)(
        c, eps=eps, momentum=momentum, dtype=mt.float64
    )
    with mt.no_grad():
        layer.weight.copy_(mt.tensor(np.asarray(gamma, dtype=np.float64)))
        layer.bias.copy_(mt.tensor(np.asarray(beta, dtype=np.float64)))
        layer.running_mean.copy_(mt.tensor(np.asarray(running_mean, dtype=np.float64)))
        layer.running_var.copy_(mt.tensor(np.asarray(running_var, dtype=np.float64)))
    layer.train()
    y = layer(x)
    dims = (0,) + tuple(range(2, x.ndim))
    return {
        "mean": F.mean(x, dims).numpy(),
        "var": F.var(x, dims, unbiased=False).numpy(),
        "y": y.detach().numpy(),
        "running_mean": layer.running_mean.numpy().copy(),
        "running_var": layer.running_var.numpy().copy(),
    }


_halves = st.integers(-6, 6).map(lambda v: v / 2)


@st.composite
def _instances(draw):
    n, c = draw(st.integers(2, 5)), draw(st.integers(1, 3))
    spatial = draw(st.sampled_from([(), (1, 2), (2, 2), (3, 1)]))
    shape = (n, c, *spatial)
    size = int(np.prod(shape))

    def vec(elems, k):
        return np.array(draw(st.lists(elems, min_size=k, max_size=k)))

    return {
        "x": vec(_halves, size).reshape(shape),
        "gamma": vec(_halves, c),
        "beta": vec(_halves, c),
        "running_mean": vec(_halves, c),
        "running_var": vec(st.integers(1, 8).map(lambda v: v / 4), c),
        "momentum": draw(st.sampled_from([0.1, 0.1, 0.01, 0.5])),
        "eps": draw(st.sampled_from([1e-5, 1e-3])),
    }


TASKS = [
    Task(
        "batch_norm_step",
        engine_batch_norm_step,
        _instances(),
        close(1e-6, 1e-6),
        claim="equals the engine's BatchNorm output and updated running buffers",
        hint="normalise with the biased variance (divide by n); update running_var with the "
        "unbiased one (divide by n - 1); statistics over every axis except the channels",
    ),
]


def generate(rng):
    n, c = int(rng.integers(3, 6)), 2
    x = rng.integers(-2, 6, size=(n, c))
    gamma = rng.integers(1, 3, size=c)
    beta = rng.integers(-1, 2, size=c)
    text = (
        f"A BatchNorm1d({c}) in training mode (momentum 0.1, eps 1e-5, running mean 0, "
        f"running var 1), gamma = {gamma.tolist()}, beta = {beta.tolist()}, gets the batch\n"
        f"{format_grid(x)}\nGive the batch mean and variance, y, and the running statistics."
    )
    return [
        Question(
            text,
            "batch_norm_step",
            {
                "x": x,
                "gamma": gamma,
                "beta": beta,
                "running_mean": np.zeros(c),
                "running_var": np.ones(c),
                "momentum": 0.1,
                "eps": 1e-5,
            },
        )
    ]
