"""What the DNS zones are built from: the box's settings, the catalog, and
each business's domains and DKIM keys. Shared by the DNS service (async, on
the loop) and ``appliance dns show`` (blocking, in the CLI)."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from storage import box as boxdb
from storage import dkim
from storage.errors import TenantNotFound

from .zones import BoxDns, BusinessDns, Zone, assign_serials, build_zones

log = logging.getLogger(__name__)


def box_dns(settings: Any) -> BoxDns:
    box = settings.box
    nameservers = (f"ns1.{box.domain}", f"ns2.{box.domain}")
    return BoxDns(box.hostname, box.domain, nameservers, box.ipv4, box.ipv6, box.admin_email)


def business_dns(conn: sqlite3.Connection, slug: str) -> BusinessDns:
    """One business's part of the zones, read from its file."""
    free, own, keys = "", [], {}
    for row in conn.execute("SELECT name, kind FROM domains ORDER BY name"):
        if row["kind"] == "free":
            free = row["name"]
        else:
            own.append(row["name"])
        record = dkim.txt_record(conn, row["name"])
        if record is not None:
            keys[row["name"]] = record
    return BusinessDns(slug, free, tuple(own), keys)


async def zones(app: Any) -> tuple[BoxDns, dict[str, Zone], dict[str, tuple[str, int]]]:
    """Every zone with its serial; the serials to store are returned too."""
    tenants = await app.box.read("dns tenants", boxdb.list_tenants)
    businesses = []
    for tenant in tenants:
        try:
            handle = app.tenants.handle(tenant["slug"])
            businesses.append(await handle.read("dns records", lambda c, s=tenant["slug"]: business_dns(c, s)))
        except TenantNotFound:
            log.warning("business %s is in the catalog without a file", tenant["slug"])
    box = box_dns(app.settings)
    built = build_zones(box, businesses)
    previous = await app.box.read("dns serials", boxdb.dns_serials)
    return box, built, assign_serials(built, previous)


def zones_sync(app: Any) -> tuple[BoxDns, dict[str, Zone]]:
    """The zones as the daemon serves them (serials as last published)."""
    businesses = []
    for tenant in app.provisioning.list_tenants():
        handle = app.tenants.handle(tenant["slug"])
        businesses.append(handle.read_sync("dns records", lambda c, s=tenant["slug"]: business_dns(c, s)))
    box = box_dns(app.settings)
    built = build_zones(box, businesses)
    assign_serials(built, app.box.read_sync("dns serials", boxdb.dns_serials))
    return box, built
