"""DropBlock (Ghiasi et al., 2018), torchvision.ops' drop_block2d / drop_block3d and their
modules: in training, zero square (cubic) blocks of each feature map instead of single units,
which barely regularise a conv net since their neighbours carry the same information.

As torchvision: block_size is clipped to the input's smallest spatial side and must then be
odd; block corners ("seeds") are drawn with probability

    gamma = p * H * W / (block_size**2 * (H - block_size + 1) * (W - block_size + 1))

(p * D * H * W / (block_size**3 * ...) in 3-D) on the (H - block_size + 1, W - block_size + 1)
positions where a whole block fits; max pooling of the seed map (stride 1, one block_size
window) grows each seed into its block, and the kept units are scaled by
numel / (eps + number kept). The seed map is one float32 uniform draw of that shape (as
Dropout's), compared with gamma, from the package generator (`minitorch_cv.manual_seed`) on
the CPU, then moved to the input's device. The product is Dropout's Function: y = x * mask,
dy/dx = mask.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import device_of, to_device, xp_of
from ..functional.dropout import Dropout
from ..layers.module import Module
from ..tensor import default_rng
from .stochastic_depth import _check_p


def _block_cover(seeds, block_size: int):
    """Stride-1 max pooling of a boolean seed map (N, C, *(S - b + 1)) into (N, C, *S): True on
    every point of a block of side b whose first corner is a seed (torchvision's zero padding
    by b // 2 then max pooling with padding b // 2, for odd b). A box maximum is a maximum
    along each spatial axis in turn, each the OR of b shifted copies."""
    xp = xp_of(seeds)
    out = seeds
    for axis in range(2, seeds.ndim):
        n = out.shape[axis]
        grown = xp.zeros(out.shape[:axis] + (n + block_size - 1,) + out.shape[axis + 1 :], bool)
        for k in range(block_size):
            grown[(slice(None),) * axis + (slice(k, k + n),)] |= out
        out = grown
    return out


def _drop_block(op: str, input, p, block_size, eps, training, nd: int):
    _check_p(op, p)
    if input.ndim != nd + 2:
        dims = "N, C, H, W" if nd == 2 else "N, C, D, H, W"
        raise ValueError(
            f"{op}: input should be {nd + 2} dimensional ({dims}), got shape {tuple(input.shape)}"
        )
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool):
        raise TypeError(f"{op}: block_size must be an int, got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"{op}: block_size must be positive, got {block_size}")
    if input.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {input.dtype}")
    if not training or p == 0.0:
        return input
    spatial = tuple(input.shape[2:])
    b = min(int(block_size), *spatial)
    if b % 2 == 0:
        raise ValueError(
            f"{op}: block size should be odd, got {b} (block_size={block_size} clipped to the "
            f"smallest spatial side of the input of shape {tuple(input.shape)})"
        )
    fits = tuple(s - b + 1 for s in spatial)
    gamma = p * math.prod(spatial) / (b**nd * math.prod(fits))
    seeds = default_rng().random(tuple(input.shape[:2]) + fits, dtype=np.float32) < gamma
    keep = ~_block_cover(to_device(seeds, device_of(input._data)), b)
    mask = keep.astype(input.dtype)
    scale = mask.size / (eps + mask.sum(dtype=np.float64))
    return Dropout.apply(input, mask=mask * xp_of(mask).asarray(scale, dtype=input.dtype))


def drop_block2d(
    input,
    p: float,
    block_size: int,
    inplace: bool = False,
    eps: float = 1e-06,
    training: bool = True,
):
    """Zero block_size x block_size blocks of each (H, W) map, then rescale what is kept.

    Args:
        input: (N, C, H, W).
        p (float): drop probability: about the fraction of units zeroed.
        block_size (int): side of a block; clipped to min(H, W), then it must be odd.
        inplace (bool): accepted for torchvision compatibility; the result is always a new tensor.
        eps (float): added to the number of kept units in the rescale. Default: 1e-6.
        training (bool): when False, or when p = 0, the input is returned unchanged. Default: True.

    Shape: (N, C, H, W) -> same, kept units scaled by N*C*H*W / (eps + number kept).
    """
    return _drop_block("drop_block2d", input, p, block_size, eps, training, 2)


def drop_block3d(
    input,
    p: float,
    block_size: int,
    inplace: bool = False,
    eps: float = 1e-06,
    training: bool = True,
):
    """Zero cubic blocks of side block_size of each (D, H, W) volume, then rescale what is kept.

    Args: as drop_block2d; block_size is clipped to min(D, H, W).

    Shape: (N, C, D, H, W) -> same.
    """
    return _drop_block("drop_block3d", input, p, block_size, eps, training, 3)


class DropBlock2d(Module):
    """Module form of `drop_block2d`: active in training mode, the identity after eval().

    Args:
        p (float): drop probability.
        block_size (int): side of a dropped block (odd, after clipping to the input's size).
        inplace (bool): accepted for torchvision compatibility. Default: False.
        eps (float): added to the number of kept units in the rescale. Default: 1e-6.
    """

    _functional = staticmethod(drop_block2d)

    def __init__(self, p: float, block_size: int, inplace: bool = False, eps: float = 1e-06):
        super().__init__()
        _check_p(type(self).__name__, p)
        self.p = p
        self.block_size = block_size
        self.inplace = inplace
        self.eps = eps

    def forward(self, input):
        return self._functional(
            input, self.p, self.block_size, self.inplace, self.eps, self.training
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(p={self.p}, block_size={self.block_size}, "
            f"inplace={self.inplace})"
        )


class DropBlock3d(DropBlock2d):
    """Module form of `drop_block3d`; arguments as DropBlock2d."""

    _functional = staticmethod(drop_block3d)
