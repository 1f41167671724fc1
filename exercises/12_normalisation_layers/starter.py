"""Exercise 12: batch, layer, instance and group normalisation by hand. Fill in `normalise` and
`norm_parameters`, then run `minitorch-cv exercises check 12`."""

import numpy as np  # noqa: F401  (ready for your solution)


def normalise(x, kind, groups=1, eps=1e-5):
    """Normalise x of shape (N, C, L) (L positions per channel) without scale or shift.

    kind: 'batch' (training mode), 'layer' (over each sample's C x L values), 'instance' or
    'group' (`groups` groups of C / groups channels). Returns a dict: mean and var (the
    statistics used, var biased: divided by the count), shaped (C,) for batch, (N,) for layer,
    (N, C) for instance and (N, groups) for group; and y, the shape of x.
    """
    raise NotImplementedError


def norm_parameters(kind, channels, length, groups=1):
    """(trainable parameters, running-statistics values) of the layer that normalises inputs of
    shape (N, channels, length) with PyTorch's defaults: BatchNorm1d(channels),
    LayerNorm((channels, length)), InstanceNorm1d(channels, affine=True) and
    GroupNorm(groups, channels)."""
    raise NotImplementedError
