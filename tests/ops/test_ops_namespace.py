"""mt.ops: reachable from a bare `import minitorch_cv as mt`, its __all__
complete, and every public name listed in docs/API.md (tests/test_api_doc.py covers the other
namespaces)."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

from minitorch_cv import ops


def test_mt_ops_is_reachable_from_a_bare_import():
    # (the model zoo builds on ops' blocks, as torchvision.models on torchvision.ops, so the
    # import of minitorch_cv loads it already)
    code = "import minitorch_cv as mt\nassert callable(mt.ops.nms) and mt.ops.RoIAlign\n"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_is_the_public_surface_and_the_api_index_lists_it():
    public = {n for n in dir(ops) if not n.startswith("_") and n not in {"annotations"}}
    public -= {n for n in public if inspect.ismodule(getattr(ops, n))}  # the submodules
    assert set(ops.__all__) == public
    doc = (Path(__file__).resolve().parents[2] / "docs" / "API.md").read_text()
    listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", doc))
    assert not sorted(public - listed), f"docs/API.md does not list {sorted(public - listed)}"
