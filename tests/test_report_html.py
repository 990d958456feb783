"""report.html: error marking from jiwer's alignment, self-contained media, and the page in headless Chromium.

The browser test runs a tiny fake benchmark (fake ASR, fake synthesis; seconds), opens its report.html from
file:// in Debian's chromium through the DevTools protocol and checks the DOM: tables rendered, every <audio>
source an existing file the browser can load, errors marked, sorting and filtering change the rows, nothing
requested from outside the folder, long lists paginated; it writes a screenshot.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from test_bench import TEXTS, _spec, corpus, fakes  # noqa: F401 (fixtures)

from tts.bench import html as report_html
from tts.bench import runner
from tts.bench.browser import Chromium, find_chromium

needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed (`make setup` installs it as root)"
)


def test_mark_errors_follows_jiwers_alignment():
    ops = report_html.mark_errors("the cat sat on the mat", "the cat sit on the mat today")
    assert ops == ["the cat", ["s", "sat", "sit"], "on the mat", ["i", "", "today"]]
    assert report_html.mark_errors("a b c", "a c") == ["a", ["d", "b", ""], "c"]
    assert report_html.mark_errors("a b", "") == [["d", "a", ""], ["d", "b", ""]]
    assert report_html.mark_errors("", "uh") == [["i", "", "uh"]]


def test_prompts_and_ground_truth_are_linked_into_the_report_folder(tmp_path):
    src = tmp_path / "corpus"
    src.mkdir()
    (src / "ref.wav").write_bytes(b"RIFF....")
    (src / "gt.wav").write_bytes(b"RIFF....")
    out = tmp_path / "out"
    media = report_html._Media(out)
    url = media.url(src / "ref.wav", report_html.PROMPT_DIR)
    assert url == "audio/_prompt/ref.wav" and (out / url).read_bytes() == b"RIFF...."
    assert media.url(src / "ref.wav", report_html.PROMPT_DIR) == url  # once per source file
    assert media.url(src / "gt.wav", report_html.GT_DIR, "u 1") == "audio/_gt/u%201.wav"
    assert media.url(src / "missing.wav", report_html.GT_DIR) is None


@pytest.fixture
def bench(corpus, fakes, tmp_path):  # noqa: F811 (fixtures from test_bench)
    out = tmp_path / "out"
    report = runner.run_bench(_spec(corpus, comparisons=[["bad", "good"]]), out)
    return out, report


def _dom_order(browser: Chromium) -> list[str]:
    return browser.eval("Array.from(document.querySelectorAll('#utts tbody.utt')).map(b => b.dataset.id)")


def _choose(browser: Chromium, element: str, value: str) -> None:
    kind = "input" if element in ("q", "vmin", "vmax") else "change"
    browser.eval(f"(() => {{ const e = document.getElementById({json.dumps(element)}); e.value = {json.dumps(value)};"
                 f" e.dispatchEvent(new Event({json.dumps(kind)})); }})()")  # fmt: skip


@needs_chromium
def test_report_page_works_offline_in_headless_chromium(bench, tmp_path):
    out, report = bench
    page = out / "report.html"
    assert report["report_html"] == str(page)
    utts = [json.loads(line) for line in (out / "utterances.jsonl").read_text().splitlines()]
    ok = [s["name"] for s in report["systems"] if s["status"] == "ok"]
    with Chromium(width=1300, height=900) as browser:
        browser.open(page)
        assert browser.console_errors() == []
        # summary tables: one WER table per ASR with a row per finished system, plus SIM/RTF
        tables = browser.eval(
            "Array.from(document.querySelectorAll('table.summary')).map(t => ({cls: t.className,"
            " rows: Array.from(t.tBodies[0].rows).map(r => r.cells[0].textContent), h: t.offsetHeight}))"
        )
        wer_tables = [t for t in tables if "wer" in t["cls"]]
        assert len(wer_tables) == 2 and all(t["rows"] == ok and t["h"] > 0 for t in wer_tables)
        assert any("sim" in t["cls"] and t["rows"] == ok for t in tables)
        assert any("comparisons" in t["cls"] and t["rows"] == ["bad - good"] for t in tables)
        assert browser.eval("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        # one entry per utterance; a row per system and seed (TTS systems have seeds 0 and 1)
        assert _dom_order(browser) == [f"u{i}" for i in range(len(TEXTS))]
        rows = browser.eval("Array.from(document.querySelectorAll('#utts tbody.utt')[0].rows).slice(1)"
                            ".map(r => r.dataset.system + '/' + r.dataset.seed)")  # fmt: skip
        assert rows == ["ground_truth/0", "resynth/0", "good/0", "good/1", "bad/0", "bad/1"]
        # every player: lazy, a relative source that is an existing file, and loadable by the browser
        audio = browser.eval(
            "Array.from(document.querySelectorAll('audio')).map(a => ({src: a.getAttribute('src'), abs: a.src,"
            " preload: a.getAttribute('preload')}))"
        )
        assert len(audio) == len(TEXTS) * (2 + len(rows))  # prompt + ground truth + one per row
        for a in audio:
            assert a["preload"] == "none" and not a["src"].startswith(("/", "file:", "http"))
            assert Path(unquote(urlparse(a["abs"]).path)).is_file(), a
            assert Path(unquote(urlparse(a["abs"]).path)).resolve().is_relative_to(out.resolve()), a
        loaded = browser.eval("""Promise.all(Array.from(document.querySelectorAll('audio')).map(a =>
            new Promise(done => { a.onloadedmetadata = () => done(a.duration > 0); a.onerror = () => done(false);
                                  a.preload = 'metadata'; a.load(); })))""")
        assert loaded == [True] * len(audio)
        # word errors: the 'bad' system loses each sentence's last word -> a deletion mark on that word
        deleted = browser.eval(
            "Array.from(document.querySelectorAll('#utts tbody.utt')).map(b =>"
            " b.querySelector('tr[data-system=bad] del.del').textContent)"
        )
        assert deleted == [t.split()[-1] for t in TEXTS]
        assert (
            browser.eval(
                "document.querySelectorAll('tr[data-system=good] del, tr[data-system=good] ins').length"
            )
            == 0
        )
        # sorting by a system's WER (descending) reorders the entries as the scores say
        bad = {}
        for u in utts:
            if u["system"] == "bad" and u["asr"] == "asr_a":
                bad.setdefault(u["id"], []).append(u["wer"])
        expected = sorted(bad, key=lambda i: (-np.mean(bad[i]), int(i[1:])))
        _choose(browser, "key", "wer:bad")
        _choose(browser, "dir", "-1")
        assert _dom_order(browser) == expected != [f"u{i}" for i in range(len(TEXTS))]
        _choose(browser, "key", "diff")  # A - B defaults to the spec's first comparison: bad - good
        assert browser.eval(
            "[document.getElementById('sys-a').value, document.getElementById('sys-b').value]"
        ) == [
            "bad",
            "good",
        ]
        assert _dom_order(browser) == expected  # good is perfect: the same order as bad's WER
        _choose(browser, "vmin", "30")  # only utterances where bad is >= 30 points worse
        assert _dom_order(browser) == [i for i in expected if 100 * np.mean(bad[i]) >= 30]
        _choose(browser, "vmin", "")
        _choose(browser, "key", "text")
        _choose(browser, "dir", "1")
        assert _dom_order(browser) == [f"u{i}" for i, _ in sorted(enumerate(TEXTS), key=lambda x: x[1])]
        _choose(browser, "q", "sea shells")
        assert _dom_order(browser) == ["u3"]
        # nothing but the folder's own files was requested
        assert all(u.startswith(("file:", "data:", "about:")) for u in browser.requested_urls())
        shot = browser.screenshot(tmp_path / "report.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")


@needs_chromium
def test_long_reports_are_paginated(tmp_path):
    n = 450
    report = json.loads(json.dumps(_fake_report()))
    utts = [{"system": "tts", "seed": 0, "asr": "asr", "id": f"u{i:03d}", "text": f"utterance {i}",
             "hyp": f"utterance {i}", "ref_norm": f"utterance {i}", "hyp_norm": f"utterance {i}",
             "wer": (i % 7) / 7, "cer": 0.0} for i in range(n)]  # fmt: skip
    rows = [{"id": u["id"], "text": u["text"]} for u in utts]
    page = report_html.write_html(report, tmp_path, rows, utts, {})
    with Chromium() as browser:
        browser.open(page)
        assert len(_dom_order(browser)) == report_html.PAGE_SIZE
        assert "of 450" in browser.eval("document.getElementById('status').textContent")
        browser.eval("document.getElementById('next').click()")
        assert _dom_order(browser)[0] == f"u{report_html.PAGE_SIZE:03d}"
        _choose(browser, "size", "0")
        assert len(_dom_order(browser)) == n


def _fake_report() -> dict:
    ci = {"value": 0.1, "low": 0.05, "high": 0.2, "n": 1}
    return {
        "name": "long", "date": "2026-01-01T00:00:00+00:00", "spec_path": None, "spec": {"test_list": "t"},
        "n_utterances": 450, "seeds": [0], "baseline": None, "protocol": {"wer_mean": "mean"},
        "versions": {"python": "3"}, "asr": [{"name": "asr", "config": {}}], "similarity": None, "plots": [],
        "systems": [{"name": "tts", "type": "tts", "status": "ok", "seeds": [0], "config": {"name": "tts"},
                     "asr": {"asr": {"n": 450, "per_seed": {}, "wer_mean": ci, "wer_corpus": ci,
                                     "cer_mean": ci, "cer_corpus": ci}}, "missing": []}],
    }  # fmt: skip


def test_cli_rebuilds_the_page_from_a_benchmark_folder(bench, capsys):
    out, _ = bench
    (out / "report.html").unlink()
    assert report_html.main([str(out)]) == 0
    assert (out / "report.html").is_file() and "report.html" in capsys.readouterr().out
    assert report_html.main([str(out / "nope")]) == 2
    assert "report.json" in capsys.readouterr().err
