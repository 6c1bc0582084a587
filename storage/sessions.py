"""Control panel sessions, in the box database.

A row per signed-in browser. Only the SHA-256 of the session id is stored
(``id_hash``): a copy of the database does not let anyone act as a user.
The row names the business and the user it belongs to, the role the user
had when the id was issued (a change of role issues a new id), the CSRF
token of the session, and when it was created and last seen (seconds since
the epoch, so timeouts are one comparison). Timeouts themselves are the
caller's rule; :func:`purge` removes what the caller says has expired.

A sign-in challenge is a sign-in half done: the password was right and the
user has two-step sign-in on, so the browser holds a challenge id (only its
SHA-256 is stored) until it sends a code. It names the user, when it began
and how many wrong codes it has seen.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("sessions")

#: Sessions one user may hold at once; the oldest go first past this.
MAX_PER_USER = 20
#: Sign-in challenges one user may have open at once; the oldest go first.
MAX_CHALLENGES_PER_USER = 5


@MIGRATIONS(name="0001_panel_sessions")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE panel_sessions (
            id_hash TEXT PRIMARY KEY,
            ref TEXT UNIQUE NOT NULL,
            slug TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            address TEXT NOT NULL,
            role TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created REAL NOT NULL,
            seen REAL NOT NULL,
            peer TEXT NOT NULL DEFAULT '',
            agent TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX panel_sessions_by_user ON panel_sessions(slug, user_id);
        """
    )


@MIGRATIONS(name="0002_signin_challenges")
def _m0002(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE signin_challenges (
            id_hash TEXT PRIMARY KEY,
            slug TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            address TEXT NOT NULL,
            created REAL NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX signin_challenges_by_user ON signin_challenges(slug, user_id);
        """
    )


def create(
    conn: sqlite3.Connection, id_hash: str, ref: str, slug: str, user_id: int, address: str, role: str, csrf: str,
    now: float, peer: str, agent: str,
) -> None:
    """Store a new session; the user's oldest sessions past :data:`MAX_PER_USER` are ended."""
    conn.execute(
        "INSERT INTO panel_sessions (id_hash, ref, slug, user_id, address, role, csrf, created, seen, peer, agent)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (id_hash, ref, slug, user_id, address, role, csrf, now, now, peer[:64], agent[:200]),
    )
    conn.execute(
        "DELETE FROM panel_sessions WHERE slug = ? AND user_id = ? AND id_hash NOT IN"
        " (SELECT id_hash FROM panel_sessions WHERE slug = ? AND user_id = ? ORDER BY created DESC LIMIT ?)",
        (slug, user_id, slug, user_id, MAX_PER_USER),
    )


def get(conn: sqlite3.Connection, id_hash: str) -> dict | None:
    row = conn.execute("SELECT * FROM panel_sessions WHERE id_hash = ?", (id_hash,)).fetchone()
    return dict(row) if row else None


def touch(conn: sqlite3.Connection, id_hash: str, now: float) -> None:
    conn.execute("UPDATE panel_sessions SET seen = ? WHERE id_hash = ?", (now, id_hash))


def replace(conn: sqlite3.Connection, old_hash: str, new_hash: str, role: str, csrf: str, now: float) -> bool:
    """Give a session a new id (and role and CSRF token), keeping its age;
    False when the old one is gone."""
    cur = conn.execute(
        "UPDATE panel_sessions SET id_hash = ?, role = ?, csrf = ?, seen = ? WHERE id_hash = ?",
        (new_hash, role, csrf, now, old_hash),
    )
    return cur.rowcount == 1


def delete(conn: sqlite3.Connection, id_hash: str) -> None:
    conn.execute("DELETE FROM panel_sessions WHERE id_hash = ?", (id_hash,))


def delete_for_user(conn: sqlite3.Connection, slug: str, user_id: int, *, keep: str | None = None) -> int:
    """End every session of one user (but ``keep``); returns how many."""
    cur = conn.execute(
        "DELETE FROM panel_sessions WHERE slug = ? AND user_id = ? AND id_hash != ?", (slug, user_id, keep or "")
    )
    return cur.rowcount


def delete_one_of_user(conn: sqlite3.Connection, slug: str, user_id: int, ref: str) -> bool:
    """End the session ``ref`` of this user (``ref`` names a session on the
    sessions page without showing its id; another user's ref does nothing)."""
    cur = conn.execute(
        "DELETE FROM panel_sessions WHERE slug = ? AND user_id = ? AND ref = ?", (slug, user_id, ref)
    )
    return cur.rowcount > 0


def list_for_user(conn: sqlite3.Connection, slug: str, user_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT id_hash, ref, created, seen, peer, agent FROM panel_sessions WHERE slug = ? AND user_id = ?"
        " ORDER BY created DESC",
        (slug, user_id),
    )
    return [dict(r) for r in rows]


def purge(conn: sqlite3.Connection, idle_before: float, created_before: float) -> int:
    """Remove sessions idle since ``idle_before`` or created before ``created_before``."""
    cur = conn.execute(
        "DELETE FROM panel_sessions WHERE seen < ? OR created < ?", (idle_before, created_before)
    )
    return cur.rowcount


def delete_for_address(conn: sqlite3.Connection, slug: str, address: str) -> int:
    """End every session of the user ``address`` of business ``slug``."""
    return conn.execute("DELETE FROM panel_sessions WHERE slug = ? AND address = ?", (slug, address)).rowcount


# -- sign-in challenges ------------------------------------------------------


def create_challenge(conn: sqlite3.Connection, id_hash: str, slug: str, user_id: int, address: str,
                     now: float, created_before: float) -> None:
    """Store a challenge; those begun before ``created_before`` go, and the
    user's oldest past :data:`MAX_CHALLENGES_PER_USER`."""
    conn.execute("DELETE FROM signin_challenges WHERE created < ?", (created_before,))
    conn.execute(
        "INSERT INTO signin_challenges (id_hash, slug, user_id, address, created) VALUES (?, ?, ?, ?, ?)",
        (id_hash, slug, user_id, address, now),
    )
    conn.execute(
        "DELETE FROM signin_challenges WHERE slug = ? AND user_id = ? AND id_hash NOT IN"
        " (SELECT id_hash FROM signin_challenges WHERE slug = ? AND user_id = ? ORDER BY created DESC LIMIT ?)",
        (slug, user_id, slug, user_id, MAX_CHALLENGES_PER_USER),
    )


def get_challenge(conn: sqlite3.Connection, id_hash: str) -> dict | None:
    row = conn.execute("SELECT * FROM signin_challenges WHERE id_hash = ?", (id_hash,)).fetchone()
    return dict(row) if row else None


def challenge_failed(conn: sqlite3.Connection, id_hash: str, max_failures: int) -> bool:
    """Count one wrong code; the challenge ends at ``max_failures``.
    True while it is still open."""
    conn.execute("UPDATE signin_challenges SET failures = failures + 1 WHERE id_hash = ?", (id_hash,))
    conn.execute("DELETE FROM signin_challenges WHERE id_hash = ? AND failures >= ?", (id_hash, max_failures))
    return conn.execute("SELECT 1 FROM signin_challenges WHERE id_hash = ?", (id_hash,)).fetchone() is not None


def delete_challenge(conn: sqlite3.Connection, id_hash: str) -> bool:
    return conn.execute("DELETE FROM signin_challenges WHERE id_hash = ?", (id_hash,)).rowcount == 1
