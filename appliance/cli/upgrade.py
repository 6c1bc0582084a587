"""``appliance migrate``, ``appliance health`` and ``appliance upgrade``:
what an upgrade of the box is made of (README "Upgrades").

``upgrade`` itself is ``images/install --upgrade`` of the new version's
tree: it needs root (it installs code, swaps the release and restarts the
service), so this command runs it as root or says how to.
"""

from __future__ import annotations

import argparse
import os
import shlex
from pathlib import Path

from appliance import probe
from appliance.errors import InvalidInput, NotFound

from .common import add_json, table


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("migrate", help="bring the box database and every business file to this version's schema now")
    add_json(a)
    a.set_defaults(handler=_migrate)

    a = sub.add_parser("health", help="ask the running daemon's /healthz; exit 1 unless it answers ok")
    a.add_argument("--wait", type=float, default=0, metavar="SECONDS", help="keep asking for this long (default: once)")
    add_json(a)
    a.set_defaults(handler=_health)

    a = sub.add_parser("upgrade", help="upgrade the box to the version in SOURCE, rolling back if it does not come up "
                                       "(runs SOURCE/images/install --upgrade as root)")
    a.add_argument("source", metavar="SOURCE", help="the new version's tree (a checkout or an unpacked release)")
    a.add_argument("--health-timeout", type=int, metavar="SECONDS", help="how long the new version gets to answer")
    a.add_argument("--keep", type=int, metavar="N", help="releases (and pre-upgrade snapshots) kept")
    a.add_argument("--dry-run", action="store_true", help="print what would be done, change nothing")
    # It must stay root: the CLI otherwise becomes the state's owner first.
    a.set_defaults(handler=_upgrade, keeps_root=True)


def _migrate(ctx) -> int:
    ctx.emit(ctx.core.businesses.migrate_all(), _migrated)
    return 0


def _migrated(rows: list[dict]) -> str:
    changed = [r for r in rows if r["applied"]]
    head = f"{len(rows)} databases, {len(changed)} migrated"
    return head + ("\n" + table(changed, ("database", "applied")) if changed else "")


def _health(ctx) -> int:
    answer = probe.wait_healthy(ctx.state_dir, ctx.args.wait) if ctx.args.wait else probe.look(ctx.state_dir)
    ctx.emit(answer, lambda a: f"healthy: {', '.join(sorted(a.get('checks', {})))}")
    return 0


def _upgrade(ctx) -> int:
    source = Path(ctx.args.source).resolve()
    script = source / "images" / "install"
    if not script.is_file():
        raise NotFound(f"{source} is not a tree of the appliance (no images/install)")
    argv = [str(script), "--upgrade", "--source", str(source), "--yes"]
    if ctx.args.config:
        argv += ["--config", str(Path(ctx.args.config).resolve())]
    if ctx.args.state:
        argv += ["--state", str(Path(ctx.args.state).resolve())]
    if ctx.args.health_timeout is not None:
        argv += ["--health-timeout", str(ctx.args.health_timeout)]
    if ctx.args.keep is not None:
        argv += ["--keep", str(ctx.args.keep)]
    if ctx.args.dry_run:
        argv.append("--dry-run")
    if os.geteuid() != 0 and not ctx.args.dry_run:
        raise InvalidInput(f"an upgrade installs code and restarts the service: run as root: {shlex.join(argv)}")
    os.execv(str(script), argv)
    return 1  # not reached: execv replaced this process
