"""ResNet-18: torchvision's architecture and state_dict names; the transfer-learning helpers."""

from __future__ import annotations

import numpy as np
import pytest

import minitorch_cv as mt
from minitorch_cv import models
from minitorch_cv.layers import Linear


def bn_keys(prefix):
    return [
        prefix + s for s in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    ]


def torchvision_resnet18_keys():
    """The key order of torchvision's resnet18().state_dict(), from its module definitions."""
    keys = ["conv1.weight", *bn_keys("bn1.")]
    for stage in (1, 2, 3, 4):
        for block in (0, 1):
            p = f"layer{stage}.{block}."
            keys += [
                p + "conv1.weight",
                *bn_keys(p + "bn1."),
                p + "conv2.weight",
                *bn_keys(p + "bn2."),
            ]
            if stage > 1 and block == 0:
                keys += [p + "downsample.0.weight", *bn_keys(p + "downsample.1.")]
    return keys + ["fc.weight", "fc.bias"]


def test_state_dict_keys_and_shapes_are_torchvisions():
    sd = models.resnet18().state_dict()
    assert list(sd) == torchvision_resnet18_keys()
    assert sd["conv1.weight"].shape == (64, 3, 7, 7)
    assert sd["layer2.0.downsample.0.weight"].shape == (128, 64, 1, 1)
    assert sd["layer4.1.conv2.weight"].shape == (512, 512, 3, 3)
    assert sd["fc.weight"].shape == (1000, 512)
    assert sd["bn1.num_batches_tracked"].dtype == np.int64


def test_torchvision_init_statistics():
    mt.manual_seed(0)
    m = models.resnet18()
    w = m.layer3[0].conv1.weight.numpy()  # kaiming normal, fan_out = 256 * 3 * 3, gain sqrt(2)
    assert abs(w.std() - np.sqrt(2 / (256 * 9))) < 0.05 * np.sqrt(2 / (256 * 9))
    assert (m.layer1[0].bn2.weight.numpy() == 1).all()
    z = models.resnet18(zero_init_residual=True)
    assert (z.layer1[0].bn2.weight.numpy() == 0).all()


def test_encoder_without_top_returns_the_layer4_map():
    enc = models.ResNet(include_top=False)
    assert not hasattr(enc, "fc") or "fc" not in enc._modules
    with mt.no_grad():
        out = enc.eval()(mt.zeros(1, 3, 64, 64))
    assert out.shape == (1, 512, 2, 2)


def test_replace_head_freeze_and_unfreeze():
    m = models.resnet18()
    models.freeze(m)
    models.replace_head(m, 10)
    assert isinstance(m.fc, Linear) and m.fc.weight.shape == (10, 512)
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable == {"fc.weight", "fc.bias"}
    models.unfreeze(m, "layer4")
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert {"layer4.1.bn2.bias", "fc.bias"} <= trainable
    assert not any(n.startswith(("layer3", "conv1", "bn1")) for n in trainable)
    assert len(models.trainable_parameters(m)) == len(trainable)
    models.freeze(m, "layer4.1")
    assert not m.layer4[1].conv1.weight.requires_grad and m.layer4[0].conv1.weight.requires_grad


def test_freeze_unknown_module_names_the_children():
    with pytest.raises(ValueError, match="no submodule 'layer5'.*layer1, layer2"):
        models.freeze(models.resnet18(), "layer5")
    with pytest.raises(ValueError, match="not a Linear"):
        models.replace_head(models.get("e1"), 3)


def test_frozen_layers_get_no_gradient_but_the_head_does():
    m = models.resnet18(num_classes=4)
    models.freeze(m)
    models.unfreeze(m, "fc")
    x = mt.tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    m(x).sum().backward()
    assert m.conv1.weight.grad is None and m.layer4[1].bn2.weight.grad is None
    assert m.fc.weight.grad is not None


def test_forward_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TBlock(nn.Module):  # torchvision's BasicBlock, written out for the oracle
        def __init__(self, a, b, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(a, b, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(b)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(b, b, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(b)
            self.downsample = None
            if stride != 1 or a != b:
                self.downsample = nn.Sequential(
                    nn.Conv2d(a, b, 1, stride, bias=False), nn.BatchNorm2d(b)
                )

        def forward(self, x):
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            chans = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
            for i, (a, b, s) in enumerate(chans, 1):
                setattr(self, f"layer{i}", nn.Sequential(TBlock(a, b, s), TBlock(b, b, 1)))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(512, 7)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    ours = models.resnet18(num_classes=7).eval()
    ref = TResNet().eval()
    assert list(ref.state_dict()) == list(ours.state_dict())
    # random running statistics so that eval-mode BN is not the identity
    rng = np.random.default_rng(3)
    for k, v in ours.state_dict().items():
        if k.endswith("running_var"):
            v.data[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean"):
            v.data[...] = rng.normal(0, 0.1, v.shape)
    ref.load_state_dict(
        {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    )
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    with mt.no_grad():
        got = ours(mt.tensor(x)).numpy()
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- Bottleneck ResNets


def torchvision_bottleneck_keys(layers):
    keys = ["conv1.weight", *bn_keys("bn1.")]
    for stage, blocks in enumerate(layers, 1):
        for block in range(blocks):
            p = f"layer{stage}.{block}."
            for i in (1, 2, 3):
                keys += [f"{p}conv{i}.weight", *bn_keys(f"{p}bn{i}.")]
            if block == 0:  # every first block projects (64 -> 256 even in layer1)
                keys += [p + "downsample.0.weight", *bn_keys(p + "downsample.1.")]
    return keys + ["fc.weight", "fc.bias"]


def test_resnet50_keys_shapes_and_the_v1_5_stride():
    mt.manual_seed(0)
    with mt.init.skip_init():
        m = models.resnet50()
    sd = m.state_dict()
    assert list(sd) == torchvision_bottleneck_keys((3, 4, 6, 3))
    assert sd["layer1.0.conv1.weight"].shape == (64, 64, 1, 1)
    assert sd["layer1.0.conv3.weight"].shape == (256, 64, 1, 1)
    assert sd["layer2.0.downsample.0.weight"].shape == (512, 256, 1, 1)
    assert sd["fc.weight"].shape == (1000, 2048)
    # torchvision's V1.5: the stride sits on the 3x3 conv, not on the first 1x1
    assert m.layer2[0].conv1.stride == (1, 1) and m.layer2[0].conv2.stride == (2, 2)
    with mt.init.skip_init():
        resnext, wide = models.resnext50_32x4d(), models.wide_resnet50_2()
    assert resnext.layer1[0].conv2.groups == 32
    assert resnext.layer1[0].conv2.weight.shape == (128, 4, 3, 3)
    assert wide.layer1[0].conv2.weight.shape == (128, 128, 3, 3)


def test_dilation_replaces_the_last_strides_and_zero_init_reaches_bn3():
    enc = models.ResNet((1, 1, 1, 1), block=models.Bottleneck, include_top=False,
                        replace_stride_with_dilation=(False, True, True)).eval()  # fmt: skip
    with mt.no_grad():
        assert enc(mt.zeros(1, 3, 64, 64)).shape == (1, 2048, 8, 8)  # output stride 8, not 32
    assert enc.layer4[0].conv2.dilation == (2, 2) and enc.layer4[0].conv2.stride == (1, 1)
    z = models.resnet50(zero_init_residual=True)
    assert (z.layer3[2].bn3.weight.numpy() == 0).all() and (
        z.layer3[2].bn2.weight.numpy() == 1
    ).all()
    with pytest.raises(ValueError, match="BasicBlock: only groups=1"):
        models.ResNet(groups=2)
    with pytest.raises(ValueError, match="BasicBlock: dilation > 1"):
        models.ResNet(replace_stride_with_dilation=(False, False, True))


def test_bottleneck_resnet_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class TBottleneck(nn.Module):  # torchvision's Bottleneck, written out for the oracle
        def __init__(self, a, planes, stride, groups, base, dilation):
            super().__init__()
            w, out = planes * base // 64 * groups, planes * 4
            self.conv1 = nn.Conv2d(a, w, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(w)
            self.conv2 = nn.Conv2d(w, w, 3, stride, dilation, dilation, groups, bias=False)
            self.bn2 = nn.BatchNorm2d(w)
            self.conv3 = nn.Conv2d(w, out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or a != out:
                self.downsample = nn.Sequential(
                    nn.Conv2d(a, out, 1, stride, bias=False), nn.BatchNorm2d(out)
                )

        def forward(self, x):
            y = self.relu(self.bn1(self.conv1(x)))
            y = self.relu(self.bn2(self.conv2(y)))
            y = self.bn3(self.conv3(y))
            return self.relu(y + (x if self.downsample is None else self.downsample(x)))

    # two blocks per stage, groups 2, width 32, layers 3 and 4 dilated instead of strided:
    # (stride, dilation) of each block's 3x3, as torchvision's _make_layer sets them (a stage's
    # first block keeps the dilation reached so far, its later blocks take the new one)
    plan = {1: [(1, 1), (1, 1)], 2: [(2, 1), (1, 1)], 3: [(1, 1), (1, 2)], 4: [(1, 2), (1, 4)]}

    class TNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            a = 64
            for i, planes in enumerate((64, 128, 256, 512), 1):
                blocks = []
                for stride, dilation in plan[i]:
                    blocks.append(TBottleneck(a, planes, stride, 2, 32, dilation))
                    a = planes * 4
                setattr(self, f"layer{i}", nn.Sequential(*blocks))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(2048, 5)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    ours = models.ResNet((2, 2, 2, 2), 5, block=models.Bottleneck, groups=2, width_per_group=32,
                         replace_stride_with_dilation=(False, True, True)).eval()  # fmt: skip
    for i, blocks in plan.items():
        got = [(b.conv2.stride[0], b.conv2.dilation[0]) for b in getattr(ours, f"layer{i}")]
        assert got == blocks, (i, got)
    ref = TNet().eval()
    assert list(ref.state_dict()) == list(ours.state_dict())
    rng = np.random.default_rng(4)
    for k, v in ours.state_dict().items():
        if k.endswith("running_var"):
            v.data[...] = rng.uniform(0.5, 2, v.shape)
        elif k.endswith("running_mean"):
            v.data[...] = rng.normal(0, 0.1, v.shape)
    ref.load_state_dict(
        {k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()}
    )
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    with mt.no_grad():
        got = ours(mt.tensor(x)).numpy()
    with torch.no_grad():
        want = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
