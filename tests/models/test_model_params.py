"""Each seed model's parameter count equals the count worked out by hand from its layer shapes.

conv(cin, cout, k) = cin*cout*k*k + cout (weight + bias), linear(a, b) = a*b + b,
bn(c) = 2c (weight + bias; running statistics are buffers, not parameters).
"""

from __future__ import annotations

import pytest

from minitorch_cv import models


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def linear(a, b):
    return a * b + b


def bn(c):
    return 2 * c


def count(name, **options):
    """The parameters of the registered model (built without random init: the count is the
    same, and a VGG builds in milliseconds instead of seconds)."""
    return models.info(name).num_parameters(**options)


def test_e1_matches_the_worked_exercise():
    # conv5 3->32, conv5 32->64, conv5 64->128, Linear(4*4*128, 64), Linear(64, 10)
    by_hand = (
        (3 * 5 * 5 * 32 + 32)  # 2,432
        + (32 * 5 * 5 * 64 + 64)  # 51,264
        + (64 * 5 * 5 * 128 + 128)  # 204,928
        + (4 * 4 * 128 * 64 + 64)  # 131,136
        + (64 * 10 + 10)  # 650
    )
    assert by_hand == 390_410
    assert count("e1") == by_hand


def test_three_layer_default():
    # conv5 3->24, conv3 24->48, conv3 48->96 (all valid), Linear(96*2*2, 512), Linear(512, 10)
    by_hand = (
        (3 * 5 * 5 * 24 + 24)  # 1,824
        + (24 * 3 * 3 * 48 + 48)  # 10,416
        + (48 * 3 * 3 * 96 + 96)  # 41,568
        + (384 * 512 + 512)  # 197,120
        + (512 * 10 + 10)  # 5,130
    )
    assert by_hand == 256_058
    assert count("three-layer") == by_hand


def test_three_layer_ablations():
    # wider: 64/128/256 filters; 32 -conv5-> 28 -pool-> 14 -conv3-> 12 -> 6 -conv3-> 4 -> 2
    wider = conv(3, 64, 5) + conv(64, 128, 3) + conv(128, 256, 3) + linear(256 * 2 * 2, 512)
    wider += linear(512, 10)
    assert count("three-layer", filters=(64, 128, 256)) == wider
    # + an extra Linear(512, 128): the last layer becomes Linear(128, 10)
    extra = wider - linear(512, 10) + linear(512, 128) + linear(128, 10)
    assert count("three-layer", filters=(64, 128, 256), extra_fc=128) == extra
    # kernels 7/5/3: 32 -> 26 -> 13 -> 9 -> 4 -> 2 -> 1, so 256 features enter the head
    kern = conv(3, 64, 7) + conv(64, 128, 5) + conv(128, 256, 3) + linear(256, 512)
    kern += linear(512, 10)
    assert count("three-layer", filters=(64, 128, 256), kernel_sizes=(7, 5, 3)) == kern
    # LeakyReLU and dropout add no parameters; BN adds BN2d(64), BN2d(128) and BN1d(512)
    best = dict(filters=(64, 128, 256), activation="leaky_relu", dropout=0.3)
    assert count("three-layer", **best) == wider
    assert count("three-layer", **best, batch_norm=True) == wider + bn(64) + bn(128) + bn(512)


def test_e2_and_its_extra_conv():
    e2 = (
        conv(3, 32, 5)  # 2,432
        + conv(32, 64, 5)  # 51,264
        + bn(64)  # 128
        + conv(64, 64, 5)  # 102,464
        + bn(64)
        + linear(64 * 8 * 8, 128)  # 524,416
        + linear(128, 10)  # 1,290
    )
    assert e2 == 682_122
    assert count("e2") == e2
    assert count("e2-extra-conv") == e2 + conv(64, 64, 5)


def test_unit_block_mnist_and_cifar():
    def block(c):  # conv c->3c + BN, 2 x (conv 3c->3c + BN), conv 3c->3c + BN
        return conv(c, 3 * c, 3) + bn(3 * c) + 3 * (conv(3 * c, 3 * c, 3) + bn(3 * c))

    def head(widths, classes):
        hidden = sum(linear(a, b) + bn(b) for a, b in zip(widths[:-1], widths[1:]))
        return hidden + linear(widths[-1], classes)

    mnist = block(1) + head([588, 294, 147, 73, 36, 18], 10)
    assert block(1) == 306
    assert count("unit-block-mnist") == mnist
    cifar = block(3) + block(9) + block(27) + block(81)
    cifar += head([972, 486, 243, 121, 60, 30, 15], 10)
    assert count("unit-block-cifar10") == cifar


def test_two_decoder():
    def enc(a, b):
        return conv(a, b, 3) + bn(b) + conv(b, b, 3) + bn(b)

    def dec(a, b):  # conv3 a->b, ConvTranspose2d(k2) b->b (weight b*b*2*2 + bias b), conv3 b->b
        return conv(a, b, 3) + bn(b) + (b * b * 2 * 2 + b) + bn(b) + conv(b, b, 3) + bn(b)

    encoder = enc(3, 32) + enc(32, 64) + enc(64, 128) + enc(128, 256)
    trunk = dec(256, 128) + dec(128, 64) + dec(64, 32)
    by_hand = encoder + (trunk + dec(32, 2)) + (trunk + dec(32, 10))
    assert count("two-decoder") == by_hand


def test_deep_cnn_plain_and_residual():
    plain = conv(1, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + conv(256, 512, 3)
    plain += linear(512, 256) + linear(256, 10)
    assert count("deep-cnn-mnist") == plain

    def resblock(c):  # two conv3 + BN, identity shortcut (no parameters)
        return 2 * (conv(c, c, 3) + bn(c))

    res = conv(3, 64, 3) + conv(64, 128, 3) + conv(128, 256, 3) + conv(256, 512, 3)
    res += sum(resblock(c) for c in (64, 128, 256, 512))
    res += linear(2048, 512) + linear(512, 128) + linear(128, 10)
    assert count("deep-cnn-res-cifar10") == res


def test_resblock_projection_shortcut():
    block = models.ResBlock(64, 128, stride=2)
    by_hand = conv(64, 128, 3) + bn(128) + conv(128, 128, 3) + bn(128) + conv(64, 128, 1) + bn(128)
    assert block.num_parameters() == by_hand


def resnet18_features():
    stem = conv(3, 64, 7, bias=False) + bn(64)

    def basic(a, b, down):
        n = conv(a, b, 3, bias=False) + bn(b) + conv(b, b, 3, bias=False) + bn(b)
        return n + (conv(a, b, 1, bias=False) + bn(b) if down else 0)

    stages = 2 * basic(64, 64, False)
    for a, b in ((64, 128), (128, 256), (256, 512)):
        stages += basic(a, b, True) + basic(b, b, False)
    return stem + stages


def test_resnet18_matches_torchvision_count():
    assert resnet18_features() + linear(512, 1000) == 11_689_512  # torchvision's resnet18
    assert count("resnet18") == 11_689_512
    assert count("resnet18", num_classes=10) == resnet18_features() + linear(512, 10)


def resnet_by_hand(block, layers, groups=1, width=64, classes=1000):
    """torchvision's ResNet counted stage by stage: stem, blocks (a projection shortcut on the
    first block of a stage whose shape changes), fc."""
    total, inplanes = conv(3, 64, 7, bias=False) + bn(64), 64
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
        for i in range(blocks):
            if block == "basic":
                out = planes
                n = conv(inplanes, planes, 3, False) + bn(planes) + conv(planes, planes, 3, False)
                n += bn(planes)
            else:  # bottleneck: 1x1 reduce to w, grouped 3x3, 1x1 expand to 4 * planes
                w, out = planes * width // 64 * groups, 4 * planes
                n = conv(inplanes, w, 1, False) + bn(w) + conv(w, w, 3, False) // groups + bn(w)
                n += conv(w, out, 1, False) + bn(out)
            if i == 0 and (stage > 0 or inplanes != out):
                n += conv(inplanes, out, 1, False) + bn(out)
            total, inplanes = total + n, out
    return total + linear(inplanes, classes)


RESNETS = {
    "resnet34": ("basic", (3, 4, 6, 3), 1, 64, 21_797_672),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64, 25_557_032),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64, 44_549_160),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64, 60_192_808),
    "resnext50-32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4, 25_028_904),
    "resnext101-32x8d": ("bottleneck", (3, 4, 23, 3), 32, 8, 88_791_336),
    "wide-resnet50-2": ("bottleneck", (3, 4, 6, 3), 1, 128, 68_883_240),
    "wide-resnet101-2": ("bottleneck", (3, 4, 23, 3), 1, 128, 126_886_696),
}


@pytest.mark.parametrize("name", RESNETS)
def test_resnet_family_matches_torchvision_counts(name):
    block, layers, groups, width, published = RESNETS[name]  # torchvision's model cards
    assert resnet_by_hand(block, layers, groups, width) == published
    assert count(name) == published
    assert count(name, num_classes=10) == resnet_by_hand(block, layers, groups, width, 10)
    assert resnet_by_hand("basic", (2, 2, 2, 2)) == 11_689_512  # the helper agrees on resnet18


def vgg_by_hand(config, batch_norm, classes=1000):
    total, c = 0, 3
    for v in config:
        if v != "M":
            total, c = total + conv(c, v, 3) + (bn(v) if batch_norm else 0), v
    return total + linear(512 * 7 * 7, 4096) + linear(4096, 4096) + linear(4096, classes)


VGGS = {
    "vgg11": ((64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"), 132_863_336),
    "vgg13": ((64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
              133_047_848),
    "vgg16": ((64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
               "M"), 138_357_544),
    "vgg19": ((64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
               512, 512, 512, "M"), 143_667_240),
}  # fmt: skip
VGG_BN = {"vgg11-bn": 132_868_840, "vgg13-bn": 133_053_736, "vgg16-bn": 138_365_992,
          "vgg19-bn": 143_678_248}  # fmt: skip


@pytest.mark.parametrize("name", VGGS)
def test_vgg_family_matches_torchvision_counts(name):
    config, published = VGGS[name]
    assert vgg_by_hand(config, False) == published == count(name)
    assert vgg_by_hand(config, True) == VGG_BN[name + "-bn"] == count(name + "-bn")
    assert count(name, num_classes=10) == vgg_by_hand(config, False, 10)


def test_alexnet_matches_torchvision_count():
    features = (conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3)
                + conv(256, 256, 3))  # fmt: skip
    classifier = linear(256 * 6 * 6, 4096) + linear(4096, 4096) + linear(4096, 1000)
    assert features + classifier == 61_100_840 == count("alexnet")


def mobilenet_v2_by_hand(classes=1000):
    """Stem conv3 3->32 s2, 17 inverted residuals (1x1 expand unless t = 1, 3x3 depthwise: 9
    weights per channel, 1x1 project; a BN after each), conv1x1 320->1280, Linear(1280, classes).
    """
    total, c = conv(3, 32, 3, False) + bn(32), 32
    for t, out, n, _ in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)):  # fmt: skip
        for _ in range(n):
            hidden = c * t
            expand = conv(c, hidden, 1, False) + bn(hidden) if t != 1 else 0
            depthwise = hidden * 9 + bn(hidden)  # groups = channels: one 3x3 filter each
            total += expand + depthwise + conv(hidden, out, 1, False) + bn(out)
            c = out
    return total + conv(320, 1280, 1, False) + bn(1280) + linear(1280, classes)


def test_mobilenet_v2_matches_torchvision_count():
    assert mobilenet_v2_by_hand() == 3_504_872 == count("mobilenet-v2")  # torchvision's card
    assert count("mobilenet-v2", num_classes=10) == mobilenet_v2_by_hand(10)


def vit_by_hand(patch, layers, hidden, mlp, image=224, classes=1000):
    """torchvision's ViT: patchify conv, class token (D), position embeddings ((S + 1) x D),
    L blocks of [LayerNorm (2D), attention (in_proj 3D x D + 3D, out_proj D x D + D),
    LayerNorm, MLP Linear(D, M) + Linear(M, D)], a final LayerNorm, the head Linear(D, classes).
    """
    d, tokens = hidden, (image // patch) ** 2 + 1
    block = 2 * d + (3 * d * d + 3 * d) + linear(d, d) + 2 * d + linear(d, mlp) + linear(mlp, d)
    return conv(3, d, patch) + d + tokens * d + layers * block + 2 * d + linear(d, classes)


VITS = {  # patch, layers, hidden, mlp, torchvision's published count
    "vit-b-16": (16, 12, 768, 3072, 86_567_656),
    "vit-b-32": (32, 12, 768, 3072, 88_224_232),
    "vit-l-16": (16, 24, 1024, 4096, 304_326_632),
    "vit-l-32": (32, 24, 1024, 4096, 306_535_400),
    "vit-h-14": (14, 32, 1280, 5120, 632_045_800),
}


@pytest.mark.parametrize("name", VITS)
def test_vit_family_matches_torchvision_counts(name):
    patch, layers, hidden, mlp, published = VITS[name]
    assert vit_by_hand(patch, layers, hidden, mlp) == published == count(name)
    assert count(name, num_classes=10) == vit_by_hand(patch, layers, hidden, mlp, classes=10)
    # only the position embeddings depend on the image size: 2 x 2 patches -> 5 tokens
    assert count(name, image_size=2 * patch) == vit_by_hand(patch, layers, hidden, mlp, 2 * patch)


def test_fcn_baseline():
    down = sum(
        conv(a, b, 3) + bn(b) for a, b in zip((3, 32, 64, 128, 256), (32, 64, 128, 256, 512))
    )
    # ConvTranspose2d(a, b, 3) weight (a, b, 3, 3) + bias b
    up = sum(
        conv(a, b, 3) + bn(b) for a, b in zip((512, 512, 256, 128, 64), (512, 256, 128, 64, 32))
    )
    assert count("fcn-baseline") == down + up + conv(32, 21, 1)


def test_unet():
    def double(a, b):
        return conv(a, b, 3) + bn(b) + conv(b, b, 3) + bn(b)

    down = double(3, 64) + double(64, 128) + double(128, 256) + double(256, 512)
    bottleneck = double(512, 1024)
    # up block: ConvTranspose2d(k2) c -> c/2 (weight c*(c/2)*4 + bias c/2), concat, double(c, c/2)
    up = sum((c * (c // 2) * 4 + c // 2) + double(c, c // 2) for c in (1024, 512, 256, 128))
    assert count("unet") == down + bottleneck + up + conv(64, 21, 1)


def test_resnet18_fcn_counts_encoder_and_decoder_and_freezes_encoder():
    up = sum(
        conv(a, b, 3) + bn(b) for a, b in zip((512, 512, 256, 128, 64), (512, 256, 128, 64, 32))
    )
    decoder = up + conv(32, 21, 1)
    model = models.get("resnet18-fcn")
    assert model.num_parameters() == resnet18_features() + decoder
    assert model.num_parameters(only_trainable=True) == decoder


def test_small_cnn_the_train_default():
    # 3 x [conv3 (no bias: BN follows) + BN], conv3 64->64 + BN, global max pool, Linear(64, 10)
    by_hand = (
        (conv(3, 16, 3, bias=False) + bn(16))  # 464
        + (conv(16, 32, 3, bias=False) + bn(32))  # 4,672
        + (conv(32, 64, 3, bias=False) + bn(64))  # 18,560
        + (conv(64, 64, 3, bias=False) + bn(64))  # 36,992
        + linear(64, 10)  # 650
    )
    assert by_hand == 61_338
    assert count("small-cnn") == by_hand
    # the global max pool makes the count independent of the image size
    assert count("small-cnn", in_channels=1, image_size=28) == by_hand - 9 * 16 * 2


def test_mlp():
    assert count("mlp") == linear(3 * 32 * 32, 256) + linear(256, 128) + linear(128, 10)
    assert count("mlp", in_channels=1, image_size=28, hidden=64) == (
        linear(28 * 28, 64) + linear(64, 32) + linear(32, 10)
    )


def test_small_fcn():
    def cbr(a, b):  # conv3 without bias + BN
        return conv(a, b, 3, bias=False) + bn(b)

    def up(c):  # ConvTranspose2d(c, c, k2, s2) without bias (weight c*c*2*2) + BN
        return c * c * 2 * 2 + bn(c)

    down = cbr(3, 16) + cbr(16, 32) + cbr(32, 64)
    middle = cbr(64, 64)
    decoder = up(64) + cbr(64, 32) + up(32) + cbr(32, 16) + up(16) + cbr(16, 16)
    assert count("small-fcn") == down + middle + decoder + conv(16, 10, 1)


@pytest.mark.parametrize("info", models.list_models(), ids=lambda i: i.name)
def test_every_registered_model_has_a_hand_count_here(info):
    covered = {
        "e1", "e2", "e2-extra-conv", "three-layer", "unit-block-mnist", "unit-block-cifar10",
        "two-decoder", "deep-cnn-mnist", "deep-cnn-res-cifar10", "resnet18", "fcn-baseline",
        "unet", "resnet18-fcn", "small-cnn", "mlp", "small-fcn", "alexnet", "mobilenet-v2",
        *RESNETS, *VGGS, *VGG_BN, *VITS,
        # by hand in test_segmentation.py
        "fcn-resnet50", "fcn-resnet101", "deeplabv3-resnet50", "deeplabv3-resnet101",
        # by hand in test_segmentation_mobilenet.py
        "lraspp-mobilenet-v3-large", "deeplabv3-mobilenet-v3-large",
        # by hand in test_more_models.py
        "densenet121", "densenet161", "densenet169", "densenet201", "squeezenet1-0",
        "squeezenet1-1", "shufflenet-v2-x0-5", "shufflenet-v2-x1-0", "shufflenet-v2-x1-5",
        "shufflenet-v2-x2-0", "googlenet",
        # by hand in test_modern_models.py
        "mobilenet-v3-large", "mobilenet-v3-small", "convnext-tiny", "convnext-small",
        "convnext-base", "convnext-large",
        *(f"efficientnet-b{i}" for i in range(8)),
        "efficientnet-v2-s", "efficientnet-v2-m", "efficientnet-v2-l",
    }  # fmt: skip
    assert info.name in covered, f"add a by-hand parameter count test for {info.name!r}"
