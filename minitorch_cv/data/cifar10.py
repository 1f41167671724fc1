"""CIFAR-10, the "python version": five training pickles and one test pickle.

The batches are Python-2 pickles of a dict {b'data': uint8 (10000, 3072), b'labels': [int],
b'batch_label': bytes, ...}; each row holds the R, G, B planes of a 32 x 32 image. They are read
with a restricted unpickler that can rebuild NumPy arrays and nothing else, so a tampered file
cannot run code. The `b'filenames'` key is not needed (the shared copies lack it).
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from ._files import (
    CorruptFileError,
    DownloadError,
    RemoteFile,
    download,
    missing_file_message,
    resolve_data_dir,
    safe_extract,
)
from .dataset import ArrayDataset, torchvision_args

FOLDER = "cifar-10-batches-py"
ARCHIVE = RemoteFile(
    "cifar-10-python.tar.gz",
    ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
    md5="c58f30108f718f92721af3b95e74349a",
    size=170498071,
)
FILES = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}
META = "batches.meta"
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# The array-rebuilding callable NumPy pickles refer to as numpy.core.multiarray._reconstruct
# (NumPy 1) or numpy._core.multiarray._reconstruct (NumPy 2); taken from NumPy itself so the
# lookup does not import the deprecated numpy.core module.
_RECONSTRUCT = np.empty(0).__reduce__()[0]
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global other than NumPy's array-rebuilding ones."""


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """An unpickler that resolves only NumPy's array-rebuilding globals and refuses any other."""

    def find_class(self, module, name):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(
                f"refusing to load global {module}.{name}: a CIFAR-10 batch holds only NumPy "
                "arrays, lists, numbers and strings"
            ) from None


def safe_unpickle(data: bytes):
    """Unpickle `data` (Python-2 strings kept as bytes) allowing only NumPy array globals."""
    return _ArraysOnlyUnpickler(io.BytesIO(data), encoding="bytes").load()


def _key(d: dict, name: str):
    # Python-2 pickles have bytes keys; a batch re-pickled by Python 3 has str keys.
    if name.encode() in d:
        return d[name.encode()]
    return d.get(name)


def parse_batch(data: bytes, source: str, expected_rows: int | None = 10000):
    """Decode one CIFAR-10 batch pickle into (pixels uint8 (n, 3, 32, 32), labels int64 (n,)).

    Args:
        data: the file's bytes.
        source: the file's name, used in error messages.
        expected_rows: images the batch must hold (10000 in the official files; None: any).

    Raises:
        CorruptFileError: naming `source`, for a truncated or damaged pickle, a forbidden global,
            missing keys, wrong shapes or dtype, or labels outside 0..9.
    """
    try:
        d = safe_unpickle(data)
    except ForbiddenGlobalError as e:
        raise CorruptFileError(
            f"{source}: {e}; not loaded (it is not a plain CIFAR-10 batch)"
        ) from e
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        UnicodeDecodeError,
        MemoryError,
    ) as e:
        raise CorruptFileError(
            f"{source}: not a readable CIFAR-10 batch pickle ({e}); the file "
            "is truncated or damaged: delete it and place it again"
        ) from e
    if not isinstance(d, dict):
        raise CorruptFileError(f"{source}: expected a dict in the pickle, got {type(d).__name__}")
    pixels, labels = _key(d, "data"), _key(d, "labels")
    if not isinstance(pixels, np.ndarray) or labels is None:
        raise CorruptFileError(f"{source}: the batch lacks a 'data' array or a 'labels' list")
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        raise CorruptFileError(
            f"{source}: 'data' must be uint8 (n, 3072), got {pixels.dtype} {pixels.shape}"
        )
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as e:
        raise CorruptFileError(f"{source}: 'labels' is not a list of integers ({e})") from e
    if labels.shape != (len(pixels),):
        raise CorruptFileError(f"{source}: {len(pixels)} images but labels of shape {labels.shape}")
    if expected_rows is not None and len(pixels) != expected_rows:
        raise CorruptFileError(
            f"{source}: holds {len(pixels)} images, a CIFAR-10 batch holds {expected_rows}"
        )
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise CorruptFileError(
            f"{source}: labels must be 0..9, found {labels.min()}..{labels.max()}"
        )
    return pixels.reshape(-1, 3, 32, 32), labels


def _parse_meta(data: bytes, source: str) -> tuple[str, ...]:
    try:
        names = _key(safe_unpickle(data), "label_names")
        names = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    except Exception as e:  # the meta pickle holds only names: any failure means damage
        raise CorruptFileError(f"{source}: unreadable batches.meta ({e})") from e
    if len(names) != 10:
        raise CorruptFileError(f"{source}: expected 10 label names, got {len(names)}")
    return names


def _read_from_archive(archive: Path, wanted: set[str]) -> dict[str, bytes]:
    """Read the members `cifar-10-batches-py/<name>` for names in `wanted`, without extracting."""
    out = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                p = PurePosixPath(member.name)
                if member.isfile() and p.parent.name == FOLDER and p.name in wanted:
                    out[p.name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise CorruptFileError(
            f"{archive}: cannot read the archive ({e}); it is truncated or "
            "damaged: delete it and place or download it again"
        ) from e
    return out


def find_source(root: Path) -> tuple[str, Path] | None:
    """('folder', path) or ('archive', path) for the first CIFAR-10 copy found, else None."""
    for folder in (root / FOLDER, root):
        if (folder / "test_batch").is_file() or (folder / "data_batch_1").is_file():
            return "folder", folder
    if (root / ARCHIVE.name).is_file():
        return "archive", root / ARCHIVE.name
    return None


class CIFAR10(ArrayDataset):
    """CIFAR-10, 3 x 32 x 32 colour images in 10 classes.

    Args:
        split: 'train' (50000 images, data_batch_1..5) or 'test' (10000, test_batch).
        data_dir: folder holding `cifar-10-batches-py/` (or the batch files themselves), or
            `cifar-10-python.tar.gz`, which is read without extracting (default:
            `$MINITORCH_CV_DATA`, else `~/.cache/minitorch_cv`).
        root, train: torchvision's spelling, `CIFAR10(root, train=False)`, accepted too.
        download: fetch the archive when nothing is found, verify its MD5 and extract the
            batches into `<data_dir>/cifar-10-batches-py/` (default False).

    Shape:
        images (N, 3, 32, 32) float32 in [0, 1]; targets (N,) int64 in 0..9.
    """

    EXPECTED_PER_BATCH = 10000

    def __init__(
        self,
        split: str = "train",
        data_dir=None,
        download: bool = False,
        *,
        root=None,
        train: bool | None = None,
    ):
        split, data_dir = torchvision_args("CIFAR10", split, data_dir, root, train, FILES)
        root = resolve_data_dir(data_dir)
        kind, where = _locate(root, download)
        names = FILES[split]
        if kind == "folder":
            blobs = {}
            for n in (*names, META):
                p = where / n
                if p.is_file():
                    blobs[n] = p.read_bytes()
                elif n != META:
                    raise FileNotFoundError(
                        f"CIFAR10: {p} is missing (the folder {where} holds only part of the "
                        f"dataset); place all of data_batch_1..5 and test_batch there, or the "
                        f"archive {ARCHIVE.name} from {ARCHIVE.urls[0]} in {root}"
                    )
            self.files = tuple(where / n for n in names)
        else:
            blobs = _read_from_archive(where, {*names, META})
            lost = [n for n in names if n not in blobs]
            if lost:
                raise CorruptFileError(
                    f"{where}: the archive lacks {FOLDER}/{lost[0]}; it is "
                    "truncated or not the CIFAR-10 python version"
                )
            self.files = (where,)
        parts = [parse_batch(blobs[n], str(where / n), self.EXPECTED_PER_BATCH) for n in names]
        classes = _parse_meta(blobs[META], str(where / META)) if META in blobs else CLASSES
        pixels = np.concatenate([p for p, _ in parts])
        labels = np.concatenate([lbl for _, lbl in parts])
        super().__init__(
            pixels.astype(np.float32) / np.float32(255),
            labels,
            classes,
            name="CIFAR10",
            split=split,
        )


def _locate(root: Path, allow_download: bool) -> tuple[str, Path]:
    found = find_source(root)
    if found is not None:
        return found
    failure = None
    if allow_download:
        try:
            archive = download(ARCHIVE, root)
            safe_extract(archive, root, lambda p: len(p.parts) == 2 and p.parts[0] == FOLDER)
            return "folder", root / FOLDER
        except DownloadError as e:
            failure = str(e)
    raise FileNotFoundError(
        missing_file_message("CIFAR10", ARCHIVE, root, [root / FOLDER, root], failure)
        + f"\n(The extracted folder {root / FOLDER}/ with data_batch_1..5, test_batch works too.)"
    )


def locate(data_dir=None) -> dict:
    """Which CIFAR-10 files are under the data folder: {'found': {...}, 'missing': [...]}."""
    root = resolve_data_dir(data_dir)
    src = find_source(root)
    if src is None:
        return {"found": {}, "missing": [f"{root / FOLDER}/ (or {root / ARCHIVE.name})"]}
    kind, where = src
    if kind == "archive":
        return {"found": {"archive": str(where)}, "missing": []}
    found, missing = {}, []
    for n in (*FILES["train"], *FILES["test"]):
        if (where / n).is_file():
            found[n] = str(where / n)
        else:
            missing.append(str(where / n))
    return {"found": found, "missing": missing}
