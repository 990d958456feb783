"""LightningDataModules over lhotse CutSets.

- :class:`CropDataModule` (the GAN trainings: VAE, vocoder): random fixed-length crops of 16/24 kHz
  audio, with the cached teacher features cropped in step. Batch: ``{"wav": (B, T), "teacher": (B, N, D),
  "teacher_lens": (B,), "ids": [str]}`` (teacher keys only with ``teacher_key``). The order, crop offsets
  and gains follow from (seed, epoch, item) alone (see :class:`CropSampler`), so it resumes mid-epoch as
  the utterance module does.
- :class:`UtteranceDataModule` (F5 DiT): whole utterances of cached features, batched by a frame
  budget with duration bucketing (lhotse ``DynamicBucketingSampler``; DDP-aware: it reads rank and
  world size from torch.distributed, so set ``trainer.use_distributed_sampler: false``).
  Batch: ``{"feats": (B, N, D), "feat_lens": (B,), "texts": [str], "ids": [str]}``; with ``alignment``
  (e.g. ``phoneme``) also ``"alignments"``: per utterance [(symbol, start s, duration s)] from the
  supervisions' lhotse alignment of that kind (``tts.data.alignment``; the aligned DiT).
  Resumable mid-epoch: its ``state_dict`` (saved in Lightning checkpoints) holds the epoch and the number
  of that epoch's batches the trainer has processed, and a resumed fit skips exactly those, so it sees the
  batches the uninterrupted run would have seen (see :class:`ResumableBatches`).

Bad items are screened at set-up (see :mod:`tts.data.validate`) and anything that still fails at
load time is dropped from its batch with a warning and counted in ``load_failures``. A missing or unreadable
manifest, or a training manifest without one usable cut (e.g. a run folder whose features were never
extracted), raises :class:`ManifestNotFoundError` / :class:`DataError` naming the file and the command that
makes it (``tts fit`` prints it as one line).
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from lhotse import CutSet, load_manifest
from lhotse.dataset import DynamicBucketingSampler, SimpleCutSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from tts.audio import AudioError
from tts.data.cache import load_cut_audio
from tts.data.validate import SkipReport, cut_text, screen_cuts
from tts.errors import TTSError
from tts.text import Vocab

log = logging.getLogger(__name__)


class ManifestNotFoundError(TTSError, FileNotFoundError):
    """A data module's manifest is not there (e.g. a run folder whose features were never extracted)."""


class DataError(TTSError, RuntimeError):
    """A manifest that cannot be read, or one without a single usable cut (the skip report's counts named)."""


# how each kind of manifest is made, for the message when it is missing or has no usable cut
FEATURES_HINT = ("cache the features first: tts extract features --space SPACE --cuts CORPUS_CUTS --out {folder} "
                 "(the recipe's space file, e.g. recipes/space/mel.yaml, gives the command; tts demo runs the "
                 "whole pipeline)")  # fmt: skip
TEACHER_HINT = ("cache the teacher features first: tts extract teacher --cuts CORPUS_CUTS --out {folder} "
                "(the recipe names the teacher; tts demo runs the whole pipeline)")  # fmt: skip
CORPUS_HINT = "build it first with tts data import or tts data demo"


def _load_cuts(path: str | Path, what: str, hint: str) -> CutSet:
    """The manifest at ``path``; a missing or unreadable one raises an error that names it and says ``hint``
    (``{folder}``: the manifest's folder)."""
    path = Path(path)
    if not path.is_file():
        raise ManifestNotFoundError(f"{what} manifest not found: {path}; {hint.format(folder=path.parent)}")
    try:
        return load_manifest(path)
    except Exception as e:  # a truncated gzip, JSON that is not a manifest, ...
        raise DataError(f"cannot read the {what} manifest {path}: {type(e).__name__}: {e}") from e


def _no_usable_cuts(path: str, report: SkipReport, key: str | None, hint: str) -> DataError:
    """The error for a training manifest without one usable cut: the skip counts, and how to cache missing features."""
    msg = f"no usable training cuts in {path}: {report.summary()}"
    if key and report.counts.get("missing_features"):
        msg += f"; its cuts have no cached {key!r}: {hint.format(folder=Path(path).parent)}"
    return DataError(msg)


def _fit_frames(arr: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad (N, D) to exactly n frames."""
    if arr.shape[0] >= n:
        return arr[:n]
    return np.concatenate([arr, np.zeros((n - arr.shape[0], *arr.shape[1:]), arr.dtype)])


class CropDataset(Dataset):
    """Random (train) or leading (eval) crops of ``num_samples`` samples at ``sample_rate``.

    A crop shorter than ``num_samples`` (a short cut) is zero-padded (``pad="zeros"``; ``valid`` says how
    many samples are real) or tiled (``pad="repeat"``, as vocos' own dataset). ``peak_normalize``: scale
    each crop to a peak of a random -6..-1 dBFS (train) or -3 dBFS (eval), as vocos' dataset does.
    Training items are fetched by key ``(index, epoch)`` (:class:`CropSampler`): the crop offset and gain
    are drawn from a generator seeded with ``(seed, epoch, index)``, so they do not depend on which
    DataLoader worker loads the item or on what was loaded before (a plain index is epoch 0).
    An item whose audio cannot be loaded (unreadable, non-finite, silent) is dropped from its batch with
    a warning and counted in ``load_failures`` (per process: each DataLoader worker counts its own).
    """

    def __init__(self, cuts: CutSet, sample_rate: int, num_samples: int, train: bool,
                 teacher_key: str | None = None, teacher_rate: float | None = None,
                 pad: str = "zeros", peak_normalize: bool = False, seed: int = 0):
        if pad not in ("zeros", "repeat"):
            raise ValueError(f"pad must be 'zeros' or 'repeat', not {pad!r}")
        self.seed = seed
        self.cuts = list(cuts)
        self.sample_rate = sample_rate
        self.num_samples = num_samples
        self.train = train
        self.teacher_key = teacher_key
        self.teacher_rate = teacher_rate
        self.pad = pad
        self.peak_normalize = peak_normalize
        self.load_failures = 0

    def __len__(self) -> int:
        return len(self.cuts)

    def __getitem__(self, key: int | tuple[int, int]) -> dict | None:
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        cut = self.cuts[i]
        rng = np.random.default_rng([self.seed, epoch, i]) if self.train else None
        n = self.num_samples
        crop_seconds = n / self.sample_rate
        crop = min(crop_seconds, cut.duration)
        offset = float(rng.uniform(0.0, cut.duration - crop)) if self.train else 0.0
        # Start crops on the teacher's frame grid (else on a whole sample) so audio and features align.
        grid = self.teacher_rate if self.teacher_key else self.sample_rate
        offset = min(math.floor(offset * grid) / grid, max(0.0, cut.duration - crop))
        sub = cut.truncate(offset=offset, duration=crop, preserve_id=True)
        try:
            wav = load_cut_audio(sub, self.sample_rate)
        except AudioError as e:
            self.load_failures += 1
            log.warning("dropping %s from batch (%d dropped so far): %s", cut.id, self.load_failures, e)
            return None
        valid = min(wav.shape[0], n)
        if self.pad == "repeat" and wav.shape[0] < n:
            wav = wav.repeat(1 + n // wav.shape[0])
        wav = torch.nn.functional.pad(wav[:n], (0, n - min(wav.shape[0], n)))
        if self.peak_normalize:
            gain_db = float(rng.uniform(-6.0, -1.0)) if self.train else -3.0
            wav = wav * (10 ** (gain_db / 20) / wav.abs().max())
        item = {"id": cut.id, "wav": wav, "valid": valid}
        if self.teacher_key:
            n_t = round(crop_seconds * self.teacher_rate)
            feats = sub.load_custom(self.teacher_key)
            valid_t = min(feats.shape[0], math.floor(valid / self.sample_rate * self.teacher_rate + 0.5))
            feats = _fit_frames(np.asarray(feats, dtype=np.float32)[:valid_t], n_t)
            item["teacher"] = torch.from_numpy(feats)
            item["teacher_len"] = valid_t
        return item


def collate_crops(items: list[dict | None]) -> dict | None:
    items = [it for it in items if it is not None]
    if not items:
        return None
    batch = {
        "wav": torch.stack([it["wav"] for it in items]),
        "wav_lens": torch.tensor([it["valid"] for it in items]),
        "ids": [it["id"] for it in items],
    }
    if "teacher" in items[0]:
        batch["teacher"] = torch.stack([it["teacher"] for it in items])
        batch["teacher_lens"] = torch.tensor([it["teacher_len"] for it in items])
    return batch


class CropSampler(DistributedSampler):
    """The training crops of each epoch: a permutation of the dataset drawn from ``seed + epoch`` (torch's
    ``DistributedSampler``: ``set_epoch``, and under DDP each rank takes its share, read from
    torch.distributed; being one, Lightning keeps it instead of injecting its own), yielded as keys
    ``(index, epoch)`` for :class:`CropDataset`.

    Resumable as :class:`ResumableBatches`: the next iteration skips the first ``skip`` batches of
    ``batch_size`` items (the DataLoader's batches are consecutive runs of this order), and ``done()`` is
    the number of batches of the current epoch that the trainer (``trained()``) has processed.
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, trained: Callable[[], int] = lambda: 0):
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        replicas, rank = (torch.distributed.get_world_size(), torch.distributed.get_rank()) if distributed else (1, 0)
        super().__init__(dataset, num_replicas=replicas, rank=rank, shuffle=True, seed=seed)
        self.batch_size = batch_size
        self.trained = trained
        self.skip = 0
        self.epoch_start = 0  # trained() when this epoch's first batch was drawn

    def done(self) -> int:
        """How many batches of the current epoch the trainer has processed."""
        return self.trained() - self.epoch_start

    def __iter__(self):
        skip, self.skip = self.skip, 0
        self.epoch_start = self.trained() - skip
        epoch = self.epoch
        return ((i, epoch) for i in itertools.islice(super().__iter__(), skip * self.batch_size, None))


class ResumableTrainData:
    """The training data position of a LightningDataModule in its checkpoints, for a resume mid-epoch.

    The module sets ``train_batches`` (a sampler with ``epoch``, ``set_epoch``, ``skip`` and ``done()``:
    :class:`ResumableBatches`, :class:`CropSampler`) when it builds the training loader and then calls
    ``_apply_resume()``; ``_data_settings()`` says what the batch order depends on.
    """

    train_batches = None
    _resume: dict | None = None  # a checkpoint's state_dict, applied by the next train_dataloader()

    def _data_settings(self) -> dict:
        """What the batch order depends on: a resume with other values starts its epoch over."""
        raise NotImplementedError

    def _trained_batches(self) -> int:
        return self.trainer.fit_loop.epoch_loop.batch_progress.total.processed if self.trainer else 0

    def state_dict(self) -> dict:
        """Where the training batches stand (Lightning saves this in every checkpoint): the sampler's epoch and
        how many of its batches the trainer has processed; after the last batch of an epoch, the next epoch
        and 0. Empty before any training."""
        if self.trainer is None or self.train_batches is None:
            return {}
        epoch, done = self.train_batches.epoch, self.train_batches.done()
        if self.trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            epoch, done = epoch + 1, 0
        return {"train_epoch": epoch, "train_batches_done": done, "data_settings": self._data_settings()}

    def load_state_dict(self, state: dict) -> None:
        """Keep a checkpoint's position for the next ``train_dataloader()`` (Lightning restores the data
        module before it builds the loaders)."""
        self._resume = dict(state) if state else None

    def _apply_resume(self) -> None:
        state, self._resume = self._resume, None
        if not state or "train_epoch" not in state:
            return
        epoch, done = int(state["train_epoch"]), int(state["train_batches_done"])
        saved, now = state.get("data_settings", {}), self._data_settings()
        changed = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
        # Lightning makes the first iterator of a resumed fit before it calls set_epoch: set it here
        self.train_batches.set_epoch(epoch)
        if changed:
            log.warning("resuming with other training data settings (checkpoint, now: %s): epoch %d starts over "
                        "instead of skipping its %d trained batches", changed, epoch, done)  # fmt: skip
            return
        self.train_batches.skip = done
        log.info("resuming the training data at epoch %d after its first %d batches", epoch, done)


class CropDataModule(ResumableTrainData, L.LightningDataModule):
    """Fixed-length audio crops for GAN training of the VAE and the vocoder (batch: see module docstring).

    Crop length: ``crop_seconds`` (``val_crop_seconds`` for validation, default the same), or an exact
    ``crop_samples`` / ``val_crop_samples`` when given (vocos counts its crops in samples).
    ``pad`` and ``peak_normalize``: see :class:`CropDataset` (the vocoder recipes use ``repeat`` and peak
    normalization, as vocos' own dataset; the VAE recipes zero-pad and keep the level).
    Cuts are screened at set-up (``min_duration``, ``max_duration``, ``check_audio``, ``require_text``;
    see :func:`tts.data.validate.screen_cuts`, reported in ``reports``); an item that still fails to load
    is dropped from its batch and counted (``load_failures``); a batch with no item left is ``None``
    and the GAN module skips it.

    ``seed``: the training order of each epoch, the crop offsets and gains (from (seed, epoch, item), see
    :class:`CropSampler`, :class:`CropDataset`) and the DataLoaders' own generators (an epoch start or a
    validation draws nothing from the global torch RNG). Resumable mid-epoch: its ``state_dict`` (in
    Lightning checkpoints) holds the epoch and the batches of it that the trainer has processed, and a
    resumed fit skips those (:class:`ResumableTrainData`), so it trains on the crops the uninterrupted
    run would have.
    """

    def __init__(
        self,
        train_cuts: str,
        val_cuts: str,
        sample_rate: int = 16000,
        crop_seconds: float = 3.0,
        val_crop_seconds: float | None = None,
        batch_size: int = 16,
        val_batch_size: int | None = None,
        num_workers: int = 2,
        teacher_key: str | None = None,
        min_duration: float = 0.5,
        max_duration: float = 30.0,
        check_audio: str = "full",
        require_text: bool = True,
        crop_samples: int | None = None,
        val_crop_samples: int | None = None,
        pad: Literal["zeros", "repeat"] = "zeros",
        peak_normalize: bool = False,
        seed: int = 0,
    ):
        super().__init__()
        if pad not in ("zeros", "repeat"):
            raise ValueError(f"data pad must be 'zeros' or 'repeat', not {pad!r}")
        if seed < 0:
            raise ValueError(f"data seed must be >= 0, not {seed}")
        for name, value in (("crop_samples", crop_samples), ("val_crop_samples", val_crop_samples)):
            if value is not None and value < 1:
                raise ValueError(f"data {name} must be >= 1 (or null to use the crop seconds), not {value}")
        self.save_hyperparameters()
        self.reports: dict[str, SkipReport] = {}
        self.teacher_rate: float | None = None

    @property
    def _hint(self) -> str:
        return TEACHER_HINT if self.hparams.teacher_key else CORPUS_HINT

    def crop_length(self, train: bool) -> int:
        """Samples per crop: the ``*_samples`` setting, else the seconds at ``sample_rate``."""
        h = self.hparams
        train_len = h.crop_samples if h.crop_samples is not None else round(h.crop_seconds * h.sample_rate)
        if train:
            return train_len
        if h.val_crop_samples is not None:
            return h.val_crop_samples
        return round(h.val_crop_seconds * h.sample_rate) if h.val_crop_seconds is not None else train_len

    @property
    def load_failures(self) -> int:
        """Items dropped at load time in this process (with DataLoader workers, each worker counts its own)."""
        return sum(getattr(self, name).load_failures for name in ("train_set", "val_set") if hasattr(self, name))

    def _screen(self, path: str, name: str) -> CutSet:
        h = self.hparams
        cuts, report = screen_cuts(
            _load_cuts(path, name, self._hint), name=name, min_duration=h.min_duration, max_duration=h.max_duration,
            check_audio=h.check_audio, require_text=h.require_text, require_custom=h.teacher_key,
        )
        self.reports[name] = report
        return cuts

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        h = self.hparams
        train = self._screen(h.train_cuts, "train")
        val = self._screen(h.val_cuts, "val")
        if len(train) == 0:
            raise _no_usable_cuts(h.train_cuts, self.reports["train"], h.teacher_key, self._hint)
        if h.teacher_key:
            self.teacher_rate = 1.0 / train[0].custom[h.teacher_key].frame_shift
        common = dict(teacher_key=h.teacher_key, teacher_rate=self.teacher_rate, pad=h.pad,
                      peak_normalize=h.peak_normalize, seed=h.seed)
        self.train_set = CropDataset(train, h.sample_rate, self.crop_length(True), True, **common)
        self.val_set = CropDataset(val, h.sample_rate, self.crop_length(False), False, **common)

    def _loader(self, ds: Dataset, batch_size: int, train: bool) -> DataLoader:
        w = self.hparams.num_workers
        sampler = None
        if train:
            sampler = self.train_batches = CropSampler(ds, batch_size, self.hparams.seed, self._trained_batches)
            self._apply_resume()
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=w, collate_fn=collate_crops,
                          drop_last=train and len(ds) >= batch_size, persistent_workers=w > 0,
                          generator=torch.Generator().manual_seed(self.hparams.seed))  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.hparams.batch_size, True)

    def _data_settings(self) -> dict:
        h = self.hparams
        return {"train_cuts": len(self.train_set), "seed": h.seed, "batch_size": h.batch_size,
                "world_size": self.train_batches.num_replicas}  # fmt: skip

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, self.hparams.val_batch_size or self.hparams.batch_size, False)


class FeatureBatchDataset(Dataset):
    """Maps a CutSet (one bucketed batch from the sampler) to a padded feature batch."""

    def __init__(self, feature_key: str, alignment: str | None = None):
        self.feature_key = feature_key
        self.alignment = alignment
        self.load_failures = 0

    def __getitem__(self, cuts: CutSet) -> dict | None:
        from tts.data.alignment import cut_alignment

        feats, texts, ids, alignments = [], [], [], []
        for cut in cuts:
            try:
                arr = cut.load_custom(self.feature_key)
                if self.alignment:
                    alignments.append(cut_alignment(cut, self.alignment))
            except Exception as e:
                self.load_failures += 1
                log.warning("dropping %s from batch: cannot load %r: %s", cut.id, self.feature_key, e)
                continue
            feats.append(torch.from_numpy(np.asarray(arr, dtype=np.float32)))
            texts.append(cut_text(cut))
            ids.append(cut.id)
        if not feats:
            return None
        lens = torch.tensor([f.shape[0] for f in feats])
        padded = torch.zeros(len(feats), int(lens.max()), feats[0].shape[1])
        for i, f in enumerate(feats):
            padded[i, : f.shape[0]] = f
        batch = {"feats": padded, "feat_lens": lens, "texts": texts, "ids": ids}
        if self.alignment:
            batch["alignments"] = alignments
        return batch


class ResumableBatches(Sampler):
    """A lhotse batch sampler whose next iteration skips the first ``skip`` batches: the part of a resumed
    epoch that the checkpointed run had already trained on. ``set_epoch`` and ``epoch`` are the sampler's.

    ``trained()`` is the trainer's count of processed batches (all epochs): ``done()`` = those of this
    epoch. The position comes from the trainer and not from the sampler's own state because Lightning
    pre-fetches one batch and DataLoader workers pre-fetch more, so at a checkpoint the sampler has drawn
    batches that were never trained on. Skipping re-draws the same batches (lhotse's batches depend only
    on the cuts, the seed and the epoch); nothing is loaded for the skipped ones.
    """

    def __init__(self, sampler: Sampler, trained: Callable[[], int] = lambda: 0):
        self.sampler = sampler
        self.trained = trained
        self.skip = 0
        self.epoch_start = 0  # trained() when this epoch's first batch was drawn

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def done(self) -> int:
        """How many batches of the current epoch the trainer has processed."""
        return self.trained() - self.epoch_start

    def __iter__(self):
        skip, self.skip = self.skip, 0
        self.epoch_start = self.trained() - skip
        return itertools.islice(iter(self.sampler), skip, None)


class UtteranceDataModule(ResumableTrainData, L.LightningDataModule):
    """Whole utterances with cached features, bucketed by duration, ``max_frames_per_batch`` per batch.

    ``max_cuts``: at most this many utterances per batch (F5-TTS' ``max_samples``: 64); None: no cap.

    ``alignment``: the supervision alignment kind to load for the aligned DiT (e.g. ``phoneme``); cuts
    without it (``missing_alignment``) or with symbols outside the vocabulary (``unknown_symbols``; the
    vocab file, else ``tts.data.alignment.default_vocab(alignment)``) are skipped and reported, and the text
    is not screened against the character vocabulary.

    ``seed``: the order of the batches in each epoch (lhotse's seed + epoch) and the DataLoaders' own
    generators (so starting an epoch or a validation draws nothing from the global torch RNG, and a resume
    at any point continues the training noise of the uninterrupted run, see ``tts.rng.ResumeRNG``).
    """

    def __init__(
        self,
        train_cuts: str,
        val_cuts: str,
        feature_key: str = "feats",
        max_frames_per_batch: int = 38400,
        num_buckets: int = 8,
        num_workers: int = 2,
        min_duration: float = 0.3,
        max_duration: float = 30.0,
        vocab: str | None = None,
        seed: int = 0,
        alignment: str | None = None,
        max_cuts: int | None = 64,
    ):
        super().__init__()
        if max_cuts is not None and max_cuts < 1:
            raise ValueError(f"max_cuts must be >= 1 (or null for no cap), not {max_cuts}")
        self.save_hyperparameters()
        self.reports: dict[str, SkipReport] = {}
        self.frame_rate: float | None = None
        self.train_batches: ResumableBatches | None = None

    def _screen(self, path: str, name: str) -> CutSet:
        h = self.hparams
        vocab = Vocab.load(h.vocab) if h.vocab else Vocab()
        cuts, report = screen_cuts(
            _load_cuts(path, name, FEATURES_HINT), name=name, min_duration=h.min_duration, max_duration=h.max_duration,
            check_audio="none", require_text=True, vocab=None if h.alignment else vocab,
            require_custom=h.feature_key,
        )
        if h.alignment:
            from tts.data.alignment import default_vocab, screen_alignments

            ali_vocab = Vocab.load(h.vocab) if h.vocab else default_vocab(h.alignment)
            cuts = screen_alignments(cuts, h.alignment, ali_vocab, report)
        self.reports[name] = report
        return cuts

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_cutset"):
            return
        self.train_cutset = self._screen(self.hparams.train_cuts, "train")
        self.val_cutset = self._screen(self.hparams.val_cuts, "val")
        if len(self.train_cutset) == 0:
            raise _no_usable_cuts(self.hparams.train_cuts, self.reports["train"], self.hparams.feature_key,
                                  FEATURES_HINT)  # fmt: skip
        self.frame_rate = 1.0 / self.train_cutset[0].custom[self.hparams.feature_key].frame_shift

    @property
    def max_batch_seconds(self) -> float:
        return self.hparams.max_frames_per_batch / self.frame_rate

    def make_sampler(self, cuts: CutSet, train: bool) -> DynamicBucketingSampler | SimpleCutSampler:
        """lhotse's padded budget: batch size x longest utterance (in frames) <= the budget, except that
        the utterance which closes a batch may overshoot it (by at most one utterance); and at most
        ``max_cuts`` utterances. A single cut (a toy dev split) cannot be bucketed: one plain batch."""
        h = self.hparams
        if len(cuts) < 2:
            return SimpleCutSampler(cuts, max_duration=self.max_batch_seconds, max_cuts=h.max_cuts, seed=h.seed)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*eagerly read CutSet.*")
            return DynamicBucketingSampler(
                cuts, max_duration=self.max_batch_seconds, max_cuts=h.max_cuts, num_buckets=max(2, min(h.num_buckets, len(cuts) // 2)),
                shuffle=train, drop_last=False, seed=h.seed, buffer_size=max(1000, min(len(cuts), 20000)),
            )

    def _loader(self, cuts: CutSet, train: bool) -> DataLoader:
        w = self.hparams.num_workers
        dataset = FeatureBatchDataset(self.hparams.feature_key, self.hparams.alignment)
        sampler = self.make_sampler(cuts, train)
        if train:
            sampler = self.train_batches = ResumableBatches(sampler, self._trained_batches)
            self._apply_resume()
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=w, persistent_workers=w > 0,
                          generator=torch.Generator().manual_seed(self.hparams.seed))  # fmt: skip

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_cutset, True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_cutset, False)

    def _data_settings(self) -> dict:
        """What the batch order depends on: a resume with other values starts its epoch over."""
        h = self.hparams
        return {"train_cuts": len(self.train_cutset), "seed": h.seed, "max_frames_per_batch": h.max_frames_per_batch,
                "max_cuts": h.max_cuts, "num_buckets": h.num_buckets, "frame_rate": self.frame_rate,
                "world_size": getattr(self.train_batches.sampler, "world_size", 1)}  # fmt: skip
