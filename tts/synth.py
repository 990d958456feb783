"""Batch synthesis with an F5 model: a JSONL/TSV list of (id, text, ref_audio, ref_text[, duration]) -> wavs.

Resumable and fault tolerant: ``<out>/<id>.wav`` is written atomically, then a row is appended to
``<out>/results.jsonl``; a rerun skips ids that have both. ``<out>/settings.json`` records the model's
sha256 and every sampling setting: a rerun with another model or setting is refused (the differences
named) unless ``overwrite`` clears the earlier outputs. Lines that cannot be synthesized (unparseable or
non-UTF-8, missing keys, duplicate or unsafe id, id over 200 bytes, empty text, unknown characters,
unreadable or over-long prompt audio, too long for the model, a failed save) are listed in
``<out>/errors.jsonl`` (this run's errors, with line numbers) while the rest completes.

Aligned models (``tts.f5.aligned``): frames per token come from the model's duration predictor
(``--durations predictor``, with ``--speed``) or from the row's own ``alignment``
(``--durations oracle``); rows may also carry ``ref_alignment`` for the prompt. Both are
``[[symbol, start_s, duration_s], ...]``.

Noise: utterance ``id`` under run seed ``s`` uses noise seed ``crc32(id) + 1000003 * s`` so results do not
depend on batching or order.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tts.errors import TTSError
from tts.io import (
    CheckpointError,
    append_jsonl,
    atomic_write_json,
    atomic_write_text,
    read_json,
    read_jsonl,
    read_lines,
    sha256_files,
)

REQUIRED = ("id", "text", "ref_audio", "ref_text")
DEFAULT_BATCH_FRAMES = 8192
MAX_ID_BYTES = 200  # <id>.wav and its temp file (.<id>.XXXXXXXX.wav) stay under the 255-byte name limit
SETTINGS_NAME = "settings.json"


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
        number("speed", 0, 10, lo_open=True)
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
    return {"line": line, "id": utt_id, "reason": reason}


def read_list(path: str | Path) -> tuple[list[Item], list[dict]]:
    """Parse a JSONL (or .tsv with a header) list -> (items, error rows); lines 1-based."""
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
        if missing:
            errors.append(_error(lineno, utt_id, f"missing key(s): {', '.join(missing)}"))
            continue
        utt_id = str(utt_id)
        if not utt_id or "/" in utt_id or "\\" in utt_id or utt_id.startswith("."):
            errors.append(_error(lineno, utt_id, "id is not usable as a file name"))
            continue
        if len(utt_id.encode("utf-8")) > MAX_ID_BYTES:
            errors.append(_error(lineno, utt_id[:40] + "...", f"id longer than {MAX_ID_BYTES} bytes (UTF-8)"))
            continue
        if utt_id in seen:
            errors.append(_error(lineno, utt_id, f"duplicate id (first on line {seen[utt_id]})"))
            continue
        seen[utt_id] = lineno
        text, ref_text = str(row["text"]).strip(), str(row["ref_text"]).strip()
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
                if not duration > 0:
                    raise ValueError
            except (TypeError, ValueError):
                errors.append(
                    _error(lineno, utt_id, f"duration must be a positive number of seconds: {duration!r}")
                )
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
    from tts.text import TextError

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


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and prove it writable (before any model loads); SynthError otherwise."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise SynthError(f"--out {out_dir} is not writable: {e.strerror or e}") from e


def check_settings(out_dir: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to resume into ``out_dir`` when it was made with other settings (or clear it with ``overwrite``)."""
    path = out_dir / SETTINGS_NAME
    results = out_dir / "results.jsonl"
    earlier = read_json(path, "delete it or pass --overwrite") if path.is_file() else None
    if earlier is None and results.is_file() and read_jsonl(results):
        earlier = {"settings.json": "missing (outputs of an unknown model and settings)"}
    diff = {k: (earlier.get(k), settings.get(k)) for k in sorted(set(earlier or {}) | set(settings))
            if (earlier or {}).get(k) != settings.get(k)} if earlier else {}  # fmt: skip
    if diff and not overwrite:
        named = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in diff.items())
        raise SynthError(
            f"{out_dir} holds outputs made with other settings ({named}). Use another --out, or pass "
            "--overwrite to delete its wavs and results and synthesize again."
        )
    if diff or (overwrite and earlier):
        for f in [results, out_dir / "errors.jsonl", *out_dir.glob("*.wav")]:
            f.unlink(missing_ok=True)
    atomic_write_json(path, settings)


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
    Raises SynthError (nothing done) for settings out of range, an unwritable ``out``, or an ``out`` made
    with another model or settings (unless ``overwrite``).
    """
    from tqdm import tqdm

    from tts.audio import save_audio
    from tts.f5 import load
    from tts.features import load_space

    t_start = time.perf_counter()
    sampling = SamplingSettings(nfe=nfe, cfg=cfg, sway=sway, speed=speed, seed=seed, method=method)
    problems = sampling.problems()
    if not (isinstance(batch_frames, int) and batch_frames >= 1):
        problems.append(f"batch_frames must be an integer >= 1, got {batch_frames!r}")
    if problems:
        raise SynthError("invalid synthesis settings: " + "; ".join(problems))
    out_dir = Path(out)
    check_out_dir(out_dir)
    if not Path(model).exists():
        raise SynthError(f"F5 model not found: {model} (an export dir or a .ckpt)")
    results_path, errors_path = out_dir / "results.jsonl", out_dir / "errors.jsonl"
    items, errors = read_list(input)
    n_lines = len(items) + len(errors)
    settings = {"model_sha256": sha256_files(model_files(model)), "space": space, "durations": durations}
    check_settings(out_dir, {**settings, **asdict(sampling)}, overwrite)

    def write_errors() -> None:
        atomic_write_text(errors_path, "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errors))

    done = {r.get("id") for r in read_jsonl(results_path) if (out_dir / f"{r.get('id')}.wav").is_file()}
    todo = [it for it in items if it.id not in done]
    n_skipped = len(items) - len(todo)

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
    ready = []
    for it in todo:
        reason = prepare(it, f5, fspace, speed, durations)
        if reason:
            errors.append(_error(it.line, it.id, reason))
        else:
            ready.append(it)
    write_errors()

    n_ok, audio_s, synth_s = 0, 0.0, 0.0
    bar = tqdm(total=len(ready), desc="synth", unit="utt", disable=not progress)
    for batch in make_batches(ready, batch_frames):
        t0 = time.perf_counter()
        try:
            wavs = synthesize_batch(batch, f5, fspace, nfe, cfg, sway, seed, method)
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
            try:
                save_audio(out_dir / f"{it.id}.wav", wav, fspace.sample_rate)
            except OSError as e:  # disk full, name refused by the file system: this line fails, not the run
                errors.append(_error(it.line, it.id, f"cannot save {out_dir / (it.id + '.wav')}: {e}"))
                write_errors()
                continue
            append_jsonl(
                results_path,
                {
                    "id": it.id,
                    "duration_s": round(dur, 4),
                    "rtf": round(share / max(dur, 1e-9), 5),
                    "seed": seed,
                    "nfe": nfe,
                    "cfg": cfg,
                    "sway": sway,
                    "speed": speed,
                    "method": method,
                    **({"durations": durations} if f5.conditioning == "aligned" else {}),
                    "synth_s": round(share, 4),
                    "batch_size": len(batch),
                    "line": it.line,
                },
            )
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
        "id, text, ref_audio, ref_text and optional duration (seconds of generated speech). Writes "
        "OUT/<id>.wav, OUT/results.jsonl (resumable: a rerun skips finished ids) and OUT/errors.jsonl. "
        f"Ids are file names: no '/', no leading '.', at most {MAX_ID_BYTES} bytes. A rerun into the same OUT "
        "resumes only when the model and every sampling setting match (OUT/settings.json); otherwise it is "
        "refused with the differences named, or --overwrite starts OUT over. "
        "Exit code 0 when every line was synthesized, 1 when some lines failed (OUT/errors.jsonl), 2 when "
        "nothing could run (bad settings, unwritable OUT, missing or corrupt model).",
    )
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("--input", required=True, help="synthesis list (JSONL or TSV)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--nfe", type=int, default=32, help="network evaluations, 1-1000 (default 32)")
    p.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance strength, 0-100 (default 2)")
    p.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient, -1 to 1 (default -1)")
    p.add_argument(
        "--speed", type=float, default=1.0, help="speaking rate for the duration rule, (0, 10] (default 1)"
    )
    p.add_argument("--seed", type=int, default=0, help="run seed, 0 to 2^31-1 (default 0)")
    p.add_argument(
        "--batch-frames",
        type=int,
        default=DEFAULT_BATCH_FRAMES,
        help=f"padded frames per batch, before CFG doubling (default {DEFAULT_BATCH_FRAMES})",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument(
        "--method", choices=("euler", "midpoint"), default="euler", help="ODE solver (default euler)"
    )
    p.add_argument("--space", default=None, help="override the model's feature space spec")
    p.add_argument(
        "--durations",
        choices=("predictor", "oracle"),
        default="predictor",
        help="aligned models: frames per token from the model's duration predictor (default; --speed "
        "scales them) or from each row's own `alignment` [[symbol, start_s, duration_s], ...] (oracle)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--overwrite", action="store_true", help="delete OUT's earlier wavs and results when their settings differ"
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
    except (SynthError, CheckpointError) as e:
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
