"""Weight conversion from the reference implementations to ``tts.vae.model``.

- ``convert_bigvgan``: a BigVGAN generator state dict (NVIDIA ``bigvgan`` package, old ``weight_g`` /
  ``weight_v`` weight norm, or Semantic-VAE's copy with ``parametrizations.weight.original0/1``) ->
  ``BigVGANDecoder`` keys. The anti-aliasing filters are fixed buffers and are checked, not loaded.
- ``convert_dac_encoder``: DAC's ``Encoder`` (``block.0`` conv, ``block.1..n`` EncoderBlocks, final
  Snake + conv) -> ``Encoder`` keys (``activation="snake"``).
- ``convert_semantic_vae``: a Semantic-VAE generator (its ``DAC`` class: ``encoder.*`` + ``pre_block.*``
  AttnProjection + ``fc_mu`` / ``fc_var`` + ``decoder.*`` BigVGAN [+ ``projectors.*``, the alignment
  projector, not part of the inference VAE]) -> (``build_vae`` config, ``SpeechVAE`` state dict).

Every function raises ``CheckpointError`` naming the source key for an unknown key, a wrong shape or a
missing tensor.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tts.io import CheckpointError
from tts.vae.model import kaiser_sinc_filter

# Semantic-VAE's bigvgan_v2_16khz_40hz_base_vae64.json
PAPER_BIGVGAN = {
    "upsample_rates": [5, 5, 2, 2, 2, 2],
    "upsample_kernel_sizes": [9, 9, 4, 4, 4, 4],
    "upsample_initial_channel": 1024,
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "use_tanh_at_final": False,
    "use_bias_at_final": False,
    "activation": "snakebeta",
    "snake_logscale": True,
    "resblock": "1",
}
PAPER_ATTN_HEADS = 8  # DAC(...).pre_block = AttnProjection(latent_dim, vae_dim, num_heads=8)
PAPER_LOGVAR_CLAMP = 12.0

_WN_OLD = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


def _new_weight_norm_names(state: dict[str, torch.Tensor]) -> dict[str, str]:
    """{normalized key: source key}: old-style weight norm names become parametrization names."""
    out = {}
    for key in state:
        new = key
        for old, repl in _WN_OLD.items():
            if key.endswith(old):
                new = key[: -len(old)] + repl
        out[new] = key
    return out


def _check_filter(source_key: str, value: torch.Tensor) -> None:
    expected = kaiser_sinc_filter(0.25, 0.3, 12)
    if value.shape != expected.shape or not torch.allclose(value.float(), expected, atol=1e-6):
        raise CheckpointError(
            f"{source_key}: anti-aliasing filter {tuple(value.shape)} differs from BigVGAN's kaiser-sinc "
            "(ratio 2, kernel 12) that tts.vae.model.AntiAliasedSnake uses"
        )


def convert_bigvgan(state: dict[str, torch.Tensor], num_kernels: int, prefix: str = "") -> dict:
    """BigVGAN generator keys (under ``prefix``) -> {BigVGANDecoder key: (source key, tensor)}.

    ``num_kernels`` = len(resblock_kernel_sizes) (BigVGAN numbers resblocks i * num_kernels + j).
    """
    out: dict[str, tuple[str, torch.Tensor]] = {}
    for key, src in _new_weight_norm_names(state).items():
        if not key.startswith(prefix):
            continue
        value, k = state[src], key[len(prefix) :]
        if k.endswith((".upsample.filter", ".downsample.lowpass.filter")):
            _check_filter(src, value)
            continue
        if m := re.fullmatch(r"ups\.(\d+)\.0\.(.+)", k):
            target = f"ups.{m[1]}.{m[2]}"
        elif m := re.fullmatch(r"resblocks\.(\d+)\.convs([12])\.(\d+)\.(.+)", k):
            stage, kernel = divmod(int(m[1]), num_kernels)
            target = f"resblocks.{stage}.{kernel}.blocks.{m[3]}.{1 if m[2] == '1' else 3}.{m[4]}"
        elif m := re.fullmatch(r"resblocks\.(\d+)\.activations\.(\d+)\.act\.(alpha|beta)", k):
            stage, kernel = divmod(int(m[1]), num_kernels)
            pair, second = divmod(int(m[2]), 2)
            target = f"resblocks.{stage}.{kernel}.blocks.{pair}.{2 if second else 0}.act.log_{m[3]}"
            value = value.reshape(1, -1, 1)
        elif m := re.fullmatch(r"activation_post\.act\.(alpha|beta)", k):
            target, value = f"act_post.act.log_{m[1]}", value.reshape(1, -1, 1)
        elif re.fullmatch(r"(conv_pre|conv_post)\..+", k):
            target = k
        else:
            raise CheckpointError(f"{src}: not a key of a BigVGAN generator (AMPBlock1, snakebeta)")
        out[target] = (src, value)
    return out


def convert_dac_encoder(state: dict[str, torch.Tensor], prefix: str = "") -> dict:
    """DAC ``Encoder`` keys (under ``prefix``) -> {Encoder key: (source key, tensor)}."""
    keys = _new_weight_norm_names(state)
    blocks = {int(m[1]) for k in keys if (m := re.match(re.escape(prefix) + r"block\.(\d+)\.block\.", k))}
    n = len(blocks)
    if blocks != set(range(1, n + 1)):
        raise CheckpointError(f"{prefix}block.*: expected EncoderBlocks 1..n, found {sorted(blocks)}")
    out: dict[str, tuple[str, torch.Tensor]] = {}
    for key, src in keys.items():
        if not key.startswith(prefix):
            continue
        k = key[len(prefix) :]
        if m := re.fullmatch(r"block\.(\d+)\.block\.([0-4])\.(.+)", k):
            target = f"net.{1 + 5 * (int(m[1]) - 1) + int(m[2])}.{m[3]}"
        elif m := re.fullmatch(r"block\.(\d+)\.(.+)", k):
            index = int(m[1])
            if index == 0:
                target = f"net.0.{m[2]}"
            elif index in (n + 1, n + 2):
                target = f"net.{5 * n + index - n}.{m[2]}"
            else:
                raise CheckpointError(f"{src}: not a key of DAC's Encoder with {n} EncoderBlocks")
        else:
            raise CheckpointError(f"{src}: not a key of DAC's Encoder")
        out[target] = (src, state[src])
    return out


def _shape(state: dict, key: str, ndim: int) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{key}: missing (needed to infer the architecture)")
    shape = tuple(state[key].shape)
    if len(shape) != ndim:
        raise CheckpointError(f"{key}: expected a {ndim}-d tensor, got shape {shape}")
    return shape


def _weight(state: dict, module: str, ndim: int) -> tuple[int, ...]:
    for suffix in (".weight_v", ".parametrizations.weight.original1", ".weight"):
        if module + suffix in state:
            return _shape(state, module + suffix, ndim)
    raise CheckpointError(f"{module}.weight (or weight_v / parametrizations.weight.original1): missing")


def semantic_vae_config(state: dict[str, torch.Tensor], decoder_config: dict | None = None) -> dict:
    """``build_vae`` config of a Semantic-VAE generator state dict.

    Widths, strides, kernels and the latent size come from the tensor shapes; what the shapes do not
    hold (up-sampling rates, dilations, final tanh, attention heads) from ``decoder_config`` (BigVGAN
    JSON or Semantic-VAE's metainfo ``Decoder``), else the paper config.
    """
    h = {**PAPER_BIGVGAN, **(decoder_config or {})}
    if (
        h.get("activation") != "snakebeta"
        or not h.get("snake_logscale", False)
        or str(h.get("resblock")) != "1"
    ):
        raise CheckpointError(
            "decoder config: only activation=snakebeta, snake_logscale=true, resblock=1 (the Semantic-VAE "
            f"configs) are supported, got {h.get('activation')}, {h.get('snake_logscale')}, {h.get('resblock')}"
        )
    channels = _weight(state, "encoder.block.0", 3)[0]
    n_blocks = len({m[1] for k in state if (m := re.match(r"encoder\.block\.(\d+)\.block\.4\.", k))})
    strides = [_weight(state, f"encoder.block.{i}.block.4", 3)[-1] // 2 for i in range(1, n_blocks + 1)]
    hidden = _shape(state, "pre_block.norm1.weight", 1)[0]
    latent = _shape(state, "fc_mu.weight", 2)[0]
    n_ups = len({m[1] for k in state if (m := re.match(r"decoder\.ups\.(\d+)\.", k))})
    rates = list(h["upsample_rates"])
    if len(rates) != n_ups:
        raise CheckpointError(
            f"decoder.ups.*: {n_ups} up-sampling stages, the decoder config has upsample_rates {rates}: "
            "pass the checkpoint's BigVGAN config (--config)"
        )
    kernels = [_weight(state, f"decoder.ups.{i}.0", 3)[-1] for i in range(n_ups)]
    n_resblocks = len({m[1] for k in state if (m := re.match(r"decoder\.resblocks\.(\d+)\.", k))})
    num_kernels = n_resblocks // n_ups
    res_kernels = [_weight(state, f"decoder.resblocks.{j}.convs1.0", 3)[-1] for j in range(num_kernels)]
    dilations = [list(d) for d in h["resblock_dilation_sizes"]]
    if len(dilations) != num_kernels or any(d != dilations[0] for d in dilations):
        raise CheckpointError(
            f"decoder config: resblock_dilation_sizes {dilations} must be one list per kernel "
            f"({num_kernels}), the same for every kernel"
        )
    if strides and hidden != channels * 2**n_blocks:
        raise CheckpointError(
            f"pre_block.norm1.weight: width {hidden} != encoder output {channels * 2**n_blocks}"
        )
    return {
        "encoder": {
            "class_path": "tts.vae.model.Encoder",
            "init_args": {
                "channels": channels,
                "strides": strides,
                "latent_dim": latent,
                "logvar_min": -PAPER_LOGVAR_CLAMP,
                "logvar_max": PAPER_LOGVAR_CLAMP,
                "bottleneck": "attn",
                "attn_heads": int(h.get("num_heads", PAPER_ATTN_HEADS)),
                "activation": "snake",
            },
        },
        "decoder": {
            "class_path": "tts.vae.model.BigVGANDecoder",
            "init_args": {
                "latent_dim": _weight(state, "decoder.conv_pre", 3)[1],
                "channels": _weight(state, "decoder.conv_pre", 3)[0],
                "upsample_rates": rates,
                "upsample_kernel_sizes": kernels,
                "resblock_kernel_sizes": res_kernels,
                "resblock_dilations": dilations[0],
                "anti_alias": True,
                "final_activation": "tanh" if h.get("use_tanh_at_final", True) else "clamp",
                "final_bias": "decoder.conv_post.bias" in state,
            },
        },
    }


def convert_semantic_vae(
    state: dict[str, torch.Tensor], decoder_config: dict | None = None
) -> tuple[dict, dict]:
    """Semantic-VAE generator state dict -> (config, SpeechVAE state dict), checked against the model."""
    from tts.vae.model import build_vae

    config = semantic_vae_config(state, decoder_config)
    mapped: dict[str, tuple[str, torch.Tensor]] = {}
    mapped.update({f"encoder.{k}": v for k, v in convert_dac_encoder(state, "encoder.").items()})
    num_kernels = len(config["decoder"]["init_args"]["resblock_kernel_sizes"])
    mapped.update({f"decoder.{k}": v for k, v in convert_bigvgan(state, num_kernels, "decoder.").items()})
    for key, value in state.items():
        if key.startswith(("encoder.", "decoder.", "projectors.")):
            continue
        if key == "pre_block.attn.zero_k_bias":
            if value.abs().max() != 0:
                raise CheckpointError(f"{key}: expected zeros (the key bias is fixed at 0)")
        elif key.startswith("pre_block."):
            mapped["encoder.bottleneck." + key[len("pre_block.") :]] = (key, value)
        elif key.startswith(("fc_mu.", "fc_var.")):
            mapped["encoder." + key] = (key, value)
        else:
            raise CheckpointError(
                f"{key}: not a key of a Semantic-VAE generator (DAC + AttnProjection + BigVGAN)"
            )
    vae = build_vae(config["encoder"], config["decoder"])
    return config, checked_state(vae.state_dict(), mapped)


def checked_state(expected: dict[str, torch.Tensor], mapped: dict[str, tuple[str, torch.Tensor]]) -> dict:
    """{key: tensor} with every expected key present, no extra key, every shape equal (errors name keys)."""
    for key, (src, value) in mapped.items():
        if key not in expected:
            raise CheckpointError(f"{src}: no such parameter in the converted model (as {key})")
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{src}: not a tensor ({type(value).__name__})")
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{src}: shape {tuple(value.shape)}, the model needs {tuple(expected[key].shape)} (as {key})"
            )
    missing = sorted(set(expected) - set(mapped))
    if missing:
        raise CheckpointError(
            f"missing from the checkpoint: {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else "")
        )
    return {k: v.detach().to(expected[k].dtype).contiguous() for k, (_, v) in mapped.items()}


def load_semantic_vae_state(path: str | Path) -> tuple[dict[str, torch.Tensor], str]:
    """(generator state dict, "ema" | "online") from a Semantic-VAE checkpoint file.

    Accepts the generator's ``dac/weights.pth`` (a state dict, or one under "state_dict" / "model" /
    "generator"), its ``dac/ema_state_dict.pth`` (ema-pytorch: ``ema_model.*`` + step / initted; these
    are the weights Semantic-VAE extracts latents with) or a ``.safetensors``. ``torch.load`` runs with
    ``weights_only=True``.
    """
    from tts.io import load_checkpoint, load_safetensors

    path = Path(path)
    if path.suffix == ".safetensors":
        state = load_safetensors(path, "is it a complete Semantic-VAE generator checkpoint?")
    else:
        state = load_checkpoint(path)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(state).__name__}")
    for key in ("state_dict", "model", "generator"):
        if isinstance(state.get(key), dict):
            state = state[key]
            break
    kind = "online"
    if any(k.startswith("ema_model.") for k in state):
        kind = "ema"
        state = {k[len("ema_model.") :]: v for k, v in state.items() if k.startswith("ema_model.")}
    elif any(k.startswith("online_model.") for k in state):
        raise CheckpointError(f"{path}: an EMA state dict without ema_model.* weights")
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: {bad[0]} is not a tensor ({type(state[bad[0]]).__name__})")
    if not any(k.startswith("pre_block.") for k in state) or not any(k.startswith("decoder.") for k in state):
        raise CheckpointError(
            f"{path}: not a Semantic-VAE generator (no pre_block.* AttnProjection or decoder.* BigVGAN keys; "
            f"first keys: {list(state)[:3]})"
        )
    return state, kind


def read_decoder_config(path: str | Path) -> dict:
    """BigVGAN config JSON, or Semantic-VAE's metainfo.json (its "Decoder" entry)."""
    from tts.io import read_json

    config = read_json(Path(path), "pass the checkpoint's BigVGAN config JSON or metainfo.json")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return config.get("Decoder", config)


def import_vae(ckpt: str | Path, out_dir: str | Path, config: str | Path | None = None) -> Path:
    """Semantic-VAE generator checkpoint -> our VAE export (model.safetensors + config.json); returns out_dir.

    The decoder settings the tensors do not hold come from ``config`` (BigVGAN JSON / metainfo.json), else
    from a ``metainfo.json`` found beside the checkpoint (Semantic-VAE saves ``TAG/metainfo.json`` next to
    ``TAG/dac/``), else from the paper config. The export loads with ``tts.vae.load``.
    """
    from safetensors.torch import save_file

    from tts.io import atomic_write, atomic_write_json
    from tts.vae import CONFIG_NAME, WEIGHTS_NAME, load

    ckpt = Path(ckpt)
    if config is None:
        found = [
            p for p in (ckpt.parent / "metainfo.json", ckpt.parent.parent / "metainfo.json") if p.is_file()
        ]
        config = found[0] if found else None
    decoder_config = read_decoder_config(config) if config is not None else None
    state, kind = load_semantic_vae_state(ckpt)
    vae_config, vae_state = convert_semantic_vae(state, decoder_config)
    out_dir = Path(out_dir)
    atomic_write(out_dir / WEIGHTS_NAME, lambda tmp: save_file(vae_state, tmp, metadata={"format": "pt"}))
    atomic_write_json(
        out_dir / CONFIG_NAME,
        {
            **vae_config,
            "sample_rate": 16000,
            "weights": kind,
            "source_checkpoint": str(ckpt.resolve()),
            "source_config": str(Path(config).resolve())
            if config is not None
            else "paper (bigvgan_v2_16khz_40hz_base_vae64)",
        },
    )
    load(out_dir)  # the export rebuilds and loads strictly
    return out_dir


def main(argv: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="tts import vae",
        description=(
            "Convert a Semantic-VAE generator checkpoint (ZhikangNiu/Semantic-VAE: DAC encoder + AttnProjection "
            "bottleneck + BigVGAN decoder; TAG/dac/ema_state_dict.pth = the EMA weights it extracts latents "
            "with, or TAG/dac/weights.pth) to our VAE export (model.safetensors + config.json) for "
            "`tts extract latents`, `tts synth` and `tts bench`. Sizes are read from the tensors; the "
            "alignment projector (projectors.*) is dropped. Wrong-shaped, unknown, missing or truncated "
            "tensors are refused with the key named; .pt/.pth files load with weights_only=True."
        ),
    )
    parser.add_argument("ckpt", help="Semantic-VAE generator checkpoint (.pth/.pt or .safetensors)")
    parser.add_argument("--out", required=True, help="output export directory (created)")
    parser.add_argument(
        "--config",
        help="the BigVGAN config JSON or Semantic-VAE's metainfo.json (default: a metainfo.json beside the "
        "checkpoint, else bigvgan_v2_16khz_40hz_base_vae64: rates 5,5,2,2,2,2, dilations 1,3,5, no tanh)",
    )
    args = parser.parse_args(argv)
    try:
        out = import_vae(args.ckpt, args.out, args.config)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"tts import vae: error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0
