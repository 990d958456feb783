"""The benchmark's voice-cloning report (tts.bench.voices): seen / unseen speaker groups, the SIM ceiling and
no-cloning reference rows, paired deltas per group, summary.json, the side-by-side page of unseen rows; and a
test list without `seen` gives the report it gave before.

Offline fakes: an ASR that always hears "hello there" (seen rows say so: WER 0; unseen rows say something else:
WER 1) and a speaker encoder whose embedding is the unit vector at angle 10 x amplitude of the file's sine, so
every SIM is a cosine of amplitude differences computed here by hand. Three TTS systems: "semantic" copies the
prompt's voice, "mel" always speaks amplitude 0.20, "plain" half-way between.
"""

from __future__ import annotations

import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from robustness.robust_helpers import EchoASR

from tts.bench import produce, runner
from tts.bench.spec import SpecError, prepare_spec

SR = 16000
SUMMARY_ROW_KEYS = {"system", "speakers", "n", "wer", "sim_prompt", "sim_ceiling", "sim_no_cloning"}
TRAINING = {"t1": [0.10, 0.11], "t2": [0.20, 0.21], "t3": [0.30, 0.31]}
# id, speaker, seen, prompt amplitude, ground-truth amplitude, text
ROWS = [
    ("s1", "t1", True, 0.10, 0.105, "Hello there."),
    ("s2", "t3", True, 0.30, 0.31, "Hello there."),
    ("u1", "held1", False, 0.28, 0.27, "Good morning."),
    ("u2", "held2", False, 0.12, 0.13, "Good morning."),
]


def _sine(path: Path, amplitude: float) -> str:
    """0.5 s of a 200 Hz sine (100 whole periods: RMS = amplitude / sqrt 2 exactly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(SR // 2) / SR
    sf.write(path, amplitude * np.sin(2 * np.pi * 200 * t), SR, subtype="FLOAT")
    return str(path)


def _amplitude(wav) -> float:
    return math.sqrt(2) * float(np.sqrt(np.mean(np.square(np.asarray(wav, dtype=np.float64)))))


class AmplitudeSpeaker:
    """A speaker encoder whose embedding depends on the file: the unit vector at angle 10 x its amplitude."""

    name = "amp"
    calls = 0

    def __init__(self, device: str = "cpu") -> None:
        pass

    def embed(self, wavs):
        AmplitudeSpeaker.calls += len(wavs)
        angles = [10 * _amplitude(w) for w in wavs]
        return np.array([[math.cos(a), math.sin(a)] for a in angles])


def sim(a: float, b: float) -> float:
    """The fake encoder's SIM of two amplitudes."""
    return math.cos(10 * (a - b))


OUTPUT = {"semantic": lambda p: p, "mel": lambda p: 0.20, "plain": lambda p: (p + 0.20) / 2}


@pytest.fixture
def voices(tmp_path, monkeypatch):
    """(spec, test-list rows): ground truth + three fake TTS systems on 2 seen and 2 unseen rows."""
    import tts.bench.asr
    import tts.bench.similarity

    def fake_synthesize_list(model, input, out, seed=0, **kw):
        voice = OUTPUT[Path(model).stem]
        for row in map(json.loads, Path(input).read_text().splitlines()):
            prompt, _ = sf.read(row["ref_audio"])
            _sine(Path(out) / f"{row['id']}.wav", voice(round(_amplitude(prompt), 4)))
            with open(Path(out) / "results.jsonl", "a") as f:
                f.write(json.dumps({"id": row["id"], "rtf": 0.1}) + "\n")
        return {}

    monkeypatch.setitem(tts.bench.asr.BACKENDS, "echo", EchoASR)
    monkeypatch.setitem(tts.bench.similarity.BACKENDS, "amp", AmplitudeSpeaker)
    monkeypatch.setattr(produce, "_synthesize_list", fake_synthesize_list)
    AmplitudeSpeaker.calls = 0
    training = {spk: [f"wavs/{spk}_{k}.wav" for k in range(len(amps))] for spk, amps in TRAINING.items()}
    for spk, amps in TRAINING.items():
        for path, amp in zip(training[spk], amps):
            _sine(tmp_path / "train" / path, amp)
    (tmp_path / "train" / "speakers.json").write_text(json.dumps(training))  # paths relative to its folder
    rows = [{"id": i, "text": text, "ref_audio": _sine(tmp_path / "test" / f"{i}_prompt.wav", p),
             "ref_text": "A prompt.", "gt_audio": _sine(tmp_path / "test" / f"{i}_gt.wav", g), "speaker": spk,
             "seen": seen} for i, spk, seen, p, g, text in ROWS]  # fmt: skip
    for name in OUTPUT:
        (tmp_path / f"{name}.pt").write_bytes(b"weights")
    spec = {
        "name": "voices", "test_list": str(tmp_path / "test_list.jsonl"), "n_boot": 50, "seeds": [0, 1],
        "normalizer": "f5", "asr": [{"backend": "echo"}], "similarity": {"backend": "amp"},
        "training_speakers": str(tmp_path / "train" / "speakers.json"),
        "comparisons": [["f5_semantic", "f5_mel"], ["f5_semantic", "f5_plain"]],
        "systems": [{"name": "ground_truth", "type": "ground_truth"}]
        + [{"name": f"f5_{n}", "type": "tts", "model": str(tmp_path / f"{n}.pt")} for n in OUTPUT],
    }  # fmt: skip
    return spec, rows


def _write(spec: dict, rows: list[dict]) -> dict:
    Path(spec["test_list"]).write_text("".join(json.dumps(r) + "\n" for r in rows))
    return spec


def _headings(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("#")]


def test_groups_reference_rows_deltas_and_summary(voices, tmp_path):
    spec, rows = voices
    out = tmp_path / "out"
    report = runner.run_bench(_write(spec, rows), out)
    assert all(s["status"] == "ok" for s in report["systems"])
    groups = {g["speakers"]: g for g in report["voices"]["groups"]}
    assert list(groups) == ["seen", "unseen"] and report["voices"]["unseen_speakers"] == ["held1", "held2"]
    assert groups["seen"]["speaker_ids"] == ["t1", "t3"]
    # the references, row by row: the ceiling is the own ground truth; no-cloning picks the nearest training
    # speaker to the prompt (never the row's own: s1 is t1's and gets t2, not t1) and averages its utterances
    refs = {r["id"]: r for r in report["voices"]["references"]}
    nearest = {"s1": "t2", "s2": "t2", "u1": "t3", "u2": "t1"}
    for i, _, _, p, g, _ in ROWS:
        assert refs[i]["nearest_training_speaker"] == nearest[i]
        assert refs[i]["sim_ceiling"] == pytest.approx(sim(g, p), abs=1e-3)
        assert refs[i]["sim_no_cloning"] == pytest.approx(np.mean([sim(a, p) for a in TRAINING[nearest[i]]]), abs=1e-3)
    for name, ids in (("seen", ["s1", "s2"]), ("unseen", ["u1", "u2"])):
        g = groups[name]
        assert g["n"] == 2 and g["sim_ceiling"]["n"] == 2
        assert g["sim_ceiling"]["value"] == pytest.approx(np.mean([refs[i]["sim_ceiling"] for i in ids]))
        assert g["sim_no_cloning"]["value"] == pytest.approx(np.mean([refs[i]["sim_no_cloning"] for i in ids]))
        systems = {s["name"]: s for s in g["systems"]}
        assert list(systems) == ["ground_truth", "f5_semantic", "f5_mel", "f5_plain"]
        for s in systems.values():  # the grouping: seen rows' text is what the ASR hears, unseen rows' is not
            assert s["n"] == 2 and s["wer_mean"]["echo"]["value"] == (0.0 if name == "seen" else 1.0)
        assert systems["ground_truth"]["sim"]["value"] == pytest.approx(g["sim_ceiling"]["value"])
        assert systems["f5_semantic"]["sim"]["value"] == pytest.approx(1.0, abs=1e-3)
        (sem_mel, sem_plain) = g["comparisons"]
        assert (sem_mel["a"], sem_mel["b"], sem_plain["b"]) == ("f5_semantic", "f5_mel", "f5_plain")
        for c in (sem_mel, sem_plain):
            assert c["wer_mean"]["echo"]["n"] == 2 and c["wer_mean"]["echo"]["delta"] == 0.0
            assert c["sim"]["n"] == 2 and c["sim"]["low"] <= c["sim"]["delta"] <= c["sim"]["high"]
        assert sem_mel["sim"]["delta"] == pytest.approx(1 - systems["f5_mel"]["sim"]["value"], abs=1e-3)
    assert groups["unseen"]["nearest_training_speaker"] == {"held1": {"speaker": "t3", "prompts": 1, "of": 1},
                                                            "held2": {"speaker": "t1", "prompts": 1, "of": 1}}  # fmt: skip

    summary = json.loads((out / "summary.json").read_text())
    assert summary["unseen_speakers"] == ["held1", "held2"] and summary["wer_asr"] == "echo"
    assert summary["similarity"] == "amp"
    assert all(set(r) == SUMMARY_ROW_KEYS for r in summary["rows"])
    assert [(r["speakers"], r["system"]) for r in summary["rows"]] == [
        (g, s) for g in ("seen", "unseen") for s in ("ground_truth", "f5_semantic", "f5_mel", "f5_plain")
    ]
    unseen_mel = next(r for r in summary["rows"] if r["speakers"] == "unseen" and r["system"] == "f5_mel")
    assert unseen_mel == {
        "system": "f5_mel", "speakers": "unseen", "n": 2, "wer": 1.0,
        "sim_prompt": groups["unseen"]["systems"][2]["sim"]["value"],
        "sim_ceiling": groups["unseen"]["sim_ceiling"]["value"],
        "sim_no_cloning": groups["unseen"]["sim_no_cloning"]["value"],
    }  # fmt: skip

    md = (out / "report.md").read_text()
    assert "## Voice cloning: seen and unseen speakers" in md and "### Paired deltas per speaker group" in md
    assert "Unseen speakers (held out of training, 2): held1, held2" in md
    assert "held1 -> t3 (1 of 1)" in md
    assert "**sim_no_cloning**: the nearest training speaker's ground truth vs the prompt" in md
    assert re.search(r"\| unseen \| reference sim_ceiling \(same speaker's ground truth\) \| 2 \| - \| \d", md)
    assert "| unseen | f5_semantic - f5_mel | +0.00 [" in md
    page = (out / "report.html").read_text()
    assert 'class="summary voices"' in page and 'class="summary voice-deltas"' in page and "held1 -&gt; t3" in page


class _Cells(HTMLParser):
    """The <audio> sources of each cell of the page's side-by-side table, per row id."""

    def __init__(self):
        super().__init__()
        self.inside, self.rows, self.row = False, {}, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.inside = a.get("id") == "unseen"
        elif self.inside and tag == "tr" and "data-id" in a:
            self.row = self.rows.setdefault(a["data-id"], [])
        elif self.inside and tag == "td" and self.row is not None:
            self.row.append([])
        elif self.inside and tag == "audio" and self.row is not None:
            self.row[-1].append(a["src"])


def test_page_shows_prompt_and_outputs_side_by_side_for_unseen_rows(voices, tmp_path):
    spec, rows = voices
    out = tmp_path / "out"
    runner.run_bench(_write(spec, rows), out)
    page = (out / "report.html").read_text()
    cells = _Cells()
    cells.feed(page)
    assert list(cells.rows) == ["u1", "u2"]  # the unseen rows only
    for uid, (text, prompt, gt, *systems) in cells.rows.items():
        assert text == [] and len(systems) == 3 and all(len(s) == 2 for s in systems)  # one player per seed
        assert sf.read(out / prompt[0])[0].tobytes() == sf.read(tmp_path / "test" / f"{uid}_prompt.wav")[0].tobytes()
        assert sf.read(out / gt[0])[0].tobytes() == sf.read(tmp_path / "test" / f"{uid}_gt.wav")[0].tobytes()
        assert [s[1] for s in systems] == [f"audio/f5_{n}/seed1/{uid}.wav" for n in OUTPUT]
    assert '<a href="#unseen">Unseen speakers</a>' in page and "no-cloning reference: t3, SIM 0.968" in page


def test_a_test_list_without_seen_gives_the_report_it_gave_before(voices, tmp_path):
    spec, rows = voices
    with_groups = runner.run_bench(_write(spec, rows), tmp_path / "groups")
    plain_spec = {k: v for k, v in spec.items() if k != "training_speakers"}
    plain = runner.run_bench(_write(plain_spec, [{k: v for k, v in r.items() if k != "seen"} for r in rows]),
                             tmp_path / "plain")  # fmt: skip
    assert "voices" not in plain and set(with_groups) - set(plain) == {"voices"}
    assert not (tmp_path / "plain" / "summary.json").exists()
    assert not (tmp_path / "plain" / "cache" / "_voices").exists()
    md = (tmp_path / "plain" / "report.md").read_text()
    assert _headings(md) == [h for h in _headings((tmp_path / "groups" / "report.md").read_text())
                             if "speaker" not in h]  # fmt: skip
    assert _headings(md)[1:] == ["## Protocol", "## WER / CER - ASR `echo`", "## SIM, RTF, resynthesis quality",
                                 "## Paired comparisons", "## Plots", "## Models and timings"]  # fmt: skip
    page = (tmp_path / "plain" / "report.html").read_text()
    assert 'id="unseen"' not in page and 'class="summary voices"' not in page and "Unseen speakers" not in page


def test_training_speakers_alone_makes_one_seen_group(voices, tmp_path):
    spec, rows = voices
    report = runner.run_bench(_write(spec, [{k: v for k, v in r.items() if k != "seen"} for r in rows]), tmp_path / "o")
    (group,) = report["voices"]["groups"]
    assert group["speakers"] == "seen" and group["n"] == 4 and report["voices"]["unseen_speakers"] == []
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert {r["speakers"] for r in summary["rows"]} == {"seen"} and summary["unseen_speakers"] == []


def test_without_training_speakers_there_is_no_no_cloning_reference(voices, tmp_path):
    spec, rows = voices
    report = runner.run_bench(_write({k: v for k, v in spec.items() if k != "training_speakers"}, rows), tmp_path / "o")
    for g in report["voices"]["groups"]:
        assert g["sim_no_cloning"]["value"] is None and g["sim_ceiling"]["value"] is not None
    assert "not given (spec key training_speakers)" in (tmp_path / "o" / "report.md").read_text()


def test_a_resumed_run_reads_the_references_back_and_overwrite_deletes_them(voices, tmp_path):
    spec, rows = voices
    out = tmp_path / "out"
    first = runner.run_bench(_write(spec, rows), out)
    cache = out / "cache" / "_voices" / "sim_amp.jsonl"
    assert cache.is_file() and {"file": "cache/_voices/sim_amp.jsonl"} in map(
        json.loads, (out / "written.jsonl").read_text().splitlines()
    )
    AmplitudeSpeaker.calls = 0
    again = runner.run_bench(spec, out)
    assert AmplitudeSpeaker.calls == 0  # every SIM and reference from the caches
    assert again["voices"]["references"] == first["voices"]["references"]
    runner.run_bench(spec, out, resume=False)
    assert AmplitudeSpeaker.calls > 0 and cache.is_file()


def test_an_unreadable_training_wav_is_recorded_and_the_report_still_written(voices, tmp_path):
    spec, rows = voices
    (Path(spec["training_speakers"]).parent / "wavs" / "t2_0.wav").write_bytes(b"not audio")
    report = runner.run_bench(_write(spec, rows), tmp_path / "o")
    assert "t2_0.wav" in report["voices"]["error"]["error"]
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert all(r["sim_no_cloning"] is None and r["sim_prompt"] is not None for r in summary["rows"])
    assert "The reference rows could not be computed" in (tmp_path / "o" / "report.md").read_text()


def test_bad_speaker_keys_are_spec_errors_listed_together(voices, tmp_path):
    spec, rows = voices
    rows[0]["seen"] = "yes"
    del rows[1]["speaker"]
    rows[2]["speaker"] = "t1"  # held out, yet a training speaker
    training = json.loads(Path(spec["training_speakers"]).read_text())
    training["t4"] = ["wavs/missing.wav"]
    training["t5"] = []
    Path(spec["training_speakers"]).write_text(json.dumps(training))
    with pytest.raises(SpecError) as e:
        prepare_spec(_write({**spec, "systems": spec["systems"] + [{"name": "_voices", "type": "ground_truth"}]}, rows))
    msg = str(e.value)
    for text in ("row 1 (s1): `seen` must be true or false, got 'yes'", "row 2 (s2): `seen` needs the row's `speaker`",
                 "row 3 (u1): speaker 't1' is `seen: false` but listed in training_speakers",
                 "speaker 't4': " + str(Path(spec["training_speakers"]).parent / "wavs" / "missing.wav") + " not found",
                 "speaker 't5': expected a non-empty list of wav paths", "name '_voices' cannot name its folder"):  # fmt: skip
        assert text in msg, msg
