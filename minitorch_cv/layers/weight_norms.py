"""Weight normalisation and spectral normalisation: a layer's weight recomputed from other
tensors before every forward (PyTorch's `nn.utils.weight_norm` / `spectral_norm`, hook-based).

    m = nn.utils.weight_norm(nn.Linear(20, 40))     # weight = weight_g * weight_v / ||weight_v||
    m = nn.utils.spectral_norm(nn.Conv2d(3, 64, 4))  # weight = weight_orig / sigma(weight_orig)

Each one replaces the Parameter `weight` by new Parameters (and buffers) under PyTorch's names,
so state dicts move between the two libraries; the forward pre-hook writes the recomputed weight
back as a plain attribute `weight`, which the layer's forward reads as usual. `remove_*` folds it
back into one plain Parameter. The weights are composed of differentiable ops (norm, div, matmul),
so their gradients are those ops' own.
"""

from __future__ import annotations

from .. import functional as F
from ..backend import to_device, xp_of
from ..tensor import Tensor, default_rng, no_grad
from .conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .module import Module, Parameter


def _take_parameter(module: Module, name: str, who: str) -> Parameter:
    """module's Parameter `name`, or a clear error if there is none."""
    if not isinstance(module, Module):
        raise TypeError(f"{who}: expected a Module, got {type(module).__name__}")
    if name not in module._parameters:
        raise AttributeError(f"{who}: {module._get_name()} has no parameter '{name}'")
    weight = module._parameters[name]
    if weight is None:
        raise ValueError(
            f"{who}: parameter '{name}' of {module._get_name()} is None, so it cannot be normalised"
        )
    return weight


def _check_unique(module: Module, kind: type, name: str, who: str) -> None:
    for hook in module._forward_pre_hooks.values():
        if isinstance(hook, kind) and hook.name == name:
            raise RuntimeError(f"Cannot register two {who} hooks on the same parameter {name}")


def _remove_hook(module: Module, kind: type, name: str, who: str) -> Module:
    for hid, hook in module._forward_pre_hooks.items():
        if isinstance(hook, kind) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[hid]
            module._forward_pre_hooks_with_kwargs.discard(hid)
            return module
    raise ValueError(f"{who} of '{name}' not found in {module}")


def _wrap_dim(dim: int, ndim: int, who: str) -> int:
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(
            f"{who}: dim {dim} out of range for a weight with {ndim} dimensions (expected a dim "
            f"in [{-ndim}, {max(ndim, 1) - 1}])"
        )
    return dim % max(ndim, 1)


# --------------------------------------------------------------------------- weight norm


def _norm_except_dim(v: Tensor, dim: int | None) -> Tensor:
    """||v||_2 over every dim but `dim`, shaped (1, .., v.shape[dim], .., 1) to broadcast against
    v; over the whole tensor (a 0-d Tensor) when dim is None (PyTorch's `norm_except_dim`)."""
    if dim is None:
        return F.norm(v)
    if v.ndim <= 1:  # nothing to reduce: the norm of each one-element slice, |v_i|
        return F.norm(v.reshape(-1, 1), 2, 1).reshape(v.shape)
    others = tuple(i for i in range(v.ndim) if i != dim)
    return F.norm(v, 2, others, keepdim=True)


class WeightNorm:
    """The forward pre-hook of `weight_norm`: weight = g * v / ||v|| (norm over all dims but
    `dim`, or the whole tensor when dim is None)."""

    def __init__(self, name: str, dim: int | None):
        self.name, self.dim = name, dim

    def compute_weight(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: Module, name: str = "weight", dim: int | None = 0) -> Module:
    """Reparametrise `module.<name>` as w = g * v / ||v|| (Salimans & Kingma, 2016).

    Replaces the Parameter `name` by Parameters `name_g` (the magnitude: the norm of the old
    weight over every dim but `dim`, with those dims kept as size 1) and `name_v` (the direction:
    the old values), and adds a forward pre-hook that recomputes `module.<name>` before every
    forward. Gradients reach g and v through the formula.

    Args:
        module (Module): the layer; returned, changed in place.
        name (str): the parameter to reparametrise. Default: 'weight'.
        dim (int, optional): the dim that keeps one norm per index (0: one per output unit or
            channel). None, and -1 as in PyTorch, take one norm over the whole tensor (g is 0-d).
            Default: 0.

    Example: ``nn.utils.weight_norm(nn.Linear(20, 40))`` has weight_g (40, 1), weight_v (40, 20).
    """
    _check_unique(module, WeightNorm, name, "weight_norm")
    weight = _take_parameter(module, name, "weight_norm")
    if dim is not None and dim != -1:
        dim = _wrap_dim(dim, weight.ndim, "weight_norm")
    fn = WeightNorm(name, None if dim == -1 else dim)
    del module._parameters[name]
    with no_grad():
        g = _norm_except_dim(weight, fn.dim)
    module.register_parameter(name + "_g", Parameter(g.detach()))
    module.register_parameter(name + "_v", Parameter(weight.detach()))
    setattr(module, name, fn.compute_weight(module))
    module.register_forward_pre_hook(fn)
    return module


def remove_weight_norm(module: Module, name: str = "weight") -> Module:
    """Undo `weight_norm`: `module.<name>` becomes one plain Parameter again, with the values
    g * v / ||v|| has now; `name_g`, `name_v` and the hook go."""
    return _remove_hook(module, WeightNorm, name, "weight_norm")


# --------------------------------------------------------------------------- spectral norm


def _l2_normalized(a, eps: float):
    """a / max(||a||_2, eps) on raw arrays (PyTorch's F.normalize of a vector)."""
    xp = xp_of(a)
    return a / xp.maximum(xp.linalg.norm(a), eps)


class SpectralNorm:
    """The forward pre-hook of `spectral_norm`: weight = weight_orig / sigma, sigma = u^T W v
    with W the weight as a (shape[dim], -1) matrix. In training mode `n_power_iterations` steps
    of v <- normalize(W^T u), u <- normalize(W v) first update the buffers u and v in place."""

    def __init__(self, name: str, n_power_iterations: int, dim: int, eps: float):
        self.name, self.n_power_iterations, self.dim, self.eps = name, n_power_iterations, dim, eps

    def _as_matrix(self, w):
        """W, a Tensor or a raw array, with `dim` moved to the front and the rest flattened."""
        if self.dim != 0:
            order = (self.dim, *[d for d in range(w.ndim) if d != self.dim])
            w = F.permute(w, order) if isinstance(w, Tensor) else w.transpose(order)
        return w.reshape(w.shape[0], -1)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u_buf = getattr(module, self.name + "_u")
        v_buf = getattr(module, self.name + "_v")
        u, v = u_buf, v_buf
        if do_power_iteration:
            mat = self._as_matrix(weight._data)
            ua, va = u_buf._data, v_buf._data
            for _ in range(self.n_power_iterations):
                va = _l2_normalized(mat.T @ ua, self.eps)
                ua = _l2_normalized(mat @ va, self.eps)
            u_buf._data[...], v_buf._data[...] = ua, va  # the buffers keep their arrays
            u_buf._version += 1
            v_buf._version += 1
            # fresh arrays for sigma (PyTorch's clone): the next iteration's in-place update
            # must not change what this forward's backward reads
            u, v = Tensor(ua), Tensor(va)
        # u and v are constants here (no gradient), as in PyTorch
        sigma = F.matmul(u, F.matmul(self._as_matrix(weight), v))
        return weight / sigma

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))


def spectral_norm(
    module: Module,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: int | None = None,
) -> Module:
    """Divide `module.<name>` by its largest singular value, estimated by power iteration
    (Miyato et al., 2018): the GAN discriminator's Lipschitz constraint.

    Replaces the Parameter `name` by the Parameter `name_orig` (the same object, so an optimizer
    built before keeps working) and buffers `name_u` (shape[dim],) and `name_v` (numel /
    shape[dim],), drawn from N(0, 1) and normalised; `module.<name>` is the plain old values
    until the first forward. Before every forward a pre-hook computes
    weight = weight_orig / (u^T W v), W = weight_orig as a (shape[dim], -1) matrix, after
    `n_power_iterations` power-iteration steps on u and v in training mode only (eval reuses
    the stored u, v). u and v are constants to autograd.

    Args:
        module (Module): the layer; returned, changed in place.
        name (str): the parameter to normalise. Default: 'weight'.
        n_power_iterations (int): power-iteration steps per training forward, >= 1. Default: 1.
        eps (float): lower bound of the norms that normalise u and v. Default: 1e-12.
        dim (int, optional): the dim of the outputs: 1 for ConvTranspose1d/2d/3d, 0 otherwise.
    """
    if n_power_iterations <= 0:
        raise ValueError(
            "Expected n_power_iterations to be positive, but got "
            f"n_power_iterations={n_power_iterations}"
        )
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)) else 0
    _check_unique(module, SpectralNorm, name, "spectral_norm")
    weight = _take_parameter(module, name, "spectral_norm")
    fn = SpectralNorm(
        name, int(n_power_iterations), _wrap_dim(dim, weight.ndim, "spectral_norm"), eps
    )
    h, w = fn._as_matrix(weight._data).shape
    dev, rng = weight.device, default_rng()
    u, v = (
        _l2_normalized(to_device(rng.standard_normal(n).astype(weight.dtype), dev), eps)
        for n in (h, w)
    )
    delattr(module, name)
    module.register_parameter(name + "_orig", weight)
    setattr(module, name, weight.data)  # a plain attribute, not a Parameter, as in PyTorch
    module.register_buffer(name + "_u", u)
    module.register_buffer(name + "_v", v)
    module.register_forward_pre_hook(fn)
    return module


def remove_spectral_norm(module: Module, name: str = "weight") -> Module:
    """Undo `spectral_norm`: `module.<name>` becomes one plain Parameter holding
    weight_orig / sigma with the stored u, v (no power iteration); the buffers and hook go."""
    return _remove_hook(module, SpectralNorm, name, "spectral_norm")
