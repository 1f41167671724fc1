"""Exercise 4: transposed convolution. Fill in the functions, then run
`minitorch-cv exercises check 4`."""

import numpy as np  # noqa: F401  (ready for your solution)


def conv_transpose_output_size(size, kernel, stride=1, padding=0, output_padding=0):
    """Output width of a transposed convolution over an input of width `size`."""
    raise NotImplementedError


def scatter_transpose(image, kernel, stride=1, padding=0):
    """Transposed convolution of a 2-D image with a 2-D kernel: add image[i, j] * kernel at
    corner (i*stride, j*stride), then crop `padding` rows/columns from every side."""
    raise NotImplementedError


def input_sizes(output_size, kernel, stride, padding=0):
    """Sorted list of all input widths that a convolution maps to `output_size`."""
    raise NotImplementedError


def output_padding_for(size, kernel, stride, padding=0):
    """The output_padding that maps the convolution's output back to width `size`."""
    raise NotImplementedError
