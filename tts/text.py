"""Text front end: normalization and the character vocabulary (F5-TTS style, filler id 0).

Normalization policy (``normalize_text``):
- Unicode NFKC, then typographic quotes/dashes/ellipsis mapped to ASCII equivalents.
- Whitespace runs collapsed to one space; leading/trailing whitespace stripped.
- **Case is kept** (the model sees upper and lower case, as in F5-TTS); ASR scoring
  lowercases separately in ``tts.bench``.

Vocabulary policy (``Vocab``):
- id 0 is the filler/pad token that pads the character sequence to the frame length.
- The vocabulary is saved inside every checkpoint/export and loaded with it, so a fine-tune
  keeps the ids of the model it starts from.
- Unknown characters: ``on_unknown="error"`` (default) raises ``UnknownCharacterError``
  naming the characters and the utterance; ``"drop"`` removes them and reports them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

FILLER = "<f>"
FILLER_ID = 0

_ASCII_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2026": "...", "\u00a0": " ",
}
_TRANSLATE = str.maketrans(_ASCII_MAP)

# Characters every English vocabulary gets, so that new English text never grows the vocab.
BASE_CHARS = (
    " !\"'(),-.:;?"
    + "abcdefghijklmnopqrstuvwxyz"
    + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    + "0123456789"
)


class TextError(ValueError):
    """A text that cannot be used (empty, or with characters outside the vocabulary)."""


class UnknownCharacterError(TextError):
    def __init__(self, chars: list[str], text: str, utt_id: str | None = None):
        self.chars = chars
        where = f" in utterance {utt_id!r}" if utt_id else ""
        shown = ", ".join(repr(c) for c in chars)
        super().__init__(f"unknown character(s) {shown}{where}: {text!r}")


def normalize_text(text: str) -> str:
    """NFKC + ASCII punctuation + collapsed whitespace; case is kept."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    return " ".join(text.split())


@dataclass
class Vocab:
    """Character vocabulary; ``symbols[0]`` is the filler token."""

    symbols: list[str] = field(default_factory=lambda: [FILLER, *BASE_CHARS])

    def __post_init__(self) -> None:
        if not self.symbols or self.symbols[0] != FILLER:
            raise ValueError(f"vocab must start with the filler token {FILLER!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("vocab has duplicate symbols")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, texts: Iterable[str]) -> Vocab:
        """Base English characters plus every character seen in ``texts`` (sorted, stable)."""
        seen = set(BASE_CHARS)
        for t in texts:
            seen.update(normalize_text(t))
        extra = sorted(seen - set(BASE_CHARS))
        return cls([FILLER, *BASE_CHARS, *extra])

    def unknown(self, text: str) -> list[str]:
        """Characters of the normalized ``text`` that are not in the vocabulary (unique, ordered)."""
        return list(dict.fromkeys(c for c in normalize_text(text) if c not in self._index))

    def encode(self, text: str, on_unknown: str = "error", utt_id: str | None = None) -> list[int]:
        """Normalized text -> ids (no filler). Raises ``TextError`` for empty text."""
        norm = normalize_text(text)
        if not norm:
            raise TextError(f"empty text{f' in utterance {utt_id!r}' if utt_id else ''}")
        bad = self.unknown(norm)
        if bad:
            if on_unknown == "error":
                raise UnknownCharacterError(bad, norm, utt_id)
            if on_unknown != "drop":
                raise ValueError(f"on_unknown must be 'error' or 'drop', not {on_unknown!r}")
            norm = "".join(c for c in norm if c in self._index)
            if not norm:
                raise TextError(f"no known characters left{f' in {utt_id!r}' if utt_id else ''}")
        return [self._index[c] for c in norm]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.symbols[i] for i in ids if i != FILLER_ID)

    def to_dict(self) -> dict:
        return {"filler": FILLER, "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(list(d["symbols"]))

    def save(self, path: str | Path) -> None:
        from tts.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes (F5-TTS duration heuristic)."""
    return len(text.encode("utf-8"))
