"""Authoritative DNS through the real daemon, asked with dig and kdig."""

from __future__ import annotations

import socket
import sqlite3
import struct
import subprocess
import time

import pytest
from dnslib import DNSRecord

from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols.dns.digging import dig_runner, wait_for_zone


@pytest.fixture(scope="module")
def dns(tmp_path_factory):
    """One daemon for the module serving business acme with its own domain;
    returns a dig runner (``.cli`` runs the CLI on the same state)."""
    tmp = tmp_path_factory.mktemp("dns")
    state = tmp / "state"
    state.mkdir()
    config = tmp / "appliance.toml"
    config.write_text(TEST_CONFIG)
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--domain", "acme.example")
    daemon = Daemon(state, config, tmp / "daemon.log").start()
    port = daemon.port("dns")
    dig = dig_runner(port)
    wait_for_zone(dig, "acme.example")
    dig.port = port  # type: ignore[attr-defined]
    dig.state = state  # type: ignore[attr-defined]
    dig.cli = cli  # type: ignore[attr-defined]
    yield dig
    daemon.stop()


def status(out: str) -> str:
    return out.split("status: ", 1)[1].split(",", 1)[0]


def test_mail_records_are_published(dns):
    """MX, SPF, DMARC, DKIM and the RFC 6186/6764 SRV records of a business domain."""
    assert dns("+short", "acme.example", "MX").split() == ["10", "box.appliance.test."]
    assert dns("+short", "acme.example", "TXT").strip() == '"v=spf1 mx -all"'
    assert "v=DMARC1" in dns("+short", "_dmarc.acme.example", "TXT")
    conn = sqlite3.connect(dns.state / "tenants" / "acme.sqlite3")
    selector, public = conn.execute("SELECT selector, public_b64 FROM dkim_keys WHERE domain = 'acme.example'").fetchone()
    conn.close()
    txt = dns("+short", f"{selector}._domainkey.acme.example", "TXT").replace('" "', "").strip('"\n')
    assert txt.endswith("p=" + public)
    for name, port in (("_submission", 587), ("_submissions", 465), ("_imap", 143), ("_imaps", 993), ("_caldavs", 443), ("_carddavs", 443)):
        assert dns("+short", f"{name}._tcp.acme.example", "SRV").split() == ["0", "1", str(port), "box.appliance.test."]
    assert dns("+short", "_caldavs._tcp.acme.example", "TXT").strip() == '"path=/dav/"'
    assert dns("+short", "autoconfig.acme.example", "A").strip() == "127.0.0.1"


def test_outlook_finds_autodiscover_through_srv(dns):
    """_autodiscover._tcp names the domain's autodiscover host on the HTTPS port, and that host points at the box."""
    assert dns("+short", "_autodiscover._tcp.acme.example", "SRV").split() == ["0", "0", "443", "autodiscover.acme.example."]
    assert dns("+short", "autodiscover.acme.example", "A").strip() == "127.0.0.1"


def test_free_domain_lives_in_the_box_zone(dns):
    """<slug>.<box domain> answers from the box zone, which has NS and glue."""
    assert dns("+short", "acme.appliance.test", "MX").split() == ["10", "box.appliance.test."]
    assert dns("+short", "appliance.test", "NS").split() == ["ns1.appliance.test.", "ns2.appliance.test."]
    assert dns("+short", "ns1.appliance.test", "A").strip() == "127.0.0.1"


def test_negative_answers_carry_the_soa(dns):
    """NXDOMAIN and NODATA (including an empty non-terminal) have AA and the SOA with the negative TTL."""
    out = dns("nothing.acme.example", "A")
    assert status(out) == "NXDOMAIN" and " aa" in out
    assert "300\tIN\tSOA" in out
    out = dns("acme.example", "AAAA")
    assert status(out) == "NOERROR" and "ANSWER: 0" in out and "IN\tSOA" in out
    out = dns("_tcp.acme.example", "A")
    assert status(out) == "NOERROR" and "ANSWER: 0" in out


def test_names_we_do_not_serve_are_refused_without_recursion(dns):
    """A foreign name is REFUSED; RA is never set."""
    out = dns("example.org", "A")
    assert status(out) == "REFUSED"
    assert " ra" not in out.split("flags:")[1].split(";")[0]


def test_letter_case_of_the_question_is_preserved(dns):
    """The answer echoes the client's mixed case (0x20 randomisation)."""
    out = dns("AcMe.ExAmPlE", "MX")
    assert "AcMe.ExAmPlE.\t\t3600\tIN\tMX" in out


def udp_query(port: int, name: str, qtype: str, qid: int) -> DNSRecord:
    """One query with fixed bytes apart from ``qid`` (no EDNS cookie, unlike dig)."""
    query = DNSRecord.question(name, qtype)
    query.header.id = qid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query.pack(), ("127.0.0.1", port))
        return DNSRecord.parse(sock.recv(4096))


def test_a_repeated_query_gets_its_own_id_and_letter_case(dns):
    """The same query bytes sent again (answered from the cache of finished answers) carry the new ID;
    the same name in other letter case is answered in that case."""
    first = udp_query(dns.port, "WwW.AcMe.ExAmPlE", "A", 0x1111)
    again = udp_query(dns.port, "WwW.AcMe.ExAmPlE", "A", 0x2222)
    lower = udp_query(dns.port, "www.acme.example", "A", 0x3333)
    assert (first.header.id, again.header.id, lower.header.id) == (0x1111, 0x2222, 0x3333)
    assert str(again.q.qname) == str(again.rr[0].rname) == "WwW.AcMe.ExAmPlE."
    assert str(lower.q.qname) == "www.acme.example."
    assert again.pack()[2:] == first.pack()[2:] and str(again.rr[0].rdata) == "127.0.0.1"


def test_edns_is_echoed_and_newer_versions_get_badvers(dns):
    """EDNS(0) is answered with a 1232 payload; version 1 gets BADVERS."""
    assert "udp: 1232" in dns("acme.example", "MX")
    out = dns("+edns=1", "+noednsnegotiation", "acme.example", "MX")
    assert "status: BADVERS" in out


def test_tcp_and_kdig_give_the_same_answer(dns):
    """kdig over TCP gets the same MX as dig over UDP."""
    assert dns("+tcp", "+short", "acme.example", "MX") == dns("+short", "acme.example", "MX")
    assert "10 box.appliance.test." in dns("+tcp", "+short", "acme.example", "MX", tool="kdig")


def test_several_queries_on_one_tcp_connection(dns):
    """Three length-framed queries on one TCP connection each get an answer (RFC 7766)."""
    with socket.create_connection(("127.0.0.1", dns.port), timeout=5) as sock:
        for i, name in enumerate(("acme.example", "www.acme.example", "nope.acme.example")):
            q = DNSRecord.question(name, "A")
            q.header.id = 1000 + i
            wire = q.pack()
            sock.sendall(struct.pack("!H", len(wire)) + wire)
        answers = []
        buf = b""
        while len(answers) < 3:
            buf += sock.recv(65535)
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                answers.append(DNSRecord.parse(buf[2 : 2 + n]))
                buf = buf[2 + n :]
    assert [a.header.id for a in answers] == [1000, 1001, 1002]
    assert [a.header.rcode for a in answers] == [0, 0, 3]


def hostile(port: int, packet: bytes) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(packet, ("127.0.0.1", port))
        try:
            return sock.recv(4096)
        except socket.timeout:
            return None


def test_hostile_packets_get_formerr_or_nothing_and_the_server_keeps_answering(dns):
    """Pointer chains, oversize, long labels, two questions, runts: FORMERR or silence, quickly."""
    header = struct.pack("!HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0)
    chain = b"".join(struct.pack("!H", 0xC000 | (12 + 2 * (i + 1))) for i in range(2000))
    cases = {
        "pointer chain": header + chain,
        "16 KB": header + b"\x01a" * 8000 + b"\x00\x00\x01\x00\x01",
        "label over 63": header + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
        "name over 255": header + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01",
        "two questions": struct.pack("!HHHHHH", 0xBEEF, 0x0100, 2, 0, 0, 0) + b"\x01a\x00\x00\x01\x00\x01" * 2,
        "truncated question": header + b"\x04acme",
    }
    started = time.monotonic()
    for name, packet in cases.items():
        reply = hostile(dns.port, packet)
        if reply is not None:
            qid, flags = struct.unpack("!HH", reply[:4])
            assert qid == 0xBEEF and flags & 0xF in (1, 4), name
    assert hostile(dns.port, b"\x12") is None
    assert time.monotonic() - started < 10
    assert "10 box.appliance.test." in dns("+short", "acme.example", "MX")


def test_serial_changes_only_when_the_zone_changes(dns):
    """A user added changes no zone; a new business's zone leaves others' serials; a new free domain bumps the box zone."""
    cli = dns.cli

    def serial(name):
        return int(dns("+short", name, "SOA").split()[2])

    before = serial("acme.example")
    cli("user", "add", "ann@acme.example")
    time.sleep(2.5)
    assert serial("acme.example") == before
    cli("tenant", "add", "beta", "--domain", "beta.example")
    deadline = time.monotonic() + 15
    while "NOERROR" not in dns("beta.example", "SOA"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert serial("acme.example") == before
    box_before = serial("appliance.test")
    cli("tenant", "add", "gamma")
    deadline = time.monotonic() + 15
    while serial("appliance.test") == box_before:
        assert time.monotonic() < deadline, "box zone serial did not change when a free domain was added"
        time.sleep(0.2)


def test_a_business_record_change_never_reaches_another_zone(dns):
    """Removing one business's domain removes its zone and leaves the other's answers unchanged."""
    cli = dns.cli
    cli("tenant", "add", "delta", "--domain", "delta.example")
    deadline = time.monotonic() + 15
    while "NOERROR" not in dns("delta.example", "SOA"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    mx = dns("+short", "acme.example", "MX")
    serial = dns("+short", "acme.example", "SOA")
    cli("domain", "remove", "delta.example")
    deadline = time.monotonic() + 15
    while "REFUSED" not in dns("delta.example", "SOA"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert dns("+short", "acme.example", "MX") == mx
    assert dns("+short", "acme.example", "SOA") == serial


def test_dns_show_matches_what_the_server_answers_and_is_a_valid_zone(dns, tmp_path):
    """Every record `appliance dns show` lists is what dig gets; named-checkzone accepts the zone file."""
    cli = dns.cli
    shown = cli.json("dns", "show", "acme.example")
    assert shown["zone"] == "acme.example"
    by_rrset: dict[tuple[str, str], list[str]] = {}
    for record in shown["records"]:
        by_rrset.setdefault((record["name"], record["type"]), []).append(record["data"])
    for (name, rtype), values in by_rrset.items():
        answer = dns("+short", name, rtype).strip().splitlines()
        # dig splits the base64 of keys and the hex of digests into chunks.
        fields = 3 if rtype in ("DNSKEY", "CDNSKEY", "CDS") else 99
        normalise = (lambda v: " ".join(v.split(maxsplit=fields)[:fields] + ["".join(v.split()[fields:])]).strip().lower())
        assert sorted(map(normalise, answer)) == sorted(map(normalise, values)), (name, rtype)
    zone_file = tmp_path / "acme.example.zone"
    zone_file.write_text(cli("dns", "show", "acme.example").stdout)
    check = subprocess.run(["named-checkzone", "acme.example", str(zone_file)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "OK" in check.stdout
