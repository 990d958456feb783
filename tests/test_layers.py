"""The package reads top-down: each layer imports only the ones below it (issue 26), checked from the code's own
imports (every ``import`` statement, those inside functions included).

Layers, top to bottom:
  cli, demo, voice, wer_callback                      commands and the training-time WER callback
  bench                                               the benchmark (drives synth)
  synth                                               batch synthesis
  f5, vocoder                                         the models and their training
  vae, features, teacher, data, corpus                representations, teachers, data
  text, audio, io, config, errors, ...                the shared base
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tts"
LOW = ("tts.data", "tts.features", "tts.vae", "tts.teacher")
# (importer prefix, imported prefixes it must never reach)
NEVER = [(low, ("tts.f5", "tts.synth", "tts.bench", "tts.wer_callback")) for low in LOW] + [
    ("tts.f5", ("tts.synth", "tts.bench", "tts.wer_callback")),
    ("tts.synth", ("tts.bench", "tts.wer_callback")),
    ("tts.bench", ("tts.wer_callback",)),
]
ALLOWED_CIRCLES = [{"tts.f5.dit", "tts.f5.fastpath"}]  # plain math beside its fast path, tested equal


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """{module: the tts modules it imports} over every .py file under tts/."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([base] if base else []))
                # ``from pkg import mod`` imports pkg.mod; ``from pkg import name`` imports pkg
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    deps.add(target)
        graph[name] = deps
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_package_imports_a_layer_above_it():
    graph = import_graph()
    back = [f"{a} -> {b}" for a, deps in sorted(graph.items()) for b in sorted(deps)
            for low, highs in NEVER if under(a, low) and any(under(b, h) for h in highs)]  # fmt: skip
    assert not back, "imports that run back up the layers:\n" + "\n".join(back)


def test_no_import_circles_but_the_dit_and_its_fast_path():
    found = [c for c in circles(import_graph()) if c not in ALLOWED_CIRCLES]
    assert not found, f"import circles: {found}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    graph = import_graph()
    assert "tts.synth.sample" in graph["tts.synth"] or "tts.synth.run" in graph["tts.synth"]
    assert "tts.f5.aligned" in graph["tts.synth.sample"]  # imported inside prepare()


def test_eval_scripts_do_not_edit_sys_path():
    edits = []
    for path in sorted((ROOT / "eval").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                edits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not edits, "sys.path used under eval/ (run them as modules: python -m eval.NAME): " + ", ".join(edits)
