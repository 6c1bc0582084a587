"""Mailboxes and messages in the business's file.

* Every user gets INBOX, Sent, Drafts, Trash, Junk and Archive, the last five
  with their RFC 6154 SPECIAL-USE attribute (:func:`provision_user`).
* A message body is stored once per business however many users receive it
  (:func:`store_body` dedups by SHA-256; a reference count kept by triggers
  drops the body when its last message goes).
* Each mailbox has a stable UIDVALIDITY and hands out strictly ascending
  UIDs that are never reused (``uidnext`` only grows), and a MODSEQ counter
  for CONDSTORE.
* Quota: the bytes of a user's messages, kept by triggers in ``mail_usage``
  so a check is one row read; the limit is the user's ``quota_bytes`` or the
  plan's ``mailbox_bytes``.

Functions take a :class:`sqlite3.Connection` inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import datetime
import hashlib
import sqlite3
import time
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Iterable

import sqlite_utils

from appliance.errors import LimitExceeded, NotFound

MIGRATIONS = sqlite_utils.Migrations("mail")

#: Mailboxes every user gets, with their SPECIAL-USE attribute (RFC 6154).
DEFAULT_MAILBOXES = (
    ("INBOX", None),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)

#: Header fields copied out at delivery for listing and search.
INDEXED_HEADERS = ("subject", "from", "to", "cc", "date", "message-id")
MAX_INDEXED_HEADER = 998


@MIGRATIONS(name="0001_mail")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE mailboxes (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            special_use TEXT,
            uidvalidity INTEGER NOT NULL,
            uidnext INTEGER NOT NULL DEFAULT 1,
            highestmodseq INTEGER NOT NULL DEFAULT 1,
            subscribed INTEGER NOT NULL DEFAULT 1,
            created TEXT NOT NULL,
            UNIQUE (user_id, name)
        );
        CREATE TABLE bodies (
            id INTEGER PRIMARY KEY,
            sha256 TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            raw BLOB NOT NULL,
            refs INTEGER NOT NULL DEFAULT 0,
            subject TEXT, from_ TEXT, to_ TEXT, cc TEXT, date TEXT, message_id TEXT
        );
        CREATE INDEX bodies_unreferenced ON bodies(refs) WHERE refs = 0;
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
            uid INTEGER NOT NULL,
            body_id INTEGER NOT NULL REFERENCES bodies(id),
            flags TEXT NOT NULL DEFAULT '',
            internal_date TEXT NOT NULL,
            size INTEGER NOT NULL,
            modseq INTEGER NOT NULL,
            UNIQUE (mailbox_id, uid)
        );
        CREATE INDEX messages_by_body ON messages(body_id);
        CREATE TABLE mail_usage (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            bytes INTEGER NOT NULL DEFAULT 0,
            messages INTEGER NOT NULL DEFAULT 0
        );

        CREATE TRIGGER messages_added AFTER INSERT ON messages BEGIN
            UPDATE bodies SET refs = refs + 1 WHERE id = NEW.body_id;
            INSERT INTO mail_usage (user_id, bytes, messages)
                SELECT user_id, NEW.size, 1 FROM mailboxes WHERE id = NEW.mailbox_id
                ON CONFLICT (user_id) DO UPDATE SET bytes = bytes + excluded.bytes, messages = messages + 1;
        END;
        -- Also fires for rows removed by ON DELETE CASCADE (a mailbox or a
        -- user deleted), so counts and bodies stay right.
        CREATE TRIGGER messages_removed AFTER DELETE ON messages BEGIN
            UPDATE mail_usage SET bytes = bytes - OLD.size, messages = messages - 1
                WHERE user_id = (SELECT user_id FROM mailboxes WHERE id = OLD.mailbox_id);
            UPDATE bodies SET refs = refs - 1 WHERE id = OLD.body_id;
            DELETE FROM bodies WHERE id = OLD.body_id AND refs <= 0;
        END;
        """
    )


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _uidvalidity(conn: sqlite3.Connection) -> int:
    # Seconds since the epoch, bumped past every existing value: a mailbox
    # deleted and re-created under the same name never reuses a UIDVALIDITY
    # (RFC 3501 section 2.3.1.1).
    latest = conn.execute("SELECT max(uidvalidity) FROM mailboxes").fetchone()[0] or 0
    return max(int(time.time()), latest + 1)


def provision_user(conn: sqlite3.Connection, user_id: int) -> None:
    """Create the default mailboxes of a new user (an ON_USER_CREATED hook)."""
    for name, special in DEFAULT_MAILBOXES:
        create_mailbox(conn, user_id, name, special)
    conn.execute("INSERT OR IGNORE INTO mail_usage (user_id) VALUES (?)", (user_id,))


def create_mailbox(conn: sqlite3.Connection, user_id: int, name: str, special_use: str | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO mailboxes (user_id, name, special_use, uidvalidity, created) VALUES (?, ?, ?, ?, ?)",
        (user_id, name, special_use, _uidvalidity(conn), _now()),
    )
    return cur.lastrowid


def mailbox_id(conn: sqlite3.Connection, user_id: int, name: str) -> int:
    """The id of a user's mailbox; INBOX is matched in any letter case (RFC 3501 5.1)."""
    if name.upper() == "INBOX":
        name = "INBOX"
    row = conn.execute("SELECT id FROM mailboxes WHERE user_id = ? AND name = ?", (user_id, name)).fetchone()
    if row is None:
        raise NotFound(f"no mailbox {name}")
    return row["id"]


def list_mailboxes(conn: sqlite3.Connection, user_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT m.id, m.name, m.special_use, m.uidvalidity, m.uidnext, m.subscribed,"
        " (SELECT count(*) FROM messages WHERE mailbox_id = m.id) AS messages"
        " FROM mailboxes m WHERE user_id = ? ORDER BY m.name = 'INBOX' DESC, m.name",
        (user_id,),
    )
    return [dict(r) for r in rows]


def _header_fields(raw: bytes) -> dict[str, str | None]:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw if end < 0 else raw[: end + 2]
    parsed = BytesHeaderParser(policy=compat32).parsebytes(head)
    out: dict[str, str | None] = {}
    for name in INDEXED_HEADERS:
        value = parsed.get(name)
        out[name] = None if value is None else str(value)[:MAX_INDEXED_HEADER]
    return out


def store_body(conn: sqlite3.Connection, raw: bytes) -> int:
    """Store a message once per business; returns its body id.

    The same bytes stored again return the same id. A body that no message
    refers to (every delivery of it was refused) is dropped by the next call.
    """
    digest = hashlib.sha256(raw).hexdigest()
    row = conn.execute("SELECT id FROM bodies WHERE sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return row["id"]
    conn.execute("DELETE FROM bodies WHERE refs = 0")
    h = _header_fields(raw)
    cur = conn.execute(
        "INSERT INTO bodies (sha256, size, raw, subject, from_, to_, cc, date, message_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (digest, len(raw), raw, h["subject"], h["from"], h["to"], h["cc"], h["date"], h["message-id"]),
    )
    return cur.lastrowid


def quota_usage(conn: sqlite3.Connection, user_id: int) -> tuple[int, int]:
    """(bytes used, byte limit) of a user's mailboxes."""
    row = conn.execute(
        "SELECT coalesce(u.quota_bytes, t.mailbox_bytes) AS quota,"
        " coalesce((SELECT bytes FROM mail_usage WHERE user_id = u.id), 0) AS used"
        " FROM users u, tenant t WHERE u.id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        raise NotFound("no such user")
    return row["used"], row["quota"]


def _flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def deliver(
    conn: sqlite3.Connection,
    user_id: int,
    body_id: int,
    mailbox: str = "INBOX",
    flags: Iterable[str] = (),
    internal_date: str | None = None,
) -> tuple[int, int]:
    """Put a stored body into a user's mailbox; returns (mailbox id, UID).

    Raises :class:`LimitExceeded` when the message would take the user over
    quota, :class:`NotFound` when the mailbox does not exist.
    """
    size = conn.execute("SELECT size FROM bodies WHERE id = ?", (body_id,)).fetchone()["size"]
    used, limit = quota_usage(conn, user_id)
    if used + size > limit:
        raise LimitExceeded("mailbox is full")
    box = mailbox_id(conn, user_id, mailbox)
    uid, modseq = conn.execute(
        "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 WHERE id = ?"
        " RETURNING uidnext - 1, highestmodseq",
        (box,),
    ).fetchone()
    conn.execute(
        "INSERT INTO messages (mailbox_id, uid, body_id, flags, internal_date, size, modseq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (box, uid, body_id, _flags_text(flags), internal_date or _now(), size, modseq),
    )
    return box, uid


def messages(conn: sqlite3.Connection, mailbox: int) -> list[dict]:
    """Every message of a mailbox in UID order (without bodies)."""
    rows = conn.execute(
        "SELECT m.uid, m.flags, m.internal_date, m.size, m.modseq, b.subject, b.from_, b.message_id"
        " FROM messages m JOIN bodies b ON b.id = m.body_id WHERE m.mailbox_id = ? ORDER BY m.uid",
        (mailbox,),
    )
    return [dict(r) for r in rows]


def fetch_raw(conn: sqlite3.Connection, mailbox: int, uid: int) -> bytes:
    row = conn.execute(
        "SELECT b.raw FROM messages m JOIN bodies b ON b.id = m.body_id WHERE m.mailbox_id = ? AND m.uid = ?",
        (mailbox, uid),
    ).fetchone()
    if row is None:
        raise NotFound(f"no message {uid}")
    return bytes(row["raw"])


def expunge(conn: sqlite3.Connection, mailbox: int, uids: Iterable[int]) -> list[int]:
    """Remove messages by UID; returns the UIDs that were there."""
    gone = []
    for uid in uids:
        if conn.execute("DELETE FROM messages WHERE mailbox_id = ? AND uid = ?", (mailbox, uid)).rowcount:
            gone.append(uid)
    if gone:
        conn.execute("UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ?", (mailbox,))
    return gone
