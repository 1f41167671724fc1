"""Compare a function's analytic gradients with central differences, in float64.

Example::

    x = minitorch_cv.randn(3, 4, dtype=minitorch_cv.float64, requires_grad=True)
    minitorch_cv.gradcheck(lambda x: (x * x).sum(), [x])
"""

from __future__ import annotations

import numpy as np

from .backend import to_device
from .tensor import Tensor, no_grad


def _scalar_of(out, weights):
    """Reduce the output(s) to one number: sum(out * w) with fixed random weights, so every
    output element takes part and errors cannot cancel out."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    total = 0.0
    for o, w in zip(outs, weights):
        if w is not None:
            total = total + (o * Tensor(w)).sum()
    return total


def gradcheck(
    fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0
) -> bool:
    """Check `fn(*inputs)`'s backward against central differences.

    Args:
        fn: maps the input tensors to a tensor (or a tuple of tensors).
        inputs: a tensor or a sequence of tensors (and other arguments); those with
            requires_grad=True are checked and must be float64. Their .grad is left as it was.
        eps: finite-difference step (default 1e-6).
        atol, rtol: allowed |analytic - numeric| <= atol + rtol * |numeric| (1e-5, 1e-3).
        seed: seed of the random output weights (default 0).

    Returns True, or raises AssertionError naming the input, the index, and both values.
    """
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} has dtype {t.dtype}; use float64 for a meaningful check"
            )
    with no_grad():
        out = fn(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    rng = np.random.default_rng(seed)
    weights = []
    for o in outs:
        if isinstance(o, Tensor) and o.dtype.kind == "f":
            w = rng.standard_normal(o.shape)
            weights.append(to_device(w, o.device))
        else:
            weights.append(None)

    def f():
        with no_grad():
            return float(_scalar_of(fn(*inputs), weights).item())

    tensors = [t for t in inputs if isinstance(t, Tensor)]
    kept = [t.grad for t in tensors]  # the caller's gradients, restored below
    for t in tensors:
        t.grad = None
    try:
        _scalar_of(fn(*inputs), weights).backward()
        # by id: `in` / index() would call Tensor.__eq__, which is elementwise
        grads = {id(t): None if t.grad is None else np.asarray(t.grad) for t in tensors}
    finally:
        for t, g in zip(tensors, kept):
            t.grad = g

    for i, t in enumerate(inputs):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = grads[id(t)]
        analytic = np.zeros(t.shape) if analytic is None else analytic
        numeric = np.zeros(t.shape)
        for idx in np.ndindex(*t.shape):  # index t._data itself: works for any memory layout
            orig = t._data[idx].item()
            t._data[idx] = orig + eps
            fp = f()
            t._data[idx] = orig - eps
            fm = f()
            t._data[idx] = orig
            numeric[idx] = (fp - fm) / (2 * eps)
        bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            idx = tuple(int(j) for j in np.argwhere(bad)[0])
            raise AssertionError(
                f"gradcheck: gradient of input {i} (shape {t.shape}) differs at index {idx}: "
                f"analytic {analytic[idx]:.8g}, numeric {numeric[idx]:.8g} "
                f"({int(bad.sum())} of {bad.size} elements differ)"
            )
    return True
