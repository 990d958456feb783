"""Benchmark scores of one system's audio for one seed: transcripts + WER/CER, SIM-o, PESQ/STOI; all cached.

Every score is read back from ``OUT/cache/<system>/seed<k>/`` when it is there, so a resumed run
computes only what is missing:
  asr_<name>.jsonl   {"id", "sig", "value": transcript}; sig = a hash of the ASR's config
  sim_<name>.jsonl   {"id", "sig": <name>, "value": cosine of output and prompt embeddings}
  quality.jsonl      {"id", "sig": "pesq_stoi", "value": {"pesq", "stoi"}} (resynthesis only)
A row whose sig differs (another ASR configuration) is ignored, not reused.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from tts.audio import load_audio
from tts.bench.asr import ASR, SAMPLE_RATE  # what the ASR backends and speaker encoders are given
from tts.bench.quality import pesq_stoi
from tts.bench.scoring import score_utterance
from tts.bench.similarity import cosine
from tts.io import append_jsonl, path_under, read_jsonl
from tts.normalize import normalize as spoken_form

ASR_BATCH = 16
QUALITY_CACHE = "quality.jsonl"


def asr_cache(name: str) -> str:
    return f"asr_{name}.jsonl"


def sim_cache(name: str) -> str:
    return f"sim_{name}.jsonl"


def cache_names(asr_names: Sequence[str], sim_name: str | None, quality: bool) -> list[str]:
    """The files ``score_seed`` keeps in a seed's cache folder."""
    sim = [sim_cache(sim_name)] if sim_name else []
    return [asr_cache(n) for n in asr_names] + sim + ([QUALITY_CACHE] if quality else [])


def load16(path: str | Path) -> torch.Tensor:
    """Mono float32 at 16 kHz; NaN / inf samples (a broken synthesis) read as 0."""
    wav = load_audio(path, SAMPLE_RATE, check=False)
    return torch.nan_to_num(wav, nan=0.0, posinf=0.0, neginf=0.0)


def signature(config: dict) -> str:
    """The cache key of a scorer's configuration (12 hex digits)."""
    return hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_map(
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


def score_seed(
    system: str,
    seed: int,
    ids: list[str],
    audio: dict[str, Path],
    by_id: dict[str, dict],
    cache: Path,
    asrs: list[ASR],
    sim_model,
    normalize: Callable[[str], str],
    quality: bool = False,
) -> tuple[dict, list[dict]]:
    """Transcribe and score the audio of ``ids`` ({id: path} in ``audio``) of one system and seed.

    Returns ({"asr": {name: {"seconds"}}, "sim": {id: cosine} (with a speaker encoder), "quality":
    {id: {"pesq", "stoi"}} (``quality``)}, one utterance row per ASR and id: {"system", "seed",
    "asr", "id", "text" (the spoken form of the row's text, ``tts.normalize``: what tts synth gives the model),
    "hyp"} + ``score_utterance``'s counts).
    """
    out: dict = {"asr": {}}
    utterances = []
    for asr in asrs:
        t1 = time.perf_counter()
        texts = cached_map(
            path_under(cache, asr_cache(asr.name)), signature(getattr(asr, "config", {"name": asr.name})), ids,
            lambda chunk, asr=asr: asr.transcribe([load16(audio[i]) for i in chunk]),
        )  # fmt: skip
        out["asr"][asr.name] = {"seconds": time.perf_counter() - t1}
        for i in ids:
            # the reference is the spoken form tts synth gives the model (numbers, dates, ... in words)
            ref = spoken_form(by_id[i]["text"])
            score = score_utterance(ref, texts[i], normalize)
            utterances.append({"system": system, "seed": seed, "asr": asr.name, "id": i, "text": ref,
                               "hyp": texts[i], **score})  # fmt: skip
    if sim_model is not None:
        prompts: dict[str, np.ndarray] = {}

        def sims(chunk: list[str]) -> list[float]:
            gen = sim_model.embed([load16(audio[i]) for i in chunk])
            for i in chunk:
                ref = by_id[i]["ref_audio"]
                if ref not in prompts:
                    prompts[ref] = sim_model.embed([load16(ref)])[0]
            return [float(v) for v in cosine(gen, np.stack([prompts[by_id[i]["ref_audio"]] for i in chunk]))]

        out["sim"] = cached_map(path_under(cache, sim_cache(sim_model.name)), sim_model.name, ids, sims)
    if quality:
        out["quality"] = cached_map(
            cache / QUALITY_CACHE, "pesq_stoi", ids,
            lambda chunk: [pesq_stoi(load16(by_id[i]["gt_audio"]), load16(audio[i])) for i in chunk],
        )  # fmt: skip
    return out, utterances
