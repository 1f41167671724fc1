"""kernels: the depthwise path (groups with one input or one output channel each).

Every geometry is drawn: channel multipliers 1-3 on either side, kernels 1-7, strides 1-3
(below, at and above the kernel), dilations 1-3, asymmetric paddings, non-square planes. The tap
loops must give what the grouped GEMM drivers give (`kernels.DEPTHWISE = False`) and what the
loop references of minitorch_cv/reference.py give, in every layout (channels-last; phase planes
taken whole or only the runs the output needs; forced by the layout knobs) and with chunks of
whole batches or of single groups; results must not depend on the thread count;
F.conv2d / F.conv_transpose2d with groups == channels pass a float64 gradcheck and match PyTorch.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import kernels, reference
from minitorch_cv.functional.conv import conv2d, conv_transpose2d
from minitorch_cv.kernels import im2col_numpy
from minitorch_cv.kernels.shapes import conv_out, conv_transpose_out
from tests.strategies import SETTINGS, array, seeds
from tests.strategies_core import check_parity


@dataclass(frozen=True)
class Case:
    """A grouped conv x (n, groups*cg, h, w) * weight (groups*fg, cg, kh, kw), min(cg, fg) = 1."""

    n: int
    groups: int
    cg: int  # input channels per group
    fg: int  # output channels per group
    h: int
    w: int
    kernel: tuple
    stride: tuple
    padding: tuple  # ((top, bottom), (left, right))
    dilation: tuple

    @property
    def out(self):
        return tuple(
            conv_out(*a) for a in zip((self.h, self.w), self.kernel, self.stride, self.padding,
                                      self.dilation)
        )  # fmt: skip

    @property
    def extra(self):
        """Input rows/columns that no window reaches: the output_padding of the input grad."""
        return tuple(
            (size + sum(p) - d * (k - 1) - 1) % s
            for size, p, d, k, s in zip(
                (self.h, self.w), self.padding, self.dilation, self.kernel, self.stride
            )
        )


@st.composite
def cases(draw, max_size=9, max_kernel=7, max_groups=4):
    """Depthwise geometries: one input channel per group and a multiplier m of outputs, or (the
    transposed conv's backward) m input channels per group and one output."""
    m = draw(st.integers(1, 3))
    cg, fg = (1, m) if draw(st.booleans()) else (m, 1)
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    if draw(st.booleans()):
        padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    else:
        padding = tuple((p, p) for p in (draw(st.integers(0, 3)), draw(st.integers(0, 3))))
    sizes = []
    for k, d, (lo, hi) in zip(kernel, dilation, padding):
        smallest = max(1, d * (k - 1) + 1 - lo - hi)  # the dilated kernel fits the padded input
        sizes.append(draw(st.integers(smallest, max(smallest, max_size))))
    return Case(draw(st.integers(1, 2)), draw(st.integers(2, max_groups)), cg, fg, *sizes, kernel,
                stride, padding, dilation)  # fmt: skip


@contextmanager
def forced(layout, budget="default", depthwise=True):
    """Force the depthwise passes' layout ('channels_last', 'planes': taps over whole phase
    planes, 'plane_runs': over the part of each plane that the output needs, as on large
    planes, or 'auto'), their chunking ('one_chunk': the whole batch; 'tiny': one image, or one
    group of one image, at a time), and whether depthwise convs take the tap loops at all.
    The loops then see every tap, those that read only padding too (the crop that skips them
    is tested in tests/functional/test_conv_dead_taps.py)."""
    knobs = {(kernels, "DEPTHWISE"): depthwise, (kernels, "SKIP_DEAD_TAPS"): False}
    if layout != "auto":
        pixels = 10**9 if layout == "channels_last" else 0
        for name in ("", "STRIDED_", "WGRAD_"):
            knobs[kernels, f"DEPTHWISE_{name}CL_MAX_PIXELS"] = pixels
        knobs[kernels, "NUMPY_BUFFERED_ROWS"] = -1 if layout == "plane_runs" else 10**9
    if budget != "default":
        knobs[im2col_numpy, "WORKSPACE_BYTES"] = 1 << 30 if budget == "one_chunk" else 64
        knobs[kernels, "MIN_CHUNK_PIXELS"] = 1  # the GEMM drivers' chunks too: one row each
    saved = {key: getattr(*key) for key in knobs}
    for (module, name), value in knobs.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)


@contextmanager
def counted():
    """Count the calls of the three depthwise drivers: proves a comparison ran the fast path."""
    names = ("_conv2d_depthwise", "_conv2d_weight_depthwise", "_conv_transpose2d_depthwise")
    calls = dict.fromkeys(names, 0)
    saved = {name: getattr(kernels, name) for name in names}

    def wrap(name):
        def call(*args):
            calls[name] += 1
            return saved[name](*args)

        return call

    for name in names:
        setattr(kernels, name, wrap(name))
    try:
        yield calls
    finally:
        for name, fn in saved.items():
            setattr(kernels, name, fn)


def _inputs(case, seed, dtype=np.float64):
    x = array(seed, (case.n, case.groups * case.cg, case.h, case.w), dtype)
    w = array(seed + 1, (case.groups * case.fg, case.cg) + case.kernel, dtype)
    return x, w


def _three_kernels(case, x, w, b, gy, b_t):
    """forward, weight gradient and input gradient (a transposed conv, with a bias of its own)."""
    args = (case.stride, case.padding, case.dilation, case.groups)
    return (
        kernels.conv2d(x, w, b, *args),
        kernels.conv2d_weight(x, gy, case.kernel, *args),
        kernels.conv_transpose2d(
            gy, w, b_t, case.stride, case.padding, case.extra, case.dilation, case.groups
        ),  # fmt: skip
    )


LAYOUTS = pytest.mark.parametrize("layout", ["channels_last", "planes", "plane_runs"])
CHUNKING = pytest.mark.parametrize("budget", ["one_chunk", "tiny"])


# --------------------------------------------------------------------------- the kernels


@LAYOUTS
@CHUNKING
@SETTINGS
@given(case=cases(), seed=seeds)
def test_depthwise_kernels_equal_the_grouped_gemm_path(layout, budget, case, seed):
    x, w = _inputs(case, seed)
    b = array(seed + 2, (w.shape[0],))
    gy = array(seed + 3, (case.n, w.shape[0]) + case.out)
    b_t = array(seed + 4, (x.shape[1],))
    with forced(layout, budget), counted() as calls:
        fast = _three_kernels(case, x, w, b, gy, b_t)
    assert all(v == 1 for v in calls.values()), calls
    with forced(layout, budget, depthwise=False), counted() as calls:
        slow = _three_kernels(case, x, w, b, gy, b_t)
    assert not any(calls.values())
    for got, expect, name in zip(fast, slow, ("forward", "weight grad", "input grad")):
        assert got.shape == expect.shape and got.dtype == expect.dtype, name
        np.testing.assert_allclose(got, expect, rtol=1e-10, atol=1e-10, err_msg=name)


@LAYOUTS
@SETTINGS
@given(case=cases(max_size=6, max_kernel=4), seed=seeds)
def test_depthwise_conv2d_matches_loop_reference(layout, case, seed):
    x, w = _inputs(case, seed)
    b = array(seed + 2, (w.shape[0],))
    args = (case.stride, case.padding, case.dilation, case.groups)
    with forced(layout):
        y = kernels.conv2d(x, w, b, *args)
    assert y.shape == (case.n, w.shape[0]) + case.out
    np.testing.assert_allclose(y, reference.conv2d(x, w, b, *args), rtol=1e-10, atol=1e-10)


@st.composite
def transposed_cases(draw, max_size=5, max_kernel=4):
    """Transposed depthwise convs as PyTorch takes them: symmetric padding, output_padding below
    max(stride, dilation), a positive output size. x (n, groups*cig, h, w), weight
    (groups*cig, cog, kh, kw) with min(cig, cog) = 1."""
    groups, m = draw(st.integers(2, 4)), draw(st.integers(1, 3))
    cig, cog = (1, m) if draw(st.booleans()) else (m, 1)
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    sizes, padding = [], []
    for k, s, d, o in zip(kernel, stride, dilation, output_padding):
        sizes.append(draw(st.integers(1, max_size)))
        full = conv_transpose_out(sizes[-1], k, s, 0, o, d)
        padding.append(draw(st.integers(0, min(3, (full - 1) // 2))))
    n = draw(st.integers(1, 2))
    return (n, groups, cig, cog, tuple(sizes), kernel, stride, tuple(padding), output_padding,
            dilation)  # fmt: skip


@LAYOUTS
@CHUNKING
@SETTINGS
@given(case=transposed_cases(), seed=seeds)
def test_depthwise_conv_transpose2d_matches_loop_reference_and_gemm_path(
    layout, budget, case, seed
):
    n, groups, cig, cog, (h, wd), kernel, stride, padding, output_padding, dilation = case
    x = array(seed, (n, groups * cig, h, wd))
    w = array(seed + 1, (groups * cig, cog) + kernel)
    b = array(seed + 2, (groups * cog,))
    pads = tuple((p, p) for p in padding)
    args = (stride, pads, output_padding, dilation, groups)
    with forced(layout, budget), counted() as calls:
        y = kernels.conv_transpose2d(x, w, b, *args)
    assert calls["_conv_transpose2d_depthwise"] == 1
    expect = reference.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    assert y.shape == expect.shape
    np.testing.assert_allclose(y, expect, rtol=1e-10, atol=1e-10)
    with forced(layout, budget, depthwise=False):
        np.testing.assert_allclose(
            y, kernels.conv_transpose2d(x, w, b, *args), rtol=1e-10, atol=1e-10
        )


@pytest.mark.parametrize("layout", ["channels_last", "planes", "plane_runs", "auto"])
def test_depthwise_results_do_not_depend_on_the_thread_count(layout):
    """Chunks are cut by a byte budget, never by the thread count, and weight-gradient chunks
    are summed in fixed runs: 1 and 2 worker threads give the same bits."""
    case = Case(5, 6, 1, 2, 9, 8, (3, 2), (2, 1), ((1, 2), (0, 1)), (1, 2))
    x, w = _inputs(case, 0, np.float32)
    b, gy = array(2, (12,), np.float32), array(3, (5, 12) + case.out, np.float32)
    b_t = array(4, (6,), np.float32)
    threads = mt.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            mt.set_num_threads(n)
            with forced(layout, "tiny"):
                results.append(_three_kernels(case, x, w, b, gy, b_t))
    finally:
        mt.set_num_threads(threads)
    for one, two in zip(*results):
        assert one.dtype == np.float32
        np.testing.assert_array_equal(one, two)


def test_depthwise_path_is_taken_only_for_one_channel_groups():
    x, gy = array(0, (2, 4, 6, 6)), array(1, (2, 4, 4, 4))
    ones = ((0, 0), (0, 0))
    with counted() as calls:
        kernels.conv2d(x, array(2, (4, 1, 3, 3)), None, (1, 1), ones, (1, 1), 4)  # depthwise
        kernels.conv2d(x, array(2, (2, 2, 3, 3)), None, (1, 1), ones, (1, 1), 2)  # 4 -> 2, g=2
        kernels.conv2d(x, array(2, (4, 2, 3, 3)), None, (1, 1), ones, (1, 1), 2)  # 2 -> 2 a group
        kernels.conv2d(x[:, :1], array(2, (3, 1, 3, 3)), None, (1, 1), ones, (1, 1), 1)  # dense
        kernels.conv2d_weight(x, gy, (3, 3), (1, 1), ones, (1, 1), 4)
        kernels.conv2d_weight(x, gy, (3, 3), (1, 1), ones, (1, 1), 2)
        kernels.conv_transpose2d(gy, array(2, (4, 1, 3, 3)), None, (1, 1), ones, (0, 0), (1, 1), 4)
        kernels.conv_transpose2d(gy, array(2, (4, 2, 3, 3)), None, (1, 1), ones, (0, 0), (1, 1), 2)
        # a channel multiplier (or inputs per output) above DEPTHWISE_MAX_MULTIPLIER: the GEMM
        # reuses each value m times, the tap loops would take up to 4x as long
        m = kernels.DEPTHWISE_MAX_MULTIPLIER + 1
        kernels.conv2d(x, array(2, (4 * m, 1, 3, 3)), None, (1, 1), ones, (1, 1), 4)
        kernels.conv2d(x, array(2, (1, 4, 3, 3)), None, (1, 1), ones, (1, 1), 1)
        kernels.conv2d(np.tile(x, (1, m, 1, 1)), array(2, (4, m, 3, 3)), None, (1, 1), ones,
                       (1, 1), 4)  # fmt: skip
        kernels.conv2d_weight(x, np.tile(gy, (1, m, 1, 1)), (3, 3), (1, 1), ones, (1, 1), 4)
        kernels.conv_transpose2d(np.tile(gy, (1, m, 1, 1)), array(2, (4 * m, 1, 3, 3)), None,
                                 (1, 1), ones, (0, 0), (1, 1), 4)  # fmt: skip
    # groups=2 with 4 -> 2 channels: two inputs, one output a group, the transposed case
    assert calls == {
        "_conv2d_depthwise": 2,
        "_conv2d_weight_depthwise": 1,
        "_conv_transpose2d_depthwise": 1,
    }


def test_depthwise_edge_cases():
    # float32 stays float32; a channel slice (ShuffleNet's split) is read in place; empty batch
    base = array(0, (2, 8, 7, 5), np.float32)
    x = base[:, 4:]  # not contiguous
    w = array(1, (8, 1, 3, 3), np.float32)
    args = ((2, 1), ((1, 1), (1, 1)), (1, 1), 4)
    y = kernels.conv2d(x, w, None, *args)
    assert y.dtype == np.float32
    expect = reference.conv2d(x.astype(np.float64), w.astype(np.float64), None, *args)
    np.testing.assert_allclose(y, expect, rtol=1e-5, atol=1e-5)
    empty = np.zeros((0, 4, 7, 5), np.float32)
    assert kernels.conv2d(empty, w, None, *args).shape == (0, 8, 4, 5)
    gw = kernels.conv2d_weight(empty, np.zeros((0, 8, 4, 5), np.float32), (3, 3), *args)
    assert gw.shape == (8, 1, 3, 3) and not gw.any()
    gx = kernels.conv_transpose2d(np.zeros((0, 8, 4, 5), np.float32), w, None, args[0], args[1],
                                  (0, 0), (1, 1), 4)  # fmt: skip
    assert gx.shape == (0, 4, 7, 5)


# --------------------------------------------------------------------------- the public ops


def leaf(a):
    return mt.tensor(np.array(a, dtype=np.float64), requires_grad=True)


def _public_padding(case):
    (t, b), (l, r) = case.padding
    return (t, l) if (t, l) == (b, r) else case.padding


@LAYOUTS
@SETTINGS
@given(case=cases(max_size=6, max_kernel=5, max_groups=3), seed=seeds, bias=st.booleans())
def test_depthwise_conv2d_gradcheck_float64(layout, case, seed, bias):
    x, w = _inputs(case, seed)
    inputs = [leaf(x), leaf(w)] + ([leaf(array(seed + 2, (w.shape[0],)))] if bias else [])
    pad = _public_padding(case)

    def f(x, w, b=None):
        return conv2d(x, w, b, case.stride, pad, case.dilation, case.groups)

    with forced(layout):
        assert mt.gradcheck(f, inputs)


@LAYOUTS
@SETTINGS
@given(case=transposed_cases(max_size=4, max_kernel=4), seed=seeds)
def test_depthwise_conv_transpose2d_gradcheck_float64(layout, case, seed):
    n, groups, cig, cog, (h, wd), kernel, stride, padding, output_padding, dilation = case
    x = array(seed, (n, groups * cig, h, wd))
    w = array(seed + 1, (groups * cig, cog) + kernel)
    b = array(seed + 2, (groups * cog,))

    def f(x, w, b):
        return conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    with forced(layout):
        assert mt.gradcheck(f, [leaf(x), leaf(w), leaf(b)])


@pytest.mark.parity
@SETTINGS
@given(
    case=cases(max_size=8, max_kernel=5),
    seed=seeds,
    same=st.booleans(),
    layout=st.sampled_from(["channels_last", "planes", "plane_runs", "auto"]),
)
@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch notes its own padded copy
def test_depthwise_conv2d_matches_torch(case, seed, same, layout):
    """Values and input gradients in float64; 'same' pads even kernels asymmetrically."""
    torch = pytest.importorskip("torch")
    x, w = _inputs(case, seed)
    (t, b), (l, r) = case.padding
    stride, pad = case.stride, (max(t, b), max(l, r))  # torch: symmetric padding or 'same'
    if same:
        stride, pad = (1, 1), "same"

    def fn(lib, x, w, bias):
        return lib.F.conv2d(x, w, bias, stride, pad, case.dilation, case.groups)

    with forced(layout):
        check_parity(torch, fn, [x, w, array(seed + 2, (w.shape[0],))])


@pytest.mark.parity
@SETTINGS
@given(
    case=transposed_cases(),
    seed=seeds,
    layout=st.sampled_from(["channels_last", "planes", "plane_runs"]),
)
def test_depthwise_conv_transpose2d_matches_torch(case, seed, layout):
    torch = pytest.importorskip("torch")
    n, groups, cig, cog, (h, wd), kernel, stride, padding, output_padding, dilation = case
    x = array(seed, (n, groups * cig, h, wd))
    w = array(seed + 1, (groups * cig, cog) + kernel)

    def fn(lib, x, w, b):
        return lib.F.conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)

    with forced(layout):
        check_parity(torch, fn, [x, w, array(seed + 2, (groups * cog,))])
