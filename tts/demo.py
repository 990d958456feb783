"""``tts demo``: the whole pipeline, stage by stage, each stage cached and resumable.

corpus -> teacher features -> semantic VAE + plain VAE -> Vocos -> mel and latent features
-> F5 on mel, on semantic latents, on plain latents -> benchmark -> report.

A scale is a pipeline file ``recipes/<scale>/pipeline.yaml`` naming the corpus size, the training
recipes (a file or a list of layered files, with overrides) and the benchmark. Every training stage runs
``tts fit --run_dir OUT -c ...`` (recipes find their inputs as ``${run_dir}/...``) in a
subprocess (so a killed demo resumes from each run's ``last.ckpt``) and logs to ``OUT/logs``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import yaml

from tts.corpus.voices import MANY_VOICE_OPTIONS, ManyVoices, VoiceSpecError
from tts.errors import TTSError
from tts.io import atomic_write_json

REPO = Path(__file__).resolve().parent.parent
SCALES = ("smoke", "demo", "cpu", "voices", "mini")


TRAIN_STAGES = ("vae_semantic", "vae_plain", "vocos", "f5_mel", "f5_semantic", "f5_plain")
PIPELINE_KEYS = {"scale", "corpus", "align", "teacher", "parallel_vaes", "train", "train_env", "bench", "wer_curve"}
# ``align``: `tts data align` options (every cut gets the project aligner's phoneme alignment, the F5 features
# are cut from those manifests); name -> (type, lowest value, choices)
ALIGN_OPTIONS = {"method": (str, None, ("viterbi", "encoder")), "iterations": (int, 1, None), "states": (int, 1, None),
                 "steps": (int, 0, None), "max_cuts": (int, 1, None), "seed": (int, 0, None)}
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class PipelineError(TTSError, ValueError):
    """A pipeline YAML with a missing, unknown or out-of-range key; the message names the file and key."""


def _repo_path(p) -> Path:
    return Path(p) if Path(p).is_absolute() else REPO / p


def validate_pipeline(pipeline, where: str) -> dict:
    """Check a pipeline YAML before any stage runs; PipelineError names ``where`` and the first bad key.

    Keys: ``corpus`` {hours in (0, 100], seed int >= 0, natural_share in [0, 1], test_share in [0.01, 0.5],
    test_sentences: a sentence list file; voices: default | many, and with many the ``tts.corpus.voices.ManyVoices``
    options heldout, heldout_voices (a list), transforms_per_voice, espeak_voices, unseen_share,
    references_per_speaker}, ``align`` (optional: `tts data align` options method, iterations, states, steps,
    max_cuts, seed; the F5 features then come from its manifests), ``teacher`` (a spec string), ``parallel_vaes`` (bool), ``train``
    (each of TRAIN_STAGES: {recipe: file or list of files, args: list of strings}), ``bench`` {spec: file},
    ``wer_curve`` (a mapping of WERCallback arguments, optional), ``train_env`` (environment variables for every
    ``tts fit`` run, e.g. ``OMP_WAIT_POLICY: PASSIVE``; names in capitals, values strings; optional), ``scale``
    (a name). Files are repository-relative.
    """
    def bad(key: str, msg: str) -> PipelineError:
        return PipelineError(f"{where}: {key}: {msg}")

    def need_file(key: str, p) -> None:
        if not isinstance(p, str) or not _repo_path(p).is_file():
            raise bad(key, f"{p!r} is not a file (paths are relative to {REPO})")

    if not isinstance(pipeline, dict):
        raise PipelineError(f"{where}: a pipeline is a mapping of {sorted(PIPELINE_KEYS)}")
    unknown = sorted(set(pipeline) - PIPELINE_KEYS)
    if unknown:
        raise bad(unknown[0], f"unknown key (allowed: {', '.join(sorted(PIPELINE_KEYS))})")
    for key in ("corpus", "teacher", "train", "bench"):
        if key not in pipeline:
            raise bad(key, "missing")
    c = pipeline["corpus"]
    if not isinstance(c, dict):
        raise bad("corpus", "a mapping")
    ranges = {"hours": (0.0, 100.0, False), "natural_share": (0.0, 1.0, True), "test_share": (0.01, 0.5, True)}
    for k, v in c.items():
        key = f"corpus.{k}"
        if k in ranges:
            lo, hi, closed = ranges[k]
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (lo <= v if closed else lo < v) and v <= hi
            if not ok:
                raise bad(key, f"{v!r} is outside {'[' if closed else '('}{lo}, {hi}]")
        elif k == "seed":
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise bad(key, f"{v!r} is not an integer >= 0")
        elif k == "test_sentences":
            need_file(key, v)
        elif k == "voices":
            if v not in ("default", "many"):
                raise bad(key, f"{v!r}: default or many")
        elif k not in MANY_VOICE_OPTIONS:
            raise bad(key, "unknown key (allowed: hours, seed, natural_share, test_share, test_sentences, voices, "
                      f"{', '.join(MANY_VOICE_OPTIONS)})")
    if "hours" not in c:
        raise bad("corpus.hours", "missing")
    many = {k: v for k, v in c.items() if k in MANY_VOICE_OPTIONS}
    if c.get("voices") == "many":
        try:
            ManyVoices(**many)
        except VoiceSpecError as e:
            raise bad("corpus", str(e)) from e
        if c.get("natural_share") == 1:
            raise bad("corpus.natural_share", "1 leaves no other voice; voices: many needs it below 1")
    elif many:
        raise bad(f"corpus.{next(iter(many))}", "needs voices: many")
    if not isinstance(pipeline["teacher"], str) or not pipeline["teacher"]:
        raise bad("teacher", "a teacher spec string, e.g. whisper-tiny-en")
    if not isinstance(pipeline.get("parallel_vaes", False), bool):
        raise bad("parallel_vaes", "true or false")
    tr = pipeline["train"]
    if not isinstance(tr, dict):
        raise bad("train", f"a mapping of {', '.join(TRAIN_STAGES)}")
    extra = sorted(set(tr) - set(TRAIN_STAGES))
    if extra:
        raise bad(f"train.{extra[0]}", f"unknown stage (allowed: {', '.join(TRAIN_STAGES)})")
    for name in TRAIN_STAGES:
        st = tr.get(name)
        if not isinstance(st, dict) or "recipe" not in st:
            raise bad(f"train.{name}", "missing, or without its recipe")
        extra = sorted(set(st) - {"recipe", "args"})
        if extra:
            raise bad(f"train.{name}.{extra[0]}", "unknown key (allowed: recipe, args)")
        recipes = [st["recipe"]] if isinstance(st["recipe"], str) else st["recipe"]
        if not isinstance(recipes, list) or not recipes:
            raise bad(f"train.{name}.recipe", "a file or a list of files")
        for i, r in enumerate(recipes):
            need_file(f"train.{name}.recipe[{i}]", r)
        args = st.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise bad(f"train.{name}.args", "a list of command-line strings")
    b = pipeline["bench"]
    if not isinstance(b, dict) or "spec" not in b:
        raise bad("bench.spec", "missing")
    need_file("bench.spec", b["spec"])
    if pipeline.get("wer_curve") is not None and not isinstance(pipeline["wer_curve"], dict):
        raise bad("wer_curve", "a mapping of tts.wer_callback.WERCallback arguments")
    env = pipeline.get("train_env")
    al = pipeline.get("align")
    if al is not None:
        if not isinstance(al, dict):
            raise bad("align", f"a mapping of tts data align options ({', '.join(ALIGN_OPTIONS)}), or absent")
        for k, v in al.items():
            if k not in ALIGN_OPTIONS:
                raise bad(f"align.{k}", f"unknown key (allowed: {', '.join(ALIGN_OPTIONS)})")
            kind, lo, choices = ALIGN_OPTIONS[k]
            if choices is not None and v not in choices:
                raise bad(f"align.{k}", f"{v!r}: one of {', '.join(choices)}")
            if kind is int and (not isinstance(v, int) or isinstance(v, bool) or v < lo):
                raise bad(f"align.{k}", f"{v!r} is not an integer >= {lo}")
    if env is not None:
        if not isinstance(env, dict):
            raise bad("train_env", "a mapping of environment variable names to strings")
        for k, v in env.items():
            if not isinstance(k, str) or not ENV_NAME.fullmatch(k):
                raise bad(f"train_env.{k}", "not an environment variable name (capitals, digits, _)")
            if not isinstance(v, str):
                raise bad(f"train_env.{k}", f"{v!r} is not a string (quote numbers)")
    return pipeline


class Stage:
    """A named step whose completion is recorded in ``OUT/stages/<name>.json``."""

    def __init__(self, out: Path, total: int):
        self.out = out
        self.total = total
        self.index = 0
        self.t0 = time.time()
        self.times: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        self.index += 1
        marker = self.out / "stages" / f"{name}.json"
        head = f"[{self.index}/{self.total}] {name}"
        if marker.exists():
            info = json.loads(marker.read_text())
            print(f"{head}: cached ({info.get('seconds', 0):.0f} s when built)", flush=True)
            self.times[name] = 0.0
            return info.get("result")
        print(f"{head} ...", flush=True)
        t = time.time()
        result = fn(*args, **kwargs)
        dt = time.time() - t
        self.times[name] = dt
        atomic_write_json(marker, {"seconds": dt, "result": result})
        print(f"{head}: done in {dt:.0f} s (total {time.time() - self.t0:.0f} s)", flush=True)
        return result

    def run_parallel(self, stages: list[tuple]) -> list:
        """Run ``(name, fn, *args)`` stages side by side in threads (each fn runs its own subprocess).

        Every stage keeps its own marker; all are waited for, and the first error is raised after.
        """
        with ThreadPoolExecutor(max_workers=len(stages)) as pool:
            futures = [pool.submit(self.run, name, fn, *args) for name, fn, *args in stages]
            wait(futures)
        return [f.result() for f in futures]


def _python_tool(argv: list[str], log: Path, threads: int | None = None, env: dict | None = None) -> None:
    """Run ``tts <argv>`` in a subprocess; output goes to ``log`` (tail shown on failure).

    ``threads`` caps the subprocess' intra-op threads (OMP/MKL), for runs that share the machine; ``env``
    adds (or replaces) environment variables.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "tts.cli", *argv]
    env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, env=env)
    if proc.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-40:])
        raise RuntimeError(f"`tts {' '.join(argv)}` failed (exit {proc.returncode}); log {log}:\n{tail}")


def fit_argv(name: str, recipe: str | list[str], overrides: list[str], out: Path) -> list[str]:
    """The ``tts fit`` command line of one pipeline run: its recipe files composed in order (``-c`` each,
    later overriding earlier) with ``--run_dir OUT`` (the recipes' ``${run_dir}``), logging under
    ``OUT/runs/<name>``."""
    run_dir = out / "runs" / name
    files = [recipe] if isinstance(recipe, str) else list(recipe)
    # TensorBoard logs and checkpoints land in run_dir/tb/version_0 (fixed version: resumable)
    return ["fit", "--run_dir", str(out), *(a for f in files for a in ("-c", str(REPO / f))),
            "--trainer.logger=" + json.dumps({"class_path": "lightning.pytorch.loggers.TensorBoardLogger",
                                              "init_args": {"save_dir": str(run_dir), "name": "tb", "version": 0}}),
            f"--trainer.default_root_dir={run_dir}",
            *overrides]  # fmt: skip


def fit(name: str, recipe: str | list[str], overrides: list[str], out: Path, threads: int | None = None,
        env: dict | None = None) -> str:
    """Train one recipe (a file or a list of files) under ``OUT/runs/<name>``; resumes from its last.ckpt.
    ``env``: environment variables for the run (the pipeline's ``train_env``). Returns that path."""
    last = out / "runs" / name / "tb" / "version_0" / "checkpoints" / "last.ckpt"
    argv = fit_argv(name, recipe, overrides, out)
    if last.exists():
        argv.append(f"--ckpt_path={last}")
    _python_tool(argv, out / "logs" / f"fit_{name}.log", threads, env)
    if not last.exists():
        raise RuntimeError(f"training {name} finished without {last}")
    return str(last)


def _bench_summary(report: dict, bench_dir: Path) -> dict:
    """The part of ``run_bench``'s report worth keeping in the stage marker: where the report files are,
    the systems that failed, and each finished system's mean WER per ASR and SIM (the numbers' values
    only; report.json holds their CIs). ``report_error`` instead of ``report_md`` when rendering failed."""
    ok = [s for s in report["systems"] if s["status"] == "ok"]
    summary: dict = {"report_json": str(bench_dir / "report.json")}
    if report.get("report_error"):
        summary["report_error"] = report["report_error"]["error"]
    else:
        summary["report_md"] = str(bench_dir / "report.md")
    if report.get("report_html"):
        summary["report_html"] = report["report_html"]
    summary["failed"] = [s["name"] for s in report["systems"] if s["status"] != "ok"]
    summary["wer_mean"] = {s["name"]: {a: e["wer_mean"]["value"] for a, e in s["asr"].items()} for s in ok}
    summary["sim"] = {s["name"]: (s.get("sim") or {}).get("value") for s in ok}
    return summary


def run_pipeline(scale: str, out: Path, pipeline: dict) -> dict:
    """Run every stage of ``pipeline`` into ``out``; returns the benchmark summary."""
    from tts.bench.runner import load_spec, run_bench

    out.mkdir(parents=True, exist_ok=True)
    corpus, feats = out / "corpus", out / "feats"
    aligned = out / "aligned"
    st = Stage(out, total=13 if pipeline.get("align") is not None else 12)
    t0 = time.time()
    c = pipeline["corpus"]
    natural = ["--natural-share", str(c["natural_share"])] if "natural_share" in c else []
    if "test_share" in c:
        natural += ["--test-share", str(c["test_share"])]
    if c.get("test_sentences"):  # a sentence list (repo-relative) for the test split
        natural += ["--test-sentences", str(_repo_path(c["test_sentences"]))]
    if c.get("voices", "default") != "default":  # the many-speaker corpus and its options
        natural += ["--voices", c["voices"]]
        for k in MANY_VOICE_OPTIONS:
            if k in c:
                natural += [f"--{k.replace('_', '-')}", ",".join(c[k]) if k == "heldout_voices" else str(c[k])]
    st.run("corpus", _python_tool,
           ["data", "demo", "--out", str(corpus), "--hours", str(c["hours"]), "--seed", str(c.get("seed", 0)),
            *natural],
           out / "logs" / "corpus.log")
    splits = ("train", "dev")
    # the F5 features are cut from the aligner's manifests when the pipeline aligns (every voice), else the corpus'
    f5_cuts = corpus
    if pipeline.get("align") is not None:
        flags = [a for k, v in pipeline["align"].items() for a in (f"--{k.replace('_', '-')}", str(v))]
        st.run("align", _python_tool,
               ["data", "align", "--cuts", *(str(corpus / f"cuts_{s}.jsonl.gz") for s in ("train", "dev", "test")),
                "--out", str(aligned), *flags], out / "logs" / "align.log")
        f5_cuts = aligned

    def extract(kind: str, spec_flag: str, spec: str, name: str, extra: tuple[str, ...] = (),
                cuts: Path = corpus) -> None:
        for split in splits:
            _python_tool(["extract", kind, spec_flag, spec, "--cuts", str(cuts / f"cuts_{split}.jsonl.gz"),
                          "--out", str(feats / f"{name}_{split}"), *extra], out / "logs" / f"extract_{name}.log")

    st.run("teacher features", extract, "teacher", "--teacher", pipeline["teacher"], "teacher")
    tr = pipeline["train"]

    # Every recipe finds its inputs inside the run directory (${run_dir} = OUT): the corpus manifests
    # (OUT/corpus), teacher features (OUT/feats/teacher_*), models (OUT/models) and features (OUT/feats).
    def train(name: str, extra: list[str] | tuple[str, ...] = (), threads: int | None = None) -> str:
        """Fit the pipeline's stage ``name``: its recipe, ``extra`` then its ``args``, with its ``train_env``."""
        return fit(name, tr[name]["recipe"], [*extra, *tr[name].get("args", [])], out, threads,
                   pipeline.get("train_env"))

    def train_vae(name: str, threads: int | None = None) -> str:
        from tts.vae.export import export

        return str(export(train(name, threads=threads), out / "models" / name))

    vae_stages = [("semantic VAE", train_vae, "vae_semantic"), ("plain VAE", train_vae, "vae_plain")]
    if pipeline.get("parallel_vaes"):
        # The two VAEs train side by side with half the cores each: small convolutions scale poorly
        # with threads, so this gives each run most of its sequential steps in half the wall time.
        half = max(1, (os.cpu_count() or 2) // 2)
        vae_sem, vae_plain = st.run_parallel([(*stage, half) for stage in vae_stages])
    else:
        vae_sem, vae_plain = (st.run(*stage) for stage in vae_stages)
    def train_vocos() -> str:
        from tts.vocoder import export_vocos

        return str(export_vocos(train("vocos"), out / "models" / "vocos"))

    vocos = st.run("Vocos", train_vocos)
    spaces = {
        "mel": f"mel:vocos={vocos}",
        "semantic": f"latent:vae={vae_sem}",
        "plain": f"latent:vae={vae_plain}",
    }
    st.run("mel features", extract, "features", "--space", spaces["mel"], "mel", cuts=f5_cuts)
    st.run("semantic latents", extract, "features", "--space", spaces["semantic"], "semantic", cuts=f5_cuts)
    st.run("plain latents", extract, "features", "--space", spaces["plain"], "plain", cuts=f5_cuts)

    def wer_curve_args(name: str) -> list[str]:
        """The WERCallback of a pipeline's ``wer_curve`` block, on this run's test list, writing
        OUT/runs/<name>/wer_steps.jsonl (where the benchmark spec's ``curve`` finds it)."""
        if not pipeline.get("wer_curve"):
            return []
        callback = {"class_path": "tts.wer_callback.WERCallback",
                    "init_args": {**pipeline["wer_curve"], "utterances": str(corpus / "test_list.jsonl"),
                                  "out": str(out / "runs" / name / "wer_steps.jsonl")}}
        return ["--trainer.callbacks+=" + json.dumps(callback)]

    def train_f5(name: str) -> str:
        """The F5 recipes name their space and features inside the run directory (recipes/space/*.yaml:
        ${run_dir}/models/..., ${run_dir}/feats/...), where the stages above put them."""
        from tts.f5.export import export
        from tts.say import store_default_prompt

        model_dir = export(train(name, wer_curve_args(name)), out / "models" / name)
        store_default_prompt(model_dir, corpus / "test_list.jsonl")  # what tts say / tts serve speak with
        return str(model_dir)

    st.run("F5 on mel", train_f5, "f5_mel")
    st.run("F5 on semantic latents", train_f5, "f5_semantic")
    st.run("F5 on plain latents", train_f5, "f5_plain")
    # The benchmark spec names the models as ${run_dir}/models/<name>, as laid out above.
    spec = load_spec(REPO / pipeline["bench"]["spec"], run_dir=out)
    summary = st.run("benchmark", lambda: _bench_summary(run_bench(spec, out / "bench"), out / "bench"))
    from tts.bench.timing import machine_info

    # the machine too: any budget gives a faster host more steps (eval/reports/demo_303c14f/README.md)
    atomic_write_json(out / "pipeline.json", {"scale": scale, "pipeline": pipeline, "stage_seconds": st.times,
                                              "wall_seconds_this_run": time.time() - t0, "machine": machine_info()})
    return summary if isinstance(summary, dict) else {}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="tts demo",
        description="Run the whole pipeline offline on the embedded corpus: corpus -> teacher features -> "
        "semantic and plain VAE -> Vocos -> features -> F5 on mel / semantic / plain latents -> WER benchmark "
        "report (OUT/bench/report.md; OUT/bench/report.html with players). Each stage is cached in OUT; "
        "re-running resumes where it stopped.",
    )
    p.add_argument("--scale", choices=SCALES, default="demo",
                   help="smoke: minutes, for tests; demo: <= 30 min on 2 CPU cores (the cpu scale's design in "
                   "small: 3 min of duration-aligned DiT per space); cpu: <= 150 min on 2 CPU cores, natural "
                   "voice, duration-aligned DiT (the scale whose report decides semantic vs plain vs mel); "
                   "voices: <= 150 min on 2 CPU cores, 48 training and 18 held-out speakers, every voice aligned "
                   "by the project's aligner, prompts from unseen speakers, predicted durations (WER and SIM to "
                   "the prompt: does cloning happen); mini: one GPU, <= 10 min")
    p.add_argument("--out", default=None, help="output folder (default work/<scale>)")
    p.add_argument("--pipeline", default=None, help="pipeline YAML (default recipes/<scale>/pipeline.yaml); checked before any stage runs "
                   "(tts.demo.validate_pipeline lists its keys and ranges)")
    args = p.parse_args(argv)
    out = Path(args.out or f"work/{args.scale}").resolve()
    pipeline_path = Path(args.pipeline or REPO / "recipes" / args.scale / "pipeline.yaml")
    try:
        pipeline = validate_pipeline(yaml.safe_load(pipeline_path.read_text(encoding="utf-8")), str(pipeline_path))
    except (OSError, yaml.YAMLError, PipelineError) as e:
        p.error(f"--pipeline: {e}")
    t0 = time.time()
    run_pipeline(args.scale, out, pipeline)
    print(f"tts demo ({args.scale}) finished in {time.time() - t0:.0f} s; report: {out / 'bench' / 'report.md'}")
    print(f"page to listen to (open in a browser): {out / 'bench' / 'report.html'}")
    return 0
