"""What the DNS zones are built from: the box's settings, the catalog, and
each business's domains, DKIM keys and own records. Used by the DNS
protocol and the certificates (async: the reading and building run in a
thread, never on the loop) and by the DNS records service
(``appliance.services.dns``, blocking).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
import urllib.parse
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from storage import box as boxdb
from storage import directory
from storage import dkim
from storage import certs as certdb
from storage import dnssec as dnssecdb
from storage import freeze
from storage import dns as dnsdb
from storage.errors import TenantNotFound

from . import dnssec, fleet, mailpolicy, tlsa
from .zones import TTL, BoxDns, BusinessDns, CustomRecord, Zone, assign_serials, build_zones, client_host, zone_for

if TYPE_CHECKING:
    from appliance.app import App

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
    """The box's part of every zone, from the settings (names from :mod:`appliance.fleet`)."""
    box = settings.box
    servers = fleet.nameservers(settings)
    dns = settings.dns
    return BoxDns(
        box.hostname, box.domain, tuple(name for name, _ in servers), box.ipv4, box.ipv6, box.admin_email,
        caa=caa_issuers(settings.acme),
        mta_sts=mailpolicy.MtaSts(dns.mta_sts_mode, (box.hostname,), dns.mta_sts_max_age),
        reports_local_part=dns.reports_local_part, dmarc_reports=dns.dmarc_reports, catalog=dns.catalog,
        glue=servers, client_label=box.client_label, address_ttl=dns.address_ttl,
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
    signing: dict[str, list] = {}
    for key in dnssecdb.keys(conn):
        signing.setdefault(key.domain, []).append(key)
    return BusinessDns(slug, free, tuple(own), keys, records, {d: tuple(k) for d, k in signing.items()},
                       tlsa.keys_by_name(certdb.list_certificates(conn)))


async def businesses(app: App) -> list[BusinessDns]:
    """Every business's DNS data, read from the files in a thread; one
    read per catalog generation shared by every caller (the DNS service,
    SMTP's checks of our own domains, the certificates: at start all three
    ask at once)."""
    return await app.dns_data.get(app.generation, lambda: asyncio.to_thread(businesses_sync, app))


class SharedRead:
    """The latest pass over every business, by catalog generation. Every
    change that touches DNS data bumps the generation (the services'
    ``changed``), so a pass made for the current one is current."""

    def __init__(self) -> None:
        self._generation: int | None = None
        self._task: asyncio.Future | None = None

    async def get(self, generation: int, read: Callable[[], Awaitable[list[BusinessDns]]]) -> list[BusinessDns]:
        """The pass for ``generation``: the one made or under way, else a new
        one by ``read``. A pass that failed is not kept."""
        if self._task is None or self._generation != generation:
            self._generation = generation
            task = self._task = asyncio.ensure_future(read())

            def forget(done: asyncio.Future) -> None:
                if (done.cancelled() or done.exception() is not None) and self._task is done:
                    self._task = None

            task.add_done_callback(forget)
        # One caller cancelled must not cancel the pass the others wait for.
        return list(await asyncio.shield(self._task))


def businesses_sync(app: App) -> list[BusinessDns]:
    """:func:`businesses`, blocking. A file not open already is closed
    again once read (``TenantPool.sweep_read``): a pass over a thousand
    businesses leaves the pool as it found it."""
    tenants = app.box.read_sync("dns tenants", boxdb.list_tenants)
    out = []
    for tenant in tenants:
        slug = tenant["slug"]
        try:
            found = app.tenants.sweep_read(slug, "dns records", lambda c, s=slug: _served_dns(c, s))
        except TenantNotFound:
            log.warning("business %s is in the catalog without a file", slug)
            continue
        if found is not None:
            out.append(found)
    return out


def _served_dns(conn: sqlite3.Connection, slug: str) -> BusinessDns | None:
    """:func:`business_dns`, or None for a business that moved to another
    box (:mod:`storage.freeze`): its zones leave this box's zones and
    catalog zone, and the box that serves it now publishes them, with its
    own addresses."""
    marker = freeze.marker(conn)
    if marker is not None and marker.moved:
        return None
    return business_dns(conn, slug)


def box_signing_keys(box_store: Any, box: BoxDns) -> dict[str, tuple]:
    """The keys of the box zone and the catalog zone, from the box database;
    a zone signed for the first time gets its key made here (blocking: call
    it in a thread)."""
    origins = [o for o in (box.domain, box.catalog) if o]

    def ensure(conn: sqlite3.Connection) -> None:
        for origin in origins:
            dnssecdb.ensure_key(conn, origin)

    found = {k.domain: k for k in box_store.read_sync("dnssec keys", dnssecdb.keys)}
    if any(origin not in found for origin in origins):
        box_store.write_sync("dnssec box keys", ensure)
    out: dict[str, list] = {}
    for key in box_store.read_sync("dnssec keys", dnssecdb.keys):
        if key.domain in origins:
            out.setdefault(key.domain, []).append(key)
    return {d: tuple(k) for d, k in out.items()}


def zone_keys(box: BoxDns, data: list[BusinessDns], box_keys: Mapping[str, tuple]) -> dict[str, tuple]:
    """Each zone's signing keys: the box's for the box and catalog zones, a
    business's for the zones of its domains (its free domain too, a zone of
    its own under a fleet's ``free_domain``; inside the box zone its key is
    simply never used)."""
    out = dict(box_keys)
    for business in data:
        for domain in (business.free_domain, *business.own_domains):
            if domain in business.dnssec_keys and domain not in (box.domain, box.catalog):
                out[domain] = business.dnssec_keys[domain]
    return out


def served_keys(box_store: Any, settings: Any, box_certificate: Callable[[], tuple[Any, Any]]) -> tlsa.ServedKeys:
    """The keys the box's TLS listeners present for its own names: the
    certificates ACME issued for the box (the one named after the host
    name is the default), else the ``[tls]`` or self-signed one (blocking)."""
    rows = box_store.read_sync("certificates", certdb.list_certificates)
    hostname = settings.box.hostname
    own = next((r for r in rows if r["name"] == hostname and r.get("cert_pem") and r.get("key_pem")), None)
    if own is not None:
        default = tlsa.spki_sha256(own["key_pem"])
    else:
        with open(box_certificate()[1], "rb") as key_file:
            default = tlsa.spki_sha256(key_file.read())
    return tlsa.ServedKeys(default, tlsa.keys_by_name(rows))


def publish_tlsa(settings: Any, zones: dict[str, Zone], keys: Mapping[str, tuple], box: BoxDns,
                 data: list[BusinessDns], served: Callable[[], tlsa.ServedKeys]) -> None:
    """With ``[dns] dnssec`` and ``tlsa`` on, the TLSA record of every MX
    host name the zones give (the box host name; each domain's client host
    name) in the zone that holds it, when that zone is signed
    (:mod:`appliance.tlsa`)."""
    if not (settings.dns.dnssec and settings.dns.tlsa):
        return
    signed = {origin for origin, found in keys.items() if any(k.state == "active" for k in found)}
    hosts: list[tuple[str, Mapping[str, str]]] = [(box.hostname, {})]
    if box.client_label:
        hosts += [(client_host(box, domain), business.tls_keys)
                  for business in data for domain in (business.free_domain, *business.own_domains) if domain]
    chosen = None
    for host, own in hosts:
        zone = zone_for(zones, host)
        if zone is None or zone.origin not in signed:
            continue
        chosen = chosen or served()
        name, value = tlsa.record(host, chosen.for_name(host, own))
        zone.add(name, "TLSA", value, box.address_ttl)


def publish_keys(settings: Any, zones: dict[str, Zone], keys: Mapping[str, tuple], now: float) -> None:
    """With ``[dns] dnssec`` on, the key records and signing period of every
    zone that has an active key (``appliance.dnssec.publish_keys``)."""
    dns_settings = settings.dns
    if not dns_settings.dnssec:
        return
    validity, refresh = dns_settings.dnssec_validity_days * dnssec.DAY, dns_settings.dnssec_refresh_days * dnssec.DAY
    for origin, zone in zones.items():
        zone_keys_ = list(keys.get(origin, ()))
        if any(k.state == "active" for k in zone_keys_):
            dnssec.publish_keys(zone, zone_keys_, dnssec.signing_period(origin, now, validity, refresh))


async def zones(
    app: App, data: list[BusinessDns], challenges: Mapping[str, tuple[str, ...]] | None = None,
    now: float | None = None,
) -> tuple[BoxDns, dict[str, Zone], dict[str, tuple[str, int]], dict[str, tuple]]:
    """Every zone with its serial and, when signed, its key records; the
    serials to store and each zone's keys are returned too. Built in a
    thread (a thousand zones take seconds)."""
    previous, announced = await app.box.read("dns serials", boxdb.zone_state)
    box = dataclasses.replace(box_dns(app.settings), catalog_announced=announced)
    moment = time.time() if now is None else now

    def build() -> tuple[dict[str, Zone], dict[str, tuple[str, int]], dict[str, tuple]]:
        built = build_zones(box, data, challenges)
        keys = zone_keys(box, data, box_signing_keys(app.box, box) if app.settings.dns.dnssec else {})
        publish_keys(app.settings, built, keys, moment)
        publish_tlsa(app.settings, built, keys, box, data,
                     lambda: served_keys(app.box, app.settings, app.certificate_files))
        return built, assign_serials(built, previous), keys

    built, serials, keys = await asyncio.to_thread(build)
    return box, built, serials, keys


def zones_sync(app: App) -> tuple[BoxDns, dict[str, Zone]]:
    """The zones as the daemon serves them. See ``app.core.dns.zones``."""
    return app.core.dns.zones()


# -- the records a business adds: ``appliance.services.dns`` -------------------
# Kept for the callers written before the services (tests, scripts).


def add_record(app: App, domain: str, name: str, rtype: str, value: str, ttl: int = TTL) -> dict:
    """See :meth:`appliance.services.dns.DnsRecords.add`."""
    return app.core.dns.add(domain, name, rtype, value, ttl, actor="operator").as_dict()


def remove_record(app: App, domain: str, name: str, rtype: str, value: str | None = None) -> int:
    """See :meth:`appliance.services.dns.DnsRecords.remove`."""
    return app.core.dns.remove(domain, name, rtype, value, actor="operator")


def list_records(app: App, domain: str) -> list[dict]:
    """See :meth:`appliance.services.dns.DnsRecords.list`."""
    return [r.as_dict() for r in app.core.dns.list(domain)]
