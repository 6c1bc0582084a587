"""IMAP: ``[listen] imap`` (STARTTLS) and ``[listen] imaps`` (TLS).

:func:`start` binds both with Twisted on the daemon's loop and returns an
:class:`ImapService`, which the sessions share: the settings, the TLS
options, the per-user session count and the mail events that tell a
session about deliveries and about changes made by the user's other
sessions. ``stop()`` stops accepting and says BYE to every session.

Both listeners share one count of connections per source address
(``[imap] max_connections_per_source``) and bound the TLS handshake, implicit
or after STARTTLS (``[tls] handshake_seconds``): see
:class:`appliance.twisted_glue.Guard`.
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Callable

from twisted.internet import protocol

from appliance.connlimit import SourceLimit
from appliance.twisted_glue import Guard, listen_tcp, stop_ports, tls_options

from .server import ImapServer

if TYPE_CHECKING:
    from appliance.app import App

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

    async def stop(self) -> None:
        await stop_ports(self.ports)
        for conn in list(self.connections):
            conn.shutdown()


async def start(app: App) -> ImapService:
    service = ImapService(app)
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
