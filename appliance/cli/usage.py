"""``appliance usage report``: the monthly usage report resellers bill from
(``appliance.services.usage``)."""

from __future__ import annotations

import argparse
import sys

from appliance.services.usage import COLUMNS, today

from .common import table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("usage", help="usage records for billing")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = s.add_parser("report", help="one line per business for a month: plan, peaks, messages, web, days active")
    a.add_argument("--month", metavar="YYYY-MM", default=None, help="the month (UTC; default: this month)")
    out = a.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON for scripts")
    out.add_argument("--csv", action="store_true", help="print CSV (RFC 4180) for spreadsheets")
    a.set_defaults(handler=_report)


def _report(ctx) -> None:
    report = ctx.core.usage.report(ctx.args.month or today()[:7])
    if ctx.args.json or ctx.args.csv:
        # The service's bytes, as the API and the panel give them.
        sys.stdout.buffer.write(report.json_bytes() if ctx.args.json else report.csv_bytes())
        sys.stdout.buffer.flush()
        return
    print(f"usage in {report.month} (UTC)")
    print(table(report.rows(), [c for c in COLUMNS if c != "month"]))
