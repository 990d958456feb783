"""`tts bench` with a bad spec or test list: every problem listed at once (file, key, allowed values), exit 2,
nothing run; a report that fails to render never costs the finished scores (report.json, utterances.jsonl)."""

from __future__ import annotations

import json

import pytest
from robust_helpers import bench_cli


def test_misspelled_keys_are_all_named_with_the_intended_key(bench, tmp_path, capsys):
    spec, write = bench
    bad = {**spec, "max_utterancs": 1, "baselin": "gt",
           "systems": [{"name": "tts", "type": "tts", "model": str(tmp_path), "nfee": 4}]}  # fmt: skip
    path = write(bad)
    rc, text = bench_cli(path, tmp_path / "out", capsys)
    assert rc == 2 and path in text
    for words in ("`max_utterancs` (did you mean `max_utterances`?)", "`baselin` (did you mean `baseline`?)",
                  "systems[0]: unknown key `nfee` (did you mean `nfe`?)"):  # fmt: skip
        assert words in text, text
    assert not (tmp_path / "out").exists()


def test_yaml_syntax_error_names_the_file_and_line(bench, tmp_path, capsys):
    _, write = bench
    path = write("name: x\nsystems:\n  - {name: gt, type: ground_truth\nasr: []\n")
    rc, text = bench_cli(path, tmp_path / "out", capsys)
    assert rc == 2 and f"{path}:4:" in text and "invalid YAML" in text and "unicode string" not in text


def test_every_problem_is_listed_at_once(bench, tmp_path, capsys):
    spec, write = bench
    bad = {**spec, "test_list": str(tmp_path / "missing.jsonl"), "seeds": [0, -1], "normalizer": "loud",
           "systems": [{"name": "a", "type": "tts", "model": str(tmp_path / "gone"), "cfg": -5},
                       {"name": "b", "type": "ground_truth", "nfe": 8}, {"name": "c", "type": "vocoder"}]}  # fmt: skip
    rc, text = bench_cli(write(bad), tmp_path / "out", capsys)
    assert rc == 2
    for words in ("missing.jsonl not found", "seeds[1]: must be in [0, 2^31-1]", "normalizer: 'loud'",
                  "TTS model", "gone", "cfg must be a finite number in [0, 100], got -5",
                  "`nfe` does not apply to a ground_truth system", "'vocoder' is not one of"):  # fmt: skip
        assert words in text, text


def test_backend_argument_it_does_not_take_is_named(bench, tmp_path, capsys):
    spec, write = bench
    rc, text = bench_cli(write({**spec, "asr": [{"backend": "echo", "beam": 5}]}), tmp_path / "out", capsys)
    assert rc == 2 and "asr[0]: unknown key `beam`" in text and "backend 'echo'" in text


def test_bad_test_list_line_is_named(bench, tmp_path, capsys):
    spec, write = bench
    with open(spec["test_list"], "ab") as f:
        f.write(b'{"id": "u9", \n\xff\xfe\n')
    rc, text = bench_cli(write(spec), tmp_path / "out", capsys)
    assert rc == 2 and "test.jsonl: line 3: not valid JSON" in text and "line 4: not UTF-8" in text


def test_similarity_null_scores_without_sim_and_writes_the_report(bench, tmp_path, capsys):
    spec, write = bench
    rc, text = bench_cli(write({**spec, "similarity": None}), tmp_path / "out", capsys)
    assert rc == 0, text
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["similarity"] is None and report["systems"][0]["status"] == "ok"
    assert "sim" not in report["systems"][0] and (tmp_path / "out" / "report.md").stat().st_size > 0


def test_report_that_fails_to_render_keeps_the_scores(bench, tmp_path, capsys, monkeypatch):
    spec, write = bench

    def broken(*a, **k):
        raise ValueError("plot exploded")

    monkeypatch.setattr("tts.bench.report.write_report", broken)
    rc, text = bench_cli(write(spec), tmp_path / "out", capsys)
    assert rc == 1 and "plot exploded" in text and "report.json" in text
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["report_error"]["error"] == "ValueError: plot exploded"
    gt = report["systems"][0]
    assert gt["status"] == "ok" and gt["asr"]["echo"]["n"] == 2
    assert len((tmp_path / "out" / "utterances.jsonl").read_text().splitlines()) == 2


def test_spec_that_is_not_a_mapping_is_refused(bench, tmp_path, capsys):
    _, write = bench
    rc, text = bench_cli(write("- just\n- a list\n"), tmp_path / "out", capsys)
    assert rc == 2 and "a benchmark spec is a YAML mapping" in text


@pytest.mark.parametrize("kind", ["latent:vae", "mel:vocos"])
def test_resynthesis_space_naming_an_f5_export_says_to_bench_it_as_tts(kind, bench, f5_model, tmp_path, capsys):
    spec, write = bench
    bad = {**spec, "systems": [{"name": "resyn", "type": "resynthesis", "space": f"{kind}={f5_model}"}]}
    rc, text = bench_cli(write(bad), tmp_path / "out", capsys)
    assert rc == 2 and "Traceback" not in text and "KeyError" not in text, text
    assert f"{f5_model} is an F5 TTS export, not a VAE or Vocos folder" in text, text
    assert f"`type: tts` and `model: {f5_model}`" in text and "the space it was trained on ('mel:vocos=" in text
    assert not (tmp_path / "out").exists()
