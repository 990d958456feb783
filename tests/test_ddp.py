"""Multi-process training through the layered recipes: `tts fit --run_dir RUN ... --trainer.devices=2
--trainer.strategy=ddp` on the CPU (gloo). Lightning's launcher re-runs the command line for rank 1 without
--run_dir (the CLI takes it off the line): it must reach every rank, every rank must train, one last.ckpt must
be written, and a resume with --ckpt_path must continue the step count. Smoke sizes, 2 + 2 steps a run.

The run directory is laid out as `tts demo` writes it (RUN/feats/..., RUN/models/vocos) so that the recipes'
``${run_dir}`` paths are what the ranks resolve.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from factories import tiny_vocos_dir, with_even_alignments

pytestmark = pytest.mark.slow  # two 2-process trainings a case: ~30-60 s each on 2 cores
REPO = Path(__file__).resolve().parents[1]
STEPS = 2
TIMEOUT = 600

RECIPES = {  # case -> recipe files (each with ${run_dir} paths), --run_dir composes them
    "f5_filler": ["f5/base", "space/mel", "smoke/f5"],
    "f5_aligned": ["f5/base", "f5/aligned", "space/mel", "smoke/f5", "smoke/f5_aligned"],
    "vae_semantic": ["vae/base", "smoke/vae_semantic"],
}


@pytest.fixture(scope="module")
def run_dir(tiny_corpus, tmp_path_factory) -> Path:
    """RUN/feats/{mel,teacher}_{train,dev} (mel cuts with phoneme alignments) and RUN/models/vocos."""
    import torchaudio
    from lhotse import load_manifest

    from tts.data.cache import extract_to_cache
    from tts.features.mel import MelSpace

    run = tmp_path_factory.mktemp("ddp_run")
    space = MelSpace()
    torch.manual_seed(0)
    proj = torch.randn(80, 384) / 9.0  # teacher features: a fixed projection of the log-mel (50 Hz, 384 dims)
    melspec = torchaudio.transforms.MelSpectrogram(16000, n_fft=1024, hop_length=320, n_mels=80)

    def mel(wavs):
        return [space.encode(w.unsqueeze(0))[0].numpy() for w in wavs]

    def teacher(wavs):
        return [(melspec(w).clamp(min=1e-5).log().T[: math.ceil(w.shape[0] / 320)] @ proj).numpy() for w in wavs]

    for split in ("train", "dev"):
        cuts = run / f"cuts_{split}.jsonl.gz"
        with_even_alignments(load_manifest(tiny_corpus / f"cuts_{split}.jsonl.gz"), "phoneme").to_file(cuts)
        extract_to_cache(cuts, mel, run / "feats" / f"mel_{split}", key="feats", frame_rate=space.frame_rate,
                         sample_rate=space.sample_rate)  # fmt: skip
        extract_to_cache(cuts, teacher, run / "feats" / f"teacher_{split}", "teacher", 50.0, 16000)
    tiny_vocos_dir(run / "models" / "vocos")
    return run


def _fit(run: Path, case: str, out: Path, max_steps: int, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "tts.cli", "fit", "--run_dir", str(run),
            *(a for f in RECIPES[case] for a in ("-c", str(REPO / "recipes" / f"{f}.yaml"))),
            "--trainer.devices=2", "--trainer.strategy=ddp", f"--trainer.max_steps={max_steps}",
            "--trainer.logger=false", "--trainer.enable_progress_bar=false", f"--trainer.default_root_dir={out}",
            "--trainer.callbacks=" + json.dumps([{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                                                  "init_args": {"dirpath": str(out), "save_last": True}}]),
            *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("TTS_RUN_DIR", None)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT)


def _ok(proc: subprocess.CompletedProcess) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _step(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.parametrize("case", sorted(RECIPES))
def test_ddp_two_ranks_through_run_dir_then_resume(run_dir, case, tmp_path):
    out = _ok(_fit(run_dir, case, tmp_path, STEPS))
    for rank in (0, 1):  # Lightning's own line, printed by each rank as it joins the process group
        assert f"GLOBAL_RANK: {rank}, MEMBER: {rank + 1}/2" in out, out[-3000:]
    assert "give the run directory it names with --run_dir" not in out
    assert "Grad strides do not match bucket view strides" not in out  # tts.f5.fastpath.conv_nlc's weight view
    assert sorted(p.name for p in tmp_path.glob("last*.ckpt")) == ["last.ckpt"]  # one, no last-v1
    assert _step(tmp_path / "last.ckpt") == STEPS
    out = _ok(_fit(run_dir, case, tmp_path, 2 * STEPS, f"--ckpt_path={tmp_path / 'last.ckpt'}"))
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in out
    assert _step(tmp_path / "last.ckpt") == 2 * STEPS
