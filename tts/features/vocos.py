"""Vocos mel vocoder for the ``mel`` feature space: local loading and the pretrained-dir layout.

Loading never touches the hub: a directory with ``config.yaml`` + ``pytorch_model.bin`` (the layout of
``charactr/vocos-mel-24khz``) or a checkpoint written by ``tts.vocoder.VocosGAN``. Training and checkpoint export are in ``tts.vocoder``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tts.io import CheckpointError, atomic_write, atomic_write_text, load_checkpoint

VOCOS_PREFIXES = ("feature_extractor.", "backbone.", "head.")
GENERATOR_PREFIX = "generator."  # VocosGAN checkpoints (tts.gan.GANModule): the vocos keys under generator.


def _check_mel(vocos) -> None:
    from vocos.feature_extractors import MelSpectrogramFeatures

    fe = vocos.feature_extractor
    if not isinstance(fe, MelSpectrogramFeatures):
        raise ValueError(f"this Vocos is not a mel vocoder (feature extractor {type(fe).__name__})")
    m = fe.mel_spec
    got = (m.sample_rate, m.n_fft, m.hop_length, m.n_mels, fe.padding)
    if got != (24000, 1024, 256, 100, "center"):
        raise ValueError(f"Vocos mel config {got} != (24000, 1024, 256, 100, 'center') of MelSpace")


def vocos_config(
    dim: int = 512,
    intermediate_dim: int = 1536,
    num_layers: int = 8,
    n_fft: int = 1024,
    hop_length: int = 256,
) -> dict:
    """The ``config.yaml`` dict of a 24 kHz / 100-mel Vocos (defaults: the mel-24khz paper model)."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {
                "sample_rate": 24000,
                "n_fft": n_fft,
                "hop_length": hop_length,
                "n_mels": 100,
                "padding": "center",
            },
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {
                "input_channels": 100,
                "dim": dim,
                "intermediate_dim": intermediate_dim,
                "num_layers": num_layers,
            },
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": dim, "n_fft": n_fft, "hop_length": hop_length, "padding": "center"},
        },
    }


VOCOS_PARTS = ("feature_extractor", "backbone", "head")


def build_vocos(config: dict, where: str = "Vocos config"):
    """``vocos.Vocos`` from a config dict (random weights); only the ``MODEL_FILE_CLASSES`` of vocos are built
    (the config may come from a downloaded folder): another ``class_path`` is refused, naming ``where`` and the key."""
    from vocos.pretrained import Vocos

    from tts.config import MODEL_FILE_CLASSES, ModelFileError, instantiate

    if not isinstance(config, dict) or not set(VOCOS_PARTS) <= set(config):
        raise ModelFileError(f"{where}: a Vocos config needs {', '.join(VOCOS_PARTS)}")
    parts = {k: instantiate(config[k], f"{where}: {k}", MODEL_FILE_CLASSES) for k in VOCOS_PARTS}
    return Vocos(**parts)


def load_vocos(path: str | Path):
    """Vocos from a local dir (config.yaml + pytorch_model.bin) or a ``VocosGAN`` Lightning checkpoint."""
    import yaml

    path = Path(path)
    if path.is_dir():
        cfg_file, weights = path / "config.yaml", path / "pytorch_model.bin"
        for f in (cfg_file, weights):
            if not f.is_file():
                raise FileNotFoundError(
                    f"Vocos dir {path} lacks {f.name} (need config.yaml + pytorch_model.bin)"
                )
        config = yaml.safe_load(cfg_file.read_text())
        state = load_checkpoint(weights)
    elif path.is_file():
        ckpt = load_checkpoint(path)
        if "vocos_config" not in ckpt:
            raise CheckpointError(f"{path} is not a VocosGAN checkpoint (no 'vocos_config' entry)")
        config = ckpt["vocos_config"]
        state = {k[len(GENERATOR_PREFIX) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(GENERATOR_PREFIX)}
        state = {k: v for k, v in state.items() if k.startswith(VOCOS_PREFIXES)}
    else:
        raise FileNotFoundError(f"Vocos not found: {path}")
    vocos = build_vocos(config, str(cfg_file if path.is_dir() else path))
    _check_mel(vocos)
    missing, unexpected = vocos.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("feature_extractor.")]  # mel buffers are recomputed
    if missing or unexpected:
        raise ValueError(
            f"{path}: Vocos weights do not match its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return vocos.eval()


def save_vocos_dir(vocos, config: dict, out_dir: str | Path) -> Path:
    """Write ``config.yaml`` + ``pytorch_model.bin`` (the pretrained-dir layout) atomically."""
    import yaml

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "pytorch_model.bin", lambda tmp: torch.save(vocos.state_dict(), tmp))
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    return out_dir

