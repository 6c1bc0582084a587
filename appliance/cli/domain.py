"""``appliance domain ...``: a business's own domains (``appliance.services.domains``)
and their live check (``appliance.services.domaincheck``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("domain", help="domains of businesses")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="give a business one of its own domains")
    a.add_argument("slug")
    a.add_argument("domain")
    a.set_defaults(handler=lambda ctx: ctx.core.domains.add(ctx.args.slug, ctx.args.domain, actor=ctx.actor))

    a = s.add_parser("remove", help="take a domain (and its users and aliases) away")
    a.add_argument("domain")
    a.set_defaults(handler=lambda ctx: ctx.core.domains.remove(ctx.args.domain, actor=ctx.actor) and None)

    a = s.add_parser("list", help="domains of one business")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.domains.list(ctx.args.slug), lambda rows: table(rows, ("name", "kind", "created"))
    ))

    a = s.add_parser("check", help="look a domain up as the world sees it (delegation, mail and client records); exit 2 when something is not right")
    a.add_argument("domain")
    add_json(a)
    a.set_defaults(handler=_check)


def _check(ctx) -> int:
    report = ctx.core.domain_checks.check(ctx.args.domain)
    ctx.emit(report, lambda r: f"; {r['domain']} checked {r['checked']} through {r['resolver']}\n" + "\n".join(
        f"{line['status']:8} {line['kind']:12} {line['name']} {line['type']}"
        + ("" if line["status"] == "ok" else f"  found: {', '.join(line['found']) or '-'}  expected: {', '.join(line['expected'])}")
        for line in r["lines"]
    ))
    return 0 if report.ok else 2
