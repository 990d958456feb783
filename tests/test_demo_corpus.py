"""`tts data demo` on a tiny corpus (skipped where flite is not installed)."""

import json
import shutil

import pytest

from tts.data.demo_corpus import assign_splits, main, make_test_list, trim_silence, voice_schedule


def test_voice_schedule_is_weighted_and_spread():
    voices = [{"speaker": "a", "weight": 3}, {"speaker": "b", "weight": 1}, {"speaker": "c", "weight": 1}]
    order = [v["speaker"] for v in voice_schedule(voices)]
    assert sorted(order) == ["a", "a", "a", "b", "c"]
    assert order[0] == "a" and order[:2] != ["a", "a"]


def test_splits_are_per_speaker_disjoint_and_test_list_pairs_same_speaker():
    utts = [{"id": f"{s}_{i}", "index": i, "speaker": s, "text": f"sentence {s} {i}", "path": f"/x/{s}{i}.wav",
             "duration": 3.0} for s in "ab" for i in range(100)]
    splits = assign_splits(utts, seed=0)
    assert splits == assign_splits(list(reversed(utts)), seed=0)
    assert [len(splits[k]) for k in ("train", "dev", "test")] == [184, 6, 10]
    texts = {k: {u["text"] for u in v} for k, v in splits.items()}
    assert not texts["train"] & texts["test"] and not texts["train"] & texts["dev"]
    rows = make_test_list(splits["test"], splits["train"])
    assert len(rows) == 10
    for r in rows:
        assert r["text"] != r["ref_text"] and r["speaker"] in r["ref_audio"] and r["gt_audio"] != r["ref_audio"]


def test_trim_silence_keeps_speech_and_a_little_padding():
    import numpy as np

    sr = 16000
    wav = np.zeros(3 * sr, dtype=np.float32)
    wav[sr: 2 * sr] = 0.5 * np.sin(np.arange(sr) * 0.1)
    out = trim_silence(wav, sr)
    assert abs(len(out) / sr - 1.2) < 0.03


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed (apt-get install -y flite)")
def test_tiny_build_gives_manifests_and_a_rerun_rebuilds_nothing(tmp_path, capsys):
    from lhotse import load_manifest

    out = tmp_path / "corpus"
    args = ["--out", str(out), "--hours", "0.01", "--seed", "0", "--workers", "2", "--no-progress", "--natural-share", "0.5"]
    assert main(args) == 0
    stats = json.loads((out / "corpus.json").read_text())
    assert len(stats["speakers"]) >= 3
    assert all(stats["splits"][k]["utterances"] > 0 for k in ("train", "dev", "test"))
    assert stats["synthesized_now"] == stats["utterances"] > 0
    assert stats["hours"] >= 0.01
    cuts = {k: load_manifest(out / f"cuts_{k}.jsonl.gz") for k in ("train", "dev", "test")}
    texts = {k: {c.supervisions[0].text for c in v} for k, v in cuts.items()}
    assert not texts["train"] & texts["test"]
    for cut in cuts["train"]:
        assert len(cut.supervisions) == 1 and cut.supervisions[0].speaker and cut.supervisions[0].text
        assert cut.recording.sampling_rate == 24000 and cut.recording.num_channels == 1
        assert 1.5 <= cut.duration <= 14.0
    rows = [json.loads(line) for line in (out / "test_list.jsonl").read_text().splitlines()]
    assert rows
    for r in rows:
        assert r["ref_text"] != r["text"]
        assert r["ref_audio"].split("/")[-2] == r["gt_audio"].split("/")[-2] == r["speaker"]

    before = {p: p.stat().st_mtime_ns for p in (out / "wavs").rglob("*.wav")}
    assert main(args) == 0
    again = json.loads((out / "corpus.json").read_text())
    assert again["synthesized_now"] == 0 and again["reused"] == stats["utterances"]
    assert {p: p.stat().st_mtime_ns for p in (out / "wavs").rglob("*.wav")} == before
    assert list(load_manifest(out / "cuts_test.jsonl.gz").ids) == list(cuts["test"].ids)
