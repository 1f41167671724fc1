"""Dropout layers: active in training mode, the identity after `.eval()`."""

from __future__ import annotations

from ..functional.dropout import dropout, dropout2d
from .module import Module


class Dropout(Module):
    """Zero each element with probability p during training; scale survivors by 1 / (1 - p).

    Args:
        p (float): drop probability. Default: 0.5.
        inplace (bool): accepted for PyTorch compatibility; the result is always a new tensor.

    Shape: any -> same. In eval mode the input is returned unchanged.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(
                f"{type(self).__name__}: probability has to be between 0 and 1, but got {p}"
            )
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels with probability p during training (scaled by 1 / (1 - p)).

    Shape: (N, C, H, W) or (C, H, W) -> same. Neighbouring pixels of a feature map are strongly
    correlated, so dropping single pixels barely regularises a conv net; dropping a channel does.
    """

    def forward(self, input):
        return dropout2d(input, self.p, self.training)
