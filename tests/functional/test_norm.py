"""batch_norm, layer_norm, group_norm: the fused forward equals a per-channel loop written from
the textbook formulas, the running statistics follow PyTorch's update rule, the closed-form
backward passes gradcheck in float64, float32 stays accurate for inputs with a large mean, and
every result equals PyTorch's (forward and backward, float32 and float64) when torch is there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available
from minitorch_cv.functional.norm import batch_norm, group_norm, layer_norm
from tests.strategies_core import SETTINGS

# --------------------------------------------------------------------------- loop references


def loop_batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps):
    """Batch norm channel by channel, value by value: returns y and the new running stats."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape[:2]
    y = np.empty_like(x)
    new_mean = None if running_mean is None else np.array(running_mean, dtype=np.float64)
    new_var = None if running_var is None else np.array(running_var, dtype=np.float64)
    for ch in range(c):
        values = [float(v) for v in x[:, ch].reshape(-1)]
        m = len(values)
        if training:
            mu = sum(values) / m
            var = sum((v - mu) ** 2 for v in values) / m
            if new_mean is not None:
                unbiased = var * m / (m - 1)
                new_mean[ch] = (1 - momentum) * new_mean[ch] + momentum * mu
                new_var[ch] = (1 - momentum) * new_var[ch] + momentum * unbiased
        else:
            mu, var = float(running_mean[ch]), float(running_var[ch])
        gamma = 1.0 if weight is None else float(weight[ch])
        beta = 0.0 if bias is None else float(bias[ch])
        for i in range(n):
            flat = x[i, ch].reshape(-1)
            out = [(v - mu) / (var + eps) ** 0.5 * gamma + beta for v in flat]
            y[i, ch] = np.array(out).reshape(x[i, ch].shape)
    return y, new_mean, new_var


def loop_layer_norm(x, k, weight, bias, eps):
    """Layer norm over the last k dims, one sample (row) at a time."""
    x = np.asarray(x, dtype=np.float64)
    lead, tail = x.shape[: x.ndim - k], x.shape[x.ndim - k :]
    rows = x.reshape(-1, int(np.prod(tail)))
    out = np.empty_like(rows)
    for r, row in enumerate(rows):
        mu = row.sum() / len(row)
        var = ((row - mu) ** 2).sum() / len(row)
        out[r] = (row - mu) / np.sqrt(var + eps)
    y = out.reshape(*lead, *tail)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def loop_group_norm(x, groups, weight, bias, eps):
    """Group norm: one (sample, group) block at a time, then a per-channel affine."""
    x = np.asarray(x, dtype=np.float64)
    n, c = x.shape[:2]
    y = np.empty_like(x)
    per = c // groups
    for i in range(n):
        for g in range(groups):
            block = x[i, g * per : (g + 1) * per]
            mu = block.mean()
            var = ((block - mu) ** 2).mean()
            y[i, g * per : (g + 1) * per] = (block - mu) / np.sqrt(var + eps)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if weight is not None:
        y = y * np.asarray(weight).reshape(shape)
    if bias is not None:
        y = y + np.asarray(bias).reshape(shape)
    return y


# --------------------------------------------------------------------------- strategies


@st.composite
def bn_case(draw, max_side=3):
    """An (N, C, *) shape with 2, 3 or 4 dims, and matching float64 data."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 3))
    spatial = tuple(draw(st.integers(1, max_side)) for _ in range(ndim - 2))
    shape = (n, c, *spatial)
    if n * int(np.prod(spatial)) < 2:  # training needs more than one value per channel
        shape = (n + 1, c, *spatial)
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, np.random.default_rng(seed)


def _bn_inputs(rng, shape, affine):
    c = shape[1]
    x = rng.standard_normal(shape) * 2 + rng.standard_normal((1, c) + (1,) * (len(shape) - 2))
    rm = rng.standard_normal(c)
    rv = rng.uniform(0.5, 2.0, c)
    w = rng.uniform(0.5, 1.5, c) * rng.choice([-1, 1], c) if affine else None
    b = rng.standard_normal(c) if affine else None
    return x, rm, rv, w, b


def _t(a, grad=False):
    return None if a is None else mt.tensor(np.array(a, dtype=np.float64), requires_grad=grad)


# --------------------------------------------------------------------------- batch_norm


@SETTINGS
@given(case=bn_case(), training=st.booleans(), affine=st.booleans(), momentum=st.floats(0, 1))
def test_batch_norm_matches_loop_reference(case, training, affine, momentum):
    shape, rng = case
    x, rm, rv, w, b = _bn_inputs(rng, shape, affine)
    want, want_mean, want_var = loop_batch_norm(x, rm, rv, w, b, training, momentum, 1e-5)
    rm_t, rv_t = _t(rm), _t(rv)
    y = batch_norm(_t(x), rm_t, rv_t, _t(w), _t(b), training=training, momentum=momentum)
    assert y.shape == shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rm_t.numpy(), want_mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rv_t.numpy(), want_var, rtol=1e-12, atol=1e-12)


def test_batch_norm_running_stats_follow_pytorch_rule_over_steps():
    """r <- (1 - m) r + m * stat, with the unbiased batch variance, step after step; and
    momentum=None gives the cumulative average of the batch statistics."""
    rng = np.random.default_rng(1)
    batches = [rng.standard_normal((5, 3, 4)) * (i + 1) + i for i in range(4)]
    rm, rv = mt.zeros(3, dtype=mt.float64), mt.ones(3, dtype=mt.float64)
    want_m, want_v = np.zeros(3), np.ones(3)
    for xb in batches:
        batch_norm(_t(xb), rm, rv, training=True, momentum=0.1)
        mean = xb.mean(axis=(0, 2))
        var = xb.var(axis=(0, 2), ddof=1)
        want_m, want_v = 0.9 * want_m + 0.1 * mean, 0.9 * want_v + 0.1 * var
    np.testing.assert_allclose(rm.numpy(), want_m, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), want_v, rtol=1e-12)

    rm, rv = mt.zeros(3, dtype=mt.float64), mt.ones(3, dtype=mt.float64)
    nbt = mt.tensor(0, dtype=mt.int64)
    for xb in batches:
        batch_norm(_t(xb), rm, rv, training=True, momentum=None, num_batches_tracked=nbt)
    assert nbt.item() == len(batches)
    np.testing.assert_allclose(rm.numpy(), np.mean([b.mean(axis=(0, 2)) for b in batches], 0))
    np.testing.assert_allclose(
        rv.numpy(), np.mean([b.var(axis=(0, 2), ddof=1) for b in batches], 0)
    )


def test_batch_norm_updates_running_stats_under_no_grad_and_not_in_eval():
    rng = np.random.default_rng(2)
    x = _t(rng.standard_normal((4, 2, 3)) + 5)
    rm, rv = mt.zeros(2, dtype=mt.float64), mt.ones(2, dtype=mt.float64)
    with mt.no_grad():
        batch_norm(x, rm, rv, training=True)
    assert np.all(rm.numpy() > 0.3)
    before = rm.numpy().copy(), rv.numpy().copy()
    batch_norm(x, rm, rv, training=False)
    np.testing.assert_array_equal(rm.numpy(), before[0])
    np.testing.assert_array_equal(rv.numpy(), before[1])


@SETTINGS
@given(case=bn_case(max_side=3), training=st.booleans(), affine=st.booleans())
def test_batch_norm_gradcheck_float64(case, training, affine):
    shape, rng = case
    x, rm, rv, w, b = _bn_inputs(rng, shape, affine)
    inputs = [_t(x, True)] + ([_t(w, True), _t(b, True)] if affine else [])

    def fn(x, w=None, b=None):
        # fresh running stats each call: the finite differences must see the same function
        return batch_norm(x, _t(rm), _t(rv), w, b, training=training)

    assert mt.gradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


def test_batch_norm_eval_backward_is_grad_times_weight_over_running_std():
    rng = np.random.default_rng(3)
    x, rm, rv, w, b = _bn_inputs(rng, (3, 4, 2, 2), True)
    xt = _t(x, True)
    g = rng.standard_normal(x.shape)
    batch_norm(xt, _t(rm), _t(rv), _t(w), _t(b), training=False).backward(mt.tensor(g))
    want = g * (w / np.sqrt(rv + 1e-5)).reshape(1, 4, 1, 1)
    np.testing.assert_allclose(xt.grad.numpy(), want, rtol=1e-12)


def test_batch_norm_training_gradient_is_orthogonal_to_shift_and_scale():
    """The batch statistics absorb any shift of a channel and (with eps=0) any scale: the
    gradient sums to zero and is orthogonal to x̂ in every channel."""
    rng = np.random.default_rng(4)
    x = _t(rng.standard_normal((6, 3, 5)), True)
    y = batch_norm(x, None, None, training=True, eps=0.0)
    y.backward(mt.tensor(rng.standard_normal(y.shape)))
    gx = x.grad.numpy()
    np.testing.assert_allclose(gx.sum(axis=(0, 2)), 0, atol=1e-12)
    np.testing.assert_allclose((gx * y.numpy()).sum(axis=(0, 2)), 0, atol=1e-12)


def test_batch_norm_float32_is_stable_for_a_large_mean():
    """x = 1000 + N(0, 1) in float32: the two-pass statistics keep the variance (a one-pass
    E[x^2] - E[x]^2 would lose most of its digits to cancellation)."""
    rng = np.random.default_rng(5)
    x64 = 1000 + rng.standard_normal((64, 8, 16, 16))
    x32 = x64.astype(np.float32)
    w = mt.ones(8, requires_grad=True)
    xt = mt.tensor(x32, requires_grad=True)
    y = batch_norm(xt, None, None, w, None, training=True)
    want, _, _ = loop_batch_norm(x32.astype(np.float64), None, None, None, None, True, 0.1, 1e-5)
    np.testing.assert_allclose(y.numpy(), want, atol=2e-4)
    assert y.dtype == np.float32
    g = rng.standard_normal(x32.shape).astype(np.float32)
    y.backward(mt.tensor(g))
    # d/dw = sum(g * x̂): exact value from the float64 x̂
    np.testing.assert_allclose(w.grad.numpy(), (g * want).sum(axis=(0, 2, 3)), rtol=1e-3, atol=0.5)
    assert xt.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_batch_norm_errors_name_the_op_and_shapes():
    x = mt.randn(8, 3, 5, 5)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean has shape \(16,\).*3 channels"):
        batch_norm(x, mt.zeros(16), mt.ones(16), training=False)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\).*\(8, 3, 5, 5\)"):
        batch_norm(x, None, None, mt.ones(4), training=True)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training"):
        batch_norm(mt.randn(1, 3), mt.zeros(3), mt.ones(3), training=True)
    with pytest.raises(ValueError, match=r"got input size \(1, 3, 1, 1\)"):
        batch_norm(mt.randn(1, 3, 1, 1), None, None, training=True)
    with pytest.raises(ValueError, match="needed when training=False"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="num_batches_tracked"):
        batch_norm(x, mt.zeros(3), mt.ones(3), training=True, momentum=None)
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, \*\)"):
        batch_norm(mt.randn(3), None, None, training=True)
    # one value per channel is fine in eval mode, as in PyTorch
    assert batch_norm(mt.randn(1, 3), mt.zeros(3), mt.ones(3)).shape == (1, 3)


# --------------------------------------------------------------------------- layer / group norm


@SETTINGS
@given(
    lead=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    tail=st.lists(st.integers(1, 3), min_size=1, max_size=2),
    affine=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_layer_norm_matches_loop_and_gradcheck(lead, tail, affine, seed):
    rng = np.random.default_rng(seed)
    shape, tail = (*lead, *tail), tuple(tail)
    if int(np.prod(tail)) < 2:
        tail = (*tail[:-1], tail[-1] + 1)
        shape = (*lead, *tail)
    x = rng.standard_normal(shape) * 2 + 1
    w = rng.standard_normal(tail) if affine else None
    b = rng.standard_normal(tail) if affine else None
    y = layer_norm(_t(x), tail, _t(w), _t(b))
    np.testing.assert_allclose(y.numpy(), loop_layer_norm(x, len(tail), w, b, 1e-5), atol=1e-10)
    inputs = [_t(x, True)] + ([_t(w, True), _t(b, True)] if affine else [])
    assert mt.gradcheck(lambda *t: layer_norm(t[0], tail, *t[1:]), inputs, atol=1e-6, rtol=1e-4)


@SETTINGS
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 3),
    per=st.integers(1, 2),
    spatial=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    affine=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_group_norm_matches_loop_and_gradcheck(n, groups, per, spatial, affine, seed):
    rng = np.random.default_rng(seed)
    c = groups * per
    if per * int(np.prod(spatial)) < 2:
        spatial = [*spatial, 2]
    x = rng.standard_normal((n, c, *spatial)) * 2 + 1
    w = rng.standard_normal(c) if affine else None
    b = rng.standard_normal(c) if affine else None
    y = group_norm(_t(x), groups, _t(w), _t(b))
    np.testing.assert_allclose(y.numpy(), loop_group_norm(x, groups, w, b, 1e-5), atol=1e-10)
    inputs = [_t(x, True)] + ([_t(w, True), _t(b, True)] if affine else [])
    assert mt.gradcheck(lambda *t: group_norm(t[0], groups, *t[1:]), inputs, atol=1e-6, rtol=1e-4)


def test_layer_and_group_norm_errors():
    x = mt.randn(2, 6, 4)
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(5,\).*\(2, 6, 4\)"):
        layer_norm(x, 5)
    with pytest.raises(ValueError, match=r"layer_norm: weight has shape \(3,\)"):
        layer_norm(x, 4, mt.ones(3))
    with pytest.raises(ValueError, match=r"divisible by num_groups.*\(2, 6, 4\).*num_groups=4"):
        group_norm(x, 4)
    with pytest.raises(ValueError, match=r"group_norm: bias has shape \(3,\)"):
        group_norm(x, 3, None, mt.zeros(3))


# --------------------------------------------------------------------------- parity with torch

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-9, atol=1e-10)}


def _both(torch, a, dtype, grad=False):
    """The same array as a minitorch_cv tensor and a torch tensor of `dtype`."""
    if a is None:
        return None, None
    a = np.array(a, dtype=dtype)
    return mt.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _assert_grads(pairs, tol):
    for name, (ours, theirs) in pairs.items():
        if ours is None:
            continue
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), err_msg=name, **tol)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(16, 5), (8, 5, 7), (4, 5, 6, 3)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(dtype, shape, training, affine):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, rm, rv, w, b = _bn_inputs(rng, shape, affine)
    g = rng.standard_normal(shape)
    xs, rms, rvs = _both(torch, x, dtype, True), _both(torch, rm, dtype), _both(torch, rv, dtype)
    ws, bs = _both(torch, w, dtype, True), _both(torch, b, dtype, True)
    outs = []
    for k, F in ((0, None), (1, torch.nn.functional)):
        args = (xs[k], rms[k], rvs[k], ws[k], bs[k])
        y = (F.batch_norm if F else batch_norm)(*args, training=training, momentum=0.3, eps=1e-3)
        y.backward((mt.tensor if k == 0 else torch.tensor)(g.astype(dtype)))
        outs.append(y.detach().numpy())
    tol = TOL[dtype]
    np.testing.assert_allclose(outs[0], outs[1], **tol)
    np.testing.assert_allclose(rms[0].numpy(), rms[1].numpy(), **tol)
    np.testing.assert_allclose(rvs[0].numpy(), rvs[1].numpy(), **tol)
    _assert_grads({"x": xs, "weight": ws, "bias": bs}, tol)


@pytest.mark.parity
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_and_group_norm_match_torch(dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6, 3, 5)) * 3 + 2
    g = rng.standard_normal(x.shape).astype(dtype)
    tol = TOL[dtype]
    cases = [
        (
            lambda *a: layer_norm(a[0], (3, 5), *a[1:]),
            lambda *a: F.layer_norm(a[0], (3, 5), *a[1:]),
        ),
        (lambda *a: group_norm(a[0], 3, *a[1:]), lambda *a: F.group_norm(a[0], 3, *a[1:])),
    ]
    for (ours_fn, torch_fn), pshape in zip(cases, [(3, 5), (6,)]):
        xs = _both(torch, x, dtype, True)
        ws = _both(torch, rng.standard_normal(pshape), dtype, True)
        bs = _both(torch, rng.standard_normal(pshape), dtype, True)
        y = ours_fn(xs[0], ws[0], bs[0])
        yt = torch_fn(xs[1], ws[1], bs[1])
        y.backward(mt.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
        _assert_grads({"x": xs, "weight": ws, "bias": bs}, tol)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_cupy_matches_numpy(training):
    rng = np.random.default_rng(8)
    x, rm, rv, w, b = _bn_inputs(rng, (8, 4, 5, 6), True)
    g = rng.standard_normal(x.shape)
    results = []
    for dev in ("cpu", "cuda"):
        xt = mt.tensor(x, requires_grad=True, device=dev)
        wt = mt.tensor(w, requires_grad=True, device=dev)
        bt = mt.tensor(b, requires_grad=True, device=dev)
        rmt, rvt = mt.tensor(rm, device=dev), mt.tensor(rv, device=dev)
        y = batch_norm(xt, rmt, rvt, wt, bt, training=training)
        y.backward(mt.tensor(g, device=dev))
        results.append([np.asarray(t) for t in (y, rmt, rvt, xt.grad, wt.grad, bt.grad)])
    for a, b_ in zip(*results):
        np.testing.assert_allclose(a, b_, rtol=1e-10, atol=1e-12)


def test_batch_norm_passes_an_empty_batch_through():
    layers = [(mt.nn.BatchNorm2d(3), (0, 3, 4, 4)), (mt.nn.BatchNorm1d(3), (0, 3)),
              (mt.nn.InstanceNorm2d(3, track_running_stats=True), (0, 3, 4, 4))]  # fmt: skip
    for layer, shape in layers:
        x = mt.zeros(*shape, requires_grad=True)
        y = layer(x)
        y.sum().backward()
        assert y.shape == shape and x.grad.shape == shape
        np.testing.assert_array_equal(layer.running_mean.numpy(), 0)  # nothing to learn from
