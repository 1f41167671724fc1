"""Matrix products: matmul (batched, broadcasting) and the fused linear layer."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import xp_of
from ..tensor import Function
from .shape import _dim


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


class Bilinear(Function):
    """y[n, o] = sum_ij x1[n, i] W[o, i, j] x2[n, j] + b[o] for x1 (N, in1), x2 (N, in2),
    W (out, in1, in2), b (out,): one bilinear form per output feature.

    Each gradient contracts g with the other two factors:
    dx1 = g W x2,  dx2 = g x1 W,  dW[o] = sum_n g[n, o] x1[n] x2[n]^T,  db = g summed over n.
    Every three-factor product is taken as two steps, one of them a GEMM: a single three-operand
    einsum finds no cheaper path and runs as a plain loop, ~25x slower."""

    @staticmethod
    def forward(ctx, x1, x2, w, b):
        xp = xp_of(x1, x2, w)
        need_x1, need_x2, need_w, _ = ctx.needs_input_grad
        # each factor only where another's gradient reads it (as Linear)
        ctx.save_for_backward(
            x1 if need_x2 or need_w else None,
            x2 if need_x1 or need_w else None,
            w if need_x1 or need_x2 else None,
        )
        t = xp.einsum("ni,oij->noj", x1, w, optimize=True)  # GEMM (N, in1) @ (in1, out*in2)
        y = xp.einsum("noj,nj->no", t, x2)
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x1, x2, w = ctx.saved_tensors
        xp = xp_of(g)
        need_x1, need_x2, need_w, need_b = ctx.needs_input_grad
        # an outer product per row, then one GEMM over the two summed indices
        g1 = g2 = gw = None
        if need_x1:
            g1 = xp.einsum("noj,oij->ni", xp.einsum("no,nj->noj", g, x2), w, optimize=True)
        if need_x2:
            g2 = xp.einsum("noi,oij->nj", xp.einsum("no,ni->noi", g, x1), w, optimize=True)
        if need_w:
            gw = xp.einsum("no,nij->oij", g, xp.einsum("ni,nj->nij", x1, x2), optimize=True)
        gb = g.sum(0) if need_b else None
        return g1, g2, gw, gb


def bilinear(input1, input2, weight, bias=None):
    """y = input1^T A input2 + b for each output feature (PyTorch's `F.bilinear`).

    Shape: input1 (*, in1), input2 (*, in2) with the same leading dims (no broadcasting, as
    PyTorch), weight (out, in1, in2), bias (out,) or None -> (*, out)."""
    s1, s2, sw = tuple(input1.shape), tuple(input2.shape), tuple(weight.shape)
    if len(s1) == 0 or len(s1) != len(s2) or s1[:-1] != s2[:-1]:
        raise ValueError(
            f"bilinear: input1 and input2 must have the same leading dims, got shapes {s1} and {s2}"
        )
    if len(sw) != 3 or s1[-1] != sw[1] or s2[-1] != sw[2]:
        raise ValueError(
            f"bilinear: inputs of shapes {s1} and {s2} do not fit weight of shape {sw} "
            "(expected weight (out, in1, in2) with in1, in2 the inputs' last dims)"
        )
    if bias is not None and tuple(bias.shape) != sw[:1]:
        raise ValueError(
            f"bilinear: bias of shape {tuple(bias.shape)} does not fit weight of shape {sw}"
        )
    dtypes = [t.dtype for t in (input1, input2, weight, bias) if t is not None]
    if len(set(dtypes)) > 1 or dtypes[0].kind != "f":  # as torch: no silent promotion
        raise TypeError(
            "bilinear: input1, input2, weight and bias must share one floating dtype, got "
            + ", ".join(str(d) for d in dtypes)
        )
    lead = s1[:-1]
    n = int(np.prod(lead, dtype=np.int64))  # rows: 1 for unbatched 1-D inputs
    y = Bilinear.apply(input1.reshape(n, s1[-1]), input2.reshape(n, s2[-1]), weight, bias)
    return y.reshape(lead + sw[:1])


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


# --------------------------------------------------------------------------- torch's products
#
# mv, dot, inner, tensordot and the beta/alpha family (addmm, addmv, addr, baddbmm, addbmm) are
# MatMul after reshapes, permutes and scalings, so their gradients are MatMul's own; each checks
# its shapes and dtypes first and names itself in the error. kron is a broadcast product; cross
# is one Function.


def _shape(t):
    return tuple(t.shape)


def _one_dtype(op, **named):
    """torch's BLAS products refuse mixed dtypes (no silent float32 -> float64) and bools."""
    dtypes = {k: t.dtype for k, t in named.items()}
    if len(set(dtypes.values())) > 1:
        listed = ", ".join(f"{k} {d}" for k, d in dtypes.items())
        raise TypeError(f"{op}: expected tensors of one dtype, got {listed}")
    if next(iter(dtypes.values())).kind == "b":
        raise TypeError(f"{op}: bool tensors are not supported")


def _check_vectors(op, input, other, names=("input", "other")):
    si, so = _shape(input), _shape(other)
    if len(si) != 1 or len(so) != 1:
        raise ValueError(f"{op}: expected 1-D tensors, got {names[0]} {si} and {names[1]} {so}")
    if si != so:
        raise ValueError(f"{op}: {names[0]} {si} and {names[1]} {so} differ in size")


def _check_mv(op, mat, vec):
    sm, sv = _shape(mat), _shape(vec)
    if len(sm) != 2 or len(sv) != 1:
        raise ValueError(f"{op}: expected mat (n, m) and vec (m,), got mat {sm} and vec {sv}")
    if sm[1] != sv[0]:
        raise ValueError(f"{op}: mat {sm} and vec {sv} cannot be multiplied ({sm[1]} != {sv[0]})")
    return sm[:1]


def _check_batches(op, batch1, batch2):
    s1, s2 = _shape(batch1), _shape(batch2)
    if len(s1) != 3 or len(s2) != 3:
        raise ValueError(f"{op}: expected 3-D batch1 and batch2, got batch1 {s1} and batch2 {s2}")
    if s1[0] != s2[0]:
        raise ValueError(
            f"{op}: batch1 {s1} and batch2 {s2} hold different numbers of matrices "
            f"({s1[0]} != {s2[0]})"
        )
    if s1[2] != s2[1]:
        raise ValueError(
            f"{op}: batch1 {s1} and batch2 {s2} cannot be multiplied ({s1[2]} != {s2[1]})"
        )
    return s1[0], s1[1], s2[2]


def _check_input(op, input, out, beta, alpha):
    """input must broadcast to the product's shape `out` the way torch's `expand` does (it may
    gain leading dims and stretch size-1 dims, never grow the result); an integer product takes
    integer beta and alpha only."""
    si = _shape(input)
    if len(si) > len(out) or any(a not in (1, b) for a, b in zip(si[::-1], out[::-1])):
        raise ValueError(f"{op}: input {si} does not broadcast to the product's shape {out}")
    if input.dtype.kind in "iub" and any(isinstance(s, float) for s in (beta, alpha)):
        raise TypeError(
            f"{op}: integer tensors take integer beta and alpha, got beta={beta!r}, alpha={alpha!r}"
        )


def _scaled_sum(input, product, beta, alpha):
    """beta * input + alpha * product; beta = 0 leaves input out entirely, so nan and inf in it
    do not propagate (torch's rule), and it gets no gradient."""
    y = product if alpha == 1 else product * alpha
    if beta == 0:
        return y
    return y + (input if beta == 1 else input * beta)


def mv(input, vec):
    """Matrix times vector, (n, m) @ (m,) -> (n,) (torch.mv: no broadcasting)."""
    _check_mv("mv", input, vec)
    _one_dtype("mv", input=input, vec=vec)
    return MatMul.apply(input, vec)


def dot(input, tensor):
    """sum(input * tensor) of two 1-D tensors of one size and dtype, a 0-d tensor (torch.dot)."""
    _check_vectors("dot", input, tensor, ("input", "tensor"))
    _one_dtype("dot", input=input, tensor=tensor)
    return MatMul.apply(input, tensor)


def vdot(input, other):
    """conj(input) . other (torch.vdot); for the real tensors here it is `dot`."""
    _check_vectors("vdot", input, other)
    _one_dtype("vdot", input=input, other=other)
    if input.dtype.kind == "c":
        raise TypeError("vdot: complex tensors are not supported")
    return MatMul.apply(input, other)


def inner(input, other):
    """Sum over the last dim of both: out[i.., j..] = sum_k input[i.., k] other[j.., k], shape
    input.shape[:-1] + other.shape[:-1] (torch.inner); a 0-d operand just multiplies."""
    if input.ndim == 0 or other.ndim == 0:
        return input * other
    si, so = _shape(input), _shape(other)
    if si[-1] != so[-1]:
        raise ValueError(
            f"inner: the last dims of input {si} and other {so} must match ({si[-1]} != {so[-1]})"
        )
    _one_dtype("inner", input=input, other=other)
    return tensordot(input, other, dims=([-1], [-1]))


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """beta * input + alpha * (mat1 @ mat2) (torch.addmm).

    Shape: mat1 (n, m), mat2 (m, p), input broadcastable to (n, p) -> (n, p)."""
    s1, s2 = _shape(mat1), _shape(mat2)
    if len(s1) != 2 or len(s2) != 2:
        raise ValueError(f"addmm: expected 2-D mat1 and mat2, got mat1 {s1} and mat2 {s2}")
    if s1[1] != s2[0]:
        raise ValueError(
            f"addmm: mat1 {s1} and mat2 {s2} cannot be multiplied ({s1[1]} != {s2[0]})"
        )
    _one_dtype("addmm", input=input, mat1=mat1, mat2=mat2)
    _check_input("addmm", input, (s1[0], s2[1]), beta, alpha)
    return _scaled_sum(input, MatMul.apply(mat1, mat2), beta, alpha)


def addmv(input, mat, vec, *, beta=1, alpha=1):
    """beta * input + alpha * (mat @ vec) (torch.addmv).

    Shape: mat (n, m), vec (m,), input broadcastable to (n,) -> (n,)."""
    out = _check_mv("addmv", mat, vec)
    _one_dtype("addmv", input=input, mat=mat, vec=vec)
    _check_input("addmv", input, out, beta, alpha)
    return _scaled_sum(input, MatMul.apply(mat, vec), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1):
    """beta * input + alpha * outer(vec1, vec2) (torch.addr; dtypes promote as in a product).

    Shape: vec1 (n,), vec2 (m,), input broadcastable to (n, m) -> (n, m)."""
    s1, s2 = _shape(vec1), _shape(vec2)
    if len(s1) != 1 or len(s2) != 1:
        raise ValueError(f"addr: expected 1-D vec1 and vec2, got vec1 {s1} and vec2 {s2}")
    _check_input("addr", input, s1 + s2, beta, alpha)
    return _scaled_sum(input, outer(vec1, vec2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * (batch1 @ batch2), one product per batch entry (torch.baddbmm).

    Shape: batch1 (b, n, m), batch2 (b, m, p), input broadcastable to (b, n, p) -> (b, n, p)."""
    out = _check_batches("baddbmm", batch1, batch2)
    _one_dtype("baddbmm", input=input, batch1=batch1, batch2=batch2)
    _check_input("baddbmm", input, out, beta, alpha)
    return _scaled_sum(input, MatMul.apply(batch1, batch2), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """beta * input + alpha * sum_i batch1[i] @ batch2[i] (torch.addbmm), the sum of products
    as one GEMM: (n, b*m) @ (b*m, p).

    Shape: batch1 (b, n, m), batch2 (b, m, p), input broadcastable to (n, p) -> (n, p)."""
    b, n, p = _check_batches("addbmm", batch1, batch2)
    _one_dtype("addbmm", input=input, batch1=batch1, batch2=batch2)
    _check_input("addbmm", input, (n, p), beta, alpha)
    m = batch1.shape[2]
    a = batch1.permute(1, 0, 2).reshape(n, b * m)
    product = MatMul.apply(a, batch2.reshape(b * m, p))
    return _scaled_sum(input, product, beta, alpha)


def _tensordot_dims(dims, sa, sb):
    """torch.tensordot's dims -> (dims of a, dims of b), each normalised to >= 0."""
    op = "tensordot"
    if hasattr(dims, "tolist"):  # a Tensor: 0-d is an int, else the two lists
        dims = dims.tolist()
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        if dims < 0:
            raise ValueError(f"{op}: expects dims >= 0, got dims={dims}")
        if dims > min(len(sa), len(sb)):
            raise ValueError(f"{op}: cannot contract {dims} dims of a {sa} with b {sb}")
        return list(range(len(sa) - dims, len(sa))), list(range(dims))
    pair = isinstance(dims, (list, tuple)) and len(dims) == 2
    if not pair or not all(
        isinstance(ds, (list, tuple)) and all(isinstance(d, (int, np.integer)) for d in ds)
        for ds in dims
    ):
        raise TypeError(f"{op}: dims must be an int or a pair of lists of ints, got {dims!r}")
    if len(dims[0]) != len(dims[1]):
        raise ValueError(f"{op}: both dim lists must have the same length, got {dims!r}")
    picked = []
    for given, shape, name in zip(dims, (sa, sb), "ab"):
        ds = [_dim(int(d), len(shape), op) for d in given]
        if len(set(ds)) != len(ds):
            raise ValueError(f"{op}: a dim of {name} {shape} appears twice in {list(given)}")
        picked.append(ds)
    return picked


def tensordot(a, b, dims=2):
    """Contract dims of a against dims of b (torch.tensordot): `dims=k` pairs the last k dims of
    a with the first k of b; `dims=([1, 2], [0, 1])` names them. The result has a's free dims,
    then b's. One GEMM: a permuted to (free, contracted) times b to (contracted, free).

    Shape: a (2, 3, 4), b (3, 4, 5), dims=2 -> (2, 5)."""
    sa, sb = _shape(a), _shape(b)
    da, db = _tensordot_dims(dims, sa, sb)
    for i, j in zip(da, db):
        if sa[i] != sb[j]:
            raise ValueError(
                f"tensordot: contracted dims must match, but a {sa} has size {sa[i]} in dim {i} "
                f"and b {sb} has size {sb[j]} in dim {j}"
            )
    _one_dtype("tensordot", a=a, b=b)
    free_a = [d for d in range(len(sa)) if d not in da]
    free_b = [d for d in range(len(sb)) if d not in db]
    k = math.prod(sa[d] for d in da)
    a2 = _permuted(a, free_a + da).reshape(math.prod(sa[d] for d in free_a), k)
    b2 = _permuted(b, db + free_b).reshape(k, math.prod(sb[d] for d in free_b))
    out = MatMul.apply(a2, b2)
    return out.reshape(*[sa[d] for d in free_a], *[sb[d] for d in free_b])


def _permuted(t, order):
    return t if order == sorted(order) else t.permute(*order)


def kron(input, other):
    """The Kronecker product (torch.kron): block (i, j, ..) is input[i, j, ..] * other; the
    operand with fewer dims gets leading 1s. A broadcast product of (a0, 1, a1, 1, ..) and
    (1, b0, 1, b1, ..), reshaped to (a0 b0, a1 b1, ..); dtypes promote as in `mul`."""
    nd = max(input.ndim, other.ndim)
    sa = (1,) * (nd - input.ndim) + _shape(input)
    sb = (1,) * (nd - other.ndim) + _shape(other)
    a = input.reshape(*[n for s in sa for n in (s, 1)])
    b = other.reshape(*[n for s in sb for n in (1, s)])
    return (a * b).reshape(*[x * y for x, y in zip(sa, sb)])


def _cross(a, b, axis):
    """a x b along `axis` (size 3): c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}, indices mod 3."""
    xp = xp_of(a, b)
    next1, next2 = xp.asarray([1, 2, 0]), xp.asarray([2, 0, 1])
    a1, a2 = xp.take(a, next1, axis=axis), xp.take(a, next2, axis=axis)
    b1, b2 = xp.take(b, next1, axis=axis), xp.take(b, next2, axis=axis)
    return a1 * b2 - a2 * b1


class Cross(Function):
    """c = a x b, the 3-vector cross product along `dim`, other dims broadcast.

    From the triple product g . (a x b) = a . (b x g) = b . (g x a):
    da = b x g,  db = g x a   (the tape sums broadcast dims back)."""

    @staticmethod
    def forward(ctx, a, b, *, dim):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)
        ctx.dim = dim
        return _cross(a, b, dim)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        ga = _cross(b, g, ctx.dim) if need_a else None
        gb = _cross(g, a, ctx.dim) if need_b else None
        return ga, gb


def cross(input, other, dim=None):
    """The cross product of 3-vectors along `dim` (torch.cross); the other dims broadcast, and
    both tensors need the same number of dims and size 3 at `dim`. `dim=None` takes the first
    dim of size 3 in input, torch.cross's deprecated default, and warns as torch does;
    torch.linalg.cross(input, other) is cross(input, other, dim=-1)."""
    si, so = _shape(input), _shape(other)
    if dim is None:
        warnings.warn(
            "cross: no dim given, so the first dim of size 3 is used (torch.cross's deprecated "
            "default); pass dim=-1 for torch.linalg.cross's",
            UserWarning,
            stacklevel=2,
        )
        dim = next((i for i, n in enumerate(si) if n == 3), None)
        if dim is None:
            raise ValueError(f"cross: no dim of size 3 in input {si}")
    if len(si) != len(so):
        raise ValueError(f"cross: input {si} and other {so} must have the same number of dims")
    d = _dim(dim, len(si), "cross")
    if si[d] != 3 or so[d] != 3:
        raise ValueError(
            f"cross: dim {dim} must have size 3 in both tensors, got input {si} and other {so}"
        )
    try:
        np.broadcast_shapes(si, so)
    except ValueError:
        raise ValueError(f"cross: input {si} and other {so} do not broadcast") from None
    _one_dtype("cross", input=input, other=other)
    return Cross.apply(input, other, dim=d)
