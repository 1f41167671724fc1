"""Training helpers: gradient clipping (torch.nn.utils names) and class weights for imbalanced data.

    loss.backward()
    clip_grad_norm_(model.parameters(), max_norm=1.0)     # rescale all gradients together
    optimizer.step()

    w = class_weights(train_set, num_classes=21)          # rare classes weigh more
    loss_fn = nn.CrossEntropyLoss(weight=w, ignore_index=255)

Both work on NumPy and CuPy arrays alike.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import to_device, xp_of
from ..tensor import Tensor


def _grads(parameters) -> list:
    """The gradient arrays of the parameters that have one."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad._data for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> Tensor:
    """Rescale gradients in place so that their joint norm is at most `max_norm`.

        total = || (||g_1||_p, ..., ||g_n||_p) ||_p     (the p-norm of all gradients as one vector)
        g_i  <- g_i * min(1, max_norm / (total + 1e-6))

    As in PyTorch the factor is computed and applied on the gradients' device, so no value goes
    back to the host (unless `error_if_nonfinite` asks to check the norm).

    Args:
        parameters: a Tensor or an iterable of Tensors; those without `.grad` are skipped.
        max_norm (float): the largest allowed norm.
        norm_type (float): p of the p-norm; `float('inf')` for the largest absolute value.
            Default: 2.0.
        error_if_nonfinite (bool): raise RuntimeError when the total norm is nan or inf.
            Default: False.

    Returns:
        the total norm before clipping, a 0-d Tensor.
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if max_norm < 0 or math.isnan(max_norm):
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if norm_type <= 0 or math.isnan(norm_type):
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 or inf, got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return Tensor(np.zeros((), dtype=np.float32))
    xp = xp_of(*grads)
    if math.isinf(norm_type):
        norms = xp.stack([xp.abs(g).max() for g in grads])
        total = norms.max()
    else:
        # one norm per tensor, then the norm of those: the p-norm of the concatenation
        norms = xp.stack([(xp.abs(g) ** norm_type).sum() ** (1.0 / norm_type) for g in grads])
        total = (norms**norm_type).sum() ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total)}, so they cannot be clipped; set error_if_nonfinite=False to skip "
            "this check"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place.

    Args:
        parameters: a Tensor or an iterable of Tensors; those without `.grad` are skipped.
        clip_value (float): the bound, >= 0.
    """
    clip_value = float(clip_value)
    if clip_value < 0 or math.isnan(clip_value):
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for g in _grads(parameters):
        xp_of(g).clip(g, -clip_value, clip_value, out=g)


def _raw(a):
    if isinstance(a, Tensor):
        return a._data
    if isinstance(a, np.ndarray) or type(a).__module__.startswith("cupy"):
        return a
    return np.asarray(a)


def class_counts(targets, num_classes: int, ignore_index: int | None = 255) -> np.ndarray:
    """How many times each class occurs (pixels for masks, items for labels), an int64 (K,) array.

    Args:
        targets: labels or masks: a Tensor / array, a dataset with `.targets`, or an iterable of
            `(x, y)` batches (a DataLoader) or of label arrays.
        num_classes (int): K.
        ignore_index (int or None): a target value not counted (default 255, the void label).
    """
    if num_classes < 1:
        raise ValueError(f"class_counts: num_classes must be >= 1, got {num_classes}")
    if hasattr(getattr(targets, "dataset", None), "targets"):
        targets = targets.dataset  # a DataLoader: count its dataset, do not consume an epoch
    if hasattr(targets, "targets") and not isinstance(targets, (Tensor, np.ndarray)):
        targets = targets.targets
    if isinstance(targets, (Tensor, np.ndarray, list)) or type(targets).__module__.startswith(
        "cupy"
    ):
        chunks = [targets]
    else:
        chunks = (b[1] if isinstance(b, (tuple, list)) else b for b in targets)
    counts = np.zeros(num_classes, dtype=np.int64)
    for chunk in chunks:
        t = _raw(chunk)
        xp = xp_of(t)
        if t.dtype.kind not in "iu":
            raise TypeError(f"class_counts: targets must be integer labels, got dtype {t.dtype}")
        t = t.reshape(-1)
        if ignore_index is not None:
            t = t[t != ignore_index]
        if t.size and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(
                f"class_counts({num_classes} classes): labels must be in 0..{num_classes - 1}"
                + (f" or {ignore_index}" if ignore_index is not None else "")
                + f", found {int(t.min())}..{int(t.max())}"
            )
        counts += to_device(xp.bincount(t, minlength=num_classes), "cpu").astype(np.int64)
    return counts


def class_weights(
    targets, num_classes: int, ignore_index: int | None = 255, power: float = 1.0
) -> Tensor:
    """Per-class loss weights inversely proportional to class frequency (pixel frequency for masks).

        freq_c = count_c / sum(count)          w_c = freq_c ** -power,
        then scaled so that the frequency-weighted mean weight sum_c freq_c * w_c is 1

    With power=1 this is scikit-learn's 'balanced' weighting, N / (K * count_c), up to the
    constant: every class then contributes the same total weight to the loss. power=0.5 is the
    gentler inverse square root. A class that never occurs gets the largest weight of the classes
    that do (it is at least as rare as the rarest one seen), so no weight is 0 or inf.

    Args:
        targets: labels or masks: a Tensor / array, a dataset with `.targets`, or an iterable of
            `(x, y)` batches (a DataLoader).
        num_classes (int): K.
        ignore_index (int or None): a target value not counted (default 255).
        power (float): exponent of the inverse frequency, >= 0. Default: 1.0.

    Returns:
        float32 Tensor (K,), for `CrossEntropyLoss(weight=...)`.
    """
    if power < 0:
        raise ValueError(f"class_weights: power must be >= 0, got {power}")
    counts = class_counts(targets, num_classes, ignore_index).astype(np.float64)
    total = counts.sum()
    if total == 0:
        raise ValueError(
            f"class_weights: no labels to count (every target is ignore_index={ignore_index} "
            "or the targets are empty)"
        )
    freq = counts / total
    present = counts > 0
    w = np.zeros(num_classes)
    w[present] = freq[present] ** -power
    w /= (freq * w).sum()  # mean weight per counted item (pixel) = 1
    w[~present] = w[present].max()
    return Tensor(w.astype(np.float32))
