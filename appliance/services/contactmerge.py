"""Duplicate contacts: cards of the shared address book that share an
e-mail address (compared without case), and merging two of them.

Merging keeps one card and patches it as the panel patches any card
(:func:`appliance.vcard.patch`): it gains the other card's e-mail
addresses, phone numbers and tags it lacks, and (:func:`appliance.vcard.absorb`)
its postal addresses; every other line of the kept card stays byte for
byte, whoever wrote it. What the CRM holds of the other card moves to the
kept UID (stage when the kept one has none, timeline, deals, follow-up
links), a timeline entry says so, and the other card is deleted as a DAV
``DELETE`` would, so clients see one card at their next sync.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass, replace

from storage import crm, dav, deals, directory

from .. import vcard
from ..errors import InvalidInput, NotFound
from .base import Stores
from .contacts import BOOK, MAX_EMAILS, MAX_PHONES, MAX_TAGS, Contacts, Summary, _collection, _summary

log = logging.getLogger(__name__)

#: Most groups of duplicates listed.
MAX_GROUPS = 200


@dataclass(frozen=True)
class Duplicates:
    """Cards sharing one e-mail address (as the first of them writes it)."""

    email: str
    cards: list[Summary]


def _absorbed(mine: vcard.Fields, theirs: vcard.Fields) -> vcard.Fields:
    """``mine`` with the e-mail addresses (without case), phone numbers (by
    their digits) and tags (without case) of ``theirs`` it lacks, after its own."""
    emails = list(mine.emails)
    seen = {e.casefold() for e in emails}
    emails += [e for e in theirs.emails if e.casefold() not in seen and not seen.add(e.casefold())]
    phones = list(mine.phones)
    digits = {re.sub(r"\D", "", p) or p for p in phones}
    for phone in theirs.phones:
        key = re.sub(r"\D", "", phone) or phone
        if key not in digits:
            digits.add(key)
            phones.append(phone)
    tags = list(mine.tags)
    known = {t.casefold() for t in tags}
    tags += [t for t in theirs.tags if t.casefold() not in known and not known.add(t.casefold())]
    if len(emails) > MAX_EMAILS or len(phones) > MAX_PHONES or len(tags) > MAX_TAGS:
        raise InvalidInput(f"a merged card would have more than {MAX_EMAILS} e-mail addresses, "
                           f"{MAX_PHONES} phone numbers or {MAX_TAGS} tags")
    return replace(mine, emails=emails, phones=phones, tags=tags)


class ContactMerge:
    """Duplicates of the shared address book, and merging (see module doc)."""

    def __init__(self, stores: Stores, contacts: Contacts):
        self.stores = stores
        self.contacts = contacts

    def duplicates(self, slug: str) -> list[Duplicates]:
        """Every e-mail address two or more cards of ``slug`` share, sorted,
        each with its cards by name (at most :data:`MAX_GROUPS`). Changes
        nothing. Raises NotFound."""
        book, _ = self.contacts._book(slug)
        groups: dict[str, list[Summary]] = {}
        for card in book.cards.values():
            for email in dict.fromkeys(e.casefold() for e in card.emails):
                groups.setdefault(email, []).append(card)
        found = []
        for key in sorted(groups):
            cards = groups[key]
            if len(cards) > 1:
                cards.sort(key=lambda c: (c.name.casefold(), c.uid))
                shown = next(e for e in cards[0].emails if e.casefold() == key)
                found.append(Duplicates(shown, cards))
        return found[:MAX_GROUPS]

    def merge(self, slug: str, keep: str, other: str, *, actor: str, note: str = "Merged with %(name)s.") -> None:
        """Merge card ``other`` into card ``keep`` (see module doc); the
        timeline entry is ``note`` with the other card's name.

        Checks: two different cards of the address book, both readable
        here; the kept card's limits of e-mail addresses, phone numbers and
        tags, and the address book's storage (as a PUT). Changes: the kept
        card (only the lines it gains), the CRM rows and deals of
        ``other``, its card (deleted), the timeline and the audit log.
        Raises InvalidInput, NotFound, LimitExceeded."""
        if keep == other:
            raise InvalidInput("a contact cannot be merged with itself")
        limits = self.contacts._limits()

        def write(conn: sqlite3.Connection) -> None:
            row = _collection(conn, f"{slug}/{BOOK}")
            hrefs = [crm.href_of_uid(conn, row.id, uid) for uid in (keep, other)]
            if None in hrefs:
                raise NotFound("no such contact")
            items = dav.get_items(conn, row.id, hrefs)
            kept, gone = items[hrefs[0]], items[hrefs[1]]
            try:
                text = vcard.patch(kept.text, _absorbed(vcard.read(kept.text), vcard.read(gone.text)))
                text = vcard.absorb(text, gone.text)
            except vcard.VCardError as exc:
                raise InvalidInput("these cards cannot be merged here") from exc
            if text != kept.text:
                dav.put_item(conn, row.id, self.contacts._new_item(slug, hrefs[0], text), limits=limits)
            crm.move(conn, other, keep)
            deals.move(conn, other, keep)
            dav.delete_item(conn, row.id, hrefs[1])
            entry = note % {"name": _summary(gone).name}
            crm.add_activity(conn, keep, actor, "note", entry[:crm.MAX_ACTIVITY_CHARS])
            directory.audit(conn, actor, "contact.merge", f"{other} -> {keep}")

        self.stores.handle(slug).write_sync("contact merge", write)
        log.info("%s: %s merged contact %s into %s", slug, actor, other, keep)
