"""Exercise 14, reference solution."""

import math


def fans(kind, in_channels, out_channels, kernel=1, groups=1):
    area = kernel * kernel
    if kind == "linear":
        return in_channels, out_channels  # weight (out, in)
    if kind == "conv":
        # weight (out, in / groups, k, k): each output sums over its group's inputs only
        return in_channels // groups * area, out_channels * area
    # conv_transpose: weight (in, out / groups, k, k), read as if it were a conv weight
    return out_channels // groups * area, in_channels * area


def nonlinearity_gain(nonlinearity, a=None):
    """The factor that keeps the variance of the activations through the nonlinearity."""
    if nonlinearity == "relu":
        return math.sqrt(2)  # relu zeroes half of a symmetric input: E[relu(z)^2] = Var(z) / 2
    if nonlinearity == "leaky_relu":
        slope = 0.01 if a is None else a  # calculate_gain's default slope
        return math.sqrt(2 / (1 + slope * slope))
    if nonlinearity == "tanh":
        return 5 / 3
    return 1.0  # linear, conv, sigmoid


def init_scale(method, shape, gain=1.0, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    receptive = math.prod(shape[2:])
    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
    if method.startswith("xavier"):
        std = gain * math.sqrt(2 / (fan_in + fan_out))
    else:  # kaiming: the gain of the nonlinearity, one fan
        fan = fan_in if mode == "fan_in" else fan_out
        std = nonlinearity_gain(nonlinearity, a) / math.sqrt(fan)
    # U(-b, b) has variance b^2 / 3, so the bound with that standard deviation is sqrt(3) * std
    return math.sqrt(3) * std if method.endswith("uniform") else std


def default_bounds(kind, in_channels, out_channels, kernel=1, groups=1):
    fan_in = fans(kind, in_channels, out_channels, kernel, groups)[0]
    # kaiming_uniform_(a=sqrt(5)): gain sqrt(2 / (1 + 5)) = sqrt(1/3), bound sqrt(3) * gain /
    # sqrt(fan_in) = 1 / sqrt(fan_in); the bias uses the same bound
    bound = 1 / math.sqrt(fan_in)
    return bound, bound
