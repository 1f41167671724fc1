"""Exercise 5, reference solution: follow the shape through the network, count as you go."""


def conv_params(in_channels, out_channels, kernel, bias=True, groups=1):
    weights = out_channels * (in_channels // groups) * kernel * kernel
    return weights + (out_channels if bias else 0)


def linear_params(in_features, out_features, bias=True):
    return in_features * out_features + (out_features if bias else 0)


def batchnorm_params(num_features):
    return 2 * num_features, 2 * num_features  # (gamma, beta), (running mean, running var)


def _walk(input_shape, layers):
    """Yield (layer, shape before it, its parameter count, shape after it)."""
    shape = tuple(input_shape)
    for layer in layers:
        kind, *p = layer
        count = 0
        if kind == "conv":
            out, k = p[0], p[1]
            pad, stride = (list(p[2:]) + [0, 1][len(p) - 2 :])[:2]
            c, h, w = shape
            count = conv_params(c, out, k)
            new = (out, (h - k + 2 * pad) // stride + 1, (w - k + 2 * pad) // stride + 1)
        elif kind == "pool":
            k = p[0]
            s = p[1] if len(p) > 1 else k
            c, h, w = shape
            new = (c, (h - k) // s + 1, (w - k) // s + 1)
        elif kind == "bn":
            count = 2 * shape[0]  # gamma and beta per channel (or per feature)
            new = shape
        elif kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            new = (n,)
        elif kind == "linear":
            count = linear_params(shape[0], p[0])
            new = (p[0],)
        else:  # relu
            new = shape
        yield layer, shape, count, new
        shape = new


def network_params(input_shape, layers):
    return [count for _, _, count, _ in _walk(input_shape, layers)]


def flattened_size(input_shape, layers):
    for layer, _, _, after in _walk(input_shape, layers):
        if layer[0] == "flatten":
            return after[0]
    raise ValueError("the network has no flatten layer")
