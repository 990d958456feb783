"""fp32 vs bf16 autocast on CPU for the duration-aligned F5 DiT: training step time and loss curves.

What it measures (one process, alternating rounds so that load from other processes hits both alike):
1. Step time: forward + backward + fused AdamW step of ``F5Module(conditioning="aligned")`` (DiT + CFM +
   duration head) on real aligned mel batches, fp32 against ``torch.autocast("cpu", torch.bfloat16)``
   around the forward and the loss (what Lightning's ``precision: bf16-mixed`` does; weights and
   optimizer stay fp32). Median **CPU seconds** of this thread per step (``time.thread_time``, one torch
   thread) over ``--steps`` steps per round, ``--rounds`` rounds: on a shared, oversubscribed machine the
   wall clock measures the scheduler's share, not the work (wall medians are reported too).
2. Loss curves (``--curve-steps`` > 0): two copies of the same initialization trained on the same batches
   with the same noise, one per precision; per-step losses side by side and the mean over the last
   quarter.

Data: ``--sentences`` generated sentences spoken by the piper joe voice (offline, ``tts.corpus.piper_voice``),
encoded to 24 kHz log-mel (93.75 Hz), with piper's phoneme alignments; batches of ``--batch-frames``
padded frames. Sizes: ``smoke`` (recipes/smoke/f5.yaml + recipes/f5/aligned.yaml) and ``cpu`` (the issue's 6.3M DiT:
dim 256, depth 6, heads 4, text_dim 128).

    OMP_NUM_THREADS=1 python -m eval.bench_bf16 --out eval/reports/bf16 --threads 1

Writes OUT/report.md, OUT/report.json and OUT/loss.png (with ``--curve-steps``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from tts.bench.timing import cpu_model_and_flags
from tts.io import git_commit

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "smoke": dict(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2, text_dim=32, conv_layers=1, duration_dim=32),
    "cpu": dict(dim=256, depth=6, heads=4, dim_head=64, ff_mult=2, text_dim=128, conv_layers=4, duration_dim=128),
}


def make_data(n: int, seed: int) -> list[dict]:
    """Piper joe voice utterances -> [{"feats": (N, 100), "alignment": [(sym, start, dur)], "id"}]."""
    from tts.audio import resample
    from tts.corpus.piper_voice import alignment_seconds, load_voice, synthesize
    from tts.corpus.sentences import generate_sentences
    from tts.features.mel import MelSpace

    voice = load_voice(threads=1)
    space = MelSpace()
    out = []
    for i, text in enumerate(generate_sentences(n, seed=seed)):
        utt = synthesize(voice, text)
        wav = resample(torch.from_numpy(utt.audio), utt.sample_rate, space.sample_rate)
        dur = wav.numel() / space.sample_rate
        ali = [tuple(a) for a in alignment_seconds(utt.alignment, utt.sample_rate, dur)]
        feats = space.encode(wav.unsqueeze(0))[0]
        out.append({"id": f"u{i}", "text": text, "feats": feats, "alignment": ali})
    return out


def make_batches(data: list[dict], batch_frames: int) -> list[dict]:
    """Consecutive utterances while (count x longest) <= batch_frames."""
    batches, cur = [], []
    for u in data:
        longest = max([len(x["feats"]) for x in cur] + [len(u["feats"])])
        if cur and (len(cur) + 1) * longest > batch_frames:
            batches.append(cur)
            cur = []
        cur.append(u)
    if cur:
        batches.append(cur)
    out = []
    for b in batches:
        lens = torch.tensor([len(u["feats"]) for u in b])
        feats = torch.zeros(len(b), int(lens.max()), b[0]["feats"].shape[1])
        for i, u in enumerate(b):
            feats[i, : len(u["feats"])] = u["feats"]
        out.append({"feats": feats, "feat_lens": lens, "texts": [u["text"] for u in b], "ids": [u["id"] for u in b],
                    "alignments": [u["alignment"] for u in b]})  # fmt: skip
    return out


def build(size: str, seed: int):
    from tts.f5.dit import DiTConfig
    from tts.f5.module import F5Module

    torch.manual_seed(seed)
    dit = {k: v for k, v in SIZES[size].items() if k != "duration_dim"}
    module = F5Module(space="mel", conditioning="aligned", alignment="phoneme", dit=DiTConfig(**dit, dropout=0.0),
                      lr=1e-3, warmup_steps=10, duration_dim=SIZES[size]["duration_dim"])  # fmt: skip
    opt = module.configure_optimizers()["optimizer"]
    return module, opt


def train_step(module, opt, batch: dict, bf16: bool, generator: torch.Generator | None = None) -> float:
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()
    with ctx:
        text, dur = module._text(batch)
        loss, _ = module.cfm(batch["feats"], batch["feat_lens"], text, generator)
        loss = loss + module.duration.loss(*dur)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(module.trained_parameters(), 1.0)
    opt.step()
    return float(loss.detach())


def time_steps(size: str, batches: list[dict], steps: int, rounds: int, warmup: int) -> dict:
    res: dict = {"fp32": [], "bf16": []}
    wall: dict = {"fp32": [], "bf16": []}
    models = {k: build(size, 0) for k in res}
    for r in range(rounds):
        order = ("fp32", "bf16") if r % 2 == 0 else ("bf16", "fp32")
        for prec in order:
            module, opt = models[prec]
            times, walls = [], []
            for s in range(warmup + steps):
                batch = batches[(r * steps + s) % len(batches)]
                c0, t0 = time.thread_time(), time.perf_counter()
                train_step(module, opt, batch, prec == "bf16")
                if s >= warmup:
                    times.append(time.thread_time() - c0)
                    walls.append(time.perf_counter() - t0)
            res[prec].append(statistics.median(times))
            wall[prec].append(statistics.median(walls))
            print(f"[{size}] round {r} {prec}: median {res[prec][-1]:.3f} CPU s/step "
                  f"({wall[prec][-1]:.3f} s wall)", flush=True)
    params = sum(p.numel() for p in models["fp32"][0].trained_parameters())
    fp32, bf16 = statistics.median(res["fp32"]), statistics.median(res["bf16"])
    return {"params": params, "fp32_rounds_s": res["fp32"], "bf16_rounds_s": res["bf16"], "fp32_s": fp32,
            "bf16_s": bf16, "speedup_bf16": fp32 / bf16, "fp32_wall_rounds_s": wall["fp32"],
            "bf16_wall_rounds_s": wall["bf16"]}  # fmt: skip


def loss_curves(size: str, batches: list[dict], steps: int) -> dict:
    curves = {}
    for prec in ("fp32", "bf16"):
        module, opt = build(size, 0)
        g = torch.Generator().manual_seed(1)
        curves[prec] = [train_step(module, opt, batches[s % len(batches)], prec == "bf16", g) for s in range(steps)]
        print(f"[{size}] {prec} loss: first {curves[prec][0]:.3f} last {curves[prec][-1]:.3f}", flush=True)
    q = max(1, steps // 4)
    tail = {p: statistics.mean(c[-q:]) for p, c in curves.items()}
    return {"steps": steps, "fp32": curves["fp32"], "bf16": curves["bf16"], "tail_mean": tail, "tail_steps": q}


def plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for prec, style in (("fp32", "-"), ("bf16", "--")):
        ax.plot(curves[prec], style, label=prec)
    ax.set_xlabel("step")
    ax.set_ylabel("loss (flow + duration)")
    ax.set_title("aligned DiT: fp32 vs bf16 autocast, same init/batches/noise")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="report directory")
    p.add_argument("--sizes", default="smoke,cpu", help="comma-separated DiT sizes: smoke, cpu (default both)")
    p.add_argument("--sentences", type=int, default=24, help="piper utterances to build batches from (default 24)")
    p.add_argument("--batch-frames", type=int, default=3200, help="padded mel frames per batch (default 3200)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per round (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per round (default 2)")
    p.add_argument("--rounds", type=int, default=4, help="alternating fp32/bf16 rounds (default 4)")
    p.add_argument("--curve-steps", type=int, default=0, help="loss-curve steps per precision (0 = none)")
    p.add_argument("--curve-size", default="smoke", help="DiT size for the loss curves (default smoke)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = make_data(a.sentences, a.seed)
    batches = make_batches(data, a.batch_frames)
    audio_s = sum(len(u["feats"]) for u in data) / 93.75
    print(f"data: {len(data)} utterances, {audio_s:.0f} s, {len(batches)} batches", flush=True)
    cpu, flags = cpu_model_and_flags()
    report = {
        "command": "python -m eval.bench_bf16 " + " ".join(sys.argv[1:] if argv is None else argv),
        "commit": git_commit(ROOT), "cpu": cpu, "cpu_flags": flags, "threads": a.threads,
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "utterances": len(data), "audio_s": round(audio_s, 1), "batches": len(batches),
        "batch_frames": a.batch_frames, "timing": {}, "curves": None,
    }  # fmt: skip
    for size in a.sizes.split(","):
        report["timing"][size] = time_steps(size, batches, a.steps, a.rounds, a.warmup)
    if a.curve_steps:
        report["curves"] = {"size": a.curve_size, **loss_curves(a.curve_size, batches, a.curve_steps)}
        plot(report["curves"], out / "loss.png")
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=1))
    (out / "report.md").write_text(render(report))
    print((out / "report.md").read_text())
    return 0


def render(r: dict) -> str:
    lines = [
        "# fp32 vs bf16 autocast on CPU: aligned F5 DiT training step",
        "",
        f"Command: `{r['command']}` (commit {r['commit']}, {r['wall_s']} s wall).",
        f"CPU: {r['cpu']}; flags {', '.join(r['cpu_flags']) or '-'}; torch {r['torch']} "
        f"(capability {r['cpu_capability']}); {r['threads']} thread(s); the machine is shared with other jobs, "
        "so rounds alternate the two precisions and the medians are reported.",
        f"Data: {r['utterances']} piper joe utterances ({r['audio_s']} s), mel 93.75 Hz, padded batches of "
        f"<= {r['batch_frames']} frames ({r['batches']} batches), phoneme-aligned conditioning + duration head.",
        "",
        "CPU seconds of the training thread per step (median of the per-round medians); wall-clock medians "
        "per round in the last column show the machine's load.",
        "",
        "| DiT size | params | fp32 CPU s/step | bf16-autocast CPU s/step | bf16 speed-up | per-round CPU "
        "fp32 / bf16 | per-round wall fp32 / bf16 |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, t in r["timing"].items():
        rounds = "; ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(t["fp32_rounds_s"], t["bf16_rounds_s"]))
        walls = "; ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(t["fp32_wall_rounds_s"], t["bf16_wall_rounds_s"]))
        lines.append(f"| {size} | {t['params'] / 1e6:.2f}M | {t['fp32_s']:.3f} | {t['bf16_s']:.3f} | "
                     f"{t['speedup_bf16']:.2f}x | {rounds} | {walls} |")  # fmt: skip
    c = r.get("curves")
    if c:
        lines += [
            "",
            f"Loss curves ({c['size']} DiT, {c['steps']} steps each, same init, batches and noise): mean loss "
            f"over the last {c['tail_steps']} steps fp32 {c['tail_mean']['fp32']:.4f}, "
            f"bf16 {c['tail_mean']['bf16']:.4f}.",
            "",
            "![loss](loss.png)",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
