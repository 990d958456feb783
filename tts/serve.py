"""``tts serve``: a local web page to type text, pick a stored prompt or upload one, and hear the result.

FastAPI + uvicorn, not Gradio (F5-TTS' choice): measured in fresh Python 3.11 venvs on 2026-12-08, fastapi 0.165 +
uvicorn 0.55 + python-multipart add ~20 MB (pydantic and anyio are already in this venv), Gradio 6 ~340 MB in 56
packages; and the page here is one self-contained HTML file (no fonts, scripts or analytics fetched from the
internet), which works offline as this project must.

The page posts the form to ``/synthesize``; the text is checked and spoken exactly as ``tts say`` does
(``tts.say.speak``: normalization, sentences, chunks, the checks of ``tts synth`` on text and prompt audio)
and the answer is JSON with the wav (base64), its length, the normalized text and the RTF. A request that
cannot be served gets ``{"error": ...}`` (HTTP 400 for bad input, 500 for a failure) shown on the page; the server
keeps serving. One synthesis at a time (a lock: later requests wait their turn). Localhost by default.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import ipaddress
import sys
import tempfile
import threading
import time
from pathlib import Path

from fastapi import FastAPI, File, Form, UploadFile  # at module level: the endpoint's annotations name them
from fastapi.responses import HTMLResponse, JSONResponse

from tts.errors import TTSError
from tts.say import SayError, prompt_row, speak
from tts.synth import SamplingSettings

MAX_TEXT_CHARS = 5_000  # a page request; longer texts: tts say
MAX_UPLOAD_BYTES = 20 << 20
DEFAULT_PORT = 8000
UPLOAD = "(upload)"


class ServeError(TTSError, ValueError):
    """A ``tts serve`` setting that cannot be used (port, host, prompts)."""


def stored_prompts(model_dir: str, prompt: str | None, prompt_text: str | None, prompts_dir: str | None) -> dict:
    """Name -> prompt row: the model's default prompt ("default"), ``--prompt`` ("given") and every
    ``NAME.wav`` + ``NAME.txt`` of ``prompts_dir``."""
    out = {}
    try:
        out["default"] = prompt_row(model_dir, None, None)
    except SayError:
        pass
    if prompt is not None or prompt_text is not None:
        out["given"] = prompt_row(model_dir, prompt, prompt_text)
    if prompts_dir is not None:
        folder = Path(prompts_dir)
        if not folder.is_dir():
            raise ServeError(f"--prompts {folder}: not a folder (it should hold NAME.wav + NAME.txt pairs)")
        for wav in sorted(folder.glob("*.wav")):
            txt = wav.with_suffix(".txt")
            if txt.is_file() and txt.read_text(encoding="utf-8", errors="replace").strip():
                out[wav.stem] = {"ref_audio": str(wav), "ref_text": txt.read_text(encoding="utf-8").strip()}
    return out


def create_app(model, space, prompts: dict, title: str = "tts serve"):
    """The FastAPI app around a loaded model and its feature space (``tts.synth.load_model``)."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    lock = threading.Lock()
    page = PAGE.replace("{{title}}", html.escape(title)).replace("{{max_chars}}", str(MAX_TEXT_CHARS)).replace(
        "{{prompts}}", "".join(f'<option value="{html.escape(n)}">{html.escape(n)}: {html.escape(p["ref_text"][:60])}'
                               "</option>" for n, p in prompts.items()))  # fmt: skip

    def bad(message: str, status: int = 400) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.post("/synthesize")
    def synthesize(
        text: str = Form(""),
        prompt: str = Form(""),
        prompt_text: str = Form(""),
        speed: float = Form(1.0),
        seed: int = Form(0),
        prompt_file: UploadFile | None = File(None),
    ):
        if len(text) > MAX_TEXT_CHARS:
            return bad(f"text has {len(text):,} characters, more than {MAX_TEXT_CHARS:,}: use tts say for long texts")
        sampling = SamplingSettings(speed=speed, seed=seed)
        if problems := sampling.problems():
            return bad("; ".join(problems))
        upload = None
        try:
            if prompt == UPLOAD:
                if prompt_file is None or not prompt_file.filename:
                    return bad("choose a prompt audio file to upload, or pick a stored prompt")
                data = prompt_file.file.read(MAX_UPLOAD_BYTES + 1)
                if len(data) > MAX_UPLOAD_BYTES:
                    return bad(f"the prompt file is over {MAX_UPLOAD_BYTES >> 20} MB: upload a clip of a few seconds")
                if not prompt_text.strip():
                    return bad("type the transcript of the uploaded prompt (what is said in it)")
                upload = tempfile.NamedTemporaryFile(suffix=Path(prompt_file.filename).suffix or ".wav")  # noqa: SIM115
                upload.write(data)
                upload.flush()
                row = {"ref_audio": upload.name, "ref_text": prompt_text.strip()}
            elif prompt in prompts:
                row = prompts[prompt]
            else:
                return bad(f"unknown prompt {prompt!r}: pick one of {', '.join(prompts) or 'none (upload one)'}")
            with lock:  # one synthesis at a time; the others wait here
                t0 = time.perf_counter()
                spoken = speak(text, model, space, row, sampling, utt_id="serve")
                wall = time.perf_counter() - t0
            wav = wav_bytes(spoken.wav, spoken.sample_rate)
        except TTSError as e:  # the upload's temporary path means nothing to the user: its name does
            return bad(str(e).replace(upload.name, f"uploaded {prompt_file.filename}") if upload else str(e))
        except Exception as e:  # noqa: BLE001 (any failure is this request's, never the server's)
            return bad(f"synthesis failed: {type(e).__name__}: {e}", 500)
        finally:
            if upload is not None:
                upload.close()
        return {"text": spoken.text, "chunks": len(spoken.chunks), "audio_s": round(spoken.audio_s, 3),
                "synth_s": round(spoken.synth_s, 3), "rtf": round(spoken.rtf, 4), "wall_s": round(wall, 3),
                "wav_base64": base64.b64encode(wav).decode("ascii")}  # fmt: skip

    return app


def wav_bytes(wav, sample_rate: int) -> bytes:
    """A waveform (T,) as 16-bit PCM wav bytes (the encoding ``tts.audio.save_audio`` writes to a file)."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, wav.detach().float().clamp(-1, 1).cpu().numpy(), sample_rate, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def check_address(host: str, port: int) -> None:
    if not (isinstance(port, int) and 0 <= port <= 65535):
        raise ServeError(f"--port must be in [0, 65535] (0: any free port), got {port!r}")
    if not host:
        raise ServeError("--host is empty: use 127.0.0.1 (this machine only) or an address of this machine")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start(app, host: str = "127.0.0.1", port: int = 0):
    """Run ``app`` with uvicorn in a daemon thread -> (server, url) once it listens; ``server.should_exit = True``
    stops it."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServeError(f"the server did not start on {host}:{port} (port in use?)")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()
    return server, f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}/"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tts serve",
        description="A local web page to type text, pick a stored prompt or upload one, hear and download the "
        "result with its RTF. Text is checked and spoken as `tts say` does it (normalized, long text in chunks; "
        f"at most {MAX_TEXT_CHARS:,} characters a request); errors are shown on the page and the server keeps "
        "serving; one synthesis at a time (later requests wait). Stored prompts: the model's default prompt, "
        "--prompt/--prompt-text and every NAME.wav + NAME.txt in --prompts. Listens on 127.0.0.1 (this machine "
        "only) unless --host says otherwise. Ctrl-C stops it.",
    )
    p.add_argument("--model", required=True, help="F5 export dir (model.safetensors + config.json) or .ckpt")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port, 0-65535 (default {DEFAULT_PORT}; 0: any free)")
    p.add_argument("--prompt", default=None, help="a prompt wav to offer (with --prompt-text)")
    p.add_argument("--prompt-text", default=None, help="the transcript of --prompt")
    p.add_argument("--prompts", default=None, help="a folder of NAME.wav + NAME.txt prompts to offer")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--space", default=None, help="override the model's feature space spec")
    return p


def main(argv: list[str] | None = None) -> int:
    from tts.synth import load_model
    from tts.synth.run import check_device

    a = build_parser().parse_args(argv)
    check_address(a.host, a.port)
    prompts = stored_prompts(a.model, a.prompt, a.prompt_text, a.prompts)
    check_device(a.device)
    model, space = load_model(a.model, a.space, a.device)
    app = create_app(model, space, prompts, title=f"tts serve: {Path(a.model).name}")
    if not is_loopback(a.host):
        print(f"tts serve: listening on {a.host}: other machines can reach this page", file=sys.stderr)
    server, url = start(app, a.host, a.port)
    print(f"tts serve: {url} ({len(prompts)} stored prompt(s){'' if prompts else ': upload one on the page'}); "
          "Ctrl-C stops it", flush=True)  # fmt: skip
    try:
        while not server.should_exit:
            time.sleep(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
    return 0


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{title}}</title>
<style>
body { font-family: sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
textarea { width: 100%; height: 9rem; font-size: 1rem; }
label { display: block; margin-top: .8rem; }
#error { color: #a00; white-space: pre-wrap; margin-top: 1rem; }
#status { color: #555; margin-top: 1rem; }
#result[hidden], #upload[hidden] { display: none; }
#normalized { color: #444; font-style: italic; }
button { margin-top: 1rem; font-size: 1rem; padding: .4rem 1.2rem; }
</style></head>
<body>
<h1>{{title}}</h1>
<form id="form" onsubmit="return false">
<label for="text">Text (at most {{max_chars}} characters; numbers, dates and abbreviations are read out)</label>
<textarea id="text" name="text" maxlength="{{max_chars}}"></textarea>
<label for="prompt">Voice (prompt)</label>
<select id="prompt" name="prompt">{{prompts}}<option value="(upload)">upload a prompt...</option></select>
<div id="upload" hidden>
<label for="prompt_file">Prompt audio (a few seconds of speech)</label>
<input id="prompt_file" name="prompt_file" type="file" accept="audio/*">
<label for="prompt_text">What is said in it</label>
<input id="prompt_text" name="prompt_text" type="text" size="70">
</div>
<label for="speed">Speed <input id="speed" name="speed" type="number" value="1" min="0.25" max="4" step="0.05"></label>
<label for="seed">Seed <input id="seed" name="seed" type="number" value="0" min="0" step="1"></label>
<button id="say" type="button">Say it</button>
</form>
<div id="status" role="status"></div>
<div id="error" role="alert"></div>
<div id="result" hidden data-count="0">
<p><audio id="audio" controls></audio> <a id="download" download="speech.wav" href="#">download</a></p>
<p id="stats"></p>
<p id="normalized"></p>
</div>
<script>
const $ = (id) => document.getElementById(id);
const showUpload = () => { $("upload").hidden = $("prompt").value !== "(upload)"; };
$("prompt").addEventListener("change", showUpload);
showUpload();
let lastUrl = null;
$("say").addEventListener("click", async () => {
  $("error").textContent = "";
  $("status").textContent = "synthesizing...";
  $("say").disabled = true;
  try {
    const body = new FormData($("form"));
    if ($("prompt").value !== "(upload)") { body.delete("prompt_file"); body.delete("prompt_text"); }
    const reply = await fetch("synthesize", { method: "POST", body });
    let data;
    try { data = await reply.json(); } catch (e) { data = { error: "the server answered " + reply.status }; }
    if (!reply.ok || data.error) {
      const detail = data.detail ? data.detail.map((d) => d.loc.slice(-1)[0] + ": " + d.msg).join("; ") : null;
      $("error").textContent = "Error: " + (data.error || detail || reply.statusText);
      $("status").textContent = "";
      return;
    }
    const bytes = Uint8Array.from(atob(data.wav_base64), (c) => c.charCodeAt(0));
    if (lastUrl) URL.revokeObjectURL(lastUrl);
    lastUrl = URL.createObjectURL(new Blob([bytes], { type: "audio/wav" }));
    $("audio").src = lastUrl;
    $("download").href = lastUrl;
    $("stats").textContent = data.audio_s.toFixed(2) + " s of audio in " + data.synth_s.toFixed(2) + " s (RTF " +
      data.rtf.toFixed(3) + "), " + data.chunks + " chunk(s)";
    $("normalized").textContent = "Spoken: " + data.text;
    $("result").hidden = false;
    $("result").dataset.count = String(Number($("result").dataset.count) + 1);
    $("status").textContent = "done";
  } catch (e) {
    $("error").textContent = "Error: " + e;
    $("status").textContent = "";
  } finally {
    $("say").disabled = false;
  }
});
</script>
</body></html>
"""

if __name__ == "__main__":
    sys.exit(main())
