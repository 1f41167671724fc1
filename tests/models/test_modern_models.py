"""MobileNetV3, EfficientNet (B0-B7, V2) and ConvNeXt as torchvision builds them.

What is proved here:
- parameter counts equal torchvision's documented figures and counts derived by hand below from
  the architecture tables (every variant, not only the smallest);
- state_dict keys are torchvision's, in torchvision's order (key lists written out from its
  module names), and a `.pth` written by torch loads through the builders' `weights=`;
- the forward and the gradients (input and every parameter, each to its own scale) equal a
  torch transcription of torchvision's forward that reads every weight from our state dict by
  name (so a weight under the wrong name, an unused weight, a wrong activation, stride,
  dilation, padding or residual fails); in training mode too, where the BatchNorms' batch
  statistics and updated running statistics equal torch's with torchvision's eps / momentum;
- a replaced stem conv (grey images) sets the channels the input check expects;
- the blocks and LayerNorm2d pass a float64 gradcheck over drawn options, and LayerNorm2d equals
  a per-pixel loop;
- init, BatchNorm eps / momentum and stochastic depth probabilities are torchvision's; stochastic
  depth drops whole samples in training and is the identity in eval;
- a forward and backward on a small batch reach every parameter; bad input fails naming the
  model or layer.

Documented figures: torchvision's model cards, pytorch.org/vision/stable/models/generated/
torchvision.models.<builder>.html ("num_params", "min_size"), which are the `meta` of each
weight in torchvision/models/{mobilenetv3,efficientnet,convnext}.py (read via the search tool).
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.layers import BatchNorm2d, LayerNorm
from minitorch_cv.layers.conv import Conv2d
from minitorch_cv.models import convnext as cnx
from minitorch_cv.models import efficientnet as eff
from minitorch_cv.models import mobilenetv3 as mb3
from tests.strategies import FEW

DOCUMENTED = {
    "mobilenet_v3_large": 5_483_032,
    "mobilenet_v3_small": 2_542_856,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    "efficientnet_v2_s": 21_458_488,
    "efficientnet_v2_m": 54_139_356,
    "efficientnet_v2_l": 118_515_272,
    "convnext_tiny": 28_589_128,
    "convnext_small": 50_223_688,
    "convnext_base": 88_591_464,
    "convnext_large": 197_767_336,
}


def build(name, **options):
    """The model without random init (shapes and counts only)."""
    with mt.init.skip_init():
        return getattr(models, name)(**options)


def images(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# --------------------------------------------------------------------------- the tables
#
# Written out from the papers' tables (and torchvision's), independently of the package.


def divisible(v, d=8):
    """torchvision's _make_divisible: nearest multiple of d (at least d), up if it lost > 10 %."""
    r = max(d, int(v + d / 2) // d * d)
    return r + d if r < 0.9 * v else r


# MobileNetV3: input, kernel, expanded, out, SE, activation, stride (dilation 1)
V3_LARGE = [
    (16, 3, 16, 16, 0, "RE", 1), (16, 3, 64, 24, 0, "RE", 2), (24, 3, 72, 24, 0, "RE", 1),
    (24, 5, 72, 40, 1, "RE", 2), (40, 5, 120, 40, 1, "RE", 1), (40, 5, 120, 40, 1, "RE", 1),
    (40, 3, 240, 80, 0, "HS", 2), (80, 3, 200, 80, 0, "HS", 1), (80, 3, 184, 80, 0, "HS", 1),
    (80, 3, 184, 80, 0, "HS", 1), (80, 3, 480, 112, 1, "HS", 1), (112, 3, 672, 112, 1, "HS", 1),
    (112, 5, 672, 160, 1, "HS", 2), (160, 5, 960, 160, 1, "HS", 1), (160, 5, 960, 160, 1, "HS", 1),
]  # fmt: skip
V3_SMALL = [
    (16, 3, 16, 16, 1, "RE", 2), (16, 3, 72, 24, 0, "RE", 2), (24, 3, 88, 24, 0, "RE", 1),
    (24, 5, 96, 40, 1, "HS", 2), (40, 5, 240, 40, 1, "HS", 1), (40, 5, 240, 40, 1, "HS", 1),
    (40, 5, 120, 48, 1, "HS", 1), (48, 5, 144, 48, 1, "HS", 1), (48, 5, 288, 96, 1, "HS", 2),
    (96, 5, 576, 96, 1, "HS", 1), (96, 5, 576, 96, 1, "HS", 1),
]  # fmt: skip
V3 = {"mobilenet_v3_large": (V3_LARGE, 1280), "mobilenet_v3_small": (V3_SMALL, 1024)}


def v3_rows(table, reduced_tail=False, dilated=False):
    """(input, kernel, expanded, out, SE, act, stride, dilation): the last three blocks (C4)
    halved by reduced_tail and dilated (stride 1, dilation 2) by dilated."""
    rows = []
    for i, (cin, k, exp, out, se, act, s) in enumerate(table):
        tail = i >= len(table) - 3
        r = 2 if reduced_tail and tail else 1
        if i == len(table) - 3:  # C4's first block keeps its input and expanded widths
            cin, exp = cin * r, exp * r
        d = 2 if dilated and tail else 1
        rows.append((cin // r, k, exp // r, out // r, se, act, s, d))
    return rows


# EfficientNet stages: fused?, expand ratio, kernel, stride, input, out, blocks
B0 = [(0, 1, 3, 1, 32, 16, 1), (0, 6, 3, 2, 16, 24, 2), (0, 6, 5, 2, 24, 40, 2),
      (0, 6, 3, 2, 40, 80, 3), (0, 6, 5, 1, 80, 112, 3), (0, 6, 5, 2, 112, 192, 4),
      (0, 6, 3, 1, 192, 320, 1)]  # fmt: skip
V2_S = [(1, 1, 3, 1, 24, 24, 2), (1, 4, 3, 2, 24, 48, 4), (1, 4, 3, 2, 48, 64, 4),
        (0, 4, 3, 2, 64, 128, 6), (0, 6, 3, 1, 128, 160, 9),
        (0, 6, 3, 2, 160, 256, 15)]  # fmt: skip
V2_M = [(1, 1, 3, 1, 24, 24, 3), (1, 4, 3, 2, 24, 48, 5), (1, 4, 3, 2, 48, 80, 5),
        (0, 4, 3, 2, 80, 160, 7), (0, 6, 3, 1, 160, 176, 14), (0, 6, 3, 2, 176, 304, 18),
        (0, 6, 3, 1, 304, 512, 5)]  # fmt: skip
V2_L = [(1, 1, 3, 1, 32, 32, 4), (1, 4, 3, 2, 32, 64, 7), (1, 4, 3, 2, 64, 96, 7),
        (0, 4, 3, 2, 96, 192, 10), (0, 6, 3, 1, 192, 224, 19), (0, 6, 3, 2, 224, 384, 25),
        (0, 6, 3, 1, 384, 640, 7)]  # fmt: skip
# name: (stages, width, depth, last_channel); B0-B7 per the EfficientNet paper's compound scaling
EFFICIENTNETS = {
    "efficientnet_b0": (B0, 1.0, 1.0, None), "efficientnet_b1": (B0, 1.0, 1.1, None),
    "efficientnet_b2": (B0, 1.1, 1.2, None), "efficientnet_b3": (B0, 1.2, 1.4, None),
    "efficientnet_b4": (B0, 1.4, 1.8, None), "efficientnet_b5": (B0, 1.6, 2.2, None),
    "efficientnet_b6": (B0, 1.8, 2.6, None), "efficientnet_b7": (B0, 2.0, 3.1, None),
    "efficientnet_v2_s": (V2_S, 1.0, 1.0, 1280), "efficientnet_v2_m": (V2_M, 1.0, 1.0, 1280),
    "efficientnet_v2_l": (V2_L, 1.0, 1.0, 1280),
}  # fmt: skip


def eff_blocks(stages, width=1.0, depth=1.0):
    """Per block: (stage index from 1, block index, fused, input, expanded, out, kernel, stride)."""
    for si, (fused, e, k, s, cin, cout, n) in enumerate(stages, 1):
        cin, cout = divisible(cin * width), divisible(cout * width)
        for i in range(math.ceil(n * depth)):
            c = cin if i == 0 else cout
            yield si, i, fused, c, divisible(c * e), cout, k, s if i == 0 else 1


# ConvNeXt stages: (input, out after downsampling or None, blocks)
CONVNEXTS = {
    "convnext_tiny": [(96, 192, 3), (192, 384, 3), (384, 768, 9), (768, None, 3)],
    "convnext_small": [(96, 192, 3), (192, 384, 3), (384, 768, 27), (768, None, 3)],
    "convnext_base": [(128, 256, 3), (256, 512, 3), (512, 1024, 27), (1024, None, 3)],
    "convnext_large": [(192, 384, 3), (384, 768, 3), (768, 1536, 27), (1536, None, 3)],
}


# --------------------------------------------------------------------------- parameter counts


def conv(cin, cout, k, bias=True, groups=1):
    return cin // groups * cout * k * k + (cout if bias else 0)


def linear(a, b):
    return a * b + b


def cna(cin, cout, k, groups=1):  # conv without bias + BatchNorm
    return conv(cin, cout, k, False, groups) + 2 * cout


@pytest.mark.parametrize("name", DOCUMENTED)
def test_parameter_counts_equal_torchvisions_model_cards(name):
    assert models.info(name.replace("_", "-")).num_parameters() == DOCUMENTED[name]
    assert f"{DOCUMENTED[name]:,} parameters" in getattr(models, name).__doc__


@pytest.mark.parametrize("name", V3)
def test_mobilenet_v3_counts_by_hand(name):
    table, last = V3[name]
    total = cna(3, 16, 3)
    for cin, k, exp, out, se, _, _, _ in v3_rows(table):
        total += cna(cin, exp, 1) if exp != cin else 0
        total += cna(exp, exp, k, groups=exp)
        sq = divisible(exp // 4)
        total += conv(exp, sq, 1) + conv(sq, exp, 1) if se else 0
        total += cna(exp, out, 1)
    c = table[-1][3]
    total += cna(c, 6 * c, 1) + linear(6 * c, last) + linear(last, 1000)
    assert total == DOCUMENTED[name]
    assert build(name).num_parameters() == total


@pytest.mark.parametrize("name", EFFICIENTNETS)
def test_efficientnet_counts_by_hand(name):
    stages, width, depth, last = EFFICIENTNETS[name]
    total = cna(3, divisible(stages[0][4] * width), 3)
    for _, _, fused, c, exp, out, k, _ in eff_blocks(stages, width, depth):
        if fused:  # kxk expand + 1x1 project, or a single kxk conv
            total += cna(c, exp, k) + cna(exp, out, 1) if exp != c else cna(c, out, k)
        else:  # [1x1 expand], depthwise, SE (squeeze max(1, c // 4), with biases), project
            sq = max(1, c // 4)
            total += cna(c, exp, 1) if exp != c else 0
            total += cna(exp, exp, k, groups=exp) + conv(exp, sq, 1) + conv(sq, exp, 1)
            total += cna(exp, out, 1)
    last = 4 * out if last is None else last
    total += cna(out, last, 1) + linear(last, 1000)
    assert total == DOCUMENTED[name]
    assert build(name).num_parameters() == total


@pytest.mark.parametrize("name", CONVNEXTS)
def test_convnext_counts_by_hand(name):
    stages = CONVNEXTS[name]
    total = conv(3, stages[0][0], 4) + 2 * stages[0][0]  # stem conv with bias + LayerNorm2d
    for c, out, n in stages:
        # depthwise 7x7 with bias, LayerNorm, two Linears (c -> 4c -> c), layer_scale (c, 1, 1)
        total += n * (conv(c, c, 7, groups=c) + 2 * c + linear(c, 4 * c) + linear(4 * c, c) + c)
        total += 2 * c + conv(c, out, 2) if out else 0  # LayerNorm2d + 2x2 conv s2
    c = stages[-1][0]
    total += 2 * c + linear(c, 1000)
    assert total == DOCUMENTED[name]
    assert build(name).num_parameters() == total


# --------------------------------------------------------------------------- state_dict keys


def bn_keys(p):
    return [p + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")]


def cna_keys(p):  # a Conv2dNormActivation: '0' conv without bias, '1' BatchNorm
    return [p + "0.weight", *bn_keys(p + "1.")]


def se_keys(p):
    return [f"{p}{fc}.{w}" for fc in ("fc1", "fc2") for w in ("weight", "bias")]


def mobilenet_v3_keys(rows):
    keys = cna_keys("features.0.")
    for i, (cin, _, exp, _, se, _, _, _) in enumerate(rows, 1):
        parts = (["cna"] if exp != cin else []) + ["cna"] + (["se"] if se else []) + ["cna"]
        for j, part in enumerate(parts):
            keys += (cna_keys if part == "cna" else se_keys)(f"features.{i}.block.{j}.")
    keys += cna_keys(f"features.{len(rows) + 1}.")
    return keys + [f"classifier.{i}.{w}" for i in (0, 3) for w in ("weight", "bias")]


def efficientnet_keys(stages):
    keys = cna_keys("features.0.")
    for si, i, fused, c, exp, _, _, _ in eff_blocks(stages):
        if fused:
            parts = ["cna", "cna"] if exp != c else ["cna"]
        else:
            parts = (["cna"] if exp != c else []) + ["cna", "se", "cna"]
        for j, part in enumerate(parts):
            keys += (cna_keys if part == "cna" else se_keys)(f"features.{si}.{i}.block.{j}.")
    keys += cna_keys(f"features.{len(stages) + 1}.")
    return keys + ["classifier.1.weight", "classifier.1.bias"]


def convnext_keys(stages):
    def wb(p):
        return [p + "weight", p + "bias"]

    keys, idx = wb("features.0.0.") + wb("features.0.1."), 1
    for _, out, n in stages:
        for b in range(n):
            p = f"features.{idx}.{b}."
            keys += [p + "layer_scale"] + [k for j in (0, 2, 3, 5) for k in wb(f"{p}block.{j}.")]
        idx += 1
        if out:
            keys += wb(f"features.{idx}.0.") + wb(f"features.{idx}.1.")
            idx += 1
    return keys + wb("classifier.0.") + wb("classifier.2.")


def test_state_dict_keys_are_torchvisions():
    for name, (table, _) in V3.items():
        assert list(build(name).state_dict()) == mobilenet_v3_keys(v3_rows(table)), name
    sd = build("mobilenet_v3_large").state_dict()
    assert sd["features.4.block.2.fc1.weight"].shape == (24, 72, 1, 1)  # divisible(72 // 4)
    assert sd["features.13.block.1.0.weight"].shape == (672, 1, 5, 5)  # 5x5 depthwise
    b0 = build("efficientnet_b0").state_dict()
    assert list(b0) == efficientnet_keys(B0)
    assert b0["features.1.0.block.0.0.weight"].shape == (32, 1, 3, 3)  # expand ratio 1: no 1x1
    assert b0["features.2.0.block.2.fc1.weight"].shape == (4, 96, 1, 1)  # squeeze 16 // 4
    assert b0["features.8.0.weight"].shape == (1280, 320, 1, 1)
    v2 = build("efficientnet_v2_s").state_dict()
    assert list(v2) == efficientnet_keys(V2_S)
    assert v2["features.2.0.block.0.0.weight"].shape == (96, 24, 3, 3)  # fused 3x3 expansion
    assert v2["features.1.1.block.0.0.weight"].shape == (24, 24, 3, 3)
    tiny = build("convnext_tiny").state_dict()
    assert list(tiny) == convnext_keys(CONVNEXTS["convnext_tiny"])
    assert tiny["features.1.0.layer_scale"].shape == (96, 1, 1)
    assert tiny["features.2.1.weight"].shape == (192, 96, 2, 2)
    assert tiny["features.5.8.block.3.weight"].shape == (1536, 384)


def test_a_pth_written_by_torch_loads_through_weights(tmp_path):
    torch = pytest.importorskip("torch")
    mt.manual_seed(0)
    source = models.mobilenet_v3_small()
    path = tmp_path / "mobilenet_v3_small.pth"
    torch.save(
        {k: torch.from_numpy(np.array(v.numpy())) for k, v in source.state_dict().items()}, path
    )
    mt.manual_seed(1)
    loaded = models.mobilenet_v3_small(weights=path)
    for k, v in source.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[k].numpy(), v.numpy(), err_msg=k)
    mt.manual_seed(1)
    fresh = models.mobilenet_v3_small(num_classes=10)
    mt.manual_seed(1)
    head = models.mobilenet_v3_small(num_classes=10, weights=path)  # the file's head skipped
    got, src, new = head.state_dict(), source.state_dict(), fresh.state_dict()
    for k in got:
        want = new[k] if k.startswith("classifier.3.") else src[k]
        np.testing.assert_array_equal(got[k].numpy(), want.numpy(), err_msg=k)


# --------------------------------------------------------------------------- torch oracles
#
# Each transcribes torchvision's forward (eval mode) with torch.nn.functional, reading every
# weight from our state dict by its torchvision name; `Used` records which entries were read.


class Used(dict):
    def __init__(self, model, torch):
        super().__init__(
            {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
        )
        self.used = set()
        self.updated = {}  # running statistics after a training-mode Oracle's BatchNorms

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)

    def unused(self):
        return sorted(k for k in self if k not in self.used and "num_batches" not in k)


def randomize(model, seed):
    """Running statistics, norm affines and layer scales away from their init, so a BN, a
    LayerNorm or a ConvNeXt block that is skipped or misplaced changes the output."""
    rng = np.random.default_rng(seed)
    for k, v in model.state_dict().items():
        if k.endswith("running_var"):
            v.data[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean") or k.endswith("layer_scale"):
            v.data[...] = rng.normal(0, 0.3, v.shape)
        elif v.ndim == 1 and "fc" not in k and ("weight" in k or "bias" in k):  # norm affines
            v.data[...] = (
                rng.uniform(0.5, 1.5, v.shape) if "weight" in k else rng.normal(0, 0.2, v.shape)
            )
    return model


class Oracle:
    """torch.nn.functional pieces reading weights from `sd` by name."""

    def __init__(self, torch, sd, eps, momentum=None):
        """momentum None: BatchNorm in eval mode; a float: in training mode (batch statistics),
        the running statistics it moves left in sd.updated."""
        self.tf, self.sd, self.eps, self.momentum = torch.nn.functional, sd, eps, momentum

    def cna(self, h, p, stride=1, groups=1, dilation=1, act=None):
        """Conv2dNormActivation at prefix p: conv '0' ('same' padding), BatchNorm '1', act."""
        sd, w = self.sd, self.sd[p + "0.weight"]
        pad = (w.shape[-1] - 1) // 2 * dilation
        h = self.tf.conv2d(h, w, stride=stride, padding=pad, dilation=dilation, groups=groups)
        mean, var = sd[p + "1.running_mean"].clone(), sd[p + "1.running_var"].clone()
        train, momentum = self.momentum is not None, self.momentum or 0.1
        h = self.tf.batch_norm(
            h, mean, var, sd[p + "1.weight"], sd[p + "1.bias"], train, momentum, self.eps
        )
        sd.updated[p + "1.running_mean"], sd.updated[p + "1.running_var"] = mean, var
        return act(h) if act else h

    def se(self, h, p, act, gate):
        sd, tf = self.sd, self.tf
        s = tf.conv2d(h.mean((2, 3), keepdim=True), sd[p + "fc1.weight"], sd[p + "fc1.bias"])
        return h * gate(tf.conv2d(act(s), sd[p + "fc2.weight"], sd[p + "fc2.bias"]))

    def linear(self, h, p):
        return self.tf.linear(h, self.sd[p + "weight"], self.sd[p + "bias"])


def torch_mobilenet_v3(torch, sd, x, rows, momentum=None):
    o = Oracle(torch, sd, 1e-3, momentum)
    tf = o.tf
    h = o.cna(x, "features.0.", 2, act=tf.hardswish)
    for i, (cin, _, exp, out, se, act, s, d) in enumerate(rows, 1):
        a = tf.hardswish if act == "HS" else tf.relu
        p, j, y = f"features.{i}.block.", 0, h
        if exp != cin:
            y, j = o.cna(y, p + "0.", act=a), 1
        y = o.cna(y, f"{p}{j}.", 1 if d > 1 else s, groups=exp, dilation=d, act=a)
        if se:
            j += 1
            y = o.se(y, f"{p}{j}.", tf.relu, tf.hardsigmoid)
        y = o.cna(y, f"{p}{j + 1}.")
        h = y + h if s == 1 and cin == out else y
    h = o.cna(h, f"features.{len(rows) + 1}.", act=tf.hardswish).mean((2, 3))
    return o.linear(tf.hardswish(o.linear(h, "classifier.0.")), "classifier.3.")


def torch_efficientnet(torch, sd, x, stages, width, depth, eps, momentum=None):
    o = Oracle(torch, sd, eps, momentum)
    tf = o.tf
    h = o.cna(x, "features.0.", 2, act=tf.silu)
    for si, i, fused, c, exp, out, _, s in eff_blocks(stages, width, depth):
        p = f"features.{si}.{i}.block."
        if fused and exp != c:
            y = o.cna(o.cna(h, p + "0.", s, act=tf.silu), p + "1.")
        elif fused:
            y = o.cna(h, p + "0.", s, act=tf.silu)
        else:
            j, y = (1, o.cna(h, p + "0.", act=tf.silu)) if exp != c else (0, h)
            y = o.cna(y, f"{p}{j}.", s, groups=exp, act=tf.silu)
            y = o.se(y, f"{p}{j + 1}.", tf.silu, torch.sigmoid)
            y = o.cna(y, f"{p}{j + 2}.")
        h = y + h if s == 1 and c == out else y
    h = o.cna(h, f"features.{len(stages) + 1}.", act=tf.silu).mean((2, 3))
    return o.linear(h, "classifier.1.")


def torch_convnext(torch, sd, x, stages):
    tf = torch.nn.functional

    def ln(h, p):  # LayerNorm over the last dim
        return tf.layer_norm(h, (h.shape[-1],), sd[p + "weight"], sd[p + "bias"], 1e-6)

    def ln2d(h, p):
        return ln(h.permute(0, 2, 3, 1), p).permute(0, 3, 1, 2)

    h = ln2d(
        tf.conv2d(x, sd["features.0.0.weight"], sd["features.0.0.bias"], stride=4), "features.0.1."
    )
    idx = 1
    for c, out, n in stages:
        for b in range(n):
            p = f"features.{idx}.{b}.block."
            y = tf.conv2d(h, sd[p + "0.weight"], sd[p + "0.bias"], padding=3, groups=c)
            y = ln(y.permute(0, 2, 3, 1), p + "2.")
            y = tf.linear(y, sd[p + "3.weight"], sd[p + "3.bias"])
            y = tf.linear(tf.gelu(y), sd[p + "5.weight"], sd[p + "5.bias"]).permute(0, 3, 1, 2)
            h = h + sd[f"features.{idx}.{b}.layer_scale"] * y
        idx += 1
        if out:
            p = f"features.{idx}."
            h = tf.conv2d(ln2d(h, p + "0."), sd[p + "1.weight"], sd[p + "1.bias"], stride=2)
            idx += 1
    h = ln2d(h.mean((2, 3), keepdim=True), "classifier.0.").flatten(1)
    return tf.linear(h, sd["classifier.2.weight"], sd["classifier.2.bias"])


def close(got, want, rtol, what):
    """got equals want within rtol of want's largest entry: the tolerance follows the scale, as
    these networks' gradients at init can be as small as 1e-13 (a fixed atol would pass zeros)."""
    scale = np.abs(want).max()
    assert scale > 0, f"{what}: the reference is all zeros"
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def compare(torch, model, sd, ref, x, rtol=1e-7):
    """Outputs equal, and the gradients of sum(out * w) for a fixed random w with respect to the
    input and to every parameter (read by `ref` from `sd`). Gradients within 1e-6: torch's
    float64 hardsigmoid backward uses 1/6 rounded to float32 (3e-8 off; ours is exact)."""
    params = dict(model.named_parameters())
    for k in params:  # dict's own lookup: not marked as read by the oracle
        dict.__getitem__(sd, k).requires_grad_(True)
    xt = torch.tensor(x, requires_grad=True)
    xo = mt.tensor(x, requires_grad=True)
    got, want = model(xo), ref(xt)
    close(got.numpy(), want.detach().numpy(), rtol, "output")
    w = np.random.default_rng(9).standard_normal(tuple(want.shape))
    (got * mt.tensor(w)).sum().backward()
    (want * torch.tensor(w)).sum().backward()
    close(xo.grad.numpy(), xt.grad.numpy(), 1e-6, "input gradient")
    for k, p in params.items():
        close(p.grad.numpy(), dict.__getitem__(sd, k).grad.numpy(), 1e-6, k)


@pytest.mark.parametrize(
    "name,options",
    [("mobilenet_v3_small", {}), ("mobilenet_v3_large", {"reduced_tail": True, "dilated": True})],
)
def test_mobilenet_v3_matches_torch_with_the_same_weights(name, options):
    torch = pytest.importorskip("torch")
    mt.manual_seed(2)
    model = randomize(getattr(models, name)(num_classes=10, **options).double().eval(), 3)
    sd = Used(model, torch)
    rows = v3_rows(V3[name][0], **options)
    ref = lambda x: torch_mobilenet_v3(torch, sd, x, rows)  # noqa: E731
    compare(torch, model, sd, ref, images((2, 3, 33, 38)))
    assert sd.unused() == []


def test_efficientnet_b0_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mt.manual_seed(4)
    model = randomize(models.efficientnet_b0(num_classes=10).double().eval(), 5)
    sd = Used(model, torch)
    ref = lambda x: torch_efficientnet(torch, sd, x, B0, 1.0, 1.0, 1e-5)  # noqa: E731
    compare(torch, model, sd, ref, images((2, 3, 33, 30)))
    assert sd.unused() == []


# a small EfficientNetV2-like net: both fused forms, an MBConv with and without expansion
SMALL_V2 = [(1, 1, 3, 1, 8, 8, 2), (1, 4, 3, 2, 8, 16, 2), (0, 4, 3, 2, 16, 24, 2),
            (0, 1, 5, 1, 24, 24, 1)]  # fmt: skip


def small_v2(**options):
    setting = [
        (eff.FusedMBConvConfig if fused else eff.MBConvConfig)(e, k, s, cin, cout, n)
        for fused, e, k, s, cin, cout, n in SMALL_V2
    ]
    return models.EfficientNet(
        setting,
        0.3,
        num_classes=5,
        last_channel=32,
        norm_layer=partial(BatchNorm2d, eps=1e-3),
        **options,
    )


def test_efficientnet_v2_blocks_match_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mt.manual_seed(6)
    model = randomize(small_v2().double().eval(), 7)
    sd = Used(model, torch)
    ref = lambda x: torch_efficientnet(torch, sd, x, SMALL_V2, 1.0, 1.0, 1e-3)  # noqa: E731
    compare(torch, model, sd, ref, images((2, 3, 19, 22)))
    assert sd.unused() == []


@pytest.mark.parametrize(
    "name,eps,momentum",
    [
        ("mobilenet_v3_small", 1e-3, 0.01),
        ("efficientnet_b1", 1e-5, 0.1),
        ("efficientnet_b5", 1e-3, 0.01),
    ],
)
def test_training_mode_matches_torch(name, eps, momentum):
    """In training mode each BatchNorm normalises with the batch's statistics and moves its
    running ones by torchvision's momentum with its eps (MobileNetV3, B5-B7: 0.01, 1e-3;
    B0-B4: 0.1, 1e-5); B1 and B5 also check the depth and width scaling against the tables."""
    torch = pytest.importorskip("torch")
    mt.manual_seed(18)
    options = {"dropout": 0.0} | ({"stochastic_depth_prob": 0.0} if "eff" in name else {})
    model = randomize(getattr(models, name)(num_classes=10, **options).double().train(), 19)
    sd, x = Used(model, torch), images((3, 3, 35, 37))
    if name.startswith("mobilenet"):
        want = torch_mobilenet_v3(torch, sd, torch.tensor(x), v3_rows(V3_SMALL), momentum)
    else:
        stages, width, depth, _ = EFFICIENTNETS[name]
        want = torch_efficientnet(torch, sd, torch.tensor(x), stages, width, depth, eps, momentum)
    close(model(mt.tensor(x)).numpy(), want.numpy(), 1e-7, "output")
    after = model.state_dict()
    assert len(sd.updated) == 2 * sum(isinstance(m, BatchNorm2d) for m in model.modules())
    for k, v in sd.updated.items():
        close(after[k].numpy(), v.numpy(), 1e-9, k)
    assert sd.unused() == []


SMALL_CONVNEXT = [(8, 16, 2), (16, 24, 1), (24, 32, 1), (32, None, 2)]  # torchvision's 4 stages


def small_convnext(**options):
    setting = [models.CNBlockConfig(*s) for s in SMALL_CONVNEXT]
    return models.ConvNeXt(setting, num_classes=5, **options)


def test_convnext_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mt.manual_seed(8)
    model = randomize(small_convnext(stochastic_depth_prob=0.3).double().eval(), 9)
    sd = Used(model, torch)
    ref = lambda x: torch_convnext(torch, sd, x, SMALL_CONVNEXT)  # noqa: E731
    compare(torch, model, sd, ref, images((2, 3, 35, 41)))
    assert sd.unused() == []


# --------------------------------------------------------------------------- gradients


def layer_norm_2d_loops(x, w, b, eps):
    """Each pixel's channel vector normalised (biased variance), then scaled and shifted."""
    y = np.empty_like(x)
    n, c, h, wd = x.shape
    for i in range(n):
        for r in range(h):
            for s in range(wd):
                v = x[i, :, r, s]
                y[i, :, r, s] = (v - v.mean()) / math.sqrt(v.var() + eps) * w + b
    return y


@FEW
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 4),
    h=st.integers(1, 3),
    w=st.integers(1, 3),
    seed=st.integers(0, 99),
)
def test_layer_norm_2d_matches_loops_and_gradcheck_float64(n, c, h, w, seed):
    rng = np.random.default_rng(seed)
    norm = cnx.LayerNorm2d(c, eps=1e-6).double()
    norm.weight.data[...] = rng.uniform(0.5, 1.5, c)
    norm.bias.data[...] = rng.normal(0, 0.3, c)
    x = rng.standard_normal((n, c, h, w))
    want = layer_norm_2d_loops(x, norm.weight.numpy(), norm.bias.numpy(), 1e-6)
    np.testing.assert_allclose(norm(mt.tensor(x)).numpy(), want, rtol=1e-9, atol=1e-9)
    # gradcheck perturbs its inputs in place: the module's own weight and bias are checked too
    inputs = [mt.tensor(x, requires_grad=True), norm.weight, norm.bias]
    assert mt.gradcheck(lambda x, *_: norm(x), inputs)


def double_eval(module, seed):
    return randomize(module.double().eval(), seed)


@FEW
@given(dim=st.integers(1, 3), hw=st.integers(1, 4), seed=st.integers(0, 99))
def test_cnblock_gradcheck_float64(dim, hw, seed):
    mt.manual_seed(seed)
    block = double_eval(models.CNBlock(dim, 0.5, 0.0), seed)
    assert mt.gradcheck(block, [mt.tensor(images((2, dim, hw, hw + 1), seed), requires_grad=True)])


@FEW
@given(
    fused=st.booleans(),
    expand=st.sampled_from([1, 2, 4]),
    kernel=st.sampled_from([1, 3, 5]),
    stride=st.integers(1, 2),
    cin=st.sampled_from([8, 16]),
    cout=st.sampled_from([8, 16]),
    hw=st.integers(1, 3),
    seed=st.integers(0, 99),
)
def test_mbconv_blocks_gradcheck_float64(fused, expand, kernel, stride, cin, cout, hw, seed):
    mt.manual_seed(seed)
    config = eff.FusedMBConvConfig if fused else eff.MBConvConfig
    cnf = config(expand, kernel, stride, cin, cout, 1)
    block = double_eval(cnf.block(cnf, 0.5, BatchNorm2d), seed)
    assert type(block) is (models.FusedMBConv if fused else models.MBConv)
    x = images((1, cin, hw, hw + 1), seed)
    y = block(mt.tensor(x))
    assert y.shape == (1, cout, -(-hw // stride), -(-(hw + 1) // stride))
    assert mt.gradcheck(block, [mt.tensor(x, requires_grad=True)])


@FEW
@given(
    exp=st.sampled_from([8, 16]),
    kernel=st.sampled_from([3, 5]),
    se=st.booleans(),
    act=st.sampled_from(["RE", "HS"]),
    stride=st.integers(1, 2),
    dilation=st.integers(1, 2),
    hw=st.integers(1, 4),
    seed=st.integers(0, 99),
)
def test_mobilenet_v3_block_gradcheck_float64(exp, kernel, se, act, stride, dilation, hw, seed):
    mt.manual_seed(seed)
    cnf = mb3.InvertedResidualConfig(8, kernel, exp, 8, se, act, stride, dilation, 1.0)
    block = double_eval(mb3.InvertedResidual(cnf, BatchNorm2d), seed)
    assert block.use_res_connect == (stride == 1) and block._is_cn == (stride == 2)
    x = images((1, 8, hw, hw), seed)
    s = 1 if dilation > 1 else stride
    assert block(mt.tensor(x)).shape == (1, 8, -(-hw // s), -(-hw // s))
    assert mt.gradcheck(block, [mt.tensor(x, requires_grad=True)])


# --------------------------------------------------------------------------- init and options


def test_init_and_norm_settings_are_torchvisions():
    mt.manual_seed(12)
    m = models.mobilenet_v3_large()
    bns = [b for b in m.modules() if isinstance(b, BatchNorm2d)]
    assert {(b.eps, b.momentum) for b in bns} == {(0.001, 0.01)}
    assert all((b.weight.numpy() == 1).all() and (b.bias.numpy() == 0).all() for b in bns)
    w = m.features[12].block[0][0].weight.numpy()  # 1x1 conv 112 -> 672: fan_out 672
    assert abs(w.std() - math.sqrt(2 / 672)) < 0.05 * math.sqrt(2 / 672)
    fc = m.classifier[0]
    assert abs(fc.weight.numpy().std() - 0.01) < 5e-4 and (fc.bias.numpy() == 0).all()
    assert (m.features[4].block[2].fc1.bias.numpy() == 0).all()  # conv biases zeroed
    b0 = models.efficientnet_b0()
    fc = b0.classifier[1].weight.numpy()
    bound = 1 / math.sqrt(1000)
    assert np.abs(fc).max() <= bound and np.abs(fc).max() > 0.99 * bound
    assert abs(fc.std() - bound / math.sqrt(3)) < 0.02 * bound
    eps = {
        n: {(b.eps, b.momentum) for b in build(n).modules() if isinstance(b, BatchNorm2d)}
        for n in ("efficientnet_b4", "efficientnet_b5", "efficientnet_v2_s")
    }
    assert eps == {
        "efficientnet_b4": {(1e-5, 0.1)},
        "efficientnet_b5": {(0.001, 0.01)},
        "efficientnet_v2_s": {(0.001, 0.1)},
    }
    tiny = models.convnext_tiny()
    w = tiny.features[5][0].block[3].weight.numpy()
    # trunc_normal_(std=0.02) (cut at +-2 absolute: in effect N(0, 0.02^2)); PyTorch's default
    # would be U(+-1/sqrt(384)), std 0.029
    assert abs(w.std() - 0.02) < 5e-4
    assert abs(tiny.features[1][0].block[0].weight.numpy().std() - 0.02) < 2e-3  # depthwise 7x7
    assert (tiny.features[5][0].block[3].bias.numpy() == 0).all()
    assert (tiny.features[1][0].layer_scale.numpy() == np.float32(1e-6)).all()
    norms = [n for n in tiny.modules() if isinstance(n, LayerNorm)]
    assert {n.eps for n in norms} == {1e-6} and len(norms) == 18 + 1 + 3 + 1
    assert sum(isinstance(n, cnx.LayerNorm2d) for n in norms) == 5  # stem, 3 downsamplings, head


def sd_probs(model):
    return [m.stochastic_depth.p for m in model.modules() if hasattr(m, "stochastic_depth")]


def test_stochastic_depth_and_dropout_follow_torchvisions_defaults():
    b1 = build("efficientnet_b1")
    n = sum(math.ceil(s[-1] * 1.1) for s in B0)  # 23 blocks
    assert sd_probs(b1) == [0.2 * i / n for i in range(n)]
    assert {m.stochastic_depth.mode for m in b1.modules() if hasattr(m, "stochastic_depth")} == {
        "row"
    }
    assert sd_probs(build("efficientnet_v2_s", stochastic_depth_prob=0.5)) == [
        0.5 * i / 40 for i in range(40)
    ]
    assert sd_probs(build("convnext_tiny")) == [0.1 * i / 17 for i in range(18)]
    assert sd_probs(build("convnext_large"))[-1] == pytest.approx(0.5)
    assert sd_probs(models.ConvNeXt([models.CNBlockConfig(8, None, 1)], 0.5)) == [0.0]
    # dropout before the classifier: torchvision's per-variant defaults, and an option
    assert build("efficientnet_b0").classifier[0].p == 0.2
    assert build("efficientnet_b7").classifier[0].p == 0.5
    assert build("efficientnet_b7", dropout=0.1).classifier[0].p == 0.1
    assert build("efficientnet_v2_l").classifier[0].p == 0.4
    assert build("mobilenet_v3_small", dropout=0.3).classifier[2].p == 0.3


def test_stochastic_depth_drops_whole_samples_in_training_only():
    mt.manual_seed(13)
    block = models.CNBlock(4, 0.5, 1.0)  # p = 1: the branch always dropped in training
    x = mt.tensor(images((3, 4, 5, 5)).astype(np.float32))
    np.testing.assert_array_equal(block.train()(x).numpy(), x.numpy())
    branch = (block.layer_scale * block.block(x)).numpy()
    np.testing.assert_allclose(block.eval()(x).numpy(), x.numpy() + branch, rtol=1e-6, atol=1e-7)
    block = models.CNBlock(4, 0.5, 0.5).train()  # p = 0.5, 'row': per sample, 2 x the branch
    x = mt.tensor(images((64, 4, 3, 3)).astype(np.float32))
    out, branch = block(x).numpy(), (block.layer_scale * block.block(x)).numpy()
    kept = [
        np.allclose(o, xi + 2 * b, rtol=1e-5, atol=1e-6) for o, xi, b in zip(out, x.numpy(), branch)
    ]
    dropped = [np.array_equal(o, xi) for o, xi in zip(out, x.numpy())]
    assert all(k != d for k, d in zip(kept, dropped)) and 16 < sum(kept) < 48
    # MBConv: only its residual branch is dropped; a strided block never is
    cnf = eff.MBConvConfig(4, 3, 1, 8, 8, 1)
    res = models.MBConv(cnf, 1.0, BatchNorm2d).train()
    x = mt.tensor(images((2, 8, 4, 4)).astype(np.float32))
    np.testing.assert_array_equal(res(x).numpy(), x.numpy())
    strided = models.MBConv(eff.MBConvConfig(4, 3, 2, 8, 8, 1), 1.0, BatchNorm2d).train()
    np.testing.assert_array_equal(strided(x).numpy(), strided.block(x).numpy())


def test_models_are_random_in_training_and_deterministic_in_eval():
    mt.manual_seed(14)
    x = mt.tensor(images((4, 3, 32, 32)).astype(np.float32))
    net = small_convnext(stochastic_depth_prob=0.9, layer_scale=1.0)  # no BN, no dropout
    a, b = net.train()(x).numpy(), net(x).numpy()
    assert not np.allclose(a, b, rtol=1e-3, atol=1e-3)
    np.testing.assert_array_equal(net.eval()(x).numpy(), net(x).numpy())
    plain = small_convnext(stochastic_depth_prob=0.0, layer_scale=1.0)  # nothing to drop
    plain.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(plain.train()(x).numpy(), net.eval()(x).numpy())


# --------------------------------------------------------------------------- forward, backward


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b0", "convnext_tiny"])
def test_forward_and_backward_on_a_small_batch(name):
    mt.manual_seed(15)
    model = getattr(models, name)(num_classes=5).train()
    out = model(mt.tensor(images((2, 3, 64, 64)).astype(np.float32)))
    assert out.shape == (2, 5)
    (out * out).mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), n


def test_small_inputs_and_bad_input_fail_naming_the_model():
    mt.manual_seed(16)
    net = small_convnext()
    assert net(mt.zeros(1, 3, 32, 32)).shape == (1, 5)  # torchvision's min_size 32
    with pytest.raises(
        ValueError,
        match=r"ConvNeXt: input of shape \(1, 3, 31, 40\) is too "
        r"small: layer 'features.6.1' \(Conv2d\).*smallest input is 32x32",
    ):
        net(mt.zeros(1, 3, 31, 40))
    assert small_v2().eval()(mt.zeros(1, 3, 1, 1)).shape == (1, 5)  # every conv pads
    with pytest.raises(ValueError, match=r"EfficientNet: expected input \(N, 3, H, W\)"):
        small_v2()(mt.zeros(1, 1, 8, 8))
    assert models.mobilenet_v3_small(in_channels=1).eval()(mt.zeros(1, 1, 1, 1)).shape == (1, 1000)
    with pytest.raises(ValueError, match=r"MobileNetV3: expected input \(N, 3, H, W\), got"):
        build("mobilenet_v3_small")(mt.zeros(2, 3, 8))
    with pytest.raises(ValueError, match=r"LayerNorm2d\(4\): expected \(N, 4, H, W\)"):
        cnx.LayerNorm2d(4)(mt.zeros(1, 3, 2, 2))


def test_a_replaced_stem_conv_sets_the_channels_expected():
    """torchvision's idiom for grey images, a new first conv: the input check follows it."""
    mt.manual_seed(17)
    for net in (models.mobilenet_v3_small(num_classes=5), small_v2(), small_convnext()):
        old = net.features[0][0]
        net.features[0][0] = Conv2d(
            1, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None
        )
        assert net.eval()(mt.zeros(2, 1, 32, 32)).shape == (2, 5)
        with pytest.raises(ValueError, match=r"expected input \(N, 1, H, W\), got shape"):
            net(mt.zeros(2, 3, 32, 32))


def test_bad_configurations_fail_with_the_reason():
    with pytest.raises(ValueError, match="MBConv: illegal stride value 3"):
        models.MBConv(eff.MBConvConfig(1, 3, 3, 8, 8, 1), 0.0, BatchNorm2d)
    with pytest.raises(ValueError, match="FusedMBConv: illegal stride value 0"):
        models.FusedMBConv(eff.FusedMBConvConfig(1, 3, 0, 8, 8, 1), 0.0, BatchNorm2d)
    with pytest.raises(ValueError, match="InvertedResidual: illegal stride value 3"):
        mb3.InvertedResidual(
            mb3.InvertedResidualConfig(8, 3, 8, 8, 0, "RE", 3, 1, 1.0), BatchNorm2d
        )
    with pytest.raises(ValueError, match="EfficientNet: the inverted_residual_setting should not"):
        models.EfficientNet([], 0.2)
    with pytest.raises(TypeError, match=r"List\[MBConvConfig\]"):
        models.EfficientNet([(1, 3, 1, 8, 8, 1)], 0.2)
    with pytest.raises(ValueError, match="MobileNetV3: the inverted_residual_setting should not"):
        models.MobileNetV3([], 1024)
    with pytest.raises(TypeError, match=r"List\[InvertedResidualConfig\]"):
        models.MobileNetV3([eff.MBConvConfig(1, 3, 1, 8, 8, 1)], 1024)
    with pytest.raises(ValueError, match="ConvNeXt: the block_setting should not be empty"):
        models.ConvNeXt([])
    with pytest.raises(TypeError, match=r"List\[CNBlockConfig\]"):
        models.ConvNeXt([(8, None, 1)])
    with pytest.raises(ValueError, match="unsupported model type 'mobilenet_v3_tiny'"):
        mb3._mobilenet_v3_conf("mobilenet_v3_tiny")


def test_configs_scale_as_torchvision():
    cnf = eff.MBConvConfig(6, 5, 2, 112, 192, 4, width_mult=1.1, depth_mult=1.2)
    assert (cnf.input_channels, cnf.out_channels, cnf.num_layers) == (120, 208, 5)
    assert cnf.block is models.MBConv and eff.FusedMBConvConfig(1, 3, 1, 8, 8, 1).block is (
        models.FusedMBConv
    )
    assert repr(cnf) == (
        "MBConvConfig(expand_ratio=6, kernel=5, stride=2, input_channels=120, "
        "out_channels=208, num_layers=5, block=" + repr(models.MBConv) + ")"
    )
    v3 = mb3.InvertedResidualConfig(40, 5, 120, 48, True, "HS", 1, 1, 0.75)
    assert (v3.input_channels, v3.expanded_channels, v3.out_channels, v3.use_hs) == (
        32,
        88,
        40,
        True,
    )
    assert repr(models.CNBlockConfig(96, 192, 3)) == (
        "CNBlockConfig(input_channels=96, out_channels=192, num_layers=3)"
    )
    # width_mult scales MobileNetV3's widths and its classifier's hidden width
    half = build("mobilenet_v3_large", width_mult=0.5)
    assert half.features[0][0].out_channels == 8 and half.classifier[0].out_features == 640


def test_registry_entries():
    sizes = {
        "mobilenet-v3-large": 224,
        "mobilenet-v3-small": 224,
        "efficientnet-b0": 224,
        "efficientnet-b3": 300,
        "efficientnet-b7": 600,
        "efficientnet-v2-s": 384,
        "efficientnet-v2-l": 480,
        "convnext-tiny": 224,
        "convnext-large": 224,
    }
    for name, size in sizes.items():
        info = models.info(name)
        assert info.input_size == (3, size, size) and info.num_classes == 1000
        assert "torchvision" in info.description
    with mt.init.skip_init():
        assert models.get("efficientnet-b0", num_classes=7).classifier[1].out_features == 7
        assert models.get("convnext-tiny", num_classes=7).classifier[2].out_features == 7
    # the V3 block is its own module's; models.InvertedResidual stays MobileNetV2's
    assert models.InvertedResidual is models.mobilenet.InvertedResidual
    assert mb3.InvertedResidual is not models.InvertedResidual
