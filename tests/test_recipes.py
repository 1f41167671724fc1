"""Recipes: each report's experiment as data (checked against SEED_MODELS.md), and the runner
end to end on the synthetic sets (offline, seconds)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from minitorch_cv import models
from minitorch_cv.cli import main
from minitorch_cv.data import get_dataset
from minitorch_cv.recipes import (
    RESTORES_BEST,
    Recipe,
    build_loss,
    build_optimizer,
    build_scheduler,
    build_transforms,
    evaluate_run,
    get_recipe,
    list_recipes,
    run_recipe,
)
from minitorch_cv.train import EarlyStopping


def test_every_experiment_of_the_reports_has_a_recipe():
    names = [r.name for r in list_recipes()]
    assert names[:2] == ["a-mnist", "a-cifar10"]
    for n in ("b-mnist-on-cifar", "c-mnist", "c-cifar10", "d-fcn-baseline", "d-fcn-cosine",
              "d-fcn-augment", "d-fcn-weighted", "d-unet", "d-resnet18-fcn", "e1", "e2",
              "e2-extra-conv", "e-resnet18-transfer", "f-default", "f-wider", "f-extra-fc",
              "f-kernels", "f-leaky-relu", "f-dropout", "f-batch-norm", "f-batch-256", "f-lr-0.1",
              "f-shuffle"):  # fmt: skip
        assert n in names


@pytest.mark.parametrize("recipe", list_recipes(), ids=lambda r: r.name)
def test_recipe_is_consistent(recipe):
    info = models.info(recipe.model)  # a registered model
    models._registry._checked_options(info, recipe.model_options)  # with valid options
    assert recipe.metric in recipe.reported
    assert 0 < recipe.reported[recipe.metric] < 1
    assert recipe.optimizer in ("sgd", "adam", "adamw") and recipe.lr > 0
    if recipe.early_stopping:
        EarlyStopping(**recipe.early_stopping)
        assert recipe.val_split is not None, "early stopping needs a validation set"
    json.dumps(recipe.to_dict())
    assert recipe.command().startswith(f"minitorch-cv reproduce {recipe.name}")


def test_a_follows_the_report():
    r = get_recipe("a-mnist")
    assert (r.optimizer, r.lr, r.optimizer_options["betas"]) == ("adam", 0.002, (0.9, 0.999))
    assert (r.batch_size, r.val_split) == (128, 0.2)
    assert r.early_stopping == {"monitor": "val_loss", "ratio": 1.1, "ratio_patience": 5}
    assert r.reported == {"acc": 0.9880} and get_recipe("a-cifar10").reported == {"acc": 0.7982}


def test_b_c_d_e_follow_the_report():
    b = get_recipe("b-mnist-on-cifar")
    assert (b.optimizer, b.lr, b.batch_size, b.epochs) == ("adam", 0.002, 128, 100)
    assert get_recipe("c-mnist").batch_size == 16 and get_recipe("c-cifar10").batch_size == 128
    d = get_recipe("d-fcn-baseline")
    assert (d.optimizer, d.batch_size, d.early_stopping["patience"]) == ("adamw", 16, 3)
    assert d.loss["ignore_index"] == 255 and d.eval_split == "val"
    # improvements kept in turn: cosine, then + augmentation, then + class weights
    assert get_recipe("d-fcn-cosine").scheduler == {"name": "cosine"}
    aug = get_recipe("d-fcn-augment")
    assert aug.scheduler and {a["name"] for a in aug.augmentation} == {"hflip", "rotation", "crop"}
    w = get_recipe("d-fcn-weighted")
    assert w.scheduler and w.augmentation and w.loss["class_weights"] == "inverse_frequency"
    e2 = get_recipe("e2")
    assert (e2.optimizer, e2.lr, e2.batch_size, e2.epochs) == ("adam", 2e-4, 64, 10)
    assert e2.optimizer_options == {"weight_decay": 5e-4}
    assert e2.early_stopping == {"monitor": "val_loss", "patience": 4}
    assert e2.augmentation == ({"name": "hflip"},) and e2.normalize is not None
    assert get_recipe("e2-extra-conv").reported == {"acc": 0.8165}


def test_f_ablations_chain_from_the_previous_best():
    f = {r.name: r for r in list_recipes() if r.report == "F"}
    d = f["f-default"]
    assert (d.optimizer, d.lr, d.batch_size, d.shuffle) == ("sgd", 0.001, 64, False)
    assert d.normalize == {"mean": 0.5, "std": 1.0}  # [0, 1] -> [-0.5, 0.5]
    assert f["f-wider"].model_options == {"filters": (64, 128, 256)}
    # extra FC and kernels 7/5/3 lost to "wider", so LeakyReLU starts from "wider" alone
    assert f["f-leaky-relu"].model_options == {
        "filters": (64, 128, 256),
        "activation": "leaky_relu",
    }
    best = f["f-batch-norm"].model_options
    assert best == {"filters": (64, 128, 256), "activation": "leaky_relu", "dropout": 0.3,
                    "batch_norm": True}  # fmt: skip
    assert f["f-batch-norm"].target == 0.75 and d.target == 0.69
    assert f["f-batch-256"].batch_size == 256 and f["f-batch-256"].model_options == best
    assert f["f-lr-0.1"].lr == 0.1 and f["f-shuffle"].shuffle
    assert [r.reported["mean_recall"] for r in f.values()] == [
        0.6932, 0.7146, 0.7018, 0.7003, 0.7199, 0.7358, 0.7487, 0.7236, 0.7391, 0.7479,
    ]  # fmt: skip


def test_unknown_experiment_lists_valid_names():
    with pytest.raises(ValueError, match="unknown experiment 'z'.*a-mnist"):
        get_recipe("z")
    assert get_recipe("F_Default").name == "f-default"


def test_building_blocks():
    e2 = get_recipe("e2")
    train_tf, eval_tf = build_transforms(e2)
    assert "RandomHorizontalFlip" in repr(train_tf) and "Normalize" in repr(eval_tf)
    assert build_transforms(get_recipe("c-mnist")) == (None, None)
    custom = replace(e2, augmentation=({"name": "erasing", "p": 1.0}, {"name": "color_jitter",
                                        "brightness": 0.2}, {"name": "vflip"}))  # fmt: skip
    kinds = [type(t).__name__ for t in build_transforms(custom)[0].transforms]
    assert kinds == ["ColorJitter", "RandomVerticalFlip", "Normalize", "RandomErasing"]
    with pytest.raises(ValueError, match="unknown augmentation 'blur'; known: hflip, vflip"):
        build_transforms(replace(e2, augmentation=({"name": "blur"},)))
    model = models.get("e2")
    opt = build_optimizer(e2, model.parameters())
    assert type(opt).__name__ == "Adam" and opt.param_groups[0]["weight_decay"] == 5e-4
    assert build_scheduler(e2, opt, 10) is None
    sched = build_scheduler(get_recipe("d-fcn-cosine"), opt, 50)
    assert type(sched).__name__ == "CosineAnnealingLR" and sched.T_max == 50
    seg = get_dataset("shapes-seg", "train", n=8)
    loss = build_loss(get_recipe("d-fcn-weighted"), seg, 4)
    assert loss.ignore_index == 255 and loss.weight.shape == (4,)
    assert build_loss(e2, None, 10).weight is None


def tiny(recipe: Recipe, **kw) -> Recipe:
    return replace(recipe, epochs=2, batch_size=16, **kw)


def test_run_recipe_writes_the_run_folder_and_a_results_row(tmp_path):
    r = tiny(get_recipe("f-default"), dataset="shapes", dataset_options={"n": 48},
             model_options={"num_classes": 3, "filters": (4, 8, 8)})  # fmt: skip
    out, table = tmp_path / "run", tmp_path / "results.csv"
    row = run_recipe(r, out=out, progress=False, results_table=table)
    for f in ("config.json", "history.csv", "history.json", "curves.png", "last.npz",
              "metrics.json", "result.json"):  # fmt: skip
        assert (out / f).is_file(), f
    assert row["experiment"] == "f-default" and row["epochs_run"] == 2
    assert 0 <= row["ours"] <= 1 and row["reported"] == 0.6932
    assert row["command"].startswith("minitorch-cv reproduce f-default")
    assert json.loads((out / "result.json").read_text())["ours"] == row["ours"]
    assert json.loads((out / "metrics.json").read_text())["split"] == "test"
    rows = [line for line in table.read_text().splitlines() if line.startswith("f-default,")]
    assert len(rows) == 1
    with pytest.raises(FileExistsError, match="already holds a run"):
        run_recipe(r, out=out, progress=False)
    again = run_recipe(r, out=out, progress=False, overwrite=True, epochs=1, seed=3,
                       results_table=table)  # fmt: skip
    assert "--seed" not in row["command"]  # the recipe's own seed
    assert again["command"].endswith("--epochs 1 --seed 3")  # the command reruns this run
    assert sum(line.startswith("f-default,") for line in table.read_text().splitlines()) == 2
    resumed = run_recipe(r, out=out, progress=False, resume=True)  # the second of 2 epochs
    assert resumed["epochs_run"] == 2 and not resumed["shortened"]
    epochs = json.loads((out / "history.json").read_text())
    assert resumed["wall_s"] >= round(sum(e["seconds"] for e in epochs), 1)  # both calls' epochs


def test_run_recipe_with_validation_split_early_stopping_and_augmentation(tmp_path):
    r = tiny(get_recipe("e2"), dataset="shapes", dataset_options={"n": 64},
             model_options={"num_classes": 3})  # fmt: skip
    row = run_recipe(r, out=tmp_path / "e2", progress=False, limit=40)
    assert row["shortened"] and (tmp_path / "e2" / "best.npz").is_file()
    hist = json.loads((tmp_path / "e2" / "history.json").read_text())
    assert "val_loss" in (hist[0] if isinstance(hist, list) else hist["epochs"][0])
    # the run's own evaluation is its best.npz under the recipe's transforms and metric
    assert evaluate_run(tmp_path / "e2")["acc"] == row["ours"]
    args = ["evaluate", str(tmp_path / "e2" / "last.npz"), "--out", str(tmp_path), "--limit", "9"]
    assert main(args) == 0
    last = json.loads((tmp_path / "metrics-test-last.json").read_text())
    assert last["epoch"] == 2 and last["n"] == 9 and 0 <= last["acc"] <= 1


def test_run_recipe_segmentation_with_class_weights(tmp_path):
    aug = ({"name": "hflip"}, {"name": "crop", "size": 32, "padding": 4})
    opts = {"num_classes": 4, "channels": (4, 4, 4, 4, 4)}
    r = tiny(get_recipe("d-fcn-weighted"), dataset="shapes-seg", dataset_options={"n": 16},
             model_options=opts, augmentation=aug)  # fmt: skip
    row = run_recipe(r, out=tmp_path / "seg", progress=False, epochs=1)
    assert row["metric"] == "pixel_acc" and 0 <= row["ours"] <= 1
    assert "ours_miou" in row


def test_pretrained_recipes_need_weights(tmp_path):
    with pytest.raises(ValueError, match="ImageNet weights: pass weights="):
        run_recipe("e-resnet18-transfer", out=tmp_path / "x", progress=False)


def test_run_recipe_runs_longer_than_the_recipe_when_asked(tmp_path):
    r = tiny(get_recipe("f-default"), dataset="shapes", dataset_options={"n": 32},
             model_options={"num_classes": 3, "filters": (4, 8, 8)})  # fmt: skip
    row = run_recipe(r, out=tmp_path / "longer", progress=False, epochs=3)
    assert row["epochs_run"] == 3 and row["max_epochs"] == 2 and not row["shortened"]
    assert row["command"].endswith("--epochs 3")


def test_recipe_dict_round_trip():
    for recipe in list_recipes():
        assert Recipe.from_dict(recipe.to_dict()) == recipe, recipe.name


def test_every_early_stopping_recipe_says_which_weights_it_evaluates():
    """Restoring the best epoch is our choice, not the reports' (E2: 79.8 % restored, 80.1 % with
    the last weights, seed 1): each recipe that stops early lists it among its assumptions."""
    for r in list_recipes():
        if r.early_stopping and "restore_best_weights" not in r.early_stopping:
            assert RESTORES_BEST in r.assumed, r.name
