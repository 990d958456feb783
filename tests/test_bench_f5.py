"""eval/bench_f5.py runs end to end at a tiny size and writes its report (its figures are not checked here:
speed targets live in the benchmark, not in tests)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_f5", ROOT / "eval/bench_f5.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # the benchmark end to end: two spaces trained and sampled in bf16, which is slow on CPUs
def test_bench_f5_writes_mel_and_latent_figures_in_bf16(tmp_path):
    argv = ["--out", str(tmp_path), "--reference", "off", "--repeats", "1", "--utts", "2", "--nfe", "2"]
    argv += ["--train-seconds", "1.0", "0.5", "--precision", "bf16-mixed"]
    assert _bench().main(argv) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["precision"] == "bf16-mixed" and report["device"] == "cpu"
    for space, rate in (("mel", 93.75), ("latent", 40)):
        row = report["spaces"][space]
        assert row["frame_rate"] == rate and row["utterances"] == 2
        assert row["rtf_batch1"] > 0 and row["train_audio_s_per_s"] > 0 and row["decoder_rtf"] > 0
    assert report["reference"] == {"skipped": "--reference off"}
    md = (tmp_path / "report.md").read_text()
    assert "precision bf16-mixed" in md and "Not measured: --reference off" in md
