"""Datasets, batch transforms and the DataLoader.

    from minitorch_cv.data import get_dataset, DataLoader, random_split, transforms as T

    train = get_dataset("shapes", "train")             # or "mnist", "cifar10", "voc2007", ...
    train, val = random_split(train, (0.8, 0.2), seed=0)
    aug = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()])
    for x, y in DataLoader(train, batch_size=128, shuffle=True, seed=0, transform=aug):
        ...                                             # x: Tensor (B, 3, 32, 32), y: (B,) int64

    mine = ImageFolder("photos/train", transform=T.Compose([T.Resize(72), T.CenterCrop(64),
                                                            T.ToTensor()]))  # your own images

Files are looked for in `data_dir=`, else `$MINITORCH_CV_DATA`, else `~/.cache/minitorch_cv`;
`find_datasets()` reports what is there.
"""

from . import transforms
from ._files import CorruptFileError, DownloadError, default_cache_dir, resolve_data_dir
from .cifar10 import CIFAR10
from .dataset import ArrayDataset, ConcatDataset, Dataset, Subset, TensorDataset
from .image_folder import (
    IMG_EXTENSIONS,
    DatasetFolder,
    ImageFolder,
    default_loader,
    find_classes,
    has_file_allowed_extension,
    is_image_file,
    make_dataset,
    pil_loader,
)
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
    "DatasetFolder",
    "DownloadError",
    "IMG_EXTENSIONS",
    "ImageFolder",
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
    "default_loader",
    "find_classes",
    "find_datasets",
    "format_datasets_report",
    "get_dataset",
    "has_file_allowed_extension",
    "is_image_file",
    "make_dataset",
    "pil_loader",
    "random_split",
    "resolve_data_dir",
    "transforms",
    "voc_palette",
]
