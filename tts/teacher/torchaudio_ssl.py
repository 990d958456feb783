"""HuBERT / WavLM teachers built with torchaudio's model builders and a local state dict.

The state dict may be in torchaudio's key names (``model.state_dict()`` of ``torchaudio.models.hubert_large``
etc., optionally under a "state_dict" or "model" entry) or in fairseq's HuBERT key names, which are
converted with torchaudio's own fairseq key map.
"""

from __future__ import annotations

from pathlib import Path

import torch

from tts.io import CheckpointError, load_checkpoint
from tts.teacher import ssl_input

BUILDERS = {"hubert-base": "hubert_base", "hubert-large": "hubert_large", "wavlm-large": "wavlm_large"}


def load_torchaudio_ssl(arch: str, path: str | Path) -> torch.nn.Module:
    """torchaudio ``Wav2Vec2Model`` for ``arch`` (hubert-base, hubert-large, wavlm-large) with weights from ``path``."""
    import torchaudio

    if arch not in BUILDERS:
        raise ValueError(f"unknown torchaudio SSL model {arch!r}; choose one of {sorted(BUILDERS)}")
    ckpt = load_checkpoint(path)
    state = ckpt.get("state_dict", ckpt.get("model", ckpt))
    if any(k.startswith("feature_extractor.conv_layers.") and ".0.weight" in k for k in state):
        if not any(".conv." in k for k in state):  # fairseq names
            from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

            state = _convert_state_dict(state)
    state = {k: v for k, v in state.items() if not k.startswith(("aux.", "label_embs_concat"))}
    model = getattr(torchaudio.models, BUILDERS[arch])()
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
