"""The secrets of the Sender Rewriting Scheme, in the box database: they
sign the return addresses of forwarded mail for every business alike.

One row per secret; the newest signs, every row still kept verifies. A
secret replaced by a newer one is kept ``keep_seconds`` after its
successor was made (as long as an address it signed can still be valid),
then deleted. Functions take a :class:`sqlite3.Connection` inside a
transaction of :class:`storage.database.Database`.
"""

from __future__ import annotations

import secrets as _secrets
import sqlite3
import time

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("srs")

#: Bytes of randomness in one secret.
SECRET_BYTES = 32
#: Secrets kept at most (the newest and those still verifying).
MAX_SECRETS = 16


@MIGRATIONS(name="0001_srs_secrets")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE srs_secrets (
            id INTEGER PRIMARY KEY,
            secret TEXT NOT NULL,
            created REAL NOT NULL
        );
        """
    )


def ensure(conn: sqlite3.Connection, now: float | None = None) -> None:
    """Make the first secret if there is none."""
    if conn.execute("SELECT 1 FROM srs_secrets").fetchone() is None:
        rotate(conn, keep_seconds=0, now=now)


def rotate(conn: sqlite3.Connection, *, keep_seconds: float, now: float | None = None) -> None:
    """Make a new signing secret; older ones verify for ``keep_seconds``
    more, and those whose successor is older than that are deleted."""
    now = time.time() if now is None else now
    conn.execute("INSERT INTO srs_secrets (secret, created) VALUES (?, ?)", (_secrets.token_hex(SECRET_BYTES), now))
    expire(conn, keep_seconds=keep_seconds, now=now)


def expire(conn: sqlite3.Connection, *, keep_seconds: float, now: float | None = None) -> None:
    """Delete the secrets that can no longer have signed a valid address."""
    now = time.time() if now is None else now
    rows = conn.execute("SELECT id, created FROM srs_secrets ORDER BY created DESC, id DESC").fetchall()
    for index, row in enumerate(rows[1:], start=1):
        successor_made = rows[index - 1]["created"]
        if index >= MAX_SECRETS or successor_made + keep_seconds < now:
            conn.execute("DELETE FROM srs_secrets WHERE id = ?", (row["id"],))


def current(conn: sqlite3.Connection) -> list[str]:
    """Every secret kept, the signing one (newest) first."""
    return [r[0] for r in conn.execute("SELECT secret FROM srs_secrets ORDER BY created DESC, id DESC")]
