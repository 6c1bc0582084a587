"""Receiving domains' MTA-STS policies as the outbound queue last fetched
them (RFC 8461 section 5.1), in the box database: a policy is about another
domain, not about one business, and it must outlive a restart - the cache
is what stops an attacker who strips the ``_mta-sts`` TXT record from
downgrading delivery to clear text.

One row per domain: the policy's ``id`` (from the TXT record), its mode,
its MX patterns (one per line), its ``max_age`` and when it was fetched.
A row is used until ``fetched + max_age``; at most ``max_entries`` rows are
kept, those expiring first going first. Functions take a
:class:`sqlite3.Connection` inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("mta_sts")


@MIGRATIONS(name="0001_mta_sts")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE mta_sts_policies (
            domain TEXT PRIMARY KEY,
            id TEXT NOT NULL,
            mode TEXT NOT NULL,
            mx TEXT NOT NULL,
            max_age INTEGER NOT NULL,
            fetched REAL NOT NULL,
            expires REAL NOT NULL
        );
        CREATE INDEX mta_sts_policies_expires ON mta_sts_policies(expires);
        """
    )


def get(conn: sqlite3.Connection, domain: str, now: float) -> tuple[str, str, tuple[str, ...], int] | None:
    """The unexpired ``(id, mode, mx patterns, max_age)`` cached for ``domain``, or None."""
    row = conn.execute(
        "SELECT id, mode, mx, max_age FROM mta_sts_policies WHERE domain = ? AND expires > ?", (domain, now)
    ).fetchone()
    if row is None:
        return None
    return row[0], row[1], tuple(row[2].split("\n")) if row[2] else (), row[3]


def put(conn: sqlite3.Connection, domain: str, policy_id: str, mode: str, mx: tuple[str, ...], max_age: int,
        now: float, max_entries: int) -> None:
    """Remember ``domain``'s policy as fetched at ``now``; drop expired rows,
    and the rows expiring first past ``max_entries``."""
    conn.execute(
        "INSERT INTO mta_sts_policies (domain, id, mode, mx, max_age, fetched, expires) VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (domain) DO UPDATE SET id = excluded.id, mode = excluded.mode, mx = excluded.mx,"
        " max_age = excluded.max_age, fetched = excluded.fetched, expires = excluded.expires",
        (domain, policy_id, mode, "\n".join(mx), max_age, now, now + max_age),
    )
    conn.execute("DELETE FROM mta_sts_policies WHERE expires <= ?", (now,))
    conn.execute(
        "DELETE FROM mta_sts_policies WHERE domain IN (SELECT domain FROM mta_sts_policies"
        " ORDER BY expires DESC LIMIT -1 OFFSET ?)", (max_entries,)
    )
