"""`tts fit` of the F5 DiT killed with SIGKILL and rerun trains exactly as the uninterrupted run: after N steps
both runs' weights, EMA and optimizer states are byte-identical, whether the kill falls mid-epoch or right
after the last batch of an epoch, with dropout, validation and the sanity check on. (The data module skips
the epoch's trained batches, ``tts.rng.ResumeRNG`` restores the random states, the EMA step is in the
checkpoint of its step.) The kill is deterministic: the run kills itself right after the checkpoint of step k.
Stopping at ``max_steps=k`` instead would not do: the LR schedule decays towards max_steps.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from robust_helpers import run

from tts.cli import main
from tts.data.datamodule import UtteranceDataModule

REPO = Path(__file__).parents[2]
BUDGET = 400  # frames per batch: the tiny corpus's 6 training utterances make 4 batches per epoch


@pytest.fixture(scope="module")
def mel_cuts(tiny_corpus, tmp_path_factory) -> dict[str, Path]:
    """The tiny corpus's train / dev mel features, cached by `tts extract features`."""
    root = tmp_path_factory.mktemp("mel")
    for split in ("train", "dev"):
        assert main(["extract", "features", "--space", "mel", "--cuts", str(tiny_corpus / f"cuts_{split}.jsonl.gz"),
                     "--out", str(root / split)]) == 0  # fmt: skip
    return {split: root / split / "cuts.jsonl.gz" for split in ("train", "dev")}


def _fit(cuts: dict[str, Path], root: Path, steps: int, kill_at: int | None = None) -> list[str]:
    callbacks = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"save_last": True, "every_n_train_steps": 1}}]  # fmt: skip
    if kill_at is not None:
        callbacks.append({"class_path": "robust_helpers.KillAtStep", "init_args": {"step": kill_at}})
    return ["fit", "-c", str(REPO / "recipes/f5/base.yaml"), "-c", str(REPO / "recipes/smoke/f5.yaml"),  # on mel
            f"--data.init_args.train_cuts={cuts['train']}", f"--data.init_args.val_cuts={cuts['dev']}",
            f"--data.init_args.max_frames_per_batch={BUDGET}", "--model.init_args.dit.dropout=0.1",
            f"--trainer.max_steps={steps}", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={root}",
            f"--trainer.callbacks={json.dumps(callbacks)}"]  # fmt: skip


def _last(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def _batches_per_epoch(cuts: dict[str, Path]) -> int:
    dm = UtteranceDataModule(str(cuts["train"]), str(cuts["dev"]), max_frames_per_batch=BUDGET, num_buckets=2,
                             num_workers=0)  # fmt: skip
    dm.setup("fit")
    return sum(1 for _ in dm.train_dataloader())


def _assert_identical(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        same = isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
        assert same, f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_identical(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_identical(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.parametrize("stop", ["mid_epoch", "end_of_epoch"])
def test_kill_9_then_rerun_ends_byte_identical_to_the_uninterrupted_fit(stop, mel_cuts, tmp_path, capsys):
    per_epoch = _batches_per_epoch(mel_cuts)
    assert per_epoch >= 3  # the kills below fall where they say
    k = 2 if stop == "mid_epoch" else per_epoch
    n = per_epoch + 2  # into the second epoch: its order depends on the epoch number too
    rc, text = run(_fit(mel_cuts, tmp_path / "straight", n), capsys)
    assert rc == 0, text[-3000:]

    # same threads as this process: CPU kernels may sum in another order with another thread count
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}  # fmt: skip
    killed = subprocess.run([sys.executable, "-m", "tts.cli", *_fit(mel_cuts, tmp_path / "resumed", n, kill_at=k)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _last(tmp_path / "resumed")["global_step"] == k
    rc, text = run(_fit(mel_cuts, tmp_path / "resumed", n), capsys)  # the rerun of the same command
    assert rc == 0 and "resuming from" in text, text[-3000:]

    straight, resumed = _last(tmp_path / "straight"), _last(tmp_path / "resumed")
    assert straight["global_step"] == resumed["global_step"] == n
    assert any(key.startswith("ema.ema_model.") for key in straight["state_dict"])
    _assert_identical(straight["state_dict"], resumed["state_dict"], "state_dict")
    _assert_identical(straight["optimizer_states"], resumed["optimizer_states"], "optimizer_states")
    _assert_identical(straight["lr_schedulers"], resumed["lr_schedulers"], "lr_schedulers")
    # the data position a further resume would start from
    _assert_identical(straight["UtteranceDataModule"], resumed["UtteranceDataModule"], "data position")
    assert straight["UtteranceDataModule"]["train_epoch"] == 1
    assert straight["UtteranceDataModule"]["train_batches_done"] == n - per_epoch


def _ids(loader) -> list[list[str]]:
    return [batch["ids"] for batch in loader]


def test_data_position_is_skipped_only_with_the_same_data_settings(mel_cuts, caplog):
    def module(**kw) -> UtteranceDataModule:
        dm = UtteranceDataModule(str(mel_cuts["train"]), str(mel_cuts["dev"]), num_buckets=2, num_workers=0,
                                 **{"max_frames_per_batch": BUDGET, **kw})  # fmt: skip
        dm.setup("fit")
        return dm

    full = module()
    loader = full.train_dataloader()
    loader.sampler.set_epoch(1)
    epoch1 = _ids(loader)
    assert full.state_dict() == {}  # no trainer: nothing to resume
    settings = {"train_cuts": 6, "seed": 0, "max_frames_per_batch": BUDGET, "max_cuts": 64, "num_buckets": 2,
                "frame_rate": 93.75, "world_size": 1}  # fmt: skip
    resumed = module()
    resumed.load_state_dict({"train_epoch": 1, "train_batches_done": 2, "data_settings": settings})
    assert _ids(resumed.train_dataloader()) == epoch1[2:]  # the epoch's untrained batches, in order
    other = module(max_frames_per_batch=BUDGET + 1)
    other.load_state_dict({"train_epoch": 1, "train_batches_done": 2, "data_settings": settings})
    with caplog.at_level("WARNING"):
        batches = _ids(other.train_dataloader())
    assert sum(map(len, batches)) == 6  # the whole epoch again, and said so
    assert "other training data settings" in caplog.text and "max_frames_per_batch" in caplog.text
