"""Exercise 9: backpropagation by hand. Fill in `backprop`, then run
`minitorch-cv exercises check 9`."""

import numpy as np  # noqa: F401  (ready for your solution)


def backprop(x, conv_w, conv_b, fc_w, fc_b, target):
    """Forward and backward pass of conv -> ReLU -> 2x2 max pool -> linear -> cross-entropy.

    Args:
        x: (H, W) image. conv_w: (F, K, K). conv_b: (F,). fc_w: (classes, F*OH/2*OW/2).
        fc_b: (classes,). target: the true class (int).

    Returns: a dict with conv, relu, pool, logits, probs, loss and d_logits, d_fc_w, d_fc_b,
    d_pool, d_relu, d_conv, d_conv_w, d_conv_b, d_x (see the README).
    """
    raise NotImplementedError
