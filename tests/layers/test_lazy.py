"""Lazy layers (layers/lazy.py): the first input decides in_features / in_channels / num_features,
then the module is exactly the regular layer built with that size from the same seed.

What the tests prove:
- for every Lazy* class and hypothesis-drawn options and inputs, after the first call the module
  is the regular class, and its repr, state dict, output and every gradient equal those of the
  regular layer built with the inferred size after the same seed; float64 gradchecks pass;
- PyTorch's lazy modules on the same arguments and inputs give the same repr and state_dict
  keys before and after, the same inferred shapes and class, and (with the same weights) the
  same outputs and gradients; a Sequential of lazy layers takes the same SGD step as torch's;
- load_state_dict into a lazy module takes the sizes from the dict without random draws, a failed
  load leaves it lazy; `.to(dtype)` before the dry run reaches the parameters;
- every misuse (wrong rank, optimizer / summary / numel before the dry run, ...) is a clear error.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import nn, optim
from minitorch_cv.backend import gpu_available
from minitorch_cv.layers.lazy import LazyModuleMixin, UninitializedTensorError, is_lazy
from tests.strategies_core import SETTINGS, leaf

F64 = mt.float64


def _param_grads(m):
    return {n: p.grad.numpy() for n, p in m.named_parameters()}


def _weights(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


# ----------------------------------------------------------------------------- drawn cases


@st.composite
def lazy_cases(draw):
    """(lazy class, regular class, kwargs shared by both, input shape, inferred size)."""
    kind = draw(
        st.sampled_from(["linear", "conv", "convt", "batchnorm", "instancenorm"]),
    )
    if kind == "linear":
        n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 4))
        lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        kw = dict(out_features=n_out, bias=draw(st.booleans()))
        return nn.LazyLinear, nn.Linear, kw, (*lead, n_in), n_in
    n = draw(st.integers(1, 3))
    batch = () if draw(st.booleans()) else (draw(st.integers(1, 2)),)
    if kind in ("conv", "convt"):
        groups = draw(st.integers(1, 2))
        c_in, c_out = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
        k, stride = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        kw = dict(out_channels=c_out, kernel_size=k, stride=stride, groups=groups,
                  bias=draw(st.booleans()), padding=draw(st.integers(0, 1)))  # fmt: skip
        spatial = tuple(draw(st.lists(st.integers(2, 3), min_size=n, max_size=n)))
        if kind == "convt":
            kw["output_padding"] = draw(st.integers(0, stride - 1))
            kw["padding"] = min(kw["padding"], k - 1)
            names = ("LazyConvTranspose", "ConvTranspose")
        else:
            names = ("LazyConv", "Conv")
        lazy, regular = (getattr(nn, f"{name}{n}d") for name in names)
        return lazy, regular, kw, (*batch, c_in, *spatial), c_in
    c = draw(st.integers(1, 3))
    kw = dict(affine=draw(st.booleans()), track_running_stats=draw(st.booleans()),
              momentum=draw(st.sampled_from([0.1, 0.5, None])))  # fmt: skip
    if kind == "batchnorm":
        batch, spatial = (draw(st.integers(2, 3)),), (2,) * n
        if n == 1 and draw(st.booleans()):
            spatial = ()  # BatchNorm1d on (N, C)
        if kw["affine"]:
            kw["bias"] = draw(st.booleans())
        lazy, regular = getattr(nn, f"LazyBatchNorm{n}d"), getattr(nn, f"BatchNorm{n}d")
    else:
        spatial = tuple(draw(st.lists(st.integers(2, 3), min_size=n, max_size=n)))
        if kw["momentum"] is None:
            kw["momentum"] = 0.1
        lazy, regular = getattr(nn, f"LazyInstanceNorm{n}d"), getattr(nn, f"InstanceNorm{n}d")
    return lazy, regular, kw, (*batch, c, *spatial), c


@SETTINGS
@given(case=lazy_cases(), seed=st.integers(0, 2**16), train=st.booleans())
def test_lazy_module_equals_regular_module_built_with_the_inferred_size(case, seed, train):
    lazy_cls, regular_cls, kw, shape, size = case
    x = np.random.default_rng(seed).standard_normal(shape)
    mt.manual_seed(seed)
    lazy = lazy_cls(**kw, dtype=F64)
    nothing_lazy = kw.get("affine") is False and kw.get("track_running_stats") is False
    assert lazy.has_uninitialized_params() != nothing_lazy
    lazy.train(train)
    xl = leaf(x)
    y = lazy(xl)
    mt.manual_seed(seed)
    regular = regular_cls(size, **kw, dtype=F64).train(train)
    xr = leaf(x)
    yr = regular(xr)

    assert type(lazy) is regular_cls and not isinstance(lazy, LazyModuleMixin)
    assert not any(is_lazy(t) for t in lazy.state_dict().values())
    assert repr(lazy) == repr(regular)
    assert list(lazy.state_dict()) == list(regular.state_dict())
    for (k, a), b in zip(_weights(lazy).items(), _weights(regular).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)  # same init draws, same running stats
    np.testing.assert_array_equal(y.numpy(), yr.numpy())
    w = mt.tensor(np.random.default_rng(1).standard_normal(y.shape))
    (y * w).sum().backward()
    (yr * w).sum().backward()
    np.testing.assert_array_equal(xl.grad.numpy(), xr.grad.numpy())
    for (n, g), h in zip(_param_grads(lazy).items(), _param_grads(regular).values()):
        np.testing.assert_array_equal(g, h, err_msg=n)


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: nn.LazyLinear(3, dtype=F64), (2, 4)),
        (lambda: nn.LazyConv2d(4, 2, stride=2, groups=2, dtype=F64), (1, 2, 4, 3)),
        (lambda: nn.LazyConvTranspose1d(2, 3, stride=2, dtype=F64), (2, 3, 3)),
        (lambda: nn.LazyBatchNorm2d(dtype=F64), (3, 2, 2, 2)),
        (lambda: nn.LazyInstanceNorm1d(dtype=F64), (2, 5)),
    ],
)
def test_lazy_module_gradcheck_float64(make, shape):
    m = make()
    x = leaf(np.random.default_rng(0).standard_normal(shape))
    m(x)  # the dry run
    params = list(m.parameters())
    assert mt.gradcheck(lambda x, *p: m(x), [x, *params])


# ----------------------------------------------------------------------------- against torch

TORCH_CASES = [
    ("LazyLinear", dict(out_features=3), (2, 4, 5)),
    ("LazyLinear", dict(out_features=2, bias=False), (5,)),
    ("LazyConv1d", dict(out_channels=4, kernel_size=3, padding=1, groups=2), (2, 6, 7)),
    (
        "LazyConv2d",
        dict(out_channels=4, kernel_size=(2, 3), stride=2, padding=1, padding_mode="reflect"),
        (2, 3, 6, 5),
    ),  # fmt: skip
    ("LazyConv2d", dict(out_channels=3, kernel_size=3, padding="same", bias=False), (3, 5, 5)),
    ("LazyConv3d", dict(out_channels=2, kernel_size=2), (1, 3, 3, 4, 3)),
    (
        "LazyConvTranspose1d",
        dict(out_channels=4, kernel_size=3, stride=2, output_padding=1, groups=2),
        (2, 6, 5),
    ),  # fmt: skip
    ("LazyConvTranspose2d", dict(out_channels=3, kernel_size=3, dilation=2), (2, 4, 3, 3)),
    ("LazyConvTranspose3d", dict(out_channels=2, kernel_size=2, bias=False), (1, 3, 2, 3, 2)),
    ("LazyBatchNorm1d", {}, (4, 3)),
    ("LazyBatchNorm1d", dict(momentum=None), (4, 3, 5)),
    ("LazyBatchNorm2d", dict(affine=False), (2, 3, 4, 4)),
    ("LazyBatchNorm3d", dict(track_running_stats=False, bias=False), (2, 2, 3, 3, 2)),
    ("LazyInstanceNorm1d", {}, (2, 3, 6)),
    ("LazyInstanceNorm2d", dict(affine=False), (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", dict(eps=1e-3), (2, 2, 3, 3, 2)),
]


@pytest.mark.parametrize("name, kw, shape", TORCH_CASES, ids=[c[0] for c in TORCH_CASES])
def test_lazy_module_matches_torch_lazy_module(name, kw, shape):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, name)(**kw, dtype=F64)
    theirs = getattr(torch.nn, name)(**kw, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.has_uninitialized_params() == theirs.has_uninitialized_params()
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]

    x = np.random.default_rng(0).standard_normal(shape)
    y, yt = ours(mt.tensor(x)), theirs(torch.tensor(x))
    assert type(ours).__name__ == type(theirs).__name__  # cls_to_become
    assert repr(ours) == repr(theirs)
    assert y.shape == tuple(yt.shape)
    ours_sd, theirs_sd = ours.state_dict(), theirs.state_dict()
    assert list(ours_sd) == list(theirs_sd)
    for k in ours_sd:
        assert ours_sd[k].shape == tuple(theirs_sd[k].shape), k
        assert ours_sd[k].dtype == theirs_sd[k].numpy().dtype, k

    # with the same weights (and running statistics), the same outputs and gradients
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in _weights(ours).items()})
    x2 = np.random.default_rng(1).standard_normal(shape)
    xo, xt = leaf(x2), torch.tensor(x2, requires_grad=True)
    y, yt = ours(xo), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = np.random.default_rng(2).standard_normal(y.shape)
    (y * mt.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (n, p), (nt, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == nt
        np.testing.assert_allclose(p.grad.numpy(), pt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_lazy_sequential_trains_one_step_like_torch_and_summary_works_after_the_dry_run():
    torch = pytest.importorskip("torch")

    def build(lib):
        n = lib.nn
        return n.Sequential(
            n.LazyConv2d(4, 3, padding=1), n.LazyBatchNorm2d(), n.ReLU(), n.Flatten(),
            n.LazyLinear(3),
        ).double()  # fmt: skip

    rng = np.random.default_rng(0)
    x, target = rng.standard_normal((6, 2, 5, 5)), rng.integers(0, 3, 6)
    ours, theirs = build(mt), build(torch)
    with pytest.raises(ValueError, match="summary: lazy modules '0' .LazyConv2d., '1'"):
        mt.summary(ours, (2, 5, 5))
    with pytest.raises(ValueError, match="SGD got an uninitialized parameter"):
        optim.SGD(ours.parameters(), lr=0.1)
    ours(mt.tensor(x[:2]))  # the dry runs
    theirs(torch.tensor(x[:2]))
    assert repr(ours) == repr(theirs)
    assert ours[0].weight.dtype == np.float64  # .double() reached the placeholders
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in _weights(ours).items()})

    s = mt.summary(ours, (2, 5, 5), dtypes=[np.float64])
    assert [r.type for r in s.rows] == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear"]
    assert s.total_params == (4 * 2 * 9 + 4) + (4 + 4) + (3 * 4 * 25 + 3)

    opt = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    opt_t = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(2):
        loss = mt.functional.cross_entropy(ours(mt.tensor(x)), mt.tensor(target))
        loss_t = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(target))
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-10)
        losses.append(loss.item())
        opt.zero_grad()
        opt_t.zero_grad()
        loss.backward()
        loss_t.backward()
        opt.step()
        opt_t.step()
    assert losses[1] < losses[0]
    for (k, a), b in zip(_weights(ours).items(), theirs.state_dict().values()):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


# ----------------------------------------------------------------------------- state dicts


@pytest.mark.parametrize(
    "regular, lazy, shape",
    [
        (lambda: nn.Linear(5, 3), lambda: nn.LazyLinear(3), (2, 5)),
        (lambda: nn.Conv2d(6, 4, 3, groups=2), lambda: nn.LazyConv2d(4, 3, groups=2), (1, 6, 5, 5)),
        (
            lambda: nn.ConvTranspose1d(4, 6, 2, groups=2),
            lambda: nn.LazyConvTranspose1d(6, 2, groups=2),
            (2, 4, 3),
        ),  # fmt: skip
        (lambda: nn.BatchNorm2d(3), lambda: nn.LazyBatchNorm2d(), (2, 3, 2, 2)),
        (lambda: nn.BatchNorm1d(3, affine=False), lambda: nn.LazyBatchNorm1d(affine=False), (4, 3)),
        (
            lambda: nn.InstanceNorm1d(2, affine=True, track_running_stats=True),
            lambda: nn.LazyInstanceNorm1d(),
            (2, 2, 4),
        ),  # fmt: skip
    ],
)
def test_load_state_dict_into_lazy_module_takes_the_sizes_without_random_draws(
    regular, lazy, shape
):
    reg = regular()
    x = mt.tensor(np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    reg(x)  # running statistics that differ from the defaults
    m = lazy()
    state = mt.get_rng_state()
    assert m.load_state_dict(reg.state_dict()).missing_keys == []
    assert mt.get_rng_state() == state
    assert type(m) is type(reg) and repr(m) == repr(reg)
    for (k, a), b in zip(_weights(m).items(), _weights(reg).values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    reg.eval()
    m.eval()
    np.testing.assert_array_equal(m(x).numpy(), reg(x).numpy())
    # and back: the materialised module's state dict loads into a fresh lazy one
    again = lazy()
    again.load_state_dict(m.state_dict())
    assert repr(again) == repr(reg)


def test_load_state_dict_from_torch_and_nested_prefixes():
    torch = pytest.importorskip("torch")
    t = torch.nn.Sequential(torch.nn.Conv1d(3, 4, 2), torch.nn.Flatten(), torch.nn.Linear(8, 2))
    ours = nn.Sequential(nn.LazyConv1d(4, 2), nn.Flatten(), nn.LazyLinear(2))
    ours.load_state_dict(t.state_dict())
    assert repr(ours) == repr(t)
    x = np.random.default_rng(0).standard_normal((2, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_failed_load_leaves_the_lazy_module_lazy_and_usable():
    m = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(2))
    good = {"0.weight": np.ones((3, 5)), "0.bias": np.ones(3)}
    with pytest.raises(nn.StateDictError, match=r"size mismatch for 0.bias: expected shape \(3,\)"):
        m.load_state_dict({**good, "0.bias": np.ones(4)}, strict=False)
    with pytest.raises(nn.StateDictError, match='Unexpected key.*"extra"'):
        m.load_state_dict({**good, "2.weight": np.ones((2, 3)), "2.bias": np.ones(2),
                           "extra": np.ones(1)})  # fmt: skip
    assert type(m[0]) is nn.LazyLinear and type(m[2]) is nn.LazyLinear
    assert m[0].in_features == 0 and m[0].has_uninitialized_params()
    with pytest.raises(nn.StateDictError, match='without "0.weight": its shape tells in_features'):
        m.load_state_dict({"0.bias": np.ones(3)}, strict=False)
    with pytest.raises(nn.StateDictError, match='from "0.weight" of shape \\(3,\\): expected 2'):
        m.load_state_dict({"0.weight": np.ones(3)}, strict=False)
    # strict=False with one lazy layer given: it alone is loaded, the other stays lazy
    r = m.load_state_dict(good, strict=False)
    assert r.missing_keys == ["2.weight", "2.bias"]
    assert type(m[0]) is nn.Linear and type(m[2]) is nn.LazyLinear
    np.testing.assert_array_equal(m[0].weight.numpy(), np.ones((3, 5), np.float32))
    assert m(mt.ones(1, 5)).shape == (1, 2)
    assert type(m[2]) is nn.Linear


def test_state_dict_of_an_uninitialised_module_matches_torch_and_holds_placeholders():
    m = nn.LazyBatchNorm2d()
    sd = m.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert [type(v).__name__ for v in sd.values()] == [
        "UninitializedParameter", "UninitializedParameter", "UninitializedBuffer",
        "UninitializedBuffer", "Tensor",
    ]  # fmt: skip
    assert sd["num_batches_tracked"].item() == 0 and sd["num_batches_tracked"].dtype == np.int64
    assert (
        sd["weight"] is m.weight and m.state_dict(keep_vars=True)["running_mean"] is m.running_mean
    )
    assert repr(sd["weight"]) == "<UninitializedParameter>"
    # a placeholder cannot be loaded into a regular module: a clear error names the key
    with pytest.raises(nn.StateDictError, match='could not read "weight".*no values yet'):
        nn.BatchNorm2d(3).load_state_dict(sd)


# ----------------------------------------------------------------------------- placeholders


def test_to_dtype_before_the_dry_run_reaches_the_materialised_parameters():
    mt.manual_seed(7)
    m = nn.Sequential(nn.LazyLinear(3), nn.LazyBatchNorm1d()).double()
    assert m[0].weight.dtype == np.float64 and m[1].running_mean.dtype == np.float64
    assert m[1].num_batches_tracked.dtype == np.int64
    x = np.random.default_rng(0).standard_normal((4, 5))
    y = m(mt.tensor(x))
    assert all(v.dtype == np.float64 for k, v in m.state_dict().items() if "num_batches" not in k)
    mt.manual_seed(7)
    ref = nn.Sequential(nn.Linear(5, 3, dtype=F64), nn.BatchNorm1d(3, dtype=F64))
    np.testing.assert_array_equal(y.numpy(), ref(mt.tensor(x)).numpy())
    with pytest.raises(TypeError, match="only accepts floating point dtypes"):
        nn.LazyLinear(3).to(np.int32)


def test_uninitialized_parameter_and_buffer_api():
    p = nn.UninitializedParameter(dtype=F64)
    assert isinstance(p, nn.Parameter) and p.requires_grad and p.dtype == np.float64
    assert p.device == mt.device("cpu") and repr(p) == "<UninitializedParameter>" and is_lazy(p)
    b = nn.UninitializedBuffer()
    assert not isinstance(b, nn.Parameter) and not b.requires_grad and b.dtype == np.float32
    for use in (lambda: p.shape, lambda: p.numel(), lambda: p.size(), lambda: p.ndim,
                lambda: len(p), lambda: p.numpy(), lambda: p + 1, lambda: np.asarray(b),
                lambda: p.detach(), lambda: p.data, lambda: p.sum()):  # fmt: skip
        with pytest.raises(UninitializedTensorError, match="dry run"):
            use()
    with pytest.raises(RuntimeError, match="has no shape yet"):  # also a RuntimeError, as torch
        p.shape  # noqa: B018
    p.requires_grad_(False)
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64
    assert not p.requires_grad and not is_lazy(p)
    b.materialize(4, dtype=F64)
    assert type(b) is mt.Tensor and b.shape == (4,) and b.dtype == np.float64


def test_has_uninitialized_params_initialize_parameters_and_reset():
    m = nn.LazyConv2d(4, 3)
    assert m.has_uninitialized_params() and m.in_channels == 0
    m.reset_parameters()  # a no-op while lazy, as torch
    mt.manual_seed(3)
    assert m.initialize_parameters(mt.zeros(2, 5, 6, 6)) is None  # no output computed
    assert type(m) is nn.Conv2d and m.in_channels == 5 and m.weight.shape == (4, 5, 3, 3)
    assert not hasattr(m, "has_uninitialized_params")  # a plain Conv2d now
    mt.manual_seed(3)
    np.testing.assert_array_equal(m.weight.numpy(), nn.Conv2d(5, 4, 3).weight.numpy())
    # nothing to infer for affine=False, track_running_stats=False: the size is still read
    i = nn.LazyInstanceNorm2d(affine=False, track_running_stats=False)
    assert not i.has_uninitialized_params() and list(i.state_dict()) == []
    i(mt.ones(1, 3, 2, 2))
    assert repr(i) == (
        "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
        "track_running_stats=False)"
    )


def test_lazy_module_behaviour_before_and_after_materialising():
    m = nn.LazyLinear(3)
    m.requires_grad_(False)  # freezing before the dry run is kept
    m.eval()
    seen = []
    m.register_forward_pre_hook(lambda mod, args: seen.append(type(mod).__name__))
    clone = copy.deepcopy(m)
    m(mt.ones(2, 4))
    assert seen == ["Linear"]  # the size is inferred before any other hook, as in torch
    assert not m.weight.requires_grad and not m.training
    assert type(clone) is nn.LazyLinear  # the copy is independent and still lazy
    clone(mt.ones(1, 6))
    assert clone.in_features == 6 and m.in_features == 4
    # the regular layer's checks from now on
    with pytest.raises(ValueError, match="expected input with last dim 4"):
        m(mt.ones(2, 5))
    assert m.num_parameters() == 15


def test_unbatched_instance_norm_infers_channels_from_the_channel_dim():
    m = nn.LazyInstanceNorm1d()
    m(mt.ones(3, 7))  # (C, L): C = 3 (torch 2.13 reads dim 1 here and then fails)
    assert m.num_features == 3 and m.weight.shape == (3,)


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, shape, message",
    [
        (lambda: nn.LazyLinear(3), (), r"cannot infer in_features from input of shape \(\)"),
        (lambda: nn.LazyConv2d(4, 3), (5, 5),
         r"LazyConv2d\(0->4, k=3\): cannot infer in_channels from input of shape \(5, 5\): "
         r"expected 4-D input \(N, C_in, H, W\) or unbatched 3-D"),
        (lambda: nn.LazyConv1d(4, 3), (1, 2, 3, 4), "expected 3-D input"),
        (lambda: nn.LazyConvTranspose3d(2, 2), (2, 3, 4), "expected 5-D input"),
        (lambda: nn.LazyBatchNorm2d(), (2, 3, 4), r"expected 4-D input \(N, C, H, W\)"),
        (lambda: nn.LazyBatchNorm1d(), (4,), r"expected 2-D input \(N, C\) or 3-D"),
        (lambda: nn.LazyInstanceNorm3d(), (3, 4, 4), "or unbatched 4-D"),
    ],
)  # fmt: skip
def test_wrong_input_rank_is_a_clear_error_and_the_module_stays_lazy(make, shape, message):
    m = make()
    with pytest.raises(ValueError, match=message):
        m(mt.zeros(*shape))
    assert isinstance(m, LazyModuleMixin) and m.has_uninitialized_params()


def test_construction_and_inference_errors():
    with pytest.raises(TypeError, match="expected a Tensor input to infer in_features"):
        nn.LazyLinear(3)([1.0, 2.0])
    with pytest.raises(ValueError, match="LazyConv2d: groups=2 must divide out_channels=3"):
        nn.LazyConv2d(3, 3, groups=2)
    with pytest.raises(ValueError, match="LazyConv2d: padding_mode must be one of"):
        nn.LazyConv2d(3, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="LazyBatchNorm2d: momentum must be in"):
        nn.LazyBatchNorm2d(momentum=2.0)
    with pytest.raises(ValueError, match="out_features must be a non-negative int"):
        nn.LazyLinear(-1)
    m = nn.LazyConv2d(4, 3, groups=2)
    with pytest.raises(ValueError, match=r"in_channels=3, inferred from input of shape "
                       r"\(1, 3, 5, 5\), does not fit: Conv2d: groups=2 must divide"):  # fmt: skip
        m(mt.zeros(1, 3, 5, 5))
    assert type(m) is nn.LazyConv2d and m.has_uninitialized_params()


def test_uses_of_uninitialised_parameters_are_clear_errors():
    m = nn.Sequential(nn.LazyLinear(3))
    with pytest.raises(ValueError, match="Adam got an uninitialized parameter .* dry run"):
        optim.Adam(m.parameters())
    with pytest.raises(ValueError, match=r"numel.*UninitializedParameter: it has no shape yet"):
        m.num_parameters()
    with pytest.raises(ValueError, match="numel"):
        m[0].weight.numel()
    with pytest.raises(ValueError, match=r"summary: lazy modules '0' \(LazyLinear\)"):
        mt.summary(m, (4,))
    with pytest.raises(ValueError, match="no shape yet"):
        mt.functional.linear(mt.ones(2, 4), m[0].weight)


@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_lazy_module_moved_to_the_gpu_before_the_dry_run():
    mt.manual_seed(5)
    m = nn.Sequential(nn.LazyConv2d(3, 3), nn.LazyBatchNorm2d()).to("cuda")
    assert m[0].weight.device == mt.device("cuda")
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    y = m(mt.tensor(x).to("cuda"))
    assert m[0].weight.device == mt.device("cuda") and m[1].running_var.device.type == "cuda"
    mt.manual_seed(5)
    ref = nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))
    np.testing.assert_allclose(y.cpu().numpy(), ref(mt.tensor(x)).numpy(), rtol=1e-4, atol=1e-5)
