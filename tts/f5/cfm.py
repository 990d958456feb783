"""Conditional flow matching around a DiT: the infilling training loss and the ODE sampler.

Training (F5-TTS): x1 = features, x0 ~ N(0, I), t ~ U(0, 1), x_t = (1 - t) x0 + t x1, target x1 - x0.
A random contiguous span of 70-100% of each utterance's valid frames is masked; the network sees the
audio outside the span (cond) and must infill it; the loss is the MSE on the masked frames only.
Classifier-free guidance dropout per utterance: the audio cond is dropped with p=0.3, and audio + text
together with p=0.2 (as F5-TTS draws it, but per utterance instead of per batch).

Sampling: Euler or midpoint over a sway-sampled time grid (F5-TTS' pruned grids for 5-16 steps, EPSS),
CFG with the conditional and unconditional passes packed into one batch, the text/cond context computed
once per utterance, per-utterance seeded noise (batched results equal unbatched ones).

Known differences from F5-TTS (none changes a single-utterance result; ``tests/test_f5_reference.py``):
- ``nfe`` counts network evaluations: midpoint takes nfe // 2 steps (F5-TTS' ``nfe_step`` counts steps);
- CFG dropout is drawn per utterance (F5-TTS: one draw per batch);
- batches: padded frames are masked as attention keys and left out of the text encoder's response norm
  (F5-TTS v1 attends to padded keys, ``attn_mask_enabled=False``, and normalizes over the padding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from tts.f5.dit import DiT
from tts.text import utf8_len


def lens_to_mask(lens: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """(B,) lengths -> (B, N) bool, True on valid frames."""
    n = int(lens.max()) if n is None else n
    return torch.arange(n, device=lens.device).unsqueeze(0) < lens.unsqueeze(1)


def span_mask(
    lens: torch.Tensor,
    n: int,
    frac_lengths: tuple[float, float] = (0.7, 1.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(B,) valid lengths -> (B, N) bool: one contiguous span of frac ~ U(frac_lengths) of each length."""
    b = lens.shape[0]
    lo, hi = frac_lengths
    frac = lo + (hi - lo) * torch.rand(b, generator=generator, device=lens.device)
    span = (frac * lens).long().clamp(min=1)
    start = (torch.rand(b, generator=generator, device=lens.device) * (lens - span + 1)).long()
    start = torch.minimum(start, lens - span)
    pos = torch.arange(n, device=lens.device).unsqueeze(0)
    return (pos >= start.unsqueeze(1)) & (pos < (start + span).unsqueeze(1))


def flow_loss(pred: torch.Tensor, target: torch.Tensor, loss_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the frames where ``loss_mask`` (B, N) is True; pred, target (B, N, D)."""
    m = loss_mask.unsqueeze(-1).to(pred.dtype)
    return ((pred - target).pow(2) * m).sum() / (m.sum() * pred.shape[-1]).clamp_min(1.0)


# Empirically pruned step sampling (F5-TTS ``get_epss_timesteps``): for these step counts the grid is
# these multiples of 1/32 (then sway-sampled like the even grid), instead of an even grid.
EPSS_GRIDS = {
    5: (0, 2, 4, 8, 16, 32),
    6: (0, 2, 4, 6, 8, 16, 32),
    7: (0, 2, 4, 6, 8, 16, 24, 32),
    10: (0, 2, 4, 6, 8, 12, 16, 20, 24, 28, 32),
    12: (0, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32),
    16: (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32),
}


def sway_timesteps(
    steps: int, sway: float | None = -1.0, device: torch.device | str = "cpu", epss: bool = False
) -> torch.Tensor:
    """(steps + 1,) time grid from 0 to 1 with sway sampling t + s (cos(pi t / 2) - 1 + t).

    ``epss``: for 5, 6, 7, 10, 12 or 16 steps start from F5-TTS' pruned grid (``EPSS_GRIDS``) instead of
    the even one (other step counts: the even grid).
    """
    if epss and steps in EPSS_GRIDS:
        t = torch.tensor(EPSS_GRIDS[steps], dtype=torch.float32, device=device) / 32
    else:
        t = torch.linspace(0, 1, steps + 1, device=device)
    if sway:
        t = t + sway * (torch.cos(math.pi / 2 * t) - 1 + t)
    return t


def estimate_frames(
    ref_frames: int,
    ref_text: str,
    gen_text: str,
    speed: float = 1.0,
    duration_s: float | None = None,
    frame_rate: float | None = None,
) -> int:
    """Total frames (prompt + generated) of an utterance.

    F5-TTS rule (``utils_infer.infer_batch_process``): ``ref + int(ref / ref_bytes * utf8_len(gen_text) /
    speed)`` where ``ref_bytes`` counts ``ref_text + " "`` when its last character is one UTF-8 byte (the
    space F5-TTS appends before the generated text); with ``duration_s`` (seconds of generated speech,
    e.g. the ground truth length) the generated part is ``round(duration_s * frame_rate)`` instead.
    (F5-TTS' app also forces speed 0.3 for texts under 10 bytes; not done here.)
    """
    if duration_s is not None:
        if frame_rate is None:
            raise ValueError("duration_s needs frame_rate")
        return ref_frames + max(1, round(duration_s * frame_rate))
    ref_bytes = utf8_len(ref_text) + (1 if ref_text and utf8_len(ref_text[-1]) == 1 else 0)
    return ref_frames + max(1, int(ref_frames / max(1, ref_bytes) * utf8_len(gen_text) / speed))


PROMPT_RMS = 0.1  # F5-TTS' target_rms


def prompt_gain(wav: torch.Tensor, target_rms: float = PROMPT_RMS) -> float:
    """Gain for a prompt waveform as F5-TTS applies it: a prompt quieter than RMS ``target_rms`` is raised
    to it (the model saw normalized speech), and the generated audio is scaled back by ``1 / gain`` so
    the output keeps the prompt's loudness. Louder prompts (and digital silence) are left as they are: 1."""
    rms = float(wav.float().square().mean().sqrt())
    return target_rms / rms if 0.0 < rms < target_rms else 1.0


class CFM(nn.Module):
    """Flow-matching wrapper: ``forward`` = training loss, ``sample`` = ODE sampler with CFG.

    Args:
        net: the DiT.
        audio_drop_prob: probability to drop the audio condition (CFG), 0.3 in F5-TTS.
        cond_drop_prob: probability to drop audio and text together, 0.2 in F5-TTS.
        frac_lengths: range of the masked span as a fraction of the valid length.
    """

    def __init__(
        self,
        net: DiT,
        audio_drop_prob: float = 0.3,
        cond_drop_prob: float = 0.2,
        frac_lengths: tuple[float, float] = (0.7, 1.0),
    ):
        super().__init__()
        self.net = net
        self.audio_drop_prob = audio_drop_prob
        self.cond_drop_prob = cond_drop_prob
        self.frac_lengths = tuple(frac_lengths)

    def drop_flags(
        self, batch: int, device: torch.device | str = "cpu", generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-utterance CFG dropout: (drop_audio (B,), drop_text (B,)) bool; text only drops with audio."""
        u = torch.rand(2, batch, generator=generator, device=device)
        drop_text = u[1] < self.cond_drop_prob
        drop_audio = (u[0] < self.audio_drop_prob) | drop_text
        return drop_audio, drop_text

    def forward(
        self,
        feats: torch.Tensor,
        feat_lens: torch.Tensor,
        text: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """feats (B, N, D) zero-padded, feat_lens (B,), text ids (B, Nt) -> (loss, extras).

        extras: ``loss_mask`` (B, N) masked valid frames, ``pred`` and ``target`` (B, N, D).
        """
        b, n, _ = feats.shape
        device = feats.device
        valid = lens_to_mask(feat_lens, n)
        loss_mask = span_mask(feat_lens, n, self.frac_lengths, generator) & valid
        x1 = feats
        x0 = torch.randn(feats.shape, generator=generator, device=device, dtype=feats.dtype)
        t = torch.rand(b, generator=generator, device=device, dtype=feats.dtype)
        x_t = torch.lerp(x0, x1, t[:, None, None])
        target = x1 - x0
        cond = x1.masked_fill(loss_mask.unsqueeze(-1), 0.0)
        drop_audio, drop_text = self.drop_flags(b, device, generator)
        mask = None if bool((feat_lens == n).all()) else valid
        pred = self.net(x_t, cond, text, t, mask=mask, drop_audio=drop_audio, drop_text=drop_text)
        loss = flow_loss(pred, target, loss_mask)
        return loss, {"loss_mask": loss_mask, "pred": pred, "target": target}

    @torch.inference_mode()
    def sample(
        self,
        cond: torch.Tensor,
        cond_lens: torch.Tensor,
        text: torch.Tensor,
        total_lens: torch.Tensor,
        nfe: int = 32,
        cfg: float = 2.0,
        sway: float | None = -1.0,
        method: str = "euler",
        seeds: int | Sequence[int] = 0,
        epss: bool = True,
    ) -> torch.Tensor:
        """Generate features around a prompt.

        Args:
            cond: prompt features (B, Nc, D), zero-padded; cond_lens (B,) their lengths.
            text: ids (B, Nt) of prompt text + target text, filler-padded.
            total_lens: (B,) frames of prompt + generated speech.
            nfe: network evaluations (each one packed CFG batch): Euler takes nfe steps, midpoint nfe // 2.
            cfg: guidance strength (0 = no unconditional pass).
            sway: sway sampling coefficient (None / 0: none).
            epss: F5-TTS' empirically pruned step grids for 5/6/7/10/12/16 steps (its default, on), see
                ``sway_timesteps``; Euler steps = nfe, midpoint steps = nfe // 2.
            seeds: one seed, or one per utterance; the noise of an utterance depends only on its seed.
        Returns:
            (B, N, D) with N = max(total_lens); prompt frames = prompt; frames >= total_lens: padding.
        """
        if method not in ("euler", "midpoint"):
            raise ValueError(f"method must be 'euler' or 'midpoint', not {method!r}")
        net = self.net
        b, device = text.shape[0], text.device
        n = int(total_lens.max())
        dtype = next(net.parameters()).dtype
        valid = lens_to_mask(total_lens, n)
        mask = None if bool((total_lens == n).all()) else valid
        cond_mask = lens_to_mask(cond_lens.clamp(max=n), n).unsqueeze(-1)
        cond_full = torch.zeros(b, n, net.feat_dim, device=device, dtype=dtype)
        m = min(n, cond.shape[1])
        cond_full[:, :m] = cond[:, :m].to(dtype)
        cond_full = cond_full * cond_mask

        context = net.sampling_context(cond_full, text, mask, cfg=cfg > 0)  # once per utterance
        mask_in = mask if mask is None or cfg <= 0 else torch.cat((mask, mask), dim=0)

        def step(base: torch.Tensor, x: torch.Tensor, t: torch.Tensor, scale: float) -> torch.Tensor:
            """base + scale * v(t, x), with CFG v = (1 + cfg) v_cond - cfg v_uncond (no extra temporaries)."""
            out = net.forward_context(x, context, t.reshape(1), mask_in)  # one t for all rows
            if cfg <= 0:
                return torch.add(base, out, alpha=scale)
            v, v_null = out.chunk(2, dim=0)
            return torch.add(base, v, alpha=scale * (1 + cfg)).add_(v_null, alpha=-scale * cfg)

        if isinstance(seeds, int):
            seeds = [seeds] * b
        x = torch.zeros(b, n, net.feat_dim, device=device, dtype=dtype)
        for i, (seed, length) in enumerate(zip(seeds, total_lens.tolist())):
            g = torch.Generator().manual_seed(int(seed))
            x[i, :length] = torch.randn(length, net.feat_dim, generator=g).to(device, dtype)

        steps = nfe if method == "euler" else max(1, nfe // 2)
        ts = sway_timesteps(steps, sway, device, epss=epss).to(dtype)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            dt = float(t1 - t0)
            if method == "euler":
                x = step(x, x, t0, dt)
            else:
                x = step(x, step(x, x, t0, dt / 2), t0 + dt / 2, dt)
        return torch.where(cond_mask, cond_full, x)
