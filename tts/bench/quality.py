"""Intrusive quality of resynthesis against the original: wideband PESQ and STOI at 16 kHz."""

from __future__ import annotations

import numpy as np
import torch

SAMPLE_RATE = 16000


def _np(wav: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(wav, torch.Tensor):
        wav = wav.detach().float().cpu().numpy()
    return np.asarray(wav, dtype=np.float64).reshape(-1)


def pesq_stoi(ref: np.ndarray | torch.Tensor, deg: np.ndarray | torch.Tensor) -> dict:
    """{"pesq": wideband PESQ (-0.5..4.5), "stoi": STOI (0..1)} of ``deg`` vs ``ref``, both (T,) at 16 kHz.

    Both are cropped to the shorter length (codecs may pad to a hop multiple). A metric that fails
    (e.g. PESQ finds no speech) is None.
    """
    from pesq import pesq
    from pystoi import stoi

    ref, deg = _np(ref), _np(deg)
    n = min(len(ref), len(deg))
    ref, deg = ref[:n], deg[:n]
    out: dict = {}
    try:
        out["pesq"] = float(pesq(SAMPLE_RATE, ref, deg, "wb"))
    except Exception:
        out["pesq"] = None
    try:
        out["stoi"] = float(stoi(ref, deg, SAMPLE_RATE, extended=False))
    except Exception:
        out["stoi"] = None
    return out
