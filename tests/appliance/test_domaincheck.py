"""The domain checks service (``appliance.services.domaincheck``) and the
ownership checks it shares with the DNS and domain services, on real
business files in a temporary state directory."""

from __future__ import annotations

import socket
import time

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import LimitExceeded, NotFound
from appliance.services import domains as domains_service


def _app(tmp_path, **panel) -> App:
    return App(settings.from_mapping({"panel": panel} if panel else {}), tmp_path / "state")


@pytest.fixture
def app(tmp_path):
    a = _app(tmp_path)
    a.core.businesses.create("shop", "Shop", "shop.example", actor="cli")
    a.core.businesses.create("other", "Other", "other.example", actor="cli")
    a.core.dns.add("shop.example", "www2", "A", "192.0.2.7", actor="cli")
    yield a
    a.close()


def test_one_business_zone_is_the_zone_the_dns_server_serves(app):
    """The zone of shop.example built from shop's file alone - what the
    panel shows and checks - is record for record, serial included, the one
    built from every business (what the DNS server serves); so is the part
    of the box zone under shop's free domain."""
    core = app.core
    assert core.dns.zone("shop.example", "shop") == core.dns.zone("shop.example")
    free = "shop.appliance.test"
    mine = [r for r in core.dns.zone(free, "shop").records if r.name.endswith(free)]
    served = [r for r in core.dns.zone(free).records if r.name.endswith(free)]
    assert mine == served and mine


def test_the_setup_lists_the_generated_records_and_the_name_servers(app):
    """What to set at the registrar for shop.example: the box's two name
    servers (no glue: they are not inside shop.example) and every generated
    record of the zone but its SOA and NS and the DNSSEC keys (DNSKEY, CDS,
    CDNSKEY: another DNS provider signs with its own), the business's own
    record not among them."""
    setup = app.core.domain_checks.setup("shop", "shop.example")
    assert setup.nameservers == ["ns1.appliance.test", "ns2.appliance.test"] and setup.glue == []
    records = app.core.dns.zone("shop.example").records
    assert {"DNSKEY", "CDS", "CDNSKEY"} <= {r.type for r in records}
    served = [r for r in records if not r.added and r.type not in ("SOA", "NS", "DNSKEY", "CDS", "CDNSKEY")]
    assert sorted(setup.records, key=repr) == sorted(served, key=repr)
    assert not [r for r in setup.records if r.name == "www2.shop.example"]


def test_another_business_domain_is_not_found_and_nothing_changes(app):
    """Named through shop, other.example is no one's: the setup, the records,
    the check, adding or removing a record and removing the domain all raise
    NotFound, and other's records and domains are as they were."""
    core = app.core
    before = (core.dns.list("other.example"), core.domains.list("other"))
    for call in (
        lambda: core.domain_checks.setup("shop", "other.example"),
        lambda: core.domain_checks.records("shop", "other.example"),
        lambda: core.domain_checks.check("other.example", slug="shop"),
        lambda: core.dns.add("other.example", "x", "A", "192.0.2.1", actor="t", slug="shop"),
        lambda: core.dns.remove("other.example", "x", "A", actor="t", slug="shop"),
        lambda: core.domains.remove("other.example", actor="t", slug="shop"),
    ):
        with pytest.raises(NotFound):
            call()
    assert (core.dns.list("other.example"), core.domains.list("other")) == before


def test_a_business_has_at_most_max_domains(app, monkeypatch):
    """Past the limit a domain is refused with LimitExceeded, and no
    business can claim it then (the catalog let it go)."""
    monkeypatch.setattr(domains_service, "MAX_DOMAINS", 3)
    app.core.domains.add("shop", "third.example", actor="t")
    with pytest.raises(LimitExceeded):
        app.core.domains.add("shop", "fourth.example", actor="t")
    assert [d.name for d in app.core.domains.list("shop")] == ["shop.appliance.test", "shop.example", "third.example"]
    app.core.domains.add("other", "fourth.example", actor="t")


def test_a_resolver_that_never_answers_leaves_every_line_unknown_in_bounded_time(tmp_path):
    """Through a resolver that swallows every question (check_seconds = 1),
    the check of a domain reports each of its lines "unknown" (never OK,
    never missing) and is over in a few seconds, the lookups running side by
    side."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        app = _app(tmp_path, check_resolver=f"127.0.0.1:{silent.getsockname()[1]}", check_seconds=1)
        try:
            app.core.businesses.create("shop", "Shop", "shop.example", actor="cli")
            started = time.monotonic()
            report = app.core.domain_checks.check("shop.example")
            elapsed = time.monotonic() - started
        finally:
            app.close()
    assert len(report.lines) > 15
    assert {line.status for line in report.lines} == {"unknown"}
    assert not report.ok and report.problems == len(report.lines)
    assert elapsed < 6, elapsed
