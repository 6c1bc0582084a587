"""The DNS TCP idle timeout ([dns] tcp_idle_seconds, RFC 7766 section 6.2.3)
counts from the last complete query, not the last byte: a client trickling
a query a byte at a time is closed on time, one asking real queries is not."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from dnslib import DNSRecord

from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols.dns.digging import dig_runner, wait_for_zone
from tests.protocols.liveness import assert_responsive

IDLE = 2
#: The idle clock must have fired by then (a loaded 2-core machine).
LATE = IDLE + 4


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    work = tmp_path_factory.mktemp("dns-idle")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(TEST_CONFIG + f"\n[dns]\ntcp_idle_seconds = {IDLE}\n")
    Cli(state, config)("tenant", "add", "acme", "--domain", "acme.example")
    d = Daemon(state, config, work / "daemon.log").start()
    wait_for_zone(dig_runner(d.port("dns")), "acme.example")
    yield d
    d.stop()


def test_a_query_trickled_a_byte_at_a_time_is_closed_after_the_idle_time(daemon):
    """Announcing a 300-byte query and sending a byte every 0.5 s does not
    keep the connection: it is closed [dns] tcp_idle_seconds after it opened,
    while DNS and SMTP answer other clients."""
    with socket.create_connection(("127.0.0.1", daemon.port("dns")), timeout=1) as sock:
        start = time.monotonic()
        sock.sendall(struct.pack("!H", 300))
        closed_after = None
        for i in range(4 * LATE):
            try:
                sock.sendall(b"\0")
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except TimeoutError:
                pass
            except (ConnectionResetError, BrokenPipeError):
                closed_after = time.monotonic() - start
                break
            if i == 1:
                assert_responsive(daemon)
            time.sleep(0.5)
            if time.monotonic() - start > LATE:
                break
    assert closed_after is not None, f"still open after {time.monotonic() - start:.1f}s of trickling"
    assert closed_after < LATE


def test_complete_queries_keep_the_connection_open_past_the_idle_time(daemon):
    """A query every second on one connection, for twice the idle time: every one is answered."""
    with socket.create_connection(("127.0.0.1", daemon.port("dns")), timeout=5) as sock:
        for i in range(2 * IDLE + 1):
            query = DNSRecord.question("acme.example", "SOA")
            packet = query.pack()
            sock.sendall(struct.pack("!H", len(packet)) + packet)
            head = sock.recv(2, socket.MSG_WAITALL)
            assert len(head) == 2, f"closed before answer {i + 1}"
            (length,) = struct.unpack("!H", head)
            reply = DNSRecord.parse(sock.recv(length, socket.MSG_WAITALL))
            assert reply.header.id == query.header.id and reply.header.rcode == 0
            time.sleep(1)
