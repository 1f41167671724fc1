"""grid_sample and affine_grid: a per-pixel loop from the bilinear formula, gradcheck in float64
for the image and the grid, and PyTorch's values and gradients in every mode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies_core import SETTINGS

MODES = [
    (m, p, a) for m in ("bilinear", "nearest") for p in ("zeros", "border") for a in (False, True)
]


def loop_grid_sample(x, grid, mode, padding_mode, align_corners):
    n, c, h, w = x.shape
    out = np.zeros((n, c) + grid.shape[1:3])

    def pixel(img, col, row):
        if padding_mode == "border":
            col, row = min(max(col, 0), w - 1), min(max(row, 0), h - 1)
        return img[:, row, col] if 0 <= col < w and 0 <= row < h else np.zeros(c)

    for b, i, j in np.ndindex(n, *grid.shape[1:3]):
        gx, gy = grid[b, i, j]
        if align_corners:
            px, py = (gx + 1) / 2 * (w - 1), (gy + 1) / 2 * (h - 1)
        else:
            px, py = ((gx + 1) * w - 1) / 2, ((gy + 1) * h - 1) / 2
        if padding_mode == "border":
            px, py = min(max(px, 0), w - 1), min(max(py, 0), h - 1)
        if mode == "nearest":
            out[b, :, i, j] = pixel(x[b], int(np.rint(px)), int(np.rint(py)))
            continue
        x0, y0 = math.floor(px), math.floor(py)
        fx, fy = px - x0, py - y0
        top = (1 - fx) * pixel(x[b], x0, y0) + fx * pixel(x[b], x0 + 1, y0)
        bottom = (1 - fx) * pixel(x[b], x0, y0 + 1) + fx * pixel(x[b], x0 + 1, y0 + 1)
        out[b, :, i, j] = (1 - fy) * top + fy * bottom
    return out


@st.composite
def case(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    ho, wo = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # positions off the pixel grid (kinks of bilinear) by construction: random reals
    return rng.standard_normal((n, c, h, w)), rng.uniform(-1.2, 1.2, (n, ho, wo, 2))


@pytest.mark.parametrize("mode,padding_mode,align_corners", MODES)
@SETTINGS
@given(data=case())
def test_grid_sample_matches_loop_and_gradcheck(mode, padding_mode, align_corners, data):
    x, grid = data
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    got = F.grid_sample(mt.tensor(x), mt.tensor(grid), **kw).numpy()
    np.testing.assert_allclose(got, loop_grid_sample(x, grid, **kw), rtol=1e-12, atol=1e-12)
    a, g = mt.tensor(x, requires_grad=True), mt.tensor(grid, requires_grad=True)
    assert mt.gradcheck(lambda a, g: F.grid_sample(a, g, **kw), [a, g])


def test_identity_affine_grid_samples_the_image_back():
    x = mt.tensor(np.random.default_rng(0).standard_normal((2, 3, 5, 7)))
    theta = mt.tensor(np.tile(np.array([[1.0, 0, 0], [0, 1, 0]]), (2, 1, 1)), requires_grad=True)
    for align in (False, True):
        grid = F.affine_grid(theta, (2, 3, 5, 7), align_corners=align)
        y = F.grid_sample(x, grid, align_corners=align)
        np.testing.assert_allclose(y.numpy(), x.numpy(), atol=1e-12)
    # scaled and shifted off the pixel centres, where bilinear sampling has its kinks
    shift = mt.tensor(np.array([[0, 0, 0.0137], [0, 0, -0.0071]]))
    warp = lambda t: F.grid_sample(x, F.affine_grid(t * 0.9 + shift, (2, 3, 5, 7)))  # noqa: E731
    assert mt.gradcheck(warp, theta)


def test_errors():
    x = mt.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match="mode must be 'bilinear' or 'nearest'"):
        F.grid_sample(x, mt.zeros(1, 2, 2, 2), mode="bicubic")
    with pytest.raises(ValueError, match="padding_mode must be 'zeros' or 'border'"):
        F.grid_sample(x, mt.zeros(1, 2, 2, 2), padding_mode="reflection")
    with pytest.raises(
        ValueError, match=r"expected input \(N, C, H, W\) and grid \(N, Ho, Wo, 2\)"
    ):
        F.grid_sample(x, mt.zeros(2, 2, 2, 2))
    with pytest.raises(ValueError, match=r"expected theta of shape \(1, 2, 3\)"):
        F.affine_grid(mt.zeros(1, 3, 3), (1, 1, 3, 3))


@pytest.mark.parity
@pytest.mark.parametrize("mode,padding_mode,align_corners", MODES)
def test_grid_sample_and_affine_grid_match_torch(mode, padding_mode, align_corners):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, theta = rng.standard_normal((2, 3, 5, 6)), rng.standard_normal((2, 2, 3))
    ours = [mt.tensor(v, requires_grad=True) for v in (x, theta)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, theta)]
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    y = F.grid_sample(ours[0], F.affine_grid(ours[1], (2, 3, 4, 7), align_corners), **kw)
    tf = torch.nn.functional
    yt = tf.grid_sample(theirs[0], tf.affine_grid(theirs[1], (2, 3, 4, 7), align_corners), **kw)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11)
