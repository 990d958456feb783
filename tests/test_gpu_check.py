"""eval/gpu_check.sh --dry-run: the prepared GPU check runs every part on the CPU at tiny sizes and writes
its (at most 8, each < 16 MiB) result files, so the script is known to work before a GPU is seen."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # the whole GPU check on the CPU: CUDA tests, both benchmarks, a training run
def test_gpu_check_dry_run_writes_every_part(tiny_corpus, tmp_path):
    pack = tmp_path / "pack"
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "eval.gpu.corpus", str(tiny_corpus), str(pack)], cwd=ROOT,
                   env=env, check=True, capture_output=True, timeout=300)
    assert not any(pack.rglob("*.wav")) and any(pack.rglob("*.ogg"))
    out = tmp_path / "out"
    proc = subprocess.run(["bash", "eval/gpu_check.sh", "--dry-run", str(out), "--corpus", str(pack)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["env.json", "cuda_tests.json", "bench_f5.json", "bench_vae.json", "train.json",
                            "train_loss.svg", "report.md", "log.txt"])
    assert all((out / f).stat().st_size < 16 * 2**20 for f in files)

    env_info = json.loads((out / "env.json").read_text())
    assert env_info["torch"] and env_info["heavy_imports"] == [] and env_info["import_errors"] == {}
    tests = json.loads((out / "cuda_tests.json").read_text())
    assert tests["counts"].get("passed", 0) >= 1 and not tests["counts"].get("failed")
    assert tests["sdpa_kernels"]
    f5 = json.loads((out / "bench_f5.json").read_text())
    assert f5["train_step_flops"]["mel"] > 0 and 0 < f5["mfu"]["mel"] < 1 and 0 < f5["mfu"]["latent"] < 1
    assert f5["report"]["precision"] == "bf16-mixed"
    vae = json.loads((out / "bench_vae.json").read_text())
    for row in vae["rows"].values():
        assert row["steps_per_s"] > 0 and row["flops_per_step"] > 0 and row["audio_s_per_s"] > 0
    train = json.loads((out / "train.json").read_text())
    assert train["exit_code"] == 0 and train["steps"] >= 4 and len(train["loss"]) >= 4
    assert "<polyline" in (out / "train_loss.svg").read_text()
    report = (out / "report.md").read_text()
    for part in ("setup", "cuda_tests", "bench_f5", "bench_vae", "train"):
        assert f"| {part} | ok |" in report
