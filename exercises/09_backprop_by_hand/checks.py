"""Checks of exercise 9: hand-derived gradients against the engine's autograd."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.exercises import Question, Task, close, format_grid, format_value

KEYS = [
    "conv",
    "relu",
    "pool",
    "logits",
    "probs",
    "loss",
    "d_logits",
    "d_fc_w",
    "d_fc_b",
    "d_pool",
    "d_relu",
    "d_conv",
    "d_conv_w",
    "d_conv_b",
    "d_x",
]


def show(v):
    """Answers key by key; (F, h, w) maps as one labelled grid per filter."""
    if isinstance(v, dict):
        return "\n".join(
            f"{k}:\n" + "\n".join("    " + line for line in show(x).splitlines())
            for k, x in v.items()
        )
    if np.ndim(v) == 3:
        return "\n".join(f"filter {f}:\n{format_grid(g)}" for f, g in enumerate(np.asarray(v)))
    return format_value(v)


def _leaf(a):
    return mt.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def engine_backprop(x, conv_w, conv_b, fc_w, fc_b, target):
    """Run the network forward with the engine, backpropagate with autograd, read every grad."""
    xt, cw, cb, fw, fb = (_leaf(a) for a in (x, conv_w, conv_b, fc_w, fc_b))
    n_filters, k = cw.shape[0], cw.shape[-1]
    conv = F.conv2d(xt.reshape(1, 1, *xt.shape), cw.reshape(n_filters, 1, k, k), cb)
    relu = F.relu(conv)
    pool = F.max_pool2d(relu, 2)
    logits = F.linear(pool.reshape(1, -1), fw, fb)
    loss = F.cross_entropy(logits, mt.tensor(np.array([target])))
    for t in (conv, relu, pool, logits):
        t.retain_grad()
    loss.backward()
    return {
        "conv": conv.numpy()[0],
        "relu": relu.numpy()[0],
        "pool": pool.numpy()[0],
        "logits": logits.numpy()[0],
        "probs": F.softmax(logits, dim=1).numpy()[0],
        "loss": float(loss.item()),
        "d_logits": logits.grad.numpy()[0],
        "d_fc_w": fw.grad.numpy(),
        "d_fc_b": fb.grad.numpy(),
        "d_pool": pool.grad.numpy()[0],
        "d_relu": relu.grad.numpy()[0],
        "d_conv": conv.grad.numpy()[0],
        "d_conv_w": cw.grad.numpy(),
        "d_conv_b": cb.grad.numpy(),
        "d_x": xt.grad.numpy(),
    }


def _generic(inst) -> bool:
    """Every gradient is uniquely defined: no conv output at 0 (where ReLU has a kink) and no
    tie for a pooling window's maximum, except in windows that ReLU zeroes entirely (there the
    gradient goes to the first position, as np.argmax picks it, and ReLU then blocks it)."""
    x, w, b = (np.asarray(inst[k], dtype=float) for k in ("x", "conv_w", "conv_b"))
    f, k = w.shape[0], w.shape[-1]
    oh, ow = x.shape[0] - k + 1, x.shape[1] - k + 1
    conv = np.array(
        [
            [[(x[i : i + k, j : j + k] * w[c]).sum() + b[c] for j in range(ow)] for i in range(oh)]
            for c in range(f)
        ]
    )
    if np.abs(conv).min() < 0.1:
        return False
    r = np.maximum(conv, 0).reshape(f, oh // 2, 2, ow // 2, 2).transpose(0, 1, 3, 2, 4)
    top2 = np.sort(r.reshape(f, oh // 2, ow // 2, 4), axis=-1)[..., -2:]
    return bool(((top2[..., 1] - top2[..., 0] > 0.1) | (top2[..., 1] == 0)).all())


_halves = st.integers(-4, 4).map(lambda v: v / 2)


@st.composite
def _instances(draw):
    k, f, classes = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(2, 3))
    oh, ow = 2 * draw(st.integers(1, 2)), 2 * draw(st.integers(1, 2))
    h, w = oh + k - 1, ow + k - 1

    def arr(*shape):
        n = int(np.prod(shape))
        return np.array(draw(st.lists(_halves, min_size=n, max_size=n))).reshape(shape)

    return {
        "x": arr(h, w),
        "conv_w": arr(f, k, k),
        "conv_b": arr(f),
        "fc_w": arr(classes, f * (oh // 2) * (ow // 2)),
        "fc_b": arr(classes),
        "target": draw(st.integers(0, classes - 1)),
    }


TASKS = [
    Task(
        "backprop",
        engine_backprop,
        _instances().filter(_generic),
        close(1e-6, 1e-6),
        claim="every forward value and gradient equals the engine's autograd",
        hint="d_logits = softmax - onehot; pooling sends its gradient to the winner only; ReLU "
        "passes it where the conv output is positive; d_conv_w correlates x with d_conv",
        show=show,
    ),
]


def generate(rng):
    while True:  # a generic instance where ReLU blocks something and the winners differ
        inst = {
            "x": rng.integers(0, 3, size=(3, 3)),
            "conv_w": rng.integers(-1, 2, size=(2, 2, 2)),
            "conv_b": rng.integers(-1, 2, size=2),
            "fc_w": rng.integers(-1, 2, size=(3, 2)),
            "fc_b": rng.integers(-1, 2, size=3),
            "target": int(rng.integers(0, 3)),
        }
        if not _generic(inst):
            continue
        conv = engine_backprop(**inst)["relu"].reshape(2, 4)
        if (
            (conv == 0).any(axis=1).all()
            and (conv > 0).any(axis=1).all()
            and (np.argmax(conv[0]) != np.argmax(conv[1]))
        ):
            break
    filters = "\n".join(
        f"filter {c} =\n{format_grid(inst['conv_w'][c])}\nbias {c} = {inst['conv_b'][c]}"
        for c in range(2)
    )
    text = (
        f"Backpropagate by hand through conv (2 filters, 2x2, bias) -> ReLU -> 2x2 max pool "
        f"-> linear (3 classes) -> cross-entropy, target class {inst['target']}:\n"
        f"x =\n{format_grid(inst['x'])}\n{filters}\n"
        f"fc weight =\n{format_grid(inst['fc_w'])}\nfc bias = {format_grid(inst['fc_b'])}"
    )
    return [Question(text, "backprop", inst)]
