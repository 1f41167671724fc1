"""Adam's relatives: Adamax (infinity norm), NAdam (Nesterov momentum), RAdam (rectified
variance), PyTorch's formulas and state names."""

from __future__ import annotations

import math

from ..backend import xp_of
from .adam import Adam
from .optimizer import Optimizer, ascent_grad


def _moments(state, g, beta1, beta2):
    """m = beta1 m + (1 - beta1) g and v = beta2 v + (1 - beta2) g^2, in place."""
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    return m, v


class Adamax(Optimizer):
    """PyTorch's Adamax (t = 1, 2, ...):

        g = -g if maximize;  g = g + weight_decay * p
        m = beta1 m + (1 - beta1) g
        u = max(beta2 u, |g| + eps)               (exp_inf: a decayed infinity norm)
        p = p - lr / (1 - beta1^t) * m / u

    Args: params, lr (default 2e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0),
    maximize (False).
    """

    _validate_group = Adam._validate_group

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize
        )
        super().__init__(params, defaults)

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"], state["exp_inf"] = xp.zeros_like(param), xp.zeros_like(param)
        state["step"] += 1
        g = ascent_grad(param, grad, group)
        m, u = state["exp_avg"], state["exp_inf"]
        m *= beta1
        m += (1 - beta1) * g
        u *= beta2
        xp.maximum(u, xp.abs(g) + group["eps"], out=u)
        param -= lr / (1 - beta1 ** state["step"]) * m / u


class NAdam(Optimizer):
    """PyTorch's NAdam (t = 1, 2, ...): Adam whose step mixes the gradient and the momentum as
    Nesterov's look-ahead does, with a momentum schedule mu_t:

        mu_t = beta1 (1 - 0.96^(t psi) / 2),  psi = momentum_decay;  P_t = mu_1 ... mu_t
        (weight decay as Adam's, or decoupled as AdamW's)
        m, v: Adam's moments;  d = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr (1 - mu_t) / (1 - P_t) g / d - lr mu_{t+1} / (1 - P_t mu_{t+1}) m / d

    Args: params, lr (default 2e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0),
    momentum_decay (4e-3), decoupled_weight_decay (False), maximize (False).
    """

    _validate_group = Adam._validate_group

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum_decay: float = 4e-3,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        lr, (beta1, beta2), psi = group["lr"], group["betas"], group["momentum_decay"]
        if not state:
            state["step"], state["mu_product"] = 0, 1.0
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(param), xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        g = ascent_grad(param, grad, group)
        mu = beta1 * (1 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] = product = float(state["mu_product"]) * mu
        m, v = _moments(state, g, beta1, beta2)
        denom = xp.sqrt(v / (1 - beta2**t))
        denom += group["eps"]
        param -= lr * (1 - mu) / (1 - product) * g / denom
        param -= lr * mu_next / (1 - product * mu_next) * m / denom


class RAdam(Optimizer):
    """PyTorch's RAdam (t = 1, 2, ...): Adam whose adaptive step is switched on only once the
    variance of its adaptive rate is tractable, and then scaled by a rectification r_t:

        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        m, v: Adam's moments;  m_hat = m / (1 - beta1^t)
        rho_t > 5:  p = p - lr m_hat r_t sqrt(1 - beta2^t) / (sqrt(v) + eps),
                    r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
        otherwise:  p = p - lr m_hat   (SGD with momentum while few steps are seen)

    Args: params, lr (default 1e-3), betas (0.9, 0.999), eps (1e-8), weight_decay (0),
    decoupled_weight_decay (False), maximize (False).
    """

    _validate_group = Adam._validate_group

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        decoupled_weight_decay: bool = False,
        maximize: bool = False,
    ):
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        lr, (beta1, beta2) = group["lr"], group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"], state["exp_avg_sq"] = xp.zeros_like(param), xp.zeros_like(param)
        state["step"] += 1
        t = state["step"]
        g = ascent_grad(param, grad, group)
        m, v = _moments(state, g, beta1, beta2)
        bc1, bc2 = 1 - beta1**t, 1 - beta2**t
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2**t / bc2
        if rho_t > 5:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            denom = xp.sqrt(v)
            denom += group["eps"]
            param -= (lr * rect * math.sqrt(bc2) / bc1) * m / denom
        else:
            param -= (lr / bc1) * m
