"""The CRM's mail history: which stored message involves which address.

``mail_history`` holds, for every stored body (:mod:`storage.mail` keeps a
message's bytes once per business however many mailboxes hold it), the
addresses of its From, Sender, Reply-To, To and Cc fields, lower-cased with
the domain in IDNA A-label form (:func:`normal`), and whether the address
is on the sending side (From, Sender, Reply-To). The caller parses them out
of the message with the rest of :class:`storage.mail.Parsed`, so
:func:`storage.mail.store_body` - the one place every delivery, sent copy,
IMAP APPEND, webmail draft and bounce goes through - fills this table in
the same transaction that stores the message.

The messages themselves are found through ``messages.body_id``: a message
expunged from a mailbox leaves the history with its row, and the body's
index rows go with the body (``ON DELETE CASCADE``) when its last message
goes. Nothing here is about contacts: erasing a contact's card leaves the
index alone, since it only describes messages that are still in someone's
mailbox (see :meth:`appliance.services.contacts.Contacts.delete`).

``mail_history_sharing`` lists the users who share their mail history
with colleagues (off by default): without it, a colleague sees only the
date, sender and subject of that user's messages.

Functions take a connection inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import sqlite3
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Iterable

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("mailhistory")

#: Bodies read per step of the backfill (bounds its memory: header blocks only).
BACKFILL_BATCH = 500
#: Longest header block the backfill reads of one message.
MAX_HEADER_BLOCK = 65536
#: Addresses indexed per message (a mass mailing's To line stops there).
MAX_ADDRESSES = 100
MAX_ADDRESS = 254
#: Mailboxes whose messages the history leaves out: drafts were never
#: exchanged, Trash is on its way out, Junk may forge anyone's address.
LEFT_OUT = ("\\Drafts", "\\Trash", "\\Junk")
#: Addresses of one contact looked up at once.
MAX_LOOKUP = 200


def normal(address: str) -> str | None:
    """``address`` as the index keeps it: trimmed, lower case, the domain
    in A-label form; None when it is not ``local@domain`` or too long."""
    address = address.strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(c.isspace() for c in address):
        return None
    domain = domain.rstrip(".").lower()
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        pass
    out = f"{local.lower()}@{domain}"
    return out if len(out) <= MAX_ADDRESS else None


def involved(senders: Iterable[str], recipients: Iterable[str]) -> tuple[tuple[str, bool], ...]:
    """The (normal address, on the sending side) pairs of a message, each
    address once (the sending side wins), at most :data:`MAX_ADDRESSES`."""
    found: dict[str, bool] = {}
    for side, addresses in ((True, senders), (False, recipients)):
        for each in addresses:
            address = normal(each or "")
            if address is not None and address not in found and len(found) < MAX_ADDRESSES:
                found[address] = side
    return tuple(found.items())


_HEADER_PARSER = BytesHeaderParser(policy=compat32)


def _from_header_block(head: bytes) -> tuple[tuple[str, bool], ...]:
    # Only for bodies stored before this index existed: everything stored
    # since comes with its addresses parsed by the caller.
    headers = _HEADER_PARSER.parsebytes(head)

    def addresses(*names: str) -> list[str]:
        values = [" ".join(str(v).split()) for name in names for v in headers.get_all(name) or ()]
        return [addr for _, addr in email.utils.getaddresses(values)]

    return involved(addresses("from", "sender", "reply-to"), addresses("to", "cc"))


@MIGRATIONS(name="0001_mail_history")
def _m0001(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE mail_history (
            address TEXT NOT NULL,
            body_id INTEGER NOT NULL REFERENCES bodies(id) ON DELETE CASCADE,
            from_them INTEGER NOT NULL,
            PRIMARY KEY (address, body_id)
        ) WITHOUT ROWID;
        CREATE INDEX mail_history_by_body ON mail_history(body_id);
        CREATE TABLE mail_history_sharing (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            since TEXT NOT NULL
        );
        """
    )
    backfill(db.conn)


def backfill(conn: sqlite3.Connection, batch: int = BACKFILL_BATCH) -> int:
    """Index every body stored before this table existed, :data:`BACKFILL_BATCH`
    header blocks at a time; returns how many bodies were read."""
    last, done = 0, 0
    while True:
        rows = conn.execute(
            "SELECT b.id, substr(r.raw, 1, min(coalesce(json_extract(b.structure, '$.b'), ?), ?))"
            " FROM bodies b JOIN body_blobs r ON r.id = b.id WHERE b.id > ? ORDER BY b.id LIMIT ?",
            (MAX_HEADER_BLOCK, MAX_HEADER_BLOCK, last, batch),
        ).fetchall()
        if not rows:
            return done
        for body_id, head in rows:
            record(conn, body_id, _from_header_block(bytes(head or b"")))
        last = rows[-1][0]
        done += len(rows)


def record(conn: sqlite3.Connection, body_id: int, addresses: Iterable[tuple[str, bool]]) -> None:
    """Index the addresses of a newly stored body (see :func:`involved`)."""
    addresses = list(addresses)
    if not addresses:
        return
    conn.executemany(
        "INSERT OR IGNORE INTO mail_history (address, body_id, from_them) VALUES (?, ?, ?)",
        [(address, body_id, int(side)) for address, side in addresses],
    )


@dataclass(frozen=True)
class Entry:
    """One message of a history, in the copy the viewer may see best."""

    user_id: int  # the owner of the mailbox holding it
    mailbox_id: int
    uid: int
    body_id: int
    internal_date: str
    subject: str | None
    from_: str | None
    from_them: bool  # the contact is a sender (else a recipient)
    level: int  # 0: the viewer's own; 1: a colleague who shares; 2: date, sender and subject only


def history(conn: sqlite3.Connection, addresses: Iterable[str], viewer: int, limit: int, offset: int
            ) -> tuple[list[Entry], int]:
    """The messages involving any of ``addresses`` (normal form) in any
    mailbox of the business but those of :data:`LEFT_OUT`, newest first,
    one row per body: the viewer's own copy if they have one, else a
    sharing colleague's, else any. Returns (the page, the total)."""
    wanted = json.dumps(sorted(set(addresses))[:MAX_LOOKUP])
    query = """
        WITH hits AS (
            SELECT body_id, max(from_them) AS from_them FROM mail_history
            WHERE address IN (SELECT value FROM json_each(?)) GROUP BY body_id
        ), copies AS (
            SELECT x.user_id, m.mailbox_id, m.uid, m.body_id, m.internal_date, h.from_them,
                   CASE WHEN x.user_id = ? THEN 0 WHEN s.user_id IS NOT NULL THEN 1 ELSE 2 END AS level,
                   row_number() OVER (
                       PARTITION BY m.body_id
                       ORDER BY CASE WHEN x.user_id = ? THEN 0 WHEN s.user_id IS NOT NULL THEN 1 ELSE 2 END, m.id
                   ) AS n
            FROM hits h
            JOIN messages m ON m.body_id = h.body_id
            JOIN mailboxes x ON x.id = m.mailbox_id
            LEFT JOIN mail_history_sharing s ON s.user_id = x.user_id
            WHERE coalesce(x.special_use, '') NOT IN (SELECT value FROM json_each(?))
        )
    """
    params = (wanted, viewer, viewer, json.dumps(LEFT_OUT))
    total = conn.execute(query + "SELECT count(*) FROM copies WHERE n = 1", params).fetchone()[0]
    rows = conn.execute(
        query + "SELECT c.*, b.subject, b.from_ FROM copies c JOIN bodies b ON b.id = c.body_id WHERE c.n = 1"
        " ORDER BY c.internal_date DESC, c.body_id DESC LIMIT ? OFFSET ?",
        (*params, limit, offset),
    ).fetchall()
    return [Entry(r["user_id"], r["mailbox_id"], r["uid"], r["body_id"], r["internal_date"], r["subject"],
                  r["from_"], bool(r["from_them"]), r["level"]) for r in rows], total


def sharing(conn: sqlite3.Connection, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM mail_history_sharing WHERE user_id = ?", (user_id,)).fetchone() is not None


def set_sharing(conn: sqlite3.Connection, user_id: int, on: bool) -> bool:
    """Share (or stop sharing) a user's mail history; returns whether it changed."""
    if on:
        cur = conn.execute("INSERT OR IGNORE INTO mail_history_sharing (user_id, since) VALUES (?, ?)",
                           (user_id, datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")))
    else:
        cur = conn.execute("DELETE FROM mail_history_sharing WHERE user_id = ?", (user_id,))
    return cur.rowcount > 0
