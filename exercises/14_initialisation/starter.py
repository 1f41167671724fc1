"""Exercise 14: weight initialisation. Fill in the functions, then run
`minitorch-cv exercises check 14`."""

import math  # noqa: F401  (ready for your solution)


def fans(kind, in_channels, out_channels, kernel=1, groups=1):
    """(fan_in, fan_out) of the weight of a "linear", "conv" or "conv_transpose" layer."""
    raise NotImplementedError


def nonlinearity_gain(nonlinearity, a=None):
    """The gain of "relu", "leaky_relu" (negative slope a; 0.01 when a is None), "tanh",
    "linear" or "sigmoid"."""
    raise NotImplementedError


def init_scale(method, shape, gain=1.0, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """The bound b of U(-b, b) ("xavier_uniform", "kaiming_uniform") or the std of N(0, std^2)
    ("xavier_normal", "kaiming_normal") that nn.init's function draws a weight of `shape` from."""
    raise NotImplementedError


def default_bounds(kind, in_channels, out_channels, kernel=1, groups=1):
    """(weight bound, bias bound) of the default initialisation of the layer."""
    raise NotImplementedError
