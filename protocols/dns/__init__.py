"""Authoritative DNS over UDP and TCP (``[listen] dns``).

Our own asyncio transport (dnslib's bundled server is a thread per
request): :mod:`.wire` vets each query, :mod:`.engine` answers from
precomputed zones. Zones are rebuilt from the catalog and the business files
at start and whenever the CLI changes something (``app.on_change``); the SOA
serial of a zone changes only when its content does.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from typing import Any

from appliance import dnsdata
from storage import box as boxdb

from .engine import Engine
from .wire import Ignore, Malformed, error_response, parse_query

log = logging.getLogger(__name__)

#: A TCP connection idle this long is closed (RFC 7766 section 6.2.3).
TCP_IDLE_SECONDS = 10.0
#: Queries answered on one TCP connection before it is closed.
TCP_MAX_QUERIES = 1000


def _answer(engine: Engine, data: bytes, peer: str, *, tcp: bool) -> bytes | None:
    try:
        query = parse_query(data, tcp=tcp)
    except Ignore:
        return None
    except Malformed as exc:
        log.info("%s: malformed query: %s", peer, exc)
        return error_response(exc.qid, exc.rcode, struct.unpack_from("!H", data, 2)[0])
    try:
        return engine.answer(query, tcp=tcp)
    except Exception:  # noqa: BLE001 - a bug answers SERVFAIL, never kills the server
        log.exception("%s: cannot answer %s/%d", peer, query.qname, query.qtype)
        return error_response(query.qid, 2, query.flags)


class _Udp:
    """UDP straight on the socket: each wake-up drains up to a batch of
    datagrams (asyncio's datagram transport costs more per packet than
    answering does). A reply the kernel cannot take now is dropped, as a
    lost datagram would be; the client retries."""

    BATCH = 256

    def __init__(self, engine: Engine, host: str, port: int):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Room for a burst while the loop is busy elsewhere (the kernel
            # caps it at net.core.rmem_max).
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.bind((host, port))
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise
        self.engine = engine
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom, sendto, engine = self.sock.recvfrom, self.sock.sendto, self.engine
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("udp receive: %s", exc)
                return
            reply = _answer(engine, data, addr[0], tcp=False)
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError:
                    pass

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _Tcp(asyncio.Protocol):
    """Two-octet length framing, several queries per connection (RFC 7766)."""

    def __init__(self, engine: Engine, connections: set):
        self.engine = engine
        self.connections = connections
        self.buffer = bytearray()
        self.count = 0
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername", ("?",))[0]
        self.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(TCP_IDLE_SECONDS, self.close)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._arm()
        while len(self.buffer) >= 2:
            length = struct.unpack_from("!H", self.buffer)[0]
            if len(self.buffer) < 2 + length:
                return
            message = bytes(self.buffer[2 : 2 + length])
            del self.buffer[: 2 + length]
            reply = _answer(self.engine, message, self.peer, tcp=True)
            if reply is None:
                self.close()
                return
            assert self.transport is not None
            self.transport.write(struct.pack("!H", len(reply)) + reply)
            self.count += 1
            if self.count >= TCP_MAX_QUERIES:
                self.close()
                return


class DnsService:
    def __init__(self, app: Any):
        self.app = app
        self.engine = Engine()
        self.udp: list[_Udp] = []
        self.servers: list[asyncio.base_events.Server] = []
        self.connections: set[_Tcp] = set()
        self.serials: dict[str, tuple[str, int]] = {}
        self._reload_lock = asyncio.Lock()

    async def reload(self) -> None:
        """Rebuild every zone from the files; swap them in at once."""
        async with self._reload_lock:
            box, zones, serials = await dnsdata.zones(self.app)
            if serials != self.serials:
                await self.app.box.write("dns serials", lambda c: boxdb.set_dns_serials(c, serials))
            self.serials = serials
            self.engine.load(zones, box)

    async def stop(self) -> None:
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        for udp in self.udp:
            udp.close()
        for server in self.servers:
            await server.wait_closed()


async def start(app: Any) -> DnsService:
    service = DnsService(app)
    await service.reload()
    app.on_change(service.reload)
    loop = asyncio.get_running_loop()
    port = app.settings.listen.dns
    try:
        for host in app.settings.listen.addresses:
            server = await loop.create_server(lambda: _Tcp(service.engine, service.connections), host, port, reuse_address=True)
            service.servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            # UDP on the same port number as TCP (the kernel chose it when 0).
            service.udp.append(_Udp(service.engine, host, bound))
            app.add_listener("dns", host, bound)
    except BaseException:
        await service.stop()
        raise
    return service
