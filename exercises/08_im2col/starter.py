"""Exercise 8: im2col and convolution as one matrix product. Fill in the functions, then run
`minitorch-cv exercises check 8`."""

import numpy as np  # noqa: F401  (ready for your solution)


def im2col(image, kernel, stride=1, padding=0):
    """The (C*K*K, OH*OW) matrix of every K x K window of a (C, H, W) image, one per column.

    Row c*K*K + i*K + j holds x[c, oh*stride + i, ow*stride + j] of the zero-padded image;
    column oh*OW + ow is the window at output position (oh, ow).
    """
    raise NotImplementedError


def conv_as_matmul(image, weight, stride=1, padding=0):
    """Convolution (cross-correlation) of a (C, H, W) image with (F, C, K, K) weights as one
    matrix product: returns the (F, OH, OW) output."""
    raise NotImplementedError
