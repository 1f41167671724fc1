"""Exercise 13: optimiser steps by hand. Fill in the functions, then run
`minitorch-cv exercises check 13`."""

import numpy as np  # noqa: F401  (ready for your solution)


def sgd_steps(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """The weights after each SGD step (PyTorch's update rule, see the README).

    Args:
        w: the starting weights, a vector. grads: one gradient vector per step.

    Returns: an array of shape (len(grads), len(w)), row t = the weights after step t + 1.
    """
    raise NotImplementedError


def adam_steps(w, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               decoupled=False):  # fmt: skip
    """The weights after each Adam step; `decoupled=True` is AdamW's weight decay.

    Returns: an array of shape (len(grads), len(w)), row t = the weights after step t + 1.
    """
    raise NotImplementedError
