"""Semantic speech VAE: 16 kHz waveform <-> 64-dim latent at 40 Hz.

``load(path)`` rebuilds a ``SpeechVAE`` (eval mode, CPU) from an export directory
(``model.safetensors`` + ``config.json``, see ``tts.vae.export``) or a Lightning ``.ckpt`` of
``tts.vae.module.VAEModule``; Lightning is not needed for export directories.
"""

from __future__ import annotations

from pathlib import Path

from tts.vae.model import BigVGANDecoder, Encoder, MelEncoder, SpeechVAE, VocosDecoder, build_vae

__all__ = [
    "BigVGANDecoder",
    "Encoder",
    "MelEncoder",
    "SpeechVAE",
    "VocosDecoder",
    "build_vae",
    "load",
    "load_checkpoint_parts",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"

EMA_PREFIX, GENERATOR_PREFIX = "ema.ema_model.", "generator."  # VAEModule checkpoints (tts.gan.GANModule)


def load_checkpoint_parts(ckpt_path: str | Path, weights: str = "ema") -> tuple[dict, dict]:
    """(config {"encoder", "decoder", "weights"}, vae state dict) from a VAEModule Lightning checkpoint.

    ``weights="ema"`` takes the generator EMA (``ema.ema_model.*``) when the checkpoint has one and the
    online weights otherwise (``config["weights"]`` says which); ``"online"`` always the online ones.
    """
    from tts.io import CheckpointError, load_checkpoint

    if weights not in ("ema", "online"):
        raise ValueError(f"weights must be 'ema' or 'online', got {weights!r}")
    ckpt = load_checkpoint(ckpt_path)
    hparams = ckpt.get("hyper_parameters", {})
    if "encoder" not in hparams or "decoder" not in hparams or "state_dict" not in ckpt:
        raise CheckpointError(
            f"{ckpt_path}: not a tts.vae.module.VAEModule checkpoint (no encoder/decoder hyper-parameters)"
        )
    has_ema = any(k.startswith(EMA_PREFIX) for k in ckpt["state_dict"])
    prefix = EMA_PREFIX if weights == "ema" and has_ema else GENERATOR_PREFIX
    config = {
        "encoder": hparams["encoder"],
        "decoder": hparams["decoder"],
        "weights": "ema" if prefix == EMA_PREFIX else "online",
    }
    state = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    return config, state


def load(path: str | Path, device: str = "cpu", weights: str = "ema") -> SpeechVAE:
    """SpeechVAE from an export dir (model.safetensors + config.json) or a Lightning .ckpt, in eval mode.

    A .ckpt gives its generator EMA when it has one (``weights="online"``: the online weights).
    """
    path = Path(path)
    if path.is_dir():
        config_path, weights_path = path / CONFIG_NAME, path / WEIGHTS_NAME
        if not config_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(f"{path}: a VAE export dir needs {CONFIG_NAME} and {WEIGHTS_NAME}")
        from tts.io import load_safetensors, read_json

        redo = "re-export it from the training checkpoint (tts export vae)"
        config = read_json(config_path, redo)
        state = load_safetensors(weights_path, redo)
    elif path.is_file():
        config, state = load_checkpoint_parts(path, weights)
    else:
        raise FileNotFoundError(f"VAE not found: {path} (expected an export dir or a .ckpt file)")
    if not isinstance(config, dict) or not {"encoder", "decoder"} <= set(config):
        from tts.io import CheckpointError

        raise CheckpointError(f"{path}: a VAE config needs 'encoder' and 'decoder' specs")
    vae = build_vae(config["encoder"], config["decoder"], str(path / CONFIG_NAME if path.is_dir() else path))
    vae.load_state_dict(state, strict=True)
    return vae.to(device).eval()
