"""The benchmark spec: typed dataclasses, the YAML reader, and the check of every key and path before work.

``load_spec(path, run_dir)`` reads the YAML (errors name file:line:col) and fills ``${run_dir}``. ``prepare_spec(spec)`` expands $VARS,
walks the mapping against :class:`BenchSpec` with ``check_spec`` (unknown keys with the nearest known
key, wrong types, values out of range, keys that do not apply to a system's type, ASR / similarity
arguments the chosen backend's constructor does not take), checks every path and reads the test list;
it returns the filled-in spec as plain dicts (what the other stages work on) and the test rows, or
raises :class:`SpecError` listing every problem at once.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import json
import math
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tts.errors import TTSError
from tts.io import file_name_problem, read_lines

SYSTEM_TYPES = ("ground_truth", "resynthesis", "tts")


class SpecError(TTSError, ValueError):
    """A benchmark spec that cannot run: unknown keys, bad values, unresolved ${VARS}, missing files (all listed)."""


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
    # a WER-vs-training-steps curve of this model (the wer_steps.jsonl of tts.wer_callback.WERCallback),
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
    # only the test-list rows of these speakers (their `speaker` key), before max_utterances; null: every row
    speakers: list[str] | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    normalizer: str = "whisper"
    n_boot: int = 1000
    bootstrap_seed: int = 0
    device: str = "cpu"
    asr: list[dict[str, Any]] = field(default_factory=lambda: [{"backend": "faster-whisper", "model": "base"}])
    similarity: dict[str, Any] | None = field(default_factory=lambda: {"backend": "resemblyzer"})
    baseline: str | None = None
    # extra paired comparisons [a, b] -> a - b per ASR (WER) and SIM, beside the deltas vs the baseline; with
    # speaker groups (test rows with `seen`) also per group
    comparisons: list[list[str]] = field(default_factory=list)
    # a JSON file {speaker_id: [wav paths of a few of that training speaker's utterances]} (relative paths against
    # its folder): the speakers the no-cloning SIM reference picks from (tts.bench.voices); null: no such row
    training_speakers: str | None = None


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


def _scorer_name_problems(entry, where: str) -> list[str]:
    """An ASR / similarity ``name`` names its cache files (asr_<name>.jsonl): it must be one file name."""
    name = entry.get("name") if isinstance(entry, dict) else None
    problem = None if name is None else file_name_problem(name)
    return [f"{where}.name: {name!r} cannot name its cache file: {problem}"] if problem else []


def check_spec(raw: dict, where: str = "spec") -> tuple[dict, list[str]]:
    """(spec as plain dicts with defaults filled, problems); the spec is only usable when problems is []."""
    from tts.bench.asr import BACKENDS as ASR_BACKENDS
    from tts.bench.html import GT_DIR, PROMPT_DIR
    from tts.bench.normalize import DESCRIPTIONS
    from tts.bench.similarity import BACKENDS as SIM_BACKENDS
    from tts.bench.voices import VOICES_DIR
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
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue  # reported by the type check
        own = name in (PROMPT_DIR, GT_DIR, VOICES_DIR)
        problem = file_name_problem(name) or ("is the report's own folder" if own else None)
        if problem:
            problems.append(f"{where}.systems[{i}]: name {name!r} cannot name its folder audio/<name>: {problem}")
    for name in sorted({n for n in names if names.count(n) > 1}, key=str):
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
        problems += _scorer_name_problems(a, f"{where}.asr[{i}]")
    if spec.similarity is not None:
        problems += _backend_problems(spec.similarity, SIM_BACKENDS, "resemblyzer", f"{where}.similarity")
        problems += _scorer_name_problems(spec.similarity, f"{where}.similarity")
    return {**dataclasses.asdict(spec), "systems": out_systems}, problems


RUN_DIR_VAR = "${run_dir}"


def _fill_run_dir(obj, run_dir: str | None, unfilled: list[str]):
    """``obj`` with ``${run_dir}`` replaced by ``run_dir`` in every string (notes and scale are prose); keys
    naming it without a run directory are recorded in ``unfilled``."""
    from tts.config import map_strings

    def fill(value: str, key: str) -> str:
        if RUN_DIR_VAR not in value:
            return value
        if run_dir is None:
            unfilled.append(key)
            return value
        return value.replace(RUN_DIR_VAR, run_dir)

    return map_strings(obj, fill, skip=("notes", "scale"))


def load_spec(path: str | Path, run_dir: str | Path | None = None) -> dict:
    """Read a YAML spec; relative paths stay relative to the working directory. ``${run_dir}`` in a value is
    the run directory (``tts bench --run_dir DIR``: the folder ``tts demo --out DIR`` wrote); a spec that
    names it without one is refused, naming its keys. Other ``$VARS`` are environment variables, expanded
    by ``prepare_spec``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpecError(f"benchmark spec not found: {path}")
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as e:
        raise SpecError(f"{path}: not UTF-8 text (byte {e.start})") from e
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x)
        raise SpecError(f"{at}: invalid YAML: {problem or e}") from e
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a benchmark spec is a YAML mapping")
    unfilled: list[str] = []
    spec = _fill_run_dir(spec, None if run_dir is None else str(run_dir), unfilled)
    if unfilled:
        raise SpecError(f"{path}: {', '.join(unfilled)} name {RUN_DIR_VAR}: give the run directory with --run_dir DIR "
                        "(the folder tts demo --out DIR wrote, e.g. --run_dir work/demo)")  # fmt: skip
    spec.setdefault("spec_path", str(path))
    return spec


def _expand(obj, where: str, missing: list[str]):
    """Expand $VARS in every string; record ``${VAR}`` left unresolved."""
    if isinstance(obj, dict):
        return {
            k: v if k in ("notes", "scale") else _expand(v, f"{where}.{k}", missing) for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_expand(v, f"{where}[{i}]", missing) for i, v in enumerate(obj)]
    if isinstance(obj, str):
        out = os.path.expandvars(obj)
        for var in re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", out):
            missing.append(f"{where}: environment variable ${{{var}}} is not set (in {obj!r})")
        return out
    return obj


def space_paths(space_spec: str) -> list[str]:
    """Path-like values (key=/some/path) of a feature-space spec (``tts.spec``); none of a malformed one."""
    from tts.spec import parse_spec

    try:
        return [v for v in parse_spec(space_spec, "feature space spec")[2].values() if "/" in v]
    except ValueError:
        return []


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists() or not (base / p).exists():
        return p
    return base / p


def _f5_export_problem(path: Path) -> str | None:
    """A resynthesis space that names an F5 TTS export (config.json + vocab.json) instead of its VAE or Vocos."""
    from tts.f5.export import CONFIG_NAME, VOCAB_NAME

    if not (path.is_dir() and (path / CONFIG_NAME).is_file() and (path / VOCAB_NAME).is_file()):
        return None
    try:
        space = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8")).get("space")
    except (ValueError, UnicodeDecodeError, AttributeError):
        space = None
    hint = f" ({space!r})" if isinstance(space, str) else ""
    return (f"{path} is an F5 TTS export, not a VAE or Vocos folder: benchmark it as a system with "
            f"`type: tts` and `model: {path}`, or resynthesize through the space it was trained on{hint}")  # fmt: skip


def _id_problems(test_list: str, rows: list[dict], lines: list[int]) -> list[str]:
    """Ids that cannot name an audio file (as ``tts synth`` refuses them) and ids used on more than one line
    (their audio would be scored against another row's text); integer ids become strings."""
    problems, lines_of = [], {}
    for n, row in zip(lines, rows):
        utt_id = row.get("id")
        if utt_id is None or utt_id == "":
            continue  # reported as a missing `id`
        if isinstance(utt_id, int) and not isinstance(utt_id, bool):
            row["id"] = utt_id = str(utt_id)
        if problem := file_name_problem(utt_id):
            problems.append(f"{test_list} line {n}: id {utt_id!r} cannot name its audio file <id>.wav: {problem}")
        else:
            lines_of.setdefault(utt_id, []).append(n)
    duplicates = [f"{i!r} (lines {', '.join(map(str, ns))})" for i, ns in lines_of.items() if len(ns) > 1]
    if duplicates:
        problems.append(f"{test_list}: duplicate ids, each row needs its own: {', '.join(duplicates)}")
    return problems


def prepare_spec(spec: dict) -> tuple[dict, list[dict]]:
    """Expand variables, check the spec against ``tts.bench.spec.BenchSpec`` and every path.

    Returns (spec with defaults filled, test rows: the first ``max_utterances`` of the test list (of
    ``speakers`` when given), their audio paths resolved against its folder) or raises SpecError listing every
    problem at once.
    """
    from tts.bench.voices import read_training_speakers, row_problems

    problems: list[str] = []
    spec = _expand(copy.deepcopy(spec), "spec", problems)
    spec, schema_problems = check_spec(spec)
    problems += schema_problems
    head = f"benchmark spec {spec.get('spec_path') or '(dict)'} cannot run:\n  - "
    if not isinstance(spec.get("systems"), list):
        raise SpecError(head + "\n  - ".join(problems))
    spec["name"] = spec.get("name") or Path(spec.get("spec_path") or "bench").stem
    for i, s in enumerate(spec["systems"]):
        where = f"spec.systems[{i}] ({s.get('name')})"
        if s["type"] == "resynthesis":
            for p in space_paths(s.get("space") or ""):
                if not Path(p).exists():
                    problems.append(f"{where}: {p} not found")
                elif problem := _f5_export_problem(Path(p)):
                    problems.append(f"{where}: space {s['space']!r}: {problem}")
        elif s["type"] == "tts" and s.get("model") and not Path(s["model"]).exists():
            problems.append(f"{where}: TTS model {s['model']!r} not found")
    for i, a in enumerate(spec["asr"] if isinstance(spec.get("asr"), list) else []):
        for key in ("model", "checkpoint", "tokenizer"):
            v = a.get(key) if isinstance(a, dict) else None
            if v and not (key == "model" and v in ("base", "tiny.en")) and not Path(v).expanduser().exists():
                problems.append(f"spec.asr[{i}] ({a.get('backend')}): {key} {v} not found")
    sim = spec.get("similarity") if isinstance(spec.get("similarity"), dict) else {}
    for key in ("checkpoint", "weights"):
        if sim.get(key) and not Path(sim[key]).exists():
            problems.append(f"spec.similarity ({sim.get('backend')}): {key} {sim[key]} not found")
    training: dict[str, list[str]] = {}
    if isinstance(spec.get("training_speakers"), str):
        training, training_problems = read_training_speakers(spec["training_speakers"])
        problems += training_problems
    rows: list[dict] = []
    test_list = spec.get("test_list")
    if not isinstance(test_list, str) or not test_list:
        pass  # reported by check_spec
    elif not Path(test_list).is_file():
        problems.append(f"test_list {test_list} not found")
    else:
        rows, lines = [], []
        for n, line, problem in read_lines(test_list):
            try:
                row = json.loads(line) if not problem and line.strip() else None
                if row is not None and not isinstance(row, dict):
                    raise ValueError("not a JSON object")
            except ValueError as e:
                problem = f"line {n}: not valid JSON ({e})"
            if problem:
                problems.append(f"{test_list}: {problem}")
            elif row is not None:
                rows.append(row)
                lines.append(n)
        problems += _id_problems(test_list, rows, lines)
        speakers = spec.get("speakers")
        if isinstance(speakers, list) and speakers:
            rows = [r for r in rows if r.get("speaker") in speakers]
        rows = rows[: spec.get("max_utterances") or None]
        if not rows:
            problems.append(f"test_list {test_list} has no rows" + (f" of speakers {speakers}" if speakers else ""))
        problems += row_problems(test_list, rows, training)
        base = Path(test_list).parent
        needs_gt = any(s.get("type") in ("ground_truth", "resynthesis") for s in spec.get("systems") or [])
        systems = spec.get("systems") or []
        oracle = any(s.get("type") == "tts" and s.get("durations") == "oracle" for s in systems)
        for j, r in enumerate(rows):
            if oracle and not r.get("alignment"):
                problems.append(
                    f"{test_list} row {j + 1} ({r.get('id')}): durations: oracle needs `alignment`"
                )
            for key in ("id", "text", "ref_audio", "ref_text") + (("gt_audio",) if needs_gt else ()):
                if not r.get(key):
                    problems.append(f"{test_list} row {j + 1}: missing `{key}`")
            for key in ("ref_audio", "gt_audio"):
                if r.get(key):
                    r[key] = str(_resolve(r[key], base))
                    if not Path(r[key]).is_file():
                        problems.append(f"{test_list} row {j + 1} ({r.get('id')}): {key} {r[key]} not found")
    if problems:
        shown = problems[:30] + ([f"... and {len(problems) - 30} more"] if len(problems) > 30 else [])
        raise SpecError(head + "\n  - ".join(shown))
    return spec, rows
