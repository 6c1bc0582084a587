"""Deals (opportunities) and the pipeline of the mini-CRM, and "my day".

A deal belongs to one contact (a person's or a company's card, by UID)
and sits at one stage of the business's pipeline. The pipeline is the
business's own list of stages: any number of open stages in the order
the owner gives, then exactly one "won" and one "lost" stage, which can
be renamed but not removed. A business gets the default pipeline at its
first use, named in the language of whoever opened it (as the
follow-ups list is). What a deal holds lives in :mod:`storage.deals`;
its stage changes go to its contact's timeline (:mod:`storage.crm`).

A deal whose card was deleted over CardDAV stays (its contact shows as
gone) until someone deletes it; a card deleted in the panel takes its
deals with it (:meth:`appliance.services.contacts.Contacts.delete`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import time
from dataclasses import dataclass, field

from storage import crm, dav, deals as store, directory

from .. import vtodo
from ..errors import InvalidInput, LimitExceeded, NotFound
from .base import Stores
from .contacts import BOOK, FOLLOWUPS, Contacts

log = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_STAGE_NAME = 40
#: Stages of one pipeline (won and lost included) and deals of one business.
MAX_STAGES = 20
MAX_DEALS = 5000
#: The largest amount, in cents (ten thousand million in any currency).
MAX_AMOUNT_CENTS = 10**12 * 100 - 1
DEFAULT_CURRENCY = "EUR"
#: Entries of "my day"'s recent activity.
RECENT = 20
CURRENCY_RE = re.compile(r"[A-Z]{3}")
_LINE_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Stage:
    id: int
    name: str
    kind: str  # "open", "won" or "lost"
    deals: int


@dataclass(frozen=True)
class Deal:
    id: str
    contact_uid: str
    #: The contact's name, or "" when its card is gone.
    contact_name: str
    title: str
    amount_cents: int
    currency: str
    stage: Stage
    close_date: str  # YYYY-MM-DD or ""
    probability: int
    owner: str


@dataclass
class Column:
    """One stage of the board with its deals and their sum per currency."""

    stage: Stage
    deals: list[Deal] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # currency -> cents, sorted by currency


@dataclass(frozen=True)
class Board:
    open: list[Column]
    won: Column
    lost: Column


@dataclass(frozen=True)
class StageChange:
    """One existing stage as the pipeline form leaves it."""

    id: int
    name: str
    position: int
    remove: bool = False


@dataclass(frozen=True)
class DueFollowUp:
    uid: str
    contact_uid: str
    contact_name: str
    summary: str
    due: str  # YYYY-MM-DD
    overdue: bool


@dataclass(frozen=True)
class RecentActivity:
    contact_uid: str
    contact_name: str  # "" when the card is gone
    at: str  # UTC, "YYYY-MM-DD HH:MM"
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class MyDay:
    followups: list[DueFollowUp]
    recent: list[RecentActivity]


@dataclass(frozen=True)
class DefaultNames:
    """The names of the default pipeline, in the language it is made in."""

    open: tuple[str, ...] = ("New", "Qualified", "Proposal", "Negotiation")
    won: str = "Won"
    lost: str = "Lost"


class Deals:
    """Deals, the pipeline and "my day" (see module doc)."""

    def __init__(self, stores: Stores, contacts: Contacts):
        self.stores = stores
        self.contacts = contacts

    # -- the pipeline ------------------------------------------------------------

    def stages(self, slug: str, defaults: DefaultNames = DefaultNames()) -> list[Stage]:
        """The pipeline of ``slug`` in order: open stages, then won, then
        lost. Made from ``defaults`` at the first call. Raises NotFound."""
        rows = self.stores.handle(slug).read_sync("deal stages", store.stages)
        if not rows:
            def seed(conn: sqlite3.Connection) -> list[store.StageRow]:
                if not store.stages(conn):
                    for i, name in enumerate(defaults.open):
                        store.add_stage(conn, name, "open", i)
                    store.add_stage(conn, defaults.won, "won", len(defaults.open))
                    store.add_stage(conn, defaults.lost, "lost", len(defaults.open) + 1)
                return store.stages(conn)

            rows = self.stores.handle(slug).write_sync("deal stages seed", seed)
        return _ordered(rows)

    def set_stages(self, slug: str, changes: list[StageChange], new_name: str = "", *, actor: str) -> None:
        """Rename, reorder and remove the stages named in ``changes`` (each
        existing stage once) and add an open stage ``new_name`` (when not
        empty) after the others. Checks: 1 to :data:`MAX_STAGE_NAME`
        printable characters a name, names distinct; won and lost stay;
        a stage with deals is not removed; at most :data:`MAX_STAGES`
        stages and at least one open stage. Raises InvalidInput (its
        message names the stage's id as ``stage <id>:``), LimitExceeded,
        NotFound."""
        names = [_stage_name(c.name, c.id) for c in changes]
        new_name = " ".join(new_name.split())
        if new_name:
            _stage_name(new_name, 0)

        def write(conn: sqlite3.Connection) -> None:
            rows = {r.id: r for r in store.stages(conn)}
            if sorted(c.id for c in changes) != sorted(rows):
                raise InvalidInput("the pipeline was changed meanwhile")
            kept = [c for c in changes if not c.remove]
            for c in changes:
                if c.remove and rows[c.id].kind != "open":
                    raise InvalidInput(f"stage {c.id}: the won and lost stages stay")
                if c.remove and rows[c.id].deals:
                    raise InvalidInput(f"stage {c.id}: this stage has deals")
            all_names = [n.casefold() for c, n in zip(changes, names) if not c.remove] + (
                [new_name.casefold()] if new_name else [])
            if len(set(all_names)) != len(all_names):
                raise InvalidInput("stage 0: two stages have the same name")
            if len(all_names) > MAX_STAGES:
                raise LimitExceeded(f"at most {MAX_STAGES} stages")
            if not any(rows[c.id].kind == "open" for c in kept) and not new_name:
                raise InvalidInput("stage 0: keep at least one open stage")
            for c in changes:
                if c.remove:
                    store.remove_stage(conn, c.id)
            named = dict(zip((c.id for c in changes), names))
            # Open stages in the order asked, a new one after them, then won and lost.
            opened = sorted((c for c in kept if rows[c.id].kind == "open"), key=lambda c: (c.position, c.id))
            closing = sorted((c for c in kept if rows[c.id].kind != "open"), key=lambda c: rows[c.id].kind != "won")
            for i, c in enumerate(opened):
                store.change_stage(conn, c.id, named[c.id], i)
            if new_name:
                store.add_stage(conn, new_name, "open", len(opened))
            for i, c in enumerate(closing):
                store.change_stage(conn, c.id, named[c.id], len(opened) + 1 + i)
            directory.audit(conn, actor, "deal.pipeline", f"{len(all_names)} stages")

        self.stores.handle(slug).write_sync("deal pipeline", write)

    # -- reading -----------------------------------------------------------------

    def board(self, slug: str, owner: str = "", defaults: DefaultNames = DefaultNames()) -> Board:
        """Every deal of ``slug`` (only ``owner``'s when given) by stage,
        with the sum of each stage per currency. Raises NotFound."""
        stages = self.stages(slug, defaults)
        rows = self.stores.handle(slug).read_sync("deal board", store.all_deals)
        names = self.contacts.names(slug)
        columns = {s.id: Column(s) for s in stages}
        for row in rows:
            if owner and row.owner != owner:
                continue
            column = columns[row.stage_id]
            column.deals.append(_deal(row, column.stage, names))
            column.totals[row.currency] = column.totals.get(row.currency, 0) + row.amount_cents
        for column in columns.values():
            column.totals = dict(sorted(column.totals.items()))
        return Board([c for c in columns.values() if c.stage.kind == "open"],
                     next(c for c in columns.values() if c.stage.kind == "won"),
                     next(c for c in columns.values() if c.stage.kind == "lost"))

    def of_contact(self, slug: str, uid: str, defaults: DefaultNames = DefaultNames()) -> list[Deal]:
        """The deals of contact ``uid``, oldest first. Raises NotFound."""
        stages = {s.id: s for s in self.stages(slug, defaults)}
        rows = self.stores.handle(slug).read_sync("deal list", lambda conn: store.deals_of(conn, uid))
        names = self.contacts.names(slug)
        return [_deal(r, stages[r.stage_id], names) for r in rows]

    def get(self, slug: str, deal_id: str) -> Deal:
        """Deal ``deal_id`` of ``slug``. Raises NotFound."""
        def read(conn: sqlite3.Connection):
            return store.get(conn, deal_id), {s.id: s for s in _ordered(store.stages(conn))}

        row, stages = self.stores.handle(slug).read_sync("deal get", read)
        if row is None:
            raise NotFound("no such deal")
        return _deal(row, stages[row.stage_id], self.contacts.names(slug))

    # -- writing -----------------------------------------------------------------

    def create(self, slug: str, contact_uid: str, values: store.DealValues, *, actor: str) -> str:
        """A new deal of contact ``contact_uid``; returns its id. Its
        contact's timeline records it. Checks: :func:`check`; the contact
        exists; at most :data:`MAX_DEALS` deals. Raises InvalidInput,
        LimitExceeded, NotFound."""
        values = check(values)

        def write(conn: sqlite3.Connection) -> str:
            _require_contact(conn, slug, contact_uid)
            stage = self._check_refs(conn, values)
            if store.count(conn) >= MAX_DEALS:
                raise LimitExceeded(f"at most {MAX_DEALS} deals")
            deal_id = store.add(conn, contact_uid, values)
            crm.add_activity(conn, contact_uid, actor, "deal", _timeline_text(values.title, stage.name))
            directory.audit(conn, actor, "deal.add", f"{deal_id} {contact_uid}")
            return deal_id

        deal_id = self.stores.handle(slug).write_sync("deal add", write)
        log.info("%s: %s added deal %s", slug, actor, deal_id)
        return deal_id

    def update(self, slug: str, deal_id: str, values: store.DealValues, *, actor: str) -> None:
        """Set every field of deal ``deal_id``; a change of stage goes to
        its contact's timeline. Checks as :meth:`create`. Raises
        InvalidInput, NotFound."""
        values = check(values)

        def write(conn: sqlite3.Connection) -> None:
            old = store.get(conn, deal_id)
            if old is None:
                raise NotFound("no such deal")
            stage = self._check_refs(conn, values)
            store.update(conn, deal_id, values)
            if old.stage_id != values.stage_id:
                crm.add_activity(conn, old.contact_uid, actor, "deal", _timeline_text(values.title, stage.name))
            directory.audit(conn, actor, "deal.edit", deal_id)

        self.stores.handle(slug).write_sync("deal edit", write)

    def move(self, slug: str, deal_id: str, stage_id: int, *, actor: str) -> bool:
        """Put deal ``deal_id`` at stage ``stage_id``, recorded in its
        contact's timeline; returns whether it moved. Raises InvalidInput
        (no such stage), NotFound."""
        def write(conn: sqlite3.Connection) -> bool:
            old = store.get(conn, deal_id)
            if old is None:
                raise NotFound("no such deal")
            if old.stage_id == stage_id:
                return False
            values = store.DealValues(old.title, old.amount_cents, old.currency, stage_id, old.close_date,
                                      old.probability, old.owner)
            stage = self._check_refs(conn, values, owner=False)
            store.update(conn, deal_id, values)
            crm.add_activity(conn, old.contact_uid, actor, "deal", _timeline_text(old.title, stage.name))
            directory.audit(conn, actor, "deal.stage", f"{deal_id} {stage_id}")
            return True

        return self.stores.handle(slug).write_sync("deal stage", write)

    def delete(self, slug: str, deal_id: str, *, actor: str) -> None:
        """Delete deal ``deal_id`` (its timeline entries stay). Raises NotFound."""
        def write(conn: sqlite3.Connection) -> None:
            if store.get(conn, deal_id) is None:
                raise NotFound("no such deal")
            store.delete(conn, deal_id)
            directory.audit(conn, actor, "deal.delete", deal_id)

        self.stores.handle(slug).write_sync("deal delete", write)

    @staticmethod
    def _check_refs(conn: sqlite3.Connection, values: store.DealValues, owner: bool = True) -> store.StageRow:
        stage = next((s for s in store.stages(conn) if s.id == values.stage_id), None)
        if stage is None:
            raise InvalidInput("stage: no such stage")
        if owner and directory.get_user(conn, values.owner) is None:
            raise InvalidInput("owner: not one of the business's people")
        return stage

    # -- my day --------------------------------------------------------------------

    def my_day(self, slug: str, address: str, today: dt.date) -> MyDay:
        """The open follow-ups ``address`` added that are due on ``today``
        or before (oldest due first), and the newest :data:`RECENT`
        entries of every contact's timeline. Raises NotFound."""
        def read(conn: sqlite3.Connection):
            recent = crm.recent(conn, RECENT)
            tasks = dav.get_collection(conn, f"{slug}/{FOLLOWUPS}")
            todos = []
            if tasks is not None:
                for todo_uid, contact_uid in crm.followups_by(conn, address):
                    href = crm.href_of_uid(conn, tasks.id, todo_uid)
                    if href is not None:
                        todos.append((todo_uid, contact_uid, vtodo.read(dav.get_items(conn, tasks.id, [href])[href].text)))
            return recent, todos

        recent, todos = self.stores.handle(slug).read_sync("my day", read)
        names = self.contacts.names(slug)
        day = today.isoformat()
        due = sorted((DueFollowUp(uid, contact, names.get(contact, ""), todo.summary, todo.due, todo.due < day)
                      for uid, contact, todo in todos if todo.due and not todo.done and todo.due <= day),
                     key=lambda f: (f.due, f.summary))
        return MyDay(due, [RecentActivity(uid, names.get(uid, ""), time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.at)),
                                          a.actor, a.kind, a.text) for uid, a in recent])


def _require_contact(conn: sqlite3.Connection, slug: str, uid: str) -> None:
    book = dav.get_collection(conn, f"{slug}/{BOOK}")
    if book is None or crm.href_of_uid(conn, book.id, uid) is None:
        raise NotFound("no such contact")


def _ordered(rows: list[store.StageRow]) -> list[Stage]:
    rank = {"open": 0, "won": 1, "lost": 2}
    return [Stage(r.id, r.name, r.kind, r.deals) for r in sorted(rows, key=lambda r: (rank[r.kind], r.position, r.id))]


def _deal(row: store.DealRow, stage: Stage, names: dict[str, str]) -> Deal:
    return Deal(row.id, row.contact_uid, names.get(row.contact_uid, ""), row.title, row.amount_cents, row.currency,
                stage, row.close_date, row.probability, row.owner)


def _timeline_text(title: str, stage: str) -> str:
    return f"{title} → {stage}"


def _stage_name(name: str, stage_id: int) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_STAGE_NAME or _LINE_CONTROL_RE.search(name):
        raise InvalidInput(f"stage {stage_id}: 1 to {MAX_STAGE_NAME} printable characters")
    return name


def check(values: store.DealValues) -> store.DealValues:
    """``values`` trimmed and within the limits: a title of 1 to
    :data:`MAX_TITLE` printable characters, 0 to :data:`MAX_AMOUNT_CENTS`
    cents, a three-letter currency code, a close date YYYY-MM-DD (years
    1900-2999) or none, a probability of 0 to 100. Each message starts
    with the field's name. Raises InvalidInput."""
    title = " ".join(values.title.split())
    if not title or len(title) > MAX_TITLE or _LINE_CONTROL_RE.search(title):
        raise InvalidInput(f"title: 1 to {MAX_TITLE} printable characters")
    if not 0 <= values.amount_cents <= MAX_AMOUNT_CENTS:
        raise InvalidInput(f"amount: 0 to {MAX_AMOUNT_CENTS} cents")
    currency = values.currency.strip().upper()
    if not CURRENCY_RE.fullmatch(currency):
        raise InvalidInput("currency: an ISO 4217 code such as EUR")
    if values.close_date:
        try:
            close = dt.date.fromisoformat(values.close_date)
        except ValueError:
            raise InvalidInput("close_date: a date YYYY-MM-DD") from None
        if not 1900 <= close.year <= 2999:
            raise InvalidInput("close_date: a date YYYY-MM-DD")
    if not 0 <= values.probability <= 100:
        raise InvalidInput("probability: 0 to 100")
    return store.DealValues(title, values.amount_cents, currency, values.stage_id, values.close_date,
                            values.probability, values.owner)
