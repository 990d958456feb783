"""VAE training losses: multi-scale mel L1, LSGAN adversarial + feature matching, KL, semantic alignment.

Adversarial loss is least-squares (LSGAN, as in DAC/Semantic-VAE): D minimizes (1 - D(x))^2 + D(G(z))^2,
G minimizes (1 - D(G(z)))^2.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from tts.config import records_init_args
from tts.gan import GANLoss


class MultiScaleMelLoss(nn.Module):
    """L1 between log10 mel spectrograms at several resolutions (DAC settings): (B, T), (B, T) -> scalar.

    Window w uses hop w/4, a Hann window and ``n_mels`` bands; magnitudes (power 1) clamped at 1e-5.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        window_lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048),
        n_mels: tuple[int, ...] = (5, 10, 20, 40, 80, 160, 320),
        clamp_eps: float = 1e-5,
    ):
        super().__init__()
        import torchaudio

        if len(window_lengths) != len(n_mels):
            raise ValueError("window_lengths and n_mels must have the same length")
        self.clamp_eps = clamp_eps
        with warnings.catch_warnings():  # small windows leave some mel bands empty; harmless here
            warnings.simplefilter("ignore")
            self.mels = nn.ModuleList(
                torchaudio.transforms.MelSpectrogram(
                    sample_rate=sample_rate,
                    n_fft=w,
                    hop_length=w // 4,
                    n_mels=m,
                    power=1.0,
                    norm="slaney",
                    mel_scale="slaney",
                )
                for w, m in zip(window_lengths, n_mels)
            )

    def log_mel(self, mel: nn.Module, wav: torch.Tensor) -> torch.Tensor:
        return mel(wav).clamp(min=self.clamp_eps).log10()

    def forward(self, recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=recon.device.type, enabled=False):
            recon, target = recon.float(), target.float()
            return sum(F.l1_loss(self.log_mel(m, recon), self.log_mel(m, target)) for m in self.mels)


def discriminator_loss(real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN discriminator loss summed over sub-discriminators."""
    return sum(
        torch.mean((1 - real.float()) ** 2) + torch.mean(fake.float() ** 2)
        for real, fake in zip(real_logits, fake_logits)
    )


def generator_adversarial_loss(fake_logits: list[torch.Tensor]) -> torch.Tensor:
    """LSGAN generator loss summed over sub-discriminators."""
    return sum(torch.mean((1 - fake.float()) ** 2) for fake in fake_logits)


def feature_matching_loss(
    real_fmaps: list[list[torch.Tensor]], fake_fmaps: list[list[torch.Tensor]]
) -> torch.Tensor:
    """L1 between discriminator feature maps of real (detached) and generated audio, summed over layers.

    The maps are those the discriminators return: every conv activation but the final logits map.
    """
    return sum(
        F.l1_loss(fake.float(), real.detach().float())
        for real_d, fake_d in zip(real_fmaps, fake_fmaps)
        for real, fake in zip(real_d, fake_d)
    )


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, 1)) summed over latent channels, averaged over batch and frames.

    (B, C, N), (B, C, N) -> scalar.
    """
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B,) -> (B, max_len) bool, True on valid frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


class SemanticAlignment(nn.Module):
    """Cosine alignment of the latent to frozen SSL teacher features (Semantic-VAE).

    Teacher features (B, Nt, Dt) are linearly interpolated to the latent length, projected DOWN to the
    latent dim by [conv k3 + GroupNorm + Mish] x 2 + conv k1, and compared per frame with the latent
    (the sampled z in training, as in Semantic-VAE): loss = mean over valid frames of 1 - cos(z_t, proj(h)_t).
    Each item's valid teacher frames are interpolated onto its own valid latent frames, so padded teacher
    frames never influence the loss.
    """

    def __init__(self, teacher_dim: int, latent_dim: int = 64, hidden_dim: int = 128):
        super().__init__()
        self.proj = nn.Sequential(
            nn.Conv1d(teacher_dim, hidden_dim, 3, padding=1),
            nn.GroupNorm(1, hidden_dim),
            nn.Mish(),
            nn.Conv1d(hidden_dim, hidden_dim, 3, padding=1),
            nn.GroupNorm(1, hidden_dim),
            nn.Mish(),
            nn.Conv1d(hidden_dim, latent_dim, 1),
        )

    @staticmethod
    def valid_latent_frames(
        n_latent: int, n_teacher: int, teacher_lens: torch.Tensor, latent_lens: torch.Tensor | None
    ) -> torch.Tensor:
        """Latent frames covered by each item's valid teacher frames (B,), limited by ``latent_lens``."""
        valid = torch.ceil(teacher_lens.float() * n_latent / n_teacher).long().clamp(1, n_latent)
        if latent_lens is not None:
            valid = torch.minimum(valid, latent_lens.to(valid.device))
        return valid

    def forward(
        self,
        z: torch.Tensor,
        teacher: torch.Tensor,
        teacher_lens: torch.Tensor | None = None,
        latent_lens: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z (B, C, N), teacher (B, Nt, Dt), teacher_lens (B,), latent_lens (B,) -> scalar loss."""
        batch, _, n_latent = z.shape
        n_teacher = teacher.shape[1]
        if teacher_lens is None:
            teacher_lens = torch.full((batch,), n_teacher, dtype=torch.long, device=z.device)
        valid = self.valid_latent_frames(n_latent, n_teacher, teacher_lens, latent_lens)
        h = teacher.new_zeros(batch, teacher.shape[2], n_latent)
        for i in range(batch):
            h_i = teacher[i, : max(int(teacher_lens[i]), 1)].T[None]
            h[i, :, : valid[i]] = F.interpolate(h_i, size=int(valid[i]), mode="linear")[0]
        target = self.proj(h.to(z.dtype))
        cos = F.cosine_similarity(z, target, dim=1, eps=1e-6)  # (B, N)
        mask = lengths_to_mask(valid, n_latent).to(cos.dtype)
        return ((1 - cos) * mask).sum() / mask.sum()


@records_init_args
class VAELoss(GANLoss):
    """The VAE's GAN losses (Semantic-VAE): weighted mel + KL (+ semantic alignment) + LSGAN + feature matching.

    ``semantic_weight=0``: the plain VAE (no projector, no teacher). ``teacher``: an optional teacher spec
    computed online when a batch has no cached "teacher" features. ``sample_rate``, ``latent_dim`` and
    ``hop_length`` must be the VAE's (``VAEModule`` checks them). Log names: ``train/{name}_loss``,
    ``train/loss`` (the weighted total), ``train/disc_loss``, ``train/logvar_mean``.
    """

    prog_bar = ("train/loss", "train/disc_loss", "train/mel_loss", "train/semantic_loss")

    def __init__(
        self,
        sample_rate: int = 16000,
        latent_dim: int = 64,
        hop_length: int = 400,
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
    ):
        super().__init__()
        self.weights = {
            "mel": mel_weight,
            "kl": kl_weight,
            "semantic": semantic_weight,
            "adv": adversarial_weight,
            "feature_matching": feature_matching_weight,
        }
        self.hop_length = hop_length
        self.teacher_spec = teacher
        self.mel = MultiScaleMelLoss(sample_rate, tuple(mel_window_lengths), tuple(mel_n_mels))
        self.alignment = (
            SemanticAlignment(teacher_dim, latent_dim, semantic_hidden_dim) if semantic_weight > 0 else None
        )
        self._teacher = None

    def teacher_features(self, batch: dict, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if "teacher" in batch:
            return batch["teacher"], batch.get("teacher_lens")
        if self.teacher_spec is None:
            raise ValueError(
                "semantic_weight > 0 but the batch has no 'teacher' features: set data.init_args.teacher_key "
                "to the cached teacher key (tts extract teacher), or model.init_args.teacher to a teacher spec."
            )
        if self._teacher is None:
            from tts.teacher import load_teacher

            self._teacher = load_teacher(self.teacher_spec)
        feats = self._teacher([w.float().cpu() for w in batch["wav"]])
        lens = torch.tensor([f.shape[0] for f in feats], device=device)
        padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True).to(device)
        return padded, lens

    def discriminator_loss(self, discriminator, real, fake):
        real_logits, _ = discriminator(real)
        fake_logits, _ = discriminator(fake)
        loss = discriminator_loss(real_logits, fake_logits)
        return loss, {"train/disc_loss": loss}

    def generator_loss(self, discriminator, batch, real, fake, out):
        losses = {"mel": self.mel(fake, real), "kl": kl_loss(out["mean"], out["logvar"])}
        if self.alignment is not None:
            teacher, teacher_lens = self.teacher_features(batch, real.device)
            latent_lens = None
            if "wav_lens" in batch:
                latent_lens = torch.ceil(batch["wav_lens"].float() / self.hop_length).long()
            losses["semantic"] = self.alignment(out["z"], teacher, teacher_lens, latent_lens)
        if discriminator is not None:
            fake_logits, fake_fmaps = discriminator(fake)
            with torch.no_grad():
                _, real_fmaps = discriminator(real)
            losses["adv"] = generator_adversarial_loss(fake_logits)
            losses["feature_matching"] = feature_matching_loss(real_fmaps, fake_fmaps)
        total = sum(self.weights[k] * v for k, v in losses.items())
        logs = {"train/loss": total, **{f"train/{k}_loss": v for k, v in losses.items()}}
        logs["train/logvar_mean"] = out["logvar"].float().mean()
        return total, logs
