"""Exercise 9, reference solution: every step of the chain rule written out."""

import numpy as np


def backprop(x, conv_w, conv_b, fc_w, fc_b, target):
    x, w, b = (np.asarray(a, dtype=float) for a in (x, conv_w, conv_b))
    fw, fb = np.asarray(fc_w, dtype=float), np.asarray(fc_b, dtype=float)
    n_filters, k, _ = w.shape
    oh, ow = x.shape[0] - k + 1, x.shape[1] - k + 1

    # forward
    conv = np.zeros((n_filters, oh, ow))
    for f in range(n_filters):
        for i in range(oh):
            for j in range(ow):
                conv[f, i, j] = (x[i : i + k, j : j + k] * w[f]).sum() + b[f]
    relu = np.maximum(conv, 0)
    blocks = relu.reshape(n_filters, oh // 2, 2, ow // 2, 2)
    pool = blocks.max(axis=(2, 4))
    p = pool.reshape(-1)
    logits = fw @ p + fb
    e = np.exp(logits - logits.max())  # shift by the max: same softmax, no overflow
    probs = e / e.sum()
    loss = -np.log(probs[target])

    # backward
    d_logits = probs.copy()
    d_logits[target] -= 1  # softmax cross-entropy: probs - onehot
    d_fc_w = np.outer(d_logits, p)
    d_fc_b = d_logits
    d_pool = (fw.T @ d_logits).reshape(pool.shape)
    d_relu = np.zeros_like(relu)
    for f in range(n_filters):
        for i in range(oh // 2):
            for j in range(ow // 2):
                window = relu[f, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                u, v = np.unravel_index(np.argmax(window), (2, 2))  # only the winner gets it
                d_relu[f, 2 * i + u, 2 * j + v] = d_pool[f, i, j]
    d_conv = d_relu * (conv > 0)
    d_conv_w = np.zeros_like(w)
    d_x = np.zeros_like(x)
    for f in range(n_filters):
        for i in range(oh):
            for j in range(ow):
                d_conv_w[f] += d_conv[f, i, j] * x[i : i + k, j : j + k]
                d_x[i : i + k, j : j + k] += d_conv[f, i, j] * w[f]
    d_conv_b = d_conv.sum(axis=(1, 2))
    return {
        "conv": conv,
        "relu": relu,
        "pool": pool,
        "logits": logits,
        "probs": probs,
        "loss": float(loss),
        "d_logits": d_logits,
        "d_fc_w": d_fc_w,
        "d_fc_b": d_fc_b,
        "d_pool": d_pool,
        "d_relu": d_relu,
        "d_conv": d_conv,
        "d_conv_w": d_conv_w,
        "d_conv_b": d_conv_b,
        "d_x": d_x,
    }
