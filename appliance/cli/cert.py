"""``appliance cert list|renew``: the certificates the box holds
(``appliance.services.certificates``).

``renew`` asks the running daemon and waits for its answer.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from appliance.errors import ApplianceError, InvalidInput

from .common import add_json, table

#: How long ``renew`` waits for the daemon by default (seconds).
WAIT_SECONDS = 180
#: How often ``renew`` looks for the daemon's answer (seconds).
POLL_SECONDS = 0.2


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cert", help="TLS certificates (ACME)")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("list", help="every certificate: names, business, issuer, expiry, status")
    add_json(a)
    a.set_defaults(handler=_list)
    a = s.add_parser("renew", help="ask the running daemon to renew NAME's certificate now (every one without NAME)")
    a.add_argument("name", nargs="?", default="", help="a name the certificate holds (host name or domain)")
    a.add_argument("--wait", type=int, default=WAIT_SECONDS, metavar="SECONDS", help="how long to wait for the result")
    add_json(a)
    a.set_defaults(handler=_renew)


def _list(ctx: Any) -> None:
    def plain(rows: list[dict]) -> str:
        shown = [{**r, "last_error": r["last_error"] or None} for r in rows]
        return table(shown, ("name", "business", "issuer", "not_after", "status", "last_error"))

    ctx.emit(ctx.core.certificates.list(), plain)


def _renew(ctx: Any) -> int:
    certificates = ctx.core.certificates
    certificates.check_name(ctx.args.name)
    if not 1 <= ctx.args.wait <= 3600:
        raise InvalidInput("--wait: 1-3600 seconds")
    request_id = certificates.request_renewal(ctx.args.name, actor=ctx.actor)
    deadline = time.monotonic() + ctx.args.wait
    while time.monotonic() < deadline:
        answer = certificates.renewal(request_id)
        if answer is not None:
            if getattr(ctx.args, "json", False):
                ctx.emit(answer)
            elif answer.ok:
                print(answer.result)
            if not answer.ok:
                raise ApplianceError(" / ".join(answer.result.splitlines()))
            return 0
        time.sleep(POLL_SECONDS)
    raise ApplianceError(f"no answer from the daemon within {ctx.args.wait}s; see appliance cert list")
