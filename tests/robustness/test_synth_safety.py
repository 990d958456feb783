"""`tts synth` keeps the user's files and its own folder safe, and one bad line never costs the others (issue 24,
findings 3 and 5-13): --overwrite deletes only what results.jsonl lists, one run per --out, per-line errors for
NUL / huge numbers / bad alignments / unspeakable text / odd ids and prompts, a full disk stops cleanly and resumes,
a failed run claims no folder, and a row's `duration` is honoured by aligned models too."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
import soundfile as sf
import torch
from robust_helpers import assert_valid_wav, errors_of, good_rows, run, synth_argv, write_list, write_wav

import tts.audio
import tts.synth
import tts.synth.outdir
from tts.io import out_dir_lock, read_jsonl


def _row(ref: str, **over) -> dict:
    return {"id": "bad", "text": "Hello there.", "ref_audio": ref, "ref_text": "A prompt.", **over}


def _export(root: Path, kind: str = "char", aligned: bool = False) -> Path:
    """A tiny F5 export on mel like ``factories.tiny_f5_export``, with a ``kind`` vocabulary and, when
    ``aligned``, the duration-aligned conditioning and an (untrained) duration predictor."""
    from factories import tiny_dit, tiny_vocos_dir

    from tts.f5.duration import DurationPredictor
    from tts.f5.export import F5Model, save
    from tts.text import Vocab

    torch.manual_seed(0)
    vocab = Vocab(kind=kind)
    model = F5Model(tiny_dit(feat_dim=100, vocab_size=len(vocab)), vocab, f"mel:vocos={tiny_vocos_dir(root / 'v')}",
                    93.75, max_duration_s=8.0)  # fmt: skip
    if aligned:
        model.conditioning, model.alignment = "aligned", kind
        model.duration = DurationPredictor(len(vocab), dim=16, layers=1)
    return save(model, root / "f5")


@pytest.fixture(scope="module")
def aligned_model(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("aligned"), aligned=True)


@pytest.fixture(scope="module")
def phoneme_model(tmp_path_factory) -> Path:
    pytest.importorskip("piper")
    return _export(tmp_path_factory.mktemp("phoneme"), kind="phoneme")


def _check_bad_line(model: Path, tmp_path: Path, capsys, bad: dict, words: list[str], *extra: str,
                    ref: str | None = None, bad_id: str = "bad") -> None:  # fmt: skip
    """One bad line between two good ones: exit 1, an errors.jsonl row naming line 2 with ``words``, both good
    lines written."""
    ref = ref or write_wav(tmp_path / "ref.wav")
    good = good_rows(ref)
    lst = write_list(tmp_path / "list.jsonl", [good[0], bad, good[1]])
    out = tmp_path / "out"
    rc, text = run(synth_argv(model, lst, out, *extra), capsys)
    assert rc == 1, text
    errors = errors_of(out)
    assert [(e["line"], e["id"]) for e in errors] == [(2, bad_id)], errors
    for word in words:
        assert word in errors[0]["reason"], errors[0]["reason"]
    for row in good:
        assert_valid_wav(out / f"{row['id']}.wav")
    assert sorted(r["id"] for r in read_jsonl(out / "results.jsonl")) == ["good0", "good1"]
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".wav") == ["good0.wav", "good1.wav"]


# ------------------------------------------------------------------ 3: --overwrite deletes only its own wavs


def test_overwrite_deletes_only_the_wavs_its_results_list(f5_model, tmp_path, capsys):
    mine = tmp_path / "my_folder"
    mine.mkdir()
    recording = mine / "my_recording.wav"
    write_wav(recording, seed=7)
    kept = recording.read_bytes()
    victim = tmp_path / "victim.wav"
    victim.write_bytes(b"keep me")
    out = tmp_path / "out"
    out.symlink_to(mine)  # --out a symlink to a folder that holds a user's wav
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    assert run(synth_argv(f5_model, lst, out), capsys)[0] == 0
    with open(out / "results.jsonl", "a") as f:  # a row that points outside --out is never followed
        f.write(json.dumps({"id": "../victim"}) + "\n")
    rc, text = run([*synth_argv(f5_model, lst, out), "--seed", "1", "--overwrite"], capsys)
    assert rc == 0 and "2 synthesized, 0 already done" in text, text
    assert recording.read_bytes() == kept and victim.read_bytes() == b"keep me"
    assert sorted(p.name for p in mine.glob("*.wav")) == ["good0.wav", "good1.wav", "my_recording.wav"]


# ------------------------------------------------------------------ 5: one run per --out


def test_second_run_into_the_same_out_is_refused_while_the_first_holds_it(f5_model, tmp_path, capsys):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    out.mkdir()
    with out_dir_lock(out, ".synth.lock", "tts synth"):  # what a running `tts synth` holds
        rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 2, text
    assert "in use by another tts synth run" in text and f"process {os.getpid()}" in text and ".synth.lock" in text
    assert "Traceback" not in text and not (out / "results.jsonl").exists()
    rc, text = run(synth_argv(f5_model, lst, out), capsys)  # the lock goes with its holder
    assert rc == 0 and "2 synthesized" in text


def test_lock_file_that_is_a_symlink_is_not_followed(f5_model, tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".synth.lock").symlink_to(victim)
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 2 and ".synth.lock" in text and victim.read_text() == "keep me"


# ------------------------------------------------------------------ 6, 13: bad values in one line


@pytest.mark.parametrize("over,bad_id,words", [
    ({"text": "Hello\x00there."}, "bad", ["text has control character(s) U+0000"]),
    ({"ref_text": "A\x00prompt."}, "bad", ["ref_text has control character(s) U+0000"]),
    ({"id": "b\x00d"}, "b\x00d", ["id is not usable as a file name", "control character"]),
    ({"id": "two\nlines"}, "two\nlines", ["id is not usable as a file name", "control character"]),
    ({"id": "a\ttab"}, "a\ttab", ["id is not usable as a file name", "control character"]),
    ({"id": "lone\ud800"}, "lone\\ud800", ["id is not usable as a file name", "surrogate"]),
    ({"duration": 1e308}, "bad", ["too long", "1e+308 s", "maximum 8.0 s"]),
    ({"duration": "inf"}, "bad", ["duration must be a positive finite number"]),
], ids=["nul_text", "nul_ref_text", "nul_id", "newline_id", "tab_id", "surrogate_id", "duration_1e308",
        "duration_inf"])  # fmt: skip
def test_bad_value_in_one_line_is_its_error_and_the_rest_complete(over, bad_id, words, f5_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    _check_bad_line(f5_model, tmp_path, capsys, _row(ref, **over), words, ref=ref, bad_id=bad_id)


def test_nul_in_ref_audio_path_is_its_lines_error(f5_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    _check_bad_line(f5_model, tmp_path, capsys, _row(ref + "\x00.wav"), ["ref_audio has control character(s) U+0000"],
                    ref=ref)  # fmt: skip


@pytest.mark.parametrize("make,words", [
    (lambda p: p.mkdir(), ["prompt.wav", "is a directory"]),
    (lambda p: p.symlink_to(p), ["prompt.wav", "symbolic link loop"]),
], ids=["directory", "symlink_loop"])  # fmt: skip
def test_prompt_that_is_not_a_file_is_named_for_what_it_is(make, words, f5_model, tmp_path, capsys):
    prompt = tmp_path / "prompt.wav"
    make(prompt)
    _check_bad_line(f5_model, tmp_path, capsys, _row(str(prompt)), words)


# ------------------------------------------------------------------ 9: plausible lengths


def test_ref_text_too_long_for_its_prompt_is_refused(f5_model, tmp_path, capsys):
    short = write_wav(tmp_path / "short.wav", seconds=0.1)
    twelve_words = "One two three four five six seven eight nine ten eleven twelve."
    _check_bad_line(f5_model, tmp_path, capsys, _row(short, ref_text=twelve_words),
                    ["ref_text has 63 characters for a 0.10 s prompt", "short.wav", "transcript"])  # fmt: skip


ALIGN = [["H", 0.0, 0.1], ["i", 0.1, 0.1], [".", 0.2, 0.1]]


@pytest.mark.parametrize("over,words", [
    ({"alignment": [["H", 1e307, 0.1]]}, ["alignment ends at 1e+307 s", "maximum 8.0 s"]),
    ({"alignment": [["H", 0.0, 1e308]]}, ["alignment ends at 1e+308 s"]),
    ({"alignment": [["H", 0.0, 0.0], ["i", 0.0, 0.0]]}, ["zero-length alignment"]),
    ({"alignment": [["H", 0.0, 0.2], ["i", 0.1, 0.1]]}, ["alignment item 1", "before item 0", "without overlaps"]),
    ({"alignment": [["H", 0.2, 0.1], ["i", 0.0, 0.1]]}, ["alignment item 1", "time order"]),
    ({"ref_alignment": [["A", 1e307, 0.1]]}, ["ref_alignment ends at 1e+307 s"]),
    ({"ref_alignment": [["A", 0.1, 0.1], ["p", 0.0, 0.1]]}, ["ref_alignment", "item 1", "time order"]),
], ids=["start_1e307", "duration_1e308", "zero_length", "overlap", "out_of_order", "ref_start_1e307",
        "ref_out_of_order"])  # fmt: skip
def test_unusable_alignment_is_its_lines_error_never_resorted(over, words, aligned_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    bad = {**_row(ref, alignment=ALIGN), **over}
    good = [{**r, "alignment": ALIGN} for r in good_rows(ref)]
    lst = write_list(tmp_path / "list.jsonl", [good[0], bad, good[1]])
    out = tmp_path / "out"
    rc, text = run(synth_argv(aligned_model, lst, out, "--durations", "oracle"), capsys)
    assert rc == 1, text
    errors = errors_of(out)
    assert [(e["line"], e["id"]) for e in errors] == [(2, "bad")]
    for word in words:
        assert word in errors[0]["reason"], errors[0]["reason"]
    for row in good:
        assert_valid_wav(out / f"{row['id']}.wav")


# ------------------------------------------------------------------ 10: `duration` with aligned models


def test_aligned_model_in_predictor_mode_honours_the_rows_duration(aligned_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    rows = [_row(ref, id="free"), _row(ref, id="one", duration=1.0), _row(ref, id="three", duration=3.0)]
    out = tmp_path / "out"
    rc, text = run(synth_argv(aligned_model, write_list(tmp_path / "list.jsonl", rows), out, "--speed", "2"), capsys)
    assert rc == 0, text
    seconds = {r["id"]: r["duration_s"] for r in read_jsonl(out / "results.jsonl")}
    assert seconds["one"] == pytest.approx(1.0, abs=0.03) and seconds["three"] == pytest.approx(3.0, abs=0.03)
    assert "duration" in tts.synth.build_parser().format_help()
    assert "scales its predicted durations" in " ".join(tts.synth.build_parser().format_help().split())


# ------------------------------------------------------------------ 11: text the front end cannot speak


@pytest.mark.parametrize("over,words", [
    ({"text": "你好，世界。"}, ["'你'", "'好'", "'世'", "'界'", "unknown character"]),
    ({"text": "Привет мир"}, ["'П'", "'р'", "unknown character"]),
    ({"ref_text": "Привет."}, ["'П'", "unknown character"]),
], ids=["chinese", "cyrillic", "cyrillic_ref_text"])  # fmt: skip
def test_phoneme_model_refuses_text_it_cannot_speak(over, words, phoneme_model, tmp_path, capsys):
    ref = write_wav(tmp_path / "ref.wav")
    _check_bad_line(phoneme_model, tmp_path, capsys, _row(ref, **over), words, ref=ref)


# ------------------------------------------------------------------ 7: disk full


def test_disk_full_while_saving_a_wav_names_the_line_stops_and_resumes(f5_model, tmp_path, capsys, monkeypatch):
    real = tts.audio.atomic_write

    def full_at_good1(path, write):  # the wav's bytes go to /dev/full: a real ENOSPC from the kernel
        return write("/dev/full") if Path(path).name == "good1.wav" else real(path, write)

    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    monkeypatch.setattr(tts.audio, "atomic_write", full_at_good1)
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 2, text
    assert "disk full (No space left on device)" in text and "good1.wav" in text and "line 2 (id 'good1')" in text
    assert "stopped after 1 of 2 lines" in text and "run the same command again" in text and "Traceback" not in text
    assert [r["id"] for r in read_jsonl(out / "results.jsonl")] == ["good0"]
    assert [(e["line"], e["id"]) for e in errors_of(out)] == [(2, "good1")]
    monkeypatch.setattr(tts.audio, "atomic_write", real)  # space freed
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 0 and "1 synthesized, 1 already done" in text, text
    for i in range(2):
        assert_valid_wav(out / f"good{i}.wav")


def test_disk_full_while_writing_settings_is_one_line_and_leaves_no_outputs(f5_model, tmp_path, capsys, monkeypatch):
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    monkeypatch.setattr(tts.synth.outdir, "atomic_write_json", lambda path, obj: Path("/dev/full").write_text(json.dumps(obj)))
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 2 and "disk full" in text and "settings.json" in text and "Traceback" not in text, text
    assert not list(out.glob("*.wav")) and not read_jsonl(out / "results.jsonl")
    monkeypatch.undo()
    assert run(synth_argv(f5_model, lst, out), capsys)[0] == 0


def test_writable_check_writes_bytes_so_a_full_disk_is_refused_before_the_model_loads(tmp_path, capsys, monkeypatch):
    real_mkstemp = tts.synth.outdir.tempfile.mkstemp

    def mkstemp_on_a_full_disk(**kw):  # the probe file exists, but its bytes go to /dev/full
        fd, path = real_mkstemp(**kw)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), path

    monkeypatch.setattr(tts.synth.outdir.tempfile, "mkstemp", mkstemp_on_a_full_disk)
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    rc, text = run(synth_argv(tmp_path / "no_model_needed", lst, out), capsys)
    assert rc == 2 and f"--out {out} is not writable: disk full (No space left on device)" in text, text
    assert not [p for p in out.iterdir()]  # the probe is gone


def test_wav_encoding_error_is_its_lines_error(f5_model, tmp_path, capsys, monkeypatch):
    real, calls = sf.write, []

    def fail_second(*args, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise sf.LibsndfileError(errno.EIO, "Error writing wav: ")
        return real(*args, **kw)

    ref = write_wav(tmp_path / "ref.wav")
    lst = write_list(tmp_path / "list.jsonl", [*good_rows(ref), _row(ref, id="good2")])
    out = tmp_path / "out"
    monkeypatch.setattr(tts.audio.sf, "write", fail_second)
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 1 and "Traceback" not in text, text
    errors = errors_of(out)
    assert [(e["line"], e["id"]) for e in errors] == [(2, "good1")] and "cannot save" in errors[0]["reason"]
    assert sorted(r["id"] for r in read_jsonl(out / "results.jsonl")) == ["good0", "good2"]


# ------------------------------------------------------------------ 8, 12: a failed run claims no folder


def test_failed_run_leaves_no_settings_so_a_good_model_runs_next(f5_model, model_copy, tmp_path, capsys):
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    rc, text = run(synth_argv(model_copy, lst, out), capsys)
    assert rc == 2 and "model.safetensors" in text
    assert not (out / "settings.json").exists()
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 0 and "2 synthesized" in text, text


def test_settings_without_results_do_not_claim_the_folder(f5_model, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "settings.json").write_text(json.dumps({"model_sha256": "from a run that failed", "seed": 5}))
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    rc, text = run(synth_argv(f5_model, lst, out), capsys)
    assert rc == 0 and "2 synthesized" in text, text
    assert json.loads((out / "settings.json").read_text())["seed"] == 0


@pytest.mark.parametrize("device,words", [
    ("banana", ["--device 'banana' is not a torch device"]),
    ("cuda", ["--device cuda: no CUDA GPU is available here", "--device cpu"]),
])  # fmt: skip
def test_unusable_device_is_one_line_and_writes_nothing(device, words, f5_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    lst = write_list(tmp_path / "list.jsonl", good_rows(write_wav(tmp_path / "ref.wav")))
    out = tmp_path / "out"
    rc, text = run([*synth_argv(f5_model, lst, out), "--device", device], capsys)
    assert rc == 2 and text.strip().count("\n") == 0 and "Traceback" not in text, text
    for word in words:
        assert word in text, text
    assert not out.exists()
