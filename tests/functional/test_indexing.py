"""gather, index_select, masked_fill, flip, roll, narrow, unbind, sort, topk, argsort, cumsum,
tril, triu, log1p, expm1 and the zero-gradient rounding ops: loop references written from their
definitions, gradcheck in float64 over hypothesis-drawn shapes, and PyTorch's values and
gradients when torch is there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity, shapes


@st.composite
def gather_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=4))
    d = draw(st.integers(0, len(shape) - 1))
    ishape = tuple(draw(st.integers(1, 4)) if i == d else draw(st.integers(1, n))
                   for i, n in enumerate(shape))  # fmt: skip
    idx = draw(st.lists(st.integers(0, shape[d] - 1), min_size=int(np.prod(ishape)),
                        max_size=int(np.prod(ishape))))  # fmt: skip
    return draw(arrays(shape)), d, np.array(idx, dtype=np.int64).reshape(ishape)


def loop_gather(x, d, idx):
    out = np.empty(idx.shape)
    for pos in np.ndindex(idx.shape):
        src = list(pos)
        src[d] = idx[pos]
        out[pos] = x[tuple(src)]
    return out


@SETTINGS
@given(case=gather_case())
def test_gather_matches_loop_and_gradcheck_with_repeated_indices(case):
    x, d, idx = case
    np.testing.assert_array_equal(F.gather(mt.tensor(x), d, mt.tensor(idx)).numpy(),
                                  loop_gather(x, d, idx))  # fmt: skip
    check_grad(lambda L, a: L.F.gather(a, d, L.mt.tensor(idx)), [x])


@SETTINGS
@given(shape=shapes(min_dims=1, max_dims=3), data=st.data())
def test_reordering_ops_gradcheck(shape, data):
    x = data.draw(arrays(shape, unique=True))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[d]
    k = data.draw(st.integers(0, n))
    shift = data.draw(st.integers(-5, 5))
    start = data.draw(st.integers(0, n - 1))
    check_grad(lambda L, a: L.F.flip(a, d), [x])
    check_grad(lambda L, a: L.F.roll(a, shift, d), [x])
    check_grad(lambda L, a: L.F.cumsum(a, d), [x])
    check_grad(lambda L, a: L.F.narrow(a, d, start, n - start), [x])
    check_grad(lambda L, a: L.F.index_select(a, d, L.mt.tensor(np.array([n - 1, 0, n - 1]))), [x])
    check_grad(lambda L, a: L.F.sort(a, d, descending=True)[0], [x])
    check_grad(lambda L, a: L.F.topk(a, k, d)[0], [x])
    check_grad(lambda L, a: L.F.masked_fill(a, L.mt.tensor(x > 0), -1.0), [x])
    check_grad(lambda L, a: L.F.stack(L.F.unbind(a, d), d), [x])
    # the values against NumPy
    a = mt.tensor(x)
    np.testing.assert_array_equal(F.flip(a, d).numpy(), np.flip(x, d))
    np.testing.assert_array_equal(F.roll(a, shift, d).numpy(), np.roll(x, shift, d))
    np.testing.assert_allclose(F.cumsum(a, d).numpy(), np.cumsum(x, d))
    values, idx = F.topk(a, k, d)
    want = -np.sort(-x, axis=d)
    np.testing.assert_array_equal(values.numpy(), np.take(want, np.arange(k), axis=d))
    np.testing.assert_array_equal(np.take_along_axis(x, idx.numpy(), d), values.numpy())


@SETTINGS
@given(shape=shapes(min_dims=2, max_dims=3), diagonal=st.integers(-3, 3), data=st.data())
def test_triangles_and_log1p_expm1_gradcheck(shape, diagonal, data):
    x = data.draw(arrays(shape))
    np.testing.assert_array_equal(F.tril(mt.tensor(x), diagonal).numpy(), np.tril(x, diagonal))
    np.testing.assert_array_equal(F.triu(mt.tensor(x), diagonal).numpy(), np.triu(x, diagonal))
    check_grad(lambda L, a: L.F.tril(a, diagonal) + L.F.triu(a, diagonal) * 2, [x])
    check_grad(lambda L, a: L.F.log1p(a.abs()) + L.F.expm1(a), [x])


def test_rounding_ops_have_zero_gradient_and_isnan_marks_nans():
    x = mt.tensor([-1.5, -0.5, 0.5, 2.5, 3.7], requires_grad=True)
    (x.floor() + x.ceil() + x.round() + x.trunc() + x.sign()).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0)
    assert x.round().tolist() == [-2.0, -0.0, 0.0, 2.0, 4.0]  # halves to even, as torch
    y = mt.tensor([1.0, float("nan"), float("inf")])
    assert y.isnan().tolist() == [False, True, False] and y.isfinite().tolist() == [
        True,
        False,
        False,
    ]


def test_sort_is_stable_and_argsort_descending():
    x = mt.tensor([3, 1, 3, 2])
    assert mt.argsort(x).tolist() == [1, 3, 0, 2]
    assert mt.argsort(x, descending=True).tolist() == [0, 2, 3, 1]  # ties keep index order
    values, indices = mt.sort(mt.tensor([2.0, -1.0, 5.0]))
    assert values.tolist() == [-1.0, 2.0, 5.0] and indices.tolist() == [1, 0, 2]


def test_errors_name_the_op_and_shapes():
    x = mt.zeros(2, 3)
    with pytest.raises(ValueError, match=r"gather: index must be an integer tensor with 2 dims"):
        F.gather(x, 1, mt.tensor([0, 1]))
    with pytest.raises(IndexError, match="gather: index out of range for dim 1 of size 3"):
        F.gather(x, 1, mt.tensor([[3]]))
    with pytest.raises(ValueError, match="topk: k=4 is out of range for dim 1 of size 3"):
        F.topk(x, 4)
    with pytest.raises(IndexError, match=r"narrow: \[2, 4\) is outside dim 1 of size 3"):
        F.narrow(x, 1, 2, 2)
    with pytest.raises(ValueError, match="tril: expected at least 2 dims"):
        F.tril(mt.zeros(3))


@pytest.mark.parity
@SETTINGS
@given(case=gather_case())
def test_indexing_ops_match_torch(case):
    torch = pytest.importorskip("torch")
    x, d, idx = case
    check_parity(torch, lambda L, a: L.mt.gather(a, d, L.mt.tensor(idx)), [x])
    check_parity(torch, lambda L, a: L.mt.flip(a, (d,)), [x])
    check_parity(torch, lambda L, a: L.mt.cumsum(a, d), [x])
    check_parity(torch, lambda L, a: L.mt.roll(a, 2, d), [x])
    check_parity(torch, lambda L, a: L.mt.log1p(a.abs()) + L.mt.expm1(a), [x])
    k = min(2, x.shape[d])
    unique = x + np.arange(x.size).reshape(x.shape) * 1e-3  # no ties: the same order in both
    check_parity(torch, lambda L, a: L.mt.topk(a, k, d)[0], [unique])
    check_parity(torch, lambda L, a: L.mt.sort(a, d, descending=True)[0], [unique])


def test_edge_cases_follow_pytorch():
    values, _ = mt.sort(mt.tensor([1.0, float("nan"), 3.0, 3.0, 0.0]), descending=True)
    assert np.isnan(values.numpy()[0]) and values.numpy()[1:].tolist() == [3.0, 3.0, 1.0, 0.0]
    big = mt.tensor(np.array([0, 2**63 - 1, -(2**63), 5]))
    assert mt.argsort(big, descending=True).tolist() == [1, 3, 0, 2]  # no overflow
    mask = mt.ones(3, 3, dtype=mt.bool_).tril()
    assert mask.dtype == mt.bool_ and mask.numpy().sum() == 6
    assert mt.cumsum(mt.tensor([True, False, True, True]), 0).tolist() == [1, 1, 2, 3]
    assert mt.tensor([1, 2]).round().dtype == mt.int64
    with pytest.raises(IndexError, match="gather: index out of range"):
        F.gather(mt.zeros(2, 3), 1, mt.tensor([[-1]]))
    with pytest.raises(ValueError, match="name a dim twice"):
        F.flip(mt.zeros(2, 3), (0, 0))


def test_masked_fill_keeps_an_integer_dtype():
    x = mt.tensor([1, 2, 3])
    out = x.masked_fill(x > 1, 9)
    assert out.dtype == mt.int64 and out.tolist() == [1, 9, 9]


ZERO_D_OPS = {  # a 0-d tensor takes dim 0 / -1 as a one-entry 1-D one, as in PyTorch
    "gather": lambda L, a: L.mt.gather(a, 0, L.mt.tensor(np.array(0))),
    "gather 1-d index": lambda L, a: L.mt.gather(a, -1, L.mt.tensor(np.array([0, 0]))),
    # (float64 ones: a float32 tensor with dims decides the dtype of a * ones, as in torch)
    "gather 0-d index": lambda L, a: L.mt.gather(
        a * L.mt.ones(3, dtype=L.mt.float64), 0, L.mt.tensor(np.array(2))
    ),
    "index_select": lambda L, a: L.mt.index_select(a, 0, L.mt.tensor(np.array([0]))),
    "flip": lambda L, a: L.mt.flip(a, (-1,)),
    "cumsum": lambda L, a: L.mt.cumsum(a, 0),
    "topk": lambda L, a: L.mt.topk(a, 1)[0],
    "topk k=0": lambda L, a: L.mt.topk(a, 0, 0)[0],
    "sort": lambda L, a: L.mt.sort(a)[0],
}


@pytest.mark.parametrize("op", ZERO_D_OPS)
def test_zero_d_input_reads_as_one_entry(op):
    x = np.array(1.5)
    check_grad(ZERO_D_OPS[op], [x])
    torch = pytest.importorskip("torch")
    check_parity(torch, ZERO_D_OPS[op], [x])


def test_zero_d_input_still_checks_dims():
    with pytest.raises(IndexError, match=r"cumsum: dim 1 out of range for a 0-d tensor"):
        F.cumsum(mt.tensor(2.0), 1)
    with pytest.raises(IndexError, match=r"gather: dim 1 out of range for a 0-d tensor"):
        F.gather(mt.tensor([2.0, 3.0]), 1, mt.tensor(1))
    with pytest.raises(ValueError, match="topk: k=2 is out of range for dim 0 of size 1"):
        F.topk(mt.tensor(2.0), 2)
    with pytest.raises(IndexError, match="index_select: a 0-d input takes one index, got 2"):
        F.index_select(mt.tensor(2.0), 0, mt.tensor([0, 0]))


@st.composite
def scatter_case(draw):
    """input, dim, index (repeats allowed), src at least index's size."""
    x, d, idx = draw(gather_case())
    shape = tuple(n + draw(st.integers(0, 1)) for n in idx.shape)
    return x, d, idx, draw(arrays(shape))


def loop_scatter(x, d, idx, src, accumulate):
    out = x.copy()
    for pos in np.ndindex(idx.shape):
        dst = list(pos)
        dst[d] = idx[pos]
        out[tuple(dst)] = out[tuple(dst)] + src[pos] if accumulate else src[pos]
    return out


def unique_along(idx, d):
    """An index of idx's shape (its size along d at most the input's) whose entries along d are a
    permutation: no position written twice, so scatter's writes do not collide."""
    return np.argsort(np.random.default_rng(0).random(idx.shape), axis=d)


@SETTINGS
@given(case=scatter_case())
def test_scatter_add_matches_loop_and_gradcheck(case):
    x, d, idx, src = case
    out = F.scatter_add(mt.tensor(x), d, mt.tensor(idx), mt.tensor(src)).numpy()
    np.testing.assert_allclose(out, loop_scatter(x, d, idx, src, True), rtol=1e-12)
    check_grad(lambda L, a, s: L.F.scatter_add(a, d, L.mt.tensor(idx), s), [x, src])


@SETTINGS
@given(case=scatter_case())
def test_scatter_matches_loop_and_gradcheck_without_collisions(case):
    x, d, idx, src = case
    idx = idx[tuple(slice(0, min(n, x.shape[d])) if i == d else slice(None)
                    for i, n in enumerate(idx.shape))]  # fmt: skip
    idx = unique_along(idx, d)  # a permutation along d: every write lands on its own entry
    out = F.scatter(mt.tensor(x), d, mt.tensor(idx), mt.tensor(src)).numpy()
    np.testing.assert_array_equal(out, loop_scatter(x, d, idx, src, False))
    check_grad(lambda L, a, s: L.F.scatter(a, d, L.mt.tensor(idx), s), [x, src])
    filled = F.scatter(mt.tensor(x), d, mt.tensor(idx), value=7.0).numpy()
    np.testing.assert_array_equal(filled, loop_scatter(x, d, idx, np.full(idx.shape, 7.0), False))


@SETTINGS
@given(shape=shapes(min_dims=1, max_dims=3, max_side=4), data=st.data())
def test_index_add_matches_loop_and_gradcheck(shape, data):
    x = data.draw(arrays(shape))
    d = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx = np.array(data.draw(st.lists(st.integers(0, shape[d] - 1), min_size=1, max_size=5)))
    sshape = list(shape)
    sshape[d] = len(idx)
    src = data.draw(arrays(tuple(sshape)))
    alpha = data.draw(st.sampled_from([1, -0.5]))
    expected = x.copy()
    for k, i in enumerate(idx):  # the loop reference: slice k of source onto slice i
        sel = [slice(None)] * len(shape)
        sel[d], take = i, list(sel)
        take[d] = k
        expected[tuple(sel)] += alpha * src[tuple(take)]
    out = F.index_add(mt.tensor(x), d, mt.tensor(idx), mt.tensor(src), alpha=alpha).numpy()
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    check_grad(lambda L, a, s: L.F.index_add(a, d, L.mt.tensor(idx), s, alpha=alpha), [x, src])


@pytest.mark.parity
@SETTINGS
@given(case=scatter_case())
def test_scatter_ops_match_torch(case):
    torch = pytest.importorskip("torch")
    x, d, idx, src = case
    # src cut to the index's shape: PyTorch's backward fails on a larger src (its gradient
    # comes back in the index's shape)
    src = src[tuple(slice(0, n) for n in idx.shape)]
    check_parity(torch, lambda L, a, s: L.mt.scatter_add(a, d, L.mt.tensor(idx), s), [x, src])
    perm = unique_along(idx[tuple(slice(0, min(n, x.shape[d])) if i == d else slice(None)
                                  for i, n in enumerate(idx.shape))], d)  # fmt: skip
    src = src[tuple(slice(0, n) for n in perm.shape)]
    check_parity(torch, lambda L, a, s: L.mt.scatter(a, d, L.mt.tensor(perm), s), [x, src])
    rows = np.array([x.shape[d] - 1, 0, x.shape[d] - 1])
    sshape = list(x.shape)
    sshape[d] = 3
    source = np.random.default_rng(1).standard_normal(sshape)
    check_parity(
        torch, lambda L, a, s: L.mt.index_add(a, d, L.mt.tensor(rows), s, alpha=2.0), [x, source]
    )


def test_scatter_errors_name_the_op_and_shapes():
    x = mt.zeros(2, 3)
    with pytest.raises(ValueError, match=r"scatter_add: index of shape \(2, 2\) is larger than "
                                         r"src \(2, 1\)"):  # fmt: skip
        F.scatter_add(x, 1, mt.tensor([[0, 1], [1, 2]]), mt.ones(2, 1))
    with pytest.raises(IndexError, match="scatter: index out of range for dim 1 of size 3"):
        F.scatter(x, 1, mt.tensor([[3]]), value=1.0)
    with pytest.raises(TypeError, match="exactly one of src"):
        F.scatter(x, 1, mt.tensor([[0]]))
    with pytest.raises(TypeError, match="scatter_add: src has dtype float64"):
        F.scatter_add(x, 1, mt.tensor([[0]]), mt.ones(1, 1, dtype=mt.float64))
    with pytest.raises(ValueError, match=r"index_add: needs a 1-D integer index and a source of "
                                         r"shape \(2, 2\)"):  # fmt: skip
        F.index_add(x, 1, mt.tensor([0, 1]), mt.ones(2, 3))
    with pytest.raises(IndexError, match="index_add: index out of range"):
        F.index_add(x, 0, mt.tensor([2]), mt.ones(1, 3))


@pytest.mark.parametrize("diagonal", [-2, -1, 0, 1, 3])
def test_diag_builds_and_reads_diagonals_with_gradients(diagonal):
    v = np.arange(1.0, 4.0)
    m = F.diag(mt.tensor(v), diagonal).numpy()
    np.testing.assert_array_equal(m, np.diag(v, diagonal))
    a = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(F.diag(mt.tensor(a), diagonal).numpy(), np.diag(a, diagonal))
    check_grad(lambda L, x: L.F.diag(x, diagonal), [v])
    check_grad(lambda L, x: L.F.diag(x, diagonal), [a])
    torch = pytest.importorskip("torch")
    check_parity(torch, lambda L, x: L.mt.diag(x, diagonal), [v])
    check_parity(torch, lambda L, x: L.mt.diag(x, diagonal), [a])


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_and_outer_match_numpy_and_torch(indexing):
    a, b, c = np.arange(2.0), np.arange(3.0) + 10, np.arange(4.0) - 5
    ours = F.meshgrid(mt.tensor(a), mt.tensor(b), mt.tensor(c), indexing=indexing)
    for o, n in zip(ours, np.meshgrid(a, b, c, indexing=indexing)):
        np.testing.assert_array_equal(o.numpy(), n)
    check_grad(lambda L, x, y: L.F.meshgrid(x, y, indexing=indexing)[0] * 2
               + L.F.meshgrid(x, y, indexing=indexing)[1], [a, b])  # fmt: skip
    np.testing.assert_array_equal(F.outer(mt.tensor(a), mt.tensor(b)).numpy(), np.outer(a, b))
    check_grad(lambda L, x, y: L.F.outer(x, y), [a, b])
    torch = pytest.importorskip("torch")
    check_parity(torch, lambda L, x, y: L.mt.meshgrid(x, y, indexing=indexing)[1], [a, c])
    check_parity(torch, lambda L, x, y: L.mt.outer(x, y), [a, c])


def test_nonzero_unique_bincount_match_loops_and_torch():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (3, 5))
    # loop references: positions in row-major order, counts and sums per value
    positions = [list(p) for p in np.ndindex(x.shape) if x[p] != 0]
    assert mt.nonzero(mt.tensor(x)).tolist() == positions
    values, inverse, counts = mt.unique(mt.tensor(x), return_inverse=True, return_counts=True)
    assert values.tolist() == sorted(set(x.reshape(-1).tolist()))
    assert all(values.tolist()[inverse.numpy()[p]] == x[p] for p in np.ndindex(x.shape))
    assert counts.tolist() == [int((x == v).sum()) for v in values.tolist()]
    w = rng.standard_normal(x.size)
    sums = [sum(wi for xi, wi in zip(x.reshape(-1), w) if xi == v) for v in range(4)]
    np.testing.assert_allclose(mt.bincount(mt.tensor(x.reshape(-1)), mt.tensor(w)).numpy(), sums)
    torch = pytest.importorskip("torch")
    t = torch.tensor(x)
    np.testing.assert_array_equal(mt.nonzero(mt.tensor(x)).numpy(), torch.nonzero(t).numpy())
    for o, n in zip(mt.nonzero(mt.tensor(x), as_tuple=True), torch.nonzero(t, as_tuple=True)):
        np.testing.assert_array_equal(o.numpy(), n.numpy())
    assert mt.nonzero(mt.tensor(3)).shape == tuple(torch.nonzero(torch.tensor(3)).shape)
    for kw in ({}, {"return_inverse": True, "return_counts": True},
               {"dim": 1, "return_inverse": True, "return_counts": True}):  # fmt: skip
        ours, theirs = mt.unique(mt.tensor(x), **kw), torch.unique(t, **kw)
        ours, theirs = (ours, theirs) if isinstance(ours, tuple) else ((ours,), (theirs,))
        for o, n in zip(ours, theirs):
            np.testing.assert_array_equal(o.numpy(), n.numpy())
    flat, tflat = mt.tensor(x.reshape(-1)), torch.tensor(x.reshape(-1))
    ours, theirs = mt.bincount(flat, minlength=7), torch.bincount(tflat, minlength=7)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    ours, theirs = mt.bincount(flat, mt.tensor(w)), torch.bincount(tflat, torch.tensor(w))
    np.testing.assert_allclose(ours.numpy(), theirs.numpy())


def test_new_ops_reject_bad_shapes():
    with pytest.raises(ValueError, match="bincount: expected a 1-D tensor of non-negative"):
        F.bincount(mt.tensor([1, -1]))
    with pytest.raises(ValueError, match=r"bincount: weights of shape \(1,\) do not match"):
        F.bincount(mt.tensor([1, 2]), mt.ones(1))
    with pytest.raises(ValueError, match=r"outer: expected two 1-D tensors, got shapes \(2, 2\)"):
        F.outer(mt.ones(2, 2), mt.ones(2))
    with pytest.raises(ValueError, match=r"diag: expected a 1-D or 2-D tensor"):
        F.diag(mt.ones(2, 2, 2))
    with pytest.raises(ValueError, match="meshgrid: indexing must be 'ij' or 'xy'"):
        F.meshgrid(mt.ones(2), indexing="ji")


def test_scatter_and_index_add_keep_their_own_copy_of_the_index():
    for op in (lambda s, i: F.scatter_add(mt.zeros(3, dtype=mt.float64), 0, i, s),
               lambda s, i: F.index_add(mt.zeros(3, dtype=mt.float64), 0, i, s),
               lambda s, i: F.gather(s, 0, i)):  # fmt: skip
        s = mt.tensor([5.0, 6.0], dtype=mt.float64, requires_grad=True)
        i = mt.tensor([0, 1])
        y = op(s, i)
        i.add_(1)  # the caller reuses its index array: the backward must not see that
        (y * mt.tensor(np.arange(1.0, len(y) + 1))).sum().backward()
        assert s.grad.tolist() == [1.0, 2.0]
    with pytest.raises(TypeError, match="index_add: source has dtype float32, the input float64"):
        F.index_add(mt.zeros(3, dtype=mt.float64), 0, mt.tensor([0]), mt.ones(1))
    assert F.bincount(mt.tensor([0, 2]), mt.ones(2)).dtype == mt.float32
    # a 0-d index picks one entry and keeps the dim, as PyTorch
    x = mt.arange(6.0).reshape(2, 3)
    assert F.index_select(x, 1, mt.tensor(1)).tolist() == [[1.0], [4.0]]
    assert F.index_add(mt.zeros(3), 0, mt.tensor(1), mt.ones(1)).tolist() == [0.0, 1.0, 0.0]
