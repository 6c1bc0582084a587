"""Deals (opportunities) of one business and the pipeline they move through.

Like the rest of the mini-CRM (:mod:`storage.crm`), a deal is linked to
its contact by the card's UID, never by its href:

``crm_stages``
    the business's pipeline: stages in order, each ``open``, ``won`` or
    ``lost`` (exactly one of the last two each, which the service keeps);
``crm_deals``
    a deal: title, amount in cents with its ISO 4217 currency, stage,
    expected close date, probability, owner (a user's address) and the
    contact's UID. A deal's id is random, so an id of one business's file
    never names a deal of another's.

Functions take a connection and run inside a transaction of
:class:`storage.database.Database`; they know nothing of vCards or HTTP.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from dataclasses import dataclass

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("deals")

KINDS = ("open", "won", "lost")


@MIGRATIONS(name="0001_deals")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE crm_stages (
            id INTEGER PRIMARY KEY,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('open', 'won', 'lost'))
        );
        CREATE TABLE crm_deals (
            id TEXT PRIMARY KEY,
            contact_uid TEXT NOT NULL,
            title TEXT NOT NULL,
            amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
            currency TEXT NOT NULL CHECK (length(currency) = 3),
            stage_id INTEGER NOT NULL REFERENCES crm_stages(id),
            close_date TEXT,
            probability INTEGER NOT NULL CHECK (probability BETWEEN 0 AND 100),
            owner TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE INDEX crm_deals_contact ON crm_deals(contact_uid);
        CREATE INDEX crm_deals_stage ON crm_deals(stage_id);
        """
    )


@dataclass(frozen=True)
class StageRow:
    id: int
    position: int
    name: str
    kind: str
    deals: int


@dataclass(frozen=True)
class DealRow:
    id: str
    contact_uid: str
    title: str
    amount_cents: int
    currency: str
    stage_id: int
    close_date: str  # YYYY-MM-DD or ""
    probability: int
    owner: str
    updated: float


@dataclass(frozen=True)
class DealValues:
    """What a deal holds besides its id and contact."""

    title: str
    amount_cents: int
    currency: str
    stage_id: int
    close_date: str  # YYYY-MM-DD or ""
    probability: int
    owner: str


def stages(conn: sqlite3.Connection) -> list[StageRow]:
    """The pipeline in order, each stage with its number of deals."""
    rows = conn.execute(
        "SELECT s.id, s.position, s.name, s.kind, (SELECT count(*) FROM crm_deals d WHERE d.stage_id = s.id) AS n"
        " FROM crm_stages s ORDER BY s.position, s.id")
    return [StageRow(r["id"], r["position"], r["name"], r["kind"], r["n"]) for r in rows]


def add_stage(conn: sqlite3.Connection, name: str, kind: str, position: int) -> int:
    return conn.execute("INSERT INTO crm_stages (position, name, kind) VALUES (?, ?, ?)",
                        (position, name, kind)).lastrowid


def change_stage(conn: sqlite3.Connection, stage_id: int, name: str, position: int) -> None:
    conn.execute("UPDATE crm_stages SET name = ?, position = ? WHERE id = ?", (name, position, stage_id))


def remove_stage(conn: sqlite3.Connection, stage_id: int) -> None:
    """Remove a stage; a stage that still has deals stays (the foreign key refuses)."""
    conn.execute("DELETE FROM crm_stages WHERE id = ?", (stage_id,))


def _deal(r: sqlite3.Row) -> DealRow:
    return DealRow(r["id"], r["contact_uid"], r["title"], r["amount_cents"], r["currency"], r["stage_id"],
                   r["close_date"] or "", r["probability"], r["owner"], r["updated"])


_COLUMNS = "id, contact_uid, title, amount_cents, currency, stage_id, close_date, probability, owner, updated"


def all_deals(conn: sqlite3.Connection) -> list[DealRow]:
    """Every deal, the most recently changed first."""
    return [_deal(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM crm_deals ORDER BY updated DESC, id")]


def deals_of(conn: sqlite3.Connection, contact_uid: str) -> list[DealRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM crm_deals WHERE contact_uid = ? ORDER BY created, id", (contact_uid,))
    return [_deal(r) for r in rows]


def get(conn: sqlite3.Connection, deal_id: str) -> DealRow | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM crm_deals WHERE id = ?", (deal_id,)).fetchone()
    return None if row is None else _deal(row)


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM crm_deals").fetchone()[0]


def add(conn: sqlite3.Connection, contact_uid: str, values: DealValues) -> str:
    """A new deal; returns its id (16 random hex digits)."""
    deal_id = secrets.token_hex(8)
    now = time.time()
    conn.execute(
        "INSERT INTO crm_deals (id, contact_uid, title, amount_cents, currency, stage_id, close_date, probability,"
        " owner, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (deal_id, contact_uid, values.title, values.amount_cents, values.currency, values.stage_id,
         values.close_date or None, values.probability, values.owner, now, now))
    return deal_id


def update(conn: sqlite3.Connection, deal_id: str, values: DealValues) -> None:
    conn.execute(
        "UPDATE crm_deals SET title = ?, amount_cents = ?, currency = ?, stage_id = ?, close_date = ?,"
        " probability = ?, owner = ?, updated = ? WHERE id = ?",
        (values.title, values.amount_cents, values.currency, values.stage_id, values.close_date or None,
         values.probability, values.owner, time.time(), deal_id))


def delete(conn: sqlite3.Connection, deal_id: str) -> None:
    conn.execute("DELETE FROM crm_deals WHERE id = ?", (deal_id,))


def move(conn: sqlite3.Connection, from_uid: str, to_uid: str) -> None:
    """The deals of ``from_uid`` become ``to_uid``'s (two cards merged)."""
    conn.execute("UPDATE crm_deals SET contact_uid = ? WHERE contact_uid = ?", (to_uid, from_uid))


def forget(conn: sqlite3.Connection, contact_uid: str) -> None:
    """Drop the deals of a contact whose card was deleted in the panel."""
    conn.execute("DELETE FROM crm_deals WHERE contact_uid = ?", (contact_uid,))
