"""Equivalence of the VAE networks with the reference code (fp32, CPU, small sizes).

- decoder: NVIDIA ``bigvgan==2.4.1``'s generator with Semantic-VAE's paper config
  (bigvgan_v2_16khz_40hz_base_vae64.json: kernels 9,9,4,4,4,4, no tanh, no final bias), shrunk in width;
- encoder: ``descript-audio-codec==1.0.0``'s ``Encoder`` (EncoderBlocks, Snake1d) at strides 4,4,5,5;
- bottleneck: Semantic-VAE's AttnProjection, written out here from its definition (the code is not on PyPI).

The reference weights are random (not the references' init, which leaves everything near identity),
loaded into ours through ``tts.vae.convert``, and the outputs compared within 1e-4.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tts.vae.convert import PAPER_BIGVGAN, checked_state, convert_bigvgan, convert_dac_encoder, import_vae
from tts.vae.model import AttnProjection, BigVGANDecoder, Encoder

TOL = 1e-4


def randomize(module: torch.nn.Module, seed: int, scale: float = 0.3) -> None:
    """Random weights around the init (snake alpha/beta kept near their init so sin^2 stays tame)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.add_(
                scale * torch.randn(p.shape, generator=g) * (0.3 if "alpha" in name or "beta" in name else 1)
            )


def small_bigvgan_config(channels: int = 64, num_mels: int = 16) -> dict:
    return {**PAPER_BIGVGAN, "num_mels": num_mels, "upsample_initial_channel": channels}


def test_bigvgan_decoder_matches_the_reference_generator_with_the_paper_config():
    from bigvgan import bigvgan  # bigvgan==2.4.1, the dev extra (make test installs it)
    from bigvgan.env import AttrDict

    torch.manual_seed(0)
    h = small_bigvgan_config()
    ref = bigvgan.BigVGAN(AttrDict(h)).eval()
    randomize(ref, 0)
    z = torch.randn(2, h["num_mels"], 5, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # conv_post has no bias: scale it so the output peaks at 2 and the clamp acts
        ref.conv_post.weight_g.mul_(1e-3)
        ref.conv_post.weight_g.mul_(2.0 / ref(z).abs().max())
    ours = BigVGANDecoder(
        latent_dim=h["num_mels"],
        channels=h["upsample_initial_channel"],
        upsample_rates=h["upsample_rates"],
        upsample_kernel_sizes=h["upsample_kernel_sizes"],
        resblock_kernel_sizes=h["resblock_kernel_sizes"],
        resblock_dilations=h["resblock_dilation_sizes"][0],
        final_activation="clamp",
        final_bias=False,
    ).eval()
    mapped = convert_bigvgan(ref.state_dict(), len(h["resblock_kernel_sizes"]))
    ours.load_state_dict(checked_state(ours.state_dict(), mapped), strict=True)
    with torch.no_grad():
        expected, got = ref(z).squeeze(1), ours(z)
    assert got.shape == expected.shape == (2, 5 * 400)
    assert 0 < (expected.abs() == 1).float().mean() < 1  # the clamp is exercised, not everything saturated
    diff = (got - expected).abs().max().item()
    print(f"BigVGAN decoder max |diff| = {diff:.3g}")
    assert diff < TOL


def test_dac_encoder_matches_the_reference_encoder_blocks():
    from dac.model import dac  # descript-audio-codec==1.0.0 (make test installs it, --no-deps)

    torch.manual_seed(0)
    channels, strides = 4, [4, 4, 5, 5]
    d_latent = channels * 2 ** len(strides)
    ref = dac.Encoder(channels, strides, d_latent).eval()
    randomize(ref, 2, scale=0.1)
    ours = Encoder(
        channels, tuple(strides), latent_dim=8, bottleneck="attn", attn_heads=2, activation="snake"
    )
    mapped = convert_dac_encoder(ref.state_dict())
    expected_state = {k: v for k, v in ours.state_dict().items() if k.startswith("net.")}
    ours.load_state_dict(checked_state(expected_state, mapped), strict=False)
    wav = 0.3 * torch.randn(2, 1, 4000, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected, got = ref(wav), ours.net(wav.clone())
    assert got.shape == expected.shape == (2, d_latent, 10)
    diff = (got - expected).abs().max().item()
    print(f"DAC encoder max |diff| = {diff:.3g} (output scale {expected.abs().max():.3g})")
    assert diff < TOL


def reference_attn_projection(
    p: dict[str, torch.Tensor], x: torch.Tensor, heads: int, out_dim: int
) -> torch.Tensor:
    """Semantic-VAE ``AttnProjection.forward`` (in_dim > out_dim) with explicit causal softmax attention."""
    in_dim = x.shape[-1]

    def ln(name, t):
        return F.layer_norm(t, (t.shape[-1],), p[f"{name}.weight"], p[f"{name}.bias"])

    h = ln("norm1", x)
    qkv = h @ p["attn.qkv.weight"].T + torch.cat([p["attn.q_bias"], torch.zeros(in_dim), p["attn.v_bias"]])
    b, n, _ = x.shape
    head_dim = in_dim // heads
    q, k, v = qkv.reshape(b, n, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim)
    scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    att = (scores.softmax(-1) @ v).mean(dim=1)  # mean over heads: (B, N, head_dim)
    att = att.reshape(b, n, out_dim, head_dim // out_dim).mean(-1)  # adaptive_avg_pool1d, divisible case
    att = att @ p["attn.proj.weight"].T + p["attn.proj.bias"]
    y = ln("norm3", x) @ p["proj.weight"].T + p["proj.bias"] + att
    m = ln("mlp.norm", ln("norm2", y))
    gated = F.gelu(m @ p["mlp.w0.weight"].T + p["mlp.w0.bias"], approximate="tanh") * (
        m @ p["mlp.w1.weight"].T + p["mlp.w1.bias"]
    )
    return y + gated @ p["mlp.w2.weight"].T + p["mlp.w2.bias"]


def test_attn_projection_matches_the_reference_definition():
    torch.manual_seed(0)
    proj = AttnProjection(64, 8, num_heads=4)
    randomize(proj, 4)
    x = torch.randn(2, 7, 64)
    with torch.no_grad():
        expected = reference_attn_projection(dict(proj.state_dict()), x, 4, 8)
        got = proj(x)
        # causal: the first frames do not see the later ones
        x2 = x.clone()
        x2[:, 4:] = torch.randn(2, 3, 64)
        assert torch.allclose(proj(x2)[:, :4], got[:, :4], atol=1e-6)
    diff = (got - expected).abs().max().item()
    print(f"AttnProjection max |diff| = {diff:.3g}")
    assert diff < TOL


def semantic_vae_checkpoint(
    seed: int = 5,
) -> tuple[dict[str, torch.Tensor], dict, torch.nn.Module, torch.nn.Module]:
    """A small Semantic-VAE generator state dict built from the reference classes (DAC's Encoder, bigvgan's
    BigVGAN with the paper config) + the AttnProjection / fc_mu / fc_var under Semantic-VAE's names.
    Returns (state, decoder config, reference encoder, reference decoder)."""
    from bigvgan import bigvgan
    from bigvgan.env import AttrDict
    from dac.model import dac

    torch.manual_seed(seed)
    encoder = dac.Encoder(4, [4, 4, 5, 5], 64).eval()
    randomize(encoder, seed, scale=0.1)
    h = small_bigvgan_config(channels=64, num_mels=8)
    decoder = bigvgan.BigVGAN(AttrDict(h)).eval()
    randomize(decoder, seed + 1)
    torch.manual_seed(seed)
    pre_block = AttnProjection(64, 8, num_heads=8)
    randomize(pre_block, seed + 2)
    state = {f"encoder.{k}": v for k, v in encoder.state_dict().items()}
    state.update({f"pre_block.{k}": v for k, v in pre_block.state_dict().items()})
    state["pre_block.attn.zero_k_bias"] = torch.zeros(64)
    for name in ("fc_mu", "fc_var"):
        fc = torch.nn.Linear(8, 8)
        state.update({f"{name}.{k}": v for k, v in fc.state_dict().items()})
    state.update({f"decoder.{k}": v for k, v in decoder.state_dict().items()})
    state["projectors.interpolate.0.weight"] = torch.zeros(16, 1024, 3)  # the alignment projector: dropped
    return state, h, (encoder, pre_block), decoder


def test_import_semantic_vae_checkpoint_gives_the_reference_outputs(tmp_path):
    import json

    from tts.io import CheckpointError
    from tts.vae import load
    from tts.vae.convert import main

    state, h, (encoder, pre_block), decoder = semantic_vae_checkpoint()
    tag = tmp_path / "ckpts" / "latest"
    (tag / "dac").mkdir(parents=True)
    ema = {"initted": torch.tensor(True), "step": torch.tensor(7)}
    ema.update({f"ema_model.{k}": v for k, v in state.items()})
    torch.save(ema, tag / "dac" / "ema_state_dict.pth")
    (tag / "metainfo.json").write_text(json.dumps({"DAC": {"vae_dim": 8}, "Decoder": h}))
    assert main([str(tag / "dac" / "ema_state_dict.pth"), "--out", str(tmp_path / "vae")]) == 0
    config = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert config["weights"] == "ema" and config["source_config"].endswith("metainfo.json")
    vae = load(tmp_path / "vae")
    wav = 0.3 * torch.randn(1, 4000, generator=torch.Generator().manual_seed(0))
    z = torch.randn(1, 8, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mean, logvar = vae.encode(wav)
        hidden = pre_block(encoder(wav[:, None]).transpose(1, 2))
        fc_mu = torch.nn.functional.linear(hidden, state["fc_mu.weight"], state["fc_mu.bias"]).transpose(1, 2)
        enc_diff = (mean - fc_mu).abs().max().item()
        dec_diff = (vae.decode(z) - decoder(z).squeeze(1)).abs().max().item()
    print(f"imported Semantic-VAE: encoder mean max |diff| = {enc_diff:.3g}, decoder {dec_diff:.3g}")
    assert enc_diff < TOL and dec_diff < TOL and logvar.abs().max() <= 12

    # refusals, each naming the file or the key
    torch.save(state, tmp_path / "weights.pth")
    data = (tmp_path / "weights.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    cfg = str(tag / "metainfo.json")
    with pytest.raises(CheckpointError, match="truncated"):
        import_vae(tmp_path / "truncated.pth", tmp_path / "x", cfg)
    for key, value, pattern in [
        ("fc_mu.weight", torch.zeros(8, 9), r"fc_mu\.weight: shape \(8, 9\)"),
        ("decoder.ups.1.0.weight_v", torch.zeros(32, 15, 9), r"decoder\.ups\.1\.0\.weight_v: shape"),
        ("pre_block.extra.weight", torch.zeros(1), r"pre_block\.extra\.weight"),
        ("discriminator.x", torch.zeros(1), r"discriminator\.x: not a key"),
    ]:
        torch.save({**state, key: value}, tmp_path / "bad.pth")
        with pytest.raises(CheckpointError, match=pattern):
            import_vae(tmp_path / "bad.pth", tmp_path / "x", cfg)
    missing = {k: v for k, v in state.items() if k != "decoder.resblocks.3.convs2.1.weight_g"}
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="missing"):
        import_vae(tmp_path / "missing.pth", tmp_path / "x", cfg)
    torch.save({"state_dict": state, "metadata": {"note": object.__name__}}, tmp_path / "wrapped.pth")
    assert load(import_vae(tmp_path / "wrapped.pth", tmp_path / "online", cfg)).decode(z).shape == (1, 1600)
