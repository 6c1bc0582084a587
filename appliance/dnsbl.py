"""DNS blocklists of client addresses (RFC 5782) for the MX: the client's
address, reversed, is looked up under each zone of ``[dnsbl] zones``; an
``A`` answer in 127.0.0.2-127.0.0.11 means listed (the codes the common
lists use for their reasons, RFC 5782 section 2.1), and the client's
recipients are refused ``554 5.7.1`` with the list named.

Lookups start when the client says EHLO and are awaited at its first RCPT,
all zones at once, each bounded by ``[dnsbl] timeout`` on the event loop
(dnspython's asynchronous resolver): a slow or dead list never stalls
other sessions and never fails a message - no answer is "not listed".
Answers in 127.255.255.0/24 are Spamhaus's "query refused" codes (public
resolver, rate limit): they are logged and read as no answer, never as a
listing. Answers are cached for a few minutes per address.

Exempt, as for greylisting (:mod:`appliance.greylist`): clients in
``[dnsbl] exempt_networks``, hosted senders that passed the SPF check, and
addresses the box's users wrote to; authenticated submission never asks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.resolver

log = logging.getLogger(__name__)

#: RFC 5782 section 2.1: 127.0.0.2 and up are listings; lists use up to .11.
LISTED = (ipaddress.ip_address("127.0.0.2"), ipaddress.ip_address("127.0.0.11"))
#: Spamhaus: 127.255.255.252-255 mean "your query was refused", not "listed".
REFUSED = ipaddress.ip_network("127.255.255.0/24")
CACHE_SECONDS = 300.0
CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Listing:
    """The first zone (in configured order) that lists a client, and its code."""

    zone: str
    code: str


def query_name(ip: str, zone: str) -> str:
    """The name to look up (RFC 5782 section 2.1 for IPv4, 2.4 for IPv6 nibbles)."""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        labels = reversed(str(address).split("."))
    else:
        labels = reversed(address.exploded.replace(":", ""))
    return ".".join(labels) + "." + zone


class Blocklists:
    """See the module doc. ``settings`` is the ``[dnsbl]`` section;
    ``fallback`` the ``[smtp] resolver`` used when it names none."""

    def __init__(self, settings, fallback: tuple[str, int] | None):
        self.zones = tuple(settings.zones)
        self.timeout = float(settings.timeout)
        self.exempt = tuple(ipaddress.ip_network(n) for n in settings.exempt_networks)
        spec = settings.resolver or fallback
        self.resolver = None
        if spec is not None and self.zones:
            self.resolver = dns.asyncresolver.Resolver(configure=False)
            self.resolver.nameservers = [spec[0]]
            self.resolver.port = spec[1]
            self.resolver.timeout = self.timeout
            self.resolver.lifetime = self.timeout
        self._cache: OrderedDict[str, tuple[float, Listing | None]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.resolver is not None

    def exempt_client(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return True  # nothing to look up
        return address.is_unspecified or any(address in net for net in self.exempt)

    async def lookup(self, ip: str) -> Listing | None:
        """The listing of ``ip``, or None (not listed, exempt, or no answer
        in time). Never raises."""
        if not self.enabled or self.exempt_client(ip):
            return None
        now = time.monotonic()
        cached = self._cache.get(ip)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(self._one(ip, zone) for zone in self.zones)), self.timeout + 0.5)
        except asyncio.TimeoutError:
            log.info("[%s]: blocklists did not answer within %.1fs", ip, self.timeout)
            return None
        listing = next((a for a in answers if a is not None), None)
        self._cache[ip] = (now + CACHE_SECONDS, listing)
        self._cache.move_to_end(ip)
        while len(self._cache) > CACHE_ENTRIES:
            self._cache.popitem(last=False)
        return listing

    async def _one(self, ip: str, zone: str) -> Listing | None:
        assert self.resolver is not None
        name = query_name(ip, zone)
        try:
            answer = await self.resolver.resolve(name, "A", search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.LifetimeTimeout) as exc:
            log.info("[%s]: no answer from %s (%s): not listed", ip, zone, type(exc).__name__)
            return None
        except Exception:  # noqa: BLE001 - a broken list must not fail mail
            log.exception("[%s]: lookup in %s failed", ip, zone)
            return None
        for rdata in answer:
            code = ipaddress.ip_address(rdata.address)
            if code in REFUSED:
                log.warning("%s refused our query for [%s] (%s): treated as no answer; use a resolver of your own",
                            zone, ip, code)
                continue
            if LISTED[0] <= code <= LISTED[1]:
                return Listing(zone, str(code))
            log.info("[%s]: %s answered %s, not a listing code", ip, zone, code)
        return None
