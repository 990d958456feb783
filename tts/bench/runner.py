"""`tts bench -c SPEC.yaml --out DIR`: synthesize a test list with each system, score it, write a report.

Order of work: expand and check the spec (every path, before anything runs) -> load every ASR backend
and the speaker encoder -> per system: audio (ground truth as is, resynthesis through a FeatureSpace,
TTS through ``tts.synth.synthesize_list`` once per seed) -> transcripts (cached per system, seed and
ASR) -> SIM, PESQ/STOI (cached) -> scores, bootstrap CIs, paired deltas vs the baseline -> report.

A system that raises is recorded as failed with its error; the others are unaffected. Everything is
resumable: synthesis skips finished files, transcripts and metrics are read back from their caches.
One run per DIR at a time (an ``fcntl`` lock on DIR/.bench.lock). ``--overwrite`` deletes only what
DIR/written.jsonl records (``tts.bench.written``); anything else under audio/ and cache/ stays, counted on stderr.

This module only orchestrates; the stages are ``tts.bench.spec`` (read + check the spec and test list),
``tts.bench.produce`` (audio + provenance), ``tts.bench.score`` (transcripts, WER/CER, SIM, PESQ/STOI,
cached) and ``tts.bench.summarize`` (CIs, paired deltas, comparisons, curves, report files).

Output layout (DIR):
  test_list.jsonl                     the utterances benchmarked (first ``max_utterances`` rows)
  written.jsonl                       every file and synthesis folder written under audio/ and cache/
  audio/<system>/seed<k>/<id>.wav     synthesized / resynthesized audio (+ results.jsonl with RTF)
  cache/<system>/seed<k>/asr_<name>.jsonl, sim_<name>.jsonl, quality.jsonl
  utterances.jsonl                    per-utterance transcripts and scores
  summary.json                        with speaker groups (rows with `seen`, or spec training_speakers):
                                      per group and system n, WER, SIM to the prompt and the two SIM
                                      reference rows (tts.bench.voices; reference cache in cache/_voices)
  report.md, report.json, wer.png, wer_dist.png, rtf.png (+ wer_curves.png with training curves)
  report.html                         the same with players and marked transcripts (tts.bench.html);
                                      prompts and ground truth linked into audio/_prompt, audio/_gt
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

from tts.bench.asr import ASR, load_asr
from tts.bench.normalize import get_normalizer
from tts.bench.produce import produce_seed, system_provenance
from tts.bench.score import cache_names, score_seed
from tts.bench.similarity import load_similarity
from tts.bench.spec import SYSTEM_TYPES, SpecError, load_spec, prepare_spec
from tts.bench.summarize import build_report, comparisons, system_entries, write_outputs
from tts.bench.voices import active, cache_file, voices_section
from tts.bench.written import TOP_FOLDERS, WRITTEN_NAME, Written, clear
from tts.errors import TTSError
from tts.io import OutDirError, atomic_write_json, atomic_write_text, out_dir_lock, path_under

# SYSTEM_TYPES, SpecError, load_spec, prepare_spec: re-exported for the CLI, tts.demo and the tests
__all__ = ["SYSTEM_TYPES", "SpecError", "load_spec", "main", "prepare_spec", "run_bench"]
LOCK_NAME = ".bench.lock"


def _seeds(system: dict, spec: dict) -> list[int]:
    return spec["seeds"] if system["type"] == "tts" else [0]


def _seed_outputs(
    system: dict, seed: int, out_dir: Path, asrs: list[ASR], sim_model
) -> tuple[Path | None, Path, list[Path]]:
    """Where one seed of ``system`` writes: its audio folder (None for ground truth), cache folder, cache files."""
    audio = None if system["type"] == "ground_truth" else path_under(out_dir, "audio", system["name"], f"seed{seed}")
    cache = path_under(out_dir, "cache", system["name"], f"seed{seed}")
    names = cache_names([a.name for a in asrs], sim_model.name if sim_model is not None else None,
                        quality=system["type"] == "resynthesis")  # fmt: skip
    return audio, cache, [cache / n for n in names]


def _run_system(
    system: dict, spec: dict, rows: list[dict], out_dir: Path, asrs: list[ASR], sim_model, normalize,
    written: Written,
) -> dict:  # fmt: skip
    """Audio, transcripts, scores and metrics of one system (all seeds), each output path recorded in
    ``written`` before it is written; raises on failure.

    Returns {"seeds", "per_seed": {seed: {"n", "missing", "audio", "rtf", "asr", "sim", ...}},
    "utterances": [...], + provenance (``produce.system_provenance``) and "durations" when recorded}.
    """
    seeds = _seeds(system, spec)
    by_id = {r["id"]: r for r in rows}
    result: dict = {"seeds": seeds, "per_seed": {}, "utterances": [], **system_provenance(system)}
    for seed in seeds:
        audio, cache, cache_files = _seed_outputs(system, seed, out_dir, asrs, sim_model)
        if audio is not None:
            written.add(audio, "folder")
        for path in cache_files:
            written.add(path)
        seed_out, durations = produce_seed(system, rows, out_dir, seed, spec["device"])
        if durations:
            result["durations"] = durations
        ids = [r["id"] for r in rows if r["id"] in seed_out["audio"]]
        scores, utterances = score_seed(
            system["name"], seed, ids, seed_out["audio"], by_id, cache, asrs, sim_model, normalize,
            quality=system["type"] == "resynthesis",
        )  # fmt: skip
        seed_out.update(scores)
        result["utterances"] += utterances
        result["per_seed"][seed] = seed_out
    return result


def _load_scorers(spec: dict) -> tuple[list[ASR], list[dict], object, dict | None]:
    """Every ASR backend and the speaker encoder, with their provenance, before any audio is made."""
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
    return asrs, asr_info, sim_model, sim_info


def run_bench(spec: dict, out_dir: str | Path, resume: bool = True) -> dict:
    """Run a benchmark spec (a dict, as from YAML) into ``out_dir``; returns the report.json dict.

    The dict also holds "report_html" (the page's path) when it was written, or "report_error"
    ({"error", "traceback"}) when rendering report.md / report.html failed (the scores are then in
    report.json and utterances.jsonl); report.md is ``out_dir/report.md``.
    ``resume=False`` first deletes the audio and caches ``out_dir/written.jsonl`` records (nothing else; what
    is left under audio/ and cache/ is counted on stderr).
    Raises SpecError (all problems listed) or ASRError / SimilarityError before any synthesis; OutDirError when
    another run holds ``out_dir``, or (``resume=False``) when it holds outputs this run would read back that
    the record does not name; UnsafePathError when audio/ or cache/ is a symlink out of ``out_dir``.
    """
    started = time.perf_counter()
    spec, rows = prepare_spec(spec)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with out_dir_lock(out_dir, LOCK_NAME, "tts bench"):
        return _run(spec, rows, out_dir, resume, started)


def _unrecorded_outputs(spec: dict, rows: list[dict], out_dir: Path, asrs: list[ASR], sim_model) -> list[Path]:
    """Earlier outputs a run would read back (a synthesis folder's results.jsonl, score caches) that are still
    there after ``clear``: the record does not name them (an older tts bench kept none, or someone else's)."""
    found = []
    for system in spec["systems"]:
        for seed in _seeds(system, spec):
            audio, _, cache_files = _seed_outputs(system, seed, out_dir, asrs, sim_model)
            paths = [*cache_files, *([audio / "results.jsonl"] if audio is not None else [])]
            found += [p for p in paths if p.exists() or p.is_symlink()]
    if sim_model is not None and active(spec, rows):
        found += [p for p in [cache_file(out_dir, sim_model.name)] if p.exists() or p.is_symlink()]
    return found


def _run(spec: dict, rows: list[dict], out_dir: Path, resume: bool, started: float) -> dict:
    """``run_bench`` once the spec is checked and ``out_dir`` is locked."""
    if not resume:
        try:
            left = clear(out_dir)
        except OSError as e:
            raise OutDirError(f"--overwrite: cannot delete the earlier outputs in {out_dir}: {e}") from e
        if left:
            where = ", ".join(f"{folder} ({n})" for folder, n in left.items())
            print(f"[bench] --overwrite deleted the earlier run's recorded files and left {sum(left.values())} files it "
                  f"did not write: {where}", file=sys.stderr)  # fmt: skip
    for top in TOP_FOLDERS:  # a symlinked audio/ or cache/ leading out of out_dir: refused before any work
        path_under(out_dir, top)
    asrs, asr_info, sim_model, sim_info = _load_scorers(spec)
    if not resume and (stale := _unrecorded_outputs(spec, rows, out_dir, asrs, sim_model)):
        raise OutDirError(
            f"--overwrite: {out_dir} holds earlier outputs that {WRITTEN_NAME} does not record, so they were not "
            f"deleted, and this run would read them back: {', '.join(map(str, stale))}. Delete them (or their "
            "folders) yourself, or use another --out."
        )
    written = Written(out_dir)
    atomic_write_json(out_dir / "spec.json", spec)
    atomic_write_text(
        out_dir / "test_list.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    )
    normalize = get_normalizer(spec["normalizer"])
    results: dict[str, dict] = {}
    errors: dict[str, dict] = {}
    timings: dict[str, float] = {}
    for system in spec["systems"]:
        t0 = time.perf_counter()
        try:
            results[system["name"]] = _run_system(system, spec, rows, out_dir, asrs, sim_model, normalize, written)
        except Exception as e:
            errors[system["name"]] = {
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(),
            }
            print(f"[bench] system {system['name']} FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        timings[system["name"]] = time.perf_counter() - t0

    asr_names = [a.name for a in asrs]
    systems_out, utterances = system_entries(spec, results, errors, asr_names)
    pairs = comparisons(spec, results, asr_names)
    voices = voices_section(spec, rows, results, asr_names, sim_model, out_dir, written)
    report = build_report(spec, len(rows), asr_info, sim_info, systems_out, pairs, timings, started, voices)
    return write_outputs(report, out_dir, rows, utterances, results)


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
        "--overwrite", action="store_true",
        help="delete the earlier run's audio + caches in --out first (only the files its written.jsonl records)",
    )  # fmt: skip
    parser.add_argument("--max-utterances", type=int, help="override the spec's max_utterances")
    parser.add_argument(
        "--run_dir", "--run-dir", default=None,
        help="the run directory ${run_dir} names in the spec (the folder tts demo --out DIR wrote, e.g. work/demo)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    out = Path(args.out)
    if ((out / WRITTEN_NAME).exists() or (out / "cache").exists()) and not (args.resume or args.overwrite):
        parser.error(f"{out} holds an earlier run: pass --resume to continue it or --overwrite to start over")
    try:
        spec = load_spec(args.config, args.run_dir)
        if args.max_utterances is not None:
            spec["max_utterances"] = args.max_utterances
        report = run_bench(spec, out, resume=not args.overwrite)
    except (TTSError, RuntimeError) as e:
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
