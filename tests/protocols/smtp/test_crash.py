"""Nothing acknowledged is lost: SIGKILL in the middle of a burst of 2,000
messages from several clients, then every message that got its 250 is in
the business files."""

from __future__ import annotations

import smtplib
import threading
import time

from .conftest import Mta, provision

CLIENTS = 5
PER_CLIENT = 400
KILL_AFTER = 600


def test_sigkill_during_a_burst_loses_no_acknowledged_message(tmp_path, stub_dns):
    """Messages acknowledged with 250 before a SIGKILL are all stored after the restart."""
    mta = Mta(tmp_path, stub_dns, max_commands=100_000, timeout=30)
    provision(mta)
    mta.daemon.start()
    port = mta.port("smtp")
    acked: list[tuple[str, str]] = []
    lock = threading.Lock()
    body_pad = "x" * 76 + "\r\n"

    def client(n: int) -> None:
        rcpt = "alice@acme.test" if n % 2 == 0 else "carol@globex.test"
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                smtp.ehlo("burst.test")
                for i in range(PER_CLIENT):
                    tag = f"burst-{n}-{i}-end"
                    smtp.sendmail("load@example.org", [rcpt], f"Subject: {tag}\r\n\r\n{body_pad * 60}".encode())
                    with lock:
                        acked.append((rcpt, tag))
        except (smtplib.SMTPException, OSError):
            pass  # the daemon was killed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < KILL_AFTER and time.monotonic() < deadline:
        time.sleep(0.005)
    mta.daemon.kill()
    for t in threads:
        t.join(30)
    assert KILL_AFTER <= len(acked) < CLIENTS * PER_CLIENT, "the kill must land in the middle of the burst"

    mta.daemon.start()
    try:
        stored: dict[str, list[str]] = {}
        for address in ("alice@acme.test", "carol@globex.test"):
            stored[address] = [m.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0].decode() for m in mta.inbox(address)]
        lost = [(rcpt, tag) for rcpt, tag in acked if tag not in set(stored[rcpt])]
        assert lost == []
        # Nothing is stored twice: one transaction, one copy.
        assert all(len(tags) == len(set(tags)) for tags in stored.values())
    finally:
        mta.daemon.stop()
