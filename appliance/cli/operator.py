"""``appliance operator ...``: the box's operators (``appliance.services.operators``)."""

from __future__ import annotations

import argparse

from .common import add_json, read_password_stdin, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operator", help="operators: the box's own accounts for the control panel (2FA required)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    a = s.add_parser("add", help="create an operator; prints a generated password (unless --password-stdin)"
                                 " and the TOTP secret, once")
    a.add_argument("name")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add_json(a)
    a.set_defaults(handler=_add)

    a = s.add_parser("list", help="list operators")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(
        ctx.core.operators.list(),
        lambda rows: table(rows, ("name", "totp_confirmed", "recovery_left", "created", "last_signin")),
    ))

    a = s.add_parser("remove", help="remove an operator (their sessions end)")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.operators.remove(ctx.args.name, actor=ctx.actor))

    a = s.add_parser("passwd", help="set an operator's password (generated unless --password-stdin)")
    a.add_argument("name")
    a.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    a.set_defaults(handler=_passwd)

    a = s.add_parser("reset-2fa", help="give an operator a new TOTP secret, to confirm at the next sign-in")
    a.add_argument("name")
    add_json(a)
    a.set_defaults(handler=lambda ctx: ctx.emit(ctx.core.operators.reset_2fa(ctx.args.name, actor=ctx.actor), _shown))


def _add(ctx) -> None:
    password = read_password_stdin() if ctx.args.password_stdin else None
    ctx.emit(ctx.core.operators.add(ctx.args.name, password, actor=ctx.actor), _shown)


def _passwd(ctx) -> None:
    password = read_password_stdin() if ctx.args.password_stdin else None
    generated = ctx.core.operators.set_password(ctx.args.name, password, actor=ctx.actor)
    if generated:
        print(f"password for operator {ctx.args.name.strip().lower()}: {generated}")


def _shown(c: dict) -> str:
    lines = [f"operator:    {c['name']}"]
    if c["password"]:
        lines.append(f"password:    {c['password']}")
    lines += [
        f"totp secret: {c['totp_secret']}",
        f"totp link:   {c['otpauth']}",
        "Shown once. The operator confirms the second factor with a first code at the first sign-in.",
    ]
    return "\n".join(lines)
