"""ManageSieve (RFC 5804) with a real client (sieve-connect) and, for what a
client would never send, a raw socket: scripts stored, activated and read
back, mail following the new script, logins only after STARTTLS and
through the one login checker, limits, and businesses kept apart."""

from __future__ import annotations

import base64
import socket
import smtplib
import ssl
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from tests.protocols.smtp.conftest import PASSWORD, stored_messages, tls_client_context

from .conftest import LOGIN_TIMEOUT

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "sieve"

OK = b"OK"
AUTH_FAILED_LINE = "auth failed: protocol=managesieve user=alice@acme.test source=127.0.0.1"


def sieve_connect(mta, user: str, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    """Run sieve-connect against the daemon (STARTTLS; the test certificate is self-signed)."""
    cmd = ["sieve-connect", "-s", "127.0.0.1", "-p", str(mta.port("managesieve")), "-u", user,
           "--passwordfd", "0", "--notlsverify", *args]
    return subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=30)


class Raw:
    """A ManageSieve connection by hand, line by line."""

    def __init__(self, mta):
        self.sock = socket.create_connection(("127.0.0.1", mta.port("managesieve")), timeout=10)
        self.file = self.sock.makefile("rb")
        self.greeting = self.until_done()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def until_done(self) -> list[bytes]:
        """Lines up to and including the final OK/NO/BYE."""
        lines = []
        while True:
            line = self.file.readline()
            assert line, "connection closed"
            lines.append(line.rstrip(b"\r\n"))
            if line[:2] in (b"OK", b"NO") or line[:3] == b"BYE":
                return lines

    def command(self, data: bytes) -> list[bytes]:
        self.send(data + b"\r\n")
        return self.until_done()

    def starttls(self) -> list[bytes]:
        assert self.command(b"STARTTLS")[-1].startswith(OK)
        self.sock = tls_client_context().wrap_socket(self.sock, server_hostname="box.appliance.test")
        self.file = self.sock.makefile("rb")
        return self.until_done()

    def login(self, user: str, password: str = PASSWORD) -> list[bytes]:
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.command(f'AUTHENTICATE "PLAIN" "{token}"'.encode())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(mta):
    conn = Raw(mta)
    yield conn
    conn.close()


def logged_in(raw: Raw, user: str = "alice@acme.test") -> Raw:
    raw.starttls()
    assert raw.login(user)[-1].startswith(OK)
    return raw


def test_upload_activate_and_download_with_sieve_connect(mta, tmp_path):
    """sieve-connect stores a script (PUTSCRIPT), activates it (SETACTIVE), lists it ACTIVE and reads it back (GETSCRIPT)."""
    script = tmp_path / "rules.sieve"
    script.write_bytes(b'require "fileinto";\r\nif header :contains "subject" "invoice" { fileinto "Archive"; }\r\n')
    assert sieve_connect(mta, "bob@acme.test", "--upload", "--localsieve", str(script), "--remotesieve", "office").returncode == 0
    assert sieve_connect(mta, "bob@acme.test", "--activate", "--remotesieve", "office").returncode == 0
    listing = sieve_connect(mta, "bob@acme.test", "--list")
    assert listing.stdout.split("\n")[0] == '"office" ACTIVE'
    back = tmp_path / "back.sieve"
    assert sieve_connect(mta, "bob@acme.test", "--download", "--remotesieve", "office", "--localsieve", str(back)).returncode == 0
    assert back.read_bytes() == script.read_bytes()


def test_mail_follows_the_script_stored_over_managesieve(mta, tmp_path):
    """A script uploaded and activated with sieve-connect files the next message that arrives over SMTP."""
    script = tmp_path / "new.sieve"
    script.write_text('require ["fileinto", "mailbox"];\r\nif address :is "from" "joe@remote.test" { fileinto :create "Customers"; }\r\n')
    assert sieve_connect(mta, "alice@acme.test", "--upload", "--localsieve", str(script), "--remotesieve", "customers").returncode == 0
    assert sieve_connect(mta, "alice@acme.test", "--activate", "--remotesieve", "customers").returncode == 0
    tag = uuid.uuid4().hex
    raw = (FIXTURES / "invoice-from-customer.eml").read_bytes().replace(b"Message-ID: <", f"Message-ID: <{tag}.".encode())
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10) as client:
        client.sendmail("joe@remote.test", ["alice@acme.test"], raw)
    conn = mta.tenant_db("acme")
    try:
        assert [tag.encode() in m for m in stored_messages(conn, "alice@acme.test", "Customers")] == [True]
    finally:
        conn.close()


def test_wrong_password_fails_with_the_fail2ban_line(mta):
    """AUTHENTICATE with a wrong password fails, and the daemon logs the fixed line fail2ban matches."""
    proc = sieve_connect(mta, "alice@acme.test", "--list", password="not the password")
    assert proc.returncode != 0
    assert AUTH_FAILED_LINE in mta.daemon.log()


def test_authenticate_before_starttls_is_refused(raw):
    """Before TLS no SASL mechanism is offered, STARTTLS is, and AUTHENTICATE is answered NO (ENCRYPT-NEEDED)."""
    assert b'"SASL" ""' in raw.greeting and b'"STARTTLS"' in raw.greeting
    assert raw.login("alice@acme.test") == [b'NO (ENCRYPT-NEEDED) "AUTHENTICATE needs TLS first (STARTTLS)"']


def test_capabilities_after_starttls(raw):
    """After STARTTLS the capabilities come again: SASL PLAIN, the Sieve extensions, VERSION 1.0, no STARTTLS."""
    caps = raw.starttls()
    assert b'"SASL" "PLAIN"' in caps and b'"VERSION" "1.0"' in caps and b'"STARTTLS"' not in caps
    sieve = next(line for line in caps if line.startswith(b'"SIEVE"'))
    for ext in (b"fileinto", b"vacation", b"variables", b"imap4flags", b"mailbox", b"copy", b"reject", b"ereject", b"envelope"):
        assert ext in sieve.split(b'"')[3].split()


def test_putscript_of_a_broken_script_is_refused_and_the_old_one_stays_active(raw):
    """PUTSCRIPT of a script that does not parse answers NO with the line and reason, and changes nothing."""
    logged_in(raw, "carol@globex.test")
    good = b'keep;\r\n'
    assert raw.command(b'PUTSCRIPT "main" {%d+}\r\n' % len(good) + good)[-1].startswith(OK)
    assert raw.command(b'SETACTIVE "main"')[-1].startswith(OK)
    bad = b'require "fileinto";\r\nfileinto "x" "y";\r\n'
    answer = raw.command(b'PUTSCRIPT "main" {%d}\r\n' % len(bad) + bad)
    assert answer == [b'NO "line 2: fileinto takes 1 positional arguments, got 2"']
    assert raw.command(b'GETSCRIPT "main"') == [b"{%d}" % len(good), b"keep;", b"", b'OK "Getscript completed"']
    assert raw.command(b"LISTSCRIPTS")[0] == b'"main" ACTIVE'


def test_another_business_never_sees_the_scripts(raw, mta):
    """carol of globex does not see alice's script in her listing and cannot read it by name."""
    alice = logged_in(Raw(mta), "alice@acme.test")
    try:
        script = b"discard;\r\n"
        assert alice.command(b'PUTSCRIPT "private" {%d+}\r\n' % len(script) + script)[-1].startswith(OK)
        assert alice.command(b"LISTSCRIPTS").count(b'"private"') == 1
    finally:
        alice.close()
    carol = logged_in(raw, "carol@globex.test")
    assert b'"private"' not in carol.command(b"LISTSCRIPTS")
    assert carol.command(b'GETSCRIPT "private"') == [b'NO (NONEXISTENT) "no script named \'private\'"']


def test_a_literal_over_the_size_limit_is_refused_and_the_session_goes_on(raw):
    """PUTSCRIPT with a literal larger than [sieve] max_script_bytes is answered NO (QUOTA/MAXSIZE) and the next command works."""
    logged_in(raw, "bob@acme.test")
    big = b"#" * (70 * 1024) + b"\r\nkeep;\r\n"
    assert raw.command(b'PUTSCRIPT "big" {%d+}\r\n' % len(big) + big) == [b'NO (QUOTA/MAXSIZE) "script too large"']
    assert raw.command(b"NOOP") == [b'OK "Done"']


def test_the_active_script_cannot_be_deleted(raw):
    """DELETESCRIPT of the active script answers NO (ACTIVE); after SETACTIVE "" it is deleted."""
    logged_in(raw, "bob@acme.test")
    script = b"keep;\r\n"
    assert raw.command(b'PUTSCRIPT "temp" {%d+}\r\n' % len(script) + script)[-1].startswith(OK)
    assert raw.command(b'SETACTIVE "temp"')[-1].startswith(OK)
    assert raw.command(b'DELETESCRIPT "temp"')[0].startswith(b"NO (ACTIVE)")
    assert raw.command(b'SETACTIVE ""')[-1].startswith(OK)
    assert raw.command(b'DELETESCRIPT "temp"') == [b'OK "Deletescript completed"']


def test_commands_need_a_login(raw):
    """LISTSCRIPTS before AUTHENTICATE is answered NO."""
    raw.starttls()
    assert raw.command(b"LISTSCRIPTS") == [b'NO "log in first (AUTHENTICATE)"']


def test_one_source_cannot_take_every_connection(mta):
    """Past [managesieve] max_connections_per_source (20 by default) a source gets BYE (TRYLATER) and is closed."""
    held = [Raw(mta) for _ in range(20)]
    try:
        extra = socket.create_connection(("127.0.0.1", mta.port("managesieve")), timeout=10)
        try:
            assert extra.makefile("rb").readline() == b'BYE (TRYLATER) "too many connections from your address"\r\n'
        finally:
            extra.close()
    finally:
        for conn in held:
            conn.close()


def test_a_silent_client_is_disconnected_before_login(raw):
    """A client that sends nothing for [managesieve] login_timeout gets BYE and the connection is closed."""
    raw.sock.settimeout(LOGIN_TIMEOUT + 10)
    started = time.monotonic()
    assert raw.file.readline() == b'BYE "idle too long"\r\n'
    assert LOGIN_TIMEOUT - 1 <= time.monotonic() - started
    assert raw.file.readline() == b""


def test_havespace_answers_by_the_limits(raw):
    """HAVESPACE says OK for a script within [sieve] max_script_bytes and NO (QUOTA) past it."""
    logged_in(raw, "bob@acme.test")
    assert raw.command(b'HAVESPACE "next" 1000') == [b'OK "Putscript would succeed"']
    assert raw.command(b'HAVESPACE "next" 1000000')[0].startswith(b"NO (QUOTA)")


def test_checkscript_checks_without_storing(raw):
    """CHECKSCRIPT answers OK or NO with line and reason, and stores nothing."""
    logged_in(raw, "bob@acme.test")
    before = raw.command(b"LISTSCRIPTS")
    good, bad = b'require "vacation"; vacation "away";', b'\r\nvacation "away";'
    assert raw.command(b"CHECKSCRIPT {%d+}\r\n" % len(good) + good) == [b'OK "Script is valid"']
    assert raw.command(b"CHECKSCRIPT {%d+}\r\n" % len(bad) + bad) == [b'NO "line 2: vacation needs require \\"vacation\\""']
    assert raw.command(b"LISTSCRIPTS") == before


def test_renamescript_keeps_the_active_flag(raw):
    """RENAMESCRIPT of the active script keeps it active under the new name; a taken name is NO (ALREADYEXISTS)."""
    logged_in(raw, "carol@globex.test")
    script = b"keep;"
    for name in (b"old", b"taken"):
        assert raw.command(b'PUTSCRIPT "%s" {%d+}\r\n' % (name, len(script)) + script)[-1].startswith(OK)
    assert raw.command(b'SETACTIVE "old"')[-1].startswith(OK)
    assert raw.command(b'RENAMESCRIPT "old" "taken"')[0].startswith(b"NO (ALREADYEXISTS)")
    assert raw.command(b'RENAMESCRIPT "old" "new"') == [b'OK "Renamescript completed"']
    assert b'"new" ACTIVE' in raw.command(b"LISTSCRIPTS")


def test_unauthenticate_ends_the_login(raw):
    """After UNAUTHENTICATE the session needs AUTHENTICATE again."""
    logged_in(raw, "bob@acme.test")
    assert raw.command(b"UNAUTHENTICATE") == [b'OK "Unauthenticate completed"']
    assert raw.command(b"LISTSCRIPTS") == [b'NO "log in first (AUTHENTICATE)"']
