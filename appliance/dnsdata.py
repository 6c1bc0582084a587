"""What the DNS zones are built from: the box's settings, the catalog, and
each business's domains, DKIM keys and own records. Shared by the DNS
service (async, on the loop) and ``appliance dns`` (blocking, in the CLI).

Adding a record (:func:`add_record`) checks it against the zone it would
join as the daemon serves it now, stores it in the business's file and
bumps the box generation, so the daemon rebuilds its zones within a second.
"""

from __future__ import annotations

import logging
import sqlite3
import urllib.parse
from typing import Any, Mapping

from storage import box as boxdb
from storage import directory
from storage import dkim
from storage import dns as dnsdb
from storage.errors import TenantNotFound

from storage import names
from .errors import InvalidInput, NotFound
from .zones import (
    RECORD_TYPES, MAX_TTL, MIN_TTL, TTL, BoxDns, BusinessDns, CustomRecord, Zone,
    assign_serials, build_zones, check_record, check_value, owner_name, zone_for,
)

log = logging.getLogger(__name__)


#: The CAA issuer domain of the well-known ACME CAs, by the host name of
#: their directory URL (each CA's documented CAA identifier).
KNOWN_CAS = {
    "acme-v02.api.letsencrypt.org": "letsencrypt.org",
    "acme-staging-v02.api.letsencrypt.org": "letsencrypt.org",
    "acme.zerossl.com": "sectigo.com",
    "api.buypass.com": "buypass.com",
    "api.test4.buypass.no": "buypass.com",
    "dv.acme-v02.api.pki.goog": "pki.goog",
    "dv.acme-v02.test-api.pki.goog": "pki.goog",
    "acme.ssl.com": "ssl.com",
}


def caa_issuers(acme: Any) -> tuple[str, ...]:
    """The CAs every zone allows to issue (RFC 8659 ``issue``): ``[acme] caa``
    when set, else the CA of ``[acme] directory`` when it is a well-known
    one. Empty (no CAA record) otherwise: a private CA, or a certificate the
    operator brings from any CA, must not be refused by our own records."""
    if acme.caa:
        return tuple(acme.caa)
    host = (urllib.parse.urlsplit(acme.directory).hostname or "").lower() if acme.directory else ""
    issuer = KNOWN_CAS.get(host)
    return (issuer,) if issuer else ()


def box_dns(settings: Any) -> BoxDns:
    box = settings.box
    nameservers = (f"ns1.{box.domain}", f"ns2.{box.domain}")
    return BoxDns(
        box.hostname, box.domain, nameservers, box.ipv4, box.ipv6, box.admin_email, caa=caa_issuers(settings.acme)
    )


def _absolute(domain: str, name: str) -> str:
    return domain if name == "@" else f"{name}.{domain}"


def business_dns(conn: sqlite3.Connection, slug: str) -> BusinessDns:
    """One business's part of the zones, read from its file."""
    free, own, keys = "", [], {}
    for row in directory.list_domains(conn):
        if row["kind"] == "free":
            free = row["name"]
        else:
            own.append(row["name"])
        record = dkim.txt_record(conn, row["name"])
        if record is not None:
            keys[row["name"]] = record
    records = tuple(
        CustomRecord(r["domain"], _absolute(r["domain"], r["name"]), r["type"], r["value"], r["ttl"])
        for r in dnsdb.list_records(conn)
    )
    return BusinessDns(slug, free, tuple(own), keys, records)


async def businesses(app: Any) -> list[BusinessDns]:
    """Every business's DNS data, read from the files (on the loop)."""
    tenants = await app.box.read("dns tenants", boxdb.list_tenants)
    out = []
    for tenant in tenants:
        try:
            handle = app.tenants.handle(tenant["slug"])
            out.append(await handle.read("dns records", lambda c, s=tenant["slug"]: business_dns(c, s)))
        except TenantNotFound:
            log.warning("business %s is in the catalog without a file", tenant["slug"])
    return out


async def zones(
    app: Any, data: list[BusinessDns], challenges: Mapping[str, tuple[str, ...]] | None = None
) -> tuple[BoxDns, dict[str, Zone], dict[str, tuple[str, int]]]:
    """Every zone with its serial; the serials to store are returned too."""
    box = box_dns(app.settings)
    built = build_zones(box, data, challenges)
    previous = await app.box.read("dns serials", boxdb.dns_serials)
    return box, built, assign_serials(built, previous)


def zones_sync(app: Any) -> tuple[BoxDns, dict[str, Zone]]:
    """The zones as the daemon serves them (serials as last published)."""
    data = []
    for tenant in app.provisioning.list_tenants():
        handle = app.tenants.handle(tenant["slug"])
        data.append(handle.read_sync("dns records", lambda c, s=tenant["slug"]: business_dns(c, s)))
    box = box_dns(app.settings)
    built = build_zones(box, data)
    assign_serials(built, app.box.read_sync("dns serials", boxdb.dns_serials))
    return box, built


# -- the records a business adds (CLI) -----------------------------------------


def _owning_domain(app: Any, name: str) -> str | None:
    """The catalog domain with the longest match for ``name``."""
    domains = set(app.box.read_sync("dns domains", boxdb.all_domains))
    candidate = name[2:] if name.startswith("*.") else name
    while candidate:
        if candidate in domains:
            return candidate
        candidate = candidate.partition(".")[2]
    return None


def parse_record(app: Any, domain: str, name: str, rtype: str, value: str, ttl: int = TTL) -> tuple[str, CustomRecord]:
    """Validate command-line arguments into ``(slug, record)``.

    The name must lie in ``domain`` and in no other domain of the catalog
    (another business's, or another of this business's own, which hold
    their names themselves); the box zone's own names are never anyone's.
    """
    domain = names.domain(domain)
    rtype = rtype.strip().upper()
    if rtype not in RECORD_TYPES:
        raise InvalidInput(f"unsupported record type {rtype!r}: use one of {', '.join(RECORD_TYPES)}")
    if not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidInput(f"invalid TTL {ttl}: expected {MIN_TTL}-{MAX_TTL} seconds")
    slug = app.provisioning.slug_for_domain(domain)
    full = owner_name(domain, name)
    owner = _owning_domain(app, full)
    if owner != domain:
        raise InvalidInput(f"{full} belongs to the domain {owner}, not {domain}")
    return slug, CustomRecord(domain, full, rtype, check_value(rtype, value, domain), ttl)


def add_record(app: Any, domain: str, name: str, rtype: str, value: str, ttl: int = TTL) -> dict:
    """Check and store one record; returns it as shown by :func:`list_records`."""
    slug, record = parse_record(app, domain, name, rtype, value, ttl)
    _box, built = zones_sync(app)
    zone = zone_for(built, record.name)
    if zone is None:  # the catalog and the zones disagree: never write blind
        raise NotFound(f"the box serves no zone for {record.name}")
    check_record(zone, record)
    relative = "@" if record.name == record.domain else record.name[: -len(record.domain) - 1]
    limit = app.settings.dns.max_records
    app.tenants.handle(slug).write_sync(
        "dns record add",
        lambda c: dnsdb.add_record(c, record.domain, relative, record.type, record.value, record.ttl, limit),
    )
    app.box.write_sync("dns record add", boxdb.bump_generation)
    return {"domain": record.domain, "name": record.name, "type": record.type, "value": record.value, "ttl": record.ttl}


def remove_record(app: Any, domain: str, name: str, rtype: str, value: str | None = None) -> int:
    """Remove the RRset, or one record of it; returns how many went."""
    domain = names.domain(domain)
    rtype = rtype.strip().upper()
    if rtype not in RECORD_TYPES:
        raise InvalidInput(f"unsupported record type {rtype!r}: use one of {', '.join(RECORD_TYPES)}")
    slug = app.provisioning.slug_for_domain(domain)
    full = owner_name(domain, name)
    relative = "@" if full == domain else full[: -len(domain) - 1]
    canonical = None if value is None else check_value(rtype, value, domain)
    removed = app.tenants.handle(slug).write_sync(
        "dns record remove", lambda c: dnsdb.remove_records(c, domain, relative, rtype, canonical)
    )
    app.box.write_sync("dns record remove", boxdb.bump_generation)
    return removed


def list_records(app: Any, domain: str) -> list[dict]:
    """The records the business of ``domain`` added there (absolute names)."""
    domain = names.domain(domain)
    slug = app.provisioning.slug_for_domain(domain)
    rows = app.tenants.handle(slug).read_sync("dns records", lambda c: dnsdb.list_records(c, domain))
    return [
        {"domain": r["domain"], "name": _absolute(r["domain"], r["name"]), "type": r["type"], "value": r["value"], "ttl": r["ttl"]}
        for r in rows
    ]
