"""LightningModule for the (semantic) speech VAE: the GAN trainer (``tts.gan.GANModule``) on ``SpeechVAE``.

Batch (from ``tts.data.datamodule.CropDataModule``): {"wav": (B, T), "teacher": (B, Nt, Dt) (only when
the semantic loss is on), "teacher_lens": (B,), optional "wav_lens": (B,), "ids": list[str]}.

Steps count batches: ``trainer.global_step`` / ``max_steps`` / ``gan_start_step`` / checkpoint intervals
are trained batches (one generator step each; the discriminator step is not counted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tts.config import class_spec
from tts.gan import GANModule
from tts.hparams import check_betas, check_number
from tts.init_from import differences, read, refuse
from tts.vae.discriminators import Discriminator
from tts.vae.loss import VAELoss, kl_loss
from tts.vae.model import SpeechVAE


class VAEModule(GANModule):
    """Trains ``SpeechVAE(encoder, decoder)`` with mel, GAN, KL and optional semantic-alignment losses
    (``loss``: ``tts.vae.loss.VAELoss``, which holds every loss weight). ``semantic_weight=0`` is the plain
    VAE: no projector, no teacher. ``adversarial_weight = feature_matching_weight = 0``: no discriminator.

    As Semantic-VAE's ``scripts/train.py``: one discriminator step (gradient norm clipped to
    ``grad_clip_discriminator``, its LR scheduler stepped only then) from ``gan_start_step`` (in batches)
    on, then one generator step (clipped to ``grad_clip_generator``, 10 there). AdamW (``lr``, ``betas``)
    with an exponential LR decay (``lr_decay`` per step of that optimizer).

    ``ema``: an EMA of the VAE (Semantic-VAE keeps ``ema_pytorch.EMA(generator)`` with the library
    defaults and extracts latents with it): updated after every generator step (``tts.ema``: beta
    ``ema_beta``, a copy until ``ema_update_after_step`` updates, acting every ``ema_update_every``).
    Its state is in the checkpoint (``ema.ema_model.*``, ``ema.step``), so a resumed run continues it;
    ``tts export vae`` and ``tts.vae.load`` take the EMA weights when the checkpoint has them.
    Validation and the logged samples use the online weights, as the reference does.

    ``init_from``: start training from the weights of this VAE (an export dir, a ``VAEModule`` checkpoint or a
    ``tts import vae`` result; its EMA weights where it has them) in the VAE and its EMA, with a fresh
    optimizer, step count, budget and sampler (``tts.init_from``); its latent space (sample rate, latent
    dim, hop) and encoder / decoder specs must be this module's. The discriminator and the semantic projector
    start afresh. Not read when the fit resumes a checkpoint.
    """

    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        loss: VAELoss,
        discriminator: Discriminator | None = None,
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
        init_from: str | None = None,
    ):
        """``encoder`` / ``decoder`` / ``loss`` / ``discriminator``: the networks and losses, built from their
        ``class_path`` blocks by LightningCLI (or passed in Python). ``discriminator``: used only when the
        loss' adversarial or feature-matching weight is > 0 (then a default ``Discriminator()`` when None)."""
        check_number("lr", lr, 0.0, open_low=True)
        check_betas(betas)
        check_number("lr_decay", lr_decay, 0.0, 1.0, open_low=True)
        check_number("log_audio_count", log_audio_count, 0, integer=True)
        vae = SpeechVAE(encoder, decoder)
        loss_spec = class_spec(loss)
        for key, value in (("sample_rate", vae.sample_rate), ("latent_dim", vae.latent_dim),
                           ("hop_length", vae.hop_length)):  # fmt: skip
            given = loss_spec["init_args"][key]
            if given != value:
                raise ValueError(f"model.init_args.loss.init_args.{key} is {given}, but the VAE's is {value}")
        use_gan = loss.weights["adv"] > 0 or loss.weights["feature_matching"] > 0
        disc = (discriminator if discriminator is not None else Discriminator()) if use_gan else None
        super().__init__(
            vae, disc, loss, gan_start_step, grad_clip_generator, grad_clip_discriminator,
            ema, ema_beta, ema_update_after_step, ema_update_every,
        )  # fmt: skip
        # The networks' and the loss' specs (class_path + every init arg) in the checkpoint: tts.vae.load and
        # tts export vae rebuild the VAE from "encoder" / "decoder", whether LightningCLI or Python built it.
        self.save_hyperparameters({
            "_class_path": f"{type(self).__module__}.{type(self).__qualname__}",  # as LightningCLI stores it
            "encoder": class_spec(encoder), "decoder": class_spec(decoder), "loss": loss_spec,
            "discriminator": class_spec(disc) if disc is not None else None,
            "lr": lr, "betas": list(betas), "lr_decay": lr_decay, "gan_start_step": gan_start_step,
            "grad_clip_generator": grad_clip_generator, "grad_clip_discriminator": grad_clip_discriminator,
            "log_audio_count": log_audio_count, "ema": ema, "ema_beta": ema_beta,
            "ema_update_after_step": ema_update_after_step, "ema_update_every": ema_update_every,
            "init_from": init_from,
        })  # fmt: skip
        self._logged_targets = False

    def init_weights_from(self, path: str) -> None:
        """Copy the VAE at ``path`` into the VAE and its EMA; InitFromError naming every difference of latent
        space or encoder / decoder spec."""
        from tts.vae import load

        src = read(load, path, "a VAE export dir, a VAEModule checkpoint or a `tts import vae` result")
        sizes = ("sample_rate", "latent_dim", "hop_length")
        ours = {k: getattr(self.vae, k) for k in sizes}
        theirs = {k: getattr(src, k) for k in sizes}
        refuse(path, [
            ("latent space", differences(ours, theirs), "A VAE on another latent space cannot start this one"),
            ("network", differences({k: self.hparams[k] for k in ("encoder", "decoder")},
                                    {"encoder": class_spec(src.encoder), "decoder": class_spec(src.decoder)}),
             "Set model.init_args.encoder / decoder as its config.json (or checkpoint hyper-parameters) has them"),
        ])  # fmt: skip
        self.copy_generator_weights(path, src.state_dict())

    @property
    def vae(self):
        """The generator: the ``SpeechVAE`` being trained."""
        return self.generator

    @property
    def alignment(self):
        """The semantic projector (trained with the generator), or None for the plain VAE."""
        return self.loss.alignment

    @property
    def mel_loss(self):
        return self.loss.mel

    @property
    def batch_step(self) -> int:
        """Batches trained so far (= ``global_step``: only the generator step is counted)."""
        return self.global_step

    def generate(self, batch: dict):
        wav = batch["wav"]
        out = self.generator(wav)
        recon = out["recon"]
        target = F.pad(wav, (0, recon.shape[-1] - wav.shape[-1]))
        return target, recon, out

    def make_optimizer(self, params, which: str):
        hp = self.hparams
        opt = torch.optim.AdamW(params, lr=hp.lr, betas=tuple(hp.betas))
        return opt, torch.optim.lr_scheduler.ExponentialLR(opt, gamma=hp.lr_decay)

    def after_generator_step(self, batch_size: int) -> None:
        _, (sched_g, _) = self._optimizers()
        self.log("train/lr", sched_g.get_last_lr()[0], batch_size=batch_size)

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
