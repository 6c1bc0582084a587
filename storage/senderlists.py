"""Allow and block lists of senders, business-wide or one user's.

``sender_lists``
    one entry: its list (``allow`` or ``block``), its scope (``user_id``
    NULL for the whole business, else that user's), the entry itself (a
    lower-case address ``local@domain`` or a domain in A-label form), who
    added it and when. One entry appears once per list and scope.

Entries are validated by the service (:mod:`appliance.services.senderlists`);
functions here take a connection and run inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Iterable

import sqlite_utils

from .directory import now

MIGRATIONS = sqlite_utils.Migrations("senderlists")

LISTS = ("allow", "block")


@MIGRATIONS(name="0001_sender_lists")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sender_lists (
            id INTEGER PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            list TEXT NOT NULL CHECK (list IN ('allow', 'block')),
            entry TEXT NOT NULL,
            added_by TEXT NOT NULL,
            added TEXT NOT NULL
        );
        -- NULL (the business) is a scope of its own, hence the expression.
        CREATE UNIQUE INDEX sender_lists_unique ON sender_lists(ifnull(user_id, 0), list, entry);
        CREATE INDEX sender_lists_entry ON sender_lists(entry);
        """
    )


@dataclass(frozen=True)
class EntryRow:
    user_id: int | None
    list: str
    entry: str
    added_by: str
    added: str


def _row(r: sqlite3.Row) -> EntryRow:
    return EntryRow(r["user_id"], r["list"], r["entry"], r["added_by"], r["added"])


def entries(conn: sqlite3.Connection, user_id: int | None) -> list[EntryRow]:
    """One scope's entries (``user_id`` None: the business's), by list and entry."""
    rows = conn.execute(
        "SELECT user_id, list, entry, added_by, added FROM sender_lists WHERE ifnull(user_id, 0) = ?"
        " ORDER BY list, entry",
        (user_id or 0,),
    ).fetchall()
    return [_row(r) for r in rows]


def count(conn: sqlite3.Connection, user_id: int | None) -> int:
    """How many entries one scope has (both lists)."""
    return conn.execute("SELECT count(*) FROM sender_lists WHERE ifnull(user_id, 0) = ?", (user_id or 0,)).fetchone()[0]


def add(conn: sqlite3.Connection, user_id: int | None, list_: str, entry: str, added_by: str) -> bool:
    """Add an entry; False (and nothing changed) when that scope's list has it."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO sender_lists (user_id, list, entry, added_by, added) VALUES (?, ?, ?, ?, ?)",
        (user_id, list_, entry, added_by, now()),
    )
    return cur.rowcount == 1


def remove(conn: sqlite3.Connection, user_id: int | None, list_: str, entry: str) -> bool:
    """Remove an entry; False when that scope's list did not have it."""
    cur = conn.execute(
        "DELETE FROM sender_lists WHERE ifnull(user_id, 0) = ? AND list = ? AND entry = ?",
        (user_id or 0, list_, entry),
    )
    return cur.rowcount == 1


def matching(conn: sqlite3.Connection, user_ids: Iterable[int], keys: Iterable[str]) -> list[EntryRow]:
    """The entries of the business and of ``user_ids`` that are one of ``keys``."""
    users = list(user_ids)
    keys = list(keys)
    if not keys:
        return []
    sql = (
        f"SELECT user_id, list, entry, added_by, added FROM sender_lists WHERE entry IN ({','.join('?' * len(keys))})"
        f" AND (user_id IS NULL OR user_id IN ({','.join('?' * len(users)) or 'NULL'}))"
    )
    return [_row(r) for r in conn.execute(sql, (*keys, *users)).fetchall()]
