"""DataLoader: order, seeding per epoch, resume via set_epoch, drop_last, the prefetch thread
(results, exceptions, shutdown), transforms on masks, devices; random_split and Subset."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available
from minitorch_cv.data import ArrayDataset, DataLoader, Subset, random_split
from minitorch_cv.data import transforms as T
from minitorch_cv.tensor import Tensor


def indexed(n=10, seg=False):
    """Item i has every pixel equal to i and label i (mask: all i)."""
    x = np.broadcast_to(np.arange(n, dtype=np.float32)[:, None, None, None], (n, 1, 4, 4)).copy()
    y = np.broadcast_to(np.arange(n)[:, None, None], (n, 4, 4)).copy() if seg else np.arange(n)
    return ArrayDataset(x, y, [str(i) for i in range(max(n, 1))])


def epoch_labels(loader):
    return [y.numpy().tolist() for _, y in loader]


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "minitorch_cv-prefetch"]


def wait_for_no_prefetch_threads(timeout=5.0):
    end = time.time() + timeout
    while prefetch_threads() and time.time() < end:
        time.sleep(0.01)
    return not prefetch_threads()


@pytest.mark.parametrize("prefetch", [True, False])
def test_sequential_batches_and_drop_last(prefetch):
    ds = indexed(10)
    loader = DataLoader(ds, batch_size=4, prefetch=prefetch)
    assert len(loader) == 3
    assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    loader = DataLoader(ds, batch_size=4, drop_last=True, prefetch=prefetch)
    assert len(loader) == 2
    assert epoch_labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_batches_are_tensors_with_the_right_dtypes():
    x, y = next(iter(DataLoader(indexed(10), batch_size=3)))
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.shape == (3, 1, 4, 4) and x.dtype == np.float32
    assert y.dtype == np.int64 and not x.requires_grad
    # images and labels stay paired
    np.testing.assert_array_equal(x.numpy()[:, 0, 0, 0], y.numpy())


def test_shuffle_is_a_permutation_new_each_epoch_and_fixed_by_the_seed():
    loader = DataLoader(indexed(50), batch_size=7, shuffle=True, seed=3)
    epochs = [sum(epoch_labels(loader), []) for _ in range(3)]
    assert all(sorted(e) == list(range(50)) for e in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    assert loader.epoch == 3
    same = DataLoader(indexed(50), batch_size=7, shuffle=True, seed=3)
    assert [sum(epoch_labels(same), []) for _ in range(3)] == epochs
    other = DataLoader(indexed(50), batch_size=7, shuffle=True, seed=4)
    assert sum(epoch_labels(other), []) != epochs[0]


def test_set_epoch_reproduces_an_epoch_for_resume():
    aug = T.Compose([T.RandomCrop(4, padding=1), T.RandomHorizontalFlip()])
    full = DataLoader(indexed(30), batch_size=8, shuffle=True, seed=9, transform=aug)
    runs = [[(x.numpy(), y.numpy()) for x, y in full] for _ in range(3)]
    resumed = DataLoader(indexed(30), batch_size=8, shuffle=True, seed=9, transform=aug)
    resumed.set_epoch(2)
    again = [(x.numpy(), y.numpy()) for x, y in resumed]
    for (xa, ya), (xb, yb) in zip(runs[2], again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert resumed.epoch == 3
    np.testing.assert_array_equal(resumed.order(2), np.concatenate([y for _, y in runs[2]]))


def test_prefetch_and_no_prefetch_give_identical_batches():
    aug = T.RandomRotation(30)
    a = DataLoader(indexed(20, seg=True), 6, shuffle=True, seed=1, transform=aug, prefetch=True)
    b = DataLoader(indexed(20, seg=True), 6, shuffle=True, seed=1, transform=aug, prefetch=False)
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa.numpy(), xb.numpy())
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())


def test_seed_none_follows_manual_seed():
    from minitorch_cv.tensor import manual_seed

    manual_seed(5)
    a = DataLoader(indexed(10), 10, shuffle=True)
    manual_seed(5)
    b = DataLoader(indexed(10), 10, shuffle=True)
    assert a.seed == b.seed and epoch_labels(a) == epoch_labels(b)


def test_segmentation_transform_moves_masks_with_images():
    loader = DataLoader(indexed(8, seg=True), 4, transform=T.RandomHorizontalFlip(1.0))
    for x, y in loader:
        assert y.shape == (4, 4, 4) and y.dtype == np.int64
        np.testing.assert_array_equal(x.numpy()[:, 0], y.numpy().astype(np.float32))


def test_classification_transform_gets_no_mask():
    seen = []

    def spy(x, mask=None, *, rng=None):
        seen.append(mask)
        return x * 2

    x, _ = next(iter(DataLoader(indexed(4), 4, transform=spy)))
    assert seen == [None] and x.numpy()[1, 0, 0, 0] == 2.0
    # a plain function without an rng keyword is called without one
    x, _ = next(iter(DataLoader(indexed(4), 4, transform=lambda a: a + 1)))
    assert x.numpy()[1, 0, 0, 0] == 2.0


class Exploding:
    """A plain (non-array) dataset whose item 5 raises."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        if i == 5:
            raise KeyError("item 5 is broken")
        return np.full((1, 2, 2), i, np.float32), i


@pytest.mark.parametrize("prefetch", [True, False])
def test_errors_reach_the_consumer_after_the_good_batches(prefetch):
    it = iter(DataLoader(Exploding(), batch_size=2, prefetch=prefetch))
    got = [next(it)[1].numpy().tolist() for _ in range(2)]
    assert got == [[0, 1], [2, 3]]
    with pytest.raises(KeyError, match="item 5 is broken"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)
    assert wait_for_no_prefetch_threads()


def test_plain_datasets_are_stacked_item_by_item():
    class Plain:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, np.float32), i

    batches = epoch_labels(DataLoader(Plain(), batch_size=2))
    assert batches == [[0, 1], [2, 3], [4]]


def test_prefetch_thread_stops_when_the_iterator_is_dropped():
    loader = DataLoader(indexed(100), batch_size=1)
    it = iter(loader)
    next(it)
    assert prefetch_threads()
    del it
    gc.collect()
    assert wait_for_no_prefetch_threads()
    for i, _ in enumerate(loader):  # and after a break out of a for loop
        if i == 3:
            break
    gc.collect()
    assert wait_for_no_prefetch_threads()


def test_prefetch_runs_one_batch_ahead():
    produced = []

    class Recording:
        def __len__(self):
            return 6

        def __getitem__(self, i):
            produced.append(i)
            return np.zeros((1, 1, 1), np.float32), i

    it = iter(DataLoader(Recording(), batch_size=1))
    next(it)
    time.sleep(0.3)
    # one batch consumed, one waiting in the queue, at most one more being built
    assert 2 <= len(produced) <= 3
    it.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        DataLoader(indexed(4), batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(Subset(indexed(4), []))
    with pytest.raises(ValueError, match="unknown device"):
        DataLoader(indexed(4), device="tpu")


def test_random_split_fractions_lengths_and_seed():
    ds = indexed(10)
    train, val = random_split(ds, (0.8, 0.2), seed=0)
    assert (len(train), len(val)) == (8, 2)
    both = np.concatenate([train.targets, val.targets])
    assert sorted(both.tolist()) == list(range(10))
    again = random_split(ds, (0.8, 0.2), seed=0)
    assert np.array_equal(again[0].indices, train.indices)
    assert not np.array_equal(random_split(ds, (0.8, 0.2), seed=1)[0].indices, train.indices)
    # PyTorch's rule for leftovers: one each to the first splits
    assert [len(s) for s in random_split(indexed(11), (0.5, 0.5), seed=0)] == [6, 5]
    assert [len(s) for s in random_split(ds, [3, 3, 4], seed=0)] == [3, 3, 4]
    with pytest.raises(ValueError, match="sum to the dataset's 10 items"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, (0.5, 0.2))


def test_subset_views_index_the_root_dataset():
    ds = indexed(10)
    sub = Subset(Subset(ds, [9, 7, 5, 3, 1]), [4, 0])
    assert sub.dataset is ds and sub.indices.tolist() == [1, 9]
    x, y = sub[np.array([1, 0])]
    assert y.tolist() == [9, 1] and x.shape == (2, 1, 4, 4)
    assert sub[-1][1] == 9 and sub.classes == ds.classes and sub.task == "classification"
    with pytest.raises(IndexError):
        sub[2]
    loader = DataLoader(sub, batch_size=2)
    assert epoch_labels(loader) == [[1, 9]]


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_cuda_loader_matches_cpu():
    aug = T.Compose(
        [
            T.RandomCrop(4, padding=1),
            T.RandomRotation(20, "bilinear"),
            T.RandomHorizontalFlip(),
            T.Normalize(0.5, 0.2),
        ]
    )
    cpu = DataLoader(indexed(12, seg=True), 5, shuffle=True, seed=2, transform=aug)
    gpu = DataLoader(indexed(12, seg=True), 5, shuffle=True, seed=2, transform=aug, device="cuda")
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        assert str(xg.device).startswith("cuda")
        np.testing.assert_allclose(xg.numpy(), xc.numpy(), atol=1e-5)
        np.testing.assert_array_equal(yg.numpy(), yc.numpy())


def test_float_targets_keep_their_values_and_dtype():
    """Regression / multi-label / soft targets: only integer labels are widened to int64."""

    class Soft:
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return np.zeros((1, 2, 2), np.float32), np.array([0.25 * i, 0.9], np.float32)

    _, y = next(iter(DataLoader(Soft(), batch_size=4, prefetch=False)))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy()[:, 0], [0.0, 0.25, 0.5, 0.75])

    x = np.zeros((3, 1, 2, 2), np.float32)
    labels = ArrayDataset(x, np.array([1, 2, 3], np.uint8), ["a", "b", "c", "d"])
    _, y = next(iter(DataLoader(labels, batch_size=3, prefetch=False)))
    assert y.dtype == np.int64 and y.tolist() == [1, 2, 3]


def test_items_other_than_pairs_need_a_collate_fn():
    class Triples:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full((1, 2, 2), i, np.float32), i, {"id": i}

    with pytest.raises(ValueError, match="yields a 3-tuple, not an \\(image, target\\) pair"):
        next(iter(DataLoader(Triples(), batch_size=2, prefetch=False)))

    def collate(items):
        return Tensor(np.stack([x for x, _, _ in items])), [meta["id"] for _, _, meta in items]

    for prefetch in (False, True):
        batches = list(DataLoader(Triples(), batch_size=2, collate_fn=collate, prefetch=prefetch))
        assert [ids for _, ids in batches] == [[0, 1], [2, 3], [4]]
        assert batches[2][0].shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match="with collate_fn, apply the transform"):
        DataLoader(Triples(), collate_fn=collate, transform=lambda x: x)


def test_tensor_dataset_batches_any_data_like_pytorch():
    from minitorch_cv.data import TensorDataset

    x = mt.tensor(np.arange(30, dtype=np.float32).reshape(10, 3))
    y = np.arange(10, dtype=np.int32) % 4
    ds = TensorDataset(x, y)
    assert len(ds) == 10 and np.array_equal(ds[2][0].numpy(), [6, 7, 8]) and ds[2][1].item() == 2
    assert isinstance(ds[2][0], mt.Tensor)  # items are Tensors, as PyTorch's
    seen = []
    for xb, yb in DataLoader(ds, 4, shuffle=True, seed=1):
        assert xb.shape[1:] == (3,) and yb.dtype == mt.int64  # labels widened, as any loader's
        np.testing.assert_array_equal(
            xb.numpy()[:, 0] / 3, yb.numpy() + 4 * (xb.numpy()[:, 0] // 12)
        )
        seen += yb.tolist()
    assert sorted(seen) == sorted(y.tolist())
    train, val = random_split(ds, (0.7, 0.3), seed=0)
    assert sum(len(b[0]) for b in DataLoader(train, 3)) == 7
    with pytest.raises(ValueError, match="must share their first dim"):
        TensorDataset(x, y[:5])
    with pytest.raises(ValueError, match="yields 3-tuples, not \\(input, target\\) pairs"):
        DataLoader(TensorDataset(x, y, y), 2)
    triples = DataLoader(TensorDataset(x, y, y), 5, collate_fn=lambda items: len(items))
    assert list(triples) == [5, 5]


def test_concat_dataset_reads_through_its_parts_in_order():
    from minitorch_cv.data import ConcatDataset, TensorDataset

    a, b = indexed(4), indexed(7)
    both = a + Subset(b, [6, 5, 4])  # Dataset.__add__, and a Subset as a part
    assert isinstance(both, ConcatDataset) and len(both) == 7 and both.batched
    expected = [0, 1, 2, 3, 6, 5, 4]  # the loop reference: part by part
    assert [int(both[i][1]) for i in range(7)] == expected
    assert int(both[-1][1]) == 4
    idx = np.array([6, 0, 4, 4, -3])
    x, y = both[idx]
    assert y.tolist() == [expected[i] for i in idx] and x[:, 0, 0, 0].tolist() == y.tolist()
    assert both[2:5][1].tolist() == expected[2:5]
    assert both[np.array([True, False] * 3 + [True])][1].tolist() == [0, 2, 6, 4]
    loader = DataLoader(both, batch_size=3, shuffle=True, seed=0)
    assert sorted(sum(epoch_labels(loader), [])) == sorted(expected)
    with pytest.raises(IndexError, match="ConcatDataset: index out of range for 7 items"):
        both[7]
    pairs = ConcatDataset([TensorDataset(np.zeros((2, 3)), np.arange(2)),
                           TensorDataset(np.ones((1, 3)), np.array([5]))])  # fmt: skip
    assert [y.tolist() for _, y in DataLoader(pairs, batch_size=3)] == [[0, 1, 5]]


def test_a_dataset_subclass_loads_and_utils_data_is_pytorchs_path():
    from minitorch_cv.utils.data import ConcatDataset, Dataset
    from minitorch_cv.utils.data import DataLoader as UDataLoader

    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return mt.full((1, 4, 4), float(i * i)), i

    assert UDataLoader is DataLoader
    batches = [(x.numpy()[:, 0, 0, 0].tolist(), y.tolist()) for x, y in UDataLoader(Squares(), 2)]
    assert batches == [([0.0, 1.0], [0, 1]), ([4.0, 9.0], [2, 3]), ([16.0], [4])]
    mixed = Squares() + indexed(2)  # a plain part: items one at a time
    assert isinstance(mixed, ConcatDataset) and not mixed.batched
    assert epoch_labels(DataLoader(mixed, batch_size=4)) == [[0, 1, 2, 3], [4, 0, 1]]
    with pytest.raises(TypeError, match="index arrays need parts that take them"):
        mixed[np.array([0, 1])]
    with pytest.raises(ValueError, match=r"DataLoader: .* holds images of different sizes"):
        other = ArrayDataset(np.zeros((2, 1, 3, 3), np.float32), np.arange(2), ["a", "b"])
        list(DataLoader(Squares() + other, batch_size=7))


def test_subsets_of_a_plain_dataset_load_item_by_item_and_concat_promotes_dtypes():
    from minitorch_cv.data import ConcatDataset, Dataset, TensorDataset

    class Plain(Dataset):
        def __len__(self):
            return 6

        def __getitem__(self, i):
            return np.full((2,), float(i), np.float32), i

    train, _ = random_split(Plain(), [4, 2], seed=0)  # a Subset of a plain dataset
    for x, y in DataLoader(train, batch_size=4):
        assert x.shape == (4, 2) and x.numpy()[:, 0].tolist() == y.numpy().tolist()
    ints = TensorDataset(np.array([[1], [2]]), np.array([0, 1]))
    floats = TensorDataset(np.array([[0.5]]), np.array([2]))
    x, y = ConcatDataset([ints, floats])[np.array([2, 0])]
    assert x.dtype == np.float64 and x[:, 0].tolist() == [0.5, 1.0]  # no truncation to int
    wide = TensorDataset(np.zeros((1, 3)), np.array([0]))
    with pytest.raises(ValueError, match=r"ConcatDataset: its parts' items differ in shape"):
        ConcatDataset([ints, wide])[np.array([0, 2])]
    triples = TensorDataset(np.zeros((2, 1)), np.zeros(2), np.arange(2))
    with pytest.raises(ValueError, match="yields 3-tuples, not .input, target. pairs"):
        list(DataLoader(triples + triples, batch_size=2))


def test_loader_mix_gives_soft_labels_that_fit_and_the_metrics_take():
    from minitorch_cv.train import fit

    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.random((24, 3, 8, 8)).astype(np.float32), rng.integers(0, 4, 24),
                        ["a", "b", "c", "d"])  # fmt: skip
    mixers = [T.MixUp(0.5, num_classes=4), T.CutMix(1.0, num_classes=4)]
    loader = DataLoader(data, 8, shuffle=True, seed=3, mix=mixers)
    batches = [(x.numpy(), y.numpy()) for x, y in loader]
    assert all(y.shape == (8, 4) and np.allclose(y.sum(1), 1) for _, y in batches)
    loader.set_epoch(0)
    again = [(x.numpy(), y.numpy()) for x, y in loader]  # the same epoch, the same mixing
    assert all((a[0] == b[0]).all() and (a[1] == b[1]).all() for a, b in zip(batches, again))
    mt.manual_seed(0)
    model = mt.nn.Sequential(mt.nn.Flatten(), mt.nn.Linear(3 * 8 * 8, 4))
    hist = fit(model, mt.nn.CrossEntropyLoss(), mt.optim.SGD(model.parameters(), lr=0.1), loader,
               epochs=2, progress=False)  # fmt: skip
    assert np.isfinite(hist.column("train_loss")).all()
    assert "train_acc" in hist.keys() and "val_acc" not in hist.keys()  # read from soft labels
    with pytest.raises(TypeError, match="DataLoader: mix takes MixUp / CutMix objects"):
        DataLoader(data, 8, mix=T.RandomHorizontalFlip())
