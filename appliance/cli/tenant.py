"""``appliance tenant ...``: businesses (``appliance.services.businesses``)."""

from __future__ import annotations

import argparse
import sys

from appliance.errors import InvalidInput

from . import move
from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tenant", help="businesses")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="create a business")
    a.add_argument("slug")
    a.add_argument("--name", help="display name (default: the slug)")
    a.add_argument("--domain", help="its own domain, besides the free <slug>.<box domain>")
    a.add_argument("--plan", help="plan name (default from [box] default_plan)")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.businesses.create(ctx.args.slug, ctx.args.name, ctx.args.domain, ctx.args.plan, actor=ctx.actor),
        lambda t: f"created {t['slug']}: " + " ".join(d["name"] for d in t["domains"]),
    ))

    a = s.add_parser("list", help="list businesses")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.businesses.list(),
        lambda rows: table(rows, ("slug", "name", "state", "created", "domains")),
    ))

    a = s.add_parser("show", help="one business")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.businesses.show(ctx.args.slug), _show))

    for action, state in (("suspend", "suspended"), ("resume", "active")):
        a = s.add_parser(action, help=f"{action} a business")
        a.add_argument("slug")
        a.set_defaults(handler=lambda ctx, state=state: ctx.core.businesses.set_state(ctx.args.slug, state, actor=ctx.actor))

    a = s.add_parser("lift", help="lift a signed-up business's hold on outbound mail (only its plan limits it then)")
    a.add_argument("slug")
    a.set_defaults(handler=lambda ctx: print(
        "lifted" if ctx.core.businesses.lift_hold(ctx.args.slug, actor=ctx.actor) else "no hold to lift"))

    a = s.add_parser("plan", help="move a business to another plan")
    a.add_argument("slug")
    a.add_argument("plan")
    a.set_defaults(handler=lambda ctx: ctx.core.businesses.set_plan(ctx.args.slug, ctx.args.plan, actor=ctx.actor))

    a = s.add_parser("extra", help="paid extras on top of a business's plan")
    e = a.add_subparsers(dest="extra_action", metavar="ACTION", required=True)
    b = e.add_parser("list", help="a business's extras and the limits they make with its plan")
    b.add_argument("slug")
    add_json(b)
    b.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.extras.list(ctx.args.slug), _extras))
    b = e.add_parser("add", help="add people, mailbox MiB (each mailbox) or web MiB on top of the plan")
    b.add_argument("slug")
    b.add_argument("kind", metavar="KIND", help="people, mailbox_mb or web_mb")
    b.add_argument("amount")
    add_json(b)
    b.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.extras.add(ctx.args.slug, ctx.args.kind, _whole(ctx.args.amount, "amount"), actor=ctx.actor),
        lambda x: f"added extra {x['id']}: {x['kind']} {x['amount']}"))
    b = e.add_parser("remove", help="take back one extra (by its number); nothing stored is deleted")
    b.add_argument("slug")
    b.add_argument("id")
    b.set_defaults(handler=lambda ctx: print("took back extra {0.id}: {0.kind} {0.amount}".format(
        ctx.core.extras.remove(ctx.args.slug, _whole(ctx.args.id, "id"), actor=ctx.actor))))

    a = s.add_parser("remove", help="unregister a business; its file goes to <state>/removed/")
    a.add_argument("slug")
    a.set_defaults(handler=lambda ctx: print(f"removed; file kept at {ctx.core.businesses.remove(ctx.args.slug, actor=ctx.actor)}"))

    a = s.add_parser("export", help="copy a business's whole state to one file ('-': standard output)")
    a.add_argument("slug", nargs="?")
    a.add_argument("file", nargs="?")
    a.add_argument("--all", metavar="DIR", help="copy every business to DIR/<slug>.sqlite3 (mode 0600) instead")
    a.set_defaults(handler=_export)

    a = s.add_parser("restore", help="bring a business back from the continuous backup ([backup])")
    a.add_argument("slug")
    a.add_argument("--at", metavar="TIME", help="as it was at this time, ISO 8601 (default: the latest); no zone means UTC")
    a.add_argument("--as", dest="as_slug", metavar="NEWSLUG", help="alongside, as a new business, instead of replacing it")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.backups.restore(ctx.args.slug, ctx.args.at, ctx.args.as_slug, actor=ctx.actor),
        lambda t: f"restored {t['slug']}",
    ))

    a = s.add_parser("import", help="bring a business file onto this box")
    a.add_argument("file")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.businesses.import_file(ctx.args.file, actor=ctx.actor), lambda t: f"imported {t['slug']}"
    ))

    move.register(s)

    a = s.add_parser("usage", help="usage figures for billing")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.businesses.usage(ctx.args.slug), _usage))


def _export(ctx) -> None:
    if ctx.args.all is not None:
        if ctx.args.slug is not None:
            raise InvalidInput("export --all DIR takes no business and no file")
        written = ctx.core.backups.export_all(ctx.args.all, actor=ctx.actor)
        print(f"exported {len(written)} businesses to {ctx.args.all}")
        return
    if ctx.args.slug is None or ctx.args.file is None:
        raise InvalidInput("export needs SLUG FILE, or --all DIR")
    if ctx.args.file == "-":
        ctx.core.businesses.export_to(ctx.args.slug, sys.stdout.buffer, actor=ctx.actor)
    else:
        ctx.core.businesses.export(ctx.args.slug, ctx.args.file, actor=ctx.actor)


def _show(t: dict) -> str:
    plan = t["plan"]
    lines = [
        f"slug:     {t['slug']}",
        f"name:     {t['name']}",
        f"state:    {t['state']}",
        f"created:  {t['created']}",
        f"plan:     {plan['name']} (users {plan['max_users']}, mailbox {plan['mailbox_bytes'] // 2**20} MiB,"
        f" web {plan['web_bytes'] // 2**20} MiB, {plan['messages_per_day']} messages/day)",
        f"users:    {t['users']}",
        "domains:  " + " ".join(f"{d['name']} ({d['kind']})" for d in t["domains"]),
    ]
    if t.get("outbound_hold"):
        lines.append(f"hold:     {t['outbound_hold']} messages/day until lifted (appliance tenant lift {t['slug']})")
    return "\n".join(lines)


def _whole(value: str, name: str) -> int:
    if not value.isdigit() or len(value) > 12:
        raise InvalidInput(f"{name}: expected a whole number, not {value!r}")
    return int(value)


def _extras(v: dict) -> str:
    limits = v["limits"]
    lines = [table(v["extras"], ("id", "kind", "amount", "created")),
             f"limits:   {v['plan']['name']} + extras: users {limits['max_users']},"
             f" mailbox {limits['mailbox_bytes'] // 2**20} MiB, web {limits['web_bytes'] // 2**20} MiB"]
    return "\n".join(lines)


def _usage(u: dict) -> str:
    lines = [f"{k}: {v}" for k, v in u["counts"].items()]
    lines.append(f"file_bytes: {u['file_bytes']}")
    for counter, periods in u["counters"].items():
        for period, value in periods.items():
            lines.append(f"{counter} {period}: {value}")
    return "\n".join(lines)
