"""Training on the GPU follows the CPU: same seed and weights give the same loss curve.

Also: a training step never waits for the GPU (no host round trip), and DataLoader(device=
'cuda') hands out the CPU's batches. Marked `gpu`: skipped unless CuPy sees a CUDA device.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import Tensor
from minitorch_cv import layers as nn
from minitorch_cv.backend import cupy_module, to_device
from minitorch_cv.data import ArrayDataset, DataLoader, Shapes, ShapesSegmentation, transforms
from minitorch_cv.train import fit

pytestmark = pytest.mark.gpu
GPU = "cuda"


def host(a):
    return to_device(a._data if isinstance(a, Tensor) else a, "cpu")


def small_cnn(num_classes, dropout=0.2):
    """Conv, BatchNorm, both poolings, dropout and a linear head: every kind of layer once."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(16 * 8 * 8, num_classes),
    )


def small_segmenter(num_classes):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.ConvTranspose2d(8, 8, 2, stride=2),
        nn.ReLU(),
        nn.Conv2d(8, num_classes, 1),
    )


def _train_steps(model, device, data, steps):
    """`steps` Adam steps on `device` over the loader's batches; the per-step losses."""
    mt.manual_seed(1)  # dropout masks: the same draws on both devices
    m = copy.deepcopy(model).to(device)
    opt = mt.optim.Adam(m.parameters(), lr=2e-3)
    loss_fn = nn.CrossEntropyLoss()
    loader = DataLoader(
        data,
        batch_size=16,
        shuffle=True,
        seed=3,
        device=device,
        transform=transforms.RandomHorizontalFlip(),
    )
    losses = []
    while len(losses) < steps:
        for x, y in loader:
            loss = loss_fn(m(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.detach())  # on the device: read back once, below
            if len(losses) == steps:
                break
    return np.array([float(host(v)) for v in losses]), [host(p) for p in m.parameters()]


def test_training_on_gpu_follows_the_cpu_loss_curve():
    data = Shapes(n=96, image_size=32, seed=0)
    mt.manual_seed(0)
    model = small_cnn(len(data.classes))
    cpu_losses, cpu_params = _train_steps(model, "cpu", data, 15)
    gpu_losses, gpu_params = _train_steps(model, GPU, data, 15)
    assert np.isfinite(cpu_losses).all() and np.ptp(cpu_losses) > 0  # a moving curve
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=2e-3, atol=2e-4)
    for g, c in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(g, c, rtol=1e-2, atol=2e-4 * max(1.0, np.abs(c).max()))


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_fit_on_gpu_gives_the_cpu_history(task):
    if task == "classification":
        data, make = Shapes(n=64, image_size=32, seed=1), small_cnn
    else:
        data, make = ShapesSegmentation(n=32, image_size=16, seed=1), small_segmenter
    mt.manual_seed(0)
    model = make(len(data.classes))
    histories = {}
    for device in ("cpu", GPU):
        mt.manual_seed(5)
        m = copy.deepcopy(model)
        loader = DataLoader(data, batch_size=16, shuffle=True, seed=4, device=device)
        val = DataLoader(data, batch_size=32, device=device)
        opt = mt.optim.AdamW(m.parameters(), lr=1e-3)
        histories[device] = fit(
            m,
            nn.CrossEntropyLoss(),
            opt,
            loader,
            val,
            epochs=2,
            device=device,
            progress=False,
            log_interval=3,
        )
    cpu, gpu = histories["cpu"], histories[GPU]
    for key in cpu.keys():
        if key in ("seconds", "epoch"):
            continue
        want, got = np.asarray(cpu.column(key), float), np.asarray(gpu.column(key), float)
        tol = 2e-3 if "loss" in key else 0.02  # a few argmax flips move an accuracy a little
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=key)


def test_dataloader_on_gpu_gives_the_cpu_batches():
    data = ShapesSegmentation(n=20, image_size=16, seed=2)
    T = transforms
    aug = T.Compose([T.RandomHorizontalFlip(), T.RandomRotation(20), T.RandomVerticalFlip(),
                     T.Pad((1, 2)), T.CenterCrop(16), T.RandomResizedCrop(16, scale=(0.5, 1.0)),
                     T.ColorJitter(0.3, 0.3, 0.3, 0.1), T.RandomErasing(p=0.5),
                     T.RandomGrayscale(0.3), T.RandomApply([T.GaussianBlur(3)], p=0.5),
                     T.RandomAffine(15, (0.1, 0.1), (0.9, 1.1), 5), T.RandAugment(),
                     T.TrivialAugmentWide(), T.RandomEqualize(0.5),
                     T.RandomChoice([T.RandomHorizontalFlip(1.0), T.Lambda(abs)])])  # fmt: skip
    for prefetch in (True, False):
        cpu = DataLoader(data, 6, shuffle=True, seed=7, transform=aug, prefetch=prefetch)
        gpu = DataLoader(data, 6, shuffle=True, seed=7, transform=aug, prefetch=prefetch,
                         device=GPU)  # fmt: skip
        for epoch in range(2):
            pairs = list(zip(cpu, gpu))
            assert len(pairs) == 4, epoch
            for (xc, yc), (xg, yg) in pairs:
                assert xg.device.type == "cuda" and yg.device.type == "cuda"
                np.testing.assert_allclose(host(xg), host(xc), rtol=1e-6, atol=1e-6)
                np.testing.assert_array_equal(host(yg), host(yc))


def test_dataloader_mix_on_gpu_gives_the_cpu_batches():
    rng = np.random.default_rng(0)
    data = ArrayDataset(rng.random((20, 3, 8, 8)).astype(np.float32), rng.integers(0, 5, 20),
                        [str(i) for i in range(5)])  # fmt: skip
    mix = [transforms.MixUp(0.4, num_classes=5), transforms.CutMix(1.0, num_classes=5)]
    cpu = DataLoader(data, 6, shuffle=True, seed=1, mix=mix)
    gpu = DataLoader(data, 6, shuffle=True, seed=1, mix=mix, device=GPU)
    for (xc, yc), (xg, yg) in zip(cpu, gpu):
        np.testing.assert_allclose(host(xg), host(xc), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(host(yg), host(yc), rtol=1e-6, atol=1e-7)


def test_averaged_model_on_gpu_matches_cpu_and_keeps_its_count_there():
    from minitorch_cv.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    mt.manual_seed(0)
    cpu_model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    gpu_model = copy.deepcopy(cpu_model).to(GPU)
    cpu_avg = AveragedModel(cpu_model, multi_avg_fn=get_ema_multi_avg_fn(0.7))
    gpu_avg = AveragedModel(gpu_model, device=GPU, multi_avg_fn=get_ema_multi_avg_fn(0.7))
    assert gpu_avg.n_averaged.device.type == "cuda"
    rng = np.random.default_rng(0)
    for _ in range(3):
        for pc, pg in zip(cpu_model.parameters(), gpu_model.parameters()):
            step = rng.standard_normal(pc.shape).astype(np.float32)
            pc.data[...] = pc.data + step
            pg.copy_(pc.detach())
        cpu_avg.update_parameters(cpu_model)
        gpu_avg.update_parameters(gpu_model)
    for (k, a), (_, b) in zip(cpu_avg.state_dict().items(), gpu_avg.state_dict().items()):
        np.testing.assert_allclose(host(b), host(a), rtol=1e-6, atol=1e-7, err_msg=k)


def _spin_kernel(cp):
    """A one-thread kernel that keeps the GPU busy for a number of clock cycles."""
    return cp.RawKernel(
        r"""
        extern "C" __global__ void spin(long long cycles) {
            long long start = clock64();
            while (clock64() - start < cycles) { }
        }
        """,
        "spin",
    )


def _busy(cp, seconds):
    """A function that queues `seconds` of GPU busy-waiting on the current stream (calibrated
    once: the clock rate is not in every CUDA version's device properties)."""
    spin = _spin_kernel(cp)
    probe = 10**8
    spin((1,), (1,), (np.int64(1),))  # compiled here, not timed
    cp.cuda.Device().synchronize()
    t0 = time.perf_counter()
    spin((1,), (1,), (np.int64(probe),))
    cp.cuda.Device().synchronize()
    per_second = probe / max(time.perf_counter() - t0, 1e-6)
    return lambda: spin((1,), (1,), (np.int64(seconds * per_second),))


def test_freed_batches_are_not_overwritten_before_the_gpu_reads_them():
    """The training stream lags behind on purpose while the loader copies ahead: each batch,
    dropped after use, must still hold its own values when the lagging kernels read it."""
    cp = cupy_module()
    lag = _busy(cp, 0.02)
    data = Shapes(n=96, image_size=16, seed=3)
    sums = []
    for x, y in DataLoader(data, 8, shuffle=False, device=GPU):
        lag()
        sums.append((x._data.astype(np.float64).sum(), y._data.sum()))
    want = [
        (x._data.astype(np.float64).sum(), y._data.sum())
        for x, y in DataLoader(data, 8, shuffle=False)
    ]
    got = [(float(host(a)), int(host(b))) for a, b in sums]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_a_training_step_never_waits_for_the_gpu():
    """While the GPU is busy for seconds, queueing a whole training step (forward, loss,
    backward, Adam) returns at once: nothing in it reads a value back from the device."""
    cp = cupy_module()
    model = small_cnn(4, dropout=0.0).to(GPU)  # no dropout mask upload in the step
    opt = mt.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x = Tensor(cp.asarray(np.random.default_rng(0).random((16, 3, 32, 32), dtype=np.float32)))
    y = Tensor(cp.asarray(np.arange(16) % 4))

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step()  # compiles the kernels and fills the memory pool
    busy_s = 3.0
    busy = _busy(cp, busy_s)
    busy()
    t0 = time.perf_counter()
    loss = step()
    queued_s = time.perf_counter() - t0
    assert queued_s < busy_s / 2, f"the step took {queued_s:.2f} s: it waited for the GPU"
    assert np.isfinite(float(loss))  # now it may wait
