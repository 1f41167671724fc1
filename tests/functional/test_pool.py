"""functional/pool.py: max/avg pooling, adaptive pooling, max_unpool2d, interpolate.

Forward against the loop references, backward by gradcheck in float64 (on distinct values, so
every max is unique), max-pool gradients go to exactly one argmax per window, shapes against
kernels.shapes, PyTorch parity when torch is installed, and the bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import reference
from minitorch_cv.functional.pool import (
    adaptive_avg_pool2d,
    adaptive_max_pool2d,
    avg_pool2d,
    interpolate,
    max_pool2d,
    max_unpool2d,
)
from tests.strategies import FEW, SETTINGS, array, distinct_array, pool_cases, seeds


def leaf(a):
    return mt.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def _shape(case):
    return (case.n, case.c, case.h, case.w)


def _max_args(case):
    return case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode


# --------------------------------------------------------------------------- max pooling


@SETTINGS
@given(case=pool_cases(), seed=seeds, ties=st.booleans())
def test_max_pool2d_matches_naive_loops(case, seed, ties):
    x = array(seed, _shape(case))
    if ties:  # few distinct values: ties in most windows, the first one must win
        x = np.round(x)
    y, idx = max_pool2d(mt.tensor(x), *_max_args(case), return_indices=True)
    y_ref, idx_ref = reference.max_pool2d(x, *_max_args(case))
    assert y.shape == (case.n, case.c) + case.out  # == kernels.shapes.pool_out per dim
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(
        max_pool2d(mt.tensor(x), *_max_args(case)).numpy(), y_ref
    )  # no-index path


@SETTINGS
@given(case=pool_cases(), seed=seeds)
def test_max_pool2d_gradient_goes_to_one_argmax_per_window(case, seed):
    x = leaf(np.round(array(seed, _shape(case))))  # ties on purpose
    y, idx = max_pool2d(x, *_max_args(case), return_indices=True)
    gy = array(seed + 1, y.shape)
    (y * mt.tensor(gy)).sum().backward()
    # each window sends its gradient to exactly the input its index names, nothing else
    n, c = case.n, case.c
    expect = np.zeros((n * c, case.h * case.w))
    for row, (i, g) in enumerate(zip(idx.numpy().reshape(n * c, -1), gy.reshape(n * c, -1))):
        np.add.at(expect[row], i, g)
    np.testing.assert_allclose(x.grad.numpy().reshape(n * c, -1), expect, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=pool_cases(max_size=6), seed=seeds)
def test_max_pool2d_gradcheck_float64(case, seed):
    x = leaf(distinct_array(seed, _shape(case)))
    assert mt.gradcheck(lambda t: max_pool2d(t, *_max_args(case)), [x])


def test_max_pool2d_fast_path_equals_general_path():
    x = array(0, (3, 4, 9, 8))
    fast = max_pool2d(leaf(x), 2)  # k == stride, no padding: the reshape path
    general = max_pool2d(leaf(x), 2, 2, 0, 1, False)
    y_ref, _ = reference.max_pool2d(x, 2)
    np.testing.assert_array_equal(fast.numpy(), y_ref)
    np.testing.assert_array_equal(general.numpy(), y_ref)
    with mt.no_grad():
        np.testing.assert_array_equal(max_pool2d(mt.tensor(x), 2).numpy(), y_ref)
    assert mt.gradcheck(lambda t: max_pool2d(t, 2), [leaf(distinct_array(1, (2, 2, 5, 6)))])


def test_max_pool2d_propagates_nan_like_torch():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y = max_pool2d(mt.tensor(x), 2).numpy()
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1, 1])


# --------------------------------------------------------------------------- unpooling


@SETTINGS
@given(case=pool_cases(dilation=False), seed=seeds)
def test_max_unpool2d_puts_values_back_at_their_indices(case, seed):
    x = distinct_array(seed, _shape(case))
    k, s, p = case.kernel, case.stride, case.padding
    y, idx = max_pool2d(mt.tensor(x), k, s, p, ceil_mode=case.ceil_mode, return_indices=True)
    back = max_unpool2d(y, idx, k, s, p, output_size=(case.h, case.w)).numpy()
    picked = np.zeros(x.shape, dtype=bool).reshape(case.n * case.c, -1)
    np.put_along_axis(picked, idx.numpy().reshape(case.n * case.c, -1), True, axis=1)
    picked = picked.reshape(x.shape)
    np.testing.assert_array_equal(back[picked], x[picked])
    assert (back[~picked] == 0).all()
    rows = idx.numpy().reshape(case.n * case.c, -1)
    if all(len(set(r)) == len(r) for r in rows):  # overlapping windows may share an argmax:
        # unpooling then writes one position twice, which has no well-defined gradient
        unpool = lambda t: max_unpool2d(t, idx, k, s, p, output_size=(case.h, case.w))
        assert mt.gradcheck(unpool, [leaf(y.numpy())])


def test_max_unpool2d_default_size():
    x = distinct_array(0, (2, 3, 6, 4))
    y, idx = max_pool2d(mt.tensor(x), 2, return_indices=True)
    assert max_unpool2d(y, idx, 2).shape == (2, 3, 6, 4)  # (H - 1)*stride - 2*pad + kernel


# --------------------------------------------------------------------------- average pooling


@SETTINGS
@given(
    case=pool_cases(dilation=False),
    seed=seeds,
    count_include_pad=st.booleans(),
    divisor=st.sampled_from([None, None, 1, 3]),
)
def test_avg_pool2d_matches_naive_loops_and_gradcheck(case, seed, count_include_pad, divisor):
    x = array(seed, _shape(case))
    args = (case.kernel, case.stride, case.padding, case.ceil_mode, count_include_pad, divisor)
    y = avg_pool2d(mt.tensor(x), *args)
    assert y.shape == (case.n, case.c) + case.out
    np.testing.assert_allclose(y.numpy(), reference.avg_pool2d(x, *args), rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(lambda t: avg_pool2d(t, *args), [leaf(x)])


# --------------------------------------------------------------------------- adaptive pooling

adaptive_shapes = st.tuples(
    st.integers(1, 9), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5)
)


@SETTINGS
@given(hw_out=adaptive_shapes, seed=seeds)
def test_adaptive_avg_pool2d_matches_naive_loops_and_gradcheck(hw_out, seed):
    h, w, oh, ow = hw_out
    x = array(seed, (2, 3, h, w))
    y = adaptive_avg_pool2d(mt.tensor(x), (oh, ow))
    np.testing.assert_allclose(
        y.numpy(), reference.adaptive_avg_pool2d(x, (oh, ow)), rtol=1e-12, atol=1e-12
    )
    assert mt.gradcheck(lambda t: adaptive_avg_pool2d(t, (oh, ow)), [leaf(x)])


@SETTINGS
@given(hw_out=adaptive_shapes, seed=seeds)
def test_adaptive_max_pool2d_matches_naive_loops_and_gradcheck(hw_out, seed):
    h, w, oh, ow = hw_out
    x = distinct_array(seed, (2, 2, h, w))
    y, idx = adaptive_max_pool2d(mt.tensor(np.round(x)), (oh, ow), return_indices=True)  # with ties
    y_ref, idx_ref = reference.adaptive_max_pool2d(np.round(x), (oh, ow))
    np.testing.assert_array_equal(y.numpy(), y_ref)
    np.testing.assert_array_equal(idx.numpy(), idx_ref)
    assert mt.gradcheck(lambda t: adaptive_max_pool2d(t, (oh, ow)), [leaf(x)])


def test_adaptive_pool_none_keeps_a_size_and_global_pool():
    x = array(0, (2, 3, 5, 7))
    assert adaptive_avg_pool2d(mt.tensor(x), (None, 2)).shape == (2, 3, 5, 2)
    np.testing.assert_allclose(
        adaptive_avg_pool2d(mt.tensor(x), 1).numpy()[..., 0, 0], x.mean(axis=(2, 3))
    )


# --------------------------------------------------------------------------- interpolate

resize = st.one_of(
    st.tuples(st.integers(1, 9), st.integers(1, 9)).map(lambda s: dict(size=s)),
    st.sampled_from([2.0, 0.5, 1.5, (1.7, 0.6), 3]).map(lambda f: dict(scale_factor=f)),
)
modes = st.sampled_from(
    [("nearest", None), ("nearest-exact", None), ("bilinear", False), ("bilinear", True),
     ("bicubic", False), ("bicubic", True), ("area", None)]
)  # fmt: skip


@SETTINGS
@given(hw=st.tuples(st.integers(1, 6), st.integers(1, 6)), how=resize, mode=modes, seed=seeds)
def test_interpolate_matches_naive_loops_and_gradcheck(hw, how, mode, seed):
    x = array(seed, (2, 2) + hw)
    kw = dict(how, mode=mode[0], align_corners=mode[1])
    if (
        "scale_factor" in how
        and min(int(n * f) for n, f in zip(hw, np.broadcast_to(how["scale_factor"], 2))) < 1
    ):
        return  # the scale shrinks a side to nothing
    y = interpolate(mt.tensor(x), **kw)
    np.testing.assert_allclose(y.numpy(), reference.interpolate(x, **kw), rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(lambda t: interpolate(t, **kw), [leaf(x)])


# --------------------------------------------------------------------------- parity with PyTorch


@pytest.mark.parity
@SETTINGS
@given(case=pool_cases(), seed=seeds)
def test_max_pool2d_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    x = distinct_array(seed, _shape(case), np.float32)
    ours, theirs = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, idx = max_pool2d(ours, *_max_args(case), return_indices=True)
    yt, idxt = torch.nn.functional.max_pool2d(theirs, *_max_args(case), return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())  # a max is exact
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    g = array(seed + 1, y.shape, np.float32)
    (y * mt.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parity
@SETTINGS
@given(case=pool_cases(dilation=False), seed=seeds, count_include_pad=st.booleans())
def test_avg_pool2d_matches_torch_float32(case, seed, count_include_pad):
    torch = pytest.importorskip("torch")
    x = array(seed, _shape(case), np.float32)
    args = (case.kernel, case.stride, case.padding, case.ceil_mode, count_include_pad)
    ours, theirs = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = avg_pool2d(ours, *args), torch.nn.functional.avg_pool2d(theirs, *args)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)  # float32 sums
    g = array(seed + 1, y.shape, np.float32)
    (y * mt.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parity
@FEW
@given(hw_out=adaptive_shapes, seed=seeds)
def test_adaptive_pools_and_unpool_match_torch(hw_out, seed):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    h, w, oh, ow = hw_out
    x = distinct_array(seed, (2, 3, h, w))
    y = adaptive_avg_pool2d(mt.tensor(x), (oh, ow))
    np.testing.assert_allclose(
        y.numpy(), F.adaptive_avg_pool2d(torch.tensor(x), (oh, ow)).numpy(), rtol=1e-12, atol=1e-12
    )
    y, idx = adaptive_max_pool2d(mt.tensor(x), (oh, ow), return_indices=True)
    yt, idxt = F.adaptive_max_pool2d(torch.tensor(x), (oh, ow), return_indices=True)
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    if h >= 2 and w >= 2:
        p, pidx = max_pool2d(mt.tensor(x), 2, return_indices=True)
        pt, pidxt = F.max_pool2d(torch.tensor(x), 2, return_indices=True)
        ours = max_unpool2d(p, pidx, 2, output_size=(h, w)).numpy()
        theirs = F.max_unpool2d(pt, pidxt, 2, output_size=(h, w)).numpy()
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parity
@SETTINGS
@given(hw=st.tuples(st.integers(1, 6), st.integers(1, 6)), how=resize, mode=modes, seed=seeds)
def test_interpolate_matches_torch_float32(hw, how, mode, seed):
    torch = pytest.importorskip("torch")
    x = array(seed, (2, 2) + hw, np.float32)
    kw = dict(how, mode=mode[0], align_corners=mode[1])
    if (
        "scale_factor" in how
        and min(int(n * f) for n, f in zip(hw, np.broadcast_to(how["scale_factor"], 2))) < 1
    ):
        return
    ours, theirs = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = interpolate(ours, **kw), torch.nn.functional.interpolate(theirs, **kw)
    assert y.shape == tuple(yt.shape)
    # same float32 source coordinates; nearest is exact, bilinear sums in another order; bicubic
    # sums 16 taps whose weights (negative lobes, up to 1.3 in size) PyTorch rounds to float32
    # before it sums (found: 1.2e-6 off on an output of 0.088, inputs up to 3 in size)
    tol = 1e-5 if mode[0] == "bicubic" else 1e-6
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    g = array(seed + 1, y.shape, np.float32)
    (y * mt.tensor(g)).sum().backward()
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("height", [1, 64], ids=["small-output", "large-output"])
def test_interpolate_nearest_source_index_rounding_as_torch(mode, dtype, height):
    """torch's nearest source index: on outputs with OH + OW <= 128 float32 arithmetic even for
    float64 input (size 31, scale 1.3: output 39 reads source 30, float64 would give 29); on
    larger outputs the float64 product rounded to float32 (size 64, scale 2.3: they differ)."""
    torch = pytest.importorskip("torch")
    for n in range(25, 45) if height == 1 else range(60, 70):
        x = np.arange(float(n), dtype=dtype) * np.ones((1, 1, height, 1), dtype)
        kw = dict(scale_factor=(1.0, 1.3 if height == 1 else 2.3), mode=mode)
        yt = torch.nn.functional.interpolate(torch.tensor(x), **kw).numpy()
        y = interpolate(mt.tensor(x), **kw).numpy()
        np.testing.assert_array_equal(y, yt, err_msg=f"size {n}")
        np.testing.assert_array_equal(reference.interpolate(x, **kw), yt, err_msg=f"size {n}")


# (input length, output length, output index): sizes where float32 (i + 0.5) * s lands just
# below 1 but PyTorch's s * (i + 0.5) - 0.5, rounded once, then + 0.5, reaches it
EXACT_BOUNDARIES = [(8, 220, 27), (2, 219, 109), (4, 218, 54), (18, 423, 23)]


@pytest.mark.parametrize("n, out, i", EXACT_BOUNDARIES)
def test_nearest_exact_float32_index_at_a_boundary_as_torch(n, out, i):
    """PyTorch's general nearest-exact kernel: floor(max(s * (i + 0.5) - 0.5, 0) + 0.5) with
    the first part rounded to float32 once (a fused multiply-add); output i reads source 1
    (torch 2.13), in the 1-D, 2-D and 3-D paths and in the reference."""
    x = np.arange(n, dtype=np.float32)
    for shape, size in (((1, 1, n), out), ((1, 1, 1, n), (1, out)), ((1, 1, 1, 1, n), (1, 1, out))):
        y = interpolate(mt.tensor(x.reshape(shape)), size=size, mode="nearest-exact").numpy()
        assert y.ravel()[i] == 1, shape
    ref = reference.interpolate(x.reshape(1, 1, 1, n), size=(1, out), mode="nearest-exact")
    assert ref.ravel()[i] == 1
    # the 2-D case the review found: (167, 8) -> (118, 220), column 27 reads source column 1
    x = np.arange(167 * 8, dtype=np.float32).reshape(1, 1, 167, 8)
    y = interpolate(mt.tensor(x), size=(118, 220), mode="nearest-exact").numpy()
    np.testing.assert_array_equal(y[0, 0, :, 27] % 8, 1)
    np.testing.assert_array_equal(
        y, reference.interpolate(x, size=(118, 220), mode="nearest-exact")
    )


@pytest.mark.parametrize("height, shortcut", [(2, True), (3, False)])
def test_nearest_2d_copy_and_halving_shortcuts_only_on_small_outputs(height, shortcut):
    """PyTorch's 2-D nearest kernel for OH + OW <= 128 halves the index on an axis that doubles
    (63 -> 126 at scale 2.012: source j >> 1); its general kernel (OH + OW = 129 here) computes
    floor(j / 2.012), reading [0, 0, 0, 1, 1, ...] (torch 2.13). The same for (1, 71) at
    (3.14, 2.012) -> (3, 142), where the shortcut got 210 of 426 values wrong."""
    for shape, sf in (((1, 1, height, 63), (1.0, 2.012)), ((1, 1, 1, 71), (3.14, 2.012))):
        x = np.arange(shape[-1], dtype=np.float32) * np.ones(shape, np.float32)
        y = interpolate(mt.tensor(x), scale_factor=sf).numpy()
        j = np.arange(y.shape[-1])
        computed = np.minimum(np.floor(j * np.float32(1 / 2.012)), shape[-1] - 1)
        assert (computed != j >> 1).any()
        want = j >> 1 if shortcut and shape[-1] == 63 else computed
        np.testing.assert_array_equal(y[0, 0, 0], want, err_msg=f"{shape}")
        np.testing.assert_array_equal(reference.interpolate(x, scale_factor=sf), y)
    np.testing.assert_array_equal(y[0, 0, 0, :7], [0, 0, 0, 1, 1, 2, 2])


def _matrix_of(fn, shape):
    """The dense matrix of the linear map fn on arrays of `shape` (1, 1, *spatial): fn pushed
    through the identity basis, one basis image per batch entry."""
    n = int(np.prod(shape))
    return fn(mt.tensor(np.eye(n).reshape(n, 1, *shape[2:]))).numpy().reshape(n, -1).T


LONG_AXES = [((1, 1, 700), dict(scale_factor=2.3)), ((1, 1, 700), dict(size=95)),
             ((1, 1, 2, 300), dict(scale_factor=(2.5, 2.3))), ((1, 1, 2, 3, 150),
             dict(size=(3, 4, 345)))]  # fmt: skip


@pytest.mark.parametrize("shape, how", LONG_AXES)
@pytest.mark.parametrize("mode, align", [("nearest", None), ("nearest-exact", None),
                                         ("linear", False), ("linear", True)])  # fmt: skip
def test_interpolate_gradient_is_the_transpose_of_the_forward_on_long_axes(shape, how, mode, align):
    """Axes long enough that the gradient is applied in several blocks of outputs (each
    with only the source columns it reads): gx = A^T g, A the forward's matrix."""
    mode = {3: mode, 4: "bilinear", 5: "trilinear"}[len(shape)] if mode == "linear" else mode
    kw = dict(how, mode=mode, align_corners=align)
    x = mt.tensor(array(0, shape), requires_grad=True)
    y = interpolate(x, **kw)
    g = array(1, y.shape)
    y.backward(mt.tensor(g))
    a = _matrix_of(lambda t: interpolate(t, **kw), shape)
    np.testing.assert_allclose(y.numpy().ravel(), a @ x.numpy().ravel(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy().ravel(), g.ravel() @ a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_interpolate_gradient_memory_grows_with_the_sizes_not_their_product(mode):
    """(1, 1, 4000, 1) -> (8000, 2) forward and backward: a dense (8000, 4000) resampling
    matrix would take 256 MB in float64; the gradient is applied in blocks instead."""
    import tracemalloc

    x = mt.tensor(array(0, (1, 1, 4000, 1), np.float32), requires_grad=True)
    tracemalloc.start()
    try:
        interpolate(x, scale_factor=2, mode=mode).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert x.grad.shape == x.shape
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parity
def test_interpolate_large_outputs_match_torch():
    """Outputs past 128 pixels, where PyTorch's 2-D nearest kernel changes (no copy / halving
    shortcuts, the input's precision instead of float32) and nearest-exact's rounding shows:
    the review's cases, then random sizes up to ~300 and random scale factors (some that keep
    or double a size) in 1, 2 and 3 dims, both dtypes; values and gradients as PyTorch's."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    cases = [((1, 1, 8), np.float32, "nearest-exact", dict(size=220)),
             ((1, 1, 167, 8), np.float32, "nearest-exact", dict(size=(118, 220))),
             ((1, 1, 1, 71), np.float32, "nearest", dict(scale_factor=(3.14, 2.012))),
             ((1, 1, 3, 63), np.float64, "nearest", dict(scale_factor=(1.0, 2.012))),
             ((1, 1, 2, 63), np.float64, "nearest", dict(scale_factor=(1.0, 2.012)))]  # fmt: skip
    for _ in range(80):
        nd = int(rng.choice([1, 2, 2, 3]))
        top = {1: 300, 2: 150, 3: 12}[nd]
        sizes = tuple(int(v) for v in rng.integers(1, top, nd))
        linear = ("linear", "bilinear", "trilinear")[nd - 1]
        mode = str(rng.choice(["nearest", "nearest-exact", linear]))
        if rng.random() < 0.2:
            kw = dict(size=tuple(int(v) for v in rng.integers(1, 2 * top, nd)))
        else:  # some axes keep or double their size with a fractional factor (1.004, 2.004)
            sf = rng.uniform(0.3, 2.6, nd) + [rng.choice([0.0, 1.0]) for _ in sizes]
            sf = [rng.choice([f, 1 + 0.5 / n, 2 + 0.5 / n]) for f, n in zip(sf, sizes)]
            kw = dict(scale_factor=tuple(float(v) for v in sf))
        if mode == linear and rng.random() < 0.5:
            kw["align_corners"] = True
        cases.append(((1, 2, *sizes), (np.float32, np.float64)[int(rng.integers(2))], mode, kw))
    for shape, dtype, mode, kw in cases:
        x = rng.standard_normal(shape).astype(dtype)
        theirs = torch.tensor(x, requires_grad=True)
        try:
            yt = torch.nn.functional.interpolate(theirs, mode=mode, **kw)
        except RuntimeError:  # an output size of 0
            continue
        ours = mt.tensor(x, requires_grad=True)
        y = interpolate(ours, mode=mode, **kw)
        msg = f"{shape} {dtype.__name__} {mode} {kw}"
        tol = 1e-6 if dtype == np.float32 else 1e-12
        if mode.startswith("nearest"):
            np.testing.assert_array_equal(y.numpy(), yt.detach().numpy(), err_msg=msg)
        else:
            np.testing.assert_allclose(
                y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol, err_msg=msg
            )
        g = rng.standard_normal(y.shape).astype(dtype)
        y.backward(mt.tensor(g))
        if mode.startswith("nearest"):
            # the adjoint of PyTorch's forward: each output's gradient added to the source its
            # value came from (found by resizing the pixel numbers). PyTorch's own nearest
            # backward is not always that: it keeps the copy / halving shortcuts on large 2-D
            # outputs, the old nearest-exact rounding, and in 1-D / 3-D ignores a fractional
            # scale_factor
            n = int(np.prod(shape[2:]))
            pixel = torch.tensor(np.arange(n, dtype=dtype).reshape(1, 1, *shape[2:]))
            src = torch.nn.functional.interpolate(pixel, mode=mode, **kw).numpy().astype(int)
            rows = g.reshape(shape[1], -1).astype(np.float64)
            want = np.stack([np.bincount(src.ravel(), r, minlength=n) for r in rows])
        else:
            yt.backward(torch.tensor(g))
            want = theirs.grad.numpy()
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(ours.grad.numpy().reshape(want.shape), want, rtol=tol,
                                   atol=tol, err_msg=msg)  # fmt: skip


@pytest.mark.parity
def test_max_unpool2d_output_size_range_matches_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = distinct_array(1, (1, 1, 5, 5)).astype(np.float32)
    y, idx = max_pool2d(mt.tensor(x), 3, 2, return_indices=True)  # default unpooled size 5
    yt, idxt = F.max_pool2d(torch.tensor(x), 3, 2, return_indices=True)
    for size in range(2, 9):
        try:
            theirs = F.max_unpool2d(yt, idxt, 3, 2, output_size=(size, size)).numpy()
        except (ValueError, RuntimeError):  # out of its range, or too small for the indices
            match = "invalid output_size" if not 3 < size < 7 else "indices must lie in"
            with pytest.raises(ValueError, match=match):
                max_unpool2d(y, idx, 3, 2, output_size=(size, size))
            continue
        np.testing.assert_array_equal(
            max_unpool2d(y, idx, 3, 2, output_size=(size, size)).numpy(), theirs
        )


# (H, W, kernel, stride, padding, dilation, ceil_mode): windows with no tap above -inf,
# starting in the left / top padding; in the first three a dilated window holds only padding
ALL_PADDING = [
    (1, 2, 2, 1, 1, 2, False),
    (1, 2, 2, 2, 1, 2, True),
    (1, 2, 2, 2, 1, 3, True),
    (4, 5, 3, 2, 1, 1, False),
]


@pytest.mark.parametrize("h, w, k, s, p, d, ceil", ALL_PADDING)
def test_max_pool2d_index_of_an_all_minus_inf_window_is_its_first_tap_inside(
    h, w, k, s, p, d, ceil
):
    """PyTorch's rule: a window with nothing above -inf reports its first tap at row >= 0 and
    column >= 0 (never a negative index into the padding)."""
    x = np.full((1, 1, h, w), -np.inf, np.float32)
    _, idx = max_pool2d(mt.tensor(x), k, s, p, d, ceil_mode=ceil, return_indices=True)
    oh, ow = idx.shape[2:]
    first = lambda start: start + d * max(0, -(start // d))  # first tap >= 0 of a window
    want = [[first(i * s - p) * w + first(j * s - p) for j in range(ow)] for i in range(oh)]
    np.testing.assert_array_equal(idx.numpy()[0, 0], want)
    torch = pytest.importorskip("torch")
    _, idxt = torch.nn.functional.max_pool2d(
        torch.tensor(x), k, s, p, d, ceil_mode=ceil, return_indices=True
    )
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())


# --------------------------------------------------------------------------- bad input


def _t(*shape, dtype=np.float32):
    return mt.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: max_pool2d(_t(2, 3, 1, 1), 3), r"max_pool2d: .*too small"),
        (
            lambda: max_pool2d(_t(2, 3, 8, 8), 2, padding=2),
            r"padding \(2, 2\) must be >= 0 and at most half",
        ),
        (lambda: max_pool2d(_t(2, 3, 8, 8), 2, stride=0), r"stride must be >= 1"),
        (lambda: max_pool2d(_t(2, 3, 8, 8), 2, dilation=0), r"dilation must be >= 1"),
        (lambda: max_pool2d(_t(8, 8), 2), r"expected 3-D or 4-D input .*\(8, 8\)"),
        (lambda: avg_pool2d(_t(2, 3, 8, 8), 3, padding=2), r"avg_pool2d: padding"),
        (lambda: avg_pool2d(_t(2, 3, 8, 8), 2, divisor_override=0), r"divisor_override"),
        (lambda: adaptive_avg_pool2d(_t(2, 3, 8, 8), 0), r"output_size must be positive"),
        (
            lambda: interpolate(_t(2, 3, 8, 8), size=4, mode="trilinear"),
            r"mode must be one of nearest, nearest-exact, bilinear, bicubic, area, got 'trilinear'",
        ),
        (
            lambda: interpolate(_t(2, 3, 8, 8), size=4, mode="area", align_corners=False),
            r"align_corners only applies to mode='bilinear' or 'bicubic'",
        ),
        (
            lambda: interpolate(_t(2, 3, 8, 8), size=4, mode="nearest", antialias=True),
            r"anti-alias option is restricted to bilinear and bicubic modes",
        ),
        (lambda: interpolate(_t(2, 3, 8, 8)), r"exactly one of size and scale_factor"),
        (
            lambda: interpolate(_t(2, 3, 8, 8), scale_factor=float("nan")),
            r"interpolate: scale_factor must be finite and positive .*got nan",
        ),
        (
            lambda: interpolate(_t(2, 3, 8), scale_factor=float("inf"), mode="linear"),
            r"interpolate: scale_factor must be finite and positive .*got inf",
        ),
        (
            lambda: interpolate(_t(2, 3, 8, 8), scale_factor=(2.0, float("-inf"))),
            r"interpolate: scale_factor must be finite and positive .*got \(2.0, -inf\)",
        ),
        (lambda: interpolate(_t(8, 8), size=4), r"expected 3-D \(N, C, L\), 4-D \(N, C, H, W\)"),
        (
            lambda: interpolate(_t(2, 3, 8, 8), size=4, align_corners=True),
            r"align_corners only applies",
        ),
        (
            lambda: max_unpool2d(_t(2, 3, 4, 4), mt.tensor(np.zeros((2, 3, 4, 3), np.int64)), 2),
            r"indices shape",
        ),
        (
            lambda: max_unpool2d(_t(2, 3, 2, 2), mt.tensor(np.full((2, 3, 2, 2), 99)), 2),
            r"indices must lie in",
        ),
        (  # torch's rule: an output_size within a stride of the default (4, 4)
            lambda: max_unpool2d(
                _t(2, 3, 2, 2), mt.tensor(np.zeros((2, 3, 2, 2), np.int64)), 2, output_size=(4, 6)
            ),
            r"invalid output_size \(4, 6\) .*\(dim 1 must be between 3 and 5\)",
        ),
        (
            lambda: max_unpool2d(
                _t(2, 3, 2, 2),
                mt.tensor(np.zeros((2, 3, 2, 2), np.int64)),
                2,
                output_size=(3, 4, 4),
            ),
            r"output_size should have 2 or 4 elements, got \(3, 4, 4\)",
        ),
    ],
)
def test_bad_input_raises_value_error_naming_op_and_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_unbatched_input():
    x = array(0, (3, 6, 5))
    y, idx = max_pool2d(mt.tensor(x), 2, return_indices=True)
    assert y.shape == (3, 3, 2) and idx.shape == (3, 3, 2)
    assert max_unpool2d(y, idx, 2, output_size=(6, 5)).shape == (3, 6, 5)
    assert avg_pool2d(mt.tensor(x), 3, 1, 1).shape == (3, 6, 5)
    assert adaptive_max_pool2d(mt.tensor(x), 2).shape == (3, 2, 2)


def test_interpolate_size_of_the_wrong_length_names_interpolate():
    with pytest.raises(TypeError, match=r"interpolate: size must be an int or a tuple of 3 ints"):
        interpolate(_t(1, 1, 2, 2, 2), size=(4, 4))
