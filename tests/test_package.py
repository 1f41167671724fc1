"""The package namespace: what `import minitorch_cv as mt` gives a user."""

import subprocess
import sys


def test_subpackages_are_reachable_from_the_top_level_import():
    """`mt.train.fit(...)` as in the README, in a fresh interpreter (nothing imported before)."""
    code = (
        "import minitorch_cv as mt\n"
        "assert callable(mt.train.fit) and mt.data.DataLoader and mt.recipes and mt.exercises\n"
        "try:\n    mt.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "has no attribute 'no_such_name'" in out.stdout
