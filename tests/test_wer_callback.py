"""WERCallback: every K steps synthesize, transcribe (a fake ASR, in this test only), log WER + audio,
write the (step, wall_s, wer) curve."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import soundfile as sf
import torch
from factories import tiny_f5_module, tiny_vocos
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader

import tts.bench.asr
from tts.bench.summarize import read_wer_curve
from tts.features.mel import MelSpace
from tts.wer_callback import WERCallback


class FakeASR:
    """Hears "hello world" in everything; records what it was given."""

    name = "fake"

    def __init__(self):
        self.calls: list[list[int]] = []

    def transcribe(self, wavs):
        self.calls.append([int(w.shape[-1]) for w in wavs])
        return ["hello world" for _ in wavs]


def batches(n: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    ali = [("h", 0.0, 0.1), ("e", 0.1, 0.1), ("y", 0.2, 0.12)]
    return [
        {"feats": torch.randn(2, 30, 100, generator=g), "feat_lens": torch.tensor([30, 30]),
         "texts": ["Hey", "Hey"], "ids": ["a", "b"], "alignments": [ali, ali]}
        for _ in range(n)
    ]  # fmt: skip


@pytest.fixture
def utterance_list(tmp_path):
    rng = np.random.default_rng(0)
    sf.write(tmp_path / "ref.wav", (0.1 * rng.standard_normal(7200)).astype("float32"), 24000)
    ali = [["h", 0.0, 0.1], ["e", 0.1, 0.1], ["y", 0.2, 0.1]]
    rows = [
        {"id": "same", "text": "Hello world.", "ref_audio": "ref.wav", "ref_text": "Hey", "alignment": ali,
         "ref_alignment": ali},
        {"id": "other", "text": "Goodbye moon.", "ref_audio": "ref.wav", "ref_text": "Hey", "alignment": ali,
         "ref_alignment": ali},
    ]  # fmt: skip
    path = tmp_path / "val.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("conditioning", ["filler", "aligned"])
def test_wer_every_k_steps_logged_and_written(tmp_path, utterance_list, monkeypatch, conditioning):
    asr = FakeASR()
    monkeypatch.setattr(tts.bench.asr, "load_asr", lambda spec: asr)
    torch.manual_seed(0)
    model = tiny_f5_module(conditioning=conditioning, alignment="char")
    model._space.append(MelSpace(vocoder=tiny_vocos()[0]))  # decode with a tiny (untrained) Vocos
    cb = WERCallback(str(utterance_list), every_n_steps=2, nfe=2, asr={"backend": "fake"}, log_audio=1)
    logger = TensorBoardLogger(tmp_path, name="tb", version=0)
    trainer = pl.Trainer(max_steps=5, accelerator="cpu", logger=logger, callbacks=[cb], enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False, limit_val_batches=0)  # fmt: skip
    trainer.fit(model, DataLoader(batches(5), batch_size=None))

    rows = read_wer_curve(tmp_path / "tb" / "version_0" / "wer_steps.jsonl")
    assert [r["step"] for r in rows] == [2, 4, 5]  # every 2 steps, and after the last one
    for r in rows:
        # "hello world" vs "hello world" (0) and vs "goodbye moon" (2 of 2 words wrong)
        assert r["wer_mean"] == pytest.approx(0.5) and r["wer_corpus"] == pytest.approx(0.5)
        assert r["n"] == 2 and r["errors"] == [] and r["asr"] == "fake"
        assert r["durations"] == ("oracle" if conditioning == "aligned" else None)
    walls = [r["wall_s"] for r in rows]
    assert walls == sorted(walls) and all(r["eval_s"] > 0 for r in rows)
    assert len(asr.calls) == 3 and all(len(c) == 2 and min(c) > 0 for c in asr.calls)
    if conditioning == "aligned":  # oracle durations: 3 tokens ending at 0.3 s -> round(28.125) frames
        assert all(n == (28 - 1) * 256 * 16000 // 24000 for c in asr.calls for n in c)

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "tb" / "version_0"), size_guidance={"audio": 0}).Reload()
    assert [e.step for e in events.Scalars("wer/mean")] == [2, 4, 5]
    assert events.Tags()["audio"]  # one utterance's audio per evaluation


def test_bad_settings_are_refused(tmp_path, utterance_list):
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        WERCallback(str(tmp_path / "missing.jsonl"))
    with pytest.raises(ValueError, match="durations"):
        WERCallback(str(utterance_list), durations="guess")
    with pytest.raises(ValueError, match="every_n_steps"):
        WERCallback(str(utterance_list), every_n_steps=0)


def test_resumed_run_continues_the_curve(tmp_path, utterance_list, monkeypatch):
    monkeypatch.setattr(tts.bench.asr, "load_asr", lambda spec: FakeASR())
    vocos, _ = tiny_vocos()
    out = tmp_path / "curve.jsonl"

    def fit(steps: int, ckpt=None):
        torch.manual_seed(0)
        model = tiny_f5_module()
        model._space.append(MelSpace(vocoder=vocos))
        cb = WERCallback(str(utterance_list), every_n_steps=2, nfe=2, asr={"backend": "fake"}, out=str(out))
        trainer = pl.Trainer(max_steps=steps, accelerator="cpu", logger=False, callbacks=[cb], enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=tmp_path, limit_val_batches=0)  # fmt: skip
        trainer.fit(model, DataLoader(batches(steps), batch_size=None), ckpt_path=ckpt)
        return trainer

    first = fit(2)
    ckpt = tmp_path / "at2.ckpt"
    first.save_checkpoint(ckpt)
    fit(4, str(ckpt))
    rows = read_wer_curve(out)
    assert [r["step"] for r in rows] == [2, 4]  # step 2 not evaluated again after the resume
    assert rows[1]["wall_s"] >= rows[0]["wall_s"]
