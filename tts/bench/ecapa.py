"""WavLM-large + ECAPA-TDNN speaker encoder: the SIM-o model of F5-TTS / Seed-TTS.

Same math and parameter names as UniSpeech's ``ECAPA_TDNN_SMALL(feat_dim=1024, feat_type="wavlm_large")``
(``downstreams/speaker_verification/models/ecapa_tdnn.py``, copied by F5-TTS as
``src/f5_tts/eval/ecapa_tdnn.py``), so its checkpoint ``wavlm_large_finetune.pth`` loads strictly:

- WavLM-large (torchaudio's implementation) on the per-utterance layer-normalized waveform; the
  "hidden states" are those s3prl's WavLM upstream hooks: the input of each of the 24 Transformer
  layers (convolutional positional embedding added) plus the encoder output after its final LayerNorm
  (25 in all);
- their weighted sum with learned softmax weights (``feature_weight``), + 1e-6, InstanceNorm1d over time;
- ECAPA-TDNN with 512 channels (Conv1d-ReLU-BN, 3 SE-Res2Blocks with dilations 2/3/4, 1536-channel 1x1
  conv, attentive statistics pooling, BatchNorm, Linear to a 256-dim embedding).

The checkpoint stores the WavLM weights under ``feature_extract.model.*`` with the UniSpeech / s3prl WavLM
names (fairseq's); ``from_unispeech`` / ``to_unispeech`` convert between those and this module's ``wavlm.*``
names (torchaudio's) with the key table of ``tts.ssl_models``. The architecture sizes are read from the
state dict; the conv strides and the relative position ``max_distance`` are not stored in it and default to
WavLM-large's.
Checkpoint problems raise ``tts.errors.CheckpointError`` naming the file and the keys (``WavLMECAPAEncoder``
in ``tts.bench.similarity`` reports keys and shapes that do not fit as its ``SimilarityError``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from tts import ssl_models
from tts.io import CheckpointError, load_checkpoint

WAVLM_LARGE_CONV = ((512, 10, 5),) + ((512, 3, 2),) * 4 + ((512, 2, 2),) * 2
UNI = "feature_extract.model."  # prefix of the WavLM upstream in UniSpeech's ECAPA_TDNN state dict
OURS = "wavlm."
# In the checkpoint but not used at inference: s3prl WavLM's masking embedding (pre-training) and the
# speaker-classification head of the training loss (``loss_calculator.*``, e.g. an AAM-softmax projection
# onto the VoxCeleb2 speakers), which F5-TTS's non-strict load skips too.
UNUSED_KEYS = (UNI + "mask_emb",)
UNUSED_PREFIXES = ("loss_calculator.",)


@dataclass(frozen=True)
class WavLMECAPAConfig:
    """Architecture; the defaults are ECAPA_TDNN_SMALL on WavLM-large (torchaudio ``wavlm_large``)."""

    # WavLM
    conv_layers: tuple[tuple[int, int, int], ...] = WAVLM_LARGE_CONV  # (channels, kernel, stride)
    embed_dim: int = 1024
    num_layers: int = 24
    num_heads: int = 16
    ffn_dim: int = 4096
    num_buckets: int = 320
    max_distance: int = 800
    pos_conv_kernel: int = 128
    pos_conv_groups: int = 16
    normalize: bool = True  # zero-mean unit-variance waveform (WavLM-large's cfg.normalize)
    # ECAPA-TDNN
    channels: int = 512
    emb_dim: int = 256
    pool_channels: int = 1536
    scale: int = 8  # Res2Net scale
    se_dim: int = 128
    att_dim: int = 128

    @property
    def num_hidden(self) -> int:
        return self.num_layers + 1

    @property
    def min_samples(self) -> int:
        """Shortest input that gives two WavLM frames (InstanceNorm1d needs more than one): the conv
        extractor's receptive field plus its hop."""
        n, hop = 0, 1
        for i, (_, k, s) in enumerate(self.conv_layers):
            n = k if i == 0 else n + (k - 1) * hop
            hop *= s
        return n + hop


# ----------------------------------------------------------------------------------------- ECAPA-TDNN


class ConvReluBn(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int = 1, padding: int = 0, dilation: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel_size, padding=padding, dilation=dilation)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(F.relu(self.conv(x)))


class Res2ConvReluBn(nn.Module):
    """Res2Net block: ``scale`` channel groups, each but the last through conv-ReLU-BN fed by its predecessor."""

    def __init__(self, channels: int, kernel_size: int, padding: int, dilation: int, scale: int):
        super().__init__()
        if channels % scale:
            raise ValueError(f"channels {channels} not divisible by scale {scale}")
        self.width = channels // scale
        n = max(scale - 1, 1)
        self.convs = nn.ModuleList(
            nn.Conv1d(self.width, self.width, kernel_size, padding=padding, dilation=dilation)
            for _ in range(n)
        )
        self.bns = nn.ModuleList(nn.BatchNorm1d(self.width) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.width, dim=1)
        out, y = [], None
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns)):
            y = parts[i] if y is None else y + parts[i]
            y = bn(F.relu(conv(y)))
            out.append(y)
        out += parts[len(self.convs) :]  # the untouched last group (none when scale == 1)
        return torch.cat(out, dim=1)


class SEConnect(nn.Module):
    """Squeeze-excitation over channels (time-averaged)."""

    def __init__(self, channels: int, bottleneck: int):
        super().__init__()
        self.linear1 = nn.Linear(channels, bottleneck)
        self.linear2 = nn.Linear(bottleneck, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.linear2(F.relu(self.linear1(x.mean(dim=2)))))
        return x * gate.unsqueeze(2)


class SERes2Block(nn.Module):
    # Attribute names follow UniSpeech's SE_Res2Block (checkpoint keys).
    def __init__(self, channels: int, dilation: int, scale: int, se_dim: int):
        super().__init__()
        self.Conv1dReluBn1 = ConvReluBn(channels, channels)
        self.Res2Conv1dReluBn = Res2ConvReluBn(channels, 3, padding=dilation, dilation=dilation, scale=scale)
        self.Conv1dReluBn2 = ConvReluBn(channels, channels)
        self.SE_Connect = SEConnect(channels, se_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.Conv1dReluBn2(self.Res2Conv1dReluBn(self.Conv1dReluBn1(x)))
        return x + self.SE_Connect(y)


class AttentiveStatsPool(nn.Module):
    """Attention-weighted mean and standard deviation over time: (B, C, T) -> (B, 2C)."""

    def __init__(self, channels: int, att_dim: int):
        super().__init__()
        self.linear1 = nn.Conv1d(channels, att_dim, kernel_size=1)
        self.linear2 = nn.Conv1d(att_dim, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        alpha = torch.softmax(self.linear2(torch.tanh(self.linear1(x))), dim=2)
        mean = (alpha * x).sum(dim=2)
        var = (alpha * x.square()).sum(dim=2) - mean.square()
        return torch.cat([mean, var.clamp(min=1e-9).sqrt()], dim=1)


# ------------------------------------------------------------------------------------------- model


class WavLMECAPA(nn.Module):
    """Waveforms (B, T) at 16 kHz, all of the same length (no padding mask) -> embeddings (B, emb_dim)."""

    def __init__(self, config: WavLMECAPAConfig | None = None):
        super().__init__()
        import torchaudio

        c = self.config = config or WavLMECAPAConfig()
        self.wavlm = torchaudio.models.wavlm_model(
            extractor_mode="layer_norm",
            extractor_conv_layer_config=[tuple(layer) for layer in c.conv_layers],
            extractor_conv_bias=False,
            encoder_embed_dim=c.embed_dim,
            encoder_projection_dropout=0.0,
            encoder_pos_conv_kernel=c.pos_conv_kernel,
            encoder_pos_conv_groups=c.pos_conv_groups,
            encoder_num_layers=c.num_layers,
            encoder_num_heads=c.num_heads,
            encoder_num_buckets=c.num_buckets,
            encoder_max_distance=c.max_distance,
            encoder_attention_dropout=0.0,
            encoder_ff_interm_features=c.ffn_dim,
            encoder_ff_interm_dropout=0.0,
            encoder_dropout=0.0,
            encoder_layer_norm_first=True,  # pre-LN layers, final encoder LayerNorm (WavLM-large)
            encoder_layer_drop=0.0,
            aux_num_out=None,
        )
        self.feature_weight = nn.Parameter(torch.zeros(c.num_hidden))
        self.instance_norm = nn.InstanceNorm1d(c.embed_dim)
        self.layer1 = ConvReluBn(c.embed_dim, c.channels, kernel_size=5, padding=2)
        self.layer2 = SERes2Block(c.channels, dilation=2, scale=c.scale, se_dim=c.se_dim)
        self.layer3 = SERes2Block(c.channels, dilation=3, scale=c.scale, se_dim=c.se_dim)
        self.layer4 = SERes2Block(c.channels, dilation=4, scale=c.scale, se_dim=c.se_dim)
        self.conv = nn.Conv1d(3 * c.channels, c.pool_channels, kernel_size=1)
        self.pooling = AttentiveStatsPool(c.pool_channels, c.att_dim)
        self.bn = nn.BatchNorm1d(2 * c.pool_channels)
        self.linear = nn.Linear(2 * c.pool_channels, c.emb_dim)

    def hidden_states(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (num_layers + 1, B, frames, embed_dim): s3prl's WavLM ``hidden_states``."""
        if self.config.normalize:
            wav = F.layer_norm(wav, wav.shape[-1:])
        feats, _ = self.wavlm.feature_extractor(wav, None)
        x = self.wavlm.encoder.feature_projection(feats)
        transformer = self.wavlm.encoder.transformer
        x = x + transformer.pos_conv_embed(x)  # pre-LN model: no LayerNorm before the layers
        states, position_bias = [x], None
        for layer in transformer.layers:
            x, position_bias = layer(x, None, position_bias=position_bias)
            states.append(x)
        states[-1] = transformer.layer_norm(x)  # the encoder's output, after its final LayerNorm
        return torch.stack(states)

    def embed_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """ECAPA-TDNN head: stacked hidden states (L + 1, B, frames, embed_dim) -> (B, emb_dim)."""
        weights = torch.softmax(self.feature_weight, dim=-1)
        x = (weights[:, None, None, None] * hidden).sum(dim=0).transpose(1, 2) + 1e-6
        x = self.instance_norm(x)
        out2 = self.layer2(self.layer1(x))
        out3 = self.layer3(out2)
        out4 = self.layer4(out3)
        out = F.relu(self.conv(torch.cat([out2, out3, out4], dim=1)))
        return self.linear(self.bn(self.pooling(out)))

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.embed_hidden(self.hidden_states(wav))


# ------------------------------------------------------------------------------- checkpoint key names


def from_unispeech(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """UniSpeech / s3prl key names (``feature_extract.model.*``) -> this module's (``wavlm.*``, torchaudio's).

    The WavLM names are fairseq's (``tts.ssl_models.rename``): the q/k/v projections are concatenated into
    ``in_proj`` (a layer missing one of them gets none); ``mask_emb`` and ``loss_calculator.*`` are
    dropped; a key that matches no rule keeps its name (and so is reported as unexpected by a strict load).
    The ECAPA keys are the same in both.
    """
    upstream = {k[len(UNI) :]: v for k, v in state.items() if k.startswith(UNI) and k not in UNUSED_KEYS}
    renamed, unknown = ssl_models.rename(upstream, "fairseq", "torchaudio", wavlm=True)

    def kept(key: str) -> bool:
        return key[len(UNI) :] in unknown if key.startswith(UNI) else not key.startswith(UNUSED_PREFIXES)

    out = {k: v for k, v in state.items() if kept(k)}  # the checkpoint's order: unexpected keys listed in it
    out.update({OURS + k: v for k, v in renamed.items()})
    return out


def to_unispeech(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of ``from_unispeech`` (without the unused keys): this module's names -> UniSpeech's."""
    ours = {k[len(OURS) :]: v for k, v in state.items() if k.startswith(OURS)}
    renamed, unknown = ssl_models.rename(ours, "torchaudio", "fairseq", wavlm=True)
    out = {k: v for k, v in state.items() if not k.startswith(OURS)}
    out.update({UNI + k: v for k, v in renamed.items()})
    out.update({OURS + k: v for k, v in unknown.items()})
    return out


def unispeech_names(key: str) -> list[str]:
    """The UniSpeech checkpoint name(s) of one of this module's keys (in_proj: its q, k and v)."""
    if not key.startswith(OURS):
        return [key]
    names = ssl_models.names(key[len(OURS) :], "torchaudio", "fairseq", wavlm=True)
    return [UNI + n for n in names] if names else [key]


# --------------------------------------------------------------------------------------- loading


def _layer_count(state: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    found = [int(m.group(1)) for k in state if (m := regex.fullmatch(k))]
    return max(found) + 1 if found else 0


def infer_config(
    state: dict[str, torch.Tensor],
    conv_strides: Sequence[int] | None = None,
    max_distance: int | None = None,
) -> WavLMECAPAConfig:
    """Architecture sizes from a state dict in this module's names; missing entries keep the defaults
    (a strict load then reports them). The conv strides and ``max_distance`` are not in the weights:
    WavLM-large's unless given."""
    c = WavLMECAPAConfig()

    def shape(key: str) -> torch.Size | None:
        v = state.get(key)
        return v.shape if isinstance(v, torch.Tensor) else None

    kw: dict = {}
    n_conv = _layer_count(state, r"wavlm\.feature_extractor\.conv_layers\.(\d+)\.conv\.weight")
    if n_conv:
        strides = tuple(conv_strides) if conv_strides is not None else tuple(s for _, _, s in c.conv_layers)
        if len(strides) != n_conv:
            raise CheckpointError(
                f"the checkpoint has {n_conv} WavLM conv layers but {len(strides)} conv strides are configured"
            )
        convs = []
        for i, stride in enumerate(strides):
            s = shape(f"wavlm.feature_extractor.conv_layers.{i}.conv.weight")
            convs.append((int(s[0]), int(s[2]), int(stride)) if s is not None else c.conv_layers[i])
        kw["conv_layers"] = tuple(convs)
    elif conv_strides is not None:
        kw["conv_layers"] = tuple((d, k, s) for (d, k, _), s in zip(c.conv_layers, conv_strides, strict=True))
    n_layers = _layer_count(state, r"wavlm\.encoder\.transformer\.layers\.(\d+)\..*")
    if n_layers:
        kw["num_layers"] = n_layers
    tl = "wavlm.encoder.transformer.layers.0."
    sizes = {
        "embed_dim": ("wavlm.encoder.feature_projection.projection.weight", 0),
        "num_heads": (tl + "attention.gru_rel_pos_const", 1),
        "ffn_dim": (tl + "feed_forward.intermediate_dense.weight", 0),
        "num_buckets": (tl + "attention.rel_attn_embed.weight", 0),
        "pos_conv_kernel": (
            "wavlm.encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1",
            2,
        ),
        "channels": ("layer1.conv.weight", 0),
        "emb_dim": ("linear.weight", 0),
        "pool_channels": ("conv.weight", 0),
        "se_dim": ("layer2.SE_Connect.linear1.weight", 0),
        "att_dim": ("pooling.linear1.weight", 0),
    }
    for field, (key, dim) in sizes.items():
        s = shape(key)
        if s is not None and len(s) > dim:
            kw[field] = int(s[dim])
    s = shape("wavlm.encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1")
    if s is not None and s[1]:
        kw["pos_conv_groups"] = max(kw.get("embed_dim", c.embed_dim) // int(s[1]), 1)
    s = shape("layer2.Res2Conv1dReluBn.convs.0.weight")  # (channels // scale, ...)
    if s is not None and s[0]:
        kw["scale"] = max(kw.get("channels", c.channels) // int(s[0]), 1)
    if max_distance is not None:
        kw["max_distance"] = int(max_distance)
    return replace(c, **kw)


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The "model" state dict of ``path``, loaded with ``weights_only=True``; CheckpointError otherwise."""
    path = Path(path)
    resaved = path.with_name(path.stem + "_weights.pth")
    ckpt = load_checkpoint(
        path,
        missing_hint="No package ships it: put UniSpeech's speaker-verification checkpoint "
        "wavlm_large_finetune.pth (the one F5-TTS / Seed-TTS use for SIM-o) on disk and point "
        "`similarity: {backend: wavlm-ecapa, checkpoint: ...}` at it.",
        resave_hint="If it is complete and you trust it, re-save just its weights once, in a trusted "
        f"environment: load it with pickling allowed into c, run torch.save({{'model': c['model']}}, "
        f"'{resaved}') and point the similarity checkpoint at the new file.",
    )
    state = ckpt.get("model") if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        keys = [str(k) for k in list(ckpt)[:5]] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(
            f"{path}: expected a dict with a 'model' state dict (UniSpeech ECAPA_TDNN), got {keys}"
        )
    return state


def build_from_state(
    state: dict[str, torch.Tensor],
    conv_strides: Sequence[int] | None = None,
    max_distance: int | None = None,
    source: str = "checkpoint",
) -> WavLMECAPA:
    """A ``WavLMECAPA`` (eval mode, CPU) strictly loaded from a UniSpeech-named state dict."""
    mapped = from_unispeech(state)
    model = WavLMECAPA(infer_config(mapped, conv_strides, max_distance))
    return ssl_models.load_strict(
        model, mapped, source=source, what="a UniSpeech ECAPA_TDNN_SMALL(feat_type='wavlm_large') state dict",
        checkpoint_names=unispeech_names, checkpoint_keys=state,
    )  # fmt: skip


def config_dict(config: WavLMECAPAConfig) -> dict:
    return {k: [list(t) for t in v] if k == "conv_layers" else v for k, v in asdict(config).items()}
