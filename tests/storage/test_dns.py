"""storage.dns on a real SQLite file: uniqueness, RRset TTL, removal, the
count limit, and records leaving (or moving) with their domain."""

from __future__ import annotations

import sqlite3

import pytest

from appliance.errors import Conflict, LimitExceeded, NotFound
from storage import directory, dns
from tests.storage.bakery import business_file


@pytest.fixture
def db(tmp_path):
    with business_file(tmp_path, lambda conn: directory.add_domain(conn, "bakery.example")) as database:
        yield database


def add(db, name, rtype, value, ttl=3600, limit=10, domain="bakery.example"):
    db.write_sync("add", lambda c: dns.add_record(c, domain, name, rtype, value, ttl, limit))


def test_a_record_is_stored_once(db):
    """The same record twice is a Conflict and leaves one row."""
    add(db, "www", "A", "192.0.2.1")
    with pytest.raises(Conflict):
        add(db, "www", "A", "192.0.2.1")
    assert len(db.read_sync("list", dns.list_records)) == 1


def test_records_of_one_rrset_share_the_last_ttl(db):
    """RFC 2181 5.2: adding to an RRset with another TTL sets it for the whole set."""
    add(db, "www", "A", "192.0.2.1", ttl=3600)
    add(db, "www", "A", "192.0.2.2", ttl=300)
    assert {r["ttl"] for r in db.read_sync("list", dns.list_records)} == {300}


def test_remove_one_value_or_the_whole_rrset(db):
    """Removing with a value takes that record; without, the RRset; nothing to remove is NotFound."""
    for value in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        add(db, "www", "A", value)
    assert db.write_sync("rm", lambda c: dns.remove_records(c, "bakery.example", "www", "A", "192.0.2.1")) == 1
    assert db.write_sync("rm", lambda c: dns.remove_records(c, "bakery.example", "www", "A")) == 2
    with pytest.raises(NotFound):
        db.write_sync("rm", lambda c: dns.remove_records(c, "bakery.example", "www", "A"))


def test_count_limit_per_business(db):
    """Past the limit, LimitExceeded and no new row."""
    for i in range(3):
        add(db, f"h{i}", "A", "192.0.2.1", limit=3)
    with pytest.raises(LimitExceeded):
        add(db, "h9", "A", "192.0.2.1", limit=3)
    assert len(db.read_sync("list", dns.list_records)) == 3


def test_records_leave_and_move_with_their_domain(db):
    """Removing a domain removes its records; renaming the free domain carries its records along."""
    add(db, "www", "A", "192.0.2.1")
    add(db, "shop", "A", "192.0.2.2", domain="bakery.appliance.test")
    db.write_sync("rm", lambda c: directory.remove_domain(c, "bakery.example"))
    db.write_sync("mv", lambda c: c.execute("UPDATE domains SET name = 'cakes.appliance.test' WHERE name = 'bakery.appliance.test'"))
    rows = db.read_sync("list", dns.list_records)
    assert [(r["domain"], r["name"]) for r in rows] == [("cakes.appliance.test", "shop")]


def test_a_record_needs_an_existing_domain(db):
    """A record for a domain the business does not have violates the foreign key."""
    with pytest.raises(sqlite3.IntegrityError):
        add(db, "www", "A", "192.0.2.1", domain="other.example")
