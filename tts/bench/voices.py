"""Voice cloning in the benchmark: seen / unseen speaker groups, the two SIM reference rows, summary.json.

A test row may carry ``"speaker"`` and ``"seen": true|false`` (false: a held-out speaker that was never in
training); a row without ``seen`` counts as seen. When a row has ``seen`` or the spec names
``training_speakers`` (a JSON file ``{speaker_id: [wav paths of a few of that training speaker's
utterances]}``, relative paths against its folder), the report gets a voices section; otherwise nothing here
runs and the report is as before. Per group and system: n, WER (mean of utterances, per ASR) and SIM to the
prompt with 95% bootstrap CIs; per group two reference rows (``DEFINITIONS``); per group the spec's
``comparisons`` pairs as paired deltas. The references are cached per row in
``OUT/cache/_voices/sim_<encoder>.jsonl`` ({"id", "sig", "value": {"sim_ceiling", "sim_no_cloning",
"nearest_training_speaker"}}; sig = the encoder and the training-speaker lists).

``summary.json`` (``summary``): {"unseen_speakers": [...], "wer_asr", "similarity", "rows": [{"system",
"speakers": "seen"|"unseen", "n", "wer", "sim_prompt", "sim_ceiling", "sim_no_cloning"}]}, point values (WER a
fraction, from the first ASR); the CIs are in report.json's "voices".
"""

from __future__ import annotations

import json
import sys
import traceback
from collections import Counter
from pathlib import Path

import numpy as np

from tts.bench.compare import compare, per_utterance, pooled_by_id
from tts.bench.score import cached_map, load16, signature, sim_cache
from tts.bench.similarity import cosine
from tts.bench.stats import bootstrap_ci
from tts.io import path_under

GROUPS = ("seen", "unseen")
VOICES_DIR = "_voices"  # OUT/cache/_voices: the reference rows' cache (a name systems may not take)
DEFINITIONS = {
    "groups": "seen: test rows whose speaker was in training (rows without `seen` count as seen); unseen: rows "
    "with `seen: false`, held-out speakers never in training",
    "sim_prompt": "SIM of each system's output to its prompt (ref_audio), the benchmark's SIM-o; mean over the "
    "group's utterances (seeds averaged first), 95% bootstrap CI",
    "sim_ceiling": "the same speaker's ground truth vs the prompt: cosine of gt_audio and ref_audio embeddings per "
    "row, averaged: what a perfect clone of the prompt's voice would score",
    "sim_no_cloning": "the nearest training speaker's ground truth vs the prompt: each training speaker is embedded "
    "as the normalized mean of its listed utterances' embeddings; per row the training speaker nearest to the "
    "prompt (the row's own speaker excluded) is taken, and the mean SIM of its listed utterances to the prompt: "
    "what a model that ignores the prompt and speaks the closest voice it knows would score",
    "deltas": "the spec's `comparisons` pairs a - b on the group's utterances both systems have; paired bootstrap, "
    "95% CI; WER in points, SIM in cosine",
}


def group_of(row: dict) -> str:
    """"unseen" for a row with ``seen: false``, else "seen"."""
    return "unseen" if row.get("seen") is False else "seen"


def active(spec: dict, rows: list[dict]) -> bool:
    """Whether the report gets the voices section: a row has ``seen`` or the spec names ``training_speakers``."""
    return bool(spec.get("training_speakers")) or any("seen" in r for r in rows)


def read_training_speakers(path: str) -> tuple[dict[str, list[str]], list[str]]:
    """({speaker: [wav paths, resolved against the file's folder]}, problems) of a training-speakers JSON file."""
    where = f"training_speakers {path}"
    if not Path(path).is_file():
        return {}, [f"{where} not found"]
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        return {}, [f"{where}: not valid JSON ({e})"]
    if not isinstance(raw, dict) or not raw:
        return {}, [f"{where}: expected a non-empty JSON object {{speaker_id: [wav paths]}}"]
    base, out, problems = Path(path).parent, {}, []
    for speaker, wavs in raw.items():
        if not isinstance(wavs, list) or not wavs or not all(isinstance(w, str) and w for w in wavs):
            problems.append(f"{where}: speaker {speaker!r}: expected a non-empty list of wav paths, got {wavs!r}")
            continue
        out[speaker] = [str(p if (p := Path(w).expanduser()).is_absolute() else base / p) for w in wavs]
        problems += [f"{where}: speaker {speaker!r}: {w} not found" for w in out[speaker] if not Path(w).is_file()]
    return out, problems


def row_problems(test_list: str, rows: list[dict], training: dict[str, list[str]]) -> list[str]:
    """``seen`` that is not true / false, ``seen`` without ``speaker``, an unseen speaker listed as a training one."""
    problems = []
    for j, r in enumerate(rows):
        if "seen" not in r:
            continue
        at = f"{test_list} row {j + 1} ({r.get('id')})"
        if not isinstance(r["seen"], bool):
            problems.append(f"{at}: `seen` must be true or false, got {r['seen']!r}")
        if not r.get("speaker"):
            problems.append(f"{at}: `seen` needs the row's `speaker` (the report names the unseen speakers)")
        elif r["seen"] is False and r["speaker"] in training:
            problems.append(f"{at}: speaker {r['speaker']!r} is `seen: false` but listed in training_speakers")
    return problems


def cache_file(out_dir: Path, sim_name: str) -> Path:
    """Where the reference rows of encoder ``sim_name`` are cached."""
    return path_under(out_dir, "cache", VOICES_DIR, sim_cache(sim_name))


def reference_sims(rows: list[dict], training: dict[str, list[str]], encoder, cache: Path) -> dict[str, dict]:
    """{id: {"sim_ceiling", "sim_no_cloning", "nearest_training_speaker"}} per row (None where a row has no
    gt_audio, or no training speaker but its own is listed), read back from / appended to ``cache``."""
    by_id = {r["id"]: r for r in rows}
    embeddings: dict[str, np.ndarray] = {}
    centroids: dict[str, np.ndarray] = {}

    def emb(path: str) -> np.ndarray:
        if path not in embeddings:
            embeddings[path] = encoder.embed([load16(path)])[0]
        return embeddings[path]

    def compute(chunk: list[str]) -> list[dict]:
        if training and not centroids:
            for speaker, wavs in training.items():
                mean = np.mean([emb(w) for w in wavs], axis=0)
                centroids[speaker] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        out = []
        for i in chunk:
            row = by_id[i]
            prompt = emb(row["ref_audio"])[None]
            ceiling = float(cosine(emb(row["gt_audio"])[None], prompt)[0]) if row.get("gt_audio") else None
            others = [s for s in centroids if s != row.get("speaker")]
            nearest, no_cloning = None, None
            if others:
                near = cosine(np.stack([centroids[s] for s in others]), prompt)
                nearest = others[int(np.argmax(near))]
                no_cloning = float(np.mean(cosine(np.stack([emb(w) for w in training[nearest]]), prompt)))
            out.append({"sim_ceiling": ceiling, "sim_no_cloning": no_cloning, "nearest_training_speaker": nearest})
        return out

    sig = signature({"similarity": encoder.name, "training_speakers": training})
    return cached_map(cache, sig, [r["id"] for r in rows], compute)


def _restrict(result: dict, ids: set[str]) -> dict:
    """A system's result (utterances, per-seed SIM) on the utterances ``ids`` only (what ``compare`` reads)."""
    return {
        "utterances": [u for u in result["utterances"] if u["id"] in ids],
        "per_seed": {k: {"sim": {i: v for i, v in (s.get("sim") or {}).items() if i in ids}}
                     for k, s in result["per_seed"].items()},
    }  # fmt: skip


def _ci(values: list[float | None], spec: dict) -> dict:
    return bootstrap_ci(np.array([v for v in values if v is not None]), None, spec["n_boot"], spec["bootstrap_seed"])


def _system_in_group(result: dict, spec: dict, asr_names: list[str]) -> dict:
    """{"n", "wer_mean": {asr: CI}, "sim": CI | None} of a result restricted to one group."""
    wer = {}
    for asr in asr_names:
        utts = [u for u in result["utterances"] if u["asr"] == asr]
        ids = sorted({u["id"] for u in utts})
        wer[asr] = bootstrap_ci(per_utterance(utts, ids, "wer")[0], None, spec["n_boot"], spec["bootstrap_seed"])
    sims = pooled_by_id(result, "sim")
    scored = {u["id"] for u in result["utterances"]} | set(sims)
    return {"n": len(scored), "wer_mean": wer, "sim": _ci(list(sims.values()), spec) if sims else None}


def _nearest_by_speaker(rows: list[dict], refs: dict[str, dict]) -> dict[str, dict]:
    """{speaker: {"speaker": the training speaker nearest to most of its prompts, "prompts", "of"}}."""
    counts: dict[str, Counter] = {}
    for r in rows:
        if r.get("speaker") is not None:
            counts.setdefault(str(r["speaker"]), Counter())[(refs.get(r["id"]) or {}).get("nearest_training_speaker")] += 1
    out = {}
    for speaker, c in counts.items():
        n = sum(c.values())
        c.pop(None, None)
        if c:
            nearest, k = c.most_common(1)[0]
            out[speaker] = {"speaker": nearest, "prompts": k, "of": n}
    return out


def summarize_voices(
    spec: dict, rows: list[dict], results: dict[str, dict], asr_names: list[str], refs: dict[str, dict]
) -> dict:
    """report.json's "voices": definitions, speakers, per group the systems, reference rows and paired deltas."""
    groups = []
    for name in GROUPS:
        group_rows = [r for r in rows if group_of(r) == name]
        if not group_rows:
            continue
        ids = {r["id"] for r in group_rows}
        systems = [
            {"name": s["name"], "type": s["type"], **_system_in_group(_restrict(results[s["name"]], ids), spec, asr_names)}
            for s in spec["systems"] if s["name"] in results
        ]  # fmt: skip
        pairs = []
        for a, b in spec.get("comparisons") or []:
            if a in results and b in results:
                pairs.append({"a": a, "b": b, **compare(_restrict(results[a], ids), _restrict(results[b], ids),
                                                        spec, asr_names)})  # fmt: skip
            else:
                pairs.append({"a": a, "b": b, "error": "a system of the pair failed"})
        ref = [refs.get(r["id"]) or {} for r in group_rows]
        groups.append({
            "speakers": name, "n": len(group_rows),
            "speaker_ids": sorted({str(r["speaker"]) for r in group_rows if r.get("speaker") is not None}),
            "systems": systems,
            "sim_ceiling": _ci([x.get("sim_ceiling") for x in ref], spec),
            "sim_no_cloning": _ci([x.get("sim_no_cloning") for x in ref], spec),
            "nearest_training_speaker": _nearest_by_speaker(group_rows, refs),
            "comparisons": pairs,
        })  # fmt: skip
    unseen = next((g["speaker_ids"] for g in groups if g["speakers"] == "unseen"), [])
    references = [{"id": r["id"], "speaker": r.get("speaker"), "speakers": group_of(r), **(refs.get(r["id"]) or {})}
                  for r in rows]  # fmt: skip
    return {"definitions": DEFINITIONS, "unseen_speakers": unseen, "training_speakers": spec.get("training_speakers"),
            "groups": groups, "references": references}  # fmt: skip


def voices_section(
    spec: dict, rows: list[dict], results: dict[str, dict], asr_names: list[str], encoder, out_dir: Path, written
) -> dict | None:
    """report.json's "voices" (None when ``active`` is false): the reference rows computed (each cache file
    recorded in ``written`` first) and summarized; a failure of the references is recorded in "error", not raised."""
    if not active(spec, rows):
        return None
    refs, error = {}, None
    if encoder is not None:
        try:
            training = read_training_speakers(spec["training_speakers"])[0] if spec.get("training_speakers") else {}
            refs = reference_sims(rows, training, encoder, written.add(cache_file(out_dir, encoder.name)))
        except Exception as e:  # the systems' scores are done: a bad reference wav must not cost the report
            error = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
            print(f"[bench] the voices reference rows FAILED: {error['error']}", file=sys.stderr)
    out = summarize_voices(spec, rows, results, asr_names, refs)
    if error:
        out["error"] = error
    return out


def summary(report: dict) -> dict:
    """summary.json of a report with a "voices" section (see the module docstring)."""
    voices = report["voices"]
    asr = report["asr"][0]["name"] if report["asr"] else None
    rows = []
    for g in voices["groups"]:
        for s in g["systems"]:
            rows.append({
                "system": s["name"], "speakers": g["speakers"], "n": s["n"],
                "wer": s["wer_mean"][asr]["value"] if asr else None,
                "sim_prompt": (s["sim"] or {}).get("value"),
                "sim_ceiling": g["sim_ceiling"]["value"], "sim_no_cloning": g["sim_no_cloning"]["value"],
            })  # fmt: skip
    return {"unseen_speakers": voices["unseen_speakers"], "wer_asr": asr,
            "similarity": (report.get("similarity") or {}).get("name"), "rows": rows}  # fmt: skip
