"""Equivalence with the F5-TTS reference code (the installed ``f5-tts`` 1.1.22 package, ``make f5-ref``).

A reference ``DiT`` with random weights, converted by ``tts.f5.convert`` (the converter of ``tts import
f5``): our velocity on the same inputs, with and without dropped audio / text, within 1e-4; the CFM
sampler from the same noise within 1e-3 (8 Euler steps with CFG and sway; 7 with EPSS); ``tts import f5``
of a checkpoint written the way F5-TTS' trainer writes it; bad files refused with the key named.
All fp32 on CPU at small sizes. The DiT tests run both forms of our DiT (``fast``: ``tts.f5.fastpath``,
the default; ``plain``: the plain layers of ``tts.f5.dit``). The measured differences are printed
(``pytest -s``).
"""

from __future__ import annotations

import pytest
import torch

from tts.f5.cfm import CFM
from tts.f5.convert import convert_f5_state, import_f5, reference_modules
from tts.f5.dit import DiT
from tts.io import CheckpointError

RefDiT, RefCFM, ref_epss = reference_modules()  # the test-only dependency must be there: no skip

SIZE = dict(dim=64, depth=2, heads=4, dim_head=16, ff_mult=2, text_dim=24, conv_layers=2)
VOCAB = 20  # F5 text_num_embeds (symbols); the embedding has VOCAB + 1 rows
BOTH = pytest.mark.parametrize("fast", [True, False], ids=["fast", "plain"])


def reference_dit(mel_dim: int = 10, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    ref = RefDiT(**SIZE, mel_dim=mel_dim, text_num_embeds=VOCAB, dropout=0.1)
    with torch.no_grad():
        for name, p in ref.named_parameters():  # adaLN-zero / zero output init would hide everything
            p.copy_(torch.randn_like(p) * (0.3 if "grn" in name or p.ndim == 1 else 0.15))
    return ref.eval()


def ours_from(ref: torch.nn.Module, fast: bool = True) -> DiT:
    state, args = convert_f5_state(ref.state_dict())
    assert args == {**SIZE, "feat_dim": args["feat_dim"], "vocab_size": VOCAB + 1, "ff_mult": 2.0,
                    "dropout": 0.1, "null_text": "f5"}  # fmt: skip
    net = DiT(**args, fast=fast)
    net.load_state_dict(state)
    return net.eval()


def inputs(b: int = 2, n: int = 50, nt: int = 31, d: int = 10, seed: int = 1):
    """x, cond, F5 text ids (-1 padded), our ids (F5 + 1, 0 filler), t."""
    g = torch.Generator().manual_seed(seed)
    x, cond = torch.randn(b, n, d, generator=g), torch.randn(b, n, d, generator=g)
    cond[:, n // 3 :] = 0
    text = torch.randint(0, VOCAB, (b, nt), generator=g)
    text[1, 20:] = -1  # a shorter text, F5's batch padding
    return x, cond, text, text + 1, torch.rand(b, generator=g)


def report(name: str, diff: float) -> None:
    print(f"[f5 reference] {name}: max |ours - reference| = {diff:.3g}")


@BOTH
@pytest.mark.parametrize("drop_audio, drop_text", [(False, False), (True, False), (True, True)])
def test_velocity_equals_reference(drop_audio, drop_text, fast):
    ref = reference_dit()
    ours = ours_from(ref, fast)
    x, cond, text_f5, text, t = inputs()
    with torch.no_grad():
        want = ref(x, cond, text_f5, t, drop_audio_cond=drop_audio, drop_text=drop_text)
        flags = torch.full((2,), True)
        got = ours(
            x, cond, text, t, drop_audio=flags if drop_audio else None, drop_text=flags if drop_text else None
        )
    diff = (got - want).abs().max().item()
    report(f"velocity drop_audio={drop_audio} drop_text={drop_text} fast={fast}", diff)
    assert want.abs().max() > 0.1  # a non-trivial output
    assert diff < 1e-4


@BOTH
def test_text_longer_than_frames_and_inference_paths(fast):
    """Text cut at the frame count; the inference-time paths (one shared t; fast: fused) give the same
    result."""
    ref = reference_dit(seed=3)
    ours = ours_from(ref, fast)
    x, cond, text_f5, text, _ = inputs(n=24, nt=31)
    t = torch.full((2,), 0.37)
    with torch.inference_mode():
        want = ref(x, cond, text_f5, t[0])  # a 0-dim time, as the reference sampler passes it
        context = ours.sampling_context(cond, text, None, cfg=False)
        got = ours.forward_context(x, context, t[:1])
    diff = (got - want).abs().max().item()
    report(f"velocity, text cut + inference path, fast={fast}", diff)
    assert diff < 1e-4


@BOTH
@pytest.mark.parametrize("steps, use_epss", [(8, False), (7, True)])
def test_sampler_equals_reference(steps, use_epss, fast):
    ref = reference_dit(seed=5)
    ours = ours_from(ref, fast)
    ref_cfm = RefCFM(transformer=ref, num_channels=10)
    g = torch.Generator().manual_seed(2)
    n, nc = 60, 18
    cond = torch.randn(1, nc, 10, generator=g)
    text = torch.randint(0, VOCAB, (1, 28), generator=g)
    want, _ = ref_cfm.sample(
        cond, text, n, steps=steps, cfg_strength=2.0, sway_sampling_coef=-1.0, seed=11, use_epss=use_epss
    )
    got = CFM(ours).sample(
        cond, torch.tensor([nc]), text + 1, torch.tensor([n]), nfe=steps, cfg=2.0, sway=-1.0, seeds=11,
        epss=use_epss,
    )  # fmt: skip
    assert got.shape == want.shape == (1, n, 10)
    diff = (got - want).abs().max().item()
    report(f"sampler {steps} Euler steps, CFG 2, sway -1, epss={use_epss}, fast={fast}", diff)
    assert want[:, nc:].abs().max() > 0.1
    assert diff < 1e-3


def test_epss_grids_equal_reference():
    from tts.f5.cfm import EPSS_GRIDS, sway_timesteps

    for steps in [*EPSS_GRIDS, 8, 32]:
        want = ref_epss(steps, device="cpu", dtype=torch.float32)
        torch.testing.assert_close(sway_timesteps(steps, None, epss=True), want, atol=0, rtol=0)


# ---------------------------------------------------------------------------------------- tts import f5
def write_vocab(path, n: int = VOCAB) -> None:
    symbols = [" ", *"abcdefghijklmnopqrstuvwxyz.,'"][:n]
    path.write_text("".join(s + "\n" for s in symbols), encoding="utf-8")


def f5_training_checkpoint(tmp_path, seed: int = 7) -> tuple[torch.nn.Module, object]:
    """A ``.pt`` as F5-TTS' trainer saves it: the EMA (ema-pytorch) of the CFM under
    ``ema_model_state_dict`` (with the mel extractor's buffers), next to the online model."""
    from ema_pytorch import EMA

    ref = reference_dit(mel_dim=100, seed=seed)
    cfm = RefCFM(transformer=ref)
    ema = EMA(cfm, include_online_model=False)
    ema.update()
    ckpt = tmp_path / "model_last.pt"
    torch.save(
        {"model_state_dict": cfm.state_dict(), "ema_model_state_dict": ema.state_dict(), "update": 1}, ckpt
    )
    return ref, ckpt


def test_import_f5_checkpoint_runs_like_the_reference(tmp_path):
    from safetensors.torch import save_file

    from tts.cli import main as cli
    from tts.f5 import load

    ref, ckpt = f5_training_checkpoint(tmp_path)
    write_vocab(tmp_path / "vocab.txt")
    assert cli(["import", "f5", str(ckpt), "--vocab", str(tmp_path / "vocab.txt"), "--out",
                str(tmp_path / "export")]) == 0  # fmt: skip
    model = load(tmp_path / "export")
    assert model.space == "mel" and model.frame_rate == 93.75
    assert model.vocab.symbols[1] == " " and model.vocab.encode("ab", on_unknown="drop") == [2, 3]
    x, cond, text_f5, text, t = inputs(d=100)
    with torch.no_grad():
        want = ref(x, cond, text_f5, t)
        got = model.net(x, cond, text, t)
    diff = (got - want).abs().max().item()
    report("tts import f5 (.pt, EMA weights)", diff)
    assert diff < 1e-4
    # the released form: safetensors with ema_model.transformer.* keys
    state = {"ema_model.transformer." + k: v.contiguous() for k, v in ref.state_dict().items()}
    save_file(state, tmp_path / "model.safetensors")
    import_f5(tmp_path / "model.safetensors", tmp_path / "vocab.txt", tmp_path / "export2")
    torch.testing.assert_close(load(tmp_path / "export2").net(x, cond, text, t), got, atol=0, rtol=0)


def test_import_f5_refuses_bad_files(tmp_path, capsys):
    from tts.cli import main as cli

    ref, ckpt = f5_training_checkpoint(tmp_path)
    write_vocab(tmp_path / "vocab.txt")
    vocab = tmp_path / "vocab.txt"
    # truncated file
    data = ckpt.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert (
        cli(["import", "f5", str(tmp_path / "cut.pt"), "--vocab", str(vocab), "--out", str(tmp_path / "o")])
        == 2
    )
    assert "cut.pt" in capsys.readouterr().err
    # a wrong-shaped tensor: its key is named
    state = {k: v.clone() for k, v in ref.state_dict().items()}
    state["transformer_blocks.1.attn.to_k.weight"] = state["transformer_blocks.1.attn.to_k.weight"][:, :10]
    torch.save({"ema_model_state_dict": state}, tmp_path / "shape.pt")
    with pytest.raises(CheckpointError, match=r"transformer_blocks\.1\.attn\.to_k\.weight|blocks\.1\.attn"):
        import_f5(tmp_path / "shape.pt", vocab, tmp_path / "o")
    # a missing tensor
    del state["transformer_blocks.1.attn.to_k.weight"]
    torch.save({"ema_model_state_dict": state}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing key transformer_blocks\.1\.attn\.to_k\.weight"):
        import_f5(tmp_path / "missing.pt", vocab, tmp_path / "o")
    # pickled objects are refused (weights_only=True)
    torch.save({"ema_model_state_dict": {"x": object()}}, tmp_path / "pickle.pt")
    with pytest.raises(CheckpointError, match="pickle.pt"):
        import_f5(tmp_path / "pickle.pt", vocab, tmp_path / "o")
    # a vocab of another size
    write_vocab(tmp_path / "small.txt", n=VOCAB - 2)
    with pytest.raises(CheckpointError, match="not this checkpoint's vocab"):
        import_f5(ckpt, tmp_path / "small.txt", tmp_path / "o")
    # a feature space of another dimension
    with pytest.raises(CheckpointError, match="100 dims"):
        import_f5(ckpt, vocab, tmp_path / "o", space="latent:vae=/nonexistent")
    assert not (tmp_path / "o").exists()
