"""Datasets by name (`get_dataset`) and a report of what is available locally (`find_datasets`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import cifar10, image_folder, mnist, voc
from ._files import DATA_ENV, resolve_data_dir
from .cifar10 import CIFAR10
from .mnist import MNIST
from .synthetic import MnistOnCifar, Shapes, ShapesSegmentation
from .voc import VOCSegmentation


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: how to build a split, which splits exist, and what it is."""

    build: Callable
    splits: tuple[str, ...]
    task: str
    description: str
    files: bool  # True when it reads files; False when generated in code
    # for a dataset whose splits are the folders present (imagefolder): data_dir -> those splits
    present: Callable | None = None

    def splits_found(self, data_dir=None) -> tuple[str, ...]:
        """The splits there are: `present(data_dir)` where it depends on the files, else all."""
        return self.splits if self.present is None else tuple(self.present(data_dir))


def _mnist(split, data_dir=None, **kw):
    return MNIST(split, data_dir, **kw)


def _cifar10(split, data_dir=None, **kw):
    return CIFAR10(split, data_dir, **kw)


def _voc2007(split, data_dir=None, **kw):
    return VOCSegmentation(split, data_dir, **kw)


def _shapes(split, data_dir=None, **kw):
    return Shapes(split, **kw)


def _shapes_seg(split, data_dir=None, **kw):
    return ShapesSegmentation(split, **kw)


def _imagefolder(split, data_dir=None, image_size=None, in_channels=None, download=False):
    # download: your own images, there is nothing to fetch
    return image_folder.load_split(data_dir, split, image_size, in_channels)


def _mnist_on_cifar(split, data_dir=None, n=None, seed=0, download=False, **kw):
    code = {"train": 0, "test": 2}[split]
    return MnistOnCifar(
        MNIST(split, data_dir, download=download),
        CIFAR10(split, data_dir, download=download),
        n=n,
        seed=[seed, code],
        split=split,
        **kw,
    )


DATASETS: dict[str, DatasetInfo] = {
    "shapes": DatasetInfo(
        _shapes,
        ("train", "val", "test"),
        "classification",
        "synthetic circles / squares / triangles, 3x32x32, 3 classes",
        False,
    ),
    "shapes-seg": DatasetInfo(
        _shapes_seg,
        ("train", "val", "test"),
        "segmentation",
        "synthetic shapes with masks, 3x32x32, 4 classes",
        False,
    ),
    "mnist": DatasetInfo(
        _mnist, ("train", "test"), "classification", "MNIST digits, 1x28x28, 10 classes", True
    ),
    "cifar10": DatasetInfo(
        _cifar10, ("train", "test"), "classification", "CIFAR-10, 3x32x32, 10 classes", True
    ),
    "mnist-on-cifar": DatasetInfo(
        _mnist_on_cifar,
        ("train", "test"),
        "segmentation",
        "MNIST digits pasted on CIFAR-10, 3x32x32, 20 classes",
        True,
    ),
    "voc2007": DatasetInfo(
        _voc2007,
        ("train", "val", "trainval", "test"),
        "segmentation",
        "PASCAL VOC 2007 segmentation, 3x224x224, 21 classes + 255",
        True,
    ),
    "imagefolder": DatasetInfo(
        _imagefolder,
        image_folder.SPLITS,
        "classification",
        "your own images, <data-dir>/train/<class>/<image> (+ val/, test/)",
        True,
        image_folder.split_folders,
    ),
}
ALIASES = {
    "cifar-10": "cifar10",
    "cifar": "cifar10",
    "voc": "voc2007",
    "voc-2007": "voc2007",
    "shapes-segmentation": "shapes-seg",
    "mnist-cifar": "mnist-on-cifar",
    "image-folder": "imagefolder",
}


def canonical_name(name: str) -> str:
    """The registry key for `name` (case, '_' vs '-' and aliases forgiven); ValueError if none."""
    key = str(name).strip().lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    return key


def get_dataset(name: str, split: str = "train", data_dir=None, **kwargs):
    """Build split `split` of dataset `name`.

    Args:
        name: one of `DATASETS` ('shapes', 'shapes-seg', 'mnist', 'cifar10', 'mnist-on-cifar',
            'voc2007', 'imagefolder') or an alias ('cifar-10', 'voc', ...).
        split: a split the dataset has ('train', 'test', and 'val' for VOC and the synthetic
            sets); see `DATASETS[name].splits`. 'imagefolder' has the split folders present.
        data_dir: folder of the data files (default `$MINITORCH_CV_DATA`, else the cache folder);
            for 'imagefolder' the folder holding train/ (val/, test/), one folder per class in
            each (`image_folder.load_split`).
        **kwargs: passed to the dataset (e.g. `download=True`, `n=`, `seed=`, `size=`;
            'imagefolder': `image_size=`, `in_channels=`).
    """
    key = canonical_name(name)
    info = DATASETS[key]
    if split not in info.splits:
        raise ValueError(
            f"dataset {key!r} has no split {split!r}; valid splits: {', '.join(info.splits)}"
        )
    return info.build(split, data_dir, **kwargs)


def find_datasets(data_dir=None) -> dict:
    """Report which datasets are available under the data folder, where, and what is missing.

    Returns:
        {'data_dir': str, 'source': how data_dir was chosen, 'datasets': [entry, ...]} where each
        entry is {'name', 'description', 'status' ('found', 'partial', 'missing' or
        'generated'), 'found': {part: path}, 'missing': [path, ...]}.
    """
    import os

    source = (
        "argument"
        if data_dir is not None
        else f"${DATA_ENV}"
        if os.environ.get(DATA_ENV)
        else "default cache folder"
    )
    root = resolve_data_dir(data_dir)
    per_file = {
        "mnist": mnist.locate(root),
        "cifar10": cifar10.locate(root),
        "voc2007": voc.locate(root),
        "imagefolder": image_folder.locate(root),
    }
    m, c = per_file["mnist"], per_file["cifar10"]
    per_file["mnist-on-cifar"] = {
        "found": {**m["found"], **c["found"]},
        "missing": m["missing"] + c["missing"],
    }
    entries = []
    for name, info in DATASETS.items():
        if not info.files:
            entries.append(
                {
                    "name": name,
                    "description": info.description,
                    "status": "generated",
                    "found": {},
                    "missing": [],
                }
            )
            continue
        rep = per_file[name]
        status = "missing" if not rep["found"] else "partial" if rep["missing"] else "found"
        entries.append(
            {
                "name": name,
                "description": info.description,
                "status": status,
                "found": rep["found"],
                "missing": rep["missing"],
            }
        )
    return {"data_dir": str(root), "source": source, "datasets": entries}


def format_datasets_report(report: dict) -> str:
    """A plain-text table of `find_datasets`' result, for the `minitorch-cv datasets` command."""
    lines = [f"data folder: {report['data_dir']} ({report['source']})", ""]
    width = max(len(e["name"]) for e in report["datasets"])
    pad = " " * (width + 4)
    for e in report["datasets"]:
        lines.append(f"{e['name']:<{width}}  {e['status']:<9}  {e['description']}")
        folders = dict.fromkeys(str(Path(p).parent) for p in e["found"].values())
        for folder in folders:
            lines.append(f"{pad}in       {folder}")
        for path in e["missing"]:
            lines.append(f"{pad}missing  {path}")
    return "\n".join(lines)
