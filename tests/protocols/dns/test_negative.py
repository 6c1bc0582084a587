"""Negative answers from templates (protocols/dns/negative.py) are the very
bytes the answer packer gives, for random names, letter cases and EDNS states;
and a flood of never-asked names through the daemon gets them."""

from __future__ import annotations

import random
import socket

import dns.message
import dns.rcode
import pytest
from dnslib import EDNS0, QTYPE, DNSRecord

from appliance.zones import BoxDns, BusinessDns, CustomRecord, build_zones
from protocols.dns.engine import MAX_UDP_PAYLOAD, Engine, _patch
from protocols.dns.wire import parse_query
from tests.conftest import Daemon
from tests.protocols.dns.digging import dig_runner, wait_for_zone

RECORDS = (
    ("www2", "A", "192.0.2.10"),
    ("x.ent", "TXT", "deep"),  # ent.acme.example: an empty non-terminal
    ("alias", "CNAME", "www2.acme.example."),
    ("chain", "CNAME", "alias.acme.example."),
    ("out", "CNAME", "www.beta.example."),
    ("sub", "NS", "ns1.sub.acme.example."),
    ("ns1.sub", "A", "192.0.2.53"),
    ("big", "TXT", "b" * 2000),
    ("v6", "AAAA", "2001:db8::1"),
)
WILD_RECORDS = (("*", "TXT", "wild"), ("*.deep", "A", "192.0.2.7"), ("a.b.c", "A", "192.0.2.8"))
TYPES = ("A", "AAAA", "MX", "TXT", "SRV", "CNAME", "NS", "SOA", "CAA", "DS", "ANY", "PTR", "HINFO")


def engine(admin_email: str) -> Engine:
    """Zones acme.example (named records, a delegation, CNAMEs), wild.example
    (wildcards) and the box zone; the SOA's RNAME comes from ``admin_email``."""
    box = BoxDns("box.appliance.test", "appliance.test", ("ns1.appliance.test", "ns2.appliance.test"),
                 ("127.0.0.1",), ("::1",), admin_email)
    businesses = [
        BusinessDns("acme", "acme.appliance.test", ("acme.example",),
                    records=tuple(CustomRecord("acme.example", f"{n}.acme.example", t, v) for n, t, v in RECORDS)),
        BusinessDns("wild", "wild.appliance.test", ("wild.example",),
                    records=tuple(CustomRecord("wild.example", f"{n}.wild.example", t, v) for n, t, v in WILD_RECORDS)),
    ]
    zones = build_zones(box, businesses)
    for serial, zone in enumerate(zones.values(), 2026120401):
        zone.serial = serial
    eng = Engine()
    eng.load(zones, box)
    return eng


def random_case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def random_name(rng: random.Random, eng: Engine) -> str:
    """A name that exists, is just below one that exists, or is random, in
    one of our zones or outside them."""
    known = sorted({name for zone in (eng.zone(o) for o in eng.origins()) for name in zone.names})
    kind = rng.random()
    if kind < 0.25:
        return rng.choice(known)
    label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789-_") for _ in range(rng.randint(1, 63)))
    if kind < 0.85:
        name = label + "." + rng.choice(known)
    elif kind < 0.9:
        name = rng.choice(("hostmaster", "ns1", "ns2", "x.hostmaster")) + "." + rng.choice(known)
    else:
        name = label + "." + rng.choice(("example.org", "org", "example", "appliance.tes"))
    return name if len(name) < 250 else name[-200:].lstrip(".-").partition(".")[2] or "example.org"


def query_bytes(rng: random.Random, name: str) -> bytes:
    record = DNSRecord.question(random_case(rng, name), rng.choice(TYPES), qclass=rng.choice(("IN",) * 9 + ("CH",)))
    record.header.id = rng.randrange(65536)
    record.header.rd = rng.random() < 0.5
    edns = rng.random()
    if edns < 0.6:
        version = 1 if edns < 0.05 else 0
        flags = "do" if rng.random() < 0.5 else ""
        payload = rng.choice((512, 1232, 4096, 600, 1400))
        record.add_ar(EDNS0(udp_len=payload, version=version, flags=flags))
    return bytes(record.pack())


@pytest.mark.parametrize("admin_email", ["hostmaster@appliance.test", "hostmaster@acme.example"])
def test_template_answers_are_the_packed_answers_byte_for_byte(admin_email):
    """For thousands of random queries (names that exist, random names below
    every name, foreign names, names the SOA compresses against, random
    letter case, RD, class, with and without EDNS, DO, several payload sizes
    and BADVERS), the answer is byte for byte what dnslib packs the slow
    way, and most random names do go through the templates."""
    rng = random.Random(admin_email)
    eng = engine(admin_email)
    count = 6000
    for _ in range(count):
        data = query_bytes(rng, random_name(rng, eng))
        for tcp in (False, True):
            query = parse_query(data, tcp=tcp)
            fast = eng.answer(query, tcp=tcp)
            limit = 65535 if tcp else (min(query.payload, MAX_UDP_PAYLOAD) if query.edns else 512)
            slow = _patch(eng._build(query, limit), query)
            assert fast == slow, (query, fast, slow)
    # About 60 % of the names are random: most of them must take the fast path.
    assert eng.negatives > count, eng.negatives


def sibling(rng: random.Random, data: bytes, eng: Engine) -> bytes:
    """``data`` with a new ID and another first label: random (letters of
    both cases, digits, sometimes a dot or a non-ASCII octet, 1-63 octets)
    or the first label of a name that exists."""
    first = data[12]
    kind = rng.random()
    if kind < 0.3:
        names = [n for z in (eng.zone(o) for o in eng.origins()) for n in z.names] + eng.origins()
        label = random_case(rng, rng.choice(names).partition(".")[0] or "x").encode("latin-1")
    else:
        label = bytes(rng.choice(b"abcXYZ019-_.\xc0\xe9") if rng.random() < 0.1 else rng.choice(b"abcdefXYZ0189")
                      for _ in range(rng.randint(1, 63)))
    return rng.randbytes(2) + data[2:12] + bytes([len(label)]) + label + data[13 + first :]


@pytest.mark.parametrize("admin_email", ["hostmaster@appliance.test", "hostmaster@acme.example"])
def test_answers_learnt_from_a_sibling_are_the_packed_answers_byte_for_byte(admin_email):
    """After a UDP query is answered (and learnt), queries that differ only by
    ID and first label get from ``quick_negative`` either nothing (the full
    path then answers) or byte for byte the packed answer; siblings of a
    random name get it from there."""
    rng = random.Random("siblings" + admin_email)
    eng = engine(admin_email)
    quick = 0
    for _ in range(1500):
        data = query_bytes(rng, random_name(rng, eng))
        query = parse_query(data)
        eng.answer(query, tcp=False)
        eng.learn(data, query)
        for _ in range(8):
            other = sibling(rng, data, eng)
            fast = eng.quick_negative(other)
            if fast is None:
                continue
            quick += 1
            query = parse_query(other)
            if not query.qname.isascii() or b"." in other[13 : 13 + other[12]]:
                # dnslib cannot pack such a name (the full path answers those
                # from templates too): compare with the same label in ASCII.
                assert b"." not in other[13 : 13 + other[12]]
                end = 13 + other[12]
                plain = other[:13] + bytes(c if c < 128 else 0x71 for c in other[13:end]) + other[end:]
                question = slice(12, 12 + len(query.qname_wire) + 4)
                assert fast[question] == other[question]
                assert fast[:12] + fast[question.stop :] == (eng.quick_negative(plain)[:12] +
                                                             eng.quick_negative(plain)[question.stop :])
                continue
            limit = min(query.payload, MAX_UDP_PAYLOAD) if query.edns else 512
            assert fast == _patch(eng._build(query, limit), query), (query, fast)
    assert quick > 4000, quick


def test_template_answer_fields_for_mixed_case_names_with_edns():
    """Read back with dnspython: the question in the query's letter case, the
    SOA owner (a pointer into the question) equal to the zone, the OPT record
    with our payload, NXDOMAIN and AA, and the ID and RD of the query."""
    eng = engine("hostmaster@appliance.test")
    rng = random.Random(5)
    for _ in range(500):
        label = "".join(rng.choice("abcdefghijKLMNOPQRSTUVWXYZ0123456789") for _ in range(rng.randint(1, 40)))
        name = f"{label}.{random_case(rng, 'acme.example')}"
        data = query_bytes(rng, name)
        query = parse_query(data)
        if query.qclass != 1 or query.edns_version or query.qtype == QTYPE.ANY:
            continue
        before = eng.negatives
        reply = dns.message.from_wire(eng.answer(query, tcp=False))
        assert eng.negatives == before + 1
        asked = dns.message.from_wire(data)
        assert reply.id == asked.id and (reply.flags & 0x0100) == (asked.flags & 0x0100)
        assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & 0x0400
        assert reply.question[0].name.to_text() == asked.question[0].name.to_text()  # case kept
        assert reply.question[0].name.to_text().lower() == name.lower() + "."
        (soa,) = reply.authority
        assert soa.name.to_text().lower() == "acme.example." and soa.ttl == 300
        assert soa[0].mname.to_text() == "ns1.appliance.test." and soa[0].minimum == 300
        if query.edns:
            assert reply.edns == 0 and reply.payload == MAX_UDP_PAYLOAD and not reply.ednsflags
        else:
            assert reply.edns == -1


def test_random_names_flood_through_the_daemon_get_their_own_nxdomain(cli, state_dir, config_file, tmp_path):
    """Thousands of distinct never-asked names over UDP, several in flight at
    once: every answer carries its own ID and question (letter case kept),
    NXDOMAIN (or REFUSED outside our zones) and the zone's SOA."""
    cli("tenant", "add", "acme", "--domain", "acme.example")
    daemon = Daemon(state_dir, config_file, tmp_path / "daemon.log").start()
    try:
        _flood(daemon.port("dns"))
    finally:
        daemon.stop()


def _flood(port: int) -> None:
    wait_for_zone(dig_runner(port), "acme.example")
    rng = random.Random(9)
    sent: dict[int, tuple[str, bool]] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        got = 0
        for batch in range(40):
            for i in range(50):
                qid = batch * 50 + i
                foreign = rng.random() < 0.1
                label = "".join(rng.choice("abcXYZ0189") for _ in range(rng.randint(5, 30)))
                name = f"{label}.{'Example.ORG' if foreign else random_case(rng, 'acme.example')}"
                record = DNSRecord.question(name, rng.choice(("A", "AAAA", "TXT")))
                record.header.id = qid
                if rng.random() < 0.5:
                    record.add_ar(EDNS0(udp_len=1232))
                sock.sendto(record.pack(), ("127.0.0.1", port))
                sent[qid] = (name, foreign)
            for _ in range(50):
                reply = dns.message.from_wire(sock.recv(4096))
                name, foreign = sent.pop(reply.id)
                assert reply.question[0].name.to_text(omit_final_dot=True) == name
                if foreign:
                    assert reply.rcode() == dns.rcode.REFUSED and not reply.authority
                else:
                    assert reply.rcode() == dns.rcode.NXDOMAIN
                    assert reply.authority[0].name.to_text().lower() == "acme.example."
                got += 1
    assert got == 2000 and not sent
