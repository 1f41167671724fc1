"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path | None:
    """The folder of real test datasets, or None.

    `$MINITORCH_CV_SHARED` (the shared folder, or its `datasets/` folder) if set, else
    `../shared/datasets` next to the repository.
    """
    candidates = []
    env = os.environ.get("MINITORCH_CV_SHARED")
    if env:
        p = Path(env).expanduser()
        candidates += [p / "datasets", p]
    candidates.append(REPO.parent / "shared" / "datasets")
    for c in candidates:
        if (c / "mnist").is_dir() or (c / "cifar-10-batches-py").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Path of the shared real datasets; skips the test when they are absent."""
    d = shared_datasets_dir()
    if d is None:
        pytest.skip("real datasets not found in ../shared/datasets (set $MINITORCH_CV_SHARED)")
    return d
