"""Feature spaces: the representation an F5 DiT is trained on, with its encoder and decoder.

A space turns waveforms into frame features and back:
``encode(wav (B, T) at sample_rate) -> (B, N, dim)`` and ``decode(feats (B, N, dim)) -> (B, T')``.
The DiT, ``tts synth`` and the benchmark only see this interface.

Specs (strings stored with every F5 model; the grammar of ``tts.spec``):
- ``mel`` or ``mel:vocos=/path/to/vocos_dir_or.ckpt``: 24 kHz log-mel (100 bands, 93.75 Hz), Vocos decoder.
- ``latent:vae=/path/to/vae[,normalize=/path/stats.json][,sample=true]``: 64-dim VAE latents at 40 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass

from tts.features.space import FeatureSpace
from tts.spec import parse_spec


@dataclass(frozen=True)
class SpaceInfo:
    """What a spec implies without loading any model (for sizing the DiT)."""

    kind: str
    dim: int
    frame_rate: float
    sample_rate: int
    options: dict


def space_options(spec: str) -> tuple[str, dict[str, str]]:
    """``"kind:key=value,key=value"`` -> (kind, options), read by ``tts.spec.parse_spec`` (a space takes no path)."""
    kind, path, options = parse_spec(spec, "feature space spec")
    if path is not None:
        raise ValueError(f"feature space spec {spec!r}: option {path!r} is not key=value")
    return kind, options


def space_info(spec: str) -> SpaceInfo:
    """Dimension and rates of a spec's space (mel: 100 x 93.75 Hz @ 24 kHz; latent: 64 x 40 Hz @ 16 kHz)."""
    from tts.features.latent import LATENT_DIM, LATENT_FRAME_RATE, LATENT_SAMPLE_RATE
    from tts.features.mel import MEL_FRAME_RATE, N_MELS, SAMPLE_RATE

    kind, options = space_options(spec)
    if kind == "mel":
        return SpaceInfo(kind, N_MELS, MEL_FRAME_RATE, SAMPLE_RATE, options)
    if kind == "latent":
        return SpaceInfo(kind, LATENT_DIM, LATENT_FRAME_RATE, LATENT_SAMPLE_RATE, options)
    raise ValueError(
        f"unknown feature space {kind!r} in spec {spec!r}: use 'mel:vocos=PATH' or 'latent:vae=PATH'"
    )


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def load_space(spec: str) -> FeatureSpace:
    """Build the feature space named by ``spec`` (loads the vocoder / VAE from local files)."""
    kind, options = space_options(spec)
    known = {"mel": {"vocos"}, "latent": {"vae", "normalize", "sample"}}
    if kind not in known:
        space_info(spec)  # raises the helpful error
    unknown = set(options) - known[kind]
    if unknown:
        raise ValueError(
            f"spec {spec!r}: unknown option(s) {sorted(unknown)}; {kind} takes {sorted(known[kind])}"
        )
    if kind == "mel":
        from tts.features.mel import MelSpace

        vocoder = None
        if options.get("vocos"):
            from tts.features.vocos import load_vocos

            vocoder = load_vocos(options["vocos"])
        return MelSpace(vocoder=vocoder, spec=spec)
    from tts.features.latent import LatentSpace

    if not options.get("vae"):
        raise ValueError(f"spec {spec!r}: the latent space needs vae=/path/to/vae_export_or.ckpt")
    import tts.vae

    vae = tts.vae.load(options["vae"])
    return LatentSpace(
        vae,
        stats=options.get("normalize") or None,
        sample=_flag(options.get("sample", "false")),
        spec=spec,
    )


__all__ = ["FeatureSpace", "SpaceInfo", "load_space", "space_info", "space_options"]
