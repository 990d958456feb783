"""One root exception: every error the package raises on purpose is a TTSError; tts prints it cleanly."""

import pytest
import torch

from tts.errors import CheckpointError, TTSError


def _specific_errors():
    from tts.audio import AudioError
    from tts.bench.asr import ASRError
    from tts.bench.browser import BrowserError
    from tts.bench.similarity import SimilarityError
    from tts.bench.spec import SpecError
    from tts.corpus.build import SplitLeakError, SynthesizerMissingError
    from tts.corpus.piper_voice import PiperAlignmentError, PiperVoiceMissingError
    from tts.data.align import AlignerError
    from tts.data.alignment import AlignmentError
    from tts.data.datamodule import DataError, ManifestNotFoundError
    from tts.io import OutDirError, UnsafePathError
    from tts.synth import SynthError
    from tts.text import PhonemizerMissingError, TextError, UnknownCharacterError, UnknownSymbolError

    # each keeps the builtin base it had, so `except ValueError` / `except RuntimeError` still catch it
    return [(AudioError, ValueError), (TextError, ValueError), (UnknownCharacterError, ValueError),
            (UnknownSymbolError, ValueError), (AlignerError, ValueError), (AlignmentError, ValueError),
            (SpecError, ValueError), (CheckpointError, RuntimeError), (PhonemizerMissingError, RuntimeError),
            (SynthError, RuntimeError), (ASRError, RuntimeError), (SimilarityError, RuntimeError),
            (BrowserError, RuntimeError), (SynthesizerMissingError, RuntimeError), (SplitLeakError, RuntimeError),
            (PiperVoiceMissingError, RuntimeError), (PiperAlignmentError, RuntimeError), (DataError, RuntimeError),
            (ManifestNotFoundError, FileNotFoundError), (UnsafePathError, ValueError), (OutDirError, RuntimeError)]


def test_every_specific_error_is_a_tts_error_and_keeps_its_builtin_base():
    for cls, builtin in _specific_errors():
        assert issubclass(cls, TTSError) and issubclass(cls, builtin), cls


def test_io_checkpoint_error_is_the_one_class():
    import tts.io

    assert tts.io.CheckpointError is CheckpointError


def test_not_a_checkpoint_is_a_checkpoint_error_everywhere(tmp_path):
    """A file that is not the checkpoint a loader expects: the same class from every loader."""
    from tts.bench.ecapa import read_checkpoint
    from tts.features.vocos import load_vocos
    from tts.vae import load_checkpoint_parts

    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    for load in (load_vocos, load_checkpoint_parts, read_checkpoint):
        with pytest.raises(CheckpointError, match="other.ckpt"):
            load(path)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    for load in (load_vocos, load_checkpoint_parts, read_checkpoint):
        with pytest.raises(CheckpointError, match="junk.ckpt"):
            load(tmp_path / "junk.ckpt")


def test_cli_prints_a_tts_error_without_a_traceback(monkeypatch, capsys):
    import tts.cli
    import tts.synth

    def fail(argv):
        raise tts.synth.SynthError("list.jsonl:3: bad line")

    monkeypatch.setattr(tts.synth, "main", fail)
    assert tts.cli.main(["synth", "--list", "x"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "tts synth: list.jsonl:3: bad line"
