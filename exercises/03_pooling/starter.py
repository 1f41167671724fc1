"""Exercise 3: max pooling. Fill in the functions, then run `minitorch-cv exercises check 3`."""

import numpy as np  # noqa: F401  (ready for your solution)


def pool_output_size(size, kernel, stride=None, padding=0):
    """Output width of K x K pooling with the given stride (None = kernel) and padding."""
    raise NotImplementedError


def max_pool(image, kernel, stride=None):
    """Max pooling of a 2-D image (no padding): the (OH, OW) grid of window maxima."""
    raise NotImplementedError


def max_pool_winners(image, kernel, stride=None):
    """For each output cell, the (row, col) of the winning image pixel: shape (OH, OW, 2)."""
    raise NotImplementedError


def unchanged_by_shift(size, position, shift, kernel):
    """Does moving a single bright pixel from `position` by `shift` leave the K x K, stride-K
    max pooling of a size x size image unchanged?"""
    raise NotImplementedError
