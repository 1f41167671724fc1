"""Batch transforms: identities, agreement with np.rot90 / plain loops / PyTorch, joint
image-mask consistency and reproducibility from a seed; the fast gathers give the same bytes as
the fancy-index gathers they replaced."""

from __future__ import annotations

import functools
import inspect
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minitorch_cv.backend import xp_of
from minitorch_cv.data import transforms as T
from tests.strategies_core import SETTINGS


def batch(n=4, c=3, h=8, w=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, c, h, w)).astype(np.float32)


def labelled(n=6, h=10, w=10, seed=0):
    """Images whose channel 0 equals the mask: any joint geometric change keeps them equal."""
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 21, (n, h, w))
    x = np.stack([mask, rng.integers(0, 9, (n, h, w))], axis=1).astype(np.float32)
    return x, mask


def assert_joint(x, mask, fill=0.0, mask_fill=255):
    inside = mask != mask_fill
    np.testing.assert_array_equal(x[:, 0][inside], mask[inside])
    np.testing.assert_array_equal(x[:, 0][~inside], fill)


def test_flip_twice_is_identity_and_p0_does_nothing():
    x = batch()
    once = T.RandomHorizontalFlip(1.0)(x)
    np.testing.assert_array_equal(once, x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(once), x)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x), x)


def test_flip_moves_image_and_mask_together():
    x, mask = labelled(n=32)
    y, m = T.RandomHorizontalFlip(0.5, rng=0)(x, mask)
    flipped = (m != mask).any(axis=(1, 2))
    assert 0 < flipped.sum() < 32
    np.testing.assert_array_equal(m[flipped], mask[flipped][..., ::-1])
    assert_joint(y, m)


def test_rotation_by_zero_is_identity():
    x, mask = labelled()
    for interp in ("nearest", "bilinear"):
        np.testing.assert_allclose(T.rotate(x, 0.0, interp), x, atol=1e-6)
    np.testing.assert_array_equal(T.rotate(mask, np.zeros(len(mask))), mask)
    y, m = T.RandomRotation((0, 0), rng=1)(x, mask)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_array_equal(m, mask)


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("k", [1, 2, 3, -1])
def test_rotation_by_multiples_of_90_matches_rot90(size, k):
    x = batch(h=size, w=size)
    want = np.rot90(x, k, axes=(-2, -1))
    np.testing.assert_array_equal(T.rotate(x, 90.0 * k, "nearest"), want)
    np.testing.assert_allclose(T.rotate(x, 90.0 * k, "bilinear"), want, atol=1e-5)
    mask = np.arange(size * size).reshape(1, size, size)
    np.testing.assert_array_equal(T.rotate(mask, [90.0 * k]), np.rot90(mask, k, axes=(-2, -1)))


def rotate_loop(img, angle, fill=0.0):
    """Nearest-neighbour rotation of one (C, H, W) image, pixel by pixel (the reference)."""
    c, h, w = img.shape
    out = np.full(img.shape, fill, dtype=img.dtype)
    t = np.deg2rad(angle)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    for i in range(h):
        for j in range(w):
            r = cy + np.cos(t) * (i - cy) + np.sin(t) * (j - cx)
            q = cx - np.sin(t) * (i - cy) + np.cos(t) * (j - cx)
            r, q = int(np.rint(r)), int(np.rint(q))
            if 0 <= r < h and 0 <= q < w:
                out[:, i, j] = img[:, r, q]
    return out


def test_rotation_matches_a_pixel_loop_at_any_angle():
    x = batch(n=3, h=9, w=12)
    angles = np.array([17.0, -33.5, 141.0])
    got = T.rotate(x, angles, "nearest", fill=-1.0)
    for i in range(3):
        np.testing.assert_array_equal(got[i], rotate_loop(x[i], angles[i], fill=-1.0))


def test_bilinear_rotation_of_a_constant_image_is_constant_inside():
    x = np.full((2, 1, 16, 16), 0.7, np.float32)
    y = T.rotate(x, [30.0, -45.0], "bilinear", fill=0.7)
    np.testing.assert_allclose(y, 0.7, atol=1e-6)


def test_random_rotation_keeps_image_and_mask_together():
    x, mask = labelled(n=8)
    y, m = T.RandomRotation(40, rng=3)(x, mask)
    assert (m == 255).any()
    assert_joint(y, m)


def crop_loop(x, top, left, h, w):
    return np.stack([x[i, ..., top[i] : top[i] + h, left[i] : left[i] + w] for i in range(len(x))])


def test_crop_matches_slicing():
    x, mask = batch(n=5, h=9, w=11), labelled(n=5, h=9, w=11)[1]
    top, left = np.array([0, 1, 2, 3, 4]), np.array([5, 0, 3, 1, 2])
    np.testing.assert_array_equal(T.crop(x, top, left, 5, 6), crop_loop(x, top, left, 5, 6))
    np.testing.assert_array_equal(T.crop(mask, top, left, 5, 6), crop_loop(mask, top, left, 5, 6))


def test_random_crop_with_padding_is_a_window_of_the_padded_batch():
    x, mask = labelled(n=10, h=8, w=8)
    y, m = T.RandomCrop(8, padding=2, rng=4)(x, mask)
    assert y.shape == x.shape and m.shape == mask.shape
    assert_joint(y, m)
    padded = np.pad(mask, ((0, 0), (2, 2), (2, 2)), constant_values=255)
    for i in range(10):
        windows = [padded[i, a : a + 8, b : b + 8] for a in range(5) for b in range(5)]
        assert any(np.array_equal(m[i], win) for win in windows)
    np.testing.assert_array_equal(T.RandomCrop(8)(x), x)  # no padding, full size: identity


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [(2, 1), (0, 3, 1, 2)])
def test_random_crop_pads_in_torchvision_order_and_modes(mode, padding):
    x, mask = labelled(n=8, h=6, w=7)
    left, top, right, bottom = padding * 2 if len(padding) == 2 else padding
    spec = ((0, 0), (top, bottom), (left, right))
    kw = {"constant_values": 0} if mode == "constant" else {}
    padded = np.pad(x[:, 0], spec, mode=mode, **kw)
    y, m = T.RandomCrop((6, 7), padding=padding, padding_mode=mode, rng=1)(x, mask)
    for i in range(8):  # channel 0 is the mask, so every window is found in both
        wins = [(a, b) for a in range(top + bottom + 1) for b in range(left + right + 1)
                if np.array_equal(padded[i, a : a + 6, b : b + 7], y[i, 0])]  # fmt: skip
        assert wins, f"item {i}: not a window of the {mode}-padded image"
    if mode == "constant":
        assert_joint(y, m)
    else:
        np.testing.assert_array_equal(y[:, 0], m)


def test_random_crop_pad_if_needed_pads_the_shortfall_on_both_sides():
    x = batch(n=3, h=5, w=8)
    y = T.RandomCrop((9, 6), pad_if_needed=True, fill=(1.0, 2.0, 3.0), rng=0)(x)
    assert y.shape == (3, 3, 9, 6)
    # as torchvision: 4 rows short, so 4 above and 4 below (13 rows), then a 9-row window;
    # every window keeps some padding rows, which hold the per-channel fill
    border = np.all(y == np.array([1.0, 2.0, 3.0], np.float32)[:, None, None], axis=(1, 3))
    assert border.any(axis=1).all()
    with pytest.raises(ValueError, match=r"pad_if_needed=True"):
        T.RandomCrop((9, 6))(x)


def test_per_channel_fill_of_pad_center_crop_rotation_and_erasing():
    x = batch(n=2, h=4, w=4)
    fill = (0.25, 0.5, 0.75)
    colour = np.array(fill, np.float32)[None, :, None, None]
    y = T.Pad((1, 2), fill=fill)(x)
    np.testing.assert_array_equal(y[:, :, :2], np.broadcast_to(colour, (2, 3, 2, 6)))
    np.testing.assert_array_equal(y[:, :, 2:6, 1:5], x)
    y = T.CenterCrop(6, fill=fill)(x)
    np.testing.assert_array_equal(y[:, :, 0], np.broadcast_to(colour[..., 0], (2, 3, 6)))
    y = T.rotate(x, 45.0, fill=fill)  # the corners come from outside the input
    np.testing.assert_array_equal(y[:, :, 0, 0], np.broadcast_to(colour[:, :, 0, 0], (2, 3)))
    y = T.RandomErasing(p=1.0, value=fill, rng=0)(x)
    erased = y != x
    assert erased.any()
    np.testing.assert_array_equal(y[erased], np.broadcast_to(colour, x.shape)[erased])
    for bad in (T.Pad(1, fill=(1.0, 2.0)), T.RandomCrop(4, padding=1, fill=(0, 0)),
                T.RandomRotation(10, fill=(1, 2)), T.RandomErasing(1.0, value=(1, 2))):  # fmt: skip
        with pytest.raises(ValueError, match=r"fill must be a number or one per channel \(3\)"):
            bad(x)


def test_random_crop_too_large_is_an_error():
    with pytest.raises(ValueError, match=r"RandomCrop\(size=\(12, 12\).*smaller than the crop"):
        T.RandomCrop(12, padding=1)(batch())


def test_resize_same_size_is_identity_and_nearest_doubling_repeats():
    x, mask = batch(), labelled()[1]
    np.testing.assert_allclose(T.resize(x, 8), x, atol=1e-6)
    np.testing.assert_array_equal(T.resize(mask, (20, 20)), mask.repeat(2, 1).repeat(2, 2))
    y, m = T.Resize((5, 13))(*labelled())
    assert y.shape == (6, 2, 5, 13) and m.shape == (6, 5, 13)
    assert_joint(T.Resize(17, "nearest")(*labelled())[0], T.resize(labelled()[1], 17))


@pytest.mark.parametrize("out", [(4, 4), (13, 6), (16, 24)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_resize_matches_torch_interpolate(out, mode):
    torch = pytest.importorskip("torch")
    x = batch(n=2, h=8, w=12)
    kw = {"align_corners": False} if mode == "bilinear" else {}
    want = torch.nn.functional.interpolate(torch.from_numpy(x), size=out, mode=mode, **kw).numpy()
    np.testing.assert_allclose(T.resize(x, out, mode, antialias=False), want, atol=1e-5)


def test_normalize_per_channel():
    x = batch()
    y = T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.5))(x)
    np.testing.assert_allclose(y[:, 1], (x[:, 1] - 0.4) / 0.25, rtol=1e-6)
    assert y.dtype == np.float32
    with pytest.raises(ValueError, match=r"Normalize\(3 channels\).*1 channels"):
        T.Normalize((0.5, 0.4, 0.3), (1, 1, 1))(batch(c=1))
    with pytest.raises(ValueError, match="non-zero"):
        T.Normalize(0.5, 0.0)


def test_same_seed_same_augmentation_and_compose_order():
    x, mask = labelled(n=16)
    pipeline = [T.RandomCrop(10, padding=3), T.RandomHorizontalFlip(), T.RandomRotation(25)]
    a = T.Compose(pipeline)(x, mask, rng=np.random.default_rng(7))
    b = T.Compose(pipeline)(x, mask, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # Compose = the transforms one after the other on one generator
    rng = np.random.default_rng(7)
    y, m = x, mask
    for t in pipeline:
        y, m = t(y, m, rng=rng)
    np.testing.assert_array_equal(a[0], y)
    np.testing.assert_array_equal(a[1], m)
    assert_joint(*a)


def test_single_image_and_plain_callables():
    x, mask = labelled(n=1)
    y, m = T.Compose([T.RandomHorizontalFlip(1.0), lambda im, mk: (im + 0, mk)])(x[0], mask[0])
    assert y.shape == x[0].shape and m.shape == mask[0].shape
    np.testing.assert_array_equal(m, mask[0][:, ::-1])


def test_shape_errors_name_the_transform():
    with pytest.raises(ValueError, match=r"RandomHorizontalFlip: expected images \(N, C, H, W\)"):
        T.RandomHorizontalFlip()(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"RandomCrop: mask of shape \(4, 9, 9\)"):
        T.RandomCrop(4)(batch(), np.zeros((4, 9, 9), np.int64))
    with pytest.raises(ValueError, match="interpolation"):
        T.RandomRotation(10, interpolation="cubic")


# --------------------------------------------------------------------------- flips, pad, crops


def test_vertical_flip_moves_image_and_mask_together():
    x, mask = labelled()
    y, m = T.RandomVerticalFlip(p=1.0)(x, mask)
    np.testing.assert_array_equal(y, x[:, :, ::-1])
    assert_joint(y, m)
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=0.0)(x), x)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric"])
@pytest.mark.parametrize("padding", [2, (1, 3), (1, 2, 3, 0)])
def test_pad_takes_torchvision_order_and_modes(mode, padding):
    x, mask = labelled(h=6, w=7)
    left, top, right, bottom = {2: (2, 2, 2, 2), (1, 3): (1, 3, 1, 3)}.get(padding, padding)
    y, m = T.Pad(padding, fill=0.0, padding_mode=mode)(x, mask)
    kw = {"constant_values": 0} if mode == "constant" else {}
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)),
                                            mode=mode, **kw))  # fmt: skip
    assert m.shape == y[:, 0].shape
    if mode == "constant":
        assert_joint(y, m)
    else:
        np.testing.assert_array_equal(y[:, 0], m)  # other modes move mask pixels alike


@pytest.mark.parametrize("size", [(4, 4), (3, 6), (5, 2), (10, 12)])
def test_center_crop_takes_the_middle_as_torchvision(size):
    x, mask = labelled(h=7, w=8)
    y, m = T.CenterCrop(size)(x, mask)
    assert y.shape[2:] == size and m.shape[1:] == size
    h, w = size
    if h <= 7 and w <= 8:
        top, left = int(round((7 - h) / 2)), int(round((8 - w) / 2))
        np.testing.assert_array_equal(y, x[:, :, top : top + h, left : left + w])
    assert_joint(y, m)  # padding (when larger) fills images with 0, masks with 255


def test_resized_crop_equals_crop_then_resize_per_item():
    x, mask = batch(n=5, h=12, w=10), labelled(n=5, h=12, w=10)[1]
    box = (np.array([0, 3, 5, 1, 2]), np.array([0, 2, 1, 4, 0]),
           np.array([12, 5, 7, 3, 10]), np.array([10, 8, 4, 6, 1]))  # fmt: skip
    for mode, aa in itertools.product(("bilinear", "nearest"), (True, False)):
        got = T.resized_crop(x, *box, (6, 9), mode, antialias=aa)
        got_mask = T.resized_crop(mask, *box, (6, 9))
        for i, (t, l, h, w) in enumerate(zip(*box)):
            one = T.resize(x[i : i + 1, :, t : t + h, l : l + w], (6, 9), mode, antialias=aa)
            np.testing.assert_allclose(got[i], one[0], rtol=1e-6, atol=1e-6)
            want = T.resize(mask[i : i + 1, t : t + h, l : l + w], (6, 9))
            np.testing.assert_array_equal(got_mask[i], want[0])


def test_random_resized_crop_draws_boxes_by_torchvision_rules():
    t = T.RandomResizedCrop(8, scale=(0.2, 0.6), ratio=(0.5, 2.0))
    top, left, h, w = t.boxes(2000, 30, 40, np.random.default_rng(0))
    assert (
        (top >= 0).all() and (left >= 0).all() and (top + h <= 30).all() and (left + w <= 40).all()
    )
    frac = h * w / 1200
    assert 0.15 < frac.min() and frac.max() < 0.66  # scale, give or take the rounding of sides
    aspect = w / h
    assert 0.4 < aspect.min() and aspect.max() < 2.3
    # nothing fits (a scale above 1 of a narrow image): the centred fallback, ratio clipped
    top, left, h, w = T.RandomResizedCrop(4, scale=(2.0, 3.0), ratio=(1.0, 1.0)).boxes(
        3, 10, 30, np.random.default_rng(1))  # fmt: skip
    assert (h == 10).all() and (w == 10).all() and (left == 10).all() and (top == 0).all()
    x, mask = labelled(n=8, h=16, w=16)
    y, m = T.RandomResizedCrop(12, interpolation="nearest", rng=3)(x, mask)
    assert y.shape == (8, 2, 12, 12)
    np.testing.assert_array_equal(y[:, 0], m)  # image and mask cut from the same window


# --------------------------------------------------------------------------- colour, erasing


def _jitter_one(img, factors, order, ops):
    """One image, the textbook way: the four adjustments in the drawn order, HSV via colorsys."""
    import colorsys

    img = img.astype(np.float64)
    gray = lambda a: 0.2989 * a[0] + 0.587 * a[1] + 0.114 * a[2]  # noqa: E731
    for k in order:
        name, f = ops[k], factors[k]
        if name == "brightness":
            img = img * f
        elif name == "contrast":
            img = f * img + (1 - f) * gray(img).mean()
        elif name == "saturation":
            img = f * img + (1 - f) * gray(img)
        else:
            out = np.empty_like(img)
            for i, j in np.ndindex(img.shape[1:]):
                h, s, v = colorsys.rgb_to_hsv(*img[:, i, j])
                out[:, i, j] = colorsys.hsv_to_rgb((h + f) % 1.0, s, v)
            img = out
        img = np.clip(img, 0, 1)
    return img


def test_color_jitter_matches_a_per_image_loop():
    x = batch(n=6, h=5, w=4, seed=4)
    t = T.ColorJitter(brightness=0.4, contrast=0.5, saturation=0.6, hue=0.2)
    got = t(x, rng=np.random.default_rng(7))
    ops = t._ops(x)
    factors, order = t.get_params(ops, len(x), np.random.default_rng(7))
    names = ["brightness", "contrast", "saturation", "hue"]
    for i in range(len(x)):
        want = _jitter_one(x[i], [f[i] for f in factors], order[i], names)
        np.testing.assert_allclose(got[i], want, atol=2e-6)
    assert got.dtype == np.float32


def test_color_jitter_ranges_identity_and_grayscale():
    x = batch(n=3, seed=1)
    np.testing.assert_array_equal(T.ColorJitter()(x), x)  # all off
    gray = batch(n=3, c=1, seed=2)
    y = T.ColorJitter(saturation=0.9, hue=0.4)(gray)  # no colour to change
    np.testing.assert_array_equal(y, gray)
    with pytest.raises(ValueError, match="hue range must lie in"):
        T.ColorJitter(hue=0.7)
    with pytest.raises(ValueError, match="brightness must be >= 0"):
        T.ColorJitter(brightness=-1)


def test_random_erasing_cuts_one_rectangle_within_scale_and_ratio():
    x = batch(n=200, h=20, w=20, seed=5) + 1.0  # no pixel is 0 before erasing
    y = T.RandomErasing(p=1.0, scale=(0.1, 0.3), ratio=(0.5, 2.0), rng=0)(x)
    for i in range(len(x)):
        erased = (y[i] == 0).all(axis=0)
        rows, cols = np.nonzero(erased.any(axis=1))[0], np.nonzero(erased.any(axis=0))[0]
        h, w = len(rows), len(cols)
        assert erased.sum() == h * w  # one full rectangle
        assert 0.07 <= h * w / 400 <= 0.35 and 0.4 <= h / w <= 2.5
        np.testing.assert_array_equal(y[i][:, ~erased], x[i][:, ~erased])
    np.testing.assert_array_equal(T.RandomErasing(p=0.0)(x), x)
    per_channel = T.RandomErasing(p=1.0, value=(1.0, 2.0, 3.0), rng=1)(batch(n=2, seed=6))
    assert set(np.unique(per_channel[:, 1])) >= {2.0}


def test_random_erasing_and_jitter_options_are_checked():
    with pytest.raises(ValueError, match="RandomErasing: p must be in"):
        T.RandomErasing(p=2)
    with pytest.raises(ValueError, match="value must be a number, a tuple or 'random'"):
        T.RandomErasing(value="noise")
    with pytest.raises(ValueError, match="Pad: padding_mode must be one of"):
        T.Pad(1, padding_mode="wrap")
    with pytest.raises(ValueError, match="Pad: reflect padding"):
        T.Pad(8, padding_mode="reflect")(batch(h=8, w=8))


def test_random_crop_takes_torchvisions_none_defaults():
    x = batch(n=2, h=4, w=4)
    np.testing.assert_array_equal(T.RandomCrop(4, padding=None, fill=None)(x), x)
    y = T.Pad(1, fill=None)(x)
    assert y[:, :, 0].sum() == 0.0 and not np.isnan(y).any()


# --------------------------------------------------------------------------- grey, blur, choices


def test_grayscale_is_torchvisions_luma_and_random_grayscale_keeps_channels():
    x = batch(n=5)
    luma = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    g1 = T.Grayscale()(x)
    np.testing.assert_allclose(g1[:, 0], luma, rtol=1e-6)
    assert g1.shape == (5, 1, 8, 8) and g1.dtype == x.dtype
    g3 = T.Grayscale(3)(x)
    assert g3.shape == x.shape and (g3 == g1).all()
    out = T.RandomGrayscale(p=0.5)(x, rng=3)
    grey = np.all(out == out[:, :1], axis=(1, 2, 3))
    assert grey.any() and (~grey).any() and out.shape == x.shape
    np.testing.assert_array_equal(out[~grey], x[~grey])
    np.testing.assert_allclose(out[grey][:, 0], luma[grey], rtol=1e-6)
    assert (T.RandomGrayscale(p=1.0)(x[:, :1]) == x[:, :1]).all()  # grey stays grey
    with pytest.raises(ValueError, match=r"Grayscale: expected 1- or 3-channel images, got "
                                         r"shape \(5, 2, 8, 8\)"):  # fmt: skip
        T.Grayscale()(x[:, :2])


def loop_gaussian_blur(img, k, sigma):
    """One image (C, H, W): the 2-D kernel (outer product of the 1-D Gaussian taps) slid over the
    reflect-padded image, pixel by pixel. k = (kx, ky) and sigma = (sigma_x, sigma_y), width
    first, as torchvision orders them (or one number for both)."""
    (kx, ky), (sx, sy) = np.broadcast_to(k, 2), np.broadcast_to(sigma, 2)

    def taps(size, s):
        t = np.arange(size) - size // 2
        g = np.exp(-0.5 * (t / s) ** 2)
        return g / g.sum()

    kernel = np.outer(taps(ky, sy), taps(kx, sx))  # rows: the height's taps
    c, h, w = img.shape
    padded = np.pad(img, ((0, 0), (ky // 2, ky // 2), (kx // 2, kx // 2)), mode="reflect")
    out = np.zeros_like(img, dtype=np.float64)
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                out[ch, i, j] = (padded[ch, i : i + ky, j : j + kx] * kernel).sum()
    return out


@pytest.mark.parametrize("k", [1, 3, 5, (3, 7), (5, 1)])
def test_gaussian_blur_matches_a_pixel_loop_per_item(k):
    x = batch(n=3, h=7, w=9).astype(np.float64)
    sigmas = np.array([[0.3, 1.0], [1.0, 2.5], [2.5, 0.6]])  # (sigma_x, sigma_y) per item
    got = T.gaussian_blur(x, k, sigmas)
    for i in range(3):
        np.testing.assert_allclose(got[i], loop_gaussian_blur(x[i], k, sigmas[i]), rtol=1e-12)


def test_gaussian_blur_orders_sizes_as_torchvision_and_rounds_integers():
    impulse = np.zeros((1, 1, 9, 9))
    impulse[0, 0, 4, 4] = 1.0
    spread = T.gaussian_blur(impulse, (3, 7), 1.0)[0, 0] > 0  # kx = 3 columns, ky = 7 rows
    assert spread.any(axis=1).sum() == 7 and spread.any(axis=0).sum() == 3
    ones = np.ones((1, 1, 6, 6), dtype=np.uint8)
    assert (T.gaussian_blur(ones, 5, 1.3) == 1).all()  # rounded, not truncated to 0
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 3, 8, 8)).astype(np.uint8)
    want = np.rint(T.gaussian_blur(img.astype(np.float64), 3, 0.8))
    np.testing.assert_array_equal(T.gaussian_blur(img, 3, 0.8), want)
    default = 0.3 * ((5 - 1) * 0.5 - 1) + 0.8  # torchvision's sigma for a 5-tap kernel
    np.testing.assert_allclose(T.gaussian_blur(impulse, 5), T.gaussian_blur(impulse, 5, default))


def test_gaussian_blur_transform_draws_one_sigma_per_item_and_matches_torch():
    x = batch(n=4, h=12, w=12)
    blur = T.GaussianBlur(5, sigma=(0.5, 2.0))
    out = blur(x, rng=7)
    sig = np.random.default_rng(7).uniform(0.5, 2.0, 4)  # the same draws the transform made
    for i in range(4):
        np.testing.assert_allclose(out[i], loop_gaussian_blur(x[i], 5, sig[i]), rtol=1e-5,
                                   atol=1e-6)  # fmt: skip
    mask = np.zeros((4, 12, 12), dtype=np.int64)
    assert blur(x, mask)[1] is mask
    torch = pytest.importorskip("torch")
    # torchvision's tensor path: a (ky, kx) kernel as a depthwise conv over the reflect-padded
    # image, for a non-square kernel and two sigmas
    kx, ky, sx, sy = 3, 5, 0.7, 1.6
    gx = torch.tensor(T.gaussian_kernel1d(kx, [sx])[0])
    gy = torch.tensor(T.gaussian_kernel1d(ky, [sy])[0])
    kernel = torch.outer(gy, gx).expand(3, 1, ky, kx).float()
    padded = torch.nn.functional.pad(torch.from_numpy(x[:1]), (1, 1, 2, 2), mode="reflect")
    want = torch.nn.functional.conv2d(padded, kernel, groups=3).numpy()
    got = T.gaussian_blur(x[:1], (kx, ky), (sx, sy))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gaussian_blur_errors():
    x = batch(h=6, w=6)
    with pytest.raises(ValueError, match="GaussianBlur: kernel_size must be odd and positive"):
        T.GaussianBlur(4)
    with pytest.raises(ValueError, match="gaussian_blur: kernel_size must be odd and positive"):
        T.gaussian_blur(x, 0, 1.0)
    with pytest.raises(ValueError, match="gaussian_blur: kernel_size must be odd"):
        T.gaussian_blur(x, (3, 4), 1.0)
    with pytest.raises(ValueError, match="gaussian_blur: sigma must be > 0"):
        T.gaussian_blur(x, 3, 0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        T.GaussianBlur(3, sigma=(2.0, 1.0))
    with pytest.raises(ValueError, match=r"kernel \(kx, ky\) = \(9, 9\) is too large"):
        T.GaussianBlur(9)(batch(h=4, w=4))


def test_random_apply_and_random_choice_pick_per_item():
    x, mask = labelled(n=40)
    flip = T.RandomHorizontalFlip(p=1.0)
    out, m = T.RandomApply([flip], p=0.5)(x, mask, rng=0)
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped | kept) and 5 < flipped.sum() < 35
    assert_joint(out, m)  # masks follow their images
    choice = T.RandomChoice([flip, T.RandomVerticalFlip(p=1.0)], p=[0.25, 0.75])
    out, m = choice(x, mask, rng=1)
    h = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    v = np.all(out == x[..., ::-1, :], axis=(1, 2, 3))
    assert np.all(h | v) and h.sum() < v.sum()
    assert_joint(out, m)
    np.testing.assert_array_equal(choice(x, mask, rng=1)[0], out)  # one seed, one result
    assert (T.Lambda(lambda b: b * 2)(x) == 2 * x).all()
    with pytest.raises(ValueError, match="RandomApply: its transforms must keep the shape"):
        T.RandomApply([T.CenterCrop(4)], p=0.5)(x)
    with pytest.raises(ValueError, match="RandomChoice: p must give one non-negative weight"):
        T.RandomChoice([flip], p=[0.5, 0.5])
    with pytest.raises(TypeError, match="Lambda: expected a callable"):
        T.Lambda(3)


# --------------------------------------------------------------------------- MixUp and CutMix


def test_mixup_blends_each_item_with_its_neighbour():
    x = batch(n=4)
    labels = np.array([0, 2, 1, 2])
    mixed, soft = T.MixUp(alpha=0.4, num_classes=3)(x, labels, rng=5)
    lam = np.random.default_rng(5).beta(0.4, 0.4)  # the transform's one draw per batch
    np.testing.assert_allclose(mixed, lam * x + (1 - lam) * np.roll(x, 1, axis=0), rtol=1e-6)
    onehot = np.eye(3)[labels]
    np.testing.assert_allclose(soft, lam * onehot + (1 - lam) * np.roll(onehot, 1, 0), rtol=1e-6)
    assert soft.dtype == np.float32 and np.allclose(soft.sum(1), 1)
    again = T.MixUp(alpha=0.4, num_classes=3)(x, soft, rng=5)[1]  # soft labels mix too
    np.testing.assert_allclose(again, lam * soft + (1 - lam) * np.roll(soft, 1, 0), rtol=1e-6)


def test_cutmix_pastes_one_box_and_weights_labels_by_its_area():
    x = batch(n=5, h=16, w=12)
    labels = np.array([0, 1, 2, 3, 4])
    out, soft = T.CutMix(alpha=1.0, num_classes=5)(x, labels, rng=11)
    g = np.random.default_rng(11)
    lam = g.beta(1.0, 1.0)
    cy, cx = g.integers(0, 16), g.integers(0, 12)
    r = 0.5 * np.sqrt(1 - lam)
    y1, y2 = max(cy - int(r * 16), 0), min(cy + int(r * 16), 16)
    x1, x2 = max(cx - int(r * 12), 0), min(cx + int(r * 12), 12)
    want = x.copy()
    want[:, :, y1:y2, x1:x2] = np.roll(x, 1, axis=0)[:, :, y1:y2, x1:x2]
    np.testing.assert_array_equal(out, want)
    pasted = np.all(out != x, axis=1)[0].mean()  # share of item 0's pixels from item 4
    kept = 1 - (y2 - y1) * (x2 - x1) / (16 * 12)
    assert abs(pasted - (1 - kept)) < 1e-9 and 0 < kept < 1
    np.testing.assert_allclose(soft[0], kept * np.eye(5)[0] + (1 - kept) * np.eye(5)[4])


def test_mix_keeps_or_refuses_integer_images():
    xu = (batch(n=4) * 255).astype(np.uint8)
    out, soft = T.CutMix(num_classes=3)(xu, np.array([0, 1, 2, 0]), rng=1)
    assert out.dtype == np.uint8 and soft.dtype == np.float32  # pixels pasted, not blended
    with pytest.raises(TypeError, match="MixUp: blending needs float images, got uint8"):
        T.MixUp(num_classes=3)(xu, np.array([0, 1, 2, 0]))


def test_mix_errors():
    x = batch(n=3)
    with pytest.raises(ValueError, match="MixUp: num_classes must be a positive int"):
        T.MixUp(alpha=1.0)
    with pytest.raises(ValueError, match="CutMix: alpha must be > 0"):
        T.CutMix(alpha=0.0, num_classes=3)
    with pytest.raises(ValueError, match=r"MixUp: labels must lie in \[0, 2\], got 0..3"):
        T.MixUp(num_classes=3)(x, np.array([0, 3, 1]))
    with pytest.raises(ValueError, match=r"CutMix: expected class labels \(N,\) or soft labels"):
        T.CutMix(num_classes=3)(x, np.zeros((3, 8, 8), dtype=np.int64))


# --------------------------------------------------------------------------- affine


def torchvision_inverse_affine(angle, translate, scale, shear):
    """torchvision's _get_inverse_affine_matrix, transcribed, as its F.affine calls it on
    tensors (centre 0, the angle as given: clockwise): the map from an output pixel's centred
    (x, y) to the input's."""
    rot = np.radians(angle)
    sx, sy = np.radians(shear[0]), np.radians(shear[1])
    a = np.cos(rot - sy) / np.cos(sy)
    b = -np.cos(rot - sy) * np.tan(sx) / np.cos(sy) - np.sin(rot)
    c = np.sin(rot - sy) / np.cos(sy)
    d = -np.sin(rot - sy) * np.tan(sx) / np.cos(sy) + np.cos(rot)
    m = [v / scale for v in (d, -b, 0.0, -c, a, 0.0)]
    m[2] += m[0] * -translate[0] + m[1] * -translate[1]
    m[5] += m[3] * -translate[0] + m[4] * -translate[1]
    return np.array(m).reshape(2, 3)


def affine_loop(img, angle, translate, scale, shear, fill=0.0):
    """Nearest-neighbour affine of one (C, H, W) image, pixel by pixel."""
    c, h, w = img.shape
    m = torchvision_inverse_affine(angle, translate, scale, shear)
    out = np.full_like(img, fill)
    for i in range(h):
        for j in range(w):
            xo, yo = j - (w - 1) / 2, i - (h - 1) / 2
            xi = m[0, 0] * xo + m[0, 1] * yo + m[0, 2] + (w - 1) / 2
            yi = m[1, 0] * xo + m[1, 1] * yo + m[1, 2] + (h - 1) / 2
            r, cc = int(np.rint(yi)), int(np.rint(xi))
            if 0 <= r < h and 0 <= cc < w:
                out[:, i, j] = img[:, r, cc]
    return out


def test_affine_matches_torchvisions_matrix_pixel_by_pixel():
    rng = np.random.default_rng(0)
    x = batch(n=4, h=9, w=11)
    angle = rng.uniform(-40, 40, 4)
    translate = rng.integers(-3, 4, (4, 2)).astype(float)
    scale = rng.uniform(0.7, 1.3, 4)
    shear = rng.uniform(-20, 20, (4, 2))
    got = T.affine(x, angle, translate, scale, shear, fill=-1.0)
    for i in range(4):
        want = affine_loop(x[i], angle[i], translate[i], scale[i], shear[i], fill=-1.0)
        np.testing.assert_array_equal(got[i], want)


def test_affine_special_cases():
    x = batch(n=2, h=6, w=7)
    np.testing.assert_array_equal(T.affine(x), x)  # the identity
    sq = batch(n=2, h=6, w=6)
    # torchvision's pair: affine turns clockwise, rotate counter-clockwise
    np.testing.assert_array_equal(T.affine(sq, angle=90.0), np.rot90(sq, -1, axes=(-2, -1)))
    np.testing.assert_array_equal(T.rotate(sq, 90.0), np.rot90(sq, 1, axes=(-2, -1)))
    shifted = T.affine(x, translate=(2, -1))  # 2 right, 1 up, zeros where nothing comes from
    want = np.zeros_like(x)
    want[:, :, :-1, 2:] = x[:, :, 1:, :-2]
    np.testing.assert_array_equal(shifted, want)
    with pytest.raises(ValueError, match="scale must be > 0"):
        T.affine(x, scale=0.0)


def test_affine_bilinear_matches_torchs_grid_sample_as_torchvision_calls_it():
    torch = pytest.importorskip("torch")
    x = batch(n=1, h=10, w=8).astype(np.float64)
    params = (25.0, (1.0, -2.0), 1.2, (10.0, -5.0))
    got = T.affine(x, *params, interpolation="bilinear")
    theta = torch.tensor(torchvision_inverse_affine(*params))[None]
    h, w = 10, 8
    # torchvision's _gen_affine_grid: pixel centres relative to the centre, in pixels
    base = torch.empty(1, h, w, 3, dtype=torch.float64)
    base[..., 0] = torch.linspace(-w * 0.5 + 0.5, w * 0.5 - 0.5, w, dtype=torch.float64)
    base[..., 1] = torch.linspace(-h * 0.5 + 0.5, h * 0.5 - 0.5, h, dtype=torch.float64)[:, None]
    base[..., 2] = 1
    half = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float64)
    grid = base.view(1, h * w, 3).bmm(theta.transpose(1, 2) / half)
    want = torch.nn.functional.grid_sample(torch.from_numpy(x), grid.view(1, h, w, 2),
                                           mode="bilinear", padding_mode="zeros",
                                           align_corners=False).numpy()  # fmt: skip
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_random_affine_moves_masks_with_images_and_is_seeded():
    x, mask = labelled(n=8, h=12, w=12)
    aug = T.RandomAffine(30, translate=(0.2, 0.1), scale=(0.8, 1.2), shear=(-10, 10, -5, 5))
    out, m = aug(x, mask, rng=4)
    assert_joint(out, m)
    np.testing.assert_array_equal(aug(x, mask, rng=4)[0], out)
    angle, translate, scale, shear = aug.get_params(1000, (12, 12), np.random.default_rng(0))
    assert -30 <= angle.min() and angle.max() <= 30 and (translate == np.rint(translate)).all()
    assert np.abs(translate[:, 0]).max() <= 2.4 and np.abs(translate[:, 1]).max() <= 1.2
    assert 0.8 <= scale.min() and scale.max() <= 1.2 and np.abs(shear[:, 1]).max() <= 5
    with pytest.raises(ValueError, match="translate must be a pair of fractions"):
        T.RandomAffine(0, translate=(0.5, 2))
    with pytest.raises(ValueError, match="shear must be d or increasing"):
        T.RandomAffine(0, shear=(1, 2, 3))


# --------------------------------------------------------------------------- photometric ops


def _pil_pair(seed=0):
    from PIL import Image

    img = np.random.default_rng(seed).integers(0, 256, (9, 10, 3)).astype(np.uint8)
    img[..., 2] = 77  # a flat channel: autocontrast and equalize must leave it alone
    return img.transpose(2, 0, 1)[None], Image.fromarray(img)


def _chw(pil_image):
    return np.asarray(pil_image).transpose(2, 0, 1)[None]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uint8_ops_equal_pil(seed):
    from PIL import ImageOps

    x, pil = _pil_pair(seed)
    np.testing.assert_array_equal(T.equalize(x), _chw(ImageOps.equalize(pil)))
    np.testing.assert_array_equal(T.posterize(x, 3), _chw(ImageOps.posterize(pil, 3)))
    np.testing.assert_array_equal(T.solarize(x, 128), _chw(ImageOps.solarize(pil, 128)))
    np.testing.assert_array_equal(T.invert(x), _chw(ImageOps.invert(pil)))
    # the blends compute in floating point and truncate, as torchvision; PIL's integer
    # arithmetic lands within one grey level
    from PIL import ImageEnhance

    for ours, enhancer, f in ((T.adjust_brightness, ImageEnhance.Brightness, 1.3),
                              (T.adjust_contrast, ImageEnhance.Contrast, 0.6),
                              (T.adjust_saturation, ImageEnhance.Color, 0.4),
                              (T.adjust_sharpness, ImageEnhance.Sharpness, 1.7)):  # fmt: skip
        got, want = ours(x, f).astype(int), _chw(enhancer(pil).enhance(f)).astype(int)
        assert np.abs(got - want).max() <= 1, ours.__name__
    assert np.abs(T.autocontrast(x).astype(int) - _chw(ImageOps.autocontrast(pil))).max() <= 1


def test_float_ops_follow_their_formulas_per_item():
    x = batch(n=3, h=6, w=6).astype(np.float64)
    f = np.array([0.5, 1.0, 1.8])
    np.testing.assert_allclose(T.adjust_brightness(x, f), np.clip(x * f[:, None, None, None], 0, 1))
    gray = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    want = np.clip(f[:, None, None, None] * x + (1 - f[:, None, None, None]) * gray[:, None], 0, 1)
    np.testing.assert_allclose(T.adjust_saturation(x, f), want)
    mean = gray.mean(axis=(1, 2))[:, None, None, None]
    want = np.clip(f[:, None, None, None] * (x - mean) + mean, 0, 1)
    np.testing.assert_allclose(T.adjust_contrast(x, f), want)
    np.testing.assert_array_equal(T.adjust_sharpness(x, 1.0), x)
    np.testing.assert_allclose(T.posterize(x, 2), np.floor(x * 4).clip(0, 3) / 4)
    np.testing.assert_array_equal(T.solarize(x, [0.3, 0.5, 1.0]), np.where(
        x >= np.array([0.3, 0.5, 1.0])[:, None, None, None], 1 - x, x))  # fmt: skip
    with pytest.raises(ValueError, match="threshold 1.1 is above the image's largest value 1"):
        T.solarize(x, 1.1)
    xu = (x * 255).astype(np.uint8)
    out = T.solarize(xu, 178.5)  # a real threshold: 178 stays, 179 flips; uint8 stays uint8
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.where(xu >= 179, 255 - xu, xu))
    lo, hi = x.min(axis=(2, 3), keepdims=True), x.max(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(T.autocontrast(x), (x - lo) / (hi - lo))
    eq = T.equalize(x)
    assert eq.dtype == x.dtype and eq.min() >= 0 and eq.max() <= 1


def test_random_single_ops_pick_items():
    x = batch(n=40)
    out = T.RandomInvert(p=0.5)(x, rng=0)
    inverted = np.all(np.isclose(out, 1 - x), axis=(1, 2, 3))
    assert np.all(inverted | np.all(out == x, axis=(1, 2, 3))) and 5 < inverted.sum() < 35
    for t in (T.RandomAutocontrast(1.0), T.RandomEqualize(1.0), T.RandomPosterize(4, 1.0),
              T.RandomSolarize(0.5, 1.0), T.RandomAdjustSharpness(2.0, 1.0)):  # fmt: skip
        assert t(x).shape == x.shape and t(x).dtype == x.dtype
    with pytest.raises(ValueError, match="RandomPosterize: bits must be in 0..8"):
        T.RandomPosterize(9)


# --------------------------------------------------------------------------- RandAugment


def test_shear_about_the_corner_matches_torchvisions_matrix():
    x = batch(n=1, h=7, w=9)
    got = T.affine(x, shear=(15.0, 0.0), center=(0.0, 0.0), fill=-1.0)
    # torchvision's centre argument, made relative to the image centre
    c = np.array([0.0 - 9 / 2, 0.0 - 7 / 2])
    m = torchvision_inverse_affine(0.0, (0.0, 0.0), 1.0, (15.0, 0.0))
    m[:, 2] = c - m[:, :2] @ c  # input = m (out - c) + c
    want = np.full_like(x[0], -1.0)
    for i in range(7):
        for j in range(9):
            xo, yo = j - 4, i - 3
            xi, yi = m[0] @ (xo, yo, 1) + 4, m[1] @ (xo, yo, 1) + 3
            r, cc = int(np.rint(yi)), int(np.rint(xi))
            if 0 <= r < 7 and 0 <= cc < 9:
                want[:, i, j] = x[0, :, r, cc]
    np.testing.assert_array_equal(got[0], want)
    assert (got[0, :, 0] == x[0, :, 0]).all()  # the top row is the pivot line: it stays


@pytest.mark.parametrize("aug", [T.RandAugment(num_ops=1, magnitude=15),
                                 T.TrivialAugmentWide()])  # fmt: skip
def test_augment_policies_equal_their_ops_applied_item_by_item(aug):
    from minitorch_cv.data.transforms import _apply_op, _augment_ops

    x, mask = labelled(n=30, h=12, w=12)
    x = x / 20.0  # images in [0, 1]
    out, out_mask = aug(x, mask, rng=7)
    rng = np.random.default_rng(7)  # the draws the transform made, in its order
    space = _augment_ops(31, (12, 12), isinstance(aug, T.TrivialAugmentWide))
    names = list(space)
    op = rng.integers(len(names), size=30)
    bins = aug._bins(30, rng)
    sign = np.where(rng.random(30) < 0.5, -1.0, 1.0)
    for i in range(30):
        mags, signed = space[names[op[i]]]
        m = mags[min(bins[i], len(mags) - 1)] * (sign[i] if signed else 1.0)
        want, want_mask = _apply_op(names[op[i]], x[i : i + 1], mask[i : i + 1], np.array([m]),
                                    "nearest", 0.0, 255)  # fmt: skip
        np.testing.assert_allclose(out[i], want[0], atol=1e-12, err_msg=names[op[i]])
        np.testing.assert_array_equal(out_mask[i], want_mask[0])
    assert len(set(op)) > 8  # many ops were exercised


def test_augment_policies_errors_and_dtypes():
    with pytest.raises(ValueError, match=r"RandAugment: magnitude must be in \[0, 31\)"):
        T.RandAugment(magnitude=31)
    with pytest.raises(ValueError, match="interpolation must be 'nearest' or 'bilinear'"):
        T.TrivialAugmentWide(interpolation="bicubic")
    xu = (batch(n=8) * 255).astype(np.uint8)
    assert T.RandAugment(num_ops=3)(xu, rng=1).dtype == np.uint8


def test_uint8_blends_follow_torchvisions_integer_rules():
    x = (batch(n=2, seed=9) * 255).astype(np.uint8)
    xf = x.astype(np.float64)
    gray = np.floor(0.2989 * xf[:, 0] + 0.587 * xf[:, 1] + 0.114 * xf[:, 2])[:, None]  # uint8 grey
    mean = gray.mean(axis=(1, 2, 3), keepdims=True)
    want = np.clip(0.5 * xf + 0.5 * mean, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(T.adjust_contrast(x, 0.5), want)
    want = np.clip(1.5 * xf - 0.5 * gray, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(T.adjust_saturation(x, 1.5), want)


# --------------------------------------------------------------------------- the fast gathers
#
# affine (and so rotate, RandomAffine, RandomRotation and the augment policies' geometric ops)
# and resized_crop read pixels with one `take` per neighbour from a channel-major copy, crop
# picks rows from a view of all windows, resize takes along each axis, equalize looks its table
# up flat. The functions below are their earlier bodies, which gathered with fancy indices
# (`xs[idx, :, r, c]`): kept as oracles, the fast paths must give the same bytes (dtype, layout,
# -0.0 and all).


def _old_affine(x, angle=0.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0),
                interpolation="nearest", fill=0.0, center=None):  # fmt: skip
    T._check_interpolation(interpolation, "affine")
    xp = xp_of(x)
    is_mask = x.ndim == 3
    xs = x[:, None] if is_mask else x
    n, _, h, w = xs.shape

    def per_item(v, shape):
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape)

    scale, shear = per_item(scale, (n,)), per_item(shear, (n, 2))
    c = None if center is None else per_item(center, (n, 2)) - np.array([w / 2, h / 2])
    inv = T._inverse_affine(per_item(angle, (n,)), per_item(translate, (n, 2)), scale, shear, c)
    m = xp.asarray(inv)[:, :, :, None, None]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dy = xp.arange(h, dtype=xp.float64)[:, None] - cy
    dx = xp.arange(w, dtype=xp.float64)[None, :] - cx
    src_c = cx + m[:, 0, 0] * dx + m[:, 0, 1] * dy + m[:, 0, 2]
    src_r = cy + m[:, 1, 0] * dx + m[:, 1, 1] * dy + m[:, 1, 2]
    idx = xp.arange(n)[:, None, None]
    fill_value = T._channel_fill(fill, xs, "affine").reshape(-1)

    def sample(r, c):
        inside = ((r >= 0) & (r < h) & (c >= 0) & (c < w))[..., None]
        vals = xs[idx, :, xp.clip(r, 0, h - 1), xp.clip(c, 0, w - 1)]
        return xp.where(inside, vals, fill_value)

    if interpolation == "nearest" or is_mask:
        out = sample(xp.rint(src_r).astype(xp.int64), xp.rint(src_c).astype(xp.int64))
    else:
        r0, c0 = xp.floor(src_r), xp.floor(src_c)
        fr, fc = (src_r - r0)[..., None], (src_c - c0)[..., None]
        r0, c0 = r0.astype(xp.int64), c0.astype(xp.int64)
        out = (
            (1 - fr) * (1 - fc) * sample(r0, c0)
            + (1 - fr) * fc * sample(r0, c0 + 1)
            + fr * (1 - fc) * sample(r0 + 1, c0)
            + fr * fc * sample(r0 + 1, c0 + 1)
        )
        out = out.astype(x.dtype)
    out = xp.ascontiguousarray(out.transpose(0, 3, 1, 2))
    return out[:, 0] if is_mask else out


def _old_crop(x, top, left, height, width):
    xp = xp_of(x)
    n = len(x)
    top = xp.asarray(top, dtype=xp.int64).reshape(n)
    left = xp.asarray(left, dtype=xp.int64).reshape(n)
    rows = (top[:, None] + xp.arange(height))[:, :, None]
    cols = (left[:, None] + xp.arange(width))[:, None, :]
    idx = xp.arange(n)[:, None, None]
    if x.ndim == 3:
        return x[idx, rows, cols]
    return xp.ascontiguousarray(x[idx, :, rows, cols].transpose(0, 3, 1, 2))


def _old_resize(x, size, interpolation="bilinear", antialias=False):
    assert not antialias  # (the old gathers: the two nearest pixels only)
    xp = xp_of(x)
    oh, ow = T._pair(size, "resize: size")
    h, w = x.shape[-2:]
    if interpolation == "nearest" or x.ndim == 3:
        rows = xp.minimum(xp.floor(xp.arange(oh) * (h / oh)).astype(xp.int64), h - 1)
        cols = xp.minimum(xp.floor(xp.arange(ow) * (w / ow)).astype(xp.int64), w - 1)
        return xp.ascontiguousarray(x[..., rows[:, None], cols[None, :]])
    r0, r1, lr = T._source_coords(h, oh, xp)
    c0, c1, lc = T._source_coords(w, ow, xp)
    lr = lr.astype(x.dtype)[:, None]
    lc = lc.astype(x.dtype)
    y = x[..., r0, :] * (1 - lr) + x[..., r1, :] * lr
    return xp.ascontiguousarray(y[..., c0] * (1 - lc) + y[..., c1] * lc)


def _old_resized_crop(x, top, left, height, width, size, interpolation="bilinear"):
    xp = xp_of(x)
    n = len(x)
    oh, ow = T._pair(size, "resized_crop: size")
    box = [xp.asarray(v, dtype=xp.int64).reshape(n, 1) for v in (top, left, height, width)]
    top, left, height, width = box
    idx = xp.arange(n)[:, None, None]

    def taps(start, extent, n_out):
        scale = extent.astype(xp.float64) / n_out
        if interpolation == "nearest" or x.ndim == 3:
            i = xp.minimum(xp.floor(xp.arange(n_out) * scale).astype(xp.int64), extent - 1)
            return start + i, None, None
        src = xp.maximum((xp.arange(n_out) + 0.5) * scale - 0.5, 0.0)
        i0 = xp.minimum(xp.floor(src).astype(xp.int64), extent - 1)
        i1 = xp.minimum(i0 + 1, extent - 1)
        return start + i0, start + i1, (src - i0).astype(x.dtype)

    def gather(r, c):
        return (
            x[idx, r[:, :, None], c[:, None, :]]
            if x.ndim == 3
            else x[idx, :, r[:, :, None], c[:, None, :]]
        )

    r0, r1, fr = taps(top, height, oh)
    c0, c1, fc = taps(left, width, ow)
    if r1 is None:
        out = gather(r0, c0)
    else:
        fr, fc = fr[:, :, None, None], fc[:, None, :, None]
        out = ((1 - fr) * ((1 - fc) * gather(r0, c0) + fc * gather(r0, c1))
               + fr * ((1 - fc) * gather(r1, c0) + fc * gather(r1, c1)))  # fmt: skip
    return out if x.ndim == 3 else xp.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _old_equalize(x):
    xp = xp_of(x)
    v = x if x.dtype == np.uint8 else (xp.clip(x, 0, 1) * 255.999).astype(np.uint8)
    n, c = v.shape[:2]
    rows = xp.arange(n * c).reshape(n, c, 1, 1) * 256
    hist = xp.bincount((rows + v).reshape(-1), minlength=n * c * 256).reshape(n * c, 256)
    last = 255 - xp.argmax(hist[:, ::-1] > 0, axis=1)
    step = (hist.sum(axis=1) - hist[xp.arange(n * c), last]) // 255
    safe = xp.maximum(step, 1)[:, None]
    lut = (xp.cumsum(hist, axis=1) + safe // 2) // safe
    lut = xp.clip(xp.concatenate([xp.zeros((n * c, 1), lut.dtype), lut[:, :-1]], axis=1), 0, 255)
    lut = xp.where((step == 0)[:, None], xp.arange(256), lut)
    out = lut[(rows // 256).reshape(n, c, 1, 1), v.astype(xp.int64)].astype(np.uint8)
    return out if x.dtype == np.uint8 else (out / 255.0).astype(x.dtype)


def _rounded(old):
    """The old sampler, except that integer images are interpolated in float64 and rounded back
    (the old code cast the bilinear weights to uint8, i.e. to 0, and truncated the result)."""
    signature = inspect.signature(old)

    @functools.wraps(old)
    def sampler(x, *args, **kwargs):
        bound = signature.bind(x, *args, **kwargs)
        bound.apply_defaults()
        if x.dtype.kind == "f" or x.ndim == 3 or bound.arguments["interpolation"] != "bilinear":
            return old(x, *args, **kwargs)
        if bound.arguments.get("fill") is not None:  # a fill in the image's dtype, as before
            fill = np.asarray(bound.arguments["fill"], dtype=np.float64).astype(x.dtype)
            bound.arguments["fill"] = fill.astype(np.float64)
        bound.arguments["x"] = x.astype(np.float64)
        info = np.iinfo(x.dtype)
        out = np.rint(old(*bound.args, **bound.kwargs))
        return np.clip(out, info.min, info.max).astype(x.dtype)

    return sampler


_old_affine, _old_resize = _rounded(_old_affine), _rounded(_old_resize)
_old_resized_crop = _rounded(_old_resized_crop)


def test_bilinear_on_uint8_interpolates_and_rounds():
    """A 0, 100 edge resized 2 -> 4 wide: bilinear gives 0, 25, 75, 100 (torch's
    interpolate(align_corners=False) on the same values), not the left neighbour's 0, 0, 100, 100;
    a half-pixel shift rounds 50.5 up."""
    x = np.array([[[[0, 100]]]], dtype=np.uint8)
    np.testing.assert_array_equal(T.resize(x, (1, 4)), [[[[0, 25, 75, 100]]]])
    box = (np.array([0]), np.array([0]), np.array([1]), np.array([2]))
    np.testing.assert_array_equal(T.resized_crop(x, *box, (1, 4)), [[[[0, 25, 75, 100]]]])
    y = np.array([[[[0, 101, 0]]]], dtype=np.uint8)
    half = T.affine(y, translate=(0.5, 0.0), interpolation="bilinear")
    np.testing.assert_array_equal(half, [[[[0, 50, 50]]]])  # 50.5 -> 50 (round half to even)


def assert_same_bytes(got, want):
    """Equal dtype, shape, C layout and bytes: stricter than ==, which lets -0.0 pass for 0.0."""
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous == want.flags.c_contiguous
    assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(want).tobytes()


IMAGE_DTYPES = [np.uint8, np.float32, np.float64]


@st.composite
def image_batches(draw, max_side=9):
    """(images (N, C, H, W) of a drawn dtype, with some -0.0 and extreme values when float;
    int64 masks (N, H, W)); uint8 values span 0..255."""
    n, c = draw(st.integers(1, 3)), draw(st.sampled_from([1, 3]))
    h, w = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    dtype = draw(st.sampled_from(IMAGE_DTYPES))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if dtype == np.uint8:
        x = rng.integers(0, 256, (n, c, h, w)).astype(np.uint8)
    else:
        x = rng.uniform(-2, 2, (n, c, h, w)).astype(dtype)
        x[rng.random(x.shape) < 0.2] = -0.0
    return x, rng.integers(0, 21, (n, h, w))


@SETTINGS
@given(batch_=image_batches(), data=st.data())
def test_affine_equals_the_old_gather_bit_for_bit(batch_, data):
    x, mask = batch_
    n, c, h, w = x.shape
    per = st.floats(-1.0, 1.0)  # fractions of the image size, a few reaching far outside
    far = data.draw(st.sampled_from([1.0, 1.0, 3.0, 1e6]))
    angle = np.array(data.draw(st.lists(st.floats(-360, 360), min_size=n, max_size=n)))
    translate = np.array(data.draw(st.lists(st.tuples(per, per), min_size=n, max_size=n)))
    translate = translate * np.array([w, h]) * far
    if data.draw(st.booleans()):
        translate = np.rint(translate)  # RandomAffine's and the policies' whole pixels
    scale = np.array(data.draw(st.lists(st.floats(0.1, 4.0), min_size=n, max_size=n)))
    shear = np.array(data.draw(st.lists(st.tuples(st.floats(-70, 70), st.floats(-70, 70)),
                                        min_size=n, max_size=n)))  # fmt: skip
    center = data.draw(st.sampled_from([None, (0.0, 0.0), (w / 3, h + 0.5)]))
    interpolation = data.draw(st.sampled_from(["nearest", "bilinear"]))
    top = 255.0 if x.dtype == np.uint8 else 2.0
    fill = data.draw(st.sampled_from([0.0, None, top, tuple(np.linspace(0, top, c))]))
    args = (angle, translate, scale, shear, interpolation, fill, center)
    assert_same_bytes(T.affine(x, *args), _old_affine(x, *args))
    mask_args = (angle, translate, scale, shear, "nearest", 255, center)
    assert_same_bytes(T.affine(mask, *mask_args), _old_affine(mask, *mask_args))
    gray = (*args[:5], top, center)  # masks of the image's dtype, `bilinear` meaning nearest
    assert_same_bytes(T.affine(x[:, 0], *gray), _old_affine(x[:, 0], *gray))
    rot = data.draw(st.floats(-180, 180))
    assert_same_bytes(T.rotate(x, rot, interpolation, fill),
                      _old_affine(x, -rot, interpolation=interpolation, fill=fill))  # fmt: skip


@SETTINGS
@given(batch_=image_batches(max_side=12), data=st.data())
def test_crop_resize_and_resized_crop_equal_the_old_gathers_bit_for_bit(batch_, data):
    x, mask = batch_
    n, _, h, w = x.shape
    interpolation = data.draw(st.sampled_from(["nearest", "bilinear"]))
    size = (data.draw(st.integers(1, 15)), data.draw(st.integers(1, 15)))
    got = T.resize(x, size, interpolation, antialias=False)
    assert_same_bytes(got, _old_resize(x, size, interpolation))
    assert_same_bytes(T.resize(mask, size), _old_resize(mask, size))
    bh = np.array(data.draw(st.lists(st.integers(1, h), min_size=n, max_size=n)))
    bw = np.array(data.draw(st.lists(st.integers(1, w), min_size=n, max_size=n)))
    top = np.array([data.draw(st.integers(0, h - v)) for v in bh])
    left = np.array([data.draw(st.integers(0, w - v)) for v in bw])
    box = (top, left, bh, bw)
    for a in (x, mask, x[..., ::-1]):  # a mirrored view: negative strides
        got = T.resized_crop(a, *box, size, interpolation, antialias=False)
        assert_same_bytes(got, _old_resized_crop(a, *box, size, interpolation))
    ch, cw = int(bh.min()), int(bw.min())  # one window size for the batch
    for a in (x, mask, x[..., ::-1]):
        assert_same_bytes(T.crop(a, top, left, ch, cw), _old_crop(a, top, left, ch, cw))


def test_crop_refuses_a_window_larger_than_the_images():
    with pytest.raises(ValueError, match=r"crop: a \(9, 2\) window does not fit .*\(4, 3, 8, 8\)"):
        T.crop(batch(), np.zeros(4), np.zeros(4), 9, 2)


@SETTINGS
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(17, 24), w=st.integers(17, 24),
       low=st.integers(0, 255), span=st.integers(1, 256), seed=st.integers(0, 2**16),
       dtype=st.sampled_from(IMAGE_DTYPES))  # fmt: skip
def test_equalize_equals_the_old_lookup_bit_for_bit(n, c, h, w, low, span, seed, dtype):
    # 256 pixels or more per channel: fewer leave every channel's table the identity
    rng = np.random.default_rng(seed)
    x = np.minimum(low + rng.integers(0, span, (n, c, h, w)), 255).astype(np.uint8)
    x = x if dtype == np.uint8 else (x / 255.0).astype(dtype)
    assert_same_bytes(T.equalize(x), _old_equalize(x))


def _old_plain_resized_crop(*args, antialias=False):
    assert not antialias or args[6:] == ("nearest",)  # the old gather did not antialias
    return _old_resized_crop(*args)


OLD_SAMPLERS = {"affine": _old_affine, "crop": _old_crop, "resize": _old_resize,
                "resized_crop": _old_plain_resized_crop, "equalize": _old_equalize}  # fmt: skip


GATHERING_TRANSFORMS = {
    "affine": lambda: T.RandomAffine(40, (0.3, 0.2), (0.6, 1.4), (-20, 20, -10, 10)),
    "affine-bilinear": lambda: T.RandomAffine(
        40, (0.3, 0.2), (0.6, 1.4), 20, "bilinear", fill=(0.1, 0.5, 1.0)
    ),  # fmt: skip
    "rotation-bilinear": lambda: T.RandomRotation(180, "bilinear", fill=1.0),
    "rotation": lambda: T.RandomRotation(90),
    "randaugment": lambda: T.RandAugment(num_ops=3, magnitude=20),
    "randaugment-bilinear": lambda: T.RandAugment(interpolation="bilinear", fill=(0, 0.5, 1)),
    "trivialaugment-bilinear": lambda: T.TrivialAugmentWide(interpolation="bilinear", fill=0.5),
    "trivialaugment": lambda: T.TrivialAugmentWide(),
    "autoaugment": lambda: T.AutoAugment(),
    "augmix": lambda: T.AugMix(),
    "resized-crop": lambda: T.RandomResizedCrop(7, antialias=False),
    "resized-crop-nearest": lambda: T.RandomResizedCrop((5, 9), interpolation="nearest"),
    "crop": lambda: T.RandomCrop(8, padding=3, padding_mode="reflect"),
    "resize": lambda: T.Resize((6, 11), antialias=False),
}


@pytest.mark.parametrize("name", list(GATHERING_TRANSFORMS))
@SETTINGS
@given(seed=st.integers(0, 2**16), uint8=st.booleans())
def test_transforms_give_the_same_bytes_as_with_the_old_gathers(name, seed, uint8):
    """Each transform end to end (draws, sub-batches, masks), with the old samplers patched
    into the module in place of the new ones."""
    x, mask = labelled(n=12, h=9, w=10, seed=seed)
    x = np.concatenate([x / 20.0, x[:, :1] / 9.0], axis=1)  # 3 channels in [0, 1]
    x = (x * 255).astype(np.uint8) if uint8 else x
    t = GATHERING_TRANSFORMS[name]()
    args = (x,) if isinstance(t, T.AugMix) else (x, mask)  # AugMix refuses masks
    got = t(*args, rng=seed)
    with pytest.MonkeyPatch.context() as patch:
        for name, old in OLD_SAMPLERS.items():
            patch.setattr(T, name, old)
        want = t(*args, rng=seed)
    pairs = zip(got, want) if len(args) == 2 else [(got, want)]
    for a, b in pairs:
        assert_same_bytes(a, b)
