"""tts.ema (ema-pytorch with F5-TTS settings): schedule vs the closed form over 1,000 steps, exact resume,
argument validation (the F5Module's EMA: tests/test_f5_module.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tts.ema import ema_decay, make_ema


def online_weights(step: int) -> torch.Tensor:
    """The online model's weights after optimizer step ``step``: a fixed pseudo-random walk."""
    g = torch.Generator().manual_seed(step)
    return torch.randn(3, 4, generator=g, dtype=torch.float64)


def run(ema, model: nn.Module, steps: range) -> None:
    for s in steps:
        with torch.no_grad():
            model.weight.copy_(online_weights(s))
        ema.update()


def test_schedule_matches_closed_form_over_1000_steps():
    """The k-th update: init copy at k=0, then every 10th call a copy up to step 100, then a lerp with
    decay min(beta, 1 - (1 + k - 100)^(-2/3)) (F5-TTS / ema-pytorch defaults)."""
    model = nn.Linear(4, 3, bias=False).double()
    ema = make_ema(model)  # beta 0.9999, update_after_step 100, update_every 10
    expected = None
    for k in range(1000):
        w = online_weights(k)
        if k == 0 or (k % 10 == 0 and k <= 100):
            expected = w.clone()
        elif k % 10 == 0:
            # ema-pytorch evaluates the closed form in float32 (a step counter tensor)
            decay = min(0.9999, (1 - (1 + torch.tensor(float(k - 100))) ** (-2 / 3)).item())
            assert decay == pytest.approx(ema_decay(k), rel=1e-6)
            expected = torch.lerp(expected, w, 1.0 - decay)
        with torch.no_grad():
            model.weight.copy_(w)
        if k % 10 == 0 and k > 100:
            # the library computes the decay in float32
            assert ema.get_current_decay() == pytest.approx(ema_decay(k - 1), rel=1e-6)
        ema.update()
    assert int(ema.step) == 1000
    assert ema_decay(999) == pytest.approx(1 - 900 ** (-2 / 3))
    diff = (ema.ema_model.weight - expected).abs().max().item()
    assert diff == 0.0, diff
    # the warm-up caps at beta
    assert ema_decay(10**9) == 0.9999 and ema_decay(100) == 0.0


def test_resume_from_state_dict_is_exact():
    model = nn.Linear(4, 3, bias=False).double()
    straight = make_ema(model)
    run(straight, model, range(600))

    first = make_ema(model)
    run(first, model, range(350))
    state = {k: v.clone() for k, v in first.state_dict().items()}
    assert set(state) == {"initted", "step", "ema_model.weight"}  # the online model is not saved
    resumed = make_ema(model)  # a fresh EMA of the (restored) online model
    resumed.load_state_dict(state)
    run(resumed, model, range(350, 600))
    assert torch.equal(resumed.ema_model.weight, straight.ema_model.weight)
    assert int(resumed.step) == 600


@pytest.mark.parametrize(
    "kw, name",
    [
        (dict(beta=1.0), "beta"),
        (dict(beta=-0.1), "beta"),
        (dict(update_after_step=-1), "update_after_step"),
        (dict(update_every=0), "update_every"),
        (dict(update_every=2.5), "update_every"),
    ],
)
def test_bad_arguments_are_named(kw, name):
    with pytest.raises(ValueError, match=name):
        make_ema(nn.Linear(2, 2), **kw)
