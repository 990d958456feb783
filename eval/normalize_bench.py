"""Text normalization benchmark (issue 25): numbers, dates, money and abbreviations read by the semantic-latent DiT
(``tts say``'s ``speak``) and by piper joe, both given the same normalized text, scored with Whisper base.

    python eval/normalize_bench.py --model work/demo/models/f5_semantic --out eval/reports/normalize \
        --prompt work/demo/corpus/wavs/piper-joe/piper-joe_t000001.wav \
        --prompt-text "Could you please turn off the lights when you leave the room?"
    python eval/normalize_bench.py --model ... --prompt ... --prompt-text ... --out ... --timing   # + 600 words

Per system: WER (jiwer over all sentences, after Whisper's English normalizer on both sides, which writes
spoken numbers as digits) and the share of sentences whose numbers come out right: the digit strings of the
normalized reference and of the transcript (both through that normalizer) are the same multiset. ``--timing``
also times a 600-word paragraph (``eval/normalize/paragraph.txt``) through ``tts say`` and ``tts synth`` (time,
audio length, RTF). Writes OUT/report.json and OUT/report.md; the audio goes to OUT/../normalize_audio (or
``--audio-dir``), which is not kept.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
SENTENCES = REPO / "eval" / "normalize" / "sentences.txt"
PARAGRAPH = REPO / "eval" / "normalize" / "paragraph.txt"


def numbers_of(text: str) -> Counter:
    from tts.bench.normalize import whisper_normalize

    return Counter(re.findall(r"\d+", whisper_normalize(text)))


def wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    from tts.bench.normalize import whisper_normalize

    return jiwer.wer([whisper_normalize(r) or "-" for r in refs], [whisper_normalize(h) for h in hyps])


def run_wer(a, audio_dir: Path) -> dict:
    from tts.audio import resample, save_audio
    from tts.bench.asr import FasterWhisperASR
    from tts.corpus.piper_voice import load_voice
    from tts.corpus.piper_voice import synthesize as piper_say
    from tts.normalize import normalize
    from tts.say import speak
    from tts.synth import SamplingSettings, load_model

    written = [s.strip() for s in SENTENCES.read_text(encoding="utf-8").splitlines() if s.strip()]
    refs = [normalize(s) for s in written]
    model, space = load_model(a.model, None, "cpu")
    prompt = {"ref_audio": a.prompt, "ref_text": a.prompt_text}
    voice = load_voice(threads=1)
    asr = FasterWhisperASR("base", cpu_threads=1)
    rows, audio_s, synth_s = [], {"semantic": 0.0, "piper": 0.0}, {"semantic": 0.0, "piper": 0.0}
    for i, (w, ref) in enumerate(zip(written, refs)):
        t0 = time.perf_counter()
        spoken = speak(w, model, space, prompt, SamplingSettings(seed=a.seed), utt_id=f"s{i:02d}")
        synth_s["semantic"] += time.perf_counter() - t0
        assert spoken.text == ref, (spoken.text, ref)
        t0 = time.perf_counter()
        piper = piper_say(voice, ref)
        synth_s["piper"] += time.perf_counter() - t0
        wavs = {"semantic": (spoken.wav, spoken.sample_rate), "piper": (torch.from_numpy(piper.audio), piper.sample_rate)}
        row = {"id": f"s{i:02d}", "written": w, "normalized": ref}
        for name, (wav, sr) in wavs.items():
            audio_s[name] += wav.numel() / sr
            save_audio(audio_dir / name / f"s{i:02d}.wav", wav, sr)
            hyp = asr.transcribe([resample(wav.float(), sr, 16000).numpy()])[0]
            row[name] = {"hyp": hyp, "wer": round(wer([ref], [hyp]), 4), "numbers_ok": numbers_of(ref) == numbers_of(hyp)}
        rows.append(row)
        print(f"{i + 1}/{len(written)} semantic {row['semantic']['wer']:.2f} piper {row['piper']['wer']:.2f}: {ref}",
              file=sys.stderr, flush=True)  # fmt: skip
    systems = {}
    for name in ("semantic", "piper"):
        hyps = [r[name]["hyp"] for r in rows]
        systems[name] = {
            "wer": round(wer(refs, hyps), 4),
            "mean_utterance_wer": round(sum(r[name]["wer"] for r in rows) / len(rows), 4),
            "numbers_right": round(sum(r[name]["numbers_ok"] for r in rows) / len(rows), 4),
            "audio_s": round(audio_s[name], 2),
            "rtf": round(synth_s[name] / audio_s[name], 4),
        }
    return {"sentences": len(rows), "systems": systems, "rows": rows}


def run_timing(a, audio_dir: Path) -> dict:
    """``tts say`` and ``tts synth`` on the 600-word paragraph, each a fresh process (model loading included)."""
    text = PARAGRAPH.read_text(encoding="utf-8").strip()
    tts = str(Path(sys.executable).with_name("tts"))
    out = {"words": len(text.split())}
    say_wav = audio_dir / "paragraph_say.wav"
    cmd = [tts, "say", "--model", a.model, "--prompt", a.prompt, "--prompt-text", a.prompt_text, "-o", str(say_wav),
           "--overwrite", "--no-progress", "--seed", str(a.seed)]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run([*cmd, text], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    m = re.search(r"\(([\d.]+) s of audio, (\d+) chunk\(s\), ([\d.]+) s to synthesize, RTF ([\d.]+)\)", proc.stdout)
    out["say"] = {"command": shlex.join([*cmd, "<paragraph.txt>"]), "wall_s": round(wall, 1),
                  "audio_s": float(m[1]), "chunks": int(m[2]), "synth_s": float(m[3]), "rtf": float(m[4]),
                  "wall_rtf": round(wall / float(m[1]), 3)}  # fmt: skip
    synth_dir = audio_dir / "paragraph_synth"
    lst = audio_dir / "paragraph.jsonl"
    lst.write_text(json.dumps({"id": "paragraph", "text": text, "ref_audio": a.prompt, "ref_text": a.prompt_text}) + "\n")
    cmd = [tts, "synth", "--model", a.model, "--input", str(lst), "--out", str(synth_dir), "--overwrite",
           "--no-progress", "--seed", str(a.seed)]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    row = json.loads((synth_dir / "results.jsonl").read_text().splitlines()[-1])
    out["synth"] = {"command": shlex.join(cmd), "wall_s": round(wall, 1), "audio_s": row["duration_s"],
                    "chunks": row.get("chunks"), "synth_s": row["synth_s"], "rtf": row["rtf"],
                    "wall_rtf": round(wall / row["duration_s"], 3)}  # fmt: skip
    return out


def write_report(out: Path, report: dict) -> None:
    from tts.io import atomic_write_json, atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", report)
    lines = ["# Text normalization: numbers, dates, money and abbreviations read aloud", "",
             f"Command: `{report['command']}`  ", f"Commit: {report['commit']}; machine: {report['machine']}", ""]  # fmt: skip
    if "wer" in report:
        w = report["wer"]
        lines += [f"{w['sentences']} sentences (`eval/normalize/sentences.txt`, not in any training corpus), each "
                  "normalized by `tts.normalize` and read by both systems; Whisper base transcribes, Whisper's English "
                  "normalizer on both sides. Numbers right: the transcript has exactly the reference's numbers.", "",
                  "| system | WER | mean utterance WER | numbers right | RTF |", "|---|---|---|---|---|"]  # fmt: skip
        names = {"semantic": "semantic-latent DiT (`tts say`, demo scale)", "piper": "piper joe (the corpus voice)"}
        for k, s in w["systems"].items():
            lines.append(f"| {names[k]} | {100 * s['wer']:.1f}% | {100 * s['mean_utterance_wer']:.1f}% | "
                         f"{100 * s['numbers_right']:.0f}% | {s['rtf']:.3f} |")  # fmt: skip
        lines += ["", "| id | normalized text | semantic transcript | piper transcript |", "|---|---|---|---|"]
        for r in w["rows"]:
            mark = {True: "", False: " (numbers wrong)"}
            lines.append(f"| {r['id']} | {r['normalized']} | {r['semantic']['hyp']}{mark[r['semantic']['numbers_ok']]} | "
                         f"{r['piper']['hyp']}{mark[r['piper']['numbers_ok']]} |")  # fmt: skip
    if "timing" in report:
        t = report["timing"]
        lines += ["", f"## A {t['words']}-word paragraph (`eval/normalize/paragraph.txt`)", "",
                  "| command | wall s (with model load) | audio s | chunks | synthesis s | RTF (synthesis) | RTF (wall) |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for k in ("say", "synth"):
            s = t[k]
            lines.append(f"| tts {k} | {s['wall_s']} | {s['audio_s']} | {s['chunks']} | {s['synth_s']} | {s['rtf']} | "
                         f"{s['wall_rtf']} |")  # fmt: skip
        lines += ["", *[f"- `{t[k]['command']}`" for k in ("say", "synth")]]
    if report.get("note"):
        lines += ["", report["note"]]
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="F5 export dir (the demo's semantic model)")
    p.add_argument("--prompt", required=True, help="prompt wav (a piper joe clip: both systems speak as joe)")
    p.add_argument("--prompt-text", required=True, help="its transcript")
    p.add_argument("--out", default="eval/reports/normalize", help="report folder")
    p.add_argument("--audio-dir", default=None, help="where the audio goes (default OUT/../normalize_audio)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timing", action="store_true", help="also time the 600-word paragraph (tts say, tts synth)")
    p.add_argument("--skip-wer", action="store_true", help="only the timing (keeps the WER part of report.json)")
    p.add_argument("--note", default="", help="a paragraph for report.md (e.g. the machine's load)")
    a = p.parse_args(argv)
    from tts.bench.timing import machine_info
    from tts.io import git_commit

    torch.set_num_threads(1)
    out = Path(a.out)
    audio_dir = Path(a.audio_dir) if a.audio_dir else REPO / "work" / "normalize_audio"
    earlier = json.loads((out / "report.json").read_text()) if (out / "report.json").is_file() else {}
    report = {**earlier, "command": shlex.join(["python", "eval/normalize_bench.py", *(argv or sys.argv[1:])]),
              "commit": git_commit(REPO), "machine": machine_info(), "note": a.note or earlier.get("note", "")}  # fmt: skip
    if not a.skip_wer:
        report["wer"] = run_wer(a, audio_dir)
    if a.timing:
        report["timing"] = run_timing(a, audio_dir)
    write_report(out, report)
    print(out / "report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
