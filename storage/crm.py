"""The mini-CRM of one business: what a contact's vCard cannot hold.

Cards live in the shared address book (:mod:`storage.dav`); these tables
are keyed by the card's UID, never by its href, so a client that renames
or rewrites a card keeps its stage and timeline:

``crm_contacts``
    the stage of a contact (lead, prospect, customer, former) and its
    "do not contact" flag;
``crm_activities``
    the timeline: notes, calls, meetings, stage changes and the stage
    changes of the contact's deals (:mod:`storage.deals`), with who and
    when;
``crm_followups``
    which task of the shared follow-ups list is about which contact (by
    the task's UID: clients may rebuild a task keeping only its UID, so
    the link never lives only in the task).

Functions take a connection and run inside a transaction of
:class:`storage.database.Database`; they know nothing of vCards or HTTP.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

import sqlite_utils

from .errors import InvalidInput, LimitExceeded

MIGRATIONS = sqlite_utils.Migrations("crm")

STAGES = ("lead", "prospect", "customer", "former")
#: What a timeline entry may be; "stage" entries are written by set_stage,
#: "deal" ones when a deal is added or changes stage.
ACTIVITIES = ("note", "call", "meeting", "stage", "deal")
#: Longest text of one timeline entry, and entries kept per contact.
MAX_ACTIVITY_CHARS = 4000
MAX_ACTIVITIES = 2000
#: Follow-up tasks linked to one contact.
MAX_FOLLOWUPS = 500


@MIGRATIONS(name="0001_crm")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE crm_contacts (
            uid TEXT PRIMARY KEY,
            stage TEXT CHECK (stage IS NULL OR stage IN ('lead', 'prospect', 'customer', 'former')),
            do_not_contact INTEGER NOT NULL DEFAULT 0,
            updated REAL NOT NULL
        );
        CREATE INDEX crm_contacts_stage ON crm_contacts(stage);
        CREATE TABLE crm_activities (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('note', 'call', 'meeting', 'stage')),
            text TEXT NOT NULL
        );
        CREATE INDEX crm_activities_uid ON crm_activities(uid, at);
        """
    )


@MIGRATIONS(name="0002_crm_followups")
def _m0002(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE crm_followups (
            todo_uid TEXT PRIMARY KEY,
            contact_uid TEXT NOT NULL,
            created REAL NOT NULL,
            actor TEXT NOT NULL
        );
        CREATE INDEX crm_followups_contact ON crm_followups(contact_uid, created);
        """
    )


@MIGRATIONS(name="0003_crm_deal_activities")
def _m0003(db: sqlite_utils.Database) -> None:
    # SQLite cannot change a CHECK constraint in place: the table is
    # rebuilt with the same rows (its ids kept) and index.
    db.executescript(
        """
        CREATE TABLE crm_activities_new (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('note', 'call', 'meeting', 'stage', 'deal')),
            text TEXT NOT NULL
        );
        INSERT INTO crm_activities_new (id, uid, at, actor, kind, text)
            SELECT id, uid, at, actor, kind, text FROM crm_activities;
        DROP TABLE crm_activities;
        ALTER TABLE crm_activities_new RENAME TO crm_activities;
        CREATE INDEX crm_activities_uid ON crm_activities(uid, at);
        CREATE INDEX crm_activities_at ON crm_activities(at);
        """
    )


@dataclass(frozen=True)
class CrmState:
    stage: str | None
    do_not_contact: bool


@dataclass(frozen=True)
class Activity:
    id: int
    at: float
    actor: str
    kind: str
    text: str


def states(conn: sqlite3.Connection) -> dict[str, CrmState]:
    """Stage and flag of every contact that has either, by UID."""
    return {r["uid"]: CrmState(r["stage"], bool(r["do_not_contact"]))
            for r in conn.execute("SELECT uid, stage, do_not_contact FROM crm_contacts")}


def state(conn: sqlite3.Connection, uid: str) -> CrmState:
    row = conn.execute("SELECT stage, do_not_contact FROM crm_contacts WHERE uid = ?", (uid,)).fetchone()
    return CrmState(None, False) if row is None else CrmState(row["stage"], bool(row["do_not_contact"]))


def set_stage(conn: sqlite3.Connection, uid: str, stage: str | None) -> None:
    if stage is not None and stage not in STAGES:
        raise InvalidInput(f"no stage {stage!r}")
    conn.execute(
        "INSERT INTO crm_contacts (uid, stage, updated) VALUES (?, ?, ?)"
        " ON CONFLICT (uid) DO UPDATE SET stage = excluded.stage, updated = excluded.updated",
        (uid, stage, time.time()),
    )


def set_do_not_contact(conn: sqlite3.Connection, uid: str, flag: bool) -> None:
    conn.execute(
        "INSERT INTO crm_contacts (uid, do_not_contact, updated) VALUES (?, ?, ?)"
        " ON CONFLICT (uid) DO UPDATE SET do_not_contact = excluded.do_not_contact, updated = excluded.updated",
        (uid, int(flag), time.time()),
    )


def add_activity(conn: sqlite3.Connection, uid: str, actor: str, kind: str, text: str) -> None:
    """One timeline entry; the oldest go past :data:`MAX_ACTIVITIES`."""
    if kind not in ACTIVITIES:
        raise InvalidInput(f"no activity {kind!r}")
    if len(text) > MAX_ACTIVITY_CHARS:
        raise InvalidInput(f"at most {MAX_ACTIVITY_CHARS} characters")
    conn.execute("INSERT INTO crm_activities (uid, at, actor, kind, text) VALUES (?, ?, ?, ?, ?)",
                 (uid, time.time(), actor, kind, text))
    conn.execute(
        "DELETE FROM crm_activities WHERE uid = ? AND id NOT IN"
        " (SELECT id FROM crm_activities WHERE uid = ? ORDER BY at DESC, id DESC LIMIT ?)",
        (uid, uid, MAX_ACTIVITIES),
    )


def timeline(conn: sqlite3.Connection, uid: str, limit: int = 200) -> list[Activity]:
    """The newest ``limit`` entries of a contact's timeline, newest first."""
    rows = conn.execute(
        "SELECT id, at, actor, kind, text FROM crm_activities WHERE uid = ? ORDER BY at DESC, id DESC LIMIT ?",
        (uid, limit),
    )
    return [Activity(r["id"], r["at"], r["actor"], r["kind"], r["text"]) for r in rows]


def recent(conn: sqlite3.Connection, limit: int = 20) -> list[tuple[str, Activity]]:
    """The newest ``limit`` entries of every contact's timeline, newest
    first, each with its contact's UID."""
    rows = conn.execute("SELECT id, uid, at, actor, kind, text FROM crm_activities ORDER BY at DESC, id DESC LIMIT ?",
                        (limit,))
    return [(r["uid"], Activity(r["id"], r["at"], r["actor"], r["kind"], r["text"])) for r in rows]


def followups_by(conn: sqlite3.Connection, actor: str, limit: int = MAX_FOLLOWUPS) -> list[tuple[str, str]]:
    """(task UID, contact UID) of the follow-ups ``actor`` added, newest first."""
    rows = conn.execute("SELECT todo_uid, contact_uid FROM crm_followups WHERE actor = ? ORDER BY created DESC LIMIT ?",
                        (actor, limit))
    return [(r[0], r[1]) for r in rows]


def forget(conn: sqlite3.Connection, uid: str) -> None:
    """Drop what the CRM holds of a contact (its card was deleted); its
    follow-up tasks stay in the task list, unlinked."""
    conn.execute("DELETE FROM crm_contacts WHERE uid = ?", (uid,))
    conn.execute("DELETE FROM crm_activities WHERE uid = ?", (uid,))
    conn.execute("DELETE FROM crm_followups WHERE contact_uid = ?", (uid,))


def move(conn: sqlite3.Connection, from_uid: str, to_uid: str) -> None:
    """Give ``to_uid`` what the CRM holds of ``from_uid`` (two cards of one
    contact merged): its timeline and follow-up links; its stage when
    ``to_uid`` has none, "do not contact" when either has it. Nothing of
    ``from_uid`` is left. The oldest entries go past :data:`MAX_ACTIVITIES`."""
    kept, other = state(conn, to_uid), state(conn, from_uid)
    if kept.stage is None and other.stage is not None:
        set_stage(conn, to_uid, other.stage)
    if other.do_not_contact and not kept.do_not_contact:
        set_do_not_contact(conn, to_uid, True)
    conn.execute("UPDATE crm_activities SET uid = ? WHERE uid = ?", (to_uid, from_uid))
    conn.execute(
        "DELETE FROM crm_activities WHERE uid = ? AND id NOT IN"
        " (SELECT id FROM crm_activities WHERE uid = ? ORDER BY at DESC, id DESC LIMIT ?)",
        (to_uid, to_uid, MAX_ACTIVITIES),
    )
    conn.execute("UPDATE crm_followups SET contact_uid = ? WHERE contact_uid = ?", (to_uid, from_uid))
    conn.execute("DELETE FROM crm_contacts WHERE uid = ?", (from_uid,))


def link_followup(conn: sqlite3.Connection, todo_uid: str, contact_uid: str, actor: str) -> None:
    count = conn.execute("SELECT count(*) FROM crm_followups WHERE contact_uid = ?", (contact_uid,)).fetchone()[0]
    if count >= MAX_FOLLOWUPS:
        raise LimitExceeded(f"at most {MAX_FOLLOWUPS} follow-ups a contact")
    conn.execute("INSERT INTO crm_followups (todo_uid, contact_uid, created, actor) VALUES (?, ?, ?, ?)",
                 (todo_uid, contact_uid, time.time(), actor))


def followups(conn: sqlite3.Connection, contact_uid: str) -> list[str]:
    """The task UIDs linked to a contact, newest first."""
    rows = conn.execute("SELECT todo_uid FROM crm_followups WHERE contact_uid = ? ORDER BY created DESC, todo_uid",
                        (contact_uid,))
    return [r[0] for r in rows]


def href_of_uid(conn: sqlite3.Connection, collection_id: int, uid: str) -> str | None:
    """The href of the card with ``uid`` in the address book, or None."""
    row = conn.execute("SELECT href FROM dav_items WHERE collection_id = ? AND uid = ? ORDER BY href LIMIT 1",
                       (collection_id, uid)).fetchone()
    return None if row is None else row["href"]
