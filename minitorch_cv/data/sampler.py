"""Samplers: which items an epoch visits, in which order (PyTorch's `torch.utils.data` samplers).

Give one to `DataLoader(sampler=...)`. The loader draws each epoch's indices from its own
per-epoch stream (`draw(rng)`), so a seeded run, and a resumed one, sees the same items; on
their own, iterating a sampler draws from its `generator` (a seed or a NumPy Generator), else
the package generator (`minitorch_cv.manual_seed`).

    counts = np.bincount(labels)                      # a rare class drawn as often as the others
    sampler = WeightedRandomSampler(1.0 / counts[labels], num_samples=len(labels))
    loader = DataLoader(train, 64, sampler=sampler, seed=0)
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod

import numpy as np

from .transforms import _generator


def _positive_int(owner: str, name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise ValueError(f"{owner}: {name} should be a positive integer, got {v!r}")
    return int(v)


class Sampler(ABC):
    """Base class: a subclass defines `draw(rng)`, one epoch's item indices (an int64 array);
    iterating draws them from the sampler's own generator. (The DataLoader also takes any
    iterable of indices with a length, as PyTorch's does.)"""

    generator = None

    @abstractmethod
    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """The item indices of one epoch, drawn from `rng`."""

    def __iter__(self):
        return iter(self.draw(_generator(self.generator)).tolist())

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no length")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1, every epoch."""

    def __init__(self, data_source):
        self.data_source = data_source

    def draw(self, rng):
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the items each epoch; with `replacement`, `num_samples` draws
    with replacement (PyTorch's RandomSampler).

    Args:
        data_source: the dataset (only its length is used).
        replacement (bool): draw with replacement. Default False.
        num_samples (int): items per epoch. Default len(data_source); without replacement it
            may exceed it (the permutations are chained, as PyTorch).
        generator: a seed or NumPy Generator for iterating on its own.
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source, self.replacement, self.generator = (
            data_source,
            bool(replacement),
            generator,
        )
        self._num_samples = num_samples
        _positive_int("RandomSampler", "num_samples", self.num_samples)  # also for no items

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def draw(self, rng):
        n, k = len(self.data_source), self.num_samples
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        perms = [rng.permutation(n) for _ in range(-(-k // n))]
        return np.concatenate(perms)[:k].astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order each epoch (e.g. a validation split of one
    dataset).

    Args: indices: a sequence of item indices. generator: as RandomSampler's.
    """

    def __init__(self, indices, generator=None):
        self.indices = indices  # PyTorch's attribute: the sequence as given
        self._subset = np.asarray(indices, dtype=np.int64).reshape(-1)
        self.generator = generator

    def draw(self, rng):
        return self._subset[rng.permutation(len(self._subset))]

    def __len__(self) -> int:
        return len(self._subset)


class WeightedRandomSampler(Sampler):
    """`num_samples` items drawn with probabilities proportional to `weights` (PyTorch's
    WeightedRandomSampler): with weights 1 / (count of the item's class) every class is drawn
    equally often, the usual cure for class imbalance.

    Args:
        weights: one non-negative weight per item (they need not sum to 1).
        num_samples (int): items per epoch.
        replacement (bool): draw with replacement (default True); without it, num_samples may
            not exceed the number of items of non-zero weight.
        generator: as RandomSampler's.
    """

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.size == 0 or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero, "
                f"got {w.size} weights summing to {w.sum() if w.size else 0}"
            )
        self.num_samples = _positive_int("WeightedRandomSampler", "num_samples", num_samples)
        self.replacement, self.generator = bool(replacement), generator
        if not self.replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(
                f"WeightedRandomSampler: {self.num_samples} samples without replacement from "
                f"only {np.count_nonzero(w)} items of non-zero weight"
            )
        self.weights = w

    def draw(self, rng):
        p = self.weights / self.weights.sum()
        return rng.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).astype(
            np.int64
        )

    def __len__(self) -> int:
        return self.num_samples
