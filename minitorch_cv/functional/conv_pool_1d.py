"""1-D convolution and pooling over (N, C, L) input, as PyTorch's `conv1d`, `max_pool1d`, ...

Each is its 2-D op on a plane of height 1: the input viewed as (N, C, 1, L) and a kernel of
size K as 1 x K. A 1-D convolution *is* that 2-D convolution, so the 2-D kernels (their speed,
their gradients, their GPU code) serve both, and nothing is written twice. The arguments are
checked here first, in 1-D terms, so a mistake is reported with the shapes the caller passed.
"""

from __future__ import annotations

from ..kernels.shapes import conv_out, conv_transpose_out, pair, pool_out, same_padding
from .conv import _check_weight, _groups, _positive, conv2d, conv_transpose2d
from .pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    max_pool2d,
    max_unpool2d,
)
from .precision import INT_KERNEL_DTYPES, require_floating


def _one(v, name: str) -> int:
    """An int or a 1-tuple (PyTorch's `(3,)`) as an int."""
    return pair(v, name, 1)[0]


def _lift(op, input):
    """(input as (N, C, 1, L), whether the caller's input was unbatched (C, L))."""
    if input.ndim not in (2, 3):
        raise ValueError(
            f"{op}: expected 2-D (C, L) or 3-D (N, C, L) input, got shape {tuple(input.shape)}"
        )
    x = input if input.ndim == 3 else input.unsqueeze(0)
    return x.unsqueeze(2), input.ndim == 2


def _drop(y, unbatched):
    """(N, C, 1, L') back to (N, C, L'), or (C, L') for unbatched input."""
    y = y.squeeze(2)
    return y.squeeze(0) if unbatched else y


# --------------------------------------------------------------------------- convolution


def _conv_checks(op, x, weight, bias, groups, transposed, dilation=1):
    if weight.ndim != 3:
        layout = "(C_in, C_out/groups, K)" if transposed else "(C_out, C_in/groups, K)"
        raise ValueError(f"{op}: expected a 3-D weight {layout}, got shape {tuple(weight.shape)}")
    _check_weight(op, x.squeeze(2), weight, bias, _groups(op, groups), transposed, (dilation,))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation) over (N, C_in, L) input, as torch's `F.conv1d`.

    Args:
        weight: (C_out, C_in/groups, K). bias: (C_out,) or None.
        stride, dilation (int): Default 1. groups (int): Default 1.
        padding (int, 'valid' or 'same'): zeros on both ends; 'same' keeps L (stride 1; an odd
            total puts the extra zero at the end). Default 0.

    Shape: (N, C_out, L_out), L_out = floor((L + 2*padding - dilation*(K-1) - 1) / stride) + 1.
    """
    op = "conv1d"
    x, unbatched = _lift(op, input)
    s, d = _one(stride, "stride"), _one(dilation, "dilation")
    _positive(op, stride=(s,), dilation=(d,))
    _conv_checks(op, x, weight, bias, groups, transposed=False, dilation=d)
    k, length = weight.shape[2], x.shape[3]
    if padding == "valid":
        pads = (0, 0)
    elif padding == "same":
        if s != 1:
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        pads = same_padding(k, d)
    elif isinstance(padding, str):
        raise ValueError(f"{op}: padding must be an int, 'same' or 'valid', got {padding!r}")
    else:
        p = _one(padding, "padding")
        if p < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {p}")
        pads = (p, p)
    if conv_out(length, k, s, pads, d) < 1:
        raise ValueError(
            f"{op}: kernel {k} (dilation {d}) is larger than the padded input: input "
            f"{tuple(input.shape)}, padding {pads}"
        )
    y = conv2d(x, weight.unsqueeze(2), bias, (1, s), ((0, 0), pads), (1, d), groups)
    return _drop(y, unbatched)


def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """1-D transposed convolution, as torch's `F.conv_transpose1d` (the gradient of conv1d with
    respect to its input; upsamples by `stride`).

    Args:
        weight: (C_in, C_out/groups, K). bias: (C_out,) or None.
        stride, padding, dilation (int): those of the conv1d being transposed.
        output_padding (int): extra positions at the end, smaller than stride or dilation.

    Shape: (N, C_out, L_out), L_out = (L-1)*stride - 2*padding + dilation*(K-1) + output_padding
    + 1.
    """
    op = "conv_transpose1d"
    x, unbatched = _lift(op, input)
    s, d = _one(stride, "stride"), _one(dilation, "dilation")
    p, o = _one(padding, "padding"), _one(output_padding, "output_padding")
    _positive(op, stride=(s,), dilation=(d,))
    if p < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {p}")
    _conv_checks(op, x, weight, bias, groups, transposed=True)
    if not 0 <= o < max(s, d):
        raise ValueError(
            f"{op}: output_padding {o} must be smaller than stride {s} or dilation {d}"
        )
    k = weight.shape[2]
    if conv_transpose_out(x.shape[3], k, s, p, o, d) < 1:
        raise ValueError(
            f"{op}: output length is not positive: input {tuple(input.shape)}, kernel {k}, "
            f"stride {s}, padding {p}"
        )
    y = conv_transpose2d(x, weight.unsqueeze(2), bias, (1, s), (0, p), (0, o), groups, (1, d))
    return _drop(y, unbatched)


# --------------------------------------------------------------------------- pooling


def _window(op, length, kernel_size, stride, padding, dilation=1, ceil_mode=False):
    """(k, s, p, d) of a 1-D pooling window, checked as the 2-D op would (in 1-D terms)."""
    k = _one(kernel_size, "kernel_size")
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) else None
    s = _one(stride, "stride") if s is None else s
    p, d = _one(padding, "padding"), _one(dilation, "dilation")
    for name, v in (("kernel_size", k), ("stride", s), ("dilation", d)):
        if v < 1:
            raise ValueError(f"{op}: {name} must be >= 1, got {v}")
    if not 0 <= p <= k // 2:
        raise ValueError(f"{op}: padding {p} must be >= 0 and at most half the kernel size {k}")
    if pool_out(length, k, s, p, d, ceil_mode) < 1:
        raise ValueError(
            f"{op}: kernel {k} (stride {s}, padding {p}, dilation {d}) gives an empty output "
            f"for input of length {length}"
        )
    return k, s, p, d


def max_pool1d(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """1-D max pooling over (N, C, L), as torch's `F.max_pool1d`; indices (with
    `return_indices`) are positions along L, the input of max_unpool1d. Integer input only with
    return_indices=True, as PyTorch (whose kernel without indices is floating point only)."""
    op = "max_pool1d"
    x, unbatched = _lift(op, input)
    if return_indices:
        require_floating(op, x, ints=INT_KERNEL_DTYPES)
    elif x.dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating point input (integers only with return_indices=True, "
            f"as PyTorch), got dtype {x.dtype}"
        )
    k, s, p, d = _window(op, x.shape[3], kernel_size, stride, padding, dilation, ceil_mode)
    out = max_pool2d(x, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices)
    if return_indices:
        return _drop(out[0], unbatched), _drop(out[1], unbatched)
    return _drop(out, unbatched)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L), as torch's `F.avg_pool1d`; int64 input as avg_pool2d's
    (rounding toward zero)."""
    op = "avg_pool1d"
    x, unbatched = _lift(op, input)
    require_floating(op, x, ints=("int64",))
    k, s, p, _ = _window(op, x.shape[3], kernel_size, stride, padding, ceil_mode=ceil_mode)
    return _drop(avg_pool2d(x, (1, k), (1, s), (0, p), ceil_mode, count_include_pad), unbatched)


def adaptive_avg_pool1d(input, output_size):
    """Average over `output_size` bins of L (PyTorch's bin edges), as `F.adaptive_avg_pool1d`."""
    x, unbatched = _lift("adaptive_avg_pool1d", input)
    require_floating("adaptive_avg_pool1d", x)
    o = _one(output_size, "output_size")
    return _drop(adaptive_avg_pool2d(x, (1, o)), unbatched)


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Max over `output_size` bins of L, as `F.adaptive_max_pool1d`."""
    x, unbatched = _lift("adaptive_max_pool1d", input)
    require_floating("adaptive_max_pool1d", x)  # (PyTorch has no integer kernel either)
    out = adaptive_max_pool2d(x, (1, _one(output_size, "output_size")), return_indices)
    if return_indices:
        return _drop(out[0], unbatched), _drop(out[1], unbatched)
    return _drop(out, unbatched)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max_pool1d, as torch's `F.max_unpool1d`: each value back at its
    index along L, zeros elsewhere. output_size: (L_out,) or the full output shape."""
    op = "max_unpool1d"
    x, unbatched = _lift(op, input)
    require_floating(op, x)
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(
            f"{op}: indices shape {tuple(indices.shape)} must equal input shape "
            f"{tuple(input.shape)}"
        )
    idx = indices.unsqueeze(0) if unbatched else indices
    k = _one(kernel_size, "kernel_size")
    s = k if stride is None else _one(stride, "stride")
    size = None if output_size is None else (1, tuple(output_size)[-1])
    y = max_unpool2d(x, idx.unsqueeze(2), (1, k), (1, s), (0, _one(padding, "padding")), size)
    return _drop(y, unbatched)
