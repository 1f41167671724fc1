"""Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay."""

from __future__ import annotations

from .optimizer import Optimizer


class SGD(Optimizer):
    """PyTorch's SGD, step by step (g is the gradient, t counts steps):

        g = -g                                   if maximize
        g = g + weight_decay * p                 if weight_decay != 0
        if momentum != 0:
            b = g                                at the first step
            b = momentum * b + (1 - dampening) * g    afterwards
            g = g + momentum * b  if nesterov  else  g = b
        p = p - lr * g

    Args:
        params: parameters or parameter groups.
        lr (float): learning rate. Default: 1e-3.
        momentum (float): Default: 0.
        dampening (float): Default: 0.
        weight_decay (float): L2 penalty added to the gradient. Default: 0.
        nesterov (bool): Nesterov momentum (needs momentum > 0 and dampening = 0). Default: False.
        maximize (bool): ascend instead of descend. Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        if g["lr"] < 0:
            raise ValueError(f"SGD: invalid learning rate {g['lr']} (must be >= 0)")
        if g["momentum"] < 0:
            raise ValueError(f"SGD: invalid momentum {g['momentum']} (must be >= 0)")
        if g["weight_decay"] < 0:
            raise ValueError(f"SGD: invalid weight_decay {g['weight_decay']} (must be >= 0)")
        if g["nesterov"] and (g["momentum"] <= 0 or g["dampening"] != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0 and zero dampening")

    def _update(self, param, grad, state: dict, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        wd = group["weight_decay"]
        d = -grad if group["maximize"] else grad
        if wd != 0:
            d = d + wd * param
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = d.copy()  # a copy: d may be the grad itself
            else:
                buf *= momentum
                buf += (1 - dampening) * d
            d = d + momentum * buf if group["nesterov"] else buf
        param -= lr * d
