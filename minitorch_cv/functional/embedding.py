"""Embedding lookup: rows of a weight table picked by integer indices (PyTorch's `F.embedding`).

    out[i, j, :] = weight[input[i, j], :]          input (*) integer -> out (*, D)

The gradient adds each output row back into the row it came from, in the gradient's dtype, with
no (N, D) position matrix and no float64 table. On NumPy: a stable sort of the indices, then one
`add.reduceat` over the runs of equal indices (each row summed in input order, as `np.add.at`
would, but 1.2-3x faster). On CuPy: `add.at`, an atomic scatter-add (CuPy's `add.reduceat`
subtracts prefix sums, which cancels badly in float32).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, _check_same_device


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
        (num, dim), flat = ctx.shape, ctx.idx.reshape(-1)
        g = g.reshape(-1, dim)
        gw = xp.zeros((num, dim), g.dtype)
        if flat.size == 0:
            return gw
        if xp is np:  # sorted, equal indices are runs: sum each run (in input order: stable)
            order = np.argsort(flat, kind="stable")
            rows = flat[order]
            starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
            sums = np.add.reduceat(np.take(g, order, axis=0), starts, axis=0)  # take: 3x g[order]
            if ctx.scale_grad_by_freq:  # a run's length is its row's count
                sums /= np.diff(starts, append=len(rows)).astype(g.dtype)[:, None]
            gw[rows[starts]] = sums
        else:
            if ctx.scale_grad_by_freq:  # each occurrence weighs 1 / (occurrences of its row)
                counts = xp.zeros(num, g.dtype)  # add.at, not bincount (a host sync on CuPy)
                xp.add.at(counts, flat, xp.ones(flat.shape, g.dtype))
                g = g / counts[flat][:, None]
            xp.add.at(gw, flat, g)
        if ctx.padding_idx is not None:
            gw[ctx.padding_idx] = 0
        return gw


def _renorm_rows_(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """In place, outside autograd (PyTorch's embedding_renorm_): every row that idx reads and
    whose norm exceeds max_norm is scaled by max_norm / (norm + 1e-7).

    As PyTorch: the norms in the weight's dtype, the scale (worked out in float64) rounded to the
    dtype the multiply runs in (float32 for float16, as torch's opmath), one multiply per row."""
    w = weight._data
    xp = xp_of(w)
    rows = xp.unique(idx.reshape(-1))
    picked = w[rows]
    ct = np.promote_types(w.dtype, np.float32)
    a = xp.abs(picked).astype(ct, copy=False)
    if math.isinf(norm_type):
        norms = a.max(axis=1)
    elif norm_type == 2:
        norms = xp.sqrt((a * a).sum(1))
    else:
        norms = (a**norm_type).sum(1) ** (1 / norm_type)
    norms = norms.astype(w.dtype).astype(xp.float64)  # torch: row.norm(p).item()
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(ct)
    w[rows] = (picked * scale[:, None]).astype(w.dtype, copy=False)
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
        sparse (bool): PyTorch's sparse gradient (only the rows read). minitorch_cv has no
            sparse tensors, so the gradient is dense either way: the same values, with zero rows
            for the rows not read (what a sparse gradient densifies to). Default: False.

    Shape:
        input (*) integer, weight (V, D) -> output (*, D)

    An index outside [0, V) raises IndexError (on CuPy too: the check reads the indices' min
    and max back to the host). An index Tensor on another device than the weight: RuntimeError.
    """
    del sparse  # accepted for PyTorch's signature: the gradient is dense (same values)
    if not isinstance(weight, Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if hasattr(weight, "shape") else type(weight).__name__
        raise ValueError(f"embedding: weight must be a 2-D Tensor (V, D), got {shape}")
    idx = input._data if isinstance(input, Tensor) else xp_of(weight._data).asarray(input)
    _check_same_device("embedding", (weight._data, idx))  # before the renorm indexes weight
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
