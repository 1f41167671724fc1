"""Adagrad: each coordinate's step divided by the root of its summed squared gradients."""

from __future__ import annotations

from ..backend import xp_of
from .optimizer import Optimizer, ascent_grad, check_nonnegative


class Adagrad(Optimizer):
    """PyTorch's Adagrad, step by step (g the gradient, t = 1, 2, ... the step of this parameter):

        g = -g                                    if maximize
        g = g + weight_decay * p                  if weight_decay != 0
        s = s + g^2                               (sum, starts at initial_accumulator_value)
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(s) + eps)

    Args:
        params: parameters or parameter groups.
        lr (float): Default: 1e-2.
        lr_decay (float): Default: 0.
        weight_decay (float): L2 penalty added to the gradient. Default: 0.
        initial_accumulator_value (float): start of the sum of squares. Default: 0.
        eps (float): added to the denominator. Default: 1e-10.
        maximize (bool): Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, eps=eps, maximize=maximize,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        keys = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
        check_nonnegative("Adagrad", g, keys)

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        g = ascent_grad(param, grad, group)
        s = state["sum"]
        s += g * g
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        denom = xp.sqrt(s)
        denom += group["eps"]
        xp.divide(g, denom, out=denom)
        denom *= clr
        param -= denom
