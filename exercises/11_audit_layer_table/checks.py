"""Checks of exercise 11: a layer table audited against the engine's real modules."""

import numpy as np
from hypothesis import strategies as st

import minitorch_cv as mt
from minitorch_cv import layers as nn
from minitorch_cv.exercises import Difference, Question, Task, format_table, format_value


def _module(row, x):
    kind = row["layer"]
    if kind == "conv":
        return nn.Conv2d(
            row["in"], row["out"], row["kernel"], stride=row["stride"], padding=row["padding"]
        )
    if kind == "pool":
        return nn.MaxPool2d(row["kernel"], row["stride"])
    if kind == "bn":
        return nn.BatchNorm2d(x.shape[1]) if x.ndim == 4 else nn.BatchNorm1d(x.shape[1])
    if kind == "flatten":
        return nn.Flatten()
    if kind == "fc":
        return nn.Linear(row["in"], row["out"])
    raise ValueError(f"audit: unknown layer {kind!r}")


def engine_audit(input_shape, table):
    x = mt.zeros(1, *input_shape)
    corrections = []
    with mt.no_grad():
        for i, row in enumerate(table):
            m = _module(row, x)
            m.eval()
            x = m(x)
            output = [int(d) for d in x.shape[1:]]
            params = sum(p.numel() for p in m.parameters())
            if list(row["output"]) != output:
                corrections.append([i, "output", output])
            if row["params"] != params:
                corrections.append([i, "params", params])
    return corrections


def _normal(corrections):
    """Corrections as a sorted list of (row, field, value) with values as ints or int tuples."""
    out = []
    for row, field, value in corrections:
        v = tuple(int(d) for d in value) if np.ndim(value) else int(value)
        out.append((int(row), str(field), v))
    return sorted(out, key=lambda c: (c[0], c[1]))


def compare(expected, given):
    try:
        g = _normal(given)
    except (TypeError, ValueError):
        return Difference("expected a list of [row, field, value] triples")
    e = _normal(expected)
    if e == g:
        return None
    missed = [c for c in e if c not in g]
    extra = [c for c in g if c not in e]
    parts = []
    if missed:
        parts.append(f"missed or miscorrected {missed}")
    if extra:
        parts.append(f"wrong corrections {extra}")
    return Difference("; ".join(parts))


def show(corrections):
    if not corrections:
        return "(no corrections: the table is right)"
    return "\n".join(
        f"row {r}: {f} -> {format_value(list(v) if np.ndim(v) else v)}"
        for r, f, v in _normal(corrections)
    )


@st.composite
def _tables(draw):
    c, size = draw(st.integers(1, 3)), draw(st.integers(8, 32))
    shape = [c, size, size]
    rows = []

    def add(row, params):
        rows.append({**row, "output": list(shape), "params": params})

    for _ in range(draw(st.integers(1, 3))):
        k = draw(st.sampled_from([1, 3, 5]))
        if k > shape[1]:
            break
        p, s, out = draw(st.integers(0, k // 2)), draw(st.integers(1, 2)), draw(st.integers(1, 16))
        cin = shape[0]
        shape = [out, *[(d - k + 2 * p) // s + 1 for d in shape[1:]]]
        add(
            {"layer": "conv", "in": cin, "out": out, "kernel": k, "padding": p, "stride": s},
            out * cin * k * k + out,
        )
        if draw(st.booleans()):
            add({"layer": "bn"}, 2 * shape[0])
        if shape[1] >= 2 and draw(st.booleans()):
            shape = [shape[0], shape[1] // 2, shape[2] // 2]
            add({"layer": "pool", "kernel": 2, "stride": 2}, 0)
    shape = [int(np.prod(shape))]
    add({"layer": "flatten"}, 0)
    for _ in range(draw(st.integers(1, 2))):
        fin, fout = shape[0], draw(st.integers(2, 32))
        shape = [fout]
        add({"layer": "fc", "in": fin, "out": fout}, fin * fout + fout)
    # plant mistakes: sizes off by one, a forgotten bias, half a batch norm
    for row in rows:
        if draw(st.integers(0, 3)) == 0:
            delta = draw(st.sampled_from([-1, 1, 2]))
            row["output"] = (
                [row["output"][0]] + [max(1, d + delta) for d in row["output"][1:]]
                if len(row["output"]) == 3
                else [row["output"][0] + delta]
            )
        if row["params"] and draw(st.integers(0, 3)) == 0:
            row["params"] -= row.get("out", row["params"] // 2)
    return {"input_shape": [c, size, size], "table": rows}


TASKS = [
    Task(
        "audit",
        engine_audit,
        _tables(),
        compare,
        claim="the corrections are the differences from the engine's output shapes and "
        "parameter counts",
        hint="check each row against the corrected output of the row before it; conv and fc "
        "have a bias; pooling, flatten have no parameters; batch norm has 2 per channel",
        show=show,
    ),
]


def generate(rng):
    size = int(rng.choice([28, 32]))
    c = int(rng.choice([1, 3]))
    f1, f2 = int(rng.choice([8, 16, 32])), int(rng.choice([16, 32, 64]))
    k1, p1 = int(rng.choice([3, 5])), int(rng.integers(0, 3))
    h = (size - k1 + 2 * p1) + 1
    rows = [
        {
            "layer": "conv",
            "in": c,
            "out": f1,
            "kernel": k1,
            "padding": p1,
            "stride": 1,
            "output": [f1, h, h],
            "params": f1 * c * k1 * k1 + f1,
        },
        {"layer": "bn", "output": [f1, h, h], "params": 2 * f1},
        {"layer": "pool", "kernel": 2, "stride": 2, "output": [f1, h // 2, h // 2], "params": 0},
        {
            "layer": "conv",
            "in": f1,
            "out": f2,
            "kernel": 3,
            "padding": 1,
            "stride": 2,
            "output": [f2, (h // 2 - 1) // 2 + 1, (h // 2 - 1) // 2 + 1],
            "params": f2 * f1 * 9 + f2,
        },
    ]
    flat = f2 * rows[-1]["output"][1] ** 2
    rows += [
        {"layer": "flatten", "output": [flat], "params": 0},
        {"layer": "fc", "in": flat, "out": 10, "output": [10], "params": flat * 10 + 10},
    ]
    for i in rng.choice(len(rows), size=2, replace=False):  # plant two mistakes
        row = rows[int(i)]
        if row["params"] and rng.random() < 0.5:
            row["params"] -= row.get("out", row["params"] // 2)
        elif len(row["output"]) == 3:
            row["output"] = [row["output"][0]] + [d + 1 for d in row["output"][1:]]
        else:
            row["output"] = [row["output"][0] + 1]
    text = (
        f"Audit this table for a {c} x {size} x {size} input (find the wrong outputs and "
        f"parameter counts):\n{format_table(rows)}"
    )
    return [Question(text, "audit", {"input_shape": [c, size, size], "table": rows})]
