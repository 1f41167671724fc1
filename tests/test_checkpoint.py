"""Activation checkpointing (mt.utils.checkpoint): the same outputs and gradients as running the
function plainly (dropout masks included), far less memory held between forward and backward,
and clear errors where it cannot serve."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import layers as nn
from minitorch_cv.utils.checkpoint import checkpoint, checkpoint_sequential
from tests.strategies_core import SETTINGS


def _net(dropout):
    mt.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(dropout),
        nn.Conv2d(8, 8, 3, padding=1), nn.LeakyReLU(0.1), nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 3 * 3, 5),
    ).double()  # fmt: skip


def _grads(net, run, x):
    net.zero_grad()
    x.grad = None
    mt.manual_seed(7)  # the dropout masks of this run
    y = run()
    (y * mt.tensor(np.arange(y.numel()).reshape(y.shape) % 3 - 1.0)).sum().backward()
    return y.numpy(), [p.grad.numpy() for p in net.parameters()], x.grad.numpy()


@SETTINGS
@given(segments=st.integers(1, 10), dropout=st.sampled_from([0.0, 0.5]),
       batch=st.integers(1, 3))  # fmt: skip
def test_checkpointed_runs_give_the_plain_outputs_and_gradients(segments, dropout, batch):
    net = _net(dropout)
    x = mt.tensor(np.random.default_rng(batch).standard_normal((batch, 3, 6, 6)),
                  requires_grad=True)  # fmt: skip
    y0, g0, gx0 = _grads(net, lambda: net(x), x)
    for run in (lambda: checkpoint_sequential(net, segments, x), lambda: checkpoint(net, x)):
        y, g, gx = _grads(net, run, x)
        np.testing.assert_allclose(y, y0, rtol=1e-12, atol=1e-12)
        for a, b in zip(g, g0):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, gx0, rtol=1e-10, atol=1e-12)


def test_parameters_get_gradients_when_no_input_requires_grad_and_kwargs_pass_through():
    lin = nn.Linear(4, 3).double()
    x = mt.tensor(np.ones((2, 4)))  # no requires_grad: the parameters still need the node

    def scaled(inp, *, scale):
        return lin(inp) * scale

    checkpoint(scaled, x, scale=2.0).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), np.full((3, 4), 4.0))
    np.testing.assert_allclose(lin.bias.grad.numpy(), np.full(3, 4.0))
    with mt.no_grad():
        assert not checkpoint(scaled, x, scale=2.0).requires_grad


def _held_bytes(run):
    tracemalloc.start()
    try:
        y = run()
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del y
    return held


def test_checkpointing_holds_only_the_segment_boundaries():
    mt.manual_seed(0)
    blocks = [nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
              for _ in range(6)]  # fmt: skip
    net = nn.Sequential(*blocks)
    x = mt.randn(8, 8, 32, 32, requires_grad=True)
    plain = _held_bytes(lambda: net(x))
    ckpt = _held_bytes(lambda: checkpoint_sequential(net, 6, x))
    # plain keeps every conv input, BN input and ReLU output (~18 activations); checkpointed,
    # the 5 segment boundaries plus the last segment's own
    assert ckpt < 0.6 * plain, (ckpt, plain)


def test_tensors_passed_by_keyword_are_inputs_and_views_keep_their_version_counter():
    rng = np.random.default_rng(0)
    x0 = mt.tensor(rng.standard_normal(3), requires_grad=True)
    h = x0.exp()  # not leaves: the rerun must not walk (and free) the graph behind them
    checkpoint(lambda a, *, b: a * b, h * 3, b=h * 2).sum().backward()
    np.testing.assert_allclose(x0.grad.numpy(), 12 * np.exp(2 * x0.numpy()), rtol=1e-12)
    x = mt.tensor(rng.standard_normal((3, 4)), requires_grad=True) * 1.0
    q = x * x  # saves x
    y = checkpoint(lambda t: t[0], x)  # a view of x, as plain x[0] would be
    with mt.no_grad():
        y.mul_(10.0)  # changes x under q's saved copy
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        q.sum().backward()


def test_checkpoint_errors_name_the_problem():
    lin = nn.Linear(2, 2)
    x = mt.randn(3, 2, requires_grad=True)

    def pair(t):
        return t, t

    with pytest.raises(TypeError, match=r"checkpoint: pair must return one Tensor, got tuple"):
        checkpoint(pair, x)
    with pytest.raises(TypeError, match=r"checkpoint: <lambda> got tensors that need gradients "
                                        r"inside a list"):  # fmt: skip
        checkpoint(lambda ts: ts[0] + ts[1], [x, x])
    y = checkpoint(lin, x, use_reentrant=False, determinism_check="default").tanh().sum()
    for wrt in (x, lin.weight):  # an input or a parameter inside: refused before anything runs
        with pytest.raises(RuntimeError, match=r"grad\(\): cannot go through the checkpointed "
                                               r"Linear"):  # fmt: skip
            mt.autograd.grad(y, wrt)
    y.backward()  # the graph is intact: backward() still works
    assert x.grad is not None and lin.weight.grad is not None
    with pytest.raises(ValueError, match=r"checkpoint_sequential: segments must be between 1 and "
                                         r"the 2 modules, got 3"):  # fmt: skip
        checkpoint_sequential(nn.Sequential(lin, nn.ReLU()), 3, x)
    with pytest.raises(ValueError, match=r"between 1 and the 0 modules, got 1"):
        checkpoint_sequential(nn.Sequential(), 1, x)
    x2 = mt.randn(3, 2, requires_grad=True)
    y2 = checkpoint(lin, x2)
    with mt.no_grad():
        x2.mul_(2.0)  # the saved input changed: the rerun would be wrong
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y2.sum().backward()
