"""The named networks of the course reports (../shared/SEED_MODELS.md), found by name.

    from minitorch_cv import models
    net = models.get("three-layer", filters=(64, 128, 256), activation="leaky_relu")
    for m in models.list_models():
        print(m.name, m.input_size, m.num_classes, m.description)

    A  unit-block-mnist, unit-block-cifar10    UnitBlockNet        (unit_block.py)
    B  two-decoder                             TwoDecoderSegNet    (two_decoder.py)
    C  deep-cnn-mnist, deep-cnn-res-cifar10    DeepCNN, ResBlock   (deep_cnn.py)
    D  fcn-baseline, unet, resnet18-fcn        FCNBaseline, UNet, ResNetFCN (fcn.py)
    E  e1, e2, e2-extra-conv                   SmallCNN, ImprovedCNN (small_cnn.py)
    F  three-layer (ablations as options)      ThreeLayerCNN       (three_layer.py)
       resnet18/34/50/101/152, resnext50-32x4d, resnext101-32x8d, wide-resnet50-2,
       wide-resnet101-2                        ResNet, BasicBlock, Bottleneck (resnet.py)
       alexnet, vgg11/13/16/19 (and -bn)       AlexNet, VGG        (classic.py)
       mobilenet-v2                            MobileNetV2, InvertedResidual (mobilenet.py)
       vit-b-16, vit-b-32, vit-l-16, vit-l-32, vit-h-14
                                               VisionTransformer, EncoderBlock (vit.py)
       small-cnn, mlp, small-fcn               quick CLI defaults  (simple.py)

Register your own with the `register` decorator; `get` then builds it by name.
"""

from ._registry import ModelInfo, get, info, list_models, register
from .classic import (
    VGG,
    AlexNet,
    alexnet,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
    vgg_features,
)
from .deep_cnn import DeepCNN, ResBlock
from .fcn import FCNBaseline, ResNetFCN, UNet
from .mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from .resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    freeze,
    replace_head,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnext50_32x4d,
    resnext101_32x8d,
    trainable_parameters,
    unfreeze,
    wide_resnet50_2,
    wide_resnet101_2,
)
from .simple import SmallFCN  # registers small-cnn, mlp and small-fcn too
from .small_cnn import ImprovedCNN, SmallCNN
from .three_layer import ThreeLayerCNN
from .two_decoder import TwoDecoderSegNet
from .unit_block import UnitBlock, UnitBlockNet
from .vit import (
    ConvStemConfig,
    Encoder,
    EncoderBlock,
    MLPBlock,
    VisionTransformer,
    interpolate_embeddings,
    upgrade_legacy_keys,
    vit_b_16,
    vit_b_32,
    vit_h_14,
    vit_l_16,
    vit_l_32,
)
from .weights import load_npz, load_pth, load_state_dict_file, load_weights, save_npz

__all__ = [
    "VGG",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "ConvStemConfig",
    "DeepCNN",
    "Encoder",
    "EncoderBlock",
    "FCNBaseline",
    "ImprovedCNN",
    "InvertedResidual",
    "MLPBlock",
    "MobileNetV2",
    "ModelInfo",
    "ResBlock",
    "ResNet",
    "ResNetFCN",
    "SmallCNN",
    "SmallFCN",
    "ThreeLayerCNN",
    "TwoDecoderSegNet",
    "UNet",
    "UnitBlock",
    "UnitBlockNet",
    "VisionTransformer",
    "freeze",
    "get",
    "info",
    "interpolate_embeddings",
    "list_models",
    "load_npz",
    "load_pth",
    "load_state_dict_file",
    "load_weights",
    "mobilenet_v2",
    "register",
    "replace_head",
    "alexnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
    "vgg_features",
    "vit_b_16",
    "vit_b_32",
    "vit_l_16",
    "vit_l_32",
    "vit_h_14",
    "wide_resnet50_2",
    "wide_resnet101_2",
    "save_npz",
    "trainable_parameters",
    "unfreeze",
    "upgrade_legacy_keys",
]
