"""`tts data import` with one bad item among good ones: the item is logged with its file / line and reason, the
exit code is 1, and the manifest holds every good item with absolute, loadable audio and the reported ids."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
import soundfile as sf
from lhotse import CutSet
from robust_helpers import run, write_wav

from tts.data.validate import screen_cuts


def _corpus(tmp, bad_line: bytes) -> tuple:
    audio = tmp / "audio"
    audio.mkdir()
    for i in range(2):
        write_wav(audio / f"good{i}.wav", seed=i)
    lst = tmp / "list.txt"
    lst.write_bytes(b"audio/good0.wav|Hello there.|spkA\n" + bad_line + b"\naudio/good1.wav|General Kenobi.|spkA\n")
    return lst, audio


def _import(lst, out, capsys, caplog) -> tuple[int, str]:
    with caplog.at_level(logging.INFO):
        rc, text = run(["data", "import", "--format", "list", "--root", str(lst), "--out", str(out)], capsys)
    return rc, text + caplog.text


def _assert_good_manifest(out, audio_dir):
    cuts = CutSet.from_file(out / "cuts_train.jsonl.gz")
    assert sorted(c.id for c in cuts) == ["spkA_good0", "spkA_good1"]
    for cut in cuts:
        src = cut.recording.sources[0].source
        assert os.path.isabs(src) and src.startswith(str(audio_dir))
        assert cut.load_audio().size > 0


def _bad_item(kind: str, audio) -> bytes:
    """Write the bad item's audio (if any) into ``audio``; return its list line."""
    if kind == "corrupt_audio":
        (audio / "bad.wav").write_bytes(b"RIFF nope" * 20)
    elif kind == "zero_byte_audio":
        (audio / "bad.wav").write_bytes(b"")
    elif kind == "header_only_audio":
        sf.write(audio / "bad.wav", np.zeros(0, "float32"), 24000)
    elif kind == "empty_text":
        write_wav(audio / "bad.wav")
        return b"audio/bad.wav|   |spkA"
    return {
        "missing_file": b"audio/nowhere.wav|Hi there.|spkA",
        "wrong_field_count": b"audio/good0.wav|no speaker",
        "duplicate_id": b"audio/good0.wav|Again.|spkA",
        "non_utf8_line": b"audio/good0.wav|caf\xe9|spkA",
    }.get(kind, b"audio/bad.wav|Hi.|spkA")


CASES = {
    "missing_file": ["spkA_nowhere", "missing_file", "nowhere.wav"],
    "corrupt_audio": ["spkA_bad", "unreadable", "bad.wav"],
    "zero_byte_audio": ["spkA_bad", "empty_audio", "bad.wav", "0-byte"],
    "header_only_audio": ["spkA_bad", "empty_audio", "0 samples"],
    "empty_text": ["spkA_bad", "empty_text"],
    "wrong_field_count": ["list.txt:2", "bad_line", "expected audio_path|text|speaker"],
    "duplicate_id": ["spkA_good0", "duplicate", "line 2"],
    "non_utf8_line": ["list.txt:2", "not UTF-8", "0xe9"],
}


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_item_is_reported_and_good_items_are_imported(kind, tmp_path, capsys, caplog):
    lst, audio = _corpus(tmp_path, b"")
    lst.write_bytes(lst.read_bytes().replace(b"\n\n", b"\n" + _bad_item(kind, audio) + b"\n"))
    rc, text = _import(lst, tmp_path / "out", capsys, caplog)
    assert rc == 1
    for word in CASES[kind]:
        assert word in text, text
    _assert_good_manifest(tmp_path / "out", audio)


def test_relative_root_gives_a_manifest_that_loads_from_anywhere(tmp_path, monkeypatch, capsys, caplog):
    work = tmp_path / "work"
    work.mkdir()
    lst, audio = _corpus(work, b"")
    monkeypatch.chdir(tmp_path)
    rc, text = _import("work/list.txt", "work/out", capsys, caplog)
    assert rc == 0, text
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    _assert_good_manifest(tmp_path / "work" / "out", audio)


@pytest.mark.parametrize("kind,write", [
    ("stereo", lambda p: write_wav(p, channels=2)),
    ("8bit", lambda p: write_wav(p, subtype="PCM_U8")),
    ("float32", lambda p: write_wav(p, subtype="FLOAT")),
])  # fmt: skip
def test_unusual_but_valid_audio_is_imported(kind, write, tmp_path, capsys, caplog):
    lst, audio = _corpus(tmp_path, b"audio/odd.wav|An odd file.|spkA")
    write(audio / "odd.wav")
    rc, text = _import(lst, tmp_path / "out", capsys, caplog)
    assert rc == 0, text
    cuts = CutSet.from_file(tmp_path / "out" / "cuts_train.jsonl.gz")
    assert sorted(c.id for c in cuts) == ["spkA_good0", "spkA_good1", "spkA_odd"]
    kept, report = screen_cuts(cuts, check_audio="full")
    assert len(kept) == 3 and report.skipped == 0


@pytest.mark.parametrize("kind,samples,reason", [
    ("silent", np.zeros(12000, "float32"), "silent"),
    ("nan", np.full(12000, np.nan, "float32"), "non_finite"),
])  # fmt: skip
def test_silent_and_nan_audio_are_screened_out_with_their_cut_id(kind, samples, reason, tmp_path, capsys, caplog):
    lst, audio = _corpus(tmp_path, b"audio/odd.wav|Nothing to hear.|spkA")
    sf.write(audio / "odd.wav", samples, 24000, subtype="FLOAT")
    assert _import(lst, tmp_path / "out", capsys, caplog)[0] == 0  # the header is fine; content is screened later
    kept, report = screen_cuts(CutSet.from_file(tmp_path / "out" / "cuts_train.jsonl.gz"), check_audio="full")
    assert sorted(c.id for c in kept) == ["spkA_good0", "spkA_good1"]
    assert [(i[0], i[2]) for i in report.items] == [("spkA_odd", reason)]
    assert str(audio / "odd.wav") == report.items[0][1]


def test_ljspeech_non_utf8_metadata_line_is_skipped(tmp_path, capsys, caplog):
    (tmp_path / "wavs").mkdir()
    for i in range(2):
        write_wav(tmp_path / "wavs" / f"LJ{i}.wav", seed=i)
    (tmp_path / "metadata.csv").write_bytes(b"LJ0|Hi.|Hi.\nLJ9|caf\xe9|caf\xe9\nLJ1|Yo.|Yo.\n")
    with caplog.at_level(logging.INFO):
        rc, text = run(["data", "import", "--format", "ljspeech", "--root", str(tmp_path), "--out",
                        str(tmp_path / "out")], capsys)  # fmt: skip
    assert rc == 1 and "metadata.csv:2" in caplog.text and "not UTF-8" in caplog.text
    assert sorted(c.id for c in CutSet.from_file(tmp_path / "out" / "cuts_train.jsonl.gz")) == ["LJ0", "LJ1"]


def test_missing_list_is_one_clear_error(tmp_path, capsys):
    rc, text = run(["data", "import", "--format", "list", "--root", str(tmp_path / "nope.txt"), "--out",
                    str(tmp_path / "out")], capsys)  # fmt: skip
    assert rc == 2 and "nope.txt" in text and "Traceback" not in text


def test_empty_text_row_is_reported_as_empty_text_and_a_later_row_with_its_id_is_kept(tmp_path, capsys, caplog):
    lst, audio = _corpus(tmp_path, b"audio/good0.wav|   |spkA")
    (tmp_path / "list.txt").write_bytes(b"audio/good0.wav|   |spkA\n" + lst.read_bytes())
    rc, text = _import(lst, tmp_path / "out", capsys, caplog)
    assert rc == 1 and "skipped spkA_good0 [empty_text]" in text and "line 1: no text" in text, text
    assert "[duplicate]" not in text
    _assert_good_manifest(tmp_path / "out", audio)


def _ljspeech(tmp_path, lines: bytes, capsys, caplog) -> tuple[int, str]:
    (tmp_path / "wavs").mkdir()
    for i in range(2):
        write_wav(tmp_path / "wavs" / f"LJ{i}.wav", seed=i)
    (tmp_path / "metadata.csv").write_bytes(b"LJ0|Hi.|Hi.\n" + lines + b"LJ1|Yo.|Yo.\n")
    with caplog.at_level(logging.INFO):
        rc, text = run(["data", "import", "--format", "ljspeech", "--root", str(tmp_path), "--out",
                        str(tmp_path / "out")], capsys)  # fmt: skip
    return rc, text + caplog.text


def test_ljspeech_duplicate_ids_extra_fields_and_path_ids_are_reported_and_skipped(tmp_path, capsys, caplog):
    victim = tmp_path / "victim.wav"
    write_wav(victim, seed=7)
    lines = b"LJ0|Again.|Again.\nLJ1|one|two|three\n../victim|Outside.|Outside.\n/abs|Abs.|Abs.\n"
    rc, text = _ljspeech(tmp_path, lines, capsys, caplog)
    assert rc == 1 and "Traceback" not in text, text
    for words in ("skipped LJ0 [duplicate]", "line 2: duplicate id (kept line 1)",
                  "metadata.csv:3 [bad_line]", "line 3: expected id|text|normalized text (3 fields separated by |), got 4",
                  "skipped ../victim [bad_id]", "line 4: id '../victim' contains a path separator",
                  "skipped /abs [bad_id]", "skipped 4 (bad_id=2, bad_line=1, duplicate=1)"):  # fmt: skip
        assert words in text, text
    cuts = CutSet.from_file(tmp_path / "out" / "cuts_train.jsonl.gz")
    assert sorted(c.id for c in cuts) == ["LJ0", "LJ1"]
    assert "again" not in {c.id: c for c in cuts}["LJ0"].supervisions[0].text.lower()  # line 1 kept, not line 2


def test_libritts_transcript_that_is_not_utf8_is_named_and_skipped(tmp_path, capsys, caplog):
    chapter = tmp_path / "dev-clean" / "19" / "198"
    chapter.mkdir(parents=True)
    for i, text in enumerate([b"Hello there.", "Caf\xe9 au lait.".encode("latin-1"), b"General Kenobi."]):
        write_wav(chapter / f"19_198_00000{i}_000000.wav", seed=i)
        (chapter / f"19_198_00000{i}_000000.normalized.txt").write_bytes(text)
    with caplog.at_level(logging.INFO):
        rc, text = run(["data", "import", "--format", "libritts", "--root", str(tmp_path), "--parts", "dev-clean",
                        "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    text += caplog.text
    assert rc == 1 and "Traceback" not in text and "UnicodeDecodeError" not in text, text
    assert "skipped 19_198_000001_000000 [bad_line]" in text and "19_198_000001_000000.normalized.txt" in text
    assert "line 1: not UTF-8 text (byte 0xe9 at column 4)" in text, text
    cuts = CutSet.from_file(tmp_path / "out" / "cuts_dev-clean.jsonl.gz")
    assert sorted(c.id for c in cuts) == ["19_198_000000_000000", "19_198_000002_000000"]


@pytest.mark.parametrize("fmt", ["ljspeech", "list", "libritts"])
def test_import_without_root_is_a_usage_error(fmt, tmp_path, capsys):
    rc, text = run(["data", "import", "--format", fmt, "--out", str(tmp_path / "out")], capsys)
    assert rc == 2 and "the following arguments are required: --root" in text and "Traceback" not in text, text
    assert not (tmp_path / "out").exists()


def test_manifest_name_that_is_not_a_file_name_is_a_usage_error(tmp_path, capsys):
    lst, _ = _corpus(tmp_path, b"")
    rc, text = run(["data", "import", "--format", "list", "--root", str(lst), "--name", "../../x",
                    "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    assert rc == 2 and "'../../x' cannot name the manifest" in text, text
    assert not (tmp_path / "out").exists() and not (tmp_path.parent / "cuts_x.jsonl.gz").exists()
