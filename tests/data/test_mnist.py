"""MNIST: the real files (counts, label histograms, known first labels) and damaged copies."""

from __future__ import annotations

import gzip
import hashlib

import numpy as np
import pytest

from minitorch_cv.data import MNIST, CorruptFileError, get_dataset
from minitorch_cv.data import mnist as mnist_mod
from minitorch_cv.data._files import RemoteFile
from minitorch_cv.data.mnist import read_idx

TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def real(shared_datasets):
    if not (shared_datasets / "mnist").is_dir():
        pytest.skip("MNIST is not in the shared datasets")
    return {s: MNIST(s, shared_datasets) for s in ("train", "test")}


def test_real_mnist_counts_shapes_and_range(real):
    for split, n in (("train", 60000), ("test", 10000)):
        ds = real[split]
        assert len(ds) == n
        assert ds.images.shape == (n, 1, 28, 28) and ds.images.dtype == np.float32
        assert ds.targets.shape == (n,) and ds.targets.dtype == np.int64
        assert ds.images.min() == 0.0 and ds.images.max() == 1.0
        assert ds.classes == tuple("0123456789")


def test_real_mnist_label_histograms_match_the_readme(real):
    assert np.bincount(real["train"].targets).tolist() == TRAIN_HIST
    assert np.bincount(real["test"].targets).tolist() == TEST_HIST


def test_real_mnist_first_labels_and_pixels(real):
    # the well-known first digits of each split
    assert real["train"].targets[:5].tolist() == [5, 0, 4, 1, 9]
    assert real["test"].targets[:5].tolist() == [7, 2, 1, 0, 4]
    img, label = real["train"][0]
    assert img.shape == (1, 28, 28) and label == 5
    # pixels are k / 255 exactly, and the border of a centred digit is blank
    assert np.array_equal(np.round(img * 255) / 255, img)
    assert img[0, 0].sum() == 0 and img[0, :, 0].sum() == 0


def test_real_mnist_through_the_registry(shared_datasets, real):
    if not (shared_datasets / "mnist").is_dir():
        pytest.skip("MNIST is not in the shared datasets")
    ds = get_dataset("MNIST", "test", data_dir=shared_datasets)
    assert np.array_equal(ds.targets, real["test"].targets)


# --------------------------------------------------------------------------- small IDX files


def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


def write_split(folder, split, images, labels, compress=True):
    folder.mkdir(parents=True, exist_ok=True)
    img_stem, lbl_stem = mnist_mod.FILES[split]
    for stem, data in ((img_stem, idx_bytes(images, 2051)), (lbl_stem, idx_bytes(labels, 2049))):
        if compress:
            (folder / (stem + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(MNIST, "EXPECTED_COUNTS", {"train": 6, "test": 4})
    rng = np.random.default_rng(0)
    return {
        "train": (rng.integers(0, 256, (6, 28, 28)), np.array([0, 1, 2, 3, 4, 9])),
        "test": (rng.integers(0, 256, (4, 28, 28)), np.array([5, 6, 7, 8])),
    }


def test_read_idx_round_trips_raw_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4).reshape(2, 3, 4) % 256
    (tmp_path / "raw").write_bytes(idx_bytes(arr, 2051))
    (tmp_path / "gz").write_bytes(gzip.compress(idx_bytes(arr, 2051)))
    for name in ("raw", "gz"):
        out = read_idx(tmp_path / name, 2051)
        assert out.dtype == np.uint8 and np.array_equal(out, arr)


@pytest.mark.parametrize("layout", ["mnist-subfolder", "flat-raw", "torchvision"])
def test_mnist_reads_each_layout(tmp_path, small, layout):
    folder = {
        "mnist-subfolder": tmp_path / "mnist",
        "flat-raw": tmp_path,
        "torchvision": tmp_path / "MNIST" / "raw",
    }[layout]
    for split, (x, y) in small.items():
        write_split(folder, split, x, y, compress=layout != "flat-raw")
    for split, (x, y) in small.items():
        ds = MNIST(split, tmp_path)
        assert np.array_equal(ds.targets, y)
        np.testing.assert_array_equal(ds.images[:, 0], (x / 255).astype(np.float32))


def test_mnist_data_dir_from_environment(tmp_path, small, monkeypatch):
    write_split(tmp_path / "mnist", "test", *small["test"])
    monkeypatch.setenv("MINITORCH_CV_DATA", str(tmp_path))
    assert len(MNIST("test")) == 4


def test_wrong_magic_names_the_file(tmp_path):
    p = tmp_path / "train-images-idx3-ubyte"
    p.write_bytes(idx_bytes(np.zeros(5, np.uint8), 2049))  # a labels file where images belong
    with pytest.raises(CorruptFileError, match=r"train-images-idx3-ubyte.*magic number is 2049"):
        read_idx(p, 2051)


def test_truncated_raw_file_is_an_error_not_a_smaller_dataset(tmp_path):
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8), 2051)
    p = tmp_path / "t10k-images-idx3-ubyte"
    p.write_bytes(data[:-100])
    with pytest.raises(CorruptFileError, match=r"t10k-images-idx3-ubyte.*truncated"):
        read_idx(p, 2051)
    p.write_bytes(data[:10])  # cut inside the header
    with pytest.raises(CorruptFileError, match="header"):
        read_idx(p, 2051)


def test_truncated_or_damaged_gzip_is_an_error(tmp_path):
    gz = gzip.compress(idx_bytes(np.arange(3 * 28 * 28).reshape(3, 28, 28) % 256, 2051))
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(CorruptFileError, match=r"train-images-idx3-ubyte\.gz.*gzip"):
        read_idx(p, 2051)
    bad = bytearray(gz)
    bad[-6] ^= 0xFF  # inside the CRC-32 trailer
    p.write_bytes(bytes(bad))
    with pytest.raises(CorruptFileError, match="gzip"):
        read_idx(p, 2051)


def test_counts_and_labels_are_checked(tmp_path, small):
    x, y = small["train"]
    write_split(tmp_path / "mnist", "train", x, y[:5])  # one label short
    with pytest.raises(CorruptFileError, match=r"train-labels.*holds 5 items.*has 6"):
        MNIST("train", tmp_path)
    write_split(tmp_path / "mnist", "train", x, np.array([0, 1, 2, 3, 4, 12]))
    with pytest.raises(CorruptFileError, match="labels must be 0..9"):
        MNIST("train", tmp_path)
    write_split(tmp_path / "mnist", "train", x[:, :20, :20], y)
    with pytest.raises(CorruptFileError, match="28 x 28"):
        MNIST("train", tmp_path)


def test_missing_file_says_what_to_place_where(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        MNIST("test", tmp_path)
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg
    assert str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz") in msg
    assert "https://" in msg and "download=True" in msg


def test_unknown_split_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="train, test"):
        MNIST("val", tmp_path)


def test_torchvision_call_style_is_accepted(tmp_path, small):
    for split, (x, y) in small.items():
        write_split(tmp_path / "mnist", split, x, y)
    for ds, split in ((MNIST(tmp_path, train=False), "test"), (MNIST(str(tmp_path), train=True),
                      "train"), (MNIST(root=tmp_path, train=False), "test")):  # fmt: skip
        assert ds.split == split and np.array_equal(ds.targets, small[split][1])
    with pytest.raises(TypeError, match="give split or train, not both"):
        MNIST("test", tmp_path, train=True)
    with pytest.raises(TypeError, match="give root or data_dir, not both"):
        MNIST("test", tmp_path, root=tmp_path)


def _serve(tmp_path, small, corrupt=None):
    """Fake mirrors: the files under tmp_path/server, addressed by file:// URLs."""
    server = tmp_path / "server"
    write_split(server, "test", *small["test"])

    def fake_remote(stem):
        name = stem + ".gz"
        data = (server / name).read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if corrupt == stem:
            sha = "0" * 64
        return RemoteFile(name, ((server / name).as_uri(),), sha256=sha)

    return fake_remote


def test_download_from_a_local_mirror_verifies_and_places_files(tmp_path, small, monkeypatch):
    monkeypatch.setattr(mnist_mod, "remote_file", _serve(tmp_path, small))
    data = tmp_path / "data"
    ds = MNIST("test", data, download=True)
    assert np.array_equal(ds.targets, small["test"][1])
    assert (data / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    assert not list((data / "mnist").glob("*.part*"))


def test_download_with_a_bad_checksum_leaves_nothing(tmp_path, small, monkeypatch):
    monkeypatch.setattr(
        mnist_mod, "remote_file", _serve(tmp_path, small, corrupt="t10k-images-idx3-ubyte")
    )
    data = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="checksum mismatch"):
        MNIST("test", data, download=True)
    assert not (data / "mnist" / "t10k-images-idx3-ubyte.gz").exists()
    assert not list((data / "mnist").glob("*.part*"))


def test_official_checksums_are_the_readme_values():
    r = mnist_mod.remote_file("train-images-idx3-ubyte")
    assert r.md5 == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert r.sha256.startswith("440fcabf73cc546f")
    assert all(u.endswith("/train-images-idx3-ubyte.gz") for u in r.urls)
