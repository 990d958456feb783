"""Speaker similarity (SIM-o): cosine between speaker embeddings of a generated utterance and its prompt.

Backends (``spec["backend"]``):
- ``resemblyzer`` (default, offline): the GE2E speaker encoder whose weights (pretrained.pt) ship in the
  resemblyzer wheel. The weights are sha256-checked and loaded with ``torch.load(weights_only=True)``
  (through tts.io.load_checkpoint) into resemblyzer's VoiceEncoder architecture; audio goes through
  resemblyzer's own preprocessing (volume normalization, VAD trimming of long silences).
- ``wavlm-ecapa``: the F5-TTS / Seed-TTS SIM-o model, UniSpeech's ECAPA_TDNN_SMALL on WavLM-large hidden
  states (implemented in tts.bench.ecapa on torchaudio's WavLM). Its weights are not shipped by any package:
  put UniSpeech's ``wavlm_large_finetune.pth`` (``{"model": state_dict}``) on disk and pass it as
  ``checkpoint``. It is loaded with ``torch.load(weights_only=True)`` and strictly (missing or unexpected
  keys are an error); nothing is downloaded. Each utterance is embedded on its own (no padding), as F5-TTS
  does, without VAD trimming. Numbers from the GE2E encoder are not comparable to published WavLM-ECAPA
  SIM values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from tts.audio import as_mono_float32
from tts.errors import TTSError
from tts.io import CheckpointError, load_checkpoint, sha256_file

RESEMBLYZER_SHA256 = "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"


class SimilarityError(TTSError, RuntimeError):
    """A speaker-similarity model that cannot be loaded."""


class SpeakerEncoder(Protocol):
    name: str

    def embed(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> np.ndarray:
        """L2-normalized embeddings (B, D) of mono waveforms (T,) at 16 kHz."""
        ...


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of (B, D) and (B, D) -> (B,)."""
    a = a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=-1, keepdims=True), 1e-12)
    return (a * b).sum(-1)


class ResemblyzerEncoder:
    """GE2E d-vector encoder (3-layer LSTM, 256-dim) from the resemblyzer wheel."""

    def __init__(
        self, weights: str | None = None, device: str = "cpu", name: str = "ge2e-resemblyzer"
    ) -> None:
        import resemblyzer
        from resemblyzer import VoiceEncoder, hparams

        path = Path(weights) if weights else Path(resemblyzer.__file__).parent / "pretrained.pt"
        if not path.is_file():
            raise SimilarityError(f"resemblyzer speaker-encoder weights not found: {path}")
        digest = sha256_file(path)
        if weights is None and digest != RESEMBLYZER_SHA256:
            raise SimilarityError(
                f"{path}: sha256 {digest} != expected {RESEMBLYZER_SHA256} (corrupt install?)"
            )
        # VoiceEncoder.__init__ calls torch.load without weights_only: build its layers here instead.
        encoder = VoiceEncoder.__new__(VoiceEncoder)
        torch.nn.Module.__init__(encoder)
        encoder.lstm = torch.nn.LSTM(
            hparams.mel_n_channels, hparams.model_hidden_size, hparams.model_num_layers, batch_first=True
        )
        encoder.linear = torch.nn.Linear(hparams.model_hidden_size, hparams.model_embedding_size)
        encoder.relu = torch.nn.ReLU()
        encoder.device = torch.device(device)
        state = load_checkpoint(path)["model_state"]
        # similarity_weight/bias belong to the GE2E training loss, not to the encoder.
        encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith("similarity_")})
        self.encoder = encoder.to(device).eval()
        self.name, self.model_path, self.model_sha256 = name, str(path), digest

    def embed(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> np.ndarray:
        from resemblyzer import preprocess_wav
        from resemblyzer.audio import normalize_volume

        out = []
        for wav in wavs:
            wav = as_mono_float32(wav)
            trimmed = preprocess_wav(wav)  # already 16 kHz: volume normalization + VAD trimming
            # VAD found (almost) no speech, e.g. babbling TTS output: embed the untrimmed, normalized audio
            # rather than an empty signal (whose embedding is the same constant for every input).
            wav = trimmed if len(trimmed) >= MIN_VAD_SAMPLES else normalize_volume(wav, -30, increase_only=True)
            with torch.inference_mode():
                out.append(self.encoder.embed_utterance(wav))
        return np.stack(out)


MIN_VAD_SAMPLES = 8000  # 0.5 s at 16 kHz


class WavLMECAPAEncoder:
    """WavLM-large + ECAPA-TDNN (256-dim) from UniSpeech's ``wavlm_large_finetune.pth`` (F5-TTS SIM-o).

    ``conv_strides`` / ``max_distance`` only matter for non-WavLM-large checkpoints (the tests' tiny models):
    they are the parts of the architecture that the state dict does not determine.
    """

    def __init__(
        self,
        checkpoint: str,
        device: str = "cpu",
        name: str = "wavlm-ecapa",
        conv_strides: Sequence[int] | None = None,
        max_distance: int | None = None,
    ) -> None:
        from tts.bench.ecapa import build_from_state, config_dict, read_checkpoint

        path = Path(checkpoint)
        state = read_checkpoint(path)  # CheckpointError if missing, truncated or not weights-only
        try:  # keys or shapes that do not fit the WavLM-ECAPA model
            model = build_from_state(state, conv_strides, max_distance, source=str(path))
        except CheckpointError as e:
            raise SimilarityError(str(e)) from e
        del state
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.config = config_dict(model.config)
        self.name, self.model_path, self.model_sha256 = name, str(path), sha256_file(path)

    def embed(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> np.ndarray:
        min_samples = self.model.config.min_samples
        out = []
        for wav in wavs:
            x = torch.from_numpy(as_mono_float32(wav))
            if len(x) < min_samples:  # under two WavLM frames (45 ms): zero-pad instead of failing
                x = torch.nn.functional.pad(x, (0, min_samples - len(x)))
            with torch.inference_mode():
                out.append(self.model(x[None].to(self.device))[0].float().cpu().numpy())
        if not out:
            return np.zeros((0, self.model.config.emb_dim), dtype=np.float32)
        emb = np.stack(out)
        return emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)


BACKENDS = {"resemblyzer": ResemblyzerEncoder, "wavlm-ecapa": WavLMECAPAEncoder}


def load_similarity(spec: dict) -> SpeakerEncoder:
    """Build the speaker encoder named by ``spec["backend"]``; the other keys are its arguments."""
    spec = dict(spec)
    backend = spec.pop("backend", "resemblyzer")
    if backend not in BACKENDS:
        raise SimilarityError(f"unknown similarity backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](**spec)
