"""minitorch_cv.init: gains, fans (conv weights included), the distributions' bounds and spreads."""

import math

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import init


def test_calculate_gain_values():
    assert init.calculate_gain("linear") == 1.0
    assert init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="unsupported nonlinearity 'gelu2'"):
        init.calculate_gain("gelu2")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", "x")


def test_calculate_gain_matches_torch():
    torch = pytest.importorskip("torch")
    cases = [("linear", None), ("tanh", None), ("relu", None), ("leaky_relu", None),
             ("leaky_relu", 0.2), ("selu", None), ("conv_transpose2d", None)]  # fmt: skip
    for name, param in cases:
        assert init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param)
        )


@pytest.mark.parametrize(
    "shape,fans",
    [
        ((10, 20), (20, 10)),  # Linear (out, in)
        ((16, 3, 5, 5), (75, 400)),  # Conv2d (C_out, C_in, KH, KW)
        (
            (32, 4, 3, 3),
            (36, 288),
        ),  # Conv2d with groups=8 over 32 input channels: C_in / groups = 4
        ((8, 6, 2, 2), (24, 32)),  # ConvTranspose2d weight (C_in, C_out / groups, KH, KW), as torch
    ],
)
def test_fan_in_fan_out_follow_pytorch(shape, fans):
    assert init._calculate_fan_in_and_fan_out(mt.zeros(*shape)) == fans


def test_fans_need_two_dims_and_mode_is_checked():
    with pytest.raises(ValueError, match=r"fewer than 2 dims, got shape \(5,\)"):
        init.xavier_uniform_(mt.zeros(5))
    with pytest.raises(ValueError, match="mode 'fan_avg' not supported"):
        init.kaiming_uniform_(mt.zeros(3, 3), mode="fan_avg")


def _sample(fill, shape=(256, 64, 3, 3), dtype=mt.float32):
    t = mt.zeros(*shape, dtype=dtype)
    out = fill(t)
    assert out is t and t.dtype == dtype  # in place, same dtype
    return t.numpy()


def test_kaiming_uniform_bound_and_std():
    fan_in = 64 * 9
    w = _sample(lambda t: init.kaiming_uniform_(t, nonlinearity="relu"))
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.99 * bound
    np.testing.assert_allclose(w.std(), math.sqrt(2 / fan_in), rtol=0.01)


def test_kaiming_uniform_with_a_sqrt5_is_pytorchs_one_over_sqrt_fan_in():
    w = _sample(lambda t: init.kaiming_uniform_(t, a=math.sqrt(5)), shape=(300, 200))
    assert np.abs(w).max() <= 1 / math.sqrt(200) * (1 + 1e-6)
    assert np.abs(w).max() > 0.99 / math.sqrt(200)


def test_kaiming_normal_std_fan_out():
    w = _sample(lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    np.testing.assert_allclose(w.std(), math.sqrt(2 / (256 * 9)), rtol=0.01)
    assert abs(w.mean()) < 0.01 * w.std()


def test_xavier_uniform_and_normal():
    fan_in, fan_out = 64 * 9, 256 * 9
    std = 2.0 * math.sqrt(2 / (fan_in + fan_out))
    wu = _sample(lambda t: init.xavier_uniform_(t, gain=2.0))
    assert np.abs(wu).max() <= math.sqrt(3) * std * (1 + 1e-6)
    np.testing.assert_allclose(wu.std(), std, rtol=0.01)
    wn = _sample(lambda t: init.xavier_normal_(t, gain=2.0), dtype=mt.float64)
    np.testing.assert_allclose(wn.std(), std, rtol=0.01)


def test_uniform_normal_constant_zeros_ones():
    u = _sample(lambda t: init.uniform_(t, -2.0, 3.0), shape=(10000,))
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.05
    n = _sample(lambda t: init.normal_(t, 1.0, 0.5), shape=(20000,))
    assert abs(n.mean() - 1) < 0.02 and abs(n.std() - 0.5) < 0.02
    assert np.all(_sample(lambda t: init.constant_(t, 0.25), shape=(3, 3)) == 0.25)
    assert np.all(_sample(init.ones_, shape=(2, 2), dtype=mt.float64) == 1)
    t = mt.ones(4)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)


def test_init_keeps_the_parameter_object_and_is_seeded():
    from minitorch_cv.layers.module import Parameter

    p = Parameter(mt.zeros(5, 5))
    arr = p.numpy()
    mt.manual_seed(0)
    init.kaiming_normal_(p)
    first = p.numpy().copy()
    assert p.numpy() is arr and p.requires_grad  # no autograd complaint: init writes the array
    mt.manual_seed(0)
    init.kaiming_normal_(p)
    np.testing.assert_array_equal(p.numpy(), first)
    init.kaiming_normal_(p, generator=np.random.default_rng(0))
    again = p.numpy().copy()
    init.kaiming_normal_(p, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(p.numpy(), again)


def test_integer_tensors_are_refused_and_empty_tensors_are_left_alone():
    with pytest.raises(TypeError, match="floating"):
        init.uniform_(mt.tensor([1, 2]))
    assert init.kaiming_uniform_(mt.zeros(0, 3)).shape == (0, 3)


def test_trunc_normal_stays_in_bounds_with_the_truncated_moments():
    mt.manual_seed(0)
    t = init.trunc_normal_(mt.empty(200, 500, dtype=mt.float64), mean=1.0, std=2.0, a=0.0, b=5.0)
    v = t.numpy()
    assert v.min() >= 0.0 and v.max() <= 5.0
    # the mean of N(1, 4) truncated to [0, 5]: mu + sigma (phi(alpha) - phi(beta)) / Z
    alpha, beta = -0.5, 2.0
    phi = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) for z in (alpha, beta)]
    z = 0.5 * (math.erf(beta / math.sqrt(2)) - math.erf(alpha / math.sqrt(2)))
    assert abs(v.mean() - (1.0 + 2.0 * (phi[0] - phi[1]) / z)) < 0.01
    with pytest.raises(ValueError, match=r"holds only .* rejection sampling would not end"):
        init.trunc_normal_(mt.empty(3), a=10.0, b=11.0)
    with pytest.raises(ValueError, match="needs a < b"):
        init.trunc_normal_(mt.empty(3), a=1.0, b=1.0)


@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (8, 2, 3, 3), (5, 2)])
def test_orthogonal_has_orthonormal_rows_or_columns_times_gain(shape):
    t = init.orthogonal_(mt.empty(*shape, dtype=mt.float64), gain=2.0)
    m = t.numpy().reshape(shape[0], -1)
    small = min(m.shape)
    gram = m @ m.T if m.shape[0] == small else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(small), atol=1e-12)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.orthogonal_(mt.empty(3))


def test_eye_and_dirac_make_identity_maps():
    np.testing.assert_array_equal(init.eye_(mt.empty(2, 3)).numpy(), np.eye(2, 3))
    x = mt.randn(2, 4, 6, 6)
    w = init.dirac_(mt.empty(4, 4, 3, 3))
    np.testing.assert_allclose(mt.F.conv2d(x, w, padding=1).numpy(), x.numpy(), atol=1e-6)
    # groups=2: each group's first two output channels copy input channels 0 and 1 of its slice
    w = init.dirac_(mt.empty(6, 2, 3, 3), groups=2)
    y = mt.F.conv2d(x, w, padding=1, groups=2).numpy()
    np.testing.assert_allclose(y[:, [0, 1, 3, 4]], x.numpy(), atol=1e-6)
    np.testing.assert_array_equal(y[:, [2, 5]], 0.0)
    with pytest.raises(ValueError, match="dirac_: needs a conv weight"):
        init.dirac_(mt.empty(3, 3))


def test_new_initialisers_match_torch_where_deterministic():
    torch = pytest.importorskip("torch")
    for shape, groups in [((4, 4, 3, 3), 1), ((6, 2, 3, 3), 2), ((3, 5, 1, 1), 1)]:
        ours = init.dirac_(mt.empty(*shape), groups=groups).numpy()
        theirs = torch.nn.init.dirac_(torch.empty(*shape), groups=groups).numpy()
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(init.eye_(mt.empty(3, 2)).numpy(),
                                  torch.nn.init.eye_(torch.empty(3, 2)).numpy())  # fmt: skip


def test_skip_init_leaves_tensors_untouched_and_restores_on_exit():
    w = mt.tensor(np.full((3, 4), 7.0))
    with init.skip_init():
        for fill in (init.kaiming_uniform_, init.xavier_normal_, init.zeros_, init.orthogonal_,
                     lambda t: init.trunc_normal_(t, std=0.1), init.eye_):  # fmt: skip
            assert fill(w) is w
        with init.skip_init():
            pass
        init.ones_(w)  # still inside the outer block after the inner one ends
    assert (w.numpy() == 7.0).all()
    try:
        with init.skip_init():
            raise KeyError
    except KeyError:
        pass
    init.ones_(w)
    assert (w.numpy() == 1.0).all()
