"""The benchmark spec as typed dataclasses, checked against them with every problem listed at once.

``check_spec(raw)`` walks the YAML mapping against :class:`BenchSpec`: unknown keys (with the nearest
known key), wrong types, values out of range, keys that do not apply to a system's type, and ASR /
similarity arguments that the chosen backend's constructor does not take. It returns the problems and
the filled-in spec as plain dicts (what the runner works on).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

SYSTEM_TYPES = ("ground_truth", "resynthesis", "tts")


@dataclass
class SystemSpec:
    """One row of the report: ground truth audio, resynthesis through a feature space, or a TTS model."""

    name: str
    type: Literal["ground_truth", "resynthesis", "tts"]
    space: str | None = None  # resynthesis: a tts.features spec string
    model: str | None = None  # tts: an F5 export dir or .ckpt
    nfe: int = 32
    cfg: float = 2.0
    sway: float = -1.0
    speed: float = 1.0
    batch_frames: int = 16000
    # aligned models: frames per token from the model's duration predictor, or "oracle": each test row's
    # own `alignment` ([[symbol, start_s, duration_s], ...]), comparing representations without duration noise
    durations: Literal["predictor", "oracle"] = "predictor"
    # a WER-vs-training-steps curve of this model (the wer_steps.jsonl of tts.f5.callbacks.WERCallback),
    # plotted in the report against steps and wall-clock seconds; a missing file is noted, not an error
    curve: str | None = None


# keys each system type takes (the rest of SystemSpec belongs to other types)
SYSTEM_KEYS = {
    "ground_truth": ("name", "type"),
    "resynthesis": ("name", "type", "space"),
    "tts": ("name", "type", "model", "nfe", "cfg", "sway", "speed", "batch_frames", "durations", "curve"),
}


@dataclass
class BenchSpec:
    """A benchmark: a test list, the systems to compare, how to transcribe and score them."""

    test_list: str
    systems: list[SystemSpec]
    name: str | None = None
    scale: str | None = None
    notes: str | None = None
    spec_path: str | None = None
    max_utterances: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    normalizer: str = "whisper"
    n_boot: int = 1000
    bootstrap_seed: int = 0
    device: str = "cpu"
    asr: list[dict[str, Any]] = field(default_factory=lambda: [{"backend": "faster-whisper", "model": "base"}])
    similarity: dict[str, Any] | None = field(default_factory=lambda: {"backend": "resemblyzer"})
    baseline: str | None = None
    # extra paired comparisons [a, b] -> a - b per ASR (WER) and SIM, beside the deltas vs the baseline
    comparisons: list[list[str]] = field(default_factory=list)


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _check_value(value, hint, where: str, problems: list[str]):
    """``value`` converted to ``hint`` (dataclasses built from mappings); problems appended, never raised."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _check_value(value, inner[0], where, problems)
        if any(isinstance(value, a) for a in inner if isinstance(a, type)):
            return value
        problems.append(f"{where}: expected {' or '.join(_type_name(a) for a in inner)}, got {value!r}")
        return value
    if origin is Literal:
        if value not in args:
            problems.append(f"{where}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {value!r}")
            return value
        return [_check_value(v, args[0], f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return _check_dataclass(value, hint, where, problems)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            problems.append(f"{where}: expected a finite number, got {value!r}")
            return value
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            problems.append(f"{where}: expected a string, got {value!r}")
        return value
    return value


def unknown_keys(keys, known, where: str) -> list[str]:
    """One problem per key not in ``known``, with the closest known key as a suggestion."""
    out = []
    for key in keys:
        if key not in known:
            near = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f" (did you mean `{near[0]}`?)" if near else f" (known: {', '.join(known)})"
            out.append(f"{where}: unknown key `{key}`{hint}")
    return out


def _check_dataclass(value, cls, where: str, problems: list[str]):
    if not isinstance(value, dict):
        problems.append(f"{where}: expected a mapping ({cls.__name__}), got {value!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems += unknown_keys(value, fields, where)
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = _check_value(value[name], hints[name], f"{where}.{name}", problems)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(f"{where}: missing required key `{name}`")
    try:
        return cls(**kwargs)
    except TypeError:  # a required key was missing (already reported)
        return None


def _backend_problems(entry, backends: dict, default: str, where: str) -> list[str]:
    """An ASR / similarity entry: a known backend, and only arguments its constructor takes."""
    if not isinstance(entry, dict):
        return []
    backend = entry.get("backend", default)
    if backend not in backends:
        return [f"{where}: unknown backend {backend!r} (one of {', '.join(backends)})"]
    params = inspect.signature(backends[backend].__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    known = ["backend"] + [p for p in params if p != "self"]
    return [f"{p} of backend {backend!r}" for p in unknown_keys(list(entry), known, where)]


def check_spec(raw: dict, where: str = "spec") -> tuple[dict, list[str]]:
    """(spec as plain dicts with defaults filled, problems); the spec is only usable when problems is []."""
    from tts.bench.asr import BACKENDS as ASR_BACKENDS
    from tts.bench.normalize import DESCRIPTIONS
    from tts.bench.similarity import BACKENDS as SIM_BACKENDS
    from tts.synth import SamplingSettings

    problems: list[str] = []
    spec = _check_dataclass(raw, BenchSpec, where, problems)
    if spec is None:
        return raw, problems
    if spec.normalizer not in DESCRIPTIONS:
        problems.append(f"{where}.normalizer: {spec.normalizer!r} is not one of {', '.join(DESCRIPTIONS)}")
    if isinstance(spec.n_boot, int) and spec.n_boot < 1:
        problems.append(f"{where}.n_boot: must be >= 1, got {spec.n_boot}")
    if isinstance(spec.max_utterances, int) and spec.max_utterances < 1:
        problems.append(f"{where}.max_utterances: must be >= 1 (or null for all), got {spec.max_utterances}")
    if isinstance(spec.seeds, list) and not spec.seeds:
        problems.append(f"{where}.seeds: list at least one seed")
    for i, seed in enumerate(spec.seeds if isinstance(spec.seeds, list) else []):
        if isinstance(seed, int) and not 0 <= seed < 2**31:
            problems.append(f"{where}.seeds[{i}]: must be in [0, 2^31-1], got {seed}")
    systems = [s for s in spec.systems or [] if s is not None] if isinstance(spec.systems, list) else []
    if isinstance(spec.systems, list) and not spec.systems:
        problems.append(f"{where}.systems: empty; list ground_truth / resynthesis / tts rows")
    names = [s.name for s in systems]
    for name in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{where}.systems: name {name!r} is used more than once")
    if spec.baseline is not None and spec.baseline not in names:
        problems.append(f"{where}.baseline: {spec.baseline!r} is not a system name ({', '.join(map(str, names))})")
    for i, pair in enumerate(spec.comparisons or []):
        if not isinstance(pair, list) or len(pair) != 2 or pair[0] == pair[1]:
            problems.append(f"{where}.comparisons[{i}]: must be a pair of two different system names, got {pair!r}")
            continue
        for name in pair:
            if name not in names:
                problems.append(f"{where}.comparisons[{i}]: {name!r} is not a system name ({', '.join(map(str, names))})")
    out_systems = []
    for i, (s, raw_s) in enumerate(zip(spec.systems or [], raw.get("systems") or [])):
        if s is None or s.type not in SYSTEM_KEYS:
            continue
        at = f"{where}.systems[{i}] ({s.name})"
        for key in raw_s:
            if key in SYSTEM_KEYS["tts"] + SYSTEM_KEYS["resynthesis"] and key not in SYSTEM_KEYS[s.type]:
                problems.append(f"{at}: `{key}` does not apply to a {s.type} system")
        if s.type == "resynthesis" and not s.space:
            problems.append(f"{at}: resynthesis needs `space` (a tts.features spec string)")
        if s.type == "tts":
            if not s.model:
                problems.append(f"{at}: tts needs `model` (an F5 export dir or .ckpt)")
            sampling = SamplingSettings(nfe=s.nfe, cfg=s.cfg, sway=s.sway, speed=s.speed)
            problems += [f"{at}: {p}" for p in sampling.problems()]
            if isinstance(s.batch_frames, int) and s.batch_frames < 1:
                problems.append(f"{at}: batch_frames must be >= 1, got {s.batch_frames}")
        out_systems.append({k: v for k, v in dataclasses.asdict(s).items() if k in SYSTEM_KEYS[s.type]})
    for i, a in enumerate(spec.asr if isinstance(spec.asr, list) else []):
        problems += _backend_problems(a, ASR_BACKENDS, "faster-whisper", f"{where}.asr[{i}]")
    if spec.similarity is not None:
        problems += _backend_problems(spec.similarity, SIM_BACKENDS, "resemblyzer", f"{where}.similarity")
    return {**dataclasses.asdict(spec), "systems": out_systems}, problems
