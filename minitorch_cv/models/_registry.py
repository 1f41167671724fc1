"""The model registry: names -> builders, with the defaults, input size and class count of each.

A model class (or any function returning a Module) is registered under a name with `register`;
one class may be registered several times with different defaults (presets):

    @register("three-layer", "F: three-layer CIFAR-10 CNN", input_size=(3, 32, 32), num_classes=10)
    class ThreeLayerCNN(Module): ...

`get(name, **options)` builds it; options override the preset's defaults.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

_REGISTRY: dict[str, ModelInfo] = {}


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry.

    Attributes:
        name: the registry name ('e1', 'unit-block-mnist', ...).
        builder: the class or function that builds the model.
        description: one line for `minitorch-cv models`.
        input_size: (C, H, W) of one input the preset is meant for.
        num_classes: output classes (per pixel for segmentation).
        task: 'classification' or 'segmentation'.
        defaults: keyword arguments this preset passes to the builder.
    """

    name: str
    builder: Callable
    description: str
    input_size: tuple[int, int, int]
    num_classes: int
    task: str = "classification"
    defaults: dict = field(default_factory=dict)

    def build(self, **options):
        """The model, built with the preset's defaults overridden by `options`."""
        return self.builder(**{**self.defaults, **_checked_options(self, options)})

    def num_parameters(self, **options) -> int:
        """Parameter count of the model built with `options` (built without filling its
        weights: no random draws for the 138M of a VGG-16)."""
        from ..init import skip_init

        with skip_init():
            return self.build(**options).num_parameters()


def _canonical(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def _checked_options(info: ModelInfo, options: dict) -> dict:
    """Refuse options the builder does not take, naming the valid ones."""
    params = inspect.signature(info.builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    valid = [n for n, p in params.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    bad = [k for k in options if k not in valid]
    if bad:
        raise TypeError(
            f"model {info.name!r}: unknown option(s) {', '.join(map(repr, bad))}; "
            f"valid options: {', '.join(valid)}"
        )
    return options


def register(
    name: str,
    description: str,
    *,
    input_size: tuple[int, int, int],
    num_classes: int,
    task: str = "classification",
    **defaults,
):
    """Decorator: register a Module class or builder function under `name`.

    Args:
        name (str): registry name; lookups ignore case and treat '_' as '-'.
        description (str): one line for listings.
        input_size (tuple): (C, H, W) the preset expects.
        num_classes (int): classes predicted (per pixel for segmentation).
        task (str): 'classification' or 'segmentation'. Default: 'classification'.
        **defaults: keyword arguments passed to the builder by this preset.

    The decorated object is returned unchanged, so decorators can be stacked for presets.
    """
    key = _canonical(name)
    if task not in ("classification", "segmentation"):
        raise ValueError(f"register({name!r}): task must be 'classification' or 'segmentation'")

    def deco(builder):
        if key in _REGISTRY and _REGISTRY[key].builder is not builder:
            raise ValueError(f"register: a different model is already registered as {key!r}")
        info = ModelInfo(key, builder, description, tuple(input_size), num_classes, task, defaults)
        _checked_options(info, defaults)
        _REGISTRY[key] = info
        return builder

    return deco


def info(name: str) -> ModelInfo:
    """The registry entry of `name`; ValueError listing the valid names if there is none."""
    key = _canonical(name)
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid names: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[key]


def get(name: str, **options):
    """Build the registered model `name` (e.g. 'e1', 'three-layer', 'resnet18').

    Args:
        name (str): a name from `list_models()`.
        **options: override the preset's constructor arguments, e.g.
            `get('three-layer', filters=(64, 128, 256), activation='leaky_relu')`.
    """
    return info(name).build(**options)


def list_models() -> list[ModelInfo]:
    """Every registered model, sorted by name (name, description, input size, classes, ...)."""
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
