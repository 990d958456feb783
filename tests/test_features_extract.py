"""``tts extract features`` caches a space's frames on lhotse cuts; the F5 smoke recipe trains on them."""

from __future__ import annotations

import numpy as np
import soundfile as sf
import torch
import yaml

from tts.features.extract import main as extract_main


def make_cuts(tmp_path, n: int = 4):
    from lhotse import CutSet, Recording, SupervisionSegment

    cuts = []
    for i in range(n):
        path = tmp_path / f"w{i}.wav"
        rng = np.random.default_rng(i)
        sf.write(path, (0.1 * rng.standard_normal(24000 * (1 + i % 2) // 2)).astype("float32"), 24000)
        rec = Recording.from_file(path, recording_id=f"r{i}")
        cut = rec.to_cut()
        cut.supervisions = [
            SupervisionSegment(
                id=f"s{i}",
                recording_id=rec.id,
                start=0,
                duration=rec.duration,
                text=f"Utterance number {i}.",
                speaker="spk",
            )
        ]
        cuts.append(cut)
    path = tmp_path / "cuts.jsonl.gz"
    CutSet.from_cuts(cuts).to_file(path)
    return path


def test_extract_mel_features_to_cache(tmp_path):
    from lhotse import CutSet

    cuts = make_cuts(tmp_path)
    assert extract_main(["--space", "mel", "--cuts", str(cuts), "--out", str(tmp_path / "mel")]) == 0
    cached = list(CutSet.from_file(tmp_path / "mel" / "cuts.jsonl.gz"))
    assert len(cached) == 4
    feats = cached[1].load_custom("feats")
    assert feats.shape == (24000 // 256 + 1, 100)
    from tts.features.mel import MelSpace

    wav = torch.from_numpy(cached[1].load_audio()).float()
    np.testing.assert_allclose(feats, MelSpace().encode(wav)[0].numpy(), atol=1e-5)


def test_smoke_recipe_trains_on_extracted_features(tmp_path):
    import importlib

    import lightning.pytorch as pl

    cuts = make_cuts(tmp_path)
    extract_main(["--space", "mel", "--cuts", str(cuts), "--out", str(tmp_path / "mel")])
    base, smoke = (yaml.safe_load(open(f"recipes/{f}.yaml")) for f in ("f5/base", "smoke/f5"))
    cfg = {  # the smoke F5 recipe: recipes/f5/base.yaml with recipes/smoke/f5.yaml over it (space: default mel)
        "model": {**base["model"], "init_args": {**base["model"]["init_args"], **smoke["model"]["init_args"]}},
        "data": {**base["data"], "init_args": {**base["data"]["init_args"], **smoke["data"]["init_args"]}},
        "trainer": {**base["trainer"], **smoke["trainer"]},
    }
    data_args = {
        **cfg["data"]["init_args"],
        "train_cuts": str(tmp_path / "mel/cuts.jsonl.gz"),
        "val_cuts": str(tmp_path / "mel/cuts.jsonl.gz"),
    }

    def build(spec, args):
        module, name = spec["class_path"].rsplit(".", 1)
        return getattr(importlib.import_module(module), name)(**args)

    from tts.f5.dit import DiTConfig

    model = build(cfg["model"], {**cfg["model"]["init_args"], "dit": DiTConfig(**cfg["model"]["init_args"]["dit"])})
    data = build(cfg["data"], data_args)
    trainer = pl.Trainer(
        **{
            **{k: v for k, v in cfg["trainer"].items() if k != "callbacks"},  # YAML callbacks are CLI specs
            "max_steps": 2,
            "enable_checkpointing": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path),
        }
    )
    trainer.fit(model, data)
    assert trainer.global_step == 2
