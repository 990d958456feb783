"""tts.ssl_models: the one key table (fairseq / HuggingFace / torchaudio / fairseq2) and its import position.

The loaders built on it are exercised through the teachers (tests/test_teacher.py) and the WavLM-ECAPA
similarity model (tests/test_similarity_wavlm.py).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_teacher import huggingface_names, random_fairseq_hubert, tiny_wavlm, unispeech_names

from tts import ssl_models

ROOT = Path(__file__).resolve().parents[1]
SSL_MODULES = {"tts.ssl_models", "tts.bench.ecapa", "tts.bench.similarity", "tts.teacher",
               "tts.teacher.torchaudio_ssl", "tts.teacher.fairseq2_hubert"}  # fmt: skip


def _import_graph() -> dict[str, set[str]]:
    """tts module -> the tts modules it imports anywhere in its file (lazy imports inside functions too)."""
    files = {}
    for f in (ROOT / "tts").rglob("*.py"):
        parts = f.relative_to(ROOT).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for module, f in files.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                deps |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        graph[module] = {d for d in deps if d in files and d != module}
    return graph


def _cycles_through(graph: dict[str, set[str]], start: str) -> list[list[str]]:
    found, path = [], [start]

    def walk(node: str) -> None:
        for dep in sorted(graph[node]):
            if dep == start:
                found.append([*path, start])
            elif dep not in path:
                path.append(dep)
                walk(dep)
                path.pop()

    walk(start)
    return found


def test_no_import_cycle_through_the_ssl_modules():
    graph = _import_graph()
    assert "tts.bench.similarity" not in graph["tts.bench.ecapa"]  # the old circle
    assert graph["tts.ssl_models"] <= {
        "tts.errors",
        "tts.io",
    }  # below the teachers and the bench, not beside them
    for module in sorted(SSL_MODULES):
        assert _cycles_through(graph, module) == [], module


@pytest.mark.parametrize("module", ["tts.bench.similarity", "tts.bench.ecapa"])
def test_imports_alone_in_a_fresh_interpreter(module):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("large", [False, True], ids=["base_layout", "large_layout"])
def test_fairseq_names_agree_with_torchaudios_own_importer(large):
    """Our table gives the keys torchaudio's fairseq importer (its private ``_convert_state_dict``) gives."""
    from torchaudio.models.wav2vec2.utils.import_fairseq import _convert_state_dict

    sd = random_fairseq_hubert(large)
    theirs = {k: v for k, v in _convert_state_dict(sd).items() if k != "label_embs_concat"}
    used = {k: v for k, v in sd.items() if not ssl_models.FAIRSEQ_UNUSED.match(k)}
    ours, unknown = ssl_models.rename(used, "fairseq", "torchaudio")
    assert unknown == {}
    # torchaudio's importer keeps weight_g / weight_v (torch's load hook maps them); ours uses the model's names
    ours = {
        (ssl_models.other_weight_norm_name(k) if ".parametrizations." in k else k): v for k, v in ours.items()
    }
    assert ours.keys() == theirs.keys()
    assert all(ours[k] is theirs[k] for k in theirs)


def test_wavlm_names_in_every_layout_round_trip():
    state = tiny_wavlm(0).state_dict()
    expected = {"fairseq": unispeech_names(state), "huggingface": huggingface_names(state)}
    for layout in ("fairseq", "huggingface"):
        there, unknown = ssl_models.rename(state, "torchaudio", layout, wavlm=True)
        assert unknown == {}
        assert there.keys() == {k for k in expected[layout] if "mask" not in k}, layout  # their own heads
        back, unknown = ssl_models.rename(there, layout, "torchaudio", wavlm=True)
        assert unknown == {} and back.keys() == state.keys(), layout
        for key, value in state.items():
            assert torch.equal(back[key], value), (layout, key)


def test_rename_keeps_unknown_keys_and_leaves_an_incomplete_qkv_unfused():
    state = ssl_models.rename(tiny_wavlm(0).state_dict(), "torchaudio", "fairseq", wavlm=True)[0]
    del state["encoder.layers.1.self_attn.v_proj.bias"]
    state["encoder.layers.0.self_attn.foo"] = torch.zeros(1)
    out, unknown = ssl_models.rename(state, "fairseq", "torchaudio", wavlm=True)
    assert list(unknown) == ["encoder.layers.0.self_attn.foo"]
    assert "encoder.transformer.layers.1.attention.attention.in_proj_weight" in out
    assert "encoder.transformer.layers.1.attention.attention.in_proj_bias" not in out
    assert ssl_models.names(
        "encoder.transformer.layers.1.attention.attention.in_proj_bias", "torchaudio", "fairseq", wavlm=True
    ) == [f"encoder.layers.1.self_attn.{q}_proj.bias" for q in "qkv"]
    assert ssl_models.names("encoder.layers.0.fc1.weight", "fairseq", "fairseq2") == [
        "encoder.layers.0.ffn.inner_proj.weight"
    ]
    assert ssl_models.names("encoder.layers.0.self_attn.grep_a", "fairseq", "fairseq2", wavlm=True) is None
