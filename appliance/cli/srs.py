"""``appliance srs rotate``: a new secret for the return addresses of
forwarded mail (the old ones keep verifying for ``[srs] max_age_days``)."""

from __future__ import annotations

import argparse

from appliance.srs import Srs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("srs", help="the Sender Rewriting Scheme of forwarded mail")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("rotate", help="make a new signing secret; the old ones still verify for [srs] max_age_days")
    a.set_defaults(handler=_rotate)


def _rotate(ctx) -> None:
    count = Srs(ctx.app.box, ctx.settings.srs).rotate()
    print(f"new SRS secret made; {count} secrets verify return addresses")
