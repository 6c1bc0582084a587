"""storage.crm on a real business file: stages, the bounded timeline, and
what is forgotten with a contact."""

from __future__ import annotations

import sqlite3

import pytest

from appliance.errors import InvalidInput
from storage import crm, schema
from tests.storage.bakery import business_file


@pytest.fixture
def db(tmp_path):
    def provision(conn: sqlite3.Connection) -> None:
        for hook in schema.ON_TENANT_CREATED:
            hook(conn, "bakery")

    with business_file(tmp_path, provision) as database:
        yield database


def test_a_stage_outside_the_four_is_refused_and_changes_nothing(db):
    """lead, prospect, customer and former are stages; "won" is InvalidInput
    and the stage set before stays."""
    db.write_sync("stage", lambda c: crm.set_stage(c, "u1", "prospect"))
    with pytest.raises(InvalidInput):
        db.write_sync("stage", lambda c: crm.set_stage(c, "u1", "won"))
    assert db.read_sync("state", lambda c: crm.state(c, "u1")) == crm.CrmState("prospect", False)


def test_the_timeline_keeps_the_newest_entries_only(db, monkeypatch):
    """Past MAX_ACTIVITIES entries for a contact, the oldest go; another
    contact's entries are untouched."""
    monkeypatch.setattr(crm, "MAX_ACTIVITIES", 3)

    def add(conn: sqlite3.Connection) -> None:
        crm.add_activity(conn, "other", "ann", "note", "keep me")
        for i in range(5):
            crm.add_activity(conn, "u1", "ann", "call", f"call {i}")

    db.write_sync("activities", add)
    assert [a.text for a in db.read_sync("timeline", lambda c: crm.timeline(c, "u1"))] == ["call 4", "call 3", "call 2"]
    assert [a.text for a in db.read_sync("timeline", lambda c: crm.timeline(c, "other"))] == ["keep me"]


def test_forgetting_a_contact_drops_its_stage_timeline_and_follow_up_links(db):
    """forget() leaves nothing of the contact in the CRM tables."""
    def fill(conn: sqlite3.Connection) -> None:
        crm.set_stage(conn, "u1", "lead")
        crm.add_activity(conn, "u1", "ann", "note", "hello")
        crm.link_followup(conn, "todo-1", "u1", "ann")

    db.write_sync("fill", fill)
    db.write_sync("forget", lambda c: crm.forget(c, "u1"))
    assert db.read_sync("left", lambda c: (crm.state(c, "u1"), crm.timeline(c, "u1"), crm.followups(c, "u1"))) == (
        crm.CrmState(None, False), [], [])


def test_moving_a_merged_contact_keeps_the_kept_stage_and_takes_the_rest(db):
    """u2 merged into u1: u1 keeps its own stage (u3, without one, takes
    the other's), gains u2's timeline, follow-up links and "do not
    contact"; nothing of u2 is left."""
    def setup(conn: sqlite3.Connection) -> None:
        crm.set_stage(conn, "u1", "lead")
        crm.set_stage(conn, "u2", "customer")
        crm.set_do_not_contact(conn, "u2", True)
        crm.add_activity(conn, "u2", "ann", "call", "called")
        crm.link_followup(conn, "todo-1", "u2", "ann")
        crm.move(conn, "u2", "u1")
        crm.set_stage(conn, "u4", "prospect")
        crm.move(conn, "u4", "u3")

    db.write_sync("merge", setup)
    assert db.read_sync("state", lambda c: crm.state(c, "u1")) == crm.CrmState("lead", True)
    assert db.read_sync("state", lambda c: crm.state(c, "u3")) == crm.CrmState("prospect", False)
    assert [a.text for a in db.read_sync("timeline", lambda c: crm.timeline(c, "u1"))] == ["called"]
    assert db.read_sync("followups", lambda c: crm.followups(c, "u1")) == ["todo-1"]
    assert db.read_sync("gone", lambda c: (crm.states(c).get("u2"), crm.timeline(c, "u2"), crm.followups(c, "u2"))) == (None, [], [])
