"""Dead kernel taps: convolutions cropped to the taps that read input (kernels.live_crop).

A tap of a dilated kernel that reads only padding for every output (DeepLabV3's ASPP at dilation
24 and 36 on a 14x14 or 28x28 map) is cut out of the problem before the unfold. Every geometry
is drawn with dilations up to 9 on inputs of 1 to 6 elements, so that most draws have dead taps
on one side, on both, or on every tap of an axis (the output is then the bias alone), with
strides 1-3, 'same' and asymmetric paddings, groups (depthwise ones too) and batches of 1-2.
What is proved, in float64:
  - shapes.live_taps is the hull of the taps that read an input element, by brute force (drawn,
    and on every geometry of a small grid);
  - forward, input gradient and weight gradient equal the uncropped path's
    (kernels.SKIP_DEAD_TAPS = False) and the loop references to 1e-12, for conv2d,
    conv_transpose2d and conv1d, through autograd and at the kernel level (on every backend);
  - the weight gradient is exactly 0 on every dead tap, and a gradcheck passes;
  - ASPP's dilation-24 3x3 conv on a 14x14 map is bit for bit the 1x1 conv with its centre tap;
  - with no live tap the output is the bias and the input and weight gradients are 0, as
    PyTorch gives;
  - integer convs (float64-exact and int64 paths) are bit for bit the uncropped ones and PyTorch's;
  - the one documented difference from PyTorch: a nan weight on a dead tap and an inf output
    gradient are never read (PyTorch's full product makes nan of them).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import kernels, reference
from minitorch_cv.functional.conv import conv2d, conv_transpose2d
from minitorch_cv.functional.conv_pool_1d import conv1d
from minitorch_cv.kernels.shapes import conv_out, conv_transpose_out, live_taps, same_padding
from tests.strategies import FEW, SETTINGS, array, seeds

BACKENDS = [pytest.param("numpy"), pytest.param("cupy", marks=pytest.mark.gpu)]
TOL = dict(rtol=1e-12, atol=1e-12)


def _xp(name):
    if name == "numpy":
        return np
    from minitorch_cv.backend import cupy_module

    return cupy_module()


def _np(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


@contextmanager
def skipping(on):
    """Run with kernels.SKIP_DEAD_TAPS set to `on`."""
    old = kernels.SKIP_DEAD_TAPS
    kernels.SKIP_DEAD_TAPS = on
    try:
        yield
    finally:
        kernels.SKIP_DEAD_TAPS = old


def _live(size, k, s, lo, d, out):
    """The taps of one axis that read an input element for some output: by brute force."""
    return [i for i in range(k) if any(0 <= o * s - lo + i * d < size for o in range(out))]


@dataclass(frozen=True)
class Case:
    """x (n, groups*cg, *size) * weight (groups*fg, cg, *kernel); padding resolved."""

    n: int
    groups: int
    cg: int
    fg: int
    size: tuple
    kernel: tuple
    stride: tuple
    padding: tuple  # ((lo, hi), ...)
    dilation: tuple
    same: bool  # padding='same' in the functional call

    @property
    def out(self):
        return tuple(conv_out(*a) for a in zip(self.size, self.kernel, self.stride, self.padding,
                                               self.dilation))  # fmt: skip

    @property
    def dead(self):
        """Boolean (*kernel) mask of the taps that read only padding."""
        mask = np.zeros(self.kernel, dtype=bool)
        for axis, args in enumerate(zip(self.size, self.kernel, self.stride, self.padding,
                                        self.dilation, self.out)):  # fmt: skip
            size, k, s, (lo, _), d, o = args
            idx = [slice(None)] * len(self.kernel)
            idx[axis] = [i for i in range(k) if i not in _live(size, k, s, lo, d, o)]
            mask[tuple(idx)] = True
        return mask

    @property
    def padding_arg(self):
        if self.same:
            return "same"
        return self.padding if len(self.size) == 2 else self.padding[0][0]


@st.composite
def dead_tap_cases(draw, dims=2, max_size=6, max_dilation=9):
    """Geometries where taps are often dead: small inputs, large dilations and paddings."""
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cg, fg = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    same = draw(st.integers(0, 4)) == 0
    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(dims):
        k = draw(st.sampled_from([1, 2, 3, 3, 4]))
        d = draw(st.sampled_from([1, 2] + [draw(st.integers(3, max_dilation))] * 3))
        s = 1 if same else draw(st.integers(1, 3))
        span = d * (k - 1)
        # any padding up to the span, or half of it (ASPP's) or all of it, where taps die
        pads = st.sampled_from([span // 2, span, draw(st.integers(0, span + 1))])
        if same:
            pad = same_padding(k, d)
        elif dims == 1 or draw(st.booleans()):  # symmetric (conv1d takes one int)
            pad = (draw(pads),) * 2
        else:
            pad = (draw(pads), draw(pads))
        smallest = max(1, span + 1 - sum(pad))  # at least one output
        n_in = draw(st.integers(smallest, max(smallest, max_size)))
        kernel.append(k), stride.append(s), dilation.append(d), padding.append(pad)
        size.append(n_in)
    n = draw(st.integers(1, 2))
    case = Case(n, groups, cg, fg, tuple(size), tuple(kernel), tuple(stride), tuple(padding),
                tuple(dilation), same)  # fmt: skip
    event("no live tap" if case.dead.all() else "dead taps" if case.dead.any() else "all live")
    return case


def _inputs(case, seed):
    x = array(seed, (case.n, case.groups * case.cg) + case.size)
    w = array(seed + 1, (case.groups * case.fg, case.cg) + case.kernel)
    return x, w, array(seed + 2, (case.groups * case.fg,))


def _conv_and_grads(fn, arrays, seed):
    """fn's output and the gradients of <fn(*arrays), g> for a fixed random g."""
    leaves = [mt.tensor(a, requires_grad=True) for a in arrays]
    y = fn(*leaves)
    g = mt.tensor(array(seed + 3, y.shape))
    (y * g).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in leaves]


# --------------------------------------------------------------------------- the live-tap formula


@SETTINGS
@given(
    size=st.integers(1, 8),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    lo=st.integers(0, 20),
    d=st.integers(1, 10),
    out=st.integers(1, 8),
)
def test_live_taps_is_the_hull_of_the_taps_that_read_input(size, k, s, lo, d, out):
    live = _live(size, k, s, lo, d, out)
    assert live_taps(size, k, s, lo, d, out) == ((live[0], live[-1] + 1) if live else (0, 0))


def test_live_taps_is_the_hull_on_every_small_geometry():
    """Exhaustive over a grid (the draws above see 20 geometries): live_taps tests the two ends
    first and walks inward, which must still give the hull of the brute-force live set."""
    for size in range(1, 6):
        for k in range(1, 5):
            for s in range(1, 5):
                for d in range(1, 6):
                    for lo in range(0, d * (k - 1) + 3):
                        for out in range(1, 5):
                            live = _live(size, k, s, lo, d, out)
                            hull = (live[0], live[-1] + 1) if live else (0, 0)
                            assert live_taps(size, k, s, lo, d, out) == hull


# --------------------------------------------------------------------------- conv2d


@SETTINGS
@given(case=dead_tap_cases(), seed=seeds)
def test_conv2d_with_dead_taps_matches_loops_and_the_uncropped_path(case, seed):
    x, w, b = _inputs(case, seed)

    def f(x, w, b):
        return conv2d(x, w, b, case.stride, case.padding_arg, case.dilation, case.groups)

    y, gx, gw, gb = _conv_and_grads(f, (x, w, b), seed)
    with skipping(False):
        y0, gx0, gw0, gb0 = _conv_and_grads(f, (x, w, b), seed)
    expect = reference.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    assert y.shape == (case.n, len(w)) + case.out
    np.testing.assert_allclose(y, expect, **TOL)
    for new, old in ((y, y0), (gx, gx0), (gw, gw0), (gb, gb0)):
        np.testing.assert_allclose(new, old, **TOL)
    assert not gw[:, :, case.dead].any()  # exactly 0 on every dead tap


@FEW
@given(case=dead_tap_cases(max_size=4), seed=seeds)
def test_conv2d_with_dead_taps_gradcheck_float64(case, seed):
    x, w, b = _inputs(case, seed)
    leaves = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert mt.gradcheck(
        lambda x, w, b: conv2d(x, w, b, case.stride, case.padding_arg, case.dilation, case.groups),
        leaves,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@SETTINGS
@given(case=dead_tap_cases(), seed=seeds)
def test_kernels_with_dead_taps_match_the_uncropped_kernels(backend, case, seed):
    """kernels.conv2d, conv2d_weight and conv_transpose2d (Conv2d's input gradient, with the
    output_padding that restores rows no window reaches) on either backend."""
    xp = _xp(backend)
    x, w, b = (xp.asarray(a) for a in _inputs(case, seed))
    gy = xp.asarray(array(seed + 3, (case.n, len(w)) + case.out))
    bx = xp.asarray(array(seed + 4, (x.shape[1],)))  # a bias for the transposed conv's output
    extra = tuple(  # the input rows that no window reaches
        (n + sum(p) - d * (k - 1) - 1) % s
        for n, p, d, k, s in zip(case.size, case.padding, case.dilation, case.kernel, case.stride)
    )
    geo = case.stride, case.padding, case.dilation

    def run():
        return (
            kernels.conv2d(x, w, b, *geo, case.groups),
            kernels.conv2d_weight(x, gy, case.kernel, *geo, case.groups),
            kernels.conv_transpose2d(
                gy, w, bx, case.stride, case.padding, extra, case.dilation, case.groups
            ),  # fmt: skip
        )

    new = run()
    with skipping(False):
        old = run()
    for a, a0 in zip(new, old):
        assert a.shape == a0.shape
        np.testing.assert_allclose(_np(a), _np(a0), **TOL)
    assert not _np(new[1])[:, :, case.dead].any()


def test_aspp_dilation_24_on_14x14_is_the_centre_tap_bit_for_bit():
    x = mt.tensor(array(0, (2, 32, 14, 14), np.float32))
    w = array(1, (8, 32, 3, 3), np.float32)
    crop = kernels.live_crop((14, 14), (3, 3), (1, 1), ((24, 24),) * 2, (24, 24), (14, 14))
    assert crop == ((slice(1, 2),) * 2, (slice(0, 14),) * 2, ((0, 0),) * 2)
    y = conv2d(x, mt.tensor(w), padding=24, dilation=24)
    np.testing.assert_array_equal(y.numpy(), conv2d(x, mt.tensor(w[:, :, 1:2, 1:2])).numpy())


@pytest.mark.parametrize(
    "size, kernel, padding, dilation, stride",
    [
        ((4, 5), (3, 3), ((6, 0), (1, 1)), (3, 1), (1, 1)),  # only the left tap of H is dead
        ((4, 5), (3, 3), ((0, 6), (1, 1)), (3, 1), (1, 1)),  # only the right one
        ((5, 3), (3, 2), ((12, 12), (0, 0)), (12, 2), (2, 1)),  # only the centre is live
    ],
)
def test_one_sided_dead_taps_match_loops_and_gradcheck(size, kernel, padding, dilation, stride):
    x, w, b = array(0, (2, 3) + size), array(1, (4, 3) + kernel), array(2, (4,))
    y = conv2d(mt.tensor(x), mt.tensor(w), mt.tensor(b), stride, padding, dilation)
    expect = reference.conv2d(x, w, b, stride, padding, dilation)
    np.testing.assert_allclose(y.numpy(), expect, **TOL)
    assert kernels.live_crop(size, kernel, stride, padding, dilation, y.shape[2:]) is not None
    leaves = [mt.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert mt.gradcheck(lambda x, w, b: conv2d(x, w, b, stride, padding, dilation), leaves)


def test_no_live_tap_gives_the_bias_and_zero_gradients_as_torch():
    """H = 1 with kernel 2, dilation 3, padding 2: taps read rows -2, 1 and -1, 2; none is row 0."""
    x, w, b = array(0, (2, 3, 1, 5)), array(1, (4, 3, 2, 3)), array(2, (4,))
    y, gx, gw, gb = _conv_and_grads(
        lambda x, w, b: conv2d(x, w, b, 1, (2, 1), (3, 1)), (x, w, b), seed=7
    )
    assert kernels.live_crop((1, 5), (2, 3), (1, 1), ((2, 2), (1, 1)), (3, 1), (2, 5)) == (
        None,
        None,
        None,
    )
    np.testing.assert_array_equal(y, np.broadcast_to(b[:, None, None], y.shape))
    assert not gx.any() and not gw.any()
    np.testing.assert_allclose(gb, array(7 + 3, y.shape).sum(axis=(0, 2, 3)), **TOL)
    torch = pytest.importorskip("torch")
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, 1, (2, 1), (3, 1))
    ty.backward(torch.tensor(array(7 + 3, y.shape)))
    for ours, theirs in ((y, ty), (gx, tx.grad), (gw, tw.grad), (gb, tb.grad)):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), **TOL)


# --------------------------------------------------------------------------- conv_transpose2d


@st.composite
def transpose_cases(draw):
    """Transposed convs PyTorch accepts (symmetric padding, output_padding < max(stride, dil),
    output >= 1) whose adjoint taps often write only into the cropped-off padding."""
    groups = draw(st.sampled_from([1, 1, 2]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation, padding, opad, size = [], [], [], [], [], []
    for _ in range(2):
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 8))
        o = draw(st.integers(0, max(s, d) - 1))
        n_in = draw(st.integers(1, 4))
        full = conv_transpose_out(n_in, k, s, 0, o, d)
        p = draw(st.integers(0, max(0, (full - 1) // 2)))
        for lst, v in zip((kernel, stride, dilation, padding, opad, size), (k, s, d, p, o, n_in)):
            lst.append(v)
    return draw(st.integers(1, 2)), groups, cin, cout, size, kernel, stride, padding, opad, dilation


@SETTINGS
@given(case=transpose_cases(), seed=seeds)
def test_conv_transpose2d_with_dead_taps_matches_loops_and_the_uncropped_path(case, seed):
    n, groups, cin, cout, size, kernel, stride, padding, opad, dilation = case
    x = array(seed, (n, cin, *size))
    w, b = array(seed + 1, (cin, cout // groups, *kernel)), array(seed + 2, (cout,))

    def f(x, w, b):
        return conv_transpose2d(x, w, b, stride, padding, opad, groups, dilation)

    new = _conv_and_grads(f, (x, w, b), seed)
    with skipping(False):
        old = _conv_and_grads(f, (x, w, b), seed)
    expect = reference.conv_transpose2d(x, w, b, stride, padding, opad, groups, dilation)
    np.testing.assert_allclose(new[0], expect, **TOL)
    for a, a0 in zip(new, old):
        np.testing.assert_allclose(a, a0, **TOL)


# --------------------------------------------------------------------------- conv1d


@SETTINGS
@given(case=dead_tap_cases(dims=1), seed=seeds)
def test_conv1d_with_dead_taps_matches_loops_and_the_uncropped_path(case, seed):
    x, w, b = _inputs(case, seed)

    def f(x, w, b):
        return conv1d(x, w, b, case.stride[0], case.padding_arg, case.dilation[0], case.groups)

    new = _conv_and_grads(f, (x, w, b), seed)
    with skipping(False):
        old = _conv_and_grads(f, (x, w, b), seed)
    pad = case.padding[0]
    expect = reference.conv2d(
        x[:, :, None], w[:, :, None], b, (1, case.stride[0]), ((0, 0), pad),
        (1, case.dilation[0]), case.groups,
    )[:, :, 0]  # fmt: skip
    np.testing.assert_allclose(new[0], expect, **TOL)
    for a, a0 in zip(new, old):
        np.testing.assert_allclose(a, a0, **TOL)
    assert not new[2][:, :, case.dead].any()


# ------------------------------------------------------------- integer and non-finite values


@pytest.mark.parametrize("scale", [100, 2**40])  # float64-exact path, int64 (wrapping) path
@pytest.mark.parametrize(
    "height, stride, padding, dilation",
    [
        (5, 2, 7, (7, 3)),  # rows: only the centre tap live; columns: all
        (5, 3, 10, 10),  # only the centre tap live
        (1, (4, 1), (3, 1), (2, 1)),  # rows -3, -1, 1 of a 1-row input: no live tap
    ],
)
def test_integer_conv_with_dead_taps_is_exact_as_torch(scale, height, stride, padding, dilation):
    """functional/conv.py's int_conv runs kernels.conv2d on float64 or int64 arrays: the crop
    changes nothing, bit for bit."""
    rng = np.random.default_rng(0)
    x = rng.integers(-scale, scale, (2, 4, height, 6))
    w, b = rng.integers(-scale, scale, (4, 2, 3, 3)), rng.integers(-5, 5, (4,))
    args = stride, padding, dilation, 2
    st_, pad, dil = (a if isinstance(a, tuple) else (a, a) for a in args[:3])
    out = [conv_out(*a) for a in zip((height, 6), (3, 3), st_, pad, dil)]
    crop = kernels.live_crop((height, 6), (3, 3), st_, [(p, p) for p in pad], dil, out)
    assert crop is not None and (height > 1) == (crop[0] is not None)
    y = conv2d(*(mt.tensor(a) for a in (x, w, b)), *args).numpy()
    with skipping(False):
        y0 = conv2d(*(mt.tensor(a) for a in (x, w, b)), *args).numpy()
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y, y0)
    torch = pytest.importorskip("torch")
    ty = torch.nn.functional.conv2d(*(torch.tensor(a) for a in (x, w, b)), *args)
    np.testing.assert_array_equal(y, ty.numpy())


def test_non_finite_values_on_dead_taps_are_never_read_unlike_torch():
    """The documented difference (docs/BENCHMARKS.md, "Dead kernel taps"): PyTorch, as the
    uncropped path, multiplies a nan weight on a dead tap (ASPP's dilation 24 on 14x14) and an
    inf output gradient by the padding's zeros; the crop never reads them."""
    x, w, g = array(0, (1, 2, 14, 14)), array(1, (3, 2, 3, 3)), array(2, (1, 3, 14, 14))
    w[:, :, 0, 0] = np.nan
    g[0, 0, 3, 3] = np.inf

    def run():
        tw = mt.tensor(w, requires_grad=True)
        y = conv2d(mt.tensor(x), tw, None, 1, 24, 24)
        y.backward(mt.tensor(g))
        return y.numpy(), tw.grad.numpy()

    dead = np.ones((3, 3), dtype=bool)
    dead[1, 1] = False
    y, gw = run()
    assert np.isfinite(y).all() and not gw[:, :, dead].any()
    with skipping(False), np.errstate(invalid="ignore"):
        y0, gw0 = run()
    assert np.isnan(y0).all() and np.isnan(gw0[0][:, dead]).all()
    torch = pytest.importorskip("torch")
    tw = torch.tensor(w, requires_grad=True)
    ty = torch.nn.functional.conv2d(torch.tensor(x), tw, None, 1, 24, 24)
    ty.backward(torch.tensor(g))
    assert ty.isnan().all() and tw.grad[0][:, dead].isnan().all()
