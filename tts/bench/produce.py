"""Benchmark audio: each system's waveforms per seed, resumable, with the provenance of what made them.

- ground truth: each row's ``gt_audio`` as is;
- resynthesis: ``gt_audio`` -> ``space.encode`` -> ``space.decode`` through a ``tts.features`` space;
- tts: ``tts.synth.synthesize_list`` on the benchmark's test list, once per seed.

Layout: ``OUT/audio/<system>/seed<k>/<id>.wav`` and ``results.jsonl`` (one row per file: rtf, and for
aligned models where the durations came from). A file already there is not made again. Provenance: the
sha256 of every model file a system reads, and the versions of the packages the scores depend on.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from tts.audio import load_audio, save_audio
from tts.bench.spec import space_paths
from tts.io import append_jsonl, path_under, read_jsonl, sha256_file

PACKAGES = (
    "torch", "torchaudio", "numpy", "jiwer", "whisper-normalizer", "faster-whisper", "ctranslate2",
    "pocketsphinx", "resemblyzer", "pesq", "pystoi", "fairseq2", "vocos", "matplotlib",
)  # fmt: skip


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
        save_audio(path_under(out, f"{r['id']}.wav"), y, space.sample_rate)
        dur = len(wav) / space.sample_rate
        append_jsonl(
            out / "results.jsonl", {"id": r["id"], "duration": dur, "seconds": seconds, "rtf": seconds / dur}
        )


def audio_for_seed(system: dict, rows: list[dict], out_dir: Path, seed: int, device: str) -> dict[str, Path]:
    """Paths of this system's audio per utterance id (missing ids: synthesis failed for them)."""
    kind = system["type"]
    if kind == "ground_truth":
        return {r["id"]: Path(r["gt_audio"]) for r in rows}
    out = path_under(out_dir, "audio", system["name"], f"seed{seed}")
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


def produce_seed(
    system: dict, rows: list[dict], out_dir: Path, seed: int, device: str
) -> tuple[dict, str | None]:
    """One seed's audio of ``system`` and what is known about it before scoring.

    Returns ({"n", "missing", "audio": {id: path}, "synth_seconds", "audio_seconds", "rtf" (not for
    ground truth)}, durations): ``durations`` names where an aligned model's durations came from
    ("predictor" / "oracle", comma-joined) or is None.
    """
    t0 = time.perf_counter()
    audio = audio_for_seed(system, rows, out_dir, seed, device)
    synth_s = time.perf_counter() - t0
    ids = [r["id"] for r in rows if r["id"] in audio]
    out: dict = {
        "n": len(ids),
        "missing": [r["id"] for r in rows if r["id"] not in audio],
        "audio": {i: audio[i] for i in ids},
        "synth_seconds": synth_s,
        "audio_seconds": sum(sf.info(str(audio[i])).duration for i in ids),
    }
    durations = None
    if system["type"] != "ground_truth":
        results_file = out_dir / "audio" / system["name"] / f"seed{seed}" / "results.jsonl"
        results = {r["id"]: r for r in read_jsonl(results_file)}
        rtfs = [results[i]["rtf"] for i in ids if i in results and results[i].get("rtf") is not None]
        out["rtf"] = float(np.mean(rtfs)) if rtfs else None
        # aligned models record where their durations came from (predictor / oracle)
        found = sorted({results[i]["durations"] for i in ids if "durations" in results.get(i, {})})
        durations = ", ".join(found) if found else None
    return out, durations


# ------------------------------------------------------------------------------------------ provenance


def model_hashes(path: str | Path) -> dict[str, str]:
    """sha256 of a model file, or of every file in a model dir (non-recursive)."""
    path = Path(path)
    if path.is_file():
        return {path.name: sha256_file(path)}
    if path.is_dir():
        return {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file()}
    return {}


def system_provenance(system: dict) -> dict:
    """What a system's audio was made from: {"model", "model_sha256"} (tts) or {"space_files_sha256"}."""
    if system["type"] == "tts":
        return {"model": system["model"], "model_sha256": model_hashes(system["model"])}
    if system["type"] == "resynthesis":
        return {"space_files_sha256": {p: model_hashes(p) for p in space_paths(system["space"])}}
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
