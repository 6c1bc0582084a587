"""``appliance domain ...``: a business's own domains (``appliance.services.domains``)."""

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
