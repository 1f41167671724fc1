"""1-D convolution and pooling (conv1d, conv_transpose1d, max/avg/adaptive pooling, unpooling)
and their layers: each equals the loop reference in `minitorch_cv.reference` over
hypothesis-drawn shapes, strides, paddings, dilations and groups; passes gradcheck in float64;
reports bad input in 1-D terms; and equals PyTorch (values, gradients, reprs, state dicts) when
torch is there."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv import reference as R
from minitorch_cv.kernels.shapes import conv_out, conv_transpose_out, pool_out
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity


@st.composite
def conv1d_case(draw, transposed=False):
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    n, length, k = draw(st.integers(1, 2)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, 2))
    if transposed:
        out_pad = draw(st.integers(0, max(stride, dilation) - 1))
        assume(conv_transpose_out(length, k, stride, padding, out_pad, dilation) >= 1)
        weight_shape = (cin, cout // groups, k)
        opts = dict(stride=stride, padding=padding, output_padding=out_pad, groups=groups,
                    dilation=dilation)  # fmt: skip
    else:
        padding = draw(st.sampled_from([padding, padding, "valid"] + ["same"] * (stride == 1)))
        pads = 0 if padding in ("valid", "same") else padding
        assume(padding == "same" or conv_out(length, k, stride, pads, dilation) >= 1)
        weight_shape = (cout, cin // groups, k)
        opts = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    x = draw(arrays((n, cin, length)))
    w = draw(arrays(weight_shape))
    b = draw(st.none() | arrays((cout,)))
    return x, w, b, opts


@SETTINGS
@given(case=conv1d_case())
def test_conv1d_matches_loop_reference_and_gradcheck(case):
    x, w, b, opts = case
    got = F.conv1d(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b), **opts)
    np.testing.assert_allclose(got.numpy(), R.conv1d(x, w, b, **opts), rtol=1e-12, atol=1e-12)
    leaves = [x, w] if b is None else [x, w, b]
    check_grad(lambda L, *t: L.F.conv1d(*t, **opts), leaves)


@SETTINGS
@given(case=conv1d_case(transposed=True))
def test_conv_transpose1d_matches_loop_reference_and_gradcheck(case):
    x, w, b, opts = case
    got = F.conv_transpose1d(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b),
                             **opts)  # fmt: skip
    want = R.conv_transpose1d(x, w, b, **opts)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    leaves = [x, w] if b is None else [x, w, b]
    check_grad(lambda L, *t: L.F.conv_transpose1d(*t, **opts), leaves)


@pytest.mark.parity
@SETTINGS
@given(case=conv1d_case(), transposed_case=conv1d_case(transposed=True))
def test_conv1d_and_conv_transpose1d_match_torch(case, transposed_case):
    torch = pytest.importorskip("torch")
    for fn, (x, w, b, opts) in (("conv1d", case), ("conv_transpose1d", transposed_case)):
        leaves = [x, w] if b is None else [x, w, b]
        check_parity(torch, lambda L, *t, fn=fn, o=opts: getattr(L.F, fn)(*t, **o), leaves)


@st.composite
def pool1d_case(draw):
    n, c, length = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 10))
    k, stride = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    padding, dilation = draw(st.integers(0, k // 2)), draw(st.integers(1, 2))
    ceil_mode = draw(st.booleans())
    assume(pool_out(length, k, stride, padding, dilation, ceil_mode) >= 1)
    # a dilated window can fall wholly into the padding: -inf there and an index outside the
    # input (PyTorch's too; its backward then writes into the next plane), so those are left out
    starts = [i * stride - padding for i in range(pool_out(length, k, stride, padding, dilation,
                                                           ceil_mode))]  # fmt: skip
    assume(all(any(0 <= s + a * dilation < length for a in range(k)) for s in starts))
    x = draw(arrays((n, c, length), unique=True))  # no ties: one argmax per window
    return x, dict(kernel_size=k, stride=stride, padding=padding, dilation=dilation,
                   ceil_mode=ceil_mode)  # fmt: skip


@SETTINGS
@given(case=pool1d_case(), count_include_pad=st.booleans())
def test_pool1d_match_loop_references_and_gradcheck(case, count_include_pad):
    x, opts = case
    want_y, want_idx = R.max_pool1d(x, **opts)
    y, idx = F.max_pool1d(mt.tensor(x), **opts, return_indices=True)
    np.testing.assert_array_equal(y.numpy(), want_y)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    check_grad(lambda L, a: L.F.max_pool1d(a, **opts), [x])
    avg = {k: v for k, v in opts.items() if k != "dilation"}
    if opts["dilation"] == 1:
        got = F.avg_pool1d(mt.tensor(x), **avg, count_include_pad=count_include_pad).numpy()
        want = R.avg_pool1d(x, **avg, count_include_pad=count_include_pad)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
        check_grad(lambda L, a: L.F.avg_pool1d(a, **avg, count_include_pad=count_include_pad), [x])
    # unpooling puts every maximum back where it came from (output_size may only add less than
    # a stride to the default length (L_out - 1) * stride - 2 * padding + kernel_size)
    k, s, p = opts["kernel_size"], opts["stride"], opts["padding"]
    default = (y.shape[-1] - 1) * s - 2 * p + k
    if default <= x.shape[-1] < default + s:
        u = F.max_unpool1d(y, idx, k, s, p, output_size=x.shape[-1:])
        back = np.zeros_like(x)
        np.put_along_axis(back, want_idx, want_y, axis=-1)
        np.testing.assert_array_equal(u.numpy(), back)


@SETTINGS
@given(n=st.integers(1, 2), length=st.integers(1, 9), out=st.integers(1, 5), data=st.data())
def test_adaptive_pool1d_match_the_2d_references_and_gradcheck(n, length, out, data):
    x = data.draw(arrays((n, 2, length), unique=True))
    got = F.adaptive_avg_pool1d(mt.tensor(x), out).numpy()
    np.testing.assert_allclose(
        got, R.adaptive_avg_pool2d(x[:, :, None], (1, out))[:, :, 0], rtol=1e-12, atol=1e-15
    )
    y, idx = F.adaptive_max_pool1d(mt.tensor(x), out, return_indices=True)
    want_y, want_idx = R.adaptive_max_pool2d(x[:, :, None], (1, out))
    np.testing.assert_array_equal(y.numpy(), want_y[:, :, 0])
    np.testing.assert_array_equal(idx.numpy(), want_idx[:, :, 0])
    check_grad(lambda L, a: L.F.adaptive_avg_pool1d(a, out), [x])
    check_grad(lambda L, a: L.F.adaptive_max_pool1d(a, out), [x])


@pytest.mark.parity
@SETTINGS
@given(case=pool1d_case(), out=st.integers(1, 4))
def test_pool1d_match_torch(case, out):
    torch = pytest.importorskip("torch")
    x, opts = case
    check_parity(torch, lambda L, a: L.F.max_pool1d(a, **opts), [x])
    if opts["dilation"] == 1:
        avg = {k: v for k, v in opts.items() if k != "dilation"}
        check_parity(torch, lambda L, a: L.F.avg_pool1d(a, **avg), [x])
    check_parity(torch, lambda L, a: L.F.adaptive_avg_pool1d(a, out), [x])
    check_parity(torch, lambda L, a: L.F.adaptive_max_pool1d(a, out), [x])


def test_unbatched_inputs_keep_their_rank():
    x, w = mt.randn(3, 10), mt.randn(4, 3, 3)
    assert F.conv1d(x, w, padding=1).shape == (4, 10)
    assert F.conv_transpose1d(mt.randn(4, 5), w, stride=2).shape == (3, 11)
    y, idx = F.max_pool1d(x, 2, return_indices=True)
    assert y.shape == idx.shape == (3, 5)
    assert F.max_unpool1d(y, idx, 2).shape == (3, 10)
    assert F.avg_pool1d(x, 3).shape == (3, 3)
    assert F.adaptive_avg_pool1d(x, 4).shape == F.adaptive_max_pool1d(x, 4).shape == (3, 4)


def test_errors_speak_in_1d_shapes():
    x = mt.randn(2, 3, 10)
    with pytest.raises(ValueError, match=r"conv1d: expected 2-D \(C, L\) or 3-D \(N, C, L\) "
                                         r"input, got shape \(2, 3, 4, 4\)"):  # fmt: skip
        F.conv1d(mt.randn(2, 3, 4, 4), mt.randn(4, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected a 3-D weight \(C_out, C_in/groups, "
                                         r"K\), got shape \(4, 3, 3, 3\)"):  # fmt: skip
        F.conv1d(x, mt.randn(4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected input with 2 channels"):
        F.conv1d(x, mt.randn(4, 2, 3))
    with pytest.raises(ValueError, match=r"conv1d: kernel 7 \(dilation 2\) is larger than the "
                                         r"padded input: input \(2, 3, 10\)"):  # fmt: skip
        F.conv1d(x, mt.randn(4, 3, 7), dilation=2)
    with pytest.raises(ValueError, match=r"padding='same' is not supported for strided"):
        F.conv1d(x, mt.randn(4, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv_transpose1d: output_padding 2 must be smaller"):
        F.conv_transpose1d(x, mt.randn(3, 2, 3), stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"max_pool1d: padding 2 must be >= 0 and at most half "
                                         r"the kernel size 3"):  # fmt: skip
        F.max_pool1d(x, 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool1d: kernel 12 .* empty output for input of "
                                         r"length 10"):  # fmt: skip
        F.avg_pool1d(x, 12)
    want = r"Conv1d\(3->4, k=3\): expected 3-D input \(N, 3, L\) or unbatched 2-D \(3, L\)"
    with pytest.raises(ValueError, match=want + r", got shape \(2, 3, 4, 4\)"):
        nn.Conv1d(3, 4, 3)(mt.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"Conv1d\(3->4, k=3\): expected input with 3 channels"):
        nn.Conv1d(3, 4, 3)(mt.randn(2, 5, 10))


def test_conv1d_layer_weights_init_and_padding_modes():
    layer = nn.Conv1d(6, 4, 5, groups=2, padding=2, padding_mode="reflect")
    assert tuple(layer.weight.shape) == (4, 3, 5) and list(layer.state_dict()) == ["weight", "bias"]
    bound = 1 / np.sqrt(3 * 5)  # U(+-1/sqrt(fan_in)), fan_in = C_in/groups * K
    assert np.abs(layer.weight.numpy()).max() <= bound and np.abs(layer.bias.numpy()).max() <= bound
    x = np.random.default_rng(0).standard_normal((2, 6, 9))
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2)), mode="reflect")
    want = R.conv1d(padded.astype(np.float32), layer.weight.numpy(), layer.bias.numpy(), groups=2)
    np.testing.assert_allclose(layer(mt.tensor(x, dtype=mt.float32)).numpy(), want, rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    up = nn.ConvTranspose1d(6, 2, 4, stride=2, padding=1)
    assert tuple(up.weight.shape) == (6, 2, 4)
    assert up(mt.randn(2, 6, 9)).shape == (2, 2, 18)
    assert up(mt.randn(2, 6, 9), output_size=(19,)).shape == (2, 2, 19)


@pytest.mark.parity
def test_1d_layers_match_torch_modules():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    pairs = [
        (nn.Conv1d(4, 6, 3), tnn.Conv1d(4, 6, 3)),
        (nn.Conv1d(4, 6, 4, padding="same", dilation=2, padding_mode="circular"),
         tnn.Conv1d(4, 6, 4, padding="same", dilation=2, padding_mode="circular")),
        (nn.Conv1d(4, 6, 5, stride=2, padding=2, groups=2, bias=False, padding_mode="replicate"),
         tnn.Conv1d(4, 6, 5, stride=2, padding=2, groups=2, bias=False,
                    padding_mode="replicate")),
        (nn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1),
         tnn.ConvTranspose1d(4, 6, 3, stride=2, output_padding=1)),
        (nn.MaxPool1d(3, 2, 1), tnn.MaxPool1d(3, 2, 1)),
        (nn.AvgPool1d(3, 2, 1, count_include_pad=False),
         tnn.AvgPool1d(3, 2, 1, count_include_pad=False)),
        (nn.AdaptiveAvgPool1d(3), tnn.AdaptiveAvgPool1d(3)),
        (nn.AdaptiveMaxPool1d(5), tnn.AdaptiveMaxPool1d(5)),
    ]  # fmt: skip
    x = np.random.default_rng(0).standard_normal((2, 4, 13)).astype(np.float32)
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        state = {k: mt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()}
        assert list(state) == list(ours.state_dict())
        ours.load_state_dict(state)
        y, yt = ours(mt.tensor(x, requires_grad=True)), theirs(torch.tensor(x))
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert repr(nn.MaxUnpool1d(2, 3)) == repr(tnn.MaxUnpool1d(2, 3))
