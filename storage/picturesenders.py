"""The senders whose messages a webmail user sees with their remote
pictures at once, without asking each time.

``picture_senders``
    one sender: its user, the address (lower-case ``local@domain``, the
    From of a message the user chose it from) and when it was added. An
    address appears once per user.

The limit and the address are checked by the service
(:mod:`appliance.webmailpictures`); functions here take a connection and
run inside a transaction of :class:`storage.database.Database`.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .directory import now

MIGRATIONS = sqlite_utils.Migrations("picturesenders")


@MIGRATIONS(name="0001_picture_senders")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE picture_senders (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            address TEXT NOT NULL,
            added TEXT NOT NULL,
            PRIMARY KEY (user_id, address)
        );
        """
    )


def senders(conn: sqlite3.Connection, user_id: int) -> list[str]:
    """The user's addresses, in order."""
    rows = conn.execute("SELECT address FROM picture_senders WHERE user_id = ? ORDER BY address", (user_id,))
    return [r[0] for r in rows]


def allowed(conn: sqlite3.Connection, user_id: int, address: str) -> bool:
    """Whether ``address`` is on the user's list."""
    row = conn.execute("SELECT 1 FROM picture_senders WHERE user_id = ? AND address = ?",
                       (user_id, address.lower())).fetchone()
    return row is not None


def add(conn: sqlite3.Connection, user_id: int, address: str, limit: int) -> bool:
    """Put ``address`` on the user's list; False (nothing added) when the
    list already holds ``limit`` other addresses."""
    address = address.lower()
    if allowed(conn, user_id, address):
        return True
    count = conn.execute("SELECT COUNT(*) FROM picture_senders WHERE user_id = ?", (user_id,)).fetchone()[0]
    if count >= limit:
        return False
    conn.execute("INSERT INTO picture_senders (user_id, address, added) VALUES (?, ?, ?)",
                 (user_id, address, now()))
    return True


def remove(conn: sqlite3.Connection, user_id: int, address: str) -> None:
    """Take ``address`` off the user's list (nothing when absent)."""
    conn.execute("DELETE FROM picture_senders WHERE user_id = ? AND address = ?", (user_id, address.lower()))
