"""Hypothesis strategies and a finite-difference helper shared by the mt.ops box tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tests.strategies_core import arrays


@st.composite
def proper_boxes(draw, lead=(), n_max=4):
    """'xyxy' boxes (x1 < x2, y1 < y2, sides of 0.1 or more) of shape lead + (n, 4), on a 0.1
    grid: touching edges, shared corners and identical boxes all happen."""
    n = draw(st.integers(1, n_max))
    shape = lead + (n, 2)
    xs = np.sort(draw(arrays(shape, -3.0, 3.0)), axis=-1)
    ys = np.sort(draw(arrays(shape, -3.0, 3.0)), axis=-1)
    xs[..., 1] += 0.1
    ys[..., 1] += 0.1
    return np.stack([xs[..., 0], ys[..., 0], xs[..., 1], ys[..., 1]], -1)


@st.composite
def distinct_pair(draw, n_max=3):
    """Two sets of proper boxes whose x coordinates (and y coordinates) are all 0.1 apart or
    more: no min / max ties and no zero-width overlap, so the IoU family is smooth there."""
    n, m = draw(st.integers(1, n_max)), draw(st.integers(1, n_max))
    flat_x = draw(arrays((2 * (n + m),), -3.0, 3.0, unique=True)).reshape(n + m, 2)
    flat_y = draw(arrays((2 * (n + m),), -3.0, 3.0, unique=True)).reshape(n + m, 2)
    xs, ys = np.sort(flat_x, axis=1), np.sort(flat_y, axis=1)
    b = np.stack([xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]], -1)
    return b[:n], b[n:]


def numeric_grad(f, arrays_, eps=1e-6):
    grads = []
    for i, a in enumerate(arrays_):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            hi = [b.copy() for b in arrays_]
            lo = [b.copy() for b in arrays_]
            hi[i][idx] += eps
            lo[i][idx] -= eps
            g[idx] = (f(*hi) - f(*lo)) / (2 * eps)
        grads.append(g)
    return grads
