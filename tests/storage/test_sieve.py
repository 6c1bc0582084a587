"""Sieve scripts in the business file: at most one active per user, the
limits on size and count, the active script kept from deletion, vacation
memory per sender and handle, and the daily redirect count."""

from __future__ import annotations

import pytest

from appliance import settings
from appliance.app import App
from appliance.errors import Conflict, LimitExceeded, NotFound
from storage import directory
from storage import sieve as sievedb

LIMITS = {"max_scripts": 2, "max_bytes": 100, "max_total": 150}


@pytest.fixture
def shop(tmp_path):
    app = App(settings.from_mapping({}), tmp_path / "state")
    app.provisioning.create_tenant("shop", "Shop", "shop.example")
    app.provisioning.add_user("ann@shop.example", "a long secret")
    handle = app.provisioning.handle("shop")
    ann = handle.read_sync("id", lambda c: directory.get_user(c, "ann@shop.example")["id"])
    yield handle, ann
    app.close()


def put(handle, user, name, text="keep;"):
    handle.write_sync("put", lambda c: sievedb.put_script(c, user, name, text, **LIMITS))


def test_only_one_script_is_active(shop):
    """Activating a second script deactivates the first; SETACTIVE "" deactivates all."""
    handle, ann = shop
    put(handle, ann, "a")
    put(handle, ann, "b")
    handle.write_sync("a", lambda c: sievedb.set_active(c, ann, "a"))
    handle.write_sync("b", lambda c: sievedb.set_active(c, ann, "b"))
    listing = handle.read_sync("l", lambda c: sievedb.list_scripts(c, ann))
    assert [(s["name"], s["active"]) for s in listing] == [("a", False), ("b", True)]
    handle.write_sync("none", lambda c: sievedb.set_active(c, ann, None))
    assert handle.read_sync("act", lambda c: sievedb.active_scripts(c, [ann])) == {}


def test_size_and_count_limits(shop):
    """A script over max_bytes, a third script, or scripts over max_total together are refused."""
    handle, ann = shop
    with pytest.raises(LimitExceeded):
        put(handle, ann, "big", "#" * 101)
    put(handle, ann, "one", "#" * 90)
    with pytest.raises(LimitExceeded):
        put(handle, ann, "two", "#" * 90)
    put(handle, ann, "two", "#" * 50)
    with pytest.raises(LimitExceeded):
        put(handle, ann, "three")
    put(handle, ann, "one", "#" * 95)  # replacing a script counts its new size only


def test_the_active_script_cannot_be_deleted(shop):
    """Deleting the active script is a Conflict; an unknown name is NotFound."""
    handle, ann = shop
    put(handle, ann, "main")
    handle.write_sync("a", lambda c: sievedb.set_active(c, ann, "main"))
    with pytest.raises(Conflict):
        handle.write_sync("d", lambda c: sievedb.delete_script(c, ann, "main"))
    with pytest.raises(NotFound):
        handle.write_sync("d", lambda c: sievedb.delete_script(c, ann, "other"))


def test_vacation_memory_per_sender_and_handle(shop):
    """A reply is due once per sender and handle within the period, and again after it."""
    handle, ann = shop

    def due(sender, tag, now):
        return handle.write_sync("v", lambda c: sievedb.vacation_due(c, ann, sender, tag, 7 * 86_400, now=now))

    assert due("joe@x.test", "h", 1_000_000.0)
    assert not due("joe@x.test", "h", 1_000_000.0 + 6 * 86_400)
    assert due("joe@x.test", "other", 1_000_000.0 + 6 * 86_400)
    assert due("amy@x.test", "h", 1_000_000.0 + 6 * 86_400)
    assert due("joe@x.test", "h", 1_000_000.0 + 8 * 86_400)


def test_redirects_per_day_are_counted(shop):
    """The redirect past the daily limit raises LimitExceeded and is not counted as done."""
    handle, ann = shop
    for _ in range(3):
        handle.write_sync("r", lambda c: sievedb.count_redirect(c, ann, 3))
    with pytest.raises(LimitExceeded):
        handle.write_sync("r", lambda c: sievedb.count_redirect(c, ann, 3))
    assert handle.read_sync("n", lambda c: c.execute("SELECT count FROM sieve_redirects").fetchone()[0]) == 3
