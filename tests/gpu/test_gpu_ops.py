"""Every op and layer gives the same forward and backward on the GPU as on the CPU.

Each check runs one function on CPU and GPU copies of the same inputs and compares the outputs
and the gradients of every float input, with float32 tolerances (the two devices add in different
orders); geometries and shapes are drawn by hypothesis. float64 gradchecks run on the GPU itself.
The CUDA kernels are also compared one by one with the NumPy backend. Everything here is marked
`gpu`: tests/conftest.py skips it unless CuPy sees a CUDA device.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import Tensor, gradcheck, kernels, models, ops
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.backend import to_device
from minitorch_cv.kernels import im2col_cupy, im2col_numpy
from minitorch_cv.train import metrics as M
from tests.strategies import (
    FEW,
    SETTINGS,
    array,
    conv_cases,
    conv_transpose_cases,
    distinct_array,
    pool_cases,
    seeds,
)

pytestmark = pytest.mark.gpu
GPU = "cuda"

# --------------------------------------------------------------------------- harness


def host(a):
    """A NumPy copy of a Tensor or array from any device."""
    return to_device(a._data if isinstance(a, Tensor) else a, "cpu")


def _leaf(a, device):
    if not isinstance(a, np.ndarray):
        return a  # ints, tuples, None pass through
    return Tensor(to_device(a, device), requires_grad=a.dtype.kind == "f")


def run(fn, inputs, device, seed=0):
    """fn(*inputs) on `device`: (outputs, gradients of the float array inputs), all NumPy.

    The backward pass starts from fixed random weights on every float output, and the package
    generator is reseeded first so dropout draws the same masks on both devices."""
    ts = [_leaf(a, device) for a in inputs]
    mt.manual_seed(seed)
    out = fn(*ts)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    rng = np.random.default_rng(seed)
    total = None
    for o in outs:
        if o.dtype.kind == "f" and o.requires_grad:
            w = Tensor(to_device(rng.standard_normal(o.shape).astype(o.dtype), device))
            term = (o * w).sum()
            total = term if total is None else total + term
    if total is not None:
        total.backward()
    grads = [host(t.grad) if isinstance(t, Tensor) and t.grad is not None else None for t in ts]
    return [host(o) for o in outs], grads


def close(got, want, rtol=2e-4, what=""):
    """float32 agreement: relative, with an absolute floor scaled to the values' magnitude."""
    want = np.asarray(want)
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    scale = float(np.nanmax(np.abs(want))) if want.size and not np.isnan(want).all() else 1.0
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, scale), err_msg=what)


def same_on_gpu(fn, *inputs, rtol=2e-4, seed=0):
    """fn gives the CPU's outputs and input gradients on the GPU."""
    cpu_out, cpu_grads = run(fn, inputs, "cpu", seed)
    gpu_out, gpu_grads = run(fn, inputs, GPU, seed)
    assert len(gpu_out) == len(cpu_out)
    for i, (g, c) in enumerate(zip(gpu_out, cpu_out)):
        assert g.shape == c.shape and g.dtype == c.dtype, f"output {i}: {g.shape} vs {c.shape}"
        close(g, c, rtol, f"output {i}")
    for i, (g, c) in enumerate(zip(gpu_grads, cpu_grads)):
        assert (g is None) == (c is None), f"gradient of input {i} missing on one device"
        if c is not None:
            close(g, c, rtol, f"gradient of input {i}")


def f32(seed, shape):
    return array(seed, shape, np.float32)


# --------------------------------------------------------------------------- convolution


@SETTINGS
@given(case=conv_cases(max_channels=6, max_size=9, max_n=3), seed=seeds, bias=st.booleans())
def test_conv2d(case, seed, bias):
    x = f32(seed, (case.n, case.cin, case.h, case.w))
    w = f32(seed + 1, (case.cout, case.cin // case.groups) + case.kernel)
    b = f32(seed + 2, (case.cout,)) if bias else None
    same_on_gpu(
        lambda x, w, b: F.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups),
        x,
        w,
        b,
    )


@SETTINGS
@given(case=conv_transpose_cases(max_channels=6, max_size=6, max_n=3), seed=seeds)
def test_conv_transpose2d(case, seed):
    x = f32(seed, (case.n, case.cin, case.h, case.w))
    w = f32(seed + 1, (case.cin, case.cout // case.groups) + case.kernel)
    b = f32(seed + 2, (case.cout,))
    same_on_gpu(
        lambda x, w, b: F.conv_transpose2d(
            x, w, b, case.stride, case.padding, case.output_padding, case.groups, case.dilation
        ),
        x,
        w,
        b,
    )


@SETTINGS
@given(case=conv_cases(asymmetric=False), seed=seeds)
def test_unfold_and_fold(case, seed):
    (ph, pw), k = case.symmetric_padding, case.kernel
    args = dict(kernel_size=k, dilation=case.dilation, padding=(ph, pw), stride=case.stride)
    x = f32(seed, (case.n, case.cin, case.h, case.w))
    same_on_gpu(lambda x: F.unfold(x, **args), x)
    cols = f32(seed + 1, im2col_numpy.im2col(x, k, case.stride, case.padding, case.dilation).shape)
    same_on_gpu(lambda c: F.fold(c, (case.h, case.w), **args), cols)


@contextmanager
def gpu_workspace(budget):
    saved, im2col_cupy.WORKSPACE_BYTES = im2col_cupy.WORKSPACE_BYTES, budget
    try:
        yield
    finally:
        im2col_cupy.WORKSPACE_BYTES = saved


@pytest.mark.parametrize("budget", [1, 1 << 30], ids=["image_chunks", "whole_batch"])
@FEW
@given(case=conv_cases(max_channels=6, max_n=4), seed=seeds)
def test_gpu_conv_drivers_equal_numpy_drivers_in_float64(budget, case, seed):
    """The GPU drivers (one image per chunk, or the whole batch) against the NumPy drivers."""
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cout, case.cin // case.groups) + case.kernel)
    b = array(seed + 2, (case.cout,))
    args = (case.stride, case.padding, case.dilation, case.groups)
    xg, wg, bg = (to_device(a, GPU) for a in (x, w, b))
    with gpu_workspace(budget):
        y = kernels.conv2d(xg, wg, bg, *args)
        g = to_device(array(seed + 3, y.shape), GPU)
        gw = kernels.conv2d_weight(xg, g, case.kernel, *args)
    np.testing.assert_allclose(host(y), kernels.conv2d(x, w, b, *args), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        host(gw), kernels.conv2d_weight(x, host(g), case.kernel, *args), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("channels_last", [False, True])
@SETTINGS
@given(case=conv_cases(), seed=seeds)
def test_im2col_col2im_kernels_equal_numpy(channels_last, case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    args = (case.kernel, case.stride, case.padding, case.dilation, channels_last)
    cols = im2col_numpy.im2col(x, *args)
    np.testing.assert_array_equal(host(im2col_cupy.im2col(to_device(x, GPU), *args)), cols)
    g = array(seed + 1, cols.shape)
    back = im2col_cupy.col2im(to_device(g, GPU), x.shape, *args)
    np.testing.assert_allclose(host(back), im2col_numpy.col2im(g, x.shape, *args), rtol=1e-12)


def test_grid_stride_loop_covers_more_items_than_threads(monkeypatch):
    """With a grid of 2 blocks every thread handles many items."""
    monkeypatch.setattr(im2col_cupy, "_MAX_BLOCKS", 2)
    x = array(0, (3, 5, 17, 19))
    args = ((3, 3), (1, 2), ((1, 1), (2, 0)), (2, 1))
    np.testing.assert_array_equal(
        host(im2col_cupy.im2col(to_device(x, GPU), *args)), im2col_numpy.im2col(x, *args)
    )


# --------------------------------------------------------------------------- pooling


@SETTINGS
@given(case=pool_cases(max_size=9, max_c=4), seed=seeds)
def test_max_pool2d_with_indices(case, seed):
    x = distinct_array(seed, (case.n, case.c, case.h, case.w)).astype(np.float32)
    same_on_gpu(
        lambda x: F.max_pool2d(
            x, case.kernel, case.stride, case.padding, case.dilation, case.ceil_mode, True
        ),
        x,
    )


def test_max_pool2d_ties_and_nans_pick_the_cpu_argmax():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (2, 3, 9, 9)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    for k, s, p in ((2, 2, 0), (3, 2, 1), (3, 1, 1)):
        same_on_gpu(lambda x, k=k, s=s, p=p: F.max_pool2d(x, k, s, p, return_indices=True), x)


@SETTINGS
@given(
    case=pool_cases(dilation=False, max_size=9),
    seed=seeds,
    count_include_pad=st.booleans(),
    divisor_override=st.sampled_from([None, None, 2]),
)
def test_avg_pool2d(case, seed, count_include_pad, divisor_override):
    x = f32(seed, (case.n, case.c, case.h, case.w))
    same_on_gpu(
        lambda x: F.avg_pool2d(
            x,
            case.kernel,
            case.stride,
            case.padding,
            case.ceil_mode,
            count_include_pad,
            divisor_override,
        ),  # fmt: skip
        x,
    )


@SETTINGS
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    oh=st.integers(1, 8),
    ow=st.integers(1, 8),
    seed=seeds,
)
def test_adaptive_pools(h, w, oh, ow, seed):
    x = distinct_array(seed, (2, 3, h, w)).astype(np.float32)
    same_on_gpu(lambda x: F.adaptive_avg_pool2d(x, (oh, ow)), x)
    same_on_gpu(lambda x: F.adaptive_max_pool2d(x, (oh, ow), return_indices=True), x)


@SETTINGS
@given(
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    size=st.tuples(st.integers(1, 14), st.integers(1, 14)),
    mode=st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic", "area"]),
    align=st.booleans(),
    seed=seeds,
)
def test_interpolate(h, w, size, mode, align, seed):
    x = f32(seed, (2, 3, h, w))
    corners = align if mode in ("bilinear", "bicubic") else None
    same_on_gpu(lambda x: F.interpolate(x, size=size, mode=mode, align_corners=corners), x)


def test_max_unpool2d():
    x = distinct_array(1, (2, 3, 8, 6)).astype(np.float32)

    def fn(x):
        y, idx = F.max_pool2d(x, 2, return_indices=True)
        return F.max_unpool2d(y, idx, 2)

    same_on_gpu(fn, x)


# --------------------------------------------------------------------------- elementwise and co.


def _pos(a):
    return a.abs() + 0.5


def _zeros_index(x):
    """An all-zero index of x's shape on x's device: every entry added onto row 0."""
    return mt.zeros(*x.shape, dtype=mt.int64, device=x.device)


UNARY = {
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.1),
    "elu": F.elu,
    "hardtanh": lambda x: F.hardtanh(x, -0.5, 0.7),
    "silu": F.silu,
    "softplus": F.softplus,
    "gelu": lambda x: F.gelu(x * 3),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "mish": F.mish,
    "hardswish": lambda x: F.hardswish(x * 4),
    "hardsigmoid": lambda x: F.hardsigmoid(x * 4),
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "selu": F.selu,
    "celu": lambda x: F.celu(x, 0.6),
    "logsigmoid": lambda x: F.logsigmoid(x * 4),
    "softsign": F.softsign,
    "tanhshrink": F.tanhshrink,
    "softshrink": lambda x: F.softshrink(x, 0.3),
    "hardshrink": lambda x: F.hardshrink(x, 0.3),
    "threshold": lambda x: F.threshold(x, 0.1, -2.0),
    "rrelu_train": lambda x: F.rrelu(x, training=True),  # run() reseeds: same slopes on both
    "glu": lambda x: F.glu(F.cat([x, x * 2], dim=-1)),
    "softmin": lambda x: F.softmin(x, dim=-1),
    "normalize": lambda x: F.normalize(x, dim=-1),
    "log1p": lambda x: F.log1p(x.abs()),
    "expm1": F.expm1,
    "flip": lambda x: F.flip(x, -1),
    "roll": lambda x: F.roll(x, 1, 0),
    "cumsum": lambda x: F.cumsum(x, -1),
    "topk": lambda x: F.topk(x, 1, -1)[0],
    "sort": lambda x: F.sort(x, 0, descending=True)[0],
    "softmax": lambda x: F.softmax(x, dim=-1),
    "log_softmax": lambda x: F.log_softmax(x, dim=0),
    "exp": F.exp,
    "log": lambda x: F.log(_pos(x)),
    "sqrt": lambda x: F.sqrt(_pos(x)),
    "rsqrt": lambda x: F.rsqrt(_pos(x)),
    "square": F.square,
    "abs": F.abs,
    "neg": F.neg,
    "sin": F.sin,
    "cos": F.cos,
    "atan": F.atan,
    "clamp": lambda x: F.clamp(x, -0.5, 0.7),
    "pow": lambda x: F.pow(_pos(x), 1.7),
    "sum": lambda x: F.sum(x, dim=-1),
    "mean": lambda x: F.mean(x),
    "prod": lambda x: F.prod(x, dim=0),
    "amax": lambda x: F.amax(x, dim=-1),
    "max_dim": lambda x: F.max(x, dim=0),
    "min_dim": lambda x: F.min(x, dim=-1, keepdim=True),
    "var": lambda x: F.var(x, dim=-1),
    "std": lambda x: F.std(x),
    "logsumexp": lambda x: F.logsumexp(x, dim=-1),
    "norm": lambda x: F.norm(x),
    "reshape_permute": lambda x: F.permute(F.reshape(x, (-1,)), 0),
    "transpose": lambda x: F.transpose(x, 0, -1),
    "flatten": F.flatten,
    "unsqueeze_expand": lambda x: F.expand(F.unsqueeze(x, 0), 3, *x.shape),
    "repeat": lambda x: F.repeat(x, *([2] * x.ndim)),
    "split_cat": lambda x: F.cat(F.split(x, 1, dim=0)[::-1], dim=0),
    "stack": lambda x: F.stack([x, x * 2], dim=-1),
    "slice": lambda x: x[..., ::2],
    "gather_repeats": lambda x: F.index(x, [0, 0, len(x) - 1]),
    "scatter_add": lambda x: F.scatter_add(x, 0, _zeros_index(x), x * 2),
    "index_add": lambda x: F.index_add(x, 0, [0, len(x) - 1, 0], F.cat([x[:1]] * 3, dim=0)),
    "dropout": lambda x: F.dropout(x, 0.3),
    "clone_where": lambda x: F.where(x > 0, x, F.clone(x) * 3),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@FEW
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=seeds)
def test_unary_ops(name, shape, seed):
    same_on_gpu(UNARY[name], f32(seed, tuple(shape)))


BINARY = {
    "add": F.add,
    "sub": lambda a, b: F.sub(a, b, alpha=2),
    "mul": F.mul,
    "div": lambda a, b: F.div(a, _pos(b)),
    "maximum": F.maximum,
    "minimum": F.minimum,
    "pow": lambda a, b: F.pow(_pos(a), b),
}


@st.composite
def broadcast_pair(draw):
    """Two shapes that broadcast: b drops leading dims of a and sets some of its sizes to 1."""
    a = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    b = [1 if draw(st.booleans()) else n for n in a[draw(st.integers(0, len(a) - 1)) :]]
    return tuple(a), tuple(b)


@pytest.mark.parametrize("name", sorted(BINARY))
@FEW
@given(shapes=broadcast_pair(), seed=seeds, swap=st.booleans())
def test_binary_ops_with_broadcasting(name, shapes, seed, swap):
    a, b = f32(seed, shapes[0]), f32(seed + 1, shapes[1])
    same_on_gpu(BINARY[name], *((b, a) if swap else (a, b)))


@FEW
@given(
    n=st.integers(1, 6),
    k=st.integers(1, 6),
    m=st.integers(1, 6),
    batch=st.integers(0, 3),
    seed=seeds,
)
def test_matmul_and_linear(n, k, m, batch, seed):
    lead = (batch,) if batch else ()
    same_on_gpu(F.matmul, f32(seed, lead + (n, k)), f32(seed + 1, (k, m)))
    same_on_gpu(F.linear, f32(seed, lead + (n, k)), f32(seed + 1, (m, k)), f32(seed + 2, (m,)))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_modes(mode):
    x = f32(0, (2, 3, 5, 4))
    same_on_gpu(lambda x: F.pad(x, (1, 2, 2, 1), mode=mode), x)


# --------------------------------------------------------------------------- normalisation


@FEW
@given(
    n=st.integers(2, 4),
    c=st.integers(1, 5),
    hw=st.integers(1, 6),
    training=st.booleans(),
    momentum=st.sampled_from([0.1, None]),
    seed=seeds,
)
def test_batch_norm_and_running_statistics(n, c, hw, training, momentum, seed):
    x = f32(seed, (n, c, hw, hw)) * 3 + 1
    stats = {}

    def fn(x, w, b, device):
        mean = to_device(np.linspace(-1, 1, c).astype(np.float32), device)
        var = to_device(np.linspace(0.5, 2, c).astype(np.float32), device)
        nbt = to_device(np.zeros((), np.int64), device)
        y = F.batch_norm(x, mean, var, w, b, training, momentum, 1e-5, nbt)
        stats[x.device.type] = host(mean), host(var)
        return y

    w, b = f32(seed + 1, (c,)), f32(seed + 2, (c,))
    same_on_gpu(lambda x, w, b: fn(x, w, b, x.device), x, w, b)
    for g, cpu in zip(stats["cuda"], stats["cpu"]):
        close(g, cpu)


@FEW
@given(n=st.integers(1, 3), groups=st.sampled_from([1, 2, 3]), seed=seeds)
def test_layer_norm_and_group_norm(n, groups, seed):
    x = f32(seed, (n, 6, 4, 5))
    w, b = f32(seed + 1, (6,)), f32(seed + 2, (6,))
    same_on_gpu(lambda x, w, b: F.group_norm(x, groups, w, b), x, w, b)
    w2, b2 = f32(seed + 3, (4, 5)), f32(seed + 4, (4, 5))
    same_on_gpu(lambda x, w, b: F.layer_norm(x, (4, 5), w, b), x, w2, b2)
    same_on_gpu(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), x, w, b)


def test_grid_sample_and_affine_grid():
    x, theta = f32(0, (2, 3, 5, 6)), f32(1, (2, 2, 3))
    for mode in ("bilinear", "nearest"):
        for padding_mode in ("zeros", "border"):

            def warp(x, t, mode=mode, padding_mode=padding_mode):
                return F.grid_sample(x, F.affine_grid(t, (2, 3, 4, 7)), mode, padding_mode)

            same_on_gpu(warp, x, theta)


def test_pixel_shuffle_prelu_and_distances():
    x = f32(0, (2, 8, 3, 4))
    same_on_gpu(lambda x: F.pixel_shuffle(x, 2), x)
    same_on_gpu(lambda x: F.pixel_unshuffle(x, 2), f32(1, (2, 2, 4, 6)))
    same_on_gpu(lambda x, w: F.prelu(x, w), x, f32(2, (8,)))
    y = f32(3, (2, 8, 3, 4))
    same_on_gpu(lambda x, y: F.cosine_similarity(x, y), x, y)
    same_on_gpu(lambda x, y: F.pairwise_distance(x, y), x, y)
    same_on_gpu(lambda x, y: F.huber_loss(x, y, delta=0.5), x, y)
    same_on_gpu(lambda x, y: F.kl_div(x, y.abs(), reduction="batchmean"), x, y)
    same_on_gpu(lambda x: F.local_response_norm(x, 3, alpha=0.5), x)
    same_on_gpu(lambda x: F.channel_shuffle(x, 4), x)
    v = x.reshape(2, 4, 2, 3, 4)  # (N, C, D, H, W): the 3-D ops
    same_on_gpu(lambda v, w: F.conv3d(v, w, padding=1, groups=2), v, f32(7, (6, 2, 3, 3, 3)))
    same_on_gpu(lambda v, w: F.conv_transpose3d(v, w, stride=2, padding=1, output_padding=1),
                v, f32(8, (4, 3, 3, 3, 3)))  # fmt: skip
    same_on_gpu(lambda v: F.max_pool3d(v, 2, ceil_mode=True), v)
    same_on_gpu(lambda v: F.avg_pool3d(v, (1, 2, 2), padding=(0, 1, 1)), v)
    same_on_gpu(lambda v: F.adaptive_avg_pool3d(v, (1, 2, 3)), v)
    same_on_gpu(lambda v: F.adaptive_max_pool3d(v, (1, 2, 3)), v)
    same_on_gpu(lambda v: F.max_unpool3d(*F.max_pool3d(v, 2, return_indices=True), 2), v)
    same_on_gpu(lambda v: F.lp_pool3d(v.abs() + 0.1, 1.5, 2, ceil_mode=True), v)
    same_on_gpu(lambda v: F.lp_pool2d(v[:, :, 0], 2, (2, 3), 1), v)
    same_on_gpu(lambda v: F.instance_norm(v), v)
    same_on_gpu(lambda v: F.interpolate(v, scale_factor=2, mode="trilinear"), v)
    same_on_gpu(lambda v: F.interpolate(v, scale_factor=(1.5, 2.1, 0.7), mode="nearest"), v)
    r = x.reshape(2, 8, 12)  # (N, C, L): the 1-D ops
    same_on_gpu(lambda r, w: F.conv1d(r, w, stride=2, padding=1, groups=2), r, f32(5, (6, 4, 3)))
    same_on_gpu(lambda r, w: F.conv_transpose1d(r, w, stride=2), r, f32(6, (8, 3, 3)))
    same_on_gpu(lambda r: F.max_pool1d(r, 3, 2, 1), r)
    same_on_gpu(lambda r: F.avg_pool1d(r, 3, 2, 1, count_include_pad=False), r)
    same_on_gpu(lambda r: F.adaptive_max_pool1d(r, 5), r)
    # run() reseeds the package generator: the same masks on both devices
    same_on_gpu(lambda x: F.dropout1d(x.reshape(2, 8, 12), 0.5), x)
    same_on_gpu(lambda x: F.alpha_dropout(x, 0.3, training=True), x)
    same_on_gpu(lambda x: F.feature_alpha_dropout(x, 0.3, training=True), x)


def test_margin_embedding_and_likelihood_losses():
    x, y, z = f32(0, (5, 4)), f32(1, (5, 4)), f32(2, (5, 4))
    t = np.random.default_rng(0).integers(0, 4, 5)
    signs = np.where(z < 0, -1.0, 1.0).astype(np.float32)
    same_on_gpu(lambda x, t: F.multi_margin_loss(x, t, p=2, margin=0.5), x, t)
    same_on_gpu(lambda x, t: F.multi_margin_loss(x, t, weight=F.abs(x[0]) + 0.1), x, t)
    same_on_gpu(lambda x, y: F.multilabel_soft_margin_loss(x, F.sigmoid(y)), x, y)
    same_on_gpu(lambda x, s: F.soft_margin_loss(x, s), x, signs)
    same_on_gpu(lambda x, y, s: F.margin_ranking_loss(x, y, s, margin=0.2), x, y, signs)
    same_on_gpu(lambda x, s: F.hinge_embedding_loss(x, s, reduction="sum"), x, signs)
    same_on_gpu(lambda x, y, s: F.cosine_embedding_loss(x, y, s[:, 0]), x, y, signs)
    same_on_gpu(lambda x, y, z: F.triplet_margin_loss(x, y, z, swap=True), x, y, z)
    same_on_gpu(lambda x, y, z: F.gaussian_nll_loss(x, y, F.abs(z), full=True), x, y, z)
    same_on_gpu(lambda x, y: F.poisson_nll_loss(x, F.abs(y), full=True), x, y)


# --------------------------------------------------------------------------- losses


@SETTINGS
@given(
    n=st.integers(1, 4),
    c=st.integers(2, 6),
    spatial=st.sampled_from([(), (3,), (2, 3)]),
    weighted=st.booleans(),
    ignore=st.booleans(),
    smoothing=st.sampled_from([0.0, 0.1]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    seed=seeds,
)
def test_cross_entropy_and_nll(n, c, spatial, weighted, ignore, smoothing, reduction, seed):
    x = f32(seed, (n, c) + spatial)
    rng = np.random.default_rng(seed)
    t = rng.integers(0, c, (n,) + spatial)
    if ignore:
        t.flat[0] = 255
    w = (rng.random(c) + 0.5).astype(np.float32) if weighted else None
    kw = dict(ignore_index=255, reduction=reduction)
    same_on_gpu(lambda x, t, w: F.cross_entropy(x, t, w, label_smoothing=smoothing, **kw), x, t, w)
    same_on_gpu(lambda x, t, w: F.nll_loss(F.log_softmax(x, dim=1), t, w, **kw), x, t, w)


def test_out_of_range_target_makes_the_gpu_loss_nan():
    """The CPU names the bad value; the GPU does not read the targets back, the loss is NaN."""
    x, t = f32(0, (3, 4)), np.array([0, 7, 1])
    with pytest.raises(ValueError, match="target value 7 is out of range for 4 classes"):
        F.cross_entropy(Tensor(x), Tensor(t))
    assert np.isnan(F.cross_entropy(Tensor(to_device(x, GPU)), Tensor(to_device(t, GPU))).item())


LOSSES = {
    "mse": lambda x, y, r: F.mse_loss(x, y, reduction=r),
    "l1": lambda x, y, r: F.l1_loss(x, y, reduction=r),
    "smooth_l1": lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
    "bce": lambda x, y, r: F.binary_cross_entropy(F.sigmoid(x), F.sigmoid(y), reduction=r),
    "bce_logits": lambda x, y, r: F.binary_cross_entropy_with_logits(x, F.sigmoid(y), reduction=r),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_and_binary_losses(name, reduction):
    x, y = f32(0, (4, 3, 2)), f32(1, (4, 3, 2))
    same_on_gpu(lambda x, y: LOSSES[name](x, y, reduction), x, y)


def test_bce_with_logits_pos_weight_and_weight():
    x, y = f32(0, (5, 3)), np.random.default_rng(0).random((5, 3)).astype(np.float32)
    w, pw = np.abs(f32(1, (3,))), np.abs(f32(2, (3,)))
    same_on_gpu(
        lambda x, y, w, pw: F.binary_cross_entropy_with_logits(x, y, w, pos_weight=pw), x, y, w, pw
    )


# --------------------------------------------------------------------------- layers and models


def _layer_case(make, shape, seed=0, train=True):
    """A layer built once, copied to each device: outputs, input and parameter gradients, and
    buffers (BatchNorm's running statistics) agree."""
    mt.manual_seed(seed)
    layer = make()
    x = f32(seed + 1, shape)
    results = {}
    for device in ("cpu", GPU):
        m = copy.deepcopy(layer).to(device)
        m.train(train)
        mt.manual_seed(seed + 2)
        t = Tensor(to_device(x, device), requires_grad=True)
        y = m(t)
        (y * Tensor(to_device(array(seed + 3, y.shape, np.float32), device))).sum().backward()
        results[device] = (
            [host(y), host(t.grad)]
            + [host(p.grad) for p in m.parameters()]
            + [host(b) for b in m.buffers()]
        )
    for i, (g, c) in enumerate(zip(results[GPU], results["cpu"])):
        close(g, c, what=f"result {i}")


LAYERS = {
    "Conv2d": (lambda: nn.Conv2d(3, 8, 3, stride=2, padding=1), (2, 3, 9, 9)),
    "Conv2d_groups_dilation": (
        lambda: nn.Conv2d(4, 6, (3, 2), padding="same", dilation=2, groups=2),
        (2, 4, 7, 8),
    ),
    "ConvTranspose2d": (
        lambda: nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1),
        (2, 4, 5, 5),
    ),
    "Linear": (lambda: nn.Linear(7, 5), (4, 7)),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(3), (4, 3, 5, 5)),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(6), (8, 6)),
    "LayerNorm": (lambda: nn.LayerNorm(6), (3, 4, 6)),
    "GroupNorm": (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, 2, 1), (2, 3, 9, 9)),
    "AvgPool2d": (lambda: nn.AvgPool2d(2), (2, 3, 8, 8)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d(1), (2, 3, 7, 5)),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d((2, 3)), (2, 3, 7, 5)),
    "Upsample": (lambda: nn.Upsample(scale_factor=2, mode="bilinear"), (2, 3, 4, 4)),
    "Dropout": (lambda: nn.Dropout(0.4), (4, 10)),
    "Dropout2d": (lambda: nn.Dropout2d(0.4), (4, 6, 3, 3)),
    "activations": (
        lambda: nn.Sequential(nn.ReLU(), nn.LeakyReLU(), nn.ELU(), nn.Tanh(), nn.Sigmoid()),
        (3, 8),
    ),
    "Softmax": (lambda: nn.Sequential(nn.Softmax(dim=1), nn.LogSoftmax(dim=0)), (3, 8)),
    "Flatten_Linear": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 3)), (2, 3, 2, 2)),
    "TransformerEncoder": (
        lambda: nn.TransformerEncoder(
            nn.TransformerEncoderLayer(8, 2, 16, 0.2, "gelu", batch_first=True, norm_first=True),
            2,
            norm=nn.LayerNorm(8),
        ),
        (2, 5, 8),
    ),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
@pytest.mark.parametrize("train", [True, False])
def test_layers(name, train):
    make, shape = LAYERS[name]
    _layer_case(make, shape, train=train)


def _small_input(info):
    c, h, w = info.input_size
    return (2, c, min(h, 64), min(w, 64))


# Beyond ResNet-18/50, ResNeXt-50, AlexNet, VGG-11-BN and MobileNetV2 the torchvision zoo
# repeats the same blocks at 25-140M parameters: seconds of float64 each, for no new op
_ZOO_REPEATS = {"resnet34", "resnet101", "resnet152", "resnext101-32x8d", "wide-resnet50-2",
                "wide-resnet101-2", "vgg11", "vgg13", "vgg13-bn", "vgg16", "vgg16-bn", "vgg19",
                "vgg19-bn", "fcn-resnet101", "deeplabv3-resnet101",
                # EfficientNet B0 / V2-S and ConvNeXt-Tiny have every block of their families
                *(f"efficientnet-b{i}" for i in range(1, 8)), "efficientnet-v2-m",
                "efficientnet-v2-l", "convnext-small", "convnext-base",
                "convnext-large"}  # fmt: skip


@pytest.mark.parametrize("name", [m.name for m in models.list_models()
                                  if m.name not in _ZOO_REPEATS])  # fmt: skip
def test_every_model_in_float64(name):
    """Whole networks, forward and backward, in float64 so depth does not blur the comparison."""
    info = models.info(name)
    mt.manual_seed(0)
    net = info.build().double()
    x = array(1, _small_input(info))
    results = {}
    for device in ("cpu", GPU):
        m = copy.deepcopy(net).to(device).train()
        mt.manual_seed(2)
        out = m(Tensor(to_device(x, device)))
        if isinstance(out, dict):  # torchvision's segmentation models: OrderedDict(out=...)
            out = out["out"]
        out.sum().backward()
        results[device] = [host(out)] + [host(p.grad) for p in m.parameters() if p.grad is not None]
    assert len(results[GPU]) == len(results["cpu"])
    for i, (g, c) in enumerate(zip(results[GPU], results["cpu"])):
        scale = max(1.0, np.abs(c).max())
        np.testing.assert_allclose(g, c, rtol=1e-7, atol=1e-9 * scale, err_msg=f"result {i}")


# --------------------------------------------------------------------------- torchvision ops


def _boxes(seed, n):
    """n proper 'xyxy' boxes (float32) with corners in [0, 12)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 8, (n, 2))
    return np.concatenate([xy, xy + rng.uniform(0.5, 4, (n, 2))], 1).astype(np.float32)


@FEW
@given(seed=seeds, n=st.integers(1, 6), m=st.integers(1, 6))
def test_box_ops_and_iou_losses(seed, n, m):
    a, b, matched = _boxes(seed, n), _boxes(seed + 1, m), _boxes(seed + 2, n)
    for fn in (ops.box_iou, ops.generalized_box_iou, ops.distance_box_iou, ops.complete_box_iou):
        same_on_gpu(fn, a, b)
    for loss in (ops.generalized_box_iou_loss, ops.distance_box_iou_loss,
                 ops.complete_box_iou_loss):  # fmt: skip
        same_on_gpu(lambda a, b, loss=loss: loss(a, b, reduction="mean"), a, matched)
    same_on_gpu(lambda a: ops.box_convert(a, "xywh", "cxcywh"), a)
    same_on_gpu(lambda a: ops.clip_boxes_to_image(a, (6, 9)), a)
    same_on_gpu(lambda a: ops.remove_small_boxes(a, 2.0), a)
    masks = np.random.default_rng(seed).random((3, 5, 7)) < 0.2
    same_on_gpu(ops.masks_to_boxes, masks)


@FEW
@given(seed=seeds, n=st.integers(0, 40), thr=st.sampled_from([0.2, 0.5, 0.7]))
def test_nms_and_batched_nms(seed, n, thr):
    rng = np.random.default_rng(seed)
    b, s, idxs = _boxes(seed, n), rng.random(n).astype(np.float32), rng.integers(0, 3, n)
    same_on_gpu(lambda b, s: ops.nms(b, s, thr), b, s)
    same_on_gpu(lambda b, s, i: ops.batched_nms(b, s, i, thr), b, s, idxs)


@FEW
@given(seed=seeds, sampling_ratio=st.sampled_from([-1, 2]), aligned=st.booleans())
def test_roi_align_and_roi_pool(seed, sampling_ratio, aligned):
    x = f32(seed, (2, 3, 9, 11))
    index = np.random.default_rng(seed).integers(0, 2, (5, 1)).astype(np.float32)
    rois = np.concatenate([index, _boxes(seed + 1, 5) * 2 - 2], 1)  # some past the edges
    same_on_gpu(lambda x, r: ops.roi_align(x, r, (3, 2), 0.5, sampling_ratio, aligned), x, rois)
    same_on_gpu(lambda x, r: ops.roi_pool(x, r, (3, 2), 0.5), x, rois)
    boxes = [Tensor(to_device(rois[:2, 1:], GPU)), Tensor(to_device(rois[2:, 1:], GPU))]
    y = ops.roi_align(Tensor(to_device(x, GPU)), boxes, 2, 0.5, sampling_ratio, aligned)
    want = ops.roi_align(Tensor(x), [Tensor(rois[:2, 1:]), Tensor(rois[2:, 1:])], 2, 0.5,
                         sampling_ratio, aligned)  # fmt: skip
    close(host(y), want.numpy())


# --------------------------------------------------------------------------- gradcheck on the GPU


def _gpu64(a, grad=True):
    return Tensor(to_device(np.asarray(a, np.float64), GPU), requires_grad=grad)


_ROIS = np.array([[0, 1.0, 2.0, 9.5, 11.0], [1, 0.0, 0.0, 15.0, 6.0], [1, 4.0, 3.0, 4.5, 3.2]])

GRADCHECKS = {
    "roi_align": (
        lambda x: ops.roi_align(x, Tensor(to_device(_ROIS, GPU)), (2, 3), 0.5, -1, True),
        [(2, 2, 7, 8)],
    ),
    "roi_pool": (
        lambda x: ops.roi_pool(x, Tensor(to_device(_ROIS, GPU)), (2, 2), 0.5),
        [(2, 2, 7, 8)],
    ),
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=((1, 0), (2, 1)), dilation=2),
        [(2, 2, 6, 5), (3, 2, 2, 2), (3,)],
    ),
    "conv2d_groups": (
        lambda x, w: F.conv2d(x, w, padding=1, groups=2),
        [(1, 4, 4, 4), (2, 2, 3, 3)],
    ),
    "conv_transpose2d": (
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [(2, 2, 3, 3), (2, 3, 3, 3), (3,)],
    ),
    "max_pool2d_overlapping": (lambda x: F.max_pool2d(x, 3, 2, 1), [(2, 2, 7, 6)]),
    "max_pool2d_dilated_ceil": (
        lambda x: F.max_pool2d(x, 2, 2, 0, dilation=2, ceil_mode=True),
        [(1, 2, 7, 7)],
    ),
    "avg_pool2d": (
        lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
        [(2, 2, 6, 7)],
    ),
    "adaptive_max_pool2d": (lambda x: F.adaptive_max_pool2d(x, (4, 3)), [(1, 2, 5, 7)]),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(1, 2, 5, 7)]),
    "interpolate_bilinear": (
        lambda x: F.interpolate(x, size=(5, 3), mode="bilinear"),
        [(1, 2, 3, 4)],
    ),
    "batch_norm": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [(3, 2, 2, 2), (2,), (2,)],
    ),
    "unfold_fold": (
        lambda x: F.fold(F.unfold(x, 2, stride=1, padding=1), (4, 3), 2, stride=1, padding=1),
        [(1, 2, 4, 3)],
    ),
    "scaled_dot_product_attention": (  # query row 0 sees no key: zeros, zero gradients
        lambda q, k, v: (
            F.scaled_dot_product_attention(
                q, k, v, Tensor(to_device(np.tri(3, 5, -1, dtype=bool), GPU))
            )
            + F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.7)
        ),
        [(2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 3)],
    ),
}


@pytest.mark.parametrize("name", sorted(GRADCHECKS))
def test_gradcheck_float64_on_the_gpu(name):
    fn, shapes = GRADCHECKS[name]
    inputs = [_gpu64(distinct_array(i + 1, s)) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs)


def test_cross_entropy_gradcheck_float64_on_the_gpu():
    x = _gpu64(array(0, (4, 5, 3)))
    t = Tensor(to_device(np.array([[0, 4, 2], [1, 255, 3], [4, 4, 0], [2, 1, 255]]), GPU))
    w = _gpu64(np.linspace(0.5, 2.0, 5), grad=False)
    assert gradcheck(lambda x: F.cross_entropy(x, t, w, ignore_index=255, label_smoothing=0.1), [x])


# --------------------------------------------------------------------------- devices and metrics


def test_mixed_devices_name_the_op_and_the_devices():
    a, b = Tensor(np.ones(3, np.float32)), Tensor(to_device(np.ones(3, np.float32), GPU))
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, got "):
        a + b
    x = Tensor(to_device(f32(0, (1, 2, 5, 5)), GPU))
    with pytest.raises(RuntimeError, match=r"Conv2d: .*cuda:0, cpu"):
        F.conv2d(x, Tensor(f32(1, (3, 2, 3, 3))))


@SETTINGS
@given(k=st.integers(2, 6), seed=seeds)
def test_metrics_on_the_gpu_equal_the_cpu(k, seed):
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(3, k, 4, 5))
    target = rng.integers(0, k, (3, 4, 5))
    target[0, 0] = 255
    for make in (
        lambda: M.ConfusionMatrix(k, 255),
        lambda: M.MeanIoU(k),
        lambda: M.PixelAccuracy(),
        lambda: M.TopKAccuracy(min(2, k), 255),
    ):
        cpu, gpu = make(), make()
        for _ in range(2):  # accumulated over batches
            cpu.update(scores, target)
            gpu.update(to_device(scores, GPU), to_device(target, GPU))
        np.testing.assert_allclose(np.asarray(gpu.compute()), np.asarray(cpu.compute()))


def test_confusion_matrix_on_the_gpu_reports_bad_labels_when_read():
    m = M.ConfusionMatrix(3)
    m.update(to_device(np.array([0, 1]), GPU), to_device(np.array([0, 7]), GPU))  # no read-back
    with pytest.raises(ValueError, match=r"confusion_matrix\(3 classes\): 1 \(target, pred\)"):
        m.compute()


def test_bincount_kernel():
    v = np.array([0, 3, 3, -1, 9, 2, 3])
    counts = host(im2col_cupy.bincount(to_device(v, GPU), 4))
    np.testing.assert_array_equal(counts, [1, 0, 1, 3, 2])


@FEW
@given(case=conv_cases(max_channels=3), seed=seeds)
def test_float16_convolution_goes_through_float32(case, seed):
    x = f32(seed, (case.n, case.cin, case.h, case.w)).astype(np.float16)
    w = f32(seed + 1, (case.cout, case.cin // case.groups) + case.kernel).astype(np.float16)
    args = (case.stride, case.padding, case.dilation, case.groups)
    y = kernels.conv2d(to_device(x, GPU), to_device(w, GPU), None, *args)
    assert y.dtype == np.float16
    want = kernels.conv2d(x.astype(np.float32), w.astype(np.float32), None, *args)
    np.testing.assert_allclose(host(y), want, rtol=1e-2, atol=2e-2 * max(1.0, np.abs(want).max()))
