"""Certificates and the ACME account, stored where their owner's data lives.

* The box database holds the ACME account (one key per directory URL), the
  certificate of the box host name, and the renewal requests the CLI makes
  (``appliance cert renew``) for the daemon to carry out.
* Each business's file holds the certificates of its own names, so copying
  the file moves them with the business.

A certificate row is keyed by its first name (the domain, or the box host
name) and keeps the names wanted, the issued chain and key (PEM), the
validity, and the renewal state: attempts since the last success, the last
error, when to try again (backoff) and when renewal is due. Times are Unix
seconds.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

import sqlite_utils

#: Certificates in the box database (box host name) - a separate set so
#: the box file's own migration set stays the catalog's.
BOX_MIGRATIONS = sqlite_utils.Migrations("box_certs")
#: Certificates in a business's file.
MIGRATIONS = sqlite_utils.Migrations("certs")

#: Renewal requests kept (the oldest finished ones are dropped beyond this).
MAX_REQUESTS = 200
#: Longest error text kept.
MAX_ERROR = 500

_CERTIFICATES = """
CREATE TABLE certificates (
    name TEXT PRIMARY KEY,
    names TEXT NOT NULL,
    challenge TEXT NOT NULL DEFAULT '',
    cert_pem TEXT,
    key_pem TEXT,
    issuer TEXT,
    not_before REAL,
    not_after REAL,
    renew_at REAL,
    ari_check_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt REAL,
    updated REAL NOT NULL
);
"""


@BOX_MIGRATIONS(name="0001_acme")
def _box0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        _CERTIFICATES
        + """
        CREATE TABLE acme_account (
            directory TEXT PRIMARY KEY,
            key_pem TEXT NOT NULL,
            uri TEXT,
            created REAL NOT NULL
        );
        CREATE TABLE cert_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            requested REAL NOT NULL,
            finished REAL,
            ok INTEGER,
            result TEXT
        );
        """
    )


@MIGRATIONS(name="0001_certificates")
def _t0001(db: sqlite_utils.Database) -> None:
    db.executescript(_CERTIFICATES)


# -- the account (box database) -------------------------------------------------


def account(conn: sqlite3.Connection, directory: str) -> dict | None:
    """The account key and URI for ``directory``, or None."""
    row = conn.execute("SELECT key_pem, uri FROM acme_account WHERE directory = ?", (directory,)).fetchone()
    return dict(row) if row else None


def save_account(conn: sqlite3.Connection, directory: str, key_pem: str, uri: str | None) -> None:
    conn.execute(
        "INSERT INTO acme_account (directory, key_pem, uri, created) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (directory) DO UPDATE SET uri = excluded.uri",
        (directory, key_pem, uri, time.time()),
    )


# -- certificates (either file) ----------------------------------------------------


def _row(row: sqlite3.Row) -> dict[str, Any]:
    out = dict(row)
    out["names"] = json.loads(out["names"])
    return out


def list_certificates(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [_row(r) for r in conn.execute("SELECT * FROM certificates ORDER BY name")]


def get_certificate(conn: sqlite3.Connection, name: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM certificates WHERE name = ?", (name,)).fetchone()
    return _row(row) if row else None


def want(conn: sqlite3.Connection, wanted: dict[str, tuple[list[str], str]]) -> None:
    """Make the rows match ``{name: (names, challenge)}``: new ones are
    added, rows no longer wanted are removed, and a row whose names changed
    keeps its certificate (still served) but becomes due at once."""
    now = time.time()
    existing = {r["name"]: json.loads(r["names"]) for r in conn.execute("SELECT name, names FROM certificates")}
    for name in set(existing) - set(wanted):
        conn.execute("DELETE FROM certificates WHERE name = ?", (name,))
    for name, (names, challenge) in wanted.items():
        if name not in existing:
            conn.execute(
                "INSERT INTO certificates (name, names, challenge, updated) VALUES (?, ?, ?, ?)",
                (name, json.dumps(names), challenge, now),
            )
        elif existing[name] != names:
            conn.execute(
                "UPDATE certificates SET names = ?, challenge = ?, renew_at = 0, attempts = 0,"
                " next_attempt = NULL, updated = ? WHERE name = ?",
                (json.dumps(names), challenge, now, name),
            )
        else:
            conn.execute("UPDATE certificates SET challenge = ? WHERE name = ?", (challenge, name))


def store_issued(
    conn: sqlite3.Connection,
    name: str,
    names: list[str],
    cert_pem: str,
    key_pem: str,
    *,
    issuer: str,
    not_before: float,
    not_after: float,
    renew_at: float,
) -> None:
    """Record a newly issued certificate; clears the failure state."""
    conn.execute(
        "INSERT INTO certificates (name, names, updated) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
        (name, json.dumps(names), time.time()),
    )
    conn.execute(
        "UPDATE certificates SET names = ?, cert_pem = ?, key_pem = ?, issuer = ?, not_before = ?,"
        " not_after = ?, renew_at = ?, ari_check_at = NULL, attempts = 0, last_error = NULL,"
        " next_attempt = NULL, updated = ? WHERE name = ?",
        (json.dumps(names), cert_pem, key_pem, issuer, not_before, not_after, renew_at, time.time(), name),
    )


def record_failure(conn: sqlite3.Connection, name: str, error: str, next_attempt: float) -> int:
    """Count a failed attempt; returns the attempts since the last success."""
    conn.execute(
        "UPDATE certificates SET attempts = attempts + 1, last_error = ?, next_attempt = ?, updated = ?"
        " WHERE name = ?",
        (error[:MAX_ERROR], next_attempt, time.time(), name),
    )
    row = conn.execute("SELECT attempts FROM certificates WHERE name = ?", (name,)).fetchone()
    return row["attempts"] if row else 0


def set_renewal_info(conn: sqlite3.Connection, name: str, renew_at: float, ari_check_at: float) -> None:
    """Record what the CA's renewal information (ARI) suggested."""
    conn.execute(
        "UPDATE certificates SET renew_at = ?, ari_check_at = ? WHERE name = ?", (renew_at, ari_check_at, name)
    )


# -- renewal requests from the CLI (box database) -----------------------------------


def add_request(conn: sqlite3.Connection, name: str) -> int:
    """Queue a renewal of ``name`` (``""``: every certificate); returns its id."""
    cur = conn.execute("INSERT INTO cert_requests (name, requested) VALUES (?, ?)", (name, time.time()))
    conn.execute(
        "DELETE FROM cert_requests WHERE finished IS NOT NULL AND id <= ?", (cur.lastrowid - MAX_REQUESTS,)
    )
    return int(cur.lastrowid)


def pending_requests(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute("SELECT id, name FROM cert_requests WHERE finished IS NULL ORDER BY id")]


def finish_request(conn: sqlite3.Connection, request_id: int, ok: bool, result: str) -> None:
    conn.execute(
        "UPDATE cert_requests SET finished = ?, ok = ?, result = ? WHERE id = ?",
        (time.time(), int(ok), result[:MAX_ERROR * 4], request_id),
    )


def get_request(conn: sqlite3.Connection, request_id: int) -> dict[str, Any] | None:
    row = conn.execute("SELECT * FROM cert_requests WHERE id = ?", (request_id,)).fetchone()
    return dict(row) if row else None
