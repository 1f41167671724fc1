"""The padding layers (ZeroPad2d ... CircularPad2d), Unfold / Fold and the two Upsampling layers:
each equals what it stands for (np.pad, im2col by the convolution, interpolate), its gradient
passes gradcheck in float64, and with PyTorch installed its repr and outputs equal PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import nn, reference
from tests.strategies import FEW, SETTINGS, array, seeds

# layer, its np.pad mode, the largest width each side may have for a side of n pixels
PADS = {
    "ZeroPad2d": (lambda p: nn.ZeroPad2d(p), "constant", lambda n: 3),
    "ConstantPad2d": (lambda p: nn.ConstantPad2d(p, -2.5), "constant", lambda n: 3),
    "ReflectionPad2d": (lambda p: nn.ReflectionPad2d(p), "reflect", lambda n: n - 1),
    "ReplicationPad2d": (lambda p: nn.ReplicationPad2d(p), "edge", lambda n: 3),
    "CircularPad2d": (lambda p: nn.CircularPad2d(p), "wrap", lambda n: n),
}


@st.composite
def pad_cases(draw, name):
    make, mode, most = PADS[name]
    h, w = draw(st.integers(2, 5)), draw(st.integers(2, 5))
    left, right = (draw(st.integers(0, most(w))) for _ in range(2))
    top, bottom = (draw(st.integers(0, most(h))) for _ in range(2))
    shape = draw(st.sampled_from([(2, 3, h, w), (3, h, w)]))  # batched and unbatched
    return name, make, mode, (left, right, top, bottom), shape


@pytest.mark.parametrize("name", sorted(PADS))
@SETTINGS
@given(data=st.data(), seed=seeds)
def test_pad_layers_equal_np_pad(name, data, seed):
    name, make, mode, (left, right, top, bottom), shape = data.draw(pad_cases(name))
    x = array(seed, shape)
    widths = [(0, 0)] * (len(shape) - 2) + [(top, bottom), (left, right)]
    kw = {"constant_values": -2.5} if name == "ConstantPad2d" else {}
    expect = np.pad(x, widths, mode=mode, **kw)
    np.testing.assert_array_equal(make((left, right, top, bottom))(mt.tensor(x)).numpy(), expect)


@pytest.mark.parametrize("name", sorted(PADS))
@FEW
@given(data=st.data(), seed=seeds)
def test_pad_layers_gradcheck_float64(name, data, seed):
    _, make, _, padding, shape = data.draw(pad_cases(name))
    x = mt.tensor(array(seed, shape), requires_grad=True)
    assert mt.gradcheck(make(padding), [x])


def test_unfold_and_fold_take_unbatched_input():
    x = array(3, (2, 5, 6))
    cols = nn.Unfold(2, stride=2)(mt.tensor(x))
    np.testing.assert_array_equal(
        cols.numpy(), nn.Unfold(2, stride=2)(mt.tensor(x[None])).numpy()[0]
    )
    back = nn.Fold((5, 6), 2, stride=2)(cols)
    np.testing.assert_array_equal(back.numpy(), nn.Fold((5, 6), 2, stride=2)(cols[None]).numpy()[0])


def test_negative_padding_crops_and_an_int_pads_every_side():
    x = np.arange(20.0).reshape(1, 1, 4, 5)
    y = nn.ZeroPad2d((-1, 2, 0, -2))(mt.tensor(x)).numpy()
    np.testing.assert_array_equal(y, np.pad(x[:, :, :2, 1:], ((0, 0), (0, 0), (0, 0), (0, 2))))
    assert nn.ReflectionPad2d(2).padding == nn.ZeroPad2d(np.int64(2)).padding == (2, 2, 2, 2)


@FEW
@given(
    k=st.integers(1, 3), d=st.integers(1, 2), p=st.integers(0, 1), s=st.integers(1, 2), seed=seeds
)
def test_unfold_is_conv2d_before_its_matrix_product_and_fold_is_its_adjoint(k, d, p, s, seed):
    x = array(seed, (2, 3, 6, 5))
    conv = nn.Conv2d(3, 4, k, stride=s, padding=p, dilation=d, bias=False).double()
    unfold = nn.Unfold(k, dilation=d, padding=p, stride=s)
    cols = unfold(mt.tensor(x))  # (N, C*K*K, L)
    y = conv(mt.tensor(x))
    via_cols = conv.weight.numpy().reshape(4, -1) @ cols.numpy()
    np.testing.assert_allclose(via_cols.reshape(y.shape), y.numpy(), rtol=1e-12, atol=1e-12)
    fold = nn.Fold((6, 5), k, dilation=d, padding=p, stride=s)
    c = array(seed + 1, cols.shape)  # <unfold(x), c> == <x, fold(c)>
    lhs = float((cols.numpy() * c).sum())
    np.testing.assert_allclose(lhs, float((x * fold(mt.tensor(c)).numpy()).sum()), rtol=1e-12)
    xt = mt.tensor(x, requires_grad=True)
    assert mt.gradcheck(unfold, [xt])
    assert mt.gradcheck(fold, [mt.tensor(c, requires_grad=True)])


@pytest.mark.parametrize("size, scale", [(None, 2), ((5, 7), None), (None, 1.5)])
def test_upsampling_layers_are_upsample_with_torchs_fixed_options(size, scale):
    x = array(0, (2, 3, 4, 5))
    near = nn.UpsamplingNearest2d(size=size, scale_factor=scale)(mt.tensor(x)).numpy()
    np.testing.assert_array_equal(near, reference.interpolate(x, size, scale, mode="nearest"))
    bil = nn.UpsamplingBilinear2d(size=size, scale_factor=scale)(mt.tensor(x)).numpy()
    expect = reference.interpolate(x, size, scale, mode="bilinear", align_corners=True)
    np.testing.assert_allclose(bil, expect, rtol=1e-12, atol=1e-12)


def test_bad_input_names_the_layer_and_the_shape():
    x = mt.tensor(np.zeros((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"^ReflectionPad2d\(\(3, 3, 0, 0\)\): pad: reflect .*3"):
        nn.ReflectionPad2d((3, 3, 0, 0))(x)
    with pytest.raises(ValueError, match=r"^CircularPad2d\(.*wraps around .* more than once"):
        nn.CircularPad2d(4)(x)
    with pytest.raises(ValueError, match=r"^ReplicationPad2d.*expected 3-D or 4-D input.*\(3,\)"):
        nn.ReplicationPad2d(1)(mt.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match=r"ZeroPad2d: padding must be an int or \(left, right"):
        nn.ZeroPad2d((1, 2))
    with pytest.raises(TypeError, match=r"ReflectionPad2d: padding must be an int or ints"):
        nn.ReflectionPad2d((1.5, 1, 1, 1))
    with pytest.raises(ValueError, match=r"^Fold\(.*\): fold: input \(1, 4, 5\) does not match"):
        nn.Fold((3, 3), 2)(mt.tensor(np.zeros((1, 4, 5))))


# --------------------------------------------------------------------------- PyTorch parity

LAYERS = [  # (name, args, input shape)
    ("ZeroPad2d", ((1, 2, 0, 3),), (2, 3, 4, 5)),
    ("ConstantPad2d", (2, 3.5), (3, 4, 5)),
    ("ReflectionPad2d", (2,), (2, 3, 4, 5)),
    ("ReplicationPad2d", ((1, 0, 2, 3),), (2, 3, 4, 5)),
    ("CircularPad2d", ((3, 1, 2, 4),), (2, 3, 4, 5)),
    ("Unfold", ((2, 3), 2, 1, 2), (2, 3, 6, 7)),
    ("Fold", ((4, 5), 2), (2, 8, 12)),
    ("UpsamplingNearest2d", (None, 2), (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", ((7, 9),), (2, 3, 4, 5)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name, args, shape", LAYERS, ids=[c[0] for c in LAYERS])
def test_layers_match_torch_repr_forward_and_backward(name, args, shape):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
    assert repr(ours) == repr(theirs)
    x = array(1, shape).astype(np.float32)
    xo, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(yo.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    g = array(2, yt.shape).astype(np.float32)
    yo.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
