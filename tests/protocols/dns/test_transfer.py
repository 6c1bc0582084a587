"""Zone transfer to a real secondary: NSD pulls every zone from us with TSIG,
answers as we do, and follows a change after our NOTIFY."""

from __future__ import annotations

import base64
import shutil
import signal
import socket
import struct
import subprocess
import time
import tomllib
from collections import defaultdict

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import pytest

from appliance import dnsdata
from appliance.app import App
from appliance.settings import from_mapping
from tests.conftest import TEST_CONFIG, Cli, Daemon, free_port

SECRET = base64.b64encode(b"transfer-test-secret-0123456789a").decode()
WRONG = base64.b64encode(b"not-the-secret-0123456789abcdefg").decode()
ZONES = ("appliance.test", "acme.example", "beta.example")

pytestmark = pytest.mark.skipif(shutil.which("nsd") is None, reason="NSD (Debian nsd) is not installed")


def nsd_config(tmp, nsd_port: int, our_port: int) -> str:
    lines = [
        "server:", f"  ip-address: 127.0.0.1@{nsd_port}", f"  port: {nsd_port}", f"  zonesdir: {tmp}",
        f"  pidfile: {tmp}/nsd.pid", '  database: ""', '  username: ""', '  chroot: ""',
        f"  xfrdfile: {tmp}/xfrd.state", f"  zonelistfile: {tmp}/zone.list", f"  xfrdir: {tmp}",
        "  server-count: 1", "  rrl-ratelimit: 0", "  verbosity: 2",
        "remote-control:", "  control-enable: no",
        "key:", "  name: xfr-key", "  algorithm: hmac-sha256", f'  secret: "{SECRET}"',
        "pattern:", "  name: from-appliance", f"  request-xfr: 127.0.0.1@{our_port} xfr-key", "  allow-notify: 127.0.0.1 xfr-key",
    ]
    for zone in ZONES:
        lines += ["zone:", f"  name: {zone}", "  include-pattern: from-appliance"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Our daemon (NSD listed as its TSIG secondary) and NSD pulling every zone from it."""
    tmp = tmp_path_factory.mktemp("dnsxfr")
    state = tmp / "state"
    state.mkdir()
    nsd_port = free_port()
    config = tmp / "appliance.toml"
    config.write_text(
        TEST_CONFIG
        + "\n[dns]\nnotify_retries = 3\n"
        + f'secondaries = [{{address = "127.0.0.1", port = {nsd_port}, tsig_name = "xfr-key", tsig_secret = "{SECRET}"}}]\n'
    )
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--domain", "acme.example")
    cli("tenant", "add", "beta", "--domain", "beta.example")
    # Through the function `dns add` calls, in this process (a Python start
    # per record would cost seconds); the NOTIFY test uses the CLI itself.
    app = App(from_mapping(tomllib.loads(config.read_text()), str(config)), state)
    for args in (
        ("www2", "A", "192.0.2.10"), ("*.w", "TXT", "wild"), ("alias", "CNAME", "www2"),
        ("sub", "NS", "ns1.sub.acme.example."), ("ns1.sub", "A", "192.0.2.53"),
        ("sip", "SRV", "10 5 5060 sip.provider.example."), ("x.ent", "TXT", "deep"),
        ("@", "CAA", '0 iodef "mailto:security@acme.example"'), ("v6", "AAAA", "2001:db8::6"),
        ("mail2", "MX", "20 mx.provider.example."),
        # Three large records: the transfer needs more than one message.
        ("big1", "TXT", "1" * 4000), ("big2", "TXT", "2" * 4000), ("big3", "TXT", "3" * 4000),
    ):
        dnsdata.add_record(app, "acme.example", *args)
    dnsdata.add_record(app, "acme.appliance.test", "shop", "A", "192.0.2.98")
    app.close()
    daemon = Daemon(state, config, tmp / "daemon.log").start()
    our_port = daemon.port("dns")
    nsd_dir = tmp / "nsd"
    nsd_dir.mkdir()
    (nsd_dir / "nsd.conf").write_text(nsd_config(nsd_dir, nsd_port, our_port))
    nsd_log = open(nsd_dir / "nsd.log", "wb")
    nsd = subprocess.Popen(["nsd", "-d", "-c", str(nsd_dir / "nsd.conf")], stdout=nsd_log, stderr=subprocess.STDOUT)

    def dig(port: int, *args: str, check: bool = True) -> str:
        cmd = ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=3", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=check).stdout

    try:
        deadline = time.monotonic() + 20
        for zone in ZONES:
            # Until NSD has bound its port, dig gets "connection refused".
            while "status: NOERROR" not in dig(nsd_port, zone, "SOA", check=False):
                assert nsd.poll() is None, (nsd_dir / "nsd.log").read_text()
                assert time.monotonic() < deadline, f"NSD did not load {zone}:\n" + (nsd_dir / "nsd.log").read_text()
                time.sleep(0.2)
        yield {"cli": cli, "dig": dig, "ours": our_port, "nsd": nsd_port, "log": nsd_dir / "nsd.log", "daemon": daemon}
    finally:
        nsd.send_signal(signal.SIGTERM)
        try:
            nsd.wait(10)
        except subprocess.TimeoutExpired:
            nsd.kill()
            nsd.wait()
        nsd_log.close()
        daemon.stop()


def rrsets(dig_output: str) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in dig_output.splitlines():
        if line and not line.startswith(";"):
            name, ttl, _cls, rtype, data = line.split(None, 4)
            out[(name.lower(), rtype)].add(f"{ttl} {' '.join(data.split())}")
    return out


def test_secondary_answers_exactly_as_we_do_for_every_name_and_type(pair):
    """For every RRset of every zone (plus wildcard, ENT, referral and NXDOMAIN probes), NSD's answer equals ours."""
    cli, dig = pair["cli"], pair["dig"]
    questions: list[str] = []
    for zone in ZONES:
        for record in cli.json("dns", "show", zone)["records"]:
            questions += [record["name"], record["type"]]
    questions += ["x.w.acme.example", "TXT", "ent.acme.example", "TXT", "deep.sub.acme.example", "A",
                  "missing.acme.example", "A", "alias.acme.example", "A"]
    flags = ["+noall", "+answer", "+authority", "+additional", "+norec", "+noedns", "+tcp"]
    ours = rrsets(dig(pair["ours"], *flags, *questions))
    theirs = rrsets(dig(pair["nsd"], *flags, *questions))
    assert len(ours) > 40
    assert ours == theirs
    for probe in ("missing.acme.example", "ent.acme.example", "deep.sub.acme.example"):
        a, b = dig(pair["ours"], "+norec", probe, "A"), dig(pair["nsd"], "+norec", probe, "A")
        assert a.split("status: ")[1][:8] == b.split("status: ")[1][:8], probe


def test_transferred_zone_passes_named_checkzone(pair, tmp_path):
    """An AXFR signed with the key, saved as a zone file, is accepted by named-checkzone."""
    out = pair["dig"](pair["ours"], "acme.example", "AXFR", "-y", f"hmac-sha256:xfr-key:{SECRET}")
    assert "Transfer failed" not in out and out.count("IN\tSOA") == 2
    zone_file = tmp_path / "acme.example.zone"
    zone_file.write_text("\n".join(line for line in out.splitlines() if line and not line.startswith(";") and "TSIG" not in line) + "\n")
    check = subprocess.run(["named-checkzone", "acme.example", str(zone_file)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "OK" in check.stdout, check.stdout + check.stderr


def test_large_zone_goes_in_several_signed_messages(pair):
    """kdig verifies the TSIG of every message of a multi-message AXFR."""
    cmd = ["kdig", "@127.0.0.1", "-p", str(pair["ours"]), "+retry=0", "+timeout=5", "-y", f"hmac-sha256:xfr-key:{SECRET}", "acme.example", "AXFR"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    assert "Received" in out and "failed" not in out.lower(), out[-800:]
    messages = int(out.split("Received ")[1].split(" B (")[1].split(" messages")[0])
    assert messages >= 2


def test_ixfr_is_answered_with_the_whole_zone(pair):
    """RFC 1995 section 4: a signed IXFR over TCP from an old serial gets the full zone in AXFR form."""
    keyring = {dns.name.from_text("xfr-key."): dns.tsig.Key("xfr-key.", SECRET)}
    messages = list(dns.query.xfr("127.0.0.1", "acme.example", rdtype="IXFR", serial=1, port=pair["ours"],
                                  keyring=keyring, keyname="xfr-key.", timeout=10, relativize=False))
    rrsets = [rrset for message in messages for rrset in message.answer]
    assert rrsets[0].rdtype == dns.rdatatype.SOA and rrsets[-1].rdtype == dns.rdatatype.SOA
    assert rrsets[1].rdtype != dns.rdatatype.SOA  # AXFR form, not a list of differences
    names = {rrset.name.to_text() for rrset in rrsets}
    assert {"www2.acme.example.", "sip.acme.example.", "big3.acme.example."} <= names


def test_transfer_to_an_address_not_listed_is_refused_even_with_the_key(pair):
    """From 127.0.0.2 (not in [dns] secondaries) a correctly signed AXFR gets REFUSED and no record."""
    out = pair["dig"](pair["ours"], "-b", "127.0.0.2", "acme.example", "AXFR", "-y", f"hmac-sha256:xfr-key:{SECRET}")
    assert "IN\tSOA" not in out
    query = dns.message.make_query("acme.example.", "AXFR")
    query.use_tsig({dns.name.from_text("xfr-key."): base64.b64decode(SECRET)}, "xfr-key.")
    wire = query.to_wire()
    with socket.create_connection(("127.0.0.1", pair["ours"]), timeout=5, source_address=("127.0.0.2", 0)) as sock:
        sock.sendall(struct.pack("!H", len(wire)) + wire)
        length = struct.unpack("!H", sock.recv(2))[0]
        reply = sock.recv(length)
    assert reply[3] & 0x0F == dns.rcode.REFUSED and reply[6:8] == b"\x00\x00"  # no answer records
    assert "zone transfer refused (not a configured secondary)" in pair["daemon"].log()


def test_transfer_is_refused_without_the_key_or_with_a_wrong_one_or_over_udp(pair):
    """Unsigned AXFR: refused; wrong secret: refused; signed IXFR over UDP: REFUSED."""
    dig, port = pair["dig"], pair["ours"]
    out = dig(port, "acme.example", "AXFR")
    assert "Transfer failed" in out and "IN\tSOA" not in out
    out = dig(port, "acme.example", "AXFR", "-y", f"hmac-sha256:xfr-key:{WRONG}")
    assert "IN\tSOA" not in out
    query = dns.message.make_query("acme.example.", "IXFR")
    query.use_tsig({dns.name.from_text("xfr-key."): base64.b64decode(SECRET)}, "xfr-key.")
    assert dns.query.udp(query, "127.0.0.1", port=port, timeout=5).rcode() == dns.rcode.REFUSED
    log = pair["daemon"].log()
    assert "unsigned transfer refused" in log and "TSIG check failed" in log


def test_a_change_reaches_the_secondary_through_notify(pair):
    """After `dns add`, NSD gets our NOTIFY, transfers, and serves the new record within seconds."""
    pair["cli"]("dns", "add", "beta.example", "fresh", "A", "192.0.2.200")
    deadline = time.monotonic() + 15
    while pair["dig"](pair["nsd"], "+short", "fresh.beta.example", "A").strip() != "192.0.2.200":
        assert time.monotonic() < deadline, pair["log"].read_text()[-2000:]
        time.sleep(0.2)
    assert "notify for beta.example" in pair["log"].read_text()
    ours = int(pair["dig"](pair["ours"], "+short", "beta.example", "SOA").split()[2])
    theirs = int(pair["dig"](pair["nsd"], "+short", "beta.example", "SOA").split()[2])
    assert ours == theirs


def test_secondary_serves_our_signatures(pair):
    """NSD, which only loads what it transferred, answers a DO query with
    the very RRSIG we give, and a denial with our NSEC."""
    dig = pair["dig"]
    for question in (("www2.acme.example", "A"), ("missing.acme.example", "A"), ("acme.example", "DNSKEY")):
        # NSD adds the zone's NS to positive answers: compare the answer
        # section there, the authority section of the denial.
        section = "+authority" if question[0].startswith("missing") else "+answer"
        flags = ["+noall", section, "+norec", "+dnssec", "+tcp"]
        ours, theirs = rrsets(dig(pair["ours"], *flags, *question)), rrsets(dig(pair["nsd"], *flags, *question))
        assert any(rtype == "RRSIG" for _, rtype in ours), question
        assert ours == theirs, question
    denial = rrsets(dig(pair["nsd"], "+noall", "+authority", "+norec", "+dnssec", "missing.acme.example", "A"))
    assert any(rtype == "NSEC" for _, rtype in denial)
