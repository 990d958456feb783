"""Audio front end: load (soundfile), mono mix, resample (torchaudio), loudness, atomic save.

torchaudio 2.9's own load/save need torchcodec + FFmpeg, so I/O goes through soundfile and
torchaudio is used for transforms only.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tts.errors import TTSError
from tts.io import atomic_write


class AudioError(TTSError, ValueError):
    """Audio that cannot be used: unreadable, empty, silent or non-finite. Names the file."""


def as_mono_float32(wav: np.ndarray | torch.Tensor) -> np.ndarray:
    """A waveform (numpy or torch, any shape) as a contiguous float32 numpy vector."""
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().float().cpu().numpy()
    return np.ascontiguousarray(np.asarray(wav, dtype=np.float32).reshape(-1))


def _check_file(path: Path) -> None:
    """AudioError naming what ``path`` is when it is not a non-empty regular file (missing, a directory, ...)."""
    try:
        st = os.stat(path)
    except OSError as e:
        what = {errno.ENOENT: "file not found", errno.ELOOP: "symbolic link loop (the link points back at itself)",
                errno.EACCES: "permission denied", errno.ENOTDIR: "a parent of it is not a directory"}  # fmt: skip
        raise AudioError(f"{path}: {what.get(e.errno, e.strerror or str(e))}") from None
    except ValueError as e:  # a NUL byte in the path
        raise AudioError(f"{path!r}: not a usable path ({e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise AudioError(f"{path}: not a regular file (a device, pipe or socket), not an audio file")
    if st.st_size == 0:
        raise AudioError(f"{path}: empty audio (0-byte file)")


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float32 (frames, channels) and its sample rate; AudioError names the file."""
    path = Path(path)
    _check_file(path)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(f"{path}: unreadable audio ({type(e).__name__}: {e})") from e
    return data, int(sr)


def audio_duration(path: str | Path) -> float:
    """Seconds of audio in ``path`` read from its header (nothing decoded); AudioError names the file."""
    path = Path(path)
    _check_file(path)
    try:
        info = sf.info(str(path))
    except Exception as e:
        raise AudioError(f"{path}: unreadable audio ({type(e).__name__}: {e})") from e
    return info.frames / info.samplerate


@lru_cache(maxsize=32)
def _resampler(sr_in: int, sr_out: int):
    import torchaudio

    return torchaudio.transforms.Resample(sr_in, sr_out)


def resample(wav: torch.Tensor, sr_in: int, sr_out: int) -> torch.Tensor:
    """Band-limited (sinc) resampling along the last dim; identity when rates match."""
    if sr_in == sr_out:
        return wav
    return _resampler(int(sr_in), int(sr_out)).to(wav.device)(wav)


def check_audio(wav: torch.Tensor, where: str, silence_rms: float = 1e-4) -> None:
    """Raise AudioError for empty, non-finite or silent audio."""
    if wav.numel() == 0:
        raise AudioError(f"{where}: empty audio (0 samples)")
    if not torch.isfinite(wav).all():
        raise AudioError(f"{where}: audio contains NaN or inf")
    if wav.pow(2).mean().sqrt().item() < silence_rms:
        raise AudioError(f"{where}: silent audio (RMS below {silence_rms:g})")


def normalize_loudness(wav: torch.Tensor, target_dbfs: float = -20.0, peak: float = 0.99) -> torch.Tensor:
    """Scale to a target RMS level in dBFS, then limit the peak to ``peak``."""
    rms = wav.pow(2).mean().sqrt().clamp_min(1e-8)
    out = wav * (10 ** (target_dbfs / 20) / rms)
    top = out.abs().max().clamp_min(1e-8)
    return out * min(1.0, peak / top.item())


def load_audio(
    path: str | Path,
    sample_rate: int,
    loudness_dbfs: float | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Load ``path`` as a mono float32 tensor (T,) at ``sample_rate``."""
    data, sr = read_audio(path)
    wav = torch.from_numpy(data.mean(axis=1))
    if check:
        check_audio(wav, str(path))
    wav = resample(wav, sr, sample_rate)
    if loudness_dbfs is not None:
        wav = normalize_loudness(wav, loudness_dbfs)
    return wav


def save_audio(path: str | Path, wav: torch.Tensor | np.ndarray, sample_rate: int) -> Path:
    """Write 16-bit PCM wav atomically (temp file + rename).

    The wav is encoded in memory and written with plain file I/O, so a full disk is an ``OSError`` with
    ``errno.ENOSPC`` (libsndfile would report it only as "System error").
    """
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().float().cpu().numpy()
    wav = np.clip(np.asarray(wav, dtype=np.float32).reshape(-1), -1.0, 1.0)
    buf = io.BytesIO()
    sf.write(buf, wav, sample_rate, subtype="PCM_16", format="WAV")
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(buf.getvalue()))
