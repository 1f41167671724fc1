"""Depthwise convolutions: the tap-loop path of minitorch_cv.kernels against the grouped GEMM path
it replaced, and against PyTorch.

    python benchmarks/bench_depthwise.py                      # every layer and both models
    python benchmarks/bench_depthwise.py --threads 1 --stat min --repeats 7
    python benchmarks/bench_depthwise.py --no-models          # the layers only
    python benchmarks/bench_depthwise.py --quick              # seconds: a smoke run

Layers: the depthwise 3x3 convs of MobileNetV2 and ShuffleNetV2 x1.0 on 224x224 images, batch 32
(the input each one sees), float32. For each: the forward (`kernels.conv2d`), the weight gradient
(`kernels.conv2d_weight`) and the input gradient (`kernels.conv_transpose2d`, which is what
`Conv2d.backward` calls), timed on

    old    the grouped GEMM drivers (`kernels.DEPTHWISE = False`: a loop over the groups)
    new    the depthwise tap loops (`kernels.DEPTHWISE = True`, the default)
    torch  torch.nn.functional.conv2d and aten.convolution_backward (one output each)

Models: a training step without the optimizer (forward, cross-entropy, backward) of
`models.mobilenet_v2` and `models.shufflenet_v2_x1_0` at 16x3x112x112 in training mode, old and
new, and the same network written out in PyTorch below (torchvision's module names; our weights
load into it with strict=True, and the first forward is checked against ours).

Times are the median (or `--stat min`) of --repeats runs after one warm-up, in ms. The thread
count goes into OMP/OPENBLAS/MKL_NUM_THREADS (the script re-executes itself so that BLAS reads
it), `minitorch_cv.set_num_threads` and `torch.set_num_threads`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# (net, channels, input side, stride): every distinct depthwise 3x3 layer of the two networks
LAYERS = (
    ("mobilenet_v2", 32, 112, 1),
    ("mobilenet_v2", 96, 112, 2),
    ("mobilenet_v2", 144, 56, 1),
    ("mobilenet_v2", 144, 56, 2),
    ("mobilenet_v2", 192, 28, 1),
    ("mobilenet_v2", 192, 28, 2),
    ("mobilenet_v2", 384, 14, 1),
    ("mobilenet_v2", 576, 14, 1),
    ("mobilenet_v2", 576, 14, 2),
    ("mobilenet_v2", 960, 7, 1),
    ("shufflenet_v2", 24, 56, 2),
    ("shufflenet_v2", 58, 56, 2),
    ("shufflenet_v2", 58, 28, 1),
    ("shufflenet_v2", 116, 28, 2),
    ("shufflenet_v2", 116, 14, 1),
    ("shufflenet_v2", 232, 14, 2),
    ("shufflenet_v2", 232, 7, 1),
)
QUICK_LAYERS = (("mobilenet_v2", 96, 28, 2), ("shufflenet_v2", 116, 7, 1))


def reexec_with_threads(threads: int) -> None:
    """Re-run this script with the BLAS thread variables set (BLAS reads them when it loads)."""
    want = {v: str(threads) for v in THREAD_VARS}
    if all(os.environ.get(k) == v for k, v in want.items()):
        return
    sys.stdout.flush()
    argv = [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]]
    os.execve(sys.executable, argv, {**os.environ, **want})


def import_minitorch():
    """Import minitorch_cv, from this checkout when it is not installed."""
    try:
        import minitorch_cv
    except ImportError:
        sys.path.insert(0, str(ROOT))
        import minitorch_cv
    return minitorch_cv


def timed(fn, repeats: int, stat: str) -> float:
    """ms of fn(): min or median of `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * (min(times) if stat == "min" else statistics.median(times))


# --------------------------------------------------------------------------- single layers


def layer_times(kernels, torch, n, c, size, stride, repeats, stat):
    """{engine: (fwd, wgrad, igrad) ms} for a 3x3 depthwise conv, padding 1, on (n, c, size^2)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, size, size), dtype=np.float32)
    w = rng.standard_normal((c, 1, 3, 3), dtype=np.float32)
    s, p, d = (stride, stride), ((1, 1), (1, 1)), (1, 1)
    gy = rng.standard_normal(kernels.conv2d(x, w, None, s, p, d, c).shape, dtype=np.float32)
    extra = ((size - 1) % stride,) * 2  # input rows no window reaches (Conv2d.backward's)
    ops = (
        lambda: kernels.conv2d(x, w, None, s, p, d, c),
        lambda: kernels.conv2d_weight(x, gy, (3, 3), s, p, d, c),
        lambda: kernels.conv_transpose2d(gy, w, None, s, p, extra, d, c),
    )
    out = {}
    for engine, flag in (("old", False), ("new", True)):
        kernels.DEPTHWISE = flag
        try:
            out[engine] = tuple(timed(op, repeats, stat) for op in ops)
        finally:
            kernels.DEPTHWISE = True
    if torch is not None:
        xt, wt, gt = (torch.from_numpy(a) for a in (x, w, gy))
        back = torch.ops.aten.convolution_backward
        args = (None, [stride] * 2, [1, 1], [1, 1], False, [0, 0], c)
        with torch.no_grad():
            ops = (
                lambda: torch.nn.functional.conv2d(xt, wt, None, stride, 1, 1, c),
                lambda: back(gt, xt, wt, *args, [False, True, False]),
                lambda: back(gt, xt, wt, *args, [True, False, False]),
            )
            out["torch"] = tuple(timed(op, repeats, stat) for op in ops)
    return out


# --------------------------------------------------------------------------- whole models


def torch_mobilenet_v2(torch):
    """torchvision's mobilenet_v2 (width 1.0), written out with its module names."""
    nn = torch.nn

    def cbr(cin, cout, k=3, stride=1, groups=1):
        return nn.Sequential(
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )

    class Block(nn.Module):
        def __init__(self, inp, oup, stride, t):
            super().__init__()
            hidden = inp * t
            self.use_res = stride == 1 and inp == oup
            layers = [cbr(inp, hidden, 1)] if t != 1 else []
            layers += [
                cbr(hidden, hidden, 3, stride, hidden),
                nn.Conv2d(hidden, oup, 1, bias=False),
            ]
            self.conv = nn.Sequential(*layers, nn.BatchNorm2d(oup))

        def forward(self, x):
            return x + self.conv(x) if self.use_res else self.conv(x)

    setting = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
    features, cin = [cbr(3, 32, 3, 2)], 32
    for t, c, reps, s in setting:
        for i in range(reps):
            features.append(Block(cin, c, s if i == 0 else 1, t))
            cin = c
    features.append(cbr(cin, 1280, 1))
    net = nn.Module()
    net.features = nn.Sequential(*features)
    net.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, 1000))
    net.forward = lambda x: net.classifier(net.features(x).mean((2, 3)))
    return net


def torch_shufflenet_v2_x1_0(torch):
    """torchvision's shufflenet_v2_x1_0, written out with its module names."""
    nn = torch.nn

    def dw(c, stride):
        return [nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c)]

    def pw(cin, cout):
        return [nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class Unit(nn.Module):
        def __init__(self, inp, oup, stride):
            super().__init__()
            self.stride, half = stride, oup // 2
            branch1 = [*dw(inp, stride), *pw(inp, half)] if stride > 1 else []
            self.branch1 = nn.Sequential(*branch1)
            cin = inp if stride > 1 else half
            self.branch2 = nn.Sequential(*pw(cin, half), *dw(half, stride), *pw(half, half))

        def forward(self, x):
            if self.stride == 1:
                x1, x2 = x.chunk(2, dim=1)
                out = torch.cat((x1, self.branch2(x2)), 1)
            else:
                out = torch.cat((self.branch1(x), self.branch2(x)), 1)
            n, c, h, w = out.shape  # channel shuffle, 2 groups
            return out.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)

    net = nn.Module()
    net.conv1 = nn.Sequential(nn.Conv2d(3, 24, 3, 2, 1, bias=False), nn.BatchNorm2d(24),
                              nn.ReLU(inplace=True))  # fmt: skip
    net.maxpool = nn.MaxPool2d(3, 2, 1)
    cin = 24
    for i, reps, cout in zip((2, 3, 4), (4, 8, 4), (116, 232, 464)):
        units = [Unit(cin, cout, 2)] + [Unit(cout, cout, 1) for _ in range(reps - 1)]
        setattr(net, f"stage{i}", nn.Sequential(*units))
        cin = cout
    net.conv5 = nn.Sequential(*pw(cin, 1024))
    net.fc = nn.Linear(1024, 1000)

    def forward(x):
        x = net.maxpool(net.conv1(x))
        x = net.conv5(net.stage4(net.stage3(net.stage2(x))))
        return net.fc(x.mean((2, 3)))

    net.forward = forward
    return net


def model_times(mt, torch, name, n, size, repeats, stat):
    """{engine: ms} of forward + cross-entropy + backward in training mode, and the largest
    |ours - torch| of the logits in eval mode over the largest |torch| (None without torch)."""
    import numpy as np

    mt.manual_seed(0)
    model = getattr(mt.models, name)()
    model.train()
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal((n, 3, size, size), dtype=np.float32)
    y_np = rng.integers(0, 1000, n)
    x, y = mt.tensor(x_np), mt.tensor(y_np)

    def step_ours():
        model.zero_grad()
        mt.functional.cross_entropy(model(x), y).backward()

    out, diff = {}, None
    for engine, flag in (("old", False), ("new", True)):
        mt.kernels.DEPTHWISE = flag
        try:
            out[engine] = timed(step_ours, repeats, stat)
        finally:
            mt.kernels.DEPTHWISE = True
    if torch is not None:
        twin = {"mobilenet_v2": torch_mobilenet_v2, "shufflenet_v2_x1_0": torch_shufflenet_v2_x1_0}
        net = twin[name](torch)
        state = {k: torch.from_numpy(np.array(v.numpy())) for k, v in model.state_dict().items()}
        net.load_state_dict(state, strict=True)
        xt, yt = torch.from_numpy(x_np), torch.from_numpy(y_np)
        model.eval(), net.eval()  # no dropout; the running statistics just loaded
        with torch.no_grad():
            ours, theirs = model(x).numpy(), net.forward(xt).numpy()
        diff = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))
        net.train()

        def step_torch():
            net.zero_grad()
            torch.nn.functional.cross_entropy(net.forward(xt), yt).backward()

        out["torch"] = timed(step_torch, repeats, stat)
    return out, diff


# --------------------------------------------------------------------------- report


def _ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS / minitorch_cv / torch threads (default: all cores)")  # fmt: skip
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    p.add_argument("--stat", choices=("median", "min"), default="median")
    p.add_argument("--batch", type=int, default=32, help="layer batch (default 32)")
    p.add_argument("--model-batch", type=int, default=16)
    p.add_argument("--model-size", type=int, default=112, help="model input side")
    p.add_argument("--no-models", action="store_true", help="time the layers only")
    p.add_argument("--no-layers", action="store_true", help="time the models only")
    p.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke run")
    args = p.parse_args(argv)
    if min(args.threads, args.repeats, args.batch, args.model_batch, args.model_size) < 1:
        p.error("--threads, --repeats, --batch, --model-batch and --model-size must be >= 1")
    if argv is None:
        reexec_with_threads(args.threads)
    layers = LAYERS
    if args.quick:
        layers, args.repeats, args.batch, args.model_batch, args.model_size = (
            QUICK_LAYERS,
            1,
            2,
            2,
            32,
        )

    mt = import_minitorch()
    mt.set_num_threads(args.threads)
    try:
        import torch
    except ImportError:
        torch = None
        print("note: torch is not installed; timing minitorch_cv only", file=sys.stderr)
    else:
        torch.set_num_threads(args.threads)
    print(
        f"threads {args.threads} (minitorch_cv workers {mt.get_num_threads()}, torch "
        f"{torch.get_num_threads() if torch else '-'}), {args.stat} of {args.repeats} runs, ms; "
        f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )
    engines = ("old", "new", "torch") if torch is not None else ("old", "new")
    if not args.no_layers:
        head = f"{'net':<14} {'layer (N x C x H x W, stride)':<30}"
        head += "".join(f" {e + ' fwd/wgrad/igrad':>24}" for e in engines)
        print(head + "  new/old" + ("  new/torch" if torch is not None else ""))
        for net, c, size, stride in layers:
            t = layer_times(mt.kernels, torch, args.batch, c, size, stride, args.repeats, args.stat)
            row = f"{net:<14} {f'{args.batch}x{c}x{size}x{size} s{stride}':<30}"
            row += "".join(f" {' / '.join(f'{v:.2f}' for v in t[e]):>24}" for e in engines)
            total = {e: sum(t[e]) for e in engines}
            row += f"  {_ratio(total['new'], total['old']):>7}"
            if torch is not None:
                row += f"  {_ratio(total['new'], total['torch']):>9}"
            print(row, flush=True)
    if not args.no_models:
        print(
            f"\nforward + cross-entropy + backward, {args.model_batch}x3x{args.model_size}x"
            f"{args.model_size}, training mode"
        )
        print(f"{'model':<20}" + "".join(f" {e + ' ms':>10}" for e in engines) + "  new/old"
              + ("  new/torch  max rel. diff of logits" if torch is not None else ""))  # fmt: skip
        for name in ("mobilenet_v2", "shufflenet_v2_x1_0"):
            t, diff = model_times(
                mt, torch, name, args.model_batch, args.model_size, args.repeats, args.stat
            )
            row = f"{name:<20}" + "".join(f" {t[e]:>10.1f}" for e in engines)
            row += f"  {_ratio(t['new'], t['old']):>7}"
            if torch is not None:
                row += f"  {_ratio(t['new'], t['torch']):>9}  {diff:.1e}"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
