"""Power-average pooling (lp_pool1d/2d/3d, LPPool1d/2d/3d): equal to a window-by-window loop
over hypothesis-drawn shapes, powers, kernels, strides and ceil_mode; gradcheck in float64; zero
gradient where a window sums to zero, as PyTorch; equal to PyTorch when it is installed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.kernels.shapes import pool_out
from tests.strategies_core import SETTINGS, check_grad, check_parity, positive_arrays

OPS = {1: "lp_pool1d", 2: "lp_pool2d", 3: "lp_pool3d"}


def loop_lp_pool(x, p, k, s, ceil_mode):
    """Each window's (sum of x^p)^(1/p), a window cut by the border (ceil_mode) scaled up to the
    full window as PyTorch does (its mean over the real elements times the window size); p = inf
    is the max of |x|."""
    n_, c_, *size = x.shape
    out = [pool_out(sz, kk, ss, 0, 1, ceil_mode) for sz, kk, ss in zip(size, k, s)]
    y = np.zeros((n_, c_, *out))
    for n, c in itertools.product(range(n_), range(c_)):
        for o in itertools.product(*(range(v) for v in out)):
            block = x[(n, c, *(slice(i * ss, i * ss + kk) for i, ss, kk in zip(o, s, k)))]
            if np.isinf(p):
                y[(n, c, *o)] = np.abs(block).max()
            else:
                y[(n, c, *o)] = ((block**p).mean() * np.prod(k)) ** (1 / p)
    return y


@st.composite
def lp_case(draw):
    nd = draw(st.sampled_from([1, 2, 3]))
    size = tuple(draw(st.integers(1, 6 if nd < 3 else 4)) for _ in range(nd))
    k = tuple(draw(st.integers(1, n)) for n in size)
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    p = draw(st.sampled_from([1, 2, 3, 1.5, 0.5, np.inf]))
    x = draw(positive_arrays((2, 2, *size), unique=True))
    if nd == 1:  # PyTorch's lp_pool1d takes ints only
        k, stride = k[0], None if stride is None else stride[0]
    return nd, x, p, k, stride, draw(st.booleans())


@SETTINGS
@given(case=lp_case())
def test_lp_pool_matches_the_window_loop_and_gradcheck(case):
    nd, x, p, k, stride, ceil_mode = case
    op = getattr(F, OPS[nd])
    y = op(mt.tensor(x), p, k, stride, ceil_mode).numpy()
    k_, s_ = np.atleast_1d(k), np.atleast_1d(k if stride is None else stride)
    want = loop_lp_pool(x, p, tuple(k_), tuple(s_), ceil_mode)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    check_grad(lambda L, a: getattr(L.F, OPS[nd])(a, p, k, stride, ceil_mode), [x])


def test_lp_pool_of_a_zero_window_has_zero_gradient_as_torch():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = 2.0
    xs = mt.tensor(x, requires_grad=True)
    y = F.lp_pool2d(xs, 2, 2)
    np.testing.assert_array_equal(y.numpy(), [[[[2.0, 0.0], [0.0, 0.0]]]])
    y.sum().backward()
    g = np.zeros_like(x)
    g[0, 0, 0, 0] = 1.0  # d||w||/dw = w / ||w|| at the one non-zero window, 0 elsewhere (no NaN)
    np.testing.assert_array_equal(xs.grad.numpy(), g)


@pytest.mark.parity
@SETTINGS
@given(case=lp_case(), signed=st.booleans())
def test_lp_pool_matches_torch(case, signed):
    torch = pytest.importorskip("torch")
    nd, x, p, k, stride, ceil_mode = case
    if signed and p in (2, np.inf):  # even powers and |x| take any sign
        x = x * np.where(np.arange(x.size).reshape(x.shape) % 3 == 0, -1.0, 1.0)
    check_parity(torch, lambda L, a: getattr(L.F, OPS[nd])(a, p, k, stride, ceil_mode), [x])
    check_parity(torch, lambda L, a: getattr(L.F, OPS[nd])(a, -np.inf, k, stride, ceil_mode), [x])


@pytest.mark.parity
def test_lp_pool_layers_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7, 8)).astype(np.float32)
    layers = [
        ("LPPool1d", (2, 3), x[:, :, 0, 0]),
        ("LPPool2d", (2, (2, 3), 2, True), x[:, :, 0]),
        ("LPPool3d", (1, 2), np.abs(x)),
        ("LPPool2d", (float("inf"), 3), x[:, :, 0]),
    ]
    for name, args, a in layers:
        ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(mt.tensor(a)).numpy(), theirs(torch.tensor(a)).numpy(),
                                   rtol=1e-5, atol=1e-6)  # fmt: skip


def test_lp_pool_errors_name_the_op():
    with pytest.raises(ValueError, match=r"lp_pool2d: norm_type must be non-zero, got 0"):
        F.lp_pool2d(mt.randn(1, 1, 4, 4), 0, 2)
    with pytest.raises(TypeError, match=r"lp_pool1d: expected a floating point input"):
        F.lp_pool1d(mt.tensor(np.arange(8).reshape(1, 1, 8)), 2, 2)
    want = r"lp_pool3d: expected 4-D \(C, D, H, W\) or 5-D \(N, C, D, H, W\) input, got shape"
    with pytest.raises(ValueError, match=want + r" \(4, 4, 4\)"):
        F.lp_pool3d(mt.randn(4, 4, 4), 2, 2)
    for p in (2, float("inf")):  # the check is lp_pool's, not that of the pool it runs on
        with pytest.raises(ValueError, match=r"lp_pool2d: kernel_size must be >= 1, got 0"):
            F.lp_pool2d(mt.randn(1, 1, 4, 4), p, 0)
        with pytest.raises(ValueError, match=r"lp_pool1d: stride must be >= 1, got 0"):
            F.lp_pool1d(mt.randn(1, 1, 4), p, 2, 0)
    assert nn.LPPool2d(2, 2)(mt.randn(3, 4, 4)).shape == (3, 2, 2)  # unbatched (C, H, W)
