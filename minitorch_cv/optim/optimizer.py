"""Optimizer: parameter groups, per-parameter state, zero_grad, step, state_dict (torch.optim's).

A subclass writes one method, `_update(param, grad, state, group)`, which changes the raw array
`param` in place using xp operations (NumPy or CuPy: no copies to the host). The base class
walks the groups, skips parameters without a gradient and keeps `state[p]` per parameter.
"""

from __future__ import annotations

from ..backend import device_of, to_device
from ..layers.lazy import is_lazy
from ..tensor import Tensor, enable_grad


def _to_numpy(v):
    """A state value for a checkpoint: arrays become NumPy copies, numbers stay numbers."""
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return to_device(v, "cpu").copy()
    return v


def _read_array(v):
    """A loaded state value as an array (NumPy/CuPy/Tensor/torch tensor), or None if it is none."""
    import numpy as np

    if isinstance(v, Tensor):
        return v._data
    mod = type(v).__module__
    if mod.startswith("cupy") or isinstance(v, np.ndarray):
        return v
    if mod.startswith("torch") and hasattr(v, "detach"):
        return np.asarray(v.detach().cpu())
    return None


def ascent_grad(param, grad, group: dict):
    """The gradient an update rule steps against: negated for maximize, plus PyTorch's weight
    decay, either an L2 term (g + wd p) or, with decoupled_weight_decay, AdamW's shrink
    p *= 1 - lr wd applied to the parameter in place."""
    g = -grad if group["maximize"] else grad
    wd = group["weight_decay"]
    if wd == 0:
        return g
    if group.get("decoupled_weight_decay"):
        param *= 1 - group["lr"] * wd
        return g
    return g + wd * param


def check_nonnegative(name: str, group: dict, keys) -> None:
    """A ValueError naming the optimizer and the option when one of `keys` is negative."""
    for key in keys:
        if group[key] < 0:
            raise ValueError(f"{name}: invalid {key} {group[key]} (must be >= 0)")


class Optimizer:
    """Base class of every optimizer.

    Args:
        params: an iterable of Tensors, of (name, Tensor) pairs (`model.named_parameters()`),
            or of dicts (parameter groups: {'params': [...], 'lr': ..., ...}).
        defaults (dict): option values for groups that do not set them.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: dict = {}
        self.param_groups: list[dict] = []
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of Tensors or dicts, got a "
                "Tensor; pass [tensor] or model.parameters()"
            )
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs; use a list instead"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    # ---------------------------------------------------------------- groups

    def _validate_group(self, group: dict) -> None:
        """Check one group's options (subclasses raise ValueError on bad values)."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (e.g. a smaller lr for a backbone)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs; use a list instead"
            )
        else:
            params = list(params)
        names = None
        if params and isinstance(params[0], tuple):  # named_parameters()
            names = [n for n, _ in params]
            params = [p for _, p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(
                    f"{type(self).__name__} can only optimize Tensors, but one of the params is "
                    f"{type(p).__name__}"
                )
            if is_lazy(p):
                raise ValueError(
                    f"{type(self).__name__} got an uninitialized parameter (of a lazy module that "
                    "has not seen an input): run the model once on a batch of real inputs (a "
                    "dry run) before building the optimizer"
                )
            if not p.is_leaf:
                raise ValueError(
                    f"{type(self).__name__} can't optimize a non-leaf Tensor (of shape {p.shape})"
                )
            if p.dtype.kind != "f":
                raise TypeError(
                    f"{type(self).__name__} can only optimize floating tensors, got dtype {p.dtype}"
                )
        ids = [id(p) for p in params]  # ids, not `in`: Tensor == Tensor is elementwise
        if len(set(ids)) != len(ids):
            raise ValueError(
                f"{type(self).__name__}: a parameter group contains the same parameter twice"
            )
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken & set(ids):
            raise ValueError(
                f"{type(self).__name__}: some parameters appear in more than one parameter group"
            )
        group = {k: v for k, v in param_group.items() if k != "params"}
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        group["params"] = params
        if names is not None:
            group["param_names"] = names
        self._validate_group(group)
        self.param_groups.append(group)

    # ---------------------------------------------------------------- the loop

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all optimized parameters (drop them, or fill with zeros)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad._data[...] = 0

    def step(self, closure=None):
        """One update of every parameter that has a gradient.

        Args:
            closure (callable, optional): re-evaluates the model and returns the loss.
        Returns the closure's loss (or None).
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.setdefault(p, {})
                self._update(p._data, p.grad._data, state, group)
                p._version += 1  # an in-place change: a pending backward that saved p fails
        return loss

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """{'state': {index: {name: value}}, 'param_groups': [{..., 'params': [index, ...]}]}.

        Parameters are numbered across groups in order, as in PyTorch; arrays are NumPy copies
        (ready for np.savez), numbers stay Python numbers."""
        index, groups, i = {}, [], 0
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = list(range(i, i + len(g["params"])))
            for p in g["params"]:
                index[id(p)] = i
                i += 1
            groups.append(packed)
        state = {
            index[id(p)]: {k: _to_numpy(v) for k, v in s.items()}
            for p, s in self.state.items()
            if id(p) in index
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by `state_dict()` (also from another device).

        Checked before anything changes: group count, group sizes, state indices, array shapes."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the state dict has {len(saved_groups)} parameter "
                f"group(s), the optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for gi, (g, s) in enumerate(zip(self.param_groups, saved_groups)):
            if len(g["params"]) != len(s["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {gi} has {len(s['params'])} "
                    f"parameters in the state dict but {len(g['params'])} in the optimizer"
                )
            for idx, p in zip(s["params"], g["params"]):
                by_index[int(idx)] = p
        new_state = {}
        for idx, saved in state_dict["state"].items():
            if int(idx) not in by_index:
                raise ValueError(
                    f"{name}.load_state_dict: state for parameter index {idx}, which no group has"
                )
            p = by_index[int(idx)]
            entry = {}
            for key, v in saved.items():
                arr = _read_array(v)
                if arr is None:
                    entry[key] = v
                elif arr.ndim == 0:
                    # scalars such as 'step' (a 0-d tensor in PyTorch's state dicts)
                    entry[key] = arr.item()
                elif tuple(arr.shape) != p.shape:
                    raise ValueError(
                        f"{name}.load_state_dict: state '{key}' of parameter {idx} has shape "
                        f"{tuple(arr.shape)}, the parameter has shape {p.shape}"
                    )
                else:
                    arr = to_device(arr, device_of(p._data))
                    entry[key] = arr.astype(p.dtype) if arr.dtype.kind == "f" else arr.copy()
            new_state[p] = entry
        for g, s in zip(self.param_groups, saved_groups):
            params = g["params"]
            g.clear()
            g.update({k: v for k, v in s.items() if k != "params"})
            g["params"] = params
        self.state = new_state

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(g):
                if k not in ("params", "param_names"):
                    lines.append(f"    {k}: {g[k]}")
        lines.append(")")
        return "\n".join(lines)
