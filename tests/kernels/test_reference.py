"""minitorch_cv/reference.py is the test oracle, so it is itself checked against PyTorch here;
and the chunk runner that spreads kernel work over threads is checked to run each task once."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import reference
from minitorch_cv.kernels import im2col_numpy
from tests.strategies import array


@pytest.mark.parity
@pytest.mark.parametrize(
    "shape, w_shape, kw",
    [
        ((2, 4, 7, 6), (6, 2, 3, 2), dict(stride=(2, 1), padding=1, dilation=(1, 2), groups=2)),
        ((1, 3, 5, 5), (2, 3, 1, 1), dict(stride=3, padding=0, dilation=1, groups=1)),
        ((2, 2, 4, 6), (4, 2, 3, 3), dict(stride=1, padding="same", dilation=2, groups=1)),
    ],
)
def test_reference_conv2d_matches_torch(shape, w_shape, kw):
    torch = pytest.importorskip("torch")
    x, w, b = array(0, shape), array(1, w_shape), array(2, w_shape[:1])
    expect = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw)
    np.testing.assert_allclose(
        reference.conv2d(x, w, b, **kw), expect.numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parity
def test_reference_conv_transpose2d_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = array(0, (2, 4, 3, 5)), array(1, (4, 3, 3, 2)), array(2, (6,))
    kw = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))
    expect = torch.nn.functional.conv_transpose2d(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw
    )
    got = reference.conv_transpose2d(x, w, b, **kw)
    np.testing.assert_allclose(got, expect.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parity
def test_reference_pools_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.round(array(0, (2, 3, 7, 8)))  # ties
    y, idx = reference.max_pool2d(x, (3, 2), (2, 3), (1, 1), (1, 2), ceil_mode=True)
    yt, idxt = F.max_pool2d(torch.tensor(x), (3, 2), (2, 3), (1, 1), (1, 2), True, True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, idxt.numpy())
    for cip in (True, False):
        for div in (None, 5):
            got = reference.avg_pool2d(x, 3, 2, 1, True, cip, div)
            expect = F.avg_pool2d(torch.tensor(x), 3, 2, 1, True, cip, div).numpy()
            np.testing.assert_allclose(got, expect, rtol=1e-12, atol=1e-12)


@pytest.mark.parity
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5, 2)])
def test_reference_batch_norm_matches_torch_incl_running_stats(training, shape):
    torch = pytest.importorskip("torch")
    x, w, b = array(0, shape) * 3 + 1, array(1, (3,)), array(2, (3,))
    rm, rv = array(3, (3,)), np.abs(array(4, (3,))) + 0.5
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    y = reference.batch_norm(x, rm, rv, w, b, training=training, momentum=0.1, eps=1e-5)
    yt = torch.nn.functional.batch_norm(
        torch.tensor(x), rm_t, rv_t, torch.tensor(w), torch.tensor(b), training, 0.1, 1e-5
    )
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(rm, rm_t.numpy(), rtol=1e-12)  # updated in place, unbiased var
    np.testing.assert_allclose(rv, rv_t.numpy(), rtol=1e-12)


def test_reference_batch_norm_running_update_by_hand():
    x = np.array([[1.0], [2.0], [4.0]])  # mean 7/3, biased var 14/9, unbiased 7/3
    rm, rv = np.zeros(1), np.ones(1)
    y = reference.batch_norm(x, rm, rv, training=True, eps=0.0)
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 7 / 3) / np.sqrt(14 / 9))
    np.testing.assert_allclose(rm, [0.1 * 7 / 3])
    np.testing.assert_allclose(rv, [0.9 + 0.1 * 7 / 3])


def test_run_tasks_runs_each_task_once_with_single_threaded_blas():
    seen, lock = [], threading.Lock()

    def work(state, task):
        state.append(task)
        with lock:
            seen.append(task)

    states = im2col_numpy.run_tasks(list(range(100)), work, list)
    assert sorted(seen) == list(range(100))
    assert sorted(t for s in states for t in s) == list(range(100))
    assert len(states) == max(1, min(im2col_numpy.get_num_threads(), 100))
    if im2col_numpy._blas_api is not None and len(states) > 1:
        assert im2col_numpy._blas_api[1]() == 1  # the workers are the only threads that run GEMMs


def test_set_num_threads_sets_the_worker_count():
    before = mt.get_num_threads()
    try:
        mt.set_num_threads(3)
        if im2col_numpy._blas_api is not None and not os.environ.get("MINITORCH_CV_SERIAL_CHUNKS"):
            assert mt.get_num_threads() == 3
            states = im2col_numpy.run_tasks(list(range(50)), lambda s, t: time.sleep(0.002), list)
            assert 1 <= len(states) <= 3
        with pytest.raises(ValueError, match="set_num_threads"):
            mt.set_num_threads(0)
    finally:
        mt.set_num_threads(before)


def test_run_tasks_propagates_errors():
    def work(state, task):
        if task == 7:
            raise RuntimeError("task 7 failed")

    with pytest.raises(RuntimeError, match="task 7 failed"):
        im2col_numpy.run_tasks(list(range(20)), work, dict)
    # and the next call still works
    assert im2col_numpy.run_tasks([1], lambda s, t: None, dict)


@pytest.mark.parametrize(
    "pool",
    [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2, stride=3)],
)
def test_batch_slices_on_threads_equal_one_pass(pool, monkeypatch):
    """Batch norm, ReLU and max pooling split their passes over batch slices on the worker
    threads (kernels.for_slices): forced on for every size, they give bit-identical outputs,
    indices, statistics and gradients to the single pass."""
    from minitorch_cv import kernels

    x = array(3, (5, 3, 9, 8)).astype(np.float32)
    x[:, :, :3] = np.maximum(x[:, :, :3], 0)  # zeros: ties inside windows
    g = array(4, (5, 3, 9, 8)).astype(np.float32)

    def run():
        t = mt.tensor(x, requires_grad=True)
        bn = mt.nn.BatchNorm2d(3)
        with mt.no_grad():
            bn.weight.copy_(mt.tensor([0.5, 1.0, 2.0]))
        h = mt.F.relu(bn(t))
        y, idx = mt.F.max_pool2d(h, return_indices=True, **pool)
        h.retain_grad()
        y.backward(mt.tensor(g[:, :, : y.shape[2], : y.shape[3]]))
        grads = [h.grad, t.grad, bn.weight.grad, bn.bias.grad]
        return [a.numpy() for a in [h, y, idx, bn.running_var, *grads]]

    monkeypatch.setattr(kernels, "PARALLEL_MIN_ELEMENTS", 1 << 60)
    one_pass = run()
    before = mt.get_num_threads()
    monkeypatch.setattr(kernels, "PARALLEL_MIN_ELEMENTS", 0)
    try:
        mt.set_num_threads(2)
        sliced = run()
    finally:
        mt.set_num_threads(before)
    for a, b in zip(one_pass, sliced):
        np.testing.assert_array_equal(a, b)


def test_even_bounds_split_into_near_equal_runs():
    """The batch slices of for_slices and the runs of the weight-gradient sum: every index in
    exactly one run, in order, run lengths differing by at most one (checked exhaustively over
    the sizes a step meets)."""
    from minitorch_cv.kernels import _even_bounds

    assert _even_bounds(0, 0) == [0]
    for n in range(1, 300):
        for parts in range(1, min(n, 16) + 1):
            b = _even_bounds(n, parts)
            assert len(b) == parts + 1 and b[0] == 0 and b[-1] == n
            sizes = {b1 - b0 for b0, b1 in zip(b[:-1], b[1:])}
            assert sizes <= {n // parts, -(-n // parts)}, (n, parts, b)
