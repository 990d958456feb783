"""A small FastSpeech 2 style duration predictor: token ids -> log(1 + frames) per token.

Token embedding -> ``layers`` x [Conv1d(kernel) -> ReLU -> LayerNorm -> dropout] -> Linear(1), trained with
L2 (or L1) on log(1 + frames) over valid tokens. Frames are on the feature space's own grid (the same
counts the aligned DiT is conditioned on), so a mel model predicts 93.75 Hz frames and a latent model
40 Hz frames.

Why a head trained alongside the DiT (in ``F5Module``) rather than its own Lightning module: it needs
exactly the data the aligned DiT already loads (the same alignments, expanded on the same frame grid),
it travels in the same checkpoint and export with the vocabulary it was trained on, and there is no
extra pipeline stage. Its parameters are disjoint from the DiT's (own embedding, not the DiT's text
encoder), so the flow-matching gradients are untouched; it shares the AdamW and the LR schedule, and
costs a few percent of a DiT step. It is not averaged by the EMA: it converges quickly and the schedule
decays the learning rate to 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tts.f5.aligned import frames_from_durations


class DurationPredictor(nn.Module):
    """Token ids (B, K), filler 0 = padding -> log(1 + frames) (B, K)."""

    def __init__(
        self, vocab_size: int, dim: int = 128, layers: int = 2, kernel_size: int = 3, dropout: float = 0.1
    ):
        super().__init__()
        self.args = dict(
            vocab_size=vocab_size, dim=dim, layers=layers, kernel_size=kernel_size, dropout=dropout
        )
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, 1)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = (ids != 0) if mask is None else mask
        keep = mask.unsqueeze(-1).to(self.embed.weight.dtype)
        x = self.embed(ids) * keep
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x.transpose(1, 2)).transpose(1, 2)
            x = self.dropout(norm(F.relu(x))) * keep
        return self.proj(x).squeeze(-1)

    def loss(
        self, ids: torch.Tensor, frames: torch.Tensor, mask: torch.Tensor, kind: str = "l2"
    ) -> torch.Tensor:
        """Masked mean L2 / L1 between predicted and true log(1 + frames)."""
        pred = self(ids, mask).float()
        target = torch.log1p(frames.float())
        err = (pred - target).pow(2) if kind == "l2" else (pred - target).abs()
        m = mask.to(err.dtype)
        return (err * m).sum() / m.sum().clamp_min(1.0)

    @torch.no_grad()
    def frames(self, ids: torch.Tensor) -> torch.Tensor:
        """Predicted real-valued frames per token (K,) for one utterance's ids (K,)."""
        log_d = self(ids.unsqueeze(0).to(self.embed.weight.device))[0].float()
        return torch.expm1(log_d).clamp(min=0).cpu()


def predict_counts(
    predictor: DurationPredictor,
    prompt_ids: list[int],
    gen_ids: list[int],
    n_prompt: int,
    speed: float = 1.0,
    prompt_counts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frames per token for the prompt and the generated text.

    The predictor runs over prompt + generated tokens together (its convolutions see the context). The
    prompt's counts are rescaled to its actual ``n_prompt`` frames (unless ``prompt_counts`` gives them);
    the generated counts are divided by ``speed`` and cumulatively rounded, at least one frame in all.
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    d = predictor.frames(torch.tensor(prompt_ids + gen_ids, dtype=torch.long))
    k = len(prompt_ids)
    pc = prompt_counts if prompt_counts is not None else frames_from_durations(d[:k], total=n_prompt)
    gc = frames_from_durations(d[k:] / speed)
    if int(gc.sum()) == 0:
        gc[0] = 1
    return pc, gc
