"""Where mail goes: recipients checked one by one, and delivery into the
businesses' files.

:class:`Router` answers the questions an SMTP transaction asks (DESIGN
section 4, "Routing: SMTP by recipient domain"):

* :meth:`Router.recipient` - may this address receive mail now? It returns
  a :class:`Recipient` (the business and the user ids it reaches, through
  aliases, plus-addressing and the catch-all) or raises the error that
  becomes the RCPT reply: :class:`NotHosted` (a domain the box does not
  serve: relaying denied), ``NotFound`` (no such user), ``Suspended`` (the
  business is suspended), ``LimitExceeded`` (a mailbox is over quota),
  ``Frozen`` (the business is moving to another box).
* :meth:`Router.deliver` - put one message into every recipient's INBOX
  (or Junk): one write transaction per business file, all of them committed
  before it returns, so the caller may acknowledge only then.

``postmaster@`` every hosted domain is accepted (RFC 5321 section 4.5.1)
and reaches the business's owner unless a user or alias of that name
exists. Mail to the reports address (:attr:`Router.reports_local_part` at
any domain) that carries a DMARC aggregate report is delivered as any
other, and the report's summary is kept in the same transaction
(:mod:`appliance.dmarcreports`); a report that cannot be read is logged
and the message delivered all the same.

Which business a domain belongs to comes from the App's one catalog
(:mod:`appliance.catalog`), which reloads when the box changes and looks
again before a domain is refused.

For submitted mail the module also says who may send what: the envelope
sender and the From: header must be the user's own addresses
(:func:`check_sender`, :func:`header_senders`), within the plan's daily
limit (:func:`check_sending_limits`), and :func:`submission_write` counts
the message and queues its remote recipients in the sender's file.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from storage import directory
from storage import dkim as dkimdb
from storage import dmarcreports as dmarcdb
from storage import mail as maildb
from storage import queue as queuedb
from storage import senderlists as listdb
from storage import sieve as sievedb
from storage.database import savepoint
from storage import freeze
from storage.errors import Frozen, TenantNotFound
from storage.tenants import TenantHandle, TenantPool

from storage import names

from . import dmarcreports
from . import mime
from . import senderlists
from . import srs as srsmod
from .errors import InvalidInput, LimitExceeded, NotFound, Suspended
from .catalog import Catalog
from .mailauth import sign_message
from .sieve.actions import Filter, Rejected, reply_reason

log = logging.getLogger(__name__)


#: Messages up to this size are parsed on the loop (about 0.15 ms for 5 KB).
INLINE_PARSE_BYTES = 32 * 1024


class NotHosted(NotFound):
    """The recipient's domain is not served by this box (relaying denied)."""


@dataclass(frozen=True)
class Recipient:
    """A recipient accepted at RCPT time."""

    address: str
    slug: str
    user_ids: tuple[int, ...]
    #: Those of ``user_ids`` that had an active Sieve script at RCPT time:
    #: mail for the others is delivered without reading any script.
    rules: tuple[int, ...] = ()
    #: What the business's and users' sender lists say of the envelope
    #: sender (:mod:`appliance.senderlists`: ``block``, ``allow`` or None),
    #: when :meth:`Router.recipient` was given one.
    listed: str | None = None


@dataclass(frozen=True)
class Returned:
    """A recipient accepted at RCPT time that is an SRS address of ours
    standing for an outside one: the message (a bounce of mail we
    forwarded) is sent on to ``original`` from the queue of ``slug``."""

    address: str
    slug: str
    original: str


@dataclass(frozen=True)
class Delivered:
    """One copy stored: what IMAP IDLE sessions are told about."""

    slug: str
    user_id: int
    mailbox_id: int


def normalise_recipient(address: str) -> str:
    """A recipient address as the directory spells it, or InvalidInput.

    Quoted local parts, several ``@`` and source routes are refused by
    :func:`storage.names.address`; ``%`` and ``!`` are refused here
    because they are the classic relay forms (``user%other@hosted``,
    ``other!user@hosted``): RFC 5321 section 3.6.1 lets a server refuse
    them, and a business never needs them.
    """
    clean = names.address(address)
    local = clean.rpartition("@")[0]
    if "%" in local or "!" in local:
        raise InvalidInput(f"invalid address {address!r}")
    return clean


def _deliver_in(
    conn: sqlite3.Connection,
    raw: bytes,
    parsed: maildb.Parsed,
    user_ids: Iterable[int],
    mailbox: str = "INBOX",
    plans: dict[int, Any] | None = None,
    carry: Callable[[sqlite3.Connection, Any, int], Any] | None = None,
) -> tuple[list[tuple[int, int]], list[int], int]:
    """Store ``raw`` once and file it in each user's ``mailbox`` (one
    transaction); a user who removed that mailbox gets it in INBOX. A user
    with a plan from their Sieve script gets what ``carry(conn, plan,
    body_id)`` does instead (see :mod:`appliance.sieve.actions`).

    Returns ``([(user_id, mailbox_id)], [user ids over quota], messages
    queued)``. A user found over quota here (the quota was fine at RCPT and
    at the check before commit, so only a race gets here) is skipped and
    logged rather than failing the other recipients' copies.
    """
    body_id = maildb.store_body(conn, raw, parsed)
    stored: list[tuple[int, int]] = []
    over: list[int] = []
    queued = 0
    for user_id in sorted(set(user_ids)):
        try:
            with savepoint(conn, "deliver_user"):
                plan = plans.get(user_id) if plans else None
                if plan is not None and carry is not None:
                    done = carry(conn, plan, body_id)
                    stored.extend(done.stored)
                    queued += done.queued
                    continue
                try:
                    mailbox_id, _uid = maildb.deliver(conn, user_id, body_id, mailbox)
                except NotFound:
                    mailbox_id, _uid = maildb.deliver(conn, user_id, body_id)
        except LimitExceeded:
            over.append(user_id)
            continue
        stored.append((user_id, mailbox_id))
    return stored, over, queued


def _recipient_check(
    conn: sqlite3.Connection, address: str, size: int, sender: str | None = None,
) -> tuple[str, list[int], list[int], list[int], str | None]:
    marker = freeze.marker(conn)
    if marker is not None:
        # Refused at RCPT, not only when the delivery commits: a message to
        # businesses in two files must not be stored in one and refused in
        # the other (the sender's retry would store it twice).
        raise Frozen(marker.target, bool(marker.moved))
    tenant = directory.get_tenant(conn)
    user_ids = directory.resolve(conn, address)
    if not user_ids and address.partition("@")[0] == "postmaster":
        # RFC 5321 section 4.5.1: every domain must accept postmaster.
        user_ids = directory.owner_ids(conn)
    over = []
    for user_id in user_ids:
        used, limit = maildb.quota_usage(conn, user_id)
        if limit and used + size > limit:
            over.append(user_id)
    return (tenant.state, user_ids, over, list(sievedb.active_scripts(conn, user_ids)),
            _listed(conn, user_ids, sender) if sender is not None and user_ids else None)


def _listed(conn: sqlite3.Connection, user_ids: Sequence[int], sender: str) -> str | None:
    """The sender lists' verdict, in the recipient check's read; None
    (decide nothing) when they cannot be read, like any unreadable list."""
    candidates = senderlists.keys(sender)
    if not candidates:
        return None
    try:
        return senderlists.verdict(listdb.matching(conn, user_ids, candidates), user_ids)
    except sqlite3.Error:
        log.exception("sender lists unreadable for <%s>", sender)
        return None


def _quota_check(conn: sqlite3.Connection, user_ids: Iterable[int], size: int) -> list[int]:
    over = []
    for user_id in set(user_ids):
        used, limit = maildb.quota_usage(conn, user_id)
        if limit and used + size > limit:
            over.append(user_id)
    return over


class Router:
    """Recipient checks and local delivery. See module doc."""

    def __init__(
        self,
        catalog: Catalog,
        tenants: TenantPool,
        publish: Callable[[str, int, int], Any] | None = None,
        sieve: Filter | None = None,
        srs: srsmod.Srs | None = None,
    ):
        self.catalog = catalog
        self.tenants = tenants
        self.publish = publish
        #: Runs the recipients' mail rules (None: no rules run).
        self.sieve = sieve
        #: Checks the return addresses of forwarded mail (None: none are).
        self.srs = srs
        #: Told the business whose outbound queue got a message (redirects, replies).
        self.wake: Callable[[str], Any] | None = None
        #: Counts messages received and sent for billing
        #: (:class:`appliance.usagemeter.UsageMeter`); None: not counted.
        self.meter: Any = None
        #: The local part that receives DMARC aggregate reports at every
        #: domain (``[dns] reports_local_part``); "" reads none.
        self.reports_local_part = ""
        self._handles: dict[str, TenantHandle] = {}

    async def refresh(self) -> None:
        """The catalog changed: forget the cached handles."""
        self._handles = {}

    def handle(self, slug: str) -> TenantHandle:
        """The business's handle, cached (a removed business's file is gone,
        so a stale handle fails with TenantNotFound on its next use)."""
        handle = self._handles.get(slug)
        if handle is None:
            handle = self._handles[slug] = self.tenants.handle(slug)
        return handle

    async def slug_for(self, domain: str) -> str | None:
        business = await self.catalog.find(domain)
        return business.slug if business is not None else None

    async def is_hosted(self, domain: str) -> bool:
        """Whether ``domain`` is one of the box's (for the sender checks).

        From memory once the catalog is loaded: the sender checks ask about
        every outside domain, and a domain added within the last second
        (before the generation watcher reloads) is not worth a box read per
        message. Recipients always go through :meth:`slug_for`."""
        if not self.catalog.stale:
            return self.catalog.get(domain) is not None
        return await self.slug_for(domain.lower()) is not None

    async def recipient(self, address: str, size: int = 0, sender: str | None = None) -> Recipient:
        """Check one recipient at RCPT time. See module doc for the errors.
        With ``sender`` (the envelope sender, "" for the null one) the
        recipient's sender lists are read in the same snapshot
        (:attr:`Recipient.listed`)."""
        try:
            clean = normalise_recipient(address)
        except InvalidInput:
            # Not an address any business of ours could have: if it claims a
            # domain of ours it is unknown, anything else is relaying.
            domain = address.rpartition("@")[2].lower()
            if domain and await self.slug_for(domain):
                raise NotFound("no such user") from None
            raise NotHosted("relaying denied") from None
        domain = clean.rpartition("@")[2]
        slug = await self.slug_for(domain)
        if slug is None:
            raise NotHosted("relaying denied")
        try:
            handle = self.handle(slug)
            # A few indexed lookups: on the loop (see Database.read_quick).
            state, user_ids, over, rules, listed = await handle.read_quick(
                "smtp rcpt", lambda c: _recipient_check(c, clean, size, sender))
        except TenantNotFound:
            raise NotHosted("relaying denied") from None
        if not user_ids:
            raise NotFound("no such user")
        if state == "suspended":
            raise Suspended("mailbox temporarily unavailable")
        if over:
            raise LimitExceeded("mailbox full")
        return Recipient(clean, slug, tuple(user_ids), tuple(rules), listed)

    async def returned(self, address: str, size: int = 0, sender: str | None = None) -> Recipient | Returned | None:
        """For an SRS address (:mod:`appliance.srs`) of a hosted domain: the
        local recipient it stands for, or a :class:`Returned` when that is
        outside; None for any other address (ask :meth:`recipient`).
        Raises SrsInvalid for an address we did not make or that expired,
        and what :meth:`recipient` raises for a local original."""
        if self.srs is None or not self.srs.enabled or not srsmod.looks_like(address):
            return None
        domain = address.rpartition("@")[2].lower()
        slug = await self.slug_for(domain)
        if slug is None:
            return None
        original = self.srs.reverse(address)
        try:
            return await self.recipient(original, size, sender)
        except NotHosted:
            return Returned(address, slug, original)

    async def send_back(self, raw: bytes, returned: Sequence[Returned], mail_from: str, *, lifetime: float) -> None:
        """Queue ``raw`` for the original senders of ``returned``, in the
        outbound queue of each SRS address's business; returns after every
        commit.

        The copy sent on carries a DKIM signature of the SRS address's
        domain (made in a worker thread before the write), so the original
        sender's server sees who handed it the bounce; the bounce's own
        signatures, if any, are kept."""
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for item in returned:
            key = (item.slug, item.address.rpartition("@")[2].lower())
            if item.original not in groups[key]:
                groups[key].append(item.original)
        for (slug, domain), originals in groups.items():
            handle = self.handle(slug)
            key = await handle.read("dkim key", lambda c, d=domain: dkimdb.key_for(c, d))
            signed = raw if key is None else await asyncio.to_thread(sign_message, raw, key)
            await handle.write("srs send back", lambda c, o=originals, m=signed: queuedb.enqueue(
                c, mail_from, o, m, user_id=None, lifetime=lifetime, smtputf8=not m.isascii()))
            if self.wake is not None:
                self.wake(slug)

    async def check_quota(self, recipients: Sequence[Recipient], size: int) -> None:
        """Raise LimitExceeded if a copy of ``size`` bytes would overfill a mailbox.

        Needed before a delivery into several files (so none is committed
        when one is full); a delivery into one file checks inside its own
        transaction (:meth:`deliver` with ``check_quota``).
        """
        for slug, user_ids in _by_tenant(recipients).items():
            handle = self.handle(slug)
            over = await handle.read("smtp quota", lambda c, u=user_ids: _quota_check(c, u, size))
            if over:
                raise LimitExceeded("mailbox full")

    async def deliver(
        self,
        raw: bytes,
        recipients: Sequence[Recipient],
        *,
        extra: tuple[str, Callable[[sqlite3.Connection], Any]] | None = None,
        check_quota: bool = True,
        mailbox: str = "INBOX",
        mail_from: str | None = None,
        reject_single: bool = False,
    ) -> list[Delivered]:
        """File ``raw`` into every recipient's ``mailbox`` (INBOX, or Junk
        for mail a DMARC policy quarantines); returns after every commit.

        The businesses' transactions run concurrently, one per file (each
        one group-committed with whatever else that file's writer has
        queued). With ``check_quota`` a copy that would overfill a mailbox
        raises LimitExceeded before anything is written: checked inside the
        transaction when there is one file, before all of them otherwise.
        ``extra`` is ``(slug, fn)``: a write that must share the
        transaction of that business (the sender's queue entry and usage
        counters for submitted mail); its exception fails the delivery.
        If any transaction fails, the exception propagates and the caller
        must not acknowledge; copies already committed elsewhere stay (a
        retry may duplicate them, nothing is lost).

        With ``mail_from`` (the envelope sender, "" for the null one) the
        recipients' active Sieve scripts run on mail for INBOX (not on mail
        a DMARC policy sends to Junk). With ``reject_single``, a script that
        rejects the message when it has a single recipient raises
        :class:`appliance.sieve.actions.Rejected` before anything is
        written, so the SMTP dialogue can refuse it (RFC 5429 section 2.1).
        """
        groups = _by_tenant(recipients)
        # Parsed once for every business, not on the businesses' single
        # writer threads; a large message in a worker thread, not on the loop
        # (a small one takes less than the hand-over to a thread costs it).
        if len(raw) <= INLINE_PARSE_BYTES:
            parsed = mime.for_storage(raw)
        else:
            parsed = await asyncio.to_thread(mime.for_storage, raw)
        report_for = {rcpt.slug for rcpt in recipients
                      if dmarcreports.is_reports_address(rcpt.address, self.reports_local_part)}
        report = await self._report(raw, parsed.structure, report_for) if report_for else None
        if extra is not None:
            groups.setdefault(extra[0], [])
        check_inside = check_quota and len(groups) == 1
        if check_quota and len(groups) > 1:
            await self.check_quota(recipients, len(raw))

        run_rules = self.sieve is not None and mail_from is not None and mailbox == "INBOX"
        single = reject_single and sum(len(ids) for ids in groups.values()) == 1

        async def one(slug: str, user_ids: list[int]) -> list[Delivered]:
            extra_fn = extra[1] if extra is not None and extra[0] == slug else None
            plans: dict[int, Any] = {}
            if run_rules and user_ids:
                plans = await self._plans(slug, raw, recipients, user_ids, mail_from or "")
            if single and plans:
                plan = next(iter(plans.values()))
                if plan.outcome.reject is not None:
                    log.info("%s: user %d: message refused by their rules", slug, plan.user_id)
                    raise Rejected(reply_reason(plan.outcome.reject))
            carry = None
            if plans:
                sieve = self.sieve
                assert sieve is not None

                def carry(conn: sqlite3.Connection, plan: Any, body_id: int) -> Any:
                    return sieve.carry_out(conn, slug, plan, body_id, mail_from or "")

            def write(conn: sqlite3.Connection) -> tuple[list[tuple[int, int]], list[int], int]:
                if check_inside and _quota_check(conn, user_ids, len(raw)):
                    raise LimitExceeded("mailbox full")
                if extra_fn is not None:
                    extra_fn(conn)
                if not user_ids:
                    return [], [], 0
                done = _deliver_in(conn, raw, parsed, user_ids, mailbox, plans, carry)
                if report is not None and slug in report_for:
                    _keep_report(conn, slug, report)
                return done

            stored, over, queued = await self.handle(slug).write("smtp deliver", write)
            if queued and self.wake is not None:
                self.wake(slug)
            if self.meter is not None:
                # Once per message and business, however many of its people got it.
                if stored:
                    self.meter.message_received(slug)
                if extra_fn is not None:
                    self.meter.message_sent(slug)
            for user_id in over:
                log.warning("%s: user %d went over quota during delivery; copy not stored", slug, user_id)
            return [Delivered(slug, user_id, mailbox_id) for user_id, mailbox_id in stored]

        results = await asyncio.gather(*(one(slug, ids) for slug, ids in groups.items()))
        delivered = [d for group in results for d in group]
        if self.publish is not None:
            for d in delivered:
                try:
                    self.publish(d.slug, d.user_id, d.mailbox_id)
                except Exception:  # noqa: BLE001 - a listener must not undo a delivery
                    log.exception("%s: new-mail event for user %d failed", d.slug, d.user_id)
        return delivered


    async def _report(self, raw: bytes, structure: str, slugs: set[str]) -> dmarcreports.Report | None:
        """The DMARC aggregate report ``raw`` (for the reports address of
        ``slugs``) carries, read in a worker thread; None when it carries
        none or one that cannot be read (logged once)."""
        who = ",".join(sorted(slugs))
        try:
            return await asyncio.to_thread(dmarcreports.read, raw, structure)
        except dmarcreports.BadReport as exc:
            log.info("%s: DMARC report not read: %s", who, exc)
        except Exception:  # noqa: BLE001 - a report must never fail a delivery
            log.exception("%s: DMARC report not read", who)
        return None

    async def _plans(self, slug: str, raw: bytes, recipients: Sequence[Recipient], user_ids: list[int],
                     mail_from: str) -> dict[int, Any]:
        """What the active scripts of ``user_ids`` say; a failure here keeps
        the message in INBOX. The scripts are read on the loop (a few
        lookups, see Database.read_quick) and run there too unless one may
        sign a message (vacation, redirect, reject: a DKIM signature is
        milliseconds of CPU), which runs in a worker thread."""
        sieve = self.sieve
        assert sieve is not None
        rcpt_of: dict[int, str] = {}
        for rcpt in recipients:
            if rcpt.slug == slug:
                for user_id in rcpt.user_ids:
                    rcpt_of.setdefault(user_id, rcpt.address)
        if not any(rcpt.rules for rcpt in recipients if rcpt.slug == slug):
            # Nobody had an active script at RCPT time: no read for rules.
            return {}
        try:
            scripts = await self.handle(slug).read_quick("sieve scripts", lambda c: sieve.read_scripts(c, user_ids))
            if not scripts:
                return {}
            if any(sieve.may_sign(script) for script in scripts.values()):
                return await asyncio.to_thread(sieve.evaluate_all, slug, raw, scripts, rcpt_of, mail_from)
            return sieve.evaluate_all(slug, raw, scripts, rcpt_of, mail_from)
        except Exception:  # noqa: BLE001 - mail rules must never lose mail
            log.exception("%s: mail rules could not run; message kept in INBOX", slug)
            return {}


def _keep_report(conn: sqlite3.Connection, slug: str, report: dmarcreports.Report) -> None:
    """Store ``report``'s summary in the delivery's transaction, if its
    policy domain is one of the business's; a failure rolls back only this
    (the message's copies stay) and is logged."""
    meta = report.meta
    try:
        with savepoint(conn, "dmarc_report"):
            domains = {d["name"] for d in directory.list_domains(conn)}
            if meta.domain not in domains:
                log.info("%s: DMARC report %r of %s is about %s, not a domain of the business; not kept",
                         slug, meta.report_id, meta.org_name, meta.domain)
                return
            if dmarcdb.store(conn, meta, report.records) is None:
                log.info("%s: DMARC report %r of %s kept already", slug, meta.report_id, meta.org_name)
            else:
                log.info("%s: DMARC report %r of %s for %s kept (%d records)", slug, meta.report_id,
                         meta.org_name, meta.domain, len(report.records))
    except Exception:  # noqa: BLE001 - a report must never fail a delivery
        log.exception("%s: DMARC report %r of %s not kept", slug, meta.report_id, meta.org_name)


def _by_tenant(recipients: Iterable[Recipient]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for rcpt in recipients:
        for user_id in rcpt.user_ids:
            if user_id not in groups[rcpt.slug]:
                groups[rcpt.slug].append(user_id)
    return dict(groups)


# -- submission: who may send what --------------------------------------------


class SendingLimit(LimitExceeded):
    """The user or the business has sent its messages for today."""


class SenderRefused(InvalidInput):
    """The envelope sender or the From: header is not the user's own."""


def sent_counters(user_id: int) -> tuple[str, str]:
    """Usage counter names: the business's and one user's messages sent."""
    return "messages_sent", f"messages_sent:user:{user_id}"


#: The counter of messages with outside recipients, which a signed-up
#: business's hold limits (``directory.TenantRow.outbound_hold``).
OUTSIDE_COUNTER = "messages_outside"


def check_sending_limits(conn: sqlite3.Connection, user_id: int, user_limit: int, *, bump: bool,
                         outside: bool = False) -> None:
    """Raise SendingLimit if today's quota is used up; with ``bump``, count one.

    The business's limit is its plan's ``messages_per_day``; ``user_limit``
    (0: none beyond the plan's) caps one user; a business made by sign-up
    and not yet lifted may also send only its ``outbound_hold`` of messages
    with ``outside`` recipients. Run with ``bump`` inside the write that
    queues the message, so the count and the queue entry commit together.
    """
    tenant = directory.get_tenant(conn)
    business_limit = directory.limits(conn).messages_per_day
    business, user = sent_counters(user_id)
    if bump and outside and tenant.outbound_hold is not None:
        if directory.bump_usage(conn, OUTSIDE_COUNTER) > tenant.outbound_hold:
            raise SendingLimit("the business's daily limit of messages to outside addresses is reached")
    if bump:
        if directory.bump_usage(conn, business) > business_limit:
            raise SendingLimit("the business's daily sending limit is reached")
        if directory.bump_usage(conn, user) > (user_limit or business_limit):
            raise SendingLimit("your daily sending limit is reached")
        return
    used = directory.usage_on(conn, _today(), (business, user))
    if used.get(business, 0) >= business_limit or used.get(user, 0) >= (user_limit or business_limit):
        raise SendingLimit("daily sending limit reached")


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


async def senders_of(principal: Any) -> tuple[str, ...]:
    """The addresses ``principal`` may send as: its own and its aliases'."""
    return tuple(await principal.tenant.read("smtp senders", lambda c: directory.addresses_of(c, principal.user_id)))


async def check_sending(principal: Any, user_limit: int) -> None:
    """Raise SendingLimit if the user or the business has sent enough today."""
    await principal.tenant.read(
        "smtp limits", lambda c: check_sending_limits(c, principal.user_id, user_limit, bump=False)
    )


def submission_write(
    user_id: int, user_limit: int, mail_from: str, remote: Sequence[str], message: bytes, *, lifetime: float, smtputf8: bool
) -> Callable[[sqlite3.Connection], None]:
    """The write that accounts for a submitted message in the sender's file:
    count it against the sending limits and queue it for its remote
    recipients, in the transaction that also delivers its local copies."""

    def write(conn: sqlite3.Connection) -> None:
        check_sending_limits(conn, user_id, user_limit, bump=True, outside=bool(remote))
        if remote:
            queuedb.enqueue(conn, mail_from, remote, message, user_id=user_id, lifetime=lifetime, smtputf8=smtputf8)

    return write


def check_sender(address: str, allowed: Iterable[str]) -> str:
    """The normalised envelope sender if it is one of ``allowed``, else SenderRefused."""
    try:
        clean = names.address(address)
    except InvalidInput:
        raise SenderRefused("sender address is not one of yours") from None
    if clean not in set(allowed):
        raise SenderRefused("sender address is not one of yours")
    return clean


#: The fields that name who a message is from, as mail clients show them.
SENDER_FIELDS = ("from", "sender", "resent-from", "resent-sender")
#: At most this many sender fields in one submitted message.
MAX_SENDER_FIELDS = 10
#: A header field line: field-name (printable ASCII but ":", no space) ":".
_FIELD = re.compile(rb"^[!-9;-~]+:")


def header_senders(raw: bytes) -> list[str]:
    """The addresses of the From:, Sender:, Resent-From: and Resent-Sender:
    fields, From: first, parsed strictly; raises SenderRefused.

    The header block must be unambiguous, because mail clients and the
    parser here would read an ambiguous one differently: every line before
    the first empty line is a field (``name:``, no space before the colon,
    so no obsolete ``From :``) or the continuation of one - a line that is
    neither would end the header for one reader and not for another, and a
    ``From:`` after it would be shown by some. Exactly one From:, at most
    one Sender:, each naming exactly one mailbox.

    ``email.utils.parseaddr`` on Python 3.11 can be made to return an
    address other than the one a mail client shows (CVE-2023-27043), so
    each value goes through the RFC 5322 parser of ``email.headerregistry``
    and anything it reports a defect for is refused: no groups, no defects.
    """
    from email import policy
    from email.parser import BytesHeaderParser

    end = raw.find(b"\r\n\r\n")
    head = raw if end < 0 else raw[: end + 2]
    lines = head.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    names_seen: list[str] = []
    for index, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and index > 0:
            continue
        m = _FIELD.match(line)
        if m is None:
            raise SenderRefused("the header has a line that is not a header field (ambiguous sender)")
        names_seen.append(m.group(0)[:-1].decode("ascii").lower())
    counts = {name: names_seen.count(name) for name in SENDER_FIELDS}
    if counts["from"] != 1 or counts["sender"] > 1:
        raise SenderRefused("a message needs exactly one From: header")
    if sum(counts.values()) > MAX_SENDER_FIELDS:
        raise SenderRefused("too many sender header fields")
    try:
        msg = BytesHeaderParser(policy=policy.SMTPUTF8).parsebytes(head)
        found = []
        for field in ("From", "Sender", "Resent-From", "Resent-Sender"):
            for header in msg.get_all(field) or []:
                if header.defects or len(header.groups) != 1 or header.groups[0].display_name is not None:
                    raise SenderRefused(f"the {field}: header cannot be parsed")
                mailboxes = header.addresses
                if len(mailboxes) != 1 or not mailboxes[0].username or not mailboxes[0].domain:
                    raise SenderRefused(f"the {field}: header must name exactly one address")
                found.append(names.address(mailboxes[0].addr_spec))
    except SenderRefused:
        raise
    except Exception:  # noqa: BLE001 - any parser failure is a refusal
        raise SenderRefused("the From: header cannot be parsed") from None
    if len(found) != sum(counts.values()):
        # The parser saw other fields than the line scan: never guess.
        raise SenderRefused("the sender header fields are ambiguous")
    return found

