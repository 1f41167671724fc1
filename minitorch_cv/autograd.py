"""`torch.autograd`'s names: gradients as values (`grad`), a backward over several tensors,
custom ops (`Function`), the numerical check (`gradcheck`) and the grad-mode switches.

    x = mt.randn(3, requires_grad=True)
    (gx,) = mt.autograd.grad((x * x).sum(), x)      # 2 x; x.grad stays None
"""

from __future__ import annotations

from .gradcheck import gradcheck
from .tensor import Function, Tensor, _backward, enable_grad, grad, no_grad, set_grad_enabled

__all__ = ["Function", "backward", "enable_grad", "grad", "gradcheck", "no_grad",
           "set_grad_enabled"]  # fmt: skip


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False,
             inputs=None) -> None:  # fmt: skip
    """Accumulate into the leaves' `.grad` (or only into `inputs`' `.grad`, leaves or not) the
    gradient of sum(t * grad_t) over `tensors` in one sweep (each shared part of the graph is
    walked once). `create_graph` must be False (no higher-order gradients)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors)
    if len(grad_tensors) != len(tensors):
        raise ValueError(f"backward: {len(grad_tensors)} grad_tensors for {len(tensors)} tensors")
    _backward(tensors, list(grad_tensors), retain_graph, create_graph, inputs, "backward")
