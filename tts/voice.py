"""``tts voice``: a folder of recordings -> a model of that voice, fine-tuned from a trained F5 model, with a report.

Stages, each recorded in ``OUT/stages/<name>.json`` once its outputs are complete (a rerun skips it; one whose
outputs went missing runs again):

1. ``import``: ``name.wav`` + ``name.txt`` pairs of a folder (or an ``audio|text|speaker`` list) -> lhotse cuts
   through ``tts.data.importers.import_list``; files without a partner or unreadable are reported and skipped.
2. ``screen``: every recording too short or too long, silent, clipped, recorded below 16 kHz, with a text the
   model cannot speak or a text that does not fit its length (characters a second of speech) is reported with
   its file and skipped; the rest is split into training recordings and ``--held-out`` test recordings, and
   the default prompt is chosen among the training ones (:func:`choose_prompt`).
3. ``align`` (aligned models): ``tts data align`` trains the project's aligner on the training recordings.
4. ``features``: ``tts extract features`` in the base model's feature space.
5. ``finetune``: ``tts fit`` of recipes/f5/base.yaml [+ aligned.yaml] + finetune.yaml with
   ``init_from=BASE`` for ``--minutes`` of CPU time (``tts.budget.CPUTimeBudget``, OpenMP threads waiting
   passively as ``tts demo`` trains), in a subprocess that a rerun resumes from its last.ckpt.
6. ``export``: ``OUT/model``, an F5 export with the default prompt (``prompt.wav`` + ``prompt.json``, which
   ``tts synth`` uses for rows without ``ref_audio`` / ``ref_text``).
7. ``evaluate``: ``tts bench`` (``OUT/eval``) of the recordings themselves (the ceiling), the base model and the
   fine-tuned one, all prompted with the default prompt: WER (Whisper base) on the held-out sentences when
   there are any, SIM (GE2E) to the prompt. Then ``OUT/report.md`` + ``report.json``.

Nothing downloads: the aligner trains here, the ASR and the speaker encoder are the packaged offline models.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tts.errors import TTSError
from tts.io import (
    atomic_write_json,
    atomic_write_text,
    file_name_problem,
    out_dir_lock,
    read_json,
    read_lines,
)

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
MIN_RECORDINGS = 5  # fewer usable recordings than this: nothing worth fine-tuning on
MIN_TRAIN_WITH_HELD_OUT = 20  # recordings are held out only when at least this many are left to train on
MIN_SAMPLE_RATE = 16000
FRAME_S = 0.02  # the screen's energy frames
SILENT_DBFS = -45.0  # loudest 20 ms frame below this: no speech
SPEECH_DB_BELOW_PEAK = 35.0  # frames within this of the loudest one are speech (the span the text is read over)
CLIP_LEVEL, MAX_CLIPPED_SHARE = 0.999, 0.001  # samples at full scale: more than 0.1% of them is clipping
CHARS_PER_S = (4.0, 30.0)  # characters of text a second of speech: outside, the text does not fit the audio
PROMPT_SECONDS = (3.0, 8.0, 5.0)  # the default prompt: a recording this long (min, max), closest to the last
BATCH_AUDIO_S = 42.7  # seconds of audio a batch: the demo DiT's (4000 mel / 1700 latent frames)
LOCK_NAME = ".voice.lock"
SETTINGS_NAME = "voice.json"
RECIPES = ("recipes/f5/base.yaml", "recipes/f5/aligned.yaml", "recipes/f5/finetune.yaml")
EVAL_ASR = {"backend": "faster-whisper", "model": "base"}
EVAL_SIMILARITY = {"backend": "resemblyzer"}
SYSTEMS = ("recordings", "base", "fine_tuned")


class VoiceError(TTSError, ValueError):
    """A ``tts voice`` run that cannot go on: a setting out of its range, unusable recordings or base model, an
    output folder made with other settings, a stage that failed (the message names the file, setting or log)."""


@dataclass(frozen=True)
class VoiceSettings:
    """Every setting of a run (``voice.json``); ``problems()`` names each one outside its range."""

    audio: str
    base: str
    minutes: float = 5.0
    held_out: int = 10
    name: str = "voice"
    prompt: str | None = None
    min_seconds: float = 1.0
    max_seconds: float = 15.0
    seed: int = 0

    def problems(self) -> list[str]:
        out = []

        def number(flag: str, v, lo: float, hi: float, integer: bool = False, lo_open: bool = False) -> None:
            ok = isinstance(v, int) if integer else isinstance(v, (int, float)) and math.isfinite(v)
            ok = ok and not isinstance(v, bool) and (v > lo if lo_open else v >= lo) and v <= hi
            if not ok:
                kind = "an integer" if integer else "a number"
                out.append(f"{flag} must be {kind} in {'(' if lo_open else '['}{lo:g}, {hi:g}], not {v!r}")

        number("--minutes", self.minutes, 0, 24 * 60, lo_open=True)
        number("--held-out", self.held_out, 0, 1000, integer=True)
        if isinstance(self.held_out, int) and 0 < self.held_out < 10:
            out.append(f"--held-out must be 0 (train on every recording) or at least 10 (a WER worth reading), "
                       f"not {self.held_out}")  # fmt: skip
        number("--min-seconds", self.min_seconds, 0.3, 10)
        number("--max-seconds", self.max_seconds, 1, 30)
        if not out and self.max_seconds <= self.min_seconds:
            out.append(f"--max-seconds ({self.max_seconds:g}) must be above --min-seconds ({self.min_seconds:g})")
        number("--seed", self.seed, 0, 2**31 - 1, integer=True)
        if problem := file_name_problem(self.name, 64):
            out.append(f"--name {self.name!r} {problem}")
        elif "|" in self.name or self.name != self.name.strip():
            out.append(f"--name {self.name!r}: no '|' and no leading or trailing spaces")
        return out


# ---------------------------------------------------------------------------------------------- recordings
def folder_items(folder: Path, name: str, skipped: list[dict]) -> list[str]:
    """``audio|text|name`` list lines for the recordings of ``folder`` that have a ``<stem>.txt`` transcript;
    every file without its partner, with an unreadable or empty transcript, or with a second audio file of
    its stem is added to ``skipped``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in AUDIO_SUFFIXES]
    texts = {p.stem: p for p in files if p.suffix == ".txt"}
    lines, seen = [], {}
    for wav in audio:
        def skip(reason: str, detail: str, wav=wav) -> None:
            skipped.append({"file": str(wav), "reason": reason, "detail": detail})

        if wav.stem in seen:
            skip("duplicate", f"{seen[wav.stem].name} has the same name")
            continue
        seen[wav.stem] = wav
        txt = texts.get(wav.stem)
        if txt is None:
            skip("no_transcript", f"{wav.stem}.txt not found beside it")
            continue
        rows = read_lines(txt)
        if bad := [problem for _, _, problem in rows if problem]:
            skip("bad_transcript", f"{txt.name}: {bad[0]}")
            continue
        text = " ".join(line.strip() for _, line, _ in rows).strip()
        if not text:
            skip("empty_text", f"{txt.name} is empty")
            continue
        if "|" in text:
            skip("bad_transcript", f"{txt.name}: '|' in the text")
            continue
        lines.append(f"{wav.resolve()}|{text}|{name}")
    for stem, txt in texts.items():
        if stem not in seen:
            skipped.append({"file": str(txt), "reason": "no_audio",
                            "detail": f"no {stem}{{{','.join(AUDIO_SUFFIXES)}}} beside it"})  # fmt: skip
    return lines


def speech_span_s(wav: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(seconds from the first to the last frame of speech, dBFS of the loudest 20 ms frame) of a mono wav."""
    hop = max(1, int(FRAME_S * sample_rate))
    n = len(wav) // hop
    if n == 0:
        return 0.0, -math.inf
    frames = wav[: n * hop].astype(np.float64).reshape(n, hop)
    db = 10 * np.log10(np.maximum((frames**2).mean(1), 1e-20))
    peak = float(db.max())
    speech = np.flatnonzero(db >= peak - SPEECH_DB_BELOW_PEAK)
    return (speech[-1] - speech[0] + 1) * hop / sample_rate, peak


def screen_recording(wav: np.ndarray, sample_rate: int, text: str, min_s: float, max_s: float) -> tuple[str, str] | None:
    """(reason, detail) when a mono recording is unfit to train on, else None (see the module doc)."""
    seconds = len(wav) / sample_rate
    if sample_rate < MIN_SAMPLE_RATE:
        return "low_sample_rate", f"{sample_rate} Hz; record at {MIN_SAMPLE_RATE} Hz or more"
    if seconds < min_s:
        return "too_short", f"{seconds:.2f} s < --min-seconds {min_s:g}"
    if seconds > max_s:
        return "too_long", f"{seconds:.2f} s > --max-seconds {max_s:g}; cut it into sentences"
    if not np.isfinite(wav).all():
        return "non_finite", "NaN or inf samples"
    span, peak_db = speech_span_s(wav, sample_rate)
    if peak_db < SILENT_DBFS:
        return "silent", f"loudest 20 ms at {peak_db:.0f} dBFS (< {SILENT_DBFS:g}): silent, or far too quiet"
    clipped = float((np.abs(wav) >= CLIP_LEVEL).mean())
    if clipped > MAX_CLIPPED_SHARE:
        return "clipped", f"{100 * clipped:.2f}% of the samples at full scale: record at a lower level"
    rate = len(text) / max(span, FRAME_S)
    lo, hi = CHARS_PER_S
    if not lo <= rate <= hi:
        return "text_mismatch", (f"{len(text)} characters for {span:.2f} s of speech ({rate:.1f} a second, not "
                                 f"{lo:g}-{hi:g}): is the transcript this recording's?")  # fmt: skip
    return None


def choose_prompt(durations: dict[str, float], wanted: str | None = None) -> str:
    """The default prompt's id: ``wanted``, or the recording whose length is closest to PROMPT_SECONDS' target
    among those within its range (all of them when none is); ties by id."""
    if wanted is not None:
        return wanted
    lo, hi, target = PROMPT_SECONDS
    pool = [i for i, d in durations.items() if lo <= d <= hi] or list(durations)
    return min(sorted(pool), key=lambda i: abs(durations[i] - target))


def split_held_out(ids: list[str], held_out: int, seed: int) -> tuple[list[str], list[str]]:
    """(training ids, held-out ids): ``held_out`` drawn with ``seed`` when at least MIN_TRAIN_WITH_HELD_OUT are
    left to train on, else none."""
    ids = sorted(ids)
    if held_out == 0 or len(ids) < held_out + MIN_TRAIN_WITH_HELD_OUT:
        return ids, []
    test = set(random.Random(seed).sample(ids, held_out))
    return [i for i in ids if i not in test], [i for i in ids if i in test]


# ---------------------------------------------------------------------------------------------- the run
@dataclass
class Base:
    """What the base model fixes: its path, feature space, vocabulary, conditioning and sizes."""

    path: str
    space: str
    vocab: object
    conditioning: str
    alignment: str | None
    network: dict
    duration: dict | None
    max_duration_s: float
    frame_rate: float


def read_base(path: str) -> Base:
    """The base model at ``path`` (an F5 export dir or F5Module checkpoint) and the feature space it names;
    VoiceError when either cannot be loaded or the model cannot be fine-tuned here (an aligned model of another
    alignment than the aligner's phonemes)."""
    from tts.f5 import load
    from tts.features import load_space
    from tts.io import CheckpointError

    if not Path(path).exists():
        raise VoiceError(f"--base {path}: not found (an F5 export dir, e.g. work/demo/models/f5_semantic)")
    try:
        model = load(path)
    except (CheckpointError, OSError, ValueError) as e:
        raise VoiceError(f"--base {path}: not an F5 model ({e})") from e
    if model.conditioning == "aligned" and model.alignment != "phoneme":
        raise VoiceError(f"--base {path} is aligned on {model.alignment!r}: tts voice aligns phonemes "
                         "(tts data align); use a phoneme-aligned or a filler model")  # fmt: skip
    try:
        load_space(model.space)
    except (TTSError, OSError, ValueError) as e:
        where = Path(path) / "config.json" if Path(path).is_dir() else path
        raise VoiceError(f"--base {path}: its feature space {model.space!r} cannot be loaded ({e}); its VAE or "
                         f"vocoder must be where {where} says") from e  # fmt: skip
    return Base(str(Path(path).resolve()), model.space, model.vocab, model.conditioning, model.alignment,
                dict(model.net.args), model.duration.args if model.duration is not None else None,
                model.max_duration_s, model.frame_rate)  # fmt: skip


def recordings_digest(audio: Path) -> str:
    """A digest of the recordings' names, sizes and modification times (a folder's files; a list file's bytes and
    the files it names are not followed): a rerun on changed recordings is not a resume."""
    import hashlib

    files = sorted(p for p in audio.iterdir() if p.is_file() and not p.name.startswith(".")) if audio.is_dir() \
        else [audio]  # fmt: skip
    h = hashlib.sha256()
    for p in files:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def check_settings(out: Path, settings: dict) -> None:
    """Record ``settings`` in OUT/voice.json, or VoiceError when OUT holds a run made with others."""
    path = out / SETTINGS_NAME
    if path.is_file():
        earlier = read_json(path, f"delete {out} to start over").get("settings", {})
        diff = [f"{k}: {earlier.get(k)!r} there, {settings.get(k)!r} now" if k != "recordings" else
                "the recordings in --audio changed (files added, removed or rewritten)"
                for k in sorted(set(earlier) | set(settings)) if earlier.get(k) != settings.get(k)]  # fmt: skip
        if diff:
            raise VoiceError(f"{out} holds a run made with other settings ({'; '.join(diff)}): use another --out, or "
                             "delete it to start over")  # fmt: skip
        return
    atomic_write_json(path, {"settings": settings})


def fit_overrides(base: Base, settings: VoiceSettings, vocab: Path) -> list[str]:
    """The ``tts fit`` arguments that the base model (its vocabulary saved at ``vocab``), the data and the budget
    fix (after RECIPES)."""
    from tts.f5.dit import DiTConfig

    dit = {k: v for k, v in base.network.items() if k in DiTConfig.__dataclass_fields__}
    budget = {"class_path": "tts.budget.CPUTimeBudget", "init_args": {"max_cpu_time": round(settings.minutes * 60, 3)}}
    args = [f"--model.init_args.init_from={base.path}", f"--model.init_args.space={base.space}",
            f"--model.init_args.dit={json.dumps(dit)}", f"--model.init_args.max_duration_s={base.max_duration_s}",
            f"--model.init_args.vocab={vocab}", f"--data.init_args.vocab={vocab}",
            f"--data.init_args.max_frames_per_batch={round(BATCH_AUDIO_S * base.frame_rate)}",
            f"--data.init_args.max_duration={settings.max_seconds}", f"--seed_everything={settings.seed}",
            "--trainer.callbacks+=" + json.dumps(budget)]  # fmt: skip
    if base.duration is not None:
        args += [f"--model.init_args.duration_dim={base.duration['dim']}",
                 f"--model.init_args.duration_layers={base.duration['layers']}",
                 f"--model.init_args.duration_prompt_rate={str(bool(base.duration.get('prompt_rate'))).lower()}"]
    return args


def show_cpu_minutes(stop: threading.Event, budget_s: float, every_s: float = 30.0) -> None:
    """Until ``stop``: every ``every_s`` print the CPU minutes this process's children (the ``tts fit`` run and its
    data workers) have used, start-up included (the budget counts from the first step)."""
    import psutil

    while not stop.wait(every_s):
        used = 0.0
        for child in psutil.Process().children(recursive=True):
            try:
                t = child.cpu_times()
            except psutil.Error:
                continue
            used += t.user + t.system
        print(f"  fine-tuning: ~{used / 60:.1f} of {budget_s / 60:g} CPU minutes used", flush=True)


def budget_used(ckpt_path: Path) -> tuple[int, float | None]:
    """(optimizer steps, CPU seconds used) of a fine-tuning checkpoint."""
    from tts.io import load_checkpoint

    ckpt = load_checkpoint(ckpt_path)
    used = [v["cpu_seconds_used"] for k, v in (ckpt.get("callbacks") or {}).items()
            if k.startswith("CPUTimeBudget") and isinstance(v, dict) and "cpu_seconds_used" in v]  # fmt: skip
    return int(ckpt.get("global_step", 0)), (float(used[0]) if used else None)


def eval_rows(cuts: dict, ids: list[str], prompt: dict) -> list[dict]:
    """Benchmark rows: each recording's text spoken after the default prompt, the recording as ground truth."""
    return [{"id": i, "text": cuts[i]["text"], "gt_audio": cuts[i]["audio"], "speaker": cuts[i]["speaker"],
             **prompt} for i in ids]  # fmt: skip


def eval_spec(name: str, test_list: Path, base: str, model: Path, wer: bool) -> dict:
    """The ``tts bench`` spec of the evaluation: the recordings (ceiling), the base and the fine-tuned model, the
    TTS rows sampled as ``tts synth`` does by default; Whisper base only when ``wer``, GE2E SIM always."""
    tts = {"type": "tts", "nfe": 32, "cfg": 2.0, "sway": -1.0, "speed": 1.0, "durations": "predictor"}
    return {"name": f"voice {name}", "test_list": str(test_list), "seeds": [0], "asr": [EVAL_ASR] if wer else [],
            "similarity": EVAL_SIMILARITY, "baseline": "base", "device": "cpu",
            "notes": "tts voice: the voice's own recordings (ceiling), the base model and the fine-tuned one, "
                     "each TTS row prompted with the default prompt (OUT/model/prompt.wav)",
            "systems": [{"name": "recordings", "type": "ground_truth"}, {"name": "base", "model": base, **tts},
                        {"name": "fine_tuned", "model": str(model), **tts}]}  # fmt: skip


def summarize(report: dict, held_out: bool) -> dict:
    """The figures report.md shows: per system the WER (mean of utterances, 95% CI) and SIM to the prompt."""
    out = {}
    for s in report["systems"]:
        entry: dict = {"status": s["status"]}
        if s["status"] == "ok":
            asr = next(iter((s.get("asr") or {}).values()), None)
            if held_out and asr:
                entry["wer"] = asr["wer_mean"]
            entry["sim"] = s.get("sim")
        else:
            entry["error"] = s.get("error")
        out[s["name"]] = entry
    return out


def _pct(ci: dict | None) -> str:
    if not ci or ci.get("value") is None:
        return "-"
    return f"{100 * ci['value']:.1f}% ({100 * ci['low']:.1f}-{100 * ci['high']:.1f})"


def _sim(ci: dict | None) -> str:
    if not ci or ci.get("value") is None:
        return "-"
    return f"{ci['value']:.3f} ({ci['low']:.3f}-{ci['high']:.3f})"


def render_report(r: dict) -> str:
    """report.md from report.json's dict."""
    rec, ft, ev = r["recordings"], r["fine_tune"], r["evaluation"]
    lines = [f"# Voice {r['name']!r}: fine-tuned from {r['base']}", "",
             f"- Recordings: {rec['found']} found, {rec['usable']} usable, {len(rec['skipped'])} skipped; "
             f"{len(rec['train'])} for training ({rec['train_seconds'] / 60:.1f} min), {len(rec['held_out'])} held out.",
             f"- Fine-tuning: {ft['steps']} steps in {ft['cpu_seconds'] or 0:.0f} CPU seconds (budget "
             f"{ft['minutes']:g} CPU min, {ft['wall_seconds']:.0f} s wall).",
             f"- Model: {r['model']} (default prompt: {r['prompt']['id']}, \"{r['prompt']['text']}\").", ""]  # fmt: skip
    rows = ev["systems"]
    what = "held-out sentences" if ev["held_out"] else "training sentences (no WER: nothing held out)"
    lines += [f"Evaluated on {ev['utterances']} {what}, each spoken after the default prompt "
              f"({ev['asr'] or 'no ASR'}; SIM: {ev['similarity']} cosine to the prompt):", "",
              "| | WER (95% CI) | SIM to the prompt (95% CI) |", "|---|---|---|"]  # fmt: skip
    names = {"recordings": "your recordings (the ceiling)", "base": "base model (before)", "fine_tuned": "fine-tuned (after)"}
    for key in SYSTEMS:
        s = rows.get(key, {})
        if s.get("status") != "ok":
            lines.append(f"| {names[key]} | failed: {s.get('error', 'not run')} | |")
            continue
        lines.append(f"| {names[key]} | {_pct(s.get('wer'))} | {_sim(s.get('sim'))} |")
    lines += ["", f"Per utterance, audio and transcripts: {ev['report']}. Skipped recordings:"]
    lines += [f"- {Path(s['file']).name}: {s['reason']} ({s['detail']})" for s in rec["skipped"]] or ["- none"]
    lines += ["", "Speak with it (rows without ref_audio / ref_text use the default prompt):", "", "```",
              "echo '{\"id\": \"hello\", \"text\": \"Hello, this is my voice.\"}' > lines.jsonl",
              f"tts synth --model {r['model']} --input lines.jsonl --out said", "```", "",
              "Command:", "", "```", r["command"], "```", ""]  # fmt: skip
    return "\n".join(lines)


def run_voice(settings: VoiceSettings, out: Path, command: str) -> dict:
    """Every stage into ``out`` (skipping finished ones); returns report.json's dict."""
    if problems := settings.problems():
        raise VoiceError("; ".join(problems))
    audio = Path(settings.audio)
    if not audio.exists():
        raise VoiceError(f"--audio {audio}: not found (a folder of name.wav + name.txt, or an audio|text|speaker list)")
    if audio.suffix.lower() in AUDIO_SUFFIXES:
        raise VoiceError(f"--audio {audio} is one recording: give the folder that holds it and the others, each "
                         "name.wav beside its name.txt")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    with out_dir_lock(out, LOCK_NAME, "tts voice"):
        return _run(settings, out, command)


def _run(settings: VoiceSettings, out: Path, command: str) -> dict:
    from lhotse import CutSet, load_manifest

    from tts.data.importers import import_list
    from tts.demo import Stage, fit, fit_argv
    from tts.f5.export import PROMPT_AUDIO_NAME, PROMPT_NAME, load_prompt

    t0 = time.time()
    base = read_base(settings.base)
    if settings.max_seconds > base.max_duration_s / 2:
        raise VoiceError(f"--max-seconds {settings.max_seconds:g}: the base model speaks at most "
                         f"{base.max_duration_s:g} s with its prompt; use at most {base.max_duration_s / 2:g}")  # fmt: skip
    record = {**asdict(settings), "audio": str(Path(settings.audio).resolve()), "base": base.path, "space": base.space,
              "recordings": recordings_digest(Path(settings.audio))}
    check_settings(out, record)
    aligned = base.conditioning == "aligned"
    st = Stage(out, total=7 if aligned else 6)
    data, logs = out / "data", out / "logs"

    def stage(name: str, fn, *outputs: Path):
        marker = out / "stages" / f"{name}.json"
        if marker.exists() and not all(p.exists() for p in outputs):
            marker.unlink()  # its outputs went missing: made again
        return st.run(name, fn)

    def do_import() -> dict:
        skipped: list[dict] = []
        src = Path(settings.audio)
        if src.is_dir():
            lines = folder_items(src, settings.name, skipped)
            listing = atomic_write_text(data / "recordings.list", "".join(line + "\n" for line in lines))
        else:
            listing = src
        cuts, report = import_list(listing)
        skipped += [{"file": source, "reason": reason, "detail": detail} for _, source, reason, detail in report.items]
        cuts.to_file(data / "cuts_all.jsonl.gz")
        return {"found": len(cuts) + len(skipped), "skipped": skipped}

    imported = stage("import", do_import, data / "cuts_all.jsonl.gz")

    def do_screen() -> dict:
        from tts.data.validate import SkipReport
        from tts.text import TextError

        report = SkipReport("screen")
        kept = []
        for cut in load_manifest(data / "cuts_all.jsonl.gz"):
            sup = cut.supervisions[0]
            src = cut.recording.sources[0].source
            wav = cut.load_audio().mean(axis=0)
            problem = screen_recording(wav, cut.sampling_rate, sup.text, settings.min_seconds, settings.max_seconds)
            if problem is None:
                try:
                    base.vocab.encode(sup.text, on_unknown="error", utt_id=Path(src).name)
                except TextError as e:
                    problem = "unspeakable_text", str(e)
            if problem:
                report.add(cut.id, src, *problem)
            else:
                kept.append(cut)
        report.kept = len(kept)
        report.log()
        skipped = [{"file": s, "reason": r, "detail": d} for _, s, r, d in report.items]
        all_skipped = imported["skipped"] + skipped
        if len(kept) < MIN_RECORDINGS:
            shown = "; ".join(f"{Path(s['file']).name}: {s['reason']}" for s in all_skipped[:8])
            raise VoiceError(f"{settings.audio}: {len(kept)} usable recordings, tts voice needs at least "
                             f"{MIN_RECORDINGS}" + (f" (skipped: {shown})" if shown else ""))  # fmt: skip
        by_id = {c.id: c for c in kept}
        train, held = split_held_out(list(by_id), settings.held_out, settings.seed)
        wanted = None
        if settings.prompt is not None:
            named = [i for i in train if Path(by_id[i].recording.sources[0].source).stem == settings.prompt]
            if not named:
                raise VoiceError(f"--prompt {settings.prompt!r}: not one of the training recordings "
                                 "(a usable recording's name without its extension, not a held-out one)")  # fmt: skip
            wanted = named[0]
        prompt = choose_prompt({i: by_id[i].duration for i in train}, wanted)
        CutSet.from_cuts(by_id[i] for i in train).to_file(data / "cuts_train.jsonl.gz")
        return {"usable": len(kept), "skipped": all_skipped, "train": train, "held_out": held, "prompt": prompt,
                "train_seconds": sum(by_id[i].duration for i in train),
                "cuts": {i: {"text": c.supervisions[0].text, "audio": c.recording.sources[0].source,
                             "speaker": c.supervisions[0].speaker} for i, c in by_id.items()}}  # fmt: skip

    screened = stage("screen", do_screen, data / "cuts_train.jsonl.gz")
    train_cuts = data / "cuts_train.jsonl.gz"

    def run_tool(module: str, argv: list[str], what: str) -> None:
        import importlib

        if importlib.import_module(module).main(argv) != 0:
            raise VoiceError(f"{what} failed (its error is above); rerun the same command once it is fixed")

    if aligned:
        stage("align", lambda: run_tool("tts.data.align", ["--cuts", str(train_cuts), "--out", str(out / "aligned"),
                                                          "--seed", str(settings.seed)], "aligning the recordings"),
              out / "aligned" / "cuts_train.jsonl.gz")  # fmt: skip
        train_cuts = out / "aligned" / "cuts_train.jsonl.gz"
    feats = out / "feats" / "train"
    stage("features", lambda: run_tool("tts.features.extract", ["--space", base.space, "--cuts", str(train_cuts),
                                                               "--out", str(feats)], "extracting features"),
          feats / "cuts.jsonl.gz")  # fmt: skip
    recipes = [r for r in RECIPES if aligned or not r.endswith("aligned.yaml")]
    base.vocab.save(data / "vocab.json")
    overrides = fit_overrides(base, settings, data / "vocab.json")
    fit_log = logs / "fit_finetune.log"

    def do_finetune() -> dict:
        print(f"  fine-tuning for {settings.minutes:g} CPU minutes; progress in {fit_log}", flush=True)
        started, stop = time.time(), threading.Event()
        threading.Thread(target=show_cpu_minutes, args=(stop, settings.minutes * 60), daemon=True).start()
        try:
            last = Path(fit("finetune", recipes, overrides, out, env={"OMP_WAIT_POLICY": "PASSIVE"}))
        except RuntimeError as e:
            tail = [line for line in fit_log.read_text(errors="replace").splitlines() if line.strip()] \
                if fit_log.is_file() else []  # fmt: skip
            raise VoiceError(f"fine-tuning failed: {tail[-1] if tail else e} (log: {fit_log})") from e
        finally:
            stop.set()
        steps, cpu = budget_used(last)
        return {"checkpoint": str(last), "steps": steps, "cpu_seconds": cpu, "wall_seconds": time.time() - started}

    last = out / "runs" / "finetune" / "tb" / "version_0" / "checkpoints" / "last.ckpt"
    tuned = stage("finetune", do_finetune, last)
    model_dir = out / "model"

    def do_export() -> dict:
        from tts.audio import read_audio
        from tts.data.alignment import list_alignment
        from tts.f5.export import export, save_prompt

        export(last, model_dir)
        cut = next(c for c in load_manifest(train_cuts) if c.id == screened["prompt"])
        wav, sr = read_audio(cut.recording.sources[0].source)
        alignment = list_alignment(cut, base.alignment) if aligned else None
        save_prompt(model_dir, wav.mean(axis=1), sr, cut.supervisions[0].text, alignment)
        return {"model": str(model_dir)}

    stage("export", do_export, model_dir / "model.safetensors", model_dir / PROMPT_NAME, model_dir / PROMPT_AUDIO_NAME)
    prompt_row = load_prompt(model_dir)
    held = screened["held_out"]
    eval_ids = held or [i for i in screened["train"] if i != screened["prompt"]][:10]

    def do_evaluate() -> dict:
        from tts.bench.runner import run_bench

        rows = eval_rows(screened["cuts"], eval_ids, prompt_row)
        atomic_write_text(data / "eval_list.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        bench = run_bench(eval_spec(settings.name, data / "eval_list.jsonl", base.path, model_dir, bool(held)),
                          out / "eval")  # fmt: skip
        return {"held_out": bool(held), "utterances": len(rows), "asr": "Whisper base" if held else None,
                "similarity": "GE2E (resemblyzer)", "report": str(out / "eval" / "report.md"),
                "systems": summarize(bench, bool(held))}  # fmt: skip

    evaluated = stage("evaluate", do_evaluate, out / "eval" / "report.json")
    prompt_cut = screened["cuts"][screened["prompt"]]
    report = {"name": settings.name, "base": base.path, "model": str(model_dir), "command": command,
              "settings": record,
              "recordings": {"found": imported["found"], "usable": screened["usable"], "skipped": screened["skipped"],
                             "train": screened["train"], "held_out": held, "train_seconds": screened["train_seconds"]},
              "prompt": {"id": screened["prompt"], "file": prompt_cut["audio"], "text": prompt_cut["text"]},
              "fine_tune": {**{k: tuned[k] for k in ("steps", "cpu_seconds", "wall_seconds")},
                            "minutes": settings.minutes,
                            "command": "tts " + shlex.join(fit_argv("finetune", recipes, overrides, out)),
                            "log": str(fit_log)},
              "evaluation": evaluated, "wall_seconds_this_run": time.time() - t0}  # fmt: skip
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "report.md", render_report(report))
    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts voice",
        description="Your recordings -> a model of your voice: fine-tunes a trained F5 model (--base, e.g. tts "
        "demo's OUT/models/f5_semantic) on a folder of name.wav + name.txt pairs (the transcript of each "
        "recording; .flac and .ogg too) or an audio|text|speaker list (tts data import's list format). Stages: "
        "import; screen (too short or long, silent, clipped, under 16 kHz, text the model cannot speak or that "
        "does not fit the audio's length: each such file is reported and skipped); align (tts data align, for "
        "aligned models); features (tts extract features in the base model's space); finetune (tts fit with "
        "init_from=BASE for --minutes of CPU time); export (OUT/model, with a default prompt chosen from your "
        "recordings); evaluate (tts bench of your recordings, the base and the fine-tuned model: WER on "
        "--held-out recordings' sentences, SIM to the prompt; OUT/report.md and report.json). Each finished "
        "stage is recorded in OUT/stages and skipped when the same command runs again, so an interrupted run "
        "resumes (the fine-tuning from its last.ckpt). Nothing downloads. Then: tts synth --model OUT/model with "
        "rows of id and text only (the default prompt speaks them in your voice).",
    )
    p.add_argument("--audio", required=True, help="folder of name.wav + name.txt recordings, or an "
                   "audio_path|text|speaker list file (paths relative to it)")
    p.add_argument("--base", required=True, help="the trained F5 model to start from (an export dir or F5Module "
                   "checkpoint, e.g. work/demo/models/f5_semantic); its feature space's VAE or vocoder must load")
    p.add_argument("--out", required=True, help="output folder (OUT/model is the model; OUT/report.md the report)")
    p.add_argument("--minutes", type=float, default=5.0, help="CPU minutes of fine-tuning, (0, 1440] (default 5: "
                   "~3 wall minutes on 2 idle cores for the demo DiT)")
    p.add_argument("--held-out", type=int, default=10, help="recordings kept out of training to measure WER on: 0 "
                   f"or 10-1000 (default 10); held out only when at least {MIN_TRAIN_WITH_HELD_OUT} are left to train on")
    p.add_argument("--name", default="voice", help="the voice's name (speaker of the manifests; folder input), a "
                   "file name of at most 64 bytes without '|' (default voice)")
    p.add_argument("--prompt", default=None, help="the default prompt: a training recording's name without its "
                   f"extension (default: the one closest to {PROMPT_SECONDS[2]:g} s among those of "
                   f"{PROMPT_SECONDS[0]:g}-{PROMPT_SECONDS[1]:g} s)")
    p.add_argument("--min-seconds", type=float, default=1.0, help="shorter recordings are skipped, 0.3-10 (default 1)")
    p.add_argument("--max-seconds", type=float, default=15.0, help="longer recordings are skipped, 1-30 and at most "
                   "half the base model's longest (default 15)")
    p.add_argument("--seed", type=int, default=0, help="held-out draw, aligner and training seed, 0 to 2^31-1 (default 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = build_parser().parse_args(argv)
    settings = VoiceSettings(audio=a.audio, base=a.base, minutes=a.minutes, held_out=a.held_out, name=a.name,
                             prompt=a.prompt, min_seconds=a.min_seconds, max_seconds=a.max_seconds, seed=a.seed)  # fmt: skip
    out = Path(a.out)
    report = run_voice(settings, out, "tts voice " + " ".join(argv))
    print(Path(out / "report.md").read_text(encoding="utf-8").split("\n\nPer utterance")[0])
    print(f"\nmodel: {report['model']}\nreport: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
