"""LightningModule for F5 DiT training on a feature space (CFM loss, AdamW, warm-up + linear decay, EMA).

Batches come from ``tts.data.datamodule.UtteranceDataModule``:
``{"feats": (B, N, D), "feat_lens": (B,), "texts": list[str], "ids": list[str]}`` (+ ``"alignments"``:
per utterance a list of (symbol, start, duration), with ``alignment=KIND`` for the aligned mode).
The vocabulary travels in the checkpoint (``checkpoint["vocab"]``) so fine-tunes keep the ids.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import lightning.pytorch as pl
import torch

from tts.data.alignment import default_vocab
from tts.ema import check_ema_args, make_ema
from tts.f5.aligned import CONDITIONINGS, aligned_batch
from tts.f5.cfm import CFM
from tts.f5.dit import DiT, DiTConfig
from tts.f5.duration import DurationPredictor
from tts.features import space_info, space_options
from tts.hparams import check_betas, check_choice, check_number
from tts.init_from import copy_weights, differences, initialize, read, refuse
from tts.text import Vocab

log = logging.getLogger(__name__)


def make_adamw(
    params, lr: float, betas=(0.9, 0.999), weight_decay: float = 0.01, fused: bool = True
) -> torch.optim.AdamW:
    """AdamW, fused (one kernel over all parameters; ~4x faster step on CPU) where torch supports it."""
    params = list(params)
    fused = fused and all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, fused=fused or None)


def encode_texts(vocab: Vocab, texts: list[str], device: torch.device | str = "cpu") -> torch.Tensor:
    """Texts -> (B, Nt) ids padded with the filler 0 (unknown characters dropped)."""
    ids = [vocab.encode(t, on_unknown="drop") for t in texts]
    out = torch.zeros(len(ids), max(len(i) for i in ids), dtype=torch.long)
    for row, i in zip(out, ids):
        row[: len(i)] = torch.tensor(i)
    return out.to(device)


def warmup_linear_decay(step: int, warmup: int, total: int) -> float:
    """LR factor: linear warm-up over ``warmup`` steps, then linear decay to 0 at ``total`` (0 = no decay)."""
    warmup = max(1, warmup)
    if step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    return max(0.0, (total - step) / (total - warmup))


def check_training_args(hp) -> None:
    """HyperParameterError naming the first of F5Module's arguments (``hp``) outside its range."""
    check_choice("conditioning", hp["conditioning"], CONDITIONINGS)
    check_choice("duration_loss", hp["duration_loss"], ("l1", "l2"))
    check_number("lr", hp["lr"], 0.0, open_low=True)
    check_number("warmup_steps", hp["warmup_steps"], 0, integer=True)
    check_number("weight_decay", hp["weight_decay"], 0.0)
    check_betas(hp["betas"])
    check_ema_args(hp["ema_beta"], hp["ema_update_after_step"], hp["ema_update_every"])
    for name in ("audio_drop_prob", "cond_drop_prob"):
        check_number(name, hp[name], 0.0, 1.0)
    lo, hi = hp["frac_lengths"]
    check_number("frac_lengths[0]", lo, 0.0, 1.0, open_low=True)
    check_number("frac_lengths[1]", hi, lo, 1.0)
    check_number("max_duration_s", hp["max_duration_s"], 0.0, open_low=True)
    check_number("sample_every_n_steps", hp["sample_every_n_steps"], 0, integer=True)
    check_number("sample_nfe", hp["sample_nfe"], 1, integer=True)
    check_number("duration_dim", hp["duration_dim"], 1, integer=True)
    check_number("duration_layers", hp["duration_layers"], 1, integer=True)
    check_number("duration_weight", hp["duration_weight"], 0.0)


def vocab_differences(ours: Vocab, theirs: Vocab) -> list[str]:
    """What differs between this model's vocabulary and a source's (kind, size, symbols only on one side,
    or the first id whose symbol differs); empty when they are the same."""
    out = [] if ours.kind == theirs.kind else [f"kind {ours.kind!r} here, {theirs.kind!r} in the source"]
    if ours.symbols == theirs.symbols:
        return out
    out.append(f"{len(ours)} symbols here, {len(theirs)} in the source")
    for side, a, b in (("only in the source", theirs, ours), ("only here", ours, theirs)):
        only = [s for s in a.symbols if s not in set(b.symbols)]
        if only:
            out.append(f"{side}: {' '.join(map(repr, only[:12]))}{' ...' if len(only) > 12 else ''}")
    if len(out) == 1 + (ours.kind != theirs.kind):  # same symbols, other ids
        i = next(i for i, (a, b) in enumerate(zip(ours.symbols, theirs.symbols)) if a != b)
        out.append(f"id {i} is {ours.symbols[i]!r} here, {theirs.symbols[i]!r} in the source")
    return out


def space_differences(ours: str, theirs: str) -> list[str]:
    """What differs between two feature space specs: the kind (mel / latent), and for latents the VAE (the
    same path, resolved), ``normalize`` and ``sample``. Mel features do not depend on the vocoder that decodes
    them, so ``vocos=`` may differ."""
    (kind, a), (their_kind, b) = space_options(ours), space_options(theirs)
    if kind != their_kind:
        return [f"{kind!r} here ({ours}), {their_kind!r} in the source ({theirs})"]
    if kind == "mel":
        return []

    def norm(options: dict) -> dict:
        paths = {k: str(Path(options[k]).resolve()) if options.get(k) else None for k in ("vae", "normalize")}
        return {**paths, "sample": options.get("sample", "false").lower() in ("1", "true", "yes")}

    return differences(norm(a), norm(b))


class F5Module(pl.LightningModule):
    """F5-TTS training: CFM around a DiT sized by ``dit``, on the feature space ``space``.

    Args:
        space: feature space spec (``mel:vocos=...`` / ``latent:vae=...``); fixes the feature dim and is
            stored with the model for synthesis. The space itself is only loaded to log audio samples.
        vocab: path to a vocab.json, or None for the default English ``Vocab()``.
        dit: the DiT's hyper-parameters (``tts.f5.dit.DiTConfig``: dim, depth, heads, dim_head, ff_mult,
            text_dim, conv_layers, dropout, null_text, fast); a recipe writes them as a ``dit:`` block.
            feat_dim and vocab_size come from ``space`` and the vocabulary (if given, they must agree).
        lr: AdamW peak learning rate; warmup_steps of linear warm-up, then linear decay to 0 at
            ``trainer.max_steps`` (constant when max_steps is unset).
        ema_beta, ema_update_after_step, ema_update_every: the EMA of the weights used for samples and
            export, ``ema_pytorch.EMA`` as F5-TTS keeps it (``tts.ema``; defaults = F5-TTS): updated after
            every optimizer step, acting every ``ema_update_every`` steps, a copy until
            ``ema_update_after_step``, then decay ``min(beta, 1 - (1 + k - after) ** (-2/3))``.
        max_duration_s: longest utterance (prompt + generation) the model is used for.
        sample_every_n_steps: log a synthesized sample to TensorBoard (0 = never); sample_nfe steps.
        conditioning: ``filler`` (F5-TTS: characters padded with the filler to the frame length) or
            ``aligned`` (each frame carries the id of the token its alignment puts there, see
            ``tts.f5.aligned``; batches need ``alignments``, and a duration predictor head is trained).
        alignment: the alignment kind read from the supervisions (``phoneme``; any other kind, e.g.
            ``char``, uses the character vocabulary); sets the default vocab when ``vocab`` is None.
            None (the default) means ``phoneme`` in the aligned mode and nothing otherwise, so a filler
            model's hyper-parameters agree with its data module's ``alignment: null`` (Lightning refuses
            to log differing values of a key both have).
        duration_dim, duration_layers, duration_loss (``l2``/``l1``), duration_weight: the duration
            predictor head of the aligned mode (``tts.f5.duration``), its loss added with this weight.
        duration_prompt_rate: the duration head also sees the prompt's speaking rate (log frames per token;
            in training a random prefix of the utterance), so a many-speaker model speaks at its prompt's rate.
        init_from: start training from the weights of this F5 model (an export dir, an ``F5Module``
            checkpoint or a ``tts import f5`` result; its EMA weights into the DiT and its EMA, and its duration
            head): optimizer, step count, budget and sampler start afresh (``tts.init_from``). Its vocabulary,
            feature space, conditioning and network sizes must be this module's (dropout may differ). Not
            read when the fit resumes a checkpoint.
    """

    def __init__(
        self,
        space: str = "mel",
        vocab: str | None = None,
        dit: DiTConfig = DiTConfig(),
        audio_drop_prob: float = 0.3,
        cond_drop_prob: float = 0.2,
        frac_lengths: tuple[float, float] = (0.7, 1.0),
        lr: float = 7.5e-5,
        warmup_steps: int = 20000,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.999),
        ema_beta: float = 0.9999,
        ema_update_after_step: int = 100,
        ema_update_every: int = 10,
        max_duration_s: float = 30.0,
        sample_every_n_steps: int = 0,
        sample_nfe: int = 16,
        conditioning: str = "filler",
        alignment: str | None = None,
        duration_dim: int = 128,
        duration_layers: int = 2,
        duration_loss: str = "l2",
        duration_weight: float = 1.0,
        duration_prompt_rate: bool = False,
        init_from: str | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        check_training_args(self.hparams)
        # checkpoints hold plain data (they load with weights_only=True): the DiT config as a dict
        for hparams in (self._hparams, self._hparams_initial):
            hparams["dit"] = asdict(dit)
        self.aligned = conditioning == "aligned"
        self.alignment = (alignment or "phoneme") if self.aligned else alignment
        self.vocab = Vocab.load(vocab) if vocab else default_vocab(self.alignment) if self.aligned else Vocab()
        info = space_info(space)
        self.frame_rate = info.frame_rate
        for name, value in (("feat_dim", info.dim), ("vocab_size", len(self.vocab))):
            if getattr(dit, name) not in (None, value):
                raise ValueError(
                    f"dit.{name} is {getattr(dit, name)}, but the space / vocabulary give {value}: leave it unset"
                )
        dit = replace(dit, feat_dim=info.dim, vocab_size=len(self.vocab))
        self.cfm = CFM(DiT(dit), audio_drop_prob, cond_drop_prob, tuple(frac_lengths))
        # state_dict: ema.ema_model.* (the EMA DiT), ema.step, ema.initted
        self.ema = make_ema(self.cfm.net, ema_beta, ema_update_after_step, ema_update_every)
        self.duration = (
            DurationPredictor(len(self.vocab), duration_dim, duration_layers, dropout=dit.dropout,
                              prompt_rate=duration_prompt_rate)
            if self.aligned
            else None
        )
        self._space: list = []  # loaded lazily; a list so the space is not a submodule (not checkpointed)
        self._space_failed = False

    # ---- training ---------------------------------------------------------------------------------
    def _text(self, batch: dict) -> tuple[torch.Tensor, tuple | None]:
        """The DiT's text input: filler-padded characters, or (aligned) frame ids + the predictor's
        (token ids, frames per token, token mask)."""
        if not self.aligned:
            return encode_texts(self.vocab, batch["texts"], self.device), None
        if "alignments" not in batch:
            raise KeyError(
                "conditioning=aligned needs batches with alignments: set the data module's "
                f"alignment: {self.alignment}"
            )
        frame_ids, *dur = aligned_batch(
            self.vocab, batch["alignments"], batch["feat_lens"], self.frame_rate, batch.get("ids")
        )
        return frame_ids, tuple(dur)

    def _loss(
        self, batch: dict, generator: torch.Generator | None = None, stage: str = "train"
    ) -> torch.Tensor:
        text, dur = self._text(batch)
        loss, _ = self.cfm(batch["feats"], batch["feat_lens"], text, generator)
        if dur is not None:
            dur_loss = self.duration.loss(*dur, kind=self.hparams.duration_loss, generator=generator)
            kw = dict(batch_size=len(batch["ids"]), sync_dist=stage != "train")
            self.log(f"{stage}/flow_loss", loss, **kw)
            self.log(f"{stage}/duration_loss", dur_loss, **kw)
            loss = loss + self.hparams.duration_weight * dur_loss
        return loss

    def training_step(self, batch: dict | None, batch_idx: int) -> torch.Tensor | None:
        if batch is None:  # every item of the bucket failed to load
            return None
        loss = self._loss(batch)
        n_frames = batch["feat_lens"].sum()
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["ids"]))
        self.log("train/frames", n_frames.float(), batch_size=len(batch["ids"]))
        every = self.hparams.sample_every_n_steps
        if every and self.global_step % every == 0 and self.global_rank == 0:
            self._log_sample(batch)
        return loss

    def validation_step(self, batch: dict | None, batch_idx: int) -> None:
        if batch is None:
            return
        g = torch.Generator(device=self.device).manual_seed(batch_idx)  # same noise/masks every validation
        loss = self._loss(batch, g, stage="val")
        self.log("val/loss", loss, prog_bar=True, sync_dist=True, batch_size=len(batch["ids"]))

    def optimizer_step(self, *args, **kwargs) -> None:
        # The EMA follows every optimizer step (as F5-TTS: not per accumulated micro-batch, not for skipped
        # batches), here rather than in on_train_batch_end: callbacks' on_train_batch_end (ModelCheckpoint)
        # run before the module's, so a checkpoint written there would lack this step's update, and a run
        # resumed from it would lose one update.
        super().optimizer_step(*args, **kwargs)
        self.ema.update()

    @property
    def ema_net(self) -> DiT:
        """The EMA DiT (samples, export)."""
        return self.ema.ema_model

    def trained_parameters(self) -> list[torch.nn.Parameter]:
        """The CFM's parameters, plus the duration predictor's in the aligned mode."""
        return [*self.cfm.parameters(), *(self.duration.parameters() if self.duration is not None else ())]

    def configure_optimizers(self):
        hp = self.hparams
        trainer = self._trainer
        # fp16 with a GradScaler: Lightning unscales before clipping only for non-fused optimizers
        fused = trainer is None or "16-mixed" != str(getattr(trainer, "precision", ""))
        opt = make_adamw(self.trained_parameters(), hp.lr, hp.betas, hp.weight_decay, fused=fused)
        total = trainer.max_steps if trainer is not None and trainer.max_steps > 0 else 0
        schedule = partial(warmup_linear_decay, warmup=hp.warmup_steps, total=total)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None):
        """Norm clipping also for the fused AdamW: Lightning's mixed-precision plugin refuses to clip for
        optimizers that could unscale inside ``step()``; ours is fused only without a GradScaler (fp32,
        bf16), so these are the true gradients. (DDP: gradients are already averaged; not for FSDP.)"""
        if not gradient_clip_val:
            return
        if optimizer.defaults.get("fused") and str(gradient_clip_algorithm or "norm") == "norm":
            torch.nn.utils.clip_grad_norm_(self.trained_parameters(), gradient_clip_val)
        else:
            self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # ---- init_from -------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        initialize(self)

    def init_weights_from(self, path: str) -> None:
        """Copy the F5 model at ``path`` (EMA DiT -> the DiT and its EMA; duration head) into this module;
        InitFromError naming every difference of vocabulary, feature space, conditioning or network."""
        from tts.f5.export import load

        src = read(load, path, "an F5 export dir, an F5Module checkpoint or a `tts import f5` result")
        vocab_file = Path(path) / "vocab.json" if Path(path).is_dir() else "<vocab.json of its export>"

        def conditioning(aligned: bool, alignment: str | None) -> dict:
            return {"conditioning": "aligned", "alignment": alignment} if aligned else {"conditioning": "filler"}

        def sizes(args: dict) -> dict:  # dropout is a training setting, not a size
            return {k: v for k, v in args.items() if k != "dropout"}

        mismatches = [
            ("vocabulary", vocab_differences(self.vocab, src.vocab),
             f"Train with its vocabulary: model.init_args.vocab={vocab_file}"),
            ("feature space", space_differences(self.hparams.space, src.space),
             f"Train on features of its space: model.init_args.space={src.space}"),
            ("conditioning", differences(conditioning(self.aligned, self.alignment),
                                         conditioning(src.conditioning == "aligned", src.alignment)),
             "Train with the recipe of its conditioning (recipes/f5/aligned.yaml for an aligned model)"),
            ("network", differences(sizes(self.cfm.net.args), sizes(src.net.args)),
             "Set model.init_args.dit to its sizes"),
        ]  # fmt: skip
        if self.aligned and src.duration is not None:
            mismatches.append(("duration predictor", differences(sizes(self.duration.args), sizes(src.duration.args)),
                               "Set model.init_args.duration_dim / duration_layers to its sizes"))  # fmt: skip
        refuse(path, mismatches)
        copy_weights(path, src.net.state_dict(), self.cfm.net, self.ema_net)
        if self.aligned:
            copy_weights(path, src.duration.state_dict(), self.duration)

    # ---- checkpoint -----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["vocab"] = self.vocab.to_dict()
        checkpoint["f5_config"] = {
            "network": self.cfm.net.args,
            "space": self.hparams.space,
            "frame_rate": self.frame_rate,
            "max_duration_s": self.hparams.max_duration_s,
        }
        if self.aligned:
            checkpoint["f5_config"].update(
                conditioning="aligned",
                alignment=self.alignment,
                duration_predictor=self.duration.args,
            )

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if "vocab" in checkpoint:
            vocab = Vocab.from_dict(checkpoint["vocab"])
            if len(vocab) != len(self.vocab):
                raise ValueError(
                    f"checkpoint vocab has {len(vocab)} symbols, this model {len(self.vocab)}: "
                    "pass the checkpoint's vocab.json as model.init_args.vocab"
                )
            self.vocab = vocab

    # ---- samples ----------------------------------------------------------------------------------
    def _feature_space(self):
        if not self._space and not self._space_failed:
            try:
                from tts.features import load_space

                self._space.append(load_space(self.hparams.space).to(self.device))
            except Exception as e:  # no vocoder / VAE available: log losses only
                self._space_failed = True
                log.warning("no audio samples: cannot load feature space %r: %s", self.hparams.space, e)
        return self._space[0] if self._space else None

    @torch.no_grad()
    def _log_sample(self, batch: dict) -> None:
        experiment = getattr(self.logger, "experiment", None)
        if not hasattr(experiment, "add_audio"):
            return
        space = self._feature_space()
        if space is None:
            return
        n = int(batch["feat_lens"][0])
        n_ref = max(1, int(0.3 * n))
        feats = batch["feats"][:1, :n].float()
        text = self._text(batch)[0][:1, :n]
        ema = self.ema_net
        ema.eval()
        out = CFM(ema).sample(
            feats[:, :n_ref],
            torch.tensor([n_ref], device=self.device),
            text,
            torch.tensor([n], device=self.device),
            nfe=self.hparams.sample_nfe,
        )
        ema.train()
        for name, f in (("sample/generated", out), ("sample/ground_truth", feats)):
            wav = space.decode(f.float())[0].float().clamp(-1, 1).cpu()
            experiment.add_audio(name, wav, self.global_step, space.sample_rate)
