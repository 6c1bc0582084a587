"""``appliance sieve ...``: a user's mail rules (``appliance.services.sieve``)."""

from __future__ import annotations

import argparse
import sys

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sieve", help="a user's mail rules (Sieve scripts)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("list", help="the scripts of ADDRESS, the active one marked")
    a.add_argument("address")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.sieve.list(ctx.core.sieve.account(ctx.args.address)),
        lambda rows: table(rows, ("name", "active", "size", "updated")),
    ))

    a = s.add_parser("show", help="print one script")
    a.add_argument("address")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: sys.stdout.write(
        ctx.core.sieve.get(ctx.core.sieve.account(ctx.args.address), ctx.args.name)
    ))

    a = s.add_parser("put", help="check and store a script read from FILE (- for standard input)")
    a.add_argument("address")
    a.add_argument("name")
    a.add_argument("file", type=argparse.FileType("r", encoding="utf-8"))
    a.add_argument("--activate", action="store_true", help="make it the active script")
    a.set_defaults(handler=_put)

    a = s.add_parser("activate", help="make NAME the active script (\"\" for none)")
    a.add_argument("address")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.sieve.activate(
        ctx.core.sieve.account(ctx.args.address), ctx.args.name, actor=ctx.actor
    ))


def _put(ctx) -> None:
    with ctx.args.file as fh:
        text = fh.read()
    ctx.core.sieve.put(ctx.core.sieve.account(ctx.args.address), ctx.args.name, text, actor=ctx.actor,
                       activate=ctx.args.activate)
