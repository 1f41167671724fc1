"""Data-folder resolution, checksummed downloads (local file:// mirrors and fake openers only:
no test touches the network) and the `find_datasets` report."""

from __future__ import annotations

import gzip
import hashlib
import io
import urllib.error

import pytest

from minitorch_cv.data import find_datasets, format_datasets_report, resolve_data_dir
from minitorch_cv.data._files import (
    CorruptFileError,
    DownloadError,
    RemoteFile,
    default_cache_dir,
    download,
    verify_file,
)


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("MINITORCH_CV_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_dir() == tmp_path / "cache" / "minitorch_cv" == default_cache_dir()
    monkeypatch.setenv("MINITORCH_CV_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("MINITORCH_CV_DATA")
    assert resolve_data_dir().parts[-2:] == (".cache", "minitorch_cv")


def _mirror(tmp_path, payload=b"some dataset bytes" * 1000):
    src = tmp_path / "mirror" / "file.bin"
    src.parent.mkdir()
    src.write_bytes(payload)
    return src, hashlib.md5(payload).hexdigest(), hashlib.sha256(payload).hexdigest()


def test_download_from_file_url_checks_both_digests(tmp_path):
    src, md5, sha = _mirror(tmp_path)
    out = download(RemoteFile("file.bin", (src.as_uri(),), md5=md5, sha256=sha), tmp_path / "d")
    assert out == tmp_path / "d" / "file.bin" and out.read_bytes() == src.read_bytes()
    verify_file(out, RemoteFile("file.bin", (), md5=md5, sha256=sha))
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        verify_file(out, RemoteFile("file.bin", (), md5="0" * 32))


def test_download_tries_mirrors_in_order_and_reports_each_failure(tmp_path):
    src, md5, _ = _mirror(tmp_path)
    dead = (tmp_path / "nowhere.bin").as_uri()
    remote = RemoteFile("file.bin", (dead, src.as_uri()), md5=md5)
    assert download(remote, tmp_path / "d").is_file()
    bad = RemoteFile("file.bin", (dead, src.as_uri()), sha256="f" * 64)
    with pytest.raises(DownloadError) as e:
        download(bad, tmp_path / "e")
    assert "nowhere.bin" in str(e.value) and "checksum mismatch (SHA-256" in str(e.value)
    assert not list((tmp_path / "e").iterdir())  # no partial or wrong file left behind


def test_download_offline_through_a_fake_opener(tmp_path):
    calls = []

    def offline(url, timeout):
        calls.append(url)
        raise urllib.error.URLError("no route to host")

    remote = RemoteFile("x.gz", ("https://a.example/x.gz", "https://b.example/x.gz"), md5="0" * 32)
    with pytest.raises(DownloadError, match="no route to host"):
        download(remote, tmp_path, opener=offline)
    assert calls == list(remote.urls)

    payload = gzip.compress(b"ok")

    def online(url, timeout):
        return io.BytesIO(payload)

    remote = RemoteFile("x.gz", ("https://a.example/x.gz",), md5=hashlib.md5(payload).hexdigest())
    assert download(remote, tmp_path, opener=online).read_bytes() == payload


def test_find_datasets_on_an_empty_and_a_partial_folder(tmp_path):
    report = find_datasets(tmp_path)
    status = {e["name"]: e["status"] for e in report["datasets"]}
    assert status == {
        "shapes": "generated",
        "shapes-seg": "generated",
        "mnist": "missing",
        "cifar10": "missing",
        "mnist-on-cifar": "missing",
        "voc2007": "missing",
        "imagefolder": "missing",
    }
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    report = find_datasets(tmp_path)
    mnist = next(e for e in report["datasets"] if e["name"] == "mnist")
    assert mnist["status"] == "partial" and len(mnist["missing"]) == 3
    text = format_datasets_report(report)
    assert str(tmp_path) in text and "missing" in text and "train-labels-idx1-ubyte.gz" in text


def test_find_datasets_on_the_shared_folder(shared_datasets):
    report = find_datasets(shared_datasets)
    status = {e["name"]: e["status"] for e in report["datasets"]}
    if (shared_datasets / "mnist").is_dir():
        assert status["mnist"] == "found"
    if (shared_datasets / "cifar-10-batches-py").is_dir():
        assert status["cifar10"] == "found"
    assert report["source"] == "argument"
