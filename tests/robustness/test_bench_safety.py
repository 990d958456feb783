"""`tts bench` writes only inside --out: test-list ids, system names and scorer names that are not one plain file
name (as `tts synth` refuses its ids) and duplicate ids are refused before anything runs, each one named (exit 2);
every path the runner writes is checked to resolve under --out."""

from __future__ import annotations

import json

import pytest
from robust_helpers import bench_cli, write_wav

from tts.io import UnsafePathError, path_under

BAD_IDS = {
    "../../../victim_dir/important": "contains a path separator",
    "/tmp/abs": "contains a path separator",
    "..": "starts with '.'",
    "nul\x00id": "control character",
    "new\nline": "control character",
    "tab\tid": "control character",
    "x" * 201: "longer than 200 bytes",
}


def _victim(tmp_path):
    victim = tmp_path / "victim_dir" / "important.wav"
    victim.parent.mkdir()
    victim.write_bytes(b"my recording")
    return victim


def _assert_untouched(tmp_path, victim, out):
    assert victim.read_bytes() == b"my recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["victim_dir", *([out.name] if out.exists() else []),
                                                                 "test.jsonl", "spec.yaml", "r0.wav", "r1.wav",
                                                                 "g0.wav", "g1.wav"])  # fmt: skip
    assert [p.name for p in victim.parent.iterdir()] == ["important.wav"]


def test_test_list_ids_that_are_not_file_names_are_refused_before_any_write(bench, tmp_path, capsys):
    spec, write = bench
    victim = _victim(tmp_path)
    rows = [json.loads(line) for line in open(spec["test_list"])]
    with open(spec["test_list"], "a") as f:
        for bad_id in BAD_IDS:
            f.write(json.dumps({**rows[0], "id": bad_id}) + "\n")
    out = tmp_path / "out"
    rc, text = bench_cli(write(spec), out, capsys)
    assert rc == 2 and "Traceback" not in text, text
    for n, (bad_id, reason) in enumerate(BAD_IDS.items(), start=3):
        assert f"test.jsonl line {n}: id {bad_id!r} cannot name its audio file <id>.wav: " in text, text
        assert reason in text.split(f"line {n}: ")[1].split("\n")[0]
    assert not out.exists()
    _assert_untouched(tmp_path, victim, out)


def test_system_and_scorer_names_that_are_not_file_names_are_refused(bench, tmp_path, capsys):
    spec, write = bench
    victim = _victim(tmp_path)
    names = ["../../../victim_dir/important", "a/b", ".hidden", "_gt", "gt"]
    bad = {**spec, "systems": [{"name": n, "type": "ground_truth"} for n in names],
           "asr": [{"backend": "echo", "name": "../../../marker"}]}  # fmt: skip
    out = tmp_path / "out"
    rc, text = bench_cli(write(bad), out, capsys)
    assert rc == 2 and "Traceback" not in text, text
    for i, why in enumerate(["path separator", "path separator", "starts with '.'", "the report's own folder"]):
        assert f"systems[{i}]: name {names[i]!r} cannot name its folder audio/<name>: " in text, text
        assert why in text.split(f"systems[{i}]: name ")[1].split("\n")[0]
    assert "systems[4]" not in text
    assert "asr[0].name: '../../../marker' cannot name its cache file: contains a path separator" in text
    assert not out.exists()
    _assert_untouched(tmp_path, victim, out)


def test_duplicate_system_names_are_refused(bench, tmp_path, capsys):
    spec, write = bench
    bad = {**spec, "systems": [{"name": "gt", "type": "ground_truth"}, {"name": "gt", "type": "ground_truth"}]}
    rc, text = bench_cli(write(bad), tmp_path / "out", capsys)
    assert rc == 2 and "systems: name 'gt' is used more than once" in text, text


def test_duplicate_test_list_ids_are_refused_listing_each_with_its_lines(bench, tmp_path, capsys):
    spec, write = bench
    rows = [json.loads(line) for line in open(spec["test_list"])]
    other = {**rows[0], "text": "Another sentence.", "gt_audio": write_wav(tmp_path / "g9.wav", seed=5)}
    with open(spec["test_list"], "a") as f:
        f.write(json.dumps(other) + "\n" + json.dumps(rows[1]) + "\n" + json.dumps(other) + "\n")
    rc, text = bench_cli(write(spec), tmp_path / "out", capsys)
    assert rc == 2 and "Traceback" not in text, text
    assert "test.jsonl: duplicate ids, each row needs its own: 'u0' (lines 1, 3, 5), 'u1' (lines 2, 4)" in text, text
    assert not (tmp_path / "out").exists()


def test_integer_ids_are_read_as_strings(bench, tmp_path, capsys):
    spec, write = bench
    rows = [{**json.loads(line), "id": i} for i, line in enumerate(open(spec["test_list"]))]
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rc, text = bench_cli(write(spec), tmp_path / "out", capsys)
    assert rc == 0, text
    assert [json.loads(line)["id"] for line in open(tmp_path / "out" / "test_list.jsonl")] == ["0", "1"]


def test_a_path_that_resolves_outside_the_output_folder_is_refused(tmp_path):
    out = tmp_path / "out"
    (out / "audio").mkdir(parents=True)
    assert path_under(out, "audio", "sys", "seed0") == out / "audio" / "sys" / "seed0"
    with pytest.raises(UnsafePathError, match="outside the output folder"):
        path_under(out, "audio", "sys/../../../x.wav")
    (tmp_path / "elsewhere").mkdir()
    (out / "audio" / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePathError, match="elsewhere"):
        path_under(out, "audio", "link", "x.wav")
