"""F5Module training step (Lightning), EMA, vocab in checkpoint, export/load round trip, recipes."""

from __future__ import annotations

import importlib
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from factories import TINY_DIT, tiny_f5_module
from torch.utils.data import DataLoader

from tts.f5 import export, load
from tts.f5.dit import DiTConfig
from tts.f5.module import F5Module, encode_texts, warmup_linear_decay
from tts.text import Vocab

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(ema_beta=0.5)  # with tests/factories.py's TINY_DIT and TINY_F5_TRAINING


def synthetic_batches(n: int, feat_dim: int = 100) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    out = []
    for _ in range(n):
        lens = torch.tensor([30, 22])
        feats = torch.randn(2, 30, feat_dim, generator=g)
        feats[1, 22:] = 0
        out.append(
            {"feats": feats, "feat_lens": lens, "texts": ["Hello world.", "A test!"], "ids": ["a", "b"]}
        )
    return out


def fit_tiny(tmp_path, steps: int = 3, **kw) -> tuple[F5Module, Path]:
    model = tiny_f5_module(**{**TINY, **kw})
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        gradient_clip_val=1.0,
        limit_val_batches=0,
    )
    trainer.fit(model, DataLoader(synthetic_batches(steps), batch_size=None))
    ckpt = tmp_path / "f5.ckpt"
    trainer.save_checkpoint(ckpt)
    return model, ckpt


def test_training_steps_update_weights_ema_and_save_vocab(tmp_path):
    model, ckpt = fit_tiny(tmp_path)
    net, ema = model.cfm.net.state_dict(), model.ema_net.state_dict()
    moved = [k for k in net if not torch.equal(net[k], ema[k])]
    assert moved  # EMA lags the trained weights
    saved = torch.load(ckpt, weights_only=True)
    assert saved["vocab"]["symbols"] == Vocab().symbols
    assert saved["f5_config"]["network"]["feat_dim"] == 100 and saved["f5_config"]["space"] == "mel"


def test_lr_warmup_then_linear_decay():
    f = [warmup_linear_decay(s, warmup=10, total=110) for s in range(111)]
    assert f[0] == pytest.approx(0.1) and f[9] == 1.0 and f[10] == 1.0
    assert f[60] == pytest.approx(0.5) and f[110] == 0.0
    assert warmup_linear_decay(500, warmup=10, total=0) == 1.0  # no max_steps: constant after warm-up
    model = tiny_f5_module(**{**TINY, "warmup_steps": 10})
    opt = model.configure_optimizers()
    assert opt["optimizer"].param_groups[0]["lr"] == pytest.approx(7.5e-5 / 10)


def test_export_load_round_trip(tmp_path):
    _, ckpt = fit_tiny(tmp_path, steps=2)
    out = export(ckpt, tmp_path / "export")
    assert {p.name for p in out.iterdir()} >= {"model.safetensors", "config.json", "vocab.json"}
    a, b = load(out), load(ckpt)
    assert a.space == b.space == "mel" and a.frame_rate == 93.75 and a.vocab.symbols == b.vocab.symbols
    text = encode_texts(a.vocab, ["Hi there."])
    args = (torch.randn(1, 10, 100), torch.tensor([10]), text, torch.tensor([25]))
    assert torch.equal(a.cfm.sample(*args, nfe=2, seeds=1), b.cfm.sample(*args, nfe=2, seeds=1))
    assert a.max_frames == int(30 * 93.75)


def test_vocab_size_mismatch_is_explained(tmp_path):
    _, ckpt = fit_tiny(tmp_path, steps=1)
    vocab = tmp_path / "vocab.json"
    Vocab([*Vocab().symbols, "é"]).save(vocab)
    model = tiny_f5_module(vocab=str(vocab), **TINY)
    with pytest.raises(ValueError, match="vocab"):
        model.on_load_checkpoint(torch.load(ckpt, weights_only=True))


def test_f5_module_updates_once_per_step_and_checkpoints_the_ema(tmp_path):
    with pytest.raises(ValueError, match="update_every"):
        tiny_f5_module(**{**TINY, "ema_update_every": 0})
    model, ckpt = fit_tiny(tmp_path, steps=3, ema_update_after_step=1, ema_update_every=1, ema_beta=0.9)
    assert int(model.ema.step) == 3
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    assert int(state["ema.step"]) == 3 and bool(state["ema.initted"])
    ema_keys = {k[len("ema.ema_model.") :] for k in state if k.startswith("ema.ema_model.")}
    assert ema_keys == set(model.cfm.net.state_dict())
    # update 2 lerped with decay 1 - 2^(-2/3): the EMA differs from the online weights
    net = model.cfm.net.state_dict()
    assert any(not torch.equal(net[k], state["ema.ema_model." + k]) for k in ema_keys)
    # resuming restores the EMA state
    fresh = tiny_f5_module(**{**TINY, "ema_update_after_step": 1, "ema_update_every": 1})
    fresh.load_state_dict(state)
    assert int(fresh.ema.step) == 3
    assert all(torch.equal(v, state["ema.ema_model." + k]) for k, v in fresh.ema_net.state_dict().items())
    trainer = pl.Trainer(
        max_steps=5,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        limit_val_batches=0,
    )
    trainer.fit(fresh, DataLoader(synthetic_batches(2), batch_size=None), ckpt_path=ckpt)
    assert trainer.global_step == 5 and int(fresh.ema.step) == 5  # the resumed run goes on counting


def _instantiate(spec: dict):
    module, name = spec["class_path"].rsplit(".", 1)
    init = dict(spec.get("init_args", {}))
    if "dit" in init:  # as LightningCLI builds the recipe's dit block (tests/test_recipes.py)
        init["dit"] = DiTConfig(**init["dit"])
    return getattr(importlib.import_module(module), name)(**init)


def _merge(base: dict, over: dict) -> dict:
    """``over`` on ``base`` as later ``-c`` files apply (mappings merge, other values replace)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.mark.parametrize("recipe", ["f5/small_mel.yaml", "f5/small_latent.yaml"])
def test_paper_recipe_instantiates_and_trains_one_step(recipe):
    cfg: dict = {}
    for f in ("f5/base.yaml", "f5/small.yaml", recipe):  # the paper recipe's layers (tests/test_recipes.py)
        cfg = _merge(cfg, yaml.safe_load((ROOT / "recipes" / f).read_text()))
    init = cfg["model"]["init_args"]
    dit = init["dit"]
    assert (
        dit["dim"],
        dit["depth"],
        dit["heads"],
        dit["ff_mult"],
        dit["text_dim"],
        dit["conv_layers"],
    ) == (768, 18, 12, 2, 512, 4)
    assert init["lr"] == 7.5e-5 and init["warmup_steps"] == 20000
    tr = cfg["trainer"]
    assert tr["precision"] == "bf16-mixed" and tr["strategy"] == "ddp" and "num_nodes" in tr
    frames = cfg["data"]["init_args"]["max_frames_per_batch"]
    assert frames == (38400 if "mel" in recipe else 51200)
    model = _instantiate(cfg["model"])
    n_params = sum(p.numel() for p in model.cfm.parameters())
    assert 100e6 < n_params < 200e6  # F5TTS_v1_Small is ~155M with mel
    opt = torch.optim.AdamW(model.cfm.parameters(), lr=1e-4)
    dim = model.cfm.net.feat_dim
    batch = synthetic_batches(1, dim)[0]
    batch = {**batch, "feats": batch["feats"][:, :12], "feat_lens": torch.tensor([12, 9])}
    loss = model._loss(batch)
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)


# The DiT's state_dict keys (depth 1, conv_layers 1) and an export's config.json as this code has written
# them since the first export: models exported or checkpointed before tts.f5.dit.DiTConfig and
# tts.f5.fastpath existed must keep loading.
OLD_KEYS = [
    "time_embed.mlp.0.weight", "time_embed.mlp.0.bias", "time_embed.mlp.2.weight", "time_embed.mlp.2.bias",
    "text_encoder.embed.weight", "text_encoder.blocks.0.dwconv.weight", "text_encoder.blocks.0.dwconv.bias",
    "text_encoder.blocks.0.norm.weight", "text_encoder.blocks.0.norm.bias", "text_encoder.blocks.0.pwconv1.weight",
    "text_encoder.blocks.0.pwconv1.bias", "text_encoder.blocks.0.grn.gamma", "text_encoder.blocks.0.grn.beta",
    "text_encoder.blocks.0.pwconv2.weight", "text_encoder.blocks.0.pwconv2.bias", "input_proj.weight",
    "input_proj.bias", "conv_pos.conv1.weight", "conv_pos.conv1.bias", "conv_pos.conv2.weight",
    "conv_pos.conv2.bias", "blocks.0.modulation.1.weight", "blocks.0.modulation.1.bias",
    "blocks.0.attn.to_qkv.weight", "blocks.0.attn.to_qkv.bias", "blocks.0.attn.to_out.weight",
    "blocks.0.attn.to_out.bias", "blocks.0.ff.0.weight", "blocks.0.ff.0.bias", "blocks.0.ff.3.weight",
    "blocks.0.ff.3.bias", "modulation_out.1.weight", "modulation_out.1.bias", "proj_out.weight", "proj_out.bias",
]  # fmt: skip
OLD_NETWORK = {"feat_dim": 100, "vocab_size": len(Vocab()), "dim": 32, "depth": 1, "heads": 2, "dim_head": 16,
               "ff_mult": 2.0, "text_dim": 16, "conv_layers": 1, "dropout": 0.0, "null_text": "f5"}  # fmt: skip
OLD_CONFIG = {"network": OLD_NETWORK, "space": "mel", "frame_rate": 93.75, "max_duration_s": 30.0}


def test_models_written_before_the_dit_config_still_load(tmp_path):
    import json

    from safetensors.torch import save_file

    from tts.f5.dit import DiT
    from tts.io import CheckpointError

    for fast in (True, False):
        assert list(DiT(**OLD_NETWORK, fast=fast).state_dict()) == OLD_KEYS
    shapes = {k: v.shape for k, v in DiT(**OLD_NETWORK).state_dict().items()}
    g = torch.Generator().manual_seed(0)
    state = {k: torch.randn(shapes[k], generator=g) * 0.1 for k in OLD_KEYS}
    vocab = Vocab()
    old = tmp_path / "old_export"
    old.mkdir()
    (old / "config.json").write_text(json.dumps(OLD_CONFIG))
    save_file(state, old / "model.safetensors")
    vocab.save(old / "vocab.json")
    model = load(old)
    assert model.net.args == OLD_NETWORK
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, state[k]), k
    # a Lightning checkpoint of then: flat DiT hyper-parameters, the online and the EMA DiT
    hparams = {"space": "mel", **{k: v for k, v in OLD_NETWORK.items() if k not in ("feat_dim", "vocab_size")}}
    weights = {**{f"cfm.net.{k}": v for k, v in state.items()}, **{f"ema.ema_model.{k}": v for k, v in state.items()}}
    ckpt = {"state_dict": {**weights, "ema.step": torch.tensor(2), "ema.initted": torch.tensor(True)},
            "global_step": 2, "vocab": vocab.to_dict(), "f5_config": OLD_CONFIG, "hyper_parameters": hparams}  # fmt: skip
    torch.save(ckpt, tmp_path / "old.ckpt")
    x, cond, t = torch.randn(1, 20, 100), torch.randn(1, 20, 100), torch.tensor([0.4])
    text = encode_texts(vocab, ["Hello."])
    with torch.no_grad():
        torch.testing.assert_close(load(tmp_path / "old.ckpt").net(x, cond, text, t), model.net(x, cond, text, t))
    assert json.loads((export(tmp_path / "old.ckpt", tmp_path / "re") / "config.json").read_text()) == OLD_CONFIG
    # training resumes from it with the recipe's dit block
    dit = DiTConfig(**{k: v for k, v in hparams.items() if k != "space"})
    module = F5Module(space="mel", dit=dit)
    module.on_load_checkpoint(ckpt)
    module.load_state_dict(ckpt["state_dict"])  # strict: the same keys
    # an unknown network key is refused by name
    (old / "config.json").write_text(json.dumps({**OLD_CONFIG, "network": {**OLD_NETWORK, "depht": 1}}))
    with pytest.raises(CheckpointError, match="depht"):
        load(old)


def test_dit_config_sizes_come_from_space_and_vocab():
    model = tiny_f5_module()
    assert model.cfm.net.config.feat_dim == 100 and model.cfm.net.config.vocab_size == len(model.vocab)
    # plain data in checkpoints (weights_only loads)
    assert model.hparams["dit"] == {**TINY_DIT, "ff_mult": 2.0, "null_text": "f5", "feat_dim": None,
                                    "vocab_size": None, "fast": True}  # fmt: skip
    with pytest.raises(ValueError, match="dit.feat_dim is 64"):
        F5Module(space="mel", dit=DiTConfig(feat_dim=64, dim=32, depth=1, heads=2, dim_head=16, text_dim=16))
