"""Datasets, batch transforms and the DataLoader.

    from minitorch_cv.data import get_dataset, DataLoader, random_split, transforms as T

    train = get_dataset("shapes", "train")             # or "mnist", "cifar10", "voc2007", ...
    train, val = random_split(train, (0.8, 0.2), seed=0)
    aug = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    for x, y in DataLoader(train, batch_size=128, shuffle=True, seed=0, transform=aug):
        ...                                             # x: Tensor (B, 3, 32, 32), y: (B,) int64

Files are looked for in `data_dir=`, else `$MINITORCH_CV_DATA`, else `~/.cache/minitorch_cv`;
`find_datasets()` reports what is there.
"""

from . import transforms
from ._files import CorruptFileError, DownloadError, default_cache_dir, resolve_data_dir
from .cifar10 import CIFAR10
from .dataset import ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset
from .loader import DataLoader, PrefetchIterator, random_split
from .mnist import MNIST
from .registry import DATASETS, find_datasets, format_datasets_report, get_dataset
from .sampler import (
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
from .synthetic import MnistOnCifar, Shapes, ShapesSegmentation
from .voc import VOCSegmentation, voc_palette

__all__ = [
    "ArrayDataset",
    "CIFAR10",
    "ConcatDataset",
    "CorruptFileError",
    "DATASETS",
    "DataLoader",
    "Dataset",
    "DownloadError",
    "MNIST",
    "MnistOnCifar",
    "PrefetchIterator",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Shapes",
    "ShapesSegmentation",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "VOCSegmentation",
    "WeightedRandomSampler",
    "default_cache_dir",
    "find_datasets",
    "format_datasets_report",
    "get_dataset",
    "random_split",
    "resolve_data_dir",
    "transforms",
    "voc_palette",
]
