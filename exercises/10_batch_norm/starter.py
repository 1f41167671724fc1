"""Exercise 10: batch normalisation by hand. Fill in `batch_norm_step`, then run
`minitorch-cv exercises check 10`."""

import numpy as np  # noqa: F401  (ready for your solution)


def batch_norm_step(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    """One training-mode batch norm step on x of shape (N, C) or (N, C, H, W).

    Returns a dict: mean (C,), var (C,) (the variance used to normalise), y (x's shape),
    running_mean (C,) and running_var (C,) after the update.
    """
    raise NotImplementedError
