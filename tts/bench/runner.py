"""`tts bench -c SPEC.yaml --out DIR`: synthesize a test list with each system, score it, write a report.

Order of work: expand and check the spec (every path, before anything runs) -> load every ASR backend
and the speaker encoder -> per system: audio (ground truth as is, resynthesis through a FeatureSpace,
TTS through ``tts.synth.synthesize_list`` once per seed) -> transcripts (cached per system, seed and
ASR) -> SIM, PESQ/STOI (cached) -> scores, bootstrap CIs, paired deltas vs the baseline -> report.

A system that raises is recorded as failed with its error; the others are unaffected. Everything is
resumable: synthesis skips finished files, transcripts and metrics are read back from their caches.

Output layout (DIR):
  test_list.jsonl                     the utterances benchmarked (first ``max_utterances`` rows)
  audio/<system>/seed<k>/<id>.wav     synthesized / resynthesized audio (+ results.jsonl with RTF)
  cache/<system>/seed<k>/asr_<name>.jsonl, sim_<name>.jsonl, quality.jsonl
  utterances.jsonl                    per-utterance transcripts and scores
  report.md, report.json, wer.png, wer_dist.png, rtf.png
  report.html                         the same with players and marked transcripts (tts.bench.html);
                                      prompts and ground truth linked into audio/_prompt, audio/_gt
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tts.audio import load_audio, save_audio
from tts.bench.asr import ASR, load_asr
from tts.bench.normalize import DESCRIPTIONS, get_normalizer
from tts.bench.quality import pesq_stoi
from tts.bench.scoring import aggregate, score_utterance
from tts.bench.similarity import cosine, load_similarity
from tts.bench.spec import SYSTEM_TYPES, check_spec  # noqa: F401 (SYSTEM_TYPES re-exported)
from tts.bench.stats import bootstrap_ci, paired_bootstrap
from tts.errors import TTSError
from tts.io import append_jsonl, atomic_write_json, atomic_write_text, read_jsonl, read_lines, sha256_file

SAMPLE_RATE = 16000
PACKAGES = (
    "torch", "torchaudio", "numpy", "jiwer", "whisper-normalizer", "faster-whisper", "ctranslate2",
    "pocketsphinx", "resemblyzer", "pesq", "pystoi", "fairseq2", "vocos", "matplotlib",
)  # fmt: skip
ASR_BATCH = 16


class SpecError(TTSError, ValueError):
    """A benchmark spec that cannot run: unknown keys, bad values, unresolved ${VARS}, missing files (all listed)."""


# ----------------------------------------------------------------------------------------------- spec


def load_spec(path: str | Path) -> dict:
    """Read a YAML spec; relative paths stay relative to the working directory."""
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


def _spec_paths(space_spec: str) -> list[str]:
    """Path-like values (key=/some/path) inside a feature-space spec string."""
    _, _, opts = space_spec.partition(":")
    return [v for kv in opts.split(",") if "=" in kv for v in [kv.split("=", 1)[1]] if "/" in v]


def _resolve(path: str, base: Path) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists() or not (base / p).exists():
        return p
    return base / p


def prepare_spec(spec: dict) -> tuple[dict, list[dict]]:
    """Expand variables, check the spec against ``tts.bench.spec.BenchSpec`` and every path.

    Returns (spec with defaults filled, test rows) or raises SpecError listing every problem at once.
    """
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
            problems += [
                f"{where}: {p} not found" for p in _spec_paths(s.get("space") or "") if not Path(p).exists()
            ]
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
    rows: list[dict] = []
    test_list = spec.get("test_list")
    if not isinstance(test_list, str) or not test_list:
        pass  # reported by check_spec
    elif not Path(test_list).is_file():
        problems.append(f"test_list {test_list} not found")
    else:
        rows = []
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
        rows = rows[: spec.get("max_utterances") or None]
        if not rows:
            problems.append(f"test_list {test_list} has no rows")
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


# ---------------------------------------------------------------------------------------------- audio


def _load16(path: str | Path) -> torch.Tensor:
    wav = load_audio(path, SAMPLE_RATE, check=False)
    return torch.nan_to_num(wav, nan=0.0, posinf=0.0, neginf=0.0)


def _synthesize_list(**kwargs) -> dict:
    from tts.synth import synthesize_list

    return synthesize_list(**kwargs)


def _resynthesize(system: dict, rows: list[dict], out: Path, device: str) -> None:
    """gt_audio -> space.encode -> space.decode -> out/<id>.wav; one results.jsonl row (with rtf) per file."""
    from tts.features import load_space

    done = {r["id"] for r in read_jsonl(out / "results.jsonl") if (out / f"{r['id']}.wav").is_file()}
    todo = [r for r in rows if r["id"] not in done]
    if not todo:
        return
    space = load_space(system["space"]).to(device).eval()
    for r in todo:
        wav = load_audio(r["gt_audio"], space.sample_rate)
        t0 = time.perf_counter()
        with torch.inference_mode():
            y = space.decode(space.encode(wav[None].to(device)))[0].float().cpu()
        seconds = time.perf_counter() - t0
        save_audio(out / f"{r['id']}.wav", y, space.sample_rate)
        dur = len(wav) / space.sample_rate
        append_jsonl(
            out / "results.jsonl", {"id": r["id"], "duration": dur, "seconds": seconds, "rtf": seconds / dur}
        )


def _audio_for_seed(system: dict, rows: list[dict], out_dir: Path, seed: int, device: str) -> dict[str, Path]:
    """Paths of this system's audio per utterance id (missing ids: synthesis failed for them)."""
    kind = system["type"]
    if kind == "ground_truth":
        return {r["id"]: Path(r["gt_audio"]) for r in rows}
    out = out_dir / "audio" / system["name"] / f"seed{seed}"
    out.mkdir(parents=True, exist_ok=True)
    if kind == "resynthesis":
        _resynthesize(system, rows, out, device)
    else:
        _synthesize_list(
            model=system["model"], input=str(out_dir / "test_list.jsonl"), out=str(out), nfe=system["nfe"],
            cfg=system["cfg"], sway=system["sway"], speed=system["speed"], seed=seed,
            batch_frames=system["batch_frames"], device=device, durations=system["durations"],
        )  # fmt: skip
    return {r["id"]: out / f"{r['id']}.wav" for r in rows if (out / f"{r['id']}.wav").is_file()}


# --------------------------------------------------------------------------------------------- caches


def _signature(config: dict) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _cached_map(
    path: Path, sig: str, ids: Sequence[str], compute: Callable[[list[str]], list], batch: int = ASR_BATCH
) -> dict[str, object]:
    """{id: value} read from a JSONL cache (rows with the same ``sig``); missing ids computed and appended."""
    cached = {r["id"]: r["value"] for r in read_jsonl(path) if r.get("sig") == sig}
    todo = [i for i in ids if i not in cached]
    for start in range(0, len(todo), batch):
        chunk = todo[start : start + batch]
        for i, value in zip(chunk, compute(chunk)):
            append_jsonl(path, {"id": i, "sig": sig, "value": value})
            cached[i] = value
    return {i: cached[i] for i in ids}


def model_hashes(path: str | Path) -> dict[str, str]:
    """sha256 of a model file, or of every file in a model dir (non-recursive)."""
    path = Path(path)
    if path.is_file():
        return {path.name: sha256_file(path)}
    if path.is_dir():
        return {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file()}
    return {}


def package_versions() -> dict[str, str | None]:
    import importlib.metadata

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


# ------------------------------------------------------------------------------------------ per system


def _run_system(
    system: dict, spec: dict, rows: list[dict], out_dir: Path, asrs: list[ASR], sim_model, normalize
) -> dict:
    """Audio, transcripts, scores and metrics of one system (all seeds); raises on failure."""
    seeds = spec["seeds"] if system["type"] == "tts" else [0]
    by_id = {r["id"]: r for r in rows}
    result: dict = {"seeds": seeds, "per_seed": {}, "utterances": []}
    if system["type"] == "tts":
        result["model"] = system["model"]
        result["model_sha256"] = model_hashes(system["model"])
    if system["type"] == "resynthesis":
        result["space_files_sha256"] = {p: model_hashes(p) for p in _spec_paths(system["space"])}
    for seed in seeds:
        t0 = time.perf_counter()
        audio = _audio_for_seed(system, rows, out_dir, seed, spec["device"])
        synth_s = time.perf_counter() - t0
        ids = [r["id"] for r in rows if r["id"] in audio]
        cache = out_dir / "cache" / system["name"] / f"seed{seed}"
        seed_out: dict = {
            "n": len(ids),
            "missing": [r["id"] for r in rows if r["id"] not in audio],
            "asr": {},
            "audio": {i: audio[i] for i in ids},
        }
        seed_out["synth_seconds"] = synth_s
        seed_out["audio_seconds"] = sum(sf.info(str(audio[i])).duration for i in ids)
        if system["type"] != "ground_truth":
            results_file = out_dir / "audio" / system["name"] / f"seed{seed}" / "results.jsonl"
            results = {r["id"]: r for r in read_jsonl(results_file)}
            rtfs = [results[i]["rtf"] for i in ids if i in results and results[i].get("rtf") is not None]
            seed_out["rtf"] = float(np.mean(rtfs)) if rtfs else None
            # aligned models record where their durations came from (predictor / oracle)
            durations = sorted({results[i]["durations"] for i in ids if "durations" in results.get(i, {})})
            if durations:
                result["durations"] = ", ".join(durations)
        for asr in asrs:
            t1 = time.perf_counter()
            texts = _cached_map(
                cache / f"asr_{asr.name}.jsonl", _signature(getattr(asr, "config", {"name": asr.name})), ids,
                lambda chunk, asr=asr, audio=audio: asr.transcribe([_load16(audio[i]) for i in chunk]),
            )  # fmt: skip
            seed_out["asr"][asr.name] = {"seconds": time.perf_counter() - t1}
            for i in ids:
                score = score_utterance(by_id[i]["text"], texts[i], normalize)
                row = {"system": system["name"], "seed": seed, "asr": asr.name, "id": i, "text": by_id[i]["text"],
                       "hyp": texts[i], **score}  # fmt: skip
                result["utterances"].append(row)
        if sim_model is not None:
            prompts: dict[str, np.ndarray] = {}

            def sims(chunk: list[str], audio=audio, prompts=prompts) -> list[float]:
                gen = sim_model.embed([_load16(audio[i]) for i in chunk])
                for i in chunk:
                    ref = by_id[i]["ref_audio"]
                    if ref not in prompts:
                        prompts[ref] = sim_model.embed([_load16(ref)])[0]
                return [
                    float(v) for v in cosine(gen, np.stack([prompts[by_id[i]["ref_audio"]] for i in chunk]))
                ]

            seed_out["sim"] = _cached_map(cache / f"sim_{sim_model.name}.jsonl", sim_model.name, ids, sims)
        if system["type"] == "resynthesis":
            seed_out["quality"] = _cached_map(
                cache / "quality.jsonl", "pesq_stoi", ids,
                lambda chunk, audio=audio: [pesq_stoi(_load16(by_id[i]["gt_audio"]), _load16(audio[i])) for i in chunk],
            )  # fmt: skip
        result["per_seed"][seed] = seed_out
    return result


def _num_den(utts: list[dict], ids: list[str], value: str, corpus: tuple[str, str] | None = None):
    """Per-utterance arrays for the bootstrap, pooled over seeds: mean over seeds, or summed counts."""
    groups: dict[str, list[dict]] = {}
    for u in utts:
        groups.setdefault(u["id"], []).append(u)
    if corpus is None:
        return np.array([np.mean([u[value] for u in groups[i]]) for i in ids]), None
    num, den = corpus
    return (
        np.array([sum(u[num] for u in groups[i]) for i in ids], dtype=np.float64),
        np.array([sum(u[den] for u in groups[i]) for i in ids], dtype=np.float64),
    )


def _compare(a: dict, b: dict, spec: dict, asr_names: list[str]) -> dict:
    """Paired bootstrap of system a - system b: WER (mean of utterances) per ASR and SIM, common utterances."""
    out: dict = {"wer_mean": {}}
    for asr in asr_names:
        ua = [u for u in a["utterances"] if u["asr"] == asr]
        ub = [u for u in b["utterances"] if u["asr"] == asr]
        common = sorted({u["id"] for u in ua} & {u["id"] for u in ub})
        out["wer_mean"][asr] = paired_bootstrap(
            _num_den(ua, common, "wer")[0], _num_den(ub, common, "wer")[0],
            n_boot=spec["n_boot"], seed=spec["bootstrap_seed"],
        )  # fmt: skip
    sa, sb = _pooled(a, "sim"), _pooled(b, "sim")
    common = sorted(set(sa) & set(sb))
    if common:
        out["sim"] = paired_bootstrap(np.array([sa[i] for i in common]), np.array([sb[i] for i in common]),
                                      n_boot=spec["n_boot"], seed=spec["bootstrap_seed"])  # fmt: skip
    return out


def _summarize(name: str, result: dict, spec: dict, asr_names: list[str], base: dict | None) -> dict:
    """Aggregates, bootstrap CIs and paired deltas vs the baseline for one finished system."""
    n_boot, bseed = spec["n_boot"], spec["bootstrap_seed"]
    out: dict = {"asr": {}}
    for asr in asr_names:
        utts = [u for u in result["utterances"] if u["asr"] == asr]
        ids = sorted({u["id"] for u in utts})
        entry: dict = {"n": len(ids), "per_seed": {}}
        for seed in result["seeds"]:
            entry["per_seed"][str(seed)] = aggregate([u for u in utts if u["seed"] == seed])
        entry["wer_mean"] = bootstrap_ci(_num_den(utts, ids, "wer")[0], None, n_boot, bseed)
        entry["wer_corpus"] = bootstrap_ci(
            *_num_den(utts, ids, "", ("word_errors", "n_words")), n_boot, bseed
        )
        entry["cer_mean"] = bootstrap_ci(_num_den(utts, ids, "cer")[0], None, n_boot, bseed)
        entry["cer_corpus"] = bootstrap_ci(
            *_num_den(utts, ids, "", ("char_errors", "n_chars")), n_boot, bseed
        )
        if base is not None and base is not result:
            butts = [u for u in base["utterances"] if u["asr"] == asr]
            common = sorted(set(ids) & {u["id"] for u in butts})
            if common:
                entry["delta_wer_mean"] = paired_bootstrap(
                    _num_den(utts, common, "wer")[0],
                    _num_den(butts, common, "wer")[0],
                    n_boot=n_boot,
                    seed=bseed,
                )
        out["asr"][asr] = entry
    sims = _pooled(result, "sim")
    if sims:
        ids = sorted(sims)
        out["sim"] = bootstrap_ci(np.array([sims[i] for i in ids]), None, n_boot, bseed)
        bsims = _pooled(base, "sim") if base is not None and base is not result else {}
        common = sorted(set(ids) & set(bsims))
        if common:
            out["delta_sim"] = paired_bootstrap(
                np.array([sims[i] for i in common]),
                np.array([bsims[i] for i in common]),
                n_boot=n_boot,
                seed=bseed,
            )
    rtfs = [s.get("rtf") for s in result["per_seed"].values() if s.get("rtf") is not None]
    out["rtf"] = float(np.mean(rtfs)) if rtfs else None
    for metric in ("pesq", "stoi"):
        vals = [
            q[metric] for s in result["per_seed"].values() for q in (s.get("quality") or {}).values()
            if q.get(metric) is not None
        ]  # fmt: skip
        out[metric] = bootstrap_ci(np.array(vals), None, n_boot, bseed) if vals else None
    out["missing"] = sorted({i for s in result["per_seed"].values() for i in s["missing"]})
    return out


def _pooled(result: dict | None, key: str) -> dict[str, float]:
    """{id: value averaged over seeds} for a per-seed {id: value} map (``sim``)."""
    if result is None:
        return {}
    vals: dict[str, list[float]] = {}
    for s in result["per_seed"].values():
        for i, v in (s.get(key) or {}).items():
            vals.setdefault(i, []).append(v)
    return {i: float(np.mean(v)) for i, v in vals.items()}


# ------------------------------------------------------------------------------------------------ main


def _read_curve(path: str | Path) -> dict:
    """A WERCallback's wer_steps.jsonl as ``{"path", "points": [{step, wall_s, wer_mean, wer_corpus}]}``.

    A missing or unreadable file gives ``{"path", "error"}``: the curve is context, not a score.
    """
    try:
        from tts.f5.callbacks import read_wer_curve

        keep = ("step", "wall_s", "wer_mean", "wer_corpus", "n")
        points = [{k: r.get(k) for k in keep} for r in read_wer_curve(path)]
        return {"path": str(path), "points": points}
    except (OSError, ValueError) as e:
        return {"path": str(path), "error": f"{type(e).__name__}: {e}"}


def run_bench(spec: dict, out_dir: str | Path, resume: bool = True) -> dict:
    """Run a benchmark spec (a dict, as from YAML) into ``out_dir``; returns the report.json dict.

    ``resume=False`` deletes this runner's earlier audio and caches in ``out_dir`` first.
    Raises SpecError (all problems listed) or ASRError / SimilarityError before any synthesis.
    """
    from tts.bench.html import write_html
    from tts.bench.report import write_report

    started = time.perf_counter()
    spec, rows = prepare_spec(spec)
    out_dir = Path(out_dir)
    if not resume:
        for sub in ("audio", "cache"):
            shutil.rmtree(out_dir / sub, ignore_errors=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    timings: dict = {}
    asrs, asr_info = [], []
    for a in spec["asr"]:
        t0 = time.perf_counter()
        asr = load_asr(a)
        asrs.append(asr)
        asr_info.append({"name": asr.name, "spec": a, "config": getattr(asr, "config", {}),
                         "model_path": getattr(asr, "model_path", None), "model_sha256": getattr(asr, "model_sha256", None),
                         "load_seconds": time.perf_counter() - t0})  # fmt: skip
    if len({a.name for a in asrs}) != len(asrs):
        raise SpecError(f"ASR names must be unique (set `name:`): {[a.name for a in asrs]}")
    sim_model, sim_info = None, None
    if spec.get("similarity"):
        sim_model = load_similarity({"device": spec.get("device", "cpu"), **spec["similarity"]})
        sim_info = {"name": sim_model.name, "spec": spec["similarity"],
                    "model_path": getattr(sim_model, "model_path", None),
                    "model_sha256": getattr(sim_model, "model_sha256", None)}  # fmt: skip
    atomic_write_json(out_dir / "spec.json", spec)
    atomic_write_text(
        out_dir / "test_list.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )
    normalize = get_normalizer(spec["normalizer"])
    results: dict[str, dict] = {}
    errors: dict[str, dict] = {}
    for system in spec["systems"]:
        t0 = time.perf_counter()
        try:
            results[system["name"]] = _run_system(system, spec, rows, out_dir, asrs, sim_model, normalize)
        except Exception as e:
            errors[system["name"]] = {
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
            print(f"[bench] system {system['name']} FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        timings[system["name"]] = time.perf_counter() - t0

    asr_names = [a.name for a in asrs]
    base = results.get(spec.get("baseline")) if spec.get("baseline") else None
    systems_out = []
    utterances = []
    for system in spec["systems"]:
        name = system["name"]
        entry = {"name": name, "type": system["type"], "config": system}
        if name in errors:
            entry.update(status="failed", **errors[name])
        else:
            res = results[name]
            entry.update(status="ok", seeds=res["seeds"], **_summarize(name, res, spec, asr_names, base))
            entry["model_sha256"] = res.get("model_sha256") or res.get("space_files_sha256")
            if res.get("durations"):
                entry["durations"] = res["durations"]
            if system.get("curve"):
                entry["curve"] = _read_curve(system["curve"])
            entry["asr_seconds"] = {
                a: sum(s["asr"][a]["seconds"] for s in res["per_seed"].values()) for a in asr_names
            }  # fmt: skip
            entry["audio_seconds"] = sum(s["audio_seconds"] for s in res["per_seed"].values())
            utterances += res["utterances"]
        systems_out.append(entry)
    comparisons = []
    for a, b in spec.get("comparisons") or []:
        if a in results and b in results:
            comparisons.append({"a": a, "b": b, **_compare(results[a], results[b], spec, asr_names)})
        else:
            comparisons.append({"a": a, "b": b, "error": "a system of the pair failed"})
    atomic_write_text(
        out_dir / "utterances.jsonl", "".join(json.dumps(u, ensure_ascii=False) + "\n" for u in utterances)
    )
    report = {
        "name": spec["name"],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_path": spec.get("spec_path"),
        "scale": spec.get("scale"),
        "notes": spec.get("notes"),
        "spec": spec,
        "n_utterances": len(rows),
        "seeds": spec["seeds"],
        "baseline": spec.get("baseline"),
        "protocol": protocol(spec),
        "versions": package_versions(),
        "asr": asr_info,
        "similarity": sim_info,
        "systems": systems_out,
        "comparisons": comparisons,
        "utterances_file": "utterances.jsonl",
        "timings": {"systems_seconds": timings, "total_seconds": time.perf_counter() - started},
    }
    atomic_write_json(out_dir / "report.json", report)  # the scores are safe before any rendering
    try:
        write_report(report, out_dir, utterances)
        report["report_html"] = str(write_html(report, out_dir, rows, utterances, results))
    except Exception as e:  # a plot or table that fails must not cost the finished scoring
        report["report_error"] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        atomic_write_json(out_dir / "report.json", report)
        print(f"[bench] writing the report failed: {type(e).__name__}: {e}; the scores are in "
              f"{out_dir / 'report.json'} and {out_dir / 'utterances.jsonl'}", file=sys.stderr)  # fmt: skip
    return report


def protocol(spec: dict) -> dict:
    """The scoring protocol in words (rendered in the report header)."""
    return {
        "normalizer": f"{spec['normalizer']}: {DESCRIPTIONS[spec['normalizer']]}",
        "wer_mean": "mean over utterances of per-utterance WER (F5-TTS protocol); with several seeds each "
        "utterance's WER is first averaged over seeds (= the mean of the per-seed WERs, as F5-TTS reports)",
        "wer_corpus": "total word errors / total reference words, pooled over utterances and seeds",
        "ci": f"95% percentile bootstrap over utterances ({spec['n_boot']} resamples, seed {spec['bootstrap_seed']})",
        "delta": "paired bootstrap of system - baseline on the utterances both have (same resamples); p = "
        "two-sided fraction of resamples whose difference has the other sign",
        "sim": "SIM-o: cosine of speaker embeddings of each output and its prompt (ref_audio), mean over utterances"
        + ("; outputs in which the encoder's VAD finds under 0.5 s of speech are embedded untrimmed"
           if (spec.get("similarity") or {}).get("backend", "resemblyzer") == "resemblyzer" else
           "; each utterance embedded whole (no VAD), as F5-TTS does"),
        "seeds": "TTS systems are synthesized once per seed; ground truth and resynthesis once",
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tts bench",
        description="WER/CER (jiwer, several ASR backends), SIM, PESQ/STOI and RTF of ground truth, "
        "resynthesis and TTS systems on a test list, with bootstrap CIs; writes report.md/json + plots and "
        "report.html (players, marked transcripts; open it from disk). The spec is checked against "
        "tts/bench/spec.py (keys, types, ranges, backend arguments, every path) before anything runs, every "
        "problem listed at once (exit 2). Exit 1 when a system failed or the report could not be rendered "
        "(the scores are then in report.json and utterances.jsonl).",
    )
    parser.add_argument("-c", "--config", required=True, help="benchmark spec YAML (see eval/*.yaml)")
    parser.add_argument(
        "--out", required=True, help="output dir (audio, caches, report.md, report.json, report.html)"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue in a non-empty --out, reusing audio + caches"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete earlier audio + caches in --out first"
    )
    parser.add_argument("--max-utterances", type=int, help="override the spec's max_utterances")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if (out / "cache").exists() and not (args.resume or args.overwrite):
        parser.error(f"{out} holds an earlier run: pass --resume to continue it or --overwrite to start over")
    try:
        spec = load_spec(args.config)
        if args.max_utterances is not None:
            spec["max_utterances"] = args.max_utterances
        report = run_bench(spec, out, resume=not args.overwrite)
    except (SpecError, RuntimeError) as e:
        print(f"tts bench: {e}", file=sys.stderr)
        return 2
    failed = [s["name"] for s in report["systems"] if s["status"] != "ok"]
    if report.get("report_error"):
        print(f"tts bench: report.md not written ({report['report_error']['error']}); scores: {out / 'report.json'}",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"report: {out / 'report.md'}" + (f" (failed systems: {', '.join(failed)})" if failed else ""))
    if report.get("report_html"):
        print(f"page:   {report['report_html']}")
    return 1 if failed else 0
