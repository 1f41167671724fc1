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
       mobilenet-v3-large, mobilenet-v3-small  MobileNetV3, InvertedResidualConfig (mobilenetv3.py;
                                               its block is models.mobilenetv3.InvertedResidual)
       efficientnet-b0 .. -b7, efficientnet-v2-s/m/l
                                               EfficientNet, MBConv, FusedMBConv, MBConvConfig,
                                               FusedMBConvConfig (efficientnet.py)
       convnext-tiny/small/base/large          ConvNeXt, CNBlock, CNBlockConfig (convnext.py)
       vit-b-16, vit-b-32, vit-l-16, vit-l-32, vit-h-14
                                               VisionTransformer, EncoderBlock (vit.py)
       fcn-resnet50/101, deeplabv3-resnet50/101
                                               FCN, DeepLabV3, FCNHead, DeepLabHead, ASPP
                                               (segmentation.py)
       deeplabv3-mobilenet-v3-large            DeepLabV3 on MobileNetV3-Large (segmentation.py)
       lraspp-mobilenet-v3-large               LRASPP, LRASPPHead  (lraspp.py)
       densenet121/161/169/201                 DenseNet            (densenet.py)
       squeezenet1-0, squeezenet1-1            SqueezeNet, Fire    (squeezenet.py)
       shufflenet-v2-x0-5/x1-0/x1-5/x2-0       ShuffleNetV2        (shufflenet.py; its unit is
                                               models.shufflenet.InvertedResidual)
       googlenet                               GoogLeNet, Inception, InceptionAux (googlenet.py)
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
from .convnext import (
    CNBlock,
    CNBlockConfig,
    ConvNeXt,
    convnext_base,
    convnext_large,
    convnext_small,
    convnext_tiny,
)
from .deep_cnn import DeepCNN, ResBlock
from .densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from .efficientnet import (
    EfficientNet,
    FusedMBConv,
    FusedMBConvConfig,
    MBConv,
    MBConvConfig,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
    efficientnet_b5,
    efficientnet_b6,
    efficientnet_b7,
    efficientnet_v2_l,
    efficientnet_v2_m,
    efficientnet_v2_s,
)
from .fcn import FCNBaseline, ResNetFCN, UNet
from .googlenet import GoogLeNet, GoogLeNetOutputs, Inception, InceptionAux, googlenet
from .lraspp import LRASPP, LRASPPHead, lraspp_mobilenet_v3_large
from .mobilenet import InvertedResidual, MobileNetV2, mobilenet_v2
from .mobilenetv3 import (
    InvertedResidualConfig,
    MobileNetV3,
    mobilenet_v3_large,
    mobilenet_v3_small,
)
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
from .segmentation import (
    ASPP,
    FCN,
    ASPPConv,
    ASPPPooling,
    DeepLabHead,
    DeepLabV3,
    FCNHead,
    IntermediateLayerGetter,
    deeplabv3_mobilenet_v3_large,
    deeplabv3_resnet50,
    deeplabv3_resnet101,
    fcn_resnet50,
    fcn_resnet101,
)
from .shufflenet import (
    ShuffleNetV2,
    shufflenet_v2_x0_5,
    shufflenet_v2_x1_0,
    shufflenet_v2_x1_5,
    shufflenet_v2_x2_0,
)
from .simple import SmallFCN  # registers small-cnn, mlp and small-fcn too
from .small_cnn import ImprovedCNN, SmallCNN
from .squeezenet import Fire, SqueezeNet, squeezenet1_0, squeezenet1_1
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
    "ASPP",
    "ASPPConv",
    "ASPPPooling",
    "FCN",
    "VGG",
    "AlexNet",
    "BasicBlock",
    "Bottleneck",
    "CNBlock",
    "CNBlockConfig",
    "ConvNeXt",
    "ConvStemConfig",
    "DeepCNN",
    "DeepLabHead",
    "DeepLabV3",
    "DenseNet",
    "EfficientNet",
    "Encoder",
    "EncoderBlock",
    "FCNBaseline",
    "FCNHead",
    "Fire",
    "FusedMBConv",
    "FusedMBConvConfig",
    "GoogLeNet",
    "GoogLeNetOutputs",
    "ImprovedCNN",
    "Inception",
    "InceptionAux",
    "IntermediateLayerGetter",
    "InvertedResidual",
    "InvertedResidualConfig",
    "LRASPP",
    "LRASPPHead",
    "MBConv",
    "MBConvConfig",
    "MLPBlock",
    "MobileNetV2",
    "MobileNetV3",
    "ModelInfo",
    "ResBlock",
    "ResNet",
    "ResNetFCN",
    "ShuffleNetV2",
    "SmallCNN",
    "SmallFCN",
    "SqueezeNet",
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
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "register",
    "replace_head",
    "alexnet",
    "convnext_base",
    "convnext_large",
    "convnext_small",
    "convnext_tiny",
    "deeplabv3_resnet50",
    "deeplabv3_resnet101",
    "deeplabv3_mobilenet_v3_large",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "efficientnet_b5",
    "efficientnet_b6",
    "efficientnet_b7",
    "efficientnet_v2_l",
    "efficientnet_v2_m",
    "efficientnet_v2_s",
    "fcn_resnet50",
    "fcn_resnet101",
    "googlenet",
    "lraspp_mobilenet_v3_large",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
    "squeezenet1_0",
    "squeezenet1_1",
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
