"""F5-TTS (SWivid/F5-TTS) DiT checkpoints -> our DiT: ``tts import f5 CKPT --vocab vocab.txt --out DIR``.

Key mapping (F5-TTS v1 ``model/backbones/dit.py`` -> ``tts.f5.dit``):

- ``time_embed.time_mlp.{0,2}`` -> ``time_embed.mlp.{0,2}``
- ``text_embed.text_embed`` (vocab.txt line i at row i + 1, row 0 the filler) -> ``text_encoder.embed``;
  ``text_embed.text_blocks.i.*`` -> ``text_encoder.blocks.i.*`` (same ConvNeXt-V2 layout)
- ``input_embed.proj`` -> ``input_proj``; ``input_embed.conv_pos_embed.conv1d.{0,2}`` -> ``conv_pos.conv{1,2}``
- ``transformer_blocks.i.attn_norm.linear`` -> ``blocks.i.modulation.1`` (same (shift, scale, gate) x 2 order)
- ``attn.to_q/to_k/to_v`` -> one ``attn.to_qkv``; q and k rows permuted per head from x-transformers'
  interleaved rotary pairs (2j, 2j + 1) to our half-split pairs (j, j + d/2)
- ``attn.to_out.0`` -> ``attn.to_out``; ``ff.ff.0.0`` / ``ff.ff.2`` -> ``ff.0`` / ``ff.3``
- ``norm_out.linear`` (scale, shift) -> ``modulation_out.1`` (shift, scale): halves swapped
- ``proj_out`` -> ``proj_out``

The network size is read from the shapes (heads from the rotary ``inv_freq``: dim_head / 2 entries).
The converted DiT uses ``null_text="f5"`` (F5-TTS' unconditional text). Unsupported variants (qk-norm,
long skip connection, no text ConvNeXt blocks) are refused by name.

``reference_modules()`` imports the installed ``f5-tts`` package's DiT and CFM for the equivalence tests and
the benchmark (test-only dependency; see the Makefile's ``f5-ref`` step).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tts.f5.dit import DiT, DiTConfig
from tts.io import CheckpointError
from tts.text import FILLER, Vocab

_BLOCK = re.compile(r"transformer_blocks\.(\d+)\.")
_TEXT_BLOCK = re.compile(r"text_embed\.text_blocks\.(\d+)\.")
_PREFIXES = ("ema_model.", "module.", "transformer.")


def read_f5_vocab(path: str | Path) -> Vocab:
    """F5-TTS ``vocab.txt`` (one symbol a line, the line's index its id; " " is a symbol) -> our ``Vocab``
    with the filler first, so that our id = F5's id + 1 (F5-TTS' ``text + 1``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"F5 vocab not found: {path}")
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not lines:
        raise CheckpointError(f"{path}: empty vocab")
    seen: dict[str, int] = {}
    for i, sym in enumerate(lines, 1):
        if sym in seen:
            raise CheckpointError(f"{path}:{i}: symbol {sym!r} repeats line {seen[sym]}")
        if sym == FILLER:
            raise CheckpointError(f"{path}:{i}: symbol {sym!r} is our filler token")
        seen[sym] = i
    return Vocab([FILLER, *lines])


def load_f5_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The DiT weights of an F5-TTS checkpoint: a ``.pt`` with ``ema_model_state_dict`` (the EMA, used for
    inference) or ``model_state_dict``, or a ``.safetensors``; ``ema_model.`` / ``transformer.`` prefixes
    and the EMA / mel buffers dropped. Loads with ``weights_only=True``."""
    from tts.io import load_checkpoint, load_safetensors

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"F5 checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        state = load_safetensors(path, "is it a complete F5-TTS checkpoint?")
    else:  # truncated zip, pickled objects refused by weights_only: CheckpointError naming the file
        ckpt = load_checkpoint(path)
        if not isinstance(ckpt, dict):
            raise CheckpointError(f"{path}: not a state dict ({type(ckpt).__name__})")
        state = ckpt.get("ema_model_state_dict", ckpt.get("model_state_dict", ckpt))
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in _PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        if key in ("initted", "step") or key.startswith("mel_spec."):
            continue
        out[key] = value
    if "input_embed.proj.weight" not in out:
        raise CheckpointError(f"{path}: no F5-TTS DiT weights (missing key input_embed.proj.weight)")
    return out


def _get(state: dict, key: str, where: str, shape: tuple | None = None) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(f"{where}: missing key {key}")
    t = state[key]
    if shape is not None and tuple(t.shape) != tuple(shape):
        raise CheckpointError(f"{where}: key {key} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    return t


def f5_network_args(state: dict, where: str = "F5 checkpoint") -> dict:
    """Our ``DiT`` arguments from the F5-TTS weights' shapes."""
    for bad, what in (("long_skip_connection.weight", "long skip connection"), ("q_norm", "qk-norm")):
        if any(bad in k for k in state):
            raise CheckpointError(
                f"{where}: {what} (key {next(k for k in state if bad in k)}) is not supported"
            )
    proj = _get(state, "input_embed.proj.weight", where)
    dim = proj.shape[0]
    feat_dim = _get(state, "proj_out.weight", where).shape[0]
    embed = _get(state, "text_embed.text_embed.weight", where)
    vocab_size, text_dim = embed.shape
    if proj.shape[1] != 2 * feat_dim + text_dim:
        raise CheckpointError(
            f"{where}: key input_embed.proj.weight has {proj.shape[1]} inputs, expected "
            f"2 x {feat_dim} + {text_dim}"
        )
    depth = 1 + max((int(m.group(1)) for k in state if (m := _BLOCK.match(k))), default=-1)
    conv_layers = 1 + max((int(m.group(1)) for k in state if (m := _TEXT_BLOCK.match(k))), default=-1)
    if depth == 0:
        raise CheckpointError(f"{where}: no transformer_blocks.* keys")
    if conv_layers == 0:
        raise CheckpointError(f"{where}: no text_embed.text_blocks.* keys (text ConvNeXt required)")
    dim_head = 2 * _get(state, "rotary_embed.inv_freq", where).shape[0]
    inner = _get(state, "transformer_blocks.0.attn.to_q.weight", where).shape[0]
    if inner % dim_head:
        raise CheckpointError(f"{where}: attention width {inner} is not a multiple of dim_head {dim_head}")
    ff_inner = _get(state, "transformer_blocks.0.ff.ff.0.0.weight", where).shape[0]
    return DiTConfig(
        feat_dim=feat_dim,
        vocab_size=vocab_size,
        dim=dim,
        depth=depth,
        heads=inner // dim_head,
        dim_head=dim_head,
        ff_mult=ff_inner / dim,
        text_dim=text_dim,
        conv_layers=conv_layers,
        dropout=0.1,  # F5-TTS' training dropout, kept for fine-tuning
        null_text="f5",
    ).network_args()


def _deinterleave(w: torch.Tensor, heads: int, dim_head: int) -> torch.Tensor:
    """Rows (heads * dim_head, ...) with rotary pairs (2j, 2j + 1) -> pairs (j, j + dim_head / 2)."""
    idx = torch.cat((torch.arange(0, dim_head, 2), torch.arange(1, dim_head, 2)))
    return w.reshape(heads, dim_head, *w.shape[1:])[:, idx].reshape(w.shape)


def convert_f5_state(state: dict, where: str = "F5 checkpoint") -> tuple[dict, dict]:
    """F5-TTS DiT state dict -> (our DiT state dict, our DiT args); shapes checked against our DiT."""
    args = f5_network_args(state, where)
    heads, dim_head = args["heads"], args["dim_head"]
    used: set[str] = {"rotary_embed.inv_freq"}

    def take(key: str, shape: tuple | None = None) -> torch.Tensor:
        used.add(key)
        return _get(state, key, where, shape)

    inner = heads * dim_head

    out = {}
    for i in (0, 2):
        for p in ("weight", "bias"):
            out[f"time_embed.mlp.{i}.{p}"] = take(f"time_embed.time_mlp.{i}.{p}")
    out["text_encoder.embed.weight"] = take("text_embed.text_embed.weight")
    for i in range(args["conv_layers"]):
        for name in ("dwconv.weight", "dwconv.bias", "norm.weight", "norm.bias", "pwconv1.weight",
                     "pwconv1.bias", "grn.gamma", "grn.beta", "pwconv2.weight", "pwconv2.bias"):  # fmt: skip
            out[f"text_encoder.blocks.{i}.{name}"] = take(f"text_embed.text_blocks.{i}.{name}")
    for p in ("weight", "bias"):
        out[f"input_proj.{p}"] = take(f"input_embed.proj.{p}")
        out[f"conv_pos.conv1.{p}"] = take(f"input_embed.conv_pos_embed.conv1d.0.{p}")
        out[f"conv_pos.conv2.{p}"] = take(f"input_embed.conv_pos_embed.conv1d.2.{p}")
        out[f"proj_out.{p}"] = take(f"proj_out.{p}")
        scale, shift = take(f"norm_out.linear.{p}").chunk(2, dim=0)
        out[f"modulation_out.1.{p}"] = torch.cat((shift, scale), dim=0)
    for b in range(args["depth"]):
        src, dst = f"transformer_blocks.{b}.", f"blocks.{b}."
        for p in ("weight", "bias"):
            out[f"{dst}modulation.1.{p}"] = take(f"{src}attn_norm.linear.{p}")
            shape = (inner, args["dim"]) if p == "weight" else (inner,)
            q, k, v = (take(f"{src}attn.to_{n}.{p}", shape) for n in "qkv")
            q, k = _deinterleave(q, heads, dim_head), _deinterleave(k, heads, dim_head)
            out[f"{dst}attn.to_qkv.{p}"] = torch.cat((q, k, v), dim=0)
            out[f"{dst}attn.to_out.{p}"] = take(f"{src}attn.to_out.0.{p}")
            out[f"{dst}ff.0.{p}"] = take(f"{src}ff.ff.0.0.{p}")
            out[f"{dst}ff.3.{p}"] = take(f"{src}ff.ff.2.{p}")
    unused = sorted(set(state) - used)
    if unused:
        raise CheckpointError(f"{where}: unexpected keys (not an F5-TTS v1 DiT?): {', '.join(unused[:5])}")
    expected = DiT(**{**args, "depth": 1}).state_dict()  # shapes of one block suffice
    for key, value in out.items():
        ref_key = re.sub(r"^blocks\.\d+\.", "blocks.0.", key)
        if tuple(value.shape) != tuple(expected[ref_key].shape):
            raise CheckpointError(
                f"{where}: converted key {key} has shape {tuple(value.shape)}, expected "
                f"{tuple(expected[ref_key].shape)}"
            )
    return {k: v.detach().to(torch.float32).contiguous() for k, v in out.items()}, args


def import_f5(
    ckpt: str | Path,
    vocab: str | Path,
    out_dir: str | Path,
    space: str = "mel",
    max_duration_s: float = 30.0,
) -> Path:
    """F5-TTS checkpoint + its vocab.txt -> our export dir (``tts.f5.export``), EMA weights in float32."""
    from tts.f5.export import F5Model, save
    from tts.features import space_info

    state, args = convert_f5_state(load_f5_state(ckpt), str(ckpt))
    voc = read_f5_vocab(vocab)
    if len(voc) != args["vocab_size"]:
        raise CheckpointError(
            f"{vocab}: {len(voc) - 1} symbols, but the checkpoint's text embedding has "
            f"{args['vocab_size']} rows (symbols + filler): not this checkpoint's vocab"
        )
    info = space_info(space)
    if info.dim != args["feat_dim"]:
        raise CheckpointError(
            f"{ckpt}: the network outputs {args['feat_dim']} dims, space {space!r} has {info.dim}"
        )
    net = DiT(**args)
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    return save(F5Model(net, voc, space, info.frame_rate, max_duration_s), out_dir)


def reference_modules():
    """(DiT, CFM, get_epss_timesteps) of the installed ``f5-tts`` package (the reference implementation).

    ``f5_tts/model/__init__.py`` imports the trainer (accelerate, wandb, datasets, ...), which the model
    files do not need: the ``f5_tts.model`` package is registered without running it, and its model files
    are imported as they are. Needs ``make f5-ref`` (f5-tts without its app dependencies, plus
    x-transformers, torchdiffeq, rjieba, pypinyin).
    """
    import importlib.util
    import sys
    import types

    if "f5_tts.model" not in sys.modules:
        spec = importlib.util.find_spec("f5_tts")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("f5-tts is not installed (run `make f5-ref`)")
        pkg = types.ModuleType("f5_tts.model")
        pkg.__path__ = [str(Path(next(iter(spec.submodule_search_locations))) / "model")]
        sys.modules["f5_tts.model"] = pkg
    from f5_tts.model.backbones.dit import DiT as RefDiT
    from f5_tts.model.cfm import CFM as RefCFM
    from f5_tts.model.utils import get_epss_timesteps

    return RefDiT, RefCFM, get_epss_timesteps


def main(argv: list[str]) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="tts import f5",
        description=(
            "Convert an F5-TTS v1 checkpoint (SWivid/F5-TTS, e.g. F5TTS_v1_Base model_1250000.safetensors, "
            "or a training .pt: its ema_model_state_dict is used) and its vocab.txt to our F5 export "
            "(model.safetensors + config.json + vocab.json) for `tts synth` and `tts bench`. The "
            "network size is read from the weights; wrong-shaped, missing or truncated tensors are refused "
            "with the key named."
        ),
    )
    parser.add_argument("ckpt", help="F5-TTS checkpoint: .pt (loaded with weights_only=True) or .safetensors")
    parser.add_argument("--vocab", required=True, help="the checkpoint's vocab.txt (one symbol a line)")
    parser.add_argument("--out", required=True, help="output export directory (created)")
    parser.add_argument(
        "--space",
        default="mel",
        help="feature space spec stored with the model; F5-TTS v1 is trained on 24 kHz Vocos mels, so "
        "give the local Vocos dir for synthesis: mel:vocos=DIR (default: mel)",
    )
    parser.add_argument("--max-duration-s", type=float, default=30.0, help="longest prompt + output (s)")
    args = parser.parse_args(argv)
    try:
        out = import_f5(args.ckpt, args.vocab, args.out, args.space, args.max_duration_s)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"tts import f5: error: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0
