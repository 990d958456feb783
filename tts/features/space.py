"""The interface every feature space implements (``tts.features``): waveforms <-> frame features."""

from __future__ import annotations

import torch
from torch import nn


class FeatureSpace(nn.Module):
    """Base class: ``encode`` (B, T) -> (B, N, dim), ``decode`` (B, N, dim) -> (B, T')."""

    name: str = ""
    sample_rate: int = 0
    frame_rate: float = 0.0
    dim: int = 0
    hop_length: int = 0

    def __init__(self, spec: str):
        super().__init__()
        self.spec = spec

    def n_frames(self, n_samples: int) -> int:
        """Frames that ``encode`` returns for ``n_samples`` samples."""
        raise NotImplementedError

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        for t in self.buffers():
            return t.device
        for p in self.parameters():
            return p.device
        return torch.device("cpu")
