"""The outbound queue of one business, in the business's own file.

A queued message is one row of ``outbound`` (the signed message as sent, the
envelope sender, the user who sent it, when to try next) and one row of
``outbound_rcpt`` per remote recipient with its own state: ``queued`` until
a server accepted (``sent``) or refused it for good (``bounced``). A message
leaves the queue when no recipient is ``queued`` any more. Because the queue
is in the business's file it survives a restart or a SIGKILL like every
other acknowledged write, and moves with the business.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Iterable

import sqlite_utils

from .errors import NotFound

MIGRATIONS = sqlite_utils.Migrations("queue")


@MIGRATIONS(name="0001_outbound")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE outbound (
            id INTEGER PRIMARY KEY,
            created REAL NOT NULL,
            mail_from TEXT NOT NULL,
            user_id INTEGER,
            smtputf8 INTEGER NOT NULL DEFAULT 0,
            body BLOB NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt REAL NOT NULL,
            expires REAL NOT NULL,
            last_error TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbound_due ON outbound(next_attempt);
        CREATE TABLE outbound_rcpt (
            id INTEGER PRIMARY KEY,
            message_id INTEGER NOT NULL REFERENCES outbound(id) ON DELETE CASCADE,
            address TEXT NOT NULL,
            domain TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'bounced')),
            code INTEGER,
            reply TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX outbound_rcpt_by_message ON outbound_rcpt(message_id);
        """
    )


def enqueue(
    conn: sqlite3.Connection,
    mail_from: str,
    recipients: Iterable[str],
    body: bytes,
    *,
    user_id: int | None,
    lifetime: float,
    smtputf8: bool = False,
    now: float | None = None,
) -> int:
    """Queue ``body`` for ``recipients``; due at once. Returns the message id."""
    now = time.time() if now is None else now
    cur = conn.execute(
        "INSERT INTO outbound (created, mail_from, user_id, smtputf8, body, next_attempt, expires)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (now, mail_from, user_id, int(smtputf8), body, now, now + lifetime),
    )
    message_id = cur.lastrowid
    conn.executemany(
        "INSERT INTO outbound_rcpt (message_id, address, domain) VALUES (?, ?, ?)",
        [(message_id, r, r.rpartition("@")[2].lower()) for r in recipients],
    )
    return message_id


def due(conn: sqlite3.Connection, now: float | None = None, limit: int = 100) -> list[int]:
    """Ids of messages whose next attempt is due, oldest first."""
    now = time.time() if now is None else now
    rows = conn.execute(
        "SELECT id FROM outbound WHERE next_attempt <= ? ORDER BY next_attempt LIMIT ?", (now, limit)
    )
    return [r["id"] for r in rows]


def next_due(conn: sqlite3.Connection) -> float | None:
    """When the earliest queued message is due, or None for an empty queue."""
    return conn.execute("SELECT min(next_attempt) FROM outbound").fetchone()[0]


def summary(conn: sqlite3.Connection) -> tuple[float | None, int, float | None]:
    """(when the earliest message is due, messages queued, creation time of
    the oldest); (None, 0, None) for an empty queue."""
    row = conn.execute("SELECT min(next_attempt), count(*), min(created) FROM outbound").fetchone()
    return row[0], row[1], row[2]


def get(conn: sqlite3.Connection, message_id: int) -> tuple[sqlite3.Row, list[sqlite3.Row]]:
    """A message and its recipients; raises NotFound."""
    msg = conn.execute("SELECT * FROM outbound WHERE id = ?", (message_id,)).fetchone()
    if msg is None:
        raise NotFound(f"no queued message {message_id}")
    rcpts = conn.execute("SELECT * FROM outbound_rcpt WHERE message_id = ? ORDER BY id", (message_id,)).fetchall()
    return msg, rcpts


def record_results(conn: sqlite3.Connection, message_id: int, results: Iterable[tuple[int, str, int, str]]) -> None:
    """Store per-recipient outcomes ``(rcpt_id, state, code, reply)``."""
    conn.executemany(
        "UPDATE outbound_rcpt SET state = ?, code = ?, reply = ? WHERE id = ? AND message_id = ?",
        [(state, code, reply[:1000], rcpt_id, message_id) for rcpt_id, state, code, reply in results],
    )


def reschedule(conn: sqlite3.Connection, message_id: int, next_attempt: float, error: str) -> None:
    conn.execute(
        "UPDATE outbound SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?",
        (next_attempt, error[:1000], message_id),
    )


def remove(conn: sqlite3.Connection, message_id: int) -> None:
    if conn.execute("DELETE FROM outbound WHERE id = ?", (message_id,)).rowcount == 0:
        raise NotFound(f"no queued message {message_id}")


def retry_now(conn: sqlite3.Connection, message_id: int | None = None, now: float | None = None) -> int:
    """Make one message (or every message) due now; returns how many."""
    now = time.time() if now is None else now
    if message_id is None:
        return conn.execute("UPDATE outbound SET next_attempt = ?", (now,)).rowcount
    count = conn.execute("UPDATE outbound SET next_attempt = ? WHERE id = ?", (now, message_id)).rowcount
    if count == 0:
        raise NotFound(f"no queued message {message_id}")
    return count


def listing(conn: sqlite3.Connection) -> list[dict]:
    """The queue for people and scripts (no bodies)."""
    out = []
    for msg in conn.execute(
        "SELECT id, created, mail_from, attempts, next_attempt, expires, last_error, length(body) AS size"
        " FROM outbound ORDER BY id"
    ).fetchall():
        rcpts = conn.execute(
            "SELECT address, state, code, reply FROM outbound_rcpt WHERE message_id = ? ORDER BY id", (msg["id"],)
        ).fetchall()
        out.append({**dict(msg), "recipients": [dict(r) for r in rcpts]})
    return out
