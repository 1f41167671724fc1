"""Weight averaging (optim.swa_utils): AveragedModel's equal average and EMA, update_bn and SWALR,
each by hand and against torch.optim.swa_utils on the same weights and data."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import nn, optim
from minitorch_cv.optim.swa_utils import (
    SWALR,
    AveragedModel,
    get_ema_avg_fn,
    get_ema_multi_avg_fn,
    update_bn,
)


def small_net():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))


def perturb(model, rng):
    """A stand-in for a training step: every parameter and BN statistic moves."""
    for t in list(model.parameters()) + [model[1].running_mean]:
        t.data[...] = t.data + rng.standard_normal(t.shape).astype(t.dtype)


def test_equal_average_and_buffers_copied():
    mt.manual_seed(0)
    model, rng = small_net(), np.random.default_rng(0)
    swa = AveragedModel(model)
    assert list(swa.state_dict())[:2] == ["n_averaged", "module.0.weight"]
    seen = []
    for _ in range(4):
        perturb(model, rng)
        swa.update_parameters(model)
        seen.append(model[0].weight.numpy().copy())
    np.testing.assert_allclose(swa.module[0].weight.numpy(), np.mean(seen, axis=0), rtol=1e-6)
    assert swa.n_averaged.item() == 4
    # buffers are not averaged by default: the copy holds the model's latest statistics
    np.testing.assert_array_equal(swa.module[1].running_mean.numpy(), model[1].running_mean.numpy())
    x = mt.randn(5, 3)
    np.testing.assert_array_equal(swa.eval()(x).numpy(), swa.module.eval()(x).numpy())


@pytest.mark.parametrize("kind", ["avg_fn", "multi_avg_fn"])
def test_ema_by_hand(kind):
    model, rng = small_net(), np.random.default_rng(1)
    fn = {"avg_fn": get_ema_avg_fn(0.9)} if kind == "avg_fn" else {
        "multi_avg_fn": get_ema_multi_avg_fn(0.9)}  # fmt: skip
    ema = AveragedModel(model, **fn)
    ema.update_parameters(model)  # the first update copies
    want = model[3].bias.numpy().astype(np.float64)
    for _ in range(3):
        perturb(model, rng)
        ema.update_parameters(model)
        want = 0.9 * want + 0.1 * model[3].bias.numpy()
    np.testing.assert_allclose(ema.module[3].bias.numpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="avg_fn or multi_avg_fn, not both"):
        AveragedModel(model, avg_fn=get_ema_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())


@pytest.mark.parametrize("mode", ["swa", "ema", "ema_buffers"])
def test_averaged_model_and_update_bn_match_torch(mode):
    torch = pytest.importorskip("torch")
    tswa = torch.optim.swa_utils
    mt.manual_seed(2)
    model = small_net()
    ref = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(),
                              torch.nn.Linear(4, 2))  # fmt: skip

    def sync():
        ref.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                             for k, v in model.state_dict().items()})  # fmt: skip

    sync()
    kw = {"use_buffers": mode == "ema_buffers"}
    ours = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.8) if mode != "swa" else None,
                         **kw)  # fmt: skip
    theirs = tswa.AveragedModel(ref, multi_avg_fn=tswa.get_ema_multi_avg_fn(0.8)
                                if mode != "swa" else None, **kw)  # fmt: skip
    rng = np.random.default_rng(3)
    for _ in range(4):
        perturb(model, rng)
        sync()
        ours.update_parameters(model)
        theirs.update_parameters(ref)
    for (k, v), (tk, tv) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        assert k == tk
        np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    data = [rng.standard_normal((6, 3)).astype(np.float32) for _ in range(3)]
    update_bn([(mt.tensor(x), 0) for x in data], ours)
    tswa.update_bn([(torch.from_numpy(x), 0) for x in data], theirs)
    bn, tbn = ours.module[1], theirs.module[1]
    np.testing.assert_allclose(bn.running_mean.numpy(), tbn.running_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-5)
    assert bn.momentum == tbn.momentum == 0.1 and ours.training


def test_update_bn_is_the_plain_average_of_the_batch_statistics():
    model = small_net()
    batches = [mt.tensor(np.random.default_rng(i).standard_normal((8, 3)).astype(np.float32))
               for i in range(4)]  # fmt: skip
    model.eval()
    update_bn(batches, model)  # bare inputs work too
    assert not model.training
    with mt.no_grad():
        h = [model[0](b).numpy() for b in batches]
    np.testing.assert_allclose(model[1].running_mean.numpy(), np.mean([a.mean(0) for a in h], 0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(model[1].running_var.numpy(),
                               np.mean([a.var(0, ddof=1) for a in h], 0), rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("kw", [dict(swa_lr=0.05), dict(swa_lr=[0.05, 0.2], anneal_epochs=3,
                                                         anneal_strategy="linear"),
                                dict(swa_lr=0.01, anneal_epochs=0)])  # fmt: skip
def test_swalr_matches_torch(kw):
    torch = pytest.importorskip("torch")
    groups = [{"params": [nn.Parameter(np.zeros(1))], "lr": v} for v in (0.5, 0.1)]
    ours_opt = optim.SGD(groups, lr=0.5)
    tgroups = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": v} for v in (0.5, 0.1)]
    theirs_opt = torch.optim.SGD(tgroups, lr=0.5)
    ours = SWALR(ours_opt, **kw)
    theirs = torch.optim.swa_utils.SWALR(theirs_opt, **kw)
    for _ in range(14):
        assert [g["lr"] for g in ours_opt.param_groups] == pytest.approx(
            [g["lr"] for g in theirs_opt.param_groups], rel=1e-12)  # fmt: skip
        theirs_opt.step()
        ours.step()
        theirs.step()
    assert ours_opt.param_groups[1]["lr"] == pytest.approx(np.atleast_1d(kw["swa_lr"])[-1])


def test_swalr_by_hand_and_errors():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=1.0)
    s = SWALR(opt, swa_lr=0.0, anneal_epochs=2, anneal_strategy="linear")
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        s.step()
    # as built, the lr is the optimizer's; halfway after one step of the two; then swa_lr
    np.testing.assert_allclose(lrs, [1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError, match="anneal_strategy must be 'cos' or 'linear'"):
        SWALR(opt, 0.1, anneal_strategy="step")
    with pytest.raises(ValueError, match="anneal_epochs must be an int >= 0"):
        SWALR(opt, 0.1, anneal_epochs=-1)


def test_averaging_resumes_from_a_loaded_state_and_other_avg_fns():
    from minitorch_cv.optim.swa_utils import get_swa_multi_avg_fn

    model, rng = small_net(), np.random.default_rng(5)
    swa, swa_inplace = (
        AveragedModel(model),
        AveragedModel(model, multi_avg_fn=get_swa_multi_avg_fn()),
    )
    seen = []
    for _ in range(3):
        perturb(model, rng)
        seen.append(model[0].weight.numpy().copy())
        swa.update_parameters(model)
        swa_inplace.update_parameters(model)
    np.testing.assert_allclose(swa_inplace.module[0].weight.numpy(),
                               swa.module[0].weight.numpy(), rtol=1e-6)  # fmt: skip
    resumed = AveragedModel(model)
    resumed.load_state_dict(swa.state_dict())
    perturb(model, rng)
    seen.append(model[0].weight.numpy().copy())
    resumed.update_parameters(model)  # the fourth update, not a fresh first one
    np.testing.assert_allclose(resumed.module[0].weight.numpy(), np.mean(seen, 0), rtol=1e-5)
    assert resumed.n_averaged.item() == 4


def test_in_place_ema_blocks_a_stale_backward():
    model = small_net()
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    ema.update_parameters(model)
    x = mt.randn(4, 3, requires_grad=True)
    out = ema.module[0](x).sum()  # saves the averaged weight for its backward
    perturb(model, np.random.default_rng(6))
    ema.update_parameters(model)  # changes that weight in place
    with pytest.raises(RuntimeError, match="in-place"):
        out.backward()
