"""Duration-aligned conditioning for the F5 DiT: one token id per feature frame, no filler.

F5-TTS pads the characters with a filler to the frame length and lets the DiT find the alignment itself,
which takes ~10^5 large-batch GPU updates. In the aligned mode (``F5Module(conditioning="aligned")``) the
DiT's text input is instead each token's id repeated over the frames it covers, so frame ``n`` carries the
id of the phoneme (or character) spoken there. Everything else (DiT, CFM, feature spaces, sampler, export,
``tts synth``, benchmark) is shared with the filler mode: the text tensor is simply (B, N) instead of
(B, Nt), and the text encoder sees no filler except in padded frames.

The alignment format (lhotse supervisions, list rows, frames per token) is ``tts.data.alignment``; this
module turns it into the DiT's inputs: ``aligned_batch`` for training, ``align_item`` for synthesis.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from tts.data.alignment import (
    AlignmentError,
    alignment_frames,
    expand,
    frames_from_durations,
    parse_alignment,
    symbol_ids,
)
from tts.f5.duration import predict_counts
from tts.text import TextError, Vocab

CONDITIONINGS = ("filler", "aligned")
DURATION_SOURCES = ("predictor", "oracle")


def tokenize(vocab: Vocab, text: str, utt_id: str | None = None) -> list[int]:
    """Raw text -> token ids with the vocab's own tokenizer (characters, or phonemes via piper)."""
    return vocab.encode(text, on_unknown="error", utt_id=utt_id)


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
