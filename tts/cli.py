"""The ``tts`` command: training through LightningCLI, and the data/extract/synth/bench/demo tools.

Nothing downloads at run time: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set before anything
is imported, and every model loads from a local path or from a pinned package's files.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

USAGE = """\
usage: tts <command> [args]

Training (LightningCLI; YAML recipes under recipes/, README "Recipes"):
  fit -c RECIPE.yaml        train a model (VAE, Vocos or F5 DiT); rerunning the same command resumes
                            from last.ckpt in its checkpoint dir (said in the log); --ckpt_path=FILE
                            resumes from FILE; delete last.ckpt to start over. A resumed run (F5, VAE,
                            Vocos) continues mid-epoch with the same batches, crops and random draws
                            (byte-identical weights).
                            Several -c files compose (later ones override earlier); --run_dir DIR fills
                            ${run_dir} in recipe files (the run directory: tts demo's OUT, e.g. work/demo;
                            without --run_dir, $TTS_RUN_DIR: how every DDP rank gets it)
  validate -c RECIPE.yaml   run the validation loop
  test -c RECIPE.yaml       run the test loop

Data and features:
  data demo                 synthesize the embedded offline corpus (natural piper voice with phoneme alignments,
                            plus flite/festival/espeak-ng voices)
  data align                phoneme durations (lhotse alignments) for cuts without them: a MAS aligner trained here
  data import               build lhotse manifests from LibriTTS(-R), LJSpeech or an `audio|text|speaker` list
  extract teacher           cache frozen SSL/Whisper teacher frame features for semantic VAE training
  extract latents           cache VAE latents (sampled z or mean) + per-dimension statistics
  extract features          cache any feature space (mel or latent) for F5 training
  export vae                a trained VAE checkpoint -> model.safetensors + config.json
  export onnx               an F5 model + its feature space's encoder/decoder -> ONNX graphs (tts synth --backend onnx)
  import f5                 an F5-TTS v1 checkpoint (.pt / .safetensors) + vocab.txt -> our F5 export
  import vae                a Semantic-VAE generator checkpoint (DAC + AttnProjection + BigVGAN) -> our VAE export

Speech from text:
  say "TEXT" -o OUT.wav     one text (or standard input) to one wav: numbers and abbreviations in words, long
                            text in chunks, the model's default prompt or --prompt
  serve --model DIR         a local web page to type text and hear it (http://127.0.0.1:8000)

Synthesis and evaluation:
  synth                     batch synthesis from a JSONL/TSV list (resumable, bad lines reported)
  bench -c SPEC.yaml        WER/CER (two ASR backends), SIM, PESQ/STOI, RTF report with CIs
  demo --scale S            the whole pipeline end to end (smoke | demo | mini)

Your own voice:
  voice --audio DIR --base MODEL --out OUT
                            fine-tune a trained F5 model on your recordings (name.wav + name.txt): screened,
                            aligned, CPU-time budget (--minutes), exported with a default prompt to OUT/model,
                            report of WER/SIM before and after (OUT/report.md); resumable

`tts <command> --help` explains each command.
"""

# subcommand -> module whose ``main(argv) -> int`` implements it
_TOOLS = {
    ("data", "demo"): "tts.corpus.build",
    ("data", "import"): "tts.data.importers",
    ("data", "align"): "tts.data.align",
    ("extract", "teacher"): "tts.teacher.extract",
    ("extract", "latents"): "tts.vae.extract",
    ("extract", "features"): "tts.features.extract",
    ("export", "vae"): "tts.vae.export",
    ("export", "onnx"): "tts.onnx.export",
    ("import", "f5"): "tts.f5.convert",
    ("import", "vae"): "tts.vae.convert",
    ("synth",): "tts.synth",
    ("say",): "tts.say",
    ("serve",): "tts.serve",
    ("bench",): "tts.bench.runner",
    ("demo",): "tts.demo",
    ("voice",): "tts.voice",
}


def set_offline() -> None:
    """Forbid hub downloads for everything imported after this call."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")


# Trainer arguments where an int counts batches and a float is a fraction: jsonargparse reads the
# Trainer's ``Optional[Union[int, float]]`` as ``Union[float, int, None]`` (typing's cache hands back an
# equal Union with the other order), so a recipe's ``limit_val_batches: 1`` became 1.0 = 100%.
_INT_OR_FRACTION = ("limit_train_batches", "limit_val_batches", "limit_test_batches",
                    "limit_predict_batches", "overfit_batches", "val_check_interval")  # fmt: skip


# ``${run_dir}`` in a recipe file: the run directory given by ``tts fit --run_dir DIR`` (tts demo passes its OUT).
# Recipes read through a jsonargparse loader of their own (parser mode ``tts_recipe``) that fills it in, so the
# parsed config, --print_config and the saved config.yaml hold the resolved paths.
RECIPE_MODE = "tts_recipe"
_RUN_DIR: ContextVar[str | None] = ContextVar("run_dir", default=None)
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _fill_run_dir(obj: Any, source: str) -> Any:
    """``obj`` with every ``${run_dir}`` replaced; a ValueError naming ``source`` and the key otherwise."""
    from tts.config import map_strings

    def fill(value: str, key: str) -> str:
        if "${" not in value:
            return value
        where = f"{source or 'recipe'}: {key or 'value'}"
        for name in _VARIABLE.findall(value):
            if name != "run_dir":
                raise ValueError(f"{where}: unknown variable ${{{name}}} in {value!r} (recipes know ${{run_dir}} only)")
        run_dir = _RUN_DIR.get()
        if run_dir is None:
            raise ValueError(f"{where} is {value!r}: give the run directory it names with --run_dir DIR "
                             "(tts demo's output folder, e.g. --run_dir work/demo)")  # fmt: skip
        return value.replace("${run_dir}", run_dir)

    return map_strings(obj, fill)


def _load_recipe(value: str, path: str = "") -> Any:
    """jsonargparse loader of mode ``tts_recipe``: YAML, then ``${run_dir}`` filled in (in recipe files and
    YAML/JSON values on the command line; jsonargparse keeps a plain string value as typed)."""
    from jsonargparse import get_loader

    loaded = get_loader("yaml")(value)
    if not isinstance(loaded, (dict, list)):
        return loaded
    try:  # jsonargparse hands a config file's base name; its folder is in a context variable of its own
        from jsonargparse._paths import _current_path_dir

        path = os.path.join(_current_path_dir.get() or "", path) if path else path
    except ImportError:
        pass
    return _fill_run_dir(loaded, str(path))


# Lightning's DDP launcher re-runs the command line for ranks 1..N-1 (torchrun and SLURM run it once a rank), and
# ``--run_dir`` is taken off that line before LightningCLI reads it: the run directory reaches every rank through
# this environment variable, which every launcher passes on, so that every rank composes the same config.
RUN_DIR_ENV = "TTS_RUN_DIR"


def _pop_run_dir(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without ``--run_dir DIR`` / ``--run_dir=DIR``, and DIR (None when absent)."""
    rest, run_dir, i = [], None, 0
    while i < len(argv):
        if argv[i] == "--run_dir":
            if i + 1 >= len(argv):
                raise SystemExit("tts fit: --run_dir needs a directory")
            run_dir, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith("--run_dir="):
            run_dir = argv[i].partition("=")[2]
        else:
            rest.append(argv[i])
        i += 1
    return rest, run_dir


def _checkpoint_dir(trainer) -> Path | None:
    """Where this run's ModelCheckpoint(save_last=True) writes last.ckpt, as Lightning resolves it.

    A logger without a fixed ``version`` would start a new ``version_N`` dir on every run: it is pinned to
    the newest earlier version that holds a last.ckpt, so a rerun continues in the same dir.
    """
    cb = trainer.checkpoint_callback
    if cb is None or not getattr(cb, "save_last", False):
        return None
    if cb.dirpath is not None:
        return Path(cb.dirpath)
    if not trainer.loggers:
        return Path(trainer.default_root_dir) / "checkpoints"
    logger = trainer.loggers[0]
    base = Path(logger.save_dir or trainer.default_root_dir) / str(logger.name)
    if getattr(logger, "_version", 0) is None:
        done = [int(d.name[8:]) for d in base.glob("version_*/checkpoints/last.ckpt/../..")
                if d.name[8:].isdigit()]  # fmt: skip
        if not done:
            return None
        logger._version = max(done)
    version = logger.version if isinstance(logger.version, str) else f"version_{logger.version}"
    return base / version / "checkpoints"


def check_resumable(path: Path) -> dict:
    """The checkpoint at ``path``; CheckpointError naming it when it cannot be resumed from (truncated, not a
    checkpoint)."""
    from tts.io import CheckpointError, load_checkpoint

    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}\n{path} cannot be resumed from (a run killed while writing it leaves it truncated). Delete "
            "it to start over, or resume from another checkpoint with --ckpt_path=FILE."
        ) from e
    if "global_step" not in ckpt or "state_dict" not in ckpt:
        raise CheckpointError(f"{path} is not a Lightning training checkpoint (no global_step / state_dict)")
    return ckpt


def _hparams_fit_the_model(ckpt: dict, path: Path) -> bool:
    """LightningCLI merges a checkpoint's hyper-parameters into the config it resumes with. A checkpoint
    written by an older form of its module (e.g. a VAEModule whose loss weights were its own arguments,
    before the ``loss:`` block) has keys the module no longer takes: then the recipe's config is used as
    given (said on stderr), and the weights, optimizer and step still resume."""
    import inspect

    from tts.config import import_class

    hparams = dict(ckpt.get("hyper_parameters") or {})
    class_path = hparams.pop("_class_path", None)
    hparams.pop("_instantiator", None)
    if not class_path or not hparams:
        return True
    name = class_path.rpartition(".")[2]
    try:
        params = inspect.signature(import_class(class_path)).parameters
    except (ImportError, AttributeError, ValueError):
        return True
    unknown = sorted(set(hparams) - set(params))
    if unknown and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        print(f"tts fit: {path} was written by an older form of {name} (hyper-parameters "
              f"{', '.join(unknown[:6])}{', ...' if len(unknown) > 6 else ''} are no longer its arguments): "
              "resuming with the recipe's model config", file=sys.stderr)  # fmt: skip
        return False
    return True


def lightning_cli(argv: list[str]) -> int:
    """``tts fit|validate|test [--run_dir DIR] -c a.yaml [-c b.yaml ...]``: LightningCLI with model and data
    chosen by the recipe files (later files override earlier ones; ``${run_dir}`` in them is DIR)."""
    import yaml
    from jsonargparse import set_loader
    from lightning.pytorch import LightningDataModule, LightningModule
    from lightning.pytorch.cli import LightningCLI

    from tts.config import check_checkpoint_classes
    from tts.errors import TTSError
    from tts.io import CheckpointError

    class CLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            for action in parser._actions:
                if action.dest.rpartition(".")[2] in _INT_OR_FRACTION and hasattr(action, "_typehint"):
                    action._typehint = int | float | None

        def _parse_ckpt_path(self) -> None:
            explicit = (
                self.config[self.config.subcommand].get("ckpt_path")
                if self.config.get("subcommand")
                else None
            )
            if explicit and not Path(explicit).is_file():
                what = "a directory" if Path(explicit).is_dir() else "no such file"
                raise CheckpointError(f"--ckpt_path {explicit}: {what} (give a checkpoint file, e.g. RUN/last.ckpt)")
            if explicit:
                ckpt = check_resumable(Path(explicit))
                check_checkpoint_classes(ckpt.get("hyper_parameters") or {}, explicit)
                if not _hparams_fit_the_model(ckpt, Path(explicit)):
                    return
            super()._parse_ckpt_path()

        def before_fit(self) -> None:
            """Resume from this run's last.ckpt unless the command names a ``--ckpt_path``; checkpoint the
            random states too (``tts.rng.ResumeRNG``) so that a resumed run trains as the uninterrupted one."""
            from tts.rng import ResumeRNG

            if not any(isinstance(c, ResumeRNG) for c in self.trainer.callbacks):
                self.trainer.callbacks.insert(0, ResumeRNG())
            config = self.config_init[self.subcommand]
            if config.get("ckpt_path") is not None:
                print(f"tts fit: resuming from {config['ckpt_path']} (--ckpt_path)", file=sys.stderr)
                return
            ckpt_dir = _checkpoint_dir(self.trainer)
            last = ckpt_dir / "last.ckpt" if ckpt_dir else None
            if last is None or not last.exists():
                print(f"tts fit: no last.ckpt in {ckpt_dir or 'the checkpoint dir'}: training from step 0",
                      file=sys.stderr)  # fmt: skip
                return
            check_resumable(last)
            print(f"tts fit: resuming from {last} (delete it to start over)", file=sys.stderr)
            config["ckpt_path"] = str(last)

    set_loader(RECIPE_MODE, _load_recipe, (yaml.YAMLError, ValueError))
    argv, run_dir = _pop_run_dir(argv)
    saved_argv, saved_env = sys.argv, os.environ.get(RUN_DIR_ENV)
    if run_dir is None:  # a rank Lightning launched: the run directory its rank 0 was given
        run_dir = saved_env or None
    else:
        os.environ[RUN_DIR_ENV] = run_dir
    sys.argv = [sys.argv[0], *argv]  # LightningCLI reads sys.argv (given `args` too, it warns they differ)
    token = _RUN_DIR.set(run_dir)
    try:
        CLI(
            LightningModule,
            LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_kwargs={"overwrite": True},
            parser_kwargs={"parser_mode": RECIPE_MODE},
        )
    except (TTSError, ValueError) as e:  # ours (a checkpoint that cannot be resumed from, ...), or jsonargparse's
        cause = _project_error(e)  # wrapper of what a constructor raised (a setting out of its range)
        if cause is None:
            raise
        print(f"tts {argv[0]}: {cause}", file=sys.stderr)
        return 2
    finally:
        sys.argv = saved_argv
        _RUN_DIR.reset(token)
        if saved_env is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = saved_env
    return 0


def _project_error(error: BaseException):
    """The first ``TTSError`` in ``error``'s chain of causes (jsonargparse re-raises a constructor's error as
    its own ValueError), or None."""
    from tts.errors import TTSError

    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, TTSError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _group_help(group: str) -> str:
    subs = [k[1] for k in _TOOLS if k[0] == group]
    return f"usage: tts {group} {{{','.join(subs)}}} [args]\n\n`tts {group} <sub> --help` for details.\n"


def main(argv: list[str] | None = None) -> int:
    """Run one ``tts`` command. A TTSError it raises is printed as ``tts <command>: <message>`` (exit 1)."""
    from tts.errors import TTSError

    set_offline()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd = argv[0]
    try:
        return _run(argv)
    except TTSError as e:  # the project's own errors name what is wrong; a traceback would only hide that
        key = next((k for k in _TOOLS if tuple(argv[: len(k)]) == k), (cmd,))
        print(f"tts {' '.join(key)}: {e}", file=sys.stderr)
        return 1


def _run(argv: list[str]) -> int:
    cmd = argv[0]
    if cmd in ("fit", "validate", "test", "predict"):
        return lightning_cli(argv)
    for key, module in _TOOLS.items():
        if tuple(argv[: len(key)]) == key:
            return int(importlib.import_module(module).main(argv[len(key) :]) or 0)
    groups = {k[0] for k in _TOOLS if len(k) == 2}
    if cmd in groups:
        print(_group_help(cmd), file=sys.stderr if len(argv) > 1 else sys.stdout)
        return 2 if len(argv) > 1 and argv[1] not in ("-h", "--help") else 0
    print(f"tts: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
