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
    "gather 0-d index": lambda L, a: L.mt.gather(a * L.mt.ones(3), 0, L.mt.tensor(np.array(2))),
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
