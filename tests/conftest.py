"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Bounded, deadline-free hypothesis runs: CI runs on 2 cores, and timing is the benchmarks' job.
settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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


def _gpu_ok() -> bool:
    from minitorch_cv.backend import gpu_available

    return gpu_available()


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` skip unless CuPy sees a CUDA device."""
    if not any(item.get_closest_marker("gpu") for item in items):
        return
    if _gpu_ok():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA GPU (pip install 'minitorch_cv[gpu]')")
    for item in items:
        if item.get_closest_marker("gpu"):
            item.add_marker(skip)
