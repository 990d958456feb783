"""Benchmark summary: per-system aggregates with bootstrap CIs, paired deltas and comparisons, curves, report.

``system_entries`` turns the per-system results (``tts.bench.runner``: audio per seed from
``tts.bench.produce``, scores from ``tts.bench.score``) into the report's system rows;
``comparisons`` adds the spec's a - b pairs; ``build_report`` assembles report.json and
``write_outputs`` writes utterances.jsonl and report.json, then renders report.md + plots
(``tts.bench.report``) and report.html (``tts.bench.html``). A rendering error is recorded in the
report, never raised: the scores are written first.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tts.bench.compare import compare, per_utterance, pooled_by_id
from tts.bench.normalize import DESCRIPTIONS
from tts.bench.produce import package_versions
from tts.bench.scoring import aggregate
from tts.bench.stats import bootstrap_ci, paired_bootstrap
from tts.bench.timing import machine_info
from tts.io import atomic_write_json, atomic_write_text


def summarize_system(result: dict, spec: dict, asr_names: list[str], base: dict | None) -> dict:
    """Aggregates, bootstrap CIs and paired deltas vs the baseline for one finished system."""
    n_boot, bseed = spec["n_boot"], spec["bootstrap_seed"]
    out: dict = {"asr": {}}
    for asr in asr_names:
        utts = [u for u in result["utterances"] if u["asr"] == asr]
        ids = sorted({u["id"] for u in utts})
        entry: dict = {"n": len(ids), "per_seed": {}}
        for seed in result["seeds"]:
            entry["per_seed"][str(seed)] = aggregate([u for u in utts if u["seed"] == seed])
        entry["wer_mean"] = bootstrap_ci(per_utterance(utts, ids, "wer")[0], None, n_boot, bseed)
        entry["wer_corpus"] = bootstrap_ci(
            *per_utterance(utts, ids, "", ("word_errors", "n_words")), n_boot, bseed
        )
        entry["cer_mean"] = bootstrap_ci(per_utterance(utts, ids, "cer")[0], None, n_boot, bseed)
        entry["cer_corpus"] = bootstrap_ci(
            *per_utterance(utts, ids, "", ("char_errors", "n_chars")), n_boot, bseed
        )
        if base is not None and base is not result:
            butts = [u for u in base["utterances"] if u["asr"] == asr]
            common = sorted(set(ids) & {u["id"] for u in butts})
            if common:
                entry["delta_wer_mean"] = paired_bootstrap(
                    per_utterance(utts, common, "wer")[0],
                    per_utterance(butts, common, "wer")[0],
                    n_boot=n_boot,
                    seed=bseed,
                )
        out["asr"][asr] = entry
    sims = pooled_by_id(result, "sim")
    if sims:
        ids = sorted(sims)
        out["sim"] = bootstrap_ci(np.array([sims[i] for i in ids]), None, n_boot, bseed)
        bsims = pooled_by_id(base, "sim") if base is not None and base is not result else {}
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


def read_wer_curve(path: str | Path) -> list[dict]:
    """The rows a ``tts.wer_callback.WERCallback`` wrote (for plots: ``step`` / ``wall_s`` against ``wer_mean``)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def read_curve(path: str | Path) -> dict:
    """A WERCallback's wer_steps.jsonl as ``{"path", "points": [{step, wall_s, wer_mean, wer_corpus}]}``.

    A missing or unreadable file gives ``{"path", "error"}``: the curve is context, not a score.
    """
    try:
        keep = ("step", "wall_s", "wer_mean", "wer_corpus", "n")
        points = [{k: r.get(k) for k in keep} for r in read_wer_curve(path)]
        return {"path": str(path), "points": points}
    except (OSError, ValueError) as e:
        return {"path": str(path), "error": f"{type(e).__name__}: {e}"}


def system_entries(
    spec: dict, results: dict[str, dict], errors: dict[str, dict], asr_names: list[str]
) -> tuple[list[dict], list[dict]]:
    """(one report row per spec system: status, summary, provenance, curve, timings; all utterance rows)."""
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
            entry.update(status="ok", seeds=res["seeds"], **summarize_system(res, spec, asr_names, base))
            entry["model_sha256"] = res.get("model_sha256") or res.get("space_files_sha256")
            if res.get("durations"):
                entry["durations"] = res["durations"]
            if system.get("curve"):
                entry["curve"] = read_curve(system["curve"])
            entry["asr_seconds"] = {
                a: sum(s["asr"][a]["seconds"] for s in res["per_seed"].values()) for a in asr_names
            }  # fmt: skip
            entry["audio_seconds"] = sum(s["audio_seconds"] for s in res["per_seed"].values())
            utterances += res["utterances"]
        systems_out.append(entry)
    return systems_out, utterances


def comparisons(spec: dict, results: dict[str, dict], asr_names: list[str]) -> list[dict]:
    """The spec's ``comparisons`` pairs, a - b (an error entry when either system failed)."""
    out = []
    for a, b in spec.get("comparisons") or []:
        if a in results and b in results:
            out.append({"a": a, "b": b, **compare(results[a], results[b], spec, asr_names)})
        else:
            out.append({"a": a, "b": b, "error": "a system of the pair failed"})
    return out


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
        + (
            "; outputs in which the encoder's VAD finds under 0.5 s of speech are embedded untrimmed"
            if (spec.get("similarity") or {}).get("backend", "resemblyzer") == "resemblyzer"
            else "; each utterance embedded whole (no VAD), as F5-TTS does"
        ),
        "seeds": "TTS systems are synthesized once per seed; ground truth and resynthesis once",
    }


def build_report(
    spec: dict,
    n_utterances: int,
    asr_info: list[dict],
    sim_info: dict | None,
    systems_out: list[dict],
    comparisons: list[dict],
    systems_seconds: dict[str, float],
    started: float,
    voices: dict | None = None,
) -> dict:
    """The report.json dict (``started``: the run's ``time.perf_counter()`` at its start; ``voices``: the speaker
    groups of ``tts.bench.voices``, only when the test list has them)."""
    report = {
        "name": spec["name"],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_path": spec.get("spec_path"),
        "scale": spec.get("scale"),
        "notes": spec.get("notes"),
        "spec": spec,
        "n_utterances": n_utterances,
        "seeds": spec["seeds"],
        "baseline": spec.get("baseline"),
        "protocol": protocol(spec),
        "versions": package_versions(),
        "machine": machine_info(),
        "asr": asr_info,
        "similarity": sim_info,
        "systems": systems_out,
        "comparisons": comparisons,
        "utterances_file": "utterances.jsonl",
        "timings": {"systems_seconds": systems_seconds, "total_seconds": time.perf_counter() - started},
    }
    if voices is not None:
        report["voices"] = voices
    return report


def write_outputs(
    report: dict, out_dir: Path, rows: list[dict], utterances: list[dict], results: dict
) -> dict:
    """utterances.jsonl, report.json (and summary.json with speaker groups), then report.md + plots and
    report.html; returns ``report`` with "report_html" (the page's path) or "report_error" ({"error",
    "traceback"}: rendering failed) added."""
    from tts.bench.html import write_html
    from tts.bench.report import write_report
    from tts.bench.voices import summary

    atomic_write_text(
        out_dir / "utterances.jsonl", "".join(json.dumps(u, ensure_ascii=False) + "\n" for u in utterances)
    )
    atomic_write_json(out_dir / "report.json", report)  # the scores are safe before any rendering
    if report.get("voices"):
        atomic_write_json(out_dir / "summary.json", summary(report))
    try:
        write_report(report, out_dir, utterances)
        report["report_html"] = str(write_html(report, out_dir, rows, utterances, results))
    except Exception as e:  # a plot or table that fails must not cost the finished scoring
        report["report_error"] = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        atomic_write_json(out_dir / "report.json", report)
        print(f"[bench] writing the report failed: {type(e).__name__}: {e}; the scores are in "
              f"{out_dir / 'report.json'} and {out_dir / 'utterances.jsonl'}", file=sys.stderr)  # fmt: skip
    return report
