"""DNSSEC: the zones served signed over real UDP and TCP, checked by the
validators others use - BIND's ``delv`` (trust anchored at our DNSKEY),
``ldns-verify-zone`` on a transferred zone, ``kdig +dnssec`` - and the
signatures kept fresh: a change or the end of a signing period re-signs,
a key rollover goes through its three steps."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tomllib
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rcode
import dns.flags
import dns.dnssec
import dns.rrset
import pytest

from appliance import dnsdata
from appliance.app import App
from appliance.dnssec import DAY
from appliance.settings import from_mapping
from storage import box as boxdb
from tests.conftest import TEST_CONFIG, free_port

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("delv", "kdig", "ldns-verify-zone")),
    reason="delv (bind9-dnsutils), kdig (knot-dnsutils) and ldns-verify-zone (ldnsutils) are needed",
)

ZONE = "acme.example"
RECORDS = (
    ("www2", "A", "192.0.2.10"), ("*.w", "TXT", "wild"), ("alias", "CNAME", "www2"),
    ("sub", "NS", "ns1.sub.acme.example."), ("ns1.sub", "A", "192.0.2.53"), ("x.ent", "TXT", "deep"),
)


def make_app(tmp_path: Path, dns_section: str = "") -> App:
    # The test process is the (key-less) secondary, so it may transfer zones.
    section = (f'[dns]\nrrl_rate = 0\nnotify_retries = 0\nsecondaries = [{{address = "127.0.0.1", port = {free_port()}}}]\n'
               + dns_section)
    settings = from_mapping(tomllib.loads(TEST_CONFIG + "\n" + section), "<test>")
    app = App(settings, tmp_path / "state")
    app.provisioning.create_tenant("acme", domain=ZONE)
    app.provisioning.create_tenant("other", domain="other.example")
    for record in RECORDS:
        dnsdata.add_record(app, ZONE, *record)
    return app


def run(app: App, scenario) -> None:
    async def main() -> None:
        await app.start(("dns",))
        try:
            await scenario(app.running.dns, app.listeners["dns"][0][1])
        finally:
            await app.stop()

    asyncio.run(main())


async def tool(*cmd: str) -> str:
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode()


async def query(port: int, name: str, rtype: str, *, do: bool, tcp: bool = False) -> dns.message.Message:
    message = dns.message.make_query(name, rtype, want_dnssec=do, use_edns=0)
    message.flags &= ~dns.flags.RD
    send = dns.query.tcp if tcp else dns.query.udp
    return await asyncio.to_thread(send, message, "127.0.0.1", port=port, timeout=5)


async def anchors(port: int, tmp_path: Path, zone: str = ZONE) -> Path:
    """A delv anchors file trusting ``zone``'s key-signing DNSKEYs as served."""
    reply = await query(port, zone + ".", "DNSKEY", do=True, tcp=True)
    keys = [r for rrset in reply.answer if rrset.rdtype == dns.rdatatype.DNSKEY for r in rrset]
    assert keys
    path = tmp_path / f"{zone}.anchors"
    path.write_text("trust-anchors {\n" + "".join(
        f'  {zone}. static-key {k.flags} {k.protocol} {k.algorithm} "{k.to_text(chunksize=0).split(" ", 3)[3]}";\n'
        for k in keys) + "};\n")
    return path


async def delv(port: int, anchor_file: Path, name: str, rtype: str, *extra: str) -> str:
    return await tool("delv", "@127.0.0.1", "-p", str(port), "-a", str(anchor_file), f"+root={ZONE}", "+tcp",
                      *extra, name, rtype)


async def settle(app: App, service) -> None:
    """What the daemon does within a second of a change: see the new
    generation, reload the zones."""
    app.generation = await app.box.read("generation", boxdb.generation)
    await service.reload()


def types(section) -> set[str]:
    return {dns.rdatatype.to_text(rrset.rdtype) for rrset in section}


def test_signed_answers_validate_with_delv_and_kdig(tmp_path):
    """delv, trusting only our DNSKEY, fully validates an address, a
    wildcard, a CNAME, an NXDOMAIN, a NODATA and an empty non-terminal; kdig
    +dnssec sees the RRSIGs and the DO bit over UDP."""
    app = make_app(tmp_path)

    async def scenario(service, port):
        trust = await anchors(port, tmp_path)
        for name, rtype, expect in (
            ("www2.acme.example", "A", "192.0.2.10"),
            ("anything.w.acme.example", "TXT", '"wild"'),
            ("alias.acme.example", "A", "192.0.2.10"),
            ("acme.example", "MX", "box.appliance.test."),
        ):
            out = await delv(port, trust, name, rtype)
            assert "; fully validated" in out and expect in out and "RRSIG" in out, out
        for name, rtype, status in (
            ("missing.acme.example", "A", "ncache nxdomain"),
            ("www2.acme.example", "TXT", "ncache nxrrset"),
            ("ent.acme.example", "A", "ncache nxrrset"),
            ("nothing.x.acme.example", "A", "ncache nxdomain"),
        ):
            out = await delv(port, trust, name, rtype)
            assert status in out and "validation failed" not in out and "insecurity proof failed" not in out, (name, out)
        # A name under the delegation: proven insecure (no DS), not bogus.
        out = await delv(port, trust, "sub.acme.example", "DS")
        assert "ncache nxrrset" in out, out
        out = await tool("kdig", "@127.0.0.1", "-p", str(port), "+retry=0", "+timeout=5", "+dnssec", "+norec",
                         "www2.acme.example", "A")
        assert "RRSIG\tA 13 3 3600" in out and "flags: do" in out, out

    run(app, scenario)


def test_do_answers_carry_proofs_and_plain_answers_are_unchanged(tmp_path):
    """With DO: RRSIGs on answers, SOA RRSIG and NSEC records in negative
    answers (UDP and TCP), the DNSKEY set signed; without DO, answers hold
    no DNSSEC record (the DNSKEY and CDS sets still answer when asked)."""
    app = make_app(tmp_path)

    async def scenario(service, port):
        for tcp in (False, True):
            reply = await query(port, "www2.acme.example.", "A", do=True, tcp=tcp)
            assert types(reply.answer) == {"A", "RRSIG"} and reply.ednsflags & dns.flags.DO
            reply = await query(port, "missing.acme.example.", "A", do=True, tcp=tcp)
            assert reply.rcode() == dns.rcode.NXDOMAIN and types(reply.authority) == {"SOA", "RRSIG", "NSEC"}
            reply = await query(port, "www2.acme.example.", "TXT", do=True, tcp=tcp)
            assert reply.rcode() == dns.rcode.NOERROR and not reply.answer
            nsec = [r for r in reply.authority if r.rdtype == dns.rdatatype.NSEC]
            assert [r.name.to_text() for r in nsec] == ["www2.acme.example."]
            assert "TXT" not in nsec[0][0].to_text() and " A " in nsec[0][0].to_text() + " "
            reply = await query(port, "acme.example.", "DNSKEY", do=True, tcp=tcp)
            assert types(reply.answer) == {"DNSKEY", "RRSIG"}
            reply = await query(port, "sub.acme.example.", "A", do=True, tcp=tcp)
            assert types(reply.authority) == {"NS", "NSEC", "RRSIG"} and not reply.flags & dns.flags.AA
        for name, rtype in (("www2.acme.example.", "A"), ("missing.acme.example.", "A"), ("www2.acme.example.", "TXT"),
                            ("sub.acme.example.", "A"), ("x.w.acme.example.", "TXT")):
            for repeat in range(2):  # the second comes from the caches
                reply = await query(port, name, rtype, do=False)
                every = types(reply.answer) | types(reply.authority) | types(reply.additional)
                assert not every & {"RRSIG", "NSEC", "DNSKEY"}, (name, rtype, every)
                assert not reply.ednsflags & dns.flags.DO
        reply = await query(port, "acme.example.", "CDS", do=False)
        assert types(reply.answer) == {"CDS"}

    run(app, scenario)


def test_transferred_zone_verifies_with_ldns(tmp_path):
    """An AXFR of each zone (a business's, the box's) carries its DNSKEY,
    NSEC and RRSIG records and passes ldns-verify-zone."""
    app = make_app(tmp_path)

    async def scenario(service, port):
        for zone in (ZONE, "appliance.test"):
            out = await tool("dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5", zone, "AXFR")
            lines = [line for line in out.splitlines() if line and not line.startswith(";")]
            assert any("\tRRSIG\t" in line for line in lines) and any("\tNSEC\t" in line for line in lines), out
            path = tmp_path / f"{zone}.zone"
            path.write_text("\n".join(lines[:-1]) + "\n")  # the closing SOA repeats the first
            check = await asyncio.to_thread(subprocess.run, ["ldns-verify-zone", "-V", "3", str(path)],
                                            capture_output=True, text=True, timeout=60)
            assert check.returncode == 0 and "Zone is verified and complete" in check.stdout + check.stderr, (
                check.stdout + check.stderr)

    run(app, scenario)


def test_a_change_and_the_end_of_a_period_re_sign(tmp_path):
    """A new record is signed at once with a new serial; moving the clock
    past the signing period makes resign() publish fresh signatures that
    expire later, with a new serial."""
    app = make_app(tmp_path)

    async def scenario(service, port):
        before = await query(port, "acme.example.", "SOA", do=True)
        serial = before.answer[0][0].serial
        expiration = next(r for r in before.answer if r.rdtype == dns.rdatatype.RRSIG)[0].expiration
        await asyncio.to_thread(dnsdata.add_record, app, ZONE, "new", "A", "192.0.2.77")
        await settle(app, service)
        reply = await query(port, "new.acme.example.", "A", do=True)
        assert types(reply.answer) == {"A", "RRSIG"}
        changed = (await query(port, "acme.example.", "SOA", do=True)).answer[0][0].serial
        assert changed > serial
        signed = service.signer.signed
        await service.resign()  # nothing due: nothing signed again
        assert service.signer.signed == signed
        later = service.clock() + 8 * DAY
        service.clock = lambda: later
        await service.resign()
        after = await query(port, "acme.example.", "SOA", do=True)
        assert after.answer[0][0].serial > changed
        renewed = next(r for r in after.answer if r.rdtype == dns.rdatatype.RRSIG)[0].expiration
        assert renewed >= expiration + 7 * DAY - 3600
        assert renewed - later >= 7 * DAY  # at least dnssec_refresh_days left

    run(app, scenario)


def test_csk_rollover_publishes_switches_and_removes(tmp_path):
    """start: two DNSKEYs and two CDS, signatures by the old key; switch:
    signatures by the new key, both DNSKEYs, one CDS; finish (refused
    before the TTLs unless forced): one DNSKEY. delv validates at each step
    with the keys of that step as its anchor."""
    app = make_app(tmp_path)
    core = app.core.dns

    async def scenario(service, port):
        async def step(name: str, **kw):
            result = await asyncio.to_thread(core.rollover, ZONE, name, actor="test", **kw)
            await settle(app, service)
            return result

        async def state():
            reply = await query(port, "www2.acme.example.", "A", do=True)
            signers = {r.key_tag for rrset in reply.answer if rrset.rdtype == dns.rdatatype.RRSIG for r in rrset}
            keys = (await query(port, "acme.example.", "DNSKEY", do=True)).answer
            tags = {dns.dnssec.key_id(k) for rrset in keys if rrset.rdtype == dns.rdatatype.DNSKEY for k in rrset}
            cds = (await query(port, "acme.example.", "CDS", do=False)).answer
            trust = await anchors(port, tmp_path)
            assert "; fully validated" in await delv(port, trust, "www2.acme.example", "A")
            return signers, tags, {r.key_tag for rrset in cds for r in rrset}

        old = core.ds(ZONE).ds[0]["key_tag"]
        assert await state() == ({old}, {old}, {old})
        started = await step("start")
        new = next(d["key_tag"] for d in started.ds if d["state"] == "published")
        assert started.rollover == "published" and len(started.ds) == 2
        assert await state() == ({old}, {old, new}, {old, new})
        with pytest.raises(Exception, match="already under way"):
            await step("start")
        switched = await step("switch")
        assert [d["key_tag"] for d in switched.ds] == [new] and switched.rollover == "retired"
        assert await state() == ({new}, {old, new}, {new})
        with pytest.raises(Exception, match="resolvers may still hold"):
            await step("finish")
        finished = await step("finish", force=True)
        assert finished.rollover == "" and [d["key_tag"] for d in finished.ds] == [new]
        assert await state() == ({new}, {new}, {new})

    run(app, scenario)


def test_ds_is_shown_to_its_business_only(tmp_path):
    """`dns ds` gives the DS of a business's own domain; another business
    asking for it gets the same NotFound as a domain no one has; a free
    domain inside the box zone needs no DS."""
    app = make_app(tmp_path)
    core = app.core.dns
    status = core.ds(ZONE, slug="acme")
    assert status.signed and status.ds[0]["algorithm"] == 13 and status.ds[0]["digest_type"] == 2
    assert status.ds[0]["ds"].startswith("acme.example. IN DS ")
    from appliance.errors import InvalidInput, NotFound
    with pytest.raises(NotFound) as theirs:
        core.ds(ZONE, slug="other")
    with pytest.raises(NotFound) as nobody:
        core.ds("nobody.example", slug="other")
    assert str(theirs.value).replace(ZONE, "X") == str(nobody.value).replace("nobody.example", "X")
    with pytest.raises(InvalidInput, match="needs no DS"):
        core.ds("acme.appliance.test", slug="acme")
    app.close()


def test_signing_off_serves_the_zones_unsigned(tmp_path):
    """[dns] dnssec = false: no DNSKEY, no RRSIG even with DO."""
    app = make_app(tmp_path, "dnssec = false\n")

    async def scenario(service, port):
        reply = await query(port, "www2.acme.example.", "A", do=True)
        assert types(reply.answer) == {"A"}
        assert not (await query(port, "acme.example.", "DNSKEY", do=True)).answer

    run(app, scenario)


def test_many_fresh_zones_are_signed_in_a_worker_process_and_validate():
    """At start-up the zones are signed in a worker process (enough of them
    for one to be started): the signatures it sends back validate against
    the zones' DNSKEYs, and a second signing of the same zones reuses them."""
    from appliance import dnssec
    from appliance.zones import BoxDns, BusinessDns, assign_serials, build_zones
    from storage.dnssec import SigningKey, generate

    box = BoxDns("box.appliance.test", "appliance.test", ("ns1.appliance.test", "ns2.appliance.test"), ("192.0.2.1",), (),
                 "hostmaster@appliance.test")
    zones = build_zones(box, [BusinessDns(f"s{i}", f"s{i}.appliance.test", (f"shop{i}.example",))
                              for i in range(dnssec.PROCESS_MIN + 5)])
    keys = {o: [SigningKey(i, o, 13, generate(), "active", "", "")] for i, o in enumerate(zones)}
    now = 1_800_000_000
    for origin, zone in zones.items():
        dnssec.publish_keys(zone, keys[origin], dnssec.signing_period(origin, now, 14 * DAY, 7 * DAY))
    assign_serials(zones, {})
    signer = dnssec.Signer(14, 7)
    signer.use_processes()
    work = [(zone, keys[origin]) for origin, zone in zones.items()]
    signed = signer.sign_all(work, box)
    assert set(signed) == set(zones) and signer.signed == len(zones)
    for origin, zone in zones.items():
        name = dns.name.from_text(origin + ".")
        soa = dns.rrset.from_text(name, 3600, "IN", "SOA", zone.soa(box))
        rrsig = dns.rrset.from_rdata_list(name, 3600, signed[origin].rrsigs[(origin, "SOA")])
        dnskeys = dns.rrset.from_text_list(name, 3600, "IN", "DNSKEY", zone.records[(origin, "DNSKEY")])
        dns.dnssec.validate(soa, rrsig, {name: dnskeys}, now=zone.signing_period + DAY)
    assert signer.sign_all(work, box) == signed and signer.signed == len(zones)
