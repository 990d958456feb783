"""tts.io.load_checkpoint: weights-only loads whose errors name the file and say what to do."""

import collections

import pytest
import torch

from tts.io import CheckpointError, load_checkpoint


class NotATensor(collections.UserDict):
    """A pickled object that the weights-only unpickler refuses."""


def test_loads_tensors(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"w": torch.arange(3)}, path)
    assert torch.equal(load_checkpoint(path)["w"], torch.arange(3))


def test_missing_file_names_it_and_adds_the_hint(tmp_path):
    with pytest.raises(CheckpointError, match=r"not found: .*nope\.pt\. Put it there"):
        load_checkpoint(tmp_path / "nope.pt", missing_hint="Put it there")


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.pt"
    torch.save({"w": torch.randn(1000)}, path)
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match=r"cut\.pt.*truncated"):
        load_checkpoint(path)


def test_pickled_objects_are_refused_with_the_resave_hint(tmp_path):
    path = tmp_path / "objects.pt"
    torch.save({"w": NotATensor(a=1)}, path)
    with pytest.raises(CheckpointError, match=r"weights_only=True(.|\n)*other than tensors(.|\n)*re-save it") as err:
        load_checkpoint(path, resave_hint="re-save it")
    assert "NotATensor" in str(err.value)  # the refused global is named


def test_git_commit_marks_uncommitted_changes(tmp_path):
    import subprocess

    from tts.io import git_commit

    assert git_commit(tmp_path) == "unknown (no git)"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "a.txt").write_text("1")
    subprocess.run([*git, "add", "a.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    assert git_commit(tmp_path) == head
    (tmp_path / "new.txt").write_text("untracked files do not count")
    assert git_commit(tmp_path) == head
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == head + "+dirty"
