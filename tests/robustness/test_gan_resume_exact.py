"""`tts fit` of a GAN training on crops (the smoke Vocos: two optimizers, peak-normalized random crops)
killed with SIGKILL and rerun trains exactly as the uninterrupted run: both runs' weights and optimizer
and scheduler states end byte-identical, whether the kill falls mid-epoch or right after an epoch's last
batch. (CropDataModule's order, crop offsets and gains follow from (seed, epoch, item) and a resume skips
the epoch's trained batches; ``tts.rng.ResumeRNG`` restores the random states.)
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
from test_fit_resume_exact import _assert_identical

from tts.data.datamodule import CropDataModule

REPO = Path(__file__).parents[2]
RECIPE = REPO / "recipes/smoke/vocos.yaml"  # batch_size 2: the tiny corpus's 6 training cuts make 3 batches


def _fit(corpus: Path, root: Path, kill_after: int | None = None) -> list[str]:
    callbacks = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                  "init_args": {"save_last": True, "every_n_train_steps": 1}}]  # fmt: skip
    if kill_after is not None:
        callbacks.append({"class_path": "robust_helpers.KillAfterBatches", "init_args": {"batches": kill_after}})
    return ["fit", "--run_dir", str(root), "-c", str(REPO / "recipes/vocos/base.yaml"), "-c", str(RECIPE), f"--data.init_args.train_cuts={corpus / 'cuts_train.jsonl.gz'}",
            f"--data.init_args.val_cuts={corpus / 'cuts_dev.jsonl.gz'}",
            "--trainer.max_steps=-1", "--trainer.max_epochs=2", "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false", f"--trainer.default_root_dir={root}",
            f"--trainer.callbacks={json.dumps(callbacks)}"]  # fmt: skip


def _last(root: Path) -> dict:
    return torch.load(root / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)


def _module(corpus: Path, **kw) -> CropDataModule:
    dm = CropDataModule(str(corpus / "cuts_train.jsonl.gz"), str(corpus / "cuts_dev.jsonl.gz"),
                        **{"sample_rate": 24000, "crop_samples": 8192, "batch_size": 2, "num_workers": 0,
                           "pad": "repeat", "peak_normalize": True, "min_duration": 0.0, "require_text": False,
                           **kw})  # fmt: skip
    dm.setup("fit")
    return dm


@pytest.mark.slow  # three GAN fits
@pytest.mark.parametrize("stop", ["mid_epoch", "end_of_epoch"])
def test_kill_9_then_rerun_of_a_gan_fit_ends_byte_identical(stop, tiny_corpus, tmp_path, capsys):
    per_epoch = len(_module(tiny_corpus).train_dataloader())
    assert per_epoch == 3  # the kills below fall where they say
    k = 1 if stop == "mid_epoch" else per_epoch
    rc, text = run(_fit(tiny_corpus, tmp_path / "straight"), capsys)
    assert rc == 0, text[-3000:]

    # same threads as this process: CPU kernels may sum in another order with another thread count
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads()),
           "PYTHONPATH": os.pathsep.join([str(REPO), str(Path(__file__).parent)])}  # fmt: skip
    killed = subprocess.run([sys.executable, "-m", "tts.cli", *_fit(tiny_corpus, tmp_path / "resumed", k)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _last(tmp_path / "resumed")["CropDataModule"]["train_batches_done"] == k % per_epoch
    rc, text = run(_fit(tiny_corpus, tmp_path / "resumed"), capsys)  # the rerun of the same command
    assert rc == 0 and "resuming from" in text, text[-3000:]

    straight, resumed = _last(tmp_path / "straight"), _last(tmp_path / "resumed")
    assert straight["global_step"] == resumed["global_step"] > 0
    _assert_identical(straight["state_dict"], resumed["state_dict"], "state_dict")
    _assert_identical(straight["optimizer_states"], resumed["optimizer_states"], "optimizer_states")
    _assert_identical(straight["lr_schedulers"], resumed["lr_schedulers"], "lr_schedulers")
    _assert_identical(straight["CropDataModule"], resumed["CropDataModule"], "data position")
    assert straight["CropDataModule"]["train_epoch"] == 2 and straight["CropDataModule"]["train_batches_done"] == 0


def _epoch(loader, epoch: int) -> list[dict]:
    loader.sampler.set_epoch(epoch)
    return list(loader)


def test_crops_follow_from_seed_epoch_and_item_only(tiny_corpus):
    """The order, offsets and gains of an epoch do not depend on what was drawn before, on the global RNG
    or on the worker that loads an item; another epoch or seed gives others."""
    a, b = _module(tiny_corpus), _module(tiny_corpus)
    first = _epoch(a.train_dataloader(), 1)
    torch.manual_seed(123)
    again = _epoch(b.train_dataloader(), 1)
    assert [x["ids"] for x in first] == [x["ids"] for x in again]
    for x, y in zip(first, again):
        assert torch.equal(x["wav"], y["wav"])
    assert b.train_set[(2, 1)]["wav"].equal(b.train_set[(2, 1)]["wav"])  # no state between loads
    other_epoch = _epoch(a.train_dataloader(), 2)
    assert [x["ids"] for x in other_epoch] != [x["ids"] for x in first]
    assert not torch.equal(_module(tiny_corpus, seed=1).train_set[(0, 1)]["wav"], a.train_set[(0, 1)]["wav"])


def test_crop_position_is_skipped_only_with_the_same_data_settings(tiny_corpus, caplog):
    full = _epoch(_module(tiny_corpus).train_dataloader(), 1)
    settings = {"train_cuts": 6, "seed": 0, "batch_size": 2, "world_size": 1}
    resumed = _module(tiny_corpus)
    resumed.load_state_dict({"train_epoch": 1, "train_batches_done": 2, "data_settings": settings})
    rest = list(resumed.train_dataloader())
    assert [x["ids"] for x in rest] == [x["ids"] for x in full[2:]]
    assert torch.equal(rest[0]["wav"], full[2]["wav"])
    other = _module(tiny_corpus, seed=3)
    other.load_state_dict({"train_epoch": 1, "train_batches_done": 2, "data_settings": settings})
    with caplog.at_level("WARNING"):
        assert len(list(other.train_dataloader())) == 3  # the whole epoch again, and said so
    assert "other training data settings" in caplog.text and "seed" in caplog.text
