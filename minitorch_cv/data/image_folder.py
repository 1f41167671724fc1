"""Your own images in one folder per class, as torchvision's `datasets.ImageFolder`.

    root/cat/001.png            classes      = ['cat', 'dog']   (the folder names, sorted)
    root/cat/more/002.jpg       class_to_idx = {'cat': 0, 'dog': 1}
    root/dog/xyz.jpeg           samples      = [(path, class_index), ...]

    train = ImageFolder("photos/train", transform=T.Compose([
        T.RandomResizedCrop(64), T.RandomHorizontalFlip(), T.ToTensor()]))
    for x, y in DataLoader(train, batch_size=32, shuffle=True):   # x (32, 3, 64, 64) float32
        ...

torchvision's rules, kept exactly: classes are the sub-folders of root (symlinks followed);
each class folder is walked recursively in sorted order (`sorted(os.walk(...))`, files sorted
within a folder), and a file is a sample when its name ends in one of `extensions`
(case-insensitive) or `is_valid_file(path)` accepts it. An item is `transform(loader(path))`
with `target_transform(class_index)`; the default loader gives a PIL image in RGB. The
package's transforms take that PIL image and give one back, and `T.ToTensor()` turns it into
the float32 (C, H, W) array in [0, 1] that the DataLoader stacks (see transforms_pil.py).
Images are decoded when an item is read, so a folder of any size fits in memory; an image
that Pillow cannot decode is a CorruptFileError naming the file. Random transforms given here
draw from the package generator (`minitorch_cv.manual_seed`), in the DataLoader's thread; for
augmentation that a DataLoader seed reproduces, give the batch transforms to
`DataLoader(transform=...)` and keep the per-item ones to resizing (what `load_split` does).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from numbers import Integral
from pathlib import Path

from . import transforms as T
from ._files import CorruptFileError, resolve_data_dir
from .dataset import CLASSIFICATION, Dataset
from .transforms_pil import is_pil_image

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")
# Pillow modes of one channel: a folder of them trains a 1-channel network from the CLI
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"}


def has_file_allowed_extension(filename: str, extensions: str | Sequence[str]) -> bool:
    """Whether `filename` ends in one of `extensions` (case-insensitive), torchvision's rule."""
    suffixes = extensions if isinstance(extensions, str) else tuple(extensions)
    return filename.lower().endswith(suffixes)


def is_image_file(filename: str) -> bool:
    """Whether `filename` ends in one of `IMG_EXTENSIONS` (case-insensitive)."""
    return has_file_allowed_extension(filename, IMG_EXTENSIONS)


def _unreadable(path, e: Exception) -> CorruptFileError:
    return CorruptFileError(
        f"{path}: not a readable image ({type(e).__name__}: {e}); the file is truncated, "
        "damaged or not an image: replace or remove it"
    )


def _open_image(path, mode: str):
    from PIL import Image

    with open(path, "rb") as f:  # a missing or unreadable file: open's own error names it
        try:
            with Image.open(f) as img:
                return img.convert(mode)
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
            raise _unreadable(path, e) from e


def pil_loader(path: str | os.PathLike):
    """Open an image file with Pillow and convert it to RGB (torchvision's pil_loader).

    Raises:
        CorruptFileError: naming the file, when Pillow cannot decode it (truncated, damaged,
            not an image).
    """
    return _open_image(path, "RGB")


def default_loader(path: str | os.PathLike):
    """The loader of ImageFolder: `pil_loader` (torchvision's default without accimage)."""
    return pil_loader(path)


def find_classes(directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """The class folders of `directory`, sorted, and their indices: (classes, class_to_idx).

    Raises:
        FileNotFoundError: when `directory` holds no folder.
    """
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(
    directory: str | os.PathLike,
    class_to_idx: dict[str, int] | None = None,
    extensions: str | Sequence[str] | None = None,
    is_valid_file: Callable[[str], bool] | None = None,
    allow_empty: bool = False,
) -> list[tuple[str, int]]:
    """The (path, class_index) samples under `directory`, torchvision's make_dataset.

    Args:
        directory: the root folder, one sub-folder per class.
        class_to_idx: class folder name -> index (default: `find_classes(directory)`); folders
            not named here are skipped.
        extensions: file endings that make a sample (case-insensitive).
        is_valid_file: `f(path) -> bool`, instead of extensions (give exactly one of the two).
        allow_empty: accept a class folder with no valid file (default False: an error).

    Raises:
        ValueError: both or neither of extensions and is_valid_file, or an empty class_to_idx.
        FileNotFoundError: a class with no valid file (unless allow_empty), or no class folder.
    """
    directory = os.path.expanduser(directory)
    if class_to_idx is None:
        _, class_to_idx = find_classes(directory)
    elif not class_to_idx:
        raise ValueError("'class_to_index' must have at least one entry to collect any samples.")
    if (extensions is None) == (is_valid_file is None):
        raise ValueError(
            "Both extensions and is_valid_file cannot be None or not None at the same time"
        )
    if extensions is not None:
        is_valid_file = partial(has_file_allowed_extension, extensions=extensions)
    samples, found = [], set()
    for name in sorted(class_to_idx):
        index, folder = class_to_idx[name], os.path.join(directory, name)
        if not os.path.isdir(folder):
            continue
        for root, _, files in sorted(os.walk(folder, followlinks=True)):
            for fname in sorted(files):
                path = os.path.join(root, fname)
                if is_valid_file(path):
                    samples.append((path, index))
                    found.add(name)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            listed = extensions if isinstance(extensions, str) else ", ".join(extensions)
            msg += f"Supported extensions are: {listed}"
        raise FileNotFoundError(msg)
    return samples


class DatasetFolder(Dataset):
    """Samples in one folder per class, read by `loader` (torchvision's DatasetFolder).

    Args:
        root: the folder of class folders (a `~` is expanded).
        loader: `loader(path) -> sample`.
        extensions: file endings that make a sample (case-insensitive), or None with
            is_valid_file.
        transform: applied to each sample, e.g. `T.Compose([T.Resize(72), T.CenterCrop(64),
            T.ToTensor()])`.
        target_transform: applied to each class index.
        is_valid_file: `f(path) -> bool` choosing the samples, instead of extensions.
        allow_empty: accept class folders without a valid file (default False).

    Attributes:
        classes (list[str]), class_to_idx (dict), samples (list of (path, class_index)),
        targets (list[int]), as torchvision's.

    Raises:
        FileNotFoundError: no class folder, or a class without a valid file.
        ValueError: both or neither of extensions and is_valid_file.
    """

    task = CLASSIFICATION
    split: str | None = None  # the split folder it was read from, by get_dataset('imagefolder')

    def __init__(
        self,
        root: str | os.PathLike,
        loader: Callable,
        extensions: str | Sequence[str] | None = None,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ):
        self.root = os.path.expanduser(root) if isinstance(root, str) else root
        self.transform, self.target_transform = transform, target_transform
        classes, class_to_idx = self.find_classes(self.root)
        samples = self.make_dataset(self.root, class_to_idx, extensions, is_valid_file,
                                    allow_empty=allow_empty)  # fmt: skip
        self.loader = loader
        self.extensions = extensions
        self.classes = classes
        self.class_to_idx = class_to_idx
        self.samples = samples
        self.targets = [s[1] for s in samples]

    @staticmethod
    def make_dataset(
        directory: str | os.PathLike,
        class_to_idx: dict[str, int],
        extensions: str | Sequence[str] | None = None,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ) -> list[tuple[str, int]]:
        """The samples of `directory` (module-level `make_dataset`, class_to_idx required)."""
        if class_to_idx is None:
            raise ValueError("The class_to_idx parameter cannot be None.")
        return make_dataset(directory, class_to_idx, extensions, is_valid_file, allow_empty)

    def find_classes(self, directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
        """(classes, class_to_idx) of `directory`; override it for another class layout."""
        return find_classes(directory)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        path, target = self.samples[index]
        sample = self.loader(path)
        if self.transform is not None:
            sample = self.transform(sample)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return sample, target

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(C, H, W) of the first item after the transform: the shape of every item when the
        transform gives one size (a Resize to (H, W), a crop), as batching needs."""
        sample = self[0][0]
        if is_pil_image(sample):
            return (len(sample.getbands()), sample.height, sample.width)
        return tuple(sample.shape)

    def __repr__(self) -> str:
        split = f"split={self.split!r}, " if self.split else ""
        return (
            f"{type(self).__name__}({split}root={str(self.root)!r}, n={len(self)}, "
            f"classes={len(self.classes)})"
        )


class ImageFolder(DatasetFolder):
    """Images in one folder per class (torchvision's ImageFolder): a DatasetFolder of the files
    ending in `IMG_EXTENSIONS`, read by `default_loader` (a PIL image in RGB).

    Args:
        root: the folder of class folders.
        transform: applied to each PIL image; end it with `T.ToTensor()` to batch the items.
        target_transform: applied to each class index.
        loader: `loader(path) -> image` (default `default_loader`).
        is_valid_file: `f(path) -> bool` choosing the files, instead of `IMG_EXTENSIONS`.
        allow_empty: accept class folders without an image (default False).

    `imgs` is `samples` (torchvision's older name).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
        loader: Callable = default_loader,
        is_valid_file: Callable[[str], bool] | None = None,
        allow_empty: bool = False,
    ):
        super().__init__(
            root,
            loader,
            IMG_EXTENSIONS if is_valid_file is None else None,
            transform=transform,
            target_transform=target_transform,
            is_valid_file=is_valid_file,
            allow_empty=allow_empty,
        )
        self.imgs = self.samples


# --------------------------------------------------------------------------- the registry's layout


def split_folders(data_dir=None) -> dict[str, Path]:
    """{split: folder} of the split folders present under data_dir: train/, val/, test/."""
    root = resolve_data_dir(data_dir)
    return {s: root / s for s in SPLITS if (root / s).is_dir()}


def _grey_loader(path):
    return _open_image(path, "L")


def _channels(samples, most: int = 64) -> int:
    """1 when every one of (at most `most`, evenly spaced) sample files is a grey image, else 3.
    Only the headers are read."""
    from PIL import Image

    step = max(1, -(-len(samples) // most))  # ceil: at most `most` files
    for path, _ in samples[::step]:
        try:
            with Image.open(path) as img:
                mode = img.mode
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise _unreadable(path, e) from e
        if mode not in _GREY_MODES:
            return 3
    return 1


def load_split(data_dir, split: str = "train", image_size=None, in_channels: int | None = None):
    """Split `split` of an image folder laid out as `<data_dir>/{train,val,test}/<class>/<image>`
    (what `get_dataset('imagefolder', split, data_dir)` and `train --dataset imagefolder` read).

    Args:
        data_dir: the folder holding train/ (and optionally val/ and test/).
        split: 'train', 'val' or 'test'.
        image_size: an int S: each image is resized (smaller edge to S, aspect kept) and cut
            to its central S x S (torchvision's evaluation transform); or (H, W): resized to
            that. None: kept at its own size (items then batch only when all sizes agree).
        in_channels: 3 (RGB) or 1 (grey); None: 1 when train/'s images are all grey (checked
            on up to 64 of them), else 3.

    Items are float32 (C, H, W) arrays in [0, 1] and int class indices; the classes are train/'s
    folders, so that every split indexes them alike.
    """
    root = resolve_data_dir(data_dir)
    if split not in SPLITS:
        raise ValueError(f"imagefolder: unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    folders = split_folders(root)
    if "train" not in folders:
        loose = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        hint = (f"; it holds {', '.join(loose[:5])}: move the class folders into {root / 'train'}"
                if loose and not set(loose) & set(SPLITS) else "")  # fmt: skip
        raise FileNotFoundError(
            f"imagefolder: {root / 'train'} not found: lay out your images as "
            f"{root}/train/<class>/<image> (and optionally val/ and test/ alike){hint}"
        )
    if split not in folders:
        raise FileNotFoundError(
            f"imagefolder: {root / split} not found (present: {', '.join(folders)})"
        )
    steps = []
    if isinstance(image_size, Integral):
        steps = [T.Resize(int(image_size)), T.CenterCrop(int(image_size))]
    elif image_size is not None:
        steps = [T.Resize(tuple(image_size))]
    if in_channels not in (None, 1, 3):
        raise ValueError(f"imagefolder: in_channels must be 1 or 3, got {in_channels}")
    train = ImageFolder(folders["train"])
    if in_channels is None:
        in_channels = _channels(train.samples)
    # val/ and test/ need the same class folders (so that the indices agree), images optional
    ds = train if split == "train" else ImageFolder(folders[split], allow_empty=True)
    if ds.classes != train.classes:
        raise FileNotFoundError(
            f"imagefolder: the class folders of {folders[split]} ({', '.join(ds.classes)}) "
            f"differ from those of {folders['train']} ({', '.join(train.classes)})"
        )
    if not ds.samples:
        raise FileNotFoundError(
            f"imagefolder: {folders[split]} holds no image in its class folders; add images "
            f"(endings {', '.join(IMG_EXTENSIONS)}) or remove the folder"
        )
    ds.loader = default_loader if in_channels == 3 else _grey_loader
    ds.transform = T.Compose([*steps, T.ToTensor()])
    ds.split = split
    return ds


def locate(data_dir=None) -> dict:
    """Which split folders are under the data folder: {'found': {...}, 'missing': [...]}."""
    root = resolve_data_dir(data_dir)
    found = {s: str(p) for s, p in split_folders(root).items()}
    missing = [] if "train" in found else [f"{root / 'train'}/<class>/<image>"]
    return {"found": found, "missing": missing}
