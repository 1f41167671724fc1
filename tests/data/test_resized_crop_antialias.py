"""resized_crop / RandomResizedCrop of arrays with antialias=True (torchvision's default).

Each item of a batch has its own window, so its own scale: every item must equal
`F.interpolate(window, size, mode='bilinear', antialias=True)` of its window, from this package
(float64 to 1e-12, float32 to 1e-5 of the largest value, uint8 bit for bit: torch's fixed point)
and from torch when importable (the same tolerances). antialias=False keeps the plain bilinear
gather; when no window shrinks antialias=True gives exactly that result; and the option leaves
the random boxes that RandomResizedCrop draws unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.data import transforms as T
from tests.strategies import SETTINGS

DTYPES = (np.float64, np.float32, np.uint8)


@st.composite
def batches(draw):
    """(x, top, left, height, width, (H', W')): a drawn batch, a window per item inside it."""
    seed = draw(st.integers(0, 2**32 - 1))
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    size = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
    dtype = draw(st.sampled_from(DTYPES))
    rng = np.random.default_rng(seed)
    height = rng.integers(1, h + 1, n)
    width = rng.integers(1, w + 1, n)
    top = rng.integers(0, h - height + 1)
    left = rng.integers(0, w - width + 1)
    x = rng.random((n, c, h, w)) * 255
    x = x.astype(dtype) if dtype != np.uint8 else np.rint(x).astype(np.uint8)
    return x, top, left, height, width, size


def windows(x, top, left, height, width):
    return [
        x[i : i + 1, :, t : t + hh, lf : lf + ww]
        for i, (t, lf, hh, ww) in enumerate(zip(top, left, height, width))
    ]


def assert_item_close(got, want, dtype):
    got, want = got.astype(np.float64), want.astype(np.float64)
    if dtype == np.uint8:
        np.testing.assert_array_equal(got, want)
    else:
        tol = 1e-12 if dtype == np.float64 else 1e-5
        np.testing.assert_allclose(got, want, rtol=0, atol=tol * max(1.0, np.abs(want).max()))


def shrinks(height, width, size):
    return bool((height > size[0]).any() or (width > size[1]).any())


@SETTINGS
@given(case=batches())
def test_each_item_is_interpolate_antialias_of_its_window(case):
    x, top, left, height, width, size = case
    y = T.resized_crop(x, top, left, height, width, size)
    assert y.shape == (*x.shape[:2], *size) and y.dtype == x.dtype
    old = T.resized_crop(x, top, left, height, width, size, antialias=False)
    if not shrinks(height, width, size):  # nothing shrinks: exactly the plain bilinear gather
        np.testing.assert_array_equal(y, old)
    for i, win in enumerate(windows(x, top, left, height, width)):
        with mt.no_grad():
            want = F.interpolate(mt.tensor(win), size=size, mode="bilinear", antialias=True)
        if shrinks(height, width, size):
            assert_item_close(y[i], want._data[0], x.dtype)
        else:  # (uint8: the plain gather rounds once, torch's fixed point after each axis)
            atol = 1 if x.dtype == np.uint8 else 1e-12 if x.dtype == np.float64 else 1e-3
            np.testing.assert_allclose(y[i].astype(float), want._data[0].astype(float), atol=atol)


@pytest.mark.parity
@SETTINGS
@given(case=batches())
def test_each_item_matches_torch_antialias(case):
    torch = pytest.importorskip("torch")
    x, top, left, height, width, size = case
    if not shrinks(height, width, size):
        return
    y = T.resized_crop(x, top, left, height, width, size)
    generic = x.dtype != np.uint8 or x.shape[1] > 4
    generic |= "AVX" not in torch.backends.cpu.get_cpu_capability()
    for i, win in enumerate(windows(x, top, left, height, width)):
        if size[1] == 1 and size[0] != height[i] and generic:
            continue  # torch's generic kernel copies the first row of a 1-wide output into
            # every row (see tests/functional/test_interpolate_antialias.py); checked above
        try:
            want = torch.nn.functional.interpolate(
                torch.from_numpy(np.ascontiguousarray(win)), size=size, mode="bilinear",
                align_corners=False, antialias=True,
            ).numpy()  # fmt: skip
        except RuntimeError:  # torch's uint8 AVX kernel asserts on some 1 x 1 outputs
            assert x.dtype == np.uint8 and size == (1, 1)
            continue
        assert_item_close(y[i], want[0], x.dtype)


@SETTINGS
@given(case=batches())
def test_antialias_false_is_the_plain_bilinear_of_each_window(case):
    x, top, left, height, width, size = case
    y = T.resized_crop(x, top, left, height, width, size, antialias=False)
    for i, win in enumerate(windows(x, top, left, height, width)):
        a = win.astype(np.float64)
        with mt.no_grad():
            want = F.interpolate(mt.tensor(a), size=size, mode="bilinear", align_corners=False)
        want = want._data[0]
        # uint8: rounded once from float64 (a value at .5 may round either way: atol 1)
        atol = 1e-10 if x.dtype == np.float64 else 1e-3 if x.dtype == np.float32 else 1
        np.testing.assert_allclose(y[i].astype(float), want, rtol=0, atol=atol)


def test_shrinking_window_is_smoothed_not_aliased():
    # a one-pixel checkerboard shrunk by 3: plain bilinear reads one pixel in 3 (a full-contrast
    # checkerboard again); antialiased, the triangle over 6 pixels leaves about its mean 0.5
    # (41/81 and 40/81 inside; exactly 0.5 at the border)
    x = (np.indices((33, 33)).sum(axis=0) % 2).astype(np.float64)[None, None]
    box = [np.array([v]) for v in (0, 0, 33, 33)]
    y = T.resized_crop(x, *box, 11)
    np.testing.assert_allclose(y[..., 1:-1, 1:-1], 0.5, atol=0.5 / 81 + 1e-12)
    assert np.ptp(T.resized_crop(x, *box, 11, antialias=False)) == 1.0


def test_masks_and_nearest_ignore_antialias():
    rng = np.random.default_rng(1)
    x = rng.random((3, 2, 20, 30))
    mask = rng.integers(0, 5, (3, 20, 30))
    box = (np.array([0, 2, 5]), np.array([1, 0, 3]), np.array([20, 12, 15]), np.array([29, 30, 9]))
    for on in (x, mask):
        a = T.resized_crop(on, *box, (6, 7), "nearest" if on is x else "bilinear")
        b = T.resized_crop(on, *box, (6, 7), "nearest" if on is x else "bilinear", antialias=False)
        np.testing.assert_array_equal(a, b)


@SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(1, 5), h=st.integers(4, 40),
    w=st.integers(4, 40), size=st.integers(1, 16),
)  # fmt: skip
def test_random_resized_crop_boxes_do_not_depend_on_antialias(seed, n, h, w, size):
    x = np.random.default_rng(seed).random((n, 2, h, w))
    mask = np.arange(n * h * w).reshape(n, h, w)  # every pixel its own label: it shows the box
    outs = {}
    for antialias in (True, False):
        t = T.RandomResizedCrop(size, antialias=antialias)
        box = t.boxes(n, h, w, np.random.default_rng(seed))
        y, m = t(x, mask, rng=np.random.default_rng(seed))
        np.testing.assert_array_equal(y, T.resized_crop(x, *box, size, antialias=antialias))
        outs[antialias] = box, m
    for a, b in zip(outs[True][0], outs[False][0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(outs[True][1], outs[False][1])


def test_random_resized_crop_default_is_antialias_true():
    assert T.RandomResizedCrop(8).antialias is True
    assert "antialias=False" in repr(T.RandomResizedCrop(8, antialias=False))


def test_an_interpolation_other_than_nearest_or_bilinear_is_refused():
    x = np.zeros((1, 1, 4, 4), np.float32)
    one = np.ones(1, np.int64)
    with pytest.raises(ValueError, match="resized_crop: interpolation must be 'nearest' or"):
        T.resized_crop(x, 0 * one, 0 * one, 4 * one, 4 * one, 2, interpolation="bicubic")
