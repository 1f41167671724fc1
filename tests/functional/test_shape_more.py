"""movedim ... combinations, Tensor.unfold and the in-place index_fill_ / index_copy_ /
masked_scatter_: float64 gradcheck over hypothesis-drawn shapes and options, plain-loop
references for the ops that are more than one NumPy call, PyTorch's values and input gradients
when torch is there, and errors that name the op and the shapes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies_core import SETTINGS, arrays, broadcastable_pairs, check_grad, check_parity
from tests.strategies_core import shapes as _shapes

# Each case draws (fn(lib, *tensors), [arrays]); the same pair feeds gradcheck and torch parity.
# `lib.mt` is minitorch_cv or torch; Tensor methods are shared by both.


def shapes(min_dims=0, max_dims=3, min_side=1, max_side=3):
    return _shapes(min_dims, max_dims, min_side, max_side)


def ints(idx):
    return np.array(idx, dtype=np.int64)


def dim_of(draw, ndim):
    return draw(st.integers(-ndim, ndim - 1))


def masks(shape):
    return hnp.arrays(np.bool_, shape)


def indices(shape, lo, hi):
    """int64 arrays of `shape` with entries in [lo, hi] (repeats allowed)."""
    return hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))


def pieces_joined(L, pieces):
    """Split results as one tensor: piece i flattened and scaled by i + 1, so a boundary in
    the wrong place changes the values."""
    return L.mt.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(pieces)])


@st.composite
def movedim_case(draw):
    shape = draw(shapes(max_dims=4))
    nd = max(len(shape), 1)
    k = draw(st.integers(1, nd))
    src = draw(st.permutations(range(nd)))[:k]
    dst = draw(st.permutations(range(nd)))[:k]
    src = [s - nd * draw(st.booleans()) for s in src]  # some negative
    alias = draw(st.booleans())
    if k == 1 and draw(st.booleans()):
        src, dst = src[0], dst[0]
    else:
        src, dst = tuple(src), tuple(dst)
    if alias:
        return (lambda L, a: a.moveaxis(src, dst)), [draw(arrays(shape))]
    return (lambda L, a: L.mt.movedim(a, src, dst)), [draw(arrays(shape))]


@st.composite
def swapaxes_case(draw):
    shape = draw(shapes(min_dims=1, max_dims=4))
    d0, d1 = dim_of(draw, len(shape)), dim_of(draw, len(shape))
    if draw(st.booleans()):
        return (lambda L, a: a.swapaxes(d0, d1)), [draw(arrays(shape))]
    return (lambda L, a: L.mt.swapdims(a, d0, d1)), [draw(arrays(shape))]


@st.composite
def tile_case(draw):
    shape = draw(shapes())
    reps = tuple(draw(st.lists(st.integers(0, 2), max_size=4)))
    if draw(st.booleans()) and reps:
        return (lambda L, a: a.tile(*reps)), [draw(arrays(shape))]
    return (lambda L, a: L.mt.tile(a, reps)), [draw(arrays(shape))]


@st.composite
def repeat_interleave_case(draw):
    shape = draw(shapes())
    dim = None if not shape or draw(st.booleans()) else dim_of(draw, len(shape))
    n = int(np.prod(shape)) if dim is None else shape[dim]
    kind = draw(st.sampled_from(["int", "counts", "one"]))
    counts = ints(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    k = draw(st.integers(0, 3))
    total = k * n if kind != "counts" else int(counts.sum())
    size = total if draw(st.booleans()) else None

    def fn(L, a):
        reps = {"int": k, "counts": L.mt.tensor(counts), "one": L.mt.tensor(ints([k]))}[kind]
        return a.repeat_interleave(reps, dim, output_size=size)

    return fn, [draw(arrays(shape))]


@st.composite
def rot90_case(draw):
    shape = draw(shapes(min_dims=2, max_dims=4))
    d0 = draw(st.integers(0, len(shape) - 1))
    d1 = draw(st.sampled_from([d for d in range(len(shape)) if d != d0]))
    d1 -= len(shape) * draw(st.booleans())
    k = draw(st.integers(-5, 5))
    return (lambda L, a: L.mt.rot90(a, k, (d0, d1))), [draw(arrays(shape))]


@st.composite
def flip_lr_ud_case(draw):
    shape = draw(shapes(min_dims=1))
    if len(shape) >= 2 and draw(st.booleans()):
        return (lambda L, a: a.fliplr()), [draw(arrays(shape))]
    return (lambda L, a: L.mt.flipud(a)), [draw(arrays(shape))]


@st.composite
def unflatten_case(draw):
    shape = draw(shapes(min_dims=1, max_side=6))
    d = dim_of(draw, len(shape))
    n = shape[d]
    f = draw(st.sampled_from([f for f in range(1, n + 1) if n % f == 0]))
    sizes = draw(st.sampled_from([(f, n // f), (-1, f), (f, 1, -1), (n,), (1, n, 1)]))
    return (lambda L, a: a.unflatten(d, sizes)), [draw(arrays(shape))]


@st.composite
def broadcast_to_case(draw):
    shape = draw(shapes(max_side=2))
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    own = tuple(draw(st.integers(1, 3) if n == 1 else st.sampled_from([n, -1])) for n in shape)
    return (lambda L, a: L.mt.broadcast_to(a, lead + own)), [draw(arrays(shape))]


@st.composite
def atleast_case(draw):
    shape = draw(shapes(max_dims=4))
    name = draw(st.sampled_from(["atleast_1d", "atleast_2d", "atleast_3d"]))
    return (lambda L, a: getattr(L.mt, name)(a)), [draw(arrays(shape))]


@st.composite
def stack_case(draw):
    """2-3 tensors that `name` joins: the same shape but for the sizes along its join axis."""
    name = draw(st.sampled_from(["hstack", "vstack", "row_stack", "dstack", "column_stack"]))
    base = list(draw(shapes(max_dims=3)))
    nd = len(base)
    axis = {"hstack": 0 if nd == 1 else 1, "vstack": 0, "row_stack": 0, "dstack": 2}.get(name, 1)
    vary = axis < nd and (nd >= 2 or name == "hstack")
    count = draw(st.integers(2, 3))
    shapes_ = []
    for _ in range(count):
        s = list(base)
        if vary:
            s[axis] = draw(st.integers(1, 3))
        shapes_.append(tuple(s))
    return (lambda L, *ts: getattr(L.mt, name)(list(ts))), [draw(arrays(s)) for s in shapes_]


@st.composite
def tensor_split_case(draw):
    shape = draw(shapes(min_dims=1, max_side=5))
    d = dim_of(draw, len(shape))
    n = shape[d]
    kind = draw(st.sampled_from(["sections", "indices", "tensor"]))
    sections = draw(st.integers(1, 6))
    idx = draw(st.lists(st.integers(-n - 1, n + 2), max_size=4))

    def fn(L, a):
        ios = {"sections": sections, "indices": idx, "tensor": L.mt.tensor(ints(idx))}[kind]
        return pieces_joined(L, L.mt.tensor_split(a, ios, d))

    return fn, [draw(arrays(shape))]


@st.composite
def hvd_split_case(draw):
    splits = [("hsplit", 1, 1), ("vsplit", 0, 2), ("dsplit", 2, 3)]
    name, dim, min_dims = draw(st.sampled_from(splits))
    shape = draw(shapes(min_dims=min_dims, max_dims=4, max_side=4))
    dim = 0 if name == "hsplit" and len(shape) == 1 else dim
    n = shape[dim]
    ios = draw(
        st.sampled_from([s for s in range(1, n + 1) if n % s == 0])
        | st.lists(st.integers(0, n), max_size=3)
    )
    fn = lambda L, a: pieces_joined(L, getattr(a, name)(ios))  # noqa: E731
    return fn, [draw(arrays(shape))]


@st.composite
def select_case(draw):
    shape = draw(shapes(min_dims=1))
    d = dim_of(draw, len(shape))
    i = draw(st.integers(-shape[d], shape[d] - 1))
    return (lambda L, a: a.select(d, i)), [draw(arrays(shape))]


@st.composite
def unfold_case(draw):
    shape = draw(shapes(max_dims=3, max_side=5))
    d = dim_of(draw, len(shape)) if shape else draw(st.sampled_from([0, -1]))
    n = shape[d] if shape else 1
    size, step = draw(st.integers(0, n)), draw(st.integers(1, 4))
    return (lambda L, a: a.unfold(d, size, step)), [draw(arrays(shape))]


@st.composite
def take_case(draw):
    shape = draw(shapes())
    n = int(np.prod(shape))
    ishape = draw(shapes(max_dims=2))
    idx = draw(indices(ishape, -n, n - 1))
    return (lambda L, a: L.mt.take(a, L.mt.tensor(idx))), [draw(arrays(shape))]


@st.composite
def take_along_dim_shapes(draw):
    """(input shape, indices, dim): off `dim` each side has the common size or 1 (broadcast)."""
    common = draw(shapes(min_dims=1))
    if draw(st.booleans()):  # dim=None: any indices into the flattened input
        n = int(np.prod(common))
        ishape = draw(shapes(max_dims=2))
        return common, draw(indices(ishape, 0, n - 1)), None
    d = draw(st.integers(0, len(common) - 1))
    xs = tuple(draw(st.sampled_from([c, 1])) for c in common)
    ishape = tuple(draw(st.sampled_from([c, 1])) for c in common)
    xs = xs[:d] + (draw(st.integers(1, 3)),) + xs[d + 1 :]
    ishape = ishape[:d] + (draw(st.integers(1, 3)),) + ishape[d + 1 :]
    idx = draw(indices(ishape, 0, xs[d] - 1))
    return xs, idx, d - len(common) * draw(st.booleans())


@st.composite
def take_along_dim_case(draw):
    shape, idx, d = draw(take_along_dim_shapes())
    return (lambda L, a: a.take_along_dim(L.mt.tensor(idx), d)), [draw(arrays(shape))]


@st.composite
def masked_select_case(draw):
    xs, ms = draw(broadcastable_pairs())
    mask = draw(masks(ms))
    return (lambda L, a: L.mt.masked_select(a, L.mt.tensor(mask))), [draw(arrays(xs))]


@st.composite
def index_copy_case(draw):
    shape = draw(shapes(min_dims=1))
    d = dim_of(draw, len(shape))
    n = shape[d]
    idx = ints(draw(st.permutations(range(n)))[: draw(st.integers(0, n))])  # no repeats
    dd = d % len(shape)
    src_shape = shape[:dd] + (len(idx),) + shape[dd + 1 :]
    fn = lambda L, a, s: L.mt.index_copy(a, d, L.mt.tensor(idx), s)  # noqa: E731
    return fn, [draw(arrays(shape)), draw(arrays(src_shape))]


@st.composite
def index_fill_case(draw):
    shape = draw(shapes(min_dims=1))
    d = dim_of(draw, len(shape))
    n = shape[d]
    tensor_value = draw(st.booleans())
    # repeats and negative indices (not with a tensor value: torch's backward then fails)
    idx = ints(draw(st.lists(st.integers(0 if tensor_value else -n, n - 1), max_size=4)))
    if tensor_value:  # a 0-d tensor value: its gradient sums the filled entries
        fn = lambda L, a, v: a.index_fill(d, L.mt.tensor(idx), v)  # noqa: E731
        return fn, [draw(arrays(shape)), draw(arrays(()))]
    value = draw(st.floats(-2, 2))
    return (lambda L, a: L.mt.index_fill(a, d, L.mt.tensor(idx), value)), [draw(arrays(shape))]


@st.composite
def masked_scatter_case(draw):
    xs, ms = draw(broadcastable_pairs())
    mask = draw(masks(ms))
    k = int(np.broadcast_to(mask, np.broadcast_shapes(xs, ms)).sum())
    extra = draw(st.integers(0, 2))
    src_shape = draw(st.sampled_from([(k + extra,), (1, k + extra)]))
    fn = lambda L, a, s: L.mt.masked_scatter(a, L.mt.tensor(mask), s)  # noqa: E731
    return fn, [draw(arrays(xs)), draw(arrays(src_shape))]


@st.composite
def diagonal_case(draw):
    shape = draw(shapes(min_dims=2, max_dims=4))
    d1 = dim_of(draw, len(shape))
    d2 = draw(st.sampled_from([d for d in range(len(shape)) if d != d1 % len(shape)]))
    off = draw(st.integers(-4, 4))
    return (lambda L, a: a.diagonal(off, d1, d2)), [draw(arrays(shape))]


@st.composite
def diag_embed_case(draw):
    shape = draw(shapes(min_dims=1))
    nd = len(shape) + 1
    d1 = dim_of(draw, nd)
    d2 = draw(st.sampled_from([d for d in range(nd) if d != d1 % nd])) - nd * draw(st.booleans())
    off = draw(st.integers(-3, 3))
    return (lambda L, a: L.mt.diag_embed(a, off, d1, d2)), [draw(arrays(shape))]


@st.composite
def diagflat_case(draw):
    off = draw(st.integers(-3, 3))
    return (lambda L, a: a.diagflat(off)), [draw(arrays(draw(shapes(max_dims=2))))]


@st.composite
def block_diag_case(draw):
    # empty blocks only 2-D: torch's backward misplaces the gradient after an empty 1-D block
    # (its rows are not counted); the loop test below covers those
    blocks = draw(st.lists(shapes(max_dims=2, min_side=0), min_size=1, max_size=4))
    blocks = [s if len(s) != 1 else (max(s[0], 1),) for s in blocks]
    return (lambda L, *ts: L.mt.block_diag(*ts)), [draw(arrays(s)) for s in blocks]


@st.composite
def cartesian_prod_case(draw):
    sides = draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    return (lambda L, *ts: L.mt.cartesian_prod(*ts)), [draw(arrays((n,))) for n in sides]


@st.composite
def combinations_case(draw):
    # n, r >= 1: torch's empty results have no grad_fn (those values: the itertools test)
    n, r, rep = draw(st.integers(1, 5)), draw(st.integers(1, 4)), draw(st.booleans())
    return (lambda L, a: L.mt.combinations(a, r, rep)), [draw(arrays((n,)))]


CASES = {
    "movedim": movedim_case,
    "swapaxes": swapaxes_case,
    "tile": tile_case,
    "repeat_interleave": repeat_interleave_case,
    "rot90": rot90_case,
    "fliplr_flipud": flip_lr_ud_case,
    "unflatten": unflatten_case,
    "broadcast_to": broadcast_to_case,
    "atleast_nd": atleast_case,
    "hvd_column_stack": stack_case,
    "tensor_split": tensor_split_case,
    "hvd_split": hvd_split_case,
    "select": select_case,
    "Tensor.unfold": unfold_case,
    "take": take_case,
    "take_along_dim": take_along_dim_case,
    "masked_select": masked_select_case,
    "index_copy": index_copy_case,
    "index_fill": index_fill_case,
    "masked_scatter": masked_scatter_case,
    "diagonal": diagonal_case,
    "diag_embed": diag_embed_case,
    "diagflat": diagflat_case,
    "block_diag": block_diag_case,
    "cartesian_prod": cartesian_prod_case,
    "combinations": combinations_case,
}


@pytest.mark.parametrize("name", list(CASES))
@SETTINGS
@given(data=st.data())
def test_gradcheck_float64(name, data):
    fn, inputs = data.draw(CASES[name]())
    check_grad(fn, inputs)


@pytest.mark.parity
@pytest.mark.parametrize("name", list(CASES))
@SETTINGS
@given(data=st.data())
def test_values_and_gradients_match_torch(name, data):
    torch = pytest.importorskip("torch")
    fn, inputs = data.draw(CASES[name]())
    check_parity(torch, fn, inputs)


# --------------------------------------------------------------------------- loop references


def loop_repeat_interleave(x, counts, d):
    parts = []
    for i in range(x.shape[d]):
        parts += [np.take(x, [i], axis=d)] * int(counts[i])
    shape = list(x.shape)
    shape[d] = 0
    return np.concatenate(parts, axis=d) if parts else np.zeros(shape)


@SETTINGS
@given(data=st.data())
def test_repeat_interleave_matches_loop(data):
    shape = data.draw(shapes(min_dims=1))
    d = data.draw(st.integers(0, len(shape) - 1))
    x = data.draw(arrays(shape))
    counts = ints(data.draw(st.lists(st.integers(0, 3), min_size=shape[d], max_size=shape[d])))
    got = F.repeat_interleave(mt.tensor(x), mt.tensor(counts), d).numpy()
    np.testing.assert_array_equal(got, loop_repeat_interleave(x, counts, d))
    k = int(counts[0])
    got = mt.tensor(x).repeat_interleave(k, d).numpy()
    np.testing.assert_array_equal(got, loop_repeat_interleave(x, [k] * shape[d], d))
    flat = mt.tensor(x).repeat_interleave(k).numpy()
    np.testing.assert_array_equal(flat, loop_repeat_interleave(x.reshape(-1), [k] * x.size, 0))
    assert mt.repeat_interleave(mt.tensor(counts)).tolist() == [
        i for i, c in enumerate(counts) for _ in range(c)
    ]


@SETTINGS
@given(data=st.data())
def test_tensor_unfold_matches_loop_and_overlaps_accumulate(data):
    shape = data.draw(shapes(min_dims=1, max_side=5))
    d = data.draw(st.integers(0, len(shape) - 1))
    n = shape[d]
    size, step = data.draw(st.integers(0, n)), data.draw(st.integers(1, 3))
    x = data.draw(arrays(shape))
    w = (n - size) // step + 1
    want = np.zeros(shape[:d] + (w,) + shape[d + 1 :] + (size,))
    g = np.random.default_rng(0).standard_normal(want.shape)
    want_grad = np.zeros(shape)
    for pos in np.ndindex(want.shape):  # y[..., w, ..., k] = x[..., w * step + k, ...]
        src = list(pos[:-1])
        src[d] = pos[d] * step + pos[-1]
        want[pos] = x[tuple(src)]
        want_grad[tuple(src)] += g[pos]
    t = mt.tensor(x, requires_grad=True)
    y = t.unfold(d, size, step)
    np.testing.assert_array_equal(y.numpy(), want)
    y.backward(mt.tensor(g))
    np.testing.assert_allclose(t.grad.numpy(), want_grad, rtol=1e-12, atol=1e-12)


def test_tensor_unfold_windows_overlap_and_skip():
    x = mt.tensor(np.arange(6.0), requires_grad=True)
    y = x.unfold(0, 3, 1)  # overlapping: entry i sits in min(i + 1, 3, 6 - i) windows
    assert y.tolist() == [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]]
    y.sum().backward()
    assert x.grad.tolist() == [1, 2, 3, 3, 2, 1]
    x.grad = None
    y = x.unfold(0, 2, 3)  # gaps: entries 2 and 5 are in no window
    assert y.tolist() == [[0, 1], [3, 4]]
    y.sum().backward()
    assert x.grad.tolist() == [1, 1, 0, 1, 1, 0]


def test_tensor_unfold_is_not_im2col():
    x = mt.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    assert x.unfold(3, 2, 1).shape == (1, 1, 3, 2, 2)  # windows along the last dim
    assert F.unfold(x, 2).shape == (1, 4, 4)  # F.unfold stays im2col
    assert x.unfold(3, 2, 1)[0, 0, 1].tolist() == [[3.0, 4.0], [4.0, 5.0]]


def test_tensor_unfold_is_a_view_sharing_the_input_version_counter():
    """As torch: the windows see an in-place change of the input, and a backward that saved
    them fails after one instead of returning a silently wrong gradient."""
    x = mt.tensor(np.arange(6.0), requires_grad=True)
    y = x * 1
    w = y.unfold(0, 3, 1)
    loss = (w * w).sum()  # Mul saved the windows
    with mt.no_grad():
        y.add_(100.0)
    assert w[0].tolist() == [100.0, 101.0, 102.0]
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()
    # non-overlapping windows write through into the input, as torch's; overlapping ones
    # refuse the write (each entry would be changed once per window that holds it)
    t = mt.tensor(np.arange(6.0))
    t.unfold(0, 2, 2).mul_(10.0)
    assert t.tolist() == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0] and t._version == 1
    with pytest.raises(ValueError, match="read-only"):
        mt.tensor(np.arange(6.0)).unfold(0, 3, 1).add_(1.0)


def test_flips_and_rot90_are_copies_as_in_torch():
    """torch.flip (fliplr, flipud, rot90) copies: changing the result in place, as a transform
    would (`img.flip(-1).sub_(mean)`), leaves the input alone."""
    torch = pytest.importorskip("torch")
    for L in (mt, torch):
        x = L.tensor(np.arange(6.0).reshape(2, 3))
        for y in (L.flip(x, (1,)), L.fliplr(x), L.flipud(x), L.rot90(x, 1, (0, 1)), x.flip(0)):
            y.add_(100.0)
        assert x.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], L.__name__
    x = mt.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mt.rot90(x, 1, (0, 1)).backward(mt.tensor(np.arange(6.0).reshape(3, 2)))
    assert x.grad.tolist() == [[4.0, 2.0, 0.0], [5.0, 3.0, 1.0]]  # g rotated back


def test_diagonal_is_a_writable_view_as_in_torch():
    torch = pytest.importorskip("torch")
    for L in (mt, torch):
        x = L.tensor(np.zeros((2, 3)))
        with L.no_grad():
            x.diagonal().add_(1.0)  # (a covariance's `cov.diagonal().add_(eps)`)
            x.diagonal(1).fill_(2.0)
        assert x.tolist() == [[1.0, 2.0, 0.0], [0.0, 1.0, 2.0]], L.__name__
    a = mt.tensor(np.ones((3, 3)), requires_grad=True)
    b = a * 1
    d = b.diagonal()
    loss = (d * d).sum()
    with mt.no_grad():
        b.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize(
    "shape, counts",
    [((2, 5, 4, 4), [2, 0, 3, 1, 1]), ((2, 3, 4, 5), [0, 20, 1]), ((3, 5), [1, 0, 2, 4, 1])],
    ids=["short-runs-wide-slices", "long-run", "narrow-slices"],
)
def test_repeat_interleave_tensor_counts_gradient_sums_each_run(shape, counts):
    """Each branch of RepeatInterleave's backward (a pass per position in short runs over wide
    slices, add.at otherwise) gives slice j the sum of the gradient over its counts[j] copies;
    changing the counts tensor after the forward changes nothing."""
    d = 1
    x = mt.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    reps = mt.tensor(ints(counts))
    y = x.repeat_interleave(reps, d)
    g = np.random.default_rng(1).standard_normal(y.shape)
    reps._data[...] = 7
    y.backward(mt.tensor(g))
    want, pos = np.zeros(shape), 0
    for j, c in enumerate(counts):
        want[:, j] = g[:, pos : pos + c].sum(axis=1)
        pos += c
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(y.numpy(), loop_repeat_interleave(x.numpy(), counts, d))


@SETTINGS
@given(data=st.data())
def test_diagonal_and_diag_embed_match_loops(data):
    shape = data.draw(shapes(min_dims=2, max_dims=4))
    d1, d2 = data.draw(st.permutations(range(len(shape))))[:2]
    off = data.draw(st.integers(-3, 3))
    x = data.draw(arrays(shape))
    rest = [i for i in range(len(shape)) if i not in (d1, d2)]
    length = max(0, min(shape[d1] - max(-off, 0), shape[d2] - max(off, 0)))
    want = np.zeros([shape[i] for i in rest] + [length])
    for pos in np.ndindex(want.shape):
        src = [0] * len(shape)
        for i, p in zip(rest, pos[:-1]):
            src[i] = p
        src[d1], src[d2] = pos[-1] + max(-off, 0), pos[-1] + max(off, 0)
        want[pos] = x[tuple(src)]
    np.testing.assert_array_equal(F.diagonal(mt.tensor(x), off, d1, d2).numpy(), want)
    # diag_embed puts a diagonal back: embedding then reading it gives the vectors again, and
    # everything off the diagonal is zero
    v = data.draw(arrays(shape[:-1]))
    e = F.diag_embed(mt.tensor(v), off, d1 % len(shape), d2 % len(shape)).numpy()
    np.testing.assert_array_equal(np.diagonal(e, off, d1 % len(shape), d2 % len(shape)), v)
    assert np.count_nonzero(e) == np.count_nonzero(v)


@SETTINGS
@given(blocks=st.lists(shapes(max_dims=2, min_side=0), min_size=1, max_size=4), data=st.data())
def test_block_diag_matches_loop(blocks, data):
    xs = [data.draw(arrays(s)) for s in blocks]
    mats = [np.reshape(a, (1,) * (2 - a.ndim) + a.shape) for a in xs]
    want = np.zeros((sum(m.shape[0] for m in mats), sum(m.shape[1] for m in mats)))
    r0 = c0 = 0
    for m in mats:
        for i, j in np.ndindex(m.shape):
            want[r0 + i, c0 + j] = m[i, j]
        r0, c0 = r0 + m.shape[0], c0 + m.shape[1]
    np.testing.assert_array_equal(F.block_diag(*[mt.tensor(a) for a in xs]).numpy(), want)


@SETTINGS
@given(data=st.data())
def test_index_copy_and_index_fill_match_loops(data):
    shape = data.draw(shapes(min_dims=1))
    d = data.draw(st.integers(0, len(shape) - 1))
    n = shape[d]
    idx = ints(data.draw(st.permutations(range(n)))[: data.draw(st.integers(0, n))])
    x = data.draw(arrays(shape))
    src = data.draw(arrays(shape[:d] + (len(idx),) + shape[d + 1 :]))
    want = x.copy()
    for k, i in enumerate(idx):  # out[..., idx[k], ...] = src[..., k, ...]
        for pos in np.ndindex(src.shape):
            dst = list(pos)
            dst[d] = i
            if pos[d] == k:
                want[tuple(dst)] = src[pos]
    got = F.index_copy(mt.tensor(x), d, mt.tensor(idx), mt.tensor(src)).numpy()
    np.testing.assert_array_equal(got, want)
    fill = ints(data.draw(st.lists(st.integers(-n, n - 1), max_size=3)))
    want = x.copy()
    for pos in np.ndindex(shape):
        if pos[d] in {i % n for i in fill}:
            want[pos] = -7.0
    np.testing.assert_array_equal(
        F.index_fill(mt.tensor(x), d, mt.tensor(fill), -7.0).numpy(), want
    )


@SETTINGS
@given(data=st.data())
def test_masked_scatter_and_masked_select_match_loops(data):
    xs, ms = data.draw(broadcastable_pairs())
    mask = data.draw(masks(ms))
    x = data.draw(arrays(xs))
    full = np.broadcast_shapes(xs, ms)
    src = data.draw(arrays((int(np.broadcast_to(mask, full).sum()) + 1,)))
    want, picked, used = np.broadcast_to(x, full).copy(), [], 0
    bx, bm = np.broadcast_to(x, full), np.broadcast_to(mask, full)
    for pos in np.ndindex(full):  # row-major: the next source entry at each True
        if bm[pos]:
            want[pos] = src[used]
            picked.append(bx[pos])
            used += 1
    got = F.masked_scatter(mt.tensor(x), mt.tensor(mask), mt.tensor(src)).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(F.masked_select(mt.tensor(x), mt.tensor(mask)).numpy(), picked)


@SETTINGS
@given(case=take_along_dim_shapes(), data=st.data())
def test_take_along_dim_and_take_match_loops(case, data):
    shape, idx, d = case
    x = data.draw(arrays(shape))
    got = F.take_along_dim(mt.tensor(x), mt.tensor(idx), d).numpy()
    if d is None:
        np.testing.assert_array_equal(got, [x.reshape(-1)[i] for i in idx.reshape(-1)])
        np.testing.assert_array_equal(
            F.take(mt.tensor(x), mt.tensor(idx)).numpy(), x.reshape(-1)[idx]
        )
        return
    d %= len(shape)
    full = [max(a, b) if i != d else b for i, (a, b) in enumerate(zip(shape, idx.shape))]
    want = np.zeros(full)
    for pos in np.ndindex(*full):  # broadcast both off d, then out[pos] = x[pos with idx]
        ip = tuple(p if idx.shape[i] > 1 else 0 for i, p in enumerate(pos))
        src = [p if shape[i] > 1 else 0 for i, p in enumerate(pos)]
        src[d] = idx[ip]
        want[pos] = x[tuple(src)]
    np.testing.assert_array_equal(got, want)


@SETTINGS
@given(n=st.integers(0, 6), r=st.integers(0, 4), rep=st.booleans())
def test_combinations_and_cartesian_prod_match_itertools(n, r, rep):
    x = np.arange(n) * 1.5
    pick = itertools.combinations_with_replacement if rep else itertools.combinations
    got = F.combinations(mt.tensor(x), r, rep)
    want = [list(c) for c in pick(x.tolist(), r)] if r else []
    assert got.tolist() == want and got.shape == ((len(want), r) if r else (0,))
    y = np.arange(r + 1) * 2.0
    got = F.cartesian_prod(mt.tensor(x), mt.tensor(y)).tolist()
    assert got == [list(p) for p in itertools.product(x.tolist(), y.tolist())]


@SETTINGS
@given(n=st.integers(1, 8), ios=st.integers(1, 9) | st.lists(st.integers(-10, 10), max_size=4))
def test_tensor_split_matches_python_slicing(n, ios):
    x = np.arange(float(n))
    got = [p.tolist() for p in F.tensor_split(mt.tensor(x), ios)]
    if isinstance(ios, int):  # the first n % ios pieces one longer
        q, r = divmod(n, ios)
        sizes = [q + 1] * r + [q] * (ios - r)
        bounds = np.cumsum([0] + sizes)
        want = [x[a:b].tolist() for a, b in zip(bounds, bounds[1:])]
    else:
        want = [x[a:b].tolist() for a, b in zip([None, *ios], [*ios, None])]
    assert got == want


# --------------------------------------------------------------------------- edges and dtypes


def test_results_keep_torch_shapes_types_and_dtypes():
    a, b = mt.ones(()), mt.ones(2)
    assert [t.shape for t in mt.atleast_3d(a, b)] == [(1, 1, 1), (1, 2, 1)]
    assert isinstance(mt.atleast_1d([a]), tuple) and mt.atleast_2d(a).shape == (1, 1)
    assert mt.atleast_3d(mt.ones(2, 3)).shape == (2, 3, 1)
    assert mt.column_stack([b, mt.ones(2, 3), b]).shape == (2, 5)
    assert mt.hstack([a, b]).shape == (3,) and mt.vstack([b, b]).shape == (2, 2)
    assert mt.argwhere(mt.tensor([[0.0, 1.0], [2.0, 0.0]])).tolist() == [[0, 1], [1, 0]]
    assert mt.argwhere(mt.tensor(5.0)).shape == (1, 0)
    assert mt.argwhere(mt.ones(2)).dtype == mt.int64
    assert mt.repeat_interleave(mt.tensor([1, 2, 0])).dtype == mt.int64
    assert mt.block_diag().shape == (1, 0)
    assert mt.block_diag(mt.tensor([1, 2]), mt.tensor([1.5])).dtype == mt.float32
    assert mt.block_diag(mt.tensor([1, 2]), mt.tensor([3])).dtype == mt.int64
    assert mt.combinations(mt.tensor([1.0, 2.0]), 3).shape == (0, 3)
    assert mt.index_fill(mt.arange(3), 0, mt.tensor([1]), 2.7).tolist() == [0, 2, 2]
    assert mt.tile(mt.tensor(1.0), (2,)).shape == (2,)
    assert mt.tile(mt.ones(2, 3), ()).shape == (2, 3)
    assert mt.movedim(mt.tensor(1.0), 0, -1).shape == ()
    assert mt.swapaxes(mt.tensor(1.0), 0, -1).shape == ()
    assert mt.tensor(5.0).unfold(0, 1, 1).tolist() == [5.0]
    assert mt.tensor(5.0).unfold(0, 0, 1).shape == (0,)
    assert mt.ones(2, 3).unfold(1, 0, 1).shape == (2, 4, 0)
    assert mt.take(mt.tensor(3.0), mt.tensor(0)).shape == ()
    assert mt.take_along_dim(mt.tensor(2.0), mt.tensor(0)).shape == (1,)
    assert mt.index_copy(mt.tensor(1.0), 0, mt.tensor([0]), mt.tensor(5.0)).item() == 5.0
    assert mt.index_copy(mt.ones(3), 0, mt.tensor(1), mt.tensor(5.0)).tolist() == [1.0, 5.0, 1.0]
    wide = mt.tensor([[True, False, True], [False, False, True]])  # broadcasts the input
    assert mt.masked_scatter(mt.ones(3), wide, mt.arange(10.0, 20.0)).shape == (2, 3)
    assert mt.diagonal(mt.ones(2, 3), 5).shape == (0,)
    assert mt.diagflat(mt.tensor(3.0), -1).tolist() == [[0.0, 0.0], [3.0, 0.0]]
    x = mt.ones(2, 3)
    assert all(isinstance(r, tuple) for r in (x.tensor_split(3), x.hsplit(1), x.vsplit(1)))
    t = mt.tensor([1.0, 2.0])
    assert mt.cartesian_prod(t) is t


ZERO_D = {  # a 0-d input reads as one entry along dim 0 / -1, as in torch
    "index_copy": lambda L, a, s: L.mt.index_copy(a, 0, L.mt.tensor(ints([0])), s),
    "index_fill": lambda L, a, s: L.mt.index_fill(a, -1, L.mt.tensor(ints([0])), s),
    "unfold": lambda L, a, s: a.unfold(0, 1, 1) * s,
    "take": lambda L, a, s: L.mt.take(a, L.mt.tensor(ints(0))) * s,
    "take_along_dim": lambda L, a, s: L.mt.take_along_dim(a, L.mt.tensor(ints(0))) * s,
    "masked_scatter": lambda L, a, s: L.mt.masked_scatter(a, L.mt.tensor(True), s.reshape(1)),
    "masked_select": lambda L, a, s: L.mt.masked_select(a * s, L.mt.tensor(True)),
    "movedim": lambda L, a, s: L.mt.movedim(a, 0, -1) * s,
    "repeat_interleave": lambda L, a, s: L.mt.repeat_interleave(a, 2) * s,
    "diagflat": lambda L, a, s: L.mt.diagflat(a, -1) * s,
    "block_diag": lambda L, a, s: L.mt.block_diag(a, s),
    "atleast_3d": lambda L, a, s: L.mt.atleast_3d(a) * s,
    "hstack": lambda L, a, s: L.mt.hstack([a, s]),
    "column_stack": lambda L, a, s: L.mt.column_stack([a, s]),
}


@pytest.mark.parametrize("name", list(ZERO_D))
def test_zero_dim_inputs_gradcheck_and_match_torch(name):
    inputs = [np.array(0.75), np.array(-1.25)]
    check_grad(ZERO_D[name], inputs)
    torch = pytest.importorskip("torch")
    check_parity(torch, ZERO_D[name], inputs)


def test_repeated_index_copy_sends_every_copy_its_gradient():
    """As torch: with a repeated index one write lands, but each source slice's gradient is
    g at its target (torch's index_select of the gradient), and the input gets none there."""
    x = mt.tensor(np.zeros((2, 3)), requires_grad=True)
    s = mt.tensor(np.ones((2, 2)), requires_grad=True)
    g = np.arange(6.0).reshape(2, 3)
    F.index_copy(x, 1, mt.tensor([1, 1]), s).backward(mt.tensor(g))
    np.testing.assert_array_equal(s.grad.numpy(), g[:, [1, 1]])
    np.testing.assert_array_equal(x.grad.numpy(), g * [1, 0, 1])


def test_index_fill_value_gradient_counts_each_filled_entry_once():
    x = mt.tensor(np.ones((2, 3)), requires_grad=True)
    v = mt.tensor(7.0, dtype=mt.float64, requires_grad=True)
    F.index_fill(x, 1, mt.tensor([1, 1, -1]), v).sum().backward()
    assert v.grad.item() == 4.0  # columns 1 and 2 of both rows
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 0], [1, 0, 0]])


# --------------------------------------------------------------------------- in place


def _inplace_pairs():
    m = np.array([[True, False, True], [False, False, True]])
    return [
        (lambda L, t: t.index_fill_(1, L.tensor(ints([0, -1])), -2.0),
         lambda L, t: L.index_fill(t, 1, L.tensor(ints([0, -1])), -2.0)),
        (lambda L, t: t.index_copy_(0, L.tensor(ints([1])), L.tensor(np.full((1, 3), 9.0))),
         lambda L, t: L.index_copy(t, 0, L.tensor(ints([1])), L.tensor(np.full((1, 3), 9.0)))),
        (lambda L, t: t.masked_scatter_(L.tensor(m), L.tensor(np.arange(5.0))),
         lambda L, t: L.masked_scatter(t, L.tensor(m), L.tensor(np.arange(5.0)))),
    ]  # fmt: skip


@pytest.mark.parametrize("pair", range(3), ids=["index_fill_", "index_copy_", "masked_scatter_"])
def test_inplace_forms_write_in_place_like_the_functional_ops(pair):
    inplace, outplace = _inplace_pairs()[pair]
    x = np.arange(6.0).reshape(2, 3)
    t = mt.tensor(x)
    version = t._version
    assert inplace(mt, t) is t and t._version == version + 1
    np.testing.assert_array_equal(t.numpy(), outplace(mt, mt.tensor(x)).numpy())
    torch = pytest.importorskip("torch")
    tt = torch.tensor(x)
    inplace(torch, tt)
    np.testing.assert_array_equal(t.numpy(), tt.numpy())


@pytest.mark.parametrize("pair", range(3), ids=["index_fill_", "index_copy_", "masked_scatter_"])
def test_inplace_forms_refuse_graph_tensors_and_trip_the_version_check(pair):
    inplace, _ = _inplace_pairs()[pair]
    a = mt.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        inplace(mt, a)
    with pytest.raises(RuntimeError, match="part of a graph"):
        inplace(mt, a * 2)
    w = mt.tensor(np.arange(6.0).reshape(2, 3))
    y = (a * w).sum()  # Mul saved w for a's gradient
    inplace(mt, w)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()


def test_inplace_masked_scatter_mask_must_fit_the_tensor():
    with pytest.raises(ValueError, match=r"masked_scatter_: mask of shape \(2, 3\).*\(3,\)"):
        mt.ones(3).masked_scatter_(mt.tensor(np.ones((2, 3), bool)), mt.ones(6))


# --------------------------------------------------------------------------- errors


X = mt.zeros(2, 3)

ERRORS = [
    (lambda: mt.movedim(X, (0, 1), 1), ValueError, r"movedim: source \(0, 1\) and destination"),
    (lambda: mt.movedim(X, (0, 0), (1, 0)), ValueError, r"movedim: repeated dim in source"),
    (lambda: mt.movedim(X, 2, 0), IndexError, r"movedim: dim 2 out of range"),
    (lambda: mt.swapaxes(X, 0, 2), IndexError, r"swapaxes: dim 2 out of range"),
    (lambda: mt.tile(X, (-1,)), ValueError, r"tile: .*>= 0.*\(2, 3\)"),
    (lambda: mt.repeat_interleave(X, mt.tensor([1, 2]), 1), ValueError,
     r"repeat_interleave: repeats has 2 counts, but dim 1 of \(2, 3\) has size 3"),
    (lambda: mt.repeat_interleave(X, mt.tensor([1, -2]), 0), ValueError,
     r"repeat_interleave: repeats must be >= 0"),
    (lambda: mt.repeat_interleave(X, -1), ValueError, r"repeat_interleave: repeats must be >= 0"),
    (lambda: mt.repeat_interleave(X, mt.tensor([1.0, 2.0]), 0), TypeError,
     r"repeat_interleave: repeats must be integers"),
    (lambda: mt.repeat_interleave(X, mt.tensor([[1, 2]]), 0), ValueError,
     r"repeat_interleave: .*shape \(1, 2\)"),
    (lambda: mt.repeat_interleave(X, 2, 0, output_size=3), ValueError,
     r"repeat_interleave: output_size=3, but the repeats add up to 4"),
    (lambda: mt.rot90(X, 1, (0, 0)), ValueError, r"rot90: rotation dims must differ.*\(2, 3\)"),
    (lambda: mt.rot90(X, 1, (0,)), ValueError, r"rot90: expected 2 rotation dims"),
    (lambda: mt.rot90(mt.ones(3), 1), ValueError, r"rot90: .*at least 2 dims, got \(3,\)"),
    (lambda: mt.fliplr(mt.ones(3)), ValueError, r"fliplr: .*at least 2 dims, got \(3,\)"),
    (lambda: mt.flipud(mt.ones(())), ValueError, r"flipud: .*at least 1 dim, got a 0-d"),
    (lambda: mt.unflatten(X, 1, (2, 2)), ValueError,
     r"unflatten: sizes \(2, 2\) do not split dim 1 of size 3 of \(2, 3\)"),
    (lambda: mt.unflatten(X, 1, (-1, -1)), ValueError, r"unflatten: sizes \(-1, -1\)"),
    (lambda: mt.unflatten(X, 1, ()), ValueError, r"unflatten: sizes \(\)"),
    (lambda: mt.broadcast_to(X, (3,)), ValueError, r"broadcast_to: .*\(2, 3\) to \(3,\)"),
    (lambda: mt.broadcast_to(X, (2, 4)), ValueError, r"broadcast_to: .*\(2, 3\) to \(2, 4\)"),
    (lambda: mt.hstack([]), ValueError, r"hstack: expected a non-empty list"),
    (lambda: mt.vstack([X, mt.ones(4)]), ValueError, r"vstack: cat: shapes"),
    (lambda: mt.tensor_split(X, 0), ValueError, r"tensor_split: number of sections must be > 0"),
    (lambda: mt.tensor_split(mt.ones(()), 2), ValueError, r"tensor_split: .*0-d"),
    (lambda: mt.tensor_split(X, mt.tensor([[1]])), TypeError, r"tensor_split: .*shape \(1, 1\)"),
    (lambda: mt.tensor_split(X, mt.tensor([1.0])), TypeError, r"tensor_split: .*float"),
    (lambda: mt.hsplit(X, 2), ValueError, r"hsplit: cannot split dim 1 of size 3 of \(2, 3\)"),
    (lambda: mt.vsplit(mt.ones(4), 2), ValueError, r"vsplit: .*at least 2 dims, got shape \(4,\)"),
    (lambda: mt.dsplit(X, 2), ValueError, r"dsplit: .*at least 3 dims, got shape \(2, 3\)"),
    (lambda: X.unfold(1, 4, 1), ValueError, r"unfold: size 4 must be in \[0, 3\].*\(2, 3\)"),
    (lambda: X.unfold(1, 2, 0), ValueError, r"unfold: .*step 0 > 0"),
    (lambda: X.unfold(2, 1, 1), IndexError, r"unfold: dim 2 out of range"),
    (lambda: mt.tensor(1.0).unfold(1, 1, 1), IndexError, r"unfold: dim 1 out of range"),
    (lambda: mt.select(X, 1, 3), IndexError, r"select: index 3 out of range for dim 1 of \(2, 3\)"),
    (lambda: mt.select(mt.tensor(1.0), 0, 0), IndexError, r"select: cannot be applied to a 0-d"),
    (lambda: mt.take(X, mt.tensor([6])), IndexError, r"take: index out of range .* 6 .*\(2, 3\)"),
    (lambda: mt.take(X, mt.tensor([1.0])), TypeError, r"take: index must be an integer tensor"),
    (lambda: mt.take_along_dim(X, mt.tensor([0, 1]), 1), ValueError,
     r"take_along_dim: input \(2, 3\) and indices \(2,\) must have the same number of dims"),
    (lambda: mt.take_along_dim(X, mt.tensor([[0, 1, 2]] * 3), 1), ValueError,
     r"take_along_dim: shapes \(2,\) and \(3,\) do not broadcast"),
    (lambda: mt.take_along_dim(X, mt.tensor([[3]]), 1), IndexError,
     r"take_along_dim: indices out of range \[0, 3\) for dim 1 of \(2, 3\)"),
    (lambda: mt.take_along_dim(X, mt.tensor([[-1]]), 1), IndexError, r"take_along_dim: indices"),
    (lambda: mt.masked_select(X, mt.tensor([1, 0, 1])), TypeError,
     r"masked_select: mask must be a bool tensor"),
    (lambda: mt.masked_select(X, mt.tensor([True, False])), ValueError,
     r"masked_select: shapes \(2, 3\) and \(2,\) do not broadcast"),
    (lambda: mt.index_copy(X, 1, mt.tensor([3]), mt.ones(2, 1)), IndexError,
     r"index_copy: index \[3\] out of range \[0, 3\) for dim 1 of \(2, 3\)"),
    (lambda: mt.index_copy(X, 1, mt.tensor([-1]), mt.ones(2, 1)), IndexError,
     r"index_copy: index \[-1\] out of range"),
    (lambda: mt.index_copy(X, 1, mt.tensor([2]), mt.ones(2, 2)), ValueError,
     r"index_copy: source of shape \(2, 2\) does not fit 1 indices along dim 1 of \(2, 3\)"),
    (lambda: mt.index_copy(X, 1, mt.tensor([[2]]), mt.ones(2, 1)), ValueError,
     r"index_copy: index must be 0-d or 1-d, got shape \(1, 1\)"),
    (lambda: mt.index_copy(X, 1, mt.tensor([2]), mt.ones(2, 1, dtype=mt.float64)), TypeError,
     r"index_copy: source has dtype float64, the input float32"),
    (lambda: mt.index_fill(X, 1, mt.tensor([3]), 1.0), IndexError,
     r"index_fill: index \[3\] out of range \[-3, 3\) for dim 1 of \(2, 3\)"),
    (lambda: mt.index_fill(X, 1, mt.tensor([1.0]), 1.0), TypeError, r"index_fill: index must be"),
    (lambda: mt.index_fill(X, 1, mt.tensor([1]), mt.ones(1)), ValueError,
     r"index_fill: value must be a number or a 0-d tensor, got \(1,\)"),
    (lambda: mt.masked_scatter(X, mt.tensor([True] * 3), mt.ones(5)), ValueError,
     r"masked_scatter: source has 5 entries \(5,\), fewer than the 6 True entries"),
    (lambda: mt.masked_scatter(X, mt.tensor([1, 0, 1]), mt.ones(6)), TypeError,
     r"masked_scatter: mask must be a bool tensor"),
    (lambda: mt.masked_scatter(X, mt.tensor([True] * 3), mt.arange(6)), TypeError,
     r"masked_scatter: source must be a tensor of the input's dtype float32, got int64"),
    (lambda: mt.diagonal(mt.ones(3)), ValueError, r"diagonal: .*at least 2 dims, got \(3,\)"),
    (lambda: mt.diagonal(X, 0, 1, -1), ValueError, r"diagonal: dim1 and dim2 must.*\(2, 3\)"),
    (lambda: mt.diagonal(X, 0, 0, 2), IndexError, r"diagonal: dim 2 out of range"),
    (lambda: mt.diag_embed(mt.ones(2), 0, 0, 2), IndexError, r"diag_embed: dim 2 out of range"),
    (lambda: mt.diag_embed(mt.ones(2), 0, 0, -2), ValueError, r"diag_embed: dim1 and dim2 must"),
    (lambda: mt.diag_embed(mt.tensor(1.0)), ValueError, r"diag_embed: .*at least 1 dim.*0-d"),
    (lambda: mt.block_diag(mt.ones(1, 1, 1)), ValueError,
     r"block_diag: .*at most 2 dims, input 0 has shape \(1, 1, 1\)"),
    (lambda: mt.cartesian_prod(), ValueError, r"cartesian_prod: expected at least one tensor"),
    (lambda: mt.cartesian_prod(X), ValueError, r"cartesian_prod: expected 1-D tensors.*\(2, 3\)"),
    (lambda: mt.cartesian_prod(mt.ones(2), mt.arange(2)), TypeError, r"cartesian_prod: .*dtype"),
    (lambda: mt.combinations(X), ValueError, r"combinations: expected a 1-D tensor.*\(2, 3\)"),
    (lambda: mt.combinations(mt.ones(3), -1), ValueError, r"combinations: r must be >= 0"),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_bad_input_fails_naming_the_op_and_shapes(case):
    fn, exc, pattern = ERRORS[case]
    with pytest.raises(exc, match=pattern):
        fn()
