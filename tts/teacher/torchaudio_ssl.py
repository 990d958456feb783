"""HuBERT / WavLM teachers built with torchaudio's model builders and a local state dict.

The state dict may be in torchaudio's key names (``model.state_dict()`` of ``torchaudio.models.hubert_large``
etc., optionally under a "state_dict" or "model" entry) or in fairseq's key names: HuBERT's are converted
with torchaudio's own fairseq key map; WavLM's (microsoft/unilm ``WavLM-Large.pt``, the UniSpeech/fairseq
layout) add the gated relative-position keys (``self_attn.grep_linear``, ``grep_a``,
``relative_attention_bias``) and separate q/k/v projections, mapped here onto torchaudio's WavLM
attention (``gru_rel_pos_linear``, ``gru_rel_pos_const``, ``rel_attn_embed``, fused ``in_proj``).
HuggingFace names (``pytorch_model.bin`` / ``model.safetensors`` of microsoft/wavlm-large or a HuBERT) are
converted too.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tts.io import CheckpointError, load_checkpoint
from tts.teacher import ssl_input

BUILDERS = {"hubert-base": "hubert_base", "hubert-large": "hubert_large", "wavlm-large": "wavlm_large"}


_WAVLM_ATTN = re.compile(
    r"encoder\.layers\.(\d+)\.self_attn\."
    r"(grep_linear\.(?:weight|bias)|grep_a|relative_attention_bias\.weight|(q|k|v|out)_proj\.(weight|bias))"
)
_WAVLM_NAMES = {
    "grep_linear": "gru_rel_pos_linear",
    "grep_a": "gru_rel_pos_const",
    "relative_attention_bias": "rel_attn_embed",
}


def convert_fairseq_state(state: dict[str, torch.Tensor], wavlm: bool, path: str | Path = "") -> dict:
    """fairseq/UniSpeech-named HuBERT or WavLM weights -> torchaudio ``Wav2Vec2Model`` keys.

    Raises ``CheckpointError`` naming the key for a key neither layout has, or a WavLM layer whose
    q/k/v projections are incomplete.
    """
    from torchaudio.models.wav2vec2.utils.import_fairseq import _map_key

    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        bare = key.removeprefix("w2v_model.")
        m = _WAVLM_ATTN.fullmatch(bare) if wavlm else None
        if m:
            layer, name, proj, kind = m[1], m[2], m[3], m[4]
            prefix = f"encoder.transformer.layers.{layer}.attention."
            if proj in ("q", "k", "v"):
                qkv.setdefault((layer, kind), {})[proj] = value
            elif proj == "out":
                out[f"{prefix}attention.out_proj.{kind}"] = value
            else:
                stem, _, leaf = name.partition(".")
                out[prefix + _WAVLM_NAMES[stem] + (f".{leaf}" if leaf else "")] = value
            continue
        try:
            mapped = _map_key(key)
        except ValueError:
            raise CheckpointError(
                f"{path}: unexpected key {key!r} for a fairseq {'WavLM' if wavlm else 'HuBERT'} checkpoint"
            ) from None
        if mapped is not None:
            out[mapped] = value
    for (layer, kind), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            missing = sorted({"q", "k", "v"} - set(parts))
            raise CheckpointError(
                f"{path}: encoder.layers.{layer}.self_attn.{missing[0]}_proj.{kind} missing (WavLM q/k/v)"
            )
        fused = torch.cat([parts["q"], parts["k"], parts["v"]])
        out[f"encoder.transformer.layers.{layer}.attention.attention.in_proj_{kind}"] = fused
    return out


_HF_PREFIXES = ("wavlm.", "hubert.")
_HF_HEADS = ("masked_spec_embed", "lm_head.", "projector.", "classifier.", "encoder.masked_spec_embed")


def convert_huggingface_state(state: dict[str, torch.Tensor], wavlm: bool, path: str | Path = "") -> dict:
    """HuggingFace ``WavLMModel`` / ``HubertModel`` weights (e.g. microsoft/wavlm-large, the model the
    released Semantic-VAE extracts features with) -> torchaudio ``Wav2Vec2Model`` keys (WavLM's separate
    q/k/v projections fused into ``in_proj``, as torchaudio's own HuggingFace importer does)."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        k = next((key[len(p) :] for p in _HF_PREFIXES if key.startswith(p)), key)
        if k.startswith(_HF_HEADS):
            continue
        if k.startswith("feature_extractor."):
            out[k] = value
        elif k.startswith("feature_projection."):
            out["encoder." + k] = value
        elif wavlm and (
            m := re.fullmatch(r"encoder\.layers\.(\d+)\.attention\.(q|k|v)_proj\.(weight|bias)", k)
        ):
            qkv.setdefault((m[1], m[3]), {})[m[2]] = value
        elif wavlm and (m := re.fullmatch(r"encoder\.layers\.(\d+)\.attention\.out_proj\.(weight|bias)", k)):
            out[f"encoder.transformer.layers.{m[1]}.attention.attention.out_proj.{m[2]}"] = value
        elif k.startswith("encoder."):
            out["encoder.transformer." + k[len("encoder.") :]] = value
        else:
            raise CheckpointError(
                f"{path}: unexpected key {key!r} for a HuggingFace {'WavLM' if wavlm else 'HuBERT'} model"
            )
    for (layer, kind), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            missing = sorted({"q", "k", "v"} - set(parts))
            raise CheckpointError(
                f"{path}: encoder.layers.{layer}.attention.{missing[0]}_proj.{kind} missing (WavLM q/k/v)"
            )
        out[f"encoder.transformer.layers.{layer}.attention.attention.in_proj_{kind}"] = torch.cat(
            [parts["q"], parts["k"], parts["v"]]
        )
    return out


def load_torchaudio_ssl(arch: str, path: str | Path) -> torch.nn.Module:
    """torchaudio ``Wav2Vec2Model`` for ``arch`` (hubert-base, hubert-large, wavlm-large) with weights from ``path``."""
    import torchaudio

    if arch not in BUILDERS:
        raise ValueError(f"unknown torchaudio SSL model {arch!r}; choose one of {sorted(BUILDERS)}")
    if Path(path).suffix == ".safetensors":
        from tts.io import load_safetensors

        ckpt = load_safetensors(path, "is it a complete model.safetensors?")
    else:
        ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt.get("model", ckpt))
    wavlm = arch.startswith("wavlm")
    if any(k.startswith(tuple(p + "feature_projection." for p in ("", *_HF_PREFIXES))) for k in state):
        state = convert_huggingface_state(state, wavlm, path)  # HuggingFace names
    elif any(k.startswith("feature_extractor.conv_layers.") and ".0.weight" in k for k in state):
        if not any(".conv." in k for k in state):  # fairseq names
            state = convert_fairseq_state(state, wavlm=wavlm, path=path)
    state = {k: v for k, v in state.items() if not k.startswith(("aux.", "label_embs_concat"))}
    model = getattr(torchaudio.models, BUILDERS[arch])()
    expected = model.state_dict()
    for key, value in state.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(value.shape)}, {arch} needs {tuple(expected[key].shape)}"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: not a {arch} state dict: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    return model.eval()


class TorchaudioSSLTeacher:
    """Layer features at 50 Hz: list of (T,) at 16 kHz -> list of (N, dim); one utterance at a time.

    ``layer``: 1-based Transformer layer output; for the last layer of pre-norm models the final
    LayerNorm is applied (as in ``tts.teacher.fairseq2_hubert``).

    Large models get zero-mean unit-variance input (their pre-training normalization).
    """

    sample_rate = 16000
    frame_rate = 50.0

    def __init__(self, arch: str, path: str, layer: int = -1, device: str = "cpu"):
        self.model = load_torchaudio_ssl(arch, path).to(device)
        self.device = device
        n_layers = len(self.model.encoder.transformer.layers)
        self.layer = layer if layer > 0 else n_layers + 1 + layer
        if not 1 <= self.layer <= n_layers:
            raise ValueError(f"layer {layer} out of range for {arch} ({n_layers} layers)")
        self.dim = self.model.encoder.feature_projection.projection.out_features
        transformer = self.model.encoder.transformer
        # pre-norm models apply their final LayerNorm after the last layer (as fairseq / HF do for it).
        # torchaudio's Transformer stores the flag inverted: layer_norm_first=False there means a pre-norm
        # (large) model whose transformer.layer_norm runs after the last layer.
        last_pre_norm = self.layer == n_layers and not transformer.layer_norm_first
        self.final_layer_norm = transformer.layer_norm if last_pre_norm else None
        self.normalize_input = arch.endswith("large")
        self.name = f"torchaudio-{arch}:{path}:layer={layer}"

    @torch.inference_mode()
    def __call__(self, wavs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for wav in wavs:
            x = ssl_input(wav, self.device, self.normalize_input)
            feats, _ = self.model.extract_features(x, num_layers=self.layer)
            h = feats[-1][0]
            if self.final_layer_norm is not None:
                h = self.final_layer_norm(h)
            out.append(h.float().cpu())
        return out
