"""Duration-aligned conditioning for the F5 DiT: one token id per feature frame, no filler.

F5-TTS pads the characters with a filler to the frame length and lets the DiT find the alignment itself,
which takes ~10^5 large-batch GPU updates. In the aligned mode (``F5Module(conditioning="aligned")``) the
DiT's text input is instead each token's id repeated over the frames it covers, so frame ``n`` carries the
id of the phoneme (or character) spoken there. Everything else (DiT, CFM, feature spaces, sampler, export,
``tts synth``, benchmark) is shared with the filler mode: the text tensor is simply (B, N) instead of
(B, Nt), and the text encoder sees no filler except in padded frames.

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tts.errors import TTSError
from tts.text import FILLER, TextError, Vocab

CONDITIONINGS = ("filler", "aligned")
DURATION_SOURCES = ("predictor", "oracle")


class AlignmentError(TTSError, ValueError):
    """A cut or list row whose alignment is missing or unusable (names the utterance and the problem)."""


def default_vocab(kind: str = "phoneme") -> Vocab:
    """The symbol vocabulary used when no vocab file is given (see module doc)."""
    return Vocab(kind="phoneme") if kind == "phoneme" else Vocab()


def tokenize(vocab: Vocab, text: str, utt_id: str | None = None) -> list[int]:
    """Raw text -> token ids with the vocab's own tokenizer (characters, or phonemes via piper)."""
    return vocab.encode(text, on_unknown="error", utt_id=utt_id)


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


def aligned_batch(
    vocab: Vocab,
    alignments: Sequence[Sequence[tuple[str, float, float]]],
    feat_lens: torch.Tensor,
    frame_rate: float,
    ids: Sequence[str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch's alignments -> (frame ids (B, N) filler-padded past each length, token ids (B, K),
    frames per token (B, K) float, token mask (B, K) bool) for the DiT and the duration predictor."""
    b = len(alignments)
    n = int(feat_lens.max())
    frame_ids = torch.zeros(b, n, dtype=torch.long)
    toks, counts = [], []
    for i, ali in enumerate(alignments):
        utt = ids[i] if ids is not None else None
        tok = symbol_ids(vocab, [a[0] for a in ali], utt)
        c = alignment_frames([a[1] for a in ali], frame_rate, int(feat_lens[i]))
        frame_ids[i, : int(feat_lens[i])] = expand(tok, c)
        toks.append(tok)
        counts.append(c)
    k = max(len(t) for t in toks)
    tok_ids = torch.zeros(b, k, dtype=torch.long)
    frames = torch.zeros(b, k)
    for i, (t, c) in enumerate(zip(toks, counts)):
        tok_ids[i, : len(t)] = torch.tensor(t)
        frames[i, : len(t)] = c.float()
    device = feat_lens.device
    return frame_ids.to(device), tok_ids.to(device), frames.to(device), (tok_ids != 0).to(device)


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


def _end(ali: list[tuple[str, float, float]]) -> float:
    return max(start + dur for _, start, dur in ali)


def _past_model_end(ali: list[tuple[str, float, float]], where: str, model) -> str | None:
    """A reason when an alignment ends past the model's longest utterance (it could not be synthesized)."""
    if _end(ali) > model.max_duration_s:
        return (f"{where} ends at {_end(ali):g} s, past the model's maximum {model.max_duration_s:.1f} s "
                "(prompt + speech)")  # fmt: skip
    return None


def align_item(item, model, speed: float = 1.0, durations: str = "predictor") -> str | None:
    """Frame ids for one ``tts.synth.Item`` of an aligned model (its ``prompt`` already encoded).

    Prompt: its tokens come from the row's ``ref_alignment`` (placed by it) or else from ``ref_text``
    (durations from the predictor, rescaled to the prompt's own frames). Generated part: with
    ``durations="predictor"`` tokens from ``text`` and predicted frames divided by ``speed``, or, when the
    row has a ``duration``, the predicted frames scaled to fill exactly that many seconds (``speed`` is then
    moot); with ``"oracle"`` the tokens and frames of the row's own ``alignment`` (e.g. the test utterance's
    ground truth), over the row's ``duration`` when it has one (``speed`` still applies). Sets ``item.ids``
    (one id per frame) and ``item.total_frames``; returns an error reason for the line, or None.
    """
    from tts.f5.duration import predict_counts

    if durations not in DURATION_SOURCES:
        raise ValueError(f"durations must be one of {DURATION_SOURCES}, not {durations!r}")
    if speed <= 0:
        return f"speed must be > 0, got {speed}"
    vocab, rate = model.vocab, model.frame_rate
    n_ref = int(item.prompt.shape[0])
    gen_frames = max(1, round(item.duration * rate)) if item.duration else None
    try:
        ref_ali = getattr(item, "ref_alignment", None)
        prompt_counts = None
        if ref_ali is not None:
            ref_ali = parse_alignment(ref_ali, "ref_alignment")
            if reason := _past_model_end(ref_ali, "ref_alignment", model):
                return reason
            prompt_ids = symbol_ids(vocab, [a[0] for a in ref_ali], item.id)
            prompt_counts = alignment_frames([a[1] for a in ref_ali], rate, n_ref)
        else:
            prompt_ids = tokenize(vocab, item.ref_text, item.id)
        if durations == "oracle":
            ali = getattr(item, "alignment", None)
            if ali is None:
                return "durations=oracle needs the row's `alignment` ([[symbol, start, duration], ...])"
            ali = parse_alignment(ali, "alignment")
            if reason := _past_model_end(ali, "alignment", model):
                return reason
            gen_ids = symbol_ids(vocab, [a[0] for a in ali], item.id)
            n_gen = gen_frames or max(1, round(_end(ali) * rate))
            gen_counts = alignment_frames([a[1] for a in ali], rate, n_gen)
            if speed != 1.0:
                gen_counts = frames_from_durations(gen_counts / speed)
            if prompt_counts is None:
                prompt_counts, _ = predict_counts(model.duration, prompt_ids, gen_ids, n_ref)
        else:
            gen_ids = tokenize(vocab, item.text, item.id)
            prompt_counts, gen_counts = predict_counts(
                model.duration, prompt_ids, gen_ids, n_ref, speed, prompt_counts
            )
            if gen_frames is not None:  # the row's duration: the predicted durations scaled to fill it
                gen_counts = frames_from_durations(gen_counts.double(), total=gen_frames)
    except (TextError, AlignmentError) as e:
        return str(e)
    frames = torch.cat((expand(prompt_ids, prompt_counts), expand(gen_ids, gen_counts)))
    item.ids = frames.tolist()
    item.total_frames = n_ref + int(gen_counts.sum())
    return None
