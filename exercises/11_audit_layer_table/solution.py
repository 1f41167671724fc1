"""Exercise 11, reference solution: recompute every row from the corrected row before it."""


def audit(input_shape, table):
    shape = list(input_shape)
    corrections = []
    for i, row in enumerate(table):
        kind = row["layer"]
        params = 0
        if kind == "conv":
            k, p, s = row["kernel"], row["padding"], row["stride"]
            size = [(d - k + 2 * p) // s + 1 for d in shape[1:]]
            shape = [row["out"], *size]
            params = row["out"] * row["in"] * k * k + row["out"]
        elif kind == "pool":
            k, s = row["kernel"], row["stride"]
            shape = [shape[0], *[(d - k) // s + 1 for d in shape[1:]]]
        elif kind == "bn":
            params = 2 * shape[0]
        elif kind == "flatten":
            n = 1
            for d in shape:
                n *= d
            shape = [n]
        elif kind == "fc":
            shape = [row["out"]]
            params = row["in"] * row["out"] + row["out"]
        if list(row["output"]) != shape:
            corrections.append([i, "output", list(shape)])
        if row["params"] != params:
            corrections.append([i, "params", params])
    return corrections
