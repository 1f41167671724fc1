"""Classic CNN building blocks: local_response_norm (AlexNet), channel_shuffle (ShuffleNet), and
the channel / alpha dropouts (dropout1d, dropout3d, alpha_dropout, feature_alpha_dropout). Each
equals a plain loop from its textbook definition, passes gradcheck in float64 over
hypothesis-drawn shapes and options, rejects bad input by name, and equals PyTorch's forward and
backward (or, for the random ones, PyTorch's formula given the mask) when torch is there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity

# --------------------------------------------------------------------------- local response norm


def loop_lrn(x, size, alpha, beta, k):
    """b[n, c, ...] = a[n, c, ...] / (k + alpha / size * sum of a[n, c', ...]^2 over the window
    c' = c - size // 2 .. c + (size - 1) // 2 inside 0 .. C - 1)^beta."""
    out = np.empty_like(x)
    c_total = x.shape[1]
    for n in range(x.shape[0]):
        for c in range(c_total):
            total = np.zeros(x.shape[2:])
            for c2 in range(c - size // 2, c + (size - 1) // 2 + 1):
                if 0 <= c2 < c_total:
                    total = total + x[n, c2] ** 2
            out[n, c] = x[n, c] / (k + alpha / size * total) ** beta
    return out


@st.composite
def lrn_case(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 6))
    spatial = draw(st.sampled_from([(), (3,), (2, 3)]))
    x = draw(arrays((n, c, *spatial) if spatial else (n, c, 1)))
    size = draw(st.integers(1, 6))
    alpha = draw(st.sampled_from([1e-4, 0.5, 2.0]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.3]))
    k = draw(st.sampled_from([1.0, 2.0, 0.5]))
    return x, size, alpha, beta, k


@SETTINGS
@given(case=lrn_case())
def test_local_response_norm_matches_loop_and_gradcheck(case):
    x, size, alpha, beta, k = case
    got = F.local_response_norm(mt.tensor(x), size, alpha, beta, k).numpy()
    np.testing.assert_allclose(got, loop_lrn(x, size, alpha, beta, k), rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a: L.F.local_response_norm(a, size, alpha, beta, k), [x])


@pytest.mark.parity
@SETTINGS
@given(case=lrn_case())
def test_local_response_norm_matches_torch(case):
    torch = pytest.importorskip("torch")
    x, size, alpha, beta, k = case
    check_parity(torch, lambda L, a: L.F.local_response_norm(a, size, alpha, beta, k), [x])


def test_local_response_norm_layer_and_errors():
    x = mt.randn(2, 5, 4, 4)
    layer = nn.LocalResponseNorm(3, alpha=0.1)
    assert repr(layer) == "LocalResponseNorm(3, alpha=0.1, beta=0.75, k=1.0)"
    np.testing.assert_allclose(layer(x).numpy(), loop_lrn(x.numpy(), 3, 0.1, 0.75, 1.0),
                               rtol=1e-5)  # fmt: skip
    assert layer(x).dtype == mt.float32 and list(layer.parameters()) == []
    with pytest.raises(ValueError, match=r"local_response_norm: expected input \(N, C, \*\) "
                                         r"with 3 or more dims, got shape \(2, 5\)"):  # fmt: skip
        F.local_response_norm(mt.randn(2, 5), 3)
    with pytest.raises(ValueError, match=r"size must be >= 1"):
        F.local_response_norm(x, 0)


# --------------------------------------------------------------------------- channel shuffle


@SETTINGS
@given(n=st.integers(1, 2), groups=st.integers(1, 4), per=st.integers(1, 3),
       spatial=st.sampled_from([(1,), (2,), (2, 3)]), data=st.data())  # fmt: skip
def test_channel_shuffle_moves_each_channel_where_shufflenet_says(n, groups, per, spatial, data):
    c = groups * per
    x = data.draw(arrays((n, c, *spatial)))
    got = F.channel_shuffle(mt.tensor(x), groups).numpy()
    for g in range(groups):
        for i in range(per):
            # channel i of group g lands at position i * groups + g
            np.testing.assert_array_equal(got[:, i * groups + g], x[:, g * per + i])
    check_grad(lambda L, a: L.F.channel_shuffle(a, groups), [x])


@pytest.mark.parity
def test_channel_shuffle_matches_torch_and_errors():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 2))
    for groups in (1, 2, 3, 6):
        check_parity(torch, lambda L, a, g=groups: L.F.channel_shuffle(a, g), [x])
    assert repr(nn.ChannelShuffle(3)) == repr(torch.nn.ChannelShuffle(3))


def test_channel_shuffle_errors():
    want = r"channel_shuffle: expected input \(N, C, \*\) with C divisible by groups=4, got shape"
    with pytest.raises(ValueError, match=want + r" \(2, 6, 3\)"):
        F.channel_shuffle(mt.randn(2, 6, 3), 4)
    with pytest.raises(ValueError, match=r"got shape \(6,\)"):
        nn.ChannelShuffle(2)(mt.randn(6))


# --------------------------------------------------------------------------- channel dropout


@pytest.mark.parametrize(
    "fn,shape,spatial",
    [(F.dropout1d, (4, 6, 50), 1), (F.dropout1d, (6, 50), 1), (F.dropout3d, (3, 5, 2, 4, 4), 3),
     (F.dropout3d, (5, 2, 4, 4), 3), (F.dropout2d, (3, 5, 4, 4), 2)],
)  # fmt: skip
def test_channel_dropouts_zero_whole_channels_and_scale_the_rest(fn, shape, spatial):
    p = 0.4
    x = mt.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    mt.manual_seed(0)
    y = fn(x, p)
    y.sum().backward()
    yn, xn, g = y.detach().numpy(), x.detach().numpy(), x.grad.numpy()
    channels = yn.reshape(*shape[:-spatial], -1)  # one row per (n, c): all zero or all kept
    dropped = (channels == 0).all(-1)
    kept = (channels != 0).all(-1)
    assert np.all(dropped | kept) and dropped.any() and kept.any()
    xc, gc = xn.reshape(channels.shape), g.reshape(channels.shape)
    np.testing.assert_allclose(channels[kept], xc[kept] / (1 - p))
    np.testing.assert_allclose(gc[kept], 1 / (1 - p))
    np.testing.assert_array_equal(gc[dropped], 0)
    assert fn(x, p, training=False) is x


def test_channel_dropout_layers_and_errors():
    assert nn.Dropout1d(0.2)(mt.ones(2, 3, 4)).shape == (2, 3, 4)
    layer = nn.Dropout3d().eval()
    x = mt.randn(1, 2, 2, 2, 2)
    assert layer(x) is x
    with pytest.raises(ValueError, match=r"dropout1d: expected a 3-D \(N, C, L\) or 2-D \(C, L\) "
                                         r"input, got shape \(2, 3, 4, 5\)"):  # fmt: skip
        F.dropout1d(mt.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"dropout3d: expected a 5-D \(N, C, D, H, W\)"):
        F.dropout3d(mt.randn(2, 3, 4))
    with pytest.raises(ValueError, match=r"between 0 and 1"):
        F.dropout1d(mt.randn(2, 3), 1.5)


# --------------------------------------------------------------------------- alpha dropout

ALPHA_PRIME = 1.7580993408473766  # scale * alpha of SELU (its saturation is -ALPHA_PRIME)


def _alpha_constants(p):
    a = ((1 - p) * (1 + p * ALPHA_PRIME**2)) ** -0.5
    return a, a * ALPHA_PRIME * p, a * ALPHA_PRIME * (p - 1)  # scale, kept shift, dropped value


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_follows_pytorchs_formula_and_keeps_selu_statistics(p):
    rng = np.random.default_rng(0)
    x = mt.tensor(rng.standard_normal(400_000), requires_grad=True)
    mt.manual_seed(1)
    y = F.alpha_dropout(x, p, training=True)
    y.backward(mt.ones(400_000, dtype=mt.float64))
    a, shift, dropped_value = _alpha_constants(p)
    xn, yn, g = x.detach().numpy(), y.detach().numpy(), x.grad.numpy()
    kept = g != 0
    np.testing.assert_allclose(yn[kept], a * xn[kept] + shift)
    np.testing.assert_allclose(yn[~kept], dropped_value)
    np.testing.assert_allclose(g[kept], a)
    assert abs((~kept).mean() - p) < 0.005
    # the point of alpha dropout: zero mean and unit variance in, zero mean and unit variance out
    assert abs(yn.mean()) < 0.01 and abs(yn.std() - 1) < 0.01


def test_feature_alpha_dropout_drops_whole_channels():
    x = mt.tensor(np.random.default_rng(0).standard_normal((8, 6, 3, 3)), requires_grad=True)
    mt.manual_seed(2)
    y = F.feature_alpha_dropout(x, 0.5, training=True)
    y.sum().backward()
    a, shift, dropped_value = _alpha_constants(0.5)
    g = x.grad.numpy().reshape(8, 6, -1)
    kept = (g == a).all(-1)
    assert np.all(kept | (g == 0).all(-1)) and kept.any() and (~kept).any()
    yn = y.detach().numpy().reshape(8, 6, -1)
    np.testing.assert_allclose(yn[~kept], dropped_value)
    np.testing.assert_allclose(yn[kept], a * x.detach().numpy().reshape(8, 6, -1)[kept] + shift)


def test_alpha_dropouts_eval_edges_layers_and_gradcheck():
    x = mt.randn(3, 4, dtype=mt.float64)
    assert F.alpha_dropout(x, 0.5) is x  # PyTorch's default: training=False
    assert F.alpha_dropout(x, 0.0, training=True) is x
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, training=True).numpy(), 0)
    layer = nn.AlphaDropout(0.3)
    assert layer.training and layer(x).shape == (3, 4)
    assert nn.FeatureAlphaDropout(0.3).eval()(x) is x

    def fixed(a):  # the same mask for every evaluation
        mt.manual_seed(3)
        return F.alpha_dropout(a, 0.3, training=True)

    assert mt.gradcheck(
        fixed, [mt.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)]
    )
    with pytest.raises(ValueError, match=r"feature_alpha_dropout: expected input \(N, C, \*\)"):
        F.feature_alpha_dropout(mt.randn(5), 0.5, training=True)


@pytest.mark.parity
def test_dropout_layer_reprs_match_torch():
    torch = pytest.importorskip("torch")
    for name in ("Dropout1d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout"):
        assert repr(getattr(nn, name)(0.25)) == repr(getattr(torch.nn, name)(0.25))
