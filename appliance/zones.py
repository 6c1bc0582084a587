"""Every DNS zone the box serves, built from the catalog and the business files.

* The box zone (``[box] domain``): SOA, NS, glue for name servers inside it,
  the box host name, and the mail records of every business's free domain
  (``<slug>.<box domain>``) - those names live inside the box zone.
* One zone per business domain, with the records mail and clients need:
  MX, SPF, DKIM, DMARC, ``autoconfig``/``autodiscover``, SRV for RFC 6186
  (mail) and RFC 6764 (CalDAV/CardDAV) with the TXT path, CAA, and the apex
  and ``www`` addresses of the website.

A zone is plain data: ``{(name, type): [rdata text, ...]}`` with one TTL per
RRset, so the answer engine and tests can read it without a DNS library.
The SOA serial changes only when a zone's content changes
(:func:`assign_serials`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field

TTL = 3600
NEGATIVE_TTL = 300


@dataclass(frozen=True)
class BoxDns:
    hostname: str
    domain: str
    nameservers: tuple[str, ...]
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    admin_email: str
    # Ports published in SRV records: the production ones by default.
    submission: int = 587
    submissions: int = 465
    imap: int = 143
    imaps: int = 993
    https: int = 443


@dataclass(frozen=True)
class BusinessDns:
    slug: str
    free_domain: str
    own_domains: tuple[str, ...]
    dkim: dict[str, tuple[str, str]] = field(default_factory=dict)  # domain -> (name, txt)


@dataclass
class Zone:
    origin: str
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    serial: int = 0

    def add(self, name: str, rtype: str, rdata: str) -> None:
        values = self.records.setdefault((name.lower().rstrip("."), rtype), [])
        if rdata not in values:
            values.append(rdata)

    def content_hash(self) -> str:
        body = {f"{n}|{t}": sorted(v) for (n, t), v in self.records.items() if t != "SOA"}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()

    def soa(self, box: BoxDns) -> str:
        rname = box.admin_email.replace("@", ".", 1)
        return f"{box.nameservers[0]}. {rname}. {self.serial} 3600 900 1209600 {NEGATIVE_TTL}"

    def names(self) -> set[str]:
        return {name for name, _ in self.records}


def _quote(text: str) -> str:
    # TXT strings are at most 255 octets each (RFC 1035 3.3.14): split long
    # values (DKIM keys) into several strings of one record.
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def _addresses(zone: Zone, name: str, box: BoxDns) -> None:
    for a in box.ipv4:
        zone.add(name, "A", a)
    for a in box.ipv6:
        zone.add(name, "AAAA", a)


def _mail_domain(zone: Zone, domain: str, box: BoxDns, dkim: tuple[str, str] | None) -> None:
    host = box.hostname + "."
    zone.add(domain, "MX", f"10 {host}")
    zone.add(domain, "TXT", _quote("v=spf1 mx -all"))
    zone.add(f"_dmarc.{domain}", "TXT", _quote("v=DMARC1; p=quarantine; adkim=s; aspf=s"))
    if dkim is not None:
        name, txt = dkim
        zone.add(name, "TXT", _quote(txt))
    for label in ("", "www.", "autoconfig.", "autodiscover."):
        _addresses(zone, label + domain, box)
    srv = (
        ("_submission._tcp", box.submission),
        ("_submissions._tcp", box.submissions),
        ("_imap._tcp", box.imap),
        ("_imaps._tcp", box.imaps),
        ("_caldavs._tcp", box.https),
        ("_carddavs._tcp", box.https),
    )
    for service, port in srv:
        zone.add(f"{service}.{domain}", "SRV", f"0 1 {port} {host}")
    # RFC 6764 section 4: the context path of the DAV service.
    zone.add(f"_caldavs._tcp.{domain}", "TXT", _quote("path=/dav/"))
    zone.add(f"_carddavs._tcp.{domain}", "TXT", _quote("path=/dav/"))
    # RFC 6186 section 3.4: plain-text POP3 is not offered.
    zone.add(f"_pop3._tcp.{domain}", "SRV", "0 0 0 .")
    zone.add(f"_pop3s._tcp.{domain}", "SRV", "0 0 0 .")


def _apex(zone: Zone, box: BoxDns) -> None:
    for ns in box.nameservers:
        zone.add(zone.origin, "NS", ns + ".")
    zone.add(zone.origin, "CAA", '0 issue "letsencrypt.org"')


def build_zones(box: BoxDns, businesses: list[BusinessDns]) -> dict[str, Zone]:
    """All zones, keyed by origin (serials not yet assigned)."""
    zones: dict[str, Zone] = {}
    boxzone = Zone(box.domain)
    _apex(boxzone, box)
    for ns in box.nameservers:
        if ns == box.domain or ns.endswith("." + box.domain):
            _addresses(boxzone, ns, box)  # glue
    _addresses(boxzone, box.hostname, box)
    zones[box.domain] = boxzone
    for business in businesses:
        _mail_domain(boxzone, business.free_domain, box, business.dkim.get(business.free_domain))
        for domain in business.own_domains:
            zone = Zone(domain)
            _apex(zone, box)
            _mail_domain(zone, domain, box, business.dkim.get(domain))
            zones[domain] = zone
    return zones


def assign_serials(zones: dict[str, Zone], previous: dict[str, tuple[str, int]], today: datetime.date | None = None) -> dict[str, tuple[str, int]]:
    """Give each zone a serial; returns the new ``{origin: (hash, serial)}``.

    A zone whose content hash is unchanged keeps its serial; a changed or new
    one gets ``max(previous + 1, YYYYMMDD00)`` (RFC 1912 section 2.2 style).
    """
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    base = int(today.strftime("%Y%m%d")) * 100
    out = {}
    for origin, zone in zones.items():
        digest = zone.content_hash()
        old = previous.get(origin)
        if old and old[0] == digest:
            serial = old[1]
        else:
            serial = max((old[1] + 1) if old else 0, base)
        zone.serial = serial
        out[origin] = (digest, serial)
    return out
