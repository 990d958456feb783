"""``tts export onnx``: an F5 export (and its feature space's encoder + decoder) -> ONNX graphs (fp32) for
``tts synth --backend onnx`` (``tts.onnx.runtime``), which runs them in onnxruntime with no torch model.

Output folder:
- ``context.onnx``  cond (B, N, D), frame text ids (B, N), mask (B, N) -> CFG context (2B, N, H), once per batch;
- ``step.onnx``     x (B, N, D), context (kB, N, H), t (1,), mask (kB, N) -> flow (kB, N, D), once per ODE step
  (the DiT forward on the packed CFG batch; the Euler / midpoint loop, sway / EPSS grid and the CFG sum stay in
  numpy, as in F5-TTS' ONNX ports);
- ``duration.onnx`` aligned models: token ids (1, K)[, log_rate (1,)] -> log(1 + frames) (1, K);
- ``encoder.onnx``  the prompt: waveform -> features (mel) or (mean, logvar) (latent; normalized in numpy);
- ``decoder.onnx``  features -> waveform (Vocos for mel, the VAE decoder for latents; denormalized in numpy);
- ``onnx.json``     what the runtime needs (the space's rates, dims, normalization stats, graph names, the
  source model's sha256 and the max |ONNX - torch| of each graph measured at export);
- ``config.json``, ``vocab.json`` and the default prompt (``prompt.wav`` + ``prompt.json``) copied from the model.
Graph shapes and the rewrites that make them exportable: ``tts.onnx.graphs``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from tts.errors import TTSError

META_NAME = "onnx.json"
FORMAT = 1
OPSET = 17
GRAPHS = ("context", "step", "duration", "encoder", "decoder")
COPIED = ("config.json", "vocab.json", "prompt.wav", "prompt.json")


class OnnxExportError(TTSError, RuntimeError):
    """A model that cannot be exported (or whose graphs do not match the torch model)."""


def _export(module: torch.nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str],
            axes: dict) -> None:  # fmt: skip
    from tts.io import atomic_write

    def write(tmp):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
            torch.onnx.export(module, args, str(tmp), input_names=inputs, output_names=outputs,
                              dynamic_axes=axes, opset_version=OPSET, do_constant_folding=True, dynamo=False)  # fmt: skip

    atomic_write(path, write)


def _session(path: Path, threads: int = 1):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _diff(module: torch.nn.Module, args: tuple, path: Path, names: list[str]) -> float:
    """max |onnxruntime - torch| of the graph at ``path`` on ``args`` (every output)."""
    with torch.no_grad():
        ref = module(*args)
    ref = ref if isinstance(ref, tuple) else (ref,)
    got = _session(path).run(None, {n: a.numpy() for n, a in zip(names, args)})
    return max(float(np.abs(g - r.numpy()).max()) for g, r in zip(got, ref))


def plain_copy(net):
    """The DiT of the same config and weights built from the plain layers (``fast=False``)."""
    from dataclasses import replace

    from tts.f5.dit import DiT

    plain = DiT(replace(net.config, fast=False))
    plain.load_state_dict(net.state_dict())
    return plain.eval().requires_grad_(False)


def export_onnx(model: str | Path, out: str | Path, space: str | None = None, seed: int = 0) -> dict:
    """Write the ONNX graphs + metadata of the F5 model ``model`` (an export dir or .ckpt) into ``out``;
    returns the metadata (``onnx.json``). ``space`` overrides the model's feature space spec."""
    from tts.f5 import load
    from tts.features import load_space
    from tts.features.latent import LatentSpace
    from tts.features.mel import MelSpace
    from tts.io import CheckpointError, atomic_write_json, sha256_files
    from tts.onnx import graphs

    model, out = Path(model), Path(out)
    try:
        f5 = load(model)
        fspace = load_space(space or f5.space)
    except (CheckpointError, OSError, ValueError) as e:
        raise OnnxExportError(f"cannot load the model to export: {e}") from e
    if abs(fspace.frame_rate - f5.frame_rate) > 1e-6 or fspace.dim != f5.net.feat_dim:
        raise OnnxExportError(f"feature space {fspace.spec!r} ({fspace.dim} x {fspace.frame_rate} Hz) does not "
                              f"match the model ({f5.net.feat_dim} x {f5.frame_rate} Hz)")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    net = plain_copy(f5.net)
    g = torch.Generator().manual_seed(seed)
    b, n, d, h = 2, 48, net.feat_dim, net.dim
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 40:] = False
    cond = torch.randn(b, n, d, generator=g) * (torch.arange(n) < 12).view(1, -1, 1)
    text = torch.randint(1, len(f5.vocab), (b, n), generator=g) * mask
    diffs = {}

    ctx_graph = graphs.ContextGraph(net).eval()
    ctx_args = (cond, text, mask)
    _export(ctx_graph, ctx_args, out / "context.onnx", ["cond", "text", "mask"], ["context"],
            {"cond": {0: "b", 1: "n"}, "text": {0: "b", 1: "n"}, "mask": {0: "b", 1: "n"}, "context": {0: "b2", 1: "n"}})  # fmt: skip
    diffs["context"] = _diff(ctx_graph, ctx_args, out / "context.onnx", ["cond", "text", "mask"])

    with torch.no_grad():
        context = ctx_graph(*ctx_args)
    step_graph = graphs.StepGraph(net).eval()
    step_args = (torch.randn(b, n, d, generator=g), context, torch.tensor([0.3]), torch.cat((mask, mask)))
    _export(step_graph, step_args, out / "step.onnx", ["x", "context", "t", "mask"], ["flow"],
            {"x": {0: "b", 1: "n"}, "context": {0: "kb", 1: "n"}, "mask": {0: "kb", 1: "n"}, "flow": {0: "kb", 1: "n"}})  # fmt: skip
    diffs["step"] = _diff(step_graph, step_args, out / "step.onnx", ["x", "context", "t", "mask"])

    duration = None
    if f5.duration is not None:
        dur_graph = graphs.DurationGraph(f5.duration.eval()).eval()
        rate = f5.duration.rate is not None
        ids = torch.randint(1, len(f5.vocab), (1, 17), generator=g)
        dur_args = (ids, torch.tensor([1.2])) if rate else (ids,)
        names = ["ids", "log_rate"] if rate else ["ids"]
        _export(dur_graph, dur_args, out / "duration.onnx", names, ["log_frames"],
                {"ids": {1: "k"}, "log_frames": {1: "k"}})  # fmt: skip
        diffs["duration"] = _diff(dur_graph, dur_args, out / "duration.onnx", names)
        duration = {"graph": "duration.onnx", "prompt_rate": rate}

    sr = int(fspace.sample_rate)
    wav = (0.1 * torch.randn(1, int(0.8 * sr), generator=g)).clamp(-1, 1)
    feats = torch.randn(2, 20, d, generator=g)
    space_meta = {"kind": fspace.name, "spec": fspace.spec, "sample_rate": sr, "frame_rate": fspace.frame_rate,
                  "dim": fspace.dim, "hop_length": int(fspace.hop_length)}  # fmt: skip
    if isinstance(fspace, MelSpace):
        if fspace.vocoder is None:
            raise OnnxExportError(f"feature space {fspace.spec!r} has no vocoder: use 'mel:vocos=PATH'")
        enc_graph, enc_out = graphs.MelSpaceEncoderGraph(fspace).eval(), ["feats"]
        dec_graph = graphs.VocosGraph(fspace.vocoder).eval()
        space_meta["pad_to_hop"] = False
    elif isinstance(fspace, LatentSpace):
        enc_graph, enc_out = graphs.VAEEncoderGraph(fspace.vae.encoder).eval(), ["mean", "logvar"]
        dec_graph = graphs.VAEDecoderGraph(fspace.vae.decoder).eval()
        wav = wav[:, : wav.shape[1] // fspace.hop_length * fspace.hop_length]
        identity = bool((fspace.feat_mean == 0).all() and (fspace.feat_std == 1).all())
        stats = None if identity else {"mean": fspace.feat_mean.tolist(), "std": fspace.feat_std.tolist()}
        space_meta.update(pad_to_hop=True, sample=bool(fspace.sample), stats=stats)
    else:
        raise OnnxExportError(f"no ONNX export for feature space {type(fspace).__name__}")
    _export(enc_graph, (wav,), out / "encoder.onnx", ["wav"], enc_out,
            {"wav": {1: "t"}, **{o: {1: "n"} for o in enc_out}})  # fmt: skip
    diffs["encoder"] = _diff(enc_graph, (wav,), out / "encoder.onnx", ["wav"])
    _export(dec_graph, (feats,), out / "decoder.onnx", ["feats"], ["wav"],
            {"feats": {0: "b", 1: "n"}, "wav": {0: "b", 1: "t"}})  # fmt: skip
    diffs["decoder"] = _diff(dec_graph, (feats,), out / "decoder.onnx", ["feats"])

    if model.is_dir() and model.resolve() != out.resolve():
        for name in COPIED:
            if (model / name).is_file():
                shutil.copyfile(model / name, out / name)
    elif model.is_file():  # a checkpoint: write its config and vocab as an export would
        atomic_write_json(out / "config.json", f5.config())
        f5.vocab.save(out / "vocab.json")
    cfg = json.loads((out / "config.json").read_text())
    if space and cfg.get("space") != space:
        atomic_write_json(out / "config.json", {**cfg, "space": space})
    meta = {
        "format": FORMAT,
        "opset": OPSET,
        "torch": torch.__version__,
        "source": str(model.resolve()),
        "source_sha256": sha256_files(sorted(p for p in model.iterdir() if p.is_file()) if model.is_dir() else [model]),
        "dit": {"feat_dim": d, "dim": h, "null_text": net.null_text, "vocab_size": len(f5.vocab)},
        "duration": duration,
        "space": space_meta,
        "graphs": {name: f"{name}.onnx" for name in GRAPHS if (out / f"{name}.onnx").is_file()},
        "max_abs_diff_at_export": {k: float(f"{v:.3g}") for k, v in diffs.items()},
    }
    atomic_write_json(out / META_NAME, meta)
    return meta


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="tts export onnx",
        description="Export an F5 model for onnxruntime: the DiT as a context graph (once per batch) and a "
        "step graph (one ODE step with its CFG batch; the sampler loop runs in numpy), the duration head of aligned "
        "models, and the feature space's prompt encoder and decoder (Vocos for mel, the VAE decoder for latents), "
        "all fp32, with onnx.json and the model's config.json, vocab.json and default prompt. Each graph is run "
        "once against the torch model and its max |difference| stored in onnx.json. Then: "
        "tts synth --backend onnx --model OUT ...",
    )
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("--out", required=True, help="output dir for the graphs (may be the model dir itself)")
    p.add_argument("--space", default=None, help="override the model's feature space spec (e.g. a moved VAE)")
    a = p.parse_args(argv)
    if not Path(a.model).exists():
        print(f"tts export onnx: F5 model not found: {a.model} (an export dir or a .ckpt)", file=sys.stderr)
        return 2
    try:
        meta = export_onnx(a.model, a.out, a.space)
    except (OnnxExportError, OSError) as e:
        print(f"tts export onnx: {e}", file=sys.stderr)
        return 2
    diffs = ", ".join(f"{k} {v:.1e}" for k, v in meta["max_abs_diff_at_export"].items())
    print(f"export onnx: {', '.join(meta['graphs'].values())} -> {a.out} (max |onnx - torch|: {diffs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
