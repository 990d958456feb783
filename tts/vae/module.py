"""LightningModule for the (semantic) speech VAE: GAN training with manual optimization.

Batch (from ``tts.data.datamodule.CropDataModule``): {"wav": (B, T), "teacher": (B, Nt, Dt) (only when
the semantic loss is on), "teacher_lens": (B,), optional "wav_lens": (B,), "ids": list[str]}.

Each batch does one discriminator step and one generator step, so ``trainer.global_step`` (and
``trainer.max_steps``) counts 2 optimizer steps per batch; ``self.batch_step`` = global_step // 2.
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
import torch.nn.functional as F

from tts.ema import check_ema_args, make_ema
from tts.vae.discriminators import Discriminator
from tts.vae.loss import (
    MultiScaleMelLoss,
    SemanticAlignment,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
    kl_loss,
)
from tts.vae.model import build_vae, instantiate


class VAEModule(L.LightningModule):
    """Trains ``SpeechVAE`` (built from ``encoder`` / ``decoder`` class_path specs) with mel, GAN, KL and
    optional semantic-alignment losses. ``semantic_weight=0`` is the plain VAE: no projector, no teacher.

    As Semantic-VAE's ``scripts/train.py``: one discriminator step (gradient norm clipped to
    ``grad_clip_discriminator``, its LR scheduler stepped only then) from ``gan_start_step`` (in batches)
    on, then one generator step (clipped to ``grad_clip_generator``, 10 there).

    ``ema``: an EMA of the VAE (Semantic-VAE keeps ``ema_pytorch.EMA(generator)`` with the library
    defaults and extracts latents with it): updated after every generator step (``tts.ema``: beta
    ``ema_beta``, a copy until ``ema_update_after_step`` updates, acting every ``ema_update_every``).
    Its state is in the checkpoint (``ema.ema_model.*``, ``ema.step``), so a resumed run continues it;
    ``tts export vae`` and ``tts.vae.load`` take the EMA weights when the checkpoint has them.
    Validation and the logged samples use the online weights, as the reference does.
    """

    def __init__(
        self,
        encoder: dict,
        decoder: dict,
        discriminator: dict | None = None,
        mel_weight: float = 15.0,
        feature_matching_weight: float = 2.0,
        adversarial_weight: float = 1.0,
        kl_weight: float = 0.01,
        semantic_weight: float = 1.0,
        teacher_dim: int = 384,
        semantic_hidden_dim: int = 128,
        teacher: str | None = None,
        mel_window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
        mel_n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320),
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.8, 0.99),
        lr_decay: float = 0.999996,
        gan_start_step: int = 0,
        grad_clip_generator: float = 10.0,
        grad_clip_discriminator: float = 10.0,
        log_audio_count: int = 2,
        ema: bool = True,
        ema_beta: float = 0.9999,
        ema_update_after_step: int = 100,
        ema_update_every: int = 10,
    ):
        """``teacher``: optional teacher spec computed online when a batch has no cached "teacher" features."""
        super().__init__()
        check_ema_args(ema_beta, ema_update_after_step, ema_update_every)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.vae = build_vae(encoder, decoder)
        # state_dict: ema.ema_model.* (the EMA SpeechVAE), ema.step, ema.initted
        self.ema = make_ema(self.vae, ema_beta, ema_update_after_step, ema_update_every) if ema else None
        self.use_gan = adversarial_weight > 0 or feature_matching_weight > 0
        self.discriminator = (
            instantiate(discriminator or {"class_path": "tts.vae.discriminators.Discriminator"})
            if self.use_gan
            else None
        )
        if self.discriminator is not None and not isinstance(self.discriminator, Discriminator):
            raise ValueError(
                f"discriminator must be a tts.vae.discriminators.Discriminator, got {discriminator}"
            )
        self.mel_loss = MultiScaleMelLoss(self.vae.sample_rate, tuple(mel_window_lengths), tuple(mel_n_mels))
        self.alignment = (
            SemanticAlignment(teacher_dim, self.vae.latent_dim, semantic_hidden_dim)
            if semantic_weight > 0
            else None
        )
        self._teacher = None
        self._logged_targets = False
        self.skipped_steps = 0

    @property
    def batch_step(self) -> int:
        """Batches trained so far (global_step counts the generator and discriminator steps)."""
        return self.global_step // 2

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """A checkpoint saved without the EMA (older runs, or ema: false) starts the EMA afresh from its VAE."""
        state = checkpoint.get("state_dict", {})
        if self.ema is None or not state or any(k.startswith("ema.") for k in state):
            return
        for key, value in self.ema.state_dict().items():
            if key.startswith("ema_model."):
                state["ema." + key] = state["vae." + key[len("ema_model.") :]].clone()
            else:  # step, initted: the EMA re-initialises at its next update
                state["ema." + key] = torch.zeros_like(value)

    def configure_optimizers(self):
        hp = self.hparams
        gen_params = list(self.vae.parameters()) + (
            list(self.alignment.parameters()) if self.alignment else []
        )
        opt_g = torch.optim.AdamW(gen_params, lr=hp.lr, betas=tuple(hp.betas))
        disc_params = (
            list(self.discriminator.parameters())
            if self.discriminator
            else [torch.zeros(1, requires_grad=True)]
        )
        opt_d = torch.optim.AdamW(disc_params, lr=hp.lr, betas=tuple(hp.betas))
        sched_g = torch.optim.lr_scheduler.ExponentialLR(opt_g, gamma=hp.lr_decay)
        sched_d = torch.optim.lr_scheduler.ExponentialLR(opt_d, gamma=hp.lr_decay)
        return [opt_g, opt_d], [sched_g, sched_d]

    def _teacher_features(self, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if "teacher" in batch:
            return batch["teacher"], batch.get("teacher_lens")
        if self.hparams.teacher is None:
            raise ValueError(
                "semantic_weight > 0 but the batch has no 'teacher' features: set data.init_args.teacher_key "
                "to the cached teacher key (tts extract teacher), or model.init_args.teacher to a teacher spec."
            )
        if self._teacher is None:
            from tts.teacher import load_teacher

            self._teacher = load_teacher(self.hparams.teacher)
        feats = self._teacher([w.float().cpu() for w in batch["wav"]])
        lens = torch.tensor([f.shape[0] for f in feats], device=self.device)
        padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(self.device)
        return padded, lens

    def _all_finite(self, *losses: torch.Tensor) -> bool:
        finite = all(bool(torch.isfinite(x).all()) for x in losses)
        return self.trainer.strategy.reduce_boolean_decision(finite, all=True)

    def _skip(self, what: str, losses: dict[str, torch.Tensor]) -> None:
        self.skipped_steps += 1
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in losses.items())
        warnings.warn(
            f"non-finite {what} loss at batch step {self.batch_step} ({values}): step skipped "
            f"({self.skipped_steps} skipped so far)",
            RuntimeWarning,
            stacklevel=2,
        )
        self.log("train/skipped_steps", float(self.skipped_steps), batch_size=1)

    def training_step(self, batch: dict, batch_idx: int) -> None:
        if batch is None:  # every item of the batch failed to load (CropDataModule drops and counts them)
            return
        hp = self.hparams
        opt_g, opt_d = self.optimizers()
        sched_g, sched_d = self.lr_schedulers()
        wav = batch["wav"]
        out = self.vae(wav)
        recon = out["recon"]
        target = F.pad(wav, (0, recon.shape[-1] - wav.shape[-1]))
        gan_on = self.discriminator is not None and self.batch_step >= hp.gan_start_step

        if gan_on:
            real_logits, _ = self.discriminator(target)
            fake_logits, _ = self.discriminator(recon.detach())
            loss_d = discriminator_loss(real_logits, fake_logits)
            if not self._all_finite(loss_d):
                self._skip("discriminator", {"disc": loss_d})
                return
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            self.clip_gradients(opt_d, hp.grad_clip_discriminator, "norm")
            opt_d.step()
            sched_d.step()  # the discriminator's LR decays only while it trains (Semantic-VAE)
            self.log("train/disc_loss", loss_d, prog_bar=True, batch_size=wav.shape[0])

        losses = {"mel": self.mel_loss(recon, target), "kl": kl_loss(out["mean"], out["logvar"])}
        weights = {"mel": hp.mel_weight, "kl": hp.kl_weight}
        if self.alignment is not None:
            teacher, teacher_lens = self._teacher_features(batch)
            latent_lens = None
            if "wav_lens" in batch:
                latent_lens = torch.ceil(batch["wav_lens"].float() / self.vae.hop_length).long()
            losses["semantic"] = self.alignment(out["z"], teacher, teacher_lens, latent_lens)
            weights["semantic"] = hp.semantic_weight
        if gan_on:
            fake_logits, fake_fmaps = self.discriminator(recon)
            with torch.no_grad():
                _, real_fmaps = self.discriminator(target)
            losses["adv"] = generator_adversarial_loss(fake_logits)
            losses["feature_matching"] = feature_matching_loss(real_fmaps, fake_fmaps)
            weights["adv"] = hp.adversarial_weight
            weights["feature_matching"] = hp.feature_matching_weight
        loss_g = sum(weights[k] * v for k, v in losses.items())
        if not self._all_finite(loss_g):
            self._skip("generator", losses)
            return
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        self.clip_gradients(opt_g, hp.grad_clip_generator, "norm")
        opt_g.step()
        if self.ema is not None:
            self.ema.update()
        if not gan_on:
            opt_d.step()  # no gradients: a no-op that keeps global_step at 2 per batch
        sched_g.step()

        batch_size = wav.shape[0]
        self.log("train/loss", loss_g, prog_bar=True, batch_size=batch_size)
        for name, value in losses.items():
            self.log(f"train/{name}_loss", value, prog_bar=name in ("mel", "semantic"), batch_size=batch_size)
        self.log("train/lr", sched_g.get_last_lr()[0], batch_size=batch_size)
        self.log("train/logvar_mean", out["logvar"].float().mean(), batch_size=batch_size)

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        if batch is None:
            return
        wav = batch["wav"]
        mean, logvar = self.vae.encode(wav)
        recon = self.vae.decode(mean)[..., : wav.shape[-1]]
        batch_size = wav.shape[0]
        self.log(
            "val/mel_loss", self.mel_loss(recon, wav), prog_bar=True, sync_dist=True, batch_size=batch_size
        )
        self.log("val/kl_loss", kl_loss(mean, logvar), sync_dist=True, batch_size=batch_size)
        if batch_idx == 0:
            self._log_samples(wav, recon)

    def _log_samples(self, wav: torch.Tensor, recon: torch.Tensor) -> None:
        from lightning.pytorch.loggers import TensorBoardLogger

        if not isinstance(self.logger, TensorBoardLogger) or self.global_rank != 0:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        writer, sr, step = self.logger.experiment, self.vae.sample_rate, self.batch_step
        mel = self.mel_loss.mels[-2]
        for i in range(min(self.hparams.log_audio_count, wav.shape[0])):
            writer.add_audio(f"val/{i}_recon", recon[i].float().clamp(-1, 1).cpu(), step, sr)
            if not self._logged_targets:
                writer.add_audio(f"val/{i}_target", wav[i].float().cpu(), step, sr)
            fig, axes = plt.subplots(2, 1, figsize=(8, 5))
            for ax, x, title in ((axes[0], wav[i], "target"), (axes[1], recon[i], "recon")):
                ax.imshow(self.mel_loss.log_mel(mel, x.float()).cpu().numpy(), origin="lower", aspect="auto")
                ax.set_title(title)
            fig.tight_layout()
            writer.add_figure(f"val/{i}_mel", fig, step)
            plt.close(fig)
        self._logged_targets = True
