"""WER / CER with jiwer on normalized text: per-utterance scores and their two aggregates.

Two WER aggregates are reported because they answer different questions:
- ``wer_mean``: the mean of per-utterance WERs (the F5-TTS protocol; every utterance weighs the same);
- ``wer_corpus``: total word errors / total reference words (long utterances weigh more).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def score_utterance(ref: str, hyp: str, normalize: Callable[[str], str]) -> dict:
    """Word and character error counts of one hypothesis against its reference (both normalized).

    Returns {"ref_norm", "hyp_norm", "n_words", "word_errors", "sub", "del", "ins", "wer",
    "n_chars", "char_errors", "cer"}. An empty normalized reference scores 0 when the hypothesis is
    empty too and 1 otherwise (errors are then the inserted words).
    """
    import jiwer

    ref_n, hyp_n = normalize(ref), normalize(hyp)
    if not ref_n:
        n_hyp = len(hyp_n.split())
        return {
            "ref_norm": ref_n, "hyp_norm": hyp_n, "n_words": 0, "word_errors": n_hyp,
            "sub": 0, "del": 0, "ins": n_hyp, "wer": float(n_hyp > 0),
            "n_chars": 0, "char_errors": len(hyp_n), "cer": float(len(hyp_n) > 0),
        }  # fmt: skip
    w = jiwer.process_words(ref_n, hyp_n)
    c = jiwer.process_characters(ref_n, hyp_n)
    n_words = w.hits + w.substitutions + w.deletions
    n_chars = c.hits + c.substitutions + c.deletions
    word_errors = w.substitutions + w.deletions + w.insertions
    char_errors = c.substitutions + c.deletions + c.insertions
    return {
        "ref_norm": ref_n, "hyp_norm": hyp_n, "n_words": n_words, "word_errors": word_errors,
        "sub": w.substitutions, "del": w.deletions, "ins": w.insertions, "wer": word_errors / n_words,
        "n_chars": n_chars, "char_errors": char_errors, "cer": char_errors / n_chars,
    }  # fmt: skip


def aggregate(scores: Sequence[dict]) -> dict:
    """Mean-of-utterance and corpus WER/CER over per-utterance scores (from score_utterance)."""
    if not scores:
        return {"n": 0, "wer_mean": None, "wer_corpus": None, "cer_mean": None, "cer_corpus": None}
    wer = np.array([s["wer"] for s in scores], dtype=np.float64)
    cer = np.array([s["cer"] for s in scores], dtype=np.float64)
    n_words = sum(s["n_words"] for s in scores)
    n_chars = sum(s["n_chars"] for s in scores)
    return {
        "n": len(scores),
        "wer_mean": float(wer.mean()),
        "wer_corpus": sum(s["word_errors"] for s in scores) / max(n_words, 1),
        "cer_mean": float(cer.mean()),
        "cer_corpus": sum(s["char_errors"] for s in scores) / max(n_chars, 1),
    }
