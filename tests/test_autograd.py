"""mt.autograd: grad returns gradients without touching .grad (leaves and intermediates, several
outputs, vector-Jacobian products), equal to backward's and to PyTorch's; backward over several
tensors at once; the errors of unused inputs and freed graphs."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import functional as F


def graph(lib, x, w):
    """Two outputs sharing a middle: h = tanh(x @ w), a = sum(h^2), b = h * x[:, :1]."""
    h = lib.tanh(x @ w)
    return h, (h * h).sum(), h * x[:, :1]


def test_grad_equals_backward_and_leaves_grad_alone():
    rng = np.random.default_rng(0)
    xa, wa = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    x, w = mt.tensor(xa, requires_grad=True), mt.tensor(wa, requires_grad=True)
    w.grad = mt.ones(3, 2, dtype=mt.float64)  # an earlier gradient: grad() must not add to it
    _, a, _ = graph(mt, x, w)
    gx, gw = mt.autograd.grad(a, [x, w], retain_graph=True)
    assert x.grad is None and w.grad.numpy().tolist() == np.ones((3, 2)).tolist()
    a.backward()
    np.testing.assert_allclose(gx.numpy(), x.grad.numpy(), rtol=1e-14)
    np.testing.assert_allclose(gw.numpy() + 1.0, w.grad.numpy(), rtol=1e-14)
    assert not gx.requires_grad


def test_grad_of_an_intermediate_and_of_several_outputs_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xa, wa = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    v = rng.standard_normal((4, 2))
    x, w = mt.tensor(xa, requires_grad=True), mt.tensor(wa, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    wt = torch.tensor(wa, requires_grad=True)
    h, a, b = graph(mt, x, w)
    ht, at, bt = graph(torch, xt, wt)
    ours = mt.autograd.grad([a, b], [h, x, w], grad_outputs=[None, mt.tensor(v)])
    theirs = torch.autograd.grad([at, bt], [ht, xt, wt], grad_outputs=[None, torch.tensor(v)])
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.numpy(), t.numpy(), rtol=1e-12)


def test_grad_runs_hooks_and_checks_its_arguments():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    (g,) = mt.autograd.grad((x * x).sum(), x)
    assert g.tolist() == [20.0, 40.0]
    unused = mt.tensor([3.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"grad: input 1 \(shape \(1,\)\) was not used"):
        mt.autograd.grad(y, [x, unused], retain_graph=True)
    assert mt.autograd.grad(y, [x, unused], allow_unused=True)[1] is None
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        mt.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="grad: input 0 is not a Tensor that requires grad"):
        mt.autograd.grad((x * 2).sum(), mt.ones(2))
    with pytest.raises(RuntimeError, match=r"grad\(\): grad can be implicitly created only"):
        mt.autograd.grad(x * 2, x)
    with pytest.raises(ValueError, match="grad: 2 grad_outputs for 1 outputs"):
        mt.autograd.grad((x * 2).sum(), x, grad_outputs=[None, None])


def test_autograd_backward_of_several_tensors_is_the_sum_of_their_backwards():
    x = mt.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y1, y2 = F.relu(x) * 3, x * x
    mt.autograd.backward([y1.sum(), y2], [None, mt.tensor([1.0, 0.5, 2.0])])
    assert x.grad.tolist() == [3.0 + 2.0, 0.0 - 2.0, 3.0 + 12.0]


def test_grad_walks_only_the_part_of_the_graph_that_leads_to_its_inputs():
    # as PyTorch: below the wanted tensor nothing runs, nothing is freed, no hook fires, and a
    # later change to a tensor saved down there does not matter
    x = mt.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = mt.tensor([1.0, 1.0, 1.0])
    calls = []
    x.register_hook(lambda g: calls.append(1))
    y = x * x * c
    z = (3 * y).sum()
    with mt.no_grad():
        c.add_(1)  # saved by x * x * c: backward through it would now fail its version check
    (gy,) = mt.autograd.grad(z, y)
    assert gy.tolist() == [3.0, 3.0, 3.0] and calls == []
    with pytest.raises(RuntimeError, match="was modified by an in-place operation"):
        y.sum().backward()  # the graph below y is intact (not freed), so it reaches the check
    y = x * x
    mt.autograd.grad((3 * y).sum(), y)
    y.sum().backward()  # not freed by grad()
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_grad_fills_retained_grads_and_fails_on_a_freed_graph_as_torch():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    w = y * 3
    z = (w * w).sum()
    (gx,) = mt.autograd.grad(z, x)
    assert gx.tolist() == [72.0, 144.0] and y.grad.tolist() == [36.0, 72.0]
    with pytest.raises(RuntimeError, match=r"grad\(\): trying to backward through the graph"):
        mt.autograd.grad(z, x)


def test_backward_with_inputs_fills_only_their_grad_and_equals_torch():
    """backward(inputs=...) as torch's: only the listed tensors' .grad, a non-leaf's too; the
    other leaves keep theirs."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    xa, wa = rng.standard_normal((4, 3)), rng.standard_normal((3, 2))
    x, w = mt.tensor(xa, requires_grad=True), mt.tensor(wa, requires_grad=True)
    xt, wt = torch.tensor(xa, requires_grad=True), torch.tensor(wa, requires_grad=True)
    h, a, _ = graph(mt, x, w)
    ht, at, _ = graph(torch, xt, wt)
    w.grad, wt.grad = mt.ones(3, 2, dtype=mt.float64), torch.ones(3, 2, dtype=torch.float64)
    a.backward(inputs=[w, h])
    at.backward(inputs=[wt, ht])
    assert x.grad is None and xt.grad is None
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy(), rtol=1e-12)  # accumulated on 1
    np.testing.assert_allclose(h.grad.numpy(), ht.grad.numpy(), rtol=1e-12)
    x2 = mt.tensor(xa, requires_grad=True)
    mt.autograd.backward([(x2 * x2).sum()], inputs=x2)
    np.testing.assert_allclose(x2.grad.numpy(), 2 * xa, rtol=1e-15)
    with pytest.raises(RuntimeError, match="inputs=, when given, must not be empty"):
        (x2 * 2).sum().backward(inputs=[])


def test_create_graph_is_refused_with_a_reason():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    for call in (lambda: mt.autograd.grad(y, x, create_graph=True),
                 lambda: y.backward(create_graph=True),
                 lambda: mt.autograd.backward(y, create_graph=True)):  # fmt: skip
        with pytest.raises(NotImplementedError, match="create_graph=True .*not supported"):
            call()
    assert x.grad is None  # refused before any gradient was computed
    (g,) = mt.autograd.grad(y, x, create_graph=False)
    assert g.tolist() == [2.0, 4.0]


def test_grads_batched_give_the_jacobian_row_by_row():
    """is_grads_batched with the identity's rows as grad_outputs: the Jacobian of y = tanh(A x)
    (diag(1 - y^2) A, by hand), equal to torch's; the graph survives for a later backward."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    aa, xa = rng.standard_normal((4, 3)), rng.standard_normal(3)
    x = mt.tensor(xa, requires_grad=True)
    y = mt.tanh(mt.tensor(aa) @ x)
    (jac,) = mt.autograd.grad(y, x, grad_outputs=mt.eye(4, dtype=mt.float64),
                              is_grads_batched=True, retain_graph=True)  # fmt: skip
    by_hand = (1 - np.tanh(aa @ xa) ** 2)[:, None] * aa
    np.testing.assert_allclose(jac.numpy(), by_hand, rtol=1e-13)
    xt = torch.tensor(xa, requires_grad=True)
    (jt,) = torch.autograd.grad(torch.tanh(torch.tensor(aa) @ xt), xt,
                                grad_outputs=torch.eye(4, dtype=torch.float64),
                                is_grads_batched=True)  # fmt: skip
    np.testing.assert_allclose(jac.numpy(), jt.numpy(), rtol=1e-13)
    y.sum().backward()  # retain_graph=True kept it
    np.testing.assert_allclose(x.grad.numpy(), by_hand.sum(0), rtol=1e-13)
    with pytest.raises(RuntimeError, match=r"must have shape \(B, \*\(4,\)\)"):
        mt.autograd.grad(mt.tanh(mt.tensor(aa) @ x), x, grad_outputs=mt.ones(4),
                         is_grads_batched=True)  # fmt: skip
    with pytest.raises(RuntimeError, match="the batch of grad_outputs is empty"):
        mt.autograd.grad(mt.tanh(mt.tensor(aa) @ x), x, grad_outputs=mt.ones(0, 4),
                         is_grads_batched=True)  # fmt: skip


def test_materialize_grads_gives_zeros_for_unused_inputs():
    x = mt.tensor([1.0, 2.0], requires_grad=True)
    unused = mt.tensor([[3.0]], requires_grad=True)
    gx, gu = mt.autograd.grad((x * 3).sum(), [x, unused], materialize_grads=True)
    assert gx.tolist() == [3.0, 3.0] and gu.tolist() == [[0.0]] and gu.dtype == unused.dtype
    with pytest.raises(ValueError, match="materialize_grads=True needs allow_unused"):
        mt.autograd.grad((x * 3).sum(), [x, unused], allow_unused=False, materialize_grads=True)
