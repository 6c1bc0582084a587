"""``appliance dns show DOMAIN``: the zone the box serves for a domain."""

from __future__ import annotations

import argparse

from appliance import dnsdata, names
from appliance.errors import NotFound
from appliance.zones import TTL

from .common import add_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dns", help="DNS zones")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("show", help="every record of the zone that holds DOMAIN, in zone-file form")
    a.add_argument("domain")
    add_json(a)
    a.set_defaults(handler=_show)


def _show(ctx) -> None:
    domain = names.domain(ctx.args.domain)
    box, zones = dnsdata.zones_sync(ctx.app)
    origin = domain
    while origin and origin not in zones:
        origin = origin.partition(".")[2]
    if not origin:
        raise NotFound(f"the box serves no zone for {domain}")
    zone = zones[origin]
    records = [{"name": zone.origin, "type": "SOA", "ttl": TTL, "data": zone.soa(box)}]
    for (name, rtype), values in sorted(zone.records.items()):
        records += [{"name": name, "type": rtype, "ttl": TTL, "data": value} for value in values]
    ctx.emit(
        {"zone": zone.origin, "serial": zone.serial, "records": records},
        lambda z: f"; zone {z['zone']}, serial {z['serial']}\n"
        + "\n".join(f"{r['name']}.\t{r['ttl']}\tIN\t{r['type']}\t{r['data']}" for r in z["records"]),
    )
