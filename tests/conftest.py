"""Shared fixtures: a tiny synthetic corpus in the layout `tts data demo` writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

SENTENCES = [
    "The cat sat on the warm mat.",
    "A quiet river runs past the old mill.",
    "Bring me seven red apples, please.",
    "Why did the baker close his shop early?",
    "Green hills rise behind the little town.",
    "She wrote a long letter to her brother.",
    "The train left the station at noon.",
    "Birds sang loudly in the tall trees.",
    "He painted the fence a bright blue.",
    "Our teacher read a story about ships.",
    "Cold wind blew across the empty field.",
    "They planted tomatoes in the spring.",
]


def speechlike(seconds: float, sr: int, f0: float, seed: int) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise (not silence, not white)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f) / sr
    sig = sum(np.sin(k * phase) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t + rng.uniform(0, 6)) ** 2
    return (0.2 * sig * env + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


def write_corpus(root: Path, sr: int = 24000) -> Path:
    """12 utterances, 3 speakers; train 6 / dev 2 / test 4 + test_list.jsonl."""
    root.mkdir(parents=True, exist_ok=True)
    recs, sups = [], []
    for i, text in enumerate(SENTENCES):
        spk = f"spk{i % 3}"
        path = root / "wavs" / f"{spk}_{i:03d}.wav"
        path.parent.mkdir(exist_ok=True)
        sf.write(path, speechlike(1.0 + 0.25 * i, sr, 110 + 40 * (i % 3), i), sr)
        rec = Recording.from_file(path, recording_id=path.stem)
        recs.append(rec)
        sups.append(SupervisionSegment(id=path.stem, recording_id=path.stem, start=0, duration=rec.duration,
                                       text=text, speaker=spk, language="en"))
    cuts = CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups))
    cut_list = list(cuts)
    splits = {"train": cut_list[:6], "dev": cut_list[6:8], "test": cut_list[8:]}
    for name, cs in splits.items():
        CutSet.from_cuts(cs).to_file(root / f"cuts_{name}.jsonl.gz")
    rows = []
    test = splits["test"] + splits["dev"]
    for cut in splits["test"]:
        spk = cut.supervisions[0].speaker
        prompt = next(c for c in test if c.supervisions[0].speaker == spk and c.id != cut.id)
        rows.append({"id": cut.id, "text": cut.supervisions[0].text, "ref_audio": prompt.recording.sources[0].source,
                     "ref_text": prompt.supervisions[0].text, "speaker": spk,
                     "gt_audio": cut.recording.sources[0].source})
    (root / "test_list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A tiny synthetic corpus dir: cuts_{train,dev,test}.jsonl.gz (24 kHz) and test_list.jsonl."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))
