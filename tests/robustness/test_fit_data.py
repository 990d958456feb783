"""`tts fit` on a run folder without its data: one line naming the manifest and the command that makes it, no
traceback; the data modules raise the same errors for a missing, unreadable or feature-less manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from robust_helpers import run, write_wav

from tts.data.datamodule import CropDataModule, DataError, ManifestNotFoundError, UtteranceDataModule
from tts.data.importers import import_list
from tts.errors import TTSError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
F5_SMOKE = [a for r in ("f5/base.yaml", "space/mel.yaml", "smoke/f5.yaml") for a in ("-c", str(RECIPES / r))]


def test_fit_on_a_run_folder_without_features_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the trainer's default folders, were anything written
    run_dir = tmp_path / "run"
    (run_dir / "corpus").mkdir(parents=True)
    rc, text = run(["fit", "--run_dir", str(run_dir), *F5_SMOKE], capsys)
    assert rc != 0 and "Traceback" not in text, text
    line = f"tts fit: train manifest not found: {run_dir}/feats/mel_train/cuts.jsonl.gz; cache the features first: "
    assert line in text and f"tts extract features --space SPACE --cuts CORPUS_CUTS --out {run_dir}/feats/mel_train" in text
    assert sorted(p.name for p in run_dir.iterdir()) == ["corpus"] and sorted(tmp_path.iterdir()) == [run_dir]


@pytest.fixture
def corpus_cuts(tmp_path):
    """A 2-utterance corpus manifest (audio and text, no cached features)."""
    for i in range(2):
        write_wav(tmp_path / f"a{i}.wav", seconds=1.0, seed=i)
    (tmp_path / "list.txt").write_text("a0.wav|Hello there.|s1\na1.wav|General Kenobi.|s1\n")
    cuts, _ = import_list(tmp_path / "list.txt")
    path = tmp_path / "cuts.jsonl.gz"
    cuts.to_file(path)
    return str(path)


def test_utterance_data_on_cuts_without_cached_features_names_the_key_and_the_command(corpus_cuts):
    dm = UtteranceDataModule(train_cuts=corpus_cuts, val_cuts=corpus_cuts, num_workers=0)
    with pytest.raises(DataError, match=r"skipped 2 \(missing_features=2\); its cuts have no cached 'feats': "
                                        r"cache the features first: tts extract features") as e:  # fmt: skip
        dm.setup("fit")
    assert corpus_cuts in str(e.value) and isinstance(e.value, TTSError)


def test_teacher_crops_without_the_teacher_manifest_say_how_to_extract_it(corpus_cuts, tmp_path):
    missing = str(tmp_path / "feats" / "teacher_train" / "cuts.jsonl.gz")
    dm = CropDataModule(train_cuts=missing, val_cuts=missing, teacher_key="teacher", num_workers=0)
    with pytest.raises(ManifestNotFoundError, match=f"train manifest not found: {missing}; .*tts extract teacher"):
        dm.setup("fit")
    assert issubclass(ManifestNotFoundError, FileNotFoundError)


def test_unreadable_manifest_is_named(tmp_path):
    bad = tmp_path / "cuts.jsonl.gz"
    bad.write_bytes(b"\x1f\x8b not really gzip")
    dm = UtteranceDataModule(train_cuts=str(bad), val_cuts=str(bad), num_workers=0)
    with pytest.raises(DataError, match=f"cannot read the train manifest {bad}"):
        dm.setup("fit")


@pytest.mark.parametrize("flag,words", [
    ("--model.init_args.lr=-1", "model.init_args.lr must be a number > 0, not -1.0"),
    ("--model.init_args.ema_beta=2", "model.init_args.ema_beta"),
])  # fmt: skip
def test_fit_with_a_setting_out_of_range_is_one_line(flag, words, tmp_path, capsys, monkeypatch):
    """jsonargparse re-raises a constructor's error as its own: tts fit prints the project's message alone."""
    monkeypatch.chdir(tmp_path)
    rc, text = run(["fit", "--run_dir", str(tmp_path), *F5_SMOKE, flag], capsys)
    assert rc == 2 and f"tts fit: {words}" in text and "Traceback" not in text, text
