"""Checks of exercise 13: hand optimiser steps against the engine's optim.SGD, Adam and AdamW."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import optim
from minitorch_cv.exercises import Question, Task, close, format_grid


def _run(make_optimizer, w, grads):
    """Set each gradient as .grad of a float64 parameter and step; the weights after each step."""
    p = mt.tensor(np.asarray(w, dtype=np.float64), requires_grad=True)
    opt = make_optimizer([p])
    rows = []
    for g in grads:
        p.grad = mt.tensor(np.asarray(g, dtype=np.float64))
        opt.step()
        rows.append(p.detach().numpy().copy())
    return np.array(rows)


def engine_sgd_steps(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    return _run(
        lambda ps: optim.SGD(
            ps,
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        ),  # fmt: skip
        w,
        grads,
    )


def engine_adam_steps(w, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                      decoupled=False):  # fmt: skip
    cls = optim.AdamW if decoupled else optim.Adam
    return _run(
        lambda ps: cls(ps, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay), w, grads
    )


_halves = st.integers(-6, 6).map(lambda v: v / 2)


@st.composite
def _weights_and_grads(draw):
    n, steps = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    w = draw(st.lists(_halves, min_size=n, max_size=n))
    grads = [draw(st.lists(_halves, min_size=n, max_size=n)) for _ in range(steps)]
    return {"w": w, "grads": grads}


@st.composite
def _sgd(draw):
    args = draw(_weights_and_grads())
    args["lr"] = draw(st.sampled_from([0.1, 0.5, 1.0, 0.01]))
    momentum = draw(st.sampled_from([0.0, 0.9, 0.5]))
    nesterov = momentum > 0 and draw(st.booleans())
    options = {
        "momentum": momentum,
        "dampening": 0.0 if nesterov else draw(st.sampled_from([0.0, 0.5])),
        "weight_decay": draw(st.sampled_from([0.0, 0.1, 0.5])),
        "nesterov": nesterov,
    }
    return args | {k: v for k, v in options.items() if v}  # defaults left out, as a caller would


@st.composite
def _adam(draw):
    args = draw(_weights_and_grads())
    args["lr"] = draw(st.sampled_from([0.1, 0.01, 0.5]))
    options = {
        "betas": draw(st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.0, 0.99)])),
        "eps": draw(st.sampled_from([1e-8, 0.1, 1.0])),
        "weight_decay": draw(st.sampled_from([0.0, 0.1, 0.5])),
        "decoupled": draw(st.booleans()),
    }
    return args | options


TASKS = [
    Task(
        "sgd_steps",
        engine_sgd_steps,
        _sgd(),
        close(1e-9, 1e-9),
        claim="equals the weights of the engine's optim.SGD after each step",
        hint="the momentum buffer starts as the first (decayed) gradient, with no dampening; "
        "weight decay is added to the gradient before the momentum; Nesterov steps by "
        "g + momentum * b",
    ),
    Task(
        "adam_steps",
        engine_adam_steps,
        _adam(),
        close(1e-9, 1e-9),
        claim="equals the weights of the engine's optim.Adam / optim.AdamW after each step",
        hint="divide m by 1 - beta1^t and v by 1 - beta2^t (t counts from 1); eps goes outside "
        "the square root; AdamW multiplies w by 1 - lr * weight_decay instead of adding "
        "weight_decay * w to the gradient",
    ),
]


def generate(rng):
    n = 2
    w = rng.integers(-3, 4, size=n)
    grads = rng.integers(-3, 4, size=(2, n))
    lr, momentum = float(rng.choice([0.1, 0.5])), float(rng.choice([0.5, 0.9]))
    wd = float(rng.choice([0.1, 0.5]))
    start = f"w0 = {w.tolist()}, gradients (one row per step)\n{format_grid(grads)}\n"
    base = {"w": w, "grads": grads, "lr": lr}
    return [
        Question(
            start + f"SGD, lr {lr}, momentum {momentum}: w after each step?",
            "sgd_steps",
            base | {"momentum": momentum},
        ),
        Question(
            start + f"SGD, lr {lr}, weight decay {wd}: w after each step?",
            "sgd_steps",
            base | {"weight_decay": wd},
        ),
        Question(
            start + f"Adam, lr {lr}, betas (0.9, 0.999), eps 1e-8: w after each step?",
            "adam_steps",
            base,
        ),
        Question(
            start + f"AdamW, lr {lr}, weight decay {wd}: w after each step?",
            "adam_steps",
            base | {"weight_decay": wd, "decoupled": True},
        ),
    ]
