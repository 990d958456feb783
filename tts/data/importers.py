"""Importers from local corpus folders to lhotse CutSets (nothing downloads).

- LibriTTS / LibriTTS-R: ``ROOT/<part>/<speaker>/<chapter>/<utt>.wav`` + ``<utt>.normalized.txt``.
- LJSpeech: ``ROOT/metadata.csv`` (``id|text|normalized text``) + ``ROOT/wavs/<id>.wav``.
- Generic list: one ``audio_path|text|speaker`` per line (relative paths resolve against the list).

Manifests store absolute audio paths, so they load from any working directory. Cut ids are the item
ids (the same ids as in the skip report). Every item that cannot be used (missing, unreadable or empty
audio, empty text, a bad or non-UTF-8 line or transcript file, an id that is not one file name, an id an
earlier usable item took) is reported with its file and line and counted; the rest of the import goes on.

lhotse's own recipes (``lhotse.recipes.prepare_libritts`` / ``prepare_ljspeech``) are not used: they stop
at the first bad item (an ``assert`` on a missing folder, a metadata line without three fields, a wav
``Recording.from_file`` cannot read all raise), ``prepare_libritts`` reads every chapter's ``*.book.tsv``
(it fails without one) and ``*.trans.tsv`` instead of the per-utterance ``.normalized.txt``, and both
write another layout (``language="English"``, extra ``custom`` fields, separate recording and supervision
manifests). What this module adds is what they lack: per-item screening with a skip report naming file
and line, ``tts.text`` normalization, cut ids = item ids, and the generic list format. From lhotse it
uses ``Recording.from_file``, ``Recording.to_cut`` and the CutSet writer.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from lhotse import CutSet, Recording, SupervisionSegment

from tts.data.validate import SkipReport
from tts.io import atomic_write, file_name_problem, read_lines
from tts.text import normalize_text

log = logging.getLogger(__name__)


@dataclass
class Item:
    """One utterance of a corpus; ``line``: its line in the list / metadata file (None for LibriTTS)."""

    id: str
    audio: Path
    text: str
    speaker: str
    line: int | None = None

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else str(self.audio)


def _build(items: list[Item], report: SkipReport) -> CutSet:
    """The usable items as cuts; every other one reported. An id is claimed by its first usable item, so a
    skipped item (empty text, missing audio, ...) never costs a later one with the same id."""
    cuts, kept_at = [], {}
    for it in items:
        audio = it.audio.absolute()
        text = normalize_text(it.text)
        if problem := file_name_problem(it.id):
            report.add(it.id, str(audio), "bad_id", f"{it.where()}: id {it.id!r} {problem}")
            continue
        if not text:
            report.add(it.id, str(audio), "empty_text", f"{it.where()}: no text")
            continue
        if not audio.is_file():
            report.add(it.id, str(audio), "missing_file", "file not found")
            continue
        if audio.stat().st_size == 0:
            report.add(it.id, str(audio), "empty_audio", "0-byte file")
            continue
        if it.id in kept_at:
            report.add(it.id, str(audio), "duplicate", f"{it.where()}: duplicate id (kept {kept_at[it.id]})")
            continue
        try:
            rec = Recording.from_file(audio, recording_id=it.id)
        except Exception as e:
            report.add(it.id, str(audio), "unreadable", f"{type(e).__name__}: {e}")
            continue
        if rec.num_samples == 0:
            report.add(it.id, str(audio), "empty_audio", "0 samples")
            continue
        kept_at[it.id] = it.where()
        cut = rec.to_cut()  # cut id = recording id = the item's id
        cut.supervisions = [SupervisionSegment(id=it.id, recording_id=it.id, start=0.0, duration=rec.duration,
                                               channel=0, text=text, speaker=it.speaker, language="en")]
        cuts.append(cut)
    report.kept = len(cuts)
    report.log()
    return CutSet.from_cuts(cuts)


def _read_transcript(txt: Path, utt_id: str, report: SkipReport) -> str | None:
    """The text of a LibriTTS ``.normalized.txt``; None (reported, naming the file) when it cannot be read."""
    if not txt.is_file():
        report.add(utt_id, str(txt), "missing_file", "transcript not found")
        return None
    try:
        lines = read_lines(txt)
    except OSError as e:
        report.add(utt_id, str(txt), "unreadable", f"{type(e).__name__}: {e}")
        return None
    bad = [problem for _, _, problem in lines if problem]
    if bad:
        report.add(utt_id, str(txt), "bad_line", bad[0])
        return None
    return " ".join(line for _, line, _ in lines)


def import_libritts(root: str | Path, part: str) -> tuple[CutSet, SkipReport]:
    """One LibriTTS or LibriTTS-R part (e.g. ``train-clean-100``)."""
    part_dir = Path(root) / part
    if not part_dir.is_dir():
        raise FileNotFoundError(f"LibriTTS part not found: {part_dir}")
    report = SkipReport(f"libritts/{part}")
    items = []
    for wav in sorted(part_dir.rglob("*.wav")):
        if wav.name.startswith("._"):
            continue
        text = _read_transcript(wav.with_suffix(".normalized.txt"), wav.stem, report)
        if text is not None:
            items.append(Item(wav.stem, wav, text, wav.stem.split("_")[0]))
    return _build(items, report), report


def import_ljspeech(root: str | Path) -> tuple[CutSet, SkipReport]:
    """``ROOT/metadata.csv`` lines ``id|text|normalized text`` (the normalized text is used when present)."""
    root = Path(root)
    meta = root / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"LJSpeech metadata not found: {meta}")
    report = SkipReport("ljspeech")
    items = []
    for n, line, problem in read_lines(meta):
        if problem:
            report.add(f"{meta}:{n}", str(meta), "bad_line", problem)
            continue
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            report.add(f"{meta}:{n}", str(meta), "bad_line",
                       f"line {n}: expected id|text|normalized text (3 fields separated by |), got {len(fields)}")  # fmt: skip
            continue
        utt_id, text = fields[0], fields[-1] or fields[1]
        items.append(Item(utt_id, root / "wavs" / f"{utt_id}.wav", text, "LJ", n))
    return _build(items, report), report


def import_list(path: str | Path) -> tuple[CutSet, SkipReport]:
    """``audio_path|text|speaker`` lines; ids are ``<speaker>_<stem>``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"import list not found: {path}")
    report = SkipReport(f"list {path.name}")
    items = []
    for n, line, problem in read_lines(path):
        if problem:
            report.add(f"{path}:{n}", str(path), "bad_line", problem)
            continue
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("|")
        if len(fields) != 3:
            report.add(f"{path}:{n}", str(path), "bad_line", f"line {n}: expected audio_path|text|speaker")
            continue
        audio, text, speaker = (f.strip() for f in fields)
        audio_path = Path(audio) if Path(audio).is_absolute() else path.parent / audio
        items.append(Item(f"{speaker}_{audio_path.stem}", audio_path, text, speaker, n))
    return _build(items, report), report


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="tts data import",
        description="Build lhotse manifests (cuts_<name>.jsonl.gz) from a local corpus. Nothing downloads; "
        "unusable items (missing, unreadable or empty audio, empty text, bad or non-UTF-8 lines or transcripts, "
        "ids that are not one file name, duplicate ids) are reported with file and line and skipped (exit 1 when "
        "any was). Audio paths are stored absolute, so the manifest loads from any directory; cut ids are the "
        "reported ids.",
    )
    p.add_argument("--format", required=True, choices=["libritts", "libritts-r", "ljspeech", "list"])
    p.add_argument("--root", required=True, help="corpus root (libritts, libritts-r, ljspeech) or the list file (list)")
    p.add_argument("--parts", nargs="*", default=["train-clean-100", "dev-clean", "test-clean"],
                   help="LibriTTS parts to import (written as cuts_<part>.jsonl.gz)")
    p.add_argument("--name", default="train", help="manifest name for ljspeech/list imports")
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    names = args.parts if args.format in ("libritts", "libritts-r") else [args.name]
    for name in names:
        if problem := file_name_problem(name):
            p.error(f"{name!r} cannot name the manifest cuts_<name>.jsonl.gz in --out: it {problem}")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    out = Path(args.out)
    if args.format in ("libritts", "libritts-r"):
        jobs = [(part, lambda part=part: import_libritts(args.root, part)) for part in args.parts]
    elif args.format == "ljspeech":
        jobs = [(args.name, lambda: import_ljspeech(args.root))]
    else:
        jobs = [(args.name, lambda: import_list(args.root))]
    skipped = 0
    for name, job in jobs:
        try:
            cuts, report = job()
        except FileNotFoundError as e:
            print(f"tts data import: {e}", file=sys.stderr)
            return 2
        atomic_write(out / f"cuts_{name}.jsonl.gz", lambda tmp, c=cuts: c.to_file(tmp))
        print(report.summary())
        skipped += report.skipped
    return 0 if skipped == 0 else 1
