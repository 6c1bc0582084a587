"""Content scoring by a real rspamd (the Debian package, started by the
test on loopback ports from a temporary configuration): GTUBE refused at
DATA, a borderline message filed in Junk (read back over IMAP), a clean
one in INBOX, moves into and out of Junk over IMAP teaching rspamd's
controller, and mail still delivered when rspamd is down."""

from __future__ import annotations

import imaplib
import json
import smtplib
import uuid

import pytest

from tests.appliance.panel.conftest import PanelClient
from tests.appliance.panel.webmail_client import folder, inbox
from tests.appliance.panel.webmail_client import message as webmail_message
from tests.conftest import wait_for
from appliance.testrspamd import MISSING, PASSWORD, Rspamd

from .conftest import PASSWORD as USER_PASSWORD
from .conftest import Mta, provision, scrape, tls_client_context

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

#: rspamd's test pattern that it scores at its reject threshold (15).
GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#: The pattern it scores at its "add header" threshold (6): between our
#: junk (5) and reject (15) scores.
BORDERLINE = "YJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SPAM_REJECT = (554, b"5.7.1 Message refused as spam")


@pytest.fixture(scope="module")
def rspamd(stub_dns):
    server = Rspamd(stub_dns.port).start()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def mx(tmp_path_factory, stub_dns, rspamd):
    extra = (
        f'[rspamd]\nurl = "{rspamd.url}"\ncontroller_url = "{rspamd.controller_url}"\n'
        f'password = "{PASSWORD}"\njunk_score = 5\nreject_score = 15\ntimeout = 5\n'
    )
    m = Mta(tmp_path_factory.mktemp("spam"), stub_dns, extra)
    provision(m)
    m.daemon.start()
    yield m
    if m.daemon.proc is not None and m.daemon.proc.poll() is None:
        m.daemon.stop()


def message(tag: str, body: str = "") -> bytes:
    text = body or (
        "Hello Alice, here are the minutes of Tuesday's meeting about the spring catalogue, the new supplier "
        "prices for flour and butter, and the dates of the two tastings we planned for the shop in April."
    )
    return (
        f"From: Joe <joe@remote.test>\r\nTo: alice@acme.test\r\nSubject: note {tag}\r\n"
        f"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <{tag}@remote.test>\r\n"
        f"X-Spam: No\r\nX-Spam-Score: -100\r\n\r\n{text}\r\n"
    ).encode()


def send(mx, data: bytes) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", mx.port("smtp"), timeout=30) as client:
        client.ehlo("mx.remote.test")
        client.mail("joe@remote.test")
        assert client.rcpt("alice@acme.test")[0] == 250
        return client.data(data)


def imap(mx) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", mx.port("imaps"), ssl_context=tls_client_context(), timeout=20)
    client.login("alice@acme.test", USER_PASSWORD)
    return client


def find(mx, folder: str, tag: str) -> list[bytes]:
    """The messages of ``folder`` whose Message-ID carries ``tag``, read over IMAP."""
    with imap(mx) as client:
        client.select(folder, readonly=True)
        _typ, data = client.uid("SEARCH", None, "HEADER", "Message-ID", tag)
        out = []
        for uid in data[0].split():
            _typ, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            out.append(parts[0][1])
        return out


def head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_gtube_is_refused_at_data_and_not_stored(mx):
    """GTUBE scores rspamd's reject threshold: 554 5.7.1 after DATA, and nothing in INBOX or Junk."""
    tag = uuid.uuid4().hex
    assert send(mx, message(tag, f"Test message\r\n{GTUBE}")) == SPAM_REJECT
    assert find(mx, "INBOX", tag) == [] and find(mx, "Junk", tag) == []


def test_a_borderline_message_lands_in_junk_marked(mx):
    """A message scoring between junk_score and reject_score is filed in Junk with X-Spam: Yes and its score."""
    tag = uuid.uuid4().hex
    assert send(mx, message(tag, f"Test message\r\n{BORDERLINE}"))[0] == 250
    (stored,) = find(mx, "Junk", tag)
    fields = head(stored)
    assert b"\r\nX-Spam: Yes\r\n" in fields and b"\r\nX-Spam-Score: 6.00 / 5.00\r\n" in fields
    assert b"x-rspamd=fail (score 6.00)" in fields
    assert find(mx, "INBOX", tag) == []


def test_a_clean_message_lands_in_inbox_with_our_headers_only(mx):
    """A clean message goes to INBOX with X-Spam: No and x-rspamd=pass; the sender's own X-Spam fields are gone."""
    tag = uuid.uuid4().hex
    assert send(mx, message(tag))[0] == 250
    (stored,) = find(mx, "INBOX", tag)
    fields = head(stored)
    assert fields.count(b"X-Spam:") == 1 and b"\r\nX-Spam: No\r\n" in fields
    assert b"X-Spam-Score: -100" not in fields
    assert b"x-rspamd=pass (score " in fields and b"Authentication-Results: box.appliance.test;" in fields


def test_moving_into_junk_over_imap_teaches_rspamd_spam_and_out_ham(mx, rspamd):
    """IMAP MOVE into Junk sends the message to the controller's learnspam, which accepts it; moving it back learns ham."""
    tag = uuid.uuid4().hex
    assert send(mx, message(tag))[0] == 250
    learned = rspamd.stat()["learned"]
    with imap(mx) as client:
        client.select("INBOX")
        _typ, data = client.uid("SEARCH", None, "HEADER", "Message-ID", tag)
        assert client.uid("MOVE", data[0].decode(), "Junk")[0] == "OK"
    wait_for(lambda: rspamd.stat()["learned"] == learned + 1, timeout=30)
    assert wait_for(lambda: 'rspamd learnspam: {"success":true}' in mx.daemon.log())
    with imap(mx) as client:
        client.select("Junk")
        _typ, data = client.uid("SEARCH", None, "HEADER", "Message-ID", tag)
        assert client.uid("MOVE", data[0].decode(), "INBOX")[0] == "OK"
    wait_for(lambda: rspamd.stat()["learned"] == learned + 2, timeout=30)
    assert wait_for(lambda: 'rspamd learnham: {"success":true}' in mx.daemon.log())


def test_moving_into_junk_in_webmail_teaches_rspamd_spam(mx, rspamd):
    """Alice moves a message to Junk in webmail: the controller learns it as spam."""
    tag = uuid.uuid4().hex
    assert send(mx, message(tag))[0] == 250
    learned = rspamd.stat()["learned"]
    alice = PanelClient(f"https://127.0.0.1:{mx.port('https')}")
    assert alice.sign_in("alice@acme.test", USER_PASSWORD).status_code == 303
    box, junk = inbox(alice), folder(alice, "Junk")
    uid = webmail_message(alice, box, f"note {tag}")
    assert alice.post(f"/mail/{box}/act", {"action": "move", "target": str(junk), "m": str(uid)}).status_code == 303
    assert len(find(mx, "Junk", tag)) == 1
    wait_for(lambda: rspamd.stat()["learned"] == learned + 1, timeout=30)


def spam_check(mx) -> dict:
    rows = json.loads(mx.cli("check", "--local", "--json", check=False).stdout)
    return next(r for r in rows if r["check"] == "spam")


def test_check_says_content_scoring_is_on_and_answers(mx, rspamd):
    """``appliance check`` reports content scoring on, with rspamd answering for scanning."""
    row = spam_check(mx)
    assert row["status"] == "ok" and f"rspamd scanning at {rspamd.url} answers 'pong'" in row["detail"]


def test_scans_and_lessons_are_counted_in_the_metrics(mx, rspamd):
    """After a clean, a borderline and a GTUBE message and a move into Junk, the metrics endpoint counts one
    ham, one junk and one reject scan, three scan durations and one spam lesson learnt."""
    def scans(result: str) -> float:
        return scrape(mx, "appliance_spam_scans_total", result=result)

    before = {r: scans(r) for r in ("ham", "junk", "reject", "unscanned", "tempfail")}
    timed = scrape(mx, "appliance_spam_scan_seconds_count")
    lessons = scrape(mx, "appliance_spam_learn_calls_total", kind="spam", result="learned")
    clean = uuid.uuid4().hex
    assert send(mx, message(clean))[0] == 250
    assert send(mx, message(uuid.uuid4().hex, BORDERLINE))[0] == 250
    assert send(mx, message(uuid.uuid4().hex, GTUBE)) == SPAM_REJECT
    after = {r: scans(r) for r in before}
    assert {r: after[r] - before[r] for r in before} == {"ham": 1, "junk": 1, "reject": 1, "unscanned": 0, "tempfail": 0}
    assert scrape(mx, "appliance_spam_scan_seconds_count") == timed + 3
    with imap(mx) as client:
        client.select("INBOX")
        _typ, data = client.uid("SEARCH", None, "HEADER", "Message-ID", clean)
        assert client.uid("MOVE", data[0].decode(), "Junk")[0] == "OK"
    assert wait_for(lambda: scrape(mx, "appliance_spam_learn_calls_total", kind="spam", result="learned") == lessons + 1,
                    timeout=30)


def test_with_rspamd_stopped_mail_is_still_delivered_unscanned(mx, rspamd):
    """rspamd down: two messages still reach INBOX, untagged but for x-rspamd=temperror, one log line; check warns."""
    rspamd.stop()
    unscanned = scrape(mx, "appliance_spam_scans_total", result="unscanned")
    tags = [uuid.uuid4().hex for _ in range(2)]
    for tag in tags:
        assert send(mx, message(tag))[0] == 250
    assert scrape(mx, "appliance_spam_scans_total", result="unscanned") == unscanned + 2
    for tag in tags:
        (stored,) = find(mx, "INBOX", tag)
        fields = head(stored)
        assert b"X-Spam:" not in fields and b"x-rspamd=temperror" in fields
    assert mx.daemon.log().count("cannot scan") == 1
    row = spam_check(mx)
    assert row["status"] == "warn" and "does not answer" in row["detail"]
