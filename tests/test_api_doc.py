"""docs/API.md names every public name of the main namespaces, so the index cannot fall behind."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import nn, optim
from minitorch_cv.data import transforms as T
from minitorch_cv.optim import lr_scheduler

DOC = (Path(__file__).resolve().parents[1] / "docs" / "API.md").read_text()
LISTED = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", DOC))


def _public(module, keep=lambda obj: True):
    return {n for n in dir(module) if not n.startswith("_")
            and not inspect.ismodule(getattr(module, n)) and keep(getattr(module, n))}  # fmt: skip


def _defined_here(package):
    return lambda obj: getattr(obj, "__module__", "").startswith(package)


NAMESPACES = {
    "mt": _public(mt) - {"annotations"},
    "F": _public(F) - {"annotations"},
    "nn": _public(nn),
    "optim": _public(optim),
    "lr_scheduler": _public(lr_scheduler, lambda o: inspect.isclass(o)) - {"Counter", "Optimizer"},
    "transforms": _public(T, _defined_here("minitorch_cv.data")),
    "data": _public(mt.data),
    "train": _public(mt.train),
    "models": _public(mt.models, lambda o: inspect.isclass(o) or inspect.isfunction(o)),
}


@pytest.mark.parametrize("space", NAMESPACES)
def test_every_public_name_is_in_the_api_index(space):
    missing = sorted(NAMESPACES[space] - LISTED)
    assert not missing, f"docs/API.md does not list these {space} names: {missing}"
