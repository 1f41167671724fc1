"""Exercise 13, reference solution."""

import numpy as np


def sgd_steps(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    w = np.array(w, dtype=float)
    buf = None
    out = []
    for g in grads:
        d = np.asarray(g, dtype=float) + weight_decay * w  # L2 penalty: its gradient wd * w
        if momentum != 0:
            # the first step starts the buffer at d itself: no dampening, no zero history
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
        out.append(w)
    return np.array(out)


def adam_steps(w, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               decoupled=False):  # fmt: skip
    w = np.array(w, dtype=float)
    beta1, beta2 = betas
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    out = []
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, dtype=float)
        if decoupled:
            w = w * (1 - lr * weight_decay)  # AdamW: shrink the weights, apart from the gradient
        else:
            g = g + weight_decay * w  # Adam: L2 penalty, rescaled below like any gradient
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)  # undo the pull towards the zero start
        v_hat = v / (1 - beta2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return np.array(out)
