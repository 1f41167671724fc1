"""Conv2d, ConvTranspose2d and the pooling, unpooling and resampling layers as modules: padding
modes equal padding by hand, gradients of the layer path pass gradcheck, output_size picks the
transposed conv's size; PyTorch's repr, state_dict keys, and outputs of a torch state dict;
bad input names the layer and the shapes. The functional math is tested in tests/functional."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import nn, reference
from tests.strategies import FEW, SETTINGS, array, seeds

# the np.pad mode that pads as each Conv2d padding_mode does
NP_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


@st.composite
def padded_convs(draw):
    """(Conv2d kwargs, input shape): any padding mode, with 'same' and 'valid' among the
    paddings, and sizes that every mode accepts (reflect needs padding < size)."""
    h, w = draw(st.integers(3, 7)), draw(st.integers(3, 7))
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2, (1, 0), (0, 2)]))
    stride = 1 if padding == "same" else draw(st.integers(1, 3))
    kwargs = dict(
        in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, padding=padding,
        dilation=dilation, groups=groups, bias=draw(st.booleans()),
        padding_mode=draw(st.sampled_from(list(NP_PAD))),
    )  # fmt: skip
    pads = _pads(kwargs, (h, w))
    # every pad smaller than its side (reflect's rule) and the dilated kernel fits
    for (lo, hi), size, kk in zip(pads, (h, w), k):
        if max(lo, hi) >= size or size + lo + hi < dilation * (kk - 1) + 1:
            return draw(padded_convs())
    return kwargs, (draw(st.integers(1, 2)), cin, h, w)


def _pads(kwargs, size):
    """((top, bottom), (left, right)) that the layer pads by: 'same' puts the odd one at the end."""
    padding, k, d = kwargs["padding"], kwargs["kernel_size"], kwargs["dilation"]
    if padding == "same":
        return tuple((d * (kk - 1) // 2, d * (kk - 1) - d * (kk - 1) // 2) for kk in k)
    if padding == "valid":
        return ((0, 0), (0, 0))
    p = (padding, padding) if isinstance(padding, int) else padding
    return ((p[0], p[0]), (p[1], p[1]))


@SETTINGS
@given(conv=padded_convs(), seed=seeds)
def test_conv2d_padding_modes_equal_np_pad_then_the_loop_reference(conv, seed):
    kwargs, shape = conv
    layer = nn.Conv2d(**kwargs).double()
    x = array(seed, shape)
    pads = _pads(kwargs, shape[2:])
    xpad = np.pad(x, ((0, 0), (0, 0), *pads), mode=NP_PAD[kwargs["padding_mode"]])
    bias = None if layer.bias is None else layer.bias.numpy()
    expect = reference.conv2d(
        xpad, layer.weight.numpy(), bias, kwargs["stride"], 0, kwargs["dilation"], kwargs["groups"]
    )
    y = layer(mt.tensor(x))
    assert y.shape == expect.shape
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-10, atol=1e-10)


@FEW
@given(conv=padded_convs(), seed=seeds)
def test_conv2d_layer_gradcheck_float64(conv, seed):
    kwargs, shape = conv
    layer = nn.Conv2d(**kwargs).double()
    x = mt.tensor(array(seed, shape), requires_grad=True)
    # gradcheck perturbs the parameters in place, so the layer sees every step
    assert mt.gradcheck(lambda x, *params: layer(x), [x, *layer.parameters()])


@FEW
@given(
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
    h=st.integers(1, 5),
    seed=seeds,
)
def test_conv_transpose2d_output_size_reaches_every_valid_size(k, s, p, h, seed):
    layer = nn.ConvTranspose2d(2, 3, k, stride=s, padding=p).double()
    smallest = (h - 1) * s - 2 * p + k
    x = mt.tensor(array(seed, (1, 2, h, h)), requires_grad=True)
    for size in range(max(smallest, 1), smallest + s):
        y = layer(x, output_size=(size, size))
        assert y.shape == (1, 3, size, size)
    with pytest.raises(
        ValueError, match=r"ConvTranspose2d\(2->3, k=\d\): output size .* not reachable"
    ):
        layer(x, output_size=(smallest + s, smallest + s))


@pytest.mark.parametrize(
    "layer",
    [
        nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
        nn.Conv2d(2, 4, 3, stride=2, groups=2),
        nn.ConvTranspose2d(2, 3, 3, stride=2, output_padding=1),
    ],
)
def test_conv_layers_take_unbatched_input_as_a_batch_of_one(layer):
    x = array(3, (2, 5, 6)).astype(np.float32)
    y = layer(mt.tensor(x))
    np.testing.assert_allclose(y.numpy(), layer(mt.tensor(x[None])).numpy()[0], rtol=1e-6)


def test_conv_transpose2d_output_size_range_is_a_stride_wide_and_takes_unbatched_input():
    """As torch: the reachable sizes are smallest .. smallest + stride - 1 whatever the dilation
    (with stride 1 only the smallest), and output_size has 2 elements or the input's rank."""
    layer = nn.ConvTranspose2d(2, 3, 3, stride=1, dilation=3)
    x = mt.tensor(np.zeros((2, 5, 5), np.float32))  # unbatched: smallest (5-1) + 3*(3-1) + 1
    assert layer(x, output_size=(11, 11)).shape == (3, 11, 11)
    assert layer(x, output_size=(3, 11, 11)).shape == (3, 11, 11)
    with pytest.raises(ValueError, match=r"valid sizes for dim 0 are 11\.\.11"):
        layer(x, output_size=(12, 11))
    with pytest.raises(ValueError, match="for 3-D input, output_size must have 2 or 3 elements"):
        layer(x, output_size=(1, 3, 11, 11))


def test_max_pool2d_indices_drive_max_unpool2d():
    pool = nn.MaxPool2d(2, stride=2, return_indices=True)
    unpool = nn.MaxUnpool2d(2)
    x = mt.tensor(array(7, (2, 3, 5, 4)), requires_grad=True)
    y, idx = pool(x)
    back = unpool(y, idx, output_size=x.shape)
    assert back.shape == x.shape
    # each window's max goes back where it came from; everything else is zero
    kept = back.numpy() != 0
    np.testing.assert_array_equal(back.numpy()[kept], x.numpy()[kept])
    assert kept.sum() == y.numpy().size


def test_repr_like_pytorch():
    assert repr(nn.Conv2d(3, 8, 3, padding="same")) == (
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same)"
    )
    assert repr(nn.MaxUnpool2d(2)) == (
        "MaxUnpool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    )
    assert repr(nn.Upsample(scale_factor=2, mode="bilinear")) == (
        "Upsample(scale_factor=2.0, mode='bilinear')"
    )
    # the scale factor wins when both are given; a zero one is no scale factor
    assert repr(nn.Upsample(size=3, scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert repr(nn.Upsample(scale_factor=0)) == "Upsample(size=None, mode='nearest')"
    # recompute_scale_factor reaches interpolate: scale 1.7 on 5 -> 8 pixels, sampled at 5/8
    x = mt.tensor(np.arange(5.0).reshape(1, 1, 1, 5))
    y = nn.Upsample(scale_factor=(1, 1.7), recompute_scale_factor=True)(x)
    np.testing.assert_array_equal(y.numpy().ravel(), np.floor(np.arange(8) * 5 / 8))


def test_conv2d_kernel_larger_than_padded_input_names_the_layer():
    with pytest.raises(ValueError) as e:
        nn.Conv2d(1, 16, 5, padding=1)(mt.tensor(np.zeros((8, 1, 2, 28), np.float32)))
    assert str(e.value) == (
        "Conv2d(1->16, k=5): kernel (5, 5) (dilation (1, 1)) is larger than the padded input: "
        "got shape (8, 1, 2, 28), padding (1, 1)"
    )


BAD_INPUT = [  # layers whose checks live in their functional op: (layer, bad input shape)
    (nn.MaxPool2d(3), (1, 1, 2, 2)),  # window larger than the input
    (nn.AvgPool2d(2), (8,)),
    (nn.AdaptiveMaxPool2d(2), (4, 4)),
    (nn.Upsample(scale_factor=2), (2, 3)),
    (nn.Dropout2d(0.5), (3,)),
]


@pytest.mark.parametrize("layer, shape", BAD_INPUT, ids=lambda v: type(v).__name__)
def test_bad_input_error_names_the_layer_as_printed_and_the_shape(layer, shape):
    with pytest.raises(ValueError) as e:
        layer(mt.tensor(np.zeros(shape, np.float32)))
    assert str(e.value).startswith(repr(layer) + ": ") and str(shape) in str(e.value)


def test_layer_named_once_and_containers_pass_the_child_error_on():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2))
    with pytest.raises(ValueError) as e:  # the conv names itself already: not prefixed twice
        model(mt.tensor(np.zeros((1, 2, 8, 8), np.float32)))
    assert str(e.value).startswith("Conv2d(3->4, k=3): expected input with 3 channels")
    with pytest.raises(ValueError) as e:  # conv gives (1, 4, 1, 1): too small for the pool
        model(mt.tensor(np.zeros((1, 3, 3, 3), np.float32)))
    assert str(e.value).startswith("MaxPool2d(kernel_size=2, stride=2,")
    assert "(1, 4, 1, 1)" in str(e.value)


# --------------------------------------------------------------------------- PyTorch parity

LAYERS = [  # (name, args, kwargs, input shape)
    ("Conv2d", (3, 8, 3), {}, (2, 3, 9, 8)),
    (
        "Conv2d",
        (4, 6, (3, 5)),
        dict(stride=2, padding=(1, 2), dilation=(2, 1), groups=2),
        (2, 4, 11, 10),
    ),
    ("Conv2d", (3, 4, 4), dict(padding="same", bias=False), (2, 3, 7, 6)),
    ("Conv2d", (2, 4, 3), dict(padding=2, padding_mode="reflect"), (2, 2, 5, 6)),
    ("Conv2d", (2, 4, 3), dict(padding=1, padding_mode="replicate", stride=2), (2, 2, 5, 6)),
    ("Conv2d", (2, 4, 3), dict(padding=(1, 2), padding_mode="circular"), (2, 2, 5, 6)),
    (
        "ConvTranspose2d",
        (4, 6, 3),
        dict(stride=2, padding=1, output_padding=1, groups=2),
        (2, 4, 5, 4),
    ),
    ("ConvTranspose2d", (3, 2, 2), dict(stride=2, dilation=2, output_padding=1), (2, 3, 4, 5)),
    ("MaxPool2d", (3,), dict(stride=2, padding=1, ceil_mode=True), (2, 3, 8, 7)),
    ("MaxPool2d", (2,), dict(dilation=2), (2, 3, 9, 9)),
    (
        "AvgPool2d",
        (3,),
        dict(stride=2, padding=1, count_include_pad=False, ceil_mode=True),
        (2, 3, 8, 7),
    ),
    ("AdaptiveAvgPool2d", ((3, 2),), {}, (2, 3, 8, 7)),
    ("AdaptiveMaxPool2d", (3,), {}, (2, 3, 8, 7)),
    ("Upsample", (), dict(scale_factor=2, mode="bilinear", align_corners=False), (2, 3, 4, 5)),
    ("Upsample", (), dict(size=(7, 9), mode="bilinear", align_corners=True), (2, 3, 4, 5)),
    ("Upsample", (), dict(scale_factor=3), (2, 3, 4, 5)),
]


@pytest.mark.parity
@pytest.mark.parametrize("name,args,kwargs,shape", LAYERS)
def test_torch_layer_state_dict_loads_and_gives_torch_outputs(name, args, kwargs, shape):
    """Same repr and state_dict keys as torch; torch's (default-initialised) weights loaded into
    ours give torch's forward and backward in float32."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = getattr(torch.nn, name)(*args, **kwargs)
    ours = getattr(nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(np.float32)
    xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = rng.standard_normal(yt.shape).astype(np.float32)
    y.backward(mt.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    for (n, p), pt in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=n)


@pytest.mark.parity
def test_max_pool_and_unpool_layers_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((2, 3, 7, 6)).astype(np.float32)
    pool, tpool = (
        nn.MaxPool2d(3, 2, 1, return_indices=True),
        torch.nn.MaxPool2d(3, 2, 1, return_indices=True),
    )
    unpool, tunpool = nn.MaxUnpool2d(3, 2, 1), torch.nn.MaxUnpool2d(3, 2, 1)
    assert repr(unpool) == repr(tunpool)
    y, idx = pool(mt.tensor(x))
    yt, idxt = tpool(torch.tensor(x))
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    back = unpool(y, idx, output_size=x.shape)
    backt = tunpool(yt, idxt, output_size=x.shape)
    np.testing.assert_array_equal(back.numpy(), backt.numpy())


@pytest.mark.parametrize("channels", [3, 32])  # channel-major and channels-last unfolding
def test_conv_forward_and_backward_of_an_empty_batch(channels):
    conv = mt.nn.Conv2d(channels, 4, 3)
    x = mt.zeros(0, channels, 7, 7, requires_grad=True)
    y = conv(x)
    y.sum().backward()
    assert y.shape == (0, 4, 5, 5) and x.grad.shape == (0, channels, 7, 7)
    assert not conv.weight.grad.numpy().any() and not conv.bias.grad.numpy().any()
