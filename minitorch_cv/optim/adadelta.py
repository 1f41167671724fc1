"""Adadelta: a step whose units match the parameter's, the root of the running mean of past squared
steps over the root of the running mean of squared gradients (Zeiler, 2012)."""

from __future__ import annotations

from ..backend import xp_of
from .optimizer import Optimizer, ascent_grad, check_nonnegative


class Adadelta(Optimizer):
    """PyTorch's Adadelta, step by step (g the gradient):

        g = -g                                    if maximize
        g = g + weight_decay * p                  if weight_decay != 0
        v = rho * v + (1 - rho) * g^2             (square_avg)
        delta = sqrt(u + eps) / sqrt(v + eps) * g (u: acc_delta, the running mean of delta^2)
        u = rho * u + (1 - rho) * delta^2
        p = p - lr * delta

    Args:
        params: parameters or parameter groups.
        lr (float): scales delta; Zeiler's method has none, hence the default. Default: 1.0.
        rho (float): decay rate of both running means, in [0, 1]. Default: 0.9.
        eps (float): added inside both roots; it also sets the size of the first steps.
            Default: 1e-6.
        weight_decay (float): L2 penalty added to the gradient. Default: 0.
        maximize (bool): Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        *,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        if g["lr"] < 0:
            raise ValueError(f"Adadelta: invalid learning rate {g['lr']} (must be >= 0)")
        if not 0.0 <= g["rho"] <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {g['rho']} (must be in [0, 1])")
        check_nonnegative("Adadelta", g, ("eps", "weight_decay"))

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            state["acc_delta"] = xp.zeros_like(param)
        state["step"] += 1
        g = ascent_grad(param, grad, group)
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * g * g
        std = xp.sqrt(v + eps)
        delta = xp.sqrt(u + eps)
        delta /= std
        delta *= g
        u *= rho
        u += (1 - rho) * delta * delta
        param -= group["lr"] * delta
