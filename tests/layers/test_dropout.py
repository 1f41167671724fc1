"""Dropout and dropout2d: scaling, eval identity, edge probabilities, gradient = mask * scale."""

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available
from minitorch_cv.functional.dropout import dropout, dropout2d
from minitorch_cv.layers.dropout import Dropout


def test_survivors_are_scaled_by_one_over_keep_probability_and_rate_is_p():
    p = 0.3
    x = mt.tensor(np.random.default_rng(0).uniform(1, 2, 200_000).astype(np.float32))
    y = dropout(x, p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-6)
    # 200k Bernoulli draws: the drop rate is within 0.005 of p (about 5 standard deviations)
    assert abs((~kept).mean() - p) < 0.005
    # inverted dropout keeps the expectation
    assert abs(y.mean() / x.numpy().mean() - 1) < 0.01


def test_gradient_is_mask_times_scale():
    p = 0.4
    x = mt.tensor(np.random.default_rng(1).uniform(1, 2, (6, 7)), requires_grad=True)
    y = dropout(x, p)
    g = np.random.default_rng(2).standard_normal((6, 7))
    y.backward(mt.tensor(g))
    mask = (y.numpy() != 0) / (1 - p)
    np.testing.assert_allclose(x.grad.numpy(), g * mask, rtol=1e-12)


def test_gradcheck_with_a_fixed_mask():
    x = mt.randn(4, 5, dtype=mt.float64, requires_grad=True)

    def f(x):
        mt.manual_seed(7)  # the same mask at every evaluation
        return dropout(x, 0.5)

    assert mt.gradcheck(f, [x])


def test_eval_mode_and_p_zero_are_the_identity():
    x = mt.randn(3, 4)
    layer = Dropout(0.5)
    assert layer.eval()(x) is x
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    assert Dropout(0.0)(x) is x


def test_p_one_drops_everything_and_blocks_the_gradient():
    x = mt.randn(3, 4, requires_grad=True)
    y = dropout(x, 1.0)
    assert np.all(y.numpy() == 0) and np.isfinite(y.numpy()).all()
    y.sum().backward()
    assert np.all(x.grad.numpy() == 0)


def test_same_seed_same_mask():
    x = mt.ones(50, 50)
    mt.manual_seed(3)
    a = dropout(x, 0.5).numpy()
    mt.manual_seed(3)
    b = dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, dropout(x, 0.5).numpy())


def test_dropout_layer_follows_training_flag_and_dtype():
    layer = Dropout(0.5)
    x = mt.ones(1000, dtype=mt.float64)
    y = layer(x)
    assert y.dtype == np.float64 and set(np.unique(y.numpy())) <= {0.0, 2.0}
    assert repr(layer) == "Dropout(p=0.5, inplace=False)"


def test_dropout2d_zeroes_whole_channels():
    p = 0.5
    x = mt.tensor(
        np.random.default_rng(4).uniform(1, 2, (8, 16, 5, 5)).astype(np.float32), requires_grad=True
    )
    y = dropout2d(x, p)
    yn = y.numpy()
    per_channel_zero = (yn == 0).reshape(8, 16, -1)
    assert np.all(per_channel_zero.all(-1) | ~per_channel_zero.any(-1))  # all or nothing per (n, c)
    kept = ~per_channel_zero.all(-1)
    assert 0 < kept.sum() < kept.size
    np.testing.assert_allclose(yn[kept], x.numpy()[kept] * 2, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (yn != 0) * 2.0)
    # unbatched (C, H, W): one draw per channel
    z = dropout2d(mt.ones(32, 3, 3), 0.5).numpy().reshape(32, -1)
    assert np.all((z == 0).all(1) | (z == 2).all(1))


def test_bad_arguments():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        dropout(mt.ones(2), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        Dropout(-0.1)
    with pytest.raises(TypeError, match="floating"):
        dropout(mt.tensor([1, 2]), 0.5)
    with pytest.raises(
        ValueError,
        match=r"dropout2d: expected a 4-D \(N, C, H, W\) or 3-D \(C, H, W\) input, got shape \(2,",
    ):
        dropout2d(mt.ones(2, 3))


def test_dropout_repr_matches_torch():
    torch = pytest.importorskip("torch")
    assert repr(Dropout(0.25)) == repr(torch.nn.Dropout(0.25))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_same_seed_gives_the_same_mask_on_cpu_and_gpu():
    x = mt.ones(64, 64)
    mt.manual_seed(11)
    cpu = dropout(x, 0.3).numpy()
    mt.manual_seed(11)
    gpu = dropout(x.to("cuda"), 0.3)
    assert gpu.device == "cuda:0"
    np.testing.assert_array_equal(gpu.cpu().numpy(), cpu)
