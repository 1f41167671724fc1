"""fit(): history contents against independent evaluation, checkpoints every epoch, resume giving
bit-identical weights to an uninterrupted run (tiny MLP with dropout, tiny CNN with BatchNorm,
shuffling and augmentation), the non-finite loss error, gradient clipping, host reads per
log interval."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv import layers as nn
from minitorch_cv import optim
from minitorch_cv.data import DataLoader, Shapes, ShapesSegmentation
from minitorch_cv.data import transforms as T
from minitorch_cv.train import (
    EarlyStopping,
    History,
    LambdaCallback,
    MeanIoU,
    NonFiniteLossError,
    evaluate,
    fit,
    load_checkpoint,
)
from minitorch_cv.train import trainer as trainer_mod

TRAIN = Shapes("train", n=96, image_size=8, seed=3)
VAL = Shapes("val", n=40, image_size=8, seed=3)


def tiny_mlp(seed=0, p=0.3):
    mt.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16), nn.ReLU(), nn.Dropout(p),
                         nn.Linear(16, 3))  # fmt: skip


def tiny_cnn(seed=0):
    mt.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Dropout(0.2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3),
    )  # fmt: skip


def cnn_32px(seed=0):
    """Convolutions on 32x32 inputs in batches of 32: big enough that the CPU kernels split each
    batch into several chunks (spread over threads), which must not change a single bit."""
    mt.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(4),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(8), nn.Flatten(), nn.Linear(8, 3),
    )  # fmt: skip


def state_arrays(model) -> dict:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


def assert_bit_identical(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), f"{k} differs"


# --------------------------------------------------------------------------- history


def test_history_matches_independent_evaluation(tmp_path):
    model = tiny_mlp(p=0.0)  # no dropout: train mode computes what eval mode computes
    opt = optim.SGD(model.parameters(), lr=0.0)  # weights never move
    train = DataLoader(TRAIN, batch_size=32, shuffle=True, seed=0)
    val = DataLoader(VAL, batch_size=16)
    history = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=3, progress=False)

    assert isinstance(history, History) and len(history) == 3
    assert history.keys() == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    ]
    assert history.column("epoch") == [1, 2, 3] and history.column("lr") == [0.0] * 3
    assert all(s > 0 for s in history.column("seconds"))
    ref_train = evaluate(model, nn.CrossEntropyLoss(), DataLoader(TRAIN, batch_size=96))
    ref_val = evaluate(model, nn.CrossEntropyLoss(), DataLoader(VAL, batch_size=40))
    with mt.no_grad():
        logits = model(mt.tensor(VAL.images)).numpy()
    for row in history:
        assert row["train_loss"] == pytest.approx(ref_train["loss"], rel=1e-5)
        assert row["train_acc"] == pytest.approx(ref_train["acc"])
        assert row["val_loss"] == pytest.approx(ref_val["loss"], rel=1e-5)
        assert row["val_acc"] == (logits.argmax(1) == VAL.targets).mean()
    assert history.best_epoch() == 1  # equal val losses: the earliest epoch wins

    history.to_csv(tmp_path / "h.csv")
    history.to_json(tmp_path / "h.json")
    rows = list(csv.DictReader(open(tmp_path / "h.csv")))
    assert [float(r["train_loss"]) for r in rows] == history.column("train_loss")
    back = History.from_json(tmp_path / "h.json")
    assert back == history


def test_segmentation_history_has_pixel_accuracy_and_mean_iou():
    class PixelLinear(nn.Module):
        """A 1x1 convolution written with Linear: scores (N, K, H, W)."""

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 4)

        def forward(self, x):
            return self.fc(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    mt.manual_seed(0)
    train = ShapesSegmentation("train", n=24, image_size=8)
    val = ShapesSegmentation("val", n=12, image_size=8)
    val.targets[:, 0, 0] = 255  # void pixels are left out of the metrics
    model = PixelLinear()
    history = fit(model, nn.CrossEntropyLoss(ignore_index=255), optim.Adam(model.parameters()),
                  DataLoader(train, 8, shuffle=True, seed=0), DataLoader(val, 5), epochs=2,
                  progress=False)  # fmt: skip
    assert {"train_pixel_acc", "train_miou", "val_pixel_acc", "val_miou"} <= set(history.keys())
    with mt.no_grad():
        pred = model(mt.tensor(val.images)).numpy().argmax(1)
    keep = val.targets != 255
    assert history[-1]["val_pixel_acc"] == pytest.approx((pred == val.targets)[keep].mean())
    ref = MeanIoU(4)
    ref.update(pred, val.targets)
    assert history[-1]["val_miou"] == pytest.approx(ref.compute())


class TwoHeads(nn.Module):
    """torchvision's segmentation-model interface: a dict with 'out' and 'aux' score maps."""

    def __init__(self, keys=("out", "aux")):
        super().__init__()
        self.keys = keys
        self.heads = nn.ModuleList(nn.Linear(3, 4) for _ in keys)

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        return {k: h(x).permute(0, 3, 1, 2) for k, h in zip(self.keys, self.heads)}


@pytest.mark.parametrize("aux_weight", [0.5, 0.0, 2.0])
def test_dict_output_trains_on_out_plus_weighted_aux_and_is_scored_on_out(aux_weight):
    mt.manual_seed(0)
    train = ShapesSegmentation("train", n=12, image_size=8)
    val = ShapesSegmentation("val", n=6, image_size=8)
    model = TwoHeads()
    loss_fn = nn.CrossEntropyLoss()
    history = fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.0),  # weights never move
                  DataLoader(train, 12), DataLoader(val, 6), epochs=1, progress=False,
                  aux_weight=aux_weight)  # fmt: skip
    with mt.no_grad():
        t, v = model(mt.tensor(train.images)), model(mt.tensor(val.images))
        ty, vy = mt.tensor(train.targets), mt.tensor(val.targets)
        want_train = loss_fn(t["out"], ty).item() + aux_weight * loss_fn(t["aux"], ty).item()
        want_val = loss_fn(v["out"], vy).item()  # validation: the main head alone
    row = history[-1]
    assert row["train_loss"] == pytest.approx(want_train, rel=1e-5)
    assert row["val_loss"] == pytest.approx(want_val, rel=1e-5)
    pred = v["out"].numpy().argmax(1)
    assert row["val_pixel_acc"] == pytest.approx((pred == val.targets).mean())


def test_dict_output_without_out_is_refused():
    train = ShapesSegmentation("train", n=4, image_size=8)
    model = TwoHeads(keys=("logits",))
    with pytest.raises(ValueError, match=r"keys \['logits'\].*'out'"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(train, 4), epochs=1, progress=False)  # fmt: skip


def test_checkpoints_every_epoch_best_is_the_best_epoch(tmp_path):
    model = tiny_mlp()
    weights = {}
    record = LambdaCallback(
        on_epoch_end=lambda e, logs: weights.__setitem__(e, state_arrays(model))
    )
    history = fit(model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.02),
                  DataLoader(TRAIN, 32, shuffle=True, seed=0), DataLoader(VAL, 40), epochs=4,
                  callbacks=[record], checkpoint_dir=tmp_path, progress=False)  # fmt: skip
    last, best = load_checkpoint(tmp_path / "last.npz"), load_checkpoint(tmp_path / "best.npz")
    assert last["epoch"] == 4 and len(last["history"]) == 4
    assert_bit_identical(last["model"], weights[4])
    b = history.best_epoch("val_loss")
    assert best["epoch"] == b and best["meta"]["best_epoch"] == b
    assert_bit_identical(best["model"], weights[b])


# --------------------------------------------------------------------------- resume


class CrashingLoader(DataLoader):
    """A DataLoader that raises KeyboardInterrupt at one batch of one epoch (a killed run)."""

    crash_at = (3, 2)  # (epoch, batch), both 1-based

    def __iter__(self):
        epoch = self.epoch + 1
        for b, batch in enumerate(super().__iter__(), 1):
            if (epoch, b) == self.crash_at:
                raise KeyboardInterrupt("simulated crash")
            yield batch


TRAIN_32 = Shapes("train", n=96, image_size=32, seed=3)
VAL_32 = Shapes("val", n=32, image_size=32, seed=3)


def make_run(build, seed=0, loader_seed=7, loader_cls=DataLoader):
    model = build(seed)
    opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5)
    big = build is cnn_32px
    side, batch = (32, 32) if big else (8, 16)
    aug = T.Compose([T.RandomHorizontalFlip(), T.RandomCrop(side, padding=1)])
    train = loader_cls(TRAIN_32 if big else TRAIN, batch_size=batch, shuffle=True,
                       seed=loader_seed, transform=aug)  # fmt: skip
    val = DataLoader(VAL_32 if big else VAL, batch_size=batch)
    return model, opt, sched, train, val, [EarlyStopping(patience=10)]


def run(parts, epochs, folder, resume=False):
    model, opt, sched, train, val, cbs = parts
    return fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=epochs, scheduler=sched,
               callbacks=cbs, checkpoint_dir=folder, resume=resume, progress=False)  # fmt: skip


def compare_runs(a_parts, a_hist, b_parts, b_hist):
    assert_bit_identical(state_arrays(a_parts[0]), state_arrays(b_parts[0]))
    sa, sb = a_parts[1].state_dict(), b_parts[1].state_dict()
    for i in sa["state"]:
        for k in ("exp_avg", "exp_avg_sq"):
            assert np.array_equal(sa["state"][i][k], sb["state"][i][k])
    assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"]
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(a_hist) == strip(b_hist)


BUILDS = pytest.mark.parametrize(
    "build", [tiny_mlp, tiny_cnn, cnn_32px], ids=["mlp-dropout", "cnn-bn-dropout", "cnn-32px"]
)


@BUILDS
def test_resume_after_a_stop_between_epochs_is_bit_identical(tmp_path, build):
    whole = make_run(build)
    h_whole = run(whole, 5, tmp_path / "whole")

    first = make_run(build)
    run(first, 2, tmp_path / "split")
    # a new process: other initial weights, another loader seed, another global RNG state
    again = make_run(build, seed=1, loader_seed=99)
    mt.manual_seed(12345)
    h_again = run(again, 5, tmp_path / "split", resume=True)
    compare_runs(whole, h_whole, again, h_again)
    assert_bit_identical(load_checkpoint(tmp_path / "whole" / "best.npz")["model"],
                         load_checkpoint(tmp_path / "split" / "best.npz")["model"])  # fmt: skip


@BUILDS
def test_resume_after_a_crash_mid_epoch_is_bit_identical(tmp_path, build):
    whole = make_run(build)
    h_whole = run(whole, 5, tmp_path / "whole")

    crashing = make_run(build, loader_cls=CrashingLoader)
    with pytest.raises(KeyboardInterrupt):
        run(crashing, 5, tmp_path / "crash")
    assert load_checkpoint(tmp_path / "crash" / "last.npz")["epoch"] == 2
    again = make_run(build, seed=3, loader_seed=5)
    h_again = run(again, 5, tmp_path / "crash", resume=True)
    compare_runs(whole, h_whole, again, h_again)


def test_resume_without_a_checkpoint_starts_fresh_and_a_finished_run_stays_finished(tmp_path):
    parts = make_run(tiny_mlp)
    h = run(parts, 2, tmp_path, resume=True)  # nothing to resume yet
    assert h.column("epoch") == [1, 2]
    again = make_run(tiny_mlp, seed=4)
    h2 = run(again, 2, tmp_path, resume=True)  # already at epoch 2 of 2: nothing to do
    assert h2 == h
    assert_bit_identical(state_arrays(again[0]), state_arrays(parts[0]))
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        run(make_run(tiny_mlp), 2, None, resume=True)


def test_extending_a_cosine_run_stretches_the_curve_to_the_new_end(tmp_path):
    """A run planned for 2 epochs (cosine, T_max=2), resumed to 4 with a scheduler built for
    4: epochs 3-4 train at the T_max=4 curve's lrs (lr/2, then lr(1 + cos(3 pi / 4))/2), not
    at the old curve's bottom (0) and climb. The same T_max resumes exactly (tests above)."""
    model, opt, _, train, val, _ = make_run(tiny_mlp)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=2, scheduler=sched,
        checkpoint_dir=tmp_path, progress=False)  # fmt: skip
    model, opt, _, train, val, _ = make_run(tiny_mlp)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    h = fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=4, scheduler=sched,
            checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    base = 0.01
    assert h.column("lr")[:2] == pytest.approx([base, base / 2])  # the first part: T_max=2
    stretched = [base / 2, base * (1 + np.cos(3 * np.pi / 4)) / 2]
    assert h.column("lr")[2:] == pytest.approx(stretched, rel=1e-12)
    assert sched.T_max == 4 and opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-15)
    # a shorter plan than the checkpoint's is not a stretch: the checkpoint's T_max stands
    model, opt, _, train, val, _ = make_run(tiny_mlp)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    fit(model, nn.CrossEntropyLoss(), opt, train, val, epochs=5, scheduler=sched,
        checkpoint_dir=tmp_path, resume=True, progress=False)  # fmt: skip
    assert sched.T_max == 4


# --------------------------------------------------------------------------- non-finite loss


class NanAt:
    """Cross-entropy, except that training call number `at` returns nan; records the losses."""

    def __init__(self, model, at):
        self.model, self.at, self.calls, self.seen = model, at, 0, []

    def __call__(self, out, y):
        loss = F.cross_entropy(out, y)
        if self.model.training:
            self.calls += 1
            if self.calls >= self.at:  # from there on the run is poisoned
                loss = loss * float("nan")
            self.seen.append(float(loss.item()))
        return loss


@pytest.mark.parametrize("log_interval", [1, 2, 10])
def test_non_finite_loss_names_epoch_batch_and_last_finite_loss(tmp_path, log_interval):
    model = tiny_mlp()
    loss_fn = NanAt(model, at=6 + 3)  # 6 batches per epoch: epoch 2, batch 3
    with pytest.raises(NonFiniteLossError) as e:
        fit(model, loss_fn, optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TRAIN, 16, shuffle=True, seed=0), DataLoader(VAL, 40), epochs=3,
            checkpoint_dir=tmp_path, progress=False, log_interval=log_interval)  # fmt: skip
    err = e.value
    last = loss_fn.seen[6 + 1]
    assert (err.epoch, err.batch, err.last_finite_loss) == (2, 3, pytest.approx(last))
    msg = str(err)
    assert "non-finite training loss nan at epoch 2, batch 3" in msg
    assert f"last finite loss {last:.6g} at batch 2" in msg
    assert f"the last good checkpoint {tmp_path / 'last.npz'} is intact" in msg
    ck = load_checkpoint(tmp_path / "last.npz")
    assert ck["epoch"] == 1 and all(np.isfinite(v).all() for v in ck["model"].values())


def test_non_finite_loss_in_the_first_batch():
    model = tiny_mlp()
    with pytest.raises(NonFiniteLossError, match="epoch 1, batch 1; no finite loss before it"):
        fit(model, NanAt(model, at=1), optim.SGD(model.parameters(), lr=0.1),
            DataLoader(TRAIN, 16), epochs=1, progress=False)  # fmt: skip


# --------------------------------------------------------------------------- the loop's parts


def test_losses_are_read_back_once_per_log_interval(monkeypatch):
    reads = []
    real = trainer_mod.to_device

    def counting(a, dev):
        if str(dev) == "cpu":
            reads.append(getattr(a, "shape", None))
        return real(a, dev)

    monkeypatch.setattr(trainer_mod, "to_device", counting)
    model = tiny_mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(TRAIN, 8),
        DataLoader(VAL, 40), epochs=2, progress=False, log_interval=5)  # fmt: skip
    # 12 batches per epoch: reads after batches 5, 10 and the 2 left; 1 for the validation loss
    assert reads == [(5,), (5,), (2,), ()] * 2


def test_grad_clip_bounds_each_step():
    model = tiny_mlp(p=0.0)
    before = np.concatenate([p.numpy().ravel().copy() for p in model.parameters()])
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=1.0),
        DataLoader(TRAIN, 96), epochs=1, grad_clip=1e-3, progress=False)  # fmt: skip
    after = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(after - before) <= 1e-3 * (1 + 1e-5)  # one SGD step of a clipped grad
    assert np.linalg.norm(after - before) > 1e-4


def test_bad_arguments():
    model = tiny_mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="epochs must be an int >= 0"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TRAIN, 8), epochs=-1)
    with pytest.raises(ValueError, match="log_interval must be an int >= 1"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TRAIN, 8), log_interval=0)
    with pytest.raises(ValueError, match="grad_clip must be a positive max norm"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(TRAIN, 8), grad_clip=-1.0)


def test_quiet_fit_prints_nothing(capsys):
    model = tiny_mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(TRAIN, 32),
        DataLoader(VAL, 40), epochs=1, progress=False, device="cpu")  # fmt: skip
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_bar_shows_loss_and_throughput(capsys):
    model = tiny_mlp()
    fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(TRAIN, 8),
        DataLoader(VAL, 40), epochs=1, progress=True, log_interval=2)  # fmt: skip
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "img/s" in err and "val_loss" in err
