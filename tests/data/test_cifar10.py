"""CIFAR-10: the real batches (counts, histograms, spot pixels), the safe unpickler, damaged
copies, the archive layout and the download path."""

from __future__ import annotations

import hashlib
import io
import pickle
import tarfile

import numpy as np
import pytest

from minitorch_cv.data import CIFAR10, CorruptFileError
from minitorch_cv.data import cifar10 as cifar_mod
from minitorch_cv.data._files import RemoteFile
from minitorch_cv.data.cifar10 import parse_batch, safe_unpickle

BATCH_HISTS = {
    "data_batch_1": [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981],
    "data_batch_2": [984, 1007, 1010, 995, 1010, 988, 1008, 1026, 987, 985],
    "data_batch_3": [994, 1042, 965, 997, 990, 1029, 978, 1015, 961, 1029],
    "data_batch_4": [1003, 963, 1041, 976, 1004, 1021, 1004, 981, 1024, 983],
    "data_batch_5": [1014, 1014, 952, 1016, 997, 1025, 980, 977, 1003, 1022],
}


# --------------------------------------------------------------------------- real files


@pytest.fixture(scope="module")
def real(shared_datasets):
    if not (shared_datasets / "cifar-10-batches-py").is_dir():
        pytest.skip("CIFAR-10 is not in the shared datasets")
    return {s: CIFAR10(s, shared_datasets) for s in ("train", "test")}


def _row(ds, i):
    """Image i as the 3072 bytes of the original row (R plane, G plane, B plane)."""
    return np.round(ds.images[i].reshape(-1) * 255).astype(np.int64)


def test_real_cifar_counts_shapes_and_classes(real):
    for split, n in (("train", 50000), ("test", 10000)):
        ds = real[split]
        assert ds.images.shape == (n, 3, 32, 32) and ds.images.dtype == np.float32
        assert ds.targets.shape == (n,) and ds.targets.dtype == np.int64
        assert 0.0 <= ds.images.min() and ds.images.max() <= 1.0
        assert ds.classes == (
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        )


def test_real_cifar_label_histograms_match_the_readme(real):
    train = real["train"].targets
    for i, (name, hist) in enumerate(BATCH_HISTS.items()):
        assert np.bincount(train[i * 10000 : (i + 1) * 10000], minlength=10).tolist() == hist, name
    assert np.bincount(train).tolist() == [5000] * 10
    assert np.bincount(real["test"].targets).tolist() == [1000] * 10


def test_real_cifar_spot_pixels_match_published_dumps(real):
    first, last = _row(real["train"], 0), _row(real["train"], 9999)
    assert first[:3].tolist() == [59, 43, 50] and first[-3:].tolist() == [140, 84, 72]
    assert last[:3].tolist() == [62, 61, 60] and last[-3:].tolist() == [130, 130, 131]
    t0 = _row(real["test"], 0)
    assert t0[:3].tolist() == [158, 159, 165] and t0[-3:].tolist() == [124, 129, 110]


def test_real_cifar_channel_layout_is_rgb_planes(real):
    # The first row's first value is the R of pixel (0, 0), its 1025th the G of pixel (0, 0).
    img, _ = real["train"][0]
    assert round(float(img[0, 0, 0]) * 255) == 59
    assert round(float(img[1, 0, 0]) * 255) == _row(real["train"], 0)[1024]


def test_truncated_real_batch_names_the_file(shared_datasets, tmp_path):
    src = shared_datasets / "cifar-10-batches-py" / "data_batch_1"
    if not src.is_file():
        pytest.skip("CIFAR-10 is not in the shared datasets")
    with open(src, "rb") as f:
        head = f.read(1 << 20)
    with pytest.raises(CorruptFileError, match=r"data_batch_1.*truncated or damaged"):
        parse_batch(head, str(tmp_path / "data_batch_1"))


# --------------------------------------------------------------------------- small batches


def batch_bytes(n, seed, labels=None, protocol=3, **extra):
    rng = np.random.default_rng(seed)
    d = {
        b"batch_label": b"test batch",
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"labels": rng.integers(0, 10, n).tolist() if labels is None else labels,
        **extra,
    }
    return pickle.dumps(d, protocol=protocol), d


def make_tree(folder, n=4):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, name in enumerate((*cifar_mod.FILES["train"], "test_batch")):
        data, d = batch_bytes(n, i)
        (folder / name).write_bytes(data)
        out[name] = d
    meta = {b"label_names": [c.encode() for c in cifar_mod.CLASSES], b"num_cases_per_batch": n}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=3))
    return out


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(CIFAR10, "EXPECTED_PER_BATCH", 4)


@pytest.mark.parametrize("protocol", [3, 4])
def test_parse_batch_reads_numpy_pickles(protocol):
    data, d = batch_bytes(5, 0, protocol=protocol)
    pixels, labels = parse_batch(data, "x", expected_rows=5)
    assert pixels.shape == (5, 3, 32, 32) and pixels.dtype == np.uint8
    assert np.array_equal(pixels.reshape(5, -1), d[b"data"])
    assert labels.dtype == np.int64 and labels.tolist() == d[b"labels"]


def test_parse_batch_accepts_str_keys():
    # a batch re-pickled by Python 3 code has str keys instead of the originals' bytes keys
    d = {"data": np.zeros((2, 3072), np.uint8), "labels": [3, 9]}
    _, labels = parse_batch(pickle.dumps(d, protocol=3), "x", expected_rows=2)
    assert labels.tolist() == [3, 9]


def test_safe_unpickler_refuses_code_globals():
    evil = b"cos\nsystem\n(S'echo owned'\ntR."  # os.system('echo owned') if it were obeyed
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global os.system"):
        safe_unpickle(evil)
    with pytest.raises(CorruptFileError, match="refusing to load global builtins.eval"):
        parse_batch(b"cbuiltins\neval\n(S'1+1'\ntR.", "evil_batch")
    # a protocol-5 array pickle names numpy._core.numeric._frombuffer: not on the list either
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        safe_unpickle(pickle.dumps(np.zeros(3), protocol=5))


def test_safe_unpickle_rebuilds_arrays_exactly():
    arr = np.arange(3072 * 2, dtype=np.uint8).reshape(2, 3072)
    out = safe_unpickle(pickle.dumps({b"data": arr}, protocol=3))
    assert np.array_equal(out[b"data"], arr) and out[b"data"].dtype == np.uint8


def test_batch_content_errors_name_the_file():
    data, _ = batch_bytes(4, 0, labels=[0, 1, 2, 10])
    with pytest.raises(CorruptFileError, match=r"data_batch_3: labels must be 0..9"):
        parse_batch(data, "data_batch_3", expected_rows=4)
    data, _ = batch_bytes(4, 0, labels=[0, 1, 2])
    with pytest.raises(CorruptFileError, match="4 images but labels"):
        parse_batch(data, "b", expected_rows=4)
    with pytest.raises(CorruptFileError, match="holds 4 images, a CIFAR-10 batch holds 10000"):
        parse_batch(batch_bytes(4, 0)[0], "b")
    bad = pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=3)
    with pytest.raises(CorruptFileError, match=r"uint8 \(n, 3072\)"):
        parse_batch(bad, "b", expected_rows=None)
    with pytest.raises(CorruptFileError, match="lacks"):
        parse_batch(pickle.dumps({b"labels": [1]}, protocol=3), "b", expected_rows=None)
    data, _ = batch_bytes(4, 0)
    with pytest.raises(CorruptFileError, match="truncated or damaged"):
        parse_batch(data[: len(data) // 2], "b", expected_rows=4)


def test_cifar_reads_the_folder_layout(tmp_path, small):
    tree = make_tree(tmp_path / "cifar-10-batches-py")
    ds = CIFAR10("train", tmp_path)
    assert len(ds) == 20 and ds.images.shape == (20, 3, 32, 32)
    want = np.concatenate([tree[n][b"data"] for n in cifar_mod.FILES["train"]])
    np.testing.assert_array_equal(np.round(ds.images.reshape(20, -1) * 255), want)
    assert ds.targets.tolist() == sum(
        (list(tree[n][b"labels"]) for n in cifar_mod.FILES["train"]), []
    )
    # the batches folder itself may be given as data_dir
    assert len(CIFAR10("test", tmp_path / "cifar-10-batches-py")) == 4


def test_cifar_reads_the_archive_without_extracting(tmp_path, small):
    tree = make_tree(tmp_path / "src" / "cifar-10-batches-py")
    data = tmp_path / "data"
    data.mkdir()
    with tarfile.open(data / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    ds = CIFAR10("test", data)
    np.testing.assert_array_equal(
        np.round(ds.images.reshape(4, -1) * 255), tree["test_batch"][b"data"]
    )
    assert not (data / "cifar-10-batches-py").exists()


def test_truncated_archive_is_a_clear_error(tmp_path, small):
    make_tree(tmp_path / "src" / "cifar-10-batches-py")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(buf.getvalue()[:-200])
    with pytest.raises(CorruptFileError, match=r"cifar-10-python\.tar\.gz"):
        CIFAR10("train", tmp_path)


def test_partial_folder_names_the_missing_batch(tmp_path, small):
    make_tree(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_4 is missing"):
        CIFAR10("train", tmp_path)


def test_missing_cifar_says_what_to_place_where(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        CIFAR10("train", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "cifar-10-python.tar.gz") in msg
    assert "c58f30108f718f92721af3b95e74349a" in msg
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in msg
    assert "cifar-10-batches-py" in msg


def _archive_remote(tmp_path, md5=None):
    make_tree(tmp_path / "server" / "src" / "cifar-10-batches-py")
    archive = tmp_path / "server" / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "server" / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    return RemoteFile("cifar-10-python.tar.gz", (archive.as_uri(),), md5=md5 or digest)


def test_download_from_a_local_mirror_extracts_the_batches(tmp_path, small, monkeypatch):
    monkeypatch.setattr(cifar_mod, "ARCHIVE", _archive_remote(tmp_path))
    data = tmp_path / "data"
    ds = CIFAR10("train", data, download=True)
    assert len(ds) == 20
    assert (data / "cifar-10-batches-py" / "test_batch").is_file()
    assert (data / "cifar-10-python.tar.gz").is_file()


def test_download_with_a_wrong_md5_is_refused(tmp_path, small, monkeypatch):
    monkeypatch.setattr(cifar_mod, "ARCHIVE", _archive_remote(tmp_path, md5="0" * 32))
    data = tmp_path / "data"
    with pytest.raises(FileNotFoundError, match="checksum mismatch"):
        CIFAR10("train", data, download=True)
    assert not (data / "cifar-10-python.tar.gz").exists()
