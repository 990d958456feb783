"""The sampling core of ``tts synth``: a list ``Item`` -> prompt features, token ids and length -> waveform.

Nothing here reads or writes the output folder (``tts.synth.outdir``) or knows about resuming
(``tts.synth.run``): the WER-during-training callback calls these functions on a model in memory.
"""

from __future__ import annotations

import zlib

import torch

from tts.synth.lines import Item
from tts.synth.settings import SamplingSettings

MAX_REF_CHARS_PER_S = 30  # characters of ref_text a second of prompt (fast speech is ~20)
REF_CHARS_SLACK = 5  # ... plus a few for punctuation and very short prompts


def noise_seed(utt_id: str, seed: int) -> int:
    """The noise seed of utterance ``utt_id`` under run seed ``seed``: independent of batching and order."""
    return (zlib.crc32(utt_id.encode("utf-8")) + 1_000_003 * seed) % (2**31)


def prepare(item: Item, model, space, sampling: SamplingSettings) -> str | None:
    """Load + encode the prompt, encode the text, fix the length (``sampling.speed``, ``sampling.durations``);
    fills ``item.prompt``, ``ids``, ``total_frames``, ``gain``; returns an error reason or None."""
    from tts.audio import AudioError, audio_duration, load_audio
    from tts.f5.cfm import estimate_frames, prompt_gain
    from tts.text import TextError, normalize_text

    if item.duration is not None and item.duration >= model.max_duration_s:
        return (
            f"too long: duration {item.duration:g} s of speech, over the model's maximum "
            f"{model.max_duration_s:.1f} s (prompt + speech); use a shorter duration"
        )
    aligned = getattr(model, "conditioning", "filler") == "aligned"
    full_text = f"{item.ref_text} {item.text}"
    try:
        if not aligned:
            item.ids = model.vocab.encode(full_text, on_unknown="error", utt_id=item.id)
    except TextError as e:
        return str(e)
    try:
        seconds = audio_duration(item.ref_audio)  # from the header: a huge prompt is never decoded
        if seconds >= model.max_duration_s:
            return (
                f"prompt audio: {item.ref_audio} is {seconds:.1f} s, not shorter than the model's maximum "
                f"{model.max_duration_s:.1f} s (prompt + speech); use a shorter prompt"
            )
        wav = load_audio(item.ref_audio, space.sample_rate)
    except AudioError as e:
        return f"prompt audio: {e}"
    n_chars = len(normalize_text(item.ref_text))
    if n_chars > MAX_REF_CHARS_PER_S * seconds + REF_CHARS_SLACK:
        return (
            f"ref_text has {n_chars} characters for a {seconds:.2f} s prompt ({item.ref_audio}), more than "
            f"{MAX_REF_CHARS_PER_S} a second: ref_text must be the transcript of exactly this prompt"
        )
    item.gain = prompt_gain(wav)
    wav = wav * item.gain
    with torch.no_grad():
        item.prompt = space.encode(wav.unsqueeze(0).to(space.device))[0].float()
    n_ref = item.prompt.shape[0]
    if aligned:  # one token id per frame, lengths from the durations (tts.f5.aligned)
        from tts.f5.aligned import align_item

        if reason := align_item(item, model, sampling.speed, sampling.durations):
            return reason
    else:
        item.total_frames = estimate_frames(
            n_ref, item.ref_text, item.text, sampling.speed, item.duration, space.frame_rate
        )
    if item.total_frames > model.max_frames:
        return (
            f"too long: prompt + speech = {item.total_frames / space.frame_rate:.1f} s, over the model's "
            f"maximum {model.max_duration_s:.1f} s ({model.max_frames} frames); use a shorter prompt or text"
        )
    if len(item.ids) > item.total_frames:
        return f"text has {len(item.ids)} characters for only {item.total_frames} frames (speed too high?)"
    return None


def make_batches(items: list[Item], batch_frames: int) -> list[list[Item]]:
    """Longest first; a batch's padded size (items x longest) stays within ``batch_frames``."""
    batches: list[list[Item]] = []
    for item in sorted(items, key=lambda it: -it.total_frames):
        if batches and (len(batches[-1]) + 1) * batches[-1][0].total_frames <= batch_frames:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


@torch.no_grad()
def synthesize_batch(batch: list[Item], model, space, sampling: SamplingSettings) -> list[torch.Tensor]:
    """Sample a batch of prepared items and decode each one's generated part -> list of waveforms (T,)."""
    device = model.device
    b = len(batch)
    n_ref = torch.tensor([it.prompt.shape[0] for it in batch], device=device)
    cond = torch.zeros(b, int(n_ref.max()), model.net.feat_dim, device=device)
    text = torch.zeros(b, max(len(it.ids) for it in batch), dtype=torch.long, device=device)
    for i, it in enumerate(batch):
        cond[i, : it.prompt.shape[0]] = it.prompt
        text[i, : len(it.ids)] = torch.tensor(it.ids, device=device)
    total = torch.tensor([it.total_frames for it in batch], device=device)
    seeds = [noise_seed(it.id, sampling.seed) for it in batch]
    out = model.cfm.sample(cond, n_ref, text, total, **sampling.solver(), seeds=seeds)
    wavs = []
    for i, it in enumerate(batch):
        gen = out[i : i + 1, it.prompt.shape[0] : it.total_frames]
        wavs.append((space.decode(gen)[0].float() / it.gain).clamp(-1.0, 1.0).cpu())
    return wavs
