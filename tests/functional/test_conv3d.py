"""3-D convolution and pooling (conv3d, conv_transpose3d, max_pool3d, avg_pool3d, adaptive
average and max pooling, max_unpool3d, InstanceNorm3d) and their
layers: each equals a plain voxel-by-voxel loop over hypothesis-drawn shapes, strides, paddings,
dilations and groups; passes gradcheck in float64; rejects bad input by name; and equals
PyTorch's forward and backward (and the layers' reprs) when torch is there."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.kernels.shapes import conv_out, pool_out
from tests.strategies_core import OURS, SETTINGS, Lib, arrays, check_grad, check_parity


def loop_conv3d(x, w, b, stride, padding, dilation, groups):
    """One output voxel at a time: the weighted sum over the window of its group's channels."""
    n_, c_, *size = x.shape
    f_, cg, *k = w.shape
    out = [conv_out(sz, kk, s, p, d) for sz, kk, s, p, d in zip(size, k, stride, padding, dilation)]
    y = np.zeros((n_, f_, *out))
    fg = f_ // groups
    for n, f in itertools.product(range(n_), range(f_)):
        g = f // fg
        for o in itertools.product(*(range(v) for v in out)):
            total = 0.0 if b is None else b[f]
            for c, t in itertools.product(range(cg), itertools.product(*(range(v) for v in k))):
                pos = [
                    oi * s - p + ti * d for oi, s, p, ti, d in zip(o, stride, padding, t, dilation)
                ]
                if all(0 <= q < sz for q, sz in zip(pos, size)):
                    total += x[(n, g * cg + c, *pos)] * w[(f, c, *t)]
            y[(n, f, *o)] = total
    return y


def loop_pool3d(x, k, s, p, ceil_mode, kind, count_include_pad=True):
    n_, c_, *size = x.shape
    out = [pool_out(sz, kk, ss, pp, 1, ceil_mode) for sz, kk, ss, pp in zip(size, k, s, p)]
    y = np.zeros((n_, c_, *out))
    for n, c in itertools.product(range(n_), range(c_)):
        for o in itertools.product(*(range(v) for v in out)):
            start = [oi * ss - pp for oi, ss, pp in zip(o, s, p)]
            end = [min(st_ + kk, sz + pp) for st_, kk, sz, pp in zip(start, k, size, p)]
            real = [(max(a, 0), min(e, sz)) for a, e, sz in zip(start, end, size)]
            block = x[(n, c, *(slice(a, e) for a, e in real))]
            if kind == "max":
                y[(n, c, *o)] = block.max()
            else:
                count = np.prod(
                    [e - a for a, e in (zip(start, end) if count_include_pad else real)]
                )
                y[(n, c, *o)] = block.sum() / count
    return y


@st.composite
def conv3d_case(draw):
    groups = draw(st.sampled_from([1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    size = tuple(draw(st.integers(1, 4)) for _ in range(3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(draw(st.integers(0, 1)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    assume(all(conv_out(*a) >= 1 for a in zip(size, k, stride, padding, dilation)))
    x = draw(arrays((1, cin, *size)))
    w = draw(arrays((cout, cin // groups, *k)))
    b = draw(st.none() | arrays((cout,)))
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@SETTINGS
@given(case=conv3d_case())
def test_conv3d_matches_the_voxel_loop_and_gradcheck(case):
    x, w, b, opts = case
    got = F.conv3d(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b), **opts)
    want = loop_conv3d(x, w, b, opts["stride"], opts["padding"], opts["dilation"], opts["groups"])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    leaves = [x, w] if b is None else [x, w, b]
    check_grad(lambda L, *t: L.F.conv3d(*t, **opts), leaves)


def loop_conv_transpose3d(x, w, b, stride, padding, output_padding, dilation, groups):
    """Every input voxel adds its weighted kernel copy to the output, one tap at a time."""
    n_, cin, *size = x.shape
    _, cog, *k = w.shape
    dims = zip(size, stride, padding, dilation, k, output_padding)
    out = [(i - 1) * s - 2 * p + d * (kk - 1) + o + 1 for i, s, p, d, kk, o in dims]
    y = np.zeros((n_, cog * groups, *out))
    cig = cin // groups
    for n, c in itertools.product(range(n_), range(cin)):
        g = c // cig
        for i in itertools.product(*(range(v) for v in size)):
            for o, t in itertools.product(range(cog), itertools.product(*(range(v) for v in k))):
                pos = [
                    a * s - p + tt * d for a, s, p, tt, d in zip(i, stride, padding, t, dilation)
                ]
                if all(0 <= q < m for q, m in zip(pos, out)):
                    y[(n, g * cog + o, *pos)] += x[(n, c, *i)] * w[(c, o, *t)]
    return y if b is None else y + b.reshape(1, -1, 1, 1, 1)


@SETTINGS
@given(data=st.data())
def test_conv_transpose3d_matches_the_scatter_loop_and_gradcheck(data):
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(3))
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(3))
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(3))
    dilation = tuple(data.draw(st.integers(1, 2)) for _ in range(3))
    padding = tuple(data.draw(st.integers(0, 1)) for _ in range(3))
    out_pad = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    out = [(i - 1) * s - 2 * p + d * (kk - 1) + o + 1
           for i, s, p, d, kk, o in zip(size, stride, padding, dilation, k, out_pad)]  # fmt: skip
    assume(min(out) >= 1)
    x = data.draw(arrays((1, cin, *size)))
    w = data.draw(arrays((cin, cout // groups, *k)))
    b = data.draw(st.none() | arrays((cout,)))
    opts = dict(stride=stride, padding=padding, output_padding=out_pad, groups=groups,
                dilation=dilation)  # fmt: skip
    got = F.conv_transpose3d(mt.tensor(x), mt.tensor(w), None if b is None else mt.tensor(b),
                             **opts)  # fmt: skip
    want = loop_conv_transpose3d(x, w, b, stride, padding, out_pad, dilation, groups)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)
    leaves = [x, w] if b is None else [x, w, b]
    check_grad(lambda L, *t: L.F.conv_transpose3d(*t, **opts), leaves)


@st.composite
def pool3d_case(draw):
    size = tuple(draw(st.integers(1, 5)) for _ in range(3))
    k = tuple(draw(st.integers(1, min(3, n))) for n in size)  # PyTorch's 3-D pooling: k <= n
    s = tuple(draw(st.integers(1, 3)) for _ in range(3))
    p = tuple(draw(st.integers(0, kk // 2)) for kk in k)
    ceil_mode = draw(st.booleans())
    x = draw(arrays((1, 2, *size), unique=True))
    return x, dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil_mode)


def test_max_pool3d_on_minus_infinity_keeps_the_first_real_element_as_torch():
    x = np.full((1, 1, 3, 3, 3), -np.inf)
    x[0, 0, 2, 2, 2] = 1.0
    xs = mt.tensor(x, requires_grad=True)
    y, idx = F.max_pool3d(xs, 3, 1, 1, return_indices=True)
    assert idx.numpy().min() >= 0  # never a padding cell
    assert idx.numpy()[0, 0, 0, 0, 0] == 0  # the window's first real voxel, as torch picks it
    y.backward(mt.ones(*y.shape, dtype=mt.float64))
    assert xs.grad.numpy().sum() == 27.0  # every window's gradient lands on a real voxel


@SETTINGS
@given(case=pool3d_case(), count_include_pad=st.booleans())
def test_pool3d_match_the_voxel_loop_and_gradcheck(case, count_include_pad):
    x, opts = case
    k, s, p, ceil = opts["kernel_size"], opts["stride"], opts["padding"], opts["ceil_mode"]
    np.testing.assert_array_equal(F.max_pool3d(mt.tensor(x), **opts).numpy(),
                                  loop_pool3d(x, k, s, p, ceil, "max"))  # fmt: skip
    got = F.avg_pool3d(mt.tensor(x), **opts, count_include_pad=count_include_pad).numpy()
    want = loop_pool3d(x, k, s, p, ceil, "avg", count_include_pad)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    check_grad(lambda L, a: L.F.max_pool3d(a, **opts), [x])
    check_grad(lambda L, a: L.F.avg_pool3d(a, **opts, count_include_pad=count_include_pad), [x])


@pytest.mark.parity
@SETTINGS
@given(case=conv3d_case(), pool=pool3d_case(), out=st.tuples(*[st.integers(1, 3)] * 3))
def test_3d_ops_match_torch(case, pool, out):
    torch = pytest.importorskip("torch")
    x, w, b, opts = case
    leaves = [x, w] if b is None else [x, w, b]
    check_parity(torch, lambda L, *t: L.F.conv3d(*t, **opts), leaves)
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3, 4))  # the same shapes, transposed
    dims = zip(x.shape[2:], opts["stride"], opts["padding"], opts["dilation"], w.shape[2:])
    if opts["groups"] == 1 and all((i - 1) * s - 2 * p + d * (k - 1) + 1 >= 1
                                   for i, s, p, d, k in dims):  # fmt: skip
        t_opts = {k: v for k, v in opts.items() if k != "groups"}
        check_parity(torch, lambda L, a, ww: L.F.conv_transpose3d(a, ww, **t_opts), [x, wt])
    xp_, popts = pool
    check_parity(torch, lambda L, a: L.F.max_pool3d(a, **popts), [xp_])
    check_parity(torch, lambda L, a: L.F.avg_pool3d(a, **popts), [xp_])
    check_parity(torch, lambda L, a: L.F.adaptive_avg_pool3d(a, out), [xp_])


@pytest.mark.parity
def test_max_pool3d_indices_and_3d_layers_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 6, 7)).astype(np.float32)
    y, idx = F.max_pool3d(mt.tensor(x), 3, 2, 1, return_indices=True, ceil_mode=True)
    yt, it = torch.nn.functional.max_pool3d(torch.tensor(x), 3, 2, 1, return_indices=True,
                                            ceil_mode=True)  # fmt: skip
    np.testing.assert_array_equal(y.numpy(), yt.numpy())
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    pairs = [(nn.Conv3d(4, 6, 3, stride=(1, 2, 2), padding=1),
              torch.nn.Conv3d(4, 6, 3, stride=(1, 2, 2), padding=1)),
             (nn.Conv3d(4, 6, (1, 3, 3), groups=2, bias=False, padding="same"),
              torch.nn.Conv3d(4, 6, (1, 3, 3), groups=2, bias=False, padding="same")),
             (nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1),
              torch.nn.ConvTranspose3d(4, 2, 3, stride=2, padding=1, output_padding=1)),
             (nn.MaxPool3d(2), torch.nn.MaxPool3d(2)),
             (nn.AvgPool3d(3, 2, 1), torch.nn.AvgPool3d(3, 2, 1)),
             (nn.AdaptiveAvgPool3d((1, 2, 3)), torch.nn.AdaptiveAvgPool3d((1, 2, 3)))]  # fmt: skip
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        ours.load_state_dict({k: mt.tensor(v.detach().numpy())
                              for k, v in theirs.state_dict().items()})  # fmt: skip
        want = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parity
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (0, 1, 2), "same"])
def test_conv3d_padding_modes_match_torch(mode, padding):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 5, 6))
    theirs = torch.nn.Conv3d(4, 6, 3, padding=padding, padding_mode=mode, groups=2).double()
    ours = nn.Conv3d(4, 6, 3, padding=padding, padding_mode=mode, groups=2).double()
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: mt.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    xs, xt = mt.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(xs), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("transposed", [False, True])
def test_3d_convs_take_an_empty_batch_and_any_subset_of_gradients(transposed):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 3, 4, 5))
    w = rng.standard_normal((4, 2, 2, 3, 2))  # conv: 4 -> 4 in 2 groups; transposed: 4 -> 4
    b = rng.standard_normal(4)
    op = F.conv_transpose3d if transposed else F.conv3d
    opts = dict(stride=(2, 1, 2), padding=1, groups=2, dilation=(1, 2, 1))
    assert op(mt.tensor(x[:0]), mt.tensor(w), **opts).shape[0] == 0
    full = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    op(*full, **opts).sum().backward()
    for need in itertools.product([False, True], repeat=3):  # every subset asks for its own
        leaves = [mt.tensor(a, requires_grad=r) for a, r in zip((x, w, b), need)]
        y = op(*leaves, **opts)
        if not any(need):
            assert not y.requires_grad
            continue
        y.sum().backward()
        for leaf, ref, r in zip(leaves, full, need):
            assert (leaf.grad is None) != r
            if r:
                np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-12)


def test_3d_convs_refuse_a_backward_after_their_input_changed_in_place():
    x = mt.tensor(np.ones((1, 4, 2, 2, 2), np.float32))
    conv = nn.Conv3d(4, 2, 1, bias=False)
    y = conv(x)
    with mt.no_grad():
        x.mul_(3.0)
    with pytest.raises(RuntimeError, match="Conv3d.backward: its input 0 .* was modified by an "
                                           "in-place operation"):  # fmt: skip
        y.sum().backward()


def test_3d_shapes_layer_init_and_errors():
    layer = nn.Conv3d(4, 6, (1, 3, 3))
    assert tuple(layer.weight.shape) == (6, 4, 1, 3, 3)
    assert np.abs(layer.weight.numpy()).max() <= 1 / np.sqrt(4 * 9)
    assert layer(mt.randn(4, 5, 6, 7)).shape == (6, 5, 4, 5)  # unbatched (C, D, H, W)
    assert F.adaptive_avg_pool3d(mt.randn(1, 2, 5, 6, 7), (2, None, 3)).shape == (1, 2, 2, 6, 3)
    with pytest.raises(ValueError, match=r"Conv3d\(4->6, k=\(1, 3, 3\)\): expected 5-D input "
                                         r"\(N, 4, D, H, W\)"):  # fmt: skip
        layer(mt.randn(4, 5, 6))
    with pytest.raises(ValueError, match=r"conv3d: expected input with 4 channels"):
        F.conv3d(mt.randn(1, 3, 4, 4, 4), layer.weight)
    with pytest.raises(ValueError, match=r"conv3d: kernel \(1, 3, 3\) .* larger than the padded"):
        F.conv3d(mt.randn(1, 4, 4, 2, 2), layer.weight)
    with pytest.raises(ValueError, match=r"Conv3d: padding_mode must be one of \('zeros', "):
        nn.Conv3d(4, 6, 3, padding=1, padding_mode="mirror")
    with pytest.raises(ValueError, match=r"max_pool3d: padding \(2, 2, 2\) must be >= 0 and at "
                                         r"most half"):  # fmt: skip
        F.max_pool3d(mt.randn(1, 1, 4, 4, 4), 3, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool3d: expected 4-D \(C, D, H, W\) or 5-D"):
        F.avg_pool3d(mt.randn(4, 4, 4), 2)
    with pytest.raises(ValueError, match=r"avg_pool3d: input of shape \(1, 1, 1, 4, 4\) is "
                                         r"smaller than the kernel \(2, 2, 2\)"):  # fmt: skip
        F.avg_pool3d(mt.randn(1, 1, 1, 4, 4), 2, padding=1)
    # max pooling takes it, as PyTorch's: the padding makes room for one window
    assert F.max_pool3d(mt.randn(1, 1, 1, 4, 4), 2, padding=1).shape == (1, 1, 1, 3, 3)
    with pytest.raises(TypeError, match="adaptive_avg_pool3d: expected a floating point input"):
        F.adaptive_avg_pool3d(mt.tensor(np.arange(16).reshape(1, 1, 2, 2, 4)), 1)


# --------------------------------------------------------------------------- adaptive max, unpool


def loop_adaptive_max_pool3d(x, out):
    """Each bin [floor(i*n/o), ceil((i+1)*n/o)) per axis, scanned voxel by voxel: the first
    maximum wins, a NaN always wins (so the last NaN), as PyTorch's loop."""
    n_, c_, *size = x.shape
    y, idx = np.zeros((n_, c_, *out)), np.zeros((n_, c_, *out), dtype=np.int64)
    for n, c in itertools.product(range(n_), range(c_)):
        for o in itertools.product(*(range(v) for v in out)):
            bins = [range(i * sz // ov, -(-(i + 1) * sz // ov)) for i, sz, ov in zip(o, size, out)]
            best, where = -np.inf, -1
            for d, h, w in itertools.product(*bins):
                v = x[n, c, d, h, w]
                if v > best or np.isnan(v) or where < 0:
                    best, where = v, (d * size[1] + h) * size[2] + w
            y[(n, c, *o)], idx[(n, c, *o)] = best, where
    return y, idx


@SETTINGS
@given(size=st.tuples(*[st.integers(1, 5)] * 3), out=st.tuples(*[st.integers(1, 4)] * 3),
       data=st.data())  # fmt: skip
def test_adaptive_max_pool3d_matches_the_voxel_loop_and_gradcheck(size, out, data):
    x = data.draw(arrays((2, 2, *size)))  # grid values: ties are common
    if data.draw(st.booleans()):
        x.flat[data.draw(st.integers(0, x.size - 1))] = np.nan
    y, idx = F.adaptive_max_pool3d(mt.tensor(x), out, return_indices=True)
    want_y, want_idx = loop_adaptive_max_pool3d(x, out)
    np.testing.assert_array_equal(y.numpy(), want_y)
    np.testing.assert_array_equal(idx.numpy(), want_idx)
    if not np.isnan(x).any():
        xu = data.draw(arrays((1, 2, *size), unique=True))
        check_grad(lambda L, a: L.F.adaptive_max_pool3d(a, out), [xu])


@SETTINGS
@given(case=pool3d_case(), data=st.data())
def test_max_unpool3d_puts_values_back_and_its_gradient_reads_them(case, data):
    x, opts = case
    # windows that do not overlap: otherwise two maxima can share an index (PyTorch leaves
    # which one lands undefined)
    stride = tuple(max(s, k) for s, k in zip(opts["stride"], opts["kernel_size"]))
    opts = {**opts, "stride": stride, "padding": 0, "ceil_mode": False}
    y, idx = F.max_pool3d(mt.tensor(x), **opts, return_indices=True)
    k, s = opts["kernel_size"], opts["stride"]
    size = tuple(x.shape[2:])
    default = tuple((o - 1) * st_ + kk for o, st_, kk in zip(y.shape[2:], s, k))
    out = tuple(data.draw(st.integers(max(d, n), d + st_ - 1))
                for d, n, st_ in zip(default, size, s)) if all(
        n < d + st_ for d, n, st_ in zip(default, size, s)) else default  # fmt: skip
    up = F.max_unpool3d(y, idx, k, s, output_size=out).numpy()
    want = np.zeros((*x.shape[:2], *out))
    flat = want.reshape(*x.shape[:2], -1)
    for n, c in itertools.product(*map(range, x.shape[:2])):
        flat[n, c, idx.numpy()[n, c].ravel()] = y.numpy()[n, c].ravel()
    np.testing.assert_array_equal(up, want)
    check_grad(lambda L, a: L.F.max_unpool3d(a, mt.tensor(idx.numpy()), k, s, output_size=out),
               [y.numpy()])  # fmt: skip


@pytest.mark.parity
@SETTINGS
@given(size=st.tuples(*[st.integers(1, 6)] * 3),
       out=st.tuples(*[st.one_of(st.none(), st.integers(1, 4))] * 3))  # fmt: skip
def test_adaptive_max_pool3d_and_max_unpool3d_match_torch(size, out):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(sum(size)).standard_normal((2, 3, *size))
    check_parity(torch, lambda L, a: L.F.adaptive_max_pool3d(a, out), [x])
    _, idx = F.adaptive_max_pool3d(mt.tensor(x), out, return_indices=True)
    _, it = torch.nn.functional.adaptive_max_pool3d(torch.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), it.numpy())
    if min(size) >= 2:
        yt, it = torch.nn.functional.max_pool3d(torch.tensor(x), 2, return_indices=True)
        idx = mt.tensor(it.numpy())
        check_parity(torch, lambda L, a: L.F.max_unpool3d(
            a, idx if L.F is F else it, 2, output_size=size), [yt.numpy()])  # fmt: skip


@pytest.mark.parity
def test_adaptive_max_pool3d_unpool3d_and_instance_norm3d_layers_match_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 6, 7)).astype(np.float32)
    x[0, 1, 2, 3, 4] = np.nan  # the NaN wins its bin, as in PyTorch
    pairs = [(nn.AdaptiveMaxPool3d((2, None, 3)), torch.nn.AdaptiveMaxPool3d((2, None, 3))),
             (nn.InstanceNorm3d(4, affine=True), torch.nn.InstanceNorm3d(4, affine=True)),
             (nn.InstanceNorm3d(4, track_running_stats=True),
              torch.nn.InstanceNorm3d(4, track_running_stats=True))]  # fmt: skip
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        want = theirs(torch.tensor(x)).detach().numpy()
        np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-5)
    pool, unpool = nn.MaxPool3d(2, return_indices=True), nn.MaxUnpool3d(2)
    tpool, tunpool = torch.nn.MaxPool3d(2, return_indices=True), torch.nn.MaxUnpool3d(2)
    assert repr(unpool) == repr(tunpool)
    x = np.nan_to_num(x)
    want = tunpool(*tpool(torch.tensor(x)), output_size=(5, 6, 7)).numpy()
    np.testing.assert_array_equal(unpool(*pool(mt.tensor(x)), output_size=(5, 6, 7)).numpy(), want)


def test_adaptive_max_pool3d_and_max_unpool3d_errors():
    x = mt.randn(1, 2, 4, 4, 4)
    assert F.adaptive_max_pool3d(x[0], 2).shape == (2, 2, 2, 2)  # unbatched (C, D, H, W)
    assert nn.InstanceNorm3d(2)(x[0]).shape == (2, 4, 4, 4)
    with pytest.raises(ValueError, match=r"adaptive_max_pool3d: output_size must be an int or 3 "
                                         r"values, got \(2, 2\)"):  # fmt: skip
        F.adaptive_max_pool3d(x, (2, 2))
    with pytest.raises(ValueError, match=r"adaptive_max_pool3d: expected 4-D \(C, D, H, W\) or "
                                         r"5-D"):  # fmt: skip
        F.adaptive_max_pool3d(mt.randn(2, 4, 4), 2)
    y, idx = F.max_pool3d(x, 2, return_indices=True)
    with pytest.raises(ValueError, match=r"max_unpool3d: invalid output_size \(6, 4, 4\) for "
                                         r"input of shape \(1, 2, 2, 2, 2\) \(dim 0 must be "
                                         r"between 3 and 5\)"):  # fmt: skip
        F.max_unpool3d(y, idx, 2, output_size=(6, 4, 4))
    with pytest.raises(ValueError, match=r"max_unpool3d: indices shape \(2, 2, 2, 2\) must equal"):
        F.max_unpool3d(y, idx[0], 2)
    with pytest.raises(ValueError, match=r"max_unpool3d: indices must lie in \[0, 64\)"):
        F.max_unpool3d(y, idx + 64, 2)
    with pytest.raises(ValueError, match=r"InstanceNorm3d\(2\): expected 5-D input "
                                         r"\(N, 2, D, H, W\)"):  # fmt: skip
        nn.InstanceNorm3d(2)(mt.randn(2, 4, 4))


# --------------------------------------------------------------------------- interpolate 1-D, 3-D


def _linear_taps(n, o, align_corners):
    """PyTorch's 1-D linear rule: the source coordinate of each output index and its two taps."""
    taps = []
    for i in range(o):
        if align_corners:
            real = i * (n - 1) / (o - 1) if o > 1 else 0.0
        else:
            real = max((i + 0.5) * n / o - 0.5, 0.0)
        i0 = min(int(np.floor(real)), n - 1)
        lam = min(max(real - i0, 0.0), 1.0)
        taps.append((i0, min(i0 + 1, n - 1), lam))
    return taps


def loop_trilinear(x, out, align_corners):
    """Each output voxel: the eight neighbours weighted by the products of the axes' weights."""
    n_, c_, *size = x.shape
    axes = [_linear_taps(n, o, align_corners) for n, o in zip(size, out)]
    y = np.zeros((n_, c_, *out))
    for idx in itertools.product(*(range(o) for o in out)):
        (d0, d1, ld), (h0, h1, lh), (w0, w1, lw) = (axes[a][i] for a, i in enumerate(idx))
        corners = (((d0, 1 - ld), (d1, ld)), ((h0, 1 - lh), (h1, lh)), ((w0, 1 - lw), (w1, lw)))
        for (dd, wd), (hh, wh), (ww, wv) in itertools.product(*corners):
            y[(slice(None), slice(None), *idx)] += wd * wh * wv * x[:, :, dd, hh, ww]
    return y


@SETTINGS
@given(size=st.tuples(*[st.integers(1, 4)] * 3), out=st.tuples(*[st.integers(1, 5)] * 3),
       align=st.booleans(), data=st.data())  # fmt: skip
def test_trilinear_matches_the_voxel_loop_and_gradcheck(size, out, align, data):
    x = data.draw(arrays((1, 2, *size)))
    got = F.interpolate(mt.tensor(x), size=out, mode="trilinear", align_corners=align).numpy()
    np.testing.assert_allclose(got, loop_trilinear(x, out, align), rtol=1e-12, atol=1e-12)
    check_grad(lambda L, a: L.F.interpolate(a, size=out, mode="trilinear", align_corners=align),
               [x])  # fmt: skip


@pytest.mark.parity
@pytest.mark.parametrize("shape,mode", [((2, 3, 7), "linear"), ((2, 3, 7), "nearest"),
                                        ((1, 2, 3, 4, 5), "trilinear"),
                                        ((1, 2, 3, 4, 5), "nearest-exact"),
                                        ((1, 2, 3, 4, 5), "area")])  # fmt: skip
def test_interpolate_1d_and_3d_match_torch(shape, mode):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape)
    nd = len(shape) - 2
    # 1.05 keeps some sizes (PyTorch's linear kernels then copy; its nearest ones still scale)
    for kw in (dict(scale_factor=2), dict(size=(5,) * nd), dict(scale_factor=1.1),
               dict(scale_factor=2.1), dict(scale_factor=(1.05,) + (2.0,) * (nd - 1)),
               dict(scale_factor=1.7, recompute_scale_factor=True)):  # fmt: skip
        fn = lambda L, a, kw=kw: L.F.interpolate(a, mode=mode, **kw)  # noqa: E731
        fractional = "scale_factor" in kw and "recompute_scale_factor" not in kw and kw != {
            "scale_factor": 2}  # fmt: skip
        if mode.startswith("nearest") and fractional:
            # PyTorch 2.13's nearest backward takes the sizes and ignores a fractional
            # scale_factor, so its gradient is not the adjoint of its own forward there (grad
            # of a 7 -> 14 resize at 2.1: [1, 5, 9, ...], adjoint [3, 7, 11, ...]); the values
            # must agree, and our gradient is checked against central differences
            want = fn(Lib(torch, torch.nn.functional), torch.tensor(x)).numpy()
            np.testing.assert_array_equal(fn(OURS, mt.tensor(x)).numpy(), want)
            check_grad(fn, [x])
        else:
            check_parity(torch, fn, [x])


@pytest.mark.parity
def test_interpolate_long_and_random_cases_match_torch():
    """Nearest indices in float64 above 128 outputs, float32 weights far from the origin, and
    random sizes and scale factors in 1, 2 and 3 dims: the same values as PyTorch."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    cases = [((1, 1, 90), np.float64, "nearest", dict(scale_factor=2.3)),
             ((1, 1, 301), np.float32, "linear", dict(scale_factor=2.5)),
             ((1, 1, 70, 3, 90), np.float32, "trilinear", dict(scale_factor=(0.5, 1.5, 2.3))),
             ((1, 1, 200, 150), np.float32, "bilinear", dict(size=(300, 260)))]  # fmt: skip
    for _ in range(60):
        nd = int(rng.integers(1, 4))
        sizes = tuple(int(v) for v in rng.integers(1, 9, nd))
        mode = str(
            rng.choice(["nearest", "nearest-exact", ("linear", "bilinear", "trilinear")[nd - 1]])
        )
        kw = dict(scale_factor=tuple(float(v) for v in rng.uniform(0.5, 3.0, nd)))
        cases.append(((1, 2, *sizes), np.float64, mode, kw))
    for shape, dtype, mode, kw in cases:
        x = rng.standard_normal(shape).astype(dtype)
        try:
            want = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw).numpy()
        except RuntimeError:  # an output size of 0
            continue
        got = F.interpolate(mt.tensor(x), mode=mode, **kw).numpy()
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{shape} {mode} {kw}")


def test_upsample_layer_takes_volumes_and_errors_name_the_modes():
    up = nn.Upsample(scale_factor=2, mode="trilinear")
    assert up(mt.randn(1, 2, 3, 4, 5)).shape == (1, 2, 6, 8, 10)
    assert nn.Upsample(size=9, mode="linear")(mt.randn(2, 3, 4)).shape == (2, 3, 9)
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful with an "
                                         "explicit size"):  # fmt: skip
        F.interpolate(mt.randn(1, 1, 4), size=8, mode="linear", recompute_scale_factor=True)
    want = r"interpolate: for 5-D input the mode must be one of nearest, nearest-exact, trilinear"
    with pytest.raises(ValueError, match=want + r", area, got 'bilinear'"):
        F.interpolate(mt.randn(1, 1, 2, 2, 2), scale_factor=2, mode="bilinear")
