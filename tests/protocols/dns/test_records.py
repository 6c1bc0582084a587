"""A business's own records (``appliance dns add|remove|show``) and the answer
rules they exercise (RFC 1034, 4592, 7766, 8482), asked with dig and kdig."""

from __future__ import annotations

import socket
import struct
import time
import tomllib

import pytest
from dnslib import DNSRecord

from appliance import dnsdata
from appliance.app import App
from appliance.errors import ApplianceError, LimitExceeded
from appliance.settings import from_mapping
from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols.dns.digging import dig_runner, wait_for_zone

TCP_IDLE = 2


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """One daemon for the module: businesses acme and beta, with records added.

    Most records go in through the function the CLI calls (in this process,
    to save a Python start per record); `--ttl` and the tests below use the
    CLI itself."""
    tmp = tmp_path_factory.mktemp("dnsrecords")
    state = tmp / "state"
    state.mkdir()
    config = tmp / "appliance.toml"
    config.write_text(TEST_CONFIG + f'\n[dns]\ntcp_idle_seconds = {TCP_IDLE}\n[acme]\ncaa = ["letsencrypt.org"]\n')
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--domain", "acme.example")
    cli("tenant", "add", "beta", "--domain", "beta.example")
    app = App(from_mapping(tomllib.loads(config.read_text()), str(config)), state)
    for args in (
        ("www2", "A", "192.0.2.10"),
        ("*", "TXT", "wild"),
        ("x.ent", "TXT", "deep"),  # makes ent.acme.example an empty non-terminal
        ("alias", "CNAME", "www2"),
        ("chain", "CNAME", "alias.acme.example."),
        ("shop", "CNAME", "www.beta.example."),
        ("loop1", "CNAME", "loop2.acme.example."),
        ("loop2", "CNAME", "loop1.acme.example."),
        ("sub", "NS", "ns1.sub.acme.example."),
        ("sub", "NS", "ns.elsewhere.example."),
        ("ns1.sub", "A", "192.0.2.53"),
        ("big", "TXT", "b" * 2000),
        ("@", "TXT", "google-site-verification=xyz"),
        ("sip", "SRV", "10 5 5060 sip.provider.example."),
        ("@", "CAA", '0 issuewild ";"'),
        ("mail2", "MX", "20 mx.provider.example."),
        ("v6", "AAAA", "2001:DB8::1"),
    ):
        dnsdata.add_record(app, "acme.example", *args)
    cli("dns", "add", "acme.example", "short", "A", "192.0.2.11", "--ttl", "60")
    daemon = Daemon(state, config, tmp / "daemon.log").start()
    port = daemon.port("dns")
    dig = dig_runner(port)
    wait_for_zone(dig, "acme.example")
    dig.port = port  # type: ignore[attr-defined]
    dig.cli = cli  # type: ignore[attr-defined]
    dig.app = app  # type: ignore[attr-defined]
    yield dig
    daemon.stop()
    app.close()


def status(out: str) -> str:
    return out.split("status: ", 1)[1].split(",", 1)[0]


def flags(out: str) -> set[str]:
    # dig writes "flags:", kdig "Flags:".
    return set(out.replace("Flags: ", "flags: ").split("flags: ", 1)[1].split(";", 1)[0].split())


def answers(out: str) -> list[str]:
    return [" ".join(line.split()) for line in out.strip().splitlines() if line and not line.startswith(";")]


def test_every_added_record_kind_is_served(env):
    """A, AAAA, CNAME, MX, TXT, SRV, CAA added by the business come back from
    dig, beside the generated CAA of the configured CA."""
    assert env("+short", "www2.acme.example", "A").strip() == "192.0.2.10"
    assert env("+short", "v6.acme.example", "AAAA").strip() == "2001:db8::1"
    assert env("+short", "alias.acme.example", "CNAME").strip() == "www2.acme.example."
    assert env("+short", "mail2.acme.example", "MX").strip() == "20 mx.provider.example."
    assert env("+short", "sip.acme.example", "SRV").strip() == "10 5 5060 sip.provider.example."
    txt = env("+short", "acme.example", "TXT").splitlines()
    assert sorted(txt) == ['"google-site-verification=xyz"', '"v=spf1 mx -all"']
    caa = env("+short", "acme.example", "CAA").splitlines()
    assert sorted(caa) == ['0 issue "letsencrypt.org"', '0 issuewild ";"']
    assert "60\tIN\tA\t192.0.2.11" in env("+noall", "+answer", "short.acme.example", "A")


def test_answers_are_authoritative(env):
    """Answers from our zones carry AA, never RA (kdig agrees)."""
    out = env("www2.acme.example", "A", tool="kdig")
    assert "aa" in flags(out) and "ra" not in flags(out)


def test_wildcard_answers_with_the_query_name(env):
    """RFC 4592: a name that does not exist gets the wildcard's TXT, owned by the query name."""
    out = env("+noall", "+answer", "nothing.acme.example", "TXT")
    assert answers(out) == ['nothing.acme.example. 3600 IN TXT "wild"']
    assert answers(env("+noall", "+answer", "a.b.acme.example", "TXT")) == ['a.b.acme.example. 3600 IN TXT "wild"']


def test_wildcard_type_mismatch_is_nodata(env):
    """A wildcard without the asked type answers NODATA (not NXDOMAIN) with the SOA."""
    out = env("nothing.acme.example", "A")
    assert status(out) == "NOERROR" and "ANSWER: 0" in out and "IN\tSOA" in out


def test_existing_names_and_empty_non_terminals_block_the_wildcard(env):
    """www2 (exists) has no TXT and ent (an empty non-terminal) is NODATA; below ent, no wildcard: NXDOMAIN."""
    out = env("www2.acme.example", "TXT")
    assert status(out) == "NOERROR" and "ANSWER: 0" in out
    out = env("ent.acme.example", "TXT")
    assert status(out) == "NOERROR" and "ANSWER: 0" in out and "IN\tSOA" in out
    assert status(env("nope.ent.acme.example", "TXT")) == "NXDOMAIN"


def test_cname_chain_is_followed_inside_our_zones(env):
    """chain -> alias -> www2: both CNAMEs and the A in one answer; a CNAME to another of our zones is followed too."""
    out = env("+noall", "+answer", "chain.acme.example", "A")
    assert answers(out) == [
        "chain.acme.example. 3600 IN CNAME alias.acme.example.",
        "alias.acme.example. 3600 IN CNAME www2.acme.example.",
        "www2.acme.example. 3600 IN A 192.0.2.10",
    ]
    out = env("+noall", "+answer", "shop.acme.example", "A")
    assert answers(out) == [
        "shop.acme.example. 3600 IN CNAME www.beta.example.",
        "www.beta.example. 300 IN A 127.0.0.1",  # the box's address: [dns] address_ttl
    ]


def test_cname_loop_ends(env):
    """loop1 <-> loop2 answers the two CNAMEs once each, quickly, without SERVFAIL."""
    out = env("loop1.acme.example", "A")
    assert status(out) == "NOERROR"
    assert answers(env("+noall", "+answer", "loop1.acme.example", "A")) == [
        "loop1.acme.example. 3600 IN CNAME loop2.acme.example.",
        "loop2.acme.example. 3600 IN CNAME loop1.acme.example.",
    ]


def test_delegation_is_a_referral_with_glue(env):
    """Below sub: NS in authority, in-zone glue in additional, AA clear, no answer."""
    out = env("+norec", "host.sub.acme.example", "A")
    assert status(out) == "NOERROR" and "aa" not in flags(out) and "ANSWER: 0" in out
    authority = out.split("AUTHORITY SECTION:", 1)[1].split(";;", 1)[0]
    assert sorted(answers(authority)) == [
        "sub.acme.example. 3600 IN NS ns.elsewhere.example.",
        "sub.acme.example. 3600 IN NS ns1.sub.acme.example.",
    ]
    additional = out.split("ADDITIONAL SECTION:", 1)[1].split(";;", 1)[0]
    assert answers(additional) == ["ns1.sub.acme.example. 3600 IN A 192.0.2.53"]


def test_any_is_answered_with_one_rrset(env):
    """RFC 8482: ANY at the apex returns a single RRset, not the whole name."""
    out = env("+noall", "+answer", "acme.example", "ANY")
    types = {line.split()[3] for line in answers(out)}
    assert len(types) == 1


def test_too_big_for_udp_is_truncated_with_the_question(env):
    """A 2000-octet TXT over UDP with a 512 limit: TC=1, the question kept, no records; over TCP it is whole."""
    out = env("+noedns", "+ignore", "big.acme.example", "TXT")
    assert "tc" in flags(out) and "QUERY: 1, ANSWER: 0" in out
    assert ";big.acme.example.\t\tIN\tTXT" in out
    full = env("+tcp", "+short", "big.acme.example", "TXT")
    assert len(full.replace('"', "").replace(" ", "").strip()) == 2000


def test_tcp_connection_idle_past_the_timeout_is_closed(env):
    """RFC 7766 6.2.3: a TCP connection that stays silent is closed by the server after the idle timeout."""
    with socket.create_connection(("127.0.0.1", env.port), timeout=TCP_IDLE + 5) as sock:
        query = DNSRecord.question("acme.example", "SOA").pack()
        sock.sendall(struct.pack("!H", len(query)) + query)
        assert len(sock.recv(65535)) > 2
        started = time.monotonic()
        assert sock.recv(1) == b""  # EOF: the server closed it
        assert TCP_IDLE - 0.5 <= time.monotonic() - started <= TCP_IDLE + 3


REFUSED = [
    ("acme.example", "@", "MX", "5 mx.other.example."),
    ("acme.example", "@", "TXT", "v=spf1 -all"),
    ("acme.example", "_dmarc", "TXT", "v=DMARC1; p=none"),
    ("acme.example", "s1._domainkey", "TXT", "v=DKIM1; p=x"),
    ("acme.example", "autoconfig", "CNAME", "x.example."),
    ("acme.example", "autodiscover", "A", "192.0.2.1"),
    ("acme.example", "_imaps._tcp", "SRV", "0 0 993 x.example."),
    ("acme.example", "_acme-challenge", "TXT", "token"),
    ("acme.example", "_acme-challenge.www", "TXT", "token"),
    ("acme.example", "@", "CNAME", "x.example."),
    ("acme.example", "www", "CNAME", "x.example."),
    ("acme.example", "alias", "TXT", "next to a CNAME"),
    ("acme.example", "alias", "CNAME", "www2"),
    ("acme.example", "@", "NS", "ns.x.example."),
    ("acme.example", "_tcp", "NS", "ns.x.example."),
    ("acme.example", "in.sub", "TXT", "occluded"),
    ("acme.example", "*", "NS", "ns.x.example."),
    ("acme.example", "x.beta.example.", "A", "192.0.2.1"),
    ("acme.example", "box.appliance.test.", "A", "192.0.2.1"),
    ("acme.appliance.test", "beta.appliance.test.", "A", "192.0.2.1"),
    ("acme.appliance.test", "ns1.appliance.test.", "A", "192.0.2.1"),
    ("beta.example", "x", "A", "999.0.0.1"),
    ("beta.example", "x", "AAAA", "192.0.2.1"),
    ("beta.example", "x", "MX", "mx.example."),
    ("beta.example", "x", "SRV", "0 0 70000 sip.example."),
    ("beta.example", "x", "CAA", "0 issue unquoted\"quote"),
    ("beta.example", "x", "CNAME", "bad_host!.example."),
    ("beta.example", "x", "TXT", "tab\there"),
    ("beta.example", "x", "HINFO", "a b"),
    ("beta.example", "bad..name", "A", "192.0.2.1"),
    ("nobody.example", "x", "A", "192.0.2.1"),
]


def zone_state(app) -> tuple:
    """Everything a refused record must leave untouched: the zones and the stored records."""
    _box, zones = dnsdata.zones_sync(app)
    records = {domain: dnsdata.list_records(app, domain) for domain in ("acme.example", "beta.example", "acme.appliance.test")}
    return {origin: (zone.serial, zone.records) for origin, zone in zones.items()}, records


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: " ".join(c[1:3]) + " " + c[0])
def test_a_record_that_would_break_a_zone_is_refused_and_changes_nothing(env, case):
    """Records that would break mail, clash with a CNAME or a delegation, leave the domain,
    reach another business's or the box's names, or are not valid are refused; nothing changes."""
    before = zone_state(env.app)
    with pytest.raises(ApplianceError) as caught:
        dnsdata.add_record(env.app, *case)
    assert "\n" not in str(caught.value) and str(caught.value)
    assert zone_state(env.app) == before


def test_refused_records_give_one_line_cli_errors(env):
    """Through the CLI, a refused record (mail records, another business, a bad value or TTL) is one error line and exit 1."""
    before = env.cli("dns", "show", "acme.example").stdout
    for case in (REFUSED[0], REFUSED[17], ("beta.example", "x", "A", "999.0.0.1")):
        proc = env.cli("dns", "add", *case, check=False)
        assert proc.returncode == 1, case
        assert proc.stderr.startswith("appliance: error: ") and proc.stderr.count("\n") == 1, (case, proc.stderr)
    proc = env.cli("dns", "add", "beta.example", "x", "A", "192.0.2.1", "--ttl", "5", check=False)
    assert proc.returncode == 1 and "TTL" in proc.stderr and proc.stderr.count("\n") == 1
    assert env.cli("dns", "show", "acme.example").stdout == before


def test_the_record_count_limit_applies_per_business(env):
    """Past [dns] max_records (counted over all the business's domains), LimitExceeded and no new record."""
    existing = len(dnsdata.list_records(env.app, "acme.example")) + len(dnsdata.list_records(env.app, "acme.appliance.test"))
    settings = from_mapping(tomllib.loads(TEST_CONFIG + f"\n[dns]\nmax_records = {existing}\n"), "<test>")
    app = App(settings, env.app.state_dir)
    try:
        with pytest.raises(LimitExceeded):
            dnsdata.add_record(app, "acme.example", "one-more", "A", "192.0.2.7")
        assert not [r for r in dnsdata.list_records(app, "acme.example") if r["name"] == "one-more.acme.example"]
        dnsdata.add_record(app, "beta.example", "one-more", "A", "192.0.2.7")  # another business: its own count
        dnsdata.remove_record(app, "beta.example", "one-more", "A")
    finally:
        app.close()


def test_show_lists_the_added_records_as_json(env):
    """`dns show --json` marks the business's own records; `dns records --json` lists just them."""
    shown = env.cli.json("dns", "show", "acme.example")
    added = {(r["name"], r["type"]) for r in shown["records"] if r["added"]}
    assert ("www2.acme.example", "A") in added and ("sub.acme.example", "NS") in added
    assert ("acme.example", "MX") not in added
    own = env.cli.json("dns", "records", "acme.example")
    assert {"domain": "acme.example", "name": "short.acme.example", "type": "A", "value": "192.0.2.11", "ttl": 60} in own


def test_add_and_remove_change_the_answer_and_the_serial(env):
    """A record added appears within seconds with a higher SOA serial; removed, it is NXDOMAIN again
    (also for a query repeated byte for byte, whose answer is cached)."""
    def serial() -> int:
        return int(env("+short", "beta.example", "SOA").split()[2])

    query = DNSRecord.question("shop.beta.example", "A").pack()

    def same_bytes() -> DNSRecord:
        # The same query bytes each time: answered from the cache of
        # finished answers, which a zone change must drop.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(query, ("127.0.0.1", env.port))
            return DNSRecord.parse(sock.recv(4096))

    assert same_bytes().header.rcode == 3 and same_bytes().header.rcode == 3
    before = serial()
    env.cli("dns", "add", "beta.example", "shop", "A", "192.0.2.99")
    deadline = time.monotonic() + 10
    while env("+short", "shop.beta.example", "A").strip() != "192.0.2.99":
        assert time.monotonic() < deadline, "added record not served"
        time.sleep(0.2)
    assert serial() > before
    assert [str(rr.rdata) for rr in same_bytes().rr] == ["192.0.2.99"]
    env.cli("dns", "remove", "beta.example", "shop", "A")
    deadline = time.monotonic() + 10
    while status(env("shop.beta.example", "A")) != "NXDOMAIN":
        assert time.monotonic() < deadline, "removed record still served"
        time.sleep(0.2)
    assert same_bytes().header.rcode == 3
    proc = env.cli("dns", "remove", "beta.example", "shop", "A", check=False)
    assert proc.returncode == 1 and "no A record" in proc.stderr


def test_free_domain_records_live_in_the_box_zone(env):
    """A record on the free domain is served from the box zone; the box's own names stay untouched."""
    env.cli("dns", "add", "acme.appliance.test", "shop", "A", "192.0.2.98")
    deadline = time.monotonic() + 10
    while env("+short", "shop.acme.appliance.test", "A").strip() != "192.0.2.98":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert env("+short", "box.appliance.test", "A").strip() == "127.0.0.1"


def test_the_boxs_addresses_are_short_lived_and_the_rest_keeps_an_hour(env):
    """What a move to another box changes (the addresses given for the box)
    is forgotten by resolvers within [dns] address_ttl (300 s); MX, TXT and
    the owner's own records keep their TTLs."""
    for name in ("beta.example", "www.beta.example", "autoconfig.beta.example"):
        out = env("+noall", "+answer", name, "A")
        assert answers(out) == [f"{name}. 300 IN A 127.0.0.1"]
    assert answers(env("+noall", "+answer", "beta.example", "MX"))[0].startswith("beta.example. 3600 IN MX")
    assert answers(env("+noall", "+answer", "www2.acme.example", "A")) == ["www2.acme.example. 3600 IN A 192.0.2.10"]
