"""Each user's Sieve scripts and what their actions remember, in the
business's file.

* ``sieve_scripts``: a user's scripts by name (RFC 5804 names: at most
  :data:`MAX_NAME` characters, no control characters), their text, and
  which one is active - at most one per user, kept by a partial unique
  index so no code path can leave two active.
* ``sieve_vacation``: when a vacation reply last went to a sender for one
  handle (RFC 5230 section 4.2, ``:days``).
* ``sieve_redirects``: redirects per user per day, so a script cannot turn
  the box into a mail cannon.

The text is stored as given; checking that it parses is the caller's
(:mod:`appliance.sieve`). Functions take a :class:`sqlite3.Connection`
inside a transaction of :class:`storage.database.Database`.
"""

from __future__ import annotations

import datetime
import sqlite3
import time

import sqlite_utils

from .errors import Conflict, InvalidInput, LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("sieve")

#: Longest script name (RFC 5804 section 1.6 leaves it to the server).
MAX_NAME = 128


@MIGRATIONS(name="0001_sieve")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE sieve_scripts (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            content TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 0 CHECK (active IN (0, 1)),
            updated TEXT NOT NULL,
            UNIQUE (user_id, name)
        );
        CREATE UNIQUE INDEX sieve_one_active ON sieve_scripts(user_id) WHERE active = 1;
        CREATE TABLE sieve_vacation (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            sender TEXT NOT NULL,
            handle TEXT NOT NULL,
            last_sent REAL NOT NULL,
            PRIMARY KEY (user_id, sender, handle)
        );
        CREATE TABLE sieve_redirects (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            day TEXT NOT NULL,
            count INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, day)
        );
        """
    )


def check_name(name: str) -> str:
    """A script name as stored, or InvalidInput (RFC 5804 section 1.6: no
    control characters; we also keep it short and non-empty)."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise InvalidInput("a script name is 1 to 128 characters")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in "\u2028\u2029" for c in name):
        raise InvalidInput("a script name may not contain control characters")
    return name


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def list_scripts(conn: sqlite3.Connection, user_id: int) -> list[dict]:
    """``[{name, active, size, updated}]`` of one user's scripts, by name."""
    rows = conn.execute(
        "SELECT name, active, length(CAST(content AS BLOB)) AS size, updated FROM sieve_scripts"
        " WHERE user_id = ? ORDER BY name",
        (user_id,),
    )
    return [{**dict(r), "active": bool(r["active"])} for r in rows]


def get_script(conn: sqlite3.Connection, user_id: int, name: str) -> str:
    """A script's text, or NotFound."""
    row = conn.execute("SELECT content FROM sieve_scripts WHERE user_id = ? AND name = ?", (user_id, name)).fetchone()
    if row is None:
        raise NotFound(f"no script named {name!r}")
    return row["content"]


def used_space(conn: sqlite3.Connection, user_id: int, *, besides: str | None = None) -> tuple[int, int]:
    """(scripts, bytes) a user's scripts take, leaving out ``besides``."""
    row = conn.execute(
        "SELECT count(*) AS n, coalesce(sum(length(CAST(content AS BLOB))), 0) AS bytes FROM sieve_scripts"
        " WHERE user_id = ? AND name IS NOT ?",
        (user_id, besides),
    ).fetchone()
    return row["n"], row["bytes"]


def check_space(conn: sqlite3.Connection, user_id: int, name: str, size: int, *, max_scripts: int, max_bytes: int,
                max_total: int) -> None:
    """Raise LimitExceeded if storing ``size`` bytes as ``name`` would pass
    a limit (one script's size, the number of scripts, their total)."""
    if size > max_bytes:
        raise LimitExceeded(f"a script may be at most {max_bytes} bytes")
    count, total = used_space(conn, user_id, besides=name)
    if count + 1 > max_scripts:
        raise LimitExceeded(f"at most {max_scripts} scripts")
    if total + size > max_total:
        raise LimitExceeded(f"scripts may take at most {max_total} bytes together")


def put_script(conn: sqlite3.Connection, user_id: int, name: str, content: str, *, max_scripts: int, max_bytes: int,
               max_total: int) -> None:
    """Create or replace a script; an active script stays active."""
    name = check_name(name)
    check_space(conn, user_id, name, len(content.encode()), max_scripts=max_scripts, max_bytes=max_bytes,
                max_total=max_total)
    conn.execute(
        "INSERT INTO sieve_scripts (user_id, name, content, updated) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id, name) DO UPDATE SET content = excluded.content, updated = excluded.updated",
        (user_id, name, content, _now()),
    )


def set_active(conn: sqlite3.Connection, user_id: int, name: str | None) -> None:
    """Make ``name`` the active script (None or "": none is active)."""
    if name:
        get_script(conn, user_id, name)
    conn.execute("UPDATE sieve_scripts SET active = 0 WHERE user_id = ? AND active = 1", (user_id,))
    if name:
        conn.execute("UPDATE sieve_scripts SET active = 1 WHERE user_id = ? AND name = ?", (user_id, name))


def delete_script(conn: sqlite3.Connection, user_id: int, name: str) -> None:
    """Delete a script; Conflict if it is the active one (RFC 5804 section 2.10)."""
    row = conn.execute("SELECT active FROM sieve_scripts WHERE user_id = ? AND name = ?", (user_id, name)).fetchone()
    if row is None:
        raise NotFound(f"no script named {name!r}")
    if row["active"]:
        raise Conflict("the active script cannot be deleted")
    conn.execute("DELETE FROM sieve_scripts WHERE user_id = ? AND name = ?", (user_id, name))


def rename_script(conn: sqlite3.Connection, user_id: int, old: str, new: str) -> None:
    """Rename a script (it keeps its active flag); NotFound or Conflict."""
    new = check_name(new)
    get_script(conn, user_id, old)
    if conn.execute("SELECT 1 FROM sieve_scripts WHERE user_id = ? AND name = ?", (user_id, new)).fetchone():
        raise Conflict(f"a script named {new!r} exists")
    conn.execute("UPDATE sieve_scripts SET name = ?, updated = ? WHERE user_id = ? AND name = ?",
                 (new, _now(), user_id, old))


def active_scripts(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, tuple[str, str]]:
    """``{user_id: (name, content)}`` of the active scripts of ``user_ids``."""
    if not user_ids:
        return {}
    marks = ",".join("?" * len(user_ids))
    rows = conn.execute(
        f"SELECT user_id, name, content FROM sieve_scripts WHERE active = 1 AND user_id IN ({marks})",
        tuple(user_ids),
    )
    return {r["user_id"]: (r["name"], r["content"]) for r in rows}


def vacation_due(conn: sqlite3.Connection, user_id: int, sender: str, handle: str, seconds: float,
                 now: float | None = None) -> bool:
    """True if no reply went to ``sender`` for ``handle`` within ``seconds``,
    and then record one as sent now (same transaction as the queue entry)."""
    now = time.time() if now is None else now
    row = conn.execute(
        "SELECT last_sent FROM sieve_vacation WHERE user_id = ? AND sender = ? AND handle = ?",
        (user_id, sender, handle),
    ).fetchone()
    if row is not None and now - row["last_sent"] < seconds:
        return False
    conn.execute(
        "INSERT INTO sieve_vacation (user_id, sender, handle, last_sent) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id, sender, handle) DO UPDATE SET last_sent = excluded.last_sent",
        (user_id, sender, handle, now),
    )
    # Memory older than the longest :days we allow is of no use any more.
    conn.execute("DELETE FROM sieve_vacation WHERE user_id = ? AND last_sent < ?", (user_id, now - 400 * 86_400))
    return True


def count_redirect(conn: sqlite3.Connection, user_id: int, limit: int) -> None:
    """Count one redirect of today for ``user_id``; LimitExceeded past ``limit``."""
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    count = conn.execute(
        "INSERT INTO sieve_redirects (user_id, day, count) VALUES (?, ?, 1)"
        " ON CONFLICT (user_id, day) DO UPDATE SET count = count + 1 RETURNING count",
        (user_id, day),
    ).fetchone()[0]
    if count > limit:
        raise LimitExceeded("daily redirect limit reached")
    conn.execute("DELETE FROM sieve_redirects WHERE user_id = ? AND day < ?", (user_id, day))


def active_named(conn: sqlite3.Connection, name: str) -> list[tuple[int, str]]:
    """``[(user_id, content)]`` of the active scripts called ``name``."""
    rows = conn.execute("SELECT user_id, content FROM sieve_scripts WHERE active = 1 AND name = ?", (name,))
    return [(r["user_id"], r["content"]) for r in rows]
