"""VOC segmentation loader on a small VOC-layout tree generated here (palette PNG masks with
255 borders), its resizing, its errors and its download / safe-extraction path."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from minitorch_cv.data import CorruptFileError, VOCSegmentation, get_dataset, voc_palette
from minitorch_cv.data import voc as voc_mod
from minitorch_cv.data._files import RemoteFile, safe_extract

H, W = 20, 30


def make_mask(seed: int) -> np.ndarray:
    """Two class rectangles, each outlined by a 1-pixel 255 boundary, on background 0."""
    rng = np.random.default_rng(seed)
    m = np.zeros((H, W), np.uint8)
    for cls, (r, c) in zip(rng.integers(1, 21, 2), ((2, 2), (10, 15))):
        m[r - 1 : r + 7, c - 1 : c + 11] = 255
        m[r : r + 6, c : c + 10] = cls
    return m


def make_image(mask: np.ndarray) -> np.ndarray:
    """Flat colour per class so that JPEG keeps it close: (H, W, 3) uint8."""
    return voc_palette()[mask] // 2 + 40


def write_png_mask(path, mask, mode="P"):
    """Save a mask as VOC does: a palette PNG whose pixel values are the class indices."""
    if mode == "RGB":
        im = Image.fromarray(voc_palette()[mask])
    else:
        im = Image.fromarray(mask)  # 'L'; putpalette turns it into a 'P' image
        im.putpalette(voc_palette().reshape(-1).tolist())
        assert im.mode == "P"
    im.save(path)


def make_voc(root, splits=None, mask_mode="P"):
    """A VOCdevkit/VOC2007 tree under root; returns {split: [(id, image, mask), ...]}."""
    splits = splits or {"train": ["000032", "000039", "000063"], "val": ["000033", "000042"]}
    base = root / "VOCdevkit" / "VOC2007"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / d).mkdir(parents=True, exist_ok=True)
    out = {}
    for split, ids in splits.items():
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
        out[split] = []
        for id_ in ids:
            mask = make_mask(int(id_))
            img = make_image(mask)
            Image.fromarray(img).save(base / "JPEGImages" / f"{id_}.jpg", quality=95)
            write_png_mask(base / "SegmentationClass" / f"{id_}.png", mask, mask_mode)
            out[split].append((id_, img, mask))
    return out


def test_voc_palette_known_colours():
    p = voc_palette()
    assert p.shape == (256, 3) and p.dtype == np.uint8
    assert p[0].tolist() == [0, 0, 0] and p[1].tolist() == [128, 0, 0]
    assert p[15].tolist() == [192, 128, 128]  # person
    assert p[255].tolist() == [224, 224, 192]  # void / boundary
    assert len({tuple(c) for c in p}) == 256


def test_voc_loads_masks_exactly_at_native_size(tmp_path):
    tree = make_voc(tmp_path)
    ds = VOCSegmentation("train", tmp_path, size=None)
    assert len(ds) == 3 and ds.ids == [t[0] for t in tree["train"]]
    for (img, mask), (id_, want_img, want_mask) in zip((ds[i] for i in range(3)), tree["train"]):
        assert img.shape == (3, H, W) and img.dtype == np.float32
        assert mask.dtype == np.int64 and np.array_equal(mask, want_mask)
        decoded = np.asarray(Image.open(tmp_path / f"VOCdevkit/VOC2007/JPEGImages/{id_}.jpg"))
        np.testing.assert_array_equal(np.round(img.transpose(1, 2, 0) * 255), decoded)
        assert np.abs(img.transpose(1, 2, 0) * 255 - want_img).mean() < 4  # JPEG is lossy
    assert 255 in ds[0][1] and ds.task == "segmentation"


def test_voc_resize_keeps_labels_and_boundaries(tmp_path):
    tree = make_voc(tmp_path)
    ds = VOCSegmentation("val", tmp_path, size=(40, 60))
    assert ds.images.shape == (2, 3, 40, 60) and ds.targets.shape == (2, 40, 60)
    assert ds.classes[0] == "background" and len(ds.classes) == 21
    for (_, _, mask), got in zip(tree["val"], ds.targets):
        # doubling both sides by nearest neighbour repeats each label in a 2 x 2 block
        assert np.array_equal(got, np.repeat(np.repeat(mask, 2, 0), 2, 1))


def test_voc_crop_mode_gives_the_requested_square(tmp_path):
    make_voc(tmp_path)
    ds = VOCSegmentation("train", tmp_path, size=16, mode="crop")
    assert ds.images.shape == (3, 3, 16, 16)
    assert set(np.unique(ds.targets)) <= set(range(21)) | {255}


def test_voc_reads_rgb_colour_masks(tmp_path):
    tree = make_voc(tmp_path, mask_mode="RGB")
    ds = VOCSegmentation("val", tmp_path, size=None)
    assert np.array_equal(ds[1][1], tree["val"][1][2])


def test_voc_through_registry_and_other_layouts(tmp_path):
    make_voc(tmp_path)
    ds = get_dataset("voc", "val", data_dir=tmp_path, size=8)
    assert ds.images.shape == (2, 3, 8, 8)
    # the VOC2007 folder itself, or its parent, work as data_dir too
    assert len(VOCSegmentation("val", tmp_path / "VOCdevkit", size=8)) == 2
    assert len(VOCSegmentation("val", tmp_path / "VOCdevkit" / "VOC2007", size=8)) == 2


def test_voc_bad_mask_values_are_an_error(tmp_path):
    make_voc(tmp_path)
    bad = make_mask(32)
    bad[0, 0] = 30
    write_png_mask(tmp_path / "VOCdevkit/VOC2007/SegmentationClass/000032.png", bad)
    with pytest.raises(CorruptFileError, match=r"000032\.png: mask values must be 0..20 or 255"):
        VOCSegmentation("train", tmp_path)


def test_voc_truncated_jpeg_names_the_file(tmp_path):
    make_voc(tmp_path)
    p = tmp_path / "VOCdevkit/VOC2007/JPEGImages/000039.jpg"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(CorruptFileError, match=r"000039\.jpg"):
        VOCSegmentation("train", tmp_path)


def test_voc_size_mismatch_between_image_and_mask(tmp_path):
    make_voc(tmp_path)
    write_png_mask(
        tmp_path / "VOCdevkit/VOC2007/SegmentationClass/000063.png", np.zeros((H, W + 1), np.uint8)
    )
    with pytest.raises(CorruptFileError, match="000063.png: mask is"):
        VOCSegmentation("train", tmp_path)


def test_voc_missing_pieces_are_named(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        VOCSegmentation("train", tmp_path)
    assert "VOCtrainval_06-Nov-2007.tar" in str(e.value)
    assert "http://host.robots.ox.ac.uk/pascal/VOC/voc2007/" in str(e.value)
    with pytest.raises(FileNotFoundError, match="VOCtest_06-Nov-2007.tar"):
        VOCSegmentation("test", tmp_path)
    make_voc(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"test\.txt not found.*VOCtest_06-Nov-2007"):
        VOCSegmentation("test", tmp_path)
    (tmp_path / "VOCdevkit/VOC2007/JPEGImages/000042.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"000042\.jpg is missing"):
        VOCSegmentation("val", tmp_path)


def test_voc_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="train, val, trainval, test"):
        VOCSegmentation("training", tmp_path)
    with pytest.raises(ValueError, match="mode"):
        VOCSegmentation("train", tmp_path, mode="squash")
    with pytest.raises(ValueError, match="no split 'val'"):
        get_dataset("mnist", "val")


def _tar(path, folder, extra=None):
    with tarfile.open(path, "w") as tar:
        tar.add(folder / "VOCdevkit", arcname="VOCdevkit")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_voc_download_from_a_local_mirror(tmp_path, monkeypatch):
    make_voc(tmp_path / "src")
    (tmp_path / "src/VOCdevkit/VOC2007/Annotations").mkdir()
    (tmp_path / "src/VOCdevkit/VOC2007/Annotations/000032.xml").write_text("<annotation/>")
    archive = tmp_path / "VOCtrainval_06-Nov-2007.tar"
    _tar(archive, tmp_path / "src")
    remote = RemoteFile(
        archive.name, (archive.as_uri(),), md5=hashlib.md5(archive.read_bytes()).hexdigest()
    )
    monkeypatch.setitem(voc_mod.ARCHIVES, "2007", {"trainval": remote})
    data = tmp_path / "data"
    ds = VOCSegmentation("train", data, size=8, download=True)
    assert len(ds) == 3
    assert (data / "VOCdevkit/VOC2007/SegmentationClass/000032.png").is_file()
    assert not (data / "VOCdevkit/VOC2007/Annotations").exists()  # only the segmentation parts


def test_safe_extract_refuses_path_traversal(tmp_path):
    make_voc(tmp_path / "src")
    archive = tmp_path / "evil.tar"
    _tar(archive, tmp_path / "src", extra={"VOCdevkit/VOC2007/JPEGImages/../../../evil.txt": b"x"})
    with pytest.raises(CorruptFileError, match="unsafe member path"):
        safe_extract(archive, tmp_path / "out", lambda p: True)
    assert not (tmp_path / "evil.txt").exists()
