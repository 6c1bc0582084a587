"""The aiosmtpd handler: one explicit class with the wire verbs' hooks.

Business rules live in ``appliance.delivery`` (recipients, senders, limits,
local delivery), ``appliance.mailauth`` (SPF/DKIM/DMARC, signing) and
``appliance.outbound`` (the queue); this class only sequences them and turns
their errors into replies (``replies.for_error``). Each recipient gets its
own answer at RCPT time; the ``250`` after DATA is sent only after every
business file's commit returned.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import logging
import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiosmtpd.smtp import Envelope, Session

from appliance import delivery, mailauth, senderlists
from appliance import spam as spamfilter
from appliance.dnsbl import Blocklists
from appliance.greylist import Greylist
from appliance.submission import Envelope as Submitted
from appliance.submission import remote_address
from storage import names
from appliance.delivery import Recipient, Returned, Router
from appliance.errors import ApplianceError, InvalidInput

from . import replies
from .server import Limits

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: More Received: headers than this is a mail loop (RFC 5321 section 6.3).
MAX_HOPS = 50

_RECEIVED = re.compile(rb"^received:", re.IGNORECASE | re.MULTILINE)
_SIZE = re.compile(r"^SIZE=(\d{1,12})$", re.IGNORECASE)


def hop_count(raw: bytes) -> int:
    end = raw.find(b"\r\n\r\n")
    head = raw if end < 0 else raw[:end]
    return len(_RECEIVED.findall(head))


class Handler:
    """Hooks for one listener kind: ``smtp`` (MX), ``submission``, ``submissions``."""

    def __init__(self, app: App, kind: str, router: Router, verifier: Any, runner: Any, limits: Limits):
        self.app = app
        self.kind = kind
        self.router = router
        self.verifier = verifier
        self.runner = runner
        self.limits = limits
        self.hostname = app.settings.box.hostname
        self.user_limit = app.settings.smtp.user_messages_per_day
        self.greylist = Greylist(app.settings.greylist, app.box)
        self.blocklists = Blocklists(app.settings.dnsbl, app.settings.smtp.resolver)
        #: The MX's received-mail counter, looked up once (a labels() call per message shows in profiles).
        self._mx_received = app.metrics.mail_received.labels(listener="mx")

    # -- AUTH (called by Server._login) ------------------------------------

    async def login(self, address: str, password: str, peer: str) -> Any:
        principal = await self.app.auth.login(address, password, protocol="smtp", peer=peer)
        # Kept with the session: the sender checks of every message use it.
        return _Login(principal, await delivery.senders_of(principal))

    # -- EHLO ------------------------------------------------------------------

    async def handle_EHLO(self, server: Any, session: Session, envelope: Envelope, hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        self._start_listing(session)
        out = []
        for line in responses[:-1]:
            if line.startswith("250-AUTH") and (self.kind == "smtp" or not server.encrypted):
                continue
            out.append(line)
        out += ["250-PIPELINING", "250-ENHANCEDSTATUSCODES", "250 HELP"]
        return out

    # -- MAIL ------------------------------------------------------------------

    async def handle_MAIL(self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]) -> str:
        envelope.declared_size = 0
        for option in options:
            m = _SIZE.match(option)
            if m:
                envelope.declared_size = int(m.group(1))
        if self.kind != "smtp":
            login: _Login = session.auth_data
            if address in ("", "<>"):
                return replies.NULL_SENDER
            try:
                delivery.check_sender(address, login.senders)
                await delivery.check_sending(login.principal, self.user_limit)
            except ApplianceError as exc:
                log.info("%r: MAIL FROM <%s> refused: %s", session.peer, address, exc)
                return replies.for_error(exc, stage="mail")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.local = []
        envelope.remote = []
        #: Bounces to SRS addresses of ours, sent on to the original senders.
        envelope.returned = []
        #: The envelope sender's check on the MX: None until the first RCPT.
        envelope.sender_refused = None
        #: A sender greylisting and blocklists let through: None until asked.
        envelope.trusted = None
        return replies.OK_MAIL

    # -- RCPT ------------------------------------------------------------------

    async def handle_RCPT(self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return replies.TOO_MANY_RCPTS
        if not address.isascii() and not envelope.smtp_utf8:
            return replies.UTF8_REQUIRED
        try:
            rcpt = sender = None
            if self.kind == "smtp":
                await self._check_envelope_sender(session, envelope)
                # A bounce of mail we forwarded, to its SRS return address.
                sender = _reverse_path(envelope)
                rcpt = await self.router.returned(address, envelope.declared_size, sender)
                if isinstance(rcpt, Returned):
                    refusal = await self._mx_policy(session, envelope, address) if (
                        self.greylist.enabled or self.blocklists.enabled) else None
                    if refusal:
                        return refusal
                    log.info("%r: RCPT TO <%s>: sent back to <%s>", session.peer, address, rcpt.original)
                    envelope.returned.append(rcpt)
                    envelope.rcpt_tos.append(address)
                    return replies.OK_RCPT
            if rcpt is None:
                # The MX reads the sender lists with the recipient (one read).
                rcpt = await self.router.recipient(address, envelope.declared_size,
                                                   sender if self.kind == "smtp" else None)
        except delivery.NotHosted:
            if self.kind == "smtp":
                log.info("%r: relaying to <%s> denied", session.peer, address)
                self.app.metrics.refused("relay_denied")
                return replies.RELAY_DENIED
            try:
                remote = remote_address(address)
            except InvalidInput:
                return replies.BAD_ADDRESS
            envelope.remote.append(remote)
            envelope.rcpt_tos.append(address)
            return replies.OK_RCPT
        except ApplianceError as exc:
            log.info("%r: RCPT TO <%s> refused: %s", session.peer, address, exc)
            self.app.metrics.refused(exc)
            return replies.for_error(exc, stage="rcpt")
        if self.kind == "smtp":
            listed = rcpt.listed
            if listed == senderlists.BLOCK:
                log.info("%r: RCPT TO <%s> refused: sender <%s> is blocked", session.peer, address, envelope.mail_from)
                self.app.metrics.refused("sender_blocked")
                return replies.SENDER_BLOCKED
            if listed != senderlists.ALLOW and (self.greylist.enabled or self.blocklists.enabled):
                refusal = await self._mx_policy(session, envelope, address)
                if refusal:
                    return refusal
        envelope.local.append(rcpt)
        envelope.rcpt_tos.append(address)
        return replies.OK_RCPT

    async def _mx_policy(self, session: Session, envelope: Envelope, address: str) -> str | None:
        """DNS blocklists, then greylisting (``appliance.dnsbl``,
        ``appliance.greylist``): the refusal for this recipient, or None.
        Either failing lets mail through rather than lose it."""
        sender = _reverse_path(envelope)
        ip = _peer_ip(session)
        passed = None
        try:
            if envelope.trusted is None:
                # The envelope sender check has passed: a hosted sender is ours.
                hosted = bool(sender) and await self.router.is_hosted(sender.rpartition("@")[2])
                if hosted:
                    envelope.trusted = True
                elif self.greylist.applies(ip):
                    # One read for both questions of the first recipient.
                    envelope.trusted, passed = await self.greylist.look(ip, sender, address)
                else:
                    envelope.trusted = await self.greylist.wrote_to(sender)
            if envelope.trusted:
                return None
            if self.blocklists.enabled:
                listing = await self._listing(session, ip)
                if listing is not None:
                    log.info("%r: RCPT TO <%s> refused: [%s] is listed by %s (%s)", session.peer, address, ip,
                             listing.zone, listing.code)
                    self.app.metrics.dnsbl_hits.labels(zone=listing.zone).inc()
                    return replies.blocklisted(ip, listing.zone)
            if self.greylist.applies(ip):
                wait = round(await self.greylist.wait(ip, sender, address, passed))
                self.app.metrics.greylist.labels(result="deferred" if wait else "passed").inc()
                if wait:
                    log.info("%r: RCPT TO <%s> from <%s> greylisted for %ds", session.peer, address, sender, wait)
                    return replies.greylisted(wait)
        except Exception:  # noqa: BLE001 - fail open, logged
            log.exception("%r: greylist or blocklists unavailable; RCPT TO <%s> accepted", session.peer, address)
        return None

    def _start_listing(self, session: Session) -> None:
        """Start the blocklist lookups of this client (once per session),
        so their answers are in by the first RCPT."""
        if self.kind == "smtp" and self.blocklists.enabled and getattr(session, "dnsbl", None) is None:
            session.dnsbl = asyncio.ensure_future(self.blocklists.lookup(_peer_ip(session)))

    async def _listing(self, session: Session, ip: str) -> Any:
        self._start_listing(session)
        return await asyncio.shield(session.dnsbl)

    async def _check_envelope_sender(self, session: Session, envelope: Envelope) -> None:
        """Refuse (mailauth.Spoofed) an unauthenticated envelope sender of a
        domain hosted here that our SPF record does not allow: checked at
        the first RCPT, the answer kept for the rest of the transaction."""
        if envelope.sender_refused is None:
            sender = _reverse_path(envelope)
            hosted = bool(sender) and await self.router.is_hosted(sender.rpartition("@")[2])
            try:
                await self.verifier.check_sender(_peer_ip(session), session.host_name or "", sender, hosted)
                envelope.sender_refused = False
            except mailauth.Spoofed as exc:
                envelope.sender_refused = exc
                log.info("%r: MAIL FROM <%s> refused: %s", session.peer, sender, exc)
        if envelope.sender_refused:
            raise mailauth.Spoofed(str(envelope.sender_refused))

    # -- DATA ------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw: bytes = envelope.content
        if hop_count(raw) > MAX_HOPS:
            return replies.TOO_MANY_HOPS
        try:
            if self.kind == "smtp":
                return await self._inbound(server, session, envelope, raw)
            return await self._submission(server, session, envelope, raw)
        except Exception as exc:
            if not replies.storage_full(exc):
                if isinstance(exc, ApplianceError):
                    log.info("%r: DATA refused: %s", session.peer, exc)
                    self.app.metrics.refused(exc)
                    return replies.for_error(exc, stage="data")
                raise
            # Nothing was committed; the sender keeps the message and retries.
            log.warning("%r: state filesystem full, message from <%s> refused with 452 4.3.1", session.peer, envelope.mail_from)
            self.app.metrics.refused("storage_full")
            return replies.STORAGE_FULL

    async def _inbound(self, server: Any, session: Session, envelope: Envelope, raw: bytes) -> str:
        local: list[Recipient] = envelope.local
        peer_ip = _peer_ip(session)
        reverse_path = _reverse_path(envelope)
        raw = mailauth.strip_forged_results(raw, self.hostname)
        claimed = mailauth.from_domains(raw)
        verdict = await self.verifier.verify(raw, peer_ip, session.host_name or "", reverse_path, claimed)
        hosted = {d for d in claimed if await self.router.is_hosted(d)}
        if hosted:
            await self.verifier.check_header_from(raw, peer_ip, session.host_name or "", verdict, hosted)
        if verdict.reject:
            log.info("%r: rejected by DMARC policy of %s", session.peer, verdict.from_domain)
            self.app.metrics.refused("dmarc_reject")
            return replies.DMARC_REJECT
        mailbox = "Junk" if verdict.quarantine else "INBOX"
        results, spam_fields = verdict.header, ""
        spam = self.app.spam
        if spam.enabled:
            raw = spamfilter.strip_spam_fields(raw)
            score = await spam.check(
                raw, ip=peer_ip, helo=session.host_name or "", mail_from=reverse_path,
                rcpts=list(envelope.rcpt_tos), queue_id=uuid.uuid4().hex[:16],
            )
            if score is None and spam.tempfail and spam.scannable(raw):
                self.app.metrics.refused("spam_scan_failed")
                self.app.metrics.spam_scans.labels(result="tempfail").inc()
                return replies.SCAN_TEMPFAIL
            decision = spam.decide(score)
            self.app.metrics.spam_scans.labels(result="unscanned" if score is None else decision).inc()
            if decision == spamfilter.REJECT:
                log.info("%r: from <%s> rejected as spam (score %.2f)", session.peer, reverse_path, score.score)
                self.app.metrics.refused("spam")
                return replies.SPAM_REJECT
            if decision == spamfilter.JUNK:
                mailbox = "Junk"
            if score is not None or spam.scannable(raw):
                results = mailauth.add_result(results, spam.result(score))
            if score is not None:
                spam_fields = spam.headers(score)
        trace = (
            f"Return-Path: <{reverse_path}>\r\n"
            + self._received(server, session, envelope, "ESMTP")
            + results
            + spam_fields
        )
        started = time.monotonic()
        message = trace.encode("utf-8", "surrogateescape") + raw
        stored = []
        if local:
            stored = await self.router.deliver(
                message, local, mailbox=mailbox, mail_from=reverse_path, reject_single=not envelope.returned,
            )
        if envelope.returned:
            # Sent on as received: a Return-Path is only for final delivery.
            await self.router.send_back(
                message[message.index(b"\r\n") + 2:], envelope.returned, reverse_path,
                lifetime=float(self.app.settings.smtp.queue_lifetime),
            )
        log.info(
            "%r: from <%s> stored %d copies for %d recipients in %s in %.3fs",
            session.peer, envelope.mail_from, len(stored), len(local), mailbox, time.monotonic() - started,
        )
        self._mx_received.inc()
        return replies.OK_DATA

    async def _submission(self, server: Any, session: Session, envelope: Envelope, raw: bytes) -> str:
        login: _Login = session.auth_data
        await self.app.submission.submit(
            login.principal, login.senders,
            Submitted(envelope.mail_from, envelope.local, envelope.remote, bool(envelope.smtp_utf8)), raw,
            self._received(server, session, envelope, "ESMTPSA"),
        )
        self.app.metrics.mail_received.labels(listener="submission").inc()
        return replies.OK_QUEUED

    def _received(self, server: Any, session: Session, envelope: Envelope, protocol: str) -> str:
        # RFC 5321 section 4.4; "with" keywords per RFC 3848.
        protocol = "ESMTP" + ("S" if server.encrypted else "") + ("A" if self.kind != "smtp" else "")
        helo = _clean(session.host_name or "unknown")
        peer_ip = session.peer[0] if session.peer else "unknown"
        rcpt = ""
        if len(envelope.rcpt_tos) == 1:
            rcpt = f"\r\n\tfor <{_clean(envelope.rcpt_tos[0])}>"
        return (
            f"Received: from {helo} ([{peer_ip}])\r\n\tby {self.hostname} with {protocol}{rcpt};\r\n"
            f"\t{email.utils.formatdate(localtime=False)}\r\n"
        )

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error", exc_info=error)
        return replies.INTERNAL


class _Login:
    """What a successful AUTH leaves on the session."""

    def __init__(self, principal: Any, senders: tuple[str, ...]):
        self.principal = principal
        self.senders = senders
        self.login = principal.address


def _peer_ip(session: Session) -> str:
    """The client's address; an IPv4-mapped IPv6 one as plain IPv4, so SPF
    compares it with ``ip4:`` and A records."""
    ip = session.peer[0] if session.peer else "0.0.0.0"
    if ":" not in ip:
        return ip  # IPv4 already: no parsing (asked at every RCPT)
    try:
        mapped = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        return str(mapped.ipv4_mapped)
    return ip


def _reverse_path(envelope: Envelope) -> str:
    """The envelope sender, "" for the null reverse-path (aiosmtpd keeps "<>")."""
    sender = envelope.mail_from or ""
    return "" if sender == "<>" else sender


def _clean(text: str) -> str:
    # Wire text that goes into a header: printable, no line breaks.
    return "".join(c if 32 < ord(c) < 127 or ord(c) > 159 else "?" for c in text)[:200]
