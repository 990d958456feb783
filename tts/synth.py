"""Batch synthesis with an F5 model: a JSONL/TSV list of (id, text, ref_audio, ref_text[, duration]) -> wavs.

Resumable and fault tolerant: ``<out>/<id>.wav`` is written atomically, then a row is appended to
``<out>/results.jsonl``; a rerun skips ids that have both. ``<out>/settings.json`` records the model's
sha256 and every sampling setting; it is written with the first wav, so only a run that wrote outputs
claims the folder. A rerun with another model or setting is refused (the differences named) unless
``overwrite`` clears the earlier outputs: the wavs ``results.jsonl`` lists and the run's own files, never
anything else. One run at a time: a second run into the same folder is refused (an ``fcntl`` lock on
``<out>/.synth.lock``). Lines that cannot be synthesized (unparseable or non-UTF-8, missing keys, duplicate
or unsafe id, id over 200 bytes, control characters, empty text, unknown or unspeakable characters,
unreadable or over-long prompt audio, a ``ref_text`` too long for its prompt, a bad alignment, too long for
the model, a failed save) are listed in ``<out>/errors.jsonl`` (this run's errors, with line numbers) while
the rest completes. A full disk stops the run cleanly, naming the line; rerun to resume.

Aligned models (``tts.f5.aligned``): frames per token come from the model's duration predictor
(``--durations predictor``, with ``--speed``) or from the row's own ``alignment``
(``--durations oracle``); rows may also carry ``ref_alignment`` for the prompt. Both are
``[[symbol, start_s, duration_s], ...]``.

Noise: utterance ``id`` under run seed ``s`` uses noise seed ``crc32(id) + 1000003 * s`` so results do not
depend on batching or order.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import sys
import tempfile
import time
import unicodedata
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tts.errors import TTSError
from tts.io import (
    MAX_NAME_BYTES,
    CheckpointError,
    OutDirError,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    file_name_problem,
    out_dir_lock,
    read_json,
    read_jsonl,
    read_lines,
    sha256_files,
)

REQUIRED = ("id", "text", "ref_audio", "ref_text")
DEFAULT_BATCH_FRAMES = 8192
MAX_ID_BYTES = MAX_NAME_BYTES
SETTINGS_NAME, RESULTS_NAME, ERRORS_NAME = "settings.json", "results.jsonl", "errors.jsonl"
LOCK_NAME = ".synth.lock"
SPEED_RANGE = (0.25, 4.0)  # beyond it durations reach 0 frames a token or minutes a word: no plausible speech
MAX_REF_CHARS_PER_S = 30  # characters of ref_text a second of prompt (fast speech is ~20)
REF_CHARS_SLACK = 5  # ... plus a few for punctuation and very short prompts
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class SynthError(TTSError, RuntimeError):
    """A synthesis run that cannot start: bad settings, unwritable or mismatched output dir, bad model."""


@dataclass(frozen=True)
class SamplingSettings:
    """Every setting that changes the audio; ``problems()`` states each one outside its allowed range."""

    nfe: int = 32
    cfg: float = 2.0
    sway: float | None = -1.0
    speed: float = 1.0
    seed: int = 0
    method: str = "euler"

    def problems(self) -> list[str]:
        out = []

        def number(name: str, lo: float, hi: float, integer: bool = False, lo_open: bool = False) -> None:
            v = getattr(self, name)
            kind = "an integer" if integer else "a finite number"
            ok = isinstance(v, int) if integer else isinstance(v, (int, float)) and math.isfinite(v)
            ok = ok and not isinstance(v, bool) and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                bound = f"({lo:g}, {hi:g}]" if lo_open else f"[{lo:g}, {hi:g}]"
                out.append(f"{name} must be {kind} in {bound}, got {v!r}")

        number("nfe", 1, 1000, integer=True)
        number("cfg", 0, 100)
        if self.sway is not None:
            number("sway", -1, 1)
        number("speed", *SPEED_RANGE)
        number("seed", 0, 2**31 - 1, integer=True)
        if self.method not in ("euler", "midpoint"):
            out.append(f"method must be euler or midpoint, got {self.method!r}")
        elif self.method == "midpoint" and isinstance(self.nfe, int) and self.nfe < 2:
            out.append(f"nfe must be >= 2 with the midpoint method (2 evaluations a step), got {self.nfe}")
        return out


@dataclass
class Item:
    line: int
    id: str
    text: str
    ref_audio: str
    ref_text: str
    duration: float | None = None
    alignment: list | None = None  # aligned models: [[symbol, start, duration], ...] of the text
    ref_alignment: list | None = None  # ... and of the prompt
    # filled by prepare()
    prompt: torch.Tensor | None = None  # (N_ref, D)
    ids: list[int] | None = None
    total_frames: int = 0
    gain: float = 1.0  # prompt gain (quiet prompts raised to RMS 0.1, F5-TTS); the output is divided by it


def _error(line: int, utt_id: str | None, reason: str) -> dict:
    """An errors.jsonl row; a lone surrogate in an id is escaped so the row can be written as UTF-8."""
    if isinstance(utt_id, str):
        utt_id = utt_id.encode("utf-8", "backslashreplace").decode("utf-8")
    return {"line": line, "id": utt_id, "reason": reason}


def control_chars(text: str, allow_whitespace: bool = False) -> str | None:
    """The control characters (and lone surrogates) in ``text`` as ``U+0000, ...``, or None."""
    ok = "\t\n\r" if allow_whitespace else ""
    bad = dict.fromkeys(c for c in text if unicodedata.category(c) in ("Cc", "Cs") and c not in ok)
    return ", ".join(f"U+{ord(c):04X}" for c in bad) or None


def read_list(path: str | Path, default_prompt: dict | None = None) -> tuple[list[Item], list[dict]]:
    """Parse a JSONL (or .tsv with a header) list -> (items, error rows); lines 1-based.

    ``default_prompt`` (the model's, ``tts.f5.export.load_prompt``): the ``ref_audio``, ``ref_text`` (and
    ``ref_alignment``) of rows that give neither ``ref_audio`` nor ``ref_text``."""
    path = Path(path)
    if not path.is_file():
        raise SynthError(f"synthesis list not found: {path}")
    raw = read_lines(path)
    rows: list[tuple[int, dict | None, str | None]] = []
    rows += [(lineno, None, problem) for lineno, line, problem in raw if problem]
    raw = [(lineno, line) for lineno, line, problem in raw if not problem]
    if path.suffix.lower() == ".tsv":  # split on tabs only: no quoting, texts keep their quotes
        header = raw[0][1].split("\t") if raw else []
        for lineno, line in raw[1:]:
            if not line.strip():
                continue
            cells = line.split("\t")
            if len(cells) != len(header):
                rows.append(
                    (lineno, None, f"unparseable line: {len(cells)} fields, header has {len(header)}")
                )
                continue
            rows.append((lineno, {k: v for k, v in zip(header, cells) if v != ""}, None))
    else:
        for lineno, line in raw:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("not a JSON object")
                rows.append((lineno, row, None))
            except ValueError as e:
                rows.append((lineno, None, f"unparseable line: {e}"))
    items, errors, seen = [], [], {}
    for lineno, row, problem in sorted(rows, key=lambda r: r[0]):
        if row is None:
            errors.append(_error(lineno, None, problem or "unparseable line"))
            continue
        utt_id = row.get("id")
        missing = [k for k in REQUIRED if k not in row or row[k] is None]
        if default_prompt and {"ref_audio", "ref_text"} <= set(missing) and "ref_alignment" not in row:
            row = {**row, **default_prompt}
            missing = [k for k in missing if k not in default_prompt]
        if missing:
            prompt = [k for k in missing if k in ("ref_audio", "ref_text")]
            why = ("" if not prompt else
                   ": give both ref_audio and ref_text, or neither for the model's default prompt" if default_prompt
                   else " (this model has no default prompt, prompt.json: each row names its own)")  # fmt: skip
            errors.append(_error(lineno, utt_id, f"missing key(s): {', '.join(missing)}{why}"))
            continue
        utt_id = str(utt_id)
        if problem := file_name_problem(utt_id, MAX_ID_BYTES):
            shown = utt_id if len(utt_id) <= 60 else utt_id[:40] + "..."
            errors.append(_error(lineno, shown, f"id is not usable as a file name: it {problem}"))
            continue
        if utt_id in seen:
            errors.append(_error(lineno, utt_id, f"duplicate id (first on line {seen[utt_id]})"))
            continue
        seen[utt_id] = lineno
        text, ref_text = str(row["text"]).strip(), str(row["ref_text"]).strip()
        bad = {k: c for k, v in (("text", text), ("ref_text", ref_text), ("ref_audio", str(row["ref_audio"])))
               if (c := control_chars(v, allow_whitespace=k != "ref_audio"))}  # fmt: skip
        if bad:
            named = "; ".join(f"{k} has control character(s) {c}" for k, c in bad.items())
            errors.append(_error(lineno, utt_id, f"{named}: remove them"))
            continue
        if not text:
            errors.append(_error(lineno, utt_id, "empty text"))
            continue
        if not ref_text:
            errors.append(_error(lineno, utt_id, "empty ref_text"))
            continue
        duration = row.get("duration")
        if duration is not None:
            try:
                duration = float(duration)
                if not (math.isfinite(duration) and duration > 0):
                    raise ValueError
            except (TypeError, ValueError):
                reason = f"duration must be a positive finite number of seconds: {duration!r}"
                errors.append(_error(lineno, utt_id, reason))
                continue
        ref_audio = Path(str(row["ref_audio"]))
        if not ref_audio.is_absolute() and not ref_audio.exists() and (path.parent / ref_audio).exists():
            ref_audio = path.parent / ref_audio
        items.append(
            Item(lineno, utt_id, text, str(ref_audio), ref_text, duration,
                 row.get("alignment"), row.get("ref_alignment"))  # fmt: skip
        )
    return items, errors


def noise_seed(utt_id: str, seed: int) -> int:
    return (zlib.crc32(utt_id.encode("utf-8")) + 1_000_003 * seed) % (2**31)


def prepare(item: Item, model, space, speed: float, durations: str = "predictor") -> str | None:
    """Load + encode the prompt, encode the text, fix the length; returns an error reason or None."""
    from tts.audio import AudioError, audio_duration, load_audio
    from tts.f5.cfm import estimate_frames, prompt_gain
    from tts.text import TextError, normalize_text

    if item.duration is not None and item.duration >= model.max_duration_s:
        return (
            f"too long: duration {item.duration:g} s of speech, over the model's maximum "
            f"{model.max_duration_s:.1f} s (prompt + speech); use a shorter duration"
        )
    aligned = getattr(model, "conditioning", "filler") == "aligned"
    full_text = f"{item.ref_text} {item.text}"
    try:
        if not aligned:
            item.ids = model.vocab.encode(full_text, on_unknown="error", utt_id=item.id)
    except TextError as e:
        return str(e)
    try:
        seconds = audio_duration(item.ref_audio)  # from the header: a huge prompt is never decoded
        if seconds >= model.max_duration_s:
            return (
                f"prompt audio: {item.ref_audio} is {seconds:.1f} s, not shorter than the model's maximum "
                f"{model.max_duration_s:.1f} s (prompt + speech); use a shorter prompt"
            )
        wav = load_audio(item.ref_audio, space.sample_rate)
    except AudioError as e:
        return f"prompt audio: {e}"
    n_chars = len(normalize_text(item.ref_text))
    if n_chars > MAX_REF_CHARS_PER_S * seconds + REF_CHARS_SLACK:
        return (
            f"ref_text has {n_chars} characters for a {seconds:.2f} s prompt ({item.ref_audio}), more than "
            f"{MAX_REF_CHARS_PER_S} a second: ref_text must be the transcript of exactly this prompt"
        )
    item.gain = prompt_gain(wav)
    wav = wav * item.gain
    with torch.no_grad():
        item.prompt = space.encode(wav.unsqueeze(0).to(space.device))[0].float()
    n_ref = item.prompt.shape[0]
    if aligned:  # one token id per frame, lengths from the durations (tts.f5.aligned)
        from tts.f5.aligned import align_item

        if reason := align_item(item, model, speed, durations):
            return reason
    else:
        item.total_frames = estimate_frames(
            n_ref, item.ref_text, item.text, speed, item.duration, space.frame_rate
        )
    if item.total_frames > model.max_frames:
        return (
            f"too long: prompt + speech = {item.total_frames / space.frame_rate:.1f} s, over the model's "
            f"maximum {model.max_duration_s:.1f} s ({model.max_frames} frames); use a shorter prompt or text"
        )
    if len(item.ids) > item.total_frames:
        return f"text has {len(item.ids)} characters for only {item.total_frames} frames (speed too high?)"
    return None


def make_batches(items: list[Item], batch_frames: int) -> list[list[Item]]:
    """Longest first; a batch's padded size (items x longest) stays within ``batch_frames``."""
    batches: list[list[Item]] = []
    for item in sorted(items, key=lambda it: -it.total_frames):
        if batches and (len(batches[-1]) + 1) * batches[-1][0].total_frames <= batch_frames:
            batches[-1].append(item)
        else:
            batches.append([item])
    return batches


@torch.no_grad()
def synthesize_batch(
    batch: list[Item], model, space, nfe: int, cfg: float, sway: float, seed: int, method: str
) -> list[torch.Tensor]:
    """Sample a batch and decode each item's generated part -> list of waveforms (T,)."""
    device = model.device
    b = len(batch)
    n_ref = torch.tensor([it.prompt.shape[0] for it in batch], device=device)
    cond = torch.zeros(b, int(n_ref.max()), model.net.feat_dim, device=device)
    text = torch.zeros(b, max(len(it.ids) for it in batch), dtype=torch.long, device=device)
    for i, it in enumerate(batch):
        cond[i, : it.prompt.shape[0]] = it.prompt
        text[i, : len(it.ids)] = torch.tensor(it.ids, device=device)
    total = torch.tensor([it.total_frames for it in batch], device=device)
    out = model.cfm.sample(
        cond,
        n_ref,
        text,
        total,
        nfe=nfe,
        cfg=cfg,
        sway=sway,
        method=method,
        seeds=[noise_seed(it.id, seed) for it in batch],
    )
    wavs = []
    for i, it in enumerate(batch):
        gen = out[i : i + 1, it.prompt.shape[0] : it.total_frames]
        wavs.append((space.decode(gen)[0].float() / it.gain).clamp(-1.0, 1.0).cpu())
    return wavs


def model_files(model: str | Path) -> list[Path]:
    """The files whose bytes define a model: an export dir's files, or the checkpoint file."""
    model = Path(model)
    return sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else [model]


def check_device(device: str) -> None:
    """SynthError (one line) unless ``device`` names a torch device this machine has."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise SynthError(f"--device {device!r} is not a torch device (cpu, cuda, cuda:1, mps)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SynthError(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    if dev.type == "cuda" and (dev.index or 0) >= torch.cuda.device_count():
        raise SynthError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise SynthError(f"--device {device}: Apple MPS is not available here; use --device cpu")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise SynthError(f"--device {device}: tts synth runs on cpu, cuda or mps")


def disk_full(e: OSError) -> bool:
    return e.errno in DISK_FULL


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


def synthesize_list(
    model: str,
    input: str,
    out: str,
    nfe: int = 32,
    cfg: float = 2.0,
    sway: float = -1.0,
    speed: float = 1.0,
    seed: int = 0,
    batch_frames: int = DEFAULT_BATCH_FRAMES,
    device: str = "cpu",
    method: str = "euler",
    space: str | None = None,
    progress: bool = True,
    durations: str = "predictor",
    overwrite: bool = False,
) -> dict:
    """Synthesize every line of ``input`` into ``out``; returns the run summary (see module doc).

    ``space`` overrides the feature space spec stored with the model (e.g. a moved vocoder path).
    ``durations`` (aligned models only): ``predictor`` or ``oracle`` (each row's ``alignment``).
    Raises SynthError (nothing written but the lock file) for settings out of range, a device this machine
    lacks, an unwritable ``out``, an ``out`` made with another model or settings (unless ``overwrite``), a
    model that does not load; and, with the finished lines kept, for a full disk. OutDirError (``tts.io``)
    when another run holds ``out``.
    """
    t_start = time.perf_counter()
    sampling = SamplingSettings(nfe=nfe, cfg=cfg, sway=sway, speed=speed, seed=seed, method=method)
    problems = sampling.problems()
    if not (isinstance(batch_frames, int) and batch_frames >= 1):
        problems.append(f"batch_frames must be an integer >= 1, got {batch_frames!r}")
    if problems:
        raise SynthError("invalid synthesis settings: " + "; ".join(problems))
    check_device(device)
    out_dir = Path(out)
    check_out_dir(out_dir)
    if not Path(model).exists():
        raise SynthError(f"F5 model not found: {model} (an export dir or a .ckpt)")
    with out_dir_lock(out_dir, LOCK_NAME, "tts synth"):
        return _run(model, input, out_dir, sampling, batch_frames, device, space, progress, durations, overwrite,
                    t_start)  # fmt: skip


def _run(
    model: str, input: str, out_dir: Path, sampling: SamplingSettings, batch_frames: int, device: str,
    space: str | None, progress: bool, durations: str, overwrite: bool, t_start: float,
) -> dict:  # fmt: skip
    """``synthesize_list`` once the settings are valid and ``out_dir`` is locked."""
    import soundfile as sf
    from tqdm import tqdm

    from tts.audio import save_audio
    from tts.f5 import load
    from tts.f5.export import load_prompt
    from tts.features import load_space

    results_path, errors_path = out_dir / RESULTS_NAME, out_dir / ERRORS_NAME
    try:
        default_prompt = load_prompt(model)
    except CheckpointError as e:
        raise SynthError(str(e)) from e
    items, errors = read_list(input, default_prompt)
    n_lines = len(items) + len(errors)
    settings = {"model_sha256": sha256_files(model_files(model)), "space": space, "durations": durations,
                **asdict(sampling)}  # fmt: skip
    clear = check_settings(out_dir, settings, overwrite)
    try:
        f5 = load(model, device=device)
        fspace = load_space(space or f5.space).to(device)
    except (CheckpointError, OSError) as e:
        raise SynthError(str(e)) from e
    if abs(fspace.frame_rate - f5.frame_rate) > 1e-6 or fspace.dim != f5.net.feat_dim:
        raise SynthError(
            f"feature space {fspace.spec!r} ({fspace.dim} x {fspace.frame_rate} Hz) does not match "
            f"the model ({f5.net.feat_dim} x {f5.frame_rate} Hz)"
        )
    n_ok, n_ready = 0, 0

    def errors_text() -> str:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in errors)

    def stop_disk_full(e: OSError, path: Path, it: Item | None = None) -> SynthError:
        """Record the line the full disk cost (when the disk still takes it) and the error that ends the run."""
        row = f" for line {it.line} (id {it.id!r})" if it else ""
        if it:
            errors.append(_error(it.line, it.id, f"disk full ({e.strerror}) while writing {path}"))
            try:
                atomic_write_text(errors_path, errors_text())
            except OSError:
                pass
        return SynthError(
            f"disk full ({e.strerror}) while writing {path}{row}: stopped after {n_ok} of {n_ready} lines. "
            "Free some space and run the same command again: finished lines are kept and skipped."
        )

    def write_errors() -> None:
        try:
            atomic_write_text(errors_path, errors_text())
        except OSError as e:
            if disk_full(e):
                raise stop_disk_full(e, errors_path) from None
            raise SynthError(f"cannot write {errors_path}: {e.strerror or e}") from e

    try:
        if clear:
            clear_outputs(out_dir)
    except OSError as e:
        raise SynthError(f"--overwrite: cannot delete the earlier outputs in {out_dir}: {e}") from e
    done = {r.get("id") for r in read_jsonl(results_path) if (out_dir / f"{r.get('id')}.wav").is_file()}
    todo = [it for it in items if it.id not in done]
    n_skipped = len(items) - len(todo)

    ready = []
    for it in todo:
        try:
            reason = prepare(it, f5, fspace, sampling.speed, durations)
        except Exception as e:  # an unforeseen failure costs this line only, never the others
            reason = f"cannot prepare this line: {type(e).__name__}: {e}"
        if reason:
            errors.append(_error(it.line, it.id, reason))
        else:
            ready.append(it)
    n_ready = len(ready)
    write_errors()

    claimed = False  # settings.json goes with the first wav: only a run that wrote outputs claims the folder
    audio_s, synth_s = 0.0, 0.0
    bar = tqdm(total=len(ready), desc="synth", unit="utt", disable=not progress)
    for batch in make_batches(ready, batch_frames):
        t0 = time.perf_counter()
        try:
            wavs = synthesize_batch(batch, f5, fspace, sampling.nfe, sampling.cfg, sampling.sway, sampling.seed,
                                    sampling.method)  # fmt: skip
        except Exception as e:  # e.g. out of memory: report the batch, keep going
            errors.extend(
                _error(it.line, it.id, f"synthesis failed: {type(e).__name__}: {e}") for it in batch
            )
            write_errors()
            bar.update(len(batch))
            continue
        batch_s = time.perf_counter() - t0
        gen_frames = sum(it.total_frames - it.prompt.shape[0] for it in batch)
        for it, wav in zip(batch, wavs):
            dur = wav.numel() / fspace.sample_rate
            share = batch_s * (it.total_frames - it.prompt.shape[0]) / max(1, gen_frames)
            path = out_dir / f"{it.id}.wav"
            if not claimed:
                try:
                    atomic_write_json(out_dir / SETTINGS_NAME, settings)
                except OSError as e:
                    if disk_full(e):
                        raise stop_disk_full(e, out_dir / SETTINGS_NAME, it) from None
                    raise SynthError(f"cannot write {out_dir / SETTINGS_NAME}: {e.strerror or e}") from e
                claimed = True
            try:
                save_audio(path, wav, fspace.sample_rate)
                append_jsonl(
                    results_path,
                    {
                        "id": it.id,
                        "duration_s": round(dur, 4),
                        "rtf": round(share / max(dur, 1e-9), 5),
                        "seed": sampling.seed,
                        "nfe": sampling.nfe,
                        "cfg": sampling.cfg,
                        "sway": sampling.sway,
                        "speed": sampling.speed,
                        "method": sampling.method,
                        **({"durations": durations} if f5.conditioning == "aligned" else {}),
                        "synth_s": round(share, 4),
                        "batch_size": len(batch),
                        "line": it.line,
                    },
                )
            except (OSError, sf.SoundFileError) as e:  # a name refused by the file system: this line fails
                if isinstance(e, OSError) and disk_full(e):
                    raise stop_disk_full(e, path, it) from None
                errors.append(_error(it.line, it.id, f"cannot save {path}: {getattr(e, 'strerror', None) or e}"))
                write_errors()
                continue
            n_ok += 1
            audio_s += dur
            synth_s += share
        bar.update(len(batch))
    bar.close()
    summary = {
        "lines": n_lines,
        "synthesized": n_ok,
        "skipped_done": n_skipped,
        "errors": len(errors),
        "audio_s": round(audio_s, 3),
        "synth_s": round(synth_s, 3),
        "rtf": round(synth_s / audio_s, 5) if audio_s else None,
        "wall_s": round(time.perf_counter() - t_start, 3),
        "out": str(out_dir),
    }
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts synth",
        description="Batch synthesis with an F5 model. LIST is JSONL (or .tsv with a header) with columns "
        "id, text, ref_audio, ref_text and optional duration (seconds of generated speech: honoured by every "
        "model; an aligned model in predictor mode scales its predicted durations to fill it, and --speed "
        "then has no effect on that line). Writes OUT/<id>.wav, OUT/results.jsonl (resumable: a rerun skips "
        "finished ids) and OUT/errors.jsonl. "
        f"Ids are file names: no '/', no leading '.', no control characters (NUL, newline, tab), at most "
        f"{MAX_ID_BYTES} bytes. Text the model cannot speak (characters outside its vocabulary; for phoneme "
        "models, scripts other than Latin) is refused with the characters named. ref_text must be the "
        f"prompt's transcript (at most {MAX_REF_CHARS_PER_S} characters a second of prompt); a row may leave out "
        "both ref_audio and ref_text when the model folder holds a default prompt (prompt.wav + prompt.json, "
        "written by tts voice): that prompt is used. Alignments must "
        "be in time order without overlaps. A rerun into the same OUT resumes only when the model and every "
        "sampling setting match (OUT/settings.json, written with the first wav); otherwise it is refused "
        "with the differences named, or --overwrite starts OUT over. One run per OUT at a time (a lock on "
        "OUT/.synth.lock). Exit code 0 when every line was synthesized, 1 when some lines failed "
        "(OUT/errors.jsonl), 2 when nothing could run (bad settings or device, unwritable or busy OUT, "
        "missing or corrupt model) or the disk filled up (the line named; rerun to resume).",
    )
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("--input", required=True, help="synthesis list (JSONL or TSV)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--nfe", type=int, default=32, help="network evaluations, 1-1000 (default 32)")
    p.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance strength, 0-100 (default 2)")
    p.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient, -1 to 1 (default -1)")
    p.add_argument(
        "--speed", type=float, default=1.0,
        help=f"speaking rate for the duration rule, {SPEED_RANGE[0]:g} to {SPEED_RANGE[1]:g} (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="run seed, 0 to 2^31-1 (default 0)")
    p.add_argument(
        "--batch-frames",
        type=int,
        default=DEFAULT_BATCH_FRAMES,
        help=f"padded frames per batch, before CFG doubling (default {DEFAULT_BATCH_FRAMES})",
    )
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument(
        "--method", choices=("euler", "midpoint"), default="euler", help="ODE solver (default euler)"
    )
    p.add_argument("--space", default=None, help="override the model's feature space spec")
    p.add_argument(
        "--durations",
        choices=("predictor", "oracle"),
        default="predictor",
        help="aligned models: frames per token from the model's duration predictor (default; --speed "
        "scales them, a row's `duration` overrides --speed: the predicted durations are scaled to fill it) or "
        "from each row's own `alignment` [[symbol, start_s, duration_s], ...] in time order (oracle)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite", action="store_true",
        help="start OUT over: delete the wavs its results.jsonl lists and its results, errors and settings (no "
        "other file), then synthesize every line",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    a = parser.parse_args(argv)
    sampling = SamplingSettings(nfe=a.nfe, cfg=a.cfg, sway=a.sway, speed=a.speed, seed=a.seed, method=a.method)
    problems = sampling.problems() + ([f"--batch-frames must be >= 1, got {a.batch_frames}"] if a.batch_frames < 1 else [])
    if problems:
        parser.error("; ".join(f"--{p}" if not p.startswith("--") else p for p in problems))
    try:
        summary = synthesize_list(
            a.model,
            a.input,
            a.out,
            nfe=a.nfe,
            cfg=a.cfg,
            sway=a.sway,
            speed=a.speed,
            seed=a.seed,
            batch_frames=a.batch_frames,
            device=a.device,
            method=a.method,
            space=a.space,
            progress=not a.no_progress,
            durations=a.durations,
            overwrite=a.overwrite,
        )
    except (SynthError, CheckpointError, OutDirError) as e:
        print(f"tts synth: {e}", file=sys.stderr)
        return 2
    print(
        f"synth: {summary['synthesized']} synthesized, {summary['skipped_done']} already done, "
        f"{summary['errors']} errors (see {Path(a.out) / 'errors.jsonl'}) of {summary['lines']} lines; "
        f"{summary['audio_s']:.1f} s audio, RTF {summary['rtf']}"
    )
    return 0 if summary["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
