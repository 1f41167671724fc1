"""Attention and transformers: MultiheadAttention, TransformerEncoderLayer, TransformerEncoder,
TransformerDecoderLayer, TransformerDecoder and Transformer, with PyTorch's arguments, parameter
names, initialisation and state_dict keys (a torch state_dict loads as it is). The attention
itself is F.scaled_dot_product_attention and the pieces it is built of
(functional/attention.py); these modules hold the weights and arrange the heads.

Shapes use PyTorch's letters: N batch, L target (query) length, S source (key) length,
E embed_dim, H num_heads, hd = E / H the width of one head.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from .. import functional as F
from .. import init
from ..backend import xp_of
from ..functional.attention import _attention, scaled_dot_product_attention
from ..tensor import Tensor, empty, full
from .activation import GELU, ReLU
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module, Parameter
from .norm import LayerNorm


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under PyTorch's name for MultiheadAttention.out_proj (so reprs match); the same
    layer in every other respect."""


def _positive_int(who: str, name: str, v) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
        raise ValueError(f"{who}: {name} must be a positive int, got {v!r}")
    return int(v)


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017), PyTorch's nn.MultiheadAttention:
    softmax(Q_h K_h^T / sqrt(hd)) V_h for each head h, heads concatenated and projected.

    Args:
        embed_dim (int): E, the model width (and the query's feature size).
        num_heads (int): H; must divide E.
        dropout (float): dropout on the attention weights in training mode. Default: 0.0.
        bias (bool): biases for the input and output projections. Default: True.
        add_bias_kv (bool): learn one extra key and value (bias_k, bias_v) appended to the
            sequence. Default: False.
        add_zero_attn (bool): append an all-zero key and value (after the heads are split).
            Default: False.
        kdim, vdim (int): feature sizes of key and value. Default: None (= embed_dim).
        batch_first (bool): inputs and output are (N, L, E) instead of (L, N, E). Default: False.
        device, dtype: where and in which float type the weights live.

    Parameters (PyTorch's names): in_proj_weight (3E, E), or q_proj_weight (E, E),
    k_proj_weight (E, kdim), v_proj_weight (E, vdim) when kdim or vdim differ from E, all
    xavier_uniform_; in_proj_bias (3E,) = 0; out_proj, a Linear(E, E) whose bias is 0;
    bias_k, bias_v (1, 1, E) xavier_normal_ with add_bias_kv.

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
            average_attn_weights=True, is_causal=False) -> (attn_output, attn_weights or None)

    Shape:
        query (L, N, E), key (S, N, kdim), value (S, N, vdim); (N, L, E) ... with batch_first;
        unbatched (L, E), (S, kdim), (S, vdim).
        key_padding_mask (N, S) or (S,): bool, True = ignore that key; or float, added.
        attn_mask (L, S) or (N * H, L, S) (unbatched: (H, L, S)): bool, True = may NOT attend
            (the opposite of scaled_dot_product_attention's bool mask); or float, added.
        attn_output like query with E features; attn_weights (N, L, S') averaged over heads or
        (N, H, L, S') per head, S' = S (+1 with add_bias_kv, +1 with add_zero_attn); unbatched
        without N.
        is_causal=True is a hint that attn_mask is the causal mask and needs attn_mask, as in
        PyTorch; with need_weights=False and no key_padding_mask the causal mask is applied
        in its place.

    A query whose keys are all masked: with need_weights=True its output and weights are NaN
    (a plain softmax, PyTorch's need_weights path); with need_weights=False its output is the
    output projection of zeros (scaled_dot_product_attention's safe softmax), as in PyTorch.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        who = "MultiheadAttention"
        embed_dim = _positive_int(who, "embed_dim", embed_dim)
        num_heads = _positive_int(who, "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"{who}: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            )
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{who}: dropout has to be between 0 and 1, but got {dropout}")
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else _positive_int(who, "kdim", kdim)
        self.vdim = embed_dim if vdim is None else _positive_int(who, "vdim", vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        e, kw = embed_dim, dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(empty(3 * e, e, **kw))
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = Parameter(empty(e, e, **kw))
            self.k_proj_weight = Parameter(empty(e, self.kdim, **kw))
            self.v_proj_weight = Parameter(empty(e, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty(3 * e, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(empty(1, 1, e, **kw))
            self.bias_v = Parameter(empty(1, 1, e, **kw))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's: xavier_uniform_ projections, zero biases, xavier_normal_ bias_k / bias_v
        (out_proj.weight keeps Linear's default init)."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ------------------------------------------------------------------ checks

    def _label(self) -> str:
        return f"MultiheadAttention(embed_dim={self.embed_dim}, num_heads={self.num_heads})"

    def _check_inputs(self, query, key, value) -> None:
        lab, bf = self._label(), self.batch_first
        shapes = (
            f"got query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
        )

        def lay(seq, dim):
            return f"(N, {seq}, {dim})" if bf else f"({seq}, N, {dim})"

        want = (
            f"expected query {lay('L', self.embed_dim)}, key {lay('S', self.kdim)}, value "
            f"{lay('S', self.vdim)}, or unbatched (L, {self.embed_dim}), (S, {self.kdim}), "
            f"(S, {self.vdim})"
        )
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"{lab}: {want}; {shapes}")
        if (query.shape[-1], key.shape[-1], value.shape[-1]) != (
            self.embed_dim,
            self.kdim,
            self.vdim,
        ):
            raise ValueError(
                f"{lab}: expected last dims query {self.embed_dim}, key {self.kdim}, value "
                f"{self.vdim}; {shapes}"
            )
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"{lab}: key and value must have the same (S, N) dims; {shapes}")
        if query.ndim == 3:
            b = 0 if bf else 1
            if query.shape[b] != key.shape[b]:
                raise ValueError(
                    f"{lab}: query and key have different batch sizes (dim {b}); {shapes}"
                )
        for t in (query, key, value):
            if t.dtype.kind != "f":
                raise TypeError(f"{lab}: expected floating inputs, {shapes} of dtype {t.dtype}")
        w = self.out_proj.weight.dtype
        if any(t.dtype != w for t in (query, key, value)):
            raise TypeError(
                f"{lab}: expected inputs of the weights' dtype {w}, {shapes} of dtypes "
                f"{query.dtype}, {key.dtype}, {value.dtype}; convert the inputs (x.to({w})) or "
                "the layer (.to(dtype))"
            )

    def _canonical_mask(self, mask, name: str, want: tuple, dtype):
        """A bool mask (True = masked) as a float bias 0 / -inf of `dtype`, a float mask as it
        is; its shape must be one of `want`."""
        if mask is None:
            return None
        mask = mask if isinstance(mask, Tensor) else Tensor(mask)
        if tuple(mask.shape) not in want:
            shown = " or ".join(str(s) for s in want)
            raise ValueError(
                f"{self._label()}: expected {name} of shape {shown}, got {tuple(mask.shape)}"
            )
        if mask.dtype == np.bool_:
            xp = xp_of(mask._data)
            return Tensor(xp.where(mask._data, xp.asarray(-np.inf, dtype), xp.asarray(0, dtype)))
        if mask.dtype != dtype:
            raise TypeError(
                f"{self._label()}: {name} must be bool or of the query's dtype {dtype}, "
                f"got {mask.dtype}"
            )
        return mask

    # ------------------------------------------------------------------ forward

    def _in_projection(self, query, key, value, same: bool):
        """q (N, L, E), k (N, S, E), v (N, S, E). Self-attention (one tensor for all three)
        with packed weights is one GEMM, as in PyTorch."""
        e, b = self.embed_dim, self.in_proj_bias
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if same:
                proj = F.linear(query, w, b)  # (N, L, 3E)
                return tuple(proj[..., i * e : (i + 1) * e] for i in range(3))
            ws = (w[:e], w[e : 2 * e], w[2 * e :])
        else:
            ws = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)
        bs = (None,) * 3 if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        return tuple(F.linear(x, wi, bi) for x, wi, bi in zip((query, key, value), ws, bs))

    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        self._check_inputs(query, key, value)
        same = query is key and key is value
        batched = query.ndim == 3
        # internally batch first: (N, L, E)
        if not batched:
            query, key, value = query.unsqueeze(0), key.unsqueeze(0), value.unsqueeze(0)
        elif not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        n, tgt, _ = query.shape
        src = key.shape[1]
        h, hd, e = self.num_heads, self.head_dim, self.embed_dim
        dtype = query.dtype

        kpm = self._canonical_mask(
            key_padding_mask, "key_padding_mask", [(n, src)] if batched else [(src,)], dtype
        )
        am = self._canonical_mask(
            attn_mask, "attn_mask", [(tgt, src), ((n * h if batched else h), tgt, src)], dtype
        )
        if is_causal and attn_mask is None:
            raise ValueError(
                f"{self._label()}: is_causal=True is a hint that attn_mask is the causal mask "
                "and needs attn_mask (as in PyTorch)"
            )
        causal = is_causal and key_padding_mask is None and not need_weights
        if causal:
            am = None  # the causal mask is applied by scaled_dot_product_attention

        q, k, v = self._in_projection(query, key, value, same)
        if self.bias_k is not None:  # one learned key / value appended to the sequence
            k = F.cat([k, self.bias_k.expand(n, 1, e)], dim=1)
            v = F.cat([v, self.bias_v.expand(n, 1, e)], dim=1)
            am, kpm = _pad_last(am), _pad_last(kpm)
        q, k, v = (t.reshape(n, t.shape[1], h, hd).transpose(1, 2) for t in (q, k, v))
        if self.add_zero_attn:  # one all-zero key / value per head
            xp = xp_of(k._data)
            zeros = Tensor(xp.zeros((n, h, 1, hd), dtype=k.dtype))
            k, v = F.cat([k, zeros], dim=2), F.cat([v, zeros], dim=2)
            am, kpm = _pad_last(am), _pad_last(kpm)

        # one additive bias broadcasting to (N, H, L, S')
        bias = None
        if am is not None:
            bias = am.reshape(1, 1, *am.shape) if am.ndim == 2 else am.reshape(n, h, tgt, -1)
        if kpm is not None:
            kpm = kpm.reshape(n, 1, 1, kpm.shape[-1])
            bias = kpm if bias is None else bias + kpm
        p = self.dropout if self.training else 0.0

        weights = None
        if need_weights:  # PyTorch's path: q scaled by sqrt(1 / hd), a plain softmax
            out, weights = _attention(q, k, v, bias, None, math.sqrt(1.0 / hd), p)
        else:
            out = scaled_dot_product_attention(q, k, v, bias, p, causal)
        out = self.out_proj(out.transpose(1, 2).reshape(n, tgt, e))

        if weights is not None and average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            out = out.squeeze(0)
            weights = None if weights is None else weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights


def _pad_last(mask):
    """A float bias with one more key column, 0 (attend), for an appended key."""
    if mask is None:
        return None
    xp = xp_of(mask._data)
    return F.cat([mask, Tensor(xp.zeros(mask.shape[:-1] + (1,), dtype=mask.dtype))], dim=-1)


def _resolve_activation(who: str, activation):
    """'relu' / 'gelu' as F.relu / F.gelu; any other callable as it is."""
    if isinstance(activation, str):
        if activation not in ("relu", "gelu"):
            raise ValueError(f"{who}: activation should be relu/gelu, not {activation}")
        activation = F.relu if activation == "relu" else F.gelu
    if not callable(activation):
        raise TypeError(
            f"{who}: activation must be 'relu', 'gelu' or a callable, got "
            f"{type(activation).__name__}"
        )
    return activation


def _check_seq(who: str, name: str, x, seq: str, e: int, batch_first: bool) -> None:
    """x must be (seq, N, e), (N, seq, e) with batch_first, or unbatched (seq, e)."""
    if x.ndim not in (2, 3) or x.shape[-1] != e:
        lay = f"(N, {seq}, {e})" if batch_first else f"({seq}, N, {e})"
        raise ValueError(
            f"{who}: expected {name} {lay} or unbatched ({seq}, {e}), got shape {tuple(x.shape)}"
        )


def _check_same_batch(who: str, a_name: str, a, b_name: str, b, batch_first: bool) -> None:
    """Two sequences (already through _check_seq) both batched with one batch size, or both
    unbatched."""
    shapes = f"{a_name} {tuple(a.shape)}, {b_name} {tuple(b.shape)}"
    if a.ndim != b.ndim:
        raise ValueError(
            f"{who}: {a_name} and {b_name} must be both batched or both unbatched, got {shapes}"
        )
    d = 0 if batch_first else 1
    if a.ndim == 3 and a.shape[d] != b.shape[d]:
        raise ValueError(
            f"{who}: {a_name} and {b_name} have different batch sizes (dim {d}), got {shapes}"
        )


def _clones(who: str, arg: str, layer, num_layers) -> ModuleList:
    """num_layers deep copies of `layer` (all start with the same weights, as in PyTorch)."""
    if not isinstance(layer, Module):
        raise TypeError(f"{who}: {arg} must be a Module, got {type(layer).__name__}")
    num_layers = _positive_int(who, "num_layers", num_layers)
    return ModuleList([copy.deepcopy(layer) for _ in range(num_layers)])


class _TransformerLayer(Module):
    """What TransformerEncoderLayer and TransformerDecoderLayer share: their submodules, built
    in PyTorch's order (so state_dict keys and reprs match), the input check, and the
    attention and feed-forward residual branches. The decoder (_cross = True) adds
    multihead_attn, norm3 and dropout3."""

    _cross = False

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation=F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = dict(device=device, dtype=dtype)

        def attn():
            return MultiheadAttention(
                d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw
            )

        def norm():
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)

        self.self_attn = attn()
        if self._cross:
            self.multihead_attn = attn()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1, self.norm2 = norm(), norm()
        if self._cross:
            self.norm3 = norm()
        self.dropout1, self.dropout2 = Dropout(dropout), Dropout(dropout)
        if self._cross:
            self.dropout3 = Dropout(dropout)
        # a Module registers itself, as in PyTorch
        self.activation = _resolve_activation(type(self).__name__, activation)

    def _label(self) -> str:
        a = self.self_attn
        return f"{type(self).__name__}(d_model={a.embed_dim}, nhead={a.num_heads})"

    def _check(self, name: str, x, seq: str) -> None:
        a = self.self_attn
        _check_seq(self._label(), name, x, seq, a.embed_dim, a.batch_first)

    def _attn_block(self, attn, drop, x, mem, attn_mask, key_padding_mask, is_causal):
        """drop(attn(x, mem, mem)): self-attention when mem is x."""
        x = attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return drop(x)

    def _ff_block(self, x, drop):
        return drop(self.linear2(self.dropout(self.activation(self.linear1(x)))))


class TransformerEncoderLayer(_TransformerLayer):
    """One transformer encoder block (PyTorch's nn.TransformerEncoderLayer): self-attention
    and a two-layer feed-forward network, each in a residual branch with LayerNorm.

        norm_first=False (post-norm): x = norm1(x + sa(x));  x = norm2(x + ff(x))
        norm_first=True  (pre-norm, ViT): x = x + sa(norm1(x));  x = x + ff(norm2(x))
        sa(x) = dropout1(self_attn(x, x, x));  ff(x) = dropout2(linear2(dropout(act(linear1(x)))))

    Args:
        d_model (int): E. nhead (int): H, divides E.
        dim_feedforward (int): width of the feed-forward hidden layer. Default: 2048.
        dropout (float): every dropout's p (attention weights included). Default: 0.1.
        activation (str or callable): "relu", "gelu" or a function / module. Default: relu.
        layer_norm_eps (float): Default: 1e-5.
        batch_first (bool): (N, S, E) instead of (S, N, E). Default: False.
        norm_first (bool): pre-norm. Default: False.
        bias (bool): biases in the linear layers and the LayerNorms. Default: True.
        device, dtype: where and in which float type the weights live.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False): src (S, N, E),
    (N, S, E) with batch_first, or unbatched (S, E); masks as MultiheadAttention's attn_mask
    and key_padding_mask. Output: like src.

    Submodules (state_dict keys as PyTorch's): self_attn, linear1, dropout, linear2, norm1,
    norm2, dropout1, dropout2 (and activation when it is a module). PyTorch's fused inference
    kernel is not reproduced: every mode runs the composed path (same values).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation=F.relu,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__(
            d_model,
            nhead,
            dim_feedforward,
            dropout,
            activation,
            layer_norm_eps,
            batch_first,
            norm_first,
            bias,
            device,
            dtype,
        )
        # PyTorch's flag for its fused kernel: 1 relu, 2 gelu, 0 anything else
        act = self.activation
        if act is F.relu or isinstance(act, ReLU):
            self.activation_relu_or_gelu = 1
        elif act is F.gelu or isinstance(act, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        self._check("src", src, "S")
        x = src

        def sa(y):
            sa_, d1 = self.self_attn, self.dropout1
            return self._attn_block(sa_, d1, y, y, src_mask, src_key_padding_mask, is_causal)

        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + self._ff_block(self.norm2(x), self.dropout2)
        else:
            x = self.norm1(x + sa(x))
            x = self.norm2(x + self._ff_block(x, self.dropout2))
        return x


class TransformerDecoderLayer(_TransformerLayer):
    """One transformer decoder block (PyTorch's nn.TransformerDecoderLayer): self-attention
    over the target, cross-attention from the target to the encoder's output (memory), and a
    two-layer feed-forward network, each in a residual branch with LayerNorm.

        norm_first=False (post-norm):
            x = norm1(x + sa(x));  x = norm2(x + ca(x, mem));  x = norm3(x + ff(x))
        norm_first=True (pre-norm):
            x = x + sa(norm1(x));  x = x + ca(norm2(x), mem);  x = x + ff(norm3(x))
        sa(x) = dropout1(self_attn(x, x, x));  ca(x, mem) = dropout2(multihead_attn(x, mem, mem))
        ff(x) = dropout3(linear2(dropout(act(linear1(x)))))

    Args: as TransformerEncoderLayer's (d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation=relu, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True,
    device, dtype).

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
            memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)

    Shape:
        tgt (T, N, E), memory (S, N, E); (N, T, E), (N, S, E) with batch_first; unbatched
        (T, E), (S, E). tgt_mask (T, T) or (N * H, T, T); memory_mask (T, S) or (N * H, T, S);
        tgt_key_padding_mask (N, T) or (T,); memory_key_padding_mask (N, S) or (S,); bool
        True = may NOT attend, or float, added (as MultiheadAttention's). *_is_causal are hints
        that the mask is the causal mask, as in PyTorch. Output: like tgt.

    Submodules (state_dict keys as PyTorch's): self_attn, multihead_attn, linear1, dropout,
    linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3 (and activation when it is a
    module).
    """

    _cross = True

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ):
        self._check("tgt", tgt, "T")
        self._check("memory", memory, "S")
        bf = self.self_attn.batch_first
        _check_same_batch(self._label(), "tgt", tgt, "memory", memory, bf)

        def sa(y):
            return self._attn_block(
                self.self_attn, self.dropout1, y, y, tgt_mask, tgt_key_padding_mask, tgt_is_causal
            )

        def ca(y):
            return self._attn_block(
                self.multihead_attn,
                self.dropout2,
                y,
                memory,
                memory_mask,
                memory_key_padding_mask,
                memory_is_causal,
            )

        x = tgt
        if self.norm_first:
            x = x + sa(self.norm1(x))
            x = x + ca(self.norm2(x))
            x = x + self._ff_block(self.norm3(x), self.dropout3)
        else:
            x = self.norm1(x + sa(x))
            x = self.norm2(x + ca(x))
            x = self.norm3(x + self._ff_block(x, self.dropout3))
        return x


class TransformerEncoder(Module):
    """A stack of `num_layers` copies of an encoder layer (PyTorch's nn.TransformerEncoder),
    then an optional final norm.

    Args:
        encoder_layer (Module): a TransformerEncoderLayer; it is deep-copied num_layers times,
            so all layers start with the same weights (as in PyTorch; re-initialise them if
            that is not wanted).
        num_layers (int): the number of layers, named layers.0, layers.1, ...
        norm (Module, optional): applied to the last layer's output (e.g. LayerNorm for a
            pre-norm stack). Default: None.
        enable_nested_tensor (bool), mask_check (bool): accepted and stored for compatibility;
            minitorch_cv has no nested tensors, so PyTorch's inference fast path for padded
            batches is never taken. Every non-padded output position is the same; PyTorch's
            fast path (eval, no grad, src_key_padding_mask given) returns zeros (before `norm`)
            at padded positions, here they hold the usual result.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): as the layer's
    forward; is_causal=None is taken as False (PyTorch then looks at whether `mask` is the
    causal mask only to pick a faster kernel: the values are the same).
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ):
        super().__init__()
        self.layers = _clones("TransformerEncoder", "encoder_layer", encoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False  # never: there are no nested tensors here
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        output = src
        for mod in self.layers:
            output = mod(
                output,
                src_mask=mask,
                is_causal=is_causal is True,
                src_key_padding_mask=src_key_padding_mask,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """A stack of `num_layers` copies of a decoder layer (PyTorch's nn.TransformerDecoder),
    each attending to the same memory, then an optional final norm.

    Args:
        decoder_layer (Module): a TransformerDecoderLayer, deep-copied num_layers times (all
            layers start with the same weights, as in PyTorch).
        num_layers (int): the number of layers, named layers.0, layers.1, ...
        norm (Module, optional): applied to the last layer's output. Default: None.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False): as the
    layer's forward; tgt_is_causal=None is taken as False (PyTorch then looks at whether
    tgt_mask is the causal mask only to pick a faster kernel: the values are the same).
    """

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None):
        super().__init__()
        self.layers = _clones("TransformerDecoder", "decoder_layer", decoder_layer, num_layers)
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ):
        output = tgt
        for mod in self.layers:
            output = mod(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=tgt_is_causal is True,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder transformer of "Attention Is All You Need" (PyTorch's
    nn.Transformer): memory = encoder(src); output = decoder(tgt, memory).

    Args:
        d_model (int): E. Default: 512. nhead (int): H. Default: 8.
        num_encoder_layers, num_decoder_layers (int): Default: 6 each.
        dim_feedforward (int): Default: 2048. dropout (float): Default: 0.1.
        activation (str or callable): "relu", "gelu" or a function / module. Default: relu.
        custom_encoder, custom_decoder (Module): used in place of the built encoder / decoder
            (called with the same arguments). Default: None.
        layer_norm_eps (float): Default: 1e-5. batch_first (bool): Default: False.
        norm_first (bool): Default: False. bias (bool): Default: True.
        device, dtype: where and in which float type the weights live.

    Built as PyTorch's: encoder = TransformerEncoder(TransformerEncoderLayer(...),
    num_encoder_layers, LayerNorm(d_model)), decoder likewise with TransformerDecoderLayer;
    then every parameter with more than one dim (custom encoder / decoder included) is
    re-drawn with xavier_uniform_.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
            src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
            src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)

    Shape:
        src (S, N, E), tgt (T, N, E); (N, S, E), (N, T, E) with batch_first; unbatched (S, E),
        (T, E). src_mask (S, S) or (N * H, S, S); tgt_mask (T, T) or (N * H, T, T);
        memory_mask (T, S); key padding masks (N, S), (N, T), (N, S) (unbatched without N).
        Output: like tgt.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation=F.relu,
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps)
        args += (batch_first, norm_first, bias)

        def norm():
            return LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)

        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            layer = TransformerEncoderLayer(*args, **kw)
            self.encoder = TransformerEncoder(layer, num_encoder_layers, norm())
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            layer = TransformerDecoderLayer(*args, **kw)
            self.decoder = TransformerDecoder(layer, num_decoder_layers, norm())
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def _reset_parameters(self) -> None:
        """PyTorch's: xavier_uniform_ for every parameter with more than one dim."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The causal mask (sz, sz) as a float bias: -inf above the diagonal, 0 on and below
        it (dtype: the default float type unless given)."""
        sz = int(sz)
        return full((sz, sz), float("-inf"), dtype=dtype, device=device).triu(1)

    def forward(
        self,
        src,
        tgt,
        src_mask=None,
        tgt_mask=None,
        memory_mask=None,
        src_key_padding_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ):
        who = f"Transformer(d_model={self.d_model}, nhead={self.nhead})"
        e, bf = self.d_model, self.batch_first
        _check_seq(who, "src", src, "S", e, bf)
        _check_seq(who, "tgt", tgt, "T", e, bf)
        _check_same_batch(who, "src", src, "tgt", tgt, bf)
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )
