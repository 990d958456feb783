"""`tts bench` writes only inside --out: test-list ids, system names and scorer names that are not one plain file
name (as `tts synth` refuses its ids) and duplicate ids are refused before anything runs, each one named (exit 2);
every path the runner writes is checked to resolve under --out. `--overwrite` deletes only the files the
benchmark's own record (written.jsonl) names, never through a symlinked folder; one run per --out at a time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from robust_helpers import bench_cli, write_wav

from tts.bench.runner import LOCK_NAME
from tts.io import UnsafePathError, out_dir_lock, path_under

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


# ------------------------------------------------------------------ --overwrite deletes only what the benchmark wrote


def _files(folder: Path) -> dict[str, bytes]:
    """{path under ``folder``: bytes} of each file there; a symlink reads 'link -> target' and is not entered."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            files[path.relative_to(folder).as_posix()] = (
                f"link -> {os.readlink(path)}".encode() if path.is_symlink() else path.read_bytes()
            )
    return files


def _tree(out: Path) -> dict[str, bytes]:
    """``_files`` of out/audio and out/cache, as paths under ``out``."""
    return {f"{top}/{rel}": data for top in ("audio", "cache") for rel, data in _files(out / top).items()}


@pytest.fixture
def bench_tts(bench, f5_model):
    """The robust benchmark with a tiny F5 system too: each of its seeds is a `tts synth` folder."""
    spec, write = bench
    f5 = {"name": "f5", "type": "tts", "model": str(f5_model), "nfe": 2}
    return {**spec, "systems": [*spec["systems"], f5]}, write


def test_overwrite_deletes_only_the_benchmarks_own_files_and_writes_them_anew(bench_tts, tmp_path, capsys):
    spec, write = bench_tts
    out = tmp_path / "out"
    rc, text = bench_cli(write(spec), out, capsys)
    assert rc == 0, text
    own = set(_tree(out))
    assert {"audio/f5/seed0/u0.wav", "audio/f5/seed0/results.jsonl", "audio/f5/seed0/settings.json",
            "audio/_gt/u0.wav", "audio/_prompt/r0.wav", "cache/f5/seed0/asr_echo.jsonl",
            "cache/gt/seed0/sim_const.jsonl"} <= own  # fmt: skip
    victims = {"audio/f5/seed0/my_notes.txt": b"mine", "audio/f5/my_take.wav": b"my recording",
               "cache/gt/seed0/mine.jsonl": b"keep me"}  # fmt: skip
    for rel, data in victims.items():
        (out / rel).write_bytes(data)
    # a hard link keeps each old file alive, so a file --overwrite did not delete would still be the same file
    # (wavs are skipped and caches appended to when they are there; _gt/_prompt are links of the inputs)
    replaced = sorted(rel for rel in own if rel.endswith(".jsonl") or rel.startswith("audio/f5/"))
    for i, rel in enumerate(replaced):
        os.link(out / rel, tmp_path / f"old{i}")

    rc, text = bench_cli(write(spec), out, capsys, "--overwrite")
    assert rc == 0, text
    assert "--overwrite deleted the earlier run's recorded files and left 3 files it did not write: " in text, text
    for folder in (out / "audio" / "f5" / "seed0", out / "audio" / "f5", out / "cache" / "gt" / "seed0"):
        assert f"{folder} (1)" in text, text
    after = _tree(out)
    assert set(after) == own | set(victims)
    assert {rel: after[rel] for rel in victims} == victims
    assert len(replaced) >= 8
    assert [rel for i, rel in enumerate(replaced) if os.path.samefile(out / rel, tmp_path / f"old{i}")] == []


def test_overwrite_does_not_follow_a_symlinked_audio_folder_out_of_out(bench_tts, tmp_path, capsys):
    spec, write = bench_tts
    out = tmp_path / "out"
    rc, text = bench_cli(write(spec), out, capsys)
    assert rc == 0, text
    # the user's folder holds files at exactly the paths the benchmark's record names
    user = tmp_path / "my_audio"
    (out / "audio").rename(user)
    (out / "audio").symlink_to(user)
    before = _files(user)
    assert "f5/seed0/u0.wav" in before and "_gt/u0.wav" in before

    rc, text = bench_cli(write(spec), out, capsys, "--overwrite")
    assert rc == 2, text
    assert f"{out / 'audio'} -> {user} (symlink, not followed) (1)" in text, text
    assert "outside the output folder" in text and "Traceback" not in text, text
    assert _files(user) == before
    assert (out / "audio").is_symlink() and not (out / "written.jsonl").exists()


def test_overwrite_refuses_earlier_outputs_it_has_no_record_of(bench_tts, tmp_path, capsys):
    spec, write = bench_tts
    out = tmp_path / "out"
    rc, text = bench_cli(write(spec), out, capsys)
    assert rc == 0, text
    (out / "written.jsonl").unlink()  # as an older tts bench left its folder: no record of what it wrote
    before = _tree(out)

    rc, text = bench_cli(write(spec), out, capsys, "--overwrite")
    assert rc == 2 and "Traceback" not in text, text
    assert "holds earlier outputs that written.jsonl does not record" in text, text
    assert str(out / "audio" / "f5" / "seed0" / "results.jsonl") in text and "asr_echo.jsonl" in text, text
    assert _tree(out) == before


def test_second_bench_into_the_same_out_is_refused_while_the_first_holds_it(bench, tmp_path, capsys):
    spec, write = bench
    out = tmp_path / "out"
    out.mkdir()
    with out_dir_lock(out, LOCK_NAME, "tts bench"):  # what a running `tts bench` holds
        rc, text = bench_cli(write(spec), out, capsys)
    assert rc == 2 and "Traceback" not in text, text
    assert f"{out} is in use by another tts bench run (process {os.getpid()}, lock {out / LOCK_NAME})" in text, text
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    rc, text = bench_cli(write(spec), out, capsys)  # the lock goes with its holder
    assert rc == 0, text
