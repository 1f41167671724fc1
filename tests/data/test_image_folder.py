"""ImageFolder / DatasetFolder: classes, class_to_idx, samples order and targets follow
torchvision's documented rules (and torchvision itself when it is installed); an item's pixels are
Pillow's decoding; the transforms take a PIL image as torchvision's do; the DataLoader batches
the items after a resize and names the sizes without one; torchvision's errors; a damaged image
is an error naming the file; `train --dataset imagefolder` trains on a folder tree."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from minitorch_cv.cli import main
from minitorch_cv.data import (
    IMG_EXTENSIONS,
    CorruptFileError,
    DataLoader,
    DatasetFolder,
    ImageFolder,
    default_loader,
    find_classes,
    find_datasets,
    get_dataset,
    has_file_allowed_extension,
    is_image_file,
    make_dataset,
    pil_loader,
)
from minitorch_cv.data import transforms as T


def save(path: Path, h: int, w: int, mode: str = "RGB", seed: int = 0) -> Path:
    """A random image of `mode` written with Pillow (the format from the file's ending)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bands = len(Image.new(mode, (1, 1)).getbands())
    values = rng.integers(0, 256, (h, w, bands) if bands > 1 else (h, w), dtype=np.uint8)
    Image.fromarray(values).convert(mode).save(path)
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """3 class folders of images of several sizes, modes and formats, with a text file, a
    nested folder and a loose file at the root."""
    root = tmp_path / "tree"
    save(root / "bird" / "b1.png", 6, 8, seed=1)
    save(root / "bird" / "B0.JPG", 6, 8, seed=2)  # an upper-case ending counts
    save(root / "cat" / "z.png", 7, 5, "L", seed=3)  # grey: the default loader makes it RGB
    (root / "cat" / "notes.txt").write_text("not an image")
    save(root / "cat" / "a" / "nested.png", 5, 5, "RGBA", seed=4)
    save(root / "dog" / "d1.jpeg", 9, 6, seed=5)
    save(root / "dog" / "d0.png", 6, 8, seed=6)
    (root / "README.txt").write_text("a file at the root is no class")
    return root


def rel(samples, root):
    return [(os.path.relpath(p, root).replace(os.sep, "/"), t) for p, t in samples]


# --------------------------------------------------------------------------- torchvision's rules

# sorted class folders; each walked as sorted(os.walk(folder)) (a folder's files, sorted, before
# its sub-folders), files kept by their ending, case-insensitively
EXPECTED = [("bird/B0.JPG", 0), ("bird/b1.png", 0), ("cat/z.png", 1), ("cat/a/nested.png", 1),
            ("dog/d0.png", 2), ("dog/d1.jpeg", 2)]  # fmt: skip


def test_classes_samples_and_targets_follow_torchvisions_rules(tree):
    ds = ImageFolder(tree)
    assert ds.classes == ["bird", "cat", "dog"]
    assert ds.class_to_idx == {"bird": 0, "cat": 1, "dog": 2}
    assert rel(ds.samples, tree) == EXPECTED
    assert ds.imgs is ds.samples and ds.targets == [t for _, t in EXPECTED]
    assert len(ds) == 6 and ds.num_classes == 3 and ds.task == "classification"
    assert find_classes(tree) == (ds.classes, ds.class_to_idx)
    assert rel(make_dataset(str(tree), extensions=IMG_EXTENSIONS), tree) == EXPECTED
    assert ds.find_classes(tree) == find_classes(tree)
    assert ds.extensions == IMG_EXTENSIONS and ds.loader is default_loader
    assert repr(ds) == f"ImageFolder(root={str(tree)!r}, n=6, classes=3)"


def test_extension_rules():
    assert has_file_allowed_extension("a/B.PNG", (".png", ".jpg")) and is_image_file("x.webp")
    assert has_file_allowed_extension("a.npy", ".npy") and not is_image_file("a.gif")
    assert not is_image_file("png")  # the dot is part of the ending
    assert IMG_EXTENSIONS == (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff",
                              ".webp")  # fmt: skip


def test_is_valid_file_and_a_custom_loader(tree, tmp_path):
    only_png = ImageFolder(tree, is_valid_file=lambda p: p.endswith(".png"))
    assert rel(only_png.samples, tree) == [s for s in EXPECTED if s[0].endswith(".png")]
    assert only_png.extensions is None
    for k, name in enumerate(("x", "y")):
        (tmp_path / "arrays" / name).mkdir(parents=True)
        for i in range(2):
            np.save(tmp_path / "arrays" / name / f"{i}.npy", np.full((1, 2, 2), 2 * k + i, "f4"))
    arrays = DatasetFolder(tmp_path / "arrays", loader=np.load, extensions=".npy")
    assert arrays.classes == ["x", "y"] and arrays.targets == [0, 0, 1, 1]
    x, y = next(iter(DataLoader(arrays, batch_size=4)))
    assert x.numpy()[:, 0, 0, 0].tolist() == [0, 1, 2, 3] and y.tolist() == [0, 0, 1, 1]


def test_symlinked_folders_are_followed(tree):
    try:
        os.symlink(tree / "bird", tree / "eel", target_is_directory=True)
        os.symlink(tree / "cat" / "a", tree / "dog" / "linked", target_is_directory=True)
    except (OSError, NotImplementedError):
        pytest.skip("symlinks are not available here")
    ds = ImageFolder(tree)
    assert ds.classes == ["bird", "cat", "dog", "eel"]
    assert rel(ds.samples, tree)[4:] == [("dog/d0.png", 2), ("dog/d1.jpeg", 2),
                                         ("dog/linked/nested.png", 2), ("eel/B0.JPG", 3),
                                         ("eel/b1.png", 3)]  # fmt: skip


def test_the_same_as_torchvisions_image_folder(tree):
    datasets = pytest.importorskip("torchvision.datasets")
    for kw in ({}, {"is_valid_file": lambda p: p.endswith(".png")}):  # a .png in each class
        ours, theirs = ImageFolder(tree, **kw), datasets.ImageFolder(str(tree), **kw)
        assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
        assert ours.samples == theirs.samples and ours.targets == theirs.targets
        assert np.array_equal(np.asarray(ours[1][0]), np.asarray(theirs[1][0]))
    (tree / "empty").mkdir()
    for cls in (ImageFolder, datasets.ImageFolder):
        with pytest.raises(FileNotFoundError, match="Found no valid file for the classes empty"):
            cls(str(tree))
    assert (
        ImageFolder(tree, allow_empty=True).samples
        == datasets.ImageFolder(str(tree), allow_empty=True).samples
    )


# --------------------------------------------------------------------------- items


def test_items_are_pillows_decoding_and_transforms_apply(tree):
    ds = ImageFolder(tree)
    for i, (path, target) in enumerate(ds.samples):
        img, y = ds[i]
        assert img.mode == "RGB" and y == target
        with Image.open(path) as want:
            np.testing.assert_array_equal(np.asarray(img), np.asarray(want.convert("RGB")))
    assert np.asarray(ds[2][0]).shape == (7, 5, 3)  # the grey cat, as 3 equal channels

    tensors = ImageFolder(tree, transform=T.ToTensor(), target_transform=lambda t: 10 * t)
    x, y = tensors[3]
    assert x.dtype == np.float32 and x.shape == (3, 5, 5) and y == 10
    with Image.open(tree / "cat" / "a" / "nested.png") as want:
        want = np.asarray(want.convert("RGB")).transpose(2, 0, 1)
        np.testing.assert_array_equal(x, want / np.float32(255))  # exactly, in float32
    raw = ImageFolder(tree, transform=T.PILToTensor())[0][0]
    assert raw.dtype == np.uint8 and raw.shape == (3, 6, 8)
    assert tensors.image_shape == (3, 6, 8) and ds.image_shape == (3, 6, 8)


def test_transforms_take_a_pil_image_as_torchvisions(tree):
    with Image.open(tree / "bird" / "b1.png") as f:
        img = f.convert("RGB")  # 8 wide, 6 high
    small = T.Resize(4)(img)  # the smaller edge to 4, the other int(4 * 8 / 6)
    assert small.size == (5, 4)
    bilinear = img.resize((5, 4), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(np.asarray(small), np.asarray(bilinear))
    np.testing.assert_array_equal(np.asarray(T.CenterCrop(4)(img)), np.asarray(img)[1:5, 2:6])

    crop = T.RandomResizedCrop(3)
    top, left, h, w = (int(v[0]) for v in crop.boxes(1, 6, 8, np.random.default_rng(7)))
    want = img.crop((left, top, left + w, top + h)).resize((3, 3), Image.Resampling.BILINEAR)
    got = crop(img, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert T.RandomHorizontalFlip(1.0)(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT) == img
    assert T.Lambda(lambda im: im.size)(img) == (8, 6)  # Lambda gets the PIL image itself
    assert len(T.FiveCrop(2)(img)) == 5

    pipeline = T.Compose([T.Resize((4, 4)), T.ToTensor(), T.Normalize(0.5, 0.5)])
    x = pipeline(img)
    resized = np.asarray(img.resize((4, 4), Image.Resampling.BILINEAR))
    np.testing.assert_allclose(x, (resized.transpose(2, 0, 1) / 255 - 0.5) / 0.5, atol=1e-6)
    with pytest.raises(TypeError, match=r"Normalize: on a PIL image .* T.ToTensor\(\) before"):
        T.Normalize(0.5, 0.5)(img)
    with pytest.raises(TypeError, match="Resize: a PIL image is transformed alone"):
        T.Resize(4)(img, np.zeros((6, 8), np.int64))
    with pytest.raises(TypeError, match="mode 'P' are not supported"):
        T.CenterCrop(2)(img.convert("P"))


def test_resize_by_an_int_sizes_the_smaller_edge_as_torchvision():
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 6, 12)).astype(np.float32)
    assert T.Resize(4)(x).shape == (2, 3, 4, 8) and T.resize(x, [3]).shape == (2, 3, 3, 6)
    assert T.Resize(4, max_size=5)(x).shape == (2, 3, 2, 5)  # the longer edge capped
    assert T.Resize((5, 7))(x).shape == (2, 3, 5, 7)
    np.testing.assert_array_equal(T.Resize(6)(x), x)
    with pytest.raises(ValueError, match="max_size should only be passed"):
        T.Resize((4, 4), max_size=5)


def test_grayscale_and_the_random_combinators_on_a_pil_image_as_torchvision(tree):
    with Image.open(tree / "bird" / "b1.png") as f:
        img = f.convert("RGB")  # 8 wide, 6 high
    # torchvision's to_grayscale of a PIL image is Pillow's own integer luma
    assert np.array_equal(np.asarray(T.Grayscale()(img)), np.asarray(img.convert("L")))
    three = T.Grayscale(3)(img)
    assert three.mode == "RGB" and np.array_equal(np.asarray(three)[..., 2], img.convert("L"))
    assert T.Grayscale()(img.convert("RGBA")).mode == "L"
    assert np.array_equal(np.asarray(T.RandomGrayscale(1.0)(img)), np.asarray(three))
    assert T.RandomGrayscale(0.0)(img) is img
    # one image: the chosen transforms may change its size (a batch needs one shape)
    assert T.RandomChoice([T.CenterCrop(3)])(img).size == (3, 3)
    assert T.RandomApply([T.Resize(3)], p=1.0)(img).size == (4, 3)
    assert T.RandomApply([T.Resize(3)], p=0.0)(img) is img
    resize, crop = T.Resize(3), T.CenterCrop(2)
    orders = [np.asarray(crop(resize(img))), np.asarray(resize(crop(img)))]
    for seed in range(4):  # Pillow's resize, in one order or the other
        got = np.asarray(T.RandomOrder([resize, crop])(img, rng=seed))
        assert any(got.shape == o.shape and np.array_equal(got, o) for o in orders)
    # torchvision's ten-crop evaluation: FiveCrop's tuple of PIL images goes to the Lambda whole
    stack = T.Lambda(lambda crops: np.stack([T.to_tensor(c) for c in crops]))
    assert T.Compose([T.FiveCrop(4), stack])(img).shape == (5, 3, 4, 4)


def test_to_tensor_takes_pictures_not_batches():
    hwc = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    x = T.ToTensor()(hwc)
    assert x.shape == (4, 2, 3) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(x, hwc.transpose(2, 0, 1) / 255)
    assert T.to_tensor(np.ones((2, 3), np.float64)).dtype == np.float64  # unscaled, as torchvision
    assert T.to_tensor(Image.new("F", (3, 2), 2.5)).max() == 2.5
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 3, 2, 2), np.uint8))
    with pytest.raises(TypeError, match="PIL Image or an ndarray"):
        T.to_tensor([[1, 2]])
    with pytest.raises(TypeError, match="should be a PIL Image"):
        T.pil_to_tensor(hwc)


# --------------------------------------------------------------------------- batching


def test_the_dataloader_batches_after_a_resize_and_names_the_sizes_without_one(tree):
    ds = ImageFolder(tree, transform=T.Compose([T.Resize(8), T.CenterCrop(8), T.ToTensor()]))
    batches = list(DataLoader(ds, batch_size=4))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 3, 8, 8), (2, 3, 8, 8)]
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == ds.targets
    assert batches[0][0].numpy().dtype == np.float32

    with pytest.raises(ValueError, match=r"different sizes \(\[\(3, 5, 5\), \(3, 6, 8\), "):
        list(DataLoader(ImageFolder(tree, transform=T.ToTensor()), batch_size=6))
    with pytest.raises(TypeError, match=r"yields PIL images .*T\.ToTensor\(\)"):
        list(DataLoader(ImageFolder(tree), batch_size=2))


# --------------------------------------------------------------------------- errors


def test_torchvisions_errors(tmp_path, tree):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="Couldn't find any class folder in"):
        ImageFolder(tmp_path / "flat")
    (tree / "empty").mkdir()
    (tree / "empty" / "notes.txt").write_text("")
    with pytest.raises(FileNotFoundError, match=r"Found no valid file for the classes empty\. "
                       r"Supported extensions are: \.jpg, \.jpeg, \.png"):  # fmt: skip
        ImageFolder(tree)
    kept = ImageFolder(tree, allow_empty=True)
    assert kept.classes[-1] == "empty" and 4 not in kept.targets
    both = "Both extensions and is_valid_file cannot be None or not None at the same time"
    with pytest.raises(ValueError, match=both):
        make_dataset(tree, extensions=".png", is_valid_file=lambda p: True)
    with pytest.raises(ValueError, match=both):
        DatasetFolder(tree, loader=pil_loader)
    with pytest.raises(ValueError, match="class_to_idx parameter cannot be None"):
        DatasetFolder.make_dataset(tree, None, extensions=".png")
    with pytest.raises(ValueError, match="must have at least one entry"):
        make_dataset(tree, {}, extensions=".png")


def test_a_damaged_image_is_an_error_naming_the_file(tree):
    good = (tree / "dog" / "d0.png").read_bytes()
    (tree / "dog" / "d2.png").write_bytes(good[: len(good) // 2])  # truncated
    (tree / "dog" / "d3.jpg").write_bytes(b"plain text, not a JPEG")
    ds = ImageFolder(tree, transform=T.ToTensor())
    for name in ("d2.png", "d3.jpg"):
        i = [os.path.basename(p) for p, _ in ds.samples].index(name)
        with pytest.raises(CorruptFileError, match=rf"{name}: not a readable image"):
            ds[i]
    with pytest.raises(CorruptFileError, match=r"d2\.png: not a readable image"):
        list(DataLoader(ds, batch_size=8))  # raised in the loader's thread, re-raised here


# --------------------------------------------------------------------------- registry and CLI


def split_tree(root: Path, mode: str = "RGB", val: bool = True) -> Path:
    for split, n in (("train", 3), ("val", 1)) if val else (("train", 3),):
        for k, name in enumerate(("ant", "bee", "cow")):
            for i in range(n):
                save(root / split / name / f"{i}.png", 9 + i, 11, mode, seed=10 * k + i)
    return root


def test_get_dataset_reads_the_split_folders(tmp_path):
    root = split_tree(tmp_path / "data")
    val = get_dataset("imagefolder", "val", root, image_size=8)
    assert val.split == "val" and val.classes == ["ant", "bee", "cow"] and len(val) == 3
    assert val.image_shape == (3, 8, 8) and val[0][0].dtype == np.float32
    grey = get_dataset("image_folder", "train", split_tree(tmp_path / "grey", "L"), image_size=8)
    assert grey.image_shape == (1, 8, 8)
    with pytest.raises(FileNotFoundError, match=r"test not found \(present: train, val\)"):
        get_dataset("imagefolder", "test", root)
    status = {e["name"]: e for e in find_datasets(root)["datasets"]}["imagefolder"]
    assert status["status"] == "found" and set(status["found"]) == {"train", "val"}
    with pytest.raises(FileNotFoundError, match=r"move the class folders into .*train"):
        get_dataset("imagefolder", "train", root / "train")


def test_cli_trains_on_an_image_folder(tmp_path, capsys):
    def train(data, out, *more):
        return main(["train", "--dataset", "imagefolder", "--data-dir", str(data), "--model",
                     "small-cnn", "--epochs", "1", "--batch-size", "4", "--quiet", "--out",
                     str(out), *more])  # fmt: skip

    out = tmp_path / "run"
    assert train(split_tree(tmp_path / "data"), out, "--image-size", "16") == 0
    assert {"config.json", "best.npz", "last.npz", "metrics.json", "history.json"} <= {
        p.name for p in out.iterdir()
    }
    config = json.loads((out / "config.json").read_text())
    assert config["input_shape"] == [3, 16, 16] and config["image_size"] == 16
    assert config["classes"] == ["ant", "bee", "cow"] and config["num_classes"] == 3
    assert config["sizes"] == {"train": 9, "val": 3, "test": None}
    assert json.loads((out / "metrics.json").read_text())["split"] == "val"
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 3

    grey = split_tree(tmp_path / "grey", "L", val=False)  # 1 channel; val carved out of train
    assert train(grey, tmp_path / "g") == 0
    config = json.loads((tmp_path / "g" / "config.json").read_text())
    assert config["input_shape"] == [1, 32, 32]  # small-cnn's own input size
    assert config["sizes"] == {"train": 8, "val": 1, "test": None}  # random_split's rule

    # evaluate: val by default without a test/ folder; a grey run reads RGB folders as grey
    assert main(["evaluate", str(tmp_path / "g"), "--data-dir", str(tmp_path / "data")]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "val"

    assert train(tmp_path / "nowhere", tmp_path / "x") == 1
    assert "train not found: lay out your images as" in capsys.readouterr().err
    assert main(["train", "--image-size", "16", "--out", str(tmp_path / "y")]) == 2
    assert "--image-size resizes the images of --dataset imagefolder" in capsys.readouterr().err


def test_cli_refuses_a_folder_of_other_classes_and_limits_across_classes(tmp_path, capsys):
    data, out = split_tree(tmp_path / "data"), tmp_path / "run"
    common = ["--dataset", "imagefolder", "--model", "small-cnn", "--batch-size", "4", "--quiet",
              "--out", str(out), "--image-size", "8"]  # fmt: skip
    assert main(["train", "--data-dir", str(data), "--epochs", "1", *common]) == 0
    other = split_tree(tmp_path / "other")
    (other / "train" / "cow").rename(other / "train" / "cat")  # same count, another class
    (other / "val" / "cow").rename(other / "val" / "cat")
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data-dir", str(other)]) == 2
    assert "trained on the classes ant, bee, cow" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(other), "--epochs", "2", "--resume", *common]) == 2
    assert "has ant, bee, cat" in capsys.readouterr().err

    # --limit: the items are sorted by class, a limited split still holds every class
    assert main(["evaluate", str(out), "--split", "train", "--limit", "3", "--full"]) == 0
    matrix = np.array(json.loads(capsys.readouterr().out)["confusion_matrix"])
    assert matrix.sum(axis=1).tolist() == [1, 1, 1]


def test_an_empty_validation_split_is_an_error_not_a_traceback(tmp_path, capsys):
    data = split_tree(tmp_path / "data", val=False)
    for name in ("ant", "bee", "cow"):  # val/ with its class folders, not one image yet
        (data / "val" / name).mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"val holds no image in its class folders"):
        get_dataset("imagefolder", "val", data, image_size=8)
    tiny = tmp_path / "tiny"
    for name in ("ant", "bee", "cow"):  # one image a class: 20 % of 3 rounds to none
        save(tiny / "train" / name / "0.png", 8, 8)
    args = ["train", "--dataset", "imagefolder", "--model", "small-cnn", "--quiet"]
    assert main([*args, "--data-dir", str(tiny), "--out", str(tmp_path / "r")]) == 2
    assert "the validation split of 'imagefolder' is empty" in capsys.readouterr().err
