"""`tts synth` run-level faults: sampling settings out of range, an unwritable --out, a damaged or missing model,
resuming into an --out made with other settings, and kill -9 mid-run (the resumed run's wavs are byte-identical
to an uninterrupted run's). Refusals exit 2 before any work and name the flag, file or setting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from robust_helpers import assert_valid_wav, good_rows, run, synth_argv, write_list, write_wav

from tts.io import read_jsonl
from tts.synth import SynthError, synthesize_list

REPO = Path(__file__).parents[2]


@pytest.mark.parametrize("flag,value,words", [
    ("--nfe", "0", ["--nfe", "[1, 1000]"]),
    ("--nfe", "-3", ["--nfe", "[1, 1000]"]),
    ("--cfg", "-5", ["--cfg", "[0, 100]"]),
    ("--cfg", "inf", ["--cfg", "finite"]),
    ("--sway", "nan", ["--sway", "[-1, 1]"]),
    ("--speed", "-1", ["--speed", "[0.25, 4]"]),
    ("--speed", "0", ["--speed", "[0.25, 4]"]),
    ("--speed", "1e-30", ["--speed", "[0.25, 4]"]),
    ("--speed", "100", ["--speed", "[0.25, 4]"]),
    ("--seed", "-1", ["--seed", "2.14748e+09"]),
    ("--batch-frames", "0", ["--batch-frames", ">= 1"]),
])  # fmt: skip
def test_sampling_setting_out_of_range_is_refused_with_its_range(flag, value, words, f5_model, tmp_path, capsys):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    rc, text = run([*synth_argv(f5_model, lst, out), flag, value], capsys)
    assert rc == 2
    for word in words:
        assert word in text, text
    assert not out.exists()


def test_python_api_validates_settings_too(f5_model, tmp_path):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    with pytest.raises(SynthError, match=r"nfe must be an integer in \[1, 1000\], got 0.*speed must be"):
        synthesize_list(str(f5_model), lst, str(tmp_path / "out"), nfe=0, speed=0.0, progress=False)
    assert not (tmp_path / "out").exists()


def test_unwritable_out_is_refused_before_the_model_loads(f5_model, tmp_path, capsys):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "a_file" / "out"  # a path under a regular file: no user can create it
    rc, text = run(synth_argv(tmp_path / "no_model_needed", lst, out), capsys)
    assert rc == 2 and f"--out {out} is not writable" in text


@pytest.mark.parametrize("damage,words", [
    ("truncate_weights", ["model.safetensors", "truncated", "re-export"]),
    ("weights_header_only", ["model.safetensors", "re-export"]),
    ("config_not_json", ["config.json", "not valid JSON", "re-export"]),
    ("missing_model", ["F5 model not found"]),
])  # fmt: skip
def test_damaged_or_missing_model_is_named(damage, words, model_copy, tmp_path, capsys):
    weights = model_copy / "model.safetensors"
    if damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[:5000])
    elif damage == "weights_header_only":
        weights.write_bytes(b"\x08\x00")
    elif damage == "config_not_json":
        (model_copy / "config.json").write_text("{network: oops")
    model = tmp_path / "nope" if damage == "missing_model" else model_copy
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    rc, text = run(synth_argv(model, lst, tmp_path / "out"), capsys)
    assert rc == 2
    for word in words:
        assert word in text, text
    assert "Traceback" not in text


def test_resume_with_other_settings_is_refused_then_overwritten(f5_model, tmp_path, capsys):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    assert run(synth_argv(f5_model, lst, out), capsys)[0] == 0
    first = (out / "good0.wav").read_bytes()
    rc, text = run([*synth_argv(f5_model, lst, out), "--seed", "1", "--cfg", "3"], capsys)
    assert rc == 2 and "cfg: 2.0 there, 3.0 now" in text and "seed: 0 there, 1 now" in text and "--overwrite" in text
    assert (out / "good0.wav").read_bytes() == first
    rc, text = run([*synth_argv(f5_model, lst, out), "--seed", "1", "--cfg", "3", "--overwrite"], capsys)
    assert rc == 0 and "2 synthesized, 0 already done" in text
    assert (out / "good0.wav").read_bytes() != first
    assert_valid_wav(out / "good0.wav")


def test_resume_with_another_model_is_refused(f5_model, model_copy, tmp_path, capsys):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    assert run(synth_argv(f5_model, lst, out), capsys)[0] == 0
    cfg = model_copy / "config.json"
    cfg.write_text(cfg.read_text().replace('"max_duration_s": 8.0', '"max_duration_s": 9.0'))
    rc, text = run(synth_argv(model_copy, lst, out), capsys)
    assert rc == 2 and "model_sha256" in text


@pytest.mark.slow  # three interpreter starts: 1-2 min on 2 shared cores
def test_kill_9_mid_synthesis_then_resume_is_byte_identical(f5_model, tmp_path):
    ref = write_wav(tmp_path / "ref.wav")
    rows = [{**r, "id": f"u{i:02d}", "text": "Hello there, how are you today?"} for i, r in
            enumerate(good_rows(ref, 1) * 16)]  # fmt: skip
    lst = write_list(tmp_path / "list.jsonl", rows)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}

    def cmd(out: Path) -> list[str]:
        return [sys.executable, "-m", "tts.cli", *synth_argv(f5_model, lst, out), "--nfe", "4", "--batch-frames", "1"]

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while len(read_jsonl(killed / "results.jsonl")) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_before = len(read_jsonl(killed / "results.jsonl"))
    assert 2 <= n_before < 16, "the run finished before it could be killed"
    done = subprocess.run(cmd(killed), env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{16 - n_before} synthesized, {n_before} already done" in done.stdout
    whole = tmp_path / "whole"
    assert subprocess.run(cmd(whole), env=env, capture_output=True, timeout=600).returncode == 0
    for i in range(16):
        assert (killed / f"u{i:02d}.wav").read_bytes() == (whole / f"u{i:02d}.wav").read_bytes(), i
