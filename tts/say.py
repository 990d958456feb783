"""``tts say``: text (an argument or stdin) -> one wav, with the model's default prompt or ``--prompt``.

The text is one ``tts synth`` line: normalized (``tts.normalize``: numbers, dates, money, abbreviations in words),
split into sentences and packed into chunks that fit the model's window (``tts.synth.chunks.prepare_line``, the
same checks and seed scheme as ``tts synth``), each chunk sampled by ``tts.synth.synthesize_batch`` with the same
prompt, the chunks joined with a 0.15 s cross-fade. ``speak`` is the function ``tts serve`` calls too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tts.errors import TTSError
from tts.longtext import CROSSFADE_S
from tts.synth import Item, SamplingSettings, synthesize_batch
from tts.synth.chunks import CHUNK_S_RANGE, DEFAULT_CHUNK_S, prepare_line
from tts.synth.settings import SPEED_RANGE

MAX_CHARS = 100_000  # characters of input text (about 3 hours of speech)


class SayError(TTSError, ValueError):
    """Text, prompt or setting that ``tts say`` / ``tts serve`` cannot use; the message says which and why."""


@dataclass
class Spoken:
    """What ``speak`` made: the waveform (T,) at ``sample_rate``, the normalized text it speaks, its chunks."""

    wav: torch.Tensor
    sample_rate: int
    text: str
    chunks: list[str] = field(default_factory=list)
    synth_s: float = 0.0

    @property
    def audio_s(self) -> float:
        return self.wav.numel() / self.sample_rate

    @property
    def rtf(self) -> float:
        return self.synth_s / max(self.audio_s, 1e-9)


def prompt_row(model_dir: str | Path, prompt: str | None, prompt_text: str | None) -> dict:
    """The prompt as ``tts synth`` row keys: ``--prompt``/``--prompt-text`` when given (both or neither), else the
    model's default prompt (``tts.f5.export.load_prompt``); SayError when there is none."""
    from tts.f5.export import load_prompt
    from tts.io import CheckpointError

    if (prompt is None) != (prompt_text is None):
        raise SayError("give both --prompt WAV and --prompt-text TEXT (its transcript), or neither for the "
                       "model's default prompt")  # fmt: skip
    if prompt is not None:
        if not prompt_text.strip():
            raise SayError("--prompt-text is empty: it must be the transcript of the prompt audio")
        return {"ref_audio": str(prompt), "ref_text": prompt_text.strip()}
    try:
        row = load_prompt(model_dir)
    except CheckpointError as e:
        raise SayError(str(e)) from e
    if row is None:
        raise SayError(f"{model_dir} has no default prompt (prompt.wav + prompt.json): give --prompt WAV and "
                       "--prompt-text TEXT (a clip of the voice and its transcript)")  # fmt: skip
    return row


def store_default_prompt(model_dir: str | Path, test_list: str | Path, speaker: str = "piper-joe") -> Path | None:
    """Give an export the prompt of the first row of ``test_list`` (a ``tts synth`` list) spoken by ``speaker``
    (else the first row) as its default prompt (``tts.f5.export.save_prompt``); None when the list has no rows."""
    import json

    import soundfile as sf

    from tts.f5.export import save_prompt

    rows = [json.loads(line) for line in Path(test_list).read_text(encoding="utf-8").splitlines() if line.strip()]
    row = next((r for r in rows if r.get("speaker") == speaker), rows[0] if rows else None)
    if row is None:
        return None
    wav, sr = sf.read(row["ref_audio"], dtype="float32", always_2d=True)
    return save_prompt(model_dir, torch.from_numpy(wav.mean(axis=1)), sr, row["ref_text"], row.get("ref_alignment"))


def check_text(text: str) -> str:
    """``text`` stripped; SayError when empty or over ``MAX_CHARS``."""
    text = text.strip()
    if not text:
        raise SayError("no text to say: give it as an argument or on standard input")
    if len(text) > MAX_CHARS:
        raise SayError(f"text has {len(text):,} characters, more than {MAX_CHARS:,}: split it into several files")
    return text


def check_chunk_s(chunk_s: float) -> None:
    lo, hi = CHUNK_S_RANGE
    if not (isinstance(chunk_s, (int, float)) and lo <= chunk_s <= hi):
        raise SayError(f"chunk seconds must be in [{lo:g}, {hi:g}], got {chunk_s!r}")


def speak(
    text: str,
    model,
    space,
    prompt: dict,
    sampling: SamplingSettings,
    utt_id: str = "say",
    chunk_s: float = DEFAULT_CHUNK_S,
    normalize: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> Spoken:
    """``text`` -> speech in the voice of ``prompt`` (``ref_audio``, ``ref_text``[, ``ref_alignment``]).

    ``model``/``space``: a loaded F5 model and its feature space (``tts.synth.load_model``). ``normalize=False``
    sends the text as typed (NFKC and whitespace only). ``progress(k, n, chunk)`` is called before chunk ``k`` of
    ``n`` (1-based). SayError names the text, chunk or prompt problem (the checks of ``tts synth``)."""
    from tts.longtext import crossfade

    check_chunk_s(chunk_s)
    text = check_text(text)
    line = Item(1, utt_id, text, prompt["ref_audio"], prompt["ref_text"], ref_alignment=prompt.get("ref_alignment"))
    items, reason = prepare_line(line, model, space, sampling, chunk_s, normalize)
    if reason:
        raise SayError(reason)
    wavs, synth_s = [], 0.0
    for k, item in enumerate(items):
        if progress:
            progress(k + 1, len(items), item.text)
        t0 = time.perf_counter()
        wavs.append(synthesize_batch([item], model, space, sampling)[0])
        synth_s += time.perf_counter() - t0
    wav = crossfade(wavs, round(space.sample_rate * CROSSFADE_S))
    return Spoken(wav, space.sample_rate, line.text, [it.text for it in items], synth_s)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts say",
        description="Say a text with an F5 model: one wav. The text (an argument, or standard input when it is "
        "left out or '-') is normalized first (numbers, dates, times, money, percentages, units, abbreviations, "
        "acronyms, URLs in words; markup and terminal escapes removed; other control characters refused), split "
        "into sentences and packed into chunks of about --chunk-seconds that fit the model's window; every chunk "
        "uses the same prompt and seed scheme, and the chunks are joined with a 0.15 s cross-fade. The voice is "
        "the model's default prompt (MODEL/prompt.wav + prompt.json) unless --prompt and --prompt-text name "
        "another. Exit code 0 when the wav was written, 1 when the text, prompt or a setting cannot be used (the "
        "message says which), 2 for a usage error.",
    )
    p.add_argument("text", nargs="?", default="-", help="the text to say ('-' or left out: read standard input)")
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("-o", "--out", required=True, help="the wav to write (refused when it exists, see --overwrite)")
    p.add_argument("--prompt", default=None, help="prompt audio (wav/flac/ogg): the voice to speak in")
    p.add_argument("--prompt-text", default=None, help="the transcript of --prompt")
    p.add_argument("--nfe", type=int, default=32, help="network evaluations, 1-1000 (default 32)")
    p.add_argument("--cfg", type=float, default=2.0, help="classifier-free guidance strength, 0-100 (default 2)")
    p.add_argument("--sway", type=float, default=-1.0, help="sway sampling coefficient, -1 to 1 (default -1)")
    p.add_argument("--speed", type=float, default=1.0,
                   help=f"speaking rate, {SPEED_RANGE[0]:g} to {SPEED_RANGE[1]:g} (default 1)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="run seed, 0 to 2^31-1 (default 0)")
    p.add_argument("--method", choices=("euler", "midpoint"), default="euler", help="ODE solver (default euler)")
    p.add_argument("--chunk-seconds", type=float, default=DEFAULT_CHUNK_S,
                   help=f"speech per chunk of long text, {CHUNK_S_RANGE[0]:g} to {CHUNK_S_RANGE[1]:g} s (default "
                   f"{DEFAULT_CHUNK_S:g}; never more than the model's window less the prompt)")  # fmt: skip
    p.add_argument("--no-normalize", action="store_true",
                   help="send the text as typed (Unicode NFKC and whitespace only): for text already in words")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--space", default=None, help="override the model's feature space spec")
    p.add_argument("--overwrite", action="store_true", help="replace --out when it exists")
    p.add_argument("--no-progress", action="store_true", help="no line per chunk on standard error")
    return p


def main(argv: list[str] | None = None) -> int:
    from tts.audio import save_audio
    from tts.synth import load_model
    from tts.synth.run import check_device

    parser = build_parser()
    a = parser.parse_args(argv)
    sampling = SamplingSettings(nfe=a.nfe, cfg=a.cfg, sway=a.sway, speed=a.speed, seed=a.seed, method=a.method)
    problems = sampling.problems()
    if problems:
        parser.error("; ".join(f"--{p}" for p in problems))
    lo, hi = CHUNK_S_RANGE
    if not lo <= a.chunk_seconds <= hi:
        parser.error(f"--chunk-seconds must be in [{lo:g}, {hi:g}], got {a.chunk_seconds:g}")
    out = Path(a.out)
    if out.exists() and not a.overwrite:
        raise SayError(f"{out} exists: pass --overwrite to replace it, or name another file")
    if out.is_dir():
        raise SayError(f"{out} is a directory: name the wav file to write")
    text = check_text(sys.stdin.read() if a.text == "-" else a.text)
    prompt = prompt_row(a.model, a.prompt, a.prompt_text)
    check_device(a.device)
    model, space = load_model(a.model, a.space, a.device)

    def show(k: int, n: int, chunk: str) -> None:
        print(f"chunk {k}/{n}: {chunk if len(chunk) <= 70 else chunk[:67] + '...'}", file=sys.stderr, flush=True)

    spoken = speak(text, model, space, prompt, sampling, chunk_s=a.chunk_seconds, normalize=not a.no_normalize,
                   progress=None if a.no_progress else show)  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    save_audio(out, spoken.wav, spoken.sample_rate)
    print(f"say: {out} ({spoken.audio_s:.1f} s of audio, {len(spoken.chunks)} chunk(s), "
          f"{spoken.synth_s:.1f} s to synthesize, RTF {spoken.rtf:.3f})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
