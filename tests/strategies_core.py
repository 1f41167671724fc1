"""Hypothesis strategies for the core tests: shapes, broadcastable shape pairs, float64 arrays.

Values are drawn from a grid (k/10 + 0.05): never 0 and, when distinct, at least 0.1 apart. Kinks
(relu and abs at 0, clamp bounds on the 0.1 grid, ties in max) then sit far from every
finite-difference step, so a gradcheck failure always means a wrong gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cv as mt

# Every core test: no per-example deadline (first calls import); the example count comes from
# the profile tests/conftest.py loads ("ci": 20, HYPOTHESIS_PROFILE=thorough: 200).
SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=4):
    """Array shapes, e.g. (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_pairs(min_dims=0, max_dims=3, max_side=3):
    """Two shapes that broadcast together, including size-1 and missing leading dims."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side
    ).map(lambda b: b.input_shapes)


def grid_floats(lo=-2.0, hi=2.0):
    """Floats in (lo, hi) on the grid k/10 + 0.05."""
    return st.integers(round(lo * 10), round(hi * 10) - 1).map(lambda k: k / 10 + 0.05)


def arrays(shape, lo=-2.0, hi=2.0, unique=False):
    """float64 arrays of `shape` with grid values in (lo, hi); `unique` rules out ties."""
    return hnp.arrays(np.float64, shape, elements=grid_floats(lo, hi), unique=unique)


def positive_arrays(shape, hi=3.0, unique=False):
    """float64 arrays with values in [0.25, hi): safe for log, sqrt and division."""
    return arrays(shape, 0.2, hi, unique)


def nonzero_arrays(shape, lo=0.45, hi=2.0):
    """float64 arrays with |values| in [lo, hi): safe denominators."""
    mags = arrays(shape, lo, hi)
    signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
    return st.tuples(mags, signs).map(lambda ms: ms[0] * ms[1])


def leaf(array) -> mt.Tensor:
    """A float64 leaf tensor that requires grad, owning a copy of `array`."""
    return mt.tensor(np.array(array, dtype=np.float64), requires_grad=True)


@st.composite
def dims(draw, ndim, allow_none=True, allow_tuple=True):
    """A `dim` argument valid for `ndim` dims: None, an int (maybe negative) or a tuple."""
    kinds = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(kinds)) if ndim else "none"
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    picked = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(d - ndim if draw(st.booleans()) else d for d in picked)


# --------------------------------------------------------------------------- op checks
#
# An op under test is written once as `fn(lib, *tensors)`, where `lib.mt` is minitorch_cv or torch
# and `lib.F` their functional namespace; the Tensor methods are shared by both. The same `fn`
# then feeds gradcheck and the torch parity check.


class Lib:
    def __init__(self, top, functional):
        self.mt, self.F = top, functional


OURS = Lib(mt, mt.functional)


def check_grad(fn, arrays, **tol):
    """gradcheck `fn(OURS, *leaves)` at float64 copies of `arrays`."""
    assert mt.gradcheck(lambda *t: fn(OURS, *t), [leaf(a) for a in arrays], **tol)


def check_parity(torch, fn, arrays, rtol=1e-7, atol=1e-9):
    """`fn` on minitorch_cv and on torch, same float64 inputs: equal outputs, and equal input
    gradients of sum(out * w) for a fixed random w."""
    ours = [leaf(a) for a in arrays]
    theirs = [torch.tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in arrays]
    y, yt = fn(OURS, *ours), fn(Lib(torch, torch.nn.functional), *theirs)
    assert y.shape == tuple(yt.shape), (y.shape, tuple(yt.shape))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    if not y.requires_grad:
        return
    w = np.random.default_rng(0).standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        ga = np.zeros(a.shape) if a.grad is None else a.grad.numpy()
        gb = np.zeros(a.shape) if b.grad is None else b.grad.numpy()
        np.testing.assert_allclose(ga, gb, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
