"""Exercise 10, reference solution."""

import numpy as np


def batch_norm_step(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
    x = np.asarray(x, dtype=float)
    axes = (0,) + tuple(range(2, x.ndim))  # every axis but the channel axis
    n = x.size // x.shape[1]  # values per channel
    mean = x.mean(axis=axes)
    var = ((x - mean.reshape(_bcast(x))) ** 2).mean(axis=axes)  # biased: divide by n
    xhat = (x - mean.reshape(_bcast(x))) / np.sqrt(var.reshape(_bcast(x)) + eps)
    y = np.asarray(gamma).reshape(_bcast(x)) * xhat + np.asarray(beta).reshape(_bcast(x))
    unbiased = var * n / (n - 1)
    new_mean = (1 - momentum) * np.asarray(running_mean) + momentum * mean
    new_var = (1 - momentum) * np.asarray(running_var) + momentum * unbiased
    return {"mean": mean, "var": var, "y": y, "running_mean": new_mean, "running_var": new_var}


def _bcast(x):
    """Shape (1, C, 1, ...) that lines a per-channel vector up with x."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)
