"""The freeze marker of a business file: while it is there, nothing that
changes the business commits.

``freeze``
    at most one row: ``since`` (when the file was frozen), ``target`` (the
    box host name the business is moving to) and ``moved`` (when the
    target confirmed it serves the business; empty until then).

A business is frozen for a move to another box (``appliance.services.moves``):
the final copy is taken after the marker committed, so that copy holds every
write that was ever acknowledged. :class:`storage.database.Database` reads
the marker once per write transaction, after ``BEGIN IMMEDIATE`` (so a
marker committed by another process is seen: the write lock orders the two),
and refuses every write of the batch that changed a row with
:class:`storage.errors.Frozen`; writes that change nothing (an "ensure it
exists" that finds it there) still pass, so reads that write on the side
keep working. The marker is written and removed by writes submitted with
``frozen_ok``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import sqlite_utils

from .directory import now

MIGRATIONS = sqlite_utils.Migrations("freeze")


@MIGRATIONS(name="0001_freeze")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE freeze (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            since TEXT NOT NULL,
            target TEXT NOT NULL,
            moved TEXT NOT NULL DEFAULT ''
        );
        """
    )


@dataclass(frozen=True)
class Marker:
    """The freeze row: see module doc."""

    since: str
    target: str
    moved: str


def marker(conn: sqlite3.Connection) -> Marker | None:
    """The marker, or None when the file is not frozen (or predates the
    table: a file not migrated yet cannot have been frozen)."""
    try:
        row = conn.execute("SELECT since, target, moved FROM freeze WHERE id = 1").fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else Marker(row[0], row[1], row[2])


def freeze(conn: sqlite3.Connection, target: str) -> Marker:
    """Put the marker (a new one, or keep ``since`` of the one there)."""
    conn.execute(
        "INSERT INTO freeze (id, since, target) VALUES (1, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET target = excluded.target, moved = ''",
        (now(), target),
    )
    found = marker(conn)
    assert found is not None
    return found


def mark_moved(conn: sqlite3.Connection) -> None:
    """Record that the target serves the business now (the grace period
    starts)."""
    conn.execute("UPDATE freeze SET moved = ? WHERE id = 1", (now(),))


def thaw(conn: sqlite3.Connection) -> bool:
    """Remove the marker; False when there was none."""
    return conn.execute("DELETE FROM freeze").rowcount > 0
