"""The training-step benchmark compares like with like: each PyTorch twin in
benchmarks/torch_models.py takes our state_dict with strict=True and then computes the same
outputs, loss and gradients; and the script's --quick mode runs end to end.

Float32 tolerances for the forward pass: outputs max |ours - torch| <= 1e-4 * max |torch| (deep
BatchNorm stacks sum thousands of terms in another order; seen: <= 1.2e-5), loss relative 1e-5.
Gradients are compared in float64 (rtol 1e-7, atol 1e-10), where rounding cannot hide a
wrong formula.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


def _load(name: str):
    """Import benchmarks/<name>.py (benchmarks/ is a folder of scripts, not a package)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # bench_train_step imports its siblings by name
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


bench = _load("bench_train_step")
NET_NAMES = [s.name for s in bench.NETS]


def _twins(name: str, batch: int, torch_models):
    spec = bench.quick_spec(next(s for s in bench.NETS if s.name == name))
    spec = bench.NetSpec(spec.name, spec.label, batch, spec.input_size, spec.num_classes,
                         spec.segmentation, spec.ignore_index)  # fmt: skip
    mt.manual_seed(1)
    ours = mt.models.get(name)
    theirs = torch_models.copy_weights(ours, torch_models.build(name))  # strict=True inside
    return spec, ours, theirs


@pytest.mark.parity
@pytest.mark.parametrize("name", NET_NAMES)
def test_torch_twin_matches_forward_and_loss_float32(name):
    torch = pytest.importorskip("torch")
    spec, ours, theirs = _twins(name, 4, _load("torch_models"))
    assert list(theirs.state_dict()) == list(ours.state_dict())
    x, y = bench.make_batch(spec, seed=3)

    out_o = ours(mt.tensor(x))
    out_t = theirs(torch.from_numpy(x))
    a, b = out_o.numpy(), out_t.detach().numpy()
    assert a.dtype == np.float32 and a.shape == b.shape
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()

    loss_o = mt.functional.cross_entropy(out_o, mt.tensor(y), ignore_index=spec.ignore_index)
    loss_t = torch.nn.functional.cross_entropy(
        out_t, torch.from_numpy(y), ignore_index=spec.ignore_index
    )
    assert loss_o.item() == pytest.approx(loss_t.item(), rel=1e-5)


@pytest.mark.parity
@pytest.mark.parametrize("name", NET_NAMES)
def test_torch_twin_matches_every_gradient_float64(name):
    # float64: at a batch of 4, BatchNorm over B's 2 x 2 deepest maps is ill-conditioned enough
    # that float32 gradients of the two engines differ by 2 % (by 1e-14 in float64)
    torch = pytest.importorskip("torch")
    spec, ours, theirs = _twins(name, 4, _load("torch_models"))
    ours.double()
    theirs.double()
    x, y = bench.make_batch(spec, seed=3)
    x = x.astype(np.float64)
    kw = dict(ignore_index=spec.ignore_index)
    mt.functional.cross_entropy(ours(mt.tensor(x)), mt.tensor(y), **kw).backward()
    torch.nn.functional.cross_entropy(theirs(torch.from_numpy(x)), torch.from_numpy(y), **kw)\
        .backward()  # fmt: skip
    grads_t = dict(theirs.named_parameters())
    for pname, p in ours.named_parameters():
        gt = grads_t[pname].grad.numpy()
        np.testing.assert_allclose(p.grad.numpy(), gt, rtol=1e-7, atol=1e-10, err_msg=pname)


def test_flop_count_of_e1_equals_the_hand_count():
    # E1 on 3x32x32: conv5 3->32 at 32x32, conv5 32->64 at 16x16, conv5 64->128 at 8x8,
    # Linear 2048->64, Linear 64->10 (multiply-accumulates per sample)
    per_sample = (32 * 32 * 32 * 3 * 25 + 16 * 16 * 64 * 32 * 25 + 8 * 8 * 128 * 64 * 25
                  + 2048 * 64 + 64 * 10)  # fmt: skip
    x = mt.tensor(np.zeros((2, 3, 32, 32), np.float32))
    assert bench.count_macs(mt, mt.models.get("e1"), x) == 2 * per_sample


def test_flop_count_of_a_transposed_conv_counts_input_pixels():
    # ConvTranspose2d(4 -> 6, k3, s2) on a 5x5 input: every input pixel of every channel
    # scatters a 6 x 3 x 3 block
    net = mt.nn.Sequential(mt.nn.ConvTranspose2d(4, 6, 3, stride=2))
    x = mt.tensor(np.zeros((2, 4, 5, 5), np.float32))
    assert bench.count_macs(mt, net, x) == 2 * 4 * 5 * 5 * 6 * 9


def test_dead_taps_quick_mode_runs_without_torch():
    """bench_dead_taps.py --quick --no-torch: the table of the six ASPP convs, the 1x1 ones
    marked as such (the crop's live taps)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_dead_taps.py"), "--quick", "--no-torch",
         "--no-models"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [
        line.split() for line in proc.stdout.splitlines() if line.strip()[:4] in ("28^2", "14^2")
    ]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("28^2", "12", "3x3"), ("28^2", "24", "3x3"), ("28^2", "36", "1x1"),
        ("14^2", "12", "3x3"), ("14^2", "24", "1x1"), ("14^2", "36", "1x1"),
    ]  # fmt: skip


def test_quick_mode_runs_and_writes_json(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_train_step.py"), "--quick", "--profile", "--top",
         "3", "--nets", "three-layer", "unit-block-mnist", "--json", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ours ms" in proc.stdout and "Function timings" in proc.stdout
    doc = json.loads(out.read_text())
    meta, results = doc["meta"], doc["results"]
    assert meta["threads"] >= 1 and meta["matmul_gflops_ours"] > 0
    assert meta["malloc_env"]["MALLOC_MMAP_THRESHOLD_"] == str(1 << 30)  # the re-exec happened
    assert [r["name"] for r in results] == ["three-layer", "unit-block-mnist"]
    for r in results:
        assert r["agree"] is True
        assert len(r["times_ours"]) == len(r["times_torch"]) == 2
        assert r["ms_ours"] > 0 and r["ms_torch"] > 0 and r["train_gflop"] > 0
        assert r["peak_mb_ours"] > 0 and r["peak_mb_torch"] > 0
        assert r["profile"]["ops"]["step"] > 0


@pytest.mark.skipif(gpu_available(), reason="a GPU is present: the cuda mode would run")
def test_cuda_mode_without_a_gpu_fails_with_a_clear_message():
    proc = subprocess.run(
        [sys.executable, str(BENCH / "bench_train_step.py"), "--device", "cuda", "--quick"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--device cuda needs a visible NVIDIA GPU" in proc.stderr
    assert "pip install" in proc.stderr  # the backend's install hint is passed on


# --------------------------------------------------------------------------- torch_recipe.py


def test_torch_recipe_refuses_what_it_cannot_replay():
    pytest.importorskip("torch")
    tr = _load("torch_recipe")
    from minitorch_cv.recipes import get_recipe

    assert tr.unsupported(get_recipe("f-default")) is None
    assert tr.unsupported(get_recipe("f-batch-norm")) is None  # the F twin takes every ablation
    assert "model options ['blocks']" in tr.unsupported(
        replace(get_recipe("f-default"), model="e2", model_options={"blocks": 2})
    )
    assert tr.unsupported(get_recipe("a-cifar10")) is None  # validation split, early stopping
    assert "scheduler" in tr.unsupported(get_recipe("d-fcn-cosine"))
    assert "no PyTorch twin" in tr.unsupported(get_recipe("c-mnist"))


def test_torch_recipe_replays_validation_split_and_restores_the_best_epoch(shared_datasets):
    """A's recipe: torch's validation loss drives our early-stopping rule, and the reported
    figure is the restored best epoch's test score, as `reproduce` reports it."""
    torch = pytest.importorskip("torch")
    tr = _load("torch_recipe")
    from minitorch_cv.recipes import get_recipe

    torch.set_num_threads(1)
    rows = tr.train_torch(get_recipe("a-mnist"), shared_datasets, epochs=3, limit=256,
                          log=lambda text: None)  # fmt: skip
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    losses = [r["val_loss"] for r in rows]
    last = rows[-1]
    assert last["best_epoch"] == 1 + int(np.argmin(losses))  # the rule's best: lowest val loss
    best = rows[last["best_epoch"] - 1]
    assert last["final_test_acc"] == pytest.approx(best["test_acc"], abs=1e-12)
    assert last["final_test_loss"] == pytest.approx(best["test_loss"], rel=1e-5)


def test_torch_recipe_starts_from_our_weights_on_our_batches(shared_datasets, tmp_path):
    """One epoch of F default on 640 CIFAR-10 images: PyTorch replaying our start and batches
    ends with our training loss (float32 rounding apart), so the script compares engines."""
    torch = pytest.importorskip("torch")
    tr = _load("torch_recipe")
    from minitorch_cv.recipes import get_recipe, run_recipe

    torch.set_num_threads(1)
    theirs = tr.train_torch(get_recipe("f-default"), shared_datasets, epochs=1, limit=640,
                            log=lambda text: None)  # fmt: skip
    row = run_recipe("f-default", data_dir=shared_datasets, out=tmp_path / "run", epochs=1,
                     limit=640, progress=False)  # fmt: skip
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert theirs[0]["train_loss"] == pytest.approx(history[0]["train_loss"], rel=1e-5)
    assert theirs[0]["test_mean_recall"] == pytest.approx(row["ours"], abs=2e-3)


@pytest.mark.parity
def test_three_layer_twin_takes_every_ablation():
    torch = pytest.importorskip("torch")
    torch_models = _load("torch_models")
    options = dict(filters=(8, 12, 16), kernel_sizes=(7, 5, 3), extra_fc=32,
                   activation="leaky_relu", dropout=0.3, batch_norm=True)  # fmt: skip
    mt.manual_seed(2)
    ours = mt.models.get("three-layer", **options).double()
    theirs = torch_models.copy_weights(ours, torch_models.build("three-layer", **options).double())
    assert list(theirs.state_dict()) == list(ours.state_dict())
    ours.eval()
    theirs.eval()  # dropout off, batch norm on running statistics: the same function
    x = np.random.default_rng(4).standard_normal((3, 3, 32, 32))
    np.testing.assert_allclose(ours(mt.tensor(x)).numpy(),
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-10,
                               atol=1e-12)  # fmt: skip


def test_torch_recipe_scores_per_pixel_logits_as_pixel_accuracy():
    """score() on (N, C, H, W) logits: pixel accuracy and per-class recall counted over pixels
    (by hand here), and the mean cross-entropy over pixels."""
    torch = pytest.importorskip("torch")
    tr = _load("torch_recipe")
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((2, 3, 4, 5))
    labels = rng.integers(0, 3, (2, 4, 5))

    class Fixed(torch.nn.Module):
        def forward(self, x):
            return torch.from_numpy(logits)

    loader = [(np.zeros((2, 1)), labels)]
    got = tr.score(torch, Fixed(), loader, 3)
    pred = logits.argmax(1)
    assert got["pixel_acc"] == pytest.approx((pred == labels).mean())
    recall = [(pred[labels == c] == c).mean() for c in range(3)]
    assert got["mean_recall"] == pytest.approx(np.mean(recall))
    lse = np.log(np.exp(logits).sum(1))
    picked = np.take_along_axis(logits, labels[:, None], 1)[:, 0]
    assert got["loss"] == pytest.approx((lse - picked).mean())
