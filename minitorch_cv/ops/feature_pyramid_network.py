"""Feature Pyramid Network (Lin et al., 2017), torchvision.ops.FeaturePyramidNetwork with its
extra blocks LastLevelMaxPool (Faster / Mask R-CNN's 'pool' level) and LastLevelP6P7
(RetinaNet's P6 and P7).

From a backbone's feature maps, highest resolution first, the FPN builds maps of one width:
a 1x1 lateral conv ("inner block") per level, a top-down pathway that adds each coarser merged
map, upsampled (nearest) to the lateral's size, and a 3x3 conv ("layer block") on every merged
map. Input and output are OrderedDicts name -> (N, C, H, W) tensor, as torchvision's.

    fpn = FeaturePyramidNetwork([64, 128, 256], 32, extra_blocks=LastLevelMaxPool())
    out = fpn(OrderedDict(c3=x3, c4=x4, c5=x5))   # keys c3, c4, c5, pool; 32 channels each
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from .. import functional as F
from .. import init
from ..layers.container import ModuleList
from ..layers.conv import Conv2d
from ..layers.module import Module
from .misc import Conv2dNormActivation


class ExtraFPNBlock(Module):
    """Base class of the FPN's extra blocks: `forward(results, x, names)` gets the FPN's outputs,
    the original feature maps and their names (lists, highest resolution first) and returns the
    extended (results, names)."""


class LastLevelMaxPool(ExtraFPNBlock):
    """Adds a level 'pool': the last FPN output subsampled by 2 (max_pool2d with kernel 1,
    stride 2: every second row and column)."""

    def forward(self, x: list, y: list, names: list) -> tuple[list, list]:
        names.append("pool")
        x.append(F.max_pool2d(x[-1], 1, 2, 0))
        return x, names


class LastLevelP6P7(ExtraFPNBlock):
    """Adds levels 'p6' (a 3x3 stride-2 conv of P5, or of C5 when in_channels != out_channels)
    and 'p7' (a 3x3 stride-2 conv of relu(P6)), RetinaNet's.

    Args:
        in_channels (int): channels of the map P6 is computed from.
        out_channels (int): channels of P6 and P7.

    Submodules: p6, p7 (Conv2d, kaiming_uniform_(a=1) weights, zero bias). Attribute: use_P5.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.p6 = Conv2d(in_channels, out_channels, 3, 2, 1)
        self.p7 = Conv2d(out_channels, out_channels, 3, 2, 1)
        for module in (self.p6, self.p7):
            init.kaiming_uniform_(module.weight, a=1)
            init.constant_(module.bias, 0)
        self.use_P5 = in_channels == out_channels

    def forward(self, p: list, c: list, names: list) -> tuple[list, list]:
        p6 = self.p6(p[-1] if self.use_P5 else c[-1])
        p7 = self.p7(F.relu(p6))
        p.extend([p6, p7])
        names.extend(["p6", "p7"])
        return p, names


class FeaturePyramidNetwork(Module):
    """FPN on top of feature maps given in increasing depth (decreasing resolution).

    Args:
        in_channels_list (list of int): channels of each input map, in the input's order.
        out_channels (int): channels of every output map.
        extra_blocks (ExtraFPNBlock or None): adds levels after the FPN, e.g. LastLevelMaxPool().
            Default: None.
        norm_layer (callable or None): norm after each conv (built with out_channels); the
            convs then have no bias. Default: None.

    Submodules: inner_blocks (ModuleList of Conv2dNormActivation, 1x1 convs in_channels ->
    out_channels) and layer_blocks (3x3 convs out_channels -> out_channels), so keys read
    'inner_blocks.0.0.weight', 'layer_blocks.2.0.bias', ... as torchvision's; every conv weight
    kaiming_uniform_(a=1), every bias 0; extra_blocks.

    Shape: OrderedDict name -> (N, C_i, H_i, W_i) -> OrderedDict name -> (N, out_channels, H_i,
    W_i), same names and order, then the extra blocks' levels. Each coarser merged map is
    upsampled to the next lateral's (H_i, W_i) with mode='nearest', so sizes need not halve.
    """

    def __init__(self, in_channels_list, out_channels: int, extra_blocks=None, norm_layer=None):
        super().__init__()
        if len(in_channels_list) == 0:
            raise ValueError("FeaturePyramidNetwork: in_channels_list is empty; give one per map")
        self.inner_blocks = ModuleList()
        self.layer_blocks = ModuleList()
        for in_channels in in_channels_list:
            if in_channels == 0:
                raise ValueError("FeaturePyramidNetwork: in_channels=0 is currently not supported")
            self.inner_blocks.append(
                Conv2dNormActivation(
                    in_channels,
                    out_channels,
                    kernel_size=1,
                    padding=0,
                    norm_layer=norm_layer,
                    activation_layer=None,
                )
            )
            self.layer_blocks.append(
                Conv2dNormActivation(
                    out_channels,
                    out_channels,
                    kernel_size=3,
                    norm_layer=norm_layer,
                    activation_layer=None,
                )
            )
        # initialised before extra_blocks is attached, which keeps its own init
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_uniform_(m.weight, a=1)
                if m.bias is not None:
                    init.constant_(m.bias, 0)
        if extra_blocks is not None and not isinstance(extra_blocks, ExtraFPNBlock):
            raise TypeError(
                "FeaturePyramidNetwork: extra_blocks should be of type ExtraFPNBlock not "
                f"{type(extra_blocks)}"
            )
        self.extra_blocks = extra_blocks

    def _check_input(self, x) -> None:
        if not isinstance(x, Mapping):
            raise TypeError(
                "FeaturePyramidNetwork: expected an OrderedDict name -> (N, C, H, W) tensor, got "
                f"{type(x).__name__}"
            )
        want = [blk[0].in_channels for blk in self.inner_blocks]
        got = [tuple(v.shape) for v in x.values()]
        if len(got) != len(want) or any(len(s) != 4 or s[1] != c for s, c in zip(got, want)):
            raise ValueError(
                f"FeaturePyramidNetwork: expected {len(want)} feature maps (N, C, H, W) with "
                f"C = {want}, got shapes {got}"
            )

    def forward(self, x):
        self._check_input(x)
        names, feats = list(x.keys()), list(x.values())
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            inner_lateral = self.inner_blocks[idx](feats[idx])
            top_down = F.interpolate(
                last_inner, size=tuple(inner_lateral.shape[-2:]), mode="nearest"
            )
            last_inner = inner_lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(results, feats, names)
        return OrderedDict(zip(names, results))
