"""Stochastic depth (Huang et al., 2016), torchvision.ops' stochastic_depth and StochasticDepth:
in training, zero a residual branch's output for a random subset of the samples ('row') or of
the batches ('batch') and scale what survives by 1 / (1 - p), so its expectation is unchanged.

The mask is drawn on the CPU from the package generator (`minitorch_cv.manual_seed`), as
Dropout's, and the product is Dropout's Function: y = x * mask, dy/dx = mask.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device
from ..functional.dropout import Dropout
from ..layers.module import Module
from ..tensor import default_rng

_MODES = ("batch", "row")


def _check_p(op: str, p) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: drop probability has to be between 0 and 1, but got {p}")


def _check_mode(op: str, mode) -> None:
    if mode not in _MODES:
        raise ValueError(f"{op}: mode has to be either 'batch' or 'row', but got {mode}")


def stochastic_depth(input, p: float, mode: str, training: bool = True):
    """Zero the whole input ('batch') or each sample of it ('row') with probability p; scale the
    survivors by 1 / (1 - p) (a survival rate of 1 - p).

    Args:
        input: (N, ...), the output of a residual branch; 'row' draws once per sample (dim 0).
        p (float): probability of zeroing.
        mode (str): 'row' (one draw per sample) or 'batch' (one draw for the whole input).
        training (bool): when False, or when p = 0, the input is returned unchanged. Default: True.

    Shape: any -> same ('row' needs at least one dim). With p = 1 the output is all zeros.
    """
    op = "stochastic_depth"
    _check_p(op, p)
    _check_mode(op, mode)
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {input.dtype}")
    if not training or p == 0.0:
        return input
    if mode == "row" and input.ndim == 0:
        raise ValueError(f"{op}: mode 'row' needs an input with a batch dim, got shape ()")
    size = (input.shape[0],) + (1,) * (input.ndim - 1) if mode == "row" else (1,) * input.ndim
    survival = 1.0 - p
    keep = default_rng().random(size) < survival  # P(keep) = 1 - p
    noise = keep.astype(input.dtype)
    if survival > 0.0:
        noise /= np.asarray(survival, dtype=input.dtype)
    return Dropout.apply(input, mask=to_device(noise, device_of(input._data)))


class StochasticDepth(Module):
    """Module form of `stochastic_depth`: active in training mode, the identity after eval().

    Args:
        p (float): probability of zeroing a row (or the batch).
        mode (str): 'row' or 'batch'.
    """

    def __init__(self, p: float, mode: str):
        super().__init__()
        _check_p("StochasticDepth", p)
        _check_mode("StochasticDepth", mode)
        self.p = p
        self.mode = mode

    def forward(self, input):
        return stochastic_depth(input, self.p, self.mode, self.training)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p}, mode={self.mode})"
