"""Benchmark: the ground-truth WER floor of the natural voice on the project's generated sentences.

    python -m eval.gt_floor --out eval/reports/gt_floor [--n 100] [--seed 7] [--beams 1,5] \
        [--scales 0.667:0.8 0.333:0.333]

Issue 10 asks for a Whisper-base ground-truth WER <= 5% on the test list. This script measures what decides it,
outside the pipeline: ``--n`` sentences from ``tts.corpus.sentences.SentenceGenerator(--seed)`` spoken by the piper
voice en_US-joe-medium at each ``noise_scale:noise_w_scale`` pair of ``--scales`` (the voice's own are
0.667:0.8), resampled to 16 kHz, transcribed by faster-whisper base (int8, English, temperature 0) at each beam
size of ``--beams``, scored as the benchmark does (whisper English normalizer, mean of per-utterance WER and
corpus WER). Writes ``report.md`` (with the words most often missed) and ``report.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def speak(sentences: list[str], noise: float, noise_w: float) -> list:
    import torch
    import torchaudio

    from tts.corpus.piper_voice import load_voice, synthesize

    voice = load_voice(threads=2)
    out = []
    for s in sentences:
        u = synthesize(voice, s, noise_scale=noise, noise_w_scale=noise_w)
        out.append(torchaudio.functional.resample(torch.from_numpy(u.audio), u.sample_rate, 16000).numpy())
    return out


def score(sentences: list[str], hyps: list[str]) -> dict:
    """WER as the benchmark scores it (``tts.bench.scoring`` on whisper-normalized text), plus the reference words
    most often substituted or deleted."""
    import jiwer

    from tts.bench.normalize import whisper_normalize
    from tts.bench.scoring import aggregate, score_utterance

    scores = [score_utterance(s, h, whisper_normalize) for s, h in zip(sentences, hyps)]
    missed: collections.Counter = collections.Counter()
    for sc in scores:
        if sc["word_errors"] and sc["ref_norm"]:
            out = jiwer.process_words(sc["ref_norm"], sc["hyp_norm"])
            for a in out.alignments[0]:
                if a.type in ("substitute", "delete"):
                    missed.update(out.references[0][a.ref_start_idx:a.ref_end_idx])
    agg = aggregate(scores)
    return {"wer_mean": 100 * agg["wer_mean"], "wer_corpus": 100 * agg["wer_corpus"],
            "n_utt_with_errors": sum(sc["wer"] > 0 for sc in scores), "missed": missed.most_common(25),
            "rows": [{"text": s, "hyp": h, "wer": sc["wer"]} for s, h, sc in zip(sentences, hyps, scores)]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--out", default="eval/reports/gt_floor")
    p.add_argument("--n", type=int, default=100, help="sentences (>= 1)")
    p.add_argument("--seed", type=int, default=7, help="SentenceGenerator seed (the corpora use 0)")
    p.add_argument("--sentences", default=None, metavar="FILE",
                   help="the first --n sentences of this list file instead of generated ones "
                        "(e.g. data/sentences/test_sentences.txt, the cpu scale's test split)")
    p.add_argument("--beams", default="1,5", help="comma-separated Whisper beam sizes (the cpu/demo specs: 1)")
    p.add_argument("--scales", nargs="+", default=["0.667:0.8", "0.333:0.333"],
                   help="piper noise_scale:noise_w_scale pairs (the voice's own: 0.667:0.8)")
    args = p.parse_args(argv)
    if args.n < 1:
        p.error("--n must be >= 1")
    try:
        beams = [int(b) for b in args.beams.split(",")]
        scales = [tuple(float(x) for x in s.split(":")) for s in args.scales]
    except ValueError as e:
        p.error(f"--beams / --scales: {e}")
    if any(b < 1 for b in beams) or any(len(s) != 2 or min(s) < 0 for s in scales):
        p.error("--beams must be >= 1 and --scales pairs of two non-negative numbers")

    from tts.bench.asr import load_asr
    from tts.corpus.sentences import SentenceGenerator, load_sentence_list
    from tts.io import atomic_write_json, atomic_write_text, git_commit

    t0 = time.time()
    if args.sentences:
        try:
            sentences = load_sentence_list(args.sentences)[: args.n]
        except (OSError, ValueError) as e:
            p.error(str(e))
        source = f"the first {len(sentences)} of `{args.sentences}`"
    else:
        sentences = SentenceGenerator(args.seed).generate(args.n)
        source = f"`SentenceGenerator({args.seed})`"
    asrs = {b: load_asr({"backend": "faster-whisper", "model": "base", "beam_size": b, "compute_type": "int8",
                         "language": "en", "max_new_tokens": 64, "temperature": 0.0}) for b in beams}  # fmt: skip
    results = []
    for noise, noise_w in scales:
        wavs = speak(sentences, noise, noise_w)
        for b, asr in asrs.items():
            t = time.time()
            r = score(sentences, asr.transcribe(wavs))
            r.update(noise_scale=noise, noise_w_scale=noise_w, beam_size=b, asr_seconds=time.time() - t)
            results.append(r)
            print(f"noise {noise}:{noise_w} beam {b}: WER mean {r['wer_mean']:.2f}% corpus {r['wer_corpus']:.2f}%",
                  flush=True)  # fmt: skip
    out = Path(args.out)
    cmd = "python -m eval.gt_floor " + " ".join(argv if argv is not None else sys.argv[1:])
    commit, seconds = git_commit(ROOT), time.time() - t0
    atomic_write_json(out / "report.json", {"command": cmd, "commit": commit, "seconds": seconds,
                                            "n": len(sentences), "source": source, "results": results})  # fmt: skip
    lines = ["# Ground-truth WER floor: piper joe, Whisper base", "",
             f"Command: `{cmd}` (commit {commit}, {seconds:.0f} s). {len(sentences)} sentences: "
             f"{source}; WER in %, whisper English normalizer; target (issue 10) <= 5%.", "",
             "| piper noise_scale : noise_w | Whisper beam | WER (mean of utt.) | corpus WER | utterances with errors |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        lines.append(f"| {r['noise_scale']} : {r['noise_w_scale']} | {r['beam_size']} | {r['wer_mean']:.2f} | "
                     f"{r['wer_corpus']:.2f} | {r['n_utt_with_errors']} / {len(sentences)} |")  # fmt: skip
    lines += ["", "Words most often misheard (substituted or deleted), first configuration: " +
              ", ".join(f"{w} ({c})" for w, c in results[0]["missed"][:25]), ""]  # fmt: skip
    atomic_write_text(out / "report.md", "\n".join(lines))
    print(out / "report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
