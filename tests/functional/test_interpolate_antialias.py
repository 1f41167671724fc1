"""F.interpolate(..., antialias=True): 'bilinear' and 'bicubic' on (N, C, H, W), float and uint8.

The forward against a loop reference written here from the filter's definition (float64 to
1e-12, uint8 bit for bit, so the property holds without torch), against torch (float32 to 1e-6
of the largest value, float64 to 1e-12, uint8 exact), the gradient by float64 gradcheck and
against torch's, and torch's refusals of antialias with other modes and 3-D / 5-D input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies import FEW, SETTINGS

# --------------------------------------------------------------------------- the loop reference


def ref_filter(t, cubic):
    """Triangle (bilinear) or Keys' cubic with a = -0.5 (bicubic, Pillow's), at distance t."""
    t, a = abs(t), -0.5
    if not cubic:
        return max(1.0 - t, 0.0)
    if t < 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def ref_weights(size, out, scale, align_corners, cubic):
    """(out, size) list of rows: output i centred at c = s (i + 0.5), the filter stretched by
    s when s >= 1, the taps int(c - r + 0.5) <= j < int(c + r + 0.5), normalised."""
    if align_corners:
        s = (size - 1) / (out - 1) if out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else size / out
    half = 2.0 if cubic else 1.0
    support, inv = (half * s, 1.0 / s) if s >= 1 else (half, 1.0)
    rows = []
    for i in range(out):
        c = s * (i + 0.5)
        first = max(int(c - support + 0.5), 0)
        last = min(int(c + support + 0.5), size)
        row = [0.0] * size
        for j in range(first, last):
            row[j] = ref_filter((j - c + 0.5) * inv, cubic)
        total = sum(row)
        rows.append([v / total for v in row] if total != 0 else row)
    return rows


def ref_resize(x, out, scales, align_corners, cubic):
    """Width, then height; an axis that keeps its size is left alone. Float: float64 sums;
    uint8: Pillow's fixed point, rounded and clamped after each axis."""
    y = x.astype(np.float64) if x.dtype != np.uint8 else x.astype(np.int64)
    for axis in (3, 2):
        size, o = y.shape[axis], out[axis - 2]
        if size == o:
            continue
        w = ref_weights(size, o, scales[axis - 2], align_corners, cubic)
        if x.dtype == np.uint8:
            top, p = max(max(r) for r in w), 0
            while p < 22 and int(0.5 + top * (1 << (p + 1))) < 1 << 15:
                p += 1
            w = [[math.trunc(v * 2**p + (0.5 if v >= 0 else -0.5)) for v in r] for r in w]
        moved = np.moveaxis(y, axis, -1)
        res = np.zeros(moved.shape[:-1] + (o,), dtype=y.dtype)
        for i in range(o):
            for j in range(size):
                if w[i][j]:
                    res[..., i] += w[i][j] * moved[..., j]
        if x.dtype == np.uint8:
            res = np.clip((res + (1 << (p - 1))) >> p, 0, 255)
        y = np.moveaxis(res, -1, axis)
    return y.astype(x.dtype)


# --------------------------------------------------------------------------- cases


@st.composite
def aa_case(draw, dtypes=(np.float64, np.float32, np.uint8)):
    """(x (N, C, H, W), mode, interpolate kwargs, output (OH, OW), scales): downsampling,
    upsampling and kept axes, non-integer scales, size or scale_factor (maybe recomputed)."""
    dtype = draw(st.sampled_from(dtypes))
    mode = draw(st.sampled_from(["bilinear", "bicubic"]))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    c = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (draw(st.integers(1, 2)), c, h, w)
    if dtype == np.uint8:
        x = rng.integers(0, 256, shape).astype(np.uint8)
        if draw(st.booleans()):  # 0 / 255 edges: bicubic overshoots both ways
            x = (x > 127).astype(np.uint8) * 255
    else:
        x = rng.standard_normal(shape).astype(dtype)
    kw = {"align_corners": draw(st.booleans()), "antialias": True}
    if draw(st.booleans()):
        out = (draw(st.integers(1, 24)), draw(st.integers(1, 24)))
        kw["size"], scales = out, (None, None)
    else:
        factor = st.floats(0.05, 3.0).map(lambda v: round(v, 3))
        sf = (draw(factor), draw(factor))
        out = (math.floor(h * sf[0]), math.floor(w * sf[1]))
        assume(min(out) >= 1)
        kw["scale_factor"] = sf
        kw["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
        scales = (None, None) if kw["recompute_scale_factor"] else sf
    return x, mode, kw, out, scales


def _torch():
    return pytest.importorskip("torch")


def _check(ours, want, dtype):
    assert ours.dtype == want.dtype == dtype and ours.shape == want.shape
    if dtype == np.uint8:
        np.testing.assert_array_equal(ours, want)
    else:
        tol = 1e-12 if dtype == np.float64 else 1e-6
        np.testing.assert_allclose(ours, want, rtol=0, atol=tol * max(1.0, np.abs(want).max()))


# --------------------------------------------------------------------------- forward


@SETTINGS
@given(case=aa_case())
def test_antialias_matches_the_loop_reference(case):
    x, mode, kw, out, scales = case
    y = F.interpolate(mt.tensor(x), mode=mode, **kw).numpy()
    want = ref_resize(x, out, scales, kw["align_corners"], mode == "bicubic")
    if x.dtype == np.float32:  # (the reference sums in float64)
        want = want.astype(np.float32)
        np.testing.assert_allclose(y, want, rtol=0, atol=1e-5 * max(1.0, np.abs(want).max()))
    else:
        _check(y, want, x.dtype)


@pytest.mark.parity
@SETTINGS
@given(case=aa_case())
def test_antialias_matches_torch(case):
    torch = _torch()
    x, mode, kw, out, _ = case
    generic = x.dtype != np.uint8 or x.shape[1] > 4
    generic |= "AVX" not in torch.backends.cpu.get_cpu_capability()
    if out[1] == 1 and out[0] != x.shape[2] and generic:
        return  # torch's generic kernel (float; uint8 past 4 channels or without AVX2) copies
        # the first output row into every row of a 1-wide output (3 x 1 -> 2 x 1 gives two
        # equal rows; 3 x 2 -> 2 x 2 does not); the loop reference checks ours there
    try:
        theirs = torch.nn.functional.interpolate(torch.from_numpy(x), mode=mode, **kw).numpy()
    except RuntimeError:  # torch's uint8 AVX kernel asserts on some 1 x 1 outputs of 3 channels
        assert x.dtype == np.uint8 and out == (1, 1)
        return
    _check(F.interpolate(mt.tensor(x), mode=mode, **kw).numpy(), theirs, x.dtype)


@FEW
@given(
    hw=st.tuples(st.integers(1, 12), st.integers(1, 12)),
    factor=st.tuples(st.floats(1.0, 3.0), st.floats(1.0, 3.0)),
    by_size=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_antialias_bilinear_upsampling_is_plain_bilinear(hw, factor, by_size, seed):
    # the filter keeps its width when upsampling: without align_corners, the same two taps
    x = np.random.default_rng(seed).standard_normal((1, 2, *hw))
    out = tuple(math.floor(n * f) for n, f in zip(hw, factor))
    kw = {"size": out} if by_size else {"scale_factor": factor}
    np.testing.assert_allclose(
        F.interpolate(mt.tensor(x), mode="bilinear", antialias=True, **kw).numpy(),
        F.interpolate(mt.tensor(x), mode="bilinear", **kw).numpy(),
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize(
    "shape, out",
    [
        ((1, 3, 48, 64), (5, 7)),  # past 8 taps both ways: uint8 sums as float64 GEMMs
        ((1, 3, 48, 64), (40, 30)),  # few taps: one gather a tap
        ((1, 2, 2, 700), (2, 2)),  # precision 2**22, the largest: the sums near 2**30
    ],
)
def test_antialias_large_shrinks_match_the_loop_reference(shape, out, mode):
    rng = np.random.default_rng(0)
    x8 = rng.integers(0, 256, shape).astype(np.uint8)
    x8[..., ::3] = 255  # (bright runs: the largest sums and bicubic's overshoot)
    for x in (x8, x8.astype(np.float64) / 255):
        y = F.interpolate(mt.tensor(x), size=out, mode=mode, antialias=True).numpy()
        assert y.flags.c_contiguous
        _check(y, ref_resize(x, out, (None, None), False, mode == "bicubic"), x.dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_antialias_of_strided_input_equals_contiguous(dtype):
    # channels-last, flipped and sliced views resize as their contiguous copies
    x = np.random.default_rng(0).integers(0, 256, (2, 3, 40, 52)).astype(dtype)
    views = [np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2), x[:, ::-1, ::2]]
    for v in views:
        for mode in ("bilinear", "bicubic"):
            got = F.interpolate(mt.tensor(v), size=(9, 5), mode=mode, antialias=True).numpy()
            c = np.ascontiguousarray(v)
            want = F.interpolate(mt.tensor(c), size=(9, 5), mode=mode, antialias=True).numpy()
            np.testing.assert_array_equal(got, want)


def test_antialias_downsampling_averages_the_inputs_it_covers():
    # 8 -> 2 pixels, the triangle stretched by s = 4: output 0 (centre 2) weighs inputs 0..5 by
    # 1 - |j + 0.5 - 2| / 4 = 5/8, 7/8, 7/8, 5/8, 3/8, 1/8 (sum 7/2): 53/28; output 1 mirrors it
    x = np.arange(8, dtype=np.float64).reshape(1, 1, 1, 8)
    y = F.interpolate(mt.tensor(x), size=(1, 2), mode="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(y.ravel(), [53 / 28, 7 - 53 / 28], rtol=1e-12)
    plain = F.interpolate(mt.tensor(x), size=(1, 2), mode="bilinear").numpy()
    np.testing.assert_allclose(plain.ravel(), [1.5, 5.5])  # two taps only


# --------------------------------------------------------------------------- gradients


@FEW
@given(case=aa_case(dtypes=(np.float64,)))
def test_antialias_gradcheck_float64(case):
    x, mode, kw, _, _ = case
    assume(x.size <= 300)
    leaf = mt.tensor(x, requires_grad=True)
    assert mt.gradcheck(lambda t: F.interpolate(t, mode=mode, **kw), [leaf])


@pytest.mark.parity
@SETTINGS
@given(case=aa_case(dtypes=(np.float64,)), seed=st.integers(0, 2**32 - 1))
def test_antialias_gradient_matches_torch(case, seed):
    torch = _torch()
    x, mode, kw, out, scales = case
    # torch's forward copies an axis that keeps its size, but its backward then still applies
    # the filter of the given scale_factor (1.05 on 10 rows); ours is the forward's transpose
    kept_with_scale = any(
        n == o and s is not None and not kw["align_corners"]
        for n, o, s in zip(x.shape[2:], out, scales)
    )
    assume(not kept_with_scale)
    g = np.random.default_rng(seed).standard_normal((*x.shape[:2], *out))
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.interpolate(xt, mode=mode, **kw).backward(torch.from_numpy(g))
    leaf = mt.tensor(x, requires_grad=True)
    (F.interpolate(leaf, mode=mode, **kw) * mt.tensor(g)).sum().backward()
    _check(leaf.grad.numpy(), xt.grad.numpy(), np.float64)


def test_antialias_gradient_of_a_kept_axis_is_the_identity():
    # scale_factor 1.05 on 10 rows keeps 10 rows: copied forward, so copied back (torch's
    # backward filters them); the columns' scale 0.5 is size 3's, so the gradient is size's
    x = np.random.default_rng(0).standard_normal((1, 2, 10, 6))
    g = np.random.default_rng(1).standard_normal((1, 2, 10, 3))
    grads = []
    for kw in ({"scale_factor": (1.05, 0.5)}, {"size": (10, 3)}):
        leaf = mt.tensor(x, requires_grad=True)
        y = F.interpolate(leaf, mode="bicubic", antialias=True, **kw)
        (y * mt.tensor(g)).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_array_equal(*grads)
    np.testing.assert_allclose((grads[0] * x).sum(), (y.numpy() * g).sum(), rtol=1e-12)


# --------------------------------------------------------------------------- refusals

_REFUSED = [  # (input shape, mode): antialias needs 'bilinear' / 'bicubic' on 4-D input
    ((1, 1, 4, 4), "nearest"),
    ((1, 1, 4, 4), "nearest-exact"),
    ((1, 1, 4, 4), "area"),
    ((1, 1, 4), "linear"),
    ((1, 1, 2, 4, 4), "trilinear"),
]


@pytest.mark.parametrize("shape, mode", _REFUSED)
def test_antialias_refuses_other_modes_and_dims_as_torch(shape, mode):
    x = np.zeros(shape)
    with pytest.raises(ValueError, match="interpolate: the anti-alias option is restricted to "
                       "bilinear and bicubic modes and requires a 4-D tensor"):  # fmt: skip
        F.interpolate(mt.tensor(x), size=(2,) * (len(shape) - 2), mode=mode, antialias=True)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Anti-alias option is restricted"):
        torch.nn.functional.interpolate(
            torch.from_numpy(x), size=(2,) * (len(shape) - 2), mode=mode, antialias=True
        )


# --------------------------------------------------------------------------- transforms


@FEW
@given(case=aa_case(dtypes=(np.float32, np.uint8)))
def test_resize_transform_antialiases_by_default_as_interpolate(case):
    from minitorch_cv.data import transforms as T

    x, _, _, out, _ = case
    got = T.Resize(out)(x)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, T.resize(x, out))
    if out[0] >= x.shape[2] and out[1] >= x.shape[3]:  # no axis shrinks: antialias is a no-op
        np.testing.assert_array_equal(got, T.resize(x, out, antialias=False))
    else:
        want = F.interpolate(mt.tensor(x), size=out, mode="bilinear", antialias=True).numpy()
        np.testing.assert_array_equal(got, want)


@pytest.mark.parity
def test_resize_transform_as_torch_antialias():
    # torchvision's resize of a tensor is interpolate(antialias=True); uint8 in its own kernel
    torch = _torch()
    from minitorch_cv.data import transforms as T

    x = np.random.default_rng(0).integers(0, 256, (2, 3, 37, 29)).astype(np.uint8)
    for a in (x, x.astype(np.float32) / 255):
        want = torch.nn.functional.interpolate(
            torch.from_numpy(a), size=(11, 16), mode="bilinear", antialias=True
        ).numpy()
        _check(T.Resize((11, 16))(a), want, a.dtype)
