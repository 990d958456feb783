"""Feature caches: per-cut arrays stored with a lhotse writer as TemporalArrays on the cuts.

``extract_to_cache`` runs a feature function over a CutSet once, in shards, and can be killed and
re-run: finished shards are kept. The result is ``out_dir/cuts.jsonl.gz`` where every cut carries
``cut.custom[key]`` (a TemporalArray with ``frame_shift = 1 / frame_rate``), so
``cut.truncate(...).load_custom(key)`` returns the frames of the crop, in step with its audio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from lhotse import CutSet, load_manifest_lazy
from lhotse.features.io import NumpyFilesWriter
from tqdm import tqdm

from tts.audio import AudioError, check_audio, resample
from tts.data.validate import SkipReport, audio_source
from tts.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

ComputeFn = Callable[[list[torch.Tensor]], Sequence[np.ndarray]]


def load_cut_audio(cut, sample_rate: int) -> torch.Tensor:
    """Mono float32 (T,) of a cut at ``sample_rate``; AudioError names the file on failure."""
    try:
        audio = cut.load_audio()
    except Exception as e:
        raise AudioError(f"{audio_source(cut)}: unreadable audio ({type(e).__name__}: {e})") from e
    wav = torch.from_numpy(np.asarray(audio, dtype=np.float32)).mean(dim=0)
    check_audio(wav, audio_source(cut))
    return resample(wav, cut.sampling_rate, sample_rate)


def _save_cuts(cuts: list, path: Path) -> None:
    atomic_write(path, lambda tmp: CutSet.from_cuts(cuts).to_file(tmp))


def extract_to_cache(
    cuts: CutSet | str | Path,
    compute: ComputeFn,
    out_dir: str | Path,
    key: str,
    frame_rate: float,
    sample_rate: int,
    batch_size: int = 8,
    shard_size: int = 256,
    desc: str | None = None,
    meta: dict | None = None,
) -> CutSet:
    """Compute ``compute(wavs) -> [(N, D)]`` for every cut; write ``out_dir/cuts.jsonl.gz``.

    Cuts whose audio fails are skipped and listed in ``out_dir/skipped.json``.
    """
    out_dir = Path(out_dir)
    final = out_dir / "cuts.jsonl.gz"
    if final.exists():
        log.info("cache %s exists; nothing to do", final)
        return load_manifest_lazy(final)
    if not isinstance(cuts, CutSet):
        cuts = load_manifest_lazy(cuts)
    cut_list = list(cuts)
    shards = [cut_list[i : i + shard_size] for i in range(0, len(cut_list), shard_size)]
    shard_dir = out_dir / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    report = SkipReport(f"extract {key}")
    done_cuts: list = []
    bar = tqdm(total=len(cut_list), desc=desc or f"extract {key}", unit="cut")
    with NumpyFilesWriter(out_dir / "storage") as writer:
        for si, shard in enumerate(shards):
            shard_path = shard_dir / f"cuts.{si:05d}.jsonl.gz"
            skip_path = shard_dir / f"skipped.{si:05d}.json"
            if shard_path.exists():
                done_cuts.extend(load_manifest_lazy(shard_path))
                for row in _read_json(skip_path):
                    report.add(*row)
                bar.update(len(shard))
                continue
            shard_out, shard_skips = [], []
            for bi in range(0, len(shard), batch_size):
                batch, wavs = [], []
                for cut in shard[bi : bi + batch_size]:
                    try:
                        wavs.append(load_cut_audio(cut, sample_rate))
                        batch.append(cut)
                    except AudioError as e:
                        shard_skips.append((cut.id, audio_source(cut), "bad_audio", str(e)))
                if batch:
                    with torch.inference_mode():
                        arrays = compute(wavs)
                    for cut, arr in zip(batch, arrays, strict=True):
                        arr = np.ascontiguousarray(np.asarray(arr, dtype=np.float32))
                        manifest = writer.store_array(
                            cut.id, arr, frame_shift=1.0 / frame_rate, temporal_dim=0, start=cut.start
                        )
                        shard_out.append(cut.with_custom(key, manifest))
                bar.update(len(shard[bi : bi + batch_size]))
            atomic_write_json(skip_path, shard_skips)
            _save_cuts(shard_out, shard_path)  # the shard counts as done only once this exists
            done_cuts.extend(shard_out)
            for row in shard_skips:
                report.add(*row)
    bar.close()
    report.kept = len(done_cuts)
    report.log()
    atomic_write_json(
        out_dir / "meta.json",
        {"key": key, "frame_rate": frame_rate, "sample_rate": sample_rate, "num_cuts": len(done_cuts),
         "skipped": report.items, **(meta or {})},
    )
    _save_cuts(done_cuts, final)
    return load_manifest_lazy(final)


def _read_json(path: Path) -> list:
    import json

    return json.loads(path.read_text()) if path.exists() else []
