"""Exercise 6, reference solution: r and j walked from the input to the output."""


def _kernel_stride_dilation(layer):
    kind, k, *rest = layer
    if kind == "conv":
        stride, dilation = (list(rest) + [1, 1][len(rest) :])[:2]
    else:  # pool: the stride defaults to the kernel
        stride, dilation = (rest[0] if rest else k), 1
    return k, stride, dilation


def _walk(layers):
    r, j = 1, 1
    for layer in layers:
        k, s, d = _kernel_stride_dilation(layer)
        r += d * (k - 1) * j  # the new window spans d*(k-1)+1 units that are j pixels apart
        j *= s
    return r, j


def receptive_field(layers):
    return _walk(layers)[0]


def output_stride(layers):
    return _walk(layers)[1]
