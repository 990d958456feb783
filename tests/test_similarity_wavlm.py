"""WavLM-ECAPA SIM backend (tts.bench.ecapa) with tiny random models: no reference code, no real weights."""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pytest
import torch

from tts.bench.ecapa import (
    UNI,
    WavLMECAPA,
    WavLMECAPAConfig,
    from_unispeech,
    to_unispeech,
)
from tts.bench.similarity import SimilarityError, WavLMECAPAEncoder, cosine, load_similarity
from tts.errors import CheckpointError

STRIDES = (5, 2)
TINY = WavLMECAPAConfig(
    conv_layers=((16, 10, 5), (16, 3, 2)),
    embed_dim=32,
    num_layers=2,
    num_heads=2,
    ffn_dim=64,
    num_buckets=16,
    max_distance=64,
    pos_conv_kernel=8,
    pos_conv_groups=4,
    channels=16,
    emb_dim=12,
    pool_channels=48,
    se_dim=8,
    att_dim=8,
)


def _tiny_model(config: WavLMECAPAConfig = TINY, seed: int = 0) -> WavLMECAPA:
    torch.manual_seed(seed)
    model = WavLMECAPA(config)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # move every parameter and BN statistic off its default (zeros, ones)
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn(b.shape, generator=g))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))
    return model.eval()


def _wav(n: int = 3200, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 16000
    return 0.3 * torch.sin(2 * torch.pi * (150 + 50 * seed) * t) + 0.05 * torch.randn(n, generator=g)


@pytest.fixture
def checkpoint(tmp_path):
    """A tiny model saved as UniSpeech's {"model": state_dict} (with the keys F5-TTS's loader ignores)."""
    model = _tiny_model()
    state = to_unispeech(model.state_dict())
    state[UNI + "mask_emb"] = torch.rand(TINY.embed_dim)
    state["loss_calculator.projection.weight"] = torch.randn(7, TINY.emb_dim)
    path = tmp_path / "wavlm_large_finetune.pth"
    torch.save({"model": state}, path)
    return model, state, path


def test_ecapa_head_gives_256_dim_embeddings_from_tiny_features():
    config = WavLMECAPAConfig(embed_dim=32, num_layers=2, channels=16, pool_channels=48, se_dim=8, att_dim=8)
    model = WavLMECAPA(config).eval()
    assert model.feature_weight.shape == (3,)
    hidden = torch.randn(3, 2, 20, 32)  # (layers + 1, batch, frames, embed_dim)
    with torch.no_grad():
        emb = model.embed_hidden(hidden)
    assert emb.shape == (2, 256)
    assert torch.isfinite(emb).all()


def test_hidden_states_are_layer_inputs_plus_normed_output():
    model = _tiny_model()
    with torch.no_grad():
        hidden = model.hidden_states(_wav()[None])
    frames = ((3200 - 10) // 5 + 1 - 3) // 2 + 1
    assert hidden.shape == (TINY.num_layers + 1, 1, frames, TINY.embed_dim)
    # the last state went through the encoder's final LayerNorm: zero mean per frame up to its affine bias
    ln = model.wavlm.encoder.transformer.layer_norm
    centered = (hidden[-1] - ln.bias) / ln.weight
    assert centered.mean(-1).abs().max() < 1e-4


def test_key_mapping_round_trip():
    model = _tiny_model()
    ours = model.state_dict()
    uni = to_unispeech(ours)
    assert not any(k.startswith("wavlm.") for k in uni)
    for key in (
        "feature_extract.model.feature_extractor.conv_layers.1.0.weight",
        "feature_extract.model.feature_extractor.conv_layers.1.2.1.bias",
        "feature_extract.model.post_extract_proj.weight",
        "feature_extract.model.encoder.pos_conv.0.weight_g",
        "feature_extract.model.encoder.layers.0.self_attn.relative_attention_bias.weight",
        "feature_extract.model.encoder.layers.1.self_attn.v_proj.bias",
        "feature_extract.model.encoder.layers.1.self_attn.grep_a",
        "feature_extract.model.encoder.layers.1.fc2.weight",
        "feature_weight",
        "layer3.Res2Conv1dReluBn.convs.6.weight",
        "pooling.linear2.bias",
    ):
        assert key in uni, key
    q = uni["feature_extract.model.encoder.layers.1.self_attn.q_proj.weight"]
    assert q.shape == (TINY.embed_dim, TINY.embed_dim)
    back = from_unispeech(uni)
    assert back.keys() == ours.keys()
    for key, value in ours.items():
        assert torch.equal(back[key], value), key


def test_checkpoint_loads_strictly_and_embeds(checkpoint):
    model, _, path = checkpoint
    enc = WavLMECAPAEncoder(str(path), conv_strides=STRIDES, max_distance=TINY.max_distance)
    assert enc.model.config == TINY  # sizes inferred from the state dict, strides/max_distance given
    assert enc.name == "wavlm-ecapa" and enc.model_path == str(path)
    assert enc.model_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert enc.config["num_layers"] == 2 and enc.config["conv_layers"] == [[16, 10, 5], [16, 3, 2]]
    wavs = [_wav(3200, 0), _wav(2500, 1).numpy()]
    emb = enc.embed(wavs)
    assert emb.shape == (2, TINY.emb_dim) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    with torch.no_grad():
        direct = [model(torch.as_tensor(w)[None].float())[0].numpy() for w in wavs]
    np.testing.assert_allclose(cosine(emb, np.stack(direct)), 1.0, atol=1e-5)
    # through the backend table, as tts bench builds it
    sim = load_similarity(
        {"backend": "wavlm-ecapa", "checkpoint": str(path), "conv_strides": list(STRIDES), "max_distance": 64}
    )
    np.testing.assert_allclose(sim.embed(wavs), emb, atol=1e-6)


def test_short_and_empty_input(checkpoint):
    _, _, path = checkpoint
    enc = WavLMECAPAEncoder(str(path), conv_strides=STRIDES, max_distance=TINY.max_distance)
    assert enc.model.config.min_samples == 30  # receptive field 10 + (3 - 1) * 5, plus a hop of 10
    emb = enc.embed([torch.zeros(5), _wav(29), _wav(30)])  # under two WavLM frames: zero-padded
    assert emb.shape == (3, TINY.emb_dim) and np.isfinite(emb).all()
    assert enc.embed([]).shape == (0, TINY.emb_dim)


def test_wavlm_large_receptive_field():
    assert WavLMECAPAConfig().min_samples == 400 + 320  # 25 ms window, 20 ms hop


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found.*wavlm_large_finetune.pth"):
        WavLMECAPAEncoder(str(tmp_path / "nope.pth"))


def test_truncated_checkpoint(checkpoint, tmp_path):
    _, _, path = checkpoint
    cut = tmp_path / "cut.pth"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        WavLMECAPAEncoder(str(cut), conv_strides=STRIDES)


def test_non_tensor_pickle_asks_to_resave(checkpoint, tmp_path):
    _, state, _ = checkpoint
    path = tmp_path / "pickled.pth"
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(
        CheckpointError, match=r"weights_only=True(.|\n)*re-save(.|\n)*\{'model': c\['model'\]\}"
    ):
        WavLMECAPAEncoder(str(path), conv_strides=STRIDES)


def test_not_a_model_dict(tmp_path):
    path = tmp_path / "bare.pth"
    torch.save({"state_dict": {"a": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="'model' state dict"):
        WavLMECAPAEncoder(str(path))


def test_missing_keys_are_listed(checkpoint, tmp_path):
    _, state, _ = checkpoint
    state = dict(state)
    del state["feature_extract.model.encoder.layers.1.self_attn.k_proj.weight"]
    del state["layer2.SE_Connect.linear2.bias"]
    path = tmp_path / "missing.pth"
    torch.save({"model": state}, path)
    with pytest.raises(SimilarityError, match="missing") as err:
        WavLMECAPAEncoder(str(path), conv_strides=STRIDES, max_distance=TINY.max_distance)
    msg = str(err.value)
    assert "feature_extract.model.encoder.layers.1.self_attn.k_proj.weight" in msg
    assert "layer2.SE_Connect.linear2.bias" in msg
    assert "q_proj" not in msg  # only the absent projection is reported


def test_unexpected_keys_are_listed(checkpoint, tmp_path):
    _, state, _ = checkpoint
    state = {
        **state,
        "feature_extract.model.final_proj.weight": torch.zeros(2, 2),
        "extra.bias": torch.zeros(2),
    }
    path = tmp_path / "unexpected.pth"
    torch.save({"model": state}, path)
    with pytest.raises(SimilarityError, match="unexpected.*final_proj.weight.*extra.bias"):
        WavLMECAPAEncoder(str(path), conv_strides=STRIDES, max_distance=TINY.max_distance)


def test_wrong_conv_strides(checkpoint):
    _, _, path = checkpoint
    with pytest.raises(SimilarityError, match="2 WavLM conv layers but 7 conv strides"):
        WavLMECAPAEncoder(str(path))  # WavLM-large's strides for a 2-layer extractor
