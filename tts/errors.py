"""The project's errors: one root, ``TTSError``, and the checkpoint error every loader raises.

Every error this package raises on purpose (bad input, a missing package or file, a checkpoint that
cannot be used) is a ``TTSError`` whose message names the file, line or key; ``tts`` prints it without
a traceback (exit status 1). Each specific class lives beside the code that raises it and also keeps the
builtin base it had (``ValueError`` / ``RuntimeError``), so existing ``except`` clauses still match:

- ``CheckpointError`` (here; also ``tts.io.CheckpointError``): a checkpoint or export file that is
  missing, truncated, not weights-only, or not the kind the loader expects ("not a checkpoint").
- ``tts.audio.AudioError``, ``tts.text.TextError`` (``UnknownCharacterError``, ``UnknownSymbolError``),
  ``tts.text.PhonemizerMissingError``, ``tts.data.align.AlignerError``, ``tts.data.alignment.AlignmentError``,
  ``tts.data.datamodule.ManifestNotFoundError`` / ``DataError``, ``tts.io.UnsafePathError`` / ``OutDirError``,
  ``tts.synth.SynthError``, ``tts.bench.spec.SpecError``, ``tts.bench.asr.ASRError``,
  ``tts.bench.similarity.SimilarityError``, ``tts.bench.browser.BrowserError``,
  ``tts.corpus.build.SynthesizerMissingError`` / ``SplitLeakError``,
  ``tts.corpus.voices.VoiceSpecError`` (a many-voice corpus option that cannot be met),
  ``tts.corpus.piper_voice.PiperVoiceMissingError`` / ``PiperAlignmentError``,
  ``tts.hparams.HyperParameterError`` (a training module's argument out of range),
  ``tts.init_from.InitFromError`` (a model to start training from that does not fit),
  ``tts.voice.VoiceError`` (a ``tts voice`` run that cannot go on: a setting, the recordings, the base model).
"""

from __future__ import annotations


class TTSError(Exception):
    """Root of the errors this package raises on purpose; the message says what is wrong and where."""


class CheckpointError(TTSError, RuntimeError):
    """A checkpoint that is missing, truncated, not weights-only, or not the kind the loader expects."""
