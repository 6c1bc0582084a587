"""ManageSieve (RFC 5804): ``[listen] managesieve``, STARTTLS, mail clients
managing their users' Sieve scripts.

:func:`start` binds the listener on the daemon's loop with
``loop.create_server`` (asyncio streams) and returns a
:class:`ManageSieveService`; ``stop()`` stops accepting and ends every
session with ``BYE``. Connections per source address are capped by
``[managesieve] max_connections_per_source`` (counted from the accept, TLS
handshake included); the TLS certificate is chosen by SNI like every other
listener's (``app.tls_context()``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from appliance.connlimit import SourceLimit, source_of

from .server import Session

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Sent, and the connection closed, to a source over its connection limit.
TOO_MANY = b'BYE (TRYLATER) "too many connections from your address"\r\n'


class ManageSieveService:
    def __init__(self, app: App):
        self.app = app
        self.settings = app.settings.managesieve
        self.scripts = app.core.sieve
        self.tls = app.tls_context()
        self.handshake_seconds = float(app.settings.tls.handshake_seconds)
        self.sources = SourceLimit("managesieve", self.settings.max_connections_per_source)
        self.servers: list[asyncio.base_events.Server] = []
        self.sessions: set[asyncio.Task] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        source = source_of(writer.get_extra_info("peername"))
        if not self.sources.acquire(source):
            writer.write(TOO_MANY)
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self.sessions.add(task)
        try:
            await Session(self, reader, writer, source).run()
        except asyncio.CancelledError:
            try:
                writer.write(b'BYE "server shutting down"\r\n')
            except Exception:  # noqa: BLE001 - the connection may be gone
                pass
        except Exception:  # noqa: BLE001 - one session's bug must not stop the listener
            log.exception("%s: managesieve session failed", source)
        finally:
            self.sessions.discard(task)
            self.sources.release(source)
            writer.close()

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for task in list(self.sessions):
            task.cancel()
        for task in list(self.sessions):
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        for server in self.servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass


async def start(app: App) -> ManageSieveService:
    service = ManageSieveService(app)
    port = app.settings.listen.managesieve
    try:
        for host in app.settings.listen.addresses:
            server = await asyncio.start_server(
                service.serve, host, port, limit=service.settings.max_line_bytes, reuse_address=True
            )
            service.servers.append(server)
            app.add_listener("managesieve", host, server.sockets[0].getsockname()[1])
    except BaseException:
        for server in service.servers:
            server.close()
        raise
    return service
