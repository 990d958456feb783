"""Networks that know how they were built: the ``class_path`` + ``init_args`` spec of a module.

The Lightning modules take their networks and losses as typed ``nn.Module`` arguments, built by LightningCLI
from ``class_path`` YAML (every key checked against the class' signature) or directly in Python. A class
decorated with :func:`records_init_args` keeps the arguments it was called with, so :func:`class_spec`
gives the spec that rebuilds it (what checkpoints and export directories store) whichever way it was built,
and :func:`instantiate` builds a module back from such a spec.

A spec read from a *model file* (an export's ``config.json``, a checkpoint's hyper-parameters, a Vocos
``config.yaml``) is data someone else may have written: :func:`instantiate` with ``allowed=MODEL_FILE_CLASSES``
builds only the classes listed there and refuses any other ``class_path`` before importing anything
(DESIGN.md "Model files are data, never code"). Recipes the user writes stay open (LightningCLI's contract).
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Collection
from typing import Any

from tts.errors import TTSError

INIT_ARGS_ATTR = "_init_args"

# The classes a model file may build: the VAE's networks and the Vocos parts (the pretrained-dir layout).
MODEL_FILE_CLASSES = frozenset({
    "tts.vae.model.Encoder",
    "tts.vae.model.MelEncoder",
    "tts.vae.model.BigVGANDecoder",
    "tts.vae.model.VocosDecoder",
    "vocos.feature_extractors.MelSpectrogramFeatures",
    "vocos.models.VocosBackbone",
    "vocos.heads.ISTFTHead",
})  # fmt: skip


class ModelFileError(TTSError, ValueError):
    """A model file names a class it may not build (refused before anything is imported)."""


def check_class_path(class_path: Any, allowed: Collection[str], where: str = "") -> str:
    """``class_path`` when it is one of ``allowed``; a ModelFileError naming ``where`` otherwise."""
    if isinstance(class_path, str) and class_path in allowed:
        return class_path
    at = f"{where}: " if where else ""
    raise ModelFileError(
        f"{at}class_path {class_path!r} is not one a model file may build (allowed: {', '.join(sorted(allowed))}); "
        "refused before importing anything: a model file is data, never code"
    )


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


def check_checkpoint_classes(hparams: Any, where: str, key: str = "hyper_parameters") -> None:
    """Refuse a training checkpoint whose hyper-parameters name a class that is neither in ``MODEL_FILE_CLASSES``
    nor an ``nn.Module`` the project itself defines (``tts.*``): resuming from it (``tts fit --ckpt_path``)
    would build that class. A ModelFileError names ``where`` and the key; nothing outside ``tts`` is imported."""
    if isinstance(hparams, dict):
        for k, v in hparams.items():
            at = f"{key}.{k}"
            if k in ("class_path", "_class_path") and v not in MODEL_FILE_CLASSES:
                _check_project_module(v, f"{where}: {at}")
            else:
                check_checkpoint_classes(v, where, at)
    elif isinstance(hparams, (list, tuple)):
        for i, v in enumerate(hparams):
            check_checkpoint_classes(v, where, f"{key}[{i}]")


def _check_project_module(class_path: Any, where: str) -> None:
    import torch

    module_name, _, name = class_path.rpartition(".") if isinstance(class_path, str) else ("", "", "")
    cls = None
    if module_name == "tts" or module_name.startswith("tts."):
        try:
            cls = getattr(importlib.import_module(module_name), name, None)
        except ImportError:
            cls = None
    if not (inspect.isclass(cls) and issubclass(cls, torch.nn.Module) and cls.__module__ == module_name):
        raise ModelFileError(f"{where}: class_path {class_path!r} is not a network of this project (tts.*) "
                             "nor one of the library classes a model file may build: refused (a checkpoint is "
                             "data, never code)")  # fmt: skip


def instantiate(spec: dict, where: str = "", allowed: Collection[str] | None = None) -> Any:
    """Build ``{"class_path": "pkg.mod.Class", "init_args": {...}}``; a bad spec is a ValueError naming
    ``where`` (e.g. the file and key) and the class. ``allowed``: the only class paths it may build (a spec
    from a model file: ``MODEL_FILE_CLASSES``), checked before any import; None: any class (a recipe)."""
    at = f"{where}: " if where else ""
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"{at}expected {{'class_path': ..., 'init_args': {{...}}}}, got {spec!r}")
    class_path = spec["class_path"]
    if allowed is not None:
        check_class_path(class_path, allowed, where)
        init_args = spec.get("init_args", {})
        if not isinstance(init_args, dict) or any(not isinstance(k, str) for k in init_args):
            raise ModelFileError(f"{at}init_args must be a mapping of argument names, got {init_args!r}")
    try:
        cls = import_class(class_path)
    except (ImportError, AttributeError, ValueError) as e:
        raise ValueError(f"{at}unknown class_path {class_path!r}") from e
    try:
        return cls(**spec.get("init_args", {}))
    except TypeError as e:
        raise ValueError(f"{at}cannot build {class_path} with init_args {spec.get('init_args')}: {e}") from e
