"""RMSprop (Hinton's running mean of squared gradients), optionally centered and with momentum."""

from __future__ import annotations

from ..backend import xp_of
from .optimizer import Optimizer, ascent_grad, check_nonnegative


class RMSprop(Optimizer):
    """PyTorch's RMSprop, step by step (g the gradient):

        g = -g                                    if maximize
        g = g + weight_decay * p                  if weight_decay != 0
        v = alpha * v + (1 - alpha) * g^2         (square_avg)
        if centered:
            a = alpha * a + (1 - alpha) * g       (grad_avg)
            denom = sqrt(v - a^2) + eps           (the running variance instead of v)
        else:
            denom = sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / denom
            p = p - lr * b
        else:
            p = p - lr * g / denom

    Args:
        params: parameters or parameter groups.
        lr (float): Default: 1e-2.
        alpha (float): decay rate of the running averages. Default: 0.99.
        eps (float): added to the denominator. Default: 1e-8.
        weight_decay (float): L2 penalty added to the gradient. Default: 0.
        momentum (float): Default: 0.
        centered (bool): divide by the running standard deviation. Default: False.
        maximize (bool): Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
            centered=centered, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        check_nonnegative("RMSprop", g, ("lr", "eps", "weight_decay", "momentum", "alpha"))

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
        # (also when a group turns momentum or centering on after the first step)
        if momentum > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(param)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        g = ascent_grad(param, grad, group)
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1 - alpha) * g
            denom = xp.sqrt(v - a * a)
        else:
            denom = xp.sqrt(v)
        denom += group["eps"]
        step = xp.divide(g, denom, out=denom)  # g / denom, in the denominator's buffer
        if momentum > 0:
            b = state["momentum_buffer"]
            b *= momentum
            b += step
            step = b
        param -= group["lr"] * step
