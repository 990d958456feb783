"""Speech VAE networks: DAC-style and log-mel encoders, BigVGAN and Vocos-style decoders, the SpeechVAE wrapper.

16 kHz waveform -> 64-dim Gaussian latent at 40 Hz (hop 400 = strides 4*4*5*5) -> waveform.
Padding rule: ``encode`` right-pads the input with zeros to a multiple of 400 samples, so a (B, T)
input gives N = ceil(T / 400) frames, and ``decode`` of N frames returns exactly N * 400 samples
(1 s = 16000 samples -> 40 x 64 -> 16000 samples). Callers trim to T themselves.

The networks are plain ``nn.Module``s and load without Lightning (see ``tts.vae.load``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from tts.config import MODEL_FILE_CLASSES, records_init_args
from tts.config import instantiate as instantiate_spec


def wn_conv1d(*args, **kwargs) -> nn.Conv1d:
    return weight_norm(nn.Conv1d(*args, **kwargs))


class Snake(nn.Module):
    """SnakeBeta activation x + 1/beta * sin^2(alpha * x), per-channel log-scale alpha, beta. (B, C, T)."""

    def __init__(self, channels: int):
        super().__init__()
        self.log_alpha = nn.Parameter(torch.zeros(1, channels, 1))
        self.log_beta = nn.Parameter(torch.zeros(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = self.log_alpha.exp()
        beta = self.log_beta.exp()
        return x + (beta + 1e-9).reciprocal() * torch.sin(alpha * x).pow(2)


def kaiser_sinc_filter(cutoff: float, half_width: float, kernel_size: int) -> torch.Tensor:
    """Kaiser-windowed sinc low-pass filter (1, 1, kernel_size), as in BigVGAN's alias-free activation."""
    half = kernel_size // 2
    attenuation = 2.285 * (half - 1) * math.pi * 4 * half_width + 7.95
    if attenuation > 50:
        beta = 0.1102 * (attenuation - 8.7)
    elif attenuation >= 21:
        beta = 0.5842 * (attenuation - 21) ** 0.4 + 0.07886 * (attenuation - 21)
    else:
        beta = 0.0
    window = torch.kaiser_window(kernel_size, beta=beta, periodic=False)
    if kernel_size % 2 == 0:
        time = torch.arange(-half, half) + 0.5
    else:
        time = torch.arange(kernel_size) - half
    filt = 2 * cutoff * window * torch.sinc(2 * cutoff * time)
    return (filt / filt.sum()).view(1, 1, kernel_size)


class AntiAliasedSnake(nn.Module):
    """Snake applied at 2x the sample rate: upsample 2x (sinc), Snake, low-pass + downsample 2x. (B, C, T)."""

    kernel_size = 12

    def __init__(self, channels: int):
        super().__init__()
        self.act = Snake(channels)
        self.register_buffer("filt", kaiser_sinc_filter(0.25, 0.3, self.kernel_size), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels, k = x.shape[1], self.kernel_size
        filt = self.filt.to(x.dtype).expand(channels, -1, -1)
        pad = k // 2 - 1
        up = F.conv_transpose1d(F.pad(x, (pad, pad), mode="replicate"), filt, stride=2, groups=channels)
        crop = pad * 2 + (k - 2) // 2
        up = 2 * up[..., crop:-crop]
        y = self.act(up)
        y = F.pad(y, (k // 2 - 1, k // 2), mode="replicate")
        return F.conv1d(y, filt, stride=2, groups=channels)


class DACSnake(nn.Module):
    """DAC's Snake x + 1/alpha * sin^2(alpha * x): one linear-scale alpha per channel (init 1). (B, C, T)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)


ENCODER_ACTIVATIONS = {"snakebeta": Snake, "snake": DACSnake}


def snake(channels: int, anti_alias: bool) -> nn.Module:
    return AntiAliasedSnake(channels) if anti_alias else Snake(channels)


class ResidualUnit(nn.Module):
    """DAC residual unit: Snake, dilated conv k7, Snake, conv k1, plus skip. (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, dilation: int, activation: type[nn.Module] = Snake):
        super().__init__()
        self.block = nn.Sequential(
            activation(channels),
            wn_conv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            activation(channels),
            wn_conv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class GeGLUMLP(nn.Module):
    """LayerNorm, GELU(tanh)-gated linear unit, linear back: (B, N, dim) -> (B, N, dim)."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.w0 = nn.Linear(dim, hidden_dim)
        self.w1 = nn.Linear(dim, hidden_dim)
        self.w2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        return self.w2(F.gelu(self.w0(x), approximate="tanh") * self.w1(x))


class CausalDownAttention(nn.Module):
    """Causal multi-head self-attention that narrows in_dim to out_dim (Semantic-VAE ``CausalAttention``).

    q/k/v have in_dim channels (head_dim = in_dim / heads; q and v biased, k not); the heads' outputs
    are averaged, average-pooled from head_dim to out_dim channels and projected by a Linear(out, out).
    (B, N, in_dim) -> (B, N, out_dim).
    """

    def __init__(self, in_dim: int, out_dim: int, num_heads: int):
        super().__init__()
        if in_dim < out_dim or in_dim % num_heads:
            raise ValueError(
                f"need in_dim >= out_dim and in_dim % num_heads == 0, got {in_dim}, {out_dim}, {num_heads}"
            )
        self.num_heads, self.head_dim, self.out_dim = num_heads, in_dim // num_heads, out_dim
        self.qkv = nn.Linear(in_dim, 3 * in_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(in_dim))
        self.v_bias = nn.Parameter(torch.zeros(in_dim))
        self.proj = nn.Linear(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n, _ = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.q_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).view(batch, n, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).mean(dim=1)  # (B, N, head_dim)
        if self.head_dim != self.out_dim:
            y = F.adaptive_avg_pool1d(y, self.out_dim)
        return self.proj(y)


class AttnProjection(nn.Module):
    """Semantic-VAE bottleneck: proj(LN(x)) + causal attention(LN(x)), then + GeGLU MLP (hidden 2 * out_dim).

    (B, N, in_dim) -> (B, N, out_dim), e.g. 1024 -> 64 with 8 heads.
    """

    def __init__(self, in_dim: int, out_dim: int, num_heads: int = 8, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dim)
        self.attn = CausalDownAttention(in_dim, out_dim, num_heads)
        self.norm3 = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)
        self.norm2 = nn.LayerNorm(out_dim)
        self.mlp = GeGLUMLP(out_dim, out_dim * mlp_ratio)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.norm3(x)) + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


@records_init_args
class Encoder(nn.Module):
    """DAC-style strided conv encoder: (B, 1, T) -> (mean, logvar) each (B, latent_dim, T / prod(strides)).

    Channels start at ``channels`` and double at each stride (64 -> 1024 for the paper size).
    ``bottleneck``: "conv" = one conv k3 to 2 * latent_dim split into mean / log-variance (the small
    recipes); "attn" = Semantic-VAE's: conv k3 keeping the width (1024), ``AttnProjection`` (causal
    ``attn_heads``-head attention + GeGLU MLP) down to latent_dim, then Linear ``fc_mu`` / ``fc_var``.
    The log-variance is clamped to [logvar_min, logvar_max] (Semantic-VAE: +-12).
    ``activation``: "snakebeta" (log-scale alpha and beta per channel) or "snake" (DAC's Snake1d, one
    linear-scale alpha; the paper recipes, loadable from DAC / Semantic-VAE weights).
    """

    def __init__(
        self,
        channels: int = 64,
        strides: tuple[int, ...] = (4, 4, 5, 5),
        latent_dim: int = 64,
        logvar_min: float = -30.0,
        logvar_max: float = 20.0,
        bottleneck: str = "conv",
        attn_heads: int = 8,
        activation: str = "snakebeta",
    ):
        super().__init__()
        if bottleneck not in ("conv", "attn"):
            raise ValueError(f"bottleneck must be 'conv' or 'attn', got {bottleneck!r}")
        if activation not in ENCODER_ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ENCODER_ACTIVATIONS)}, got {activation!r}")
        act = ENCODER_ACTIVATIONS[activation]
        self.strides = tuple(strides)
        self.hop_length = math.prod(self.strides)
        self.latent_dim = latent_dim
        self.logvar_range = (logvar_min, logvar_max)
        self.bottleneck_kind = bottleneck
        layers: list[nn.Module] = [wn_conv1d(1, channels, 7, padding=3)]
        for stride in self.strides:
            layers += [ResidualUnit(channels, d, act) for d in (1, 3, 9)]
            layers += [
                act(channels),
                wn_conv1d(channels, channels * 2, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
            ]
            channels *= 2
        out_channels = 2 * latent_dim if bottleneck == "conv" else channels
        layers += [act(channels), wn_conv1d(channels, out_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)
        if bottleneck == "attn":
            self.bottleneck = AttnProjection(channels, latent_dim, attn_heads)
            self.fc_mu = nn.Linear(latent_dim, latent_dim)
            self.fc_var = nn.Linear(latent_dim, latent_dim)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.net(wav)
        if self.bottleneck_kind == "conv":
            mean, logvar = h.chunk(2, dim=1)
        else:
            h = self.bottleneck(h.transpose(1, 2))
            mean, logvar = self.fc_mu(h).transpose(1, 2), self.fc_var(h).transpose(1, 2)
        return mean, logvar.clamp(*self.logvar_range)


@records_init_args
class MelEncoder(nn.Module):
    """Log-mel encoder for CPU budgets: (B, 1, T) -> (mean, logvar) each (B, latent_dim, T / hop_length).

    Not the paper's encoder (that is the waveform ``Encoder``): a log-mel front end (``n_mels`` bands,
    Hann window ``n_fft``, hop ``hop_length / 2``, power 1, log clamp 1e-5) is computed inside the module,
    ConvNeXt blocks run at twice the latent rate, one stride-2 conv halves it to the latent rate, more
    ConvNeXt blocks, then a k1 conv to mean / log-variance. The waveform encoder spends most of a CPU step
    learning a filterbank at 16 kHz; starting from the mel leaves the whole step to the bottleneck
    (issue 10: the cpu-scale VAEs did not resynthesize after ~550 waveform-encoder steps).
    The same input padding rule as ``Encoder``: T a multiple of ``hop_length`` gives T / hop frames.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        hop_length: int = 400,
        n_fft: int = 1024,
        n_mels: int = 100,
        dim: int = 256,
        intermediate_dim: int = 768,
        layers_fine: int = 3,
        layers_coarse: int = 3,
        latent_dim: int = 64,
        logvar_min: float = -30.0,
        logvar_max: float = 20.0,
    ):
        super().__init__()
        import torchaudio

        if hop_length % 2:
            raise ValueError(f"hop_length must be even (the mel runs at hop_length / 2), got {hop_length}")
        self.hop_length = hop_length
        self.latent_dim = latent_dim
        self.logvar_range = (logvar_min, logvar_max)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length // 2, n_mels=n_mels, power=1.0,
            center=True,
        )
        self.embed = nn.Conv1d(n_mels, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        n = layers_fine + layers_coarse
        self.fine = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, 1 / n) for _ in range(layers_fine))
        self.down = nn.Conv1d(dim, dim, 2, stride=2)
        self.coarse = nn.ModuleList(ConvNeXtBlock(dim, intermediate_dim, 1 / n) for _ in range(layers_coarse))
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.out = nn.Conv1d(dim, 2 * latent_dim, 1)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n_frames = wav.shape[-1] // self.hop_length
        with torch.autocast(device_type=wav.device.type, enabled=False):
            mel = self.mel(wav[:, 0].float()).clamp(min=1e-5).log()[..., : 2 * n_frames]
        return self.from_log_mel(mel.to(wav.dtype))

    def from_log_mel(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, n_mels, 2 * T) log mel -> mean, log-variance (B, latent_dim, T): the network after its front end."""
        x = self.norm(self.embed(mel).transpose(1, 2)).transpose(1, 2)
        for block in self.fine:
            x = block(x)
        x = self.down(x)
        for block in self.coarse:
            x = block(x)
        h = self.out(self.final_norm(x.transpose(1, 2)).transpose(1, 2))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(*self.logvar_range)


class AMPBlock(nn.Module):
    """BigVGAN anti-aliased multi-periodicity block: pairs of (Snake, dilated conv, Snake, conv) + skip."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...], anti_alias: bool):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                snake(channels, anti_alias),
                wn_conv1d(channels, channels, kernel_size, dilation=d, padding=d * (kernel_size - 1) // 2),
                snake(channels, anti_alias),
                wn_conv1d(channels, channels, kernel_size, padding=(kernel_size - 1) // 2),
            )
            for d in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x


@records_init_args
class BigVGANDecoder(nn.Module):
    """BigVGAN generator: (B, latent_dim, N) -> (B, N * prod(upsample_rates)).

    Transposed-conv upsampling halving the channels (from ``channels``, BigVGAN's
    upsample_initial_channel) at each stage, followed by the average of AMP blocks with kernels
    ``resblock_kernel_sizes``. ``upsample_kernel_sizes``: BigVGAN's per-stage kernels (padding
    (k - rate) / 2, so k - rate must be even); None = 2*rate (+1 for odd rates). ``final_activation``:
    "tanh" or "clamp" (to [-1, 1]; BigVGAN's use_tanh_at_final=false); ``final_bias``: conv_post bias.
    Semantic-VAE's bigvgan_v2_16khz_40hz_base_vae64.json = channels 1024, kernels (9, 9, 4, 4, 4, 4),
    clamp, no final bias; the module layout matches BigVGAN's, so weights map one to one.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        channels: int = 1536,
        upsample_rates: tuple[int, ...] = (5, 5, 2, 2, 2, 2),
        resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11),
        resblock_dilations: tuple[int, ...] = (1, 3, 5),
        anti_alias: bool = True,
        upsample_kernel_sizes: tuple[int, ...] | None = None,
        final_activation: str = "tanh",
        final_bias: bool = True,
    ):
        super().__init__()
        if final_activation not in ("tanh", "clamp"):
            raise ValueError(f"final_activation must be 'tanh' or 'clamp', got {final_activation!r}")
        if upsample_kernel_sizes is None:
            upsample_kernel_sizes = tuple(2 * r + (r % 2) for r in upsample_rates)
        if len(upsample_kernel_sizes) != len(upsample_rates) or any(
            (k - r) % 2 or k < r for k, r in zip(upsample_kernel_sizes, upsample_rates)
        ):
            raise ValueError(
                f"upsample_kernel_sizes {list(upsample_kernel_sizes)} must pair with upsample_rates "
                f"{list(upsample_rates)}, each kernel >= its rate with an even difference"
            )
        self.final_activation = final_activation
        if channels < 2 ** len(upsample_rates):
            raise ValueError(
                f"channels={channels} is halved {len(upsample_rates)} times: need >= {2 ** len(upsample_rates)}"
            )
        self.hop_length = math.prod(upsample_rates)
        self.conv_pre = wn_conv1d(latent_dim, channels, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        for rate, kernel in zip(upsample_rates, upsample_kernel_sizes):
            self.ups.append(
                weight_norm(
                    nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2)
                )
            )
            channels //= 2
            self.resblocks.append(
                nn.ModuleList(
                    AMPBlock(channels, k, tuple(resblock_dilations), anti_alias)
                    for k in resblock_kernel_sizes
                )
            )
        self.act_post = snake(channels, anti_alias)
        self.conv_post = wn_conv1d(channels, 1, 7, padding=3, bias=final_bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(z)
        for up, blocks in zip(self.ups, self.resblocks):
            x = up(x)
            x = sum(block(x) for block in blocks) / len(blocks)
        x = self.conv_post(self.act_post(x)).squeeze(1)
        return torch.tanh(x) if self.final_activation == "tanh" else x.clamp(-1.0, 1.0)


class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Vocos): depthwise conv k7, LayerNorm, MLP, layer scale, skip. (B, C, N) -> (B, C, N)."""

    def __init__(self, dim: int, intermediate_dim: int, layer_scale: float):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(layer_scale * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ISTFTHead(nn.Module):
    """Linear to log-magnitude + phase, inverse STFT with 'same' padding: (B, N, dim) -> (B, N * hop_length).

    Overlap-add is written out (not ``torch.istft``) so that the output is exactly N * hop samples.
    """

    def __init__(self, dim: int, n_fft: int = 1600, hop_length: int = 400):
        super().__init__()
        if (n_fft - hop_length) % 2:
            raise ValueError(f"n_fft - hop_length must be even for 'same' padding, got {n_fft}, {hop_length}")
        self.n_fft, self.hop_length = n_fft, hop_length
        self.out = nn.Linear(dim, n_fft + 2)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            log_mag, phase = self.out(x.float()).transpose(1, 2).chunk(2, dim=1)
            mag = log_mag.exp().clamp(max=1e2)
            spec = torch.polar(mag, phase)
            return self._istft(spec)

    def _istft(self, spec: torch.Tensor) -> torch.Tensor:
        n_frames, win, hop = spec.shape[-1], self.n_fft, self.hop_length
        pad = (win - hop) // 2
        frames = torch.fft.irfft(spec, self.n_fft, dim=1, norm="backward") * self.window[None, :, None]
        out_size = (n_frames - 1) * hop + win
        wav = F.fold(frames, (1, out_size), kernel_size=(1, win), stride=(1, hop))[:, 0, 0, pad:-pad]
        envelope = F.fold(
            self.window.square().expand(1, n_frames, -1).transpose(1, 2),
            (1, out_size),
            kernel_size=(1, win),
            stride=(1, hop),
        ).squeeze()[pad:-pad]
        return wav / envelope.clamp(min=1e-11)


@records_init_args
class VocosDecoder(nn.Module):
    """Vocos-style decoder: ConvNeXt blocks at the latent rate + iSTFT head. (B, latent_dim, N) -> (B, N * hop)."""

    def __init__(
        self,
        latent_dim: int = 64,
        dim: int = 512,
        intermediate_dim: int = 1536,
        num_layers: int = 8,
        n_fft: int = 1600,
        hop_length: int = 400,
    ):
        super().__init__()
        self.hop_length = hop_length
        self.embed = nn.Conv1d(latent_dim, dim, 7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim, intermediate_dim, layer_scale=1 / num_layers) for _ in range(num_layers)
        )
        self.final_norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = ISTFTHead(dim, n_fft, hop_length)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.embed(z).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return self.head(self.final_norm(x.transpose(1, 2)))


class SpeechVAE(nn.Module):
    """16 kHz waveform <-> 64-dim Gaussian latent at 40 Hz.

    ``encode``: (B, T) -> (mean, logvar) each (B, latent_dim, N), N = ceil(T / hop_length) (right zero-pad);
    ``sample``: reparameterized z; ``decode``: (B, latent_dim, N) -> (B, N * hop_length).
    """

    sample_rate = 16000

    def __init__(self, encoder: Encoder, decoder: nn.Module):
        super().__init__()
        if encoder.hop_length != decoder.hop_length:
            raise ValueError(f"encoder hop {encoder.hop_length} != decoder hop {decoder.hop_length}")
        self.encoder = encoder
        self.decoder = decoder
        self.hop_length = encoder.hop_length
        self.latent_dim = encoder.latent_dim
        self.frame_rate = self.sample_rate / self.hop_length

    def num_frames(self, n_samples: int) -> int:
        return math.ceil(n_samples / self.hop_length)

    def encode(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) -> (mean, logvar) each (B, latent_dim, ceil(T / hop_length))."""
        pad = self.num_frames(wav.shape[-1]) * self.hop_length - wav.shape[-1]
        return self.encoder(F.pad(wav, (0, pad)).unsqueeze(1))

    @staticmethod
    def sample(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mean + torch.randn_like(mean) * (0.5 * logvar).exp()

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim, N) -> (B, N * hop_length)."""
        return self.decoder(z)

    def forward(self, wav: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, T) -> {"mean", "logvar", "z": (B, latent_dim, N), "recon": (B, N * hop_length)}."""
        mean, logvar = self.encode(wav)
        z = self.sample(mean, logvar)
        return {"mean": mean, "logvar": logvar, "z": z, "recon": self.decode(z)}


def instantiate(spec: dict, where: str = "") -> nn.Module:
    """Build ``{"class_path": "pkg.mod.Class", "init_args": {...}}`` (``tts.config.instantiate``; a bare class
    name is looked up here). Only the VAE networks of ``MODEL_FILE_CLASSES``: a spec may come from a model file."""
    if isinstance(spec, dict) and "." not in str(spec.get("class_path", ".")):
        spec = {**spec, "class_path": f"{__name__}.{spec['class_path']}"}
    return instantiate_spec(spec, where, MODEL_FILE_CLASSES)


def build_vae(encoder: dict, decoder: dict, where: str = "") -> SpeechVAE:
    """SpeechVAE from the encoder / decoder ``class_path`` + ``init_args`` specs (of a recipe or a model file:
    ``where`` names it in errors; only ``MODEL_FILE_CLASSES`` are built)."""
    at = f"{where}: " if where else ""
    return SpeechVAE(instantiate(encoder, f"{at}encoder"), instantiate(decoder, f"{at}decoder"))
