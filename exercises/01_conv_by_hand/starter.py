"""Exercise 1: 2-D convolution by hand. Fill in the three functions, then run
`minitorch-cv exercises check 1`."""

import numpy as np  # noqa: F401  (ready for your solution)


def cross_correlate(image, kernel, padding=0):
    """Cross-correlation (what Conv2d computes) of a 2-D image with a 2-D kernel, stride 1.

    Args:
        image: (H, W) numbers (a list of rows or an array).
        kernel: (KH, KW) numbers.
        padding: zeros added on every side (default 0).

    Returns: the (H + 2P - KH + 1, W + 2P - KW + 1) output grid, as an array.
    """
    raise NotImplementedError


def convolve(image, kernel, padding=0):
    """True convolution (kernel rotated by 180 degrees) of a 2-D image, stride 1. Args as above."""
    raise NotImplementedError


def coincide(kernel):
    """True when convolution and cross-correlation with `kernel` agree on every image."""
    raise NotImplementedError
