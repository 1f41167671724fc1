"""Reductions over every kind of `dim` (None, int, negative int, tuple) with and without keepdim:
gradients vs central differences, parity with torch, PyTorch's tie rules, errors."""

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity, dims, shapes


def _count(shape, dim):
    """How many elements each output of a reduction over `dim` sums."""
    if dim is None or dim == ():
        return int(np.prod(shape))
    ds = (dim,) if isinstance(dim, int) else dim
    return int(np.prod([shape[d] for d in ds]))


def _all(a, dim):
    """amax and logsumexp take no dim=None: name all dims instead."""
    return tuple(range(a.ndim)) if dim is None else dim


# name -> (fn(lib, a, dim, keepdim), kinds of dim allowed, needs distinct values, least count)
REDUCE = {
    "sum": (lambda L, a, d, k: a.sum(dim=d, keepdim=k), "any", False, 1),
    "mean": (lambda L, a, d, k: a.mean(dim=d, keepdim=k), "any", False, 1),
    "var": (lambda L, a, d, k: a.var(dim=d, keepdim=k), "any", False, 2),
    "var_biased": (lambda L, a, d, k: a.var(dim=d, keepdim=k, correction=0), "any", False, 1),
    "std": (lambda L, a, d, k: a.std(dim=d, keepdim=k), "any", True, 2),
    "amax": (lambda L, a, d, k: a.amax(dim=_all(a, d), keepdim=k), "any", True, 1),
    "amin": (lambda L, a, d, k: a.amin(dim=_all(a, d), keepdim=k), "any", True, 1),
    "max": (
        lambda L, a, d, k: a.max() if d is None else a.max(dim=d, keepdim=k).values,
        "int",
        True,
        1,
    ),
    "min": (
        lambda L, a, d, k: a.min() if d is None else a.min(dim=d, keepdim=k).values,
        "int",
        True,
        1,
    ),
    "prod": (
        lambda L, a, d, k: a.prod() if d is None else a.prod(dim=d, keepdim=k),
        "int",
        False,
        1,
    ),
    "logsumexp": (lambda L, a, d, k: a.logsumexp(dim=_all(a, d), keepdim=k), "any", False, 1),
    "norm": (lambda L, a, d, k: a.norm(dim=d, keepdim=k), "int", False, 1),
    "norm3": (lambda L, a, d, k: a.norm(p=3, dim=d, keepdim=k), "int", False, 1),
}


@st.composite
def reduce_case(draw, name):
    fn, kind, unique, least = REDUCE[name]
    shape = draw(shapes(min_dims=1))
    dim = draw(dims(len(shape), allow_tuple=kind == "any"))
    assume(_count(shape, dim) >= least)
    keepdim = draw(st.booleans())
    # a grid wide enough for distinct values; max/min with ties are tested on their own
    x = draw(arrays(shape, -5.0, 5.0, unique=unique))
    return (lambda L, a: fn(L, a, dim, keepdim)), x


@pytest.mark.parametrize("name", REDUCE)
@SETTINGS
@given(data=st.data())
def test_reduction_gradcheck(name, data):
    fn, x = data.draw(reduce_case(name))
    check_grad(fn, [x])


@pytest.mark.parity
@pytest.mark.parametrize("name", REDUCE)
@SETTINGS
@given(data=st.data())
def test_reduction_matches_torch(name, data):
    torch = pytest.importorskip("torch")
    fn, x = data.draw(reduce_case(name))
    check_parity(torch, fn, [x])


@SETTINGS
@given(shape=shapes(min_dims=1), data=st.data())
def test_max_with_dim_returns_values_and_indices(shape, data):
    x = data.draw(arrays(shape, -5.0, 5.0, unique=True))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    keepdim = data.draw(st.booleans())
    values, indices = mt.tensor(x).max(dim, keepdim=keepdim)
    np.testing.assert_array_equal(values.numpy(), x.max(axis=dim, keepdims=keepdim))
    np.testing.assert_array_equal(indices.numpy(), np.argmax(x, axis=dim, keepdims=keepdim))
    assert indices.dtype == mt.int64


@pytest.mark.parity
def test_ties_and_zeros_follow_torch():
    """max()/amax share the gradient among ties; max(dim) sends it to one index; prod's gradient
    is exact with zero factors (no division by the factor)."""
    torch = pytest.importorskip("torch")
    ties = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, -1.0]])
    check_parity(torch, lambda L, a: a.max(), [ties])
    check_parity(torch, lambda L, a: a.amax(dim=1), [ties])
    check_parity(torch, lambda L, a: a.amin(dim=(0, 1), keepdim=True), [ties])
    zeros = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0]])
    check_parity(torch, lambda L, a: a.prod(), [zeros])
    check_parity(torch, lambda L, a: a.prod(dim=1), [zeros])
    check_parity(torch, lambda L, a: a.prod(dim=0, keepdim=True), [zeros])


def test_max_tie_gradient_is_shared_evenly():
    x = mt.tensor([1.0, 3.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 1 / 3, 1 / 3, 1 / 3])


def test_var_of_one_element_is_nan_like_torch():
    x = mt.tensor([2.0], requires_grad=True)
    v = x.var()
    v.backward()
    assert np.isnan(v.item()) and np.isnan(x.grad.item())
    assert x.var(correction=0).item() == 0.0


def test_logsumexp_is_stable_and_handles_minus_inf():
    x = mt.tensor([[1e4, 1e4], [-np.inf, -np.inf], [-1e4, 0.0]], requires_grad=True)
    y = x.logsumexp(dim=1)
    np.testing.assert_allclose(y.numpy(), [1e4 + np.log(2), -np.inf, 0.0])
    y[0].backward()
    # a row of -inf has no defined gradient: nan, as in PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [np.nan, np.nan], [0, 0]])


def test_scalar_tensors_accept_dim_0():
    x = mt.tensor(2.0, requires_grad=True)
    assert x.sum(0).item() == 2.0 and x.mean(dim=-1, keepdim=True).shape == ()
    values, indices = x.max(0)
    assert values.item() == 2.0 and indices.item() == 0


def test_reduction_errors_name_the_op():
    x = mt.ones(2, 3)
    for op in ("sum", "mean", "var", "amax"):
        with pytest.raises(IndexError, match=f"{op}: dim 2 out of range"):
            getattr(x, op)(dim=2)
    with pytest.raises(TypeError, match="mean: expected a floating point input"):
        mt.tensor([1, 2]).mean()
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0, 3\)"):
        mt.zeros(0, 3).max()


def test_norm_names_the_reduction_despite_the_norm_submodule():
    """functional/norm.py (batch/layer/group norm) must not shadow the `norm` reduction."""
    from minitorch_cv.functional import reduce

    assert mt.functional.norm is reduce.norm
    assert mt.tensor([3.0, 4.0]).norm().item() == 5.0


@pytest.mark.parametrize("p", [2, 1, 3, 0.5])
def test_norm_gradient_at_zero_is_zero_not_nan(p):
    """A zero-initialised bias in a norm penalty: PyTorch's subgradient 0, never 0/0 = nan."""
    x = mt.tensor([[0.0, 0.0], [3.0, -4.0]], dtype=mt.float64, requires_grad=True)
    x.norm(p=p, dim=1).sum().backward()
    g = x.grad.numpy()
    assert np.array_equal(g[0], [0.0, 0.0])
    row = np.array([3.0, -4.0])
    expect = np.sign(row) * np.abs(row) ** (p - 1) / np.sum(np.abs(row) ** p) ** ((p - 1) / p)
    np.testing.assert_allclose(g[1], expect, rtol=1e-12)


def test_norm_inf_and_bad_p():
    x = mt.tensor([[1.0, -5.0], [2.0, 0.5]])
    np.testing.assert_array_equal(x.norm(p=float("inf"), dim=1).numpy(), [5.0, 2.0])
    with pytest.raises(ValueError, match="p must be a positive number"):
        x.norm(p=0)


@pytest.mark.parametrize("op", ["mean", "var", "std", "norm"])
def test_floating_point_reductions_refuse_integer_input_by_name(op):
    # NumPy computes var in integers: var([1, 2, 3, 4]) gave 1 instead of 1.667 (torch raises)
    with pytest.raises(TypeError, match=rf"^{op}: expected a floating point input"):
        getattr(mt.tensor([1, 2, 3, 4]), op)()


def test_logsumexp_of_integers_is_in_the_default_float():
    got = mt.tensor([[1, 2], [3, 4]]).logsumexp(0)
    assert got.dtype == mt.float32
    np.testing.assert_allclose(got.numpy(), np.log(np.exp([1, 2]) + np.exp([3, 4])), rtol=1e-6)
