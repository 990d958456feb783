"""The ``tts`` command: training through LightningCLI, and the data/extract/synth/bench/demo tools.

Nothing downloads at run time: HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE are set before anything
is imported, and every model loads from a local path or from a pinned package's files.
"""

from __future__ import annotations

import importlib
import os
import sys

USAGE = """\
usage: tts <command> [args]

Training (LightningCLI; YAML recipes under recipes/):
  fit -c RECIPE.yaml        train a model (VAE, Vocos or F5 DiT); resumes from the recipe's last.ckpt
  validate -c RECIPE.yaml   run the validation loop
  test -c RECIPE.yaml       run the test loop

Data and features:
  data demo                 synthesize the embedded offline multi-speaker corpus (flite/festival/espeak-ng)
  data import               build lhotse manifests from LibriTTS(-R), LJSpeech or an `audio|text|speaker` list
  extract teacher           cache frozen SSL/Whisper teacher frame features for semantic VAE training
  extract latents           cache VAE latents (sampled z or mean) + per-dimension statistics
  extract features          cache any feature space (mel or latent) for F5 training
  export vae                a trained VAE checkpoint -> model.safetensors + config.json

Synthesis and evaluation:
  synth                     batch synthesis from a JSONL/TSV list (resumable, bad lines reported)
  bench -c SPEC.yaml        WER/CER (two ASR backends), SIM, PESQ/STOI, RTF report with CIs
  demo --scale S            the whole pipeline end to end (smoke | demo | mini)

`tts <command> --help` explains each command.
"""

# subcommand -> module whose ``main(argv) -> int`` implements it
_TOOLS = {
    ("data", "demo"): "tts.data.demo_corpus",
    ("data", "import"): "tts.data.importers",
    ("extract", "teacher"): "tts.teacher.extract",
    ("extract", "latents"): "tts.vae.extract",
    ("extract", "features"): "tts.features.extract",
    ("export", "vae"): "tts.vae.export",
    ("synth",): "tts.synth",
    ("bench",): "tts.bench.runner",
    ("demo",): "tts.demo",
}


def set_offline() -> None:
    """Forbid hub downloads for everything imported after this call."""
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(var, "1")


def lightning_cli(argv: list[str]) -> int:
    """``tts fit|validate|test -c recipe.yaml``: LightningCLI with model and data chosen by the recipe."""
    from lightning.pytorch import LightningDataModule, LightningModule
    from lightning.pytorch.cli import LightningCLI

    LightningCLI(
        LightningModule,
        LightningDataModule,
        subclass_mode_model=True,
        subclass_mode_data=True,
        save_config_kwargs={"overwrite": True},
        args=argv,
    )
    return 0


def _group_help(group: str) -> str:
    subs = [k[1] for k in _TOOLS if k[0] == group]
    return f"usage: tts {group} {{{','.join(subs)}}} [args]\n\n`tts {group} <sub> --help` for details.\n"


def main(argv: list[str] | None = None) -> int:
    set_offline()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    cmd = argv[0]
    if cmd in ("fit", "validate", "test", "predict"):
        return lightning_cli(argv)
    for key, module in _TOOLS.items():
        if tuple(argv[: len(key)]) == key:
            return int(importlib.import_module(module).main(argv[len(key):]) or 0)
    groups = {k[0] for k in _TOOLS if len(k) == 2}
    if cmd in groups:
        print(_group_help(cmd), file=sys.stderr if len(argv) > 1 else sys.stdout)
        return 2 if len(argv) > 1 and argv[1] not in ("-h", "--help") else 0
    print(f"tts: unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
