"""Ground-truth WER of the embedded corpus's voices with the benchmark's own ASR and scoring.

    python -m eval.voice_gt_wer --corpus work/demo/corpus [--speaker piper-joe] [--split test] \
        [--beam 5] [--out eval/reports/voice_gt_wer.json]

Transcribes the corpus's own wavs (no model in between) with Whisper base (tts.bench.asr, the packaged
CTranslate2 weights), normalizes with the Whisper English normalizer and scores with
tts.bench.scoring: per-utterance mean WER (the F5-TTS protocol) and corpus WER, with a 95% bootstrap
CI. ``--split test`` reads test_list.jsonl (the benchmark's rows); ``--split all`` every cut of
cuts_{train,dev,test} (a ground-truth WER needs no held-out text: more utterances, narrower CI).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _rows(corpus: Path, split: str, speaker: str | None) -> list[dict]:
    if split == "test":
        rows = [json.loads(line) for line in (corpus / "test_list.jsonl").read_text().splitlines() if line]
        rows = [{"id": r["id"], "text": r["text"], "audio": r["gt_audio"], "speaker": r["speaker"]} for r in rows]
    else:
        from lhotse import load_manifest

        rows = []
        for name in ("train", "dev", "test"):
            for cut in load_manifest(corpus / f"cuts_{name}.jsonl.gz"):
                sup = cut.supervisions[0]
                rows.append({"id": cut.id, "text": sup.text, "audio": cut.recording.sources[0].source,
                             "speaker": sup.speaker})
    return [r for r in rows if speaker is None or r["speaker"] == speaker]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--corpus", required=True, type=Path, help="a `tts data demo` output folder")
    p.add_argument("--speaker", default=None, help="only this speaker (e.g. piper-joe); default all")
    p.add_argument("--split", choices=("test", "all"), default="test")
    p.add_argument("--beam", type=int, default=5, help="Whisper beam size")
    p.add_argument("--limit", type=int, default=None, help="at most this many utterances (in id order)")
    p.add_argument("--out", type=Path, default=None, help="write the figures and transcripts here (JSON)")
    args = p.parse_args(argv)

    from tts.audio import read_audio, resample
    from tts.bench.asr import FasterWhisperASR
    from tts.bench.normalize import get_normalizer
    from tts.bench.scoring import aggregate, score_utterance
    from tts.bench.stats import bootstrap_ci

    rows = sorted(_rows(args.corpus, args.split, args.speaker), key=lambda r: r["id"])[: args.limit]
    if not rows:
        print(f"no utterances for speaker {args.speaker!r} in {args.corpus} ({args.split})", file=sys.stderr)
        return 1
    asr = FasterWhisperASR("base", beam_size=args.beam)
    norm = get_normalizer("whisper")
    t0 = time.time()
    scores, audio_s = [], 0.0
    import torch

    for r in rows:
        data, sr = read_audio(r["audio"])
        wav = resample(torch.from_numpy(np.ascontiguousarray(data.mean(axis=1), dtype=np.float32)), sr, 16000)
        audio_s += wav.numel() / 16000
        hyp = asr.transcribe([wav])[0]
        scores.append({"id": r["id"], "speaker": r["speaker"], "ref": r["text"], "hyp": hyp,
                       **score_utterance(r["text"], hyp, norm)})
    agg = aggregate(scores)
    ci = bootstrap_ci(np.array([s["wer"] for s in scores]))
    ci_corpus = bootstrap_ci(np.array([s["word_errors"] for s in scores]), np.array([s["n_words"] for s in scores]))
    result = {"corpus": str(args.corpus), "speaker": args.speaker, "split": args.split,
              "asr": asr.config, "asr_model_sha256": asr.model_sha256, "normalizer": "whisper", **agg,
              "wer_mean_ci95": [ci["low"], ci["high"]], "wer_corpus_ci95": [ci_corpus["low"], ci_corpus["high"]],
              "audio_seconds": round(audio_s, 1), "asr_seconds": round(time.time() - t0, 1),
              "command": "python -m eval.voice_gt_wer " + " ".join(argv if argv is not None else sys.argv[1:]),
              "utterances": scores}
    print(f"{len(scores)} utterances ({audio_s / 60:.1f} min), speaker {args.speaker or 'all'}, split {args.split}: "
          f"WER mean {100 * agg['wer_mean']:.2f}% (95% CI {100 * ci['low']:.2f}-{100 * ci['high']:.2f}), "
          f"corpus {100 * agg['wer_corpus']:.2f}% (95% CI {100 * ci_corpus['low']:.2f}-{100 * ci_corpus['high']:.2f}); "
          f"CER mean {100 * agg['cer_mean']:.2f}%")
    for s in scores:
        if s["wer"] > 0:
            print(f"  {s['id']}: {s['wer']:.2f}  ref: {s['ref_norm']}\n{'':>{len(s['id']) + 10}}hyp: {s['hyp_norm']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
