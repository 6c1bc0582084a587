"""Mail rules at delivery: a user's active Sieve script (stored with
``appliance sieve put --activate``) decides where mail arriving over SMTP
lands (read back over IMAP), what is redirected and what is answered with
a vacation reply (observed at the loopback receiver standing for the rest
of the Internet), and a script that fails never loses a message."""

from __future__ import annotations

import email
import imaplib
import json
import smtplib
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, scrape, signed_by, stored_messages, tls_client_context

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sieve"


def put_script(mta, address: str, script: str) -> None:
    """Store ``script`` as the active script of ``address`` through the CLI."""
    mta.cli("sieve", "put", address, "rules", "-", "--activate", input=script)


def deliver(mta, fixture: str, *, tag: str, sender: str = "joe@remote.test", rcpts=("alice@acme.test",)) -> bytes:
    """Send the fixture, made unique by ``tag`` in its Message-ID, to the MX."""
    raw = (FIXTURES / fixture).read_bytes().replace(b"Message-ID: <", f"Message-ID: <{tag}.".encode(), 1)
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("client.test")
        client.sendmail(sender, list(rcpts), raw)
    return raw


def imap_folder(mta, address: str, folder: str, tag: str) -> list[tuple[bytes, bytes]]:
    """(flags, message) of the messages carrying ``tag`` in ``folder``, read over IMAPS."""
    with imaplib.IMAP4_SSL("127.0.0.1", mta.port("imaps"), ssl_context=tls_client_context(), timeout=10) as imap:
        imap.login(address, PASSWORD)
        typ, _ = imap.select(f'"{folder}"', readonly=True)
        if typ != "OK":
            return []
        _typ, data = imap.uid("SEARCH", None, "HEADER", "Message-ID", tag)
        out = []
        for uid in data[0].split():
            _typ, parts = imap.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            out.append((parts[0][0], parts[0][1]))
        return out


def replies_to(mta, address: str, tag: str) -> list:
    """Messages that reached the outside receiver for ``address`` and refer to ``tag``."""
    return [m for m in mta.remote.messages if address in m.rcpt_tos and tag.encode() in m.data]


@pytest.fixture(autouse=True)
def no_rules(mta):
    """Each test starts with no active script for alice."""
    yield
    mta.cli("sieve", "activate", "alice@acme.test", "")


def test_fileinto_create_with_flags_lands_in_the_new_folder(mta):
    """A list message is filed into a folder the script creates, with the flags it sets; IMAP shows it there."""
    put_script(mta, "alice@acme.test", 'require ["fileinto", "mailbox", "imap4flags"];\r\n'
               'if exists "List-Id" { fileinto :create :flags ["\\\\Seen", "$List"] "Lists/Bakers"; }\r\n')
    tag = uuid.uuid4().hex
    deliver(mta, "list-newsletter.eml", tag=tag)
    found = imap_folder(mta, "alice@acme.test", "Lists/Bakers", tag)
    assert len(found) == 1
    assert b"\\Seen" in found[0][0] and b"$List" in found[0][0]
    assert imap_folder(mta, "alice@acme.test", "INBOX", tag) == []


def test_fileinto_a_missing_folder_without_create_falls_back_to_inbox(mta):
    """fileinto a folder that does not exist (no :create) keeps the message in INBOX."""
    put_script(mta, "alice@acme.test", 'require "fileinto"; fileinto "Nowhere";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1


def test_fileinto_a_missing_folder_with_keep_makes_one_inbox_copy(mta):
    """keep plus fileinto a folder that does not exist leaves exactly one copy in INBOX, not two."""
    put_script(mta, "alice@acme.test", 'require "fileinto"; keep; fileinto "Nowhere";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1


def test_discard_stores_nothing(mta):
    """discard drops the message: the 250 came, and no folder of alice holds it."""
    put_script(mta, "alice@acme.test", 'if header :contains "subject" "Invoice" { discard; }')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    conn = mta.tenant_db("acme")
    try:
        assert [m for box in ("INBOX", "Archive") for m in stored_messages(conn, "alice@acme.test", box)
                if tag.encode() in m] == []
    finally:
        conn.close()


def test_redirect_goes_out_through_the_queue_with_delivered_to(mta):
    """redirect queues the message to the outside address with Delivered-To: the user (under our DKIM
    signature), the envelope sender in its SRS form (tests/protocols/smtp/test_srs.py)."""
    put_script(mta, "alice@acme.test", 'redirect "assistant@remote.test";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    got = wait_for(lambda: replies_to(mta, "assistant@remote.test", tag))[0]
    assert got.mail_from.startswith("SRS0=") and got.mail_from.endswith("=remote.test=joe@acme.test")
    assert got.data.startswith(b"DKIM-Signature:")
    assert b"\r\nDelivered-To: alice@acme.test\r\n" in got.data
    assert imap_folder(mta, "alice@acme.test", "INBOX", tag) == []


def test_redirect_of_a_message_already_delivered_to_the_user_is_kept(mta):
    """A message that already carries Delivered-To: alice is not redirected again (a loop); it stays in INBOX."""
    put_script(mta, "alice@acme.test", 'redirect "loop-target@remote.test";')
    tag = uuid.uuid4().hex
    deliver(mta, "already-delivered-to-alice.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1
    assert replies_to(mta, "loop-target@remote.test", tag) == []


def test_redirect_to_the_users_own_address_is_kept_once(mta):
    """A script redirecting alice's mail to alice herself: the message is in her INBOX once, nothing is queued,
    and the log says a loop was stopped."""
    put_script(mta, "alice@acme.test", 'redirect "Alice@acme.test";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1
    wait_for(lambda: not queue_rows(mta))
    assert [m for m in mta.remote.messages if tag.encode() in m.data] == []
    assert "redirect to <Alice@acme.test> skipped (mail loop)" in mta.daemon.log()


def test_a_vacation_reply_to_alices_vacation_reply_gets_none(mta):
    """Two responders cannot ping-pong: the far end's auto-reply to alice's vacation reply (Auto-Submitted,
    even with a real envelope sender) is stored and gets no reply of hers."""
    put_script(mta, "alice@acme.test", VACATION)
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag, sender="away@remote.test")
    ours = email.message_from_bytes(wait_for(lambda: replies_to(mta, "away@remote.test", tag))[0].data)
    theirs = (
        f"From: away@remote.test\r\nTo: alice@acme.test\r\nSubject: Auto: {ours['Subject']}\r\n"
        f"Message-ID: <back.{tag}@remote.test>\r\nIn-Reply-To: {ours['Message-ID']}\r\n"
        "Auto-Submitted: auto-replied (vacation)\r\n\r\nI am away too.\r\n"
    ).encode()
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("mx.remote.test")
        client.sendmail("away@remote.test", ["alice@acme.test"], theirs)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", f"back.{tag}")) == 1
    wait_for(lambda: not queue_rows(mta))
    assert len([m for m in mta.remote.messages if "away@remote.test" in m.rcpt_tos]) == 1
    assert "no vacation reply to <away@remote.test>: Auto-Submitted" in mta.daemon.log()


VACATION = 'require "vacation";\r\nvacation :days 3 text:\r\nI am away until Monday.\r\n.\r\n;\r\n'


def test_vacation_reply_arrives_with_null_sender_and_references(mta):
    """The sender gets one reply from alice: null envelope sender, Auto-Submitted, In-Reply-To, "Auto: <subject>"."""
    put_script(mta, "alice@acme.test", VACATION)
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag, sender="first@remote.test")
    got = wait_for(lambda: replies_to(mta, "first@remote.test", tag))[0]
    reply = email.message_from_bytes(got.data)
    assert got.mail_from == "<>"  # the receiver spells the null reverse-path so
    assert (reply["From"], reply["To"], reply["Subject"]) == ("alice@acme.test", "first@remote.test", "Auto: Invoice 2041 for March")
    assert reply["Auto-Submitted"] == "auto-replied (vacation)"
    assert reply["In-Reply-To"] == f"<{tag}.invoice-2041@remote.test>"
    assert "I am away until Monday." in reply.get_payload(decode=True).decode()
    assert signed_by(got.data, "acme.test", mta)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1


def test_vacation_from_another_persons_address_is_sent_from_the_users_own(mta):
    """:from naming an address that is not the user's is ignored: the reply comes from alice, never from someone else."""
    put_script(mta, "alice@acme.test", 'require "vacation"; vacation :from "bob@acme.test" :subject "Away" "Back soon.";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag, sender="spoofcheck@remote.test")
    got = wait_for(lambda: replies_to(mta, "spoofcheck@remote.test", tag))[0]
    assert (email.message_from_bytes(got.data)["From"], email.message_from_bytes(got.data)["Subject"]) == ("alice@acme.test", "Away")


def test_vacation_is_sent_once_per_sender_within_days(mta):
    """A second message from the same sender within :days gets no second reply."""
    put_script(mta, "alice@acme.test", VACATION)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=first, sender="twice@remote.test")
    wait_for(lambda: replies_to(mta, "twice@remote.test", first))
    deliver(mta, "invoice-from-customer.eml", tag=second, sender="twice@remote.test")
    # The second message is stored (so its delivery ran), and the queue is empty again.
    wait_for(lambda: imap_folder(mta, "alice@acme.test", "INBOX", second))
    wait_for(lambda: not queue_rows(mta))
    assert replies_to(mta, "twice@remote.test", second) == []


def queue_rows(mta) -> list:
    conn = mta.tenant_db("acme")
    try:
        return conn.execute("SELECT id FROM outbound").fetchall()
    finally:
        conn.close()


@pytest.mark.parametrize("fixture, sender", [
    ("invoice-from-customer.eml", ""),
    ("list-newsletter.eml", "news@lists.remote.test"),
    ("auto-submitted-notification.eml", "tickets@remote.test"),
    ("not-addressed-to-alice.eml", "joe@remote.test"),
])
def test_vacation_is_not_sent_to_automated_mail(mta, fixture, sender):
    """No reply to the null sender, a list message, an Auto-Submitted one, or mail not addressed to the user (RFC 3834 section 2)."""
    put_script(mta, "alice@acme.test", VACATION)
    tag = uuid.uuid4().hex
    deliver(mta, fixture, tag=tag, sender=sender)
    wait_for(lambda: imap_folder(mta, "alice@acme.test", "INBOX", tag))
    wait_for(lambda: not queue_rows(mta))
    assert [m for m in mta.remote.messages if tag.encode() in m.data] == []
    assert f"no vacation reply to <{sender}>" in mta.daemon.log()


def test_reject_of_a_single_recipient_message_is_refused_in_the_smtp_dialogue(mta):
    """reject answers 550 5.7.1 with the script's reason when the message has one recipient; nothing is stored."""
    put_script(mta, "alice@acme.test", 'require "reject"; if address :is "from" "joe@remote.test" { reject "Joe, use the shop form."; }')
    tag = uuid.uuid4().hex
    with pytest.raises(smtplib.SMTPDataError) as info:
        deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert (info.value.smtp_code, info.value.smtp_error) == (550, b"5.7.1 Joe, use the shop form.")
    assert imap_folder(mta, "alice@acme.test", "INBOX", tag) == []


def test_reject_with_several_recipients_sends_a_refusal_and_delivers_the_others(mta):
    """With two recipients, alice's reject cannot be an SMTP reply: bob gets the message, alice does not, and the sender gets a refusal from the null sender."""
    put_script(mta, "alice@acme.test", 'require "reject"; reject "Not accepted here.";')
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag, sender="both@remote.test", rcpts=("alice@acme.test", "bob@acme.test"))
    refusal = wait_for(lambda: replies_to(mta, "both@remote.test", tag))[0]
    assert refusal.mail_from == "<>" and b"Not accepted here." in refusal.data
    # From the recipient's domain and signed by it, so it passes DMARC at the sender's server.
    assert email.message_from_bytes(refusal.data)["From"] == "Mail Delivery System <MAILER-DAEMON@acme.test>"
    assert signed_by(refusal.data, "acme.test", mta)
    assert imap_folder(mta, "alice@acme.test", "INBOX", tag) == []
    assert len(imap_folder(mta, "bob@acme.test", "INBOX", tag)) == 1


def test_redirects_past_the_daily_limit_stay_in_inbox(mta):
    """A user whose redirects reached [sieve] redirects_per_day today keeps the next message in INBOX; nothing leaves."""
    conn = sqlite3.connect(mta.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        with conn:
            conn.execute(
                "INSERT OR REPLACE INTO sieve_redirects (user_id, day, count)"
                " SELECT id, strftime('%Y-%m-%d', 'now'), 200 FROM users WHERE address = 'bob@acme.test'"
            )
        put_script(mta, "bob@acme.test", 'redirect "cannon@remote.test";')
        tag = uuid.uuid4().hex
        deliver(mta, "invoice-from-customer.eml", tag=tag, rcpts=("bob@acme.test",))
        assert len(imap_folder(mta, "bob@acme.test", "INBOX", tag)) == 1
        wait_for(lambda: not queue_rows(mta))
        assert replies_to(mta, "cannon@remote.test", tag) == []
        assert "daily redirect limit reached; kept in INBOX" in mta.daemon.log()
    finally:
        with conn:
            conn.execute("DELETE FROM sieve_redirects")
            conn.execute("DELETE FROM sieve_scripts WHERE user_id = (SELECT id FROM users WHERE address = 'bob@acme.test')")
        conn.close()


def test_sieve_actions_are_counted_in_the_metrics(mta):
    """One message filed into a folder and redirected, one to a script that fails: the metrics endpoint counts
    one fileinto, one redirect and one error."""
    def actions() -> dict:
        return {a: scrape(mta, "appliance_sieve_actions_total", action=a) for a in ("fileinto", "redirect", "error", "keep")}

    before = actions()
    put_script(mta, "alice@acme.test", 'require ["fileinto", "mailbox"]; fileinto :create "Counted"; redirect "counted@remote.test";')
    deliver(mta, "invoice-from-customer.eml", tag=uuid.uuid4().hex)
    put_script(mta, "alice@acme.test", "".join(f'redirect "r{i}@remote.test";' for i in range(6)))
    deliver(mta, "invoice-from-customer.eml", tag=uuid.uuid4().hex)
    after = actions()
    assert {a: after[a] - before[a] for a in before} == {"fileinto": 1, "redirect": 1, "error": 1, "keep": 0}


def test_a_failing_script_never_loses_the_message(mta):
    """A script that fails at run time (too many redirects) leaves the message in INBOX and logs why."""
    put_script(mta, "alice@acme.test", "".join(f'redirect "r{i}@remote.test";' for i in range(6)))
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1
    assert "sieve script 'rules' failed, message kept in INBOX: more than 4 redirects" in mta.daemon.log()


def test_a_stored_script_that_does_not_parse_never_loses_mail(mta):
    """A script in the business file that no longer parses (written there by an older version) leaves mail in INBOX, logged once per message."""
    mta.cli("sieve", "activate", "alice@acme.test", "")
    conn = sqlite3.connect(mta.state / "tenants" / "acme.sqlite3", timeout=10)
    try:
        with conn:
            conn.execute(
                "INSERT INTO sieve_scripts (user_id, name, content, active, updated)"
                " SELECT id, 'legacy', 'fileinto \"Old\";', 1, '2020-01-01' FROM users WHERE address = 'alice@acme.test'"
            )
    finally:
        conn.close()
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "INBOX", tag)) == 1
    assert mta.daemon.log().count("sieve script 'legacy' failed, message kept in INBOX: line 1: fileinto needs require") == 1


def test_a_script_that_does_not_parse_is_refused_and_the_old_one_stays(mta):
    """appliance sieve put of a broken script fails with line and reason; the active script still runs."""
    put_script(mta, "alice@acme.test", 'require ["fileinto", "mailbox"]; fileinto :create "Kept";')
    proc = mta.cli("sieve", "put", "alice@acme.test", "rules", "-", input='require "fileinto";\r\nfileinto "x"\r\n',
                   check=False)
    assert proc.returncode != 0 and "line 2: expected ';' or a block after fileinto, found the end of the script" in proc.stderr
    tag = uuid.uuid4().hex
    deliver(mta, "invoice-from-customer.eml", tag=tag)
    assert len(imap_folder(mta, "alice@acme.test", "Kept", tag)) == 1


def test_mail_from_a_colleague_runs_the_recipients_rules(mta):
    """bob submits a message to alice; her script files it."""
    put_script(mta, "alice@acme.test", 'require ["fileinto", "mailbox"]; if address :is "from" "bob@acme.test" { fileinto :create "From Bob"; }')
    tag = uuid.uuid4().hex
    message = f"From: bob@acme.test\r\nTo: alice@acme.test\r\nSubject: lunch\r\nMessage-ID: <{tag}@acme.test>\r\n\r\nat noon\r\n"
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("bob@acme.test", PASSWORD)
        client.sendmail("bob@acme.test", ["alice@acme.test"], message.encode())
    assert len(imap_folder(mta, "alice@acme.test", "From Bob", tag)) == 1


def test_cli_lists_and_shows_a_users_scripts(mta):
    """appliance sieve list --json shows bob's scripts with the active one marked; sieve show prints one back."""
    script = 'require "fileinto";\nfileinto "Archive";\n'
    mta.cli("sieve", "put", "bob@acme.test", "archive-all", "-", input=script)
    mta.cli("sieve", "put", "bob@acme.test", "plain", "-", "--activate", input="keep;\n")
    listing = json.loads(mta.cli("sieve", "list", "bob@acme.test", "--json").stdout)
    assert [(s["name"], s["active"], s["size"]) for s in listing] == [("archive-all", False, len(script)), ("plain", True, len("keep;\n"))]
    assert mta.cli("sieve", "show", "bob@acme.test", "archive-all").stdout == script
    mta.cli("sieve", "activate", "bob@acme.test", "")
