"""Adam (with L2 or decoupled weight decay, optional AMSGrad) and AdamW."""

from __future__ import annotations

import math

from ..backend import xp_of
from .optimizer import Optimizer


class Adam(Optimizer):
    """PyTorch's Adam, step by step (g the gradient, t = 1, 2, ... the step of this parameter):

        g = -g                                    if maximize
        p = p * (1 - lr * weight_decay)           if decoupled_weight_decay    (AdamW)
        g = g + weight_decay * p                  otherwise (L2 penalty)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g^2
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)

    Args:
        params: parameters or parameter groups.
        lr (float): Default: 1e-3.
        betas (tuple of 2 floats): decay rates of the moment averages. Default: (0.9, 0.999).
        eps (float): added to the denominator. Default: 1e-8.
        weight_decay (float): Default: 0.
        amsgrad (bool): use the running maximum of v. Default: False.
        maximize (bool): Default: False.
        decoupled_weight_decay (bool): AdamW's decay. Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
            maximize=maximize, decoupled_weight_decay=decoupled_weight_decay,
        )  # fmt: skip
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        name = type(self).__name__
        if g["lr"] < 0:
            raise ValueError(f"{name}: invalid learning rate {g['lr']} (must be >= 0)")
        if g["eps"] < 0:
            raise ValueError(f"{name}: invalid eps {g['eps']} (must be >= 0)")
        betas = tuple(g["betas"])
        if len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(
                    f"{name}: invalid beta parameter at index {i}: {b} (must be in [0, 1))"
                )
        g["betas"] = betas
        if g["weight_decay"] < 0:
            raise ValueError(f"{name}: invalid weight_decay {g['weight_decay']} (must be >= 0)")

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:  # (also if turned on later)
            state["max_exp_avg_sq"] = xp.zeros_like(param)
        g = -grad if group["maximize"] else grad
        state["step"] += 1
        t = state["step"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param *= 1 - lr * wd
            else:
                g = g + wd * param
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # Every pass in place through one scratch array: no temporary per operator.
        tmp = xp.subtract(g, m)
        tmp *= 1 - beta1
        m += tmp  # m = beta1 m + (1 - beta1) g
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v *= beta2
        v += tmp  # v = beta2 v + (1 - beta2) g^2
        if group["amsgrad"]:
            v_hat = state["max_exp_avg_sq"]
            xp.maximum(v_hat, v, out=v_hat)
        else:
            v_hat = v
        step_size = lr / (1 - beta1**t)
        xp.sqrt(v_hat, out=tmp)
        tmp /= math.sqrt(1 - beta2**t)
        tmp += eps  # denom = sqrt(v_hat / (1 - beta2^t)) + eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        param -= tmp  # p -= lr / (1 - beta1^t) * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p = p * (1 - lr * wd) before the
    Adam step, instead of adding wd * p to the gradient. Same arguments as Adam, but
    weight_decay defaults to 1e-2."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
    ):
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
        )
