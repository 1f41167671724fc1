"""mt.ops' model building blocks (torchvision.ops.misc and feature_pyramid_network):
FrozenBatchNorm2d equal to BatchNorm2d in eval mode with the same buffers (and to torch's
batch_norm), a BatchNorm's state dict, num_batches_tracked included, loading into it, alone or
nested; Conv2d/Conv3dNormActivation, SqueezeExcitation, MLP and FeaturePyramidNetwork with
torchvision's children, state_dict keys (a torch module of torchvision's structure loads them
strictly), parameter counts derived by hand from the layer shapes, forwards equal to loop
references (minitorch_cv.reference, NumPy) and to torch, float64 gradchecks, FPN shapes with
sizes that do not halve, its init and extra blocks; Permute; reprs; errors."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import nn, ops, reference
from minitorch_cv.backend import gpu_available
from minitorch_cv.ops.feature_pyramid_network import (
    ExtraFPNBlock,
    LastLevelMaxPool,
    LastLevelP6P7,
)
from minitorch_cv.ops.misc import ConvNormActivation
from tests.strategies_core import SETTINGS, arrays, leaf

RNG = np.random.default_rng(0)


def _randomise(module, rng=RNG):
    """float64 module with random parameters and buffers (variances positive)."""
    module.double()
    for name, t in list(module.named_parameters()) + list(module.named_buffers()):
        if t.dtype.kind != "f":
            continue
        values = rng.uniform(0.5, 1.5, t.shape) if "var" in name else rng.normal(size=t.shape)
        t._data[...] = values
    return module


def _n_params(module):
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------- FrozenBatchNorm2d


@SETTINGS
@given(
    c=st.integers(1, 4),
    n=st.integers(1, 3),
    hw=st.integers(1, 4),
    eps=st.sampled_from([1e-5, 1e-3, 0.1]),
    data=st.data(),
)
def test_frozen_batch_norm_equals_batch_norm_in_eval_and_gradchecks(c, n, hw, eps, data):
    x = data.draw(arrays((n, c, hw, hw + 1)))
    frozen = _randomise(ops.FrozenBatchNorm2d(c, eps=eps))
    bn = nn.BatchNorm2d(c, eps=eps).double().eval()
    bn.load_state_dict(frozen.state_dict(), strict=False)  # the same four tensors
    np.testing.assert_allclose(
        frozen(mt.tensor(x)).numpy(), bn(mt.tensor(x)).numpy(), rtol=1e-12, atol=1e-12
    )
    expected = reference.batch_norm(
        x,
        frozen.running_mean.numpy(),
        frozen.running_var.numpy(),
        frozen.weight.numpy(),
        frozen.bias.numpy(),
        eps=eps,
    )
    np.testing.assert_allclose(frozen(mt.tensor(x)).numpy(), expected, rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(frozen, [leaf(x)])


def test_frozen_batch_norm_matches_torch_batch_norm_eval():
    torch = pytest.importorskip("torch")
    frozen = _randomise(ops.FrozenBatchNorm2d(3, eps=1e-3))
    x = RNG.normal(size=(2, 3, 4, 5))
    s = {k: torch.tensor(v.numpy()) for k, v in frozen.state_dict().items()}
    want = torch.nn.functional.batch_norm(
        torch.tensor(x),
        s["running_mean"],
        s["running_var"],
        s["weight"],
        s["bias"],
        training=False,
        eps=1e-3,
    )
    np.testing.assert_allclose(frozen(mt.tensor(x)).numpy(), want.numpy(), rtol=1e-12)


def test_frozen_batch_norm_buffers_repr_and_no_parameters():
    m = ops.FrozenBatchNorm2d(4)
    assert repr(m) == "FrozenBatchNorm2d(4, eps=1e-05)"
    assert list(m.state_dict()) == ["weight", "bias", "running_mean", "running_var"]
    assert list(m.parameters()) == []
    np.testing.assert_array_equal(m.weight.numpy(), np.ones(4))
    np.testing.assert_array_equal(m.bias.numpy(), np.zeros(4))
    np.testing.assert_array_equal(m.running_mean.numpy(), np.zeros(4))
    np.testing.assert_array_equal(m.running_var.numpy(), np.ones(4))
    x = mt.randn(2, 4, 3, 3)
    np.testing.assert_allclose(m(x).numpy(), x.numpy() / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_frozen_batch_norm_loads_batch_norm_state_dict_dropping_num_batches_tracked():
    bn = _randomise(nn.BatchNorm2d(3))
    state = bn.state_dict()
    assert "num_batches_tracked" in state
    frozen = ops.FrozenBatchNorm2d(3).double()
    assert frozen.load_state_dict(state).unexpected_keys == []  # strict, no error
    for k in ("weight", "bias", "running_mean", "running_var"):
        np.testing.assert_array_equal(getattr(frozen, k).numpy(), state[k].numpy())
    # nested: the prefix of the frozen layer's own key only
    src = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3))
    dst = nn.Sequential(nn.Conv2d(2, 3, 1), ops.FrozenBatchNorm2d(3))
    assert "1.num_batches_tracked" in src.state_dict()
    dst.load_state_dict(src.state_dict())
    # other unexpected keys are still errors, and so is a num_batches_tracked elsewhere
    with pytest.raises(ValueError, match=r"Unexpected key\(s\).*\"1.foo\""):
        dst.load_state_dict({**src.state_dict(), "1.foo": mt.zeros(1)})
    with pytest.raises(ValueError, match=r"Unexpected key\(s\).*\"num_batches_tracked\""):
        dst.load_state_dict({**src.state_dict(), "num_batches_tracked": mt.zeros(())})
    with pytest.raises(ValueError, match=r"Missing key\(s\).*\"1.running_var\""):
        dst.load_state_dict({k: v for k, v in src.state_dict().items() if k != "1.running_var"})


def test_frozen_batch_norm_shared_under_two_names_drops_both_counters():
    """torch runs _load_from_state_dict once per path: a FrozenBatchNorm2d registered twice
    drops the num_batches_tracked under each of its names."""
    frozen = ops.FrozenBatchNorm2d(3)
    shared = nn.Sequential(frozen, frozen)
    src = nn.Sequential(_randomise(nn.BatchNorm2d(3)), nn.BatchNorm2d(3).double())
    src[1].load_state_dict(src[0].state_dict())
    assert shared.double().load_state_dict(src.state_dict()).unexpected_keys == []
    np.testing.assert_array_equal(frozen.running_var.numpy(), src[0].running_var.numpy())


def test_load_weights_of_a_batch_norm_checkpoint_into_frozen_batch_norm():
    """models.load_weights checks the keys itself: it drops the counters too (a detection
    backbone with FrozenBatchNorm2d from a classification checkpoint)."""
    from minitorch_cv.models import load_weights

    src = nn.Sequential(nn.Conv2d(2, 3, 1), _randomise(nn.BatchNorm2d(3)))
    dst = nn.Sequential(nn.Conv2d(2, 3, 1), ops.FrozenBatchNorm2d(3)).double()
    load_weights(dst, src.state_dict())
    np.testing.assert_array_equal(dst[1].running_mean.numpy(), src[1].running_mean.numpy())
    with pytest.raises(ValueError, match=r"has key '1.foo'"):
        load_weights(dst, {**src.state_dict(), "1.foo": mt.zeros(1)})


def test_frozen_batch_norm_errors():
    m = ops.FrozenBatchNorm2d(3)
    with pytest.raises(
        ValueError,
        match=r"FrozenBatchNorm2d\(3\): expected \(N, 3, H, W\) .*"
        r"\(2, 4, 5, 5\)",
    ):
        m(mt.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"got shape \(3, 5, 5\)"):
        m(mt.randn(3, 5, 5))
    with pytest.raises(ValueError, match=r"num_features must be positive"):
        ops.FrozenBatchNorm2d(0)
    with pytest.raises(TypeError, match=r"num_features must be an int"):
        ops.FrozenBatchNorm2d(2.0)


# --------------------------------------------------------------------------- Conv*NormActivation


def test_conv2d_norm_activation_children_keys_and_count():
    m = ops.Conv2dNormActivation(3, 16, stride=2)
    assert [type(c).__name__ for c in m] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert list(m.state_dict()) == [
        "0.weight",
        "1.weight",
        "1.bias",
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    assert m[0].bias is None and m[0].padding == (1, 1) and m[0].stride == (2, 2)
    assert repr(m[2]) == "ReLU(inplace=True)" and m.out_channels == 16
    assert _n_params(m) == 16 * 3 * 3 * 3 + 2 * 16  # conv (no bias) + BN's weight and bias
    bare = ops.Conv2dNormActivation(4, 6, 5, groups=2, norm_layer=None, activation_layer=None)
    assert [type(c).__name__ for c in bare] == ["Conv2d"]
    assert list(bare.state_dict()) == ["0.weight", "0.bias"]  # a bias when there is no norm
    assert _n_params(bare) == 6 * (4 // 2) * 5 * 5 + 6
    no_norm = ops.Conv2dNormActivation(2, 2, norm_layer=None, inplace=None, bias=False)
    assert [type(c).__name__ for c in no_norm] == ["Conv2d", "ReLU"] and no_norm[0].bias is None
    assert repr(no_norm[1]) == "ReLU()"  # inplace=None: the activation's own default
    dil = ops.Conv2dNormActivation(2, 2, kernel_size=(3, 5), dilation=2)
    assert dil[0].padding == (2, 4)
    assert ops.Conv2dNormActivation(2, 2, 3, dilation=(1, 3))[0].padding == (1, 3)
    silu = ops.Conv2dNormActivation(2, 2, activation_layer=nn.SiLU)
    assert repr(silu[2]) == "SiLU(inplace=True)"


@SETTINGS
@given(
    k=st.sampled_from([1, 3, 5]),
    dilation=st.integers(1, 2),
    stride=st.integers(1, 3),
    h=st.integers(5, 8),
    w=st.integers(5, 8),
)
def test_conv2d_norm_activation_default_padding_keeps_size_at_stride(k, dilation, stride, h, w):
    m = ops.Conv2dNormActivation(2, 3, k, stride, dilation=dilation)
    assert m(mt.randn(1, 2, h, w)).shape == (1, 3, -(-h // stride), -(-w // stride))


def test_conv2d_norm_activation_equals_loop_reference_and_gradchecks():
    m = _randomise(ops.Conv2dNormActivation(2, 3, 3, stride=2, groups=1))
    x = RNG.normal(size=(2, 2, 5, 6))
    want = np.maximum(
        reference.batch_norm(
            reference.conv2d(x, m[0].weight.numpy(), None, 2, 1),
            m[1].running_mean.numpy(),
            m[1].running_var.numpy(),
            m[1].weight.numpy(),
            m[1].bias.numpy(),
        ),
        0,
    )
    np.testing.assert_allclose(m.eval()(mt.tensor(x)).numpy(), want, rtol=1e-10, atol=1e-12)
    assert mt.gradcheck(m.train(), [leaf(x)])  # batch statistics in training mode


def test_conv_norm_activation_loads_into_torch_sequential_and_matches():
    torch = pytest.importorskip("torch")
    m = _randomise(ops.Conv2dNormActivation(3, 4, 3, stride=2))
    t = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, 2, 1, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU()
    ).double()  # torchvision's layout
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    x = RNG.normal(size=(2, 3, 7, 6))
    for train in (True, False):
        m.train(train), t.train(train)
        np.testing.assert_allclose(
            m(mt.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12
        )
    m3 = _randomise(ops.Conv3dNormActivation(2, 3, (3, 1, 3)))
    t3 = (
        torch.nn.Sequential(
            torch.nn.Conv3d(2, 3, (3, 1, 3), 1, (1, 0, 1), bias=False),
            torch.nn.BatchNorm3d(3),
            torch.nn.ReLU(),
        )
        .double()
        .eval()
    )
    t3.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m3.state_dict().items()})
    v = RNG.normal(size=(1, 2, 4, 3, 5))
    np.testing.assert_allclose(
        m3.eval()(mt.tensor(v)).numpy(),
        t3(torch.tensor(v)).detach().numpy(),
        rtol=1e-10,
        atol=1e-12,
    )


def test_conv3d_norm_activation_children_keys_count_and_gradcheck():
    m = ops.Conv3dNormActivation(2, 4, stride=2)
    assert [type(c).__name__ for c in m] == ["Conv3d", "BatchNorm3d", "ReLU"]
    assert list(m.state_dict())[:3] == ["0.weight", "1.weight", "1.bias"]
    assert m[0].padding == (1, 1, 1) and _n_params(m) == 4 * 2 * 27 + 2 * 4
    assert m(mt.randn(1, 2, 5, 4, 3)).shape == (1, 4, 3, 2, 2)
    small = _randomise(ops.Conv3dNormActivation(1, 2, 3, norm_layer=None))
    assert mt.gradcheck(small, [leaf(RNG.normal(size=(1, 1, 3, 3, 2)))])


def test_conv_norm_activation_used_directly_warns():
    with pytest.warns(FutureWarning, match="Don't use ConvNormActivation directly"):
        ConvNormActivation(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.Conv2dNormActivation(2, 3)


# --------------------------------------------------------------------------- SqueezeExcitation


def test_squeeze_excitation_names_count_loop_reference_and_gradcheck():
    c, s = 6, 3
    m = _randomise(ops.SqueezeExcitation(c, s))
    assert list(dict(m.named_children())) == [
        "avgpool",
        "fc1",
        "fc2",
        "activation",
        "scale_activation",
    ]
    assert list(m.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert _n_params(m) == c * s + s + s * c + c
    x = RNG.normal(size=(2, c, 3, 4))
    w1, b1 = m.fc1.weight.numpy()[:, :, 0, 0], m.fc1.bias.numpy()
    w2, b2 = m.fc2.weight.numpy()[:, :, 0, 0], m.fc2.bias.numpy()
    want = np.empty_like(x)
    for n in range(2):
        squeezed = np.maximum(w1 @ x[n].mean(axis=(1, 2)) + b1, 0)
        gate = 1 / (1 + np.exp(-(w2 @ squeezed + b2)))
        for ch in range(c):
            want[n, ch] = gate[ch] * x[n, ch]
    np.testing.assert_allclose(m(mt.tensor(x)).numpy(), want, rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(m, [leaf(x[:, :, :2, :2])])
    hs = ops.SqueezeExcitation(4, 2, activation=nn.SiLU, scale_activation=nn.Hardsigmoid)
    assert type(hs.activation) is nn.SiLU and type(hs.scale_activation) is nn.Hardsigmoid


def test_squeeze_excitation_bad_channels():
    with pytest.raises(ValueError, match=r"Conv2d.*4 channels|channels.*4"):
        ops.SqueezeExcitation(4, 2)(mt.randn(1, 3, 2, 2))


# --------------------------------------------------------------------------- MLP and Permute


def test_mlp_layer_order_keys_and_count():
    m = ops.MLP(5, [8, 6, 3], norm_layer=nn.LayerNorm, dropout=0.25)
    kinds = ["Linear", "LayerNorm", "ReLU", "Dropout"] * 2 + ["Linear", "Dropout"]
    assert [type(c).__name__ for c in m] == kinds
    assert list(m.state_dict()) == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
        "4.weight",
        "4.bias",
        "5.weight",
        "5.bias",
        "8.weight",
        "8.bias",
    ]
    assert _n_params(m) == (5 * 8 + 8) + 2 * 8 + (8 * 6 + 6) + 2 * 6 + (6 * 3 + 3)
    assert all(d.p == 0.25 for d in m if isinstance(d, nn.Dropout))
    plain = ops.MLP(4, [3], bias=False)
    assert [type(c).__name__ for c in plain] == ["Linear", "Dropout"]
    assert list(plain.state_dict()) == ["0.weight"] and _n_params(plain) == 12
    inplace = ops.MLP(4, [3, 2], inplace=True)
    assert repr(inplace[1]) == "ReLU(inplace=True)"
    assert repr(inplace[2]) == "Dropout(p=0.0, inplace=True)"
    assert repr(ops.MLP(4, [3, 2])[1]) == "ReLU()"
    no_act = ops.MLP(4, [3, 2], activation_layer=None)
    assert [type(c).__name__ for c in no_act] == ["Linear", "Dropout", "Linear", "Dropout"]


def test_mlp_equals_loop_reference_torch_and_gradchecks():
    m = _randomise(ops.MLP(4, [5, 3], activation_layer=nn.Tanh))
    x = RNG.normal(size=(2, 3, 4))  # (*, in_channels)
    w0, b0, w1, b1 = (t.numpy() for t in m.parameters())
    want = np.tanh(x @ w0.T + b0) @ w1.T + b1
    np.testing.assert_allclose(m(mt.tensor(x)).numpy(), want, rtol=1e-12, atol=1e-12)
    assert mt.gradcheck(m, [leaf(x)])
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(
        torch.nn.Linear(4, 5),
        torch.nn.Tanh(),
        torch.nn.Dropout(0.0),
        torch.nn.Linear(5, 3),
        torch.nn.Dropout(0.0),
    ).double()
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    np.testing.assert_allclose(t(torch.tensor(x)).detach().numpy(), want, rtol=1e-12)


def test_mlp_errors():
    for bad in ([], 4, [3, 0]):
        with pytest.raises(ValueError, match=r"MLP: hidden_channels must be a non-empty list"):
            ops.MLP(4, bad)


def test_permute_forward_gradcheck_repr():
    m = ops.Permute([0, 2, 3, 1])
    assert repr(m) == "Permute()" and m.dims == [0, 2, 3, 1]
    x = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(m(mt.tensor(x)).numpy(), x.transpose(0, 2, 3, 1))
    assert mt.gradcheck(m, [leaf(x[:, :2, :2, :3])])
    with pytest.raises(ValueError, match=r"Permute\(\): permute: dims"):
        m(mt.randn(2, 3))


# --------------------------------------------------------------------------- FPN


def loop_fpn(fpn, feats):
    """torchvision's top-down pathway with minitorch_cv.reference's loop convs and nearest
    interpolation (no norm layer)."""
    conv = [(b[0].weight.numpy(), b[0].bias.numpy()) for b in fpn.inner_blocks]
    smooth = [(b[0].weight.numpy(), b[0].bias.numpy()) for b in fpn.layer_blocks]
    last = reference.conv2d(feats[-1], *conv[-1])
    results = [reference.conv2d(last, *smooth[-1], padding=1)]
    for i in range(len(feats) - 2, -1, -1):
        lateral = reference.conv2d(feats[i], *conv[i])
        last = lateral + reference.interpolate(last, size=lateral.shape[-2:], mode="nearest")
        results.insert(0, reference.conv2d(last, *smooth[i], padding=1))
    return results


def _feats(channels, sizes, rng=RNG):
    return [rng.normal(size=(2, c, h, w)) for c, (h, w) in zip(channels, sizes)]


def test_fpn_keys_counts_and_init():
    fpn = ops.FeaturePyramidNetwork([10, 20, 30], 5)
    keys = [
        f"{kind}.{i}.0.{p}"
        for kind in ("inner_blocks", "layer_blocks")
        for i in range(3)
        for p in ("weight", "bias")
    ]
    assert list(fpn.state_dict()) == keys
    assert _n_params(fpn) == (10 + 20 + 30) * 5 + 3 * 5 + 3 * (5 * 5 * 9 + 5)
    # torchvision's resnet50 FPN (fasterrcnn_resnet50_fpn's backbone.fpn): counted by hand
    big = ops.FeaturePyramidNetwork([256, 512, 1024, 2048], 256, extra_blocks=LastLevelMaxPool())
    assert _n_params(big) == (256 + 512 + 1024 + 2048) * 256 + 4 * 256 + 4 * (256 * 256 * 9 + 256)
    assert _n_params(big) == 3_344_384
    for b in list(big.inner_blocks) + list(big.layer_blocks):
        w, fan_in = b[0].weight.numpy(), math.prod(b[0].weight.shape[1:])
        bound = math.sqrt(3.0 / fan_in)  # kaiming_uniform_(a=1): gain 1
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
        np.testing.assert_array_equal(b[0].bias.numpy(), 0.0)
    normed = ops.FeaturePyramidNetwork([3, 4], 2, norm_layer=nn.BatchNorm2d)
    assert list(normed.state_dict())[:6] == [
        "inner_blocks.0.0.weight",
        "inner_blocks.0.1.weight",
        "inner_blocks.0.1.bias",
        "inner_blocks.0.1.running_mean",
        "inner_blocks.0.1.running_var",
        "inner_blocks.0.1.num_batches_tracked",
    ]
    assert _n_params(normed) == (3 + 4) * 2 + 2 * (2 * 2 * 9) + 4 * (2 + 2)


@pytest.mark.parametrize("sizes", [[(16, 12), (8, 6), (4, 3)], [(15, 13), (8, 7), (3, 5)]])
def test_fpn_equals_loop_reference_with_any_sizes(sizes):
    fpn = _randomise(ops.FeaturePyramidNetwork([2, 3, 4], 3, extra_blocks=LastLevelMaxPool()))
    feats = _feats([2, 3, 4], sizes)
    out = fpn(OrderedDict((f"c{i}", mt.tensor(f)) for i, f in enumerate(feats)))
    assert list(out) == ["c0", "c1", "c2", "pool"]
    want = loop_fpn(fpn, feats)
    for got, w, (h, ww) in zip(out.values(), want, sizes):
        assert got.shape == (2, 3, h, ww)
        np.testing.assert_allclose(got.numpy(), w, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(out["pool"].numpy(), out["c2"].numpy()[:, :, ::2, ::2])


def test_fpn_matches_torch_with_torchvision_structure():
    torch = pytest.importorskip("torch")
    tnn, tF = torch.nn, torch.nn.functional
    fpn = _randomise(ops.FeaturePyramidNetwork([2, 4], 3))
    t = tnn.Module()  # torchvision's layout: ModuleLists of Conv2dNormActivation (Sequentials)
    t.inner_blocks = tnn.ModuleList([tnn.Sequential(tnn.Conv2d(c, 3, 1)) for c in (2, 4)])
    t.layer_blocks = tnn.ModuleList(
        [tnn.Sequential(tnn.Conv2d(3, 3, 3, padding=1)) for _ in range(2)]
    )
    t.double().load_state_dict({k: torch.tensor(v.numpy()) for k, v in fpn.state_dict().items()})
    feats = _feats([2, 4], [(9, 7), (4, 4)])
    ours = [leaf(f) for f in feats]
    theirs = [torch.tensor(f, requires_grad=True) for f in feats]
    top = t.inner_blocks[1](theirs[1])
    p4 = t.layer_blocks[1](top)
    lateral = t.inner_blocks[0](theirs[0])
    p3 = t.layer_blocks[0](lateral + tF.interpolate(top, size=lateral.shape[-2:], mode="nearest"))
    out = fpn(OrderedDict(a=ours[0], b=ours[1]))
    for got, want in zip(out.values(), (p3, p4)):
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out["a"].sum() + (out["b"] ** 2).sum()).backward()
    (p3.sum() + (p4**2).sum()).backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    w = fpn.inner_blocks[1][0].weight.grad.numpy()
    np.testing.assert_allclose(w, t.inner_blocks[1][0].weight.grad.numpy(), rtol=1e-10)


def test_fpn_forward_backward_reaches_every_parameter_and_gradchecks():
    fpn = ops.FeaturePyramidNetwork([2, 3], 2, extra_blocks=LastLevelP6P7(2, 2))
    out = fpn(OrderedDict(x=mt.randn(1, 2, 8, 8), y=mt.randn(1, 3, 4, 4)))
    assert [(k, v.shape) for k, v in out.items()] == [
        ("x", (1, 2, 8, 8)),
        ("y", (1, 2, 4, 4)),
        ("p6", (1, 2, 2, 2)),
        ("p7", (1, 2, 1, 1)),
    ]
    sum(v.sum() for v in out.values()).backward()
    assert all(p.grad is not None for p in fpn.parameters())
    tiny = _randomise(ops.FeaturePyramidNetwork([1, 2], 1))
    feats = _feats([1, 2], [(3, 3), (2, 1)])
    assert mt.gradcheck(
        lambda a, b: tuple(tiny(OrderedDict(a=a, b=b)).values()), [leaf(f[:1]) for f in feats]
    )


def test_last_level_p6p7_uses_p5_or_c5():
    same = LastLevelP6P7(4, 4)
    assert same.use_P5 and list(same.state_dict()) == [
        "p6.weight",
        "p6.bias",
        "p7.weight",
        "p7.bias",
    ]
    np.testing.assert_array_equal(same.p6.bias.numpy(), 0.0)
    fpn = ops.FeaturePyramidNetwork([2, 6], 4, extra_blocks=LastLevelP6P7(6, 4))
    assert not fpn.extra_blocks.use_P5
    assert list(fpn.state_dict())[-4:] == [
        "extra_blocks.p6.weight",
        "extra_blocks.p6.bias",
        "extra_blocks.p7.weight",
        "extra_blocks.p7.bias",
    ]
    c5 = mt.randn(1, 6, 6, 6)
    out = fpn(OrderedDict(c4=mt.randn(1, 2, 12, 12), c5=c5))
    np.testing.assert_allclose(out["p6"].numpy(), fpn.extra_blocks.p6(c5).numpy(), rtol=1e-6)
    assert isinstance(LastLevelMaxPool(), ExtraFPNBlock)


def test_fpn_errors():
    with pytest.raises(ValueError, match=r"in_channels_list is empty"):
        ops.FeaturePyramidNetwork([], 2)
    with pytest.raises(ValueError, match=r"in_channels=0 is currently not supported"):
        ops.FeaturePyramidNetwork([4, 0], 2)
    with pytest.raises(TypeError, match=r"extra_blocks should be of type ExtraFPNBlock"):
        ops.FeaturePyramidNetwork([4], 2, extra_blocks=nn.ReLU())
    fpn = ops.FeaturePyramidNetwork([2, 3], 2)
    with pytest.raises(TypeError, match=r"expected an OrderedDict .* got list"):
        fpn([mt.randn(1, 2, 4, 4), mt.randn(1, 3, 2, 2)])
    with pytest.raises(ValueError, match=r"expected 2 feature maps .*C = \[2, 3\].*\(1, 3, 2, 2\)"):
        fpn(OrderedDict(a=mt.randn(1, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"C = \[2, 3\], got shapes \[\(1, 2, 4, 4\), \(1, 4, 2"):
        fpn(OrderedDict(a=mt.randn(1, 2, 4, 4), b=mt.randn(1, 4, 2, 2)))


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_fpn_and_frozen_batch_norm_on_cupy_equal_numpy():
    fpn = _randomise(ops.FeaturePyramidNetwork([2, 3], 4, extra_blocks=LastLevelMaxPool()))
    frozen = _randomise(ops.FrozenBatchNorm2d(4))
    feats = _feats([2, 3], [(9, 7), (5, 4)])
    results = []
    for dev in ("cpu", "cuda"):
        fpn.to(dev), frozen.to(dev)
        ts = [mt.tensor(f, requires_grad=True, device=dev) for f in feats]
        out = fpn(OrderedDict(a=ts[0], b=ts[1]))
        sum((frozen(v) ** 2).sum() for v in out.values()).backward()
        results.append([np.asarray(v) for v in out.values()] + [np.asarray(t.grad) for t in ts])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
