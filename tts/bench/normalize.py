"""Text normalization before scoring: Whisper's English normalizer or the F5-TTS protocol.

- ``"whisper"`` (default): ``whisper_normalizer.english.EnglishTextNormalizer`` (spelling, numbers,
  contractions, punctuation; the normalizer OpenAI used for Whisper's English WER).
- ``"f5"``: the F5-TTS evaluation protocol for English (``eval/utils_eval.py``): strip every
  punctuation character, collapse double spaces, lowercase. Apostrophes are removed ("don't" -> "dont").
- ``"none"``: whitespace collapse only (debugging).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Callable
from functools import lru_cache

NORMALIZERS = ("whisper", "f5", "none")

DESCRIPTIONS = {
    "whisper": "whisper_normalizer EnglishTextNormalizer (Whisper English protocol: lowercase, "
    "punctuation removed, spellings/numbers/contractions standardized)",
    "f5": "F5-TTS protocol: punctuation removed, lowercased, whitespace collapsed",
    "none": "whitespace collapsed only",
}

_ASCII_PUNCT = set(string.punctuation)


def _collapse(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def f5_normalize(text: str) -> str:
    """Lowercase and strip all punctuation (ASCII and Unicode category P*), as F5-TTS scores English."""
    kept = "".join(
        " " if ch in "\n\t" else ch
        for ch in text
        if ch not in _ASCII_PUNCT and not unicodedata.category(ch).startswith("P")
    )
    return _collapse(kept.lower())


@lru_cache(maxsize=1)
def _whisper_english() -> Callable[[str], str]:
    from whisper_normalizer.english import EnglishTextNormalizer

    return EnglishTextNormalizer()


def whisper_normalize(text: str) -> str:
    """Whisper's English text normalizer (numbers to digits, British -> American spelling, ...)."""
    return _collapse(_whisper_english()(text))


def get_normalizer(name: str) -> Callable[[str], str]:
    """The normalization function called ``name`` (one of NORMALIZERS)."""
    if name == "whisper":
        return whisper_normalize
    if name == "f5":
        return f5_normalize
    if name == "none":
        return _collapse
    raise ValueError(f"unknown normalizer {name!r}; choose one of {', '.join(NORMALIZERS)}")
