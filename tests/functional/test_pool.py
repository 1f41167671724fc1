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
            lambda: interpolate(_t(2, 3, 8, 8), size=4, mode="bilinear", antialias=True),
            r"antialias=True is not implemented",
        ),
        (lambda: interpolate(_t(2, 3, 8, 8)), r"exactly one of size and scale_factor"),
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
