"""The DNS service inside a running app: ACME challenges published through
its internal call, and response rate limiting of UDP answers."""

from __future__ import annotations

import asyncio
import socket
import tomllib

import pytest
from dnslib import DNSRecord

from appliance import dnsdata
from appliance.app import App
from appliance.errors import InvalidInput, NotFound
from appliance.settings import from_mapping
from protocols.dns.rrl import RateLimiter
from storage import box as boxdb
from tests.conftest import TEST_CONFIG


def make_app(tmp_path, dns_section: str) -> App:
    settings = from_mapping(tomllib.loads(TEST_CONFIG + "\n[dns]\n" + dns_section), "<test>")
    app = App(settings, tmp_path / "state")
    app.provisioning.create_tenant("acme", domain="acme.example")
    return app


async def dig(port: int, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    return out.decode()


def run(app: App, scenario) -> None:
    async def main() -> None:
        await app.start(("dns",))
        try:
            await scenario(app.running.dns, app.listeners["dns"][0][1])
        finally:
            await app.stop()

    asyncio.run(main())


def test_acme_challenge_is_published_and_withdrawn_at_once(tmp_path):
    """set_acme_challenge makes the TXT answer at once with a new, stored serial; clear_acme_challenge removes it."""
    app = make_app(tmp_path, "rrl_rate = 0\n")

    async def scenario(service, port):
        name = "_acme-challenge.www.acme.example"
        before = int((await dig(port, "+short", "acme.example", "SOA")).split()[2])
        assert "NXDOMAIN" in await dig(port, name, "TXT")
        await service.set_acme_challenge("www.acme.example", ["tok-1_A", "tok-2"])
        assert sorted((await dig(port, "+short", name, "TXT")).split()) == ['"tok-1_A"', '"tok-2"']
        after = int((await dig(port, "+short", "acme.example", "SOA")).split()[2])
        assert after > before
        stored = await app.box.read("serials", boxdb.dns_serials)
        assert stored["acme.example"][1] == after
        await service.clear_acme_challenge("www.acme.example")
        assert "NXDOMAIN" in await dig(port, name, "TXT")
        assert int((await dig(port, "+short", "acme.example", "SOA")).split()[2]) > after

    run(app, scenario)


def test_acme_challenge_refuses_bad_values_and_foreign_names(tmp_path):
    """Values that are not base64url, names outside our zones and delegated names are refused; nothing is published."""
    app = make_app(tmp_path, "rrl_rate = 0\n")
    dnsdata.add_record(app, "acme.example", "sub", "NS", "ns.elsewhere.example.")

    async def scenario(service, port):
        with pytest.raises(InvalidInput):
            await service.set_acme_challenge("acme.example", ['a" "b'])
        with pytest.raises(InvalidInput):
            await service.set_acme_challenge("acme.example", [])
        with pytest.raises(NotFound):
            await service.set_acme_challenge("example.org", ["tok"])
        with pytest.raises(InvalidInput):
            await service.set_acme_challenge("host.sub.acme.example", ["tok"])  # delegated
        assert "NXDOMAIN" in await dig(port, "_acme-challenge.acme.example", "TXT")

    run(app, scenario)


def burst(port: int, name: str, count: int) -> tuple[int, int]:
    """Send ``count`` identical queries at once; returns (full answers, truncated answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        wire = DNSRecord.question(name, "A").pack()
        for _ in range(count):
            sock.sendto(wire, ("127.0.0.1", port))
        full = truncated = 0
        while True:
            try:
                reply = DNSRecord.parse(sock.recv(4096))
            except socket.timeout:
                return full, truncated
            if reply.header.tc:
                truncated += 1
                assert not reply.rr and str(reply.q.qname) == name + "."
            else:
                full += 1


def test_rate_limit_drops_and_slips_a_burst_from_one_prefix(tmp_path):
    """With loopback not exempt: beyond the rate, answers are dropped except every 2nd, sent with TC=1;
    another kind of answer and TCP are still served."""
    app = make_app(tmp_path, "rrl_rate = 5\nrrl_slip = 2\nrrl_exempt_loopback = false\n")

    async def scenario(service, port):
        full, truncated = await asyncio.to_thread(burst, port, "www.acme.example", 60)
        assert 5 <= full <= 8
        assert 20 <= truncated <= 30
        assert full + truncated < 60
        assert "NXDOMAIN" in await dig(port, "missing.acme.example", "A")
        assert (await dig(port, "+tcp", "+short", "www.acme.example", "A")).strip() == "127.0.0.1"

    run(app, scenario)


def test_rate_limiter_memory_is_bounded():
    """Ten thousand source prefixes leave at most max_prefixes buckets."""
    limiter = RateLimiter(rate=10, slip=2, max_prefixes=100, exempt_loopback=False)
    answer = b"\x00\x00\x84\x00\x00\x01\x00\x01\x00\x00\x00\x00"
    for i in range(10_000):
        limiter.check(f"10.{i // 256 % 256}.{i % 256}.1", answer)
    assert len(limiter.buckets) <= 100
