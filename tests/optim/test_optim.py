"""Optimizers: updates written out by hand, parity with torch.optim, groups, checkpoints, and an
MLP trained end to end."""

import io
import math

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import functional as F
from minitorch_cv.backend import gpu_available
from minitorch_cv.layers.activation import ReLU
from minitorch_cv.layers.container import Sequential
from minitorch_cv.layers.linear import Linear
from minitorch_cv.layers.module import Parameter
from minitorch_cv.optim import SGD, Adagrad, Adam, Adamax, AdamW, NAdam, Optimizer, RAdam, RMSprop


def set_grad(p, g):
    p.grad = mt.tensor(np.asarray(g, dtype=p.dtype))


def param(values):
    return Parameter(mt.tensor(np.asarray(values, dtype=np.float64)))


# ---------------------------------------------------------------- hand-computed updates


def test_sgd_plain_step():
    p = param([1.0, -2.0])
    opt = SGD([p], lr=0.1)
    set_grad(p, [0.5, 1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.05, -2.0 - 0.1])


def test_sgd_momentum_dampening_nesterov_three_steps():
    g = 2.0  # a constant gradient makes the buffer easy to follow
    # momentum 0.9: b1 = g, b2 = 0.9 g + g = 1.9 g, b3 = 0.9 * 1.9 g + g = 2.71 g
    p = param([0.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        set_grad(p, [g])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [-0.1 * g * (1 + 1.9 + 2.71)])
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.71 * g])
    # dampening 0.5: b1 = g (the first step is not dampened), b2 = 0.9 g + 0.5 g = 1.4 g
    p = param([0.0])
    opt = SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    for _ in range(2):
        set_grad(p, [g])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [-0.1 * g * (1 + 1.4)])
    # nesterov: step uses g + 0.9 b: 1.9 g, then g + 0.9 * 1.9 g = 2.71 g
    p = param([0.0])
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(2):
        set_grad(p, [g])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [-0.1 * g * (1.9 + 2.71)])


def test_sgd_weight_decay_and_maximize():
    p = param([2.0])
    opt = SGD([p], lr=0.1, weight_decay=0.5)
    set_grad(p, [1.0])
    opt.step()  # d = 1 + 0.5 * 2 = 2
    np.testing.assert_allclose(p.numpy(), [2.0 - 0.2])
    p = param([2.0])
    opt = SGD([p], lr=0.1, maximize=True)
    set_grad(p, [1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [2.1])


def test_adam_two_steps_by_hand():
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p = param([1.0])
    opt = Adam([p], lr=lr, betas=(b1, b2), eps=eps)
    set_grad(p, [1.0])
    opt.step()
    # m = 0.1, v = 0.001; bias-corrected both are 1: the step is lr * 1 / (1 + eps)
    expected = 1.0 - lr / (1 + eps)
    np.testing.assert_allclose(p.numpy(), [expected], rtol=1e-12)
    set_grad(p, [-0.5])
    opt.step()
    m = 0.9 * 0.1 + 0.1 * -0.5  # 0.04
    v = 0.999 * 0.001 + 0.001 * 0.25  # 0.001249
    m_hat, v_hat = m / (1 - 0.9**2), v / (1 - 0.999**2)
    expected -= lr * m_hat / (math.sqrt(v_hat) + eps)
    np.testing.assert_allclose(p.numpy(), [expected], rtol=1e-12)
    assert opt.state[p]["step"] == 2
    np.testing.assert_allclose(opt.state[p]["exp_avg"], [m])
    np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], [v])


def test_adam_l2_vs_adamw_decoupled_decay():
    lr, wd = 0.1, 0.5
    # Adam: g' = g + wd p = 1 + 1 = 2; first step moves by lr * sign(g') (bias correction)
    p = param([2.0])
    opt = Adam([p], lr=lr, weight_decay=wd, eps=0.0)
    set_grad(p, [1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [2.0 - lr])
    # AdamW: p = p (1 - lr wd) = 1.9, then the Adam step of g = 1: 1.9 - 0.1
    p = param([2.0])
    opt = AdamW([p], lr=lr, weight_decay=wd, eps=0.0)
    set_grad(p, [1.0])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [2.0 * (1 - lr * wd) - lr])
    assert AdamW([param([0.0])]).defaults["weight_decay"] == 1e-2


def test_amsgrad_uses_the_running_maximum_of_v():
    lr, b2 = 0.1, 0.5
    p, q = param([0.0]), param([0.0])
    ams = Adam([p], lr=lr, betas=(0.0, b2), eps=0.0, amsgrad=True)
    plain = Adam([q], lr=lr, betas=(0.0, b2), eps=0.0)
    for g in (4.0, 1.0):
        set_grad(p, [g])
        set_grad(q, [g])
        ams.step()
        plain.step()
    # step 2: v = 0.5 * 8 + 0.5 * 1 = 4.5 < v_max = 8 (step 1: v = 0.5 * 16 = 8); beta1 = 0: m = g
    v_max_hat = 8 / (1 - b2**2)
    v_hat = 4.5 / (1 - b2**2)
    np.testing.assert_allclose(p.numpy(), [-lr - lr * 1.0 / math.sqrt(v_max_hat)])
    np.testing.assert_allclose(q.numpy(), [-lr - lr * 1.0 / math.sqrt(v_hat)])
    np.testing.assert_allclose(ams.state[p]["max_exp_avg_sq"], [8.0])


def test_rmsprop_plain_centered_and_momentum_by_hand():
    alpha, lr, eps = 0.5, 0.1, 0.0
    p = param([1.0])
    opt = RMSprop([p], lr=lr, alpha=alpha, eps=eps)
    for g in (2.0, 1.0):
        set_grad(p, [g])
        opt.step()
    # v1 = 0.5 * 4 = 2, v2 = 0.5 * 2 + 0.5 * 1 = 1.5
    np.testing.assert_allclose(p.numpy(), [1.0 - lr * 2 / math.sqrt(2) - lr * 1 / math.sqrt(1.5)])
    # centered: a1 = 1, a2 = 0.5 + 0.5 = 1; the divisor is sqrt(v - a^2)
    p = param([1.0])
    opt = RMSprop([p], lr=lr, alpha=alpha, eps=eps, centered=True)
    for g in (2.0, 1.0):
        set_grad(p, [g])
        opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - lr * 2 / math.sqrt(1) - lr / math.sqrt(0.5)])
    # momentum 0.9: b1 = g1 / d1, b2 = 0.9 b1 + g2 / d2, each step moves by lr * b
    p = param([1.0])
    opt = RMSprop([p], lr=lr, alpha=alpha, eps=eps, momentum=0.9)
    for g in (2.0, 1.0):
        set_grad(p, [g])
        opt.step()
    b1 = 2 / math.sqrt(2)
    b2 = 0.9 * b1 + 1 / math.sqrt(1.5)
    np.testing.assert_allclose(p.numpy(), [1.0 - lr * (b1 + b2)])
    assert sorted(opt.state[p]) == ["momentum_buffer", "square_avg", "step"]


def test_adagrad_sums_squares_and_decays_the_rate():
    lr, decay = 0.1, 0.5
    p = param([1.0])
    opt = Adagrad([p], lr=lr, lr_decay=decay, initial_accumulator_value=1.0, eps=0.0)
    for g in (3.0, 4.0):
        set_grad(p, [g])
        opt.step()
    # s1 = 1 + 9 = 10, s2 = 10 + 16 = 26; rates lr / 1 and lr / (1 + 0.5)
    expected = 1.0 - lr * 3 / math.sqrt(10) - lr / 1.5 * 4 / math.sqrt(26)
    np.testing.assert_allclose(p.numpy(), [expected])
    np.testing.assert_allclose(opt.state[p]["sum"], [26.0])


def test_adamax_nadam_radam_first_steps_by_hand():
    lr, g = 0.1, -3.0
    # Adamax: m = 0.1 g, u = |g| + eps: the bias-corrected step is lr * sign(g)
    p = param([1.0])
    opt = Adamax([p], lr=lr, eps=0.0)
    set_grad(p, [g])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 + lr])
    np.testing.assert_allclose(opt.state[p]["exp_inf"], [3.0])
    # RAdam: rho_1 = 1 <= 5, so the first step is momentum only: m_hat = g
    p = param([1.0])
    opt = RAdam([p], lr=lr)
    set_grad(p, [g])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - lr * g])
    # NAdam: mu_1 = 0.9 (1 - 0.96^0.004 / 2), d = |g| + eps (v bias-corrected = g^2);
    # p -= lr (1 - mu_1) / (1 - mu_1) g / |g| + lr mu_2 / (1 - mu_1 mu_2) * 0.1 g / |g|
    p = param([1.0])
    opt = NAdam([p], lr=lr, eps=0.0)
    set_grad(p, [g])
    opt.step()
    mu1, mu2 = (0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3)) for t in (1, 2))
    expected = 1.0 + lr + lr * mu2 / (1 - mu1 * mu2) * 0.1
    np.testing.assert_allclose(p.numpy(), [expected], rtol=1e-12)
    assert opt.state[p]["mu_product"] == pytest.approx(mu1)


# ---------------------------------------------------------------- parity with torch


def _problem(rng):
    x = rng.standard_normal((16, 5))
    y = rng.standard_normal((16, 3))
    w0 = rng.standard_normal((3, 5)) * 0.5
    b0 = rng.standard_normal(3) * 0.5
    return x, y, w0, b0


CONFIGS = [
    (SGD, "SGD", dict(lr=0.05)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    (SGD, "SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    (Adam, "Adam", dict(lr=0.01)),
    (Adam, "Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    (Adam, "Adam", dict(lr=0.02, amsgrad=True)),
    (Adam, "Adam", dict(lr=0.02, maximize=True, weight_decay=0.05)),
    (AdamW, "AdamW", dict(lr=0.02)),
    (AdamW, "AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    (RMSprop, "RMSprop", dict(lr=0.01)),
    (RMSprop, "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8)),
    (RMSprop, "RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
    (Adagrad, "Adagrad", dict(lr=0.05)),
    (Adagrad, "Adagrad", dict(lr=0.05, lr_decay=0.1, weight_decay=0.1, eps=1e-6)),
    (Adagrad, "Adagrad", dict(lr=0.05, initial_accumulator_value=0.5, maximize=True)),
    (Adamax, "Adamax", dict(lr=0.02)),
    (Adamax, "Adamax", dict(lr=0.02, betas=(0.8, 0.9), weight_decay=0.1, maximize=True)),
    (NAdam, "NAdam", dict(lr=0.02)),
    (NAdam, "NAdam", dict(lr=0.02, momentum_decay=0.01, weight_decay=0.1)),
    (NAdam, "NAdam", dict(lr=0.02, weight_decay=0.1, decoupled_weight_decay=True)),
    (RAdam, "RAdam", dict(lr=0.02)),
    # rho_t > 5 (the rectified step) from step 6 of the 10; beta2 = 0.5 never leaves the
    # momentum-only step (rho_inf = 3)
    (RAdam, "RAdam", dict(lr=0.02, betas=(0.9, 0.9), weight_decay=0.1)),
    (RAdam, "RAdam", dict(lr=0.02, betas=(0.5, 0.5), decoupled_weight_decay=True, weight_decay=1)),
]


@pytest.mark.parametrize("ours_cls,torch_name,kw", CONFIGS, ids=[f"{c[1]}-{c[2]}" for c in CONFIGS])
def test_optimizer_steps_match_torch(ours_cls, torch_name, kw):
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = _problem(np.random.default_rng(0))
    w, b = param(w0), param(b0)
    tw = torch.tensor(w0, requires_grad=True)
    tb = torch.tensor(b0, requires_grad=True)
    # two groups, the second with its own lr, to cover per-group options
    ours = ours_cls([{"params": [w]}, {"params": [b], "lr": kw["lr"] * 3}], **kw)
    theirs = getattr(torch.optim, torch_name)(
        [{"params": [tw]}, {"params": [tb], "lr": kw["lr"] * 3}], **kw
    )
    xt, yt = torch.tensor(x), torch.tensor(y)
    # PyTorch keeps NAdam's running product of momentum factors as a float32 tensor whatever the
    # parameters' dtype; ours is a float64 number: steps then differ by ~1e-8 relative
    rtol = 1e-7 if torch_name == "NAdam" else 1e-10
    for _ in range(10):
        ours.zero_grad()
        theirs.zero_grad()
        loss = ((mt.tensor(x) @ w.T + b - mt.tensor(y)) ** 2).mean()
        loss.backward()
        ((xt @ tw.T + tb - yt) ** 2).mean().backward()
        ours.step()
        theirs.step()
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=rtol, atol=1e-12)
        np.testing.assert_allclose(b.numpy(), tb.detach().numpy(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize(
    "ours_cls,torch_name,kw",
    [
        (Adam, "Adam", dict(lr=0.05, amsgrad=True)),
        (RMSprop, "RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
        (Adagrad, "Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.2)),
    ],
    ids=["Adam", "RMSprop", "Adagrad"],
)
def test_load_torch_optimizer_state_and_continue_in_step(ours_cls, torch_name, kw):
    torch = pytest.importorskip("torch")
    x, y, w0, b0 = _problem(np.random.default_rng(1))
    tw, tb = torch.tensor(w0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    theirs = getattr(torch.optim, torch_name)([tw, tb], **kw)
    xt, yt = torch.tensor(x), torch.tensor(y)

    def torch_step():
        theirs.zero_grad()
        ((xt @ tw.T + tb - yt) ** 2).mean().backward()
        theirs.step()

    for _ in range(3):
        torch_step()
    w, b = param(tw.detach().numpy().copy()), param(tb.detach().numpy().copy())
    ours = ours_cls([w, b], **kw)
    ours.load_state_dict(theirs.state_dict())
    assert ours.state[w]["step"] == 3
    for _ in range(3):
        torch_step()
        ours.zero_grad()
        ((mt.tensor(x) @ w.T + b - mt.tensor(y)) ** 2).mean().backward()
        ours.step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- groups, zero_grad, validation


def test_param_groups_options_and_add_param_group():
    a, b, c = param([1.0]), param([1.0]), param([1.0])
    opt = SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["params"] == [b]
    opt.add_param_group({"params": [c], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    for p in (a, b, c):
        set_grad(p, [1.0])
    opt.step()
    np.testing.assert_allclose([a.item(), b.item(), c.item()], [0.9, 0.5, 0.9])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_named_parameters_are_accepted():
    m = Linear(2, 2)
    opt = SGD(m.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.param_groups[0]["params"][0] is m.weight


def test_zero_grad_and_params_without_grad_are_skipped():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = Adam([a, b], lr=0.1)
    set_grad(a, [1.0, 1.0])
    opt.step()
    assert b.item() == 3.0 and b not in opt.state and a in opt.state
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), 0)
    opt.zero_grad()
    assert a.grad is None


def test_closure_is_evaluated_with_grad_enabled():
    p = param([3.0])
    opt = SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with mt.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == 3.0 - 0.25 * 6.0


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: SGD(p, lr=-0.1), "SGD: invalid learning rate -0.1"),
        (lambda p: SGD(p, momentum=-1), "invalid momentum"),
        (lambda p: SGD(p, nesterov=True), "Nesterov momentum requires"),
        (lambda p: SGD(p, lr=0.1, weight_decay=-1), "invalid weight_decay"),
        (lambda p: Adam(p, lr=-1), "Adam: invalid learning rate"),
        (
            lambda p: Adam(p, betas=(1.0, 0.999)),
            r"invalid beta parameter at index 0: 1.0 \(must be in \[0, 1\)\)",
        ),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "invalid beta parameter at index 1"),
        (lambda p: AdamW(p, eps=-1e-8), "AdamW: invalid eps"),
        (lambda p: Adam([{"params": p, "lr": -3}]), "invalid learning rate -3"),
        (lambda p: RMSprop(p, alpha=-0.5), r"RMSprop: invalid alpha -0.5 \(must be >= 0\)"),
        (lambda p: RMSprop(p, momentum=-1), "RMSprop: invalid momentum"),
        (lambda p: Adagrad(p, lr_decay=-1), "Adagrad: invalid lr_decay -1"),
        (lambda p: Adagrad(p, initial_accumulator_value=-1), "invalid initial_accumulator_value"),
        (lambda p: SGD([], lr=0.1), "empty parameter list"),
        (lambda p: SGD(p + p, lr=0.1), "same parameter twice"),
    ],
)
def test_invalid_arguments_are_value_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make([param([1.0])])


def test_invalid_params_are_type_errors():
    with pytest.raises(TypeError, match="got a Tensor"):
        SGD(param([1.0]), lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        SGD({param([1.0])}, lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        SGD([np.zeros(2)], lr=0.1)
    x = param([1.0])
    with pytest.raises(ValueError, match="non-leaf"):
        SGD([x * 2], lr=0.1)


# ---------------------------------------------------------------- checkpoints


def _quadratic_step(opt, params, targets):
    opt.zero_grad()
    loss = sum(((p - mt.tensor(t)) ** 2).sum() for p, t in zip(params, targets))
    loss.backward()
    opt.step()


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: AdamW(ps, lr=0.05, amsgrad=True),
        lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, centered=True),
        lambda ps: Adagrad(ps, lr=0.1, lr_decay=0.01),
        lambda ps: NAdam(ps, lr=0.05, weight_decay=0.01),
        lambda ps: Adamax(ps, lr=0.05),
    ],
)
def test_state_dict_round_trip_through_npz_resumes_exactly(make):
    rng = np.random.default_rng(0)
    init_vals = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    targets = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    a = [param(v.copy()) for v in init_vals]
    opt_a = make(a)
    for _ in range(3):
        _quadratic_step(opt_a, a, targets)
    sd = opt_a.state_dict()
    assert sorted(sd["state"]) == [0, 1] and sd["param_groups"][0]["params"] == [0, 1]
    # arrays are NumPy copies: stepping on does not change the snapshot, and they fit in an .npz
    arrays = {
        f"{i}.{k}": v
        for i, s in sd["state"].items()
        for k, v in s.items()
        if isinstance(v, np.ndarray)
    }
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    loaded = np.load(buf)
    state = {i: {k: (loaded[f"{i}.{k}"] if f"{i}.{k}" in loaded else v) for k, v in s.items()}
             for i, s in sd["state"].items()}  # fmt: skip
    b = [param(p.numpy().copy()) for p in a]
    opt_b = make(b)
    opt_b.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
    for _ in range(3):
        _quadratic_step(opt_a, a, targets)
        _quadratic_step(opt_b, b, targets)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_restores_group_options_and_checks_before_changing():
    p = param([1.0, 2.0])
    opt = SGD([p], lr=0.1, momentum=0.9)
    set_grad(p, [1.0, 1.0])
    opt.step()
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = 0.01
    q = param([0.0, 0.0])
    fresh = SGD([q], lr=0.1, momentum=0.9)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["params"][0] is q
    np.testing.assert_array_equal(fresh.state[q]["momentum_buffer"], [1.0, 1.0])
    other = SGD([param([0.0, 0.0]), param([1.0])], lr=0.3)
    with pytest.raises(
        ValueError, match="parameter group 0 has 1 parameters in the state dict but 2"
    ):
        other.load_state_dict(sd)
    bad = opt.state_dict()
    bad["state"][0]["momentum_buffer"] = np.zeros(3)
    with pytest.raises(
        ValueError, match=r"state 'momentum_buffer' of parameter 0 has shape \(3,\)"
    ):
        fresh.load_state_dict(bad)
    assert fresh.param_groups[0]["lr"] == 0.01  # unchanged
    with pytest.raises(ValueError, match="2 parameter group"):
        fresh.load_state_dict({"state": {}, "param_groups": sd["param_groups"] * 2})


def test_optimizer_repr_lists_groups():
    text = repr(SGD([param([1.0])], lr=0.1))
    assert text.startswith("SGD (\nParameter Group 0\n") and "    lr: 0.1" in text


def test_base_optimizer_is_usable_for_custom_update_rules():
    class SignSGD(Optimizer):
        def __init__(self, params, lr=0.1):
            super().__init__(params, dict(lr=lr))

        def _update(self, param, grad, state, group):
            param -= group["lr"] * np.sign(grad)

    p = param([1.0, 1.0])
    opt = SignSGD([p])
    set_grad(p, [3.0, -0.2])
    opt.step()
    np.testing.assert_allclose(p.numpy(), [0.9, 1.1])


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
        lambda ps: RMSprop(ps, lr=0.01, momentum=0.9, centered=True, weight_decay=0.1),
        lambda ps: Adagrad(ps, lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1),
    ],
)
def test_updates_on_cupy_stay_on_the_gpu_and_equal_numpy(make):
    rng = np.random.default_rng(0)
    init_vals, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    cpu, gpu = param(init_vals), Parameter(mt.tensor(init_vals, device="cuda"))
    opt_cpu, opt_gpu = make([cpu]), make([gpu])
    for _ in range(4):
        _quadratic_step(opt_cpu, [cpu], [target])
        opt_gpu.zero_grad()
        ((gpu - mt.tensor(target, device="cuda")) ** 2).sum().backward()
        opt_gpu.step()
    assert gpu.device == "cuda:0"
    assert all(
        type(v).__module__.startswith("cupy")
        for v in opt_gpu.state[gpu].values()
        if hasattr(v, "shape")
    )
    np.testing.assert_allclose(gpu.cpu().numpy(), cpu.numpy(), rtol=1e-12)


# ---------------------------------------------------------------- end to end


def two_moons(n, rng, noise=0.1):
    t = rng.uniform(0, np.pi, n)
    upper = np.stack([np.cos(t), np.sin(t)], 1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)
    y = rng.integers(0, 2, n)
    x = np.where(y[:, None] == 0, upper, lower) + noise * rng.standard_normal((n, 2))
    return x.astype(np.float32), y


def cross_entropy(logits, y):
    return -(F.log_softmax(logits, 1)[np.arange(len(y)), y]).mean()


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda ps: Adam(ps, lr=0.02),
        lambda ps: SGD(ps, lr=0.2, momentum=0.9),
        lambda ps: RMSprop(ps, lr=0.005),
        lambda ps: Adagrad(ps, lr=0.1),
        lambda ps: RAdam(ps, lr=0.02),
    ],
    ids=["adam", "sgd-momentum", "rmsprop", "adagrad", "radam"],
)
def test_mlp_learns_two_moons(make_opt):
    mt.manual_seed(0)
    rng = np.random.default_rng(0)
    x_train, y_train = two_moons(512, rng)
    x_test, y_test = two_moons(512, rng)
    model = Sequential(Linear(2, 64), ReLU(), Linear(64, 2))
    opt = make_opt(model.parameters())
    xt = mt.tensor(x_train)
    for _ in range(300):  # full batch: about a second
        opt.zero_grad()
        loss = cross_entropy(model(xt), y_train)
        loss.backward()
        opt.step()
    model.eval()
    with mt.no_grad():
        pred = model(mt.tensor(x_test)).numpy().argmax(1)
    accuracy = (pred == y_test).mean()
    assert accuracy >= 0.95, f"test accuracy {accuracy:.3f}, last loss {loss.item():.4f}"
