"""Self-supervised speech encoders (wav2vec 2.0, HuBERT, WavLM): checkpoint key names, reading, building.

One place for the layouts these models' weights come in and the two implementations we run them on, used
by the teachers (``tts.teacher``) and the WavLM-ECAPA speaker-similarity model (``tts.bench.ecapa``):

- ``NAMES`` / ``WAVLM_NAMES``: one table of the same weight's name in each layout: ``fairseq`` (fairseq
  HuBERT / wav2vec2 ``.pt``, microsoft/unilm ``WavLM-Large.pt``, the WavLM inside UniSpeech's ECAPA
  checkpoint), ``huggingface`` (``pytorch_model.bin`` / ``model.safetensors``), ``torchaudio``
  (``Wav2Vec2Model.state_dict()``) and ``fairseq2`` (its wav2vec2 encoder, HuBERT only). ``rename`` maps a
  state dict between any two; WavLM's separate q/k/v projections become torchaudio's fused ``in_proj``.
- ``read_state_dict`` / ``read_fairseq_checkpoint``: weights through ``tts.io``'s named-error loaders.
- ``load_strict``: a strict load whose errors name keys as the checkpoint spells them.
- ``load_torchaudio_ssl`` (torchaudio's HuBERT / WavLM builders) and ``load_hubert_encoder`` (fairseq2);
  ``ssl_input``: one waveform as these models take it.

Weight-normed convolutions may be saved as ``weight_g`` / ``weight_v`` or as
``parametrizations.weight.original0`` / ``original1``: either spelling is read, and ``load_strict`` uses
the model's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import torch

from tts.errors import CheckpointError
from tts.io import load_checkpoint, load_safetensors

LAYOUTS = ("fairseq", "huggingface", "torchaudio", "fairseq2")
_T = "encoder.transformer.layers.{i}."  # a torchaudio Transformer layer
# (fairseq, huggingface, torchaudio, fairseq2). {i}: layer index, {p}: weight|bias, {q}: q|k|v. torchaudio's
# {attn}: "attention" (wav2vec2/HuBERT) or "attention.attention" (WavLM: the nn.MultiheadAttention inside
# its gated attention). fairseq2's {final_norm}: "encoder" (pre-norm) or "frontend" (post-norm).
# WavLM's q/k/v: fused into torchaudio's in_proj (IN_PROJ); the "torchaudio" name here is wav2vec2/HuBERT's.
QKV = ("encoder.layers.{i}.self_attn.{q}_proj.{p}", "encoder.layers.{i}.attention.{q}_proj.{p}",
       _T + "attention.{q}_proj.{p}", "encoder.layers.{i}.self_attn.{q}_proj.{p}")  # fmt: skip
NAMES = (
    ("feature_extractor.conv_layers.{i}.0.{p}", "feature_extractor.conv_layers.{i}.conv.{p}",
     "feature_extractor.conv_layers.{i}.conv.{p}", "frontend.feature_extractor.layers.{i}.conv.{p}"),
    # LayerNorm after every conv (large models) ...
    ("feature_extractor.conv_layers.{i}.2.1.{p}", "feature_extractor.conv_layers.{i}.layer_norm.{p}",
     "feature_extractor.conv_layers.{i}.layer_norm.{p}", "frontend.feature_extractor.layers.{i}.layer_norm.{p}"),
    # ... or GroupNorm after the first (base models)
    ("feature_extractor.conv_layers.0.2.{p}", "feature_extractor.conv_layers.0.layer_norm.{p}",
     "feature_extractor.conv_layers.0.layer_norm.{p}", "frontend.feature_extractor.layers.0.group_norm.{p}"),
    ("layer_norm.{p}", "feature_projection.layer_norm.{p}",
     "encoder.feature_projection.layer_norm.{p}", "frontend.post_extract_layer_norm.{p}"),
    ("post_extract_proj.{p}", "feature_projection.projection.{p}",
     "encoder.feature_projection.projection.{p}", "frontend.model_dim_proj.{p}"),
    ("encoder.pos_conv.0.bias", "encoder.pos_conv_embed.conv.bias",
     "encoder.transformer.pos_conv_embed.conv.bias", "frontend.pos_encoder.conv.bias"),
    ("encoder.pos_conv.0.weight_g", "encoder.pos_conv_embed.conv.weight_g",
     "encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original0", "frontend.pos_encoder.conv.weight_g"),
    ("encoder.pos_conv.0.weight_v", "encoder.pos_conv_embed.conv.weight_v",
     "encoder.transformer.pos_conv_embed.conv.parametrizations.weight.original1", "frontend.pos_encoder.conv.weight_v"),
    # pre-norm: the LayerNorm after the last layer; post-norm: the one after the position encoder
    ("encoder.layer_norm.{p}", "encoder.layer_norm.{p}", "encoder.transformer.layer_norm.{p}", "{final_norm}.layer_norm.{p}"),
    QKV,
    ("encoder.layers.{i}.self_attn.out_proj.{p}", "encoder.layers.{i}.attention.out_proj.{p}",
     _T + "{attn}.out_proj.{p}", "encoder.layers.{i}.self_attn.output_proj.{p}"),
    ("encoder.layers.{i}.self_attn_layer_norm.{p}", "encoder.layers.{i}.layer_norm.{p}",
     _T + "layer_norm.{p}", "encoder.layers.{i}.self_attn_layer_norm.{p}"),
    ("encoder.layers.{i}.fc1.{p}", "encoder.layers.{i}.feed_forward.intermediate_dense.{p}",
     _T + "feed_forward.intermediate_dense.{p}", "encoder.layers.{i}.ffn.inner_proj.{p}"),
    ("encoder.layers.{i}.fc2.{p}", "encoder.layers.{i}.feed_forward.output_dense.{p}",
     _T + "feed_forward.output_dense.{p}", "encoder.layers.{i}.ffn.output_proj.{p}"),
    ("encoder.layers.{i}.final_layer_norm.{p}", "encoder.layers.{i}.final_layer_norm.{p}",
     _T + "final_layer_norm.{p}", "encoder.layers.{i}.ffn_layer_norm.{p}"),
)  # fmt: skip
# WavLM's gated relative position bias (torchaudio took HuggingFace's names; fairseq2 has no WavLM).
WAVLM_NAMES = (
    ("encoder.layers.{i}.self_attn.grep_linear.{p}", "encoder.layers.{i}.attention.gru_rel_pos_linear.{p}",
     _T + "attention.gru_rel_pos_linear.{p}", None),
    ("encoder.layers.{i}.self_attn.grep_a", "encoder.layers.{i}.attention.gru_rel_pos_const",
     _T + "attention.gru_rel_pos_const", None),
    ("encoder.layers.{i}.self_attn.relative_attention_bias.weight", "encoder.layers.{i}.attention.rel_attn_embed.weight",
     _T + "attention.rel_attn_embed.weight", None),
)  # fmt: skip
IN_PROJ = _T + "attention.attention.in_proj_{p}"  # torchaudio WavLM: q, k, v concatenated
# Weights of fairseq checkpoints that no encoder uses: pre-training heads (mask embedding, HuBERT's label
# embeddings and projection, wav2vec2's quantizer), a fine-tuned CTC head (proj.*), fairseq's version buffer.
FAIRSEQ_UNUSED = re.compile(
    r"(mask_emb|label_embs_concat|final_proj\.|quantizer\.|project_q\.|proj\.|encoder\.version)"
)
HF_PREFIXES = ("wavlm.", "hubert.")  # of the *ForCTC / *ForXVector heads' checkpoints
HF_UNUSED = ("masked_spec_embed", "encoder.masked_spec_embed", "lm_head.", "projector.", "classifier.")
_FIELDS = {"i": r"\d+", "p": "weight|bias", "q": "[qkv]"}
_WEIGHT_NORM = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


def _pattern(template: str) -> re.Pattern:
    pat = re.escape(template)
    for field, group in _FIELDS.items():
        pat = pat.replace(re.escape("{" + field + "}"), f"(?P<{field}>{group})")
    return re.compile(pat)


_IN_PROJ_RE = _pattern(IN_PROJ)


@lru_cache
def _rules(source: str, wavlm: bool, pre_norm: bool) -> list[tuple[re.Pattern, dict[str, str | None]]]:
    if source not in LAYOUTS:
        raise ValueError(f"unknown checkpoint layout {source!r}; choose one of {', '.join(LAYOUTS)}")
    fill = {"{attn}": "attention.attention" if wavlm else "attention",
            "{final_norm}": "encoder" if pre_norm else "frontend"}  # fmt: skip
    rules = []
    for row in NAMES + (WAVLM_NAMES if wavlm else ()):
        names = {}
        for layout, name in zip(LAYOUTS, row, strict=True):
            for field, value in fill.items():
                name = name.replace(field, value) if name else name
            names[layout] = name
        rules.append((_pattern(names[source]), names))
    return rules


def other_weight_norm_name(name: str) -> str | None:
    """``x.weight_g`` <-> ``x.parametrizations.weight.original0`` (and ``weight_v`` / ``original1``)."""
    for legacy, parametrized in _WEIGHT_NORM.items():
        if name.endswith(legacy):
            return name[: -len(legacy)] + parametrized
        if name.endswith(parametrized):
            return name[: -len(parametrized)] + legacy
    return None


def names(
    key: str, source: str, target: str, *, wavlm: bool = False, pre_norm: bool = False
) -> list[str] | None:
    """The name(s) in layout ``target`` of the weight called ``key`` in layout ``source``: one name, or for
    torchaudio WavLM's fused ``in_proj`` its q, k and v; None when no rule knows ``key`` or ``target`` lacks it.

    The inverse of the conv GroupNorm/LayerNorm rows is ambiguous: torchaudio's ``conv_layers.0.layer_norm``
    is named as the LayerNorm of large models (the layout of WavLM-large).
    """
    key = key.removeprefix("w2v_model.") if source == "fairseq" else key
    if wavlm and source == "torchaudio" and (m := _IN_PROJ_RE.fullmatch(key)):
        template = QKV[LAYOUTS.index(target)]
        return [template.format(i=m["i"], p=m["p"], q=q) for q in "qkv"] if template else None
    candidates = [key] + [alt for alt in [other_weight_norm_name(key)] if alt]  # either weight-norm spelling
    for candidate in candidates:
        for pattern, row in _rules(source, wavlm, pre_norm):
            if m := pattern.fullmatch(candidate):
                return [row[target].format(**m.groupdict())] if row[target] else None
    return None


def rename(
    state: dict[str, torch.Tensor], source: str, target: str, *, wavlm: bool = False, pre_norm: bool = False
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(weights renamed from layout ``source`` to ``target``, the weights no rule names, under their own names).

    WavLM q/k/v projections are concatenated into torchaudio's ``in_proj`` (and split from it); a layer
    whose q/k/v are incomplete gets no ``in_proj`` (a strict load reports it missing, see ``load_strict``).
    """
    fuse = wavlm and target == "torchaudio" and source != "torchaudio"
    out: dict[str, torch.Tensor] = {}
    unknown: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    qkv_pattern = _pattern(QKV[LAYOUTS.index(source)])
    for key, value in state.items():
        if fuse and (m := qkv_pattern.fullmatch(key.removeprefix("w2v_model."))):
            qkv.setdefault((m["i"], m["p"]), {})[m["q"]] = value
            continue
        new = names(key, source, target, wavlm=wavlm, pre_norm=pre_norm)
        if new is None:
            unknown[key] = value
        elif len(new) == 3:  # torchaudio in_proj -> q, k, v
            out.update(zip(new, (part.clone() for part in value.chunk(3)), strict=True))
        else:
            out[new[0]] = value
    for (i, p), parts in qkv.items():
        if set(parts) == {"q", "k", "v"}:
            out[IN_PROJ.format(i=i, p=p)] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out, unknown


def detect_layout(state: dict) -> str:
    """Which key names a wav2vec2/HuBERT/WavLM state dict uses: "huggingface", "fairseq" or "torchaudio"."""
    if any(k.startswith(tuple(p + "feature_projection." for p in ("", *HF_PREFIXES))) for k in state):
        return "huggingface"
    convs = [k for k in state if k.startswith("feature_extractor.conv_layers.")]
    if any(".0.weight" in k for k in convs) and not any(".conv." in k for k in state):
        return "fairseq"
    return "torchaudio"


def to_torchaudio(state: dict[str, torch.Tensor], wavlm: bool) -> tuple[dict, str]:
    """(a wav2vec2 / HuBERT / WavLM state dict in torchaudio's names, the layout it came in); the unused
    heads of each layout are dropped; keys no rule knows keep their names (a strict load reports them)."""
    layout = detect_layout(state)
    if layout == "torchaudio":  # maybe with a fine-tuned head (aux) or HuBERT's label embeddings
        return {k: v for k, v in state.items() if not k.startswith(("aux.", "label_embs_concat"))}, layout
    if layout == "huggingface":  # *Model names: without the head classes' "wavlm." / "hubert." prefix
        bare = {next((k[len(p) :] for p in HF_PREFIXES if k.startswith(p)), k): k for k in state}
        state = {b: state[k] for b, k in bare.items() if not b.startswith(HF_UNUSED)}
    else:
        bare = {k: k for k in state}
        state = {k: v for k, v in state.items() if not FAIRSEQ_UNUSED.match(k.removeprefix("w2v_model."))}
    renamed, unknown = rename(state, layout, "torchaudio", wavlm=wavlm)
    return {**renamed, **{bare[k]: v for k, v in unknown.items()}}, layout


SSL_MIN_SAMPLES = 400  # the wav2vec2/HuBERT conv front end needs at least one 25 ms receptive field


def ssl_input(wav: torch.Tensor, device: torch.device | str, normalize: bool) -> torch.Tensor:
    """(T,) -> (1, max(T, 400)) float on ``device``, zero-padded; zero-mean unit-variance when ``normalize``
    (the large HuBERT/WavLM checkpoints were trained on normalized waveforms)."""
    x = wav.float().to(device)
    if x.shape[0] < SSL_MIN_SAMPLES:
        x = torch.nn.functional.pad(x, (0, SSL_MIN_SAMPLES - x.shape[0]))
    if normalize:
        x = (x - x.mean()) / (x.std() + 1e-7)
    return x[None]


# ------------------------------------------------------------------------------------------ reading


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The weights of ``path``: a ``.safetensors`` file or a ``torch.load(weights_only=True)`` checkpoint
    (its "state_dict" or "model" entry when it has one); CheckpointError naming the file otherwise."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path, "is it a complete model.safetensors?")
    ckpt = load_checkpoint(path)
    return ckpt.get("state_dict", ckpt.get("model", ckpt))


def read_fairseq_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], bool | None]:
    """(model state dict, cfg.model.layer_norm_first if recorded) of a fairseq HuBERT checkpoint
    ({"model": state_dict, "cfg": ...} or a bare state dict)."""
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as e:
        raise CheckpointError(
            f"{e}. fairseq checkpoints that pickle config objects cannot be read with weights_only=True: "
            "re-save as torch.save({'model': ckpt['model']}, path) in a trusted environment."
        ) from e
    state = ckpt.get("model", ckpt)
    if not any(k.startswith("feature_extractor.conv_layers.") for k in state):
        raise CheckpointError(f"{path}: no fairseq HuBERT keys (feature_extractor.conv_layers.*) found")
    cfg = ckpt.get("cfg")
    model_cfg = cfg.get("model") if isinstance(cfg, dict) else None
    pre_norm = model_cfg.get("layer_norm_first") if isinstance(model_cfg, dict) else None
    return state, pre_norm


def few(keys: Sequence[str], n: int = 6) -> str:
    """The first ``n`` of ``keys``, comma-separated, and how many there are in all when more."""
    more = f" ... ({len(keys)} in all)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_strict(
    model: torch.nn.Module,
    state: dict[str, torch.Tensor],
    *,
    source: str,
    what: str,
    checkpoint_names: Callable[[str], list[str]] = lambda key: [key],
    checkpoint_keys: Iterable[str] = (),
) -> torch.nn.Module:
    """Load ``state`` (in ``model``'s names) strictly into ``model`` (returned in eval mode).

    CheckpointError: ``{source}: {key} has shape ...`` for a wrong shape; ``{source} is not {what}: missing
    ...; unexpected ...`` otherwise, the missing weights named as the checkpoint would (``checkpoint_names``
    of a model key), leaving out those in ``checkpoint_keys`` (present, e.g. two of a WavLM q/k/v triple).
    """
    expected = model.state_dict()
    fitted = {}
    for key, value in state.items():  # weight_g/_v vs parametrizations: the model's own spelling
        alt = other_weight_norm_name(key)
        fitted[alt if key not in expected and alt in expected else key] = value
    for key, value in fitted.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(value.shape)}, the model needs {tuple(expected[key].shape)}"
            )
    missing = [k for k in expected if k not in fitted]
    unexpected = [k for k in fitted if k not in expected]
    if missing or unexpected:
        present = set(checkpoint_keys)
        missing_names = [n for k in missing for n in checkpoint_names(k) if n not in present]
        parts = [f"missing {few(missing_names)}"] if missing else []
        parts += [f"unexpected {few(unexpected)}"] if unexpected else []
        raise CheckpointError(f"{source} is not {what}: " + "; ".join(parts))
    model.load_state_dict(fitted, strict=True)
    return model.eval()


# ------------------------------------------------------------------------------------- torchaudio

BUILDERS = {"hubert-base": "hubert_base", "hubert-large": "hubert_large", "wavlm-large": "wavlm_large"}


def load_torchaudio_ssl(arch: str, path: str | Path) -> torch.nn.Module:
    """torchaudio ``Wav2Vec2Model`` for ``arch`` (hubert-base, hubert-large, wavlm-large) in eval mode, with
    the weights of ``path`` in torchaudio's, fairseq/UniSpeech's or HuggingFace's names."""
    import torchaudio

    if arch not in BUILDERS:
        raise ValueError(f"unknown torchaudio SSL model {arch!r}; choose one of {sorted(BUILDERS)}")
    original = read_state_dict(path)
    wavlm = arch.startswith("wavlm")
    state, layout = to_torchaudio(original, wavlm)
    prefix = next((p for p in HF_PREFIXES if any(k.startswith(p) for k in original)), "")

    def checkpoint_names(key: str) -> list[str]:
        found = names(key, "torchaudio", layout, wavlm=wavlm) if layout != "torchaudio" else None
        return [prefix + n for n in found] if found else [key]

    model = getattr(torchaudio.models, BUILDERS[arch])()
    return load_strict(
        model, state, source=str(path), what=f"a {arch} state dict ({layout} names)",
        checkpoint_names=checkpoint_names, checkpoint_keys=original,
    )  # fmt: skip


# --------------------------------------------------------------------------------------- fairseq2


def hubert_encoder_config(state: dict[str, torch.Tensor], pre_norm: bool | None = None):
    """A fairseq2 ``Wav2Vec2EncoderConfig`` matching a fairseq HuBERT state dict (base, large, xlarge).

    ``pre_norm`` (fairseq's layer_norm_first) defaults to True for the layer-norm feature extractor
    (HuBERT large/xlarge) and False for the group-norm one (HuBERT base).
    """
    from fairseq2.models.transformer import TransformerNormOrder
    from fairseq2.models.wav2vec2 import Wav2Vec2EncoderConfig

    n_convs = 1 + max(
        int(m.group(1)) for k in state if (m := re.match(r"feature_extractor\.conv_layers\.(\d+)\.", k))
    )
    conv_descs = []
    for i in range(n_convs):
        out_dim, _, kernel = state[f"feature_extractor.conv_layers.{i}.0.weight"].shape
        conv_descs.append((int(out_dim), int(kernel), 5 if i == 0 else 2))
    model_dim, feature_dim = state["post_extract_proj.weight"].shape
    n_layers = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"encoder\.layers\.(\d+)\.", k)))
    pos_conv = state.get("encoder.pos_conv.0.weight_v", state.get("encoder.pos_conv.0.weight"))
    if pos_conv is None:
        pos_conv = state.get("encoder.pos_conv.0.parametrizations.weight.original1")
    layer_norm_convs = "feature_extractor.conv_layers.0.2.1.weight" in state
    if pre_norm is None:
        pre_norm = layer_norm_convs
    head_dim = 64
    return Wav2Vec2EncoderConfig(
        model_dim=int(model_dim),
        feature_dim=int(feature_dim),
        feature_extractor_layer_descs=conv_descs,
        feature_extractor_bias="feature_extractor.conv_layers.0.0.bias" in state,
        feature_extractor_layer_norm_convs=layer_norm_convs,
        layer_norm_features=not pre_norm,
        pos_conv_kernel_size=int(pos_conv.shape[-1]),
        num_pos_conv_groups=int(model_dim) // int(pos_conv.shape[1]),
        num_encoder_layers=n_layers,
        num_encoder_attn_heads=int(model_dim) // head_dim,
        ffn_inner_dim=int(state["encoder.layers.0.fc1.weight"].shape[0]),
        dropout_p=0.0,
        attn_dropout_p=0.0,
        layer_drop_p=0.0,
        feature_grad_scale=1.0,
        norm_order=TransformerNormOrder.PRE if pre_norm else TransformerNormOrder.POST,
    )


class HubertEncoder(torch.nn.Module):
    """fairseq2 wav2vec2 front end + Transformer loaded with HuBERT weights. (B, T) -> per-layer outputs."""

    def __init__(self, config):
        super().__init__()
        from fairseq2.models.wav2vec2 import Wav2Vec2EncoderFactory

        factory = Wav2Vec2EncoderFactory(config)
        self.frontend = factory.create_encoder_frontend()
        self.encoder = factory.create_encoder()

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layers)

    def forward(self, wav: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """(B, T) -> (B, N, model_dim): output of 1-based Transformer ``layer`` (negative: from the end).

        The final LayerNorm of pre-norm models is applied when the last layer is requested.
        """
        from fairseq2.models.transformer import AttentionBiasCache
        from fairseq2.nn import BatchLayout

        n_layers = self.num_layers
        index = layer if layer > 0 else n_layers + 1 + layer
        if not 1 <= index <= n_layers:
            raise ValueError(f"layer {layer} out of range for a {n_layers}-layer encoder")
        seqs, layout = self.frontend(wav, BatchLayout.of(wav))
        cache = AttentionBiasCache()
        for i in range(index):
            seqs = self.encoder.layers[i](seqs, layout, cache)
        if index == n_layers and self.encoder.layer_norm is not None:
            seqs = self.encoder.layer_norm(seqs)
        return seqs


def load_hubert_encoder(path: str | Path, pre_norm: bool | None = None) -> HubertEncoder:
    """HubertEncoder (eval mode) from a fairseq HuBERT checkpoint; every weight must fit.

    ``pre_norm``: override the Transformer norm order (default: the checkpoint's cfg, else inferred).
    """
    from fairseq2.models.transformer import TransformerNormOrder

    original, recorded_pre_norm = read_fairseq_checkpoint(path)
    config = hubert_encoder_config(original, recorded_pre_norm if pre_norm is None else pre_norm)
    is_pre = config.norm_order == TransformerNormOrder.PRE
    state = {k: v for k, v in original.items() if not FAIRSEQ_UNUSED.match(k)}
    renamed, unknown = rename(state, "fairseq", "fairseq2", pre_norm=is_pre)

    def checkpoint_names(key: str) -> list[str]:
        return names(key, "fairseq2", "fairseq", pre_norm=is_pre) or [key]

    return load_strict(
        HubertEncoder(config), {**renamed, **unknown}, source=str(path), what="a fairseq HuBERT checkpoint",
        checkpoint_names=checkpoint_names, checkpoint_keys=original,
    )  # fmt: skip
