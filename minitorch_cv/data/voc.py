"""PASCAL VOC segmentation (2007 by default): JPEG images and palette-PNG class masks.

Layout: `VOCdevkit/VOC2007/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png,
ImageSets/Segmentation/{train,val,trainval,test}.txt}`. Mask pixels are class indices:
0 = background, 1..20 = the object classes, 255 = void (object borders), which losses and
metrics ignore. Images are read with Pillow, once, at load time.
"""

from __future__ import annotations

from pathlib import Path

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
from .dataset import ArrayDataset

CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
IGNORE_INDEX = 255
SPLITS = ("train", "val", "trainval", "test")

ARCHIVES = {
    "2007": {
        "trainval": RemoteFile(
            "VOCtrainval_06-Nov-2007.tar",
            ("http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtrainval_06-Nov-2007.tar",),
            md5="c52e279531787c972589f7e41ab4ae64",
        ),
        "test": RemoteFile(
            "VOCtest_06-Nov-2007.tar",
            ("http://host.robots.ox.ac.uk/pascal/VOC/voc2007/VOCtest_06-Nov-2007.tar",),
            md5="b6e924de25625d8de591ea690078ad9f",
        ),
    },
    "2012": {
        "trainval": RemoteFile(
            "VOCtrainval_11-May-2012.tar",
            ("http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",),
            md5="6cd6e144f989b92b3379bac3b3de84fd",
        ),
    },
}


def voc_palette(n: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (n, 3) uint8, colour i for class index i (255 -> (224, 224, 192)).

    Built by the devkit's rule: the bits of the index, three at a time, spread over the high
    bits of R, G and B.
    """
    idx = np.arange(n)
    rgb = np.zeros((n, 3), dtype=np.int64)
    for shift in range(8):  # 8 rounds of 3 bits cover every index < 2**24
        for ch in range(3):
            bit = (idx >> (3 * shift + ch)) & 1
            rgb[:, ch] |= bit << (7 - shift)
    return rgb.astype(np.uint8)


def find_root(data_dir: Path, year: str = "2007") -> Path | None:
    """The `VOC<year>` folder under data_dir (as `VOCdevkit/VOC<year>`, `VOC<year>` or itself)."""
    for cand in (data_dir / "VOCdevkit" / f"VOC{year}", data_dir / f"VOC{year}", data_dir):
        if (cand / "ImageSets" / "Segmentation").is_dir():
            return cand
    return None


def _archive_for(year: str, split: str) -> RemoteFile:
    archives = ARCHIVES[year]
    return archives["test"] if split == "test" and "test" in archives else archives["trainval"]


def _read_rgb(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _read_mask(path: Path, palette_lut: dict[tuple[int, int, int], int]) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        if im.mode in ("P", "L"):
            return np.asarray(im, dtype=np.uint8)
        if im.mode != "RGB":
            raise CorruptFileError(
                f"{path}: expected a palette PNG of class indices, got mode {im.mode!r}"
            )
        rgb = np.asarray(im, dtype=np.int64)
    # A colour mask saved as RGB: map every colour back to its index in the VOC palette.
    code = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    keys = np.array([(r << 16) | (g << 8) | b for r, g, b in palette_lut], dtype=np.int64)
    vals = np.array(list(palette_lut.values()), dtype=np.uint8)
    order = np.argsort(keys)
    pos = np.clip(np.searchsorted(keys[order], code), 0, len(keys) - 1)
    if not np.all(keys[order][pos] == code):
        raise CorruptFileError(f"{path}: RGB mask holds colours outside the VOC palette")
    return vals[order][pos]


def _decode(path: Path, read):
    """`read(path)`, turning Pillow's decoding failures into a CorruptFileError naming the file."""
    from PIL import UnidentifiedImageError

    try:
        return read(path)
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as e:
        if isinstance(e, CorruptFileError):
            raise
        raise CorruptFileError(
            f"{path}: cannot decode the image ({e}); the file is truncated or damaged"
        ) from e


def _fit(img, mask, size: tuple[int, int] | None, mode: str):
    """Resize a PIL image (bilinear) and mask (nearest) to `size` = (H, W) by `mode`."""
    from PIL import Image

    if size is None:
        return img, mask
    h, w = size
    if mode == "resize":
        return (
            img.resize((w, h), Image.Resampling.BILINEAR),
            mask.resize((w, h), Image.Resampling.NEAREST),
        )
    # 'crop': scale the shorter side to fit, then take the centre
    scale = max(h / img.height, w / img.width)
    sw, sh = max(w, round(img.width * scale)), max(h, round(img.height * scale))
    img = img.resize((sw, sh), Image.Resampling.BILINEAR)
    mask = mask.resize((sw, sh), Image.Resampling.NEAREST)
    left, top = (sw - w) // 2, (sh - h) // 2
    box = (left, top, left + w, top + h)
    return img.crop(box), mask.crop(box)


class VOCSegmentation(ArrayDataset):
    """PASCAL VOC semantic segmentation: 21 classes, 255 = void.

    Args:
        split: 'train', 'val', 'trainval' or 'test' (VOC2007: 209 / 213 / 422 / 210 images).
        data_dir: folder holding `VOCdevkit/VOC2007/` (or `VOC2007/`, or that folder itself);
            default `$MINITORCH_CV_DATA`, else `~/.cache/minitorch_cv`.
        size: output size, an int or (H, W) (default 224); None keeps each image's own size,
            in which case `images` and `targets` are lists of arrays rather than stacked arrays.
        mode: 'resize' stretches to `size`; 'crop' scales the shorter side to `size` and takes
            the centre (default 'resize'). Images are resampled bilinearly, masks by nearest.
        year: '2007' (default) or '2012' (no test split).
        download: fetch the archive of the split when missing, verify its MD5 and extract the
            segmentation parts into `<data_dir>/VOCdevkit/` (default False).

    Shape:
        images (N, 3, H, W) float32 in [0, 1]; targets (N, H, W) int64 in 0..20 or 255.
    """

    def __init__(
        self,
        split: str = "train",
        data_dir=None,
        size=224,
        mode: str = "resize",
        year: str = "2007",
        download: bool = False,
    ):
        from PIL import Image

        if year not in ARCHIVES:
            raise ValueError(
                f"VOCSegmentation: unknown year {year!r}; valid: {', '.join(ARCHIVES)}"
            )
        if split not in SPLITS or (split == "test" and "test" not in ARCHIVES[year]):
            valid = [s for s in SPLITS if s != "test" or "test" in ARCHIVES[year]]
            raise ValueError(
                f"VOCSegmentation: unknown split {split!r} for VOC{year}; valid "
                f"splits: {', '.join(valid)}"
            )
        if mode not in ("resize", "crop"):
            raise ValueError(f"VOCSegmentation: mode must be 'resize' or 'crop', got {mode!r}")
        if size is not None:
            size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
            if len(size) != 2 or min(size) < 1:
                raise ValueError(
                    f"VOCSegmentation: size must be a positive int or (H, W), got {size}"
                )
        data_dir = resolve_data_dir(data_dir)
        root = _locate(data_dir, year, split, download)
        split_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not split_file.is_file():
            remote = _archive_for(year, split)
            raise FileNotFoundError(
                f"VOCSegmentation: split file {split_file} not found; the {split!r} split comes "
                f"in {remote.name} ({remote.urls[0]}); extract it into {data_dir}"
            )
        ids = [line.split()[0] for line in split_file.read_text().splitlines() if line.strip()]
        if not ids:
            raise CorruptFileError(f"{split_file}: lists no image ids")

        lut = {tuple(int(v) for v in c): i for i, c in enumerate(voc_palette())}
        images, masks = [], []
        for id_ in ids:
            jpg = root / "JPEGImages" / f"{id_}.jpg"
            png = root / "SegmentationClass" / f"{id_}.png"
            for p in (jpg, png):
                if not p.is_file():
                    raise FileNotFoundError(
                        f"VOCSegmentation: {p} is missing ({split_file} lists id {id_!r})"
                    )
            img = _decode(jpg, _read_rgb)
            mask_arr = _decode(png, lambda p: _read_mask(p, lut))
            if mask_arr.shape != (img.height, img.width):
                raise CorruptFileError(
                    f"{png}: mask is {mask_arr.shape}, its image {jpg} is {(img.height, img.width)}"
                )
            bad_vals = mask_arr[(mask_arr > len(CLASSES) - 1) & (mask_arr != IGNORE_INDEX)]
            if bad_vals.size:
                raise CorruptFileError(
                    f"{png}: mask values must be 0..20 or 255, found {int(bad_vals[0])}"
                )
            img, mask_img = _fit(img, Image.fromarray(mask_arr), size, mode)
            images.append(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))
            masks.append(np.asarray(mask_img, dtype=np.uint8))

        self.ids = ids
        self.root = root
        if size is None:  # ragged: keep per-image arrays
            self.name, self.split, self.classes = "VOCSegmentation", split, CLASSES
            self.images = [(im / np.float32(255)).astype(np.float32) for im in images]
            self.targets = [m.astype(np.int64) for m in masks]
            return
        super().__init__(
            np.stack(images).astype(np.float32) / np.float32(255),
            np.stack(masks).astype(np.int64),
            CLASSES,
            name="VOCSegmentation",
            split=split,
        )

    @property
    def task(self) -> str:
        return "segmentation"

    def __getitem__(self, index):
        if isinstance(self.images, list):
            if isinstance(index, (int, np.integer)):
                return self.images[index], self.targets[index]
            idx = np.arange(len(self.images))[index]
            return [self.images[i] for i in idx], [self.targets[i] for i in idx]
        return super().__getitem__(index)

    def __repr__(self) -> str:
        if isinstance(self.images, list):
            return f"VOCSegmentation(split={self.split!r}, n={len(self)}, size=None)"
        return super().__repr__()


def _keep_member(year: str):
    """A filter for safe_extract: the segmentation parts of VOCdevkit/VOC<year>/ only."""
    prefixes = [
        ("VOCdevkit", f"VOC{year}", "JPEGImages"),
        ("VOCdevkit", f"VOC{year}", "SegmentationClass"),
        ("VOCdevkit", f"VOC{year}", "ImageSets", "Segmentation"),
    ]
    return lambda p: any(
        p.parts[: len(pre)] == pre and len(p.parts) == len(pre) + 1 for pre in prefixes
    )


def _locate(data_dir: Path, year: str, split: str, allow_download: bool) -> Path:
    root = find_root(data_dir, year)
    if root is not None and (root / "ImageSets" / "Segmentation" / f"{split}.txt").is_file():
        return root
    remote = _archive_for(year, split)
    failure = None
    if allow_download:
        try:
            archive = data_dir / remote.name
            if not archive.is_file():
                archive = download(remote, data_dir)
            safe_extract(archive, data_dir, _keep_member(year))
            return data_dir / "VOCdevkit" / f"VOC{year}"
        except DownloadError as e:
            failure = str(e)
    if root is not None:
        return root  # the caller names the missing split file
    msg = missing_file_message(
        f"VOCSegmentation ({split})",
        remote,
        data_dir,
        [data_dir / "VOCdevkit" / f"VOC{year}", data_dir / f"VOC{year}"],
        failure,
    )
    raise FileNotFoundError(
        msg + f"\nExtract it there so that {data_dir}/VOCdevkit/VOC{year}/"
        "{JPEGImages,SegmentationClass,ImageSets/Segmentation} exist."
    )


def locate(data_dir=None, year: str = "2007") -> dict:
    """Which VOC segmentation parts are present: {'found': {...}, 'missing': [...]}."""
    data_dir = resolve_data_dir(data_dir)
    root = find_root(data_dir, year)
    if root is None:
        return {"found": {}, "missing": [str(data_dir / "VOCdevkit" / f"VOC{year}") + "/"]}
    found, missing = {}, []
    for d in ("JPEGImages", "SegmentationClass"):
        if (root / d).is_dir():
            found[d] = str(root / d)
        else:
            missing.append(str(root / d) + "/")
    for s in SPLITS:
        p = root / "ImageSets" / "Segmentation" / f"{s}.txt"
        if p.is_file():
            found[f"{s}.txt"] = str(p)
        elif s != "test" or "test" in ARCHIVES[year]:
            missing.append(str(p))
    return {"found": found, "missing": missing}
