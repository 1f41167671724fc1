"""More batch transforms (transforms_more.py): the perspective and elastic warps against pixel
loops written from their formulas and against torch's grid_sample as torchvision calls it;
crops, pads and pixel-value ops against slicing and their formulas; the random transforms'
draws, their bounds, and batch == each image alone with the same draws; masks moved with the
images; uint8 and float images; errors that name the transform and the shapes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitorch_cv.backend import gpu_available
from minitorch_cv.data import transforms as T
from minitorch_cv.data.transforms import _apply_op
from tests.strategies_core import SETTINGS


def batch(n=3, c=3, h=7, w=8, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).uniform(0, 1, (n, c, h, w)).astype(dtype)


def labelled(n=6, h=10, w=10, seed=0):
    """Images whose channel 0 equals the mask: a joint geometric change keeps them equal."""
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 21, (n, h, w))
    x = np.stack([mask, rng.integers(0, 9, (n, h, w))], axis=1).astype(np.float32)
    return x, mask


def assert_joint(x, mask, fill=0.0, mask_fill=255):
    inside = mask != mask_fill
    np.testing.assert_array_equal(x[:, 0][inside], mask[inside])
    np.testing.assert_array_equal(x[:, 0][~inside], fill)


# --------------------------------------------------------------------------- loop references


def sample_loop(img, r, c, interpolation, fill):
    """One (C, H, W) image read at the real position (r, c), by the textbook: nearest rounds
    half to even; bilinear weighs the four neighbours by (1 - |dr|)(1 - |dc|), the outside ones
    counting 0, then blends with `fill` by the weight that fell outside (None: no blend)."""
    ch, h, w = img.shape
    f = np.zeros(ch) if fill is None else np.broadcast_to(np.asarray(fill, float), (ch,))
    if interpolation == "nearest":
        ri, ci = int(np.rint(r)), int(np.rint(c))
        return img[:, ri, ci] if 0 <= ri < h and 0 <= ci < w else f
    acc, covered = np.zeros(ch), 0.0
    for rr in (int(np.floor(r)), int(np.floor(r)) + 1):
        for cc in (int(np.floor(c)), int(np.floor(c)) + 1):
            weight = (1 - abs(r - rr)) * (1 - abs(c - cc))
            if 0 <= rr < h and 0 <= cc < w:
                acc += weight * img[:, rr, cc]
                covered += weight
    return acc if fill is None else covered * acc + (1 - covered) * f


def homography(src, dst):
    """The 3 x 3 H with dst ~ H src for four point pairs: the null space of the 8 x 9 direct
    linear transform system (an SVD, not the 8-unknown solve of the library)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y, -u], [0, 0, 0, x, y, 1, -v * x, -v * y, -v]]
    h = np.linalg.svd(np.array(rows, dtype=float))[2][-1]
    return (h / h[-1]).reshape(3, 3)


def perspective_loop(img, start, end, interpolation="bilinear", fill=None):
    """Each output pixel's centre (j + 0.5, i + 0.5) through the homography end -> start, read
    there minus half a pixel (torchvision's convention)."""
    hm = homography(end, start)
    out = np.empty(img.shape)
    for i in range(img.shape[1]):
        for j in range(img.shape[2]):
            p = hm @ (j + 0.5, i + 0.5, 1.0)
            out[:, i, j] = sample_loop(img, p[1] / p[2] - 0.5, p[0] / p[2] - 0.5, interpolation,
                                       fill)  # fmt: skip
    return out


def elastic_loop(img, disp, interpolation="bilinear", fill=None):
    """Output pixel (i, j) reads the input at (i + dy H / 2, j + dx W / 2)."""
    _, h, w = img.shape
    out = np.empty(img.shape)
    for i in range(h):
        for j in range(w):
            dx, dy = disp[i, j]
            out[:, i, j] = sample_loop(img, i + dy * h / 2, j + dx * w / 2, interpolation, fill)
    return out


def image_corners(w, h):
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=float)


# --------------------------------------------------------------------------- perspective


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(3, 8), w=st.integers(3, 8),
       interpolation=st.sampled_from(["nearest", "bilinear"]),
       fill=st.sampled_from([None, 0.0, 0.5, "per-channel"]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_perspective_matches_a_pixel_loop_through_the_homography(n, c, h, w, interpolation,
                                                                  fill, seed):  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, c, h, w))
    start = image_corners(w, h)
    end = start + rng.uniform(-1, 1, (n, 4, 2)) * [w / 4, h / 4]  # real corners: no ties
    fill = list(np.linspace(0.2, 0.8, c)) if fill == "per-channel" else fill
    got = T.perspective(x, start, end, interpolation, fill)
    assert got.shape == x.shape and got.dtype == x.dtype
    for i in range(n):
        want = perspective_loop(x[i], start, end[i], interpolation, fill)
        np.testing.assert_allclose(got[i], want, atol=1e-9)


def torchvision_grid_transform(torch, img, grid, mode, fill):
    """torchvision's _apply_grid_transform, transcribed: grid_sample(align_corners=False,
    zeros) of the image with a channel of ones, which then blends in `fill`."""
    x = torch.from_numpy(img)
    if fill is not None:
        x = torch.cat([x, torch.ones_like(x[:, :1])], dim=1)
    y = torch.nn.functional.grid_sample(x, grid, mode=mode, padding_mode="zeros",
                                        align_corners=False)  # fmt: skip
    if fill is not None:
        y, cover = y[:, :-1], y[:, -1:].expand_as(y[:, :-1])
        f = torch.tensor(fill, dtype=y.dtype).reshape(1, -1, 1, 1).expand_as(y)
        y = torch.where(cover < 0.5, f, y) if mode == "nearest" else y * cover + (1 - cover) * f
    return y.numpy()


def torchvision_perspective_grid(torch, start, end, w, h):
    """torchvision's _get_perspective_coeffs (least squares, endpoints -> startpoints) and
    _perspective_grid, in float64."""
    rows = []
    for p1, p2 in zip(end, start):
        rows += [[p1[0], p1[1], 1, 0, 0, 0, -p2[0] * p1[0], -p2[0] * p1[1]],
                 [0, 0, 0, p1[0], p1[1], 1, -p2[1] * p1[0], -p2[1] * p1[1]]]  # fmt: skip
    a = torch.tensor(rows, dtype=torch.float64)
    coef = torch.linalg.lstsq(a, torch.tensor(start, dtype=torch.float64).reshape(8)).solution
    theta1 = coef[:6].reshape(1, 2, 3)
    theta2 = torch.stack([torch.cat([coef[6:], torch.ones(1, dtype=torch.float64)])] * 2)[None]
    base = torch.empty(1, h, w, 3, dtype=torch.float64)
    base[..., 0] = torch.linspace(0.5, w - 0.5, w, dtype=torch.float64)
    base[..., 1] = torch.linspace(0.5, h - 0.5, h, dtype=torch.float64)[:, None]
    base[..., 2] = 1
    half = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64)
    g1 = base.view(1, h * w, 3).bmm(theta1.transpose(1, 2) / half)
    g2 = base.view(1, h * w, 3).bmm(theta2.transpose(1, 2))
    return (g1 / g2 - 1.0).view(1, h, w, 2)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill", [None, 0.0, (0.3, 0.9)])
def test_perspective_matches_torchvisions_grid_and_grid_sample(mode, fill):
    torch = pytest.importorskip("torch")
    x = batch(n=1, c=2, h=9, w=11, seed=1)
    start = image_corners(11, 9)
    end = np.array([[1.3, 0.4], [9.2, 1.6], [10.4, 8.1], [0.7, 7.2]])
    grid = torchvision_perspective_grid(torch, start.tolist(), end.tolist(), 11, 9)
    want = torchvision_grid_transform(torch, x, grid, mode, fill)
    np.testing.assert_allclose(T.perspective(x, start, end, mode, fill), want, atol=1e-9)
    # uint8: sampled in float and rounded back, as torchvision's _cast_squeeze_out
    xu = (x * 255).round().astype(np.uint8)
    fu = None if fill is None else np.multiply(fill, 255).tolist()
    want = np.round(torchvision_grid_transform(torch, xu.astype(np.float64), grid, mode, fu))
    got = T.perspective(xu, start, end, mode, fu)
    assert got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.05  # float32 sampling vs float64


def test_perspective_identity_and_special_maps():
    x = batch(n=2, h=6, w=7)
    corners = image_corners(7, 6)
    for mode in ("nearest", "bilinear"):
        np.testing.assert_allclose(T.perspective(x, corners, corners, mode), x, atol=1e-12)
        np.testing.assert_allclose(T.perspective(x, corners, corners, mode, fill=9.0), x,
                                   atol=1e-12)  # fmt: skip
    xu = (x * 255).astype(np.uint8)
    np.testing.assert_array_equal(T.perspective(xu, corners, corners), xu)
    # endpoints one pixel to the right: a shift right by one, zeros coming in on the left
    shifted = T.perspective(x, corners, corners + [1, 0], "nearest")
    np.testing.assert_array_equal(shifted[..., 1:], x[..., :-1])
    np.testing.assert_array_equal(shifted[..., 0], 0)
    # a mask goes by nearest neighbour with its own fill
    mask = np.arange(42).reshape(1, 6, 7)
    m = T.perspective(mask, corners, corners + [0, 2], "bilinear", fill=255)
    np.testing.assert_array_equal(m[:, 2:], mask[:, :-2])
    assert (m[:, :2] == 255).all() and m.dtype == mask.dtype


def test_perspective_batch_equals_each_image_alone():
    x = batch(n=4, h=8, w=9, seed=3)
    start, end = T.RandomPerspective.get_params(9, 8, 0.8, 4, np.random.default_rng(0))
    got = T.perspective(x, start, end, "bilinear", 0.5)
    for i in range(4):
        np.testing.assert_array_equal(got[i], T.perspective(x[i : i + 1], start, end[i],
                                                            "bilinear", 0.5)[0])  # fmt: skip


def test_perspective_solves_a_map_that_sends_the_origin_to_infinity():
    # the exact map from these endpoints has H[2, 2] = 0: torchvision's eight-unknown system
    # (H[2, 2] fixed to 1), and this module's first solve, is singular there and gave
    # coefficients of 1e16; RandomPerspective draws such corners on 8 x 8 images
    x = batch(n=1, c=2, h=8, w=8, seed=6)
    start, end = image_corners(8, 8), np.array([[2, 2], [6, 0], [6, 6], [1, 5]], dtype=float)
    for fill in (None, 0.3):
        want = perspective_loop(x[0], start, end, "bilinear", fill)
        np.testing.assert_allclose(T.perspective(x, start, end, "bilinear", fill)[0], want,
                                   atol=1e-9)  # fmt: skip


def test_perspective_with_the_horizon_inside_the_image_reads_fill_without_warnings():
    x = batch(n=1, c=1, h=8, w=8)
    end = np.array([[0, 0], [7, 0], [4, 3], [3, 3]], dtype=float)  # sides meet at y = 3.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero, no cast of inf / nan to int
        for mode in ("bilinear", "nearest"):
            out = T.perspective(x, image_corners(8, 8), end, mode, 0.5)
            assert np.isfinite(out).all() and (out[0, 0, 3:] == 0.5).all()
            xu = (x * 255).astype(np.uint8)
            assert (T.perspective(xu, image_corners(8, 8), end, mode)[0, 0, 3:] == 0).all()


def three_on_a_line(points):
    p = np.asarray(points, dtype=float)
    out = np.zeros(len(p), dtype=bool)
    for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
        a, b = p[:, j] - p[:, i], p[:, k] - p[:, i]
        out |= a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0] == 0
    return out


def test_random_perspective_leaves_items_whose_corners_have_no_map_unchanged():
    # small images at a large distortion: a third of the draws put three corners on a line,
    # where the first version raised "corners do not define a perspective map" mid-epoch
    x, mask = labelled(n=300, h=4, w=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y, m = T.RandomPerspective(1.0, p=1.0, interpolation="nearest")(x, mask, rng=0)
    rng = np.random.default_rng(0)  # the transform's draws, in its order
    rng.random(300)
    start, end = T.RandomPerspective.get_params(4, 4, 1.0, 300, rng)
    flat = three_on_a_line(end)
    assert 30 < flat.sum() < 270
    np.testing.assert_array_equal(y[flat], x[flat])
    np.testing.assert_array_equal(m[flat], mask[flat])
    assert_joint(y, m)
    warped = T.perspective(x[~flat], start, end[~flat], "nearest", 0.0)
    np.testing.assert_array_equal(y[~flat], warped)
    # a 1-pixel side has no perspective map at all: the images come back as they are
    thin = batch(n=3, h=1, w=5)
    np.testing.assert_array_equal(T.RandomPerspective(p=1.0)(thin, rng=0), thin)


def test_random_perspective_get_params_bounds():
    start, end = T.RandomPerspective.get_params(13, 10, 0.6, 4000, np.random.default_rng(0))
    np.testing.assert_array_equal(start, [[0, 0], [12, 0], [12, 9], [0, 9]])
    assert end.shape == (4000, 4, 2) and end.dtype.kind == "i"
    # moves of up to int(0.6 * 6) = 3 columns and int(0.6 * 5) = 3 rows inwards, all reached
    bounds = {(0, 0): (0, 3), (0, 1): (0, 3), (1, 0): (9, 12), (1, 1): (0, 3),
              (2, 0): (9, 12), (2, 1): (6, 9), (3, 0): (0, 3), (3, 1): (6, 9)}  # fmt: skip
    for (k, axis), (lo, hi) in bounds.items():
        v = end[:, k, axis]
        assert (v.min(), v.max()) == (lo, hi), (k, axis)
        assert len(np.unique(v)) == hi - lo + 1
    _, still = T.RandomPerspective.get_params(13, 10, 0.0, 50, np.random.default_rng(0))
    assert (still == start).all()


def test_random_perspective_is_torchvisions_draws_applied_per_item():
    x = batch(n=12, h=8, w=9, seed=4)
    out = T.RandomPerspective(0.7, p=0.6, fill=0.25)(x, rng=3)
    rng = np.random.default_rng(3)  # the transform's draws, in its order
    chosen = rng.random(12) < 0.6
    start, end = T.RandomPerspective.get_params(9, 8, 0.7, 12, rng)
    assert 0 < chosen.sum() < 12
    for i in range(12):
        want = perspective_loop(x[i], start, end[i], "bilinear", 0.25) if chosen[i] else x[i]
        np.testing.assert_allclose(out[i], want, atol=1e-9)


def test_random_perspective_identities_masks_and_dtypes():
    x, mask = labelled(n=10, h=9, w=11)
    for aug in (T.RandomPerspective(p=0.0), T.RandomPerspective(0.0, p=1.0)):
        y, m = aug(x, mask, rng=0)
        np.testing.assert_allclose(y, x, atol=1e-5)
        np.testing.assert_array_equal(m, mask)
    y, m = T.RandomPerspective(0.9, p=1.0, interpolation="nearest")(x, mask, rng=1)
    assert (m == 255).any()
    assert_joint(y, m)
    xu = (batch(n=5) * 255).astype(np.uint8)
    out = T.RandomPerspective(p=1.0)(xu, rng=2)
    assert out.dtype == np.uint8 and out.shape == xu.shape
    one = T.RandomPerspective(p=1.0)(x[0], mask[0], rng=2)  # a single image and mask
    assert one[0].shape == x[0].shape and one[1].shape == mask[0].shape


# --------------------------------------------------------------------------- elastic


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 2), h=st.integers(2, 8), w=st.integers(2, 8),
       interpolation=st.sampled_from(["nearest", "bilinear"]),
       fill=st.sampled_from([None, 0.0, 0.7]), per_item=st.booleans(),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_elastic_transform_matches_the_displaced_grid_loop(n, c, h, w, interpolation, fill,
                                                           per_item, seed):  # fmt: skip
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, c, h, w))
    disp = rng.uniform(-0.4, 0.4, (n if per_item else 1, h, w, 2))
    got = T.elastic_transform(x, disp, interpolation, fill)
    for i in range(n):
        want = elastic_loop(x[i], disp[i if per_item else 0], interpolation, fill)
        np.testing.assert_allclose(got[i], want, atol=1e-9)


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("fill", [None, 0.4])
def test_elastic_transform_matches_torch_grid_sample_on_the_identity_grid(mode, fill):
    torch = pytest.importorskip("torch")
    x = batch(n=2, c=2, h=7, w=10, seed=5)
    disp = np.random.default_rng(1).uniform(-0.3, 0.3, (2, 7, 10, 2))
    # torchvision's _create_identity_grid: pixel centres in [-1, 1] along each axis
    gx = torch.linspace(-9 / 10, 9 / 10, 10, dtype=torch.float64)
    gy = torch.linspace(-6 / 7, 6 / 7, 7, dtype=torch.float64)
    ident = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
    want = torchvision_grid_transform(torch, x, ident + torch.from_numpy(disp), mode, fill)
    np.testing.assert_allclose(T.elastic_transform(x, disp, mode, fill), want, atol=1e-9)


def test_elastic_zero_displacement_and_alpha_zero_give_the_input():
    x, mask = labelled(n=4, h=9, w=9)
    zero = np.zeros((1, 9, 9, 2))
    for mode in ("nearest", "bilinear"):
        np.testing.assert_array_equal(T.elastic_transform(x, zero, mode, fill=3.0), x)
    y, m = T.ElasticTransform(alpha=0.0, sigma=1.0)(x, mask, rng=0)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(m, mask)


def blur_loop(img, k, sx, sy):
    """torchvision's Gaussian blur of one (H, W) field, tap by tap: taps exp(-t^2 / 2 s^2)
    normalised, t in -(k-1)/2 .. (k-1)/2, reflect padding."""
    t = np.arange(k) - (k - 1) / 2
    gx, gy = np.exp(-0.5 * (t / sx) ** 2), np.exp(-0.5 * (t / sy) ** 2)
    gx, gy = gx / gx.sum(), gy / gy.sum()
    p = np.pad(img, k // 2, mode="reflect")
    out = np.zeros(img.shape)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            out[i, j] = sum(gy[a] * gx[b] * p[i + a, j + b] for a in range(k) for b in range(k))
    return out


def test_elastic_get_params_is_torchvisions_field():
    h, w = 10, 12
    # sigma 0: the raw noise, x scaled by alpha / W and y by alpha / H
    d = T.ElasticTransform.get_params((30.0, 20.0), (0.0, 0.0), (h, w), 500,
                                      np.random.default_rng(0))  # fmt: skip
    rng = np.random.default_rng(0)
    noise_x, noise_y = rng.uniform(-1, 1, (500, 1, h, w)), rng.uniform(-1, 1, (500, 1, h, w))
    np.testing.assert_allclose(d[..., 0], noise_x[:, 0] * 30 / w, rtol=1e-14)
    np.testing.assert_allclose(d[..., 1], noise_y[:, 0] * 20 / h, rtol=1e-14)
    assert np.abs(d[..., 0]).max() <= 30 / w and np.abs(d[..., 0]).max() > 0.99 * 30 / w
    # sigma (1.2, 0.75): dx blurred with int(8 * 1.2 + 1) = 10 -> 11 taps, dy with 7 taps,
    # both with (sigma_x, sigma_y) = (1.2, 0.75), as torchvision passes the pair
    d = T.ElasticTransform.get_params((30.0, 20.0), (1.2, 0.75), (h, w), 2,
                                      np.random.default_rng(1))  # fmt: skip
    rng = np.random.default_rng(1)
    noise_x, noise_y = rng.uniform(-1, 1, (2, 1, h, w)), rng.uniform(-1, 1, (2, 1, h, w))
    for i in range(2):
        np.testing.assert_allclose(d[i, ..., 0], blur_loop(noise_x[i, 0], 11, 1.2, 0.75) * 30 / w,
                                   atol=1e-12)  # fmt: skip
        np.testing.assert_allclose(d[i, ..., 1], blur_loop(noise_y[i, 0], 7, 1.2, 0.75) * 20 / h,
                                   atol=1e-12)  # fmt: skip


def test_elastic_transform_draws_per_item_and_moves_masks():
    x, mask = labelled(n=6, h=12, w=12)
    aug = T.ElasticTransform(alpha=40.0, sigma=1.5, interpolation="nearest")
    y, m = aug(x, mask, rng=2)
    assert_joint(y, m)
    assert not np.array_equal(m[0], mask[0]) and not np.array_equal(m[0] - mask[0],
                                                                    m[1] - mask[1])  # fmt: skip
    d = T.ElasticTransform.get_params(aug.alpha, aug.sigma, (12, 12), 6, np.random.default_rng(2))
    for i in range(6):
        np.testing.assert_array_equal(m[i], T.elastic_transform(mask[i : i + 1], d[i : i + 1],
                                                                fill=255)[0])  # fmt: skip
    xu = (batch(n=3, h=12, w=12) * 255).astype(np.uint8)
    assert T.ElasticTransform(sigma=1.0)(xu, rng=0).dtype == np.uint8


# --------------------------------------------------------------------------- crops and pads


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), ch=st.integers(1, 9), cw=st.integers(1, 9),
       vertical=st.booleans())  # fmt: skip
def test_five_and_ten_crop_are_corner_and_centre_slices(h, w, ch, cw, vertical):
    x = np.arange(2 * 3 * h * w, dtype=np.float32).reshape(2, 3, h, w)
    if ch > h or cw > w:
        with pytest.raises(ValueError, match="five_crop: requested crop size"):
            T.five_crop(x, (ch, cw))
        return
    tl, tr, bl, br, cc = T.five_crop(x, (ch, cw))
    np.testing.assert_array_equal(tl, x[..., :ch, :cw])
    np.testing.assert_array_equal(tr, x[..., :ch, w - cw :])
    np.testing.assert_array_equal(bl, x[..., h - ch :, :cw])
    np.testing.assert_array_equal(br, x[..., h - ch :, w - cw :])
    top, left = int(round((h - ch) / 2)), int(round((w - cw) / 2))
    np.testing.assert_array_equal(cc, x[..., top : top + ch, left : left + cw])
    ten = T.ten_crop(x, (ch, cw), vertical_flip=vertical)
    flipped = x[..., ::-1, :] if vertical else x[..., ::-1]
    assert len(ten) == 10
    for a, b in zip(ten, (tl, tr, bl, br, cc) + T.five_crop(flipped, (ch, cw))):
        np.testing.assert_array_equal(a, b)


def test_five_crop_and_ten_crop_transforms_with_masks_and_single_images():
    x, mask = labelled(n=3, h=7, w=9)
    crops, mcrops = T.FiveCrop(4)(x, mask)
    assert len(crops) == len(mcrops) == 5
    for c, m in zip(crops, mcrops):
        assert c.shape == (3, 2, 4, 4) and m.shape == (3, 4, 4)
        np.testing.assert_array_equal(c[:, 0], m)
    ten = T.TenCrop((3, 5), vertical_flip=True)(x)
    assert len(ten) == 10 and ten[5].shape == (3, 2, 3, 5)
    np.testing.assert_array_equal(ten[5], x[:, :, ::-1][:, :, :3, :5])
    single, single_masks = T.TenCrop([4])(x[0], mask[0])
    np.testing.assert_array_equal(single[9], T.ten_crop(x, 4)[9][0])
    np.testing.assert_array_equal(single_masks[0], mask[0, :4, :4])
    stacked = T.Compose([T.FiveCrop(4), T.Lambda(lambda cs: np.stack(cs, 1))])(x)
    assert stacked.shape == (3, 5, 2, 4, 4)  # torchvision's idiom: stack, then fold into N
    assert repr(T.TenCrop(3)) == "TenCrop(size=(3, 3), vertical_flip=False)"


def test_center_crop_and_pad_functional_forms():
    x = batch(n=2, h=5, w=6)
    np.testing.assert_array_equal(T.center_crop(x, 3), x[..., 1:4, 2:5])  # round(1.5) = 2
    np.testing.assert_array_equal(T.center_crop(x, (5, 6)), x)
    big = T.center_crop(x, (8, 7))  # padded with zeros first, the odd pixel bottom / right
    np.testing.assert_array_equal(big, np.pad(x, ((0, 0), (0, 0), (1, 2), (0, 1))))
    np.testing.assert_array_equal(T.center_crop(x[0, 0], 3), x[0, 0, 1:4, 2:5])  # (H, W)
    np.testing.assert_array_equal(T.CenterCrop((8, 7)).apply(x, None, None)[0], big)
    for mode in ("edge", "reflect", "symmetric"):  # (left/right, top/bottom), numpy's modes
        want = np.pad(x, ((0, 0), (0, 0), (2, 2), (1, 1)), mode)
        np.testing.assert_array_equal(T.pad(x, (1, 2), padding_mode=mode), want)
    padded = T.pad(x[0], (1, 0, 2, 3), fill=(0.1, 0.2, 0.3))  # (left, top, right, bottom)
    assert padded.shape == (3, 8, 9)
    np.testing.assert_array_equal(padded[:, :5, 1:7], x[0])
    np.testing.assert_allclose(padded[:, 7, 0], [0.1, 0.2, 0.3])
    np.testing.assert_array_equal(T.pad(x[0, 0], 1), np.pad(x[0, 0], 1))
    with pytest.raises(ValueError, match="pad: padding_mode must be one of"):
        T.pad(x, 1, padding_mode="wrap")


# --------------------------------------------------------------------------- pixel values


def test_rgb_to_grayscale_is_the_luma_in_the_images_dtype():
    x = batch(n=2)
    gray = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    np.testing.assert_allclose(T.rgb_to_grayscale(x), gray[:, None])
    np.testing.assert_allclose(T.to_grayscale(x[0], 3), np.repeat(gray[0][None], 3, 0))
    xu = (x * 255).astype(np.uint8)
    xf = xu.astype(np.float64)
    want = (0.2989 * xf[:, 0] + 0.587 * xf[:, 1] + 0.114 * xf[:, 2]).astype(np.uint8)
    np.testing.assert_array_equal(T.rgb_to_grayscale(xu)[:, 0], want)  # truncated
    np.testing.assert_array_equal(T.rgb_to_grayscale(xu[:, :1]), xu[:, :1])
    with pytest.raises(ValueError, match=r"rgb_to_grayscale: expected 1- or 3-channel.*\(2, 2,"):
        T.rgb_to_grayscale(x[:, :2])
    with pytest.raises(ValueError, match="num_output_channels must be 1 or 3"):
        T.rgb_to_grayscale(x, 2)


def test_erase_sets_a_window_per_image_or_per_item():
    x = batch(n=3, h=6, w=7)
    out = T.erase(x, 1, 2, 3, 4, 0.5)
    want = x.copy()
    want[..., 1:4, 2:6] = 0.5
    np.testing.assert_array_equal(out, want)
    assert not (x == 0.5).any()  # a copy
    i, j, h, w = np.array([0, 2, 5]), np.array([1, 0, 3]), np.array([2, 3, 1]), np.array([5, 2, 0])
    v = np.array([7.0, 8.0, 9.0]).reshape(3, 1, 1)  # one value per channel
    out = T.erase(x, i, j, h, w, v)
    want = x.copy()
    for k in range(3):  # the loop reference
        for r in range(i[k], i[k] + h[k]):
            for c in range(j[k], j[k] + w[k]):
                want[k, :, r, c] = [7, 8, 9]
    np.testing.assert_array_equal(out, want)
    y = x.copy()
    assert T.erase(y, 0, 0, 1, 1, -1.0, inplace=True) is y and y[0, 0, 0, 0] == -1.0


def test_normalize_functional():
    x = batch(n=2, dtype=np.float32)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    want = (x - np.reshape(mean, (3, 1, 1))) / np.reshape(std, (3, 1, 1))
    np.testing.assert_allclose(T.normalize(x, mean, std), want, atol=1e-6)
    np.testing.assert_allclose(T.normalize(x, mean, std), T.Normalize(mean, std)(x), atol=1e-6)
    y = x.copy()
    assert T.normalize(y, 0.5, 0.5, inplace=True) is y
    np.testing.assert_allclose(y, (x - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(TypeError, match="normalize: expected float images, got uint8"):
        T.normalize(x.astype(np.uint8), mean, std)
    with pytest.raises(ValueError, match="normalize: std .* has a zero"):
        T.normalize(x, mean, (1.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"one per channel for images of shape \(2, 3, 7, 8\)"):
        T.normalize(x, (0.1, 0.2), (1.0, 1.0))


@SETTINGS
@given(values=st.lists(st.integers(0, 255), min_size=1, max_size=20))
def test_convert_image_dtype_follows_torchvisions_scaling(values):
    u8 = np.array(values, dtype=np.uint8).reshape(1, 1, 1, -1)
    f = T.convert_image_dtype(u8, np.float32)
    assert f.dtype == np.float32
    np.testing.assert_allclose(f, u8 / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(T.convert_image_dtype(f, np.uint8), u8)  # round trip
    i16 = T.convert_image_dtype(u8, np.int16)  # wider: times 32768 // 256 = 128
    np.testing.assert_array_equal(i16, u8.astype(np.int16) * 128)
    np.testing.assert_array_equal(T.convert_image_dtype(i16, np.uint8), u8)
    out = T.ConvertImageDtype(np.float64)(u8)
    assert out.dtype == np.float64


def test_convert_image_dtype_edges_and_errors():
    f = np.array([0.0, 0.5, 0.999, 1.0], dtype=np.float32).reshape(1, 1, 1, 4)
    np.testing.assert_array_equal(T.convert_image_dtype(f, np.uint8).ravel(), [0, 127, 255, 255])
    assert T.convert_image_dtype(f, np.float32) is f
    assert T.convert_image_dtype(f, np.float64).dtype == np.float64
    np.testing.assert_array_equal(
        T.convert_image_dtype(np.array([32767, -32768], np.int16), np.int8), [127, -128]
    )
    with pytest.raises(RuntimeError, match="cast from float32 to int32 cannot be performed"):
        T.convert_image_dtype(f, np.int32)
    with pytest.raises(TypeError, match="convert_image_dtype: cannot convert bool"):
        T.convert_image_dtype(f > 0, np.float32)
    x, mask = labelled(n=2)
    y, m = T.ConvertImageDtype("float64")(x, mask)
    assert y.dtype == np.float64 and m is mask


def test_linear_transformation_whitens_with_the_zca_matrix():
    rng = np.random.default_rng(0)
    d = 2 * 3 * 3
    data = rng.standard_normal((400, d)) @ rng.standard_normal((d, d))  # correlated
    mean = data.mean(0)
    cov = np.cov(data, rowvar=False)
    u, s, _ = np.linalg.svd(cov)
    zca = u @ np.diag(1 / np.sqrt(s)) @ u.T
    out = T.LinearTransformation(zca, mean)(data.reshape(400, 2, 3, 3))
    assert out.shape == (400, 2, 3, 3)
    np.testing.assert_allclose(np.cov(out.reshape(400, d), rowvar=False), np.eye(d), atol=1e-8)
    xu = rng.integers(0, 256, (2, 2, 3, 3)).astype(np.uint8)  # torchvision's row-vector product
    got = T.LinearTransformation(zca, mean)(xu)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.reshape(2, d), (xu.reshape(2, d) - mean) @ zca, rtol=1e-4)
    with pytest.raises(ValueError, match=r"transformation_matrix should be square, got shape"):
        T.LinearTransformation(np.zeros((3, 4)), np.zeros(3))
    with pytest.raises(ValueError, match=r"mean_vector should have shape \(18,\)"):
        T.LinearTransformation(zca, np.zeros(17))
    with pytest.raises(ValueError, match=r"LinearTransformation\(18x18\): images \(1, 2, 3, 4\)"):
        T.LinearTransformation(zca, mean)(np.zeros((1, 2, 3, 4)))


# --------------------------------------------------------------------------- RandomOrder


def test_random_order_draws_an_order_per_item():
    x = batch(n=40, c=1, h=2, w=2)
    add, double = T.Lambda(lambda a: a + 1), T.Lambda(lambda a: 2 * a)
    out = T.RandomOrder([add, double])(x, rng=5)
    orders = np.argsort(np.random.default_rng(5).random((40, 2)), axis=1)
    add_first = orders[:, 0] == 0
    assert 5 < add_first.sum() < 35
    np.testing.assert_allclose(out[add_first], 2 * (x[add_first] + 1))
    np.testing.assert_allclose(out[~add_first], 2 * x[~add_first] + 1)
    np.testing.assert_array_equal(T.RandomOrder([])(x), x)


def test_random_order_moves_masks_and_checks_shapes():
    x, mask = labelled(n=20, h=5, w=6)
    aug = T.RandomOrder([T.Pad((2, 0, 0, 0)), T.RandomHorizontalFlip(1.0)])
    y, m = aug(x, mask, rng=1)
    assert y.shape == (20, 2, 5, 8)
    assert_joint(y, m)
    pad_right = (m[:, :, -2:] == 255).all(axis=(1, 2))  # padded, then flipped
    assert 0 < pad_right.sum() < 20
    with pytest.raises(ValueError, match="RandomOrder: its transforms give different shapes"):
        T.RandomOrder([T.Pad(1), T.CenterCrop(3)])(x, rng=0)


# --------------------------------------------------------------------------- AutoAugment


def test_autoaugment_policies_are_the_papers_tables():
    tables = {p: T.AutoAugment(p).policies for p in T.AutoAugmentPolicy}
    assert all(len(t) == 25 for t in tables.values())
    # entries as printed in Cubuk et al. (2019), appendix, and torchvision's _get_policies
    imagenet, cifar, svhn = (tables[T.AutoAugmentPolicy[k]] for k in ("IMAGENET", "CIFAR10",
                                                                          "SVHN"))  # fmt: skip
    assert imagenet[0] == (("Posterize", 0.4, 8), ("Rotate", 0.6, 9))
    assert imagenet[13] == (("Invert", 0.6, None), ("Equalize", 1.0, None))
    assert imagenet[24] == (("Equalize", 0.8, None), ("Equalize", 0.6, None))
    assert cifar[0] == (("Invert", 0.1, None), ("Contrast", 0.2, 6))
    assert cifar[21] == (("TranslateY", 0.9, 9), ("TranslateY", 0.7, 9))
    assert svhn[0] == (("ShearX", 0.9, 4), ("Invert", 0.2, None))
    assert svhn[15] == (("Invert", 0.8, None), ("TranslateY", 0.0, 2))
    # every entry: fingerprints of torchvision's tables (_get_policies, checked entry by entry
    # against its source), position-weighted so that a changed, swapped or moved entry shows
    expect = {
        "IMAGENET": (11256.0, 976950),
        "CIFAR10": (10875.0, 1168556),
        "SVHN": (11521.0, 959899),
    }
    for key, (by_value, by_name) in expect.items():
        ops = [op for sub in tables[T.AutoAugmentPolicy[key]] for op in sub]
        assert round(sum((i + 1) * (10 * p + (-1 if b is None else b))
                         for i, (_, p, b) in enumerate(ops)), 6) == by_value, key  # fmt: skip
        assert sum((i + 1) * sum(map(ord, name)) for i, (name, _, _) in enumerate(ops)) == by_name
    space = T.AutoAugment._augmentation_space((8, 8))
    for table in tables.values():
        for sub in table:
            for name, p, level in sub:
                assert name in space and 0 <= p <= 1 and (level is None or 0 <= level <= 9)
                assert (level is None) == (len(space[name][0]) == 1), name
    assert T.AutoAugment("svhn").policy is T.AutoAugmentPolicy.SVHN
    assert repr(T.AutoAugment()).startswith("AutoAugment(policy=<AutoAugmentPolicy.IMAGENET")


def one_op(name, x, mask, m, interpolation="nearest"):
    """One op of the augmentation space on one item (x (1, C, H, W))."""
    if name == "Invert":
        return T.invert(x), mask
    return _apply_op(name, x, mask, np.array([m]), interpolation, None, 255)


@pytest.mark.parametrize("policy", list(T.AutoAugmentPolicy))
def test_autoaugment_equals_its_sub_policies_applied_item_by_item(policy):
    x, mask = labelled(n=24, h=10, w=10, seed=1)
    x = x / 20.0
    aug = T.AutoAugment(policy)
    out, out_mask = aug(x, mask, rng=9)
    rng = np.random.default_rng(9)  # the transform's draws, in its order
    tid = rng.integers(25, size=24)
    probs, signs = rng.random((24, 2)), rng.integers(2, size=(24, 2))
    space = T.AutoAugment._augmentation_space((10, 10))
    applied = 0
    for i in range(24):
        y, m = x[i : i + 1], mask[i : i + 1]
        for slot, (name, p, level) in enumerate(aug.policies[tid[i]]):
            if probs[i, slot] <= p:
                mags, signed = space[name]
                mag = 0.0 if level is None else mags[level]
                mag = -mag if signed and signs[i, slot] == 0 else mag
                y, m = one_op(name, y, m, mag)
                applied += 1
        np.testing.assert_allclose(out[i], y[0], atol=1e-12)
        np.testing.assert_array_equal(out_mask[i], m[0])
    assert applied > 10


def test_autoaugment_dtypes_and_errors():
    xu = (batch(n=16, h=9, w=9) * 255).astype(np.uint8)
    out = T.AutoAugment(T.AutoAugmentPolicy.CIFAR10)(xu, rng=0)
    assert out.dtype == np.uint8 and out.shape == xu.shape and not np.array_equal(out, xu)
    with pytest.raises(ValueError, match="AutoAugment: policy must be one of"):
        T.AutoAugment("mnist")


# --------------------------------------------------------------------------- AugMix


def test_augmix_space_is_torchvisions():
    space = T.AugMix()._augmentation_space((9, 12))
    assert set(space) == {"ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Posterize",
                          "Solarize", "AutoContrast", "Equalize", "Brightness", "Color",
                          "Contrast", "Sharpness"}  # fmt: skip
    assert len(T.AugMix(all_ops=False)._augmentation_space((9, 12))) == 9
    np.testing.assert_allclose(space["TranslateX"][0], np.linspace(0, 4.0, 10))  # W / 3
    np.testing.assert_allclose(space["TranslateY"][0], np.linspace(0, 3.0, 10))  # H / 3
    np.testing.assert_array_equal(space["Posterize"][0], [4, 4, 3, 3, 2, 2, 1, 1, 0, 0])
    np.testing.assert_allclose(space["Rotate"][0], np.linspace(0, 30, 10))


def test_augmix_draws_are_in_their_bounds():
    aug = T.AugMix(severity=2, mixture_width=4)
    m, w, depth, op, mag = aug.get_params(3000, (9, 9), np.random.default_rng(0))
    np.testing.assert_allclose(m.sum(1), 1)
    np.testing.assert_allclose(w.sum(1), 1)
    assert m.shape == (3000, 2) and w.shape == (3000, 4) and op.shape == (3000, 4, 3)
    assert set(np.unique(depth)) == {1, 2, 3}
    names = list(aug._augmentation_space((9, 9)))
    rot = np.abs(mag[op == names.index("Rotate")])
    np.testing.assert_allclose(np.unique(rot), [0, 30 / 9])  # bins 0 and 1 only: severity 2
    shear = mag[op == names.index("ShearX")]
    assert (shear < 0).any() and (shear > 0).any()  # signed
    assert (T.AugMix(chain_depth=2).get_params(5, (9, 9), np.random.default_rng(0))[2] == 2).all()


@pytest.mark.parametrize("dtype", [np.float64, np.uint8])
def test_augmix_equals_its_chains_mixed_item_by_item(dtype):
    x = batch(n=6, h=9, w=9, seed=2)
    x = (x * 255).astype(np.uint8) if dtype == np.uint8 else x
    aug = T.AugMix(severity=4, interpolation="bilinear")
    out = aug(x, rng=11)
    assert out.dtype == x.dtype
    m, w, depth, op, mag = aug.get_params(6, (9, 9), np.random.default_rng(11))
    names = list(aug._augmentation_space((9, 9)))
    work = np.float64 if dtype == np.float64 else np.float32
    for i in range(6):
        mix = work(m[i, 0]) * x[i : i + 1]
        for c in range(3):
            y = x[i : i + 1]
            for s in range(depth[i, c]):
                y = one_op(names[op[i, c, s]], y, None, mag[i, c, s], "bilinear")[0]
            mix = mix + work(m[i, 1] * w[i, c]) * y
        np.testing.assert_allclose(out[i], mix[0].astype(dtype), atol=1e-12)


def test_augmix_errors_and_masks():
    for bad in (0, 11):
        with pytest.raises(ValueError, match=r"AugMix: severity must be in \[1, 10\]"):
            T.AugMix(severity=bad)
    with pytest.raises(ValueError, match="AugMix: mixture_width must be >= 1 and alpha > 0"):
        T.AugMix(alpha=0.0)
    x, mask = labelled(n=2)
    with pytest.raises(ValueError, match=r"AugMix: .*no single mask.*\(2, 10, 10\)"):
        T.AugMix()(x / 20, mask)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_transform_and_the_shapes():
    x = batch(n=2, h=6, w=7)
    corners = image_corners(7, 6)
    with pytest.raises(ValueError, match=r"perspective: endpoints must be four .*\(3, 2\)"):
        T.perspective(x, corners, corners[:3])
    with pytest.raises(ValueError, match="perspective: the corners do not define"):
        T.perspective(x, corners, np.zeros((4, 2)))
    with pytest.raises(ValueError, match="perspective: interpolation must be"):
        T.perspective(x, corners, corners, "bicubic")
    with pytest.raises(ValueError, match=r"perspective: fill must be .* \(2, 3, 6, 7\)"):
        T.perspective(x, corners, corners, fill=(1, 2))
    shapes = r"shape \(1, 6, 7, 2\) or \(2, 6, 7, 2\).*got \(1, 7, 6, 2\)"
    with pytest.raises(ValueError, match="elastic_transform: displacement must have " + shapes):
        T.elastic_transform(x, np.zeros((1, 7, 6, 2)))
    with pytest.raises(ValueError, match="RandomPerspective: distortion_scale and p must be in"):
        T.RandomPerspective(distortion_scale=1.5)
    with pytest.raises(ValueError, match="ElasticTransform: alpha must be a number or a pair"):
        T.ElasticTransform(alpha=(1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match=r"ElasticTransform: sigma \(5.0, 5.0\) blurs with 41 "
                       r"taps, .* larger than 20 pixels a side, got size \(6, 7\)"):  # fmt: skip
        T.ElasticTransform()(x)  # sigma 5: a 41-tap blur needs sides over 20, as torchvision
    assert T.ElasticTransform()(batch(n=1, h=21, w=21), rng=0).shape == (1, 3, 21, 21)
    with pytest.raises(ValueError, match="ElasticTransform: sigma must be >= 0, and both 0"):
        T.ElasticTransform(sigma=(0.0, 2.0))  # torchvision fails inside its blur
    with pytest.raises(ValueError, match="FiveCrop: size must be a positive int"):
        T.FiveCrop((1, 2, 3))
    with pytest.raises(ValueError, match=r"five_crop: requested crop size \(7, 7\) .* \(6, 7\)"):
        T.FiveCrop(7)(x)
    with pytest.raises(ValueError, match=r"RandomPerspective: expected images"):
        T.RandomPerspective()(np.zeros((2, 3)))


def test_empty_batches_pass_through():
    # a DataLoader's last batch after filtering can be empty; RandomOrder and
    # LinearTransformation used to fail on it (no order drawn; x[0] of nothing)
    x, mask = np.zeros((0, 3, 24, 24), np.float32), np.zeros((0, 24, 24), np.int64)
    d = 3 * 24 * 24
    for t in (T.RandomPerspective(p=1.0), T.ElasticTransform(sigma=2.0), T.AutoAugment(),
              T.RandomOrder([T.Pad(1), T.RandomHorizontalFlip()]),
              T.LinearTransformation(np.eye(d), np.zeros(d))):  # fmt: skip
        y, m = t(x, mask, rng=0) if not isinstance(t, T.LinearTransformation) else (t(x), mask)
        assert y.shape[0] == 0 and m.shape[0] == 0, t
    assert T.RandomOrder([T.Pad(1), T.RandomHorizontalFlip()])(x, rng=0).shape == (0, 3, 26, 26)
    assert T.AugMix()(x, rng=0).shape == x.shape and len(T.TenCrop(8)(x)) == 10
    corners = image_corners(24, 24)
    assert T.perspective(x, corners, corners + 1).shape == x.shape


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_cupy_gives_the_numpy_results():
    import cupy

    x, mask = labelled(n=4, h=12, w=12)
    x = x / 20.0
    corners = image_corners(12, 12)
    end = corners + [[1.5, 0.5], [-1, 2], [-2, -1], [0.5, -1.5]]
    disp = np.random.default_rng(0).uniform(-0.2, 0.2, (4, 12, 12, 2))
    cases = [lambda a, m: T.perspective(a, corners, end, fill=0.3),
             lambda a, m: T.elastic_transform(a, disp, "nearest"),
             lambda a, m: T.RandomPerspective(p=1.0)(a, m, rng=0),
             lambda a, m: T.ElasticTransform(alpha=20.0, sigma=1.0)(a, m, rng=0),
             lambda a, m: T.AutoAugment(T.AutoAugmentPolicy.SVHN)(a, m, rng=0),
             lambda a, m: T.AugMix()(a, rng=0),
             lambda a, m: T.RandomOrder([T.Pad(1), T.RandomVerticalFlip(1.0)])(a, m, rng=0),
             lambda a, m: T.FiveCrop(5)(a, m),
             lambda a, m: T.erase(a, np.arange(4), 1, 2, 3, 0.0)]  # fmt: skip
    for case in cases:
        want, got = case(x, mask), case(cupy.asarray(x), cupy.asarray(mask))
        want = want if isinstance(want, tuple) else (want,)
        got = got if isinstance(got, tuple) else (got,)
        flat = lambda t: [b for a in t for b in (a if isinstance(a, tuple) else (a,))]  # noqa: E731
        for a, b in zip(flat(want), flat(got)):
            np.testing.assert_allclose(cupy.asnumpy(b), a, atol=1e-9)
