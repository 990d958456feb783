"""HuBERT teacher run by fairseq2 0.8.1's wav2vec2 encoder.

fairseq2 has no HuBERT family, but HuBERT's encoder has the wav2vec2 layout: a conv feature extractor,
post-extract LayerNorm + projection, a weight-normed convolutional position encoder and a Transformer.
``tts.ssl_models.load_hubert_encoder`` builds that with ``Wav2Vec2EncoderFactory`` from a config matching
HuBERT base / large (inferred from the checkpoint's weights), renames the fairseq HuBERT keys to
fairseq2's, loads them strictly; the teacher returns the output of the chosen Transformer layer.

Checkpoint: a fairseq HuBERT ``.pt`` holding ``{"model": state_dict, ...}`` (or a bare state dict), read
with ``torch.load(weights_only=True)``; ``cfg.model.layer_norm_first`` is used when present. Pretraining-only
keys (mask_emb, label_embs_concat, final_proj) are dropped.
"""

from __future__ import annotations

import torch

from tts.ssl_models import load_hubert_encoder, ssl_input


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
