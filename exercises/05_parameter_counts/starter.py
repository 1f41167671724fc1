"""Exercise 5: counting parameters. Fill in the functions, then run
`minitorch-cv exercises check 5`.

A network is (C, H, W) and a list of layers: ("conv", out_channels, kernel, padding=0, stride=1),
("pool", kernel, stride=kernel), ("relu",), ("bn",), ("flatten",), ("linear", out_features).
"""


def conv_params(in_channels, out_channels, kernel, bias=True, groups=1):
    """Trainable parameters of Conv2d(in_channels, out_channels, kernel, bias, groups=groups)."""
    raise NotImplementedError


def linear_params(in_features, out_features, bias=True):
    """Trainable parameters of Linear(in_features, out_features, bias=bias)."""
    raise NotImplementedError


def batchnorm_params(num_features):
    """(trainable parameters, running statistics) of a batch norm over `num_features` channels."""
    raise NotImplementedError


def network_params(input_shape, layers):
    """One parameter count per layer of the network, in order."""
    raise NotImplementedError


def flattened_size(input_shape, layers):
    """The number of features leaving the network's ("flatten",) layer."""
    raise NotImplementedError
