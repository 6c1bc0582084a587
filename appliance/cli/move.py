"""``appliance tenant move|freeze|thaw``: moving a business to another box
(``appliance.services.moves``)."""

from __future__ import annotations

import argparse
import os
import sys
import time

from appliance.errors import InvalidInput
from appliance.movewire import Target

from .common import add_json, read_password_stdin

#: The environment variable that may hold the target's API key.
TOKEN_ENV = "APPLIANCE_TARGET_TOKEN"


def register(s: argparse._SubParsersAction) -> None:
    """Add the actions to ``appliance tenant``'s subparsers ``s``."""
    a = s.add_parser("move", help="move a business to another box, with nothing lost (freeze, copy, send, switch)")
    a.add_argument("slug")
    a.add_argument("--to", required=True, metavar="URL",
                   help="the other box: https://<its box host name>[:port]")
    a.add_argument("--token-stdin", action="store_true",
                   help=f"read the other box's API key (write scope) from stdin (default: ${TOKEN_ENV})")
    a.add_argument("--ca-file", default="", metavar="PEM",
                   help="CA of the other box's certificate (default: the system's trusted CAs)")
    a.add_argument("--address", default="", metavar="IP",
                   help="connect to this address instead of resolving the host name of --to")
    a.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    add_json(a)
    a.set_defaults(handler=_move)

    a = s.add_parser("freeze", help="refuse every write of a business with a temporary failure (reads still served)")
    a.add_argument("slug")
    a.add_argument("--to", default="", metavar="HOST", help="the box it is moving to (answered in redirects)")
    a.set_defaults(handler=lambda ctx: print(
        f"frozen since {ctx.core.moves.freeze(ctx.args.slug, ctx.args.to, actor=ctx.actor).since}"))

    a = s.add_parser("thaw", help="lift a freeze: the business is writable here again")
    a.add_argument("slug")
    a.set_defaults(handler=lambda ctx: print(
        "thawed" if ctx.core.moves.thaw(ctx.args.slug, actor=ctx.actor) else "was not frozen"))


def _move(ctx) -> None:
    args = ctx.args
    token = read_password_stdin() if args.token_stdin else os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        raise InvalidInput(f"give the other box's API key on stdin (--token-stdin) or in ${TOKEN_ENV}")
    started = time.monotonic()
    shown = [-1]

    def progress(step: str, done: int, total: int) -> None:
        if args.quiet:
            return
        if step == "send":
            tenth = done * 10 // total if total else 10
            if tenth == shown[0]:
                return
            shown[0] = tenth
            print(f"  send {done * 100 // max(total, 1):3d}%  {done}/{total} bytes  {time.monotonic() - started:.1f} s",
                  file=sys.stderr)
        else:
            print(f"{step} {time.monotonic() - started:.1f} s", file=sys.stderr)

    moved = ctx.core.moves.move(args.slug, Target(args.to, token.strip(), args.ca_file, args.address), actor=ctx.actor,
                                progress=progress)
    ctx.emit(moved, lambda m: f"moved {m['slug']} to {m['target']}: {m['bytes']} bytes, sha-256 {m['sha256']},"
                              f" writes refused for {m['seconds_frozen']} s"
                              + ("" if m["handed_over"] else "; the target did not announce its catalog: the fleet's"
                                 " name servers take the zones from it when its catalog next changes"))
