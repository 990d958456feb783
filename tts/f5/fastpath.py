"""The fast layers of the F5 DiT: ``tts.f5.dit``'s plain layers rewritten for speed, same math.

``DiT(fast=True)`` (the default) builds from ``FAST``; ``DiT(fast=False)`` from the plain layers of
``tts.f5.dit``. Each class here subclasses its plain one, so parameters, initialisation (the same random
draws in the same order) and state_dict keys are the same; only ``forward`` differs. The equivalence
tests run both forms (``tests/test_f5_reference.py`` against F5-TTS, ``tests/test_f5_dit.py`` fast
against plain, outputs and gradients). Tuned on CPU (2 cores); on other devices the CPU-only parts
fall back to the plain ops.

What is faster, and why it is the same math:
- Attention (``Attention``): the q/k/v biases are not added to the (B, N, 3 H d) projection but where
  they are cheaper: rot(q + b) = rot(q) + rot(b), with rot(b) an (N, d) table per head added in the
  rotary op; each attention row sums to 1, so attn(q, k, v + b_v) = attn(q, k, v) + b_v, folded into the
  output bias as W_out b_v. Without autograd these folded biases are cached across calls (an ODE solve
  reuses them every step), keyed on the parameters' storage and version counters so that an optimizer
  step or a weight load invalidates the cache.
- Rotary (``apply_rotary``): the sine table carries the sign of the rotate-half ([-sin, sin] halves);
  without autograd the two halves are updated in place (no rotated copy).
- adaLN (``modulate``): with one modulation row for the whole batch (sampling: every utterance and both
  CFG halves share t) scale and shift become the LayerNorm's own affine parameters: one pass over x.
- CPU sampling (``DiTBlock``, float32, no autograd, one time for the batch): oneDNN's fused linear ops
  (private ``torch.ops.mkldnn._linear_pointwise``) put bias + GELU into fc1 and bias + gate + residual
  into the two output projections (``gated_linear``).
- Dropout on CPU (``dropout``): the keep mask from 16-bit lanes of 64-bit random draws
  (``keep_mask``), as a float multiplier; a different random stream than ``F.dropout``, same law.
- Convolutions (``conv_nlc``) run as channels-last 2-D convolutions; Mish written out (``mish``).
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from tts.f5 import dit


def conv_nlc(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """``conv`` (a same-padding ``nn.Conv1d``) applied to channels-last x: (B, N, C) -> (B, N, C).

    Runs as a 2-D convolution over a (B, C, 1, N) channels-last view of x: the same math and parameters as
    ``conv(x.transpose(1, 2)).transpose(1, 2)``, without the layout copies and with oneDNN's faster
    channels-last grouped/depthwise kernels (forward and backward). The weight goes in through ``view``, not
    ``unsqueeze``: its gradient then comes back with the weight's own strides (through ``unsqueeze`` a depthwise
    weight's came back (K, 1, 1) instead of (K, K, 1), which DDP reports as "Grad strides do not match bucket
    view strides" and answers with a copy every step).
    """
    c_out, c_in, k = conv.weight.shape
    out = F.conv2d(
        x.transpose(1, 2).unsqueeze(2),
        conv.weight.view(c_out, c_in, 1, k),
        conv.bias,
        padding=(0, conv.padding[0]),
        groups=conv.groups,
    )
    return out.squeeze(2).transpose(1, 2)


def mish(x: torch.Tensor) -> torch.Tensor:
    """Mish, x tanh(softplus(x)), written out: about twice as fast on CPU as ``F.mish``."""
    return x * torch.tanh(F.softplus(x))


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout like ``F.dropout`` (each element zeroed with prob. p, the rest scaled 1 / (1 - p)).

    On CPU the keep mask comes from ``keep_mask`` as a float {0, 1 / (1 - p)} tensor: one multiply
    forward and one backward (``bernoulli_`` is several times slower, and a bool operand would take
    the slow mixed-dtype path). Elsewhere ``F.dropout``, one fused kernel on GPU.
    """
    if not training or p <= 0.0:
        return x
    if x.device.type != "cpu":
        return F.dropout(x, p, True)
    scaled = keep_mask(x, p).view(torch.uint8).to(x.dtype).mul_(1.0 / (1.0 - p))
    return x * scaled


def keep_mask(x: torch.Tensor, p: float) -> torch.Tensor:
    """Bool mask shaped like x, each element False with probability p (to within 2**-17).

    One 64-bit draw of the generator gives four 16-bit uniforms, so this costs about a third of
    ``rand_like``: ``random_(-2**63, None)`` fills int64 with all 64 bits random, and each int16 lane
    of it is uniform over [-2**15, 2**15), compared with one threshold.
    """
    n = x.numel()
    bits = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device).random_(-(2**63), None)
    return (bits.view(torch.int16)[:n] >= round(p * 65536) - 32768).view(x.shape)


def modulate(norm: nn.LayerNorm, x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """``dit.modulate``; with one modulation row for the whole batch, folded into the LayerNorm's affine."""
    if shift.shape[0] == 1:
        return F.layer_norm(x, norm.normalized_shape, (1 + scale).view(-1), shift.view(-1), norm.eps)
    return torch.addcmul(shift, norm(x), 1 + scale)


def fused_cpu_inference(x: torch.Tensor) -> bool:
    """Whether the oneDNN fused linear ops (``torch.ops.mkldnn._linear_pointwise``) can run x: float32 on
    CPU without autograd, in a torch build that has them."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and _has_linear_pointwise()
    )


@functools.cache
def _has_linear_pointwise() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn._linear_pointwise, "binary")
    except (AttributeError, RuntimeError):
        return False


def gated_linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, gate: torch.Tensor, residual: torch.Tensor
) -> torch.Tensor:
    """``residual + gate * linear(x, weight, bias)`` for one gate row (1, 1, H), in one oneDNN matmul:
    the gate scales the weight's output rows and the bias, the residual is added in the epilogue."""
    g = gate.reshape(-1)
    return torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight * g[:, None], bias * g, "add")


class ConvNeXtV2Block(dit.ConvNeXtV2Block):
    """``dit.ConvNeXtV2Block`` with the depthwise conv run channels-last (``conv_nlc``)."""

    def forward(
        self, x: torch.Tensor, frames: torch.Tensor | None = None, tail: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.act(self.pwconv1(self.norm(conv_nlc(x, self.dwconv))))
        tail_h = None
        if tail is not None:
            tail_h = self.act(self.pwconv1(self.norm(self.dwconv.bias.to(x.dtype))))
        return x + self.pwconv2(self.grn(h, frames, tail, tail_h))


class ConvPositionEmbedding(dit.ConvPositionEmbedding):
    """``dit.ConvPositionEmbedding`` with channels-last convs and the written-out Mish."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        keep = None if mask is None else mask.unsqueeze(-1).to(x.dtype)
        for conv in (self.conv1, self.conv2):
            if keep is not None:
                x = x * keep
            x = mish(conv_nlc(x, conv))
        return x


class RotaryEmbedding(dit.RotaryEmbedding):
    """``dit.RotaryEmbedding`` returning (cos, signed sin): signed sin = [-sin, sin] halves, see
    ``apply_rotary``."""

    def forward(self, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        freqs = self.angles(n)
        sin = freqs.sin()
        return torch.cat((freqs, freqs), dim=-1).cos().to(dtype), torch.cat((-sin, sin), dim=-1).to(dtype)


def apply_rotary(
    x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor, base: torch.Tensor | None = None
) -> torch.Tensor:
    """``dit.apply_rotary`` with ``sin_signed`` = [-sin, sin] halves, plus ``base`` (broadcast to the
    result: the rotated q/k bias, see ``Attention``).

    [-x2, x1] * [sin, sin] = [x2, x1] * [-sin, sin], and [x2, x1] is x rolled by d / 2. Without autograd
    the two halves are updated in place (no rolled copy, ~1.7x faster); with it the roll form has the
    cheaper backward.
    """
    out = torch.addcmul(base, x, cos) if base is not None else x * cos
    h = x.shape[-1] // 2
    if torch.is_grad_enabled() and (x.requires_grad or out.requires_grad):
        return out.addcmul_(x.roll(h, dims=-1), sin_signed)
    out[..., :h].addcmul_(x[..., h:], sin_signed[..., :h])
    out[..., h:].addcmul_(x[..., :h], sin_signed[..., h:])
    return out


class Attention(dit.Attention):
    """``dit.Attention`` with the biases folded (see the module doc); rope from ``RotaryEmbedding`` here."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float = 0.0):
        super().__init__(dim, heads, dim_head, dropout)
        self._bias_cache: tuple | None = None

    def _folded_biases(self, rope: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(rotated q/k bias (2, 1, heads, N, d), output bias with W_out b_v folded in).

        Without autograd they are cached across calls (an ODE solve reuses them at every step); the key
        holds the parameters' versions, so an optimizer step or a weight load invalidates it.
        """
        cos, sin = rope
        grad = torch.is_grad_enabled() and self.to_qkv.bias.requires_grad
        params = (self.to_qkv.bias, self.to_out.bias, self.to_out.weight)
        key = (cos.shape, cos.dtype, cos.device, *((q.data_ptr(), q._version) for q in params))
        if not grad and self._bias_cache is not None and self._bias_cache[0] == key:
            return self._bias_cache[1]
        hd = self.heads * self.dim_head
        bias = self.to_qkv.bias.view(3, 1, self.heads, 1, self.dim_head)[:2].to(cos.dtype)
        bias_rot = apply_rotary(bias, cos, sin)
        out_bias = torch.addmv(self.to_out.bias, self.to_out.weight, self.to_qkv.bias[2 * hd :])
        if not grad:
            self._bias_cache = (key, (bias_rot, out_bias))
        return bias_rot, out_bias

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
        residual: torch.Tensor | None = None,
        gate: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, N, H) -> (B, N, H); with ``residual`` and ``gate`` (inference, one gate row) returns
        ``residual + gate * attention(x)`` from one fused output projection."""
        b, n, _ = x.shape
        hd = self.heads * self.dim_head
        # no bias in the projection: see _folded_biases (addmm would copy the biases into it first)
        qkv = F.linear(x, self.to_qkv.weight).view(b, n, 3, self.heads, self.dim_head).permute(2, 0, 3, 1, 4)
        bias_rot, out_bias = self._folded_biases(rope)
        if torch.is_grad_enabled() and qkv.requires_grad:
            # unbind: its backward stacks the three gradients in one buffer (indexing would zero-fill
            # and copy a full-size buffer per index)
            q, k, v = qkv.unbind(0)
            q, k = apply_rotary(q, *rope, bias_rot[0]), apply_rotary(k, *rope, bias_rot[1])
        else:
            q, k = apply_rotary(qkv[:2], *rope, bias_rot)  # q and k rotated in one pass, biases included
            v = qkv[2]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = out.transpose(1, 2).reshape(b, n, hd)
        if residual is not None:  # fused inference path: residual + gate * to_out(out), see gated_linear
            return gated_linear(out, self.to_out.weight, out_bias, gate, residual)
        out = F.linear(out, self.to_out.weight, out_bias)
        return dropout(out, self.dropout.p, self.training)


class DiTBlock(dit.DiTBlock):
    """``dit.DiTBlock`` with the fast ``Attention``, ``modulate``, ``dropout``, and on CPU sampling the
    oneDNN fused epilogues."""

    def __init__(self, dim: int, heads: int, dim_head: int, ff_mult: float, dropout: float):
        super().__init__(dim, heads, dim_head, ff_mult, dropout, attention=Attention)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        attn_mask: torch.Tensor | None,
    ) -> torch.Tensor:
        mod = self.modulation(t).unsqueeze(1)  # (B, 1, 6H), small: the (1 + scale) terms are cheap here
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = mod.chunk(6, dim=-1)
        fc1, _, drop, fc2 = self.ff
        if mod.shape[0] == 1 and fused_cpu_inference(x):
            # Sampling on CPU: oneDNN epilogues fuse bias + GELU into fc1 and bias + gate + residual into
            # the two output projections (one pass over the activations each instead of two or three).
            x = self.attn(modulate(self.attn_norm, x, shift_a, scale_a), rope, attn_mask, x, gate_a)
            h = torch.ops.mkldnn._linear_pointwise(
                modulate(self.ff_norm, x, shift_f, scale_f), fc1.weight, fc1.bias, "gelu", [], "tanh"
            )
            return gated_linear(h, fc2.weight, fc2.bias, gate_f, x)
        h = self.attn(modulate(self.attn_norm, x, shift_a, scale_a), rope, attn_mask)
        x = torch.addcmul(x, gate_a, h)
        h = F.gelu(fc1(modulate(self.ff_norm, x, shift_f, scale_f)), approximate="tanh")
        return torch.addcmul(x, gate_f, fc2(dropout(h, drop.p, self.training)))


FAST = dit.Layers(
    text_block=ConvNeXtV2Block,
    conv_pos=ConvPositionEmbedding,
    rotary=RotaryEmbedding,
    block=DiTBlock,
    modulate=modulate,
)
