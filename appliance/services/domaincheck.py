"""A domain as its owner sees it: what to set at the registrar, and a live
check of what the world's DNS says about it.

Everything expected comes from the zones the DNS server serves
(:meth:`appliance.services.dns.DnsRecords.zone`, built by
:mod:`appliance.zones`): the name servers, the mail and client records, the
website's addresses. Nothing here keeps a second copy of them.

The live check asks a resolver (``[panel] check_resolver``, else the
system's) what the world sees, one lookup per RRset, with a timeout per
lookup (``[panel] check_seconds``), at most :data:`MAX_LOOKUPS` of them,
:data:`LOOKUPS_AT_ONCE` in flight across every check. Its result is kept
per domain for ``[panel] check_cache_seconds`` so pressing "check" again
sends nothing.

Delegation is judged as a resolver sees it, which is what mail senders and
browsers see: the domain's NS set must be exactly the box's name servers
(a resolver learns it from the parent's referral, then from our servers'
own answer), and the domain's SOA must be the one our servers publish (its
primary name server is the first of them), which shows our servers are the
ones answering for it. In a fleet these are the fleet's name servers
(``[dns] nameservers``) and the mail records name the domain's client host
name (``mail.<domain>``), whose addresses are checked with the MX. The free
domain (``<slug>.<box domain>``, or under a fleet's ``[box] free_domain``)
lives under the operator's own domain, delegated by the operator: only its
records are checked.

The methods block (SQLite reads, DNS lookups): a front end on the event loop
runs them in a thread, and a check with :meth:`DomainChecks.check_async`,
on the service's own threads.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import datetime
import logging
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.resolver

from storage import directory, names

from ..dnssec import KEY_TYPES
from ..errors import NotFound
from .base import Stores
from .certificates import Certificate, Certificates
from .dns import DnsRecords, Record, ZoneRecord

log = logging.getLogger(__name__)

#: Lookups one check may send (one per RRset); the rest are "not checked".
MAX_LOOKUPS = 40
#: Checks running at once (more wait their turn), and lookups in flight at
#: once across them: a slow resolver holds these threads, never the loop's.
CHECKS_AT_ONCE = 4
LOOKUPS_AT_ONCE = 16
#: Domains whose last result is kept (the oldest are forgotten first).
MAX_KEPT = 2000

#: The order of the lines of a report, and of the records to set.
KINDS = ("nameservers", "answers", "mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt", "website", "autoconfig",
         "autodiscover", "srv", "dav")
#: For TXT records: the prefix that tells ours from the other TXT records of a name.
TXT_PREFIX = {"spf": "v=spf1", "dkim": "v=dkim1", "dmarc": "v=dmarc1", "mta-sts": "v=stsv1", "tls-rpt": "v=tlsrptv1",
              "dav": "path="}
#: Records only a zone the box signs carries: DNSKEY, CDS and CDNSKEY are
#: its keys, and a TLSA record is worthless unsigned; a domain whose DNS is
#: elsewhere is never asked for them (its provider signs it, or not).
SIGNED_ONLY = (*KEY_TYPES, "TLSA")
#: Record types the generated zone holds that a check does not look at (CAA
#: is advice to CAs, not something mail or clients need; SOA and NS are the
#: delegation lines; and the signed-only ones).
NOT_LOOKED_UP = ("SOA", "CAA", "NS", *SIGNED_ONLY)

OK, MISSING, WRONG, UNKNOWN = "ok", "missing", "wrong", "unknown"


@dataclass(frozen=True)
class CheckLine:
    """One thing checked: ``kind`` (see :data:`KINDS`), the name and type
    looked up, ``status`` (``ok``, ``missing``, ``wrong``, ``unknown``: no
    answer in time, or not looked up), what we expect and what was found."""

    kind: str
    name: str
    type: str
    status: str
    expected: list[str]
    found: list[str]


@dataclass(frozen=True)
class Report:
    """The result of one check of ``domain``, made at ``checked`` (UTC, ISO)."""

    domain: str
    checked: str
    resolver: str
    lines: list[CheckLine]

    @property
    def ok(self) -> bool:
        return all(line.status == OK for line in self.lines)

    @property
    def problems(self) -> int:
        return sum(line.status != OK for line in self.lines)

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


@dataclass(frozen=True)
class Setup:
    """What the owner of ``domain`` sets at the registrar.

    Option A: the ``nameservers`` (and ``glue``, the addresses the parent
    zone must hold for name servers inside the domain itself). Option B:
    ``records``, every record the box generates for the domain, to copy
    into DNS hosted elsewhere."""

    domain: str
    kind: str  # free | own
    nameservers: list[str]
    glue: list[tuple[str, list[str]]]
    records: list[ZoneRecord]
    certificate: Certificate | None
    last: Report | None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DomainStatus:
    """One line of the domains page."""

    name: str
    kind: str
    created: str
    certificate: Certificate | None
    last: Report | None


@dataclass(frozen=True)
class Records:
    """The records of ``domain``: the business's own (which it may remove)
    and those the box generates (read-only)."""

    domain: str
    kind: str
    own: list[Record]
    generated: list[ZoneRecord]


def _under(name: str, domain: str) -> bool:
    return name == domain or name.endswith("." + domain)


def kind_of(domain: str, name: str, rtype: str, client_label: str = "") -> str:
    """Which line of a report the generated RRset ``(name, rtype)`` is; the
    addresses of the domain's client host name (``client_label``) belong
    with the MX that names it."""
    first = name[: -len(domain) - 1].split(".")[0] if name != domain else ""
    if rtype == "NS":
        return "nameservers"
    if rtype == "SOA":
        return "answers"
    if rtype == "MX" or (client_label and name == f"{client_label}.{domain}"):
        return "mx"
    if rtype == "SRV":
        return "srv"
    if "._domainkey." in f".{name}.":
        return "dkim"
    if first == "_dmarc":
        return "dmarc"
    if first in ("_mta-sts", "mta-sts"):
        return "mta-sts"
    if first == "_smtp":
        return "tls-rpt"
    if rtype == "TXT" and name == domain:
        return "spf"
    if rtype == "TXT":
        return "dav"
    if first in ("autoconfig", "autodiscover"):
        return first
    return "website"


def _canonical(rtype: str, text: str) -> str:
    """One record's data in a form both sides compare equal: host names
    lower-case and absolute, TXT strings joined (as SPF and DKIM read them)."""
    rdata = dns.rdata.from_text(dns.rdataclass.IN, rtype, text, origin=dns.name.root, relativize=False)
    return _canonical_rdata(rdata)


def _canonical_rdata(rdata: Any) -> str:
    if rdata.rdtype == dns.rdatatype.TXT:
        return b"".join(rdata.strings).decode("utf-8", "replace")
    return rdata.to_text().lower()


def _when() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class DomainChecks:
    """See module doc."""

    def __init__(self, stores: Stores, dns_records: DnsRecords, certificates: Certificates):
        self.stores = stores
        self.dns = dns_records
        self.certificates = certificates
        self._lock = threading.Lock()
        #: (business, domain) -> (monotonic time, report): the last report of
        #: each domain (a domain that moves to another business starts afresh).
        self._kept: collections.OrderedDict[tuple[str, str], tuple[float, Report]] = collections.OrderedDict()
        #: (business, domain) -> the lock one check of it holds, so two presses do one check.
        self._running: dict[tuple[str, str], threading.Lock] = {}
        self._checks = concurrent.futures.ThreadPoolExecutor(CHECKS_AT_ONCE, thread_name_prefix="domain-check")
        self._lookups = concurrent.futures.ThreadPoolExecutor(LOOKUPS_AT_ONCE, thread_name_prefix="domain-lookup")

    # -- what the owner sees --------------------------------------------------

    def _domain_of(self, slug: str, domain: str) -> tuple[str, str]:
        """``(domain, kind)`` when business ``slug`` has ``domain``; NotFound
        otherwise (another business's looks like no one's)."""
        domain = names.domain(domain)
        for row in self.stores.handle(slug).read_sync("domain list", directory.list_domains):
            if row["name"] == domain:
                return domain, row["kind"]
        raise NotFound(f"business {slug} has no domain {domain}")

    def overview(self, slug: str) -> list[DomainStatus]:
        """Every domain of business ``slug`` (the free one first) with its
        certificate and its last check (no lookup is made). Raises
        InvalidInput, NotFound. Changes nothing."""
        rows = self.stores.handle(slug).read_sync("domain list", directory.list_domains)
        certificates = self.certificates.for_business(slug)
        return [
            DomainStatus(r["name"], r["kind"], r["created"], self._certificate(certificates, r["name"]), self.last(slug, r["name"]))
            for r in rows
        ]

    @staticmethod
    def _certificate(certificates: list[Certificate], domain: str) -> Certificate | None:
        return next((c for c in certificates if domain in c.names), None)

    def setup(self, slug: str, domain: str) -> Setup:
        """What to set at the registrar for ``domain`` of business ``slug``,
        its certificate and its last check. Raises InvalidInput, NotFound
        (the business has no such domain). Changes nothing."""
        domain, kind = self._domain_of(slug, domain)
        listing = self.dns.zone(domain, slug)
        generated = [r for r in listing.records if _under(r.name, domain) and not r.added]
        nameservers = [r.data.rstrip(".") for r in listing.records if r.name == listing.zone and r.type == "NS"]
        glue = [
            (ns, [r.data for r in listing.records if r.name == ns and r.type in ("A", "AAAA")])
            for ns in nameservers if _under(ns, domain)
        ]
        records = [r for r in generated if r.type not in ("SOA", "NS", *SIGNED_ONLY)]
        label = self.stores.settings.box.client_label
        records.sort(key=lambda r: (KINDS.index(kind_of(domain, r.name, r.type, label)), r.name, r.type))
        certificate = self._certificate(self.certificates.for_business(slug), domain)
        return Setup(domain, kind, nameservers, glue, records, certificate, self.last(slug, domain))

    def records(self, slug: str, domain: str) -> Records:
        """The records business ``slug`` added to ``domain`` and those the box
        generates there. Raises InvalidInput, NotFound. Changes nothing."""
        domain, kind = self._domain_of(slug, domain)
        listing = self.dns.zone(domain, slug)
        generated = [r for r in listing.records if _under(r.name, domain) and not r.added]
        return Records(domain, kind, self.dns.list(domain), generated)

    # -- the live check -------------------------------------------------------

    def last(self, slug: str, domain: str) -> Report | None:
        """The last report of business ``slug``'s ``domain``, however old, or
        None. Changes nothing."""
        with self._lock:
            kept = self._kept.get((slug, domain))
        return kept[1] if kept else None

    async def check_async(self, domain: str, *, slug: str | None = None) -> Report:
        """:meth:`check` for a front end on the event loop, run on the
        service's own threads (at most :data:`CHECKS_AT_ONCE` at a time)."""
        return await asyncio.wrap_future(self._checks.submit(functools.partial(self.check, domain, slug=slug)))

    def check(self, domain: str, *, slug: str | None = None) -> Report:
        """Look ``domain`` up as the world sees it and compare with what the
        box serves (see module doc); a report younger than
        ``[panel] check_cache_seconds`` is returned instead of looking again.

        Checks: ``domain`` is valid and some business (``slug``, when given)
        has it. Changes nothing but the kept report. Raises InvalidInput,
        NotFound.
        """
        if slug is not None:
            domain, kind = self._domain_of(slug, domain)
        else:
            domain = names.domain(domain)
            slug = self.stores.slug_for_domain(domain)
            domain, kind = self._domain_of(slug, domain)
        key = (slug, domain)
        with self._lock:
            running = self._running.setdefault(key, threading.Lock())
        with running:
            fresh = self._fresh(key)
            if fresh is not None:
                return fresh
            try:
                report = self._check(slug, domain, kind)
            finally:
                with self._lock:
                    self._running.pop(key, None)
            with self._lock:
                self._kept[key] = (time.monotonic(), report)
                self._kept.move_to_end(key)
                while len(self._kept) > MAX_KEPT:
                    self._kept.popitem(last=False)
        log.info("domain %s checked through %s: %d problems", domain, report.resolver, report.problems)
        return report

    def _fresh(self, key: tuple[str, str]) -> Report | None:
        ttl = self.stores.settings.panel.check_cache_seconds
        with self._lock:
            kept = self._kept.get(key)
        if kept and time.monotonic() - kept[0] < ttl:
            return kept[1]
        return None

    def _resolver(self) -> tuple[dns.resolver.Resolver, str]:
        settings = self.stores.settings.panel
        configured = settings.check_resolver
        resolver = dns.resolver.Resolver(configure=configured is None)
        if configured is not None:
            host, port = configured
            resolver.nameservers = [host]
            resolver.port = port or 53
        resolver.timeout = resolver.lifetime = float(settings.check_seconds)
        resolver.cache = None
        where = f"{configured[0]}:{configured[1] or 53}" if configured else "system"
        return resolver, where

    def _check(self, slug: str, domain: str, kind: str) -> Report:
        listing = self.dns.zone(domain, slug)
        expected: dict[tuple[str, str], list[str]] = {}
        for r in listing.records:
            if _under(r.name, domain) and not r.added and r.type not in NOT_LOOKED_UP:
                expected.setdefault((r.name, r.type), []).append(r.data)
        wanted: list[tuple[str, str, str, list[str]]] = []
        if kind == "own":
            ns = [r.data for r in listing.records if r.name == domain and r.type == "NS"]
            soa = next(r.data for r in listing.records if r.type == "SOA")
            wanted.append(("nameservers", domain, "NS", ns))
            wanted.append(("answers", domain, "SOA", [soa]))
        for (name, rtype), values in expected.items():
            wanted.append((kind_of(domain, name, rtype, self.stores.settings.box.client_label), name, rtype, values))
        wanted.sort(key=lambda w: (KINDS.index(w[0]), w[1], w[2]))
        resolver, where = self._resolver()
        futures = [self._lookups.submit(self._line, resolver, *w) for w in wanted[:MAX_LOOKUPS]]
        lines = [f.result() for f in futures]
        for w in wanted[MAX_LOOKUPS:]:
            lines.append(CheckLine(w[0], w[1], w[2], UNKNOWN, sorted({_canonical(w[2], v) for v in w[3]}), []))
        return Report(domain, _when(), where, lines)

    @staticmethod
    def _line(resolver: dns.resolver.Resolver, kind: str, name: str, rtype: str, values: list[str]) -> CheckLine:
        """Look up ``name``/``rtype`` once and judge the answer."""
        expected = sorted({_canonical(rtype, v) for v in values})
        if rtype == "SOA":
            # Ours if its primary name server and contact are ours; the serial
            # may lag by a few seconds while a change spreads.
            expected = sorted({" ".join(e.split()[:2]) for e in expected})
        try:
            answer = resolver.resolve(name, rtype, raise_on_no_answer=False, search=False)
            found = sorted({_canonical_rdata(r) for r in (answer.rrset or [])})
        except dns.resolver.NXDOMAIN:
            found = []
        except (dns.exception.Timeout, dns.resolver.NoNameservers, dns.resolver.NoResolverConfiguration, OSError) as exc:
            log.info("domain check: %s %s: no answer (%s)", name, rtype, type(exc).__name__)
            return CheckLine(kind, name, rtype, UNKNOWN, expected, [])
        except dns.exception.DNSException as exc:
            log.info("domain check: %s %s: bad answer (%s)", name, rtype, exc)
            return CheckLine(kind, name, rtype, UNKNOWN, expected, [])
        if rtype == "SOA":
            found = sorted({" ".join(f.split()[:2]) for f in found})
        prefix = TXT_PREFIX.get(kind) if rtype == "TXT" else None
        if prefix is not None:
            found = [f for f in found if f.lower().startswith(prefix)]
        status = OK if found == expected else (MISSING if not found else WRONG)
        return CheckLine(kind, name, rtype, status, expected, found)
