"""The `.pth` reader (no torch needed, nothing but tensors unpickled) and `.npz` state dicts.

The tests write torch's file layouts themselves, opcode by opcode, so they run without torch;
where torch is installed, torch.load reads the same files (the writer is right) and files from
torch.save read back equal (the reader is right).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

from minitorch_cv import models
from minitorch_cv.models.weights import (
    UnsafePickleError,
    WeightsFormatError,
    load_npz,
    load_pth,
    load_state_dict_file,
    load_weights,
    save_npz,
)

STORAGE = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
}


# ------------------------------------------------------------------ a writer of torch's format


def p_str(s: str) -> bytes:  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def p_int(i: int) -> bytes:  # BININT (4-byte signed)
    return b"J" + struct.pack("<i", i)


def p_tuple(*items: bytes) -> bytes:  # MARK ... TUPLE
    return b"(" + b"".join(items) + b"t"


def p_global(module: str, name: str) -> bytes:  # GLOBAL
    return b"c" + f"{module}\n{name}\n".encode()


def p_tensor(storage_key: str, storage_type: str, numel: int, offset: int, shape, strides,
             legacy: bool = False) -> bytes:  # fmt: skip
    """_rebuild_tensor_v2(<persistent storage>, offset, size, stride, False, OrderedDict())."""
    pid = [p_str("storage"), p_global("torch", storage_type), p_str(storage_key), p_str("cpu"),
           p_int(numel)] + ([b"N"] if legacy else [])  # fmt: skip
    args = p_tuple(
        p_tuple(*pid) + b"Q",  # BINPERSID: the storage comes from persistent_load
        p_int(offset),
        p_tuple(*map(p_int, shape)),
        p_tuple(*map(p_int, strides)),
        b"\x89",  # NEWFALSE: requires_grad
        p_global("collections", "OrderedDict") + b")R",  # backward hooks: OrderedDict()
    )
    return p_global("torch._utils", "_rebuild_tensor_v2") + args + b"R"


def pickle_state_dict(tensors, legacy=False) -> bytes:
    """tensors: name -> (storage_key, storage_type, numel, offset, shape, strides)."""
    out = b"\x80\x02" + p_global("collections", "OrderedDict") + b")R("
    for name, spec in tensors.items():
        out += p_str(name) + p_tensor(*spec, legacy=legacy)
    return out + b"u."


def write_torch_zip(path, state: dict, prefix: str = "archive") -> None:
    """torch.save's zip layout for a dict of contiguous NumPy arrays, one storage each."""
    specs, blobs = OrderedDict(), {}
    for i, (name, a) in enumerate(state.items()):
        a = np.array(a, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        strides = [s // a.itemsize for s in a.strides]
        specs[name] = (str(i), STORAGE[a.dtype], a.size, 0, a.shape, strides)
        blobs[str(i)] = a.astype(a.dtype.newbyteorder("<")).tobytes()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{prefix}/data.pkl", pickle_state_dict(specs))
        zf.writestr(f"{prefix}/byteorder", "little")
        for key, blob in blobs.items():
            zf.writestr(f"{prefix}/data/{key}", blob)
        zf.writestr(f"{prefix}/version", "3\n")


def write_torch_legacy(path, state: dict) -> None:
    """torch.save(..., _use_new_zipfile_serialization=False): a stream of pickles + raw data."""
    specs, keys, blobs = OrderedDict(), [], []
    for i, (name, a) in enumerate(state.items()):
        a = np.array(a, order="C")  # (ascontiguousarray would make 0-d arrays 1-d)
        key = str(1000 + i)
        specs[name] = (
            key,
            STORAGE[a.dtype],
            a.size,
            0,
            a.shape,
            [s // a.itemsize for s in a.strides],
        )
        keys.append(key)
        blobs.append(struct.pack("<q", a.size) + a.tobytes())
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
        f.write(pickle.dumps(info, protocol=2))
        f.write(pickle_state_dict(specs, legacy=True))
        f.write(pickle.dumps(keys, protocol=2))
        for b in blobs:
            f.write(b)


def sample_state():
    rng = np.random.default_rng(0)
    return OrderedDict(
        [
            ("conv1.weight", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
            ("bn1.running_var", rng.random(4).astype(np.float32)),
            ("bn1.num_batches_tracked", np.array(7, dtype=np.int64)),
            ("fc.weight", rng.standard_normal((2, 5))),  # float64
            ("half", rng.standard_normal(6).astype(np.float16)),
            ("mask", np.array([True, False, True])),
            ("empty", np.zeros((0, 3), np.float32)),
        ]
    )


def assert_same_state(got, want):
    assert list(got) == list(want)
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert got[k].shape == want[k].shape, k
        np.testing.assert_array_equal(got[k], want[k])


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("prefix", ["archive", "resnet18-f37072fd"])
def test_zip_pth_round_trips_a_state_dict_written_by_the_test(tmp_path, prefix):
    state = sample_state()
    path = tmp_path / "w.pth"
    write_torch_zip(path, state, prefix)
    assert_same_state(load_pth(path), state)


def test_legacy_stream_pth_round_trips(tmp_path):
    state = sample_state()
    path = tmp_path / "old.pth"
    write_torch_legacy(path, state)
    assert_same_state(load_pth(path), state)


def test_strided_views_share_one_storage(tmp_path):
    base = np.arange(12, dtype=np.float32)
    specs = OrderedDict(
        t=("0", "FloatStorage", 12, 0, (4, 3), (1, 4)),  # a transposed (3, 4)
        tail=("0", "FloatStorage", 12, 5, (2, 2), (3, 1)),  # offset 5, row stride 3
    )
    path = tmp_path / "v.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle_state_dict(specs))
        zf.writestr("archive/data/0", base.tobytes())
    got = load_pth(path)
    np.testing.assert_array_equal(got["t"], base.reshape(3, 4).T)
    np.testing.assert_array_equal(got["tail"], [[5, 6], [8, 9]])


def test_a_view_reaching_past_its_storage_is_refused(tmp_path):
    specs = OrderedDict(t=("0", "FloatStorage", 4, 2, (3,), (1,)))  # elements 2, 3, 4 of 4
    path = tmp_path / "oob.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle_state_dict(specs))
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())
    with pytest.raises(WeightsFormatError, match="reaches element 4 of a storage of 4"):
        load_pth(path)


def test_truncated_storage_is_refused(tmp_path):
    specs = OrderedDict(t=("0", "FloatStorage", 4, 0, (4,), (1,)))
    path = tmp_path / "short.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle_state_dict(specs))
        zf.writestr("archive/data/0", b"\0" * 10)
    with pytest.raises(WeightsFormatError, match="10 bytes, expected 16"):
        load_pth(path)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"hello, not a pickle at all")
    with pytest.raises(WeightsFormatError):
        load_pth(path)
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(WeightsFormatError, match="not a torch .pth file"):
        load_pth(plain)


def test_npz_round_trip_of_a_module(tmp_path):
    model = models.get("e1")
    path = save_npz(model, tmp_path / "e1")
    assert path.name == "e1.npz"
    loaded = load_npz(path)
    assert list(loaded) == list(model.state_dict())
    fresh = models.get("e1")
    load_weights(fresh, path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k].numpy(), v.numpy())


# ------------------------------------------------------------------ refusing what is not a tensor


class Evil:
    """Unpickling this runs a shell command that would create `marker`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def zip_with_pickle(path, data: bytes):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/data/0", np.zeros(4, np.float32).tobytes())


@pytest.mark.parametrize("protocol", [2, 4])  # 2 uses GLOBAL, 4 uses STACK_GLOBAL
def test_a_pickle_calling_os_system_is_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    zip_with_pickle(path, pickle.dumps({"w": Evil(marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refusing.*(posix|os)\.system.*Nothing"):
        load_pth(path)
    assert not marker.exists()


def test_evil_global_after_real_tensors_refuses_the_whole_file(tmp_path):
    marker = tmp_path / "pwned"
    specs = OrderedDict(t=("0", "FloatStorage", 4, 0, (4,), (1,)))
    good = pickle_state_dict(specs)[:-2]  # drop SETITEMS + STOP, add one more entry
    evil = p_str("x") + p_global("os", "system") + p_tuple(p_str(f"touch {marker}")) + b"R"
    path = tmp_path / "mixed.pth"
    zip_with_pickle(path, good + evil + b"u.")
    with pytest.raises(UnsafePickleError, match="'os.system'"):
        load_pth(path)
    assert not marker.exists()


def test_legacy_stream_with_an_evil_global_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil_old.pth"
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"little_endian": True}, protocol=2))
        f.write(pickle.dumps(Evil(marker), protocol=2))
        f.write(pickle.dumps([], protocol=2))
    with pytest.raises(UnsafePickleError):
        load_pth(path)
    assert not marker.exists()


def test_builtins_and_foreign_persistent_ids_are_refused(tmp_path):
    path = tmp_path / "eval.pth"
    zip_with_pickle(
        path, b"\x80\x02" + p_global("builtins", "eval") + p_tuple(p_str("1+1")) + b"R."
    )
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        load_pth(path)
    path2 = tmp_path / "pid.pth"
    zip_with_pickle(path2, b"\x80\x02" + p_tuple(p_str("module"), p_str("x")) + b"Q.")
    with pytest.raises(UnsafePickleError, match="persistent id"):
        load_pth(path2)


# ------------------------------------------------------------------ loading into a model


def test_load_weights_names_the_first_mismatched_key(tmp_path):
    path = save_npz(models.get("e1"), tmp_path / "e1.npz")
    # e2's features.2 is its second conv; in e1 that index is a MaxPool2d (no weight)
    with pytest.raises(ValueError, match="ImprovedCNN expects key 'features.2.weight', missing"):
        load_weights(models.get("e2"), path)
    with pytest.raises(ValueError, match=r"'classifier.3.weight' has shape \(5, 64\) in the model"):
        load_weights(models.get("e1", num_classes=5), path)
    sd = OrderedDict(models.get("e1").state_dict())
    sd.pop("classifier.1.bias")
    with pytest.raises(ValueError, match="expects key 'classifier.1.bias', missing"):
        load_weights(models.get("e1"), sd)
    sd = OrderedDict(models.get("e1").state_dict())
    sd["extra.weight"] = np.zeros(3)
    with pytest.raises(ValueError, match="has key 'extra.weight'.*1 unexpected"):
        load_weights(models.get("e1"), sd)


def test_resnet18_from_a_torchvision_style_zip_without_num_batches_tracked(tmp_path):
    src = models.resnet18()
    state = OrderedDict(
        (k, v.numpy().copy()) for k, v in src.state_dict().items() if "num_batches" not in k
    )
    path = tmp_path / "resnet18-f37072fd.pth"
    write_torch_zip(path, state, prefix="resnet18-f37072fd")
    model = models.resnet18(weights=path)
    for k, v in state.items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v)
    # with a new head, the file's fc is skipped and the head keeps its own shape
    ten = models.resnet18(num_classes=10, weights=path)
    assert ten.fc.weight.shape == (10, 512)
    np.testing.assert_array_equal(ten.conv1.weight.numpy(), state["conv1.weight"])
    fcn = models.ResNetFCN(weights=path)
    np.testing.assert_array_equal(
        fcn.encoder.layer4[1].bn2.weight.numpy(), state["layer4.1.bn2.weight"]
    )


def test_checkpoint_wrappers_are_unwrapped(tmp_path):
    state = OrderedDict(w=np.ones(3, np.float32))
    path = tmp_path / "ckpt.pth"
    specs = OrderedDict(w=("0", "FloatStorage", 3, 0, (3,), (1,)))
    inner = pickle_state_dict(specs)[2:-1]  # the OrderedDict, without PROTO and STOP
    data = b"\x80\x02}(" + p_str("epoch") + p_int(3) + p_str("state_dict") + inner + b"u."
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data)
        zf.writestr("archive/data/0", state["w"].tobytes())
    np.testing.assert_array_equal(load_state_dict_file(path)["w"], state["w"])


# ------------------------------------------------------------------ parity with torch itself


def test_torch_reads_the_files_this_test_writes(tmp_path):
    torch = pytest.importorskip("torch")
    state = sample_state()
    for writer in (write_torch_zip, write_torch_legacy):
        path = tmp_path / f"{writer.__name__}.pth"
        writer(path, state)
        got = torch.load(path, weights_only=True)
        for k, v in state.items():
            np.testing.assert_array_equal(got[k].numpy(), v)


@pytest.mark.parametrize("zip_format", [True, False])
def test_real_torch_save_of_torchvision_keys_loads_equal(tmp_path, zip_format):
    torch = pytest.importorskip("torch")
    src = models.resnet18(num_classes=10)
    state = OrderedDict(
        (k, torch.from_numpy(v.numpy().copy())) for k, v in src.state_dict().items()
    )
    state["extra.t"] = torch.arange(12.0).reshape(3, 4).t()  # non-contiguous
    state["extra.h"] = torch.arange(10, dtype=torch.float16)[3:7]  # offset into a storage
    state["extra.b"] = torch.tensor([1.5, -2.25], dtype=torch.bfloat16)
    path = tmp_path / "r.pth"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    got = load_pth(path)
    for k, v in state.items():
        want = v.float().numpy() if v.dtype == torch.bfloat16 else v.numpy()
        np.testing.assert_array_equal(got[k], want)
    model = models.resnet18(num_classes=10)
    load_weights(model, path, strict=False)
    for k, v in src.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy())


def test_real_torch_save_of_a_parameter_and_nested_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.ones(2, 2))
    path = tmp_path / "p.pth"
    torch.save({"model": {"w": p}, "epoch": 1}, path)
    np.testing.assert_array_equal(load_state_dict_file(path)["w"], np.ones((2, 2), np.float32))


def test_load_pth_stays_safe_on_a_real_torch_file_with_code(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "module.pth"
    torch.save(torch.nn.Linear(2, 2), path)  # a whole nn.Module pickles its class
    with pytest.raises(UnsafePickleError, match="torch.nn"):
        load_pth(path)


def test_in_memory_bytes_are_not_paths():
    with pytest.raises(TypeError):
        load_weights(models.get("e1"), io.BytesIO(b""))
