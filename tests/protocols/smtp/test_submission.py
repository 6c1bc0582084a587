"""Submission on 587 (STARTTLS) and 465 (implicit TLS): AUTH rules, sender
checks, sending limits. Each listener is tested on its own."""

from __future__ import annotations

import smtplib
import subprocess

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, tls_client_context


def submission(mta, *, login: str | None = "alice@acme.test") -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=10)
    client.starttls(context=tls_client_context())
    if login:
        client.login(login, PASSWORD)
    return client


def submissions(mta, *, login: str | None = "alice@acme.test") -> smtplib.SMTP_SSL:
    client = smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context())
    if login:
        client.login(login, PASSWORD)
    return client


def message(sender: str, to: str, subject: str = "hello") -> bytes:
    return f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def test_587_offers_no_auth_before_starttls(mta):
    """On 587 EHLO lists STARTTLS but not AUTH until TLS is up."""
    with smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=10) as client:
        code, text = client.ehlo("client.test")
        assert code == 250
        assert b"STARTTLS" in text and b"AUTH" not in text
        client.starttls(context=tls_client_context())
        code, text = client.ehlo("client.test")
        assert b"AUTH LOGIN PLAIN" in text and b"STARTTLS" not in text


def test_587_refuses_auth_before_starttls(mta):
    """AUTH PLAIN sent in clear text on 587 is refused with 530 and no login happens."""
    with smtplib.SMTP("127.0.0.1", mta.port("submission"), timeout=10) as client:
        client.ehlo("client.test")
        code, text = client.docmd("AUTH", "PLAIN AGFsaWNlQGFjbWUudGVzdABjb3JyZWN0IGhvcnNlIGJhdHRlcnk=")
        assert code == 530
        code, _ = client.docmd("MAIL", "FROM:<alice@acme.test>")
        assert code == 530


def test_587_requires_auth_to_relay(mta):
    """After STARTTLS but without AUTH, MAIL FROM is answered 530 5.7.0."""
    with submission(mta, login=None) as client:
        client.ehlo("client.test")
        code, text = client.docmd("MAIL", "FROM:<alice@acme.test>")
        assert (code, text[:5]) == (530, b"5.7.0")


def test_465_accepts_auth_over_implicit_tls(mta):
    """On 465 AUTH is offered at once and PLAIN and LOGIN both log in."""
    with submissions(mta, login=None) as client:
        code, text = client.ehlo("client.test")
        assert b"AUTH LOGIN PLAIN" in text and b"STARTTLS" not in text
        client.login("alice@acme.test", PASSWORD)
    with submissions(mta, login=None) as client:
        client.ehlo("client.test")
        client.user, client.password = "alice@acme.test", PASSWORD
        code, _ = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        assert code == 235


def test_465_refuses_a_wrong_password(mta):
    """A wrong password on 465 gets 535 5.7.8."""
    with submissions(mta, login=None) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError) as info:
            client.login("alice@acme.test", "wrong password")
        assert info.value.smtp_code == 535


def test_mx_never_offers_or_accepts_auth(mta):
    """Port 25 lists no AUTH, even after STARTTLS, and answers AUTH with 502."""
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.starttls(context=tls_client_context())
        code, text = client.ehlo("client.test")
        assert b"AUTH" not in text
        code, _ = client.docmd("AUTH", "PLAIN AGFsaWNlQGFjbWUudGVzdABjb3JyZWN0IGhvcnNlIGJhdHRlcnk=")
        assert code == 502


@pytest.mark.parametrize("connect", [submission, submissions], ids=["587", "465"])
def test_envelope_sender_of_another_user_is_refused(mta, connect):
    """MAIL FROM another user's address (same or other business) is 553 5.7.1."""
    with connect(mta) as client:
        for other in ("bob@acme.test", "carol@globex.test"):
            code, text = client.docmd("MAIL", f"FROM:<{other}>")
            assert (code, text[:5]) == (553, b"5.7.1")
            client.rset()


def test_alias_is_an_allowed_sender(mta):
    """An alias that reaches the user is one of the user's sender addresses."""
    with submission(mta) as client:
        code, _ = client.docmd("MAIL", "FROM:<sales@acme.test>")
        assert code == 250


@pytest.mark.parametrize(
    "from_header",
    [
        "carol@globex.test",
        "Alice <carol@globex.test>",
        '"alice@acme.test" <carol@globex.test>',
        "alice@acme.test, carol@globex.test",
        "alice@acme.test <carol@globex.test>",
        "carol@globex.test (alice@acme.test)",
        "Undisclosed:;",
    ],
)
def test_cross_business_from_header_is_refused(mta, from_header):
    """A From: header naming someone else's address, however dressed up, is refused at DATA."""
    with submissions(mta) as client:
        client.mail("alice@acme.test")
        client.rcpt("someone@remote.test")
        code, text = client.data(f"From: {from_header}\r\nTo: someone@remote.test\r\nSubject: x\r\n\r\nhi\r\n".encode())
        assert (code, text[:5]) == (550, b"5.7.1")


def test_unauthenticated_mail_to_a_remote_domain_on_the_mx_is_relaying(mta):
    """The MX answers a remote recipient 550 5.7.1 even for a hosted sender address."""
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.ehlo("client.test")
        client.mail("alice@acme.test")
        code, text = client.rcpt("someone@remote.test")
        assert (code, text[:5]) == (550, b"5.7.1")


def test_daily_sending_limit_of_the_plan(mta):
    """The tiny plan allows 3 messages a day; the 4th is refused 450 4.7.1 at MAIL FROM."""
    sent = 0
    with submission(mta, login="tim@tiny.test") as client:
        for _ in range(3):
            client.sendmail("tim@tiny.test", ["x@remote.test"], message("tim@tiny.test", "x@remote.test"))
            sent += 1
        code, text = client.docmd("MAIL", "FROM:<tim@tiny.test>")
        assert (code, text[:5]) == (450, b"4.7.1")
    assert sent == 3


def test_submission_with_swaks_over_465(mta):
    """swaks with --tlsc and AUTH PLAIN submits a message to a remote recipient."""
    proc = subprocess.run(
        [
            "swaks", "--server", "127.0.0.1", "--port", str(mta.port("submissions")), "--tlsc",
            "--auth", "PLAIN", "--auth-user", "alice@acme.test", "--auth-password", PASSWORD,
            "--from", "alice@acme.test", "--to", "swaks@remote.test", "--h-From", "alice@acme.test",
            "--header", "Subject: via swaks",
        ],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "250 2.0.0" in proc.stdout
    wait_for(lambda: any("swaks@remote.test" in m.rcpt_tos for m in mta.remote.messages))


def test_null_sender_is_refused_on_submission(mta):
    """A user may not submit with the null reverse-path: 553 5.7.1."""
    with submission(mta) as client:
        code, text = client.docmd("MAIL", "FROM:<>")
        assert (code, text[:5]) == (553, b"5.7.1")


def test_per_user_limit_is_counted_apart_from_the_business(tmp_path):
    """With a per-user limit of 2, a user's 3rd message is refused while another user may still send."""
    from appliance.delivery import SendingLimit, check_sending_limits
    from storage import directory, schema
    from storage.database import Database

    db = Database(tmp_path / "t.sqlite3", schema.TENANT_MIGRATIONS)
    try:
        plan = directory.Plan("p", 5, 10**6, 10**6, 100)

        def setup(conn):
            directory.init_tenant(conn, "t", "T", plan, "t.example.test")
            return [directory.add_user(conn, f"{n}@t.example.test", "x") for n in ("ann", "ben")]

        ann, ben = db.write_sync("setup", setup)
        for _ in range(2):
            db.write_sync("send", lambda c: check_sending_limits(c, ann, 2, bump=True))
        with pytest.raises(SendingLimit):
            db.write_sync("send", lambda c: check_sending_limits(c, ann, 2, bump=True))
        with pytest.raises(SendingLimit):
            db.read_sync("check", lambda c: check_sending_limits(c, ann, 2, bump=False))
        db.write_sync("send", lambda c: check_sending_limits(c, ben, 2, bump=True))
    finally:
        db.close()
