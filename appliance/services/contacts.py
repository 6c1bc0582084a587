"""Contacts and the mini-CRM: the business's shared address book as people
and companies, with stages, a timeline and a "do not contact" flag.

The cards are the vCards of the shared ``customers`` address book, the
one every CardDAV client of the business syncs; a company is a card with
``KIND:org``. The service writes them through :mod:`storage.dav` exactly
as a DAV ``PUT``/``DELETE`` does (same etag, same change log, same
limits), so clients see a change at their next sync and the DAV fast
paths stay right. It patches only the lines the panel owns
(:mod:`appliance.vcard`) and never regenerates a card a client wrote.
What a card cannot hold lives in :mod:`storage.crm`, keyed by UID.

The list is read from a per-business cache of parsed cards that follows
the address book's change log (as the DAV listing cache does): a sync
reads only the cards changed since.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass, field

from storage import crm, dav, deals, directory

from .. import contactfiles, davitems, vcard, vtodo
from ..errors import Conflict, InvalidInput, LimitExceeded, NotFound
from .base import Stores

log = logging.getLogger(__name__)

#: The shared address book (:data:`storage.dav.SHARED`).
BOOK = "customers"
#: The shared task list of follow-ups, made at the first one.
FOLLOWUPS = "followups"
MAX_SUMMARY = 200
STAGES = crm.STAGES
#: Activities a person adds by hand (stage changes are recorded by set_stage).
ACTIVITY_KINDS = ("note", "call", "meeting")
PAGE_SIZE = 50
MAX_QUERY = 200
MAX_NAME = 200
MAX_TEXT = 200
MAX_NOTE = 4000
MAX_EMAILS = 10
MAX_PHONES = 10
MAX_PHONE = 40
MAX_TAGS = 20
MAX_TAG = 50
#: Tags the list's filter offers (the first, in order).
MAX_TAG_CHOICES = 200
MAX_ADDRESS = 254
#: Addresses one completion suggests at most, and cards read from a
#: user's own address books for it.
MAX_SUGGESTIONS = 20
MAX_PERSONAL_CARDS = 5000
#: Businesses whose parsed address book is kept in memory.
CACHED_BOOKS = 32
#: Most contacts, and largest text, one import reads.
MAX_IMPORT = 10_000
MAX_IMPORT_BYTES = 4 * 1024 * 1024

EMAIL_RE = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")
PHONE_RE = re.compile(r"[0-9+()./# -]*[0-9][0-9+()./# -]*(?:(?:ext|x)\.? ?[0-9]+)?", re.IGNORECASE)
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Summary:
    """One card as the list shows it."""

    uid: str
    href: str
    kind: str  # "individual" or "org"
    name: str
    org: str
    title: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def is_company(self) -> bool:
        return self.kind == "org"


@dataclass(frozen=True)
class Activity:
    at: str  # UTC, "YYYY-MM-DD HH:MM"
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class FollowUp:
    """A task of the follow-ups list linked to a contact, as a client left it."""

    uid: str
    summary: str
    due: str  # YYYY-MM-DD or ""
    done: bool


@dataclass
class Contact:
    """One card with everything the CRM knows of it."""

    uid: str
    etag: str
    fields: vcard.Fields
    stage: str | None
    do_not_contact: bool
    timeline: list[Activity]
    #: A person's company card (same organisation name), if there is one.
    company: Summary | None = None
    #: A company's people (cards whose organisation is its name).
    people: list[Summary] = field(default_factory=list)
    #: Its follow-up tasks, newest first (those a client deleted are gone).
    followups: list[FollowUp] = field(default_factory=list)

    @property
    def is_company(self) -> bool:
        return self.fields.kind == "org"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Page:
    contacts: list[Summary]
    stages: dict[str, str | None]  # uid -> stage, for the shown contacts
    total: int
    page: int
    pages: int
    #: The tags of the book, for the filter (at most MAX_TAG_CHOICES).
    tags: list[str]


@dataclass
class ImportPlan:
    """What an import adds (in file order) and what it skips, with the line
    each skipped card or row starts on."""

    new: list[vcard.Fields]
    skipped: list[contactfiles.Skip]
    items: list[dav.NewItem] = field(default_factory=list, repr=False)


@dataclass
class _Book:
    collection_id: int
    nonce: str
    seq: int
    cards: dict[str, Summary]  # by href


class Contacts:
    """The shared address book as contacts (see module doc)."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self._books: OrderedDict[str, _Book] = OrderedDict()
        self._lock = threading.Lock()

    # -- reading -----------------------------------------------------------------

    def list(self, slug: str, query: str = "", stage: str = "", tag: str = "", page: int = 1) -> Page:
        """The contacts of ``slug`` whose name, company, e-mail, phone or tag
        contains ``query``, at ``stage`` and with ``tag`` (each when given),
        sorted by name, :data:`PAGE_SIZE` a page. Raises InvalidInput, NotFound."""
        if len(query) > MAX_QUERY:
            raise InvalidInput(f"a search has at most {MAX_QUERY} characters")
        if stage and stage not in STAGES:
            raise InvalidInput(f"no stage {stage!r}")
        book, states = self._book(slug)
        needle = query.strip().casefold()
        digits = re.sub(r"\D", "", needle)
        wanted_tag = tag.strip().casefold()
        found = []
        all_tags: dict[str, str] = {}
        for card in book.cards.values():
            for t in card.tags:
                all_tags.setdefault(t.casefold(), t)
            if stage and (states.get(card.uid) or crm.CrmState(None, False)).stage != stage:
                continue
            if wanted_tag and wanted_tag not in (t.casefold() for t in card.tags):
                continue
            if needle and not _matches(card, needle, digits):
                continue
            found.append(card)
        found.sort(key=lambda c: (c.name.casefold(), c.uid))
        pages = max(1, -(-len(found) // PAGE_SIZE))
        page = min(max(1, page), pages)
        shown = found[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        return Page(shown, {c.uid: (states.get(c.uid) or crm.CrmState(None, False)).stage for c in shown},
                    len(found), page, pages, sorted(all_tags.values(), key=str.casefold)[:MAX_TAG_CHOICES])

    def get(self, slug: str, uid: str) -> Contact:
        """The contact ``uid`` of ``slug`` with its stage, flag and timeline,
        its company (a person) or its people (a company). Raises NotFound."""
        path = f"{slug}/{BOOK}"

        def read(conn: sqlite3.Connection):
            row = _collection(conn, path)
            href = crm.href_of_uid(conn, row.id, uid)
            if href is None:
                raise NotFound("no such contact")
            item = dav.get_items(conn, row.id, [href])[href]
            return item, crm.state(conn, uid), crm.timeline(conn, uid), _followups(conn, slug, uid)

        item, state, entries, todos = self.stores.handle(slug).read_sync("contact get", read)
        fields = _fields(item.text, item.uid)
        contact = Contact(uid, item.etag, fields, state.stage, state.do_not_contact,
                          [Activity(_when(a.at), a.actor, a.kind, a.text) for a in entries], followups=todos)
        book, _ = self._book(slug)
        if fields.kind == "org":
            name = fields.name.casefold()
            contact.people = sorted((c for c in book.cards.values() if not c.is_company and c.org.casefold() == name),
                                    key=lambda c: c.name.casefold())[:PAGE_SIZE * 4]
        elif fields.org:
            org = fields.org.casefold()
            contact.company = next((c for c in sorted(book.cards.values(), key=lambda c: c.href)
                                    if c.is_company and c.name.casefold() == org), None)
        return contact

    def names(self, slug: str) -> dict[str, str]:
        """The name of every card of ``slug``, by UID (from the cache of
        the list). Raises NotFound."""
        book, _ = self._book(slug)
        return {card.uid: card.name for card in sorted(book.cards.values(), key=lambda c: c.href, reverse=True)}

    def addresses(self, slug: str, user: str, query: str = "", limit: int = MAX_SUGGESTIONS) -> list[tuple[str, str]]:
        """(name, e-mail) of the cards of ``slug``'s shared address book and
        of the address books of its user ``user`` (their own: a colleague's
        never) whose name or e-mail contains ``query``, each e-mail once,
        sorted by name, at most ``limit`` (webmail's address completion).
        Raises InvalidInput for a query over :data:`MAX_QUERY`, NotFound."""
        if len(query) > MAX_QUERY:
            raise InvalidInput(f"a search has at most {MAX_QUERY} characters")
        book, _ = self._book(slug)

        def read(conn: sqlite3.Connection) -> list[dav.ItemRow]:
            owner = conn.execute("SELECT id FROM users WHERE address = ?", (user,)).fetchone()
            if owner is None:
                return []
            items: list[dav.ItemRow] = []
            for row in dav.children(conn, user):
                if row.tag == "VADDRESSBOOK" and row.user_id == owner["id"]:
                    items.extend(dav.all_items(conn, row.id)[:MAX_PERSONAL_CARDS - len(items)])
            return items

        own = self.stores.handle(slug).read_sync("own address books", read)
        needle = query.strip().casefold()
        found: dict[str, tuple[str, str]] = {}
        for card in [_summary(item) for item in own] + list(book.cards.values()):
            for address in card.emails:
                if address.casefold() in found:
                    continue
                if not needle or needle in card.name.casefold() or needle in address.casefold():
                    found[address.casefold()] = ("" if card.name == address else card.name, address)
        return sorted(found.values(), key=lambda f: (f[0].casefold() or f[1].casefold(), f[1].casefold()))[:limit]

    def email_choices(self, slug: str, limit: int = 500) -> list[tuple[str, str]]:
        """(name, e-mail) of the cards of ``slug`` that have an e-mail, by
        name, at most ``limit`` (from the cache of the list). Raises NotFound."""
        book, _ = self._book(slug)
        found = sorted(((c.name, e.lower()) for c in book.cards.values() for e in c.emails),
                       key=lambda p: (p[0].casefold(), p[1]))
        return found[:limit]

    # -- writing -----------------------------------------------------------------

    def create(self, slug: str, fields: vcard.Fields, *, actor: str) -> str:
        """Add a person (``fields.kind`` "individual") or a company ("org")
        as a new vCard 3.0 in the shared address book; returns its UID.

        Checks: the fields' limits and shapes (:func:`check`); the address
        book's item count and the business's DAV storage (as a PUT).
        Changes: the card, the address book's change log; the audit log.
        Raises InvalidInput, LimitExceeded, NotFound."""
        fields = check(fields)
        uid = str(uuid.uuid4())
        item = self._new_item(slug, f"{uid}.vcf", vcard.new_card(uid, fields))
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> None:
            row = _collection(conn, f"{slug}/{BOOK}")
            dav.put_item(conn, row.id, item, limits=limits)
            directory.audit(conn, actor, "contact.add", uid)

        self.stores.handle(slug).write_sync("contact add", write)
        log.info("%s: %s added contact %s", slug, actor, uid)
        return uid

    def update(self, slug: str, uid: str, fields: vcard.Fields, etag: str = "", *, actor: str) -> bool:
        """Set the panel's fields of card ``uid``, patching only the lines
        that changed; every other line stays byte for byte. A person's
        display name (FN) follows the given and family names only when
        they changed. ``etag``, when given, must still be the card's (else
        someone changed it since the form was shown). Returns whether the
        card changed. Raises InvalidInput, NotFound, Conflict, LimitExceeded."""
        fields = check(fields)
        limits = self._limits()
        path = f"{slug}/{BOOK}"

        def write(conn: sqlite3.Connection) -> bool:
            row = _collection(conn, path)
            href = crm.href_of_uid(conn, row.id, uid)
            if href is None:
                raise NotFound("no such contact")
            old = dav.get_items(conn, row.id, [href])[href]
            if etag and old.etag != etag:
                raise Conflict("this contact was changed meanwhile")
            try:
                before = vcard.read(old.text)
                new = _merge(before, fields)
                text = vcard.patch(old.text, new)
            except vcard.VCardError as exc:
                raise InvalidInput("this card cannot be edited here") from exc
            if text == old.text:
                return False
            dav.put_item(conn, row.id, self._new_item(slug, href, text), limits=limits)
            directory.audit(conn, actor, "contact.edit", uid)
            return True

        return self.stores.handle(slug).write_sync("contact edit", write)

    def delete(self, slug: str, uid: str, *, actor: str) -> None:
        """Delete card ``uid`` (clients see it gone at their next sync) with
        its stage, timeline and deals. Raises NotFound.

        This is also how a contact is erased on request (GDPR article 17):
        everything the CRM recorded *about the contact* goes. The mail
        history's index (:mod:`storage.mailhistory`) stays: it describes
        messages, not the contact, each row lives exactly as long as a
        message still in someone's mailbox, and it is rebuilt from those
        messages anyway; erasing the mail itself is for each mailbox's
        owner to do (the index follows their expunge). Without the card,
        no page shows that history any more."""
        path = f"{slug}/{BOOK}"

        def write(conn: sqlite3.Connection) -> None:
            row = _collection(conn, path)
            href = crm.href_of_uid(conn, row.id, uid)
            if href is None:
                raise NotFound("no such contact")
            dav.delete_item(conn, row.id, href)
            crm.forget(conn, uid)
            deals.forget(conn, uid)
            directory.audit(conn, actor, "contact.delete", uid)

        self.stores.handle(slug).write_sync("contact delete", write)

    def set_stage(self, slug: str, uid: str, stage: str | None, *, actor: str) -> bool:
        """Set the stage of contact ``uid`` (None: no stage); a change is
        recorded in its timeline. The card is not touched. Returns whether
        the stage changed. Raises InvalidInput, NotFound."""
        if stage is not None and stage not in STAGES:
            raise InvalidInput(f"no stage {stage!r}")

        def write(conn: sqlite3.Connection) -> bool:
            self._require(conn, slug, uid)
            if crm.state(conn, uid).stage == stage:
                return False
            crm.set_stage(conn, uid, stage)
            crm.add_activity(conn, uid, actor, "stage", stage or "")
            directory.audit(conn, actor, "contact.stage", f"{uid} {stage or '-'}")
            return True

        return self.stores.handle(slug).write_sync("contact stage", write)

    def add_activity(self, slug: str, uid: str, kind: str, text: str, *, actor: str) -> None:
        """Add a note, call or meeting to the timeline of contact ``uid``.
        Checks: the kind; 1 to :data:`crm.MAX_ACTIVITY_CHARS` characters.
        Raises InvalidInput, NotFound."""
        text = text.strip()
        if kind not in ACTIVITY_KINDS:
            raise InvalidInput(f"no activity {kind!r}")
        if not text or len(text) > crm.MAX_ACTIVITY_CHARS or _CONTROL_RE.search(text):
            raise InvalidInput(f"write 1 to {crm.MAX_ACTIVITY_CHARS} characters")

        def write(conn: sqlite3.Connection) -> None:
            self._require(conn, slug, uid)
            crm.add_activity(conn, uid, actor, kind, text)
            directory.audit(conn, actor, "contact.activity", f"{uid} {kind}")

        self.stores.handle(slug).write_sync("contact activity", write)

    def set_do_not_contact(self, slug: str, uid: str, flag: bool, *, actor: str) -> None:
        """Set or clear the "do not contact" flag of contact ``uid``.
        Raises NotFound."""

        def write(conn: sqlite3.Connection) -> None:
            self._require(conn, slug, uid)
            crm.set_do_not_contact(conn, uid, flag)
            directory.audit(conn, actor, "contact.do-not-contact", f"{uid} {'on' if flag else 'off'}")

        self.stores.handle(slug).write_sync("contact flag", write)

    # -- follow-ups ----------------------------------------------------------------

    def add_followup(self, slug: str, uid: str, summary: str, due: dt.date | None, *, actor: str,
                     list_name: str = "Follow-ups") -> str:
        """A task "``summary``" (due on ``due``) in the business's shared
        follow-ups list, linked to contact ``uid`` in the CRM tables;
        returns the task's UID. The list is made at the first follow-up,
        named ``list_name``. Checks: 1 to :data:`MAX_SUMMARY` printable
        characters; the limits of a DAV PUT. Raises InvalidInput,
        NotFound, LimitExceeded."""
        summary = " ".join(summary.split())
        if not summary or len(summary) > MAX_SUMMARY or _LINE_CONTROL_RE.search(summary):
            raise InvalidInput(f"write 1 to {MAX_SUMMARY} characters")
        if due is not None and not 1900 <= due.year <= 2999:
            raise InvalidInput("no such due date")
        todo_uid = str(uuid.uuid4())
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> None:
            book = _collection(conn, f"{slug}/{BOOK}")
            href = crm.href_of_uid(conn, book.id, uid)
            if href is None:
                raise NotFound("no such contact")
            name = _fields(dav.get_items(conn, book.id, [href])[href].text, uid).name
            tasks = dav.get_collection(conn, f"{slug}/{FOLLOWUPS}") or dav.create_collection(
                conn, f"{slug}/{FOLLOWUPS}", "VCALENDAR",
                {"D:displayname": list_name, "C:supported-calendar-component-set": "VTODO"}, limits=limits)
            text = vtodo.new_todo(todo_uid, summary, due, name, dt.datetime.now(dt.timezone.utc))
            dav.put_item(conn, tasks.id, self._new_item(slug, f"{todo_uid}.ics", text, FOLLOWUPS), limits=limits)
            crm.link_followup(conn, todo_uid, uid, actor)
            directory.audit(conn, actor, "contact.followup", f"{uid} {todo_uid}")

        self.stores.handle(slug).write_sync("contact follow-up", write)
        return todo_uid

    def complete_followup(self, slug: str, uid: str, todo_uid: str, *, actor: str) -> None:
        """Mark follow-up ``todo_uid`` of contact ``uid`` done: the task's
        status lines change, its other lines stay as the client left them.
        Raises NotFound (not a follow-up of this contact, or deleted)."""
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> None:
            tasks = dav.get_collection(conn, f"{slug}/{FOLLOWUPS}")
            if tasks is None or todo_uid not in crm.followups(conn, uid):
                raise NotFound("no such follow-up")
            href = crm.href_of_uid(conn, tasks.id, todo_uid)
            if href is None:
                raise NotFound("no such follow-up")
            old = dav.get_items(conn, tasks.id, [href])[href]
            if vtodo.read(old.text).done:
                return
            text = vtodo.complete(old.text, dt.datetime.now(dt.timezone.utc))
            dav.put_item(conn, tasks.id, self._new_item(slug, href, text, FOLLOWUPS), limits=limits)
            directory.audit(conn, actor, "contact.followup-done", f"{uid} {todo_uid}")

        self.stores.handle(slug).write_sync("contact follow-up done", write)

    # -- import and export ---------------------------------------------------------

    def plan_import(self, slug: str, text: str) -> ImportPlan:
        """What importing ``text`` (vCards, or Outlook's or Google's CSV)
        would add and skip, changing nothing. A card or row is skipped when
        it cannot be read, has no name, breaks a limit, or has an e-mail
        address already in the address book or earlier in the file (or a
        UID already there). Raises LimitExceeded (more than
        :data:`MAX_IMPORT_BYTES`), NotFound."""
        if len(text.encode()) > MAX_IMPORT_BYTES:
            raise LimitExceeded(f"at most {MAX_IMPORT_BYTES} bytes a file")
        book, _ = self._book(slug)
        seen = {e.casefold() for card in book.cards.values() for e in card.emails}
        uids = {card.uid for card in book.cards.values()}
        read = contactfiles.read(text, MAX_IMPORT)
        plan = ImportPlan([], list(read.skipped))
        for incoming in read.cards:
            skip = self._plan_one(slug, incoming, seen, uids, plan)
            if skip:
                plan.skipped.append(contactfiles.Skip(incoming.line, skip))
        plan.skipped.sort(key=lambda s: s.line)
        return plan

    def _plan_one(self, slug: str, incoming: contactfiles.Incoming, seen: set[str], uids: set[str],
                  plan: ImportPlan) -> str | None:
        """Add ``incoming`` to ``plan``, or say why it is skipped."""
        f = incoming.fields
        if not (f.name or f.given or f.family or (f.kind == "org" and f.org)):
            return contactfiles.NO_NAME
        if incoming.text is None:
            try:
                f = check(f)
            except InvalidInput:
                return contactfiles.INVALID
        emails = {e.casefold() for e in f.emails}
        if emails & seen or (incoming.uid and incoming.uid in uids):
            return contactfiles.DUPLICATE
        uid = incoming.uid or str(uuid.uuid4())
        text = incoming.text if incoming.text is not None else vcard.new_card(uid, f)
        if not incoming.uid:
            text = _with_uid(text, uid)
        try:
            item = self._new_item(slug, f"{uuid.uuid4()}.vcf", text)
        except LimitExceeded:
            return contactfiles.INVALID
        except Exception:  # noqa: BLE001 - vobject's errors are many; the card is unreadable
            return contactfiles.MALFORMED
        seen |= emails
        uids.add(item.uid)
        plan.new.append(f)
        plan.items.append(item)
        return None

    def import_contacts(self, slug: str, text: str, *, actor: str) -> ImportPlan:
        """Add what :meth:`plan_import` plans for ``text``, in one
        transaction (all or nothing); returns the plan carried out.
        Changes: the cards, the change log, the audit log. Raises
        LimitExceeded (the address book or the storage would overflow),
        NotFound."""
        plan = self.plan_import(slug, text)
        limits = self._limits()

        def write(conn: sqlite3.Connection) -> None:
            row = _collection(conn, f"{slug}/{BOOK}")
            for item in plan.items:
                dav.put_item(conn, row.id, item, limits=limits)
            directory.audit(conn, actor, "contact.import", f"{len(plan.items)} added, {len(plan.skipped)} skipped")

        if plan.items:
            self.stores.handle(slug).write_sync("contact import", write)
        log.info("%s: %s imported %d contacts, skipped %d", slug, actor, len(plan.items), len(plan.skipped))
        return plan

    def export_vcards(self, slug: str) -> str:
        """Every card of the address book, as its clients hold it, in one text."""
        def read(conn: sqlite3.Connection) -> list[dav.ItemRow]:
            return dav.all_items(conn, _collection(conn, f"{slug}/{BOOK}").id)

        texts = [item.text if item.text.endswith("\n") else item.text + "\r\n"
                 for item in self.stores.handle(slug).read_sync("contact export", read)]
        return "".join(texts)

    def export_csv(self, slug: str) -> str:
        """Every contact as CSV (:data:`contactfiles.EXPORT_COLUMNS`), with its stage."""
        def read(conn: sqlite3.Connection):
            row = _collection(conn, f"{slug}/{BOOK}")
            return dav.all_items(conn, row.id), crm.states(conn)

        items, states = self.stores.handle(slug).read_sync("contact export", read)
        rows = []
        for item in items:
            f = _fields(item.text, item.uid)
            rows.append((f, (states.get(item.uid) or crm.CrmState(None, False)).stage or ""))
        rows.sort(key=lambda r: r[0].name.casefold())
        return contactfiles.write_csv(rows)

    # -- helpers ---------------------------------------------------------------

    @staticmethod
    def _require(conn: sqlite3.Connection, slug: str, uid: str) -> None:
        row = _collection(conn, f"{slug}/{BOOK}")
        if crm.href_of_uid(conn, row.id, uid) is None:
            raise NotFound("no such contact")

    def _limits(self) -> dav.Limits:
        return davitems.limits(self.stores.settings.dav)

    def _new_item(self, slug: str, href: str, text: str, collection: str = BOOK) -> dav.NewItem:
        """What storage keeps of a card (or follow-up task) of ``slug``'s
        ``collection``. See :func:`appliance.davitems.new_item`."""
        return davitems.new_item(self.stores.settings.dav, f"{slug}/{collection}", href, text, "contact")

    def _book(self, slug: str) -> tuple[_Book, dict[str, crm.CrmState]]:
        """The parsed address book of ``slug``, brought up to date from the
        change log, and the CRM states."""
        path = f"{slug}/{BOOK}"
        with self._lock:
            cached = self._books.get(slug)

        def read(conn: sqlite3.Connection) -> tuple[_Book, dict[str, crm.CrmState]]:
            row = _collection(conn, path)
            states = crm.states(conn)
            if (cached is not None and (cached.collection_id, cached.nonce) == (row.id, row.nonce)
                    and row.horizon <= cached.seq <= row.seq):
                if cached.seq == row.seq:
                    return cached, states
                hrefs = dav.changes_since(conn, row.id, cached.seq)
                items = dav.get_items(conn, row.id, hrefs)
                cards = dict(cached.cards)
                for href in hrefs:
                    cards.pop(href, None)
                cards.update((href, _summary(item)) for href, item in items.items())
            else:
                cards = {item.href: _summary(item) for item in dav.all_items(conn, row.id)}
            return _Book(row.id, row.nonce, row.seq, cards), states

        book, states = self.stores.handle(slug).read_sync("contact list", read)
        with self._lock:
            current = self._books.get(slug)
            if current is None or current.seq <= book.seq or current.nonce != book.nonce:
                self._books[slug] = book
            self._books.move_to_end(slug)
            while len(self._books) > CACHED_BOOKS:
                self._books.popitem(last=False)
        return book, states


def _collection(conn: sqlite3.Connection, path: str) -> dav.CollectionRow:
    row = dav.get_collection(conn, path)
    if row is None:
        raise NotFound("the business has no shared address book")
    return row


def _followups(conn: sqlite3.Connection, slug: str, uid: str) -> list[FollowUp]:
    tasks = dav.get_collection(conn, f"{slug}/{FOLLOWUPS}")
    if tasks is None:
        return []
    found = []
    for todo_uid in crm.followups(conn, uid):
        href = crm.href_of_uid(conn, tasks.id, todo_uid)
        if href is not None:
            todo = vtodo.read(dav.get_items(conn, tasks.id, [href])[href].text)
            found.append(FollowUp(todo_uid, todo.summary, todo.due, todo.done))
    return found


def _fields(text: str, uid: str) -> vcard.Fields:
    try:
        return vcard.read(text)
    except vcard.VCardError:
        # A card a client wrote that this reader cannot follow still shows
        # (and can be deleted); it cannot be edited here.
        return vcard.Fields(name=uid)


def _with_uid(text: str, uid: str) -> str:
    """A card without UID gets one, after its VERSION line (RFC 6350
    section 6.7.6: a card a server keeps needs one)."""
    at = text.upper().find("\nVERSION:")
    at = text.find("\n", at + 1) + 1 if at >= 0 else text.find("\n") + 1
    return f"{text[:at]}UID:{uid}\r\n{text[at:]}"


def _summary(item: dav.ItemRow) -> Summary:
    f = _fields(item.text, item.uid)
    name = f.name or " ".join(p for p in (f.given, f.family) if p) or f.org or (f.emails[0] if f.emails else item.uid)
    return Summary(item.uid, item.href, f.kind, name, f.org, f.title, tuple(f.emails), tuple(f.phones), tuple(f.tags))


def _matches(card: Summary, needle: str, digits: str) -> bool:
    if needle in card.name.casefold() or needle in card.org.casefold():
        return True
    if any(needle in e.casefold() for e in card.emails) or any(needle in t.casefold() for t in card.tags):
        return True
    return len(digits) >= 3 and any(digits in re.sub(r"\D", "", p) for p in card.phones)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(at))


def _merge(before: vcard.Fields, new: vcard.Fields) -> vcard.Fields:
    """``new`` as it applies to a card that held ``before``: its kind stays;
    a company's name is its organisation too; a person's display name
    follows the names only when they changed."""
    merged = vcard.Fields(**{**asdict(new), "kind": before.kind})
    if before.kind == "org":
        merged.given, merged.family = before.given, before.family
        if before.org == before.name or not before.org:
            merged.org = merged.name
        else:
            merged.org = before.org
    elif (new.given, new.family) == (before.given, before.family) and before.name:
        merged.name = before.name
    return merged


def check(fields: vcard.Fields) -> vcard.Fields:
    """``fields`` trimmed, de-duplicated and within the limits; a person
    needs a given or family name, a company its name. Raises InvalidInput."""
    f = vcard.Fields(kind=fields.kind)
    if f.kind not in ("individual", "org"):
        raise InvalidInput("a contact is a person or a company")
    for attr, limit in (("name", MAX_NAME), ("given", MAX_NAME), ("family", MAX_NAME), ("org", MAX_NAME),
                        ("title", MAX_TEXT)):
        value = " ".join(getattr(fields, attr).split())
        if len(value) > limit or _LINE_CONTROL_RE.search(value):
            raise InvalidInput(f"{attr}: at most {limit} printable characters")
        setattr(f, attr, value)
    if f.kind == "org":
        if not f.name:
            raise InvalidInput("a company needs a name")
        f.org, f.given, f.family = f.name, "", ""
    else:
        if not (f.given or f.family):
            raise InvalidInput("a person needs a name")
        f.name = " ".join(p for p in (f.given, f.family) if p)
    f.note = fields.note.strip().replace("\r\n", "\n")
    if len(f.note) > MAX_NOTE or _CONTROL_RE.search(f.note):
        raise InvalidInput(f"a note has at most {MAX_NOTE} characters")
    f.emails = list(dict.fromkeys(e.strip() for e in fields.emails if e.strip()))
    if len(f.emails) > MAX_EMAILS:
        raise InvalidInput(f"at most {MAX_EMAILS} e-mail addresses")
    for email in f.emails:
        if len(email) > MAX_ADDRESS or not EMAIL_RE.fullmatch(email):
            raise InvalidInput(f"not an e-mail address: {email}")
    f.phones = list(dict.fromkeys(" ".join(p.split()) for p in fields.phones if p.strip()))
    if len(f.phones) > MAX_PHONES:
        raise InvalidInput(f"at most {MAX_PHONES} phone numbers")
    for phone in f.phones:
        if len(phone) > MAX_PHONE or not PHONE_RE.fullmatch(phone):
            raise InvalidInput(f"not a phone number: {phone}")
    tags: dict[str, str] = {}
    for tag in fields.tags:
        tag = " ".join(tag.split())
        if tag:
            tags.setdefault(tag.casefold(), tag)
    f.tags = list(tags.values())
    if len(f.tags) > MAX_TAGS or any(len(t) > MAX_TAG or _LINE_CONTROL_RE.search(t) for t in f.tags):
        raise InvalidInput(f"at most {MAX_TAGS} tags of at most {MAX_TAG} characters")
    return f
