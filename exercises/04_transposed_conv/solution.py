"""Exercise 4, reference solution."""

import numpy as np


def conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0):
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def scatter_transpose(image, kernel, stride=1, padding=0):
    x = np.asarray(image, dtype=float)
    k = np.asarray(kernel, dtype=float)
    (h, w), (kh, kw) = x.shape, k.shape
    full = np.zeros(((h - 1) * stride + kh, (w - 1) * stride + kw))
    for i in range(h):
        for j in range(w):
            full[i * stride : i * stride + kh, j * stride : j * stride + kw] += x[i, j] * k
    p = padding
    return full[p : full.shape[0] - p, p : full.shape[1] - p]


def input_sizes(output_size, kernel, stride, padding=0):
    smallest = (output_size - 1) * stride + kernel - 2 * padding
    # a padded width must hold at least one window
    return [w for w in range(smallest, smallest + stride) if w >= 1 and w + 2 * padding >= kernel]


def output_padding_for(size, kernel, stride, padding=0):
    return (size + 2 * padding - kernel) % stride
