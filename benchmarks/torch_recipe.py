"""Train a recipe's network in PyTorch from our initial weights on our batches: an engine gap or a
recipe gap?

When `minitorch-cv reproduce <experiment>` lands under a report's figure, the question is whether
our engine trains differently or the recipe (or the report) is what differs. This script answers it
for the recipes whose network has a hand-written PyTorch twin (`torch_models.py`): it builds our
model with the recipe's seed, copies its initial weights into the twin, and trains the twin with
torch's own optimizer on exactly the batches our DataLoader yields (same order, same transforms),
then scores the evaluation split with the recipe's metric. Same recipe, same start, same data;
only the engine differs. Float32 rounding still makes two runs drift apart, so compare the final
figures to within seed-to-seed spread, not digit for digit: after a few hundred steps with SGD,
within the first few with Adam and batch norm (Adam's first step moves every weight by about lr
x sign(gradient), and a conv bias before batch norm has a gradient that is pure rounding noise;
in float64 the two engines give A on CIFAR-10 the same losses to 1e-10 over its first steps).

    python benchmarks/torch_recipe.py f-default --data-dir ../shared/datasets
    python benchmarks/torch_recipe.py e1 --data-dir ../shared/datasets --epochs 2 --threads 2

Supported: recipes with no scheduler, whose model has a twin taking the recipe's model options
(F default and every F ablation, A on MNIST and CIFAR-10, B; per-pixel logits are scored over
pixels). A validation fraction is split
off as `reproduce` splits it, and early stopping runs our own `EarlyStopping` rule on torch's
validation loss, restoring the best epoch's weights as `reproduce` does. Others are refused
with the reason. Dropout draws its masks from torch's generator, not ours: with dropout
only the statistics of the two runs can agree, not the runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))


def unsupported(recipe) -> str | None:
    """Why this script cannot replay `recipe`, or None."""
    import torch_models

    if recipe.model not in torch_models.BUILDERS:
        return f"no PyTorch twin of model {recipe.model!r}"
    import inspect

    takes = inspect.signature(torch_models.BUILDERS[recipe.model]).parameters
    extra = sorted(set(recipe.model_options) - set(takes))
    if extra:
        return f"the twin does not take the recipe's model options {extra}"
    for field in ("scheduler", "pretrained"):
        if getattr(recipe, field):
            return f"recipe sets {field}={getattr(recipe, field)!r}"
    if recipe.val_split and not isinstance(recipe.val_split, float):
        return f"recipe sets val_split={recipe.val_split!r} (only a fraction of the training set)"
    if recipe.early_stopping and not recipe.val_split:
        return "recipe stops early without a validation split"
    if recipe.loss != {"name": "cross_entropy"}:
        return f"loss {recipe.loss} (only plain cross-entropy)"
    return None


def torch_optimizer(torch, recipe, params):
    kinds = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    options = dict(recipe.optimizer_options)
    if "betas" in options:
        options["betas"] = tuple(options["betas"])
    return kinds[recipe.optimizer](params, lr=recipe.lr, **options)


def score(torch, model, loader, num_classes: int) -> dict:
    """Mean cross-entropy, accuracy and mean per-class recall of `model` over `loader` (eval
    mode); for per-pixel logits (N, C, H, W) the same over pixels, accuracy then named
    pixel_acc as our metric is."""
    model.eval()
    confusion = np.zeros(num_classes * num_classes, np.int64)
    total, pixels = 0.0, False
    with torch.no_grad():
        for x, y in loader:
            logits = model(torch.from_numpy(np.asarray(x)))
            target = torch.from_numpy(np.asarray(y))
            total += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
            pair = np.asarray(y).ravel() * num_classes + logits.argmax(1).numpy().ravel()
            confusion += np.bincount(pair, minlength=num_classes * num_classes)
            pixels = logits.ndim > 2
    confusion = confusion.reshape(num_classes, num_classes)
    recall = np.diag(confusion) / np.maximum(confusion.sum(1), 1)
    n = confusion.sum()
    return {"loss": total / n, "pixel_acc" if pixels else "acc": float(np.trace(confusion) / n),
            "mean_recall": float(recall.mean())}  # fmt: skip


def train_torch(recipe, data_dir, epochs=None, seed=None, limit=None, log=print) -> list[dict]:
    """Train `recipe`'s network in PyTorch from our initial weights on our batches; one dict
    per epoch: train_loss (mean over the epoch's images), seconds, val_loss / val_<metric> (with
    a validation split), test_loss / test_<metric> of that epoch's weights. With early
    stopping, the last row also has `stop_reason`, `best_epoch` and `final_test_<metric>`: the
    restored best epoch's score, the figure `reproduce` reports."""
    import copy

    import torch
    import torch_models

    import minitorch_cv as mt
    from minitorch_cv.data import DataLoader, Subset, get_dataset, random_split
    from minitorch_cv.recipes import build_model, build_transforms
    from minitorch_cv.train import EarlyStopping

    reason = unsupported(recipe)
    if reason:
        raise ValueError(f"{recipe.name}: {reason}")
    seed = recipe.seed if seed is None else seed
    epochs = epochs or recipe.epochs
    # the same seeding, data, model construction and loaders as run_recipe, so the start and
    # the batch order are the ones `minitorch-cv reproduce` used
    mt.manual_seed(seed)
    options = recipe.dataset_options
    train_set = get_dataset(recipe.dataset, "train", data_dir, **options)
    val_set = None
    if recipe.val_split:
        fractions = (1 - recipe.val_split, recipe.val_split)
        train_set, val_set = random_split(train_set, fractions, seed=seed)
    if limit is not None:
        train_set = Subset(train_set, np.arange(min(int(limit), len(train_set))))
    eval_set = get_dataset(recipe.dataset, recipe.eval_split, data_dir, **options)
    train_tf, eval_tf = build_transforms(recipe)
    train_loader = DataLoader(
        train_set, recipe.batch_size, shuffle=recipe.shuffle, seed=seed, transform=train_tf
    )
    val_loader = None if val_set is None else DataLoader(val_set, recipe.batch_size,
                                                         transform=eval_tf)  # fmt: skip
    eval_loader = DataLoader(eval_set, recipe.batch_size, transform=eval_tf)
    # our rule, fed torch's validation loss; the best weights are kept here (a torch copy)
    stopper = EarlyStopping(**recipe.early_stopping) if recipe.early_stopping else None
    best_state = None
    ours, num_classes = build_model(recipe)
    twin = torch_models.build(recipe.model, **recipe.model_options)
    model = torch_models.copy_weights(ours, twin)
    optimizer = torch_optimizer(torch, recipe, model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()

    log(f"{recipe.name}: PyTorch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"seed {seed}, {epochs} epochs")  # fmt: skip
    rows = []
    for epoch in range(1, epochs + 1):
        model.train()
        if hasattr(train_loader, "set_epoch"):
            train_loader.set_epoch(epoch - 1)  # as fit() does
        start, total, n = time.perf_counter(), 0.0, 0
        for x, y in train_loader:
            xb = torch.from_numpy(np.asarray(x))
            yb = torch.from_numpy(np.asarray(y))
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            n += len(yb)
        row = {"epoch": epoch, "train_loss": total / n, "seconds": time.perf_counter() - start}
        if val_loader is not None:
            for k, v in score(torch, model, val_loader, num_classes).items():
                row[f"val_{k}"] = v
        for k, v in score(torch, model, eval_loader, num_classes).items():
            row[f"test_{k}"] = v
        rows.append(row)
        _log_row(log, row)
        if stopper is None:
            continue
        stop = stopper.on_epoch_end(epoch, row)
        if stopper.best_epoch == epoch:
            best_state = copy.deepcopy(model.state_dict())
        if stop:
            break
    if stopper is not None and best_state is not None and stopper.restore_best_weights:
        model.load_state_dict(best_state)
        final = score(torch, model, eval_loader, num_classes)
        rows[-1].update(stop_reason=stopper.reason, best_epoch=stopper.best_epoch,
                        **{f"final_test_{k}": v for k, v in final.items()})  # fmt: skip
        log(f"stopped: {stopper.reason or 'epochs done'}; best epoch {stopper.best_epoch} "
            f"restored: test " + "  ".join(f"{k} {v:.4f}" for k, v in final.items()))  # fmt: skip
    return rows


def _log_row(log, row: dict) -> None:
    log("  ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--data-dir", default="../shared/datasets")
    p.add_argument("--epochs", type=int, help="this many epochs instead of the recipe's")
    p.add_argument("--seed", type=int, help="override the recipe's seed")
    p.add_argument("--limit", type=int, help="first N training images")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--json", help="write the per-epoch figures here")
    args = p.parse_args(argv)

    import torch

    from minitorch_cv.recipes import get_recipe

    recipe = get_recipe(args.experiment)
    reason = unsupported(recipe)
    if reason:
        p.error(f"{recipe.name}: {reason}")
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = train_torch(recipe, args.data_dir, args.epochs, args.seed, args.limit,
                       log=lambda text: print(text, flush=True))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps({"experiment": recipe.name, "rows": rows}, indent=1))
    final = rows[-1].get("final_test_" + recipe.metric, rows[-1]["test_" + recipe.metric])
    reported = recipe.reported.get(recipe.metric)
    print(f"{recipe.name}: PyTorch final test {recipe.metric} {final:.4f} (reported {reported})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
