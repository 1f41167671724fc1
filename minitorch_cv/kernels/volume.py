"""Raw-array helpers of the 3-D ops over (N, C, D, H, W) volumes: padding, every window as a
strided view, and the adjoint that adds windows back (one strided add per kernel offset, no
Python loop over voxels or batch items). NumPy and CuPy alike, through the array's module.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..backend import xp_of
from .shapes import conv_out


def pad3d(x, padding, value=0.0):
    """A copy of x (N, C, D, H, W) with `padding` = ((lo, hi),) * 3 around the three spatial
    dims, filled with `value`."""
    xp = xp_of(x)
    (d0, d1), (h0, h1), (w0, w1) = padding
    if not any((d0, d1, h0, h1, w0, w1)):
        return x
    n, c, d, h, w = x.shape
    out = xp.full((n, c, d + d0 + d1, h + h0 + h1, w + w0 + w1), value, dtype=x.dtype)
    out[:, :, d0 : d0 + d, h0 : h0 + h, w0 : w0 + w] = x
    return out


def windows3d(xp_, kernel_size, stride, dilation, out_size=None):
    """Every window of a padded volume as a strided view (N, C, OD, OH, OW, KD, KH, KW); the
    output size defaults to the windows that fit (conv_out with no padding)."""
    xp = xp_of(xp_)
    n, c = xp_.shape[:2]
    sizes = xp_.shape[2:]
    if out_size is None:
        out_size = tuple(conv_out(sz, k, s, 0, d)
                         for sz, k, s, d in zip(sizes, kernel_size, stride, dilation))  # fmt: skip
    sn, sc, *ss = xp_.strides
    strides = (sn, sc, *(a * s for a, s in zip(ss, stride)), *(a * d for a, d in zip(ss, dilation)))
    shape = (n, c, *out_size, *kernel_size)
    if xp is np:  # a read-only view: the windows overlap (CuPy's as_strided has no such flag)
        return np.lib.stride_tricks.as_strided(xp_, shape, strides, writeable=False)
    return xp.lib.stride_tricks.as_strided(xp_, shape, strides)


def tap_slices(offset, stride, dilation, out_size):
    """The slices of the padded volume that kernel offset (a, b, c) reads for every window."""
    return tuple(slice(o * d, o * d + s * (n - 1) + 1, s)
                 for o, s, d, n in zip(offset, stride, dilation, out_size))  # fmt: skip


def windows_add(cols, out, stride, dilation):
    """Add windows cols (N, C, OD, OH, OW, KD, KH, KW) back into the padded buffer `out`
    (N, C, Dp, Hp, Wp) in place: the adjoint of windows3d."""
    out_size, kernel = cols.shape[2:5], cols.shape[5:]
    for offset in itertools.product(*(range(k) for k in kernel)):
        out[(slice(None), slice(None), *tap_slices(offset, stride, dilation, out_size))] += cols[
            (..., *offset)
        ]
    return out
