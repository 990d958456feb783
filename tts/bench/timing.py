"""Wall-clock timing for the speed benchmarks (eval/bench_f5.py, eval/bench_vae.py), and the machine they ran on.

The machine these run on is often shared, so a benchmark reports the best (minimum) of several runs,
the least disturbed one. On a CUDA device every timed call ends with ``torch.cuda.synchronize()`` so
the time covers the kernels it queued.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

# /proc/cpuinfo flags that decide torch's CPU speed (its kernels' ISA; bf16 / AMX matrix units)
SPEED_FLAGS = ("amx", "avx512_bf16", "avx512f", "avx2")


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


def cpu_model_and_flags() -> tuple[str, list[str]]:
    """The CPU's model name and its :data:`SPEED_FLAGS` from /proc/cpuinfo (``platform.processor()`` and no
    flags where there is none)."""
    model, flags = "", []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = sorted(f for f in line.split() if f.startswith(SPEED_FLAGS))
    except OSError:
        pass
    return model or platform.processor() or "unknown", flags


def machine_info() -> dict:
    """What a speed or budget figure depends on: CPU model and ISA flags, torch's CPU kernel level
    (``torch.backends.cpu.get_cpu_capability()``), cores, torch threads, and the GPU if CUDA is in use.
    Wall-clock training budgets give a faster host more steps, so reports carry this."""
    import torch

    model, flags = cpu_model_and_flags()
    info = {"cpu": model, "cpu_flags": flags, "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def describe_machine(info: dict) -> str:
    """One line for a report: ``AMD EPYC (avx2, avx512f), torch AVX512, 2 cores, 2 torch threads``."""
    flags = f" ({', '.join(info['cpu_flags'])})" if info.get("cpu_flags") else ""
    gpu = f", GPU {info['gpu']}" if info.get("gpu") else ""
    return (f"{info['cpu']}{flags}, torch {info.get('torch_cpu_capability')}, {info.get('cores')} cores, "
            f"{info.get('torch_threads')} torch threads{gpu}")
