"""Rprop (resilient backpropagation): a step size per element, grown while the gradient keeps its
sign and shrunk when it flips; only the sign of the gradient is used."""

from __future__ import annotations

from ..backend import xp_of
from .optimizer import Optimizer


class Rprop(Optimizer):
    """PyTorch's Rprop, step by step, elementwise (g the gradient, g_prev the one kept last step):

        g = -g                                    if maximize
        s = g * g_prev
        eta = etaplus if s > 0, etaminus if s < 0, 1 if s == 0
        step_size = clamp(step_size * eta, step_size_min, step_size_max)   (starts at lr)
        g = 0 where s < 0                         (a flipped sign: skip, and forget it next step)
        p = p - sign(g) * step_size
        g_prev = g

    Meant for full-batch training: the step follows the sign of the gradient, not its size.

    Args:
        params: parameters or parameter groups.
        lr (float): the initial step size of every element. Default: 1e-2.
        etas (tuple of 2 floats): (etaminus, etaplus), 0 < etaminus < 1 < etaplus.
            Default: (0.5, 1.2).
        step_sizes (tuple of 2 floats): (min, max) bounds of the step sizes. Default: (1e-6, 50).
        maximize (bool): Default: False.
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes), maximize=maximize)
        super().__init__(params, defaults)

    def _validate_group(self, g: dict) -> None:
        if g["lr"] < 0:
            raise ValueError(f"Rprop: invalid learning rate {g['lr']} (must be >= 0)")
        etas, sizes = tuple(g["etas"]), tuple(g["step_sizes"])
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(
                f"Rprop: invalid etas {etas} (must be a pair with 0 < etaminus < 1 < etaplus)"
            )
        if len(sizes) != 2 or not 0.0 <= sizes[0] <= sizes[1]:
            raise ValueError(
                f"Rprop: invalid step_sizes {sizes} (must be a pair with 0 <= min <= max)"
            )
        g["etas"], g["step_sizes"] = etas, sizes

    def _update(self, param, grad, state: dict, group: dict) -> None:
        xp = xp_of(param)
        etaminus, etaplus = group["etas"]
        if not state:
            state["step"] = 0
            state["prev"] = xp.zeros_like(param)
            state["step_size"] = xp.full_like(param, group["lr"])
        state["step"] += 1
        g = -grad if group["maximize"] else grad.copy()  # a copy: the caller's gradient stays
        prev, step_size = state["prev"], state["step_size"]
        # the factors are written into an array of the parameter's dtype, as PyTorch does, so a
        # float32 step size is multiplied by float32(eta), not by the float64 eta
        eta = xp.sign(g * prev)
        grow, flip = eta > 0, eta < 0
        eta[eta == 0] = 1
        eta[grow] = etaplus
        eta[flip] = etaminus
        step_size *= eta
        xp.clip(step_size, *group["step_sizes"], out=step_size)
        g[flip] = 0
        param -= xp.sign(g) * step_size
        prev[...] = g
