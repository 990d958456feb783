"""HuBERT teacher run by fairseq2 0.8.1's wav2vec2 encoder.

fairseq2 has no HuBERT family, but HuBERT's encoder has the wav2vec2 layout: a conv feature extractor,
post-extract LayerNorm + projection, a weight-normed convolutional position encoder and a Transformer.
We build the encoder front end + Transformer with ``Wav2Vec2EncoderFactory`` from a config matching
HuBERT base / large (inferred from the checkpoint's weights), rename the fairseq HuBERT keys to
fairseq2's, load strictly, and return the output of the chosen Transformer layer.

Checkpoint: a fairseq HuBERT ``.pt`` holding ``{"model": state_dict, ...}`` (or a bare state dict), read
with ``torch.load(weights_only=True)``; ``cfg.model.layer_norm_first`` is used when present. Pretraining-only keys (mask_emb, label_embs_concat, final_proj)
are dropped.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tts.io import CheckpointError, load_checkpoint
from tts.teacher import ssl_input

# fairseq HuBERT key -> fairseq2 wav2vec2 encoder key (frontend keys get "frontend.", Transformer "encoder.").
KEY_MAP = {
    r"^feature_extractor\.conv_layers\.([0-9]+)\.0\.": r"frontend.feature_extractor.layers.\1.conv.",
    r"^feature_extractor\.conv_layers\.([0-9]+)\.2\.1\.": r"frontend.feature_extractor.layers.\1.layer_norm.",
    r"^feature_extractor\.conv_layers\.0\.2\.": r"frontend.feature_extractor.layers.0.group_norm.",
    r"^layer_norm\.": r"frontend.post_extract_layer_norm.",
    r"^post_extract_proj\.": r"frontend.model_dim_proj.",
    r"^encoder\.pos_conv\.0\.": r"frontend.pos_encoder.conv.",
    r"^encoder\.layers\.([0-9]+)\.self_attn\.out_proj\.": r"encoder.layers.\1.self_attn.output_proj.",
    r"^encoder\.layers\.([0-9]+)\.self_attn\.([qkv])_proj\.": r"encoder.layers.\1.self_attn.\2_proj.",
    r"^encoder\.layers\.([0-9]+)\.self_attn_layer_norm\.": r"encoder.layers.\1.self_attn_layer_norm.",
    r"^encoder\.layers\.([0-9]+)\.fc1\.": r"encoder.layers.\1.ffn.inner_proj.",
    r"^encoder\.layers\.([0-9]+)\.fc2\.": r"encoder.layers.\1.ffn.output_proj.",
    r"^encoder\.layers\.([0-9]+)\.final_layer_norm\.": r"encoder.layers.\1.ffn_layer_norm.",
}
DROPPED_KEYS = re.compile(r"^(mask_emb|label_embs_concat|final_proj\.|encoder\.version)")


def read_fairseq_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], bool | None]:
    """(model state dict, cfg.model.layer_norm_first if recorded) of a fairseq checkpoint ({"model": sd, "cfg"})."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}. fairseq checkpoints that pickle config objects cannot be read with weights_only=True: "
            "re-save as torch.save({'model': ckpt['model']}, path) in a trusted environment."
        ) from e
    state = ckpt.get("model", ckpt)
    if not any(k.startswith("feature_extractor.conv_layers.") for k in state):
        raise CheckpointError(f"{path}: no fairseq HuBERT keys (feature_extractor.conv_layers.*) found")
    cfg = ckpt.get("cfg")
    model_cfg = cfg.get("model") if isinstance(cfg, dict) else None
    pre_norm = model_cfg.get("layer_norm_first") if isinstance(model_cfg, dict) else None
    return state, pre_norm


def hubert_encoder_config(state: dict[str, torch.Tensor], pre_norm: bool | None = None):
    """A fairseq2 ``Wav2Vec2EncoderConfig`` matching the HuBERT checkpoint (base, large, xlarge layouts).

    ``pre_norm`` (fairseq's layer_norm_first) defaults to True for the layer-norm feature extractor
    (HuBERT large/xlarge) and False for the group-norm one (HuBERT base).
    """
    from fairseq2.models.transformer import TransformerNormOrder
    from fairseq2.models.wav2vec2 import Wav2Vec2EncoderConfig

    n_convs = 1 + max(
        int(m.group(1)) for k in state if (m := re.match(r"feature_extractor\.conv_layers\.(\d+)\.", k))
    )
    conv_descs = []
    for i in range(n_convs):
        out_dim, _, kernel = state[f"feature_extractor.conv_layers.{i}.0.weight"].shape
        conv_descs.append((int(out_dim), int(kernel), 5 if i == 0 else 2))
    model_dim, feature_dim = state["post_extract_proj.weight"].shape
    n_layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k)))
    pos_conv = state.get("encoder.pos_conv.0.weight_v", state.get("encoder.pos_conv.0.weight"))
    layer_norm_convs = "feature_extractor.conv_layers.0.2.1.weight" in state
    if pre_norm is None:
        pre_norm = layer_norm_convs
    head_dim = 64
    return Wav2Vec2EncoderConfig(
        model_dim=int(model_dim),
        feature_dim=int(feature_dim),
        feature_extractor_layer_descs=conv_descs,
        feature_extractor_bias="feature_extractor.conv_layers.0.0.bias" in state,
        feature_extractor_layer_norm_convs=layer_norm_convs,
        layer_norm_features=not pre_norm,
        pos_conv_kernel_size=int(pos_conv.shape[-1]),
        num_pos_conv_groups=int(model_dim) // int(pos_conv.shape[1]),
        num_encoder_layers=n_layers,
        num_encoder_attn_heads=int(model_dim) // head_dim,
        ffn_inner_dim=int(state["encoder.layers.0.fc1.weight"].shape[0]),
        dropout_p=0.0,
        attn_dropout_p=0.0,
        layer_drop_p=0.0,
        feature_grad_scale=1.0,
        norm_order=TransformerNormOrder.PRE if pre_norm else TransformerNormOrder.POST,
    )


def convert_hubert_state_dict(state: dict[str, torch.Tensor], pre_norm: bool) -> dict[str, torch.Tensor]:
    """fairseq HuBERT key names -> our fairseq2 frontend/encoder key names."""
    out = {}
    for key, value in state.items():
        if DROPPED_KEYS.match(key):
            continue
        if key.startswith("encoder.layer_norm."):
            # post-norm (base): LayerNorm after the position encoder = fairseq2 frontend.layer_norm;
            # pre-norm (large): final LayerNorm after the last layer = encoder.layer_norm.
            new = ("encoder." if pre_norm else "frontend.") + key.removeprefix("encoder.")
        else:
            for pattern, replacement in KEY_MAP.items():
                new, n_subs = re.subn(pattern, replacement, key)
                if n_subs:
                    break
            else:
                raise CheckpointError(f"unexpected HuBERT checkpoint key {key!r}")
        out[new] = value
    return out


class HubertEncoder(torch.nn.Module):
    """fairseq2 wav2vec2 front end + Transformer loaded with HuBERT weights. (B, T) -> per-layer outputs."""

    def __init__(self, config):
        super().__init__()
        from fairseq2.models.wav2vec2 import Wav2Vec2EncoderFactory

        factory = Wav2Vec2EncoderFactory(config)
        self.frontend = factory.create_encoder_frontend()
        self.encoder = factory.create_encoder()

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layers)

    def forward(self, wav: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """(B, T) -> (B, N, model_dim): output of 1-based Transformer ``layer`` (negative: from the end).

        The final LayerNorm of pre-norm models is applied when the last layer is requested.
        """
        from fairseq2.models.transformer import AttentionBiasCache
        from fairseq2.nn import BatchLayout

        n_layers = self.num_layers
        index = layer if layer > 0 else n_layers + 1 + layer
        if not 1 <= index <= n_layers:
            raise ValueError(f"layer {layer} out of range for a {n_layers}-layer encoder")
        seqs, layout = self.frontend(wav, BatchLayout.of(wav))
        cache = AttentionBiasCache()
        for i in range(index):
            seqs = self.encoder.layers[i](seqs, layout, cache)
        if index == n_layers and self.encoder.layer_norm is not None:
            seqs = self.encoder.layer_norm(seqs)
        return seqs


def load_hubert_encoder(path: str | Path, pre_norm: bool | None = None) -> HubertEncoder:
    """HubertEncoder (eval mode) from a fairseq HuBERT checkpoint; keys must match exactly.

    ``pre_norm``: override the Transformer norm order (default: the checkpoint's cfg, else inferred).
    """
    state, recorded_pre_norm = read_fairseq_checkpoint(path)
    config = hubert_encoder_config(state, recorded_pre_norm if pre_norm is None else pre_norm)
    from fairseq2.models.transformer import TransformerNormOrder

    model = HubertEncoder(config)
    converted = convert_hubert_state_dict(state, config.norm_order == TransformerNormOrder.PRE)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: HuBERT checkpoint does not fit: missing {missing}, unexpected {unexpected}"
        )
    return model.eval()


class Fairseq2HubertTeacher:
    """HuBERT layer features at 50 Hz: list of (T,) at 16 kHz -> list of (N, model_dim).

    Each utterance is encoded on its own (no padding effects); input shorter than 400 samples is
    zero-padded to 400. Large models get zero-mean unit-variance input, as in their fine-tuning recipes.
    """

    sample_rate = 16000
    frame_rate = 50.0

    def __init__(self, path: str, layer: int = -1, norm: str | None = None, device: str = "cpu"):
        if norm not in (None, "pre", "post"):
            raise ValueError(f"norm must be 'pre' or 'post', got {norm!r}")
        self.model = load_hubert_encoder(path, None if norm is None else norm == "pre").to(device)
        self.layer = layer
        self.device = device
        self.dim = self.model.frontend.model_dim_proj.output_dim
        self.normalize_input = self.dim >= 1024
        self.name = f"fairseq2-hubert:{path}:layer={layer}"

    @torch.inference_mode()
    def __call__(self, wavs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for wav in wavs:
            x = ssl_input(wav, self.device, self.normalize_input)
            out.append(self.model(x, self.layer)[0].float().cpu())
        return out
