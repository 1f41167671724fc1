"""The `minitorch-cv` command line: the only module that reads argv.

    minitorch-cv train                     # small CNN on the synthetic shapes set, offline, < 1 min
    minitorch-cv train --model e2 --dataset cifar10 --epochs 10 --augment --out runs/e2
    minitorch-cv train --dataset imagefolder --data-dir photos --image-size 64   # your own images
    minitorch-cv train --out runs/e2 --resume --epochs 20     # continue (or extend) a run
    minitorch-cv evaluate runs/e2 --split test                # metrics JSON + plots
    minitorch-cv reproduce f-default                          # a report's exact recipe
    minitorch-cv models                                       # the model zoo, with parameter counts
    minitorch-cv summary --model small-cnn --input-size 3,32,32
    minitorch-cv datasets                                     # what is found locally, and where
    minitorch-cv exercises list                               # hand-worked problems
    minitorch-cv demo                                         # an MLP on two spirals

Every command's options: `minitorch-cv COMMAND --help`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, exercises, manual_seed, models, optim, recipes
from . import functional as F
from . import layers as nn
from .backend import cupy_module
from .backend import device as parse_device
from .data import (
    DATASETS,
    CorruptFileError,
    DataLoader,
    DatasetFolder,
    DownloadError,
    Subset,
    find_datasets,
    format_datasets_report,
    get_dataset,
    random_split,
)
from .data import transforms as T
from .data.registry import canonical_name
from .data.synthetic import DEFAULT_COUNTS
from .optim import lr_scheduler
from .summary import summary
from .tensor import Tensor, no_grad, tensor
from .train import (
    CheckpointError,
    EarlyStopping,
    HistoryWriter,
    NonFiniteLossError,
    evaluate,
    fit,
    load_checkpoint,
    load_model_state,
)
from .train import metrics as M
from .train.history import _write_text

# minitorch_cv.train.plots is imported where a figure is drawn: it loads Matplotlib (~1 s)

RUN_FILES = ("config.json", "last.npz", "best.npz", "history.csv", "history.json", "metrics.json",
             "curves.png", "confusion_matrix.png", "segmentation.png")  # fmt: skip


class CLIError(Exception):
    """A problem with the command's input: printed as one line, exit status 2."""


def _print_table(header, rows, right=()) -> None:
    """Aligned columns under a header; the columns numbered in `right` are right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]
    for row in cells:
        print("  ".join(c.rjust(w) if j in right else c.ljust(w)
                        for j, (c, w) in enumerate(zip(row, widths))).rstrip())  # fmt: skip


# --------------------------------------------------------------------------- models


def _model_info(name: str, task: str | None = None) -> models.ModelInfo:
    """The zoo entry of `name`, checked to suit a dataset of `task`; CLIError naming valid ones."""
    try:
        entry = models.info(name)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if task is not None and entry.task != task:
        raise CLIError(
            f"model {name!r} is a {entry.task} model, the dataset is for {task}; "
            f"pick a {task} model from `minitorch-cv models`"
        )
    return entry


def build_model(name: str, input_shape, num_classes: int, task: str | None = None):
    """Build zoo model `name` for inputs of `input_shape` (C, H, W) and `num_classes` classes.

    The builder gets in_channels, num_classes and image_size (= H) where it takes them. An
    unknown name, another task's model or a size the network cannot take: CLIError.
    """
    entry = _model_info(name, task)
    c, h, _ = input_shape
    takes = inspect.signature(entry.builder).parameters
    sizes = {"in_channels": c, "num_classes": num_classes, "image_size": h}
    try:
        return entry.build(**{k: v for k, v in sizes.items() if k in takes})
    except ValueError as e:
        raise CLIError(str(e)) from None


def _cmd_models(args) -> int:
    rows = [(m.name, m.task, "x".join(map(str, m.input_size)), m.num_classes,
             f"{m.num_parameters():,}", m.description) for m in models.list_models()]  # fmt: skip
    _print_table(("name", "task", "input", "classes", "parameters", "description"), rows, {3, 4})
    return 0


def _parse_shape(text: str) -> tuple:
    try:
        shape = tuple(int(v) for v in str(text).replace("x", ",").split(",") if v.strip())
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise CLIError(f"--input-size {text!r}: expected C,H,W such as 3,32,32")
    return shape


def _cmd_summary(args) -> int:
    if args.name and args.model and args.name != args.model:
        raise CLIError(f"two models given: {args.name!r} and --model {args.model!r}")
    name = args.name or args.model or "small-cnn"
    entry = _model_info(name)
    shape = _parse_shape(args.input_size) if args.input_size else entry.input_size
    model = build_model(name, shape, args.num_classes or entry.num_classes)
    try:
        table = summary(model, shape)
    except ValueError as e:  # the network cannot take this size: names the first failing layer
        raise CLIError(str(e)) from None
    print(table)
    return 0


# --------------------------------------------------------------------------- data


def _dataset_key(name: str) -> str:
    try:
        return canonical_name(name)
    except ValueError:
        raise CLIError(f"unknown dataset {name!r}; valid datasets: {', '.join(DATASETS)}") from None


def _first(ds, limit):
    """At most `limit` items of ds: the first ones, or for an image folder (its items sorted by
    class) evenly spaced ones, so that a short try still sees every class."""
    if limit is None or limit >= len(ds):
        return ds
    if isinstance(ds, DatasetFolder):
        return Subset(ds, [i * len(ds) // limit for i in range(limit)])
    return Subset(ds, list(range(limit)))


def _takes_image_size(key: str) -> bool:
    """Whether the dataset resizes its images to --image-size (imagefolder: your own images)."""
    return "image_size" in inspect.signature(DATASETS[key].build).parameters


def _split(cfg: dict, name: str):
    """Split `name` of the config's dataset, at most cfg['limit'] items (synthetic sets are then
    generated at that size), downloading missing files when cfg['download'] is set."""
    key = _dataset_key(cfg["dataset"])
    info, limit = DATASETS[key], cfg.get("limit")
    kw = {"download": True} if info.files and cfg.get("download") else {}
    if not info.files and limit is not None:
        kw["n"] = min(int(limit), DEFAULT_COUNTS.get(name, int(limit)))
    if _takes_image_size(key):  # imagefolder: the run's size, and its channels once recorded
        if cfg.get("image_size") is not None:
            kw["image_size"] = cfg["image_size"]
        if cfg.get("input_shape"):
            kw["in_channels"] = int(cfg["input_shape"][0])
    return get_dataset(key, name, cfg.get("data_dir"), **kw)


def _check_classes(recorded, classes, cfg: dict, source: str) -> None:
    """CLIError when the dataset's classes are not those the run was trained on (recorded in
    its config): another image folder would otherwise be scored under the wrong class names,
    or fail on the head's shape."""
    classes = [str(c) for c in classes]
    if recorded is not None and list(recorded) != classes:
        raise CLIError(
            f"the run was trained on the classes {', '.join(recorded)} ({source}); the "
            f"dataset {cfg['dataset']!r} in {cfg.get('data_dir') or 'the default data folder'} "
            f"has {', '.join(classes)}"
        )


def _splits_found(cfg: dict) -> tuple:
    """The config's dataset's splits: all it has, or those present on disk (imagefolder)."""
    return DATASETS[_dataset_key(cfg["dataset"])].splits_found(cfg.get("data_dir"))


def load_splits(cfg: dict) -> dict:
    """{'train', 'val', 'test'} datasets for a config: the dataset's own val split when it has
    one, else a seeded 80/20 split of its training set; 'test' when the dataset has one."""
    splits = _splits_found(cfg)
    limit = cfg.get("limit")
    train = _split(cfg, "train")
    if "val" in splits:
        val = _split(cfg, "val")
    else:
        train, val = random_split(train, (0.8, 0.2), seed=cfg["seed"])
    test = _split(cfg, "test") if "test" in splits else None
    return {"train": _first(train, limit), "val": _first(val, limit),
            "test": None if test is None else _first(test, limit)}  # fmt: skip


def _augmentation(image_shape):
    _, h, w = image_shape
    return T.Compose([T.RandomHorizontalFlip(), T.RandomCrop((h, w), padding=max(1, h // 8))])


# --------------------------------------------------------------------------- train

TRAIN_DEFAULTS = {
    "model": "small-cnn",
    "dataset": "shapes",
    "data_dir": None,
    "epochs": 5,
    "batch_size": 64,
    "lr": None,  # per optimizer: _default_lr
    "optimizer": "adam",
    "weight_decay": 0.0,
    "scheduler": "cosine",
    "augment": False,
    "label_smoothing": 0.0,
    "mixup": None,
    "cutmix": None,
    "early_stopping": "none",
    "grad_clip": None,
    "device": "cpu",
    "seed": 0,
    "limit": None,
    "image_size": None,  # imagefolder: the model's input size
}
# settings a resumed run may change; the others must match the run's config.json
_RESUMABLE = {"epochs", "device", "data_dir"}
# --lr when not given: 3e-3 (tuned for Adam) unless the optimizer's own scale differs by orders of
# magnitude; Adadelta and Rprop get PyTorch's defaults (Adadelta at 3e-3 barely moves)
_LR = 3e-3
_OPTIMIZER_LR = {"adadelta": 1.0, "rprop": 1e-2}


def _default_lr(optimizer: str) -> float:
    """The learning rate a run of `optimizer` uses when --lr is not given."""
    return _OPTIMIZER_LR.get(str(optimizer).lower(), _LR)


def parse_early_stopping(spec: str):
    """'none', 'patience:N', 'ratio' (= ratio:1.1:5) or 'ratio:R:W' -> an EarlyStopping or None."""
    s = str(spec).strip().lower()
    parts = s.split(":")
    try:
        if s in ("none", "off", ""):
            return None
        if parts[0] == "patience" and len(parts) == 2:
            return EarlyStopping(patience=int(parts[1]))
        if parts[0] == "ratio" and len(parts) <= 3:
            r = float(parts[1]) if len(parts) > 1 else 1.1
            w = int(parts[2]) if len(parts) > 2 else 5
            return EarlyStopping(ratio=r, ratio_patience=w)
    except ValueError as e:
        raise CLIError(f"--early-stopping {spec!r}: {e}") from None
    raise CLIError(
        f"--early-stopping {spec!r} is not understood; use none, patience:N (stop after N "
        "epochs without a better val loss), ratio (val loss above 1.1 x its minimum for 5 "
        "epochs) or ratio:R:W"
    )


def _optimizer(cfg, params):
    name, lr, wd = cfg["optimizer"].lower(), cfg["lr"], cfg["weight_decay"]
    if name not in optim.OPTIMIZERS:
        raise CLIError(
            f"unknown optimizer {cfg['optimizer']!r}; valid optimizers: "
            f"{', '.join(optim.OPTIMIZERS)}"
        )
    cls = optim.OPTIMIZERS[name]
    extra = {"momentum": 0.9} if name == "sgd" else {}
    if "weight_decay" in inspect.signature(cls).parameters:
        extra["weight_decay"] = wd
    elif wd:  # Rprop has none, as in PyTorch
        raise CLIError(f"optimizer {name!r} takes no weight decay; drop --weight-decay")
    return cls(params, lr=lr, **extra)


SCHEDULERS = ("none", "cosine", "step", "plateau", "onecycle")


def _scheduler(cfg, opt, steps_per_epoch: int):
    """(scheduler or None, 'epoch' or 'step': when fit steps it)."""
    name = (cfg["scheduler"] or "none").lower()
    epochs = max(1, cfg["epochs"])
    if name == "none":
        return None, "epoch"
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(opt, T_max=epochs), "epoch"
    if name == "step":
        return lr_scheduler.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1), "epoch"
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2), "epoch"
    if name == "onecycle":  # --lr is the peak; stepped after every batch
        # the momentum (or Adam's beta1) cycles too, where the optimizer has one: not Adagrad,
        # Adadelta or Rprop, which OneCycleLR would refuse
        cycle = "momentum" in opt.defaults or "betas" in opt.defaults
        sched = lr_scheduler.OneCycleLR(opt, max_lr=cfg["lr"], epochs=epochs,
                                        steps_per_epoch=steps_per_epoch,
                                        cycle_momentum=cycle)  # fmt: skip
        return sched, "step"
    raise CLIError(f"unknown scheduler {cfg['scheduler']!r}; valid schedulers: "
                   f"{', '.join(SCHEDULERS)}")  # fmt: skip


def _loss(task: str, label_smoothing: float = 0.0):
    if task == "segmentation":
        return nn.CrossEntropyLoss(ignore_index=255, label_smoothing=label_smoothing)
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)


def _check_mixing(cfg, task: str) -> None:
    if (cfg["mixup"] is not None or cfg["cutmix"] is not None) and task != "classification":
        raise CLIError("--mixup and --cutmix mix class labels: they need a classification dataset")


def _mixers(cfg, num_classes: int) -> list:
    """The MixUp / CutMix of --mixup / --cutmix (both: one picked per batch)."""
    return [cls(alpha, num_classes=num_classes)
            for cls, alpha in ((T.MixUp, cfg["mixup"]), (T.CutMix, cfg["cutmix"]))
            if alpha is not None]  # fmt: skip


def _final_metrics(model, loader, task: str, classes, device) -> dict:
    """Loss and metrics over a loader, JSON-ready, plus the confusion matrix."""
    k = len(classes)
    if task == "segmentation":
        ms = [M.PixelAccuracy(255), M.MeanIoU(k, 255), M.IoU(k, 255), M.ConfusionMatrix(k, 255)]
    else:
        ms = [M.Accuracy(), M.MeanRecall(k), M.ConfusionMatrix(k)]
    res = evaluate(model, _loss(task), loader, ms, device)
    cm = ms[-1]
    out = {k_: v for k_, v in res.items() if not hasattr(v, "shape")}
    per_class = {"recall": cm.recall(), "precision": cm.precision()}
    if task == "segmentation":
        per_class["iou"] = cm.iou()
    out["per_class"] = {
        name: {c: (None if math.isnan(v) else float(v)) for c, v in zip(map(str, classes), vals)}
        for name, vals in per_class.items()
    }
    out["confusion_matrix"] = cm.compute().tolist()
    out["classes"] = [str(c) for c in classes]
    return {k_: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k_, v in out.items()}  # fmt: skip


def _result_plots(model, loader, task, classes, cm, folder: Path, suffix: str = "") -> None:
    """confusion_matrix.png (classification) or segmentation.png (first 4 images)."""
    from .train import plots

    names = [str(c) for c in classes]
    if task != "segmentation":
        plots.plot_confusion_matrix(np.asarray(cm), folder / f"confusion_matrix{suffix}.png", names)
        return
    x, y = next(iter(loader))
    x, y = x[:4], y[:4]
    was = model.training
    model.eval()
    with no_grad():
        pred = model(x)
    model.train(was)
    if isinstance(pred, dict):  # torchvision's segmentation models: OrderedDict(out=[, aux=])
        pred = pred["out"]
    plots.plot_segmentation(Tensor(x._data), y, pred, folder / f"segmentation{suffix}.png",
                            class_names=names)  # fmt: skip


def _check_device(spec) -> None:
    """A CLIError now, rather than a traceback later, for a device that cannot be used."""
    try:
        if parse_device(spec).type == "cuda":
            cupy_module()
    except (ValueError, RuntimeError) as e:
        raise CLIError(str(e)) from None


def _holds_run(folder: Path) -> list[str]:
    return [
        f for f in ("config.json", "last.npz", "best.npz", "history.json") if (folder / f).exists()
    ]


def _write_json(path: Path, obj) -> None:
    _write_text(path, json.dumps(obj, indent=1) + "\n")


def _train_config(args) -> tuple[dict, Path]:
    """The run's settings: the defaults, overridden by config.json on --resume, overridden by the
    options given on the command line; and the output folder."""
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None}
    if args.resume and args.overwrite:
        raise CLIError("--resume and --overwrite exclude each other")
    if args.resume:
        if args.out is None:
            raise CLIError("--resume needs --out, the folder of the run to continue")
        out = Path(args.out)
        if not (out / "last.npz").exists() or not (out / "config.json").exists():
            raise CLIError(f"nothing to resume in {out}: it has no config.json and last.npz")
        saved = json.loads((out / "config.json").read_text())
        cfg = {k: saved.get(k, v) for k, v in TRAIN_DEFAULTS.items()}
        if cfg["lr"] is None:  # a config.json without one
            cfg["lr"] = _default_lr(cfg["optimizer"])
        for k, v in given.items():
            if k not in _RESUMABLE and v != cfg[k]:
                raise CLIError(
                    f"--{k.replace('_', '-')} {v} differs from the run's {cfg[k]!r} "
                    f"({out / 'config.json'}); a resumed run keeps its settings (only "
                    f"{', '.join('--' + r.replace('_', '-') for r in sorted(_RESUMABLE))} "
                    "may change)"
                )
        cfg.update(given)
        return cfg, out
    cfg = {**TRAIN_DEFAULTS, **given}
    if cfg["lr"] is None:  # resolved here, so config.json records the rate actually used
        cfg["lr"] = _default_lr(cfg["optimizer"])
    if args.out is None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        out = Path("runs") / f"{cfg['model']}-{cfg['dataset']}-{stamp}"
    else:
        out = Path(args.out)
    found = _holds_run(out)
    if found and not args.overwrite:
        raise CLIError(
            f"output folder {out} already holds a run ({', '.join(found)}); pass --resume to "
            "continue it, --overwrite to replace it, or choose another --out"
        )
    if args.overwrite:
        for f in RUN_FILES:
            (out / f).unlink(missing_ok=True)
    return cfg, out


def _cmd_train(args) -> int:
    from .train import plots

    t_start = time.perf_counter()
    cfg, out = _train_config(args)
    args.run_folder = out  # for the resume hint after Ctrl-C
    cfg["download"] = args.download  # how to get the files, not a setting of the run
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    # unknown names, a model of the wrong task and mixing masks fail before any data is read
    key = _dataset_key(cfg["dataset"])
    dataset_task = DATASETS[key].task
    entry = _model_info(cfg["model"], dataset_task)
    if not _takes_image_size(key) and cfg["image_size"] is not None:
        raise CLIError(f"--image-size resizes the images of --dataset imagefolder; {key!r} "
                       "has its own size")  # fmt: skip
    if _takes_image_size(key) and cfg["image_size"] is None:  # recorded in config.json
        cfg["image_size"] = int(entry.input_size[1])
    _check_mixing(cfg, dataset_task)
    early = parse_early_stopping(cfg["early_stopping"])
    _check_device(cfg["device"])

    splits = load_splits(cfg)
    if len(splits["val"]) == 0:  # an 80/20 split of fewer than 4 images (an image folder)
        raise CLIError(f"the validation split of {cfg['dataset']!r} is empty: 20 % of its "
                       f"{len(splits['train'])} training images rounds to none; add images "
                       "(or a val/ folder of them to an image folder)")  # fmt: skip
    train_set = splits["train"]
    task, shape, classes = train_set.task, tuple(train_set.image_shape), list(train_set.classes)
    if args.resume:  # a new --data-dir must hold the same classes
        saved = json.loads((out / "config.json").read_text())
        _check_classes(saved.get("classes"), classes, cfg, str(out / "config.json"))
    manual_seed(cfg["seed"])
    model = build_model(cfg["model"], shape, len(classes), task)
    opt = _optimizer(cfg, model.parameters())
    dev = cfg["device"]
    aug = _augmentation(shape) if cfg["augment"] else None
    # a last batch of one image is dropped: BatchNorm after a global pool (DeepLabV3's ASPP)
    # cannot train on it, as in torch (torchvision's reference drops every partial batch)
    lone = len(train_set) > 1 and len(train_set) % cfg["batch_size"] == 1
    train_loader = DataLoader(train_set, cfg["batch_size"], shuffle=True, seed=cfg["seed"],
                              transform=aug, device=dev, drop_last=lone,
                              mix=_mixers(cfg, len(classes)))  # fmt: skip
    sched, interval = _scheduler(cfg, opt, len(train_loader))
    val_loader = DataLoader(splits["val"], cfg["batch_size"], device=dev)
    n_params = model.num_parameters()
    info = {"version": __version__, "task": task, "input_shape": list(shape),
            "num_classes": len(classes), "classes": [str(c) for c in classes],
            "parameters": n_params, "sizes": {k: (None if v is None else len(v))
                                              for k, v in splits.items()}}  # fmt: skip
    config = {**{k: v for k, v in cfg.items() if k != "download"}, **info, "out": str(out)}
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / "config.json", config)  # on --resume: the same, with the new --epochs
    say(f"training {cfg['model']} ({n_params:,} parameters) on {cfg['dataset']} "
        f"({len(train_set)} train / {len(splits['val'])} val images) for {cfg['epochs']} "
        f"epochs on {dev}; writing {out}")  # fmt: skip

    callbacks = ([early] if early else []) + [HistoryWriter(out)]
    history = fit(model, _loss(task, cfg["label_smoothing"]), opt, train_loader, val_loader,
                  epochs=cfg["epochs"],
                  scheduler=sched, scheduler_interval=interval, callbacks=callbacks, device=dev,
                  grad_clip=cfg["grad_clip"], checkpoint_dir=out, resume=bool(args.resume),
                  progress=not args.quiet,
                  meta={"config": config, "model": cfg["model"]})  # fmt: skip
    if history:
        history.to_csv(out / "history.csv")
        history.to_json(out / "history.json")
        plots.plot_history(history, out / "curves.png", title=f"{cfg['model']} on {cfg['dataset']}")

    # final metrics with the best epoch's weights (by validation loss, or the early-stopping one)
    best = out / "best.npz"
    if best.exists():
        load_model_state(model, best)
    split = "test" if splits["test"] is not None else "val"
    loader = DataLoader(splits[split], cfg["batch_size"], device=dev)
    metrics = _final_metrics(model, loader, task, classes, dev)
    monitor, mode = (early.monitor, early.mode) if early else ("val_loss", "min")
    result = {"split": split, "checkpoint": "best.npz", "best_epoch": history.best_epoch(monitor),
              "epochs_run": len(history), "stop_reason": getattr(history, "stop_reason", ""),
              "best_epoch_logs": history.best(monitor, mode),
              "seconds": time.perf_counter() - t_start, **metrics}  # fmt: skip
    _write_json(out / "metrics.json", result)
    _result_plots(model, loader, task, classes, metrics["confusion_matrix"], out)

    if task == "segmentation":
        headline = (
            f"{split} pixel accuracy {metrics['pixel_acc']:.2%}, mean IoU {metrics['miou']:.3f}"
        )
    else:
        headline = f"{split} accuracy {metrics['acc']:.2%}"
    say(f"{headline} (best epoch {result['best_epoch']} of {len(history)}"
        + (f"; stopped early: {result['stop_reason']}" if result["stop_reason"] else "")
        + f") in {result['seconds']:.1f} s; results in {out}")  # fmt: skip
    return 0


# --------------------------------------------------------------------------- evaluate


def _cmd_evaluate(args) -> int:
    path = Path(args.checkpoint)
    if path.is_dir():
        found = [c for c in (path / "best.npz", path / "last.npz") if c.exists()]
        if not found:
            raise CLIError(f"{path} holds no checkpoint (best.npz or last.npz)")
        path = found[0]
    ck = load_checkpoint(path)
    cfg = (ck.get("meta") or {}).get("config")
    if cfg is None and (ck.get("meta") or {}).get("recipe"):  # a `reproduce` run
        return _evaluate_recipe_run(path, args)
    if cfg is None:
        raise CLIError(f"{path} does not record the config of its run (model and dataset); "
                       "it was not written by `minitorch-cv train`")  # fmt: skip
    cfg = {**cfg, "limit": args.limit, "download": args.download}
    if args.data_dir is not None:
        cfg["data_dir"] = args.data_dir
    key = _dataset_key(cfg["dataset"])
    found = _splits_found(cfg)
    # by default the split of the run's final metrics: test, else val (an image folder without
    # a test/ folder)
    args.split = args.split or ("test" if "test" in found else "val")
    if args.split not in found and args.split not in ("train", "val"):
        valid = dict.fromkeys(("train", "val", *found))  # val: carved out of train if need be
        raise CLIError(f"dataset {key!r} has no split {args.split!r}; valid splits: "
                       f"{', '.join(valid)}")  # fmt: skip
    if args.split in found and args.split != "train":
        ds = _first(_split(cfg, args.split), args.limit)
    else:
        ds = load_splits(cfg)[args.split]  # 'val' carved out of train, or 'train' itself
    classes = list(ds.classes)
    _check_classes(cfg.get("classes"), classes, cfg, str(path))
    model = build_model(cfg["model"], tuple(ds.image_shape), len(classes), ds.task)
    device = args.device or "cpu"
    _check_device(device)
    model.to(device)
    load_model_state(model, ck)
    loader = DataLoader(ds, args.batch_size, device=device)
    metrics = _final_metrics(model, loader, ds.task, classes, device)
    result = {"checkpoint": str(path), "epoch": ck["epoch"], "split": args.split,
              "model": cfg["model"], "dataset": key, "n": len(ds), **metrics}  # fmt: skip
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / f"metrics-{args.split}.json", result)
    _result_plots(
        model, loader, ds.task, classes, metrics["confusion_matrix"], out, f"-{args.split}"
    )
    shown = result if args.full else {k: v for k, v in result.items()
                                      if k not in ("confusion_matrix", "per_class")}  # fmt: skip
    print(json.dumps(shown, indent=1))
    return 0


def _evaluate_recipe_run(path: Path, args) -> int:
    """evaluate for a checkpoint of `minitorch-cv reproduce`: the run's recipe decides the model,
    transforms and metrics (recipes.evaluate_run)."""
    if path.stem not in ("best", "last"):
        raise CLIError(f"{path}: a reproduce run's checkpoints are best.npz and last.npz")
    _check_device(args.device or "cpu")
    result = recipes.evaluate_run(
        path.parent, path.stem, data_dir=args.data_dir, split=args.split, device=args.device,
        batch_size=args.batch_size, limit=args.limit,
    )  # fmt: skip
    out = Path(args.out) if args.out else path.parent
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / f"metrics-{result['split']}-{path.stem}.json", result)
    print(json.dumps(result, indent=1))
    return 0


# --------------------------------------------------------------------------- reproduce


def _cmd_reproduce(args) -> int:
    """Run one experiment of the course reports (minitorch_cv.recipes) and print its result row."""
    if args.list or args.experiment is None:
        rows = []
        for r in recipes.list_recipes():
            reported = r.reported.get(r.metric)
            shown = "-" if reported is None else f"{reported:.4g}"
            rows.append((r.name, r.model, r.dataset, r.metric, shown, r.description))
        _print_table(("experiment", "model", "dataset", "metric", "reported", "description"), rows)
        return 0
    try:
        recipe = recipes.get_recipe(args.experiment)
    except ValueError as e:
        raise CLIError(str(e)) from None
    row = recipes.run_recipe(
        recipe, args.data_dir, args.out, epochs=args.epochs, device=args.device,
        weights=args.weights, seed=args.seed, limit=args.limit, progress=not args.quiet,
        resume=args.resume, overwrite=args.overwrite, results_table=args.results_table,
    )  # fmt: skip
    if not args.quiet:
        print(json.dumps(row, indent=1, default=str))
    return 0


# --------------------------------------------------------------------------- datasets, exercises


def _cmd_datasets(args) -> int:
    report = find_datasets(args.data_dir)
    print(json.dumps(report, indent=1) if args.json else format_datasets_report(report))
    return 0


def _cmd_exercises(args) -> int:
    """`exercises list | show N | check N | new N`: minitorch_cv.exercises writes the texts."""
    try:
        if args.action == "check":
            report = exercises.run_checks(args.number, args.solution, max_examples=args.examples,
                                          seed=args.seed)  # fmt: skip
            print(report.format())
            return 0 if report.ok else 1
        if args.action == "show":
            print(exercises.format_show(args.number, worked=args.worked))
        elif args.action == "new":
            print(exercises.format_new(args.number, args.seed, answers=args.answers))
        else:
            print(exercises.format_list())
    # an unknown exercise, a missing folder or file, hypothesis not installed: one line, status 2
    except (FileNotFoundError, ValueError, ImportError) as e:
        raise CLIError(str(e)) from None
    return 0


def _cmd_demo(args) -> int:
    """Train a small MLP on two interleaved spirals and print its accuracy."""
    manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    n = 1000
    t = rng.uniform(0.25, 1.0, n) * 3 * np.pi
    y = rng.integers(0, 2, n)
    r = t / (3 * np.pi)
    angle = t + np.pi * y
    x = np.stack([r * np.cos(angle), r * np.sin(angle)], 1) + rng.normal(0, 0.02, (n, 2))
    x, y = tensor(x.astype(np.float32)), tensor(y)
    model = nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )
    opt = optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        for idx in np.array_split(rng.permutation(n), n // 100):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if epoch % max(1, args.epochs // 5) == 0 or epoch == args.epochs:
            acc = float((model(x).argmax(1) == y).numpy().mean())
            print(f"epoch {epoch:3d}  loss {loss.item():.4f}  accuracy {acc:.3f}")
    print(f"final training accuracy on the spirals: {acc:.1%}")
    return 0


# --------------------------------------------------------------------------- parser


def _positive_int(text):
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {v}")
    return v


def _positive_float(text):
    v = float(text)
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return v


def _unit_float(text):
    v = float(text)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return v


def _help(parser):
    """The action of a command given without its sub-command: print its help, status 0."""

    def show(args) -> int:
        parser.print_help()
        return 0

    return show


def _add_train(sub) -> None:
    d = TRAIN_DEFAULTS
    t = sub.add_parser(
        "train", help="train a model on a dataset (default: a small CNN on synthetic shapes)",
        description="Train a model and write config.json, history.csv/json, curves.png, "
        "best.npz, last.npz and metrics.json into --out. With no options: a small CNN on the "
        "synthetic shapes set, offline, in under a minute on a laptop CPU.",
    )  # fmt: skip
    # None defaults: an option given on the command line can be told from a default (--resume)
    t.add_argument("--model", default=None, help=f"model name (default {d['model']}); "
                   "`minitorch-cv models` lists them")  # fmt: skip
    t.add_argument("--dataset", default=None, help=f"dataset name (default {d['dataset']}); "
                   "`minitorch-cv datasets` lists them; imagefolder: your own images in "
                   "<data-dir>/train/<class>/ (+ val/, test/)")  # fmt: skip
    t.add_argument("--data-dir", default=None, help="folder of the dataset files (default "
                   "$MINITORCH_CV_DATA, else ~/.cache/minitorch_cv)")  # fmt: skip
    t.add_argument("--epochs", type=int, default=None, help=f"default {d['epochs']}")
    t.add_argument("--batch-size", type=_positive_int, default=None,
                   help=f"default {d['batch_size']}")  # fmt: skip
    lrs = ", ".join(f"{k} {v:g}" for k, v in _OPTIMIZER_LR.items())
    t.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default {_LR:g}; {lrs}: PyTorch's defaults for "
                   "those); config.json records the rate used")  # fmt: skip
    t.add_argument("--optimizer", default=None, choices=tuple(optim.OPTIMIZERS),
                   help=f"default {d['optimizer']} (sgd uses momentum 0.9)")  # fmt: skip
    t.add_argument("--weight-decay", type=float, default=None, help="default 0")
    t.add_argument("--scheduler", default=None, choices=SCHEDULERS,
                   help="learning-rate schedule (default cosine, per epoch); onecycle: "
                        "OneCycleLR peaking at --lr, stepped every batch")  # fmt: skip
    t.add_argument("--augment", action="store_const", const=True, default=None,
                   help="random horizontal flip and random crop with padding (image and "
                   "mask)")  # fmt: skip
    t.add_argument("--label-smoothing", type=_unit_float, default=None, metavar="EPS",
                   help="cross-entropy label smoothing in [0, 1] (default 0)")  # fmt: skip
    t.add_argument("--mixup", type=_positive_float, default=None, metavar="ALPHA",
                   help="MixUp the training batches, lam ~ Beta(ALPHA, ALPHA) "
                        "(classification)")  # fmt: skip
    t.add_argument("--cutmix", type=_positive_float, default=None, metavar="ALPHA",
                   help="CutMix the training batches (with --mixup: one of the two, "
                        "picked per batch)")  # fmt: skip
    t.add_argument("--early-stopping", default=None, metavar="SPEC",
                   help="none (default), patience:N, ratio (val loss above 1.1 x its minimum "
                   "for 5 epochs) or ratio:R:W; the best weights are kept")  # fmt: skip
    t.add_argument("--grad-clip", type=float, default=None, help="clip the gradient norm")
    t.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    t.add_argument("--seed", type=int, default=None, help="seed of init, shuffling, dropout")
    t.add_argument("--download", action="store_true",
                   help="download missing dataset files (needs a network connection)")  # fmt: skip
    t.add_argument("--limit", type=_positive_int, default=None,
                   help="use at most N images of each split (quick tries; an image folder: "
                   "spread over its classes)")  # fmt: skip
    t.add_argument("--image-size", type=_positive_int, default=None, metavar="S",
                   help="--dataset imagefolder: resize the smaller edge to S and keep the "
                   "central SxS (default: the model's input size); in_channels and the "
                   "classes follow from the folders")  # fmt: skip
    t.add_argument("--out", default=None,
                   help="output folder (default runs/<model>-<dataset>-<timestamp>)")  # fmt: skip
    t.add_argument("--resume", action="store_true", help="continue the run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    t.set_defaults(func=_cmd_train)


def _add_exercises(sub) -> None:
    x = sub.add_parser("exercises", help="hand-worked exercises checked against the engine",
                       description="Hand-worked exercises: read one, solve it in its starter.py, "
                       "check it.")  # fmt: skip
    x.set_defaults(func=_help(x))
    actions = x.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the exercises").set_defaults(func=_cmd_exercises)

    s = actions.add_parser("show", help="print an exercise's problem")
    s.add_argument("number", help="exercise number (or name)")
    s.add_argument("--worked", action="store_true", help="also print the worked solution")
    s.set_defaults(func=_cmd_exercises)

    c = actions.add_parser("check", help="check your answers against the engine")
    c.add_argument("number", help="exercise number (or name)")
    c.add_argument("--solution", metavar="FILE", default=None,
                   help="your Python file (default: the exercise's starter.py)")  # fmt: skip
    n = exercises.DEFAULT_EXAMPLES
    c.add_argument("--examples", type=_positive_int, default=n,
                   help=f"random instances per function (default {n})")  # fmt: skip
    c.add_argument("--seed", type=int, default=0, help="seed of the random instances (default 0)")
    c.set_defaults(func=_cmd_exercises)

    w = actions.add_parser("new", help="print a fresh random instance of the problem")
    w.add_argument("number", help="exercise number (or name)")
    w.add_argument("--seed", type=int, required=True, help="seed of the instance")
    w.add_argument("--answers", action="store_true", help="also print the answer key")
    w.set_defaults(func=_cmd_exercises)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="minitorch-cv", description="A from-scratch deep-learning engine for CV."
    )
    p.add_argument("--version", action="version", version=f"minitorch-cv {__version__}")
    p.set_defaults(func=_help(p))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)

    e = sub.add_parser("evaluate", help="evaluate a checkpoint on a split: metrics JSON and plots")
    e.add_argument("checkpoint", help="a train or reproduce run folder (its best.npz) or a "
                   ".npz checkpoint")  # fmt: skip
    e.add_argument("--split", default=None, help="train, val or test (default test, "
                   "else val where the dataset has no test split; a reproduce run: its "
                   "recipe's evaluation split)")  # fmt: skip
    e.add_argument("--data-dir", default=None, help="folder of the dataset files")
    e.add_argument("--batch-size", type=_positive_int, default=128)
    e.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    e.add_argument("--limit", type=_positive_int, default=None, help="at most N images")
    e.add_argument("--download", action="store_true", help="download missing dataset files")
    e.add_argument("--out", default=None, help="folder for metrics-<split>.json and plots "
                   "(default: the checkpoint's folder)")  # fmt: skip
    e.add_argument("--full", action="store_true", help="also print per-class values and the "
                   "confusion matrix")  # fmt: skip
    e.set_defaults(func=_cmd_evaluate)

    r = sub.add_parser("reproduce", help="run an experiment of the course reports (a recipe)")
    r.add_argument("experiment", nargs="?", help="experiment name; --list shows them")
    r.add_argument("--list", action="store_true", help="list the experiments and exit")
    r.add_argument("--data-dir", default=None, help="folder of the dataset files")
    r.add_argument("--out", default=None, help="run folder (default runs/<experiment>)")
    r.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="this many epochs instead of the recipe's (fewer: a shortened run, said so)",
    )
    r.add_argument("--device", default=None, help="cpu (default), cuda or cuda:N")
    r.add_argument("--weights", default=None, help="ImageNet ResNet-18 .pth/.npz (pretrained ones)")
    r.add_argument("--seed", type=int, default=None, help="override the recipe's seed")
    r.add_argument("--limit", type=_positive_int, default=None, help="first N training images")
    r.add_argument("--results-table", default=None, help="CSV file to append the result row to")
    r.add_argument("--resume", action="store_true", help="continue the run in --out")
    r.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    r.add_argument("--quiet", action="store_true", help="no progress bars, no printed row")
    r.set_defaults(func=_cmd_reproduce)

    m = sub.add_parser("models", help="the model zoo: task, input size, classes, parameters")
    m.set_defaults(func=_cmd_models)

    s = sub.add_parser("summary", help="a model's layer table (torchsummary style)")
    s.add_argument("name", nargs="?", default=None, metavar="model",
                   help="model name, as --model")  # fmt: skip
    s.add_argument("--model", default=None, help="model name (default small-cnn); "
                   "`minitorch-cv models` lists them")  # fmt: skip
    s.add_argument("--input-size", default=None, help="C,H,W (default: the model's own)")
    s.add_argument("--num-classes", type=_positive_int, default=None,
                   help="default: the model's own")  # fmt: skip
    s.set_defaults(func=_cmd_summary)

    ds = sub.add_parser("datasets", help="which datasets are found locally, where, what is missing")
    ds.add_argument("--data-dir", default=None, help="folder to look in")
    ds.add_argument("--json", action="store_true", help="print the report as JSON")
    ds.set_defaults(func=_cmd_datasets)

    _add_exercises(sub)

    d = sub.add_parser("demo", help="train a small MLP on a synthetic two-class problem")
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--lr", type=float, default=0.01)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, FileExistsError) as e:  # FileExistsError: reproduce's --out holds a run
        print(f"minitorch-cv {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (CheckpointError, CorruptFileError, DownloadError, FileNotFoundError,
            NonFiniteLossError) as e:  # fmt: skip
        print(f"minitorch-cv {args.command}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `minitorch-cv models | head`: the reader went away
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print(f"minitorch-cv {args.command}: interrupted", file=sys.stderr)
        folder = getattr(args, "run_folder", None)
        if folder is not None and (Path(folder) / "last.npz").exists():
            print(f"continue with: minitorch-cv train --out {folder} --resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
