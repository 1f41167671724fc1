"""In-memory datasets: all images in one float32 NCHW array, all targets in one int64 array.

Every dataset of this package (MNIST, CIFAR-10, VOC, the synthetic ones) is an `ArrayDataset`, so
a batch is one fancy-index into two arrays, never a Python loop over items.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..backend import xp_of

CLASSIFICATION = "classification"
SEGMENTATION = "segmentation"


class Dataset:
    """The base of a map-style dataset, as PyTorch's `torch.utils.data.Dataset`: a subclass
    gives `__len__` and `__getitem__(i) -> (image, target)` (arrays or Tensors), and the
    DataLoader batches it. `a + b` chains two datasets (a ConcatDataset)."""

    def __add__(self, other):
        return ConcatDataset([self, other])


class ArrayDataset(Dataset):
    """A dataset held in memory as an image array and a target array.

    Args:
        images: float32 array (N, C, H, W), values in [0, 1].
        targets: int64 array, (N,) class labels or (N, H, W) segmentation masks.
        classes: the class names; `targets` index into them (masks may also hold an ignore
            value such as 255).
        name: a short name for messages and reprs (default the class name).
        split: the split this is ('train', 'val', 'test'), or None.

    Indexing: `ds[i]` gives `(image (C, H, W), target)`; `ds[slice]`, `ds[int_array]` and
    `ds[bool_array]` give the stacked `(images (B, C, H, W), targets (B,) or (B, H, W))`, all
    NumPy arrays.
    """

    def __init__(
        self,
        images,
        targets,
        classes: Sequence[str],
        *,
        name: str | None = None,
        split: str | None = None,
    ):
        self.name = name or type(self).__name__
        self.split = split
        images = np.asarray(images)
        targets = np.asarray(targets)
        if images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (N, C, H, W), got shape {images.shape}")
        if images.dtype != np.float32:
            images = images.astype(np.float32)
        if targets.dtype != np.int64:
            if targets.dtype.kind not in "iu":
                raise TypeError(f"{self.name}: targets must be integers, got dtype {targets.dtype}")
            targets = targets.astype(np.int64)
        if targets.ndim not in (1, 3) or len(targets) != len(images):
            raise ValueError(
                f"{self.name}: targets must be (N,) labels or (N, H, W) masks for "
                f"images {images.shape}, got shape {targets.shape}"
            )
        if targets.ndim == 3 and targets.shape[1:] != images.shape[2:]:
            raise ValueError(
                f"{self.name}: masks {targets.shape} do not match the spatial size "
                f"of images {images.shape}"
            )
        self.images = images
        self.targets = targets
        self.classes = tuple(classes)

    @property
    def task(self) -> str:
        """'classification' (targets (N,)) or 'segmentation' (targets (N, H, W))."""
        return SEGMENTATION if self.targets.ndim == 3 else CLASSIFICATION

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"{self!r}: index {index} is out of range for {n} items")
            return self.images[index], self.targets[index]
        if not isinstance(index, slice):
            index = np.asarray(index)
            if index.dtype.kind not in "iub":
                raise TypeError(
                    f"{self.name}: index with an int, a slice or an int/bool array, "
                    f"got {index.dtype}"
                )
        return self.images[index], self.targets[index]

    def __repr__(self) -> str:
        split = f"split={self.split!r}, " if self.split else ""
        return (
            f"{self.name}({split}n={len(self)}, images={tuple(self.images.shape)}, "
            f"task={self.task!r}, classes={self.num_classes})"
        )


class TensorDataset(Dataset):
    """Samples taken from tensors (or arrays) that share their first dim, as PyTorch's
    `TensorDataset`: `ds[i]` is the tuple of Tensors `t[i]`, and an int array, slice or bool
    array gives the batches at once, as arrays (the DataLoader's fast path). Data of any shape:
    feature vectors, images, sequences.

        ds = TensorDataset(features, labels)
        loader = DataLoader(ds, batch_size=32, shuffle=True)
    """

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one tensor")
        arrays = [t._data if hasattr(t, "_data") else np.asarray(t) for t in tensors]
        n = len(arrays[0]) if arrays[0].ndim else None
        if n is None or any(a.ndim == 0 or len(a) != n for a in arrays):
            shapes = ", ".join(str(tuple(a.shape)) for a in arrays)
            raise ValueError(f"TensorDataset: the tensors must share their first dim, got {shapes}")
        self.tensors = tuple(arrays)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"TensorDataset: index {index} is out of range for {n} items")
            from ..tensor import Tensor

            return tuple(Tensor(xp_of(a).asarray(a[index])) for a in self.tensors)  # as PyTorch
        return tuple(a[index] for a in self.tensors)  # a batch: arrays, for the DataLoader

    def __repr__(self) -> str:
        shapes = ", ".join(str(tuple(a.shape)) for a in self.tensors)
        return f"TensorDataset(n={len(self)}, tensors=[{shapes}])"


class Subset(Dataset):
    """A view of a dataset through a list of indices (what `random_split` returns).

    Args:
        dataset: an ArrayDataset (or another Subset, which is flattened onto its root).
        indices: int array of positions in `dataset`.

    `images` and `targets` gather the selected items on access (a copy); indexing a Subset
    gathers only what is asked for.
    """

    def __init__(self, dataset, indices):
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1:
            raise ValueError(f"Subset: indices must be 1-D, got shape {indices.shape}")
        n = len(dataset)
        if len(indices) and (indices.min() < -n or indices.max() >= n):
            raise IndexError(f"Subset: indices out of range for a dataset of {n} items")
        if isinstance(dataset, Subset):  # a subset of a subset indexes the root directly
            indices, dataset = dataset.indices[indices], dataset.dataset
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if not -n <= index < n:
                raise IndexError(f"{self!r}: index {index} is out of range for {n} items")
        return self.dataset[self.indices[index]]

    @property
    def images(self):
        return self.dataset.images[self.indices]

    @property
    def targets(self):
        return self.dataset.targets[self.indices]

    @property
    def classes(self):
        return self.dataset.classes

    @property
    def num_classes(self) -> int:
        return len(self.dataset.classes)

    @property
    def task(self) -> str:
        return self.dataset.task

    @property
    def image_shape(self):
        return self.dataset.image_shape

    @property
    def split(self):
        return self.dataset.split

    @property
    def name(self) -> str:
        return self.dataset.name

    def __repr__(self) -> str:
        return f"Subset(n={len(self)} of {self.dataset!r})"


class ConcatDataset(Dataset):
    """Datasets one after another, as PyTorch's `ConcatDataset`: item i of the whole is item
    i - offset of the part it falls in. When every part takes index arrays (ArrayDataset,
    TensorDataset, Subset or another such ConcatDataset), so does the whole, and the DataLoader
    builds its batches with one fancy-index per part.
    """

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    @property
    def batched(self) -> bool:
        """Whether every part takes an index array (the DataLoader's fast path)."""
        return all(is_batched(d) for d in self.datasets)

    def _locate(self, index: np.ndarray):
        """(part, position in that part) of every (possibly negative) index."""
        n = len(self)
        if index.size and (index.min() < -n or index.max() >= n):
            raise IndexError(f"ConcatDataset: index out of range for {n} items")
        index = np.where(index < 0, index + n, index)
        part = np.searchsorted(self.cumulative_sizes, index, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]]).astype(np.int64)
        return part, index - starts[part]

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            part, pos = self._locate(np.asarray([index]))
            return self.datasets[int(part[0])][int(pos[0])]
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == np.bool_:
            index = np.flatnonzero(index)
        if not self.batched:
            raise TypeError(
                "ConcatDataset: index arrays need parts that take them (ArrayDataset, "
                "TensorDataset, Subset); index items one at a time"
            )
        part, pos = self._locate(index)
        if not len(index):  # an empty selection: the first part's empty batch
            return self.datasets[0][np.zeros(0, np.int64)]
        # one fancy-index per part: (rows of the batch, that part's arrays)
        pieces = [(np.flatnonzero(part == k), self.datasets[int(k)][pos[part == k]])
                  for k in np.unique(part)]  # fmt: skip
        out = []
        for j in range(len(pieces[0][1])):  # each field (images, targets, ...) in turn
            arrays = [got[j] for _, got in pieces]
            xp = xp_of(*arrays)
            if len({a.shape[1:] for a in arrays}) > 1:
                raise ValueError(
                    f"ConcatDataset: its parts' items differ in shape "
                    f"({sorted({tuple(a.shape[1:]) for a in arrays})}); they cannot share a batch"
                )
            field = xp.empty((len(index),) + arrays[0].shape[1:], xp.result_type(*arrays))
            for (rows, _), a in zip(pieces, arrays):  # scattered back into the asked order
                field[xp.asarray(rows)] = a
            out.append(field)
        return tuple(out)

    def __repr__(self) -> str:
        return f"ConcatDataset(n={len(self)}, parts={len(self.datasets)})"


def is_batched(dataset) -> bool:
    """Whether `dataset[int_array]` gives a whole batch (the DataLoader's fast path)."""
    if isinstance(dataset, ConcatDataset):
        return dataset.batched
    if isinstance(dataset, Subset):  # as batched as the dataset it views
        return is_batched(dataset.dataset)
    return isinstance(dataset, (ArrayDataset, TensorDataset))


def torchvision_args(name: str, split, data_dir, root, train, splits) -> tuple[str, object]:
    """(split, data_dir) from either call style: ours `MNIST('test', data_dir)` or
    torchvision's `MNIST(root, train=False)` / `MNIST(root='data', train=True)`."""
    if root is not None:
        if data_dir is not None:
            raise TypeError(f"{name}: give root or data_dir, not both")
        data_dir = root
    if train is not None:
        if split not in (None, "train") and split in splits:
            raise TypeError(f"{name}: give split or train, not both")
        if split not in (None, "train") and data_dir is None:
            data_dir = split  # torchvision's first positional argument is the root folder
        split = "train" if train else "test"
    split = "train" if split is None else split
    if split not in splits:
        raise ValueError(
            f"{name}: unknown split {split!r}; valid splits: {', '.join(splits)} (or "
            f"torchvision's style: {name}(root, train=True))"
        )
    return split, data_dir
