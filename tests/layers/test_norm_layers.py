"""BatchNorm1d/2d/3d, LayerNorm, GroupNorm layers: PyTorch's parameters, buffers and state_dict
keys; training updates the running statistics and eval uses them; a state dict exported from
torch loads and gives torch's outputs; bad input names the layer and the shapes."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.layers.norm import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    GroupNorm,
    InstanceNorm2d,
    LayerNorm,
)

BN_KEYS = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]


@pytest.mark.parametrize("cls", [BatchNorm1d, BatchNorm2d, BatchNorm3d])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm_parameters_buffers_and_state_dict_keys(cls, affine, track):
    m = cls(4, affine=affine, track_running_stats=track)
    want = [
        k
        for k in BN_KEYS
        if (affine or "running" in k or "num" in k) and (track or k in ("weight", "bias"))
    ]
    assert list(m.state_dict().keys()) == want
    assert [n for n, _ in m.named_parameters()] == (["weight", "bias"] if affine else [])
    if affine:
        np.testing.assert_array_equal(m.weight.numpy(), np.ones(4, np.float32))
        np.testing.assert_array_equal(m.bias.numpy(), np.zeros(4, np.float32))
    if track:
        assert m.num_batches_tracked.dtype == np.int64 and m.num_batches_tracked.shape == ()
        np.testing.assert_array_equal(m.running_var.numpy(), np.ones(4, np.float32))
    else:
        assert m.running_mean is None and m.running_var is None


@pytest.mark.parity
@pytest.mark.parametrize(
    "ours,name,args",
    [
        (BatchNorm1d, "BatchNorm1d", (3,)),
        (BatchNorm2d, "BatchNorm2d", (3,)),
        (BatchNorm2d, "BatchNorm2d", (3, 1e-5, 0.1, False)),
        (BatchNorm2d, "BatchNorm2d", (3, 1e-5, 0.1, True, False)),
        (LayerNorm, "LayerNorm", ((3, 4),)),
        (GroupNorm, "GroupNorm", (2, 4)),
    ],
)
def test_state_dict_keys_equal_torch(ours, name, args):
    torch = pytest.importorskip("torch")
    assert list(ours(*args).state_dict().keys()) == list(
        getattr(torch.nn, name)(*args).state_dict().keys()
    )


def test_batchnorm2d_training_updates_buffers_and_eval_uses_them():
    rng = np.random.default_rng(0)
    m = BatchNorm2d(3, momentum=0.5)
    x = rng.standard_normal((6, 3, 4, 4)).astype(np.float32) * 2 + 3
    y = m(mt.tensor(x))
    assert m.num_batches_tracked.item() == 1
    np.testing.assert_allclose(m.running_mean.numpy(), 0.5 * x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(
        m.running_var.numpy(), 0.5 + 0.5 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-5
    )
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2, 3)), 0, atol=1e-5)
    m.eval()
    before = m.running_mean.numpy().copy()
    y = m(mt.tensor(x))
    assert m.num_batches_tracked.item() == 1
    np.testing.assert_array_equal(m.running_mean.numpy(), before)
    rm, rv = m.running_mean.numpy(), m.running_var.numpy()
    want = (x - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5, atol=1e-5)


def test_batchnorm_without_running_stats_always_uses_batch_stats():
    rng = np.random.default_rng(1)
    m = BatchNorm1d(4, track_running_stats=False, dtype=mt.float64).eval()
    x = rng.standard_normal((10, 4)) * 3 + 1
    y = m(mt.tensor(x))
    np.testing.assert_allclose(y.numpy(), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)


def test_batchnorm_momentum_none_is_cumulative_average():
    rng = np.random.default_rng(2)
    m = BatchNorm1d(2, momentum=None, dtype=mt.float64)
    batches = [rng.standard_normal((5, 2, 3)) + i for i in range(3)]
    for b in batches:
        m(mt.tensor(b))
    assert m.num_batches_tracked.item() == 3
    np.testing.assert_allclose(
        m.running_mean.numpy(), np.mean([b.mean(axis=(0, 2)) for b in batches], 0)
    )


def test_batchnorm_gradients_reach_parameters():
    m = BatchNorm2d(3)
    x = mt.randn(4, 3, 2, 2, requires_grad=True)
    (m(x) * mt.randn(4, 3, 2, 2)).sum().backward()
    assert m.weight.grad.shape == (3,) and m.bias.grad.shape == (3,) and x.grad.shape == x.shape


def test_batchnorm_to_double_keeps_num_batches_tracked_int64():
    m = BatchNorm2d(3).to(mt.float64)
    assert m.running_mean.dtype == np.float64 and m.weight.dtype == np.float64
    assert m.num_batches_tracked.dtype == np.int64
    m(mt.randn(2, 3, 2, 2, dtype=mt.float64))
    assert m.num_batches_tracked.item() == 1


def test_input_checks_name_the_layer_and_shapes():
    with pytest.raises(ValueError) as e:
        BatchNorm2d(16)(mt.randn(8, 3, 28))
    assert str(e.value) == "BatchNorm2d(16): expected 4-D input (N, 16, H, W), got shape (8, 3, 28)"
    with pytest.raises(
        ValueError, match=r"BatchNorm2d\(16\): expected input with 16 channels.*\(8, 3, 28, 28\)"
    ):
        BatchNorm2d(16)(mt.randn(8, 3, 28, 28))
    with pytest.raises(
        ValueError, match=r"BatchNorm1d\(4\): expected 2-D input \(N, 4\) or 3-D input"
    ):
        BatchNorm1d(4)(mt.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match=r"BatchNorm3d\(4\): expected 5-D input"):
        BatchNorm3d(4)(mt.randn(2, 4, 3, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        BatchNorm1d(4)(mt.randn(1, 4))
    with pytest.raises(ValueError, match=r"LayerNorm\(\(5,\)\): expected input of shape \(\*, 5\)"):
        LayerNorm(5)(mt.randn(2, 4))
    with pytest.raises(ValueError, match=r"GroupNorm\(2, 4\): expected input \(N, 4, \*\)"):
        GroupNorm(2, 4)(mt.randn(2, 6))
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(3, 4)
    with pytest.raises(ValueError, match="num_features"):
        BatchNorm2d(0)


def test_repr_like_pytorch():  # PyTorch 2.13's format, which shows whether there is a bias
    assert repr(BatchNorm2d(8)) == (
        "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    assert repr(LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)"
    assert repr(GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    assert repr(InstanceNorm2d(3, affine=True, bias=False)) == (
        "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=False, "
        "track_running_stats=False)"
    )


@pytest.mark.parametrize("affine, bias", [(True, False), (False, True)])
def test_bias_false_keeps_the_scale_and_drops_the_shift(affine, bias):
    x = mt.tensor(np.random.default_rng(0).normal(3.0, 2.0, (4, 3, 5, 5)))
    # normalised with weight 1 and no shift: mean 0 over what each layer normalises
    for layer, axes in ((BatchNorm2d(3, affine=affine, bias=bias), (0, 2, 3)),
                        (InstanceNorm2d(3, affine=affine, bias=bias), (2, 3)),
                        (GroupNorm(1, 3, affine=affine, bias=bias), (1, 2, 3))):  # fmt: skip
        assert layer.bias is None and (layer.weight is not None) == affine
        assert "bias" not in layer.state_dict() and "bias=False" in repr(layer)
        y = layer.double()(x).numpy()
        np.testing.assert_allclose(y.mean(axis=axes), 0, atol=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("name,args,shape", [
    ("BatchNorm1d", (5,), (8, 5)),
    ("BatchNorm1d", (5,), (8, 5, 7)),
    ("BatchNorm2d", (5,), (4, 5, 6, 6)),
    ("BatchNorm2d", (5, 1e-3, None), (4, 5, 6, 6)),
    ("LayerNorm", ((6, 6),), (4, 5, 6, 6)),
    ("GroupNorm", (5, 5), (4, 5, 6, 6)),
])  # fmt: skip
def test_torch_state_dict_loads_and_gives_torch_outputs(name, args, shape):
    torch = pytest.importorskip("torch")
    import minitorch_cv.layers.norm as ours_mod

    theirs = getattr(torch.nn, name)(*args)
    ours = getattr(ours_mod, name)(*args)
    rng = np.random.default_rng(3)
    with torch.no_grad():  # non-trivial parameters and statistics
        for p in theirs.parameters():
            p.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(p.shape)), dtype=torch.float32))
    theirs.train()
    for _ in range(2):  # two steps of running statistics in torch
        theirs(torch.tensor(rng.standard_normal(shape) * 2 + 1, dtype=torch.float32))
    ours.load_state_dict(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k].numpy(), v.numpy())
    x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
    for mode in ("eval", "train"):
        getattr(theirs, mode)()
        getattr(ours, mode)()
        xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y, yt = ours(xs), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
        g = rng.standard_normal(shape).astype(np.float32)
        y.backward(mt.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        for (n, p), pt in zip(ours.named_parameters(), theirs.parameters()):
            np.testing.assert_allclose(
                p.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=n
            )
            p.grad, pt.grad = None, None
    # after the train-mode step both updated their statistics the same way
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, err_msg=k)
