"""Dropout: zero elements (or whole channels) at random and scale the rest by 1 / (1 - p).

The mask is drawn on the CPU from the package generator (`minitorch_cv.manual_seed`) and then
copied to the input's device, so one seed gives the same mask on NumPy and on CuPy.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device, xp_for_device, xp_of
from ..tensor import Function, Tensor, default_rng
from .activation import _SELU_ALPHA, _SELU_SCALE


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
    return _channel_dropout("dropout2d", input, p, training, "H, W")


def _channel_dropout(op, input, p, training, dims: str):
    """Whole channels zeroed: one draw per (n, c) of (N, C, *dims) or per c of (C, *dims);
    `dims` names the spatial dims ("L", "H, W", "D, H, W")."""
    _check(op, input, p)
    spatial = dims.count(",") + 1
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(
            f"{op}: expected a {spatial + 2}-D (N, C, {dims}) or {spatial + 1}-D (C, {dims}) "
            f"input, got shape {tuple(input.shape)}"
        )
    if not training or p == 0.0:
        return input
    mask_shape = tuple(input.shape[:-spatial]) + (1,) * spatial
    return Dropout.apply(input, mask=_scaled_mask(input, mask_shape, p))


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, L) or (C, L) with probability p, scale the rest by
    1 / (1 - p)."""
    return _channel_dropout("dropout1d", input, p, training, "L")


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p."""
    return _channel_dropout("dropout3d", input, p, training, "D, H, W")


# scale * alpha of SELU: -_ALPHA_PRIME is SELU's negative saturation, the value a dropped unit
# takes before the affine correction
_ALPHA_PRIME = _SELU_SCALE * _SELU_ALPHA


def _alpha_dropout(op, input, p, training, mask_shape):
    """Alpha dropout (Klambauer et al., 2017; PyTorch's formula): dropped units are set to
    SELU's negative saturation instead of 0, then y = a (x keep + alpha' (keep - 1) + alpha' p)
    with a = ((1 - p)(1 + p alpha'^2))^(-1/2) keeps zero mean and unit variance. dy/dx = a keep."""
    _check(op, input, p)
    if not training or p == 0.0:
        return input
    dev = device_of(input._data)
    xp = xp_for_device(dev)
    if p == 1.0:  # PyTorch returns zeros
        return Dropout.apply(input, mask=xp.zeros(mask_shape, dtype=input.dtype))
    keep = to_device(default_rng().random(mask_shape, dtype=np.float32) >= p, dev)
    keep = keep.astype(input.dtype)
    a = ((1 - p) * (1 + p * _ALPHA_PRIME**2)) ** -0.5
    shift = (keep - 1) * (_ALPHA_PRIME * a) + _ALPHA_PRIME * a * p
    return Dropout.apply(input, mask=keep * a) + Tensor(shift.astype(input.dtype, copy=False))


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Dropout for SELU networks: keeps the mean and variance of the activations (each element
    dropped with probability p). PyTorch's default here is training=False."""
    return _alpha_dropout("alpha_dropout", input, p, training, tuple(input.shape))


def feature_alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False):
    """Alpha dropout of whole channels: one draw per (n, c) of an (N, C, *) input."""
    if input.ndim < 2:
        raise ValueError(
            f"feature_alpha_dropout: expected input (N, C, *) with at least 2 dims, got shape "
            f"{tuple(input.shape)}"
        )
    shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return _alpha_dropout("feature_alpha_dropout", input, p, training, shape)
