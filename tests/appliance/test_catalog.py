"""The one catalog (domain -> business, name, state), on a real box
database: loaded once per box generation, found again at once after a
change, and the one map SMTP, DAV, web and logins read."""

from __future__ import annotations

import asyncio
import base64
import http.client
import smtplib
import time

import pytest

from appliance import settings
from appliance.app import App
from appliance.catalog import Catalog
from storage import box as boxdb
from tests.conftest import Cli, Daemon, wait_for


@pytest.fixture
def app(tmp_path):
    a = App(settings.from_mapping({}), tmp_path / "state")
    a.provisioning.create_tenant("shop", "The Shop", "shop.example")
    yield a
    a.close()


def test_lookups_are_served_from_memory_until_the_generation_moves(app):
    """Hits never read the box; a change of generation (another process
    wrote) reloads once, on the next miss or refresh."""
    catalog = Catalog(app.box)
    shop = catalog.find_sync("Shop.Example.")
    assert (shop.slug, shop.name, shop.state, shop.active) == ("shop", "The Shop", "active", True)
    loads = catalog.loads
    for _ in range(100):
        assert catalog.find_sync("shop.example") is shop
    assert catalog.find_sync("nowhere.example") is None
    assert catalog.loads == loads  # a miss at the same generation reads only the counter
    # Another process (the CLI) adds a business: found at once.
    other = App(app.settings, app.state_dir)
    try:
        other.provisioning.create_tenant("cafe", "Cafe", "cafe.example")
    finally:
        other.close()
    assert catalog.find_sync("cafe.example").slug == "cafe"
    assert catalog.loads == loads + 1
    assert catalog.find_sync("cafe.shop.appliance.test") is None


def test_a_change_through_this_process_is_seen_by_the_next_lookup(app):
    """Provisioning invalidates the App's catalog after each box write:
    a suspension shows at once, a removed domain is gone at once."""
    catalog = app.catalog
    assert catalog.find_sync("shop.example").active
    app.provisioning.set_state("shop", "suspended")
    assert catalog.find_sync("shop.example").state == "suspended"
    app.provisioning.remove_domain("shop.example")
    assert catalog.find_sync("shop.example") is None
    assert catalog.find_business_sync("shop").domains == ("shop.appliance.test",)


def test_async_and_memory_lookups_agree(app):
    """find (on the loop) reloads like find_sync; get never reads."""
    catalog = Catalog(app.box)
    assert catalog.get("shop.example") is None  # not loaded yet: memory only
    assert asyncio.run(catalog.find("shop.example")).slug == "shop"
    assert catalog.get("shop.example").slug == "shop"
    generation = app.box.read_sync("g", boxdb.generation)
    assert catalog.snapshot.generation == generation


def test_a_domain_added_while_the_daemon_runs_works_everywhere_at_once(cli: Cli, daemon: Daemon):
    """A business and domain made by the CLI are reachable over SMTP (RCPT),
    IMAP and DAV logins at once, and over HTTP by Host within the
    daemon's poll (one catalog behind them all)."""
    cli("tenant", "add", "late", "--domain", "late.example")
    cli("user", "add", "lea@late.example", "--password-stdin", input="a long password\n")
    with smtplib.SMTP("127.0.0.1", daemon.port("smtp"), timeout=30) as smtp:
        smtp.ehlo("client.example")
        smtp.mail("someone@client.example")
        assert smtp.rcpt("lea@late.example")[0] == 250
        assert smtp.rcpt("nobody@unhosted.example")[0] == 550
    def propfind() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port("http"), timeout=30)
        token = base64.b64encode(b"lea@late.example:a long password").decode()
        conn.request("PROPFIND", "/dav/lea@late.example/", headers={"Host": "box.appliance.test", "Depth": "0", "Authorization": f"Basic {token}"})
        status = conn.getresponse().status
        conn.close()
        return status

    assert propfind() == 207

    def site() -> int:
        conn = http.client.HTTPConnection("127.0.0.1", daemon.port("http"), timeout=30)
        conn.request("GET", "/mail/config-v1.1.xml", headers={"Host": "autoconfig.late.example"})
        status = conn.getresponse().status
        conn.close()
        return status

    started = time.monotonic()
    wait_for(lambda: site() == 200, timeout=10)
    assert time.monotonic() - started < 5
