"""Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no driver
package, no network port. Loads a page at a window width, gathers what the page's console and the
browser's log reported (errors, Content-Security-Policy refusals), measures its widths and takes a
screenshot of the whole page.

    with Chromium(tmp_path) as browser:
        page = browser.load(Path("report.html"), width=1400)
        page.errors, page.overflow, page.text, browser.screenshot(Path("shot.png"))
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]
# What the page measures of itself: how far the document and its widest element reach past the
# window (0: nothing to scroll sideways), and the text a reader sees.
MEASURE = """(() => {
  const view = document.documentElement.clientWidth;
  let widest = 0, what = "";
  for (const e of document.querySelectorAll("body *")) {
    const right = e.getBoundingClientRect().right;
    if (right > widest) { widest = right; what = e.tagName.toLowerCase() + (e.className ? "." + e.className : ""); }
  }
  return {view, scroll: document.documentElement.scrollWidth, widest: Math.ceil(widest), what,
          text: document.body.innerText, height: document.documentElement.scrollHeight};
})()"""


class Loaded(NamedTuple):
    errors: list  # console errors, uncaught exceptions and the browser's error log (CSP refusals among them)
    overflow: int  # CSS pixels the page reaches past the window's width (0 when it fits)
    widest: str  # the element that reaches furthest right
    text: str  # the page's text as rendered (document.body.innerText)
    height: int


class Chromium:
    def __init__(self, scratch: Path, binary: str | None = None) -> None:
        binary = binary or shutil.which("chromium")
        if binary is None:
            raise RuntimeError("Debian's chromium is needed for the page tests: apt-get install chromium (make deps)")
        self._profile = tempfile.mkdtemp(prefix="chromium-", dir=scratch)
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()

        # The protocol's fixed descriptors: the browser reads commands on 3 and writes replies on 4.
        self._process = subprocess.Popen(
            ["bash", "-c", 'exec "$0" "$@" 3<&%d 4>&%d' % (to_browser, from_browser), binary, *FLAGS,
             f"--user-data-dir={self._profile}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer = b""
        self._next_id = 0
        self._events: list = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable", session=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for fd in (self._commands, self._replies):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def call(self, method: str, session: bool = False, timeout: float = 120, **params: Any) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its DevTools pipe (exit status %s)" % self._process.poll())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def _wait_for(self, event: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(e["method"] == event for e in self._events):
            reply = self._receive(deadline)
            if "method" in reply:
                self._events.append(reply)

    def load(self, page: Path, width: int = 1400, height: int = 900) -> Loaded:
        """Open page (a local file) in a window width x height CSS pixels and measure it once loaded."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self._events = []
        self.call("Page.navigate", session=True, url=page.resolve().as_uri())
        self._wait_for("Page.loadEventFired")
        measured = self.call("Runtime.evaluate", session=True, expression=MEASURE, returnByValue=True)["result"]["value"]
        self.call("Runtime.evaluate", session=True, expression="0")  # lets the log of the load arrive first
        return Loaded(errors=self._errors(), overflow=max(measured["scroll"], measured["widest"]) - measured["view"],
                      widest=measured["what"], text=measured["text"], height=measured["height"])

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the loaded page (the page itself runs no script)."""
        return self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)["result"].get("value")

    def _errors(self) -> list:
        errors = []
        for event in self._events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif event["method"] == "Runtime.exceptionThrown":
                errors.append(params["exceptionDetails"].get("text", "exception"))
            elif event["method"] == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return errors

    def screenshot(self, dest: Path, width: int = 1400, max_height: int = 4000) -> Path:
        """The loaded page, whole (up to max_height CSS pixels), as a PNG."""
        height = min(self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]["height"], max_height)
        shot = self.call("Page.captureScreenshot", session=True, format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        dest.write_bytes(base64.b64decode(shot["data"]))
        return dest
