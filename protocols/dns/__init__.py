"""Authoritative DNS over UDP and TCP (``[listen] dns``).

Our own asyncio transport (dnslib's bundled server is a thread per
request): :mod:`.wire` vets each query, :mod:`.engine` answers from
precomputed zones. Zones are rebuilt from the catalog and the business files
at start and whenever the CLI changes something (``app.on_change``); the SOA
serial of a zone changes only when its content does, and then the
secondaries get a NOTIFY (:mod:`.notify`) and may transfer the zone
(:mod:`.transfer`). With ``[dns] catalog`` set, the catalog zone (RFC 9432,
built by :mod:`appliance.zones` with the others) lists every zone and
travels the same way, so secondaries that read catalogs follow businesses
as they come and go. UDP answers pass the response rate limiter
(:mod:`.rrl`).

With ``[dns] dnssec`` on, every zone is signed (:mod:`appliance.dnssec`) in
a thread before it is swapped in; a query with the DO bit gets the RRSIGs
and NSEC proofs, one without gets the same answers as an unsigned zone. A
task re-signs each zone when its signing period ends (:meth:`DnsService.resign`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import re
import socket
import struct
import time
from typing import TYPE_CHECKING

from appliance import dnsdata
from appliance import dnssec
from storage import names
from appliance.errors import InvalidInput, NotFound
from storage import box as boxdb

from .engine import Engine, prepare
from .notify import Notifier
from .rrl import DROP, RateLimiter, truncated
from .transfer import Transfers, secondaries
from .wire import Ignore, Malformed, Special, error_response, parse_query, question_end

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Queries answered on one TCP connection before it is closed.
TCP_MAX_QUERIES = 1000
#: Longest wait between two checks for zones to re-sign (seconds).
RESIGN_CHECK = 3600
#: ACME DNS-01 values per name, and their shape (base64url of a SHA-256).
MAX_CHALLENGE_VALUES = 8
_CHALLENGE_VALUE = re.compile(r"^[A-Za-z0-9_=-]{1,255}$")


def _answer(service: "DnsService", data: bytes, peer: str, *, tcp: bool) -> bytes | list[bytes] | None:
    try:
        query = parse_query(data, tcp=tcp)
    except Ignore:
        return None
    except Malformed as exc:
        log.info("%s: malformed query: %s", peer, exc)
        return error_response(exc.qid, exc.rcode, struct.unpack_from("!H", data, 2)[0])
    except Special as special:
        try:
            return service.transfers.answer(data, special, peer, tcp=tcp)
        except Exception:  # noqa: BLE001 - a bug answers SERVFAIL, never kills the server
            log.exception("%s: cannot answer a transfer or signed query", peer)
            return error_response(special.qid, 2, struct.unpack_from("!H", data, 2)[0])
    try:
        reply = service.engine.answer(query, tcp=tcp)
    except Exception:  # noqa: BLE001 - a bug answers SERVFAIL, never kills the server
        log.exception("%s: cannot answer %s/%d", peer, query.qname, query.qtype)
        return error_response(query.qid, 2, query.flags)
    if not tcp:
        service.engine.remember(data, reply)
        service.engine.learn(data, query)
    return reply


class _Udp:
    """UDP straight on the socket: each wake-up drains up to a batch of
    datagrams (asyncio's datagram transport costs more per packet than
    answering does). A reply the kernel cannot take now is dropped, as a
    lost datagram would be; the client retries. Answers pass the response
    rate limiter (:mod:`.rrl`) when it is on."""

    BATCH = 256

    def __init__(self, service: "DnsService", host: str, port: int):
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
        self.service = service
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        recvfrom, sendto, service = self.sock.recvfrom, self.sock.sendto, self.service
        rrl = service.rrl
        # Zones reloaded by another callback replace this dict, never
        # change it under us: one batch answers from one version.
        packets, quick_negative = service.engine.packets, service.engine.quick_negative
        answered = service.app.metrics.dns_answer
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.info("udp receive: %s", exc)
                return
            # The hot path: a query seen before, answered by one lookup.
            known = packets.get(data[2:])
            if known is not None:
                reply = data[:2] + known
            elif (reply := quick_negative(data)) is None:  # a never-asked name
                reply = _answer(service, data, addr[0], tcp=False)
                if reply is None:
                    continue
                if type(reply) is list:
                    reply = reply[0]
            answered(reply)
            if rrl is not None:
                decision = rrl.check(addr[0], reply)
                if decision:
                    if decision == DROP:
                        continue
                    reply = truncated(reply, question_end(reply))
            try:
                sendto(reply, addr)
            except OSError:
                pass

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class _Tcp(asyncio.Protocol):
    """Two-octet length framing, several queries per connection, an idle
    timeout (RFC 7766 sections 6.2.1 and 6.2.3).

    The idle clock restarts only when a whole query has arrived: a client
    trickling a byte at a time does not keep the connection open."""

    def __init__(self, service: "DnsService"):
        self.service = service
        self.buffer = bytearray()
        self.count = 0
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.peer = transport.get_extra_info("peername", ("?",))[0]
        self.service.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.service.tcp_idle, self.close)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.service.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 2:
            length = struct.unpack_from("!H", self.buffer)[0]
            if len(self.buffer) < 2 + length:
                return
            message = bytes(self.buffer[2 : 2 + length])
            del self.buffer[: 2 + length]
            self._arm()
            reply = _answer(self.service, message, self.peer, tcp=True)
            if reply is None:
                self.close()
                return
            self.service.app.metrics.dns_answer(reply[0] if isinstance(reply, list) else reply)
            assert self.transport is not None
            for part in reply if isinstance(reply, list) else (reply,):
                self.transport.write(struct.pack("!H", len(part)) + part)
            self.count += 1
            if self.count >= TCP_MAX_QUERIES:
                self.close()
                return


class DnsService:
    """The DNS service of one daemon: zones, listeners, transfers, NOTIFY,
    and the ACME challenges (:meth:`set_acme_challenge`)."""

    def __init__(self, app: App):
        self.app = app
        settings = app.settings.dns
        self.engine = Engine()
        self.udp: list[_Udp] = []
        self.servers: list[asyncio.base_events.Server] = []
        self.connections: set[_Tcp] = set()
        self.serials: dict[str, tuple[str, int]] = {}
        self.tcp_idle = float(settings.tcp_idle_seconds)
        self.rrl = (
            RateLimiter(settings.rrl_rate, settings.rrl_slip, settings.rrl_max_prefixes, settings.rrl_exempt_loopback)
            if settings.rrl_rate
            else None
        )
        servers = secondaries(app.settings)
        self.transfers = Transfers(self.engine, servers)
        self.notifier = Notifier(servers, settings.notify_retries)
        self.challenges: dict[str, tuple[str, ...]] = {}
        self._businesses: list = []
        self._reload_lock = asyncio.Lock()
        self.signer = dnssec.Signer(settings.dnssec_validity_days, settings.dnssec_refresh_days) if settings.dnssec else None
        if self.signer is not None:
            # Signing every zone at start-up is seconds of CPU: in a worker
            # process, so it never holds the GIL the event loop needs.
            self.signer.use_processes()
        #: The time signing periods are reckoned from (tests move it forward).
        self.clock = time.time
        self._resigner: asyncio.Task | None = None

    async def reload(self) -> None:
        """Rebuild every zone from the files; swap them in at once."""
        async with self._reload_lock:
            self._businesses = await dnsdata.businesses(self.app)
            await self._publish()

    async def _publish(self) -> None:
        box, zones, serials, keys = await dnsdata.zones(self.app, self._businesses, self.challenges, self.clock())
        changed = [origin for origin, (_, serial) in serials.items() if self.serials.get(origin, ("", -1))[1] != serial]
        if serials != self.serials:
            await self.app.box.write("dns serials", lambda c: boxdb.set_dns_serials(c, serials))
        self.serials = serials
        signer = self.signer

        def sign_and_prepare():
            signed = {}
            if signer is not None:
                work = [(zone, list(keys[origin])) for origin, zone in zones.items() if zone.signing_period]
                signed = signer.sign_all(work, box)
                signer.forget(set(zones))
            return prepare(zones, box, signed)

        # Hundreds of zones take seconds to sign and prepare: in a thread
        # (signatures are reused while a zone is unchanged), then one swap.
        self.engine.install(await asyncio.to_thread(sign_and_prepare))
        if changed:
            self.notifier.changed(changed)

    async def resign(self) -> None:
        """Publish again if any zone's signing period has ended since the
        last publication: its new signatures, a new serial, a NOTIFY."""
        if self.signer is None:
            return
        async with self._reload_lock:
            now = self.clock()
            if any(zone.source.signing_period and zone.source.signing_period != self.signer.period(origin, now)
                   for origin, zone in self.engine.zones_items()):
                await self._publish()

    def start_resigning(self) -> None:
        """Run :meth:`resign` whenever the next zone's period starts (checked
        at least hourly, so a suspended machine catches up)."""
        if self.signer is None or self._resigner is not None:
            return
        self._resigner = asyncio.get_running_loop().create_task(self._resign_loop(), name="dnssec re-signing")

    async def _resign_loop(self) -> None:
        while True:
            now = self.clock()
            starts = [dnssec.next_period(o, now, self.signer.validity, self.signer.refresh) for o in self.engine.origins()]
            await asyncio.sleep(min([RESIGN_CHECK, *(max(t - now, 1) for t in starts)]))
            try:
                await self.resign()
            except Exception:  # noqa: BLE001 - the next round tries again; answers keep the old signatures
                log.exception("dns: re-signing failed")

    async def set_acme_challenge(self, name: str, values: list[str]) -> None:
        """Publish ``values`` as TXT at ``_acme-challenge.<name>`` now.

        For the ACME client (RFC 8555 section 8.4): the answer changes at
        once and the zone's serial moves (secondaries are notified). Held in
        memory only: a restart forgets it, as the challenge would be stale.
        Raises InvalidInput for a bad value or a delegated name and NotFound
        for a name outside our zones.
        """
        name = names.domain(name)
        values = list(values)
        if not values or len(values) > MAX_CHALLENGE_VALUES or not all(_CHALLENGE_VALUE.match(v) for v in values):
            raise InvalidInput(f"ACME challenge values: 1-{MAX_CHALLENGE_VALUES} base64url strings")
        zone = self.engine.zone_for(name)
        if zone is None:
            raise NotFound(f"the box serves no zone for {name}")
        if any(name == cut or name.endswith("." + cut) for cut in zone.cuts):
            # The TXT would sit below a delegation, where we answer only a referral.
            raise InvalidInput(f"{name} is delegated to other name servers; its challenge must be published there")
        async with self._reload_lock:
            self.challenges[name] = tuple(values)
            await self._publish()

    async def clear_acme_challenge(self, name: str) -> None:
        """Withdraw the challenge of ``name`` (nothing if there is none)."""
        name = names.domain(name)
        async with self._reload_lock:
            if self.challenges.pop(name, None) is not None:
                await self._publish()

    async def stop(self) -> None:
        if self._resigner is not None:
            self._resigner.cancel()
            try:
                await self._resigner
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        await self.notifier.stop()
        if self.signer is not None:
            self.signer.close()
        for server in self.servers:
            server.close()
        for conn in list(self.connections):
            conn.close()
        for udp in self.udp:
            udp.close()
        for server in self.servers:
            await server.wait_closed()


async def start(app: App) -> DnsService:
    service = DnsService(app)
    await service.reload()
    app.on_change(service.reload)
    service.start_resigning()
    loop = asyncio.get_running_loop()
    port = app.settings.listen.dns
    try:
        for host in app.settings.listen.addresses:
            await _bind_pair(service, loop, host, port)
            app.add_listener("dns", host, service.servers[-1].sockets[0].getsockname()[1])
    except BaseException:
        await service.stop()
        raise
    return service


#: How many ports the kernel may choose (port 0) before UDP binds beside TCP.
PAIR_ATTEMPTS = 20


async def _bind_pair(service: DnsService, loop: asyncio.AbstractEventLoop, host: str, port: int) -> None:
    """TCP and UDP on one port of ``host``, added to ``service``. With port
    0 the kernel chooses TCP's port, and UDP's of that number may be taken
    by another program: then both are tried again on a new port, up to
    :data:`PAIR_ATTEMPTS` times. Raises OSError as the bind does."""
    for attempt in range(PAIR_ATTEMPTS if port == 0 else 1):
        server = await loop.create_server(lambda: _Tcp(service), host, port, reuse_address=True)
        bound = server.sockets[0].getsockname()[1]
        try:
            # UDP on the same port number as TCP (the kernel chose it when 0).
            udp = _Udp(service, host, bound)
        except OSError as exc:
            server.close()
            await server.wait_closed()
            if port != 0 or exc.errno != errno.EADDRINUSE or attempt == PAIR_ATTEMPTS - 1:
                raise
            log.info("dns: UDP port %d of %s is taken; choosing another pair", bound, host)
            continue
        service.servers.append(server)
        service.udp.append(udp)
        return
