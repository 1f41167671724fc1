"""Train a recipe's network in PyTorch from our initial weights on our batches: an engine gap or a
recipe gap?

When `minitorch-cv reproduce <experiment>` lands under a report's figure, the question is whether
our engine trains differently or the recipe (or the report) is what differs. This script answers it
for the recipes whose network has a hand-written PyTorch twin (`torch_models.py`): it builds our
model with the recipe's seed, copies its initial weights into the twin, and trains the twin with
torch's own optimizer on exactly the batches our DataLoader yields (same order, same transforms),
then scores the evaluation split with the recipe's metric. Same recipe, same start, same data;
only the engine differs. Float32 rounding still makes two runs drift apart after a few hundred
steps, so compare the final figures to within seed-to-seed spread, not digit for digit.

    python benchmarks/torch_recipe.py f-default --data-dir ../shared/datasets
    python benchmarks/torch_recipe.py e1 --data-dir ../shared/datasets --epochs 2 --threads 2

Supported: recipes with no validation split, no scheduler and no early stopping, whose model has
a twin taking the recipe's model options (F default and every F ablation, ...). Others are
refused with the reason. Dropout draws its masks from torch's generator, not ours: with dropout
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
    for field in ("val_split", "scheduler", "early_stopping", "pretrained"):
        if getattr(recipe, field):
            return f"recipe sets {field}={getattr(recipe, field)!r}"
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
    """Accuracy and mean per-class recall of `model` over `loader` (eval mode)."""
    model.eval()
    confusion = np.zeros((num_classes, num_classes), np.int64)
    with torch.no_grad():
        for x, y in loader:
            pred = model(torch.from_numpy(np.asarray(x))).argmax(1).numpy()
            np.add.at(confusion, (np.asarray(y), pred), 1)
    recall = np.diag(confusion) / np.maximum(confusion.sum(1), 1)
    acc = np.trace(confusion) / confusion.sum()
    return {"acc": float(acc), "mean_recall": float(recall.mean())}


def train_torch(recipe, data_dir, epochs=None, seed=None, limit=None, log=print) -> list[dict]:
    """Train `recipe`'s network in PyTorch from our initial weights on our batches; one dict
    per epoch: train_loss (mean over the epoch's images), seconds, test_<metric>."""
    import torch
    import torch_models

    import minitorch_cv as mt
    from minitorch_cv.data import DataLoader, Subset, get_dataset
    from minitorch_cv.recipes import build_model, build_transforms

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
    if limit is not None:
        train_set = Subset(train_set, np.arange(min(int(limit), len(train_set))))
    eval_set = get_dataset(recipe.dataset, recipe.eval_split, data_dir, **options)
    train_tf, eval_tf = build_transforms(recipe)
    train_loader = DataLoader(
        train_set, recipe.batch_size, shuffle=recipe.shuffle, seed=seed, transform=train_tf
    )
    eval_loader = DataLoader(eval_set, recipe.batch_size, transform=eval_tf)
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
        for k, v in score(torch, model, eval_loader, num_classes).items():
            row[f"test_{k}"] = v
        rows.append(row)
        log(
            "  ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            )
        )
    return rows


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
    final = rows[-1]["test_" + recipe.metric]
    reported = recipe.reported.get(recipe.metric)
    print(f"{recipe.name}: PyTorch final test {recipe.metric} {final:.4f} (reported {reported})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
