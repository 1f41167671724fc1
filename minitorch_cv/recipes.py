"""The training recipes of the course reports (../shared/SEED_MODELS.md), as data, and a runner.

Each `Recipe` is one experiment of a report: model (registry name + options), dataset and splits,
optimizer and learning rate, batch size, epochs, early-stopping rule, augmentation, scheduler,
loss, the metric the report used, and its reported figure. Values that SEED_MODELS.md does not
give are our choices and are listed in the recipe's `assumed` field, so a results table can say
which settings are the report's and which are not.

    from minitorch_cv.recipes import get_recipe, list_recipes, run_recipe
    r = get_recipe("f-default")
    row = run_recipe("f-default", data_dir="../shared/datasets", out="runs/f-default")

`run_recipe` writes the run folder of `minitorch-cv train` (config.json, history.csv/json, the
curves PNG, last/best checkpoints, metrics.json) plus result.json, the row of a results table.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

# CIFAR-10 per-channel statistics of the training set, and ImageNet's (for pretrained ResNets)
# the reports say when training stops, not which weights are then evaluated
RESTORES_BEST = "early stopping restores the best epoch's weights"

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Recipe:
    """One experiment of a report, as data.

    Attributes:
        name: the experiment's name ('a-mnist', 'f-dropout', ...).
        report: the SEED_MODELS.md section ('A'..'F').
        description: one line.
        model, model_options: `minitorch_cv.models.get(model, **model_options)`.
        dataset, dataset_options: `minitorch_cv.data.get_dataset(dataset, split, **options)`.
        val_split: a fraction of the training set held out for validation (e.g. 0.2), the name
            of a dataset split ('val'), or None (no validation pass).
        eval_split: the split the reported figure was measured on ('test', or 'val' for VOC).
        optimizer: a key of `optim.OPTIMIZERS` ('sgd', 'adam', 'adamw', 'rmsprop', ...); lr;
            optimizer_options (betas, momentum, weight decay, ...).
        batch_size, epochs (the most epochs; early stopping may end sooner), shuffle (reshuffle
            the training set each epoch).
        early_stopping: keyword arguments of `train.EarlyStopping`, or None.
        scheduler: {'name': 'cosine'} (T_max = epochs) or None.
        loss: {'name': 'cross_entropy', 'ignore_index': ..., 'class_weights': 'inverse_frequency'}.
        normalize: {'mean': ..., 'std': ...} applied to every split, or None.
        augmentation: training-only transforms, e.g. ({'name': 'hflip'},
            {'name': 'rotation', 'degrees': 10}, {'name': 'crop', 'size': 32, 'padding': 4}).
        metric: the report's metric: 'acc', 'mean_recall', 'pixel_acc' (+ 'miou').
        reported: the report's figures, e.g. {'acc': 0.988} (fractions).
        target: the figure a reproduction must reach (the issue's bar), or None.
        pretrained: 'torchvision-resnet18' when the model starts from ImageNet weights.
        assumed: the fields whose values are ours, not the report's.
    """

    name: str
    report: str
    description: str
    model: str
    dataset: str
    optimizer: str
    lr: float
    batch_size: int
    epochs: int
    metric: str
    reported: dict
    model_options: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    val_split: float | str | None = None
    eval_split: str = "test"
    optimizer_options: dict = field(default_factory=dict)
    shuffle: bool = True
    early_stopping: dict | None = None
    scheduler: dict | None = None
    loss: dict = field(default_factory=lambda: {"name": "cross_entropy"})
    normalize: dict | None = None
    augmentation: tuple = ()
    target: float | None = None
    pretrained: str | None = None
    assumed: tuple = ()
    seed: int = 0

    def to_dict(self) -> dict:
        """JSON-able dict of every field (what config.json records)."""
        d = asdict(self)
        d["augmentation"] = [dict(a) for a in self.augmentation]
        d["assumed"] = list(self.assumed)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        """The Recipe that `to_dict` wrote (e.g. a run folder's config.json 'recipe')."""
        d = dict(d)
        d["augmentation"] = tuple(dict(a) for a in d.get("augmentation", ()))
        d["assumed"] = tuple(d.get("assumed", ()))
        return cls(**d)

    def command(self, **overrides) -> str:
        """The `minitorch-cv reproduce` command line that runs this recipe."""
        args = ["minitorch-cv", "reproduce", self.name]
        for k, v in overrides.items():
            if v is not None and v is not False:
                args += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
        return shlex.join(args)


# --------------------------------------------------------------------------- A
_A = dict(
    report="A",
    optimizer="adam",
    lr=0.002,
    optimizer_options={"betas": (0.9, 0.999)},
    batch_size=128,
    epochs=100,
    val_split=0.2,
    early_stopping={"monitor": "val_loss", "ratio": 1.1, "ratio_patience": 5},
    metric="acc",
    assumed=(
        "epochs (an upper bound; the early-stopping rule ends the run)",
        "shuffle",
        RESTORES_BEST,
    ),
)
A_MNIST = Recipe(
    name="a-mnist",
    description="A: 1 unit block on MNIST",
    model="unit-block-mnist",
    dataset="mnist",
    reported={"acc": 0.9880},
    target=0.988,
    **_A,
)
A_CIFAR = Recipe(
    name="a-cifar10",
    description="A: 4 unit blocks on CIFAR-10",
    model="unit-block-cifar10",
    dataset="cifar10",
    reported={"acc": 0.7982},
    target=0.798,
    **_A,
)

# --------------------------------------------------------------------------- B
B = Recipe(
    name="b-mnist-on-cifar",
    report="B",
    model="two-decoder",
    dataset="mnist-on-cifar",
    description="B: two-decoder segmentation of MNIST digits pasted on CIFAR-10 (20 classes)",
    optimizer="adam",
    lr=0.002,
    batch_size=128,
    epochs=100,
    metric="pixel_acc",
    reported={"pixel_acc": 0.7424},
    target=0.74,
    assumed=("shuffle", "no validation split"),
)

# --------------------------------------------------------------------------- C
C_MNIST = Recipe(
    name="c-mnist",
    report="C",
    model="deep-cnn-mnist",
    dataset="mnist",
    description="C: plain 4-conv CNN on MNIST",
    optimizer="adam",
    lr=1e-3,
    batch_size=16,
    epochs=10,
    metric="acc",
    reported={"acc": 0.9376},
    assumed=("optimizer", "lr", "epochs", "shuffle"),
)
C_CIFAR = Recipe(
    name="c-cifar10",
    report="C",
    model="deep-cnn-res-cifar10",
    dataset="cifar10",
    description="C: 4-conv CNN with ResBlocks on CIFAR-10",
    optimizer="adam",
    lr=1e-3,
    batch_size=128,
    epochs=20,
    metric="acc",
    reported={"acc": 0.7683},
    assumed=("optimizer", "lr", "epochs", "shuffle"),
)

# --------------------------------------------------------------------------- D
_D = dict(
    report="D",
    dataset="voc2007",
    dataset_options={"size": 224},
    val_split="val",
    eval_split="val",
    optimizer="adamw",
    lr=1e-3,
    optimizer_options={"weight_decay": 0.01},
    batch_size=16,
    epochs=50,
    early_stopping={"monitor": "val_loss", "patience": 3},
    loss={"name": "cross_entropy", "ignore_index": 255},
    metric="pixel_acc",
    assumed=(
        "lr 1e-3 and AdamW's default weight decay 0.01",
        "epochs (an upper bound)",
        "images resized (not cropped) to 224x224",
        RESTORES_BEST,
    ),
)
_VOC_AUG = (
    {"name": "hflip"},
    {"name": "rotation", "degrees": 10},
    {"name": "crop", "size": 224, "padding": 16},
)
D_BASE = Recipe(
    name="d-fcn-baseline",
    description="D: FCN baseline on VOC 2007",
    model="fcn-baseline",
    reported={"pixel_acc": 0.7208, "miou": 0.059},
    **_D,
)
D_COSINE = replace(
    D_BASE,
    name="d-fcn-cosine",
    description="D: FCN + cosine-annealing LR",
    scheduler={"name": "cosine"},
    reported={"pixel_acc": 0.7158, "miou": 0.061},
)
D_AUG = replace(
    D_COSINE,
    name="d-fcn-augment",
    description="D: FCN + cosine + augmentation",
    augmentation=_VOC_AUG,
    reported={"pixel_acc": 0.7099, "miou": 0.064},
    assumed=D_BASE.assumed + ("rotation +-10 degrees, crop 224 from 16-pixel padding",),
)
D_WEIGHTED = replace(
    D_AUG,
    name="d-fcn-weighted",
    description="D: FCN + cosine + augmentation + weighted loss",
    loss={"name": "cross_entropy", "ignore_index": 255, "class_weights": "inverse_frequency"},
    reported={"pixel_acc": 0.6911, "miou": 0.068},
)
D_UNET = replace(
    D_BASE,
    name="d-unet",
    description="D: U-Net on VOC 2007",
    model="unet",
    reported={"pixel_acc": 0.7233, "miou": 0.083},
    assumed=D_BASE.assumed + ("the baseline's training recipe",),
)
D_RESNET = replace(
    D_BASE,
    name="d-resnet18-fcn",
    description="D: frozen ImageNet ResNet-18 encoder + FCN decoder",
    model="resnet18-fcn",
    pretrained="torchvision-resnet18",
    normalize={"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    reported={"pixel_acc": 0.7445, "miou": 0.150},
    assumed=D_BASE.assumed + ("the baseline's training recipe", "ImageNet normalization"),
)

# --------------------------------------------------------------------------- E
E1 = Recipe(
    name="e1",
    report="E",
    model="e1",
    dataset="cifar10",
    description="E1: small CNN, CIFAR-10",
    optimizer="adam",
    lr=1e-3,
    batch_size=64,
    epochs=10,
    val_split=0.1,
    metric="acc",
    reported={"train_acc": 0.845, "val_acc": 0.723, "acc": 0.720},
    assumed=("optimizer", "lr", "batch size", "epochs", "10 % validation split", "shuffle"),
)
E2 = Recipe(
    name="e2",
    report="E",
    model="e2",
    dataset="cifar10",
    description="E2: improved small CNN with BN, flip augmentation, weight decay",
    optimizer="adam",
    lr=2e-4,
    optimizer_options={"weight_decay": 5e-4},
    batch_size=64,
    epochs=10,
    val_split=0.1,
    early_stopping={"monitor": "val_loss", "patience": 4},
    normalize={"mean": CIFAR10_MEAN, "std": CIFAR10_STD},
    augmentation=({"name": "hflip"},),
    metric="acc",
    reported={"acc": 0.801},
    target=0.80,
    assumed=(
        "10 % validation split",
        "the usual CIFAR-10 channel mean / std",
        "shuffle",
        RESTORES_BEST,
    ),
)
E2_EXTRA = replace(
    E2,
    name="e2-extra-conv",
    model="e2-extra-conv",
    description="E2 with one more conv layer",
    reported={"acc": 0.8165},
    target=None,
    assumed=E2.assumed + ("where the extra conv goes (after the third)",),
)
E_TRANSFER = Recipe(
    name="e-resnet18-transfer",
    report="E",
    model="resnet18",
    model_options={"num_classes": 10},
    dataset="cifar10",
    description="E: ImageNet ResNet-18 fine-tuned on CIFAR-10 (32x32 input)",
    pretrained="torchvision-resnet18",
    optimizer="adam",
    lr=1e-4,
    batch_size=64,
    epochs=10,
    val_split=0.1,
    early_stopping={"monitor": "val_loss", "patience": 4},
    normalize={"mean": IMAGENET_MEAN, "std": IMAGENET_STD},
    augmentation=({"name": "hflip"},),
    metric="acc",
    reported={"acc": 0.9014},
    assumed=(
        "optimizer",
        "lr",
        "batch size",
        "epochs",
        "input kept at 32x32",
        "ImageNet normalization",
        "early stopping as E2",
        RESTORES_BEST,
    ),
)

# --------------------------------------------------------------------------- F
# each ablation starts from the best configuration so far (SEED_MODELS.md): wider filters beat
# the default; extra FC and 7/5/3 kernels did not; LeakyReLU, dropout and BN each did; batch 256,
# lr 0.1 and shuffling, tried on top of BN, did not beat it (0.7487).
F_DEFAULT = Recipe(
    name="f-default",
    report="F",
    model="three-layer",
    dataset="cifar10",
    description="F: three-layer CNN, default",
    optimizer="sgd",
    lr=0.001,
    optimizer_options={"momentum": 0.9},
    batch_size=64,
    epochs=30,
    shuffle=False,
    normalize={"mean": 0.5, "std": 1.0},
    metric="mean_recall",
    reported={"mean_recall": 0.6932},
    target=0.69,
    assumed=("SGD momentum 0.9 (as PyTorch's CIFAR-10 tutorial)", "epochs"),
)
_WIDE = {"filters": (64, 128, 256)}
_LEAKY = {**_WIDE, "activation": "leaky_relu"}
_DROP = {**_LEAKY, "dropout": 0.3}
_BN = {**_DROP, "batch_norm": True}


def _f(name, description, recall, options, **kw):
    return replace(
        F_DEFAULT,
        name=name,
        description=description,
        model_options=options,
        reported={"mean_recall": recall},
        target=None,
        **kw,
    )


F_RECIPES = [
    F_DEFAULT,
    _f("f-wider", "F: filters 64/128/256", 0.7146, _WIDE),
    _f("f-extra-fc", "F: wider + an extra Linear(512, 128)", 0.7018, {**_WIDE, "extra_fc": 128}),
    _f("f-kernels", "F: wider + kernels 7/5/3", 0.7003, {**_WIDE, "kernel_sizes": (7, 5, 3)}),
    _f("f-leaky-relu", "F: wider + LeakyReLU", 0.7199, _LEAKY),
    _f("f-dropout", "F: wider + LeakyReLU + dropout 0.3", 0.7358, _DROP),
    replace(
        _f("f-batch-norm", "F: wider + LeakyReLU + dropout + BN (all kept ablations)", 0.7487, _BN),
        target=0.75,
    ),
    _f("f-batch-256", "F: best + batch 256", 0.7236, _BN, batch_size=256),
    _f("f-lr-0.1", "F: best + lr 0.1", 0.7391, _BN, lr=0.1),
    _f("f-shuffle", "F: best + shuffling each epoch", 0.7479, _BN, shuffle=True),
]

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        A_MNIST,
        A_CIFAR,
        B,
        C_MNIST,
        C_CIFAR,
        D_BASE,
        D_COSINE,
        D_AUG,
        D_WEIGHTED,
        D_UNET,
        D_RESNET,
        E1,
        E2,
        E2_EXTRA,
        E_TRANSFER,
        *F_RECIPES,
    ]
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name` (case and '_' forgiven); ValueError listing the valid names."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in RECIPES:
        raise ValueError(f"unknown experiment {name!r}; valid names: {', '.join(RECIPES)}")
    return RECIPES[key]


def list_recipes() -> list[Recipe]:
    """Every recipe, in report order (A, B, C, D, E, F)."""
    return list(RECIPES.values())


# --------------------------------------------------------------------------- building the pieces


def build_model(recipe: Recipe):
    """(the recipe's model with its options, its number of classes)."""
    from . import models

    options = dict(recipe.model_options)
    num_classes = options.get("num_classes", models.info(recipe.model).num_classes)
    return models.get(recipe.model, **options), num_classes


def build_transforms(recipe: Recipe):
    """(training transform, evaluation transform): augmentation then normalization for
    training (random erasing after it, so its 0 fills with the mean), normalization only for
    evaluation; None where there is nothing to do. Each augmentation is {'name': ..., **the
    transform's arguments}: hflip, vflip, rotation, crop, resized_crop, color_jitter, erasing."""
    from .data import transforms as T

    kinds = {
        "hflip": T.RandomHorizontalFlip,
        "vflip": T.RandomVerticalFlip,
        "rotation": T.RandomRotation,
        "crop": T.RandomCrop,
        "resized_crop": T.RandomResizedCrop,
        "color_jitter": T.ColorJitter,
        "erasing": T.RandomErasing,
    }
    norm = (
        [T.Normalize(recipe.normalize["mean"], recipe.normalize["std"])] if recipe.normalize else []
    )
    before, after = [], []
    for a in recipe.augmentation:
        options = dict(a)
        kind = options.pop("name")
        if kind not in kinds:
            raise ValueError(
                f"recipe {recipe.name}: unknown augmentation {kind!r}; known: {', '.join(kinds)}"
            )
        (after if kind == "erasing" else before).append(kinds[kind](**options))
    train = before + norm + after
    return (T.Compose(train) if train else None), (T.Compose(norm) if norm else None)


def build_optimizer(recipe: Recipe, parameters):
    """The recipe's optimizer over `parameters` (give only the trainable ones)."""
    from . import optim

    if recipe.optimizer not in optim.OPTIMIZERS:
        raise ValueError(f"recipe {recipe.name}: unknown optimizer {recipe.optimizer!r}")
    cls = optim.OPTIMIZERS[recipe.optimizer]
    return cls(list(parameters), lr=recipe.lr, **recipe.optimizer_options)


def build_scheduler(recipe: Recipe, optimizer, epochs: int):
    """CosineAnnealingLR(T_max=epochs) for {'name': 'cosine'}, else None."""
    if recipe.scheduler is None:
        return None
    from .optim.lr_scheduler import CosineAnnealingLR

    if recipe.scheduler["name"] != "cosine":
        raise ValueError(f"recipe {recipe.name}: unknown scheduler {recipe.scheduler['name']!r}")
    return CosineAnnealingLR(
        optimizer, T_max=max(1, epochs), eta_min=recipe.scheduler.get("eta_min", 0.0)
    )


def build_loss(recipe: Recipe, train_set, num_classes: int):
    """CrossEntropyLoss with the recipe's ignore_index and, for 'inverse_frequency', class
    weights from the training set's label (pixel) counts."""
    from .layers import CrossEntropyLoss
    from .train import class_weights

    spec = dict(recipe.loss)
    if spec.pop("name") != "cross_entropy":
        raise ValueError(f"recipe {recipe.name}: unknown loss {recipe.loss['name']!r}")
    ignore = spec.pop("ignore_index", -100)
    weight = None
    if spec.pop("class_weights", None) == "inverse_frequency":
        weight = class_weights(train_set, num_classes, ignore_index=ignore if ignore >= 0 else None)
    return CrossEntropyLoss(weight=weight, ignore_index=ignore)


def build_metrics(recipe: Recipe, num_classes: int):
    """The report's metric objects (fit's 'auto' when the loss' defaults are what it used)."""
    from .train import metrics as M

    if recipe.metric == "mean_recall":
        return [M.Accuracy(), M.MeanRecall(num_classes)]
    if recipe.metric == "pixel_acc":
        ignore = recipe.loss.get("ignore_index", 255)
        ignore = ignore if ignore >= 0 else None
        return [M.PixelAccuracy(ignore_index=ignore), M.MeanIoU(num_classes, ignore_index=ignore)]
    return [M.Accuracy()]


def _hardware(device) -> str:
    dev = str(device or "cpu")
    if dev.startswith("cuda"):
        from .backend import cupy_module

        cp = cupy_module()
        props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"{name} (GPU, {dev})"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores"


def run_recipe(
    recipe,
    data_dir=None,
    out=None,
    *,
    epochs: int | None = None,
    device=None,
    weights=None,
    seed: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    results_table=None,
) -> dict:
    """Train and evaluate one experiment; write its run folder; return its results-table row.

    Args:
        recipe: a name from `list_recipes()` or a Recipe.
        data_dir: folder of the dataset files (default: the data package's default).
        out: the run folder (default runs/<name>). It must not already hold a run unless
            `resume` or `overwrite`.
        epochs (int): override the recipe's epochs; fewer is a shortened schedule (the row says
            so), more a longer one (epochs_run above max_epochs; a cosine schedule then spans
            all of them).
        device: 'cpu' (default) or 'cuda'.
        weights: ImageNet resnet18 `.pth` / `.npz` for recipes with `pretrained` (required there).
        seed (int): override the recipe's seed.
        limit (int): train on the first `limit` training items only (smoke runs).
        progress (bool): progress bars. resume (bool): continue the run in `out`.
        overwrite (bool): replace a finished run in `out`.
        results_table: a CSV file; the row is appended (header written when new).

    Writes into `out`: config.json, history.csv, history.json, curves.png, last.npz,
    best.npz, metrics.json (the evaluation split's loss and metrics), result.json (the row).

    Returns:
        The row: experiment, model, dataset, metric, reported, ours, epochs_run, max_epochs,
        shortened, wall_s, s_per_epoch, projected_full_s, hardware, command, assumed.
    """
    from . import manual_seed, models
    from .data import DataLoader, Subset, get_dataset, random_split
    from .models import trainable_parameters
    from .train import EarlyStopping, HistoryWriter, evaluate, fit
    from .train.plots import plot_history

    recipe = recipe if isinstance(recipe, Recipe) else get_recipe(recipe)
    seed = recipe.seed if seed is None else int(seed)
    full_epochs = recipe.epochs
    epochs = full_epochs if epochs is None else int(epochs)
    out = Path(out) if out is not None else Path("runs") / recipe.name
    if (out / "history.json").exists() and not (resume or overwrite):
        raise FileExistsError(
            f"run_recipe: {out} already holds a run; pass resume=True to continue it or "
            "overwrite=True to replace it"
        )
    if recipe.pretrained and weights is None:
        raise ValueError(
            f"recipe {recipe.name} starts from ImageNet weights: pass weights=<path to "
            "torchvision's resnet18 .pth (e.g. resnet18-f37072fd.pth) or an .npz of it>"
        )
    out.mkdir(parents=True, exist_ok=True)
    manual_seed(seed)

    # data: training set (optionally cut), validation (held out or a split), evaluation split
    train_set = get_dataset(recipe.dataset, "train", data_dir, **recipe.dataset_options)
    val_set = None
    if isinstance(recipe.val_split, float):
        train_set, val_set = random_split(
            train_set, (1 - recipe.val_split, recipe.val_split), seed=seed
        )
    elif isinstance(recipe.val_split, str):
        val_set = get_dataset(recipe.dataset, recipe.val_split, data_dir, **recipe.dataset_options)
    if limit is not None:
        train_set = Subset(train_set, np.arange(min(int(limit), len(train_set))))
    eval_set = (
        val_set
        if recipe.eval_split == recipe.val_split
        else get_dataset(recipe.dataset, recipe.eval_split, data_dir, **recipe.dataset_options)
    )
    train_tf, eval_tf = build_transforms(recipe)
    bs = recipe.batch_size
    train_loader = DataLoader(
        train_set, bs, shuffle=recipe.shuffle, seed=seed, transform=train_tf, device=device
    )
    val_loader = (
        None if val_set is None else DataLoader(val_set, bs, transform=eval_tf, device=device)
    )
    eval_loader = DataLoader(eval_set, bs, transform=eval_tf, device=device)

    # model, optimizer, scheduler, loss, metrics, callbacks
    model, num_classes = build_model(recipe)
    if recipe.pretrained:
        if hasattr(model, "load_encoder_weights"):
            model.load_encoder_weights(weights)
        else:
            models.load_weights(model, weights, skip=("fc.",))
    optimizer = build_optimizer(recipe, trainable_parameters(model))
    # a shortened run is the start of the recipe's schedule; a longer one stretches it
    scheduler = build_scheduler(recipe, optimizer, max(epochs, full_epochs))
    loss_fn = build_loss(recipe, train_set, num_classes)
    metrics = build_metrics(recipe, num_classes)
    callbacks = [HistoryWriter(out)]
    if recipe.early_stopping and val_loader is not None:
        callbacks.insert(0, EarlyStopping(**recipe.early_stopping))

    command = recipe.command(
        data_dir=data_dir,
        out=out,
        epochs=None if epochs == full_epochs else epochs,
        device=device,
        weights=weights,
        seed=None if seed == recipe.seed else seed,
        limit=limit,
    )
    config = {
        "recipe": recipe.to_dict(),
        "epochs": epochs,
        "seed": seed,
        "limit": limit,
        "device": str(device or "cpu"),
        "data_dir": None if data_dir is None else str(data_dir),
        "weights": None if weights is None else str(weights),
        "command": command,
    }
    (out / "config.json").write_text(json.dumps(config, indent=1, default=str))

    # a resumed run's wall time includes the epochs run before (their training + validation)
    earlier = 0.0
    if resume and (out / "history.json").exists():
        rows = json.loads((out / "history.json").read_text())  # History.to_json: one per epoch
        earlier = sum(float(r.get("seconds") or 0.0) for r in rows)
    start = time.perf_counter()
    history = fit(
        model,
        loss_fn,
        optimizer,
        train_loader,
        val_loader,
        epochs=epochs,
        scheduler=scheduler,
        metrics=metrics,
        callbacks=callbacks,
        device=device,
        checkpoint_dir=out,
        resume=resume,
        progress=progress,
        meta={"recipe": recipe.name, "seed": seed},
    )
    wall = earlier + time.perf_counter() - start
    history.to_csv(out / "history.csv")
    history.to_json(out / "history.json")
    plot_history(history, out / "curves.png", title=recipe.description)

    results = evaluate(
        model, loss_fn, eval_loader, metrics=build_metrics(recipe, num_classes), device=device
    )
    scalars = {k: float(v) for k, v in results.items() if np.ndim(v) == 0}
    (out / "metrics.json").write_text(json.dumps({"split": recipe.eval_split, **scalars}, indent=1))

    epochs_run = len(history)
    per_epoch = [r.get("seconds") for r in history if r.get("seconds") is not None]
    s_per_epoch = float(np.mean(per_epoch)) if per_epoch else wall / max(1, epochs_run)
    stopped = bool(getattr(history, "stop_reason", ""))
    row = {
        "experiment": recipe.name,
        "report": recipe.report,
        "model": recipe.model,
        "dataset": recipe.dataset,
        "metric": recipe.metric,
        "split": recipe.eval_split,
        "reported": recipe.reported.get(recipe.metric),
        "ours": scalars.get(recipe.metric),
        "target": recipe.target,
        "epochs_run": epochs_run,
        "max_epochs": full_epochs,
        "shortened": (epochs < full_epochs and not stopped) or limit is not None,
        "early_stopped": stopped,
        "wall_s": round(wall, 1),
        "s_per_epoch": round(s_per_epoch, 2),
        "projected_full_s": None if stopped else round(s_per_epoch * full_epochs, 1),
        "hardware": _hardware(device),
        "command": command,
        "assumed": "; ".join(recipe.assumed),
        **{f"ours_{k}": v for k, v in scalars.items() if k != recipe.metric},
    }
    (out / "result.json").write_text(json.dumps(row, indent=1, default=str))
    if results_table is not None:
        _append_row(Path(results_table), row)
    return row


def evaluate_run(
    run,
    checkpoint: str = "best",
    data_dir=None,
    split: str | None = None,
    device=None,
    batch_size: int | None = None,
    limit: int | None = None,
) -> dict:
    """Evaluate a `run_recipe` folder's best.npz or last.npz with the recipe's own
    transforms and metrics (e.g. the last epoch's weights where early stopping restored the
    best): the recipe comes from the folder's config.json.

    Args:
        run: the run folder. checkpoint: 'best' or 'last'.
        data_dir: folder of the dataset files (default: the run's own).
        split: the dataset split (default: the recipe's evaluation split).
        device: 'cpu' (default) or 'cuda'.
        batch_size: default the recipe's. limit: the first `limit` items only.

    Returns:
        {'checkpoint', 'epoch', 'split', 'n', 'loss' (plain cross-entropy), the recipe's
        metrics}.
    """
    from .data import DataLoader, Subset, get_dataset
    from .layers import CrossEntropyLoss
    from .train import evaluate, load_checkpoint, load_model_state

    run = Path(run)
    config_path, ck_path = run / "config.json", run / f"{checkpoint}.npz"
    for f in (config_path, ck_path):
        if not f.is_file():
            raise FileNotFoundError(f"evaluate_run: {run} is not a reproduce run: no {f.name}")
    config = json.loads(config_path.read_text())
    recipe = Recipe.from_dict(config["recipe"])
    data_dir = data_dir if data_dir is not None else config.get("data_dir")
    split = split or recipe.eval_split
    dataset = get_dataset(recipe.dataset, split, data_dir, **recipe.dataset_options)
    if limit is not None and limit < len(dataset):
        dataset = Subset(dataset, np.arange(int(limit)))
    model, num_classes = build_model(recipe)
    if device is not None:
        model.to(device)
    ck = load_checkpoint(ck_path)
    load_model_state(model, ck)
    loader = DataLoader(dataset, batch_size or recipe.batch_size,
                        transform=build_transforms(recipe)[1], device=device)  # fmt: skip
    loss_fn = CrossEntropyLoss(ignore_index=recipe.loss.get("ignore_index", -100))  # unweighted
    results = evaluate(model, loss_fn, loader, metrics=build_metrics(recipe, num_classes),
                       device=device)  # fmt: skip
    scalars = {k: float(v) for k, v in results.items() if np.ndim(v) == 0}
    return {"checkpoint": str(ck_path), "epoch": ck["epoch"], "split": split, "n": len(dataset),
            **scalars}  # fmt: skip


def _append_row(path: Path, row: dict) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fields = [
        "experiment",
        "report",
        "model",
        "dataset",
        "metric",
        "split",
        "reported",
        "ours",
        "target",
        "epochs_run",
        "max_epochs",
        "shortened",
        "early_stopped",
        "wall_s",
        "s_per_epoch",
        "projected_full_s",
        "hardware",
        "command",
        "assumed",
    ]
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)
