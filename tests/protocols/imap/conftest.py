"""Fixtures for the IMAP tests: one daemon per test module with two
businesses (``acme.test`` and ``other.test``), users made on demand through
the CLI, and logged-in imaplib clients over TLS.
"""

from __future__ import annotations

import imaplib
import itertools
import socket
import ssl
from pathlib import Path

import pytest

from tests.conftest import TEST_CONFIG, Cli, Daemon

PASSWORD = "imap pass word 1"
_COUNTER = itertools.count(1)


def client_context() -> ssl.SSLContext:
    # The box's certificate is self-signed; these tests check the protocol,
    # the TLS tests check the certificate.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def nodelay(sock: socket.socket) -> None:
    """imaplib writes a literal and its CRLF separately; with Nagle the
    second write waits for the server's delayed ACK, 40 ms per APPEND.
    Real clients (Thunderbird, mbsync) set TCP_NODELAY too."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Env:
    def __init__(self, cli: Cli, daemon: Daemon):
        self.cli = cli
        self.daemon = daemon

    def user(self, domain: str = "acme.test", quota_mb: int | None = None) -> str:
        address = f"u{next(_COUNTER)}@{domain}"
        self.cli("user", "add", address, "--password-stdin", input=PASSWORD + "\n")
        if quota_mb is not None:
            self.cli("user", "quota", address, str(quota_mb))
        return address

    def connect(self, address: str | None = None, password: str = PASSWORD) -> imaplib.IMAP4_SSL:
        """A client over implicit TLS, logged in when ``address`` is given."""
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.daemon.port("imaps"), ssl_context=client_context(), timeout=30)
        nodelay(conn.sock)
        if address is not None:
            conn.login(address, password)
        return conn

    def plain(self) -> imaplib.IMAP4:
        return imaplib.IMAP4("127.0.0.1", self.daemon.port("imap"), timeout=30)

    def raw(self, tls: bool = True) -> "Raw":
        return Raw(self.daemon.port("imaps" if tls else "imap"), tls)

    def restart(self) -> None:
        self.daemon.stop()
        self.daemon.start()


class Raw:
    """A byte-level client for transcripts imaplib cannot produce."""

    def __init__(self, port: int, tls: bool):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        nodelay(sock)
        self.sock = client_context().wrap_socket(sock) if tls else sock
        self.buffer = b""
        self.greeting = self.line()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed; had " + repr(self.buffer[:200]))
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def until(self, tag: bytes) -> list[bytes]:
        """Lines up to and including the tagged reply for ``tag``."""
        lines = []
        for _ in range(100_000):
            line = self.line()
            lines.append(line)
            if line.startswith(tag + b" "):
                return lines
        raise AssertionError("no tagged reply")

    def login(self, address: str, password: str = PASSWORD) -> None:
        self.send(b"L LOGIN " + address.encode() + b' "' + password.encode() + b'"\r\n')
        assert self.until(b"L")[-1].startswith(b"L OK")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory):
    base: Path = tmp_path_factory.mktemp("imap")
    state = base / "state"
    state.mkdir()
    config = base / "appliance.toml"
    config.write_text(
        TEST_CONFIG + "\n[imap]\nappend_limit = 1048576\nmax_connections_per_user = 8\n"
        "\n[plans.standard]\nmax_users = 500\n"
    )
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--domain", "acme.test")
    cli("tenant", "add", "other", "--domain", "other.test")
    daemon = Daemon(state, config, base / "daemon.log")
    daemon.start()
    yield Env(cli, daemon)
    if daemon.proc is not None and daemon.proc.poll() is None:
        daemon.stop()


def message(subject: str = "Hello", body: str = "Hello body\r\n", sender: str = "Bob <bob@example.org>",
            to: str = "ann@acme.test", date: str = "Tue, 24 Nov 2026 10:00:00 +0000", extra: str = "") -> bytes:
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@example.org>\r\n{extra}\r\n{body}"
    ).encode()


MULTIPART = (
    b"From: Carol <carol@example.org>\r\nTo: ann@acme.test\r\nSubject: Report\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    b"preamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nSee attached.\r\n"
    b"--b1\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
    b"--b2\r\nContent-Type: text/plain\r\n\r\nplain part\r\n"
    b"--b2\r\nContent-Type: text/html\r\n\r\n<p>html part</p>\r\n--b2--\r\n"
    b"--b1\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; filename=\"r.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
)
