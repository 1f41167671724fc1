"""nn.utils.weight_norm / spectral_norm (and their remove_*), F.embedding and nn.Embedding.

Each forward equals a plain NumPy reference written here, the gradients pass a float64
gradcheck, and with PyTorch installed outputs, gradients, buffers and state_dict keys equal
PyTorch's for the same weights (spectral_norm: with PyTorch's random u, v copied into ours).
"""

from __future__ import annotations

import copy
import tracemalloc
import warnings
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies import FEW, SETTINGS, seeds

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


def _rng(seed):
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------- layers to wrap

# (kind, cin, cout, k) -> our layer, torch's layer and an input shape
KINDS = ("linear", "conv1d", "conv2d", "conv_transpose2d")


@st.composite
def layer_specs(draw):
    return (
        draw(st.sampled_from(KINDS)),
        draw(st.integers(1, 3)),
        draw(st.integers(1, 4)),
        draw(st.integers(1, 3)),
    )


def _build(lib, spec):
    kind, cin, cout, k = spec
    if kind == "linear":
        return lib.Linear(cin, cout).double()
    if kind == "conv1d":
        return lib.Conv1d(cin, cout, k).double()
    if kind == "conv2d":
        return lib.Conv2d(cin, cout, k).double()
    return lib.ConvTranspose2d(cin, cout, k).double()


def _input(spec, seed):
    kind, cin, _, k = spec
    shape = {
        "linear": (2, cin),
        "conv1d": (2, cin, k + 2),
        "conv2d": (2, cin, k + 1, k + 2),
        "conv_transpose2d": (2, cin, 2, 3),
    }[kind]
    return _rng(seed).standard_normal(shape)


def _layer_op(spec, x, w, b):
    """The layer's own op with an explicit weight: what the reparametrised layer must equal."""
    kind = spec[0]
    if kind == "linear":
        return x @ w.T + b  # the plain reference
    op = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv_transpose2d": F.conv_transpose2d}[kind]
    return op(mt.tensor(x), mt.tensor(w), mt.tensor(b)).numpy()


def _torch_twin(torch, ours, spec):
    theirs = _build(torch.nn, spec)
    theirs.load_state_dict(
        {k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()}
    )
    return theirs


def _torch_weight_norm(torch, m, **kw):
    with warnings.catch_warnings():  # torch deprecates it in favour of parametrizations
        warnings.simplefilter("ignore", FutureWarning)
        return torch.nn.utils.weight_norm(m, **kw)


def _backward_both(ours, theirs, x, seed):
    """Run both layers on x, back-propagate the same random output weights, return outputs."""
    import torch

    xa, xb = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(xa), theirs(xb)
    g = _rng(seed).standard_normal(ya.shape)
    (ya * mt.tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-10, atol=1e-12)
    return ya.numpy(), yb.detach().numpy()


# --------------------------------------------------------------------------- weight_norm


def _norm_except_dim_ref(v, dim):
    if dim is None:
        return np.sqrt((v * v).sum())
    axes = tuple(i for i in range(v.ndim) if i != dim)
    return np.sqrt((v * v).sum(axis=axes, keepdims=True))


def _dims(spec):
    ndim = 2 if spec[0] == "linear" else 3 if spec[0] == "conv1d" else 4
    return st.sampled_from([None, *range(ndim), -ndim])


@FEW
@given(spec=layer_specs(), data=st.data(), seed=seeds)
def test_weight_norm_forward_equals_g_v_over_norm(spec, data, seed):
    dim = data.draw(_dims(spec))
    m = _build(nn, spec)
    w0 = m.weight.numpy().copy()
    nn.utils.weight_norm(m, dim=dim)
    want_dim = None if dim is None else dim % w0.ndim
    assert "weight" not in m._parameters
    np.testing.assert_allclose(m.weight_g.numpy(), _norm_except_dim_ref(w0, want_dim))
    np.testing.assert_array_equal(m.weight_v.numpy(), w0)
    np.testing.assert_allclose(m.weight.numpy(), w0, rtol=1e-12)  # unchanged at first
    r = _rng(seed)
    with mt.no_grad():  # new g and v: the weight follows before the next forward
        m.weight_g.copy_(r.uniform(0.5, 2, m.weight_g.shape))
        m.weight_v.copy_(r.standard_normal(m.weight_v.shape))
    g, v = m.weight_g.numpy(), m.weight_v.numpy()
    w = g * v / _norm_except_dim_ref(v, want_dim)
    x = _input(spec, seed)
    y = m(mt.tensor(x)).numpy()
    np.testing.assert_allclose(m.weight.numpy(), w, rtol=1e-12)
    np.testing.assert_allclose(y, _layer_op(spec, x, w, m.bias.numpy()), rtol=1e-10, atol=1e-12)


@FEW
@given(spec=layer_specs(), data=st.data(), seed=seeds)
def test_weight_norm_gradcheck_float64(spec, data, seed):
    dim = data.draw(_dims(spec))
    m = nn.utils.weight_norm(_build(nn, spec), dim=dim)
    x = mt.tensor(_input(spec, seed), requires_grad=True)
    # gradcheck perturbs g and v in place; the pre-hook recomputes the weight every call
    assert mt.gradcheck(lambda x, g, v, b: m(x), [x, m.weight_g, m.weight_v, m.bias])


@FEW
@given(spec=layer_specs(), data=st.data(), seed=seeds)
def test_weight_norm_matches_torch_and_remove_keeps_outputs(spec, data, seed):
    torch = pytest.importorskip("torch")
    dim = data.draw(_dims(spec))
    ours = _build(nn, spec)
    theirs = _torch_weight_norm(torch, _torch_twin(torch, ours, spec), dim=dim)
    nn.utils.weight_norm(ours, dim=dim)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # bias, weight_g, weight_v
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert ours.weight_g.shape == tuple(theirs.weight_g.shape)
    x = _input(spec, seed)
    ya, yb = _backward_both(ours, theirs, x, seed)
    np.testing.assert_allclose(ya, yb, rtol=1e-10, atol=1e-12)
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(
            getattr(ours, name).grad.numpy(),
            getattr(theirs, name).grad.numpy(),
            rtol=1e-9,
            atol=1e-11,
            err_msg=name,
        )
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # bias, weight
    assert isinstance(ours.weight, nn.Parameter) and not ours._forward_pre_hooks
    np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), ya, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)


def test_weight_norm_trains_g_and_v_with_an_optimizer():
    m = nn.utils.weight_norm(nn.Linear(3, 2))
    opt = mt.optim.SGD(m.parameters(), lr=0.1)
    x = mt.randn(4, 3)
    before = m(x).numpy()
    (m(x) ** 2).sum().backward()
    opt.step()
    assert {n for n, _ in m.named_parameters()} == {"bias", "weight_g", "weight_v"}
    assert not np.allclose(m(x).numpy(), before)


def test_weight_norm_deepcopy_is_independent_of_the_original():
    """The copy's hook recomputes the copy's weight from the copy's g and v (as PyTorch)."""
    m = nn.utils.weight_norm(nn.Linear(3, 2).double())
    twin = copy.deepcopy(m)
    x = mt.tensor(_rng(0).standard_normal((4, 3)))
    y = m(x).numpy()
    np.testing.assert_array_equal(twin(x).numpy(), y)
    assert twin.weight_g is not m.weight_g and twin.weight_v is not m.weight_v
    with mt.no_grad():
        m.weight_g.mul_(2.0)  # the original changes: the copy does not follow
    np.testing.assert_array_equal(twin(x).numpy(), y)
    assert not np.allclose(m(x).numpy(), y)
    (twin(x) ** 2).sum().backward()  # and the copy trains its own g, v
    assert twin.weight_g.grad is not None and m.weight_g.grad is None
    nn.utils.remove_weight_norm(twin)  # the copy's hook is its own to remove
    assert m._forward_pre_hooks and not twin._forward_pre_hooks


def test_weight_norm_state_dict_loads_into_a_fresh_module():
    m = nn.utils.weight_norm(nn.Conv2d(2, 3, 3).double(), dim=1)
    with mt.no_grad():
        m.weight_g.copy_(_rng(1).uniform(0.5, 2, m.weight_g.shape))
    fresh = nn.utils.weight_norm(nn.Conv2d(2, 3, 3).double(), dim=1)
    fresh.load_state_dict(m.state_dict())
    x = mt.tensor(_rng(2).standard_normal((1, 2, 5, 5)))
    np.testing.assert_array_equal(fresh(x).numpy(), m(x).numpy())
    np.testing.assert_array_equal(fresh.weight.numpy(), m.weight.numpy())


def test_weight_norm_loads_a_torch_state_dict_directly():
    torch = pytest.importorskip("torch")
    spec = ("conv2d", 2, 3, 3)
    theirs = _torch_weight_norm(torch, _build(torch.nn, spec), dim=0)
    with torch.no_grad():
        theirs.weight_g.mul_(1.5)
    ours = nn.utils.weight_norm(_build(nn, spec), dim=0)
    ours.load_state_dict(theirs.state_dict())  # torch tensors, torch's names
    x = _input(spec, 3)
    ya, yb = _backward_both(ours, theirs, x, 3)
    np.testing.assert_allclose(ya, yb, rtol=1e-10, atol=1e-12)
    for name in ("weight_g", "weight_v", "bias"):
        np.testing.assert_allclose(
            getattr(ours, name).grad.numpy(), getattr(theirs, name).grad.numpy(), rtol=1e-9,
            atol=1e-11, err_msg=name,
        )  # fmt: skip


def test_weight_norm_bad_use_raises_clear_errors():
    m = nn.utils.weight_norm(nn.Linear(3, 2))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        nn.utils.weight_norm(m)
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        nn.utils.remove_weight_norm(m, "bias")
    with pytest.raises(AttributeError, match="Linear has no parameter 'kernel'"):
        nn.utils.weight_norm(nn.Linear(3, 2), name="kernel")
    with pytest.raises(ValueError, match="parameter 'bias' of Linear is None"):
        nn.utils.weight_norm(nn.Linear(3, 2, bias=False), name="bias")
    with pytest.raises(IndexError, match="dim 2 out of range for a weight with 2 dimensions"):
        nn.utils.weight_norm(nn.Linear(3, 2), dim=2)


# --------------------------------------------------------------------------- spectral_norm


def _spectral_ref(w, u, v, dim, n_iter, eps, training):
    """weight / sigma after n_iter power-iteration steps (training only), and the new u, v."""
    mat = np.moveaxis(w, dim, 0).reshape(w.shape[dim], -1)
    if training:
        for _ in range(n_iter):
            v = mat.T @ u
            v = v / max(np.linalg.norm(v), eps)
            u = mat @ v
            u = u / max(np.linalg.norm(u), eps)
    return w / (u @ mat @ v), u, v


@FEW
@given(spec=layer_specs(), n_iter=st.integers(1, 3), seed=seeds)
def test_spectral_norm_forward_equals_power_iteration_reference(spec, n_iter, seed):
    m = _build(nn, spec)
    nn.utils.spectral_norm(m, n_power_iterations=n_iter)
    dim = 1 if spec[0] == "conv_transpose2d" else 0  # PyTorch's default: the output dim
    w = m.weight_orig.numpy()
    assert m.weight_u.shape == (w.shape[dim],) and m.weight_v.shape == (w.size // w.shape[dim],)
    np.testing.assert_allclose(np.linalg.norm(m.weight_u.numpy()), 1, rtol=1e-12)
    np.testing.assert_array_equal(m.weight.numpy(), w)  # the plain values until a forward
    x = _input(spec, seed)
    for training in (True, True, False):
        m.train(training)
        u, v = m.weight_u.numpy().copy(), m.weight_v.numpy().copy()
        want, u2, v2 = _spectral_ref(w, u, v, dim, n_iter, 1e-12, training)
        y = m(mt.tensor(x)).numpy()
        np.testing.assert_allclose(m.weight_u.numpy(), u2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.weight_v.numpy(), v2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(m.weight.numpy(), want, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            y, _layer_op(spec, x, want, m.bias.numpy()), rtol=1e-9, atol=1e-11
        )


def test_spectral_norm_sigma_converges_to_the_largest_singular_value():
    # seeded: about 1.5 % of random draws have s2 / s1 > 0.98, too close for 200 iterations
    mt.manual_seed(0)
    m = nn.utils.spectral_norm(nn.Conv2d(3, 5, 3).double(), n_power_iterations=200)
    m(mt.randn(1, 3, 4, 4, dtype=mt.float64))
    mat = m.weight_orig.numpy().reshape(5, -1)
    top = np.linalg.svd(mat, compute_uv=False)[0]
    assert np.linalg.svd(m.weight.numpy().reshape(5, -1), compute_uv=False)[0] == pytest.approx(1)
    np.testing.assert_allclose(m.weight_u.numpy() @ mat @ m.weight_v.numpy(), top, rtol=1e-8)


@FEW
@given(spec=layer_specs(), seed=seeds)
def test_spectral_norm_gradcheck_float64_with_u_v_constant(spec, seed):
    m = nn.utils.spectral_norm(_build(nn, spec))
    m(mt.tensor(_input(spec, seed)))  # one power-iteration step, then hold u, v
    m.eval()  # eval: no power iteration, so the function of weight_orig is fixed
    x = mt.tensor(_input(spec, seed + 1), requires_grad=True)
    assert mt.gradcheck(lambda x, w, b: m(x), [x, m.weight_orig, m.bias])


@FEW
@given(spec=layer_specs(), n_iter=st.integers(1, 2), seed=seeds)
def test_spectral_norm_matches_torch_with_their_u_v(spec, n_iter, seed):
    torch = pytest.importorskip("torch")
    ours = _build(nn, spec)
    theirs = _torch_twin(torch, ours, spec)
    nn.utils.spectral_norm(ours, n_power_iterations=n_iter)
    torch.nn.utils.spectral_norm(theirs, n_power_iterations=n_iter)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # bias, weight_orig, weight_u/v
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    with mt.no_grad():
        ours.weight_u.copy_(theirs.weight_u.numpy())
        ours.weight_v.copy_(theirs.weight_v.numpy())
    x = _input(spec, seed)
    for mode in ("train", "train", "eval"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        ours.zero_grad()
        theirs.zero_grad()
        ya, yb = _backward_both(ours, theirs, x, seed)
        np.testing.assert_allclose(ya, yb, rtol=1e-10, atol=1e-12)
        for name in ("weight_orig", "bias"):
            np.testing.assert_allclose(
                getattr(ours, name).grad.numpy(),
                getattr(theirs, name).grad.numpy(),
                rtol=1e-9,
                atol=1e-11,
                err_msg=f"{mode}: {name}",
            )
        for name in ("weight_u", "weight_v"):
            np.testing.assert_allclose(
                getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-10, atol=1e-12
            )
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())  # bias, weight
    np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), ya, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("kind", ["linear", "conv2d", "conv_transpose2d"])
def test_spectral_norm_loads_a_torch_state_dict_directly(kind):
    """theirs.state_dict() (weight_orig, weight_u, weight_v, bias: torch tensors, after a few
    training forwards moved u, v) loads as is; both then compute the same weights, outputs,
    gradients and power-iteration updates, in eval and in training mode."""
    torch = pytest.importorskip("torch")
    spec = (kind, 2, 3, 2)
    theirs = torch.nn.utils.spectral_norm(_build(torch.nn, spec))
    for seed in range(3):
        theirs(torch.tensor(_input(spec, seed)))
    ours = nn.utils.spectral_norm(_build(nn, spec))
    state = theirs.state_dict()
    assert list(ours.state_dict()) == list(state)
    ours.load_state_dict(state)
    for name in ("weight_orig", "weight_u", "weight_v", "bias"):
        np.testing.assert_array_equal(getattr(ours, name).numpy(), state[name].numpy())
    x = _input(spec, 7)
    for mode in ("eval", "train", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        ours.zero_grad()
        theirs.zero_grad()
        ya, yb = _backward_both(ours, theirs, x, 7)
        np.testing.assert_allclose(ya, yb, rtol=1e-10, atol=1e-12, err_msg=mode)
        np.testing.assert_allclose(
            ours.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(), rtol=1e-9,
            atol=1e-11, err_msg=mode,
        )  # fmt: skip
        for name in ("weight_u", "weight_v"):
            np.testing.assert_allclose(
                getattr(ours, name).numpy(), getattr(theirs, name).numpy(), rtol=1e-10,
                atol=1e-12, err_msg=f"{mode}: {name}",
            )  # fmt: skip


def test_spectral_norm_two_training_forwards_then_one_backward_as_in_a_gan():
    """D(real) and D(fake) each update u, v; the first graph still back-propagates with the
    u, v it used (copies, as PyTorch's clone), and the gradients equal PyTorch's."""
    torch = pytest.importorskip("torch")
    spec = ("linear", 3, 4, 1)
    ours = _build(nn, spec)
    theirs = _torch_twin(torch, ours, spec)
    nn.utils.spectral_norm(ours)
    torch.nn.utils.spectral_norm(theirs)
    with mt.no_grad():
        ours.weight_u.copy_(theirs.weight_u.numpy())
        ours.weight_v.copy_(theirs.weight_v.numpy())
    x1, x2 = _rng(0).standard_normal((2, 2, 3))
    (ours(mt.tensor(x1)).sum() - ours(mt.tensor(x2)).sum()).backward()
    (theirs(torch.tensor(x1)).sum() - theirs(torch.tensor(x2)).sum()).backward()
    np.testing.assert_allclose(
        ours.weight_orig.grad.numpy(), theirs.weight_orig.grad.numpy(), rtol=1e-9
    )


def test_spectral_norm_options_and_bad_use():
    m = nn.utils.spectral_norm(nn.ConvTranspose2d(2, 5, 3))
    assert m.weight_u.shape == (5,) and m.weight_v.shape == (2 * 9,)  # dim 1: out channels
    m = nn.utils.spectral_norm(nn.Conv2d(2, 5, 3), dim=1)
    assert m.weight_u.shape == (2,)
    m = nn.Linear(3, 2)
    weight = m.weight
    nn.utils.spectral_norm(m)
    assert m.weight_orig is weight  # an optimizer built before keeps its parameter
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        nn.utils.spectral_norm(m)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="n_power_iterations to be positive"):
        nn.utils.spectral_norm(nn.Linear(3, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match="dim 3 out of range"):
        nn.utils.spectral_norm(nn.Linear(3, 2), dim=3)


# --------------------------------------------------------------------------- embedding


def _embedding_ref(idx, w, g, padding_idx=None, scale_grad_by_freq=False):
    """out[pos] = w[idx[pos]]; d w[r] = sum of g[pos] over idx[pos] == r (by loops)."""
    out = np.zeros(idx.shape + w.shape[1:])
    gw = np.zeros_like(w)
    counts = Counter(idx.ravel().tolist())
    for pos in np.ndindex(*idx.shape):
        r = int(idx[pos])
        out[pos] = w[r]
        if r != padding_idx:
            gw[r] += g[pos] / (counts[r] if scale_grad_by_freq else 1)
    return out, gw


def _renorm_ref(w, idx, max_norm, p):
    w = w.copy()
    for r in sorted(set(idx.ravel().tolist())):
        norm = np.abs(w[r]).max() if p == np.inf else (np.abs(w[r]) ** p).sum() ** (1 / p)
        if norm > max_norm:
            w[r] *= max_norm / (norm + 1e-7)
    return w


@st.composite
def embedding_cases(draw):
    num = draw(st.integers(1, 8))
    dim = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=0, max_size=3)))
    pad = draw(st.one_of(st.none(), st.integers(-num, num - 1)))
    return num, dim, shape, pad, draw(st.booleans()), draw(seeds)


@SETTINGS
@given(case=embedding_cases())
def test_embedding_matches_loop_reference(case):
    num, dim, shape, pad, scale, seed = case
    r = _rng(seed)
    w = r.standard_normal((num, dim))
    idx = r.integers(0, num, shape)
    g = r.standard_normal(shape + (dim,))
    weight = mt.tensor(w, requires_grad=True)
    y = F.embedding(mt.tensor(idx), weight, padding_idx=pad, scale_grad_by_freq=scale)
    (y * mt.tensor(g)).sum().backward()
    out, gw = _embedding_ref(idx, w, g, None if pad is None else pad % num, scale)
    assert y.shape == shape + (dim,)
    np.testing.assert_array_equal(y.numpy(), out)
    np.testing.assert_allclose(weight.grad.numpy(), gw, rtol=1e-12, atol=1e-14)


@FEW
@given(case=embedding_cases())
def test_embedding_gradcheck_float64(case):
    num, dim, shape, _, _, seed = case
    r = _rng(seed)
    weight = mt.tensor(r.standard_normal((num, dim)), requires_grad=True)
    idx = mt.tensor(r.integers(0, num, shape))
    assert mt.gradcheck(lambda w: F.embedding(idx, w), [weight])


@SETTINGS
@given(
    case=embedding_cases(),
    max_norm=st.one_of(st.none(), st.floats(0.1, 3)),
    p=st.sampled_from([1.0, 2.0, 3.0, np.inf]),
)
def test_embedding_matches_torch(case, max_norm, p):
    torch = pytest.importorskip("torch")
    num, dim, shape, pad, scale, seed = case
    kw = dict(padding_idx=pad, max_norm=max_norm, norm_type=p, scale_grad_by_freq=scale)
    ours, theirs = (
        nn.Embedding(num, dim, **kw).double(),
        torch.nn.Embedding(num, dim, **kw).double(),
    )
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    r = _rng(seed)
    w = r.standard_normal((num, dim)) * 2
    with mt.no_grad():
        ours.weight.copy_(w)
    theirs.weight.data = torch.tensor(w)
    idx = r.integers(0, num, shape)
    ya, yb = ours(mt.tensor(idx)), theirs(torch.tensor(idx))
    g = r.standard_normal(ya.shape)
    (ya * mt.tensor(g)).sum().backward()
    (yb * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)
    if max_norm is not None:  # rows read were renormalised in place, the others left alone
        np.testing.assert_allclose(
            ours.weight.numpy(), _renorm_ref(w, idx, max_norm, p), rtol=1e-12
        )


def test_embedding_init_and_from_pretrained_as_pytorch():
    mt.manual_seed(0)
    m = nn.Embedding(400, 50, padding_idx=-2)
    assert m.padding_idx == 398 and m.weight.shape == (400, 50) and m.weight.dtype == np.float32
    w = m.weight.numpy()
    assert not w[398].any() and w[397].any()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02  # N(0, 1)
    table = mt.tensor(np.arange(12.0).reshape(4, 3))
    frozen = nn.Embedding.from_pretrained(table, padding_idx=0)
    assert not frozen.weight.requires_grad and frozen.weight[0].numpy().tolist() == [0, 1, 2]
    assert np.shares_memory(frozen.weight.numpy(), table.numpy())  # shared, as in PyTorch
    np.testing.assert_array_equal(frozen(mt.tensor([[3, 0]])).numpy(), [[[9, 10, 11], [0, 1, 2]]])
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    x = mt.tensor([1, 1, 3])
    trained = nn.Embedding(4, 2, padding_idx=1)
    trained(x).sum().backward()
    np.testing.assert_array_equal(trained.weight.grad.numpy(), [[0, 0], [0, 0], [0, 0], [1, 1]])


def test_embedding_bad_input_raises_clear_errors():
    m = nn.Embedding(4, 2)
    with pytest.raises(
        ValueError, match=r"Embedding\(4, 2\): .*integer indices.*float32 of shape \(2, 3\)"
    ):
        m(mt.zeros(2, 3))
    with pytest.raises(IndexError, match=r"Embedding\(4, 2\): .*index 4 is out of range .* 4 rows"):
        m(mt.tensor([[0, 4]]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        F.embedding(mt.tensor([-1, 2]), m.weight)
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        nn.Embedding(4, 2, padding_idx=4)
    with pytest.raises(ValueError, match="weight must be a 2-D Tensor"):
        F.embedding(mt.tensor([0]), mt.zeros(4))
    with pytest.raises(ValueError, match=r"_weight has shape \(3, 2\), expected \(4, 2\)"):
        nn.Embedding(4, 2, _weight=mt.zeros(3, 2))
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        nn.Embedding.from_pretrained(mt.zeros(4))
    # sparse=True (PyTorch's sparse gradient) trains with the same, dense, gradient values
    dense, sparse = nn.Embedding(4, 2), nn.Embedding(4, 2, sparse=True)
    sparse.weight.data[...] = dense.weight.numpy()
    idx = mt.tensor(np.array([1, 3, 1]))
    for m in (dense, sparse):
        m(idx).sum().backward()
    np.testing.assert_array_equal(sparse.weight.grad.numpy(), dense.weight.grad.numpy())
    assert repr(sparse) == "Embedding(4, 2, sparse=True)"


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8])
def test_embedding_takes_other_integer_index_dtypes(dtype):
    """int32 (and narrower) indices give int64's outputs and gradients, scale_grad_by_freq and
    padding_idx included; int32 also equals PyTorch (an IntTensor index)."""
    r = _rng(4)
    w = r.standard_normal((7, 3))
    idx = r.integers(0, 7, (4, 5))
    g = r.standard_normal((4, 5, 3))
    kw = dict(padding_idx=2, scale_grad_by_freq=True)

    def run(index):
        weight = mt.tensor(w, requires_grad=True)
        y = F.embedding(mt.tensor(index), weight, **kw)
        (y * mt.tensor(g)).sum().backward()
        return y.numpy(), weight.grad.numpy()

    (y64, gw64), (y, gw) = run(idx), run(idx.astype(dtype))
    np.testing.assert_array_equal(y, y64)
    np.testing.assert_array_equal(gw, gw64)
    np.testing.assert_allclose(gw, _embedding_ref(idx, w, g, 2, True)[1], rtol=1e-12, atol=1e-14)
    torch = pytest.importorskip("torch")
    if dtype is np.int32:
        tw = torch.tensor(w, requires_grad=True)
        ty = torch.nn.functional.embedding(torch.tensor(idx.astype(np.int32)), tw, **kw)
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(gw, tw.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_embedding_backward_sums_in_the_gradient_dtype_without_big_temporaries():
    """float32 in, float32 out, and the backward's peak allocation stays near the (V, D) result:
    no (N, D) int64 positions, no float64 (V, D) table."""
    r = _rng(5)
    num, dim, n = 20000, 64, 4096
    weight = mt.tensor(r.standard_normal((num, dim)).astype(np.float32), requires_grad=True)
    idx = r.integers(0, 50, n)  # many repeats: each row sums about 80 gradients
    g = r.standard_normal((n, dim)).astype(np.float32)
    y = F.embedding(mt.tensor(idx), weight)
    tracemalloc.start()
    try:
        y.backward(mt.tensor(g))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    table = num * dim * 4
    assert weight.grad.dtype == np.float32
    assert peak < 2.5 * table, peak / table  # the gradient itself and its copy into .grad
    want = _embedding_ref(idx, weight.numpy().astype(np.float64), g.astype(np.float64))[1]
    np.testing.assert_allclose(weight.grad.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("p", [1.0, 2.0, np.inf])
def test_embedding_max_norm_float32_is_bit_identical_to_torch(p):
    """torch's embedding_renorm_: the row norm in float32, the scale max_norm / (norm + 1e-7)
    rounded to float32, one float32 multiply. Entries are multiples of 1/8, so every norm (bar
    p=2's square root, correctly rounded in both) is exact whatever the order of the sum."""
    torch = pytest.importorskip("torch")
    r = _rng(6)
    w = (r.integers(-64, 65, (2000, 16)) / 8).astype(np.float32)
    idx = r.integers(0, 2000, (3, 700))
    ours = mt.tensor(w.copy())
    theirs = torch.tensor(w.copy())
    ya = F.embedding(mt.tensor(idx), ours, max_norm=5.0, norm_type=p)
    yb = torch.nn.functional.embedding(torch.tensor(idx), theirs, max_norm=5.0, norm_type=p)
    changed = (w != theirs.numpy()).any(1)
    assert changed.sum() > 500  # most rows read were renormalised
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_embedding_max_norm_float32_close_to_torch_for_any_values():
    """With arbitrary values the float32 norms may differ from torch's in the last bit (their
    sums run in another order); where they agree the renormalised rows are bit-identical."""
    torch = pytest.importorskip("torch")
    w = (_rng(7).standard_normal((2000, 24)) * 2).astype(np.float32)
    idx = np.arange(2000)
    ours, theirs = mt.tensor(w.copy()), torch.tensor(w.copy())
    F.embedding(mt.tensor(idx), ours, max_norm=1.5)
    torch.nn.functional.embedding(torch.tensor(idx), theirs, max_norm=1.5)
    same_norm = np.sqrt((w * w).sum(1)) == torch.tensor(w).norm(dim=1).numpy()
    assert same_norm.sum() > 1000
    np.testing.assert_array_equal(ours.numpy()[same_norm], theirs.numpy()[same_norm])
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-7)


def test_embedding_max_norm_bumps_the_weight_version_as_torch():
    """The in-place renorm counts as a change of the weight: a graph that saved the weight
    refuses to back-propagate (PyTorch: "modified by an inplace operation"); the embedding's own
    backward reads only the indices, so a later renorm leaves it valid."""
    weight = mt.tensor(_rng(8).standard_normal((5, 3)) * 3, requires_grad=True)
    saved = (weight * weight).sum()  # Mul saves the weight
    out = F.embedding(mt.tensor([0, 1]), weight, max_norm=0.5)
    F.embedding(mt.tensor([1, 2]), weight, max_norm=0.25)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        saved.backward()
    out.sum().backward()
    np.testing.assert_array_equal(weight.grad.numpy()[:3], [[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    unchanged = mt.tensor(np.ones((2, 3)), requires_grad=True)
    before = unchanged._version
    F.embedding(mt.tensor([0]), unchanged, max_norm=10.0)  # nothing to rescale: still a write
    assert unchanged._version == before + 1  # as torch, whose renorm_ always bumps


# --------------------------------------------------------------------------- on the GPU


@pytest.mark.parametrize("device", DEVICES)
def test_reparametrised_layers_and_embedding_on_each_device(device):
    """The same forward and gradients on the device as the float64 CPU computation."""
    mt.manual_seed(0)
    emb = nn.Embedding(6, 4, padding_idx=0).double()
    conv = nn.utils.weight_norm(nn.Conv2d(4, 5, 3).double())
    lin = nn.utils.spectral_norm(nn.Linear(5, 2).double())
    state = [*emb.parameters(), *conv.parameters(), *lin.parameters(), *lin.buffers()]
    cpu = [t.numpy().copy() for t in state]
    idx = np.array([[0, 1, 2, 2, 5], [3, 3, 3, 4, 0], [1, 2, 3, 4, 5]])

    def run(dev):
        for t, a in zip(state, cpu):
            t.grad = None
            t.data = mt.tensor(a).to(dev)
        e = emb(mt.tensor(idx).to(dev))  # (3, 5, 4)
        h = conv(e.permute(2, 0, 1).unsqueeze(0))  # (1, 5, 1, 3)
        y = lin(h.permute(0, 2, 3, 1))  # (1, 1, 3, 2)
        (y * y).sum().backward()
        grads = [t.grad.cpu().numpy() for t in (emb.weight, conv.weight_g, conv.weight_v)]
        return [
            y.cpu().numpy(),
            lin.weight_u.cpu().numpy(),
            lin.weight_orig.grad.cpu().numpy(),
            *grads,
        ]

    want = run("cpu")
    for a, b in zip(run(device), want):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


@pytest.mark.gpu
def test_embedding_refuses_an_index_on_another_device():
    """The index goes to the Function as a keyword, out of apply's device check: embedding()
    checks it, before the max_norm renorm could index the weight with it."""
    table = mt.randn(5, 3)
    on_gpu = table.to("cuda")
    with pytest.raises(RuntimeError, match=r"embedding: expected all tensors on the same device"):
        F.embedding(mt.tensor([0, 1]), on_gpu, max_norm=0.1)
    with pytest.raises(RuntimeError, match=r"embedding: expected all tensors on the same device"):
        F.embedding(mt.tensor([0, 1]).to("cuda"), table)
    np.testing.assert_array_equal(on_gpu.cpu().numpy(), table.numpy())  # not renormalised


@pytest.mark.gpu
@pytest.mark.parametrize("scale", [False, True])
def test_embedding_backward_on_the_gpu_equals_the_cpu(scale):
    """CuPy's path (add.at, counts by add.at: no bincount) against NumPy's (sort + reduceat),
    repeated indices, padding_idx, and an empty index."""
    r = _rng(9)
    w = r.standard_normal((9, 4))
    for shape in ((6, 7), (0,)):
        idx = r.integers(0, 9, shape)
        g = r.standard_normal(shape + (4,))
        grads = []
        for dev in ("cpu", "cuda"):
            weight = mt.tensor(w, device=dev, requires_grad=True)
            y = F.embedding(mt.tensor(idx).to(dev), weight, padding_idx=3, scale_grad_by_freq=scale)
            (y * mt.tensor(g).to(dev)).sum().backward()
            grads.append(weight.grad.cpu().numpy())
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12, atol=1e-14)
