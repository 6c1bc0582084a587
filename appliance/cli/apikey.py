"""``appliance apikey ...``: keys of the provisioning API (``appliance.services.apikeys``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("apikey", help="keys of the provisioning API (for a billing system)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="make a key; prints its token, once")
    a.add_argument("name")
    a.add_argument("--scope", choices=("read", "write"), default="read",
                   help="read: look only (the default); write: create and change businesses too")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.api_keys.add(ctx.args.name, ctx.args.scope, actor=ctx.actor),
        lambda k: f"API key {k['name']} ({k['scope']}): {k['token']}\nShown once; the box keeps only its digest.",
    ))

    a = s.add_parser("list", help="list keys (revoked ones too)")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.api_keys.list(),
        lambda rows: table(rows, ("name", "scope", "created", "last_used", "revoked")),
    ))

    a = s.add_parser("revoke", help="revoke a key: its token is refused from then on")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.api_keys.revoke(ctx.args.name, actor=ctx.actor))
