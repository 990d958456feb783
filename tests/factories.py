"""Tiny models for tests: the one place a test builds a DiT, an F5 module or export, a VAE or a Vocos.

A constructor that changes (a DiT config, a typed VAE network) changes here, not in every test. Nothing
here seeds torch unless it says so: callers seed first where the weights matter, as before.
Imported as ``from factories import ...`` (pytest puts tests/ on sys.path through tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

# the smallest DiT the tests train and sample: one block, 2 heads of 16, width 32 (tts.f5.dit.DiTConfig fields)
TINY_DIT = dict(dim=32, depth=1, heads=2, dim_head=16, text_dim=16, conv_layers=1, dropout=0.0)
# F5Module's training settings for tiny runs (warm-up of 2 steps, an EMA updated every step)
TINY_F5_TRAINING = dict(warmup_steps=2, ema_update_after_step=0, ema_update_every=1)
TINY_VOCOS = dict(dim=16, intermediate_dim=32, num_layers=1)


def tiny_dit(feat_dim: int = 8, vocab_size: int = 20, **overrides):
    """``tts.f5.dit.DiT`` of ``TINY_DIT`` (any of its arguments overridden, e.g. ``depth=2, fast=False``)."""
    from tts.f5.dit import DiT

    return DiT(**{**TINY_DIT, "feat_dim": feat_dim, "vocab_size": vocab_size, **overrides})


def tiny_f5_module(**overrides):
    """``tts.f5.module.F5Module`` on mel with the ``TINY_DIT`` network and ``TINY_F5_TRAINING``."""
    from tts.f5.dit import DiTConfig
    from tts.f5.module import F5Module

    return F5Module(**{"space": "mel", "dit": DiTConfig(**TINY_DIT), **TINY_F5_TRAINING, **overrides})


def tiny_vocos():
    """(a tiny ``vocos.Vocos`` mel vocoder, its config)."""
    from tts.features.vocos import build_vocos, vocos_config

    cfg = vocos_config(**TINY_VOCOS)
    return build_vocos(cfg), cfg


def tiny_vocos_dir(path: str | Path) -> Path:
    """A tiny Vocos saved as a pretrained-style dir (config.yaml + pytorch_model.bin) at ``path``."""
    from tts.features.vocos import save_vocos_dir

    vocos, cfg = tiny_vocos()
    return Path(save_vocos_dir(vocos, cfg, path))


def tiny_f5_export(root: str | Path) -> Path:
    """A tiny F5 export dir (``root/f5``) on mel with a tiny Vocos (``root/vocos``), max 8 s; seeds torch with 0."""
    import torch

    from tts.f5.export import F5Model, save
    from tts.text import Vocab

    root = Path(root)
    torch.manual_seed(0)
    vdir = tiny_vocos_dir(root / "vocos")
    vocab = Vocab()
    net = tiny_dit(feat_dim=100, vocab_size=len(vocab))
    return Path(save(F5Model(net, vocab, f"mel:vocos={vdir}", 93.75, max_duration_s=8.0), root / "f5"))


def tiny_aligned_f5_export(root: str | Path, max_duration_s: float = 30.0) -> Path:
    """A tiny phoneme-aligned F5 export dir (``root/f5``, with a duration head of width 16) on mel with a tiny
    Vocos (``root/vocos``); seeds torch with 0."""
    import torch

    from tts.f5.duration import DurationPredictor
    from tts.f5.export import F5Model, save
    from tts.text import Vocab

    root = Path(root)
    torch.manual_seed(0)
    vdir = tiny_vocos_dir(root / "vocos")
    vocab = Vocab(kind="phoneme")
    net = tiny_dit(feat_dim=100, vocab_size=len(vocab))
    model = F5Model(net, vocab, f"mel:vocos={vdir}", 93.75, max_duration_s, conditioning="aligned",
                    alignment="phoneme", duration=DurationPredictor(len(vocab), dim=16, layers=1, dropout=0.0))
    return Path(save(model, root / "f5"))


def tiny_vae(decoder=None):
    """``tts.vae.model.SpeechVAE``: a 2-channel DAC encoder and ``decoder`` (default a tiny Vocos decoder)."""
    from tts.vae.model import Encoder, SpeechVAE, VocosDecoder

    return SpeechVAE(Encoder(channels=2), decoder if decoder is not None else VocosDecoder(**TINY_VOCOS))


def with_even_alignments(cuts, kind: str, skip: str | None = None):
    """``cuts`` (a lhotse CutSet) with alignments of ``kind`` spread evenly over each utterance: the text's
    characters (``char``) or its piper phonemes (``phoneme``, the symbols a piper voice's alignment carries);
    the cut ``skip`` keeps none."""
    from lhotse import CutSet
    from lhotse.supervision import AlignmentItem

    from tts.text import phonemize

    out = []
    for cut in cuts:
        sups = []
        for sup in cut.supervisions:
            if cut.id == skip:
                sups.append(sup)
                continue
            symbols = phonemize(sup.text) if kind == "phoneme" else list(sup.text)
            d = sup.duration / len(symbols)
            items = [AlignmentItem(c, round(sup.start + i * d, 4), round(d, 4)) for i, c in enumerate(symbols)]
            sups.append(sup.with_alignment(kind, items))
        out.append(cut.map_supervisions(lambda s, sups=sups: next(x for x in sups if x.id == s.id)))
    return CutSet.from_cuts(out)
