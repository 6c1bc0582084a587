"""The signatures people put under the mail they write in webmail, one
per address they may send as.

``mail_signatures``
    one signature: its user, the sending address (lower-case), its text
    and when it last changed. A user has at most one per address.

The text is checked by the service (:mod:`appliance.webmailsignatures`);
functions here take a connection and run inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .directory import now

MIGRATIONS = sqlite_utils.Migrations("signatures")


@MIGRATIONS(name="0001_mail_signatures")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE mail_signatures (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            address TEXT NOT NULL,
            text TEXT NOT NULL,
            changed TEXT NOT NULL,
            PRIMARY KEY (user_id, address)
        );
        """
    )


def signatures(conn: sqlite3.Connection, user_id: int) -> dict[str, str]:
    """The user's signatures by (lower-case) address."""
    rows = conn.execute("SELECT address, text FROM mail_signatures WHERE user_id = ?", (user_id,))
    return {r[0]: r[1] for r in rows}


def set_signature(conn: sqlite3.Connection, user_id: int, address: str, text: str) -> None:
    """Store ``text`` as the user's signature for ``address``; an empty
    text removes it."""
    address = address.lower()
    if not text:
        conn.execute("DELETE FROM mail_signatures WHERE user_id = ? AND address = ?", (user_id, address))
        return
    conn.execute(
        "INSERT INTO mail_signatures (user_id, address, text, changed) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id, address) DO UPDATE SET text = excluded.text, changed = excluded.changed",
        (user_id, address, text, now()))
