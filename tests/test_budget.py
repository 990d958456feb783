"""tts.budget: a training budget in CPU seconds (CPUTimeBudget) instead of wall-clock seconds."""

from __future__ import annotations

import subprocess
import sys
import time

import lightning.pytorch as pl
import pytest
import torch

from tts.budget import CPUTimeBudget, cpu_seconds, parse_duration


@pytest.mark.parametrize("value, seconds", [("00:00:20:00", 1200.0), ("01:02:03:04", 93784.0), (90, 90.0),
                                            (0.5, 0.5), ("45", 45.0), (" 00:00:00:07 ", 7.0)])
def test_durations_parse(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value, match", [("20 minutes", "not a duration"), ("00:00:61:00", "minutes > 59"),
                                          (0, "> 0"), (-3, "> 0"), ("00:00:00:00", "> 0"), (True, "not a duration"),
                                          (float("nan"), "> 0"), (float("inf"), "> 0")])
def test_bad_durations_are_refused_by_name(value, match):
    with pytest.raises(ValueError, match=match) as e:
        parse_duration(value)
    assert "max_cpu_time" in str(e.value)


def test_bad_check_interval_is_refused():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="check_every_n_steps"):
            CPUTimeBudget(10, check_every_n_steps=bad)


def _busy(seconds: float) -> None:
    end = time.process_time() + seconds
    x = 0
    while time.process_time() < end:
        x += 1


def test_cpu_seconds_counts_this_process_and_its_children():
    t0 = cpu_seconds()
    _busy(0.2)
    assert cpu_seconds() - t0 >= 0.19
    t1 = cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c",
                              "import time\nend = time.process_time() + 0.5\nwhile time.process_time() < end: pass\n"
                              "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds() - t1 < 0.45 and time.monotonic() < deadline:  # the live child's CPU counts
            time.sleep(0.05)
        assert cpu_seconds() - t1 >= 0.45
    finally:
        child.kill()
        child.wait()
    assert cpu_seconds() - t1 >= 0.45  # and still counts once it is reaped (RUSAGE_CHILDREN)


class _Spin(pl.LightningModule):
    """Each step spends ~20 ms of CPU."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        _busy(0.02)
        return (self.w - 1.0).pow(2).sum()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.zeros(10_000, 1), batch_size=1)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(tmp_path, budget, **kw):
    return pl.Trainer(default_root_dir=tmp_path, max_steps=10_000, callbacks=[budget], logger=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu", **kw)


def test_training_stops_when_the_cpu_budget_is_spent_and_a_resume_continues_it(tmp_path):
    budget = CPUTimeBudget(0.6)
    trainer = _trainer(tmp_path, budget, enable_checkpointing=True)
    trainer.fit(_Spin())
    steps = trainer.global_step
    assert 5 <= steps < 10_000  # stopped by the budget, not by max_steps
    assert budget.used() >= 0.6
    path = trainer.checkpoint_callback.best_model_path  # no monitor: the checkpoint written at the end
    ckpt = torch.load(path, weights_only=False)
    assert ckpt["global_step"] == steps
    saved = ckpt["callbacks"]["CPUTimeBudget"]["cpu_seconds_used"]
    assert saved >= 0.6

    # a resumed fit with the budget spent trains no further; with a larger budget it trains only the rest
    spent = _trainer(tmp_path / "b", CPUTimeBudget(0.6))
    spent.fit(_Spin(), ckpt_path=path)
    assert spent.global_step == steps
    more = CPUTimeBudget(saved + 0.3)
    resumed = _trainer(tmp_path / "c", more)
    resumed.fit(_Spin(), ckpt_path=path)
    assert steps < resumed.global_step < steps + 60  # ~0.3 s of CPU at ~20 ms a step, not a fresh 0.9 s budget
    assert more.used() >= saved + 0.3


def test_a_recipe_can_name_it_as_a_trainer_callback():
    from tts.config import import_class

    assert import_class("tts.budget.CPUTimeBudget") is CPUTimeBudget


def test_eval_bench_budget_runs_at_smoke_size(tmp_path):
    """eval/bench_budget.py end to end at smoke size (real piper batches, Lightning fits, a busy process)."""
    import json
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "eval.bench_budget", "--out", str(tmp_path), "--size", "smoke", "--wall", "2",
                    "--cpu", "2", "--load", "1", "--sentences", "3", "--batch-frames", "800"],
                   check=True, env=env, cwd=env["PYTHONPATH"], timeout=300)
    r = json.loads((tmp_path / "report.json").read_text())
    assert [(x["budget"], x["machine"]) for x in r["rows"]] == [
        ("wall", "idle"), ("wall", "beside 1 busy processes"), ("cpu", "idle"), ("cpu", "beside 1 busy processes")]
    assert all(x["steps"] > 0 for x in r["rows"])
    assert all(x["cpu_s"] >= 2.0 for x in r["rows"] if x["budget"] == "cpu")
    assert "| cpu | idle |" in (tmp_path / "report.md").read_text()


def test_eval_with_load_runs_the_command_beside_busy_processes_and_stops_them(tmp_path):
    """eval/with_load.py: the command's exit status comes back, and the busy processes are gone after it."""
    import os
    from pathlib import Path

    import psutil

    root = Path(__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    probe = ("import psutil, sys; busy = [p for p in psutil.process_iter(['cmdline']) "
             "if (p.info['cmdline'] or [''])[-1].startswith('import torch, time')]; sys.exit(len(busy))")
    r = subprocess.run([sys.executable, "-m", "eval.with_load", "--load", "1", "--", sys.executable, "-c", probe],
                       env=env, cwd=root, timeout=120, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr  # the probe saw one busy process
    busy = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [""])[-1].startswith("import torch, time")]
    assert busy == []
    bad = subprocess.run([sys.executable, "-m", "eval.with_load", "--load", "-1", "--", "true"], env=env, cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--load -1: must be in [0, 64]" in bad.stderr


def test_eval_bench_wait_policy_runs_at_smoke_size(tmp_path):
    """eval/bench_wait_policy.py end to end at smoke size: one active and one passive fit, each its own process."""
    import json
    import os
    from pathlib import Path

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent), "OMP_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "-m", "eval.bench_wait_policy", "--out", str(tmp_path), "--size", "smoke", "--wall",
                    "2", "--rounds", "1", "--sentences", "3", "--batch-frames", "800"],
                   check=True, env=env, cwd=env["PYTHONPATH"], timeout=300)
    r = json.loads((tmp_path / "report.json").read_text())
    assert [x["policy"] for x in r["rows"]] == ["ACTIVE", "PASSIVE"]
    assert all(x["steps"] > 0 for x in r["rows"]) and len(r["passive_over_active"]) == 1
    assert "| 0 | PASSIVE |" in (tmp_path / "report.md").read_text()
    bad = subprocess.run([sys.executable, "-m", "eval.bench_wait_policy", "--out", str(tmp_path), "--rounds", "0"],
                         env=env, cwd=env["PYTHONPATH"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--rounds in [1, 50]" in bad.stderr
