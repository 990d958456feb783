"""``tts say`` (one text -> one wav, long text in chunks) and ``tts serve`` (the page, in headless Chromium).

The model is the suite's tiny F5 export (tests/factories.py, mel + tiny Vocos, max 8 s) with a default prompt:
its speech is noise, but every path (normalization, chunks, prompt checks, the page) is the real one. The browser
test types text into the page served on 127.0.0.1, presses the button and waits for an <audio> with a duration;
then uploads a file that is no audio, sees its error on the page, and makes one more request that works.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from factories import tiny_f5_export

from tts.bench import browser as browser_mod
from tts.bench.browser import Chromium, find_chromium
from tts.cli import main as cli_main
from tts.f5.export import save_prompt
from tts.say import SayError, prompt_row, speak
from tts.synth import SamplingSettings, load_model

PROMPT_TEXT = "The cat sat on the warm mat."


def speechlike(seconds: float, sr: int, f0: float, seed: int) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise (as tests/conftest.py makes them)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    sig = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.2 * sig * env + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
FAST = SamplingSettings(nfe=2)


@pytest.fixture(scope="session")
def say_model(tmp_path_factory) -> Path:
    """The tiny F5 export with a default prompt (1.5 s of a speech-like signal and its 'transcript')."""
    model = tiny_f5_export(tmp_path_factory.mktemp("say_model"))
    save_prompt(model, torch.from_numpy(speechlike(1.5, 24000, 120, 0)), 24000, PROMPT_TEXT)
    return model


@pytest.fixture(scope="session")
def loaded(say_model):
    return load_model(str(say_model), None, "cpu")


def test_speak_normalizes_and_uses_the_default_prompt(say_model, loaded):
    model, space = loaded
    spoken = speak("Dr. Smith paid $5.99.", model, space, prompt_row(say_model, None, None), FAST)
    assert spoken.text == "Doctor Smith paid five dollars and ninety-nine cents."
    assert spoken.chunks == [spoken.text] and spoken.audio_s > 0.5 and spoken.rtf > 0
    again = speak("Dr. Smith paid $5.99.", model, space, prompt_row(say_model, None, None), FAST)
    assert torch.equal(spoken.wav, again.wav)  # the seed scheme: same text, same seed -> same audio


def test_long_text_is_cut_into_chunks_that_fit_and_joined(say_model, loaded):
    model, space = loaded
    text = " ".join(f"Sentence number {i} is here." for i in range(1, 31))  # far past the tiny model's 8 s
    seen = []
    spoken = speak(text, model, space, prompt_row(say_model, None, None), FAST, chunk_s=4,
                   progress=lambda k, n, chunk: seen.append((k, n)))  # fmt: skip
    assert len(spoken.chunks) > 3 and seen == [(k, len(spoken.chunks)) for k in range(1, len(spoken.chunks) + 1)]
    assert " ".join(spoken.chunks) == spoken.text and "thirty" in spoken.text
    assert spoken.audio_s > 8  # longer than one window of the model


def test_speak_refuses_what_tts_synth_refuses(say_model, loaded, tmp_path):
    model, space = loaded
    prompt = prompt_row(say_model, None, None)
    with pytest.raises(SayError, match="U\\+0000"):
        speak("bad \x00 text", model, space, prompt, FAST)
    with pytest.raises(SayError, match="no text"):
        speak("   ", model, space, prompt, FAST)
    with pytest.raises(SayError, match="unknown character"):
        speak("Ελληνικά", model, space, prompt, FAST)
    not_audio = tmp_path / "not_audio.wav"
    not_audio.write_bytes(b"this is no audio")
    with pytest.raises(SayError, match="prompt audio"):
        speak("Hello.", model, space, {"ref_audio": str(not_audio), "ref_text": "hi"}, FAST)
    with pytest.raises(SayError, match="chunk seconds"):
        speak("Hello.", model, space, prompt, FAST, chunk_s=0.5)


def test_tts_say_writes_a_wav_from_an_argument_or_stdin(say_model, tmp_path, capsys, monkeypatch):
    import io

    out = tmp_path / "out.wav"
    assert cli_main(["say", "It is 3:30 pm.", "--model", str(say_model), "-o", str(out), "--nfe", "2"]) == 0
    assert sf.info(out).duration > 0.3 and "RTF" in capsys.readouterr().out
    assert cli_main(["say", "Again.", "--model", str(say_model), "-o", str(out)]) == 1  # exists
    assert "--overwrite" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("From standard input, 2 words.\n"))
    assert cli_main(["say", "--model", str(say_model), "-o", str(out), "--overwrite", "--nfe", "2"]) == 0
    prompt = tmp_path / "p.wav"
    sf.write(prompt, speechlike(1.0, 24000, 150, 1), 24000)
    assert cli_main(["say", "Hi.", "--model", str(say_model), "-o", str(tmp_path / "b.wav"), "--prompt", str(prompt),
                     "--prompt-text", "Hello there.", "--nfe", "2"]) == 0  # fmt: skip
    assert cli_main(["say", "Hi.", "--model", str(say_model), "-o", str(tmp_path / "c.wav"), "--prompt", str(prompt)]) == 1
    assert "--prompt-text" in capsys.readouterr().err


def test_tts_say_settings_out_of_range_are_usage_errors(say_model, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["say", "Hi.", "--model", str(say_model), "-o", str(tmp_path / "x.wav"), "--chunk-seconds", "100"])
    assert e.value.code == 2 and "--chunk-seconds must be in [2, 60]" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["say", "Hi.", "--model", str(say_model), "-o", str(tmp_path / "x.wav"), "--speed", "9"])
    assert "speed must be" in capsys.readouterr().err
    assert not (tmp_path / "x.wav").exists()


@pytest.fixture(scope="module")
def server(say_model, loaded):
    from tts.serve import create_app, start, stored_prompts

    model, space = loaded
    app = create_app(model, space, stored_prompts(str(say_model), None, None, None))
    srv, url = start(app, "127.0.0.1", 0)
    yield url
    srv.should_exit = True


def _post(url: str, fields: dict) -> tuple[int, dict]:
    boundary = "tts-test-boundary"
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields.items())
    req = urllib.request.Request(url + "synthesize", data=(body + f"--{boundary}--\r\n").encode(),
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_answers_bad_requests_with_their_reason_and_keeps_serving(server):
    assert _post(server, {"text": "bad \x01", "prompt": "default"}) == (400, {"error": "text has control character(s) "
                                                                             "U+0001: remove them"})  # fmt: skip
    code, reply = _post(server, {"text": "x" * 5001, "prompt": "default"})
    assert code == 400 and "5,001 characters" in reply["error"]
    code, reply = _post(server, {"text": "Hi.", "prompt": "nobody"})
    assert code == 400 and "unknown prompt 'nobody'" in reply["error"]
    code, reply = _post(server, {"text": "Hi.", "prompt": "default", "speed": "9"})
    assert code == 400 and "speed must be" in reply["error"]
    code, reply = _post(server, {"text": "We met on 12/25/2024.", "prompt": "default"})
    assert code == 200 and reply["text"] == "We met on December twenty-fifth, twenty twenty-four."
    assert reply["audio_s"] > 0 and reply["rtf"] > 0 and len(reply["wav_base64"]) > 1000


needs_chromium = pytest.mark.skipif(
    find_chromium() is None, reason="Debian's chromium is not installed (`make setup` installs it as root)"
)

WAIT_FOR_RESULT = """new Promise((resolve) => {
  const t0 = Date.now();
  const poll = () => {
    const err = document.getElementById("error").textContent;
    const audio = document.getElementById("audio");
    const count = Number(document.getElementById("result").dataset.count);
    if (err) return resolve({error: err, count, duration: null});
    if (count > %d && audio.readyState >= 1) return resolve({error: null, count, duration: audio.duration});
    if (Date.now() - t0 > 60000) return resolve({error: "timeout", count, duration: null});
    setTimeout(poll, 100);
  };
  poll();
})"""


@needs_chromium
def test_page_speaks_typed_text_and_survives_a_bad_upload(server, tmp_path, monkeypatch):
    # the report-page browser refuses every connection (a proxy to nowhere, loopback included); this page is
    # served on 127.0.0.1, so loopback alone is let through
    monkeypatch.setattr(browser_mod, "FLAGS", tuple(f for f in browser_mod.FLAGS if "proxy-bypass" not in f))
    not_audio = tmp_path / "voice.wav"
    not_audio.write_bytes(b"RIFF this is not a wav file at all")
    with Chromium(width=1000, height=800, timeout_s=90) as browser:
        mark = len(browser.events)
        browser.send("Page.navigate", {"url": server})
        browser.wait_event("Page.loadEventFired", mark)
        assert browser.eval("document.querySelectorAll('#prompt option').length") == 2  # default + upload
        browser.eval("document.getElementById('text').focus()")
        browser.send("Input.insertText", {"text": "Dr. Smith paid $5.99 on 12/25/2024."})
        browser.eval("document.getElementById('say').click()")
        first = browser.eval(WAIT_FOR_RESULT % 0)
        assert first["error"] is None and first["duration"] > 0
        assert "five dollars and ninety-nine cents" in browser.eval("document.getElementById('normalized').textContent")
        assert "RTF" in browser.eval("document.getElementById('stats').textContent")

        browser.eval("(() => { const s = document.getElementById('prompt'); s.value = '(upload)';"
                     " s.dispatchEvent(new Event('change')); })()")  # fmt: skip
        assert browser.eval("document.getElementById('upload').hidden") is False
        node = browser.send("Runtime.evaluate", {"expression": "document.getElementById('prompt_file')"})
        browser.send("DOM.setFileInputFiles", {"files": [str(not_audio)], "objectId": node["result"]["objectId"]})
        browser.eval("document.getElementById('prompt_text').value = 'Hello there.'")
        browser.eval("document.getElementById('say').click()")
        bad = browser.eval(WAIT_FOR_RESULT % 1)
        assert bad["error"] and "prompt audio" in bad["error"] and "voice" in bad["error"]

        browser.eval("(() => { const s = document.getElementById('prompt'); s.value = 'default';"
                     " s.dispatchEvent(new Event('change')); })()")  # fmt: skip
        browser.eval("document.getElementById('error').textContent = ''")
        browser.eval("document.getElementById('text').value = 'And one more, 2 times.'")
        browser.eval("document.getElementById('say').click()")
        second = browser.eval(WAIT_FOR_RESULT % 1)
        assert second["error"] is None and second["count"] == 2 and second["duration"] > 0
        assert browser.console_errors() == []
    assert np.isfinite(second["duration"])


def test_tts_synth_speaks_and_stores_the_normalized_text(say_model, tmp_path):
    from tts.io import read_jsonl
    from tts.synth import synthesize_list

    (tmp_path / "l.jsonl").write_text(json.dumps({"id": "money", "text": "It costs $5 at 3 pm."}) + "\n")
    summary = synthesize_list(str(say_model), str(tmp_path / "l.jsonl"), str(tmp_path / "out"), nfe=2, progress=False)
    assert summary["synthesized"] == 1
    (row,) = read_jsonl(tmp_path / "out" / "results.jsonl")
    assert row["text"] == "It costs five dollars at three p m." and row["chunks"] == 1


def test_store_default_prompt_takes_the_first_prompt_of_the_speaker(say_model, tmp_path):
    import shutil

    from tts.f5.export import load_prompt
    from tts.say import store_default_prompt

    model = Path(shutil.copytree(say_model, tmp_path / "m"))
    for name in ("prompt.wav", "prompt.json"):
        (model / name).unlink()
    wav = tmp_path / "joe.wav"
    sf.write(wav, speechlike(1.0, 22050, 110, 3), 22050)
    rows = [{"id": "a", "speaker": "flite", "ref_audio": str(wav), "ref_text": "Not this one."},
            {"id": "b", "speaker": "piper-joe", "ref_audio": str(wav), "ref_text": "This one."}]  # fmt: skip
    (tmp_path / "test_list.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    store_default_prompt(model, tmp_path / "test_list.jsonl")
    assert load_prompt(model)["ref_text"] == "This one." and sf.info(model / "prompt.wav").samplerate == 22050
