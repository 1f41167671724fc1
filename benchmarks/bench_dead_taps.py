"""Dead kernel taps: dilated convs cropped to the taps that read input, against the full convs
(`kernels.SKIP_DEAD_TAPS = False`) and against PyTorch.

    python benchmarks/bench_dead_taps.py                  # ASPP convs and both DeepLabV3 models
    python benchmarks/bench_dead_taps.py --no-models --repeats 5
    python benchmarks/bench_dead_taps.py --quick          # seconds: a smoke run

Convs: DeepLabV3's ASPP branches, 3x3 2048 -> 256 with padding = dilation 12, 24, 36, no bias,
float32, forward + backward (input and weight gradients) through autograd, on the 28x28 map
that ResNet-50 (output stride 8) gives a 224x224 image and the 14x14 one of output stride 16
(MobileNetV3's map has 960 channels; the 2048 keeps one layer shape): timed with the crop
("new"), without it ("old") and as torch.nn.functional.conv2d + backward ("torch").
Models: `deeplabv3_resnet50(num_classes=21)` and `deeplabv3_mobilenet_v3_large(num_classes=21)`,
one training step without the optimizer (forward, cross-entropy on 'out', backward) on
2x3x224x224, old and new. Times: the minimum (or --stat median) of --repeats runs after one
warm-up, old, new and torch interleaved in a rotating order, in ms. --threads goes into
OMP/OPENBLAS/MKL_NUM_THREADS (set before NumPy loads), `minitorch_cv.set_num_threads` and
`torch.set_num_threads`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--stat", choices=("min", "median"), default="min")
    p.add_argument("--batch", type=int, default=4, help="batch of the ASPP convs (default 4)")
    p.add_argument("--no-models", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--quick", action="store_true", help="small shapes, one repeat")
    return p.parse_args()


def main():
    args = parse()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before NumPy (and its BLAS) loads
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import minitorch_cv as mt
    from minitorch_cv import kernels, models
    from minitorch_cv.functional import conv2d, cross_entropy

    mt.set_num_threads(args.threads)
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    stat = min if args.stat == "min" else statistics.median
    repeats = 1 if args.quick else args.repeats

    def timed(fns):
        """{name: stat of the times} of each fn, interleaved, after one warm-up each; the order
        rotates every round, so that no fn always runs right after the same other one."""
        times = {name: [] for name in fns}
        order = list(fns.items())
        for r in range(repeats + 1):
            for name, fn in order[r % len(order) :] + order[: r % len(order)]:
                t0 = time.perf_counter()
                fn()
                if r:
                    times[name].append(1e3 * (time.perf_counter() - t0))
        return {name: stat(t) for name, t in times.items()}

    def ours(skip, fn):
        def run():
            kernels.SKIP_DEAD_TAPS = skip
            try:
                fn()
            finally:
                kernels.SKIP_DEAD_TAPS = True

        return run

    rng = np.random.default_rng(0)
    n, cin, cout = (1, 64, 16) if args.quick else (args.batch, 2048, 256)
    print(f"ASPP 3x3 convs {cin} -> {cout}, batch {n}, float32, forward + backward, "
          f"{args.threads} thread(s), {args.stat} of {repeats}, ms")  # fmt: skip
    print(f"{'map':>6} {'dil':>4} {'live taps':>10} {'old':>9} {'new':>9} {'torch':>9} "
          f"{'new/old':>8} {'new/torch':>9}")  # fmt: skip
    for side in (28, 14):
        x = rng.standard_normal((n, cin, side, side), dtype=np.float32)
        w = (rng.standard_normal((cout, cin, 3, 3), dtype=np.float32) / np.sqrt(9 * cin)).astype(
            np.float32
        )
        gy = rng.standard_normal((n, cout, side, side), dtype=np.float32)
        for d in (12, 24, 36):

            def step(x=x, w=w, gy=gy, d=d):
                xt, wt = mt.tensor(x, requires_grad=True), mt.tensor(w, requires_grad=True)
                y = conv2d(xt, wt, None, 1, d, d)
                y.backward(mt.tensor(gy))

            fns = {"old": ours(False, step), "new": ours(True, step)}
            if torch is not None:
                tx = torch.from_numpy(x).requires_grad_()
                tw = torch.from_numpy(w).requires_grad_()
                tg = torch.from_numpy(gy)

                def torch_step(d=d, tx=tx, tw=tw, tg=tg):
                    tx.grad = tw.grad = None
                    torch.nn.functional.conv2d(tx, tw, None, 1, d, d).backward(tg)

                fns["torch"] = torch_step
            t = timed(fns)
            crop = kernels.live_crop((side, side), (3, 3), (1, 1), ((d, d),) * 2, (d, d),
                                     (side, side))  # fmt: skip
            if crop is None or crop[0] is None:  # every tap live, or none (bias only)
                live = "3x3" if crop is None else "none"
            else:
                live = "x".join(str(s.stop - s.start) for s in crop[0])
            tt = t.get("torch", float("nan"))
            print(f"{side:>4}^2 {d:>4} {live:>10} {t['old']:9.1f} {t['new']:9.1f} {tt:9.1f} "
                  f"{t['new'] / t['old']:8.2f} {t['new'] / tt:9.2f}")  # fmt: skip

    if args.no_models:
        return
    size = 64 if args.quick else 224
    print(f"\nmodels, one training step (forward, cross-entropy, backward; no optimizer), "
          f"2x3x{size}x{size}, ms")  # fmt: skip
    print(f"{'model':>32} {'old':>9} {'new':>9} {'new/old':>8}")
    x = mt.tensor(rng.standard_normal((2, 3, size, size), dtype=np.float32))
    target = mt.tensor(rng.integers(0, 21, (2, size, size)))
    for name in ("deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large"):
        model = getattr(models, name)(num_classes=21)
        model.train()

        def train_step(model=model):
            model.zero_grad()
            cross_entropy(model(x)["out"], target).backward()

        t = timed({"old": ours(False, train_step), "new": ours(True, train_step)})
        print(f"{name:>32} {t['old']:9.1f} {t['new']:9.1f} {t['new'] / t['old']:8.2f}")


if __name__ == "__main__":
    main()
