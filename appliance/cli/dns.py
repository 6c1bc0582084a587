"""``appliance dns show|add|remove|records|ds|rollover``: the zones the box
serves, the records a business adds to its own domains, and each zone's
DNSSEC keys (``appliance.services.dns``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dns", help="DNS zones and records")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("show", help="every record of the zone that holds DOMAIN, in zone-file form (the business's own marked '; added')")
    a.add_argument("domain")
    add_json(a)
    a.set_defaults(handler=_show)

    a = s.add_parser("add", help="add a record to a business's domain (A, AAAA, CNAME, MX, TXT, SRV, CAA, NS)")
    a.add_argument("domain", help="the business's domain")
    a.add_argument("name", help="@ for the domain itself, a name relative to it, or a full name ending in a dot; *.NAME is a wildcard")
    a.add_argument("type", metavar="TYPE")
    a.add_argument("value", help='e.g. 192.0.2.1 | "10 mx.example.net." | "0 5 5060 sip.example.net." | \'0 issue "ca.example"\' | text')
    a.add_argument("--ttl", type=int, default=3600, help="seconds (60-604800; default 3600)")
    add_json(a)
    a.set_defaults(handler=_add)

    a = s.add_parser("remove", help="remove a record (or with no VALUE every record of that name and type)")
    a.add_argument("domain")
    a.add_argument("name")
    a.add_argument("type", metavar="TYPE")
    a.add_argument("value", nargs="?")
    a.set_defaults(handler=_remove)

    a = s.add_parser("ds", help="the DS records (and DNSKEY) to give DOMAIN's registrar, for DNSSEC")
    a.add_argument("domain")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.dns.ds(ctx.args.domain), _ds_text))

    a = s.add_parser("rollover", help="one step of a DNSSEC key rollover of DOMAIN's zone: start (publish a new key), "
                     "switch (sign with it, after the new DS is at the registrar), finish (remove the old key, once the zone's TTLs have passed)")
    a.add_argument("domain")
    a.add_argument("step", choices=("start", "switch", "finish"))
    a.add_argument("--force", action="store_true", help="finish without waiting for the TTLs")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.dns.rollover(ctx.args.domain, ctx.args.step, actor=ctx.actor, force=ctx.args.force), _ds_text))

    a = s.add_parser("records", help="the records the business added to DOMAIN")
    a.add_argument("domain")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.dns.list(ctx.args.domain), lambda rows: table(rows, ("name", "type", "ttl", "value"))
    ))


def _ds_text(status: dict) -> str:
    if not status["signed"]:
        head = f"; {status['zone']}: the box does not sign zones ([dns] dnssec = false); give the registrar no DS"
    else:
        head = f"; {status['zone']}: give the registrar these DS records (or the DNSKEY, if it asks for the key)"
    if status["rollover"] == "published":
        head += "\n; key rollover under way: a new key is published, both DS belong at the registrar"
    elif status["rollover"] == "retired":
        head += "\n; key rollover under way: the old key is retired; finish once its TTL has passed"
    lines = [head]
    for ds in status["ds"]:
        lines += [
            f"; key tag {ds['key_tag']}, algorithm {ds['algorithm']} (ECDSAP256SHA256), digest type {ds['digest_type']} (SHA-256), {ds['state']}",
            ds["ds"], ds["dnskey"],
        ]
    return "\n".join(lines)


def _add(ctx) -> None:
    a = ctx.args
    ctx.emit(ctx.core.dns.add(a.domain, a.name, a.type, a.value, a.ttl, actor=ctx.actor))


def _remove(ctx) -> None:
    a = ctx.args
    ctx.core.dns.remove(a.domain, a.name, a.type, a.value, actor=ctx.actor)


def _show(ctx) -> None:
    ctx.emit(
        ctx.core.dns.zone(ctx.args.domain),
        lambda z: f"; zone {z['zone']}, serial {z['serial']}\n"
        + "\n".join(
            f"{r['name']}.\t{r['ttl']}\tIN\t{r['type']}\t{r['data']}" + ("\t; added" if r["added"] else "")
            for r in z["records"]
        ),
    )
