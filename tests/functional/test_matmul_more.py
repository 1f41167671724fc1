"""torch's other products and distances: mv, dot, vdot, inner, tensordot, kron, cross, the
beta/alpha family (addmm, addmv, addr, baddbmm, addbmm), cdist, pdist and
triplet_margin_with_distance_loss (+ nn.TripletMarginWithDistanceLoss).

Each passes gradcheck in float64 over hypothesis-drawn shapes and options (input broadcasting for
the beta/alpha family, every p of cdist and pdist with coincident points and p = inf ties kept
out only where central differences cannot see torch's subgradient); tensordot, kron, cross,
cdist and pdist equal plain loops written from their definitions; every op equals PyTorch's
forward and backward (skipped without torch); bad input fails with a message naming the op and
the shapes.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc
import warnings
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv.functional import distance
from tests.strategies_core import (
    SETTINGS,
    arrays,
    broadcastable_pairs,
    check_grad,
    check_parity,
    leaf,
)

SIDE = st.integers(1, 4)
SCALES = st.sampled_from([1, 0, 0.5, -2.0])  # beta / alpha: 1 and 0 take their own paths
P_VALUES = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, math.inf]


@st.composite
def expandable(draw, shape):
    """A shape that torch's `expand` stretches to `shape`: a suffix of it with some dims 1."""
    keep = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - keep :]
    return tuple(1 if draw(st.booleans()) else n for n in tail)


# --------------------------------------------------------------------------- strategies


@st.composite
def addmm_case(draw):
    n, m, p = draw(SIDE), draw(SIDE), draw(SIDE)
    xs = [draw(arrays(draw(expandable((n, p))))), draw(arrays((n, m))), draw(arrays((m, p)))]
    return xs, draw(SCALES), draw(SCALES)


@st.composite
def addmv_case(draw):
    n, m = draw(SIDE), draw(SIDE)
    xs = [draw(arrays(draw(expandable((n,))))), draw(arrays((n, m))), draw(arrays((m,)))]
    return xs, draw(SCALES), draw(SCALES)


@st.composite
def addr_case(draw):
    n, m = draw(SIDE), draw(SIDE)
    xs = [draw(arrays(draw(expandable((n, m))))), draw(arrays((n,))), draw(arrays((m,)))]
    return xs, draw(SCALES), draw(SCALES)


@st.composite
def bmm_case(draw, batched_input):
    """baddbmm (input expands to (b, n, p)) or addbmm (input expands to (n, p))."""
    b, n, m, p = draw(st.integers(1, 3)), draw(SIDE), draw(SIDE), draw(SIDE)
    out = (b, n, p) if batched_input else (n, p)
    xs = [draw(arrays(draw(expandable(out)))), draw(arrays((b, n, m))), draw(arrays((b, m, p)))]
    return xs, draw(SCALES), draw(SCALES)


@st.composite
def tensordot_case(draw):
    """a and b sharing k contracted dims, placed anywhere in b; dims as an int when they are a's
    last k and b's first k in order, else as two lists (some negative)."""
    sa = draw(st.lists(st.integers(1, 3), max_size=3).map(tuple))
    free_b = draw(st.lists(st.integers(1, 3), max_size=2))
    as_int = draw(st.booleans())
    if as_int:
        k = draw(st.integers(0, len(sa)))
        sb = sa[len(sa) - k :] + tuple(free_b)
        dims = k
    else:
        da = draw(st.permutations(range(len(sa))).map(lambda d: list(d)))
        da = da[: draw(st.integers(0, len(sa)))]
        slots = draw(st.permutations(range(len(da) + len(free_b))))
        db = list(slots[: len(da)])
        sb = [0] * len(slots)
        for i, j in zip(da, db):
            sb[j] = sa[i]
        for f, j in zip(free_b, slots[len(da) :]):
            sb[j] = f
        sb = tuple(sb)
        neg = draw(st.booleans())
        dims = ([d - len(sa) if neg else d for d in da], db)
    return [draw(arrays(sa)), draw(arrays(sb))], dims


@st.composite
def kron_case(draw):
    sa = draw(st.lists(st.integers(1, 3), max_size=3).map(tuple))
    sb = draw(st.lists(st.integers(1, 3), max_size=3).map(tuple))
    return [draw(arrays(sa)), draw(arrays(sb))]


@st.composite
def cross_case(draw):
    """Two shapes of one rank, size 3 at `dim`, the other dims broadcasting."""
    sa, sb = draw(broadcastable_pairs(min_dims=0, max_dims=2))
    nd = max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    at = draw(st.integers(0, nd))
    sa, sb = sa[:at] + (3,) + sa[at:], sb[:at] + (3,) + sb[at:]
    dim = draw(st.sampled_from([at, at - nd - 1]))
    return [draw(arrays(sa)), draw(arrays(sb))], dim


@st.composite
def cdist_case(draw, max_p=6, max_m=3, coincide=True):
    """x1 (.., P, M), x2 (.., R, M), batch dims broadcasting; some rows of x2 copied from x1
    (coincident points, distance 0) and some single coordinates too (a 0 in diff)."""
    b1, b2 = draw(broadcastable_pairs(max_dims=2, max_side=2))
    pp, r, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, max_m))
    x1, x2 = draw(arrays((*b1, pp, m))), draw(arrays((*b2, r, m)))
    batch = np.broadcast_shapes(b1, b2)
    x1, x2 = np.broadcast_to(x1, (*batch, pp, m)).copy(), np.broadcast_to(x2, (*batch, r, m)).copy()
    if coincide and draw(st.booleans()):  # a whole row: the distance is 0
        i, j = draw(st.integers(0, pp - 1)), draw(st.integers(0, r - 1))
        x2[..., j, :] = x1[..., i, :]
    if draw(st.booleans()):  # one coordinate
        i, j, k = (
            draw(st.integers(0, pp - 1)),
            draw(st.integers(0, r - 1)),
            draw(st.integers(0, m - 1)),
        )
        x2[..., j, k] = x1[..., i, k]
    p = draw(st.sampled_from(P_VALUES[:max_p] + [P_VALUES[-1]]))
    return [x1, x2], p


@st.composite
def pdist_case(draw):
    n, m = draw(st.integers(0, 4)), draw(st.integers(1, 3))
    x = draw(arrays((n, m)))
    if n >= 2 and draw(st.booleans()):
        x[1] = x[0]  # a zero distance
    return [x], draw(st.sampled_from(P_VALUES))


def _max_attained_once(x1, x2):
    """No ties for the largest |x1_i - x2_j| coordinate: central differences then see the one
    coordinate p = inf's gradient goes to (torch gives every tied coordinate all of it)."""
    a = np.abs(x1[..., :, None, :] - x2[..., None, :, :])
    top = a.max(-1, keepdims=True)
    return bool((np.isclose(a, top, rtol=0, atol=1e-9).sum(-1) == 1).all() or not a.size)


# --------------------------------------------------------------------------- ops as fn(L, ...)


def _beta_alpha(name, beta, alpha):
    return lambda L, i, a, b: getattr(L.mt, name)(i, a, b, beta=beta, alpha=alpha)


def _tensordot(dims):
    return lambda L, a, b: L.mt.tensordot(a, b, dims=dims)


def _cross(dim):
    return lambda L, a, b: L.mt.cross(a, b, dim=dim)


def _cdist(p, mode="use_mm_for_euclid_dist_if_necessary"):
    return lambda L, a, b: L.mt.cdist(a, b, p=p, compute_mode=mode)


def _pdist(p):
    return lambda L, a: L.F.pdist(a, p=p)


# --------------------------------------------------------------------------- loop references


def loop_tensordot(a, b, da, db):
    """out[free a, free b] = sum over the contracted index tuples of a[..] * b[..]."""
    da, db = [d % a.ndim for d in da], [d % b.ndim for d in db]
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    out = np.zeros([a.shape[d] for d in fa] + [b.shape[d] for d in fb])
    for ia in itertools.product(*[range(a.shape[d]) for d in fa]):
        for ib in itertools.product(*[range(b.shape[d]) for d in fb]):
            total = 0.0
            for ic in itertools.product(*[range(a.shape[d]) for d in da]):
                ka, kb = [0] * a.ndim, [0] * b.ndim
                for d, i in zip(fa + da, ia + ic):
                    ka[d] = i
                for d, i in zip(fb + db, ib + ic):
                    kb[d] = i
                total += a[tuple(ka)] * b[tuple(kb)]
            out[ia + ib] = total
    return out


def loop_kron(a, b):
    """out[i] = a[i // shape(b)] * b[i % shape(b)], ranks padded with leading 1s."""
    nd = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (nd - a.ndim) + a.shape)
    b = b.reshape((1,) * (nd - b.ndim) + b.shape)
    out = np.zeros([x * y for x, y in zip(a.shape, b.shape)])
    for idx in itertools.product(*[range(n) for n in out.shape]):
        ia = tuple(i // s for i, s in zip(idx, b.shape))
        ib = tuple(i % s for i, s in zip(idx, b.shape))
        out[idx] = a[ia] * b[ib]
    return out


def loop_cross(a, b, dim):
    """(a2 b3 - a3 b2, a3 b1 - a1 b3, a1 b2 - a2 b1) for every vector along dim."""
    a, b = np.broadcast_arrays(a, b)
    a, b = np.moveaxis(a, dim, -1), np.moveaxis(b, dim, -1)
    out = np.zeros(a.shape)
    for idx in itertools.product(*[range(n) for n in a.shape[:-1]]):
        (a1, a2, a3), (b1, b2, b3) = a[idx], b[idx]
        out[idx] = (a2 * b3 - a3 * b2, a3 * b1 - a1 * b3, a1 * b2 - a2 * b1)
    return np.moveaxis(out, -1, dim)


def loop_distance(u, v, p):
    """The p-norm of u - v as the textbook writes it; p = 0 counts, p = inf takes the max."""
    d = [abs(x - y) for x, y in zip(u, v)]
    if p == 0:
        return float(sum(x != 0 for x in d))
    if p == math.inf:
        return max(d, default=0.0)
    return sum(x**p for x in d) ** (1 / p)


def loop_cdist(x1, x2, p):
    batch = np.broadcast_shapes(x1.shape[:-2], x2.shape[:-2])
    x1 = np.broadcast_to(x1, batch + x1.shape[-2:])
    x2 = np.broadcast_to(x2, batch + x2.shape[-2:])
    out = np.zeros(batch + (x1.shape[-2], x2.shape[-2]))
    for idx in itertools.product(*[range(n) for n in batch]):
        for i, u in enumerate(x1[idx]):
            for j, v in enumerate(x2[idx]):
                out[idx + (i, j)] = loop_distance(u, v, p)
    return out


def loop_pdist(x, p):
    n = len(x)
    return np.array([loop_distance(x[i], x[j], p) for i in range(n) for j in range(i + 1, n)])


# --------------------------------------------------------------------------- gradcheck


@SETTINGS
@given(case=st.one_of(
    addmm_case().map(lambda c: ("addmm", c)),
    addmv_case().map(lambda c: ("addmv", c)),
    addr_case().map(lambda c: ("addr", c)),
    bmm_case(True).map(lambda c: ("baddbmm", c)),
    bmm_case(False).map(lambda c: ("addbmm", c)),
))  # fmt: skip
def test_beta_alpha_family_gradcheck(case):
    name, (xs, beta, alpha) = case
    check_grad(_beta_alpha(name, beta, alpha), xs)


@SETTINGS
@given(n=SIDE, m=SIDE, data=st.data())
def test_mv_dot_vdot_inner_gradcheck(n, m, data):
    mat, vec, vec2 = data.draw(arrays((n, m))), data.draw(arrays((m,))), data.draw(arrays((m,)))
    check_grad(lambda L, a, b: L.mt.mv(a, b), [mat, vec])
    check_grad(lambda L, a, b: L.mt.dot(a, b), [vec, vec2])
    check_grad(lambda L, a, b: L.mt.vdot(a, b), [vec, vec2])
    lead = data.draw(st.lists(st.integers(1, 3), max_size=2).map(tuple))
    check_grad(lambda L, a, b: L.mt.inner(a, b), [data.draw(arrays((*lead, m))), mat])


@SETTINGS
@given(case=tensordot_case())
def test_tensordot_gradcheck(case):
    xs, dims = case
    check_grad(_tensordot(dims), xs)


@SETTINGS
@given(xs=kron_case())
def test_kron_gradcheck(xs):
    check_grad(lambda L, a, b: L.mt.kron(a, b), xs)


@SETTINGS
@given(case=cross_case())
def test_cross_gradcheck(case):
    xs, dim = case
    check_grad(_cross(dim), xs)


@SETTINGS
@given(case=cdist_case())
def test_cdist_gradcheck_every_p_with_coincident_points(case):
    """The zero subgradient where a distance (or, for p < 1, a coordinate difference) is 0 is
    what central differences measure there too: each norm is symmetric about that point."""
    (x1, x2), p = case
    if p == math.inf:
        assume(_max_attained_once(x1, x2))
    check_grad(_cdist(p), [x1, x2])


@SETTINGS
@given(case=cdist_case(max_p=0, coincide=False))
def test_cdist_gemm_form_gradcheck(case):
    """p = 2 through the GEMM form, points apart (at coincident ones its rounding, ~1e-8 in the
    distance, swamps central differences; there it gives 0, see the next test)."""
    xs, _ = case
    assume(loop_cdist(*xs, 2.0).min() > 0.05)
    check_grad(_cdist(2.0, "use_mm_for_euclid_dist"), xs)


@SETTINGS
@given(case=pdist_case())
def test_pdist_gradcheck(case):
    (x,), p = case
    if p == math.inf:
        assume(_max_attained_once(x, x) or len(x) < 2)
    check_grad(_pdist(p), [x])


@SETTINGS
@given(
    n=st.integers(1, 3),
    d=st.integers(1, 3),
    swap=st.booleans(),
    margin=st.sampled_from([0.5, 1.0, 4.0]),
    reduction=st.sampled_from(["mean", "sum", "none"]),
    custom=st.booleans(),
    data=st.data(),
)
def test_triplet_margin_with_distance_loss_gradcheck(n, d, swap, margin, reduction, custom, data):
    xs = [data.draw(arrays((n, d))) for _ in range(3)]
    dist = (lambda x, y: F.cdist(x[:, None], y[:, None])[:, 0, 0]) if custom else None
    loss = lambda L, a, p, q: L.F.triplet_margin_with_distance_loss(
        a, p, q, distance_function=dist, margin=margin, swap=swap, reduction=reduction
    )  # fmt: skip
    # off the kinks: the hinge at 0, with swap the min between two equal distances, and the
    # norm at a zero distance (pairwise_distance's eps is as small as gradcheck's step)
    a, p, q = xs
    d = lambda x, y: np.linalg.norm(x - y + (0 if custom else 1e-6), axis=-1)  # noqa: E731
    assume(min(d(a, p).min(), d(a, q).min(), d(p, q).min()) > 1e-3)
    d_neg = np.minimum(d(a, q), d(p, q)) if swap else d(a, q)
    assume(np.all(np.abs(margin + d(a, p) - d_neg) > 1e-3))
    assume(not swap or np.all(np.abs(d(a, q) - d(p, q)) > 1e-3))
    check_grad(loss, xs)


# --------------------------------------------------------------------------- loop references


@SETTINGS
@given(case=tensordot_case())
def test_tensordot_matches_loops(case):
    (a, b), dims = case
    da, db = (
        (list(range(a.ndim - dims, a.ndim)), list(range(dims))) if isinstance(dims, int) else dims
    )
    out = mt.tensordot(mt.tensor(a), mt.tensor(b), dims=dims).numpy()
    np.testing.assert_allclose(out, loop_tensordot(a, b, da, db), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(xs=kron_case())
def test_kron_matches_loops(xs):
    a, b = xs
    np.testing.assert_array_equal(mt.kron(mt.tensor(a), mt.tensor(b)).numpy(), loop_kron(a, b))


@SETTINGS
@given(case=cross_case())
def test_cross_matches_loops(case):
    (a, b), dim = case
    out = mt.cross(mt.tensor(a), mt.tensor(b), dim=dim).numpy()
    np.testing.assert_allclose(out, loop_cross(a, b, dim), rtol=1e-12, atol=1e-12)


@SETTINGS
@given(
    case=cdist_case(),
    mode=st.sampled_from(["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"]),
)
def test_cdist_matches_loops(case, mode):
    (x1, x2), p = case
    out = mt.cdist(mt.tensor(x1), mt.tensor(x2), p=p, compute_mode=mode).numpy()
    # the GEMM form floors the squared distance at 1e-30 (torch's), so 0 reads 1e-15
    np.testing.assert_allclose(out, loop_cdist(x1, x2, p), rtol=1e-10, atol=1e-7)


@SETTINGS
@given(case=pdist_case())
def test_pdist_matches_loops(case):
    (x,), p = case
    out = F.pdist(mt.tensor(x), p=p)
    assert out.shape == (len(x) * (len(x) - 1) // 2,)
    np.testing.assert_allclose(out.numpy(), loop_pdist(x, p), rtol=1e-12, atol=1e-12)


def test_cdist_zero_distance_gradient_is_zero_and_finite():
    """Coincident points: every p gives a finite gradient, 0 for the pair at distance 0; the
    GEMM form too, so that it equals the direct form's gradient (torch's own GEMM backward
    divides by sqrt(1e-30) there)."""
    x = np.array([[0.5, -1.0, 2.0]])
    for p in P_VALUES:
        a, b = leaf(x), leaf(x)
        mt.cdist(a, b, p=p).sum().backward()
        assert np.all(a.grad.numpy() == 0) and np.all(b.grad.numpy() == 0), p
    x = np.random.default_rng(0).standard_normal((4, 3))
    grads = []
    for mode in ["use_mm_for_euclid_dist", "donot_use_mm_for_euclid_dist"]:
        a, b = leaf(x), leaf(x)
        mt.cdist(a, b, compute_mode=mode).sum().backward()
        grads.append(np.concatenate([a.grad.numpy(), b.grad.numpy()]))
    assert np.isfinite(grads[0]).all()
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-6)


def test_cdist_inf_ties_each_get_the_whole_gradient():
    """p = inf with |diff| tied at the max in two coordinates: torch's backward gives each tied
    coordinate sign(diff) * g, not a share of it."""
    a, b = leaf([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]), leaf([[0.0, 3.0, 0.0]])
    mt.cdist(a, b, p=math.inf).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[1.0, -1.0, 0.0], [0.0, -1.0, 0.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[-1.0, 2.0, 0.0]])
    a.grad = None
    F.pdist(a, p=math.inf).sum().backward()  # one pair, (0, 1): diff (1, 2, 0.5)
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])


def _values_and_grads(fn, xs):
    leaves = [leaf(x) for x in xs]
    y = fn(*leaves)
    w = np.random.default_rng(0).standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    return [y.numpy()] + [t.grad.numpy() for t in leaves]


@SETTINGS
@given(case=cdist_case(), block=st.sampled_from([1, 2, 5, 40]))
def test_cdist_in_small_blocks_equals_one_block_and_loops(case, block):
    """The direct form a few rows, or a few batch entries, at a time: the distances of the loop
    reference, and the values and gradients that one block holding every difference gives."""
    (x1, x2), p = case
    fn = lambda a, b: mt.cdist(a, b, p=p, compute_mode="donot_use_mm_for_euclid_dist")  # noqa: E731
    whole = _values_and_grads(fn, [x1, x2])
    with mock.patch.object(distance, "_BLOCK", block):
        blocked = _values_and_grads(fn, [x1, x2])
    np.testing.assert_allclose(blocked[0], loop_cdist(x1, x2, p), rtol=1e-12, atol=1e-12)
    for got, want in zip(blocked, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(case=pdist_case(), block=st.sampled_from([1, 2, 5, 40]))
def test_pdist_in_small_blocks_equals_one_block_and_loops(case, block):
    """pdist's row blocks, each against the rows after its first: every pair i < j once, in
    torch's order, with the gradients one block gives."""
    (x,), p = case
    assume(len(x) >= 2)
    fn = lambda a: F.pdist(a, p=p)  # noqa: E731
    whole = _values_and_grads(fn, [x])
    with mock.patch.object(distance, "_BLOCK", block):
        blocked = _values_and_grads(fn, [x])
    np.testing.assert_allclose(blocked[0], loop_pdist(x, p), rtol=1e-12, atol=1e-12)
    for got, want in zip(blocked, whole):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _peak_bytes(fn, *arrays):
    """Peak NumPy memory of fn's forward and backward on float32 leaves of `arrays`."""
    leaves = [mt.tensor(a, requires_grad=True) for a in arrays]
    tracemalloc.start()
    try:
        fn(*leaves).sum().backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("p", [1.0, 2.0, math.inf])
def test_cdist_and_pdist_never_hold_every_difference(p):
    """cdist of (512, 64) against (1024, 64) rows has 128 MiB of float32 differences, pdist of
    (1024, 64) rows 128 MiB for cdist(x, x): both peak far below that (blocks of differences),
    forward and backward; each output is 2 MiB."""
    rng = np.random.default_rng(0)
    x1, x2 = (rng.standard_normal((n, 64)).astype(np.float32) for n in (512, 1024))
    direct = "donot_use_mm_for_euclid_dist"
    assert _peak_bytes(lambda a, b: mt.cdist(a, b, p=p, compute_mode=direct), x1, x2) < 24 << 20
    assert _peak_bytes(lambda a: F.pdist(a, p=p), x2) < 24 << 20


# --------------------------------------------------------------------------- torch parity


@pytest.mark.parity
@SETTINGS
@given(case=st.one_of(
    addmm_case().map(lambda c: ("addmm", c)),
    addmv_case().map(lambda c: ("addmv", c)),
    addr_case().map(lambda c: ("addr", c)),
    bmm_case(True).map(lambda c: ("baddbmm", c)),
    bmm_case(False).map(lambda c: ("addbmm", c)),
))  # fmt: skip
def test_beta_alpha_family_matches_torch(case):
    torch = pytest.importorskip("torch")
    name, (xs, beta, alpha) = case
    check_parity(torch, _beta_alpha(name, beta, alpha), xs)


@pytest.mark.parity
@SETTINGS
@given(n=SIDE, m=SIDE, data=st.data())
def test_mv_dot_vdot_inner_match_torch(n, m, data):
    torch = pytest.importorskip("torch")
    mat, vec, vec2 = data.draw(arrays((n, m))), data.draw(arrays((m,))), data.draw(arrays((m,)))
    check_parity(torch, lambda L, a, b: L.mt.mv(a, b), [mat, vec])
    check_parity(torch, lambda L, a, b: L.mt.dot(a, b), [vec, vec2])
    check_parity(torch, lambda L, a, b: L.mt.vdot(a, b), [vec, vec2])
    check_parity(torch, lambda L, a, b: a.inner(b), [data.draw(arrays((2, m))), mat])
    scalar = np.array(data.draw(arrays(())))
    check_parity(torch, lambda L, a, b: L.mt.inner(a, b), [scalar, mat])


@pytest.mark.parity
@SETTINGS
@given(case=tensordot_case())
def test_tensordot_matches_torch(case):
    torch = pytest.importorskip("torch")
    xs, dims = case
    check_parity(torch, _tensordot(dims), xs)


@pytest.mark.parity
@SETTINGS
@given(xs=kron_case())
def test_kron_matches_torch(xs):
    torch = pytest.importorskip("torch")
    check_parity(torch, lambda L, a, b: L.mt.kron(a, b), xs)


@pytest.mark.parity
@SETTINGS
@given(case=cross_case())
def test_cross_matches_torch(case):
    torch = pytest.importorskip("torch")
    xs, dim = case
    check_parity(torch, _cross(dim), xs)
    (a, b), first = xs, [n for n in xs[0].shape].index(3)
    with warnings.catch_warnings():  # dim=None: both warn (torch.cross's deprecated default)
        warnings.simplefilter("ignore")
        if b.shape[first] == 3:
            check_parity(torch, lambda L, a, b: L.mt.cross(a, b), xs)
        else:  # the first dim of size 3 in input is not 3 in other: both refuse
            with pytest.raises(RuntimeError, match="must have length 3"):
                torch.cross(torch.tensor(a), torch.tensor(b))
            with pytest.raises(ValueError, match="must have size 3 in both"):
                mt.cross(mt.tensor(a), mt.tensor(b))


@pytest.mark.parity
@SETTINGS
@given(case=cdist_case())
def test_cdist_matches_torch_with_coincident_points(case):
    torch = pytest.importorskip("torch")
    xs, p = case
    check_parity(torch, _cdist(p), xs)


@pytest.mark.parity
def test_cdist_inf_ties_match_torch():
    torch = pytest.importorskip("torch")
    xs = [
        np.array([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]),
        np.array([[0.0, 3.0, 0.0], [1.0, 1.0, 1.0]]),
    ]
    check_parity(torch, _cdist(math.inf), xs)
    check_parity(torch, _pdist(math.inf), xs[:1])


@pytest.mark.parity
@SETTINGS
@given(p1=st.integers(26, 30), r=st.integers(1, 3), m=st.integers(1, 3), seed=st.integers(0, 99))
def test_cdist_gemm_form_matches_torch(p1, r, m, seed):
    """P > 25: the default mode switches to the GEMM form, as torch's does (distinct points:
    at coincident ones torch's GEMM backward divides by sqrt(1e-30))."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    xs = [rng.standard_normal((p1, m)), rng.standard_normal((2, r, m))]
    check_parity(torch, _cdist(2.0), xs, rtol=1e-6)


@pytest.mark.parity
@SETTINGS
@given(case=pdist_case())
def test_pdist_matches_torch_with_coincident_points(case):
    torch = pytest.importorskip("torch")
    xs, p = case
    assume(len(xs[0]) > 0)  # torch 2.13's pdist backward segfaults on a (0, M) input
    check_parity(torch, _pdist(p), xs)


@pytest.mark.parity
@SETTINGS
@given(n=st.integers(1, 3), d=st.integers(1, 3), swap=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), data=st.data())  # fmt: skip
def test_triplet_margin_with_distance_loss_matches_torch(n, d, swap, reduction, data):
    torch = pytest.importorskip("torch")
    xs = [data.draw(arrays((n, d))) for _ in range(3)]
    for cosine in (False, True):
        check_parity(torch, _triplet(cosine, swap, reduction, module=False), xs)
        check_parity(torch, _triplet(cosine, swap, reduction, module=True), xs)


def _triplet(cosine, swap, reduction, module):
    """The loss as fn(L, a, p, n): F's or nn's, pairwise_distance or 1 - cosine similarity."""

    def fn(L, a, p, q):
        dist = (lambda x, y: 1.0 - L.F.cosine_similarity(x, y)) if cosine else None
        opts = dict(distance_function=dist, swap=swap, reduction=reduction)
        if module:
            return L.mt.nn.TripletMarginWithDistanceLoss(margin=0.7, **opts)(a, p, q)
        return L.F.triplet_margin_with_distance_loss(a, p, q, margin=0.7, **opts)

    return fn


# --------------------------------------------------------------------------- API details


def test_tensor_methods_equal_the_numpy_formulas():
    rng = np.random.default_rng(0)
    m, v, w, c, b1, b2 = (rng.standard_normal(s) for s in
                          [(3, 4), (4,), (4,), (3, 3), (2, 3, 4), (2, 4, 3)])  # fmt: skip
    T = mt.tensor
    eq = lambda a, b: np.testing.assert_allclose(a.numpy(), b, rtol=1e-12)  # noqa: E731
    eq(T(m).mv(T(v)), m @ v)
    eq(T(v).dot(T(w)), v @ w)
    eq(T(v).vdot(T(w)), v @ w)
    eq(T(m).inner(T(m)), m @ m.T)
    eq(T(m).kron(T(v)), np.kron(m, v))
    eq(T(c).addmm(T(m), T(m.T), beta=2), 2 * c + m @ m.T)
    eq(T(c[0]).addmv(T(m), T(v), alpha=-1), c[0] - m @ v)
    eq(T(c[:1]).addr(T(c[0]), T(c[1]), alpha=3), c[:1] + 3 * np.outer(c[0], c[1]))
    eq(T(c).addbmm(T(b1), T(b2)), c + b1[0] @ b2[0] + b1[1] @ b2[1])
    eq(T(c).baddbmm(T(b1), T(b2), beta=0.5), 0.5 * c + b1 @ b2)
    eq(T(c).cross(T(m[:, 1:]), dim=1), np.cross(c, m[:, 1:], axis=1))


def test_tensordot_takes_dims_as_torch_does():
    """An int, two lists (negative dims too), or a tensor holding either."""
    rng = np.random.default_rng(0)
    a, b = mt.tensor(rng.standard_normal((2, 3, 4))), mt.tensor(rng.standard_normal((3, 4, 5)))
    want = np.tensordot(a.numpy(), b.numpy(), axes=2)
    for dims in [2, ([1, 2], [0, 1]), [[-2, -1], [0, -2]], mt.tensor([[1, 2], [0, 1]]),
                 mt.tensor(2), np.int64(2)]:  # fmt: skip
        np.testing.assert_allclose(mt.tensordot(a, b, dims=dims).numpy(), want, rtol=1e-12)
    assert mt.tensordot(a, b, dims=0).shape == (2, 3, 4, 3, 4, 5)


def test_dtypes_follow_torch():
    f32 = mt.ones(3, 2)
    assert mt.cdist(f32, f32).dtype == mt.float32 and F.pdist(f32).dtype == mt.float32
    assert mt.addmm(mt.ones(3), f32, mt.ones(2, 3), beta=0.5).dtype == mt.float32
    ints = mt.ones(2, 3, dtype=mt.int64)
    assert mt.mv(ints, mt.ones(3, dtype=mt.int64)).dtype == mt.int64
    assert mt.addmm(mt.ones(2, 2, dtype=mt.int64), ints, ints.T, beta=2).dtype == mt.int64
    # addr and kron promote, as torch's do
    assert mt.addr(mt.ones(2, 3), mt.ones(2), mt.ones(3, dtype=mt.float64)).dtype == mt.float64
    assert mt.kron(ints, mt.ones(2)).dtype == mt.float32


def test_beta_zero_ignores_nan_in_input_and_gives_it_no_gradient():
    x = mt.tensor(np.full((2, 2), np.nan), requires_grad=True)
    a = mt.tensor(np.eye(2), requires_grad=True)
    y = mt.addmm(x, a, a, beta=0, alpha=3)
    np.testing.assert_array_equal(y.numpy(), 3 * np.eye(2))
    y.sum().backward()
    assert x.grad is None and np.isfinite(a.grad.numpy()).all()


def test_cross_without_dim_takes_the_first_dim_of_size_3_and_warns():
    a, b = mt.ones(3, 3, dtype=D64), mt.tensor(np.arange(9.0).reshape(3, 3))
    with pytest.warns(UserWarning, match="cross: no dim given"):
        y = mt.cross(a, b)
    np.testing.assert_array_equal(y.numpy(), mt.cross(a, b, dim=0).numpy())
    assert not np.array_equal(y.numpy(), mt.cross(a, b, dim=1).numpy())


def test_cdist_default_mode_switches_to_the_gemm_form_above_25_rows():
    """Coincident rows: the GEMM form reads sqrt(1e-30), the direct form exactly 0."""
    x = mt.tensor(np.random.default_rng(0).standard_normal((26, 2)))
    assert float(mt.cdist(x, x)[0, 0]) == pytest.approx(1e-15, abs=1e-8)
    assert float(mt.cdist(x[:25], x[:25])[0, 0]) == 0.0
    direct = mt.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")
    assert float(direct[0, 0]) == 0.0


def test_triplet_module_keeps_torch_signature_and_repr():
    loss = nn.TripletMarginWithDistanceLoss()
    assert isinstance(loss.distance_function, nn.PairwiseDistance)
    assert "(distance_function): PairwiseDistance()" in repr(loss)
    with pytest.raises(TypeError):
        nn.TripletMarginWithDistanceLoss(None)  # keyword-only, as torch
    a, p, q = mt.zeros(2, 3), mt.zeros(2, 3), mt.ones(2, 3)
    custom = nn.TripletMarginWithDistanceLoss(distance_function=lambda x, y: (x - y).abs().sum(-1),
                                              margin=5.0, reduction="none")  # fmt: skip
    np.testing.assert_allclose(custom(a, p, q).numpy(), [2.0, 2.0])  # 5 + 0 - 3


# --------------------------------------------------------------------------- errors


def _t(*shape, dtype=None):
    return mt.ones(*shape, dtype=dtype)


D64 = mt.float64
ERRORS = [
    (lambda: mt.addmm(_t(3, 2), _t(3, 4), _t(5, 2)), ValueError,
     r"addmm: mat1 \(3, 4\) and mat2 \(5, 2\) cannot be multiplied \(4 != 5\)"),
    (lambda: mt.addmm(_t(3, 2), _t(3, 4, 1), _t(4, 2)), ValueError,
     r"addmm: expected 2-D mat1 and mat2, got mat1 \(3, 4, 1\) and mat2 \(4, 2\)"),
    (lambda: mt.addmm(_t(2, 2), _t(3, 4), _t(4, 2)), ValueError,
     r"addmm: input \(2, 2\) does not broadcast to the product's shape \(3, 2\)"),
    (lambda: mt.addmm(_t(1, 3, 2), _t(3, 4), _t(4, 2)), ValueError,
     r"addmm: input \(1, 3, 2\) does not broadcast"),
    (lambda: mt.addmm(_t(3, 2, dtype=D64), _t(3, 4), _t(4, 2)), TypeError,
     r"addmm: expected tensors of one dtype, got input float64, mat1 float32, mat2 float32"),
    (lambda: mt.addmm(_t(2, 2, dtype=mt.int64), _t(2, 2, dtype=mt.int64),
                      _t(2, 2, dtype=mt.int64), beta=0.5), TypeError,
     r"addmm: integer tensors take integer beta and alpha, got beta=0.5"),
    (lambda: mt.addmv(_t(3), _t(3, 4), _t(5)), ValueError,
     r"addmv: mat \(3, 4\) and vec \(5,\) cannot be multiplied \(4 != 5\)"),
    (lambda: mt.addmv(_t(4), _t(3, 4), _t(4)), ValueError,
     r"addmv: input \(4,\) does not broadcast to the product's shape \(3,\)"),
    (lambda: mt.addr(_t(2, 3), _t(2, 1), _t(3)), ValueError,
     r"addr: expected 1-D vec1 and vec2, got vec1 \(2, 1\) and vec2 \(3,\)"),
    (lambda: mt.addr(_t(3, 3), _t(2), _t(3)), ValueError,
     r"addr: input \(3, 3\) does not broadcast to the product's shape \(2, 3\)"),
    (lambda: mt.baddbmm(_t(2, 3, 5), _t(2, 3, 4), _t(3, 4, 5)), ValueError,
     r"baddbmm: batch1 \(2, 3, 4\) and batch2 \(3, 4, 5\) hold different numbers of matrices"),
    (lambda: mt.baddbmm(_t(2, 3, 5), _t(2, 3, 4), _t(2, 3, 5)), ValueError,
     r"baddbmm: batch1 \(2, 3, 4\) and batch2 \(2, 3, 5\) cannot be multiplied \(4 != 3\)"),
    (lambda: mt.baddbmm(_t(2, 3, 5), _t(3, 4), _t(4, 5)), ValueError,
     r"baddbmm: expected 3-D batch1 and batch2, got batch1 \(3, 4\) and batch2 \(4, 5\)"),
    (lambda: mt.baddbmm(_t(4, 3, 5), _t(2, 3, 4), _t(2, 4, 5)), ValueError,
     r"baddbmm: input \(4, 3, 5\) does not broadcast to the product's shape \(2, 3, 5\)"),
    (lambda: mt.addbmm(_t(2, 3, 5), _t(2, 3, 4), _t(2, 4, 5)), ValueError,
     r"addbmm: input \(2, 3, 5\) does not broadcast to the product's shape \(3, 5\)"),
    (lambda: mt.mv(_t(2, 3), _t(4)), ValueError,
     r"mv: mat \(2, 3\) and vec \(4,\) cannot be multiplied \(3 != 4\)"),
    (lambda: mt.mv(_t(2, 3), _t(3, 1)), ValueError,
     r"mv: expected mat \(n, m\) and vec \(m,\), got mat \(2, 3\) and vec \(3, 1\)"),
    (lambda: mt.mv(_t(2, 3), _t(3, dtype=D64)), TypeError,
     r"mv: expected tensors of one dtype, got input float32, vec float64"),
    (lambda: mt.dot(_t(3), _t(4)), ValueError, r"dot: input \(3,\) and tensor \(4,\) differ"),
    (lambda: mt.dot(_t(3, 1), _t(3)), ValueError,
     r"dot: expected 1-D tensors, got input \(3, 1\) and tensor \(3,\)"),
    (lambda: mt.dot(_t(3, dtype=mt.bool_), _t(3, dtype=mt.bool_)), TypeError,
     r"dot: bool tensors are not supported"),
    (lambda: mt.vdot(_t(3), _t(3, dtype=D64)), TypeError, r"vdot: expected tensors of one dtype"),
    (lambda: mt.inner(_t(2, 3), _t(4, 2)), ValueError,
     r"inner: the last dims of input \(2, 3\) and other \(4, 2\) must match \(3 != 2\)"),
    (lambda: mt.inner(_t(2, 3), _t(4, 3, dtype=D64)), TypeError, r"inner: expected tensors of one"),
    (lambda: mt.tensordot(_t(2, 3, 4), _t(3, 4, 5), dims=1), ValueError,
     r"tensordot: contracted dims must match, but a \(2, 3, 4\) has size 4 in dim 2 and "
     r"b \(3, 4, 5\) has size 3 in dim 0"),
    (lambda: mt.tensordot(_t(2, 3), _t(3), dims=-1), ValueError, r"tensordot: expects dims >= 0"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 4, 5), dims=3), ValueError,
     r"tensordot: cannot contract 3 dims of a \(2, 3\) with b \(3, 4, 5\)"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 2), dims=([0, 1], [1])), ValueError,
     r"tensordot: both dim lists must have the same length"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 2), dims=([1, -1], [0, 1])), ValueError,
     r"tensordot: a dim of a \(2, 3\) appears twice in \[1, -1\]"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 2), dims=([5], [0])), IndexError,
     r"tensordot: dim 5 out of range for a tensor with 2 dimensions"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 2), dims=(1, 0)), TypeError,
     r"tensordot: dims must be an int or a pair of lists of ints, got \(1, 0\)"),
    (lambda: mt.tensordot(_t(2, 3), _t(3, 2), dims=2.0), TypeError, r"tensordot: dims must be"),
    (lambda: mt.tensordot(_t(3), _t(3, dtype=D64), dims=1), TypeError,
     r"tensordot: expected tensors of one dtype, got a float32, b float64"),
    (lambda: mt.cross(_t(4, 3), _t(3), dim=-1), ValueError,
     r"cross: input \(4, 3\) and other \(3,\) must have the same number of dims"),
    (lambda: mt.cross(_t(4, 3), _t(4, 3), dim=0), ValueError,
     r"cross: dim 0 must have size 3 in both tensors, got input \(4, 3\) and other \(4, 3\)"),
    (lambda: mt.cross(_t(4, 3), _t(4, 3), dim=2), IndexError, r"cross: dim 2 out of range"),
    (lambda: mt.cross(_t(2, 3), _t(4, 3), dim=1), ValueError,
     r"cross: input \(2, 3\) and other \(4, 3\) do not broadcast"),
    (lambda: mt.cross(_t(4, 3), _t(4, 3, dtype=D64), dim=1), TypeError, r"cross: expected tensors"),
    (lambda: mt.cdist(_t(4), _t(5, 4)), ValueError,
     r"cdist: expected x1 \(\*, P, M\) and x2 \(\*, R, M\), got x1 \(4,\) and x2 \(5, 4\)"),
    (lambda: mt.cdist(_t(3, 4), _t(5, 3)), ValueError,
     r"cdist: x1 \(3, 4\) and x2 \(5, 3\) must have the same number of columns \(4 != 3\)"),
    (lambda: mt.cdist(_t(2, 3, 4), _t(3, 5, 4)), ValueError,
     r"cdist: batch dims of x1 \(2, 3, 4\) and x2 \(3, 5, 4\) do not broadcast"),
    (lambda: mt.cdist(_t(3, 4), _t(5, 4), p=-1), ValueError, r"cdist: p must be non-negative"),
    (lambda: mt.cdist(_t(3, 4, dtype=mt.int64), _t(5, 4)), TypeError,
     r"cdist: expected a floating point x1, got dtype int64"),
    (lambda: mt.cdist(_t(3, 4), _t(5, 4, dtype=D64)), TypeError,
     r"cdist: expected x1 and x2 of one dtype, got float32 and float64"),
    (lambda: mt.cdist(_t(3, 4), _t(5, 4), compute_mode="foo"), ValueError,
     r"cdist: 'foo' is not a valid compute_mode"),
    (lambda: F.pdist(_t(2, 4, 3)), ValueError,
     r"pdist: expected a 2-D input \(N, M\), got \(2, 4, 3\)"),
    (lambda: F.pdist(_t(4, 3), p=-1), ValueError, r"pdist: p must be non-negative"),
    (lambda: F.pdist(_t(4, 3, dtype=mt.int64)), TypeError,
     r"pdist: expected a floating point input, got dtype int64"),
    (lambda: F.triplet_margin_with_distance_loss(_t(2, 3), _t(2, 3), _t(3)), ValueError,
     r"triplet_margin_with_distance_loss: anchor, positive and negative must have the same "
     r"number of dims, got anchor \(2, 3\), positive \(2, 3\) and negative \(3,\)"),
    (lambda: F.triplet_margin_with_distance_loss(_t(2, 3), _t(2, 3), _t(2, 3), margin=0),
     ValueError, r"triplet_margin_with_distance_loss: margin must be greater than 0, got 0"),
    (lambda: F.triplet_margin_with_distance_loss(_t(2, 3), _t(2, 3), _t(2, 3), reduction="avg"),
     ValueError, r"triplet_margin_with_distance_loss: reduction must be"),
    (lambda: nn.TripletMarginWithDistanceLoss(margin=-1.0), ValueError,
     r"TripletMarginWithDistanceLoss: margin must be greater than 0, got -1.0"),
]  # fmt: skip


@pytest.mark.parametrize("make, error, message", ERRORS, ids=[m[:48] for _, _, m in ERRORS])
def test_bad_input_names_the_op_and_the_shapes(make, error, message):
    with pytest.raises(error, match=message):
        make()


# --------------------------------------------------------------------------- GPU


@pytest.mark.gpu
def test_ops_give_the_same_results_and_gradients_on_the_gpu():
    rng = np.random.default_rng(0)
    cases = [
        (lambda a, b: mt.cdist(a, b, p=1.5), [(2, 4, 3), (5, 3)]),
        (lambda a, b: mt.cdist(a, b, compute_mode="use_mm_for_euclid_dist"), [(4, 3), (5, 3)]),
        (lambda a, b: mt.cdist(a, b, p=math.inf), [(4, 3), (5, 3)]),
        (lambda a: F.pdist(a, p=3.0), [(5, 3)]),
        (lambda a, b: mt.cross(a, b, dim=-1), [(4, 3), (1, 3)]),
        (lambda a, b: mt.kron(a, b), [(2, 3), (3, 2)]),
        (lambda a, b: mt.tensordot(a, b, dims=([0, 2], [1, 0])), [(2, 3, 4), (4, 2, 5)]),
        (lambda i, a, b: mt.baddbmm(i, a, b, beta=0.5, alpha=2), [(3, 5), (2, 3, 4), (2, 4, 5)]),
        (lambda i, a, b: mt.addbmm(i, a, b, beta=0.5), [(5,), (2, 3, 4), (2, 4, 5)]),
    ]
    for fn, shapes in cases:
        xs = [rng.standard_normal(s) for s in shapes]
        cpu = [mt.tensor(x, requires_grad=True) for x in xs]
        gpu = [mt.tensor(x, device="cuda", requires_grad=True) for x in xs]
        y, yg = fn(*cpu), fn(*gpu)
        y.sum().backward()
        yg.sum().backward()
        np.testing.assert_allclose(yg.cpu().numpy(), y.numpy(), rtol=1e-10, atol=1e-12)
        for c, g in zip(cpu, gpu):
            np.testing.assert_allclose(g.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-10, atol=1e-12)
