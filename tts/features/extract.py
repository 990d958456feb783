"""``tts extract features``: cache a feature space's frames (mel or VAE latents) for F5 training."""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="tts extract features",
        description="Encode every cut of a lhotse manifest with a feature space and store the frames as a "
        "TemporalArray custom field (resumable); writes OUT/cuts.jsonl.gz for UtteranceDataModule.",
    )
    p.add_argument(
        "--space",
        required=True,
        help="feature space spec, e.g. 'mel' or 'latent:vae=/path/vae[,normalize=stats.json]'",
    )
    p.add_argument("--cuts", required=True, help="input lhotse CutSet manifest (cuts_*.jsonl.gz)")
    p.add_argument("--out", required=True, help="output cache directory")
    p.add_argument("--key", default="feats", help="custom field name (default feats)")
    p.add_argument("--batch-size", type=int, default=8, help="cuts per compute call (default 8)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    a = p.parse_args(argv)

    from tts.data.cache import extract_to_cache
    from tts.features import load_space

    space = load_space(a.space).to(a.device)

    @torch.no_grad()
    def compute(wavs: list[torch.Tensor]) -> list[np.ndarray]:
        # one utterance at a time: padding would change the frames at the end of shorter ones
        return [space.encode(w.to(a.device).unsqueeze(0))[0].float().cpu().numpy() for w in wavs]

    cuts = extract_to_cache(
        a.cuts,
        compute,
        a.out,
        a.key,
        space.frame_rate,
        space.sample_rate,
        batch_size=a.batch_size,
        desc=f"extract {space.name}",
        meta={"space": a.space, "dim": space.dim},
    )
    print(f"extract features: {len(list(cuts))} cuts -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
