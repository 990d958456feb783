"""``tts synth``: batch synthesis with an F5 model: a JSONL/TSV list of (id, text, ref_audio, ref_text[, duration]) -> wavs.

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

Modules, top-down: ``cli`` (arguments, exit codes) -> ``run`` (one run: checks, model, batches) -> ``outdir``
(the folder's files: resume, settings, results, errors) and ``sample`` (item -> prompt, ids, length ->
waveform) -> ``lines`` (the list format) -> ``settings`` (``SamplingSettings``, ``SynthError``).
"""

from tts.synth.cli import build_parser, main
from tts.synth.lines import Item, read_list
from tts.synth.outdir import LOCK_NAME, clear_outputs
from tts.synth.run import load_model, synthesize, synthesize_list
from tts.synth.sample import make_batches, prepare, synthesize_batch
from tts.synth.settings import SamplingSettings, SynthError

__all__ = [
    "Item", "LOCK_NAME", "SamplingSettings", "SynthError", "build_parser", "clear_outputs", "load_model", "main",
    "make_batches",
    "prepare", "read_list", "synthesize", "synthesize_batch", "synthesize_list",
]  # fmt: skip
