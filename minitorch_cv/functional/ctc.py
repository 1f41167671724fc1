"""Connectionist temporal classification (Graves et al., 2006): PyTorch's `F.ctc_loss`.

A target l of length S is aligned to T frames through the extended sequence
l' = (blank, l_1, blank, l_2, ..., l_S, blank) of 2S + 1 states. A path stays on a state, moves
to the next one, or skips a blank between two different labels. With y_t(k) = exp(log_probs[t, k]):

    alpha_t(s) = (alpha_{t-1}(s) + alpha_{t-1}(s-1) + [skip] alpha_{t-1}(s-2)) y_t(l'_s)
    beta_t(s)  = (beta_{t+1}(s)  + beta_{t+1}(s+1)  + [skip] beta_{t+1}(s+2))  y_t(l'_s)
    p(l | x)   = alpha_{T-1}(2S) + alpha_{T-1}(2S-1),           loss = -log p(l | x)

both recursions run in log space, vectorised over the batch and the 2S + 1 states; only the loop
over time remains. The gradient is PyTorch's (Graves' eq. 16), for t < input_length:

    grad[t, k] = exp(log_probs[t, k]) - sum_{s: l'_s = k} alpha_t(s) beta_t(s) / (y_t(k) p(l | x))

which is d loss / d logits for log_probs = log_softmax(logits). Through log_softmax it is the
exact gradient (log_softmax's backward, g - softmax * sum(g), removes the exp term, a softmax
times a constant per frame); on raw log_probs it is the exact gradient plus exp(log_probs) on
the frames t < input_length, as in PyTorch.
"""

from __future__ import annotations

import numpy as np

from ..backend import device_of, to_device, xp_of
from ..tensor import Function
from .loss import _check_reduction, _raw, _reshaped


def _logsumexp(*terms):
    """log(sum exp(terms)) elementwise, where all -inf gives -inf (never -inf - -inf)."""
    xp = xp_of(*terms)
    m = terms[0]
    for a in terms[1:]:
        m = xp.maximum(m, a)
    m = xp.where(m == -np.inf, 0, m)
    total = xp.exp(terms[0] - m)
    for a in terms[1:]:
        total += xp.exp(a - m)
    with np.errstate(divide="ignore"):
        return xp.log(total) + m


def _shifted(a, k, allowed=None):
    """a[:, s - k] (k > 0) or a[:, s + |k|] (k < 0) along the states, -inf outside the row and
    where `allowed` (same shape as the result) is False."""
    xp = xp_of(a)
    out = xp.full_like(a, -np.inf)
    if k > 0:
        out[:, k:] = a[:, :-k]
    else:
        out[:, :k] = a[:, -k:]
    return out if allowed is None else xp.where(allowed, out, -np.inf)


class CTCLoss(Function):
    """Negative log-likelihood of each target under all its CTC alignments.

    Shapes:  log_probs (T, N, C) ; targets (N, S) integer, padded with the blank beyond each
             target length ; input_lengths, target_lengths (N,) integer  ->  () or (N,).
    """

    @staticmethod
    def forward(ctx, lp, targets, il, tl, *, blank, reduction, zero_infinity):
        xp = xp_of(lp)
        n_t, n = lp.shape[:2]
        n_s = 2 * targets.shape[1] + 1
        ext = xp.full((n, n_s), blank, dtype=np.int64)  # l': blanks at even states
        ext[:, 1::2] = targets
        skip = xp.zeros((n, n_s), dtype=bool)  # s-2 -> s allowed: a label unlike the one before
        skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
        emit = lp[:, xp.arange(n)[:, None], ext]  # (T, N, 2S+1): log y_t(l'_s)
        alpha = xp.full((n_t, n, n_s), -np.inf, dtype=lp.dtype)
        alpha[0, :, 0] = emit[0, :, 0]
        if n_s > 1:
            alpha[0, :, 1] = xp.where(tl > 0, emit[0, :, 1], -np.inf)
        for t in range(1, n_t):
            prev = alpha[t - 1]
            alpha[t] = _logsumexp(prev, _shifted(prev, 1), _shifted(prev, 2, skip)) + emit[t]
        rows = xp.arange(n)
        last = xp.maximum(il - 1, 0)
        a_end = alpha[last, rows, 2 * tl]
        a_before = xp.where(tl > 0, alpha[last, rows, xp.maximum(2 * tl - 1, 0)], -np.inf)
        ll = _logsumexp(a_end, a_before)
        ll = xp.where(il == 0, xp.where(tl == 0, 0.0, -np.inf), ll)  # no frames: only l = ()
        nll = (-ll).astype(lp.dtype, copy=False)
        loss = xp.where(nll == np.inf, 0, nll).astype(lp.dtype) if zero_infinity else nll
        ctx.save_for_backward(lp, emit, alpha, ext, skip, nll, il, tl)
        ctx.reduction, ctx.zero_infinity = reduction, zero_infinity
        if reduction == "none":
            return loss
        if reduction == "sum":
            return xp.asarray(loss.sum())
        return xp.asarray((loss / xp.maximum(tl, 1).astype(lp.dtype)).mean())

    @staticmethod
    def backward(ctx, g):
        lp, emit, alpha, ext, skip, nll, il, tl = ctx.saved_tensors
        xp = xp_of(lp)
        n_t, n, c = lp.shape
        n_s = ext.shape[1]
        if ctx.reduction == "none":
            coef = g
        elif ctx.reduction == "sum":
            coef = xp.broadcast_to(g, (n,))
        else:
            coef = g / (n * xp.maximum(tl, 1)).astype(lp.dtype)
        # beta, from each sequence's last frame il-1 (where it may end on the last blank or
        # the last label) back to frame 0; -inf at frames >= il
        steps = xp.arange(n_t)[:, None]
        starts = steps == il - 1  # (T, N)
        inside = steps < il - 1
        s = xp.arange(n_s)
        ends = (s == 2 * tl[:, None]) | (s == 2 * tl[:, None] - 1)  # (N, 2S+1)
        skip_back = xp.zeros_like(skip)  # s -> s+2 allowed
        skip_back[:, :-2] = skip[:, 2:]
        beta = xp.full_like(alpha, -np.inf)
        nxt = beta[0]
        for t in range(n_t - 1, -1, -1):
            rec = _logsumexp(nxt, _shifted(nxt, -1), _shifted(nxt, -2, skip_back)) + emit[t]
            init = xp.where(ends, emit[t], -np.inf)
            beta[t] = xp.where(starts[t][:, None], init, xp.where(inside[t][:, None], rec, -np.inf))
            nxt = beta[t]
        # log sum_{s: l'_s = k} alpha_t(s) beta_t(s), scattered from the states to the classes
        ab = alpha + beta
        m = ab.max(axis=2, keepdims=True)
        m = xp.where(m == -np.inf, 0, m)
        flat = (steps[:, :, None] * n + xp.arange(n)[None, :, None]) * c + ext[None]
        summed = xp.bincount(flat.reshape(-1), weights=xp.exp(ab - m).reshape(-1),
                             minlength=n_t * n * c)  # fmt: skip
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_ab = xp.log(summed.reshape(n_t, n, c).astype(lp.dtype, copy=False)) + m
            grad = xp.exp(lp) - xp.exp(log_ab + nll[None, :, None] - lp)
            keep = steps < il  # frames past each input length get no gradient
            if ctx.zero_infinity:
                keep = keep & (nll != np.inf)
            grad = xp.where(keep[:, :, None], grad * coef[None, :, None], 0)
        return grad.astype(lp.dtype, copy=False), None, None, None


def _lengths(op, name, value, n):
    """input_lengths / target_lengths (a Tensor, array, int, tuple or list) -> (N,) int64 on
    the host, where PyTorch reads them too."""
    a = _raw(value)
    a = np.asarray(to_device(a, "cpu") if hasattr(a, "dtype") else a)
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be integers, got dtype {a.dtype}")
    if a.ndim > 1 or a.size != n:
        raise ValueError(
            f"{op}: {name} must hold one length per batch item: shape ({n},) or (), got shape "
            f"{tuple(a.shape)}"
        )
    return a.reshape(-1).astype(np.int64)


def _padded_targets(op, t, tl, shape, blank):
    """Padded (N, S) or concatenated (sum(target_lengths),) targets -> (N, max(target_lengths))
    int64 with the blank past each length; every real label checked against C and the blank."""
    xp = xp_of(t)
    n = len(tl)
    s_max = int(tl.max())
    within = xp.arange(s_max)[None, :] < xp.asarray(tl)[:, None]  # (N, S_max)
    if t.ndim == 1:
        if t.shape[0] != int(tl.sum()):
            raise ValueError(
                f"{op}: concatenated 1-D targets must hold sum(target_lengths) = {int(tl.sum())} "
                f"labels, got shape {tuple(t.shape)} (log_probs shape {shape})"
            )
        start = xp.asarray(np.cumsum(tl) - tl)[:, None]
        idx = xp.minimum(start + xp.arange(s_max)[None, :], max(t.shape[0] - 1, 0))
        labels = t[idx] if t.shape[0] else xp.zeros((n, s_max), dtype=t.dtype)
    elif t.ndim == 2:
        if t.shape[0] != n or t.shape[1] < s_max:
            raise ValueError(
                f"{op}: padded targets must have shape (N, S) with N = {n} and S >= "
                f"max(target_lengths) = {s_max}, got shape {tuple(t.shape)} (log_probs shape "
                f"{shape})"
            )
        labels = t[:, :s_max]
    else:
        raise ValueError(
            f"{op}: targets must be padded (N, S) or concatenated (sum(target_lengths),), got "
            f"shape {tuple(t.shape)} (log_probs shape {shape})"
        )
    labels = labels.astype(np.int64)
    c = shape[-1]
    bad = within & ((labels < 0) | (labels >= c) | (labels == blank))
    if bool(bad.any()):
        i, j = (int(v) for v in xp.argwhere(bad)[0])
        raise ValueError(
            f"{op}: target label {int(labels[i, j])} (batch item {i}, position {j}) must lie in "
            f"[0, {c - 1}] and differ from blank = {blank} (log_probs shape {shape}, targets "
            f"shape {tuple(t.shape)})"
        )
    return xp.where(within, labels, blank)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):  # fmt: skip
    """Connectionist temporal classification loss (PyTorch's `F.ctc_loss`).

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities over C classes, blank
            included (e.g. log_softmax(logits, 2)).
        targets: padded (N, S) with S >= max(target_lengths), or the N targets concatenated
            into one (sum(target_lengths),) sequence; unbatched: (S,) with S = target_length, or
            (1, S). Labels in [0, C), never the blank (only the first target_lengths[n] count);
            any integer dtype (floats are cast to int64, as PyTorch does).
        input_lengths: (N,) or () integers, each in [0, T]: the frames of each sequence.
        target_lengths: (N,) or () integers >= 0.
        blank (int): the blank class, in [0, C). Default 0.
        reduction (str): 'none' | 'mean' | 'sum'. Default 'mean': each loss divided by its
            target length (at least 1), then the mean over the batch.
        zero_infinity (bool): infinite losses (targets too long for their input, no alignment)
            and their gradients become zero. Default False.

    Shape:
        output () for 'mean' / 'sum', else (N,) (() unbatched).

    The gradient w.r.t. log_probs is PyTorch's: that of the logits behind a log_softmax (see
    the module docstring); frames past each input length get none.
    """
    op = "ctc_loss"
    _check_reduction(op, reduction)
    lp = _raw(log_probs)
    shape = tuple(lp.shape)
    if lp.ndim not in (2, 3) or lp.dtype.kind != "f":
        raise ValueError(
            f"{op}: expected float log_probs of shape (T, N, C) or (T, C), got shape {shape} "
            f"and dtype {lp.dtype}"
        )
    if lp.size == 0:
        raise ValueError(f"{op}: log_probs must not be empty, got shape {shape}")
    batched = lp.ndim == 3
    n_t, n, c = shape if batched else (shape[0], 1, shape[1])
    if not 0 <= blank < c:
        raise ValueError(
            f"{op}: blank = {blank} must lie in [0, {c - 1}] (log_probs shape {shape})"
        )
    il = _lengths(op, "input_lengths", input_lengths, n)
    tl = _lengths(op, "target_lengths", target_lengths, n)
    if il.min() < 0 or il.max() > n_t:
        raise ValueError(
            f"{op}: input_lengths must lie in [0, T = {n_t}] (log_probs shape {shape}), got "
            f"{il.tolist()}"
        )
    if tl.min() < 0:
        raise ValueError(f"{op}: target_lengths must be >= 0, got {tl.tolist()}")
    xp = xp_of(lp)
    t = _raw(targets)
    t = xp.asarray(t) if not hasattr(t, "dtype") else to_device(t, device_of(lp))
    if t.dtype.kind not in "iufb":
        raise TypeError(f"{op}: targets must hold integer labels, got dtype {t.dtype}")
    padded = _padded_targets(op, t, tl, shape, blank)
    out = CTCLoss.apply(
        log_probs if batched else _reshaped(log_probs, (n_t, 1, c)),
        padded,
        xp.asarray(il),
        xp.asarray(tl),
        blank=int(blank),
        reduction=reduction,
        zero_infinity=bool(zero_infinity),
    )
    return out.reshape(()) if not batched and reduction == "none" else out
