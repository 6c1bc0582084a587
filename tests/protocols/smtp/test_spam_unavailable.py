"""Content scoring with ``on_failure = "tempfail"`` and an rspamd that
accepts connections but never answers (no rspamd binary needed): the
sender is told to retry, nothing is stored, and ``appliance check`` fails."""

from __future__ import annotations

import json
import smtplib
import socket
import threading
import time
import uuid

import pytest

from .conftest import Mta, provision, scrape


class Silent:
    """A TCP listener on loopback that accepts and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


@pytest.fixture(scope="module")
def mx(tmp_path_factory, stub_dns):
    silent = Silent()
    extra = f'[rspamd]\nurl = "http://127.0.0.1:{silent.port}"\ntimeout = 1\non_failure = "tempfail"\n'
    m = Mta(tmp_path_factory.mktemp("spamdown"), stub_dns, extra)
    provision(m)
    m.daemon.start()
    yield m
    m.daemon.stop()
    silent.close()


def test_a_silent_rspamd_gives_a_temporary_failure_after_the_timeout(mx):
    """451 4.7.1 at DATA once [rspamd] timeout has passed, and the message is not in INBOX."""
    tempfails = scrape(mx, "appliance_spam_scans_total", result="tempfail")
    tag = uuid.uuid4().hex
    data = f"From: joe@remote.test\r\nTo: alice@acme.test\r\nSubject: {tag}\r\n\r\nhello\r\n".encode()
    with smtplib.SMTP("127.0.0.1", mx.port("smtp"), timeout=30) as client:
        client.ehlo("mx.remote.test")
        client.mail("joe@remote.test")
        assert client.rcpt("alice@acme.test")[0] == 250
        started = time.monotonic()
        reply = client.data(data)
        waited = time.monotonic() - started
    assert reply == (451, b"4.7.1 Content scanning unavailable, try again later")
    assert 0.9 <= waited < 10
    assert not any(tag.encode() in m for m in mx.inbox("alice@acme.test"))
    assert scrape(mx, "appliance_spam_scans_total", result="tempfail") == tempfails + 1
    assert scrape(mx, "appliance_spam_scan_seconds_bucket", le="+Inf") >= 1


def test_check_fails_when_rspamd_does_not_answer_and_mail_waits(mx):
    """``appliance check`` fails the spam row: with tempfail, senders are being turned away."""
    proc = mx.cli("check", "--local", "--json", check=False)
    row = next(r for r in json.loads(proc.stdout) if r["check"] == "spam")
    assert row["status"] == "fail" and "does not answer" in row["detail"]
    assert proc.returncode == 1
