"""Running the recipients' scripts at delivery, and carrying out what they
say inside the delivery's own transaction.

:class:`Filter` is what :class:`appliance.delivery.Router` asks, once per
business file and message:

1. :meth:`Filter.plan` (before the write): reads the active scripts of the
   users reached, then parses (cached by text) and evaluates them in a
   worker thread, never on the loop; returns a :class:`Plan` per user that
   has a script.
2. :meth:`Filter.carry_out` (inside the write): files the copies (creating
   a folder only for ``:create``, INBOX otherwise), queues redirects and
   replies in the business's outbound queue, and records vacation memory
   and redirect counts, all in the one transaction of that file.

Nothing is lost: a script that fails (it cannot be parsed any more, it
passes a limit, an action cannot be done) is logged once and the message
goes to INBOX as if there were no script. Only ``discard`` and ``reject``
store nothing, because the user asked for it.
"""

from __future__ import annotations

import collections
import email.header
import email.policy
import email.utils
import hashlib
import logging
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from typing import Any, Callable

from storage import directory
from storage import dkim as dkimdb
from storage import mail as maildb
from storage import queue as queuedb
from storage import sieve as sievedb
from storage.database import savepoint
from storage.errors import ApplianceError, LimitExceeded, NotFound

from .. import brandrules
from ..mailauth import sign_message
from .evaluate import Context, Envelope, Outcome, SieveRuntimeError, evaluate
from .parser import Command, SieveError
from .validate import compile_script

log = logging.getLogger(__name__)

#: Compiled scripts kept in memory, by the SHA-256 of their text.
CACHE_SIZE = 512
#: Longest reason text put on an SMTP reply line.
MAX_REPLY_REASON = 200


class Rejected(ApplianceError):
    """A recipient's script refused the message (RFC 5429); the text is the
    script's reason, made safe for one reply line."""


@dataclass
class Plan:
    """What one user's script decided for one message."""

    user_id: int
    address: str
    outcome: Outcome
    own: tuple[str, ...]
    script: str
    #: The vacation reply, built and DKIM-signed before the write; None
    #: when there is none to send (no vacation, or RFC 3834 says no).
    reply: bytes | None = None
    #: The copy redirects send (``Delivered-To`` added), or None when a
    #: loop is detected (the message already has the user's Delivered-To).
    redirected: bytes | None = None
    #: The refusal for a reject that could not be an SMTP reply, if any.
    refusal: bytes | None = None
    #: The envelope sender redirects go out with: the SRS address of the
    #: user's domain that stands for the original (:mod:`appliance.srs`).
    redirect_from: str = ""


@dataclass
class Carried:
    """What :meth:`Filter.carry_out` did for one user."""

    stored: list[tuple[int, int]] = field(default_factory=list)
    queued: int = 0


@dataclass(frozen=True)
class Limits:
    max_depth: int = 16
    max_actions: int = 32
    max_redirects: int = 4
    redirects_per_day: int = 200
    vacation_max_days: int = 30
    queue_lifetime: float = 5 * 86_400

    @classmethod
    def from_settings(cls, settings: Any) -> "Limits":
        s = settings.sieve
        return cls(s.max_depth, s.max_actions, s.max_redirects, s.redirects_per_day, s.vacation_max_days,
                   float(settings.smtp.queue_lifetime))


class Filter:
    """See module doc. One per daemon; thread-safe (its cache is locked)."""

    def __init__(self, limits: Limits, hostname: str, srs: Any = None, brand: Callable[[], str] | None = None,
                 metrics: Any = None):
        """``brand``: the box's brand name now, which the refusals it writes
        name; ``metrics``: an :class:`appliance.metrics.Metrics` told what
        every script decided (None: not counted)."""
        self.limits = limits
        self.metrics = metrics
        self.hostname = hostname
        #: An :class:`appliance.srs.Srs` that rewrites redirects' senders.
        self.srs = srs
        self.brand = brand or (lambda: "")
        self._cache: collections.OrderedDict[str, list[Command]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def compiled(self, text: str) -> list[Command]:
        """The script compiled (from the cache when seen before); SieveError."""
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        commands = compile_script(text, self.limits.max_depth)
        with self._lock:
            self._cache[key] = commands
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return commands

    # -- before the write ------------------------------------------------------

    @staticmethod
    def read_scripts(conn: sqlite3.Connection, user_ids: list[int]) -> dict[int, tuple]:
        """``{user_id: (script name, text, own addresses, mailbox names,
        DKIM keys by domain)}`` for the users with an active script (a read
        of the business file)."""
        out = {}
        for user_id, (name, text) in sievedb.active_scripts(conn, user_ids).items():
            boxes = maildb.mailbox_names(conn, user_id)
            own = directory.addresses_of(conn, user_id)
            keys = {}
            if _may_sign(text):
                for domain in {a.rpartition("@")[2] for a in own}:
                    keys[domain] = dkimdb.key_for(conn, domain)
            out[user_id] = (name, text, own, boxes, keys)
        return out

    @staticmethod
    def may_sign(script: tuple) -> bool:
        """Whether running a script read by :meth:`read_scripts` may build
        and sign a message (a vacation reply, a redirect, a refusal)."""
        return _may_sign(script[1])

    def evaluate_all(self, slug: str, raw: bytes, scripts: dict, rcpt_of: dict[int, str], mail_from: str) -> dict[int, Plan]:
        """Run every script (in a worker thread: parsing and matching are
        CPU work). A script that fails is logged and left out, so its user
        gets the message in INBOX."""
        # Only the header block: tests read headers, and the body may be large.
        end = raw.find(b"\r\n\r\n")
        message = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw if end < 0 else raw[: end + 4])
        plans = {}
        for user_id, (name, text, own, boxes, keys) in scripts.items():
            rcpt = rcpt_of.get(user_id) or own[0]
            try:
                commands = self.compiled(text)
                ctx = Context(message, Envelope(mail_from, rcpt), len(raw), boxes)
                outcome = evaluate(commands, ctx, max_actions=self.limits.max_actions,
                                   max_redirects=self.limits.max_redirects)
            except (SieveError, SieveRuntimeError) as exc:
                log.warning("%s: user %d: sieve script %r failed, message kept in INBOX: %s", slug, user_id, name, exc)
                self._count(None)
                continue
            except Exception:  # noqa: BLE001 - a script must never lose mail
                log.exception("%s: user %d: sieve script %r crashed, message kept in INBOX", slug, user_id, name)
                self._count(None)
                continue
            self._count(outcome)
            plan = Plan(user_id, rcpt, outcome, tuple(own), name)
            # Everything that needs the message parsed or built is done
            # here, so the business's writer thread only stores and queues.
            if outcome.vacation is not None:
                plan.reply = self._vacation_reply(slug, plan, message, mail_from, keys)
            if outcome.redirects:
                delivered_to = {email.utils.parseaddr(v)[1].lower() for v in message.get_all("Delivered-To") or []}
                if not delivered_to & {a.lower() for a in own}:
                    plan.redirected = self._redirected(rcpt, raw, keys)
                    domain = rcpt.rpartition("@")[2].lower()
                    plan.redirect_from = self.srs.forward(mail_from, domain) if self.srs is not None else mail_from
            if outcome.reject is not None and mail_from and not _auto_submitted(message):
                plan.refusal = build_refusal(message, rcpt, mail_from, outcome.reject, self.hostname,
                                             brand=self.brand())
                key = keys.get(rcpt.rpartition("@")[2].lower())
                if key is not None:
                    # From the recipient's domain and signed by it: aligned
                    # for DMARC at the sender's server.
                    plan.refusal = sign_message(plan.refusal, key)
            plans[user_id] = plan
        return plans

    def _count(self, outcome: Outcome | None) -> None:
        if self.metrics is not None:
            self.metrics.sieve_outcome(outcome)

    @staticmethod
    def _redirected(rcpt: str, raw: bytes, keys: dict) -> bytes:
        """The copy a redirect sends: ``Delivered-To`` the user, and
        DKIM-signed by the user's domain when it has a key, so the
        destination can tell who forwarded it (the original signature,
        if any, is kept and may still verify)."""
        copy = f"Delivered-To: {rcpt}\r\n".encode() + _without_return_path(raw)
        key = keys.get(rcpt.rpartition("@")[2].lower())
        return sign_message(copy, key) if key is not None else copy

    def _vacation_reply(self, slug: str, plan: Plan, headers: Message, mail_from: str, keys: dict) -> bytes | None:
        """The reply to send if RFC 3834 / RFC 5230 allow one, DKIM-signed
        with the key of the sending address's domain; None otherwise."""
        vac = plan.outcome.vacation
        assert vac is not None
        # RFC 5230 section 4.5: the user's addresses, those of :addresses,
        # and the envelope recipient (a plus address, say).
        own = {a.lower() for a in plan.own} | {a.lower() for a in vac.addresses} | {plan.address.lower()}
        why = no_reply_reason(headers, mail_from, own)
        if why:
            log.info("%s: user %d: no vacation reply to <%s>: %s", slug, plan.user_id, mail_from, why)
            return None
        sender = plan.address
        if vac.from_:
            wanted = email.utils.parseaddr(vac.from_)[1].lower()
            # Only an address of the user's own: a script cannot send as anyone.
            if wanted in {a.lower() for a in plan.own}:
                sender = vac.from_
        reply = build_vacation(headers, sender, mail_from, vac.reason, vac.subject, vac.mime, self.hostname)
        key = keys.get(email.utils.parseaddr(sender)[1].rpartition("@")[2].lower())
        if key is not None:
            # Signed like submitted mail, so receivers checking DMARC accept it.
            reply = sign_message(reply, key)
        return reply

    # -- inside the write ------------------------------------------------------

    def carry_out(self, conn: sqlite3.Connection, slug: str, plan: Plan, body_id: int, mail_from: str) -> Carried:
        """Do what ``plan`` says for its user in this transaction (see
        module doc); a part that cannot be done falls back to INBOX.
        LimitExceeded (quota) propagates like a plain delivery's."""
        done = Carried()
        out = plan.outcome
        keep_inbox = False
        for address in out.redirects:
            if self._redirect(conn, slug, plan, address, mail_from):
                done.queued += 1
            else:
                keep_inbox = True
        if plan.reply is not None and self._vacation(conn, slug, plan, mail_from):
            done.queued += 1
        if plan.refusal is not None:
            queuedb.enqueue(conn, "", [mail_from], plan.refusal, user_id=None, lifetime=self.limits.queue_lifetime,
                            smtputf8=not plan.refusal.isascii())
            done.queued += 1
        copies = list(out.copies)
        if keep_inbox and not any(box == "INBOX" for box, _f, _c in copies):
            copies.append(("INBOX", (), False))
        inbox_planned = any(box == "INBOX" for box, _f, _c in copies)
        for box, flags, create in copies:
            stored = self._file(conn, slug, plan.user_id, body_id, box, flags, create, inbox_planned)
            if stored is not None:
                done.stored.append(stored)
        return done

    def _file(self, conn: sqlite3.Connection, slug: str, user_id: int, body_id: int, box: str,
              flags: tuple[str, ...], create: bool, inbox_planned: bool) -> tuple[int, int] | None:
        """File one copy; a folder that cannot be used sends it to INBOX
        instead, unless INBOX gets a copy anyway (then None)."""
        flags = tuple(f for f in flags if _FLAG.match(f))
        try:
            with savepoint(conn, "sieve_file"):
                try:
                    mailbox_id, _uid = maildb.deliver(conn, user_id, body_id, box, flags)
                except NotFound:
                    if not create:
                        raise
                    # RFC 5490 section 3.1: :create makes the folder first.
                    maildb.create(conn, user_id, box)
                    mailbox_id, _uid = maildb.deliver(conn, user_id, body_id, box, flags)
            return user_id, mailbox_id
        except LimitExceeded:
            raise
        except ApplianceError as exc:
            log.info("%s: user %d: cannot file into %r (%s); kept in INBOX", slug, user_id, box, exc)
            if inbox_planned:
                return None
            mailbox_id, _uid = maildb.deliver(conn, user_id, body_id, "INBOX", flags)
            return user_id, mailbox_id

    def _redirect(self, conn: sqlite3.Connection, slug: str, plan: Plan, target: str, mail_from: str) -> bool:
        if plan.redirected is None or target.lower() in {a.lower() for a in plan.own}:
            # Loop protection: this user already had the message once.
            log.info("%s: user %d: redirect to <%s> skipped (mail loop)", slug, plan.user_id, target)
            return False
        try:
            with savepoint(conn, "sieve_redirect"):
                sievedb.count_redirect(conn, plan.user_id, self.limits.redirects_per_day)
                # RFC 5228 section 4.2 keeps the original envelope sender;
                # its SRS form names the same one and lets SPF pass.
                queuedb.enqueue(conn, plan.redirect_from or mail_from, [target], plan.redirected, user_id=None,
                                lifetime=self.limits.queue_lifetime, smtputf8=not plan.redirected.isascii())
        except LimitExceeded:
            log.warning("%s: user %d: daily redirect limit reached; kept in INBOX", slug, plan.user_id)
            return False
        log.info("%s: user %d: redirected to <%s>", slug, plan.user_id, target)
        return True

    def _vacation(self, conn: sqlite3.Connection, slug: str, plan: Plan, mail_from: str) -> bool:
        vac = plan.outcome.vacation
        assert vac is not None and plan.reply is not None
        days = min(max(vac.days, 1), self.limits.vacation_max_days)
        handle = hashlib.sha256(vac.handle.encode("utf-8", "surrogatepass")).hexdigest()
        # The :days memory is read and written in the delivery's transaction,
        # so two messages committed together cannot both get a reply.
        if not sievedb.vacation_due(conn, plan.user_id, mail_from.lower(), handle, days * 86_400):
            log.info("%s: user %d: vacation reply to <%s> already sent within %d days", slug, plan.user_id, mail_from, days)
            return False
        # RFC 3834 section 3.3 / RFC 5230 section 4.3: null envelope sender,
        # so a reply to the reply cannot come back.
        queuedb.enqueue(conn, "", [mail_from], plan.reply, user_id=None, lifetime=self.limits.queue_lifetime,
                        smtputf8=not plan.reply.isascii())
        log.info("%s: user %d: vacation reply queued for <%s>", slug, plan.user_id, mail_from)
        return True


_FLAG = re.compile(r"^\\?[!#-'*+\-.0-9;<=>?@A-Z^_`a-z|~]{1,64}$")


def _without_return_path(raw: bytes) -> bytes:
    # Return-Path is added at final delivery (RFC 5321 section 4.4); a
    # message sent on must not carry it.
    if raw[:12].lower() == b"return-path:":
        end = raw.find(b"\r\n")
        return raw[end + 2 :] if end >= 0 else raw
    return raw


def _auto_submitted(headers: Message) -> bool:
    value = (headers.get("Auto-Submitted") or "no").strip().lower()
    return not value.startswith("no")


def no_reply_reason(headers: Message, mail_from: str, own: set[str]) -> str | None:
    """Why a vacation reply must not be sent (RFC 3834 section 2, RFC 5230
    section 4.6), or None."""
    sender = mail_from.lower()
    if not sender:
        return "null sender"
    if _auto_submitted(headers):
        return "Auto-Submitted"
    if any(name.lower().startswith("list-") for name in headers.keys()):
        return "mailing list"
    if (headers.get("Precedence") or "").strip().lower() in ("bulk", "list", "junk"):
        return "Precedence"
    local = sender.rpartition("@")[0]
    if local in ("mailer-daemon", "postmaster", "listserv", "majordomo") or local.startswith("owner-") \
            or local.endswith("-request") or local.startswith("bounce"):
        return "automated sender"
    if sender in own:
        return "own address"
    recipients = {
        a.lower() for _n, a in email.utils.getaddresses(
            [str(v) for f in ("To", "Cc", "Bcc", "Resent-To", "Resent-Cc", "Resent-Bcc") for v in headers.get_all(f) or []]
        )
    }
    if not recipients & own:
        # RFC 5230 section 4.5: not addressed to the user (Bcc, list, alias of others).
        return "not addressed to the user"
    return None


def _one_line(text: str, limit: int = 998) -> str:
    return " ".join(text.split())[:limit]


def build_vacation(headers: Message, sender: str, to: str, reason: str, subject: str | None, mime: bool,
                   hostname: str) -> bytes:
    """The reply (RFC 3834 section 3, RFC 5230 section 5)."""
    original_subject = _decoded(headers.get("Subject") or "")
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = _one_line(subject if subject is not None else f"Auto: {original_subject}")
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    original_id = _one_line(headers.get("Message-ID") or "")
    if original_id:
        msg["In-Reply-To"] = original_id
        refs = _one_line(headers.get("References") or "")
        msg["References"] = _one_line(f"{refs} {original_id}".strip())
    msg["Auto-Submitted"] = "auto-replied (vacation)"
    if mime:
        # RFC 5230 section 5.8: with :mime the reason is a MIME entity.
        part = email.message_from_string(reason.replace("\r\n", "\n"), policy=email.policy.SMTP)
        msg["MIME-Version"] = "1.0"
        for name, value in part.items():
            if name.lower().startswith("content-"):
                msg[name] = value
        msg.set_payload(part.get_payload())
    else:
        msg.set_content(reason.replace("\r\n", "\n"))
    return msg.as_bytes()


def build_refusal(headers: Message, rcpt: str, to: str, reason: str, hostname: str, *, brand: str = "") -> bytes:
    """The message that tells the sender a script refused their message
    (RFC 5429 section 2.1, when it could not be refused in the SMTP
    dialogue), from the mail system of ``brand`` (the box's brand name).

    It comes from ``MAILER-DAEMON`` at the recipient's domain, whose key
    signs it (:meth:`Filter.evaluate_all`), so it passes DMARC there."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"Mail Delivery System <MAILER-DAEMON@{rcpt.rpartition('@')[2] or hostname}>"
    msg["To"] = to
    msg["Subject"] = _one_line(f"Refused: {_decoded(headers.get('Subject') or '')}")
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = email.utils.make_msgid(domain=hostname)
    msg["Auto-Submitted"] = "auto-replied"
    original_id = _one_line(headers.get("Message-ID") or "")
    if original_id:
        msg["In-Reply-To"] = original_id
    msg.set_content(f"{brandrules.mail_system(brand, hostname)}\n\nYour message to <{rcpt}> was refused by the recipient's rules:\n\n{reason}\n")
    return msg.as_bytes()


def reply_reason(reason: str) -> str:
    """A script's reject reason made safe for an SMTP reply line."""
    clean = "".join(c if 32 <= ord(c) < 127 else " " for c in reason)
    return _one_line(clean, MAX_REPLY_REASON) or "Rejected by the recipient's rules"


def _decoded(value: str) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError, UnicodeError):
        return value


def _may_sign(text: str) -> bool:
    # A word test on the script's text: a script that names none of these
    # actions cannot run them.
    return "vacation" in text or "redirect" in text or "reject" in text
