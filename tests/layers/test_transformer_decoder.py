"""TransformerDecoderLayer, TransformerDecoder, Transformer: equal to PyTorch in float64
(outputs, input and parameter gradients, with torch's state_dict loaded; eval, and train with
dropout 0) over activations, norm placement, layouts and masks; state_dict keys and reprs equal
torch's; generate_square_subsequent_mask equals torch's; a written-out reference layer; float64
gradcheck; the parameter count by hand; PyTorch's xavier reset; clear errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import layers as nn
from tests.layers.test_transformer import load_torch, loop_mha

E, H, FF, N, T, S = 8, 2, 12, 3, 4, 5


def _causal(t):
    return np.triu(np.ones((t, t), bool), 1)


def _decoder_pair(torch, act, layers, norm_first, batch_first):
    torch.manual_seed(0)
    args = (E, H, FF, 0.0, act, 1e-5, batch_first, norm_first)
    tl, ol = torch.nn.TransformerDecoderLayer(*args), nn.TransformerDecoderLayer(*args)
    if layers:
        theirs = torch.nn.TransformerDecoder(tl, layers, norm=torch.nn.LayerNorm(E))
        ours = nn.TransformerDecoder(ol, layers, norm=nn.LayerNorm(E))
    else:
        theirs, ours = tl, ol
    theirs.double()
    ours.double()
    load_torch(ours, theirs)
    return ours, theirs


def _decoder_masks(kind, layer):
    """Keyword masks as NumPy arrays; column 0 of every padding mask stays unmasked."""
    rng = np.random.default_rng(1)
    if kind == "none":
        return {}
    mkpm = np.zeros((N, S), bool)
    mkpm[0, 3:] = True
    if kind == "causal":  # the causal tgt mask; a true hint on the layer, detected by torch's stack
        cm = nn.Transformer.generate_square_subsequent_mask(T, dtype=np.float64).numpy()
        return dict(tgt_mask=cm, memory_key_padding_mask=mkpm,
                    **({"tgt_is_causal": True} if layer else {}))  # fmt: skip
    tkpm = np.zeros((N, T), bool)
    tkpm[1, 2:] = True
    mm = rng.random((T, S)) < 0.4
    mm[:, 0] = False
    return dict(
        tgt_mask=rng.standard_normal((T, T)),  # a float mask: added to the scores
        memory_mask=mm,
        tgt_key_padding_mask=tkpm,
        memory_key_padding_mask=mkpm,
    )


def _run_both(torch, ours, theirs, inputs, masks, train):
    """Outputs, input gradients and parameter gradients of both, for a fixed linear loss."""
    res = []
    for lib, m in ((mt, ours), (torch, theirs)):
        m.train(train)
        xs = [lib.tensor(x, requires_grad=True) for x in inputs]
        kw = {k: (lib.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in masks.items()}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch: "enable_nested_tensor is True, but ..."
            y = m(*xs, **kw)
        w = lib.tensor(np.linspace(-1, 1, y.numel()).reshape(tuple(y.shape)))
        (y * w).sum().backward()
        res.append(
            [y.detach().numpy()]
            + [x.grad.numpy() for x in xs]
            + [p.grad.numpy() for p in m.parameters()]
        )
        m.zero_grad()
    assert len(res[0]) == len(res[1])
    for i, (a, b) in enumerate(zip(*res)):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"train={train} result {i}")


@pytest.mark.parity
@pytest.mark.parametrize("act", ["relu", "gelu"])
@pytest.mark.parametrize("layers", [None, 2])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "all", "causal"])
def test_decoder_matches_torch(act, layers, norm_first, batch_first, masks):
    """Layer and a 2-layer stack with a final LayerNorm: eval, and train with dropout 0."""
    torch = pytest.importorskip("torch")
    ours, theirs = _decoder_pair(torch, act, layers, norm_first, batch_first)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(0)
    tgt = rng.standard_normal((N, T, E) if batch_first else (T, N, E))
    mem = rng.standard_normal((N, S, E) if batch_first else (S, N, E))
    for train in (False, True):
        _run_both(torch, ours, theirs, [tgt, mem], _decoder_masks(masks, layers is None), train)


@pytest.mark.parity
@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_unbatched_matches_torch(norm_first):
    torch = pytest.importorskip("torch")
    ours, theirs = _decoder_pair(torch, "relu", None, norm_first, False)
    rng = np.random.default_rng(2)
    tgt, mem = rng.standard_normal((T, E)), rng.standard_normal((S, E))
    masks = dict(tgt_mask=_causal(T), memory_key_padding_mask=np.arange(S) >= 3)
    _run_both(torch, ours, theirs, [tgt, mem], masks, False)


def _transformer_pair(torch, norm_first, batch_first, act="relu"):
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
              dim_feedforward=FF, dropout=0.0, activation=act, batch_first=batch_first,
              norm_first=norm_first)  # fmt: skip
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.nn.Transformer(**kw).double()
    ours = nn.Transformer(**kw, dtype=np.float64)
    load_torch(ours, theirs)
    return ours, theirs


@pytest.mark.parity
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("layout", ["seq_first", "batch_first", "unbatched"])
def test_transformer_matches_torch(norm_first, layout):
    """A small nn.Transformer with every mask: outputs, src / tgt and parameter gradients."""
    torch = pytest.importorskip("torch")
    ours, theirs = _transformer_pair(torch, norm_first, layout == "batch_first", "gelu")
    assert list(ours.state_dict()) == list(theirs.state_dict())
    rng = np.random.default_rng(3)
    shape = {"seq_first": lambda t: (t, N, E), "batch_first": lambda t: (N, t, E),
             "unbatched": lambda t: (t, E)}[layout]  # fmt: skip
    src, tgt = rng.standard_normal(shape(S)), rng.standard_normal(shape(T))
    skpm = np.zeros((N, S), bool)
    skpm[2, 4:] = True
    tkpm = np.zeros((N, T), bool)
    tkpm[0, 3:] = True
    if layout == "unbatched":
        skpm, tkpm = skpm[2], tkpm[0]
    masks = dict(
        src_mask=rng.standard_normal((S, S)),
        tgt_mask=nn.Transformer.generate_square_subsequent_mask(T, dtype=np.float64).numpy(),
        src_key_padding_mask=skpm,
        tgt_key_padding_mask=tkpm,
        memory_key_padding_mask=skpm,
    )
    for train in (False, True):
        _run_both(torch, ours, theirs, [src, tgt], masks, train)


@pytest.mark.parity
def test_generate_square_subsequent_mask_equals_torchs():
    torch = pytest.importorskip("torch")
    for sz in (1, 2, 5):
        m = nn.Transformer.generate_square_subsequent_mask(sz)
        t = torch.nn.Transformer.generate_square_subsequent_mask(sz)
        assert m.dtype == np.float32 and tuple(m.shape) == (sz, sz)
        np.testing.assert_array_equal(m.numpy(), t.numpy())
    m64 = nn.Transformer.generate_square_subsequent_mask(3, dtype=np.float64)
    assert m64.dtype == np.float64
    np.testing.assert_array_equal(m64.numpy(), np.where(_causal(3), -np.inf, 0.0))


@pytest.mark.parity
def test_decoder_and_transformer_state_dict_and_repr_equal_torch():
    torch = pytest.importorskip("torch")
    for kw in (dict(), dict(activation=nn.GELU()), dict(bias=False, norm_first=True)):
        tkw = dict(kw, activation=torch.nn.GELU()) if "activation" in kw else kw
        ol = nn.TransformerDecoderLayer(8, 2, 16, **kw)
        tl = torch.nn.TransformerDecoderLayer(8, 2, 16, **tkw)
        assert repr(ol) == repr(tl)
        assert list(ol.state_dict()) == list(tl.state_dict())
        od = nn.TransformerDecoder(ol, 3, norm=nn.LayerNorm(8))
        td = torch.nn.TransformerDecoder(tl, 3, norm=torch.nn.LayerNorm(8))
        assert list(od.state_dict()) == list(td.state_dict())
        assert repr(od) == repr(td)
        assert repr(nn.TransformerDecoder(ol, 1)) == repr(torch.nn.TransformerDecoder(tl, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tt = torch.nn.Transformer(16, 2, 1, 2, 32, bias=False)
    ot = nn.Transformer(16, 2, 1, 2, 32, bias=False)
    assert list(ot.state_dict()) == list(tt.state_dict())
    assert repr(ot) == repr(tt)
    assert (ot.d_model, ot.nhead, ot.batch_first) == (tt.d_model, tt.nhead, tt.batch_first)


def test_transformer_parameter_count_by_hand():
    d, ff = 16, 32
    mha = 3 * d * d + 3 * d + d * d + d  # in_proj weight + bias, out_proj weight + bias
    ffn = d * ff + ff + ff * d + d  # linear1, linear2
    ln = 2 * d  # weight, bias
    enc_layer = mha + ffn + 2 * ln
    dec_layer = 2 * mha + ffn + 3 * ln
    want = enc_layer + dec_layer + 2 * ln  # + the encoder's and the decoder's final LayerNorm
    assert want == 5632
    m = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=32)  # fmt: skip
    assert sum(p.numel() for p in m.parameters()) == want


def test_transformer_reset_is_xavier_uniform_on_every_matrix():
    """After PyTorch's reset every >1-D parameter lies within the Glorot bound and the
    deep-copied layers no longer share their starting weights; vectors keep their init."""
    mt.manual_seed(0)
    m = nn.Transformer(16, 2, 2, 2, 32)
    for name, p in m.named_parameters():
        if p.ndim > 1:
            fan_out, fan_in = p.shape
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            assert np.abs(p.numpy()).max() <= bound, name
            assert np.abs(p.numpy()).max() > 0.8 * bound, name
        elif name.endswith("in_proj_bias") or name.endswith("out_proj.bias"):
            assert not p.numpy().any(), name
        elif "norm" in name:
            assert np.all(p.numpy() == (1.0 if name.endswith("weight") else 0.0)), name
    for stack in (m.encoder, m.decoder):
        a, b = (layer.linear1.weight.numpy() for layer in stack.layers)
        assert not np.array_equal(a, b)


def test_decoder_layer_loop_reference_post_norm():
    """One post-norm layer, eval, unbatched, written out with the head-by-head attention."""
    mt.manual_seed(0)
    layer = nn.TransformerDecoderLayer(6, 3, 10, dtype=np.float64).eval()
    rng = np.random.default_rng(0)
    x, mem = rng.standard_normal((4, 6)), rng.standard_normal((5, 6))
    mkpm = np.arange(5) >= 3

    def ln(a):
        return (a - a.mean(-1, keepdims=True)) / np.sqrt(a.var(-1, keepdims=True) + 1e-5)

    h = ln(x + loop_mha(layer.self_attn, x, x, x, am=_causal(4)))
    h = ln(h + loop_mha(layer.multihead_attn, h, mem, mem, kpm=mkpm))
    w1, b1 = layer.linear1.weight.numpy(), layer.linear1.bias.numpy()
    w2, b2 = layer.linear2.weight.numpy(), layer.linear2.bias.numpy()
    want = ln(h + np.maximum(h @ w1.T + b1, 0) @ w2.T + b2)
    got = layer(mt.tensor(x), mt.tensor(mem), tgt_mask=mt.tensor(_causal(4)),
                memory_key_padding_mask=mt.tensor(mkpm))  # fmt: skip
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("act", ["relu", "gelu"])
def test_decoder_layer_gradcheck_float64(norm_first, batch_first, act):
    mt.manual_seed(0)
    layer = nn.TransformerDecoderLayer(4, 2, 6, 0.0, act, 1e-5, batch_first, norm_first).double()
    rng = np.random.default_rng(0)
    tgt = rng.standard_normal((2, 3, 4) if batch_first else (3, 2, 4))
    mem = rng.standard_normal((2, 4, 4) if batch_first else (4, 2, 4))
    mkpm = np.array([[False, False, False, True], [False, False, False, False]])
    assert mt.gradcheck(
        lambda t, m: layer(
            t, m, tgt_mask=mt.tensor(_causal(3)), memory_key_padding_mask=mt.tensor(mkpm)
        ),  # fmt: skip
        [mt.tensor(tgt, requires_grad=True), mt.tensor(mem, requires_grad=True)],
    )


def test_decoder_dropout_in_train_mode_is_seeded():
    mt.manual_seed(0)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.3), 2)
    x, mem = mt.randn(4, 2, 8), mt.randn(5, 2, 8)
    mt.manual_seed(1)
    a = dec(x, mem).numpy()
    mt.manual_seed(1)
    np.testing.assert_array_equal(a, dec(x, mem).numpy())
    assert not np.allclose(a, dec.eval()(x, mem).numpy())


def test_transformer_uses_custom_encoder_and_decoder():
    mt.manual_seed(0)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 1)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0), 1)
    m = nn.Transformer(8, 2, custom_encoder=enc, custom_decoder=dec).eval()
    assert m.encoder is enc and m.decoder is dec and enc.norm is None
    src, tgt = mt.randn(5, 2, 8), mt.randn(4, 2, 8)
    np.testing.assert_array_equal(m(src, tgt).numpy(), dec(tgt, enc(src)).numpy())


def test_decoder_and_transformer_errors_name_the_layer_and_the_shapes():
    layer = nn.TransformerDecoderLayer(8, 2, 16, batch_first=True)
    m = nn.Transformer(8, 2, 1, 1, 16)
    lab = r"TransformerDecoderLayer\(d_model=8, nhead=2\): "
    tlab = r"Transformer\(d_model=8, nhead=2\): "
    cases = [
        (lambda: layer(mt.randn(2, 4, 7), mt.randn(2, 5, 8)),
         lab + r"expected tgt \(N, T, 8\) or unbatched \(T, 8\), got shape \(2, 4, 7\)"),
        (lambda: layer(mt.randn(2, 4, 8), mt.randn(2, 5, 6)),
         lab + r"expected memory \(N, S, 8\) or unbatched \(S, 8\), got shape \(2, 5, 6\)"),
        (lambda: layer(mt.randn(2, 4, 8), mt.randn(3, 5, 8)),
         lab + r"tgt and memory have different batch sizes \(dim 0\), "
         r"got tgt \(2, 4, 8\), memory \(3, 5, 8\)"),
        (lambda: layer(mt.randn(4, 8), mt.randn(2, 5, 8)),
         lab + r"tgt and memory must be both batched or both unbatched, "
         r"got tgt \(4, 8\), memory \(2, 5, 8\)"),
        (lambda: nn.TransformerDecoderLayer(8, 2, activation="tanh"),
         r"TransformerDecoderLayer: activation should be relu/gelu, not tanh"),
        (lambda: nn.TransformerDecoder(layer, 0),
         r"TransformerDecoder: num_layers must be a positive int"),
        (lambda: m(mt.randn(5, 2, 8), mt.randn(4, 3, 8)),
         tlab + r"src and tgt have different batch sizes \(dim 1\), "
         r"got src \(5, 2, 8\), tgt \(4, 3, 8\)"),
        (lambda: m(mt.randn(5, 2, 8), mt.randn(4, 2, 6)),
         tlab + r"expected tgt \(T, N, 8\) or unbatched \(T, 8\), got shape \(4, 2, 6\)"),
        (lambda: m(mt.randn(5, 2, 8), mt.randn(4, 2, 8), tgt_mask=mt.zeros(5, 5)),
         r"MultiheadAttention\(embed_dim=8, num_heads=2\): expected attn_mask of shape "
         r"\(4, 4\)"),
    ]  # fmt: skip
    for call, msg in cases:
        with pytest.raises(ValueError, match=msg):
            call()
    with pytest.raises(TypeError, match=r"TransformerDecoder: decoder_layer must be a Module"):
        nn.TransformerDecoder("layer", 2)
