"""Wall-clock vs CPU-time training budgets on a loaded machine: how many steps each gives.

The scales' training stages stop on Lightning's wall-clock ``max_time``; ``tts.budget.CPUTimeBudget`` stops on
the CPU seconds the fit has used. This trains the cpu scale's duration-aligned DiT (6.3M, mel, real piper
batches as eval/bench_bf16.py builds them) with Lightning's Trainer four times: {wall-clock budget, CPU-time
budget} x {idle machine, machine shared with ``--load`` busy single-thread torch processes (another job's
matmuls)}, and reports the steps each run got. A budget is robust to load when the loaded run gets about the
steps of the idle one.

    OMP_NUM_THREADS=2 python -m eval.bench_budget --out eval/reports/budget

Run it on an otherwise idle machine (the "idle" rows assume so). Writes OUT/report.md and OUT/report.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from eval.bench_bf16 import build, make_batches, make_data
from tts.bench.timing import describe_machine, machine_info
from tts.budget import CPUTimeBudget, cpu_seconds, parse_duration
from tts.io import atomic_write_json, atomic_write_text, git_commit

ROOT = Path(__file__).resolve().parents[1]

BURNER = ("import torch, time\ntorch.set_num_threads(1)\na = torch.randn(512, 512)\n"
          "while True:\n    a = torch.tanh(a @ a / 512.0)\n")


class _Fit(pl.LightningModule):
    """The aligned F5 module's training step (DiT + CFM + duration head), automatic optimization."""

    def __init__(self, size: str, seed: int):
        super().__init__()
        self.f5, _ = build(size, seed)

    def training_step(self, batch, batch_idx):
        text, dur = self.f5._text(batch)
        loss, _ = self.f5.cfm(batch["feats"], batch["feat_lens"], text, None)
        return loss + self.f5.duration.loss(*dur)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.f5.trained_parameters(), lr=1e-4)


class _Cycle(torch.utils.data.IterableDataset):
    def __init__(self, batches: list[dict]):
        self.batches = batches

    def __iter__(self):
        while True:
            yield from self.batches


def start_load(n: int) -> list[int]:
    """``n`` busy processes that are not children of this one (so CPUTimeBudget does not count them)."""
    pids = []
    for _ in range(n):
        out = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "$0" >/dev/null 2>&1 & echo $!', BURNER],
                             capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        pids.append(int(out.stdout.strip()))
    time.sleep(2.0)  # let them start
    return pids


def stop_load(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def run(batches: list[dict], size: str, budget: str, wall_s: float, cpu_s: float, seed: int) -> dict:
    pl.seed_everything(seed, verbose=False)
    model = _Fit(size, seed)
    loader = torch.utils.data.DataLoader(_Cycle(batches), batch_size=None)
    kw = dict(max_time={"seconds": wall_s}) if budget == "wall" else dict(callbacks=[CPUTimeBudget(cpu_s)])
    trainer = pl.Trainer(accelerator="cpu", max_steps=1_000_000, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, **kw)
    c0, w0 = cpu_seconds(), time.monotonic()
    trainer.fit(model, loader)
    return {"steps": trainer.global_step, "wall_s": round(time.monotonic() - w0, 1),
            "cpu_s": round(cpu_seconds() - c0, 1)}


def add_fit_args(p: argparse.ArgumentParser) -> None:
    """The fit's arguments (model size, data, seed), shared with eval/bench_wait_policy.py; check_fit_args checks them."""
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--size", choices=("smoke", "cpu"), default="cpu")
    p.add_argument("--sentences", default=24, type=int, help="piper sentences (>= 1, default 24)")
    p.add_argument("--batch-frames", default=3200, type=int, help="mel frames per batch (>= 100, default 3200)")
    p.add_argument("--seed", default=0, type=int)


def check_fit_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    if a.sentences < 1 or a.batch_frames < 100:
        p.error("--sentences must be >= 1, --batch-frames >= 100")


def fit_batches(a: argparse.Namespace) -> list[dict]:
    """The fit's batches: ``--sentences`` piper utterances in batches of <= ``--batch-frames`` mel frames."""
    return make_batches(make_data(a.sentences, a.seed), a.batch_frames)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_fit_args(p)
    p.add_argument("--wall", default=60.0, type=float, help="wall-clock budget, seconds (default 60)")
    p.add_argument("--cpu", default=100.0, type=float, help="CPU-time budget, CPU seconds (default 100)")
    p.add_argument("--load", default=2, type=int, help="busy processes beside the loaded runs (default 2)")
    a = p.parse_args(argv)
    try:
        parse_duration(a.wall, "--wall")
        parse_duration(a.cpu, "--cpu")
    except ValueError as e:
        p.error(str(e))
    if a.load < 1:
        p.error("--load must be >= 1")
    check_fit_args(p, a)
    t0 = time.monotonic()
    batches = fit_batches(a)
    rows = []
    for budget in ("wall", "cpu"):
        for loaded in (False, True):
            pids = start_load(a.load) if loaded else []
            try:
                r = run(batches, a.size, budget, a.wall, a.cpu, a.seed)
            finally:
                stop_load(pids)
            rows.append({"budget": budget, "machine": f"beside {a.load} busy processes" if loaded else "idle", **r})
            print(rows[-1], flush=True)
    idle = {r["budget"]: r["steps"] for r in rows if r["machine"] == "idle"}
    for r in rows:
        r["steps_vs_idle"] = round(r["steps"] / idle[r["budget"]], 2) if idle[r["budget"]] else None
    report = {"commit": git_commit(ROOT), "size": a.size, "machine": machine_info(),
              "python": platform.python_version(), "torch": torch.__version__,
              "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")},
              "wall_budget_s": a.wall, "cpu_budget_s": a.cpu, "load_processes": a.load,
              "batches": len(batches), "batch_frames": a.batch_frames, "rows": rows,
              "elapsed_s": round(time.monotonic() - t0, 1)}
    a.out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(a.out / "report.json", report)
    atomic_write_text(a.out / "report.md", render(report))
    print(render(report))
    return 0


def render(r: dict) -> str:
    lines = [
        "# Wall-clock vs CPU-time training budgets under load",
        "",
        f"Commit {r['commit']}; {describe_machine(r['machine'])}; torch {r['torch']}; "
        f"{', '.join(f'{k}={v}' for k, v in r['env'].items() if v) or 'no OpenMP variables set'}; "
        f"the `{r['size']}` aligned DiT on {r['batches']} mel batches of <= {r['batch_frames']} frames; "
        f"budgets: {r['wall_budget_s']:.0f} s wall-clock (Lightning `max_time`) and {r['cpu_budget_s']:.0f} CPU s "
        f"(`tts.budget.CPUTimeBudget`); load: {r['load_processes']} busy single-thread torch processes. "
        f"{r['elapsed_s']:.0f} s in all.",
        "",
        "| budget | machine | steps | steps vs idle | wall s | CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["rows"]:
        lines.append(f"| {row['budget']} | {row['machine']} | {row['steps']} | {row['steps_vs_idle']} | "
                     f"{row['wall_s']} | {row['cpu_s']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
