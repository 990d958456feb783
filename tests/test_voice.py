"""`tts voice`: recordings -> screened, aligned, fine-tuned, exported with a default prompt, reported; resumable."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from factories import tiny_aligned_f5_export

from tts.cli import main as tts_main
from tts.voice import (
    VoiceError,
    VoiceSettings,
    choose_prompt,
    folder_items,
    main,
    screen_recording,
    split_held_out,
)

SENTENCES = Path(__file__).resolve().parent.parent / "data" / "sentences" / "test_sentences.txt"
SR = 22050


def sentences(n: int) -> list[str]:
    lines = [line.strip() for line in SENTENCES.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")][:n]


def espeak_recordings(folder: Path, n: int) -> Path:
    """``n`` espeak-ng recordings ``sNN.wav`` + ``sNN.txt`` of the project's natural sentences."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(sentences(n)):
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(folder / f"s{i:02d}.wav"), text], check=True, timeout=30)
        (folder / f"s{i:02d}.txt").write_text(text + "\n")
    return folder


def tone(seconds: float, amplitude: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2).astype(np.float32)


# ---- screening, split, prompt -----------------------------------------------------------------------------
TEXT = "the quick brown fox jumps over the lazy dog"  # 43 characters: ~3 s of speech


@pytest.mark.parametrize("wav, sr, reason", [
    (tone(3.0), SR, None),
    (tone(0.5), SR, "too_short"),
    (tone(20.0), SR, "too_long"),
    (np.zeros(3 * SR, np.float32), SR, "silent"),
    (np.clip(tone(3.0, amplitude=3.0), -1, 1), SR, "clipped"),
    (tone(3.0, sr=8000), 8000, "low_sample_rate"),
    (tone(14.0), SR, "text_mismatch"),  # 43 characters over 14 s of sound
])  # fmt: skip
def test_screen_recording_names_what_is_wrong(wav, sr, reason):
    problem = screen_recording(wav, sr, TEXT, min_s=1.0, max_s=15.0)
    assert (problem[0] if problem else None) == reason, problem


def test_a_transcript_far_too_long_for_its_audio_is_a_text_mismatch():
    problem = screen_recording(tone(1.5), SR, TEXT * 3, min_s=1.0, max_s=15.0)
    assert problem[0] == "text_mismatch" and "characters" in problem[1]


def test_folder_items_pairs_audio_with_its_transcript_and_names_every_file_without_one(tmp_path):
    for stem in ("a", "b", "c"):
        sf.write(tmp_path / f"{stem}.wav", tone(2.0), SR)
    (tmp_path / "a.txt").write_text("Hello there.\n")
    (tmp_path / "c.txt").write_text("")
    (tmp_path / "d.txt").write_text("No audio for me.")
    (tmp_path / "e.txt").write_bytes(b"caf\xe9\n")
    sf.write(tmp_path / "e.flac", tone(2.0), SR)
    skipped: list[dict] = []
    lines = folder_items(tmp_path, "me", skipped)
    assert lines == [f"{(tmp_path / 'a.wav').resolve()}|Hello there.|me"]
    got = {Path(s["file"]).name: s["reason"] for s in skipped}
    assert got == {"b.wav": "no_transcript", "c.wav": "empty_text", "d.txt": "no_audio", "e.flac": "bad_transcript"}


def test_held_out_only_when_enough_recordings_are_left_to_train_on():
    ids = [f"u{i:02d}" for i in range(40)]
    train, test = split_held_out(ids, 10, seed=0)
    assert len(train) == 30 and len(test) == 10 and not set(train) & set(test)
    assert split_held_out(ids, 10, seed=0) == (train, test)  # the same draw for the same seed
    assert split_held_out(ids[:29], 10, seed=0) == (sorted(ids[:29]), [])
    assert split_held_out(ids, 0, seed=0) == (ids, [])


def test_the_default_prompt_is_the_recording_closest_to_five_seconds_within_three_to_eight():
    assert choose_prompt({"a": 2.0, "b": 7.5, "c": 4.2, "d": 9.0}) == "c"
    assert choose_prompt({"a": 2.0, "d": 9.5}) == "a"  # none in range: the closest overall
    assert choose_prompt({"a": 2.0, "c": 4.2}, wanted="a") == "a"


# ---- settings and refusals --------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, says", [
    ("minutes", 0, "--minutes must be a number in (0, 1440]"),
    ("minutes", float("nan"), "--minutes"),
    ("held_out", 5, "--held-out must be 0"),
    ("held_out", -1, "--held-out must be an integer in [0, 1000]"),
    ("min_seconds", 0.1, "--min-seconds must be a number in [0.3, 10]"),
    ("max_seconds", 0.5, "--max-seconds must be a number in [1, 30]"),
    ("seed", -3, "--seed"),
    ("name", "a/b", "--name 'a/b' contains a path separator"),
    ("name", "a|b", "no '|'"),
])  # fmt: skip
def test_every_setting_out_of_its_range_is_named_with_the_range(field, value, says):
    problems = VoiceSettings(audio="x", base="y", **{field: value}).problems()
    assert any(says in p for p in problems), problems


def test_a_bad_setting_or_a_missing_folder_is_one_line_from_tts(tmp_path, capsys):
    assert tts_main(["voice", "--audio", str(tmp_path), "--base", "b", "--out", str(tmp_path / "o"), "--minutes", "-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "tts voice: --minutes must be a number in (0, 1440], not -1.0"
    assert tts_main(["voice", "--audio", str(tmp_path / "none"), "--base", "b", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--audio" in err and "none: not found" in err


def test_one_recording_instead_of_its_folder_is_refused(tmp_path):
    sf.write(tmp_path / "a.wav", tone(2.0), SR)
    with pytest.raises(VoiceError, match="a.wav is one recording: give the folder"):
        main(["--audio", str(tmp_path / "a.wav"), "--base", "b", "--out", str(tmp_path / "o")])


def test_a_base_that_is_not_an_f5_model_is_refused_naming_it(tmp_path):
    (tmp_path / "rec").mkdir()
    with pytest.raises(VoiceError, match="--base .*notamodel: not found"):
        main(["--audio", str(tmp_path / "rec"), "--base", str(tmp_path / "notamodel"), "--out", str(tmp_path / "o")])


def test_too_few_usable_recordings_are_refused_naming_the_skipped_files(tmp_path):
    base = tiny_aligned_f5_export(tmp_path / "base")
    rec = tmp_path / "rec"
    rec.mkdir()
    for i in range(3):
        sf.write(rec / f"ok{i}.wav", tone(3.0), SR)
        (rec / f"ok{i}.txt").write_text(TEXT)
    sf.write(rec / "quiet.wav", np.zeros(3 * SR, np.float32), SR)
    (rec / "quiet.txt").write_text(TEXT)
    sf.write(rec / "orphan.wav", tone(3.0), SR)
    with pytest.raises(VoiceError, match=r"3 usable recordings, tts voice needs at least 5.*quiet.wav: silent.*"
                                         r"orphan.wav: no_transcript|orphan.wav: no_transcript.*quiet.wav: silent"):
        main(["--audio", str(rec), "--base", str(base), "--out", str(tmp_path / "out")])


def test_a_rerun_with_other_settings_is_refused_naming_them(tmp_path):
    base = tiny_aligned_f5_export(tmp_path / "base")
    rec = tmp_path / "rec"
    rec.mkdir()
    out = tmp_path / "out"
    with pytest.raises(VoiceError):  # nothing to train on, after the settings are recorded
        main(["--audio", str(rec), "--base", str(base), "--out", str(out), "--minutes", "2"])
    with pytest.raises(VoiceError, match=r"other settings \(minutes: 2.0 there, 3.0 now\)"):
        main(["--audio", str(rec), "--base", str(base), "--out", str(out), "--minutes", "3"])
    (rec / "new.txt").write_text("A recording added since.")
    with pytest.raises(VoiceError, match=r"other settings \(the recordings in --audio changed"):
        main(["--audio", str(rec), "--base", str(base), "--out", str(out), "--minutes", "2"])


def test_the_fit_takes_sizes_vocabulary_and_space_from_the_base_and_the_budget_from_minutes(tmp_path):
    from factories import tiny_f5_export

    from tts.voice import fit_overrides, read_base

    settings = VoiceSettings(audio="x", base="y", minutes=2.5, seed=3)
    aligned = read_base(str(tiny_aligned_f5_export(tmp_path / "a")))
    args = dict(a.split("=", 1) for a in fit_overrides(aligned, settings, tmp_path / "vocab.json"))
    assert json.loads(args["--model.init_args.dit"]) == aligned.network
    assert args["--model.init_args.init_from"] == aligned.path and args["--model.init_args.space"] == aligned.space
    assert args["--model.init_args.vocab"] == args["--data.init_args.vocab"] == str(tmp_path / "vocab.json")
    assert (args["--model.init_args.duration_dim"], args["--model.init_args.duration_layers"]) == ("16", "1")
    assert json.loads(args["--trainer.callbacks+"])["init_args"]["max_cpu_time"] == 150.0
    assert args["--seed_everything"] == "3"
    assert args["--data.init_args.max_frames_per_batch"] == str(round(42.7 * 93.75))
    filler = read_base(str(tiny_f5_export(tmp_path / "f")))
    assert not any("init_args.duration_" in a for a in fit_overrides(filler, settings, tmp_path / "vocab.json"))


# ---- tts synth and the default prompt ------------------------------------------------------------------------
def test_tts_synth_rows_without_a_prompt_use_the_models_default_prompt(tmp_path):
    from tts.synth import read_list

    rows = tmp_path / "lines.jsonl"
    rows.write_text('{"id": "a", "text": "Hello."}\n{"id": "b", "text": "Hi.", "ref_text": "x"}\n')
    prompt = {"ref_audio": "/m/prompt.wav", "ref_text": "Its words.", "ref_alignment": [["h", 0.0, 0.1]]}
    items, errors = read_list(rows, prompt)
    assert [(i.id, i.ref_audio, i.ref_text, i.ref_alignment) for i in items] == \
        [("a", "/m/prompt.wav", "Its words.", [["h", 0.0, 0.1]])]  # fmt: skip
    assert errors[0]["line"] == 2 and "give both ref_audio and ref_text, or neither" in errors[0]["reason"]
    items, errors = read_list(rows)
    assert not items and all("this model has no default prompt" in e["reason"] for e in errors)


# ---- end to end ---------------------------------------------------------------------------------------------
@pytest.mark.slow  # alignment, a `tts fit` subprocess and a benchmark of 3 systems: ~1-2 min on 2 shared cores
def test_tts_voice_runs_end_to_end_resumes_and_its_export_speaks(tmp_path, capsys):
    from tts.synth import synthesize_list

    base = tiny_aligned_f5_export(tmp_path / "base")
    rec = espeak_recordings(tmp_path / "rec", 7)
    sf.write(rec / "silent.wav", np.zeros(3 * SR, np.float32), SR)
    (rec / "silent.txt").write_text("Nothing to hear here at all.")
    out = tmp_path / "out"
    argv = ["--audio", str(rec), "--base", str(base), "--out", str(out), "--minutes", "0.05", "--name", "me"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    rec_info = report["recordings"]
    assert rec_info["usable"] == 7 and rec_info["held_out"] == [] and len(rec_info["train"]) == 7
    assert [(Path(s["file"]).name, s["reason"]) for s in rec_info["skipped"]] == [("silent.wav", "silent")]
    assert report["fine_tune"]["steps"] > 0 and report["fine_tune"]["command"].startswith("tts fit --run_dir")
    systems = report["evaluation"]["systems"]
    assert all(systems[s]["status"] == "ok" and systems[s]["sim"]["value"] is not None for s in systems), systems
    assert "wer" not in systems["fine_tuned"]  # nothing held out: SIM only
    md = (out / "report.md").read_text()
    assert "silent.wav: silent" in md and "your recordings (the ceiling)" in md and "tts synth --model" in md
    assert "[7/7] evaluate: done" in first

    # the same command again: every stage is cached, nothing trains
    mtime = (out / "model" / "model.safetensors").stat().st_mtime_ns
    assert main(argv) == 0
    again = capsys.readouterr().out
    assert all(f"{name}: cached" in again for name in ("import", "screen", "align", "features", "finetune",
                                                        "export", "evaluate")), again  # fmt: skip
    assert (out / "model" / "model.safetensors").stat().st_mtime_ns == mtime

    # the export speaks rows of id and text only, in the default prompt's voice
    prompt = json.loads((out / "model" / "prompt.json").read_text())
    assert prompt["text"] and prompt["alignment"] and (out / "model" / "prompt.wav").is_file()
    lines = tmp_path / "lines.jsonl"
    lines.write_text('{"id": "hello", "text": "Hello, this is my voice."}\n')
    summary = synthesize_list(str(out / "model"), str(lines), str(tmp_path / "said"), nfe=4, progress=False)
    assert summary["synthesized"] == 1 and (tmp_path / "said" / "hello.wav").is_file()
