"""Vocos mel vocoder: local loading, export, and GAN training on our lhotse corpus.

Loading never touches the hub: a directory with ``config.yaml`` + ``pytorch_model.bin`` (the layout of
``charactr/vocos-mel-24khz``) or a checkpoint written by ``VocosGAN``.

Training reuses the vocos package's networks, discriminators and losses. ``vocos.experiment.VocosExp``
itself cannot run here: it subclasses ``pytorch_lightning`` (not ``lightning.pytorch``, which our CLI uses)
and relies on the ``optimizer_idx`` multi-optimizer API and ``validation_epoch_end`` that Lightning 2 removed.
``VocosGAN`` is the same GAN step (MPD + MRD, hinge losses, feature matching, mel L1 x 45) written for
Lightning 2 manual optimization.
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning.pytorch as pl
import torch

from tts.data.datamodule import CropDataModule
from tts.io import CheckpointError, atomic_write, atomic_write_text, load_checkpoint

VOCOS_PREFIXES = ("feature_extractor.", "backbone.", "head.")


def _check_mel(vocos) -> None:
    from vocos.feature_extractors import MelSpectrogramFeatures

    fe = vocos.feature_extractor
    if not isinstance(fe, MelSpectrogramFeatures):
        raise ValueError(f"this Vocos is not a mel vocoder (feature extractor {type(fe).__name__})")
    m = fe.mel_spec
    got = (m.sample_rate, m.n_fft, m.hop_length, m.n_mels, fe.padding)
    if got != (24000, 1024, 256, 100, "center"):
        raise ValueError(f"Vocos mel config {got} != (24000, 1024, 256, 100, 'center') of MelSpace")


def vocos_config(
    dim: int = 512,
    intermediate_dim: int = 1536,
    num_layers: int = 8,
    n_fft: int = 1024,
    hop_length: int = 256,
) -> dict:
    """The ``config.yaml`` dict of a 24 kHz / 100-mel Vocos (defaults: the mel-24khz paper model)."""
    return {
        "feature_extractor": {
            "class_path": "vocos.feature_extractors.MelSpectrogramFeatures",
            "init_args": {
                "sample_rate": 24000,
                "n_fft": n_fft,
                "hop_length": hop_length,
                "n_mels": 100,
                "padding": "center",
            },
        },
        "backbone": {
            "class_path": "vocos.models.VocosBackbone",
            "init_args": {
                "input_channels": 100,
                "dim": dim,
                "intermediate_dim": intermediate_dim,
                "num_layers": num_layers,
            },
        },
        "head": {
            "class_path": "vocos.heads.ISTFTHead",
            "init_args": {"dim": dim, "n_fft": n_fft, "hop_length": hop_length, "padding": "center"},
        },
    }


def build_vocos(config: dict):
    """``vocos.Vocos`` from a config dict (random weights)."""
    from vocos.pretrained import Vocos, instantiate_class

    return Vocos(
        feature_extractor=instantiate_class((), config["feature_extractor"]),
        backbone=instantiate_class((), config["backbone"]),
        head=instantiate_class((), config["head"]),
    )


def load_vocos(path: str | Path):
    """Vocos from a local dir (config.yaml + pytorch_model.bin) or a ``VocosGAN`` Lightning checkpoint."""
    import yaml

    path = Path(path)
    if path.is_dir():
        cfg_file, weights = path / "config.yaml", path / "pytorch_model.bin"
        for f in (cfg_file, weights):
            if not f.is_file():
                raise FileNotFoundError(
                    f"Vocos dir {path} lacks {f.name} (need config.yaml + pytorch_model.bin)"
                )
        config = yaml.safe_load(cfg_file.read_text())
        state = load_checkpoint(weights)
    elif path.is_file():
        ckpt = load_checkpoint(path)
        if "vocos_config" not in ckpt:
            raise CheckpointError(f"{path} is not a VocosGAN checkpoint (no 'vocos_config' entry)")
        config = ckpt["vocos_config"]
        state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith(VOCOS_PREFIXES)}
    else:
        raise FileNotFoundError(f"Vocos not found: {path}")
    vocos = build_vocos(config)
    _check_mel(vocos)
    missing, unexpected = vocos.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("feature_extractor.")]  # mel buffers are recomputed
    if missing or unexpected:
        raise ValueError(
            f"{path}: Vocos weights do not match its config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    return vocos.eval()


def save_vocos_dir(vocos, config: dict, out_dir: str | Path) -> Path:
    """Write ``config.yaml`` + ``pytorch_model.bin`` (the pretrained-dir layout) atomically."""
    import yaml

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "pytorch_model.bin", lambda tmp: torch.save(vocos.state_dict(), tmp))
    atomic_write_text(out_dir / "config.yaml", yaml.safe_dump(config, sort_keys=False))
    return out_dir


def export_vocos(ckpt: str | Path, out_dir: str | Path) -> Path:
    """``VocosGAN`` checkpoint -> pretrained-style dir loadable by ``load_vocos``."""
    vocos = load_vocos(ckpt)
    return save_vocos_dir(vocos, load_checkpoint(ckpt)["vocos_config"], out_dir)


class VocosGAN(pl.LightningModule):
    """Vocos GAN training (manual optimization) with vocos' networks, discriminators and losses.

    Batch: ``{"wav": (B, T)}`` at 24 kHz (or a bare (B, T) tensor as vocos' own datamodule yields).
    The generator is ``MelSpectrogramFeatures -> VocosBackbone -> ISTFTHead``.
    """

    def __init__(
        self,
        dim: int = 512,
        intermediate_dim: int = 1536,
        num_layers: int = 8,
        n_fft: int = 1024,
        hop_length: int = 256,
        sample_rate: int = 24000,
        initial_learning_rate: float = 5e-4,
        num_warmup_steps: int = 0,
        mel_loss_coeff: float = 45.0,
        mrd_loss_coeff: float = 0.1,
        pretrain_mel_steps: int = 0,
    ):
        super().__init__()
        from vocos.discriminators import MultiPeriodDiscriminator, MultiResolutionDiscriminator
        from vocos.loss import (
            DiscriminatorLoss,
            FeatureMatchingLoss,
            GeneratorLoss,
            MelSpecReconstructionLoss,
        )

        self.save_hyperparameters()
        self.automatic_optimization = False
        self.vocos_config = vocos_config(dim, intermediate_dim, num_layers, n_fft, hop_length)
        vocos = build_vocos(self.vocos_config)
        self.feature_extractor, self.backbone, self.head = vocos.feature_extractor, vocos.backbone, vocos.head
        self.multiperioddisc = MultiPeriodDiscriminator()
        self.multiresddisc = MultiResolutionDiscriminator()
        self.disc_loss = DiscriminatorLoss()
        self.gen_loss = GeneratorLoss()
        self.feat_matching_loss = FeatureMatchingLoss()
        self.melspec_loss = MelSpecReconstructionLoss(sample_rate=sample_rate)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T') resynthesized through mel."""
        return self.head(self.backbone(self.feature_extractor(audio)))

    def configure_optimizers(self):
        hp = self.hparams
        opt_d = torch.optim.AdamW(
            [*self.multiperioddisc.parameters(), *self.multiresddisc.parameters()],
            lr=hp.initial_learning_rate,
            betas=(0.8, 0.9),
        )
        opt_g = torch.optim.AdamW(
            [*self.feature_extractor.parameters(), *self.backbone.parameters(), *self.head.parameters()],
            lr=hp.initial_learning_rate,
            betas=(0.8, 0.9),
        )
        # Lightning counts every optimizer step in max_steps (as vocos does): half per optimizer.
        total = max(1, (self.trainer.max_steps if self.trainer.max_steps > 0 else 2_000_000) // 2)

        def cosine(step: int) -> float:
            if step < hp.num_warmup_steps:
                return step / max(1, hp.num_warmup_steps)
            progress = (step - hp.num_warmup_steps) / max(1, total - hp.num_warmup_steps)
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))

        sch_d = torch.optim.lr_scheduler.LambdaLR(opt_d, cosine)
        sch_g = torch.optim.lr_scheduler.LambdaLR(opt_g, cosine)
        return [opt_d, opt_g], [sch_d, sch_g]

    @staticmethod
    def _audio(batch) -> torch.Tensor:
        return batch["wav"] if isinstance(batch, dict) else batch

    def training_step(self, batch, batch_idx: int) -> None:
        audio = self._audio(batch)
        opt_d, opt_g = self.optimizers()
        sch_d, sch_g = self.lr_schedulers()
        train_disc = self.trainer.fit_loop.epoch_loop.total_batch_idx >= self.hparams.pretrain_mel_steps
        if train_disc:
            with torch.no_grad():
                audio_hat = self(audio)
            real_mp, gen_mp, _, _ = self.multiperioddisc(y=audio, y_hat=audio_hat)
            real_mrd, gen_mrd, _, _ = self.multiresddisc(y=audio, y_hat=audio_hat)
            loss_mp, loss_mp_real, _ = self.disc_loss(
                disc_real_outputs=real_mp, disc_generated_outputs=gen_mp
            )
            loss_mrd, loss_mrd_real, _ = self.disc_loss(
                disc_real_outputs=real_mrd, disc_generated_outputs=gen_mrd
            )
            loss_d = loss_mp / len(loss_mp_real) + self.hparams.mrd_loss_coeff * loss_mrd / len(loss_mrd_real)
            opt_d.zero_grad()
            self.manual_backward(loss_d)
            opt_d.step()
            sch_d.step()
            self.log("discriminator/total", loss_d, prog_bar=True)

        audio_hat = self(audio)
        loss_g = audio.new_zeros(())
        if train_disc:
            _, gen_mp, fmap_r_mp, fmap_g_mp = self.multiperioddisc(y=audio, y_hat=audio_hat)
            _, gen_mrd, fmap_r_mrd, fmap_g_mrd = self.multiresddisc(y=audio, y_hat=audio_hat)
            loss_gen_mp, list_mp = self.gen_loss(disc_outputs=gen_mp)
            loss_gen_mrd, list_mrd = self.gen_loss(disc_outputs=gen_mrd)
            loss_fm_mp = self.feat_matching_loss(fmap_r=fmap_r_mp, fmap_g=fmap_g_mp) / len(fmap_r_mp)
            loss_fm_mrd = self.feat_matching_loss(fmap_r=fmap_r_mrd, fmap_g=fmap_g_mrd) / len(fmap_r_mrd)
            c = self.hparams.mrd_loss_coeff
            loss_g = (
                loss_gen_mp / len(list_mp) + c * loss_gen_mrd / len(list_mrd) + loss_fm_mp + c * loss_fm_mrd
            )
            self.log("generator/feature_matching_mp", loss_fm_mp)
        mel_loss = self.melspec_loss(audio_hat, audio)
        loss_g = loss_g + self.hparams.mel_loss_coeff * mel_loss
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        opt_g.step()
        sch_g.step()
        self.log("generator/total_loss", loss_g, prog_bar=True)
        self.log("generator/mel_loss", mel_loss)

    def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
        audio = self._audio(batch)
        audio_hat = self(audio)
        mel_loss = self.melspec_loss(audio_hat, audio)
        self.log("val_loss", mel_loss, prog_bar=True, sync_dist=True)
        experiment = getattr(self.logger, "experiment", None)
        if batch_idx == 0 and self.global_rank == 0 and hasattr(experiment, "add_audio"):
            sr = self.hparams.sample_rate
            experiment.add_audio("val/audio_in", audio[0].float().cpu(), self.global_step, sr)
            experiment.add_audio("val/audio_pred", audio_hat[0].float().cpu(), self.global_step, sr)
        return mel_loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["vocos_config"] = self.vocos_config


class VocosDataModule(CropDataModule):
    """Former name of the vocoder's crop data: ``tts.data.datamodule.CropDataModule`` with vocos' settings.

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
