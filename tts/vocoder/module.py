"""Vocos GAN training on the shared GAN trainer, with vocos' own networks, discriminators and losses.

``vocos.experiment.VocosExp`` itself cannot run here: it subclasses ``pytorch_lightning`` (not
``lightning.pytorch``, which our CLI uses) and relies on the ``optimizer_idx`` multi-optimizer API and
``validation_epoch_end`` that Lightning 2 removed. ``VocosGAN`` is the same GAN step (MPD + MRD, hinge
losses, feature matching, mel L1 x 45) on ``tts.gan.GANModule``.

Steps count batches: ``trainer.max_steps`` is the number of training batches (vocos' own configs count both
optimizers' steps: its ``max_steps: 2000000`` is 1M batches), ``gan_start_step`` the batches trained on
the mel loss alone before the discriminators start, and the cosine LR schedule runs over ``max_steps``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from tts.config import class_spec, records_init_args
from tts.data.datamodule import CropDataModule
from tts.features.vocos import build_vocos, load_vocos, vocos_config
from tts.gan import GANLoss, GANModule
from tts.hparams import check_number
from tts.init_from import differences, read, refuse


@dataclass(frozen=True)
class VocosConfig:
    """The Vocos generator's sizes, written only here: ``VocosGAN(generator=...)``, a recipe's
    ``model.init_args.generator`` block (LightningCLI checks every key against these fields) and, through
    ``tts.features.vocos.vocos_config``, the exported ``config.yaml`` (vocos' pretrained-dir layout).
    Generator: ``MelSpectrogramFeatures`` (24 kHz, 100 mels, ``n_fft``, ``hop_length``) -> ``VocosBackbone``
    (``dim``, ``intermediate_dim``, ``num_layers`` ConvNeXt blocks) -> ``ISTFTHead``. Defaults: vocos'
    mel-24khz model; the mel feature space needs n_fft 1024 and hop 256."""

    dim: int = 512
    intermediate_dim: int = 1536
    num_layers: int = 8
    n_fft: int = 1024
    hop_length: int = 256


def vocos_sizes(vocos) -> dict:
    """A ``vocos.Vocos`` mel vocoder's mel features (sample rate, bands, FFT, hop) and network sizes (the
    ``VocosConfig`` fields), read from its modules."""
    mel, backbone = vocos.feature_extractor.mel_spec, vocos.backbone
    return {
        "sample_rate": mel.sample_rate, "n_mels": mel.n_mels, "n_fft": mel.n_fft, "hop_length": mel.hop_length,
        "dim": backbone.embed.out_channels, "intermediate_dim": backbone.convnext[0].pwconv1.out_features,
        "num_layers": len(backbone.convnext),
    }  # fmt: skip


class VocosDiscriminator(nn.Module):
    """vocos' multi-period (``mpd``) and multi-resolution (``mrd``) discriminators."""

    def __init__(self):
        super().__init__()
        from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator

        self.mpd = MultiPeriodDiscriminator()
        self.mrd = MultiResolutionDiscriminator()


@records_init_args
class VocosLoss(GANLoss):
    """vocos' losses: hinge discriminator / generator losses and feature matching over MPD + MRD (MRD
    weighted ``mrd_loss_coeff``, each averaged over its sub-discriminators) + ``mel_loss_coeff`` x mel L1.
    Log names as vocos: ``discriminator/total``, ``generator/total_loss``, ``generator/mel_loss``,
    ``generator/feature_matching_mp``."""

    prog_bar = ("discriminator/total", "generator/total_loss")

    def __init__(self, sample_rate: int = 24000, mel_loss_coeff: float = 45.0, mrd_loss_coeff: float = 0.1):
        super().__init__()
        self.sample_rate = sample_rate
        from vocos.loss import (
            DiscriminatorLoss,
            FeatureMatchingLoss,
            GeneratorLoss,
            MelSpecReconstructionLoss,
        )

        self.mel_loss_coeff, self.mrd_loss_coeff = mel_loss_coeff, mrd_loss_coeff
        self.disc_loss = DiscriminatorLoss()
        self.gen_loss = GeneratorLoss()
        self.feat_matching_loss = FeatureMatchingLoss()
        self.melspec_loss = MelSpecReconstructionLoss(sample_rate=sample_rate)

    def discriminator_loss(self, discriminator, real, fake):
        real_mp, gen_mp, _, _ = discriminator.mpd(y=real, y_hat=fake)
        real_mrd, gen_mrd, _, _ = discriminator.mrd(y=real, y_hat=fake)
        loss_mp, loss_mp_real, _ = self.disc_loss(disc_real_outputs=real_mp, disc_generated_outputs=gen_mp)
        loss_mrd, loss_mrd_real, _ = self.disc_loss(
            disc_real_outputs=real_mrd, disc_generated_outputs=gen_mrd
        )
        loss = loss_mp / len(loss_mp_real) + self.mrd_loss_coeff * loss_mrd / len(loss_mrd_real)
        return loss, {"discriminator/total": loss}

    def generator_loss(self, discriminator, batch, real, fake, out):
        loss, logs = real.new_zeros(()), {}
        if discriminator is not None:
            _, gen_mp, fmap_r_mp, fmap_g_mp = discriminator.mpd(y=real, y_hat=fake)
            _, gen_mrd, fmap_r_mrd, fmap_g_mrd = discriminator.mrd(y=real, y_hat=fake)
            loss_gen_mp, list_mp = self.gen_loss(disc_outputs=gen_mp)
            loss_gen_mrd, list_mrd = self.gen_loss(disc_outputs=gen_mrd)
            loss_fm_mp = self.feat_matching_loss(fmap_r=fmap_r_mp, fmap_g=fmap_g_mp) / len(fmap_r_mp)
            loss_fm_mrd = self.feat_matching_loss(fmap_r=fmap_r_mrd, fmap_g=fmap_g_mrd) / len(fmap_r_mrd)
            c = self.mrd_loss_coeff
            loss = (
                loss_gen_mp / len(list_mp) + c * loss_gen_mrd / len(list_mrd) + loss_fm_mp + c * loss_fm_mrd
            )
            logs["generator/feature_matching_mp"] = loss_fm_mp
        mel_loss = self.melspec_loss(fake, real)
        loss = loss + self.mel_loss_coeff * mel_loss
        return loss, {"generator/total_loss": loss, "generator/mel_loss": mel_loss, **logs}


class VocosGAN(GANModule):
    """Vocos GAN training: generator ``MelSpectrogramFeatures -> VocosBackbone -> ISTFTHead`` (``vocos.Vocos``
    built from ``generator``: a ``VocosConfig``), discriminator MPD + MRD, ``loss``: ``VocosLoss``.

    Batch: ``{"wav": (B, T)}`` at 24 kHz (``CropDataModule``; or a bare (B, T) tensor as vocos' own
    datamodule yields). AdamW (``initial_learning_rate``, betas 0.8, 0.9) for both, cosine decay over
    ``trainer.max_steps`` batches after ``num_warmup_steps`` warm-up batches (the discriminator's schedule
    advances only while it trains). The first ``gan_start_step`` batches train the mel loss alone.
    No gradient clipping and no EMA by default (vocos has neither).

    ``init_from``: start training from the weights of this Vocos (a pretrained-style dir with config.yaml +
    pytorch_model.bin, or a ``VocosGAN`` checkpoint) in the generator (and its EMA), with a fresh optimizer,
    step count, budget and sampler (``tts.init_from``); its mel features and sizes must be this module's. The
    discriminators start afresh. Not read when the fit resumes a checkpoint.
    """

    def __init__(
        self,
        generator: VocosConfig | None = None,
        loss: VocosLoss | None = None,
        initial_learning_rate: float = 5e-4,
        num_warmup_steps: int = 0,
        gan_start_step: int = 0,
        grad_clip_generator: float | None = None,
        grad_clip_discriminator: float | None = None,
        ema: bool = False,
        ema_beta: float = 0.9999,
        ema_update_after_step: int = 100,
        ema_update_every: int = 10,
        init_from: str | None = None,
    ):
        """``generator``: the Vocos sizes (default: the mel-24khz paper model); ``loss``: ``VocosLoss``
        (default: vocos' coefficients), a class_path block in a recipe."""
        if isinstance(generator, dict):  # a checkpoint's hparams, or Python callers
            generator = VocosConfig(**generator)
        generator = generator if generator is not None else VocosConfig()
        loss = loss if loss is not None else VocosLoss()
        check_number("initial_learning_rate", initial_learning_rate, 0.0, open_low=True)
        check_number("num_warmup_steps", num_warmup_steps, 0, integer=True)
        config = vocos_config(**asdict(generator))
        super().__init__(
            build_vocos(config), VocosDiscriminator(), loss,
            gan_start_step, grad_clip_generator, grad_clip_discriminator,
            ema, ema_beta, ema_update_after_step, ema_update_every,
        )  # fmt: skip
        self.save_hyperparameters({
            "_class_path": f"{type(self).__module__}.{type(self).__qualname__}",  # as LightningCLI stores it
            "generator": asdict(generator), "loss": class_spec(loss),
            "initial_learning_rate": initial_learning_rate, "num_warmup_steps": num_warmup_steps,
            "gan_start_step": gan_start_step, "grad_clip_generator": grad_clip_generator,
            "grad_clip_discriminator": grad_clip_discriminator, "ema": ema, "ema_beta": ema_beta,
            "ema_update_after_step": ema_update_after_step, "ema_update_every": ema_update_every,
            "init_from": init_from,
        })  # fmt: skip
        self.sample_rate = loss.sample_rate
        self.vocos_config = config

    def init_weights_from(self, path: str) -> None:
        """Copy the Vocos at ``path`` into the generator and its EMA; InitFromError naming every difference of
        mel features or sizes."""
        src = read(load_vocos, path, "a Vocos dir (config.yaml + pytorch_model.bin) or a VocosGAN checkpoint")
        refuse(path, [("mel features or sizes", differences(vocos_sizes(self.generator), vocos_sizes(src)),
                       "Set model.init_args.generator to its sizes")])  # fmt: skip
        self.copy_generator_weights(path, src.state_dict())

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T') resynthesized through mel (``vocos.Vocos.forward`` runs in inference mode)."""
        g = self.generator
        return g.head(g.backbone(g.feature_extractor(audio)))

    @staticmethod
    def _audio(batch) -> torch.Tensor:
        return batch["wav"] if isinstance(batch, dict) else batch

    def generate(self, batch):
        audio = self._audio(batch)
        return audio, self(audio), None

    def make_optimizer(self, params, which: str):
        hp = self.hparams
        opt = torch.optim.AdamW(params, lr=hp.initial_learning_rate, betas=(0.8, 0.9))
        total = self.trainer.max_steps if self.trainer.max_steps > 0 else 1_000_000  # batches

        def cosine(step: int) -> float:
            if step < hp.num_warmup_steps:
                return step / max(1, hp.num_warmup_steps)
            progress = (step - hp.num_warmup_steps) / max(1, total - hp.num_warmup_steps)
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, cosine)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if batch is None:
            return None
        audio = self._audio(batch)
        audio_hat = self(audio)
        mel_loss = self.loss.melspec_loss(audio_hat, audio)
        self.log("val_loss", mel_loss, prog_bar=True, sync_dist=True)
        experiment = getattr(self.logger, "experiment", None)
        if batch_idx == 0 and self.global_rank == 0 and hasattr(experiment, "add_audio"):
            sr = self.sample_rate
            experiment.add_audio("val/audio_in", audio[0].float().cpu(), self.global_step, sr)
            experiment.add_audio("val/audio_pred", audio_hat[0].float().cpu(), self.global_step, sr)
        return mel_loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["vocos_config"] = self.vocos_config


class VocosDataModule(CropDataModule):
    """Former name of the vocoder's crop data: ``CropDataModule`` with vocos' settings (for old configs).

    Crops exactly ``num_samples`` (``val_num_samples``) samples, tiles short cuts and peak-normalizes as
    vocos' own dataset, on every cut (no text or minimum duration needed); a cut that fails to load is
    dropped and counted (it was silently replaced by the next one before).
    """

    def __init__(
        self,
        train_cuts: str,
        val_cuts: str,
        sample_rate: int = 24000,
        num_samples: int = 16384,
        val_num_samples: int = 48384,
        batch_size: int = 16,
        num_workers: int = 2,
    ):
        super().__init__(
            train_cuts, val_cuts, sample_rate=sample_rate, crop_samples=num_samples,
            val_crop_samples=val_num_samples, batch_size=batch_size, num_workers=num_workers,
            min_duration=0.0, require_text=False, pad="repeat", peak_normalize=True,
        )  # fmt: skip
