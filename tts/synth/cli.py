"""``tts synth`` on the command line: the argument parser and ``main``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tts.io import CheckpointError, OutDirError
from tts.synth.lines import MAX_ID_BYTES
from tts.synth.run import synthesize
from tts.synth.sample import MAX_REF_CHARS_PER_S
from tts.synth.settings import DEFAULT_BATCH_FRAMES, SPEED_RANGE, SamplingSettings, SynthError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts synth",
        description="Batch synthesis with an F5 model. LIST is JSONL (or .tsv with a header) with columns "
        "id, text, ref_audio, ref_text and optional duration (seconds of generated speech: honoured by every "
        "model; an aligned model in predictor mode scales its predicted durations to fill it, and --speed "
        "then has no effect on that line). Writes OUT/<id>.wav, OUT/results.jsonl (resumable: a rerun skips "
        "finished ids) and OUT/errors.jsonl. "
        f"Ids are file names: no '/', no leading '.', no control characters (NUL, newline, tab), at most "
        f"{MAX_ID_BYTES} bytes. Text the model cannot speak (characters outside its vocabulary; for phoneme "
        "models, scripts other than Latin) is refused with the characters named. ref_text must be the "
        f"prompt's transcript (at most {MAX_REF_CHARS_PER_S} characters a second of prompt); a row may leave out "
        "both ref_audio and ref_text when the model folder holds a default prompt (prompt.wav + prompt.json, "
        "written by tts voice): that prompt is used. Alignments must "
        "be in time order without overlaps. A rerun into the same OUT resumes only when the model and every "
        "sampling setting match (OUT/settings.json, written with the first wav); otherwise it is refused "
        "with the differences named, or --overwrite starts OUT over. One run per OUT at a time (a lock on "
        "OUT/.synth.lock). Exit code 0 when every line was synthesized, 1 when some lines failed "
        "(OUT/errors.jsonl), 2 when nothing could run (bad settings or device, unwritable or busy OUT, "
        "missing or corrupt model) or the disk filled up (the line named; rerun to resume).",
    )
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("--input", required=True, help="synthesis list (JSONL or TSV)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--nfe", type=int, default=32, help="network evaluations, 1-1000 (default 32)")
    p.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance strength, 0-100 (default 2)")
    p.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient, -1 to 1 (default -1)")
    p.add_argument(
        "--speed", type=float, default=1.0,
        help=f"speaking rate for the duration rule, {SPEED_RANGE[0]:g} to {SPEED_RANGE[1]:g} (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="run seed, 0 to 2^31-1 (default 0)")
    p.add_argument(
        "--batch-frames",
        type=int,
        default=DEFAULT_BATCH_FRAMES,
        help=f"padded frames per batch, before CFG doubling (default {DEFAULT_BATCH_FRAMES})",
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument(
        "--method", choices=("euler", "midpoint"), default="euler", help="ODE solver (default euler)"
    )
    p.add_argument("--space", default=None, help="override the model's feature space spec")
    p.add_argument(
        "--durations",
        choices=("predictor", "oracle"),
        default="predictor",
        help="aligned models: frames per token from the model's duration predictor (default; --speed "
        "scales them, a row's `duration` overrides --speed: the predicted durations are scaled to fill it) or "
        "from each row's own `alignment` [[symbol, start_s, duration_s], ...] in time order (oracle)",
    )
    p.add_argument(
        "--backend", choices=("torch", "onnx"), default="torch",
        help="torch (default: the model's torch networks) or onnx: MODEL is a folder written by `tts export onnx`, "
        "run by onnxruntime on the CPU with no torch model (the same audio to 1e-4)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite", action="store_true",
        help="start OUT over: delete the wavs its results.jsonl lists and its results, errors and settings (no "
        "other file), then synthesize every line",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    sampling = SamplingSettings(nfe=a.nfe, cfg=a.cfg, sway=a.sway, speed=a.speed, seed=a.seed, method=a.method,
                                durations=a.durations)  # fmt: skip
    problems = sampling.problems() + ([f"--batch-frames must be >= 1, got {a.batch_frames}"] if a.batch_frames < 1 else [])
    if problems:
        parser.error("; ".join(f"--{p}" if not p.startswith("--") else p for p in problems))
    try:
        summary = synthesize(a.model, a.input, a.out, sampling, batch_frames=a.batch_frames, device=a.device,
                             space=a.space, progress=not a.no_progress, overwrite=a.overwrite,
                             backend=a.backend)  # fmt: skip
    except (SynthError, CheckpointError, OutDirError) as e:
        print(f"tts synth: {e}", file=sys.stderr)
        return 2
    print(
        f"synth: {summary['synthesized']} synthesized, {summary['skipped_done']} already done, "
        f"{summary['errors']} errors (see {Path(a.out) / 'errors.jsonl'}) of {summary['lines']} lines; "
        f"{summary['audio_s']:.1f} s audio, RTF {summary['rtf']}"
    )
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
