"""Fleet names through the real daemon: the fleet's name servers in every
zone's NS and SOA, each mail domain's client host name in MX, SRV and
every client set-up answer (asked with dig, kdig and curl), free domains
under the fleet domain as zones of their own that an import keeps, and
client set-up answers that tell a stranger nothing."""

from __future__ import annotations

import hashlib
import json
import plistlib
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from appliance import settings
from appliance.app import App
from appliance.errors import ConfigError
from tests.appliance.certs.pebble import served_certificate
from tests.conftest import TEST_CONFIG, Cli, Daemon
from tests.protocols.dns.digging import dig_runner, wait_for_zone

BOX = 'hostname = "box.appliance.test"\ndomain = "appliance.test"\n'
#: Box 1 of the fleet: free domains under fleet.test, clients on mail.<domain>,
#: one fleet name server outside every zone here and one inside the box zone (with glue).
FLEET = """free_domain = "fleet.test"
client_label = "mail"
"""
NAMESERVERS = '\n[dns]\nnameservers = ["ns1.fleet.test", {name = "ns2.appliance.test", addresses = ["192.0.2.53"]}]\n'
FLEET_CONFIG = TEST_CONFIG.replace(BOX, BOX + FLEET) + NAMESERVERS
PASSWORD = "a long secret"
OUTLOOK = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request><EMailAddress>{address}</EMailAddress>
  <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>
"""


@dataclass
class Fleet:
    cli: Cli
    daemon: Daemon
    dig: object
    work: Path

    def curl(self, host: str, path: str, *args: str, scheme: str = "https", data: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of curl asking ``host`` (resolved to the daemon, so Host and SNI are ``host``)."""
        port = self.daemon.port(scheme)
        body = self.work / "body"
        body.unlink(missing_ok=True)
        cmd = ["curl", "-sk", "--max-time", "20", "--resolve", f"{host}:{port}:127.0.0.1", "-o", str(body),
               "-w", "%{http_code}", *args]
        if data is not None:
            cmd += ["--data-binary", "@-", "-H", "Content-Type: text/xml"]
        cmd.append(f"{scheme}://{host}:{port}{path}")
        done = subprocess.run(cmd, input=data, capture_output=True, timeout=30, check=True)
        return int(done.stdout), body.read_bytes() if body.exists() else b""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    work = tmp_path_factory.mktemp("fleet")
    state = work / "state"
    state.mkdir()
    config = work / "appliance.toml"
    config.write_text(FLEET_CONFIG)
    cli = Cli(state, config)
    cli("tenant", "add", "acme", "--name", "Acme Bakery", "--domain", "acme.example")
    cli("user", "add", "ann@acme.example", "--name", "Ann Smith", "--password-stdin", input=PASSWORD + "\n")
    daemon = Daemon(state, config, work / "daemon.log").start()
    try:
        dig = dig_runner(daemon.port("dns"))
        wait_for_zone(dig, "acme.example")
        yield Fleet(cli, daemon, dig, work)
    finally:
        daemon.stop()


def test_every_zone_names_the_fleet_name_servers_and_the_soa_the_first(fleet):
    """NS of a business zone, of the free domain's zone and of the box zone
    are the fleet's; every SOA names ns1.fleet.test as primary (the box
    stays hidden); glue of a fleet name server inside the box zone is its
    configured address, not the box's."""
    dig = fleet.dig
    for zone in ("acme.example", "acme.fleet.test", "appliance.test"):
        assert sorted(dig("+short", zone, "NS").split()) == ["ns1.fleet.test.", "ns2.appliance.test."], zone
        assert dig("+short", zone, "SOA").split()[0] == "ns1.fleet.test.", zone
    assert dig("+short", "ns2.appliance.test", "A").split() == ["192.0.2.53"]
    assert "box.appliance.test" not in dig("acme.example", "SOA", tool="kdig")


def test_mx_and_srv_name_the_client_host_name_which_points_at_the_box(fleet):
    """MX and the RFC 6186/6764 SRV records of acme.example name
    mail.acme.example, whose A record (in acme.example's own zone) is the
    box's address; kdig agrees with dig."""
    dig = fleet.dig
    assert dig("+short", "acme.example", "MX").split() == ["10", "mail.acme.example."]
    for service in ("_submission", "_submissions", "_imap", "_imaps", "_caldavs", "_carddavs"):
        assert dig("+short", f"{service}._tcp.acme.example", "SRV").split()[3] == "mail.acme.example.", service
    assert dig("+short", "mail.acme.example", "A", tool="kdig").split() == ["127.0.0.1"]
    answer = dig("+norecurse", "mail.acme.example", "A")
    assert " aa" in answer and "ANSWER: 1" in answer


def test_the_free_domain_is_a_zone_of_its_own_under_the_fleet_domain(fleet):
    """acme.fleet.test (not acme.appliance.test) is the free domain: its own
    zone with MX to mail.acme.fleet.test, which points at the box."""
    dig = fleet.dig
    assert "acme.fleet.test" in [d["name"] for d in fleet.cli.json("tenant", "show", "acme")["domains"]]
    out = dig("acme.fleet.test", "SOA")
    assert "status: NOERROR" in out and "acme.fleet.test.\t" in out.split("ANSWER SECTION:")[1]
    assert dig("+short", "acme.fleet.test", "MX").split() == ["10", "mail.acme.fleet.test."]
    assert dig("+short", "mail.acme.fleet.test", "A").split() == ["127.0.0.1"]
    assert "NXDOMAIN" in dig("acme.appliance.test", "MX")


def test_the_free_domains_own_zone_is_signed_like_the_others(fleet):
    """A free domain that is a zone of its own carries its own DNSKEY and
    answers DO queries with signatures; the owner can get its DS."""
    dig = fleet.dig
    assert dig("+short", "acme.fleet.test", "DNSKEY").startswith("257 3 13 ")
    assert "RRSIG" in dig("+dnssec", "mail.acme.fleet.test", "A")
    ds = fleet.cli.json("dns", "ds", "acme.fleet.test")
    assert ds, "no DS for the free domain's zone"


def test_mta_sts_policy_names_the_domains_own_mx_host(fleet):
    """The MTA-STS policy of acme.example allows mail.acme.example, the host its MX names."""
    status, body = fleet.curl("mta-sts.acme.example", "/.well-known/mta-sts.txt")
    assert status == 200 and "mx: mail.acme.example\r\n" in body.decode()
    assert "box.appliance.test" not in body.decode()


def test_autoconfig_gives_the_client_host_name(fleet):
    """Thunderbird's config-v1.1.xml names mail.acme.example for IMAP, SMTP and DAV."""
    status, body = fleet.curl("autoconfig.acme.example", "/mail/config-v1.1.xml", scheme="http")
    assert status == 200
    root = ET.fromstring(body)
    hosts = {s.findtext("hostname") for s in root.find("emailProvider") if s.tag.endswith("Server")}
    assert hosts == {"mail.acme.example"}
    assert root.find("calendar").findtext("serverURL").startswith("https://mail.acme.example:")


def test_autodiscover_xml_and_json_give_the_client_host_name(fleet):
    """Outlook's POX autodiscover names mail.acme.example for IMAP and SMTP;
    the JSON one sends the new Outlook to the domain's autodiscover host."""
    status, body = fleet.curl("autodiscover.acme.example", "/autodiscover/autodiscover.xml",
                              data=REQUEST.format(address="ann@acme.example").encode())
    assert status == 200
    servers = {p.findtext(f"{OUTLOOK}Type"): p.findtext(f"{OUTLOOK}Server") for p in ET.fromstring(body).iter(f"{OUTLOOK}Protocol")}
    assert servers == {"IMAP": "mail.acme.example", "SMTP": "mail.acme.example"}
    status, body = fleet.curl("acme.example", "/autodiscover/autodiscover.json?Email=ann%40acme.example&Protocol=AutodiscoverV1")
    assert status == 200 and json.loads(body)["Url"].startswith("https://autodiscover.acme.example")


def test_client_set_up_tells_a_stranger_nothing(fleet):
    """For ann@ (a user, "Ann Smith") and nobody@ (no one) the autodiscover
    XML, the JSON and the Apple profile are the same but for the address,
    and none names her."""
    def xml(local: str) -> bytes:
        return fleet.curl("autodiscover.acme.example", "/autodiscover/autodiscover.xml",
                          data=REQUEST.format(address=f"{local}@acme.example").encode())[1]

    def json_(local: str) -> bytes:
        return fleet.curl("acme.example", f"/autodiscover/autodiscover.json/v1.0/{local}@acme.example?Protocol=AutodiscoverV1")[1]

    def profile(local: str) -> dict:
        status, body = fleet.curl("acme.example", f"/.well-known/mail-setup/apple.mobileconfig?email={local}%40acme.example")
        assert status == 200
        plist = subprocess.run(["openssl", "cms", "-verify", "-noverify", "-inform", "DER"], input=body,
                               capture_output=True, timeout=30, check=True).stdout
        assert b"Ann Smith" not in plist
        content = plistlib.loads(plist.replace(f"{local}@".encode(), b"X@"))
        for payload in content["PayloadContent"]:
            payload.pop("PayloadUUID")  # derived from the address
        content.pop("PayloadUUID", None)
        return content

    assert b"Ann Smith" not in xml("ann") and xml("nobody").replace(b"nobody@", b"ann@") == xml("ann")
    assert json_("nobody") == json_("ann")
    ann = profile("ann")
    assert ann == profile("nobody")
    mail = next(p for p in ann["PayloadContent"] if p["PayloadType"] == "com.apple.mail.managed")
    assert mail["IncomingMailServerHostName"] == mail["OutgoingMailServerHostName"] == "mail.acme.example"


def test_the_client_host_name_serves_dav(fleet):
    """https://mail.acme.example/ sends CalDAV discovery to /dav/ and serves
    ann's principal to her; a name nobody has stays the neutral 404."""
    status, _ = fleet.curl("mail.acme.example", "/.well-known/caldav")
    assert status in (301, 302)
    status, body = fleet.curl("mail.acme.example", "/dav/ann@acme.example/", "-X", "PROPFIND", "-H", "Depth: 0",
                              "-u", f"ann@acme.example:{PASSWORD}")
    assert status == 207 and b"multistatus" in body
    assert fleet.curl("mail.nobody.example", "/.well-known/caldav")[0] == 404


def test_an_import_within_the_fleet_keeps_the_free_domain(fleet, tmp_path):
    """acme exported from this box and imported on another box of the fleet
    (another box domain, the same free_domain) keeps acme.fleet.test and its
    addresses; on a box outside the fleet it gets that box's free domain."""
    fleet.cli("user", "add", "desk@acme.fleet.test", "--password-stdin", input=PASSWORD + "\n")
    export = tmp_path / "acme.export"
    fleet.cli("tenant", "export", "acme", str(export))

    def import_on(box: str) -> tuple[list[str], list[str]]:
        state = tmp_path / box / "state"
        state.mkdir(parents=True)
        config = tmp_path / box / "appliance.toml"
        config.write_text(_config_for(box))
        cli = Cli(state, config)
        cli("tenant", "import", str(export))
        domains = [d["name"] for d in cli.json("tenant", "show", "acme")["domains"]]
        return domains, [u["address"] for u in cli.json("user", "list", "acme")]

    domains, users = import_on("box2")
    assert "acme.fleet.test" in domains and "desk@acme.fleet.test" in users
    domains, users = import_on("lone")
    assert "acme.fleet.test" not in domains and "acme.lone.test" in domains and "desk@acme.lone.test" in users


def _config_for(box: str) -> str:
    """Box ``box2`` is in the fleet (box2.test, free domains under fleet.test);
    ``lone`` is a single box (lone.test, its own free domains)."""
    own = f'hostname = "box.{box}.test"\ndomain = "{box}.test"\n'
    if box == "lone":
        return TEST_CONFIG.replace(BOX, own)
    return TEST_CONFIG.replace(BOX, own + FLEET) + NAMESERVERS.replace("ns2.appliance.test", "ns2.fleet.test")


def test_the_live_domain_check_expects_the_fleet_names(fleet):
    """`appliance domain check`, looking through the daemon's own DNS (as
    the world would through the fleet's name servers), finds every line of
    acme.example right: the fleet's NS and SOA, MX to mail.acme.example and
    that host's address among them."""
    config = fleet.work / "check.toml"
    config.write_text(FLEET_CONFIG + f'\n[panel]\ncheck_resolver = "127.0.0.1:{fleet.daemon.port("dns")}"\n'
                      "check_cache_seconds = 0\n")
    done = Cli(fleet.cli.state, config)("domain", "check", "acme.example", "--json", check=False)
    lines = json.loads(done.stdout)["lines"]
    assert done.returncode == 0 and all(line["status"] == "ok" for line in lines), lines
    found = {(line["kind"], line["name"], line["type"]): line["found"] for line in lines}
    assert found[("nameservers", "acme.example", "NS")] == ["ns1.fleet.test.", "ns2.appliance.test."]
    assert found[("mx", "acme.example", "MX")] == ["10 mail.acme.example."]
    assert found[("mx", "mail.acme.example", "A")] == ["127.0.0.1"]


def test_the_domain_setup_expects_the_fleet_names(tmp_path):
    """What the panel tells an owner to set (and the live check compares):
    the fleet's name servers, and mail.<domain> with the MX records."""
    conf = settings.from_mapping({
        "box": {"free_domain": "fleet.test", "client_label": "mail"},
        "dns": {"nameservers": ["ns1.fleet.test", "ns2.fleet.test"]},
    })
    app = App(conf, tmp_path / "state")
    try:
        app.core.businesses.create("shop", "Shop", "shop.example", actor="cli")
        setup = app.core.domain_checks.setup("shop", "shop.example")
        assert setup.nameservers == ["ns1.fleet.test", "ns2.fleet.test"] and setup.glue == []
        records = {(r.name, r.type): r.data for r in setup.records}
        assert records[("shop.example", "MX")] == "10 mail.shop.example."
        assert ("mail.shop.example", "A") in records
        assert app.core.domain_checks.setup("shop", "shop.fleet.test").records
    finally:
        app.close()


def test_the_device_pages_give_the_client_host_name(tmp_path):
    """The "Your devices" pages of a user of shop.example give mail.shop.example
    for mail and DAV, calendar feeds the free domain's client host name; the
    profile is still signed by the box."""
    conf = settings.from_mapping({"box": {"client_label": "mail"}})
    app = App(conf, tmp_path / "state")
    try:
        app.core.businesses.create("shop", "Shop", "shop.example", actor="cli")
        app.core.people.add("sam@shop.example", PASSWORD, "Sam Smith", actor="cli")
        setup = app.core.devices.for_user("shop", "sam@shop.example")
        assert setup.endpoints.host == "mail.shop.example" and setup.endpoints.dav_url.startswith("https://mail.shop.example")
        assert setup.profile_signer == "box.appliance.test"
        free = app.core.devices.endpoints("shop.appliance.test")
        assert free.host == "mail.shop.appliance.test"
        assert app.core.feeds.url("shop", "t0ken").startswith("https://mail.shop.appliance.test:")
    finally:
        app.close()


@pytest.mark.parametrize("given,message", [
    ({"dns": {"nameservers": ["ns1.appliance.test", "ns2.fleet.test"]}}, r"give its addresses \(glue\)"),
    ({"dns": {"nameservers": ["ns1.fleet.test"]}}, "at least two name servers"),
    ({"dns": {"nameservers": ["ns1.fleet.test", "ns1.fleet.test"]}}, "listed twice"),
    ({"box": {"client_label": "www"}}, "already serves something else"),
    ({"box": {"client_label": "mail.x"}}, "one label"),
])
def test_fleet_settings_are_checked(given, message):
    """A name server in the box zone without glue, a lone name server, one
    named twice, a client label taken or not a label: refused, naming the key."""
    with pytest.raises(ConfigError, match=message):
        settings.from_mapping(given)


def test_without_fleet_settings_the_box_is_its_own_fleet():
    """No fleet settings: ns1/ns2 of the box domain at the box's addresses,
    the box host name for every domain, free domains under the box domain."""
    from appliance import fleet

    conf = settings.from_mapping({})
    assert fleet.nameservers(conf) == (("ns1.appliance.test", ("127.0.0.1",)), ("ns2.appliance.test", ("127.0.0.1",)))
    assert fleet.client_host(conf, "acme.example") == "box.appliance.test"
    assert fleet.free_domain(conf, "acme") == "acme.appliance.test"


def _presented_key(port: int, server_name: str) -> str:
    """SHA-256 of the public key our MX presents after STARTTLS to a client
    asking for ``server_name`` (as a DANE sender does, RFC 7672 section 8.1)."""
    spki = served_certificate(port, server_name, "smtp").public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


@pytest.mark.parametrize("host", ["mail.acme.example", "mail.acme.fleet.test", "box.appliance.test"])
def test_each_mx_host_has_a_signed_tlsa_record_matching_the_key_smtp_presents(fleet, host):
    """DANE for our own MX (RFC 7672): `_25._tcp.<MX host> TLSA 3 1 1`, in
    the signed zone that holds the name, names the key the SMTP listener
    shows a client asking for that name."""
    dig = fleet.dig
    answer = dig("+short", f"_25._tcp.{host}", "TLSA").split()
    assert answer[:3] == ["3", "1", "1"], answer
    assert "".join(answer[3:]).lower() == _presented_key(fleet.daemon.port("smtp"), host)
    assert "RRSIG" in dig("+dnssec", f"_25._tcp.{host}", "TLSA")
