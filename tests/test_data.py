import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import torch
from lhotse import CutSet, load_manifest
from lhotse.utils import fastcopy

from tts.data.cache import extract_to_cache
from tts.data.datamodule import CropDataModule, UtteranceDataModule
from tts.data.importers import import_list
from tts.data.validate import screen_cuts


def _with_text(cut, text):
    return fastcopy(cut, supervisions=[fastcopy(s, text=text) for s in cut.supervisions])


def _bad_manifest(corpus, tmp_path):
    """Train cuts plus a corrupt wav, a zero-length wav, a missing file and an empty text."""
    good = list(load_manifest(corpus / "cuts_train.jsonl.gz"))
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    (bad_dir / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    sf.write(bad_dir / "empty.wav", np.zeros(0, np.float32), 24000)
    cuts = []
    for name, base in zip(["corrupt", "empty", "missing"], good[:3]):
        rec = base.recording
        src = fastcopy(rec.sources[0], source=str(bad_dir / f"{name}.wav"))
        cuts.append(fastcopy(base, id=f"bad_{name}", recording=fastcopy(rec, sources=[src])))
    cuts.append(_with_text(good[3].with_id("bad_text"), " "))
    path = tmp_path / "cuts_bad.jsonl.gz"
    CutSet.from_cuts(good + cuts).to_file(path)
    return path, len(good)


def test_bad_items_are_skipped_and_reported_by_reason(tiny_corpus, tmp_path):
    path, n_good = _bad_manifest(tiny_corpus, tmp_path)
    cuts, report = screen_cuts(load_manifest(path), require_text=True)
    assert len(cuts) == n_good
    assert report.counts == {"unreadable": 1, "empty_audio": 1, "missing_file": 1, "empty_text": 1}
    assert {item[0] for item in report.items} == {"bad_corrupt", "bad_empty", "bad_missing", "bad_text"}


def test_crop_datamodule_loads_through_bad_items(tiny_corpus, tmp_path):
    path, n_good = _bad_manifest(tiny_corpus, tmp_path)
    dm = CropDataModule(str(path), str(tiny_corpus / "cuts_dev.jsonl.gz"), crop_seconds=0.5, batch_size=2,
                        num_workers=0)
    dm.setup("fit")
    assert dm.reports["train"].kept == n_good
    assert dm.reports["train"].counts == {"unreadable": 1, "empty_audio": 1, "missing_file": 1, "empty_text": 1}
    batch = next(iter(dm.train_dataloader()))
    assert batch["wav"].shape == (2, 8000)


def test_vocoder_crops_are_exact_tiled_and_peak_normalized(tiny_corpus):
    """The vocoder recipes' settings (vocos' own dataset): exact sample counts, short cuts tiled, peaks."""
    dm = CropDataModule(str(tiny_corpus / "cuts_train.jsonl.gz"), str(tiny_corpus / "cuts_dev.jsonl.gz"),
                        sample_rate=24000, crop_samples=8192, val_crop_samples=120000, batch_size=2,
                        num_workers=0, pad="repeat", peak_normalize=True, min_duration=0.0, require_text=False)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["wav"].shape == (2, 8192)
    peaks = batch["wav"].abs().amax(dim=1)
    assert ((peaks >= 10 ** (-6 / 20) - 1e-6) & (peaks <= 10 ** (-1 / 20) + 1e-6)).all()
    item = dm.val_set[0]  # a 2.5 s cut in a 5 s crop: tiled, not zero-padded
    wav, n = item["wav"], item["valid"]
    assert wav.shape == (120000,) and n < 120000
    torch.testing.assert_close(wav[n : 2 * n], wav[:n])
    assert abs(float(wav.abs().max()) - 10 ** (-3 / 20)) < 1e-5


def test_crop_items_that_fail_to_load_are_dropped_and_counted(tiny_corpus, tmp_path):
    path, n_good = _bad_manifest(tiny_corpus, tmp_path)
    dm = CropDataModule(str(path), str(tiny_corpus / "cuts_dev.jsonl.gz"), sample_rate=24000, crop_seconds=0.5,
                        batch_size=2, num_workers=0, check_audio="none", require_text=False, pad="repeat",
                        peak_normalize=True)
    dm.setup("fit")
    items = [dm.train_set[i] for i in range(len(dm.train_set))]
    dropped = [i for i, it in enumerate(items) if it is None]
    assert len(dropped) == dm.load_failures >= 2  # unscreened: the corrupt and the empty wav fail at load
    assert len(items) - len(dropped) >= n_good


def test_utterance_datamodule_skips_empty_text(tiny_corpus, tmp_path):
    cuts = _cache_fake_features(tiny_corpus, tmp_path)
    blank = list(cuts)
    blank[0] = _with_text(blank[0], "")
    path = tmp_path / "with_blank.jsonl.gz"
    CutSet.from_cuts(blank).to_file(path)
    dm = UtteranceDataModule(str(path), str(path), max_frames_per_batch=200, num_workers=0)
    dm.setup("fit")
    assert dm.reports["train"].counts == {"empty_text": 1}


def _fake_compute(wavs):
    # 50 Hz frames whose first channel is the frame's time index (to check crop alignment)
    out = []
    for w in wavs:
        n = int(np.ceil(w.shape[0] / 320))
        a = np.zeros((n, 4), np.float32)
        a[:, 0] = np.arange(n)
        a[:, 1] = [w[i * 320 : (i + 1) * 320].abs().mean() for i in range(n)]
        out.append(a)
    return out


def _cache_fake_features(corpus, tmp_path):
    return extract_to_cache(corpus / "cuts_train.jsonl.gz", _fake_compute, tmp_path / "cache", key="feats",
                            frame_rate=50.0, sample_rate=16000, batch_size=3, shard_size=4)


def test_cache_is_resumable_after_a_kill(tiny_corpus, tmp_path):
    cuts = _cache_fake_features(tiny_corpus, tmp_path)
    assert len(cuts) == 6
    cache = tmp_path / "cache"
    first = (cache / "shards" / "cuts.00000.jsonl.gz").stat().st_mtime_ns
    # simulate a kill after the first shard: final manifest and second shard missing
    (cache / "cuts.jsonl.gz").unlink()
    (cache / "shards" / "cuts.00001.jsonl.gz").unlink()
    calls = []
    extract_to_cache(tiny_corpus / "cuts_train.jsonl.gz", lambda w: calls.append(len(w)) or _fake_compute(w),
                     cache, key="feats", frame_rate=50.0, sample_rate=16000, batch_size=3, shard_size=4)
    assert sum(calls) == 2  # only the second shard (cuts 5 and 6) was recomputed
    assert (cache / "shards" / "cuts.00000.jsonl.gz").stat().st_mtime_ns == first
    cut = next(iter(load_manifest(cache / "cuts.jsonl.gz")))
    assert cut.load_custom("feats").shape[1] == 4


def test_teacher_frames_are_cropped_in_step_with_audio(tiny_corpus, tmp_path):
    cuts = _cache_fake_features(tiny_corpus, tmp_path)
    dm = CropDataModule(str(tmp_path / "cache" / "cuts.jsonl.gz"), str(tmp_path / "cache" / "cuts.jsonl.gz"),
                        crop_seconds=0.6, batch_size=4, num_workers=0, teacher_key="feats")
    dm.setup("fit")
    assert dm.teacher_rate == 50.0
    torch.manual_seed(0)
    for i in range(len(dm.train_set)):
        item = dm.train_set[i]
        assert item["teacher"].shape == (30, 4)
        # recompute the fake teacher on the cropped audio: the energy track must match the cached crop
        start_frame = int(item["teacher"][0, 0])
        full = cuts[i].load_custom("feats")
        np.testing.assert_allclose(item["teacher"][:, 0].numpy(), np.arange(start_frame, start_frame + 30))
        np.testing.assert_allclose(item["teacher"][:, 1].numpy(), full[start_frame : start_frame + 30, 1],
                                   rtol=1e-5)
        wav = item["wav"]
        energy = [wav[k * 320 : (k + 1) * 320].abs().mean().item() for k in range(30)]
        # audio crop starts on the teacher frame grid up to less than one frame
        assert np.corrcoef(energy, full[start_frame : start_frame + 30, 1])[0, 1] > 0.9


@pytest.mark.parametrize("budget", [120, 300])
def test_bucketing_respects_the_frame_budget(tiny_corpus, tmp_path, budget):
    _cache_fake_features(tiny_corpus, tmp_path)
    path = str(tmp_path / "cache" / "cuts.jsonl.gz")
    dm = UtteranceDataModule(path, path, max_frames_per_batch=budget, num_buckets=2, num_workers=0)
    dm.setup("fit")
    seen = []
    for batch in dm.train_dataloader():
        n, longest = batch["feats"].shape[:2]
        # padded size within budget, up to the one utterance that closes the batch (+1 frame rounding)
        assert (n - 1) * longest <= budget + n
        assert batch["feats"].shape[:2] == (len(batch["ids"]), int(batch["feat_lens"].max()))
        seen += batch["ids"]
    assert sorted(seen) == sorted(c.id for c in load_manifest(path))


def test_a_one_utterance_validation_split_loads(tiny_corpus, tmp_path):
    # lhotse cannot bucket a single cut (the smoke corpus's dev split): it becomes one plain batch
    _cache_fake_features(tiny_corpus, tmp_path)
    path = str(tmp_path / "cache" / "cuts.jsonl.gz")
    one = str(tmp_path / "one.jsonl.gz")
    load_manifest(path).subset(first=1).to_file(one)
    dm = UtteranceDataModule(path, one, max_frames_per_batch=100_000, num_buckets=2, num_workers=0)
    dm.setup("fit")
    assert [batch["ids"] for batch in dm.val_dataloader()] == [[next(iter(load_manifest(one))).id]]


def test_max_cuts_caps_utterances_per_batch(tiny_corpus, tmp_path):
    _cache_fake_features(tiny_corpus, tmp_path)
    path = str(tmp_path / "cache" / "cuts.jsonl.gz")
    dm = UtteranceDataModule(path, path, max_frames_per_batch=100_000, num_buckets=2, num_workers=0, max_cuts=2)
    dm.setup("fit")
    sizes = [len(batch["ids"]) for batch in dm.train_dataloader()]
    assert max(sizes) == 2 and sum(sizes) == len(load_manifest(path))
    with pytest.raises(ValueError, match="max_cuts"):
        UtteranceDataModule(path, path, max_cuts=0)


def test_generic_list_importer_reports_bad_lines(tiny_corpus, tmp_path):
    wavs = sorted((tiny_corpus / "wavs").glob("*.wav"))
    shutil.copy(wavs[0], tmp_path / "a.wav")
    (tmp_path / "corrupt.wav").write_bytes(b"nope")
    (tmp_path / "list.txt").write_text(
        "a.wav|Hello there.|s1\nmissing.wav|Hi.|s1\ncorrupt.wav|Hi.|s2\na.wav||s3\nonly two|fields\n"
    )
    cuts, report = import_list(tmp_path / "list.txt")
    assert len(cuts) == 1
    assert report.counts == {"missing_file": 1, "unreadable": 1, "empty_text": 1, "bad_line": 1}
    assert json.dumps(report.items)  # serializable for logs
