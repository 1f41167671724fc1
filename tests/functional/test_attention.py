"""scaled_dot_product_attention: equal to a loop over batch items, heads and query rows over
hypothesis-drawn shapes, masks (bool, float, causal), scales and grouped-query heads; gradcheck
in float64 (the float mask's gradient too); a fully masked row gives zeros and zero gradients,
as PyTorch 2.13; dropout draws from the package generator; equal to PyTorch when installed;
bad input names the op and the shapes."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minitorch_cv as mt
from minitorch_cv import functional as F
from tests.strategies_core import SETTINGS, arrays, check_grad, check_parity, grid_floats


def loop_attention(q, k, v, mask=None, is_causal=False, scale=None, enable_gqa=False):
    """Textbook attention, one (batch item, head) and one query row at a time: scores
    q_i . k_j * scale, masked keys dropped (bool False, float -inf, j > i when causal), a float
    mask added, softmax over the keys left, weighted sum of the values; no key left -> 0."""
    *qb, n_l, e = q.shape
    n_s = k.shape[-2]
    scale = 1 / math.sqrt(e) if scale is None else scale
    kb, vb = list(k.shape[:-2]), list(v.shape[:-2])
    if enable_gqa:  # key / value head of query head h: h // (Hq / Hk)
        kb[-1] = vb[-1] = qb[-1]
    batch = np.broadcast_shapes(tuple(qb), tuple(kb), tuple(vb))
    out = np.zeros(batch + (n_l, v.shape[-1]))
    for idx in itertools.product(*(range(b) for b in batch)):
        qi = _block(q, idx)
        ki = _block(k, idx, batch[-1] // k.shape[-3] if enable_gqa else 1)
        vi = _block(v, idx, batch[-1] // v.shape[-3] if enable_gqa else 1)
        m = None
        if mask is not None:
            m = np.broadcast_to(mask, batch + (n_l, n_s))[idx]
        for i in range(n_l):
            scores = []
            for j in range(n_s):
                s = float(qi[i] @ ki[j]) * scale
                if is_causal and j > i or m is not None and m.dtype == bool and not m[i, j]:
                    s = -np.inf
                elif m is not None and m.dtype != bool:
                    s += m[i, j]
                scores.append(s)
            scores = np.array(scores)
            if n_s == 0 or np.all(scores == -np.inf):
                continue  # the row stays 0
            w = np.exp(scores - scores.max())
            out[idx + (i,)] = (w / w.sum()) @ vi
    return out


def _block(a, idx, groups=1):
    """a's last-two-dims block at batch index `idx` (right-aligned, size-1 dims broadcast); with
    grouped-query attention, query head h reads head h // groups (groups = Hq / a's heads)."""
    lead = a.shape[:-2]
    i = list(idx[len(idx) - len(lead) :])
    if groups > 1:
        i[-1] //= groups
    return a[tuple(0 if n == 1 else j for n, j in zip(lead, i))]


def _maybe_one(draw, shape, keep=0):
    """`shape` with some sizes set to 1 (they broadcast) and maybe some leading dims dropped,
    keeping at least `keep` dims."""
    shape = tuple(1 if draw(st.booleans()) else n for n in shape)
    return shape[draw(st.integers(0, max(0, len(shape) - keep))) :]


@st.composite
def sdpa_case(draw):
    """query (*batch, L, E), key (*kbatch, S, E), value (*vbatch, S, Ev), a mask kind and
    its array, scale, enable_gqa."""
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    n_l, n_s = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    e, ev = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    gqa = len(batch) >= 1 and draw(st.booleans())
    kbatch = vbatch = batch
    if gqa:  # Hq = Hk * groups; value heads may differ from key heads
        hk, groups = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        hv = draw(st.sampled_from([1, hk]))
        batch = batch[:-1] + (hk * groups,)
        kbatch, vbatch = batch[:-1] + (hk,), batch[:-1] + (hv,)
    elif batch and draw(st.booleans()):
        kbatch, vbatch = _maybe_one(draw, batch), _maybe_one(draw, batch)
    kind = draw(st.sampled_from(["none", "bool", "float", "causal"]))
    mask = None
    if kind in ("bool", "float"):
        # at least (L, S): PyTorch refuses 1-D masks (here they broadcast like any operand)
        mshape = _maybe_one(draw, batch + (n_l, n_s), keep=2)
        if kind == "bool":
            mask = draw(hnp.arrays(np.bool_, mshape))
        else:
            mask = draw(arrays(mshape))
    scale = draw(st.one_of(st.none(), grid_floats(0.2, 1.5)))
    q = draw(arrays(batch + (n_l, e)))
    k = draw(arrays(kbatch + (n_s, e)))
    v = draw(arrays(vbatch + (n_s, ev)))
    return q, k, v, kind, mask, scale, gqa


def _fn(kind, mask, scale, gqa, dropout_p=0.0):
    """The op as `fn(lib, q, k, v[, float mask])` for check_grad / check_parity."""

    def fn(lib, q, k, v, *fmask):
        m = fmask[0] if fmask else (None if mask is None else lib.mt.tensor(mask))
        return lib.F.scaled_dot_product_attention(
            q, k, v, m, dropout_p, kind == "causal", scale=scale, enable_gqa=gqa
        )

    return fn


def _inputs(q, k, v, kind, mask):
    return [q, k, v] + ([mask] if kind == "float" else [])


@SETTINGS
@given(case=sdpa_case())
def test_sdpa_matches_the_loop_and_gradcheck_float64(case):
    q, k, v, kind, mask, scale, gqa = case
    y = F.scaled_dot_product_attention(
        mt.tensor(q), mt.tensor(k), mt.tensor(v), None if mask is None else mt.tensor(mask),
        is_causal=kind == "causal", scale=scale, enable_gqa=gqa,
    ).numpy()  # fmt: skip
    want = loop_attention(q, k, v, mask, kind == "causal", scale, gqa)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    check_grad(_fn(kind, mask, scale, gqa), _inputs(q, k, v, kind, mask))


@pytest.mark.parity
@SETTINGS
@given(case=sdpa_case())
def test_sdpa_matches_torch(case):
    torch = pytest.importorskip("torch")
    q, k, v, kind, mask, scale, gqa = case
    check_parity(torch, _fn(kind, mask, scale, gqa), _inputs(q, k, v, kind, mask))


def _fully_masked():
    """q, k, v requiring grad, a bool mask whose query row 1 sees no key, and the same as a
    float mask (-inf)."""
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s) for s in ((2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 6)))
    keep = rng.random((3, 5)) > 0.4
    keep[1] = False
    keep[[0, 2], 0] = True
    return q, k, v, keep, np.where(keep, 0.0, -np.inf)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_a_fully_masked_row_gives_zeros_and_zero_gradients(kind):
    q, k, v, keep, bias = _fully_masked()
    qs, ks, vs = (mt.tensor(a, requires_grad=True) for a in (q, k, v))
    mask = mt.tensor(keep if kind == "bool" else bias)
    y = F.scaled_dot_product_attention(qs, ks, vs, mask)
    assert np.isfinite(y.numpy()).all()
    np.testing.assert_array_equal(y.numpy()[:, :, 1], 0.0)
    np.testing.assert_allclose(y.numpy(), loop_attention(q, k, v, keep), rtol=1e-12, atol=1e-14)
    y.sum().backward()
    np.testing.assert_array_equal(qs.grad.numpy()[:, :, 1], 0.0)
    assert all(np.isfinite(t.grad.numpy()).all() for t in (qs, ks, vs))


@pytest.mark.parity
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_a_fully_masked_row_follows_torch(kind):
    torch = pytest.importorskip("torch")
    q, k, v, keep, bias = _fully_masked()
    mask = keep if kind == "bool" else bias
    check_parity(torch, _fn(kind, mask, None, False), [q, k, v])


def test_float_mask_gradient_is_zero_on_a_fully_masked_row():
    q, k, v, keep, bias = _fully_masked()
    bias = bias + np.linspace(0, 1, 15).reshape(3, 5)  # finite values where kept
    m = mt.tensor(bias, requires_grad=True)
    F.scaled_dot_product_attention(mt.tensor(q), mt.tensor(k), mt.tensor(v), m).sum().backward()
    np.testing.assert_array_equal(m.grad.numpy()[1], 0.0)
    assert np.isfinite(m.grad.numpy()).all()


def test_causal_mask_is_upper_left_aligned_when_lengths_differ():
    rng = np.random.default_rng(1)
    for n_l, n_s in ((5, 3), (3, 5)):
        q, k, v = (
            rng.standard_normal((n_l, 4)),
            rng.standard_normal((n_s, 4)),
            rng.standard_normal((n_s, 2)),
        )
        y = F.scaled_dot_product_attention(mt.tensor(q), mt.tensor(k), mt.tensor(v), is_causal=True)
        tril = np.tril(np.ones((n_l, n_s), bool))
        np.testing.assert_allclose(y.numpy(), loop_attention(q, k, v, tril), rtol=1e-12)


def test_dropout_draws_from_the_package_generator():
    rng = np.random.default_rng(2)
    q, k, v = (
        mt.tensor(rng.standard_normal(s).astype(np.float32))
        for s in ((2, 3, 4), (2, 5, 4), (2, 5, 6))
    )
    mt.manual_seed(7)
    y = F.scaled_dot_product_attention(q, k, v, dropout_p=0.4).numpy()
    mt.manual_seed(7)  # the same draw, by hand: dropout of the attention weights
    w = F.dropout(F.softmax(q @ k.transpose(-2, -1) * (1 / math.sqrt(4)), dim=-1), 0.4)
    np.testing.assert_allclose(y, (w @ v).numpy(), rtol=1e-6, atol=1e-6)
    assert not np.allclose(y, F.scaled_dot_product_attention(q, k, v).numpy())
    dropped = F.scaled_dot_product_attention(q, k, v, dropout_p=1.0)
    np.testing.assert_array_equal(dropped.numpy(), 0.0)


def test_sdpa_keeps_float32_and_handles_no_keys():
    q, k, v = mt.randn(2, 3, 4), mt.randn(2, 5, 4), mt.randn(2, 5, 6)
    assert F.scaled_dot_product_attention(q, k, v).dtype == np.float32
    empty = F.scaled_dot_product_attention(q, mt.randn(2, 0, 4), mt.randn(2, 0, 6))
    np.testing.assert_array_equal(empty.numpy(), np.zeros((2, 3, 6), np.float32))


def test_scale_and_enable_gqa_are_keyword_only_as_in_torch():
    q = mt.randn(3, 4)
    with pytest.raises(TypeError):
        F.scaled_dot_product_attention(q, q, q, None, 0.0, False, 0.5)


def test_sdpa_errors_name_the_op_and_the_shapes():
    q, k, v = mt.randn(2, 3, 4), mt.randn(2, 5, 4), mt.randn(2, 5, 6)
    op = "scaled_dot_product_attention: "
    with pytest.raises(
        ValueError, match=op + r"query's last dim 4 differs from key's 3.*\(2, 5, 3\)"
    ):
        F.scaled_dot_product_attention(q, mt.randn(2, 5, 3), v)
    with pytest.raises(ValueError, match=op + r"key has 5 positions .* value has 4"):
        F.scaled_dot_product_attention(q, k, mt.randn(2, 4, 6))
    with pytest.raises(
        ValueError, match=op + r"attn_mask of shape \(4, 5\) does not broadcast .* \(2, 3, 5\)"
    ):
        F.scaled_dot_product_attention(q, k, v, mt.ones(4, 5, dtype=mt.bool_))
    with pytest.raises(ValueError, match=op + "pass either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, mt.ones(3, 5, dtype=mt.bool_), is_causal=True)
    with pytest.raises(ValueError, match=op + r"the batch dims .* do not broadcast.*\(3, 5, 4\)"):
        F.scaled_dot_product_attention(q, mt.randn(3, 5, 4), mt.randn(3, 5, 6))
    with pytest.raises(
        ValueError,
        match=op + r"with enable_gqa the 3 key heads and 3 value heads must divide the 4",
    ):
        F.scaled_dot_product_attention(
            mt.randn(1, 4, 3, 2), mt.randn(1, 3, 5, 2), mt.randn(1, 3, 5, 2), enable_gqa=True
        )
    with pytest.raises(ValueError, match=op + "query, key and value need at least 2 dims"):
        F.scaled_dot_product_attention(mt.randn(4), mt.randn(4), mt.randn(4))
    with pytest.raises(ValueError, match=op + "dropout_p has to be between 0 and 1"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(TypeError, match=op + "attn_mask must be bool .* float32 .* got int64"):
        F.scaled_dot_product_attention(q, k, v, mt.tensor(np.ones((3, 5), np.int64)))
    with pytest.raises(TypeError, match=op + "query, key and value must share one floating dtype"):
        F.scaled_dot_product_attention(q, k.double(), v)
