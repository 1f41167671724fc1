"""Integer inputs of the pooling, convolution and resize ops, where PyTorch's CPU computes them.

Proved here, for hypothesis-drawn shapes, kernels, strides, paddings, dilations, ceil_mode and
every integer dtype (values include the dtype's extremes, and few distinct values for ties):
- max_pool2d / max_pool3d / max_pool1d(return_indices=True) and the MaxPool layers equal a
  plain loop written as PyTorch's CPU kernel (padding at the dtype's minimum, the first maximum
  in scan order, a window of minimums reporting its first tap at or after 0): values, dtype,
  int64 indices; and equal torch's;
- avg_pool1d / 2d / 3d of int64 equal a loop with Python ints (the sum wrapping around mod
  2**64, divided rounding toward zero, PyTorch's divisor rules) and torch;
- conv2d / conv1d / conv3d of one integer dtype equal a loop with Python ints wrapped to the
  dtype (overflow included) and torch; the float64 route (exact below 2**53) and the int64 one
  agree, a sum past 2**53 takes the int64 one, the batch runs in slices, and the columns of the
  whole batch are never unfolded at once (tracemalloc);
- interpolate of uint8 (nearest, nearest-exact in 1, 2, 3 dims; bilinear and bicubic with both
  align_corners) equals a per-pixel loop of Pillow's fixed-point resampling and torch bit for
  bit: half rounds up, bicubic's overshoot clamps to [0, 255];
- what PyTorch refuses on integers stays refused with an error naming the op (and torch refuses
  it too); integer outputs carry no gradient and float inputs keep theirs.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import kernels, nn
from minitorch_cv.functional import conv as conv_module
from minitorch_cv.kernels import im2col_numpy
from tests.strategies import FEW, SETTINGS

INTS = ["int8", "int16", "int32", "int64", "uint8"]


# --------------------------------------------------------------------------- loop references


def _pool_out(n, k, s, p, d, ceil):
    """PyTorch's output size: floor or ceil of (n + 2p - d(k-1) - 1) / s, plus 1; with ceil_mode
    the last window must start inside the input or the left padding."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    return out - 1 if ceil and (out - 1) * s >= n + p else out


def _flat(pos, size):
    """The flat index of `pos` in a volume of `size` (pos may lie outside it)."""
    return sum(q * int(np.prod(size[a + 1 :])) for a, q in enumerate(pos))


def ref_max_pool(x, k, s, p, d, ceil):
    """PyTorch's CPU loop: each window scans its taps inside the input in order; the best starts
    at the dtype's minimum with the index of the first tap at or after 0 on every axis, and a
    tap replaces it only when strictly greater."""
    size = x.shape[2:]
    out = tuple(_pool_out(*a, ceil) for a in zip(size, k, s, p, d))
    y, idx = np.empty(x.shape[:2] + out, x.dtype), np.empty(x.shape[:2] + out, np.int64)
    for nc in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            start = [oi * si - pi for oi, si, pi in zip(o, s, p)]
            ends = [min(st + di * (ki - 1) + 1, n) for st, di, ki, n in zip(start, d, k, size)]
            start = [st + di * max(0, -(st // di)) for st, di in zip(start, d)]  # first >= 0
            best, where = np.iinfo(x.dtype).min, _flat(start, size)
            for pos in itertools.product(*(range(a, b, di) for a, b, di in zip(start, ends, d))):
                if x[nc + pos] > best:
                    best, where = x[nc + pos], _flat(pos, size)
            y[nc + o], idx[nc + o] = best, where
    return y, idx


def _wrap(v, dtype):
    """The Python int v as the integer dtype holds it (wrapping around)."""
    bits = np.dtype(dtype).itemsize * 8
    v %= 1 << bits
    return v - (1 << bits) if np.dtype(dtype).kind == "i" and v >= 1 << (bits - 1) else v


def ref_avg_pool(x, k, s, p, ceil, count_include_pad, divisor_override):
    """PyTorch's int64 average: the window clipped to the padded input; the sum of its real
    values (wrapping around in int64) divided by divisor_override, or the clipped window's size
    (count_include_pad) or its real count, rounding toward zero."""
    size = x.shape[2:]
    out = tuple(_pool_out(n, ki, si, pi, 1, ceil) for n, ki, si, pi in zip(size, k, s, p))
    y = np.empty(x.shape[:2] + out, np.int64)
    for nc in np.ndindex(*x.shape[:2]):
        for o in np.ndindex(*out):
            lo = [oi * si - pi for oi, si, pi in zip(o, s, p)]
            hi = [min(a + ki, n + pi) for a, ki, n, pi in zip(lo, k, size, p)]
            real = [range(max(a, 0), min(b, n)) for a, b, n in zip(lo, hi, size)]
            total = _wrap(sum(int(x[nc + pos]) for pos in itertools.product(*real)), np.int64)
            div = divisor_override or int(
                np.prod([b - a for a, b in zip(lo, hi)] if count_include_pad
                        else [len(r) for r in real])
            )  # fmt: skip
            q = abs(total) // abs(div)
            y[nc + o] = q if (total < 0) == (div < 0) else -q
    return y


def ref_conv(x, w, b, s, p, d, groups):
    """y[n, f, o] = b[f] + sum over the group's channels and the taps inside the input of
    w[f, c, t] * x[n, c, o*s - p + t*d], in Python ints, wrapped to the dtype."""
    size, kernel = x.shape[2:], w.shape[2:]
    out = tuple((n + 2 * pi - di * (ki - 1) - 1) // si + 1
                for n, ki, si, pi, di in zip(size, kernel, s, p, d))  # fmt: skip
    f, cg = w.shape[:2]
    y = np.empty((len(x), f) + out, x.dtype)
    for n, fo in np.ndindex(len(x), f):
        g = fo // (f // groups)
        for o in np.ndindex(*out):
            acc = 0 if b is None else int(b[fo])
            for c in range(cg):
                for t in np.ndindex(*kernel):
                    pos = tuple(oi * si - pi + ti * di for oi, si, pi, ti, di in zip(o, s, p, t, d))
                    if all(0 <= q < n_ for q, n_ in zip(pos, size)):
                        acc += int(w[(fo, c) + t]) * int(x[(n, g * cg + c) + pos])
            y[(n, fo) + o] = _wrap(acc, x.dtype)
    return y


def _fixed_point_taps(size, out, scale, align_corners, cubic):
    """Pillow's fixed-point weights of one axis as PyTorch's uint8 kernel, output by output:
    [(first source index, [int weights]), ...] and the precision p."""
    k = 4 if cubic else 2
    if align_corners:
        sc = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        sc = 1.0 / scale if scale else size / out
    rows, top = [], 0.0
    for i in range(out):
        real = sc * i if align_corners else sc * (i + 0.5) - 0.5
        if not (cubic or align_corners):
            real = max(real, 0.0)
        i0 = min(int(np.floor(np.float32(real))), size - 1)  # PyTorch floors in float32
        lam = min(max(real - i0, 0.0), 1.0)
        first = i0 - k // 2 + 1
        weights = {}
        for j in range(k):  # taps past an edge add to the edge pixel
            t = abs(j + 1 - k // 2 - lam)
            if cubic:
                a = -0.75
                wt = (((a + 2) * t - (a + 3)) * t * t + 1 if t < 1
                      else ((a * t - 5 * a) * t + 8 * a) * t - 4 * a if t < 2 else 0.0)  # fmt: skip
            else:
                wt = max(1.0 - t, 0.0)
            src = min(max(first + j, 0), size - 1)
            weights[src] = weights.get(src, 0.0) + wt
            top = max(top, weights[src])
        rows.append(weights)
    p = 0
    while p < 22 and int(0.5 + top * 2 ** (p + 1)) < 2**15:
        p += 1
    quant = [{src: int(v * 2**p + (0.5 if v >= 0 else -0.5)) for src, v in r.items()} for r in rows]
    return quant, p


def ref_resize_uint8(x, out_hw, scales, align_corners, cubic):
    """PyTorch's uint8 bilinear / bicubic: the width, then the height, each output pixel
    clamp((2**(p-1) + sum of int weight * pixel) >> p, 0, 255)."""
    y = x
    for axis in (3, 2):
        size, out = y.shape[axis], out_hw[axis - 2]
        if size == out:
            continue
        rows, p = _fixed_point_taps(size, out, scales[axis - 2], align_corners, cubic)
        new = np.moveaxis(
            np.empty(y.shape[:axis] + (out,) + y.shape[axis + 1 :], np.uint8), axis, -1
        )
        src = np.moveaxis(y, axis, -1)
        for lead in np.ndindex(*src.shape[:-1]):
            for i, weights in enumerate(rows):
                acc = (1 << (p - 1)) + sum(
                    wq * int(src[lead + (s_,)]) for s_, wq in weights.items()
                )
                new[lead + (i,)] = min(max(acc >> p, 0), 255)
        y = np.moveaxis(new, -1, axis)
    return y


# --------------------------------------------------------------------------- strategies


@st.composite
def pool_geometry(draw, nd, dilation=True):
    """(shape, kernel, stride, padding, dilation, ceil_mode) that PyTorch accepts; windows of
    padding alone (dilated) included."""
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    p = tuple(draw(st.integers(0, ki // 2)) for ki in k)
    d = tuple(draw(st.integers(1, 2)) if dilation else 1 for _ in range(nd))
    ceil = draw(st.booleans())
    size = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 6 if nd == 3 else 8))
                 for ki, pi, di in zip(k, p, d))  # fmt: skip
    assume(all(_pool_out(*a, ceil) >= 1 for a in zip(size, k, s, p, d)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + size
    return shape, k, s, p, d, ceil


@st.composite
def int_arrays(draw, shape, dtype):
    """Values of `dtype`: drawn over its whole range, from a few (its extremes, 0, 1, -1) so
    that most windows hold ties and windows of the minimum alone, or small ones (|v| < 10: a
    wide dtype's convolution then runs in float64, see conv.int_conv)."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["whole", "few", "small"]))
    if kind == "whole":
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    if kind == "small":
        return rng.integers(max(info.min, -9), 10, shape).astype(dtype)
    few = np.array(sorted({info.min, info.max, 0, 1, max(info.min, -1)}), dtype)
    return rng.choice(few, shape)


def _torch():
    return pytest.importorskip("torch")


def _same(ours, theirs):
    """Equal values and dtype (a torch tensor or an array on the right)."""
    theirs = theirs.numpy() if hasattr(theirs, "numpy") else theirs
    assert ours.numpy().dtype == theirs.dtype
    np.testing.assert_array_equal(ours.numpy(), theirs)


# --------------------------------------------------------------------------- max pooling


@SETTINGS
@given(geo=pool_geometry(2), dtype=st.sampled_from(INTS), data=st.data())
def test_int_max_pool2d_matches_the_loop(geo, dtype, data):
    shape, k, s, p, d, ceil = geo
    x = data.draw(int_arrays(shape, dtype))
    y, idx = F.max_pool2d(mt.tensor(x), k, s, p, d, ceil, return_indices=True)
    want, want_idx = ref_max_pool(x, k, s, p, d, ceil)
    _same(y, want)
    _same(idx, want_idx)
    _same(F.max_pool2d(mt.tensor(x), k, s, p, d, ceil), want)
    _same(nn.MaxPool2d(k, s, p, d, ceil_mode=ceil)(mt.tensor(x)), want)
    assert not y.requires_grad


@FEW
@given(geo=pool_geometry(3), dtype=st.sampled_from(INTS), data=st.data())
def test_int_max_pool3d_matches_the_loop(geo, dtype, data):
    shape, k, s, p, d, ceil = geo
    x = data.draw(int_arrays(shape, dtype))
    y, idx = F.max_pool3d(mt.tensor(x), k, s, p, d, ceil, return_indices=True)
    want, want_idx = ref_max_pool(x, k, s, p, d, ceil)
    _same(y, want)
    _same(idx, want_idx)
    layer = nn.MaxPool3d(k, s, p, d, return_indices=True, ceil_mode=ceil)
    _same(layer(mt.tensor(x))[1], want_idx)


@SETTINGS
@given(geo=pool_geometry(1), dtype=st.sampled_from(INTS), data=st.data())
def test_int_max_pool1d_with_indices_matches_the_loop(geo, dtype, data):
    shape, k, s, p, d, ceil = geo
    x = data.draw(int_arrays(shape, dtype))
    y, idx = F.max_pool1d(mt.tensor(x), k, s, p, d, ceil, return_indices=True)
    want, want_idx = ref_max_pool(x, k, s, p, d, ceil)
    _same(y, want)
    _same(idx, want_idx)


@pytest.mark.parity
@SETTINGS
@given(nd=st.sampled_from([1, 2, 2, 3]), dtype=st.sampled_from(INTS), data=st.data())
def test_int_max_pool_as_torch(nd, dtype, data):
    torch = _torch()
    shape, k, s, p, d, ceil = data.draw(pool_geometry(nd))
    x = data.draw(int_arrays(shape, dtype))
    ours = getattr(F, f"max_pool{nd}d")(mt.tensor(x), k, s, p, d, ceil, return_indices=True)
    theirs = getattr(torch.nn.functional, f"max_pool{nd}d")(
        torch.from_numpy(x), k, s, p, d, ceil, return_indices=True
    )
    for a, b in zip(ours, theirs):
        _same(a, b)


def test_int_max_pool_pads_with_the_dtype_minimum():
    # -5 beats the padding of int8 (-128); a window of -128 alone reports its first real pixel
    x = np.array([[[[-128, -128, -5], [-128, -128, -7], [-3, -3, -128]]]], np.int8)
    y, idx = F.max_pool2d(mt.tensor(x), 3, 1, 1, return_indices=True)
    assert y.tolist() == [[[[-128, -5, -5], [-3, -3, -3], [-3, -3, -3]]]]
    assert idx.tolist() == [[[[0, 2, 2], [6, 6, 7], [6, 6, 7]]]]
    z, zi = F.max_pool2d(mt.tensor(np.zeros((1, 1, 2, 2), np.uint8)), 2, 1, 1, return_indices=True)
    assert z.dtype == mt.uint8 and z.numpy().max() == 0
    assert zi.tolist() == [[[[0, 0, 1], [0, 0, 1], [2, 2, 3]]]]  # as torch's


def test_float_max_pool3d_indices_of_windows_of_padding_alone_as_torch():
    # a dilated window holding padding alone: index of the first tap at or after 0 per axis
    # (it was negative), as torch's [1, 3, 5, ...]; the float gradient is unchanged
    x = mt.tensor(np.random.default_rng(0).standard_normal((2, 2, 2, 5, 1)), requires_grad=True)
    y, idx = F.max_pool3d(x, (1, 1, 2), 2, (0, 0, 1), 2, True, return_indices=True)
    assert idx.numpy().min() >= 0 and idx.numpy()[0, 0].ravel().tolist() == [1, 3, 5]
    y.sum().backward()
    assert x.grad.dtype == mt.float64


# --------------------------------------------------------------------------- average pooling


@SETTINGS
@given(nd=st.sampled_from([1, 2, 3]), cip=st.booleans(), override=st.sampled_from([None, 3, -2]),
       data=st.data())  # fmt: skip
def test_int64_avg_pool_matches_the_loop(nd, cip, override, data):
    shape, k, s, p, _, ceil = data.draw(pool_geometry(nd, dilation=False))
    if nd == 3:  # avg_pool3d refuses an input smaller than the kernel
        assume(all(n >= ki for n, ki in zip(shape[2:], k)))
    x = data.draw(int_arrays(shape, "int64"))
    want = ref_avg_pool(x, k, s, p, ceil, cip, override)
    if nd == 1:
        assume(override is None)  # (avg_pool1d has no divisor_override)
        y = F.avg_pool1d(mt.tensor(x), k, s, p, ceil, cip)
    else:
        y = getattr(F, f"avg_pool{nd}d")(mt.tensor(x), k, s, p, ceil, cip, override)
    _same(y, want)


def test_int64_avg_pool_rounds_toward_zero():
    x = mt.tensor([[[[-7, 2, 5], [3, -1, 4], [9, -8, 1]]]])
    # sums -3, 10 / 3, -4 over 4: -0.75 -> 0, 2.5 -> 2, 0.75 -> 0, -1 -> -1 (// would give -1, -1)
    assert F.avg_pool2d(x, 2, 1).tolist() == [[[[0, 2], [0, -1]]]]
    assert F.avg_pool2d(x, 2, 1, divisor_override=-3).tolist() == [[[[1, -3], [-1, 1]]]]
    big = mt.tensor(np.full((1, 1, 2, 2), 2**62, np.int64))
    assert F.avg_pool2d(big, 2).item() == 0  # 4 * 2**62 wraps around to 0, as torch


@pytest.mark.parity
@SETTINGS
@given(nd=st.sampled_from([2, 3]), cip=st.booleans(), override=st.sampled_from([None, 3, -2]),
       data=st.data())  # fmt: skip
def test_int64_avg_pool_as_torch(nd, cip, override, data):
    torch = _torch()
    shape, k, s, p, _, ceil = data.draw(pool_geometry(nd, dilation=False))
    x = data.draw(int_arrays(shape, "int64"))
    fn = f"avg_pool{nd}d"
    try:
        theirs = getattr(torch.nn.functional, fn)(torch.from_numpy(x), k, s, p, ceil, cip, override)
    except RuntimeError:  # torch's avg_pool3d: input smaller than the kernel; we refuse it too
        with pytest.raises(ValueError, match=fn):
            getattr(F, fn)(mt.tensor(x), k, s, p, ceil, cip, override)
        return
    _same(getattr(F, fn)(mt.tensor(x), k, s, p, ceil, cip, override), theirs)


# --------------------------------------------------------------------------- convolution


@st.composite
def conv_geometry(draw, nd, dtype="int64"):
    """(input shape, weight shape, stride, padding, dilation, groups); dilated only for int64
    (PyTorch's dilated kernel takes no other integers)."""
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    s = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    p = tuple(draw(st.integers(0, 2)) for _ in range(nd))
    d = tuple(draw(st.integers(1, 2 if dtype == "int64" else 1)) for _ in range(nd))
    size = tuple(draw(st.integers(max(1, di * (ki - 1) + 1 - 2 * pi), 5 if nd == 3 else 7))
                 for ki, pi, di in zip(k, p, d))  # fmt: skip
    return (draw(st.integers(1, 2)), cin) + size, (cout, cin // groups) + k, s, p, d, groups


@SETTINGS
@given(nd=st.sampled_from([1, 2, 2, 3]), geo=st.data(), dtype=st.sampled_from(INTS),
       bias=st.booleans())  # fmt: skip
def test_int_conv_matches_the_loop_wrapping_around(nd, geo, dtype, bias):
    xs, ws, s, p, d, groups = geo.draw(conv_geometry(nd, dtype))
    x, w = geo.draw(int_arrays(xs, dtype)), geo.draw(int_arrays(ws, dtype))
    b = geo.draw(int_arrays((ws[0],), dtype)) if bias else None
    y = getattr(F, f"conv{nd}d")(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b),
                                 s, p, d, groups)  # fmt: skip
    _same(y, ref_conv(x, w, b, s, p, d, groups))
    assert not y.requires_grad


@SETTINGS
@given(nd=st.sampled_from([1, 2, 3]), geo=st.data(), dtype=st.sampled_from(INTS))
def test_int_conv_int64_route_equals_the_float64_route(nd, geo, dtype):
    # values where float64 is exact: forcing the int64 matmul gives the same result
    xs, ws, s, p, d, groups = geo.draw(conv_geometry(nd, dtype))
    rng = np.random.default_rng(geo.draw(st.integers(0, 2**32 - 1)))
    lo, hi = max(np.iinfo(dtype).min, -100), min(np.iinfo(dtype).max, 100)
    x, w = (rng.integers(lo, hi, shape).astype(dtype) for shape in (xs, ws))
    run = lambda: getattr(F, f"conv{nd}d")(mt.tensor(x), mt.tensor(w), None, s, p, d, groups)
    assert conv_module._float64_is_exact(x, w, None)
    via_float = run()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(conv_module, "_float64_is_exact", lambda *a: False)
        _same(run(), via_float.numpy())
    _same(via_float, ref_conv(x, w, None, s, p, d, groups))


@SETTINGS
@given(geo=conv_geometry(2), data=st.data())
def test_conv2d_windows_the_gpu_int64_route_matches_the_loop(geo, data):
    # CuPy's int64 convs take _conv2d_windows (the CUDA im2col is floating point only)
    xs, ws, s, p, d, groups = geo
    x, w = data.draw(int_arrays(xs, "int64")), data.draw(int_arrays(ws, "int64"))
    b = data.draw(int_arrays((ws[0],), "int64"))
    y = conv_module._conv2d_windows(x, w, b, s, tuple((q, q) for q in p), d, groups)
    _same(mt.tensor(y), ref_conv(x, w, b, s, p, d, groups))


def test_int_conv_past_float64_precision_takes_the_int64_route():
    # one product of 2**53 + 2**27 + 2**26 + 1: float64 would round it; the int64 route is exact
    for a, b in [(2**27 + 1, 2**26 + 1), (2**26 + 1, 2**26 + 1), (-(2**40) - 3, 2**20 + 7)]:
        x, w = np.full((1, 1, 1, 1), a, np.int64), np.full((1, 1, 1, 1), b, np.int64)
        assert conv_module._float64_is_exact(x, w, None) == (abs(a * b) < 2**53)
        assert F.conv2d(mt.tensor(x), mt.tensor(w)).item() == a * b
    # a bias pushing the sum past 2**53, and a sum of K products each below it
    x = np.full((1, 4, 1, 1), 2**50 + 1, np.int64)
    w = np.full((1, 4, 1, 1), 3, np.int64)
    b = np.array([2**52 + 1], np.int64)
    assert not conv_module._float64_is_exact(x, w, b)
    want = _wrap(4 * 3 * (2**50 + 1) + 2**52 + 1, np.int64)
    assert F.conv2d(mt.tensor(x), mt.tensor(w), mt.tensor(b)).item() == want


def test_int_conv_runs_over_slices_of_the_batch(monkeypatch):
    # slices of one or two images (a remainder included) give the whole batch's result, and no
    # call sees more images than a slice holds
    rng = np.random.default_rng(0)
    x = rng.integers(-(2**62), 2**62, (5, 2, 6, 5))
    w = rng.integers(-(2**62), 2**62, (3, 2, 2, 3))
    b = rng.integers(-(2**62), 2**62, 3)
    want = ref_conv(x, w, b, (1, 2), (1, 0), (1, 1), 1)
    seen = []

    def spy(xs, *args):
        seen.append(len(xs))
        return kernels.conv2d(xs, *args)

    per_image = 8 * 5 * 3 * (2 * 2 * 3)  # 8 bytes * OH*OW * max(F, C*KH*KW)
    for step in (1, 2):
        seen.clear()
        monkeypatch.setattr(conv_module, "INT_SLICE_BYTES", step * per_image)
        y = conv_module.int_conv(spy, x, w, b, (1, 2), ((1, 1), (0, 0)), (1, 1), 1)
        _same(mt.tensor(y), want)
        assert seen == [step] * (5 // step) + [5 % step] * (5 % step > 0)


def test_int64_conv_does_not_unfold_the_whole_batch():
    # (8, 8, 64, 64) int64, 5x5 kernel: unfolding the batch at once took 46 MB (the columns,
    # 8 * 200 * 60 * 60 int64) and 6 s on top of a 0.9 MB output; now a few MB
    import tracemalloc

    rng = np.random.default_rng(0)
    x = rng.integers(-1000, 1000, (8, 8, 64, 64))
    w = rng.integers(-1000, 1000, (4, 8, 5, 5))
    xt, wt = mt.tensor(x), mt.tensor(w)
    threads = im2col_numpy.get_num_threads()  # (one worker: its 2 MB workspace counted once)
    im2col_numpy.set_num_threads(1)
    tracemalloc.start()
    try:
        y = F.conv2d(xt, wt)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        im2col_numpy.set_num_threads(threads)
    assert peak < 24e6, peak
    _same(y[:1, :, :3, :3], ref_conv(x[:1, :, :7, :7], w, None, (1, 1), (0, 0), (1, 1), 1))


@pytest.mark.parity
@SETTINGS
@given(nd=st.sampled_from([1, 2, 3]), data=st.data(), dtype=st.sampled_from(INTS),
       bias=st.booleans())  # fmt: skip
def test_int_conv_as_torch(nd, data, dtype, bias):
    torch = _torch()
    xs, ws, s, p, d, groups = data.draw(conv_geometry(nd, dtype))
    x, w = data.draw(int_arrays(xs, dtype)), data.draw(int_arrays(ws, dtype))
    b = data.draw(int_arrays((ws[0],), dtype)) if bias else None
    ours = getattr(F, f"conv{nd}d")(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b),
                                    s, p, d, groups)  # fmt: skip
    theirs = getattr(torch.nn.functional, f"conv{nd}d")(
        torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b),
        s, p, d, groups,
    )  # fmt: skip
    _same(ours, theirs)


def test_int_conv2d_same_padding_and_unbatched():
    x = np.arange(2 * 4 * 5, dtype=np.int64).reshape(2, 4, 5) - 20
    w = np.arange(3 * 2 * 2 * 3, dtype=np.int64).reshape(3, 2, 2, 3) - 18
    y = F.conv2d(mt.tensor(x), mt.tensor(w), padding="same")
    pads = ((0, 1), (1, 1))  # an even kernel: the extra row at the bottom
    want = ref_conv(np.pad(x, ((0, 0), *pads))[None], w, None, (1, 1), (0, 0), (1, 1), 1)[0]
    _same(y, want)


# --------------------------------------------------------------------------- uint8 resize


@st.composite
def resize_case(draw, modes=("bilinear", "bicubic")):
    """(uint8 images (N, C, H, W), mode, interpolate kwargs, output (OH, OW), scales)."""
    mode = draw(st.sampled_from(modes))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    c = draw(st.integers(1, 6))  # (torch's uint8 kernel takes another path past 4 channels)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        x = rng.integers(0, 256, (draw(st.integers(1, 2)), c, h, w), dtype=np.uint8)
    else:  # 0 / 255 edges: bicubic overshoots both ways
        x = (rng.integers(0, 2, (1, c, h, w)) * 255).astype(np.uint8)
    kw = {"align_corners": draw(st.booleans())} if mode in ("bilinear", "bicubic") else {}
    if draw(st.booleans()):
        out = (draw(st.integers(1, 16)), draw(st.integers(1, 16)))
        kw["size"], scales = out, (None, None)
    else:
        sf = tuple(draw(st.sampled_from([0.5, 0.7, 1.0, 1.05, 1.5, 2.0, 2.3])) for _ in range(2))
        out = (int(h * sf[0]), int(w * sf[1]))
        assume(min(out) >= 1)
        kw["scale_factor"], scales = sf, sf
    return x, mode, kw, out, scales


@SETTINGS
@given(case=resize_case())
def test_uint8_bilinear_bicubic_match_the_fixed_point_loop(case):
    x, mode, kw, out, scales = case
    y = F.interpolate(mt.tensor(x), mode=mode, **kw)
    _same(y, ref_resize_uint8(x, out, scales, kw["align_corners"], mode == "bicubic"))


@SETTINGS
@given(case=resize_case(("nearest", "nearest-exact")), nd=st.sampled_from([1, 2, 3]))
def test_uint8_nearest_is_the_float32_nearest(case, nd):
    x, mode, kw, _, _ = case
    x = x[:, :, 0] if nd == 1 else x[:, :, None] if nd == 3 else x
    kw = {key: (v[-nd:] if nd < 3 else (1,) + tuple(v)) if isinstance(v, tuple) else v
          for key, v in kw.items()}  # fmt: skip
    y = F.interpolate(mt.tensor(x), mode=mode, **kw)
    _same(
        y, F.interpolate(mt.tensor(x.astype(np.float32)), mode=mode, **kw).numpy().astype(np.uint8)
    )


@pytest.mark.parity
@SETTINGS
@given(case=resize_case(("nearest", "nearest-exact", "bilinear", "bicubic")))
def test_uint8_interpolate_as_torch(case):
    torch = _torch()
    x, mode, kw, out, _ = case
    generic = x.shape[1] > 4 or "AVX" not in torch.backends.cpu.get_cpu_capability()
    if out[1] == 1 and generic and mode in ("bilinear", "bicubic"):
        return  # torch's generic uint8 kernel (past 4 channels, or without AVX2) gives wrong
        # rows for a 1-wide output (the fixed-point loop test checks ours there)
    try:
        theirs = torch.nn.functional.interpolate(torch.from_numpy(x), mode=mode, **kw)
    except RuntimeError:  # torch's AVX kernel asserts on some 1 x 1 bicubic outputs
        return
    _same(F.interpolate(mt.tensor(x), mode=mode, **kw), theirs)


def test_uint8_resize_rounds_half_up_and_clamps_the_overshoot():
    # 2.5 between 2 and 3 rounds up (round-half-even would give 2)
    x = mt.tensor(np.array([[[[2, 3]]]], np.uint8))
    assert F.interpolate(x, size=(1, 3), mode="bilinear", align_corners=True).tolist() == [
        [[[2, 3, 3]]]
    ]
    # bicubic rings past 0 and 255 next to an edge: the float result there is clipped
    a = np.array([[[[0, 0, 0, 255, 255, 255]]]], np.uint8)
    y = F.interpolate(mt.tensor(a), size=(1, 17), mode="bicubic").numpy()
    f = F.interpolate(mt.tensor(a.astype(np.float64)), size=(1, 17), mode="bicubic").numpy()
    assert f.min() < -1 and f.max() > 256
    assert (y[f < -1] == 0).all() and (y[f > 256] == 255).all()
    # an axis that keeps its size is copied, not resampled: a copy, not the input
    same = F.interpolate(x, size=(1, 2), mode="bilinear")
    assert same.tolist() == x.tolist() and not np.shares_memory(same.numpy(), x.numpy())


# --------------------------------------------------------------------------- refusals

_i64 = np.arange(16, dtype=np.int64).reshape(1, 1, 4, 4)
REFUSED = {  # name: (fn(F, to_tensor), error type, message start)
    "max_pool2d of bools": (lambda F, t: F.max_pool2d(t(_i64 > 3), 2), TypeError,
                            "max_pool2d: expected a floating point or integer input"),
    "max_pool3d of bools": (lambda F, t: F.max_pool3d(t(_i64[None] > 3), 1), TypeError,
                            "max_pool3d: expected a floating point or integer input"),
    "max_pool1d of ints without indices": (lambda F, t: F.max_pool1d(t(_i64[0]), 2), TypeError,
                                           "max_pool1d: expected a floating point input"),
    "avg_pool2d of int32": (lambda F, t: F.avg_pool2d(t(_i64.astype(np.int32)), 2), TypeError,
                            "avg_pool2d: expected a floating point or int64 input"),
    "avg_pool2d of uint8": (lambda F, t: F.avg_pool2d(t(_i64.astype(np.uint8)), 2), TypeError,
                            "avg_pool2d: expected a floating point or int64 input"),
    "avg_pool1d of int8": (lambda F, t: F.avg_pool1d(t(_i64[0].astype(np.int8)), 2), TypeError,
                           "avg_pool1d: expected a floating point or int64 input"),
    "avg_pool3d of int16": (lambda F, t: F.avg_pool3d(t(_i64[None].astype(np.int16)), 1),
                            TypeError, "avg_pool3d: expected a floating point or int64 input"),
    "adaptive_max_pool2d of ints": (lambda F, t: F.adaptive_max_pool2d(t(_i64), 2), TypeError,
                                    "adaptive_max_pool2d: expected a floating point input"),
    "adaptive_max_pool1d of ints": (lambda F, t: F.adaptive_max_pool1d(t(_i64[0]), 2), TypeError,
                                    "adaptive_max_pool1d: expected a floating point input"),
    "adaptive_avg_pool2d of ints": (lambda F, t: F.adaptive_avg_pool2d(t(_i64), 2), TypeError,
                                    "adaptive_avg_pool2d: expected a floating point input"),
    "max_unpool2d of ints": (
        lambda F, t: F.max_unpool2d(*F.max_pool2d(t(_i64), 2, return_indices=True), 2),
        TypeError, "max_unpool2d: expected a floating point input"),
    "max_unpool1d of ints": (
        lambda F, t: F.max_unpool1d(*F.max_pool1d(t(_i64[0]), 2, return_indices=True), 2),
        TypeError, "max_unpool1d: expected a floating point input"),
    "interpolate of int64": (lambda F, t: F.interpolate(t(_i64), size=2), TypeError,
                             "interpolate: expected a floating point input, or uint8"),
    "interpolate of uint8, area": (
        lambda F, t: F.interpolate(t(_i64.astype(np.uint8)), size=2, mode="area"), TypeError,
        "interpolate: expected a floating point input, or uint8"),
    "interpolate of uint8, linear": (
        lambda F, t: F.interpolate(t(_i64[0].astype(np.uint8)), size=2, mode="linear"),
        TypeError, "interpolate: expected a floating point input, or uint8"),
    "interpolate of uint8, trilinear": (
        lambda F, t: F.interpolate(t(_i64[None].astype(np.uint8)), size=2, mode="trilinear"),
        TypeError, "interpolate: expected a floating point input, or uint8"),
    "conv2d of bools": (lambda F, t: F.conv2d(t(_i64 > 3), t(np.ones((1, 1, 2, 2), bool))),
                        TypeError, "conv2d: input, weight and bias must share one floating"),
    "conv2d of int64 with int32 weight": (
        lambda F, t: F.conv2d(t(_i64), t(np.ones((1, 1, 2, 2), np.int32))), TypeError,
        "conv2d: input, weight and bias must share one floating dtype (or one of int8 .. int64, "
        "uint8)"),
    # torch stores uint16 .. uint64 but has no pooling or conv kernel for them
    "max_pool2d of uint16": (lambda F, t: F.max_pool2d(t(_i64.astype(np.uint16)), 2), TypeError,
                             "max_pool2d: expected a floating point or integer input (int8 .."),
    "max_pool3d of uint32": (lambda F, t: F.max_pool3d(t(_i64[None].astype(np.uint32)), 1),
                             TypeError, "max_pool3d: expected a floating point or integer input"),
    "max_pool1d of uint64": (
        lambda F, t: F.max_pool1d(t(_i64[0].astype(np.uint64)), 2, return_indices=True),
        TypeError, "max_pool1d: expected a floating point or integer input"),
    "conv2d of uint16": (
        lambda F, t: F.conv2d(t(_i64.astype(np.uint16)), t(np.ones((1, 1, 2, 2), np.uint16))),
        TypeError, "conv2d: input, weight and bias must share one floating dtype"),
    "conv3d of uint32": (
        lambda F, t: F.conv3d(t(_i64[None].astype(np.uint32)),
                              t(np.ones((1, 1, 1, 2, 2), np.uint32))),
        TypeError, "conv3d: input, weight and bias must share one floating dtype"),
    "conv2d of int8, dilated": (
        lambda F, t: F.conv2d(t(_i64.astype(np.int8)), t(np.ones((1, 1, 2, 2), np.int8)),
                              dilation=2),
        TypeError, "conv2d: a dilated convolution of integers needs int64"),
    "conv1d of uint8, dilated": (
        lambda F, t: F.conv1d(t(_i64.reshape(1, 1, 16).astype(np.uint8)),
                              t(np.ones((1, 1, 2), np.uint8)), dilation=2),
        TypeError, "conv1d: a dilated convolution of integers needs int64"),
    "conv3d of int32, dilated": (
        lambda F, t: F.conv3d(t(_i64[None].astype(np.int32)), t(np.ones((1, 1, 1, 2, 2), np.int32)),
                              dilation=2),
        TypeError, "conv3d: a dilated convolution of integers needs int64"),
    "conv2d of int64 with a float bias": (
        lambda F, t: F.conv2d(t(_i64), t(np.ones((1, 1, 2, 2), np.int64)), t(np.ones(1, "f4"))),
        TypeError, "conv2d: input, weight and bias must share one floating"),
}  # fmt: skip

# torch computes these on int64 (alone); refused here
TORCH_COMPUTES = {
    "conv_transpose2d of int64": (
        lambda F, t: F.conv_transpose2d(t(_i64), t(np.ones((1, 1, 2, 2), np.int64))),
        TypeError,
        "conv_transpose2d: input, weight and bias must share one floating dtype, got int64",
    ),
}


@pytest.mark.parametrize("name", {**REFUSED, **TORCH_COMPUTES})
def test_what_stays_refused_names_the_op(name):
    fn, error, start = {**REFUSED, **TORCH_COMPUTES}[name]
    with pytest.raises(error) as e:
        fn(F, mt.tensor)
    assert str(e.value).startswith(start), str(e.value)


@pytest.mark.parity
@pytest.mark.parametrize("name", REFUSED)
def test_torch_refuses_them_too(name):
    torch = _torch()
    fn = REFUSED[name][0]
    with pytest.raises((RuntimeError, NotImplementedError, TypeError)):
        fn(torch.nn.functional, torch.from_numpy)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_integer_ops_on_the_gpu_equal_the_cpu():
    from minitorch_cv.backend import to_device

    rng = np.random.default_rng(0)
    x8 = rng.integers(-128, 128, (2, 3, 7, 6), dtype=np.int8)
    x64 = rng.integers(-1000, 1000, (2, 3, 7, 6))
    u8 = rng.integers(0, 256, (2, 3, 7, 6), dtype=np.uint8)
    w8 = rng.integers(-128, 128, (4, 3, 3, 2), dtype=np.int8)
    big = rng.integers(-(2**62), 2**62, (2, 4, 7, 6))  # past float64: the int64 route
    wbig = rng.integers(-(2**62), 2**62, (4, 2, 3, 2))
    checks = [
        (lambda t: F.max_pool2d(t(x8), 3, 2, 1, 2, True, return_indices=True)),
        (lambda t: F.max_pool3d(t(x8[None]), 2, 1, 1, return_indices=True)),
        (lambda t: F.avg_pool2d(t(x64), 3, 2, 1, True, False)),
        (lambda t: F.avg_pool3d(t(x64[None]), 2, 1, 1, divisor_override=-3)),
        (lambda t: F.conv2d(t(x8), t(w8), None, 2, 1)),
        (lambda t: F.conv2d(t(big), t(wbig), t(big[0, :, 0, 0]), 1, 1, 2, 2)),
        (lambda t: F.conv2d(t(x64), t(w8.astype(np.int64)), None, 1, "same", 2)),
        (lambda t: F.conv3d(t(x8[:, :, None]), t(w8[:, :, None]), None, 1, 1)),
        (lambda t: F.conv3d(t(big[:, :, None]), t(wbig[:, :, None]), None, 1, 1, 1, 2)),
        (lambda t: F.interpolate(t(u8), size=(11, 4), mode="bicubic")),
        (lambda t: F.interpolate(t(u8), size=(3, 9), mode="bilinear", align_corners=True)),
        (lambda t: F.interpolate(t(u8), scale_factor=1.5, mode="nearest-exact")),
    ]
    for check in checks:
        cpu = check(mt.tensor)
        gpu = check(lambda a: mt.Tensor(to_device(a, "cuda")))
        for c, g in zip(*(o if isinstance(o, tuple) else (o,) for o in (cpu, gpu))):
            assert g.device.type == "cuda"
            _same(c, to_device(g._data, "cpu"))
