"""``appliance senders ...``: allow and block lists of senders, a business's
or one user's (``appliance.services.senderlists``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def _scope(p: argparse.ArgumentParser) -> None:
    p.add_argument("slug", metavar="SLUG")
    p.add_argument("--user", metavar="ADDRESS", help="one user's lists instead of the business's")


def _which(p: argparse.ArgumentParser, *, required: bool) -> None:
    g = p.add_mutually_exclusive_group(required=required)
    g.add_argument("--allow", dest="list", action="store_const", const="allow", help="the allow list")
    g.add_argument("--block", dest="list", action="store_const", const="block", help="the block list")


def _list(ctx) -> None:
    lists = ctx.core.sender_lists
    entries = lists.list(lists.scope(ctx.args.slug, ctx.args.user))
    if ctx.args.list:
        entries = [e for e in entries if e.list == ctx.args.list]
    ctx.emit(entries, lambda rows: table(rows, ("list", "entry", "kind", "added_by", "added")))


def _add(ctx) -> None:
    lists = ctx.core.sender_lists
    entry = lists.add(lists.scope(ctx.args.slug, ctx.args.user), ctx.args.list, ctx.args.entry, actor=ctx.actor)
    ctx.emit(entry, lambda e: f"{e['entry']} added to the {e['list']} list")


def _remove(ctx) -> None:
    lists = ctx.core.sender_lists
    lists.remove(lists.scope(ctx.args.slug, ctx.args.user), ctx.args.list, ctx.args.entry, actor=ctx.actor)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("senders", help="allow and block lists of senders (addresses and domains)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("list", help="the entries of a business's (or a user's) lists")
    _scope(a)
    _which(a, required=False)
    add_json(a)
    a.set_defaults(handler=_list)

    a = s.add_parser("add", help="add an address or domain (domain: its subdomains too) to a list")
    _scope(a)
    _which(a, required=True)
    a.add_argument("entry", metavar="ENTRY")
    add_json(a)
    a.set_defaults(handler=_add)

    a = s.add_parser("remove", help="remove an entry from a list")
    _scope(a)
    _which(a, required=True)
    a.add_argument("entry", metavar="ENTRY")
    a.set_defaults(handler=_remove)
