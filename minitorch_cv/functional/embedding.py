"""Embedding lookup: rows of a weight table picked by integer indices (PyTorch's `F.embedding`).

    out[i, j, :] = weight[input[i, j], :]          input (*) integer -> out (*, D)

The gradient adds each output row back into the row it came from: one bincount over the flat
positions `index * D + column`, so repeated indices accumulate without a Python loop.
"""

from __future__ import annotations

import math

from ..backend import xp_of
from ..tensor import Function, Tensor


class Embedding(Function):
    """y = weight[idx] (a row gather).

    d weight[r] = sum of g over the positions where idx == r, each divided by the count of r in
    idx when `scale_grad_by_freq`; the `padding_idx` row gets none (PyTorch's rules)."""

    @staticmethod
    def forward(ctx, weight, *, idx, padding_idx, scale_grad_by_freq):
        ctx.idx, ctx.shape = idx, weight.shape
        ctx.padding_idx, ctx.scale_grad_by_freq = padding_idx, scale_grad_by_freq
        return weight[idx]

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        (num, dim), flat = ctx.shape, ctx.idx.reshape(-1).astype(xp.int64, copy=False)
        g = g.reshape(-1, dim)
        if ctx.scale_grad_by_freq:  # each occurrence weighs 1 / (occurrences of its row)
            counts = xp.bincount(flat, minlength=num)
            g = g / counts[flat].astype(g.dtype)[:, None]
        pos = flat[:, None] * dim + xp.arange(dim)  # where each g element lands in weight.ravel()
        gw = xp.bincount(pos.reshape(-1), weights=g.reshape(-1), minlength=num * dim)
        gw = gw.astype(g.dtype, copy=False).reshape(num, dim)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw


def _renorm_rows_(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """In place, outside autograd (PyTorch's embedding_renorm_): every row that idx reads and
    whose norm exceeds max_norm is scaled by max_norm / (norm + 1e-7)."""
    w = weight._data
    xp = xp_of(w)
    rows = xp.unique(idx.reshape(-1))
    picked = w[rows]
    a = xp.abs(picked).astype(xp.float64)
    norms = a.max(axis=1) if math.isinf(norm_type) else (a**norm_type).sum(1) ** (1 / norm_type)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
    w[rows] = (picked * scale[:, None]).astype(w.dtype)
    weight._version += 1  # a pending backward that saved this weight must not use new values


def _padding_row(padding_idx, num: int, who: str):
    """padding_idx as a row number in [0, num) (negative counts from the end), or None."""
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(
            f"{who}: padding_idx must be within num_embeddings ({num}), got {padding_idx}"
        )
    return int(padding_idx) % num


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type=2.0,
    scale_grad_by_freq=False,
    sparse=False,
):
    """Look up rows of `weight` by the integer indices in `input` (PyTorch's `F.embedding`).

    Args:
        input: integer Tensor (or array) of any shape, each value in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim) floating Tensor, the table.
        padding_idx (int, optional): this row receives no gradient (its value is still read as
            is). Negative counts from the end. Default: None.
        max_norm (float, optional): before the lookup, the rows that `input` reads and whose
            `norm_type`-norm exceeds it are rescaled to norm max_norm, in place in `weight`
            (outside autograd, as PyTorch). Default: None.
        norm_type (float): p of that norm (inf allowed). Default: 2.0.
        scale_grad_by_freq (bool): divide each row's gradient by how often the row occurs in
            this `input`. Default: False.
        sparse (bool): only False (dense gradients) is supported.

    Shape:
        input (*) integer, weight (V, D) -> output (*, D)

    An index outside [0, V) raises IndexError (on CuPy too: the check reads one flag back).
    """
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported; use sparse=False")
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if hasattr(weight, "shape") else type(weight).__name__
        raise ValueError(f"embedding: weight must be a 2-D Tensor (V, D), got {shape}")
    idx = input._data if isinstance(input, Tensor) else xp_of(weight._data).asarray(input)
    if idx.dtype.kind not in "iu":
        raise ValueError(
            f"embedding: expected integer indices (e.g. int64), got dtype {idx.dtype} of shape "
            f"{tuple(idx.shape)} (weight {tuple(weight.shape)})"
        )
    num = weight.shape[0]
    lo, hi = xp_of(idx).stack([idx.min(), idx.max()]).tolist() if idx.size else (0, 0)
    if lo < 0 or hi >= num:
        raise IndexError(
            f"embedding: index {lo if lo < 0 else hi} is out of range for a table of {num} "
            f"rows (weight {tuple(weight.shape)}, input shape {tuple(idx.shape)}); indices must "
            f"lie in [0, {num - 1}]"
        )
    pad = _padding_row(padding_idx, num, "embedding")
    if max_norm is not None:
        norm_type = float(norm_type)
        if not norm_type > 0:
            raise ValueError(f"embedding: norm_type must be > 0 or inf, got {norm_type}")
        _renorm_rows_(weight, idx, float(max_norm), norm_type)
    # a copy: the backward reads the indices, and the caller may change them in place before
    return Embedding.apply(
        weight, idx=idx.copy(), padding_idx=pad, scale_grad_by_freq=bool(scale_grad_by_freq)
    )
