"""Training-step benchmark: the six reference networks in minitorch_cv against PyTorch.

    python benchmarks/bench_train_step.py                       # all six, CPU, full size
    python benchmarks/bench_train_step.py --nets e2 fcn-baseline --steps 20
    python benchmarks/bench_train_step.py --profile             # + where our step spends its time
    python benchmarks/bench_train_step.py --device cuda         # CuPy vs PyTorch CUDA
    python benchmarks/bench_train_step.py --quick --json out.json   # seconds; used by the tests

For each network the same weights (copied from minitorch_cv into a hand-written PyTorch twin,
benchmarks/torch_models.py) and the same random batch go through both engines. The script

  1. checks that the first step's loss and every parameter gradient agree (float32 tolerances);
  2. times `zero_grad; forward; cross_entropy; backward; Adam.step` on both sides, in
     alternating blocks of --block steps in one process with the same thread count, and
     reports the medians;
  3. turns the time into GFLOP/s of conv / transposed-conv / linear arithmetic and compares it
     with the machine's float32 matmul rate, measured at the start;
  4. measures the peak memory of one training step on each side.

FLOP convention: a layer's forward costs 2 * MACs (multiply + add); training costs 3x forward
(forward, input gradient, weight gradient), so step FLOPs = 6 * forward MACs of every Conv2d,
ConvTranspose2d and Linear. The first layer's input gradient is counted although neither engine
computes it; BN, ReLU, pooling, the loss and Adam count as zero. Both sides get the same count.

Memory: CPU minitorch_cv = tracemalloc peak over one step (NumPy reports its buffers to
tracemalloc); CPU PyTorch = the profiler's "Total Allocated" peak over one step
(torch.profiler, profile_memory=True). Both count what the step allocates beyond what existed
when it started (old gradients freed by zero_grad are not subtracted on either side); BLAS and
oneDNN internal scratch is invisible to both. CUDA: a CuPy memory-pool hook (bytes handed out
by the pool, net of returns) vs torch.cuda.max_memory_allocated; both net of the step's frees.

Allocator: glibc malloc returns big freed blocks to the OS and page-faults them back in every
step. `--malloc tuned` (default) re-executes the script with MALLOC_MMAP_THRESHOLD_ and
MALLOC_TRIM_THRESHOLD_ raised so that neither engine churns pages; `--malloc default` runs under
glibc's defaults; both sides always share the process, hence the setting. The thread count goes
into OMP/OPENBLAS/MKL_NUM_THREADS (also by re-executing, before NumPy loads its BLAS) and into
torch.set_num_threads.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import tracemalloc
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_EXEC_MARK = "_MINITORCH_BENCH_REEXEC"

# glibc keeps freed blocks below the mmap threshold in the heap and trims the heap top only above
# the trim threshold: 1 GiB / 4 GiB keeps every activation-sized block in the process.
TUNED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
SWITCH_PAUSE_S = 0.3  # between the two engines' blocks of timed steps (see bench_net)


@dataclass(frozen=True)
class NetSpec:
    """One benchmark network: registry name, label, batch, input (C, H, W), classes."""

    name: str
    label: str
    batch: int
    input_size: tuple[int, int, int]
    num_classes: int
    segmentation: bool = False
    ignore_index: int = -100  # label of pixels the loss skips (VOC's 255 boundary for D)


NETS = (
    NetSpec("three-layer", "F default", 64, (3, 32, 32), 10),
    NetSpec("e2", "E2", 64, (3, 32, 32), 10),
    NetSpec("e1", "E1", 64, (3, 32, 32), 10),
    NetSpec("unit-block-mnist", "A-MNIST", 128, (1, 28, 28), 10),
    NetSpec("two-decoder", "B two-decoder", 64, (3, 32, 32), 20, segmentation=True),
    NetSpec("fcn-baseline", "D FCN", 4, (3, 224, 224), 21, segmentation=True, ignore_index=255),
)
NET_NAMES = tuple(s.name for s in NETS)


def quick_spec(spec: NetSpec) -> NetSpec:
    """The --quick variant: batch <= 16 and the FCN at 64 x 64 (H, W divisible by 32 suffice).

    Not smaller: BatchNorm over a handful of values is ill-conditioned (with 2 samples
    BatchNorm1d maps every input to +-1 and passes back float32 noise only; B's 2 x 2 deepest
    maps at batch 4 give 2 % gradient differences in float32 and 1e-14 in float64), and the
    gradient check would then measure rounding, not the engines."""
    c, h, w = spec.input_size
    if spec.name == "fcn-baseline":
        h = w = 64
    return NetSpec(spec.name, spec.label, min(spec.batch, 16), (c, h, w), spec.num_classes,
                   spec.segmentation, spec.ignore_index)  # fmt: skip


# --------------------------------------------------------------------------- process set-up


def wanted_env(args) -> dict[str, str | None]:
    """Environment variables this run needs before NumPy loads (None = must be unset)."""
    env: dict[str, str | None] = {v: str(args.threads) for v in THREAD_VARS}
    if args.malloc == "tuned":
        env.update(TUNED_MALLOC)
    elif args.malloc == "default":
        env.update({k: None for k in TUNED_MALLOC})
    if args.device == "cuda":
        env["CUPY_TF32"] = "1" if args.tf32 else "0"
    return env


def reexec_if_needed(args, argv: list[str]) -> None:
    """Re-run this script in a fresh process when the allocator or thread variables differ:
    glibc reads MALLOC_* at start-up and BLAS reads its thread count when it loads."""
    env = wanted_env(args)
    if all(os.environ.get(k) == v for k, v in env.items()) or os.environ.get(_EXEC_MARK):
        return
    new_env = {k: v for k, v in os.environ.items() if k not in env or env[k] is not None}
    new_env.update({k: v for k, v in env.items() if v is not None})
    new_env[_EXEC_MARK] = "1"
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], new_env)


def import_minitorch():
    """Import minitorch_cv, from this checkout when it is not installed."""
    try:
        import minitorch_cv
    except ImportError:
        sys.path.insert(0, str(ROOT))
        import minitorch_cv
    return minitorch_cv


def blas_info() -> tuple[int | None, str]:
    """(threads, library) of the BLAS NumPy loaded, asked through its C API; (None, '?') when
    the library does not say."""
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({ln.split()[-1] for ln in f if "openblas" in ln.lower() or "mkl" in ln})
    except OSError:
        return None, "?"
    names = ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
             "openblas_get_num_threads", "MKL_Get_Max_Threads")  # fmt: skip
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in names:
            fn = getattr(lib, sym, None)
            if fn is not None:
                return int(fn()), Path(path).name
    return None, "?"


@contextlib.contextmanager
def quiet_stderr():
    """Silence C-level stderr (the torch profiler prints start/stop banners there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# --------------------------------------------------------------------------- devices


class Sides:
    """What differs between CPU and CUDA: moving arrays, waiting for the device, memory peaks."""

    def __init__(self, device: str, mt, torch):
        self.device, self.mt, self.torch = device, mt, torch
        self.cp = None
        if device == "cuda":
            from minitorch_cv.backend import cupy_module

            self.cp = cupy_module()

    def sync_ours(self) -> None:
        if self.cp is not None:
            self.cp.cuda.Device().synchronize()

    def sync_torch(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def peak_ours(self, step) -> int:
        """Bytes: tracemalloc peak (CPU) or the CuPy pool's peak bytes in use (CUDA)."""
        if self.cp is None:
            tracemalloc.start()
            try:
                step()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        hook = _cupy_peak_hook(self.cp)
        self.sync_ours()
        with hook:
            step()
            self.sync_ours()
        return hook.peak

    def peak_torch(self, step) -> int:
        """Bytes: profiler 'Total Allocated' peak (CPU) or max_memory_allocated delta (CUDA)."""
        torch = self.torch
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            step()
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() - base
        from torch.profiler import ProfilerActivity, profile

        with quiet_stderr():
            with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
                step()
            with tempfile.TemporaryDirectory() as tmp:
                trace = Path(tmp) / "trace.json"
                prof.export_chrome_trace(str(trace))
                events = json.loads(trace.read_text())["traceEvents"]
        totals = [
            e["args"]["Total Allocated"]
            for e in events
            if e.get("name") == "[memory]" and "Total Allocated" in e.get("args", {})
        ]
        return max(totals, default=0)

    def pool_reserved(self) -> int | None:
        """CUDA only: bytes the CuPy pool holds from the driver."""
        return None if self.cp is None else int(self.cp.get_default_memory_pool().total_bytes())


def _cupy_peak_hook(cp):
    """A CuPy MemoryHook tracking bytes handed out by the memory pool, net of returns."""

    class PeakHook(cp.cuda.MemoryHook):
        name = "bench_peak"

        def __init__(self):
            self.current = 0
            self.peak = 0

        def malloc_postprocess(self, **kw):
            self.current += kw["mem_size"]
            self.peak = max(self.peak, self.current)

        def free_postprocess(self, **kw):
            self.current -= kw["mem_size"]

    return PeakHook()


# --------------------------------------------------------------------------- one network


@dataclass
class NetResult:
    name: str
    label: str
    batch: int
    input_size: tuple
    params: int
    train_gflop: float  # FLOPs of one training step / 1e9 (see the module docstring)
    loss_ours: float
    loss_torch: float | None = None
    loss_rel_err: float | None = None  # float32, first step
    grad_rel_err: float | None = None  # float32: ||g_ours - g_torch|| / ||g_torch||, all params
    grad_rel_err64: float | None = None  # the same in float64: the check that decides `agree`
    worst_param: str | None = None  # float64, largest per-parameter error
    worst_param_err: float | None = None
    agree: bool | None = None
    ms_ours: float = 0.0
    ms_torch: float | None = None
    times_ours: list = field(default_factory=list)
    times_torch: list = field(default_factory=list)
    faults_ours: float | None = None  # minor page faults per step (CPU)
    faults_torch: float | None = None
    peak_mb_ours: float | None = None
    peak_mb_torch: float | None = None
    pool_mb_ours: float | None = None
    profile: dict | None = None

    @property
    def ratio(self) -> float | None:
        return self.ms_ours / self.ms_torch if self.ms_torch else None


def count_macs(mt, model, x) -> int:
    """Forward multiply-accumulates of every Conv2d, ConvTranspose2d and Linear for input x."""
    from minitorch_cv.layers import Conv2d, ConvTranspose2d, Linear

    total = 0

    def hook(module, args, out):
        nonlocal total
        w = module.weight.shape
        if isinstance(module, Conv2d):  # per output element: C/groups * KH * KW
            total += out.numel() * w[1] * w[2] * w[3]
        elif isinstance(module, ConvTranspose2d):  # per input element: C_out/groups * KH * KW
            total += args[0].numel() * w[1] * w[2] * w[3]
        else:  # Linear: per output element, in_features
            total += out.numel() * w[1]

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (Conv2d, ConvTranspose2d, Linear))]  # fmt: skip
    try:
        with mt.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def make_batch(spec: NetSpec, seed: int):
    """A random float32 batch and int64 targets (5 % ignored pixels when the net has an
    ignore label, as VOC's boundaries)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((spec.batch, *spec.input_size), dtype=np.float32)
    shape = (spec.batch, *spec.input_size[1:]) if spec.segmentation else (spec.batch,)
    y = rng.integers(0, spec.num_classes, size=shape, dtype=np.int64)
    if spec.segmentation and spec.ignore_index >= 0:
        y[rng.random(shape) < 0.05] = spec.ignore_index
    return x, y


def first_step_grads(lib, model, X, Y, spec):
    """Loss (float) and {name: float64 NumPy gradient} of one forward/backward of `model`;
    `lib` is minitorch_cv or torch. The gradients are cleared again afterwards."""
    import numpy as np

    model.zero_grad()
    if lib.__name__ == "torch":
        loss = lib.nn.functional.cross_entropy(model(X), Y, ignore_index=spec.ignore_index)
    else:
        loss = lib.functional.cross_entropy(model(X), Y, ignore_index=spec.ignore_index)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():
        g = p.grad.detach().cpu().numpy() if lib.__name__ == "torch" else np.asarray(p.grad)
        grads[name] = np.asarray(g, dtype=np.float64)
    model.zero_grad()
    return float(loss.item()), grads


def grad_errors(ours: dict, ref: dict):
    """(||ours - ref|| / ||ref|| over all parameters, worst parameter, its error).

    A parameter's own error is divided by max(||ref_p||, 1e-3 ||ref||): a conv bias right before
    BatchNorm has zero gradient in exact arithmetic, and its rounding noise means nothing."""
    import numpy as np

    diffs = {n: float(np.linalg.norm(ours[n] - ref[n])) for n in ref}
    refs = {n: float(np.linalg.norm(ref[n])) for n in ref}
    total = float(np.sqrt(sum(r * r for r in refs.values())))
    err = float(np.sqrt(sum(d * d for d in diffs.values()))) / max(total, 1e-300)
    per = {n: diffs[n] / max(refs[n], 1e-3 * total, 1e-300) for n in ref}
    worst = max(per, key=per.get)
    return err, worst, per[worst]


def compare_first_step(mt, torch, torch_models, ours, theirs, x, y, spec, device, res) -> None:
    """Fill res's loss / gradient comparison from one forward + backward on both sides.

    float32 (the benchmarked models): the losses must agree to --loss-rtol; the gradient error
    is reported only, since in float32 it measures luck as much as correctness: one ReLU whose
    input sits within rounding of zero flips, and the whole gradient below it moves (seen on B:
    ours 4.8e-3, PyTorch 5.5e-4 from a float64 run, ours from a single flipped ReLU).
    float64 (fresh copies of both models, same weights and batch): every gradient must agree
    to --grad-rtol, which proves the same math."""
    import numpy as np

    tdev = "cuda" if device == "cuda" else "cpu"
    X, Y = mt.tensor(x).to(device), mt.tensor(y).to(device)
    xt, yt = torch.from_numpy(x).to(tdev), torch.from_numpy(y).to(tdev)
    res.loss_ours, g_o = first_step_grads(mt, ours, X, Y, spec)
    res.loss_torch, g_t = first_step_grads(torch, theirs, xt, yt, spec)
    res.loss_rel_err = abs(res.loss_ours - res.loss_torch) / max(abs(res.loss_torch), 1.0)
    res.grad_rel_err = grad_errors(g_o, g_t)[0]

    ours64 = mt.models.get(spec.name)
    ours64.load_state_dict(ours.state_dict())
    ours64.train().to(device, np.float64)
    theirs64 = torch_models.copy_weights(ours, torch_models.build(spec.name)).double().to(tdev)
    x64 = x.astype(np.float64)
    X64, xt64 = mt.tensor(x64).to(device), torch.from_numpy(x64).to(tdev)
    _, g_o = first_step_grads(mt, ours64, X64, Y, spec)
    _, g_t = first_step_grads(torch, theirs64, xt64, yt, spec)
    res.grad_rel_err64, res.worst_param, res.worst_param_err = grad_errors(g_o, g_t)


def bench_net(spec: NetSpec, args, sides: Sides, mt, torch, seed: int) -> NetResult:
    """Build, check, time, measure and (optionally) profile one network."""
    import resource

    mt.manual_seed(seed)
    ours = mt.models.get(spec.name)
    ours.train()
    x, y = make_batch(spec, seed)
    X, Y = mt.tensor(x), mt.tensor(y)
    macs = count_macs(mt, ours, X)  # no_grad forward: BN running stats move; copied below
    if args.device == "cuda":
        ours.to("cuda")
        X, Y = X.to("cuda"), Y.to("cuda")
    res = NetResult(
        spec.name, spec.label, spec.batch, spec.input_size, ours.num_parameters(),
        6 * macs / 1e9, float("nan"),
    )  # fmt: skip

    theirs = None
    if torch is not None and (args.device == "cpu" or torch.cuda.is_available()):
        import torch_models

        theirs = torch_models.copy_weights(ours, torch_models.build(spec.name))
        theirs.train()
        tdev = "cuda" if args.device == "cuda" else "cpu"
        theirs.to(tdev)
        xt, yt = torch.from_numpy(x).to(tdev), torch.from_numpy(y).to(tdev)

    opt_o = mt.optim.Adam(ours.parameters(), lr=1e-3)
    ce_o = mt.functional.cross_entropy

    def step_ours():
        opt_o.zero_grad()
        ce_o(ours(X), Y, ignore_index=spec.ignore_index).backward()
        opt_o.step()

    if theirs is not None:
        compare_first_step(mt, torch, torch_models, ours, theirs, x, y, spec, args.device, res)
        res.agree = res.loss_rel_err <= args.loss_rtol and res.grad_rel_err64 <= args.grad_rtol
        opt_t = torch.optim.Adam(theirs.parameters(), lr=1e-3)
        ce_t = torch.nn.functional.cross_entropy

        def step_torch():
            opt_t.zero_grad(set_to_none=True)
            ce_t(theirs(xt), yt, ignore_index=spec.ignore_index).backward()
            opt_t.step()

    else:
        with mt.no_grad():
            res.loss_ours = float(ce_o(ours(X), Y, ignore_index=spec.ignore_index).item())

    runners = [("ours", step_ours, sides.sync_ours)]
    if theirs is not None:
        runners.append(("torch", step_torch, sides.sync_torch))
    for _ in range(args.warmup):
        for _, step, sync in runners:
            step()
            sync()

    times = {k: [] for k, _, _ in runners}
    faults = {k: 0 for k, _, _ in runners}
    for b, first in enumerate(range(0, args.steps, args.block)):
        # Alternating blocks, the leading side alternating too: a load spike from elsewhere on
        # the machine hits both engines alike. Within a block steps run back to back, as in
        # training. At each switch a pause lets the other engine's idle BLAS / OpenMP workers
        # stop spinning (OpenBLAS spins ~0.1 s after a call): interleaving single steps without
        # it slowed whichever side ran second by up to 2.5x on 2 cores.
        for key, step, sync in runners[:: 1 if b % 2 == 0 else -1]:
            if len(runners) > 1:
                time.sleep(SWITCH_PAUSE_S)
            for _ in range(min(args.block, args.steps - first)):
                sync()
                f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                t0 = time.perf_counter()
                step()
                sync()
                times[key].append(time.perf_counter() - t0)
                faults[key] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    res.times_ours = [t * 1e3 for t in times["ours"]]
    res.ms_ours = statistics.median(res.times_ours)
    if args.device == "cpu":
        res.faults_ours = faults["ours"] / args.steps
    if theirs is not None:
        res.times_torch = [t * 1e3 for t in times["torch"]]
        res.ms_torch = statistics.median(res.times_torch)
        if args.device == "cpu":
            res.faults_torch = faults["torch"] / args.steps

    if not args.no_memory:
        res.peak_mb_ours = sides.peak_ours(step_ours) / 2**20
        reserved = sides.pool_reserved()
        res.pool_mb_ours = None if reserved is None else reserved / 2**20
        if theirs is not None:
            res.peak_mb_torch = sides.peak_torch(step_torch) / 2**20

    if args.profile:
        phases_o = phase_times(mt, ours, opt_o, X, Y, spec, sides.sync_ours, args.steps, "ours")
        res.profile = {"phases_ours": phases_o}
        if theirs is not None:
            res.profile["phases_torch"] = phase_times(
                torch, theirs, opt_t, xt, yt, spec, sides.sync_torch, args.steps, "torch"
            )
        res.profile["ops"] = op_times(mt, step_ours, sides.sync_ours, args.steps)
        res.profile["cprofile"] = cprofile_top(step_ours, sides.sync_ours, args.top)
    return res


# --------------------------------------------------------------------------- profiling


def phase_times(lib, model, opt, X, Y, spec, sync, steps, side) -> dict:
    """Median ms of zero_grad + forward + loss, backward, optimizer step (synchronized between
    phases on the GPU)."""
    ce = lib.nn.functional.cross_entropy if side == "torch" else lib.functional.cross_entropy
    rec = {"forward+loss": [], "backward": [], "optimizer": []}
    for _ in range(max(steps, 1)):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = ce(model(X), Y, ignore_index=spec.ignore_index)
        sync()
        t1 = time.perf_counter()
        loss.backward()
        sync()
        t2 = time.perf_counter()
        opt.step()
        sync()
        t3 = time.perf_counter()
        for k, a, b in (("forward+loss", t0, t1), ("backward", t1, t2), ("optimizer", t2, t3)):
            rec[k].append((b - a) * 1e3)
    return {k: statistics.median(v) for k, v in rec.items()}


def _function_classes(base):
    seen, todo = [], [base]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in seen:
                seen.append(sub)
                todo.append(sub)
    return seen


@contextlib.contextmanager
def timed_functions(mt, sync):
    """Time every Function's forward and backward (inclusive, synchronized on the GPU);
    yields a dict '(Class).forward' -> total seconds, restored on exit."""
    from minitorch_cv.tensor import Function

    totals: dict[str, float] = {}
    patched = []

    def wrap(key, fn):
        def timed(*a, **k):
            t0 = time.perf_counter()
            out = fn(*a, **k)
            sync()
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - t0
            return out

        return staticmethod(timed)

    for cls in _function_classes(Function):
        for phase in ("forward", "backward"):
            if phase in cls.__dict__:
                orig = cls.__dict__[phase]
                fn = orig.__func__ if isinstance(orig, staticmethod) else orig
                patched.append((cls, phase, orig))
                setattr(cls, phase, wrap(f"{cls.__name__}.{phase}", fn))
    try:
        yield totals
    finally:
        for cls, phase, orig in patched:
            setattr(cls, phase, orig)


def op_times(mt, step, sync, steps) -> dict:
    """Per-step ms of each Function's forward/backward, largest first, with 'other' (module glue,
    the tape, Adam: the step minus the ops) among them; 'step' is the whole step with the timers
    on."""
    n = max(steps, 1)
    with timed_functions(mt, sync) as totals:
        sync()
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        sync()
        whole = time.perf_counter() - t0
    totals["other"] = whole - sum(totals.values())
    ops = {k: v * 1e3 / n for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    return {"step": whole * 1e3 / n, **ops}


def cprofile_top(step, sync, top: int) -> list:
    """The `top` functions by own time (cProfile, one step): [ms, calls, 'file:line(func)']."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    step()
    sync()
    prof.disable()
    stats = pstats.Stats(prof).stats
    rows = []
    for (file, line, func), (_, ncalls, tottime, _, _) in stats.items():
        short = file
        if str(ROOT) in file:
            short = os.path.relpath(file, ROOT)
        elif "site-packages" in file:
            short = file.split("site-packages/")[-1]
        rows.append([tottime * 1e3, ncalls, f"{short}:{line}({func})"])
    rows.sort(key=lambda r: -r[0])
    return rows[:top]


# --------------------------------------------------------------------------- output


def _fmt(v, spec: str = ".1f", none: str = "-") -> str:
    return none if v is None else format(v, spec)


def table(headers, rows) -> str:
    """A plain text table, numbers right-aligned."""
    cols = list(zip(headers, *rows))
    widths = [max(len(str(c)) for c in col) for col in cols]
    out = []
    for i, row in enumerate([headers, *rows]):
        cells = [str(c).ljust(w) if j == 0 else str(c).rjust(w)
                 for j, (c, w) in enumerate(zip(row, widths))]  # fmt: skip
        out.append("  ".join(cells))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def report(results, meta) -> str:
    mm = meta["matmul_gflops_ours"]
    lines = [
        f"device {meta['device']}  threads {meta['threads']} (BLAS reports "
        f"{meta['blas_threads']}, {meta['blas_lib']}; minitorch_cv workers "
        f"{meta.get('workers', '-')}; torch {meta['torch_threads']})  "
        f"malloc {meta['malloc']}  load {meta['load_before']}",
        f"float32 matmul {meta['matmul_n']}^3: {meta['matmul_lib']} {mm:.1f} GFLOP/s"
        + (
            f", torch {meta['matmul_gflops_torch']:.1f} GFLOP/s"
            if meta.get("matmul_gflops_torch")
            else ""
        ),  # fmt: skip
        f"median of {meta['steps']} steps (blocks of {meta['block']}) after {meta['warmup']} "
        f"warm-up; GFLOP/s = 6 x forward "
        f"MACs (conv, conv-T, linear) / step time; %mm = ours / matmul rate",
        "",
    ]
    rows = []
    for r in results:
        g_o = r.train_gflop / (r.ms_ours / 1e3)
        g_t = r.train_gflop / (r.ms_torch / 1e3) if r.ms_torch else None
        rows.append([
            r.label, r.batch, f"{r.train_gflop:.2f}", f"{r.ms_ours:.1f}", _fmt(r.ms_torch),
            _fmt(r.ratio, ".2f"), f"{g_o:.1f}", f"{100 * g_o / mm:.0f}%", _fmt(g_t),
            _fmt(r.peak_mb_ours), _fmt(r.peak_mb_torch),
            _fmt(r.peak_mb_ours / r.peak_mb_torch if r.peak_mb_ours and r.peak_mb_torch else None,
                 ".2f"),
        ])  # fmt: skip
    lines.append(table(
        ["net", "batch", "GFLOP/step", "ours ms", "torch ms", "ratio", "ours GF/s", "%mm",
         "torch GF/s", "ours MB", "torch MB", "mem ratio"], rows))  # fmt: skip
    lines.append("")
    rows = []
    for r in results:
        rows.append([
            r.label, f"{r.loss_ours:.6f}", _fmt(r.loss_torch, ".6f"), _fmt(r.loss_rel_err, ".1e"),
            _fmt(r.grad_rel_err, ".1e"), _fmt(r.grad_rel_err64, ".1e"),
            "-" if r.worst_param is None else f"{r.worst_param} {r.worst_param_err:.1e}",
            {True: "yes", False: "NO", None: "-"}[r.agree],
            _fmt(r.faults_ours, ".0f"), _fmt(r.faults_torch, ".0f"),
            _fmt(r.pool_mb_ours),
        ])  # fmt: skip
    lines.append(table(
        ["net", "loss ours", "loss torch", "loss err", "grad err f32", "grad err f64",
         "worst param f64 (err)",
         "agree", "faults/step ours", "faults/step torch", "cupy pool MB"], rows))  # fmt: skip
    for r in results:
        if r.profile:
            lines += ["", profile_report(r, meta)]
    return "\n".join(lines)


def profile_report(r: NetResult, meta) -> str:
    p = r.profile
    out = [f"== {r.label}: where the minitorch_cv step goes"]
    ph_o, ph_t = p["phases_ours"], p.get("phases_torch")
    out.append(table(
        ["phase", "ours ms", "torch ms", "ratio"],
        [[k, f"{v:.1f}", _fmt(ph_t and ph_t[k]), _fmt(ph_t and v / ph_t[k], ".2f")]
         for k, v in ph_o.items()],
    ))  # fmt: skip
    ops = p["ops"]
    step = ops["step"]
    rows = [[k, f"{v:.1f}", f"{100 * v / step:.0f}%"]
            for k, v in ops.items() if k != "step"][: meta["top"]]  # fmt: skip
    out += ["", f"Function timings (step {step:.1f} ms with timers on):"]
    out.append(table(["op", "ms/step", "share"], rows))
    out += ["", "cProfile, own time of one step:"]
    out.append(table(["ms", "calls", "function"],
                     [[f"{ms:.1f}", n, f] for ms, n, f in p["cprofile"]]))  # fmt: skip
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Training-step time and memory of the six reference networks, "
        "minitorch_cv vs PyTorch (same weights, same process, same threads)."
    )
    p.add_argument("--nets", nargs="+", choices=NET_NAMES, default=list(NET_NAMES),
                   metavar="NET", help=f"subset of: {' '.join(NET_NAMES)}")  # fmt: skip
    p.add_argument("--warmup", type=int, default=None, help="untimed steps (default 3; quick 1)")
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 10; quick 2)")
    p.add_argument(
        "--block",
        type=int,
        default=5,
        help="timed steps per side before switching engines (default 5)",
    )
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="BLAS / OpenMP / torch threads (default: all cores)")  # fmt: skip
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--malloc", choices=("tuned", "default", "inherit"), default="tuned",
                   help="glibc allocator settings for the whole process: tuned (no trimming, "
                   "default), glibc defaults, or whatever the environment has")  # fmt: skip
    p.add_argument(
        "--quick",
        action="store_true",
        help="batch <= 16, FCN at 64x64, 1 + 2 steps: a smoke run for the tests",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also break our step into phases, Function timings and cProfile",
    )
    p.add_argument("--top", type=int, default=12, help="rows of the profile tables")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory steps")
    p.add_argument(
        "--matmul-n",
        type=int,
        default=None,
        help="side of the reference GEMM (default 2048 cpu, 8192 cuda; quick 512)",
    )
    p.add_argument(
        "--tf32",
        action="store_true",
        help="cuda: allow TF32 in cuBLAS/cuDNN on both sides (default: strict fp32)",
    )
    p.add_argument(
        "--loss-rtol",
        type=float,
        default=1e-4,
        help="float32 first-step loss, relative (default 1e-4)",
    )
    p.add_argument(
        "--grad-rtol",
        type=float,
        default=1e-6,
        help="float64 gradients, relative norm over all parameters (default 1e-6)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="write all results (and raw step times) here")
    args = p.parse_args(argv)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    args.steps = args.steps if args.steps is not None else (2 if args.quick else 10)
    if min(args.steps, args.threads, args.block) < 1 or args.warmup < 0:
        p.error("--steps, --threads and --block must be >= 1 and --warmup >= 0")
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.device == "cuda":
        # Fail before anything heavy, and before re-executing, with the backend's own message.
        try:
            mt = import_minitorch()
            mt.backend.cupy_module()
        except RuntimeError as e:
            print(f"bench_train_step: --device cuda needs a visible NVIDIA GPU: {e}",
                  file=sys.stderr)  # fmt: skip
            return 2
    reexec_if_needed(args, argv)

    import numpy as np  # noqa: F401  (loads BLAS with the thread count set above)

    mt = import_minitorch()
    sys.path.insert(0, str(HERE))
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
    sides = Sides(args.device, mt, torch)

    from bench_matmul import cupy_gemm_gflops, numpy_gemm_gflops, torch_gemm_gflops

    n = args.matmul_n or (512 if args.quick else 2048 if args.device == "cpu" else 8192)
    blas_threads, blas_lib = blas_info()
    meta = {
        "device": args.device,
        "threads": args.threads,
        "blas_threads": blas_threads,
        "blas_lib": blas_lib,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "malloc": args.malloc,
        "malloc_env": {k: os.environ.get(k) for k in TUNED_MALLOC},
        "load_before": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch is not None else None,
        "steps": args.steps,
        "warmup": args.warmup,
        "block": args.block,
        "quick": args.quick,
        "top": args.top,
        "matmul_n": n,
    }
    if args.device == "cpu":
        # the yardstick first, with OpenBLAS's own threads: minitorch_cv's first parallel
        # section pins OpenBLAS to one thread and runs its GEMMs on its own worker threads
        meta["matmul_lib"], meta["matmul_gflops_ours"] = "numpy", numpy_gemm_gflops(n)
        if torch is not None:
            meta["matmul_gflops_torch"] = torch_gemm_gflops(n)
        meta["workers"] = mt.get_num_threads()
    else:
        meta["matmul_lib"], meta["matmul_gflops_ours"] = "cupy", cupy_gemm_gflops(n)
        meta["gpu"] = sides.cp.cuda.runtime.getDeviceProperties(0)["name"].decode()
        if torch is not None and torch.cuda.is_available():
            meta["matmul_gflops_torch"] = torch_gemm_gflops(n, device="cuda")
        elif torch is not None:
            print("note: this torch build has no CUDA; timing minitorch_cv only", file=sys.stderr)
    if torch is None:
        print("note: torch is not installed; timing minitorch_cv only", file=sys.stderr)

    specs = [s for s in NETS if s.name in args.nets]
    results = []
    for i, spec in enumerate(specs):
        spec = quick_spec(spec) if args.quick else spec
        print(f"[{i + 1}/{len(specs)}] {spec.label} ({spec.name}) batch {spec.batch} ...",
              file=sys.stderr, flush=True)  # fmt: skip
        results.append(bench_net(spec, args, sides, mt, torch, args.seed + i))
    meta["load_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())

    print(report(results, meta))
    print(f"\nload average before {meta['load_before']}, after {meta['load_after']}")
    if args.json:
        doc = {"meta": meta, "results": [dict(asdict(r), ratio=r.ratio) for r in results]}
        Path(args.json).write_text(json.dumps(doc, indent=1, default=str))
    disagree = [r.label for r in results if r.agree is False]
    if disagree:
        print(f"\nLOSS/GRADIENT MISMATCH vs PyTorch: {', '.join(disagree)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
