"""Networks that know how they were built: the ``class_path`` + ``init_args`` spec of a module.

The Lightning modules take their networks and losses as typed ``nn.Module`` arguments, built by LightningCLI
from ``class_path`` YAML (every key checked against the class' signature) or directly in Python. A class
decorated with :func:`records_init_args` keeps the arguments it was called with, so :func:`class_spec`
gives the spec that rebuilds it (what checkpoints and export directories store) whichever way it was built,
and :func:`instantiate` builds a module back from such a spec.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from typing import Any

INIT_ARGS_ATTR = "_init_args"


def _plain(value: Any) -> Any:
    """JSON/YAML-friendly copy: tuples -> lists, recursively."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def records_init_args(cls: type) -> type:
    """Class decorator: every instance keeps the arguments of its ``__init__`` (defaults filled in) for
    :func:`class_spec`. A decorated subclass records its own arguments."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if type(self).__init__ is wrapped:  # the outermost decorated class records
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = {k: _plain(v) for k, v in list(bound.arguments.items())[1:]}
            object.__setattr__(self, INIT_ARGS_ATTR, arguments)

    cls.__init__ = wrapped
    return cls


def class_spec(module: Any) -> dict:
    """``{"class_path": "pkg.mod.Class", "init_args": {...}}`` that rebuilds ``module`` (a
    :func:`records_init_args` class)."""
    cls = type(module)
    if not hasattr(module, INIT_ARGS_ATTR):
        raise TypeError(f"{cls.__module__}.{cls.__qualname__} does not record its init args (@records_init_args)")
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": dict(getattr(module, INIT_ARGS_ATTR))}


def map_strings(obj: Any, fn, key: str = "", skip: tuple[str, ...] = ()) -> Any:
    """``obj`` (YAML data) with every string ``v`` replaced by ``fn(v, key)``, ``key`` its dotted path
    (``a.b[2].c``); values under a mapping key in ``skip`` are left as they are."""
    if isinstance(obj, dict):
        return {k: v if k in skip else map_strings(v, fn, f"{key}.{k}" if key else str(k), skip)
                for k, v in obj.items()}  # fmt: skip
    if isinstance(obj, list):
        return [map_strings(v, fn, f"{key}[{i}]", skip) for i, v in enumerate(obj)]
    return fn(obj, key) if isinstance(obj, str) else obj


def import_class(class_path: str) -> type:
    """The class named ``pkg.mod.Class``; ImportError / AttributeError / ValueError when there is none."""
    module_name, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


def instantiate(spec: dict, where: str = "") -> Any:
    """Build ``{"class_path": "pkg.mod.Class", "init_args": {...}}``; a bad spec is a ValueError naming
    ``where`` (e.g. the config key) and the class."""
    at = f"{where}: " if where else ""
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"{at}expected {{'class_path': ..., 'init_args': {{...}}}}, got {spec!r}")
    class_path = spec["class_path"]
    try:
        cls = import_class(class_path)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"{at}unknown class_path {class_path!r}") from e
    try:
        return cls(**spec.get("init_args", {}))
    except TypeError as e:
        raise ValueError(f"{at}cannot build {class_path} with init_args {spec.get('init_args')}: {e}") from e
