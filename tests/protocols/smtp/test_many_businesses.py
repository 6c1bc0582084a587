"""Mail for many businesses at once through a daemon that may keep only 4
business files open and closes them after a second of quiet: every
acknowledged message is in its file even after a kill -9, IMAP reads each
back exactly once, idle files close and reopen on the next use, and no more
than 4 stay open."""

from __future__ import annotations

import imaplib
import os
import re
import signal
import smtplib
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage

import pytest

from tests.conftest import wait_for

from .conftest import PASSWORD, Mta, stored_messages, tls_client_context

BUSINESSES = [f"shop{i}" for i in range(7)]
MAX_OPEN = 4
STORAGE = f"""
[storage]
max_open_tenants = {MAX_OPEN}
idle_seconds = 1
workers = 2
"""
#: Messages per business, sent all at once from several clients.
PER_BUSINESS = 6


def address(slug: str) -> str:
    return f"owner@{slug}.test"


@pytest.fixture(scope="module")
def many(tmp_path_factory, stub_dns):
    """A daemon with seven businesses, one user each, and the small bound."""
    m = Mta(tmp_path_factory.mktemp("many"), stub_dns, extra=STORAGE)
    for slug in BUSINESSES:
        m.cli("tenant", "add", slug, "--domain", f"{slug}.test")
        m.cli("user", "add", address(slug), "--password-stdin", input=PASSWORD + "\n")
    m.daemon.start()
    yield m
    if m.daemon.proc is not None and m.daemon.proc.poll() is None:
        m.daemon.stop()


def send(mta: Mta, recipients: list[str], subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = "sender@remote.test"
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg.set_content(f"{subject}\n")
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=30) as client:
        refused = client.send_message(msg, to_addrs=recipients)
    assert refused == {}


def subjects_over_imap(mta: Mta, slug: str) -> list[str]:
    imap = imaplib.IMAP4_SSL("127.0.0.1", mta.port("imaps"), ssl_context=tls_client_context(), timeout=30)
    try:
        assert imap.login(address(slug), PASSWORD)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
        typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        assert typ == "OK"
        headers = [part[1] for part in data if isinstance(part, tuple)]
        return sorted(re.search(rb"Subject: (\S+)", h).group(1).decode() for h in headers)
    finally:
        imap.logout()


def open_files(mta: Mta) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{mta.port('metrics')}/metrics", timeout=10).read().decode()
    return float(re.search(r"^appliance_tenant_files_open (\S+)$", body, re.M).group(1))


def business_files_in_use(pid: int) -> set[str]:
    """The businesses whose file the process has a descriptor on."""
    slugs = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        found = re.search(r"/tenants/([a-z0-9-]+)\.sqlite3", target)
        if found:
            slugs.add(found.group(1))
    return slugs


def test_concurrent_deliveries_to_many_businesses_are_durable_and_read_back_once(many):
    """42 messages for seven businesses (some to three at once), sent by
    eight clients together: each 250 means the message is in the file - a
    kill -9 right after the last one loses none - and after a restart IMAP
    shows every business exactly its own messages, once each."""
    jobs = []
    for n in range(PER_BUSINESS):
        for i, slug in enumerate(BUSINESSES):
            if n == 0 and i % 3 == 0:
                # One message for three businesses: one delivery, three files.
                group = [BUSINESSES[(i + k) % len(BUSINESSES)] for k in range(3)]
                jobs.append(([address(s) for s in group], f"m{n}-{slug}-group"))
            else:
                jobs.append(([address(slug)], f"m{n}-{slug}"))
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: send(many, *job), jobs))
    many.daemon.stop(signal.SIGKILL)

    expected: dict[str, list[str]] = {slug: [] for slug in BUSINESSES}
    for recipients, subject in jobs:
        for rcpt in recipients:
            expected[rcpt.split("@")[1].removesuffix(".test")].append(subject)
    for slug in BUSINESSES:
        conn = many.tenant_db(slug)
        try:
            raw = stored_messages(conn, address(slug))
        finally:
            conn.close()
        on_disk = sorted(re.search(rb"Subject: (\S+)", m).group(1).decode() for m in raw)
        assert on_disk == sorted(expected[slug]), slug

    many.daemon.start()
    for slug in BUSINESSES:
        assert subjects_over_imap(many, slug) == sorted(expected[slug]), slug


def test_idle_business_files_close_and_reopen_on_the_next_use(many):
    """A second after its last use a business file is closed (the metrics
    say none is open, the process holds no descriptor on it); the next
    delivery and IMAP login open it again transparently."""
    slug = BUSINESSES[0]
    send(many, [address(slug)], "before-idle")
    # Both: the pool drops a file from its count before its connections close.
    wait_for(lambda: open_files(many) == 0 and business_files_in_use(many.daemon.pid) == set(), timeout=15)
    send(many, [address(slug)], "after-idle")
    assert {"before-idle", "after-idle"} <= set(subjects_over_imap(many, slug))


def test_no_more_than_the_bound_of_files_stay_open(many):
    """Using all seven businesses one after another leaves at most four
    files open, and the process holds descriptors on at most four."""
    for slug in BUSINESSES:
        subjects_over_imap(many, slug)
        assert open_files(many) <= MAX_OPEN
    assert len(business_files_in_use(many.daemon.pid)) <= MAX_OPEN
