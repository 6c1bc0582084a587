"""``appliance check`` and ``appliance box rebuild``: the box itself."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("check", help="check the box: files, catalog, certificates, queue, listeners, and as the world "
                                     "sees it: delegation, reverse DNS, port 25; exit 1 when something failed")
    a.add_argument("--local", action="store_true", help="only the box's own files and listeners (no DNS, no network)")
    add_json(a)
    a.set_defaults(handler=_check)

    p = sub.add_parser("box", help="the box catalog")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("rebuild", help="rebuild the catalog (slugs, domains) from the business files")
    a.set_defaults(handler=lambda ctx: print(
        f"catalog rebuilt from {ctx.core.businesses.rebuild_catalog(actor=ctx.actor)} business files"
    ))


def _check(ctx) -> int:
    results = ctx.app.box_status.run(outside=not ctx.args.local).results
    ctx.emit([r.as_dict() for r in results], lambda rows: table(rows, ("status", "check", "detail", "fix")))
    return 1 if any(r.status == "fail" for r in results) else 0
