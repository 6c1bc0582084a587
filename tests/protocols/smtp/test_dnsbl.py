"""DNS blocklists on the MX (RFC 5782), against our own blocklist server on
127.0.0.1 that ``[dnsbl] resolver`` points at. Every test client is on
loopback: bound to 127.0.0.N, each stands for another host, listed or not."""

from __future__ import annotations

import smtplib
import socket
import threading
import time
import uuid

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from tests.conftest import wait_for

from .conftest import PASSWORD, Mta, provision, scrape, tls_client_context

LISTED_IP = "127.0.0.2"
REFUSED_IP = "127.0.0.3"
EXEMPT_IP = "127.0.0.5"
TIMEOUT = 1


class BlocklistDNS:
    """A UDP DNS server for blocklist zones: ``listed`` maps a query name
    to its A answer; names under a ``silent`` zone get no answer at all."""

    def __init__(self, listed: dict[str, str], silent: tuple[str, ...]):
        self.listed = listed
        self.silent = silent
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(4096)
                request = DNSRecord.parse(data)
            except OSError:
                return
            except Exception:  # noqa: BLE001 - ignore garbage
                continue
            name = str(request.q.qname).rstrip(".").lower()
            if name.endswith(self.silent):
                continue
            reply = request.reply()
            if name in self.listed and request.q.qtype == QTYPE.A:
                reply.add_answer(RR(name, QTYPE.A, rdata=A(self.listed[name]), ttl=60))
            else:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), addr)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def mta(tmp_path_factory, stub_dns):
    blocklist = BlocklistDNS({
        "2.0.0.127.bl.test": "127.0.0.2",
        "5.0.0.127.bl.test": "127.0.0.4",
        "3.0.0.127.bl.test": "127.255.255.254",
    }, silent=("slow.test",))
    extra = f"""
[dnsbl]
zones = ["slow.test", "bl.test"]
resolver = "127.0.0.1:{blocklist.port}"
timeout = {TIMEOUT}
exempt_networks = ["{EXEMPT_IP}/32"]
"""
    m = Mta(tmp_path_factory.mktemp("dnsbl"), stub_dns, extra)
    m.remote.start()  # bound before provisioning: no other process takes its port meanwhile
    provision(m)
    m.daemon.start()
    yield m
    m.daemon.stop()
    m.remote.stop()
    blocklist.close()


def _rcpt(mta, source: str, sender: str = "someone@remote.test", rcpt: str = "alice@acme.test") -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=(source, 0)) as client:
        client.ehlo("mx.remote.test")
        client.mail(sender)
        return client.rcpt(rcpt)


def test_a_listed_client_is_refused_with_the_list_named(mta):
    """127.0.0.2 is in bl.test (127.0.0.2): its RCPT gets 554 5.7.1 naming bl.test and the client."""
    assert _rcpt(mta, LISTED_IP) == (554, b"5.7.1 Client host [127.0.0.2] is listed by bl.test")


def test_blocklist_hits_are_counted_by_zone_in_the_metrics(mta):
    """Each refused RCPT of a listed client counts one hit of bl.test; slow.test, which never answers, none."""
    before = scrape(mta, "appliance_dnsbl_hits_total", zone="bl.test")
    for _ in range(2):
        assert _rcpt(mta, LISTED_IP)[0] == 554
    assert scrape(mta, "appliance_dnsbl_hits_total", zone="bl.test") == before + 2
    assert scrape(mta, "appliance_dnsbl_hits_total", zone="slow.test") == 0


def test_a_query_refused_answer_is_not_a_listing(mta):
    """127.255.255.254 means the list refused to answer: the client is accepted and the log says why."""
    assert _rcpt(mta, REFUSED_IP)[0] == 250
    assert "bl.test refused our query for [127.0.0.3]" in mta.daemon.log()


def test_an_unlisted_client_is_accepted_once_the_silent_list_times_out(mta):
    """slow.test never answers: 127.0.0.4 (listed nowhere) gets 250 after
    about the timeout, and meanwhile another session is served at once."""
    started = time.monotonic()
    box = {}

    def slow() -> None:
        box["reply"] = _rcpt(mta, "127.0.0.4")

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.2)
    with smtplib.SMTP("127.0.0.1", mta.port("smtp"), timeout=10, source_address=("127.0.0.6", 0)) as other:
        before = time.monotonic()
        assert other.noop()[0] == 250
        assert time.monotonic() - before < 0.5
    thread.join(10)
    assert box["reply"][0] == 250
    assert time.monotonic() - started < TIMEOUT + 2


def test_an_exempt_network_is_not_looked_up(mta):
    """127.0.0.5 is listed (127.0.0.4) but in exempt_networks: accepted."""
    assert _rcpt(mta, EXEMPT_IP)[0] == 250


def test_an_address_our_user_wrote_to_is_accepted_from_a_listed_client(mta):
    """bob writes to a friend; the friend's answer from a listed host is accepted."""
    friend = f"friend-{uuid.uuid4().hex[:6]}@remote.test"
    with smtplib.SMTP_SSL("127.0.0.1", mta.port("submissions"), timeout=10, context=tls_client_context()) as client:
        client.login("bob@acme.test", PASSWORD)
        client.sendmail("bob@acme.test", [friend], b"From: bob@acme.test\r\nSubject: hi\r\n\r\nhi\r\n")
    wait_for(lambda: any(friend in m.rcpt_tos for m in mta.remote.messages))
    assert _rcpt(mta, LISTED_IP, sender=friend, rcpt="bob@acme.test")[0] == 250
