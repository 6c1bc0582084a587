"""``appliance plan ...``: the box's plans (``appliance.services.plans``)."""

from __future__ import annotations

import argparse

from appliance.errors import InvalidInput

from .common import add_json, table

_MIB = 2**20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="plans (limits businesses are on)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("list", help="list plans")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.plans.list(), _table))

    a = s.add_parser("show", help="one plan and the businesses on it")
    a.add_argument("name")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.plans.show(ctx.args.name), _show))

    a = s.add_parser("add", help="add a plan (figures not given: the [plans.NAME] defaults)")
    a.add_argument("name")
    _figure_options(a)
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.plans.add(ctx.args.name, _figures(ctx.args), actor=ctx.actor), lambda p: f"added plan {p['name']}"))

    a = s.add_parser("set", help="change a plan's figures; every business on it gets them at once")
    a.add_argument("name")
    _figure_options(a)
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.plans.change(ctx.args.name, _figures(ctx.args), actor=ctx.actor),
        lambda p: f"changed plan {p['name']}"))

    a = s.add_parser("remove", help="remove a plan no business is on")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.plans.remove(ctx.args.name, actor=ctx.actor))


def _figure_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-users", dest="max_users", metavar="N", help="people (mailboxes) a business may have")
    parser.add_argument("--mailbox-mb", dest="mailbox_mb", metavar="MIB", help="storage per mailbox, MiB")
    parser.add_argument("--web-mb", dest="web_mb", metavar="MIB", help="website space, MiB")
    parser.add_argument("--messages-per-day", dest="messages_per_day", metavar="N", help="messages a business may send a day")


def _figures(args: argparse.Namespace) -> dict[str, int]:
    out = {}
    for key in ("max_users", "mailbox_mb", "web_mb", "messages_per_day"):
        value = getattr(args, key)
        if value is None:
            continue
        if not value.isdigit():
            raise InvalidInput(f"--{key.replace('_', '-')}: expected a whole number, not {value!r}")
        out[key] = int(value)
    return out


def _row(p: dict) -> dict:
    return {"name": p["name"], "users": p["max_users"], "mailbox_mib": p["mailbox_bytes"] // _MIB,
            "web_mib": p["web_bytes"] // _MIB, "messages_per_day": p["messages_per_day"]}


def _table(plans: list[dict]) -> str:
    return table([_row(p) for p in plans], ("name", "users", "mailbox_mib", "web_mib", "messages_per_day"))


def _show(d: dict) -> str:
    row = _row(d["plan"])
    lines = [f"{k}: {v}" for k, v in row.items()]
    lines.append("businesses: " + (" ".join(d["businesses"]) or "(none)"))
    return "\n".join(lines)
