"""``appliance backup status``: what the replica holds (``appliance.services.backups``);
``appliance backup snapshot DIR``: a copy of the whole state (``storage.snapshot``)."""

from __future__ import annotations

import argparse

from appliance.errors import Conflict
from storage import snapshot

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="continuous backups ([backup])")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("status", help="last change shipped to the replica, per business, and its age")
    add_json(a)
    a.set_defaults(handler=_status)
    a = s.add_parser("snapshot", help="copy the box database and every business file, as they are (no migration), "
                                      "into the new directory DIR")
    a.add_argument("directory", metavar="DIR")
    add_json(a)
    a.set_defaults(handler=_snapshot)


def _status(ctx) -> int:
    status = ctx.core.backups.status()
    ctx.emit(status, _plain)
    return 1 if status.enabled and status.warnings else 0


def _snapshot(ctx) -> int:
    # Never through ctx.app: opening the stores would migrate them, and a
    # snapshot taken before an upgrade must hold the old schema.
    try:
        written = snapshot.take(ctx.state_dir, ctx.args.directory)
    except FileExistsError:
        raise Conflict(f"{ctx.args.directory} exists: a snapshot is never overwritten") from None
    ctx.emit({"directory": ctx.args.directory, "databases": [str(p) for p in written]},
             lambda d: f"{len(d['databases'])} databases copied to {d['directory']}")
    return 0


def _plain(s: dict) -> str:
    if not s["enabled"]:
        return "continuous backups are off ([backup] url is empty)"
    head = f"replica {s['url']}, warning after {s['warn_seconds']} s" + ("" if s["running"] else " (litestream is not running)")
    return head + "\n" + table(s["databases"], ("status", "name", "txid", "last_sync", "age_seconds", "detail"))
