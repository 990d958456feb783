"""A training budget in CPU seconds instead of wall-clock seconds.

Lightning's ``max_time`` (its ``Timer`` callback) stops a fit after a wall-clock duration. On a machine that
other work shares, a wall-clock budget gives a model fewer steps than the same budget on an idle machine, and
two systems trained one after the other under the same ``max_time`` can get very different step counts (the
cpu scale's third run: eval/reports/cpu/README.md "Machine conditions"). :class:`CPUTimeBudget` counts the CPU
seconds the training process and its child processes (data-loader workers) use instead: a process that waits
for a core does not spend its budget.

What it does not fix: threads that spin while they wait (OpenMP barriers, at ``OMP_WAIT_POLICY=active``) spend
CPU time without progress, so a heavily oversubscribed machine still costs some steps; and CPU seconds on
different machines are not the same work. Counted from the start of training, validation and callbacks (the
WER curve's ASR) included, as Lightning's ``Timer`` counts wall-clock time; the used seconds are saved in
checkpoints, so a resumed fit continues the budget instead of starting a new one. Every child process counts:
under a multi-process strategy that Lightning launches from rank 0 (DDP on CPU), the budget is the whole job's.

Use it in a recipe instead of ``trainer.max_time``, appended (``callbacks+``) so that the recipe's own callbacks,
its ModelCheckpoint among them, stay::

    trainer:
      max_time: null
      callbacks+:
        - class_path: tts.budget.CPUTimeBudget
          init_args: {max_cpu_time: "00:00:40:00"}   # DD:HH:MM:SS of CPU time, or seconds
"""

from __future__ import annotations

import re
import resource

import lightning.pytorch as pl
import psutil
from lightning.pytorch.utilities import rank_zero_info

__all__ = ["CPUTimeBudget", "cpu_seconds", "parse_duration"]


def parse_duration(value: str | float | int, name: str = "max_cpu_time") -> float:
    """Seconds from ``"DD:HH:MM:SS"`` (Lightning's ``max_time`` format) or a number of seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: {value!r} is not a duration (DD:HH:MM:SS or seconds > 0)")
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+):(\d\d):(\d\d):(\d\d)", value.strip())
        if m is None:
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"{name}: {value!r} is not a duration (DD:HH:MM:SS or seconds > 0)") from None
        else:
            d, h, mi, s = (int(g) for g in m.groups())
            if h > 23 or mi > 59 or s > 59:
                raise ValueError(f"{name}: {value!r} has hours > 23, minutes > 59 or seconds > 59")
            value = ((d * 24 + h) * 60 + mi) * 60 + s
    seconds = float(value)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{name}: {value!r} must be a finite number of seconds > 0")
    return seconds


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (all threads), its finished children and its live ones."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    done = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + done.ru_utime + done.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:  # exited between the listing and the read: counted by RUSAGE_CHILDREN once reaped
            continue
        total += t.user + t.system
    return total


class CPUTimeBudget(pl.Callback):
    """Stops training once the fit has used ``max_cpu_time`` CPU seconds (see the module doc).

    ``max_cpu_time``: ``"DD:HH:MM:SS"`` or seconds (> 0). ``check_every_n_steps``: how often the CPU time is
    read (>= 1; reading walks the process's children). Logs ``budget/cpu_seconds`` with the step's metrics.
    """

    def __init__(self, max_cpu_time: str | float, check_every_n_steps: int = 1) -> None:
        self.max_cpu_seconds = parse_duration(max_cpu_time)
        if isinstance(check_every_n_steps, bool) or not isinstance(check_every_n_steps, int) \
                or check_every_n_steps < 1:
            raise ValueError(f"check_every_n_steps: {check_every_n_steps!r} must be an integer >= 1")
        self.check_every_n_steps = check_every_n_steps
        self._offset = 0.0  # CPU seconds used before this process (restored from a checkpoint)
        self._start: float | None = None

    def used(self) -> float:
        """CPU seconds this fit has used so far (earlier processes of a resumed fit included)."""
        return self._offset + (cpu_seconds() - self._start if self._start is not None else 0.0)

    def state_dict(self) -> dict:
        return {"cpu_seconds_used": self.used()}

    def load_state_dict(self, state_dict: dict) -> None:
        self._offset = float(state_dict.get("cpu_seconds_used", 0.0))

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._check(trainer)  # a checkpoint whose budget is already spent trains no further

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = cpu_seconds()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if (batch_idx + 1) % self.check_every_n_steps == 0:
            self._check(trainer)

    def _check(self, trainer: pl.Trainer) -> None:
        used = self.used()
        if trainer.logger is not None and self._start is not None \
                and trainer.global_step % max(1, trainer.log_every_n_steps) == 0:
            trainer.logger.log_metrics({"budget/cpu_seconds": used}, step=trainer.global_step)
        stop = trainer.strategy.broadcast(used >= self.max_cpu_seconds)
        if stop and not trainer.should_stop:
            trainer.should_stop = True
            rank_zero_info(f"CPUTimeBudget: {used:.1f} of {self.max_cpu_seconds:.1f} CPU seconds used at step "
                           f"{trainer.global_step}: training stops")
