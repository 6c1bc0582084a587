"""An office behind one address (#performance: simultaneous loopback
logins): many devices log in over IMAP at the same moment from 127.0.0.1
with the right passwords, and none of them is refused by the login
throttle, which counts failures only."""

from __future__ import annotations

import imaplib
import ssl
import threading

from tests.conftest import Cli, Daemon

PEOPLE = [f"person{n}@office.test" for n in range(3)]
DEVICES = 10
PASSWORD = "an office password 1"


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def test_thirty_simultaneous_right_imap_logins_from_one_address_all_succeed(cli: Cli, daemon: Daemon):
    """3 people with 10 devices each (30 IMAP connections, more than the
    fixture's max_failures of 5) log in at once from 127.0.0.1: all 30 get
    OK, and no failure is logged."""
    cli("tenant", "add", "office", "--domain", "office.test")
    for person in PEOPLE:
        cli("user", "add", person, "--password-stdin", input=PASSWORD + "\n")
    clients = [(person, device) for person in PEOPLE for device in range(DEVICES)]
    results: list = [None] * len(clients)
    barrier = threading.Barrier(len(clients))

    def run(i: int, person: str) -> None:
        conn = imaplib.IMAP4_SSL("127.0.0.1", daemon.port("imaps"), ssl_context=_context(), timeout=60)
        try:
            barrier.wait(30)
            results[i] = conn.login(person, PASSWORD)[0]
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            results[i] = exc
        finally:
            try:
                conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass

    threads = [threading.Thread(target=run, args=(i, person)) for i, (person, _) in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert results == ["OK"] * len(clients)
    assert "auth failed:" not in daemon.log()
