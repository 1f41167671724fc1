"""`torch.utils.data`'s names, so `from minitorch_cv.utils.data import DataLoader, Dataset`
works as the PyTorch line does. The same objects as `minitorch_cv.data`'s."""

from ..data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)

__all__ = ["ConcatDataset", "DataLoader", "Dataset", "RandomSampler", "Sampler",
           "SequentialSampler", "Subset", "SubsetRandomSampler", "TensorDataset",
           "WeightedRandomSampler", "random_split"]  # fmt: skip
