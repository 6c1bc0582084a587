"""storage.dav on real SQLite files: provisioning, sync log, etags, time
ranges, limits and usage."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from appliance.errors import Conflict, LimitExceeded
from storage import dav, directory, schema
from storage.database import Database
from tests.storage.bakery import PLAN, business_file

@pytest.fixture
def db(tmp_path):
    def provision(conn: sqlite3.Connection) -> None:
        for hook in schema.ON_TENANT_CREATED:
            hook(conn, "bakery")
        user_id = directory.add_user(conn, "alice@bakery.appliance.test", "x")
        for hook in schema.ON_USER_CREATED:
            hook(conn, user_id)

    with business_file(tmp_path, provision) as database:
        yield database


def item(href: str, start: int = 0, end: int = 10, text: str = "BEGIN:VCALENDAR", component: str = "VEVENT") -> dav.NewItem:
    return dav.NewItem(href, href, "VCALENDAR", component, f'"{href}-{len(text)}"', start, end, text)


def calendar(db: Database, path: str = "bakery/calendar") -> dav.CollectionRow:
    return db.read_sync("get", lambda c: dav.get_collection(c, path))


def test_business_and_user_get_their_default_collections(db):
    """A new business has a shared calendar, task list and address book; a new
    user has a personal calendar, task list and address book."""
    paths = db.read_sync("list", lambda c: [r.path for r in dav.children(c, "bakery") + dav.children(c, "alice@bakery.appliance.test")])
    assert paths == [
        "bakery/calendar", "bakery/customers", "bakery/projects",
        "alice@bakery.appliance.test/calendar", "alice@bakery.appliance.test/contacts", "alice@bakery.appliance.test/tasks",
    ]
    tasks = calendar(db, "bakery/projects")
    assert tasks.props["C:supported-calendar-component-set"] == "VTODO" and tasks.tag == "VCALENDAR"


def test_changes_since_returns_only_later_changes_including_deletions(db):
    """After seq N, only hrefs written or deleted later come back, each once."""
    cal = calendar(db)
    for n in range(5):
        db.write_sync("put", lambda c, n=n: dav.put_item(c, cal.id, item(f"e{n}.ics")))
    seq = calendar(db).seq
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("e1.ics", text="changed")))
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("e1.ics", text="changed again")))
    db.write_sync("del", lambda c: dav.delete_item(c, cal.id, "e3.ics"))
    changes = db.read_sync("sync", lambda c: dav.changes_since(c, cal.id, seq))
    assert changes == ["e1.ics", "e3.ics"]
    assert db.read_sync("sync", lambda c: dav.changes_since(c, cal.id, calendar(db).seq)) == []


def test_put_returns_old_item_and_new_etag(db):
    """Replacing an item returns the previous version; the stored etag is the new one."""
    cal = calendar(db)
    new, old = db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("a.ics", text="one")))
    assert old is None
    new2, old2 = db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("a.ics", text="three")))
    assert old2.etag == new.etag and new2.etag != new.etag and new2.text == "three"


def test_listing_matches_all_items_without_text(db):
    """The listing gives, in the same order, what all_items gives of each
    item except its text; another collection's items are not in it; asked
    for some hrefs, it gives those that exist."""
    cal = calendar(db)
    other = calendar(db, "bakery/projects")
    for href in ("b.ics", "a.ics", "c.ics"):
        db.write_sync("put", lambda c, href=href: dav.put_item(c, cal.id, item(href, text=f"text of {href}")))
    db.write_sync("put", lambda c: dav.put_item(c, other.id, item("elsewhere.ics")))
    rows = db.read_sync("listing", lambda c: dav.listing(c, cal.id))
    full = db.read_sync("all", lambda c: dav.all_items(c, cal.id))
    assert rows == [dav.ListingRow(i.href, i.name, i.component, i.etag, i.size, i.modified) for i in full]
    assert [r.href for r in rows] == ["a.ics", "b.ics", "c.ics"]
    assert db.read_sync("some", lambda c: dav.listing(c, cal.id, ["c.ics", "gone.ics", "a.ics"])) == [rows[0], rows[2]]
    assert db.read_sync("listing", lambda c: dav.listing(c, calendar(db, "bakery/customers").id)) == []


def test_time_range_query_uses_stored_bounds(db):
    """Only items whose [start, end) overlaps the query come back, of the asked component."""
    cal = calendar(db)
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("early.ics", 0, 100)))
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("late.ics", 1000, 1100)))
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("forever.ics", 50, dav.MAX_TIME)))
    db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("todo.ics", 0, 2000, component="VTODO")))
    hits = db.read_sync("q", lambda c: [i.href for i in dav.items_in_range(c, cal.id, "VEVENT", 1050, 1060)])
    assert hits == ["forever.ics", "late.ics"]
    assert db.read_sync("q", lambda c: [i.href for i in dav.items_in_range(c, cal.id, None, 100, 101)]) == ["forever.ics", "todo.ics"]
    plan = db.read_sync("plan", lambda c: c.execute(
        "EXPLAIN QUERY PLAN SELECT href FROM dav_items WHERE collection_id = 1 AND start < 5 AND end > 1 AND component = 'VEVENT'"
    ).fetchall())
    assert any("dav_items_time" in row[3] for row in plan)


def test_item_count_limit_and_quota_refuse_writes(db):
    """Past the item count or the byte quota a PUT raises LimitExceeded and stores nothing."""
    cal = calendar(db)
    small = dav.Limits(max_items_per_collection=2, max_bytes=1000)
    for n in range(2):
        db.write_sync("put", lambda c, n=n: dav.put_item(c, cal.id, item(f"l{n}.ics"), limits=small))
    with pytest.raises(LimitExceeded):
        db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("l2.ics"), limits=small))
    with pytest.raises(LimitExceeded):
        db.write_sync("put", lambda c: dav.put_item(c, cal.id, item("l0.ics", text="x" * 2000), limits=small))
    assert db.read_sync("n", lambda c: dav.count_items(c, cal.id)) == 2


def test_usage_follows_writes_and_cascades(db):
    """Usage counts bytes and items, and drops when a user (and their
    collections) is removed."""
    mine = calendar(db, "alice@bakery.appliance.test/calendar")
    db.write_sync("put", lambda c: dav.put_item(c, mine.id, item("u.ics", text="12345")))
    assert db.read_sync("u", dav.usage) == {"dav_bytes": 5, "dav_items": 1}
    db.write_sync("rm", lambda c: directory.remove_user(c, "alice@bakery.appliance.test"))
    assert db.read_sync("u", dav.usage) == {"dav_bytes": 0, "dav_items": 0}
    assert calendar(db, "alice@bakery.appliance.test/calendar") is None


def test_tombstones_are_pruned_and_old_tokens_become_invalid(db, monkeypatch):
    """Past MAX_TOMBSTONES deletions the oldest are dropped and the horizon moves past them."""
    monkeypatch.setattr(dav, "MAX_TOMBSTONES", 10)
    cal = calendar(db)
    for n in range(12):
        db.write_sync("put", lambda c, n=n: dav.put_item(c, cal.id, item(f"t{n}.ics")))
    for n in range(12):
        db.write_sync("del", lambda c, n=n: dav.delete_item(c, cal.id, f"t{n}.ics"))
    row = calendar(db)
    assert row.horizon > 12
    left = db.read_sync("c", lambda c: c.execute("SELECT count(*) FROM dav_changes WHERE collection_id = ?", (cal.id,)).fetchone()[0])
    assert left <= 11


def test_recreated_collection_gets_a_new_nonce(db):
    """Deleting and recreating a collection changes its nonce, so old sync tokens fail."""
    before = calendar(db, "alice@bakery.appliance.test/calendar")
    db.write_sync("del", lambda c: dav.delete_collection(c, before.path))
    db.write_sync("mk", lambda c: dav.create_collection(c, before.path, "VCALENDAR", {}))
    assert calendar(db, before.path).nonce != before.nonce
    with pytest.raises(Conflict):
        db.write_sync("mk", lambda c: dav.create_collection(c, before.path, "VCALENDAR", {}))


def test_migration_gives_existing_users_their_collections(tmp_path):
    """A business file made before the DAV module gets shared and personal
    collections when it is opened."""
    without_dav = [m for m in schema.TENANT_MIGRATIONS if m is not dav.MIGRATIONS]
    old = Database(tmp_path / "old.sqlite3", without_dav)
    old.write_sync("init", lambda c: (directory.init_tenant(c, "old", "Old", PLAN, "old.appliance.test"),
                                      directory.add_user(c, "u@old.appliance.test", "x")))
    old.close()
    reopened = Database(tmp_path / "old.sqlite3", schema.TENANT_MIGRATIONS)
    try:
        assert calendar(reopened, "old/calendar") is not None
        assert calendar(reopened, "u@old.appliance.test/contacts") is not None
    finally:
        reopened.close()


def test_a_calendar_feed_is_off_until_set_and_a_new_token_replaces_the_old_at_once(db):
    """New calendars have no feed; a token set finds its calendar (only
    its hash is stored); a second token makes the first find nothing;
    None turns it off."""
    cal = calendar(db)
    assert cal.feed_token is None
    assert db.read_sync("list", lambda c: [r.on for r in dav.calendars(c, "bakery")]) == [False, False]
    db.write_sync("on", lambda c: dav.set_feed(c, cal.id, "first-token-0123456789"))
    assert calendar(db).feed_token == dav.feed_hash("first-token-0123456789") != "first-token-0123456789"
    assert db.read_sync("find", lambda c: dav.collection_by_feed_token(c, "first-token-0123456789")).path == "bakery/calendar"
    db.write_sync("renew", lambda c: dav.set_feed(c, cal.id, "second-token-0123456789"))
    assert db.read_sync("find", lambda c: dav.collection_by_feed_token(c, "first-token-0123456789")) is None
    assert db.read_sync("find", lambda c: dav.collection_by_feed_token(c, "second-token-0123456789")).id == cal.id
    db.write_sync("off", lambda c: dav.set_feed(c, cal.id, None))
    assert db.read_sync("find", lambda c: dav.collection_by_feed_token(c, "second-token-0123456789")) is None
    assert not db.read_sync("list", lambda c: dav.calendars(c, "bakery"))[0].on


def test_the_feeds_migration_turns_every_existing_feed_off(tmp_path):
    """A file from before feeds could be turned off had a token on every
    calendar: after the migration none has (the old links answer 404)."""
    old = sqlite_utils.Database(tmp_path / "old.sqlite3")
    directory.MIGRATIONS.apply(old)
    dav.MIGRATIONS.apply(old, stop_before="0002_dav_feeds_off")
    old.conn.execute("INSERT INTO dav_collections (path, parent, tag, nonce, feed_token, modified)"
                     " VALUES ('bakery/calendar', 'bakery', 'VCALENDAR', 'n', 'always-on-token', 0)")
    old.conn.commit()
    dav.MIGRATIONS.apply(old)
    old.conn.row_factory = sqlite3.Row
    assert dav.get_collection(old.conn, "bakery/calendar").feed_token is None
    assert dav.collection_by_feed_token(old.conn, "always-on-token") is None
