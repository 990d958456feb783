"""Bootstrap confidence intervals over utterances (seeded), plain and paired.

Every statistic here is a ratio of sums over utterances, ``sum(num[i]) / sum(den[i])``:
the mean of per-utterance values is ``den = 1``; corpus WER is ``num = errors, den = reference words``.
Resampling utterances with replacement keeps each utterance's numerator and denominator together.
"""

from __future__ import annotations

import numpy as np


def _indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def _ratio(num: np.ndarray, den: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return num[idx].sum(axis=-1) / np.maximum(den[idx].sum(axis=-1), 1e-12)


def bootstrap_ci(
    num: np.ndarray,
    den: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Percentile bootstrap CI of ``sum(num) / sum(den)``; num, den (n,). Returns {value, low, high, n}."""
    num = np.asarray(num, dtype=np.float64)
    den = np.ones_like(num) if den is None else np.asarray(den, dtype=np.float64)
    n = len(num)
    if n == 0:
        return {"value": None, "low": None, "high": None, "n": 0}
    value = float(num.sum() / max(den.sum(), 1e-12))
    boot = _ratio(num, den, _indices(n, n_boot, seed))
    q = (1 - level) / 2
    return {
        "value": value,
        "low": float(np.quantile(boot, q)),
        "high": float(np.quantile(boot, 1 - q)),
        "n": n,
    }


def paired_bootstrap(
    num_a: np.ndarray,
    num_b: np.ndarray,
    den_a: np.ndarray | None = None,
    den_b: np.ndarray | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """Paired bootstrap of ``stat(a) - stat(b)`` on the same utterances (all arrays (n,), aligned).

    Returns {delta, low, high, p, n}: ``p`` is the two-sided fraction of resamples whose difference
    has the opposite sign to (or equals zero instead of) the observed one, times two, capped at 1 -
    a bootstrap p-value-like number, small when the difference is consistent across resamples.
    """
    num_a = np.asarray(num_a, dtype=np.float64)
    num_b = np.asarray(num_b, dtype=np.float64)
    den_a = np.ones_like(num_a) if den_a is None else np.asarray(den_a, dtype=np.float64)
    den_b = np.ones_like(num_b) if den_b is None else np.asarray(den_b, dtype=np.float64)
    n = len(num_a)
    if n != len(num_b):
        raise ValueError(f"paired bootstrap needs aligned arrays, got {n} and {len(num_b)} utterances")
    if n == 0:
        return {"delta": None, "low": None, "high": None, "p": None, "n": 0}
    delta = float(num_a.sum() / max(den_a.sum(), 1e-12) - num_b.sum() / max(den_b.sum(), 1e-12))
    idx = _indices(n, n_boot, seed)
    boot = _ratio(num_a, den_a, idx) - _ratio(num_b, den_b, idx)
    q = (1 - level) / 2
    p = min(1.0, 2 * min(float((boot <= 0).mean()), float((boot >= 0).mean())))
    return {
        "delta": delta,
        "low": float(np.quantile(boot, q)),
        "high": float(np.quantile(boot, 1 - q)),
        "p": p,
        "n": n,
    }
