"""Scaled dot-product attention, softmax(Q K^T * scale + mask) V, composed of matmul, softmax,
where and dropout: every piece already has its gradient, so attention needs no backward of its
own. nn.MultiheadAttention and nn.TransformerEncoderLayer (layers/transformer.py) build on it.

A row of the attention matrix whose every key is masked has no softmax (0 / 0). PyTorch 2.13's
scaled_dot_product_attention returns zeros for such a row, with zero gradients (its "safe
softmax"), and so does this one: the row is unmasked before the softmax and its weights are
zeroed after it, so no NaN appears in either pass.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..tensor import Tensor
from .activation import softmax
from .dropout import dropout
from .elementwise import where
from .matmul import matmul

_OP = "scaled_dot_product_attention"


def _as_tensor(a):
    return a if a is None or isinstance(a, Tensor) else Tensor(a)


def _shape_error(msg, query, key, value):
    return ValueError(
        f"{_OP}: {msg}; got query {tuple(query.shape)}, key {tuple(key.shape)}, "
        f"value {tuple(value.shape)}"
    )


def _repeat_heads(t, times: int):
    """(..., H, S, E) -> (..., H * times, S, E), each head repeated `times` times in place
    (PyTorch's repeat_interleave over dim -3): a view expanded, then one copy."""
    if times == 1:
        return t
    *lead, h, s, e = t.shape
    grown = t.unsqueeze(-3).expand(*lead, h, times, s, e)
    return grown.reshape(*lead, h * times, s, e)


def _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa):
    """The shapes and dtypes that attention accepts; returns the attention matrix's shape."""
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{_OP}: {name} must be a Tensor, got {type(t).__name__}")
    if min(query.ndim, key.ndim, value.ndim) < 2:
        raise _shape_error("query, key and value need at least 2 dims (..., L or S, E)",
                           query, key, value)  # fmt: skip
    dtypes = {query.dtype, key.dtype, value.dtype}
    if len(dtypes) > 1 or query.dtype.kind != "f":
        raise TypeError(
            f"{_OP}: query, key and value must share one floating dtype, got {query.dtype}, "
            f"{key.dtype} and {value.dtype}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise _shape_error(
            f"query's last dim {query.shape[-1]} differs from key's {key.shape[-1]}",
            query, key, value,
        )  # fmt: skip
    if key.shape[-2] != value.shape[-2]:
        raise _shape_error(
            f"key has {key.shape[-2]} positions (dim -2) but value has {value.shape[-2]}",
            query, key, value,
        )  # fmt: skip
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{_OP}: dropout_p has to be between 0 and 1, but got {dropout_p}")
    if query.shape[-1] == 0:
        raise _shape_error(
            "the embedding dim E (last dim of query and key) is 0", query, key, value
        )
    qb, kb, vb = query.shape[:-2], key.shape[:-2], value.shape[:-2]
    if enable_gqa:
        if min(query.ndim, key.ndim, value.ndim) < 3:
            raise _shape_error("enable_gqa needs a heads dim (..., H, L, E)", query, key, value)
        hq, hk, hv = qb[-1], kb[-1], vb[-1]
        if not hk or not hv or hq % hk or hq % hv:
            raise _shape_error(
                f"with enable_gqa the {hk} key heads and {hv} value heads must divide the "
                f"{hq} query heads",
                query, key, value,
            )  # fmt: skip
        kb, vb = kb[:-1] + (hq,), vb[:-1] + (hq,)  # after repeating the heads
    try:
        batch = np.broadcast_shapes(qb, kb)
        np.broadcast_shapes(batch, vb)
    except ValueError:
        raise _shape_error("the batch dims (all but the last two) do not broadcast",
                           query, key, value) from None  # fmt: skip
    scores = tuple(batch) + (query.shape[-2], key.shape[-2])
    if attn_mask is not None:
        if is_causal:
            raise ValueError(f"{_OP}: pass either attn_mask or is_causal=True, not both")
        if attn_mask.dtype != np.bool_ and attn_mask.dtype != query.dtype:
            raise TypeError(
                f"{_OP}: attn_mask must be bool (True = attend) or the query's dtype "
                f"{query.dtype} (added to the scores), got {attn_mask.dtype}"
            )
        try:
            ok = np.broadcast_shapes(tuple(attn_mask.shape), scores) == scores
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{_OP}: attn_mask of shape {tuple(attn_mask.shape)} does not broadcast to the "
                f"attention weights' shape {scores} (batch..., L, S) of query "
                f"{tuple(query.shape)} and key {tuple(key.shape)}"
            )
    return scores


def _mask_bias(attn_mask, is_causal, query, key):
    """The mask as an additive bias (0 = attend, -inf = masked) and the rows with no key left
    (a bool array (..., L, 1), or None when every row keeps a key).

    A fully masked row's bias is set to 0 so that its softmax is finite; the caller zeroes its
    weights afterwards."""
    xp = xp_of(query._data)
    dtype = query.dtype
    big = xp.asarray(-np.inf, dtype=dtype)
    zero = xp.asarray(0, dtype=dtype)
    if is_causal:  # upper-left aligned: query i sees keys 0..i (every row keeps key 0)
        keep = xp.tril(xp.ones((query.shape[-2], key.shape[-2]), dtype=bool))
        return Tensor(xp.where(keep, zero, big)), None
    if attn_mask is None:
        return None, None
    m = attn_mask._data
    if m.dtype == np.bool_:
        dead = ~m.any(axis=-1, keepdims=True)
        if not dead.any():
            return Tensor(xp.where(m, zero, big)), None
        return Tensor(xp.where(m | dead, zero, big)), dead
    dead = (m == -np.inf).all(axis=-1, keepdims=True)
    if not dead.any():
        return attn_mask, None
    return where(dead, Tensor(zero), attn_mask), dead


def _attention(query, key, value, bias, dead, scale, dropout_p):
    """softmax(query * scale @ key^T + bias) @ value and the weights; `dead` rows (bool
    (..., L, 1)) get weights 0. Inputs are checked and `bias` is finite on `dead` rows."""
    scores = matmul(query * scale, key.transpose(-2, -1))
    if bias is not None:
        scores = scores + bias
    if scores.shape[-1] == 0:  # no keys at all: every output is the empty sum 0
        return matmul(scores, value), scores
    attn = softmax(scores, dim=-1)
    if dead is not None:
        attn = where(dead, Tensor(xp_of(dead).asarray(0, dtype=attn.dtype)), attn)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p)
    return matmul(attn, value), attn


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    *,
    scale: float | None = None,
    enable_gqa: bool = False,
):
    """softmax(Q K^T * scale + mask) V, PyTorch's F.scaled_dot_product_attention.

    Args:
        query (Tensor): (N, ..., Hq, L, E).
        key (Tensor): (N, ..., H, S, E).
        value (Tensor): (N, ..., H, S, Ev). Batch dims broadcast, as in PyTorch.
        attn_mask (Tensor, optional): broadcastable to the weights' shape (N, ..., Hq, L, S):
            bool, True where a query may attend to a key; or float of the query's dtype, added
            to the scores (-inf masks; it may require grad). Default: None.
        dropout_p (float): dropout on the attention weights, drawn from the package generator.
            Always applied when > 0, as in PyTorch: pass 0.0 in eval mode. Default: 0.0.
        is_causal (bool): query i attends to keys 0..i (a lower-triangular mask aligned to the
            upper left when L != S); not together with attn_mask. Default: False.
        scale (float, keyword): multiplies Q K^T. Default: 1 / sqrt(E).
        enable_gqa (bool, keyword): grouped-query attention: Hk and Hv divide Hq, each key /
            value head serves Hq / Hk consecutive query heads. Default: False.

    Shape:
        output (N, ..., Hq, L, Ev).

    A query row whose keys are all masked returns zeros (and passes zero gradients), as
    PyTorch 2.13 does; no NaN.
    """
    query, key, value, attn_mask = map(_as_tensor, (query, key, value, attn_mask))
    _check(query, key, value, attn_mask, dropout_p, is_causal, enable_gqa)
    if enable_gqa:
        key = _repeat_heads(key, query.shape[-3] // key.shape[-3])
        value = _repeat_heads(value, query.shape[-3] // value.shape[-3])
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    bias, dead = _mask_bias(attn_mask, is_causal, query, key)
    return _attention(query, key, value, bias, dead, s, dropout_p)[0]
