"""Open connections per source address, one counter per protocol.

Every listener asks its protocol's :class:`SourceLimit` before it serves a
new connection and gives the place back when the connection is gone, so one
address cannot hold more than ``limit`` connections of one protocol,
whatever those connections do (a TLS handshake that never ends, headers
sent a byte at a time). The count includes connections still in their TLS
handshake. Loopback is counted like any other source.

The Twisted listeners use it through :func:`appliance.twisted_glue.listen_tcp`
(``guard=``); the asyncio SMTP listeners through ``protocols.smtp.guard``.
"""

from __future__ import annotations

import ipaddress
import logging

log = logging.getLogger(__name__)


def source_of(address: object) -> str:
    """The source a peer address counts against: its IP address as text
    (an IPv4-mapped IPv6 address counts as the IPv4 one); ``"?"`` when the
    address is unknown."""
    if isinstance(address, tuple) and address:
        address = address[0]
    host = getattr(address, "host", address)
    if not isinstance(host, str):
        return "?"
    if ":" not in host:
        return host  # IPv4 (or no address at all): nothing to normalise, no parsing per connection
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


class SourceLimit:
    """At most ``limit`` open connections of ``protocol`` per source address.

    Not thread-safe: used from the event loop only.
    """

    def __init__(self, protocol: str, limit: int):
        self.protocol = protocol
        self.limit = limit
        self.open: dict[str, int] = {}
        # Sources already logged as over the limit, so an attacker who
        # keeps knocking costs one log line, not one per attempt.
        self._logged: set[str] = set()

    def acquire(self, source: str) -> bool:
        """Count a new connection from ``source``; False (nothing counted)
        when it already has ``limit`` open."""
        count = self.open.get(source, 0)
        if count >= self.limit:
            if source not in self._logged:
                self._logged.add(source)
                log.info("%s: %s connection refused: %d open from this address", source, self.protocol, count)
            return False
        self.open[source] = count + 1
        return True

    def release(self, source: str) -> None:
        """The connection from ``source`` that :meth:`acquire` counted is gone."""
        count = self.open.get(source, 0) - 1
        if count > 0:
            self.open[source] = count
        else:
            self.open.pop(source, None)
        self._logged.discard(source)
