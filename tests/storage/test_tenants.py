"""Business files: LRU closing, transparent reopen, export/import, isolation."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest

from storage import directory, schema
from storage.errors import IntegrityFailed, TenantNotFound
from storage.tenants import TenantPool, check_file, export_file

PLAN = directory.Plan("standard", 10, 2**30, 50 * 2**20, 500)


def make(pool: TenantPool, slug: str) -> None:
    pool.get(slug, create=True).write_sync(
        "init", lambda c: directory.init_tenant(c, slug, slug.title(), PLAN, f"{slug}.box.test")
    )


@pytest.fixture
def pool(tmp_path):
    p = TenantPool(tmp_path / "tenants", schema.TENANT_MIGRATIONS, max_open=4, idle_seconds=3600)
    yield p
    p.close_all()


def test_least_recently_used_files_are_closed_past_the_limit(pool):
    """With max_open=4, opening 10 businesses leaves 4 open: the most recent."""
    for i in range(10):
        make(pool, f"b{i}")
    assert pool.open_count == 4
    assert set(pool._open) == {"b6", "b7", "b8", "b9"}


def test_idle_files_are_closed_and_handles_reopen_them(pool):
    """evict_idle closes unused files; a handle's next call reopens its file."""
    make(pool, "quiet")
    handle = pool.handle("quiet")
    pool.idle_seconds = 0
    time.sleep(0.01)
    assert pool.evict_idle() == 1
    assert pool.open_count == 0
    assert handle.read_sync("name", lambda c: directory.get_tenant(c).name) == "Quiet"
    assert asyncio.run(handle.read("name", lambda c: directory.get_tenant(c).slug)) == "quiet"


def test_unknown_or_malformed_slug_never_becomes_a_path(pool):
    """A slug with path characters is refused before any file name is built."""
    make(pool, "real")
    for bad in ("../real", "real/../real", "REAL", "", "a" * 64, "real\x00"):
        with pytest.raises(TenantNotFound):
            pool.handle(bad)
    with pytest.raises(TenantNotFound):
        pool.handle("missing")


def test_one_business_handle_reads_only_its_own_rows(pool):
    """Users of business A are not visible through business B's handle."""
    make(pool, "a")
    make(pool, "b")
    pool.handle("a").write_sync("user", lambda c: directory.add_user(c, "x@a.box.test", "hash"))
    seen_by_b = pool.handle("b").read_sync("users", lambda c: [r["address"] for r in directory.list_users(c)])
    assert seen_by_b == []
    assert pool.handle("b").read_sync("resolve", lambda c: directory.resolve(c, "x@a.box.test")) == []


def test_export_is_a_consistent_standalone_copy(pool, tmp_path):
    """An export made while writes go on passes the integrity check and holds what was committed."""
    make(pool, "shop")
    handle = pool.handle("shop")
    for i in range(5):
        handle.write_sync("user", lambda c, i=i: directory.add_user(c, f"u{i}@shop.box.test", "h"))
    target = tmp_path / "shop-export.sqlite3"
    export_file(pool.get("shop"), target)
    check_file(target)
    conn = sqlite3.connect(target)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 5
    conn.close()
    assert not (tmp_path / "shop-export.sqlite3-wal").exists()


def test_check_file_refuses_garbage_and_foreign_databases(tmp_path):
    """Random bytes, a truncated file and an SQLite file that is not a business are all refused."""
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database" * 100)
    with pytest.raises(IntegrityFailed):
        check_file(junk)
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(IntegrityFailed, match="not a business"):
        check_file(other)


def test_check_file_detects_corruption(pool, tmp_path):
    """A business file with damaged pages fails the integrity check."""
    make(pool, "dmg")
    handle = pool.handle("dmg")
    for i in range(200):
        handle.write_sync("user", lambda c, i=i: directory.audit(c, "t", "x" * 500, str(i)))
    target = tmp_path / "dmg.sqlite3"
    export_file(pool.get("dmg"), target)
    data = bytearray(target.read_bytes())
    page = 4096
    for offset in range(3 * page, min(len(data), 12 * page)):
        data[offset] = (data[offset] * 7 + 13) % 256
    target.write_bytes(bytes(data))
    with pytest.raises(IntegrityFailed):
        check_file(target)


def test_export_import_round_trip_keeps_every_row(tmp_path):
    """Every row of every table survives export, removal and import unchanged."""
    from appliance import settings
    from appliance.app import App

    app = App(settings.from_mapping({}), tmp_path / "state")
    try:
        prov = app.provisioning
        prov.create_tenant("shop", "Shop", "shop.example")
        prov.add_user("ann@shop.example", "a long secret", "Ann")
        prov.add_user("bob@shop.appliance.test", "a long secret")
        prov.add_alias("info@shop.example", ["ann@shop.example", "bob@shop.appliance.test"])
        prov.add_alias("@shop.example", ["ann@shop.example"])

        def dump(conn):
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            # Sorted here: some tables are WITHOUT ROWID, so there is no common order by.
            return {t: sorted((tuple(r) for r in conn.execute(f"SELECT * FROM {t}")), key=repr) for t in tables}

        before = prov.handle("shop").read_sync("dump", dump)
        export = tmp_path / "shop.export"
        prov.export_tenant("shop", export)
        prov.remove_tenant("shop")
        prov.import_tenant(export)
        after = prov.handle("shop").read_sync("dump", dump)
        assert after == before
        assert sum(len(rows) for rows in before.values()) > 10
    finally:
        app.close()
