"""Loss functions, each one fused op with its closed-form gradient (PyTorch's semantics).

cross_entropy is log-softmax and the negative log-likelihood in one Function: its backward is
softmax(x) - onehot(target) (smoothed, weighted, scaled), never a chain through exp and log.

Reductions: 'none' keeps one loss per element, 'sum' adds them, 'mean' divides the sum by the
number of elements, except in nll_loss / cross_entropy with class targets, where it divides by
the sum of the weights of the non-ignored targets (PyTorch's weighted mean).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ..backend import xp_of
from ..tensor import Function, Tensor, get_default_dtype, promote_types, result_type
from .precision import half_as_float32, require_floating

_REDUCTIONS = ("none", "mean", "sum")


def _raw(a):
    return a._data if isinstance(a, Tensor) else a


def _check_reduction(op, reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', got {reduction!r}")


def _div(num, den):
    """num / den where 0 / 0 is a quiet nan (a mean over nothing, as in PyTorch)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _reduce(loss, reduction):
    """Elementwise losses -> the requested reduction (a 0-d array for 'mean' / 'sum')."""
    xp = xp_of(loss)
    if reduction == "none":
        return loss
    # float16 accumulates in float32, as PyTorch (a float16 sum of 16k losses keeps 2 digits)
    total = xp.asarray(loss.sum(dtype=np.float32 if loss.dtype == np.float16 else None))
    if reduction == "sum":
        return total.astype(loss.dtype, copy=False)
    return xp.asarray(_div(total, loss.size)).astype(loss.dtype)


def _reduced_grad(g, shape, reduction):
    """d(reduced)/d(elementwise loss) times the upstream gradient g, broadcast to `shape`."""
    if reduction == "none":
        return g
    n = int(np.prod(shape))
    return g / n if reduction == "mean" else g


def _float_target(x, target):
    """The target as a float array of the input's dtype (PyTorch casts the same way)."""
    t = _raw(target)
    if not hasattr(t, "dtype"):
        t = xp_of(x).asarray(t)
    return t if t.dtype == x.dtype else t.astype(x.dtype)


def _floating_pair(op, input, target):
    """input and a tensor target in their promoted dtype (an integer input with a float32 target:
    float32; float32 with float64: float64), which must be floating: PyTorch has no integer
    kernel here, and NumPy would compute in integers and truncate the mean. A target given as
    Python numbers takes the input's dtype."""
    x = _raw(input)
    t = target if hasattr(target, "dtype") else _float_target(x, target)
    dtype = promote_types(x.dtype, t.dtype)
    if dtype.kind != "f":
        raise TypeError(
            f"{op}: expected a floating point input or target, got {x.dtype} and {t.dtype}"
        )
    return _in_dtype(input, dtype), _in_dtype(t, dtype)


def _as_default_float(t):
    """An integer or bool tensor in the default float dtype (losses PyTorch computes in floats
    for integer input: the target is then cast to a float, not to the integer dtype, where -1
    would become 255 for uint8)."""
    return t.to(get_default_dtype()) if isinstance(t, Tensor) and t.dtype.kind != "f" else t


def _in_dtype(a, dtype):
    """A Tensor cast (on the graph) or an array cast to `dtype`."""
    if isinstance(a, Tensor):
        return a if a.dtype == dtype else a.to(dtype)
    return a if a.dtype == dtype else a.astype(dtype)


def _reshaped(a, shape):
    """A Tensor reshaped (on the graph) or an array reshaped."""
    return a.reshape(shape) if isinstance(a, Tensor) else _raw(a).reshape(shape)


# --------------------------------------------------------------------------- class-index targets


def _check_class_target(op, x, t, weight, ignore_index):
    """Validate (N, C, d1, ...) logits / log-probs against (N, d1, ...) integer class targets."""
    if x.ndim < 1:
        raise ValueError(f"{op}: expected input of shape (N, C) or (N, C, d1, ...), got a scalar")
    require_floating(op, x)
    want = () if x.ndim == 1 else (x.shape[0], *x.shape[2:])
    if tuple(t.shape) != want:
        raise ValueError(
            f"{op}: target shape {tuple(t.shape)} does not match input shape {tuple(x.shape)}; "
            f"expected class targets of shape {want} (the input's shape without the class dim 1)"
        )
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if weight is not None and tuple(weight.shape) != (c,):
        raise ValueError(
            f"{op}: weight has shape {tuple(weight.shape)}, expected ({c},): one weight per class "
            f"(input shape {tuple(x.shape)})"
        )
    # On the GPU this check would read a flag back every batch; there an out-of-range target
    # makes the loss NaN instead (_target_weights), which training reports at its next log.
    if t.size and xp_of(t) is np:
        bad = (t != ignore_index) & ((t < 0) | (t >= c))
        if bool(bad.any()):
            v = int(t[bad].reshape(-1)[0])
            raise ValueError(
                f"{op}: target value {v} is out of range for {c} classes (input shape "
                f"{tuple(x.shape)}, target shape {tuple(t.shape)}); class targets must lie in "
                f"[0, {c - 1}] or equal ignore_index={ignore_index}"
            )


def _spatial(x) -> int:
    """Elements per (sample, class) of an (N, C, *) array: prod(*), 1 for (N, C)."""
    return int(np.prod(x.shape[2:], dtype=np.int64))


def _gather_index(t3, c):
    """Flat indices into an (N, C, L) array of element [n, t[n, l], l], shape (N, 1, L)."""
    xp = xp_of(t3)
    n, _, ln = t3.shape
    base = (xp.arange(n) * (c * ln)).reshape(n, 1, 1) + xp.arange(ln).reshape(1, 1, ln)
    return base + t3 * ln


def _target_weights(t3, valid, weight, dtype, c):
    """w[t] for every element, 0 where the target is ignored: (N, 1, L). Targets outside
    0..c-1 (only possible on the GPU, where they are not checked up front) get weight NaN."""
    xp = xp_of(t3)
    w = valid.astype(dtype) if weight is None else weight.astype(dtype, copy=False)[t3] * valid
    if xp is not np:
        w = xp.where(valid & ((t3 < 0) | (t3 >= c)), xp.asarray(np.nan, dtype=dtype), w)
    return w


class CrossEntropy(Function):
    """Softmax cross-entropy with class-index targets, fused.

    Per element i with target t, logits x_i over C classes, p = softmax(x_i), ε = label_smoothing:
        loss_i = (1 - ε) w_t (-log p_t) + (ε / C) Σ_c w_c (-log p_c)       (0 if t == ignore_index)
        dloss_i/dx_i = p * ((1 - ε) w_t + (ε / C) Σ_c w_c) - (1 - ε) w_t onehot(t) - (ε / C) w
    'mean' divides the sum by Σ_i w_{t_i} over the non-ignored elements.

    Shapes:  x (N, C, *) ; target (N, *) integer ; weight (C,) or None -> () or (N, *).
    """

    @staticmethod
    def forward(ctx, x, target, weight, *, ignore_index, reduction, label_smoothing):
        xp = xp_of(x)
        n, c = x.shape[:2]
        ln = _spatial(x)  # explicit: -1 cannot be inferred for an empty batch
        x3 = x.reshape(n, c, ln)
        t3 = target.reshape(n, 1, ln)
        valid = t3 != ignore_index
        # any in-range class; its contribution is masked to zero
        t3 = xp.where(valid, t3, 0).astype(np.int64, copy=False)
        idx = _gather_index(t3, c)
        z = x3 - x3.max(axis=1, keepdims=True)  # shifted logits: exp never overflows
        z_t = z.reshape(-1)[idx]
        eps = label_smoothing
        if eps:
            # Σ_c w_c z_c, taken before z is overwritten by exp(z)
            wz = z.sum(axis=1, keepdims=True) if weight is None else weight.astype(x.dtype) @ z
            wz = wz.reshape(n, 1, ln)
        xp.exp(z, out=z)
        s = z.sum(axis=1, keepdims=True)
        lse = xp.log(s)
        p = z
        p /= s  # softmax, kept for the backward
        w_t = _target_weights(t3, valid, weight, x.dtype, c)
        loss = (lse - z_t) * w_t  # -log p_t, weighted
        w_all = None
        if eps:
            w_all = c if weight is None else weight.sum().astype(x.dtype)  # stays on the device
            smooth = (lse * w_all - wz) * valid  # Σ_c w_c (-log p_c)
            loss = (1 - eps) * loss + (eps / c) * smooth
        if reduction == "none":
            out = loss.reshape((n, *x.shape[2:]))
            denom = None
        else:
            out = xp.asarray(loss.sum())
            denom = xp.asarray(w_t.sum()) if reduction == "mean" else None
            if denom is not None:
                out = _div(out, denom)
        ctx.save_for_backward(p, idx, w_t, weight)
        ctx.valid, ctx.denom, ctx.w_all = valid, denom, w_all
        ctx.eps, ctx.reduction, ctx.x_shape = eps, reduction, x.shape
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        p, idx, w_t, weight = ctx.saved_tensors
        n, c, ln = p.shape
        eps = ctx.eps
        if ctx.reduction == "none":
            coef = g.reshape(n, 1, ln)
        elif ctx.reduction == "mean":
            coef = _div(g, ctx.denom)
        else:
            coef = g
        coef = coef * ctx.valid  # ignored elements get no gradient at all
        coef = coef.astype(p.dtype, copy=False)
        if eps:
            a = coef * ((1 - eps) * w_t + (eps / c) * ctx.w_all)
        else:
            a = coef * w_t
        dx = p * a
        dx_flat = dx.reshape(-1)
        dx_flat[idx] -= (1 - eps) * coef * w_t  # the one-hot term, one class per element
        if eps:
            w = 1.0 if weight is None else weight.astype(p.dtype).reshape(1, c, 1)
            dx -= (eps / c) * coef * w
        return dx.reshape(ctx.x_shape), None, None


class SoftTargetCrossEntropy(Function):
    """Cross-entropy against class probabilities y (same shape as x), fused.

    With y' = (1 - ε) y + ε / C and p = softmax(x) over dim 1:
        loss_i = -Σ_c w_c y'_c log p_c
        dx = g * (p Σ_c w_c y'_c - w y')          dy = -g (1 - ε) w log p
    'mean' divides by the number of elements N * d1 * ... (PyTorch: no weight normalisation).
    """

    @staticmethod
    def forward(ctx, x, y, weight, *, reduction, label_smoothing):
        xp = xp_of(x)
        n, c = x.shape[:2]
        ln = _spatial(x)
        x3, y3 = x.reshape(n, c, ln), y.reshape(n, c, ln)
        logp = x3 - x3.max(axis=1, keepdims=True)
        logp -= xp.log(xp.exp(logp).sum(axis=1, keepdims=True))
        eps = label_smoothing
        wy = y3 * (1 - eps) + eps / c if eps else y3
        if weight is not None:
            wy = wy * weight.astype(x.dtype).reshape(1, c, 1)
        loss = -(wy * logp).sum(axis=1)  # (N, L)
        if reduction == "none":
            out = loss.reshape((n, *x.shape[2:]))
        else:
            out = xp.asarray(loss.sum())
            if reduction == "mean":
                out = _div(out, loss.size)
        ctx.save_for_backward(logp, wy, weight)
        ctx.eps, ctx.reduction, ctx.x_shape = eps, reduction, x.shape
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        logp, wy, weight = ctx.saved_tensors
        xp = xp_of(logp)
        n, c, ln = logp.shape
        if ctx.reduction == "none":
            coef = g.reshape(n, 1, ln)
        else:
            coef = xp.asarray(_reduced_grad(g, (n, ln), ctx.reduction), dtype=logp.dtype)
        dx = dy = None
        if ctx.needs_input_grad[0]:
            dx = xp.exp(logp)
            dx *= wy.sum(axis=1, keepdims=True)
            dx -= wy
            dx *= coef
            dx = dx.reshape(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            dy = logp * (-(1 - ctx.eps) * coef)
            if weight is not None:
                dy *= weight.astype(logp.dtype).reshape(1, c, 1)
            dy = dy.reshape(ctx.x_shape)
        return dx, dy, None


def cross_entropy(
    input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0
):
    """Cross-entropy between logits and targets (PyTorch's `F.cross_entropy`), one fused op.

    Args:
        input: logits (N, C), (N, C, d1, d2, ...) or (C,).
        target: class indices (N,), (N, d1, d2, ...) or () of an integer dtype, each in [0, C) or
            equal to ignore_index; or class probabilities of the input's shape (float dtype).
        weight: (C,) per-class rescaling, or None. Default None.
        ignore_index (int): targets with this value count nowhere. Default -100.
        reduction (str): 'none' | 'mean' | 'sum'. Default 'mean': sum / Σ w[target] over the
            non-ignored targets (sum / number of elements for probability targets).
        label_smoothing (float): ε in [0, 1]; the target becomes (1 - ε) onehot + ε / C. Default 0.

    Shape:
        output () for 'mean' / 'sum', else (N, d1, d2, ...) (() for (C,) input).
    """
    op = "cross_entropy"
    _check_reduction(op, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    x, t, w = _raw(input), _raw(target), _raw(weight)
    if x.ndim < 1 or x.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected float logits of shape (N, C), (N, C, d1, ...) or (C,), got shape "
            f"{tuple(x.shape)} and dtype {x.dtype}"
        )
    if not hasattr(t, "dtype"):
        t = xp_of(x).asarray(t)
    if t.dtype.kind == "f":
        if tuple(t.shape) != tuple(x.shape):
            raise ValueError(
                f"{op}: a float target holds class probabilities and must have the input's shape "
                f"{tuple(x.shape)}, got target shape {tuple(t.shape)}; class-index targets must "
                "have an integer dtype (e.g. int64)"
            )
        if w is not None and tuple(w.shape) != (x.shape[x.ndim > 1],):
            raise ValueError(
                f"{op}: weight has shape {tuple(w.shape)}, expected one weight per class "
                f"(input shape {tuple(x.shape)})"
            )
        tgt = _in_dtype(target if isinstance(target, Tensor) else t, x.dtype)
        squeeze = x.ndim == 1
        if squeeze:
            input, tgt = _reshaped(input, (1, -1)), _reshaped(tgt, (1, -1))
        out = SoftTargetCrossEntropy.apply(
            input, tgt, w, reduction=reduction, label_smoothing=float(label_smoothing)
        )
        return out.reshape(()) if squeeze and reduction == "none" else out
    if t.dtype.kind not in "iu":
        raise ValueError(
            f"{op}: expected an integer class target or a float probability target, got dtype "
            f"{t.dtype} (target shape {tuple(t.shape)})"
        )
    _check_class_target(op, x, t, w, ignore_index)
    squeeze = x.ndim == 1
    if squeeze:
        input, t = _reshaped(input, (1, -1)), t.reshape(1)
    out = CrossEntropy.apply(
        input,
        t,
        w,
        ignore_index=int(ignore_index),
        reduction=reduction,
        label_smoothing=float(label_smoothing),
    )
    return out.reshape(()) if squeeze and reduction == "none" else out


class NLLLoss(Function):
    """Negative log-likelihood of log-probabilities x at class targets t.

    loss_i = -w_t x_{i, t}  (0 where t == ignore_index);  dx = -g w_t onehot(t).
    'mean' divides the sum by Σ_i w_{t_i} over the non-ignored elements.

    Shapes:  x (N, C, *) ; target (N, *) integer ; weight (C,) or None -> () or (N, *).
    """

    @staticmethod
    def forward(ctx, x, target, weight, *, ignore_index, reduction):
        xp = xp_of(x)
        n, c = x.shape[:2]
        t3 = target.reshape(n, 1, _spatial(x))
        valid = t3 != ignore_index
        t3 = xp.where(valid, t3, 0).astype(np.int64, copy=False)
        idx = _gather_index(t3, c)
        w_t = _target_weights(t3, valid, weight, x.dtype, c)
        loss = -x.reshape(-1)[idx] * w_t
        denom = None
        if reduction == "none":
            out = loss.reshape((n, *x.shape[2:]))
        else:
            out = xp.asarray(loss.sum())
            if reduction == "mean":
                denom = xp.asarray(w_t.sum())
                out = _div(out, denom)
        ctx.save_for_backward(idx, w_t)
        ctx.denom, ctx.reduction, ctx.x_shape, ctx.dtype = denom, reduction, x.shape, x.dtype
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        idx, w_t = ctx.saved_tensors
        xp = xp_of(g)
        if ctx.reduction == "none":
            coef = g.reshape(w_t.shape)
        elif ctx.reduction == "mean":
            coef = _div(g, ctx.denom)
        else:
            coef = g
        dx = xp.zeros(ctx.x_shape, dtype=ctx.dtype)
        dx.reshape(-1)[idx] = -(coef * w_t)  # one class per element: a plain scatter
        return dx, None, None


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood loss (PyTorch's `F.nll_loss`); input holds log-probabilities.

    Args:
        input: (N, C), (N, C, d1, ...) or (C,) log-probabilities (e.g. from log_softmax).
        target: integer class indices of shape (N, d1, ...) (or ()), in [0, C) or ignore_index.
        weight: (C,) or None. ignore_index (int): default -100.
        reduction (str): 'none' | 'mean' (divides by Σ w[target] of non-ignored) | 'sum'.

    Shape:
        output () for 'mean' / 'sum', else the target's shape.
    """
    op = "nll_loss"
    _check_reduction(op, reduction)
    x, t, w = _raw(input), _raw(target), _raw(weight)
    if not hasattr(t, "dtype"):
        t = xp_of(x).asarray(t)
    if t.dtype.kind not in "iu":
        raise ValueError(
            f"{op}: expected integer class targets, got dtype {t.dtype} (target shape "
            f"{tuple(t.shape)}, input shape {tuple(x.shape)})"
        )
    _check_class_target(op, x, t, w, ignore_index)
    squeeze = x.ndim == 1
    if squeeze:
        input, t = _reshaped(input, (1, -1)), t.reshape(1)
    out = NLLLoss.apply(input, t, w, ignore_index=int(ignore_index), reduction=reduction)
    return out.reshape(()) if squeeze and reduction == "none" else out


# --------------------------------------------------------------------------- regression losses


def _check_pair(op, x, y, same_shape):
    if same_shape:
        if tuple(x.shape) != tuple(y.shape):
            raise ValueError(
                f"{op}: Target size ({tuple(y.shape)}) must be the same as input size "
                f"({tuple(x.shape)})"
            )
        return
    try:
        shape = np.broadcast_shapes(tuple(x.shape), tuple(y.shape))
    except ValueError:
        raise ValueError(
            f"{op}: input shape {tuple(x.shape)} and target shape {tuple(y.shape)} do not broadcast"
        ) from None
    if tuple(x.shape) != tuple(y.shape):
        # the classic silent bug: (N, 1) against (N,) broadcasts to (N, N)
        warnings.warn(
            f"{op}: using a target size {tuple(y.shape)} that is different to the input size "
            f"{tuple(x.shape)}; they broadcast to {shape}, which is likely not what you want",
            stacklevel=3,
        )


class MSELoss(Function):
    """loss = (x - y)^2 ;  dx = 2 (x - y) g,  dy = -dx."""

    @staticmethod
    def forward(ctx, x, y, *, reduction):
        d = x - y
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce(d * d, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        dx = d * (2 * _reduced_grad(g, d.shape, ctx.reduction))
        return dx, -dx


class L1Loss(Function):
    """loss = |x - y| ;  dx = sign(x - y) g (0 where x == y),  dy = -dx."""

    @staticmethod
    def forward(ctx, x, y, *, reduction):
        d = x - y
        ctx.save_for_backward(xp_of(d).sign(d))
        ctx.reduction = reduction
        return _reduce(xp_of(d).abs(d), reduction)

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        dx = s * _reduced_grad(g, s.shape, ctx.reduction)
        return dx, -dx


class SmoothL1Loss(Function):
    """loss = 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - y);
    dx = g d / beta where |d| < beta, else g sign(d)."""

    @staticmethod
    def forward(ctx, x, y, *, reduction, beta):
        xp = xp_of(x, y)
        d = x - y
        ad = xp.abs(d)
        small = ad < beta
        loss = xp.where(small, (0.5 / beta) * d * d if beta else 0, ad - 0.5 * beta)
        ctx.save_for_backward(d, small)
        ctx.reduction, ctx.beta = reduction, beta
        return _reduce(loss.astype(d.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        d, small = ctx.saved_tensors
        xp = xp_of(d)
        local = xp.where(small, d / ctx.beta if ctx.beta else 0, xp.sign(d)).astype(d.dtype)
        dx = local * _reduced_grad(g, d.shape, ctx.reduction)
        return dx, -dx


def _regression(fn, op, input, target, reduction, **params):
    _check_reduction(op, reduction)
    input, tgt = _floating_pair(op, input, target)
    _check_pair(op, _raw(input), _raw(tgt), same_shape=False)
    # float16 in float32, as PyTorch (x - y and its square lose a digit in float16)
    return half_as_float32(lambda x, y: fn.apply(x, y, reduction=reduction, **params), input, tgt)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error (PyTorch's `F.mse_loss`): (input - target)^2, reduced.

    Shape: input and target of the same shape (broadcasting works but warns);
    output () for 'mean' / 'sum', else that shape.
    """
    return _regression(MSELoss, "mse_loss", input, target, reduction)


def l1_loss(input, target, reduction="mean"):
    """Mean absolute error (PyTorch's `F.l1_loss`): |input - target|, reduced."""
    return _regression(L1Loss, "l1_loss", input, target, reduction)


def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """Huber-like loss (PyTorch's `F.smooth_l1_loss`): quadratic below beta, linear above.

    Args: beta (float): the switch point, default 1.0 (0 gives l1_loss).
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _regression(SmoothL1Loss, "smooth_l1_loss", input, target, reduction, beta=float(beta))


# --------------------------------------------------------------------------- binary losses


class BCEWithLogits(Function):
    """Binary cross-entropy on logits x, computed stably, with optional weight and pos_weight.

    sp(-x) = log(1 + e^-x) = max(-x, 0) + log1p(e^-|x|)         (never overflows)
    l = (1 - y) x + (1 + (pw - 1) y) sp(-x),   loss = w l
    dl/dx = (1 - y) - (1 + (pw - 1) y) sigmoid(-x)     (= sigmoid(x) - y when pw = 1)
    with sigmoid(-x) = exp(-x - sp(-x)), exact for large |x| where 1 - sigmoid(x) rounds to 0
    dl/dy = -x + (pw - 1) sp(-x)        dl/dpw = y sp(-x)
    """

    @staticmethod
    def forward(ctx, x, y, weight, pos_weight, *, reduction):
        xp = xp_of(x)
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # softplus(-x)
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        unweighted = (1 - y) * x + lw * sp
        loss = unweighted if weight is None else unweighted * weight
        ctx.save_for_backward(x, y, weight, pos_weight, sp, unweighted)
        ctx.reduction = reduction
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, pos_weight, sp, unweighted = ctx.saved_tensors
        xp = xp_of(x)
        need_x, need_y, need_w, need_pw = ctx.needs_input_grad
        gl = _reduced_grad(g, unweighted.shape, ctx.reduction)
        gw = gl if weight is None else gl * weight  # d(loss)/d(l)
        lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * y
        dx = dy = dw = dpw = None
        if need_x:
            dx = gw * ((1 - y) - lw * xp.exp(-x - sp))
        if need_y:
            dy = gw * (-x if pos_weight is None else -x + (pos_weight - 1) * sp)
        if need_w:
            dw = gl * unweighted
        if need_pw:
            dpw = gw * y * sp
        return dx, dy, dw, dpw


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean", pos_weight=None):
    """Sigmoid + binary cross-entropy in one stable op (PyTorch's
    `F.binary_cross_entropy_with_logits`).

    Args:
        input: logits of any shape. target: same shape, values in [0, 1].
        weight: broadcastable to input, rescales each element's loss. Default None.
        reduction (str): 'none' | 'mean' | 'sum'. Default 'mean'.
        pos_weight: broadcastable to input (usually (C,) for the last dim), weight of the
            positive term. Default None.

    Shape:
        output () for 'mean' / 'sum', else the input's shape.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    require_floating(op, input)
    x = _raw(input)
    y = _float_target(x, target)
    _check_pair(op, x, y, same_shape=True)
    for name, v in (("weight", weight), ("pos_weight", pos_weight)):
        if v is not None:
            try:
                np.broadcast_shapes(tuple(_raw(v).shape), tuple(x.shape))
            except ValueError:
                raise ValueError(
                    f"{op}: {name} of shape {tuple(_raw(v).shape)} does not broadcast to the "
                    f"input shape {tuple(x.shape)}"
                ) from None
    tgt = _in_dtype(target, x.dtype) if isinstance(target, Tensor) else y
    return BCEWithLogits.apply(input, tgt, weight, pos_weight, reduction=reduction)


class BCE(Function):
    """Binary cross-entropy on probabilities x (PyTorch's clamping of log at -100).

    loss = -w (y log x + (1 - y) log(1 - x))
    dx = g w (x - y) / max(x (1 - x), 1e-12)        dy = g w (log(1 - x) - log x)
    """

    @staticmethod
    def forward(ctx, x, y, weight, *, reduction):
        xp = xp_of(x)
        with np.errstate(divide="ignore"):
            log_x = xp.maximum(xp.log(x), -100)
            log_1mx = xp.maximum(xp.log1p(-x), -100)
        unweighted = -(y * log_x + (1 - y) * log_1mx)
        loss = unweighted if weight is None else unweighted * weight
        ctx.save_for_backward(x, y, weight, log_x, log_1mx, unweighted)
        ctx.reduction = reduction
        return _reduce(loss.astype(x.dtype, copy=False), reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, weight, log_x, log_1mx, unweighted = ctx.saved_tensors
        xp = xp_of(x)
        need_x, need_y, need_w = ctx.needs_input_grad
        gl = _reduced_grad(g, unweighted.shape, ctx.reduction)
        gw = gl if weight is None else gl * weight
        dx = dy = dw = None
        if need_x:
            dx = gw * (x - y) / xp.maximum(x * (1 - x), 1e-12)
        if need_y:
            dy = gw * (log_1mx - log_x)
        if need_w:
            dw = gl * unweighted
        return dx, dy, dw


def binary_cross_entropy(input, target, weight=None, reduction="mean"):
    """Binary cross-entropy on probabilities (PyTorch's `F.binary_cross_entropy`).

    Args:
        input: probabilities in [0, 1], any shape. target: same shape, in [0, 1].
        weight: broadcastable to input, or None. reduction (str): default 'mean'.

    Shape:
        output () for 'mean' / 'sum', else the input's shape. Prefer
        binary_cross_entropy_with_logits on logits: it is stable where this saturates.
    """
    op = "binary_cross_entropy"
    _check_reduction(op, reduction)
    require_floating(op, input)
    x = _raw(input)
    y = _float_target(x, target)
    _check_pair(op, x, y, same_shape=True)
    # (not on the GPU, where it would read back every batch: there such input gives a NaN loss)
    if x.size and xp_of(x) is np and bool(((x < 0) | (x > 1)).any()):
        raise ValueError(
            f"{op}: all elements of input should be between 0 and 1 (input shape {tuple(x.shape)}, "
            f"min {float(x.min()):.4g}, max {float(x.max()):.4g}); pass logits to "
            "binary_cross_entropy_with_logits instead"
        )
    if weight is not None:
        try:
            np.broadcast_shapes(tuple(_raw(weight).shape), tuple(x.shape))
        except ValueError:
            raise ValueError(
                f"{op}: weight of shape {tuple(_raw(weight).shape)} does not broadcast to the "
                f"input shape {tuple(x.shape)}"
            ) from None
    tgt = _in_dtype(target, x.dtype) if isinstance(target, Tensor) else y
    return BCE.apply(input, tgt, weight, reduction=reduction)


def huber_loss(input, target, reduction="mean", delta=1.0):
    """Huber loss (PyTorch's `F.huber_loss`): 0.5 d^2 where |d| < delta, else
    delta (|d| - 0.5 delta); that is delta * smooth_l1_loss(beta=delta).

    Args: delta (float): the switch point, > 0. Default 1.0.
    """
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    if _raw(input).dtype.kind == "f" and isinstance(target, Tensor):
        target = _in_dtype(target, _raw(input).dtype)  # torch's huber keeps the input's dtype
    return smooth_l1_loss(input, target, reduction, beta=delta) * float(delta)


def kl_div(input, target, reduction="mean", log_target=False):
    """Kullback-Leibler divergence KL(target || model) with `input` the model's
    log-probabilities (PyTorch's `F.kl_div`): pointwise target (log target - input), 0 where
    target is 0 (unless log_target, where target holds log-probabilities too).

    Args:
        reduction (str): 'mean' (over every element, PyTorch's default, which is not the KL
            divergence), 'batchmean' (sum / batch size: the mathematical KL per sample), 'sum'
            or 'none'.
        log_target (bool): target is given as log-probabilities. Default False.
    """
    from .elementwise import exp, log, where

    if reduction not in ("none", "mean", "sum", "batchmean"):
        raise ValueError(
            f"kl_div: reduction must be 'none', 'mean', 'sum' or 'batchmean', got {reduction!r}"
        )
    if reduction == "mean":
        warnings.warn(
            "kl_div: reduction='mean' divides by the number of elements, not of samples; "
            "'batchmean' gives the KL divergence (as PyTorch warns too)",
            UserWarning,
            stacklevel=2,
        )
    x = _raw(input)
    y = _float_target(x, target)
    _check_pair("kl_div", x, y, same_shape=False)
    if isinstance(target, Tensor):  # both in PyTorch's result dtype (it promotes here)
        dtype = result_type(input, target)
        dtype = dtype if dtype.kind == "f" else get_default_dtype()
        input, tgt = _in_dtype(input, dtype), _in_dtype(target, dtype)
    else:
        tgt = Tensor(y)
    if log_target:
        pointwise = exp(tgt) * (tgt - input)
    else:
        positive = tgt._data > 0
        # where(t > 0, t log t, 0): log of a clamped copy, so no log(0) reaches the graph; a
        # negative target (no probability) gives nan, as PyTorch's xlogy(t, t)
        safe = where(positive, tgt, 1.0)
        t_log_t = where(tgt._data < 0, math.nan, where(positive, tgt * log(safe), 0.0))
        pointwise = t_log_t - tgt * input
    if reduction == "batchmean":
        return pointwise.sum() / (x.shape[0] if x.ndim else 1)
    if reduction == "mean":
        return pointwise.mean()
    if reduction == "sum":
        return pointwise.sum()
    return pointwise


# --------------------------------------------------------------------------- likelihoods


class _ClampedVariance(Function):
    """max(var, eps) with the gradient passed to var unchanged: PyTorch clamps a copy of var
    under no_grad, so its gradient is taken at the clamped value and flows back as if the clamp
    were not there."""

    @staticmethod
    def forward(ctx, var, *, eps):
        return xp_of(var).maximum(var, eps).astype(var.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return g


def _target_tensor(x, target):
    """The target as a Tensor of the input's (raw array x's) float dtype, on the graph when it
    is one (PyTorch casts the same way)."""
    if isinstance(target, Tensor):
        return _in_dtype(target, x.dtype)
    return Tensor(_float_target(x, target))


def _reduce_tensor(loss, reduction):
    """A Tensor of elementwise (or per-sample) losses, reduced; 'none' keeps it."""
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


def gaussian_nll_loss(input, target, var, full=False, eps=1e-6, reduction="mean"):
    """Negative log-likelihood of `target` under N(input, var) (PyTorch's `F.gaussian_nll_loss`):
    0.5 (log(max(var, eps)) + (input - target)^2 / max(var, eps)), plus 0.5 log(2 pi) if `full`.

    Args:
        var: the predicted variances: a Tensor of the input's shape (one per value), of that
            shape with one dim of size 1 or without the last dim (shared along it), or a float.
        full (bool): add the constant 0.5 log(2 pi). Default False.
        eps (float): floor of the variance, for stability (its gradient passes unclamped).
    """
    from .elementwise import log

    op = "gaussian_nll_loss"
    _check_reduction(op, reduction)
    x = _raw(input)
    if not isinstance(var, Tensor):
        if not isinstance(var, (int, float)):
            raise TypeError(f"{op}: var must be a Tensor or a float, got {type(var).__name__}")
        if var < 0:
            raise ValueError(f"{op}: var has a negative entry ({var})")
        var = Tensor(xp_of(x).full(x.shape, float(var), dtype=x.dtype))
    v = var._data
    if xp_of(v) is np and v.size and bool((v < 0).any()):
        raise ValueError(f"{op}: var has negative entries (var shape {tuple(v.shape)})")
    if tuple(v.shape) != tuple(x.shape):
        if tuple(v.shape) == tuple(x.shape[:-1]):
            var = var.unsqueeze(-1)  # one variance per row, shared along the last dim
        elif not (v.ndim == x.ndim and sum(b for a, b in zip(x.shape, v.shape) if a != b) == 1):
            raise ValueError(
                f"{op}: var of shape {tuple(v.shape)} does not fit input of shape "
                f"{tuple(x.shape)}; expected the input's shape, that shape with one dim of "
                f"size 1, or without its last dim"
            )
    target = _target_tensor(x, target)
    _check_pair(op, x, target._data, same_shape=False)
    var = _ClampedVariance.apply(_in_dtype(var, x.dtype), eps=float(eps))
    loss = 0.5 * (log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce_tensor(loss, reduction)


def poisson_nll_loss(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    """Negative log-likelihood of counts `target` under a Poisson of rate lambda (PyTorch's
    `F.poisson_nll_loss`, without the constant log(target!)):
        exp(input) - target * input            if log_input (input = log lambda)
        input - target * log(input + eps)      otherwise (input = lambda)
    plus, if `full`, Stirling's target log target - target + 0.5 log(2 pi target) where
    target > 1.
    """
    from .elementwise import exp, log

    op = "poisson_nll_loss"
    _check_reduction(op, reduction)
    x = _raw(input)
    target = _target_tensor(x, target)
    _check_pair(op, x, target._data, same_shape=False)
    if log_input:
        loss = exp(input) - target * input
    else:
        loss = input - target * log(input + float(eps))
    if full:
        from .elementwise import where

        big = target._data > 1
        safe = where(big, target, 2.0)  # no log(0) on the graph where the term is dropped
        stirling = safe * log(safe) - safe + 0.5 * log(2 * np.pi * safe)
        loss = loss + where(big, stirling, 0.0)
    return _reduce_tensor(loss, reduction)


def sigmoid_focal_loss(inputs, targets, alpha: float = 0.25, gamma: float = 2.0,
                       reduction: str = "none"):  # fmt: skip
    """The focal loss of RetinaNet (Lin et al., 2017), torchvision.ops' `sigmoid_focal_loss`:
    binary cross-entropy with logits scaled by (1 - p_t)^gamma, p_t the probability given to
    the true label, so easy, confident examples weigh little; times alpha_t = alpha for
    positives and 1 - alpha for negatives (alpha < 0: no weighting).

    Args:
        inputs: logits of any shape. targets: 0/1 labels (or probabilities) of that shape.
        alpha (float): Default 0.25. gamma (float): Default 2. reduction: 'none' (torchvision's
            default), 'mean' or 'sum'.
    """
    from .activation import sigmoid

    _check_reduction("sigmoid_focal_loss", reduction)
    require_floating("sigmoid_focal_loss", inputs)
    t = _target_tensor(_raw(inputs), targets)
    p = sigmoid(inputs)
    ce = binary_cross_entropy_with_logits(inputs, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return _reduce_tensor(loss, reduction)
