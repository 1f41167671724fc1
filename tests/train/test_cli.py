"""The `minitorch-cv` command line: train writes every file of a run, refuses to overwrite one,
resumes it, names the valid models and datasets; evaluate, models, summary, datasets, demo."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from minitorch_cv import __version__, models
from minitorch_cv.cli import build_model, main
from minitorch_cv.train import History, load_checkpoint

RUN_FILES = ["best.npz", "config.json", "confusion_matrix.png", "curves.png", "history.csv",
             "history.json", "last.npz", "metrics.json"]  # fmt: skip
TINY = ["--limit", "48", "--batch-size", "16", "--quiet"]


def train(*args) -> int:
    return main(["train", *TINY, *args])


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"minitorch-cv {__version__}"


def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "minitorch_cv", "--version"], capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert __version__ in out.stdout


@pytest.mark.parametrize("model", ["mlp", "small_cnn"])
def test_train_writes_every_file_of_a_run(tmp_path, capsys, model):
    out = tmp_path / "run"
    assert train("--model", model, "--epochs", "2", "--out", str(out)) == 0
    assert capsys.readouterr().out == ""  # --quiet
    assert sorted(p.name for p in out.iterdir()) == RUN_FILES
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == model and config["dataset"] == "shapes" and config["epochs"] == 2
    assert config["task"] == "classification" and config["input_shape"] == [3, 32, 32]
    history = History.from_json(out / "history.json")
    assert history.column("epoch") == [1, 2]
    assert (out / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss,")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and 0.0 <= metrics["acc"] <= 1.0
    assert metrics["best_epoch"] == history.best_epoch()
    assert np.asarray(metrics["confusion_matrix"]).sum() == 48
    with np.load(out / "best.npz", allow_pickle=False) as z:  # loads without pickle
        assert any(k.startswith("model/") for k in z.files)
    assert load_checkpoint(out / "last.npz")["epoch"] == 2
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_onecycle_schedule_steps_every_batch(tmp_path):
    out = tmp_path / "run"
    assert train("--epochs", "2", "--scheduler", "onecycle", "--lr", "0.01", "--out", str(out)) == 0
    history = History.from_json(out / "history.json")
    # 48 images / 16 = 3 batches an epoch: epoch 2 starts at step 3 of the 6-step cycle
    # (warm-up over the first 30 %: 1.8 steps from 0.01 / 25 to the peak 0.01)
    lrs = history.column("lr")
    assert lrs[0] == pytest.approx(0.01 / 25) and lrs[1] < 0.01 and lrs[1] > lrs[0]
    sched = load_checkpoint(out / "last.npz")["scheduler"]
    assert sched["last_epoch"] == 6 and sched["total_steps"] == 6


def test_existing_run_folder_is_refused_then_overwritten_or_resumed(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train("--model", "mlp", "--epochs", "1", "--out", out) == 0
    capsys.readouterr()
    assert train("--model", "mlp", "--epochs", "1", "--out", out) == 2
    err = capsys.readouterr().err
    assert f"output folder {out} already holds a run" in err
    assert "--resume" in err and "--overwrite" in err

    assert train("--model", "mlp", "--epochs", "2", "--out", out, "--overwrite") == 0
    assert len(History.from_json(f"{out}/history.json")) == 2

    # resume to 3 epochs: the run's own settings are used (model, lr, ...) and one epoch added
    assert main(["train", "--out", out, "--resume", "--epochs", "3", "--quiet"]) == 0
    history = History.from_json(f"{out}/history.json")
    assert history.column("epoch") == [1, 2, 3]
    assert json.loads(open(f"{out}/config.json").read())["model"] == "mlp"

    assert main(["train", "--out", out, "--resume", "--lr", "0.5", "--quiet"]) == 2
    assert "--lr 0.5 differs from the run's 0.003" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "empty"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_unknown_names_list_the_valid_ones(tmp_path, capsys):
    assert train("--model", "resnet9000", "--out", str(tmp_path / "a")) == 2
    err = capsys.readouterr().err
    assert "unknown model 'resnet9000'; valid names:" in err
    assert all(m.name in err for m in models.list_models())
    assert train("--dataset", "imagenet", "--out", str(tmp_path / "b")) == 2
    err = capsys.readouterr().err
    assert (
        "unknown dataset 'imagenet'; valid datasets:" in err and "shapes" in err and "mnist" in err
    )
    assert main(["train", "--early-stopping", "soon", "--out", str(tmp_path / "c")]) == 2
    assert "patience:N" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_evaluate_reproduces_the_runs_test_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    assert train("--model", "mlp", "--epochs", "2", "--out", str(out)) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out), "--split", "test", "--limit", "48"]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "metrics.json").read_text())
    assert printed["acc"] == saved["acc"] and printed["loss"] == pytest.approx(saved["loss"])
    assert printed["checkpoint"].endswith("best.npz") and printed["n"] == 48
    assert (out / "metrics-test.json").exists() and (out / "confusion_matrix-test.png").exists()

    assert main(["evaluate", str(out / "last.npz"), "--split", "val", "--limit", "16",
                 "--out", str(tmp_path / "ev")]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["epoch"] == 2
    assert (tmp_path / "ev" / "metrics-val.json").exists()


def test_evaluate_bad_checkpoints(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 truncated")
    assert main(["evaluate", str(bad)]) == 1
    assert "corrupt or truncated" in capsys.readouterr().err
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "holds no checkpoint" in capsys.readouterr().err


def test_segmentation_run_writes_pixel_metrics_and_a_panel(tmp_path, capsys):
    out = tmp_path / "seg"
    assert train("--model", "small_cnn", "--dataset", "shapes-seg", "--out", str(out)) == 2
    assert "classification model, the dataset is for segmentation" in capsys.readouterr().err
    assert not out.exists()  # refused before any data was read or any file written
    args = ("--model", "small_fcn", "--dataset", "shapes-seg", "--epochs", "1", "--augment")
    assert train(*args, "--out", str(out)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["pixel_acc"] <= 1.0 and 0.0 <= metrics["miou"] <= 1.0
    assert set(metrics["per_class"]) == {"recall", "precision", "iou"}
    assert (out / "segmentation.png").exists() and not (out / "confusion_matrix.png").exists()
    history = History.from_json(out / "history.json")
    assert {"train_pixel_acc", "val_pixel_acc", "val_miou"} <= set(history.keys())
    capsys.readouterr()
    assert main(["evaluate", str(out), "--limit", "48"]) == 0
    assert json.loads(capsys.readouterr().out)["miou"] == pytest.approx(metrics["miou"])


def test_torchvision_segmentation_models_train_from_the_cli(tmp_path, capsys):
    """deeplabv3-resnet50 returns OrderedDict(out=...): the final panel read the dict as the
    prediction and failed after training; 3 images in batches of 2 left a lone image whose
    ASPP pooling branch cannot train (BatchNorm on 1 value per channel), so it is dropped."""
    out = tmp_path / "deeplab"
    args = ("--model", "deeplabv3-resnet50", "--dataset", "shapes-seg", "--epochs", "1")
    assert main(["train", *args, "--limit", "3", "--batch-size", "2", "--quiet",
                 "--out", str(out)]) == 0  # fmt: skip
    assert (out / "segmentation.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["pixel_acc"] <= 1.0
    assert np.asarray(metrics["confusion_matrix"]).sum() == 3 * 32 * 32  # every test pixel
    assert main(["evaluate", str(out), "--limit", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["miou"] == pytest.approx(metrics["miou"])


def test_summary_counts_the_parameters(capsys):
    assert (
        main(["summary", "--model", "mlp", "--input-size", "1,28,28", "--num-classes", "10"]) == 0
    )
    text = capsys.readouterr().out
    n = build_model("mlp", (1, 28, 28), 10).num_parameters()
    assert n == models.get("mlp", in_channels=1, image_size=28).num_parameters()
    assert f"Total params: {n:,}" in text and "Linear-" in text
    assert main(["summary", "--input-size", "3x32"]) == 2
    assert "expected C,H,W" in capsys.readouterr().err


def test_summary_takes_the_model_as_a_positional_name_too(capsys):
    assert main(["summary", "e1"]) == 0
    by_name = capsys.readouterr().out
    assert main(["summary", "--model", "e1"]) == 0
    assert capsys.readouterr().out == by_name and "Total params: 390,410" in by_name
    assert main(["summary", "e1", "--model", "e2"]) == 2
    assert "two models given" in capsys.readouterr().err


def test_summary_of_a_size_the_network_cannot_take_is_one_line(capsys):
    assert main(["summary", "--model", "small-cnn", "--input-size", "3,4,4"]) == 2
    assert "small-cnn: image_size 4 is too small" in capsys.readouterr().err
    assert main(["summary", "--model", "fcn-baseline", "--input-size", "3,30,30"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minitorch-cv summary: error:") and "30" in err


def test_models_lists_every_registered_model_with_its_parameter_count(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "task", "input", "classes", "parameters"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert list(rows) == [m.name for m in models.list_models()]
    for m in models.list_models():
        name, task, size, classes, params = rows[m.name][:5]
        assert task == m.task and size == "x".join(map(str, m.input_size))
        assert int(classes) == m.num_classes and params == f"{m.num_parameters():,}"
    assert {"small-cnn", "mlp", "small-fcn"} <= set(rows)


def test_the_cli_names_resolve_to_the_zoo_models():
    # the train defaults build the same network as `models.get` with the dataset's sizes
    for name, zoo in (("small_cnn", "small-cnn"), ("MLP", "mlp"), ("small_fcn", "small-fcn")):
        got = build_model(name, (1, 16, 16), 5)
        want = models.get(zoo, in_channels=1, num_classes=5, image_size=16)
        assert type(got) is type(want)
        assert {k: v.shape for k, v in got.state_dict().items()} == {
            k: v.shape for k, v in want.state_dict().items()
        }


def test_reproduce_lists_the_experiments_and_names_valid_ones(capsys):
    from minitorch_cv import recipes

    assert main(["reproduce", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(r.name in listed for r in recipes.list_recipes())
    assert main(["reproduce", "no-such-run"]) == 2
    assert "unknown experiment 'no-such-run'; valid names:" in capsys.readouterr().err


def test_datasets_report(tmp_path, capsys):
    assert main(["datasets", "--data-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert str(tmp_path) in text and "shapes" in text and "generated" in text and "missing" in text
    assert main(["datasets", "--data-dir", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {d["name"]: d["status"] for d in report["datasets"]}["mnist"] == "missing"


def test_demo_still_works(capsys):
    assert main(["demo", "--epochs", "2"]) == 0
    assert "final training accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_default_train_is_fast_and_accurate(tmp_path, monkeypatch, capsys):
    """`minitorch-cv train` with no options: small CNN on shapes, offline, >= 90 % test
    accuracy, well under a minute (the README's main command)."""
    monkeypatch.chdir(tmp_path)
    t0 = time.perf_counter()
    assert main(["train"]) == 0
    seconds = time.perf_counter() - t0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("small-cnn-shapes-")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["acc"] >= 0.90, metrics["acc"]
    assert seconds < 60, seconds


@pytest.mark.parametrize(
    "name,state_key,lr",
    [
        ("rmsprop", "square_avg", 3e-3),
        ("adagrad", "sum", 3e-3),
        ("adadelta", "acc_delta", 1.0),  # without --lr: PyTorch's default for the optimizer
        ("rprop", "step_size", 1e-2),
    ],
)
def test_train_takes_other_optimizers_and_resumes_them(tmp_path, name, state_key, lr):
    out = str(tmp_path / "run")
    assert train("--model", "mlp", "--epochs", "1", "--optimizer", name, "--out", out) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["optimizer"], config["lr"]) == (name, lr)  # the rate used, not None
    assert main(["train", "--out", out, "--resume", "--epochs", "2", "--quiet"]) == 0
    ckpt = load_checkpoint(tmp_path / "run" / "last.npz")
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert ckpt["epoch"] == 2 and (config["optimizer"], config["lr"]) == (name, lr)
    assert ckpt["optimizer"]["param_groups"][0]["initial_lr"] == lr  # cosine's base: --lr
    states = ckpt["optimizer"]["state"]
    assert states and all(state_key in s and s["step"] == 6 for s in states.values())


@pytest.mark.parametrize("name", ["adadelta", "rprop"])
def test_train_with_default_lr_learns_with_adadelta_and_rprop(tmp_path, name):
    """Without --lr, Adadelta (1.0) and Rprop (1e-2) fit the small training set: the loss falls
    and the training accuracy beats chance (1/3). At Adam's 3e-3 Adadelta's loss stays flat."""
    out = tmp_path / "run"
    # --limit 128 overrides TINY's 48: 6 batches an epoch, enough to see the loss fall
    args = ("--model", "small-cnn", "--limit", "128", "--epochs", "3", "--optimizer", name)
    assert train(*args, "--out", str(out)) == 0
    history = History.from_json(out / "history.json")
    loss, acc = history.column("train_loss"), history.column("train_acc")
    assert loss[-1] < 0.85 * loss[0] and acc[-1] > 0.45, (loss, acc)


@pytest.mark.parametrize("name", ["adagrad", "adadelta", "rprop", "rmsprop", "adam"])
def test_onecycle_takes_optimizers_without_momentum(tmp_path, name):
    """Adagrad, Adadelta and Rprop have neither momentum nor betas: only the lr cycles."""
    out = tmp_path / "run"
    assert train("--epochs", "1", "--model", "mlp", "--scheduler", "onecycle", "--optimizer",
                 name, "--out", str(out)) == 0  # fmt: skip
    groups = load_checkpoint(out / "last.npz")["optimizer"]["param_groups"]
    cycled = name in ("rmsprop", "adam")  # momentum / beta1 from max_momentum 0.95 down
    assert ("max_momentum" in groups[0]) == cycled
    assert groups[0]["max_lr"] == {"adadelta": 1.0, "rprop": 1e-2}.get(name, 3e-3)  # the peak


def test_train_refuses_weight_decay_for_rprop(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train("--optimizer", "rprop", "--weight-decay", "0.01", "--out", out) == 2
    assert "optimizer 'rprop' takes no weight decay" in capsys.readouterr().err


def test_train_with_mixup_cutmix_and_label_smoothing(tmp_path, capsys):
    out = tmp_path / "mix"
    args = ("--epochs", "1", "--limit", "256", "--mixup", "0.2", "--cutmix", "1.0",
            "--label-smoothing", "0.1", "--out", str(out))  # fmt: skip
    assert train(*args) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["mixup"], config["cutmix"], config["label_smoothing"]) == (0.2, 1.0, 0.1)
    history = History.from_json(out / "history.json")
    assert "train_acc" in history.keys()  # read against the soft labels' likeliest class
    capsys.readouterr()
    seg = ("--model", "small_fcn", "--dataset", "shapes-seg", "--epochs", "1", "--mixup", "0.2")
    assert train(*seg, "--out", str(tmp_path / "seg")) == 2
    assert "need a classification dataset" in capsys.readouterr().err
    assert not (tmp_path / "seg").exists()  # refused before any data was read
    with pytest.raises(SystemExit):
        train("--label-smoothing", "1.5", "--out", str(tmp_path / "x"))
    assert "must be in [0, 1]" in capsys.readouterr().err
