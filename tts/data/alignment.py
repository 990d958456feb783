"""Alignments: which symbol is spoken when, as lhotse stores them and as synthesis / test lists carry them.

Alignments use lhotse's standard format, on the cut's time axis (as supervisions; lhotse shifts them with
the supervision when cuts are truncated):
``SupervisionSegment.alignment = {"phoneme": [AlignmentItem(symbol, start, duration), ...]}``.

Frame expansion (``alignment_frames``): token k covers frames [b_k, b_{k+1}) with b_0 = 0,
b_k = round(start_k * frame_rate) for k >= 1 (made monotonic, clamped to [0, N]) and b_K = N, the
feature length. Cumulative boundaries are rounded rather than each duration, so rounding errors do not
accumulate and the counts sum exactly to N on either frame grid (93.75 Hz mel, 40 Hz latent). Leading
silence before the first token goes to the first token, a gap between tokens to the earlier one, and
trailing frames past the last token's end to the last one. A token shorter than a frame may get 0 frames.

Symbols: the vocabulary saved with the checkpoint (``tts.text.Vocab``; filler id 0 never appears in
valid frames). Without a vocab file the default is ``default_vocab(kind)``: ``Vocab(kind="phoneme")``
(piper's espeak-ng symbols, the same the piper voice's alignments carry) for ``phoneme`` alignments,
the character vocabulary for any other kind (e.g. ``char``). For synthesis, raw text becomes the same
symbols through the vocab's own tokenizer (``Vocab.encode``: characters, or ``phonemize``).

Cuts with a missing alignment or symbols outside the vocabulary are screened out before training
(``screen_alignments``); ``parse_alignment`` checks a list row's value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tts.errors import TTSError
from tts.text import FILLER, TextError, Vocab


class AlignmentError(TTSError, ValueError):
    """A cut or list row whose alignment is missing or unusable (names the utterance and the problem)."""


def default_vocab(kind: str = "phoneme") -> Vocab:
    """The symbol vocabulary used when no vocab file is given (see module doc)."""
    return Vocab(kind="phoneme") if kind == "phoneme" else Vocab()


def symbol_ids(vocab: Vocab, symbols: Sequence[str], utt_id: str | None = None) -> list[int]:
    """Alignment symbols -> ids; unknown symbols (or the filler) raise ``TextError`` naming them and the
    utterance."""
    where = f" in utterance {utt_id!r}" if utt_id else ""
    if not symbols:
        raise TextError(f"empty alignment{where}")
    if FILLER in symbols:
        raise TextError(f"alignment uses the filler symbol {FILLER!r}{where}")
    return vocab.encode_symbols(list(symbols), on_unknown="error", utt_id=utt_id)


def cut_alignment(cut, kind: str = "phoneme") -> list[tuple[str, float, float]]:
    """(symbol, start, duration) of every supervision's ``kind`` alignment, by start time (cut time axis)."""
    items = []
    for sup in cut.supervisions:
        ali = (sup.alignment or {}).get(kind)
        if not ali:
            raise AlignmentError(f"cut {cut.id!r}: supervision {sup.id!r} has no {kind!r} alignment")
        items += [(a.symbol, float(a.start), float(a.duration)) for a in ali]
    if not items:
        raise AlignmentError(f"cut {cut.id!r} has no supervisions with a {kind!r} alignment")
    return sorted(items, key=lambda a: a[1])


# list values are rounded to 5-6 decimals: a smaller overlap is rounding, not an overlap
OVERLAP_TOLERANCE_S = 1e-3


def parse_alignment(value, where: str) -> list[tuple[str, float, float]]:
    """A list row's alignment: ``[[symbol, start, duration], ...]`` or ``[{"symbol":, "start":,
    "duration":}, ...]`` in seconds -> (symbol, start, duration) tuples, in the row's order.

    ``AlignmentError`` names ``where`` and the item for a malformed item, items out of time order or
    overlapping (never re-sorted: the symbols' order is the text's), or an alignment of zero length.
    """
    if not isinstance(value, list) or not value:
        raise AlignmentError(f"{where}: alignment must be a non-empty list of [symbol, start, duration]")
    out = []
    for j, a in enumerate(value):
        try:
            sym, start, dur = (a["symbol"], a["start"], a["duration"]) if isinstance(a, dict) else a
            start, dur = float(start), float(dur)
            if not isinstance(sym, str) or not sym or not (math.isfinite(start) and math.isfinite(dur)):
                raise ValueError
            if start < 0 or dur < 0:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise AlignmentError(
                f"{where}: alignment item {j} is not [symbol, start >= 0, duration >= 0]: {a!r}"
            ) from None
        if out and start < out[-1][1] + out[-1][2] - OVERLAP_TOLERANCE_S:
            raise AlignmentError(
                f"{where}: alignment item {j} {a!r} starts at {start:g} s, before item {j - 1} "
                f"{list(out[-1])!r} ends at {out[-1][1] + out[-1][2]:g} s: items must be in time order "
                "without overlaps"
            )
        out.append((sym, start, dur))
    if out[-1][1] + out[-1][2] <= 0:
        raise AlignmentError(f"{where}: zero-length alignment (every item starts at 0 s and lasts 0 s)")
    return out


def alignment_frames(starts: Sequence[float], frame_rate: float, n_frames: int) -> torch.Tensor:
    """Token start times (seconds, sorted) -> frames per token (K,) long, summing exactly to ``n_frames``.

    Boundaries: 0, round(start_k * frame_rate) for k = 1..K-1 (monotonic, clamped to [0, N]), N.
    """
    k = len(starts)
    if k == 0:
        raise ValueError("no tokens to align")
    if n_frames < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    inner = torch.tensor([round(float(s) * frame_rate) for s in starts[1:]], dtype=torch.long)
    inner = torch.cummax(inner, 0).values.clamp(0, n_frames) if k > 1 else inner
    bounds = torch.cat((torch.zeros(1, dtype=torch.long), inner, torch.tensor([n_frames])))
    return bounds.diff()


def frames_from_durations(durations: torch.Tensor, total: int | None = None) -> torch.Tensor:
    """Real-valued frames per token (K,) -> integer counts by cumulative rounding (sum = round(sum)).

    With ``total`` the durations are first rescaled to sum to ``total`` (e.g. a prompt's frame count), so the
    counts sum exactly to it; all-zero durations are spread evenly.
    """
    d = durations.double().clamp(min=0)
    if total is not None:
        s = float(d.sum())
        d = d * (total / s) if s > 0 else torch.full_like(d, total / max(1, len(d)))
    bounds = torch.cat((torch.zeros(1, dtype=torch.double), d.cumsum(0))).round().long()
    if total is not None:
        bounds[-1] = total
    return bounds.diff().clamp(min=0)


def expand(ids: Sequence[int] | torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Token ids (K,) repeated ``counts`` (K,) times -> frame ids (sum(counts),)."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if ids.shape != counts.shape:
        raise ValueError(f"{ids.numel()} ids but {counts.numel()} frame counts")
    return ids.repeat_interleave(counts)


def screen_alignments(cuts, kind: str, vocab: Vocab, report):
    """Keep the cuts whose ``kind`` alignment exists and uses only ``vocab``'s symbols; the others are
    added to ``report`` (a ``tts.data.validate.SkipReport``) as ``missing_alignment`` / ``unknown_symbols``."""
    from lhotse import CutSet

    from tts.data.validate import audio_source

    known = set(vocab.symbols) - {FILLER}
    kept = []
    for cut in cuts:
        try:
            ali = cut_alignment(cut, kind)
        except AlignmentError as e:
            report.add(cut.id, audio_source(cut), "missing_alignment", str(e))
            continue
        bad = sorted({a[0] for a in ali} - known)
        if bad:
            report.add(cut.id, audio_source(cut), "unknown_symbols", f"symbols {bad} not in the vocabulary")
            continue
        kept.append(cut)
    report.kept = len(kept)
    return CutSet.from_cuts(kept)


def list_alignment(cut, kind: str = "phoneme") -> list[list]:
    """A cut's alignment as a synthesis/test list value: ``[[symbol, start, duration], ...]`` (seconds, cut
    time axis), the ``alignment`` / ``ref_alignment`` keys of ``tts synth`` lists."""
    return [[s, round(start, 5), round(dur, 5)] for s, start, dur in cut_alignment(cut, kind)]
