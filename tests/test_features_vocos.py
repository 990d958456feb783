"""Vocos GAN training (tts.vocoder on tts.gan) and its checkpoint -> vocoder export, old checkpoints too."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from torch.utils.data import DataLoader

from tts.features import load_space
from tts.features.vocos import load_vocos
from tts.vocoder import VocosGAN, export_vocos

ROOT = Path(__file__).resolve().parents[1]


def _instantiate(spec: dict) -> VocosGAN:
    """A Vocos recipe layer's model block (its class is recipes/vocos/base.yaml's VocosGAN)."""
    return VocosGAN.from_init_args(spec.get("init_args", {}))


def test_paper_vocos_recipe_is_the_mel_24khz_model():
    cfg = yaml.safe_load((ROOT / "recipes/vocos/mel24k.yaml").read_text())
    gan = _instantiate(cfg["model"])
    n_gen = sum(p.numel() for p in gan.generator.parameters())
    assert abs(n_gen / 1e6 - 13.5) < 0.3
    for name in ("smoke/vocos.yaml", "demo/vocos.yaml"):
        assert isinstance(
            _instantiate(yaml.safe_load((ROOT / "recipes" / name).read_text())["model"]), VocosGAN
        )


def test_gan_training_steps_and_export(tmp_path):
    torch.manual_seed(0)
    cfg = yaml.safe_load((ROOT / "recipes/smoke/vocos.yaml").read_text())
    gan = _instantiate(cfg["model"])  # gan_start_step 1: batch 0 mel-only, then GAN
    before = {k: v.clone() for k, v in gan.discriminator.mpd.state_dict().items()}
    batches = [{"wav": 0.1 * torch.randn(2, 4096)} for _ in range(2)]
    trainer = pl.Trainer(
        max_steps=3,  # batches
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
    )
    trainer.fit(gan, DataLoader(batches, batch_size=None))
    assert trainer.global_step == 3
    assert [s.last_epoch for s in gan.lr_schedulers()] == [3, 2]  # the discriminator's: batches 1, 2
    assert any(not torch.equal(before[k], v) for k, v in gan.discriminator.mpd.state_dict().items())
    ckpt = tmp_path / "vocos.ckpt"
    trainer.save_checkpoint(ckpt)
    out = export_vocos(ckpt, tmp_path / "vocos_dir")
    mel = torch.randn(1, 100, 12)
    torch.testing.assert_close(load_vocos(out).decode(mel), load_vocos(ckpt).decode(mel))
    assert load_space(f"mel:vocos={ckpt}").decode(mel.transpose(1, 2)).shape == (1, 11 * 256)


@pytest.mark.parametrize("bad, named", [("--model.init_args.generator.dimm=8", "dimm"),
                                        ("--model.init_args.loss.init_args.mel_los_coeff=1", "mel_los_coeff")])
def test_vocos_recipe_blocks_are_checked_key_by_key(bad, named, capsys):
    """The generator sizes (VocosConfig) and the loss (a class_path block) are validated by LightningCLI:
    a misspelt key is refused by name; the parsed recipe gives the checkpoint the full loss spec."""
    from tts.cli import lightning_cli

    args = ["fit", "--run_dir", "work/x", "-c", str(ROOT / "recipes/vocos/base.yaml"), "-c", str(ROOT / "recipes/demo/vocos.yaml"),
            "--print_config"]
    with pytest.raises(SystemExit) as exit_info:
        lightning_cli([*args, bad])
    assert exit_info.value.code not in (0, None)
    assert named in capsys.readouterr().err
    gan = VocosGAN.from_init_args(yaml.safe_load((ROOT / "recipes/demo/vocos.yaml").read_text())["model"]["init_args"])
    assert gan.hparams.generator == {"dim": 256, "intermediate_dim": 768, "num_layers": 6, "n_fft": 1024,
                                     "hop_length": 256}  # fmt: skip
    assert gan.hparams.loss == {"class_path": "tts.vocoder.module.VocosLoss",
                                "init_args": {"sample_rate": 24000, "mel_loss_coeff": 45, "mrd_loss_coeff": 0.1}}
