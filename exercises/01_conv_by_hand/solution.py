"""Exercise 1, reference solution: the sums written out as loops, the way one computes by hand."""

import numpy as np


def cross_correlate(image, kernel, padding=0):
    x = np.asarray(image, dtype=float)
    k = np.asarray(kernel, dtype=float)
    p = padding
    xpad = np.zeros((x.shape[0] + 2 * p, x.shape[1] + 2 * p))
    xpad[p : p + x.shape[0], p : p + x.shape[1]] = x
    kh, kw = k.shape
    out = np.zeros((xpad.shape[0] - kh + 1, xpad.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = (xpad[i : i + kh, j : j + kw] * k).sum()  # lay K on the window, add up
    return out


def convolve(image, kernel, padding=0):
    flipped = np.asarray(kernel)[::-1, ::-1]  # rotate by 180 degrees, then slide as before
    return cross_correlate(image, flipped, padding)


def coincide(kernel):
    k = np.asarray(kernel)
    return bool(np.array_equal(k, k[::-1, ::-1]))
