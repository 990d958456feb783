"""``model.init_args.init_from=PATH``: start a fit from a trained model's weights, not from its training state.

``--ckpt_path`` (and ``tts fit``'s automatic resume from last.ckpt) restores a run's whole state: weights,
optimizer, LR schedule, step count, CPU budget, data sampler and random states. ``init_from`` copies only the
weights - the network into the trained network *and* its EMA (the F5 duration head too) - from an export
folder, a Lightning checkpoint of the same module, or a ``tts import`` result; everything else starts afresh
(step 0, a new optimizer and schedule, a fresh EMA counter, budget and sampler). The source is read with the
project's weights-only loaders (``tts.f5.load``, ``tts.vae.load``, ``tts.features.vocos.load_vocos``): a
checkpoint gives its EMA weights where it has them, as an export does. The vocabulary, the feature space and
the network's sizes must be this module's: otherwise :class:`InitFromError` names each difference.

When: in ``on_fit_start`` of a fit that does not resume (:func:`initialize`; Lightning has restored a resumed
fit's checkpoint by then and says so in ``trainer.ckpt_path``). A fit that resumes keeps its checkpoint's
weights and does not read the source at all. In the constructor the source would be read on every build of the
module (a resume, ``tts validate``, ``load_from_checkpoint``) and a moved source would stop them; ``setup`` runs
before the restore and cannot tell a resume, so it would read the source for nothing. The copy is in place
(``load_state_dict``) after the model moved to its device; under DDP every rank reads the same source. A
sharding strategy (FSDP; no recipe uses one) restores after ``on_fit_start`` and is not supported. The path is in
the module's hyper-parameters (the checkpoint and the run's config.yaml), so the run can be rerun as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lightning.pytorch.utilities import rank_zero_info
from torch import nn

from tts.errors import TTSError

KEY = "model.init_args.init_from"
_UNSET = "(unset)"


class InitFromError(TTSError, ValueError):
    """An ``init_from`` model that cannot start this fit: missing, unreadable, or of another vocabulary,
    feature space or network size (the message names each difference and what to set)."""


def initialize(module) -> None:
    """In ``on_fit_start``: ``module.init_weights_from(init_from)`` when the module has an ``init_from`` and the
    fit does not resume a checkpoint (then the checkpoint's weights continue, and the source is not read)."""
    path = module.hparams.get("init_from")
    if not path:
        return
    resumed = module.trainer.ckpt_path
    if resumed is not None:
        rank_zero_info(f"{KEY}={path} not loaded: resuming from {resumed}, whose weights continue")
        return
    module.init_weights_from(str(path))
    rank_zero_info(f"{KEY}: weights loaded from {path}; optimizer, step count and EMA schedule start afresh")


def read(loader: Callable[[str], Any], path: str, expected: str) -> Any:
    """``loader(path)``; a missing or unreadable source is an InitFromError that names it and says what it
    should be (``expected``)."""
    if not Path(path).exists():
        raise InitFromError(f"{KEY}={path}: not found (expected {expected})")
    try:
        return loader(path)
    except (OSError, ValueError, KeyError, TTSError) as e:
        raise InitFromError(f"{KEY}={path}: cannot be read as {expected}: {e}") from e


def differences(ours: Any, theirs: Any, key: str = "") -> list[str]:
    """``"key: <ours> here, <theirs> in the source"`` for every leaf where two plain-data configs differ
    (nested dicts compared key by key; a key one side lacks shows as ``(unset)``)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        keys = [*ours, *(k for k in theirs if k not in ours)]
        return [d for k in keys
                for d in differences(ours.get(k, _UNSET), theirs.get(k, _UNSET), f"{key}.{k}" if key else str(k))]  # fmt: skip
    return [] if ours == theirs else [f"{key}: {ours!r} here, {theirs!r} in the source"]


def refuse(path: str, mismatches: list[tuple[str, list[str], str]]) -> None:
    """InitFromError listing each (what, its differences, what to do) that has differences; nothing otherwise."""
    found = [(what, diffs, hint) for what, diffs, hint in mismatches if diffs]
    if found:
        lines = [f"- {what}: {'; '.join(diffs)}. {hint}" for what, diffs, hint in found]
        raise InitFromError(f"{KEY}={path} does not fit this model:\n" + "\n".join(lines))


def copy_weights(path: str, state: dict, *targets: nn.Module | None) -> None:
    """Load ``state`` into each target (None skipped), strictly; a mismatch is an InitFromError."""
    for target in targets:
        if target is None:
            continue
        try:
            target.load_state_dict(state)
        except RuntimeError as e:
            raise InitFromError(f"{KEY}={path}: its weights do not fit this network: {e}") from e
