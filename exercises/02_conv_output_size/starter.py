"""Exercise 2: output size of a convolution. Fill in the functions, then run
`minitorch-cv exercises check 2`."""


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    """Output width of a convolution over an input of width `size` (an int)."""
    raise NotImplementedError


def same_padding(kernel, dilation=1):
    """The padding P (same on both sides) that keeps the size at stride 1, or None if none does."""
    raise NotImplementedError


def kernel_for(size_in, size_out, padding=0):
    """The kernel size that maps `size_in` to `size_out` at stride 1, dilation 1; None if none."""
    raise NotImplementedError


def stride_fits(size, kernel, stride, padding=0):
    """True when the windows tile the padded input exactly (no row at the end is skipped)."""
    raise NotImplementedError
