"""Spatial transformers' sampling: `affine_grid` builds the sampling positions of an affine map,
`grid_sample` reads an image at any (x, y) positions, bilinearly or nearest, with the gradient
for the image and for the positions (what lets a network learn where to look).

Positions are normalised to [-1, 1] over the image: x = -1 is the left edge, +1 the right. With
align_corners=False (PyTorch's default) -1 and +1 are the outer edges of the corner pixels, so
pixel i sits at (2 i + 1) / W - 1; with align_corners=True they are the corner pixels' centres.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor


def _unnormalise(g, size, align_corners):
    """Pixel coordinate of normalised g, and d(pixel)/d(g)."""
    if align_corners:
        return (g + 1) * ((size - 1) / 2), (size - 1) / 2
    return ((g + 1) * size - 1) / 2, size / 2


class GridSample(Function):
    """out[n, c, i, j] = input[n, c] read at grid[n, i, j] = (x, y), bilinearly (sum of the four
    neighbours, weighted by their overlap) or at the nearest pixel; outside the image: 0
    ('zeros') or the nearest edge pixel ('border').

    Gradients: the input's is the weights scattered back to the four (or one) source pixels;
    the grid's is sum_c g * d(out)/d(x, y), the bilinear weights' slopes times the pixel values
    (zero for nearest, and where 'border' clamps).

    Shapes: input (N, C, H, W), grid (N, Ho, Wo, 2) -> (N, C, Ho, Wo).
    """

    @staticmethod
    def forward(ctx, x, grid, *, mode, padding_mode, align_corners):
        xp = xp_of(x, grid)
        n, c, h, w = x.shape
        ix, sx = _unnormalise(grid[..., 0].astype(x.dtype), w, align_corners)
        iy, sy = _unnormalise(grid[..., 1].astype(x.dtype), h, align_corners)
        dx = xp.full(ix.shape, sx, dtype=x.dtype)
        dy = xp.full(iy.shape, sy, dtype=x.dtype)
        if padding_mode == "border":  # clamp to the edge pixels; no slope where clamped
            dx = dx * ((ix > 0) & (ix < w - 1))
            dy = dy * ((iy > 0) & (iy < h - 1))
            ix, iy = xp.clip(ix, 0, w - 1), xp.clip(iy, 0, h - 1)
        if mode == "nearest":
            corners = [(xp.rint(ix).astype(xp.int64), xp.rint(iy).astype(xp.int64),
                        xp.ones_like(ix), None, None)]  # fmt: skip
        else:
            x0, y0 = xp.floor(ix), xp.floor(iy)
            fx, fy = ix - x0, iy - y0
            x0, y0 = x0.astype(xp.int64), y0.astype(xp.int64)
            # (column, row, weight, d weight / d ix, d weight / d iy) of each neighbour
            corners = [
                (x0, y0, (1 - fx) * (1 - fy), -(1 - fy), -(1 - fx)),
                (x0 + 1, y0, fx * (1 - fy), 1 - fy, -fx),
                (x0, y0 + 1, (1 - fx) * fy, -fy, 1 - fx),
                (x0 + 1, y0 + 1, fx * fy, fy, fx),
            ]
        nidx = xp.arange(n).reshape(n, 1, 1)
        out = xp.zeros((n, c) + ix.shape[1:], dtype=x.dtype)
        taps = []
        for cx, cy, wt, wx, wy in corners:
            inside = (cx >= 0) & (cx < w) & (cy >= 0) & (cy < h)
            cxc, cyc = xp.clip(cx, 0, w - 1), xp.clip(cy, 0, h - 1)
            v = x[nidx, :, cyc, cxc].transpose(0, 3, 1, 2) * inside[:, None]  # (N, C, Ho, Wo)
            out += wt[:, None] * v
            taps.append((cxc, cyc, wt * inside, wx, wy, v))
        ctx.taps, ctx.slopes, ctx.shape = taps, (dx, dy), x.shape
        ctx.grid_dtype = grid.dtype
        return out

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        n, c, h, w = ctx.shape
        gx = gg = None
        if ctx.needs_input_grad[0]:
            # scatter-add through a bincount over flat (n, c, row, col) positions: repeats add
            flat_nc = (xp.arange(n * c).reshape(n, c, 1, 1)) * (h * w)
            total = xp.zeros(n * c * h * w, dtype=xp.float64)
            for cx, cy, wt, _, _, _ in ctx.taps:
                pos = (flat_nc + (cy * w + cx)[:, None]).reshape(-1)
                contrib = (g * wt[:, None]).reshape(-1)
                total += xp.bincount(pos, weights=contrib, minlength=total.size)
            gx = total.reshape(ctx.shape).astype(g.dtype)
        if ctx.needs_input_grad[1]:
            gix = xp.zeros(g.shape[:1] + g.shape[2:], dtype=g.dtype)
            giy = xp.zeros_like(gix)
            for _, _, _, wx, wy, v in ctx.taps:
                if wx is None:  # nearest: piecewise constant in the position
                    continue
                gv = (g * v).sum(axis=1)
                gix += gv * wx
                giy += gv * wy
            dx, dy = ctx.slopes
            gg = xp.stack([gix * dx, giy * dy], axis=-1).astype(ctx.grid_dtype)
        return gx, gg


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=False):
    """Read `input` (N, C, H, W) at the normalised positions `grid` (N, Ho, Wo, 2), x first
    (PyTorch's `F.grid_sample` for 4-D input).

    Args:
        mode (str): 'bilinear' (default) or 'nearest'.
        padding_mode (str): 'zeros' (default) or 'border' (the edge pixel's value).
        align_corners (bool): -1 and 1 are the corner pixels' centres (True) or their outer
            edges (False, the default).
    """
    if mode not in ("bilinear", "nearest"):
        raise ValueError(f"grid_sample: mode must be 'bilinear' or 'nearest', got {mode!r}")
    if padding_mode not in ("zeros", "border"):
        raise ValueError(
            f"grid_sample: padding_mode must be 'zeros' or 'border', got {padding_mode!r}"
        )
    if input.ndim != 4 or grid.ndim != 4 or grid.shape[-1] != 2 or grid.shape[0] != input.shape[0]:
        raise ValueError(
            f"grid_sample: expected input (N, C, H, W) and grid (N, Ho, Wo, 2) with the same N, "
            f"got {tuple(input.shape)} and {tuple(grid.shape)}"
        )
    return GridSample.apply(input, grid, mode=mode, padding_mode=padding_mode,
                            align_corners=bool(align_corners))  # fmt: skip


def affine_grid(theta, size, align_corners=False):
    """The sampling positions of the affine maps theta (N, 2, 3) for an output of `size`
    (N, C, H, W): grid[n, i, j] = theta[n] @ (x_j, y_i, 1), with x_j, y_i the normalised
    centres of the output pixels. Differentiable in theta (it is a matmul)."""
    from .matmul import matmul

    if theta.dtype.kind != "f":  # (the pixel centres cast to an integer theta's dtype were 0)
        raise TypeError(f"affine_grid: expected a floating point theta, got dtype {theta.dtype}")
    n, _, h, w = (int(s) for s in size)
    if tuple(theta.shape) != (n, 2, 3):
        raise ValueError(
            f"affine_grid: expected theta of shape ({n}, 2, 3) for size {tuple(size)}, got "
            f"{tuple(theta.shape)}"
        )
    xp = xp_of(theta._data)

    def centres(k):
        if align_corners:
            return np.linspace(-1, 1, k) if k > 1 else np.zeros(1)
        return (2 * np.arange(k) + 1) / k - 1

    xs, ys = np.meshgrid(centres(w), centres(h))  # (H, W) each
    base = np.stack([xs, ys, np.ones_like(xs)], axis=-1).reshape(1, h * w, 3)
    base = xp.asarray(base.astype(theta.dtype))
    grid = matmul(Tensor(base), theta.transpose(1, 2))  # (N, H*W, 2)
    return grid.reshape(n, h, w, 2)
