"""A user's second factor and app passwords, in the business's own file.

* ``two_step``: one row per user who began or finished turning on
  two-step sign-in: the TOTP secret (base32), whether it is on (a secret
  not yet confirmed with a code is off), and the last time step a code was
  accepted for (a code is never accepted twice).
* ``recovery_codes``: the SHA-256 of each unused one-time recovery code;
  a used code's row is deleted.
* ``app_passwords``: the passwords a user made for mail, calendar and
  contacts apps: a random ``ref`` that names one on the page (never a
  guessable row number), its name, the SHA-256 of the password, when it was
  made and last used.

Rows go with their user (``ON DELETE CASCADE``). The TOTP secret is kept as
it is: a code can only be checked against the secret itself. Hashing and
code arithmetic are the callers'; these functions store and compare.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .directory import now
from .errors import LimitExceeded

MIGRATIONS = sqlite_utils.Migrations("credentials")

#: App passwords one user may hold at once.
MAX_APP_PASSWORDS = 20


@MIGRATIONS(name="0001_second_factor")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE two_step (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            secret TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
            last_step INTEGER,
            created TEXT NOT NULL
        );
        CREATE TABLE recovery_codes (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            hash TEXT NOT NULL,
            PRIMARY KEY (user_id, hash)
        );
        CREATE TABLE app_passwords (
            ref TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            hash TEXT NOT NULL,
            created TEXT NOT NULL,
            last_used REAL
        );
        CREATE INDEX app_passwords_by_user ON app_passwords(user_id, hash);
        """
    )


# -- two-step sign-in --------------------------------------------------------


def two_step(conn: sqlite3.Connection, user_id: int) -> dict | None:
    """``secret``, ``enabled``, ``last_step`` of a user, or None when they
    never began turning it on; ``recovery_left`` counts unused codes."""
    row = conn.execute("SELECT secret, enabled, last_step FROM two_step WHERE user_id = ?", (user_id,)).fetchone()
    if row is None:
        return None
    left = conn.execute("SELECT count(*) FROM recovery_codes WHERE user_id = ?", (user_id,)).fetchone()[0]
    return {"secret": row["secret"], "enabled": bool(row["enabled"]), "last_step": row["last_step"],
            "recovery_left": left}


def is_on(conn: sqlite3.Connection, user_id: int) -> bool:
    row = conn.execute("SELECT enabled FROM two_step WHERE user_id = ?", (user_id,)).fetchone()
    return bool(row and row["enabled"])


def begin(conn: sqlite3.Connection, user_id: int, secret: str) -> None:
    """Keep a new secret, not on yet (replacing one not confirmed)."""
    conn.execute(
        "INSERT INTO two_step (user_id, secret, enabled, last_step, created) VALUES (?, ?, 0, NULL, ?)"
        " ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, enabled = 0, last_step = NULL,"
        " created = excluded.created",
        (user_id, secret, now()),
    )


def enable(conn: sqlite3.Connection, user_id: int, step: int, recovery_hashes: list[str]) -> bool:
    """Turn it on (the secret was confirmed by a code of ``step``) with
    these recovery codes; False when nothing was pending."""
    cur = conn.execute(
        "UPDATE two_step SET enabled = 1, last_step = ? WHERE user_id = ? AND enabled = 0", (step, user_id)
    )
    if cur.rowcount != 1:
        return False
    replace_recovery_codes(conn, user_id, recovery_hashes)
    return True


def disable(conn: sqlite3.Connection, user_id: int) -> bool:
    """Forget the secret and the recovery codes; False when it was not on."""
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    return conn.execute("DELETE FROM two_step WHERE user_id = ? AND enabled = 1", (user_id,)).rowcount == 1


def use_step(conn: sqlite3.Connection, user_id: int, step: int) -> bool:
    """Record that a code of ``step`` was accepted; False (nothing changed)
    when a code of this step or a later one already was."""
    cur = conn.execute(
        "UPDATE two_step SET last_step = ? WHERE user_id = ? AND enabled = 1"
        " AND (last_step IS NULL OR last_step < ?)",
        (step, user_id, step),
    )
    return cur.rowcount == 1


def use_recovery_code(conn: sqlite3.Connection, user_id: int, code_hash: str) -> bool:
    """Spend a recovery code: True (and it is gone) when it was unused."""
    return conn.execute(
        "DELETE FROM recovery_codes WHERE user_id = ? AND hash = ?", (user_id, code_hash)
    ).rowcount == 1


def replace_recovery_codes(conn: sqlite3.Connection, user_id: int, hashes: list[str]) -> None:
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    conn.executemany("INSERT INTO recovery_codes (user_id, hash) VALUES (?, ?)", [(user_id, h) for h in hashes])


# -- app passwords -----------------------------------------------------------


def list_app_passwords(conn: sqlite3.Connection, user_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT ref, name, created, last_used FROM app_passwords WHERE user_id = ? ORDER BY created, name",
        (user_id,),
    )
    return [dict(r) for r in rows]


def add_app_password(conn: sqlite3.Connection, user_id: int, ref: str, name: str, password_hash: str) -> None:
    """Store one; raises LimitExceeded past :data:`MAX_APP_PASSWORDS`."""
    count = conn.execute("SELECT count(*) FROM app_passwords WHERE user_id = ?", (user_id,)).fetchone()[0]
    if count >= MAX_APP_PASSWORDS:
        raise LimitExceeded(f"a user has at most {MAX_APP_PASSWORDS} app passwords")
    conn.execute(
        "INSERT INTO app_passwords (ref, user_id, name, hash, created) VALUES (?, ?, ?, ?, ?)",
        (ref, user_id, name, password_hash, now()),
    )


def revoke_app_password(conn: sqlite3.Connection, user_id: int, ref: str) -> str | None:
    """Delete the user's app password ``ref``; its name, or None when the
    user has none of that ref (another user's ref does nothing)."""
    row = conn.execute("SELECT name FROM app_passwords WHERE user_id = ? AND ref = ?", (user_id, ref)).fetchone()
    if row is None:
        return None
    conn.execute("DELETE FROM app_passwords WHERE user_id = ? AND ref = ?", (user_id, ref))
    return row["name"]


def find_app_password(conn: sqlite3.Connection, user_id: int, password_hash: str) -> tuple[str, float | None] | None:
    """(ref, last used) of the user's app password with this hash, or None."""
    row = conn.execute(
        "SELECT ref, last_used FROM app_passwords WHERE user_id = ? AND hash = ?", (user_id, password_hash)
    ).fetchone()
    return None if row is None else (row["ref"], row["last_used"])


def app_password_used(conn: sqlite3.Connection, ref: str, when: float) -> None:
    conn.execute("UPDATE app_passwords SET last_used = ? WHERE ref = ?", (when, ref))
