"""The many-speaker corpus (`tts data demo --voices many`): seeded transforms, whole held-out families, seen and
unseen test rows. The build test is skipped where flite, espeak-ng or sox is not installed."""

import gzip
import json
import shutil

import numpy as np
import pytest

from tts.corpus import voices
from tts.corpus.build import main
from tts.corpus.voices import (
    NATURAL_SPEAKER,
    ManyVoices,
    VoiceSpecError,
    choose_heldout,
    draw_transforms,
    family_of,
    make_speakers,
)


def _base(speaker, engine, name):
    return {"speaker": speaker, "engine": engine, "name": name, "family": family_of(engine, name)}


BASES = [_base(NATURAL_SPEAKER, "piper", "en_US-joe-medium"), _base("flite-awb", "flite", "awb"),
         _base("flite-rms", "flite", "rms"), _base("flite-slt", "flite", "slt"), _base("flite-kal16", "flite", "kal16"),
         _base("festival-cmu-us-slt-arctic-hts", "festival", "cmu_us_slt_arctic_hts")]
BASES += [_base(f"espeak-en-us-v{i}", "espeak-ng", f"en-us+v{i}") for i in range(10)]


def test_transforms_depend_only_on_seed_and_base_and_copies_differ_in_pitch():
    a = draw_transforms("flite-awb", 3, seed=0)
    assert a == draw_transforms("flite-awb", 3, seed=0)
    assert a != draw_transforms("flite-awb", 3, seed=1) and a != draw_transforms("flite-rms", 3, seed=0)
    pitches = sorted(t.pitch_cents for t in a)
    assert all(voices.PITCH_CENTS[0] <= abs(p) <= voices.PITCH_CENTS[1] for p in pitches)
    assert min(b - a for a, b in zip(pitches, pitches[1:])) > 0  # stratified: never the same shift twice
    t = a[0]
    assert t.sox_effects()[:2] == ["pitch", f"{t.pitch_cents:g}"] and voices.TEMPO[0] <= t.tempo <= voices.TEMPO[1]


def test_each_transformed_speaker_has_exactly_one_base_of_its_family():
    speakers = make_speakers(BASES, 2, seed=0)
    assert len(speakers) == 3 * len(BASES) and len({s.speaker for s in speakers}) == len(speakers)
    by_id = {b["speaker"]: b for b in BASES}
    for s in speakers:
        base = by_id[s.base]
        assert (s.engine, s.name, s.family) == (base["engine"], base["name"], base["family"])
        assert (s.transform is None) == (s.speaker == s.base)
        if s.transform is not None:
            assert s.speaker.rsplit("-t", 1)[0] == s.base
    assert make_speakers(BASES, 2, seed=0) == speakers


def test_one_human_speaker_in_two_engines_is_one_family():
    assert family_of("flite", "slt") == family_of("festival", "cmu_us_slt_arctic_hts") == "arctic-slt"
    assert family_of("flite", "kal16") == family_of("festival", "kal_diphone") == "kal"
    assert family_of("espeak-ng", "en-029+m7") == family_of("espeak-ng", "en-us+m7") != family_of("espeak-ng", "en-us")


def test_heldout_families_are_seeded_spread_over_engines_and_never_the_natural_voice():
    chosen = choose_heldout(BASES, 4, seed=0)
    assert chosen == choose_heldout(BASES, 4, seed=0) and len(chosen) == 4
    assert NATURAL_SPEAKER not in chosen
    engines = {b["engine"] for b in BASES if b["family"] in chosen}
    assert {"flite", "espeak-ng"} <= engines  # one from each engine with two or more families
    assert any(choose_heldout(BASES, 4, seed=s) != chosen for s in range(1, 6))
    # an explicit list holds out whole families: flite-slt takes festival's slt with it
    assert choose_heldout(BASES, 0, seed=0, names=["flite-slt", "espeak-en-us-v3"]) == ["arctic-slt", "espeak-v3"]
    with pytest.raises(VoiceSpecError, match="not found here"):
        choose_heldout(BASES, 0, seed=0, names=["flite-nobody"])
    with pytest.raises(VoiceSpecError, match="stays a training speaker"):
        choose_heldout(BASES, 0, seed=0, names=[NATURAL_SPEAKER])
    with pytest.raises(VoiceSpecError, match="cannot hold out 14"):
        choose_heldout(BASES, 14, seed=0)


def test_plan_weights_the_natural_and_unseen_shares(monkeypatch):
    monkeypatch.setattr(voices, "detect_base_voices", lambda natural, espeak_voices: (BASES, []))
    plan = voices.plan_voices(ManyVoices(heldout=3, transforms_per_voice=1, unseen_share=0.4), seed=0,
                              natural_share=0.25)
    held = set(plan.heldout_speakers)
    assert len(plan.heldout_families) == 3 and all(s.family in plan.heldout_families for s in plan.speakers
                                                   if s.speaker in held)
    assert not held & {e["speaker"] for e in plan.train_schedule}
    share = np.mean([e["speaker"] == NATURAL_SPEAKER for e in plan.train_schedule])
    assert share == pytest.approx(0.25, abs=0.02)
    unseen = np.mean([e["speaker"] in held for e in plan.test_schedule])
    assert unseen == pytest.approx(0.4, abs=0.03)


def test_many_voice_options_are_checked():
    with pytest.raises(VoiceSpecError, match="unseen_share"):
        ManyVoices(unseen_share=1.0)
    with pytest.raises(VoiceSpecError, match="transforms_per_voice"):
        ManyVoices(transforms_per_voice=-1)
    assert ManyVoices(heldout_voices=["flite-awb"]).heldout_voices == ("flite-awb",)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed (apt-get install -y sox)")
def test_sox_pitch_and_tempo_act_on_the_samples():
    sr = 16000
    wav = (0.5 * np.sin(2 * np.pi * 200 * np.arange(sr) / sr)).astype(np.float32)
    up = voices.apply_sox(wav, sr, ["pitch", "1200"])
    assert abs(len(up) - sr) < 0.02 * sr
    assert abs(np.argmax(np.abs(np.fft.rfft(up))) * sr / len(up) - 400) < 10
    assert abs(len(voices.apply_sox(wav, sr, ["tempo", "-s", "0.5"])) - 2 * sr) < 0.05 * sr


def _cuts(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow  # ~45 s on 2 busy cores
@pytest.mark.skipif(any(shutil.which(t) is None for t in ("flite", "espeak-ng", "sox")),
                    reason="needs flite, espeak-ng and sox (apt-get install -y flite espeak-ng sox)")
def test_smoke_many_voice_corpus_holds_out_whole_families_and_lists_seen_and_unseen_rows(tmp_path):
    out = tmp_path / "corpus"
    args = ["--out", str(out), "--hours", "0.02", "--seed", "0", "--workers", "2", "--no-progress",
            "--voices", "many", "--espeak-voices", "6", "--transforms-per-voice", "1", "--heldout", "3",
            "--test-share", "0.3"]
    assert main(args) == 0
    stats = json.loads((out / "corpus.json").read_text())
    info = stats["speaker_info"]
    n_bases = len(stats["voices"])
    assert n_bases >= 6 and stats["voices"][0]["speaker"] == NATURAL_SPEAKER
    assert len(info) == 2 * n_bases  # every base voice and its one copy
    assert sorted(stats["train_speakers"] + stats["heldout_speakers"]) == sorted(info) == stats["speakers"]
    assert len(stats["heldout_families"]) == 3 and NATURAL_SPEAKER in stats["train_speakers"]
    for spk, rec in info.items():
        assert rec["utterances"] >= (3 if rec["split"] == "heldout" else 4)
        assert (rec["transform"] is None) == (rec["base"] == spk) and rec["base"] in info
        assert info[rec["base"]]["family"] == rec["family"]
        assert (rec["split"] == "heldout") == (rec["family"] in stats["heldout_families"])
        if rec["split"] == "train":
            assert 1 <= len(rec["references"]) <= 3

    training = json.loads((out / "training_speakers.json").read_text())  # tts bench's training_speakers
    assert sorted(training) == sorted(stats["train_speakers"])
    assert all((out / w).is_file() and w.split("/")[-2] == spk for spk, wavs in training.items() for w in wavs)
    heldout = set(stats["heldout_speakers"])
    for split in ("train", "dev"):
        spk = {c["supervisions"][0]["speaker"] for c in _cuts(out / f"cuts_{split}.jsonl.gz")}
        assert spk and not spk & heldout
        assert not {info[s]["family"] for s in spk} & set(stats["heldout_families"])
    rows = [json.loads(line) for line in (out / "test_list.jsonl").read_text().splitlines()]
    assert {r["seen"] for r in rows} == {True, False}
    assert {r["speaker"] for r in rows if not r["seen"]} == heldout
    assert all(r["seen"] == (r["speaker"] not in heldout) for r in rows)
    for r in rows:  # a cross-sentence prompt of the same speaker
        assert r["ref_text"] != r["text"] and r["ref_audio"] != r["gt_audio"]
        assert r["ref_audio"].split("/")[-2] == r["gt_audio"].split("/")[-2] == r["speaker"]
    assert all("alignment" in r for r in rows if r["speaker"] == NATURAL_SPEAKER)

    assert main(args) == 0  # a rerun synthesizes nothing and writes the same corpus
    again = json.loads((out / "corpus.json").read_text())
    assert again["synthesized_now"] == 0 and again["speaker_info"] == info
    assert [json.loads(line) for line in (out / "test_list.jsonl").read_text().splitlines()] == rows


def test_a_pipeline_corpus_reaches_the_many_voice_options():
    import yaml

    from tts.demo import REPO, PipelineError, validate_pipeline

    pipeline = yaml.safe_load((REPO / "recipes" / "smoke" / "pipeline.yaml").read_text())
    pipeline["corpus"].update(voices="many", heldout=2, heldout_voices=["flite-awb"], transforms_per_voice=1)
    validate_pipeline(pipeline, "p.yaml")
    with pytest.raises(PipelineError, match=r"p.yaml: corpus: many voices: unseen_share = 2"):
        validate_pipeline({**pipeline, "corpus": {**pipeline["corpus"], "unseen_share": 2}}, "p.yaml")
    with pytest.raises(PipelineError, match=r"corpus.heldout: needs voices: many"):
        validate_pipeline({**pipeline, "corpus": {"hours": 0.1, "heldout": 3}}, "p.yaml")
    with pytest.raises(PipelineError, match=r"corpus.natural_share: 1 leaves no other voice"):
        validate_pipeline({**pipeline, "corpus": {**pipeline["corpus"], "natural_share": 1.0}}, "p.yaml")
