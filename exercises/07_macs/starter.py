"""Exercise 7: multiply-accumulate counts. Fill in the functions, then run
`minitorch-cv exercises check 7`.

A network is (C, H, W) and a list of layers: ("conv", out_channels, kernel, padding=0, stride=1),
("pool", kernel, stride=kernel), ("relu",), ("bn",), ("flatten",), ("linear", out_features).
"""


def conv_macs(in_shape, out_channels, kernel, stride=1, padding=0):
    """MACs of a K x K convolution on one (C, H, W) input (products with padding included)."""
    raise NotImplementedError


def linear_macs(in_features, out_features):
    """MACs of Linear(in_features, out_features) on one input."""
    raise NotImplementedError


def network_macs(input_shape, layers):
    """One MAC count per layer (conv and linear; every other layer counts 0)."""
    raise NotImplementedError
