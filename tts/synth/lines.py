"""The synthesis list: JSONL (or .tsv with a header) rows of id, text, ref_audio, ref_text[, duration, alignment,
ref_alignment] -> ``Item``s, and an ``errors.jsonl`` row for each line that cannot be synthesized."""

from __future__ import annotations

import json
import math
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import torch

from tts.io import MAX_NAME_BYTES, file_name_problem, read_lines
from tts.synth.settings import SynthError

REQUIRED = ("id", "text", "ref_audio", "ref_text")
MAX_ID_BYTES = MAX_NAME_BYTES


@dataclass
class Item:
    line: int
    id: str
    text: str
    ref_audio: str
    ref_text: str
    duration: float | None = None
    alignment: list | None = None  # aligned models: [[symbol, start, duration], ...] of the text
    ref_alignment: list | None = None  # ... and of the prompt
    # filled by tts.synth.sample.prepare
    prompt: torch.Tensor | None = None  # (N_ref, D)
    ids: list[int] | None = None
    total_frames: int = 0
    gain: float = 1.0  # prompt gain (quiet prompts raised to RMS 0.1, F5-TTS); the output is divided by it


def error_row(line: int, utt_id: str | None, reason: str) -> dict:
    """An errors.jsonl row; a lone surrogate in an id is escaped so the row can be written as UTF-8."""
    if isinstance(utt_id, str):
        utt_id = utt_id.encode("utf-8", "backslashreplace").decode("utf-8")
    return {"line": line, "id": utt_id, "reason": reason}


def control_chars(text: str, allow_whitespace: bool = False) -> str | None:
    """The control characters (and lone surrogates) in ``text`` as ``U+0000, ...``, or None."""
    ok = "\t\n\r" if allow_whitespace else ""
    bad = dict.fromkeys(c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in ok)
    return ", ".join(f"U+{ord(c):04X}" for c in bad) or None


def read_list(path: str | Path, default_prompt: dict | None = None) -> tuple[list[Item], list[dict]]:
    """Parse a JSONL (or .tsv with a header) list -> (items, error rows); lines 1-based.

    ``default_prompt`` (the model's, ``tts.f5.export.load_prompt``): the ``ref_audio``, ``ref_text`` (and
    ``ref_alignment``) of rows that give neither ``ref_audio`` nor ``ref_text``."""
    path = Path(path)
    if not path.is_file():
        raise SynthError(f"synthesis list not found: {path}")
    raw = read_lines(path)
    rows: list[tuple[int, dict | None, str | None]] = []
    rows += [(lineno, None, problem) for lineno, line, problem in raw if problem]
    raw = [(lineno, line) for lineno, line, problem in raw if not problem]
    if path.suffix.lower() == ".tsv":  # split on tabs only: no quoting, texts keep their quotes
        header = raw[0][1].split("\t") if raw else []
        for lineno, line in raw[1:]:
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != len(header):
                rows.append(
                    (lineno, None, f"unparseable line: {len(cells)} fields, header has {len(header)}")
                )
                continue
            rows.append((lineno, {k: v for k, v in zip(header, cells) if v != ""}, None))
    else:
        for lineno, line in raw:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                rows.append((lineno, row, None))
            except ValueError as e:
                rows.append((lineno, None, f"unparseable line: {e}"))
    items, errors, seen = [], [], {}
    for lineno, row, problem in sorted(rows, key=lambda r: r[0]):
        if row is None:
            errors.append(error_row(lineno, None, problem or "unparseable line"))
            continue
        utt_id = row.get("id")
        missing = [k for k in REQUIRED if k not in row or row[k] is None]
        if default_prompt and {"ref_audio", "ref_text"} <= set(missing) and "ref_alignment" not in row:
            row = {**row, **default_prompt}
            missing = [k for k in missing if k not in default_prompt]
        if missing:
            prompt = [k for k in missing if k in ("ref_audio", "ref_text")]
            why = ("" if not prompt else
                   ": give both ref_audio and ref_text, or neither for the model's default prompt" if default_prompt
                   else " (this model has no default prompt, prompt.json: each row names its own)")  # fmt: skip
            errors.append(error_row(lineno, utt_id, f"missing key(s): {', '.join(missing)}{why}"))
            continue
        utt_id = str(utt_id)
        if problem := file_name_problem(utt_id, MAX_ID_BYTES):
            shown = utt_id if len(utt_id) <= 60 else utt_id[:40] + "..."
            errors.append(error_row(lineno, shown, f"id is not usable as a file name: it {problem}"))
            continue
        if utt_id in seen:
            errors.append(error_row(lineno, utt_id, f"duplicate id (first on line {seen[utt_id]})"))
            continue
        seen[utt_id] = lineno
        text, ref_text = str(row["text"]).strip(), str(row["ref_text"]).strip()
        bad = {k: c for k, v in (("text", text), ("ref_text", ref_text), ("ref_audio", str(row["ref_audio"])))
               if (c := control_chars(v, allow_whitespace=k != "ref_audio"))}  # fmt: skip
        if bad:
            named = "; ".join(f"{k} has control character(s) {c}" for k, c in bad.items())
            errors.append(error_row(lineno, utt_id, f"{named}: remove them"))
            continue
        if not text:
            errors.append(error_row(lineno, utt_id, "empty text"))
            continue
        if not ref_text:
            errors.append(error_row(lineno, utt_id, "empty ref_text"))
            continue
        duration = row.get("duration")
        if duration is not None:
            try:
                duration = float(duration)
                if not (math.isfinite(duration) and duration > 0):
                    raise ValueError
            except (TypeError, ValueError):
                reason = f"duration must be a positive finite number of seconds: {duration!r}"
                errors.append(error_row(lineno, utt_id, reason))
                continue
        ref_audio = Path(str(row["ref_audio"]))
        if not ref_audio.is_absolute() and not ref_audio.exists() and (path.parent / ref_audio).exists():
            ref_audio = path.parent / ref_audio
        items.append(
            Item(lineno, utt_id, text, str(ref_audio), ref_text, duration,
                 row.get("alignment"), row.get("ref_alignment"))  # fmt: skip
        )
    return items, errors
