"""Output-size formulas of convolution and pooling, each written once, as PyTorch computes them.

Every layer, functional op, kernel and test asks these functions for sizes, so a formula can
only be wrong in one place. All arguments are plain Python ints, one spatial dimension at a time.

    conv_out            OH = floor((H + pad_lo + pad_hi - dil*(K-1) - 1) / stride) + 1
    conv_transpose_out  OH = (H-1)*stride - 2*pad + dil*(K-1) + output_padding + 1
    pool_out            conv_out, or with ceil_mode the ceiling, minus the last window when it
                        would start inside the right padding
    live_taps           the kernel taps of a conv that read an input element for some output
"""

from __future__ import annotations

import numpy as np


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def pair(v, name: str = "argument", n: int = 2) -> tuple[int, ...]:
    """Normalise an int or a length-n sequence of ints to an n-tuple of ints.

    Args:
        v: an int (repeated n times) or a sequence of n ints (a 1-sequence is repeated too).
        name: the argument's name, used in the error message.
        n: the length wanted (default 2, one per spatial dimension).
    """
    if _is_int(v):
        return (int(v),) * n
    if isinstance(v, (tuple, list)) and len(v) in (1, n) and all(_is_int(e) for e in v):
        return tuple(int(e) for e in v) * (n if len(v) == 1 else 1)
    raise TypeError(f"{name} must be an int or a tuple of {n} ints, got {v!r}")


def _lo_hi(pad) -> tuple[int, int]:
    if isinstance(pad, int):
        return pad, pad
    lo, hi = pad
    return int(lo), int(hi)


def conv_out(size: int, k: int, stride: int = 1, pad=0, dil: int = 1) -> int:
    """Output length of a convolution (cross-correlation) along one dimension.

    Args:
        size: input length H.
        k: kernel length K.
        stride: step between windows (default 1).
        pad: zeros added on each side (int), or a (lo, hi) pair for asymmetric padding (default 0).
        dil: dilation, the spacing between kernel taps (default 1).

    Shape:
        OH = floor((H + lo + hi - dil*(K-1) - 1) / stride) + 1. May be <= 0 when the dilated
        kernel does not fit: callers decide how to report that.
    """
    lo, hi = _lo_hi(pad)
    return (size + lo + hi - dil * (k - 1) - 1) // stride + 1


def conv_transpose_out(
    size: int, k: int, stride: int = 1, pad: int = 0, output_padding: int = 0, dil: int = 1
) -> int:
    """Output length of a transposed convolution along one dimension.

    Args:
        size: input length H.
        k: kernel length K.
        stride, pad, dil: those of the convolution this one transposes (defaults 1, 0, 1).
        output_padding: extra length added on the bottom/right side, which picks one of the
            `stride` input sizes that a strided convolution maps to the same output size
            (must be smaller than stride or dilation, as in PyTorch; default 0).

    Shape:
        OH = (H - 1)*stride - 2*pad + dil*(K-1) + output_padding + 1
    """
    return (size - 1) * stride - 2 * pad + dil * (k - 1) + output_padding + 1


def pool_out(size: int, k: int, stride: int, pad=0, dil: int = 1, ceil_mode: bool = False) -> int:
    """Output length of max/avg pooling along one dimension (PyTorch's pooling_output_shape).

    Args:
        size: input length H.
        k: window length K.
        stride: step between windows.
        pad: implicit padding on each side, or a (lo, hi) pair (default 0).
        dil: dilation of the window (default 1).
        ceil_mode: round the window count up instead of down (default False), so a last partial
            window covering the end of the input is kept.

    Shape:
        OH = floor_or_ceil((H + lo + hi - dil*(K-1) - 1) / stride) + 1, and in ceil_mode, when
        the last window would start at or beyond H + lo (entirely in the right padding), it is
        dropped: OH -= 1.
    """
    lo, hi = _lo_hi(pad)
    span = size + lo + hi - dil * (k - 1) - 1
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + lo:
        out -= 1
    return out


def live_taps(size: int, k: int, stride: int, lo: int, dil: int, out: int) -> tuple[int, int]:
    """The range [k0, k1) of kernel taps that holds every live tap of a convolution along one
    dimension: tap i is live when it reads an input element for some output position, that is
    0 <= o*stride - lo + i*dil < size for some 0 <= o < out; the others read only padding.

    Args:
        size: input length H. k: kernel length K. stride, dil: as for conv_out.
        lo: the padding before the input (the padding after it only decides `out`).
        out: the number of output positions (conv_out's OH, or fewer).

    Shape:
        0 <= k0 <= k1 <= K; k0 == k1 when no tap is live. With stride above 1 and an input
        shorter than the stride a tap inside the range may be dead too (the range is the hull).
    """

    def live(i):
        first = i * dil - lo  # the input position tap i reads for output 0
        o = max(0, -(first // stride))  # the first output whose position is >= 0
        return o < out and first + o * stride < size

    # the ends first: every conv without dead taps (nearly all) costs two tests per axis
    k0, k1 = 0, k
    while k0 < k and not live(k0):
        k0 += 1
    if k0 == k:
        return 0, 0
    while not live(k1 - 1):
        k1 -= 1
    return k0, k1


def same_padding(k: int, dil: int = 1) -> tuple[int, int]:
    """(lo, hi) padding that keeps the size for a stride-1 convolution, as PyTorch's 'same'.

    The total padding is dil*(K-1); when it is odd the extra element goes on the right/bottom.
    """
    total = dil * (k - 1)
    return total // 2, total - total // 2


def resolve_padding(padding, kernel_size, stride, dilation, op: str = "conv2d"):
    """Turn a conv padding argument into ((top, bottom), (left, right)).

    Args:
        padding: an int, a pair (ph, pw), nested pairs ((top, bottom), (left, right)), or the
            strings 'valid' (no padding) and 'same' (output size == input size; needs stride 1).
        kernel_size, stride, dilation: (h, w) pairs.
        op: the name used in error messages.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding == "same":
            if tuple(stride) != (1, 1):
                raise ValueError(
                    f"{op}: padding='same' is not supported for strided convolutions "
                    f"(stride={tuple(stride)})"
                )
            return (
                same_padding(kernel_size[0], dilation[0]),
                same_padding(kernel_size[1], dilation[1]),
            )
        raise ValueError(
            f"{op}: padding must be an int, a tuple, 'same' or 'valid', got {padding!r}"
        )
    if (
        isinstance(padding, (tuple, list))
        and len(padding) == 2
        and all(isinstance(p, (tuple, list)) for p in padding)
    ):
        pads = (pair(padding[0], "padding"), pair(padding[1], "padding"))
    else:
        ph, pw = pair(padding, "padding")
        pads = ((ph, ph), (pw, pw))
    if min(pads[0] + pads[1]) < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
    return pads
