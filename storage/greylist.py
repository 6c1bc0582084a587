"""Greylisting's memory (RFC 6647), in the box database: it is about the
clients that talk to the box's MX, not about one business.

* ``greylist``: one row per (client network, envelope sender, recipient)
  triplet - when it was first seen, and, once a retry came after the
  delay, until when it is allowed without waiting (``passed``).
* ``greylist_correspondents``: remote addresses the box's users wrote to;
  mail from them is not delayed.

Rows expire: a triplet never retried after ``pending_seconds``, an allowed
one not seen for ``pass_seconds``, a correspondent not written to for
``pass_seconds``. Each table holds at most ``max_entries`` rows; past that
the oldest go first. Functions take a :class:`sqlite3.Connection` inside a
transaction of :class:`storage.database.Database`.
"""

from __future__ import annotations

import sqlite3
import time

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("greylist")

#: What :func:`check` answers.
PASS, WAIT = "pass", "wait"


@MIGRATIONS(name="0001_greylist")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE greylist (
            network TEXT NOT NULL,
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            first_seen REAL NOT NULL,
            passed INTEGER NOT NULL DEFAULT 0 CHECK (passed IN (0, 1)),
            expires REAL NOT NULL,
            PRIMARY KEY (network, sender, recipient)
        );
        CREATE INDEX greylist_expires ON greylist(expires);
        CREATE TABLE greylist_correspondents (
            address TEXT PRIMARY KEY,
            expires REAL NOT NULL
        );
        CREATE INDEX greylist_correspondents_expires ON greylist_correspondents(expires);
        """
    )


def check(conn: sqlite3.Connection, network: str, sender: str, recipient: str, *, delay: float,
          pending_seconds: float, pass_seconds: float, max_entries: int,
          now: float | None = None) -> tuple[str, float]:
    """Record one delivery attempt of the triplet; ``(PASS, 0)`` if it may
    go on, or ``(WAIT, seconds)`` until a retry will be accepted."""
    now = time.time() if now is None else now
    row = conn.execute(
        "SELECT first_seen, passed, expires FROM greylist WHERE network = ? AND sender = ? AND recipient = ?",
        (network, sender, recipient),
    ).fetchone()
    if row is not None and row["expires"] > now:
        if row["passed"] or now - row["first_seen"] >= delay:
            # RFC 6647 section 4.2: a triplet that passed stays allowed as
            # long as it keeps being used.
            conn.execute("UPDATE greylist SET passed = 1, expires = ? WHERE network = ? AND sender = ? AND recipient = ?",
                         (now + pass_seconds, network, sender, recipient))
            return PASS, 0.0
        return WAIT, delay - (now - row["first_seen"])
    _make_room(conn, "greylist", max_entries, now)
    conn.execute(
        "INSERT INTO greylist (network, sender, recipient, first_seen, passed, expires) VALUES (?, ?, ?, ?, 0, ?)"
        " ON CONFLICT (network, sender, recipient) DO UPDATE SET first_seen = excluded.first_seen, passed = 0,"
        " expires = excluded.expires",
        (network, sender, recipient, now, now + pending_seconds),
    )
    return WAIT, delay


def passed_lately(conn: sqlite3.Connection, network: str, sender: str, recipient: str, *,
                  pass_seconds: float, refresh_seconds: float, now: float | None = None) -> bool:
    """Whether the triplet has passed and its allowance was renewed within
    the last ``refresh_seconds`` (a read: the MX asks this first, and writes
    through :func:`check` only when the answer is no)."""
    now = time.time() if now is None else now
    row = conn.execute(
        "SELECT 1 FROM greylist WHERE network = ? AND sender = ? AND recipient = ? AND passed = 1 AND expires > ?",
        (network, sender, recipient, now + pass_seconds - refresh_seconds),
    ).fetchone()
    return row is not None


def remember_correspondents(conn: sqlite3.Connection, addresses: list[str], *, pass_seconds: float,
                            max_entries: int, now: float | None = None) -> None:
    """Note that a user of the box wrote to each of ``addresses``."""
    now = time.time() if now is None else now
    _make_room(conn, "greylist_correspondents", max_entries - len(addresses) + 1, now)
    conn.executemany(
        "INSERT INTO greylist_correspondents (address, expires) VALUES (?, ?)"
        " ON CONFLICT (address) DO UPDATE SET expires = excluded.expires",
        [(a, now + pass_seconds) for a in addresses],
    )


def is_correspondent(conn: sqlite3.Connection, address: str, now: float | None = None) -> bool:
    """Whether a user of the box wrote to ``address`` lately."""
    now = time.time() if now is None else now
    row = conn.execute("SELECT 1 FROM greylist_correspondents WHERE address = ? AND expires > ?",
                       (address, now)).fetchone()
    return row is not None


def _make_room(conn: sqlite3.Connection, table: str, max_entries: int, now: float) -> None:
    """Drop expired rows, then the oldest, so one more row fits under ``max_entries``."""
    conn.execute(f"DELETE FROM {table} WHERE expires <= ?", (now,))
    count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    if count >= max_entries:
        conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} ORDER BY expires LIMIT ?)",
                     (count - max_entries + 1,))
