"""A training callback for the F5 DiT: WER against training steps and wall-clock time.

It sits above ``tts.synth`` and ``tts.bench``, whose code it drives while ``tts fit`` trains (the model
package ``tts.f5`` knows neither).

``WERCallback`` every ``every_n_steps`` optimizer steps synthesizes a fixed list of validation utterances
with the module's EMA DiT (the weights that would be exported), transcribes them with the benchmark's ASR
(``tts.bench.asr``, the same backends and specs as ``tts bench``), scores them as the benchmark does
(``tts.bench.scoring``, normalizer by name) and:

- logs ``wer/mean`` (mean of per-utterance WER, the F5-TTS protocol) and ``wer/corpus`` as TensorBoard
  scalars against the step, and the first ``log_audio`` utterances as audio;
- appends one JSON row per evaluation to ``out`` (default: ``wer_steps.jsonl`` in the trainer's log dir):
  ``{"step", "wall_s", "eval_s", "eval_total_s", "wer_mean", "wer_corpus", "n", "errors", "nfe",
  "durations", "asr", "hyps"}``.
  ``wall_s`` is training wall-clock seconds since fit start **excluding** the callback's own evaluations
  (their time is ``eval_s``, summed over evaluations in ``eval_total_s``), so curves of runs that evaluate
  at different rates are comparable; a report plots ``wer_mean`` against ``step`` and ``wall_s``. After a
  resume (``tts fit`` from last.ckpt) the rows continue: ``wall_s`` goes on from the last row written at or
  before the resumed step (the time between that row and the checkpoint is not counted).

The list is a ``tts synth`` list (JSONL: id, text, ref_audio, ref_text, optional duration, and for aligned
models ``alignment`` / ``ref_alignment``): the benchmark's test list works as is. Aligned models take
their durations from ``durations`` (``oracle``: each row's alignment, so the curve measures the DiT
alone; ``predictor``: the model's duration head). Noise is seeded per utterance, the same at every
evaluation. The ASR loads at fit start, so a missing ASR model fails before any training.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning.pytorch as pl
import torch

from tts.bench.summarize import read_wer_curve

log = logging.getLogger(__name__)


class WERCallback(pl.Callback):
    """Every K steps: synthesize ``utterances``, transcribe with ``asr``, log WER (see module doc).

    Args:
        utterances: a ``tts synth`` JSONL list (the benchmark's test_list.jsonl works).
        every_n_steps: evaluate after every K-th optimizer step (and after the last one).
        max_utterances: the first N rows of the list.
        asr: a ``tts.bench.asr.load_asr`` spec (default: the benchmark's Whisper base).
        normalizer: ``whisper`` / ``f5`` / ``none`` (``tts.bench.normalize``).
        nfe, cfg, sway, seed: sampling, as ``tts synth``.
        durations: aligned models: ``oracle`` (each row's ``alignment``) or ``predictor``.
        out: the JSONL of (step, wall_s, wer) rows; None = ``wer_steps.jsonl`` in the trainer's log dir.
        log_audio: how many utterances to log as TensorBoard audio per evaluation.
        at_start: also evaluate before the first step (step 0).
    """

    def __init__(
        self,
        utterances: str,
        every_n_steps: int = 500,
        max_utterances: int = 8,
        asr: dict | None = None,
        normalizer: str = "whisper",
        nfe: int = 16,
        cfg: float = 2.0,
        sway: float = -1.0,
        seed: int = 0,
        durations: str = "oracle",
        out: str | None = None,
        log_audio: int = 2,
        at_start: bool = False,
    ):
        super().__init__()
        from tts.bench.normalize import get_normalizer
        from tts.f5.aligned import DURATION_SOURCES

        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        if durations not in DURATION_SOURCES:
            raise ValueError(f"durations must be one of {DURATION_SOURCES}, not {durations!r}")
        from tts.synth import SamplingSettings  # the ranges tts synth and the benchmark spec check

        problems = SamplingSettings(nfe=nfe, cfg=cfg, sway=sway, seed=seed).problems()
        if problems:
            raise ValueError("WERCallback: " + "; ".join(problems))
        if not Path(utterances).is_file():
            raise FileNotFoundError(f"WERCallback: utterance list not found: {utterances}")
        self.utterances = utterances
        self.every_n_steps = every_n_steps
        self.max_utterances = max_utterances
        self.asr_spec = dict(asr or {"backend": "faster-whisper", "model": "base"})
        self.normalizer = normalizer
        self.normalize = get_normalizer(normalizer)
        self.nfe, self.cfg, self.sway, self.seed = nfe, cfg, sway, seed
        self.durations = durations
        self.out = out
        self.log_audio = log_audio
        self.at_start = at_start
        self._asr = None
        self._fit_start = 0.0
        self._eval_total = 0.0
        self._wall_offset = 0.0  # training seconds before a resume (from the rows already written)
        self._last_step = -1
        self.history: list[dict] = []

    # ---- lifecycle --------------------------------------------------------------------------------
    def _out_path(self, trainer: pl.Trainer) -> Path:
        if self.out:
            return Path(self.out)
        root = trainer.log_dir or trainer.default_root_dir
        return Path(root) / "wer_steps.jsonl"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        from tts.bench.asr import load_asr
        from tts.synth import read_list

        items, errors = read_list(self.utterances)
        if errors:
            raise ValueError(f"WERCallback: bad lines in {self.utterances}: {errors[:3]}")
        if not items:
            raise ValueError(f"WERCallback: no utterances in {self.utterances}")
        if trainer.is_global_zero and self._asr is None:
            self._asr = load_asr(self.asr_spec)
        self._fit_start = time.perf_counter()
        self._eval_total = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        path = self._out_path(trainer)
        if trainer.global_step > 0 and path.is_file():  # resumed: continue the wall clock of the rows so far
            earlier = [r for r in read_wer_curve(path) if r.get("step", 0) <= trainer.global_step]
            if earlier:
                self._wall_offset = float(earlier[-1]["wall_s"])
                self._last_step = int(earlier[-1]["step"])
        if self.at_start and trainer.global_step == 0:
            self.evaluate(trainer, pl_module)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step = trainer.global_step
        if step > 0 and step % self.every_n_steps == 0 and step != self._last_step:
            self.evaluate(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self._last_step:
            self.evaluate(trainer, pl_module)

    # ---- evaluation -------------------------------------------------------------------------------
    def _model(self, pl_module):
        from tts.f5.export import F5Model

        hp = pl_module.hparams
        model = F5Model(pl_module.ema_net, pl_module.vocab, hp.space, pl_module.frame_rate, hp.max_duration_s)
        if getattr(pl_module, "aligned", False):
            model.conditioning, model.alignment, model.duration = "aligned", hp.alignment, pl_module.duration
        return model

    @torch.no_grad()
    def synthesize(self, pl_module, space) -> tuple[dict, list[dict]]:
        """{id: waveform at the space's rate} and the error rows of the utterances that failed."""
        from tts.synth import SamplingSettings, make_batches, prepare, read_list, synthesize_batch

        sampling = SamplingSettings(nfe=self.nfe, cfg=self.cfg, sway=self.sway, seed=self.seed, durations=self.durations)

        items, _ = read_list(self.utterances)
        items = items[: self.max_utterances]
        model = self._model(pl_module)
        nets = [m for m in (model.net, model.duration) if m is not None]
        modes = [m.training for m in nets]
        for m in nets:
            m.eval()
        try:
            ready, errors = [], []
            for it in items:
                reason = prepare(it, model, space, sampling)
                (errors.append({"id": it.id, "reason": reason}) if reason else ready.append(it))
            wavs = {}
            for batch in make_batches(ready, 16000):
                out = synthesize_batch(batch, model, space, sampling)
                wavs.update({it.id: w for it, w in zip(batch, out)})
        finally:
            for m, mode in zip(nets, modes):
                m.train(mode)
        return wavs, errors

    def evaluate(self, trainer: pl.Trainer, pl_module) -> dict | None:
        """Synthesize, transcribe, score, log; returns the row written (None on non-zero ranks / no space)."""
        from tts.audio import resample
        from tts.bench.asr import SAMPLE_RATE
        from tts.bench.scoring import aggregate, score_utterance
        from tts.io import append_jsonl
        from tts.synth import read_list

        self._last_step = trainer.global_step
        if not trainer.is_global_zero:
            return None
        t0 = time.perf_counter()
        space = pl_module._feature_space()
        if space is None:
            log.warning("WERCallback: no feature space to decode with; skipping step %d", trainer.global_step)
            return None
        wavs, errors = self.synthesize(pl_module, space)
        texts = {it.id: it.text for it in read_list(self.utterances)[0]}
        ids = list(wavs)
        audio16 = [resample(wavs[i].float(), space.sample_rate, SAMPLE_RATE) for i in ids]
        hyps = self._asr.transcribe(audio16) if ids else []
        scores = [score_utterance(texts[i], h, self.normalize) for i, h in zip(ids, hyps)]
        agg = aggregate(scores)
        eval_s = time.perf_counter() - t0
        wall_s = self._wall_offset + t0 - self._fit_start - self._eval_total
        self._eval_total += eval_s
        row = {
            "step": int(trainer.global_step),
            "wall_s": round(wall_s, 3),
            "eval_s": round(eval_s, 3),
            "eval_total_s": round(self._eval_total, 3),
            "wer_mean": agg["wer_mean"],
            "wer_corpus": agg["wer_corpus"],
            "n": agg["n"],
            "errors": errors,
            "nfe": self.nfe,
            "durations": self.durations if getattr(pl_module, "aligned", False) else None,
            "asr": getattr(self._asr, "name", str(self.asr_spec)),
            "hyps": {i: h for i, h in zip(ids, hyps)},
        }
        append_jsonl(self._out_path(trainer), row)
        self.history.append(row)
        if agg["n"]:
            self._log_scalars(trainer, row)
        experiment = getattr(trainer.logger, "experiment", None)
        if hasattr(experiment, "add_audio"):
            for i in ids[: self.log_audio]:
                experiment.add_audio(f"wer/{i}", wavs[i].clamp(-1, 1), row["step"], space.sample_rate)
        if errors:
            log.warning("WERCallback: %d utterance(s) not synthesized: %s", len(errors), errors[:3])
        return row

    def _log_scalars(self, trainer: pl.Trainer, row: dict) -> None:
        for logger in trainer.loggers:
            metrics = {"wer/mean": row["wer_mean"], "wer/corpus": row["wer_corpus"]}
            logger.log_metrics(metrics, step=row["step"])
            if hasattr(getattr(logger, "experiment", None), "add_scalar"):
                logger.experiment.add_scalar("wer/mean_vs_wall_s", row["wer_mean"], int(row["wall_s"]))


