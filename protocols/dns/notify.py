"""NOTIFY to the secondaries when a zone's serial changes (RFC 1996).

One task per (secondary, zone): a NOTIFY over UDP (TSIG-signed when the
secondary has a key), retried with a doubling wait until the secondary
answers or the retries run out (RFC 1996 section 3.6). A newer serial for
the same zone replaces a notification still in flight.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Iterable

import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype

from .transfer import Secondary

log = logging.getLogger(__name__)

#: First wait for an answer; it doubles with each retry.
FIRST_WAIT = 2.0


class _Reply(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=16)

    def datagram_received(self, data: bytes, addr) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)


class Notifier:
    def __init__(self, servers: Iterable[Secondary], retries: int):
        self.servers = tuple(servers)
        self.retries = retries
        self.tasks: dict[tuple[int, str], asyncio.Task] = {}
        self.sent = 0
        self.acknowledged = 0

    def changed(self, origins: Iterable[str]) -> None:
        """Tell every secondary that these zones have a new serial."""
        loop = asyncio.get_running_loop()
        for origin in origins:
            for index, server in enumerate(self.servers):
                old = self.tasks.pop((index, origin), None)
                if old is not None:
                    old.cancel()
                task = loop.create_task(self._notify(server, origin), name=f"notify {origin} {server.address}")
                self.tasks[(index, origin)] = task
                task.add_done_callback(lambda t, k=(index, origin): self.tasks.get(k) is t and self.tasks.pop(k))

    async def _notify(self, server: Secondary, origin: str) -> None:
        loop = asyncio.get_running_loop()
        family = 10 if ":" in server.address else 2
        transport, protocol = await loop.create_datagram_endpoint(
            _Reply, remote_addr=(server.address, server.port), family=family
        )
        try:
            wait = FIRST_WAIT
            for attempt in range(self.retries + 1):
                message = dns.message.make_query(origin + ".", dns.rdatatype.SOA)
                message.set_opcode(dns.opcode.NOTIFY)
                message.flags = (message.flags & ~dns.flags.RD) | dns.flags.AA
                if server.key is not None:
                    message.use_tsig(server.key)
                transport.sendto(message.to_wire())
                self.sent += 1
                if await self._acknowledged(protocol, message, server, wait):
                    self.acknowledged += 1
                    log.info("NOTIFY %s to %s:%d acknowledged", origin, server.address, server.port)
                    return
                wait *= 2
            log.warning("NOTIFY %s to %s:%d: no answer after %d tries", origin, server.address, server.port, self.retries + 1)
        finally:
            transport.close()

    async def _acknowledged(self, protocol: _Reply, message: dns.message.Message, server: Secondary, wait: float) -> bool:
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return False
            try:
                data = await asyncio.wait_for(protocol.queue.get(), remaining)
            except asyncio.TimeoutError:
                return False
            try:
                reply = dns.message.from_wire(
                    data, keyring=server.keyring or None, request_mac=message.mac if server.key else b""
                )
            except dns.exception.DNSException as exc:
                log.info("NOTIFY reply from %s: %s", server.address, exc)
                continue
            if reply.id == message.id and reply.opcode() == dns.opcode.NOTIFY and reply.flags & dns.flags.QR:
                if reply.rcode() != dns.rcode.NOERROR:
                    log.warning("NOTIFY to %s:%d answered %s", server.address, server.port, dns.rcode.to_text(reply.rcode()))
                return True

    async def stop(self) -> None:
        for task in list(self.tasks.values()):
            task.cancel()
        for task in list(self.tasks.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - stopping
                pass
        self.tasks.clear()
