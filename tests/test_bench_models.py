"""Real offline models of the benchmark on a flite utterance: Whisper base, PocketSphinx, GE2E SIM."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from tts.audio import load_audio

SENTENCE = "It is a beautiful day in the neighborhood."


def _flite(tmp_path: Path, voice: str, text: str, name: str) -> Path:
    if shutil.which("flite") is None:
        pytest.skip("flite not installed")
    out = tmp_path / f"{name}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, timeout=30)
    return out


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} not installed")


def test_faster_whisper_base_transcribes_a_flite_utterance(tmp_path):
    _need("faster_whisper")
    from tts.bench.asr import ASRError, load_asr
    from tts.bench.normalize import whisper_normalize
    from tts.bench.scoring import score_utterance

    wav = load_audio(_flite(tmp_path, "slt", SENTENCE, "slt"), 16000)
    try:
        asr = load_asr({"backend": "faster-whisper", "model": "base", "beam_size": 1})
    except ASRError as e:
        pytest.skip(f"packaged whisper base unavailable: {e}")
    (text,) = asr.transcribe([wav])
    assert score_utterance(SENTENCE, text, whisper_normalize)["wer"] <= 0.3, text


def test_pocketsphinx_returns_text_for_a_flite_utterance(tmp_path):
    _need("pocketsphinx")
    from tts.bench.asr import load_asr

    wav = load_audio(_flite(tmp_path, "slt", SENTENCE, "slt"), 16000)
    (text,) = load_asr({"backend": "pocketsphinx"}).transcribe([wav.numpy()])
    assert text.strip()


def test_resemblyzer_same_speaker_is_more_similar_than_different_speaker(tmp_path):
    _need("resemblyzer")
    from tts.bench.similarity import cosine, load_similarity

    a1 = _flite(tmp_path, "slt", SENTENCE, "slt1")
    a2 = _flite(tmp_path, "slt", "Glue the sheet to the dark blue background.", "slt2")
    b2 = _flite(tmp_path, "awb", "Glue the sheet to the dark blue background.", "awb2")
    enc = load_similarity({"backend": "resemblyzer"})
    e = enc.embed([load_audio(p, 16000) for p in (a1, a2, b2)])
    same, diff = cosine(e[0:1], e[1:2])[0], cosine(e[0:1], e[2:3])[0]
    assert same > diff + 0.1, (same, diff)


@pytest.mark.skipif(importlib.util.find_spec("resemblyzer") is None, reason="resemblyzer not installed")
def test_resemblyzer_embeds_speechless_audio_instead_of_a_constant():
    import numpy as np

    from tts.bench.similarity import load_similarity

    enc = load_similarity({"backend": "resemblyzer"})
    t = np.arange(32000) / 16000
    hum = (0.01 * np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    hiss = (0.01 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    a, b = enc.embed([hum, hiss])
    assert np.isfinite(a).all() and np.isfinite(b).all()
    assert not np.allclose(a, b, atol=1e-3)
