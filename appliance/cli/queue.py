"""``appliance queue ...``: the outbound mail queue of every business
(``appliance.services.queue``; ids are ``<slug>:<number>``)."""

from __future__ import annotations

import argparse
from typing import Any

from appliance.errors import InvalidInput

from .common import add_json, table


def _plain(rows: list[dict]) -> str:
    flat = [
        {**r, "to": [x["address"] for x in r["recipients"] if x["state"] == "queued"]}
        for r in rows
    ]
    return table(flat, ("id", "from", "to", "attempts", "next_attempt", "last_error"))


def retry(ctx: Any) -> None:
    if ctx.args.all:
        ctx.core.queue.retry_all(actor=ctx.actor)
    elif ctx.args.id:
        ctx.core.queue.retry(ctx.args.id, actor=ctx.actor)
    else:
        raise InvalidInput("name a queue id or --all")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="outgoing mail waiting for delivery")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("list", help="queued messages, of every business or of one")
    a.add_argument("slug", nargs="?")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.queue.list(ctx.args.slug), _plain))

    a = s.add_parser("retry", help="try a queued message (SLUG:NUMBER), or --all, now")
    a.add_argument("id", nargs="?")
    a.add_argument("--all", action="store_true", help="every queued message of every business")
    a.set_defaults(handler=retry)

    a = s.add_parser("delete", help="drop a queued message (SLUG:NUMBER) without a bounce")
    a.add_argument("id")
    a.set_defaults(handler=lambda ctx: ctx.core.queue.delete(ctx.args.id, actor=ctx.actor))
