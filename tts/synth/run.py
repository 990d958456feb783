"""One ``tts synth`` run: check the settings and the folder, load the model, prepare, sample in batches, save."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tts.io import CheckpointError, out_dir_lock
from tts.longtext import CROSSFADE_S, crossfade
from tts.synth.chunks import prepare_line
from tts.synth.lines import read_list
from tts.synth.outdir import LOCK_NAME, RunFolder, check_out_dir, check_settings, clear_outputs, run_settings
from tts.synth.sample import make_batches, synthesize_batch
from tts.synth.settings import DEFAULT_BATCH_FRAMES, SamplingSettings, SynthError


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
    backend: str = "torch",
) -> dict:
    """``synthesize`` with the sampling settings as keywords (see there)."""
    sampling = SamplingSettings(nfe=nfe, cfg=cfg, sway=sway, speed=speed, seed=seed, method=method,
                                durations=durations)  # fmt: skip
    return synthesize(model, input, out, sampling, batch_frames, device, space, progress, overwrite, backend)


def synthesize(
    model: str,
    input: str,
    out: str,
    sampling: SamplingSettings,
    batch_frames: int = DEFAULT_BATCH_FRAMES,
    device: str = "cpu",
    space: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    backend: str = "torch",
) -> dict:
    """Synthesize every line of ``input`` into ``out``; returns the run summary (see ``tts.synth``).

    ``backend``: ``torch`` (the model's torch networks) or ``onnx`` (``model`` is a ``tts export onnx`` folder, run
    by onnxruntime on the CPU, ``tts.onnx.runtime``; the same audio to 1e-4).

    ``space`` overrides the feature space spec stored with the model (e.g. a moved vocoder path).
    ``sampling.durations`` (aligned models only): ``predictor`` or ``oracle`` (each row's ``alignment``).
    Raises SynthError (nothing written but the lock file) for settings out of range, a device this machine
    lacks, an unwritable ``out``, an ``out`` made with another model or settings (unless ``overwrite``), a
    model that does not load; and, with the finished lines kept, for a full disk. OutDirError (``tts.io``)
    when another run holds ``out``.
    """
    t_start = time.perf_counter()
    problems = sampling.problems()
    if not (isinstance(batch_frames, int) and batch_frames >= 1):
        problems.append(f"batch_frames must be an integer >= 1, got {batch_frames!r}")
    if problems:
        raise SynthError("invalid synthesis settings: " + "; ".join(problems))
    check_device(device)
    check_backend(backend, device, space)
    out_dir = Path(out)
    check_out_dir(out_dir)
    if not Path(model).exists():
        raise SynthError(f"F5 model not found: {model} (an export dir or a .ckpt)")
    with out_dir_lock(out_dir, LOCK_NAME, "tts synth"):
        summary = _run(model, input, out_dir, sampling, batch_frames, device, space, progress, overwrite, backend)
    return {**summary, "wall_s": round(time.perf_counter() - t_start, 3), "out": str(out_dir)}


BACKENDS = ("torch", "onnx")


def check_backend(backend: str, device: str, space: str | None) -> None:
    """SynthError (one line) for an unknown backend, or the onnx backend with a device or space it cannot take."""
    if backend not in BACKENDS:
        raise SynthError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnx" and torch.device(device).type != "cpu":
        raise SynthError(f"--backend onnx runs on the CPU (onnxruntime), not --device {device}")
    if backend == "onnx" and space is not None:
        raise SynthError("--backend onnx: the ONNX export carries its own encoder and decoder; --space does not apply")


def load_model(model: str, space: str | None, device: str, backend: str = "torch"):
    """(F5 model, its feature space) on ``device``; SynthError when either does not load or they differ.

    ``backend="onnx"``: ``model`` is a ``tts export onnx`` folder, loaded as onnxruntime sessions (``tts.onnx.runtime``)
    with no torch model."""
    check_backend(backend, device, space)
    if backend == "onnx":
        from tts.onnx.runtime import load as load_onnx

        try:
            return load_onnx(model)
        except (CheckpointError, OSError) as e:
            raise SynthError(str(e)) from e
    from tts.f5 import load
    from tts.features import load_space

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
    return f5, fspace


def _run(
    model: str, input: str, out_dir: Path, sampling: SamplingSettings, batch_frames: int, device: str,
    space: str | None, progress: bool, overwrite: bool, backend: str = "torch",
) -> dict:  # fmt: skip
    """``synthesize`` once the settings are valid and ``out_dir`` is locked."""
    from tqdm import tqdm

    from tts.f5.export import load_prompt

    try:
        default_prompt = load_prompt(model)
    except CheckpointError as e:
        raise SynthError(str(e)) from e
    items, errors = read_list(input, default_prompt)
    n_lines = len(items) + len(errors)
    settings = run_settings(model, space, sampling)
    clear = check_settings(out_dir, settings, overwrite)
    f5, fspace = load_model(model, space, device, backend)
    folder = RunFolder(out_dir, settings, errors)
    try:
        if clear:
            clear_outputs(out_dir)
    except OSError as e:
        raise SynthError(f"--overwrite: cannot delete the earlier outputs in {out_dir}: {e}") from e
    done = folder.done_ids()
    todo = [it for it in items if it.id not in done]

    ready, parent, parts = [], {}, {}  # chunk items; chunk -> its line; line id -> [line, n chunks, {k: wav}, s]
    for it in todo:
        try:
            chunks, reason = prepare_line(it, f5, fspace, sampling)
        except Exception as e:  # an unforeseen failure costs this line only, never the others
            chunks, reason = [], f"cannot prepare this line: {type(e).__name__}: {e}"
        if reason:
            folder.fail(it, reason)
            continue
        parts[it.id] = [it, len(chunks), {}, 0.0]
        for k, chunk in enumerate(chunks):
            parent[id(chunk)] = (it.id, k)
        ready += chunks
    folder.n_ready = len(parts)
    folder.write_errors()

    audio_s, synth_s = 0.0, 0.0
    overlap = round(fspace.sample_rate * CROSSFADE_S)
    bar = tqdm(total=len(ready), desc="synth", unit="chunk" if len(ready) > len(parts) else "utt", disable=not progress)
    for batch in make_batches(ready, batch_frames):
        t0 = time.perf_counter()
        try:
            wavs = synthesize_batch(batch, f5, fspace, sampling)
        except Exception as e:  # e.g. out of memory: report the batch's lines, keep going
            for line_id in dict.fromkeys(parent[id(it)][0] for it in batch):
                if line_id in parts:
                    folder.fail(parts.pop(line_id)[0], f"synthesis failed: {type(e).__name__}: {e}")
            folder.write_errors()
            bar.update(len(batch))
            continue
        batch_s = time.perf_counter() - t0
        gen_frames = sum(it.total_frames - it.prompt.shape[0] for it in batch)
        for it, wav in zip(batch, wavs):
            line_id, k = parent[id(it)]
            if line_id not in parts:  # another chunk of this line failed
                continue
            part = parts[line_id]
            part[2][k] = wav
            part[3] += batch_s * (it.total_frames - it.prompt.shape[0]) / max(1, gen_frames)
            if len(part[2]) < part[1]:
                continue
            line, n_chunks, pieces, share = parts.pop(line_id)
            wav = crossfade([pieces[j] for j in range(n_chunks)], overlap)
            dur = wav.numel() / fspace.sample_rate
            row = {
                "id": line.id,
                "duration_s": round(dur, 4),
                "rtf": round(share / max(dur, 1e-9), 5),
                "seed": sampling.seed,
                "nfe": sampling.nfe,
                "cfg": sampling.cfg,
                "sway": sampling.sway,
                "speed": sampling.speed,
                "method": sampling.method,
                **({"durations": sampling.durations} if f5.conditioning == "aligned" else {}),
                "synth_s": round(share, 4),
                "batch_size": len(batch),
                "line": line.line,
                "text": line.text,
                "chunks": n_chunks,
            }
            if folder.save(line, wav, fspace.sample_rate, row):
                audio_s += dur
                synth_s += share
        bar.update(len(batch))
    bar.close()
    return {
        "lines": n_lines,
        "synthesized": folder.n_saved,
        "skipped_done": len(items) - len(todo),
        "errors": len(folder.errors),
        "audio_s": round(audio_s, 3),
        "synth_s": round(synth_s, 3),
        "rtf": round(synth_s / audio_s, 5) if audio_s else None,
    }
