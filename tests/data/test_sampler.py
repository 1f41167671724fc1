"""Samplers and DataLoader(sampler=...): the indices each sampler promises (frequencies for the
weighted one), one epoch's order reproduced from the loader's seed, PyTorch's rules and errors."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_cv.data import (
    ArrayDataset,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)


def dataset(n=20):
    x = np.arange(n, dtype=np.float32).reshape(n, 1, 1, 1)  # each image holds its own index
    return ArrayDataset(x, np.arange(n) % 3, ["a", "b", "c"])


def seen(loader):
    return np.concatenate([x.numpy().reshape(-1) for x, _ in loader]).astype(int)


def test_sequential_and_random_samplers():
    data = dataset(10)
    assert list(SequentialSampler(data)) == list(range(10))
    perm = list(RandomSampler(data, generator=0))
    assert sorted(perm) == list(range(10)) and perm != list(range(10))
    long = RandomSampler(data, num_samples=25, generator=1).draw(np.random.default_rng(1))
    # past one pass, the permutations are chained: every item twice in the first 20
    assert len(long) == 25 and (np.bincount(long[:20], minlength=10) == 2).all()
    drawn = RandomSampler(data, replacement=True, num_samples=1000).draw(
        np.random.default_rng(2))  # fmt: skip
    assert len(set(drawn.tolist())) == 10 and np.bincount(drawn).max() > 100 - 40
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler(data, num_samples=0)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler([])  # no items to draw from


def test_weighted_sampler_draws_in_proportion_to_the_weights():
    labels = np.array([0] * 90 + [1] * 10)  # imbalanced 9 : 1
    weights = 1.0 / np.bincount(labels)[labels]
    s = WeightedRandomSampler(weights, num_samples=20000)
    drawn = s.draw(np.random.default_rng(0))
    share = np.bincount(labels[drawn]) / len(drawn)
    assert abs(share[1] - 0.5) < 0.02  # the rare class is drawn as often as the common one
    unique = WeightedRandomSampler(np.ones(5), 5, replacement=False).draw(
        np.random.default_rng(1))  # fmt: skip
    assert sorted(unique.tolist()) == [0, 1, 2, 3, 4]
    never = WeightedRandomSampler([0.0, 1.0, 1.0], 50).draw(np.random.default_rng(2))
    assert 0 not in never
    with pytest.raises(ValueError, match="6 samples without replacement from only 5 items"):
        WeightedRandomSampler(np.ones(5), 6, replacement=False)
    with pytest.raises(ValueError, match="finite, non-negative and not all zero"):
        WeightedRandomSampler([1.0, -1.0], 3)


def test_loader_with_a_sampler_is_seeded_per_epoch_and_has_its_length():
    data = dataset(20)
    sampler = SubsetRandomSampler([1, 3, 5, 7, 9, 11, 13])
    loader = DataLoader(data, 3, sampler=sampler, seed=4)
    assert len(loader) == 3  # ceil(7 / 3)
    first, second = seen(loader), seen(loader)
    assert sorted(first) == [1, 3, 5, 7, 9, 11, 13] and first.tolist() != second.tolist()
    loader.set_epoch(0)
    assert seen(loader).tolist() == first.tolist()  # epoch 0 again: the same order
    weighted = DataLoader(data, 8, sampler=WeightedRandomSampler(np.ones(20), 40), seed=1,
                          drop_last=True)  # fmt: skip
    assert len(weighted) == 5 and len(seen(weighted)) == 40
    plain = DataLoader(data, 4, sampler=[19, 0, 5])  # any iterable of indices with a length
    assert seen(plain).tolist() == [19, 0, 5]

    class Custom:  # a PyTorch-style sampler keeping its indices in `.indices`
        def __init__(self):
            self.indices = [4, 2, 0]

        def __iter__(self):
            return iter(self.indices)

        def __len__(self):
            return 3

    assert seen(DataLoader(data, 2, sampler=Custom())).tolist() == [4, 2, 0]
    assert SubsetRandomSampler([1, 3]).indices == [1, 3]  # PyTorch's attribute


def test_loader_sampler_errors():
    data = dataset(5)
    with pytest.raises(ValueError, match="sampler option is mutually exclusive with shuffle"):
        DataLoader(data, 2, shuffle=True, sampler=SequentialSampler(data))
    with pytest.raises(IndexError, match="the sampler gave index 7 for a dataset of 5 items"):
        seen(DataLoader(data, 2, sampler=[0, 7]))
    with pytest.raises(TypeError, match="sampler must have a length"):
        DataLoader(data, 2, sampler=iter([0, 1]))
