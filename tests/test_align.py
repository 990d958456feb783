"""`tts data align`: MAS phoneme durations written as lhotse alignments, on a couple of utterances."""

import gzip
import json

import numpy as np
import pytest
import torch

from tts.data import align


def test_mas_path_is_monotonic_and_covers_every_frame():
    # 3 phonemes, 7 frames; the likelihood prefers durations 2, 4, 1
    target = [0, 0, 1, 1, 1, 1, 2]
    ll = torch.full((1, 3, 7), -10.0)
    for t, j in enumerate(target):
        ll[0, j, t] = 0.0
    path = align.mas(ll, torch.ones(1, 3, 7))
    assert path[0].sum(1).tolist() == [2, 4, 1] and path[0].sum(0).tolist() == [1] * 7


def test_to_alignment_ends_at_the_cut_duration():
    out = align.to_alignment(["^", "a", "$"], np.array([3, 5, 2]), duration=10 * align.FRAME_S + 0.004)
    assert [s for s, _, _ in out] == ["^", "a", "$"]
    assert out[1][1] == pytest.approx(3 * align.FRAME_S, abs=1e-6)
    assert out[-1][1] + out[-1][2] == pytest.approx(10 * align.FRAME_S + 0.004, abs=1e-6)


@pytest.fixture(scope="module")
def two_utterances(tmp_path_factory):
    """Two piper sentences with their voice alignments (the reference), as a lhotse manifest."""
    from lhotse import MonoCut, Recording, SupervisionSegment

    from tts.audio import save_audio
    from tts.corpus import piper_voice

    root = tmp_path_factory.mktemp("align")
    voice = piper_voice.load_voice()
    cuts = []
    for i, text in enumerate(["The quick brown fox jumps over the lazy dog.", "Where could a few hamsters carry some ponies?"]):
        u = piper_voice.synthesize(voice, text)
        path = save_audio(root / f"u{i}.wav", torch.from_numpy(u.audio), u.sample_rate)
        rec = Recording.from_file(path, recording_id=f"u{i}")
        ref = piper_voice.to_lhotse(piper_voice.alignment_seconds(u.alignment, u.sample_rate, rec.duration))
        sup = SupervisionSegment(id=f"u{i}", recording_id=f"u{i}", start=0, duration=rec.duration, text=text,
                                 speaker="joe", alignment=ref)
        cuts.append(MonoCut(id=f"u{i}", start=0, duration=rec.duration, channel=0, recording=rec, supervisions=[sup]))
    manifest = root / "cuts_train.jsonl.gz"
    with gzip.open(manifest, "wt") as f:
        for c in cuts:
            f.write(json.dumps(c.to_dict()) + "\n")
    return manifest


def test_align_writes_phoneme_alignments_and_reports_against_the_reference(two_utterances, tmp_path):
    from lhotse import load_manifest

    from tts.text import phonemize

    out = tmp_path / "aligned"
    assert align.main(["--cuts", str(two_utterances), "--out", str(out), "--steps", "30", "--batch-size", "2"]) == 0
    cuts = list(load_manifest(out / "cuts_train.jsonl.gz"))
    refs = list(load_manifest(two_utterances))
    assert [c.id for c in cuts] == ["u0", "u1"]
    for cut, ref in zip(cuts, refs):
        items = cut.supervisions[0].alignment["phoneme"]
        assert [i.symbol for i in items] == phonemize(cut.supervisions[0].text)
        assert all(i.duration >= align.FRAME_S - 1e-6 for i in items[:-1]) and items[-1].duration > 0
        assert all(a.end == pytest.approx(b.start, abs=3e-6) for a, b in zip(items, items[1:]))
        assert items[0].start == 0 and items[-1].end == pytest.approx(cut.duration, abs=1e-6)
        assert items != ref.supervisions[0].alignment["phoneme"]  # the aligner's own, not the input's copied
    report = json.loads((out / "align.json").read_text())
    ev = report["vs_reference_alignments"]
    assert ev["utterances"] == 2 and ev["boundaries"] > 40
    assert set(ev["mas"]) == {"mean_abs_ms", "median_abs_ms", "within_20ms", "within_50ms"}
    # the saved aligner reproduces its alignments without training
    again = tmp_path / "again"
    assert align.main(["--cuts", str(two_utterances), "--out", str(again), "--steps", "0",
                       "--model", str(out / "aligner.pt")]) == 0
    assert [c.supervisions[0].alignment for c in load_manifest(again / "cuts_train.jsonl.gz")] == \
        [c.supervisions[0].alignment for c in cuts]


def test_bad_input_is_named(tmp_path, capsys):
    from lhotse import MonoCut, Recording, SupervisionSegment

    from tts.audio import save_audio

    path = save_audio(tmp_path / "a.wav", torch.zeros(24000), 24000)
    rec = Recording.from_file(path, recording_id="silent")
    cut = MonoCut(id="silent", start=0, duration=1.0, channel=0, recording=rec,
                  supervisions=[SupervisionSegment(id="silent", recording_id="silent", start=0, duration=1.0, text="")])
    manifest = tmp_path / "cuts.jsonl.gz"
    with gzip.open(manifest, "wt") as f:
        f.write(json.dumps(cut.to_dict()) + "\n")
    assert align.main(["--cuts", str(manifest), "--out", str(tmp_path / "o"), "--steps", "1"]) == 1
    assert "'silent' has no transcript" in capsys.readouterr().err
    assert align.main(["--cuts", str(tmp_path / "missing.jsonl.gz"), "--out", str(tmp_path / "o")]) == 1
    assert "missing.jsonl.gz: file not found" in capsys.readouterr().err
