"""A ``VocosGAN`` training checkpoint -> the pretrained-dir layout (config.yaml + pytorch_model.bin)."""

from __future__ import annotations

from pathlib import Path

from tts.features.vocos import load_vocos, save_vocos_dir
from tts.io import load_checkpoint


def export_vocos(ckpt: str | Path, out_dir: str | Path) -> Path:
    """``VocosGAN`` checkpoint (this trainer's or an older one) -> a dir loadable by ``load_vocos``."""
    vocos = load_vocos(ckpt)
    return save_vocos_dir(vocos, load_checkpoint(ckpt)["vocos_config"], out_dir)
