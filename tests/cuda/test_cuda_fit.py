"""`tts fit` of every smoke recipe on one device in bf16-mixed, with checkpoint + resume, and Lightning DDP.

Data: the tiny synthetic corpus of tests/conftest.py; the semantic VAE's teacher features are a fixed
random projection of the log-mel (no Whisper/HuBERT weights travel to the GPU machine; the CUDA path
does not depend on what the teacher is); the latent F5 runs on a randomly initialized smoke VAE.
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.cuda
REPO = Path(__file__).resolve().parents[2]
STEPS = 2  # batches before the checkpoint; the resumed run trains STEPS more
TIMEOUT = 300


def _accel(device: str) -> str:
    return "gpu" if device == "cuda" else "cpu"


def _run(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tts.cli", *argv], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def _ok(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope="module")
def smoke_data(tiny_corpus, tmp_path_factory):
    """{"corpus", "teacher", "mel", "latent", "vae"}: the caches the smoke recipes read."""
    from tts.data.cache import extract_to_cache
    from tts.features.extract import main as extract_features

    root = tmp_path_factory.mktemp("smoke_data")
    torch.manual_seed(0)
    proj = torch.randn(80, 384) / 9.0
    import torchaudio

    melspec = torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, hop_length=320, n_mels=80)

    def teacher(wavs):  # 50 Hz, 384 dims, as the Whisper tiny.en teacher writes them
        out = []
        for w in wavs:
            m = melspec(w).clamp(min=1e-5).log().T[: math.ceil(w.shape[0] / 320)]
            out.append((m @ proj).numpy())
        return out

    for split in ("train", "dev"):
        cuts = tiny_corpus / f"cuts_{split}.jsonl.gz"
        extract_to_cache(cuts, teacher, root / "teacher" / split, "teacher", 50.0, 16000)
        extract_features(["--space", "mel", "--cuts", str(cuts), "--out", str(root / "mel" / split)])
    # a smoke-size VAE, randomly initialized, exported as `tts export vae` writes it
    import yaml
    from safetensors.torch import save_file

    from tts.vae.model import build_vae

    init = yaml.safe_load((REPO / "recipes/smoke/vae_semantic.yaml").read_text())["model"]["init_args"]
    vae = build_vae(init["encoder"], init["decoder"])
    (root / "vae").mkdir()
    save_file({k: v.contiguous() for k, v in vae.state_dict().items()}, root / "vae" / "model.safetensors")
    (root / "vae" / "config.json").write_text(json.dumps({"encoder": init["encoder"], "decoder": init["decoder"],
                                                          "sample_rate": 16000}))
    return {"corpus": tiny_corpus, "teacher": root / "teacher", "mel": root / "mel", "vae": root / "vae",
            "root": root}


def _latents(data: dict, device: str) -> Path:
    out = data["root"] / f"latent_{device}"
    for split in ("train", "dev"):
        _ok(_run(["extract", "features", "--space", f"latent:vae={data['vae']}", "--device", device,
                  "--cuts", str(data["corpus"] / f"cuts_{split}.jsonl.gz"), "--out", str(out / split)]))
    return out


def _cuts(kind: str, data: dict, device: str) -> tuple[Path, Path]:
    if kind == "corpus":
        return data["corpus"] / "cuts_train.jsonl.gz", data["corpus"] / "cuts_dev.jsonl.gz"
    base = _latents(data, device) if kind == "latent" else data[kind]
    return base / "train" / "cuts.jsonl.gz", base / "dev" / "cuts.jsonl.gz"


RECIPES = {  # recipe -> (data, extra overrides, global steps per batch)
    "vae_semantic": ("teacher", [], 1),
    "vocos": ("corpus", [], 1),
    "f5_mel": ("mel", [], 1),
    "f5_latent": ("latent", [], 1),
}
FILES = {  # recipe -> its files (layered: base + smoke size; the F5 space and paths given on the line)
    "vae_semantic": ["recipes/vae/base.yaml", "recipes/smoke/vae_semantic.yaml"],
    "vocos": ["recipes/vocos/base.yaml", "recipes/smoke/vocos.yaml"],
    "f5_mel": ["recipes/f5/base.yaml", "recipes/smoke/f5.yaml"],
    "f5_latent": ["recipes/f5/base.yaml", "recipes/smoke/f5.yaml"],
}


def _fit_argv(recipe: str, train: Path, val: Path, run_dir: Path, device: str, max_steps: int,
              extra: list[str]) -> list[str]:
    return [
        "fit", "--run_dir", str(run_dir), *(a for f in FILES[recipe] for a in ("-c", str(REPO / f))),
        f"--data.init_args.train_cuts={train}", f"--data.init_args.val_cuts={val}",
        f"--trainer.accelerator={_accel(device)}", "--trainer.devices=1", "--trainer.precision=bf16-mixed",
        f"--trainer.max_steps={max_steps}", "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={run_dir}",
        "--trainer.callbacks=" + json.dumps([{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                              "init_args": {"dirpath": str(run_dir), "save_last": True}}]),
        *extra,
    ]


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_smoke_recipe_fits_in_bf16_and_resumes(device, smoke_data, recipe, tmp_path):
    kind, extra, per_batch = RECIPES[recipe]
    train, val = _cuts(kind, smoke_data, device)
    if recipe == "f5_latent":
        extra = extra + [f"--model.init_args.space=latent:vae={smoke_data['vae']}"]
    first = STEPS * per_batch
    _ok(_run(_fit_argv(recipe, train, val, tmp_path, device, first, extra)))
    last = tmp_path / "last.ckpt"
    step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert step == first  # one global step per batch, the GAN recipes too (tts.gan)
    out = _ok(_run(_fit_argv(recipe, train, val, tmp_path, device, step + first, extra + [f"--ckpt_path={last}"])))
    assert "Restoring states from the checkpoint" in out
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == step + first
    params = [v for k, v in ckpt["state_dict"].items() if v.is_floating_point()]
    assert params and all(torch.isfinite(v).all() for v in params)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_processes_on_one_device(device, smoke_data, tmp_path):
    """Lightning DDP with two processes sharing the one GPU: launched as two 'nodes' of one device each
    (NCCL refuses two ranks on one GPU, so the process group is gloo, which takes CUDA tensors)."""
    train, val = _cuts("mel", smoke_data, device)
    strategy = {"class_path": "lightning.pytorch.strategies.DDPStrategy",
                "init_args": {"process_group_backend": "gloo"}}
    argv = _fit_argv("f5_mel", train, val, tmp_path, device, 4, ["--trainer.num_nodes=2",
                                                                 "--trainer.strategy=" + json.dumps(strategy)])
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": port, "NODE_RANK": str(rank), "LOCAL_RANK": "0", "WORLD_SIZE": "2",
               "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen([sys.executable, "-m", "tts.cli", *argv], cwd=REPO, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=TIMEOUT)[0])
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-4000:]
    assert "world_size: 2" in "".join(outs) or "distributed_backend=gloo" in "".join(outs), outs[0][-2000:]
    assert torch.load(tmp_path / "last.ckpt", map_location="cpu", weights_only=True)["global_step"] == 4
