"""The SMTP listeners' guard: connections per source address and the TLS
handshake bound, the same rules as the Twisted listeners' (see
:class:`appliance.twisted_glue.Guard`).

:class:`GuardedServer` is the :class:`.server.Server` every SMTP listener
builds. It counts each connection against its source in a shared
:class:`appliance.connlimit.SourceLimit` from the accept (a source over the
limit gets ``421 4.7.0`` and is closed), and bounds every TLS handshake to
``[tls] handshake_seconds``:

* implicit TLS (465) is started here on the accepted connection
  (``loop.start_tls``) rather than by the listener, so the connection is
  counted while it handshakes and the bound is ours, not asyncio's 60 s;
* STARTTLS is aiosmtpd's, with the same bound on its handshake.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from asyncio import sslproto
from typing import Any

from aiosmtpd.smtp import TLSSetupException

from appliance.connlimit import SourceLimit, source_of

from .server import Server

log = logging.getLogger(__name__)

#: Sent, and the connection closed, to a source over its connection limit.
TOO_MANY = b"421 4.7.0 too many connections from your address\r\n"


class GuardedServer(Server):
    """A :class:`.server.Server` held to ``sources`` and ``handshake_seconds``
    (see module doc). ``implicit_tls`` is the context of port 465, whose
    listener is then plain TCP."""

    def __init__(self, *args: Any, sources: SourceLimit, handshake_seconds: float,
                 implicit_tls: ssl.SSLContext | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._sources = sources
        self._handshake_seconds = handshake_seconds
        self._implicit_context = implicit_tls
        self._source: str | None = None
        self._engine_started = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._engine_started:
            # The STARTTLS transport: the engine's.
            super().connection_made(transport)
            return
        source = source_of(transport.get_extra_info("peername"))
        if not self._sources.acquire(source):
            if self._implicit_context is None:
                transport.write(TOO_MANY)  # type: ignore[attr-defined]
            transport.close()
            return
        self._source = source
        if self._implicit_context is not None:
            # Nothing may be read as SMTP before TLS is up.
            transport.pause_reading()  # type: ignore[attr-defined]
            asyncio.ensure_future(self._start_implicit_tls(transport))
            return
        self._start_engine(transport)

    def _start_engine(self, transport: asyncio.BaseTransport) -> None:
        self._engine_started = True
        super().connection_made(transport)

    async def _start_implicit_tls(self, raw: asyncio.BaseTransport) -> None:
        try:
            tls = await self.loop.start_tls(
                raw, self, self._implicit_context, server_side=True,  # type: ignore[arg-type]
                ssl_handshake_timeout=self._handshake_seconds,
            )
        except (OSError, ssl.SSLError, asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            log.info("%s: submissions TLS handshake not finished: %s", self._source, exc or type(exc).__name__)
            raw.abort()  # type: ignore[attr-defined]
            self._release()
            return
        if tls is None or tls.is_closing():
            self._release()
            return
        self._start_engine(tls)

    def connection_lost(self, error: Exception | None) -> None:
        self._release()
        if self._engine_started:
            super().connection_lost(error)

    def _release(self) -> None:
        if self._source is not None:
            self._sources.release(self._source)
            self._source = None

    async def smtp_STARTTLS(self, arg: str) -> None:  # noqa: N802 - aiosmtpd's dispatch by name
        """aiosmtpd's STARTTLS (1.4.6), with the handshake bounded: the SSL
        layer it builds would wait asyncio's default 60 s."""
        if arg:
            await self.push("501 Syntax: STARTTLS")
            return
        if not self.tls_context:
            await self.push("454 TLS not available")
            return
        await self.push("220 Ready to start TLS")
        waiter = self.loop.create_future()
        self._tls_protocol = sslproto.SSLProtocol(
            self.loop, self, self.tls_context, waiter, server_side=True,
            ssl_handshake_timeout=self._handshake_seconds,
        )
        self._original_transport = self.transport
        assert self._original_transport is not None
        self._original_transport.set_protocol(self._tls_protocol)
        self.transport = self._tls_protocol._app_transport
        self._tls_protocol.connection_made(self._original_transport)
        try:
            await waiter
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.info("%s: STARTTLS handshake not finished: %s", self._source, error or type(error).__name__)
            raise TLSSetupException() from error
