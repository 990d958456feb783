"""Non-autoregressive TTS on a semantic speech VAE: VAE, F5-style DiT, Vocos mel baseline, WER bench."""

__version__ = "0.1.0"
