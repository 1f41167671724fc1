"""Dropout: zero elements (or whole channels) at random and scale the rest by 1 / (1 - p).

The mask is drawn on the CPU from the package generator (`minitorch_cv.manual_seed`) and then
copied to the input's device, so one seed gives the same mask on NumPy and on CuPy.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device, xp_for_device, xp_of
from ..tensor import Function, Tensor, default_rng


class Dropout(Function):
    """y = x * m with m = keep / (1 - p), keep ~ Bernoulli(1 - p) (the mask may broadcast).

    dy/dx = m: the gradient goes through the kept elements with the same scale."""

    @staticmethod
    def forward(ctx, x, *, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask


def _scaled_mask(x, shape: tuple, p: float):
    """keep / (1 - p) of the given shape, in x's dtype and on x's device."""
    dev = device_of(x._data if isinstance(x, Tensor) else x)
    if p == 1.0:  # everything dropped; no division by zero
        return xp_for_device(dev).zeros(shape, dtype=x.dtype)
    keep = default_rng().random(shape, dtype=np.float32) >= p  # P(keep) = 1 - p
    keep = to_device(keep, dev)  # booleans cross to the GPU: a quarter of a float32 mask
    return keep.astype(x.dtype) * xp_of(keep).asarray(1.0 / (1.0 - p), dtype=x.dtype)


def _check(op: str, input, p) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout probability has to be between 0 and 1, but got {p}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {input.dtype}")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the survivors by 1 / (1 - p).

    Args:
        p (float): drop probability. Default: 0.5.
        training (bool): when False (eval) the input is returned unchanged. Default: True.
        inplace (bool): accepted for PyTorch compatibility; the result is always a new tensor.

    Shape: any -> same.
    """
    _check("dropout", input, p)
    if not training or p == 0.0:
        return input
    return Dropout.apply(input, mask=_scaled_mask(input, tuple(input.shape), p))


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels (feature maps) with probability p, scale the rest by 1 / (1 - p).

    Shape: (N, C, H, W) -> same, one draw per (n, c); or (C, H, W) -> same, one draw per c.
    (PyTorch currently treats a 3-D input as (N, C, L); here it is an unbatched image, the
    behaviour PyTorch documents for Dropout2d.)
    """
    _check("dropout2d", input, p)
    if input.ndim not in (3, 4):
        raise ValueError(
            f"dropout2d: expected a 4-D (N, C, H, W) or 3-D (C, H, W) input, "
            f"got shape {tuple(input.shape)}"
        )
    if not training or p == 0.0:
        return input
    mask_shape = tuple(input.shape[:-2]) + (1, 1)
    return Dropout.apply(input, mask=_scaled_mask(input, mask_shape, p))
