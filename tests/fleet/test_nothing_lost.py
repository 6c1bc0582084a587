"""Nothing is lost in a move: SMTP deliveries, IMAP APPEND and STORE and
DAV PUTs run throughout it, every acknowledgement is logged, and
afterwards every acknowledged item exists exactly once on the new box.

The clients behave as real ones do: a temporary failure (``451``, ``NO
[UNAVAILABLE]``, ``503``) makes them wait a moment, look the box up again
and retry the same item. The lookup is :class:`Dns`, switched to box B
when ``appliance tenant move`` succeeds - what the fleet's DNS does for
the business's names.
"""

from __future__ import annotations

import imaplib
import re
import smtplib
import threading
import time
from collections import Counter

import requests

from .conftest import ICS, PASSWORD, event, move

#: How long the clients run before the move, and after it.
BEFORE_SECONDS = 1.5
AFTER_SECONDS = 1.5
#: Pause before a retry after a temporary failure.
RETRY_PAUSE = 0.1
#: Bound on any one client's attempts.
MAX_ATTEMPTS = 2000


class Dns:
    """Which box the business's names point to."""

    def __init__(self, box):
        self.box = box
        self.lock = threading.Lock()

    def resolve(self):
        with self.lock:
            return self.box

    def switch(self, box) -> None:
        with self.lock:
            self.box = box


class Client(threading.Thread):
    """Runs ``step(n)`` for n = 0, 1, ... until told to stop; ``step``
    returns True when item n was acknowledged, False on a temporary
    failure (then n is retried)."""

    def __init__(self, name: str, dns: Dns, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.dns, self.stop = dns, stop
        self.acked: list[str] = []
        self.retries = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        n = 0
        try:
            for _ in range(MAX_ATTEMPTS):
                if self.stop.is_set():
                    return
                if self.step(n):
                    n += 1
                else:
                    self.retries += 1
                    self.reconnect()
                    time.sleep(RETRY_PAUSE)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
        finally:
            self.close()

    def reconnect(self) -> None:
        self.close()

    def close(self) -> None:
        pass


class SmtpClient(Client):
    def __init__(self, dns, stop, rcpt: str):
        super().__init__("smtp", dns, stop)
        self.rcpt = rcpt

    def step(self, n: int) -> bool:
        subject = f"smtp-{n}"
        with self.dns.resolve().smtp() as smtp:
            try:
                smtp.sendmail("sender@outside.example", [self.rcpt], f"Subject: {subject}\r\n\r\n{subject}\r\n".encode())
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError) as exc:
                codes = [c for c, _ in exc.recipients.values()] if isinstance(exc, smtplib.SMTPRecipientsRefused) else [exc.smtp_code]
                assert all(400 <= c < 500 for c in codes), exc
                return False
        self.acked.append(subject)
        return True


class ImapClient(Client):
    """APPENDs a message, then STOREs \\Flagged on it (by its APPENDUID)."""

    def __init__(self, dns, stop, address: str):
        super().__init__("imap", dns, stop)
        self.address = address
        self.conn: imaplib.IMAP4_SSL | None = None
        self.flagged: list[str] = []
        self.pending_uid: str | None = None
        #: subject -> the UID its APPENDUID said.
        self.uids: dict[str, str] = {}

    def step(self, n: int) -> bool:
        if self.conn is None:
            try:
                self.conn = self.dns.resolve().imap(self.address)
            except imaplib.IMAP4.error as exc:
                # The old box, once the business moved: try again later.
                assert "[UNAVAILABLE]" in str(exc), exc
                return False
            self.conn.select("INBOX")
        subject = f"imap-{n}"
        if self.pending_uid is None:
            typ, data = self.conn.append("INBOX", None, None, f"Subject: {subject}\r\n\r\n{subject}\r\n".encode())
            if typ != "OK":
                assert data[0].startswith(b"[UNAVAILABLE]"), data
                return False
            self.acked.append(subject)
            self.pending_uid = re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1).decode()
            self.uids[subject] = self.pending_uid
        typ, data = self.conn.uid("STORE", self.pending_uid, "+FLAGS", r"(\Flagged)")
        if typ != "OK":
            assert data[0].startswith(b"[UNAVAILABLE]"), data
            return False
        self.flagged.append(subject)
        self.pending_uid = None
        return True

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.logout()
            except (imaplib.IMAP4.error, OSError):
                pass
            self.conn = None


class DavClient(Client):
    def __init__(self, dns, stop, address: str):
        super().__init__("dav", dns, stop)
        self.address = address

    def step(self, n: int) -> bool:
        uid = f"dav-{n}"
        reply = requests.put(self.dns.resolve().dav_url(self.address, f"{uid}.ics"), data=event(uid), headers=ICS,
                             auth=(self.address, PASSWORD), timeout=30, allow_redirects=False)
        if reply.status_code in (503, 307):
            if reply.status_code == 503:
                assert reply.headers.get("Retry-After"), reply.headers
            return False
        assert reply.status_code == 201, (reply.status_code, reply.text)
        self.acked.append(uid)
        return True


def subjects(box, address: str) -> tuple[Counter, set[str], dict[str, str]]:
    """The INBOX's subjects (counted), those flagged, and subject -> UID."""
    conn = box.imap(address)
    try:
        conn.select("INBOX")
        typ, data = conn.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        counted, flagged, uids = Counter(), set(), {}
        for item in data:
            if isinstance(item, tuple):
                subject = item[1].decode().strip().partition(": ")[2]
                counted[subject] += 1
                uids[subject] = re.search(rb"UID (\d+)", item[0]).group(1).decode()
                if b"\\Flagged" in item[0]:
                    flagged.add(subject)
        return counted, flagged, uids
    finally:
        conn.logout()


def test_every_acknowledged_item_exists_exactly_once_on_the_new_box(fleet):
    """SMTP, IMAP (APPEND, STORE) and DAV clients write throughout a move;
    each acknowledged item is on box B exactly once, the clients met
    temporary failures and retried them, and none failed otherwise."""
    a, b, token = fleet
    slug, domain, address = a.business()
    dns, stop = Dns(a), threading.Event()
    clients = [SmtpClient(dns, stop, address), ImapClient(dns, stop, address), DavClient(dns, stop, address)]
    for client in clients:
        client.start()
    try:
        time.sleep(BEFORE_SECONDS)
        started = time.monotonic()
        move(a, b, token, slug)
        took = time.monotonic() - started
        dns.switch(b)
        time.sleep(AFTER_SECONDS)
    finally:
        stop.set()
        for client in clients:
            client.join(60)
    for client in clients:
        assert client.error is None, f"{client.name}: {client.error!r}"
        assert not client.is_alive()
        assert len(client.acked) > 5, f"{client.name} acknowledged only {client.acked}"
    smtp, imap, dav = clients
    assert sum(c.retries for c in clients) > 0, "no client met the freeze: the test proved nothing"

    counted, flagged, uids = subjects(b, address)
    for subject in smtp.acked + imap.acked:
        assert counted[subject] == 1, f"{subject}: {counted[subject]} copies on box B"
    assert set(imap.flagged) <= flagged
    # The UIDs the client was given on either box are the ones box B has:
    # nothing to download again.
    assert {s: uids[s] for s in imap.uids} == imap.uids
    for uid in dav.acked:
        reply = requests.get(b.dav_url(address, f"{uid}.ics"), auth=(address, PASSWORD), timeout=30)
        assert reply.status_code == 200 and f"UID:{uid}" in reply.text, uid
    print(f"move took {took:.2f} s; acknowledged smtp {len(smtp.acked)}, imap {len(imap.acked)} "
          f"(+{len(imap.flagged)} STORE), dav {len(dav.acked)}; retries {[c.retries for c in clients]}")
