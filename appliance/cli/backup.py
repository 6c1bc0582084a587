"""``appliance backup status``: what the replica holds (``appliance.services.backups``)."""

from __future__ import annotations

import argparse

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="continuous backups ([backup])")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("status", help="last change shipped to the replica, per business, and its age")
    add_json(a)
    a.set_defaults(handler=_status)


def _status(ctx) -> int:
    status = ctx.core.backups.status()
    ctx.emit(status, _plain)
    return 1 if status.enabled and status.warnings else 0


def _plain(s: dict) -> str:
    if not s["enabled"]:
        return "continuous backups are off ([backup] url is empty)"
    head = f"replica {s['url']}, warning after {s['warn_seconds']} s" + ("" if s["running"] else " (litestream is not running)")
    return head + "\n" + table(s["databases"], ("status", "name", "txid", "last_sync", "age_seconds", "detail"))
