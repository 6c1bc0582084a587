"""Parallel password guessing against the daemon (#24 item 5), over real
sockets: 30 wrong logins for one account at once, each from its own
loopback address (127.0.0.x, bound as the client's source), over IMAP and
over DAV.

What must hold: the daemon pays a bounded number of password hashes (not
one per attempt), the real user's requests keep answering quickly while
the attack runs (and DNS and the SMTP banner within 100 ms), and after the
account's failures pass the limit the real user still gets in from a
source that signed in before, while a stranger's source does not.
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import os
import socket
import ssl
import statistics
import threading
import time

import pytest
from dnslib import DNSRecord

from tests.conftest import Cli, Daemon

PASSWORD = "the right horse 1"
USER = "ann@shop.test"
#: Sources: the real user's usual one, the attackers', a newcomer's.
KNOWN = "127.0.0.2"
ATTACKERS = [f"127.0.0.{10 + n}" for n in range(30)]
NEWCOMER = "127.0.0.99"
#: The fixture's [auth] max_failures (tests/conftest.py TEST_CONFIG).
MAX_FAILURES = 5
PROPFIND = b'<?xml version="1.0"?><propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>'


def _context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class SourcedIMAP(imaplib.IMAP4_SSL):
    """imaplib over TLS from a chosen source address."""

    def __init__(self, port: int, source: str):
        self._source = source
        super().__init__("127.0.0.1", port, ssl_context=_context(), timeout=60)

    def _create_socket(self, timeout):
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self._source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def imap_login(daemon: Daemon, source: str, password: str) -> bool:
    conn = SourcedIMAP(daemon.port("imaps"), source)
    try:
        conn.login(USER, password)
        return True
    except imaplib.IMAP4.error:
        return False
    finally:
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            pass


def dav_propfind(daemon: Daemon, source: str, password: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", daemon.port("http"), timeout=60, source_address=(source, 0))
    try:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        conn.request(
            "PROPFIND", f"/dav/{USER}/", body=PROPFIND,
            headers={"Host": "box.appliance.test", "Depth": "0", "Authorization": f"Basic {token}",
                     "Content-Type": "application/xml"},
        )
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_parallel(fn, sources: list[str]) -> list:
    """``fn(source)`` for every source at once (a barrier starts them together)."""
    results: list = [None] * len(sources)
    barrier = threading.Barrier(len(sources))

    def run(i: int, source: str) -> None:
        barrier.wait()
        try:
            results[i] = fn(source)
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, s)) for i, s in enumerate(sources)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def best_of(probe, n: int = 3) -> float:
    times = []
    for _ in range(n):
        started = time.monotonic()
        probe()
        times.append(time.monotonic() - started)
    return min(times)


def dns_probe(daemon: Daemon) -> None:
    query = DNSRecord.question("shop.test", "SOA").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(query, ("127.0.0.1", daemon.port("dns")))
        assert DNSRecord.parse(s.recv(4096)).header.rcode == 0


def smtp_banner(daemon: Daemon) -> None:
    with socket.create_connection(("127.0.0.1", daemon.port("smtp")), timeout=5) as s:
        assert s.recv(512).startswith(b"220")


@pytest.fixture
def shop(cli: Cli, daemon: Daemon) -> Daemon:
    """The daemon with ``ann@shop.test``, who signed in once over IMAP and
    over DAV from her usual address (KNOWN), and a second account used to
    measure what one wrong login costs."""
    cli("tenant", "add", "shop", "--domain", "shop.test")
    cli("user", "add", USER, "--password-stdin", input=PASSWORD + "\n")
    cli("user", "add", "calibration@shop.test", "--password-stdin", input=PASSWORD + "\n")
    assert imap_login(daemon, KNOWN, PASSWORD)
    assert dav_propfind(daemon, KNOWN, PASSWORD) == 207
    return daemon


def hash_cost(daemon: Daemon) -> float:
    """CPU seconds the daemon spends on one wrong IMAP login (a hash, TLS,
    the session), measured on another account from other sources."""
    before = cpu_seconds(daemon.proc.pid)
    for n in range(3):
        conn = SourcedIMAP(daemon.port("imaps"), f"127.0.0.{200 + n}")
        with pytest.raises(imaplib.IMAP4.error):
            conn.login("calibration@shop.test", "not it at all")
        conn.logout()
    return (cpu_seconds(daemon.proc.pid) - before) / 3


def test_parallel_imap_guessing_pays_bounded_hashes_and_spares_the_known_source(shop: Daemon):
    """30 parallel wrong IMAP logins for one account from 30 sources cost at
    most about max_failures hashes (attempts in flight count against the
    limit); afterwards the right password still gets in from the user's
    known source, and is refused from a source that never signed in."""
    one = hash_cost(shop)
    before = cpu_seconds(shop.proc.pid)
    results = in_parallel(lambda source: imap_login(shop, source, "a wrong guess"), ATTACKERS)
    spent = cpu_seconds(shop.proc.pid) - before
    assert results == [False] * len(ATTACKERS)
    # Before the fix every attempt paid a hash: 30 of them.
    assert spent < (MAX_FAILURES + 4) * one, f"attack cost {spent:.2f}s CPU, one login {one:.3f}s"
    assert imap_login(shop, KNOWN, PASSWORD), "the real user was locked out by strangers"
    assert not imap_login(shop, NEWCOMER, PASSWORD)
    # Every attempt left a line fail2ban can ban its source by.
    log = shop.log()
    assert all(f"source={source}\n" in log for source in ATTACKERS)


def test_parallel_dav_guessing_leaves_the_real_user_served(shop: Daemon):
    """30 parallel wrong DAV logins for one account from 30 sources: bounded
    hashes; the real user's DAV request from her known source answers
    quickly while the attack runs, DNS and the SMTP banner within 100 ms;
    after the limit she still gets in, a newcomer's source does not."""
    one = hash_cost(shop)
    before = cpu_seconds(shop.proc.pid)
    probes: list[float] = []
    attack = threading.Thread(
        target=lambda: probes.append(in_parallel(lambda source: dav_propfind(shop, source, "a wrong guess"), ATTACKERS))
    )
    attack.start()
    time.sleep(0.3)  # the attackers' requests are in
    real = []
    for _ in range(3):
        started = time.monotonic()
        assert dav_propfind(shop, KNOWN, PASSWORD) == 207
        real.append(time.monotonic() - started)
    dns = best_of(lambda: dns_probe(shop))
    banner = best_of(lambda: smtp_banner(shop))
    attack.join(120)
    spent = cpu_seconds(shop.proc.pid) - before
    assert probes and probes[0] == [401] * len(ATTACKERS)
    # Before the fix: 7.3 s for the real user's request, 30 hashes.
    assert statistics.median(real) < 1.0, f"real user's requests took {real}"
    assert dns < 0.1 and banner < 0.1, (dns, banner)
    assert spent < (MAX_FAILURES + 4) * one, f"attack cost {spent:.2f}s CPU, one login {one:.3f}s"
    assert dav_propfind(shop, KNOWN, PASSWORD) == 207
    assert dav_propfind(shop, NEWCOMER, PASSWORD) == 401


def test_suspended_business_gets_the_same_refusal_on_every_protocol(cli: Cli, shop: Daemon):
    """A right password for a suspended business: IMAP says suspended
    (NO [CONTACTADMIN]), SMTP AUTH a temporary failure, DAV 403 with a
    plain-text reason (not the 401 of a wrong password)."""
    cli("tenant", "suspend", "shop")
    conn = SourcedIMAP(shop.port("imaps"), KNOWN)
    with pytest.raises(imaplib.IMAP4.error, match="suspended"):
        conn.login(USER, PASSWORD)
    conn.logout()
    import smtplib

    with smtplib.SMTP_SSL("127.0.0.1", shop.port("submissions"), context=_context(), timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(USER, PASSWORD)
        assert refused.value.smtp_code == 454
    conn = http.client.HTTPConnection("127.0.0.1", shop.port("http"), timeout=30, source_address=(KNOWN, 0))
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    conn.request("PROPFIND", f"/dav/{USER}/", body=PROPFIND,
                 headers={"Host": "box.appliance.test", "Depth": "0", "Authorization": f"Basic {token}"})
    reply = conn.getresponse()
    assert reply.status == 403
    assert b"suspended" in reply.read()
    conn.close()
    # A wrong password is still just a wrong password.
    assert dav_propfind(shop, KNOWN, "a wrong guess") == 401
