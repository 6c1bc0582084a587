"""A contact's mail history: the messages exchanged with any of its
addresses, as the CRM shows them to one user of the business.

The index (:mod:`storage.mailhistory`) is filled when a message is stored
and loses a message when it is expunged. What a viewer sees of each
message depends on whose mailbox holds it (DESIGN section 11, "a CRM must
not become a way to read a colleague's mail"):

* their own message: date, sender, subject, and where it is, so the page
  links to it in webmail;
* a colleague's, when that colleague shares their mail history (their own
  setting, off by default): the same plus the first lines of its text;
* any other colleague's: date, sender and subject only - never the text,
  never a link.

A company's history is that of its own addresses and of its people's.
"""

from __future__ import annotations

import html
import logging
import sqlite3
from dataclasses import dataclass

import nh3

from storage import directory, mail, mailhistory

from .. import mailview
from ..errors import NotFound
from .base import Stores
from .contacts import Contact

log = logging.getLogger(__name__)

PAGE_SIZE = 20
#: Characters of a sharing colleague's message shown (its first lines).
PREVIEW_CHARS = 300
PREVIEW_LINES = 4
#: Bytes of a message read to make its preview.
PREVIEW_BYTES = 64 * 1024

OWN, SHARED, PRIVATE = 0, 1, 2


@dataclass(frozen=True)
class Message:
    """One message of a history as the viewer may see it."""

    date: str  # UTC, "YYYY-MM-DD HH:MM"
    sender: str
    subject: str
    #: "in" when the contact sent it, "out" when the business wrote to them.
    direction: str
    #: The mailbox owner's address.
    owner: str
    #: OWN, SHARED or PRIVATE (see module doc).
    level: int
    #: The webmail link's (mailbox id, UID): the viewer's own messages only.
    where: tuple[int, int] | None = None
    #: The first lines of a sharing colleague's message.
    preview: str = ""


@dataclass(frozen=True)
class History:
    messages: list[Message]
    total: int
    page: int
    pages: int
    #: The addresses looked up (the contact's, and a company's people's).
    addresses: tuple[str, ...]


class MailHistory:
    """Contacts' mail histories and each user's sharing setting (see module doc)."""

    def __init__(self, stores: Stores):
        self.stores = stores

    def of_contact(self, slug: str, contact: Contact, viewer: int, page: int = 1) -> History:
        """The messages of ``slug`` involving any e-mail address of
        ``contact`` (and, for a company, of its people), newest first,
        :data:`PAGE_SIZE` a page, as user ``viewer`` may see them. Reads
        only. Raises NotFound (no such business)."""
        raw = list(contact.fields.emails)
        for person in contact.people:
            raw.extend(person.emails)
        addresses = tuple(dict.fromkeys(a for a in map(mailhistory.normal, raw) if a))
        if not addresses:
            return History([], 0, 1, 1, ())

        def read(conn: sqlite3.Connection):
            shown = max(1, page)
            entries, total = mailhistory.history(conn, addresses, viewer, PAGE_SIZE, (shown - 1) * PAGE_SIZE)
            pages = max(1, -(-total // PAGE_SIZE))
            if shown > pages:
                shown = pages
                entries, total = mailhistory.history(conn, addresses, viewer, PAGE_SIZE, (shown - 1) * PAGE_SIZE)
            owners = {r["id"]: r["address"] for r in conn.execute("SELECT id, address FROM users")}
            heads = {e.body_id: mail.body_slice(conn, e.body_id, 0, PREVIEW_BYTES)
                     for e in entries if e.level == SHARED}
            return entries, total, shown, pages, owners, heads

        entries, total, shown, pages, owners, heads = self.stores.handle(slug).read_sync("mail history", read)
        out = [
            Message(
                date=e.internal_date[:16].replace("T", " "),
                sender=mailview.display_sender(e.from_),
                subject=mailview.decoded_header(e.subject),
                direction="in" if e.from_them else "out",
                owner=owners.get(e.user_id, ""),
                level=e.level,
                where=(e.mailbox_id, e.uid) if e.level == OWN else None,
                preview=_preview(heads[e.body_id]) if e.level == SHARED else "",
            )
            for e in entries
        ]
        return History(out, total, shown, pages, addresses)

    def sharing(self, slug: str, user_id: int) -> bool:
        """Whether the user shares their mail history. Raises NotFound."""
        return self.stores.handle(slug).read_sync("mail history sharing",
                                                  lambda conn: mailhistory.sharing(conn, user_id))

    def set_sharing(self, slug: str, user_id: int, on: bool, *, actor: str) -> bool:
        """Share (``on``) or stop sharing the user's mail history with
        colleagues: with it on, their messages show in contacts' histories
        with their first lines. Changes: the setting; the audit log when
        it changed. Returns whether it changed. Raises NotFound."""

        def write(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone() is None:
                raise NotFound("no such user")
            changed = mailhistory.set_sharing(conn, user_id, on)
            if changed:
                directory.audit(conn, actor, "mailhistory.share" if on else "mailhistory.unshare")
            return changed

        changed = self.stores.handle(slug).write_sync("mail history sharing", write)
        if changed:
            log.info("%s: %s %s their mail history", slug, actor, "shares" if on else "stopped sharing")
        return changed


def _preview(head: bytes) -> str:
    """The first lines of a message's text (its first text part, or its
    HTML without tags), from at most :data:`PREVIEW_BYTES` of it."""
    shown = mailview.view(head)
    text = shown.text
    if text is None and shown.html is not None:
        text = html.unescape(nh3.clean(shown.html, tags=set()))
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    out = "\n".join(lines[:PREVIEW_LINES])
    return out if len(out) <= PREVIEW_CHARS else out[:PREVIEW_CHARS - 1] + "…"
