"""Paired comparisons of two systems' scores over their common utterances (bootstrap deltas, ``tts.bench.stats``).

A system's result: ``{"utterances": [{"id", "asr", "wer", ...}], "per_seed": {seed: {"sim": {id: value}}}}``.
"""

from __future__ import annotations

import numpy as np

from tts.bench.stats import paired_bootstrap


def per_utterance(utts: list[dict], ids: list[str], value: str, corpus: tuple[str, str] | None = None):
    """Per-utterance arrays (n,) of ``ids`` for the bootstrap, pooled over seeds: (mean of ``value``, None), or
    with ``corpus`` = (numerator key, denominator key) the summed counts (numerators, denominators)."""
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


def pooled_by_id(result: dict | None, key: str) -> dict[str, float]:
    """{id: value averaged over seeds} for a per-seed {id: value} map (``sim``)."""
    if result is None:
        return {}
    vals: dict[str, list[float]] = {}
    for s in result["per_seed"].values():
        for i, v in (s.get(key) or {}).items():
            vals.setdefault(i, []).append(v)
    return {i: float(np.mean(v)) for i, v in vals.items()}


def compare(a: dict, b: dict, spec: dict, asr_names: list[str]) -> dict:
    """Paired bootstrap of system a - system b: WER (mean of utterances) per ASR and SIM, common utterances."""
    out: dict = {"wer_mean": {}}
    for asr in asr_names:
        ua = [u for u in a["utterances"] if u["asr"] == asr]
        ub = [u for u in b["utterances"] if u["asr"] == asr]
        common = sorted({u["id"] for u in ua} & {u["id"] for u in ub})
        out["wer_mean"][asr] = paired_bootstrap(
            per_utterance(ua, common, "wer")[0], per_utterance(ub, common, "wer")[0],
            n_boot=spec["n_boot"], seed=spec["bootstrap_seed"],
        )  # fmt: skip
    sa, sb = pooled_by_id(a, "sim"), pooled_by_id(b, "sim")
    common = sorted(set(sa) & set(sb))
    if common:
        out["sim"] = paired_bootstrap(np.array([sa[i] for i in common]), np.array([sb[i] for i in common]),
                                      n_boot=spec["n_boot"], seed=spec["bootstrap_seed"])  # fmt: skip
    return out
