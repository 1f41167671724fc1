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
