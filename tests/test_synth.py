"""tts synth: batch synthesis writes wavs + results, reports bad lines, resumes without redoing work."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf
from factories import tiny_f5_export

from tts.io import read_jsonl
from tts.synth import main, make_batches, read_list, synthesize_list


def tiny_model(tmp_path) -> str:
    return str(tiny_f5_export(tmp_path))


def write_wav(path, seconds=0.5, sr=24000, seed=0):
    rng = np.random.default_rng(seed)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * sr))).astype("float32"), sr)
    return str(path)


def make_list(tmp_path) -> str:
    ref = write_wav(tmp_path / "ref.wav")
    ref16 = write_wav(tmp_path / "ref16.wav", sr=16000, seed=1)  # resampled on load
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF not really a wav")
    lines = [
        json.dumps(
            {
                "id": f"u{i}",
                "text": "Hello there." * (1 + i % 3),
                "ref_audio": ref if i % 2 else ref16,
                "ref_text": "A prompt.",
                **({"duration": 0.4} if i == 3 else {}),
            }
        )
        for i in range(10)
    ]
    lines += [
        json.dumps({"id": "bad_chars", "text": "Привет", "ref_audio": ref, "ref_text": "A prompt."}),
        json.dumps(
            {"id": "no_file", "text": "Hi.", "ref_audio": str(tmp_path / "missing.wav"), "ref_text": "A."}
        ),
        json.dumps({"id": "no_text", "ref_audio": ref, "ref_text": "A prompt."}),
    ]
    path = tmp_path / "list.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_synth_ten_good_three_bad_then_rerun_writes_nothing(tmp_path, capsys):
    model, lst, out = tiny_model(tmp_path), make_list(tmp_path), tmp_path / "out"
    rc = main(
        [
            "--model",
            model,
            "--input",
            lst,
            "--out",
            str(out),
            "--nfe",
            "2",
            "--batch-frames",
            "300",
            "--no-progress",
        ]
    )
    assert rc == 1
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert wavs == sorted(f"u{i}.wav" for i in range(10))
    errors = read_jsonl(out / "errors.jsonl")
    assert sorted((e["line"], e["id"]) for e in errors) == [
        (11, "bad_chars"),
        (12, "no_file"),
        (13, "no_text"),
    ]
    assert "unknown character" in errors[0]["reason"] or "unknown character" in errors[1]["reason"]
    rows = read_jsonl(out / "results.jsonl")
    assert len(rows) == 10 and {
        "id",
        "duration_s",
        "rtf",
        "seed",
        "nfe",
        "cfg",
        "sway",
        "speed",
        "synth_s",
    } <= set(rows[0])
    info = sf.info(out / "u3.wav")
    assert info.samplerate == 24000 and abs(info.duration - 0.4) < 0.02  # explicit duration honoured
    assert "10 synthesized" in capsys.readouterr().out

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    summary = synthesize_list(model, lst, str(out), nfe=2, progress=False)
    assert summary["synthesized"] == 0 and summary["skipped_done"] == 10 and summary["errors"] == 3
    assert len(read_jsonl(out / "results.jsonl")) == 10
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == mtimes


def test_deleted_wav_is_redone_with_the_same_audio(tmp_path):
    model, lst, out = tiny_model(tmp_path), make_list(tmp_path), tmp_path / "out"
    synthesize_list(model, lst, str(out), nfe=2, progress=False, batch_frames=10_000)
    first, _ = sf.read(out / "u4.wav")
    (out / "u4.wav").unlink()
    summary = synthesize_list(model, lst, str(out), nfe=2, progress=False, batch_frames=1)  # other batching
    assert summary["synthesized"] == 1
    again, _ = sf.read(out / "u4.wav")
    np.testing.assert_allclose(again, first, atol=2e-4)


def test_list_parsing_reports_every_kind_of_bad_line(tmp_path):
    ref = write_wav(tmp_path / "ref.wav")
    good = {"id": "a", "text": "Hi.", "ref_audio": ref, "ref_text": "Yo."}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({**good, "id": "c", "text": "  "}),
        json.dumps(good),
        json.dumps({**good, "id": "b", "duration": -1}),
        json.dumps({**good, "id": "../x"}),
        "[1, 2]",
    ]
    (tmp_path / "l.jsonl").write_text("\n".join(lines))
    items, errors = read_list(tmp_path / "l.jsonl")
    assert [it.id for it in items] == ["a"]
    reasons = {e["line"]: e["reason"] for e in errors}
    assert reasons.keys() == {2, 3, 4, 5, 6, 7}
    assert "unparseable" in reasons[2] and "empty text" in reasons[3] and "duplicate" in reasons[4]
    assert "duration" in reasons[5] and "file name" in reasons[6] and "unparseable" in reasons[7]


def test_tsv_list_and_too_long_text(tmp_path):
    model = tiny_model(tmp_path)
    ref = write_wav(tmp_path / "ref.wav")
    rows = [
        "id\ttext\tref_audio\tref_text",
        f"ok\tHello.\t{ref}\tA prompt.",
        f"long\t{'Words and words. ' * 60}\t{ref}\tA prompt.",
    ]
    (tmp_path / "l.tsv").write_text("\n".join(rows) + "\n")
    summary = synthesize_list(model, str(tmp_path / "l.tsv"), str(tmp_path / "out"), nfe=1, progress=False)
    assert summary["synthesized"] == 2 and summary["errors"] == 0  # a text past the model's window: in chunks
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "out" / "results.jsonl")}
    assert rows["ok"]["chunks"] == 1 and rows["long"]["chunks"] > 1 and rows["long"]["duration_s"] > 8


def test_batches_respect_frame_budget():
    from tts.synth import Item

    items = [Item(i, str(i), "t", "r", "rt", total_frames=n) for i, n in enumerate([100, 50, 90, 10, 60])]
    batches = make_batches(items, 200)
    assert all(len(b) * b[0].total_frames <= 200 or len(b) == 1 for b in batches)
    assert sorted(it.id for b in batches for it in b) == sorted(it.id for it in items)


def test_quiet_prompt_is_raised_to_rms_0_1_and_the_output_scaled_back(tmp_path):
    """F5-TTS: a prompt under RMS 0.1 is raised to it, the output divided by the same gain; so a prompt
    20x quieter than an RMS-0.1 one gives the same audio, 20x quieter."""
    model = tiny_model(tmp_path)
    rng = np.random.default_rng(3)
    base = rng.standard_normal(12000)
    base = (0.1 * base / np.sqrt(np.mean(base**2))).astype("float32")
    outs = {}
    for name, scale in (("normal", 1.0), ("quiet", 0.05)):
        sf.write(tmp_path / f"{name}.wav", base * scale, 24000, subtype="FLOAT")
        lst = tmp_path / f"{name}.jsonl"
        row = {
            "id": "u",
            "text": "Hello there.",
            "ref_audio": str(tmp_path / f"{name}.wav"),
            "ref_text": "Hi.",
        }
        lst.write_text(json.dumps(row) + "\n")
        synthesize_list(model, str(lst), str(tmp_path / name), nfe=2, progress=False)
        outs[name], _ = sf.read(tmp_path / name / "u.wav", dtype="float32")
    assert np.abs(outs["normal"]).max() > 1e-3
    # the wavs are 16-bit: the quiet one's rounding step (2^-15) is 20x larger after scaling
    np.testing.assert_allclose(outs["quiet"] * 20, outs["normal"], rtol=0, atol=21 * 2.0**-15)
    assert np.abs(outs["quiet"]).max() < np.abs(outs["normal"]).max() / 10
