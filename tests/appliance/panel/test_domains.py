"""Domains in the panel, over real HTTPS against the daemon: attaching one
and reading what to set at the registrar, the live check, the DNS records.

The live check asks the world's DNS. Here the world is
:class:`tests.publicdns.PublicDns` (the panel's ``check_resolver``), which
knows nothing of a domain until the test delegates it, as an owner would at
the registrar, and from then on passes every question to the daemon's own
DNS listener. So "delegated" is tested as a resolver sees it: the domain's
NS set is the box's name servers and the SOA that comes back is the one our
servers publish (a resolver cannot show more: the parent's referral and our
answer are merged in what it returns).
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from .conftest import Env

#: A little longer than the test config's ``[panel] check_cache_seconds``.
CACHE_SECONDS = 2.2


def _attach(env: Env, domain: str):
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/add")
    reply = ann.post("/domains/add", {"domain": domain})
    assert (reply.status_code, reply.headers.get("location")) == (303, f"/domains/{domain}"), reply.text[:300]
    return ann


def _served(env: Env, domain: str) -> None:
    """Wait until the daemon's DNS answers for ``domain`` (it rebuilds its
    zones within a second of a change)."""
    query = dns.message.make_query(domain, "SOA")
    deadline = time.monotonic() + 10
    while True:
        reply = dns.query.udp(query, "127.0.0.1", timeout=2, port=env.daemon.port("dns"))
        if reply.rcode() == dns.rcode.NOERROR and reply.answer:
            return
        assert time.monotonic() < deadline, f"the daemon does not serve {domain}"
        time.sleep(0.1)


def _lines(page: str) -> list[tuple[str, str]]:
    """(status word, name and type) of each line of the check on ``page``."""
    found = re.findall(r'<li class="check check-(\w+)">.*?<p class="check-name"><code class="record">([^<]*)</code>',
                       page, re.S)
    return [(status, html.unescape(what)) for status, what in found]


def _field_errors(page: str, field: str) -> list[str]:
    block = re.search(rf'<div class="field invalid">\s*<label for="{field}".*?</div>', page, re.S)
    return re.findall(r"<li>([^<]*)</li>", block.group(0)) if block else []


def test_attaching_a_domain_shows_the_name_servers_and_every_record_the_zone_serves(env):
    """ann attaches shop-one.example: she lands on its page, which names the
    box's name servers (option A) and lists every record the DNS server
    generates for the domain (option B), taken from the same zone as
    ``appliance dns show`` - the DKIM key included - and no SOA or NS."""
    ann = _attach(env, "shop-one.example")
    page = html.unescape(ann.get("/domains/shop-one.example").text)
    zone = env.cli.json("dns", "show", "shop-one.example")
    for ns in (r["data"] for r in zone["records"] if r["type"] == "NS"):
        assert ns.rstrip(".") in page
    generated = [r for r in zone["records"] if r["type"] not in ("SOA", "NS", "DNSKEY", "CDS", "CDNSKEY") and not r["added"]]
    assert any("._domainkey." in r["name"] for r in generated)
    for r in generated:
        assert f'{r["name"]}. {r["ttl"]} IN {r["type"]} {r["data"]}' in page, r
    assert " IN SOA " not in page and " IN NS " not in page
    # The box's DNSSEC keys are not for another provider (option B).
    assert " IN DNSKEY " not in page and " IN CDS " not in page and " IN CDNSKEY " not in page
    assert "shop-one.example" in [d["name"] for d in env.cli.json("domain", "list", "acme")]


def test_the_check_fails_line_by_line_until_the_domain_is_delegated_then_passes(env):
    """Right after attaching shop-two.example the world knows nothing of it:
    "Check now" lists every line (delegation, answers, MX, SPF, DKIM, DMARC,
    website, autoconfig, autodiscover, SRV, DAV path) as missing, with the
    expected value to set. Once the registrar delegates it to the box, the
    same button reports every line OK."""
    ann = _attach(env, "shop-two.example")
    ann.get("/domains/shop-two.example")
    before = ann.post("/domains/shop-two.example/check")
    assert before.status_code == 200
    lines = _lines(before.text)
    kinds = {what.split()[1] for _, what in lines}
    assert {"NS", "SOA", "MX", "TXT", "A", "SRV"} <= kinds
    assert {status for status, _ in lines} == {"missing"}, lines
    assert "ns1.appliance.test." in before.text and "v=spf1 mx -all" in before.text
    env.public_dns.delegate("shop-two.example")
    time.sleep(CACHE_SECONDS)
    after = ann.post("/domains/shop-two.example/check")
    assert {status for status, _ in _lines(after.text)} == {"ok"}, _lines(after.text)
    assert len(_lines(after.text)) == len(lines)
    assert "Everything is in place" in after.text
    listing = ann.get("/domains").text
    assert "Everything is in place" in listing


def test_a_record_served_elsewhere_with_another_value_is_reported_wrong(env):
    """shop-three.example is delegated, but its MX comes from somewhere else:
    the check (here through ``appliance domain check --json``, the same
    service) says the MX is wrong, found the other host, expected the box,
    and exits 2; every other line is OK."""
    _attach(env, "shop-three.example")
    _served(env, "shop-three.example")
    env.public_dns.delegate("shop-three.example")
    env.public_dns.publish("shop-three.example", "MX", ["10 mx.elsewhere.example."])
    result = env.cli("domain", "check", "shop-three.example", "--json", check=False)
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    wrong = [line for line in report["lines"] if line["status"] != "ok"]
    assert [(w["kind"], w["status"], w["found"], w["expected"]) for w in wrong] == [
        ("mx", "wrong", ["10 mx.elsewhere.example."], ["10 box.appliance.test."])]


def test_pressing_check_again_at_once_sends_no_new_lookups(env):
    """Two presses of "Check now" within ``check_cache_seconds`` show the same
    result and the world's DNS hears no new question the second time."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/acme.example")
    first = ann.post("/domains/acme.example/check")
    asked = env.public_dns.questions
    second = ann.post("/domains/acme.example/check")
    assert env.public_dns.questions == asked
    assert _lines(first.text) == _lines(second.text) != []


def test_a_record_added_in_the_panel_is_answered_by_dig(env):
    """ann adds ``shop TXT "hello from the panel"`` to acme.example on its
    records page: the page lists it among hers, and dig against the daemon's
    DNS gets it within a few seconds."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/acme.example/dns")
    reply = ann.post("/domains/acme.example/dns/add",
                     {"name": "shop", "type": "TXT", "value": "hello from the panel", "ttl": "300"})
    assert (reply.status_code, reply.headers.get("location")) == (303, "/domains/acme.example/dns")
    page = ann.get("/domains/acme.example/dns").text
    assert "shop.acme.example. 300 IN TXT hello from the panel" in page
    deadline = time.monotonic() + 10
    while True:
        dig = subprocess.run(["dig", "+short", "+tries=1", "+time=2", "-p", str(env.daemon.port("dns")),
                              "@127.0.0.1", "shop.acme.example", "TXT"], capture_output=True, text=True, timeout=10)
        if dig.stdout.strip() == '"hello from the panel"' or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert dig.stdout.strip() == '"hello from the panel"'


@pytest.mark.parametrize("record, field", [
    ({"name": "@", "type": "A", "value": "300.1.2.3", "ttl": "3600"}, "value"),
    ({"name": "bad name!", "type": "A", "value": "192.0.2.1", "ttl": "3600"}, "name"),
    ({"name": "@", "type": "A", "value": "192.0.2.1", "ttl": "5"}, "ttl"),
    ({"name": "@", "type": "SPAM", "value": "x", "ttl": "3600"}, "type"),
    ({"name": "_dmarc", "type": "TXT", "value": "v=DMARC1; p=none", "ttl": "3600"}, "name"),
    ({"name": "mail", "type": "MX", "value": "ten mail.example.net", "ttl": "3600"}, "value"),
    ({"name": "x.other.example.", "type": "A", "value": "192.0.2.1", "ttl": "3600"}, "name"),
    ({"name": "@", "type": "CNAME", "value": "shop.example.net", "ttl": "3600"}, "name"),
    ({"name": "alias", "type": "CNAME", "value": "not a host!", "ttl": "3600"}, "value"),
], ids=["bad-address", "bad-name", "short-ttl", "no-such-type", "generated-name", "bad-mx", "another-domain",
        "cname-at-apex", "bad-cname-target"])
def test_an_invalid_record_is_refused_beside_its_field_and_nothing_changes(env, record, field):
    """A record the service refuses (or the form does) comes back 400 with
    the error beside the field it concerns, and acme.example's records are
    as before."""
    before = env.cli.json("dns", "records", "acme.example")
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/acme.example/dns")
    reply = ann.post("/domains/acme.example/dns/add", record)
    assert reply.status_code == 400
    assert _field_errors(reply.text, field), reply.text
    assert env.cli.json("dns", "records", "acme.example") == before


@pytest.mark.parametrize("domain", ["not a domain", "acme2.appliance.test", "other.example", "acme.example"])
def test_a_domain_that_cannot_be_attached_is_refused_beside_the_field(env, domain):
    """Not a domain name, a name of the box, another business's domain, one
    already ours: 400, the reason beside the field, acme's domains unchanged."""
    before = env.cli.json("domain", "list", "acme")
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/add")
    reply = ann.post("/domains/add", {"domain": domain})
    assert reply.status_code == 400
    assert _field_errors(reply.text, "domain")
    assert env.cli.json("domain", "list", "acme") == before


def test_removing_a_domain_needs_its_name_typed(env):
    """Removing shop-four.example with the wrong name typed is refused beside
    the field and the domain stays; with its name it goes. The free domain
    offers no removal, and a forged one is refused."""
    ann = _attach(env, "shop-four.example")
    ann.get("/domains/shop-four.example")
    wrong = ann.post("/domains/shop-four.example/remove", {"confirm": "shop-four"})
    assert wrong.status_code == 400 and _field_errors(wrong.text, "confirm")
    assert "shop-four.example" in [d["name"] for d in env.cli.json("domain", "list", "acme")]
    right = ann.post("/domains/shop-four.example/remove", {"confirm": "shop-four.example"})
    assert (right.status_code, right.headers.get("location")) == (303, "/domains")
    assert "shop-four.example" not in [d["name"] for d in env.cli.json("domain", "list", "acme")]
    free = ann.get("/domains/acme.appliance.test")
    assert free.status_code == 200 and "/remove" not in free.text
    forged = ann.post("/domains/acme.appliance.test/remove", {"confirm": "acme.appliance.test"})
    assert forged.status_code == 400
    assert "acme.appliance.test" in [d["name"] for d in env.cli.json("domain", "list", "acme")]


def test_the_language_switch_on_a_page_shown_after_a_form_goes_back_to_that_page(env):
    """The page "Check now" shows (a POST's answer) offers the language
    switch back to the domain's own page, which answers a GET; after she
    switches, ann sees that page in French."""
    ann = env.signed_in("ann@acme.example")
    ann.get("/domains/acme.example")
    checked = ann.post("/domains/acme.example/check")
    back = re.search(r'name="next" value="([^"]*)"', checked.text).group(1)
    assert back == "/domains/acme.example"
    reply = ann.post("/language", {"language": "fr", "next": back})
    assert (reply.status_code, reply.headers.get("location")) == (303, back)
    assert "Vérifier maintenant" in ann.get(back).text
    ann.post("/language", {"language": "en", "next": back})


def test_the_domain_page_shows_the_ds_record_to_its_owner_only(env):
    """ann attaches shop-ds.example: its page, in English and in French,
    shows the DS record (key tag, algorithm 13, digest type 2, digest) that
    ``appliance dns ds`` gives, for her registrar; olga of another business
    gets the page's 404, as for a domain no one has."""
    ann = _attach(env, "shop-ds.example")
    ds = env.cli.json("dns", "ds", "shop-ds.example")["ds"][0]
    page = html.unescape(ann.get("/domains/shop-ds.example").text)
    assert "DNSSEC" in page and ds["digest"] in page and str(ds["key_tag"]) in page
    assert "registrar, in its DNSSEC settings" in page and ds["public_key"] in page
    assert ann.post("/language", {"language": "fr", "next": "/domains/shop-ds.example"}).status_code == 303
    try:
        page_fr = html.unescape(ann.get("/domains/shop-ds.example").text)
    finally:
        ann.post("/language", {"language": "en", "next": "/domains/shop-ds.example"})
    assert ds["digest"] in page_fr and "Empreinte" in page_fr and "chez votre registraire, dans ses réglages DNSSEC" in page_fr
    olga = env.signed_in("olga@other.example")
    theirs = olga.get("/domains/shop-ds.example")
    nobody = olga.get("/domains/nobody-at-all.example")
    assert theirs.status_code == nobody.status_code == 404
    assert ds["digest"] not in theirs.text
    free = html.unescape(ann.get("/domains/acme.appliance.test").text)
    assert "DNSSEC" not in free  # inside the box zone: no DS of its own
