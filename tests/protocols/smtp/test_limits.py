"""Limits of the MX, each on its own: message size (declared and actual),
line length, header size, recipients per message, commands and errors per
session, and the session timeout. The test daemon's limits are set in
``conftest.mta_config``."""

from __future__ import annotations

import socket
import smtplib
import time

MAX_MESSAGE = 3 * 1024 * 1024


def mx(mta) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10)
    client.ehlo("client.test")
    return client


def test_ehlo_lists_the_extensions(mta):
    """EHLO advertises SIZE with the limit, 8BITMIME, PIPELINING, ENHANCEDSTATUSCODES, STARTTLS, SMTPUTF8."""
    with mx(mta) as client:
        for ext in ("size", "8bitmime", "pipelining", "enhancedstatuscodes", "starttls", "smtputf8"):
            assert client.has_extn(ext), ext
        assert client.esmtp_features["size"] == str(MAX_MESSAGE)


def test_declared_size_over_the_limit_is_refused_at_mail_from(mta):
    """MAIL FROM with SIZE above the limit is refused with 552 before any data is sent."""
    with mx(mta) as client:
        code, _ = client.docmd("MAIL", f"FROM:<a@example.org> SIZE={MAX_MESSAGE + 1}")
        assert code == 552


def test_actual_size_over_the_limit_is_refused_after_data(mta):
    """A message larger than the limit (without SIZE) is answered 552 5.3.4 after the end of data."""
    with mx(mta) as client:
        client.mail("a@example.org")
        client.rcpt("alice@acme.test")
        line = b"x" * 900 + b"\r\n"
        body = b"Subject: big\r\n\r\n" + line * (MAX_MESSAGE // len(line) + 10)
        code, text = client.data(body)
        assert (code, text[:5]) == (552, b"5.3.4")
        # The session stays usable.
        assert client.noop()[0] == 250


def test_over_long_line_in_data_is_refused(mta):
    """A 5,000-byte line in DATA (limit 1,000) is answered 500 after the end of data."""
    with mx(mta) as client:
        client.mail("a@example.org")
        client.rcpt("alice@acme.test")
        code, _ = client.data(b"Subject: long\r\n\r\n" + b"y" * 5000 + b"\r\n")
        assert code == 500
        assert client.noop()[0] == 250


def test_over_long_line_ending_in_a_dot_does_not_end_data(mta):
    """The tail of an over-long line that looks like "." never ends DATA early."""
    sock = socket.create_connection(("127.0.0.1", mta.port("smtp")), timeout=10)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"EHLO c\r\n")
    while f.readline()[3:4] == b"-":
        pass
    sock.sendall(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@acme.test>\r\nDATA\r\n")
    assert [f.readline()[:3] for _ in range(3)] == [b"250", b"250", b"354"]
    # 999 bytes of x and then ".\r\n": whatever the reader's buffer does,
    # this is one line, not an end of data.
    sock.sendall(b"Subject: t\r\n\r\n" + b"x" * 999 + b".\r\n" + b"NOOP\r\n.\r\n")
    reply = f.readline()
    assert reply[:3] == b"500", reply
    sock.close()


def test_header_over_the_limit_is_refused(mta):
    """A header section of 20 KB (limit 8 KB) is answered 552 5.3.4."""
    with mx(mta) as client:
        client.mail("a@example.org")
        client.rcpt("alice@acme.test")
        headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"h" * 80) for i in range(250))
        code, text = client.data(b"Subject: hdr\r\n" + headers + b"\r\nbody\r\n")
        assert (code, text[:5]) == (552, b"5.3.4")


def test_too_many_recipients(mta):
    """The 6th recipient of a message (limit 5) gets 452 4.5.3; the first five 250."""
    with mx(mta) as client:
        client.mail("a@example.org")
        codes = [client.rcpt("alice@acme.test")[0] for _ in range(5)]
        code, text = client.rcpt("alice@acme.test")
        assert codes == [250] * 5
        assert (code, text[:5]) == (452, b"4.5.3")


def test_too_many_errors_close_the_session(mta):
    """After 10 error replies the server says 421 and closes the connection."""
    with mx(mta) as client:
        client.mail("a@example.org")
        codes = [client.rcpt(f"nobody{i}@acme.test")[0] for i in range(9)]
        assert codes == [550] * 9
        code, text = client.rcpt("nobody10@acme.test")
        assert code == 550
        assert client.getreply()[0] == 421
        try:
            client.noop()
            closed = False
        except smtplib.SMTPServerDisconnected:
            closed = True
        assert closed


def test_too_many_commands_close_the_session(mta):
    """Past 200 commands in one session the server answers 421 and closes."""
    with mx(mta) as client:
        codes = [client.noop()[0] for _ in range(199)]
        assert set(codes) == {250}
        code, _ = client.noop()
        assert code == 421


def test_idle_session_times_out(mta):
    """A client silent for longer than the 3 s timeout is disconnected."""
    sock = socket.create_connection(("127.0.0.1", mta.port("smtp")), timeout=10)
    sock.recv(1024)
    started = time.monotonic()
    data = sock.recv(1024)
    while data:
        data = sock.recv(1024)
    elapsed = time.monotonic() - started
    sock.close()
    assert 2.5 < elapsed < 8


def test_every_reply_carries_an_enhanced_status_code(mta):
    """After EHLO, replies from the protocol engine too (NOOP, bad sequence, QUIT) carry RFC 3463 codes."""
    with mx(mta) as client:
        assert client.noop() == (250, b"2.0.0 OK")
        code, text = client.docmd("DATA")
        assert code == 503 and text[:2] == b"5."
        code, text = client.docmd("RCPT", "TO:<alice@acme.test>")
        assert code == 503 and text[:2] == b"5."
        code, text = client.docmd("QUIT")
        assert (code, text[:5]) == (221, b"2.0.0")
