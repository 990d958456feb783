"""F5 model export (EMA weights + config + vocab) and loading for inference without Lightning.

Export dir layout: ``model.safetensors`` (EMA DiT weights), ``config.json``
(``{"network": DiT args, "space": spec, "frame_rate": Hz, "max_duration_s": s}``; the DiT args are
``DiTConfig.network_args()``, the same keys since the first export), ``vocab.json``.
Aligned models (``tts.f5.aligned``) add ``"conditioning": "aligned"``, ``"alignment": kind`` and
``"duration_predictor": args`` to the config and ``duration.safetensors`` (the duration predictor).
Optional: a default prompt, ``prompt.wav`` + ``prompt.json`` (``{"text": its transcript, "alignment":
[[symbol, start_s, duration_s], ...] or null}``), written by ``tts voice`` (:func:`save_prompt`): ``tts synth``
uses it for rows without ``ref_audio`` / ``ref_text`` (:func:`load_prompt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from tts.f5.cfm import CFM
from tts.f5.dit import DiT, DiTConfig
from tts.f5.duration import DurationPredictor
from tts.io import (
    CheckpointError,
    atomic_write,
    atomic_write_json,
    load_checkpoint,
    load_safetensors,
    read_json,
)
from tts.text import Vocab

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
DURATION_NAME = "duration.safetensors"
VOCAB_NAME = "vocab.json"
PROMPT_AUDIO_NAME = "prompt.wav"
PROMPT_NAME = "prompt.json"


@dataclass
class F5Model:
    """An F5 DiT ready for sampling: net (EMA weights), vocab and its feature space spec."""

    net: DiT
    vocab: Vocab
    space: str
    frame_rate: float
    max_duration_s: float = 30.0
    conditioning: str = "filler"
    alignment: str | None = None
    duration: DurationPredictor | None = None

    @property
    def cfm(self) -> CFM:
        return CFM(self.net)

    @property
    def max_frames(self) -> int:
        """Longest prompt + generation (frames) this model accepts."""
        return int(self.max_duration_s * self.frame_rate)

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def to(self, device: str | torch.device) -> F5Model:
        self.net.to(device)
        if self.duration is not None:
            self.duration.to(device)
        return self

    def config(self) -> dict:
        config = {
            "network": network_args(self.net),
            "space": self.space,
            "frame_rate": self.frame_rate,
            "max_duration_s": self.max_duration_s,
        }
        if self.conditioning == "aligned":
            config.update(
                conditioning="aligned", alignment=self.alignment, duration_predictor=self.duration.args
            )
        return config


def network_args(net: DiT) -> dict:
    return dict(net.args)


def ema_state(state_dict: dict) -> dict:
    """The EMA DiT's weights from an ``F5Module`` state dict: ``ema.ema_model.*`` (ema-pytorch)."""
    prefix = "ema.ema_model."
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _from_config(
    config: dict, state: dict, vocab: Vocab, where: str, duration_state: dict | None = None
) -> F5Model:
    args = dict(config["network"])
    if args.get("vocab_size") != len(vocab):
        raise CheckpointError(
            f"{where}: vocab has {len(vocab)} symbols but the network {args.get('vocab_size')}"
        )
    try:
        net = DiT(DiTConfig.from_dict(args, f"{where}: network"))
    except (TypeError, ValueError) as e:
        raise CheckpointError(str(e)) from e
    net.load_state_dict(state)
    net.eval().requires_grad_(False)
    model = F5Model(
        net, vocab, config["space"], float(config["frame_rate"]), float(config.get("max_duration_s", 30))
    )
    if config.get("conditioning", "filler") == "aligned":
        if not duration_state:
            raise CheckpointError(f"{where}: aligned model without duration predictor weights")
        model.conditioning, model.alignment = "aligned", config.get("alignment", "phoneme")
        model.duration = DurationPredictor(**config["duration_predictor"])
        model.duration.load_state_dict(duration_state)
        model.duration.eval().requires_grad_(False)
    return model


def load(path: str | Path, device: str | torch.device = "cpu") -> F5Model:
    """F5Model from an export dir or an ``F5Module`` Lightning checkpoint (EMA weights)."""
    path = Path(path)
    if path.is_dir():
        files = [path / CONFIG_NAME, path / WEIGHTS_NAME, path / VOCAB_NAME]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"{path}: F5 export dir lacks {', '.join(missing)}")
        redo = "re-export the model from its training checkpoint (tts.f5.export.export)"
        config = read_json(files[0], redo)
        vocab = Vocab.from_dict(read_json(files[2], redo))
        weights = load_safetensors(files[1], redo)
        dur = load_safetensors(path / DURATION_NAME, redo) if (path / DURATION_NAME).is_file() else None
        model = _from_config(config, weights, vocab, str(path), dur)
    elif path.is_file():
        ckpt = load_checkpoint(path)
        if "f5_config" not in ckpt or "vocab" not in ckpt:
            raise CheckpointError(f"{path}: not an F5Module checkpoint (no f5_config / vocab entries)")
        state = ema_state(ckpt["state_dict"])
        dur = {k[len("duration.") :]: v for k, v in ckpt["state_dict"].items() if k.startswith("duration.")}
        model = _from_config(ckpt["f5_config"], state, Vocab.from_dict(ckpt["vocab"]), str(path), dur)
    else:
        raise FileNotFoundError(f"F5 model not found: {path} (expected an export dir or a .ckpt)")
    return model.to(device)


def save(model: F5Model, out_dir: str | Path) -> Path:
    """Write an F5Model as an export dir (atomic files)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    atomic_write(out_dir / WEIGHTS_NAME, lambda tmp: save_file(state, tmp))
    if model.duration is not None:
        dur = {k: v.detach().cpu().contiguous() for k, v in model.duration.state_dict().items()}
        atomic_write(out_dir / DURATION_NAME, lambda tmp: save_file(dur, tmp))
    model.vocab.save(out_dir / VOCAB_NAME)
    atomic_write_json(out_dir / CONFIG_NAME, model.config())
    return out_dir


def export(ckpt: str | Path, out_dir: str | Path) -> Path:
    """F5Module checkpoint -> export dir with model.safetensors (EMA), config.json, vocab.json."""
    return save(load(ckpt), out_dir)


def save_prompt(out_dir: str | Path, wav: torch.Tensor, sample_rate: int, text: str,
                alignment: list | None = None) -> Path:
    """Write a default prompt into an export dir: ``prompt.wav`` (wav (T,) at ``sample_rate``, 16-bit) and
    ``prompt.json`` (its transcript and, for aligned models, its ``[[symbol, start_s, duration_s], ...]``)."""
    from tts.audio import save_audio

    out_dir = Path(out_dir)
    save_audio(out_dir / PROMPT_AUDIO_NAME, wav, sample_rate)
    atomic_write_json(out_dir / PROMPT_NAME, {"text": text, "alignment": alignment})
    return out_dir


def load_prompt(model: str | Path) -> dict | None:
    """The default prompt of an export dir as ``tts synth`` row keys (``ref_audio``, ``ref_text`` and
    ``ref_alignment`` when it has one); None when ``model`` has none (or is a checkpoint file).
    CheckpointError names a prompt.json that is not ``{"text": str, "alignment": list or null}`` or lacks
    its prompt.wav."""
    path = Path(model) / PROMPT_NAME
    if not path.is_file():
        return None
    redo = f"write it again with tts voice, or delete {PROMPT_NAME} and give each row its own prompt"
    prompt = read_json(path, redo)
    if not isinstance(prompt, dict) or not isinstance(prompt.get("text"), str) or not prompt["text"].strip() \
            or not isinstance(prompt.get("alignment"), (list, type(None))):
        raise CheckpointError(f'{path}: not a default prompt ({{"text": transcript, "alignment": list or null}}); {redo}')
    audio = Path(model) / PROMPT_AUDIO_NAME
    if not audio.is_file():
        raise CheckpointError(f"{path}: its audio {audio} is missing; {redo}")
    row = {"ref_audio": str(audio.resolve()), "ref_text": prompt["text"]}
    if prompt["alignment"] is not None:
        row["ref_alignment"] = prompt["alignment"]
    return row
