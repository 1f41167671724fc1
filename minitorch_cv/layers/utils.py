"""torch.nn.utils: gradient clipping, flattening parameters into one vector, and the weight
reparametrisations weight_norm / spectral_norm (in weight_norms.py); nn.utils.rnn, the packing
of variable-length sequences, is rnn_utils.py.

    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)   # rescale all gradients together
    optimizer.step()

All of it works on NumPy and CuPy arrays alike, without reading values back to the host.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import xp_of
from ..tensor import Tensor
from . import rnn_utils as rnn  # nn.utils.rnn: PackedSequence, pack_padded_sequence, ...
from .weight_norms import remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "parameters_to_vector",
    "vector_to_parameters",
    "weight_norm",
    "remove_weight_norm",
    "spectral_norm",
    "remove_spectral_norm",
    "rnn",
]


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


def parameters_to_vector(parameters) -> Tensor:
    """The parameters' values flattened and joined into one 1-D Tensor (a copy, outside the
    graph), in the order given."""
    arrays = [p._data.reshape(-1) for p in parameters]
    if not arrays:
        raise ValueError("parameters_to_vector: no parameters given")
    return Tensor(xp_of(*arrays).concatenate(arrays))


def vector_to_parameters(vec, parameters) -> None:
    """Write the slices of the 1-D `vec` into the parameters, in order (the inverse of
    parameters_to_vector); the parameter objects stay the same."""
    v = vec._data if isinstance(vec, Tensor) else vec
    params = list(parameters)
    need = sum(p.numel() for p in params)
    if v.ndim != 1 or v.size != need:
        raise ValueError(
            f"vector_to_parameters: expected a 1-D vector of {need} values for the "
            f"parameters, got shape {tuple(v.shape)}"
        )
    start = 0
    for p in params:
        n = p.numel()
        p._data[...] = v[start : start + n].reshape(p.shape)
        p._version += 1
        start += n
