"""The output folder of ``tts synth``: what makes it resumable and safe, apart from any sampling.

``<out>/<id>.wav`` is written atomically, then its row is appended to ``results.jsonl``; a rerun skips ids
that have both. ``settings.json`` (the model's sha256 and every sampling setting) is written with the first
wav, so only a run that wrote outputs claims the folder; a rerun with other settings is refused unless
``overwrite`` clears the earlier outputs (the wavs ``results.jsonl`` lists and the run's own files, nothing
else). ``errors.jsonl`` holds this run's error rows. A full disk stops the run with the line named.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch

from tts.io import (
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    file_name_problem,
    read_json,
    read_jsonl,
    sha256_files,
)
from tts.synth.lines import MAX_ID_BYTES, Item, error_row
from tts.synth.settings import SamplingSettings, SynthError

SETTINGS_NAME, RESULTS_NAME, ERRORS_NAME = "settings.json", "results.jsonl", "errors.jsonl"
LOCK_NAME = ".synth.lock"
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def disk_full(e: OSError) -> bool:
    return e.errno in DISK_FULL


def model_files(model: str | Path) -> list[Path]:
    """The files whose bytes define a model: an export dir's files, or the checkpoint file."""
    model = Path(model)
    return sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else [model]


def run_settings(model: str | Path, space: str | None, sampling: SamplingSettings) -> dict:
    """What ``settings.json`` records: the model's sha256, the space override and every sampling setting."""
    rest = {k: v for k, v in asdict(sampling).items() if k != "durations"}
    return {"model_sha256": sha256_files(model_files(model)), "space": space, "durations": sampling.durations, **rest}


def check_out_dir(out_dir: Path, probe_bytes: int = 1 << 16) -> None:
    """Create ``out_dir`` and prove it writable by writing ``probe_bytes`` bytes (before any model loads)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(bytes(probe_bytes))
                f.flush()
                os.fsync(f.fileno())
        finally:
            os.unlink(probe)
    except OSError as e:
        why = f"disk full ({e.strerror})" if disk_full(e) else e.strerror or str(e)
        raise SynthError(f"--out {out_dir} is not writable: {why}") from e


def check_settings(out_dir: Path, settings: dict, overwrite: bool) -> bool:
    """Whether ``out_dir`` holds outputs of an earlier run that ``overwrite`` is to clear; SynthError when
    they were made with other settings and ``overwrite`` is off. Writes nothing.

    Only results claim a folder: a settings.json without any results.jsonl row (a run that failed before
    its first output) is ignored and replaced.
    """
    if not read_jsonl(out_dir / RESULTS_NAME):
        return False
    if overwrite:
        return True
    path = out_dir / SETTINGS_NAME
    earlier = (read_json(path, "delete it or pass --overwrite") if path.is_file()
               else {"settings.json": "missing (outputs of an unknown model and settings)"})  # fmt: skip
    diff = {k: (earlier.get(k), settings.get(k)) for k in sorted(set(earlier) | set(settings))
            if earlier.get(k) != settings.get(k)}  # fmt: skip
    if diff:
        named = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in diff.items())
        raise SynthError(
            f"{out_dir} holds outputs made with other settings ({named}). Use another --out, or pass "
            "--overwrite to delete its wavs and results and synthesize again."
        )
    return False


def clear_outputs(out_dir: Path) -> None:
    """Delete what an earlier run wrote into ``out_dir``: the wavs its results.jsonl lists, then its results,
    errors and settings. Nothing else (no glob): a user's files in the folder stay."""
    for row in read_jsonl(out_dir / RESULTS_NAME):
        utt_id = row.get("id") if isinstance(row, dict) else None
        if isinstance(utt_id, str) and file_name_problem(utt_id, MAX_ID_BYTES) is None:
            wav = out_dir / f"{utt_id}.wav"
            if wav.is_symlink() or wav.is_file():
                wav.unlink()
    for name in (RESULTS_NAME, ERRORS_NAME, SETTINGS_NAME):
        (out_dir / name).unlink(missing_ok=True)


class RunFolder:
    """One run's writes into a checked, locked ``out_dir``: error rows, settings with the first wav, wav + row.

    Every write that fills the disk ends the run with a SynthError naming the file and the line.
    """

    def __init__(self, out_dir: Path, settings: dict, errors: list[dict]):
        self.out_dir, self.settings, self.errors = out_dir, settings, errors
        self.n_saved, self.n_ready = 0, 0
        self.claimed = False  # settings.json goes with the first wav: only a run that wrote outputs claims it

    def done_ids(self) -> set:
        """Ids an earlier run finished: a results.jsonl row and its wav."""
        rows = read_jsonl(self.out_dir / RESULTS_NAME)
        return {r.get("id") for r in rows if (self.out_dir / f"{r.get('id')}.wav").is_file()}

    def fail(self, it: Item, reason: str) -> None:
        """Record a line that failed (written with the next ``write_errors``)."""
        self.errors.append(error_row(it.line, it.id, reason))

    def write_errors(self) -> None:
        path = self.out_dir / ERRORS_NAME
        try:
            atomic_write_text(path, self._errors_text())
        except OSError as e:
            if disk_full(e):
                raise self._stop_disk_full(e, path) from None
            raise SynthError(f"cannot write {path}: {e.strerror or e}") from e

    def save(self, it: Item, wav: torch.Tensor, sample_rate: int, row: dict) -> bool:
        """Write ``<id>.wav`` then its results row (settings.json first, once); False when this line failed."""
        import soundfile as sf

        from tts.audio import save_audio

        path = self.out_dir / f"{it.id}.wav"
        if not self.claimed:
            settings_path = self.out_dir / SETTINGS_NAME
            try:
                atomic_write_json(settings_path, self.settings)
            except OSError as e:
                if disk_full(e):
                    raise self._stop_disk_full(e, settings_path, it) from None
                raise SynthError(f"cannot write {settings_path}: {e.strerror or e}") from e
            self.claimed = True
        try:
            save_audio(path, wav, sample_rate)
            append_jsonl(self.out_dir / RESULTS_NAME, row)
        except (OSError, sf.SoundFileError) as e:  # a name refused by the file system: this line fails
            if isinstance(e, OSError) and disk_full(e):
                raise self._stop_disk_full(e, path, it) from None
            self.fail(it, f"cannot save {path}: {getattr(e, 'strerror', None) or e}")
            self.write_errors()
            return False
        self.n_saved += 1
        return True

    def _errors_text(self) -> str:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.errors)

    def _stop_disk_full(self, e: OSError, path: Path, it: Item | None = None) -> SynthError:
        """Record the line the full disk cost (when the disk still takes it) and the error that ends the run."""
        row = f" for line {it.line} (id {it.id!r})" if it else ""
        if it:
            self.fail(it, f"disk full ({e.strerror}) while writing {path}")
            try:
                atomic_write_text(self.out_dir / ERRORS_NAME, self._errors_text())
            except OSError:
                pass
        return SynthError(
            f"disk full ({e.strerror}) while writing {path}{row}: stopped after {self.n_saved} of {self.n_ready} "
            "lines. Free some space and run the same command again: finished lines are kept and skipped."
        )
