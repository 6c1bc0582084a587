"""Webmail's conversations: a mailbox listed one row per thread, newest
conversation first, and one conversation read whole, over the thread of
each message decided at delivery (:mod:`storage.mailthreads`).

Messages stored before threads existed are threaded when their owner
asks for conversations: their header blocks are read and parsed a batch
at a time in a worker thread (:func:`backfill`), never on the loop, at
most :data:`BACKFILL_PER_VIEW` a view (so no view waits long), and never
again once done. Whether a user lists by conversation is their
own setting, kept in their business's file.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from storage import mail as maildb
from storage import maillist, mailthreads

from . import mailview, threadkeys
from .errors import NotFound
from .webmail import MAX_PAGE, PAGE_SIZE, Account

log = logging.getLogger(__name__)

#: Messages threaded per write when old mail is threaded.
BACKFILL_BATCH = 2000
#: Old messages one view of the list threads at most (about a second's
#: work); the rest wait for the next view, which says so.
BACKFILL_PER_VIEW = 4000
#: The names a conversation's row shows at most.
MAX_PARTICIPANTS = 4
#: Mailboxes whose messages a conversation opened elsewhere leaves out.
HIDDEN = ("\\Trash", "\\Junk")
#: Text of one message shown on a conversation's page, characters.
MAX_TEXT = 20_000


async def enabled(account: Account) -> bool:
    """Whether the user lists their mail by conversation."""
    return await account.read("conversations setting", lambda c: mailthreads.conversations_on(c, account.user_id))


async def set_enabled(account: Account, box: int, on: bool) -> None:
    """Remember whether the user lists their mail by conversation (chosen
    on their mailbox ``box``: NotFound when it is not theirs)."""

    def write(conn: Any) -> None:
        maillist.folder(conn, account.user_id, box)
        mailthreads.set_conversations(conn, account.user_id, on)

    await account.write("conversations setting", write)


def _parse_keys(rows: list[dict]) -> list[tuple[int, int, str]]:
    return [(r["id"], r["body_id"], r["thread_keys"] or threadkeys.keys(bytes(r["header"] or b"")))
            for r in rows]


async def backfill(account: Account, most: int | None = None) -> int:
    """Thread the messages of the user that have no thread yet, oldest
    first (at most about ``most`` of them); returns how many were threaded."""
    done = 0
    while most is None or done < most:
        rows = await account.read("unthreaded", lambda c: mailthreads.unthreaded(c, account.user_id, BACKFILL_BATCH))
        if not rows:
            return done
        found = await asyncio.to_thread(_parse_keys, rows)
        await account.write("thread old mail", lambda c: mailthreads.set_keys(c, account.user_id, found))
        done += len(found)
        log.info("%s: user %d: %d old messages threaded", account.slug, account.user_id, done)
    return done


def _flags(row: dict) -> set[str]:
    return set(row["flags"].split()) if row["flags"] else set()


def _participants(rows: list[dict], sent: bool) -> list[str]:
    names: list[str] = []
    for row in rows:
        name = mailview.display_sender(row["to_"] if sent else row["from_"])
        if name and name not in names:
            names.append(name)
    return names[:MAX_PARTICIPANTS]


async def listing(account: Account, box: int, page: int = 1) -> dict:
    """One page (1-based) of the mailbox's conversations, the one with the
    newest message first: ``{"folder", "total", "rows", "page",
    "pages", "pending"}`` (``pending``: older messages are still to be
    grouped, a batch per view); each row has thread, uid (its newest message), count,
    unread, subject (of its first message), participants, date, and the
    uids of its messages in the mailbox (for the list's actions)."""
    page = max(1, min(page, MAX_PAGE))
    pending = await account.read("unthreaded?", lambda c: mailthreads.has_unthreaded(c, account.user_id))
    if pending:
        await backfill(account, BACKFILL_PER_VIEW)
        pending = await account.read("unthreaded?", lambda c: mailthreads.has_unthreaded(c, account.user_id))

    def read(conn: Any) -> dict:
        folder = maillist.folder(conn, account.user_id, box)
        total, threads = mailthreads.page(conn, box, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        return {"folder": folder, "total": total, "threads": threads}

    out = await account.read("conversations", read)
    sent = out["folder"]["special_use"] in ("\\Sent", "\\Drafts")
    rows = []
    for thread in out.pop("threads"):
        messages = thread["messages"]
        newest = messages[-1] if messages else {"internal_date": "", "flags": ""}
        rows.append({
            "thread": thread["thread"], "uid": thread["newest"], "count": thread["count"],
            "uids": [m["uid"] for m in messages],
            "unread": sum(1 for m in messages if "\\Seen" not in _flags(m)),
            "flagged": any("\\Flagged" in _flags(m) for m in messages),
            "subject": mailview.decoded_header(messages[0]["subject"]) if messages else "",
            "participants": _participants(messages, sent),
            "internal_date": newest["internal_date"],
        })
    out["rows"] = rows
    out["pending"] = pending
    out["page"] = page
    out["pages"] = max(1, -(-out["total"] // PAGE_SIZE))
    return out


def _shown(raw: bytes) -> mailview.View:
    shown = mailview.view(raw)
    if shown.text is not None and len(shown.text) > MAX_TEXT:
        shown.text = shown.text[:MAX_TEXT]
        shown.truncated = True
    return shown


async def conversation(account: Account, box: int, thread: int) -> tuple[dict, list[dict]]:
    """(the folder it is opened from, every message of conversation
    ``thread`` in the user's mailboxes, oldest first, each with the
    ``shown`` view of it; those in Trash and Junk only when opened from
    there); marks them read. NotFound when the folder is
    not the user's or the conversation has no message of this folder."""

    def read(conn: Any) -> tuple[dict, list[dict]]:
        folder = maillist.folder(conn, account.user_id, box)
        rows = mailthreads.conversation(conn, account.user_id, thread)
        if not any(r["mailbox_id"] == box for r in rows):
            raise NotFound("no such conversation")
        # What was thrown away shows only where it lies.
        rows = [r for r in rows if r["mailbox_id"] == box or r["special_use"] not in HIDDEN]
        for row in rows:
            row["raw"] = maillist.message(conn, row["mailbox_id"], row["uid"])["raw"]
        return folder, rows

    folder, rows = await account.read("conversation", read)
    for row in rows:
        row["shown"] = await asyncio.to_thread(_shown, row.pop("raw"))
        row["seen"] = "\\Seen" in _flags(row)
        row["when"] = row["internal_date"][:16].replace("T", " ")
    unseen: dict[int, list[int]] = {}
    for row in rows:
        if not row["seen"]:
            unseen.setdefault(row["mailbox_id"], []).append(row["uid"])
    if unseen:
        def write(conn: Any) -> None:
            for mailbox, uids in unseen.items():
                maildb.store_flags(conn, mailbox, uids, "+", ["\\Seen"])

        await account.write("conversation seen", write)
        for mailbox in unseen:
            account.changed(mailbox)
    return folder, rows
