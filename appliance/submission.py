"""Submitted mail: the rules every way of sending goes through.

SMTP submission (``protocols.smtp``) and webmail both hand a message to
:meth:`Submission.submit`, which checks the header senders against the
user's own addresses (:func:`appliance.delivery.header_senders`), adds a
missing ``Date:`` and ``Message-ID:`` (RFC 6409 sections 8.2 and 8.3),
DKIM-signs mail that leaves the box, counts it against the daily sending
limits and queues its remote recipients in the same transaction that
delivers its local copies, then wakes the outbound queue. It returns only
after every commit, so the caller may acknowledge then.

The SMTP service builds the one :class:`Submission` of the daemon (it owns
the router, the signer and the queue runner) and leaves it on the App as
``app.submission``.
"""

from __future__ import annotations

import email.utils
import logging
import re
from dataclasses import dataclass
from typing import Any, Sequence

from . import delivery
from .delivery import Recipient, Router
from .greylist import Greylist
from .errors import InvalidInput

log = logging.getLogger(__name__)


def header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    return raw if end < 0 else raw[: end + 2]


def has_header(raw: bytes, name: bytes) -> bool:
    return re.search(rb"^" + re.escape(name) + rb":", header_block(raw), re.IGNORECASE | re.MULTILINE) is not None


@dataclass(frozen=True)
class Envelope:
    """Who sends (``mail_from``, already checked against the user's
    addresses) to whom: ``local`` recipients as :meth:`Router.recipient`
    accepted them, ``remote`` addresses of other domains."""

    mail_from: str
    local: Sequence[Recipient]
    remote: Sequence[str]
    smtputf8: bool = False


class Submission:
    """See module doc."""

    def __init__(self, app: Any, router: Router, verifier: Any, runner: Any):
        self.app = app
        self.router = router
        self.verifier = verifier
        self.runner = runner
        self.hostname = app.settings.box.hostname
        self.user_limit = app.settings.smtp.user_messages_per_day
        self.greylist = Greylist(app.settings.greylist, app.box)
        #: Whether the MX asks who our users wrote to (greylisting and
        #: blocklists let those correspondents through).
        self.remember = self.greylist.enabled or bool(app.settings.dnsbl.zones)

    async def senders(self, principal: Any) -> tuple[str, ...]:
        """The addresses ``principal`` may send as."""
        return await delivery.senders_of(principal)

    async def check_envelope(self, principal: Any, senders: Sequence[str], mail_from: str) -> str:
        """The envelope sender if it is the user's own and they may still
        send today; raises SenderRefused or SendingLimit."""
        clean = delivery.check_sender(mail_from, senders)
        await delivery.check_sending(principal, self.user_limit)
        return clean

    async def recipient(self, address: str) -> Recipient | str:
        """A local :class:`Recipient`, or the address itself when its domain
        is not hosted here; raises what :meth:`Router.recipient` raises for
        a hosted address that cannot receive, InvalidInput for a bad one."""
        try:
            return await self.router.recipient(address)
        except delivery.NotHosted:
            return remote_address(address)

    async def submit(self, principal: Any, senders: Sequence[str], envelope: Envelope, raw: bytes,
                     trace: str = "") -> bytes:
        """Send ``raw`` (see module doc); ``trace`` is the ``Received:``
        field to put on top. Returns the message as it was delivered and
        queued (without the local ``Return-Path:``)."""
        header_from = delivery.header_senders(raw)
        for sender in header_from:
            if sender not in senders:
                raise delivery.SenderRefused("From: is not one of your addresses")
        extra_headers = ""
        if not has_header(raw, b"Date"):
            extra_headers += f"Date: {email.utils.formatdate(localtime=False)}\r\n"
        if not has_header(raw, b"Message-ID"):
            extra_headers += f"Message-ID: {email.utils.make_msgid(domain=self.hostname)}\r\n"
        message = (trace + extra_headers).encode() + raw
        if envelope.remote:
            sender_domain = header_from[0].rpartition("@")[2]
            message = await self.verifier.sign(principal.tenant, sender_domain, message)
        account = delivery.submission_write(
            principal.user_id, self.user_limit, envelope.mail_from, list(envelope.remote), message,
            lifetime=self.app.settings.smtp.queue_lifetime, smtputf8=envelope.smtputf8,
        )
        local_copy = f"Return-Path: <{envelope.mail_from}>\r\n".encode() + message
        await self.router.deliver(local_copy, list(envelope.local), extra=(principal.slug, account),
                                  mail_from=envelope.mail_from)
        if envelope.remote:
            self.runner.wake(principal.slug)
            if self.remember:
                try:
                    await self.greylist.remember(list(envelope.remote))
                except Exception:  # noqa: BLE001 - the message is queued; this is only a courtesy
                    log.exception("%s: cannot remember correspondents for the greylist", principal.address)
        log.info("%s sent a message: %d local, %d remote recipients",
                 principal.address, len(envelope.local), len(envelope.remote))
        return message


def remote_address(address: str) -> str:
    """A syntactically sane remote address (any local part, a real domain)."""
    from storage import names

    local, at, domain = address.rpartition("@")
    if not at or not local or len(address) > 254 or any(c in local for c in "\r\n\x00 "):
        raise InvalidInput(f"invalid address {address!r}")
    return f"{local}@{names.domain(domain)}"
