"""Exercise 15: classification losses by hand. Fill in the functions, then run
`minitorch-cv exercises check 15`."""

import numpy as np  # noqa: F401  (ready for your solution)


def smoothed_cross_entropy(logits, target, eps=0.0):
    """Mean softmax cross-entropy of logits (N, C) against class indices target (N,), with
    label smoothing eps (PyTorch's rule, see the README)."""
    raise NotImplementedError


def soft_cross_entropy(logits, probs):
    """Mean cross-entropy of logits (N, C) against target probabilities probs (N, C)."""
    raise NotImplementedError


def focal_loss(logits, targets, alpha=0.25, gamma=2.0):
    """Per-element sigmoid focal loss (RetinaNet's) of logits against 0/1 targets, an array of
    the logits' shape."""
    raise NotImplementedError
