"""Training resumes after a kill: SIGKILL a `tts fit` mid-run, re-run it, and it continues from last.ckpt."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).parent.parent


def _fit_argv(corpus: Path, run_dir: Path, recipe: list[str], extra: list[str]) -> list[str]:
    return [
        sys.executable, "-m", "tts.cli", "fit", "--run_dir", str(run_dir), *(a for f in recipe for a in ("-c", str(REPO / f))),
        f"--data.init_args.train_cuts={corpus / 'cuts_train.jsonl.gz'}",
        f"--data.init_args.val_cuts={corpus / 'cuts_dev.jsonl.gz'}",
        "--trainer.max_steps=400", "--trainer.limit_val_batches=0", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.callbacks=" + json.dumps([{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                               "init_args": {"dirpath": str(run_dir), "save_last": True,
                                                             "every_n_train_steps": 1}}]),
        *extra,
    ]


@pytest.mark.slow  # per recipe: two interpreter starts and two short trainings, the first killed mid-run
@pytest.mark.parametrize("recipe,extra", [
    (["recipes/vae/base.yaml", "recipes/smoke/vae_semantic.yaml"], ["--model.init_args.loss.init_args.semantic_weight=0.0", "--data.init_args.teacher_key=null"]),
    (["recipes/vocos/base.yaml", "recipes/smoke/vocos.yaml"], []),
], ids=["vae_plain", "vocos"])
def test_fit_resumes_after_kill(tiny_corpus, tmp_path, recipe, extra):
    last = tmp_path / "last.ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_fit_argv(tiny_corpus, tmp_path, recipe, extra), cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)  # let a few more steps run, then kill without any chance to clean up
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last.exists(), "no checkpoint was written before the kill"
    step_at_kill = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert 0 < step_at_kill < 400

    out = subprocess.run(_fit_argv(tiny_corpus, tmp_path, recipe, extra + ["--trainer.max_steps=" + str(step_at_kill + 8),
                                                                       f"--ckpt_path={last}"]),
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Restoring states from the checkpoint" in out.stdout + out.stderr
    final = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert final == step_at_kill + 8


def test_a_checkpoint_of_an_older_module_form_resumes_with_the_recipes_config(tmp_path, capsys):
    """LightningCLI merges a checkpoint's hyper-parameters into the config; a VAEModule checkpoint from before the
    loss: block (loss weights as its own arguments) is not merged (said on stderr), a current one is."""
    from tts.cli import _hparams_fit_the_model

    old = {"_class_path": "tts.vae.module.VAEModule", "encoder": {}, "decoder": {}, "mel_weight": 15.0, "kl_weight": 0.01}
    new = {"_class_path": "tts.vae.module.VAEModule", "encoder": {}, "decoder": {}, "loss": {}, "lr": 1e-3}
    for name, hp in (("old", old), ("new", new)):
        torch.save({"state_dict": {}, "global_step": 1, "hyper_parameters": hp}, tmp_path / f"{name}.ckpt")
    assert not _hparams_fit_the_model(torch.load(tmp_path / "old.ckpt"), tmp_path / "old.ckpt")
    err = capsys.readouterr().err
    assert "older form of VAEModule" in err and "kl_weight, mel_weight" in err
    assert _hparams_fit_the_model(torch.load(tmp_path / "new.ckpt"), tmp_path / "new.ckpt")
