"""`tts data demo` on a tiny corpus (skipped where flite is not installed)."""

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tts.corpus.build import (
    SplitLeakError,
    assign_splits,
    check_disjoint,
    main,
    make_job,
    make_test_list,
    trim_silence,
    voice_schedule,
    write_cuts,
)
from tts.corpus.sentences import SentenceGenerator, load_lexicon

# sha256 of the manifests + test list of the tiny corpus below (paths relative to the corpus), as the
# code wrote them when the cuts were still gzipped by hand: the same seed keeps giving the same corpus.
PINNED_TINY_CORPUS = "8b4243197ce217679f3e2117ec1244d09f9c8b4ac7addc3487b22ba262feb84d"


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


def _tiny_corpus(out: Path) -> dict:
    """40 sentences of seed 0 over two voices (one aligned), silent wavs of a length set by the text,
    split and written as ``tts data demo`` does; returns the parsed manifests and test list."""
    import numpy as np
    import soundfile as sf

    voices = [{"speaker": "piper-joe", "engine": "piper", "name": "en_US-joe-medium", "weight": 2},
              {"speaker": "flite-slt", "engine": "flite", "name": "slt", "weight": 1}]
    schedule = voice_schedule(voices)
    utts = []
    for index, text in enumerate(SentenceGenerator(0, load_lexicon()).generate(40)):
        job = make_job(out, index, text, schedule[index % len(schedule)])
        Path(job["path"]).parent.mkdir(parents=True, exist_ok=True)
        n = 2400 * (1 + len(text) % 7)
        sf.write(job["path"], np.zeros(n, dtype=np.float32), 24000, subtype="PCM_16")
        if job["align_path"]:
            d = n / 24000
            Path(job["align_path"]).write_text(json.dumps([["^", 0.0, d / 2], ["$", d / 2, d / 2]]))
        utts.append({**{k: v for k, v in job.items() if k != "voice"}, "duration": n / 24000})
    splits = assign_splits(utts, seed=0)
    check_disjoint(splits)
    parsed = {}
    for name, split in splits.items():
        write_cuts(out / f"cuts_{name}.jsonl.gz", split)
        with gzip.open(out / f"cuts_{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            parsed[name] = [json.loads(line) for line in f]
    parsed["test_list"] = make_test_list(splits["test"], splits["dev"] + splits["train"])
    return parsed


def test_a_seed_gives_the_pinned_manifests(tmp_path):
    from lhotse import load_manifest

    parsed = _tiny_corpus(tmp_path)
    assert any(sup.get("alignment") for c in parsed["train"] for sup in c["supervisions"])
    text = json.dumps(parsed, sort_keys=True).replace(str(tmp_path), "<OUT>")
    assert hashlib.sha256(text.encode()).hexdigest() == PINNED_TINY_CORPUS
    cuts = load_manifest(tmp_path / "cuts_train.jsonl.gz")  # and lhotse reads them back
    assert [c.id for c in cuts] == [c["id"] for c in parsed["train"]]


def test_a_sentence_in_train_and_test_is_an_error_naming_it():
    utt = {"id": "a_1", "index": 1, "speaker": "a", "text": "The dog ran home.", "path": "/x/a1.wav", "duration": 2.0}
    splits = {"train": [utt], "dev": [], "test": [{**utt, "id": "a_2", "index": 2}]}
    with pytest.raises(SplitLeakError, match="1 sentence.*'The dog ran home.'"):
        check_disjoint(splits)
    check_disjoint({"train": [utt], "dev": [], "test": []})


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


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed (apt-get install -y flite)")
def test_a_sentence_list_speaks_the_test_split_in_file_order(tmp_path):
    from lhotse import load_manifest

    listed = ["Could you please turn off the lights when you leave the room?",
              "The bakery on the corner sells the best bread in town.",
              "We bought fresh vegetables at the market this morning.",
              "She made a cup of tea and sat down by the window to read.",
              "The little dog barked at every car that drove past the garden.",
              "It takes about ten minutes to walk from here to the station."]
    lst = tmp_path / "list.txt"
    lst.write_text("# a comment\n\n" + "\n".join(listed) + "\n")
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--hours", "0.01", "--seed", "0", "--workers", "2", "--no-progress",
            "--natural-share", "0", "--test-share", "0.3", "--test-sentences", str(lst)]
    assert main(args) == 0
    stats = json.loads((out / "corpus.json").read_text())
    assert stats["test_sentences"] == str(lst)
    test = load_manifest(out / "cuts_test.jsonl.gz")
    texts = [c.supervisions[0].text for c in test]
    assert texts and texts == listed[: len(texts)]  # file order, no generated sentence
    assert all("_t" in c.id for c in test)
    train = {c.supervisions[0].text for c in load_manifest(out / "cuts_train.jsonl.gz")}
    dev = {c.supervisions[0].text for c in load_manifest(out / "cuts_dev.jsonl.gz")}
    assert train and dev and not (train | dev) & set(listed)
    assert sum(c.duration for c in test) >= 0.3 * 36 or len(texts) == len(listed)
    rows = [json.loads(line) for line in (out / "test_list.jsonl").read_text().splitlines()]
    assert sorted(r["text"] for r in rows) == sorted(texts)  # grouped by speaker


def test_a_bad_sentence_list_is_refused_naming_the_line(tmp_path, capsys):
    from tts.corpus.sentences import load_sentence_list

    bad = tmp_path / "bad.txt"
    bad.write_text("# header\nThe train was late because of the snow.\nShe paid 5 euros \u20ac for it today.\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: characters"):
        load_sentence_list(bad)
    bad.write_text("The train was late because of the snow.\nToo short.\nThe train was late because of the snow.\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: 2 words"):
        load_sentence_list(bad)
    bad.write_text("The train was late because of the snow.\n\nThe train was late because of the snow.\n")
    with pytest.raises(ValueError, match=r"bad.txt:3: repeats line 1"):
        load_sentence_list(bad)
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "c"), "--test-sentences", str(tmp_path / "missing.txt")])
    assert "missing.txt does not exist" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_the_embedded_test_sentences_load():
    from tts.corpus.sentences import load_sentence_list

    assert len(load_sentence_list()) >= 200
