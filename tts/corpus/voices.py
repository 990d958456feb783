"""The voices of the embedded corpus: the synthesizers, the many-speaker inventory, seeded transforms, held-out families.

``Voice`` / ``run_voice``: one synthesizer voice (piper, flite, festival, espeak-ng) speaking one text.

The many-speaker corpus (``tts data demo --voices many``) speaks with every base voice this machine has
(``detect_base_voices``; each must speak a probe sentence, the rest are listed as skipped with the reason):

- the natural piper voice en_US-joe-medium (always a training speaker);
- flite's built-in voices (``flite -lv``) but ``kal`` (the 8 kHz copy of the kal16 diphones) and the
  limited-domain ones (``awb_time`` speaks clock times only);
- every festival voice installed under /usr/share/festival/voices;
- espeak-ng: each of ``ESPEAK_VARIANTS`` (a timbre: pitch, formants, voicing) on one English accent,
  the accents taken in turn (``ESPEAK_ACCENTS``); a variant that leaves the accent's audio unchanged is
  skipped (espeak-ng ignores variants on ``en-gb``, and an unknown variant falls back to the accent);
- MBROLA voices through espeak-ng, only where the ``mbrola`` program and the voice are installed.

Each base voice also gets ``n`` transformed copies (``draw_transforms``): a speaker id of its own
(``<base>-t1`` ...) whose utterances are the base voice's audio passed through sox (``apply_sox``): pitch
(cents, formants move with it), tempo (speaking rate), a peaking EQ band and bass/treble shelves, drawn
from ``random.Random(f"{seed}:{base}")``, so a copy's parameters depend only on the seed and its base.

A *family* is a base voice with its copies; recordings of one human speaker in two engines are one family
(CMU ARCTIC slt in flite and festival; kal in flite's kal16 and festival's kal_diphone). Held-out families
(``choose_heldout``) are unseen test speakers: none of their speakers is in train or dev.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from tts.errors import TTSError

# piper's synthesis scales for the corpus (None: the voice's own: length 1.0, noise 0.667, noise_w 0.8)
PIPER_SCALES = {"length_scale": None, "noise_scale": None, "noise_w_scale": None}
PROBE_TEXT = "The quick brown fox jumps over the lazy dog near the quiet river."
SYNTH_TIMEOUT_S = 120
NATURAL_SPEAKER = "piper-joe"
FESTIVAL_VOICE_ROOTS = (Path("/usr/share/festival/voices"), Path("/usr/lib/festival/voices"))
MBROLA_ROOTS = (Path("/usr/share/mbrola"), Path("/usr/share/mbrola/voices"))

# espeak-ng accents (the -v name, the label in speaker ids), taken in turn by the variants below.
ESPEAK_ACCENTS = (("en-us", "en-us"), ("en", "en-gb"), ("en-gb-scotland", "en-gb-scotland"),
                  ("en-gb-x-rp", "en-gb-x-rp"), ("en-029", "en-029"), ("en-us-nyc", "en-us-nyc"),
                  ("en-gb-x-gbclan", "en-gb-x-gbclan"), ("en-gb-x-gbcwmd", "en-gb-x-gbcwmd"))
# espeak-ng variants, each a distinct timbre: measured 2026-12-08 on en-us (3 sentences each), every pair's
# GE2E (resemblyzer) cosine is < 0.92 (m1-m6 are >= 0.92 to the default, f1/f4/f5 to f2/f3, ...) and Whisper
# base WER <= 35%; effect variants (whisper, whisperf, robosoft*, UniRobot, Demonic, announcer, Tweaky) are
# left out. Order = preference: ``--espeak-voices N`` takes the first N. "" is the accent's own voice.
ESPEAK_VARIANTS = ("", "m7", "f2", "klatt", "f3", "m8", "Alicia", "klatt4", "Andrea", "Denis", "Annie", "Gene",
                   "Hugo", "Jacky", "anika", "Lee", "steph", "Marco", "grandma", "Mario", "Diogo", "Storm",
                   "benjamin", "boris", "david", "edward", "gustave", "iven", "iven4", "pablo", "paul", "pedro",
                   "quincy", "rob", "sandro", "victor", "zac")
# flite voices that are not base voices of their own: kal is kal16 at 8 kHz; *_time speak clock times only
FLITE_SKIP = {"kal": "the 8 kHz copy of kal16 (same speaker)"}
ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# transform ranges: |pitch| in cents (GE2E cosine to the base 0.6-0.9 over this range, WER unchanged),
# tempo factor, EQ band centre (Hz, log-uniform), Q, |gain| dB, shelf gains dB
PITCH_CENTS = (180.0, 480.0)
TEMPO = (0.9, 1.1)
EQ_HZ, EQ_Q, EQ_DB, SHELF_DB = (300.0, 3000.0), (0.7, 2.0), (3.0, 8.0), 5.0


class VoiceSpecError(TTSError, ValueError):
    """A many-voice option that cannot be met (held-out voice unknown, too few families, ...)."""


@dataclass(frozen=True)
class Voice:
    """One synthesizer voice = one speaker. ``weight`` is its share of the sentences."""

    speaker: str
    engine: str  # "piper" | "flite" | "festival" | "espeak-ng"
    name: str
    weight: int

    def command(self, text_file: str, wav_file: str) -> list[str]:
        if self.engine == "flite":
            return ["flite", "-voice", self.name, "-f", text_file, "-o", wav_file]
        if self.engine == "festival":
            return ["text2wave", "-eval", f"(voice_{self.name})", text_file, "-o", wav_file]
        if self.engine == "espeak-ng":
            return ["espeak-ng", "-v", self.name, "-f", text_file, "-w", wav_file]
        raise ValueError(f"unknown engine {self.engine!r}")


def run_voice(voice: Voice, text: str) -> tuple[np.ndarray, int]:
    """Synthesize ``text`` with ``voice`` in a temp dir; (float32 mono samples, sample rate)."""
    from tts.audio import read_audio

    if voice.engine == "piper":
        from tts.corpus import piper_voice

        u = piper_voice.synthesize(piper_voice.load_voice(threads=1), text, **PIPER_SCALES)
        return u.audio, u.sample_rate

    with tempfile.TemporaryDirectory(prefix="ttsdemo_") as tmp:
        txt, wav = os.path.join(tmp, "in.txt"), os.path.join(tmp, "out.wav")
        Path(txt).write_text(text + "\n", encoding="utf-8")
        proc = subprocess.run(voice.command(txt, wav), capture_output=True, text=True, timeout=SYNTH_TIMEOUT_S)
        if proc.returncode != 0 or not os.path.exists(wav):
            err = (proc.stderr or proc.stdout).strip().splitlines()
            raise RuntimeError(f"{voice.engine} -v {voice.name} exited {proc.returncode}: {err[-1] if err else ''}")
        data, sr = read_audio(wav)
    return data.mean(axis=1), sr


def engine_version(cmd: list[str]) -> str:
    """The version a synthesizer prints for ``cmd`` (e.g. ``["flite", "--version"]``), or "unknown"."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = [line.strip() for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    text = " ".join(lines)
    m = re.search(r"(flite-[\w.\-]+|\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else (lines[0] if lines else "unknown")


def probe_piper() -> dict:
    """The natural voice's identity and speed (x real time on one thread); PiperVoiceMissingError names what is missing."""
    from tts.corpus import piper_voice

    info = piper_voice.voice_info()
    voice = piper_voice.load_voice(threads=1, cache=False)  # workers load their own after the fork
    piper_voice.synthesize(voice, "Hello.")  # warm-up, out of the timing
    t0 = time.perf_counter()
    u = piper_voice.synthesize(voice, PROBE_TEXT, **PIPER_SCALES)
    wall = time.perf_counter() - t0
    return {"version": f"piper-tts {info['piper_tts']}", "native_sample_rate": u.sample_rate,
            "probe_x_real_time": round(len(u.audio) / u.sample_rate / wall, 1), "alignments": "phoneme",
            "voice_package": info["voice_package"], "sha256": info["sha256"], "scales": dict(PIPER_SCALES)}


def probe(voice: Voice) -> tuple[dict, str]:
    """Speak the probe sentence: ({native_sample_rate, probe_x_real_time}, sha1 of the audio).

    RuntimeError says why the voice is not usable (the synthesizer failed, or the audio is empty)."""
    t0 = time.perf_counter()
    wav, sr = run_voice(voice, PROBE_TEXT)
    wall = time.perf_counter() - t0
    if len(wav) < sr // 2 or float(np.abs(wav).max()) < 1e-3:
        raise RuntimeError("empty audio")
    digest = hashlib.sha1(np.ascontiguousarray(wav, dtype=np.float32).tobytes()).hexdigest()
    return {"native_sample_rate": sr, "probe_x_real_time": round(len(wav) / sr / wall, 1)}, digest


def natural_weight(share: float, other_weights: list[int]) -> int:
    """Round-robin weight that gives the natural voice ``share`` of the utterances next to the others."""
    if not other_weights or share >= 1.0:
        return 1
    return max(1, round(share / (1.0 - share) * sum(other_weights)))


def voice_schedule(voices: list[dict]) -> list[dict]:
    """Deterministic weighted round robin (smooth: heavy voices are spread, not bunched)."""
    total = sum(v["weight"] for v in voices)
    current = [0] * len(voices)
    order = []
    for _ in range(total):
        for i, v in enumerate(voices):
            current[i] += v["weight"]
        best = max(range(len(voices)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(voices[best])
    return order


# ---------------------------------------------------------------- transforms
@dataclass(frozen=True)
class Transform:
    """A voice transformation, applied by sox in this order: pitch, tempo, EQ band, bass, treble."""

    pitch_cents: float
    tempo: float
    eq_hz: float
    eq_q: float
    eq_db: float
    bass_db: float
    treble_db: float

    def sox_effects(self) -> list[str]:
        return ["pitch", f"{self.pitch_cents:g}", "tempo", "-s", f"{self.tempo:g}",
                "equalizer", f"{self.eq_hz:g}", f"{self.eq_q:g}q", f"{self.eq_db:g}",
                "bass", f"{self.bass_db:g}", "treble", f"{self.treble_db:g}"]


def _pitch_from_unit(u: float) -> float:
    """Map u in [0, 1) onto -PITCH_CENTS[1]..-PITCH_CENTS[0] then PITCH_CENTS[0]..PITCH_CENTS[1], linearly."""
    lo, hi = PITCH_CENTS
    x = u * 2 * (hi - lo)
    return -hi + x if x < hi - lo else lo + (x - (hi - lo))


def draw_transforms(base: str, n: int, seed: int) -> list[Transform]:
    """``n`` transforms of the base voice ``base``, a function of (seed, base) only.

    The pitch shifts are stratified (each copy draws from its own 1/n of the range, strata in a seeded
    order), so two copies of one voice are never the same pitch; the other parameters are uniform."""
    rng = random.Random(f"{seed}:{base}")
    strata = list(range(n))
    rng.shuffle(strata)
    out = []
    for k in strata:
        out.append(Transform(
            pitch_cents=round(_pitch_from_unit((k + rng.random()) / n), 1),
            tempo=round(rng.uniform(*TEMPO), 3),
            eq_hz=round(float(np.exp(rng.uniform(*np.log(EQ_HZ)))), 1),
            eq_q=round(rng.uniform(*EQ_Q), 2),
            eq_db=round(rng.choice((-1.0, 1.0)) * rng.uniform(*EQ_DB), 2),
            bass_db=round(rng.uniform(-SHELF_DB, SHELF_DB), 2),
            treble_db=round(rng.uniform(-SHELF_DB, SHELF_DB), 2),
        ))
    return out


def apply_sox(wav: np.ndarray, sample_rate: int, effects: list[str]) -> np.ndarray:
    """Run ``sox`` ``effects`` on float32 mono samples (raw float through pipes, no clipping); same rate."""
    fmt = ["-t", "raw", "-e", "floating-point", "-b", "32", "-c", "1"]
    proc = subprocess.run(["sox", *fmt, "-r", str(sample_rate), "-", *fmt, "-", *effects],
                          input=np.ascontiguousarray(wav, dtype=np.float32).tobytes(), capture_output=True,
                          timeout=SYNTH_TIMEOUT_S)
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"sox {' '.join(effects)} exited {proc.returncode}: {err[-1] if err else ''}")
    return np.frombuffer(proc.stdout, dtype=np.float32).copy()


# ---------------------------------------------------------------- the inventory
@dataclass(frozen=True)
class Speaker:
    """One speaker of the many-voice corpus: a base voice, or a transformed copy of exactly one."""

    speaker: str
    engine: str
    name: str
    base: str  # the base voice's speaker id (itself for a base voice)
    family: str
    transform: Transform | None = None
    heldout: bool = False

    def entry(self, weight: int) -> dict:
        """The schedule entry ``tts.corpus.build.make_job`` takes (``transform``: sox effects or absent)."""
        e = {"speaker": self.speaker, "engine": self.engine, "name": self.name, "weight": weight}
        if self.transform is not None:
            e["transform"] = self.transform.sox_effects()
        return e

    def info(self) -> dict:
        """Its corpus.json record."""
        return {"base": self.base, "engine": self.engine, "voice": self.name, "family": self.family,
                "transform": asdict(self.transform) if self.transform is not None else None,
                "sox_effects": self.transform.sox_effects() if self.transform is not None else None,
                "split": "heldout" if self.heldout else "train"}


def family_of(engine: str, name: str) -> str:
    """The family (one human speaker, or one espeak-ng timbre) of a base voice."""
    if engine == "piper":
        return NATURAL_SPEAKER
    if engine == "flite":
        return "kal" if name.startswith("kal") else f"arctic-{name}"
    if engine == "festival":
        m = re.match(r"cmu_us_([a-z0-9]+)_arctic", name)
        if m:
            return f"arctic-{m.group(1)}"
        m = re.match(r"([a-z0-9]+)_diphone$", name)
        return m.group(1) if m else name.replace("_", "-")
    if name.startswith("mb-"):
        return f"mbrola-{name[3:]}"
    variant = name.split("+", 1)[1] if "+" in name else ""
    return f"espeak-{variant.lower().replace(' ', '-') or 'default'}"


def _espeak_id(accent_label: str, variant: str) -> str:
    return f"espeak-{accent_label}" + (f"-{variant.lower()}" if variant else "")


def candidate_voices(espeak_voices: int | None = None) -> list[Voice]:
    """The Debian base voices to probe, in a fixed order (weights 0: set by the build)."""
    out: list[Voice] = []
    if shutil.which("flite"):
        listed = subprocess.run(["flite", "-lv"], capture_output=True, text=True, timeout=30).stdout
        for name in listed.split(":", 1)[-1].split():
            out.append(Voice(f"flite-{name.replace('_', '-')}", "flite", name, 0))
    if shutil.which("text2wave"):
        for root in FESTIVAL_VOICE_ROOTS:
            for d in sorted(root.glob("*/*")) if root.is_dir() else ():
                if d.is_dir():
                    out.append(Voice(f"festival-{d.name.replace('_', '-')}", "festival", d.name, 0))
    if shutil.which("espeak-ng"):
        variants = ESPEAK_VARIANTS if espeak_voices is None else ESPEAK_VARIANTS[:espeak_voices]
        for i, variant in enumerate(variants):
            accent, label = ESPEAK_ACCENTS[i % len(ESPEAK_ACCENTS)]
            out.append(Voice(_espeak_id(label, variant), "espeak-ng", accent + (f"+{variant}" if variant else ""), 0))
        listed = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True, timeout=30).stdout
        for mb in sorted(set(re.findall(r"\smb/(mb-[\w-]+)", listed))):
            out.append(Voice(f"mbrola-{mb[3:]}", "espeak-ng", mb, 0))
    return out


def _skip_reason(v: Voice, names: set[str]) -> str | None:
    """Why a candidate is not probed at all (None: probe it)."""
    if v.engine == "flite":
        if v.name in FLITE_SKIP and v.name + "16" in names:
            return FLITE_SKIP[v.name]
        if v.name.endswith("_time"):
            return "limited-domain voice (speaks clock times only)"
    if v.name.startswith("mb-"):
        if not shutil.which("mbrola"):
            return "the mbrola program is not installed"
        voice = v.name[3:].split("-")[0]
        if not any((root / voice).exists() for root in MBROLA_ROOTS):
            return f"MBROLA voice {voice} is not installed (under /usr/share/mbrola)"
    return None


def detect_base_voices(natural: bool = True, espeak_voices: int | None = None) -> tuple[list[dict], list[dict]]:
    """(base voices that speak the probe sentence, skipped candidates with the reason), in a fixed order.

    Each base voice: {speaker, engine, name, family, version, native_sample_rate, probe_x_real_time, ...};
    ``natural`` puts the piper voice first (PiperVoiceMissingError names what is missing)."""
    versions = {"flite": engine_version(["flite", "--version"]) if shutil.which("flite") else None,
                "festival": engine_version(["festival", "--version"]) if shutil.which("text2wave") else None,
                "espeak-ng": engine_version(["espeak-ng", "--version"]) if shutil.which("espeak-ng") else None}
    found: list[dict] = []
    if natural:
        found.append({"speaker": NATURAL_SPEAKER, "engine": "piper", "name": "en_US-joe-medium",
                      "family": NATURAL_SPEAKER, **probe_piper()})
    skipped: list[dict] = []
    cands = candidate_voices(espeak_voices)
    names = {v.name for v in cands}
    accent_audio: dict[str, str] = {}  # espeak accent -> sha1 of its own probe audio
    warmed: set[str] = set()
    for v in cands:
        reason = _skip_reason(v, names)
        if reason is None and v.engine not in warmed:  # an engine's first call pays for cold caches
            warmed.add(v.engine)
            try:
                run_voice(v, "Hello.")
            except Exception:
                pass
        if reason is None:
            try:
                info, digest = probe(v)
            except Exception as e:
                reason = f"{type(e).__name__}: {e}"
        if reason is None and v.engine == "espeak-ng" and not v.name.startswith("mb-"):
            accent = v.name.split("+")[0]
            if "+" not in v.name:
                accent_audio[accent] = digest
            else:
                if accent not in accent_audio:
                    try:
                        accent_audio[accent] = probe(Voice(v.speaker, v.engine, accent, 0))[1]
                    except Exception:
                        accent_audio[accent] = ""
                if accent_audio[accent] == digest:
                    reason = f"the variant leaves espeak-ng {accent}'s audio unchanged"
        if reason is not None:
            skipped.append({"speaker": v.speaker, "engine": v.engine, "name": v.name, "reason": reason})
            continue
        found.append({"speaker": v.speaker, "engine": v.engine, "name": v.name, "family": family_of(v.engine, v.name),
                      "version": versions[v.engine], **info})
    return found, skipped


def make_speakers(bases: list[dict], transforms_per_voice: int, seed: int) -> list[Speaker]:
    """Each base voice, then its ``transforms_per_voice`` seeded copies ``<base>-t1`` ...; none held out yet."""
    out = []
    for b in bases:
        if not ID_RE.match(b["speaker"]):
            raise VoiceSpecError(f"base voice id {b['speaker']!r} is not a safe speaker id ({ID_RE.pattern})")
        out.append(Speaker(b["speaker"], b["engine"], b["name"], b["speaker"], b["family"]))
        for k, t in enumerate(draw_transforms(b["speaker"], transforms_per_voice, seed), start=1):
            out.append(Speaker(f"{b['speaker']}-t{k}", b["engine"], b["name"], b["speaker"], b["family"], t))
    return out


def heldout_quota(group_sizes: dict[str, int], k: int) -> dict[str, int]:
    """How many held-out families each engine gives: one from every engine with >= 2 families (largest first),
    the rest in proportion to the engines' sizes; every engine keeps at least one training family."""
    quota = {g: 0 for g in group_sizes}
    eligible = sorted((g for g, n in group_sizes.items() if n >= 2), key=lambda g: (-group_sizes[g], g))
    total = sum(group_sizes[g] for g in eligible)
    if k > total - len(eligible):
        raise VoiceSpecError(f"cannot hold out {k} voice families: the engines have {dict(group_sizes)} families "
                             f"(the natural voice never held out) and each keeps one in training; "
                             f"ask for fewer (--heldout) or more espeak-ng voices (--espeak-voices)")
    for g in eligible[:k]:
        quota[g] = 1
    while sum(quota.values()) < k:
        room = [g for g in eligible if quota[g] < group_sizes[g] - 1]
        g = max(room, key=lambda g: (group_sizes[g] * k / total - quota[g], -eligible.index(g)))
        quota[g] += 1
    return quota


def choose_heldout(bases: list[dict], k: int, seed: int, names: list[str] | None = None) -> list[str]:
    """The held-out families (sorted): the families of ``names`` (base voice ids or family names), else ``k``
    drawn by the seeded rule (``heldout_quota`` per engine, a seeded choice within each). Never the natural voice."""
    families: dict[str, str] = {}  # family -> engine of its first base voice
    for b in bases:
        families.setdefault(b["family"], b["engine"])
    if names is not None:
        by_name = {b["speaker"]: b["family"] for b in bases} | {f: f for f in families}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise VoiceSpecError(f"held-out voice(s) {', '.join(unknown)} not found here; base voices: "
                                 f"{', '.join(b['speaker'] for b in bases)}")
        chosen = sorted({by_name[n] for n in names})
        if NATURAL_SPEAKER in chosen:
            raise VoiceSpecError(f"the natural voice {NATURAL_SPEAKER} stays a training speaker; it cannot be held out")
        return chosen
    groups: dict[str, list[str]] = {}
    for fam, engine in families.items():
        if fam != NATURAL_SPEAKER:
            groups.setdefault(engine, []).append(fam)
    quota = heldout_quota({g: len(f) for g, f in groups.items()}, k)
    rng = random.Random(f"{seed}:heldout")
    chosen = []
    for g in sorted(groups):
        chosen += rng.sample(sorted(groups[g]), quota[g])
    return sorted(chosen)


# ---------------------------------------------------------------- the plan of a many-voice corpus
WEIGHT_UNIT = 10  # round-robin weight of one speaker (fine enough for the natural and held-out shares)


@dataclass(frozen=True)
class ManyVoices:
    """Options of the many-speaker corpus (``tts data demo --voices many``; pipeline ``corpus: {voices: many, ...}``).

    ``heldout``: held-out (unseen) families, drawn by ``choose_heldout``'s seeded rule; ``heldout_voices``: these
    base voices (or families) instead. ``transforms_per_voice``: seeded sox copies of every base voice.
    ``espeak_voices``: how many of ``ESPEAK_VARIANTS`` to use (the first N). ``unseen_share``: share of the test
    split spoken by held-out speakers. ``references_per_speaker``: training utterances listed per training
    speaker in corpus.json (the benchmark's nearest-training-speaker reference).
    """

    heldout: int = 6
    heldout_voices: tuple[str, ...] | None = None
    transforms_per_voice: int = 2
    espeak_voices: int = 16
    unseen_share: float = 0.5
    references_per_speaker: int = 3

    def __post_init__(self) -> None:
        def bad(key: str, v, want: str) -> VoiceSpecError:
            return VoiceSpecError(f"many voices: {key} = {v!r}: {want}")

        ints = {"heldout": (0, 50), "transforms_per_voice": (0, 10), "espeak_voices": (0, len(ESPEAK_VARIANTS)),
                "references_per_speaker": (1, 20)}
        for key, (lo, hi) in ints.items():
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise bad(key, v, f"an integer in [{lo}, {hi}]")
        u = self.unseen_share
        if not isinstance(u, (int, float)) or isinstance(u, bool) or not 0.05 <= u <= 0.95:
            raise bad("unseen_share", u, "a number in [0.05, 0.95]")
        if self.heldout_voices is not None:
            names = self.heldout_voices
            if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
                raise bad("heldout_voices", names, "a nonempty list of base voice ids (e.g. flite-awb)")
            object.__setattr__(self, "heldout_voices", tuple(names))


MANY_VOICE_OPTIONS = tuple(f.name for f in fields(ManyVoices))  # also the pipeline's corpus keys


@dataclass
class VoicePlan:
    """Who speaks: the base voices found, the speakers (bases + copies, held-out ones marked), the schedules."""

    bases: list[dict]
    skipped: list[dict]
    speakers: list[Speaker]
    heldout_families: list[str]
    train_schedule: list[dict]  # training speakers: the train/dev sentences
    test_schedule: list[dict]  # training and held-out speakers: the test sentences

    @property
    def heldout_speakers(self) -> list[str]:
        return [s.speaker for s in self.speakers if s.heldout]


def plan_voices(spec: ManyVoices, seed: int, natural_share: float) -> VoicePlan:
    """Detect the base voices, make the seeded copies, hold out families, and weight the schedules.

    Train/dev: every training speaker one weight unit, the natural voice (untransformed) ``natural_share`` of
    the utterances (0: no natural voice). Test: the training speakers as in training plus the held-out ones,
    weighted to speak ``spec.unseen_share`` of the test sentences."""
    if not 0.0 <= natural_share < 1.0:
        raise VoiceSpecError(f"many voices: natural_share {natural_share} must be in [0, 1) (1: only the natural voice)")
    bases, skipped = detect_base_voices(natural=natural_share > 0, espeak_voices=spec.espeak_voices)
    heldout = set(choose_heldout(bases, spec.heldout, seed, list(spec.heldout_voices or []) or None))
    speakers = [replace(s, heldout=s.family in heldout) for s in make_speakers(bases, spec.transforms_per_voice, seed)]
    train = [s for s in speakers if not s.heldout]
    n_other = sum(s.speaker != NATURAL_SPEAKER for s in train)
    if n_other == 0:
        raise VoiceSpecError("many voices: no training speaker besides the natural voice; install flite / espeak-ng")
    weights = {s.speaker: WEIGHT_UNIT for s in train}
    if NATURAL_SPEAKER in weights:
        weights[NATURAL_SPEAKER] = natural_weight(natural_share, [WEIGHT_UNIT] * n_other)
    train_entries = [s.entry(weights[s.speaker]) for s in train]
    test_entries = list(train_entries)
    held = [s for s in speakers if s.heldout]
    if held:
        u = spec.unseen_share
        w = max(1, round(u / (1.0 - u) * sum(weights.values()) / len(held)))
        test_entries += [s.entry(w) for s in held]
    return VoicePlan(bases, skipped, speakers, sorted(heldout), voice_schedule(train_entries),
                     voice_schedule(test_entries))
