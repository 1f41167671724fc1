"""Where dataset files live, how a missing one is fetched, and how a damaged one is reported.

Lookup order for the data folder: an explicit `data_dir` argument, else `$MINITORCH_CV_DATA`, else
a per-user cache folder (`$XDG_CACHE_HOME/minitorch_cv`, by default `~/.cache/minitorch_cv`).
Downloads are a convenience only: every loader works offline from files placed by hand, and when
a file is missing it says exactly which file to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tarfile
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

DATA_ENV = "MINITORCH_CV_DATA"
_CHUNK = 1 << 20


class CorruptFileError(ValueError):
    """A dataset file exists but is truncated, damaged or not the expected format."""


class DownloadError(OSError):
    """Every address of a file failed (offline, refused, or a checksum mismatch)."""


def default_cache_dir() -> Path:
    """The per-user cache folder: `$XDG_CACHE_HOME/minitorch_cv`, else `~/.cache/minitorch_cv`."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "minitorch_cv"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: `data_dir` if given, else `$MINITORCH_CV_DATA`, else the cache folder."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


@dataclass(frozen=True)
class RemoteFile:
    """A file a dataset needs, with the addresses it can be downloaded from and its checksums.

    Args:
        name: the file's name on disk.
        urls: full download addresses, tried in order (mirrors).
        md5, sha256: expected hex digests (either or both; a download must match every one given).
        size: expected size in bytes, if known (reported in messages only).
    """

    name: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None


def file_digests(path: str | os.PathLike) -> dict[str, str]:
    """MD5 and SHA-256 hex digests of a file, read in 1 MiB chunks."""
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def checksum_problem(digests: dict[str, str], remote: RemoteFile) -> str | None:
    """None when the digests match every checksum `remote` lists, else which one differs."""
    for algo in ("md5", "sha256"):
        want = getattr(remote, algo)
        if want is not None and digests[algo] != want.lower():
            label = {"md5": "MD5", "sha256": "SHA-256"}[algo]
            return f"{label} is {digests[algo]}, expected {want.lower()}"
    return None


def verify_file(path: str | os.PathLike, remote: RemoteFile) -> None:
    """Raise CorruptFileError when the file at `path` does not match `remote`'s checksums."""
    problem = checksum_problem(file_digests(path), remote)
    if problem:
        raise CorruptFileError(
            f"{path}: checksum mismatch ({problem}); the file is damaged or not "
            f"the official {remote.name}: delete it and place or download it again"
        )


def download(
    remote: RemoteFile,
    dest_dir: str | os.PathLike,
    *,
    opener: Callable | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download `remote` into `dest_dir`, verifying its checksums; return the file's path.

    Each address in `remote.urls` is tried in turn. The bytes go to a temporary file next to the
    destination, hashed while they stream, and are renamed into place only when every checksum
    matches, so an interrupted or damaged download never leaves a file that looks complete.

    Args:
        remote: what to fetch.
        dest_dir: folder to write into (created if needed).
        opener: `opener(url, timeout=...)` returning a readable binary stream; default
            `urllib.request.urlopen` (which also serves `file://` addresses).
        timeout: seconds before a connection attempt is abandoned (default 60).

    Raises:
        DownloadError: when no address gave a file with the right checksums; the message lists
            what went wrong at each address.
    """
    opener = opener or urllib.request.urlopen
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.name
    tmp = dest.with_name(f"{dest.name}.part-{os.getpid()}")
    failures = []
    for url in remote.urls:
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
        try:
            with opener(url, timeout=timeout) as response, open(tmp, "wb") as out:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    md5.update(chunk)
                    sha.update(chunk)
        except (OSError, ValueError) as e:  # URLError and HTTPError are OSErrors
            tmp.unlink(missing_ok=True)
            failures.append(f"{url}: {e}")
            continue
        problem = checksum_problem({"md5": md5.hexdigest(), "sha256": sha.hexdigest()}, remote)
        if problem:
            tmp.unlink(missing_ok=True)
            failures.append(f"{url}: checksum mismatch ({problem})")
            continue
        os.replace(tmp, dest)
        return dest
    raise DownloadError(f"could not download {remote.name}:\n  " + "\n  ".join(failures))


def find_first(candidates: Iterable[Path]) -> Path | None:
    """The first path in `candidates` that is an existing file, else None."""
    for p in candidates:
        if p.is_file():
            return p
    return None


def missing_file_message(
    dataset: str,
    remote: RemoteFile,
    place_at: Path,
    looked_in: Sequence[Path],
    download_failure: str | None = None,
) -> str:
    """The text of the FileNotFoundError a loader raises for a file it cannot find."""
    where = ", ".join(str(p) for p in dict.fromkeys(looked_in))
    size = f", {remote.size} bytes" if remote.size else ""
    digest = (
        f", MD5 {remote.md5}"
        if remote.md5
        else (f", SHA-256 {remote.sha256}" if remote.sha256 else "")
    )
    msg = (
        f"{dataset}: file {remote.name!r} not found (looked in {where}).\n"
        f"Place it at {place_at / remote.name}{size}{digest}; it is published at "
        f"{remote.urls[0]}.\n"
        f"Or choose another folder with data_dir= / --data-dir / ${DATA_ENV}"
    )
    if download_failure:
        return msg + f".\nThe download was tried and failed: {download_failure}"
    return msg + ", or pass download=True on a machine that is online."


def safe_extract(
    archive: str | os.PathLike, dest: str | os.PathLike, keep: Callable[[PurePosixPath], bool]
) -> list[Path]:
    """Extract the regular files of a tar archive whose member paths `keep` accepts.

    Member names are checked before anything is written: absolute paths, `..` parts, links and
    device files are refused, so a hostile archive cannot write outside `dest`.

    Returns:
        the paths written.
    """
    dest = Path(dest)
    written = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = PurePosixPath(member.name)
                if name.is_absolute() or ".." in name.parts:
                    raise CorruptFileError(
                        f"{archive}: refusing unsafe member path {member.name!r}"
                    )
                if not member.isfile() or not keep(name):
                    continue
                target = dest.joinpath(*name.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                tmp = target.with_name(target.name + ".part")
                with src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                os.replace(tmp, target)
                written.append(target)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise CorruptFileError(
            f"{archive}: cannot read the archive ({e}); it is truncated or "
            "damaged: delete it and download it again"
        ) from e
    return written
