"""`tts demo --scale smoke`: every stage end to end on the embedded corpus, then a cached re-run."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent
SYSTEMS = {"ground_truth", "resynth_vocos", "resynth_vae_semantic", "resynth_vae_plain", "f5_mel", "f5_semantic",
           "f5_plain"}


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("flite") is None, reason="needs Debian's flite for the embedded corpus")
def test_smoke_pipeline_writes_a_complete_report_and_resumes(tmp_path):
    out = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "tts.cli", "demo", "--scale", "smoke", "--out", str(out)]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
    report = json.loads((out / "bench" / "report.json").read_text())
    assert (out / "bench" / "report.md").read_text().startswith("# Benchmark report")
    rows = {s["name"]: s for s in report["systems"]}
    assert set(rows) == SYSTEMS
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row)
        assert len(row["asr"]) == 2, name  # Whisper and pocketsphinx
        for asr in row["asr"].values():
            assert asr["n"] > 0 and 0 <= asr["wer_mean"]["low"] <= asr["wer_mean"]["value"] <= asr["wer_mean"]["high"]
        assert row["sim"]["n"] > 0
        if row["type"] != "ground_truth":
            assert row["rtf"] > 0
        if row["type"] == "resynthesis":
            assert row["pesq"]["n"] > 0 and row["stoi"]["n"] > 0
    for plot in ("wer.png", "wer_dist.png", "rtf.png"):
        assert (out / "bench" / plot).stat().st_size > 0
    assert first.stdout.strip().splitlines()[-1].endswith(str(out / "bench" / "report.html"))
    assert (out / "bench" / "report.html").stat().st_size > 0
    # every model was exported as safetensors + config
    for name in ("vae_semantic", "vae_plain", "f5_mel", "f5_semantic", "f5_plain"):
        assert (out / "models" / name / "model.safetensors").is_file()
    pipeline = json.loads((out / "pipeline.json").read_text())  # stage times and the machine they were taken on
    assert len(pipeline["stage_seconds"]) == 12 and pipeline["machine"]["cores"] >= 1

    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-4000:]
    assert second.stdout.count(": cached") == 12
