"""Screening of corpus items: every bad cut is skipped with a reason, counted and reported.

Reasons: ``missing_file``, ``unreadable``, ``empty_audio``, ``non_finite``, ``silent``,
``too_short``, ``too_long``, ``empty_text``, ``unknown_chars``, ``missing_features``.
Nothing is dropped silently: :class:`SkipReport` keeps every (cut id, source, reason, detail).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import CutSet
from lhotse.cut import Cut

from tts.text import Vocab, normalize_text

log = logging.getLogger(__name__)


@dataclass
class SkipReport:
    """Skipped items of one pass over a corpus, by reason."""

    name: str = "corpus"
    kept: int = 0
    items: list[tuple[str, str, str, str]] = field(default_factory=list)  # (cut_id, source, reason, detail)

    @property
    def counts(self) -> Counter:
        return Counter(reason for _, _, reason, _ in self.items)

    @property
    def skipped(self) -> int:
        return len(self.items)

    def add(self, cut_id: str, source: str, reason: str, detail: str = "") -> None:
        self.items.append((cut_id, source, reason, detail))

    def summary(self) -> str:
        if not self.items:
            return f"{self.name}: kept {self.kept}, skipped 0"
        counts = ", ".join(f"{r}={n}" for r, n in sorted(self.counts.items()))
        return f"{self.name}: kept {self.kept}, skipped {self.skipped} ({counts})"

    def log(self, max_items: int = 20) -> None:
        log.info(self.summary())
        for cut_id, source, reason, detail in self.items[:max_items]:
            log.warning("skipped %s [%s] %s: %s", cut_id, reason, source, detail)
        if len(self.items) > max_items:
            log.warning("... and %d more skipped items", len(self.items) - max_items)


def audio_source(cut: Cut) -> str:
    """The file behind a cut's recording (or a description of a non-file source)."""
    rec = getattr(cut, "recording", None)
    if rec is None or not rec.sources:
        return "<no recording>"
    src = rec.sources[0]
    return str(src.source) if src.type == "file" else f"<{src.type}>"


def check_cut_audio(cut: Cut, full: bool = True, silence_rms: float = 1e-4) -> tuple[str, str] | None:
    """(reason, detail) if the cut's audio is unusable, else None."""
    src = audio_source(cut)
    if not src.startswith("<"):
        path = Path(src)
        if not path.is_file():
            return "missing_file", "file not found"
        try:
            info = sf.info(str(path))
        except Exception as e:
            return "unreadable", f"{type(e).__name__}: {e}"
        if info.frames == 0:
            return "empty_audio", "0 samples"
        if not full:
            return None
    try:
        audio = cut.load_audio()
    except Exception as e:
        return "unreadable", f"{type(e).__name__}: {e}"
    if audio.size == 0:
        return "empty_audio", "0 samples"
    if not np.isfinite(audio).all():
        return "non_finite", "NaN or inf samples"
    if float(np.sqrt(np.mean(audio.astype(np.float64) ** 2))) < silence_rms:
        return "silent", f"RMS below {silence_rms:g}"
    return None


def cut_text(cut: Cut) -> str:
    """Normalized text of a cut's supervisions ('' when none)."""
    return normalize_text(" ".join(s.text or "" for s in cut.supervisions))


def screen_cuts(
    cuts: CutSet,
    name: str = "corpus",
    min_duration: float = 0.0,
    max_duration: float = float("inf"),
    check_audio: str = "full",
    require_text: bool = True,
    vocab: Vocab | None = None,
    require_custom: str | None = None,
) -> tuple[CutSet, SkipReport]:
    """Keep the usable cuts; report every other one with its reason.

    check_audio: "full" reads every file (catches NaN/silence), "header" only opens it, "none" skips.
    """
    report = SkipReport(name)
    kept = []
    for cut in cuts:
        src = audio_source(cut)
        problem: tuple[str, str] | None = None
        text = cut_text(cut)
        if cut.duration < min_duration:
            problem = "too_short", f"{cut.duration:.2f} s < {min_duration} s"
        elif cut.duration > max_duration:
            problem = "too_long", f"{cut.duration:.2f} s > {max_duration} s"
        elif require_text and not text:
            problem = "empty_text", "no text"
        elif vocab is not None and (bad := vocab.unknown(text)):
            problem = "unknown_chars", f"characters {bad} not in the vocabulary"
        elif require_custom and (cut.custom is None or require_custom not in cut.custom):
            problem = "missing_features", f"no cached {require_custom!r}"
        elif check_audio != "none":
            problem = check_cut_audio(cut, full=check_audio == "full")
        if problem:
            report.add(cut.id, src, *problem)
        else:
            kept.append(cut)
    report.kept = len(kept)
    report.log()
    return CutSet.from_cuts(kept), report
