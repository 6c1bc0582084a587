"""API keys: how a reseller's billing system signs in to the provisioning
API, in the box database, never in a business's file.

One row per key: its name, its scope (``read`` or ``write``), the SHA-256 of
the token (the token is long and random, so a plain digest is enough; the
token itself is never stored), when it was made, last used and revoked. A
revoked key stays listed, so the log and the list still name it.

The answers to creations with an ``Idempotency-Key`` live here too
(``api_idempotency``): per key name and idempotency key, the digest of the
request and the answer given, so a retry gets the same answer. How long
they are kept is the caller's rule (:func:`forget_answers_before`).
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from .errors import Conflict, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("apikeys")

#: Keys one box may have, revoked ones included.
MAX_KEYS = 1000
SCOPES = ("read", "write")


@MIGRATIONS(name="0001_api_keys")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE api_keys (
            name TEXT PRIMARY KEY,
            scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
            token_hash TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL,
            last_used TEXT,
            revoked TEXT
        );
        CREATE TABLE api_idempotency (
            key_name TEXT NOT NULL REFERENCES api_keys(name) ON DELETE CASCADE,
            idempotency_key TEXT NOT NULL,
            request_hash TEXT NOT NULL,
            status INTEGER NOT NULL,
            answer TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (key_name, idempotency_key)
        );
        """
    )


def add(conn: sqlite3.Connection, name: str, scope: str, token_hash: str, created: str) -> None:
    """A new key. Raises Conflict (the name is taken), LimitExceeded."""
    if conn.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone():
        raise Conflict(f"API key {name} already exists")
    if conn.execute("SELECT count(*) FROM api_keys").fetchone()[0] >= MAX_KEYS:
        raise LimitExceeded(f"a box has at most {MAX_KEYS} API keys")
    conn.execute("INSERT INTO api_keys (name, scope, token_hash, created) VALUES (?, ?, ?, ?)",
                 (name, scope, token_hash, created))


def list_all(conn: sqlite3.Connection) -> list[dict]:
    rows = conn.execute("SELECT name, scope, created, last_used, revoked FROM api_keys ORDER BY name")
    return [dict(r) for r in rows]


def revoke(conn: sqlite3.Connection, name: str, when: str) -> None:
    """Revoke a key (its idempotent answers go). Raises NotFound (no such
    key, or revoked already)."""
    if conn.execute("UPDATE api_keys SET revoked = ? WHERE name = ? AND revoked IS NULL", (when, name)).rowcount == 0:
        raise NotFound(f"no API key {name} in use")
    conn.execute("DELETE FROM api_idempotency WHERE key_name = ?", (name,))


def by_token_hash(conn: sqlite3.Connection, token_hash: str) -> dict | None:
    """The key in use whose token has ``token_hash``, or None."""
    row = conn.execute("SELECT name, scope, last_used FROM api_keys WHERE token_hash = ? AND revoked IS NULL",
                       (token_hash,)).fetchone()
    return dict(row) if row is not None else None


def used(conn: sqlite3.Connection, name: str, when: str) -> None:
    conn.execute("UPDATE api_keys SET last_used = ? WHERE name = ?", (when, name))


def answer(conn: sqlite3.Connection, key_name: str, idempotency_key: str, since: float) -> dict | None:
    """The request digest, status and answer kept for ``idempotency_key``
    at ``since`` or later, or None."""
    row = conn.execute("SELECT request_hash, status, answer FROM api_idempotency"
                       " WHERE key_name = ? AND idempotency_key = ? AND created >= ?",
                       (key_name, idempotency_key, since)).fetchone()
    return dict(row) if row is not None else None


def keep_answer(conn: sqlite3.Connection, key_name: str, idempotency_key: str, request_hash: str, status: int,
                answer_: str, now: float) -> None:
    """Keep an answer (forget expired ones first, :func:`forget_answers_before`);
    a second one for the same key is a Conflict (two requests raced with one
    idempotency key)."""
    try:
        conn.execute("INSERT INTO api_idempotency (key_name, idempotency_key, request_hash, status, answer, created)"
                     " VALUES (?, ?, ?, ?, ?, ?)", (key_name, idempotency_key, request_hash, status, answer_, now))
    except sqlite3.IntegrityError:
        raise Conflict("a request with this Idempotency-Key is being answered") from None


def forget_answers_before(conn: sqlite3.Connection, when: float) -> int:
    return conn.execute("DELETE FROM api_idempotency WHERE created < ?", (when,)).rowcount
