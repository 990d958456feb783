"""The carried corpus pack: a ``tts data demo`` corpus as OGG Vorbis with relative paths, and its unpacking.

    python -m eval.gpu.corpus SRC DST     # what `make gpu-corpus` runs
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
from pathlib import Path


def pack_corpus(src: Path, dst: Path, quality: float = 0.5) -> dict:
    """A `tts data demo` corpus -> a small carried pack: audio as OGG Vorbis (24 kHz), manifests with
    paths relative to the pack. Returns its size."""
    import numpy as np
    import soundfile as sf

    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for man in sorted(src.glob("cuts_*.jsonl.gz")):
        lines = []
        with gzip.open(man, "rt") as f:
            for line in f:
                cut = json.loads(line)
                for s in cut["recording"]["sources"]:
                    wav = Path(s["source"])
                    wav = wav if wav.is_absolute() else src / wav
                    rel = Path("audio") / wav.parent.name / (wav.stem + ".ogg")
                    if not (tmp / rel).exists():
                        audio, sr = sf.read(wav, dtype="float32")
                        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                        sf.write(tmp / rel, np.clip(audio, -1, 1), sr, format="OGG", subtype="VORBIS",
                                 compression_level=quality)
                    s["source"] = str(rel)
                lines.append(json.dumps(cut))
        with gzip.open(tmp / man.name, "wt") as f:
            f.write("\n".join(lines) + "\n")
    for extra in ("corpus.json",):
        if (src / extra).exists():
            shutil.copy(src / extra, tmp / extra)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)
    size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
    return {"pack": str(dst), "files": sum(1 for p in dst.rglob("*") if p.is_file()), "mib": round(size / 2**20, 2)}


def rebase_corpus(pack: Path, out: Path) -> Path:
    """Copy the pack's manifests to ``out`` with audio paths made absolute under ``pack`` (the pack stores
    them relative to itself, so it works wherever the working tree lands)."""
    out.mkdir(parents=True, exist_ok=True)
    for src in pack.glob("cuts_*.jsonl.gz"):
        lines = []
        with gzip.open(src, "rt") as f:
            for line in f:
                cut = json.loads(line)
                for s in cut["recording"]["sources"]:
                    if not os.path.isabs(s["source"]):
                        s["source"] = str((pack / s["source"]).resolve())
                lines.append(json.dumps(cut))
        with gzip.open(out / src.name, "wt") as f:
            f.write("\n".join(lines) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Build the corpus pack DST from a `tts data demo` corpus SRC.")
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    args = p.parse_args(argv)
    print(json.dumps(pack_corpus(args.src, args.dst)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
