"""Mail arriving at the MX: delivery to users, aliases, catch-alls and plus
addresses, into several businesses at once, the trace headers, quota, and
the SMTP smuggling battery."""

from __future__ import annotations

import socket
import smtplib
import subprocess
import uuid

import pytest

from .conftest import tls_client_context

FIXTURES = __import__("pathlib").Path(__file__).resolve().parents[2] / "fixtures" / "smtp"


def mx(mta) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10)
    client.ehlo("client.test")
    return client


def tagged(tag: str, sender: str = "sender@example.org") -> bytes:
    return f"From: {sender}\r\nTo: you\r\nSubject: {tag}\r\nMessage-ID: <{tag}@example.org>\r\n\r\nbody of {tag}\r\n".encode()


def count(mta, address: str, tag: str) -> int:
    return sum(1 for m in mta.inbox(address) if tag.encode() in m)


def test_delivery_to_a_user(mta):
    """A message to alice@acme.test is in her INBOX when 250 is answered."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("sender@example.org", ["alice@acme.test"], tagged(tag))
    assert count(mta, "alice@acme.test", tag) == 1


def test_delivery_to_an_alias_with_several_targets(mta):
    """sales@acme.test reaches alice and bob, one copy each."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("sender@example.org", ["sales@acme.test"], tagged(tag))
    assert (count(mta, "alice@acme.test", tag), count(mta, "bob@acme.test", tag)) == (1, 1)


def test_delivery_to_the_catch_all(mta):
    """Any local part of globex.test lands with carol (the catch-all)."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("sender@example.org", ["whoever@globex.test"], tagged(tag))
    assert count(mta, "carol@globex.test", tag) == 1


def test_delivery_to_a_plus_address(mta):
    """bob+lists@acme.test lands in bob's INBOX."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("sender@example.org", ["bob+lists@acme.test"], tagged(tag))
    assert count(mta, "bob@acme.test", tag) == 1


def test_one_copy_per_user_when_reached_twice(mta):
    """alice directly and through sales@ in one message gets one copy."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("sender@example.org", ["alice@acme.test", "sales@acme.test"], tagged(tag))
    assert count(mta, "alice@acme.test", tag) == 1


def test_one_message_for_several_businesses(mta):
    """One transaction to acme and globex users is committed into both files before 250."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.mail("sender@example.org")
        client.rcpt("alice@acme.test")
        client.rcpt("carol@globex.test")
        code, text = client.data(tagged(tag))
    assert (code, text[:5]) == (250, b"2.0.0")
    assert (count(mta, "alice@acme.test", tag), count(mta, "carol@globex.test", tag)) == (1, 1)


def test_trace_headers_are_added(mta):
    """Return-Path, Received and Authentication-Results head the stored message."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("bounce@example.org", ["alice@acme.test"], tagged(tag))
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    head = stored.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"Return-Path: <bounce@example.org>\r\nReceived: from client.test ([127.0.0.1])")
    assert b"\r\nAuthentication-Results: box.appliance.test;" in head


def test_received_says_esmtps_after_starttls(mta):
    """After STARTTLS the Received header says "with ESMTPS"."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.starttls(context=tls_client_context())
        client.ehlo("client.test")
        client.sendmail("sender@example.org", ["alice@acme.test"], tagged(tag))
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert b"with ESMTPS" in stored


def test_utf8_message_with_smtputf8(mta):
    """A message with UTF-8 headers sent with SMTPUTF8 is stored byte for byte."""
    tag = uuid.uuid4().hex
    body = f"From: Jürgen <j@example.org>\r\nSubject: Grüße {tag}\r\n\r\nschön\r\n".encode()
    with mx(mta) as client:
        client.sendmail("j@example.org", ["alice@acme.test"], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert stored.endswith(body)


def test_fixture_message_via_swaks(mta):
    """swaks delivers a real message file (tests/fixtures/smtp) unchanged after the trace headers."""
    eml = FIXTURES / "plain_text.eml"
    proc = subprocess.run(
        ["swaks", "--server", "127.0.0.1", "--port", str(mta.port("smtp")), "--from", "news@example.org",
         "--to", "alice@acme.test", "--data", str(eml)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    original = eml.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    # swaks adds one empty line at the end of the data.
    assert any(original in m for m in mta.inbox("alice@acme.test"))


def test_quota_declared_size_is_refused_at_rcpt(mta):
    """A SIZE larger than tim's 1 MiB quota gets 452 4.2.2 at RCPT."""
    with mx(mta) as client:
        client.docmd("MAIL", "FROM:<a@example.org> SIZE=1500000")
        code, text = client.rcpt("tim@tiny.test")
        assert (code, text[:5]) == (452, b"4.2.2")


def test_quota_full_mailbox_is_refused(mta):
    """Once tim's mailbox is nearly full, a message that would overfill it gets 452 4.2.2, and is not stored."""
    filler = b"Subject: filler\r\n\r\n" + (b"z" * 998 + b"\r\n") * 700
    with mx(mta) as client:
        client.sendmail("a@example.org", ["tim@tiny.test"], filler)
        client.mail("a@example.org")
        client.rcpt("tim@tiny.test")
        code, text = client.data(filler)
    assert (code, text[:5]) == (452, b"4.2.2")
    assert len(mta.inbox("tim@tiny.test")) == 1


# -- SMTP smuggling -------------------------------------------------------------

SMUGGLING = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\n",
    b"\r\n.\n",
    b"\n.\r",
    b"\r\n.\r",
    b"\r.\r\n",
    b"\r\n\x00.\r\n",
]


def raw_session(mta, payload: bytes) -> list[bytes]:
    """Send a pipelined session byte for byte; return the replies until close."""
    sock = socket.create_connection(("127.0.0.1", mta.port("smtp")), timeout=10)
    f = sock.makefile("rb")
    replies = [f.readline()]
    sock.sendall(b"EHLO attacker.test\r\n")
    while True:
        line = f.readline()
        if line[3:4] != b"-":
            break
    sock.sendall(payload)
    # No half-close: aiosmtpd drops pipelined commands on EOF. Read up to
    # the reply to QUIT (or until the server closes).
    for line in f:
        replies.append(line)
        if line.startswith(b"221"):
            break
    sock.close()
    return replies


@pytest.mark.parametrize("ending", SMUGGLING, ids=[repr(e) for e in SMUGGLING])
def test_smuggled_end_of_data_never_splits_a_message(mta, ending):
    """A fake end-of-data followed by a second transaction is one message, and no second 250 after DATA."""
    tag = uuid.uuid4().hex
    smuggled = f"smuggled-{tag}".encode()
    payload = (
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<bob@acme.test>\r\nDATA\r\n"
        + b"From: a@example.org\r\nSubject: " + tag.encode() + b"\r\n\r\nfirst part"
        + ending
        + b"MAIL FROM:<admin@acme.test>\r\nRCPT TO:<bob@acme.test>\r\nDATA\r\n"
        + b"From: admin@acme.test\r\nSubject: " + smuggled + b"\r\n\r\nforged\r\n.\r\nQUIT\r\n"
    )
    replies = raw_session(mta, payload)
    after_data = [r for r in replies if r.startswith(b"250 2.0.0")]
    assert len(after_data) == 1, replies
    copies = [m for m in mta.inbox("bob@acme.test") if tag.encode() in m]
    assert len(copies) == 1
    # The smuggled "transaction" is content of the one message, never its own.
    assert not any(m.split(b"\r\n\r\n", 1)[0].find(b"Subject: " + smuggled) >= 0 for m in mta.inbox("bob@acme.test"))


def test_bare_line_ends_are_normalised_to_crlf(mta):
    """Bare LF and bare CR inside DATA are stored as CRLF, so the stored message has no bare line ends."""
    tag = uuid.uuid4().hex
    payload = (
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@acme.test>\r\nDATA\r\n"
        b"Subject: " + tag.encode() + b"\r\n\r\nline one\nline two\rline three\r\n.\r\nQUIT\r\n"
    )
    raw_session(mta, payload)
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert stored.endswith(b"\r\n\r\nline one\r\nline two\r\nline three\r\n")
    assert stored.count(b"\n") == stored.count(b"\r\n") and stored.count(b"\r") == stored.count(b"\r\n")


def test_dot_stuffed_lines_are_unstuffed(mta):
    """A line "..x" arrives as ".x" (RFC 5321 section 4.5.2)."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        client.sendmail("a@example.org", ["alice@acme.test"], f"Subject: {tag}\r\n\r\n.x\r\n.\r\n..\r\n".encode())
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert stored.endswith(b"\r\n\r\n.x\r\n.\r\n..\r\n")


def test_null_sender_is_accepted_on_the_mx(mta):
    """A bounce (MAIL FROM:<>) is delivered, with "Return-Path: <>"."""
    tag = uuid.uuid4().hex
    with mx(mta) as client:
        code, _ = client.docmd("MAIL", "FROM:<>")
        assert code == 250
        assert client.rcpt("alice@acme.test")[0] == 250
        assert client.data(tagged(tag, "MAILER-DAEMON@example.org"))[0] == 250
    stored = next(m for m in mta.inbox("alice@acme.test") if tag.encode() in m)
    assert stored.startswith(b"Return-Path: <>\r\n")
