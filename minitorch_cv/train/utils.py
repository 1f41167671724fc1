"""Training helpers: class weights for imbalanced data, and the gradient clipping of
`nn.utils` re-exported (`clip_grad_norm_`, `clip_grad_value_`).

    w = class_weights(train_set, num_classes=21)          # rare classes weigh more
    loss_fn = nn.CrossEntropyLoss(weight=w, ignore_index=255)

It works on NumPy and CuPy arrays alike.
"""

from __future__ import annotations

import numpy as np

from ..backend import to_device, xp_of
from ..layers.utils import clip_grad_norm_, clip_grad_value_  # noqa: F401  (re-exported)
from ..tensor import Tensor


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
