"""Exercise 2, reference solution: the output-size formula and the formula solved backwards."""


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1):
    span = dilation * (kernel - 1) + 1  # pixels covered by the dilated kernel
    return (size - span + 2 * padding) // stride + 1


def same_padding(kernel, dilation=1):
    total = dilation * (kernel - 1)  # stride 1: O = W + 2P - total, so O = W needs 2P = total
    return total // 2 if total % 2 == 0 else None


def kernel_for(size_in, size_out, padding=0):
    k = size_in + 2 * padding - size_out + 1  # from O = W + 2P - F + 1
    return k if k >= 1 else None


def stride_fits(size, kernel, stride, padding=0):
    return (size - kernel + 2 * padding) % stride == 0
