"""tts voice's evaluation on fresh recordings: sentences no training run and no choice of a setting ever saw.

    python eval/reports/voice/kal16/confirm.py VOICE_OUT CONFIRM_DIR BENCH_OUT

VOICE_OUT: a finished ``tts voice --out`` folder (its report.json names the base model; VOICE_OUT/model is the
fine-tuned one, with the default prompt). CONFIRM_DIR: name.wav + name.txt recordings of the same voice. Runs the
same ``tts bench`` spec as tts voice's evaluate stage (tts.voice.eval_spec: recordings, base, fine-tuned; Whisper
base WER, GE2E SIM to the default prompt) on them, into BENCH_OUT, and prints the figures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tts.bench.runner import run_bench
from tts.f5.export import load_prompt
from tts.voice import eval_spec, summarize


def main(voice_out: Path, confirm: Path, out: Path) -> dict:
    voice = json.loads((voice_out / "report.json").read_text())
    prompt = load_prompt(voice_out / "model")
    rows = [{"id": wav.stem, "text": wav.with_suffix(".txt").read_text().strip(), "gt_audio": str(wav.resolve()),
             "speaker": voice["name"], **prompt} for wav in sorted(confirm.glob("*.wav"))]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "confirm_list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = run_bench(eval_spec(voice["name"], out / "confirm_list.jsonl", voice["base"], voice_out / "model", True), out)
    figures = summarize(report, held_out=True)
    print(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
