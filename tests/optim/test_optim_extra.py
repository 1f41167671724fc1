"""Rprop, Adadelta and LBFGS: each update against a plain-loop reference, the line search's
pieces against their definitions, L-BFGS on Rosenbrock, checkpoints that resume exactly, and
parity with torch.optim."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.backend import gpu_available
from minitorch_cv.layers.module import Parameter
from minitorch_cv.optim import LBFGS, OPTIMIZERS, Adadelta, Rprop
from minitorch_cv.optim.lbfgs import _cubic_interpolate, _strong_wolfe


def param(values, dtype=np.float64):
    return Parameter(mt.tensor(np.asarray(values, dtype=dtype)))


def set_grad(p, g):
    p.grad = mt.tensor(np.asarray(g, dtype=p.dtype))


def sign(v):
    return (v > 0) - (v < 0)


def gradient_sequence(rng, steps, n):
    """Random gradients with exact zeros and frequent sign flips: every Rprop branch is taken."""
    g = rng.standard_normal((steps, n))
    g[rng.random((steps, n)) < 0.2] = 0.0
    return g


# ---------------------------------------------------------------- plain-loop references


def rprop_reference(p0, grads, lr, etas, step_sizes, maximize=False):
    """Riedmiller & Braun's Rprop (the iRprop- variant, as PyTorch), one number at a time."""
    p, prev, size = [float(v) for v in p0], [0.0] * len(p0), [float(lr)] * len(p0)
    for g in grads:
        for i, gi in enumerate(g):
            gi = -float(gi) if maximize else float(gi)
            s = gi * prev[i]
            eta = etas[1] if s > 0 else etas[0] if s < 0 else 1.0
            size[i] = min(max(size[i] * eta, step_sizes[0]), step_sizes[1])
            if s < 0:
                gi = 0.0  # a flipped sign: no step now, and no comparison next time
            p[i] -= sign(gi) * size[i]
            prev[i] = gi
    return p, size, prev


def adadelta_reference(p0, grads, lr, rho, eps, weight_decay=0.0, maximize=False):
    """Zeiler's Adadelta (times lr), one number at a time."""
    p, v, u = [float(x) for x in p0], [0.0] * len(p0), [0.0] * len(p0)
    for g in grads:
        for i, gi in enumerate(g):
            gi = -float(gi) if maximize else float(gi)
            gi += weight_decay * p[i]
            v[i] = rho * v[i] + (1 - rho) * gi * gi
            delta = math.sqrt(u[i] + eps) / math.sqrt(v[i] + eps) * gi
            u[i] = rho * u[i] + (1 - rho) * delta * delta
            p[i] -= lr * delta
    return p, v, u


def lbfgs_fixed_step_reference(x0, grad_fn, lr, history_size, iterations):
    """Textbook L-BFGS with a fixed step and the inverse Hessian formed densely: from
    H0 = (s.y / y.y) I of the newest pair, each kept pair (oldest first) applies BFGS's update
    H <- (I - rho s y^T) H (I - rho y s^T) + rho s s^T, rho = 1 / y.s; the direction is -H g.
    The first step is -min(1, 1 / |g|_1) lr g."""
    x, n, pairs, gamma = x0.copy(), len(x0), [], 1.0
    g = grad_fn(x)
    x_prev = g_prev = None
    for k in range(iterations):
        if k > 0:
            s, y = x - x_prev, g - g_prev
            if y @ s > 1e-10:
                pairs = (pairs + [(s, y)])[-history_size:]
                gamma = (s @ y) / (y @ y)
        H = gamma * np.eye(n)
        for s, y in pairs:
            rho = 1.0 / (y @ s)
            V = np.eye(n) - rho * np.outer(y, s)
            H = V.T @ H @ V + rho * np.outer(s, s)
        t = lr * min(1.0, 1.0 / np.abs(g).sum()) if k == 0 else lr
        x_prev, g_prev = x, g
        x = x - t * (H @ g)
        g = grad_fn(x)
    return x


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-6, 50)),
        # narrow bounds: the clamp acts at both ends
        dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.05, 0.2), maximize=True),
    ],
)
def test_rprop_matches_a_scalar_loop(kw):
    rng = np.random.default_rng(0)
    p0, grads = rng.standard_normal(7), gradient_sequence(rng, 8, 7)
    p = param(p0)
    opt = Rprop([p], **kw)
    for g in grads:
        set_grad(p, g)
        opt.step()
        np.testing.assert_array_equal(p.grad.numpy(), g)  # the caller's gradient is not zeroed
    ref_p, ref_size, ref_prev = rprop_reference(p0, grads, **kw)
    np.testing.assert_allclose(p.numpy(), ref_p, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(opt.state[p]["step_size"], ref_size, rtol=1e-14)
    np.testing.assert_array_equal(opt.state[p]["prev"], ref_prev)
    assert opt.state[p]["step"] == len(grads)


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=1.0, rho=0.9, eps=1e-6),
        dict(lr=0.5, rho=0.5, eps=1e-3, weight_decay=0.1, maximize=True),
    ],
)
def test_adadelta_matches_a_scalar_loop(kw):
    rng = np.random.default_rng(1)
    p0, grads = rng.standard_normal(6), gradient_sequence(rng, 6, 6)
    p = param(p0)
    opt = Adadelta([p], **kw)
    for g in grads:
        set_grad(p, g)
        opt.step()
    ref_p, ref_v, ref_u = adadelta_reference(p0, grads, **kw)
    np.testing.assert_allclose(p.numpy(), ref_p, rtol=1e-13)
    np.testing.assert_allclose(opt.state[p]["square_avg"], ref_v, rtol=1e-13)
    np.testing.assert_allclose(opt.state[p]["acc_delta"], ref_u, rtol=1e-13)


def _quadratic(rng, n):
    """f(x) = x.A x / 2 - b.x with A symmetric positive definite (condition number ~100)."""
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = q @ np.diag(np.geomspace(1, 100, n)) @ q.T
    b = rng.standard_normal(n)
    return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b), A, b


def test_lbfgs_fixed_step_matches_the_dense_inverse_hessian_reference():
    rng = np.random.default_rng(2)
    f, grad, _, _ = _quadratic(rng, 8)
    x0 = rng.standard_normal(8)
    # two parameters of different shapes: L-BFGS works on their concatenation
    a, b = param(x0[:6].reshape(2, 3)), param(x0[6:])
    # zero tolerances: no early stop, so a step() of max_iter iterations is max_iter iterations
    opt = LBFGS([a, b], lr=0.3, max_iter=5, history_size=3, tolerance_grad=0, tolerance_change=0)

    def closure():
        x = np.concatenate([a.numpy().ravel(), b.numpy()])
        g = grad(x)
        set_grad(a, g[:6].reshape(2, 3))
        set_grad(b, g[6:])
        return f(x)  # a plain number is a valid closure result, as in PyTorch

    losses = [opt.step(closure) for _ in range(3)]
    # each step() leaves its last iterate unevaluated and the next one starts by evaluating it,
    # so three steps of 5 iterations are one run of 15 (and the history carries over)
    expected = lbfgs_fixed_step_reference(x0, grad, lr=0.3, history_size=3, iterations=15)
    np.testing.assert_allclose(np.concatenate([a.numpy().ravel(), b.numpy()]), expected, rtol=1e-9)
    assert losses[0] == f(x0) and losses[2] < losses[1] < losses[0]
    state = opt.state[a]
    assert state["n_iter"] == 15 and len(state["old_dirs"]) == 3
    assert state["func_evals"] == 3 * 5  # one evaluation per iteration but each step's last


def test_cubic_interpolate_finds_the_minimum_of_a_cubic():
    # f(x) = x^3 - 3x: local minimum at 1; f(0) = 0, f'(0) = -3, f(2) = 2, f'(2) = 9
    assert _cubic_interpolate(0.0, 0.0, -3.0, 2.0, 2.0, 9.0) == pytest.approx(1.0, abs=1e-12)
    assert _cubic_interpolate(2.0, 2.0, 9.0, 0.0, 0.0, -3.0) == pytest.approx(1.0, abs=1e-12)
    # a quadratic is a cubic too: (x - 0.3)^2 through 0 and 1; outside the bounds it is clamped
    assert _cubic_interpolate(0.0, 0.09, -0.6, 1.0, 0.49, 1.4) == pytest.approx(0.3, abs=1e-12)
    assert _cubic_interpolate(0.0, 0.09, -0.6, 1.0, 0.49, 1.4, bounds=(0.5, 0.9)) == 0.5
    # no minimum (d1^2 < g1 g2): the middle of the bounds
    assert _cubic_interpolate(0.0, 0.0, 1.0, 1.0, 2.0 / 3.0, 1.0) == 0.5


def _rosenbrock(x):
    return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2


def _rosenbrock_grad(x):
    return np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])


def _wavy(a0, a1, c):
    """sin(a0 x) + sin(a1 x + 1) / 2 + c x^2: many local minima, so every branch of the line
    search is taken by one of LINE_SEARCH_CASES."""
    f = lambda x: float(np.sum(np.sin(a0 * x) + 0.5 * np.sin(a1 * x + 1) + c * x**2))
    g = lambda x: a0 * np.cos(a0 * x) + 0.5 * a1 * np.cos(a1 * x + 1) + 2 * c * x
    return f, g


# (f and its gradient, start, first trial step): between them they extrapolate, zoom in from
# the high end, stall near a bracket end and get moved 10% inside, and turn the low end high
LINE_SEARCH_CASES = [
    ((_rosenbrock, _rosenbrock_grad), [-1.2, 1.0], 1e-6),
    ((_rosenbrock, _rosenbrock_grad), [-1.2, 1.0], 1.0),
    (_wavy(3.37, 1.71, 0.68), [1.25], 36.6),
    (_wavy(3.23, 3.78, 0.47), [1.26], 1e-3),
    (_wavy(2.69, 4.5, 0.19), [0.29], 0.04),
    (_wavy(4.5, 1.52, 0.15), [0.34], 0.59),
    (_wavy(2.86, 0.9, 0.29), [-1.97], 7.3),
]


def _line_search(fg, x0, t0, **kw):
    f, grad = fg
    x = np.array(x0)
    g = grad(x)
    d = -g
    evaluated = []

    def obj_func(x, t, d):
        evaluated.append(t)
        return f(x + t * d), grad(x + t * d)

    f_new, g_new, t, evals = _strong_wolfe(obj_func, x, t0, d, f(x), g, float(g @ d), **kw)
    return x, d, f_new, g_new, t, evals, evaluated


@pytest.mark.parametrize("fg,x0,t0", LINE_SEARCH_CASES)
def test_strong_wolfe_returns_a_point_that_meets_both_conditions(fg, x0, t0):
    x, d, f_new, g_new, t, evals, evaluated = _line_search(fg, x0, t0)
    f, grad = fg
    gtd = float(grad(x) @ d)
    c1, c2 = 1e-4, 0.9
    assert f_new <= f(x) + c1 * t * gtd  # sufficient decrease
    assert abs(float(g_new @ d)) <= c2 * abs(gtd)  # curvature (the strong form)
    assert f_new == f(x + t * d) and t in evaluated
    np.testing.assert_array_equal(g_new, grad(x + t * d))
    assert evals == len(evaluated) <= 25


def test_strong_wolfe_out_of_evaluations_returns_the_lower_point():
    fg = (_rosenbrock, _rosenbrock_grad)
    # still extrapolating after 2 more trials: the bracket is [0, last t]
    x, d, f_new, _, t, evals, evaluated = _line_search(fg, [-1.2, 1.0], 1e-8, max_ls=2)
    assert evals == 3 and t == evaluated[-1] and f_new < _rosenbrock(x)
    # a bracket narrower than tolerance_change / max|d| ends the zoom at once
    x, d, f_new, _, t, evals, _ = _line_search(fg, [-1.2, 1.0], 1.0, tolerance_change=1e3)
    assert evals == 1 and t == 0 and f_new == _rosenbrock(x)


def _rosenbrock_closure(opt, x):
    def closure():
        opt.zero_grad()
        loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize(
    "kw,steps",
    [(dict(line_search_fn="strong_wolfe"), 3), (dict(lr=0.1, history_size=10), 10)],
    ids=["strong_wolfe", "fixed_step"],
)
def test_lbfgs_minimises_rosenbrock(kw, steps):
    x = param([-1.5, 2.0])
    opt = LBFGS([x], **kw)
    closure = _rosenbrock_closure(opt, x)
    first = opt.step(closure)
    for _ in range(steps - 1):
        opt.step(closure)
    assert first.item() == pytest.approx(_rosenbrock([-1.5, 2.0]))
    np.testing.assert_allclose(x.numpy(), [1.0, 1.0], atol=1e-3)
    assert _rosenbrock(x.numpy()) < 1e-7


def test_lbfgs_closure_runs_with_grad_enabled_and_needs_one_group():
    x = param([-1.5, 2.0])
    opt = LBFGS([x], line_search_fn="strong_wolfe")
    with mt.no_grad():
        opt.step(_rosenbrock_closure(opt, x))
    assert _rosenbrock(x.numpy()) < _rosenbrock([-1.5, 2.0])
    with pytest.raises(TypeError, match="LBFGS.step needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        LBFGS([{"params": [param([1.0])]}, {"params": [param([2.0])]}])
    with pytest.raises(ValueError, match="LBFGS doesn't support per-parameter options"):
        opt.add_param_group({"params": [param([1.0])]})


def test_lbfgs_stops_at_once_when_the_gradient_is_zero():
    x = param([1.0, 1.0])  # Rosenbrock's minimum
    opt = LBFGS([x])
    opt.step(_rosenbrock_closure(opt, x))
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0])
    assert opt.state[x]["func_evals"] == 1 and opt.state[x]["n_iter"] == 0


# ---------------------------------------------------------------- checkpoints


def _steps_with_grads(opt, params, grads):
    for g in grads:
        for p, gp in zip(params, g):
            set_grad(p, gp)
        opt.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: Rprop(ps, lr=0.05, etas=(0.4, 1.3)),
        lambda ps: Adadelta(ps, lr=0.5, rho=0.8, weight_decay=0.01),
    ],
    ids=["rprop", "adadelta"],
)
def test_state_dict_round_trip_resumes_exactly(make):
    rng = np.random.default_rng(3)
    init_vals = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    grads = [[rng.standard_normal((3, 2)), rng.standard_normal(4)] for _ in range(6)]
    a = [param(v.copy()) for v in init_vals]
    opt_a = make(a)
    _steps_with_grads(opt_a, a, grads[:3])
    sd = opt_a.state_dict()
    b = [param(p.numpy().copy()) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict(sd)
    _steps_with_grads(opt_a, a, grads[3:])
    _steps_with_grads(opt_b, b, grads[3:])
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def _logistic_problem(rng):
    x = rng.standard_normal((32, 5))
    y = np.sign(rng.standard_normal((32, 1))) * np.array([1.0, -1.0])
    return x, y, rng.standard_normal((5, 2)) * 0.3, rng.standard_normal(2) * 0.1


def _logistic_closure(opt, w, b, x, y):
    def closure():
        opt.zero_grad()
        z = mt.tensor(x) @ w + b
        loss = F.softplus(-mt.tensor(y) * z).mean() + 0.01 * (w * w).sum()
        loss.backward()
        return loss

    return closure


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_round_trip_resumes_exactly(line_search_fn):
    x, y, w0, b0 = _logistic_problem(np.random.default_rng(4))
    kw = dict(lr=0.8, max_iter=4, history_size=3, line_search_fn=line_search_fn)
    w, b = param(w0), param(b0)
    opt = LBFGS([w, b], **kw)
    closure = _logistic_closure(opt, w, b, x, y)
    for _ in range(2):
        opt.step(closure)
    sd = opt.state_dict()
    saved = sd["state"][0]
    assert len(saved["old_dirs"]) == 3 and saved["d"].shape == (12,)
    assert all(type(v) is np.ndarray for v in saved["old_dirs"] + saved["old_stps"])
    snapshot = [v.copy() for v in saved["old_dirs"]]
    w2, b2 = param(w.numpy().copy()), param(b.numpy().copy())
    opt2 = LBFGS([w2, b2], **kw)
    opt2.load_state_dict(sd)
    closure2 = _logistic_closure(opt2, w2, b2, x, y)
    for _ in range(2):
        opt.step(closure)
        opt2.step(closure2)
    np.testing.assert_array_equal(w.numpy(), w2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    for old, now in zip(snapshot, saved["old_dirs"]):
        np.testing.assert_array_equal(old, now)  # the checkpoint holds copies
    bad = opt.state_dict()
    bad["state"][0]["d"] = np.zeros(5)
    with pytest.raises(ValueError, match=r"state 'd' has shape \(5,\), the parameters have 12"):
        opt2.load_state_dict(bad)


# ---------------------------------------------------------------- validation, registry


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: Rprop(p, lr=-1), r"Rprop: invalid learning rate -1 \(must be >= 0\)"),
        (lambda p: Rprop(p, etas=(1.0, 1.2)), r"Rprop: invalid etas \(1.0, 1.2\)"),
        (lambda p: Rprop(p, etas=(0.5, 0.9)), "Rprop: invalid etas"),
        (lambda p: Rprop(p, step_sizes=(1.0, 0.1)), r"Rprop: invalid step_sizes \(1.0, 0.1\)"),
        (lambda p: Adadelta(p, lr=-0.1), "Adadelta: invalid learning rate -0.1"),
        (lambda p: Adadelta(p, rho=1.5), r"Adadelta: invalid rho 1.5 \(must be in \[0, 1\]\)"),
        (lambda p: Adadelta(p, eps=-1), "Adadelta: invalid eps -1"),
        (lambda p: Adadelta(p, weight_decay=-1), "Adadelta: invalid weight_decay -1"),
        (lambda p: LBFGS(p, lr=-1), "LBFGS: invalid learning rate -1"),
        (lambda p: LBFGS(p, history_size=0), "LBFGS: invalid history_size 0"),
        (lambda p: LBFGS(p, max_iter=0), "LBFGS: invalid max_iter 0"),
        (lambda p: LBFGS(p, max_eval=2.5), "LBFGS: invalid max_eval 2.5"),
        # whole floats and bools are not counts either ([None] * 10.0 would fail in step())
        (lambda p: LBFGS(p, history_size=10.0), r"LBFGS: invalid history_size 10.0 .*got float"),
        (lambda p: LBFGS(p, max_iter=20.0), r"LBFGS: invalid max_iter 20.0 \(must be an int"),
        (lambda p: LBFGS(p, max_eval=True), r"LBFGS: invalid max_eval True .*got bool"),
        (lambda p: LBFGS(p, tolerance_grad=-1), "LBFGS: invalid tolerance_grad -1"),
        (lambda p: LBFGS(p, line_search_fn="armijo"), "LBFGS: invalid line_search_fn 'armijo'"),
    ],
)
def test_invalid_arguments_are_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make([param([1.0])])


def test_defaults_and_registry_follow_pytorch():
    p = [param([1.0])]
    assert Rprop(p).defaults == dict(
        lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), maximize=False
    )
    assert Adadelta(p).defaults == dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False)
    assert LBFGS(p).defaults == dict(
        lr=1, max_iter=20, max_eval=25, tolerance_grad=1e-7, tolerance_change=1e-9,
        history_size=100, line_search_fn=None,
    )  # fmt: skip
    assert LBFGS(p, max_iter=7).defaults["max_eval"] == 8
    assert LBFGS(p, history_size=np.int64(3)).defaults["history_size"] == 3  # NumPy ints count
    assert OPTIMIZERS["rprop"] is Rprop and OPTIMIZERS["adadelta"] is Adadelta
    assert "lbfgs" not in OPTIMIZERS  # it needs a closure, which fit() does not pass


# ---------------------------------------------------------------- parity with torch


def _least_squares(rng):
    x = rng.standard_normal((16, 5))
    y = rng.standard_normal((16, 3))
    return x, y, rng.standard_normal((3, 5)) * 0.5, rng.standard_normal(3) * 0.5


def _run_against_torch(make_ours, make_theirs, steps=12):
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = _least_squares(np.random.default_rng(5))
    w, b = param(w0), param(b0)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    ours, theirs = make_ours(w, b), make_theirs(tw, tb)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        ours.zero_grad()
        theirs.zero_grad()
        ((mt.tensor(x) @ w.T + b - mt.tensor(y)) ** 2).mean().backward()
        ((xt @ tw.T + tb - yt) ** 2).mean().backward()
        ours.step()
        theirs.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-10, atol=1e-12)
    return ours, theirs


@settings(max_examples=12, deadline=None)
@given(
    lr=st.sampled_from([1e-3, 1e-2, 0.1]),
    etaminus=st.floats(0.1, 0.9),
    etaplus=st.floats(1.05, 2.0),
    step_sizes=st.sampled_from([(1e-6, 50), (0.0, 1.0), (1e-3, 0.05)]),
    maximize=st.booleans(),
)
def test_rprop_matches_torch(lr, etaminus, etaplus, step_sizes, maximize):
    torch = pytest.importorskip("torch")
    kw = dict(etas=(etaminus, etaplus), step_sizes=step_sizes, maximize=maximize)

    # two groups, the second with its own lr (Rprop's initial step size)
    def groups(w, b):
        return [{"params": [w]}, {"params": [b], "lr": lr * 3}]

    _run_against_torch(
        lambda w, b: Rprop(groups(w, b), lr=lr, **kw),
        lambda w, b: torch.optim.Rprop(groups(w, b), lr=lr, **kw),
    )


@settings(max_examples=12, deadline=None)
@given(
    lr=st.sampled_from([0.1, 1.0]),
    rho=st.floats(0.0, 0.99),
    eps=st.sampled_from([1e-6, 1e-3]),
    weight_decay=st.sampled_from([0.0, 0.1]),
    maximize=st.booleans(),
)
def test_adadelta_matches_torch(lr, rho, eps, weight_decay, maximize):
    torch = pytest.importorskip("torch")
    kw = dict(rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)

    def groups(w, b):
        return [{"params": [w]}, {"params": [b], "lr": lr / 2}]

    _run_against_torch(
        lambda w, b: Adadelta(groups(w, b), lr=lr, **kw),
        lambda w, b: torch.optim.Adadelta(groups(w, b), lr=lr, **kw),
    )


def test_rprop_and_adadelta_match_torch_in_float32_on_the_same_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    p0, grads = rng.standard_normal(50), gradient_sequence(rng, 10, 50)
    for ours_cls, kw in ((Rprop, dict(lr=0.03, etas=(0.3, 1.7))), (Adadelta, dict(rho=0.7))):
        p = param(p0, np.float32)
        tp = torch.tensor(p0.astype(np.float32), requires_grad=True)
        ours, theirs = ours_cls([p], **kw), getattr(torch.optim, ours_cls.__name__)([tp], **kw)
        for g in grads.astype(np.float32):
            set_grad(p, g)
            tp.grad = torch.tensor(g)
            ours.step()
            theirs.step()
        assert p.dtype == np.float32
        # Rprop: the factors are float32 as in PyTorch, so the step sizes agree to the bit
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-6, atol=1e-7)
        if ours_cls is Rprop:
            np.testing.assert_array_equal(ours.state[p]["step_size"], theirs.state[tp]["step_size"])


LBFGS_CONFIGS = [
    dict(),
    dict(line_search_fn="strong_wolfe"),
    dict(lr=0.5, history_size=3, max_iter=7),
    dict(lr=3.0, line_search_fn="strong_wolfe", history_size=2, max_iter=10, max_eval=12),
    dict(lr=0.2, max_iter=4, max_eval=3),  # stops on evaluations
    dict(lr=0.01, tolerance_change=0.05),  # stops on a step max|t d| below tolerance_change
]


@pytest.mark.parametrize("kw", LBFGS_CONFIGS, ids=[str(kw) for kw in LBFGS_CONFIGS])
def test_lbfgs_matches_torch(kw):
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = _logistic_problem(np.random.default_rng(7))
    w, b = param(w0), param(b0)
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    ours, theirs = LBFGS([w, b], **kw), torch.optim.LBFGS([tw, tb], **kw)
    closure = _logistic_closure(ours, w, b, x, y)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_closure():
        theirs.zero_grad()
        loss = torch.nn.functional.softplus(-yt * (xt @ tw + tb)).mean() + 0.01 * (tw * tw).sum()
        loss.backward()
        return loss

    for _ in range(3):
        loss, torch_loss = ours.step(closure), theirs.step(torch_closure)
        assert loss.item() == pytest.approx(torch_loss.item(), rel=1e-12)
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=1e-9, atol=1e-12)
        for key in ("func_evals", "n_iter"):
            assert ours.state[w][key] == theirs.state[tw][key]


@pytest.mark.parametrize("fg,x0,t0", LINE_SEARCH_CASES)
def test_strong_wolfe_matches_torch(fg, x0, t0):
    torch = pytest.importorskip("torch")
    from torch.optim.lbfgs import _strong_wolfe as torch_strong_wolfe

    f, grad = fg
    x, d, f_new, _, t, evals, _ = _line_search(fg, x0, t0)

    def obj_func(x, t, d):
        z = x.numpy() + float(t) * d.numpy()
        return f(z), torch.tensor(grad(z))

    g = grad(x)
    theirs = torch_strong_wolfe(
        obj_func, torch.tensor(x), t0, torch.tensor(d), f(x), torch.tensor(g), float(g @ d)
    )
    assert (f_new, t, evals) == (theirs[0], float(theirs[2]), theirs[3])


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_on_rosenbrock_follows_torch(line_search_fn):
    torch = pytest.importorskip("torch")
    kw = dict(lr=1 if line_search_fn else 0.1, history_size=10, line_search_fn=line_search_fn)
    x, tx = param([-1.5, 2.0]), torch.tensor([-1.5, 2.0], dtype=torch.float64, requires_grad=True)
    ours, theirs = LBFGS([x], **kw), torch.optim.LBFGS([tx], **kw)
    closure = _rosenbrock_closure(ours, x)

    def torch_closure():
        theirs.zero_grad()
        loss = (1 - tx[0]) ** 2 + 100 * (tx[1] - tx[0] ** 2) ** 2
        loss.backward()
        return loss

    # Rosenbrock's valley amplifies rounding differences: a couple of steps are compared
    for _ in range(2):
        ours.step(closure)
        theirs.step(torch_closure)
        np.testing.assert_allclose(x.numpy(), tx.detach().numpy(), rtol=1e-8)
        assert ours.state[x]["func_evals"] == theirs.state[tx]["func_evals"]


def test_lbfgs_loads_a_torch_state_dict_and_continues_in_step():
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = _logistic_problem(np.random.default_rng(8))
    kw = dict(lr=0.5, max_iter=3, history_size=4, line_search_fn="strong_wolfe")
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    theirs = torch.optim.LBFGS([tw, tb], **kw)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_closure():
        theirs.zero_grad()
        loss = torch.nn.functional.softplus(-yt * (xt @ tw + tb)).mean() + 0.01 * (tw * tw).sum()
        loss.backward()
        return loss

    theirs.step(torch_closure)
    w, b = param(tw.detach().numpy().copy()), param(tb.detach().numpy().copy())
    ours = LBFGS([w, b], **kw)
    ours.load_state_dict(theirs.state_dict())
    assert ours.state[w]["n_iter"] == theirs.state[tw]["n_iter"]
    closure = _logistic_closure(ours, w, b, x, y)
    for _ in range(2):
        theirs.step(torch_closure)
        ours.step(closure)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- GPU


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_updates_on_cupy_stay_on_the_gpu_and_equal_numpy():
    rng = np.random.default_rng(9)
    p0, grads = rng.standard_normal((4, 3)), rng.standard_normal((5, 4, 3))
    for make in (lambda ps: Rprop(ps, lr=0.05), lambda ps: Adadelta(ps, weight_decay=0.1)):
        cpu, gpu = param(p0), Parameter(mt.tensor(p0, device="cuda"))
        opt_cpu, opt_gpu = make([cpu]), make([gpu])
        for g in grads:
            set_grad(cpu, g)
            gpu.grad = mt.tensor(g, device="cuda")
            opt_cpu.step()
            opt_gpu.step()
        assert all(
            type(v).__module__.startswith("cupy")
            for v in opt_gpu.state[gpu].values()
            if hasattr(v, "shape")
        )
        np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-12)
    # L-BFGS: the history and the flat vectors stay on the device
    x, y, w0, b0 = _logistic_problem(np.random.default_rng(10))
    kw = dict(max_iter=6, history_size=3, line_search_fn="strong_wolfe")
    wc, bc = param(w0), param(b0)
    wg, bg = Parameter(mt.tensor(w0, device="cuda")), Parameter(mt.tensor(b0, device="cuda"))
    opt_cpu, opt_gpu = LBFGS([wc, bc], **kw), LBFGS([wg, bg], **kw)
    cpu_closure = _logistic_closure(opt_cpu, wc, bc, x, y)

    def gpu_closure():
        opt_gpu.zero_grad()
        z = mt.tensor(x, device="cuda") @ wg + bg
        loss = F.softplus(-mt.tensor(y, device="cuda") * z).mean() + 0.01 * (wg * wg).sum()
        loss.backward()
        return loss

    for _ in range(2):
        opt_cpu.step(cpu_closure)
        opt_gpu.step(gpu_closure)
    state = opt_gpu.state[wg]
    assert type(state["d"]).__module__.startswith("cupy")
    assert all(type(v).__module__.startswith("cupy") for v in state["old_dirs"])
    np.testing.assert_allclose(wg.cpu().numpy(), wc.numpy(), rtol=1e-9, atol=1e-12)
    sd = opt_gpu.state_dict()
    assert all(type(v) is np.ndarray for v in sd["state"][0]["old_stps"])
