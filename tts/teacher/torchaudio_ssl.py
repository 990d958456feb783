"""HuBERT / WavLM teachers run by torchaudio's model builders with a local state dict.

The weights may use torchaudio's, fairseq/UniSpeech's (e.g. microsoft/unilm ``WavLM-Large.pt``) or
HuggingFace's key names (``pytorch_model.bin`` / ``model.safetensors`` of microsoft/wavlm-large or a
HuBERT); ``tts.ssl_models.load_torchaudio_ssl`` reads, renames and loads them.
"""

from __future__ import annotations

import torch

from tts.ssl_models import load_torchaudio_ssl, ssl_input


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
