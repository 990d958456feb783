"""``tts extract latents``: cache VAE latents on a CutSet (for F5 training) plus per-dim statistics."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from tts.io import atomic_write_json

DEFAULT_KEY = "latents"


def latent_stats(cuts, key: str) -> dict:
    """Per-dimension mean / std (and frame count) of the cached latents (N, D) over all cuts."""
    total, sum_x, sum_x2 = 0, None, None
    for cut in cuts:
        x = np.asarray(cut.load_custom(key), dtype=np.float64)
        sum_x = x.sum(0) if sum_x is None else sum_x + x.sum(0)
        sum_x2 = (x**2).sum(0) if sum_x2 is None else sum_x2 + (x**2).sum(0)
        total += x.shape[0]
    if total == 0:
        raise ValueError("no latents to compute statistics from")
    mean = sum_x / total
    std = np.sqrt(np.maximum(sum_x2 / total - mean**2, 0.0))
    return {"key": key, "num_frames": int(total), "mean": mean.tolist(), "std": std.tolist()}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tts extract latents",
        description=(
            "Encode every cut with a trained VAE and store its latents (N, 64) at 40 Hz on the cuts "
            "(custom field --key). Sampled z by default (as the Semantic-VAE paper trains F5 on), the "
            "posterior mean with --mean. Writes OUT/cuts.jsonl.gz, OUT/meta.json and OUT/stats.json "
            "(per-dimension mean/std). A training .ckpt with a generator EMA is encoded with the EMA weights "
            "(as Semantic-VAE extracts latents), like `tts export vae` exports them."
        ),
    )
    parser.add_argument(
        "--vae", required=True, help="VAE export dir (model.safetensors + config.json) or .ckpt"
    )
    parser.add_argument("--cuts", required=True, help="input lhotse CutSet manifest")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--mean", action="store_true", help="store the posterior mean instead of a sampled z")
    parser.add_argument("--key", default=DEFAULT_KEY, help=f"custom field name (default {DEFAULT_KEY})")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling z")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)

    from tts.data.cache import extract_to_cache
    from tts.vae import load

    vae = load(args.vae, device=args.device)
    generator = torch.Generator(device=args.device).manual_seed(args.seed)

    @torch.inference_mode()
    def compute(wavs: list[torch.Tensor]) -> list[np.ndarray]:
        out = []
        for wav in wavs:  # one at a time: no padding, so N = ceil(T / 400) exactly
            mean, logvar = vae.encode(wav[None].to(args.device))
            z = mean
            if not args.mean:
                noise = torch.randn(mean.shape, generator=generator, device=mean.device)
                z = mean + noise * (0.5 * logvar).exp()
            out.append(z[0].T.float().cpu().numpy())
        return out

    cuts = extract_to_cache(
        args.cuts,
        compute=compute,
        out_dir=args.out,
        key=args.key,
        frame_rate=vae.frame_rate,
        sample_rate=vae.sample_rate,
        desc="latents",
        meta={
            "vae": str(Path(args.vae).resolve()),
            "latents": "mean" if args.mean else "sampled",
            "seed": args.seed,
            "dim": vae.latent_dim,
        },
    )
    stats = latent_stats(cuts, args.key)
    atomic_write_json(Path(args.out) / "stats.json", {**stats, "latents": "mean" if args.mean else "sampled"})
    print(f"{args.out}: {stats['num_frames']} latent frames ({'mean' if args.mean else 'sampled z'})")
    return 0
