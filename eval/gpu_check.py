"""The prepared GPU check: one command, a bare GPU machine, <= 8 minutes, <= 8 result files.

    eval/gpu_check.sh OUT_DIR              # on the GPU machine (its own Python 3.12 + torch)
    eval/gpu_check.sh --dry-run OUT_DIR    # on the CPU, tiny sizes: proves the script itself works

Parts, in order, each with its own time budget; each writes its results as soon as it finishes, and a
failed or timed-out part is recorded and the next one runs:

1. setup       offline install of the carried wheels (.gpu-wheels/, `make gpu-wheels`) that the machine
               lacks; GPU, driver, torch/CUDA versions; lazy-import check of the package  -> env.json
2. cuda_tests  pytest -m cuda tests/cuda: bf16-mixed forward+backward (DiT, VAE with both decoders,
               Vocos), the SDPA kernel of padded batches, `tts fit` of each smoke recipe in bf16 with
               checkpoint + resume, Lightning DDP with two processes on the one GPU  -> cuda_tests.json
3. bench_f5    eval/bench_f5.py at F5TTS_v1_Small size in bf16: mel vs latent, ours vs the F5-TTS
               reference (model files from the f5-tts wheel), plus model FLOPs utilization (FLOPs of one
               training step from torch.utils.flop_counter) against 790 TFLOP/s dense bf16 -> bench_f5.json
4. bench_vae   the paper Semantic-VAE training step (recipes/vae/semantic.yaml) with its BigVGAN decoder
               and with a Vocos-style decoder, in the recipe's precision (fp32) and in bf16-mixed:
               steps/s, audio-s/s, MFU, peak memory -> bench_vae.json
5. train       F5 DiT (recipes/f5/base.yaml + recipes/mini/f5.yaml, on mel) trained for the remaining minutes on the carried
               embedded corpus (.gpu-corpus/, `make gpu-corpus`): loss curve -> train.json, train_loss.svg

Always written: report.md (a summary of every part, rewritten after each) and log.txt (the output of
every command run). Nothing downloads; everything the check needs travels with the working tree (the wheels
and the corpus pack: ``eval/gpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from eval.gpu.corpus import rebase_corpus
from eval.gpu.wheels import install_wheels

ROOT = Path(__file__).resolve().parents[1]
# The H200 dense bf16 peak the issue gives (NVIDIA's sheets differ by form factor: check the model the
# check ran on, in env.json); the raw FLOPs and times are in the JSON files, so MFU can be recomputed.
PEAK_BF16_FLOPS = 790e12
LOG_LIMIT = 12 * 2**20  # log.txt stays under 16 MiB
HEAVY_OPTIONAL = ("fairseq2", "faster_whisper", "ctranslate2", "pocketsphinx", "resemblyzer", "pesq", "pystoi")


# ------------------------------------------------------------------------------------------ helpers
def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    tmp.replace(path)


class Check:
    """Runs the parts, keeps their status, and writes report.md + log.txt as it goes."""

    def __init__(self, out: Path, dry_run: bool, budget_s: float, args: argparse.Namespace):
        self.out, self.dry_run, self.args = out, dry_run, args
        self.t0 = time.time()
        self.deadline = self.t0 + budget_s
        self.status: dict[str, dict] = {}
        self.extra_path: list[str] = []  # unpacked wheels, when pip could not install them
        self.tmp = Path(tempfile.mkdtemp(prefix="gpu_check_"))
        self.log_path = out / "log.txt"
        self.log_path.write_text(f"# python -m eval.gpu_check {'--dry-run ' if dry_run else ''}{out}\n")

    def log(self, text: str) -> None:
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        if size + len(text) > LOG_LIMIT:
            text = text[-max(0, LOG_LIMIT - size - 200):]
            text = "[... output cut: log.txt size limit ...]\n" + text
        with open(self.log_path, "a", errors="replace") as f:
            f.write(text)

    def remaining(self) -> float:
        return self.deadline - time.time()

    def run(self, cmd: list[str], timeout: float, env: dict | None = None, name: str = "") -> tuple[int, str]:
        """Run ``cmd`` (its own process group, killed whole on timeout); output appended to log.txt.
        Returns (exit code or 124 on timeout, output)."""
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], *self.extra_path])
        self.log(f"\n$ {' '.join(cmd)}   [{name}, timeout {timeout:.0f} s, t={time.time() - self.t0:.0f} s]\n")
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=max(1.0, timeout))
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            rc = 124
            out += f"\n[killed: over its {timeout:.0f} s budget]\n"
        self.log(out[-2_000_000:] + f"[exit {rc}]\n")
        return rc, out

    def part(self, name: str, budget: float, fn) -> None:
        """Run part ``fn(budget)`` within ``budget`` seconds (cut to what is left of the whole check)."""
        budget = min(budget, self.remaining())
        t = time.time()
        if budget < 5:
            self.status[name] = {"status": "skipped", "reason": "no time left", "seconds": 0}
        else:
            try:
                summary = fn(budget) or {}
                self.status[name] = {"status": summary.pop("status", "ok"), **summary}
            except Exception as e:  # a failed part is recorded; the next one runs
                self.status[name] = {"status": "failed", "error": f"{type(e).__name__}: {e}"[-3000:],
                                     "traceback": traceback.format_exc()[-3000:]}
            self.status[name]["seconds"] = round(time.time() - t, 1)
            self.status[name]["budget_s"] = round(budget)
        self.log(f"\n== part {name}: {self.status[name]['status']} in {self.status[name]['seconds']} s\n")
        self.write_report()

    def write_report(self) -> None:
        lines = [
            f"# GPU check{' (dry run on CPU)' if self.dry_run else ''}",
            "",
            f"Command: `eval/gpu_check.sh {'--dry-run ' if self.dry_run else ''}{self.out.name}`; "
            f"commit {git_commit()}; started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.t0))}; "
            f"{time.time() - self.t0:.0f} s so far.",
            "",
            "| part | status | seconds (budget) | result |",
            "|---|---|---|---|",
        ]
        for name, st in self.status.items():
            headline = st.get("headline") or st.get("reason") or st.get("error", "")
            lines.append(f"| {name} | {st['status']} | {st.get('seconds', '')} ({st.get('budget_s', '-')}) | "
                         f"{str(headline).replace('|', '/')[:600]} |")
        for name, st in self.status.items():
            if st.get("details"):
                lines += ["", f"## {name}", "", st["details"]]
        (self.out / "report.md").write_text("\n".join(lines) + "\n")


def git_commit() -> str:
    from tts.io import git_commit as commit  # stdlib only: importable before the carried wheels are installed

    return commit(ROOT)


def last_json(text: str) -> dict:
    """The last line of ``text`` that parses as a JSON object (workers print their result last)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise RuntimeError(f"no JSON result in the output:\n{text[-3000:]}")


def worker(check: Check, kind: str, cfg: dict, timeout: float) -> dict:
    rc, out = check.run([sys.executable, "-m", "eval.gpu_check", "--worker", kind, "--worker-config", json.dumps(cfg)],
                        timeout, name=f"worker {kind}")
    if rc != 0:
        raise RuntimeError(f"worker {kind} exit {rc}: {out[-2500:]}")
    return last_json(out)


# --------------------------------------------------------------------------------------- 1. setup
def part_setup(check: Check, budget: float) -> dict:
    t = time.time()
    install = install_wheels(check.run, Path(check.args.wheels), check.tmp, check.dry_run, budget / 2)
    if install.get("site"):
        check.extra_path.append(install["site"])
    env = worker(check, "env", {"dry_run": check.dry_run}, max(10.0, budget - (time.time() - t)))
    env["wheels"] = install
    env["commit"] = git_commit()
    write_json(check.out / "env.json", env)
    gpu = env.get("gpu") or {}
    headline = (f"{gpu.get('name', 'no GPU')}, driver {env.get('driver', '?')}, torch {env['torch']} "
                f"(CUDA {env.get('torch_cuda')}), Python {env['python']}; installed {len(install['installed'])} "
                f"wheels, {len(install['present'])} already present; lazy imports: "
                f"{'ok' if not env['heavy_imports'] else env['heavy_imports']}"
                + (f"; import errors: {env['import_errors']}" if env.get("import_errors") else ""))
    status = "failed" if install.get("error") or env["heavy_imports"] else "ok"
    return {"status": status, "headline": headline}


def worker_env(cfg: dict) -> dict:
    import importlib
    import importlib.metadata as md

    import torch

    info: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "capability": f"{p.major}.{p.minor}", "memory_gib": round(p.total_memory / 2**30, 1),
                       "multiprocessors": p.multi_processor_count, "count": torch.cuda.device_count(),
                       "bf16": torch.cuda.is_bf16_supported()}
        info["sdpa"] = {"flash": torch.backends.cuda.flash_sdp_enabled(),
                        "mem_efficient": torch.backends.cuda.mem_efficient_sdp_enabled(),
                        "cudnn": torch.backends.cuda.cudnn_sdp_enabled()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,power.limit,clocks.max.sm",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=20)
        info["nvidia_smi"] = smi.stdout.strip()
        info["driver"] = smi.stdout.split(",")[1].strip() if smi.returncode == 0 and "," in smi.stdout else None
    except (OSError, subprocess.SubprocessError):
        info["nvidia_smi"], info["driver"] = None, None
    versions = {}
    for dist in ("lightning", "torchaudio", "numpy", "torchdiffeq", "onnxruntime", "tensorboard", "lhotse", "vocos",
                 "jsonargparse", "safetensors", "soundfile", "x-transformers", "ema-pytorch", "pytest", "jiwer"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    info["packages"] = versions
    # The package must import without its heavy optional dependencies (they are not on the GPU machine).
    before, errors = set(sys.modules), {}
    for mod in ("tts.cli", "tts.f5.module", "tts.vae.module", "tts.vocoder", "tts.features.vocos", "tts.data.datamodule",
                "tts.features.extract", "tts.synth", "tts.bench.runner"):
        try:
            importlib.import_module(mod)
        except Exception as e:  # recorded: a module that needs a package the machine lacks
            errors[mod] = f"{type(e).__name__}: {e}"
    info["heavy_imports"] = sorted({m.split(".")[0] for m in set(sys.modules) - before} & set(HEAVY_OPTIONAL))
    info["import_errors"] = errors
    return info


# ---------------------------------------------------------------------------------- 2. cuda_tests
def part_cuda_tests(check: Check, budget: float) -> dict:
    junit = check.tmp / "junit.xml"
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "tests/cuda", "-m", "cuda",
           f"--junitxml={junit}", "-o", "junit_logging=system-out", "-rA"]
    env = {}
    if check.dry_run:  # the CPU stands in for the GPU; one quick test proves the plumbing
        env["TTS_CUDA_TESTS_ON_CPU"] = "1"
        cmd += ["-k", "sdpa"]
    rc, out = check.run(cmd, budget - 3, env=env, name="pytest tests/cuda")
    # junit.xml is written at the end; a run cut off by its budget leaves the -v lines of the tests done
    tests = parse_junit(junit) if junit.exists() else [
        {"name": m[1], "module": m[0], "outcome": m[2].lower(), "seconds": None}
        for m in re.findall(r"^(tests/cuda/\S+?)::(\S+) (PASSED|FAILED|ERROR|SKIPPED)", out, flags=re.M)]
    counts: dict[str, int] = {}
    for t in tests:
        counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
    sdpa = re.findall(r"SDPA kernels \(padded batch\): (.*)", out + "".join(t.get("stdout", "") for t in tests))
    result = {"exit_code": rc, "counts": counts, "tests": tests, "sdpa_kernels": sdpa[-1] if sdpa else None,
              "tail": out[-3000:], "dry_run": check.dry_run}
    write_json(check.out / "cuda_tests.json", result)
    failed = [t["name"] for t in tests if t["outcome"] in ("failed", "error")]
    headline = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or f"no results (exit {rc})"
    if failed:
        headline += "; failed: " + ", ".join(failed)
    if sdpa:
        headline += f"; SDPA kernels: {sdpa[-1]}"
    ok = rc == 0 and not failed and counts.get("passed", 0) > 0
    return {"status": "ok" if ok else ("timeout" if rc == 124 else "failed"), "headline": headline}


def parse_junit(path: Path) -> list[dict]:
    import xml.etree.ElementTree as ET

    rows = []
    for case in ET.parse(path).getroot().iter("testcase"):
        row = {"name": case.get("name"), "module": case.get("classname"), "seconds": float(case.get("time") or 0),
               "outcome": "passed"}
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                row["outcome"] = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                row["message"] = ((el.get("message") or "") + "\n" + (el.text or ""))[-2500:]
        out = case.find("system-out")
        if out is not None and out.text:
            row["stdout"] = out.text[-1500:]
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------ 3. bench_f5
def f5_reference_env(check: Check) -> dict | None:
    """Environment under which eval/bench_f5.py finds the F5-TTS reference (tts.f5.convert.reference_modules),
    or None: an installed f5-tts as is (`make f5-ref`), else the model files `make gpu-wheels` unpacked to
    .gpu-wheels/f5ref, with empty stand-ins for the three imports of theirs that the DiT + CFM never call
    (rjieba and pypinyin: Chinese text; librosa: the BigVGAN mel filters)."""
    import importlib.util

    if importlib.util.find_spec("f5_tts") is not None:
        return {}
    carried = Path(check.args.wheels) / "f5ref"
    if not (carried / "f5_tts/model/cfm.py").exists():
        return None
    stubs = check.tmp / "f5ref_stubs"
    (stubs / "librosa").mkdir(parents=True, exist_ok=True)
    for name, text in {"rjieba.py": "", "pypinyin.py": "Style = object\nlazy_pinyin = None\n",
                       "librosa/__init__.py": "", "librosa/filters.py": "def mel(*args, **kwargs):\n"
                       "    raise RuntimeError('librosa stand-in of eval/gpu_check.py: not installed')\n"}.items():
        if importlib.util.find_spec(name.split("/")[0].removesuffix(".py")) is None:
            (stubs / name).write_text(text)
    return {"PYTHONPATH": os.pathsep.join([str(ROOT), str(carried.resolve()), str(stubs)])}


def part_bench_f5(check: Check, budget: float) -> dict:
    out = check.tmp / "bench_f5"
    if check.dry_run:
        size = ["--device", "cpu", "--dit-recipe", "recipes/smoke/f5.yaml", "--nfe", "2", "--repeats", "1",
                "--utts", "1", "--train-seconds", "1.0", "0.5", "--ref-rounds", "1", "--threads", "1"]
    else:
        size = ["--device", "cuda", "--dit-recipe", "recipes/f5/small.yaml", "--nfe", "32", "--repeats", "3",
                "--ref-rounds", "2", "--threads", "4"]
    # (the dry run leaves the reference out: two more processes; on the GPU it runs from .gpu-wheels/f5ref)
    ref_env = None if check.dry_run and not check.args.reference else f5_reference_env(check)
    cmd = [sys.executable, "-m", "eval.bench_f5", "--out", str(out), "--precision", "bf16-mixed", *size]
    cmd += ["--ref-python", sys.executable] if ref_env is not None else ["--reference", "off"]
    t = time.time()
    rc, text = check.run(cmd, budget * 0.8, env=ref_env, name="bench_f5")
    if rc != 0:
        raise RuntimeError(f"eval/bench_f5.py exit {rc}: {text[-2500:]}")
    report = json.loads((out / "report.json").read_text())
    result: dict = {"report": report, "report_md": (out / "report.md").read_text(), "peak_bf16_flops": PEAK_BF16_FLOPS}
    # FLOPs of one training step on the shapes the bench timed (ours; the reference does the same math)
    spaces = report["spaces"]
    shapes = {"ours_vs_reference": None, "mel": None, "latent": None}
    ref_cfg = (report.get("reference") or {}).get("config")
    if ref_cfg:
        shapes["ours_vs_reference"] = {"feat_dim": ref_cfg["feat_dim"], "lens": ref_cfg["train_lens"],
                                       "text_len": ref_cfg["text_len"], "vocab_size": ref_cfg["vocab_size"]}
    train_s = [float(x) for x in size[size.index("--train-seconds") + 1:][:2]] if "--train-seconds" in size else [
        6.0, 5.0, 4.0, 3.0]
    for name in ("mel", "latent"):
        shapes[name] = {"feat_dim": spaces[name]["feat_dim"], "lens": [round(s * spaces[name]["frame_rate"])
                                                                     for s in train_s],
                        "text_len": 120, "vocab_size": 256}
    cfg = {"dit": report["dit"], "device": "cpu" if check.dry_run else "cuda",
           "shapes": {k: v for k, v in shapes.items() if v}}
    flops = worker(check, "flops", cfg, max(10.0, budget - (time.time() - t)))
    result["train_step_flops"] = flops
    mfu = {}
    for name in ("mel", "latent"):
        if name in flops:
            mfu[name] = flops[name] / spaces[name]["train_step_s"] / PEAK_BF16_FLOPS
    ref_rep = report.get("reference") or {}
    if "ours" in ref_rep and "ours_vs_reference" in flops:
        f = flops["ours_vs_reference"]
        mfu["ours"] = f / ref_rep["ours"]["train_step_s"] / PEAK_BF16_FLOPS
        mfu["reference"] = f / ref_rep["reference"]["train_step_s"] / PEAK_BF16_FLOPS
    result["mfu"] = mfu
    write_json(check.out / "bench_f5.json", result)
    parts = [f"MFU {k} {v:.1%}" for k, v in mfu.items()]
    if "ours" in ref_rep:
        parts.append(f"train speed-up vs reference {ref_rep['train_speedup']:.2f}x, sampling "
                     f"{ref_rep['sample_speedup']:.2f}x")
    else:
        parts.append(f"reference: {ref_rep.get('skipped', 'not run')}")
    parts.append(f"RTF batch 1 mel {spaces['mel']['rtf_batch1']:.4f} / latent {spaces['latent']['rtf_batch1']:.4f}; "
                 f"train audio-s/s mel {spaces['mel']['train_audio_s_per_s']:.0f} / latent "
                 f"{spaces['latent']['train_audio_s_per_s']:.0f}")
    return {"headline": "; ".join(parts), "details": result["report_md"]}


def worker_flops(cfg: dict) -> dict:
    """FLOPs (forward + backward) of one CFM training step of the DiT for each named batch shape."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tts.f5.cfm import CFM
    from tts.f5.dit import DiT

    dev = cfg["device"]
    out = {}
    for name, sh in cfg["shapes"].items():
        torch.manual_seed(0)
        net = DiT(feat_dim=sh["feat_dim"], vocab_size=sh["vocab_size"], **{**cfg["dit"], "dropout": 0.0})
        cfm = CFM(net).to(dev).train()
        feats = torch.randn(len(sh["lens"]), max(sh["lens"]), sh["feat_dim"], device=dev)
        lens = torch.tensor(sh["lens"], device=dev)
        text = torch.randint(1, sh["vocab_size"], (len(lens), sh["text_len"]), device=dev)
        counter = FlopCounterMode(display=False)
        with counter, torch.autocast(torch.device(dev).type, dtype=torch.bfloat16):
            loss, _ = cfm(feats, lens, text)
        with counter:
            loss.backward()
        out[name] = counter.get_total_flops()
        del cfm, net
    return out


# ----------------------------------------------------------------------------------- 4. bench_vae
def part_bench_vae(check: Check, budget: float) -> dict:
    import yaml

    from eval import bench_vae

    recipe = "recipes/smoke/vae_semantic.yaml" if check.dry_run else "recipes/vae/semantic.yaml"
    init = yaml.safe_load((ROOT / recipe).read_text())
    alt = bench_vae.ALTERNATIVES["paper"]
    if check.dry_run:
        decoders = {"BigVGAN": {"class_path": "tts.vae.model.BigVGANDecoder",
                                "init_args": {"channels": 64, "resblock_kernel_sizes": [3], "anti_alias": False}},
                    "Vocos-style": init["model"]["init_args"]["decoder"]}
    else:
        decoders = {"BigVGAN": init["model"]["init_args"]["decoder"], "Vocos-style": alt}
    cfg = {"recipe": recipe, "decoders": decoders, "device": "cpu" if check.dry_run else "cuda",
           "timed_batches": 2 if check.dry_run else 5, "warmup_batches": 1 if check.dry_run else 2,
           "batch_size": 2 if check.dry_run else None, "crop_seconds": 0.5 if check.dry_run else None,
           # the recipe's precision (the paper VAE trains in fp32, as the reference) and bf16-mixed beside it
           "precisions": [None] if check.dry_run else [None, "bf16-mixed"]}
    rc, text = check.run([sys.executable, "-m", "eval.gpu_check", "--worker", "vae-speed", "--worker-config", json.dumps(cfg)],
                         budget - 2, name="worker vae-speed")
    rows = {}
    for line in text.splitlines():  # the rows done, also when the worker was cut off by its budget
        if line.startswith('{"row"'):
            done = json.loads(line)
            rows[done["row"]] = done["result"]
    if not rows:
        raise RuntimeError(f"worker vae-speed exit {rc}, no rows: {text[-2500:]}")
    result = {"recipe": recipe, "rows": rows, "exit_code": rc, "peak_bf16_flops": PEAK_BF16_FLOPS,
              "note": "MFU against the dense bf16 peak also for fp32 rows (where cuDNN convolutions may use TF32)"}
    write_json(check.out / "bench_vae.json", result)
    lines = ["| decoder | params (M) | precision | batch x s | steps/s | audio-s/s | TFLOP/step | MFU | peak GiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    heads = []
    for name, r in rows.items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error'][-200:]} | | | | | | | |")
            heads.append(f"{name} failed")
            continue
        lines.append(f"| {name} | {r['params_M']} | {r['precision']} | {r['batch_size']} x {r['crop_seconds']} | "
                     f"{r['steps_per_s']:.2f} | {r['audio_s_per_s']:.1f} | {r['flops_per_step'] / 1e12:.2f} | "
                     f"{r['mfu']:.1%} | {r['peak_memory_gib']} |")
        heads.append(f"{name}: {r['steps_per_s']:.2f} steps/s, {r['audio_s_per_s']:.0f} audio-s/s, MFU {r['mfu']:.1%}, "
                     f"peak {r['peak_memory_gib']} GiB")
    status = "ok" if rc == 0 and all("error" not in r for r in rows.values()) else "failed"
    return {"status": status, "headline": "; ".join(heads),
            "details": f"Training step of `{recipe}` (generator + discriminators, GAN on from the first step, "
                       "random audio and teacher features):\n\n" + "\n".join(lines)}


def worker_vae_speed(cfg: dict) -> dict:
    """{row: figures or {"error"}} for each of cfg's decoders x precisions (None = the recipe's); one failing
    does not stop the next. Each row is also printed as it finishes, so a run cut off keeps the rows done."""
    import torch

    out = {}
    for name, decoder in cfg["decoders"].items():
        for precision in cfg.get("precisions") or [None]:
            row = f"{name}, {precision}" if precision else name
            try:
                out[row] = vae_speed({**cfg, "decoder": decoder, "precision": precision})
            except Exception as e:
                out[row] = {"error": f"{type(e).__name__}: {e}"[-2500:]}
            print(json.dumps({"row": row, "result": out[row]}), flush=True)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
    return out


def vae_speed(cfg: dict) -> dict:
    """Time full VAEModule training steps (Lightning, the recipe's precision) with cfg's decoder."""
    import lightning as L
    import torch
    import yaml
    from torch.utils.data import DataLoader
    from torch.utils.flop_counter import FlopCounterMode

    from tts.vae.module import VAEModule

    recipe = yaml.safe_load((ROOT / cfg["recipe"]).read_text())
    init = {k: v for k, v in recipe["model"]["init_args"].items()}
    init["decoder"], init["gan_start_step"] = cfg["decoder"], 0
    data = recipe["data"]["init_args"]
    batch_size = cfg["batch_size"] or data["batch_size"]
    crop_s = cfg["crop_seconds"] or data["crop_seconds"]
    precision = cfg.get("precision") or recipe["trainer"].get("precision", "32-true")
    dev = cfg["device"]
    n = round(crop_s * 16000)
    n_t = round(crop_s * 50)
    gen = torch.Generator().manual_seed(0)

    def items(count: int) -> list[dict]:
        return [{"wav": 0.1 * torch.randn(n, generator=gen), "wav_lens": torch.tensor(n),
                 "teacher": torch.randn(n_t, init["loss"]["init_args"].get("teacher_dim", 384), generator=gen),
                 "teacher_lens": torch.tensor(n_t)} for _ in range(count)]

    class Timer(L.Callback):
        def __init__(self):
            self.times: list[float] = []

        def on_train_batch_start(self, *a):
            if dev == "cuda":
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_train_batch_end(self, *a):
            if dev == "cuda":
                torch.cuda.synchronize()
            self.times.append(time.perf_counter() - self.t)

    def trainer(batches: int, callbacks: list) -> L.Trainer:
        return L.Trainer(accelerator="gpu" if dev == "cuda" else "cpu", devices=1, precision=precision,
                         max_steps=batches, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
                         callbacks=callbacks)

    torch.manual_seed(0)
    module = VAEModule.from_init_args(init)
    params = sum(p.numel() for p in module.vae.parameters())
    total = cfg["warmup_batches"] + cfg["timed_batches"]
    timer = Timer()
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    loader = DataLoader(items(batch_size), batch_size=batch_size)
    trainer(total, [timer]).fit(module, loader)  # the loader cycles over its one batch
    timed = timer.times[cfg["warmup_batches"]:]
    step_s = sum(timed) / len(timed)
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else None
    counter = FlopCounterMode(display=False)
    with counter:  # FLOPs of one batch: generator + discriminator forward and backward
        trainer(1, []).fit(module, loader)
    flops = counter.get_total_flops()
    return {"decoder": cfg["decoder"]["class_path"].rsplit(".", 1)[-1], "decoder_args": cfg["decoder"]["init_args"],
            "params_M": round(params / 1e6, 2), "precision": precision, "batch_size": batch_size,
            "crop_seconds": crop_s, "step_s": step_s, "step_times": timed, "steps_per_s": 1 / step_s,
            "audio_s_per_s": batch_size * crop_s / step_s, "flops_per_step": flops,
            "mfu": flops / step_s / PEAK_BF16_FLOPS, "peak_memory_gib": round(peak, 2) if peak else None}


# ---------------------------------------------------------------------------------------- 5. train
def part_train(check: Check, budget: float) -> dict:
    pack = Path(check.args.corpus)
    if not (pack / "cuts_train.jsonl.gz").exists():
        raise FileNotFoundError(f"no corpus pack at {pack} (run `make gpu-corpus`; it travels in the carry list)")
    t = time.time()
    corpus = rebase_corpus(pack, check.tmp / "corpus")
    feats = check.tmp / "feats"
    dev = "cpu" if check.dry_run else "cuda"
    for split in ("train", "dev"):
        rc, out = check.run([sys.executable, "-m", "tts.cli", "extract", "features", "--space", "mel", "--device", dev,
                             "--cuts", str(corpus / f"cuts_{split}.jsonl.gz"), "--out", str(feats / split)],
                            budget / 4, name=f"extract mel {split}")
        if rc != 0:
            raise RuntimeError(f"mel extraction ({split}) exit {rc}: {out[-2000:]}")
    left = budget - (time.time() - t) - 25  # leave time to start up, validate once more and write
    if left < 20:
        raise RuntimeError(f"only {left:.0f} s left for training")
    run_dir = check.tmp / "train"
    recipe = "recipes/smoke/f5.yaml" if check.dry_run else "recipes/mini/f5.yaml"  # after recipes/f5/base.yaml
    logger = {"class_path": "lightning.pytorch.loggers.CSVLogger",
              "init_args": {"save_dir": str(run_dir), "name": "f5_mel", "version": 0}}
    train_s = 0 if check.dry_run else max(30, int(left - 30))  # ~30 s of start-up inside the fit
    argv = [sys.executable, "-m", "tts.cli", "fit", "-c", "recipes/f5/base.yaml", "-c", recipe, "--model.init_args.space=mel",
            f"--data.init_args.train_cuts={feats / 'train' / 'cuts.jsonl.gz'}",
            f"--data.init_args.val_cuts={feats / 'dev' / 'cuts.jsonl.gz'}",
            f"--trainer.default_root_dir={run_dir}", "--trainer.logger=" + json.dumps(logger),
            "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false", "--trainer.enable_progress_bar=false",
            f"--trainer.log_every_n_steps={1 if check.dry_run else 10}"]
    if check.dry_run:
        argv += ["--trainer.max_steps=6", "--trainer.limit_val_batches=1"]
    else:
        argv += [f"--trainer.max_time=00:00:{train_s // 60:02d}:{train_s % 60:02d}", "--trainer.max_steps=100000",
                 "--trainer.val_check_interval=100", "--trainer.limit_val_batches=4"]
    t_fit = time.time()
    rc, out = check.run(argv, left, name="tts fit (train)")
    wall = time.time() - t_fit
    metrics = run_dir / "f5_mel" / "version_0" / "metrics.csv"
    curve = read_metrics(metrics) if metrics.exists() else {"train": [], "val": []}
    corpus_info = json.loads((pack / "corpus.json").read_text()) if (pack / "corpus.json").exists() else {}
    steps = curve["train"][-1][0] + 1 if curve["train"] else 0  # (the last logged step, 0-based)
    result = {"recipe": recipe, "overrides": argv[5:], "exit_code": rc, "wall_s": round(wall, 1),
              "train_time_s": train_s, "steps": steps, "steps_per_s": steps / wall if wall else None,
              "corpus": {k: corpus_info.get(k) for k in ("hours", "utterances", "speakers", "splits", "voices") if k in corpus_info},
              "loss": curve["train"], "val_loss": curve["val"],
              "wer": "not measured: no ASR travels (faster-whisper/CTranslate2 + Whisper weights exceed the 64 MiB carry)",
              "tail": out[-2000:]}
    write_json(check.out / "train.json", result)
    (check.out / "train_loss.svg").write_text(loss_svg(curve, f"F5 DiT on mel, {recipe}, {steps} steps"))
    if rc != 0:
        raise RuntimeError(f"tts fit exit {rc}: {out[-2000:]}")
    first = curve["train"][0][1] if curve["train"] else float("nan")
    last = curve["train"][-1][1] if curve["train"] else float("nan")
    val = f", val loss {curve['val'][-1][1]:.3f}" if curve["val"] else ""
    return {"headline": f"{steps} steps in {wall:.0f} s; train loss {first:.3f} -> {last:.3f}{val} (train_loss.svg)"}


def read_metrics(path: Path) -> dict:
    import csv

    train, val = [], []
    with open(path) as f:
        for row in csv.DictReader(f):
            step = int(float(row.get("step") or 0))
            if row.get("train/loss"):
                train.append([step, float(row["train/loss"])])
            if row.get("val/loss"):
                val.append([step, float(row["val/loss"])])
    return {"train": train, "val": val}


def loss_svg(curve: dict, title: str, w: int = 640, h: int = 360) -> str:
    """A small self-contained SVG line plot (matplotlib need not be on the GPU machine)."""
    pts = curve["train"] + curve["val"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{w / 2}" y="18" text-anchor="middle">{title}</text>']
    if pts:
        x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts) or 1
        y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
        x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1e-6)
        L, R, T, B = 60, w - 20, 30, h - 40

        def xy(p):
            return L + (p[0] - x0) / (x1 - x0) * (R - L), B - (p[1] - y0) / (y1 - y0) * (B - T)

        parts.append(f'<line x1="{L}" y1="{B}" x2="{R}" y2="{B}" stroke="black"/>'
                     f'<line x1="{L}" y1="{T}" x2="{L}" y2="{B}" stroke="black"/>')
        for v, y in ((y0, B), (y1, T)):
            parts.append(f'<text x="{L - 5}" y="{y + 4}" text-anchor="end">{v:.3g}</text>')
        for v, x in ((x0, L), (x1, R)):
            parts.append(f'<text x="{x}" y="{B + 16}" text-anchor="middle">{v:g}</text>')
        parts.append(f'<text x="{(L + R) / 2}" y="{h - 6}" text-anchor="middle">step</text>')
        for key, color in (("train", "#1f77b4"), ("val", "#d62728")):
            if curve[key]:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, curve[key]))
                parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        parts.append(f'<text x="{R}" y="{T + 12}" text-anchor="end" fill="#1f77b4">train/loss</text>'
                     f'<text x="{R}" y="{T + 26}" text-anchor="end" fill="#d62728">val/loss</text>')
    else:
        parts.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">no loss logged</text>')
    return "".join(parts) + "</svg>\n"


# ------------------------------------------------------------------------------------------ main
BUDGETS = {  # seconds per part on the GPU (the whole check: --budget-s, default 470)
    "setup": 40, "cuda_tests": 180, "bench_f5": 100, "bench_vae": 100, "train": 600,
}
PARTS = {"setup": part_setup, "cuda_tests": part_cuda_tests, "bench_f5": part_bench_f5,
         "bench_vae": part_bench_vae, "train": part_train}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("out", nargs="?", help="output folder (created; at most 8 files are written there)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes, seconds: checks the script itself")
    p.add_argument("--budget-s", type=float, default=None, help="the whole check's wall-time budget "
                   "(default 470 s on a GPU, 900 s for a dry run)")
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS), help="run only these parts")
    p.add_argument("--wheels", default=str(ROOT / ".gpu-wheels"), help="carried wheels (`make gpu-wheels`)")
    p.add_argument("--corpus", default=str(ROOT / ".gpu-corpus"), help="carried corpus pack (`make gpu-corpus`)")
    p.add_argument("--reference", action="store_true", help="dry run: time the F5-TTS reference too")
    p.add_argument("--worker", choices=("env", "flops", "vae-speed"), help=argparse.SUPPRESS)
    p.add_argument("--worker-config", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        fn = {"env": worker_env, "flops": worker_flops, "vae-speed": worker_vae_speed}[args.worker]
        print(json.dumps(fn(json.loads(args.worker_config))), flush=True)
        return 0
    if not args.out:
        p.error("OUT_DIR is required")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    budget = args.budget_s or (900.0 if args.dry_run else 470.0)
    check = Check(out, args.dry_run, budget, args)
    check.write_report()
    try:
        for name in args.parts:
            part_budget = BUDGETS[name] if not args.dry_run else budget
            check.part(name, part_budget, lambda b, fn=PARTS[name]: fn(check, b))
    finally:
        shutil.rmtree(check.tmp, ignore_errors=True)
    failed = [n for n, st in check.status.items() if st["status"] != "ok"]
    print((out / "report.md").read_text())
    print(f"gpu_check: {len(check.status) - len(failed)}/{len(check.status)} parts ok"
          + (f"; not ok: {', '.join(failed)}" if failed else "") + f"; results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
