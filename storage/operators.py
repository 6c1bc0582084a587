"""Operators: the accounts of whoever runs the box (a reseller, a
freelancer), in the box database, never in a business's file.

One row per operator: the name, the password hash, the TOTP secret with the
last time step a code was accepted for (so no code works twice) and whether
the operator has confirmed it with a first code, the SHA-256 digests of the
unused recovery codes (a JSON list), and when the account was created and
last signed in.

The operators' own panel sessions live here too (``operator_sessions``):
like the business users' (:mod:`storage.sessions`), only the SHA-256 of the
session id is stored. A session is at one ``stage``: ``code`` (the password
was right, a second factor is due), ``setup`` (the password was right, TOTP
must be set up first) or ``full``. Timeouts are the caller's rule.
"""

from __future__ import annotations

import json
import sqlite3

import sqlite_utils

from .errors import Conflict, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("operators")

#: Operators one box may have.
MAX_OPERATORS = 100
#: Sessions one operator may hold at once; the oldest go first past this.
MAX_SESSIONS_PER_OPERATOR = 10
STAGES = ("code", "setup", "full")


@MIGRATIONS(name="0001_operators")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE operators (
            name TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            totp_secret TEXT NOT NULL,
            totp_confirmed INTEGER NOT NULL DEFAULT 0,
            last_step INTEGER,
            recovery TEXT NOT NULL DEFAULT '[]',
            created TEXT NOT NULL,
            last_signin TEXT
        );
        CREATE TABLE operator_sessions (
            id_hash TEXT PRIMARY KEY,
            name TEXT NOT NULL REFERENCES operators(name) ON DELETE CASCADE,
            stage TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created REAL NOT NULL,
            seen REAL NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0,
            peer TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX operator_sessions_by_name ON operator_sessions(name);
        """
    )


# -- accounts ------------------------------------------------------------------


def add(conn: sqlite3.Connection, name: str, password_hash: str, secret: str, created: str) -> None:
    """A new operator, its TOTP not confirmed yet. Raises Conflict, LimitExceeded."""
    if conn.execute("SELECT 1 FROM operators WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"operator {name} already exists")
    if conn.execute("SELECT count(*) FROM operators").fetchone()[0] >= MAX_OPERATORS:
        raise LimitExceeded(f"a box has at most {MAX_OPERATORS} operators")
    conn.execute(
        "INSERT INTO operators (name, password_hash, totp_secret, created) VALUES (?, ?, ?, ?)",
        (name, password_hash, secret, created),
    )


def get(conn: sqlite3.Connection, name: str) -> dict | None:
    row = conn.execute("SELECT * FROM operators WHERE name = ?", (name,)).fetchone()
    if row is None:
        return None
    found = dict(row)
    found["recovery"] = json.loads(found["recovery"])
    return found


def require(conn: sqlite3.Connection, name: str) -> dict:
    found = get(conn, name)
    if found is None:
        raise NotFound(f"no operator {name}")
    return found


def list_all(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute(
        "SELECT name, totp_confirmed, created, last_signin, json_array_length(recovery) AS recovery_left"
        " FROM operators ORDER BY name"
    )
    return [dict(r) for r in rows]


def remove(conn: sqlite3.Connection, name: str) -> None:
    """Remove an operator with its sessions. Raises NotFound."""
    if conn.execute("DELETE FROM operators WHERE name = ?", (name,)).rowcount == 0:
        raise NotFound(f"no operator {name}")


def set_password_hash(conn: sqlite3.Connection, name: str, password_hash: str) -> None:
    require(conn, name)
    conn.execute("UPDATE operators SET password_hash = ? WHERE name = ?", (password_hash, name))


def reset_totp(conn: sqlite3.Connection, name: str, secret: str) -> None:
    """A new secret, to be confirmed again; the recovery codes are gone."""
    require(conn, name)
    conn.execute(
        "UPDATE operators SET totp_secret = ?, totp_confirmed = 0, last_step = NULL, recovery = '[]' WHERE name = ?",
        (secret, name),
    )


def confirm_totp(conn: sqlite3.Connection, name: str, step: int, recovery_hashes: list[str]) -> None:
    conn.execute(
        "UPDATE operators SET totp_confirmed = 1, last_step = ?, recovery = ? WHERE name = ?",
        (step, json.dumps(recovery_hashes), name),
    )


def set_last_step(conn: sqlite3.Connection, name: str, step: int) -> None:
    conn.execute("UPDATE operators SET last_step = ? WHERE name = ?", (step, name))


def set_recovery(conn: sqlite3.Connection, name: str, recovery_hashes: list[str]) -> None:
    conn.execute("UPDATE operators SET recovery = ? WHERE name = ?", (json.dumps(recovery_hashes), name))


def signed_in(conn: sqlite3.Connection, name: str, at: str) -> None:
    conn.execute("UPDATE operators SET last_signin = ? WHERE name = ?", (at, name))


# -- sessions ------------------------------------------------------------------


def create_session(conn: sqlite3.Connection, id_hash: str, name: str, stage: str, csrf: str, now: float,
                   peer: str) -> None:
    """Store a new session; past :data:`MAX_SESSIONS_PER_OPERATOR`, the
    operator's oldest end, those still owing a second factor first (so
    someone who knows only the password cannot push a full session out)."""
    conn.execute(
        "INSERT INTO operator_sessions (id_hash, name, stage, csrf, created, seen, peer) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (id_hash, name, stage, csrf, now, now, peer[:64]),
    )
    conn.execute(
        "DELETE FROM operator_sessions WHERE name = ? AND id_hash NOT IN"
        " (SELECT id_hash FROM operator_sessions WHERE name = ? ORDER BY stage = 'full' DESC, created DESC LIMIT ?)",
        (name, name, MAX_SESSIONS_PER_OPERATOR),
    )


def get_session(conn: sqlite3.Connection, id_hash: str) -> dict | None:
    row = conn.execute("SELECT * FROM operator_sessions WHERE id_hash = ?", (id_hash,)).fetchone()
    return dict(row) if row else None


def promote_session(conn: sqlite3.Connection, old_hash: str, new_hash: str, csrf: str, now: float) -> bool:
    """The second factor is done: a new id and CSRF token, stage ``full``,
    age counted from now. False when the old one is gone."""
    cur = conn.execute(
        "UPDATE operator_sessions SET id_hash = ?, stage = 'full', csrf = ?, created = ?, seen = ?, tries = 0"
        " WHERE id_hash = ?",
        (new_hash, csrf, now, now, old_hash),
    )
    return cur.rowcount == 1


def set_stage(conn: sqlite3.Connection, id_hash: str, stage: str) -> None:
    conn.execute("UPDATE operator_sessions SET stage = ? WHERE id_hash = ?", (stage, id_hash))


def count_try(conn: sqlite3.Connection, id_hash: str) -> int:
    """One more wrong code in this session; returns how many so far."""
    conn.execute("UPDATE operator_sessions SET tries = tries + 1 WHERE id_hash = ?", (id_hash,))
    row = conn.execute("SELECT tries FROM operator_sessions WHERE id_hash = ?", (id_hash,)).fetchone()
    return row["tries"] if row else 0


def touch_session(conn: sqlite3.Connection, id_hash: str, now: float) -> None:
    conn.execute("UPDATE operator_sessions SET seen = ? WHERE id_hash = ?", (now, id_hash))


def delete_session(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute("DELETE FROM operator_sessions WHERE id_hash = ?", (id_hash,))


def delete_sessions_of(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute("DELETE FROM operator_sessions WHERE name = ?", (name,)).rowcount


def purge_sessions(conn: sqlite3.Connection, idle_before: float, created_before: float) -> int:
    """Remove sessions idle since ``idle_before`` or created before ``created_before``."""
    return conn.execute(
        "DELETE FROM operator_sessions WHERE seen < ? OR created < ?", (idle_before, created_before)
    ).rowcount
