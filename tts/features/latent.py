"""VAE latent feature space: 64-dim latents at 40 Hz from ``tts.vae``, optionally normalized."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn

from tts.features.space import FeatureSpace

LATENT_DIM = 64
LATENT_FRAME_RATE = 40.0
LATENT_SAMPLE_RATE = 16000


class LatentSpace(FeatureSpace):
    """(B, T) at 16 kHz -> (B, N, 64) with N = ceil(T / 400); decode inverts through the VAE decoder.

    Args:
        vae: a module with ``encode(wav (B, T)) -> (mean, logvar)`` each (B, 64, N), ``sample(mean, logvar)``,
            ``decode(z (B, 64, N)) -> (B, N * hop)`` and ``sample_rate``, ``hop_length``, ``latent_dim``.
        stats: path to ``{"mean": [64], "std": [64]}``; features are (z - mean) / std when given.
        sample: use a reparameterized sample z (the paper's TTS features) instead of the mean.
    """

    name = "latent"

    def __init__(
        self, vae: nn.Module, stats: str | Path | None = None, sample: bool = False, spec: str = "latent"
    ):
        super().__init__(spec)
        self.vae = vae.eval().requires_grad_(False)
        self.sample_rate = int(getattr(vae, "sample_rate", LATENT_SAMPLE_RATE))
        self.hop_length = int(getattr(vae, "hop_length", 400))
        self.dim = int(getattr(vae, "latent_dim", LATENT_DIM))
        self.frame_rate = self.sample_rate / self.hop_length
        self.sample = sample
        mean, std = torch.zeros(self.dim), torch.ones(self.dim)
        if stats is not None:
            d = json.loads(Path(stats).read_text())
            mean, std = (
                torch.tensor(d["mean"], dtype=torch.float32),
                torch.tensor(d["std"], dtype=torch.float32),
            )
            if mean.shape != (self.dim,) or std.shape != (self.dim,):
                raise ValueError(f"{stats}: mean/std must have {self.dim} values, got {tuple(mean.shape)}")
        self.register_buffer("feat_mean", mean, persistent=False)
        self.register_buffer("feat_std", std.clamp_min(1e-5), persistent=False)

    def n_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self.hop_length)

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) at 16 kHz -> (B, N, 64)."""
        mean, logvar = self.vae.encode(wav)
        z = self.vae.sample(mean, logvar) if self.sample else mean
        return (z.transpose(1, 2) - self.feat_mean) / self.feat_std

    @torch.no_grad()
    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, N, 64) -> (B, N * 400) at 16 kHz."""
        z = feats * self.feat_std + self.feat_mean
        return self.vae.decode(z.transpose(1, 2))
