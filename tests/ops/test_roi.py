"""mt.ops.roi_align and roi_pool: equal to torchvision's CPU kernels written as loops (per ROI,
bin, sample point and pixel) over hypothesis-drawn feature maps and boxes (outside the map,
inverted, sub-pixel, any scale, adaptive or fixed sampling, aligned or not); the gradient
equal to the loops' weights (roi_align is linear in the input) and argmaxes (roi_pool); float64
gradchecks; the list-of-boxes form; memory at realistic sizes and with a huge sampling grid;
roi_pool's bins padded per chunk, not to the largest ROI; the modules' torchvision reprs;
errors."""

from __future__ import annotations

import math
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from minitorch_cv.ops import roi as roi_module
from tests.strategies_core import SETTINGS, arrays, leaf

FLT_MAX = float(np.finfo(np.float32).max)


# --------------------------------------------------------------------------- loop references


def loop_bilinear_taps(h, w, y, x):
    """torchvision's bilinear_interpolate: [(row, col, weight)] of the sample at (y, x)."""
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return []
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= h - 1:
        y_high = y_low = h - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= w - 1:
        x_high = x_low = w - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return [(y_low, x_low, hy * hx), (y_low, x_high, hy * lx),
            (y_high, x_low, ly * hx), (y_high, x_high, ly * lx)]  # fmt: skip


def loop_roi_align(x, rois, out_hw, scale, sampling_ratio, aligned):
    """roi_align_forward_kernel_impl as loops; also returns d out / d x as a dense matrix."""
    n, c, h, w = x.shape
    ph, pw = out_hw
    out = np.zeros((len(rois), c, ph, pw))
    jac = np.zeros((len(rois), ph, pw, h, w))  # the same for every channel
    for k, roi in enumerate(rois):
        b = int(roi[0])
        off = 0.5 if aligned else 0.0
        sw, sh = roi[1] * scale - off, roi[2] * scale - off
        rw, rh = roi[3] * scale - off - sw, roi[4] * scale - off - sh
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bh, bw = rh / ph, rw / pw
        gh = sampling_ratio if sampling_ratio > 0 else math.ceil(rh / ph)
        gw = sampling_ratio if sampling_ratio > 0 else math.ceil(rw / pw)
        count = max(gh * gw, 1)
        for i in range(ph):
            for j in range(pw):
                for iy in range(gh):
                    yy = sh + i * bh + (iy + 0.5) * bh / gh
                    for ix in range(gw):
                        xx = sw + j * bw + (ix + 0.5) * bw / gw
                        for r, q, wt in loop_bilinear_taps(h, w, yy, xx):
                            out[k, :, i, j] += wt * x[b, :, r, q] / count
                            jac[k, i, j, r, q] += wt / count
    return out, jac


def c_round(v):
    """C's round(): halves away from zero."""
    return math.copysign(math.floor(abs(v) + 0.5), v)


def loop_roi_pool(x, rois, out_hw, scale):
    """roi_pool_forward_kernel_impl as loops: (output, argmax as (row, col) or None)."""
    n, c, h, w = x.shape
    ph, pw = out_hw
    out = np.zeros((len(rois), c, ph, pw))
    arg = np.full((len(rois), c, ph, pw), None, dtype=object)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        sw, sh, ew, eh = (int(c_round(v * scale)) for v in roi[1:])
        rw, rh = max(ew - sw + 1, 1), max(eh - sh + 1, 1)
        bh, bw = rh / ph, rw / pw
        for i in range(ph):
            for j in range(pw):
                hs = min(max(math.floor(i * bh) + sh, 0), h)
                he = min(max(math.ceil((i + 1) * bh) + sh, 0), h)
                ws = min(max(math.floor(j * bw) + sw, 0), w)
                we = min(max(math.ceil((j + 1) * bw) + sw, 0), w)
                empty = he <= hs or we <= ws
                for ch in range(c):
                    best, where = (0.0 if empty else -FLT_MAX), None
                    for r in range(hs, he):
                        for q in range(ws, we):
                            if x[b, ch, r, q] > best:
                                best, where = x[b, ch, r, q], (r, q)
                    out[k, ch, i, j], arg[k, ch, i, j] = best, where
    return out, arg


# --------------------------------------------------------------------------- strategies


@st.composite
def roi_case(draw, unique=False):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    x = draw(arrays((n, c, h, w), -2.0, 2.0, unique=unique))
    k = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25, 2.0]))
    span = (max(h, w) + 2) / scale

    def coord():  # on a quarter grid: halves after scaling (C round) and pixel edges happen
        return draw(st.integers(round(-8 / scale), round(4 * span))) / 4

    rois = np.array([[draw(st.integers(0, n - 1)), coord(), coord(), coord(), coord()]
                     for _ in range(k)], np.float64)  # fmt: skip
    if draw(st.booleans()):  # mostly proper boxes: x1 <= x2, y1 <= y2
        rois[:, [1, 3]] = np.sort(rois[:, [1, 3]], axis=1)
        rois[:, [2, 4]] = np.sort(rois[:, [2, 4]], axis=1)
    out_hw = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return x, rois, out_hw, scale


@SETTINGS
@given(
    case=roi_case(),
    sampling_ratio=st.sampled_from([-1, 0, 1, 2, 3]),
    aligned=st.booleans(),
)
def test_roi_align_matches_the_kernel_loop_and_its_gradient(case, sampling_ratio, aligned):
    x, rois, out_hw, scale = case
    xt = leaf(x)
    y = ops.roi_align(xt, mt.tensor(rois), out_hw, scale, sampling_ratio, aligned)
    want, jac = loop_roi_align(x, rois, out_hw, scale, sampling_ratio, aligned)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(0).standard_normal(want.shape)
    (y * mt.tensor(g)).sum().backward()
    gx = np.zeros_like(x)  # sum over ROIs of their (channel-independent) weights times g
    for k, roi in enumerate(rois):
        gx[int(roi[0])] += np.einsum("cij,ijhw->chw", g[k], jac[k])
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(case=roi_case(unique=True))
def test_roi_pool_matches_the_kernel_loop_and_its_argmax_gradient(case):
    x, rois, out_hw, scale = case
    xt = leaf(x)
    y = ops.roi_pool(xt, mt.tensor(rois), out_hw, scale)
    want, arg = loop_roi_pool(x, rois, out_hw, scale)
    np.testing.assert_array_equal(y.numpy(), want)
    g = np.random.default_rng(0).standard_normal(want.shape)
    (y * mt.tensor(g)).sum().backward()
    gx = np.zeros_like(x)
    for (k, ch, i, j), where in np.ndenumerate(arg):
        if where is not None:
            gx[int(rois[k, 0]), ch, where[0], where[1]] += g[k, ch, i, j]
    np.testing.assert_allclose(xt.grad.numpy(), gx, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=roi_case(unique=True), sampling_ratio=st.sampled_from([-1, 2]), aligned=st.booleans())
def test_roi_align_and_roi_pool_gradcheck_float64(case, sampling_ratio, aligned):
    x, rois, out_hw, scale = case
    r = mt.tensor(rois)
    assert mt.gradcheck(lambda t: ops.roi_align(t, r, out_hw, scale, sampling_ratio, aligned),
                        [leaf(x)])  # fmt: skip
    assert mt.gradcheck(lambda t: ops.roi_pool(t, r, out_hw, scale), [leaf(x)])


def test_roi_pool_ties_empty_bins_and_nan():
    x = np.zeros((1, 1, 3, 4))
    x[0, 0, 1, 1] = x[0, 0, 2, 0] = 5.0  # a tie: the first in row-major order wins
    x[0, 0, 0, 3] = np.nan  # never the maximum
    xt = leaf(x)
    rois = mt.tensor([[0, 0, 0, 3, 2], [0, 10, 10, 12, 12], [0, 3, 0, 3, 0]])
    y = ops.roi_pool(xt, rois, 1)
    # the first ROI covers the whole map; the second lies outside (empty bin: 0); the third is
    # the NaN pixel alone: nothing beats -FLT_MAX
    np.testing.assert_array_equal(y.numpy().ravel(), [5.0, 0.0, -FLT_MAX])
    y.sum().backward()
    want = np.zeros_like(x)
    want[0, 0, 1, 1] = 1.0
    np.testing.assert_array_equal(xt.grad.numpy(), want)


def test_roi_pool_rounds_halves_away_from_zero():
    # x1 = x2 = 2.5 round to 3 (NumPy's round: 2), y1 = -0.5 to -1 (NumPy: 0), y2 = 0.4 to 0
    x = mt.tensor(np.arange(36.0).reshape(1, 1, 6, 6))
    y = ops.roi_pool(x, mt.tensor([[0, 2.5, -0.5, 2.5, 0.4]]), (2, 1))
    # columns 3..3, rows -1..0 -> bins [-1, 0) (empty after clipping: 0) and [0, 1) -> x[0, 3]
    np.testing.assert_array_equal(y.numpy().ravel(), [0.0, 3.0])


def test_roi_align_by_hand():
    x = mt.tensor(np.arange(16.0).reshape(1, 1, 4, 4))  # value = 4 * row + col: linear
    # aligned box over pixels 1..2 (centres 1, 2): one bin, 2x2 samples at 1.25, 1.75 per axis
    y = ops.roi_align(x, mt.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), 1, aligned=True)
    np.testing.assert_allclose(y.numpy().ravel(), [4 * 1.5 + 1.5])
    # legacy (not aligned): samples at 1.5, 2.5 per axis
    y = ops.roi_align(x, mt.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), 1)
    np.testing.assert_allclose(y.numpy().ravel(), [4 * 2.0 + 2.0])
    # an inverted aligned box has an empty sampling grid: 0
    y = ops.roi_align(x, mt.tensor([[0, 3.0, 3.0, 1.0, 1.0]]), 2, aligned=True)
    np.testing.assert_array_equal(y.numpy(), np.zeros((1, 1, 2, 2)))


def test_list_of_boxes_equals_the_k5_tensor_and_float32_stays_float32():
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((3, 3, 9, 8)).astype(np.float32))
    per_image = [  # image 1 has no boxes
        mt.tensor([[0.5, 1.0, 6.0, 7.5], [2.0, 2.0, 3.0, 3.0]]),
        mt.zeros(0, 4),
        mt.tensor([[1.0, 0.0, 8.0, 5.5]]),
    ]
    k5 = mt.tensor([[0, 0.5, 1.0, 6.0, 7.5], [0, 2.0, 2.0, 3.0, 3.0], [2, 1.0, 0.0, 8.0, 5.5]])
    for fn in (lambda b: ops.roi_align(x, b, (2, 3), 0.5, 2, True),
               lambda b: ops.roi_pool(x, b, (2, 3), 0.5)):  # fmt: skip
        a, b = fn(per_image), fn(k5)
        assert a.dtype == np.float32 and a.shape == (3, 3, 2, 3)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    want, _ = loop_roi_align(x.numpy().astype(np.float64), k5.numpy(), (2, 3), 0.5, -1, False)
    got = ops.roi_align(x, k5, (2, 3), 0.5).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert ops.roi_align(x, [mt.zeros(0, 4)] * 3, 2).shape == (0, 3, 2, 2)


def test_chunked_gather_equals_one_chunk(monkeypatch):
    """The ROIs are processed in chunks of bounded size (roi_align's sample points in blocks);
    a tiny budget (one ROI, one sample point at a time) gives the same values and gradients."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 7, 6))
    rois = np.array([[0, 0.3, 0.1, 5.2, 6.0], [1, 2.0, 1.0, 4.5, 3.0], [1, 0, 0, 2, 9.0]])

    def both():
        xt = leaf(x)
        a = ops.roi_align(xt, mt.tensor(rois), (3, 2))
        p = ops.roi_pool(xt, mt.tensor(rois), (2, 2))
        (a.sum() + (p * 2).sum()).backward()
        return a.numpy(), p.numpy(), xt.grad.numpy()

    ref = both()
    monkeypatch.setattr(roi_module, "_CHUNK_ELEMENTS", 1)
    for got, want in zip(both(), ref):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def detector_rois(k, n, hw, stride, rng):
    """k boxes in image coordinates of a stride-`stride` map (h, w), 16 to 316 pixels a side."""
    h, w = hw
    xy = rng.random((k, 2)) * [w * stride - 150, h * stride - 150]
    corner = np.minimum(xy + rng.random((k, 2)) * 300 + 16, [w * stride, h * stride])
    return np.concatenate([rng.integers(0, n, (k, 1)), xy, corner], axis=1)


def test_roi_align_memory_at_a_detector_size_is_that_of_its_input_and_output():
    """256 ROIs on a (2, 64, 50, 68) stride-16 map, 7 x 7 bins of 2 x 2 samples: forward and
    backward within a few copies of the input and output (gathering every sample's four corners
    with their indices and weights took about 400 MB here)."""
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal((2, 64, 50, 68)).astype(np.float32), requires_grad=True)
    rois = mt.tensor(detector_rois(256, 2, (50, 68), 16, rng).astype(np.float32))

    def run():
        y = ops.roi_align(x, rois, 7, 1 / 16, 2, True)
        y.backward(mt.ones(*y.shape))

    size = x.numpy().nbytes + 256 * 64 * 49 * 4
    assert peak_bytes(run) < 4 * size


@pytest.mark.parametrize("aligned", [True, False])
def test_roi_align_with_a_huge_sampling_grid_runs_in_little_memory(aligned):
    """An adaptive grid on a 10000-pixel box: ceil(10000 / 7) = 1429 samples per bin and axis,
    49 * 1429^2 = 100 million sample points, nearly all off the 16 x 16 map. On an input of ones
    a bin is (its live rows) * (its live columns) / count, each live sample's weights summing to
    1; memory stays small (gathering the samples takes gigabytes)."""
    x = mt.ones(1, 2, 16, 16, dtype=mt.float64, requires_grad=True)
    box = mt.tensor([[0, -5000.0, -5000.0, 5000.0, 5000.0]])
    out = {}

    def run():
        out["y"] = ops.roi_align(x, box, 7, 1.0, -1, aligned)
        out["y"].sum().backward()

    assert peak_bytes(run) < 8 << 20
    off = 0.5 if aligned else 0.0
    start, bin_size, grid = -5000.0 - off, 10000.0 / 7, math.ceil(10000.0 / 7)
    i = np.arange(grid) + 0.5
    t = (start + np.arange(7)[:, None] * bin_size) + (i * bin_size) / grid  # (7, grid)
    live = ((t >= -1.0) & (t <= 16)).sum(axis=1)
    want = live[:, None] * live[None, :] / grid**2
    assert live.sum() > 0
    np.testing.assert_allclose(out["y"].numpy()[0], np.broadcast_to(want, (2, 7, 7)), rtol=1e-12)
    # linear in x: the gradient of sum(y) sums, at x = 1, to sum(y)
    np.testing.assert_allclose(x.grad.numpy().sum(), out["y"].numpy().sum(), rtol=1e-12)


def test_roi_align_costs_only_the_samples_on_the_map():
    """A 2e9-pixel box: 285714286 samples per bin and axis, of which about 18 per axis land on
    the 16 x 16 map, all in the middle bin. It runs in little memory (and at once: only the
    samples that can be on the map are computed)."""
    x = mt.ones(1, 1, 16, 16, dtype=mt.float64, requires_grad=True)
    box = mt.tensor([[0, -1e9, -1e9, 1e9, 1e9]])
    out = {}

    def run():
        out["y"] = ops.roi_align(x, box, 7, 1.0, -1, True)
        out["y"].sum().backward()

    assert peak_bytes(run) < 8 << 20
    grid = math.ceil(2e9 / 7)
    y = out["y"].numpy()[0, 0] * float(grid) ** 2  # live rows * live columns
    assert round(y[3, 3]) in (17 * 17, 17 * 18, 18 * 18)
    np.testing.assert_allclose(y[3, 3], round(y[3, 3]), rtol=1e-9)
    y[3, 3] = 0
    assert not y.any()
    np.testing.assert_allclose(x.grad.numpy().sum(), out["y"].numpy().sum(), rtol=1e-12)


def test_roi_pool_pads_bins_per_chunk_not_to_the_largest_roi():
    """One whole-image ROI among 512 detector boxes must not pad every ROI's bins to its 9 x 11
    bins: the cells gathered (the chunks' padded bins) stay within 1.5 times each ROI's own
    largest bin (padding to the largest ROI gathers 13 times as many)."""
    rng = np.random.default_rng(0)
    rois = detector_rois(512, 2, (50, 68), 16, rng)
    rois[0] = [0, 0, 0, 68 * 16 - 1, 50 * 16 - 1]
    (hs, he), (ws, we) = roi_module._pool_windows(rois, (7, 7), 1 / 16, (50, 68))
    bins = np.maximum(np.stack([(he - hs).max(axis=1), (we - ws).max(axis=1)], axis=1), 1)
    chunks = roi_module._size_chunks(bins, 256 * 49)
    ids = np.concatenate([c[0] for c in chunks])
    assert sorted(ids.tolist()) == list(range(512))  # every ROI once
    for c, h, w in chunks:  # each chunk's padding holds its ROIs' bins, within the budget
        assert (bins[c] <= [h, w]).all()
        assert len(c) == 1 or len(c) * h * w * 256 * 49 <= roi_module._CHUNK_ELEMENTS
    gathered = sum(len(c) * h * w for c, h, w in chunks)
    assert gathered <= 1.5 * (bins[:, 0] * bins[:, 1]).sum()
    x = mt.tensor(rng.standard_normal((2, 1, 50, 68)))
    y = ops.roi_pool(x, mt.tensor(rois[:8]), 7, 1 / 16).numpy()
    np.testing.assert_array_equal(y, loop_roi_pool(x.numpy(), rois[:8], (7, 7), 1 / 16)[0])


def test_modules_and_their_torchvision_reprs():
    a = ops.RoIAlign((7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=True)
    assert (
        repr(a)
        == "RoIAlign(output_size=(7, 7), spatial_scale=0.25, sampling_ratio=2, aligned=True)"
    )
    p = ops.RoIPool(output_size=3, spatial_scale=1.0)
    assert repr(p) == "RoIPool(output_size=3, spatial_scale=1.0)"
    x = mt.randn(1, 2, 8, 8)
    boxes = [mt.tensor([[0.0, 0.0, 16.0, 20.0]])]
    np.testing.assert_array_equal(
        a(x, boxes).numpy(), ops.roi_align(x, boxes, 7, 0.25, 2, True).numpy()
    )
    assert p(x, boxes).shape == (1, 2, 3, 3)


def test_roi_errors_name_the_op_and_the_shapes():
    x = mt.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"roi_align: expected boxes as a \(K, 5\) tensor .* "
                                         r"got shape \(3, 4\)"):  # fmt: skip
        ops.roi_align(x, mt.zeros(3, 4), 2)
    with pytest.raises(ValueError, match=r"roi_pool: expected boxes as a list of \(Ki, 4\) "
                                         r"tensors, got item 1 of shape \(2, 5\)"):  # fmt: skip
        ops.roi_pool(x, [mt.zeros(1, 4), mt.zeros(2, 5)], 2)
    want = r"roi_align: expected a floating point input of shape \(N, C, H, W\), got float32"
    with pytest.raises(ValueError, match=want + r" of shape \(3, 8, 8\)"):
        ops.roi_align(mt.randn(3, 8, 8), mt.zeros(1, 5), 2)
    want = r"roi_pool: box batch indices must lie in \[0, 1\] for input \(2, 3, 8, 8\)"
    with pytest.raises(ValueError, match=want + r", got indices from 0 to 2"):
        ops.roi_pool(x, mt.tensor([[0, 0, 0, 1, 1], [2, 0, 0, 1, 1.0]]), 2)
    with pytest.raises(ValueError, match=r"roi_align: output_size must be a positive int or "
                                         r"\(height, width\), got \(0, 2\)"):  # fmt: skip
        ops.roi_align(x, mt.zeros(1, 5), (0, 2))
    with pytest.raises(TypeError, match=r"roi_pool: boxes must be a \(K, 5\) tensor or a list"):
        ops.roi_pool(x, 3, 2)
    with pytest.raises(TypeError, match=r"roi_align: output_size must be a positive int or "
                                        r"\(height, width\), got 7.0"):  # fmt: skip
        ops.roi_align(x, mt.zeros(1, 5), 7.0)
    with pytest.raises(TypeError, match=r"roi_pool: output_size .* got \(2, 2.0\)"):
        ops.roi_pool(x, mt.zeros(1, 5), (2, 2.0))
    with pytest.raises(TypeError, match=r"roi_align: sampling_ratio must be an int, got 2.5"):
        ops.roi_align(x, mt.zeros(1, 5), 2, sampling_ratio=2.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy cast warning first
        with pytest.raises(ValueError, match=r"roi_align: box batch indices must be finite, "
                                             r"got nan"):  # fmt: skip
            ops.roi_align(x, mt.tensor([[0, 0, 0, 1, 1], [np.nan, 0, 0, 1, 1.0]]), 2)
