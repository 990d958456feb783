"""The global random states in training checkpoints, so that a resumed fit draws what the uninterrupted run
would have drawn (CFM noise, flow times, masks, CFG dropout, dropout, random crops in the main process).

Lightning restores weights, optimizers, schedulers, loop counters and callback / data module states, but not
the global random number generators: a resumed run starts from ``seed_everything``'s states, so its
noise differs from the uninterrupted run's. :class:`ResumeRNG` (``tts fit`` adds it to every run) stores
torch's, numpy's and Python's states (and CUDA's, once CUDA is in use) in each checkpoint and sets them
again right before the first training batch after a resume: everything the resumed run does before that
(sanity validation, building loaders) does not count, as in the uninterrupted run, where it happened long
before. Draws between a checkpoint and the next training batch of the uninterrupted run (a validation, an
epoch start) must not use the global generators for the two runs to match: the data modules give their
DataLoaders own generators and the F5 validation seeds its own.

Multi-GPU: Lightning writes the checkpoint on rank 0, so every rank resumes with rank 0's states (the
same states when all ranks were seeded alike, as ``seed_everything`` does by default).
"""

from __future__ import annotations

import random

import lightning.pytorch as pl
import numpy as np
import torch


def rng_states() -> dict:
    """The global random states, as plain types and tensors (loadable with ``weights_only=True``)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},  # fmt: skip
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Set the global random states saved by :func:`rng_states`."""
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))  # fmt: skip
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = states.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


class ResumeRNG(pl.Callback):
    """Saves the global random states in every checkpoint; a fit resumed from one sets them again right
    before its first training batch (see the module doc)."""

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        return rng_states()

    def load_state_dict(self, state_dict: dict) -> None:
        self._pending = state_dict

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int):
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None
