"""Export-friendly forms of the networks ``tts export onnx`` writes: the same parameters and math as the torch
modules, written so that the TorchScript ONNX exporter traces them with dynamic batch and length axes.

What differs from the torch modules, and why it is the same math:
- DiT (``ContextGraph`` + ``StepGraph``): built from the plain layers (``DiT(fast=False)``, the same
  state_dict as the fast ones; the fast path's oneDNN private ops and in-place updates do not export). The text
  encoder runs over all N frames with the text filler-padded to N (the torch path runs it over the characters
  and adds the all-filler tail in closed form, ``tts.f5.dit.TextEncoder``: equal to float rounding), and a mask
  is always given (all True for a full batch, where the torch path passes None: the same values).
- Inverse STFT (``OverlapAddISTFT``, the iSTFT heads of the VAE's Vocos-style decoder and of Vocos): ONNX has
  no complex tensors, so ``irfft`` is a real matrix product with the inverse-DFT basis (window folded in) and the
  overlap-add a sum of shifted, padded frame slices (``fold`` / ``torch.istft`` in torch).
- Mel front ends (``MelFront``: the prompt's log-mel of ``MelSpace`` and of the VAE's ``MelEncoder``): the STFT
  is a strided convolution with the windowed DFT basis (torchaudio calls ``torch.stft``), magnitude
  ``sqrt(re^2 + im^2)``, then the same mel filterbank matrix.

Shapes: B batch, N frames, D feature dim, H model dim, K tokens.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tts.f5.dit import DiT, text_positions


class ContextGraph(nn.Module):
    """The DiT's step-invariant context with CFG: cond (B, N, D) (zero past the prompt), frame text ids (B, N)
    (filler 0 past the text), mask (B, N) bool valid frames -> (2B, N, H): conditional rows, then unconditional
    ones (audio and text dropped, ``null_text`` as the model was trained); ``DiT.sampling_context(cfg=True)``."""

    def __init__(self, net: DiT):
        super().__init__()
        self.net = net

    def forward(self, cond: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        net, enc = self.net, self.net.text_encoder
        n = cond.shape[1]
        text = text.masked_fill(~mask, 0)
        keep_ids = text != 0  # F5-TTS: the filler mask before the text is dropped
        null_keep = keep_ids if net.null_text == "f5" else torch.zeros_like(keep_ids)
        text2 = torch.cat((text, torch.zeros_like(text)), dim=0)
        dtype = enc.embed.weight.dtype
        keep = torch.cat((keep_ids, null_keep), dim=0).unsqueeze(-1).to(dtype)
        if len(enc.blocks) == 0:
            x = enc.embed(text2) * keep
        else:
            x = (enc.embed(text2) + text_positions(n, enc.text_dim, text.device).to(dtype)) * keep
            frames = torch.cat((mask, mask), dim=0).unsqueeze(-1).to(dtype)
            for block in enc.blocks:
                x = block(x, frames, None) * keep
        d, w = net.feat_dim, net.input_proj.weight
        cond2 = torch.cat((cond, torch.zeros_like(cond)), dim=0)
        return F.linear(cond2, w[:, d : 2 * d], net.input_proj.bias) + F.linear(x, w[:, 2 * d :])


class StepGraph(nn.Module):
    """One network evaluation of the sampler: x (B, N, D), context (kB, N, H) (k = 2 with CFG), t (1,),
    mask (kB, N) bool -> flow (kB, N, D); ``DiT.forward_context``."""

    def __init__(self, net: DiT):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor, context: torch.Tensor, t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        net = self.net
        b, n = x.shape[0], x.shape[1]
        h = F.linear(x, net.input_proj.weight[:, : net.feat_dim])
        h = (context.reshape(-1, b, n, net.dim) + h.unsqueeze(0)).reshape(-1, n, net.dim)
        h = net.conv_pos(h, mask) + h
        temb = net.time_embed(t)
        rope = net.rotary(n, h.dtype)
        attn_mask = mask[:, None, None, :]
        for block in net.blocks:
            h = block(h, temb, rope, attn_mask)
        shift, scale = net.modulation_out(temb).unsqueeze(1).chunk(2, dim=-1)
        return net.proj_out(net.modulate(net.norm_out, h, shift, scale))


class DurationGraph(nn.Module):
    """Token ids (1, K)[, the prompt's log frames per token (1,)] -> log(1 + frames) (1, K)
    (``tts.f5.duration.DurationPredictor``)."""

    def __init__(self, predictor: nn.Module):
        super().__init__()
        self.predictor = predictor

    def forward(self, ids: torch.Tensor, log_rate: torch.Tensor | None = None) -> torch.Tensor:
        return self.predictor(ids, None, log_rate)


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """(B, W, N) frames of W = R * hop samples -> (B, (N - 1) * hop + W): each frame added at ``n * hop``
    (``F.fold`` with stride ``hop``), as R shifted, zero-padded sums."""
    b, w, n = frames.shape[0], frames.shape[1], frames.shape[2]
    r = w // hop
    parts = frames.reshape(b, r, hop, n).permute(0, 1, 3, 2)  # (B, R, N, hop)
    out = None
    for i in range(r):
        part = F.pad(parts[:, i], (0, 0, i, r - 1 - i))  # (B, N + R - 1, hop)
        out = part if out is None else out + part
    return out.reshape(b, -1)


class OverlapAddISTFT(nn.Module):
    """Inverse STFT of (log-magnitude-free) magnitude and phase (B, F, N), F = n_fft / 2 + 1 -> (B, L):
    ``irfft`` (norm "backward") times ``window``, overlap-added with stride ``hop``, divided by the window's
    squared overlap-add, ``trim`` samples cut at each end (VAE head / Vocos "same": (n_fft - hop) / 2; Vocos
    "center": n_fft / 2). ``n_fft`` must be a multiple of ``hop`` (both heads here: 4 hops)."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor, trim: int, clamp_envelope: bool):
        super().__init__()
        if n_fft % hop:
            raise ValueError(f"ONNX iSTFT needs n_fft a multiple of hop, got {n_fft}, {hop}")
        self.n_fft, self.hop, self.trim, self.clamp_envelope = n_fft, hop, trim, clamp_envelope
        n_freq = n_fft // 2 + 1
        k = torch.arange(n_freq, dtype=torch.float64)[:, None]
        t = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * t / n_fft
        scale = torch.full((n_freq, 1), 2.0, dtype=torch.float64)
        scale[0] = 1.0
        if n_fft % 2 == 0:
            scale[-1] = 1.0
        win = window.double()[None, :]
        # irfft drops the imaginary part of the DC (and Nyquist) bin: sin(0) = sin(pi t) = 0 there
        sin = torch.sin(angle)
        sin[0] = 0.0
        if n_fft % 2 == 0:
            sin[-1] = 0.0
        self.register_buffer("basis_cos", (scale * torch.cos(angle) / n_fft * win).T.float().contiguous())
        self.register_buffer("basis_sin", (-scale * sin / n_fft * win).T.float().contiguous())
        self.register_buffer("window_sq", window.float().square())

    def forward(self, mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        frames = torch.matmul(self.basis_cos, mag * torch.cos(phase)) + torch.matmul(
            self.basis_sin, mag * torch.sin(phase)
        )  # (B, n_fft, N)
        wav = overlap_add(frames, self.hop)
        n = mag.shape[2]
        env = overlap_add(self.window_sq.view(1, -1, 1).expand(1, self.n_fft, n), self.hop)
        if self.clamp_envelope:
            env = env.clamp(min=1e-11)
        end = wav.shape[1] - self.trim
        return wav[:, self.trim : end] / env[:, self.trim : end]


def _static_snakes(decoder: nn.Module) -> nn.Module:
    """A copy of ``decoder`` whose anti-aliased Snakes take their channel count from their parameters instead of
    the input's shape (the exporter needs the filter's shape as a constant): the same math."""
    import copy

    from tts.vae.model import AntiAliasedSnake

    class StaticAntiAliasedSnake(AntiAliasedSnake):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            channels, k = self.act.log_alpha.shape[1], self.kernel_size
            filt = self.filt.to(x.dtype).expand(channels, -1, -1)
            pad = k // 2 - 1
            up = F.conv_transpose1d(F.pad(x, (pad, pad), mode="replicate"), filt, stride=2, groups=channels)
            crop = pad * 2 + (k - 2) // 2
            up = 2 * up[..., crop : up.shape[-1] - crop]
            y = self.act(up)
            y = F.pad(y, (k // 2 - 1, k // 2), mode="replicate")
            return F.conv1d(y, filt, stride=2, groups=channels)

    decoder = copy.deepcopy(decoder)
    for m in decoder.modules():
        if type(m) is AntiAliasedSnake:
            m.__class__ = StaticAntiAliasedSnake
    return decoder


class VAEDecoderGraph(nn.Module):
    """VAE latents z (B, N, 64) (not normalized) -> waveform (B, N * hop): ``SpeechVAE.decode``."""

    def __init__(self, decoder: nn.Module):
        super().__init__()
        from tts.vae.model import BigVGANDecoder, VocosDecoder

        self.decoder = _static_snakes(decoder) if isinstance(decoder, BigVGANDecoder) else decoder
        self.istft = None
        if isinstance(decoder, VocosDecoder):
            head = decoder.head
            self.istft = OverlapAddISTFT(head.n_fft, head.hop_length, head.window,
                                         (head.n_fft - head.hop_length) // 2, clamp_envelope=True)  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.istft is None:  # BigVGAN: convolutions only
            return self.decoder(z.transpose(1, 2))
        dec = self.decoder
        x = dec.norm(dec.embed(z.transpose(1, 2)).transpose(1, 2)).transpose(1, 2)
        for block in dec.blocks:
            x = block(x)
        log_mag, phase = dec.head.out(dec.final_norm(x.transpose(1, 2))).transpose(1, 2).chunk(2, dim=1)
        return self.istft(log_mag.exp().clamp(max=1e2), phase)


class VocosGraph(nn.Module):
    """Log-mel (B, N, 100) -> waveform at 24 kHz: ``vocos.Vocos.decode`` (backbone + iSTFT head)."""

    def __init__(self, vocos: nn.Module):
        super().__init__()
        head = vocos.head
        if type(head).__name__ != "ISTFTHead":
            raise ValueError(f"ONNX export supports Vocos with an ISTFTHead, not {type(head).__name__}")
        ist = head.istft
        trim = ist.n_fft // 2 if ist.padding == "center" else (ist.win_length - ist.hop_length) // 2
        self.backbone, self.out = vocos.backbone, head.out
        self.istft = OverlapAddISTFT(ist.n_fft, ist.hop_length, ist.window, trim, clamp_envelope=False)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        x = self.out(self.backbone(feats.transpose(1, 2))).transpose(1, 2)
        log_mag, phase = x.chunk(2, dim=1)
        return self.istft(log_mag.exp().clip(max=1e2), phase)


class MelFront(nn.Module):
    """Waveform (B, T) -> log-mel (B, n_mels, T // hop + 1): reflect-padded (center) STFT with a periodic Hann
    window as a strided convolution, magnitude (power 1), the mel filterbank ``fb`` (n_freq, n_mels), log of the
    magnitude clamped at ``floor``. torchaudio's ``MelSpectrogram(power=1, center=True)`` + ``clamp().log()``."""

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor, fb: torch.Tensor, floor: float = 1e-5):
        super().__init__()
        self.n_fft, self.hop, self.floor = n_fft, hop, floor
        n_freq = n_fft // 2 + 1
        k = torch.arange(n_freq, dtype=torch.float64)[:, None]
        t = torch.arange(n_fft, dtype=torch.float64)[None, :]
        angle = 2 * math.pi * k * t / n_fft
        win = window.double()[None, :]
        basis = torch.cat((torch.cos(angle) * win, -torch.sin(angle) * win), dim=0)  # (2F, n_fft)
        self.register_buffer("basis", basis.float().unsqueeze(1).contiguous())
        self.register_buffer("fb", fb.float().T.contiguous())  # (n_mels, F)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        pad = self.n_fft // 2
        x = F.pad(wav.unsqueeze(1), (pad, pad), mode="reflect")
        spec = F.conv1d(x, self.basis, stride=self.hop)  # (B, 2F, frames)
        re, im = spec.chunk(2, dim=1)
        mag = torch.sqrt(re * re + im * im)
        return torch.matmul(self.fb, mag).clamp(min=self.floor).log()


def mel_front(mel) -> MelFront:
    """``MelFront`` of a torchaudio ``MelSpectrogram`` (power 1, center, reflect padding, no normalization)."""
    spec, scale = mel.spectrogram, mel.mel_scale
    if spec.power != 1 or not spec.center or spec.pad_mode != "reflect" or spec.normalized or spec.pad:
        raise ValueError("ONNX export supports magnitude (power 1), centered, reflect-padded, unnormalized mels")
    if spec.win_length != spec.n_fft:
        raise ValueError(f"ONNX export needs win_length == n_fft, got {spec.win_length}, {spec.n_fft}")
    return MelFront(spec.n_fft, spec.hop_length, spec.window, scale.fb)


class MelSpaceEncoderGraph(nn.Module):
    """Prompt waveform (1, T) at 24 kHz -> log-mel features (1, T // 256 + 1, 100): ``MelSpace.encode``."""

    def __init__(self, space):
        super().__init__()
        self.front = mel_front(space.mel)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.front(wav).transpose(1, 2)


class VAEEncoderGraph(nn.Module):
    """Prompt waveform (1, T) at 16 kHz, T a multiple of the hop (the runtime zero-pads it, as
    ``SpeechVAE.encode`` does) -> (mean, logvar) each (1, T / hop, 64): ``SpeechVAE.encode``, transposed."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        from tts.vae.model import MelEncoder

        self.encoder = encoder
        self.front = mel_front(encoder.mel) if isinstance(encoder, MelEncoder) else None

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc = self.encoder
        if self.front is None:  # the DAC-style waveform encoder: convolutions (+ attention bottleneck)
            mean, logvar = enc(wav.unsqueeze(1))
        else:  # MelEncoder.forward with the ONNX mel: 2 * T / hop mel frames (its last, T / (hop / 2) + 1-th, cut)
            mel = self.front(wav)
            mean, logvar = enc.from_log_mel(mel[:, :, : mel.shape[2] - 1])
        return mean.transpose(1, 2), logvar.transpose(1, 2)
