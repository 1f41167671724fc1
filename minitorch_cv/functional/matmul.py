"""Matrix products: matmul (batched, broadcasting) and the fused linear layer."""

from __future__ import annotations

import numpy as np

from ..tensor import Function


def _swap(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """y = a @ b over the last two dims, batch dims broadcast; a 1-D `a` is a row (1, k) and a
    1-D `b` a column (k, 1), whose unit dim is dropped from y (NumPy's and PyTorch's rule).

    da = g @ b^T,  db = a^T @ g   (the tape sums broadcast batch dims back)."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a  # (..., m, k)
        b2 = b[:, None] if b.ndim == 1 else b  # (..., k, n)
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))  # put the dropped unit dims back
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = g @ _swap(b2)
            ga = ga.reshape(ga.shape[:-2] + (-1,)) if a.ndim == 1 else ga
        if ctx.needs_input_grad[1]:
            if b.ndim == 2 and a2.ndim > 2:  # shared weight: one GEMM over all batch rows
                gb = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = _swap(a2) @ g
            gb = gb[..., 0] if b.ndim == 1 else gb
        return ga, gb


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,).

    dx = g W,  dW = g^T x (summed over all leading dims),  db = g summed over leading dims."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        y = x @ w.T
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ w) if ctx.needs_input_grad[0] else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if ctx.needs_input_grad[1] else None
        gb = g2.sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def matmul(input, other):
    """Matrix product with NumPy/PyTorch semantics (1-D vectors, broadcast batch dims)."""
    sa, sb = tuple(input.shape), tuple(other.shape)
    if len(sa) == 0 or len(sb) == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise ValueError(f"matmul: shapes {sa} and {sb} cannot be multiplied ({ka} != {kb})")
    try:
        np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of shapes {sa} and {sb} do not broadcast") from None
    return MatMul.apply(input, other)


mm = matmul
bmm = matmul


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias.

    Shape: input (*, in), weight (out, in), bias (out,) or None -> (*, out)."""
    if input.ndim < 1 or weight.ndim != 2 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {input.shape} does not fit weight of shape {weight.shape} "
            f"(expected last dim {weight.shape[1] if weight.ndim == 2 else '?'})"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(
            f"linear: bias of shape {bias.shape} does not fit weight of shape {weight.shape}"
        )
    # as torch: no silent promotion (an int64 or float64 batch into a float32 layer is a bug
    # upstream, and a float64 result would double every activation's memory from here on)
    dtypes = [t.dtype for t in (input, weight, bias) if t is not None]
    if len(set(dtypes)) > 1 or dtypes[0].kind != "f":
        raise TypeError(
            "linear: input, weight and bias must share one floating dtype, got "
            + ", ".join(str(d) for d in dtypes)
            + " (cast the input with .float() or the layer with .double())"
        )
    return Linear.apply(input, weight, bias)
