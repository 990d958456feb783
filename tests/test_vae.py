"""Speech VAE networks, losses, LightningModule, export/load and latent extraction."""

from __future__ import annotations

import inspect
import json
import math
import warnings

import lightning as L
import pytest
import torch
from factories import tiny_vae
from torch.utils.data import DataLoader

from tts.config import instantiate
from tts.vae import load
from tts.vae.export import export
from tts.vae.loss import SemanticAlignment, VAELoss, kl_loss
from tts.vae.model import BigVGANDecoder, Encoder, MelEncoder, SpeechVAE, VocosDecoder
from tts.vae.module import VAEModule

TINY_ENCODER = {"class_path": "tts.vae.model.Encoder", "init_args": {"channels": 2}}
TINY_DECODER = {
    "class_path": "tts.vae.model.VocosDecoder",
    "init_args": {"dim": 16, "intermediate_dim": 32, "num_layers": 1},
}
TINY_DISC = {
    "class_path": "tts.vae.discriminators.Discriminator",
    "init_args": {
        "periods": [2],
        "fft_sizes": [256],
        "period_channels": 2,
        "period_max_channels": 4,
        "stft_channels": 2,
    },
}


LOSS_KEYS = set(inspect.signature(VAELoss).parameters)


def tiny_module(**kwargs) -> VAEModule:
    """A tiny VAEModule; loss arguments (``semantic_weight=0``, ...) go to its VAELoss, ``encoder`` /
    ``decoder`` / ``discriminator`` are class_path specs."""
    loss = {"teacher_dim": 8, "semantic_hidden_dim": 8, "mel_window_lengths": [64, 256], "mel_n_mels": [10, 20]}
    loss.update({k: kwargs.pop(k) for k in list(kwargs) if k in LOSS_KEYS})
    nets = {"encoder": TINY_ENCODER, "decoder": TINY_DECODER, "discriminator": TINY_DISC}
    nets.update({k: kwargs.pop(k) for k in list(kwargs) if k in nets})
    args = {"gan_start_step": 0, **kwargs}
    return VAEModule(**{k: instantiate(v) for k, v in nets.items()}, loss=VAELoss(**loss), **args)


def batches(n: int, samples: int = 4000, teacher_dim: int = 8, nan_first: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(n):
        wav = 0.1 * torch.randn(samples, generator=g)
        if nan_first and i == 0:
            wav[100] = float("nan")
        items.append(
            {
                "wav": wav,
                "teacher": torch.randn(samples // 320, teacher_dim, generator=g),
                "teacher_lens": torch.tensor(samples // 320),
            }
        )
    return DataLoader(items, batch_size=1)


def trainer(**kwargs) -> L.Trainer:
    return L.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


@pytest.mark.parametrize(
    "decoder",
    [
        BigVGANDecoder(channels=64, resblock_kernel_sizes=(3,), anti_alias=True),
        VocosDecoder(dim=16, intermediate_dim=32, num_layers=1),
    ],
)
def test_one_second_gives_40_frames_and_16000_samples(decoder):
    vae = tiny_vae(decoder)
    assert (vae.sample_rate, vae.hop_length, vae.latent_dim, vae.frame_rate) == (16000, 400, 64, 40.0)
    mean, logvar = vae.encode(torch.randn(2, 16000))
    assert mean.shape == logvar.shape == (2, 64, 40)
    assert vae.decode(vae.sample(mean, logvar)).shape == (2, 16000)


@pytest.mark.parametrize("n_samples", [1, 399, 400, 401, 12345])
def test_arbitrary_lengths_pad_right_to_a_multiple_of_the_hop(n_samples):
    vae = tiny_vae()
    mean, _ = vae.encode(torch.randn(1, n_samples))
    n = math.ceil(n_samples / 400)
    assert mean.shape == (1, 64, n)
    assert vae.decode(mean).shape == (1, n * 400)


TINY_MEL_ENCODER = {"n_fft": 256, "n_mels": 16, "dim": 8, "intermediate_dim": 16, "layers_fine": 1, "layers_coarse": 1}


@pytest.mark.parametrize("n_samples", [1, 399, 400, 401, 12345, 16000])
def test_mel_encoder_follows_the_waveform_encoders_padding_rule(n_samples):
    vae = SpeechVAE(MelEncoder(**TINY_MEL_ENCODER), VocosDecoder(dim=16, intermediate_dim=32, num_layers=1))
    mean, logvar = vae.encode(torch.randn(2, n_samples))
    n = math.ceil(n_samples / 400)
    assert mean.shape == logvar.shape == (2, 64, n)
    assert vae.decode(vae.sample(mean, logvar)).shape == (2, n * 400)


def test_mel_encoder_is_causal_in_frames_up_to_its_receptive_field():
    """Changing the last second of audio leaves the first frames' latents unchanged (no global pooling)."""
    enc = MelEncoder(**TINY_MEL_ENCODER).eval()
    wav = torch.randn(1, 1, 32000)
    changed = wav.clone()
    changed[..., 16000:] = torch.randn(16000)
    with torch.no_grad():
        a, b = enc(wav)[0], enc(changed)[0]
    assert torch.equal(a[..., :20], b[..., :20])
    assert not torch.equal(a[..., -5:], b[..., -5:])


def test_mel_encoder_trains_exports_and_loads(tmp_path):
    module = tiny_module(encoder={"class_path": "tts.vae.model.MelEncoder", "init_args": TINY_MEL_ENCODER})
    t = trainer(max_steps=1)  # one step: the exported EMA still equals the online weights
    t.fit(module, batches(1))
    ckpt = tmp_path / "vae.ckpt"
    t.save_checkpoint(ckpt)
    out_dir = export(ckpt, tmp_path / "export")
    wav = 0.1 * torch.randn(1, 8000)
    with torch.no_grad():
        assert torch.equal(load(out_dir).encode(wav)[0], module.vae.eval().encode(wav)[0])


def test_mel_encoder_refuses_an_odd_hop():
    with pytest.raises(ValueError, match="even"):
        MelEncoder(hop_length=401)


def test_logvar_is_clamped():
    enc = Encoder(channels=2, logvar_min=-1.0, logvar_max=1.0)
    with torch.no_grad():
        enc.net[-1].bias.fill_(100.0)
    _, logvar = enc(torch.randn(1, 1, 800))
    assert logvar.max() <= 1.0


def test_kl_is_zero_for_the_prior():
    assert kl_loss(torch.zeros(2, 64, 5), torch.zeros(2, 64, 5)).item() == 0.0


def test_alignment_loss_is_zero_for_identical_directions():
    align = SemanticAlignment(teacher_dim=8, latent_dim=4, hidden_dim=8)
    teacher = torch.randn(2, 30, 8)
    with torch.no_grad():
        h = torch.nn.functional.interpolate(teacher.transpose(1, 2), size=12, mode="linear")
        z = 3.0 * align.proj(h)  # same direction, other scale
    assert align(z, teacher).item() == pytest.approx(0.0, abs=1e-5)
    assert align(-z, teacher).item() == pytest.approx(2.0, abs=1e-5)


def test_alignment_loss_ignores_padded_frames():
    torch.manual_seed(0)
    align = SemanticAlignment(teacher_dim=8, latent_dim=4, hidden_dim=8)
    z, teacher = torch.randn(2, 4, 12), torch.randn(2, 30, 8)
    teacher_lens = torch.tensor([30, 15])  # second item: 15 valid teacher frames -> 6 valid latent frames
    loss = align(z, teacher, teacher_lens)
    z2, teacher2 = z.clone(), teacher.clone()
    z2[1, :, 6:] = torch.randn(4, 6)
    teacher2[1, 15:] = 100 * torch.randn(15, 8)
    assert align(z2, teacher2, teacher_lens).item() == pytest.approx(loss.item(), abs=1e-6)
    z2[1, :, 5] = torch.randn(4)  # a valid frame does change it
    assert align(z2, teacher2, teacher_lens).item() != pytest.approx(loss.item(), abs=1e-6)


def test_alignment_gradient_reaches_the_encoder():
    vae = tiny_vae()
    align = SemanticAlignment(teacher_dim=8)
    out = vae(torch.randn(1, 4000))
    align(out["z"], torch.randn(1, 12, 8)).backward()
    assert vae.encoder.net[0].parametrizations.weight.original1.grad.abs().sum() > 0
    assert all(p.grad is None for p in vae.decoder.parameters())


def test_plain_vae_builds_no_projector_and_needs_no_teacher(monkeypatch):
    import tts.teacher

    monkeypatch.setattr(tts.teacher, "load_teacher", lambda spec: pytest.fail("teacher loaded"))
    module = tiny_module(semantic_weight=0.0, teacher="whisper-tiny-en")
    assert module.alignment is None
    assert not any(name.startswith("alignment") for name, _ in module.named_parameters())
    loader = DataLoader([{"wav": 0.1 * torch.randn(4000)}], batch_size=1)
    trainer(max_steps=1).fit(module, loader)
    no_gan = tiny_module(semantic_weight=0.0, adversarial_weight=0.0, feature_matching_weight=0.0)
    trainer(max_steps=1).fit(no_gan, loader)  # no discriminator: no discriminator optimizer
    assert no_gan.discriminator is None and len(no_gan.trainer.optimizers) == 1


def test_training_step_updates_and_logs_every_loss():
    module = tiny_module()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    t = trainer(max_steps=2)  # steps count batches: the discriminator step is not counted
    t.fit(module, batches(2))
    assert t.global_step == 2 and module.batch_step == 2
    for name in ("mel", "kl", "semantic", "adv", "feature_matching"):
        assert torch.isfinite(t.callback_metrics[f"train/{name}_loss"])
    assert "train/disc_loss" in t.callback_metrics
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("generator.encoder") for k in changed)
    assert any(k.startswith("loss.alignment") for k in changed)
    assert any(k.startswith("discriminator") for k in changed)


def test_gan_warmup_keeps_the_discriminator_frozen():
    module = tiny_module(gan_start_step=100)
    disc_before = {k: v.clone() for k, v in module.discriminator.state_dict().items()}
    t = trainer(max_steps=2)
    t.fit(module, batches(2))
    assert t.global_step == 2
    assert all(torch.equal(v, disc_before[k]) for k, v in module.discriminator.state_dict().items())
    assert "train/adv_loss" not in t.callback_metrics


def test_nan_loss_step_is_skipped_and_counted():
    module = tiny_module()
    before = {k: v.clone() for k, v in module.vae.state_dict().items()}
    t = trainer(max_epochs=1)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        t.fit(module, batches(1, nan_first=True))
    assert module.skipped_steps == 1
    assert t.global_step == 0
    assert all(torch.equal(v, before[k]) for k, v in module.vae.state_dict().items())


def test_export_and_load_round_trip_give_identical_decode(tmp_path):
    module = tiny_module()
    t = trainer(max_steps=1)
    t.fit(module, batches(1))
    ckpt = tmp_path / "vae.ckpt"
    t.save_checkpoint(ckpt)
    out_dir = export(ckpt, tmp_path / "export")
    assert (out_dir / "model.safetensors").is_file()
    assert json.loads((out_dir / "config.json").read_text())["decoder"]["class_path"].endswith("VocosDecoder")
    from_ckpt, from_export = load(ckpt), load(out_dir)
    wav, z = 0.1 * torch.randn(1, 8000), torch.randn(1, 64, 7)
    with torch.no_grad():
        expected = module.vae.eval().decode(z)
        assert torch.equal(from_ckpt.decode(z), expected)
        assert torch.equal(from_export.decode(z), expected)
        assert torch.equal(from_export.encode(wav)[0], module.vae.encode(wav)[0])


def test_load_names_a_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        load(tmp_path / "nope")


def test_extract_latents_writes_sampled_latents_and_stats(tmp_path, tiny_corpus):
    from lhotse import load_manifest

    from tts.vae.extract import main

    module = tiny_module()
    t = trainer(max_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t.fit(module, batches(1))
    t.save_checkpoint(tmp_path / "vae.ckpt")
    export(tmp_path / "vae.ckpt", tmp_path / "vae")
    out = tmp_path / "latents"
    assert (
        main(
            [
                "--vae",
                str(tmp_path / "vae"),
                "--cuts",
                str(tiny_corpus / "cuts_dev.jsonl.gz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cuts = list(load_manifest(out / "cuts.jsonl.gz"))
    assert len(cuts) == 2
    for cut in cuts:
        assert cut.load_custom("latents").shape == (math.ceil(round(cut.duration * 16000) / 400), 64)
    stats = json.loads((out / "stats.json").read_text())
    assert len(stats["mean"]) == len(stats["std"]) == 64 and stats["latents"] == "sampled"
    assert json.loads((out / "meta.json").read_text())["latents"] == "sampled"
    mean_out = tmp_path / "latents_mean"
    main(
        [
            "--vae",
            str(tmp_path / "vae"),
            "--cuts",
            str(tiny_corpus / "cuts_dev.jsonl.gz"),
            "--out",
            str(mean_out),
            "--mean",
        ]
    )
    assert json.loads((mean_out / "stats.json").read_text())["latents"] == "mean"


def test_validation_logs_audio_and_mel_images_to_tensorboard(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger

    module = tiny_module()
    logger = TensorBoardLogger(tmp_path, name="vae")
    t = L.Trainer(
        accelerator="cpu",
        logger=logger,
        max_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1,
        num_sanity_val_steps=0,
    )
    t.fit(module, batches(1), batches(1))
    assert torch.isfinite(t.callback_metrics["val/mel_loss"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(logger.log_dir, size_guidance={"audio": 0, "images": 0})
    events.Reload()
    assert "val/0_recon" in events.Tags()["audio"] and "val/0_target" in events.Tags()["audio"]
    assert "val/0_mel" in events.Tags()["images"]


def test_teacher_features_are_computed_online_when_the_batch_has_none(monkeypatch):
    import tts.teacher

    calls = []

    class FakeTeacher:
        sample_rate, frame_rate, dim = 16000, 50.0, 8

        def __call__(self, wavs):
            calls.append(len(wavs))
            return [torch.randn(w.shape[0] // 320, 8) for w in wavs]

    monkeypatch.setattr(tts.teacher, "load_teacher", lambda spec: FakeTeacher())
    module = tiny_module(teacher="fake")
    t = trainer(max_steps=1)
    t.fit(module, DataLoader([{"wav": 0.1 * torch.randn(4000)}], batch_size=1))
    assert calls == [1] and torch.isfinite(t.callback_metrics["train/semantic_loss"])


def test_attn_bottleneck_gives_clamped_gaussian_parameters_at_40_hz():
    enc = Encoder(
        channels=2,
        latent_dim=8,
        bottleneck="attn",
        attn_heads=4,
        activation="snake",
        logvar_min=-12,
        logvar_max=12,
    )
    assert enc.net[-1].out_channels == 32  # the conv keeps the width; AttnProjection narrows 32 -> 8
    with torch.no_grad():
        enc.fc_var.bias.fill_(100.0)
    mean, logvar = enc(torch.randn(2, 1, 4000))
    assert mean.shape == logvar.shape == (2, 8, 10)
    assert logvar.max().item() == 12.0
    with pytest.raises(ValueError, match="bottleneck"):
        Encoder(bottleneck="mlp")


def test_bigvgan_final_clamp_and_no_bias():
    torch.manual_seed(0)
    dec = BigVGANDecoder(
        latent_dim=8,
        channels=64,
        upsample_kernel_sizes=(9, 9, 4, 4, 4, 4),
        resblock_kernel_sizes=(3,),
        final_activation="clamp",
        final_bias=False,
    )
    assert dec.conv_post.bias is None
    z = torch.randn(1, 8, 3)
    with torch.no_grad():  # no bias: the output is linear in conv_post's gain; make it peak at 2
        dec.conv_post.parametrizations.weight.original0.mul_(1e-3)
        dec.conv_post.parametrizations.weight.original0.mul_(2.0 / dec(z).abs().max())
        out = dec(z)
    assert out.shape == (1, 1200) and out.abs().max().item() == 1.0 and (out.abs() < 1).any()
    with pytest.raises(ValueError, match="upsample_kernel_sizes"):
        BigVGANDecoder(channels=64, upsample_kernel_sizes=(10, 9, 4, 4, 4, 4))


def test_discriminator_input_is_dc_free_and_peak_normalized():
    from tts.vae.discriminators import Discriminator

    torch.manual_seed(0)
    disc = Discriminator(
        periods=[2], fft_sizes=[256], period_channels=2, period_max_channels=4, stft_channels=2
    )
    wav = 0.1 * torch.randn(2, 2000)
    logits, _ = disc(wav)
    shifted, _ = disc(3.0 * wav + 0.5)  # other level and DC offset: the same after normalization
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(logits, shifted))
    norm = Discriminator.normalize(3.0 * wav + 0.5)
    assert torch.allclose(norm.mean(-1), torch.zeros(2), atol=1e-6)
    assert torch.allclose(norm.abs().amax(-1), torch.full((2,), 0.8))
    raw = Discriminator(
        periods=[2],
        fft_sizes=[256],
        period_channels=2,
        period_max_channels=4,
        stft_channels=2,
        normalize_input=False,
    )
    raw.load_state_dict(disc.state_dict())
    assert not torch.allclose(raw(wav)[0][0], raw(3.0 * wav + 0.5)[0][0])


def test_feature_maps_exclude_the_logits_and_keep_every_band_conv():
    from tts.vae.discriminators import Discriminator

    disc = Discriminator(
        periods=[2, 3], fft_sizes=[256], period_channels=2, period_max_channels=4, stft_channels=2
    )
    logits, fmaps = disc(torch.randn(1, 2000))
    assert [len(f) for f in fmaps] == [5, 5, 25]  # 5 convs per period disc; 5 band convs x 5 bands
    assert all(m.shape[1] > 1 for maps in fmaps for m in maps)  # conv activations, no 1-channel logits map


def test_discriminator_lr_decays_only_while_the_discriminator_trains():
    module = tiny_module(gan_start_step=1, lr_decay=0.5)
    t = trainer(max_steps=3)
    t.fit(module, batches(3))
    sched_g, sched_d = module.lr_schedulers()
    assert sched_g.last_epoch == 3 and sched_d.last_epoch == 2  # batches 1 and 2 trained the discriminator


def test_generator_ema_is_updated_exported_and_resumed(tmp_path):
    module = tiny_module(ema_beta=0.5, ema_update_after_step=0, ema_update_every=1)
    t = trainer(max_steps=2)
    t.fit(module, batches(2))
    assert int(module.ema.step) == 2  # one update per generator step
    ema_state, online = module.ema.ema_model.state_dict(), module.vae.state_dict()
    assert any(not torch.equal(ema_state[k], online[k]) for k in online)
    ckpt = tmp_path / "vae.ckpt"
    t.save_checkpoint(ckpt)
    exported = load(export(ckpt, tmp_path / "ema"))
    assert all(torch.equal(v, ema_state[k]) for k, v in exported.state_dict().items())
    assert json.loads((tmp_path / "ema" / "config.json").read_text())["weights"] == "ema"
    online_export = load(export(ckpt, tmp_path / "online", weights="online"))
    assert all(torch.equal(v, online[k]) for k, v in online_export.state_dict().items())
    assert all(torch.equal(v, ema_state[k]) for k, v in load(ckpt).state_dict().items())
    # resume: the EMA and its step counter continue from the checkpoint
    resumed = tiny_module(ema_beta=0.5, ema_update_after_step=0, ema_update_every=1)
    t2 = trainer(max_steps=4)
    t2.fit(resumed, batches(2), ckpt_path=ckpt)
    assert int(resumed.ema.step) == 4


def test_checkpoint_without_ema_resumes_into_an_ema_run(tmp_path):
    t = trainer(max_steps=1)
    t.fit(tiny_module(ema=False), batches(1))
    t.save_checkpoint(tmp_path / "old.ckpt")
    module = tiny_module()
    trainer(max_steps=2).fit(module, batches(1), ckpt_path=tmp_path / "old.ckpt")
    assert int(module.ema.step) == 1


def test_checkpoint_of_the_pre_gan_module_trainer_is_refused_with_what_to_do(tmp_path):
    from tts.io import CheckpointError

    t = trainer(max_steps=1)
    t.fit(tiny_module(), batches(1))
    t.save_checkpoint(tmp_path / "new.ckpt")
    old = {k: v for k, v in torch.load(tmp_path / "new.ckpt", weights_only=False).items() if k != "gan_trainer"}
    torch.save(old, tmp_path / "old.ckpt")
    with pytest.raises(CheckpointError, match="before tts.gan.GANModule .before commit d733edc.: train again"):
        trainer(max_steps=2).fit(tiny_module(), batches(1), ckpt_path=tmp_path / "old.ckpt")


def test_checkpoint_holds_every_networks_full_spec_and_loads_from_it(tmp_path):
    """Networks built in Python record their class_path + every init arg (defaults included) in hparams, as
    LightningCLI-built ones do; tts.vae.load rebuilds the VAE from them."""
    module = tiny_module(semantic_weight=0.0)
    hp = module.hparams
    assert hp.encoder == {"class_path": "tts.vae.model.Encoder",
                          "init_args": {**Encoder(channels=2)._init_args}}  # fmt: skip
    assert hp.encoder["init_args"]["strides"] == [4, 4, 5, 5] and hp.encoder["init_args"]["channels"] == 2
    assert hp.loss["class_path"] == "tts.vae.loss.VAELoss" and hp.loss["init_args"]["semantic_weight"] == 0.0
    assert hp.discriminator["init_args"]["periods"] == [2]
    t = trainer(max_steps=1)
    t.fit(module, batches(1))
    t.save_checkpoint(tmp_path / "vae.ckpt")
    ckpt = torch.load(tmp_path / "vae.ckpt", weights_only=False)
    assert json.dumps(ckpt["hyper_parameters"]["encoder"])  # plain data, no module objects
    z = torch.randn(1, 64, 3)
    with torch.no_grad():
        assert torch.equal(load(tmp_path / "vae.ckpt").decode(z), module.vae.eval().decode(z))


@pytest.mark.parametrize("key, value", [("latent_dim", 32), ("hop_length", 320), ("sample_rate", 24000)])
def test_loss_sizes_must_be_the_vaes(key, value):
    with pytest.raises(ValueError, match=f"model.init_args.loss.init_args.{key} is {value}"):
        tiny_module(**{key: value})


def test_from_init_args_builds_a_recipes_model_block():
    init = {"encoder": TINY_ENCODER, "decoder": TINY_DECODER, "discriminator": None,
            "loss": {"class_path": "tts.vae.loss.VAELoss",
                     "init_args": {"semantic_weight": 0.0, "adversarial_weight": 0.0, "feature_matching_weight": 0.0}},
            "lr": 2e-3}  # fmt: skip
    module = VAEModule.from_init_args(init)
    assert module.discriminator is None and module.alignment is None and module.hparams.lr == 2e-3
    with pytest.raises(ValueError, match="model.init_args.decoder: unknown class_path 'tts.vae.model.Nope'"):
        VAEModule.from_init_args({**init, "decoder": {"class_path": "tts.vae.model.Nope"}})
