"""L-BFGS: a quasi-Newton method that builds its direction from the last `history_size` steps and
gradient changes (the two-loop recursion), with a fixed step or a strong Wolfe line search.

PyTorch's algorithm (itself a port of minFunc and Torch7's optim): the same iterations, stopping
rules, state names and line search, so in float64 a run here follows a run there step for step
(in float32 the runs drift apart: torch's fused `add_(alpha=)` rounds differently from NumPy's
multiply then add). All parameters are viewed as one flat vector; the closure re-evaluates the
loss and its gradient.
"""

from __future__ import annotations

import math
import numbers

from ..backend import device_of, to_device, xp_of
from ..tensor import enable_grad
from .optimizer import Optimizer, _read_array, _to_numpy


def _cubic_interpolate(x1, f1, g1, x2, f2, g2, bounds=None) -> float:
    """The minimiser of the cubic through (x1, f1) and (x2, f2) with slopes g1 and g2, clamped to
    `bounds` (default: between x1 and x2); their midpoint when the cubic has no minimum."""
    xmin_bound, xmax_bound = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(min_pos, xmin_bound), xmax_bound)
    return (xmin_bound + xmax_bound) / 2.0


def _strong_wolfe(obj_func, x, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """A step t along d with sufficient decrease, f(x + t d) <= f + c1 t gtd, and a small slope,
    |g(x + t d) . d| <= c2 |gtd| (Nocedal & Wright, Algorithms 3.5 and 3.6).

    First bracket: grow t (cubic steps, at most 10x) until the decrease fails, the loss rises or
    the slope turns positive. Then zoom: shrink the bracket by cubic interpolation, kept 10% away
    from its ends when it stalls. Returns (f_new, g_new, t, evaluations)."""
    xp = xp_of(d)
    d_norm = float(xp.abs(d).max())
    g = g.copy()
    f_new, g_new = obj_func(x, t, d)
    ls_func_evals = 1
    gtd_new = float(xp.dot(g_new, d))

    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # still descending at t: extrapolate, at least 1% and at most 10x further
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_prev, t = (
            t,
            _cubic_interpolate(
                t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
            ),
        )
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(xp.dot(g_new, d))
        ls_iter += 1

    if ls_iter == max_ls:  # out of evaluations while still growing: bracket from 0
        bracket, bracket_f, bracket_g = [0, t], [f, f_new], [g, g_new]

    insuf_progress = False
    low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # a trial at the bracket's edge shrinks it by almost nothing: if that happens twice in a
        # row (or t falls outside), try 10% of its width inside the nearer end instead
        hi, lo = max(bracket), min(bracket)
        eps = 0.1 * (hi - lo)
        if min(hi - t, t - lo) < eps:
            if insuf_progress or t >= hi or t <= lo:
                t = hi - eps if abs(t - hi) < abs(t - lo) else lo + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False

        f_new, g_new = obj_func(x, t, d)
        ls_func_evals += 1
        gtd_new = float(xp.dot(g_new, d))
        ls_iter += 1

        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low_pos]:
            # not enough decrease, or not below the low end: t becomes the high end
            bracket[high_pos], bracket_f[high_pos] = t, f_new
            bracket_g[high_pos], bracket_gtd[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                # the minimum lies beyond the low end, away from the high end: old low -> high
                bracket[high_pos], bracket_f[high_pos] = bracket[low_pos], bracket_f[low_pos]
                bracket_g[high_pos] = bracket_g[low_pos]
                bracket_gtd[high_pos] = bracket_gtd[low_pos]
            bracket[low_pos], bracket_f[low_pos] = t, f_new
            bracket_g[low_pos], bracket_gtd[low_pos] = g_new, gtd_new

    return bracket_f[low_pos], bracket_g[low_pos], bracket[low_pos], ls_func_evals


class LBFGS(Optimizer):
    """PyTorch's L-BFGS. One call of `step(closure)` runs up to `max_iter` iterations, each:

        direction d = -H g, H the inverse Hessian estimate from the stored pairs
            s = t d (the step taken), y = g_new - g_old (kept only when y . s > 1e-10),
            by the two-loop recursion with H0 = (y . s) / (y . y) of the newest pair
        step t: lr (on the very first iteration min(1, 1 / sum|g|) * lr), taken as it is or
            chosen by the strong Wolfe line search
        stop when max|g| <= tolerance_grad, when g . d > -tolerance_change, when max|t d| or
            the change of the loss is <= tolerance_change, or after max_eval evaluations

    The closure clears the gradients, computes the loss, calls backward and returns the loss:

        def closure():
            opt.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            return loss
        opt.step(closure)

    Meant for full-batch problems (e.g. style transfer); it keeps 2 * history_size flat copies
    of the parameters. One parameter group only, as in PyTorch.

    Args:
        params: parameters (a single group).
        lr (float): Default: 1.
        max_iter (int): iterations per `step`. Default: 20.
        max_eval (int): closure evaluations per `step`. Default: max_iter * 5 // 4.
        tolerance_grad (float): stop when the largest gradient element is this small.
            Default: 1e-7.
        tolerance_change (float): stop when the step or the loss change is this small.
            Default: 1e-9.
        history_size (int): (s, y) pairs kept. Default: 100.
        line_search_fn (str or None): None (a fixed step) or 'strong_wolfe'. Default: None.
    """

    def __init__(
        self,
        params,
        lr: float = 1,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = dict(
            lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
            tolerance_change=tolerance_change, history_size=history_size,
            line_search_fn=line_search_fn,
        )  # fmt: skip
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        # the history is one flat vector over all parameters: per-group options have no meaning
        if self.param_groups:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        super().add_param_group(param_group)

    def _validate_group(self, g: dict) -> None:
        if g["lr"] < 0:
            raise ValueError(f"LBFGS: invalid learning rate {g['lr']} (must be >= 0)")
        for key in ("max_iter", "max_eval", "history_size"):  # counts: 10.0 is refused too
            v = g[key]
            if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
                raise ValueError(
                    f"LBFGS: invalid {key} {v!r} (must be an int >= 1, got {type(v).__name__})"
                )
        for key in ("tolerance_grad", "tolerance_change"):
            if g[key] < 0:
                raise ValueError(f"LBFGS: invalid {key} {g[key]} (must be >= 0)")
        if g["line_search_fn"] not in (None, "strong_wolfe"):
            raise ValueError(
                f"LBFGS: invalid line_search_fn {g['line_search_fn']!r} "
                "(must be None or 'strong_wolfe')"
            )

    # ---------------------------------------------------------------- the flat vector

    @property
    def _params(self):
        return self.param_groups[0]["params"]

    def _gather_flat_grad(self):
        xp = xp_of(self._params[0]._data)
        return xp.concatenate(
            [
                xp.zeros(p._data.size, p.dtype) if p.grad is None else p.grad._data.reshape(-1)
                for p in self._params
            ]
        )

    def _add_grad(self, t, d) -> None:
        """p += t * d, d cut into the parameters' shapes."""
        offset = 0
        for p in self._params:
            n = p._data.size
            p._data += t * d[offset : offset + n].reshape(p.shape)
            p._version += 1
            offset += n

    def _set_param(self, values) -> None:
        for p, v in zip(self._params, values):
            p._data[...] = v
            p._version += 1

    def _directional_evaluate(self, closure, x, t, d):
        """The loss and flat gradient at x + t d; the parameters are put back to x after."""
        self._add_grad(t, d)
        with enable_grad():
            loss = float(closure())
        flat_grad = self._gather_flat_grad()
        self._set_param(x)
        return loss, flat_grad

    # ---------------------------------------------------------------- the step

    def step(self, closure=None):
        """Up to `max_iter` L-BFGS iterations; returns the loss of the first evaluation.

        Args:
            closure (callable): clears the gradients, re-evaluates the model, calls backward
                and returns the loss. Required.
        """
        if closure is None:
            raise TypeError(
                "LBFGS.step needs a closure that clears the gradients, computes the loss, calls "
                "backward and returns the loss: opt.step(closure)"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        xp = xp_of(self._params[0]._data)

        # L-BFGS's state is global; it is kept under the first parameter, as PyTorch does
        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._gather_flat_grad()
        if float(xp.abs(flat_grad).max()) <= tolerance_grad:
            return orig_loss  # already stationary

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1

            # ---- direction
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = float(xp.dot(y, s))
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / float(xp.dot(y, y))
                # two-loop recursion: d = -H g without forming H; the alphas stay on the device
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = xp.dot(old_stps[i], q) * ro[i]
                    q -= al[i] * old_dirs[i]
                d = r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = xp.dot(old_dirs[i], r) * ro[i]
                    r += (al[i] - be_i) * old_stps[i]

            if prev_flat_grad is None:
                prev_flat_grad = flat_grad.copy()
            else:
                prev_flat_grad[...] = flat_grad
            prev_loss = loss

            # ---- step length
            if state["n_iter"] == 1:
                # the very first step moves by at most lr in the l1 sense: the scale is unknown
                gsum = float(xp.abs(flat_grad).sum())
                t = (min(1.0, 1.0 / gsum) if gsum > 0 else 1.0) * lr
            else:
                t = lr
            gtd = float(xp.dot(flat_grad, d))
            if gtd > -tolerance_change:
                break  # not a descent direction (any more)

            ls_func_evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x_init = [p._data.copy() for p in self._params]

                def obj_func(x, t, d):
                    return self._directional_evaluate(closure, x, t, d)

                loss, flat_grad, t, ls_func_evals = _strong_wolfe(
                    obj_func, x_init, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add_grad(t, d)
                opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
            else:
                self._add_grad(t, d)
                if n_iter != max_iter:
                    # no evaluation after the last iteration: the next step() starts with one
                    with enable_grad():
                        loss = float(closure())
                    flat_grad = self._gather_flat_grad()
                    opt_cond = float(xp.abs(flat_grad).max()) <= tolerance_grad
                    ls_func_evals = 1
            current_evals += ls_func_evals
            state["func_evals"] += ls_func_evals

            # ---- stopping rules
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if float(xp.abs(d).max()) * abs(t) <= tolerance_change:  # = max|t d|, exactly
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state["d"], state["t"] = d, t
        state["old_dirs"], state["old_stps"], state["ro"] = old_dirs, old_stps, ro
        state["H_diag"] = H_diag
        state["prev_flat_grad"], state["prev_loss"] = prev_flat_grad, prev_loss
        return orig_loss

    # ---------------------------------------------------------------- checkpoints

    def state_dict(self) -> dict:
        """As `Optimizer.state_dict`, the history lists copied too (NumPy arrays, floats)."""
        sd = super().state_dict()
        for s in sd["state"].values():
            for key, v in s.items():
                if isinstance(v, list):
                    s[key] = [_host_value(x) for x in v]
                elif hasattr(v, "ndim") and v.ndim == 0:
                    s[key] = v.item()
        return sd

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore a state saved by `state_dict()` here or by torch.optim.LBFGS.

        The flat vectors must have as many elements as all parameters together."""
        params = self._params
        numel = sum(p._data.size for p in params)
        first = params[0]._data
        dtype = xp_of(first).result_type(*[p.dtype for p in params])
        dev = device_of(first)

        def load(key, v):
            if isinstance(v, (list, tuple)):
                return [load(key, x) for x in v]
            arr = _read_array(v)
            if arr is None:
                return v
            if arr.ndim == 0:
                return arr.item()
            if tuple(arr.shape) != (numel,):
                raise ValueError(
                    f"LBFGS.load_state_dict: state '{key}' has shape {tuple(arr.shape)}, the "
                    f"parameters have {numel} elements together"
                )
            return to_device(arr, dev).astype(dtype)

        saved = state_dict["state"]
        if any(int(i) != 0 for i in saved):
            raise ValueError(
                "LBFGS.load_state_dict: L-BFGS keeps its state under parameter 0, the state dict "
                f"has it under {sorted(saved)}"
            )
        entry = {key: load(key, v) for s in saved.values() for key, v in s.items()}
        super().load_state_dict({"state": {}, "param_groups": state_dict["param_groups"]})
        if saved:
            self.state = {params[0]: entry}


def _host_value(v):
    """A history item for a checkpoint: None, a float (0-d) or a NumPy copy (a flat vector)."""
    if v is None or isinstance(v, (int, float)):
        return v
    return v.item() if v.ndim == 0 else _to_numpy(v)
