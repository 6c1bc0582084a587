"""storage.deals on a real business file, and the CRM migration that lets
the timeline hold deals' stage changes."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from storage import crm, deals, schema
from storage.database import Database
from tests.storage.bakery import business_file


@pytest.fixture
def db(tmp_path):
    with business_file(tmp_path) as database:
        yield database


def _values(stage_id: int, **kw) -> deals.DealValues:
    base = dict(title="Bread", amount_cents=12_50, currency="EUR", stage_id=stage_id, close_date="",
                probability=50, owner="ann@bakery.example")
    return deals.DealValues(**{**base, **kw})


def test_a_stage_that_has_deals_cannot_be_removed(db):
    """The foreign key keeps a stage with deals; without them it goes."""
    def setup(conn: sqlite3.Connection) -> tuple[int, str]:
        stage = deals.add_stage(conn, "New", "open", 0)
        return stage, deals.add(conn, "card-1", _values(stage))

    stage, deal = db.write_sync("setup", setup)
    with pytest.raises(sqlite3.IntegrityError):
        db.write_sync("remove", lambda c: deals.remove_stage(c, stage))
    assert [s.deals for s in db.read_sync("stages", deals.stages)] == [1]
    db.write_sync("delete", lambda c: deals.delete(c, deal))
    db.write_sync("remove", lambda c: deals.remove_stage(c, stage))
    assert db.read_sync("stages", deals.stages) == []


def test_a_deal_id_is_random_and_forgetting_a_contact_drops_only_its_deals(db):
    """Ids are 16 hex digits, different each time; forget() removes the
    deals of one contact and leaves the others."""
    def setup(conn: sqlite3.Connection) -> list[str]:
        stage = deals.add_stage(conn, "New", "open", 0)
        return [deals.add(conn, uid, _values(stage)) for uid in ("gone", "gone", "kept")]

    ids = db.write_sync("setup", setup)
    assert len(set(ids)) == 3 and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    db.write_sync("forget", lambda c: deals.forget(c, "gone"))
    assert [d.contact_uid for d in db.read_sync("all", deals.all_deals)] == ["kept"]


def test_the_migration_keeps_the_timeline_and_lets_it_hold_deals(tmp_path):
    """A file whose CRM tables predate deals keeps its timeline entries
    (ids and all) when opened, and then takes "deal" entries."""
    old_crm = sqlite_utils.Migrations("crm")
    for migration in crm.MIGRATIONS._migrations[:2]:
        old_crm(name=migration.name)(migration.fn)
    old_sets = [old_crm if m is crm.MIGRATIONS else m for m in schema.TENANT_MIGRATIONS if m is not deals.MIGRATIONS]
    old = Database(tmp_path / "old.sqlite3", old_sets)
    old.write_sync("note", lambda c: crm.add_activity(c, "card-1", "ann", "note", "from before"))
    with pytest.raises(sqlite3.IntegrityError):
        old.write_sync("deal", lambda c: c.execute(
            "INSERT INTO crm_activities (uid, at, actor, kind, text) VALUES ('card-1', 0, 'ann', 'deal', 'x')"))
    old.close()
    reopened = Database(tmp_path / "old.sqlite3", schema.TENANT_MIGRATIONS)
    try:
        reopened.write_sync("deal", lambda c: crm.add_activity(c, "card-1", "ann", "deal", "Bread → Won"))
        entries = reopened.read_sync("timeline", lambda c: crm.timeline(c, "card-1"))
        assert [(a.kind, a.text) for a in entries] == [("deal", "Bread → Won"), ("note", "from before")]
        assert reopened.read_sync("stages", deals.stages) == []
    finally:
        reopened.close()
