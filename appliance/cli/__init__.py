"""The operator's command line: ``appliance COMMAND ...``.

A thin front end: each command parses its arguments, calls one method of
the services (``appliance.services``, through ``ctx.core``) and prints the
result. Every listing takes ``--json``. Every error is one line on stderr
and a non-zero exit, and changes nothing; :func:`main` is the one place
errors become that line and an exit status.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import sqlite3
import sys
from typing import Sequence

from appliance import logs
from appliance.errors import ApplianceError, ConfigError

from . import (alias, apikey, backup, box, brand, cert, completion, dns, domain, manpage, operator, plan, queue, senders, serve, sieve, site,
               srs, tenant, upgrade, usage, user)
from .common import DEFAULT_CONFIG, DEFAULT_STATE, Context

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Self-hosted small-business appliance.")
    parser.add_argument("--state", metavar="DIR", help=f"state directory (env APPLIANCE_STATE; default {DEFAULT_STATE})")
    parser.add_argument("--config", metavar="FILE", help=f"config file (env APPLIANCE_CONFIG; default {DEFAULT_CONFIG} if present, else the demo defaults)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (serve, tenant, domain, user, alias, senders, sieve, srs, box, queue, dns, site, cert, operator, apikey, backup,
                   upgrade, brand, usage, plan, completion, manpage):
        module.register(sub)
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("appliance")
    except importlib.metadata.PackageNotFoundError:  # a checkout run without installing
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(args)
    try:
        # Commands log warnings only; serve and demo switch to [log] level.
        logs.setup("DEBUG" if args.verbose else "WARNING")
        if not getattr(args, "keeps_root", False):
            ctx.become_state_owner()
        return int(args.handler(ctx) or 0)
    except ConfigError as exc:
        print(f"appliance: config error: {exc}", file=sys.stderr)
        return 78  # EX_CONFIG: systemd's RestartPreventExitStatus names it
    except ApplianceError as exc:
        print(f"appliance: error: {exc}", file=sys.stderr)
        return 1
    except sqlite3.Error as exc:
        print(f"appliance: database error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        ctx.close()


def main_exit() -> None:
    """Console-script entry point."""
    sys.exit(main())
