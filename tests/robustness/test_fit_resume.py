"""`tts fit` interruption: rerunning the same command resumes from last.ckpt in its checkpoint dir (said in the
log, no last-v1.ckpt); a truncated last.ckpt is named with what to do (exit 2); the recipe's integer batch
limits stay batch counts; no warning about arguments passed twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from robust_helpers import run

REPO = Path(__file__).parents[2]


def _fit(corpus: Path, root: Path, steps: int, *extra: str) -> list[str]:
    return ["fit", "--run_dir", str(root), "-c", str(REPO / "recipes/vocos/base.yaml"), "-c", str(REPO / "recipes/smoke/vocos.yaml"),
            f"--data.init_args.train_cuts={corpus / 'cuts_train.jsonl.gz'}",
            f"--data.init_args.val_cuts={corpus / 'cuts_dev.jsonl.gz'}",
            f"--trainer.max_steps={steps}", "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={root}", *extra]  # fmt: skip


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.slow  # two short trainings of the smoke Vocos GAN: ~1-2 min on 2 shared cores
def test_rerun_of_the_same_command_resumes_from_last_ckpt(tiny_corpus, tmp_path, capsys):
    rc, text = run(_fit(tiny_corpus, tmp_path, 2), capsys)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert rc == 0 and "training from step 0" in text
    first = _step(last)
    rc, text = run(_fit(tiny_corpus, tmp_path, 4), capsys)
    # (Lightning's own "Restored all states" goes to its logger, whose handler may hold the stderr of an
    # earlier import, outside capsys: the step count proves the restore instead)
    assert rc == 0 and f"resuming from {last}" in text and "training from step 0" not in text
    assert _step(last) > first and not list(last.parent.glob("last-v*.ckpt"))


@pytest.mark.parametrize("explicit", [False, True], ids=["found_in_run_dir", "given_as_ckpt_path"])
def test_truncated_last_ckpt_is_named_with_what_to_do(explicit, tiny_corpus, tmp_path, capsys):
    last = tmp_path / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04" + b"\x00" * 500)  # the head of a zip, as a kill during the write leaves it
    rc, text = run(_fit(tiny_corpus, tmp_path, 2, *([f"--ckpt_path={last}"] if explicit else [])), capsys)
    assert rc == 2 and f"tts fit: cannot load checkpoint {last}" in text and "Delete it" in text
    assert "CheckpointError" not in text  # a message, not a traceback


def test_integer_batch_limits_stay_counts_and_no_double_argument_warning(tiny_corpus, tmp_path):
    argv = [sys.executable, "-m", "tts.cli", *_fit(tiny_corpus, tmp_path, 2)[:-5], "--print_config"]
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert "  limit_val_batches: 1\n" in out.stdout  # the smoke recipe means one batch, not 1.0 = 100%
    assert "args parameter is intended" not in out.stderr


@pytest.mark.slow  # two interpreter starts and two short trainings
def test_kill_9_mid_training_then_same_command_resumes(tiny_corpus, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    every_step = ('--trainer.callbacks=[{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", '
                  '"init_args": {"save_last": true, "every_n_train_steps": 1}}]')  # fmt: skip
    argv = [sys.executable, "-m", "tts.cli", *_fit(tiny_corpus, tmp_path, 400, every_step)]
    last = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = _step(last)
    assert 0 < step < 400
    argv[argv.index("--trainer.max_steps=400")] = f"--trainer.max_steps={step + 4}"
    out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"resuming from {last}" in out.stderr and "Restored all states" in out.stderr
    assert _step(last) > step and not list(last.parent.glob("last-v*.ckpt"))
