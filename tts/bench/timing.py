"""Wall-clock timing for the speed benchmarks (eval/bench_f5.py, eval/bench_vae.py).

The machine these run on is often shared, so a benchmark reports the best (minimum) of several runs,
the least disturbed one. On a CUDA device every timed call ends with ``torch.cuda.synchronize()`` so
the time covers the kernels it queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def sync(device: str = "cpu") -> None:
    """Wait for the queued work of ``device`` (a no-op off CUDA)."""
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def time_call(fn: Callable[[], object], device: str = "cpu") -> float:
    """Seconds of one call of ``fn()``, synchronized on ``device``."""
    t0 = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t0


def best_time(fn: Callable[[], object], repeats: int, warmup: int = 1, device: str = "cpu") -> float:
    """Best of ``repeats`` timed calls of ``fn()`` after ``warmup`` untimed ones (each synchronized)."""
    if repeats < 1:
        raise ValueError(f"best_time needs repeats >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
        sync(device)
    return min(time_call(fn, device) for _ in range(repeats))
