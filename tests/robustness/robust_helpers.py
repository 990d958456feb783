"""Shared pieces of the bad-input suite (helpers; the fixtures are re-exported by conftest.py): a tiny F5 model,
wav writers, the CLI runner and output checks.

Every test here feeds one kind of bad input (or fault) to a real command and asserts three things: the
message names the file / line / key, the exit code, and that every good item's output exists and is valid.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile as sf
import yaml

from tts.cli import main as cli_main
from tts.io import read_jsonl

SR = 24000


@pytest.fixture(scope="session")
def f5_model(tmp_path_factory) -> Path:
    """A tiny F5 export dir on mel + a tiny Vocos (max 8 s): built once, copied by tests that damage it."""
    from factories import tiny_f5_export

    return tiny_f5_export(tmp_path_factory.mktemp("model"))


@pytest.fixture
def model_copy(f5_model, tmp_path) -> Path:
    return Path(shutil.copytree(f5_model, tmp_path / "f5_copy"))


class KillAtStep(pl.Callback):
    """``kill -9`` of its own process right before the optimizer step after ``step`` (a deterministic kill: the
    checkpoints of step ``step`` are on disk, nothing is cleaned up)."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def speech(seconds: float = 0.5, sr: int = SR, seed: int = 0, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wav = (0.1 * rng.standard_normal((int(seconds * sr), channels))).astype("float32")
    return wav[:, 0] if channels == 1 else wav


def write_wav(path: Path, seconds: float = 0.5, sr: int = SR, seed: int = 0, **kw) -> str:
    sf.write(path, speech(seconds, sr, seed, kw.pop("channels", 1)), sr, **kw)
    return str(path)


def run(argv: list[str], capsys) -> tuple[int, str]:
    """``tts <argv>`` in this process -> (exit code, stdout + stderr); argparse exits count as codes."""
    try:
        rc = cli_main(argv)
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return rc, out.out + out.err


class EchoASR:
    """Transcribes every utterance as 'hello there' (the spec check reads its constructor's arguments)."""

    def __init__(self, name: str = "echo", device: str = "cpu") -> None:
        self.name = name

    def transcribe(self, wavs):
        return ["hello there" for _ in wavs]


class ConstSpeaker:
    name = "const"

    def __init__(self, device: str = "cpu") -> None:
        pass

    def embed(self, wavs):
        return np.ones((len(wavs), 4))


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """(spec dict, write(spec) -> path): a 2-utterance ground-truth benchmark with offline fake backends."""
    import tts.bench.asr
    import tts.bench.similarity

    monkeypatch.setitem(tts.bench.asr.BACKENDS, "echo", EchoASR)
    monkeypatch.setitem(tts.bench.similarity.BACKENDS, "const", ConstSpeaker)
    rows = [{"id": f"u{i}", "text": "Hello there.", "ref_audio": write_wav(tmp_path / f"r{i}.wav", seed=i),
             "ref_text": "A prompt.", "gt_audio": write_wav(tmp_path / f"g{i}.wav", seed=9 + i)} for i in range(2)]  # fmt: skip
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": "robust", "test_list": str(tmp_path / "test.jsonl"), "n_boot": 10,
            "asr": [{"backend": "echo"}], "similarity": {"backend": "const"},
            "systems": [{"name": "gt", "type": "ground_truth"}]}  # fmt: skip

    def write(s: dict | str) -> str:
        path = tmp_path / "spec.yaml"
        path.write_text(s if isinstance(s, str) else yaml.safe_dump(s))
        return str(path)

    return spec, write


def bench_cli(path: str, out, capsys, *extra: str) -> tuple[int, str]:
    """``tts bench -c path --out out [extra]`` -> (exit code, output)."""
    return run(["bench", "-c", path, "--out", str(out), *extra], capsys)


def assert_valid_wav(path: Path, sr: int = SR) -> None:
    """A readable, non-empty, finite wav at ``sr`` that is not pinned to the clip limits."""
    assert path.is_file(), f"missing output {path}"
    data, rate = sf.read(path, dtype="float32")
    assert rate == sr and data.size > 0 and np.isfinite(data).all()
    assert np.abs(data).max() < 0.999 or np.abs(data).mean() < 0.9, f"{path} is saturated"


def good_rows(ref: str, n: int = 2) -> list[dict]:
    return [{"id": f"good{i}", "text": "Hello there.", "ref_audio": ref, "ref_text": "A prompt."} for i in range(n)]


def write_list(path: Path, lines: list) -> str:
    """Lines as JSONL: dicts are dumped, str / bytes written as they are."""
    raw = b"".join((json.dumps(x).encode() if isinstance(x, dict) else x if isinstance(x, bytes) else x.encode())
                   + b"\n" for x in lines)  # fmt: skip
    path.write_bytes(raw)
    return str(path)


def synth_argv(model: Path, lst: str, out: Path, *extra: str) -> list[str]:
    return ["synth", "--model", str(model), "--input", lst, "--out", str(out), "--nfe", "2", "--no-progress",
            *extra]  # fmt: skip


def errors_of(out: Path) -> list[dict]:
    return read_jsonl(out / "errors.jsonl")


class KillAfterBatches(pl.Callback):
    """``kill -9`` of its own process right before training batch ``batches`` + 1 (counted in batches, not
    optimizer steps: the GAN trainings step one or two optimizers per batch)."""

    def __init__(self, batches: int):
        self.batches = batches

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.total.completed >= self.batches:
            os.kill(os.getpid(), signal.SIGKILL)
