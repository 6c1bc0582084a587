"""Webmail's folder management: create, rename, delete (with everything
under it), subscribe, and empty Trash or Junk, through the very functions
the IMAP server's CREATE, RENAME, DELETE, SUBSCRIBE and EXPUNGE call
(:mod:`storage.mail`), so names are checked once (:func:`storage.mail.check_name`,
:data:`storage.mail.MAX_MAILBOXES`), a renamed folder gets a new
UIDVALIDITY exactly as with IMAP RENAME, and IMAP clients see each change at
their next LIST or in IDLE.

The special-use folders (INBOX, Sent, Drafts, Trash, Junk, Archive) are
the ones the panel itself files mail in: here they cannot be renamed or
deleted (:class:`Protected`), whatever an IMAP client may do to them.
Folder ids are those of :mod:`storage.maillist`: one that is not the user's
is :class:`NotFound`.
"""

from __future__ import annotations

import logging
from typing import Any

from storage import mail as maildb
from storage import maillist

from .errors import InvalidInput
from .webmail import Account

log = logging.getLogger(__name__)

#: The folders whose messages "Empty" removes for good.
EMPTIED = ("\\Trash", "\\Junk")


class Protected(InvalidInput):
    """INBOX and the special-use folders are not renamed or deleted here."""


def protected(folder: dict) -> bool:
    """Whether ``folder`` (a row with ``name`` and ``special_use``) is one
    the panel keeps in place."""
    return folder["name"] == "INBOX" or bool(folder["special_use"])


def _subtree(conn: Any, user_id: int, name: str) -> list[dict]:
    """The mailbox ``name`` and every mailbox under it, deepest first."""
    prefix = name + maildb.HIERARCHY
    rows = [r for r in maildb.mailbox_rows(conn, user_id) if r["name"] == name or r["name"].startswith(prefix)]
    return sorted(rows, key=lambda r: r["name"].count(maildb.HIERARCHY), reverse=True)


def _full_name(conn: Any, user_id: int, parent: int | None, name: str) -> str:
    name = name.strip()
    if parent is None:
        return name
    return maillist.folder(conn, user_id, parent)["name"] + maildb.HIERARCHY + name


async def overview(account: Account) -> list[dict]:
    """The user's folders as :func:`storage.maillist.folders` lists them,
    each with ``subscribed`` and ``protected``."""

    def read(conn: Any) -> list[dict]:
        subscribed = {r["id"]: bool(r["subscribed"]) for r in maildb.mailbox_rows(conn, account.user_id)}
        rows = maillist.folders(conn, account.user_id)
        for row in rows:
            row["subscribed"] = subscribed.get(row["id"], True)
            row["protected"] = protected(row)
        return rows

    return await account.read("folder overview", read)


async def create(account: Account, parent: int | None, name: str) -> int:
    """Create ``name`` at the top level or under the folder ``parent``
    (and any missing level between, as IMAP CREATE does); returns the new
    folder's id. Raises InvalidInput (a name :func:`storage.mail.check_name`
    refuses), Conflict (it exists), LimitExceeded (the user has
    :data:`storage.mail.MAX_MAILBOXES`), NotFound (no such parent)."""

    def write(conn: Any) -> int:
        return maildb.create(conn, account.user_id, _full_name(conn, account.user_id, parent, name))

    box = await account.write("create folder", write)
    log.info("%s: user %d created a folder", account.slug, account.user_id)
    return box


async def rename(account: Account, box: int, parent: int | None, name: str) -> None:
    """Give the folder ``box`` the name ``name`` under ``parent`` (None: the
    top level); what is under it follows. Raises Protected, InvalidInput
    (a bad name, or a parent inside the folder itself), Conflict, NotFound."""

    def write(conn: Any) -> None:
        folder = maillist.folder(conn, account.user_id, box)
        if any(protected(f) for f in _subtree(conn, account.user_id, folder["name"])):
            raise Protected("this folder cannot be renamed")
        new = _full_name(conn, account.user_id, parent, name)
        if maildb.check_name(new) != folder["name"]:
            maildb.rename(conn, account.user_id, folder["name"], new)

    await account.write("rename folder", write)


async def deletion(account: Account, box: int) -> dict:
    """What deleting ``box`` would remove: ``{"folder", "messages",
    "subfolders", "protected"}`` (messages counted in the whole subtree)."""

    def read(conn: Any) -> dict:
        folder = maillist.folder(conn, account.user_id, box)
        tree = _subtree(conn, account.user_id, folder["name"])
        messages = sum(maildb.status(conn, f["id"])["messages"] for f in tree)
        return {"folder": folder, "messages": messages, "subfolders": len(tree) - 1,
                "protected": any(protected(f) for f in tree)}

    return await account.read("folder deletion", read)


async def delete(account: Account, box: int) -> int:
    """Delete ``box``, every folder under it and all their messages (as
    Roundcube does once confirmed; each one through IMAP DELETE's code,
    deepest first, in one transaction). Returns how many folders went.
    Raises Protected when the folder or one under it is special."""

    def write(conn: Any) -> list[int]:
        folder = maillist.folder(conn, account.user_id, box)
        tree = _subtree(conn, account.user_id, folder["name"])
        if any(protected(f) for f in tree):
            raise Protected("this folder cannot be deleted")
        for each in tree:
            maildb.delete(conn, account.user_id, each["name"])
        return [f["id"] for f in tree]

    gone = await account.write("delete folder", write)
    for each in gone:
        account.changed(each)
    log.info("%s: user %d deleted %d folder(s)", account.slug, account.user_id, len(gone))
    return len(gone)


async def subscribe(account: Account, box: int, on: bool) -> None:
    """Subscribe to ``box`` (or not), as IMAP SUBSCRIBE/UNSUBSCRIBE."""

    def write(conn: Any) -> None:
        folder = maillist.folder(conn, account.user_id, box)
        maildb.subscribe(conn, account.user_id, folder["name"], on)

    await account.write("subscribe", write)


async def empty(account: Account, box: int) -> int:
    """Remove every message of the Trash or Junk folder ``box`` for good
    (expunged, with their MODSEQ and VANISHED records); returns how many.
    InvalidInput for any other folder."""

    def write(conn: Any) -> int:
        folder = maillist.folder(conn, account.user_id, box)
        if folder["special_use"] not in EMPTIED:
            raise InvalidInput("only Trash and Junk are emptied")
        return len(maildb.expunge(conn, box, maildb.uid_list(conn, box)))

    count = await account.write("empty folder", write)
    if count:
        account.changed(box)
    return count
