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

from tts.data.alignment import frames_from_durations

# The speaking-rate input (``prompt_rate``): the prompt's log frames per token, from a random prefix of each
# training utterance (PROMPT_SHARE of its tokens, as the DiT's infilling leaves 0-30% of the frames as prompt).
PROMPT_SHARE = (0.1, 0.5)


class DurationPredictor(nn.Module):
    """Token ids (B, K), filler 0 = padding[, the prompt's log frames per token (B,)] -> log(1 + frames) (B, K).

    ``prompt_rate``: the prompt's speaking rate is an input (added to every token's embedding through a
    linear map), so the same text is predicted slower for a slow speaker's prompt than for a fast one's: a
    many-speaker model speaks at its prompt's rate. Without it the predictor learns the corpus' average rate.
    """

    def __init__(
        self,
        vocab_size: int,
        dim: int = 128,
        layers: int = 2,
        kernel_size: int = 3,
        dropout: float = 0.1,
        prompt_rate: bool = False,
    ):
        super().__init__()
        self.args = dict(
            vocab_size=vocab_size, dim=dim, layers=layers, kernel_size=kernel_size, dropout=dropout
        )
        if prompt_rate:  # absent from the args of models without it, so their exports read as before
            self.args["prompt_rate"] = True
        self.rate = nn.Linear(1, dim) if prompt_rate else None
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        self.proj = nn.Linear(dim, 1)

    def forward(
        self, ids: torch.Tensor, mask: torch.Tensor | None = None, log_rate: torch.Tensor | None = None
    ) -> torch.Tensor:
        mask = (ids != 0) if mask is None else mask
        keep = mask.unsqueeze(-1).to(self.embed.weight.dtype)
        x = self.embed(ids)
        if self.rate is not None:
            if log_rate is None:
                raise ValueError("this duration predictor needs the prompt's rate (log frames per token)")
            x = x + self.rate(log_rate.to(x.dtype).view(-1, 1, 1))
        x = x * keep
        for conv, norm in zip(self.convs, self.norms):
            x = conv(x.transpose(1, 2)).transpose(1, 2)
            x = self.dropout(norm(F.relu(x))) * keep
        return self.proj(x).squeeze(-1)

    def loss(
        self,
        ids: torch.Tensor,
        frames: torch.Tensor,
        mask: torch.Tensor,
        kind: str = "l2",
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Masked mean L2 / L1 between predicted and true log(1 + frames); with ``prompt_rate`` the rate of a
        random prefix of each utterance (``PROMPT_SHARE`` of its tokens) is the input."""
        log_rate = prefix_log_rate(frames, mask, generator) if self.rate is not None else None
        pred = self(ids, mask, log_rate).float()
        target = torch.log1p(frames.float())
        err = (pred - target).pow(2) if kind == "l2" else (pred - target).abs()
        m = mask.to(err.dtype)
        return (err * m).sum() / m.sum().clamp_min(1.0)

    @torch.no_grad()
    def frames(self, ids: torch.Tensor, rate: float | None = None) -> torch.Tensor:
        """Predicted real-valued frames per token (K,) for one utterance's ids (K,); ``rate``: the prompt's
        frames per token (used by a ``prompt_rate`` predictor)."""
        device = self.embed.weight.device
        log_rate = None if rate is None else log_frames_per_token(torch.tensor([float(rate)], device=device))
        log_d = self(ids.unsqueeze(0).to(device), None, log_rate)[0].float()
        return torch.expm1(log_d).clamp(min=0).cpu()


def log_frames_per_token(rate: torch.Tensor) -> torch.Tensor:
    """The rate input: log of frames per token, floored at 0.1 frame (a prefix of sub-frame tokens)."""
    return rate.clamp_min(0.1).log()


def prefix_log_rate(
    frames: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """(B,) log frames per token over a random prefix of each utterance's tokens (``PROMPT_SHARE``, >= 1
    token): the speaking rate a prompt shows, drawn as the DiT's infilling draws its prompt."""
    n_tok = mask.sum(1).clamp_min(1)
    lo, hi = PROMPT_SHARE
    share = lo + (hi - lo) * torch.rand(n_tok.shape, generator=generator, device=n_tok.device)
    k = (share * n_tok).round().long().clamp(min=1)
    k = torch.minimum(k, n_tok)
    prefix = frames.float().masked_fill(~mask, 0).cumsum(1).gather(1, (k - 1).unsqueeze(1)).squeeze(1)
    return log_frames_per_token(prefix / k)


def predict_counts(
    predictor: DurationPredictor,
    prompt_ids: list[int],
    gen_ids: list[int],
    n_prompt: int,
    speed: float = 1.0,
    prompt_counts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frames per token for the prompt and the generated text.

    The predictor runs over prompt + generated tokens together (its convolutions see the context; a
    ``prompt_rate`` predictor also the prompt's frames per token). The prompt's counts are rescaled to its actual ``n_prompt`` frames (unless ``prompt_counts`` gives them);
    the generated counts are divided by ``speed`` and cumulatively rounded, at least one frame in all.
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0, got {speed}")
    k = len(prompt_ids)
    rate = n_prompt / max(k, 1) if predictor.rate is not None else None  # the prompt's frames per token
    d = predictor.frames(torch.tensor(prompt_ids + gen_ids, dtype=torch.long), rate)
    pc = prompt_counts if prompt_counts is not None else frames_from_durations(d[:k], total=n_prompt)
    gc = frames_from_durations(d[k:] / speed)
    if int(gc.sum()) == 0:
        gc[0] = 1
    return pc, gc
