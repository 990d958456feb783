"""Log-mel feature space (F5-TTS / Vocos mel-24khz) decoded by a Vocos vocoder."""

from __future__ import annotations

import torch
import torchaudio

from tts.features.space import FeatureSpace

SAMPLE_RATE = 24000
N_FFT = 1024
WIN_LENGTH = 1024
HOP_LENGTH = 256
N_MELS = 100
LOG_FLOOR = 1e-5  # F5-TTS; Vocos' own safe_log clamps at 1e-7 (identical wherever mel >= 1e-5)
MEL_FRAME_RATE = SAMPLE_RATE / HOP_LENGTH  # 93.75 Hz


class MelSpace(FeatureSpace):
    """24 kHz log-mel: (B, T) -> (B, N, 100) with N = T // 256 + 1 (center=True, power 1); Vocos decodes.

    Args:
        vocoder: a ``vocos.Vocos`` whose feature extractor is this mel; None = encode only.
        spec: the spec string this space was built from (stored with models trained on it).
    """

    name = "mel"
    sample_rate = SAMPLE_RATE
    frame_rate = MEL_FRAME_RATE
    dim = N_MELS
    hop_length = HOP_LENGTH

    def __init__(self, vocoder: torch.nn.Module | None = None, spec: str = "mel"):
        super().__init__(spec)
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE,
            n_fft=N_FFT,
            win_length=WIN_LENGTH,
            hop_length=HOP_LENGTH,
            n_mels=N_MELS,
            power=1,
            center=True,
            normalized=False,
            norm=None,
        )
        self.vocoder = vocoder
        if vocoder is not None:
            vocoder.eval().requires_grad_(False)

    def n_frames(self, n_samples: int) -> int:
        return n_samples // HOP_LENGTH + 1

    @torch.no_grad()
    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) at 24 kHz -> (B, N, 100) log-mel."""
        return self.mel(wav).clamp_min(LOG_FLOOR).log().transpose(1, 2)

    @torch.no_grad()
    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, N, 100) -> (B, (N - 1) * 256) waveform at 24 kHz."""
        if self.vocoder is None:
            raise RuntimeError(
                f"feature space {self.spec!r} has no vocoder: use 'mel:vocos=/path/to/vocos_dir_or.ckpt'"
            )
        return self.vocoder.decode(feats.transpose(1, 2))
