"""Speech VAE benchmark: parameters and CPU encode/decode speed (x real time) of the demo and paper sizes,
BigVGAN vs Vocos-style decoder side by side; optionally the mel distance of a trained VAE on a cut set.

    python -m eval.bench_vae --out eval/reports/vae_bench [--seconds 4] [--threads 2]
        [--vae work/demo/models/vae_semantic work/demo/models/vae_plain --cuts work/demo/corpus/cuts_test.jsonl.gz]

Sizes are read from the recipes (encoder + the recipe's decoder); the other decoder family at the same
scale is defined below. Writes OUT/bench_vae.json and OUT/bench_vae.md.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch
import yaml

from tts.bench.timing import best_time
from tts.io import atomic_write_json, atomic_write_text
from tts.vae.model import SpeechVAE, instantiate

ROOT = Path(__file__).resolve().parents[1]
# The alternative decoder family at each scale (the recipe holds the other one).
ALTERNATIVES = {
    "demo": {
        "class_path": "tts.vae.model.BigVGANDecoder",
        "init_args": {"channels": 64, "resblock_kernel_sizes": [3, 7], "anti_alias": False},
    },
    "paper": {
        "class_path": "tts.vae.model.VocosDecoder",  # Vocos mel-24khz backbone size
        "init_args": {
            "dim": 512,
            "intermediate_dim": 1536,
            "num_layers": 8,
            "n_fft": 1600,
            "hop_length": 400,
        },
    },
}
RECIPES = {"demo": ROOT / "recipes/demo/vae_semantic.yaml", "paper": ROOT / "recipes/vae/semantic.yaml"}


def recipe_specs(path: Path) -> tuple[dict, dict]:
    init = yaml.safe_load(path.read_text())["model"]["init_args"]
    return init["encoder"], init["decoder"]


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.inference_mode()
def speed(fn, arg, audio_seconds: float, repeats: int) -> float:
    """x real time (audio seconds per compute second), best of ``repeats`` after one warm-up."""
    return audio_seconds / best_time(lambda: fn(arg), repeats, warmup=1)


def bench_sizes(seconds: float, repeats: int) -> list[dict]:
    rows = []
    wav = 0.1 * torch.randn(1, int(seconds * 16000), generator=torch.Generator().manual_seed(0))
    for scale, recipe in RECIPES.items():
        enc_spec, dec_spec = recipe_specs(recipe)
        encoder = instantiate(enc_spec).eval()
        enc_xrt = speed(lambda x, enc=encoder: enc(x.unsqueeze(1)), wav, seconds, repeats)
        z = torch.randn(1, 64, int(seconds * 40))
        for dec in (dec_spec, ALTERNATIVES[scale]):
            vae = SpeechVAE(encoder, instantiate(dec).eval()).eval()
            rows.append(
                {
                    "scale": scale,
                    "decoder": dec["class_path"].rsplit(".", 1)[-1],
                    "decoder_args": dec["init_args"],
                    "in_recipe": dec is dec_spec,
                    "params_encoder_M": round(count(encoder) / 1e6, 3),
                    "params_decoder_M": round(count(vae.decoder) / 1e6, 3),
                    "params_total_M": round(count(vae) / 1e6, 3),
                    "encode_xrt": round(enc_xrt, 2),
                    "decode_xrt": round(speed(vae.decode, z, seconds, repeats), 2),
                }
            )
    for scale in RECIPES:
        big, voc = (
            next(r for r in rows if r["scale"] == scale and r["decoder"] == d)
            for d in ("BigVGANDecoder", "VocosDecoder")
        )
        voc["decode_speedup_vs_bigvgan"] = round(voc["decode_xrt"] / big["decode_xrt"], 2)
    return rows


@torch.inference_mode()
def mel_distance(vae_path: str, cuts_path: str, limit: int) -> dict:
    """Mean multi-scale log-mel L1 (the training mel loss, DAC settings) of resynthesis from the posterior mean."""
    from lhotse import load_manifest_lazy

    from tts.data.cache import load_cut_audio
    from tts.vae import load
    from tts.vae.loss import MultiScaleMelLoss

    vae, mel = load(vae_path), MultiScaleMelLoss()
    distances = []
    for i, cut in enumerate(load_manifest_lazy(cuts_path)):
        if i >= limit:
            break
        wav = load_cut_audio(cut, vae.sample_rate)[None]
        recon = vae.decode(vae.encode(wav)[0])[..., : wav.shape[-1]]
        distances.append(float(mel(recon, wav)))
    return {
        "vae": vae_path,
        "cuts": cuts_path,
        "num_cuts": len(distances),
        "mel_distance": sum(distances) / max(len(distances), 1),
    }


def markdown(rows: list[dict], quality: list[dict], args: argparse.Namespace) -> str:
    lines = [
        "# Speech VAE benchmark",
        "",
        f"CPU: {platform.processor() or platform.machine()}, {args.threads} thread(s), {args.seconds:g} s of audio, "
        f"batch 1, best of {args.repeats}. x RT = audio seconds per compute second.",
        "",
        "| scale | decoder | in recipe | params enc (M) | params dec (M) | total (M) | encode x RT | decode x RT |"
        " Vocos/BigVGAN decode |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['scale']} | {r['decoder']} | {'yes' if r['in_recipe'] else 'no'} | {r['params_encoder_M']} | "
            f"{r['params_decoder_M']} | {r['params_total_M']} | {r['encode_xrt']} | {r['decode_xrt']} | "
            f"{r.get('decode_speedup_vs_bigvgan', '')} |"
        )
    if quality:
        lines += ["", f"Mel distance (multi-scale log-mel L1 of resynthesis from the posterior mean) on "
                      f"{quality[0]['num_cuts']} cuts of `{quality[0]['cuts']}`:", "",
                  "| VAE | mel distance |", "|---|---|"]
        lines += [f"| `{q['vae']}` | **{q['mel_distance']:.4f}** |" for q in quality]
    lines += ["", f"Command: `python -m eval.bench_vae {' '.join(args.argv)}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--seconds", type=float, default=4.0, help="audio length per timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--vae", nargs="+", help="trained VAEs (export dirs or .ckpt) for the mel distance")
    parser.add_argument("--cuts", help="cut manifest for the mel distance")
    parser.add_argument("--limit", type=int, default=50, help="max cuts for the mel distance")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if bool(args.vae) != bool(args.cuts):
        parser.error("--vae and --cuts go together")
    torch.set_num_threads(args.threads)
    rows = bench_sizes(args.seconds, args.repeats)
    quality = [mel_distance(v, args.cuts, args.limit) for v in args.vae or []]
    report = markdown(rows, quality, args)
    print(report)
    out = Path(args.out)
    atomic_write_json(
        out / "bench_vae.json",
        {"rows": rows, "quality": quality, "threads": args.threads, "seconds": args.seconds},
    )
    atomic_write_text(out / "bench_vae.md", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
