"""Synthetic datasets: determinism, geometry of the shapes, the mnist-on-cifar labelling rule,
and the registry's names and errors."""

from __future__ import annotations

import numpy as np
import pytest

from minitorch_cv.data import (
    DATASETS,
    ArrayDataset,
    MnistOnCifar,
    Shapes,
    ShapesSegmentation,
    get_dataset,
)
from minitorch_cv.data import synthetic as syn


def test_shapes_is_deterministic_per_seed_and_split():
    a, b = Shapes("train", n=60, seed=3), Shapes("train", n=60, seed=3)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    assert not np.array_equal(a.images, Shapes("train", n=60, seed=4).images)
    assert not np.array_equal(a.images, Shapes("test", n=60, seed=3).images)


def test_shapes_types_ranges_and_balance():
    ds = Shapes("train", n=300, image_size=24)
    assert ds.images.shape == (300, 3, 24, 24) and ds.images.dtype == np.float32
    assert ds.targets.dtype == np.int64 and np.bincount(ds.targets).tolist() == [100] * 3
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert ds.classes == ("circle", "square", "triangle") and ds.task == "classification"
    assert len(Shapes("test")) == 1000 and len(Shapes("train")) == 4000


def test_rendering_does_not_depend_on_the_chunk_size(monkeypatch):
    whole = Shapes("train", n=50, seed=1)
    seg = ShapesSegmentation("train", n=50, seed=1)
    monkeypatch.setattr(syn, "_CHUNK", 7)
    assert np.array_equal(Shapes("train", n=50, seed=1).images, whole.images)
    assert np.array_equal(ShapesSegmentation("train", n=50, seed=1).targets, seg.targets)


def test_the_three_shapes_have_equal_area_and_the_right_outline():
    size, r = 201, np.array([40.0])
    c = np.array([100.0])
    masks = [syn._shape_masks(np.array([k]), c, c, r, np.array([0.0]), size)[0] for k in range(3)]
    areas = [m.sum() for m in masks]
    np.testing.assert_allclose(areas, np.pi * 40**2, rtol=0.02)
    circle, square, triangle = masks
    assert circle[100, 60] and not circle[100 - 29, 100 - 29]  # inside at r, outside the corner
    half = int(syn._SQUARE_HALF * 40)
    assert square[100 - half, 100 - half] and not square[100, 100 + half + 2]  # an axis box
    # at angle 0 the triangle has a flat top edge and points down (rows grow downwards):
    # its row widths shrink from top to bottom
    rows = triangle.sum(axis=1)
    filled = rows[rows > 0]
    assert np.all(np.diff(filled) <= 0) and filled[0] > 10 * filled[-1]


def test_shapes_segmentation_masks_match_the_painted_shapes():
    ds = ShapesSegmentation("val", n=40, noise=0.0, max_shapes=3)
    assert ds.targets.shape == (40, 32, 32) and ds.targets.dtype == np.int64
    assert set(np.unique(ds.targets)) <= {0, 1, 2, 3} and ds.num_classes == 4
    assert (ds.targets > 0).any(axis=(1, 2)).all()  # every image has a shape
    for img, mask in zip(ds.images, ds.targets):
        # without noise a shape is one flat colour: at most 3 colours under the labelled pixels
        colours = np.unique(img[:, mask > 0].T.round(5), axis=0)
        assert 1 <= len(colours) <= 3


def _tiny_sources():
    rng = np.random.default_rng(0)
    digits = np.zeros((5, 1, 28, 28), np.float32)
    for i in range(5):  # a bar of intensity 0.5 + 0.1 i plus faint noise below the threshold
        digits[i, 0, 4 + i : 20, 10:14] = 0.55 + 0.1 * i
        digits[i, 0, 22:, :] = rng.uniform(0, 0.5, (6, 28))
    digits[0, 0, 0, 0] = 0.5  # exactly at the threshold: not a digit pixel
    mnist = ArrayDataset(digits, np.array([3, 1, 4, 1, 5]), [str(d) for d in range(10)])
    cifar = ArrayDataset(
        rng.uniform(0, 1, (4, 3, 32, 32)).astype(np.float32),
        np.array([0, 7, 2, 9]),
        [f"c{k}" for k in range(10)],
    )
    return mnist, cifar


def test_mnist_on_cifar_labelling_rule_against_a_loop():
    mnist, cifar = _tiny_sources()
    ds = MnistOnCifar(mnist, cifar, n=9, seed=11)
    assert ds.images.shape == (9, 3, 32, 32) and ds.targets.shape == (9, 32, 32)
    assert (
        ds.num_classes == 20 and ds.classes[3] == "digit 3" and ds.classes[17] == "c7 (background)"
    )
    assert ((0 <= ds.offsets) & (ds.offsets <= 4)).all()
    assert ds.cifar_indices.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert sorted(ds.digit_indices[:5].tolist()) == [0, 1, 2, 3, 4]  # a permutation, then cycled
    for i in range(9):
        d, dl = mnist[int(ds.digit_indices[i])]
        b, bl = cifar[int(ds.cifar_indices[i])]
        oy, ox = ds.offsets[i]
        canvas = np.zeros((32, 32), np.float32)
        canvas[oy : oy + 28, ox : ox + 28] = d[0]
        for y in range(32):
            for x in range(32):
                if canvas[y, x] > 0.5:
                    assert ds.targets[i, y, x] == dl
                    assert (ds.images[i, :, y, x] == canvas[y, x]).all()
                else:
                    assert ds.targets[i, y, x] == 10 + bl
                    assert (ds.images[i, :, y, x] == b[:, y, x]).all()


def test_mnist_on_cifar_is_deterministic_from_its_seed():
    mnist, cifar = _tiny_sources()
    a, b = MnistOnCifar(mnist, cifar, n=6, seed=5), MnistOnCifar(mnist, cifar, n=6, seed=5)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.targets, b.targets)
    c = MnistOnCifar(mnist, cifar, n=6, seed=6)
    assert not (
        np.array_equal(a.offsets, c.offsets) and np.array_equal(a.digit_indices, c.digit_indices)
    )


def test_mnist_on_cifar_rejects_sources_that_do_not_fit():
    mnist, cifar = _tiny_sources()
    with pytest.raises(ValueError, match="expected digits"):
        MnistOnCifar(cifar, mnist)
    small = ArrayDataset(np.zeros((2, 3, 16, 16), np.float32), np.array([0, 1]), "ab")
    with pytest.raises(ValueError, match="do not fit"):
        MnistOnCifar(mnist, small)


def test_mnist_on_cifar_from_the_real_files(shared_datasets):
    if not (
        (shared_datasets / "mnist").is_dir() and (shared_datasets / "cifar-10-batches-py").is_dir()
    ):
        pytest.skip("MNIST and CIFAR-10 are needed")
    ds = get_dataset("mnist-on-cifar", "test", data_dir=shared_datasets, n=64, seed=0)
    assert ds.images.shape == (64, 3, 32, 32) and ds.targets.max() <= 19
    digit_share = (ds.targets < 10).mean()
    assert 0.05 < digit_share < 0.4  # a digit covers part of each image, never all of it
    again = get_dataset("mnist-on-cifar", "test", data_dir=shared_datasets, n=64, seed=0)
    assert np.array_equal(ds.targets, again.targets)


def test_registry_names_aliases_and_errors():
    assert set(DATASETS) == {
        "shapes",
        "shapes-seg",
        "mnist",
        "cifar10",
        "mnist-on-cifar",
        "voc2007",
        "imagefolder",
    }
    assert get_dataset("Shapes", "val", n=9).split == "val"
    assert get_dataset("shapes_segmentation", "test", n=3).task == "segmentation"
    with pytest.raises(ValueError, match="valid names: shapes, shapes-seg, mnist, cifar10"):
        get_dataset("imagenet")
    with pytest.raises(ValueError, match="no split 'valid'; valid splits: train, val, test"):
        get_dataset("shapes", "valid")
    with pytest.raises(ValueError, match="must be >= 1"):
        Shapes("train", n=0)
