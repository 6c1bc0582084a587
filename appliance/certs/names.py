"""Which certificates the box should hold, for which names, validated how.

* The box host name (the name mail and DAV clients use: MX, SRV and client
  set-up all point at it), unless ``[tls] cert_file`` names a certificate
  for it; stored in the box database.
* Each domain of each business (its free ``<slug>.<box domain>`` and its
  own): the domain with ``www.``, ``autoconfig.``, ``autodiscover.``,
  ``mta-sts.`` (whose policy senders fetch over HTTPS only, RFC 8461) and
  the domain's client host name (``mail.``, ``[box] client_label``), or
  the domain and ``*.domain`` (``[acme] wildcards``); stored in the
  business's file.

A name is validated with DNS-01 through our own DNS server when it lies in
one of our zones and that zone is delegated to us (the resolver of
``[acme] resolver`` lists one of our name servers for it; ``[acme]
delegation_check = false`` trusts our zone data alone). Such a name
resolves to the box when our own zone data says so. Any other name is
validated with HTTP-01 and is requested only when the resolver says it
points at the box's addresses and nowhere else: no certificates for
dangling names.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dns.exception
import dns.resolver

from appliance import dnsdata
from appliance.zones import Zone, build_zones, zone_for
from storage import box as boxdb

if TYPE_CHECKING:
    from appliance.app import App

log = logging.getLogger(__name__)

#: Names of a business domain besides the domain itself.
PREFIXES = ("www.", "autoconfig.", "autodiscover.", "mta-sts.")
DNS01, HTTP01 = "dns-01", "http-01"
#: Seconds one resolver question may take.
LOOKUP_SECONDS = 5.0
#: Certificates one box holds at most (each is one ACME order).
MAX_CERTIFICATES = 20_000


@dataclass(frozen=True)
class Wanted:
    """One certificate: ``key`` is its first name and its row;
    ``slug`` is the business whose file keeps it (None: the box)."""

    key: str
    slug: str | None
    names: tuple[str, ...]
    challenge: str


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


class Resolver:
    """Blocking DNS questions to ``[acme] resolver`` (run them in a thread)."""

    def __init__(self, address: tuple[str, int] | None):
        """``address``: (IP, port) as ``[acme] resolver`` gives it; None: the system's."""
        if address:
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [address[0]]
            self.resolver.port = address[1]
        else:
            self.resolver = dns.resolver.Resolver()
        self.resolver.lifetime = LOOKUP_SECONDS
        self.resolver.cache = None

    def addresses(self, name: str) -> set[str]:
        """Every A and AAAA address of ``name`` (CNAMEs followed)."""
        found: set[str] = set()
        for rtype in ("A", "AAAA"):
            try:
                answer = self.resolver.resolve(name, rtype, search=False)
            except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
                continue
            except (dns.exception.DNSException, OSError) as exc:
                log.info("cannot resolve %s %s: %s", name, rtype, exc)
                continue
            found.update(r.to_text() for r in answer)
        return found

    def nameservers(self, zone: str) -> set[str] | None:
        """The NS names of ``zone``, or None when the question failed."""
        try:
            answer = self.resolver.resolve(zone, "NS", search=False)
        except (dns.resolver.NoAnswer, dns.resolver.NXDOMAIN):
            return set()
        except (dns.exception.DNSException, OSError) as exc:
            log.info("cannot ask for the name servers of %s: %s", zone, exc)
            return None
        return {r.target.to_text().rstrip(".").lower() for r in answer}


def _in_zone_to_box(zone: Zone, name: str, ours: set[str]) -> bool:
    addresses = set(zone.records.get((name, "A"), ())) | set(zone.records.get((name, "AAAA"), ()))
    return bool(addresses) and addresses <= ours


class Planner:
    """Works out the :class:`Wanted` certificates (see module doc)."""

    def __init__(self, app: App):
        self.app = app
        acme = app.settings.acme
        self.resolver = Resolver(acme.resolver)
        self.delegation_check = acme.delegation_check
        self.wildcards = acme.wildcards

    async def plan(self) -> tuple[list[Wanted], list[Skipped]]:
        settings = self.app.settings
        box = dnsdata.box_dns(settings)
        ours = set(box.ipv4) | set(box.ipv6)
        data = await dnsdata.businesses(self.app)
        zones = await asyncio.to_thread(build_zones, box, data)
        tenants = await self.app.box.read("certificate names", boxdb.list_tenants)
        delegated: dict[str, bool] = {}
        wanted: list[Wanted] = []
        skipped: list[Skipped] = []

        async def authoritative(name: str) -> Zone | None:
            zone = zone_for(zones, name)
            if zone is None:
                return None
            if not self.delegation_check:
                return zone
            if zone.origin not in delegated:
                servers = await asyncio.to_thread(self.resolver.nameservers, zone.origin)
                delegated[zone.origin] = bool(servers and servers & set(box.nameservers))
                if not delegated[zone.origin]:
                    log.info("zone %s is not delegated to this box (%s): HTTP-01", zone.origin, servers)
            return zone if delegated[zone.origin] else None

        async def outside(name: str) -> bool:
            found = await asyncio.to_thread(self.resolver.addresses, name)
            if found and found <= ours:
                return True
            skipped.append(Skipped(name, f"resolves to {', '.join(sorted(found))}" if found else "does not resolve"))
            return False

        async def certificate(domain: str, slug: str | None, prefixes: tuple[str, ...]) -> None:
            zone = await authoritative(domain)
            if zone is not None:
                names = [n for n in (domain, *(p + domain for p in prefixes)) if _in_zone_to_box(zone, n, ours)]
                for n in {domain, *(p + domain for p in prefixes)} - set(names):
                    skipped.append(Skipped(n, "our zone does not point it at the box"))
                if prefixes and self.wildcards and domain in names:
                    names = [domain, f"*.{domain}"]
                challenge = DNS01
            else:
                names = [n for n in (domain, *(p + domain for p in prefixes)) if await outside(n)]
                challenge = HTTP01
            if names and len(wanted) < MAX_CERTIFICATES:
                wanted.append(Wanted(names[0], slug, tuple(names), challenge))

        if not settings.tls.cert_file:
            await certificate(settings.box.hostname, None, ())
        label = settings.box.client_label
        prefixes = PREFIXES + ((label + ".",) if label else ())
        for tenant in tenants:
            for domain in tenant["domains"]:
                await certificate(domain, tenant["slug"], prefixes)
        return wanted, skipped
