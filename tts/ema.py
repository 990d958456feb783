"""Exponential moving average of a model's weights, as F5-TTS keeps it: ``ema_pytorch.EMA``.

F5-TTS (``f5_tts/model/trainer.py``) wraps its model in ``ema_pytorch.EMA`` with the library defaults and
calls ``update()`` after every optimizer step; synthesis uses the EMA weights. The schedule, for the
``k``-th call of ``update()`` (``k`` = 0, 1, ...):

- ``k == 0``: the EMA is initialised as a copy of the model;
- only every ``update_every``-th call (``k % update_every == 0``) does anything;
- while ``k <= update_after_step`` it copies the model;
- after that it lerps with ``decay = min(beta, 1 - (1 + k - update_after_step) ** -power)``, power 2/3:
  the warm-up makes the early, near-random weights fade out (a fixed 0.9999 would keep ~14% of the
  step-100 weights at step 20k).

``make_ema`` builds it with validated arguments; ``ema_decay`` is the closed form of the decay above.
The EMA is an ``nn.Module``: its state (the EMA weights under ``ema_model.``, the ``step`` counter and
the ``initted`` flag) is in the owner's ``state_dict``, so checkpoints resume it exactly.
"""

from __future__ import annotations

from torch import nn

from tts.hparams import check_number

POWER = 2.0 / 3.0  # ema-pytorch's default warm-up power (used by F5-TTS)


def check_ema_args(beta: float, update_after_step: int, update_every: int) -> None:
    """Raise HyperParameterError naming the argument (``model.init_args.ema_*``) when it is out of range."""
    check_number("ema_beta", beta, 0.0, 1.0, open_high=True)
    check_number("ema_update_after_step", update_after_step, 0, integer=True)
    check_number("ema_update_every", update_every, 1, integer=True)


def make_ema(
    model: nn.Module,
    beta: float = 0.9999,
    update_after_step: int = 100,
    update_every: int = 10,
):
    """``ema_pytorch.EMA`` of ``model`` (F5-TTS settings by default); the online model is not a submodule.

    Call ``.update()`` once per optimizer step; ``.ema_model`` is the averaged copy (no gradients).
    """
    from ema_pytorch import EMA

    check_ema_args(beta, update_after_step, update_every)
    ema = EMA(
        model,
        beta=beta,
        update_after_step=int(update_after_step),
        update_every=int(update_every),
        power=POWER,
        include_online_model=False,  # the owner holds the model; the checkpoint holds it once
        use_foreach=True,
    )
    ema.ema_model.requires_grad_(False)
    return ema


def ema_decay(k: int, beta: float = 0.9999, update_after_step: int = 100, power: float = POWER) -> float:
    """Decay of the lerp done by the ``k``-th ``update()`` call (0-based), when it lerps (see module doc)."""
    epoch = k - update_after_step
    if epoch <= 0:
        return 0.0
    return min(beta, 1.0 - (1.0 + epoch) ** -power)
