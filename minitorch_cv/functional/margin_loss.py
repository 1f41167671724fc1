"""Margin, ranking and embedding losses (PyTorch's semantics): the multi-class hinge loss of a
linear SVM, its multi-label and two-class cousins, and the pairwise / triplet losses of metric
learning (face verification, image retrieval).

`multi_margin_loss` is one fused Function with its closed-form gradient; the others are
compositions of differentiable ops (relu, softplus, where, norms), so their gradients are those
ops' own.
"""

from __future__ import annotations

import numpy as np

from ..backend import xp_of
from ..tensor import Function
from .activation import relu, softplus
from .distance import pairwise_distance
from .elementwise import minimum, sqrt, where
from .loss import (
    _as_default_float,
    _check_reduction,
    _float_target,
    _raw,
    _reduce,
    _reduce_tensor,
    _reduced_grad,
    _target_tensor,
    binary_cross_entropy_with_logits,
)
from .reduce import sum as _sum


def _check_same_shape(op, **named):
    shapes = {
        k: tuple(_raw(v).shape) if hasattr(_raw(v), "shape") else () for k, v in named.items()
    }
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{op}: expected inputs of one shape, got {listed}")


# --------------------------------------------------------------------------- multi-class hinge


class MultiMargin(Function):
    """The multi-class hinge loss (a linear SVM's), per sample with target y over C classes:

        h_i = max(0, margin - x_y + x_i)  for every rival class i != y  (h_y = 0)
        loss = (1 / C) sum_i w_y h_i^p

    d loss / d x_i = (w_y / C) p h_i^(p-1)  (for p = 1: 1 where h_i > 0, else 0), and x_y gets
    minus the sum of those: raising the target score lowers every violated margin at once.
    """

    @staticmethod
    def forward(ctx, x, t, weight, *, p, margin, reduction):
        xp = xp_of(x)
        n, c = x.shape
        rows = xp.arange(n)
        h = x - x[rows, t][:, None]
        h += margin
        h[rows, t] = 0
        xp.maximum(h, 0, out=h)
        w = xp.ones(n, dtype=x.dtype) if weight is None else weight.astype(x.dtype)[t]
        scale = w / c  # (N,): the per-sample factor w_y / C
        loss = (h if p == 1 else h * h).sum(axis=1) * scale
        ctx.save_for_backward(h, t, scale)
        ctx.p, ctx.reduction = p, reduction
        return _reduce(loss, reduction)

    @staticmethod
    def backward(ctx, g):
        h, t, scale = ctx.saved_tensors
        xp = xp_of(h)
        n = h.shape[0]
        per_sample = xp.broadcast_to(_reduced_grad(g, (n,), ctx.reduction), (n,)) * scale
        local = (h > 0).astype(h.dtype) if ctx.p == 1 else 2 * h
        dx = local * per_sample[:, None]
        rows = xp.arange(n)
        dx[rows, t] = -dx.sum(axis=1)  # dx[rows, t] was 0 (h_y = 0)
        return dx, None, None


def multi_margin_loss(input, target, p=1, margin=1.0, weight=None, reduction="mean"):
    """The multi-class hinge loss of a linear SVM (PyTorch's `F.multi_margin_loss`):
    for each sample, (1/C) sum over rival classes i of w[y] max(0, margin - x[y] + x[i])^p.

    Args:
        p (int): 1 (hinge) or 2 (squared hinge). Default 1.
        margin (float): how far the target score must beat every other. Default 1.0.
        weight: (C,) per-class weights (of the target class), or None.
        reduction (str): 'none' | 'mean' (over samples) | 'sum'. Default 'mean'.

    Shape: input (N, C) or (C,) scores; target (N,) or () integer classes; output () or (N,).
    """
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p = 1 and p = 2 are supported, got p={p!r}")
    x, t = _raw(input), _raw(target)
    if not hasattr(t, "dtype"):
        t = np.asarray(t)
    if x.ndim not in (1, 2) or x.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected float scores of shape (N, C) or (C,), got shape {tuple(x.shape)} "
            f"and dtype {x.dtype}"
        )
    want = () if x.ndim == 1 else (x.shape[0],)
    if t.dtype.kind not in "iu" or tuple(t.shape) != want:
        raise ValueError(
            f"{op}: expected integer class targets of shape {want} for input of shape "
            f"{tuple(x.shape)}, got shape {tuple(t.shape)} and dtype {t.dtype}"
        )
    c = x.shape[-1]
    w = None if weight is None else _raw(weight)
    if w is not None and tuple(w.shape) != (c,):
        raise ValueError(f"{op}: weight has shape {tuple(w.shape)}, expected ({c},)")
    if t.size and xp_of(t) is np and bool(((t < 0) | (t >= c)).any()):
        v = int(t[(t < 0) | (t >= c)].reshape(-1)[0])
        raise ValueError(
            f"{op}: target value {v} is out of range for {c} classes (input shape "
            f"{tuple(x.shape)}); class targets must lie in [0, {c - 1}]"
        )
    unbatched = x.ndim == 1
    if unbatched:
        input, t = input.reshape(1, c), t.reshape(1)
    out = MultiMargin.apply(input, t, w, p=p, margin=float(margin), reduction=reduction)
    return out.reshape(()) if unbatched and reduction == "none" else out


# --------------------------------------------------------------------------- two-class margins


def multilabel_soft_margin_loss(input, target, weight=None, reduction="mean"):
    """One logistic loss per class, averaged over the classes (PyTorch's
    `F.multilabel_soft_margin_loss`): -(1/C) sum_c w_c [y_c log s(x_c) + (1 - y_c) log s(-x_c)],
    s the sigmoid. It is `binary_cross_entropy_with_logits` per element, then the class mean.

    Shape: input (N, C) or (C,); target of the same shape, 0/1 labels (or probabilities);
    weight broadcasts to (C,); output () or (N,) for 'none'.
    """
    _check_reduction("multilabel_soft_margin_loss", reduction)
    per_class = binary_cross_entropy_with_logits(input, target, weight, reduction="none")
    return _reduce_tensor(per_class.mean(-1), reduction)


def soft_margin_loss(input, target, reduction="mean"):
    """The two-class logistic loss with labels y = +-1 (PyTorch's `F.soft_margin_loss`):
    log(1 + exp(-y x)) per element, computed as softplus(-y x) so it never overflows."""
    op = "soft_margin_loss"
    _check_reduction(op, reduction)
    _check_same_shape(op, input=input, target=target)
    input = _as_default_float(input)
    return _reduce_tensor(softplus(-_target_tensor(_raw(input), target) * input), reduction)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """max(0, -y (x1 - x2) + margin) (PyTorch's `F.margin_ranking_loss`): y = 1 says x1 should
    rank above x2 by at least `margin`, y = -1 the reverse."""
    op = "margin_ranking_loss"
    _check_reduction(op, reduction)
    _check_same_shape(op, input1=input1, input2=input2, target=target)
    input1, input2 = _as_default_float(input1), _as_default_float(input2)
    y = _target_tensor(_raw(input1), target)
    return _reduce_tensor(relu(-y * (input1 - input2) + float(margin)), reduction)


def hinge_embedding_loss(input, target, margin=1.0, reduction="mean"):
    """x where y = 1, max(0, margin - x) where y = -1 (PyTorch's `F.hinge_embedding_loss`; x is
    usually a distance between two embeddings: small for similar pairs, at least `margin` for
    dissimilar ones). Like PyTorch, a label other than +-1 gets both terms."""
    op = "hinge_embedding_loss"
    _check_reduction(op, reduction)
    _check_same_shape(op, input=input, target=target)
    input = _as_default_float(input)
    y = _float_target(_raw(input), target)
    pull = relu(float(margin) - input)
    loss = where(y != 1, pull, 0.0) + where(y != -1, input, 0.0)
    return _reduce_tensor(loss, reduction)


# --------------------------------------------------------------------------- embeddings


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction="mean"):
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1 (PyTorch's
    `F.cosine_embedding_loss`), the cosine over the last dim with PyTorch's 1e-12 added to each
    squared norm.

    Shape: input1, input2 (N, D) or (D,); target (N,) or () of +-1; output () or (N,).
    """
    op = "cosine_embedding_loss"
    _check_reduction(op, reduction)
    _check_same_shape(op, input1=input1, input2=input2)
    # integer inputs in floats (a uint8 target cast of -1 was 255, so y == -1 never held)
    input1, input2 = _as_default_float(input1), _as_default_float(input2)
    x1 = _raw(input1)
    y = _float_target(x1, target)
    if x1.ndim not in (1, 2) or tuple(y.shape) != tuple(x1.shape[:-1]):
        raise ValueError(
            f"{op}: expected inputs (N, D) or (D,) and a target of shape (N,) or (), got inputs "
            f"{tuple(x1.shape)} and target {tuple(y.shape)}"
        )
    eps = 1e-12
    dot = _sum(input1 * input2, -1)
    cos = dot / sqrt((_sum(input1 * input1, -1) + eps) * (_sum(input2 * input2, -1) + eps))
    loss = where(y == 1, 1 - cos, 0.0) + where(y == -1, relu(cos - float(margin)), 0.0)
    return _reduce_tensor(loss, reduction)


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False,
                        reduction="mean"):  # fmt: skip
    """max(0, d(a, p) - d(a, n) + margin) with d the p-norm distance `pairwise_distance`
    (PyTorch's `F.triplet_margin_loss`): the anchor closer to the positive than to the
    negative by `margin`. With `swap`, d(a, n) is replaced by min(d(a, n), d(p, n)), the harder
    negative distance (Balntas et al., 2016).

    Shape: anchor, positive, negative (N, D) or (D,); output () or (N,).
    """
    op = "triplet_margin_loss"
    _check_reduction(op, reduction)
    _check_same_shape(op, anchor=anchor, positive=positive, negative=negative)
    if _raw(anchor).ndim not in (1, 2):
        raise ValueError(f"{op}: expected inputs (N, D) or (D,), got {tuple(_raw(anchor).shape)}")
    if margin <= 0:
        raise ValueError(f"{op}: margin must be greater than 0, got {margin}")
    d_pos = pairwise_distance(anchor, positive, p, eps)
    d_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        d_neg = minimum(d_neg, pairwise_distance(positive, negative, p, eps))
    return _reduce_tensor(relu(d_pos - d_neg + float(margin)), reduction)
