"""A line of any length -> prepared chunk items: the text normalized (``tts.normalize``), split into sentences and
packed into chunks that fit the model's window (``tts.longtext``), each chunk prepared as an item of its own.

Chunk length: the prompt's characters a second (its transcript over its length) times ``chunk_s`` seconds (at
most the model's window less the prompt and a margin) gives the characters a chunk may hold; a chunk the model
still finds too long is cut in two and prepared again. Chunk ``k`` of line ``ID`` is item ``ID-k`` (its noise seed:
``tts.synth.sample.noise_seed``); a line that fits in one chunk keeps its own id, so its audio is what it was
before chunking existed. Lines with a ``duration`` or synthesized with oracle durations are one chunk (their
length or alignment covers the whole line).
"""

from __future__ import annotations

from dataclasses import replace

from tts.synth.lines import Item
from tts.synth.sample import prepare
from tts.synth.settings import SamplingSettings

DEFAULT_CHUNK_S = 12.0
CHUNK_S_RANGE = (2.0, 60.0)
WINDOW_MARGIN_S = 1.0  # prompt + chunk stays this far under the model's maximum
MIN_CHUNK_CHARS = 16


def chunk_chars(prompt_s: float, ref_text: str, max_duration_s: float, chunk_s: float, speed: float) -> int:
    """Characters a chunk may hold: the prompt's speaking rate x the seconds a chunk may last."""
    from tts.text import normalize_text

    window_s = max_duration_s - prompt_s - WINDOW_MARGIN_S
    chars_per_s = len(normalize_text(ref_text)) / max(prompt_s, 0.1)
    return max(MIN_CHUNK_CHARS, int(chars_per_s * speed * min(chunk_s, window_s)))


def spoken_sentences(text: str, normalize: bool = True) -> list[str]:
    """``text`` -> sentences in their spoken form (``normalize=False``: as typed, NFKC and whitespace only).
    TextError for control characters."""
    from tts.longtext import split_sentences
    from tts.normalize import clean, sentences
    from tts.text import normalize_text

    return sentences(text) if normalize else split_sentences(normalize_text(clean(text)))


def prepare_line(
    item: Item, model, space, sampling: SamplingSettings, chunk_s: float = DEFAULT_CHUNK_S, normalize: bool = True
) -> tuple[list[Item], str | None]:
    """``item`` -> (its prepared chunk items, None) or ([], the reason it cannot be synthesized).

    ``item.text`` becomes the normalized text (what the model speaks and results.jsonl records)."""
    from tts.audio import AudioError, audio_duration
    from tts.longtext import pack
    from tts.text import TextError

    try:
        said = spoken_sentences(item.text, normalize)
    except TextError as e:
        return [], str(e)
    if not said:
        return [], "nothing to say: the text is only markup, symbols or spaces"
    item.text = " ".join(said)
    if item.duration is not None or sampling.durations == "oracle":
        reason = prepare(item, model, space, sampling)
        return ([], reason) if reason else ([item], None)
    try:
        prompt_s = audio_duration(item.ref_audio)
    except AudioError as e:
        return [], f"prompt audio: {e}"
    todo = pack(said, chunk_chars(prompt_s, item.ref_text, model.max_duration_s, chunk_s, sampling.speed))
    chunks: list[Item] = []
    while todo:
        text = todo.pop(0)
        chunk = replace(item, id=f"{item.id}-{len(chunks)}", text=text)
        reason = prepare(chunk, model, space, sampling)
        if reason and reason.startswith("too long") and " " in text:  # the model's own length: cut in two
            words = text.split(" ")
            todo[:0] = [" ".join(words[: len(words) // 2]), " ".join(words[len(words) // 2 :])]
            continue
        if reason and len(chunks) + len(todo) > 0:
            shown = text if len(text) <= 80 else text[:77] + "..."
            reason = f"chunk {len(chunks) + 1} ({shown!r}): {reason}"
        if reason:
            return [], reason
        chunks.append(chunk)
    if len(chunks) == 1:
        chunks[0].id = item.id
    return chunks, None
