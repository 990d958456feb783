"""What a synthesis run is asked to do: the sampling settings (each with its allowed range) and the run's error."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tts.errors import TTSError
from tts.f5.aligned import DURATION_SOURCES

SPEED_RANGE = (0.25, 4.0)  # beyond it durations reach 0 frames a token or minutes a word: no plausible speech
DEFAULT_BATCH_FRAMES = 8192


class SynthError(TTSError, RuntimeError):
    """A synthesis run that cannot start: bad settings, unwritable or mismatched output dir, bad model."""


@dataclass(frozen=True)
class SamplingSettings:
    """Every setting that changes the audio; ``problems()`` states each one outside its allowed range.

    ``nfe``, ``cfg``, ``sway``, ``method`` go to the sampler (``solver()``); ``seed`` is the run seed
    (``tts.synth.sample.noise_seed``); ``speed`` and ``durations`` set the length of each line.
    """

    nfe: int = 32
    cfg: float = 2.0
    sway: float | None = -1.0
    speed: float = 1.0
    seed: int = 0
    method: str = "euler"
    durations: str = "predictor"

    def solver(self) -> dict:
        """The keyword arguments of ``tts.f5.cfm.CFM.sample`` these settings fix."""
        return {"nfe": self.nfe, "cfg": self.cfg, "sway": self.sway, "method": self.method}

    def problems(self) -> list[str]:
        out = []

        def number(name: str, lo: float, hi: float, integer: bool = False, lo_open: bool = False) -> None:
            v = getattr(self, name)
            kind = "an integer" if integer else "a finite number"
            ok = isinstance(v, int) if integer else isinstance(v, (int, float)) and math.isfinite(v)
            ok = ok and not isinstance(v, bool) and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                bound = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
                out.append(f"{name} must be {kind} in {bound}, got {v!r}")

        number("nfe", 1, 1000, integer=True)
        number("cfg", 0, 100)
        if self.sway is not None:
            number("sway", -1, 1)
        number("speed", *SPEED_RANGE)
        number("seed", 0, 2**31 - 1, integer=True)
        if self.method not in ("euler", "midpoint"):
            out.append(f"method must be euler or midpoint, got {self.method!r}")
        elif self.method == "midpoint" and isinstance(self.nfe, int) and self.nfe < 2:
            out.append(f"nfe must be >= 2 with the midpoint method (2 evaluations a step), got {self.nfe}")
        if self.durations not in DURATION_SOURCES:
            out.append(f"durations must be one of {', '.join(DURATION_SOURCES)}, got {self.durations!r}")
        return out
