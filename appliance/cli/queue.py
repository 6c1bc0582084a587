"""``appliance queue ...``: the outbound mail queue of every business.

Queue ids are ``<slug>:<number>`` because each business keeps its own queue
in its own file. ``retry`` and ``delete`` change the file directly and bump
the catalog generation, so a running daemon looks at the queue again within
a second.
"""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from appliance import names
from appliance.errors import InvalidInput
from storage import box as boxdb
from storage import queue as queuedb

from .common import add_json, table


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).replace(microsecond=0).isoformat()


def _slugs(ctx: Any, only: str | None) -> list[str]:
    if only:
        return [names.slug(only)]
    return ctx.app.box.read_sync("queue tenants", lambda c: [t["slug"] for t in boxdb.list_tenants(c)])


def _parse_id(value: str) -> tuple[str, int]:
    slug, _, number = value.partition(":")
    if not number.isdigit():
        raise InvalidInput(f"invalid queue id {value!r}: expected SLUG:NUMBER")
    return names.slug(slug), int(number)


def list_queue(ctx: Any) -> list[dict]:
    rows = []
    for slug in _slugs(ctx, ctx.args.slug):
        handle = ctx.app.provisioning.handle(slug)
        for item in handle.read_sync("queue list", queuedb.listing):
            rows.append(
                {
                    "id": f"{slug}:{item['id']}",
                    "business": slug,
                    "from": item["mail_from"],
                    "size": item["size"],
                    "attempts": item["attempts"],
                    "created": _when(item["created"]),
                    "next_attempt": _when(item["next_attempt"]),
                    "expires": _when(item["expires"]),
                    "last_error": item["last_error"],
                    "recipients": item["recipients"],
                }
            )
    return rows


def _plain(rows: list[dict]) -> str:
    flat = [
        {**r, "to": [x["address"] for x in r["recipients"] if x["state"] == "queued"]}
        for r in rows
    ]
    return table(flat, ("id", "from", "to", "attempts", "next_attempt", "last_error"))


def _changed(ctx: Any) -> None:
    ctx.app.box.write_sync("queue changed", boxdb.bump_generation)


def retry(ctx: Any) -> None:
    if ctx.args.all:
        for slug in _slugs(ctx, None):
            ctx.app.provisioning.handle(slug).write_sync("queue retry", lambda c: queuedb.retry_now(c))
    elif ctx.args.id:
        slug, number = _parse_id(ctx.args.id)
        ctx.app.provisioning.handle(slug).write_sync("queue retry", lambda c: queuedb.retry_now(c, number))
    else:
        raise InvalidInput("name a queue id or --all")
    _changed(ctx)


def delete(ctx: Any) -> None:
    slug, number = _parse_id(ctx.args.id)
    ctx.app.provisioning.handle(slug).write_sync("queue delete", lambda c: queuedb.remove(c, number))
    _changed(ctx)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("queue", help="outgoing mail waiting for delivery")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("list", help="queued messages, of every business or of one")
    a.add_argument("slug", nargs="?")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(list_queue(ctx), _plain))

    a = s.add_parser("retry", help="try a queued message (SLUG:NUMBER), or --all, now")
    a.add_argument("id", nargs="?")
    a.add_argument("--all", action="store_true", help="every queued message of every business")
    a.set_defaults(handler=retry)

    a = s.add_parser("delete", help="drop a queued message (SLUG:NUMBER) without a bounce")
    a.add_argument("id")
    a.set_defaults(handler=delete)
