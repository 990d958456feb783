"""The voices scale's multi-speaker path at smoke size (issue 23): `tts demo --scale smoke --pipeline
recipes/smoke/voices_pipeline.yaml` builds a many-voice corpus with a held-out family, aligns every cut with the
project's aligner, trains the aligned DiT with the prompt-rate duration head on each space, and benchmarks seen
and unseen speakers with predicted durations (summary.json with the ceiling and no-cloning references)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


@pytest.mark.slow
@pytest.mark.skipif(any(shutil.which(t) is None for t in ("flite", "espeak-ng", "sox")),
                    reason="needs flite, espeak-ng and sox for the many-voice corpus")
def test_voices_pipeline_at_smoke_size_reports_seen_and_unseen_speakers(tmp_path):
    out = tmp_path / "voices"
    cmd = [sys.executable, "-m", "tts.cli", "demo", "--scale", "smoke", "--pipeline",
           str(REPO / "recipes/smoke/voices_pipeline.yaml"), "--out", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    align = json.loads((out / "aligned" / "align.json").read_text())
    assert align["cuts"] > 0 and align["vs_reference_alignments"]  # piper joe's alignments are the reference
    corpus = json.loads((out / "corpus" / "corpus.json").read_text())
    assert corpus["heldout_speakers"] and "piper-joe" in corpus["train_speakers"]
    for name in ("f5_mel", "f5_semantic", "f5_plain"):
        config = json.loads((out / "models" / name / "config.json").read_text())
        assert config["conditioning"] == "aligned" and config["duration_predictor"]["prompt_rate"]
    summary = json.loads((out / "bench" / "summary.json").read_text())
    assert set(summary["unseen_speakers"]) <= set(corpus["heldout_speakers"])
    groups = {(r["system"], r["speakers"]) for r in summary["rows"]}
    assert {("f5_semantic", "seen"), ("f5_semantic", "unseen"), ("f5_mel", "unseen")} <= groups
    for row in summary["rows"]:
        assert row["n"] > 0 and row["sim_ceiling"] is not None and row["sim_no_cloning"] is not None
    report = json.loads((out / "bench" / "report.json").read_text())
    assert all(s["status"] == "ok" for s in report["systems"])
    assert len(json.loads((out / "pipeline.json").read_text())["stage_seconds"]) == 13
