"""Exercise 6: receptive field. Fill in the functions, then run `minitorch-cv exercises check 6`.

Layers: ("conv", kernel, stride=1, dilation=1) and ("pool", kernel, stride=kernel).
"""


def receptive_field(layers):
    """Width of the input region that one unit after the last layer depends on."""
    raise NotImplementedError


def output_stride(layers):
    """Distance in input pixels between two neighbouring units after the last layer."""
    raise NotImplementedError
