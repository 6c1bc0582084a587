"""``appliance alias ...``: addresses that forward inside a business
(``appliance.services.addresses``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("alias", help="aliases and catch-alls (@domain)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="ADDRESS (or @domain for a catch-all) delivers to TARGET...")
    a.add_argument("address")
    a.add_argument("targets", nargs="+", metavar="TARGET")
    a.set_defaults(handler=lambda ctx: ctx.core.addresses.add(ctx.args.address, ctx.args.targets, actor=ctx.actor))

    a = s.add_parser("list", help="aliases of one business")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.addresses.list(ctx.args.slug), lambda rows: table(rows, ("address", "targets"))
    ))

    a = s.add_parser("remove", help="remove an alias, or only some of its targets")
    a.add_argument("address")
    a.add_argument("targets", nargs="*", metavar="TARGET")
    a.set_defaults(handler=lambda ctx: ctx.core.addresses.remove(ctx.args.address, ctx.args.targets, actor=ctx.actor))
