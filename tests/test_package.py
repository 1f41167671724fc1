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


def test_torch_style_top_level_reductions_and_shape_ops():
    import numpy as np

    import minitorch_cv as mt

    a = np.array([[1.0, 5.0, -2.0], [3.0, 2.0, 0.5]], np.float32)
    x = mt.tensor(a)
    np.testing.assert_allclose(mt.sum(x, 1).numpy(), a.sum(1))
    np.testing.assert_allclose(mt.mean(x).item(), a.mean(), rtol=1e-6)
    assert mt.max(x, 1).indices.tolist() == mt.argmax(x, 1).tolist() == [1, 0]
    assert mt.argmin(x).item() == 2 and mt.amax(x).item() == 5.0
    np.testing.assert_array_equal(mt.transpose(x, 0, 1).numpy(), a.T)
    np.testing.assert_array_equal(x.t().numpy(), a.T)
    np.testing.assert_array_equal(mt.clamp(x, min=0).numpy(), a.clip(0))
    np.testing.assert_array_equal(mt.abs(x).numpy(), np.abs(a))


def test_the_readme_tour_runs_as_written(tmp_path, monkeypatch, capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)  # the tour saves model.npz in the working folder
    exec(compile(code, "README.md", "exec"), {})
    assert "Total params: 256,058" in capsys.readouterr().out
    assert (tmp_path / "model.npz").is_file()


def test_inference_mode_builds_no_graph():
    import minitorch_cv as mt

    w = mt.ones(2, requires_grad=True)
    with mt.inference_mode():
        y = w * 2
    assert not y.requires_grad

    @mt.inference_mode()
    def predict(x):
        return x * w

    assert not predict(mt.ones(2)).requires_grad
