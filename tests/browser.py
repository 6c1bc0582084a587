"""Headless Chromium driven over the DevTools protocol, for every browser
test (the site builder's themes, the control panel).

One browser serves a whole test module: each viewport is set with
``Emulation.setDeviceMetricsOverride`` (``mobile`` on for phones, so the
page's viewport meta applies), each page is loaded with ``Page.navigate``,
and console errors, uncaught exceptions and failed loads (CSP violations
included) are collected from ``Runtime`` and ``Log`` events. Forms are
filled the way a person does it: a control is found by its label's text, a
button by its text (:meth:`Browser.fill`, :meth:`Browser.press`).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import websocket

from tests.conftest import stop_process

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: axe-core, installed from the npm registry by ``./bootstrap test`` as
#: locked in tests/js/package-lock.json.
AXE = Path(__file__).with_name("js") / "node_modules" / "axe-core" / "axe.min.js"


@dataclass
class Visit:
    """What loading one page showed."""

    url: str
    screenshot: bytes
    scroll_width: int
    inner_width: int
    h1: str
    broken_images: list[str]
    errors: list[str] = field(default_factory=list)


class Browser:
    """One headless Chromium process and one tab, driven synchronously."""

    def __init__(self, profile_dir: Path, timeout: float = 20, args: tuple[str, ...] = ()):
        """``args``: more Chromium switches (``--host-resolver-rules=...``,
        ``--ignore-certificate-errors`` for a self-signed test box)."""
        self.timeout = timeout
        port_file = profile_dir / "DevToolsActivePort"
        # A file left by an earlier run would name a dead port.
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--mute-audio",
                f"--user-data-dir={profile_dir}", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
                "--window-size=1366,900", *args, "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.ws = None
        self._next = 0
        self.events: list[dict] = []
        try:
            self._connect(port_file)
        except BaseException:
            # Never leave a browser behind when it could not be driven.
            self.close()
            raise

    def _connect(self, port_file: Path) -> None:
        deadline = time.monotonic() + self.timeout
        while not port_file.exists() or len(port_file.read_text().splitlines()) < 2:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=self.timeout, suppress_origin=True)
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)

    def call(self, method: str, params: dict | None = None, *, session: bool = False) -> dict:
        """Send one command and return its result; events seen meanwhile are kept."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            if "method" in reply:
                self.events.append(reply)
        raise TimeoutError(method)

    def _wait_event(self, name: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if any(e["method"] == name for e in self.events):
                return
            message = json.loads(self.ws.recv())
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(name)

    def viewport(self, width: int, height: int, *, mobile: bool) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session=True,
        )

    def visit(self, url: str, *, full_page: bool = False) -> Visit:
        """Load ``url``, wait for its load event, measure it and take a screenshot
        (of the viewport, or with ``full_page`` of the whole page)."""
        self.events = []
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise RuntimeError(f"{url}: {result['errorText']}")
        self._wait_event("Page.loadEventFired")
        return self._measure(url, full_page)

    def _measure(self, url: str, full_page: bool = False) -> Visit:
        measured = self.evaluate(
            "JSON.stringify({sw: document.documentElement.scrollWidth, iw: window.innerWidth,"
            " h1: (document.querySelector('h1') || {textContent: ''}).textContent.trim(),"
            " broken: [...document.images].filter(i => i.loading !== 'lazy' && !(i.complete && i.naturalWidth > 0))"
            ".map(i => i.src)})"
        )
        data = json.loads(measured)
        params: dict = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
        shot = base64.b64decode(self.call("Page.captureScreenshot", params, session=True)["data"])
        return Visit(url, shot, data["sw"], data["iw"], data["h1"], data["broken"], self._errors())

    def fill(self, label: str, value: str) -> None:
        """Type ``value`` into the control whose label reads ``label`` (a
        select gets the option whose text or value is ``value``)."""
        done = self.evaluate(
            "(() => { const label = [...document.querySelectorAll('label')]"
            f".find(l => l.textContent.trim() === {json.dumps(label)});"
            " if (!label) return 'no label';"
            " const el = document.getElementById(label.htmlFor); if (!el) return 'no control';"
            " if (el.tagName === 'SELECT') {"
            f"  const o = [...el.options].find(o => o.text === {json.dumps(value)} || o.value === {json.dumps(value)});"
            "  if (!o) return 'no option'; el.value = o.value; }"
            f" else el.value = {json.dumps(value)};"
            " return 'ok'; })()"
        )
        if done != "ok":
            raise AssertionError(f"fill {label!r}: {done}")

    def _labelled(self, label: str) -> str:
        """The JavaScript expression of the control labelled ``label`` (null if none)."""
        return ("(() => { const label = [...document.querySelectorAll('label')]"
                f".find(l => l.textContent.trim() === {json.dumps(label)});"
                " return label ? (document.getElementById(label.htmlFor) || label.querySelector('input')) : null; })()")

    def choose_files(self, label: str, paths: list[Path]) -> None:
        """Choose ``paths`` in the file input labelled ``label``, as a
        person does in the file picker."""
        found = self.call("Runtime.evaluate", {"expression": self._labelled(label)}, session=True)["result"]
        if "objectId" not in found:
            raise AssertionError(f"no file input labelled {label!r}")
        self.call("DOM.setFileInputFiles", {"files": [str(p) for p in paths], "objectId": found["objectId"]},
                  session=True)

    def check(self, label: str) -> None:
        """Tick the checkbox labelled ``label``."""
        done = self.evaluate(f"(() => {{ const el = {self._labelled(label)}; if (!el) return 'none';"
                             " if (!el.checked) el.click(); return 'ok'; })()")
        if done != "ok":
            raise AssertionError(f"no checkbox labelled {label!r}")

    def press(self, text: str) -> Visit:
        """Press the button (or follow the link) whose text is ``text`` and
        wait for the page it leads to."""
        self.events = []
        done = self.evaluate(
            "(() => { const el = [...document.querySelectorAll('button, a')]"
            f".find(b => b.textContent.trim() === {json.dumps(text)});"
            " if (!el) return 'none'; el.click(); return 'ok'; })()"
        )
        if done != "ok":
            raise AssertionError(f"no button or link {text!r}")
        self._wait_event("Page.loadEventFired")
        return self._measure(self.evaluate("location.href"))

    def then_load(self, expression: str) -> Visit:
        """Evaluate ``expression`` (a drag and drop, say) and wait for the
        page the page's own script then loads."""
        self.events = []
        self.evaluate(expression)
        self._wait_event("Page.loadEventFired")
        return self._measure(self.evaluate("location.href"))

    def key(self, key: str) -> None:
        """Press one key (``Tab``, ``Enter``) as a keyboard would."""
        codes = {"Tab": 9, "Enter": 13}
        # Enter presses a focused button only when it types its character.
        texts = {"Enter": "\r"}
        for kind in ("keyDown", "keyUp"):
            event = {"type": kind, "key": key, "code": key, "windowsVirtualKeyCode": codes[key]}
            if kind == "keyDown" and key in texts:
                event["text"] = texts[key]
            self.call("Input.dispatchKeyEvent", event, session=True)

    def accessibility(self) -> list[str]:
        """What axe-core finds against WCAG 2.0/2.1 A and AA on the page now
        (contrast, labels, names, landmarks...): one line per violation and
        element; empty when there is none."""
        if not self.evaluate("typeof axe !== 'undefined'"):
            self.evaluate(AXE.read_text())
        result = self.call("Runtime.evaluate", {
            "expression": "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
                          ".then(r => JSON.stringify(r.violations.map(v => [v.id, v.nodes.map(n => n.target.join(' '))])))",
            "awaitPromise": True, "returnByValue": True,
        }, session=True)
        return [f"{rule}: {node}" for rule, nodes in json.loads(result["result"]["value"]) for node in nodes]

    def clear_cookies(self) -> None:
        self.call("Network.clearBrowserCookies", session=True)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session=True)
        return result["result"].get("value")

    def _errors(self) -> list[str]:
        errors = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif event["method"] == "Runtime.exceptionThrown":
                errors.append("exception: " + params.get("exceptionDetails", {}).get("text", ""))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"log: {entry.get('text')} {entry.get('url', '')}".strip())
        return errors

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
        finally:
            stop_process(self.proc)
