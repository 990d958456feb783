"""Text front end: normalization and the vocabulary, characters (F5-TTS) or phonemes (piper/espeak-ng).

Tokenizers (``Vocab.kind``):
- ``"char"`` (default, F5-TTS; the paper recipes keep it): one id per character of the normalized text.
- ``"phoneme"``: espeak-ng IPA through piper's phonemizer (``phonemize``), the same symbols, one per
  codepoint as piper splits them, that the piper voice's alignments carry (``tts.corpus.piper_voice``)
  and in the same order: every sentence is ``["^", *phonemes, "$"]`` (piper's BOS/EOS, which also get
  durations in the alignments), words separated by ``" "``, punctuation kept, stress marks ``ˈ ˌ`` and
  length ``ː`` as symbols of their own. The symbol set is piper's default phoneme id map (a superset of
  the en_US-joe-medium voice's), frozen here so a checkpoint loads without piper installed; with our
  filler in piper's pad slot (id 0) a phoneme's id here equals its piper id.

API for consumers (the F5 module, the duration-aligned mode, synthesis)::

    vocab = Vocab(kind="phoneme")            # or Vocab() / Vocab(kind="char")
    ids = vocab.encode("Hello there.")       # text -> normalize -> tokenize -> ids (no filler)
    syms = vocab.tokenize("Hello there.")    # the symbols before the id lookup
    ids = vocab.encode_symbols(["^", "h", "ə", "$"])   # symbols (e.g. an alignment's) -> ids
    phonemize("Hello there.")                # -> ["^", "h", "ə", "l", "ˈ", "o", "ʊ", " ", ..., ".", "$"]
    Vocab.load(path) / vocab.save(path) / to_dict() / from_dict()   # the kind travels with the symbols

The phoneme ids of an alignment and of ``phonemize`` match symbol for symbol for the same text
(tested), so durations read from a corpus's lhotse alignments line up with ``vocab.encode(text)``.

Normalization policy (``normalize_text``):
- Unicode NFKC, then typographic quotes/dashes/ellipsis mapped to ASCII equivalents.
- Whitespace runs collapsed to one space; leading/trailing whitespace stripped.
- **Case is kept** (the model sees upper and lower case, as in F5-TTS); ASR scoring
  lowercases separately in ``tts.bench``.

Vocabulary policy (``Vocab``):
- id 0 is the filler/pad token that pads the character/phoneme sequence to the frame length.
- The vocabulary is saved inside every checkpoint/export and loaded with it, so a fine-tune
  keeps the ids of the model it starts from.
- The kind is saved with the symbols (``{"kind": ..., "symbols": ...}``); files without a kind are
  character vocabularies (all checkpoints written before the phoneme tokenizer).
- Unknown symbols: ``on_unknown="error"`` (default) raises ``UnknownCharacterError``
  (``UnknownSymbolError`` for phonemes) naming the symbols and the utterance; ``"drop"`` removes them.
- The phoneme front end (espeak-ng's English voice) would read other scripts as letter names ("Chinese
  letter", "Cyrillic ..."), so for it characters it cannot speak (``unspeakable``: letters outside the
  Latin script, digits other than 0-9, control and unassigned code points) are unknown characters too.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from threading import Lock

from tts.errors import TTSError

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

# piper's default phoneme id map (piper.phoneme_ids.DEFAULT_PHONEME_ID_MAP, piper-tts 1.8.0) in id order,
# without its pad "_" (our filler takes id 0): single codepoints, then the merged vowel clusters.
PIPER_SINGLE = '^$ !\'(),-.:;?abcdefhijklmnopqrstuvwxyz\xe6\xe7\xf0\xf8\u0127\u014b\u0153\u01c0\u01c1\u01c2\u01c3\u0250\u0251\u0252\u0253\u0254\u0255\u0256\u0257\u0258\u0259\u025a\u025b\u025c\u025e\u025f\u0260\u0261\u0262\u0263\u0264\u0265\u0266\u0267\u0268\u026a\u026b\u026c\u026d\u026e\u026f\u0270\u0271\u0272\u0273\u0274\u0275\u0276\u0278\u0279\u027a\u027b\u027d\u027e\u0280\u0281\u0282\u0283\u0284\u0288\u0289\u028a\u028b\u028c\u028d\u028e\u028f\u0290\u0291\u0292\u0294\u0295\u0298\u0299\u029b\u029c\u029d\u029f\u02a1\u02a2\u02b2\u02c8\u02cc\u02d0\u02d1\u02de\u03b2\u03b8\u03c7\u1d7b\u2c710123456789\u0327\u0303\u032a\u032f\u0329\u02b0\u02e4\u03b5\u2193#"\u2191\u033a\u033bg\u02a6X\u031d\u030a\u025d\u02b7'
PIPER_CLUSTERS = ('a\u026a', 'a\u028a', '\u0254\u026a', 'e\u026a', 'o\u028a')
PHONEME_SYMBOLS = (*PIPER_SINGLE, *PIPER_CLUSTERS)
BOS, EOS = "^", "$"
KINDS = ("char", "phoneme")
ESPEAK_VOICE = "en-us"  # the espeak-ng voice of en_US-joe-medium (its .onnx.json "espeak.voice")


class TextError(TTSError, ValueError):
    """A text that cannot be used (empty, or with characters outside the vocabulary)."""


class UnknownCharacterError(TextError):
    def __init__(self, chars: list[str], text: str, utt_id: str | None = None):
        self.chars = chars
        where = f" in utterance {utt_id!r}" if utt_id else ""
        shown = ", ".join(repr(c) for c in chars)
        super().__init__(f"unknown {self.what}(s) {shown}{where}: {text!r}")

    what = "character"


class UnknownSymbolError(UnknownCharacterError):
    """Phoneme symbols outside a phoneme vocabulary."""

    what = "phoneme symbol"


class PhonemizerMissingError(TTSError, RuntimeError):
    """The phoneme tokenizer needs piper-tts (its espeak-ng bridge and data)."""


_PHONEMIZER = None
_PHONEMIZER_LOCK = Lock()


def phonemize(text: str, voice: str = ESPEAK_VOICE) -> list[str]:
    """Normalized ``text`` -> espeak-ng IPA symbols as piper splits them, ``["^", ..., "$"]`` per sentence.

    The same symbols, in the same order, as the ``phoneme`` items of a piper voice's alignments for
    that text. Needs ``piper-tts`` (it ships espeak-ng and its data; nothing is downloaded).
    """
    global _PHONEMIZER
    try:
        from piper.phonemize_espeak import EspeakPhonemizer
    except ImportError as e:
        raise PhonemizerMissingError(
            f"the phoneme tokenizer needs the package piper-tts ({e}); install it with: pip install piper-tts==1.8.0"
        ) from e
    out: list[str] = []
    with _PHONEMIZER_LOCK:
        if _PHONEMIZER is None:
            _PHONEMIZER = EspeakPhonemizer()
        sentences = _PHONEMIZER.phonemize(voice, normalize_text(text))
    for sent in sentences:
        if sent:
            out += [BOS, *sent, EOS]
    return out


def unspeakable(text: str) -> list[str]:
    """Characters of ``text`` (unique, in order) that an English phoneme front end cannot speak: letters
    outside the Latin script, digits other than 0-9, and control, private-use, surrogate or unassigned
    code points. Whitespace, punctuation and symbols are left to the front end."""
    def bad(c: str) -> bool:
        cat = unicodedata.category(c)
        if cat[0] == "L":
            return not unicodedata.name(c, "").startswith("LATIN ")
        return (cat == "Nd" and not "0" <= c <= "9") or cat in ("Cc", "Co", "Cs", "Cn")

    return list(dict.fromkeys(c for c in normalize_text(text) if bad(c)))


def normalize_text(text: str) -> str:
    """NFKC + ASCII punctuation + collapsed whitespace; case is kept."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    return " ".join(text.split())


@dataclass
class Vocab:
    """Character or phoneme vocabulary (``kind``); ``symbols[0]`` is the filler token.

    ``Vocab()`` is the English character vocabulary, ``Vocab(kind="phoneme")`` piper's phoneme set.
    """

    symbols: list[str] | None = None
    kind: str = "char"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"vocab kind must be one of {KINDS}, not {self.kind!r}")
        if self.symbols is None:
            self.symbols = [FILLER, *(BASE_CHARS if self.kind == "char" else PHONEME_SYMBOLS)]
        self.symbols = list(self.symbols)
        if not self.symbols or self.symbols[0] != FILLER:
            raise ValueError(f"vocab must start with the filler token {FILLER!r}")
        if len(set(self.symbols)) != len(self.symbols):
            raise ValueError("vocab has duplicate symbols")
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    @classmethod
    def build(cls, texts: Iterable[str], kind: str = "char") -> Vocab:
        """Base symbols of ``kind`` plus every symbol seen in ``texts`` (sorted, appended: stable ids)."""
        base = cls(kind=kind)
        seen = set(base.symbols)
        extra: set[str] = set()
        for t in texts:
            extra.update(s for s in base.tokenize(t) if s not in seen)
        return cls([*base.symbols, *sorted(extra)], kind=kind)

    def tokenize(self, text: str) -> list[str]:
        """Normalized ``text`` -> symbols: its characters (``char``) or ``phonemize(text)`` (``phoneme``)."""
        norm = normalize_text(text)
        return list(norm) if self.kind == "char" else phonemize(norm)

    def unknown(self, text: str) -> list[str]:
        """Symbols of the tokenized ``text`` that are not in the vocabulary (unique, ordered); for the
        phoneme kind, first the characters its front end cannot speak (``unspeakable``)."""
        if self.kind == "phoneme" and (bad := unspeakable(text)):
            return bad
        return self.unknown_symbols(self.tokenize(text))

    def unknown_symbols(self, symbols: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(s for s in symbols if s not in self._index))

    def encode(self, text: str, on_unknown: str = "error", utt_id: str | None = None) -> list[int]:
        """Text -> normalized -> tokenized -> ids (no filler). Raises ``TextError`` for empty text."""
        norm = normalize_text(text)
        if self.kind == "phoneme" and (bad := unspeakable(norm)):
            if on_unknown == "error":
                raise UnknownCharacterError(bad, norm, utt_id)
            norm = normalize_text("".join(c for c in norm if c not in bad))
        if not norm:
            raise TextError(f"empty text{f' in utterance {utt_id!r}' if utt_id else ''}")
        symbols = self.tokenize(norm)
        if not symbols:
            raise TextError(f"no phonemes for text{f' in utterance {utt_id!r}' if utt_id else ''}: {norm!r}")
        return self.encode_symbols(symbols, on_unknown, utt_id, shown=norm)

    def encode_symbols(self, symbols: Iterable[str], on_unknown: str = "error", utt_id: str | None = None,
                       shown: str | None = None) -> list[int]:
        """Symbols (characters, or phonemes such as an alignment's) -> ids; unknown ones named or dropped."""
        symbols = list(symbols)
        bad = self.unknown_symbols(symbols)
        if bad:
            if on_unknown == "error":
                err = UnknownCharacterError if self.kind == "char" else UnknownSymbolError
                raise err(bad, shown if shown is not None else "".join(symbols), utt_id)
            if on_unknown != "drop":
                raise ValueError(f"on_unknown must be 'error' or 'drop', not {on_unknown!r}")
            symbols = [s for s in symbols if s in self._index]
            if not symbols:
                raise TextError(f"no known symbols left{f' in {utt_id!r}' if utt_id else ''}")
        return [self._index[s] for s in symbols]

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.symbols[i] for i in ids if i != FILLER_ID)

    def decode_symbols(self, ids: Iterable[int]) -> list[str]:
        return [self.symbols[i] for i in ids if i != FILLER_ID]

    def to_dict(self) -> dict:
        return {"filler": FILLER, "kind": self.kind, "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(list(d["symbols"]), kind=d.get("kind", "char"))

    def save(self, path: str | Path) -> None:
        from tts.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes (F5-TTS duration heuristic)."""
    return len(text.encode("utf-8"))
