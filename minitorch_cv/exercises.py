"""Hand-worked exercises whose answers are checked against what the engine computes.

The exercises live next to the package, in the repository's `exercises/` folder (found from an
editable install, or from `$MINITORCH_CV_EXERCISES`). Each is a folder `NN_slug/` holding

    README.md     the problem as on a course sheet, then `## Worked solution`, worked by hand,
                  ending with a ```json worked``` block of the worked answers (tests recompute them)
    starter.py    the functions a learner fills in
    solution.py   a reference solution
    checks.py     TASKS: one `Task` per function (an engine oracle + a hypothesis strategy of
                  instances), and `generate(rng)`, fresh numeric instances for `new N --seed S`

A check is a property test: over random instances, the learner's function must give what the
engine gives (the shape `conv2d` really returns, `F.conv2d`'s numbers, the parameters a model
really has, autograd's gradients). A failure is reported in plain words: the instance (the smallest
one hypothesis finds), the expected answer and the given one.

    minitorch-cv exercises list                                 format_list()
    minitorch-cv exercises show 2 [--worked]                    format_show(2, worked)
    minitorch-cv exercises check 2 [--solution my_answers.py]   run_checks(2, file).format()
    minitorch-cv exercises new 2 --seed 7 [--answers]           format_new(2, 7, answers)

This module builds those texts and reports; `minitorch_cv.cli` parses the command and prints them.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import math
import os
import re
import sys
import textwrap
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ENV_VAR = "MINITORCH_CV_EXERCISES"
WORKED_HEADING = "## Worked solution"
DEFAULT_EXAMPLES = 50
_WORKED_BLOCK = re.compile(r"```json worked\s*\n(.*?)\n```", re.S)
_FOLDER = re.compile(r"^(\d+)_([a-z0-9_]+)$")
# The repository root when the package is used from a clone (editable install or PYTHONPATH).
_REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------------------
# Finding and loading exercises
# ------------------------------------------------------------------------------------------------


def exercises_dir() -> Path:
    """The `exercises/` folder: `$MINITORCH_CV_EXERCISES`, else the one beside the package.

    Raises FileNotFoundError naming the places looked at when neither holds exercises (the
    package was installed from a wheel rather than from a clone of the repository).
    """
    candidates = []
    env = os.environ.get(ENV_VAR)
    if env:
        candidates.append(Path(env).expanduser())
    candidates.append(_REPO / "exercises")
    for c in candidates:
        if c.is_dir() and any(_FOLDER.match(p.name) and p.is_dir() for p in c.iterdir()):
            return c
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"exercises folder not found (looked in {looked}). The exercises ship with the repository, "
        f"not the wheel: clone it and `pip install -e .` there, or set {ENV_VAR} to the path of "
        f"its exercises/ folder."
    )


@dataclass(frozen=True)
class Exercise:
    """One exercise folder, `NN_slug/`."""

    number: int
    slug: str
    path: Path

    @property
    def readme(self) -> Path:
        return self.path / "README.md"

    @property
    def starter(self) -> Path:
        return self.path / "starter.py"

    @property
    def solution(self) -> Path:
        return self.path / "solution.py"

    @property
    def checks(self) -> Path:
        return self.path / "checks.py"

    @property
    def title(self) -> str:
        """The README's first heading, without its 'Exercise N:' prefix."""
        for line in self.readme.read_text(encoding="utf-8").splitlines():
            if line.startswith("# "):
                return re.sub(r"^Exercise\s+\d+\s*[:.-]\s*", "", line[2:].strip())
        return self.slug.replace("_", " ")

    def readme_text(self) -> str:
        return self.readme.read_text(encoding="utf-8")

    def problem_text(self) -> str:
        """The README up to its worked solution: what a learner reads before starting."""
        text = self.readme_text()
        cut = text.find(WORKED_HEADING)
        return (text if cut < 0 else text[:cut]).rstrip() + "\n"

    def load_checks(self) -> types.ModuleType:
        """Import checks.py afresh (it defines TASKS and generate)."""
        mod = load_module(self.checks, f"_minitorch_cv_exercise_{self.number:02d}_checks")
        if not isinstance(getattr(mod, "TASKS", None), (list, tuple)):
            raise TypeError(f"{self.checks}: expected a list TASKS of minitorch_cv.exercises.Task")
        return mod

    def tasks(self) -> list[Task]:
        return list(self.load_checks().TASKS)

    def functions(self) -> list[str]:
        """The names of the functions a learner writes, in the order the README asks for them."""
        return [t.function for t in self.tasks()]


def list_exercises() -> list[Exercise]:
    """All exercises, by number."""
    root = exercises_dir()
    found = []
    for p in root.iterdir():
        m = _FOLDER.match(p.name)
        if m and p.is_dir() and (p / "checks.py").is_file():
            found.append(Exercise(int(m.group(1)), m.group(2), p))
    return sorted(found, key=lambda e: e.number)


def get_exercise(key) -> Exercise:
    """An exercise by number (`2`, `"02"`) or by slug / folder name (`"conv_output_size"`)."""
    exercises = list_exercises()
    for e in exercises:
        if str(key).strip() in (str(e.number), f"{e.number:02d}", e.slug, e.path.name):
            return e
    valid = ", ".join(str(e.number) for e in exercises)
    raise ValueError(f"exercises: no exercise {key!r}; there are exercises {valid}")


def format_list() -> str:
    """The text of `exercises list`: one line per exercise, then where they are."""
    exercises = list_exercises()
    lines = [f"{e.number:3d}  {e.title}" for e in exercises]
    lines += ["", f"{len(exercises)} exercises in {exercises_dir()}. "
              "`minitorch-cv exercises show N` prints one."]  # fmt: skip
    return "\n".join(lines)


def format_show(exercise, worked: bool = False) -> str:
    """The text of `exercises show N`: the problem and what to do next, or with `worked` the
    whole README including the worked solution."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    if worked:
        return ex.readme_text()
    return (
        f"{ex.problem_text()}\n"
        f"Write {', '.join(ex.functions())} in {ex.starter}, then run "
        f"`minitorch-cv exercises check {ex.number}`.\n"
        f"`minitorch-cv exercises show {ex.number} --worked` prints the worked solution."
    )


def load_module(path, name: str | None = None) -> types.ModuleType:
    """Execute the Python file at `path` as a fresh module (re-read on every call).

    The module is registered in sys.modules under `name` (default: derived from the path) so
    dataclasses and pickling inside it work; loading again replaces it.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"exercises: no such file {path}")
    if name is None:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
        name = f"_minitorch_cv_learner_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


# ------------------------------------------------------------------------------------------------
# Writing numbers the way a student reads them
# ------------------------------------------------------------------------------------------------


def format_number(v) -> str:
    """An int as is; a float with at most 4 decimals (3.0 -> '3', 0.25 -> '0.25')."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return str(float(v))
        s = f"{float(v):.4f}".rstrip("0").rstrip(".")
        return "0" if s in ("-0", "") else s
    return repr(v)


def _is_numeric_array(v) -> bool:
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biuf"
    if isinstance(v, (list, tuple)) and v:
        try:
            a = np.asarray(v)
        except (ValueError, TypeError):
            return False
        return a.dtype.kind in "biuf" and a.ndim >= 1
    return False


def format_grid(a) -> str:
    """A 2-D array as right-aligned rows; 1-D as one row; higher ranks as labelled 2-D slices."""
    a = np.asarray(a)
    if a.ndim == 0:
        return format_number(a.item())
    if a.size == 0:
        return f"(empty array of shape {a.shape})"
    if a.ndim == 1:
        return "[" + ", ".join(format_number(x) for x in a.tolist()) + "]"
    if a.ndim == 2:
        cells = [[format_number(x) for x in row] for row in a.tolist()]
        width = max((len(c) for row in cells for c in row), default=1)
        return "\n".join("  ".join(c.rjust(width) for c in row) for row in cells)
    parts = []
    for idx in np.ndindex(*a.shape[:-2]):
        label = "[" + ", ".join(str(i) for i in idx) + "]"
        parts.append(f"{label}\n{format_grid(a[idx])}")
    return "\n".join(parts)


def format_table(rows: list[dict]) -> str:
    """A list of dicts as an aligned text table: one column per key ('-' where a row has none)."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    cells = [["row", *keys]] + [
        [str(i), *(format_value(r[k]) if k in r else "-" for k in keys)] for i, r in enumerate(rows)
    ]
    widths = [max(len(row[j]) for row in cells) for j in range(len(keys) + 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def format_value(v) -> str:
    """Any answer as text: numbers, None, arrays as grids, tuples/lists, dicts key by key, lists
    of dicts as tables."""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)) and v and all(isinstance(r, dict) for r in v):
        return format_table(list(v))
    if isinstance(v, dict):
        return "\n".join(
            f"{k}:\n{_indent(format_value(x))}"
            if "\n" in format_value(x)
            else f"{k}: {format_value(x)}"
            for k, x in v.items()
        )
    if hasattr(v, "numpy") and callable(v.numpy):  # a Tensor
        v = v.numpy()
    if _is_numeric_array(v):
        a = np.asarray(v)
        if a.ndim == 1 and isinstance(v, tuple):
            return "(" + ", ".join(format_number(x) for x in a.tolist()) + ")"
        return format_grid(a)
    if isinstance(v, (list, tuple)) and _has_str(v):
        return repr(_python(v))  # a layer list: write it as Python, ("conv", 32, 5, 2)
    if isinstance(v, (list, tuple)):
        inner = ", ".join(format_value(x) for x in v)
        return f"({inner})" if isinstance(v, tuple) else f"[{inner}]"
    if isinstance(v, np.ndarray):
        return repr(v.tolist())
    return format_number(v)


def _has_str(v) -> bool:
    return isinstance(v, str) or isinstance(v, (list, tuple)) and any(_has_str(x) for x in v)


def _python(v):
    """Nested lists/tuples with NumPy scalars turned into plain Python values (for repr)."""
    if isinstance(v, (list, tuple)):
        return type(v)(_python(x) for x in v)
    return v.item() if isinstance(v, np.generic) else v


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def format_call(function: str, args: dict) -> str:
    """`f(a=1, b=2)`, with grid arguments (2-D and up) written out below the call."""
    inline, blocks = [], []
    for k, v in args.items():
        text = format_value(v)
        grid = _is_numeric_array(v) and np.ndim(v) >= 2
        if grid or "\n" in text:
            inline.append(k)
            shape = f" ({' x '.join(str(n) for n in np.shape(v))})" if grid else ""
            blocks.append(f"{k}{shape} =\n{_indent(text)}")
        else:
            inline.append(f"{k}={text}")
    head = f"{function}({', '.join(inline)})"
    return head if not blocks else head + " with\n" + "\n".join(blocks)


# ------------------------------------------------------------------------------------------------
# Comparing answers
# ------------------------------------------------------------------------------------------------


@dataclass
class Difference:
    """Why two answers differ; `expected`/`given` may narrow them to the part that differs."""

    note: str
    expected: Any = None
    given: Any = None


def _as_plain(v):
    if hasattr(v, "numpy") and callable(v.numpy):
        return v.numpy()
    return v


def exact(expected, given) -> Difference | None:
    """Equal answers: ints, bools, None, tuples, or arrays of the same shape and values."""
    given = _as_plain(given)
    if expected is None or given is None:
        return None if expected is given else Difference("")
    if isinstance(expected, (bool, np.bool_)):
        if not isinstance(given, (bool, np.bool_)):
            return Difference(f"expected True or False, got {type(given).__name__} {given!r}")
        return None if bool(expected) == bool(given) else Difference("")
    if _is_numeric_array(expected) or isinstance(expected, np.ndarray):
        try:
            g = np.asarray(given)
        except (ValueError, TypeError):
            return Difference("the answer is not an array of numbers")
        e = np.asarray(expected)
        if g.shape != e.shape:
            return Difference(f"shape {g.shape} instead of {e.shape}")
        if g.dtype.kind not in "biuf" or not np.array_equal(e, g):
            return Difference(_first_cell(e, g) if g.dtype.kind in "biuf" else "not numbers")
        return None
    if isinstance(expected, (list, tuple)):
        if not isinstance(given, (list, tuple)) or len(given) != len(expected):
            return Difference(f"expected a sequence of {len(expected)} items")
        for i, (e, g) in enumerate(zip(expected, given)):
            d = exact(e, g)
            if d is not None:
                return Difference(f"item {i} differs" + (f": {d.note}" if d.note else ""))
        return None
    if isinstance(expected, (int, np.integer)) and isinstance(given, (float, np.floating)):
        if float(given) != int(expected):
            return Difference("")
        return Difference("the answer should be an int, not a float")
    try:
        same = bool(expected == given)
    except (ValueError, TypeError):
        same = False
    return None if same else Difference("")


def _first_cell(e: np.ndarray, g: np.ndarray, atol: float = 0.0, rtol: float = 0.0) -> str:
    """Where two same-shape arrays differ: the count and the first differing entry."""
    bad = ~np.isclose(g, e, atol=atol, rtol=rtol) if atol or rtol else e != g
    if e.ndim == 0 or not bad.any():
        return ""
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"{int(bad.sum())} of {bad.size} entries differ, first at index {idx}: expected "
        f"{format_number(e[idx].item())}, given {format_number(g[idx].item())}"
    )


def close(atol: float = 1e-6, rtol: float = 1e-6) -> Callable:
    """A comparator for float answers: same shape, |given - expected| <= atol + rtol*|expected|.

    Dicts are compared key by key (the first differing key is reported); tuples item by item.
    """

    def compare(expected, given):
        given = _as_plain(given)
        if isinstance(expected, dict):
            if not isinstance(given, dict):
                return Difference(f"expected a dict with keys {sorted(expected)}")
            missing = [k for k in expected if k not in given]
            if missing:
                return Difference(f"missing keys {missing}")
            for k in expected:
                d = compare(expected[k], given[k])
                if d is not None:
                    note = f"'{k}' differs" + (f": {d.note}" if d.note else "")
                    return Difference(note, expected[k], given[k])
            return None
        if isinstance(expected, tuple):
            if not isinstance(given, (tuple, list)) or len(given) != len(expected):
                return Difference(f"expected a tuple of {len(expected)} items")
            for i, (e, g) in enumerate(zip(expected, given)):
                d = compare(e, g)
                if d is not None:
                    note = f"item {i} differs" + (f": {d.note}" if d.note else "")
                    return Difference(note, e, g)
            return None
        try:
            g = np.asarray(given, dtype=np.float64)
        except (ValueError, TypeError):
            return Difference("the answer is not a number or an array of numbers")
        e = np.asarray(expected, dtype=np.float64)
        if g.shape != e.shape:
            return Difference(f"shape {g.shape} instead of {e.shape}")
        if not np.allclose(g, e, atol=atol, rtol=rtol, equal_nan=False):
            return Difference(_first_cell(e, g, atol, rtol))
        return None

    return compare


# ------------------------------------------------------------------------------------------------
# Tasks and running the checks
# ------------------------------------------------------------------------------------------------


@dataclass
class Task:
    """One function a learner writes, and the property that checks it.

    Args:
        function: the function's name in starter.py / solution.py.
        oracle: takes the same keyword arguments and computes the answer with the engine.
        args: a hypothesis strategy of keyword-argument dicts (the random instances).
        compare: (expected, given) -> Difference or None. Default: `exact`.
        claim: one line, what the property says (shown by `check`).
        hint: the usual mistake, shown under a failure.
        show: writes an answer as text (default `format_value`); the README's worked solution
            must show each worked answer this way.
    """

    function: str
    oracle: Callable
    args: Any
    compare: Callable = exact
    claim: str = ""
    hint: str = ""
    show: Callable = format_value

    def text(self, value) -> str:
        """`show(value)`, falling back to `format_value` for answers of an unexpected form."""
        try:
            return self.show(value)
        except Exception:
            return format_value(value)


@dataclass
class Failure:
    """The first failing instance of a task (the smallest hypothesis found)."""

    function: str
    kind: str  # 'wrong' | 'error' | 'missing' | 'not implemented'
    instance: dict = field(default_factory=dict)
    expected: Any = None
    given: Any = None
    note: str = ""
    hint: str = ""
    show: Callable = format_value

    def format(self) -> str:
        if self.kind == "missing":
            return f"{self.function}: not found in your file ({self.note})"
        if self.kind == "not implemented":
            return f"{self.function}: not written yet (it raises NotImplementedError)"
        lines = [f"{self.function}: {'wrong answer' if self.kind == 'wrong' else 'error'}"]
        lines.append("  instance:\n" + _indent(format_call(self.function, self.instance)))
        lines.append(
            "  expected (what the engine computes):\n" + _indent(self._text(self.expected))
        )
        given = self._text(self.given) if self.kind == "wrong" else self.note
        lines.append("  given:\n" + _indent(given))
        if self.kind == "wrong" and self.note:
            lines.append(f"  where: {self.note}")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def _text(self, value) -> str:
        try:
            return self.show(value)
        except Exception:
            return format_value(value)


@dataclass
class TaskResult:
    task: Task
    failure: Failure | None
    examples: int

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class Report:
    """The outcome of `run_checks`: one TaskResult per task, in order."""

    exercise: Exercise
    source: str
    results: list[TaskResult]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failures(self) -> list[Failure]:
        return [r.failure for r in self.results if r.failure is not None]

    def format(self) -> str:
        e = self.exercise
        lines = [f"Exercise {e.number}: {e.title}", f"checking {self.source}", ""]
        for r in self.results:
            if r.ok:
                lines.append(f"ok    {r.task.function}: {r.task.claim} ({r.examples} instances)")
            else:
                tag = "todo" if r.failure.kind == "not implemented" else "FAIL"
                lines.append(f"{tag}  " + r.failure.format().replace("\n", "\n      "))
        passed = sum(r.ok for r in self.results)
        lines += ["", f"{passed} of {len(self.results)} functions pass."]
        return _tidy(lines)


class _Wrong(AssertionError):
    """Raised inside a hypothesis example; carries the Failure of that example."""

    def __init__(self, failure: Failure):
        super().__init__(failure.function)  # formatted only when reported, not per example
        self.failure = failure


def _hypothesis():
    try:
        import hypothesis
    except ImportError as exc:  # pragma: no cover - hypothesis is in the dev extra
        raise ImportError(
            "exercises: the checks need hypothesis; install it with `pip install hypothesis` "
            "(or `pip install -e '.[dev]'`)"
        ) from exc
    return hypothesis


def _copy_args(args: dict) -> dict:
    """A deep copy of an instance, so a learner's function that edits its input in place cannot
    change what the oracle sees."""
    return copy.deepcopy(args)


def check_task(
    task: Task,
    fn: Callable,
    *,
    max_examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    shrink: bool = True,
) -> TaskResult:
    """Run one task's property on the learner's function `fn`.

    Returns a TaskResult whose failure (if any) is the smallest failing instance hypothesis found.
    """
    hyp = _hypothesis()
    count = [0]
    pending = []

    def prop(args):
        count[0] += 1
        try:
            given = fn(**_copy_args(args))
        except NotImplementedError:
            # nothing to learn from more instances: record it and let the run end quietly
            pending.append(Failure(task.function, "not implemented"))
            return
        except Exception as exc:  # the learner's code crashed: report it on this instance
            expected = task.oracle(**_copy_args(args))
            note = f"raised {type(exc).__name__}: {exc}"
            raise _Wrong(
                Failure(task.function, "error", args, expected, None, note, task.hint, task.show)
            ) from exc
        expected = task.oracle(**_copy_args(args))
        diff = task.compare(expected, given)
        if diff is not None:
            e = expected if diff.expected is None else diff.expected
            g = given if diff.given is None else diff.given
            raise _Wrong(
                Failure(task.function, "wrong", args, e, g, diff.note, task.hint, task.show)
            )

    def run_one(args):
        if not pending:  # once NotImplementedError is seen, the remaining instances are skipped
            prop(args)

    phases = [hyp.Phase.explicit, hyp.Phase.generate] + ([hyp.Phase.shrink] if shrink else [])
    test = hyp.given(args=task.args)(run_one)
    test = hyp.settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        derandomize=False,
        phases=phases,
        report_multiple_bugs=False,
        verbosity=hyp.Verbosity.quiet,
        suppress_health_check=list(hyp.HealthCheck),
    )(test)
    test = hyp.seed(seed)(test)
    try:
        test()
    except _Wrong as exc:
        return TaskResult(task, exc.failure, count[0])
    except hyp.errors.Flaky as exc:
        # the same instance failed once and passed once: the answer depends on something else
        first = next((e for e in getattr(exc, "exceptions", ()) if isinstance(e, _Wrong)), None)
        fail = first.failure if first else Failure(task.function, "error")
        fail.kind, fail.note = (
            "error",
            (
                "gives different answers for the same instance: does it use random numbers or "
                "change a global variable?"
            ),
        )
        return TaskResult(task, fail, count[0])
    if pending:
        return TaskResult(task, pending[0], count[0])
    return TaskResult(task, None, count[0])


def run_checks(
    exercise,
    solution=None,
    *,
    max_examples: int = DEFAULT_EXAMPLES,
    seed: int = 0,
    shrink: bool = True,
    only: Sequence[str] | None = None,
) -> Report:
    """Check a learner's functions against the engine, one task per function.

    Args:
        exercise: an Exercise, or its number / slug.
        solution: the learner's file (a path), an already-loaded module, or None for the
            exercise's starter.py (the file the learner edits). Default: None.
        max_examples: random instances per function (default 50).
        seed: hypothesis seed, so a run can be repeated (default 0).
        shrink: shrink a failing instance to the smallest one (default True).
        only: check only these function names (default: all).
    """
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    if solution is None:
        solution = ex.starter
    if isinstance(solution, types.ModuleType):
        module, source = solution, getattr(solution, "__file__", None) or solution.__name__
    else:
        module, source = load_module(solution), str(Path(solution))
    results = []
    for task in ex.tasks():
        if only is not None and task.function not in only:
            continue
        fn = getattr(module, task.function, None)
        if not callable(fn):
            fail = Failure(task.function, "missing", note=f"define `def {task.function}(...)`")
            results.append(TaskResult(task, fail, 0))
            continue
        results.append(check_task(task, fn, max_examples=max_examples, seed=seed, shrink=shrink))
    return Report(ex, source, results)


# ------------------------------------------------------------------------------------------------
# Fresh instances and the README's worked answers
# ------------------------------------------------------------------------------------------------


@dataclass
class Question:
    """One numeric question of a generated sheet: the text, and the call whose answer it asks."""

    text: str
    function: str
    args: dict


def new_instance(exercise, seed: int) -> list[tuple[Question, Any]]:
    """A fresh random instance of the exercise: its questions, each with the engine's answer."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    mod = ex.load_checks()
    oracles = {t.function: t.oracle for t in mod.TASKS}
    questions = mod.generate(np.random.default_rng(seed))
    return [(q, oracles[q.function](**_copy_args(q.args))) for q in questions]


def format_new(exercise, seed: int, answers: bool = False) -> str:
    """The text `exercises new N --seed S [--answers]` prints."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    items = new_instance(ex, seed)
    tasks = {t.function: t for t in ex.tasks()}
    lines = [f"Exercise {ex.number}: {ex.title} (fresh instance, seed {seed})", ""]
    for i, (q, _) in enumerate(items, 1):
        text = "\n".join(
            textwrap.fill(line, 96) if len(line) > 96 else line
            for line in q.text.strip().splitlines()
        )
        lines.append(f"{i}. " + text.replace("\n", "\n   "))
        lines.append("")
    if answers:
        lines.append("Answer key (computed by the engine):")
        for i, (q, a) in enumerate(items, 1):
            text = tasks[q.function].text(a)
            lines.append(f"{i}. {q.function}: " + ("\n" + _indent(text) if "\n" in text else text))
    else:
        lines.append("Answers hidden; add --answers to see them.")
    return _tidy(lines)


def _tidy(lines: list[str]) -> str:
    """Join lines, without the trailing spaces that indenting blank lines leaves."""
    return "\n".join(line.rstrip() for line in "\n".join(lines).splitlines())


def worked_items(exercise) -> list[dict]:
    """The README's ```json worked``` block: [{"function", "args", "answer"}, ...]."""
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    m = _WORKED_BLOCK.search(ex.readme_text())
    if m is None:
        raise ValueError(f"{ex.readme}: no ```json worked``` block")
    items = json.loads(m.group(1))
    for it in items:
        if set(it) != {"function", "args", "answer"}:
            raise ValueError(
                f"{ex.readme}: worked item needs function/args/answer, got {sorted(it)}"
            )
    return items


def verify_worked(exercise, tol: float = 1e-4) -> list[str]:
    """Recompute every worked answer of the README with the engine and with solution.py.

    Returns a list of problems (empty when the sheet agrees with the code): an answer the engine
    does not reproduce, or an answer that the README's worked solution text does not show.
    """
    ex = exercise if isinstance(exercise, Exercise) else get_exercise(exercise)
    tasks = {t.function: t for t in ex.tasks()}
    solution = load_module(ex.solution)
    worked_text = ex.readme_text().split(WORKED_HEADING, 1)[-1]
    worked_text = _WORKED_BLOCK.sub("", worked_text)
    problems = []
    for it in worked_items(ex):
        f, args, answer = it["function"], it["args"], it["answer"]
        call = format_call(f, args).splitlines()[0]
        if f not in tasks:
            problems.append(f"{call}: no task named {f}")
            continue
        engine = tasks[f].oracle(**_copy_args(args))
        mine = getattr(solution, f)(**_copy_args(args))
        for who, value in (("engine", engine), ("solution.py", mine)):
            d = _agrees(value, answer, tol, tasks[f])
            if d is not None:
                problems.append(
                    f"{call}: README says {format_value(answer)!r}, the {who} gives "
                    f"{format_value(value)!r} ({d.note})"
                )
        for text in _shown_parts(answer, tasks[f]):
            if text not in worked_text:
                problems.append(f"{call}: the worked solution does not show the answer:\n{text}")
    return problems


def _agrees(value, answer, tol: float, task: Task) -> Difference | None:
    """Does a computed answer agree with the README's? Answers with fractions were rounded for
    the sheet: compare those within `tol`; everything else with the task's own comparison."""
    if _has_fraction(answer):
        return close(tol, 0)(_as_plain(value), answer)
    return task.compare(_as_plain(value), answer)


def _has_fraction(v) -> bool:
    if isinstance(v, dict):
        return any(_has_fraction(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_has_fraction(x) for x in v)
    return isinstance(v, float) and not v.is_integer()


def _shown_parts(answer, task: Task) -> list[str]:
    """How the worked solution must show an answer: each grid, number or dict value as the task
    writes it (True/False/None are words in the prose, not checked)."""
    if isinstance(answer, dict):
        return [p for v in answer.values() for p in _shown_parts(v, task)]
    if isinstance(answer, (bool, type(None))):
        return []
    return [task.text(answer)]


# ------------------------------------------------------------------------------------------------
# Engine models from a small layer language (exercises 5, 7 and 11)
# ------------------------------------------------------------------------------------------------


def build_network(input_shape, layers, *, dtype=None):
    """An engine model from a layer list, and the shape after each layer.

    Args:
        input_shape: (C, H, W) of one sample.
        layers: a list of tuples/lists, each one of
            ("conv", out_channels, kernel, padding=0, stride=1)   Conv2d with bias
            ("pool", kernel, stride=kernel)                          MaxPool2d
            ("relu",)  ("bn",)  ("flatten",)  ("linear", out_features)
            "bn" is BatchNorm2d on (C, H, W) maps and BatchNorm1d after flatten.
        dtype: parameter dtype (default: the engine's default float type).

    Returns (modules, shapes): the engine modules, one per layer, and the per-sample output shape
    after each layer, found by running a zero batch of one sample through the real layers.
    """
    from . import layers as nn
    from .tensor import no_grad, zeros

    x = zeros(1, *[int(s) for s in input_shape], dtype=dtype)
    modules, shapes = [], []
    with no_grad():
        for spec in layers:
            kind, *p = list(spec)
            c = x.shape[1]
            if kind == "conv":
                out, k, pad, stride = list(p) + [0, 1][len(p) - 2 :]
                m = nn.Conv2d(
                    c, int(out), int(k), stride=int(stride), padding=int(pad), dtype=dtype
                )
            elif kind == "pool":
                k = int(p[0])
                m = nn.MaxPool2d(k, int(p[1]) if len(p) > 1 else k)
            elif kind == "relu":
                m = nn.ReLU()
            elif kind == "bn":
                m = (
                    nn.BatchNorm2d(c, dtype=dtype)
                    if x.ndim == 4
                    else nn.BatchNorm1d(c, dtype=dtype)
                )
            elif kind == "flatten":
                m = nn.Flatten()
            elif kind == "linear":
                m = nn.Linear(c, int(p[0]), dtype=dtype)
            else:
                raise ValueError(f"build_network: unknown layer {spec!r}")
            m.eval()  # batch norm on one sample: use the running statistics
            x = m(x)
            modules.append(m)
            shapes.append(tuple(int(s) for s in x.shape[1:]))
    return modules, shapes


def network_instances():
    """A hypothesis strategy of {"input_shape", "layers"} dicts: small random CNNs in the layer
    language of `build_network` (conv blocks with optional batch norm and pooling, then flatten
    and one or two linear layers), every layer with an output of at least 1 x 1."""
    st = _hypothesis().strategies

    @st.composite
    def instances(draw):
        c, size = draw(st.integers(1, 3)), draw(st.integers(6, 24))
        shape = (c, size, size)
        layers = []
        for _ in range(draw(st.integers(1, 3))):
            k = draw(st.sampled_from([1, 3, 5]))
            if k > size:
                break
            p, s = draw(st.integers(0, k // 2)), draw(st.integers(1, 2))
            layers.append(("conv", draw(st.integers(1, 12)), k, p, s))
            size = (size - k + 2 * p) // s + 1
            if draw(st.booleans()):
                layers.append(("bn",))
            layers.append(("relu",))
            if size >= 2 and draw(st.booleans()):
                layers.append(("pool", 2))
                size //= 2
        layers.append(("flatten",))
        for _ in range(draw(st.integers(1, 2))):
            layers.append(("linear", draw(st.integers(1, 20))))
            if draw(st.booleans()):
                layers.append(("bn",))
        return {"input_shape": shape, "layers": layers}

    return instances()
