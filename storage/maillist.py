"""What a mail reader in the browser lists: a user's mailboxes with their
unread counts, and one page of a mailbox newest first.

The page is a range read of the ``(mailbox_id, uid)`` index from the top
(``ORDER BY uid DESC LIMIT``), so its cost is the page, not the mailbox;
the count of a mailbox reads the same index. Ids here are the
``mailboxes.id`` of the user's own rows: a mailbox id that is not the
user's is :class:`NotFound`, like one that does not exist.

Functions take a :class:`sqlite3.Connection` inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import json
import sqlite3

from .errors import NotFound
from .mailsearch import Clause, contains

_SPECIAL_ORDER = ("\\Drafts", "\\Sent", "\\Archive", "\\Junk", "\\Trash")


def folders(conn: sqlite3.Connection, user_id: int) -> list[dict]:
    """The user's mailboxes: id, name, special_use, messages, unread; INBOX
    first, then the special-use ones, then the rest by name."""
    rows = [dict(r) for r in conn.execute(
        "SELECT b.id, b.name, b.special_use,"
        " (SELECT count(*) FROM messages WHERE mailbox_id = b.id) AS messages,"
        " (SELECT count(*) FROM messages WHERE mailbox_id = b.id AND instr(' ' || flags || ' ', ' \\Seen ') = 0)"
        " AS unread FROM mailboxes b WHERE b.user_id = ?",
        (user_id,),
    )]

    def rank(row: dict) -> tuple:
        if row["name"] == "INBOX":
            return (0, 0, "")
        if row["special_use"] in _SPECIAL_ORDER:
            return (1, _SPECIAL_ORDER.index(row["special_use"]), row["name"])
        return (2, 0, row["name"].lower())

    return sorted(rows, key=rank)


def folder(conn: sqlite3.Connection, user_id: int, box: int) -> dict:
    """One of the user's mailboxes by id (id, name, special_use, uidvalidity);
    :class:`NotFound` when it is not theirs."""
    row = conn.execute(
        "SELECT id, name, special_use, uidvalidity FROM mailboxes WHERE id = ? AND user_id = ?", (box, user_id)
    ).fetchone()
    if row is None:
        raise NotFound("no such mailbox")
    return dict(row)


def special(conn: sqlite3.Connection, user_id: int, special_use: str) -> dict | None:
    """The user's mailbox with this SPECIAL-USE attribute, if any."""
    row = conn.execute(
        "SELECT id, name, special_use, uidvalidity FROM mailboxes WHERE user_id = ? AND special_use = ?"
        " ORDER BY id LIMIT 1",
        (user_id, special_use),
    ).fetchone()
    return dict(row) if row else None


_LIST_COLUMNS = (
    "m.uid, m.flags, m.internal_date, m.size, b.subject, b.from_, b.to_, b.date,"
    " json_extract(b.structure, '$.t') AS type, json_extract(b.structure, '$.s') AS subtype"
)


def page(conn: sqlite3.Connection, box: int, offset: int, limit: int, where: Clause | None = None) -> tuple[int, list[dict]]:
    """(how many messages match, the ``limit`` newest of them after
    ``offset``) in a mailbox; ``where`` narrows it (a
    :mod:`storage.mailsearch` clause over ``messages m JOIN bodies b``)."""
    cond, params = ("", ()) if where is None else (f" AND {where.sql}", where.params)
    join = " JOIN bodies b ON b.id = m.body_id" if "b." in cond else ""
    # Header clauses decode encoded words in Python (storage.mailsearch).
    conn.create_function("imap_contains", 2, contains, deterministic=True)
    total = conn.execute(f"SELECT count(*) FROM messages m{join} WHERE m.mailbox_id = ?{cond}", (box, *params)).fetchone()[0]
    rows = conn.execute(
        f"SELECT {_LIST_COLUMNS} FROM messages m JOIN bodies b ON b.id = m.body_id"
        f" WHERE m.mailbox_id = ?{cond} ORDER BY m.uid DESC LIMIT ? OFFSET ?",
        (box, *params, limit, offset),
    )
    return total, [dict(r) for r in rows]


def message(conn: sqlite3.Connection, box: int, uid: int) -> dict:
    """One message with its bytes: uid, flags, internal_date, size, raw;
    :class:`NotFound` when there is none."""
    row = conn.execute(
        "SELECT m.uid, m.flags, m.internal_date, m.size, r.raw FROM messages m"
        " JOIN body_blobs r ON r.id = m.body_id WHERE m.mailbox_id = ? AND m.uid = ?",
        (box, uid),
    ).fetchone()
    if row is None:
        raise NotFound("no such message")
    out = dict(row)
    out["raw"] = bytes(out["raw"])
    return out


def existing(conn: sqlite3.Connection, box: int, uids: list[int]) -> list[int]:
    """Those of ``uids`` present in the mailbox, ascending."""
    return [r[0] for r in conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
        (box, json.dumps(uids)),
    )]


def body_matches(conn: sqlite3.Connection, box: int, needle: bytes, limit: int) -> list[int]:
    """UIDs (newest first, at most ``limit``) whose raw bytes contain
    ``needle`` case-insensitively for ASCII letters: the body search of a
    reader in a hurry (encoded bodies are matched as stored)."""
    return [r[0] for r in conn.execute(
        "SELECT m.uid FROM messages m JOIN body_blobs r ON r.id = m.body_id"
        " WHERE m.mailbox_id = ? AND instr(lower(CAST(r.raw AS TEXT)), ?) > 0 ORDER BY m.uid DESC LIMIT ?",
        (box, needle.decode("utf-8", "replace").lower(), limit),
    )]
