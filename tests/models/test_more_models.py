"""DenseNet, SqueezeNet, ShuffleNet V2 and GoogLeNet as torchvision builds them.

What is proved here:
- parameter counts equal torchvision's documented figures and counts derived by hand below;
- state_dict keys are torchvision's, in torchvision's order (key lists written out from its
  module names), and torchvision's legacy DenseNet keys load;
- the forward and the input gradient equal a torch transcription of torchvision's forward that
  reads every weight from our state dict by name (so a weight under the wrong name, an unused
  weight, a wrong concatenation or shuffle order fails);
- the blocks' gradients pass a float64 gradcheck; every parameter gets a gradient in training;
- GoogLeNet's outputs per mode; the smallest input sizes equal torchvision's documented
  min_size, and smaller inputs fail naming the model and the first layer that would be empty.

Documented figures: torchvision's model cards, pytorch.org/vision/stable/models/generated/
torchvision.models.<builder>.html ("num_params", "min_size"), which are the `meta` of each
IMAGENET1K_V1 weight in torchvision/models/{densenet,squeezenet,shufflenetv2,googlenet}.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.models import densenet as dn
from minitorch_cv.models._input_size import smallest_input
from minitorch_cv.models.googlenet import BasicConv2d
from minitorch_cv.models.shufflenet import InvertedResidual as ShuffleUnit
from tests.strategies import FEW

# builder: (torchvision's num_params, torchvision's min_size)
DOCUMENTED = {
    "densenet121": (7_978_856, 29),
    "densenet161": (28_681_000, 29),
    "densenet169": (14_149_480, 29),
    "densenet201": (20_013_928, 29),
    "squeezenet1_0": (1_248_424, 21),
    "squeezenet1_1": (1_235_496, 17),
    "shufflenet_v2_x0_5": (1_366_792, 1),
    "shufflenet_v2_x1_0": (2_278_604, 1),
    "shufflenet_v2_x1_5": (3_503_624, 1),
    "shufflenet_v2_x2_0": (7_393_996, 1),
    "googlenet": (6_624_904, 15),  # the published model: its auxiliary heads are dropped
}


def build(name, **options):
    """The model without random init (shapes and counts only)."""
    with mt.init.skip_init():
        return getattr(models, name)(**options)


# --------------------------------------------------------------------------- parameter counts


def conv(cin, cout, k, bias=True, groups=1):
    return cin // groups * cout * k * k + (cout if bias else 0)


def bn(c):
    return 2 * c


def linear(a, b):
    return a * b + b


@pytest.mark.parametrize("name", DOCUMENTED)
def test_parameter_counts_equal_torchvisions_model_cards(name):
    options = {"aux_logits": False} if name == "googlenet" else {}
    assert models.info(name.replace("_", "-")).num_parameters(**options) == DOCUMENTED[name][0]


def test_densenet121_count_by_hand():
    # conv0 7x7 3->64, norm0; a dense layer on c channels: norm1(c), conv1 1x1 c->128,
    # norm2(128), conv2 3x3 128->32; a transition on c: norm(c), conv 1x1 c->c/2
    def layer(c):
        return bn(c) + conv(c, 128, 1, False) + bn(128) + conv(128, 32, 3, False)

    total, c = conv(3, 64, 7, False) + bn(64), 64
    for i, n in enumerate((6, 12, 24, 16)):
        for _ in range(n):
            total, c = total + layer(c), c + 32
        if i < 3:
            total, c = total + bn(c) + conv(c, c // 2, 1, False), c // 2
    assert c == 1024  # 512 + 16 * 32 after the last block
    total += bn(1024) + linear(1024, 1000)
    assert total == 7_978_856
    assert build("densenet121").num_parameters() == total


def fire(cin, s, e1, e3):
    return conv(cin, s, 1) + conv(s, e1, 1) + conv(s, e3, 3)


def test_squeezenet_counts_by_hand():
    head = conv(512, 1000, 1)
    fires = (fire(96, 16, 64, 64) + fire(128, 16, 64, 64) + fire(128, 32, 128, 128)
             + fire(256, 32, 128, 128) + fire(256, 48, 192, 192) + fire(384, 48, 192, 192)
             + fire(384, 64, 256, 256) + fire(512, 64, 256, 256))  # fmt: skip
    v10 = conv(3, 96, 7) + fires + head
    # 1_1: 3x3 stem of 64 channels, the same Fires (the first on 64 channels)
    v11 = v10 - conv(3, 96, 7) - fire(96, 16, 64, 64) + conv(3, 64, 3) + fire(64, 16, 64, 64)
    assert (v10, v11) == (1_248_424, 1_235_496)
    assert build("squeezenet1_0").num_parameters() == v10
    assert build("squeezenet1_1").num_parameters() == v11


def test_shufflenet_v2_x0_5_count_by_hand():
    def down(cin, cout):  # stride 2: branch1 (dw 3x3 + BN, 1x1 + BN) and branch2 on cin
        b = cout // 2
        branch1 = conv(cin, cin, 3, False, groups=cin) + bn(cin) + conv(cin, b, 1, False) + bn(b)
        branch2 = conv(cin, b, 1, False) + bn(b) + conv(b, b, 3, False, groups=b) + bn(b)
        return branch1 + branch2 + conv(b, b, 1, False) + bn(b)

    def keep(c):  # stride 1: branch2 on half the channels
        b = c // 2
        return conv(b, b, 1, False) + bn(b) + conv(b, b, 3, False, groups=b) + bn(b) + \
            conv(b, b, 1, False) + bn(b)  # fmt: skip

    total = conv(3, 24, 3, False) + bn(24)
    for cin, cout, n in ((24, 48, 4), (48, 96, 8), (96, 192, 4)):
        total += down(cin, cout) + (n - 1) * keep(cout)
    total += conv(192, 1024, 1, False) + bn(1024) + linear(1024, 1000)
    assert total == 1_366_792
    assert build("shufflenet_v2_x0_5").num_parameters() == total


# torchvision's Inception configurations: in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool
INCEPTIONS = {
    "3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64),
    "4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
    "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
    "4e": (528, 256, 160, 320, 32, 128, 128), "5a": (832, 256, 160, 320, 32, 128, 128),
    "5b": (832, 384, 192, 384, 48, 128, 128),
}  # fmt: skip


def test_googlenet_count_by_hand():
    def bc(cin, cout, k):  # BasicConv2d: conv without bias + BN
        return conv(cin, cout, k, False) + bn(cout)

    def inception(cin, c1, c3r, c3, c5r, c5, pool):
        return (bc(cin, c1, 1) + bc(cin, c3r, 1) + bc(c3r, c3, 3) + bc(cin, c5r, 1)
                + bc(c5r, c5, 3) + bc(cin, pool, 1))  # fmt: skip

    def aux(cin):
        return bc(cin, 128, 1) + linear(2048, 1024) + linear(1024, 1000)

    trunk = bc(3, 64, 7) + bc(64, 64, 1) + bc(64, 192, 3)
    trunk += sum(inception(*cfg) for cfg in INCEPTIONS.values()) + linear(1024, 1000)
    assert trunk == 6_624_904
    assert build("googlenet", aux_logits=False).num_parameters() == trunk
    # googlenet() keeps torchvision's default aux_logits=True: aux1 on 512, aux2 on 528 channels
    assert build("googlenet").num_parameters() == trunk + aux(512) + aux(528) == 13_004_888


# --------------------------------------------------------------------------- state_dict keys


def bn_keys(p):
    return [p + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def densenet_keys(blocks):
    keys = ["features.conv0.weight", *bn_keys("features.norm0.")]
    for b, n in enumerate(blocks, 1):
        for i in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{i}."
            keys += [*bn_keys(p + "norm1."), p + "conv1.weight", *bn_keys(p + "norm2."),
                     p + "conv2.weight"]  # fmt: skip
        if b < len(blocks):
            p = f"features.transition{b}."
            keys += [*bn_keys(p + "norm."), p + "conv.weight"]
    return keys + [*bn_keys("features.norm5."), "classifier.weight", "classifier.bias"]


def squeezenet_keys(fires):
    keys = ["features.0.weight", "features.0.bias"]
    for i in fires:
        keys += [f"features.{i}.{m}.{w}" for m in ("squeeze", "expand1x1", "expand3x3")
                 for w in ("weight", "bias")]  # fmt: skip
    return keys + ["classifier.1.weight", "classifier.1.bias"]


def shufflenet_keys(repeats):
    def conv_bn(p, i):
        return [f"{p}{i}.weight", *bn_keys(f"{p}{i + 1}.")]

    keys = conv_bn("conv1.", 0)
    for s, n in zip((2, 3, 4), repeats):
        for u in range(n):
            p = f"stage{s}.{u}."
            if u == 0:
                keys += conv_bn(p + "branch1.", 0) + conv_bn(p + "branch1.", 2)
            keys += conv_bn(p + "branch2.", 0) + conv_bn(p + "branch2.", 3) + \
                conv_bn(p + "branch2.", 5)  # fmt: skip
    return keys + conv_bn("conv5.", 0) + ["fc.weight", "fc.bias"]


def googlenet_keys(aux):
    def bc(p):
        return [p + "conv.weight", *bn_keys(p + "bn.")]

    keys = bc("conv1.") + bc("conv2.") + bc("conv3.")
    for name in INCEPTIONS:
        p = f"inception{name}."
        for b in ("branch1.", "branch2.0.", "branch2.1.", "branch3.0.", "branch3.1.", "branch4.1."):
            keys += bc(p + b)
    for a in ("aux1.", "aux2.") if aux else ():
        keys += bc(a + "conv.") + [a + f"fc{i}.{w}" for i in (1, 2) for w in ("weight", "bias")]
    return keys + ["fc.weight", "fc.bias"]


def test_state_dict_keys_are_torchvisions():
    sd = build("densenet121").state_dict()
    assert list(sd) == densenet_keys((6, 12, 24, 16))
    assert "features.denseblock1.denselayer1.norm1.weight" in sd
    assert sd["features.denseblock1.denselayer2.conv1.weight"].shape == (128, 96, 1, 1)
    assert sd["features.transition1.conv.weight"].shape == (128, 256, 1, 1)
    assert sd["classifier.weight"].shape == (1000, 1024)
    sd161 = build("densenet161").state_dict()
    assert list(sd161) == densenet_keys((6, 12, 36, 24))
    assert sd161["features.conv0.weight"].shape == (96, 3, 7, 7)
    assert list(build("squeezenet1_0").state_dict()) == squeezenet_keys((3, 4, 5, 7, 8, 9, 10, 12))
    sq = build("squeezenet1_1").state_dict()
    assert list(sq) == squeezenet_keys((3, 4, 6, 7, 9, 10, 11, 12))
    assert sq["features.3.expand3x3.weight"].shape == (64, 16, 3, 3)
    sh = build("shufflenet_v2_x1_0").state_dict()
    assert list(sh) == shufflenet_keys((4, 8, 4))
    assert sh["stage2.0.branch1.0.weight"].shape == (24, 1, 3, 3)  # depthwise on the input
    assert sh["stage2.1.branch2.0.weight"].shape == (58, 58, 1, 1)  # half of 116 channels
    assert sh["stage2.0.branch2.3.weight"].shape == (58, 1, 3, 3)
    g = build("googlenet").state_dict()
    assert list(g) == googlenet_keys(aux=True)
    assert g["inception3a.branch3.1.conv.weight"].shape == (32, 16, 3, 3)  # torchvision's 3x3
    assert g["aux2.conv.conv.weight"].shape == (128, 528, 1, 1)
    assert list(build("googlenet", aux_logits=False).state_dict()) == googlenet_keys(aux=False)


# --------------------------------------------------------------------------- torch oracles
#
# Each transcribes torchvision's forward with torch.nn.functional, reading every weight from
# our state dict by its torchvision name; `Used` records which entries were read.


class Used(dict):
    def __init__(self, model, torch):
        super().__init__({k: torch.from_numpy(np.array(v.numpy())) for k, v in
                          model.state_dict().items()})  # fmt: skip
        self.used = set()

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)

    def unused(self):
        return sorted(k for k in self if k not in self.used and "num_batches" not in k)


def randomize_running_stats(model, seed):
    """Running statistics that make eval-mode BN differ from the identity."""
    rng = np.random.default_rng(seed)
    for k, v in model.state_dict().items():
        if k.endswith("running_var"):
            v.data[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean"):
            v.data[...] = rng.normal(0, 0.2, v.shape)


def t_bn(tf, sd, p, x, eps=1e-5, training=False):
    mean, var = sd[p + "running_mean"].clone(), sd[p + "running_var"].clone()
    return tf.batch_norm(x, mean, var, sd[p + "weight"], sd[p + "bias"], training, 0.1, eps)


def torch_densenet(torch, sd, x, blocks):
    tf = torch.nn.functional
    x = tf.conv2d(x, sd["features.conv0.weight"], stride=2, padding=3)
    x = tf.max_pool2d(tf.relu(t_bn(tf, sd, "features.norm0.", x)), 3, 2, 1)
    for b, n in enumerate(blocks, 1):
        feats = [x]
        for i in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{i}."
            h = tf.relu(t_bn(tf, sd, p + "norm1.", torch.cat(feats, 1)))
            h = tf.relu(t_bn(tf, sd, p + "norm2.", tf.conv2d(h, sd[p + "conv1.weight"])))
            feats.append(tf.conv2d(h, sd[p + "conv2.weight"], padding=1))
        x = torch.cat(feats, 1)
        if b < len(blocks):
            p = f"features.transition{b}."
            x = tf.conv2d(tf.relu(t_bn(tf, sd, p + "norm.", x)), sd[p + "conv.weight"])
            x = tf.avg_pool2d(x, 2, 2)
    x = tf.relu(t_bn(tf, sd, "features.norm5.", x)).mean((2, 3))
    return tf.linear(x, sd["classifier.weight"], sd["classifier.bias"])


SQUEEZE_LAYOUT = {"1_0": (7, "PFFFPFFFFPF"), "1_1": (3, "PFFPFFPFFFF")}  # after conv + ReLU


def torch_squeezenet(torch, sd, x, version):
    tf = torch.nn.functional
    x = tf.relu(tf.conv2d(x, sd["features.0.weight"], sd["features.0.bias"], stride=2))
    for i, kind in enumerate(SQUEEZE_LAYOUT[version][1], start=2):
        if kind == "P":
            x = tf.max_pool2d(x, 3, 2, ceil_mode=True)
            continue
        p = f"features.{i}."
        s = tf.relu(tf.conv2d(x, sd[p + "squeeze.weight"], sd[p + "squeeze.bias"]))
        e1 = tf.relu(tf.conv2d(s, sd[p + "expand1x1.weight"], sd[p + "expand1x1.bias"]))
        e3 = tf.relu(tf.conv2d(s, sd[p + "expand3x3.weight"], sd[p + "expand3x3.bias"], padding=1))
        x = torch.cat([e1, e3], 1)
    x = tf.relu(tf.conv2d(x, sd["classifier.1.weight"], sd["classifier.1.bias"]))
    return x.mean((2, 3))


def torch_shufflenet(torch, sd, x, repeats):
    tf = torch.nn.functional

    def conv_bn(h, p, i, stride=1, depthwise=False):
        w = sd[f"{p}{i}.weight"]
        h = tf.conv2d(h, w, stride=stride, padding=w.shape[-1] // 2,
                      groups=h.shape[1] if depthwise else 1)  # fmt: skip
        return t_bn(tf, sd, f"{p}{i + 1}.", h)

    x = tf.max_pool2d(tf.relu(conv_bn(x, "conv1.", 0, 2)), 3, 2, 1)
    for s, n in zip((2, 3, 4), repeats):
        for u in range(n):
            p, stride = f"stage{s}.{u}.", 2 if u == 0 else 1

            def branch2(h, p=p, stride=stride):
                h = tf.relu(conv_bn(h, p + "branch2.", 0))
                h = conv_bn(h, p + "branch2.", 3, stride, depthwise=True)
                return tf.relu(conv_bn(h, p + "branch2.", 5))

            if stride == 1:
                x1, x2 = x.chunk(2, 1)
                out = torch.cat([x1, branch2(x2)], 1)
            else:
                b1 = conv_bn(x, p + "branch1.", 0, 2, depthwise=True)
                out = torch.cat([tf.relu(conv_bn(b1, p + "branch1.", 2)), branch2(x)], 1)
            n_, c, h, w = out.shape  # channel i of half k goes to 2 i + k
            x = out.reshape(n_, 2, c // 2, h, w).transpose(1, 2).reshape(n_, c, h, w)
    x = tf.relu(conv_bn(x, "conv5.", 0)).mean((2, 3))
    return tf.linear(x, sd["fc.weight"], sd["fc.bias"])


def torch_googlenet(torch, sd, x, transform_input, training):
    tf = torch.nn.functional

    def bc(h, p, stride=1):
        w = sd[p + "conv.weight"]
        h = tf.conv2d(h, w, stride=stride, padding=w.shape[-1] // 2)
        return tf.relu(t_bn(tf, sd, p + "bn.", h, eps=1e-3, training=training))

    def inception(h, p):
        pooled = tf.max_pool2d(h, 3, 1, 1, ceil_mode=True)
        return torch.cat([bc(h, p + "branch1."), bc(bc(h, p + "branch2.0."), p + "branch2.1."),
                          bc(bc(h, p + "branch3.0."), p + "branch3.1."),
                          bc(pooled, p + "branch4.1.")], 1)  # fmt: skip

    def aux(h, p):
        h = bc(tf.adaptive_avg_pool2d(h, 4), p + "conv.").flatten(1)
        h = tf.relu(tf.linear(h, sd[p + "fc1.weight"], sd[p + "fc1.bias"]))
        return tf.linear(h, sd[p + "fc2.weight"], sd[p + "fc2.bias"])

    if transform_input:  # ImageNet normalisation -> (x - 0.5) / 0.5
        mean = torch.tensor([0.485, 0.456, 0.406], dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor([0.229, 0.224, 0.225], dtype=x.dtype).view(1, 3, 1, 1)
        x = (x * std + mean - 0.5) / 0.5
    x = tf.max_pool2d(bc(x, "conv1.", 2), 3, 2, ceil_mode=True)
    x = tf.max_pool2d(bc(bc(x, "conv2."), "conv3."), 3, 2, ceil_mode=True)
    x = tf.max_pool2d(inception(inception(x, "inception3a."), "inception3b."), 3, 2, ceil_mode=True)
    x = inception(x, "inception4a.")
    aux1 = aux(x, "aux1.")
    for name in ("4b", "4c", "4d"):
        x = inception(x, f"inception{name}.")
    aux2 = aux(x, "aux2.")
    x = tf.max_pool2d(inception(x, "inception4e."), 2, 2, ceil_mode=True)
    x = inception(inception(x, "inception5a."), "inception5b.").mean((2, 3))
    return tf.linear(x, sd["fc.weight"], sd["fc.bias"]), aux1, aux2


def compare(torch, ours_fn, ref_fn, x, rtol=1e-7, atol=1e-9):
    """Outputs equal, and the input gradients of sum(out * w) for a fixed random w."""
    xt = torch.tensor(x, requires_grad=True)
    xo = mt.tensor(x, requires_grad=True)
    got, want = ours_fn(xo), ref_fn(xt)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    rng = np.random.default_rng(9)
    weights = [rng.standard_normal(tuple(w.shape)) for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), w.detach().numpy(), rtol=rtol, atol=atol)
    sum((g * mt.tensor(w)).sum() for g, w in zip(got, weights)).backward()
    sum((w_ * torch.tensor(w)).sum() for w_, w in zip(want, weights)).backward()
    np.testing.assert_allclose(xo.grad.numpy(), xt.grad.numpy(), rtol=rtol * 10, atol=atol)


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_densenet121_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    model = models.densenet121(num_classes=10).double().eval()
    randomize_running_stats(model, 1)
    sd = Used(model, torch)
    blocks = (6, 12, 24, 16)
    compare(torch, model, lambda x: torch_densenet(torch, sd, x, blocks), images((2, 3, 37, 33)))
    assert sd.unused() == []
    torch_densenet(torch, sd, torch.zeros(1, 3, 29, 29, dtype=torch.float64), blocks)
    with pytest.raises(RuntimeError):  # torch agrees: 28 x 28 is too small
        torch_densenet(torch, sd, torch.zeros(1, 3, 28, 28, dtype=torch.float64), blocks)


@pytest.mark.parametrize("version,size", [("1_0", 35), ("1_1", 30)])
def test_squeezenet_matches_torch_with_the_same_weights(version, size):
    torch = pytest.importorskip("torch")
    mt.manual_seed(1)
    model = getattr(models, f"squeezenet{version}")(num_classes=7).double().eval()
    for p in model.parameters():  # nonzero biases, and no classifier ReLU that is all zero
        p.data[...] = np.random.default_rng(2).uniform(-0.2, 0.3, p.shape)
    sd = Used(model, torch)
    compare(torch, model, lambda x: torch_squeezenet(torch, sd, x, version),
            images((2, 3, size, size + 3)))  # fmt: skip
    assert sd.unused() == []
    smallest = DOCUMENTED[f"squeezenet{version}"][1]
    torch_squeezenet(torch, sd, torch.zeros(1, 3, smallest, smallest, dtype=torch.float64), version)
    with pytest.raises(RuntimeError):
        torch_squeezenet(torch, sd, torch.zeros(1, 3, smallest - 1, smallest, dtype=torch.float64),
                         version)  # fmt: skip


def test_shufflenet_v2_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mt.manual_seed(3)
    model = models.shufflenet_v2_x0_5(num_classes=10).double().eval()
    randomize_running_stats(model, 4)
    sd = Used(model, torch)

    def ref(x):
        return torch_shufflenet(torch, sd, x, (4, 8, 4))

    compare(torch, model, ref, images((2, 3, 35, 40)))
    assert sd.unused() == []


def test_googlenet_matches_torch_in_training_with_its_auxiliary_heads():
    torch = pytest.importorskip("torch")
    mt.manual_seed(5)
    model = models.googlenet(num_classes=6, transform_input=True, dropout=0.0, dropout_aux=0.0)
    model.double().train()
    sd = Used(model, torch)
    compare(torch, model, lambda x: torch_googlenet(torch, sd, x, True, training=True),
            images((2, 3, 40, 36)), rtol=1e-6, atol=1e-8)  # fmt: skip
    assert sd.unused() == []
    randomize_running_stats(model, 6)  # eval: running statistics, the logits alone
    sd = Used(model, torch)
    compare(torch, model.eval(), lambda x: torch_googlenet(torch, sd, x, True, False)[0],
            images((2, 3, 15, 15)))  # fmt: skip
    with pytest.raises(RuntimeError):
        torch_googlenet(torch, sd, torch.zeros(1, 3, 14, 14, dtype=torch.float64), True, False)


def test_reprs_match_torchvisions():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class Fire(nn.Module):  # torchvision's, written out
        def __init__(self):
            super().__init__()
            self.squeeze, self.squeeze_activation = nn.Conv2d(8, 2, 1), nn.ReLU(inplace=True)
            self.expand1x1, self.expand1x1_activation = nn.Conv2d(2, 4, 1), nn.ReLU(inplace=True)
            self.expand3x3 = nn.Conv2d(2, 4, 3, padding=1)
            self.expand3x3_activation = nn.ReLU(inplace=True)

    assert repr(models.Fire(8, 2, 4, 4)) == repr(Fire())
    unit = nn.Module()
    unit.branch1 = nn.Sequential()
    unit.branch2 = nn.Sequential(
        nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
        nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False), nn.BatchNorm2d(4),
        nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
    )  # fmt: skip
    ours = repr(ShuffleUnit(8, 8, 1))
    assert ours.split("\n", 1)[1] == repr(unit).split("\n", 1)[1]
    assert ours.startswith("InvertedResidual(")


# --------------------------------------------------------------------------- gradients


def double_eval(module, seed):
    module.double().eval()
    randomize_running_stats(module, seed)
    return module


def gradcheck_block(block, x):
    assert mt.gradcheck(block, [mt.tensor(x, requires_grad=True)])


@FEW
@given(n=st.integers(1, 2), hw=st.integers(1, 3), cin=st.integers(1, 3), s=st.integers(1, 2),
       e1=st.integers(1, 2), e3=st.integers(1, 2), seed=st.integers(0, 99))  # fmt: skip
def test_fire_gradcheck_float64(n, hw, cin, s, e1, e3, seed):
    mt.manual_seed(seed)
    block = double_eval(models.Fire(cin, s, e1, e3), seed)
    gradcheck_block(block, images((n, cin, hw, hw + 1), seed))


@FEW
@given(stride=st.sampled_from([1, 2, 3]), cin=st.integers(1, 3), half=st.integers(1, 2),
       n=st.integers(1, 2), hw=st.integers(1, 3), seed=st.integers(0, 99))  # fmt: skip
def test_shufflenet_unit_gradcheck_float64(stride, cin, half, n, hw, seed):
    mt.manual_seed(seed)
    cin = 2 * half if stride == 1 else cin
    block = double_eval(ShuffleUnit(cin, 2 * half, stride), seed)
    gradcheck_block(block, images((n, cin, hw, hw), seed))


@FEW
@given(layers=st.integers(1, 2), growth=st.integers(1, 2), bn_size=st.integers(1, 2),
       cin=st.integers(1, 3), efficient=st.booleans(), hw=st.integers(1, 3),
       seed=st.integers(0, 99))  # fmt: skip
def test_dense_block_gradcheck_float64(layers, growth, bn_size, cin, efficient, hw, seed):
    mt.manual_seed(seed)
    block = double_eval(dn._DenseBlock(layers, cin, bn_size, growth, 0.0, efficient), seed)
    gradcheck_block(block, images((2, cin, hw, hw), seed))


@FEW
@given(cin=st.integers(1, 3), chans=st.lists(st.integers(1, 2), min_size=6, max_size=6),
       hw=st.integers(1, 3), seed=st.integers(0, 99))  # fmt: skip
def test_inception_gradcheck_float64(cin, chans, hw, seed):
    mt.manual_seed(seed)
    block = double_eval(models.Inception(cin, *chans), seed)
    gradcheck_block(block, images((1, cin, hw, hw + 1), seed))


def test_memory_efficient_densenet_recomputes_and_gives_the_same_gradients(monkeypatch):
    calls = []
    real = dn.checkpoint
    monkeypatch.setattr(dn, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k))
    mt.manual_seed(7)
    plain = models.DenseNet(4, (2, 3), 8, drop_rate=0.2, num_classes=3)
    lean = models.DenseNet(4, (2, 3), 8, drop_rate=0.2, num_classes=3, memory_efficient=True)
    lean.load_state_dict(plain.state_dict())
    x = images((2, 3, 16, 16)).astype(np.float32)
    grads = []
    for model in (plain, lean):
        mt.manual_seed(8)  # the same dropout masks
        (model.train()(mt.tensor(x)) ** 2).sum().backward()
        grads.append({n: p.grad.numpy() for n, p in model.named_parameters()})
    assert len(calls) == 5  # one checkpoint per dense layer, only in the efficient model
    for name, g in grads[0].items():
        np.testing.assert_allclose(grads[1][name], g, rtol=1e-4, atol=1e-6, err_msg=name)
    with mt.no_grad():  # nothing to recompute: no checkpoint
        lean.eval()(mt.tensor(x))
    assert len(calls) == 5


@pytest.mark.parametrize(
    "name,size",
    [("densenet121", 32), ("squeezenet1_0", 64), ("squeezenet1_1", 64),
     ("shufflenet_v2_x0_5", 64), ("googlenet", 32)],
)  # fmt: skip
def test_forward_and_backward_on_a_small_batch(name, size):
    mt.manual_seed(10)
    model = getattr(models, name)(num_classes=5).train()
    out = model(mt.tensor(images((2, 3, size, size)).astype(np.float32)))
    parts = list(out) if isinstance(out, tuple) else [out]
    assert all(p.shape == (2, 5) for p in parts)
    sum((p * p).mean() for p in parts).backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), n


def test_googlenet_outputs_per_mode():
    mt.manual_seed(11)
    model = models.googlenet(num_classes=4, dropout_aux=0.0).train()
    x = mt.tensor(images((2, 3, 15, 15)).astype(np.float32))
    out = model(x)
    assert isinstance(out, models.GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    # torchvision's order: the field named aux_logits2 is aux1's output (on inception4a)
    m = model
    feats = m.inception4a(m.maxpool3(m.inception3b(m.inception3a(m.maxpool2(m.conv3(m.conv2(
        m.maxpool1(m.conv1(x)))))))))  # fmt: skip
    np.testing.assert_allclose(out.aux_logits2.numpy(), m.aux1(feats).numpy(), rtol=1e-5, atol=1e-6)
    feats = m.inception4d(m.inception4c(m.inception4b(feats)))
    np.testing.assert_allclose(out.aux_logits1.numpy(), m.aux2(feats).numpy(), rtol=1e-5, atol=1e-6)
    assert isinstance(model.eval()(x), mt.Tensor)  # eval: the logits alone
    bare = models.googlenet(num_classes=4, aux_logits=False).train()
    assert isinstance(bare(x), mt.Tensor) and bare.aux1 is None and "aux1" not in dict(
        bare.named_children())  # fmt: skip


# --------------------------------------------------------------------------- sizes and errors


@pytest.mark.parametrize("name", DOCUMENTED)
def test_smallest_input_is_torchvisions_min_size(name):
    assert smallest_input(build(name)) == DOCUMENTED[name][1]


@pytest.mark.parametrize(
    "name,side,layer",
    [("densenet121", 28, "features.transition3.pool"), ("squeezenet1_0", 20, "features.11"),
     ("squeezenet1_1", 16, "features.8"), ("googlenet", 14, "maxpool3")],
)  # fmt: skip
def test_too_small_inputs_name_the_model_and_the_first_empty_layer(name, side, layer):
    mt.manual_seed(12)
    model = getattr(models, name)().eval()
    cls = type(model).__name__
    smallest = DOCUMENTED[name][1]
    with mt.no_grad():
        assert model(mt.zeros(1, 3, smallest, smallest)).shape == (1, 1000)
        with pytest.raises(ValueError, match=rf"^{cls}: input of shape \(1, 3, {side}, "
                           rf"{smallest}\) is too small: layer '{layer}' .*smallest input is "
                           rf"{smallest}x{smallest}$"):  # fmt: skip
            model(mt.zeros(1, 3, side, smallest))
    with pytest.raises(ValueError, match=rf"summary: .*{cls}: input of shape .* '{layer}'"):
        mt.summary(model, (3, smallest, side))


def test_shufflenet_v2_takes_a_one_pixel_image():
    with mt.no_grad():
        assert models.shufflenet_v2_x0_5().eval()(mt.zeros(1, 3, 1, 1)).shape == (1, 1000)


def test_replacing_the_stem_or_a_pool_as_with_torchvision_keeps_the_checks_live():
    # the transfer-learning idioms: a one-channel stem conv for grey images, the stem pool
    # dropped for small images; the input checks follow the layers the model has now
    mt.manual_seed(18)
    nn = mt.nn
    grey = mt.zeros(2, 1, 40, 40)
    d = models.densenet121(num_classes=3).eval()
    d.features.conv0 = nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    s = models.squeezenet1_1(num_classes=3).eval()
    s.features[0] = nn.Conv2d(1, 64, 3, 2)
    g = models.googlenet(num_classes=3).eval()
    g.conv1 = BasicConv2d(1, 64, kernel_size=7, stride=2, padding=3)
    with mt.no_grad():
        for model in (d, s, g):
            assert model(grey).shape == (2, 3)
        with pytest.raises(ValueError, match=r"^DenseNet: expected input \(N, 1, H, W\)"):
            d(mt.zeros(2, 3, 40, 40))
        # a stem of another kind: the channels are left to its own layers' checks
        d.features.conv0 = nn.Sequential(nn.Conv2d(1, 64, 7, 2, 3, bias=False))
        assert d(grey).shape == (2, 3)
        with pytest.raises(ValueError, match=r"^Conv2d\(1->64, k=7\): expected input with 1"):
            d(mt.zeros(2, 3, 40, 40))
        # a pool replaced by Identity: no crash, and the walk stops there (28 x 28 now fits)
        d = models.densenet121(num_classes=3).eval()
        d.features.pool0 = nn.Identity()
        assert d(mt.zeros(2, 3, 28, 28)).shape == (2, 3)
        sh = models.shufflenet_v2_x0_5(num_classes=3).eval()
        sh.maxpool = nn.Identity()
        assert sh(mt.zeros(2, 3, 9, 9)).shape == (2, 3)
        # a string padding on a replaced stem is resolved: 'valid' shrinks the input by 6 more
        d.features.conv0 = nn.Conv2d(3, 64, 7, 2, padding="valid", bias=False)
        d.features.pool0 = nn.MaxPool2d(3, 2, 1)
        assert smallest_input(d) == 35
        with pytest.raises(ValueError, match=r"'features.transition3.pool' .* 35x35$"):
            d(mt.zeros(1, 3, 34, 34))


def test_bad_inputs_and_options_are_refused_clearly():
    expected = r"expected input \(N, 3, H, W\), got shape "
    with pytest.raises(ValueError, match=r"^ShuffleNetV2: " + expected + r"\(2, 1, 8, 8\)$"):
        build("shufflenet_v2_x0_5")(mt.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"^DenseNet: " + expected + r"\(3, 32, 32\)$"):
        build("densenet121")(mt.zeros(3, 32, 32))
    with pytest.raises(ValueError, match="Unsupported SqueezeNet version 1_2: 1_0 or 1_1 expected"):
        models.SqueezeNet("1_2")
    with pytest.raises(ValueError, match="stages_repeats as list of 3"):
        models.ShuffleNetV2((4, 8), (24, 48, 96, 192, 1024))
    with pytest.raises(ValueError, match="stages_out_channels as list of 5"):
        models.ShuffleNetV2((4, 8, 4), (24, 48, 96, 192))
    with pytest.raises(ValueError, match="InvertedResidual: illegal stride value 4"):
        ShuffleUnit(8, 8, 4)
    with pytest.raises(ValueError, match="stride 1, inp 6 and oup 8"):
        ShuffleUnit(6, 8, 1)
    with pytest.raises(ValueError, match="blocks length should be 3 instead of 2"):
        models.GoogLeNet(blocks=[BasicConv2d, models.Inception])
    with pytest.raises(ValueError, match="transform_input needs 3 input channels"):
        models.GoogLeNet(transform_input=True, in_channels=1)


# --------------------------------------------------------------------------- weights and registry


def test_densenet_loads_torchvisions_legacy_key_names(tmp_path):
    mt.manual_seed(13)
    src = dn.DenseNet(4, (2, 2), 8, num_classes=1000)
    state = src.state_dict()
    # torchvision's files: 'norm.1' for 'norm1' (the same for norm2, conv1, conv2), written
    # before BatchNorm had num_batches_tracked
    legacy = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v
              for k, v in state.items() if "num_batches" not in k}  # fmt: skip
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    assert "features.transition1.norm.weight" in legacy  # a transition's names were never legacy
    mt.manual_seed(14)
    dst = dn._densenet(4, (2, 2), 8, legacy)
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state[k].numpy(), err_msg=k)
    torch = pytest.importorskip("torch")  # the same through a .pth written by torch
    path = tmp_path / "densenet-legacy.pth"
    torch.save({k: torch.from_numpy(np.array(v.numpy())) for k, v in legacy.items()}, path)
    dst = dn._densenet(4, (2, 2), 8, path, num_classes=3)  # another head: the file's is skipped
    layer = "features.denseblock2.denselayer2.conv2"
    np.testing.assert_array_equal(dst.get_submodule(layer).weight.numpy(),
                                  src.get_submodule(layer).weight.numpy())  # fmt: skip
    assert dst.classifier.weight.shape == (3, dst.classifier.in_features)


def test_googlenet_weights_drop_the_auxiliary_heads_as_torchvision(tmp_path):
    mt.manual_seed(15)
    src = models.googlenet()
    path = tmp_path / "googlenet.npz"
    models.save_npz(src, path)
    with mt.init.skip_init():
        plain = models.googlenet(weights=path)
        kept = models.googlenet(weights=path, aux_logits=True, transform_input=False)
        other = models.googlenet(weights=path, num_classes=7)
    assert plain.aux1 is None and plain.aux2 is None and not plain.aux_logits
    assert plain.transform_input and not kept.transform_input
    assert list(plain.state_dict()) == googlenet_keys(aux=False)
    np.testing.assert_array_equal(plain.fc.weight.numpy(), src.fc.weight.numpy())
    np.testing.assert_array_equal(kept.aux2.fc1.weight.numpy(), src.aux2.fc1.weight.numpy())
    assert kept.aux_logits and isinstance(kept.train()(mt.zeros(2, 3, 15, 15)), tuple)
    assert other.fc.weight.shape == (7, 1024)
    np.testing.assert_array_equal(other.conv1.conv.weight.numpy(), src.conv1.conv.weight.numpy())


def test_registry_names_and_new_heads(tmp_path):
    for name in DOCUMENTED:
        info = models.info(name.replace("_", "-"))
        assert info.builder is getattr(models, name) and info.input_size == (3, 224, 224)
    assert models.info("squeezenet1_0").name == "squeezenet1-0"
    assert models.info("shufflenet-v2-x1-0").name == "shufflenet-v2-x1-0"
    mt.manual_seed(16)
    src = models.shufflenet_v2_x0_5()
    path = tmp_path / "shufflenet.npz"
    models.save_npz(src, path)
    dst = models.get("shufflenet-v2-x0-5", num_classes=10, weights=path)
    assert dst.fc.weight.shape == (10, 1024)
    np.testing.assert_array_equal(dst.conv5[0].weight.numpy(), src.conv5[0].weight.numpy())
    assert models.get("squeezenet1-1", num_classes=4).classifier[1].weight.shape == (4, 512, 1, 1)
    assert models.shufflenet.InvertedResidual is not models.InvertedResidual  # MobileNetV2's


def test_torchvision_init_statistics():
    mt.manual_seed(17)
    d = models.densenet121()
    w = d.features.denseblock3.denselayer1.conv2.weight.numpy()  # kaiming_normal_, fan_in 128*9
    assert abs(w.std() - np.sqrt(2 / (128 * 9))) < 0.05 * np.sqrt(2 / (128 * 9))
    assert (d.classifier.bias.numpy() == 0).all() and (d.features.norm5.weight.numpy() == 1).all()
    s = models.squeezenet1_0()
    w = s.features[12].expand3x3.weight.numpy()  # kaiming_uniform_: bound sqrt(6 / fan_in)
    assert abs(np.abs(w).max() - np.sqrt(6 / (64 * 9))) < 0.01 * np.sqrt(6 / (64 * 9))
    assert abs(s.classifier[1].weight.numpy().std() - 0.01) < 5e-4  # the final conv
    assert all((m.bias.numpy() == 0).all() for m in s.modules() if hasattr(m, "bias")
               and isinstance(m, mt.nn.Conv2d))  # fmt: skip
    g = models.googlenet()
    w = g.inception4e.branch2[1].conv.weight.numpy()  # trunc_normal_(std=0.01)
    assert abs(w.std() - 0.01) < 5e-4 and abs(g.aux1.fc1.weight.numpy().std() - 0.01) < 5e-4
    assert (g.conv1.bn.weight.numpy() == 1).all() and g.conv1.bn.eps == 1e-3
    plain = models.googlenet(init_weights=False)  # PyTorch's Linear default: U(+-1/sqrt(1024))
    assert abs(np.abs(plain.fc.weight.numpy()).max() - 1 / 32) < 1e-3
