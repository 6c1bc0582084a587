"""Conversations: which thread each message of a user belongs to, decided
once when it is delivered or appended, so a list grouped by conversation
reads an index instead of parsing messages.

The caller parses a message's thread keys (its Message-ID, the ids of
References and In-Reply-To, its subject without "Re:" and the like) and
hands them in with :class:`storage.mail.Parsed`; they are kept on the body
(``bodies.thread_keys``, JSON ``{"ids": [...], "subject": "...", "reply":
bool}``). :func:`assign` gives a new message of a user the thread of the
first of its ids that user has seen (the References root first), else,
for a reply ("Re:") with none known, the newest thread with the same
subject (as mail clients thread without references), else a new thread
numbered by the message's own row id; then it remembers the message's ids
and subject for that thread (``mail_thread_keys``, per user). A copy or a
move keeps its thread. Messages stored before this existed have no thread
until :func:`unthreaded` and :func:`set_keys` fill them in (the service
parses them a batch at a time).

Functions take a :class:`sqlite3.Connection` inside a transaction of
:class:`storage.database.Database`.
"""

from __future__ import annotations

import json
import sqlite3

import sqlite_utils

MIGRATIONS = sqlite_utils.Migrations("mailthreads")

#: At most this many ids of one message are looked up and remembered.
MAX_IDS = 12
#: The most messages a conversation page shows.
MAX_CONVERSATION = 100


@MIGRATIONS(name="0001_conversations")
def _m0001(db: sqlite_utils.Database) -> None:
    # messages.thread is NULL for messages stored before this step: the
    # service threads them a batch at a time (unthreaded, set_keys), since
    # storage does not parse messages.
    db.executescript(
        """
        ALTER TABLE bodies ADD COLUMN thread_keys TEXT;
        ALTER TABLE messages ADD COLUMN thread INTEGER;
        CREATE INDEX messages_by_thread ON messages(mailbox_id, thread, uid);
        CREATE INDEX messages_unthreaded ON messages(id) WHERE thread IS NULL;
        CREATE TABLE mail_thread_keys (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            thread INTEGER NOT NULL,
            PRIMARY KEY (user_id, key)
        );
        -- One row per conversation of a mailbox: its newest UID there and
        -- how many of its messages the mailbox holds, kept by triggers, so
        -- a page of conversations is a range of an index, not a GROUP BY
        -- over every message.
        CREATE TABLE mail_conversations (
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
            thread INTEGER NOT NULL,
            newest INTEGER NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (mailbox_id, thread)
        );
        CREATE INDEX mail_conversations_by_newest ON mail_conversations(mailbox_id, newest);
        CREATE TRIGGER messages_threaded AFTER UPDATE OF thread ON messages
        WHEN OLD.thread IS NULL AND NEW.thread IS NOT NULL BEGIN
            INSERT INTO mail_conversations (mailbox_id, thread, newest, count) VALUES (NEW.mailbox_id, NEW.thread, NEW.uid, 1)
                ON CONFLICT (mailbox_id, thread) DO UPDATE SET newest = max(newest, excluded.newest), count = count + 1;
        END;
        CREATE TRIGGER messages_added_threaded AFTER INSERT ON messages WHEN NEW.thread IS NOT NULL BEGIN
            INSERT INTO mail_conversations (mailbox_id, thread, newest, count) VALUES (NEW.mailbox_id, NEW.thread, NEW.uid, 1)
                ON CONFLICT (mailbox_id, thread) DO UPDATE SET newest = max(newest, excluded.newest), count = count + 1;
        END;
        CREATE TRIGGER messages_removed_threaded AFTER DELETE ON messages WHEN OLD.thread IS NOT NULL BEGIN
            UPDATE mail_conversations SET count = count - 1,
                newest = coalesce((SELECT max(uid) FROM messages WHERE mailbox_id = OLD.mailbox_id AND thread = OLD.thread), 0)
                WHERE mailbox_id = OLD.mailbox_id AND thread = OLD.thread;
            DELETE FROM mail_conversations WHERE mailbox_id = OLD.mailbox_id AND thread = OLD.thread AND count <= 0;
        END;
        CREATE TABLE mail_prefs (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            conversations INTEGER NOT NULL DEFAULT 0
        );
        """
    )


def _keys(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        keys = json.loads(text)
    except ValueError:
        return None
    return keys if isinstance(keys, dict) else None


def assign(conn: sqlite3.Connection, user_id: int, message_row: int, body_id: int) -> int | None:
    """Give message ``message_row`` (a ``messages.id``) of ``user_id`` its
    thread from its body's keys (see module doc); returns it, or None when
    the body has no keys yet."""
    row = conn.execute("SELECT thread_keys FROM bodies WHERE id = ?", (body_id,)).fetchone()
    keys = _keys(row[0] if row else None)
    if keys is None:
        return None
    ids = [f"m:{i}" for i in keys.get("ids", [])[:MAX_IDS] if isinstance(i, str) and i]
    subject = keys.get("subject") or ""
    thread = None
    for key in ids:
        found = conn.execute("SELECT thread FROM mail_thread_keys WHERE user_id = ? AND key = ?",
                             (user_id, key)).fetchone()
        if found is not None:
            thread = found[0]
            break
    if thread is None and subject and keys.get("reply"):
        found = conn.execute("SELECT thread FROM mail_thread_keys WHERE user_id = ? AND key = ?",
                             (user_id, f"s:{subject}")).fetchone()
        thread = found[0] if found is not None else None
    if thread is None:
        thread = message_row
    # Only a message with no thread gets one: the per-mailbox rows count
    # each message once (the triggers above).
    conn.execute("UPDATE messages SET thread = ? WHERE id = ? AND thread IS NULL", (thread, message_row))
    conn.executemany("INSERT OR IGNORE INTO mail_thread_keys (user_id, key, thread) VALUES (?, ?, ?)",
                     [(user_id, key, thread) for key in ids])
    if subject:
        conn.execute("INSERT OR REPLACE INTO mail_thread_keys (user_id, key, thread) VALUES (?, ?, ?)",
                     (user_id, f"s:{subject}", thread))
    return thread


def unthreaded(conn: sqlite3.Connection, user_id: int, limit: int) -> list[dict]:
    """The oldest ``limit`` messages of the user with no thread yet:
    id, body_id, thread_keys (None when the body was never parsed for
    them) and header (the first 64 KiB of the message, where its header
    block is)."""
    return [dict(r) for r in conn.execute(
        "SELECT m.id, m.body_id, b.thread_keys, CASE WHEN b.thread_keys IS NULL"
        " THEN substr(r.raw, 1, 65536) END AS header FROM messages m"
        " JOIN mailboxes x ON x.id = m.mailbox_id JOIN bodies b ON b.id = m.body_id"
        " JOIN body_blobs r ON r.id = m.body_id"
        " WHERE m.thread IS NULL AND x.user_id = ? ORDER BY m.id LIMIT ?",
        (user_id, limit),
    )]


def set_keys(conn: sqlite3.Connection, user_id: int, found: list[tuple[int, int, str]]) -> None:
    """Keep the keys the caller parsed for old messages, (message id,
    body id, keys JSON) in the order they came, and thread them."""
    for message_row, body_id, keys in found:
        row = conn.execute("SELECT thread FROM messages WHERE id = ?", (message_row,)).fetchone()
        if row is None or row[0] is not None:
            continue  # gone, or threaded by a backfill that ran at the same time
        conn.execute("UPDATE bodies SET thread_keys = coalesce(thread_keys, ?) WHERE id = ?", (keys, body_id))
        if assign(conn, user_id, message_row, body_id) is None:
            conn.execute("UPDATE messages SET thread = id WHERE id = ?", (message_row,))


def has_unthreaded(conn: sqlite3.Connection, user_id: int) -> bool:
    return conn.execute(
        "SELECT 1 FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id WHERE m.thread IS NULL AND x.user_id = ?"
        " LIMIT 1", (user_id,)).fetchone() is not None


def page(conn: sqlite3.Connection, box: int, offset: int, limit: int) -> tuple[int, list[dict]]:
    """(how many conversations the mailbox holds, the ``limit`` whose
    newest message is newest, after ``offset``): thread, newest uid, count,
    unread, and the list columns of every message of each (oldest first,
    at most :data:`MAX_CONVERSATION`)."""
    total = conn.execute("SELECT count(*) FROM mail_conversations WHERE mailbox_id = ?", (box,)).fetchone()[0]
    threads = conn.execute(
        "SELECT thread, newest, count FROM mail_conversations WHERE mailbox_id = ? ORDER BY newest DESC LIMIT ? OFFSET ?",
        (box, limit, offset),
    ).fetchall()
    out = []
    for thread in threads:
        rows = [dict(r) for r in conn.execute(
            "SELECT m.uid, m.flags, m.internal_date, b.subject, b.from_, b.to_, b.date FROM messages m"
            " JOIN bodies b ON b.id = m.body_id WHERE m.mailbox_id = ? AND m.thread = ?"
            " ORDER BY m.uid LIMIT ?",
            (box, thread["thread"], MAX_CONVERSATION),
        )]
        out.append({"thread": thread["thread"], "newest": thread["newest"], "count": thread["count"], "messages": rows})
    return total, out


def conversation(conn: sqlite3.Connection, user_id: int, thread: int) -> list[dict]:
    """Every message of the user's conversation ``thread``, in any of their
    mailboxes, oldest first (at most :data:`MAX_CONVERSATION`): mailbox
    id and name, uid, flags, internal_date, subject, from_, date."""
    return [dict(r) for r in conn.execute(
        "SELECT m.mailbox_id, x.name AS mailbox, x.special_use, m.uid, m.flags, m.internal_date, b.subject,"
        " b.from_, b.to_, b.date FROM mailboxes x JOIN messages m ON m.mailbox_id = x.id"
        " AND m.thread = ? JOIN bodies b ON b.id = m.body_id WHERE x.user_id = ?"
        " ORDER BY m.internal_date, m.id LIMIT ?",
        (thread, user_id, MAX_CONVERSATION),
    )]


def conversations_on(conn: sqlite3.Connection, user_id: int) -> bool:
    """Whether the user lists their mail by conversation."""
    row = conn.execute("SELECT conversations FROM mail_prefs WHERE user_id = ?", (user_id,)).fetchone()
    return bool(row and row[0])


def set_conversations(conn: sqlite3.Connection, user_id: int, on: bool) -> None:
    conn.execute("INSERT INTO mail_prefs (user_id, conversations) VALUES (?, ?)"
                 " ON CONFLICT (user_id) DO UPDATE SET conversations = excluded.conversations", (user_id, int(on)))
