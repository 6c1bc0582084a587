"""Is the daemon still answering other clients while an attack runs?

:func:`assert_responsive` times a DNS query (UDP) and an SMTP banner, each
on a new connection from another loopback address than the attacker's
(127.0.0.1), so per-source limits never hide a frozen loop. The best of a
few probes must be under the bound: one slow probe on a loaded 2-core
machine is noise, a blocked event loop makes every probe slow.
"""

from __future__ import annotations

import socket
import threading
import time

from dnslib import DNSRecord

#: Where probes come from: loopback, but not the attacker's address.
PROBE_SOURCE = "127.0.0.77"
#: The most a probe may take (the issue's bound).
BOUND = 0.1


def dns_seconds(port: int, name: str = "appliance.test", timeout: float = 5) -> float:
    """Seconds until the daemon answers a UDP SOA query for ``name``."""
    query = DNSRecord.question(name, "SOA").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((PROBE_SOURCE, 0))
        sock.settimeout(timeout)
        start = time.monotonic()
        sock.sendto(query, ("127.0.0.1", port))
        reply = sock.recv(4096)
        elapsed = time.monotonic() - start
    assert DNSRecord.parse(reply).header.id == DNSRecord.parse(query).header.id
    return elapsed


def smtp_banner_seconds(port: int, timeout: float = 5) -> float:
    """Seconds from connect until the whole ``220`` greeting line arrived."""
    with socket.socket() as sock:
        sock.bind((PROBE_SOURCE, 0))
        sock.settimeout(timeout)
        start = time.monotonic()
        sock.connect(("127.0.0.1", port))
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = sock.recv(1024)
            assert chunk, "the SMTP server closed without a greeting"
            data += chunk
        elapsed = time.monotonic() - start
        assert data.startswith(b"220 "), data
        sock.sendall(b"QUIT\r\n")
    return elapsed


def assert_responsive(daemon, tries: int = 5) -> tuple[float, float]:
    """Fail unless a DNS query and an SMTP banner each answer within
    :data:`BOUND` (best of ``tries``); returns the two best times."""
    dns = min(dns_seconds(daemon.port("dns")) for _ in range(tries))
    smtp = min(smtp_banner_seconds(daemon.port("smtp")) for _ in range(tries))
    assert dns < BOUND, f"DNS answered in {dns * 1000:.0f} ms at best during the attack"
    assert smtp < BOUND, f"SMTP greeted in {smtp * 1000:.0f} ms at best during the attack"
    return dns, smtp


def probes_during(attack, dns_port: int, smtp_port: int, *, threads: int = 4, probes: int = 7,
                  dns_name: str = "appliance.test", join: float = 30) -> tuple[list[float], list[float]]:
    """Run ``attack`` over and over in ``threads`` threads and, once they
    are under way, time ``probes`` DNS queries and SMTP banners; returns the
    two lists of seconds. The attackers stop (and are joined) before this
    returns, whatever the probes did."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            attack()

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(0.5)
        dns = [dns_seconds(dns_port, dns_name) for _ in range(probes)]
        smtp = [smtp_banner_seconds(smtp_port) for _ in range(probes)]
    finally:
        stop.set()
        for worker in workers:
            worker.join(join)
    return dns, smtp
