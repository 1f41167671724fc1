"""MNIST from its original IDX files (gzip-compressed or raw).

IDX layout (big-endian): magic (2 zero bytes, a type code 0x08 = uint8, the number of dimensions),
then one uint32 per dimension, then the data row-major. Images: magic 2051, dims (N, 28, 28);
labels: magic 2049, dims (N,). Every header field and the file length are checked, so a truncated
or damaged file is an error that names the file, never a silently shorter dataset.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ._files import (
    CorruptFileError,
    DownloadError,
    RemoteFile,
    download,
    find_first,
    missing_file_message,
    resolve_data_dir,
)
from .dataset import ArrayDataset, torchvision_args

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

# name -> (bytes, MD5, SHA-256) of the official .gz files
_OFFICIAL = {
    "train-images-idx3-ubyte.gz": (
        9912422,
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    ),
    "train-labels-idx1-ubyte.gz": (
        28881,
        "d53e105ee54ea40749a09fcbcd1e9432",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    ),
    "t10k-images-idx3-ubyte.gz": (
        1648877,
        "9fb629c4189551a2d022fa330f9573f3",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    ),
    "t10k-labels-idx1-ubyte.gz": (
        4542,
        "ec29112dd5afa0611ce80d1b7f02629c",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ),
}

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def remote_file(stem: str) -> RemoteFile:
    """The download description of `<stem>.gz`."""
    name = stem + ".gz"
    size, md5, sha256 = _OFFICIAL[name]
    return RemoteFile(name, tuple(m + name for m in MIRRORS), md5=md5, sha256=sha256, size=size)


def search_dirs(root: Path) -> list[Path]:
    """Folders searched: `<root>/mnist`, torchvision's `<root>/MNIST/raw`, `<root>`."""
    return [root / "mnist", root / "MNIST" / "raw", root]


def find_file(root: Path, stem: str) -> Path | None:
    """The first of `<dir>/<stem>.gz` or `<dir>/<stem>` over `search_dirs(root)`, else None."""
    return find_first(d / (stem + ext) for d in search_dirs(root) for ext in (".gz", ""))


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":  # not gzip: a raw IDX file
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:  # truncated stream, bad CRC, bad data
        raise CorruptFileError(
            f"{path}: the gzip stream is truncated or damaged ({e}); delete "
            "the file and place or download it again"
        ) from e


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Read an IDX file of unsigned bytes (gzip-compressed or raw) into a uint8 array.

    Args:
        path: the file.
        expected_magic: 2051 for images, 2049 for labels; None accepts any uint8 IDX magic.

    Raises:
        CorruptFileError: naming the file, for a wrong magic number, a header that does not fit,
            or a file whose length differs from what its header announces (truncation).
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise CorruptFileError(f"{path}: only {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    ndim = raw[3]
    if expected_magic is not None and magic != expected_magic:
        raise CorruptFileError(
            f"{path}: IDX magic number is {magic}, expected {expected_magic} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'})"
        )
    if raw[:2] != b"\0\0" or raw[2] != 0x08 or ndim == 0:
        raise CorruptFileError(f"{path}: IDX magic {magic:#010x} is not an unsigned-byte IDX file")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise CorruptFileError(
            f"{path}: truncated inside the header ({len(raw)} bytes, the header needs {header})"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "longer than its header says"
        raise CorruptFileError(
            f"{path}: file is {what}: the header announces dims {dims}, i.e. "
            f"{expected} bytes uncompressed, but it holds {len(raw)}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


class MNIST(ArrayDataset):
    """The MNIST handwritten digits, 1 x 28 x 28, 10 classes.

    Args:
        split: 'train' (60000 images) or 'test' (10000).
        data_dir: folder holding the files, directly or in `mnist/` (default: `$MINITORCH_CV_DATA`,
            else `~/.cache/minitorch_cv`). Both `*-ubyte.gz` and uncompressed `*-ubyte` are read.
        root, train: torchvision's spelling, `MNIST(root, train=False)`, accepted too.
        download: fetch missing files from the standard mirrors into `<data_dir>/mnist/`,
            verifying their SHA-256 (default False).

    Shape:
        images (N, 1, 28, 28) float32 in [0, 1]; targets (N,) int64 in 0..9.
    """

    CLASSES = tuple(str(d) for d in range(10))
    EXPECTED_COUNTS = {"train": 60000, "test": 10000}

    def __init__(
        self,
        split: str = "train",
        data_dir=None,
        download: bool = False,
        *,
        root=None,
        train: bool | None = None,
    ):
        split, data_dir = torchvision_args("MNIST", split, data_dir, root, train, FILES)
        root = resolve_data_dir(data_dir)
        img_path, lbl_path = (_locate(root, stem, download) for stem in FILES[split])
        images = read_idx(img_path, IMAGES_MAGIC)
        labels = read_idx(lbl_path, LABELS_MAGIC)
        expected = self.EXPECTED_COUNTS[split]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise CorruptFileError(
                f"{img_path}: expected images of 28 x 28, got dims {images.shape}"
            )
        if labels.ndim != 1:
            raise CorruptFileError(f"{lbl_path}: expected 1-D labels, got dims {labels.shape}")
        for path, n in ((img_path, len(images)), (lbl_path, len(labels))):
            if n != expected:
                raise CorruptFileError(
                    f"{path}: holds {n} items, the MNIST {split} split has {expected}"
                )
        if labels.max(initial=0) > 9:
            raise CorruptFileError(f"{lbl_path}: labels must be 0..9, found {int(labels.max())}")
        self.files = (img_path, lbl_path)
        super().__init__(
            (images[:, None] / np.float32(255)).astype(np.float32),
            labels.astype(np.int64),
            self.CLASSES,
            name="MNIST",
            split=split,
        )


def _locate(root: Path, stem: str, allow_download: bool) -> Path:
    found = find_file(root, stem)
    if found is not None:
        return found
    remote = remote_file(stem)
    failure = None
    if allow_download:
        try:
            return download(remote, root / "mnist")
        except DownloadError as e:
            failure = str(e)
    raise FileNotFoundError(
        missing_file_message("MNIST", remote, root / "mnist", search_dirs(root), failure)
    )


def locate(data_dir=None) -> dict:
    """Which MNIST files are present under the data folder: {'found': {...}, 'missing': [...]}."""
    root = resolve_data_dir(data_dir)
    found, missing = {}, []
    for stems in FILES.values():
        for stem in stems:
            p = find_file(root, stem)
            if p is None:
                missing.append(str(root / "mnist" / (stem + ".gz")))
            else:
                found[stem] = str(p)
    return {"found": found, "missing": missing}
