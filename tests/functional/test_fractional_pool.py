"""Fractional max pooling (F.fractional_max_pool2d/3d, nn.FractionalMaxPool2d/3d): equal to a
plane-by-plane, cell-by-cell loop over PyTorch's interval formula, and to PyTorch itself bit for
bit (outputs and indices, float32 and float64, ties, NaN and -inf) given the same
`_random_samples`, with PyTorch's gradients; float64 gradcheck; samples drawn from
mt.manual_seed's generator reproducible and uniform. Also PyTorch's aliases
(`*_with_indices`, `upsample*`, `NLLLoss2d`), the in-place activations (`relu_`, ...), and
gumbel_softmax (sums to 1, hard one-hot with the soft gradient, argmax distributed as
softmax(logits)).
"""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS, arrays, check_grad

FRACTIONAL = {2: "fractional_max_pool2d", 3: "fractional_max_pool3d"}
COLUMNS = {2: (1, 0), 3: (0, 1, 2)}  # the sample column each axis reads (PyTorch: W, H / T, H, W)


# --------------------------------------------------------------------------- the loop reference


def loop_intervals(u, size, out, k):
    """Window starts along one axis for one sample u (a NumPy scalar of the input's dtype):
    int((i + u) * alpha) - int(u * alpha), alpha = (size - k) / (out - 1), in u's precision;
    the last window ends at the border."""
    if out == 0:
        return []
    if out == 1:
        return [size - k]
    t = type(u)
    alpha = t(size - k) / t(out - 1)
    return [int((t(i) + u) * alpha) - int(u * alpha) for i in range(out - 1)] + [size - k]


def loop_fractional_max_pool(x, kernel, out, u):
    """For every plane and output cell, scan the window in row-major order keeping the first
    maximum (`v > best`), any NaN replacing what came before (PyTorch's rule)."""
    nd = len(kernel)
    n_, c_, *size = x.shape
    y = np.empty((n_, c_, *out), dtype=x.dtype)
    idx = np.empty((n_, c_, *out), dtype=np.int64)
    for n in range(n_):
        for c in range(c_):
            starts = [
                loop_intervals(u[n, c, COLUMNS[nd][d]], size[d], out[d], kernel[d])
                for d in range(nd)
            ]
            plane = x[n, c].ravel()
            for cell in np.ndindex(*out):
                lo = [starts[d][cell[d]] for d in range(nd)]
                best, arg = -np.inf, int(np.ravel_multi_index(lo, size))
                for off in np.ndindex(*kernel):
                    p = int(np.ravel_multi_index([a + b for a, b in zip(lo, off)], size))
                    if plane[p] > best or np.isnan(plane[p]):
                        best, arg = plane[p], p
                y[(n, c, *cell)], idx[(n, c, *cell)] = best, arg
    return y, idx


# --------------------------------------------------------------------------- strategies


@st.composite
def fractional_cases(draw, nd, max_side=7, values=None):
    """(x, kernel, output_size or None, output_ratio or None, u, batched): a valid pooling, its
    output given as a size or as a ratio r with int(size * r) = that size; x with ties (small
    integers) unless `values` draws them; u on a 2^-20 grid in [0, 1) (exact in float32)."""
    strict = nd == 3  # PyTorch's 3-D check: o + k - 1 < size
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    size = [draw(st.integers(2 + strict, max_side)) for _ in range(nd)]
    kernel = [draw(st.integers(1, s - strict)) for s in size]
    out = [draw(st.integers(1, s - strict - k + 1)) for s, k in zip(size, kernel)]
    shape = (n, c, *size)
    if values is None:
        x = draw(hnp.arrays(np.int8, shape, elements=st.integers(-3, 3))).astype(dtype)
    else:
        x = draw(values(shape)).astype(dtype)
    u = draw(hnp.arrays(np.int64, (n, c, nd), elements=st.integers(0, 2**20 - 1))) / 2**20
    u = u.astype(dtype)
    if draw(st.booleans()):
        output_size, output_ratio = tuple(out), None
    else:
        output_size, output_ratio = None, tuple((o + 0.5) / s for o, s in zip(out, size))
    batched = draw(st.booleans()) or n > 1
    return x, tuple(kernel), tuple(out), output_size, output_ratio, u, batched


def pool(lib, nd, x, kernel, output_size, output_ratio, u, batched):
    """(y, indices) of lib's fractional_max_pool{nd}d, unbatched input as (C, ...) with the
    samples of its one image."""
    op = getattr(lib.nn.functional if hasattr(lib, "nn") else lib, FRACTIONAL[nd])
    return op(x if batched else x[0], kernel, output_size, output_ratio, return_indices=True,
              _random_samples=u)  # fmt: skip


# --------------------------------------------------------------------------- fractional pooling


@pytest.mark.parametrize("nd", [2, 3])
@SETTINGS
@given(data=st.data())
def test_fractional_max_pool_matches_the_loop_reference(nd, data):
    x, kernel, out, output_size, output_ratio, u, batched = data.draw(fractional_cases(nd))
    y, idx = pool(F, nd, mt.tensor(x), kernel, output_size, output_ratio, mt.tensor(u), batched)
    want_y, want_idx = loop_fractional_max_pool(x, kernel, out, u)
    if not batched:
        want_y, want_idx = want_y[0], want_idx[0]
    assert y.dtype == x.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), want_y)
    np.testing.assert_array_equal(idx.numpy(), want_idx)


@pytest.mark.parametrize("nd", [2, 3])
@SETTINGS
@given(data=st.data())
def test_fractional_max_pool_matches_torch_bit_for_bit_with_its_gradient(nd, data):
    torch = pytest.importorskip("torch")
    x, kernel, _, output_size, output_ratio, u, batched = data.draw(fractional_cases(nd))
    a = mt.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y, idx = pool(F, nd, a, kernel, output_size, output_ratio, mt.tensor(u), batched)
    yt, it = pool(torch, nd, t, kernel, output_size, output_ratio, torch.tensor(u), batched)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    w = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("nd", [2, 3])
@SETTINGS
@given(data=st.data())
def test_fractional_max_pool_gradcheck_float64(nd, data):
    values = lambda shape: arrays(shape, -20.0, 20.0, unique=True)  # noqa: E731  (no ties)
    case = fractional_cases(nd, max_side=5 if nd == 2 else 4, values=values)
    x, kernel, _, output_size, output_ratio, u, batched = data.draw(case)
    x, u = x.astype(np.float64), mt.tensor(u.astype(np.float64))
    check_grad(lambda L, a: pool(L.F, nd, a, kernel, output_size, output_ratio, u, batched)[0], [x])


def test_fractional_max_pool_nan_and_minus_inf_as_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, np.nan, 2.0, np.nan], [-np.inf, -np.inf, 1.0, 3.0],
                  [-np.inf, -np.inf, np.nan, 1.0], [5.0, 4.0, 7.0, 7.0]])[None, None]  # fmt: skip
    u = np.array([[[0.3, 0.6]]])
    for k, out in [(2, 3), (3, 2), (1, 4), (2, 2)]:
        y, i = F.fractional_max_pool2d(mt.tensor(x), k, out, return_indices=True,
                                       _random_samples=mt.tensor(u))  # fmt: skip
        yt, it = torch.nn.functional.fractional_max_pool2d(
            torch.tensor(x), k, out, return_indices=True, _random_samples=torch.tensor(u)
        )
        np.testing.assert_array_equal(y.numpy(), yt.numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
    # a window of -inf keeps its first position; one with NaN takes the last NaN
    y, i = F.fractional_max_pool2d(mt.tensor(x), 2, 3, return_indices=True,
                                   _random_samples=mt.tensor(u))  # fmt: skip
    assert i.numpy()[0, 0, 1, 0] == 4 and y.numpy()[0, 0, 1, 0] == -np.inf
    assert i.numpy()[0, 0, 0, 0] == 1 and np.isnan(y.numpy()[0, 0, 0, 0])


def test_fractional_max_pool_signed_zeros_and_peak_memory():
    """Equal maxima 0.0 and -0.0: the first in scan order is returned, as torch, not whichever
    `maximum` prefers. Memory: the per-axis scans hold a few arrays of at most the input's
    element count; gathering every window's k*k taps with their int64 positions at once peaked
    at 17x the (float32) input."""
    torch = pytest.importorskip("torch")
    zeros = np.array([[-0.0, 0.0, -0.0, 0.0], [0.0, -0.0, 0.0, -0.0],
                      [-0.0, -0.0, 0.0, 0.0], [0.0, 0.0, -0.0, -0.0]])[None, None]  # fmt: skip
    u = np.array([[[0.3, 0.6]]])
    y = F.fractional_max_pool2d(mt.tensor(zeros), 2, 3, _random_samples=mt.tensor(u))
    yt = torch.nn.functional.fractional_max_pool2d(
        torch.tensor(zeros), 2, 3, _random_samples=torch.tensor(u)
    )
    np.testing.assert_array_equal(np.signbit(y.numpy()), np.signbit(yt.numpy()))
    assert np.signbit(y.numpy()).any() and not np.signbit(y.numpy()).all()

    x = mt.tensor(np.random.default_rng(0).standard_normal((4, 8, 64, 64)).astype(np.float32))
    u = mt.tensor(np.random.default_rng(1).random((4, 8, 2)).astype(np.float32))
    tracemalloc.start()
    try:
        F.fractional_max_pool2d(x, 3, 45, _random_samples=u)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * x.numpy().nbytes, peak / x.numpy().nbytes


def boundary_samples(size, k, out):
    """float32 samples next to each u at which some (i + u) * alpha is an integer: there the
    float32 arithmetic and float64 arithmetic give different windows."""
    alpha = (size - k) / (out - 1)
    near = {m / alpha - i for m in range(1, size + 1) for i in range(out - 1)}
    u = np.array(sorted(c for c in near if 0 <= c < 1), dtype=np.float32)
    u = np.concatenate([np.nextafter(u, np.float32(-1)), u, np.nextafter(u, np.float32(2))])
    return u[(u >= 0) & (u < 1)]


def test_fractional_max_pool_float32_windows_round_as_torch():
    torch = pytest.importorskip("torch")
    differs = 0
    for size, k, out in [(5, 1, 4), (6, 1, 3), (13, 2, 5), (17, 3, 8)]:
        u = boundary_samples(size, k, out)
        c = len(u)
        samples = np.stack([u, u[::-1]], axis=-1)[None]  # (1, C, 2): W and H columns
        x = -np.arange(size * size, dtype=np.float32).reshape(1, 1, size, size).repeat(c, 1)
        _, idx = F.fractional_max_pool2d(mt.tensor(x), k, out, return_indices=True,
                                         _random_samples=mt.tensor(samples))  # fmt: skip
        _, it = torch.nn.functional.fractional_max_pool2d(
            torch.tensor(x), k, out, return_indices=True, _random_samples=torch.tensor(samples)
        )
        np.testing.assert_array_equal(idx.numpy(), it.numpy())
        want = loop_fractional_max_pool(x, (k, k), (out, out), samples)[1]
        np.testing.assert_array_equal(idx.numpy(), want)
        wide = [loop_intervals(np.float64(v), size, out, k) for v in u]
        differs += sum(loop_intervals(v, size, out, k) != w for v, w in zip(u, wide))
    assert differs > 0  # the case would catch windows computed in float64


def test_fractional_max_pool_unbatched_is_the_batch_of_one_and_empty_cases():
    x = mt.randn(2, 3, 6, 7)
    u = mt.rand(2, 3, 2)
    y = F.fractional_max_pool2d(x, 2, (3, 4), _random_samples=u)
    np.testing.assert_array_equal(
        F.fractional_max_pool2d(x[1], 2, (3, 4), _random_samples=u[1:]).numpy(), y.numpy()[1]
    )
    # samples with more rows than the batch: the first N are used, as PyTorch
    np.testing.assert_array_equal(
        F.fractional_max_pool2d(x[:1], 2, (3, 4), _random_samples=u).numpy(), y.numpy()[:1]
    )
    assert F.fractional_max_pool2d(mt.randn(0, 3, 6, 7), 2, 3).shape == (0, 3, 3, 3)
    assert F.fractional_max_pool2d(x, 2, output_ratio=0.1).shape == (2, 3, 0, 0)
    assert F.fractional_max_pool3d(mt.randn(2, 4, 5, 6), 2, (1, 2, 3)).shape == (2, 1, 2, 3)


def test_fractional_max_pool_drawn_samples_are_seeded_and_uniform():
    """With samples drawn from the package generator: mt.manual_seed reproduces them, and they
    are uniform on [0, 1): for size 11, kernel 2 and 7 outputs, alpha = 1.5 and the second
    window starts at 2 exactly when u is in [1/3, 2/3), else at 1."""
    c = 3000
    x = mt.tensor(-np.arange(11 * 11, dtype=np.float64).reshape(1, 1, 11, 11).repeat(c, 1))
    mt.manual_seed(7)
    _, idx = F.fractional_max_pool2d(x, 2, 7, return_indices=True)
    mt.manual_seed(7)
    _, again = F.fractional_max_pool2d(x, 2, 7, return_indices=True)
    _, other = F.fractional_max_pool2d(x, 2, 7, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), again.numpy())
    assert not np.array_equal(idx.numpy(), other.numpy())
    idx = idx.numpy()[0]  # decreasing input: each window's max is its first element, its start
    for starts in (idx[:, :, 0] // 11, idx[:, 0, :] % 11):  # (planes, 7) rows, then columns
        assert (starts[:, 0] == 0).all() and (starts[:, -1] == 9).all()
        assert set(np.unique(np.diff(starts, axis=1))) <= {1, 2}
        share = (starts[:, 1] == 2).mean()
        assert abs(share - 1 / 3) < 5 * np.sqrt(2 / 9 / c), share
    # the two axes draw independent samples
    assert not np.array_equal(idx[:, :, 0] // 11, idx[:, 0, :] % 11)


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_float32_draws_stay_in_float32(nd):
    x = mt.randn(2, 2, *[6] * nd)
    y, i = getattr(F, FRACTIONAL[nd])(x, 2, output_ratio=0.5, return_indices=True)
    assert y.dtype == np.float32 and i.dtype == np.int64 and y.shape == (2, 2, *[3] * nd)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(4, -1)[
        np.arange(4)[:, None], i.numpy().reshape(4, -1)].reshape(y.shape))  # fmt: skip


def test_fractional_max_pool_errors():
    x = mt.randn(1, 2, 9, 7)
    with pytest.raises(ValueError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(ValueError, match="pool height 2 too large relative to input height 9"):
        F.fractional_max_pool2d(x, 2, (9, 3))
    F.fractional_max_pool2d(x, 2, (8, 6))  # o + k - 1 <= size in 2-D ...
    with pytest.raises(ValueError, match="pool time 2 too large relative to input time 5"):
        F.fractional_max_pool3d(mt.randn(1, 1, 5, 6, 7), 2, 4)  # ... strictly less in 3-D
    F.fractional_max_pool3d(mt.randn(1, 1, 5, 6, 7), 2, 3)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
        F.fractional_max_pool2d(x, (0, 2), 3)
    with pytest.raises(TypeError, match="kernel_size"):
        F.fractional_max_pool2d(x, (2, 2, 2), 3)
    with pytest.raises(TypeError, match="output_size"):
        F.fractional_max_pool2d(x, 2, (2, 3, 3))
    with pytest.raises(ValueError, match="output_ratio must be a number or a tuple of 2"):
        F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"expected 3-D \(C, H, W\) or 4-D"):
        F.fractional_max_pool2d(mt.randn(9, 7), 2, 3)
    with pytest.raises(ValueError, match=r"expected 4-D \(C, T, H, W\) or 5-D"):
        F.fractional_max_pool3d(mt.randn(9, 7), 2, 3)
    with pytest.raises(ValueError, match="non-zero sizes"):
        F.fractional_max_pool2d(mt.randn(2, 0, 5, 5), 2, 3)
    with pytest.raises(TypeError, match="floating point"):
        F.fractional_max_pool2d(mt.tensor(np.zeros((1, 2, 5, 5), np.int64)), 2, 3)
    with pytest.raises(ValueError, match=r"_random_samples must have shape \(N, C, 2\)"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=mt.rand(1, 2, 3))
    with pytest.raises(ValueError, match=r"_random_samples must have shape"):
        F.fractional_max_pool2d(mt.randn(2, 2, 9, 7), 2, 3, _random_samples=mt.rand(1, 2, 2))
    with pytest.raises(TypeError, match="must have the input's dtype float32, got float64"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=mt.rand(1, 2, 2, dtype=mt.float64))
    with pytest.raises(ValueError, match=r"samples must lie in \[0, 1\)"):
        # (any finite u keeps the windows inside but for float rounding far from [0, 1))
        big = mt.full((1, 2, 2), 1e16, dtype=mt.float64)
        F.fractional_max_pool2d(x.double(), 2, (5, 3), _random_samples=big)
    with pytest.raises(TypeError, match="_random_samples must be a tensor"):
        F.fractional_max_pool2d(x, 2, 3, _random_samples=[[[0.5, 0.5]] * 2])


# --------------------------------------------------------------------------- the layers


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_layers_are_the_functional_op_and_torch(nd):
    torch = pytest.importorskip("torch")
    name = f"FractionalMaxPool{nd}d"
    x = np.random.default_rng(nd).standard_normal((2, 3, *[7] * nd))
    u = np.random.default_rng(9).random((2, 3, nd))
    for kw in ({"output_size": 3}, {"output_ratio": 0.5}, {"output_ratio": (0.5,) * nd}):
        ours = getattr(nn, name)(2, **kw, return_indices=True, _random_samples=mt.tensor(u))
        theirs = getattr(torch.nn, name)(2, **kw, return_indices=True,
                                         _random_samples=torch.tensor(u))  # fmt: skip
        y, i = ours(mt.tensor(x))
        yt, it = theirs(torch.tensor(x))
        np.testing.assert_array_equal(y.numpy(), yt.numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
        assert repr(ours) == repr(theirs) == f"{name}()"
        assert list(ours.state_dict()) == list(theirs.state_dict()) == ["_random_samples"]
        assert ours.kernel_size == theirs.kernel_size
        assert ours.output_size == theirs.output_size
        assert ours.output_ratio == theirs.output_ratio
    layer = getattr(nn, name)(2, output_size=3)
    assert list(layer.state_dict()) == [] and isinstance(layer(mt.tensor(x)), mt.Tensor)


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_layer_errors(nd):
    cls = getattr(nn, f"FractionalMaxPool{nd}d")
    with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
        cls(2)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        cls(2, 3, 0.5)
    for bad in (1.0, 0.0, -0.5, (0.5,) * (nd - 1) + (1.5,)):
        with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
            cls(2, output_ratio=bad)
    with pytest.raises(ValueError, match="kernel_size must be greater than 0"):
        cls(0, output_size=3)
    # numpy ints are ints (they were refused as 'kernel_size must be greater than 0, got 2')
    layer = cls(np.int64(2), output_size=np.int64(3))
    assert layer.kernel_size == (2,) * nd and layer.output_size == (3,) * nd


# --------------------------------------------------------------------------- aliases

WITH_INDICES = [
    ("max_pool1d", (2, 3, 9), (3, 2, 1)),
    ("max_pool2d", (2, 3, 7, 6), (3, 2, 1)),
    ("max_pool3d", (1, 2, 5, 6, 4), (2, 1)),
    ("adaptive_max_pool1d", (2, 3, 9), (4,)),
    ("adaptive_max_pool2d", (2, 3, 7, 6), ((3, 4),)),
    ("adaptive_max_pool3d", (1, 2, 5, 6, 4), (2,)),
    ("fractional_max_pool2d", (2, 3, 7, 6), (2, (3, 4))),
    ("fractional_max_pool3d", (1, 2, 5, 6, 4), (2, (2, 3, 2))),
]


@pytest.mark.parametrize("name, shape, args", WITH_INDICES)
def test_with_indices_aliases_return_the_op_with_indices(name, shape, args):
    x = mt.randn(*shape)
    samples = {"_random_samples": mt.rand(shape[0], shape[1], len(shape) - 2)}
    extra = samples if name.startswith("fractional") else {}
    want = getattr(F, name)(x, *args, return_indices=True, **extra)
    for flag in (False, True):  # return_indices is ignored, as PyTorch
        got = getattr(F, f"{name}_with_indices")(x, *args, return_indices=flag, **extra)
        assert isinstance(got, tuple) and len(got) == 2
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_upsample_aliases_are_interpolate_and_warn():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 4))
    cases = [
        ("upsample", {"scale_factor": 2, "mode": "bilinear"}, {"mode": "bilinear"}),
        ("upsample", {"size": (5, 7)}, {"mode": "nearest"}),
        ("upsample_nearest", {"size": (6, 8)}, {"mode": "nearest"}),
        ("upsample_bilinear", {"size": (5, 7)}, {"mode": "bilinear", "align_corners": True}),
        ("upsample_bilinear", {"scale_factor": 2}, {"mode": "bilinear", "align_corners": True}),
    ]
    for name, kw, target in cases:
        with pytest.warns(UserWarning, match=f"`nn.functional.{name}` is deprecated"):
            y = getattr(F, name)(mt.tensor(x), **kw)
        want = F.interpolate(mt.tensor(x), kw.get("size"), kw.get("scale_factor"), **target)
        np.testing.assert_array_equal(y.numpy(), want.numpy())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yt = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12, atol=1e-12)


def test_nllloss2d_is_nllloss_and_warns():
    rng = np.random.default_rng(0)
    logp = mt.tensor(rng.standard_normal((2, 3, 4, 5))).log_softmax(dim=1)
    target = mt.tensor(rng.integers(0, 3, (2, 4, 5)))
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        loss = nn.NLLLoss2d(weight=mt.tensor([1.0, 2.0, 0.5]), ignore_index=1, reduction="sum")
    assert isinstance(loss, nn.NLLLoss) and loss.ignore_index == 1 and loss.reduction == "sum"
    want = nn.NLLLoss(weight=mt.tensor([1.0, 2.0, 0.5]), ignore_index=1, reduction="sum")
    np.testing.assert_array_equal(loss(logp, target).numpy(), want(logp, target).numpy())


# --------------------------------------------------------------------------- in-place activations

INPLACE = {
    "relu_": {},
    "leaky_relu_": {"negative_slope": 0.2},
    "elu_": {"alpha": 0.7},
    "celu_": {"alpha": 1.3},
    "selu_": {},
    "hardtanh_": {"min_val": -0.5, "max_val": 0.8},
    "threshold_": {"threshold": 0.25, "value": -3.0},
    "rrelu_": {"lower": 0.1, "upper": 0.3},
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_activation_writes_into_the_input_as_torch(name):
    torch = pytest.importorskip("torch")
    x = np.linspace(-2, 2, 12).reshape(3, 4)
    kw = INPLACE[name]
    a = mt.tensor(x)
    out = getattr(F, name)(a, **kw)
    want = getattr(F, name[:-1])(mt.tensor(x), **kw)
    assert out is a and a._version == 1  # the input itself, changed, as PyTorch's
    np.testing.assert_array_equal(a.numpy(), want.numpy())
    t = torch.tensor(x)
    assert getattr(torch.nn.functional, name)(t, **kw) is t
    np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_activation_and_autograd(name):
    kw = INPLACE[name]
    op, ref = getattr(F, name), getattr(F, name[:-1])
    leaf = mt.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        op(leaf, **kw)  # as PyTorch
    h = leaf * 3  # inside a graph: refused, as add_ is, and h left as it was
    with pytest.raises(RuntimeError, match=f"{name} on a tensor that is part of a graph"):
        op(h, **kw)
    np.testing.assert_array_equal(h.numpy(), [-3.0, 1.5, 6.0])
    with mt.no_grad():  # under no_grad the input itself changes
        h2 = leaf * 3
        assert op(h2, **kw) is h2
    np.testing.assert_array_equal(h2.numpy(), ref(leaf.detach() * 3, **kw).numpy())
    w = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    saved = mt.tensor([-1.0, 0.5, 2.0])
    z = (w * saved).sum()  # the product saved `saved` for w's gradient
    op(saved, **kw)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        z.backward()


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_activation_dtypes_as_torch(name):
    """elu_ and the other curved ones refuse int tensors (torch raises; writing elu(-2) = -0.86
    back into an int tensor silently gave 0); relu_, hardtanh_ and threshold_ take ints, cast as
    torch casts; bool is refused by all."""
    torch = pytest.importorskip("torch")
    kw = INPLACE[name]
    for values in (np.array([-2, 0, 3]), np.array([True, False])):
        ours, theirs = mt.tensor(values.copy()), torch.tensor(values.copy())
        try:
            getattr(torch.nn.functional, name)(theirs, **kw)
        except (RuntimeError, NotImplementedError):
            with pytest.raises(TypeError, match=rf"^{name}: expected a .* input, got dtype"):
                getattr(F, name)(ours, **kw)
            np.testing.assert_array_equal(ours.numpy(), values)  # untouched
        else:
            assert getattr(F, name)(ours, **kw) is ours and ours.dtype == values.dtype
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_rrelu_inplace_in_training_draws_as_rrelu():
    x = np.linspace(-2, 2, 20)
    mt.manual_seed(3)
    want = F.rrelu(mt.tensor(x), 0.1, 0.4, training=True).numpy()
    mt.manual_seed(3)
    a = mt.tensor(x)
    F.rrelu_(a, 0.1, 0.4, training=True)
    np.testing.assert_array_equal(a.numpy(), want)
    assert len(np.unique(want[x < 0] / x[x < 0])) > 1  # random slopes, not one


# --------------------------------------------------------------------------- gumbel_softmax


def seeded_gumbel(seed, **kw):
    def fn(logits):
        mt.manual_seed(seed)
        return F.gumbel_softmax(logits, **kw)

    return fn


@SETTINGS
@given(data=st.data())
def test_gumbel_softmax_sums_to_one_and_hard_is_its_one_hot_with_its_gradient(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    tau = data.draw(st.sampled_from([0.3, 1.0, 2.5]))
    logits = data.draw(arrays(shape, -3.0, 3.0))
    seed = data.draw(st.integers(0, 2**16))
    a, b = mt.tensor(logits, requires_grad=True), mt.tensor(logits, requires_grad=True)
    soft = seeded_gumbel(seed, tau=tau, dim=dim)(a)
    hard = seeded_gumbel(seed, tau=tau, hard=True, dim=dim)(b)
    s = soft.numpy()
    assert ((s >= 0) & (s <= 1)).all()
    np.testing.assert_allclose(s.sum(axis=dim), 1.0, rtol=1e-12)
    h = hard.numpy()
    assert set(np.unique(h)) <= {0.0, 1.0}
    np.testing.assert_array_equal(h.sum(axis=dim), 1.0)
    np.testing.assert_array_equal(np.argmax(h, axis=dim), np.argmax(s, axis=dim))
    w = mt.tensor(np.random.default_rng(seed).standard_normal(shape))
    (soft * w).sum().backward()
    (hard * w).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert np.abs(a.grad.numpy()).max() > 0 or s.max() > 1 - 1e-9


def test_gumbel_softmax_gradcheck_float64():
    logits = np.random.default_rng(1).standard_normal((3, 4))
    check_grad(lambda L, a: seeded_gumbel(5, tau=0.7)(a), [logits])


def test_gumbel_softmax_is_torch_softmax_of_its_noise():
    """The noise g = tau * log(y) - logits (up to a constant per row, which softmax ignores)
    fed to torch's formula softmax((logits + g) / tau) gives the same sample and gradient."""
    torch = pytest.importorskip("torch")
    logits, tau = np.random.default_rng(2).standard_normal((5, 6)), 0.8
    a = mt.tensor(logits, requires_grad=True)
    y = seeded_gumbel(11, tau=tau)(a)
    g = tau * np.log(y.numpy()) - logits
    t = torch.tensor(logits, requires_grad=True)
    yt = torch.softmax((t + torch.tensor(g)) / tau, dim=-1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10)
    w = np.random.default_rng(3).standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-12)


def test_gumbel_softmax_argmax_is_distributed_as_softmax_of_the_logits():
    """Gumbel-max: argmax(logits + g) ~ softmax(logits), whatever tau; 20000 draws with a fixed
    seed, each frequency within 4.5 standard errors."""
    rows = 20000
    logits = np.array([1.0, 0.0, -1.0, 0.5, 2.0])
    p = np.exp(logits) / np.exp(logits).sum()
    mt.manual_seed(0)
    for tau in (0.5, 3.0):
        y = F.gumbel_softmax(mt.tensor(np.tile(logits, (rows, 1))), tau=tau, hard=True).numpy()
        freq = y.mean(axis=0)
        np.testing.assert_array_less(np.abs(freq - p), 4.5 * np.sqrt(p * (1 - p) / rows))
    y = F.gumbel_softmax(mt.tensor(np.tile(logits, (rows, 1)).T), dim=0, hard=True).numpy()
    np.testing.assert_array_less(np.abs(y.mean(axis=1) - p), 4.5 * np.sqrt(p * (1 - p) / rows))


def test_gumbel_softmax_float32_and_errors():
    y = F.gumbel_softmax(mt.randn(4, 3))
    assert y.dtype == np.float32
    with pytest.warns(UserWarning, match="`eps` parameter is deprecated"):
        F.gumbel_softmax(mt.randn(2, 3), eps=1e-5)
    with pytest.raises(ValueError, match="tau must be a positive"):
        F.gumbel_softmax(mt.randn(2, 3), tau=0)
    with pytest.raises(TypeError, match="floating point"):
        F.gumbel_softmax(mt.tensor([[1, 2]]))
    with pytest.raises(IndexError, match="dim 2 out of range"):
        F.gumbel_softmax(mt.randn(2, 3), dim=2)
