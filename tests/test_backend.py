"""The backend: device strings, the array module of arrays, and a clear error (saying what to
install) when CUDA is asked for without CuPy; importing the package never imports CuPy."""

import subprocess
import sys

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import backend

INSTALL_HINT = "pip install 'minitorch_cv[gpu]'"


@pytest.mark.parametrize(
    "spec, kind, index, text",
    [
        ("cpu", "cpu", None, "cpu"),
        ("cpu:0", "cpu", None, "cpu"),
        ("cuda", "cuda", 0, "cuda:0"),
        ("cuda:1", "cuda", 1, "cuda:1"),
        (" cuda:0 ", "cuda", 0, "cuda:0"),
        (None, "cpu", None, "cpu"),
    ],
)
def test_device_strings_parse_like_torch(spec, kind, index, text):
    d = backend.device(spec)
    assert (d.type, d.index, str(d)) == (kind, index, text)
    assert backend.device(d) is d


def test_devices_compare_with_strings():
    assert backend.device("cuda") == "cuda:0" and backend.device("cpu") == "cpu"
    assert backend.device("cuda:1") != "cuda:0"
    assert hash(backend.device("cuda")) == hash(backend.device("cuda:0"))
    assert repr(backend.device("cuda:1")) == "device(type='cuda', index=1)"


@pytest.mark.parametrize("spec", ["gpu", "cuda:x", "cpu:1", "tpu:0", ""])
def test_unknown_devices_are_rejected(spec):
    with pytest.raises(ValueError, match="unknown device"):
        backend.device(spec)


def test_xp_of_numpy_arrays_and_scalars_is_numpy():
    assert backend.xp_of(np.ones(2), 3.0, None) is np
    assert backend.xp_of() is np
    assert backend.xp_for_device("cpu") is np
    assert backend.device_of(np.ones(2)) == "cpu"


def test_to_device_cpu_is_a_no_op():
    a = np.ones(3)
    assert backend.to_device(a, "cpu") is a
    t = mt.ones(3)
    assert t.to("cpu") is t and t.cpu() is t


@pytest.fixture
def no_cupy(monkeypatch):
    """Make `import cupy` fail, whether or not CuPy is installed here."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setattr(backend, "_cupy", None)


@pytest.mark.parametrize(
    "ask",
    [
        lambda: backend.cupy_module(),
        lambda: mt.zeros(2, 3, device="cuda"),
        lambda: mt.randn(2, device="cuda:0"),
        lambda: mt.tensor([1.0, 2.0], device="cuda"),
        lambda: mt.ones(2).to("cuda"),
        lambda: mt.ones(2).cuda(),
        lambda: mt.arange(3, device="cuda"),
        lambda: mt.full((2,), 1.0, device="cuda"),
        lambda: mt.zeros_like(mt.ones(2), device="cuda"),
    ],
)
def test_cuda_without_cupy_says_what_to_install(no_cupy, ask):
    with pytest.raises(RuntimeError, match="cuda") as err:
        ask()
    assert INSTALL_HINT in str(err.value)


def test_gpu_available_is_false_without_cupy(no_cupy):
    assert backend.gpu_available() is False


def test_importing_the_package_never_imports_cupy():
    code = "import sys, minitorch_cv; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.gpu
@pytest.mark.skipif(not backend.gpu_available(), reason="needs CuPy and a CUDA device")
def test_cuda_round_trip_keeps_values_and_gradients():
    x = mt.randn(3, 4, requires_grad=True)
    y = (x.to("cuda") * 2).sum()
    assert y.device == "cuda"
    y.backward()
    assert x.grad.device == "cpu" and np.allclose(x.grad.numpy(), 2.0)
