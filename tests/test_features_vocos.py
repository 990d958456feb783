"""Vocos GAN training (Lightning 2 manual optimization) and its checkpoint -> vocoder export."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning.pytorch as pl
import torch
import yaml
from torch.utils.data import DataLoader

from tts.features import load_space
from tts.features.vocos import VocosGAN, export_vocos, load_vocos

ROOT = Path(__file__).resolve().parents[1]


def _instantiate(spec: dict):
    module, name = spec["class_path"].rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**spec.get("init_args", {}))


def test_paper_vocos_recipe_is_the_mel_24khz_model():
    cfg = yaml.safe_load((ROOT / "recipes/vocos/mel24k.yaml").read_text())
    gan = _instantiate(cfg["model"])
    n_gen = sum(p.numel() for m in (gan.feature_extractor, gan.backbone, gan.head) for p in m.parameters())
    assert abs(n_gen / 1e6 - 13.5) < 0.3
    for name in ("smoke/vocos.yaml", "demo/vocos.yaml"):
        assert isinstance(
            _instantiate(yaml.safe_load((ROOT / "recipes" / name).read_text())["model"]), VocosGAN
        )


def test_gan_training_steps_and_export(tmp_path):
    torch.manual_seed(0)
    cfg = yaml.safe_load((ROOT / "recipes/smoke/vocos.yaml").read_text())
    gan = _instantiate(cfg["model"])  # pretrain_mel_steps 1: step 0 mel-only, then GAN
    before = {k: v.clone() for k, v in gan.multiperioddisc.state_dict().items()}
    batches = [{"wav": 0.1 * torch.randn(2, 4096)} for _ in range(2)]
    trainer = pl.Trainer(
        max_steps=4,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
    )
    trainer.fit(gan, DataLoader(batches, batch_size=None))
    assert any(not torch.equal(before[k], v) for k, v in gan.multiperioddisc.state_dict().items())
    ckpt = tmp_path / "vocos.ckpt"
    trainer.save_checkpoint(ckpt)
    out = export_vocos(ckpt, tmp_path / "vocos_dir")
    mel = torch.randn(1, 100, 12)
    torch.testing.assert_close(load_vocos(out).decode(mel), load_vocos(ckpt).decode(mel))
    assert load_space(f"mel:vocos={ckpt}").decode(mel.transpose(1, 2)).shape == (1, 11 * 256)
