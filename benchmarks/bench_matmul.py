"""The machine's float32 matrix-multiply rate: the yardstick for every GFLOP/s in the benchmarks.

    python benchmarks/bench_matmul.py                 # NumPy (and torch, when installed), n = 2048
    python benchmarks/bench_matmul.py --device cuda   # CuPy and torch CUDA, n = 8192

A square n x n x n product costs 2 n^3 floating-point operations (one multiply and one add per
multiply-accumulate); the rate is 2 n^3 / (median time of one product). A convolution that runs
"at half the matmul rate" does half that many useful FLOPs per second.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _median_seconds(fn, repeats: int, warmup: int = 2, sync=None) -> float:
    for _ in range(warmup):
        fn()
    if sync:
        sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def numpy_gemm_gflops(n: int = 2048, repeats: int = 7) -> float:
    """GFLOP/s of a NumPy float32 n x n x n matmul (into a preallocated output)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), np.float32)
    sec = _median_seconds(lambda: np.matmul(a, b, out=c), repeats)
    return 2.0 * n**3 / sec / 1e9


def cupy_gemm_gflops(n: int = 8192, repeats: int = 10) -> float:
    """GFLOP/s of a CuPy float32 matmul on the current GPU (cuBLAS), synchronized around each."""
    from minitorch_cv.backend import cupy_module

    cp = cupy_module()
    a = cp.random.standard_normal((n, n), dtype=cp.float32)
    b = cp.random.standard_normal((n, n), dtype=cp.float32)
    c = cp.empty((n, n), cp.float32)
    sync = cp.cuda.get_current_stream().synchronize
    sec = _median_seconds(lambda: cp.matmul(a, b, out=c), repeats, sync=sync)
    return 2.0 * n**3 / sec / 1e9


def torch_gemm_gflops(n: int = 2048, repeats: int = 7, device: str = "cpu") -> float:
    """GFLOP/s of a torch float32 matmul on `device` ('cpu' or 'cuda')."""
    import torch

    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=g, device=device)
    b = torch.randn(n, n, generator=g, device=device)
    c = torch.empty(n, n, device=device)
    sync = torch.cuda.synchronize if device.startswith("cuda") else None
    sec = _median_seconds(lambda: torch.mm(a, b, out=c), repeats, sync=sync)
    return 2.0 * n**3 / sec / 1e9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="float32 GEMM rate of NumPy/CuPy and torch")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--n", type=int, default=None, help="matrix side (default 2048 cpu, 8192 cuda)")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args(argv)
    n = args.n or (2048 if args.device == "cpu" else 8192)
    if args.device == "cpu":
        print(f"numpy float32 matmul {n}^3: {numpy_gemm_gflops(n, args.repeats):9.1f} GFLOP/s")
    else:
        print(f"cupy  float32 matmul {n}^3: {cupy_gemm_gflops(n, args.repeats):9.1f} GFLOP/s")
    try:
        import torch  # noqa: F401
    except ImportError:
        return 0
    rate = torch_gemm_gflops(n, args.repeats, args.device)
    print(f"torch float32 matmul {n}^3: {rate:9.1f} GFLOP/s ({args.device})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
