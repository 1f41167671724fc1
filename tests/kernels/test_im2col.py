"""kernels: im2col/col2im and the chunked GEMM drivers, on raw arrays.

The drivers pick a column layout by channel count and split work into chunks by a byte budget;
both choices are forced here both ways (`layout`, `budget` fixtures) so every path is checked
on small shapes."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given

from minitorch_cv import kernels, reference
from minitorch_cv.kernels import im2col_numpy
from tests.strategies import SETTINGS, array, conv_cases, conv_transpose_cases, seeds

BACKENDS = [pytest.param("numpy"), pytest.param("cupy", marks=pytest.mark.gpu)]


def _xp(name):
    if name == "numpy":
        return np
    from minitorch_cv.backend import cupy_module

    return cupy_module()


def _np(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@contextmanager
def forced(layout, budget, flip=True):
    """Force the drivers' column layout whatever the channel count ('channels_last' or
    'channel_major'), and their chunking: the whole batch at once ('one_chunk') or a budget so
    small that every image is cut into bands of rows ('row_bands'); `flip`: whether a stride-1
    transposed conv runs as a conv with the flipped kernel (where it can) or through col2im."""
    knobs = {
        (kernels, "CHANNELS_LAST_MIN"): 1 if layout == "channels_last" else 10**9,
        (kernels, "TRANSPOSE_CL_MAX_PIXELS"): 10**9,
        (im2col_numpy, "WORKSPACE_BYTES"): 1 << 30 if budget == "one_chunk" else 64,
        (kernels, "MIN_CHUNK_PIXELS"): 1,  # the budget alone cuts the chunks: bands of one row
        (kernels, "FLIP_MIN_PIXELS"): 0 if flip else 10**9,
    }
    saved = {key: getattr(*key) for key in knobs}
    for (module, name), value in knobs.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


PATHS = pytest.mark.parametrize(
    "layout, budget",
    [
        ("channels_last", "one_chunk"),
        ("channels_last", "row_bands"),
        ("channel_major", "one_chunk"),
        ("channel_major", "row_bands"),
    ],
)


def _loop_im2col(x, k, s, pads, d):
    """im2col by definition: entry (c, i, j) of window (oh, ow) is xpad[c, oh*s+i*d, ow*s+j*d]."""
    (t, b), (l, r) = pads
    xp_ = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    n, c, hp, wp = xp_.shape
    oh, ow = (hp - d[0] * (k[0] - 1) - 1) // s[0] + 1, (wp - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = np.empty((n, c, k[0], k[1], oh, ow))
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b_ in range(ow):
                    cols[:, :, i, j, a, b_] = xp_[:, :, a * s[0] + i * d[0], b_ * s[1] + j * d[1]]
    return cols.reshape(n, c * k[0] * k[1], oh * ow)


@SETTINGS
@given(case=conv_cases(), seed=seeds)
def test_im2col_matches_definition_in_both_layouts(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    expect = _loop_im2col(x, case.kernel, case.stride, case.padding, case.dilation)
    got = kernels.im2col(x, case.kernel, case.stride, case.padding, case.dilation)
    np.testing.assert_array_equal(got, expect)
    rows = kernels.im2col(
        x, case.kernel, case.stride, case.padding, case.dilation, channels_last=True
    )
    n, c, (kh, kw), (oh, ow) = case.n, case.cin, case.kernel, case.out
    # channels-last rows hold the same numbers: (N*OH*OW, KH*KW*C) vs (N, C*KH*KW, OH*OW)
    same = (
        rows.reshape(n, oh * ow, kh, kw, c)
        .transpose(0, 4, 2, 3, 1)
        .reshape(n, c * kh * kw, oh * ow)
    )
    np.testing.assert_array_equal(same, expect)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("channels_last", [False, True])
@SETTINGS
@given(case=conv_cases(), seed=seeds)
def test_col2im_is_adjoint_of_im2col(backend, channels_last, case, seed):
    xp = _xp(backend)
    x = xp.asarray(array(seed, (case.n, case.cin, case.h, case.w)))
    args = (case.kernel, case.stride, case.padding, case.dilation)
    cols = kernels.im2col(x, *args, channels_last=channels_last)
    g = xp.asarray(array(seed + 1, cols.shape))
    back = kernels.col2im(g, x.shape, *args, channels_last=channels_last)
    assert back.shape == x.shape
    lhs, rhs = float((cols * g).sum()), float((x * back).sum())
    assert abs(lhs - rhs) <= 1e-10 * (1 + abs(lhs))


def test_windows_is_a_view_and_col2im_never_loops_over_pixels():
    x = np.arange(2 * 3 * 6 * 5, dtype=np.float64).reshape(2, 3, 6, 5)
    v = kernels.windows(x, (3, 2), (2, 1), (1, 2))
    assert np.shares_memory(v, x) and v.shape == (2, 3, 3, 2, 2, 3)
    assert v[1, 2, 2, 1, 1, 2] == x[1, 2, 1 * 2 + 2 * 1, 2 * 1 + 1 * 2]
    # K*K strided adds: a 1x1 kernel is a plain copy, a kernel as big as the input a broadcast sum
    out = np.zeros((2, 3, 6, 5))
    kernels.col2im_add(np.ones((2, 3, 6, 5, 1, 1)), out)
    np.testing.assert_array_equal(out, np.full((2, 3, 6, 5), 1.0))


@pytest.mark.parity
@SETTINGS
@given(case=conv_cases(asymmetric=False), seed=seeds)
def test_im2col_col2im_match_torch_unfold_fold(case, seed):
    torch = pytest.importorskip("torch")
    x = array(seed, (case.n, case.cin, case.h, case.w))
    args = dict(
        kernel_size=case.kernel,
        dilation=case.dilation,
        padding=case.symmetric_padding,
        stride=case.stride,
    )
    cols = kernels.im2col(x, case.kernel, case.stride, case.padding, case.dilation)
    np.testing.assert_array_equal(cols, torch.nn.functional.unfold(torch.tensor(x), **args).numpy())
    back = kernels.col2im(cols, x.shape, case.kernel, case.stride, case.padding, case.dilation)
    expect = torch.nn.functional.fold(torch.tensor(cols), (case.h, case.w), **args).numpy()
    np.testing.assert_allclose(back, expect, rtol=1e-12, atol=1e-12)


def _conv_args(case):
    return case.stride, case.padding, case.dilation, case.groups


@PATHS
@SETTINGS
@given(case=conv_cases(max_channels=6), seed=seeds)
def test_conv2d_kernel_matches_naive_loops(layout, budget, case, seed):
    with forced(layout, budget):
        _check_conv2d_kernel(case, seed)


def _check_conv2d_kernel(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cout, case.cin // case.groups) + case.kernel)
    b = array(seed + 2, (case.cout,))
    stride, padding, dilation, groups = _conv_args(case)
    y = kernels.conv2d(x, w, b, stride, padding, dilation, groups)
    expect = reference.conv2d(x, w, b, stride, padding, dilation, groups)
    assert y.shape == (case.n, case.cout) + case.out
    np.testing.assert_allclose(y, expect, rtol=1e-10, atol=1e-10)


@PATHS
@SETTINGS
@given(case=conv_cases(max_channels=6), seed=seeds)
def test_conv_kernels_are_adjoint_and_weight_gradient(layout, budget, case, seed):
    """<conv(x, w), g> = <x, conv_transpose(g, w)> = <w, conv2d_weight(x, g)>: one bilinear form,
    so the transposed conv is the input gradient and conv2d_weight the weight gradient."""
    with forced(layout, budget):
        _check_adjoint(case, seed)


def _check_adjoint(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cout, case.cin // case.groups) + case.kernel)
    stride, padding, dilation, groups = _conv_args(case)
    y = kernels.conv2d(x, w, None, stride, padding, dilation, groups)
    g = array(seed + 2, y.shape)
    extra = tuple(
        (n + sum(p) - d * (k - 1) - 1) % s
        for n, p, d, k, s in zip(x.shape[2:], padding, dilation, w.shape[2:], stride)
    )
    gx = kernels.conv_transpose2d(g, w, None, stride, padding, extra, dilation, groups)
    gw = kernels.conv2d_weight(x, g, case.kernel, stride, padding, dilation, groups)
    assert gx.shape == x.shape and gw.shape == w.shape
    forms = [(y * g).sum(), (x * gx).sum(), (w * gw).sum()]
    np.testing.assert_allclose(forms[1:], [forms[0]] * 2, rtol=1e-10, atol=1e-10)


@PATHS
@pytest.mark.parametrize("flip", [True, False])
@SETTINGS
@given(case=conv_transpose_cases(max_channels=6), seed=seeds)
def test_conv_transpose2d_kernel_matches_naive_loops(layout, budget, flip, case, seed):
    with forced(layout, budget, flip):
        _check_conv_transpose_kernel(case, seed)


def _check_conv_transpose_kernel(case, seed):
    x = array(seed, (case.n, case.cin, case.h, case.w))
    w = array(seed + 1, (case.cin, case.cout // case.groups) + case.kernel)
    b = array(seed + 2, (case.cout,))
    pads = tuple((p, p) for p in case.padding)
    y = kernels.conv_transpose2d(
        x, w, b, case.stride, pads, case.output_padding, case.dilation, case.groups
    )
    expect = reference.conv_transpose2d(
        x, w, b, case.stride, case.padding, case.output_padding, case.groups, case.dilation
    )
    assert y.shape == (case.n, case.cout) + case.out
    np.testing.assert_allclose(y, expect, rtol=1e-10, atol=1e-10)


def test_chunks_cover_every_output_row_once():
    for n, rows, row_bytes, budget in [
        (5, 7, 10, 1000),
        (5, 7, 10, 150),
        (3, 7, 10, 25),
        (2, 4, 100, 1),
    ]:
        seen = np.zeros((n, rows), dtype=int)
        nb, rb = kernels._max_chunk(n, rows, row_bytes, budget)
        for i0, i1, r0, r1 in kernels._chunks(n, rows, row_bytes, budget):
            assert i1 - i0 <= nb and r1 - r0 <= rb
            assert (i1 - i0 == 1) or (r0, r1) == (0, rows)  # bands only within one image
            seen[i0:i1, r0:r1] += 1
        assert (seen == 1).all()


def test_gemm_chunks_of_long_unfolded_rows_hold_at_least_min_chunk_pixels(monkeypatch):
    """DeepLabV3's 2048 -> 256 3x3 conv on 16x16 maps: a pixel's unfolded row is K = 18432
    floats, so 2 MB of WORKSPACE_BYTES holds 28 pixels (one 16-pixel output row) and each chunk's
    GEMM would re-read the whole 18 MB weight. Every driver's chunks hold >= 64 pixels (4 rows);
    rows of K <= 8192 at >= 64 pixels keep the plain budget."""
    assert kernels.MIN_CHUNK_PIXELS == 64
    assert kernels._gemm_budget(im2col_numpy, 64, 64 * 8192 * 4) == im2col_numpy.WORKSPACE_BYTES
    seen = []
    chunks = kernels._chunks

    def spy(n, rows, row_bytes, budget):
        out = list(chunks(n, rows, row_bytes, budget))
        seen.append([(i1 - i0) * (r1 - r0) * 16 for i0, i1, r0, r1 in out])  # 16-pixel rows
        return out

    monkeypatch.setattr(kernels, "_chunks", spy)
    x = array(0, (2, 2048, 16, 16), np.float32)
    w, gy = array(1, (1, 2048, 3, 3), np.float32), array(2, (2, 1, 16, 16), np.float32)
    pad = ((1, 1), (1, 1))
    kernels.conv2d(x, w, None, (1, 1), pad)
    kernels.conv2d_weight(x, gy, (3, 3), (1, 1), pad)
    # a transposed conv whose unfolded rows are C_out*KH*KW = 18432 long (through col2im)
    kernels.conv_transpose2d(gy, w, None, (2, 2), pad)
    assert len(seen) == 3
    assert all(min(pixels) >= 64 for pixels in seen), seen


def test_float32_in_float32_out():
    x = np.ones((2, 20, 5, 5), np.float32)
    w = np.ones((4, 20, 3, 3), np.float32)
    assert kernels.conv2d(x, w, None, (1, 1), ((1, 1), (1, 1))).dtype == np.float32
    assert (
        kernels.conv_transpose2d(x, np.ones((20, 3, 2, 2), np.float32), None, (2, 2)).dtype
        == np.float32
    )
    assert kernels.conv2d_weight(x, np.ones((2, 4, 3, 3), np.float32), (3, 3)).dtype == np.float32
