"""``tts extract teacher``: cache teacher frame features on a CutSet for the semantic VAE loss."""

from __future__ import annotations

import argparse

from tts.teacher import DEFAULT_TEACHER, load_teacher

DEFAULT_KEY = "teacher"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tts extract teacher",
        description=(
            "Compute frozen-teacher frame features for every cut and store them on the cuts "
            "(custom field --key, a TemporalArray at the teacher frame rate). Writes OUT/cuts.jsonl.gz "
            "and OUT/meta.json; re-running resumes finished shards."
        ),
    )
    parser.add_argument(
        "--teacher",
        default=DEFAULT_TEACHER,
        help=f"teacher spec (default {DEFAULT_TEACHER}); e.g. fairseq2-hubert:/path/hubert_large.pt:layer=23, "
        "torchaudio-wavlm-large:/path/sd.pt:layer=23",
    )
    parser.add_argument("--cuts", required=True, help="input lhotse CutSet manifest (cuts_*.jsonl.gz)")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument(
        "--key", default=DEFAULT_KEY, help=f"custom field name on the cuts (default {DEFAULT_KEY})"
    )
    parser.add_argument("--batch-size", type=int, default=8, help="cuts per teacher call")
    args = parser.parse_args(argv)

    from tts.data.cache import extract_to_cache

    teacher = load_teacher(args.teacher)
    cuts = extract_to_cache(
        args.cuts,
        compute=lambda wavs: [f.numpy() for f in teacher(wavs)],
        out_dir=args.out,
        key=args.key,
        frame_rate=teacher.frame_rate,
        sample_rate=teacher.sample_rate,
        batch_size=args.batch_size,
        desc=f"teacher {args.teacher}",
        meta={"teacher": args.teacher, "dim": teacher.dim},
    )
    print(
        f"{args.out}/cuts.jsonl.gz: {len(list(cuts))} cuts, key {args.key!r}, {teacher.dim} dims "
        f"at {teacher.frame_rate:g} Hz"
    )
    return 0
