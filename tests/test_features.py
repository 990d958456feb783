"""Feature spaces: MelSpace matches Vocos' mel, Vocos loading, LatentSpace normalization, spec parsing."""

from __future__ import annotations

import json
import math

import factories
import pytest
import torch
from torch import nn

from tts.features import load_space, space_info, space_options
from tts.features.latent import LatentSpace
from tts.features.mel import LOG_FLOOR, MelSpace
from tts.features.vocos import load_vocos
from tts.vocoder import VocosConfig, VocosGAN


class FakeVAE(nn.Module):
    """Implements the tts.vae contract: (B, T) -> (mean, logvar) (B, 64, ceil(T/400)), decode."""

    sample_rate, hop_length, latent_dim, frame_rate = 16000, 400, 64, 40.0

    def __init__(self):
        super().__init__()
        self.enc = nn.Conv1d(1, 128, 400, stride=400)
        self.dec = nn.ConvTranspose1d(64, 1, 400, stride=400)

    def encode(self, wav):
        n = math.ceil(wav.shape[-1] / 400)
        wav = nn.functional.pad(wav, (0, n * 400 - wav.shape[-1]))
        mean, logvar = self.enc(wav.unsqueeze(1)).chunk(2, dim=1)
        return mean, logvar.clamp(-10, 2)

    def sample(self, mean, logvar):
        return mean + torch.randn_like(mean) * (0.5 * logvar).exp()

    def decode(self, z):
        return self.dec(z).squeeze(1)


def tiny_vocos_dir(path):
    torch.manual_seed(0)
    return factories.tiny_vocos_dir(path)


def test_mel_space_equals_vocos_mel_features():
    from vocos.feature_extractors import MelSpectrogramFeatures

    torch.manual_seed(0)
    wav = 0.1 * torch.randn(2, 24000)
    wav[1, 12000:] = 0.0  # silence: where Vocos clamps at 1e-7 and F5-TTS at 1e-5
    ref = MelSpectrogramFeatures(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center")(
        wav
    )
    ours = MelSpace().encode(wav)
    assert ours.shape == (2, 24000 // 256 + 1, 100) == (2, MelSpace().n_frames(24000), 100)
    torch.testing.assert_close(ours, ref.clamp_min(math.log(LOG_FLOOR)).transpose(1, 2), rtol=0, atol=1e-6)
    loud = ref[0] > math.log(LOG_FLOOR)
    assert loud.all()  # on non-silent audio the two are bit-identical
    assert torch.equal(ours[0], ref[0].T)


def test_mel_space_decodes_with_local_vocos_dir(tmp_path):
    d = tiny_vocos_dir(tmp_path / "vocos")
    space = load_space(f"mel:vocos={d}")
    assert (space.sample_rate, space.frame_rate, space.dim) == (24000, 93.75, 100)
    wav = space.decode(torch.randn(2, 20, 100))
    assert wav.shape == (2, 19 * 256)


def test_mel_space_without_vocoder_says_how_to_fix():
    with pytest.raises(RuntimeError, match="mel:vocos="):
        load_space("mel").decode(torch.zeros(1, 5, 100))


def test_vocos_loads_from_our_lightning_checkpoint(tmp_path):
    gan = VocosGAN(generator=VocosConfig(dim=16, intermediate_dim=32, num_layers=1))
    ckpt = {"state_dict": gan.state_dict(), "hyper_parameters": dict(gan.hparams)}
    gan.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "v.ckpt")
    vocos = load_vocos(tmp_path / "v.ckpt")
    mel = torch.randn(1, 100, 10)
    torch.testing.assert_close(vocos.decode(mel), gan.generator.head(gan.generator.backbone(mel)))


def test_vocos_dir_missing_weights_is_reported(tmp_path):
    (tmp_path / "config.yaml").write_text("{}")
    with pytest.raises(FileNotFoundError, match="pytorch_model.bin"):
        load_vocos(tmp_path)


def test_latent_space_shapes_and_normalization(tmp_path):
    torch.manual_seed(0)
    vae = FakeVAE()
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": [0.5] * 64, "std": [2.0] * 64}))
    plain, norm = LatentSpace(vae), LatentSpace(vae, stats=stats)
    wav = torch.randn(2, 16000 + 10)
    z = plain.encode(wav)
    assert z.shape == (2, 41, 64) and plain.n_frames(16010) == 41
    torch.testing.assert_close(norm.encode(wav), (z - 0.5) / 2.0)
    torch.testing.assert_close(norm.decode(norm.encode(wav)), plain.decode(z))
    assert plain.decode(z).shape == (2, 41 * 400)
    assert LatentSpace(vae, sample=True).encode(wav).shape == z.shape


def test_latent_stats_of_wrong_size_rejected(tmp_path):
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": [0.0] * 3, "std": [1.0] * 3}))
    with pytest.raises(ValueError, match="64 values"):
        LatentSpace(FakeVAE(), stats=stats)


def test_spec_parsing_and_errors():
    assert space_options("latent:vae=/a/b,normalize=/s.json,sample=true") == (
        "latent",
        {"vae": "/a/b", "normalize": "/s.json", "sample": "true"},
    )
    assert space_info("latent:vae=x").dim == 64 and space_info("mel").frame_rate == 93.75
    with pytest.raises(ValueError, match="not key=value"):
        space_options("mel:/a/vocos")  # a space takes options only
    with pytest.raises(ValueError, match="option 'b' is not key=value"):
        space_options("latent:vae=/a,b")


def test_feature_and_teacher_specs_share_one_grammar():
    from tts.spec import parse_spec

    assert parse_spec("mel:vocos=/m/v") == ("mel", None, {"vocos": "/m/v"})
    assert parse_spec("mel:vocos=/m/a:b") == ("mel", None, {"vocos": "/m/a:b"})  # a value may hold ':'
    assert parse_spec("torchaudio-wavlm-large:/m/a:b.pt:layer=-1,norm=pre") == (
        "torchaudio-wavlm-large", "/m/a:b.pt", {"layer": "-1", "norm": "pre"})  # fmt: skip
    assert parse_spec("fairseq2-hubert:/m/h.pt:layer=23:norm=post") == (
        "fairseq2-hubert", "/m/h.pt", {"layer": "23", "norm": "post"})  # fmt: skip
    with pytest.raises(ValueError, match="unknown feature space"):
        load_space("wav2vec:x=1")
    with pytest.raises(ValueError, match="unknown option"):
        load_space("mel:vocoder=/x")
    with pytest.raises(ValueError, match="vae="):
        load_space("latent")


def test_latent_space_loads_a_tts_vae_export(tmp_path):
    from safetensors.torch import save_file

    from tts.vae import build_vae

    enc = {"class_path": "tts.vae.model.Encoder", "init_args": {"channels": 4}}
    dec = {
        "class_path": "tts.vae.model.VocosDecoder",
        "init_args": {"dim": 16, "intermediate_dim": 32, "num_layers": 1},
    }
    vae = build_vae(enc, dec)
    (tmp_path / "config.json").write_text(json.dumps({"encoder": enc, "decoder": dec}))
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, tmp_path / "model.safetensors")
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"mean": [0.0] * 64, "std": [1.0] * 64}))
    space = load_space(f"latent:vae={tmp_path},normalize={stats},sample=true")
    assert (space.sample_rate, space.frame_rate, space.dim) == (16000, 40.0, 64) and space.sample
    feats = space.encode(torch.randn(1, 8000))
    assert feats.shape == (1, 20, 64) and space.decode(feats).shape == (1, 8000)
