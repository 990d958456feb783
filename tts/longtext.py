"""Long text: sentences (pysbd), chunks that fit the model's window, and the cross-fade that joins their audio.

``split_sentences(text)`` -> sentences (blank lines end paragraphs; pysbd knows "Dr.", "e.g.", "$5.99", "3 p.m.");
``pack(sentences, max_chars)`` -> chunks of whole sentences up to ``max_chars`` characters each (a longer sentence is
cut at its last comma, semicolon or colon that fits, else between words); ``crossfade(wavs, n)`` -> one waveform,
consecutive pieces overlapped by ``n`` samples with a linear fade (F5-TTS joins its chunks the same way, 0.15 s).
"""

from __future__ import annotations

import re
from functools import lru_cache

import torch

CROSSFADE_S = 0.15  # F5-TTS' cross_fade_duration


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


# pysbd cuts after these now and then ("Baker St., apt. 4." -> "..., apt." | "4."); a sentence never ends on them
NEVER_FINAL = ("Mr.", "Mrs.", "Ms.", "Dr.", "Prof.", "No.", "apt.", "Apt.", "vs.", "e.g.", "i.e.", "approx.",
               "Capt.", "Gen.", "Sen.", "Rep.", "Rev.", "Mt.", "Fig.", "fig.")  # fmt: skip


def split_sentences(text: str) -> list[str]:
    """``text`` -> its sentences, stripped, in order; a blank line always ends a sentence. A piece pysbd cut off
    that starts with a lowercase letter or , ; : ) or follows a title (``NEVER_FINAL``) joins the one before."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        start = len(out)
        for s in _segmenter().segment(" ".join(paragraph.split())):
            s = s.strip()
            if not s:
                continue
            if len(out) > start and (re.match(r"[a-z,;:)\]]", s) or out[-1].endswith(NEVER_FINAL)):
                out[-1] += ("" if s[0] in ",;:)]" else " ") + s
            else:
                out.append(s)
    return out


def _cut(sentence: str, max_chars: int) -> list[str]:
    """A sentence longer than ``max_chars`` -> pieces of at most ``max_chars`` (a single longer word stays whole),
    cut after the last clause mark (, ; :) that fits, else at the last space that fits."""
    pieces = []
    rest = sentence
    while len(rest) > max_chars:
        head = rest[: max_chars + 1]
        at = max(head.rfind(", "), head.rfind("; "), head.rfind(": "))
        at = at + 1 if at > 0 else head.rfind(" ")
        if at <= 0:  # one word longer than the budget: it goes alone
            at = rest.find(" ") if " " in rest else len(rest)
        pieces.append(rest[:at].strip())
        rest = rest[at:].strip()
    return [p for p in (*pieces, rest) if p]


def pack(sentences: list[str], max_chars: int) -> list[str]:
    """Whole sentences, in order, packed greedily into chunks of at most ``max_chars`` characters (joined with a
    space); a sentence longer than that is cut into pieces first (``_cut``)."""
    if max_chars < 1:
        raise ValueError(f"max_chars must be >= 1, got {max_chars}")
    chunks: list[str] = []
    for sentence in sentences:
        for piece in _cut(sentence, max_chars):
            if chunks and len(chunks[-1]) + 1 + len(piece) <= max_chars:
                chunks[-1] += " " + piece
            else:
                chunks.append(piece)
    return chunks


def crossfade(wavs: list[torch.Tensor], overlap: int) -> torch.Tensor:
    """Waveforms (T_i,) -> one (T,), each joined to the next over ``overlap`` samples (fewer when a piece is
    shorter than twice that) with a linear fade out / fade in."""
    if not wavs:
        return torch.zeros(0)
    out = wavs[0].float()
    for wav in wavs[1:]:
        wav = wav.float()
        n = max(0, min(overlap, out.numel() // 2, wav.numel() // 2))
        if n == 0:
            out = torch.cat((out, wav))
            continue
        fade = torch.linspace(0.0, 1.0, n + 2)[1:-1]
        mixed = out[-n:] * (1 - fade) + wav[:n] * fade
        out = torch.cat((out[:-n], mixed, wav[n:]))
    return out
