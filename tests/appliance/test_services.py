"""The services every front end calls (``appliance.services``), on real
business files: what they record, what they refuse, what they import."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import Conflict, InvalidInput, NotFound
from tests.conftest import ROOT


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    yield a
    a.close()


def _audit(app, slug="shop"):
    return app.core.stores.handle(slug).read_sync(
        "audit", lambda c: [(r["actor"], r["action"], r["detail"]) for r in c.execute("SELECT * FROM audit ORDER BY id")]
    )


def test_every_change_is_in_the_audit_log_under_its_actor(app):
    """Each service change writes one audit row naming the actor that asked,
    in the same transaction as the change."""
    core = app.core
    core.businesses.create("shop", "Shop", "shop.example", actor="cli")
    core.people.add("ann@shop.example", "a long secret", actor="owner@shop.example")
    core.addresses.add("info@shop.example", ["ann@shop.example"], actor="panel:ann@shop.example")
    core.people.set_quota("ann@shop.example", 5, actor="api")
    core.dns.add("shop.example", "shop", "A", "192.0.2.1", actor="cli")
    core.businesses.suspend("shop", actor="cli")
    assert [(actor, action) for actor, action, _ in _audit(app)] == [
        ("cli", "tenant.create"),
        ("cli", "domain.add"),
        ("owner@shop.example", "user.add"),
        ("panel:ann@shop.example", "alias.add"),
        ("api", "user.quota"),
        ("cli", "dns.add"),
        ("cli", "tenant.suspend"),
    ]


def test_an_address_named_with_another_business_is_not_found_and_unchanged(app):
    """People and aliases given ``slug=`` refuse an address at another
    business's domain as NotFound (as an unknown one), changing nothing."""
    core = app.core
    for slug in ("shop", "mill"):
        core.businesses.create(slug, slug, actor="cli")
    ann, info = "ann@shop.appliance.test", "info@shop.appliance.test"
    core.people.add(ann, "a long secret", actor="cli", slug="shop")
    core.addresses.add(info, [ann], actor="cli", slug="shop")
    before = _audit(app)
    for change in (lambda: core.people.remove(ann, actor="cli", slug="mill"),
                   lambda: core.people.set_state(ann, "suspended", actor="cli", slug="mill"),
                   lambda: core.people.set_quota(ann, 5, actor="cli", slug="mill"),
                   lambda: core.people.add("bob@shop.appliance.test", "a long secret", actor="cli", slug="mill"),
                   lambda: core.addresses.remove(info, actor="cli", slug="mill"),
                   lambda: core.addresses.add(info, [ann], actor="cli", slug="mill")):
        with pytest.raises(NotFound, match="business mill has no domain shop.appliance.test"):
            change()
    assert _audit(app) == before
    assert [(p.address, p.state) for p in core.people.list("shop")] == [(ann, "active")]


def test_a_refused_change_writes_nothing_not_even_an_audit_row(app):
    """A taken address and a bad quota raise the service's error, and the
    business file (audit log included) is as it was."""
    core = app.core
    core.businesses.create("shop", "Shop", actor="cli")
    core.people.add("ann@shop.appliance.test", "a long secret", actor="cli")
    before = _audit(app)
    with pytest.raises(Conflict):
        core.people.add("ann@shop.appliance.test", "another secret", actor="cli")
    with pytest.raises(InvalidInput):
        core.people.set_quota("ann@shop.appliance.test", -1, actor="cli")
    assert _audit(app) == before
    assert [p.address for p in core.people.list("shop")] == ["ann@shop.appliance.test"]


def test_the_cli_records_itself_as_the_actor(cli, state_dir):
    """A change made with the command line is in the audit log as "cli"."""
    cli("tenant", "add", "shop")
    cli("user", "add", "ann@shop.appliance.test")
    conn = sqlite3.connect(f"{(state_dir / 'tenants' / 'shop.sqlite3').as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT actor, action FROM audit ORDER BY id").fetchall()
    finally:
        conn.close()
    assert rows == [("cli", "tenant.create"), ("cli", "user.add")]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's package
                package = ".".join(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
                base = f"{package}.{base}" if base else package
            names.add(base)
    return names


@pytest.mark.parametrize("package, forbidden", [
    ("appliance/services", ("protocols", "appliance.cli")),
    ("sitegen", ("protocols", "appliance.cli", "appliance.services")),
])
def test_services_and_the_site_builder_import_no_front_end_or_protocol(package, forbidden):
    """The services and the site builder never import a protocol or a front
    end (layers point down: front ends call services, not the reverse)."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name in _imports(path):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    assert found == []
