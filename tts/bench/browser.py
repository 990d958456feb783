"""Headless Chromium driven through the DevTools protocol over a pipe (stdlib only, no port, no network).

Used to check report.html in a real browser and to render its screenshot. Chromium is started with
``--remote-debugging-pipe``: it reads NUL-terminated JSON commands on fd 3 and writes replies and events
on fd 4. Networking is off (no background services, a fresh profile, proxy to nowhere); pages come from
file://.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tts.errors import TTSError

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--mute-audio", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--remote-debugging-pipe",
)  # fmt: skip


class BrowserError(TTSError, RuntimeError):
    """Chromium missing, exited, timed out, or a DevTools command failed."""


def find_chromium() -> str | None:
    """Path of a Chromium executable (``CHROMIUM`` env var first), or None."""
    for cand in (os.environ.get("CHROMIUM"), *CHROMIUM_CANDIDATES, shutil.which("chromium")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


class Chromium:
    """One headless Chromium with one page: ``open(path)``, ``eval(js)``, ``screenshot(png)``."""

    def __init__(self, width: int = 1400, height: int = 900, timeout_s: float = 60.0):
        exe = find_chromium()
        if exe is None:
            raise BrowserError("Chromium not found: install Debian's `chromium` (apt-get install chromium)")
        self.timeout_s = timeout_s
        self.profile = tempfile.mkdtemp(prefix="tts-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        high_r = fcntl.fcntl(to_child_r, fcntl.F_DUPFD, 10)
        high_w = fcntl.fcntl(from_child_w, fcntl.F_DUPFD, 10)

        def child_fds() -> None:
            os.dup2(high_r, 3)
            os.dup2(high_w, 4)

        self.log = open(Path(self.profile) / "chromium.log", "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, pass_fds=(3, 4),
            preexec_fn=child_fds,
        )  # fmt: skip
        for fd in (to_child_r, from_child_w, high_r, high_w):
            os.close(fd)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []
        self.session = None
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Network"):
                self.send(f"{domain}.enable")
            self.send("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------------------------------- protocol

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise BrowserError(f"Chromium did not answer within {self.timeout_s:.0f} s")
            if self.proc.poll() is not None:
                raise BrowserError(f"Chromium exited with {self.proc.returncode}; log: {self.log.name}")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise BrowserError(f"Chromium closed the DevTools pipe; log: {self.log.name}")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None) -> dict:
        """Run one DevTools command on the page (on the browser before a page is attached); its result."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if self.session:
            msg["sessionId"] = self.session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout_s
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, since: int = 0) -> dict:
        """The first event ``method`` at or after index ``since`` of ``events`` (reading more as needed)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            for ev in self.events[since:]:
                if ev.get("method") == method:
                    return ev
            since = len(self.events)
            self.events.append(self._read_message(deadline))

    # ------------------------------------------------------------------------------------------ page

    def open(self, path: str | Path) -> None:
        """Load a local file and wait for its load event."""
        mark = len(self.events)
        self.send("Page.navigate", {"url": Path(path).resolve().as_uri()})
        self.wait_event("Page.loadEventFired", mark)

    def eval(self, expression: str):
        """Evaluate JavaScript in the page (promises awaited); its JSON value. Page errors raise."""
        out = self.send("Runtime.evaluate",
                        {"expression": expression, "returnByValue": True, "awaitPromise": True})  # fmt: skip
        if "exceptionDetails" in out:
            d = out["exceptionDetails"]
            raise BrowserError(
                f"JavaScript error: {d.get('exception', {}).get('description') or d.get('text')}"
            )
        return out["result"].get("value")

    def requested_urls(self) -> list[str]:
        """Every URL the page requested so far (Network.requestWillBeSent)."""
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def console_errors(self) -> list[str]:
        """Uncaught exceptions the page threw so far."""
        return [
            e["params"]["exceptionDetails"].get("exception", {}).get("description", "")
            for e in self.events
            if e.get("method") == "Runtime.exceptionThrown"
        ]

    def screenshot(self, path: str | Path, height: int | None = None, selector: str | None = None) -> Path:
        """PNG of ``height`` CSS pixels of the page (default: the viewport) from the top or from ``selector``."""
        params: dict = {"format": "png"}
        if height or selector:
            y = self.eval(
                f"document.querySelector({json.dumps(selector)}).getBoundingClientRect().top + window.scrollY"
            ) if selector else 0  # fmt: skip
            width = self.eval("document.documentElement.clientWidth")
            height = height or self.eval("window.innerHeight")
            params.update(clip={"x": 0, "y": y, "width": width, "height": height, "scale": 1},
                          captureBeyondViewport=True)  # fmt: skip
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    # ------------------------------------------------------------------------------------------ life

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.session = None
                self.send("Browser.close")
                self.proc.wait(timeout=10)
        except (BrowserError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            for fd in (self._to_child, self._from_child):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
