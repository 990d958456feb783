"""``model.init_args.init_from``: a fit starts from another model's weights (network and EMA), at step 0 with a
fresh optimizer; a source of another vocabulary, feature space or size is refused naming the difference; a fit
that resumes its own last.ckpt keeps its trained weights. For the aligned and filler DiT, the VAE and Vocos, at
smoke size. Also the constructors' range checks of learning rates and the like (tts.hparams)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from factories import TINY_DIT, TINY_F5_TRAINING, tiny_f5_module
from torch.utils.data import DataLoader

from tts.errors import TTSError
from tts.f5.dit import DiTConfig
from tts.hparams import HyperParameterError
from tts.init_from import InitFromError
from tts.text import Vocab

ROOT = Path(__file__).resolve().parents[1]
EMA = dict(ema_beta=0.5, ema_update_after_step=0, ema_update_every=1)  # the EMA moves away from the online weights


def smoke_init_args(name: str) -> dict:
    return yaml.safe_load((ROOT / "recipes/smoke" / f"{name}.yaml").read_text())["model"]["init_args"]


# ---- the modules, their batches and where their weights are -----------------------------------------------------
def f5_batches(n: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    ali = [(c, 0.04 * i, 0.04) for i, c in enumerate("hey there")]  # 0.36 s: 34 frames at 93.75 Hz
    return DataLoader([{"feats": torch.randn(2, 34, 100, generator=g), "feat_lens": torch.tensor([34, 34]),
                        "texts": ["hey there"] * 2, "ids": ["a", "b"], "alignments": [ali, ali]}
                       for _ in range(n)], batch_size=None)  # fmt: skip


def f5(conditioning: str):
    def build(**kw):
        aligned = dict(conditioning="aligned", alignment="char", duration_dim=16) if conditioning == "aligned" else {}
        return tiny_f5_module(**{"lr": 1e-3, **EMA, **aligned, **kw})

    return build


def vae(**kw):
    from tts.vae.module import VAEModule

    args = copy.deepcopy(smoke_init_args("vae_semantic"))
    args["loss"]["init_args"]["semantic_weight"] = 0.0  # the plain VAE: no teacher features needed
    args.update(ema=True, **EMA)
    for key, value in kw.items():  # "decoder.dim": a key of a class_path block's init_args
        if "." in key:
            block, arg = key.split(".")
            args[block]["init_args"][arg] = value
        else:
            args[key] = value
    return VAEModule.from_init_args(args)


def vae_batches(n: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader([{"wav": 0.1 * torch.randn(2, 4000, generator=g)} for _ in range(n)], batch_size=None)


def vocos(**kw):
    from tts.vocoder import VocosGAN

    args = copy.deepcopy(smoke_init_args("vocos"))
    for key in [k for k in kw if k.startswith("generator.")]:
        args["generator"][key.split(".")[1]] = kw.pop(key)
    return VocosGAN(**{**args, **kw})


def vocos_batches(n: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader([{"wav": 0.1 * torch.randn(1, 4096, generator=g)} for _ in range(n)], batch_size=None)


def f5_export(ckpt: Path, out: Path) -> Path:
    from tts.f5 import export

    return export(ckpt, out)


def vae_export(ckpt: Path, out: Path) -> Path:
    from tts.vae.export import export

    return export(ckpt, out)


def vocos_export(ckpt: Path, out: Path) -> Path:
    from tts.vocoder.export import export_vocos

    return export_vocos(ckpt, out)


@dataclass
class Kind:
    build: Callable  # (**init args) -> the LightningModule
    batches: Callable[[int], DataLoader]
    export: Callable[[Path, Path], Path]
    source_prefix: str  # the source checkpoint's keys of the weights a fit starts from (its EMA where it has one)
    source_args: tuple = ()  # how the source differs from the modules built from it

    def parts(self, module) -> dict[str, torch.nn.Module]:
        """The trained network, its EMA (and the F5 duration head) of ``module``."""
        if hasattr(module, "cfm"):
            out = {"network": module.cfm.net, "ema": module.ema_net}
            return {**out, "duration": module.duration} if module.duration is not None else out
        return {"network": module.generator, "ema": module.ema.ema_model}


KINDS = {
    "f5_filler": Kind(f5("filler"), f5_batches, f5_export, "ema.ema_model."),
    "f5_aligned": Kind(f5("aligned"), f5_batches, f5_export, "ema.ema_model."),
    "vae": Kind(vae, vae_batches, vae_export, "ema.ema_model."),
    # vocos keeps no EMA (VocosGAN's default): its checkpoints give the online generator
    "vocos": Kind(lambda **kw: vocos(**{"ema": True, **EMA, **kw}), vocos_batches, vocos_export, "generator.",
                  source_args=(("ema", False),)),
}  # fmt: skip


def fit(module, batches: DataLoader, steps: int, ckpt_dir: Path | None = None, ckpt_path: Path | None = None,
        callbacks: tuple = ()) -> pl.Trainer:  # fmt: skip
    checkpoint = [pl.callbacks.ModelCheckpoint(dirpath=ckpt_dir, save_last=True)] if ckpt_dir else []
    trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=bool(ckpt_dir), limit_val_batches=0,
                         callbacks=[*checkpoint, *callbacks])  # fmt: skip
    trainer.fit(module, batches, ckpt_path=ckpt_path)
    return trainer


def weights(state: dict, prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def same(module: torch.nn.Module | dict, expected: dict) -> bool:
    state = module if isinstance(module, dict) else module.state_dict()
    return state.keys() == expected.keys() and all(torch.equal(state[k], expected[k]) for k in state)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Per kind: a checkpoint trained 2 steps (its EMA away from its online weights) and its export."""
    made: dict[str, dict[str, Path]] = {}

    def source(name: str) -> dict[str, Path]:
        if name not in made:
            kind, root = KINDS[name], tmp_path_factory.mktemp(name)
            torch.manual_seed(0)
            module = kind.build(**dict(kind.source_args))
            trainer = fit(module, kind.batches(2), 2)
            trainer.save_checkpoint(root / "source.ckpt")
            made[name] = {"ckpt": root / "source.ckpt", "export": kind.export(root / "source.ckpt", root / "export")}
        return made[name]

    return source


class Snapshot(pl.Callback):
    """What the module holds when training starts (after on_fit_start): weights, step, optimizer states."""

    def __init__(self, parts: Callable):
        self.parts = parts

    def on_train_start(self, trainer, module) -> None:
        self.state = {name: copy.deepcopy(part.state_dict()) for name, part in self.parts(module).items()}
        self.step = trainer.global_step
        self.optimizer_states = [len(opt.state) for opt in trainer.optimizers]


# ---- a fit from init_from ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source_kind", ["ckpt", "export"])
@pytest.mark.parametrize("name", list(KINDS))
def test_init_from_puts_the_source_weights_in_network_and_ema_at_step_0(name, source_kind, sources, tmp_path):
    kind, paths = KINDS[name], sources(name)
    state = torch.load(paths["ckpt"], weights_only=True)["state_dict"]
    expected = weights(state, kind.source_prefix)
    if kind.source_prefix.startswith("ema."):  # the source's EMA is what a fit starts from, not its online weights
        assert not same(weights(state, "cfm.net." if name.startswith("f5") else "generator."), expected)
    torch.manual_seed(1)
    module = kind.build(init_from=str(paths[source_kind]))
    assert not same(kind.parts(module)["network"], expected)
    snapshot = Snapshot(kind.parts)
    trainer = fit(module, kind.batches(1), 1, callbacks=(snapshot,))
    assert same(snapshot.state["network"], expected) and same(snapshot.state["ema"], expected)
    if "duration" in snapshot.state:
        assert same(snapshot.state["duration"], weights(state, "duration."))
    assert snapshot.step == 0 and snapshot.optimizer_states == [0] * len(snapshot.optimizer_states)
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    run = torch.load(tmp_path / "run.ckpt", weights_only=True)
    assert run["global_step"] == 1 and run["hyper_parameters"]["init_from"] == str(paths[source_kind])
    adam = run["optimizer_states"][0]["state"]  # a fresh optimizer: one step taken, not the source's steps
    assert adam and all(int(s["step"]) == 1 for s in adam.values())


@pytest.mark.parametrize("name", list(KINDS))
def test_a_fit_resumed_from_its_last_ckpt_keeps_its_trained_weights(name, sources, tmp_path):
    kind, source = KINDS[name], str(sources(name)["export"])
    fit(kind.build(init_from=source), kind.batches(2), 2, ckpt_dir=tmp_path)
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    resumed = kind.build(init_from=source)
    resumed.init_weights_from = lambda path: pytest.fail("a resumed fit read its init_from source")
    trainer = fit(resumed, kind.batches(2), 2, ckpt_path=tmp_path / "last.ckpt")
    assert trainer.global_step == 2
    module_state = resumed.state_dict()
    for part in kind.parts(resumed).values():  # every trained part holds last.ckpt's weights
        prefix = next(p for p, m in resumed.named_modules() if m is part) + "."
        assert same(weights(module_state, prefix), weights(last["state_dict"], prefix))
    trained = weights(last["state_dict"], "cfm.net." if name.startswith("f5") else "generator.")
    assert not same(trained, weights(torch.load(sources(name)["ckpt"], weights_only=True)["state_dict"],
                                     kind.source_prefix))  # fmt: skip



def test_init_from_a_tts_import_f5_result_needs_its_vocabulary_and_then_loads_it(tmp_path):
    """An F5-TTS checkpoint (the installed reference's DiT at TINY_DIT's size) through ``tts import f5``."""
    from tts.f5 import load
    from tts.f5.convert import import_f5, reference_modules

    torch.manual_seed(0)
    ref = reference_modules()[0](**{k: v for k, v in TINY_DIT.items() if k != "dropout"}, mel_dim=100, ff_mult=2,
                                 text_num_embeds=20, dropout=0.1)  # fmt: skip
    torch.save({"ema_model_state_dict": {f"ema_model.{k}": v for k, v in ref.state_dict().items()}}, tmp_path / "f5.pt")
    (tmp_path / "vocab.txt").write_text("\n".join([" ", *"abcdefghijklmnopqrs"]) + "\n")
    out = import_f5(tmp_path / "f5.pt", tmp_path / "vocab.txt", tmp_path / "import")
    with pytest.raises(InitFromError, match=f"vocabulary: .*model.init_args.vocab={out / 'vocab.json'}"):
        tiny_f5_module().init_weights_from(str(out))
    module = tiny_f5_module(vocab=str(out / "vocab.json"), init_from=str(out))
    module.init_weights_from(str(out))
    expected = load(out).net.state_dict()
    assert same(module.cfm.net, expected) and same(module.ema_net, expected)

# ---- refusals ------------------------------------------------------------------------------------------------------
def other_vocab(tmp_path) -> str:
    path = tmp_path / "vocab.json"
    Vocab([*Vocab().symbols, "é"]).save(path)
    return str(path)


REFUSED = [
    ("f5_filler", lambda tmp: dict(vocab=other_vocab(tmp)),
     ["vocabulary", "only here: 'é'", "model.init_args.vocab=", "vocab.json"]),
    ("f5_filler", lambda tmp: dict(space="latent:vae=/nowhere/vae"),
     ["feature space", "'latent' here", "'mel' in the source", "feat_dim: 64 here, 100 in the source"]),
    ("f5_filler", lambda tmp: dict(conditioning="aligned", alignment="char"),
     ["conditioning: 'aligned' here, 'filler' in the source"]),
    ("f5_aligned", lambda tmp: dict(alignment="phoneme"),
     ["vocabulary", "kind 'phoneme' here, 'char' in the source", "alignment: 'phoneme' here, 'char' in the source"]),
    ("f5_filler", lambda tmp: dict(dit=DiTConfig(**{**TINY_DIT, "dim": 48})),
     ["network", "dim: 48 here, 32 in the source", "model.init_args.dit"]),
    ("vae", lambda tmp: {"decoder.dim": 48}, ["network", "decoder.init_args.dim: 48 here, 32 in the source"]),
    ("vae", lambda tmp: {"encoder.strides": [4, 4, 4, 5], "decoder.hop_length": 320, "decoder.n_fft": 1280,
                         "loss.hop_length": 320},
     ["latent space", "hop_length: 320 here, 400 in the source", "encoder.init_args.strides"]),
    ("vocos", lambda tmp: {"generator.hop_length": 128}, ["mel features", "hop_length: 128 here, 256 in the source"]),
    ("vocos", lambda tmp: {"generator.dim": 16}, ["dim: 16 here, 32 in the source", "model.init_args.generator"]),
]  # fmt: skip


@pytest.mark.parametrize("name, overrides, named", REFUSED,
                         ids=["f5_vocab", "f5_space", "f5_conditioning", "f5_alignment", "f5_size", "vae_size",
                              "vae_latent_space", "vocos_mel", "vocos_size"])  # fmt: skip
def test_a_source_of_another_vocabulary_space_or_size_is_refused_naming_the_difference(
    name, overrides, named, sources, tmp_path
):
    source = sources(name)["export"]
    module = KINDS[name].build(**overrides(tmp_path))
    with pytest.raises(InitFromError) as error:
        module.init_weights_from(str(source))
    assert isinstance(error.value, TTSError) and str(source) in str(error.value)
    for part in named:
        assert part in str(error.value)


@pytest.mark.parametrize("name", ["f5_filler", "vae", "vocos"])
def test_a_missing_or_foreign_source_is_named(name, sources, tmp_path):
    module = KINDS[name].build()
    with pytest.raises(InitFromError, match="not found"):
        module.init_weights_from(str(tmp_path / "nothing"))
    other = sources("vocos" if name != "vocos" else "f5_filler")["ckpt"]  # a checkpoint of another module
    with pytest.raises(InitFromError, match="cannot be read as"):
        module.init_weights_from(str(other))


# ---- range checks of the constructors' hyper-parameters ----------------------------------------------------------
@pytest.mark.parametrize("build, key, value, allowed", [
    (tiny_f5_module, "lr", -1e-4, "> 0"),
    (tiny_f5_module, "warmup_steps", -1, "an integer >= 0"),
    (tiny_f5_module, "audio_drop_prob", 1.5, "in [0, 1]"),
    (tiny_f5_module, "betas", (0.9, 1.0), "in [0, 1)"),
    (tiny_f5_module, "ema_beta", 1.0, "in [0, 1)"),
    (vae, "lr", 0.0, "> 0"),
    (vae, "lr_decay", 1.5, "in (0, 1]"),
    (vocos, "initial_learning_rate", float("nan"), "> 0"),
    (vocos, "num_warmup_steps", 2.5, "an integer >= 0"),
    (vae, "gan_start_step", -1, "an integer >= 0 (a batch count)"),
    (vocos, "grad_clip_generator", 0.0, "> 0 (or null for no clipping)"),
])  # fmt: skip
def test_a_learning_rate_or_probability_out_of_range_is_named_with_its_range(build, key, value, allowed):
    kw = TINY_F5_TRAINING if build is tiny_f5_module else {}
    with pytest.raises(HyperParameterError) as error:
        build(**{**kw, key: value})
    assert f"model.init_args.{key}" in str(error.value) and allowed in str(error.value)
    assert isinstance(error.value, ValueError)


# ---- through tts fit -------------------------------------------------------------------------------------------
@pytest.mark.slow  # two short `tts fit` runs of the smoke Vocos: ~30 s on 2 shared cores
def test_tts_fit_starts_from_init_from_and_its_rerun_resumes_without_reading_it(sources, tiny_corpus, tmp_path,
                                                                               monkeypatch):  # fmt: skip
    from tts.cli import main
    from tts.vocoder import VocosGAN

    source = sources("vocos")["export"]
    argv = ["fit", "--run_dir", str(tmp_path), "-c", str(ROOT / "recipes/vocos/base.yaml"), "-c", str(ROOT / "recipes/smoke/vocos.yaml"),
            f"--model.init_args.init_from={source}", f"--trainer.default_root_dir={tmp_path}",
            f"--data.init_args.train_cuts={tiny_corpus / 'cuts_train.jsonl.gz'}",
            f"--data.init_args.val_cuts={tiny_corpus / 'cuts_dev.jsonl.gz'}", "--trainer.limit_val_batches=0",
            "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false"]  # fmt: skip
    assert main([*argv, "--trainer.max_steps=1"]) == 0
    last = tmp_path / "checkpoints" / "last.ckpt"
    first = torch.load(last, weights_only=True)
    assert first["global_step"] == 1 and first["hyper_parameters"]["init_from"] == str(source)
    # one AdamW step from the source moves each weight by about the learning rate (5e-4), a fresh init by far more
    start = weights(torch.load(sources("vocos")["ckpt"], weights_only=True)["state_dict"], "generator.")
    trained = weights(first["state_dict"], "generator.")
    assert max(float((trained[k] - v).abs().max()) for k, v in start.items()) < 2e-3
    reads = []
    monkeypatch.setattr(VocosGAN, "init_weights_from", lambda self, path: reads.append(path))
    assert main([*argv, "--trainer.max_steps=2"]) == 0  # the same command again: resumes from last.ckpt
    assert torch.load(last, weights_only=True)["global_step"] == 2 and reads == []
