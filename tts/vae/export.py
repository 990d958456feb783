"""Export a VAEModule Lightning checkpoint to ``model.safetensors`` + ``config.json`` (inference only)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tts.io import atomic_write, atomic_write_json
from tts.vae import CONFIG_NAME, WEIGHTS_NAME, load_checkpoint_parts


def export(ckpt: str | Path, out_dir: str | Path, weights: str = "ema") -> Path:
    """Write the VAE weights and its encoder/decoder config to ``out_dir``; returns ``out_dir``.

    ``weights="ema"``: the generator EMA when the checkpoint has one (config.json "weights" says which).
    """
    from safetensors.torch import save_file

    config, state = load_checkpoint_parts(ckpt, weights)
    out_dir = Path(out_dir)
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(out_dir / WEIGHTS_NAME, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
    atomic_write_json(
        out_dir / CONFIG_NAME,
        {**config, "sample_rate": 16000, "source_checkpoint": str(Path(ckpt).resolve())},
    )
    return out_dir


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tts export vae",
        description=(
            "Export a VAE training checkpoint to model.safetensors + config.json. The generator EMA "
            "(the weights Semantic-VAE extracts latents with) is exported when the checkpoint has one."
        ),
    )
    parser.add_argument("ckpt", help="Lightning checkpoint of tts.vae.module.VAEModule")
    parser.add_argument("out_dir", help="output directory (created)")
    parser.add_argument(
        "--weights",
        choices=("ema", "online"),
        default="ema",
        help="ema (default; the online weights when the checkpoint has no EMA) or online",
    )
    args = parser.parse_args(argv)
    print(export(args.ckpt, args.out_dir, args.weights))
    return 0
