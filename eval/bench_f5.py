"""Benchmark: F5 DiT on mel vs on VAE latents (synthesis RTF, training throughput) and ours vs F5-TTS.

    python -m eval.bench_f5 --out eval/reports/bench_f5 [--vocos DIR] [--vae DIR] [--nfe 32] [--threads 2]
    python -m eval.bench_f5 --device cuda --precision bf16-mixed --dit-recipe recipes/f5/small.yaml \
        --out eval/reports/bench_f5_gpu          # GPU, paper-size DiT (F5TTS_v1_Small)

Part 1, one DiT configuration (the demo size unless --dit-recipe says otherwise) on both spaces:
- synthesis RTF = wall time / generated audio seconds, vocoder (Vocos) or VAE decoder included,
  batch 1 (one utterance at a time) and batched (all utterances in one call);
- training throughput = audio seconds per second of a full step (CFM loss, backward, AdamW).
Untrained weights (random Vocos / VAE / DiT of the demo recipes) give the same timings as trained ones.

Part 2, the same small DiT configuration timed in ours and in the F5-TTS reference implementation
(SWivid/F5-TTS ``model/backbones/dit.py`` + ``model/cfm.py``), each in its own subprocess with the same
thread count: one training step and one 32-NFE CFG sampling call. The reference is the f5-tts 1.1.22
package installed by ``make`` (test-only: ``make f5-ref``, with x-transformers + torchdiffeq from the dev
extra); skipped when it is not installed.

Writes ``report.json`` and ``report.md`` under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
PROMPT_TEXT = "It is easy to tell the depth of a well."


def _autocast(device: str, precision: str):
    """bf16 autocast for ``precision`` "bf16-mixed" (as Lightning's), else a no-op context."""
    import contextlib

    import torch

    if precision == "bf16-mixed":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --------------------------------------------------------------------------------------------- workers
def _time_train_and_sample(cfg: dict, model, opt, loss, sample, first_id: int) -> dict:
    """Best times of one training step and one CFG sampling call on cfg's shapes, for either worker.

    ``loss(feats, lens, text)`` returns the scalar loss, ``sample(cond, cond_lens, text, total)`` runs the
    sampler; both run under cfg's precision. Text ids are drawn from [first_id, vocab_size).
    Times: best of cfg's repeats (``tts.bench.timing.best_time``: the machine is shared, the minimum is
    the least disturbed run; on a GPU each call ends with a synchronize).
    """
    import torch

    from tts.bench.timing import best_time

    dev, prec = cfg["device"], cfg["precision"]
    model.train()
    feats = torch.randn(len(cfg["train_lens"]), max(cfg["train_lens"]), cfg["feat_dim"], device=dev)
    lens = torch.tensor(cfg["train_lens"], device=dev)
    text = torch.randint(first_id, cfg["vocab_size"], (len(lens), cfg["text_len"]), device=dev)

    def train_step():
        with _autocast(dev, prec):
            value = loss(feats, lens, text)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    train_s = best_time(train_step, cfg["repeats"], warmup=2, device=dev)
    model.eval()
    b = cfg["sample_batch"]
    cond = torch.randn(b, cfg["prompt_frames"], cfg["feat_dim"], device=dev)
    stext = torch.randint(first_id, cfg["vocab_size"], (b, cfg["text_len"]), device=dev)
    total = torch.full((b,), cfg["total_frames"], device=dev)
    cond_lens = torch.full((b,), cfg["prompt_frames"], device=dev)

    def sample_call():
        with _autocast(dev, prec):
            sample(cond, cond_lens, stext, total)

    return {"train_step_s": train_s, "sample_s": best_time(sample_call, cfg["repeats"], device=dev)}


def worker_ours(cfg: dict) -> dict:
    """Time our DiT: one training step and one sampling call (shapes from cfg)."""
    import torch

    from tts.f5.cfm import CFM
    from tts.f5.dit import DiT
    from tts.f5.module import make_adamw

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    net = DiT(feat_dim=cfg["feat_dim"], vocab_size=cfg["vocab_size"], **cfg["dit"])
    cfm = CFM(net).to(cfg["device"])
    opt = make_adamw(cfm.parameters(), lr=1e-4)  # what F5Module trains with
    times = _time_train_and_sample(
        cfg,
        cfm,
        opt,
        loss=lambda feats, lens, text: cfm(feats, lens, text)[0],
        sample=lambda cond, cond_lens, text, total: cfm.sample(
            cond, cond_lens, text, total, nfe=cfg["nfe"], cfg=2.0, sway=-1.0, seeds=0
        ),
        first_id=1,  # 0 is our filler
    )
    return {**times, "params": sum(p.numel() for p in net.parameters())}


def worker_reference(cfg: dict) -> dict:
    """Time the F5-TTS reference DiT + CFM (the installed f5-tts package, ``make f5-ref``) on the same shapes."""
    import torch

    from tts.f5.convert import reference_modules

    DiT, CFM, _ = reference_modules()  # the model files only (not the package's trainer)

    torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    d = cfg["dit"]
    net = DiT(
        dim=d["dim"],
        depth=d["depth"],
        heads=d["heads"],
        dim_head=d["dim_head"],
        ff_mult=d["ff_mult"],
        dropout=d["dropout"],
        mel_dim=cfg["feat_dim"],
        text_num_embeds=cfg["vocab_size"],
        text_dim=d["text_dim"],
        conv_layers=d["conv_layers"],
    )
    mel_kwargs = {"n_mel_channels": cfg["feat_dim"]}
    cfm = CFM(transformer=net, num_channels=cfg["feat_dim"], mel_spec_kwargs=mel_kwargs).to(cfg["device"])
    opt = torch.optim.AdamW(cfm.parameters(), lr=1e-4)  # F5-TTS' trainer: plain AdamW
    times = _time_train_and_sample(
        cfg,
        cfm,
        opt,
        loss=lambda feats, lens, text: cfm(feats, text, lens=lens)[0],
        sample=lambda cond, cond_lens, text, total: cfm.sample(
            cond,
            text,
            total,
            lens=cond_lens,
            steps=cfg["nfe"],
            cfg_strength=2.0,
            sway_sampling_coef=-1.0,
            seed=0,
        ),
        first_id=0,  # the reference shifts ids by one itself
    )
    return {**times, "params": sum(p.numel() for p in net.parameters())}


def _reference_missing(python: str) -> str | None:
    """Why the reference cannot run under ``python`` (None when it can)."""
    probe = "from tts.f5.convert import reference_modules; reference_modules()"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=ROOT)  # tts from the tree
    if out.returncode:
        return (
            f"no F5-TTS reference under {python} (run `make f5-ref`): {out.stderr.strip().splitlines()[-1:]}"
        )
    return None


def run_worker(python: str, kind: str, cfg: dict, timeout: int = 1800) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(cfg["threads"]), "MKL_NUM_THREADS": str(cfg["threads"])}
    proc = subprocess.run(
        [python, "-m", "eval.bench_f5", "--worker", kind, "--worker-config", json.dumps(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------ mel vs latent
def _recipe_args(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())["model"]["init_args"]


def build_spaces(args, tmp: Path) -> dict:
    """{"mel": MelSpace, "latent": LatentSpace}, from --vocos/--vae or random demo-size models."""
    import torch

    from tts.features import load_space
    from tts.features.latent import LatentSpace
    from tts.features.vocos import build_vocos, save_vocos_dir, vocos_config

    notes = {}
    if args.vocos:
        mel = load_space(f"mel:vocos={args.vocos}")
        notes["mel"] = f"Vocos {args.vocos}"
    else:
        v = _recipe_args(ROOT / "recipes/demo/vocos.yaml")["generator"]  # tts.vocoder.VocosConfig fields
        cfg = vocos_config(**v)
        torch.manual_seed(0)
        mel = load_space(f"mel:vocos={save_vocos_dir(build_vocos(cfg), cfg, tmp / 'vocos')}")
        notes["mel"] = (
            f"random Vocos, recipes/demo/vocos.yaml size (dim {v['dim']}, {v['num_layers']} layers)"
        )
    if args.vae:
        latent = load_space(f"latent:vae={args.vae}")
        notes["latent"] = f"VAE {args.vae}"
    else:
        from tts.vae import build_vae

        recipe = ROOT / "recipes/demo/vae_semantic.yaml"
        if recipe.is_file():
            init = _recipe_args(recipe)
            vae, where = build_vae(init["encoder"], init["decoder"]), "recipes/demo/vae_semantic.yaml"
        else:
            vae = build_vae(
                {"class_path": "tts.vae.model.Encoder", "init_args": {"channels": 32}},
                {
                    "class_path": "tts.vae.model.VocosDecoder",
                    "init_args": {"dim": 256, "intermediate_dim": 768, "num_layers": 4},
                },
            )
            where = "fallback (encoder 32 ch, Vocos-style decoder dim 256 x 4)"
        latent = LatentSpace(vae.eval(), spec="latent")
        notes["latent"] = f"random VAE, {where}"
    return {"mel": mel, "latent": latent, "notes": notes}


def _space_setup(args, space, dit_args: dict, vocab) -> dict:
    """Closures that run one synthesis (batch 1 / batched), decoding, and one training step on ``space``."""
    import torch

    from tts.f5.cfm import CFM, estimate_frames
    from tts.f5.dit import DiT
    from tts.f5.module import make_adamw

    dev = args.device
    torch.manual_seed(0)
    space = space.to(dev)
    net = DiT(feat_dim=space.dim, vocab_size=len(vocab), **dit_args)
    cfm = CFM(net).to(dev)
    n_ref = round(args.prompt_s * space.frame_rate)
    texts = [TEXT[: 40 + 25 * i] for i in range(args.utts)]
    totals = [estimate_frames(n_ref, PROMPT_TEXT, t) for t in texts]
    ids = [vocab.encode(f"{PROMPT_TEXT} {t}") for t in texts]
    cond = torch.randn(args.utts, n_ref, space.dim, device=dev)

    def synth(groups: list[list[int]]) -> None:
        net.eval()
        for g in groups:
            text = torch.zeros(len(g), max(len(ids[i]) for i in g), dtype=torch.long)
            for r, i in enumerate(g):
                text[r, : len(ids[i])] = torch.tensor(ids[i])
            total = torch.tensor([totals[i] for i in g], device=dev)
            n_cond = torch.full((len(g),), n_ref, device=dev)
            with _autocast(dev, args.precision):
                feats = cfm.sample(cond[g], n_cond, text.to(dev), total, nfe=args.nfe, seeds=0)
                for r, i in enumerate(g):
                    space.decode(feats[r : r + 1, n_ref : totals[i]])

    train_lens = [round(s * space.frame_rate) for s in args.train_seconds]  # same audio in both spaces
    opt = make_adamw(net.parameters(), lr=1e-4)
    feats = torch.randn(len(train_lens), max(train_lens), space.dim, device=dev)
    train_text = torch.randint(1, len(vocab), (len(train_lens), 120), device=dev)
    lens = torch.tensor(train_lens, device=dev)

    def train() -> None:
        net.train()
        with _autocast(dev, args.precision):
            loss, _ = cfm(feats, lens, train_text)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    gen = [torch.randn(1, n - n_ref, space.dim, device=dev) for n in totals]

    def decode() -> None:
        with torch.inference_mode(), _autocast(dev, args.precision):
            for g in gen:
                space.decode(g)

    return {
        "space": space,
        "batch1": lambda: synth([[i] for i in range(args.utts)]),
        "batched": lambda: synth([list(range(args.utts))]),
        "decode": decode,
        "train": train,
        "generated_audio_s": sum((n - n_ref) / space.frame_rate for n in totals),
        "generated_frames": sum(n - n_ref for n in totals),
        "train_frames": sum(train_lens),
        "params": sum(p.numel() for p in net.parameters()),
    }


def bench_spaces(args, dit_args: dict) -> dict:
    import torch

    from tts.bench.timing import time_call
    from tts.text import Vocab

    torch.set_num_threads(args.threads)
    vocab = Vocab()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        spaces = build_spaces(args, Path(tmp))
        out["decoders"] = spaces.pop("notes")
        setups = {name: _space_setup(args, space, dit_args, vocab) for name, space in spaces.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeats + 1):  # round 0 warms up; spaces interleaved so load hits both alike
            for name, st in setups.items():
                for what in ("batch1", "batched", "decode", "train"):
                    seconds = time_call(st[what], args.device)
                    if r:
                        times.setdefault((name, what), []).append(seconds)
        for name, st in setups.items():
            best = {what: min(times[(name, what)]) for what in ("batch1", "batched", "decode", "train")}
            gen_s = st["generated_audio_s"]
            out[name] = {
                "frame_rate": st["space"].frame_rate,
                "feat_dim": st["space"].dim,
                "sample_rate": st["space"].sample_rate,
                "utterances": args.utts,
                "generated_audio_s": round(gen_s, 3),
                "generated_frames": st["generated_frames"],
                "rtf_batch1": best["batch1"] / gen_s,
                "rtf_batched": best["batched"] / gen_s,
                "decoder_rtf": best["decode"] / gen_s,
                "train_step_s": best["train"],
                "train_audio_s_per_batch": sum(args.train_seconds),
                "train_audio_s_per_s": sum(args.train_seconds) / best["train"],
                "train_frames_per_batch": st["train_frames"],
                "dit_params": st["params"],
            }
    out["rtf_ratio_mel_over_latent"] = out["mel"]["rtf_batch1"] / out["latent"]["rtf_batch1"]
    out["train_ratio_latent_over_mel"] = (
        out["latent"]["train_audio_s_per_s"] / out["mel"]["train_audio_s_per_s"]
    )
    return out


# ---------------------------------------------------------------------------------------------- report
def _spread(ratios: list[float] | None) -> str:
    if not ratios:
        return "-"
    return f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}, {max(ratios):.2f}]"


def write_report(report: dict, out: Path) -> None:
    from tts.io import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", report)
    s, lines = report["spaces"], []
    lines += [
        "# F5 DiT benchmark: mel vs VAE latent, ours vs F5-TTS reference",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']}, device {report.get('device', 'cpu')}, precision "
        f"{report.get('precision', '32')}, torch threads {report['threads']}; "
        f"NFE {report['nfe']}, CFG 2, sway -1; times are the best of the timed rounds.",
        "",
        f"DiT: {report['dit']}  ",
        f"Decoders: mel = {s['decoders']['mel']}; latent = {s['decoders']['latent']}",
        "",
        "## Synthesis (DiT sampling + decoder) and training",
        "",
        "| space | frames/s | RTF batch 1 | RTF batched | decoder RTF | train step (s) | train audio s/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("mel", "latent"):
        r = s[name]
        lines.append(
            f"| {name} | {r['frame_rate']:g} | {r['rtf_batch1']:.4f} | {r['rtf_batched']:.4f} | "
            f"{r['decoder_rtf']:.4f} | {r['train_step_s']:.3f} | {r['train_audio_s_per_s']:.1f} |"
        )
    lines += [
        "",
        f"RTF ratio mel / latent (batch 1): **{s['rtf_ratio_mel_over_latent']:.2f}x**; "
        f"training throughput latent / mel: **{s['train_ratio_latent_over_mel']:.2f}x**.",
        "",
    ]
    ref = report.get("reference")
    lines += ["## Ours vs F5-TTS reference (same DiT config, same shapes, separate processes)", ""]
    if ref and "ours" in ref:
        lines += [
            f"Config: {ref['config']['dit']}, mel dim {ref['config']['feat_dim']}, train batch lengths "
            f"{ref['config']['train_lens']}, sampling batch {ref['config']['sample_batch']} x "
            f"{ref['config']['total_frames']} frames ({ref['config']['prompt_frames']} prompt).",
            "",
            "| | ours (best) | reference (best) | speed-up (best / best) | speed-up per round: median [min, max] |",
            "|---|---|---|---|---|",
            f"| train step (s) | {ref['ours']['train_step_s']:.3f} | "
            f"{ref['reference']['train_step_s']:.3f} | "
            f"{ref['train_speedup']:.2f}x | {_spread(ref.get('train_speedup_rounds'))} |",
            f"| sampling, NFE {report['nfe']} (s) | {ref['ours']['sample_s']:.3f} | "
            f"{ref['reference']['sample_s']:.3f} | {ref['sample_speedup']:.2f}x | "
            f"{_spread(ref.get('sample_speedup_rounds'))} |",
            f"| DiT parameters | {ref['ours']['params']:,} | {ref['reference']['params']:,} | | |",
            "",
            f"{len(ref.get('train_speedup_rounds') or [])} alternating rounds (ours, then reference, each a fresh "
            "process timing its best of the repeats); best = the fastest round of each side.",
            "",
            f"Reference source: {ref['source']}.  ",
            f"Options: {ref.get('options', 'eager')}.",
        ]
    else:
        lines.append(f"Not measured: {ref.get('skipped') if ref else 'disabled'}.")
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="eval/reports/bench_f5")
    p.add_argument("--vocos", help="Vocos dir/ckpt for the mel decoder (default: random demo-size)")
    p.add_argument("--vae", help="VAE export dir/ckpt for the latent decoder (default: random demo-size)")
    p.add_argument("--dit-recipe", default="recipes/demo/f5.yaml",
                   help="recipe file with the DiT size (model.init_args.dit): recipes/<scale>/f5.yaml, recipes/f5/small.yaml")
    p.add_argument("--nfe", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: robust on a shared machine)")
    p.add_argument("--device", default="cpu", help="torch device of both parts, e.g. cuda (default cpu)")
    p.add_argument(
        "--precision",
        choices=("32", "bf16-mixed"),
        default="32",
        help="float32, or bf16 autocast as the paper recipes train (both sides alike)",
    )
    p.add_argument("--repeats", type=int, default=2, help="timed rounds (best of) after one warm-up round")
    p.add_argument("--utts", type=int, default=3, help="utterances synthesized per timing")
    p.add_argument("--prompt-s", type=float, default=3.0)
    p.add_argument(
        "--train-seconds",
        type=float,
        nargs="+",
        default=[6.0, 5.0, 4.0, 3.0],
        help="utterance durations of the training batch (same audio in both spaces)",
    )
    p.add_argument("--reference", choices=("auto", "off"), default="auto")
    p.add_argument("--ref-rounds", type=int, default=5, help="alternating ours/reference worker rounds")
    p.add_argument(
        "--ref-python", default=sys.executable, help="Python with f5-tts installed (default: this one)"
    )
    p.add_argument("--worker", choices=("ours", "reference"), help=argparse.SUPPRESS)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        cfg = json.loads(args.worker_config)
        print(json.dumps((worker_ours if args.worker == "ours" else worker_reference)(cfg)))
        return 0

    from tts.f5.dit import DiTConfig

    config = DiTConfig.from_dict(_recipe_args(ROOT / args.dit_recipe).get("dit", {}), args.dit_recipe)
    dit = {k: v for k, v in config.network_args().items() if k not in ("feat_dim", "vocab_size")}
    report = {
        "command": "python -m eval.bench_f5 " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": f"{platform.machine()} {platform.processor() or ''} ({platform.system()})".strip(),
        "threads": args.threads,
        "device": args.device,
        "precision": args.precision,
        "nfe": args.nfe,
        "dit": dit,
    }
    report["spaces"] = bench_spaces(args, dit)

    precision_words = "float32" if args.precision == "32" else "bf16 autocast"
    ref_cfg = {
        "threads": args.threads,
        "device": args.device,
        "precision": args.precision,
        "feat_dim": 100,
        "vocab_size": 256,
        "nfe": args.nfe,
        "dit": {**dit, "dropout": 0.1},
        "repeats": args.repeats,
        "text_len": 120,
        "train_lens": [round(s * 93.75) for s in args.train_seconds],
        "sample_batch": 1,
        "prompt_frames": round(args.prompt_s * 93.75),
        "total_frames": round(8.0 * 93.75),
    }
    if args.reference == "off":
        report["reference"] = {"skipped": "--reference off"}
    elif (why := _reference_missing(args.ref_python)) is not None:
        report["reference"] = {"skipped": why}
    else:
        runs: dict[str, list[dict]] = {"ours": [], "reference": []}
        for _ in range(args.ref_rounds):  # alternate, so load from other processes hits both alike
            runs["ours"].append(run_worker(sys.executable, "ours", ref_cfg))
            runs["reference"].append(run_worker(args.ref_python, "reference", ref_cfg))
        ours, ref = (
            {k: min(r[k] for r in runs[side]) for k in runs[side][0]} for side in ("ours", "reference")
        )
        # each round's ratio (ours and reference back to back): their spread shows the machine's noise
        paired = {
            key: sorted(r[key] / o[key] for o, r in zip(runs["ours"], runs["reference"]))
            for key in ("train_step_s", "sample_s")
        }
        report["reference"] = {
            "config": ref_cfg,
            "ours": ours,
            "reference": ref,
            "rounds": runs,
            "train_speedup": ref["train_step_s"] / ours["train_step_s"],
            "sample_speedup": ref["sample_s"] / ours["sample_s"],
            "train_speedup_rounds": paired["train_step_s"],
            "sample_speedup_rounds": paired["sample_s"],
            "source": "f5-tts 1.1.22 from PyPI (SWivid/F5-TTS f5_tts/model: DiT + CFM), x-transformers + torchdiffeq",
            "options": f"both eager (no torch.compile), {precision_words}, same device and threads; "
            "ours = tts/f5 (channels-last "
            "conv, fused rotary/adaLN ops, q/k/v biases folded out of the projection, text encoder run "
            "over the characters only (same result as over all frames), padded frames not re-zeroed in "
            "every block, float dropout masks from 16-bit lanes, fused AdamW (as F5Module), cached CFG "
            "context; at inference on CPU adaLN folded into "
            "LayerNorm, in-place rotary, oneDNN-fused linear+GELU and linear+gate+residual), "
            "reference = F5-TTS as is",
        }
    write_report(report, Path(args.out))
    print((Path(args.out) / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
