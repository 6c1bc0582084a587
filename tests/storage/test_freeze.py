"""The freeze marker: after it commits, nothing that changes the business
commits, from this process or another; reads and no-op writes still pass."""

from __future__ import annotations

import pytest

from storage import directory, freeze, schema
from storage.database import Database
from storage.errors import Frozen
from storage.tenants import TenantPool

PLAN = directory.Plan("standard", 10, 2**30, 50 * 2**20, 500)


@pytest.fixture
def pool(tmp_path):
    p = TenantPool(tmp_path / "tenants", schema.TENANT_MIGRATIONS, max_open=4, idle_seconds=3600)
    p.get("bakery", create=True).write_sync(
        "init", lambda c: directory.init_tenant(c, "bakery", "Bakery", PLAN, "bakery.box.test"))
    yield p
    p.close_all()


def rename(name):
    return lambda c: c.execute("UPDATE tenant SET name = ?", (name,)).rowcount


def name_of(handle):
    return handle.read_sync("name", lambda c: c.execute("SELECT name FROM tenant").fetchone()[0])


def test_a_write_after_the_marker_fails_with_frozen_and_changes_nothing(pool):
    """Once frozen, a write that changes a row raises Frozen naming the
    target and is rolled back; reads still answer."""
    handle = pool.handle("bakery")
    handle.write_sync("freeze", lambda c: freeze.freeze(c, "b.box.test"), frozen_ok=True)
    with pytest.raises(Frozen) as caught:
        handle.write_sync("rename", rename("Changed"))
    assert caught.value.target == "b.box.test" and not caught.value.moved
    assert name_of(handle) == "Bakery"


def test_a_write_that_changes_nothing_passes(pool):
    """An "ensure it exists" write that finds everything in place is not
    refused, so reads that write on the side keep working."""
    handle = pool.handle("bakery")
    handle.write_sync("freeze", lambda c: freeze.freeze(c, "b.box.test"), frozen_ok=True)
    assert handle.write_sync("noop", lambda c: c.execute("SELECT 1").fetchone()[0]) == 1


def test_a_marker_written_by_another_process_is_seen(pool, tmp_path):
    """The marker is read inside each transaction: a second connection (the
    CLI, another process) freezing the file stops the open pool's writes."""
    handle = pool.handle("bakery")
    assert handle.write_sync("rename", rename("Before")) == 1
    other = Database(pool.path("bakery"), schema.TENANT_MIGRATIONS)
    try:
        other.write_sync("freeze", lambda c: freeze.freeze(c, "b.box.test"))
    finally:
        other.close()
    with pytest.raises(Frozen):
        handle.write_sync("rename", rename("After"))
    assert name_of(handle) == "Before"


def test_thawing_lets_writes_through_again(pool):
    """Removing the marker (a move that failed) makes the business writable."""
    handle = pool.handle("bakery")
    handle.write_sync("freeze", lambda c: freeze.freeze(c, "b.box.test"), frozen_ok=True)
    assert handle.write_sync("thaw", freeze.thaw, frozen_ok=True)
    assert handle.write_sync("rename", rename("Again")) == 1
    assert name_of(handle) == "Again"


def test_one_frozen_write_does_not_fail_a_frozen_ok_write_of_the_same_group(pool):
    """In one group commit, the refused write rolls back alone."""
    db = pool.get("bakery")
    db.write_sync("freeze", lambda c: freeze.freeze(c, "b.box.test"), frozen_ok=True)
    refused = db.submit_write("rename", rename("No"))
    allowed = db.submit_write("moved", freeze.mark_moved, frozen_ok=True)
    assert allowed.result() is None
    with pytest.raises(Frozen):
        refused.result()
    assert db.read_sync("m", freeze.marker).moved
