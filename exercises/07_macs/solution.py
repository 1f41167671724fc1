"""Exercise 7, reference solution."""


def conv_macs(in_shape, out_channels, kernel, stride=1, padding=0):
    c, h, w = in_shape
    oh = (h - kernel + 2 * padding) // stride + 1
    ow = (w - kernel + 2 * padding) // stride + 1
    return out_channels * oh * ow * c * kernel * kernel  # one C*K*K dot product per output value


def linear_macs(in_features, out_features):
    return in_features * out_features


def network_macs(input_shape, layers):
    shape, counts = tuple(input_shape), []
    for kind, *p in layers:
        macs = 0
        if kind == "conv":
            out, k = p[0], p[1]
            pad, stride = (list(p[2:]) + [0, 1][len(p) - 2 :])[:2]
            macs = conv_macs(shape, out, k, stride, pad)
            _, h, w = shape
            shape = (out, (h - k + 2 * pad) // stride + 1, (w - k + 2 * pad) // stride + 1)
        elif kind == "pool":
            k = p[0]
            s = p[1] if len(p) > 1 else k
            c, h, w = shape
            shape = (c, (h - k) // s + 1, (w - k) // s + 1)
        elif kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            shape = (n,)
        elif kind == "linear":
            macs = linear_macs(shape[0], p[0])
            shape = (p[0],)
        counts.append(macs)
    return counts
