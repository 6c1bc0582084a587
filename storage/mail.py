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
  business's ``mailbox_bytes`` (:func:`storage.directory.limits`: plan and
  extras).
* What a message says about itself (MIME structure, ENVELOPE, the header
  fields listings and SEARCH read) is parsed by the caller before the write,
  off the business's single writer thread, and handed in as a
  :class:`Parsed`; this module stores it as given and never parses a message.

Functions take a :class:`sqlite3.Connection` inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

import sqlite_utils

from . import directory
from . import mailhistory
from . import mailthreads
from .errors import Conflict, InvalidInput, LimitExceeded, NotFound

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


@dataclass(frozen=True)
class Parsed:
    """What the caller parsed out of a message, stored beside its bytes.

    ``structure`` is the JSON text of the part tree (offsets into the raw
    bytes; ``$.b`` is where the top-level body starts, which
    :func:`fetch_rows` uses to read only the header block), ``envelope`` the
    IMAP ENVELOPE as it goes on the wire, ``headers`` the values of
    :data:`INDEXED_HEADERS` (None when absent), each at most
    :data:`MAX_INDEXED_HEADER` characters. ``addresses`` are the
    (address, on the sending side) pairs :mod:`storage.mailhistory` indexes
    (:func:`storage.mailhistory.involved`).
    """

    structure: str
    envelope: bytes
    headers: Mapping[str, str | None]
    addresses: tuple[tuple[str, bool], ...] = ()
    #: What threads the message into conversations (:mod:`storage.mailthreads`).
    thread_keys: str | None = None


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


@MIGRATIONS(name="0002_structure")
def _m0002(db: sqlite_utils.Database) -> None:
    # The MIME structure, parsed at delivery by the caller, so FETCH of
    # ENVELOPE, BODYSTRUCTURE or one part never parses the message again;
    # and an index for "what changed since MODSEQ n" (CONDSTORE, sessions
    # catching up with each other).
    db.executescript(
        """
        ALTER TABLE bodies ADD COLUMN structure TEXT;
        ALTER TABLE bodies ADD COLUMN envelope BLOB;
        CREATE INDEX messages_by_modseq ON messages(mailbox_id, modseq);
        """
    )


@MIGRATIONS(name="0003_expunged")
def _m0003(db: sqlite_utils.Database) -> None:
    # Which UIDs left a mailbox at which MODSEQ, so a session catching up
    # reads only what changed instead of every UID. Trimmed to the newest
    # MAX_TOMBSTONES per mailbox; ``vanished_floor`` says how far back the
    # record is complete.
    db.executescript(
        """
        CREATE TABLE expunged (
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
            uid INTEGER NOT NULL,
            modseq INTEGER NOT NULL
        );
        CREATE INDEX expunged_by_modseq ON expunged(mailbox_id, modseq);
        ALTER TABLE mailboxes ADD COLUMN vanished_floor INTEGER NOT NULL DEFAULT 0;
        UPDATE mailboxes SET vanished_floor = highestmodseq;
        """
    )


@MIGRATIONS(name="0004_body_blobs")
def _m0004(db: sqlite_utils.Database) -> None:
    # The bytes of a message move to their own table. SQLite reads a row's
    # columns in order, so with ``raw`` first in ``bodies`` every read of a
    # subject, envelope or structure walked the body's overflow pages: SEARCH
    # and FETCH ENVELOPE over 2,000 messages cost 15 ms of page reads. Kept
    # apart, the listing columns of a mailbox sit on a few dense pages.
    # Bodies stored before the structure was parsed at delivery keep a NULL
    # structure and envelope: storage does not parse messages, so readers
    # parse those few themselves (protocols.imap.fetch).
    db.executescript(
        """
        CREATE TABLE body_blobs (id INTEGER PRIMARY KEY, raw BLOB NOT NULL);
        INSERT INTO body_blobs (id, raw) SELECT id, raw FROM bodies;
        ALTER TABLE bodies DROP COLUMN raw;
        CREATE TRIGGER bodies_removed AFTER DELETE ON bodies BEGIN
            DELETE FROM body_blobs WHERE id = OLD.id;
        END;
        """
    )


MAX_TOMBSTONES = 10_000


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


def mailbox_names(conn: sqlite3.Connection, user_id: int) -> frozenset[str]:
    """The names of a user's mailboxes (no counts: read at every delivery
    a Sieve script sees)."""
    return frozenset(r[0] for r in conn.execute("SELECT name FROM mailboxes WHERE user_id = ?", (user_id,)))


def store_body(conn: sqlite3.Connection, raw: bytes, parsed: Parsed) -> int:
    """Store a message once per business with what the caller parsed out
    of it (:class:`Parsed`), its addresses in the mail history's index
    (:mod:`storage.mailhistory`); returns its body id.

    The same bytes stored again return the same id. A body that no message
    refers to (every delivery of it was refused) is dropped by the next call.
    """
    digest = hashlib.sha256(raw).hexdigest()
    row = conn.execute("SELECT id FROM bodies WHERE sha256 = ?", (digest,)).fetchone()
    if row is not None:
        return row["id"]
    conn.execute("DELETE FROM bodies WHERE refs = 0")
    h = {name: parsed.headers.get(name) for name in INDEXED_HEADERS}
    cur = conn.execute(
        "INSERT INTO bodies (sha256, size, subject, from_, to_, cc, date, message_id, structure, envelope,"
        " thread_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (digest, len(raw), h["subject"], h["from"], h["to"], h["cc"], h["date"], h["message-id"], parsed.structure,
         parsed.envelope, parsed.thread_keys),
    )
    conn.execute("INSERT INTO body_blobs (id, raw) VALUES (?, ?)", (cur.lastrowid, raw))
    mailhistory.record(conn, cur.lastrowid, parsed.addresses)
    return cur.lastrowid


def quota_usage(conn: sqlite3.Connection, user_id: int) -> tuple[int, int]:
    """(bytes used, byte limit) of a user's mailboxes."""
    row = conn.execute(
        "SELECT coalesce(u.quota_bytes, ?) AS quota,"
        " coalesce((SELECT bytes FROM mail_usage WHERE user_id = u.id), 0) AS used"
        " FROM users u WHERE u.id = ?",
        (directory.limits(conn).mailbox_bytes, user_id),
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
    cur = conn.execute(
        "INSERT INTO messages (mailbox_id, uid, body_id, flags, internal_date, size, modseq)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (box, uid, body_id, _flags_text(flags), internal_date or _now(), size, modseq),
    )
    mailthreads.assign(conn, user_id, cur.lastrowid, body_id)
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
        "SELECT b.raw FROM messages m JOIN body_blobs b ON b.id = m.body_id WHERE m.mailbox_id = ? AND m.uid = ?",
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
        modseq = conn.execute(
            "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? RETURNING highestmodseq", (mailbox,)
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)", [(mailbox, uid, modseq) for uid in gone]
        )
        _trim_tombstones(conn, mailbox)
    return gone


def _trim_tombstones(conn: sqlite3.Connection, mailbox: int) -> None:
    cut = conn.execute(
        "SELECT modseq FROM expunged WHERE mailbox_id = ? ORDER BY modseq DESC LIMIT 1 OFFSET ?",
        (mailbox, MAX_TOMBSTONES),
    ).fetchone()
    if cut is not None:
        conn.execute("DELETE FROM expunged WHERE mailbox_id = ? AND modseq <= ?", (mailbox, cut[0]))
        conn.execute("UPDATE mailboxes SET vanished_floor = max(vanished_floor, ?) WHERE id = ?", (cut[0], mailbox))


# --- what IMAP needs -------------------------------------------------------

#: The system flags (RFC 3501 2.3.2), matched in any letter case.
SYSTEM_FLAGS = {f.lower(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")}
MAX_MAILBOXES = 1000
MAX_FLAGS_TEXT = 2000
HIERARCHY = "/"
#: A mailbox name's longest form and deepest nesting (see :func:`check_name`).
MAX_NAME_LENGTH = 200
MAX_DEPTH = 16
#: Characters no mailbox name holds: LIST wildcards and the quoting character.
FORBIDDEN_NAME_CHARACTERS = "*%\\"

_BOX_COLUMNS = "id, name, special_use, uidvalidity, uidnext, highestmodseq, subscribed"


def normal_flags(flags: Iterable[str]) -> set[str]:
    """System flags in their canonical case; keywords as given."""
    return {SYSTEM_FLAGS.get(f.lower(), f) for f in flags}


def mailbox(conn: sqlite3.Connection, user_id: int, name: str) -> dict:
    """A user's mailbox row by name; raises :class:`NotFound`."""
    if name.upper() == "INBOX":
        name = "INBOX"
    row = conn.execute(
        f"SELECT {_BOX_COLUMNS} FROM mailboxes WHERE user_id = ? AND name = ?", (user_id, name)
    ).fetchone()
    if row is None:
        raise NotFound(f"no mailbox {name}")
    return dict(row)


def mailbox_rows(conn: sqlite3.Connection, user_id: int) -> list[dict]:
    rows = conn.execute(f"SELECT {_BOX_COLUMNS} FROM mailboxes WHERE user_id = ? ORDER BY name", (user_id,))
    return [dict(r) for r in rows]


def highest_modseq(conn: sqlite3.Connection, box: int) -> int:
    row = conn.execute("SELECT highestmodseq FROM mailboxes WHERE id = ?", (box,)).fetchone()
    return row[0] if row else 0


def _tuples(conn: sqlite3.Connection, sql: str, params: tuple) -> sqlite3.Cursor:
    """A cursor yielding plain tuples: no :class:`sqlite3.Row` per row, for
    the reads that walk a whole mailbox."""
    cursor = conn.cursor()
    cursor.row_factory = None
    return cursor.execute(sql, params)


def uid_list(conn: sqlite3.Connection, box: int) -> list[int]:
    # Read from the (mailbox_id, uid) index alone.
    return [uid for (uid,) in _tuples(conn, "SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid", (box,))]


def snapshot(conn: sqlite3.Connection, box: int) -> dict:
    """What SELECT reports: UIDs in order, counters, keywords in use and
    the UID of the first unseen message."""
    head = conn.execute(f"SELECT {_BOX_COLUMNS} FROM mailboxes WHERE id = ?", (box,)).fetchone()
    if head is None:
        raise NotFound("the mailbox was deleted")
    # A mailbox holds few distinct flag sets, so SQLite groups the rows and
    # Python looks at one line per set instead of one per message.
    keywords, first_unseen = set(), None
    for flags, first in _tuples(
        conn, "SELECT flags, min(uid) FROM messages WHERE mailbox_id = ? GROUP BY flags", (box,)
    ):
        names = flags.split(" ") if flags else []
        keywords.update(f for f in names if not f.startswith("\\"))
        if "\\Seen" not in names and (first_unseen is None or first < first_unseen):
            first_unseen = first
    return {**dict(head), "uids": uid_list(conn, box), "keywords": sorted(keywords), "first_unseen": first_unseen}


def changes(conn: sqlite3.Connection, box: int, since: int, last_uid: int) -> dict | None:
    """What changed in a mailbox after MODSEQ ``since``, or None if nothing.

    ``expunged`` lists UIDs removed since then (None when that record was
    trimmed: ``uids`` then holds every UID present instead), ``new`` the
    UIDs above ``last_uid``, ``changed`` the (uid, flags, modseq) of
    messages touched. Costs what changed, not the size of the mailbox.
    """
    row = conn.execute("SELECT highestmodseq, vanished_floor FROM mailboxes WHERE id = ?", (box,)).fetchone()
    if row is None:
        return {"deleted": True}
    if row[0] <= since:
        return None
    changed = conn.execute(
        "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = ? AND modseq > ? ORDER BY uid", (box, since)
    ).fetchall()
    out = {"highestmodseq": row[0], "changed": [tuple(r) for r in changed], "expunged": None, "uids": None}
    if since >= row[1]:
        out["expunged"] = [
            r[0] for r in conn.execute("SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?", (box, since))
        ]
        out["new"] = [
            r[0] for r in conn.execute(
                "SELECT uid FROM messages WHERE mailbox_id = ? AND uid > ? ORDER BY uid", (box, last_uid)
            )
        ]
    else:
        out["uids"] = uid_list(conn, box)
        out["new"] = [u for u in out["uids"] if u > last_uid]
    return out


def fetch_rows(
    conn: sqlite3.Connection, box: int, uids: list[int], *,
    raw: bool = False, header: bool = False, structure: bool = False, envelope: bool = False,
) -> list[dict]:
    """Messages by UID (ascending, distinct) with their flags, dates and
    sizes; ``structure`` and ``envelope`` add those, ``raw`` the bytes,
    ``header`` only the header block. What is not asked for is None and
    costs no page read."""
    columns = ["m.uid", "m.flags", "m.internal_date", "m.size", "m.modseq", "m.body_id"]
    joins = ""
    if structure or envelope or header:
        joins += " JOIN bodies b ON b.id = m.body_id"
    columns.append("b.structure" if structure else "NULL AS structure")
    columns.append("b.envelope" if envelope else "NULL AS envelope")
    if raw:
        columns.append("r.raw")
    elif header:
        columns.append("substr(r.raw, 1, coalesce(json_extract(b.structure, '$.b'), 65536)) AS head")
    if raw or header:
        joins += " JOIN body_blobs r ON r.id = m.body_id"
    rows = conn.execute(
        f"SELECT {', '.join(columns)} FROM messages m{joins} WHERE m.mailbox_id = ? AND {_uid_filter(uids)}"
        " ORDER BY m.uid",
        (box, *_uid_params(uids)),
    )
    return [dict(r) for r in rows]


#: The columns of a :func:`listing_rows` tuple, in order.
LISTING_COLUMNS = ("uid", "flags", "internal_date", "size", "modseq", "envelope")


def listing_rows(conn: sqlite3.Connection, box: int, uids: list[int], *, envelope: bool = False) -> list[tuple]:
    """What a message list shows (``FETCH 1:* (FLAGS ENVELOPE)``), as
    plain tuples of :data:`LISTING_COLUMNS` by UID (ascending, distinct).

    The cheap form of :func:`fetch_rows` for many messages at once: one
    tuple per message, no mapping; ``envelope`` is None when not asked for
    (the bodies' pages are then not read) or not stored."""
    column, join = ("b.envelope", " JOIN bodies b ON b.id = m.body_id") if envelope else ("NULL", "")
    return _tuples(
        conn,
        f"SELECT m.uid, m.flags, m.internal_date, m.size, m.modseq, {column} FROM messages m{join}"
        f" WHERE m.mailbox_id = ? AND {_uid_filter(uids)} ORDER BY m.uid",
        (box, *_uid_params(uids)),
    ).fetchall()


def _uid_filter(uids: list[int]) -> str:
    # A run of consecutive UIDs (the usual FETCH 1:*) is a range scan of the
    # (mailbox_id, uid) index; anything else goes through json_each. UIDs
    # come ascending and distinct (sequence sets are expanded that way).
    if uids and uids[-1] - uids[0] == len(uids) - 1:
        return "m.uid BETWEEN ? AND ?"
    return "m.uid IN (SELECT value FROM json_each(?))"


def _uid_params(uids: list[int]) -> tuple:
    if uids and uids[-1] - uids[0] == len(uids) - 1:
        return (uids[0], uids[-1])
    return (json.dumps(uids),)


def body_slice(conn: sqlite3.Connection, body_id: int, start: int, length: int) -> bytes:
    row = conn.execute("SELECT substr(raw, ?, ?) FROM body_blobs WHERE id = ?", (start + 1, length, body_id)).fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def body_raw(conn: sqlite3.Connection, body_id: int) -> bytes:
    row = conn.execute("SELECT raw FROM body_blobs WHERE id = ?", (body_id,)).fetchone()
    return bytes(row[0]) if row else b""


def special_use(conn: sqlite3.Connection, box: int) -> str | None:
    """The RFC 6154 attribute of a mailbox (``\\Junk``, ``\\Trash``...), or None."""
    row = conn.execute("SELECT special_use FROM mailboxes WHERE id = ?", (box,)).fetchone()
    return row[0] if row else None


def raw_messages(conn: sqlite3.Connection, box: int, uids: list[int], *, limit: int, max_bytes: int) -> list[bytes]:
    """The raw text of at most ``limit`` of the messages ``uids`` of a
    mailbox, skipping those larger than ``max_bytes``."""
    rows = conn.execute(
        "SELECT m.body_id FROM messages m WHERE m.mailbox_id = ? AND m.uid IN (SELECT value FROM json_each(?))"
        " AND m.size <= ? ORDER BY m.uid LIMIT ?",
        (box, json.dumps(uids), max_bytes, limit),
    ).fetchall()
    return [body_raw(conn, r[0]) for r in rows]


def _bump(conn: sqlite3.Connection, box: int) -> int:
    return conn.execute(
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = ? RETURNING highestmodseq", (box,)
    ).fetchone()[0]


def store_flags(
    conn: sqlite3.Connection, box: int, uids: list[int], mode: str, flags: Iterable[str],
    unchanged_since: int | None = None,
) -> tuple[list[tuple[int, str, int]], list[int]]:
    """Add (``+``), remove (``-``) or replace (``""``) flags.

    Returns the (uid, flags, modseq) of every message addressed, and the
    UIDs refused by ``unchanged_since`` (RFC 7162 UNCHANGEDSINCE).
    """
    wanted = normal_flags(flags)
    rows = conn.execute(
        "SELECT uid, flags, modseq FROM messages WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))"
        " ORDER BY uid",
        (box, json.dumps(uids)),
    ).fetchall()
    modseq = None
    out, failed = [], []
    for uid, text, old_modseq in rows:
        if unchanged_since is not None and old_modseq > unchanged_since:
            failed.append(uid)
            continue
        current = set(text.split(" ")) if text else set()
        new = current | wanted if mode == "+" else current - wanted if mode == "-" else set(wanted)
        if new == current:
            out.append((uid, text, old_modseq))
            continue
        new_text = _flags_text(new)
        if len(new_text) > MAX_FLAGS_TEXT:
            raise LimitExceeded("too many keywords on one message")
        if modseq is None:
            modseq = _bump(conn, box)
        conn.execute(
            "UPDATE messages SET flags = ?, modseq = ? WHERE mailbox_id = ? AND uid = ?", (new_text, modseq, box, uid)
        )
        out.append((uid, new_text, modseq))
    return out, failed


def expunge_deleted(conn: sqlite3.Connection, box: int, uids: list[int] | None = None) -> list[int]:
    """Remove the messages flagged \\Deleted (only among ``uids`` if given)."""
    rows = conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND (' ' || flags || ' ') LIKE '% \\Deleted %'"
        + ("" if uids is None else " AND uid IN (SELECT value FROM json_each(?))") + " ORDER BY uid",
        (box,) if uids is None else (box, json.dumps(uids)),
    ).fetchall()
    return expunge(conn, box, [r[0] for r in rows])


def copy_messages(
    conn: sqlite3.Connection, user_id: int, source: int, uids: list[int], target: int, *, move: bool = False
) -> list[tuple[int, int]]:
    """Copy (or move) messages into another mailbox of the same user;
    returns (source UID, new UID) pairs in order. A copy counts against the
    quota; a move does not change the usage."""
    rows = conn.execute(
        "SELECT uid, body_id, flags, internal_date, size, thread FROM messages"
        " WHERE mailbox_id = ? AND uid IN (SELECT value FROM json_each(?)) ORDER BY uid",
        (source, json.dumps(uids)),
    ).fetchall()
    if not rows:
        return []
    if not move:
        used, limit = quota_usage(conn, user_id)
        if used + sum(r["size"] for r in rows) > limit:
            raise LimitExceeded("mailbox is full")
    first, modseq = conn.execute(
        "UPDATE mailboxes SET uidnext = uidnext + ?, highestmodseq = highestmodseq + 1 WHERE id = ?"
        " RETURNING uidnext - ?, highestmodseq",
        (len(rows), target, len(rows)),
    ).fetchone()
    pairs = []
    for offset, row in enumerate(rows):
        conn.execute(
            "INSERT INTO messages (mailbox_id, uid, body_id, flags, internal_date, size, modseq, thread)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (target, first + offset, row["body_id"], row["flags"], row["internal_date"], row["size"], modseq,
             row["thread"]),
        )
        pairs.append((row["uid"], first + offset))
    if move:
        expunge(conn, source, [p[0] for p in pairs])
    return pairs


def check_name(name: str) -> str:
    """A mailbox name as stored, or :class:`InvalidInput`.

    Names live in SQL, never on a file system, but are still kept to
    printable text with non-empty components, no ``.``/``..`` components and
    bounded length and depth, so no client sees confusing names.
    """
    if name.upper() == "INBOX":
        return "INBOX"
    if not name or len(name) > MAX_NAME_LENGTH or name.startswith(HIERARCHY) or name.endswith(HIERARCHY):
        raise InvalidInput("invalid mailbox name")
    parts = name.split(HIERARCHY)
    if len(parts) > MAX_DEPTH or any(p in ("", ".", "..") for p in parts):
        raise InvalidInput("invalid mailbox name")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c in FORBIDDEN_NAME_CHARACTERS for c in name):
        raise InvalidInput("invalid mailbox name")
    if parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return HIERARCHY.join(parts)


def create(conn: sqlite3.Connection, user_id: int, name: str) -> int:
    """Create a mailbox and any missing parent (RFC 3501 6.3.3)."""
    name = check_name(name)
    if conn.execute("SELECT 1 FROM mailboxes WHERE user_id = ? AND name = ?", (user_id, name)).fetchone():
        raise Conflict("mailbox already exists")
    parts = name.split(HIERARCHY)
    missing = [
        HIERARCHY.join(parts[:i]) for i in range(1, len(parts) + 1)
        if not conn.execute(
            "SELECT 1 FROM mailboxes WHERE user_id = ? AND name = ?", (user_id, HIERARCHY.join(parts[:i]))
        ).fetchone()
    ]
    count = conn.execute("SELECT count(*) FROM mailboxes WHERE user_id = ?", (user_id,)).fetchone()[0]
    if count + len(missing) > MAX_MAILBOXES:
        raise LimitExceeded("too many mailboxes")
    box = 0
    for each in missing:
        box = create_mailbox(conn, user_id, each)
    return box


def delete(conn: sqlite3.Connection, user_id: int, name: str) -> None:
    box = mailbox(conn, user_id, name)
    if box["name"] == "INBOX":
        raise InvalidInput("INBOX cannot be deleted")
    prefix = box["name"] + HIERARCHY
    if conn.execute(
        "SELECT 1 FROM mailboxes WHERE user_id = ? AND substr(name, 1, ?) = ?", (user_id, len(prefix), prefix)
    ).fetchone():
        raise Conflict("mailbox has children; delete them first")
    conn.execute("DELETE FROM mailboxes WHERE id = ?", (box["id"],))


def rename(conn: sqlite3.Connection, user_id: int, old: str, new: str) -> None:
    """Rename a mailbox and everything under it; renaming INBOX moves its
    messages into the new mailbox and leaves INBOX empty (RFC 3501 6.3.5)."""
    box = mailbox(conn, user_id, old)
    new = check_name(new)
    if new == "INBOX" or conn.execute("SELECT 1 FROM mailboxes WHERE user_id = ? AND name = ?", (user_id, new)).fetchone():
        raise Conflict("mailbox already exists")
    if box["name"] == "INBOX":
        target = create(conn, user_id, new)
        copy_messages(conn, user_id, box["id"], uid_list(conn, box["id"]), target, move=True)
        return
    if new.startswith(box["name"] + HIERARCHY):
        raise InvalidInput("a mailbox cannot move under itself")
    prefix = box["name"] + HIERARCHY
    children = conn.execute(
        "SELECT id, name FROM mailboxes WHERE user_id = ? AND substr(name, 1, ?) = ?", (user_id, len(prefix), prefix)
    ).fetchall()
    conn.execute("UPDATE mailboxes SET name = ?, uidvalidity = ? WHERE id = ?", (new, _uidvalidity(conn), box["id"]))
    for child in children:
        child_name = check_name(new + HIERARCHY + child["name"][len(prefix):])
        conn.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (child_name, child["id"]))


def subscribe(conn: sqlite3.Connection, user_id: int, name: str, on: bool) -> None:
    box = mailbox(conn, user_id, name)
    conn.execute("UPDATE mailboxes SET subscribed = ? WHERE id = ?", (1 if on else 0, box["id"]))


def status(conn: sqlite3.Connection, box: int) -> dict:
    row = conn.execute(
        "SELECT count(*) AS messages,"
        " coalesce(sum((' ' || flags || ' ') NOT LIKE '% \\Seen %'), 0) AS unseen,"
        " coalesce(sum(size), 0) AS size FROM messages WHERE mailbox_id = ?",
        (box,),
    ).fetchone()
    head = conn.execute("SELECT uidnext, uidvalidity, highestmodseq FROM mailboxes WHERE id = ?", (box,)).fetchone()
    return {**dict(row), **dict(head)}


def append(
    conn: sqlite3.Connection, user_id: int, name: str, raw: bytes, parsed: Parsed, flags: Iterable[str],
    internal_date: str | None,
) -> tuple[int, int, int]:
    """Store a message (and what was parsed out of it, see
    :func:`store_body`) into a user's mailbox; returns (mailbox id,
    UIDVALIDITY, UID). :class:`NotFound` when there is no such mailbox,
    :class:`LimitExceeded` over quota."""
    box = mailbox(conn, user_id, name)
    body = store_body(conn, raw, parsed)
    box_id, uid = deliver(conn, user_id, body, box["name"], normal_flags(flags), internal_date)
    return box_id, box["uidvalidity"], uid


def business_usage(conn: sqlite3.Connection) -> tuple[int, int]:
    """(bytes in every mailbox of the business, the sum of their quotas)."""
    row = conn.execute(
        "SELECT coalesce(sum(coalesce((SELECT bytes FROM mail_usage WHERE user_id = u.id), 0)), 0) AS used,"
        " coalesce(sum(coalesce(u.quota_bytes, ?)), 0) AS allotted FROM users u",
        (directory.limits(conn).mailbox_bytes,),
    ).fetchone()
    return row["used"], row["allotted"]
