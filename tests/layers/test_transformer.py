"""MultiheadAttention, TransformerEncoderLayer, TransformerEncoder: equal to PyTorch (outputs,
attention weights, input and parameter gradients, with torch's state_dict loaded) over
hypothesis-drawn options and masks; state_dict keys and reprs equal torch's; PyTorch's
initialisation; float64 gradcheck; dropout from the package generator; clear errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from tests.strategies_core import SETTINGS

# --------------------------------------------------------------------------- helpers


def load_torch(ours, theirs):
    """Copy a torch module's state into ours (by state_dict, as a user would)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def loop_mha(m, q, k, v, kpm=None, am=None):
    """Textbook multi-head attention of unbatched, float64 (L, E) inputs, one head and one
    query row at a time, from our module's weights: bool masks True = masked."""
    e, h = m.embed_dim, m.num_heads
    hd = e // h
    if m._qkv_same_embed_dim:
        w = m.in_proj_weight.numpy()
        wq, wk, wv = w[:e], w[e : 2 * e], w[2 * e :]
    else:
        wq, wk, wv = (p.numpy() for p in (m.q_proj_weight, m.k_proj_weight, m.v_proj_weight))
    b = np.zeros(3 * e) if m.in_proj_bias is None else m.in_proj_bias.numpy()
    qp, kp, vp = q @ wq.T + b[:e], k @ wk.T + b[e : 2 * e], v @ wv.T + b[2 * e :]
    out = np.zeros((q.shape[0], e))
    for head in range(h):
        cols = slice(head * hd, (head + 1) * hd)
        for i in range(q.shape[0]):
            s = kp[:, cols] @ qp[i, cols] / math.sqrt(hd)
            masked = np.zeros(len(s), bool)
            if kpm is not None:
                masked |= kpm
            if am is not None:
                masked |= am[i]
            s = np.where(masked, -np.inf, s)
            p = np.exp(s - s.max())
            out[i, cols] = (p / p.sum()) @ vp[:, cols]
    wo = m.out_proj.weight.numpy()
    return out @ wo.T + (0 if m.out_proj.bias is None else m.out_proj.bias.numpy())


@st.composite
def mha_case(draw):
    e, h = draw(st.sampled_from([(4, 1), (4, 2), (6, 3), (6, 2)]))
    cross = draw(st.booleans())
    kdim = draw(st.sampled_from([None, 3, e])) if cross else None
    vdim = draw(st.sampled_from([None, 5])) if cross else None
    opts = dict(
        bias=draw(st.booleans()),
        add_bias_kv=draw(st.booleans()),
        add_zero_attn=draw(st.booleans()),
        kdim=kdim,
        vdim=vdim,
        batch_first=draw(st.booleans()),
    )
    n, tgt = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    src = draw(st.integers(1, 4)) if cross else tgt
    call = dict(
        batched=draw(st.booleans()),
        kpm=draw(st.sampled_from(["none", "bool", "float"])),
        am=draw(st.sampled_from(["none", "bool2", "bool3", "float2", "float3"])),
        need_weights=draw(st.booleans()),
        average_attn_weights=draw(st.booleans()),
        is_causal=draw(st.booleans()),
        train=draw(st.booleans()),
    )
    if call["is_causal"] and call["am"] == "none":
        call["am"] = "bool2"
    return e, h, opts, n, tgt, src, cross, call, draw(st.integers(0, 2**16))


def _masks(rng, call, n, h, tgt, src):
    """Masks as NumPy arrays; column 0 is never masked, so no query loses every key."""
    b = call["batched"]
    kpm = am = None
    if call["kpm"] != "none":
        shape = (n, src) if b else (src,)
        kpm = rng.random(shape) < 0.4
        kpm[..., 0] = False
        if call["kpm"] == "float":
            kpm = np.where(kpm, -np.inf, rng.standard_normal(shape))
    if call["am"] != "none":
        shape = (tgt, src) if call["am"].endswith("2") else ((n * h if b else h), tgt, src)
        if call["is_causal"]:  # a true hint: the causal mask
            am = np.broadcast_to(np.triu(np.ones((tgt, src), bool), 1), shape).copy()
        else:
            am = rng.random(shape) < 0.4
        am[..., 0] = False
        if call["am"].startswith("float"):
            am = np.where(am, -np.inf, rng.standard_normal(shape))
    return kpm, am


def _run_pair(torch, e, h, opts, n, tgt, src, cross, call, seed):
    """Both modules (torch's weights loaded into ours), run on the same float64 inputs with the
    same masks; returns ((out, weights, input grads, param grads) ours, theirs)."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    theirs = torch.nn.MultiheadAttention(e, h, **opts).double()
    ours = nn.MultiheadAttention(e, h, **opts, dtype=np.float64)
    load_torch(ours, theirs)
    theirs.train(call["train"])
    ours.train(call["train"])
    kdim, vdim = opts["kdim"] or e, opts["vdim"] or e

    def shape(seq, d):
        if not call["batched"]:
            return (seq, d)
        return (n, seq, d) if opts["batch_first"] else (seq, n, d)

    q = rng.standard_normal(shape(tgt, e))
    # self-attention: one tensor for all three; cross: key is value when their widths allow
    k = rng.standard_normal(shape(src, kdim))
    v = k if kdim == vdim else rng.standard_normal(shape(src, vdim))
    qkv = [q, q, q] if not cross else [q, k, v]
    arrays = list({id(a): a for a in qkv}.values())
    kpm, am = _masks(rng, call, n, h, tgt, src)
    results = []
    for nn_mod, mk in ((ours, mt.tensor), (theirs, torch.tensor)):
        leaves = {id(a): mk(a, requires_grad=True) for a in arrays}
        inputs = [leaves[id(a)] for a in qkv]
        kw = dict(
            key_padding_mask=None if kpm is None else mk(kpm),
            attn_mask=None if am is None else mk(am),
            need_weights=call["need_weights"],
            average_attn_weights=call["average_attn_weights"],
            is_causal=call["is_causal"],
        )
        with warnings.catch_warnings():  # torch: mixed bool / float masks are deprecated
            warnings.simplefilter("ignore")
            out, w = nn_mod(*inputs, **kw)
        g = np.random.default_rng(1).standard_normal(tuple(out.shape))
        loss = (out * mk(g)).sum()
        if w is not None:
            gw = np.random.default_rng(2).standard_normal(tuple(w.shape))
            loss = loss + (w * mk(gw)).sum()
        loss.backward()
        grads = [leaves[id(a)].grad.numpy() for a in arrays]
        pgrads = {name: p.grad.numpy() for name, p in nn_mod.named_parameters()}
        results.append(
            (out.detach().numpy(), None if w is None else w.detach().numpy(), grads, pgrads)
        )
    return results


def _assert_same(ours, theirs, rtol=1e-9, atol=1e-11):
    (y, w, g, pg), (yt, wt, gt, pgt) = ours, theirs
    np.testing.assert_allclose(y, yt, rtol=rtol, atol=atol, err_msg="output")
    assert (w is None) == (wt is None)
    if w is not None:
        np.testing.assert_allclose(w, wt, rtol=rtol, atol=atol, err_msg="attention weights")
    for i, (a, b) in enumerate(zip(g, gt)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=f"input gradient {i}")
    assert list(pg) == list(pgt)
    for name in pg:
        np.testing.assert_allclose(pg[name], pgt[name], rtol=rtol, atol=atol, err_msg=name)


# --------------------------------------------------------------------------- MultiheadAttention


@pytest.mark.parity
@SETTINGS
@given(case=mha_case())
def test_multihead_attention_matches_torch(case):
    """Outputs, attention weights, input and parameter gradients, over every option and mask
    kind, need_weights both ways, train mode with dropout 0 (same as eval)."""
    torch = pytest.importorskip("torch")
    ours, theirs = _run_pair(torch, *case)
    _assert_same(ours, theirs)


def test_multihead_attention_matches_the_head_by_head_loop():
    rng = np.random.default_rng(0)
    mt.manual_seed(0)
    for kw, same in (({}, True), (dict(kdim=3, vdim=5), False), (dict(bias=False), False)):
        m = nn.MultiheadAttention(6, 3, dtype=np.float64, **kw)
        q = rng.standard_normal((4, 6))
        k = q if same else rng.standard_normal((5, m.kdim))
        v = q if same else rng.standard_normal((5, m.vdim))
        kpm = np.arange(k.shape[0]) == 2
        am = np.triu(np.ones((4, k.shape[0]), bool), 1)
        y, w = m(mt.tensor(q), mt.tensor(k), mt.tensor(v), mt.tensor(kpm), attn_mask=mt.tensor(am))
        np.testing.assert_allclose(y.numpy(), loop_mha(m, q, k, v, kpm, am), rtol=1e-12, atol=1e-13)
        assert w.shape == (4, k.shape[0])
        np.testing.assert_allclose(w.numpy().sum(-1), 1.0)


def test_multihead_attention_layouts_agree():
    """batch_first, (L, N, E) and unbatched inputs give the same numbers."""
    mt.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 4))  # (N, L, E)
    y_seq, w_seq = m(*(mt.tensor(x.transpose(1, 0, 2)),) * 3)
    m.batch_first = True
    y_bf, w_bf = m(*(mt.tensor(x),) * 3)
    y_un, w_un = m(*(mt.tensor(x[1]),) * 3, average_attn_weights=False)
    np.testing.assert_allclose(y_seq.numpy().transpose(1, 0, 2), y_bf.numpy(), rtol=1e-13)
    np.testing.assert_allclose(y_un.numpy(), y_bf.numpy()[1], rtol=1e-13)
    np.testing.assert_allclose(w_seq.numpy(), w_bf.numpy(), rtol=1e-13)
    np.testing.assert_allclose(w_un.numpy().mean(0), w_bf.numpy()[1], rtol=1e-13)
    assert w_un.shape == (2, 3, 3)


@SETTINGS
@given(case=mha_case())
def test_multihead_attention_gradcheck_float64(case):
    e, h, opts, n, tgt, src, cross, call, seed = case
    mt.manual_seed(seed)
    m = nn.MultiheadAttention(e, h, **opts, dtype=np.float64)
    rng = np.random.default_rng(seed)
    kpm, am = _masks(rng, call, n, h, tgt, src)
    kdim, vdim = opts["kdim"] or e, opts["vdim"] or e

    def shape(seq, d):
        if not call["batched"]:
            return (seq, d)
        return (n, seq, d) if opts["batch_first"] else (seq, n, d)

    q = rng.standard_normal(shape(tgt, e))
    k, v = rng.standard_normal(shape(src, kdim)), rng.standard_normal(shape(src, vdim))
    kw = dict(
        key_padding_mask=None if kpm is None else mt.tensor(kpm),
        attn_mask=None if am is None else mt.tensor(am),
        need_weights=call["need_weights"],
        is_causal=call["is_causal"],
    )

    def fn(q, k, v):
        out, w = m(q, k, v, **kw)
        return out if w is None else out.sum() + (w * w).sum()

    assert mt.gradcheck(fn, [mt.tensor(a, requires_grad=True) for a in (q, k, v)])
    if not cross:  # one tensor as query, key and value: the packed projection
        assert mt.gradcheck(lambda x: fn(x, x, x), [mt.tensor(q, requires_grad=True)])


@pytest.mark.parity
def test_a_query_with_every_key_masked_follows_torch():
    """need_weights=True: NaN (a plain softmax) in output and weights; need_weights=False:
    scaled_dot_product_attention's zeros, so the output is out_proj's bias. As PyTorch."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.MultiheadAttention(4, 2).double()
    with torch.no_grad():
        theirs.out_proj.bias.normal_()
    ours = nn.MultiheadAttention(4, 2, dtype=np.float64)
    load_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((3, 2, 4))
    kpm = np.zeros((2, 3), bool)
    kpm[1] = True  # batch item 1 sees no key
    for need in (True, False):
        with warnings.catch_warnings():  # NumPy: "invalid value encountered" (the NaN)
            warnings.simplefilter("ignore", RuntimeWarning)
            y, w = ours(*(mt.tensor(x),) * 3, key_padding_mask=mt.tensor(kpm), need_weights=need)
        with torch.no_grad():
            yt, wt = theirs(*(torch.tensor(x),) * 3, key_padding_mask=torch.tensor(kpm),
                            need_weights=need)  # fmt: skip
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12, atol=1e-14)
        assert np.isnan(y.numpy()[:, 1]).all() == need
        if need:
            np.testing.assert_allclose(w.numpy(), wt.numpy(), rtol=1e-12, atol=1e-14)
        else:
            bias = np.broadcast_to(ours.out_proj.bias.numpy(), (3, 4))
            np.testing.assert_allclose(y.numpy()[:, 1], bias, rtol=1e-14)


CONFIGS = [
    dict(),
    dict(bias=False),
    dict(kdim=3, vdim=5),
    dict(kdim=3, add_bias_kv=True, add_zero_attn=True),
    dict(add_bias_kv=True, batch_first=True, dropout=0.2),
]


@pytest.mark.parity
@pytest.mark.parametrize("kw", CONFIGS)
def test_multihead_attention_state_dict_and_repr_equal_torch(kw):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.MultiheadAttention(8, 2, **kw), torch.nn.MultiheadAttention(8, 2, **kw)
    sd, sdt = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(sdt)
    assert [tuple(v.shape) for v in sd.values()] == [tuple(v.shape) for v in sdt.values()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert repr(ours) == repr(theirs)
    for name in ("embed_dim", "kdim", "vdim", "num_heads", "head_dim", "dropout", "batch_first",
                 "add_zero_attn", "_qkv_same_embed_dim"):  # fmt: skip
        assert getattr(ours, name) == getattr(theirs, name), name


def test_multihead_attention_init_is_torchs():
    """xavier_uniform_ on the packed in_proj_weight (fan_in E, fan_out 3E), zero in-projection
    and out_proj biases, xavier_normal_ bias_k / bias_v (fans E), out_proj.weight Linear's."""
    mt.manual_seed(0)
    e = 64
    m = nn.MultiheadAttention(e, 4, add_bias_kv=True)
    bound = math.sqrt(6 / (e + 3 * e))
    w = m.in_proj_weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    np.testing.assert_array_equal(m.in_proj_bias.numpy(), 0.0)
    np.testing.assert_array_equal(m.out_proj.bias.numpy(), 0.0)
    assert np.abs(m.out_proj.weight.numpy()).max() <= 1 / math.sqrt(e)
    bk = np.concatenate(
        [nn.MultiheadAttention(e, 4, add_bias_kv=True).bias_k.numpy() for _ in range(30)]
    )
    assert abs(bk.std() - math.sqrt(2 / (2 * e))) < 0.1 * math.sqrt(1 / e)
    sep = nn.MultiheadAttention(e, 4, kdim=32, vdim=16)
    assert np.abs(sep.k_proj_weight.numpy()).max() <= math.sqrt(6 / (e + 32))
    assert np.abs(sep.v_proj_weight.numpy()).max() <= math.sqrt(6 / (e + 16))


def test_multihead_attention_dropout_is_seeded_and_off_in_eval():
    mt.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = mt.randn(2, 5, 8)
    mt.manual_seed(3)
    a, wa = m(x, x, x)
    mt.manual_seed(3)
    b, wb = m(x, x, x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert (wa.numpy() == 0).any() or (wa.numpy() > 1).any()  # weights are the dropped ones
    m.eval()
    c, wc = m(x, x, x)
    assert not np.allclose(a.numpy(), c.numpy())
    np.testing.assert_allclose(wc.numpy().sum(-1), 1.0, rtol=1e-5)


def test_multihead_attention_errors_name_the_layer_and_the_shapes():
    with pytest.raises(
        ValueError,
        match=r"MultiheadAttention: embed_dim \(6\) must be divisible by num_heads \(4\)",
    ):
        nn.MultiheadAttention(6, 4)
    with pytest.raises(
        ValueError, match=r"MultiheadAttention: num_heads must be a positive int, got 0"
    ):
        nn.MultiheadAttention(6, 0)
    m = nn.MultiheadAttention(8, 2)
    lab = r"MultiheadAttention\(embed_dim=8, num_heads=2\): "
    x = mt.randn(5, 2, 8)
    with pytest.raises(
        ValueError, match=lab + r"expected last dims query 8, key 8, value 8; got query \(5, 2, 7\)"
    ):
        m(mt.randn(5, 2, 7), x, x)
    with pytest.raises(
        ValueError, match=lab + r"expected query \(L, N, 8\).*got query \(2, 5, 2, 8\)"
    ):
        m(mt.randn(2, 5, 2, 8), x, x)
    with pytest.raises(ValueError, match=lab + r"key and value must have the same \(S, N\) dims"):
        m(x, x, mt.randn(4, 2, 8))
    with pytest.raises(ValueError, match=lab + r"query and key have different batch sizes"):
        m(x, mt.randn(5, 3, 8), mt.randn(5, 3, 8))
    with pytest.raises(
        ValueError, match=lab + r"expected key_padding_mask of shape \(2, 5\), got \(5, 2\)"
    ):
        m(x, x, x, key_padding_mask=mt.zeros(5, 2, dtype=mt.bool_))
    with pytest.raises(
        ValueError,
        match=lab + r"expected attn_mask of shape \(5, 5\) or \(4, 5, 5\), got \(2, 5, 5\)",
    ):
        m(x, x, x, attn_mask=mt.zeros(2, 5, 5, dtype=mt.bool_))
    with pytest.raises(ValueError, match=lab + "is_causal=True is a hint .* needs attn_mask"):
        m(x, x, x, is_causal=True)
    with pytest.raises(
        TypeError, match=lab + "attn_mask must be bool or of the query's dtype float32, got int64"
    ):
        m(x, x, x, attn_mask=mt.tensor(np.zeros((5, 5), np.int64)))


# --------------------------------------------------------------------------- encoder


def _encoder_pair(torch, act, layers, norm_first, batch_first, p=0.0, bias=True):
    torch.manual_seed(0)
    t_act = {"relu": "relu", "gelu": "gelu", "F.gelu": torch.nn.functional.gelu,
             "GELU()": torch.nn.GELU()}[act]  # fmt: skip
    o_act = {"relu": "relu", "gelu": "gelu", "F.gelu": F.gelu, "GELU()": nn.GELU()}[act]
    tl = torch.nn.TransformerEncoderLayer(8, 2, 12, p, t_act, 1e-5, batch_first, norm_first, bias)
    ol = nn.TransformerEncoderLayer(8, 2, 12, p, o_act, 1e-5, batch_first, norm_first, bias)
    if layers:
        with warnings.catch_warnings():  # torch: "enable_nested_tensor is True, but ..."
            warnings.simplefilter("ignore")
            theirs = torch.nn.TransformerEncoder(tl, layers, norm=torch.nn.LayerNorm(8))
        ours = nn.TransformerEncoder(ol, layers, norm=nn.LayerNorm(8))
    else:
        theirs, ours = tl, ol
    theirs.double()
    ours.double()
    load_torch(ours, theirs)
    return ours, theirs


@pytest.mark.parity
@pytest.mark.parametrize("act", ["relu", "gelu", "F.gelu", "GELU()"])
@pytest.mark.parametrize("layers", [None, 2])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", [False, True])
def test_encoder_matches_torch(act, layers, norm_first, batch_first, masks):
    """Outputs, input and parameter gradients in eval mode, and in train mode with dropout 0."""
    torch = pytest.importorskip("torch")
    ours, theirs = _encoder_pair(torch, act, layers, norm_first, batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 8) if batch_first else (5, 3, 8))
    kpm = np.zeros((3, 5), bool)
    kpm[0, 3:] = True
    am = rng.standard_normal((5, 5))  # a float mask: added to the scores
    for train in (False, True):
        res = []
        for lib, m in ((mt, ours), (torch, theirs)):
            m.train(train)
            xs = lib.tensor(x, requires_grad=True)
            kw = {}
            if masks:
                kw = {"mask" if layers else "src_mask": lib.tensor(am),
                      "src_key_padding_mask": lib.tensor(kpm)}  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                y = m(xs, **kw)
            (y * lib.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)))).sum().backward()
            res.append(
                [y.detach().numpy(), xs.grad.numpy()] + [p.grad.numpy() for p in m.parameters()]
            )
            m.zero_grad()
        for i, (a, b) in enumerate(zip(*res)):
            np.testing.assert_allclose(
                a, b, rtol=1e-9, atol=1e-11, err_msg=f"train={train} result {i}"
            )


@pytest.mark.parity
def test_encoder_matches_torchs_inference_fast_path():
    """torch's fused kernel (eval, no grad, batch_first, even heads) gives the same numbers,
    and with a padding mask its nested-tensor path agrees at every non-padded position."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(8, 2, 12, batch_first=True, activation="gelu")
    theirs = torch.nn.TransformerEncoder(tl, 2).eval()
    ours = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(8, 2, 12, batch_first=True, activation="gelu"), 2
    ).eval()
    load_torch(ours, theirs)
    x = np.random.default_rng(0).standard_normal((3, 5, 8)).astype(np.float32)
    kpm = np.zeros((3, 5), bool)
    kpm[0, 3:] = True
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "nested tensors are in prototype stage"
        yt = theirs(torch.tensor(x)).numpy()
        ytm = theirs(torch.tensor(x), src_key_padding_mask=torch.tensor(kpm)).numpy()
    with mt.no_grad():
        y = ours(mt.tensor(x)).numpy()
        ym = ours(mt.tensor(x), src_key_padding_mask=mt.tensor(kpm)).numpy()
    np.testing.assert_allclose(y, yt, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ym[~kpm], ytm[~kpm], rtol=1e-4, atol=1e-5)


@pytest.mark.parity
def test_encoder_state_dict_and_repr_equal_torch():
    torch = pytest.importorskip("torch")
    for kw in (dict(), dict(activation=nn.GELU()), dict(bias=False, norm_first=True)):
        tkw = dict(kw, activation=torch.nn.GELU()) if "activation" in kw else kw
        ol, tl = (
            nn.TransformerEncoderLayer(8, 2, 16, **kw),
            torch.nn.TransformerEncoderLayer(8, 2, 16, **tkw),
        )
        assert repr(ol) == repr(tl)
        assert list(ol.state_dict()) == list(tl.state_dict())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            te = torch.nn.TransformerEncoder(tl, 3, norm=torch.nn.LayerNorm(8))
            te1 = torch.nn.TransformerEncoder(tl, 1)
        oe = nn.TransformerEncoder(ol, 3, norm=nn.LayerNorm(8))
        assert list(oe.state_dict()) == list(te.state_dict())
        # ModuleList folds repeated layers into "(0-2): 3 x ...", as torch's
        assert repr(oe) == repr(te)
        assert repr(nn.TransformerEncoder(ol, 1)) == repr(te1)
    assert nn.TransformerEncoderLayer(8, 2, activation="gelu").activation is F.gelu
    assert nn.TransformerEncoderLayer(8, 2).activation_relu_or_gelu == 1


def test_encoder_layers_are_independent_deep_copies():
    mt.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 3)
    assert len(enc.layers) == enc.num_layers == 3
    w = [m.linear1.weight for m in enc.layers]
    assert len({id(t) for t in w + [layer.linear1.weight]}) == 4
    for t in w:  # all start equal, as in PyTorch
        np.testing.assert_array_equal(t.numpy(), layer.linear1.weight.numpy())
    enc.layers[0].linear1.weight.data[...] = 0.0
    assert np.abs(enc.layers[1].linear1.weight.numpy()).sum() > 0
    assert enc.use_nested_tensor is False and enc.enable_nested_tensor is True


def test_encoder_layer_loop_reference_post_norm():
    """One post-norm layer, eval, written out: LayerNorm(x + MHA(x)), LayerNorm(. + FF(.))."""
    mt.manual_seed(0)
    layer = nn.TransformerEncoderLayer(6, 3, 10, dtype=np.float64).eval()
    x = np.random.default_rng(0).standard_normal((4, 6))

    def ln(a):
        return (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5)

    h = ln(x + loop_mha(layer.self_attn, x, x, x))
    w1, b1 = layer.linear1.weight.numpy(), layer.linear1.bias.numpy()
    w2, b2 = layer.linear2.weight.numpy(), layer.linear2.bias.numpy()
    want = ln(h + np.maximum(h @ w1.T + b1, 0) @ w2.T + b2)
    np.testing.assert_allclose(layer(mt.tensor(x)).numpy(), want, rtol=1e-10, atol=1e-12)


def test_encoder_dropout_in_train_mode_is_seeded():
    mt.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.3), 2)
    x = mt.randn(5, 2, 8)
    mt.manual_seed(1)
    a = enc(x).numpy()
    mt.manual_seed(1)
    np.testing.assert_array_equal(a, enc(x).numpy())
    assert not np.allclose(a, enc.eval()(x).numpy())


@SETTINGS
@given(norm_first=st.booleans(), batch_first=st.booleans(), act=st.sampled_from(["relu", "gelu"]),
       seed=st.integers(0, 2**16))  # fmt: skip
def test_encoder_layer_gradcheck_float64(norm_first, batch_first, act, seed):
    mt.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(4, 2, 6, 0.0, act, 1e-5, batch_first, norm_first)
    layer.double()
    x = np.random.default_rng(seed).standard_normal((2, 3, 4) if batch_first else (3, 2, 4))
    am = np.triu(np.ones((3, 3), bool), 1)
    assert mt.gradcheck(
        lambda t: layer(t, src_mask=mt.tensor(am)), [mt.tensor(x, requires_grad=True)]
    )


def test_encoder_errors_name_the_layer_and_the_shapes():
    with pytest.raises(
        ValueError, match=r"TransformerEncoderLayer: activation should be relu/gelu, not tanh"
    ):
        nn.TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(
        ValueError,
        match=r"MultiheadAttention: embed_dim \(8\) must be divisible by num_heads \(3\)",
    ):
        nn.TransformerEncoderLayer(8, 3)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(
        ValueError,
        match=r"TransformerEncoderLayer\(d_model=8, nhead=2\): expected src \(N, S, 8\) or "
        r"unbatched \(S, 8\), got shape \(2, 5, 7\)",
    ):
        layer(mt.randn(2, 5, 7))
    enc = nn.TransformerEncoder(layer, 2)
    with pytest.raises(
        ValueError,
        match=r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected attn_mask of shape "
        r"\(5, 5\)",
    ):
        enc(mt.randn(2, 5, 8), mask=mt.zeros(4, 4))
    with pytest.raises(ValueError, match=r"TransformerEncoder: num_layers must be a positive int"):
        nn.TransformerEncoder(layer, 0)
