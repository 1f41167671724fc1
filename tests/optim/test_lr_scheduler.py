"""Schedulers: lr sequences written out by hand, recursive form == closed form, parity with
torch.optim.lr_scheduler, last_epoch / state_dict semantics."""

import math
import warnings

import numpy as np
import pytest

from minitorch_cv.layers.module import Parameter
from minitorch_cv.optim import SGD
from minitorch_cv.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)


def make_opt(lr=1.0, lrs=None):
    lrs = lrs or [lr]
    groups = [{"params": [Parameter(np.zeros(1))], "lr": v} for v in lrs]
    return SGD(groups, lr=lrs[0])


def run(sched, n):
    """lrs of group 0 at epochs 0..n-1 (the value the optimizer uses during that epoch)."""
    out = []
    for _ in range(n):
        out.append(sched.optimizer.param_groups[0]["lr"])
        sched.step()
    return out


# ---------------------------------------------------------------- by hand


def test_step_lr_by_hand():
    s = StepLR(make_opt(1.0), step_size=2, gamma=0.5)
    np.testing.assert_allclose(run(s, 7), [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125])
    assert s.last_epoch == 7 and s.get_last_lr() == [0.125]  # 7 // 2 = 3 decays


def test_multistep_lr_by_hand_with_a_repeated_milestone():
    s = MultiStepLR(make_opt(1.0), milestones=[2, 5, 5], gamma=0.1)
    np.testing.assert_allclose(run(s, 7), [1, 1, 0.1, 0.1, 0.1, 0.001, 0.001])


def test_exponential_lr_by_hand():
    s = ExponentialLR(make_opt(2.0), gamma=0.9)
    np.testing.assert_allclose(run(s, 5), [2 * 0.9**e for e in range(5)])


def test_lambda_lr_by_hand():
    s = LambdaLR(make_opt(lrs=[1.0, 0.5]), lr_lambda=[lambda e: 1 / (e + 1), lambda e: 0.5**e])
    s.step()
    s.step()
    assert s.get_last_lr() == pytest.approx([1 / 3, 0.5 * 0.25])


def test_cosine_annealing_matches_closed_form_over_two_periods():
    T, lo, base = 10, 0.01, 0.5
    s = CosineAnnealingLR(make_opt(base), T_max=T, eta_min=lo)
    got = run(s, 3 * T + 1)
    expected = [lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(3 * T + 1)]
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert got[T] == pytest.approx(lo) and got[2 * T] == pytest.approx(base)


def test_step_with_epoch_uses_the_closed_form():
    for make in (
        lambda o: StepLR(o, 3, 0.5),
        lambda o: MultiStepLR(o, [2, 4], 0.5),
        lambda o: ExponentialLR(o, 0.9),
        lambda o: CosineAnnealingLR(o, 8, 0.1),
    ):
        jumped = make(make_opt(1.0))
        jumped.step(5)
        walked = make(make_opt(1.0))
        for _ in range(5):
            walked.step()
        assert jumped.get_last_lr() == pytest.approx(walked.get_last_lr(), rel=1e-12)


def test_reduce_on_plateau_by_hand():
    s = ReduceLROnPlateau(make_opt(1.0), factor=0.5, patience=2, threshold=0.0)
    lrs = []
    for m in [10, 9, 9, 9, 9, 8, 8, 8, 8]:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    # bad epochs: 9 (x3) -> the third exceeds patience 2 -> cut; then 8 (x4) -> cut again
    assert lrs == [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_reduce_on_plateau_cooldown_min_lr_and_max_mode():
    s = ReduceLROnPlateau(make_opt(1.0), factor=0.5, patience=0, cooldown=2)
    lrs = []
    for _ in range(8):
        s.step(5.0)
        lrs.append(s.get_last_lr()[0])
    assert lrs == [1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    s = ReduceLROnPlateau(make_opt(1.0), factor=0.5, patience=0, min_lr=0.3)
    for _ in range(5):
        s.step(1.0)
    assert s.get_last_lr() == [0.3]
    s = ReduceLROnPlateau(
        make_opt(1.0), mode="max", factor=0.5, patience=0, threshold=0.1, threshold_mode="abs"
    )
    s.step(0.5)
    s.step(0.55)  # not above 0.5 + 0.1: bad epoch -> cut
    assert s.get_last_lr() == [0.5]
    s.step(0.65)  # above: new best, no cut
    assert s.get_last_lr() == [0.5] and s.best == 0.65


# ---------------------------------------------------------------- parity with torch

SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=1)),
]


@pytest.mark.parametrize("name,kw", SCHEDULERS, ids=[f"{n}-{k}" for n, k in SCHEDULERS])
def test_schedulers_match_torch(name, kw):
    torch = pytest.importorskip("torch")
    from minitorch_cv.optim import lr_scheduler

    ours = getattr(lr_scheduler, name)(make_opt(lrs=[0.1, 0.03]), **kw)
    topt = torch.optim.SGD(
        [{"params": [torch.zeros(1)], "lr": 0.1}, {"params": [torch.zeros(1)], "lr": 0.03}]
    )
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(30):
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15)
            topt.step()
            ours.step()
            theirs.step()
    assert ours.last_epoch == theirs.last_epoch


@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(mode="max", factor=0.5, patience=1, threshold=0.05),
        dict(
            factor=0.2,
            patience=0,
            cooldown=2,
            threshold_mode="abs",
            threshold=0.1,
            min_lr=[0.001, 0.002],
        ),
    ],
)
def test_reduce_on_plateau_matches_torch(kw):
    torch = pytest.importorskip("torch")
    ours = ReduceLROnPlateau(make_opt(lrs=[0.1, 0.03]), **kw)
    topt = torch.optim.SGD(
        [{"params": [torch.zeros(1)], "lr": 0.1}, {"params": [torch.zeros(1)], "lr": 0.03}]
    )
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kw)
    metrics = np.random.default_rng(0).standard_normal(60).cumsum() * 0.1 + 5
    for m in metrics:
        ours.step(float(m))
        theirs.step(float(m))
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        assert ours.num_bad_epochs == theirs.num_bad_epochs


# ---------------------------------------------------------------- semantics


def test_constructor_sets_epoch_zero_and_initial_lr():
    opt = make_opt(lrs=[0.1, 0.2])
    s = StepLR(opt, 2)
    assert s.last_epoch == 0 and s.base_lrs == [0.1, 0.2] and s.get_last_lr() == [0.1, 0.2]
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.2]


def test_resuming_needs_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(make_opt(), 2, last_epoch=4)


def test_state_dict_resume_continues_the_schedule():
    opt = make_opt(1.0)
    s = CosineAnnealingLR(opt, T_max=10)
    run(s, 4)
    opt_sd, s_sd = opt.state_dict(), s.state_dict()
    assert "optimizer" not in s_sd
    opt2 = make_opt(1.0)
    s2 = CosineAnnealingLR(opt2, T_max=10)
    opt2.load_state_dict(opt_sd)
    s2.load_state_dict(s_sd)
    assert run(s2, 8) == pytest.approx(run(s, 8), rel=1e-12)


def test_lambda_lr_state_dict_skips_plain_functions():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    s = LambdaLR(make_opt(lrs=[1.0, 1.0]), [lambda e: 1.0, Warmup(5)])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, {"n": 5}]
    s2 = LambdaLR(make_opt(lrs=[1.0, 1.0]), [lambda e: 1.0, Warmup(2)])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[1].n == 5


def test_base_scheduler_is_constant_and_validation_errors():
    s = LRScheduler(make_opt(0.3))
    run(s, 3)
    assert s.get_last_lr() == [0.3]
    with pytest.raises(TypeError, match="is not an Optimizer"):
        StepLR(object(), 2)
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        StepLR(make_opt(), 0)
    with pytest.raises(ValueError, match="T_max must be > 0"):
        CosineAnnealingLR(make_opt(), 0)
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        ReduceLROnPlateau(make_opt(), factor=1.5)
    with pytest.raises(ValueError, match="mode 'median' is unknown"):
        ReduceLROnPlateau(make_opt(), mode="median")
    with pytest.raises(ValueError, match="expected 1 min_lrs, got 2"):
        ReduceLROnPlateau(make_opt(), min_lr=[0.1, 0.2])
    with pytest.raises(ValueError, match="expected 1 lr_lambdas, got 2"):
        LambdaLR(make_opt(), [lambda e: 1, lambda e: 1])


def test_scheduler_drives_the_optimizer_lr():
    p = Parameter(np.array([0.0]))
    opt = SGD([p], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        p.grad = Parameter(np.array([1.0]), requires_grad=False)
        opt.step()
        sched.step()
    assert p.item() == pytest.approx(-(1 + 0.5 + 0.25))


# ---------------------------------------------------------------- warm-up, poly, restarts, 1cycle


def test_linear_and_constant_warmups_by_hand():
    s = LinearLR(make_opt(1.0), start_factor=0.25, end_factor=1.0, total_iters=3)
    np.testing.assert_allclose(run(s, 6), [0.25, 0.5, 0.75, 1, 1, 1])
    s = ConstantLR(make_opt(2.0), factor=0.5, total_iters=2)
    np.testing.assert_allclose(run(s, 5), [1, 1, 2, 2, 2])


def test_polynomial_lr_by_hand():
    s = PolynomialLR(make_opt(1.0), total_iters=4, power=2.0)
    np.testing.assert_allclose(run(s, 6), [1, 0.5625, 0.25, 0.0625, 0, 0], atol=1e-15)


def test_multiplicative_lr_by_hand():
    s = MultiplicativeLR(make_opt(1.0), lr_lambda=lambda e: 0.5 if e % 2 else 1.0)
    np.testing.assert_allclose(run(s, 5), [1, 0.5, 0.5, 0.25, 0.25])


def test_warm_restarts_by_hand_and_fractional_epochs():
    s = CosineAnnealingWarmRestarts(make_opt(1.0), T_0=2, T_mult=2)
    # periods of 2 then 4 epochs, each starting back at base_lr
    expected = [
        1,
        0.5,
        1,
        (1 + math.cos(math.pi / 4)) / 2,
        0.5,
        (1 + math.cos(3 * math.pi / 4)) / 2,
    ]
    np.testing.assert_allclose(run(s, 6), expected)
    s.step(2.5)  # a quarter into the second period (epoch 2 + half an epoch of 4)
    assert s.T_i == 4 and s.T_cur == pytest.approx(0.5) and s.last_epoch == 2
    assert s.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi / 8)) / 2)


def test_one_cycle_by_hand():
    opt = SGD([Parameter(np.zeros(1))], lr=0.0, momentum=0.9)
    s = OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.3, div_factor=4.0,
                   final_div_factor=10.0, anneal_strategy="linear")  # fmt: skip
    lrs, moms = [], []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        s.step()
    # up from 0.25 to 1 over steps 0..2, down to 0.025 over steps 2..9
    np.testing.assert_allclose(lrs[:3], [0.25, 0.625, 1.0])
    np.testing.assert_allclose(lrs[2:], np.linspace(1.0, 0.025, 8))
    np.testing.assert_allclose(moms[:3], [0.95, 0.9, 0.85])
    assert moms[-1] == pytest.approx(0.95)
    with pytest.raises(ValueError, match="tried to step 11 times"):
        s.step()


def test_sequential_lr_warmup_then_cosine_by_hand():
    opt = make_opt(1.0)
    warm = LinearLR(opt, start_factor=0.5, total_iters=2)
    cos = CosineAnnealingLR(opt, T_max=4)
    s = SequentialLR(opt, [warm, cos], milestones=[2])
    expected = [0.5, 0.75] + [(1 + math.cos(math.pi * e / 4)) / 2 for e in range(5)]
    np.testing.assert_allclose(run(s, 7), expected, atol=1e-15)
    assert "SequentialLR([LinearLR, CosineAnnealingLR]" in repr(s)


def test_chained_scheduler_multiplies_the_factors():
    opt = make_opt(1.0)
    s = ChainedScheduler([ConstantLR(opt, factor=0.5, total_iters=2), ExponentialLR(opt, 0.9)])
    np.testing.assert_allclose(run(s, 4), [0.5, 0.5 * 0.9, 0.81, 0.729])


@pytest.mark.parametrize(
    "make",
    [
        lambda o: LinearLR(o, start_factor=0.1, end_factor=0.9, total_iters=6),
        lambda o: ConstantLR(o, factor=0.2, total_iters=3),
        lambda o: PolynomialLR(o, total_iters=7, power=1.7),
    ],
)
def test_recursive_form_equals_closed_form(make):
    a, b = make(make_opt(lrs=[0.1, 0.03])), make(make_opt(lrs=[0.1, 0.03]))
    for e in range(1, 12):
        a.step()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            b.step(e)
        assert a.get_last_lr() == pytest.approx(b.get_last_lr(), rel=1e-12, abs=1e-15)


def test_sequential_lr_state_dict_resume_continues_the_schedule():
    def build():
        opt = make_opt(1.0)
        return opt, SequentialLR(
            opt, [LinearLR(opt, 0.1, total_iters=3), StepLR(opt, 2, 0.5)], milestones=[3]
        )

    opt, s = build()
    run(s, 4)
    opt2, s2 = build()
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(s.state_dict())
    assert run(s2, 6) == pytest.approx(run(s, 6), rel=1e-12)


def test_new_scheduler_validation_errors():
    opt = make_opt()
    with pytest.raises(ValueError, match="start_factor must be in"):
        LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="PolynomialLR: total_iters must be an int >= 1, got 0"):
        PolynomialLR(opt, total_iters=0)
    with pytest.raises(ValueError, match="MultiplicativeLR: expected 1 lr_lambdas, got 2"):
        MultiplicativeLR(opt, [lambda e: 1, lambda e: 1])
    with pytest.raises(ValueError, match="factor must be in"):
        ConstantLR(opt, factor=1.5)
    with pytest.raises(ValueError, match="T_0 must be a positive int"):
        CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="T_mult must be an int >= 1"):
        CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=0)
    with pytest.raises(ValueError, match="give total_steps, or both epochs and steps_per_epoch"):
        OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start must be in"):
        OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=1.5)
    with pytest.raises(ValueError, match="expected 1 values of max_lr, got 2"):
        OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=10)
    with pytest.raises(ValueError, match="drives another optimizer"):
        SequentialLR(opt, [StepLR(make_opt(), 2)], milestones=[])
    with pytest.raises(ValueError, match="2 schedulers need 1 milestones, got 0"):
        SequentialLR(opt, [StepLR(opt, 2), StepLR(opt, 3)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ChainedScheduler([ReduceLROnPlateau(opt)])


NEW_SCHEDULERS = [
    ("LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=7)),
    ("ConstantLR", dict(factor=0.4, total_iters=4)),
    ("PolynomialLR", dict(total_iters=9, power=1.5)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=0.001)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4)),
]


@pytest.mark.parametrize("name,kw", NEW_SCHEDULERS, ids=[f"{n}-{k}" for n, k in NEW_SCHEDULERS])
def test_new_schedulers_match_torch(name, kw):
    test_schedulers_match_torch(name, kw)


def _torch_groups(torch, **options):
    return [
        {"params": [torch.zeros(1)], "lr": 0.1, **options},
        {"params": [torch.zeros(1)], "lr": 0.03, **options},
    ]


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(max_lr=0.5, total_steps=25),
        dict(
            max_lr=[0.5, 0.2],
            epochs=4,
            steps_per_epoch=6,
            anneal_strategy="linear",
            three_phase=True,
            base_momentum=[0.8, 0.7],
            div_factor=10.0,
        ),  # fmt: skip
        dict(max_lr=0.3, total_steps=20, pct_start=0.5, cycle_momentum=False),
    ],
)
def test_one_cycle_matches_torch(opt_name, kw):
    torch = pytest.importorskip("torch")
    from minitorch_cv import optim

    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    groups = [{"params": [Parameter(np.zeros(1))], "lr": v} for v in (0.1, 0.03)]
    ours_opt = getattr(optim, opt_name)(groups, lr=0.1, **extra)
    theirs_opt = getattr(torch.optim, opt_name)(_torch_groups(torch), lr=0.1, **extra)
    ours = OneCycleLR(ours_opt, **kw)
    theirs = torch.optim.lr_scheduler.OneCycleLR(theirs_opt, **kw)
    key = "momentum" if opt_name == "SGD" else "betas"
    for _ in range(theirs.total_steps):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        for g, tg in zip(ours_opt.param_groups, theirs_opt.param_groups):
            assert g[key] == pytest.approx(tg[key], rel=1e-12)
        theirs_opt.step()
        ours.step()
        theirs.step()


def test_sequential_and_chained_match_torch():
    torch = pytest.importorskip("torch")
    tl = torch.optim.lr_scheduler
    ours_opt = make_opt(lrs=[0.1, 0.03])
    theirs_opt = torch.optim.SGD(_torch_groups(torch))
    ours = SequentialLR(
        ours_opt,
        [LinearLR(ours_opt, 0.1, total_iters=4), ExponentialLR(ours_opt, 0.9),
         CosineAnnealingLR(ours_opt, T_max=5)],
        milestones=[4, 9],
    )  # fmt: skip
    theirs = tl.SequentialLR(
        theirs_opt,
        [tl.LinearLR(theirs_opt, 0.1, total_iters=4), tl.ExponentialLR(theirs_opt, 0.9),
         tl.CosineAnnealingLR(theirs_opt, T_max=5)],
        milestones=[4, 9],
    )  # fmt: skip
    ours_c_opt = make_opt(lrs=[0.1, 0.03])
    theirs_c_opt = torch.optim.SGD(_torch_groups(torch))
    ours_c = ChainedScheduler(
        [ConstantLR(ours_c_opt, 0.3, total_iters=3), ExponentialLR(ours_c_opt, 0.95)]
    )
    theirs_c = tl.ChainedScheduler(
        [tl.ConstantLR(theirs_c_opt, 0.3, total_iters=3), tl.ExponentialLR(theirs_c_opt, 0.95)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(20):
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
            assert ours_c.get_last_lr() == pytest.approx(theirs_c.get_last_lr(), rel=1e-12)
            for o, t, tc in ((ours, theirs, theirs_opt), (ours_c, theirs_c, theirs_c_opt)):
                tc.step()
                o.step()
                t.step()


# ---------------------------------------------------------------- CyclicLR


def test_cyclic_lr_triangle_by_hand():
    from minitorch_cv.optim.lr_scheduler import CyclicLR

    s = CyclicLR(make_opt(5.0), base_lr=0.1, max_lr=0.5, step_size_up=2, step_size_down=2,
                 cycle_momentum=False)  # fmt: skip
    # up in two steps, down in two, again: the optimizer's own lr (5.0) is replaced by base_lr
    np.testing.assert_allclose(run(s, 9), [0.1, 0.3, 0.5, 0.3, 0.1, 0.3, 0.5, 0.3, 0.1])
    halved = CyclicLR(make_opt(), base_lr=0.0, max_lr=1.0, step_size_up=1, mode="triangular2",
                      cycle_momentum=False)  # fmt: skip
    np.testing.assert_allclose(run(halved, 7), [0, 1, 0, 0.5, 0, 0.25, 0])


@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(base_lr=0.01, max_lr=0.1, step_size_up=4),
        dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=5,
             mode="triangular2", base_momentum=[0.8, 0.7], max_momentum=0.95),
        dict(base_lr=0.001, max_lr=0.01, step_size_up=2, mode="exp_range", gamma=0.9),
        dict(base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False),
    ],
)  # fmt: skip
def test_cyclic_lr_matches_torch(opt_name, kw):
    torch = pytest.importorskip("torch")
    from minitorch_cv import optim
    from minitorch_cv.optim.lr_scheduler import CyclicLR

    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    groups = [{"params": [Parameter(np.zeros(1))], "lr": v} for v in (0.1, 0.03)]
    ours_opt = getattr(optim, opt_name)(groups, lr=0.1, **extra)
    theirs_opt = getattr(torch.optim, opt_name)(_torch_groups(torch), lr=0.1, **extra)
    ours = CyclicLR(ours_opt, **kw)
    theirs = torch.optim.lr_scheduler.CyclicLR(theirs_opt, **kw)
    key = "momentum" if opt_name == "SGD" else "betas"
    for _ in range(30):
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        for g, tg in zip(ours_opt.param_groups, theirs_opt.param_groups):
            assert g[key] == pytest.approx(tg[key], rel=1e-12)
        theirs_opt.step()
        ours.step()
        theirs.step()
    state = ours.state_dict()
    assert "_scale_fn" not in state and state["last_epoch"] == 30


def test_cyclic_lr_errors():
    from minitorch_cv.optim import Adagrad
    from minitorch_cv.optim.lr_scheduler import CyclicLR

    with pytest.raises(ValueError, match="mode must be 'triangular'"):
        CyclicLR(make_opt(), 0.1, 1.0, mode="sawtooth")
    with pytest.raises(ValueError, match="Adagrad has neither momentum nor betas"):
        CyclicLR(Adagrad([Parameter(np.zeros(1))]), 0.1, 1.0)
    with pytest.raises(ValueError, match="step_size_up must be > 0"):
        CyclicLR(make_opt(), 0.1, 1.0, step_size_up=0)


def test_cyclic_lr_state_goes_through_a_checkpoint_and_rebuilds_its_mode(tmp_path):
    from minitorch_cv import nn, optim
    from minitorch_cv.optim.lr_scheduler import CyclicLR
    from minitorch_cv.train.checkpoint import restore_checkpoint, save_checkpoint

    model = nn.Linear(2, 1)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = CyclicLR(opt, 0.01, 0.1, step_size_up=3, mode="exp_range", gamma=0.5)
    for _ in range(4):
        opt.step()
        sched.step()
    save_checkpoint(tmp_path / "c.npz", model, opt, sched, epoch=1)
    want = []
    for _ in range(6):
        sched.step()
        want.append(sched.get_last_lr()[0])
    # a fresh scheduler built with another mode takes the saved one's, amplitude included
    opt2 = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched2 = CyclicLR(opt2, 0.01, 0.1, step_size_up=3)
    restore_checkpoint(tmp_path / "c.npz", model, opt2, sched2)
    assert sched2.mode == "exp_range"
    got = []
    for _ in range(6):
        sched2.step()
        got.append(sched2.get_last_lr()[0])
    np.testing.assert_allclose(got, want, rtol=1e-12)
