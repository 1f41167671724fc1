"""Dropout layers: active in training mode, the identity after `.eval()`."""

from __future__ import annotations

from ..functional.dropout import (
    alpha_dropout,
    dropout,
    dropout1d,
    dropout2d,
    dropout3d,
    feature_alpha_dropout,
)
from .module import Module


class _DropoutNd(Module):
    """The dropouts' shared options (PyTorch's _DropoutNd): each subclass's forward is one call
    of its functional form, active in training mode only."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                f"{type(self).__name__}: probability has to be between 0 and 1, but got {p}"
            )
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability p during training; scale survivors by 1 / (1 - p).

    Args:
        p (float): drop probability. Default: 0.5.
        inplace (bool): accepted for PyTorch compatibility; the result is always a new tensor.

    Shape: any -> same. In eval mode the input is returned unchanged.
    """

    def forward(self, input):
        return dropout(input, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels with probability p during training (scaled by 1 / (1 - p)).

    Shape: (N, C, H, W) or (C, H, W) -> same. Neighbouring pixels of a feature map are strongly
    correlated, so dropping single pixels barely regularises a conv net; dropping a channel does.
    """

    def forward(self, input):
        return dropout2d(input, self.p, self.training)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) or (C, L) with probability p during training."""

    def forward(self, input):
        return dropout1d(input, self.p, self.training)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p during
    training."""

    def forward(self, input):
        return dropout3d(input, self.p, self.training)


class AlphaDropout(_DropoutNd):
    """Dropout for self-normalising (SELU) networks: dropped units take SELU's negative
    saturation and an affine correction keeps zero mean and unit variance. Identity in eval."""

    def forward(self, input):
        return alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels (one draw per (n, c))."""

    def forward(self, input):
        return feature_alpha_dropout(input, self.p, self.training)
