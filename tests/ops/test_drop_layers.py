"""mt.ops.stochastic_depth / StochasticDepth and drop_block2d / drop_block3d / DropBlock2d /
DropBlock3d: 'row' draws one survival per sample and 'batch' one for the whole input, survivors
scaled by 1 / (1 - p), at the survival rate 1 - p; DropBlock equal to torchvision's algorithm
written as loops (zero padding, max pooling window by window, rescale) from the same seed map
over hypothesis-drawn shapes, block sizes and p; every dropped unit inside a whole dropped
block; the fraction dropped equal to the one gamma implies; float64 gradchecks; identity in
eval mode or at p = 0; torchvision's reprs; errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from minitorch_cv.backend import gpu_available
from minitorch_cv.tensor import default_rng
from tests.strategies_core import SETTINGS, arrays, leaf

# --------------------------------------------------------------------------- stochastic depth


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple),
    mode=st.sampled_from(["row", "batch"]),
    p=st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_stochastic_depth_gradcheck_float64(shape, mode, p, seed, data):
    x = data.draw(arrays(shape))

    def fn(t):
        mt.manual_seed(seed)  # the same mask at every evaluation
        return ops.stochastic_depth(t, p, mode)

    assert mt.gradcheck(fn, [leaf(x)])


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_stochastic_depth_row_zeroes_whole_samples_at_rate_p_and_rescales(p):
    mt.manual_seed(0)
    n = 20000
    x = leaf(np.ones((n, 2, 3)))
    y = ops.stochastic_depth(x, p, "row")
    rows = y.numpy().reshape(n, -1)
    assert (rows == rows[:, :1]).all()  # one draw per sample
    np.testing.assert_allclose(np.unique(rows), [0.0, 1 / (1 - p)])
    kept = (rows[:, 0] > 0).mean()
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / n)
    y.sum().backward()  # dy/dx is the mask itself
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_stochastic_depth_batch_zeroes_all_or_nothing_at_rate_p():
    mt.manual_seed(1)
    p, trials = 0.3, 3000
    x = mt.ones(4, 3, 2)
    outs = np.stack([ops.stochastic_depth(x, p, "batch").numpy() for _ in range(trials)])
    flat = outs.reshape(trials, -1)
    assert (flat == flat[:, :1]).all()  # one draw for the whole input
    np.testing.assert_allclose(np.unique(flat), [0.0, 1 / (1 - p)])
    kept = (flat[:, 0] > 0).mean()
    assert abs(kept - (1 - p)) < 4 * np.sqrt(p * (1 - p) / trials)


def test_stochastic_depth_identity_in_eval_or_at_p0_and_zero_at_p1():
    x = mt.randn(3, 2)
    assert ops.stochastic_depth(x, 0.5, "row", training=False) is x
    assert ops.stochastic_depth(x, 0.0, "batch") is x
    y = ops.stochastic_depth(x, 1.0, "row")
    assert np.all(y.numpy() == 0) and np.isfinite(y.numpy()).all()
    m = ops.StochasticDepth(0.5, "row").eval()
    assert m(x) is x


def test_stochastic_depth_module_repr_and_training():
    m = ops.StochasticDepth(0.2, "row")
    assert repr(m) == "StochasticDepth(p=0.2, mode=row)"  # torchvision's: mode unquoted
    mt.manual_seed(3)
    y = m(mt.ones(1000, 1)).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1.25])  # trains: some rows dropped


def test_stochastic_depth_errors():
    x = mt.randn(2, 3)
    with pytest.raises(ValueError, match=r"stochastic_depth: drop probability .* got 1.5"):
        ops.stochastic_depth(x, 1.5, "row")
    with pytest.raises(ValueError, match=r"mode has to be either 'batch' or 'row', but got col"):
        ops.stochastic_depth(x, 0.5, "col")
    with pytest.raises(ValueError, match=r"'row' needs an input with a batch dim"):
        ops.stochastic_depth(mt.tensor(1.0), 0.5, "row")
    with pytest.raises(TypeError, match=r"stochastic_depth: expected a floating input"):
        ops.stochastic_depth(mt.tensor([1, 2]), 0.5, "row")
    with pytest.raises(ValueError, match=r"StochasticDepth: drop probability"):
        ops.StochasticDepth(-0.1, "row")
    with pytest.raises(ValueError, match=r"StochasticDepth: mode"):
        ops.StochasticDepth(0.1, "rows")


# --------------------------------------------------------------------------- drop block


def loop_drop_block(x, p, block_size, eps, seed):
    """torchvision's drop_block2d / drop_block3d, the pooling as loops over windows.

    The seed map is the package generator's float32 uniform draw of shape (N, C, *(S - b + 1))
    compared with gamma, after `manual_seed(seed)`, as the op draws it."""
    n, c, *spatial = x.shape
    nd = len(spatial)
    b = min(block_size, *spatial)
    fits = [s - b + 1 for s in spatial]
    gamma = p * np.prod(spatial) / (b**nd * np.prod(fits))
    mt.manual_seed(seed)
    noise = (default_rng().random((n, c, *fits), dtype=np.float32) < gamma).astype(np.float64)
    half = b // 2
    padded = np.pad(noise, [(0, 0), (0, 0)] + [(half, half)] * nd)  # F.pad(value=0)
    pooled = np.zeros(x.shape)  # max_pool, stride 1, padding half (padding never wins)
    for i, j in itertools.product(range(n), range(c)):
        for pos in itertools.product(*(range(s) for s in spatial)):
            window = tuple(
                slice(max(q - half, 0), min(q + half + 1, padded.shape[2 + k]))
                for k, q in enumerate(pos)
            )
            pooled[(i, j) + pos] = padded[(i, j) + window].max()
    keep = 1 - pooled
    return x * keep * (keep.size / (eps + keep.sum()))


@st.composite
def drop_block_cases(draw):
    nd = draw(st.sampled_from([2, 3]))
    spatial = tuple(draw(st.integers(1, 7 if nd == 2 else 4)) for _ in range(nd))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial
    block_size = draw(st.integers(1, 7))
    assume(min(block_size, *spatial) % 2 == 1)
    p = draw(st.sampled_from([0.1, 0.35, 0.7, 1.0]))
    return nd, shape, block_size, p


@SETTINGS
@given(
    case=drop_block_cases(),
    seed=st.integers(0, 2**16),
    eps=st.sampled_from([1e-6, 0.5]),
    data=st.data(),
)
def test_drop_block_matches_torchvision_loops(case, seed, eps, data):
    nd, shape, block_size, p = case
    x = data.draw(arrays(shape))
    op = ops.drop_block2d if nd == 2 else ops.drop_block3d
    mt.manual_seed(seed)
    y = op(mt.tensor(x), p, block_size, eps=eps)
    np.testing.assert_allclose(
        y.numpy(), loop_drop_block(x, p, block_size, eps, seed), rtol=1e-12, atol=1e-12
    )


@SETTINGS
@given(case=drop_block_cases(), seed=st.integers(0, 2**16), data=st.data())
def test_drop_block_gradcheck_float64(case, seed, data):
    nd, shape, block_size, p = case
    x = data.draw(arrays(shape))
    op = ops.drop_block2d if nd == 2 else ops.drop_block3d

    def fn(t):
        mt.manual_seed(seed)
        return op(t, p, block_size)

    assert mt.gradcheck(fn, [leaf(x)])


def _dropped_covered_by_whole_blocks(dropped, b):
    """Every dropped unit lies in some b x b (x b) window, inside the map, that is all dropped."""
    nd = dropped.ndim - 2
    full = np.ones_like(dropped)
    for corner in itertools.product(*(range(s - b + 1) for s in dropped.shape[2:])):
        window = (slice(None), slice(None)) + tuple(slice(q, q + b) for q in corner)
        whole = dropped[window].reshape(dropped.shape[:2] + (-1,)).all(-1)
        full[window] &= ~whole.reshape(whole.shape + (1,) * nd)
    return not (dropped & full).any()


@pytest.mark.parametrize("nd, side, b", [(2, 11, 3), (2, 12, 5), (3, 7, 3)])
def test_drop_block_drops_whole_blocks_and_rescales_the_kept(nd, side, b):
    mt.manual_seed(nd + side)
    x = mt.tensor(np.ones((3, 4) + (side,) * nd))
    y = (ops.drop_block2d if nd == 2 else ops.drop_block3d)(x, 0.3, b).numpy()
    dropped = y == 0
    assert dropped.any() and not dropped.all()
    assert _dropped_covered_by_whole_blocks(dropped, b)
    np.testing.assert_allclose(y[~dropped], y.size / (1e-6 + (~dropped).sum()), rtol=1e-12)


def test_drop_block_fraction_dropped_is_what_gamma_gives():
    """With a fixed seed over many maps: the fraction zeroed equals the exact expectation
    mean over units of 1 - (1 - gamma)^(seeds whose block covers the unit), within 4 sigma."""
    p, b, h, w, maps = 0.2, 5, 20, 16, 400
    mt.manual_seed(7)
    y = ops.drop_block2d(mt.ones(maps, 1, h, w), p, b).numpy()
    gamma = p * h * w / (b * b * (h - b + 1) * (w - b + 1))

    def covers(size):  # number of block corners whose block covers each position
        return np.array([min(i, size - b) - max(0, i - b + 1) + 1 for i in range(size)])

    p_drop = 1 - (1 - gamma) ** np.outer(covers(h), covers(w))
    expected = p_drop.mean()
    frac = (y == 0).mean()
    assert abs(frac - expected) < 0.01


def test_drop_block_identity_in_eval_or_at_p0():
    x = mt.randn(2, 3, 5, 5)
    assert ops.drop_block2d(x, 0.5, 3, training=False) is x
    assert ops.drop_block2d(x, 0.0, 3) is x
    v = mt.randn(1, 2, 3, 3, 3)
    assert ops.drop_block3d(v, 0.5, 3, training=False) is v
    assert ops.DropBlock3d(0.5, 3).eval()(v) is v
    assert ops.DropBlock2d(0.5, 3).eval()(x) is x


def test_drop_block_modules_repr_and_forward():
    m2, m3 = ops.DropBlock2d(0.1, 3), ops.DropBlock3d(0.2, 5, inplace=True, eps=1e-3)
    assert repr(m2) == "DropBlock2d(p=0.1, block_size=3, inplace=False)"
    assert repr(m3) == "DropBlock3d(p=0.2, block_size=5, inplace=True)"
    assert m3.eps == 1e-3
    mt.manual_seed(0)
    a = m2(mt.ones(2, 2, 6, 6))
    mt.manual_seed(0)
    np.testing.assert_array_equal(a.numpy(), ops.drop_block2d(mt.ones(2, 2, 6, 6), 0.1, 3).numpy())
    mt.manual_seed(0)
    b = m3(mt.ones(1, 1, 5, 5, 5))
    mt.manual_seed(0)
    ref = ops.drop_block3d(mt.ones(1, 1, 5, 5, 5), 0.2, 5, eps=1e-3)
    np.testing.assert_array_equal(b.numpy(), ref.numpy())


def test_drop_block_errors():
    x = mt.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match=r"drop_block2d: drop probability .* got 1.5"):
        ops.drop_block2d(x, 1.5, 3)
    with pytest.raises(
        ValueError, match=r"drop_block2d: input should be 4 dimensional .*\(2, 5, 5\)"
    ):
        ops.drop_block2d(mt.randn(2, 5, 5), 0.1, 3)
    with pytest.raises(ValueError, match=r"drop_block3d: input should be 5 dimensional"):
        ops.drop_block3d(x, 0.1, 3)
    with pytest.raises(ValueError, match=r"block size should be odd, got 4 .*block_size=4"):
        ops.drop_block2d(x, 0.1, 4)
    with pytest.raises(ValueError, match=r"block size should be odd, got 4 .*block_size=5"):
        ops.drop_block2d(mt.randn(1, 1, 4, 6), 0.1, 5)  # clipped to the smaller side
    with pytest.raises(ValueError, match=r"block_size must be positive, got 0"):
        ops.drop_block2d(x, 0.1, 0)
    with pytest.raises(TypeError, match=r"block_size must be an int"):
        ops.drop_block2d(x, 0.1, 3.0)
    with pytest.raises(TypeError, match=r"expected a floating input"):
        ops.drop_block2d(mt.tensor(np.ones((1, 1, 3, 3), dtype=np.int64)), 0.1, 3)
    with pytest.raises(ValueError, match=r"DropBlock2d: drop probability"):
        ops.DropBlock2d(2.0, 3)
    with pytest.raises(ValueError, match=r"DropBlock2d\(p=0.1, block_size=3.*4 dimensional"):
        ops.DropBlock2d(0.1, 3)(mt.randn(5, 5))


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_masks_on_cupy_equal_numpy_from_the_same_seed():
    x = np.random.default_rng(2).standard_normal((3, 2, 9, 8))
    cases = [
        lambda t: ops.stochastic_depth(t, 0.4, "row"),
        lambda t: ops.stochastic_depth(t, 0.4, "batch"),
        lambda t: ops.drop_block2d(t, 0.3, 3),
        lambda t: ops.drop_block3d(t.reshape(3, 2, 3, 3, 8), 0.3, 3),
    ]
    for fn in cases:
        results = []
        for dev in ("cpu", "cuda"):
            t = mt.tensor(x, requires_grad=True, device=dev)
            mt.manual_seed(0)
            y = fn(t)
            (y * y).sum().backward()
            results.append((np.asarray(y), np.asarray(t.grad)))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
