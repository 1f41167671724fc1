"""Module, Parameter, containers: registration, tree walking, hooks, state dicts, devices, repr."""

import copy

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv.backend import gpu_available
from minitorch_cv.layers.activation import ReLU, Tanh
from minitorch_cv.layers.container import ModuleDict, ModuleList, Sequential
from minitorch_cv.layers.linear import Linear
from minitorch_cv.layers.module import IncompatibleKeys, Module, Parameter, StateDictError
from minitorch_cv.optim import SGD


class Norm(Module):
    """A BatchNorm-shaped module: two parameters and three buffers, in PyTorch's order."""

    def __init__(self, n):
        super().__init__()
        self.weight = Parameter(mt.ones(n))
        self.bias = Parameter(mt.zeros(n))
        self.register_buffer("running_mean", mt.zeros(n))
        self.register_buffer("running_var", mt.ones(n))
        self.register_buffer("num_batches_tracked", mt.tensor(0))

    def forward(self, x):
        return (x - self.running_mean) * self.weight + self.bias


class Net(Module):
    def __init__(self):
        super().__init__()
        self.features = Sequential(Linear(4, 8), Norm(8), ReLU())
        self.head = Linear(8, 3)
        self.register_buffer("scratch", mt.zeros(2), persistent=False)

    def forward(self, x):
        return self.head(self.features(x))


def arrays_of(m):
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


# ---------------------------------------------------------------- registration and walking


def test_parameter_is_a_tensor_requiring_grad_and_shares_the_array():
    a = np.ones((2, 3), dtype=np.float32)
    p = Parameter(mt.Tensor(a))
    assert isinstance(p, mt.Tensor) and p.requires_grad and p.is_leaf
    assert p.numpy() is a
    assert not Parameter(mt.zeros(2), requires_grad=False).requires_grad
    assert repr(p).startswith("Parameter containing:\ntensor(")


def test_attributes_register_parameters_modules_and_buffers():
    net = Net()
    assert list(net._modules) == ["features", "head"]
    assert [n for n, _ in net.named_parameters()] == [
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "head.weight", "head.bias",
    ]  # fmt: skip
    assert [n for n, _ in net.named_buffers()] == [
        "scratch", "features.1.running_mean", "features.1.running_var",
        "features.1.num_batches_tracked",
    ]  # fmt: skip
    assert [n for n, _ in net.named_modules()] == [
        "",
        "features",
        "features.0",
        "features.1",
        "features.2",
        "head",
    ]
    assert [n for n, _ in net.named_children()] == ["features", "head"]
    assert list(net.parameters(recurse=False)) == []
    assert net.features[1].running_var is net.features[1]._buffers["running_var"]


def test_shared_parameters_and_modules_are_yielded_once():
    lin = Linear(3, 3)
    seq = Sequential(lin, ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3  # seq, lin, relu
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # as in PyTorch
    assert seq.num_parameters() == 12


def test_num_parameters_counts_by_hand():
    m = Sequential(Linear(784, 128), ReLU(), Linear(128, 10, bias=False))
    assert m.num_parameters() == 784 * 128 + 128 + 128 * 10
    m[0].requires_grad_(False)
    assert m.num_parameters(only_trainable=True) == 128 * 10


def test_setattr_rules():
    m = Linear(2, 2)
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'weight'"):
        m.weight = mt.zeros(2, 2)
    m.bias = None  # a parameter slot may be emptied
    assert m.bias is None and "bias" not in m.state_dict()
    m.extra = mt.zeros(1)  # a plain tensor is a plain attribute, not a buffer
    assert "extra" not in m.state_dict()
    m.register_buffer("buf", np.arange(3.0))  # arrays are wrapped
    assert isinstance(m.buf, mt.Tensor)
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("extra", mt.zeros(1))
    with pytest.raises(KeyError, match="name can.+t contain"):
        m.register_parameter("a.b", None)
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nope'"):
        _ = m.nope
    del m.buf
    assert "buf" not in dict(m.named_buffers())
    m.sub = ReLU()  # a module replaces nothing but registers
    assert "sub" in m._modules
    m.sub = None
    assert m.sub is None


def test_assigning_before_init_and_missing_forward_are_clear_errors():
    class Forgot(Module):
        def __init__(self):
            self.w = Parameter(mt.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()

    class NoForward(Module):
        pass

    with pytest.raises(TypeError, match="NoForward has no forward"):
        NoForward()(mt.zeros(1))


def test_train_eval_propagate_and_return_self():
    net = Net()
    assert net.eval() is net
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.features.train(False)
    assert net.training and not net.features[0].training
    with pytest.raises(ValueError, match="bool"):
        net.train("yes")


def test_zero_grad_set_to_none_or_zeros():
    m = Linear(3, 2)
    m(mt.randn(4, 3)).sum().backward()
    m.zero_grad(set_to_none=False)
    assert np.all(m.weight.grad.numpy() == 0)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_requires_grad_and_apply_visit_children_first():
    net = Net()
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    order = []
    net.apply(lambda m: order.append(type(m).__name__))
    assert order == ["Linear", "Norm", "ReLU", "Sequential", "Linear", "Net"]


def test_get_submodule_and_parameter():
    net = Net()
    assert net.get_submodule("features.1") is net.features[1]
    assert net.get_parameter("head.bias") is net.head.bias
    with pytest.raises(AttributeError, match="no submodule 'x'"):
        net.get_submodule("features.x")


# ---------------------------------------------------------------- containers


def test_sequential_indexing_slicing_and_mutation():
    a, b, c = Linear(2, 3), ReLU(), Linear(3, 1)
    s = Sequential(a, b, c)
    assert s[0] is a and s[-1] is c and len(s) == 3 and list(s) == [a, b, c]
    t = s[1:]
    assert isinstance(t, Sequential) and list(t) == [b, c] and list(t._modules) == ["1", "2"]
    x = mt.randn(5, 2)
    np.testing.assert_allclose(s(x).numpy(), c(b(a(x))).numpy())
    del s[1]
    assert list(s._modules) == ["0", "1"] and s[1] is c
    s.insert(1, b)
    assert list(s) == [a, b, c]
    assert s.pop() is c and len(s) == 2
    s.append(c)
    with pytest.raises(IndexError, match="index 3 is out of range for length 3"):
        s[3]
    named = Sequential({"fc": a, "act": b})
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]


def test_module_list_and_dict_register_their_members():
    ml = ModuleList([Linear(2, 2) for _ in range(3)])
    ml.append(Linear(2, 1))
    assert len(ml) == 4 and len(list(ml.parameters())) == 8
    assert list(ml.state_dict())[:2] == ["0.weight", "0.bias"]
    del ml[0]
    assert list(ml._modules) == ["0", "1", "2"]
    ml.insert(0, ReLU())
    assert isinstance(ml[0], ReLU) and len(ml) == 4
    with pytest.raises(TypeError, match="has no forward"):
        ml(mt.zeros(1))
    # equal consecutive entries print as one run, as PyTorch's ModuleList does
    ml.append(Linear(2, 1))
    assert repr(ml) == (
        "ModuleList(\n  (0): ReLU()\n  (1-2): 2 x Linear(in_features=2, out_features=2, "
        "bias=True)\n  (3-4): 2 x Linear(in_features=2, out_features=1, bias=True)\n)"
    )
    assert repr(ModuleList()) == "ModuleList()"
    md = ModuleDict({"enc": Linear(2, 2), "dec": Linear(2, 2)})
    md["extra"] = ReLU()
    assert list(md) == ["enc", "dec", "extra"] and "enc" in md
    assert list(md.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    with pytest.raises(KeyError, match="no key 'x'"):
        md["x"]


# ---------------------------------------------------------------- hooks


def test_forward_hooks_can_change_input_and_output_and_be_removed():
    m = Linear(2, 2, bias=False)
    m.weight.data[...] = np.eye(2, dtype=np.float32)
    calls = []
    pre = m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,))
    post = m.register_forward_hook(
        lambda mod, args, out: calls.append((mod, args[0].shape)) or out + 1
    )
    x = mt.ones(1, 2)
    np.testing.assert_allclose(m(x).numpy(), [[3.0, 3.0]])
    assert calls[0][0] is m and calls[0][1] == (1, 2)
    pre.remove()
    np.testing.assert_allclose(m(x).numpy(), [[2.0, 2.0]])
    post.remove()
    np.testing.assert_allclose(m(x).numpy(), [[1.0, 1.0]])
    assert len(calls) == 2


def test_hook_order_prepend_and_kwargs():
    m = ReLU()
    order = []
    m.register_forward_hook(lambda *a: order.append("second"))
    m.register_forward_hook(lambda *a: order.append("first"), prepend=True)
    m.register_forward_hook(
        lambda mod, args, kwargs, out: order.append(("kw", kwargs)), with_kwargs=True
    )
    with m.register_forward_pre_hook(lambda mod, args, kwargs: (args, kwargs), with_kwargs=True):
        m(mt.ones(1))
    assert order == ["first", "second", ("kw", {})]
    assert not m._forward_pre_hooks  # the handle's context manager removed it


def test_hooks_capture_intermediate_activations():
    net = Net()
    seen = {}
    for name, mod in net.named_modules():
        if isinstance(mod, Linear):
            mod.register_forward_hook(
                lambda m, a, out, name=name: seen.__setitem__(name, out.shape)
            )
    net(mt.randn(5, 4))
    assert seen == {"features.0": (5, 8), "head": (5, 3)}


# ---------------------------------------------------------------- state dicts


def test_state_dict_keys_values_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == [
        "features.0.weight",
        "features.0.bias",
        "features.1.weight",
        "features.1.bias",
        "features.1.running_mean",
        "features.1.running_var",
        "features.1.num_batches_tracked",
        "head.weight",
        "head.bias",
    ]  # fmt: skip  ('scratch' is non-persistent)
    assert all(type(v) is mt.Tensor and not v.requires_grad for v in sd.values())
    assert sd["head.weight"].numpy() is net.head.weight.numpy()  # detached, shares memory (PyTorch)
    assert net.state_dict(keep_vars=True)["head.weight"] is net.head.weight


def test_state_dict_keys_match_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
    )
    ours = Sequential(Linear(4, 8), Norm(8), ReLU(), Linear(8, 3))
    assert list(ours.state_dict()) == list(tn.state_dict())


def test_load_state_dict_round_trip_keeps_parameter_objects():
    mt.manual_seed(0)
    a, b = Net(), Net()
    b.features[1].running_mean.data[...] = 5.0
    params_before = list(b.parameters())
    result = b.load_state_dict(a.state_dict())
    assert result == IncompatibleKeys([], []) and repr(result) == "<All keys matched successfully>"
    assert all(p is q for p, q in zip(params_before, b.parameters()))
    x = mt.randn(6, 4)
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    np.testing.assert_array_equal(b.features[1].running_mean.numpy(), 0)


def test_load_state_dict_accepts_numpy_arrays_and_casts_dtype():
    m = Linear(3, 2)
    sd = {"weight": np.arange(6, dtype=np.float64).reshape(2, 3), "bias": np.array([1.0, -1.0])}
    m.load_state_dict(sd)
    assert m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.numpy(), sd["weight"])
    sd["weight"][0, 0] = 100  # copied, not aliased
    assert m.weight.numpy()[0, 0] == 0


def test_load_state_dict_from_torch_gives_torch_outputs():
    torch = pytest.importorskip("torch")
    tn = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    ours = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
    ours.load_state_dict(tn.state_dict())
    ours.load_state_dict(dict(tn.named_parameters()))  # Parameters that require grad work too
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = tn(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours(mt.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_load_state_dict_errors_name_keys_and_shapes_and_change_nothing():
    net = Net()
    before = arrays_of(net)
    sd = {k: v.numpy().copy() + 1 for k, v in net.state_dict().items()}
    del sd["head.bias"]
    sd["head.extra"] = np.zeros(3)
    sd["features.0.weight"] = np.zeros((8, 5))
    with pytest.raises(StateDictError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert 'Missing key(s) in state_dict: "head.bias"' in msg
    assert 'Unexpected key(s) in state_dict: "head.extra"' in msg
    assert (
        "size mismatch for features.0.weight: expected shape (8, 4) (the model's), got (8, 5)"
        in msg
    )
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, ValueError)
    after = arrays_of(net)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing was written


def test_load_state_dict_non_strict_reports_keys_but_shapes_still_fail():
    m = Linear(3, 2)
    res = m.load_state_dict({"weight": np.ones((2, 3)), "other": np.ones(1)}, strict=False)
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["other"]
    np.testing.assert_array_equal(m.weight.numpy(), 1)
    with pytest.raises(StateDictError, match="size mismatch for weight"):
        m.load_state_dict({"weight": np.ones((3, 2))}, strict=False)


# ---------------------------------------------------------------- devices and dtypes


def test_double_casts_in_place_and_optimizer_keeps_working():
    net = Net()
    params = list(net.parameters())
    opt = SGD(net.parameters(), lr=0.1)
    assert net.double() is net
    assert all(p is q for p, q in zip(params, net.parameters()))
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.features[1].num_batches_tracked.dtype == np.int64  # integer buffers are not cast
    x = mt.randn(3, 4, dtype=mt.float64)
    before = net.head.weight.numpy().copy()
    net(x).sum().backward()
    opt.step()
    assert net.head.weight.dtype == np.float64
    assert not np.array_equal(before, net.head.weight.numpy())
    net.to(dtype=mt.float32).to("cpu")
    assert net.head.weight.dtype == np.float32 and net.head.weight.grad.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(mt.int64)


@pytest.mark.skipif(gpu_available(), reason="checks the message shown without a GPU")
def test_cuda_without_gpu_is_a_clear_error_and_leaves_module_on_cpu():
    m = Linear(2, 2)
    with pytest.raises(RuntimeError, match="cuda"):
        m.to("cuda")
    assert m.weight.device == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not gpu_available(), reason="needs CuPy and a CUDA device")
def test_cuda_round_trip_keeps_objects_and_values():
    m = Net()
    p = m.head.weight
    ref = p.numpy().copy()
    m.cuda()
    assert m.head.weight is p and p.device == "cuda:0"
    assert m.features[1].running_mean.device == "cuda:0"
    m.cpu()
    np.testing.assert_array_equal(p.numpy(), ref)


def test_deepcopy_is_independent():
    a = Net()
    b = copy.deepcopy(a)
    b.head.weight.data[...] = 0
    assert not np.all(a.head.weight.numpy() == 0)
    assert isinstance(b.head.weight, Parameter)


# ---------------------------------------------------------------- repr


EXPECTED_REPR = """Net(
  (features): Sequential(
    (0): Linear(in_features=4, out_features=8, bias=True)
    (1): Norm()
    (2): ReLU()
  )
  (head): Linear(in_features=8, out_features=3, bias=True)
)"""


def test_repr_tree():
    assert repr(Net()) == EXPECTED_REPR


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    tn = nn.Sequential(
        nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 4, bias=False), nn.Tanh())
    )
    ours = Sequential(Linear(2, 3), ReLU(), Sequential(Linear(3, 4, bias=False), Tanh()))
    assert repr(ours) == repr(tn)


def test_bad_input_error_of_a_built_in_layer_is_prefixed_in_place():
    """The raised object itself gets the layer's name: its type, further args and the traceback
    down to the failing check stay; user-defined modules' messages are left as written."""
    pool = mt.nn.MaxPool2d(3)
    with pytest.raises(ValueError) as e:
        pool(mt.tensor(np.zeros((1, 1, 2, 2), np.float32)))
    assert e.value.args[0].startswith(repr(pool) + ": max_pool2d: ")
    assert e.traceback[-1].name != "__call__"  # the frame of the check, not Module.__call__

    class Check(Module):
        def forward(self, x):
            raise ValueError("expected something else", 42)

    with pytest.raises(ValueError) as e:
        Check()(mt.tensor(np.zeros(2)))
    assert e.value.args == ("expected something else", 42)
