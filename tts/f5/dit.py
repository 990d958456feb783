"""F5-TTS diffusion transformer (DiT) over any frame feature space, written as plain math.

Layout follows F5-TTS v1 (``f5_tts/model/backbones/dit.py`` + ``modules.py``): character ids padded with
the filler id 0 to the frame length go through a ConvNeXt-V2 text encoder; the noisy features x, the
masked audio condition and the text embedding are concatenated and projected (input embedding), plus a
convolutional position embedding; then adaLN-zero DiT blocks with rotary self-attention (SDPA with a key
padding mask), a final adaLN and a linear head.

This file is the textbook form. ``tts.f5.fastpath`` holds the same layers rewritten for speed (folded
attention biases, oneDNN fused epilogues on CPU, cheaper dropout masks, channels-last convolutions),
with the same parameters and state_dict keys; ``DiT(fast=True)``, the default, builds from those. The
equivalence tests run both (``tests/test_f5_reference.py``, ``tests/test_f5_dit.py``).

Three structural choices hold in both forms (they change the cost, not the result):
- The input projection is one ``nn.Linear`` over ``[x, cond, text]``, applied as the sum of its three
  column blocks so that the part that does not change during sampling (cond + text, the "context") is
  computed once per utterance: ``forward_context`` then runs only ``proj_x(x) + context`` per ODE step.
- Padding (batches of different lengths): padded frames are masked as attention keys and zeroed before
  each position convolution, the only two places where frames mix; every other op is per frame. So
  padded frames never reach valid ones, and their values are left as they come instead of being zeroed
  in every block (F5-TTS zeroes them; the valid outputs are the same).
- The text encoder runs over the characters only, not over every frame: see ``TextEncoder``.

Shapes: B batch, N frames, D feature dim, T text_dim, H model dim.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

NullText = Literal["f5", "zero"]
NULL_TEXTS = get_args(NullText)


@dataclass(frozen=True)
class DiTConfig:
    """The DiT's hyper-parameters, written only here: ``DiT(config)``, a recipe's ``model.init_args.dit``
    block (LightningCLI checks every key against these fields), the ``network`` entry of an exported
    ``config.json`` / a checkpoint's ``f5_config``, ``tts import f5`` and ``eval/bench_f5.py``.

    Args:
        dim: H, transformer width (F5TTS_v1_Small: 768; Base: 1024).
        depth: number of DiT blocks (18; Base 22).
        heads: attention heads (12; Base 16).
        dim_head: width of one attention head (64).
        ff_mult: feed-forward width as a multiple of dim (2).
        text_dim: T, width of the ConvNeXt-V2 text encoder (512).
        conv_layers: ConvNeXt-V2 blocks of the text encoder (4).
        dropout: dropout in attention and feed-forward (0.1 in F5-TTS; F5Module also gives it to the
            duration predictor).
        null_text: the unconditional text of CFG (training dropout and the sampler's null pass), see
            ``TextEncoder``. ``f5`` (default): F5-TTS' (the null text keeps the text's length), needed to
            run F5-TTS weights (``tts import f5``) and what the paper's models were trained with.
            ``zero``: the null text embeds to zero, so the unconditional context is the projection bias,
            one row shared by all utterances (slightly cheaper sampling; not measured better).
        feat_dim: D, feature dimension (100 for mel, 64 for VAE latents). Leave unset in a recipe:
            F5Module takes it from the feature space.
        vocab_size: number of text symbols including the filler id 0. Leave unset in a recipe:
            F5Module takes it from the vocabulary.
        fast: run the layers of ``tts.f5.fastpath`` (default: the same results to float rounding,
            faster, most of all on CPU; dropout draws its masks from another random stream) instead of
            the plain layers of this file. Same parameters and state_dict keys either way; a choice of
            code, not of weights, so not saved with the model (``network_args``).
    """

    dim: int = 768
    depth: int = 18
    heads: int = 12
    dim_head: int = 64
    ff_mult: float = 2.0
    text_dim: int = 512
    conv_layers: int = 4
    dropout: float = 0.1
    null_text: NullText = "f5"
    feat_dim: int | None = None
    vocab_size: int | None = None
    fast: bool = True

    def __post_init__(self):
        if self.null_text not in NULL_TEXTS:
            raise ValueError(f"null_text must be one of {NULL_TEXTS}, not {self.null_text!r}")

    def network_args(self) -> dict:
        """The config saved with a model (``network``): every field but ``fast``."""
        args = asdict(self)
        del args["fast"]
        return args

    @classmethod
    def from_dict(cls, args: dict, where: str = "DiT config") -> DiTConfig:
        """From a saved ``network`` dict (or a recipe's block); an unknown key is refused by name."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(args) - known)
        if unknown:
            raise ValueError(f"{where}: unknown DiT config key(s) {unknown}; known: {sorted(known)}")
        return cls(**args)


def text_positions(n: int, dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n, dim) absolute positions of the text encoder: [cos, sin] of ``pos / 10000 ** (2 i / dim)``
    (F5-TTS' ``precompute_freqs_cis``, added to the character embeddings)."""
    freqs = 1.0 / (10000.0 ** (torch.arange(0, dim, 2, device=device)[: dim // 2].float() / dim))
    args = torch.outer(torch.arange(n, device=device, dtype=torch.float32), freqs)
    return torch.cat((args.cos(), args.sin()), dim=-1)


def sinusoidal(positions: torch.Tensor, dim: int, scale: float = 1.0) -> torch.Tensor:
    """(...,) float -> (..., dim) [sin, cos] embedding (F5-TTS' SinusPositionEmbedding when scale=1000)."""
    half = dim // 2
    freqs = torch.exp(
        torch.arange(half, device=positions.device, dtype=torch.float32) * -(math.log(10000) / (half - 1))
    )
    args = scale * positions.float().unsqueeze(-1) * freqs
    return torch.cat((args.sin(), args.cos()), dim=-1)


def modulate(norm: nn.LayerNorm, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: norm(x) (1 + scale) + shift; x (B, N, H), shift/scale (B or 1, 1, H), ``norm`` without affine."""
    return norm(x) * (1 + scale) + shift


class TimestepEmbedding(nn.Module):
    """Flow time t (B,) in [0, 1] -> (B, H): sinusoidal(256) then MLP."""

    def __init__(self, dim: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal(t, self.freq_dim, scale=1000.0).to(self.mlp[0].weight.dtype))


class GRN(nn.Module):
    """Global response normalization (ConvNeXt-V2) over the time axis: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(
        self,
        x: torch.Tensor,
        frames: torch.Tensor | None = None,
        tail: torch.Tensor | None = None,
        tail_x: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``frames`` (B, N, 1): valid frames; the response norm ignores batch padding.

        ``tail`` (B,) and ``tail_x`` (C,): each row has ``tail`` more valid frames past the end of x, all
        with the value ``tail_x``; they count in the norm as one frame ``sqrt(tail) * tail_x``.
        """
        xs = x if frames is None else x * frames
        if tail is not None:
            weight = tail.to(torch.promote_types(x.dtype, torch.float32)).sqrt()  # counts: not in bf16
            extra = weight.view(-1, 1, 1) * tail_x.view(1, 1, -1)
            xs = torch.cat((xs, extra), dim=1)
        gx = torch.norm(xs, p=2, dim=1, keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class ConvNeXtV2Block(nn.Module):
    """Depthwise conv(7) -> LayerNorm -> MLP with GRN, residual: (B, N, C) -> (B, N, C)."""

    def __init__(self, dim: int, intermediate_dim: int):
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.grn = GRN(intermediate_dim)
        self.pwconv2 = nn.Linear(intermediate_dim, dim)

    def forward(
        self, x: torch.Tensor, frames: torch.Tensor | None = None, tail: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``tail`` (B,): valid frames past the end of x whose whole conv window is zero input (see
        ``TextEncoder``); their activation, the same for all, enters the response norm."""
        h = self.act(self.pwconv1(self.norm(self.dwconv(x.transpose(1, 2)).transpose(1, 2))))
        tail_h = None
        if tail is not None:  # the conv of an all-zero window is its bias
            tail_h = self.act(self.pwconv1(self.norm(self.dwconv.bias.to(x.dtype))))
        return x + self.pwconv2(self.grn(h, frames, tail, tail_h))


class TextEncoder(nn.Module):
    """Character ids (B, Nt), filler 0, -> (B, E, T): the embedding of N frames, of which the first E.

    The ids are aligned to N frames: text longer than N is cut, shorter text is padded with the filler.
    Filler positions are zeroed after every block, so the frames past E = min(N, Nt + conv radius)
    embed to exactly zero and are not returned; callers treat them as zero.

    Dropped text (``drop``, classifier-free guidance), ``null``: ``"f5"`` as F5-TTS: the filler mask is
    computed before the text is dropped, so the dropped characters become the filler id 0 but keep
    their frames (filler embedding + position through the blocks): the null text carries the text's
    length. ``"zero"``: a dropped row is all filler and embeds to exactly zero.

    The frames past E still count where the math sees them: in each ConvNeXt-V2 block their conv
    window is all zero, so each has the same activation, which enters the global response norm in
    closed form (``GRN`` ``tail``). The result equals running every block over all N frames, at a
    cost in characters instead of frames (mel: ~90 frames/s against ~15 characters/s).
    """

    def __init__(
        self,
        vocab_size: int,
        text_dim: int,
        conv_layers: int = 4,
        conv_mult: int = 2,
        block: type | None = None,
    ):
        super().__init__()
        block = block or ConvNeXtV2Block
        self.text_dim = text_dim
        self.embed = nn.Embedding(vocab_size, text_dim)
        self.blocks = nn.ModuleList(block(text_dim, text_dim * conv_mult) for _ in range(conv_layers))

    def forward(
        self,
        text: torch.Tensor,
        n_frames: int,
        mask: torch.Tensor | None = None,
        drop: torch.Tensor | None = None,
        null: str = "f5",
    ) -> torch.Tensor:
        """``mask`` (B, N) bool: valid frames; text beyond a row's valid frames is cut like padding.
        ``drop`` (B,) bool: rows whose text is dropped, embedded as ``null`` says (see the class doc)."""
        text = text[:, :n_frames]
        if mask is not None:
            text = text.masked_fill(~mask[:, : text.shape[1]], 0)
        keep_ids = text != 0  # F5-TTS: the filler mask before the text is dropped
        if drop is not None:
            text = text.masked_fill(drop.unsqueeze(1), 0)
            if null == "zero":
                keep_ids = text != 0
        dtype = self.embed.weight.dtype
        if not self.blocks:
            return self.embed(text) * keep_ids.unsqueeze(-1).to(dtype)
        e = min(n_frames, text.shape[1] + self.blocks[0].dwconv.padding[0])
        text = F.pad(text, (0, e - text.shape[1]), value=0)
        keep = F.pad(keep_ids, (0, e - keep_ids.shape[1]), value=False).unsqueeze(-1).to(dtype)  # (B, E, 1)
        frames = tail = None
        if mask is not None:
            frames = mask[:, :e].unsqueeze(-1).to(dtype)
        if e < n_frames:  # valid frames past E: all filler
            valid = (
                mask.sum(1)
                if mask is not None
                else torch.full((text.shape[0],), n_frames, device=text.device)
            )
            tail = (valid - e).clamp_(min=0)
        pos = text_positions(e, self.text_dim, text.device)
        x = (self.embed(text) + pos.to(dtype)) * keep
        for block in self.blocks:
            x = block(x, frames, tail) * keep
        return x


class ConvPositionEmbedding(nn.Module):
    """Two grouped conv(31) + Mish layers; padded frames are zeroed before each conv: (B, N, H).

    The output on padded frames is left as it comes (see ``DiT``: nothing reads it)."""

    def __init__(self, dim: int, kernel_size: int = 31, groups: int = 16):
        super().__init__()
        self.conv1 = nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(dim, dim, kernel_size, groups=groups, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        keep = None if mask is None else mask.unsqueeze(-1).to(x.dtype)  # (B, N, 1)
        for conv in (self.conv1, self.conv2):
            if keep is not None:
                x = x * keep
            x = F.mish(conv(x.transpose(1, 2)).transpose(1, 2))
        return x


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (half-split form) for head dim ``dim``: cos/sin tables (N, dim)."""

    def __init__(self, dim: int, base: float = 10000.0):
        super().__init__()
        self.register_buffer(
            "inv_freq", 1.0 / base ** (torch.arange(0, dim, 2).float() / dim), persistent=False
        )

    def angles(self, n: int) -> torch.Tensor:
        """(N, dim / 2) rotation angles ``pos * inv_freq``."""
        return torch.outer(torch.arange(n, device=self.inv_freq.device, dtype=torch.float32), self.inv_freq)

    def forward(self, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin) tables (N, dim), each half repeated, for ``apply_rotary``."""
        freqs = self.angles(n)
        freqs = torch.cat((freqs, freqs), dim=-1)
        return freqs.cos().to(dtype), freqs.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """[x1, x2] -> [-x2, x1] over the last axis."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """(..., N, d) rotated by position: x cos + rotate_half(x) sin."""
    return x * cos + rotate_half(x) * sin


class Attention(nn.Module):
    """Multi-head self-attention with rotary q/k and SDPA; ``attn_mask`` (B, 1, 1, N) masks padded keys."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head)
        self.to_out = nn.Linear(heads * dim_head, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], attn_mask: torch.Tensor | None
    ) -> torch.Tensor:
        """(B, N, H) -> (B, N, H)."""
        b, n, _ = x.shape
        qkv = self.to_qkv(x).view(b, n, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, dim_head)
        q, k = apply_rotary(q, *rope), apply_rotary(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.dropout(self.to_out(out.transpose(1, 2).reshape(b, n, -1)))


class DiTBlock(nn.Module):
    """adaLN-zero transformer block: (B, N, H), time (B, H) -> (B, N, H)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        ff_mult: float,
        dropout: float,
        attention: type | None = None,
    ):
        super().__init__()
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 6 * dim))
        self.attn_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = (attention or Attention)(dim, heads, dim_head, dropout)
        self.ff_norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        inner = int(dim * ff_mult)
        self.ff = nn.Sequential(
            nn.Linear(dim, inner), nn.GELU(approximate="tanh"), nn.Dropout(dropout), nn.Linear(inner, dim)
        )

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        mod = self.modulation(t).unsqueeze(1)  # (B, 1, 6H)
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = mod.chunk(6, dim=-1)
        x = x + gate_a * self.attn(modulate(self.attn_norm, x, shift_a, scale_a), rope, attn_mask)
        return x + gate_f * self.ff(modulate(self.ff_norm, x, shift_f, scale_f))


@dataclass(frozen=True)
class Layers:
    """The layer classes (and the adaLN function) a ``DiT`` is built from: the plain ones of this file
    (``PLAIN``) or the fast ones of ``tts.f5.fastpath`` (``FAST``), with the same parameters."""

    text_block: type = ConvNeXtV2Block
    conv_pos: type = ConvPositionEmbedding
    rotary: type = RotaryEmbedding
    block: type = DiTBlock
    modulate: Callable = modulate


PLAIN = Layers()


class DiT(nn.Module):
    """F5-TTS DiT: predicts the flow (B, N, D) from noisy x, masked audio cond, text ids and time.

    ``DiT(config)`` with a ``DiTConfig`` (see there for every argument), or ``DiT(feat_dim=..., dim=...)``
    with its fields as keywords. ``args`` is what is saved with the model (``DiTConfig.network_args``).
    """

    def __init__(self, config: DiTConfig | None = None, **kwargs):
        super().__init__()
        if config is not None and kwargs:
            raise TypeError("DiT takes a DiTConfig or its fields as keywords, not both")
        c = config if config is not None else DiTConfig(**kwargs)
        for name in ("feat_dim", "vocab_size"):
            if getattr(c, name) is None:
                raise ValueError(f"DiT needs {name} (F5Module sets it from the feature space / vocabulary)")
        self.config = c
        self.args = c.network_args()
        if c.fast:
            from tts.f5.fastpath import FAST as layers
        else:
            layers = PLAIN
        self.modulate = layers.modulate
        self.null_text, self.feat_dim, self.dim, self.text_dim = c.null_text, c.feat_dim, c.dim, c.text_dim
        self.time_embed = TimestepEmbedding(c.dim)
        self.text_encoder = TextEncoder(c.vocab_size, c.text_dim, c.conv_layers, block=layers.text_block)
        self.input_proj = nn.Linear(2 * c.feat_dim + c.text_dim, c.dim)  # over [x, cond, text]
        self.conv_pos = layers.conv_pos(c.dim)
        self.rotary = layers.rotary(c.dim_head)
        self.blocks = nn.ModuleList(
            layers.block(c.dim, c.heads, c.dim_head, c.ff_mult, c.dropout) for _ in range(c.depth)
        )
        self.norm_out = nn.LayerNorm(c.dim, elementwise_affine=False, eps=1e-6)
        self.modulation_out = nn.Sequential(nn.SiLU(), nn.Linear(c.dim, 2 * c.dim))
        self.proj_out = nn.Linear(c.dim, c.feat_dim)
        for block in self.blocks:  # adaLN-zero
            nn.init.zeros_(block.modulation[1].weight)
            nn.init.zeros_(block.modulation[1].bias)
        for layer in (self.modulation_out[1], self.proj_out):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def embed_text(
        self,
        text: torch.Tensor,
        n_frames: int,
        mask: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Ids (B, Nt) -> (B, E, T), E <= N, frames past E zero (see ``TextEncoder``); rows with
        ``drop_text`` True get the null text (unconditional, ``null_text``)."""
        return self.text_encoder(text, n_frames, mask, drop_text, self.null_text)

    def embed_context(self, cond: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
        """The step-invariant part of the input projection: (B, N, D), (B, E, T) -> (B, N, H).

        ``text_emb`` may be shorter than N (``TextEncoder``): its missing frames are zero.
        """
        d = self.feat_dim
        w = self.input_proj.weight
        out = F.linear(cond, w[:, d : 2 * d], self.input_proj.bias)
        e = min(text_emb.shape[1], out.shape[1])
        out[:, :e] += F.linear(text_emb[:, :e], w[:, 2 * d :])
        return out

    def null_context(self, like: torch.Tensor) -> torch.Tensor:
        """Context of the unconditional pass (no audio, no text) with ``null_text="zero"``: the projection
        bias, (1, 1, H)."""
        return self.input_proj.bias.to(like.dtype).view(1, 1, -1)

    def sampling_context(
        self, cond: torch.Tensor, text: torch.Tensor, mask: torch.Tensor | None = None, cfg: bool = True
    ) -> torch.Tensor:
        """The step-invariant context of a sampling call: cond (B, N, D) and text ids (B, Nt) -> (B, N, H),
        or with ``cfg`` (2B, N, H): the conditional rows, then the unconditional ones (audio and text
        dropped). The text encoder runs once (both halves in one batch for ``null_text="f5"``)."""
        b, n = cond.shape[:2]
        if not cfg:
            return self.embed_context(cond, self.embed_text(text, n, mask))
        if self.null_text == "zero":
            context = self.embed_context(cond, self.embed_text(text, n, mask))
            return torch.cat((context, self.null_context(context).expand(b, n, -1)), dim=0)
        drop = torch.arange(2 * b, device=text.device) >= b
        mask2 = None if mask is None else torch.cat((mask, mask), dim=0)
        text_emb = self.embed_text(torch.cat((text, text), dim=0), n, mask2, drop)
        return self.embed_context(torch.cat((cond, torch.zeros_like(cond)), dim=0), text_emb)

    def forward_context(
        self, x: torch.Tensor, context: torch.Tensor, t: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Noisy x (B, N, D) + precomputed context (kB, N, H) at times t (kB,) -> flow (kB, N, D).

        With k > 1 (e.g. conditional and unconditional contexts for CFG) x is shared by all k groups.
        ``t`` of shape (1,) is one time for all rows (sampling): the time embedding and the adaLN
        modulations are then computed once.

        ``mask`` (B, N) bool marks valid frames; pass None when all frames are valid (faster attention).
        """
        n = x.shape[1]
        h = F.linear(x, self.input_proj.weight[:, : self.feat_dim])
        if context.shape[0] != h.shape[0]:  # k contexts per x (packed CFG): broadcast, no copy of x
            h = (context.unflatten(0, (-1, h.shape[0])) + h).flatten(0, 1)
        else:
            h = h + context
        attn_mask = None if mask is None else mask[:, None, None, :]
        h = self.conv_pos(h, mask) + h
        temb = self.time_embed(t)
        rope = self.rotary(n, h.dtype)
        for block in self.blocks:
            h = block(h, temb, rope, attn_mask)
        shift, scale = self.modulation_out(temb).unsqueeze(1).chunk(2, dim=-1)
        return self.proj_out(self.modulate(self.norm_out, h, shift, scale))

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor,
        text: torch.Tensor,
        t: torch.Tensor,
        mask: torch.Tensor | None = None,
        drop_audio: torch.Tensor | None = None,
        drop_text: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x, cond (B, N, D), text ids (B, Nt), t (B,), mask (B, N), drop flags (B,) bool -> (B, N, D)."""
        if drop_audio is not None:
            cond = cond.masked_fill(drop_audio[:, None, None], 0.0)
        context = self.embed_context(cond, self.embed_text(text, x.shape[1], mask, drop_text))
        return self.forward_context(x, context, t, mask)
