"""Range checks of the training modules' hyper-parameters, done in their constructors.

A learning rate of -1 or a dropout probability of 2 would otherwise train (or fail many lines later) without a
word about which setting was wrong. Each check raises :class:`HyperParameterError` naming the key as a recipe
or the command line writes it (``model.init_args.lr``), the allowed range and the value given.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from tts.errors import TTSError


class HyperParameterError(TTSError, ValueError):
    """A training hyper-parameter outside its allowed range; the message names the key and the range."""


def _interval(low: float | None, high: float | None, open_low: bool, open_high: bool) -> str:
    if high is None:
        return f"{'>' if open_low else '>='} {low:g}"
    if low is None:
        return f"{'<' if open_high else '<='} {high:g}"
    return f"in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    open_low: bool = False,
    open_high: bool = False,
    integer: bool = False,
    note: str = "",
) -> None:
    """HyperParameterError unless ``value`` is a finite number (an integer value if ``integer``) in the range
    from ``low`` to ``high`` (either may be None; ``open_*``: that bound excluded). ``name``: the key in
    ``model.init_args`` (``lr``, ``betas[0]``); ``note``: said after the range (``"or null for no clipping"``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (not integer or float(value).is_integer())
    ok = ok and (low is None or (value > low if open_low else value >= low))
    ok = ok and (high is None or (value < high if open_high else value <= high))
    if not ok:
        kind = "an integer" if integer else "a number"
        bounds = f" {_interval(low, high, open_low, open_high)}" if low is not None or high is not None else ""
        note = f" ({note})" if note else ""
        raise HyperParameterError(f"model.init_args.{name} must be {kind}{bounds}{note}, not {value!r}")


def check_choice(name: str, value: Any, choices: Collection) -> None:
    """HyperParameterError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise HyperParameterError(
            f"model.init_args.{name} must be one of {', '.join(map(repr, choices))}, not {value!r}"
        )


def check_betas(betas: Any, name: str = "betas") -> None:
    """Adam's (beta1, beta2): two numbers in [0, 1)."""
    if not isinstance(betas, (list, tuple)) or len(betas) != 2:
        raise HyperParameterError(f"model.init_args.{name} must be two numbers in [0, 1), not {betas!r}")
    for i, beta in enumerate(betas):
        check_number(f"{name}[{i}]", beta, 0.0, 1.0, open_high=True)
