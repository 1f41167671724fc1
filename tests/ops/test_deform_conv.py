"""mt.ops.deform_conv2d and DeformConv2d: equal to torchvision's kernel written as loops (per
image, output pixel, tap and channel, with its bilinear_interpolate and, for the offset and mask
gradients, its get_coordinate_weight) over hypothesis-drawn shapes, strides, paddings,
dilations, weight groups, offset groups, masks and offsets (fractional, integer, outside the
image, on the -1 / H borders); float64 gradchecks of all five inputs away from the bilinear
kinks; zero offsets with mask 1 are conv2d (ours and torch's), integer offsets a shifted conv;
chunking over the batch changes nothing; the layer's parameters, init, state_dict keys and
torchvision repr; errors."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import ops
from minitorch_cv.backend import gpu_available
from minitorch_cv.ops import deform_conv as deform_module
from tests.strategies_core import SETTINGS, arrays, leaf

# --------------------------------------------------------------------------- loop reference


def loop_corners(h, w, y, x):
    """The four neighbours of (y, x) as torchvision's kernels take them: (row, col, row weight,
    col weight, d row weight / dy, d col weight / dx), a neighbour outside the image dropped."""
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    out = []
    for r, wr, dr in ((y0, 1 - ly, -1.0), (y0 + 1, ly, 1.0)):
        for q, wq, dq in ((x0, 1 - lx, -1.0), (x0 + 1, lx, 1.0)):
            if 0 <= r < h and 0 <= q < w:
                out.append((r, q, wr, wq, dr, dq))
    return out


def loop_bilinear(img, y, x):
    """torchvision's bilinear_interpolate on one plane."""
    h, w = img.shape
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    return sum(wr * wq * img[r, q] for r, q, wr, wq, _, _ in loop_corners(h, w, y, x))


def loop_deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask, gy=None):
    """deform_conv2d as loops over image, output channel, output pixel, channel and tap. With
    gy, also torchvision's gradients of sum(y * gy) (gcol = w * gy, a column's gradient): the
    input's, m * gcol times each neighbour's bilinear weight (its col2im kernel); the offset's,
    m * gcol times the coordinate weight (the bilinear weights' derivatives, with no -1 / H
    border test); the mask's, gcol times the sampled value; the weight's, gy times the column.
    Returns (y, [gx, g_offset, g_weight, g_mask])."""
    n, c, h, w = x.shape
    f, cw, kh, kw = weight.shape
    fg = f // (c // cw)
    _, _, oh, ow = offset.shape
    og = offset.shape[1] // (2 * kh * kw)
    out = np.zeros((n, f, oh, ow))
    gx, g_off, gw = np.zeros(x.shape), np.zeros(offset.shape), np.zeros(weight.shape)
    g_mask = np.zeros((n, og * kh * kw, oh, ow))
    for b in range(n):
        for o in range(f):
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0 if bias is None else bias[o]
                    for ci in range(cw):
                        ch = (o // fg) * cw + ci
                        g = ch // (c // og)
                        for ki in range(kh):
                            for kj in range(kw):
                                t = g * kh * kw + ki * kw + kj
                                dy, dx = offset[b, 2 * t, i, j], offset[b, 2 * t + 1, i, j]
                                m = 1.0 if mask is None else mask[b, t, i, j]
                                yy = i * stride[0] - padding[0] + ki * dilation[0] + dy
                                xx = j * stride[1] - padding[1] + kj * dilation[1] + dx
                                val = loop_bilinear(x[b, ch], yy, xx)
                                acc += weight[o, ci, ki, kj] * m * val
                                if gy is None:
                                    continue
                                gcol = weight[o, ci, ki, kj] * gy[b, o, i, j]
                                gw[o, ci, ki, kj] += m * val * gy[b, o, i, j]
                                for r, q, wr, wq, dr, dq in loop_corners(h, w, yy, xx):
                                    gx[b, ch, r, q] += m * wr * wq * gcol
                                    g_off[b, 2 * t, i, j] += m * dr * wq * x[b, ch, r, q] * gcol
                                    g_off[b, 2 * t + 1, i, j] += m * wr * dq * x[b, ch, r, q] * gcol
                                g_mask[b, t, i, j] += val * gcol
                    out[b, o, i, j] = acc
    return out, [gx, g_off, gw, g_mask]


# --------------------------------------------------------------------------- strategies


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


@st.composite
def deform_case(draw, max_taps=9, max_hw=6, offsets=None):
    """(x, offset, weight, bias, mask, stride, padding, dilation) of float64 arrays: weight
    groups and offset groups in {1, 2}, channels a multiple of both; mask and bias maybe None.
    `offsets` draws the offset array for its shape (default: grid values in (-2.5, 2.5), never
    an integer, so no sample point sits on a bilinear kink)."""
    wg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    c = math.lcm(wg, og) * draw(st.integers(1, 2))
    f = wg * draw(st.integers(1, 2))
    n = draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    assume(kh * kw <= max_taps)
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    h, w = draw(st.integers(1, max_hw)), draw(st.integers(1, max_hw))
    oh, ow = (out_size(*a) for a in zip((h, w), (kh, kw), stride, padding, dilation))
    assume(oh >= 1 and ow >= 1)
    x = draw(arrays((n, c, h, w)))
    weight = draw(arrays((f, c // wg, kh, kw)))
    bias = draw(st.none() | arrays((f,)))
    shape = (n, 2 * og * kh * kw, oh, ow)
    offset = draw(offsets(shape) if offsets else arrays(shape, -2.5, 2.5))
    mask = draw(st.none() | arrays((n, og * kh * kw, oh, ow), -1.0, 2.0))
    return x, offset, weight, bias, mask, stride, padding, dilation


def kinked_offsets(shape):
    """Offsets that put sample points on integers, halves and the -1 / H borders, as well as
    between them."""
    return arrays(shape, -3.0, 3.0).map(lambda a: np.round(a * 2) / 2) | arrays(shape, -3, 3)


def run(case, gy=None):
    """deform_conv2d on leaves of the case: (y, gradients of sum(y * gy) of all five inputs)."""
    x, offset, weight, bias, mask, stride, padding, dilation = case
    leaves = [None if a is None else leaf(a) for a in (x, offset, weight, bias, mask)]
    y = ops.deform_conv2d(leaves[0], leaves[1], leaves[2], leaves[3], stride, padding, dilation,
                          leaves[4])  # fmt: skip
    if gy is None:
        return y.numpy(), None
    (y * mt.tensor(gy)).sum().backward()
    return y.numpy(), [None if t is None else t.grad.numpy() for t in leaves]


# --------------------------------------------------------------------------- tests


@SETTINGS
@given(case=deform_case(offsets=kinked_offsets))
def test_deform_conv2d_and_its_gradients_match_the_kernel_loops(case):
    """Also at integer and half-integer sample points and on the -1 / H borders, where the
    offset gradient is torchvision's one-sided (floor-based) coordinate weight."""
    x, offset, weight, bias, mask, stride, padding, dilation = case
    gy = np.random.default_rng(0).standard_normal((x.shape[0], weight.shape[0], *offset.shape[2:]))
    y, grads = run(case, gy)
    want, (gx, g_off, gw, g_mask) = loop_deform_conv2d(*case[:4], stride, padding, dilation,
                                                       mask, gy)  # fmt: skip
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    for got, ref in ((grads[0], gx), (grads[1], g_off), (grads[2], gw), (grads[4], g_mask)):
        if got is not None:  # no mask: no mask gradient
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


@SETTINGS
@given(case=deform_case(max_taps=4, max_hw=4))
def test_deform_conv2d_gradcheck_float64(case):
    x, offset, weight, bias, mask, stride, padding, dilation = case
    inputs = [leaf(a) for a in (x, offset, weight)]
    inputs += [mt.tensor(0.0) if a is None else leaf(a) for a in (bias, mask)]

    def fn(xt, ot, wt, bt, mt_):
        return ops.deform_conv2d(xt, ot, wt, None if bias is None else bt, stride, padding,
                                 dilation, None if mask is None else mt_)  # fmt: skip

    assert mt.gradcheck(fn, inputs)


@SETTINGS
@given(case=deform_case())
def test_zero_offsets_and_unit_mask_are_conv2d(case):
    x, offset, weight, bias, _, stride, padding, dilation = case
    zero = np.zeros_like(offset)
    ones = np.ones((offset.shape[0], offset.shape[1] // 2, *offset.shape[2:]))
    gy = np.random.default_rng(1).standard_normal((x.shape[0], weight.shape[0], *zero.shape[2:]))
    groups = x.shape[1] // weight.shape[1]
    xt, wt = leaf(x), leaf(weight)
    bt = None if bias is None else leaf(bias)
    want = mt.functional.conv2d(xt, wt, bt, stride, padding, dilation, groups)
    (want * mt.tensor(gy)).sum().backward()
    for mask in (None, ones):
        y, grads = run((x, zero, weight, bias, mask, stride, padding, dilation), gy)
        np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads[0], xt.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(grads[2], wt.grad.numpy(), rtol=1e-12, atol=1e-12)
        if bias is not None:
            np.testing.assert_allclose(grads[3], bt.grad.numpy(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=deform_case())
def test_zero_offsets_match_torch_conv2d(case):
    torch = pytest.importorskip("torch")
    x, offset, weight, bias, _, stride, padding, dilation = case
    groups = x.shape[1] // weight.shape[1]
    y, _ = run((x, np.zeros_like(offset), weight, bias, None, stride, padding, dilation))
    want = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(weight), None if bias is None else torch.tensor(bias),
        stride, padding, dilation, groups,
    )  # fmt: skip
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=deform_case(), shift=st.tuples(st.integers(-3, 3), st.integers(-3, 3)))
def test_integer_offsets_are_a_shifted_conv(case, shift):
    """The same integer offset (a, b) at every tap reads x at the regular positions plus (a, b):
    conv2d (no padding) of x zero-padded by a wide margin, cropped to start at row
    margin - padding + a and column margin - padding + b. The input gradients agree too."""
    x, offset, weight, bias, _, stride, padding, dilation = case
    n, c, h, w = x.shape
    offset = np.zeros_like(offset)
    offset[:, 0::2], offset[:, 1::2] = shift
    margin = 8
    big = np.zeros((n, c, h + 2 * margin, w + 2 * margin))
    big[:, :, margin : margin + h, margin : margin + w] = x
    r0, c0 = margin - padding[0] + shift[0], margin - padding[1] + shift[1]
    oh, ow = offset.shape[2:]
    gy = np.random.default_rng(2).standard_normal((n, weight.shape[0], oh, ow))
    bt, wt = leaf(big), leaf(weight)
    want = mt.functional.conv2d(
        bt[:, :, r0:, c0:], wt, None if bias is None else mt.tensor(bias), stride, 0, dilation,
        c // weight.shape[1],
    )[:, :, :oh, :ow]  # fmt: skip
    (want * mt.tensor(gy)).sum().backward()
    y, grads = run((x, offset, weight, bias, None, stride, padding, dilation), gy)
    np.testing.assert_allclose(y, want.numpy(), rtol=1e-12, atol=1e-12)
    gx = bt.grad.numpy()[:, :, margin : margin + h, margin : margin + w]
    np.testing.assert_allclose(grads[0], gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[2], wt.grad.numpy(), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=deform_case(offsets=kinked_offsets))
def test_matches_torchvision(case):
    """torchvision.ops.deform_conv2d (when installed): the same output and gradients of all five
    inputs, kinks included."""
    torch = pytest.importorskip("torch")
    tv_ops = pytest.importorskip("torchvision.ops")
    x, offset, weight, bias, mask, stride, padding, dilation = case
    gy = np.random.default_rng(7).standard_normal((x.shape[0], weight.shape[0], *offset.shape[2:]))
    y, grads = run(case, gy)
    ts = [None if a is None else torch.tensor(a, requires_grad=True)
          for a in (x, offset, weight, bias, mask)]  # fmt: skip
    yt = tv_ops.deform_conv2d(ts[0], ts[1], ts[2], ts[3], stride, padding, dilation, ts[4])
    (yt * torch.tensor(gy)).sum().backward()
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for got, t in zip(grads, ts):
        if t is not None:
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bilinear_sampling_by_hand():
    """A 1x1 kernel of weight 1 on one channel: the output is the input read at the offsets."""
    img = mt.tensor(np.arange(12.0).reshape(1, 1, 3, 4))  # 4 * row + col: linear inside
    w = mt.ones(1, 1, 1, 1, dtype=mt.float64)
    cases = {  # (dy, dx): output pixels (0, 0) and (0, 1), sampled at (dy, dx) and (dy, 1 + dx)
        (0.5, 0.25): [2.25, 3.25],  # inside: the linear function
        (-0.5, 0.0): [0.0, 0.5],  # half a row above: row -1 reads 0
        (-1.0, 0.0): [0.0, 0.0],  # y <= -1: 0
        (2.5, 2.5): [0.25 * (10 + 11), 0.25 * 11],  # past the last row and column: partial
        (0.0, 3.0): [3.0, 0.0],  # x = 3 reads column 3; x = 4 >= W: 0
    }
    for (dy, dx), want in cases.items():
        off = np.zeros((1, 2, 3, 4))
        off[0, :, 0, :2] = [[dy], [dx]]
        y = ops.deform_conv2d(img, mt.tensor(off), w)
        np.testing.assert_allclose(y.numpy()[0, 0, 0, :2], want, err_msg=str((dy, dx)))


def test_offset_gradient_on_the_top_border_is_torchvision_s():
    """At y == -1 exactly the sample is 0 (y <= -1), yet torchvision's coordinate weight, which
    has no border test, sees row 0 one step below: d out / d dy = x[0, col]."""
    img = mt.tensor(np.arange(12.0).reshape(1, 1, 3, 4) + 1)
    off = np.zeros((1, 2, 3, 4))
    off[0, 0, 0, 1] = -1.0  # pixel (0, 1) samples at (-1, 1)
    ot = mt.tensor(off, requires_grad=True)
    y = ops.deform_conv2d(img, ot, mt.ones(1, 1, 1, 1, dtype=mt.float64))
    assert y.numpy()[0, 0, 0, 1] == 0.0
    y[0, 0, 0, 1].backward()
    assert ot.grad.numpy()[0, 0, 0, 1] == img.numpy()[0, 0, 0, 1]


def test_chunked_batch_equals_one_chunk(monkeypatch):
    """The batch runs in chunks of bounded column size; one image a chunk gives the same values
    and gradients."""
    rng = np.random.default_rng(3)
    case = (rng.standard_normal((3, 4, 5, 6)), rng.standard_normal((3, 2 * 2 * 9, 5, 6)) * 1.5,
            rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4),
            rng.random((3, 2 * 9, 5, 6)), (1, 1), (1, 1), (1, 1))  # fmt: skip
    gy = rng.standard_normal((3, 4, 5, 6))
    y, grads = run(case, gy)
    monkeypatch.setattr(deform_module, "_CHUNK_ELEMENTS", 1)
    y1, grads1 = run(case, gy)
    np.testing.assert_allclose(y1, y, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads1, grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_batch_chunks_hold_whole_images_within_the_budget(monkeypatch):
    monkeypatch.setattr(deform_module, "_CHUNK_ELEMENTS", 25)
    assert list(deform_module._batch_chunks(5, 10)) == [slice(0, 2), slice(2, 4), slice(4, 5)]
    assert list(deform_module._batch_chunks(2, 30)) == [slice(0, 1), slice(1, 2)]  # >= 1 image


def test_chunking_bounds_the_memory(monkeypatch):
    """With a budget of one image's columns, forward and backward of 16 images peak under 1.5
    times the whole batch's columns (gradients included; in one chunk, about 7.6 times)."""
    rng = np.random.default_rng(6)
    n, c, h, w = 16, 8, 16, 16
    ts = [mt.tensor(a, requires_grad=True) for a in (
        rng.standard_normal((n, c, h, w)), rng.standard_normal((n, 18, h, w)),
        rng.standard_normal((8, c, 3, 3)), rng.random((n, 9, h, w)))]  # fmt: skip
    columns = n * c * 9 * h * w * 8  # bytes
    monkeypatch.setattr(deform_module, "_CHUNK_ELEMENTS", c * 9 * h * w)
    tracemalloc.start()
    try:
        ops.deform_conv2d(ts[0], ts[1], ts[2], None, 1, 1, 1, ts[3]).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * columns


def test_one_chunk_peaks_at_a_few_columns():
    """Forward and backward of a batch in one chunk peak under 7.5 times its columns (float64,
    the size of the int64 gather index too): each neighbour's full index is built when used
    and the columns accumulate in place (all four indices at once peaked near 10)."""
    rng = np.random.default_rng(8)
    n, c, h, w = 2, 32, 16, 16
    ts = [mt.tensor(a, requires_grad=True) for a in (
        rng.standard_normal((n, c, h, w)), rng.standard_normal((n, 18, h, w)),
        rng.standard_normal((8, c, 3, 3)), rng.random((n, 9, h, w)))]  # fmt: skip
    columns = n * c * 9 * h * w * 8  # bytes
    assert len(list(deform_module._batch_chunks(n, c * 9 * h * w))) == 1
    tracemalloc.start()
    try:
        ops.deform_conv2d(ts[0], ts[1], ts[2], None, 1, 1, 1, ts[3]).sum().backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 7.5 * columns


def test_float32_stays_float32_and_partial_gradients():
    rng = np.random.default_rng(4)
    x = mt.tensor(rng.standard_normal((2, 3, 6, 6)).astype(np.float32), requires_grad=True)
    off = mt.tensor(rng.standard_normal((2, 18, 6, 6)).astype(np.float32))
    w = mt.tensor(rng.standard_normal((5, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = ops.deform_conv2d(x, off, w, padding=1)
    assert y.dtype == np.float32 and y.shape == (2, 5, 6, 6)
    y.sum().backward()  # offset needs no gradient: only input and weight get one
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32 and off.grad is None
    want, _ = loop_deform_conv2d(x.numpy().astype(np.float64), off.numpy().astype(np.float64),
                                    w.numpy().astype(np.float64), None, (1, 1), (1, 1), (1, 1),
                                    None)  # fmt: skip
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-4)


def test_empty_batch():
    x = mt.zeros(0, 2, 5, 5, dtype=mt.float64, requires_grad=True)
    off = mt.zeros(0, 18, 3, 3, dtype=mt.float64, requires_grad=True)
    y = ops.deform_conv2d(
        x, off, mt.ones(4, 2, 3, 3, dtype=mt.float64), mt.ones(4, dtype=mt.float64)
    )
    assert y.shape == (0, 4, 3, 3)
    y.sum().backward()
    assert x.grad.shape == x.shape and off.grad.shape == off.shape


# --------------------------------------------------------------------------- the layer


def test_layer_parameters_state_dict_init_and_repr():
    layer = ops.DeformConv2d(64, 128, 3, padding=1, groups=2)
    # by hand: weight 128 x (64 / 2) x 3 x 3, bias 128
    assert sum(p.numel() for p in layer.parameters()) == 128 * 32 * 3 * 3 + 128 == 36992
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (128, 32, 3, 3) and layer.bias.shape == (128,)
    bound = 1 / math.sqrt(32 * 3 * 3)  # kaiming_uniform_(a=sqrt(5)): U(+-1/sqrt(fan_in)), both
    for p in (layer.weight.numpy(), layer.bias.numpy()):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert np.abs(layer.weight.numpy().std() - bound / math.sqrt(3)) < 0.02 * bound
    assert repr(layer) == (
        "DeformConv2d(64, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=2)"
    )
    plain = ops.DeformConv2d(3, 8, (3, 5), stride=2, dilation=(2, 1), bias=False)
    assert repr(plain) == (
        "DeformConv2d(3, 8, kernel_size=(3, 5), stride=(2, 2), dilation=(2, 1), bias=False)"
    )
    assert plain.bias is None and list(plain.state_dict()) == ["weight"]


def test_layer_with_offsets_from_a_conv_backpropagates_to_every_parameter():
    """The usual DCNv2 block: a plain conv predicts offsets and mask (sigmoid) from the input;
    one forward + backward reaches every parameter, equal to the functional call."""
    mt.manual_seed(0)
    dcn = ops.DeformConv2d(4, 6, 3, padding=1, groups=2)
    pred = mt.nn.Conv2d(4, 3 * 2 * 9, 3, padding=1)  # offset groups 2: 2 * 2 * 9 + 2 * 9
    x = mt.randn(2, 4, 5, 5, dtype=mt.float64)
    dcn.double(), pred.double()
    o = pred(x)
    offset, mask = o[:, :36], o[:, 36:].sigmoid()
    y = dcn(x, offset, mask)
    assert y.shape == (2, 6, 5, 5)
    want = ops.deform_conv2d(x, offset, dcn.weight, dcn.bias, 1, 1, 1, mask)
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    y.square().mean().backward()
    for p in (*dcn.parameters(), *pred.parameters()):
        assert p.grad is not None and np.abs(p.grad.numpy()).sum() > 0


def test_layer_rejects_an_input_with_other_channels():
    """deform_conv2d infers groups = C // weight.shape[1]: a (6, 2, 3, 3) weight would run a
    2-channel input as 1 group and a 6-channel one as 3; the layer names its in_channels."""
    layer = ops.DeformConv2d(4, 6, 3, padding=1, groups=2)
    for c in (2, 6):
        with pytest.raises(ValueError, match=r"DeformConv2d\(4->6, k=3\): expected input with 4 "
                                             rf"channels, got shape \(1, {c}, 5, 5\)"):  # fmt: skip
            layer(mt.randn(1, c, 5, 5), mt.randn(1, 18, 5, 5))
    assert layer(mt.randn(1, 4, 5, 5), mt.randn(1, 18, 5, 5)).shape == (1, 6, 5, 5)


# --------------------------------------------------------------------------- errors


def test_errors_name_the_op_and_the_shapes():
    x = mt.randn(2, 4, 6, 6)
    w = mt.randn(8, 2, 3, 3)
    off = mt.randn(2, 18, 4, 4)
    with pytest.raises(ValueError, match=r"deform_conv2d: offset must have 2 \* offset_groups "
                                         r"\* KH \* KW channels.*2 \* 3 \* 3 = 18\); got offset "
                                         r"shape \(2, 20, 4, 4\)"):  # fmt: skip
        ops.deform_conv2d(x, mt.randn(2, 20, 4, 4), w)
    with pytest.raises(ValueError, match=r"deform_conv2d: offset must .* got offset shape "
                                         r"\(2, 9, 4, 4\)"):  # fmt: skip
        ops.deform_conv2d(x, mt.randn(2, 9, 4, 4), w)
    with pytest.raises(ValueError, match=r"offset_groups dividing the 4 input channels .* "
                                         r"\(2, 54, 4, 4\)"):  # fmt: skip
        ops.deform_conv2d(x, mt.randn(2, 54, 4, 4), w)  # 3 offset groups
    with pytest.raises(ValueError, match=r"deform_conv2d: expected offset of shape "
                                         r"\(2, 18, 4, 4\) .* got \(2, 18, 5, 4\)"):  # fmt: skip
        ops.deform_conv2d(x, mt.randn(2, 18, 5, 4), w)
    with pytest.raises(ValueError, match=r"deform_conv2d: expected mask of shape \(2, 9, 4, 4\) "
                                         r"\(offset_groups \* KH \* KW = 1 \* 3 \* 3 channels\), "
                                         r"got \(2, 18, 4, 4\)"):  # fmt: skip
        ops.deform_conv2d(x, off, w, mask=mt.randn(2, 18, 4, 4))
    with pytest.raises(ValueError, match=r"deform_conv2d: weight \(8, 3, 3, 3\) does not fit "
                                         r"input \(2, 4, 6, 6\)"):  # fmt: skip
        ops.deform_conv2d(x, off, mt.randn(8, 3, 3, 3))
    with pytest.raises(ValueError, match=r"deform_conv2d: weight \(3, 2, 3, 3\) does not fit"):
        ops.deform_conv2d(x, off, mt.randn(3, 2, 3, 3))  # 2 groups do not divide 3 outputs
    with pytest.raises(ValueError, match=r"deform_conv2d: expected bias of shape \(8,\), got"):
        ops.deform_conv2d(x, off, w, mt.randn(4))
    with pytest.raises(ValueError, match=r"deform_conv2d: expected a 4-D input, got shape "
                                         r"\(4, 6, 6\)"):  # fmt: skip
        ops.deform_conv2d(mt.randn(4, 6, 6), off, w)
    with pytest.raises(ValueError, match=r"deform_conv2d: kernel \(3, 3\) .* larger than"):
        ops.deform_conv2d(mt.randn(2, 4, 2, 2), off, w)
    want = r"deform_conv2d: input, offset, weight, bias and mask must share one floating dtype"
    with pytest.raises(TypeError, match=want + r", got float32, float64, float32"):
        ops.deform_conv2d(x, off.double(), w)
    with pytest.raises(TypeError, match=r"deform_conv2d: expected offset to be a Tensor"):
        ops.deform_conv2d(x, off.numpy(), w)
    with pytest.raises(ValueError, match=r"deform_conv2d: stride must be >= 1, got \(0, 1\)"):
        ops.deform_conv2d(x, off, w, stride=(0, 1))
    with pytest.raises(ValueError, match=r"DeformConv2d: in_channels must be divisible by "
                                         r"groups, got in_channels=3, groups=2"):  # fmt: skip
        ops.DeformConv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"DeformConv2d: out_channels must be divisible by "
                                         r"groups, got out_channels=3, groups=2"):  # fmt: skip
        ops.DeformConv2d(4, 3, 3, groups=2)


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_deform_conv2d_cupy_matches_numpy():
    rng = np.random.default_rng(5)
    arrays_ = [rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((3, 36, 4, 3)) * 2,
               rng.standard_normal((6, 2, 3, 3)), rng.standard_normal(6),
               rng.random((3, 18, 4, 3))]  # fmt: skip
    gy = rng.standard_normal((3, 6, 4, 3))
    results = []
    for dev in ("cpu", "cuda"):
        ts = [mt.tensor(a, requires_grad=True, device=dev) for a in arrays_]
        y = ops.deform_conv2d(ts[0], ts[1], ts[2], ts[3], 2, 1, (1, 2), ts[4])
        y.backward(mt.tensor(gy, device=dev))
        results.append([np.asarray(t) for t in (y, *(t.grad for t in ts))])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
