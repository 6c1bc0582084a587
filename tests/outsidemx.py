"""Another mail server on loopback, "the rest of the Internet": aiosmtpd
that keeps what it receives, for the daemon's outgoing mail to reach
through a static route (``[smtp] transport``)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool = False


@dataclass
class ReceiverHandler:
    messages: list[Received] = field(default_factory=list)
    #: Local parts refused with 550 at RCPT.
    refuse_prefix: str = "reject"

    async def handle_RCPT(self, server, session, envelope, address, options):
        if address.startswith(self.refuse_prefix):
            return "550 5.1.1 No such user at the far end"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        received = Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
        received.tls = session.ssl is not None
        self.messages.append(received)
        return "250 2.0.0 Accepted"


class Receiver:
    """aiosmtpd on a fixed loopback port, startable later (to be 'down' first)."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None):
        self.port = port
        self.tls = tls
        self.handler = ReceiverHandler()
        self.controller: Controller | None = None

    def start(self) -> "Receiver":
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, tls_context=self.tls, auth_require_tls=False
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages
