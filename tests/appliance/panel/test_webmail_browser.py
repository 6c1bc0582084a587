"""Webmail in headless Chromium, as bob uses it: a message from ann read
and answered; a hostile HTML message that runs nothing and fetches
nothing until bob allows its pictures."""

from __future__ import annotations

import email.message
import smtplib
import socket
import threading

import pytest

from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_browser import _clean
from .webmail_client import deliver, imap, imap_subjects

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed"),
    pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)"),
]


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-webmail"), args=(
        "--ignore-certificate-errors", "--accept-lang=en",
    ))
    chromium.call("Page.enable", session=True)
    yield chromium
    chromium.close()


class Trap:
    """A TCP listener on 127.0.0.1 that counts who connects (an image
    request, plain or TLS, is a connection first)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.hits = 0
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def _sign_in(env, browser, address: str):
    browser.clear_cookies()
    _clean(browser.visit(env.base + "/"), "Sign in")
    browser.fill("E-mail address", address)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")


def _submit(env, sender: str, to: str, subject: str, body: str) -> None:
    """``sender`` sends a message over SMTP submission (STARTTLS, AUTH)."""
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=_no_verify())
        smtp.login(sender, PASSWORD)
        smtp.send_message(msg)


def test_bob_reads_a_message_from_ann_and_replies(env, browser):
    """ann writes to bob over SMTP submission; bob opens Mail, reads it, presses
    Reply, writes and sends: ann's INBOX (IMAP) has the reply, and bob's
    Sent keeps it. All on a phone's width; every page is clean (no
    console error, no sideways scroll) and passes the accessibility check."""
    _submit(env, "ann@acme.example", "bob@acme.example", "Order for Friday", "Two dozen croissants, please.\n")
    browser.viewport(390, 844, mobile=True)
    _sign_in(env, browser, "bob@acme.example")
    _clean(browser.press("Mail"), "Inbox", browser)
    _clean(browser.press("Order for Friday"), "Order for Friday", browser)
    assert "Two dozen croissants" in browser.evaluate("document.querySelector('pre').textContent")
    _clean(browser.press("Reply"), "Write a message", browser)
    assert browser.evaluate("document.getElementById('to').value") == "ann@acme.example"
    browser.fill("Message", "They will be ready at eight.")
    _clean(browser.press("Send"), "Sent", browser)
    assert "Re: Order for Friday" in imap_subjects(env, "ann@acme.example", "INBOX")
    assert "Re: Order for Friday" in imap_subjects(env, "bob@acme.example", "Sent")
    browser.viewport(1366, 900, mobile=False)


def test_bob_opens_a_forwarded_message_and_its_html_with_its_own_picture(env, browser):
    """A message forwarded as an attachment: bob opens it from the
    attachments at phone width; the attached message's page shows its
    sender and its HTML frame, whose picture (a part of the message, cid:)
    has loaded; the page is clean and accessible."""
    inner = email.message.EmailMessage()
    inner["From"], inner["To"], inner["Subject"] = "dan@supplier.example", "ann@acme.example", "Flour delivery"
    inner.set_content("Flour on Monday.")
    inner.add_alternative('<p>Flour on Monday.</p><img src="cid:sack@supplier" alt="A sack of flour">', subtype="html")
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360"
                        "f8cfc0f01f0005000201e2ad3a3a0000000049454e44ae426082")
    inner.get_payload()[1].add_related(png, "image", "png", cid="<sack@supplier>")
    outer = email.message.EmailMessage()
    outer["From"], outer["To"], outer["Subject"] = "ann@acme.example", "bob@acme.example", "Fwd: Flour delivery"
    outer.set_content("For your planning.")
    outer.add_attachment(inner)
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=_no_verify())
        smtp.login("ann@acme.example", PASSWORD)
        smtp.send_message(outer)
    browser.viewport(390, 844, mobile=True)
    _sign_in(env, browser, "bob@acme.example")
    _clean(browser.press("Mail"), "Inbox", browser)
    _clean(browser.press("Fwd: Flour delivery"), "Fwd: Flour delivery", browser)
    _clean(browser.press("Open the message Flour delivery.eml"), "Flour delivery", browser)
    assert "dan@supplier.example" in browser.evaluate("document.querySelector('.mail-headers').textContent")
    # The frame is sandboxed from the page: its document is read on its own.
    browser.visit(browser.evaluate("document.querySelector('iframe.mail-body').src"))
    loaded = browser.evaluate("(() => { const i = document.querySelector('img'); return i ? [i.complete, i.naturalWidth] : null; })()")
    assert loaded == [True, 1], loaded
    browser.viewport(1366, 900, mobile=False)


def test_hostile_html_runs_nothing_and_fetches_nothing_until_allowed(env, browser):
    """An HTML message with the known tricks - a script, event handlers,
    javascript: and data: links, inline SVG with a script, a CSS
    expression and a style sheet, <base>, a form, a meta refresh, an
    iframe and an object, malformed markup - and a remote image, all
    pointing at a trap server: opened, no script runs (no console error,
    no dialog) and the trap sees no connection; once bob asks to show its
    pictures, the browser goes for the image."""
    trap = Trap()
    try:
        t = f"http://127.0.0.1:{trap.port}"
        html = (f'<head><base href="{t}/"><meta http-equiv="refresh" content="0;url={t}/refresh">'
                f'<link rel="stylesheet" href="{t}/sheet.css"><style>body {{ background: url({t}/bg.png) }}</style></head>'
                f'<p>Big sale</p><script>alert(1)</script><img src="x" onerror="alert(2)">'
                f'<a href="javascript:alert(3)">click</a><a href="data:text/html,<script>alert(5)</script>">data</a>'
                f'<svg onload="alert(6)"><script>alert(7)</script></svg>'
                f'<p style="width: expression(alert(8)); background: url({t}/style.png)">styled</p>'
                f'<form action="{t}/form"><input name="q" autofocus onfocus="alert(9)"><button>Go</button></form>'
                f'<iframe src="{t}/frame"></iframe><object data="{t}/object"></object>'
                f'<img src=x onerror=alert(10)//<scr<script>ipt>alert(11)</scr</script>ipt>'
                f'<img src="{t}/pixel.png" alt="">')
        raw = ("From: Mallory <mallory@elsewhere.example>\r\nTo: bob@acme.example\r\nSubject: Big sale\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html + "\r\n").encode()
        deliver(env, "bob@acme.example", "", raw=raw, sender="mallory@elsewhere.example")
        _sign_in(env, browser, "bob@acme.example")
        _clean(browser.press("Mail"), "Inbox")
        browser.events = []
        visit = browser.press("Big sale")
        _clean(visit, "Big sale", browser)
        assert not [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
        frame = browser.evaluate("document.querySelector('iframe').getAttribute('sandbox')")
        assert frame == "allow-popups allow-popups-to-escape-sandbox"
        assert trap.hits == 0
        browser.press("Show pictures in this message")
        assert not [e for e in browser.events if e["method"] == "Page.javascriptDialogOpening"]
        assert trap.hits >= 1
    finally:
        trap.close()


def test_bob_files_a_message_in_a_new_folder_and_renames_it(env, browser):
    """At phone width bob creates the folder "Mills", moves a message
    from his inbox into it from the list, then renames the folder
    "Millers": his IMAP client finds the message under the new name and no
    "Mills" any more. Every page is clean and accessible."""
    deliver(env, "bob@acme.example", "Flour invoice")
    browser.viewport(390, 844, mobile=True)
    _sign_in(env, browser, "bob@acme.example")
    _clean(browser.press("Mail"), "Inbox", browser)
    _clean(browser.press("Manage folders"), "Folders", browser)
    browser.fill("Folder name", "Mills")
    _clean(browser.press("Create folder"), "Folders", browser)
    assert "The folder was created." in browser.evaluate("document.querySelector('[role=status]').textContent")
    _clean(browser.visit(env.base + "/mail"), "Inbox")
    assert browser.evaluate("(() => { const box = [...document.querySelectorAll('input[type=checkbox]')]"
                            ".find(b => b.getAttribute('aria-label') === 'Select “Flour invoice”');"
                            " if (!box) return false; box.click(); return box.checked; })()")
    browser.fill("Move or copy to", "Mills")
    _clean(browser.press("Move"), "Inbox", browser)
    suppliers = browser.evaluate("[...document.querySelectorAll('nav.mail-folders a')]"
                                 ".find(a => a.textContent.trim().startsWith('Mills')).href")
    _clean(browser.visit(suppliers), "Mills", browser)
    assert browser.evaluate("document.body.textContent").count("Flour invoice") == 1
    _clean(browser.press("Folder settings"), "Folder “Mills”", browser)
    browser.fill("Folder name", "Millers")
    _clean(browser.press("Rename"), "Folders", browser)
    assert "Flour invoice" in imap_subjects(env, "bob@acme.example", "Millers")
    conn = imap(env, "bob@acme.example")
    try:
        _, listed = conn.list('""', "*")
    finally:
        conn.logout()
    assert any(line.endswith(b'"Millers"') or line.endswith(b" Millers") for line in listed)
    assert not any(b"Mills" in line for line in listed)
    browser.viewport(1366, 900, mobile=False)


def test_bob_drags_a_message_onto_a_folder(env, browser):
    """bob drags a message of his inbox onto the folder "Dragged receipts"
    in the folder list: the drop posts the list's own Move, the inbox
    comes back saying so, and his IMAP client finds the message in that
    folder and no longer in INBOX. The page is clean and accessible."""
    conn = imap(env, "bob@acme.example")
    try:
        conn.create('"Dragged receipts"')
    finally:
        conn.logout()
    deliver(env, "bob@acme.example", "Receipt for the dragged oven")
    _sign_in(env, browser, "bob@acme.example")
    _clean(browser.press("Mail"), "Inbox", browser)
    drag = ("(() => { const row = [...document.querySelectorAll('.mail-list tbody tr')]"
            ".find(r => r.textContent.includes('Receipt for the dragged oven'));"
            " const folder = [...document.querySelectorAll('nav.mail-folders li')]"
            ".find(li => li.textContent.trim().startsWith('Dragged receipts'));"
            " const data = new DataTransfer();"
            " const fire = (el, type) => el.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,"
            " dataTransfer: data})); fire(row, 'dragstart'); fire(folder, 'dragover');"
            " fire(folder, 'drop'); fire(row, 'dragend'); })()")
    _clean(browser.then_load(drag), "Inbox", browser)
    assert browser.evaluate("document.querySelector('[role=status]').textContent") == "Moved."
    assert "Receipt for the dragged oven" in imap_subjects(env, "bob@acme.example", '"Dragged receipts"')
    assert "Receipt for the dragged oven" not in imap_subjects(env, "bob@acme.example", "INBOX")
