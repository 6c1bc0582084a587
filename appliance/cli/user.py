"""``appliance user ...``: people of a business (``appliance.services.people``)."""

from __future__ import annotations

import argparse

from .common import add_json, read_password_stdin, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("user", help="users (mailboxes and logins)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="create a user; prints a generated password unless --password-stdin")
    a.add_argument("address")
    a.add_argument("--name", help="display name")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a.set_defaults(handler=_add)

    a = s.add_parser("passwd", help="set a user's password (generated unless --password-stdin)")
    a.add_argument("address")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a.set_defaults(handler=_passwd)

    a = s.add_parser("quota", help="set a user's mailbox quota in MiB (0: the plan's)")
    a.add_argument("address")
    a.add_argument("megabytes", type=int)
    a.set_defaults(handler=lambda ctx: ctx.core.people.set_quota(ctx.args.address, ctx.args.megabytes, actor=ctx.actor))

    a = s.add_parser("role", help="make a user an owner of the business (control panel rights) or a member")
    a.add_argument("address")
    a.add_argument("role", choices=("owner", "member"))
    a.set_defaults(handler=lambda ctx: ctx.core.people.set_role(ctx.args.address, ctx.args.role, actor=ctx.actor))

    a = s.add_parser("two-step-off", help="turn off a user's two-step sign-in (a lost phone and recovery codes)")
    a.add_argument("address")
    a.set_defaults(handler=lambda ctx: ctx.core.security.turn_off_two_step(ctx.args.address, actor=ctx.actor))

    a = s.add_parser("list", help="users of one business")
    a.add_argument("slug")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.people.list(ctx.args.slug),
        lambda rows: table(rows, ("address", "display_name", "role", "quota_bytes", "state", "created")),
    ))

    a = s.add_parser("remove", help="remove a user and their mail")
    a.add_argument("address")
    a.set_defaults(handler=lambda ctx: ctx.core.people.remove(ctx.args.address, actor=ctx.actor))


def _add(ctx) -> None:
    password = read_password_stdin() if ctx.args.password_stdin else None
    generated = ctx.core.people.add(ctx.args.address, password, ctx.args.name, actor=ctx.actor)
    if generated:
        print(f"password for {ctx.args.address.strip().lower()}: {generated}")


def _passwd(ctx) -> None:
    password = read_password_stdin() if ctx.args.password_stdin else None
    generated = ctx.core.people.set_password(ctx.args.address, password, actor=ctx.actor)
    if generated:
        print(f"password for {ctx.args.address.strip().lower()}: {generated}")
