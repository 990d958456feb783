"""The onnxruntime backend of ``tts synth --backend onnx``: the graphs of ``tts export onnx`` run with numpy
around them, no torch model in memory.

``load(path)`` returns an ``OnnxF5`` and an ``OnnxSpace`` with the interface ``tts.synth`` uses of an
``tts.f5.export.F5Model`` and a ``tts.features.FeatureSpace`` (vocab, conditioning, duration predictor,
``cfm.sample``; ``encode`` / ``decode``), so the synthesis code (text, prompt, durations, batching, chunks) is
the same for both backends. Arrays cross that interface as torch tensors (``torch.from_numpy``, no copy): torch
is imported for them and for one thing more, the initial noise, drawn with ``torch.Generator`` exactly as
``tts.f5.cfm.CFM.sample`` draws it, so the same seed gives the same audio on both backends.

The sampler (``OnnxSampler``): the context graph once per batch, then per ODE step the step graph on the packed
CFG batch and, in numpy, the CFG sum ``(1 + cfg) v - cfg v_null`` and the Euler (or midpoint) update on
F5-TTS' sway-sampled grid (EPSS grids for 5, 6, 7, 10, 12, 16 steps, ``tts.f5.cfm.sway_timesteps``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from tts.io import CheckpointError
from tts.onnx.export import FORMAT, META_NAME

F32 = np.float32


def _redo(path: Path) -> str:
    return f"run `tts export onnx --model MODEL --out {path}` and pass that folder to --model"


def session(path: Path, threads: int | None = None):
    """An onnxruntime CPU session of ``path`` on ``threads`` intra-op threads (default torch's thread count,
    so ``OMP_NUM_THREADS`` / ``torch.set_num_threads`` set both backends alike)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable graphs
        raise CheckpointError(f"{path}: not a readable ONNX graph ({type(e).__name__}: {e}); {_redo(path.parent)}") from e


def sway_grid(steps: int, sway: float | None, epss: bool = True) -> np.ndarray:
    """(steps + 1,) float32 time grid: ``tts.f5.cfm.sway_timesteps`` in numpy."""
    from tts.f5.cfm import EPSS_GRIDS

    if epss and steps in EPSS_GRIDS:
        t = np.asarray(EPSS_GRIDS[steps], dtype=F32) / F32(32)
    else:
        t = np.linspace(0, 1, steps + 1, dtype=F32)
    if sway:
        t = t + F32(sway) * (np.cos(F32(math.pi / 2) * t) - F32(1) + t)
    return t.astype(F32)


def initial_noise(seeds: Sequence[int], lengths: Sequence[int], n: int, dim: int) -> np.ndarray:
    """(B, n, dim) float32: utterance i's first ``lengths[i]`` frames drawn from ``torch.Generator`` seeded with
    ``seeds[i]``, the rest zero: the noise of ``CFM.sample``."""
    x = np.zeros((len(seeds), n, dim), dtype=F32)
    for i, (seed, length) in enumerate(zip(seeds, lengths)):
        g = torch.Generator().manual_seed(int(seed))
        x[i, :length] = torch.randn(int(length), dim, generator=g).numpy()
    return x


class OnnxSampler:
    """``CFM.sample`` over the context and step graphs (same arguments and result)."""

    def __init__(self, context_session, step_session, feat_dim: int):
        self.context_session, self.step_session, self.feat_dim = context_session, step_session, feat_dim

    def context(self, cond: np.ndarray, text: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """cond (B, N, D), frame text (B, N) int64, mask (B, N) bool -> CFG context (2B, N, H)."""
        return self.context_session.run(None, {"cond": cond, "text": text, "mask": mask})[0]

    def step(self, x: np.ndarray, context: np.ndarray, t: float, mask: np.ndarray) -> np.ndarray:
        """x (B, N, D), context (kB, N, H), time t, mask (kB, N) -> flow (kB, N, D)."""
        feeds = {"x": x, "context": context, "t": np.asarray([t], dtype=F32), "mask": mask}
        return self.step_session.run(None, feeds)[0]

    def sample(self, cond, cond_lens, text, total_lens, nfe: int = 32, cfg: float = 2.0, sway: float | None = -1.0,
               method: str = "euler", seeds: int | Sequence[int] = 0, epss: bool = True, noise=None) -> torch.Tensor:  # fmt: skip
        """cond (B, Nc, D), cond_lens (B,), text (B, Nt), total_lens (B,) (torch or numpy) -> (B, N, D) torch,
        N = max(total_lens). ``noise`` (B, N, D): the initial noise instead of the seeds' (tests)."""
        if method not in ("euler", "midpoint"):
            raise ValueError(f"method must be 'euler' or 'midpoint', not {method!r}")
        cond, text = np.asarray(cond, dtype=F32), np.asarray(text, dtype=np.int64)
        cond_lens, total_lens = np.asarray(cond_lens).astype(np.int64), np.asarray(total_lens).astype(np.int64)
        b, n, d = text.shape[0], int(total_lens.max()), self.feat_dim
        pos = np.arange(n)[None, :]
        valid = pos < total_lens[:, None]
        cond_mask = (pos < np.minimum(cond_lens, n)[:, None])[..., None]
        cond_full = np.zeros((b, n, d), dtype=F32)
        m = min(n, cond.shape[1])
        cond_full[:, :m] = cond[:, :m]
        cond_full *= cond_mask
        text_n = np.zeros((b, n), dtype=np.int64)
        k = min(n, text.shape[1])
        text_n[:, :k] = text[:, :k]
        context = self.context(cond_full, text_n, valid)
        if cfg <= 0:
            context, mask_in = np.ascontiguousarray(context[:b]), valid
        else:
            mask_in = np.concatenate((valid, valid), axis=0)

        def step(base: np.ndarray, x: np.ndarray, t, scale: float) -> np.ndarray:
            out = self.step(x, context, t, mask_in)
            if cfg <= 0:
                return base + F32(scale) * out
            return base + F32(scale * (1 + cfg)) * out[:b] - F32(scale * cfg) * out[b:]

        if isinstance(seeds, int):
            seeds = [seeds] * b
        x = np.asarray(noise, dtype=F32) if noise is not None else initial_noise(seeds, total_lens.tolist(), n, d)
        steps = nfe if method == "euler" else max(1, nfe // 2)
        ts = sway_grid(steps, sway, epss)
        for t0, t1 in zip(ts[:-1], ts[1:]):
            dt = float(t1 - t0)
            if method == "euler":
                x = step(x, x, t0, dt)
            else:
                x = step(x, step(x, x, t0, dt / 2), F32(t0 + F32(dt / 2)), dt)
        return torch.from_numpy(np.where(cond_mask, cond_full, x).astype(F32))


class OnnxDuration:
    """``DurationPredictor``'s ``frames`` and ``rate`` over the duration graph (what ``predict_counts`` uses)."""

    def __init__(self, sess, prompt_rate: bool):
        self.session = sess
        self.rate = True if prompt_rate else None

    def frames(self, ids: torch.Tensor, rate: float | None = None) -> torch.Tensor:
        feeds = {"ids": np.asarray(ids, dtype=np.int64).reshape(1, -1)}
        if self.rate is not None:
            if rate is None:
                raise ValueError("this duration predictor needs the prompt's rate (log frames per token)")
            feeds["log_rate"] = np.log(np.maximum(np.asarray([rate], dtype=F32), F32(0.1)))
        log_d = self.session.run(None, feeds)[0][0].astype(F32)
        return torch.from_numpy(np.maximum(np.expm1(log_d), F32(0)))


class OnnxF5:
    """An F5 model over ONNX graphs, with the attributes of ``tts.f5.export.F5Model`` that synthesis reads."""

    def __init__(self, path: Path, config: dict, meta: dict, vocab, threads: int | None = None):
        self.path, self.meta, self.vocab = path, meta, vocab
        self.space = config["space"]
        self.frame_rate = float(config["frame_rate"])
        self.max_duration_s = float(config.get("max_duration_s", 30))
        self.conditioning = config.get("conditioning", "filler")
        self.alignment = config.get("alignment") if self.conditioning == "aligned" else None
        feat_dim = int(meta["dit"]["feat_dim"])
        self.net = SimpleNamespace(feat_dim=feat_dim, dim=int(meta["dit"]["dim"]))
        graphs = meta["graphs"]
        self.cfm = OnnxSampler(session(path / graphs["context"], threads), session(path / graphs["step"], threads),
                               feat_dim)  # fmt: skip
        self.duration = None
        if self.conditioning == "aligned":
            if not meta.get("duration"):
                raise CheckpointError(f"{path}: aligned model without a duration graph; {_redo(path)}")
            self.duration = OnnxDuration(session(path / meta["duration"]["graph"], threads),
                                         bool(meta["duration"]["prompt_rate"]))  # fmt: skip

    @property
    def max_frames(self) -> int:
        return int(self.max_duration_s * self.frame_rate)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device) -> OnnxF5:
        if torch.device(device).type != "cpu":
            raise ValueError(f"the ONNX backend runs on the CPU (onnxruntime), not {device}")
        return self


class OnnxSpace:
    """A feature space over the encoder and decoder graphs: ``encode`` (B, T) -> (B, N, dim) and ``decode``
    (B, N, dim) -> (B, T') as ``tts.features`` (torch tensors in and out, numpy and onnxruntime inside)."""

    def __init__(self, path: Path, meta: dict, threads: int | None = None, seed: int = 0):
        s = meta["space"]
        self.name, self.spec = s["kind"], s["spec"]
        self.sample_rate, self.frame_rate = int(s["sample_rate"]), float(s["frame_rate"])
        self.dim, self.hop_length = int(s["dim"]), int(s["hop_length"])
        self.pad_to_hop, self.sample = bool(s.get("pad_to_hop")), bool(s.get("sample", False))
        stats = s.get("stats")
        self.mean = np.asarray(stats["mean"], dtype=F32) if stats else None
        self.std = np.asarray(stats["std"], dtype=F32) if stats else None
        self.encoder = session(path / meta["graphs"]["encoder"], threads)
        self.decoder = session(path / meta["graphs"]["decoder"], threads)
        self.rng = np.random.default_rng(seed)  # latent spaces with sample=true (the torch path: torch's RNG)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def to(self, device) -> OnnxSpace:
        return self

    def n_frames(self, n_samples: int) -> int:
        if self.pad_to_hop:
            return math.ceil(n_samples / self.hop_length)
        return n_samples // self.hop_length + 1

    def encode(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, T) waveform at ``sample_rate`` -> (B, N, dim) features."""
        x = np.asarray(wav.detach().cpu() if isinstance(wav, torch.Tensor) else wav, dtype=F32)
        if self.pad_to_hop:
            x = np.pad(x, ((0, 0), (0, self.n_frames(x.shape[1]) * self.hop_length - x.shape[1])))
        outs = self.encoder.run(None, {"wav": x})
        if self.name == "mel":
            return torch.from_numpy(outs[0])
        z = outs[0]
        if self.sample:
            z = z + self.rng.standard_normal(z.shape).astype(F32) * np.exp(F32(0.5) * outs[1])
        if self.mean is not None:
            z = (z - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(z, dtype=F32))

    def decode(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, N, dim) -> (B, T') waveform."""
        x = np.asarray(feats.detach().cpu() if isinstance(feats, torch.Tensor) else feats, dtype=F32)
        if self.mean is not None:
            x = x * self.std + self.mean
        return torch.from_numpy(self.decoder.run(None, {"feats": np.ascontiguousarray(x, dtype=F32)})[0])


def read_meta(path: str | Path) -> dict:
    """The ``onnx.json`` of an ONNX export folder; CheckpointError (saying how to make one) when there is none."""
    from tts.io import read_json

    path = Path(path)
    meta_path = path / META_NAME
    if not path.is_dir() or not meta_path.is_file():
        raise CheckpointError(
            f"{path}: no ONNX graphs here ({META_NAME} missing): the onnx backend runs an ONNX export; run "
            f"`tts export onnx --model {path} --out ONNX_DIR` and pass ONNX_DIR to --model"
        )
    meta = read_json(meta_path, _redo(path))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("graphs"), dict):
        raise CheckpointError(f"{meta_path}: not an ONNX export of format {FORMAT}; {_redo(path)}")
    missing = [g for g in ("context", "step", "encoder", "decoder") if not (path / meta["graphs"].get(g, f"{g}.onnx")).is_file()]
    if missing:
        raise CheckpointError(f"{path}: ONNX graph(s) missing: {', '.join(f'{g}.onnx' for g in missing)}; {_redo(path)}")
    return meta


def load(path: str | Path, threads: int | None = None) -> tuple[OnnxF5, OnnxSpace]:
    """(model, feature space) from an ONNX export folder (``tts export onnx``); CheckpointError when it is not one."""
    from tts.io import read_json
    from tts.text import Vocab

    path = Path(path)
    meta = read_meta(path)
    for name in ("config.json", "vocab.json"):
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: ONNX export lacks {name}; {_redo(path)}")
    config = read_json(path / "config.json", _redo(path))
    vocab = Vocab.from_dict(read_json(path / "vocab.json", _redo(path)))
    if len(vocab) != int(meta["dit"]["vocab_size"]):
        raise CheckpointError(f"{path}: vocab.json has {len(vocab)} symbols, the graphs {meta['dit']['vocab_size']}")
    return OnnxF5(path, config, meta, vocab, threads), OnnxSpace(path, meta, threads)


__all__ = ["OnnxDuration", "OnnxF5", "OnnxSampler", "OnnxSpace", "initial_noise", "load", "read_meta", "sway_grid"]
