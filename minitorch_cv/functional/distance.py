"""Vector normalisation and similarity, composed of differentiable ops (norm, clamp, div), so
their gradients are those ops' own: `normalize`, `cosine_similarity`, `pairwise_distance`."""

from __future__ import annotations

from .elementwise import clamp
from .reduce import norm, sum


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p over dim, eps) (PyTorch's `F.normalize`): unit vectors along dim;
    eps keeps a zero vector at zero instead of dividing by 0."""
    return input / clamp(norm(input, p, dim, keepdim=True), min=eps)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along dim, after broadcasting x1 and x2
    (PyTorch 2's formula: each norm bounded by eps, so tiny vectors keep their angle)."""
    dot = sum(x1 * x2, dim)
    return dot / (clamp(norm(x1, 2, dim), min=eps) * clamp(norm(x2, 2, dim), min=eps))


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (PyTorch's `F.pairwise_distance`; the eps keeps the
    gradient finite where x1 == x2)."""
    return norm(x1 - x2 + eps, p, -1, keepdim=keepdim)
