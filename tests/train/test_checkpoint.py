"""Checkpoints: a full round trip without pickle, atomic writes (a crash mid-write leaves the
previous file valid), clear errors for corrupt / truncated files and for another model's weights."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import layers as nn
from minitorch_cv import optim
from minitorch_cv.tensor import Tensor, default_rng
from minitorch_cv.train import (
    CheckpointError,
    EarlyStopping,
    History,
    load_checkpoint,
    load_model_state,
    restore_checkpoint,
    save_checkpoint,
)
from minitorch_cv.train import checkpoint as ckpt_mod


def mlp(hidden=8, seed=0):
    mt.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(4, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, 3)
    )


def trained_state(seed=0):
    """A model, an Adam with state, a scheduler and an early-stopping callback after 3 steps."""
    model = mlp(seed=seed)
    opt = optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.9))
    sched = optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 2, 5], gamma=0.5)
    x = Tensor(np.random.default_rng(seed).normal(size=(6, 4)).astype(np.float32))
    y = Tensor(np.array([0, 1, 2, 0, 1, 2]))
    for _ in range(3):
        loss = mt.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    stop = EarlyStopping(patience=3)
    stop.set_context(model=model)
    stop.on_epoch_end(1, {"val_loss": 0.5})
    stop.on_epoch_end(2, {"val_loss": 0.7})
    return model, opt, sched, stop


def arrays_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a
    )


def test_round_trip_restores_every_piece(tmp_path):
    model, opt, sched, stop = trained_state()
    history = History(
        [
            {"epoch": 1, "train_loss": 1.5, "val_loss": 0.5, "lr": 0.01},
            {"epoch": 2, "train_loss": 1.0, "val_loss": float("inf"), "lr": 0.005},
        ]
    )
    plateau = optim.lr_scheduler.ReduceLROnPlateau(opt)  # its initial best is inf
    mt.manual_seed(123)
    default_rng().random(5)
    path = save_checkpoint(
        tmp_path / "c.npz",
        model,
        opt,
        sched,
        epoch=2,
        history=history,
        callbacks=[stop],
        meta={"model": "mlp", "plateau": plateau.state_dict()},
    )
    expected_draws = default_rng().random(4)

    # no pickle anywhere, and the weights are plain named entries
    with np.load(path, allow_pickle=False) as z:
        np.testing.assert_array_equal(z["model/0.weight"], model[0].weight.numpy())
        assert "optimizer/state/0/exp_avg" in z.files

    model2, opt2, sched2, stop2 = trained_state(seed=5)  # other weights and states
    mt.manual_seed(999)
    ck = restore_checkpoint(path, model2, opt2, sched2, callbacks=[stop2])
    assert arrays_equal(
        {k: v.numpy() for k, v in model.state_dict().items()},
        {k: v.numpy() for k, v in model2.state_dict().items()},
    )
    np.testing.assert_array_equal(default_rng().random(4), expected_draws)  # RNG restored
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"] and s2["param_groups"][0]["betas"] == (0.8, 0.9)
    for i in s1["state"]:
        assert s1["state"][i]["step"] == s2["state"][i]["step"] == 3
        assert arrays_equal(
            {k: v for k, v in s1["state"][i].items() if k != "step"},
            {k: v for k, v in s2["state"][i].items() if k != "step"},
        )
    assert sched2.milestones == sched.milestones and sched2.last_epoch == 3  # a Counter again
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert (stop2.best, stop2.best_epoch, stop2.wait) == (0.5, 1, 1)
    assert arrays_equal(
        stop2.best_weights, {k: np.asarray(v) for k, v in stop.best_weights.items()}
    )
    assert ck["epoch"] == 2 and isinstance(ck["history"], History)
    assert ck["history"][1]["val_loss"] == float("inf")
    assert ck["meta"]["plateau"]["best"] == float("inf")


def test_a_crash_mid_write_leaves_the_previous_file_valid(tmp_path, monkeypatch):
    model, opt, sched, _ = trained_state()
    path = save_checkpoint(tmp_path / "last.npz", model, opt, epoch=1)
    before = path.read_bytes()

    def half_written_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt_mod.np, "savez", half_written_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.npz"]  # the temporary file is gone


def test_a_crash_before_the_rename_leaves_the_previous_file_valid(tmp_path, monkeypatch):
    model, opt, _, _ = trained_state()
    path = save_checkpoint(tmp_path / "last.npz", model, opt, epoch=1)

    def crash(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt_mod.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, model, opt, epoch=2)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["last.npz"]


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    model, opt, _, _ = trained_state()
    path = save_checkpoint(tmp_path / "c.npz", model, opt, epoch=1)
    data = path.read_bytes()
    for cut in (len(data) // 2, 100, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match=r"c\.npz is corrupt or truncated"):
            load_checkpoint(path)


def test_damaged_checkpoint_is_a_clear_error(tmp_path):
    model, opt, _, _ = trained_state()
    path = save_checkpoint(tmp_path / "c.npz", model, opt, epoch=1)
    # flip bytes inside the stored weights: the zip CRC check catches it
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model/0.weight.npy")
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 128
    data[start : start + 8] = bytes(8)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)
    path.write_bytes(b"this is not a zip file at all")
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(path)


def test_other_npz_files_and_missing_files(tmp_path):
    np.savez(tmp_path / "weights.npz", w=np.ones(3))
    with pytest.raises(CheckpointError, match="not a minitorch_cv checkpoint"):
        load_checkpoint(tmp_path / "weights.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.npz")


def test_checkpoint_of_another_model_names_first_key_and_shapes(tmp_path):
    path = save_checkpoint(tmp_path / "c.npz", mlp(hidden=8), meta={"model": "mlp-8"})
    other = mlp(hidden=16)
    before = {k: v.numpy().copy() for k, v in other.state_dict().items()}
    with pytest.raises(CheckpointError) as e:
        load_model_state(other, path)
    msg = str(e.value)
    assert "c.npz does not fit Sequential (it was saved from model 'mlp-8')" in msg
    assert "the model's '0.weight' has shape (16, 4), the checkpoint's has shape (8, 4)" in msg
    assert arrays_equal(before, {k: v.numpy() for k, v in other.state_dict().items()})

    conv = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))  # no BatchNorm at index 1
    path2 = save_checkpoint(tmp_path / "d.npz", conv)
    extra = r"the checkpoint's '2.weight' \(shape \(3, 8\)\) is not in the model"
    with pytest.raises(CheckpointError, match=extra):
        load_model_state(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Identity()), path2)
    shifted = (
        r"the model's '1.weight' \(shape \(8,\)\) is not in the checkpoint, which has "
        r"'2.weight' \(shape \(3, 8\)\) in its place"
    )
    with pytest.raises(CheckpointError, match=shifted):
        load_model_state(mlp(hidden=8), path2)


def test_restore_needs_the_same_callbacks(tmp_path):
    model, opt, _, stop = trained_state()
    path = save_checkpoint(tmp_path / "c.npz", model, opt, callbacks=[stop])
    with pytest.raises(CheckpointError, match="state of 1 callback"):
        restore_checkpoint(path, model, opt, callbacks=[])


def test_unsupported_values_are_refused_before_writing(tmp_path):
    model = mlp()
    with pytest.raises(TypeError, match="cannot store a set at 'meta/tags'"):
        save_checkpoint(tmp_path / "c.npz", model, meta={"tags": {"a"}})
    assert not (tmp_path / "c.npz").exists()


def test_mt_save_and_load_round_trip_a_state_dict_without_pickle(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 2))
    mt.save(model.state_dict(), tmp_path / "model.npz")
    sd = mt.load(tmp_path / "model.npz")
    assert list(sd) == list(model.state_dict())
    assert all(isinstance(v, Tensor) for v in sd.values())
    assert sd["1.num_batches_tracked"].dtype == np.int64
    other = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Linear(2, 2))
    other.load_state_dict(sd)
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    # any nesting of plain values survives; the file is a pickle-free npz
    mt.save({"epoch": 3, "best": float("inf"), "lrs": (0.1, [2, "x"])}, tmp_path / "o.npz")
    assert mt.load(tmp_path / "o.npz") == {"epoch": 3, "best": float("inf"), "lrs": (0.1, [2, "x"])}
    np.load(tmp_path / "model.npz", allow_pickle=False).close()
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ckpt_mod.CheckpointError, match="corrupt or truncated"):
        mt.load(tmp_path / "bad.npz")
    with pytest.raises(TypeError, match="cannot store a object"):
        mt.save({"x": object()}, tmp_path / "x.npz")
    import io

    buffer = io.BytesIO()  # file objects too, as torch.save / torch.load
    mt.save(model.state_dict(), buffer)
    buffer.seek(0)
    assert list(mt.load(buffer)) == list(model.state_dict())
