"""``appliance sieve ...``: a user's mail rules (``appliance.services.sieve``)."""

from __future__ import annotations

import argparse
import sys

from appliance.errors import InvalidInput

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
    a.set_defaults(handler=_show)

    a = s.add_parser("put", help="check and store a script read from FILE (- for standard input)")
    a.add_argument("address")
    a.add_argument("name")
    a.add_argument("file", type=argparse.FileType("rb"))
    a.add_argument("--activate", action="store_true", help="make it the active script")
    a.set_defaults(handler=_put)

    a = s.add_parser("activate", help="make NAME the active script (\"\" for none)")
    a.add_argument("address")
    a.add_argument("name")
    a.set_defaults(handler=lambda ctx: ctx.core.sieve.activate(
        ctx.core.sieve.account(ctx.args.address), ctx.args.name, actor=ctx.actor
    ))


def _show(ctx) -> None:
    # The script as stored, byte for byte (line ends kept, none added).
    text = ctx.core.sieve.get(ctx.core.sieve.account(ctx.args.address), ctx.args.name)
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def _put(ctx) -> None:
    # Read as bytes: the script's line ends are kept as written.
    with ctx.args.file as fh:
        data = fh.read(ctx.core.sieve.limits.max_script_bytes + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("a script must be UTF-8 (RFC 5228 section 2.2)") from None
    ctx.core.sieve.put(ctx.core.sieve.account(ctx.args.address), ctx.args.name, text, actor=ctx.actor,
                       activate=ctx.args.activate)
