"""One GAN trainer for the waveform generators (the speech VAE, the Vocos vocoder).

:class:`GANModule` is a LightningModule (manual optimization) that trains an injected ``generator``
against an injected ``discriminator`` with an injected :class:`GANLoss`. Per batch:

1. ``generate(batch)`` -> (real, fake, out): one generator forward (the VAE samples its latent once);
2. from ``gan_start_step`` on (and only with a discriminator): one discriminator step on
   (real, fake.detach()): gradient norm clipped to ``grad_clip_discriminator`` (None: no clipping), its
   LR scheduler stepped only then (the discriminator's LR decays only while it trains);
3. one generator step on the generator loss (reconstruction + adversarial + feature matching from
   ``gan_start_step`` on), clipped to ``grad_clip_generator``, then the EMA update and the generator's
   LR scheduler step.

A non-finite loss skips the rest of that batch (no update; a RuntimeWarning, ``skipped_steps`` counted and
logged). Optimizers: [generator (+ the loss' own parameters, e.g. the VAE's semantic projector),
discriminator].

**Counting in batches.** Only the generator step advances ``trainer.global_step`` (the discriminator step
goes through the strategy without Lightning's step counter), so ``global_step``, ``trainer.max_steps``,
``ModelCheckpoint(every_n_train_steps)``, ``gan_start_step``, the LR schedules and the EMA all count
trained batches (a batch skipped as non-finite or empty is not counted).
"""

from __future__ import annotations

import warnings

import lightning as L
import torch
from torch import nn

from tts.ema import check_ema_args, make_ema
from tts.hparams import check_number
from tts.init_from import copy_weights, initialize
from tts.io import CheckpointError

# checkpoint["gan_trainer"]: written by GANModule; absent or older: a checkpoint of the pre-GANModule loops
# (before commit d733edc), which this trainer refuses
CHECKPOINT_VERSION = 2


class GANLoss(nn.Module):
    """The losses of one GAN. Its parameters (if any) train with the generator.

    ``discriminator_loss`` and ``generator_loss`` return (total, {log name: value}); names in
    ``prog_bar`` go to the progress bar. ``discriminator`` is None in ``generator_loss`` before
    ``gan_start_step`` (reconstruction losses only).
    """

    prog_bar: tuple[str, ...] = ()

    def discriminator_loss(
        self, discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def generator_loss(
        self, discriminator: nn.Module | None, batch, real: torch.Tensor, fake: torch.Tensor, out
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


class GANModule(L.LightningModule):
    """Adversarial training of ``generator`` vs ``discriminator`` (see the module docstring).

    Subclasses implement ``generate(batch) -> (real, fake, out)`` and ``make_optimizer(params, which)``
    -> (optimizer, LR scheduler) for ``which`` in ("generator", "discriminator").
    ``ema``: an EMA of the generator (``tts.ema``) updated after every generator step, in the checkpoint
    as ``ema.*``.
    """

    @classmethod
    def from_init_args(cls, init_args: dict):
        """Build from a recipe's ``model.init_args`` as plain data, as LightningCLI would (its class_path
        blocks instantiated; a bad one named by key): ``VAEModule.from_init_args(yaml.safe_load(
        open(recipe))["model"]["init_args"])``."""
        from tts.config import instantiate

        return cls(**{k: instantiate(v, f"model.init_args.{k}") if isinstance(v, dict) and "class_path" in v else v
                      for k, v in init_args.items()})  # fmt: skip

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module | None,
        loss: GANLoss,
        gan_start_step: int = 0,
        grad_clip_generator: float | None = None,
        grad_clip_discriminator: float | None = None,
        ema: bool = False,
        ema_beta: float = 0.9999,
        ema_update_after_step: int = 100,
        ema_update_every: int = 10,
    ):
        super().__init__()
        check_number("gan_start_step", gan_start_step, 0, integer=True, note="a batch count")
        for name, value in (("grad_clip_generator", grad_clip_generator),
                            ("grad_clip_discriminator", grad_clip_discriminator)):  # fmt: skip
            if value is not None:
                check_number(name, value, 0.0, open_low=True, note="or null for no clipping")
        check_ema_args(ema_beta, ema_update_after_step, ema_update_every)
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.gan_start_step = gan_start_step
        self.grad_clip_generator = grad_clip_generator
        self.grad_clip_discriminator = grad_clip_discriminator
        # state_dict: ema.ema_model.* (the EMA generator), ema.step, ema.initted
        self.ema = make_ema(generator, ema_beta, ema_update_after_step, ema_update_every) if ema else None
        self.skipped_steps = 0

    # -- to implement ------------------------------------------------------------------------------------
    def generate(self, batch) -> tuple[torch.Tensor, torch.Tensor, object]:
        """(real (B, T), fake (B, T), anything else the loss needs) from one generator forward."""
        raise NotImplementedError

    def make_optimizer(self, params: list[nn.Parameter], which: str):
        """(optimizer, LR scheduler stepped once per step of that optimizer) for ``which``."""
        raise NotImplementedError

    def after_generator_step(self, batch_size: int) -> None:
        """Hook after each generator step (extra logging)."""

    def init_weights_from(self, path: str) -> None:
        """Check the model at ``path`` against this one and copy its weights with ``copy_generator_weights``
        (a subclass' ``init_from`` argument; ``tts.init_from``)."""
        raise NotImplementedError

    # -- init_from ---------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        initialize(self)

    def copy_generator_weights(self, path: str, state: dict) -> None:
        """``state`` (the weights of the model at ``path``) into the generator and its EMA."""
        copy_weights(path, state, self.generator, self.ema.ema_model if self.ema is not None else None)

    # -- the loop ----------------------------------------------------------------------------------------
    def adversarial(self) -> bool:
        """Whether this batch trains the discriminator and uses the adversarial losses."""
        return self.discriminator is not None and self.global_step >= self.gan_start_step

    def setup(self, stage: str) -> None:
        """Under DDP each of a batch's two backward passes trains one network (the discriminator's does not
        reach the generator; before ``gan_start_step`` nothing reaches the discriminator): DDP must be told that
        some parameters get no gradient in a pass (``find_unused_parameters``), else it stops at the first step.
        Set here, before the strategy wraps the module, unless the recipe's strategy sets it itself."""
        from lightning.pytorch.strategies import DDPStrategy

        strategy = self.trainer.strategy if self._trainer is not None else None
        if isinstance(strategy, DDPStrategy) and "find_unused_parameters" not in strategy._ddp_kwargs:
            strategy._ddp_kwargs["find_unused_parameters"] = True

    def configure_optimizers(self):
        gen_params = [*self.generator.parameters(), *self.loss.parameters()]
        opt_g, sched_g = self.make_optimizer(gen_params, "generator")
        if self.discriminator is None:
            return [opt_g], [sched_g]
        opt_d, sched_d = self.make_optimizer(list(self.discriminator.parameters()), "discriminator")
        return [opt_g, opt_d], [sched_g, sched_d]

    def _optimizers(self):
        opts, scheds = self.optimizers(), self.lr_schedulers()
        if not isinstance(opts, list):
            return (opts, None), (scheds, None)
        return opts, scheds

    def _all_finite(self, *losses: torch.Tensor) -> bool:
        finite = all(bool(torch.isfinite(x).all()) for x in losses)
        return self.trainer.strategy.reduce_boolean_decision(finite, all=True)

    def _skip(self, what: str, losses: dict[str, torch.Tensor]) -> None:
        self.skipped_steps += 1
        values = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in losses.items())
        warnings.warn(
            f"non-finite {what} loss at batch step {self.global_step} ({values}): step skipped "
            f"({self.skipped_steps} skipped so far)",
            RuntimeWarning,
            stacklevel=3,
        )
        self.log("train/skipped_steps", float(self.skipped_steps), batch_size=1)

    def _log_all(self, logs: dict[str, torch.Tensor], batch_size: int) -> None:
        for name, value in logs.items():
            self.log(name, value, prog_bar=name in self.loss.prog_bar, batch_size=batch_size)

    def _uncounted_step(self, optimizer) -> None:
        """Step through the strategy (precision plugin, hooks) without advancing ``global_step``."""
        self.trainer.strategy.optimizer_step(optimizer.optimizer, closure=lambda: None, model=self)

    def training_step(self, batch, batch_idx: int) -> None:
        if batch is None:  # every item of the batch failed to load (CropDataModule drops and counts them)
            return
        (opt_g, opt_d), (sched_g, sched_d) = self._optimizers()
        real, fake, out = self.generate(batch)
        batch_size = real.shape[0]
        adversarial = self.adversarial()
        if adversarial:
            loss_d, logs_d = self.loss.discriminator_loss(self.discriminator, real, fake.detach())
            if not self._all_finite(loss_d):
                self._skip("discriminator", logs_d)
                return
            opt_d.zero_grad(set_to_none=True)
            self.manual_backward(loss_d)
            if self.grad_clip_discriminator is not None:
                self.clip_gradients(opt_d, self.grad_clip_discriminator, "norm")
            self._uncounted_step(opt_d)
            sched_d.step()
            self._log_all(logs_d, batch_size)

        loss_g, logs_g = self.loss.generator_loss(
            self.discriminator if adversarial else None, batch, real, fake, out
        )
        if not self._all_finite(loss_g):
            self._skip("generator", logs_g)
            return
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        if self.grad_clip_generator is not None:
            self.clip_gradients(opt_g, self.grad_clip_generator, "norm")
        opt_g.step()  # counted: global_step = generator steps = trained batches
        if self.ema is not None:
            self.ema.update()
        sched_g.step()
        self._log_all(logs_g, batch_size)
        self.after_generator_step(batch_size)

    # -- checkpoints -------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["gan_trainer"] = CHECKPOINT_VERSION

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        if checkpoint.get("gan_trainer", 0) < CHECKPOINT_VERSION:
            raise CheckpointError(
                f"this {type(self).__name__} checkpoint was written by the training loop before tts.gan.GANModule "
                "(before commit d733edc): train again, or resume it with a checkout of that time"
            )
        state = checkpoint.get("state_dict", {})
        if self.ema is None or not state or any(k.startswith("ema.") for k in state):
            return
        # a checkpoint trained with ema: false starts the EMA afresh from its generator
        for key, value in self.ema.state_dict().items():
            if key.startswith("ema_model."):
                state["ema." + key] = state["generator." + key[len("ema_model.") :]].clone()
            else:  # step, initted: the EMA re-initialises at its next update
                state["ema." + key] = torch.zeros_like(value)
