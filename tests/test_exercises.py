"""The exercises: every reference solution passes its engine-backed checks, planted mistakes are
caught and reported in plain words, the README's worked numbers are what the engine computes, and
the `exercises` command works."""

from __future__ import annotations

import io
import re
import types
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

pytest.importorskip("hypothesis")

from minitorch_cv import exercises as E  # noqa: E402
from minitorch_cv.cli import build_parser, main  # noqa: E402

EXERCISES = E.list_exercises()
NUMBERS = [e.number for e in EXERCISES]


def _solution(n: int) -> types.ModuleType:
    return E.load_module(E.get_exercise(n).solution)


def _with(n: int, **functions) -> types.ModuleType:
    """The reference solution of exercise n with some functions replaced by wrong ones."""
    mod = types.ModuleType(f"planted_{n}")
    mod.__dict__.update({k: v for k, v in vars(_solution(n)).items() if not k.startswith("__")})
    mod.__dict__.update(functions)
    mod.__file__ = f"<planted mistake, exercise {n}>"
    return mod


def _run(argv) -> tuple[int, str, str]:
    """`minitorch-cv exercises ARGV`: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["exercises", *argv])
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------------------------------------
# The folders
# ------------------------------------------------------------------------------------------------


def test_all_topics_are_there_in_order():
    assert NUMBERS == list(range(1, 17))
    index = (E.exercises_dir() / "README.md").read_text(encoding="utf-8")
    for e in EXERCISES:
        assert e.path.name in index, f"exercises/README.md does not link {e.path.name}"


@pytest.mark.parametrize("n", NUMBERS)
def test_exercise_folder_is_complete(n):
    ex = E.get_exercise(n)
    text = ex.readme_text()
    assert text.startswith(f"# Exercise {n}:")
    assert "## Problem" in text and E.WORKED_HEADING in text
    assert E.WORKED_HEADING not in ex.problem_text()
    assert E.worked_items(ex), "the README has no worked answers"
    functions = ex.functions()
    starter, solution = E.load_module(ex.starter), _solution(n)
    for f in functions:
        assert callable(getattr(starter, f)), f"starter.py lacks {f}"
        assert callable(getattr(solution, f)), f"solution.py lacks {f}"
    assert {it["function"] for it in E.worked_items(ex)} == set(functions), (
        "every function has a worked example in the README"
    )


@pytest.mark.parametrize("n", NUMBERS)
def test_starter_reports_every_function_as_not_written(n):
    report = E.run_checks(n, max_examples=5)
    assert not report.ok
    assert [f.kind for f in report.failures] == ["not implemented"] * len(report.results)
    assert "not written yet" in report.format()


# ------------------------------------------------------------------------------------------------
# Solutions pass; worked numbers are the engine's
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", NUMBERS)
def test_reference_solution_passes_its_checks(n):
    report = E.run_checks(n, E.get_exercise(n).solution, max_examples=15)
    assert report.ok, report.format()
    assert all(r.examples >= 1 for r in report.results)


@pytest.mark.parametrize("n", NUMBERS)
def test_worked_numbers_in_readme_are_what_the_engine_computes(n):
    problems = E.verify_worked(n)
    assert not problems, "\n".join(problems)


def _copy_exercise(n, root):
    """A copy of exercise n's folder under root/exercises; returns the README path."""
    src = E.get_exercise(n).path
    dst = root / "exercises" / src.name
    dst.mkdir(parents=True)
    for name in ("README.md", "starter.py", "solution.py", "checks.py"):
        (dst / name).write_text((src / name).read_text(encoding="utf-8"), encoding="utf-8")
    return dst / "README.md"


def test_verify_worked_notices_a_drifted_readme(tmp_path, monkeypatch):
    readme = _copy_exercise(2, tmp_path)
    monkeypatch.setenv(E.ENV_VAR, str(tmp_path / "exercises"))
    assert E.verify_worked(2) == []
    text = readme.read_text()
    item = '"args": {"size": 224, "kernel": 7, "stride": 2, "padding": 3}, "answer": 112}'
    assert item in text
    # an answer key the engine does not reproduce
    readme.write_text(text.replace(item, item.replace("112", "111")))
    problems = E.verify_worked(2)
    assert any("README says '111', the engine gives '112'" in p for p in problems), problems
    # a right answer key whose number the worked solution never shows
    readme.write_text(text.replace(item, item.replace("224", "226").replace("112", "113")))
    problems = E.verify_worked(2)
    assert any("does not show the answer:\n113" in p for p in problems), problems


# ------------------------------------------------------------------------------------------------
# Planted mistakes are caught, with the instance, the expected and the given answer
# ------------------------------------------------------------------------------------------------


def _planted():
    """(exercise, function, wrong implementation): the mistakes students make."""
    s = {n: _solution(n) for n in NUMBERS}
    one, two, three, four = s[1], s[2], s[3], s[4]
    five, six, seven, eight, nine, ten, eleven = s[5], s[6], s[7], s[8], s[9], s[10], s[11]
    twelve, thirteen, fourteen, fifteen, sixteen = s[12], s[13], s[14], s[15], s[16]

    def attention_softmax_over_queries(q, k, v, causal=False):  # normalised down each column
        q, k, v = (np.asarray(a, dtype=float) for a in (q, k, v))
        scores = q @ k.T / np.sqrt(q.shape[-1])
        if causal:
            scores = np.where(np.tri(*scores.shape, dtype=bool), scores, -np.inf)
        w = np.exp(scores - scores.max(axis=0, keepdims=True))
        return (w / w.sum(axis=0, keepdims=True)) @ v

    def batch_stats_per_sample(x, kind, groups=1, eps=1e-5):  # batch norm taken as layer norm
        return twelve.normalise(x, "layer" if kind == "batch" else kind, groups, eps)

    def unbiased_normalise(x, kind, groups=1, eps=1e-5):  # var divided by count - 1
        out = twelve.normalise(x, kind, groups, eps)
        n, c, length = np.shape(x)
        count = {"batch": n * length, "layer": c * length, "instance": length,
                 "group": (c // groups) * length}[kind]  # fmt: skip
        return twelve.normalise(x, kind, groups, eps) | {"var": out["var"] * count / (count - 1)}

    def layer_norm_per_channel(kind, channels, length, groups=1):
        if kind == "layer":
            return 2 * channels, 0
        return twelve.norm_parameters(kind, channels, length, groups)

    def decay_after_momentum(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                             nesterov=False):  # fmt: skip
        # the L2 term added to the step instead of to the gradient that enters the buffer
        out, prev = [], np.asarray(w, dtype=float)
        steps = thirteen.sgd_steps(w, grads, lr, momentum, dampening, 0.0, nesterov)
        for row, before in zip(steps, [np.asarray(w, dtype=float), *steps[:-1]]):
            prev = prev + (row - before) - lr * weight_decay * prev
            out.append(prev)
        return np.array(out)

    def dampened_first_step(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                            nesterov=False):  # fmt: skip
        # the buffer started at zero: b1 = (1 - dampening) * g1
        scaled = [np.asarray(grads[0], dtype=float) * (1 - dampening if momentum else 1)]
        return thirteen.sgd_steps(w, scaled + list(grads[1:]), lr, momentum, dampening,
                                  weight_decay, nesterov)  # fmt: skip

    def adam_without_bias_correction(w, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8,
                                     weight_decay=0.0, decoupled=False):  # fmt: skip
        w = np.array(w, dtype=float)
        m = v = np.zeros_like(w)
        out = []
        for g in grads:
            if decoupled:
                w = w * (1 - lr * weight_decay)
            else:
                g = np.asarray(g, dtype=float) + weight_decay * w
            m = betas[0] * m + (1 - betas[0]) * np.asarray(g)
            v = betas[1] * v + (1 - betas[1]) * np.asarray(g) ** 2
            w = w - lr * m / (np.sqrt(v) + eps)
            out.append(w)
        return np.array(out)

    def adamw_as_l2(w, grads, lr=0.001, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    decoupled=False):  # fmt: skip
        return thirteen.adam_steps(w, grads, lr, betas, eps, weight_decay, False)

    def transposed_fans_as_conv(kind, in_channels, out_channels, kernel=1, groups=1):
        kind = "conv" if kind == "conv_transpose" else kind
        return fourteen.fans(kind, in_channels, out_channels, kernel, groups)

    def uniform_bound_is_std(method, shape, gain=1.0, a=0.0, mode="fan_in",
                             nonlinearity="leaky_relu"):  # fmt: skip
        scale = fourteen.init_scale(method, shape, gain, a, mode, nonlinearity)
        return scale / np.sqrt(3) if method.endswith("uniform") else scale

    def default_bounds_with_relu_gain(kind, in_channels, out_channels, kernel=1, groups=1):
        fan_in = fourteen.fans(kind, in_channels, out_channels, kernel, groups)[0]
        return np.sqrt(6 / fan_in), 1 / np.sqrt(fan_in)

    def smoothing_over_the_other_classes(logits, target, eps=0.0):
        # eps / (C - 1) on the wrong classes only, the true one keeping 1 - eps
        nll = -fifteen._log_softmax(logits)
        rows, c = np.arange(len(target)), nll.shape[1]
        others = nll.sum(axis=1) - nll[rows, target]
        return float(((1 - eps) * nll[rows, target] + eps / (c - 1) * others).mean())

    def focal_with_p_not_p_t(logits, targets, alpha=0.25, gamma=2.0):
        out = fifteen.focal_loss(logits, targets, alpha, 0.0)  # alpha-weighted BCE
        p = 1 / (1 + np.exp(-np.asarray(logits, dtype=float)))
        return out * (1 - p) ** gamma

    def flip_rows_only(image, kernel, padding=0):
        return one.cross_correlate(image, np.asarray(kernel)[::-1], padding)

    def biased_running_var(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
        out = ten.batch_norm_step(x, gamma, beta, running_mean, running_var, momentum, eps)
        out["running_var"] = (1 - momentum) * np.asarray(running_var) + momentum * out["var"]
        return out

    def momentum_swapped(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
        return ten.batch_norm_step(x, gamma, beta, running_mean, running_var, 1 - momentum, eps)

    def no_relu_mask(x, conv_w, conv_b, fc_w, fc_b, target):
        out = nine.backprop(x, conv_w, conv_b, fc_w, fc_b, target)
        out["d_conv"] = out["d_relu"]
        return out

    def d_logits_without_onehot(x, conv_w, conv_b, fc_w, fc_b, target):
        out = nine.backprop(x, conv_w, conv_b, fc_w, fc_b, target)
        out["d_logits"] = out["probs"]
        return out

    def audit_against_stated_rows(input_shape, table):
        # checks each row against the table's own (possibly wrong) previous row
        found = []
        for i, row in enumerate(table):
            before = list(input_shape) if i == 0 else list(table[i - 1]["output"])
            found += [[i, field, value] for _, field, value in eleven.audit(before, [row])]
        return found

    def macs_without_kernel_area(input_shape, layers):
        counts = seven.network_macs(input_shape, layers)
        return [n // layer[2] ** 2 if layer[0] == "conv" else n for layer, n in zip(layers, counts)]

    def im2col_channels_last(image, kernel, stride=1, padding=0):
        cols = eight.im2col(image, kernel, stride, padding)
        c = np.shape(image)[0]
        return cols.reshape(c, kernel * kernel, -1).transpose(1, 0, 2).reshape(cols.shape)

    return [
        (1, "cross_correlate", lambda image, kernel, padding=0: one.cross_correlate(image, kernel)),
        (
            1,
            "convolve",
            lambda image, kernel, padding=0: one.cross_correlate(image, kernel, padding),
        ),
        (1, "convolve", flip_rows_only),
        (1, "coincide", lambda kernel: bool(np.array_equal(kernel, np.asarray(kernel).T))),
        (
            2,
            "conv_output_size",
            lambda size, kernel, stride=1, padding=0, dilation=1: (
                (size - kernel + 2 * padding) // stride
            ),
        ),
        (
            2,
            "conv_output_size",
            lambda size, kernel, stride=1, padding=0, dilation=1: two.conv_output_size(
                size, kernel, stride, padding
            ),
        ),
        (2, "same_padding", lambda kernel, dilation=1: (kernel - 1) // 2),
        (2, "kernel_for", lambda size_in, size_out, padding=0: size_in + 2 * padding - size_out),
        (2, "stride_fits", lambda size, kernel, stride, padding=0: (size - kernel) % stride == 0),
        (
            3,
            "pool_output_size",
            lambda size, kernel, stride=None, padding=0: three.pool_output_size(
                size, kernel, 1, padding
            ),
        ),
        (3, "max_pool", lambda image, kernel, stride=None: three.max_pool(image, kernel, 1)),
        (
            3,
            "max_pool_winners",
            lambda image, kernel, stride=None: [
                [(r % kernel, c % kernel) for r, c in row]
                for row in three.max_pool_winners(image, kernel, stride)
            ],
        ),
        (3, "unchanged_by_shift", lambda size, position, shift, kernel: True),
        (
            4,
            "conv_transpose_output_size",
            lambda size, kernel, stride=1, padding=0, output_padding=0: (
                four.conv_transpose_output_size(size, kernel, stride, padding)
            ),
        ),
        (
            4,
            "scatter_transpose",
            lambda image, kernel, stride=1, padding=0: four.scatter_transpose(
                image, np.asarray(kernel)[::-1, ::-1], stride, padding
            ),
        ),
        (
            4,
            "input_sizes",
            lambda output_size, kernel, stride, padding=0: four.input_sizes(
                output_size, kernel, stride, padding
            )[:1],
        ),
        (4, "output_padding_for", lambda size, kernel, stride, padding=0: (size - kernel) % stride),
        (
            5,
            "conv_params",
            lambda in_channels, out_channels, kernel, bias=True, groups=1: five.conv_params(
                in_channels, out_channels, kernel, False, groups
            ),
        ),
        (
            5,
            "conv_params",
            lambda in_channels, out_channels, kernel, bias=True, groups=1: five.conv_params(
                in_channels, out_channels, kernel, bias
            ),
        ),
        (
            5,
            "linear_params",
            lambda in_features, out_features, bias=True: in_features * out_features,
        ),
        (5, "batchnorm_params", lambda num_features: (4 * num_features, 0)),
        (
            5,
            "network_params",
            lambda input_shape, layers: [
                0 if layer[0] == "bn" else n
                for layer, n in zip(layers, five.network_params(input_shape, layers))
            ],
        ),
        (
            5,
            "flattened_size",
            lambda input_shape, layers: five.flattened_size(
                input_shape, [layer for layer in layers if layer[0] != "pool"]
            ),
        ),
        (6, "receptive_field", lambda layers: 1 + sum((layer[1] - 1) for layer in layers)),
        (
            6,
            "output_stride",
            lambda layers: six.output_stride(
                [(k, n, 1) if k == "pool" and not rest else (k, n, *rest) for k, n, *rest in layers]
            ),
        ),
        (
            7,
            "conv_macs",
            lambda in_shape, out_channels, kernel, stride=1, padding=0: seven.conv_macs(
                in_shape, out_channels, kernel, 1, padding
            ),
        ),
        (
            7,
            "linear_macs",
            lambda in_features, out_features: in_features * out_features + out_features,
        ),
        (7, "network_macs", macs_without_kernel_area),
        (8, "im2col", im2col_channels_last),
        (
            8,
            "conv_as_matmul",
            lambda image, weight, stride=1, padding=0: eight.conv_as_matmul(
                image, weight, stride, 0
            ),
        ),
        (9, "backprop", no_relu_mask),
        (9, "backprop", d_logits_without_onehot),
        (10, "batch_norm_step", biased_running_var),
        (10, "batch_norm_step", momentum_swapped),
        (12, "normalise", batch_stats_per_sample),
        (12, "normalise", unbiased_normalise),
        (12, "norm_parameters", layer_norm_per_channel),
        (13, "sgd_steps", decay_after_momentum),
        (13, "sgd_steps", dampened_first_step),
        (
            13,
            "sgd_steps",
            lambda w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False: (
                thirteen.sgd_steps(w, grads, lr, momentum, dampening, weight_decay)
            ),
        ),
        (13, "adam_steps", adam_without_bias_correction),
        (13, "adam_steps", adamw_as_l2),
        (14, "fans", transposed_fans_as_conv),
        (
            14,
            "fans",
            lambda kind, in_channels, out_channels, kernel=1, groups=1: fourteen.fans(
                kind, in_channels, out_channels, kernel
            ),
        ),
        (
            14,
            "nonlinearity_gain",
            lambda nonlinearity, a=None: fourteen.nonlinearity_gain(nonlinearity, 0.01),
        ),
        (  # leaky_relu's missing slope taken as 0 instead of calculate_gain's 0.01
            14,
            "nonlinearity_gain",
            lambda nonlinearity, a=None: fourteen.nonlinearity_gain(nonlinearity, a or 0.0),
        ),
        (14, "init_scale", uniform_bound_is_std),
        (
            14,
            "init_scale",
            lambda method, shape, gain=1.0, a=0.0, mode="fan_in", nonlinearity="leaky_relu": (
                fourteen.init_scale(method, shape, gain, a, "fan_in", nonlinearity)
            ),
        ),
        (14, "default_bounds", default_bounds_with_relu_gain),
        (15, "smoothed_cross_entropy", smoothing_over_the_other_classes),
        (
            15,
            "soft_cross_entropy",
            lambda logits, probs: fifteen.soft_cross_entropy(logits, probs) * len(logits),
        ),
        (15, "focal_loss", focal_with_p_not_p_t),
        (
            15,
            "focal_loss",
            lambda logits, targets, alpha=0.25, gamma=2.0: fifteen.focal_loss(
                logits, targets, alpha if alpha < 0 else 1 - alpha, gamma
            ),
        ),
        (  # scores divided by E instead of sqrt(E)
            16,
            "attention",
            lambda q, k, v, causal=False: sixteen.attention(
                np.asarray(q, float) / np.sqrt(max(np.shape(q)[-1], 1)), k, v, causal
            ),
        ),
        (16, "attention", attention_softmax_over_queries),
        (  # the projections counted once per head
            16,
            "mha_parameters",
            lambda embed_dim, num_heads, bias=True: (
                num_heads * sixteen.mha_parameters(embed_dim, num_heads, bias)
            ),
        ),
        (  # the class token forgotten
            16,
            "vit_tokens",
            lambda image_size, patch_size: sixteen.vit_tokens(image_size, patch_size) - 1,
        ),
        (  # the layer norms' parameters forgotten
            16,
            "encoder_layer_parameters",
            lambda d_model, dim_feedforward, bias=True: (
                sixteen.encoder_layer_parameters(d_model, dim_feedforward, bias)
                - 2 * (2 * d_model if bias else d_model)
            ),
        ),
        (11, "audit", audit_against_stated_rows),
        (
            11,
            "audit",
            lambda input_shape, table: [
                c for c in eleven.audit(input_shape, table) if c[1] != "params"
            ],
        ),
    ]


PLANTED = _planted()


@pytest.mark.parametrize(
    "n, function, wrong", PLANTED, ids=[f"{n}-{f}-{i}" for i, (n, f, _) in enumerate(PLANTED)]
)
def test_planted_mistake_is_caught_and_reported(n, function, wrong):
    report = E.run_checks(n, _with(n, **{function: wrong}), max_examples=40, only=[function])
    assert not report.ok, f"exercise {n}: the wrong {function} passed its checks"
    (failure,) = report.failures
    assert failure.kind == "wrong" and failure.function == function
    assert failure.instance, "the report names the instance"
    text = failure.format()
    for part in ("instance:", f"{function}(", "expected (what the engine computes):", "given:"):
        assert part in text, text
    # the instance in the report really is a failing one
    task = next(t for t in E.get_exercise(n).tasks() if t.function == function)
    assert task.compare(task.oracle(**failure.instance), wrong(**failure.instance)) is not None


def test_failure_report_reads_plainly():
    ex = E.get_exercise(2)
    wrong = _with(
        2,
        conv_output_size=lambda size, kernel, stride=1, padding=0, dilation=1: (
            (size - kernel + 2 * padding) // stride
        ),
    )
    text = E.run_checks(ex, wrong, only=["conv_output_size"]).format()
    # hypothesis shrinks to the smallest instance: a 1-wide input and a 1-wide kernel
    assert "conv_output_size(size=1, kernel=1, stride=1, padding=0, dilation=1)" in text
    assert re.search(r"expected \(what the engine computes\):\n\s+1\n\s+given:\n\s+0", text), text
    assert "hint:" in text and "0 of 1 functions pass" in text


def test_a_crash_and_a_missing_function_are_reported():
    def crashes(image, kernel, padding=0):
        raise IndexError("index 3 is out of bounds")

    mod = _with(1, cross_correlate=crashes)
    del mod.coincide
    report = E.run_checks(1, mod, max_examples=5)
    kinds = {f.function: f for f in report.failures}
    assert kinds["cross_correlate"].kind == "error"
    assert "raised IndexError: index 3 is out of bounds" in kinds["cross_correlate"].format()
    assert kinds["coincide"].kind == "missing"
    assert "not found in your file" in kinds["coincide"].format()
    assert "convolve" not in kinds


def test_learner_cannot_change_the_instance_the_engine_sees():
    right = _solution(1).cross_correlate

    def answers_then_scribbles(image, kernel, padding=0):
        out = right(image, kernel, padding)
        kernel[...] = 0  # edits its argument in place after answering
        return out

    report = E.run_checks(
        1,
        _with(1, cross_correlate=answers_then_scribbles),
        only=["cross_correlate"],
        max_examples=10,
    )
    assert report.ok, report.format()


# ------------------------------------------------------------------------------------------------
# Fresh instances
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", NUMBERS)
def test_new_instance_is_seeded_and_its_answers_come_from_the_engine(n):
    items = E.new_instance(n, seed=3)
    again = E.new_instance(n, seed=3)
    assert [q.text for q, _ in items] == [q.text for q, _ in again]
    solution = _solution(n)
    tasks = {t.function: t for t in E.get_exercise(n).tasks()}
    for q, answer in items:
        assert tasks[q.function].compare(answer, getattr(solution, q.function)(**q.args)) is None


def test_new_instances_differ_between_seeds():
    texts = {E.format_new(2, seed) for seed in range(5)}
    assert len(texts) > 1


# ------------------------------------------------------------------------------------------------
# The command line
# ------------------------------------------------------------------------------------------------


def test_cli_list_and_show():
    code, out, _ = _run(["list"])
    assert code == 0
    for e in EXERCISES:
        assert e.title in out
    code, out, _ = _run(["show", "2"])
    assert code == 0 and "## Problem" in out and E.WORKED_HEADING not in out
    assert "conv_output_size" in out and "exercises check 2" in out
    code, out, _ = _run(["show", "conv_output_size", "--worked"])
    assert code == 0 and E.WORKED_HEADING in out


def test_cli_check_a_learner_file(tmp_path):
    ex = E.get_exercise(2)
    good = tmp_path / "mine.py"
    good.write_text(ex.solution.read_text())
    code, out, _ = _run(["check", "2", "--solution", str(good), "--examples", "10"])
    assert code == 0, out
    assert "4 of 4 functions pass" in out and str(good) in out
    bad = tmp_path / "off_by_one.py"
    bad.write_text(ex.solution.read_text().replace("// stride + 1", "// stride"))
    code, out, _ = _run(["check", "2", "--solution", str(bad), "--examples", "10"])
    assert code == 1
    assert "FAIL  conv_output_size: wrong answer" in out
    assert "instance:" in out and "expected (what the engine computes):" in out and "given:" in out
    code, out, _ = _run(["check", "2"])  # the untouched starter
    assert code == 1 and "not written yet" in out


def test_cli_new_hides_answers_unless_asked():
    code, hidden, _ = _run(["new", "5", "--seed", "7"])
    assert code == 0 and "Answers hidden" in hidden and "Answer key" not in hidden
    code, shown, _ = _run(["new", "5", "--seed", "7", "--answers"])
    assert code == 0 and "Answer key (computed by the engine)" in shown
    assert shown.startswith(hidden.split("Answers hidden")[0])
    tasks = {t.function: t for t in E.get_exercise(5).tasks()}
    for q, answer in E.new_instance(5, seed=7):
        assert tasks[q.function].text(answer) in shown


def test_cli_errors_are_plain_messages(tmp_path, monkeypatch):
    code, _, err = _run(["show", "99"])
    assert code == 2 and "no exercise '99'" in err
    code, _, err = _run(["check", "2", "--solution", str(tmp_path / "nope.py")])
    assert code == 2 and "no such file" in err
    monkeypatch.setenv(E.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(E, "_REPO", tmp_path)
    with pytest.raises(FileNotFoundError, match="exercises folder not found"):
        E.exercises_dir()
    code, _, err = _run(["list"])
    assert code == 2 and E.ENV_VAR in err and "pip install -e" in err


def test_cli_parses_the_exercise_options():
    parser = build_parser()
    args = parser.parse_args(["exercises", "new", "3", "--seed", "4", "--answers"])
    assert (args.action, args.number, args.seed, args.answers) == ("new", "3", 4, True)
    args = parser.parse_args(["exercises", "check", "1", "--solution", "x.py", "--seed", "2"])
    assert (args.solution, args.seed, args.examples) == ("x.py", 2, E.DEFAULT_EXAMPLES)
    code, out, _ = _run([])  # no action: the command's help
    assert code == 0 and "list" in out and "check" in out and "new" in out


def test_texts_are_returned_not_printed(capsys):
    listing, shown = E.format_list(), E.format_show(2)
    assert capsys.readouterr().out == ""  # the library returns the texts; the CLI prints them
    assert _run(["list"])[1] == listing + "\n" and _run(["show", "2"])[1] == shown + "\n"


def test_exercises_dir_follows_the_environment_variable(tmp_path, monkeypatch):
    _copy_exercise(6, tmp_path)
    monkeypatch.setenv(E.ENV_VAR, str(tmp_path / "exercises"))
    assert E.exercises_dir() == tmp_path / "exercises"
    assert [e.number for e in E.list_exercises()] == [6]
    assert E.run_checks(6, E.get_exercise(6).solution, max_examples=5).ok
