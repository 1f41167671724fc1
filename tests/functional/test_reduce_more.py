"""median, nanmedian, kthvalue, mode, quantile, nanquantile, nansum, nanmean, count_nonzero,
aminmax, var_mean, std_mean, cumprod, cummax, cummin, logcumsumexp, diff, trace, searchsorted,
bucketize and histc: plain loop references written from the definitions, float64 gradchecks over
hypothesis-drawn shapes / dims / k / q, PyTorch's values, indices and gradients (with NaNs,
zeros and ties where they matter), and the errors."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cv as mt
from tests.strategies_core import (
    OURS,
    SETTINGS,
    Lib,
    arrays,
    check_grad,
    check_parity,
    shapes,
)

INTERPOLATIONS = ["linear", "lower", "higher", "midpoint", "nearest"]

# --------------------------------------------------------------------------- strategies


@st.composite
def dim_case(draw, min_dims=1, max_dims=3, max_side=4, unique=True):
    """(x, dim, keepdim): float64 x (distinct grid values when `unique`), a dim that may be
    negative."""
    shape = draw(shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return draw(arrays(shape, -5.0, 5.0, unique=unique)), dim, draw(st.booleans())


def few_values(shape, nan=False):
    """float64 arrays over a handful of values (many ties), NaN among them if asked."""
    pool = [-1.0, 0.0, 0.5, 2.0] + ([math.nan] if nan else [])
    return hnp.arrays(np.float64, shape, elements=st.sampled_from(pool))


@st.composite
def tie_case(draw, nan=False):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=5))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return draw(few_values(shape, nan)), dim, draw(st.booleans())


def slices(x, dim):
    """(position in the reduced shape, the 1-D slice along dim) for every slice."""
    moved = np.moveaxis(x, dim, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        yield pos, moved[pos]


def per_slice(x, dim, keepdim, fn, dtype=np.float64):
    """fn(slice) for every 1-D slice along dim, laid out as the op's output."""
    out = np.array([fn(row) for _, row in slices(x, dim)], dtype=dtype)
    out = out.reshape(np.moveaxis(x, dim, -1).shape[:-1])
    return np.expand_dims(out, dim) if keepdim else out


# --------------------------------------------------------------------------- loop references


def loop_median(row, ignore_nan=False):
    vals = sorted(v for v in row if not (ignore_nan and math.isnan(v)))
    if not vals or (not ignore_nan and any(math.isnan(v) for v in row)):
        return math.nan
    return vals[(len(vals) - 1) // 2]


def loop_kthvalue(row, k):
    return sorted(row, key=lambda v: (math.isnan(v), v))[k - 1]


def loop_mode(row):
    """The most frequent value (the smallest of equally frequent ones) and its last index."""
    counts = {}
    for v in row:
        counts[v] = counts.get(v, 0) + 1
    best = min(v for v, c in counts.items() if c == max(counts.values()))
    return best, max(i for i, v in enumerate(row) if v == best)


def loop_quantile(row, q, interpolation, ignore_nan=False):
    vals = sorted(v for v in row if not math.isnan(v))
    if not vals or (not ignore_nan and len(vals) < len(row)):
        return math.nan
    r = q * (len(vals) - 1)
    lo, hi = vals[math.floor(r)], vals[math.ceil(r)]
    return {
        "lower": lo,
        "higher": hi,
        "nearest": vals[round(r)],  # Python's round: half to even, as torch.round
        "midpoint": (lo + hi) / 2,
        "linear": lo + (r - math.floor(r)) * (hi - lo),
    }[interpolation]


def loop_cumprod(row):
    out, p = [], 1.0
    for v in row:
        p *= v
        out.append(p)
    return out


def loop_cummax(row, is_max=True):
    """torch's rule: an element >= the running max (<= for min) takes over, and once a NaN is
    met only a later NaN does."""
    values, indices, best, at = [], [], row[0], 0
    for i, v in enumerate(row):
        if math.isnan(v) or (not math.isnan(best) and (v >= best if is_max else v <= best)):
            best, at = v, i
        values.append(best)
        indices.append(at)
    return values, indices


def loop_searchsorted(seq, v, right=False):
    """Insertion point in a sorted sequence = how many elements are < v (<= v for right)."""
    return sum(1 for s in seq if (s <= v if right else s < v))


def loop_histc(x, bins, lo, hi):
    """Counts per bin [lo + i w, lo + (i+1) w) (the last one closed), w = (hi - lo) / bins, in
    exact rational arithmetic."""
    counts = [0.0] * bins
    lo, hi = Fraction(lo), Fraction(hi)
    for v in x.reshape(-1):
        if math.isnan(v) or not lo <= Fraction(v) <= hi:
            continue
        counts[min(math.floor((Fraction(v) - lo) * bins / (hi - lo)), bins - 1)] += 1
    return counts


# --------------------------------------------------------------------------- order statistics


def assert_indices_pick_values(x, dim, keepdim, values, indices):
    """Each index names an element of its slice equal to the value (NaN for NaN), int64."""
    assert indices.dtype == mt.int64
    idx = indices.numpy() if keepdim else np.expand_dims(indices.numpy(), dim)
    picked = np.take_along_axis(x, idx, axis=dim)
    want = values.numpy() if keepdim else np.expand_dims(values.numpy(), dim)
    np.testing.assert_array_equal(picked, want)


@SETTINGS
@given(case=tie_case(nan=True), data=st.data())
def test_median_kthvalue_mode_match_loops_with_ties_and_nans(case, data):
    x, dim, keepdim = case
    t = mt.tensor(x)
    for op, ignore in (("median", False), ("nanmedian", True)):
        values, indices = getattr(t, op)(dim, keepdim=keepdim)
        want = per_slice(x, dim, keepdim, lambda row, ignore=ignore: loop_median(row, ignore))
        np.testing.assert_array_equal(values.numpy(), want)
        assert_indices_pick_values(x, dim, keepdim, values, indices)
        whole = getattr(t, op)()
        np.testing.assert_array_equal(whole.numpy(), loop_median(x.reshape(-1), ignore))
    # median: a slice with NaN names its first NaN (torch's rule)
    first_nan = per_slice(x, dim, keepdim, lambda r: np.argmax(np.isnan(r)), np.int64)
    has_nan = per_slice(x, dim, keepdim, lambda r: np.isnan(r).any(), bool)
    got = t.median(dim, keepdim).indices.numpy()
    np.testing.assert_array_equal(got[has_nan], first_nan[has_nan])
    k = data.draw(st.integers(1, x.shape[dim]))
    values, indices = t.kthvalue(k, dim, keepdim)
    want = per_slice(x, dim, keepdim, lambda r: loop_kthvalue(r, k))
    np.testing.assert_array_equal(values.numpy(), want)
    assert_indices_pick_values(x, dim, keepdim, values, indices)
    x = np.nan_to_num(x, nan=3.0)  # mode: NaN never equals itself, so leave it out
    values, indices = mt.tensor(x).mode(dim, keepdim)
    want_v = per_slice(x, dim, keepdim, lambda r: loop_mode(r)[0])
    want_i = per_slice(x, dim, keepdim, lambda r: loop_mode(r)[1], np.int64)
    np.testing.assert_array_equal(values.numpy(), want_v)
    np.testing.assert_array_equal(indices.numpy(), want_i)


ORDER_OPS = {
    "median": lambda L, a, d, k: L.mt.median(a, d, k).values,
    "median_all": lambda L, a, d, k: L.mt.median(a),
    "nanmedian": lambda L, a, d, k: a.nanmedian(d, keepdim=k).values,
    "kthvalue": lambda L, a, d, k: a.kthvalue(a.shape[d] // 2 + 1, d, k).values,
    "kthvalue_last": lambda L, a, d, k: L.mt.kthvalue(a, a.shape[d], dim=d, keepdim=k).values,
    "mode": lambda L, a, d, k: a.mode(d, keepdim=k).values,
    "aminmax": lambda L, a, d, k: (
        L.mt.aminmax(a, dim=d, keepdim=k).max * 2 + L.mt.aminmax(a, dim=d, keepdim=k).min
    ),
    "aminmax_all": lambda L, a, d, k: L.mt.stack(list(L.mt.aminmax(a, keepdim=k))),
}


@pytest.mark.parametrize("name", ORDER_OPS)
@SETTINGS
@given(case=dim_case())
def test_order_statistics_gradcheck(name, case):
    x, dim, keepdim = case
    check_grad(lambda L, a: ORDER_OPS[name](L, a, dim, keepdim), [x])


@pytest.mark.parity
@pytest.mark.parametrize("name", ORDER_OPS)
@SETTINGS
@given(case=dim_case())
def test_order_statistics_match_torch(name, case):
    """Distinct values: the same values, indices and gradients as torch."""
    torch = pytest.importorskip("torch")
    x, dim, keepdim = case
    check_parity(torch, lambda L, a: ORDER_OPS[name](L, a, dim, keepdim), [x])
    for op, args in (
        ("median", (dim,)),
        ("nanmedian", (dim,)),
        ("mode", (dim,)),
        ("kthvalue", (x.shape[dim] // 2 + 1, dim)),
    ):
        ours = getattr(mt.tensor(x), op)(*args, keepdim=keepdim)
        theirs = getattr(torch.tensor(x), op)(*args, keepdim=keepdim)
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
        assert ours.indices.dtype == mt.int64


@pytest.mark.parity
@SETTINGS
@given(case=tie_case(nan=True))
def test_ties_and_nans_follow_torch(case):
    """mode with ties (smallest most-frequent value, its last index, the gradient there); median
    and nanmedian of everything with ties or NaNs (the gradient shared by the equal elements);
    median along a dim with NaN (the first NaN)."""
    torch = pytest.importorskip("torch")
    x, dim, keepdim = case
    check_parity(torch, lambda L, a: L.mt.median(a), [x])
    check_parity(torch, lambda L, a: L.mt.nanmedian(a), [x])
    no_nan = np.nan_to_num(x, nan=3.0)
    check_parity(torch, lambda L, a: L.mt.aminmax(a, dim=dim, keepdim=keepdim).min, [no_nan])
    check_parity(torch, lambda L, a: a.mode(dim, keepdim).values, [no_nan])
    ours, theirs = mt.tensor(no_nan).mode(dim, keepdim), torch.tensor(no_nan).mode(dim, keepdim)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    if np.isnan(x).any():
        ours, theirs = mt.tensor(x).median(dim), torch.tensor(x).median(dim)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        nan_rows = np.isnan(theirs.values.numpy())
        np.testing.assert_array_equal(
            ours.indices.numpy()[nan_rows], theirs.indices.numpy()[nan_rows]
        )


def test_median_without_dim_shares_the_gradient_of_ties():
    x = mt.tensor([1.0, 3.0, 1.0, 0.0, 1.0, 7.0], dtype=mt.float64, requires_grad=True)
    m = x.median()
    m.backward()
    assert m.item() == 1.0
    np.testing.assert_allclose(x.grad.numpy(), [1 / 3, 0, 1 / 3, 0, 1 / 3, 0])


def test_scalar_inputs_give_the_value_and_index_0():
    x = mt.tensor(2.5)
    assert x.median(0).values is not x  # a new tensor, as torch (not an alias of the input)
    for values, indices in (
        x.median(0),
        x.nanmedian(-1),
        x.kthvalue(1),
        x.mode(),
        x.cummax(0),
        x.cummin(-1),
    ):
        assert values.item() == 2.5 and indices.item() == 0 and indices.dtype == mt.int64


# --------------------------------------------------------------------------- quantile


@st.composite
def quantile_case(draw, unique=True, nan=False):
    shape = draw(shapes(min_dims=0, max_dims=3, max_side=4))
    dim = draw(st.none() | st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    x = draw(few_values(shape, nan) if nan else arrays(shape, -5.0, 5.0, unique=unique))
    qs = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]) | st.floats(0, 1)
    q = draw(qs if draw(st.booleans()) else st.lists(qs, min_size=1, max_size=3))
    return x, q, dim, draw(st.booleans()), draw(st.sampled_from(INTERPOLATIONS))


def q_arg(L, q):
    return q if isinstance(q, float) else L.mt.tensor(np.array(q, dtype=np.float64))


def quantile_fn(op, q, dim, keepdim, interpolation):
    return lambda L, a: getattr(L.mt, op)(
        a, q_arg(L, q), dim=dim, keepdim=keepdim, interpolation=interpolation
    )


@SETTINGS
@given(case=quantile_case(nan=True))
def test_quantile_matches_loop(case):
    x, q, dim, keepdim, interpolation = case
    qs = [q] if isinstance(q, float) else q
    axis = None if dim is None or x.ndim == 0 else dim % x.ndim
    for op, ignore in (("quantile", False), ("nanquantile", True)):
        y = quantile_fn(op, q, dim, keepdim, interpolation)(OURS, mt.tensor(x)).numpy()
        if axis is None:
            want = np.array([loop_quantile(x.reshape(-1), v, interpolation, ignore) for v in qs])
            want = want.reshape((len(qs),) + ((1,) * x.ndim if keepdim else ()))
        else:
            rest = np.moveaxis(x, axis, -1).shape[:-1]
            want = np.array(
                [
                    [loop_quantile(row, v, interpolation, ignore) for _, row in slices(x, axis)]
                    for v in qs
                ]
            )
            want = want.reshape((len(qs),) + rest)
            want = np.expand_dims(want, axis + 1) if keepdim else want
        want = want[0] if isinstance(q, float) else want
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=quantile_case())
def test_quantile_gradcheck(case):
    x, q, dim, keepdim, interpolation = case
    check_grad(quantile_fn("quantile", q, dim, keepdim, interpolation), [x])
    check_grad(quantile_fn("nanquantile", q, dim, keepdim, interpolation), [x])


@pytest.mark.parity
@SETTINGS
@given(case=quantile_case())
def test_quantile_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, q, dim, keepdim, interpolation = case
    check_parity(torch, quantile_fn("quantile", q, dim, keepdim, interpolation), [x])
    check_parity(torch, quantile_fn("nanquantile", q, dim, keepdim, interpolation), [x])


@pytest.mark.parity
@SETTINGS
@given(case=quantile_case(nan=True))
def test_quantile_with_nans_matches_torch(case):
    """quantile gives NaN for a slice with NaN; nanquantile skips them (NaN if all are)."""
    torch = pytest.importorskip("torch")
    x, q, dim, keepdim, interpolation = case
    for op in ("quantile", "nanquantile"):
        fn = quantile_fn(op, q, dim, keepdim, interpolation)
        np.testing.assert_allclose(
            fn(OURS, mt.tensor(x)).numpy(), fn(Lib(torch, None), torch.tensor(x)).numpy()
        )


def test_quantile_interpolations_on_a_known_row():
    """torch's values for ranks 1.5, 0.5, 0.3, 2.7 of [0, 1, 2, 3]; 'nearest' rounds half to
    even (rank 0.5 -> 0, rank 1.5 -> 2)."""
    y = mt.tensor([3.0, 0.0, 2.0, 1.0], dtype=mt.float64)
    q = mt.tensor([0.5, 1 / 6, 0.1, 0.9], dtype=mt.float64)
    want = {
        "linear": [1.5, 0.5, 0.3, 2.7],
        "lower": [1.0, 0.0, 0.0, 2.0],
        "higher": [2.0, 1.0, 1.0, 3.0],
        "midpoint": [1.5, 0.5, 0.5, 2.5],
        "nearest": [2.0, 0.0, 0.0, 3.0],
    }
    for interpolation, values in want.items():
        got = y.quantile(q, interpolation=interpolation).numpy()
        np.testing.assert_allclose(got, values, rtol=1e-15, atol=1e-15, err_msg=interpolation)


@pytest.mark.parametrize("interpolation", INTERPOLATIONS)
def test_quantile_of_float32_stays_float32(interpolation):
    """The fraction w = rank - floor(rank) is taken in the input's dtype (float32 minus an int64
    index used to widen the result, and its gradient's arithmetic, to float64)."""
    x = np.array([[3.0, 0.0, 2.0, 1.0, 7.5], [1.0, 4.0, -2.0, 0.5, 0.25]], dtype=np.float32)
    t = mt.tensor(x, requires_grad=True)
    for op in ("quantile", "nanquantile"):
        for q in (0.3, mt.tensor([0.1, 0.7])):
            y = getattr(t, op)(q, dim=1, interpolation=interpolation)
            assert y.dtype == mt.float32, (op, q)
            y.sum().backward()
            assert t.grad.dtype == mt.float32
            t.grad = None
    # the float32 value: the lerp between the two neighbours in float32 arithmetic
    got = mt.tensor(x[1]).quantile(0.3, interpolation=interpolation).numpy()
    rank = np.float32(0.3) * np.float32(4)
    lo, hi = np.sort(x[1])[[int(np.floor(rank)), int(np.ceil(rank))]]
    w = {"linear": rank - np.floor(rank), "midpoint": np.float32(0.5)}.get(interpolation)
    want = {"lower": lo, "higher": hi, "nearest": lo}.get(interpolation)
    want = lo + w * (hi - lo) if want is None else want
    assert got == np.float32(want)


@pytest.mark.parity
@SETTINGS
@given(case=quantile_case())
def test_quantile_of_float32_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, q, dim, keepdim, interpolation = case
    x = x.astype(np.float32)
    q32 = q if isinstance(q, float) else np.array(q, dtype=np.float32)
    for op in ("quantile", "nanquantile"):
        kw = dict(dim=dim, keepdim=keepdim, interpolation=interpolation)
        ours = getattr(mt, op)(mt.tensor(x), q32 if isinstance(q, float) else mt.tensor(q32), **kw)
        theirs = getattr(torch, op)(
            torch.tensor(x), q32 if isinstance(q, float) else torch.tensor(q32), **kw
        )
        assert ours.dtype == mt.float32
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- NaN-aware and others


@st.composite
def nan_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3))
    x = draw(arrays(shape, -3.0, 3.0))
    holes = draw(hnp.arrays(np.bool_, shape))
    as_tuple = st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple)
    dim = draw(st.none() | st.integers(-len(shape), len(shape) - 1) | as_tuple)
    return np.where(holes, np.nan, x), dim, draw(st.booleans())


@SETTINGS
@given(case=dim_case(), correction=st.sampled_from([0, 1, 2]))
def test_nan_ops_var_mean_std_mean_gradcheck(case, correction):
    x, dim, keepdim = case
    assume(x.shape[dim] > max(correction, 1))  # std's gradient at 0 is undefined
    check_grad(lambda L, a: L.mt.nansum(a, dim, keepdim), [x])
    check_grad(lambda L, a: a.nanmean(dim, keepdim=keepdim), [x])
    check_grad(lambda L, a: L.mt.var_mean(a, dim, keepdim=keepdim, correction=correction), [x])
    check_grad(lambda L, a: L.mt.std_mean(a, dim, keepdim=keepdim, correction=correction), [x])


@pytest.mark.parity
@SETTINGS
@given(case=nan_case())
def test_nansum_nanmean_count_nonzero_match_torch_with_nans(case):
    """Values and gradients: 0 at the NaNs (NaN for a slice of NaNs only in nanmean, as torch)."""
    torch = pytest.importorskip("torch")
    x, dim, keepdim = case
    check_parity(torch, lambda L, a: a.nansum(dim, keepdim=keepdim), [x])
    check_parity(torch, lambda L, a: L.mt.nanmean(a, dim, keepdim), [x])
    ours = mt.tensor(x).count_nonzero(dim)
    theirs = torch.count_nonzero(torch.tensor(x), dim)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert ours.dtype == mt.int64
    axes = tuple(range(x.ndim)) if dim is None else dim
    np.testing.assert_array_equal(ours.numpy(), (x != 0).sum(axis=axes))


@pytest.mark.parity
@SETTINGS
@given(case=dim_case(), unbiased=st.booleans(), as_bool=st.booleans())
def test_var_mean_std_mean_match_torch(case, unbiased, as_bool):
    torch = pytest.importorskip("torch")
    x, dim, keepdim = case
    assume(x.shape[dim] > 1)

    def pair(op):
        if as_bool:  # torch's var_mean(input, unbiased) form
            return lambda L, a: L.mt.stack(list(getattr(L.mt, op)(a, unbiased)))
        return lambda L, a: L.mt.stack(list(getattr(L.mt, op)(a, dim, unbiased, keepdim)))

    check_parity(torch, pair("var_mean"), [x])
    check_parity(torch, pair("std_mean"), [x])


def test_nansum_of_integers_and_dtype():
    x = mt.tensor([[1, 2], [3, 4]])
    assert x.nansum().item() == 10 and x.nansum().dtype == mt.int64
    y = mt.tensor([1.0, float("nan")]).nansum(dtype=mt.float64)
    assert y.item() == 1.0 and y.dtype == mt.float64


# --------------------------------------------------------------------------- scans


@st.composite
def zero_case(draw):
    """x with some exact zeros (one, two, or none per slice)."""
    x, dim, _ = draw(dim_case(unique=False))
    zeros = draw(hnp.arrays(np.bool_, x.shape))
    return np.where(zeros, 0.0, x), dim


@SETTINGS
@given(case=zero_case())
def test_cumprod_matches_loop_and_gradcheck_with_zeros(case):
    x, dim = case
    want = np.empty_like(x)
    for pos, row in slices(x, dim):
        np.moveaxis(want, dim, -1)[pos] = loop_cumprod(row)
    np.testing.assert_allclose(mt.tensor(x).cumprod(dim).numpy(), want, rtol=1e-12)
    # a polynomial in x: central differences are exact at the zeros too
    check_grad(lambda L, a: L.mt.cumprod(a, dim), [x])


@pytest.mark.parity
@SETTINGS
@given(case=zero_case())
def test_cumprod_matches_torch_with_zeros(case):
    torch = pytest.importorskip("torch")
    x, dim = case
    check_parity(torch, lambda L, a: a.cumprod(dim), [x], rtol=1e-10, atol=1e-12)


def test_cumprod_gradient_is_exact_at_zeros():
    """Zeros at 1 and 3: dy/dx_j has no division by x (which would give inf / nan)."""
    x = mt.tensor([2.0, 0.0, 3.0, 0.0, 4.0], dtype=mt.float64, requires_grad=True)
    x.cumprod(0).backward(mt.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=mt.float64))
    # dx_0 = 1 + 2*0 + ... = 1; dx_1 = 2*2 + 3*2*3 = 22; dx_2.. = 0 (each product keeps a zero)
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 22.0, 0.0, 0.0, 0.0])


@SETTINGS
@given(case=tie_case(nan=True))
def test_cummax_cummin_match_loops_with_ties_and_nans(case):
    x, dim, _ = case
    for op, is_max in (("cummax", True), ("cummin", False)):
        values, indices = getattr(mt.tensor(x), op)(dim)
        want_v, want_i = np.empty_like(x), np.empty(x.shape, dtype=np.int64)
        for pos, row in slices(x, dim):
            np.moveaxis(want_v, dim, -1)[pos], np.moveaxis(want_i, dim, -1)[pos] = loop_cummax(
                row, is_max
            )
        np.testing.assert_array_equal(values.numpy(), want_v)
        np.testing.assert_array_equal(indices.numpy(), want_i)
        assert indices.dtype == mt.int64


@pytest.mark.parity
@SETTINGS
@given(case=tie_case(nan=True), distinct=dim_case())
def test_cummax_cummin_match_torch(case, distinct):
    """Ties and NaNs: the same values, indices and gradients (to the index) as torch."""
    torch = pytest.importorskip("torch")
    for x, dim, _ in (case, distinct):
        for op in ("cummax", "cummin"):
            check_parity(torch, lambda L, a, op=op, dim=dim: getattr(a, op)(dim).values, [x])
            ours, theirs = getattr(mt.tensor(x), op)(dim), getattr(torch.tensor(x), op)(dim)
            np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())


SCANS = {
    "cummax": lambda L, a, d: a.cummax(d).values,
    "cummin": lambda L, a, d: L.mt.cummin(a, d).values,
    "logcumsumexp": lambda L, a, d: L.mt.logcumsumexp(a, d),
    "diff": lambda L, a, d: L.mt.diff(a, dim=d),
    "diff2": lambda L, a, d: a.diff(2, d),
}


@pytest.mark.parametrize("name", SCANS)
@SETTINGS
@given(case=dim_case())
def test_scans_gradcheck(name, case):
    x, dim, _ = case
    check_grad(lambda L, a: SCANS[name](L, a, dim), [x])


@pytest.mark.parity
@pytest.mark.parametrize("name", SCANS)
@SETTINGS
@given(case=dim_case())
def test_scans_match_torch(name, case):
    torch = pytest.importorskip("torch")
    x, dim, _ = case
    check_parity(torch, lambda L, a: SCANS[name](L, a, dim), [x])


@SETTINGS
@given(case=dim_case(), n=st.integers(0, 4), data=st.data())
def test_diff_with_prepend_and_append(case, n, data):
    """Gradients reach input, prepend and append; torch agrees on values and all three."""
    x, dim, _ = case
    d = dim % x.ndim
    pre, app = (data.draw(arrays(x.shape[:d] + (m,) + x.shape[d + 1 :])) for m in (1, 2))
    fn = lambda L, a, p, q: L.mt.diff(a, n, dim, prepend=p, append=q)  # noqa: E731
    check_grad(fn, [x, pre, app])
    torch = pytest.importorskip("torch")
    check_parity(torch, fn, [x, pre, app])


def test_logcumsumexp_is_stable_for_large_values():
    x = np.array([[1e4, 1e4 + 1.0, -1e4, 1e4], [-1e4, -1e4, -1e4, 0.0]])
    t = mt.tensor(x, requires_grad=True)
    y = t.logcumsumexp(1)
    want = np.array([np.logaddexp.accumulate(row) for row in x])
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-14)
    y.sum().backward()
    # dy_i/dx_j = exp(x_j - y_i): finite, and each row of the Jacobian sums to 1
    g = t.grad.numpy()
    assert np.isfinite(g).all()
    np.testing.assert_allclose(g.sum(axis=1), [4.0, 4.0], rtol=1e-12)


@SETTINGS
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 4)), data=st.data())
def test_trace_gradcheck_and_torch(shape, data):
    x = data.draw(arrays(shape))
    assert mt.tensor(x).trace().item() == pytest.approx(sum(x[i, i] for i in range(min(shape))))
    check_grad(lambda L, a: L.mt.trace(a), [x])
    torch = pytest.importorskip("torch")
    check_parity(torch, lambda L, a: a.trace(), [x])


def test_integer_scans_and_trace_keep_torch_dtypes():
    x = mt.tensor(np.array([[2, 0, 3], [1, 4, -1]], dtype=np.int32))
    assert x.cumprod(1).dtype == mt.int64
    assert x.cumprod(1).numpy().tolist() == [[2, 0, 0], [1, 4, -4]]
    assert mt.cumprod(mt.tensor([True, False]), 0).numpy().tolist() == [1, 0]
    assert x.cummax(1).values.dtype == mt.int32 and x.trace().dtype == mt.int64
    assert x.trace().item() == 6
    assert mt.diff(mt.tensor([True, False, False])).numpy().tolist() == [True, False]
    # NumPy would sum uint8 to uint64 and widen int64 + float32 to float64; torch does neither
    u8 = mt.tensor(np.array([[200, 1], [2, 100]], dtype=np.uint8))
    assert u8.trace().dtype == mt.int64 and u8.trace().item() == 300
    joined = mt.diff(mt.tensor([1, 4]), prepend=mt.tensor([0.5], dtype=mt.float32))
    assert joined.dtype == mt.float32 and joined.numpy().tolist() == [0.5, 3.0]
    assert mt.diff(mt.tensor([1, 4]), append=mt.tensor([True])).dtype == mt.int64


@SETTINGS
@given(
    x=hnp.arrays(
        np.float64,
        shapes(min_dims=1, max_dims=3, max_side=9),
        elements=st.sampled_from([-2.0, -0.5, 0.0, 1.0, 3.0, math.inf, -math.inf, math.nan]),
    ),
    op=st.sampled_from(["maximum", "minimum", "logaddexp"]),
    data=st.data(),
)
def test_doubling_scan_matches_numpy_accumulate(x, op, data):
    """CuPy's scan (log-step doubling, run here on NumPy) gives NumPy's accumulate, NaN and inf
    included: the cummax / cummin / logcumsumexp / mode code on the GPU."""
    from minitorch_cv.functional.reduce import _doubling_scan

    axis = data.draw(st.integers(0, x.ndim - 1))
    with np.errstate(invalid="ignore"):
        want = getattr(np, op).accumulate(x, axis=axis)
        got = _doubling_scan(getattr(np, op), x, axis)
    np.testing.assert_allclose(got, want, rtol=1e-15)


# --------------------------------------------------------------------------- searches, histograms


@st.composite
def search_case(draw):
    """A sorted sequence (1-D, or N-D sorted along its last dim) with repeats, and values some
    of which equal its elements."""
    nd = draw(st.integers(1, 3))
    lead = tuple(draw(st.lists(st.integers(1, 3), min_size=nd - 1, max_size=nd - 1)))
    n = draw(st.integers(0, 6))
    ints = st.integers(-5, 5).map(float)
    seq = np.sort(draw(hnp.arrays(np.float64, lead + (n,), elements=ints)), axis=-1)
    vshape = lead + (draw(st.integers(0, 4)),) if nd > 1 else draw(shapes(0, 2))
    values = draw(hnp.arrays(np.float64, vshape, elements=ints))
    return seq, values


@SETTINGS
@given(case=search_case(), right=st.booleans(), out_int32=st.booleans())
def test_searchsorted_matches_loop(case, right, out_int32):
    seq, values = case
    got = mt.searchsorted(mt.tensor(seq), mt.tensor(values), right=right, out_int32=out_int32)
    assert got.dtype == (mt.int32 if out_int32 else mt.int64) and got.shape == values.shape
    for pos in np.ndindex(values.shape):
        row = seq if seq.ndim == 1 else seq[pos[:-1]]
        assert got.numpy()[pos] == loop_searchsorted(row, values[pos], right), pos
    # the same with side=, and via a sorter over a shuffled copy
    side = mt.searchsorted(mt.tensor(seq), mt.tensor(values), side="right" if right else "left")
    np.testing.assert_array_equal(side.numpy(), got.numpy())
    perm = np.random.default_rng(seq.size).permutation(seq.shape[-1])
    shuffled, sorter = seq[..., perm], np.broadcast_to(np.argsort(perm), seq.shape).copy()
    via = mt.searchsorted(
        mt.tensor(shuffled), mt.tensor(values), right=right, sorter=mt.tensor(sorter)
    )
    np.testing.assert_array_equal(via.numpy(), got.numpy())


@pytest.mark.parity
@SETTINGS
@given(case=search_case(), right=st.booleans())
def test_searchsorted_and_bucketize_match_torch(case, right):
    torch = pytest.importorskip("torch")
    seq, values = case
    ours = mt.searchsorted(mt.tensor(seq), mt.tensor(values), right=right)
    theirs = torch.searchsorted(torch.tensor(seq), torch.tensor(values), right=right)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    if seq.ndim == 1:
        ours = mt.bucketize(mt.tensor(values), mt.tensor(seq), right=right)
        theirs = torch.bucketize(torch.tensor(values), torch.tensor(seq), right=right)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parity
def test_searchsorted_nans_and_scalars_follow_torch():
    torch = pytest.importorskip("torch")
    seq = np.array([1.0, 3.0, 3.0, 5.0, np.nan])
    values = np.array([0.0, 1.0, 3.0, 4.0, 5.0, 6.0, np.nan])
    for right in (False, True):
        np.testing.assert_array_equal(
            mt.searchsorted(mt.tensor(seq), mt.tensor(values), right=right).numpy(),
            torch.searchsorted(torch.tensor(seq), torch.tensor(values), right=right).numpy(),
        )
    scalar = mt.searchsorted(mt.tensor(seq), 3.5, side="right")
    assert scalar.shape == () and scalar.item() == 5  # torch: the NaN at the end misleads it
    assert scalar.item() == torch.searchsorted(torch.tensor(seq), 3.5, side="right").item()
    assert mt.searchsorted(mt.tensor(seq[:4]), 3.5, side="right").item() == 3
    assert mt.bucketize(3, mt.tensor([1.0, 3.0, 5.0])).item() == 1
    assert mt.bucketize(3, mt.tensor([1.0, 3.0, 5.0]), right=True).item() == 2


@st.composite
def histc_case(draw):
    x = draw(arrays(draw(shapes(0, 2, max_side=6)), -3.0, 3.0))
    bins = draw(st.integers(1, 12))
    lo = draw(st.integers(-3, 2))
    hi = draw(st.integers(lo, 3))
    return x, bins, lo, hi


@SETTINGS
@given(case=histc_case())
def test_histc_matches_loop(case):
    x, bins, lo, hi = case
    got = mt.tensor(x).histc(bins, lo, hi)
    if lo == hi:  # the data's range (and +-1 around a single value)
        lo, hi = (x.min(), x.max()) if x.size else (0.0, 0.0)
        lo, hi = (lo - 1, hi + 1) if lo == hi else (lo, hi)
    width = Fraction(hi) - Fraction(lo)
    edges = [Fraction(lo) + width * i / bins for i in range(1, bins)]
    # at (or a rounding error from) an edge, float arithmetic decides the bin: left to torch's
    near = [abs(Fraction(v) - e) < Fraction(1, 10**9) for v in x.reshape(-1) for e in edges]
    assume(not any(near))
    assert got.dtype == mt.float64 and got.shape == (bins,)
    np.testing.assert_array_equal(got.numpy(), loop_histc(x, bins, lo, hi))


@pytest.mark.parity
@SETTINGS
@given(case=histc_case(), dtype=st.sampled_from([np.float32, np.float64]))
def test_histc_matches_torch(case, dtype):
    torch = pytest.importorskip("torch")
    x, bins, lo, hi = case
    x = x.astype(dtype)
    ours = mt.tensor(x).histc(bins=bins, min=lo, max=hi)
    theirs = torch.histc(torch.tensor(x), bins=bins, min=lo, max=hi)
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_histc_edge_rules():
    x = mt.tensor([1.0, 2.0, 1.0, 3.0, 3.0001, -0.1, float("nan")])
    # max itself goes in the last bin; outside values and NaN are dropped
    assert x.histc(bins=4, min=0, max=3).numpy().tolist() == [0.0, 2.0, 1.0, 1.0]
    assert mt.histc(mt.tensor([2.0, 2.0]), bins=4).numpy().tolist() == [0.0, 0.0, 2.0, 0.0]
    assert mt.histc(mt.tensor([2.0, 2.0]), bins=4, min=5, max=5).numpy().tolist() == [0, 0, 2, 0]
    assert mt.histc(mt.zeros(0), bins=3).numpy().tolist() == [0.0, 0.0, 0.0]
    assert not mt.histc(mt.tensor([1.0, 2.0], requires_grad=True), bins=2).requires_grad


# --------------------------------------------------------------------------- errors


def test_errors_name_the_op_and_the_values():
    x = mt.tensor([[3.0, 1.0, 2.0]])
    with pytest.raises(ValueError, match=r"kthvalue: k=4 is out of range for dim -1 of size 3"):
        x.kthvalue(4)
    with pytest.raises(ValueError, match="kthvalue: k=0"):
        x.kthvalue(0)
    with pytest.raises(TypeError, match="kthvalue: k must be an int, got 1.0"):
        x.kthvalue(1.0)
    for op in ("cumprod", "cummax", "cummin", "logcumsumexp"):
        with pytest.raises(TypeError, match=rf"{op}: dim must be an int, got None"):
            getattr(x, op)(None)
    with pytest.raises(TypeError, match="diff: dim must be an int"):
        x.diff(dim=None)
    for op in ("median", "nanmedian", "mode"):
        with pytest.raises(ValueError, match=rf"{op}: cannot reduce dim 1 of size 0"):
            getattr(mt.zeros(2, 0), op)(1)
        with pytest.raises(IndexError, match=rf"{op}: dim 2 out of range"):
            getattr(x, op)(2)
        with pytest.raises(TypeError, match=rf"{op}: dim must be an int"):
            getattr(x, op)((0, 1))
    assert np.isnan(mt.zeros(0).median().item())  # torch's answer, not an error
    assert mt.zeros(0, 3).median(1).values.shape == (0,)
    with pytest.raises(ValueError, match="quantile: q values must be in the range"):
        x.quantile(1.5)
    with pytest.raises(ValueError, match="nanquantile: q values must be in the range"):
        x.nanquantile(mt.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match=r"quantile: q must be a scalar or 1-D tensor"):
        x.quantile(mt.tensor([[0.5]]))
    with pytest.raises(TypeError, match="quantile: q has dtype float64, the input float32"):
        x.quantile(mt.tensor([0.5], dtype=mt.float64))
    with pytest.raises(TypeError, match="quantile: q must be a float or a tensor"):
        x.quantile([0.5])
    with pytest.raises(ValueError, match="quantile: input tensor must be non-empty"):
        mt.zeros(3, 0).quantile(0.5, dim=0)
    with pytest.raises(TypeError, match="quantile: expected a floating point input"):
        mt.tensor([1, 2]).quantile(0.5)
    with pytest.raises(ValueError, match="quantile: interpolation must be one of"):
        x.quantile(0.5, interpolation="cubic")
    with pytest.raises(TypeError, match="nanmean: expected a floating point input"):
        mt.tensor([1, 2]).nanmean()
    with pytest.raises(TypeError, match="var_mean: expected a floating point input"):
        mt.var_mean(mt.tensor([1, 2]))
    with pytest.raises(ValueError, match="count_nonzero: dim .* more than once"):
        x.count_nonzero((0, -2))
    with pytest.raises(ValueError, match=r"aminmax: cannot reduce an empty dimension"):
        mt.zeros(0).aminmax()
    with pytest.raises(TypeError, match="aminmax: dim must be an int or None"):
        x.aminmax(dim=(0, 1))
    assert mt.zeros(0, 3).aminmax(dim=1).max.shape == (0,)
    with pytest.raises(IndexError, match="cumprod: dim 2 out of range"):
        x.cumprod(2)
    with pytest.raises(TypeError, match="logcumsumexp: expected a floating point input"):
        mt.tensor([1, 2]).logcumsumexp(0)
    with pytest.raises(ValueError, match="diff: expects input to be at least one-dimensional"):
        mt.tensor(1.0).diff()
    with pytest.raises(ValueError, match="diff: order n must be a non-negative int"):
        x.diff(-1)
    with pytest.raises(ValueError, match=r"diff: prepend/append of shape \(2, 3\) must match"):
        x.diff(dim=1, prepend=mt.zeros(2, 3))
    with pytest.raises(ValueError, match=r"trace: expected a 2-D tensor, got shape \(3,\)"):
        mt.ones(3).trace()


def test_search_and_histogram_errors():
    seq = mt.tensor([1.0, 3.0, 5.0])
    with pytest.raises(ValueError, match="searchsorted: side='left' and right=True contradict"):
        mt.searchsorted(seq, 3.0, side="left", right=True)
    with pytest.raises(ValueError, match="searchsorted: side must be 'left' or 'right'"):
        mt.searchsorted(seq, 3.0, side="middle")
    with pytest.raises(ValueError, match="searchsorted: sorted_sequence must have at least one"):
        mt.searchsorted(mt.tensor(1.0), mt.tensor([2.0]))
    with pytest.raises(ValueError, match=r"searchsorted: sorted_sequence \(2, 3\) must be 1-D"):
        mt.searchsorted(mt.ones(2, 3), mt.ones(1, 1))
    with pytest.raises(ValueError, match="searchsorted: a scalar value needs a 1-D"):
        mt.searchsorted(mt.ones(2, 3), 1.0)
    with pytest.raises(TypeError, match="searchsorted: sorter must be an int64 tensor"):
        mt.searchsorted(seq, 2.0, sorter=mt.tensor(np.array([0, 1, 2], dtype=np.int32)))
    with pytest.raises(IndexError, match="searchsorted: sorter index out of range"):
        mt.searchsorted(seq, 2.0, sorter=mt.tensor([0, 1, 3]))
    with pytest.raises(TypeError, match="searchsorted: sorted_sequence must be a tensor, got list"):
        mt.searchsorted([1.0, 3.0], mt.tensor([2.0]))
    with pytest.raises(TypeError, match="bucketize: boundaries must be a tensor, got list"):
        mt.bucketize(mt.tensor([2.0]), [1.0, 3.0])
    with pytest.raises(ValueError, match=r"bucketize: boundaries must be 1-D, got shape \(1, 3\)"):
        mt.bucketize(mt.tensor([2.0]), seq.reshape(1, 3))
    with pytest.raises(ValueError, match="histc: bins must be a positive int"):
        seq.histc(bins=0)
    with pytest.raises(ValueError, match="histc: max must be larger than min"):
        seq.histc(bins=3, min=3, max=1)
    with pytest.raises(ValueError, match=r"histc: range of \[1.0, inf\] is not finite"):
        mt.tensor([1.0, float("inf")]).histc()
    with pytest.raises(TypeError, match="histc: expected a floating point input"):
        mt.tensor([1, 2]).histc()


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_ops_agree_on_gpu():
    """Each op on CuPy gives the CPU's values, indices and gradients."""
    rng = np.random.default_rng(0)
    x = rng.permutation(60).reshape(3, 4, 5) / 7.0 - 4.0
    x[0, 1, 2] = 0.0
    cases = {
        "median": lambda a: a.median(1).values,
        "nanmedian_all": lambda a: a.nanmedian(),
        "kthvalue": lambda a: a.kthvalue(2, 0).values,
        "mode": lambda a: a.mode(-1).values,
        "quantile": lambda a: a.quantile(
            mt.tensor([0.2, 0.5], dtype=mt.float64, device=a.device), dim=2, interpolation="linear"
        ),
        "nanquantile": lambda a: a.nanquantile(0.3, interpolation="nearest"),
        "nansum": lambda a: a.nansum((0, 2)),
        "nanmean": lambda a: a.nanmean(1, keepdim=True),
        "aminmax": lambda a: a.aminmax(dim=1).max,
        "var_mean": lambda a: mt.var_mean(a, 2)[0] + mt.var_mean(a, 2)[1],
        "cumprod": lambda a: a.cumprod(2),
        "cummax": lambda a: a.cummax(1).values,
        "logcumsumexp": lambda a: a.logcumsumexp(0),
        "diff": lambda a: a.diff(2, 1),
    }
    for name, fn in cases.items():
        outs, grads = [], []
        for device in ("cpu", "cuda"):
            t = mt.tensor(x, dtype=mt.float64, device=device, requires_grad=True)
            y = fn(t)
            y.sum().backward()
            outs.append(y.to("cpu").numpy())
            grads.append(t.grad.to("cpu").numpy())
        np.testing.assert_allclose(outs[1], outs[0], rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10, atol=1e-12, err_msg=name)
    seq, values = np.sort(x.reshape(12, 5), axis=1), np.round(x.reshape(12, 5)[::-1])
    for right in (False, True):
        found = [
            mt.searchsorted(mt.tensor(seq, device=d), mt.tensor(values, device=d), right=right)
            for d in ("cpu", "cuda")
        ]
        found = [f.to("cpu").numpy() for f in found]
        np.testing.assert_array_equal(found[1], found[0])
    hist = mt.tensor(x, device="cuda").histc(bins=6)
    np.testing.assert_array_equal(hist.to("cpu").numpy(), mt.tensor(x).histc(bins=6).numpy())
