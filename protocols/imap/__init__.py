"""IMAP: ``[listen] imap`` (STARTTLS) and ``[listen] imaps`` (TLS).

:func:`start` binds both with Twisted on the daemon's loop and returns an
:class:`ImapService`, which the sessions share: the settings, the TLS
options, the per-user session count and the mail events that tell a
session about deliveries and about changes made by the user's other
sessions. ``stop()`` stops accepting and says BYE to every session.

Whenever the box changes (:meth:`appliance.app.App.on_change`: the panel or
the CLI suspended or removed someone, or suspended or removed a business),
:meth:`ImapService.end_revoked` looks again at who is logged in and ends the
sessions of people who could no longer log in, as an administrator's
``doveadm kick`` does after disabling a mailbox: a phone of someone who
left keeps nothing open.

Both listeners share one count of connections per source address
(``[imap] max_connections_per_source``) and bound the TLS handshake, implicit
or after STARTTLS (``[tls] handshake_seconds``): see
:class:`appliance.twisted_glue.Guard`.
"""

from __future__ import annotations

import collections
import logging
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet import protocol

from appliance.connlimit import SourceLimit
from appliance.twisted_glue import Guard, listen_tcp, stop_ports, tls_options
from storage import directory
from storage.errors import TenantNotFound

from .server import ImapServer

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Sent, and the connection closed, to a source over its connection limit.
TOO_MANY = b"* BYE [UNAVAILABLE] too many connections from your address\r\n"


class ImapService:
    def __init__(self, app: App):
        self.app = app
        self.settings = app.settings.imap
        self.tls = tls_options(app)
        self.connections: set[ImapServer] = set()
        self.sessions: collections.Counter[str] = collections.Counter()
        self.ports: list = []
        self.guard = Guard(SourceLimit("imap", self.settings.max_connections_per_source),
                           float(app.settings.tls.handshake_seconds), refusal=TOO_MANY)

    def factory(self, implicit_tls: bool) -> protocol.Factory:
        service = self

        class Factory(protocol.Factory):
            def buildProtocol(self, addr: Any) -> ImapServer:  # noqa: N802 - Twisted's interface
                proto = ImapServer(service, implicit_tls=implicit_tls)
                proto.factory = self
                return proto

        return Factory()

    def logged_in(self, address: str) -> bool:
        """Count a new session of ``address``; False when over the limit."""
        if self.sessions[address] >= self.settings.max_connections_per_user:
            return False
        self.sessions[address] += 1
        return True

    def logged_out(self, address: str) -> None:
        self.sessions[address] -= 1
        if self.sessions[address] <= 0:
            del self.sessions[address]

    def subscribe(self, slug: str, user_id: int, listener: Callable[[int], None]) -> Callable[[], None]:
        return self.app.mail_events.subscribe(slug, user_id, listener)

    def publish(self, slug: str, user_id: int, mailbox: int) -> None:
        self.app.mail_events.publish(slug, user_id, mailbox)

    async def end_revoked(self) -> None:
        """End every session whose person is no longer active, or whose
        business is suspended or gone (see the module doc)."""
        by_business: dict[str, list[ImapServer]] = collections.defaultdict(list)
        for conn in self.connections:
            if conn.principal is not None and not conn.closed:
                by_business[conn.principal.slug].append(conn)
        for slug, conns in by_business.items():
            addresses = {conn.principal.address for conn in conns}
            try:
                rows = await conns[0].principal.tenant.read(
                    "imap sessions", lambda c: {a: directory.login_row(c, a) for a in addresses})
            except TenantNotFound:
                rows = {}
            for conn in conns:
                row = rows.get(conn.principal.address) if conn.principal is not None else None
                if conn.principal is None or conn.closed:
                    continue
                if row is None or row[0] != conn.principal.user_id or row[2] != "active" or row[3] != "active":
                    log.info("%s: ending IMAP session of %s: no longer allowed to log in", slug, conn.principal.address)
                    conn.revoke()

    async def stop(self) -> None:
        await stop_ports(self.ports)
        for conn in list(self.connections):
            conn.shutdown()


async def start(app: App) -> ImapService:
    service = ImapService(app)
    app.on_change(service.end_revoked)
    addresses = app.settings.listen.addresses
    service.ports = listen_tcp(app, "imap", service.factory(False), app.settings.listen.imap, addresses, guard=service.guard)
    try:
        service.ports += listen_tcp(
            app, "imaps", service.factory(True), app.settings.listen.imaps, addresses, tls=service.tls, guard=service.guard
        )
    except Exception:
        await stop_ports(service.ports)
        raise
    return service
