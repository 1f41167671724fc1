"""Matrix products: matmul (batched, broadcasting) and the fused linear layer."""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function


def _swap(a):
    return a.swapaxes(-1, -2)


class MatMul(Function):
    """y = a @ b over the last two dims, batch dims broadcast; a 1-D `a` is a row (1, k) and a
    1-D `b` a column (k, 1), whose unit dim is dropped from y (NumPy's and PyTorch's rule).

    da = g @ b^T,  db = a^T @ g   (the tape sums broadcast batch dims back)."""

    @staticmethod
    def forward(ctx, a, b):
        # each factor is kept only for the other's gradient (as PyTorch: less memory, and a
        # weight updated in place does not invalidate a graph that never needs it)
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.shapes = a.shape, b.shape
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        (sa, sb), (need_a, need_b) = ctx.shapes, ctx.needs_input_grad
        sa2 = (1,) + sa if len(sa) == 1 else sa  # (..., m, k)
        sb2 = sb + (1,) if len(sb) == 1 else sb  # (..., k, n)
        batch = np.broadcast_shapes(sa2[:-2], sb2[:-2])
        g = g.reshape(batch + (sa2[-2], sb2[-1]))  # put the dropped unit dims back
        ga = gb = None
        if need_a:
            b2 = b[:, None] if b.ndim == 1 else b
            ga = g @ _swap(b2)
            ga = ga.reshape(ga.shape[:-2] + (-1,)) if len(sa) == 1 else ga
        if need_b:
            a2 = a[None, :] if a.ndim == 1 else a
            if len(sb) == 2 and a2.ndim > 2:  # shared weight: one GEMM over all batch rows
                gb = a2.reshape(-1, a2.shape[-1]).T @ g.reshape(-1, g.shape[-1])
            else:
                gb = _swap(a2) @ g
            gb = gb[..., 0] if len(sb) == 1 else gb
        return ga, gb


class Linear(Function):
    """y = x W^T + b for x (..., in), W (out, in), b (out,).

    dx = g W,  dW = g^T x (summed over all leading dims),  db = g summed over leading dims."""

    @staticmethod
    def forward(ctx, x, w, b):
        need_x, need_w, _ = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
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


class Einsum(Function):
    """Einstein summation, e.g. 'bij,bjk->bik' (batched matmul) or 'nchw,nc->nhw'.

    The gradient of operand i is itself an einsum: contract the output gradient with every
    other operand onto operand i's subscripts ('...ik,...jk->...ij' for matmul's left factor);
    an index that only operand i has was summed away, so its gradient is broadcast along it."""

    @staticmethod
    def forward(ctx, *operands, inputs, output):
        xp = xp_of(*operands)
        ctx.save_for_backward(*operands)
        ctx.subscripts, ctx.output = inputs, output  # not ctx.inputs: the tape's
        spec = ",".join(inputs) + "->" + output
        return xp.asarray(xp.einsum(spec, *operands, optimize=True))

    @staticmethod
    def backward(ctx, g):
        xp = xp_of(g)
        ops = ctx.saved_tensors
        grads = []
        for i, (sub, a) in enumerate(zip(ctx.subscripts, ops)):
            if not ctx.needs_input_grad[i]:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(ctx.subscripts, ops)) if j != i]
            seen = set(ctx.output).union(*(set(s) for s, _ in others))
            kept = "".join(c for c in sub if c in seen)  # indices the other terms still carry
            spec = ",".join([ctx.output] + [s for s, _ in others]) + "->" + kept
            gi = xp.einsum(spec, g, *(o for _, o in others), optimize=True)
            # summed-away indices: the same gradient at every position along them
            gi = gi.reshape([a.shape[k] if c in seen else 1 for k, c in enumerate(sub)])
            grads.append(xp.broadcast_to(gi, a.shape).astype(a.dtype))
        return tuple(grads)


def einsum(equation, *operands):
    """torch.einsum: `einsum('ij,jk->ik', a, b)`; operands may also come as one list. Explicit
    output subscripts are required ('->' form), letters only (no '...'), and no letter twice in
    one operand (no diagonals), each with a clear error."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq:
        raise ValueError(
            f"einsum: give the output subscripts explicitly and no '...', e.g. 'ij,jk->ik'; "
            f"got {equation!r}"
        )
    lhs, output = eq.split("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {equation!r} names {len(inputs)} operands, got {len(operands)}")
    sizes = {}
    for sub, op in zip(inputs, operands):
        if (sub and not sub.isalpha()) or len(set(sub)) != len(sub):
            raise ValueError(f"einsum: subscripts {sub!r} must be distinct letters in {equation!r}")
        if len(sub) != op.ndim:
            raise ValueError(
                f"einsum: subscripts {sub!r} name {len(sub)} dims, the operand has shape "
                f"{tuple(op.shape)}"
            )
        for c, n in zip(sub, op.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(
                    f"einsum: index {c!r} is {sizes[c]} in one operand and {n} in another"
                )
    if not set(output) <= set(sizes) or len(set(output)) != len(output):
        raise ValueError(f"einsum: output {output!r} must use distinct input letters")
    return Einsum.apply(*operands, inputs=tuple(inputs), output=output)


def outer(input, vec2):
    """out[i, j] = input[i] * vec2[j] for 1-D tensors (a broadcast product, so its gradient is
    the product's)."""
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(
            f"outer: expected two 1-D tensors, got shapes {tuple(input.shape)} and "
            f"{tuple(vec2.shape)}"
        )
    return input.reshape(-1, 1) * vec2.reshape(1, -1)
