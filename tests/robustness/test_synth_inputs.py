"""`tts synth` with one bad line (or bad prompt) among good ones: the bad line is an errors.jsonl row that names
its line, id and reason; exit code 1; both good lines are synthesized into valid wavs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from robust_helpers import assert_valid_wav, errors_of, good_rows, run, synth_argv, write_list, write_wav

from tts.io import read_jsonl


def _row(ref: str, **over) -> dict:
    return {"id": "bad", "text": "Hello there.", "ref_audio": ref, "ref_text": "A prompt.", **over}


def _prompt(tmp, make) -> str:
    path = tmp / "prompt.wav"
    make(path)
    return str(path)


# kind -> (build(tmp, ref) -> (bad line, bad id or None), words the reason must contain)
CASES = {
    "corrupt_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: p.write_bytes(b"RIFF junk" * 10))), "bad"),
                       ["prompt.wav", "unreadable"]),
    "zero_byte_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: p.write_bytes(b""))), "bad"),
                         ["prompt.wav", "empty audio"]),
    "header_only_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: sf.write(p, np.zeros(0, "float32"), 24000))), "bad"),
                           ["prompt.wav", "empty audio"]),
    "silent_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: sf.write(p, np.zeros(12000, "float32"), 24000))), "bad"),
                      ["prompt.wav", "silent"]),
    "nan_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: sf.write(p, np.full(12000, np.nan, "float32"), 24000,
                                                                       subtype="FLOAT"))), "bad"),
                   ["prompt.wav", "NaN"]),
    "missing_prompt": (lambda t, ref: (_row(str(t / "nowhere.wav")), "bad"), ["nowhere.wav", "not found"]),
    "overlong_prompt": (lambda t, ref: (_row(_prompt(t, lambda p: write_wav(p, seconds=600, sr=8000))), "bad"),
                        ["prompt.wav", "600.0 s", "shorter prompt"]),
    "empty_text": (lambda t, ref: (_row(ref, text="   "), "bad"), ["empty text"]),
    "empty_ref_text": (lambda t, ref: (_row(ref, ref_text=""), "bad"), ["empty ref_text"]),
    "unknown_characters": (lambda t, ref: (_row(ref, text="Привет мир"), "bad"), ["unknown character"]),
    "malformed_json": (lambda t, ref: ('{"id": "bad", "text": ', None), ["unparseable line"]),
    "json_not_an_object": (lambda t, ref: ('["bad", "Hello"]', None), ["not a JSON object"]),
    "missing_keys": (lambda t, ref: ({"id": "bad", "text": "Hi."}, "bad"), ["missing key", "ref_audio", "ref_text"]),
    "duplicate_id": (lambda t, ref: (_row(ref, id="good0"), "good0"), ["duplicate id", "line 1"]),
    "unsafe_id": (lambda t, ref: (_row(ref, id="../escape"), "../escape"), ["not usable as a file name"]),
    "overlong_id": (lambda t, ref: (_row(ref, id="x" * 300), "x" * 40 + "..."), ["longer than 200 bytes"]),
    "non_utf8_line": (lambda t, ref: (b'{"id": "bad", "text": "caf\xe9"}', None), ["line 2", "not UTF-8", "0xe9"]),
    "negative_duration": (lambda t, ref: (_row(ref, duration=-2), "bad"), ["duration must be a positive"]),
    "too_long_for_model": (lambda t, ref: (_row(ref, duration=30), "bad"), ["too long", "maximum 8.0 s"]),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(CASES))
def test_bad_line_is_reported_and_good_lines_are_written(kind, f5_model, tmp_path, capsys):
    build, words = CASES[kind]
    ref = write_wav(tmp_path / "ref.wav")
    good = good_rows(ref)
    bad, bad_id = build(tmp_path, ref)
    lst = write_list(tmp_path / "list.jsonl", [good[0], bad, good[1]])
    out = tmp_path / "out"
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 1, text
    errors = errors_of(out)
    assert [(e["line"], e["id"]) for e in errors] == [(2, bad_id)]
    for word in words:
        assert word in errors[0]["reason"], errors[0]["reason"]
    for row in good:
        assert_valid_wav(out / f"{row['id']}.wav")
    assert sorted(r["id"] for r in read_jsonl(out / "results.jsonl")) == ["good0", "good1"]
    assert not (tmp_path / "escape.wav").exists()


def test_failed_save_of_one_line_is_an_error_row_and_the_rest_are_written(f5_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    lst = write_list(tmp_path / "list.jsonl", [*good_rows(ref), _row(ref, id="blocked")])
    out = tmp_path / "out"
    (out / "blocked.wav").mkdir(parents=True)  # the rename onto it fails, as a refused name or full disk would
    rc, _ = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 1
    errors = errors_of(out)
    assert [(e["line"], e["id"]) for e in errors] == [(3, "blocked")]
    assert "cannot save" in errors[0]["reason"] and "blocked.wav" in errors[0]["reason"]
    for i in range(2):
        assert_valid_wav(out / f"good{i}.wav")


def test_tsv_line_with_wrong_field_count_is_reported(f5_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    lines = ["id\ttext\tref_audio\tref_text", f"good0\tHello there.\t{ref}\tA prompt.", "bad\tonly two",
             f"good1\tHello there.\t{ref}\tA prompt."]  # fmt: skip
    lst = tmp_path / "list.tsv"
    lst.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    rc, _ = run(synth_argv(f5_model, str(lst), out), capsys)
    assert rc == 1
    errors = errors_of(out)
    assert [e["line"] for e in errors] == [3] and "2 fields, header has 4" in errors[0]["reason"]
    for i in range(2):
        assert_valid_wav(out / f"good{i}.wav")


@pytest.mark.parametrize("kind,write", [
    ("stereo_prompt", lambda p: write_wav(p, channels=2)),
    ("8bit_prompt", lambda p: write_wav(p, subtype="PCM_U8")),
    ("16khz_prompt", lambda p: write_wav(p, sr=16000)),
    ("flac_prompt", lambda p: sf.write(p.with_suffix(".flac"), np.asarray(0.1 * np.sin(np.arange(12000) / 9), "float32"),
                                       24000)),
], ids=lambda x: x if isinstance(x, str) else "")  # fmt: skip
def test_unusual_but_valid_prompts_are_synthesized(kind, write, f5_model, tmp_path, capsys):
    path = tmp_path / "prompt.wav"
    write(path)
    prompt = path if path.exists() else path.with_suffix(".flac")
    lst = write_list(tmp_path / "list.jsonl", [{**r, "ref_audio": str(prompt)} for r in good_rows("")])
    out = tmp_path / "out"
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 0, text + json.dumps(errors_of(out))
    for i in range(2):
        assert_valid_wav(out / f"good{i}.wav")
